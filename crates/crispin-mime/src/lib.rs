//! crispin-mime: parse a stored RFC 5322 / MIME message once, at ingest, into
//! compact serializable metadata from which the IMAP server answers FETCH
//! ENVELOPE / BODY / BODYSTRUCTURE / BODY[section] and SEARCH without ever
//! parsing the message again.
//!
//! Offsets in [`Part`] are absolute byte offsets into the raw message as
//! stored, so `BODY[section]` is a plain slice of the stored bytes.

mod address;
mod date;
mod header;
mod imap;
mod params;
mod search;
mod structure;

use serde::{Deserialize, Serialize};

pub use address::parse_address_list;
pub use header::{HeaderField, header_fields, header_fields_into, header_fields_iter, unfold};
pub use imap::{write_address_list, write_body, write_envelope, write_nstring, write_string};
pub use search::{
    CAPPED, MAX_SEARCH_TEXT, SearchText, decode_header, is_capped, search_headers, uncapped,
};

/// MIME parameters, `(name, value)` in order.
pub type Params = Vec<(Vec<u8>, Vec<u8>)>;

/// Everything the server keeps about a message.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedMessage {
    pub meta: MessageMeta,
    pub search: SearchText,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MessageMeta {
    pub envelope: Envelope,
    /// The top-level message as a part: `header_start` is 0.
    pub root: Part,
    /// `Date:` as a unix timestamp (UTC); `None` if absent or unparsable.
    pub sent_date: Option<i64>,
    /// `Date:`'s calendar date in its own zone: SENTON / SENTBEFORE /
    /// SENTSINCE disregard time and zone (RFC 3501 6.4.4).
    pub sent_day: Option<(i32, u32, u32)>,
}

/// RFC 3501 ENVELOPE. Values are the raw header values, unfolded (only the
/// line breaks of folds are removed) and trimmed, but not decoded: RFC 2047
/// words stay encoded and 8-bit bytes stay as they are; the writer encodes
/// for clients that need it.
///
/// `sender` and `reply_to` already hold `from` when their headers are absent
/// or empty, as RFC 3501 7.4.2 requires of the server.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    pub date: Option<Vec<u8>>,
    pub subject: Option<Vec<u8>>,
    pub from: Vec<Address>,
    pub sender: Vec<Address>,
    pub reply_to: Vec<Address>,
    pub to: Vec<Address>,
    pub cc: Vec<Address>,
    pub bcc: Vec<Address>,
    pub in_reply_to: Option<Vec<u8>>,
    pub message_id: Option<Vec<u8>>,
}

/// One RFC 3501 address structure. A group is a start marker
/// `(NIL NIL "name" NIL)`, its members, and an end marker `(NIL NIL NIL NIL)`;
/// see [`Address::is_group_start`] / [`Address::is_group_end`].
///
/// A mailbox without a local part or domain gets Dovecot's
/// `MISSING_MAILBOX` / `MISSING_DOMAIN` rather than NIL, because a NIL host
/// would make clients read it as group syntax.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Address {
    pub name: Option<Vec<u8>>,
    pub adl: Option<Vec<u8>>,
    pub mailbox: Option<Vec<u8>>,
    pub host: Option<Vec<u8>>,
}

impl Address {
    pub fn is_group_start(&self) -> bool {
        self.host.is_none() && self.mailbox.is_some()
    }
    pub fn is_group_end(&self) -> bool {
        self.host.is_none() && self.mailbox.is_none()
    }
}

/// A MIME part (or the whole message, for the root).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Part {
    /// `raw[header_start..body_start]` is the header block including its
    /// terminating blank line (if there is one).
    pub header_start: u32,
    pub body_start: u32,
    /// `raw[body_start..end]` is the body.
    pub end: u32,
    /// As written in the message; compare case-insensitively.
    pub content_type: Vec<u8>,
    pub content_subtype: Vec<u8>,
    /// Content-Type parameters. RFC 2231 continuations are merged:
    /// `name*0`/`name*1` become `name`, and extended `name*0*`/`name*1*`
    /// become `name*` with the still percent-encoded value (as Dovecot does).
    pub params: Params,
    pub id: Option<Vec<u8>>,
    pub description: Option<Vec<u8>>,
    /// As written; `7bit` when absent.
    pub encoding: Vec<u8>,
    pub md5: Option<Vec<u8>>,
    pub disposition: Option<(Vec<u8>, Params)>,
    pub language: Vec<Vec<u8>>,
    pub location: Option<Vec<u8>>,
    /// Body line count; only meaningful (and only computed) for `text/*` and
    /// `message/rfc822|global`. A final line without a line break counts.
    pub lines: u32,
    pub kind: PartKind,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum PartKind {
    Leaf,
    /// Never empty: a multipart without any delimiter gets one empty
    /// `text/plain` child, as Dovecot does, since IMAP's grammar needs one.
    Multipart(Vec<Part>),
    /// message/rfc822 or message/global; `body` is the encapsulated message
    /// as a part (its header is the encapsulated message's header).
    Message {
        envelope: Box<Envelope>,
        body: Box<Part>,
    },
}

