//! RFC 5322 address lists for ENVELOPE, parsed leniently: real mail has
//! missing angle brackets, missing domains, stray specials and unterminated
//! quotes, and every one of those must still give something sensible.
//! Display names keep RFC 2047 words encoded (the client decodes them).

use crate::Address;

pub(crate) const MISSING_MAILBOX: &[u8] = b"MISSING_MAILBOX";
pub(crate) const MISSING_DOMAIN: &[u8] = b"MISSING_DOMAIN";

#[derive(Debug, Clone, PartialEq)]
enum Kind {
    /// An atom, or an RFC 2047 encoded word taken whole.
    Atom(Vec<u8>),
    /// A quoted string's content, unescaped.
    Quoted(Vec<u8>),
    /// `[...]`, brackets included.
    Literal(Vec<u8>),
    Comment(Vec<u8>),
    Special(u8),
}

#[derive(Debug, Clone)]
struct Tok {
    kind: Kind,
    /// Whitespace or a comment separates it from the previous token.
    ws: bool,
}

fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

fn is_special(b: u8) -> bool {
    matches!(
        b,
        b'(' | b')' | b'<' | b'>' | b'[' | b']' | b':' | b';' | b'@' | b'\\' | b',' | b'.' | b'"'
    )
}

/// Length of an RFC 2047 encoded word at the start of `s`, if there is one:
/// `=?charset?enc?text?=` without whitespace. Taking it whole keeps specials
/// that senders wrongly leave in Q-encoded text from splitting the name.
fn encoded_word_len(s: &[u8]) -> Option<usize> {
    if !s.starts_with(b"=?") {
        return None;
    }
    let mut questions = 1;
    let mut i = 2;
    while let Some(&b) = s.get(i) {
        if is_ws(b) {
            return None;
        }
        if b == b'?' {
            questions += 1;
            if questions >= 4 && s.get(i + 1) == Some(&b'=') {
                return Some(i + 2);
            }
        }
        i += 1;
    }
    None
}

/// Content of a `(...)` comment or `"..."` string starting at `s[0]`, with
/// quoted-pairs unescaped, and the bytes consumed. Unterminated ones run to
/// the end.
fn delimited(s: &[u8], open: u8, close: u8) -> (Vec<u8>, usize) {
    let mut out = Vec::new();
    let mut depth = 0usize;
    let mut i = 0;
    while let Some(&b) = s.get(i) {
        i += 1;
        if b == b'\\' {
            if let Some(&n) = s.get(i) {
                out.push(n);
                i += 1;
            }
            continue;
        }
        if b == close && depth == 1 {
            return (out, i);
        }
        if b == open && (open != close || depth == 0) {
            depth += 1;
            if depth == 1 {
                continue;
            }
        } else if b == close {
            depth = depth.saturating_sub(1);
        }
        if b != b'\r' && b != b'\n' {
            out.push(b);
        }
    }
    (out, i)
}

fn tokenize(s: &[u8]) -> Vec<Tok> {
    let mut toks = Vec::new();
    let mut i = 0;
    let mut ws = false;
    while let Some(&b) = s.get(i) {
        let rest = &s[i..];
        if is_ws(b) {
            ws = true;
            i += 1;
            continue;
        }
        let (kind, len) = match b {
            b'(' => {
                let (c, n) = delimited(rest, b'(', b')');
                (Kind::Comment(c), n)
            }
            b'"' => {
                let (c, n) = delimited(rest, b'"', b'"');
                (Kind::Quoted(c), n)
            }
            b'[' => {
                // Kept raw: a domain literal is written back as it stands.
                let n = rest
                    .iter()
                    .position(|&c| c == b']')
                    .map_or(rest.len(), |p| p + 1);
                (Kind::Literal(rest[..n].to_vec()), n)
            }
            _ if is_special(b) => (Kind::Special(b), 1),
            _ => {
                let n = encoded_word_len(rest).unwrap_or_else(|| {
                    rest.iter()
                        .position(|&c| is_ws(c) || is_special(c))
                        .unwrap_or(rest.len())
                });
                (Kind::Atom(rest[..n].to_vec()), n)
            }
        };
        let is_comment = matches!(kind, Kind::Comment(_));
        toks.push(Tok { kind, ws });
        // A comment separates words just like whitespace does.
        ws = is_comment;
        i += len.max(1);
    }
    toks
}

