//! Decoded, lowercased text for SEARCH, built once at ingest. Decoding
//! (RFC 2047 words, transfer encodings, charsets, HTML) is mail-parser's.

use std::borrow::Cow;

use base64::Engine as _;
use mail_parser::decoders::{
    base64::base64_decode, charsets::map::charset_decoder, html::html_to_text,
    quoted_printable::quoted_printable_decode,
};
use mail_parser::{HeaderValue, parsers::MessageStream};
use serde::{Deserialize, Serialize};

use crate::header::header_fields_iter;
use crate::structure::slice;
use crate::{Part, PartKind};

/// Each of `headers` and `body` is capped at this many bytes.
pub const MAX_SEARCH_TEXT: usize = 2 * 1024 * 1024;

/// Ends a text that is not the whole of what it stands for: cut at
/// [`MAX_SEARCH_TEXT`], or from a message whose structure went past the
/// parser's limits on parts and nesting. NUL, because no SEARCH string can
/// hold one (RFC 3501 §9: CHAR8 excludes %x00), so it never matches.
pub const CAPPED: char = '\0';

/// Whether `text` (headers or body of a [`SearchText`]) may miss part of
/// the message, so that SEARCH must look at the message itself when the
/// text does not match (see [`uncapped`]). Texts stored before the marker
/// are recognised by their length.
pub fn is_capped(text: &str) -> bool {
    text.ends_with(CAPPED) || text.len() + 4 > MAX_SEARCH_TEXT
}

/// The search text of `raw` without any cap: every text part decoded in
/// full, and then the whole message's bytes as they are (lowercased), so
/// that what the parts do not reach (past the parser's limits) is still
/// found where it stands in plain text. Only for the rare capped message.
pub fn uncapped(raw: &[u8]) -> SearchText {
    let (root, _) = crate::structure::parse_limited(raw);
    let header_block = slice(raw, root.header_start, root.body_start);
    let mut headers = String::new();
    for f in header_fields_iter(header_block) {
        headers.push_str(&field_lines(f.name, f.value));
    }
    headers = headers.to_lowercase();
    headers.push('\n');
    headers.push_str(&String::from_utf8_lossy(header_block).to_lowercase());
    let mut body = String::new();
    root.walk(&mut |p| {
        if matches!(p.kind, PartKind::Leaf) && p.is_text() {
            body.push_str(&part_text(raw, p).to_lowercase());
            body.push('\n');
        }
    });
    body.push_str(&String::from_utf8_lossy(slice(raw, root.body_start, root.end)).to_lowercase());
    SearchText { headers, body }
}

/// Text for case-insensitive substring SEARCH; both fields are lowercased
/// with `str::to_lowercase`, so callers lowercase the needle the same way.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SearchText {
    /// One line per top-level header field: `name: decoded value\n`, the
    /// value unfolded and RFC 2047 decoded.
    pub headers: String,
    /// The decoded text of every text/* leaf (HTML converted to text),
    /// including those inside encapsulated messages, separated by `\n`.
    pub body: String,
}

/// Appends text up to the cap, cutting on a character boundary.
struct Capped {
    s: String,
}

impl Capped {
    fn push(&mut self, text: &str) {
        // One byte stays for the CAPPED marker.
        let room = (MAX_SEARCH_TEXT - 1).saturating_sub(self.s.len());
        if text.len() <= room {
            self.s.push_str(text);
            return;
        }
        let mut cut = room;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        self.s.push_str(&text[..cut]);
    }

    fn full(&self) -> bool {
        self.s.len() + 4 > MAX_SEARCH_TEXT
    }

    /// The text, marked when it was cut (or `limited` says the parts did
    /// not reach all of the message).
    fn finish(mut self, cut: bool, limited: bool) -> String {
        if cut || limited || self.full() {
            self.s.push(CAPPED);
        }
        self.s
    }
}

