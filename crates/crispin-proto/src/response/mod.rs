//! Responses as typed values, and their one encoder: everything the server
//! sends is built here from a [`Status`] (with its [`Code`]), a [`Data`]
//! response, a continuation request, or (streamed, item by item) a
//! [`FetchWriter`]. Quoting, literals and modified UTF-7 are decided here
//! and nowhere else.

mod fetch;

pub use fetch::{FetchWriter, Item as FetchItem, section_label};

use crate::command::StatusItem;
use crate::mutf7;
use crate::sequence::compact_set;
use std::borrow::Cow;
use std::io::Write as _;

/// The condition of a status response (RFC 3501 §7.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Condition {
    Ok,
    No,
    Bad,
    /// Untagged only: the server is closing the connection.
    Bye,
}

/// A response code, the bracketed part of a status response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Code {
    // RFC 3501 §7.1.
    Capability(Vec<String>),
    /// The flags a client may set; `new_keywords` adds `\*` (it may
    /// create keywords).
    PermanentFlags {
        flags: Vec<String>,
        new_keywords: bool,
    },
    ReadOnly,
    ReadWrite,
    TryCreate,
    UidNext(u32),
    UidValidity(u32),
    Unseen(u32),
    BadCharset(&'static [&'static str]),
    // RFC 4315 (UIDPLUS). The UID lists are in matching order.
    AppendUid {
        uid_validity: u32,
        uid: u32,
    },
    CopyUid {
        uid_validity: u32,
        source: Vec<u32>,
        dest: Vec<u32>,
    },
    // RFC 5530.
    Unavailable,
    AuthenticationFailed,
    PrivacyRequired,
    Limit,
    OverQuota,
    AlreadyExists,
    Nonexistent,
    Cannot,
    InUse,
    ServerBug,
    /// Another session expunged messages this command named (RFC 5530
    /// §3, RFC 9051 §7.1).
    ExpungeIssued,
    // RFC 4469 §5.
    TooBig,
    // RFC 6154 §3.
    UseAttr,
    // RFC 7162 §3.1.2.1 and §3.1.3.
    HighestModSeq(u64),
    /// The messages (sequence numbers, or UIDs after UID STORE) that
    /// failed a STORE's UNCHANGEDSINCE test.
    Modified(Vec<u32>),
    /// RFC 7162 §3.2.11: the selected mailbox was closed by a SELECT.
    Closed,
}

/// A status response: a command's tagged result, or an untagged OK, NO,
/// BAD or BYE. Owned, so that an answer can be prepared in a task of its
/// own (pipelined APPENDs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    pub condition: Condition,
    pub code: Option<Code>,
    pub text: Cow<'static, str>,
}

impl Status {
    fn new(condition: Condition, text: impl Into<Cow<'static, str>>) -> Status {
        Status {
            condition,
            code: None,
            text: text.into(),
        }
    }
    pub fn ok(text: impl Into<Cow<'static, str>>) -> Status {
        Status::new(Condition::Ok, text)
    }
    pub fn no(text: impl Into<Cow<'static, str>>) -> Status {
        Status::new(Condition::No, text)
    }
    pub fn bad(text: impl Into<Cow<'static, str>>) -> Status {
        Status::new(Condition::Bad, text)
    }
    pub fn bye(text: impl Into<Cow<'static, str>>) -> Status {
        Status::new(Condition::Bye, text)
    }
    pub fn with(mut self, code: Code) -> Status {
        self.code = Some(code);
        self
    }

