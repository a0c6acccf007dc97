//! What each command means to a session, declared once: one row per
//! command (and one per UID form), every column explicit.
//!
//! The parser finds a command's arguments' parser here by its name; the
//! session reads its state check, its reporting around the command and
//! its log name from here. [`CommandBody::spec`] maps every parsed command
//! back to its row with an exhaustive `match`, so a new command does not
//! compile without one. The rules come from RFC 3501 §6 and §7.4.1 and
//! RFC 9051 §6 and §7.5.1; the extensions' from their RFCs (cited per row
//! where they differ from the default of their family).
//!
//! Adding a command: its `CommandBody` variant (`command.rs`); its row
//! below and its arm in [`CommandBody::spec`]; its parser in its family's
//! file under `parser/`; its handler in crispin-imap's file for the
//! family, called from `session.rs`'s `dispatch` (the compiler asks for
//! both arms); a test file. An extension's capability also goes into
//! crispin-imap's list in `any.rs` (a test checks that every row's
//! capability is advertised).

use crate::command::CommandBody;
use crate::command::CommandBody as C;
use crate::parser::{PResult, Parser};

/// The session states a command is valid in (RFC 3501 §3). Authenticated-
/// state commands are valid in the selected state too (RFC 3501 §6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Allowed {
    Any,
    NotAuthenticated,
    Authenticated,
    Selected,
}

/// What the numbers in a command are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Numbers {
    /// It names no messages.
    None,
    /// Message sequence numbers: they must not shift under the client
    /// while the command runs.
    Sequence,
    /// UIDs (the `UID` form of a command, or UID EXPUNGE).
    Uid,
}

/// What the session reports before it runs the command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Before {
    Nothing,
    /// New messages, so that the UIDs the client names (which it may have
    /// learned elsewhere) have sequence numbers in the responses.
    AnnounceNew,
}

/// What the session may report about the selected mailbox once the
/// command is done, before its tagged response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum After {
    /// Nothing: the command replaces or ends the view (SELECT, EXAMINE,
    /// CLOSE, UNSELECT, LOGOUT).
    Nothing,
    /// The changes it was woken for, except EXPUNGE: no EXPUNGE while
    /// responding to FETCH, STORE or SEARCH by sequence number (RFC 3501
    /// §7.4.1, RFC 9051 §7.5.1). They wait for the next command that may
    /// report them.
    NoExpunge,
    /// The changes it was woken for, EXPUNGE included.
    News,
    /// Everything, asking the store even without a wake-up: the client
    /// polls with it (NOOP, CHECK, IDLE; RFC 3501 §6.1.2, §6.4.1) and
    /// changes made by other processes are found this way.
    Poll,
}

/// One command's row.
#[derive(Debug)]
pub struct CommandSpec {
    /// As in the RFCs and the logs; UID forms as `UID FETCH`.
    pub name: &'static str,
    pub allowed: Allowed,
    pub numbers: Numbers,
    pub before: Before,
    pub after: After,
    /// The capability that announces the command, `None` for IMAP4rev1's
    /// own.
    pub capability: Option<&'static str>,
    /// Reads the command's arguments, after its name (`parser/`).
    pub(crate) parse: fn(&mut Parser) -> PResult<CommandBody>,
}

