//! Accounts, mailboxes, messages, flags, UIDs, modseqs, blobs and the
//! change bus, behind the [`Store`] trait. [`open`] makes the store a
//! [`StoreConfig`] names; everything outside this crate holds it as an
//! `Arc<dyn Store>`. The embedded backend (SQLite + blob files) lives in
//! [`sqlite`]; a PostgreSQL backend is a second implementation of the same
//! trait, in a folder of its own beside it.
//!
//! Every call is scoped by an [`AccountId`]: no method can reach another
//! account's data. Every mutation is durable before it returns, and only
//! then published on the change bus ([`bus`]).

pub mod bus;
pub mod changelog;
pub mod index;
pub mod ingest;
pub mod search;
pub mod sqlite;
pub mod types;

pub use bus::{Event, Subscription};
pub use search::Query;
pub use types::*;

use async_trait::async_trait;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::sync::{broadcast, watch};

/// Which backend keeps the store (`[store] backend` in the server's
/// configuration).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(try_from = "String")]
pub enum Backend {
    /// SQLite and message files in the data directory.
    #[default]
    Sqlite,
}

impl Backend {
    /// Every backend this build has, by its configuration name.
    pub const ALL: [(Backend, &'static str); 1] = [(Backend::Sqlite, "sqlite")];

    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
        }
    }
}

impl std::str::FromStr for Backend {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Backend, String> {
        Backend::ALL
            .iter()
            .find(|(_, name)| *name == s)
            .map(|(b, _)| *b)
            .ok_or_else(|| {
                let choices: Vec<String> =
                    Backend::ALL.iter().map(|(_, n)| format!("{n:?}")).collect();
                format!(
                    "unknown store backend {s:?}: the choices are {}",
                    choices.join(", ")
                )
            })
    }
}

impl TryFrom<String> for Backend {
    type Error = String;

    fn try_from(s: String) -> std::result::Result<Backend, String> {
        s.parse()
    }
}

/// Where the store is and what keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreConfig {
    pub backend: Backend,
    /// The embedded backend's database and message files; for every
    /// backend, where spooled literals and the socket that carries
    /// changes between the processes of one host live.
    pub data_dir: PathBuf,
}

/// Whether [`open`] may create the store when there is none: only the
/// server and `crispin user add` do, so that a tool run in the wrong
/// directory leaves nothing behind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenMode {
    /// Creates what is missing (the data directory with mode 0700, the
    /// database with 0600: it holds password hashes).
    CreateIfMissing,
    /// [`StoreError::NoStore`] when there is no store.
    Existing,
}