    /// `tag OK …`, or `* OK …` without a tag.
    pub fn encode(&self, out: &mut Vec<u8>, tag: Option<&str>) {
        out.extend_from_slice(tag.unwrap_or("*").as_bytes());
        out.extend_from_slice(match self.condition {
            Condition::Ok => b" OK ",
            Condition::No => b" NO ",
            Condition::Bad => b" BAD ",
            Condition::Bye => b" BYE ",
        });
        if let Some(code) = &self.code {
            out.push(b'[');
            code.encode(out);
            out.extend_from_slice(b"] ");
        }
        out.extend_from_slice(self.text.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
}

impl Code {
    fn encode(&self, out: &mut Vec<u8>) {
        let word: &str = match self {
            Code::Capability(caps) => {
                out.extend_from_slice(b"CAPABILITY");
                for c in caps {
                    out.push(b' ');
                    out.extend_from_slice(c.as_bytes());
                }
                return;
            }
            Code::PermanentFlags {
                flags,
                new_keywords,
            } => {
                out.extend_from_slice(b"PERMANENTFLAGS ");
                write_flag_list(out, flags.iter().map(String::as_str), *new_keywords);
                return;
            }
            Code::UidNext(n) => return write_word_number(out, "UIDNEXT", *n),
            Code::HighestModSeq(n) => {
                let _ = write!(out, "HIGHESTMODSEQ {n}");
                return;
            }
            Code::Modified(set) => {
                let _ = write!(out, "MODIFIED {}", compact_set(set));
                return;
            }
            Code::UidValidity(n) => return write_word_number(out, "UIDVALIDITY", *n),
            Code::Unseen(n) => return write_word_number(out, "UNSEEN", *n),
            Code::BadCharset(charsets) => {
                out.extend_from_slice(b"BADCHARSET (");
                out.extend_from_slice(charsets.join(" ").as_bytes());
                out.push(b')');
                return;
            }
            Code::AppendUid { uid_validity, uid } => {
                let _ = write!(out, "APPENDUID {uid_validity} {uid}");
                return;
            }
            Code::CopyUid {
                uid_validity,
                source,
                dest,
            } => {
                let _ = write!(
                    out,
                    "COPYUID {uid_validity} {} {}",
                    compact_set(source),
                    compact_set(dest)
                );
                return;
            }
            Code::ReadOnly => "READ-ONLY",
            Code::ReadWrite => "READ-WRITE",
            Code::TryCreate => "TRYCREATE",
            Code::Unavailable => "UNAVAILABLE",
            Code::AuthenticationFailed => "AUTHENTICATIONFAILED",
            Code::PrivacyRequired => "PRIVACYREQUIRED",
            Code::Limit => "LIMIT",
            Code::OverQuota => "OVERQUOTA",
            Code::AlreadyExists => "ALREADYEXISTS",
            Code::Nonexistent => "NONEXISTENT",
            Code::Cannot => "CANNOT",
            Code::InUse => "INUSE",
            Code::ServerBug => "SERVERBUG",
            Code::ExpungeIssued => "EXPUNGEISSUED",
            Code::TooBig => "TOOBIG",
            Code::UseAttr => "USEATTR",
            Code::Closed => "CLOSED",
        };
        out.extend_from_slice(word.as_bytes());
    }
}

/// A mailbox name on its way to the client: UTF-8 here, sent as modified
/// UTF-7 (RFC 3501 §5.1.3) unless the client enabled UTF8=ACCEPT (RFC 6855
/// §3), which also lets 8-bit text into quoted strings.
#[derive(Debug, Clone, Copy)]
pub struct MailboxName<'a> {
    pub name: &'a str,
    pub utf8: bool,
}

impl MailboxName<'_> {
    fn encode(&self, out: &mut Vec<u8>) {
        if self.utf8 {
            write_astring(out, self.name.as_bytes(), true);
        } else {
            write_astring(out, mutf7::encode(self.name).as_bytes(), false);
        }
    }
}

/// One result of an ESEARCH response (RFC 4731 §3.1).
#[derive(Debug, Clone, Copy)]
pub enum SearchResult<'a> {
    Min(u32),
    Max(u32),
    /// The matches, as a compact set in this order.
    All(&'a [u32]),
    Count(u32),
    /// The highest mod-sequence of the matches (RFC 7162 §3.1.10).
    ModSeq(u64),
}

