//! Structured MIME header values: `Content-Type`, `Content-Disposition`
//! (a token plus parameters, RFC 2045 / RFC 2183), with RFC 2231 parameter
//! continuations merged, and the token lists of `Content-Language`.

pub(crate) use crate::Params;

/// A parameter split into RFC 2231 sections: base name as first written,
/// and its sections.
type Group = (Vec<u8>, Vec<(Section, Vec<u8>)>);

fn is_wsp(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

/// RFC 2045 tspecials plus whitespace and controls end a token.
fn is_token_char(b: u8) -> bool {
    b > b' '
        && b != 0x7f
        && !matches!(
            b,
            b'(' | b')'
                | b'<'
                | b'>'
                | b'@'
                | b','
                | b';'
                | b':'
                | b'\\'
                | b'"'
                | b'/'
                | b'['
                | b']'
                | b'?'
                | b'='
        )
}

struct Cursor<'a> {
    s: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.pos).copied()
    }

    /// Skip whitespace and (nested) comments.
    fn skip_cfws(&mut self) {
        while let Some(b) = self.peek() {
            if is_wsp(b) {
                self.pos += 1;
            } else if b == b'(' {
                self.skip_comment();
            } else {
                break;
            }
        }
    }

    fn skip_comment(&mut self) {
        let mut depth = 0usize;
        while let Some(b) = self.peek() {
            self.pos += 1;
            match b {
                b'\\' => self.pos += 1,
                b'(' => depth += 1,
                b')' => {
                    depth = depth.saturating_sub(1);
                    if depth == 0 {
                        return;
                    }
                }
                _ => {}
            }
        }
    }

    fn token(&mut self) -> &'a [u8] {
        let start = self.pos.min(self.s.len());
        while self.peek().is_some_and(is_token_char) {
            self.pos += 1;
        }
        &self.s[start..self.pos.min(self.s.len())]
    }

    /// A quoted string (cursor on the opening quote), unescaped. An
    /// unterminated one runs to the end.
    fn quoted(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        self.pos += 1;
        while let Some(b) = self.peek() {
            self.pos += 1;
            match b {
                b'"' => break,
                b'\\' => {
                    if let Some(n) = self.peek() {
                        out.push(n);
                        self.pos += 1;
                    }
                }
                b'\r' | b'\n' => {}
                _ => out.push(b),
            }
        }
        out
    }

    /// A parameter value that is not quoted. Real mail has unquoted values
    /// with spaces (`name=my file.pdf`), so take everything up to the next
    /// `;`, dropping comments and surrounding whitespace.
    fn loose_value(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        while let Some(b) = self.peek() {
            match b {
                b';' => break,
                b'(' => self.skip_comment(),
                _ => {
                    out.push(b);
                    self.pos += 1;
                }
            }
        }
        crate::header::trim(&out).to_vec()
    }

    fn skip_past(&mut self, stop: u8) {
        while let Some(b) = self.peek() {
            self.pos += 1;
            if b == stop {
                return;
            }
            if b == b'"' {
                self.pos -= 1;
                self.quoted();
            }
        }
    }
}

/// Parse `type/subtype; params`. `None` when the type is not syntactically
/// valid: RFC 2045 5.2 says to assume the default then.
pub(crate) fn parse_content_type(value: &[u8]) -> Option<(Vec<u8>, Vec<u8>, Params)> {
    let mut c = Cursor { s: value, pos: 0 };
    c.skip_cfws();
    let ty = c.token().to_vec();
    c.skip_cfws();
    if ty.is_empty() || c.peek() != Some(b'/') {
        return None;
    }
    c.pos += 1;
    c.skip_cfws();
    let sub = c.token().to_vec();
    if sub.is_empty() {
        return None;
    }
    Some((ty, sub, parse_params(&mut c)))
}

/// Parse `token; params` (Content-Disposition). `None` without a token.
pub(crate) fn parse_disposition(value: &[u8]) -> Option<(Vec<u8>, Params)> {
    let mut c = Cursor { s: value, pos: 0 };
    c.skip_cfws();
    let ty = c.token().to_vec();
    if ty.is_empty() {
        return None;
    }
    Some((ty, parse_params(&mut c)))
}

