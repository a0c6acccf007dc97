// Our own MIME structure splitter, because mail-parser 0.11 matches `--boundary` mid-line and gives nested offsets relative to sub-buffers, so it cannot give IMAP's exact section offsets.
//! Splits a message into [`Part`]s with absolute byte offsets: header
//! blocks, line-anchored boundary delimiters (RFC 2046 5.1.1), and
//! message/rfc822 | message/global bodies parsed recursively in the same
//! buffer.

use crate::address::parse_address_list;
use crate::header::{find_body_start, header_fields_iter, line_at, unfold};
use crate::params::{self, Params};
use crate::{Envelope, Part, PartKind};

/// Deeper parts become leaves, bounding recursion on hostile input.
pub(crate) const MAX_DEPTH: u32 = 32;
/// Past this many parts in one message, delimiters are no longer looked
/// for: the part being read runs to the end of its enclosing body.
pub(crate) const MAX_PARTS: usize = 10_000;

pub(crate) fn off(x: usize) -> u32 {
    u32::try_from(x).unwrap_or(u32::MAX)
}

/// `raw[a..b]`, empty when out of range.
pub(crate) fn slice(raw: &[u8], a: u32, b: u32) -> &[u8] {
    let (Ok(a), Ok(b)) = (usize::try_from(a), usize::try_from(b)) else {
        return &[];
    };
    raw.get(a..b).unwrap_or_default()
}

/// What a part without a (valid) Content-Type is.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Default {
    TextPlain,
    /// Inside multipart/digest (RFC 2046 5.1.5).
    MessageRfc822,
}

#[cfg(test)]
pub(crate) fn parse_message(raw: &[u8]) -> Part {
    parse_limited(raw).0
}

/// The message's parts, and whether a limit ([`MAX_PARTS`], [`MAX_DEPTH`])
/// left some of it unparsed (its text is then not all in the parts).
pub(crate) fn parse_limited(raw: &[u8]) -> (Part, bool) {
    let mut s = Splitter {
        raw,
        parts_left: MAX_PARTS,
        limited: false,
    };
    let root = s.part(0, raw.len(), Default::TextPlain, 0);
    (root, s.limited)
}

/// The MIME fields of one header block.
#[derive(Default)]
struct MimeFields {
    content_type: Option<(Vec<u8>, Vec<u8>, Params)>,
    encoding: Option<Vec<u8>>,
    id: Option<Vec<u8>>,
    description: Option<Vec<u8>>,
    md5: Option<Vec<u8>>,
    disposition: Option<(Vec<u8>, Params)>,
    language: Option<Vec<Vec<u8>>>,
    location: Option<Vec<u8>>,
}

impl MimeFields {
    /// The first occurrence of each field wins, as with the envelope.
    fn from_block(block: &[u8]) -> Self {
        let mut m = MimeFields::default();
        let mut seen_type = false;
        for f in header_fields_iter(block) {
            let name = f.name;
            let is = |n: &str| name.eq_ignore_ascii_case(n.as_bytes());
            if is("content-type") {
                if !seen_type {
                    seen_type = true;
                    m.content_type = params::parse_content_type(f.value);
                }
            } else if is("content-transfer-encoding") {
                m.encoding
                    .get_or_insert_with(|| params::parse_token_field(f.value));
            } else if is("content-id") {
                m.id.get_or_insert_with(|| unfold(f.value));
            } else if is("content-description") {
                m.description.get_or_insert_with(|| unfold(f.value));
            } else if is("content-md5") {
                m.md5.get_or_insert_with(|| unfold(f.value));
            } else if is("content-disposition") {
                if m.disposition.is_none() {
                    m.disposition = params::parse_disposition(f.value);
                }
            } else if is("content-language") {
                m.language
                    .get_or_insert_with(|| params::parse_language(f.value));
            } else if is("content-location") {
                m.location.get_or_insert_with(|| unfold(f.value));
            }
        }
        m
    }
}

/// Whether `line` (without its `\n`) is a delimiter for `boundary`:
/// `Some(false)` for `--boundary`, `Some(true)` for the close delimiter
/// `--boundary--`, each followed by nothing but linear whitespace.
fn delimiter(line: &[u8], boundary: &[u8]) -> Option<bool> {
    let rest = line.strip_prefix(b"--")?.strip_prefix(boundary)?;
    let (close, rest) = match rest.strip_prefix(b"--") {
        Some(r) => (true, r),
        None => (false, rest),
    };
    rest.iter()
        .all(|&b| matches!(b, b' ' | b'\t' | b'\r'))
        .then_some(close)
}