/// The untagged data responses, other than FETCH (see [`FetchWriter`]).
#[derive(Debug, Clone, Copy)]
pub enum Data<'a> {
    Capability(&'a [String]),
    /// RFC 5161 §3.2.
    Enabled(&'a [String]),
    /// RFC 2971 §3.2: the server's field-value pairs.
    Id(&'a [(&'a str, &'a str)]),
    /// RFC 2342 §5: personal, other users' and shared namespaces, each a
    /// list of (prefix, delimiter).
    Namespace {
        personal: &'a [(&'a str, char)],
        other: &'a [(&'a str, char)],
        shared: &'a [(&'a str, char)],
    },
    List {
        lsub: bool,
        attributes: &'a [&'a str],
        delimiter: char,
        mailbox: MailboxName<'a>,
    },
    Status {
        mailbox: MailboxName<'a>,
        items: &'a [(StatusItem, u64)],
    },
    /// RFC 3501 §7.2.5; `modseq` is RFC 7162 §3.1.6's highest
    /// mod-sequence of the matches, for a SEARCH that used MODSEQ.
    Search {
        nums: &'a [u32],
        modseq: Option<u64>,
    },
    /// RFC 4731 §3.1.
    ESearch {
        tag: &'a str,
        uid: bool,
        results: &'a [SearchResult<'a>],
    },
    Flags(&'a [&'a str]),
    /// RFC 7162 §3.2.10: expunged UIDs (ascending), instead of EXPUNGE
    /// once QRESYNC is on; `earlier` for those expunged before now.
    Vanished {
        earlier: bool,
        uids: &'a [u32],
    },
    Exists(u32),
    Recent(u32),
    Expunge(u32),
}

impl Data<'_> {
    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Data::Capability(caps) => {
                out.extend_from_slice(b"* CAPABILITY");
                for c in *caps {
                    out.push(b' ');
                    out.extend_from_slice(c.as_bytes());
                }
            }
            Data::Enabled(caps) => {
                out.extend_from_slice(b"* ENABLED");
                for c in *caps {
                    out.push(b' ');
                    out.extend_from_slice(c.as_bytes());
                }
            }
            Data::Id(fields) => {
                out.extend_from_slice(b"* ID (");
                for (i, (k, v)) in fields.iter().enumerate() {
                    if i > 0 {
                        out.push(b' ');
                    }
                    write_string(out, k.as_bytes(), false);
                    out.push(b' ');
                    write_string(out, v.as_bytes(), false);
                }
                out.push(b')');
            }
            Data::Namespace {
                personal,
                other,
                shared,
            } => {
                out.extend_from_slice(b"* NAMESPACE");
                for group in [personal, other, shared] {
                    out.push(b' ');
                    if group.is_empty() {
                        out.extend_from_slice(b"NIL");
                        continue;
                    }
                    out.push(b'(');
                    for (prefix, delimiter) in group.iter() {
                        out.push(b'(');
                        write_string(out, prefix.as_bytes(), false);
                        out.push(b' ');
                        write_string(out, delimiter.to_string().as_bytes(), false);
                        out.push(b')');
                    }
                    out.push(b')');
                }
            }
            Data::List {
                lsub,
                attributes,
                delimiter,
                mailbox,
            } => {
                out.extend_from_slice(if *lsub { b"* LSUB (" } else { b"* LIST (" });
                out.extend_from_slice(attributes.join(" ").as_bytes());
                out.extend_from_slice(b") ");
                write_string(out, delimiter.to_string().as_bytes(), false);
                out.push(b' ');
                mailbox.encode(out);
            }
            Data::Status { mailbox, items } => {
                out.extend_from_slice(b"* STATUS ");
                mailbox.encode(out);
                out.extend_from_slice(b" (");
                for (i, (item, value)) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(b' ');
                    }
                    let _ = write!(out, "{} {value}", item.name());
                }
                out.push(b')');
            }
            Data::Search { nums, modseq } => {
                out.extend_from_slice(b"* SEARCH");
                for n in *nums {
                    let _ = write!(out, " {n}");
                }
                if let Some(m) = modseq {
                    let _ = write!(out, " (MODSEQ {m})");
                }
            }
            Data::ESearch { tag, uid, results } => {
                // Quoted whatever its length: a tag has no character
                // that needs a literal.
                out.extend_from_slice(b"* ESEARCH (TAG ");
                write_quoted(out, tag.as_bytes());
                out.push(b')');
                if *uid {
                    out.extend_from_slice(b" UID");
                }
                for result in *results {
                    let _ = match result {
                        SearchResult::Min(n) => write!(out, " MIN {n}"),
                        SearchResult::Max(n) => write!(out, " MAX {n}"),
                        SearchResult::All(nums) => write!(out, " ALL {}", compact_set(nums)),
                        SearchResult::Count(n) => write!(out, " COUNT {n}"),
                        SearchResult::ModSeq(n) => write!(out, " MODSEQ {n}"),
                    };
                }
            }
            Data::Flags(flags) => {
                out.extend_from_slice(b"* FLAGS ");
                write_flag_list(out, flags.iter().copied(), false);
            }
            Data::Vanished { earlier, uids } => {
                out.extend_from_slice(b"* VANISHED ");
                if *earlier {
                    out.extend_from_slice(b"(EARLIER) ");
                }
                out.extend_from_slice(compact_set(uids).as_bytes());
            }
            Data::Exists(n) => {
                let _ = write!(out, "* {n} EXISTS");
            }
            Data::Recent(n) => {
                let _ = write!(out, "* {n} RECENT");
            }
            Data::Expunge(seq) => {
                let _ = write!(out, "* {seq} EXPUNGE");
            }
        }
        out.extend_from_slice(b"\r\n");
    }
}