/// RFC 2047-decode and unfold a raw header value (as in
/// [`crate::HeaderField::value`]), for SEARCH HEADER and the like. Runs of
/// whitespace become one space; not lowercased.
pub fn decode_header(value: &[u8]) -> String {
    // parse_unstructured stops at the line break that ends the field and
    // returns nothing without one.
    let mut buf = Vec::with_capacity(value.len() + 1);
    buf.extend_from_slice(value);
    buf.push(b'\n');
    match MessageStream::new(&buf).parse_unstructured() {
        HeaderValue::Text(t) => t.into_owned(),
        _ => String::new(),
    }
}

/// base64 with whatever junk real mail has in it: keep the alphabet only.
fn lenient_base64(body: &[u8]) -> Vec<u8> {
    let mut clean: Vec<u8> = body
        .iter()
        .copied()
        .filter(|b| b.is_ascii_alphanumeric() || *b == b'+' || *b == b'/')
        .collect();
    if clean.len() % 4 == 1 {
        clean.pop();
    }
    base64::engine::general_purpose::STANDARD_NO_PAD
        .decode(&clean)
        .unwrap_or_default()
}

/// Quoted-printable where a bad `=` escape stays literal instead of failing
/// the whole body.
fn lenient_qp(body: &[u8]) -> Vec<u8> {
    fn hex(b: u8) -> Option<u8> {
        char::from(b)
            .to_digit(16)
            .and_then(|d| u8::try_from(d).ok())
    }
    let mut out = Vec::with_capacity(body.len());
    let mut i = 0;
    while let Some(&b) = body.get(i) {
        if b == b'=' {
            match (body.get(i + 1), body.get(i + 2)) {
                (Some(b'\n'), _) => {
                    i += 2;
                    continue;
                }
                (Some(b'\r'), Some(b'\n')) => {
                    i += 3;
                    continue;
                }
                (Some(&h), Some(&l)) => {
                    if let (Some(h), Some(l)) = (hex(h), hex(l)) {
                        out.push(h << 4 | l);
                        i += 3;
                        continue;
                    }
                }
                _ => {}
            }
        }
        out.push(b);
        i += 1;
    }
    out
}

fn decode_transfer<'a>(body: &'a [u8], encoding: &[u8]) -> Cow<'a, [u8]> {
    if encoding.eq_ignore_ascii_case(b"base64") {
        Cow::Owned(base64_decode(body).unwrap_or_else(|| lenient_base64(body)))
    } else if encoding.eq_ignore_ascii_case(b"quoted-printable") {
        Cow::Owned(quoted_printable_decode(body).unwrap_or_else(|| lenient_qp(body)))
    } else {
        Cow::Borrowed(body)
    }
}

fn decode_charset(bytes: &[u8], charset: Option<&[u8]>) -> String {
    let charset = charset.map(crate::header::trim).unwrap_or_default();
    // us-ascii is the default label, and mislabelled UTF-8 under it is common;
    // valid UTF-8 is the better guess then.
    let utf8_ish = charset.is_empty()
        || [&b"us-ascii"[..], b"ascii", b"utf-8", b"utf8"]
            .iter()
            .any(|c| charset.eq_ignore_ascii_case(c));
    if utf8_ish && let Ok(s) = std::str::from_utf8(bytes) {
        return s.to_owned();
    }
    if !charset.is_empty() {
        // encoding_rs first: without mail-parser's `full_encoding` feature
        // (which would change the build for the whole workspace) its
        // multi-byte decoders are stubs. mail-parser still covers labels
        // encoding_rs lacks, such as UTF-7.
        if let Some(enc) = encoding_rs::Encoding::for_label(charset) {
            return enc.decode(bytes).0.into_owned();
        }
        if let Some(decode) = charset_decoder(charset) {
            return decode(bytes);
        }
    }
    String::from_utf8_lossy(bytes).into_owned()
}

