//! Header blocks: where they end, their fields, unfolding, and the
//! `HEADER.FIELDS` subset. Lines may end in CRLF or bare LF.

/// One header field of a block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeaderField<'a> {
    /// The field name, without trailing whitespace before the colon.
    pub name: &'a [u8],
    /// Everything after the colon up to (not including) the field's final
    /// line break; folds are still in it.
    pub value: &'a [u8],
    /// The whole field as it stands, folded lines and final line break
    /// included.
    pub raw: &'a [u8],
}

fn is_wsp(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// End of the line starting at `pos` (index of its `\n`, or `end`), and the
/// start of the next line.
pub(crate) fn line_at(buf: &[u8], pos: usize, end: usize) -> (usize, usize) {
    let end = end.min(buf.len());
    let pos = pos.min(end);
    match memchr::memchr(b'\n', &buf[pos..end]) {
        Some(i) => (pos + i, pos + i + 1),
        None => (end, end),
    }
}

/// True if the line `buf[pos..]` is empty: just CRLF or LF.
fn is_blank_line(buf: &[u8], pos: usize, end: usize) -> bool {
    matches!(
        buf.get(pos..end.min(buf.len())),
        Some([b'\n', ..]) | Some([b'\r', b'\n', ..])
    )
}

/// Where the body starts for a header block beginning at `start`: just after
/// the first empty line, or `end` when there is none (the whole part is then
/// header and the body is empty).
pub(crate) fn find_body_start(buf: &[u8], start: usize, end: usize) -> usize {
    let end = end.min(buf.len());
    let mut pos = start.min(end);
    while pos < end {
        if is_blank_line(buf, pos, end) {
            return line_at(buf, pos, end).1;
        }
        pos = line_at(buf, pos, end).1;
    }
    end
}

/// Iterate the fields of a header block (which may or may not include the
/// terminating blank line; iteration stops at it). Lines without a colon
/// and stray continuation lines are skipped: they are not fields.
pub fn header_fields_iter(block: &[u8]) -> impl Iterator<Item = HeaderField<'_>> {
    let mut pos = 0usize;
    std::iter::from_fn(move || {
        let len = block.len();
        loop {
            if pos >= len || is_blank_line(block, pos, len) {
                pos = len;
                return None;
            }
            let start = pos;
            let (first_eol, mut next) = line_at(block, pos, len);
            // A field continues over every following line that starts with
            // whitespace (RFC 5322 2.2.3 folding).
            let mut last_eol = first_eol;
            while next < len && block.get(next).copied().is_some_and(is_wsp) {
                let (eol, n) = line_at(block, next, len);
                last_eol = eol;
                next = n;
            }
            pos = next;
            let first_line = &block[start..first_eol];
            if first_line.first().copied().is_some_and(is_wsp) {
                continue;
            }
            let Some(colon) = memchr::memchr(b':', first_line) else {
                continue;
            };
            let name = trim_end(&first_line[..colon]);
            if name.is_empty() {
                continue;
            }
            // The value stops before the final line break (CRLF or LF).
            let mut value_end = last_eol;
            if value_end > start + colon + 1 && block.get(value_end - 1) == Some(&b'\r') {
                value_end -= 1;
            }
            let value = block.get(start + colon + 1..value_end).unwrap_or_default();
            return Some(HeaderField {
                name,
                value,
                raw: &block[start..next],
            });
        }
    })
}

/// The value of the first field called `name` (case-insensitive), raw.
pub(crate) fn first_value<'a>(block: &'a [u8], name: &[u8]) -> Option<&'a [u8]> {
    header_fields_iter(block)
        .find(|f| f.name.eq_ignore_ascii_case(name))
        .map(|f| f.value)
}

pub(crate) fn trim_end(mut s: &[u8]) -> &[u8] {
    while let [rest @ .., last] = s {
        if is_wsp(*last) || *last == b'\r' || *last == b'\n' {
            s = rest;
        } else {
            break;
        }
    }
    s
}

pub(crate) fn trim(mut s: &[u8]) -> &[u8] {
    while let [first, rest @ ..] = s {
        if is_wsp(*first) || *first == b'\r' || *first == b'\n' {
            s = rest;
        } else {
            break;
        }
    }
    trim_end(s)
}