/// A continuation request: `+ text` (RFC 3501 §7.5), e.g. a SASL
/// challenge in base64.
pub fn write_continuation(out: &mut Vec<u8>, text: &[u8]) {
    out.extend_from_slice(b"+ ");
    out.extend_from_slice(text);
    out.extend_from_slice(b"\r\n");
}

fn write_word_number(out: &mut Vec<u8>, word: &str, n: u32) {
    let _ = write!(out, "{word} {n}");
}

/// A parenthesised flag list; `new_keywords` adds `\*`. Flags are atoms
/// (keywords were checked to be atoms when they came in).
pub(crate) fn write_flag_list<'f>(
    out: &mut Vec<u8>,
    flags: impl IntoIterator<Item = &'f str>,
    new_keywords: bool,
) {
    out.push(b'(');
    let mut first = true;
    for f in flags.into_iter().chain(new_keywords.then_some("\\*")) {
        if !first {
            out.push(b' ');
        }
        first = false;
        out.extend_from_slice(f.as_bytes());
    }
    out.push(b')');
}

/// Writes `s` as an IMAP string: quoted when that is possible, a literal
/// otherwise. 8-bit text is only quoted when `utf8` (UTF8=ACCEPT) allows it.
pub fn write_string(out: &mut Vec<u8>, s: &[u8], utf8: bool) {
    let quotable = s.len() < 1024
        && s.iter()
            .all(|&b| b != 0 && b != b'\r' && b != b'\n' && (utf8 || b < 0x80));
    if quotable {
        write_quoted(out, s);
    } else {
        write_literal_header(out, s.len() as u64);
        out.extend_from_slice(s);
    }
}

