//! Writers of IMAP response syntax for ENVELOPE, BODY and BODYSTRUCTURE
//! (RFC 3501 7.4.2), appending to a byte buffer.

use base64::Engine as _;

use crate::{Address, Envelope, Part, PartKind};

/// Longer strings go out as literals: some clients choke on long quoted
/// strings, and a literal needs no escaping.
const MAX_QUOTED: usize = 1024;

/// Raw bytes per RFC 2047 word: 45 bytes is 60 base64 characters, which
/// keeps `=?utf-8?b?...?=` within the 75-character limit.
const ENCODED_WORD_CHUNK: usize = 45;

fn quotable(s: &[u8]) -> bool {
    s.len() < MAX_QUOTED && !s.iter().any(|&b| matches!(b, b'\r' | b'\n' | 0))
}

fn write_quoted(out: &mut Vec<u8>, s: &[u8]) {
    out.reserve(s.len() + 2);
    out.push(b'"');
    for &b in s {
        if b == b'"' || b == b'\\' {
            out.push(b'\\');
        }
        out.push(b);
    }
    out.push(b'"');
}

fn write_literal(out: &mut Vec<u8>, s: &[u8]) {
    out.push(b'{');
    out.extend_from_slice(s.len().to_string().as_bytes());
    out.extend_from_slice(b"}\r\n");
    // IMAP literals must not contain NUL; Dovecot sends 0x80 instead.
    out.extend(s.iter().map(|&b| if b == 0 { 0x80 } else { b }));
}

/// RFC 2047 B-encoding of UTF-8 text, split at character boundaries into
/// words separated by spaces (which decoders drop between encoded words).
fn encode_rfc2047(text: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len() * 2);
    let mut rest = text;
    while !rest.is_empty() {
        let mut cut = rest.len().min(ENCODED_WORD_CHUNK);
        while !rest.is_char_boundary(cut) {
            cut -= 1;
        }
        if cut == 0 {
            // Unreachable for valid UTF-8 (chars are at most 4 bytes), but
            // never loop forever.
            cut = rest.len();
        }
        let (chunk, tail) = rest.split_at(cut);
        if !out.is_empty() {
            out.push(b' ');
        }
        out.extend_from_slice(b"=?utf-8?b?");
        out.extend_from_slice(
            base64::engine::general_purpose::STANDARD
                .encode(chunk)
                .as_bytes(),
        );
        out.extend_from_slice(b"?=");
        rest = tail;
    }
    out
}

/// A string (never NIL): quoted when short and free of CR/LF/NUL, else a
/// literal. 8-bit bytes go out as-is to a client that enabled UTF8=ACCEPT;
/// other clients get valid UTF-8 as RFC 2047 words and anything else as a
/// literal.
pub fn write_string(out: &mut Vec<u8>, s: &[u8], utf8: bool) {
    if s.is_ascii() {
        if quotable(s) {
            write_quoted(out, s);
        } else {
            write_literal(out, s);
        }
        return;
    }
    match std::str::from_utf8(s) {
        Ok(_) if utf8 && quotable(s) => write_quoted(out, s),
        Ok(text) if !utf8 => {
            let encoded = encode_rfc2047(text);
            if quotable(&encoded) {
                write_quoted(out, &encoded);
            } else {
                write_literal(out, &encoded);
            }
        }
        _ => write_literal(out, s),
    }
}

/// An nstring: `NIL` when absent, else as [`write_string`].
pub fn write_nstring(out: &mut Vec<u8>, s: Option<&[u8]>, utf8: bool) {
    match s {
        Some(s) => write_string(out, s, utf8),
        None => out.extend_from_slice(b"NIL"),
    }
}

fn write_address(out: &mut Vec<u8>, a: &Address, utf8: bool) {
    out.push(b'(');
    write_nstring(out, a.name.as_deref(), utf8);
    out.push(b' ');
    write_nstring(out, a.adl.as_deref(), utf8);
    out.push(b' ');
    write_nstring(out, a.mailbox.as_deref(), utf8);
    out.push(b' ');
    write_nstring(out, a.host.as_deref(), utf8);
    out.push(b')');
}

/// An address list as in ENVELOPE: `NIL` when empty.
pub fn write_address_list(out: &mut Vec<u8>, list: &[Address], utf8: bool) {
    if list.is_empty() {
        out.extend_from_slice(b"NIL");
        return;
    }
    out.push(b'(');
    for a in list {
        write_address(out, a, utf8);
    }
    out.push(b')');
}

/// FETCH ENVELOPE.
pub fn write_envelope(out: &mut Vec<u8>, env: &Envelope, utf8: bool) {
    out.push(b'(');
    write_nstring(out, env.date.as_deref(), utf8);
    out.push(b' ');
    write_nstring(out, env.subject.as_deref(), utf8);
    for list in [
        &env.from,
        &env.sender,
        &env.reply_to,
        &env.to,
        &env.cc,
        &env.bcc,
    ] {
        out.push(b' ');
        write_address_list(out, list, utf8);
    }
    out.push(b' ');
    write_nstring(out, env.in_reply_to.as_deref(), utf8);
    out.push(b' ');
    write_nstring(out, env.message_id.as_deref(), utf8);
    out.push(b')');
}

fn write_params(out: &mut Vec<u8>, params: &[(Vec<u8>, Vec<u8>)], utf8: bool) {
    if params.is_empty() {
        out.extend_from_slice(b"NIL");
        return;
    }
    out.push(b'(');
    for (i, (k, v)) in params.iter().enumerate() {
        if i > 0 {
            out.push(b' ');
        }
        write_string(out, k, utf8);
        out.push(b' ');
        write_string(out, v, utf8);
    }
    out.push(b')');
}