impl Part {
    /// Resolve an IMAP section part path (e.g. `[2, 1]` for `BODY[2.1]`),
    /// RFC 3501 6.4.5, the way Dovecot does:
    /// * on a multipart, `n` picks the n-th child;
    /// * on anything else only `1` is allowed, and it addresses the part
    ///   itself (so `[1]` of a single-part message is its body);
    /// * when more numbers follow and the addressed part is message/rfc822,
    ///   they apply to the encapsulated message's body (so `[2, 1]` of a
    ///   message/rfc822 whose body is not multipart is that body).
    ///
    /// An empty path is `self`. Out of range or invalid paths give `None`.
    pub fn section(&self, path: &[u32]) -> Option<&Part> {
        let mut part = self;
        for (i, &n) in path.iter().enumerate() {
            let more = i + 1 < path.len();
            part = match &part.kind {
                PartKind::Multipart(children) => {
                    children.get(usize::try_from(n).ok()?.checked_sub(1)?)?
                }
                PartKind::Message { .. } if n == 1 => part,
                PartKind::Leaf if n == 1 && !more => part,
                _ => return None,
            };
            if more && let PartKind::Message { body, .. } = &part.kind {
                part = body;
            }
        }
        Some(part)
    }

    /// For `HEADER` / `TEXT` / `HEADER.FIELDS` on a nested part: the
    /// encapsulated message as a part, or `None` if this part is not a parsed
    /// message/rfc822|global.
    pub fn message_inner(&self) -> Option<&Part> {
        match &self.kind {
            PartKind::Message { body, .. } => Some(body),
            _ => None,
        }
    }

    /// The header block (with its blank line) as a slice of the raw
    /// message this part was parsed from; empty if `raw` is not that message.
    pub fn header_bytes<'a>(&self, raw: &'a [u8]) -> &'a [u8] {
        structure::slice(raw, self.header_start, self.body_start)
    }

    /// The body as a slice of the raw message this part was parsed from.
    pub fn body_bytes<'a>(&self, raw: &'a [u8]) -> &'a [u8] {
        structure::slice(raw, self.body_start, self.end)
    }

    /// Size of the body in octets, as BODYSTRUCTURE reports it.
    pub fn body_size(&self) -> u32 {
        self.end.saturating_sub(self.body_start)
    }

    pub fn is_type(&self, ty: &str, subtype: &str) -> bool {
        self.content_type.eq_ignore_ascii_case(ty.as_bytes())
            && self
                .content_subtype
                .eq_ignore_ascii_case(subtype.as_bytes())
    }

    pub fn is_text(&self) -> bool {
        self.content_type.eq_ignore_ascii_case(b"text")
    }

    /// Case-insensitive lookup of a Content-Type parameter.
    pub fn param(&self, name: &str) -> Option<&[u8]> {
        self.params
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name.as_bytes()))
            .map(|(_, v)| v.as_slice())
    }

    /// Visit this part and every part below it (including encapsulated
    /// messages), depth first.
    pub fn walk<'a>(&'a self, f: &mut impl FnMut(&'a Part)) {
        f(self);
        match &self.kind {
            PartKind::Leaf => {}
            PartKind::Multipart(children) => {
                for c in children {
                    c.walk(f);
                }
            }
            PartKind::Message { body, .. } => body.walk(f),
        }
    }
}