fn is_dot(t: &Tok) -> bool {
    t.kind == Kind::Special(b'.')
}

/// Display-name text: words separated by one space where the source had
/// whitespace, quotes removed.
fn phrase_text(toks: &[&Tok]) -> Vec<u8> {
    let mut out = Vec::new();
    for t in toks {
        let content: &[u8] = match &t.kind {
            Kind::Atom(a) | Kind::Quoted(a) | Kind::Literal(a) => a,
            Kind::Special(c) => std::slice::from_ref(c),
            Kind::Comment(_) => continue,
        };
        if t.ws && !out.is_empty() {
            out.push(b' ');
        }
        out.extend_from_slice(content);
    }
    out
}

/// Local part or domain: the tokens' text with all whitespace dropped.
fn joined(toks: &[&Tok]) -> Vec<u8> {
    let mut out = Vec::new();
    for t in toks {
        match &t.kind {
            Kind::Atom(a) | Kind::Quoted(a) | Kind::Literal(a) => out.extend_from_slice(a),
            Kind::Special(c) => out.push(*c),
            Kind::Comment(_) => {}
        }
    }
    out
}

/// Tokens `b` directly continues `a`'s addr-spec piece (no whitespace
/// between, or joined by a dot).
fn connected(a: &Tok, b: &Tok) -> bool {
    !b.ws || is_dot(a) || is_dot(b)
}

fn non_empty(v: Vec<u8>) -> Option<Vec<u8>> {
    (!v.is_empty()).then_some(v)
}

fn mailbox(
    name: Option<Vec<u8>>,
    adl: Option<Vec<u8>>,
    local: Vec<u8>,
    domain: Vec<u8>,
) -> Address {
    Address {
        name,
        adl,
        mailbox: Some(non_empty(local).unwrap_or_else(|| MISSING_MAILBOX.to_vec())),
        host: Some(non_empty(domain).unwrap_or_else(|| MISSING_DOMAIN.to_vec())),
    }
}

struct Parser<'a> {
    toks: &'a [Tok],
    i: usize,
    out: Vec<Address>,
}