fn part_text(raw: &[u8], part: &Part) -> String {
    let body = slice(raw, part.body_start, part.end);
    let bytes = decode_transfer(body, &part.encoding);
    let text = decode_charset(&bytes, part.param("charset"));
    if part.content_subtype.eq_ignore_ascii_case(b"html") {
        html_to_text(&text)
    } else {
        text
    }
}

/// Fields whose value is an address list (RFC 5322 §3.6.2, §3.6.3).
const ADDRESS_FIELDS: [&str; 6] = ["from", "sender", "reply-to", "to", "cc", "bcc"];

/// A field's `name: decoded value` line; for an address field, a second
/// line of its addresses as `local@domain`, without the comments and the
/// folding whitespace RFC 5322 §3.4.1 lets stand around `@` and `.`, so
/// that `SEARCH FROM user-from@domain.org` finds
/// `From: <user-from (comment)@ (comment) domain.org>` (as Dovecot does:
/// addresses are compared without comments).
fn field_lines(name: &[u8], value: &[u8]) -> String {
    let name = String::from_utf8_lossy(name);
    let mut out = format!("{name}: {}\n", decode_header(value));
    if ADDRESS_FIELDS.iter().any(|f| name.eq_ignore_ascii_case(f)) {
        let specs: Vec<String> = crate::address::parse_address_list(value)
            .into_iter()
            .filter_map(|a| {
                let (m, h) = (a.mailbox?, a.host?);
                // The envelope's placeholders for a missing part are no
                // text of the message's.
                if m == crate::address::MISSING_MAILBOX || h == crate::address::MISSING_DOMAIN {
                    return None;
                }
                Some(format!(
                    "{}@{}",
                    String::from_utf8_lossy(&m),
                    String::from_utf8_lossy(&h)
                ))
            })
            .collect();
        if !specs.is_empty() {
            out.push_str(&format!("{name}: {}\n", specs.join(", ")));
        }
    }
    out
}

/// The `headers` half of [`SearchText`] from a header block alone, capped
/// as at ingest (for rebuilding stored search text).
pub fn search_headers(header_block: &[u8]) -> String {
    let (headers, cut) = capped_headers(header_block);
    headers.finish(cut, false)
}

fn capped_headers(header_block: &[u8]) -> (Capped, bool) {
    let mut headers = Capped { s: String::new() };
    for f in header_fields_iter(header_block) {
        if headers.full() {
            return (headers, true);
        }
        headers.push(&field_lines(f.name, f.value).to_lowercase());
    }
    (headers, false)
}