/// Parse a raw message. Never panics, whatever the bytes.
pub fn parse(raw: &[u8]) -> ParsedMessage {
    let (root, limited) = structure::parse_limited(raw);
    let header_block = structure::slice(raw, root.header_start, root.body_start);
    let envelope = structure::envelope_from_header(header_block);
    let (sent_date, sent_day) = match header::first_value(header_block, b"date") {
        Some(v) => match date::parse_date(&unfold(v)) {
            Some((ts, day)) => (Some(ts), Some(day)),
            None => (None, None),
        },
        None => (None, None),
    };
    let search = search::build(raw, &root, header_block, limited);
    ParsedMessage {
        meta: MessageMeta {
            envelope,
            root,
            sent_date,
            sent_day,
        },
        search,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body_of<'a>(raw: &'a [u8], root: &Part, path: &[u32]) -> Option<&'a [u8]> {
        let p = root.section(path)?;
        Some(structure::slice(raw, p.body_start, p.end))
    }

    // Expected bodies are what Dovecot 2.3 returns for BODY[...] on the
    // same messages.
    const NESTED: &[u8] = b"Content-Type: multipart/mixed; boundary=zz\r\n\r\n--zz\r\nContent-Type: message/rfc822\r\n\r\nSubject: inner\r\nContent-Type: multipart/alternative; boundary=yy\r\n\r\n--yy\r\n\r\nA\r\n--yy\r\nContent-Type: text/html\r\n\r\n<b>B</b>\r\n--yy--\r\n--zz\r\nContent-Type: message/rfc822\r\n\r\nSubject: g\r\n\r\nG\r\n--zz\r\n\r\nleaf\r\n--zz--\r\n";

    #[test]
    fn section_single_part() {
        let raw = b"Subject: x\r\n\r\nbody";
        let m = parse(raw).meta;
        assert_eq!(body_of(raw, &m.root, &[]), Some(&b"body"[..]));
        assert_eq!(body_of(raw, &m.root, &[1]), Some(&b"body"[..]));
        assert!(m.root.section(&[2]).is_none());
        assert!(m.root.section(&[0]).is_none());
        assert!(m.root.section(&[1, 1]).is_none());
        assert!(m.root.message_inner().is_none());
    }

    #[test]
    fn section_nested() {
        let m = parse(NESTED).meta;
        let r = &m.root;
        let b = |p: &[u32]| body_of(NESTED, r, p);
        assert!(b(&[1]).unwrap().starts_with(b"Subject: inner\r\n"));
        assert!(b(&[1]).unwrap().ends_with(b"--yy--"));
        assert_eq!(b(&[1, 1]), Some(&b"A"[..]));
        assert_eq!(b(&[1, 2]), Some(&b"<b>B</b>"[..]));
        // A leaf's part 1 is itself.
        assert_eq!(b(&[1, 1, 1]), Some(&b"A"[..]));
        assert!(r.section(&[1, 1, 1, 1]).is_none());
        assert!(r.section(&[1, 3]).is_none());
        // message/rfc822 with a single-part body: [2.1] is that body.
        assert_eq!(b(&[2]), Some(&b"Subject: g\r\n\r\nG"[..]));
        assert_eq!(b(&[2, 1]), Some(&b"G"[..]));
        assert!(r.section(&[2, 1, 1]).is_none());
        assert!(r.section(&[2, 2]).is_none());
        assert_eq!(b(&[3]), Some(&b"leaf"[..]));
        assert_eq!(b(&[3, 1]), Some(&b"leaf"[..]));
        assert!(r.section(&[3, 2]).is_none());
        assert!(r.section(&[4]).is_none());

        // HEADER / TEXT of a nested message.
        let inner = r.section(&[2]).unwrap().message_inner().unwrap();
        let hdr = structure::slice(NESTED, inner.header_start, inner.body_start);
        assert_eq!(hdr, b"Subject: g\r\n\r\n");
        assert!(r.section(&[3]).unwrap().message_inner().is_none());
        // MIME of part 2 is its own MIME header.
        let p2 = r.section(&[2]).unwrap();
        assert_eq!(
            structure::slice(NESTED, p2.header_start, p2.body_start),
            b"Content-Type: message/rfc822\r\n\r\n"
        );
    }

    #[test]
    fn section_top_level_message_rfc822() {
        // Dovecot: BODY[1] is the whole encapsulated message, BODY[1.1] its
        // body, BODY[1.1.1] nothing.
        let raw = b"Content-Type: message/rfc822\r\n\r\nSubject: inner\r\n\r\ninner body\r\n";
        let m = parse(raw).meta;
        assert_eq!(
            body_of(raw, &m.root, &[1]),
            Some(&b"Subject: inner\r\n\r\ninner body\r\n"[..])
        );
        assert_eq!(body_of(raw, &m.root, &[1, 1]), Some(&b"inner body\r\n"[..]));
        assert!(m.root.section(&[1, 1, 1]).is_none());
        assert!(m.root.section(&[2]).is_none());
    }

    #[test]
    fn envelope_defaults_and_dates() {
        let raw = b"From: A <a@b.c>\r\nSubject:\r\nDate: Mon, 1 Jan 2024 00:30:00 +0100\r\nReply-To:  \r\n\r\n";
        let m = parse(raw).meta;
        assert_eq!(m.envelope.subject.as_deref(), Some(&b""[..]));
        assert_eq!(m.envelope.sender, m.envelope.from);
        assert_eq!(m.envelope.reply_to, m.envelope.from);
        assert!(m.envelope.to.is_empty());
        assert_eq!(m.sent_date, Some(1_704_065_400));
        assert_eq!(m.sent_day, Some((2024, 1, 1)));
        let m = parse(b"Date: never\r\n\r\n").meta;
        assert_eq!((m.sent_date, m.sent_day), (None, None));
        assert_eq!(m.envelope.date.as_deref(), Some(&b"never"[..]));
    }

    #[test]
    fn search_text() {
        let raw = "Subject: =?utf-8?q?Gr=C3=BC=C3=9Fe?=\r\nFrom: \"Big\" <X@Y>\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>Hello <b>WORLD</b></p>\r\n--b\r\nContent-Type: image/png\r\n\r\nPNGDATA\r\n--b\r\nContent-Type: message/rfc822\r\n\r\nSubject: hidden header\r\n\r\nInner BODY\r\n--b--\r\n";
        let s = parse(raw.as_bytes()).search;
        assert!(s.headers.contains("subject: grüße\n"), "{}", s.headers);
        assert!(s.headers.contains("from: \"big\" <x@y>\n"), "{}", s.headers);
        assert!(s.body.contains("hello world"), "{}", s.body);
        assert!(s.body.contains("inner body"), "{}", s.body);
        assert!(!s.body.contains("pngdata"));
        assert!(!s.body.contains("hidden header"));
        assert!(!s.headers.contains("hidden header"));
    }
}