macro_rules! commands {
    ($( $(#[$doc:meta])* $id:ident: $name:literal, $allowed:ident, $numbers:ident,
        $before:ident, $after:ident, $cap:expr, $parse:expr; )*) => {
        $(
            $(#[$doc])*
            pub static $id: CommandSpec = CommandSpec {
                name: $name,
                allowed: Allowed::$allowed,
                numbers: Numbers::$numbers,
                before: Before::$before,
                after: After::$after,
                capability: $cap,
                parse: $parse,
            };
        )*
        /// Every row.
        pub static ALL: &[&CommandSpec] = &[$(&$id),*];
    };
}

commands! {
    // const      name             allowed            numbers   before       after      capability         parser
    CAPABILITY:   "CAPABILITY",    Any,               None,     Nothing,     News,      None,              |_| Ok(C::Capability);
    NOOP:         "NOOP",          Any,               None,     Nothing,     Poll,      None,              |_| Ok(C::Noop);
    LOGOUT:       "LOGOUT",        Any,               None,     Nothing,     Nothing,   None,              |_| Ok(C::Logout);
    /// RFC 2971 allows ID in any state.
    ID:           "ID",            Any,               None,     Nothing,     News,      Some("ID"),        Parser::id;
    STARTTLS:     "STARTTLS",      NotAuthenticated,  None,     Nothing,     News,      Some("STARTTLS"),  |_| Ok(C::StartTls);
    LOGIN:        "LOGIN",         NotAuthenticated,  None,     Nothing,     News,      None,              Parser::login;
    AUTHENTICATE: "AUTHENTICATE",  NotAuthenticated,  None,     Nothing,     News,      None,              Parser::authenticate;
    ENABLE:       "ENABLE",        Authenticated,     None,     Nothing,     News,      Some("ENABLE"),    Parser::enable;
    SELECT:       "SELECT",        Authenticated,     None,     Nothing,     Nothing,   None,              |p| p.select(false);
    EXAMINE:      "EXAMINE",       Authenticated,     None,     Nothing,     Nothing,   None,              |p| p.select(true);
    CREATE:       "CREATE",        Authenticated,     None,     Nothing,     News,      None,              Parser::create;
    DELETE:       "DELETE",        Authenticated,     None,     Nothing,     News,      None,              Parser::delete;
    RENAME:       "RENAME",        Authenticated,     None,     Nothing,     News,      None,              Parser::rename;
    SUBSCRIBE:    "SUBSCRIBE",     Authenticated,     None,     Nothing,     News,      None,              |p| p.subscribe(true);
    UNSUBSCRIBE:  "UNSUBSCRIBE",   Authenticated,     None,     Nothing,     News,      None,              |p| p.subscribe(false);
    LIST:         "LIST",          Authenticated,     None,     Nothing,     News,      None,              Parser::list;
    LSUB:         "LSUB",          Authenticated,     None,     Nothing,     News,      None,              Parser::lsub;
    NAMESPACE:    "NAMESPACE",     Authenticated,     None,     Nothing,     News,      Some("NAMESPACE"), |_| Ok(C::Namespace);
    STATUS:       "STATUS",        Authenticated,     None,     Nothing,     News,      None,              Parser::status;
    APPEND:       "APPEND",        Authenticated,     None,     Nothing,     News,      None,              Parser::append;
    /// RFC 2177: IDLE in the authenticated state waits for DONE only.
    IDLE:         "IDLE",          Authenticated,     None,     Nothing,     Poll,      Some("IDLE"),      |_| Ok(C::Idle);
    CHECK:        "CHECK",         Selected,          None,     Nothing,     Poll,      None,              |_| Ok(C::Check);
    CLOSE:        "CLOSE",         Selected,          None,     Nothing,     Nothing,   None,              |_| Ok(C::Close);
    UNSELECT:     "UNSELECT",      Selected,          None,     Nothing,     Nothing,   Some("UNSELECT"),  |_| Ok(C::Unselect);
    EXPUNGE:      "EXPUNGE",       Selected,          None,     Nothing,     News,      None,              |_| Ok(C::Expunge { uids: None });
    /// RFC 4315 §2.1.
    UID_EXPUNGE:  "UID EXPUNGE",   Selected,          Uid,      AnnounceNew, News,      Some("UIDPLUS"),   Parser::uid_expunge;
    SEARCH:       "SEARCH",        Selected,          Sequence, Nothing,     NoExpunge, None,              |p| p.search(false);
    UID_SEARCH:   "UID SEARCH",    Selected,          Uid,      AnnounceNew, News,      None,              |p| p.search(true);
    FETCH:        "FETCH",         Selected,          Sequence, Nothing,     NoExpunge, None,              |p| p.fetch(false);
    UID_FETCH:    "UID FETCH",     Selected,          Uid,      AnnounceNew, News,      None,              |p| p.fetch(true);
    STORE:        "STORE",         Selected,          Sequence, Nothing,     NoExpunge, None,              |p| p.store(false);
    UID_STORE:    "UID STORE",     Selected,          Uid,      AnnounceNew, News,      None,              |p| p.store(true);
    /// RFC 3501 §7.4.1 names FETCH, STORE and SEARCH only: COPY by
    /// sequence number may be followed by EXPUNGE.
    COPY:         "COPY",          Selected,          Sequence, Nothing,     News,      None,              |p| p.copy(false, false);
    UID_COPY:     "UID COPY",      Selected,          Uid,      AnnounceNew, News,      None,              |p| p.copy(true, false);
    /// RFC 6851 §3.3: MOVE's own EXPUNGEs are its answer.
    MOVE:         "MOVE",          Selected,          Sequence, Nothing,     News,      Some("MOVE"),      |p| p.copy(false, true);
    UID_MOVE:     "UID MOVE",      Selected,          Uid,      AnnounceNew, News,      Some("MOVE"),      |p| p.copy(true, true);
}

/// The row of a command name (upper case; UID forms as `UID FETCH`).
pub fn lookup(name: &str) -> Option<&'static CommandSpec> {
    ALL.iter().copied().find(|row| row.name == name)
}

impl CommandBody {
    /// The command's row. No `_` arm: a new command needs its row here.
    pub fn spec(&self) -> &'static CommandSpec {
        match self {
            C::Capability => &CAPABILITY,
            C::Noop => &NOOP,
            C::Logout => &LOGOUT,
            C::Id(_) => &ID,
            C::StartTls => &STARTTLS,
            C::Login { .. } => &LOGIN,
            C::Authenticate { .. } => &AUTHENTICATE,
            C::Enable(_) => &ENABLE,
            C::Select {
                read_only: false, ..
            } => &SELECT,
            C::Select {
                read_only: true, ..
            } => &EXAMINE,
            C::Create { .. } => &CREATE,
            C::Delete(_) => &DELETE,
            C::Rename { .. } => &RENAME,
            C::Subscribe(_) => &SUBSCRIBE,
            C::Unsubscribe(_) => &UNSUBSCRIBE,
            C::List { lsub: false, .. } => &LIST,
            C::List { lsub: true, .. } => &LSUB,
            C::Namespace => &NAMESPACE,
            C::Status { .. } => &STATUS,
            C::Append { .. } => &APPEND,
            C::Idle => &IDLE,
            C::Check => &CHECK,
            C::Close => &CLOSE,
            C::Unselect => &UNSELECT,
            C::Expunge { uids: None } => &EXPUNGE,
            C::Expunge { uids: Some(_) } => &UID_EXPUNGE,
            C::Search { uid: false, .. } => &SEARCH,
            C::Search { uid: true, .. } => &UID_SEARCH,
            C::Fetch { uid: false, .. } => &FETCH,
            C::Fetch { uid: true, .. } => &UID_FETCH,
            C::Store { uid: false, .. } => &STORE,
            C::Store { uid: true, .. } => &UID_STORE,
            C::Copy {
                uid: false,
                is_move: false,
                ..
            } => &COPY,
            C::Copy {
                uid: true,
                is_move: false,
                ..
            } => &UID_COPY,
            C::Copy {
                uid: false,
                is_move: true,
                ..
            } => &MOVE,
            C::Copy {
                uid: true,
                is_move: true,
                ..
            } => &UID_MOVE,
        }
    }

    /// The command's name as in the RFCs and the logs.
    pub fn name(&self) -> &'static str {
        self.spec().name
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framer::{Chunk, Frame, Literal};
    use crate::parser::parse_command;

    /// One command of each row, as a client sends it.
    const SAMPLES: &[&str] = &[
        "CAPABILITY",
        "NOOP",
        "LOGOUT",
        "ID NIL",
        "STARTTLS",
        "LOGIN a b",
        "AUTHENTICATE PLAIN",
        "ENABLE X",
        "SELECT INBOX",
        "EXAMINE INBOX",
        "CREATE a",
        "DELETE a",
        "RENAME a b",
        "SUBSCRIBE a",
        "UNSUBSCRIBE a",
        "LIST \"\" *",
        "LSUB \"\" *",
        "NAMESPACE",
        "STATUS INBOX (MESSAGES)",
        "APPEND INBOX ",
        "IDLE",
        "CHECK",
        "CLOSE",
        "UNSELECT",
        "EXPUNGE",
        "UID EXPUNGE 1",
        "SEARCH ALL",
        "UID SEARCH ALL",
        "FETCH 1 FLAGS",
        "UID FETCH 1 FLAGS",
        "STORE 1 FLAGS ()",
        "UID STORE 1 FLAGS ()",
        "COPY 1 a",
        "UID COPY 1 a",
        "MOVE 1 a",
        "UID MOVE 1 a",
    ];

    fn parse(line: &str) -> CommandBody {
        let mut chunks = vec![Chunk::Text(format!("t {line}").into_bytes())];
        if line.starts_with("APPEND") {
            chunks.push(Chunk::Literal(Literal::Memory(b"x".to_vec())));
            chunks.push(Chunk::Text(Vec::new()));
        }
        match parse_command(Frame { chunks }) {
            Ok(c) => c.body,
            Err(e) => panic!("{line}: {e}"),
        }
    }

    #[test]
    fn every_row_is_reached_by_its_command() {
        assert_eq!(SAMPLES.len(), ALL.len(), "a sample per row");
        for (line, row) in SAMPLES.iter().zip(ALL) {
            let spec = parse(line).spec();
            assert!(std::ptr::eq(spec, *row), "{line} → {}", spec.name);
            assert!(line.starts_with(spec.name), "{line} is named {}", spec.name);
        }
    }

    /// The rules the rows must agree on.
    #[test]
    fn rows_follow_the_rules() {
        for row in ALL {
            let uid = row.numbers == Numbers::Uid;
            assert_eq!(uid, row.before == Before::AnnounceNew, "{}", row.name);
            assert_eq!(uid, row.name.starts_with("UID "), "{}", row.name);
            if ["FETCH", "STORE", "SEARCH"].contains(&row.name) {
                assert_eq!(row.after, After::NoExpunge, "{}", row.name);
            } else {
                assert_ne!(row.after, After::NoExpunge, "{}", row.name);
            }
            if row.numbers != Numbers::None {
                assert_eq!(row.allowed, Allowed::Selected, "{}", row.name);
            }
        }
    }
}