pub(crate) fn build(raw: &[u8], root: &Part, header_block: &[u8], limited: bool) -> SearchText {
    let (headers, headers_cut) = capped_headers(header_block);

    let mut body = Capped { s: String::new() };
    let mut body_cut = false;
    root.walk(&mut |p| {
        if !matches!(p.kind, PartKind::Leaf) || !p.is_text() {
            return;
        }
        if body.full() {
            body_cut = true;
            return;
        }
        if !body.s.is_empty() {
            body.push("\n");
        }
        body.push(&part_text(raw, p).to_lowercase());
    });

    SearchText {
        headers: headers.finish(headers_cut, false),
        body: body.finish(body_cut, limited),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_searchable_without_comments() {
        let s = search_headers(
            b"From: <user-from (comment)@ (comment) domain.org>\r\n\
              To: \"Bob\" <bob@example.org>, carol (c) @ example . net\r\n\
              Subject: (not an address) x@y\r\n\r\n",
        );
        let lines: Vec<&str> = s.lines().collect();
        assert_eq!(
            lines,
            [
                "from: <user-from (comment)@ (comment) domain.org>",
                "from: user-from@domain.org",
                "to: \"bob\" <bob@example.org>, carol (c) @ example . net",
                "to: bob@example.org, carol@example.net",
                "subject: (not an address) x@y",
            ]
        );
    }

    #[test]
    fn header_decoding() {
        assert_eq!(
            decode_header(b" =?utf-8?q?h=C3=A9llo?=\r\n  world"),
            "héllo world"
        );
        assert_eq!(decode_header(b" =?iso-8859-1?q?caf=E9?="), "café");
        assert_eq!(decode_header(" raw ütf8".as_bytes()), "raw ütf8");
        assert_eq!(decode_header(b""), "");
    }

    #[test]
    fn transfer_decoding() {
        assert_eq!(&*decode_transfer(b"aGVsbG8=\r\n", b"BASE64"), b"hello");
        assert_eq!(&*decode_transfer(b"aGVs!bG8", b"base64"), b"hello");
        assert_eq!(
            &*decode_transfer(b"caf=C3=A9 =\r\nx", b"quoted-printable"),
            "café x".as_bytes()
        );
        assert_eq!(
            &*decode_transfer(b"a=zz=C3=A9", b"quoted-printable"),
            "a=zzé".as_bytes()
        );
        assert_eq!(&*decode_transfer(b"as is", b"8bit"), b"as is");
    }

    #[test]
    fn charsets() {
        assert_eq!(decode_charset(b"caf\xe9", Some(b"ISO-8859-1")), "café");
        assert_eq!(decode_charset("café".as_bytes(), Some(b"us-ascii")), "café");
        assert_eq!(decode_charset(b"\x82\xa0", Some(b"shift_jis")), "あ");
        assert_eq!(
            decode_charset(b"x\xff", Some(b"no-such-charset")),
            "x\u{FFFD}"
        );
    }

    #[test]
    fn cap_cuts_on_char_boundary() {
        // One byte of the cap is kept for the marker.
        let mut c = Capped {
            s: "a".repeat(MAX_SEARCH_TEXT - 2),
        };
        c.push("é");
        assert_eq!(c.s.len(), MAX_SEARCH_TEXT - 2);
        c.push("b");
        assert_eq!(c.s.len(), MAX_SEARCH_TEXT - 1);
        assert!(c.full());
        let text = c.finish(true, false);
        assert_eq!(text.len(), MAX_SEARCH_TEXT);
        assert!(is_capped(&text));
    }

    fn message_with_body(body: &str) -> Vec<u8> {
        format!("Subject: big\r\nContent-Type: text/plain\r\n\r\n{body}").into_bytes()
    }

    #[test]
    fn text_past_the_cap_is_marked_and_found_uncapped() {
        let body = format!(
            "{}\r\nneedle at the end\r\n",
            "filler line\r\n".repeat(200_000)
        );
        let raw = message_with_body(&body);
        let parsed = crate::parse(&raw);
        assert!(parsed.search.body.len() <= MAX_SEARCH_TEXT);
        assert!(is_capped(&parsed.search.body));
        assert!(!parsed.search.body.contains("needle"));
        assert!(!is_capped(&parsed.search.headers));
        assert!(uncapped(&raw).body.contains("needle at the end"));
        // A small message is not marked.
        let small = crate::parse(&message_with_body("just this\r\n"));
        assert!(!is_capped(&small.search.body));
        assert!(!small.search.body.contains(CAPPED));
    }

    #[test]
    fn text_past_the_nesting_limit_is_marked_and_found_uncapped() {
        // message/rfc822 inside message/rfc822, deeper than the parser goes.
        let mut raw =
            "Subject: deep\r\nContent-Type: text/plain\r\n\r\nthe deep needle\r\n".to_string();
        for i in 0..(crate::structure::MAX_DEPTH + 3) {
            raw = format!("Subject: level {i}\r\nContent-Type: message/rfc822\r\n\r\n{raw}");
        }
        let parsed = crate::parse(raw.as_bytes());
        assert!(!parsed.search.body.contains("deep needle"));
        assert!(is_capped(&parsed.search.body));
        assert!(uncapped(raw.as_bytes()).body.contains("the deep needle"));
    }
}