impl<'a> Parser<'a> {
    fn peek(&self) -> Option<&'a Tok> {
        self.toks.get(self.i)
    }

    fn peek_special(&self) -> Option<u8> {
        match self.peek()?.kind {
            Kind::Special(c) => Some(c),
            _ => None,
        }
    }

    /// Entries up to the end, or (inside a group) up to the closing `;`,
    /// which is left for the caller.
    fn list(&mut self, in_group: bool) {
        while let Some(t) = self.peek() {
            match t.kind {
                Kind::Special(b',') => self.i += 1,
                Kind::Special(b';') if in_group => return,
                Kind::Special(b';') => self.i += 1,
                _ => self.entry(in_group),
            }
        }
    }

    /// One mailbox or group. Always consumes at least one token.
    fn entry(&mut self, in_group: bool) {
        let mut phrase: Vec<&Tok> = Vec::new();
        let mut comment: Option<&[u8]> = None;
        while let Some(t) = self.peek() {
            match &t.kind {
                Kind::Atom(_) | Kind::Quoted(_) | Kind::Special(b'.') => phrase.push(t),
                Kind::Comment(c) => comment = Some(c),
                _ => break,
            }
            self.i += 1;
        }
        match self.peek_special() {
            Some(b':') if !in_group => {
                self.i += 1;
                self.out.push(Address {
                    mailbox: Some(phrase_text(&phrase)),
                    ..Address::default()
                });
                self.list(true);
                if self.peek_special() == Some(b';') {
                    self.i += 1;
                }
                self.out.push(Address::default());
            }
            Some(b'<') => {
                self.i += 1;
                self.angle_addr(non_empty(phrase_text(&phrase)));
            }
            Some(b'@') => {
                self.i += 1;
                self.addr_spec(phrase, comment);
            }
            _ => {
                if !phrase.is_empty() {
                    self.phrase_only(&phrase, comment);
                } else if self
                    .peek()
                    .is_some_and(|t| !matches!(t.kind, Kind::Special(b',') | Kind::Special(b';')))
                {
                    // Junk such as a stray `>` or `[x]`: skip it.
                    self.i += 1;
                }
            }
        }
    }

    /// After `<`: `[route:]local@domain>`.
    fn angle_addr(&mut self, name: Option<Vec<u8>>) {
        let rest = &self.toks[self.i.min(self.toks.len())..];
        let close = rest.iter().position(|t| t.kind == Kind::Special(b'>'));
        // Without a `>`, don't let the address swallow the entries after it.
        let inner_len = close.unwrap_or_else(|| {
            rest.iter()
                .position(|t| matches!(t.kind, Kind::Special(b',') | Kind::Special(b';')))
                .unwrap_or(rest.len())
        });
        let inner: Vec<&Tok> = rest[..inner_len]
            .iter()
            .filter(|t| !matches!(t.kind, Kind::Comment(_)))
            .collect();
        self.i += inner_len + usize::from(close.is_some());

        let (adl, spec) = match inner.iter().position(|t| t.kind == Kind::Special(b':')) {
            Some(colon) => (non_empty(joined(&inner[..colon])), &inner[colon + 1..]),
            None => (None, &inner[..]),
        };
        let (local, domain) = match spec.iter().position(|t| t.kind == Kind::Special(b'@')) {
            Some(at) => (joined(&spec[..at]), joined(&spec[at + 1..])),
            None => (joined(spec), Vec::new()),
        };
        self.out.push(mailbox(name, adl, local, domain));
        self.skip_to_separator(&mut None);
    }

    /// After a bare `local@`: the local part is the last connected run of
    /// the phrase; words before it are a display name that lost its angle
    /// brackets (`Joe Q. Public joe@x.y`).
    fn addr_spec(&mut self, phrase: Vec<&Tok>, mut comment: Option<&'a [u8]>) {
        let mut split = phrase.len().saturating_sub(1);
        while split > 0 && connected(phrase[split - 1], phrase[split]) {
            split -= 1;
        }
        let (display, local) = phrase.split_at(split.min(phrase.len()));

        let mut domain: Vec<&Tok> = Vec::new();
        while let Some(t) = self.peek() {
            match &t.kind {
                Kind::Comment(c) => comment = Some(c),
                Kind::Atom(_) | Kind::Literal(_) | Kind::Special(b'.') => {
                    if domain.last().is_some_and(|prev| !connected(prev, t)) {
                        break;
                    }
                    domain.push(t);
                }
                _ => break,
            }
            self.i += 1;
        }
        self.skip_to_separator(&mut comment);
        // `a@b (Real Name)`: the comment names the mailbox when no phrase does.
        let name = non_empty(phrase_text(display)).or_else(|| {
            comment
                .map(crate::header::trim)
                .map(<[u8]>::to_vec)
                .and_then(non_empty)
        });
        self.out
            .push(mailbox(name, None, joined(local), joined(&domain)));
    }

    /// A phrase with no `@`, `<` or `:` after it: one word is a mailbox
    /// without a domain, several words a name without an address.
    fn phrase_only(&mut self, phrase: &[&Tok], comment: Option<&[u8]>) {
        let single = phrase.windows(2).all(|w| connected(w[0], w[1]));
        if single {
            let name = comment
                .map(crate::header::trim)
                .map(<[u8]>::to_vec)
                .and_then(non_empty);
            self.out
                .push(mailbox(name, None, joined(phrase), Vec::new()));
        } else {
            self.out.push(mailbox(
                non_empty(phrase_text(phrase)),
                None,
                Vec::new(),
                Vec::new(),
            ));
        }
    }

    /// Skip junk up to the next `,` / `;` (not consumed), noting comments.
    fn skip_to_separator(&mut self, comment: &mut Option<&'a [u8]>) {
        while let Some(t) = self.peek() {
            match &t.kind {
                Kind::Special(b',') | Kind::Special(b';') => return,
                Kind::Comment(c) => *comment = Some(c),
                _ => {}
            }
            self.i += 1;
        }
    }
}