/// Parameters after the leading token(s); malformed ones are skipped.
fn parse_params(c: &mut Cursor<'_>) -> Params {
    let mut raw = Vec::new();
    loop {
        // Anything between the value and the next `;` is junk.
        c.skip_past(b';');
        c.skip_cfws();
        if c.peek().is_none() {
            break;
        }
        let name = c.token().to_vec();
        c.skip_cfws();
        if name.is_empty() || c.peek() != Some(b'=') {
            continue;
        }
        c.pos += 1;
        c.skip_cfws();
        let value = if c.peek() == Some(b'"') {
            c.quoted()
        } else {
            c.loose_value()
        };
        raw.push((name, value));
    }
    merge_rfc2231(raw)
}

/// An RFC 2231 section of a parameter: `name*N`, `name*N*` or `name*`.
struct Section {
    index: u32,
    extended: bool,
}

fn split_2231(name: &[u8]) -> Option<(&[u8], Section)> {
    let star = name.iter().position(|&b| b == b'*')?;
    let (base, rest) = (&name[..star], &name[star + 1..]);
    if rest.is_empty() && !base.is_empty() {
        // `name*=charset'lang'value`: an extended value in one section.
        return Some((
            base,
            Section {
                index: 0,
                extended: true,
            },
        ));
    }
    let (digits, extended) = match rest.strip_suffix(b"*") {
        Some(d) => (d, true),
        None => (rest, false),
    };
    if base.is_empty() || digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    // Leading zeros are not allowed (RFC 2231 3), except "0" itself.
    if digits.len() > 1 && digits[0] == b'0' {
        return None;
    }
    let index = std::str::from_utf8(digits).ok()?.parse().ok()?;
    Some((base, Section { index, extended }))
}

/// Merge RFC 2231 continuations. Plain parameters keep their order and come
/// first, merged ones follow in order of first appearance: Dovecot's order.
/// An extended merge keeps the value percent-encoded under `name*` (what
/// Dovecot returns), percent-encoding any plain sections so the result is
/// one valid extended value.
fn merge_rfc2231(raw: Params) -> Params {
    let mut plain: Params = Vec::new();
    let mut groups: Vec<Group> = Vec::new();
    for (name, value) in raw {
        match split_2231(&name) {
            Some((base, section)) => {
                match groups
                    .iter_mut()
                    .find(|(b, _)| b.eq_ignore_ascii_case(base))
                {
                    Some((_, sections)) => {
                        if !sections.iter().any(|(s, _)| s.index == section.index) {
                            sections.push((section, value));
                        }
                    }
                    None => groups.push((base.to_vec(), vec![(section, value)])),
                }
            }
            None => plain.push((name, value)),
        }
    }
    for (base, mut sections) in groups {
        sections.sort_by_key(|(s, _)| s.index);
        let any_extended = sections.iter().any(|(s, _)| s.extended);
        let mut value = Vec::new();
        if any_extended && !sections.first().is_some_and(|(s, _)| s.extended) {
            // The charset'language' prefix lives in the first section only;
            // give the merged value an empty one.
            value.extend_from_slice(b"''");
        }
        for (s, v) in &sections {
            if any_extended && !s.extended {
                percent_encode_into(&mut value, v);
            } else {
                value.extend_from_slice(v);
            }
        }
        let mut name = base;
        if any_extended {
            name.push(b'*');
        }
        plain.push((name, value));
    }
    plain
}

fn percent_encode_into(out: &mut Vec<u8>, v: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in v {
        if is_token_char(b) && b != b'*' && b != b'\'' && b != b'%' {
            out.push(b);
        } else {
            out.push(b'%');
            out.push(HEX[usize::from(b >> 4)]);
            out.push(HEX[usize::from(b & 15)]);
        }
    }
}

/// `Content-Language: en, de (comment)` -> `["en", "de"]`.
pub(crate) fn parse_language(value: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut c = Cursor { s: value, pos: 0 };
    loop {
        c.skip_cfws();
        match c.peek() {
            None => break,
            Some(b',') => c.pos += 1,
            Some(_) => {
                let t = c.token();
                if t.is_empty() {
                    // Not a token character: skip it so we make progress.
                    c.pos += 1;
                } else {
                    out.push(t.to_vec());
                }
            }
        }
    }
    out
}

