//! The parsed form of every command the server understands.

use crate::framer::Literal;
use crate::sequence::SequenceSet;

#[derive(Debug)]
pub struct Command {
    pub tag: String,
    pub body: CommandBody,
}

/// A mailbox name as the client sent it, decoded to UTF-8 (from modified
/// UTF-7 unless the client enabled UTF8=ACCEPT).
pub type MailboxName = String;

#[derive(Debug)]
pub enum CommandBody {
    // Any state.
    Capability,
    Noop,
    Logout,
    Id(Option<Vec<(String, Option<String>)>>),
    // Not authenticated.
    StartTls,
    Login {
        username: Vec<u8>,
        password: Vec<u8>,
    },
    Authenticate {
        mechanism: String,
        /// SASL-IR initial response, still base64; `Some(empty)` for `=`.
        initial: Option<Vec<u8>>,
    },
    // Authenticated.
    Enable(Vec<String>),
    Select {
        mailbox: RawMailbox,
        read_only: bool,
        /// The `CONDSTORE` parameter (RFC 7162 §3.1.8).
        condstore: bool,
        /// The `QRESYNC (…)` parameter (RFC 7162 §3.2.5).
        qresync: Option<Qresync>,
    },
    Create {
        mailbox: RawMailbox,
        special_use: Vec<String>,
    },
    Delete(RawMailbox),
    Rename {
        from: RawMailbox,
        to: RawMailbox,
    },
    Subscribe(RawMailbox),
    Unsubscribe(RawMailbox),
    List {
        reference: RawMailbox,
        patterns: Vec<RawMailbox>,
        /// LIST-EXTENDED selection options (SUBSCRIBED, RECURSIVEMATCH, SPECIAL-USE).
        selection: Vec<String>,
        /// LIST-EXTENDED return options (SUBSCRIBED, CHILDREN, SPECIAL-USE, STATUS).
        return_opts: ListReturn,
        lsub: bool,
    },
    Namespace,
    Status {
        mailbox: RawMailbox,
        items: Vec<StatusItem>,
    },
    Append {
        mailbox: RawMailbox,
        flags: Vec<Flag>,
        date: Option<chrono::DateTime<chrono::FixedOffset>>,
        message: Literal,
    },
    Idle,
    // Selected.
    Check,
    Close,
    Unselect,
    Expunge {
        uids: Option<SequenceSet>,
    },
    Search {
        uid: bool,
        charset: Option<String>,
        criteria: SearchKey,
        /// `RETURN (...)` options (ESEARCH); `None` for a plain SEARCH.
        ret: Option<Vec<SearchReturn>>,
    },
    Fetch {
        uid: bool,
        set: SequenceSet,
        items: Vec<FetchAttr>,
        /// `CHANGEDSINCE n` (RFC 7162 §3.1.4.1).
        changed_since: Option<u64>,
        /// `VANISHED` (RFC 7162 §3.2.6).
        vanished: bool,
    },
    Store {
        uid: bool,
        set: SequenceSet,
        mode: StoreMode,
        silent: bool,
        flags: Vec<Flag>,
        /// `UNCHANGEDSINCE n` (RFC 7162 §3.1.3).
        unchanged_since: Option<u64>,
    },
    Copy {
        uid: bool,
        set: SequenceSet,
        mailbox: RawMailbox,
        is_move: bool,
    },
}

/// What a QRESYNC client knows of a mailbox (RFC 7162 §3.2.5): its
/// UIDVALIDITY and the HIGHESTMODSEQ it saw, and optionally the UIDs it
/// holds and pairs of sequence numbers and UIDs that narrow the answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Qresync {
    pub uid_validity: u32,
    pub modseq: u64,
    pub known_uids: Option<SequenceSet>,
    pub seq_match: Option<(SequenceSet, SequenceSet)>,
}