fn count_lines(body: &[u8]) -> u32 {
    let n = body.iter().filter(|&&b| b == b'\n').count();
    let partial = usize::from(body.last().is_some_and(|&b| b != b'\n'));
    off(n.saturating_add(partial))
}

fn transfer_encoding_is_identity(enc: &[u8]) -> bool {
    ["7bit", "8bit", "binary"]
        .iter()
        .any(|e| enc.eq_ignore_ascii_case(e.as_bytes()))
}

struct Splitter<'a> {
    raw: &'a [u8],
    parts_left: usize,
    /// A limit stopped the parse somewhere.
    limited: bool,
}

impl Splitter<'_> {
    fn part(&mut self, start: usize, end: usize, default: Default, depth: u32) -> Part {
        let raw = self.raw;
        let end = end.min(raw.len());
        let start = start.min(end);
        let body_start = find_body_start(raw, start, end);
        let f = MimeFields::from_block(raw.get(start..body_start).unwrap_or_default());

        let (content_type, content_subtype, mut params) = match f.content_type {
            Some(ct) => ct,
            None => match default {
                Default::TextPlain => (b"text".to_vec(), b"plain".to_vec(), Vec::new()),
                Default::MessageRfc822 => (b"message".to_vec(), b"rfc822".to_vec(), Vec::new()),
            },
        };
        let is_text = content_type.eq_ignore_ascii_case(b"text");
        if is_text
            && !params
                .iter()
                .any(|(k, _)| k.eq_ignore_ascii_case(b"charset"))
        {
            params.push((b"charset".to_vec(), b"us-ascii".to_vec()));
        }
        let encoding = f
            .encoding
            .filter(|e| !e.is_empty())
            .unwrap_or_else(|| b"7bit".to_vec());

        let is_multipart = content_type.eq_ignore_ascii_case(b"multipart");
        let is_message = content_type.eq_ignore_ascii_case(b"message")
            && (content_subtype.eq_ignore_ascii_case(b"rfc822")
                || content_subtype.eq_ignore_ascii_case(b"global"));
        let can_nest = depth < MAX_DEPTH;
        if !can_nest && (is_multipart || is_message) {
            self.limited = true;
        }

        let kind = if is_multipart && can_nest {
            let boundary = params
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(b"boundary"))
                .map(|(_, v)| v.clone())
                .filter(|b| !b.is_empty());
            let child_default = if content_subtype.eq_ignore_ascii_case(b"digest") {
                Default::MessageRfc822
            } else {
                Default::TextPlain
            };
            let ranges = match &boundary {
                Some(b) => self.split(body_start, end, b),
                None => Vec::new(),
            };
            let children: Vec<Part> = if ranges.is_empty() {
                // IMAP needs at least one body in a multipart; Dovecot
                // reports an empty text/plain, so clients see the same.
                vec![empty_text_part(body_start)]
            } else {
                ranges
                    .into_iter()
                    .map(|(s, e)| self.part(s, e, child_default, depth + 1))
                    .collect()
            };
            PartKind::Multipart(children)
        } else if is_message && can_nest && transfer_encoding_is_identity(&encoding) {
            let inner = self.part(body_start, end, Default::TextPlain, depth + 1);
            let block = slice(raw, inner.header_start, inner.body_start);
            PartKind::Message {
                envelope: Box::new(envelope_from_header(block)),
                body: Box::new(inner),
            }
        } else {
            PartKind::Leaf
        };

        let lines = if is_text || is_message {
            count_lines(raw.get(body_start..end).unwrap_or_default())
        } else {
            0
        };

        Part {
            header_start: off(start),
            body_start: off(body_start),
            end: off(end),
            content_type,
            content_subtype,
            params,
            id: f.id,
            description: f.description,
            encoding,
            md5: f.md5,
            disposition: f.disposition,
            language: f.language.unwrap_or_default(),
            location: f.location,
            lines,
            kind,
        }
    }

    /// The `(start, end)` ranges of the parts of a multipart body. The line
    /// break before a delimiter belongs to the delimiter; preamble and
    /// epilogue are not parts; without a close delimiter the last part runs
    /// to the end of the body.
    fn split(&mut self, body_start: usize, end: usize, boundary: &[u8]) -> Vec<(usize, usize)> {
        let raw = self.raw;
        let mut ranges = Vec::new();
        let mut current: Option<usize> = None;
        let mut pos = body_start;
        while pos < end {
            let (eol, next) = line_at(raw, pos, end);
            if let Some(close) = raw.get(pos..eol).and_then(|l| delimiter(l, boundary)) {
                let mut before = pos;
                if pos > body_start {
                    before -= 1;
                    if before > body_start && raw.get(before - 1) == Some(&b'\r') {
                        before -= 1;
                    }
                }
                if let Some(s) = current.take() {
                    ranges.push((s, before.max(s)));
                }
                if self.parts_left == 0 {
                    self.limited = true;
                    return ranges;
                }
                if close {
                    return ranges;
                }
                current = Some(next);
                self.parts_left -= 1;
                if self.parts_left == 0 {
                    self.limited = true;
                    break;
                }
            }
            pos = next;
        }
        if let Some(s) = current {
            ranges.push((s, end));
        }
        ranges
    }
}