fn write_number(out: &mut Vec<u8>, n: u32) {
    out.extend_from_slice(n.to_string().as_bytes());
}

/// body-fld-dsp SP body-fld-lang SP body-fld-loc
fn write_dsp_lang_loc(out: &mut Vec<u8>, part: &Part, utf8: bool) {
    out.push(b' ');
    match &part.disposition {
        Some((ty, params)) => {
            out.push(b'(');
            write_string(out, ty, utf8);
            out.push(b' ');
            write_params(out, params, utf8);
            out.push(b')');
        }
        None => out.extend_from_slice(b"NIL"),
    }
    out.push(b' ');
    if part.language.is_empty() {
        out.extend_from_slice(b"NIL");
    } else {
        // Always a list, even for one language, as Dovecot writes it.
        out.push(b'(');
        for (i, l) in part.language.iter().enumerate() {
            if i > 0 {
                out.push(b' ');
            }
            write_string(out, l, utf8);
        }
        out.push(b')');
    }
    out.push(b' ');
    write_nstring(out, part.location.as_deref(), utf8);
}

/// What Dovecot sends for a multipart without parts; ours always have one,
/// but metadata read back from storage is not re-validated.
const EMPTY_BODY: &[u8] = b"(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0)";
const EMPTY_BODYSTRUCTURE: &[u8] =
    b"(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0 NIL NIL NIL NIL)";

/// FETCH BODY (`extended == false`) or BODYSTRUCTURE (`extended == true`).
pub fn write_body(out: &mut Vec<u8>, part: &Part, extended: bool, utf8: bool) {
    out.push(b'(');
    match &part.kind {
        PartKind::Multipart(children) => {
            if children.is_empty() {
                out.extend_from_slice(if extended {
                    EMPTY_BODYSTRUCTURE
                } else {
                    EMPTY_BODY
                });
            }
            for c in children {
                write_body(out, c, extended, utf8);
            }
            out.push(b' ');
            write_string(out, &part.content_subtype, utf8);
            if extended {
                out.push(b' ');
                write_params(out, &part.params, utf8);
                write_dsp_lang_loc(out, part, utf8);
            }
        }
        kind => {
            write_string(out, &part.content_type, utf8);
            out.push(b' ');
            write_string(out, &part.content_subtype, utf8);
            out.push(b' ');
            write_params(out, &part.params, utf8);
            out.push(b' ');
            write_nstring(out, part.id.as_deref(), utf8);
            out.push(b' ');
            write_nstring(out, part.description.as_deref(), utf8);
            out.push(b' ');
            write_string(out, &part.encoding, utf8);
            out.push(b' ');
            write_number(out, part.body_size());
            if let PartKind::Message { envelope, body } = kind {
                out.push(b' ');
                write_envelope(out, envelope, utf8);
                out.push(b' ');
                write_body(out, body, extended, utf8);
                out.push(b' ');
                write_number(out, part.lines);
            } else if part.is_text() {
                out.push(b' ');
                write_number(out, part.lines);
            }
            if extended {
                out.push(b' ');
                write_nstring(out, part.md5.as_deref(), utf8);
                write_dsp_lang_loc(out, part, utf8);
            }
        }
    }
    out.push(b')');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[u8], utf8: bool) -> String {
        let mut out = Vec::new();
        write_string(&mut out, v, utf8);
        String::from_utf8_lossy(&out).into_owned()
    }

    #[test]
    fn quoting() {
        assert_eq!(s(b"plain", false), "\"plain\"");
        assert_eq!(s(b"a\"b\\c", false), "\"a\\\"b\\\\c\"");
        assert_eq!(s(b"", false), "\"\"");
        assert_eq!(s(b"a\r\nb", false), "{4}\r\na\r\nb");
        let long = vec![b'x'; 1024];
        assert!(s(&long, false).starts_with("{1024}\r\n"));
        assert_eq!(s(&[b'a', 0, b'b'], false), "{3}\r\na\u{FFFD}b");
        let mut nstr = Vec::new();
        write_nstring(&mut nstr, None, false);
        assert_eq!(nstr, b"NIL");
    }

    #[test]
    fn eight_bit() {
        assert_eq!(s("Jörg".as_bytes(), true), "\"Jörg\"");
        assert_eq!(s("Jörg".as_bytes(), false), "\"=?utf-8?b?SsO2cmc=?=\"");
        // Not UTF-8: a literal either way.
        assert_eq!(s(b"J\xf6rg", false), "{4}\r\nJ\u{FFFD}rg");
        assert_eq!(s(b"J\xf6rg", true), "{4}\r\nJ\u{FFFD}rg");
    }

    #[test]
    fn rfc2047_words_split_on_char_boundaries() {
        let text = "é".repeat(40);
        let enc = String::from_utf8(encode_rfc2047(&text)).unwrap();
        let words: Vec<&str> = enc.split(' ').collect();
        assert_eq!(words.len(), 2);
        assert!(
            words
                .iter()
                .all(|w| w.len() <= 75 && w.starts_with("=?utf-8?b?"))
        );
        let decoded: String = words
            .iter()
            .map(|w| {
                let b64 = &w[10..w.len() - 2];
                let raw = base64::engine::general_purpose::STANDARD
                    .decode(b64)
                    .unwrap();
                String::from_utf8(raw).unwrap()
            })
            .collect();
        assert_eq!(decoded, text);
    }
}
