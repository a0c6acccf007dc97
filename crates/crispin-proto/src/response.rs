//! Helpers for writing response syntax.

/// Writes `s` as an IMAP string: quoted when that is possible, a literal
/// otherwise. 8-bit text is only quoted when `utf8` (UTF8=ACCEPT) allows it.
pub fn write_string(out: &mut Vec<u8>, s: &[u8], utf8: bool) {
    let quotable = s.len() < 1024
        && s.iter()
            .all(|&b| b != 0 && b != b'\r' && b != b'\n' && (utf8 || b < 0x80));
    if quotable {
        out.push(b'"');
        for &b in s {
            if b == b'"' || b == b'\\' {
                out.push(b'\\');
            }
            out.push(b);
        }
        out.push(b'"');
    } else {
        write_literal_header(out, s.len() as u64);
        out.extend_from_slice(s);
    }
}

pub fn write_literal_header(out: &mut Vec<u8>, len: u64) {
    out.push(b'{');
    out.extend_from_slice(len.to_string().as_bytes());
    out.extend_from_slice(b"}\r\n");
}

/// Writes an astring: a bare atom when safe (mailbox names like `INBOX`
/// read better that way), else a string.
pub fn write_astring(out: &mut Vec<u8>, s: &[u8], utf8: bool) {
    let atom = !s.is_empty()
        && s.iter().all(|&b| {
            b > 0x20 && b < 0x7f && !matches!(b, b'(' | b')' | b'{' | b'%' | b'*' | b'"' | b'\\')
        })
        && !s.eq_ignore_ascii_case(b"NIL");
    if atom {
        out.extend_from_slice(s);
    } else {
        write_string(out, s, utf8);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings() {
        let mut o = Vec::new();
        write_string(&mut o, b"a\"b\\c", false);
        assert_eq!(o, b"\"a\\\"b\\\\c\"");
        o.clear();
        write_string(&mut o, b"x\r\ny", false);
        assert_eq!(o, b"{4}\r\nx\r\ny");
        o.clear();
        write_string(&mut o, "é".as_bytes(), false);
        assert_eq!(o, b"{2}\r\n\xc3\xa9");
        o.clear();
        write_string(&mut o, "é".as_bytes(), true);
        assert_eq!(o, "\"é\"".as_bytes());
        o.clear();
        write_astring(&mut o, b"INBOX", false);
        write_astring(&mut o, b"a b", false);
        write_astring(&mut o, b"nil", false);
        assert_eq!(o, b"INBOX\"a b\"\"nil\"");
    }
}