/// `s` in double quotes, with `"` and `\\` escaped; the caller knows it
/// has no CR, LF or NUL.
fn write_quoted(out: &mut Vec<u8>, s: &[u8]) {
    out.push(b'"');
    for &b in s {
        if b == b'"' || b == b'\\' {
            out.push(b'\\');
        }
        out.push(b);
    }
    out.push(b'"');
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

    fn status(s: &Status, tag: Option<&str>) -> String {
        let mut o = Vec::new();
        s.encode(&mut o, tag);
        String::from_utf8(o).unwrap()
    }

    fn data(d: Data) -> String {
        let mut o = Vec::new();
        d.encode(&mut o);
        String::from_utf8(o).unwrap()
    }

    #[test]
    fn statuses_and_codes() {
        assert_eq!(status(&Status::ok("Done"), Some("a1")), "a1 OK Done\r\n");
        assert_eq!(status(&Status::bye("Bye"), None), "* BYE Bye\r\n");
        let s = Status::no("No such mailbox").with(Code::TryCreate);
        assert_eq!(
            status(&s, Some("t")),
            "t NO [TRYCREATE] No such mailbox\r\n"
        );
        let s = Status::ok("Moved").with(Code::CopyUid {
            uid_validity: 7,
            source: vec![1, 2, 3, 9],
            dest: vec![4, 5, 6, 7],
        });
        assert_eq!(status(&s, None), "* OK [COPYUID 7 1:3,9 4:7] Moved\r\n");
        let flags = vec!["\\Seen".to_string(), "$Work".to_string()];
        let s = Status::ok("Flags permitted").with(Code::PermanentFlags {
            flags,
            new_keywords: true,
        });
        assert_eq!(
            status(&s, None),
            "* OK [PERMANENTFLAGS (\\Seen $Work \\*)] Flags permitted\r\n"
        );
        let s = Status::ok("Read-only mailbox").with(Code::PermanentFlags {
            flags: Vec::new(),
            new_keywords: false,
        });
        assert_eq!(
            status(&s, None),
            "* OK [PERMANENTFLAGS ()] Read-only mailbox\r\n"
        );
        let s = Status::no("Unsupported charset").with(Code::BadCharset(&["UTF-8", "US-ASCII"]));
        assert_eq!(
            status(&s, Some("t")),
            "t NO [BADCHARSET (UTF-8 US-ASCII)] Unsupported charset\r\n"
        );
        let caps = vec!["IMAP4rev1".to_string(), "IDLE".to_string()];
        let s = Status::ok("Logged in").with(Code::Capability(caps));
        assert_eq!(
            status(&s, Some("t")),
            "t OK [CAPABILITY IMAP4rev1 IDLE] Logged in\r\n"
        );
    }

    #[test]
    fn data_responses() {
        let name = |name| MailboxName { name, utf8: false };
        assert_eq!(
            data(Data::List {
                lsub: false,
                attributes: &["\\Noselect", "\\HasChildren"],
                delimiter: '/',
                mailbox: name("Entwürfe"),
            }),
            "* LIST (\\Noselect \\HasChildren) \"/\" Entw&APw-rfe\r\n"
        );
        assert_eq!(
            data(Data::List {
                lsub: true,
                attributes: &[],
                delimiter: '/',
                mailbox: name("a b"),
            }),
            "* LSUB () \"/\" \"a b\"\r\n"
        );
        assert_eq!(
            data(Data::Status {
                mailbox: name("INBOX"),
                items: &[(StatusItem::Messages, 3), (StatusItem::UidNext, 9)],
            }),
            "* STATUS INBOX (MESSAGES 3 UIDNEXT 9)\r\n"
        );
        assert_eq!(
            data(Data::ESearch {
                tag: "a1",
                uid: true,
                results: &[SearchResult::Min(2), SearchResult::All(&[2, 3, 5])],
            }),
            "* ESEARCH (TAG \"a1\") UID MIN 2 ALL 2:3,5\r\n"
        );
        let search = |nums, modseq| Data::Search { nums, modseq };
        assert_eq!(data(search(&[], None)), "* SEARCH\r\n");
        assert_eq!(data(search(&[1, 4], None)), "* SEARCH 1 4\r\n");
        // RFC 7162 §3.2.10's forms.
        assert_eq!(
            data(Data::Vanished {
                earlier: true,
                uids: &[41, 43, 44, 45, 60]
            }),
            "* VANISHED (EARLIER) 41,43:45,60\r\n"
        );
        assert_eq!(
            data(Data::Vanished {
                earlier: false,
                uids: &[405]
            }),
            "* VANISHED 405\r\n"
        );
        // RFC 7162 §3.1.6's example.
        assert_eq!(
            data(search(&[2, 5, 6], Some(917162500))),
            "* SEARCH 2 5 6 (MODSEQ 917162500)\r\n"
        );
        assert_eq!(
            data(Data::Namespace {
                personal: &[("", '/')],
                other: &[],
                shared: &[],
            }),
            "* NAMESPACE ((\"\" \"/\")) NIL NIL\r\n"
        );
        assert_eq!(
            data(Data::Id(&[("name", "Crispin"), ("version", "1")])),
            "* ID (\"name\" \"Crispin\" \"version\" \"1\")\r\n"
        );
        assert_eq!(
            data(Data::Flags(&["\\Seen", "$Work"])),
            "* FLAGS (\\Seen $Work)\r\n"
        );
        assert_eq!(data(Data::Enabled(&[])), "* ENABLED\r\n");
        assert_eq!(data(Data::Expunge(4)), "* 4 EXPUNGE\r\n");
        assert_eq!(data(Data::Exists(0)), "* 0 EXISTS\r\n");
        assert_eq!(data(Data::Recent(2)), "* 2 RECENT\r\n");
    }
}