/// Opens the store `config` names: the one way every front end and tool
/// gets one.
pub async fn open(config: &StoreConfig, mode: OpenMode) -> Result<Arc<dyn Store>> {
    match config.backend {
        Backend::Sqlite => {
            let store = match mode {
                OpenMode::CreateIfMissing => sqlite::SqliteStore::open(&config.data_dir).await?,
                OpenMode::Existing => sqlite::SqliteStore::open_existing(&config.data_dir).await?,
            };
            Ok(Arc::new(store))
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("no such mailbox")]
    NoMailbox,
    #[error("mailbox already exists")]
    MailboxExists,
    #[error("no such account")]
    NoAccount,
    #[error("account already exists")]
    AccountExists,
    #[error("message too large")]
    TooLarge,
    /// The message's content is no longer stored: another session
    /// expunged it after this one read its metadata (RFC 2180 §4.1.3; the
    /// session answers NIL and `[EXPUNGEISSUED]`, RFC 9051 §7.1).
    #[error("the message was expunged")]
    Expunged,
    /// The write would give the mailbox more than [`MAX_KEYWORDS`]
    /// keywords; nothing was written.
    #[error("too many keywords in the mailbox")]
    TooManyKeywords,
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    /// The disk (or the file system's quota) is full: nothing was
    /// written, and reads still work.
    #[error("not enough disk space")]
    Full,
    /// The backend's own failure (its driver's error, as text and
    /// source), for what a caller cannot act on but report.
    #[error("database error: {0}")]
    Backend(Box<dyn std::error::Error + Send + Sync>),
    #[error("i/o error: {0}")]
    Io(std::io::Error),
    #[error("{}: {source}", path.display())]
    File {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error(
        "no store in {} (`crispin serve` or `crispin user add` creates one; is data_dir right?)",
        .0.display()
    )]
    NoStore(std::path::PathBuf),
    #[error("{0}")]
    Other(String),
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// Keywords a mailbox may have (each SELECT lists them all in FLAGS and
/// PERMANENTFLAGS; Cyrus allows 128): a write that would add more is
/// refused (`NO [LIMIT]`), so that one client cannot make every other
/// client's SELECT of the mailbox send megabytes.
pub const MAX_KEYWORDS: usize = 256;

impl StoreError {
    /// This error as each write of a failed shared commit reports it: the
    /// kinds a caller acts on are kept, the rest become text.
    pub fn shared(&self) -> StoreError {
        match self {
            StoreError::Full => StoreError::Full,
            StoreError::NoMailbox => StoreError::NoMailbox,
            StoreError::TooLarge => StoreError::TooLarge,
            StoreError::Expunged => StoreError::Expunged,
            StoreError::TooManyKeywords => StoreError::TooManyKeywords,
            e => StoreError::Other(e.to_string()),
        }
    }
}

/// ENOSPC and EDQUOT: the file system refused to grow.
pub(crate) fn io_full(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded
    )
}

impl From<std::io::Error> for StoreError {
    fn from(e: std::io::Error) -> Self {
        if io_full(&e) {
            StoreError::Full
        } else {
            StoreError::Io(e)
        }
    }
}

/// An account name as stored and looked up: names are case-insensitive
/// (`LOGIN BOB` is bob, as mail to `BOB@` is), so they are kept in lower
/// case. Every backend calls this on the way in.
pub fn account_name(name: &str) -> String {
    name.to_lowercase()
}

/// The mailboxes every new account starts with, and their RFC 6154 uses.
pub const DEFAULT_MAILBOXES: [(&str, Option<&str>); 6] = [
    ("INBOX", None),
    ("Drafts", Some("\\Drafts")),
    ("Sent", Some("\\Sent")),
    ("Trash", Some("\\Trash")),
    ("Junk", Some("\\Junk")),
    ("Archive", Some("\\Archive")),
];

#[async_trait]
pub trait Store: Send + Sync + 'static {
    // Lifecycle.
    /// Saves what is kept in memory (\Recent state) and lets go of the
    /// backend's connections; nothing is asked of the store after.
    async fn close(&self);
    /// Where large literals are spooled: on the file system the backend
    /// keeps message files on (if it does), so that storing one is a
    /// rename, not a copy.
    fn spool_dir(&self) -> &Path;
    /// In a process other than the server (`crispin deliver`, `import`,
    /// `user`): tell a running server of every change, so that its
    /// sessions hear of it and its caches drop what changed.
    fn notify_running_server(&self);
    /// In the server: hear of other processes' changes (see
    /// [`Store::notify_running_server`]) and publish them as if made here.
    /// Needs a tokio runtime.
    fn listen_for_other_processes(&self) -> std::io::Result<()>;
    /// From a tool process: tells the running server. `Ok(false)` when no
    /// server is listening.
    fn tell_running_server(&self, notice: &AccountNotice) -> std::io::Result<bool>;
    /// Account notices heard from other processes (`crispin user unlock`).
    fn account_notices(&self) -> broadcast::Receiver<AccountNotice>;

    // Accounts. Names are case-insensitive (see [`account_name`]).
    /// Creates the account with its default mailboxes, subscribed.
    async fn create_account(&self, name: &str, credentials: &Credentials) -> Result<AccountId>;
    async fn delete_account(&self, name: &str) -> Result<()>;
    async fn set_credentials(&self, name: &str, credentials: &Credentials) -> Result<()>;
    async fn account(&self, name: &str) -> Result<Option<Account>>;
    async fn list_accounts(&self) -> Result<Vec<String>>;

    // Mailboxes. Names are canonical UTF-8 with `/` as separator; the
    // session validates them before they get here.
    async fn list_mailboxes(&self, account: AccountId) -> Result<Vec<MailboxInfo>>;
    async fn mailbox(&self, account: AccountId, name: &str) -> Result<Option<MailboxInfo>>;
    async fn create_mailbox(
        &self,
        account: AccountId,
        name: &str,
        special_use: Option<&str>,
    ) -> Result<MailboxId>;
    /// Deletes one mailbox and its messages (not its children).
    async fn delete_mailbox(&self, account: AccountId, mailbox: MailboxId) -> Result<()>;
    /// Renames a mailbox and every mailbox below it. Renaming INBOX moves
    /// its messages to a new mailbox and leaves INBOX empty (RFC 3501).
    async fn rename_mailbox(&self, account: AccountId, from: &str, to: &str) -> Result<()>;
    async fn subscriptions(&self, account: AccountId) -> Result<Vec<String>>;
    async fn set_subscribed(&self, account: AccountId, name: &str, on: bool) -> Result<()>;
    async fn status(&self, account: AccountId, mailbox: MailboxId) -> Result<MailboxStatus>;

    // Views and changes.
    async fn snapshot(&self, account: AccountId, mailbox: MailboxId) -> Result<Snapshot>;
    /// What changed after `modseq`. `fresh` bypasses in-memory caches
    /// (NOOP, CHECK: also see changes other processes made).
    async fn changes_since(
        &self,
        account: AccountId,
        mailbox: MailboxId,
        modseq: u64,
        fresh: bool,
    ) -> Result<Changes>;
    /// Marks UIDs below `uid_next` as reported \Recent to one session;
    /// returns the first UID that is recent for the caller. With
    /// `uid_next` 0 nothing is claimed (a read-only session's look).
    async fn claim_recent(
        &self,
        account: AccountId,
        mailbox: MailboxId,
        uid_next: u32,
    ) -> Result<u32>;
    /// Every committed change to the account's mailboxes, this process's
    /// and (in the server) other writers' alike, published before the
    /// write that made it returns (see [`bus`]).
    fn subscribe(&self, account: AccountId) -> Subscription;
    /// Wakes when the mailbox changes: the value is its newest modseq,
    /// [`bus::DELETED`] once it is deleted. The bus's view of one mailbox:
    /// it never lags, whatever else the account does (see [`bus`]).
    fn watch(&self, mailbox: MailboxId) -> watch::Receiver<u64>;

    // Messages.
    async fn append(
        &self,
        account: AccountId,
        mailbox: MailboxId,
        message: NewMessage,
    ) -> Result<Appended>;
    /// Like [`Store::append`], but returns as soon as the message is
    /// queued for its commit, with the commit's result to await: appends
    /// queued one after another get UIDs in that order, and may share a
    /// commit (pipelined APPENDs).
    async fn append_queued(
        &self,
        account: AccountId,
        mailbox: MailboxId,
        message: NewMessage,
    ) -> Result<futures_util::future::BoxFuture<'static, Result<Appended>>> {
        let done = self.append(account, mailbox, message).await;
        Ok(Box::pin(std::future::ready(done)))
    }
    /// Records for the given UIDs (ascending; missing ones are skipped).
    async fn fetch(
        &self,
        account: AccountId,
        mailbox: MailboxId,
        uids: &[u32],
        need: FetchNeed,
    ) -> Result<Vec<MessageRecord>>;
    /// `len` bytes of the content from `start` (fewer at its end).
    /// Content no longer stored (its last message expunged) is
    /// [`StoreError::Expunged`], never an I/O error.
    async fn read_blob(
        &self,
        account: AccountId,
        blob: &str,
        start: u64,
        len: u64,
    ) -> Result<Vec<u8>>;
    /// The content, opened for reading: once open it reads to its end
    /// even if its message is expunged meanwhile, so that a FETCH which
    /// has put a literal's length on the wire can always send its bytes.
    /// Content already gone is [`StoreError::Expunged`].
    async fn open_blob(&self, account: AccountId, blob: &str) -> Result<BlobReader>;
    async fn store_flags(
        &self,
        account: AccountId,
        mailbox: MailboxId,
        uids: &[u32],
        op: FlagOp,
        flags: &Flags,
    ) -> Result<StoreResult> {
        self.store_flags_unchanged_since(account, mailbox, uids, op, flags, None)
            .await
    }
    /// [`Store::store_flags`], leaving alone (and listing in
    /// [`StoreResult::modified`]) the messages whose modseq is above
    /// `unchanged_since`, checked and changed in one commit (RFC 7162
    /// §3.1.3's UNCHANGEDSINCE; `Some(0)` changes nothing).
    async fn store_flags_unchanged_since(
        &self,
        account: AccountId,
        mailbox: MailboxId,
        uids: &[u32],
        op: FlagOp,
        flags: &Flags,
        unchanged_since: Option<u64>,
    ) -> Result<StoreResult>;
    /// Expunges messages flagged \Deleted (only among `uids` when given).
    async fn expunge(
        &self,
        account: AccountId,
        mailbox: MailboxId,
        uids: Option<&[u32]>,
    ) -> Result<Vec<u32>>;
    /// Copies (or atomically moves) messages to another mailbox of the
    /// same account.
    async fn copy(
        &self,
        account: AccountId,
        from: MailboxId,
        uids: &[u32],
        to: MailboxId,
        is_move: bool,
    ) -> Result<CopyResult>;
    /// UIDs matching the query, ascending.
    async fn search(
        &self,
        account: AccountId,
        mailbox: MailboxId,
        query: &Query,
    ) -> Result<Vec<u32>>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backends_by_name() {
        for (backend, name) in Backend::ALL {
            assert_eq!(name.parse::<Backend>(), Ok(backend));
            assert_eq!(backend.name(), name);
        }
        let e = "postgres".parse::<Backend>().unwrap_err();
        assert_eq!(
            e,
            "unknown store backend \"postgres\": the choices are \"sqlite\""
        );
    }

    /// `Existing` finds a store or says there is none, leaving nothing
    /// behind; `CreateIfMissing` makes one (private to its owner).
    #[tokio::test]
    async fn open_creates_only_when_asked() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let config = StoreConfig {
            backend: Backend::Sqlite,
            data_dir: dir.path().join("data"),
        };
        match open(&config, OpenMode::Existing).await {
            Err(StoreError::NoStore(path)) => assert_eq!(path, config.data_dir),
            Err(e) => panic!("{e}"),
            Ok(_) => panic!("opened a store that is not there"),
        }
        assert!(!config.data_dir.exists());
        let store = open(&config, OpenMode::CreateIfMissing).await.unwrap();
        let mode = std::fs::metadata(&config.data_dir).unwrap().permissions();
        assert_eq!(mode.mode() & 0o777, 0o700);
        store
            .create_account("a", &Credentials::default())
            .await
            .unwrap();
        store.close().await;
        drop(store);
        let again = open(&config, OpenMode::Existing).await.unwrap();
        assert!(again.account("a").await.unwrap().is_some());
        again.close().await;
    }
}