/// Parse an address-list header value (unfolded or not) into RFC 3501
/// address structures, groups flattened into start/end markers.
pub fn parse_address_list(value: &[u8]) -> Vec<Address> {
    let toks = tokenize(value);
    let mut p = Parser {
        toks: &toks,
        i: 0,
        out: Vec::new(),
    };
    p.list(false);
    p.out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(
        name: Option<&str>,
        adl: Option<&str>,
        mailbox: Option<&str>,
        host: Option<&str>,
    ) -> Address {
        let f = |s: Option<&str>| s.map(|s| s.as_bytes().to_vec());
        Address {
            name: f(name),
            adl: f(adl),
            mailbox: f(mailbox),
            host: f(host),
        }
    }

    fn parse(s: &str) -> Vec<Address> {
        parse_address_list(s.as_bytes())
    }

    #[test]
    fn plain_forms() {
        assert_eq!(parse("a@b.c"), vec![a(None, None, Some("a"), Some("b.c"))]);
        assert_eq!(
            parse("<a@b.c>"),
            vec![a(None, None, Some("a"), Some("b.c"))]
        );
        assert_eq!(
            parse("John Doe <john.doe@example.com>"),
            vec![a(
                Some("John Doe"),
                None,
                Some("john.doe"),
                Some("example.com")
            )]
        );
        assert_eq!(
            parse("  Joe   Q. Public\r\n <joe@x.y>"),
            vec![a(Some("Joe Q. Public"), None, Some("joe"), Some("x.y"))]
        );
    }

    #[test]
    fn quoted_names_with_escapes() {
        assert_eq!(
            parse(r#""Doe, \"J\"" <j@x.y>, "a\\b" <c@d>"#),
            vec![
                a(Some(r#"Doe, "J""#), None, Some("j"), Some("x.y")),
                a(Some(r"a\b"), None, Some("c"), Some("d")),
            ]
        );
        // Unterminated quote: runs to the end, no panic.
        assert_eq!(parse("\"abc <a@b>").len(), 1);
    }

    #[test]
    fn quoted_local_part_and_literal_domain() {
        assert_eq!(
            parse(r#""john doe"@[1.2.3.4]"#),
            vec![a(None, None, Some("john doe"), Some("[1.2.3.4]"))]
        );
        assert_eq!(
            parse("john . doe @ example . com"),
            vec![a(None, None, Some("john.doe"), Some("example.com"))]
        );
    }

    #[test]
    fn comments() {
        assert_eq!(
            parse("a@b (Real Name)"),
            vec![a(Some("Real Name"), None, Some("a"), Some("b"))]
        );
        assert_eq!(
            parse("(lead) a (mid) @ b (Nested (x) name)"),
            vec![a(Some("Nested (x) name"), None, Some("a"), Some("b"))]
        );
        // Like Dovecot, a comment after an angle address is not a name.
        assert_eq!(
            parse("<a@b> (c)"),
            vec![a(None, None, Some("a"), Some("b"))]
        );
        assert_eq!(
            parse("Name (c) <a@b>"),
            vec![a(Some("Name"), None, Some("a"), Some("b"))]
        );
        assert_eq!(parse("(only a comment)"), vec![]);
    }

    #[test]
    fn encoded_words_stay_encoded() {
        assert_eq!(
            parse("=?utf-8?q?J=C3=B6rg,_x.?= <j@g>"),
            vec![a(
                Some("=?utf-8?q?J=C3=B6rg,_x.?="),
                None,
                Some("j"),
                Some("g")
            )]
        );
        assert_eq!(
            parse("\"=?utf-8?q?A?=\" =?utf-8?q?B?= <j@g>"),
            vec![a(
                Some("=?utf-8?q?A?= =?utf-8?q?B?="),
                None,
                Some("j"),
                Some("g")
            )]
        );
    }

    #[test]
    fn missing_angle_brackets() {
        assert_eq!(
            parse("Joe Q. Public joe@x.y, \"Q N\" q@n"),
            vec![
                a(Some("Joe Q. Public"), None, Some("joe"), Some("x.y")),
                a(Some("Q N"), None, Some("q"), Some("n")),
            ]
        );
        // Unclosed angle bracket does not swallow the next address.
        assert_eq!(
            parse("A <a@b, c@d"),
            vec![
                a(Some("A"), None, Some("a"), Some("b")),
                a(None, None, Some("c"), Some("d"))
            ]
        );
    }

    #[test]
    fn groups() {
        assert_eq!(
            parse("undisclosed-recipients:;"),
            vec![
                a(None, None, Some("undisclosed-recipients"), None),
                a(None, None, None, None)
            ]
        );
        assert_eq!(
            parse("Grp: a@b, \"C\" <c@d>;, e@f"),
            vec![
                a(None, None, Some("Grp"), None),
                a(None, None, Some("a"), Some("b")),
                a(Some("C"), None, Some("c"), Some("d")),
                a(None, None, None, None),
                a(None, None, Some("e"), Some("f")),
            ]
        );
        // Missing `;`: the group still ends.
        assert_eq!(
            parse("My Group: a@b"),
            vec![
                a(None, None, Some("My Group"), None),
                a(None, None, Some("a"), Some("b")),
                a(None, None, None, None),
            ]
        );
        // No nested groups: the inner `:` is junk.
        let g = parse("G: H: a@b;;");
        assert_eq!(g.len(), 4);
        assert!(g[0].is_group_start() && g[3].is_group_end());
        assert!(parse("G:;")[0].is_group_start());
        assert!(parse("G:;")[1].is_group_end());
    }

    #[test]
    fn route_addresses() {
        assert_eq!(
            parse("<@r1,@r2:u@h>"),
            vec![a(None, Some("@r1,@r2"), Some("u"), Some("h"))]
        );
        assert_eq!(
            parse("Name <@r1, @r2 : u@h>"),
            vec![a(Some("Name"), Some("@r1,@r2"), Some("u"), Some("h"))]
        );
    }

    #[test]
    fn missing_parts() {
        assert_eq!(
            parse("nodomain"),
            vec![a(None, None, Some("nodomain"), Some("MISSING_DOMAIN"))]
        );
        assert_eq!(
            parse("<>"),
            vec![a(
                None,
                None,
                Some("MISSING_MAILBOX"),
                Some("MISSING_DOMAIN")
            )]
        );
        assert_eq!(
            parse("<user>"),
            vec![a(None, None, Some("user"), Some("MISSING_DOMAIN"))]
        );
        assert_eq!(
            parse("@host"),
            vec![a(None, None, Some("MISSING_MAILBOX"), Some("host"))]
        );
        assert_eq!(
            parse("Just A Name"),
            vec![a(
                Some("Just A Name"),
                None,
                Some("MISSING_MAILBOX"),
                Some("MISSING_DOMAIN")
            )]
        );
    }

    #[test]
    fn junk_never_loops_or_panics() {
        for s in [
            "",
            ",,,",
            ";",
            ">",
            "<",
            "@",
            ":",
            "a@",
            "\"",
            "(",
            "((a)",
            "[",
            "\\",
            "<@",
            "a:b:c;d;e",
            ">>>a@b<<<",
            "=?",
            "=?a?b?c?",
            "[x]@y",
            "a [b] c",
        ] {
            let _ = parse(s);
        }
        assert_eq!(parse(">a@b"), vec![a(None, None, Some("a"), Some("b"))]);
    }

    #[test]
    fn eight_bit_kept() {
        assert_eq!(
            parse("Jörg <jörg@bücher.de>"),
            vec![a(Some("Jörg"), None, Some("jörg"), Some("bücher.de"))]
        );
    }
}