/// A mailbox name exactly as it was on the wire: the session decodes it,
/// because only the session knows whether UTF8=ACCEPT is enabled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawMailbox(pub Vec<u8>);

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListReturn {
    pub subscribed: bool,
    pub children: bool,
    pub special_use: bool,
    pub status: Option<Vec<StatusItem>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusItem {
    Messages,
    Recent,
    UidNext,
    UidValidity,
    Unseen,
    Deleted,
    Size,
    HighestModseq,
    AppendLimit,
}

impl StatusItem {
    pub fn name(self) -> &'static str {
        match self {
            StatusItem::Messages => "MESSAGES",
            StatusItem::Recent => "RECENT",
            StatusItem::UidNext => "UIDNEXT",
            StatusItem::UidValidity => "UIDVALIDITY",
            StatusItem::Unseen => "UNSEEN",
            StatusItem::Deleted => "DELETED",
            StatusItem::Size => "SIZE",
            StatusItem::HighestModseq => "HIGHESTMODSEQ",
            StatusItem::AppendLimit => "APPENDLIMIT",
        }
    }
}

/// A flag as written by the client; system flags keep their backslash.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Flag(pub String);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreMode {
    Replace,
    Add,
    Remove,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchAttr {
    Envelope,
    Flags,
    InternalDate,
    Rfc822Size,
    Rfc822,
    Rfc822Header,
    Rfc822Text,
    Uid,
    Body,
    BodyStructure,
    /// RFC 7162 §3.1.4.2.
    ModSeq,
    BodySection {
        peek: bool,
        section: Section,
        partial: Option<(u32, u32)>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Section {
    /// Part numbers, e.g. `[2, 1]` for `2.1`; empty for the whole message.
    pub part: Vec<u32>,
    pub text: Option<SectionText>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SectionText {
    Header,
    HeaderFields { not: bool, fields: Vec<String> },
    Text,
    Mime,
}

impl Section {
    /// The section as it is echoed back in a FETCH response.
    pub fn to_wire(&self) -> String {
        let mut s = self
            .part
            .iter()
            .map(|n| n.to_string())
            .collect::<Vec<_>>()
            .join(".");
        if let Some(text) = &self.text {
            if !s.is_empty() {
                s.push('.');
            }
            match text {
                SectionText::Header => s.push_str("HEADER"),
                SectionText::Text => s.push_str("TEXT"),
                SectionText::Mime => s.push_str("MIME"),
                SectionText::HeaderFields { not, fields } => {
                    s.push_str(if *not {
                        "HEADER.FIELDS.NOT ("
                    } else {
                        "HEADER.FIELDS ("
                    });
                    s.push_str(&fields.join(" "));
                    s.push(')');
                }
            }
        }
        s
    }
}

/// A command modifier or parameter in RFC 4466's generic syntax (§2.1):
/// its name, upper-cased, and its value (see `parser/modifier.rs`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Modifier {
    pub name: String,
    pub value: Option<ExtValue>,
}

/// `tagged-ext-val` (RFC 4466 §2.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExtValue {
    /// A sequence set or a number, as written.
    Simple(String),
    List(Vec<ExtItem>),
}

/// `tagged-ext-comp` (RFC 4466 §2.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExtItem {
    Astring(Vec<u8>),
    List(Vec<ExtItem>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SearchReturn {
    Min,
    Max,
    All,
    Count,
}

/// A calendar date as used by SEARCH (no time, no zone).
pub type Date = chrono::NaiveDate;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SearchKey {
    All,
    And(Vec<SearchKey>),
    Or(Box<SearchKey>, Box<SearchKey>),
    Not(Box<SearchKey>),
    SequenceSet(SequenceSet),
    Uid(SequenceSet),
    Flag {
        flag: Flag,
        set: bool,
    },
    /// \Recent as a search key; `NEW` is `Recent and not Seen`.
    Recent(bool),
    Header(String, String),
    Body(String),
    Text(String),
    Before(Date),
    On(Date),
    Since(Date),
    SentBefore(Date),
    SentOn(Date),
    SentSince(Date),
    Larger(u32),
    Smaller(u32),
    /// `MODSEQ [entry-name entry-type] n` (RFC 7162 §3.1.5): the message's
    /// mod-sequence is at least `n`. One mod-sequence is kept per message,
    /// so the entry name narrows nothing (§3.1.5 allows that).
    ModSeq(u64),
}