/// A single-token field such as Content-Transfer-Encoding, comments dropped.
pub(crate) fn parse_token_field(value: &[u8]) -> Vec<u8> {
    let mut c = Cursor { s: value, pos: 0 };
    c.skip_cfws();
    c.token().to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(params: &[(&str, &str)]) -> Params {
        params
            .iter()
            .map(|(k, v)| (k.as_bytes().to_vec(), v.as_bytes().to_vec()))
            .collect()
    }

    #[test]
    fn content_type_basic() {
        let (t, s, ps) =
            parse_content_type(b" TEXT/Plain; charset=\"UTF-8\"; format=flowed").unwrap();
        assert_eq!((t.as_slice(), s.as_slice()), (&b"TEXT"[..], &b"Plain"[..]));
        assert_eq!(ps, p(&[("charset", "UTF-8"), ("format", "flowed")]));
    }

    #[test]
    fn content_type_comments_and_spacing() {
        let (t, s, ps) =
            parse_content_type(b"(c) text (x) / html ; charset = us-ascii (Plain text) ;").unwrap();
        assert_eq!((t.as_slice(), s.as_slice()), (&b"text"[..], &b"html"[..]));
        assert_eq!(ps, p(&[("charset", "us-ascii")]));
    }

    #[test]
    fn content_type_invalid() {
        assert!(parse_content_type(b"text").is_none());
        assert!(parse_content_type(b"text/").is_none());
        assert!(parse_content_type(b";;").is_none());
        assert!(parse_content_type(b"").is_none());
        assert!(parse_content_type(b"/plain").is_none());
    }

    #[test]
    fn quoted_values_with_escapes_and_semicolons() {
        let (_, _, ps) =
            parse_content_type(b"multipart/mixed; boundary=\"a;b \\\"c\\\"\"; x=1").unwrap();
        assert_eq!(ps, p(&[("boundary", "a;b \"c\""), ("x", "1")]));
        // Unterminated quote runs to the end.
        let (_, _, ps) = parse_content_type(b"text/plain; name=\"abc").unwrap();
        assert_eq!(ps, p(&[("name", "abc")]));
    }

    #[test]
    fn loose_and_malformed_params() {
        let (_, _, ps) = parse_content_type(
            b"text/plain; name=my file.pdf; junk; =x; charset; a=\"q\" trailing; b=2",
        )
        .unwrap();
        assert_eq!(ps, p(&[("name", "my file.pdf"), ("a", "q"), ("b", "2")]));
    }

    #[test]
    fn rfc2231_plain_continuation() {
        let (_, _, ps) =
            parse_content_type(b"application/x; x*1=\"b c\"; x*0=\"a\"; UPPER=Val").unwrap();
        assert_eq!(ps, p(&[("UPPER", "Val"), ("x", "ab c")]));
    }

    #[test]
    fn rfc2231_extended_continuation() {
        let (_, _, ps) = parse_content_type(
            b"application/x; name*0*=utf-8''%C3%A9t; name*1*=%C3%A9.txt; y*=iso-8859-1'en'%E9",
        )
        .unwrap();
        assert_eq!(
            ps,
            p(&[
                ("name*", "utf-8''%C3%A9t%C3%A9.txt"),
                ("y*", "iso-8859-1'en'%E9")
            ])
        );
    }

    #[test]
    fn rfc2231_mixed_sections() {
        // First section plain, second extended: plain parts get encoded and
        // an empty charset/language prefix is supplied.
        let (_, _, ps) = parse_content_type(b"text/plain; name*0=\"a b\"; name*1*=%41").unwrap();
        assert_eq!(ps, p(&[("name*", "''a%20b%41")]));
    }

    #[test]
    fn rfc2231_bad_sections_stay_plain() {
        let (_, _, ps) = parse_content_type(b"text/plain; a*01=x; *0=y; b*x=z").unwrap();
        assert_eq!(ps, p(&[("a*01", "x"), ("*0", "y"), ("b*x", "z")]));
    }

    #[test]
    fn disposition() {
        let (d, ps) =
            parse_disposition(b"attachment; filename*=utf-8''r%C3%A9sum%C3%A9.pdf; size=3")
                .unwrap();
        assert_eq!(d, b"attachment");
        assert_eq!(
            ps,
            p(&[("size", "3"), ("filename*", "utf-8''r%C3%A9sum%C3%A9.pdf")])
        );
        assert!(parse_disposition(b"  ").is_none());
        let (d, ps) = parse_disposition(b"inline").unwrap();
        assert_eq!((d.as_slice(), ps.len()), (&b"inline"[..], 0));
    }

    #[test]
    fn language_and_token() {
        assert_eq!(
            parse_language(b"en, de (comment) ,, fr-CA"),
            vec![b"en".to_vec(), b"de".to_vec(), b"fr-CA".to_vec()]
        );
        assert!(parse_language(b" ").is_empty());
        assert_eq!(parse_token_field(b" (x) BASE64 (y)"), b"BASE64");
    }
}