fn empty_text_part(at: usize) -> Part {
    Part {
        header_start: off(at),
        body_start: off(at),
        end: off(at),
        content_type: b"text".to_vec(),
        content_subtype: b"plain".to_vec(),
        params: vec![(b"charset".to_vec(), b"us-ascii".to_vec())],
        id: None,
        description: None,
        encoding: b"7bit".to_vec(),
        md5: None,
        disposition: None,
        language: Vec::new(),
        location: None,
        lines: 0,
        kind: PartKind::Leaf,
    }
}

/// The ENVELOPE of a header block. The first occurrence of each field is
/// used. Sender and Reply-To fall back to From when absent or empty, which
/// RFC 3501 7.4.2 puts on the server.
pub(crate) fn envelope_from_header(block: &[u8]) -> Envelope {
    let mut env = Envelope::default();
    let mut seen = [false; 10];
    for f in header_fields_iter(block) {
        const NAMES: [&str; 10] = [
            "date",
            "subject",
            "from",
            "sender",
            "reply-to",
            "to",
            "cc",
            "bcc",
            "in-reply-to",
            "message-id",
        ];
        let Some(i) = NAMES
            .iter()
            .position(|n| f.name.eq_ignore_ascii_case(n.as_bytes()))
        else {
            continue;
        };
        if std::mem::replace(&mut seen[i], true) {
            continue;
        }
        match i {
            0 => env.date = Some(unfold(f.value)),
            1 => env.subject = Some(unfold(f.value)),
            2 => env.from = parse_address_list(f.value),
            3 => env.sender = parse_address_list(f.value),
            4 => env.reply_to = parse_address_list(f.value),
            5 => env.to = parse_address_list(f.value),
            6 => env.cc = parse_address_list(f.value),
            7 => env.bcc = parse_address_list(f.value),
            8 => env.in_reply_to = Some(unfold(f.value)),
            _ => env.message_id = Some(unfold(f.value)),
        }
    }
    if env.sender.is_empty() {
        env.sender = env.from.clone();
    }
    if env.reply_to.is_empty() {
        env.reply_to = env.from.clone();
    }
    env
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(raw: &[u8]) -> Part {
        parse_message(raw)
    }

    fn body<'a>(raw: &'a [u8], part: &Part) -> &'a [u8] {
        slice(raw, part.body_start, part.end)
    }

    fn children(part: &Part) -> &[Part] {
        match &part.kind {
            PartKind::Multipart(c) => c,
            _ => panic!("not multipart: {part:?}"),
        }
    }

    #[test]
    fn single_part_defaults() {
        let raw = b"Subject: x\r\n\r\nhello\r\nworld";
        let r = p(raw);
        assert_eq!((r.header_start, r.body_start, r.end), (0, 14, 26));
        assert_eq!(r.content_type, b"text");
        assert_eq!(r.content_subtype, b"plain");
        assert_eq!(r.params, vec![(b"charset".to_vec(), b"us-ascii".to_vec())]);
        assert_eq!(r.encoding, b"7bit");
        assert_eq!(r.lines, 2);
        assert_eq!(r.kind, PartKind::Leaf);
    }

    #[test]
    fn no_blank_line_is_all_header() {
        let raw = b"Subject: x\r\nFrom: a@b\r\n";
        let r = p(raw);
        assert_eq!((r.body_start, r.end), (23, 23));
        assert_eq!(r.lines, 0);
    }

    #[test]
    fn multipart_offsets_crlf() {
        let raw: &[u8] = b"Content-Type: multipart/mixed; boundary=zz\r\n\r\npre\r\n--zz\r\nContent-Type: text/plain\r\n\r\none\r\n--zz\r\n\r\ntwo --zz mid\r\n--zz--\r\nepi\r\n";
        let r = p(raw);
        let c = children(&r);
        assert_eq!(c.len(), 2);
        assert_eq!(body(raw, &c[0]), b"one");
        assert_eq!(
            slice(raw, c[0].header_start, c[0].body_start),
            b"Content-Type: text/plain\r\n\r\n"
        );
        assert_eq!(body(raw, &c[1]), b"two --zz mid");
        assert_eq!(slice(raw, c[1].header_start, c[1].body_start), b"\r\n");
        assert_eq!(c[0].lines, 1);
    }

    #[test]
    fn boundary_mid_line_is_text() {
        // mail-parser 0.11 splits here; RFC 2046 says delimiters start lines.
        let raw: &[u8] = b"Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\n\r\nsee --b here and x--b\r\n --b\r\n--b\r\n\r\nsecond\r\n--b--\r\n";
        let r = p(raw);
        let c = children(&r);
        assert_eq!(c.len(), 2);
        assert_eq!(body(raw, &c[0]), b"see --b here and x--b\r\n --b");
        assert_eq!(body(raw, &c[1]), b"second");
    }

    #[test]
    fn delimiter_must_be_followed_by_whitespace_only() {
        let raw: &[u8] = b"Content-Type: multipart/mixed; boundary=b\n\n--b \t\n\none\n--bx\n--b--junk\n--b\n\ntwo\n--b-- \n";
        let r = p(raw);
        let c = children(&r);
        assert_eq!(c.len(), 2);
        assert_eq!(body(raw, &c[0]), b"one\n--bx\n--b--junk");
        assert_eq!(body(raw, &c[1]), b"two");
    }

    #[test]
    fn bare_lf_offsets() {
        let raw: &[u8] = b"Content-Type: multipart/alternative; boundary=b\n\n--b\nContent-Type: text/plain\n\nline1\nline2\n--b\nContent-Type: text/html\n\n<p>x</p>\n--b--\n";
        let r = p(raw);
        let c = children(&r);
        assert_eq!(body(raw, &c[0]), b"line1\nline2");
        assert_eq!(
            slice(raw, c[0].header_start, c[0].body_start),
            b"Content-Type: text/plain\n\n"
        );
        assert_eq!(body(raw, &c[1]), b"<p>x</p>");
        assert_eq!(c[0].lines, 2);
    }

    #[test]
    fn missing_close_delimiter_runs_to_end() {
        let raw: &[u8] =
            b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\nA\r\n--b\r\n\r\nlast\r\n";
        let r = p(raw);
        let c = children(&r);
        assert_eq!(body(raw, &c[1]), b"last\r\n");
        assert_eq!(c[1].end as usize, raw.len());
    }

    #[test]
    fn delimiter_at_body_start_and_adjacent_delimiters() {
        let raw: &[u8] =
            b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n--b\r\nX: y\r\n--b--";
        let r = p(raw);
        let c = children(&r);
        assert_eq!(c.len(), 2);
        assert_eq!((c[0].header_start, c[0].body_start, c[0].end), (50, 50, 50));
        // A part with a header and no blank line: all header.
        assert_eq!(slice(raw, c[1].header_start, c[1].end), b"X: y");
        assert_eq!(c[1].body_start, c[1].end);
    }

    #[test]
    fn delimiter_without_line_break_at_end() {
        let raw: &[u8] = b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b";
        let r = p(raw);
        let c = children(&r);
        assert_eq!(c.len(), 1);
        assert_eq!(
            (c[0].header_start as usize, c[0].end as usize),
            (raw.len(), raw.len())
        );
    }

    #[test]
    fn multipart_without_parts_gets_empty_text_child() {
        for raw in [
            &b"Content-Type: multipart/mixed; boundary=zz\r\n\r\nhello\r\n"[..],
            &b"Content-Type: multipart/mixed\r\n\r\nhello\r\n"[..],
            &b"Content-Type: multipart/mixed; boundary=\"\"\r\n\r\n--\r\nhello\r\n"[..],
            // Only a close delimiter: no part was ever opened.
            &b"Content-Type: multipart/mixed; boundary=zz\r\n\r\n--zz--\r\n"[..],
        ] {
            let r = p(raw);
            let c = children(&r);
            assert_eq!(c.len(), 1);
            assert!(c[0].is_type("text", "plain"));
            assert_eq!(c[0].body_size(), 0);
        }
    }

    #[test]
    fn nested_multipart_and_message() {
        let raw: &[u8] = b"Content-Type: multipart/mixed; boundary=zz\r\n\r\n--zz\r\nContent-Type: message/rfc822\r\n\r\nSubject: inner\r\nContent-Type: multipart/alternative; boundary=yy\r\n\r\n--yy\r\n\r\nA\r\n--yy\r\nContent-Type: text/html\r\n\r\n<b>B</b>\r\n--yy--\r\n--zz\r\nContent-Type: message/global\r\n\r\nSubject: g\r\n\r\nG\r\n--zz--\r\n";
        let r = p(raw);
        let c = children(&r);
        let PartKind::Message {
            envelope,
            body: inner,
        } = &c[0].kind
        else {
            panic!("not a message")
        };
        assert_eq!(envelope.subject.as_deref(), Some(&b"inner"[..]));
        assert_eq!(inner.header_start, c[0].body_start);
        assert_eq!(inner.end, c[0].end);
        let ic = children(inner);
        assert_eq!(body(raw, &ic[0]), b"A");
        assert_eq!(body(raw, &ic[1]), b"<b>B</b>");
        assert!(matches!(c[1].kind, PartKind::Message { .. }));
        assert_eq!(c[0].lines, 11);
    }

    #[test]
    fn encoded_message_rfc822_is_a_leaf() {
        let raw: &[u8] = b"Content-Type: message/rfc822\r\nContent-Transfer-Encoding: base64\r\n\r\nU3ViamVjdDogeA0KDQp5\r\n";
        assert_eq!(p(raw).kind, PartKind::Leaf);
    }

    #[test]
    fn digest_children_default_to_message() {
        let raw: &[u8] = b"Content-Type: multipart/digest; boundary=d\r\n\r\n--d\r\n\r\nSubject: dig\r\n\r\nbody\r\n--d\r\nContent-Type: text/plain\r\n\r\nt\r\n--d--\r\n";
        let r = p(raw);
        let c = children(&r);
        assert!(c[0].is_type("message", "rfc822"));
        assert!(c[0].params.is_empty());
        assert!(matches!(c[0].kind, PartKind::Message { .. }));
        assert!(c[1].is_type("text", "plain"));
    }

    #[test]
    fn invalid_content_type_means_default() {
        let r = p(b"Content-Type: text\r\n\r\nx");
        assert!(r.is_type("text", "plain"));
        assert_eq!(r.params, vec![(b"charset".to_vec(), b"us-ascii".to_vec())]);
    }

    #[test]
    fn depth_limit() {
        let mut raw = Vec::new();
        for _ in 0..100 {
            raw.extend_from_slice(b"Content-Type: message/rfc822\r\n\r\n");
        }
        raw.extend_from_slice(b"Subject: deep\r\n\r\nbody\r\n");
        let r = p(&raw);
        let mut depth = 0;
        let mut cur = &r;
        while let PartKind::Message { body, .. } = &cur.kind {
            depth += 1;
            cur = body;
        }
        assert_eq!(depth, MAX_DEPTH);
    }

    #[test]
    fn part_count_limit() {
        let mut raw = b"Content-Type: multipart/mixed; boundary=b\r\n\r\n".to_vec();
        for _ in 0..MAX_PARTS + 50 {
            raw.extend_from_slice(b"--b\r\n\r\nx\r\n");
        }
        raw.extend_from_slice(b"--b--\r\n");
        let r = p(&raw);
        let c = children(&r);
        assert_eq!(c.len(), MAX_PARTS);
        assert_eq!(c[MAX_PARTS - 1].end as usize, raw.len());
    }

    #[test]
    fn mime_fields() {
        let raw: &[u8] = b"Content-Type: application/pdf; name=a.pdf\r\nContent-ID: <id@x>\r\nContent-Description: =?utf-8?q?d?=\r\nContent-Transfer-Encoding: BASE64 (x)\r\nContent-MD5: abc==\r\nContent-Disposition: attachment; filename=a.pdf\r\nContent-Language: en, de\r\nContent-Location: http://x/\r\n y\r\n\r\nAAAA";
        let r = p(raw);
        assert_eq!(r.id.as_deref(), Some(&b"<id@x>"[..]));
        assert_eq!(r.description.as_deref(), Some(&b"=?utf-8?q?d?="[..]));
        assert_eq!(r.encoding, b"BASE64");
        assert_eq!(r.md5.as_deref(), Some(&b"abc=="[..]));
        assert_eq!(
            r.disposition.as_ref().map(|d| d.0.as_slice()),
            Some(&b"attachment"[..])
        );
        assert_eq!(r.language, vec![b"en".to_vec(), b"de".to_vec()]);
        assert_eq!(r.location.as_deref(), Some(&b"http://x/ y"[..]));
        assert_eq!(r.lines, 0);
    }
}