/// Unfold a raw header value: remove the line breaks of folds (keeping the
/// whitespace that follows them), then trim surrounding whitespace.
pub fn unfold(value: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(value.len());
    let mut i = 0;
    while i < value.len() {
        match value[i] {
            b'\r' if value.get(i + 1) == Some(&b'\n') => i += 2,
            b'\n' => i += 1,
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    let t = trim(&out);
    if t.len() == out.len() {
        out
    } else {
        t.to_vec()
    }
}

/// `BODY[HEADER.FIELDS (names)]` (or `.NOT` when `not`): the selected fields
/// exactly as they stand, folds included, followed by the blank line that
/// ends a header (RFC 3501 6.4.5). Names compare case-insensitively.
pub fn header_fields(block: &[u8], names: &[&[u8]], not: bool) -> Vec<u8> {
    let mut out = Vec::new();
    header_fields_into(block, names, not, &mut out);
    out
}

/// [`header_fields`], appended to `out` (one buffer for many messages).
pub fn header_fields_into(block: &[u8], names: &[&[u8]], not: bool, out: &mut Vec<u8>) {
    for f in header_fields_iter(block) {
        let listed = names.iter().any(|n| f.name.eq_ignore_ascii_case(n));
        if listed != not {
            out.extend_from_slice(f.raw);
            // A header that ends the part without a line break still needs
            // one before the blank line, or the result would not be a header.
            if !f.raw.ends_with(b"\n") {
                out.extend_from_slice(b"\r\n");
            }
        }
    }
    out.extend_from_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The store cuts headers to a set of fields once and FETCH cuts that
    /// again to the fields asked for: the two cuts must give what one cut
    /// of the whole header gives.
    #[test]
    fn cutting_a_cut_header_is_cutting_the_header() {
        let headers: [&[u8]; 4] = [
            b" stray continuation\r\nFrom: a@b\r\n folded\r\nno colon here\r\n more\r\nSUBJECT: s\r\nX-A: 1\r\nsubject : two\r\n\r\n",
            b"From: a\nTo: b\n\tc\nDate: d\n\n",
            b"From: a\r\nTo: b",
            b"To:\r\n \r\nFrom:x\r\n\r\nBody: not a field\r\n",
        ];
        let wide: [&[u8]; 4] = [b"from", b"subject", b"to", b"date"];
        for block in headers {
            let cut = header_fields(block, &wide, false);
            for narrow in [&wide[..], &wide[..1], &wide[1..3], &[b"date".as_slice()]] {
                assert_eq!(
                    header_fields(&cut, narrow, false),
                    header_fields(block, narrow, false),
                    "{:?} {narrow:?}",
                    String::from_utf8_lossy(block)
                );
            }
        }
    }

    #[test]
    fn body_start_crlf_and_lf() {
        let m = b"A: b\r\nC: d\r\n\r\nbody";
        assert_eq!(find_body_start(m, 0, m.len()), 14);
        let m = b"A: b\nC: d\n\nbody";
        assert_eq!(find_body_start(m, 0, m.len()), 11);
        // No blank line: all header.
        let m = b"A: b\r\nC: d\r\n";
        assert_eq!(find_body_start(m, 0, m.len()), m.len());
        // Blank line first: empty header.
        let m = b"\r\nbody";
        assert_eq!(find_body_start(m, 0, m.len()), 2);
        let m = b"\nbody";
        assert_eq!(find_body_start(m, 0, m.len()), 1);
        // A whitespace-only line is a continuation, not the end.
        let m = b"A: b\r\n \r\nC: d\r\n\r\nx";
        assert_eq!(find_body_start(m, 0, m.len()), 17);
        assert_eq!(find_body_start(b"", 0, 0), 0);
        // Out-of-range arguments are clamped rather than panicking.
        assert_eq!(find_body_start(b"ab", 5, 9), 2);
    }

    #[test]
    fn fields_and_folding() {
        let block =
            b"Subject: a\r\n b\r\n\tc  \r\nX-Odd : v\r\nno colon\r\nTo: x\r\n\r\nignored: yes\r\n";
        let f: Vec<_> = header_fields_iter(block).collect();
        assert_eq!(f.len(), 3);
        assert_eq!(f[0].name, b"Subject");
        assert_eq!(f[0].value, b" a\r\n b\r\n\tc  ");
        assert_eq!(f[0].raw, b"Subject: a\r\n b\r\n\tc  \r\n");
        assert_eq!(unfold(f[0].value), b"a b\tc");
        assert_eq!(f[1].name, b"X-Odd");
        assert_eq!(f[2].name, b"To");
        assert_eq!(first_value(block, b"to"), Some(&b" x"[..]));
        assert_eq!(first_value(block, b"ignored"), None);
    }

    #[test]
    fn field_without_line_break() {
        let block = b"A: 1\nB: 2";
        let f: Vec<_> = header_fields_iter(block).collect();
        assert_eq!(f[1].value, b" 2");
        assert_eq!(f[1].raw, b"B: 2");
        assert_eq!(header_fields(block, &[b"b"], false), b"B: 2\r\n\r\n");
    }

    #[test]
    fn header_fields_subset() {
        let block = b"From: a@b\r\nSubject: x\r\n  y\r\nTo: c@d\r\n\r\n";
        assert_eq!(
            header_fields(block, &[b"SUBJECT", b"to"], false),
            b"Subject: x\r\n  y\r\nTo: c@d\r\n\r\n"
        );
        assert_eq!(
            header_fields(block, &[b"subject"], true),
            b"From: a@b\r\nTo: c@d\r\n\r\n"
        );
        assert_eq!(header_fields(block, &[b"nope"], false), b"\r\n");
    }
}
