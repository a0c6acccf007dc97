//! The embedded backend: SQLite (WAL, synchronous=FULL) for metadata and
//! content-addressed files for message bytes.
//!
//! Writes go through a single connection so they never contend inside the
//! process; reads use a small pool and see committed data only.

pub mod blob;
mod commit;
mod mapped;
mod readers;

use crate::changelog::{ChangeLog, Entry};
use crate::feed::ChangeFeed;
use crate::index::{IndexCache, IndexEntry, MailboxIndex};
use crate::ingest;
use crate::search::{self, Query};
use crate::types::*;
use crate::{Result, Store, StoreError};
use async_trait::async_trait;
use blob::BlobFiles;
use chrono::{DateTime, FixedOffset, Offset};
use commit::{Note, Pending, WriteJob};
use futures_util::future::BoxFuture;
use readers::Readers;
use rusqlite::{OptionalExtension, params};
use sqlx::Row;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

pub struct SqliteStore {
    reader: SqlitePool,
    /// The hot reads (see [`readers`]).
    readers: Arc<Readers>,
    blobs: Arc<BlobFiles>,
    tmp_dir: PathBuf,
    notes: Arc<Notifier>,
    /// Every write goes to the group-commit thread (see [`commit::run`]).
    writes: tokio::sync::mpsc::Sender<WriteJob>,
    /// First UID not yet reported as \Recent, per mailbox. Kept in memory
    /// (claiming must not cost a durable write per session) and saved on
    /// close; \Recent is advisory and gone from IMAP4rev2. Keyed by the
    /// account too, so that an entry answers only the mailbox's owner, and
    /// dropped with the mailbox (its id can come back for a new one).
    recent: std::sync::Mutex<HashMap<(AccountId, MailboxId), u32>>,
}

/// Tells the world about committed changes: the in-memory change log, the
/// change feed, and (from tool processes) the running server.
struct Notifier {
    feed: ChangeFeed,
    /// Recent changes per mailbox, for sessions catching up (IDLE).
    log: ChangeLog,
    /// Where a running server receives change notices from other
    /// processes (`crispin deliver`, `crispin import`).
    feed_socket: PathBuf,
    /// Set in those other processes: tell the server about our changes.
    notify_server: std::sync::atomic::AtomicBool,
    /// Per-mailbox message index (see [`crate::index`]).
    index: IndexCache,
    /// Set in the server, which hears of every other process's changes:
    /// then a cached index no change was heard of since is current.
    hears_all: std::sync::atomic::AtomicBool,
    /// Notices about accounts heard from other processes.
    accounts: tokio::sync::broadcast::Sender<AccountNotice>,
}

/// The feed socket's prefix for [`AccountNotice::Unlock`].
const UNLOCK: &str = "unlock ";

impl Notifier {
    /// After a commit: remember the change for catching-up sessions and
    /// wake them.
    fn committed(&self, account: AccountId, mailbox: MailboxId, entry: Entry) {
        let modseq = entry.modseq;
        self.log.record(account, mailbox, entry);
        self.publish(mailbox, modseq);
    }

    /// A change the change log did not see (another process's, or a
    /// deleted mailbox: `u64::MAX`): drop what the log holds and publish.
    fn unlogged(&self, mailbox: MailboxId, modseq: u64) {
        self.log.invalidate(mailbox);
        self.publish(mailbox, modseq);
    }

    /// Publishes a committed change locally and, from a tool process, to
    /// the running server.
    fn publish(&self, mailbox: MailboxId, modseq: u64) {
        self.index.changed(mailbox, modseq);
        self.feed.publish(mailbox, modseq);
        if self
            .notify_server
            .load(std::sync::atomic::Ordering::Relaxed)
            && let Ok(sock) = std::os::unix::net::UnixDatagram::unbound()
        {
            // No server running is fine: nobody is waiting.
            let _ = sock.send_to(
                format!("{} {modseq}", mailbox.0).as_bytes(),
                &self.feed_socket,
            );
        }
    }
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        match e.sqlite_error_code() {
            Some(rusqlite::ErrorCode::DiskFull) => StoreError::Full,
            _ => StoreError::Backend(Box::new(e)),
        }
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        // SQLITE_FULL is 13 (and its extended codes keep 13 in the low byte).
        let full = match &e {
            sqlx::Error::Database(d) => d
                .code()
                .and_then(|c| c.parse::<i64>().ok())
                .is_some_and(|c| c & 0xff == 13),
            sqlx::Error::Io(io) => crate::io_full(io),
            _ => false,
        };
        if full {
            StoreError::Full
        } else {
            StoreError::Backend(Box::new(e))
        }
    }
}

/// Creates the data directory (0700) and an empty database file (0600)
/// unless they exist; SQLite gives its WAL and shared-memory files the
/// database file's mode.
fn create_private(dir: &Path) -> Result<()> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    let file_error = |path: &Path| {
        let path = path.to_path_buf();
        move |source| StoreError::File { path, source }
    };
    if !dir.exists() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(file_error(dir))?;
    }
    let db = dir.join("crispin.db");
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&db)
    {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(source) => Err(StoreError::File { path: db, source }),
    }
}

/// The migration that made `blob_fields`.
const FIELDS_MIGRATION: i64 = 11;

/// Blobs from before pre-rendering, looked for at every open (served by
/// the partial index `blobs_unrendered`, which new rows never enter).
const UNRENDERED: &str = "SELECT rowid, meta FROM blobs WHERE imap IS NULL LIMIT 1000";

impl SqliteStore {
    /// Opens the store in `dir`, creating it when missing: `dir` with mode
    /// 0700 and the database with 0600 (it holds password hashes).
    pub async fn open(dir: &Path) -> Result<Self> {
        create_private(dir)?;
        Self::open_existing(dir).await
    }

    /// Opens the store in `dir`; [`StoreError::NoStore`] when there is
    /// none, so that a tool run from the wrong directory does not leave a
    /// new, empty store behind.
    pub async fn open_existing(dir: &Path) -> Result<Self> {
        let db = dir.join("crispin.db");
        match std::fs::metadata(&db) {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(StoreError::NoStore(dir.to_path_buf()));
            }
            Err(source) => return Err(StoreError::File { path: db, source }),
        }
        // SQLite's own open error does not say which file: check first
        // that we may read and write it.
        std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&db)
            .map_err(|source| StoreError::File {
                path: db.clone(),
                source,
            })?;
        let options = SqliteConnectOptions::new()
            .filename(&db)
            .create_if_missing(false)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(30))
            .foreign_keys(false)
            // A bigger page cache: whole-mailbox FETCH and SEARCH touch many
            // pages. (No mmap: remapping a growing file costs writers dearly.)
            .pragma("cache_size", "-32768");
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options.clone())
            .await?;
        let cut_fields = Self::lacks_migration(&writer, FIELDS_MIGRATION).await?;
        sqlx::migrate!("./migrations/sqlite")
            .run(&writer)
            .await
            .map_err(|e| StoreError::Other(format!("migration failed: {e}")))?;
        // Derived data and tidying: on a full disk the store must still
        // open and serve reads, so they wait for a start with room.
        let full = |what: &str, r: Result<()>| match r {
            Err(StoreError::Full) => {
                tracing::warn!(
                    dir = %dir.display(),
                    "disk full: {what} skipped; reads work, writes are refused until there is room"
                );
                Ok(())
            }
            r => r,
        };
        full(
            "filling in rendered metadata",
            Self::backfill_rendered(&writer).await,
        )?;
        if cut_fields {
            full(
                "filling in listed header fields",
                Self::backfill_fields(&writer).await,
            )?;
        }
        // Start with the WAL folded into the database: after a migration
        // it can hold most of it, and every read would look there first.
        let checkpoint = sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
            .execute(&writer)
            .await
            .map(|_| ())
            .map_err(StoreError::from);
        full("folding the write-ahead log into the database", checkpoint)?;
        let reader = SqlitePoolOptions::new()
            .max_connections(8)
            // Readers map the file: whole-mailbox FETCH and SEARCH then read
            // pages in place instead of a pread and a copy per page. (The
            // writer does not: remapping a growing file slowed commits.)
            .connect_with(
                options
                    .read_only(true)
                    .pragma("mmap_size", (1u64 << 30).to_string()),
            )
            .await?;
        let tmp_dir = dir.join("tmp");
        let blobs = Arc::new(
            BlobFiles::open(&dir.join("blobs"), &tmp_dir).map_err(|source| StoreError::File {
                path: dir.join("blobs"),
                source,
            })?,
        );
        let notes = Arc::new(Notifier {
            feed: ChangeFeed::default(),
            log: ChangeLog::default(),
            feed_socket: dir.join("feed.sock"),
            notify_server: std::sync::atomic::AtomicBool::new(false),
            index: IndexCache::default(),
            hears_all: std::sync::atomic::AtomicBool::new(false),
            accounts: tokio::sync::broadcast::channel(16).0,
        });
        // The migrations' connection is done; writes go to the committer's.
        writer.close().await;
        let conn = commit::open(&dir.join("crispin.db"))?;
        let (writes, jobs) = tokio::sync::mpsc::channel(1024);
        let committed = notes.clone();
        std::thread::Builder::new()
            .name("crispin-commit".into())
            .spawn(move || {
                commit::run(conn, jobs, |(account, mailbox, entry)| {
                    committed.committed(account, mailbox, entry)
                })
            })?;
        Ok(SqliteStore {
            reader,
            readers: Readers::new(&dir.join("crispin.db")),
            blobs,
            tmp_dir,
            notes,
            writes,
            recent: std::sync::Mutex::default(),
        })
    }

    /// Derived data is rebuilt from what ingest stored: rows from before
    /// pre-rendering get their ENVELOPE/BODYSTRUCTURE text here, once.
    async fn backfill_rendered(writer: &SqlitePool) -> Result<()> {
        loop {
            let rows: Vec<(i64, Vec<u8>)> = sqlx::query_as(UNRENDERED).fetch_all(writer).await?;
            if rows.is_empty() {
                return Ok(());
            }
            let mut tx = writer.begin().await?;
            for (rowid, meta) in rows {
                let meta = ingest::decode_meta(&meta)?;
                let rendered = crate::Rendered::of(&meta).into_encoded();
                sqlx::query("UPDATE blobs SET imap = ? WHERE rowid = ?")
                    .bind(rendered)
                    .bind(rowid)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
        }
    }

    /// Whether an existing store is about to get migration `version` (a new
    /// store has no migrations table yet, and nothing to fill in).
    async fn lacks_migration(writer: &SqlitePool, version: i64) -> Result<bool> {
        let existing: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'",
        )
        .fetch_one(writer)
        .await?;
        if existing == 0 {
            return Ok(false);
        }
        let applied: i64 =
            sqlx::query_scalar("SELECT count(*) FROM _sqlx_migrations WHERE version = ?")
                .bind(version)
                .fetch_one(writer)
                .await?;
        Ok(applied == 0)
    }

    /// Right after migration 0011, once: the listed header fields of the
    /// content stored before it. (Content it does not reach, say if the
    /// process stops half way, is served from its header: slower, not
    /// wrong.)
    async fn backfill_fields(writer: &SqlitePool) -> Result<()> {
        let mut after = 0i64;
        loop {
            let rows: Vec<(i64, i64, String, Vec<u8>)> = sqlx::query_as(
                "SELECT rowid, account_id, hash, header FROM blobs
                 WHERE rowid > ? ORDER BY rowid LIMIT 1000",
            )
            .bind(after)
            .fetch_all(writer)
            .await?;
            let Some(last) = rows.last() else {
                return Ok(());
            };
            after = last.0;
            let mut tx = writer.begin().await?;
            for (rowid, account, hash, header) in rows {
                sqlx::query(
                    "INSERT OR IGNORE INTO blob_fields (account_id, blob, tag, fields)
                     VALUES (?, ?, ?, ?)",
                )
                .bind(account)
                .bind(rowid)
                .bind(ingest::hash_tag(&hash))
                .bind(ingest::cut_listed(&header))
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
        }
    }

    /// For processes other than the server: notify it of every change so
    /// its idling clients wake up.
    pub fn notify_running_server(&self) {
        self.notes
            .notify_server
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }

    /// In the server: receive change notices from other processes on a
    /// Unix datagram socket in the data directory and publish them.
    pub fn listen_for_other_processes(self: &Arc<Self>) -> std::io::Result<()> {
        let _ = std::fs::remove_file(&self.notes.feed_socket);
        let sock = tokio::net::UnixDatagram::bind(&self.notes.feed_socket)?;
        self.notes
            .hears_all
            .store(true, std::sync::atomic::Ordering::Relaxed);
        let store = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut buf = [0u8; 512];
            while let Ok(n) = sock.recv(&mut buf).await {
                let Some(store) = store.upgrade() else { return };
                let text = String::from_utf8_lossy(&buf[..n]);
                if let Some(name) = text.strip_prefix(UNLOCK) {
                    let _ = store
                        .notes
                        .accounts
                        .send(AccountNotice::Unlock(name.to_string()));
                } else if let Some((m, s)) = text.split_once(' ')
                    && let (Ok(m), Ok(s)) = (m.parse(), s.parse())
                {
                    store.notes.unlogged(MailboxId(m), s);
                }
            }
        });
        Ok(())
    }

    /// The stored name of the account `name` means (see [`Store::account`]).
    async fn stored_name(&self, name: &str) -> Result<String> {
        Ok(self
            .account(name)
            .await?
            .map_or_else(|| crate::account_name(name), |a| a.name))
    }

    fn account_exactly(&self, name: &str) -> Result<Option<Account>> {
        // In place on a pooled connection: an indexed lookup is quicker
        // than the hop to sqlx's worker thread (LOGIN, LMTP's RCPT).
        self.readers.now(|c| {
            Ok(c.prepare_cached(
                "SELECT account_id, name, password_hash, scram_sha256 FROM accounts WHERE name = ?",
            )?
            .query_row([name], |r| {
                Ok(Account {
                    id: AccountId(r.get(0)?),
                    name: r.get(1)?,
                    credentials: Credentials {
                        password_hash: r.get(2)?,
                        scram_sha256: r.get(3)?,
                    },
                })
            })
            .optional()?)
        })
    }

    /// Account notices from other processes (`crispin user unlock`).
    pub fn account_notices(&self) -> tokio::sync::broadcast::Receiver<AccountNotice> {
        self.notes.accounts.subscribe()
    }

    /// From a tool process: tells the running server. `Ok(false)` when no
    /// server is listening on this data directory.
    pub fn tell_running_server(&self, notice: &AccountNotice) -> std::io::Result<bool> {
        let AccountNotice::Unlock(name) = notice;
        let sock = std::os::unix::net::UnixDatagram::unbound()?;
        match sock.send_to(
            format!("{UNLOCK}{name}").as_bytes(),
            &self.notes.feed_socket,
        ) {
            Ok(_) => Ok(true),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused
                ) =>
            {
                Ok(false)
            }
            Err(e) => Err(e),
        }
    }

    /// Where spooled literals should go: on the blob file system, so that
    /// storing one is a rename, not a copy.
    pub fn spool_dir(&self) -> &Path {
        &self.tmp_dir
    }

    pub async fn close(&self) {
        let recent: Vec<((AccountId, MailboxId), u32)> = self
            .recent
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|(k, u)| (*k, *u))
            .collect();
        let saved = self
            .write(move |c| Ok((commit::save_recent(c, &recent)?, Vec::new())))
            .await;
        if let Err(e) = saved {
            tracing::warn!(error = %e, "could not save \\Recent state");
        }
        self.reader.close().await;
    }

    /// Writes out every search-index change still pending now. Not needed
    /// for correctness (SEARCH reads pending rows, which are durable); the
    /// commit thread writes them a few hundred at a time on its own.
    pub async fn write_search_index(&self) -> Result<()> {
        self.write(|c| Ok((c.write_search_index(1)?, Vec::new())))
            .await
    }

    /// Runs `work` in the group-commit thread's next transaction and
    /// returns its result once that transaction is durable; the change
    /// notes are published right after the commit, in commit order.
    async fn write<T, F>(&self, work: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&commit::Tx) -> Result<(T, Vec<Note>)> + Send + 'static,
    {
        self.enqueue(work).await?.await
    }

    /// Queues `work` for the group-commit thread; the returned future
    /// gives its result once committed. Writes run in the order queued.
    async fn enqueue<T, F>(
        &self,
        work: F,
    ) -> Result<impl Future<Output = Result<T>> + Send + 'static>
    where
        T: Send + 'static,
        F: FnOnce(&commit::Tx) -> Result<(T, Vec<Note>)> + Send + 'static,
    {
        let (reply, answer) = tokio::sync::oneshot::channel();
        let job: WriteJob = Box::new(move |c| match work(c) {
            Ok((value, notes)) => Pending {
                failed: false,
                notes,
                finish: Box::new(move |commit_error| {
                    let _ = reply.send(match commit_error {
                        None => Ok(value),
                        Some(e) => Err(e.shared()),
                    });
                }),
            },
            Err(e) => Pending {
                failed: true,
                notes: Vec::new(),
                finish: Box::new(move |_| {
                    let _ = reply.send(Err(e));
                }),
            },
        });
        self.writes
            .send(job)
            .await
            .map_err(|_| StoreError::Other("the store is closed".into()))?;
        // A dropped reply means the batch failed before this job ran.
        Ok(async move {
            answer
                .await
                .map_err(|_| StoreError::Other("the write was not committed".into()))?
        })
    }

    fn remove_files(&self, account: AccountId, hashes: &[String]) {
        for h in hashes {
            self.blobs.remove(account, h);
        }
    }

    /// Answers HEADER keys, and the header half of TEXT keys, of three
    /// characters or more from the trigram index over headers, as exact
    /// sets of content hashes. BODY (and the body half of TEXT) is left to
    /// the scan, which then reads only the decoded bodies.
    async fn answer_text_keys(&self, account: AccountId, query: &Query) -> Result<Query> {
        const MAX_CANDIDATES: usize = 50_000;
        let mut answered = Vec::new();
        for key in query.text_keys() {
            let needle = match &key {
                Query::Text(s) => s,
                Query::Header { value, .. } => value,
                _ => continue,
            };
            if needle.chars().count() < 3 {
                continue;
            }
            let fts = format!("\"{}\"", needle.replace('"', "\"\""));
            let (k, n) = (key.clone(), needle.clone());
            let hits = self
                .readers
                .scan(move |c| {
                    // The index first, then the account's blobs by rowid;
                    // blobs the index does not cover yet (or covers with a
                    // reused rowid's old text) are candidates to check.
                    let mut q = c.prepare_cached(
                        "SELECT hash, search_headers, 0 FROM blobs
                         WHERE rowid IN (SELECT rowid FROM search_fts WHERE search_fts MATCH ?1)
                           AND rowid NOT IN (SELECT blob FROM search_pending)
                           AND +account_id = ?2
                         UNION ALL
                         SELECT hash, search_headers, 1 FROM blobs
                         WHERE rowid IN (SELECT blob FROM search_pending WHERE op != 0)
                           AND +account_id = ?2",
                    )?;
                    let mut rows = q.query(params![fts, account.0])?;
                    let mut hits = Vec::new();
                    let mut candidates = 0;
                    while let Some(r) = rows.next()? {
                        candidates += 1;
                        if candidates > MAX_CANDIDATES {
                            return Ok(None);
                        }
                        let headers = text(r, 1)?;
                        let hit = match &k {
                            // The index finds the value anywhere in the
                            // header block; the headers say in which field.
                            Query::Header { name, value } => {
                                search::header_contains(headers, name, value)
                            }
                            // Index hits are exact; rows past it are checked.
                            _ => !r.get::<_, bool>(2)? || headers.contains(n.as_str()),
                        };
                        if hit {
                            hits.push(r.get::<_, String>(0)?);
                        }
                    }
                    Ok(Some(hits))
                })
                .await?;
            let Some(hits) = hits else { continue };
            let hits = Query::InHashes(Arc::new(hits.into_iter().collect()));
            let answer = match &key {
                Query::Header { .. } => hits,
                _ => Query::Or(Box::new(hits), Box::new(Query::Body(needle.clone()))),
            };
            answered.push((key.clone(), answer));
        }
        Ok(query.clone().substitute(&answered))
    }

    /// The mailbox's index, brought up to date with the database.
    pub async fn mailbox_index(
        &self,
        account: AccountId,
        mailbox: MailboxId,
    ) -> Result<Arc<MailboxIndex>> {
        const COLUMNS: &str = "SELECT m.uid, m.modseq, m.flags, m.keywords, m.internal_date,
                   m.internal_tz, m.size, b.sent_day, m.hash, b.rowid
            FROM messages m JOIN blobs b ON b.account_id = m.account_id AND b.hash = m.hash
            WHERE m.account_id = ?1 AND m.mailbox_id = ?2 AND m.modseq > ?3
            ORDER BY m.uid";
        // The usual case: in the server, which hears of every commit, an
        // index no commit was heard of since costs nothing; elsewhere one
        // statement. Only a refresh needs a transaction (rows consistent
        // with modseq).
        if self
            .notes
            .hears_all
            .load(std::sync::atomic::Ordering::Relaxed)
            && let Some(c) = self.notes.index.current(account, mailbox)
        {
            return Ok(c);
        }
        let epoch = self.notes.index.epoch();
        let cached = self.notes.index.get(account, mailbox);
        // A first build reads every row: off the runtime's threads. A
        // refresh reads what changed since, usually a few rows.
        let first = cached.is_none();
        let read = move |c: &rusqlite::Connection| -> Result<Arc<MailboxIndex>> {
            // One read transaction: rows consistent with the modseq.
            c.execute_batch("BEGIN")?;
            let (keywords, highest_modseq, uid_validity, uid_next): (String, i64, i64, i64) = c
                .prepare_cached(
                    "SELECT keywords, highest_modseq, uid_validity, uid_next FROM mailboxes
                     WHERE account_id = ? AND mailbox_id = ?",
                )?
                .query_row(params![account.0, mailbox.0], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
                })
                .optional()?
                .ok_or(StoreError::NoMailbox)?;
            let (highest_modseq, uid_next) = (highest_modseq as u64, uid_next as u32);
            let keywords = Flags::from_parts(0, &keywords).keywords;
            // A mailbox id used again by a new mailbox: start afresh.
            let cached = cached.filter(|old| i64::from(old.uid_validity) == uid_validity);
            if let Some(old) = &cached
                && old.modseq == highest_modseq
            {
                return Ok(old.clone());
            }
            let since = cached.as_ref().map_or(0, |c| c.modseq);
            let updated = c
                .prepare_cached(COLUMNS)?
                .query_map(params![account.0, mailbox.0, since as i64], |r| {
                    Ok(IndexEntry {
                        uid: r.get::<_, i64>(0)? as u32,
                        modseq: r.get::<_, i64>(1)? as u64,
                        flags: Flags::from_parts(r.get(2)?, text(r, 3)?),
                        internal_date: r.get(4)?,
                        internal_tz: r.get::<_, i64>(5)? as i32,
                        size: r.get::<_, i64>(6)? as u64,
                        sent_day: r.get(7)?,
                        hash: Arc::from(text(r, 8)?),
                        blob: r.get(9)?,
                    })
                })?
                .collect::<rusqlite::Result<Vec<IndexEntry>>>()?;
            let index = match cached {
                Some(old) => {
                    let expunged = c
                        .prepare_cached(
                            "SELECT uid FROM expunged WHERE account_id = ? AND mailbox_id = ?
                             AND modseq > ? ORDER BY uid",
                        )?
                        .query_map(params![account.0, mailbox.0, since as i64], |r| {
                            r.get::<_, i64>(0).map(|u| u as u32)
                        })?
                        .collect::<rusqlite::Result<Vec<u32>>>()?;
                    old.apply(highest_modseq, uid_next, keywords, updated, &expunged)
                }
                None => MailboxIndex {
                    account,
                    modseq: highest_modseq,
                    uid_validity: uid_validity as u32,
                    uid_next,
                    keywords,
                    entries: updated,
                },
            };
            Ok(Arc::new(index))
        };
        let index = if first {
            self.readers.scan(read).await?
        } else {
            self.readers.now(read)?
        };
        self.notes.index.put(mailbox, index.clone(), epoch);
        Ok(index)
    }

    /// The saved \\Recent watermark, checking the mailbox is the account's.
    async fn recent_watermark(&self, account: AccountId, mailbox: MailboxId) -> Result<u32> {
        let w: i64 = sqlx::query_scalar(
            "SELECT recent_uid FROM mailboxes WHERE account_id = ? AND mailbox_id = ?",
        )
        .bind(account.0)
        .bind(mailbox.0)
        .fetch_optional(&self.reader)
        .await?
        .ok_or(StoreError::NoMailbox)?;
        Ok(w.clamp(1, u32::MAX as i64) as u32)
    }

    async fn mailbox_keywords(
        conn: &mut sqlx::SqliteConnection,
        account: AccountId,
        mailbox: MailboxId,
    ) -> Result<(Vec<String>, u64, u32, u32)> {
        let row = sqlx::query(
            "SELECT keywords, highest_modseq, uid_validity, uid_next FROM mailboxes
             WHERE account_id = ? AND mailbox_id = ?",
        )
        .bind(account.0)
        .bind(mailbox.0)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or(StoreError::NoMailbox)?;
        Ok((
            Flags::from_parts(0, row.get::<&str, _>(0)).keywords,
            row.get::<i64, _>(1) as u64,
            row.get::<i64, _>(2) as u32,
            row.get::<i64, _>(3) as u32,
        ))
    }
}

/// The per-message metadata a FETCH read, before it joins the index's.
#[derive(Default)]
struct Fetched {
    blob: i64,
    meta: Option<Arc<crispin_mime::MessageMeta>>,
    header: Option<Arc<[u8]>>,
    rendered: Option<Arc<crate::Rendered>>,
}

/// The two ways FETCH reads a chunk's rows from `blobs`.
struct ChunkQueries {
    by_list: String,
    by_range: String,
}

/// Rowids at most twice as many as wanted apart are walked, not looked up.
fn dense(wanted: &[(i64, Arc<str>)]) -> Option<(i64, i64)> {
    let (first, last) = (wanted.first()?.0, wanted.last()?.0);
    (last.saturating_sub(first) < 2 * wanted.len() as i64).then_some((first, last))
}

/// Runs `by_range` (?1, ?2: first and last rowid; ?3: account) over close
/// rowids, `by_list` (?1: JSON list; ?2: account) otherwise, hands each row
/// whose first column is a wanted rowid to `row` (with its index in
/// `wanted`), and returns what `row` made of them, sorted by rowid.
fn read_wanted(
    c: &rusqlite::Connection,
    (by_range, by_list): (&str, &str),
    account: AccountId,
    wanted: &[(i64, Arc<str>)],
    mut row: impl FnMut(usize, &rusqlite::Row<'_>) -> Result<Option<Fetched>>,
) -> Result<Vec<Fetched>> {
    let mut stmt;
    let mut rows = match dense(wanted) {
        Some((first, last)) => {
            stmt = c.prepare_cached(by_range)?;
            stmt.query(params![first, last, account.0])?
        }
        None => {
            let list = commit::json_list(&wanted.iter().map(|w| w.0).collect::<Vec<_>>());
            stmt = c.prepare_cached(by_list)?;
            stmt.query(params![list, account.0])?
        }
    };
    let mut got = Vec::with_capacity(wanted.len());
    while let Some(r) = rows.next()? {
        let blob: i64 = r.get(0)?;
        if let Ok(i) = wanted.binary_search_by_key(&blob, |w| w.0)
            && let Some(f) = row(i, r)?
        {
            got.push(f);
        }
    }
    got.sort_unstable_by_key(|f| f.blob);
    Ok(got)
}

/// The requested columns of `wanted` (sorted by rowid) from `blobs`.
fn read_blobs(
    c: &rusqlite::Connection,
    queries: &ChunkQueries,
    account: AccountId,
    wanted: &[(i64, Arc<str>)],
    need: &FetchNeed,
) -> Result<Vec<Fetched>> {
    let (names, mut buf) = (field_names(need), Vec::new());
    let sql = (queries.by_range.as_str(), queries.by_list.as_str());
    read_wanted(c, sql, account, wanted, |i, r| {
        if *wanted[i].1 != *text(r, 1)? {
            return Ok(None);
        }
        let mut f = Fetched {
            blob: wanted[i].0,
            ..Fetched::default()
        };
        let mut col = 2;
        if need.meta {
            if let Some(b) = bytes(r.get_ref(col)?) {
                f.meta = Some(Arc::new(ingest::decode_meta(b)?));
            }
            col += 1;
        }
        if need.header {
            f.header = bytes(r.get_ref(col)?).map(|b| filtered(b, names.as_deref(), &mut buf));
            col += 1;
        }
        if need.rendered
            && let Some(b) = bytes(r.get_ref(col)?)
        {
            f.rendered = Some(Arc::new(ingest::decode_rendered(b)?));
        }
        Ok(Some(f))
    })
}

/// The listed header fields of `wanted` (sorted by rowid) from
/// `blob_fields`; content without a matching row there is left out.
fn read_listed(
    c: &rusqlite::Connection,
    account: AccountId,
    wanted: &[(i64, Arc<str>)],
    need: &FetchNeed,
) -> Result<Vec<Fetched>> {
    let (names, mut buf) = (field_names(need), Vec::new());
    let sql = (
        "SELECT blob, tag, fields FROM blob_fields
         WHERE blob BETWEEN ?1 AND ?2 AND +account_id = ?3",
        "SELECT blob, tag, fields FROM blob_fields
         WHERE blob IN (SELECT value FROM json_each(?1)) AND +account_id = ?2",
    );
    read_wanted(c, sql, account, wanted, |i, r| {
        if ingest::hash_tag(&wanted[i].1) != r.get::<_, i64>(1)? {
            return Ok(None);
        }
        Ok(Some(Fetched {
            blob: wanted[i].0,
            header: bytes(r.get_ref(2)?).map(|b| filtered(b, names.as_deref(), &mut buf)),
            ..Fetched::default()
        }))
    })
}

fn field_names(need: &FetchNeed) -> Option<Vec<&[u8]>> {
    need.header_fields
        .as_ref()
        .map(|f| f.iter().map(Vec::as_slice).collect())
}

/// A header block, cut down to the named fields if names are given
/// (`buf` is scratch space, kept across the messages of a chunk).
fn filtered(block: &[u8], names: Option<&[&[u8]]>, buf: &mut Vec<u8>) -> Arc<[u8]> {
    match names {
        Some(names) => {
            buf.clear();
            crispin_mime::header_fields_into(block, names, false, buf);
            Arc::from(buf.as_slice())
        }
        None => Arc::from(block),
    }
}

/// A BLOB (or TEXT) column's bytes; None for NULL.
fn bytes(v: rusqlite::types::ValueRef<'_>) -> Option<&[u8]> {
    match v {
        rusqlite::types::ValueRef::Blob(b) | rusqlite::types::ValueRef::Text(b) => Some(b),
        _ => None,
    }
}

/// A text column borrowed from the row, without a copy.
fn text<'r>(r: &'r rusqlite::Row<'_>, i: usize) -> rusqlite::Result<&'r str> {
    Ok(r.get_ref(i)?.as_str()?)
}

fn to_date(ts: i64, tz: i64) -> DateTime<FixedOffset> {
    let offset = FixedOffset::east_opt(tz as i32).unwrap_or(chrono::Utc.fix());
    DateTime::from_timestamp(ts, 0)
        .unwrap_or(DateTime::UNIX_EPOCH)
        .with_timezone(&offset)
}

#[async_trait]
impl Store for SqliteStore {
    async fn create_account(&self, name: &str, credentials: &Credentials) -> Result<AccountId> {
        let (name, credentials) = (crate::account_name(name), credentials.clone());
        self.write(move |c| Ok((commit::create_account(c, &name, &credentials)?, Vec::new())))
            .await
    }

    async fn delete_account(&self, name: &str) -> Result<()> {
        let name = self.stored_name(name).await?;
        let (id, mailboxes) = self
            .write(move |c| Ok((commit::delete_account(c, &name)?, Vec::new())))
            .await?;
        // Sessions and caches forget them (their ids may come back).
        for mailbox in mailboxes {
            self.notes.unlogged(mailbox, u64::MAX);
        }
        self.recent
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|(a, _), _| *a != id);
        self.blobs.remove_account(id)?;
        Ok(())
    }

    async fn set_credentials(&self, name: &str, credentials: &Credentials) -> Result<()> {
        let name = self.stored_name(name).await?;
        let credentials = credentials.clone();
        self.write(move |c| Ok((commit::set_credentials(c, &name, &credentials)?, Vec::new())))
            .await
    }

    async fn account(&self, name: &str) -> Result<Option<Account>> {
        let wanted = crate::account_name(name);
        if let Some(a) = self.account_exactly(&wanted)? {
            return Ok(Some(a));
        }
        // A name stored before names were folded, that migration 0012
        // could not fold (it would have met another account's).
        if wanted != name {
            return self.account_exactly(name);
        }
        Ok(None)
    }

    async fn list_accounts(&self) -> Result<Vec<String>> {
        Ok(
            sqlx::query_scalar("SELECT name FROM accounts ORDER BY name")
                .fetch_all(&self.reader)
                .await?,
        )
    }

    async fn list_mailboxes(&self, account: AccountId) -> Result<Vec<MailboxInfo>> {
        let rows = sqlx::query(
            "SELECT mailbox_id, name, special_use FROM mailboxes WHERE account_id = ? ORDER BY name",
        )
        .bind(account.0)
        .fetch_all(&self.reader)
        .await?;
        Ok(rows
            .iter()
            .map(|r| MailboxInfo {
                id: MailboxId(r.get(0)),
                name: r.get(1),
                special_use: r.get(2),
            })
            .collect())
    }

    async fn mailbox(&self, account: AccountId, name: &str) -> Result<Option<MailboxInfo>> {
        self.readers.now(|c| {
            Ok(c.prepare_cached(
                "SELECT mailbox_id, name, special_use FROM mailboxes
                 WHERE account_id = ? AND name = ?",
            )?
            .query_row(params![account.0, name], |r| {
                Ok(MailboxInfo {
                    id: MailboxId(r.get(0)?),
                    name: r.get(1)?,
                    special_use: r.get(2)?,
                })
            })
            .optional()?)
        })
    }

    async fn create_mailbox(
        &self,
        account: AccountId,
        name: &str,
        special_use: Option<&str>,
    ) -> Result<MailboxId> {
        let (name, special_use) = (name.to_string(), special_use.map(str::to_string));
        self.write(move |c| {
            let id = commit::create_mailbox(c, account, &name, special_use.as_deref())?;
            Ok((id, Vec::new()))
        })
        .await
    }

    async fn delete_mailbox(&self, account: AccountId, mailbox: MailboxId) -> Result<()> {
        let gone = self
            .write(move |c| Ok((commit::delete_mailbox(c, account, mailbox)?, Vec::new())))
            .await?;
        self.remove_files(account, &gone);
        self.recent
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&(account, mailbox));
        // Sessions that have it selected learn it is gone.
        self.notes.unlogged(mailbox, u64::MAX);
        Ok(())
    }

    async fn rename_mailbox(&self, account: AccountId, from: &str, to: &str) -> Result<()> {
        let (from, to) = (from.to_string(), to.to_string());
        self.write(move |c| commit::rename_mailbox(c, account, &from, &to))
            .await
    }

    async fn subscriptions(&self, account: AccountId) -> Result<Vec<String>> {
        Ok(
            sqlx::query_scalar("SELECT name FROM subscriptions WHERE account_id = ? ORDER BY name")
                .bind(account.0)
                .fetch_all(&self.reader)
                .await?,
        )
    }

    async fn set_subscribed(&self, account: AccountId, name: &str, on: bool) -> Result<()> {
        let name = name.to_string();
        self.write(move |c| Ok((commit::set_subscribed(c, account, &name, on)?, Vec::new())))
            .await
    }

    async fn status(&self, account: AccountId, mailbox: MailboxId) -> Result<MailboxStatus> {
        let recent_floor = self
            .recent
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&(account, mailbox))
            .copied()
            .unwrap_or(0);
        // One pass over the mailbox's messages.
        let row = sqlx::query(
            "SELECT mb.uid_validity, mb.uid_next, mb.highest_modseq,
               COUNT(m.uid),
               COALESCE(SUM((m.flags & 1) = 0), 0),
               COALESCE(SUM((m.flags & 8) != 0), 0),
               COALESCE(SUM(m.size), 0),
               COALESCE(SUM(m.uid >= MAX(mb.recent_uid, ?3)), 0)
             FROM mailboxes mb
             LEFT JOIN messages m ON m.account_id = mb.account_id AND m.mailbox_id = mb.mailbox_id
             WHERE mb.account_id = ?1 AND mb.mailbox_id = ?2
             GROUP BY mb.mailbox_id",
        )
        .bind(account.0)
        .bind(mailbox.0)
        .bind(i64::from(recent_floor))
        .fetch_optional(&self.reader)
        .await?
        .ok_or(StoreError::NoMailbox)?;
        Ok(MailboxStatus {
            uid_validity: row.get::<i64, _>(0) as u32,
            uid_next: row.get::<i64, _>(1) as u32,
            highest_modseq: row.get::<i64, _>(2) as u64,
            messages: row.get::<i64, _>(3) as u32,
            unseen: row.get::<i64, _>(4) as u32,
            deleted: row.get::<i64, _>(5) as u32,
            size: row.get::<i64, _>(6) as u64,
            recent: row.get::<i64, _>(7) as u32,
        })
    }

    async fn snapshot(&self, account: AccountId, mailbox: MailboxId) -> Result<Snapshot> {
        let index = self.mailbox_index(account, mailbox).await?;
        Ok(Snapshot {
            uid_validity: index.uid_validity,
            uid_next: index.uid_next,
            highest_modseq: index.modseq,
            uids: index.entries.iter().map(|e| e.uid).collect(),
            first_unseen_uid: index
                .entries
                .iter()
                .find(|e| !e.flags.has(flag::SEEN))
                .map(|e| e.uid),
            keywords: index.keywords.clone(),
        })
    }

    async fn changes_since(
        &self,
        account: AccountId,
        mailbox: MailboxId,
        modseq: u64,
        fresh: bool,
    ) -> Result<Changes> {
        if !fresh && let Some(changes) = self.notes.log.since(account, mailbox, modseq) {
            return Ok(changes);
        }
        let mut tx = self.reader.begin().await?;
        let (keywords, highest_modseq, _, _) =
            Self::mailbox_keywords(&mut tx, account, mailbox).await?;
        let mut changes = Changes {
            highest_modseq,
            keywords: Some(keywords),
            ..Changes::default()
        };
        if highest_modseq > modseq {
            let rows = sqlx::query(
                "SELECT uid, flags, keywords, modseq FROM messages
                 WHERE account_id = ? AND mailbox_id = ? AND modseq > ? ORDER BY uid",
            )
            .bind(account.0)
            .bind(mailbox.0)
            .bind(modseq as i64)
            .fetch_all(&mut *tx)
            .await?;
            changes.updated = rows
                .iter()
                .map(|r| {
                    (
                        r.get::<i64, _>(0) as u32,
                        Flags::from_parts(r.get(1), r.get::<&str, _>(2)),
                        r.get::<i64, _>(3) as u64,
                    )
                })
                .collect();
            changes.expunged = sqlx::query_scalar::<_, i64>(
                "SELECT uid FROM expunged WHERE account_id = ? AND mailbox_id = ? AND modseq > ?
                 ORDER BY uid",
            )
            .bind(account.0)
            .bind(mailbox.0)
            .bind(modseq as i64)
            .fetch_all(&mut *tx)
            .await?
            .into_iter()
            .map(|u| u as u32)
            .collect();
        }
        tx.commit().await?;
        Ok(changes)
    }

    async fn claim_recent(
        &self,
        account: AccountId,
        mailbox: MailboxId,
        uid_next: u32,
    ) -> Result<u32> {
        let known = self
            .recent
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&(account, mailbox))
            .copied();
        let loaded = match known {
            Some(w) => w,
            None => self.recent_watermark(account, mailbox).await?,
        };
        let mut map = self.recent.lock().unwrap_or_else(|e| e.into_inner());
        let w = map.entry((account, mailbox)).or_insert(loaded);
        let first = *w;
        *w = (*w).max(uid_next);
        Ok(first.max(1))
    }

    fn watch(&self, mailbox: MailboxId) -> watch::Receiver<u64> {
        self.notes.feed.subscribe(mailbox)
    }

    async fn append(
        &self,
        account: AccountId,
        mailbox: MailboxId,
        message: NewMessage,
    ) -> Result<Appended> {
        self.append_queued(account, mailbox, message).await?.await
    }

    async fn append_queued(
        &self,
        account: AccountId,
        mailbox: MailboxId,
        message: NewMessage,
    ) -> Result<BoxFuture<'static, Result<Appended>>> {
        // Parsing is CPU work and storing a file means fsync: neither may
        // block the runtime's worker threads.
        let blobs = self.blobs.clone();
        let data = message.data;
        let (prepared, inline) = tokio::task::spawn_blocking(move || {
            let mut p = ingest::prepare(data)?;
            let data = std::mem::replace(&mut p.data, MessageData::Bytes(Vec::new()));
            if p.size <= INLINE_BLOB {
                let bytes = match data {
                    MessageData::Bytes(b) => b,
                    MessageData::File(f) => std::fs::read(f.path())?,
                };
                Ok::<_, StoreError>((p, Some(bytes)))
            } else {
                // The file first: a crash after this leaves at worst an
                // unreferenced file, never a message without its bytes.
                blobs.put(account, &p.hash, data)?;
                Ok((p, None))
            }
        })
        .await
        .map_err(|e| StoreError::Other(e.to_string()))??;
        let job = commit::AppendJob {
            account,
            mailbox,
            prepared,
            inline,
            flags: message.flags,
            internal_date: message.internal_date,
            skip_if_present: message.skip_if_present,
        };
        let done = self.enqueue(move |c| commit::append(c, &job)).await?;
        Ok(Box::pin(done))
    }

    async fn fetch(
        &self,
        account: AccountId,
        mailbox: MailboxId,
        uids: &[u32],
        need: FetchNeed,
    ) -> Result<Vec<MessageRecord>> {
        // Flags, dates, sizes and content addresses come from the mailbox
        // index; only the per-message metadata is read here, one or two
        // columns a row (every column sqlx hands over costs an allocation).
        let index = self.mailbox_index(account, mailbox).await?;
        let entries = index.select(uids);
        let record = |e: &IndexEntry| MessageRecord {
            uid: e.uid,
            flags: e.flags.clone(),
            modseq: e.modseq,
            internal_date: to_date(e.internal_date, i64::from(e.internal_tz)),
            size: e.size,
            blob: e.hash.clone(),
            meta: None,
            rendered: None,
            header: None,
        };
        if !need.meta && !need.header && !need.rendered {
            return Ok(entries.into_iter().map(record).collect());
        }
        // The fields mail clients list messages by were cut from each header
        // at ingest into a narrow table: a FETCH of only those reads a tenth
        // of the pages a walk of the blob rows would.
        let listed = !need.meta
            && !need.rendered
            && need
                .header_fields
                .as_ref()
                .is_some_and(|f| f.iter().all(|n| ingest::is_listed(n)));
        let mut columns = String::from("rowid, hash");
        for (wanted, column) in [
            (need.meta, ", meta"),
            (need.header, ", header"),
            (need.rendered, ", imap"),
        ] {
            if wanted {
                columns.push_str(column);
            }
        }
        let queries = Arc::new(ChunkQueries {
            // By the content's rowid, which the index holds: one lookup a
            // message instead of a walk of the messages and of the hash
            // index. (`+` keeps the planner off the account index: it would
            // scan all of the account's blobs.)
            by_list: format!(
                "SELECT {columns} FROM blobs
                 WHERE rowid IN (SELECT value FROM json_each(?1)) AND +account_id = ?2"
            ),
            // Content stored one message after another (a mailbox filled in
            // order) has rowids close together: one walk along them is
            // cheaper than a lookup each, and the rows nobody asked for are
            // skipped.
            by_range: format!(
                "SELECT {columns} FROM blobs
                 WHERE rowid BETWEEN ?1 AND ?2 AND +account_id = ?3"
            ),
        });
        let mut out = Vec::with_capacity(entries.len());
        for chunk in entries.chunks(commit::UID_CHUNK) {
            // The content each row must hold: a rowid used again by other
            // content since the index was read means this message's is gone.
            let mut wanted: Vec<(i64, Arc<str>)> =
                chunk.iter().map(|e| (e.blob, e.hash.clone())).collect();
            wanted.sort_unstable_by_key(|w| w.0);
            wanted.dedup_by_key(|w| w.0);
            let (need, queries) = (need.clone(), queries.clone());
            let read = move |c: &rusqlite::Connection| -> Result<Vec<Fetched>> {
                if !listed {
                    return read_blobs(c, &queries, account, &wanted, &need);
                }
                let mut got = read_listed(c, account, &wanted, &need)?;
                // Content without a matching row there (an upgrade's fill-in
                // cut short, a row left for a rowid used again) is read from
                // its header.
                let missing: Vec<(i64, Arc<str>)> = wanted
                    .into_iter()
                    .filter(|w| got.binary_search_by_key(&w.0, |f| f.blob).is_err())
                    .collect();
                if !missing.is_empty() {
                    got.extend(read_blobs(c, &queries, account, &missing, &need)?);
                    got.sort_unstable_by_key(|f| f.blob);
                }
                Ok(got)
            };
            // A few messages are read in place; many, off the runtime.
            let rows = if chunk.len() <= 16 {
                self.readers.now(read)?
            } else {
                self.readers.scan(read).await?
            };
            // Content gone since the index was read (its last message was
            // expunged) has no row: that message is left out.
            for e in chunk {
                let Ok(i) = rows.binary_search_by_key(&e.blob, |f| f.blob) else {
                    continue;
                };
                let f = &rows[i];
                out.push(MessageRecord {
                    meta: f.meta.clone(),
                    header: f.header.clone(),
                    rendered: f.rendered.clone(),
                    ..record(e)
                });
            }
        }
        Ok(out)
    }

    async fn read_blob(
        &self,
        account: AccountId,
        blob: &str,
        start: u64,
        len: u64,
    ) -> Result<Vec<u8>> {
        let inline = self.readers.now(|c| {
            Ok(c.prepare_cached(
                "SELECT substr(data, ?, ?) FROM blob_data WHERE account_id = ? AND hash = ?",
            )?
            .query_row(
                params![
                    start.min(i64::MAX as u64 - 1) as i64 + 1,
                    len.min(i64::MAX as u64) as i64,
                    account.0,
                    blob
                ],
                |r| r.get::<_, Vec<u8>>(0),
            )
            .optional()?)
        })?;
        if let Some(data) = inline {
            return Ok(data);
        }
        let blobs = self.blobs.clone();
        let blob = blob.to_string();
        tokio::task::spawn_blocking(move || blobs.read_range(account, &blob, start, len))
            .await
            .map_err(|e| StoreError::Other(e.to_string()))?
            .map_err(StoreError::from)
    }

    async fn store_flags(
        &self,
        account: AccountId,
        mailbox: MailboxId,
        uids: &[u32],
        op: FlagOp,
        flags: &Flags,
    ) -> Result<StoreResult> {
        let (uids, flags) = (uids.to_vec(), flags.clone());
        self.write(move |c| commit::store_flags(c, account, mailbox, &uids, op, &flags))
            .await
    }

    async fn expunge(
        &self,
        account: AccountId,
        mailbox: MailboxId,
        uids: Option<&[u32]>,
    ) -> Result<Vec<u32>> {
        // Sorted: the write looks each \Deleted message up in the list (by
        // binary search), and callers need not sort.
        let uids = uids.map(|u| {
            let mut v = u.to_vec();
            v.sort_unstable();
            v
        });
        let (deleted, gone) = self
            .write(move |c| commit::expunge(c, account, mailbox, uids.as_deref()))
            .await?;
        self.remove_files(account, &gone);
        Ok(deleted)
    }

    async fn copy(
        &self,
        account: AccountId,
        from: MailboxId,
        uids: &[u32],
        to: MailboxId,
        is_move: bool,
    ) -> Result<CopyResult> {
        let uids = uids.to_vec();
        self.write(move |c| commit::copy(c, account, from, &uids, to, is_move))
            .await
    }

    async fn search(
        &self,
        account: AccountId,
        mailbox: MailboxId,
        query: &Query,
    ) -> Result<Vec<u32>> {
        let query = &self.answer_text_keys(account, query).await?;
        let (headers, body) = (query.needs_headers(), query.needs_body());
        if !headers && !body {
            let index = self.mailbox_index(account, mailbox).await?;
            return Ok(index
                .entries
                .iter()
                .filter(|e| {
                    search::matches(
                        query,
                        &search::Row {
                            uid: e.uid,
                            hash: &e.hash,
                            flags: &e.flags,
                            internal_date: to_date(e.internal_date, i64::from(e.internal_tz)),
                            size: e.size,
                            sent_day: e.sent_day.and_then(ingest::day_from_int),
                            headers: "",
                            body: "",
                        },
                    )
                })
                .map(|e| e.uid)
                .collect());
        }
        let query = query.clone();
        self.readers
            .scan(move |c| {
                let mut q = c.prepare_cached(
                    "SELECT m.uid, m.flags, m.keywords, m.internal_date, m.internal_tz, m.size,
                            b.sent_day,
                            CASE WHEN ?3 THEN b.search_headers ELSE '' END,
                            CASE WHEN ?4 THEN
                              COALESCE((SELECT t.body FROM blob_text t
                                        WHERE t.account_id = m.account_id AND t.hash = m.hash),
                                       '') ELSE '' END,
                            m.hash
                     FROM messages m JOIN blobs b ON b.account_id = m.account_id AND b.hash = m.hash
                     WHERE m.account_id = ?1 AND m.mailbox_id = ?2 ORDER BY m.uid",
                )?;
                let mut rows = q.query(params![account.0, mailbox.0, headers, body])?;
                let mut out = Vec::new();
                while let Some(r) = rows.next()? {
                    let flags = Flags::from_parts(r.get(1)?, text(r, 2)?);
                    let row = search::Row {
                        uid: r.get::<_, i64>(0)? as u32,
                        hash: text(r, 9)?,
                        flags: &flags,
                        internal_date: to_date(r.get(3)?, r.get(4)?),
                        size: r.get::<_, i64>(5)? as u64,
                        sent_day: r.get::<_, Option<i64>>(6)?.and_then(ingest::day_from_int),
                        headers: text(r, 7)?,
                        body: text(r, 8)?,
                    };
                    if search::matches(&query, &row) {
                        out.push(row.uid);
                    }
                }
                Ok(out)
            })
            .await
    }
}

/// Messages up to this size are kept in the database, where the commit's
/// one fsync covers them; larger ones are files (an fsync each, plus the
/// directory's).
const INLINE_BLOB: u64 = 128 * 1024;

#[cfg(test)]
mod tests {
    use super::*;

    /// The driver's errors stay in the backend: a full disk is `Full`
    /// (whichever driver saw it), anything else `Backend`, which a shared
    /// commit's writes each get as text.
    #[test]
    fn driver_errors_become_full_or_backend() {
        let failure = |code| rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(code), None);
        assert!(matches!(
            StoreError::from(failure(rusqlite::ffi::SQLITE_FULL)),
            StoreError::Full
        ));
        let busy = StoreError::from(failure(rusqlite::ffi::SQLITE_BUSY));
        assert!(matches!(busy, StoreError::Backend(_)), "{busy:?}");
        assert!(busy.to_string().starts_with("database error: "), "{busy}");
        assert!(matches!(busy.shared(), StoreError::Other(_)));
        let io = std::io::Error::from(std::io::ErrorKind::StorageFull);
        assert!(matches!(
            StoreError::from(sqlx::Error::Io(io)),
            StoreError::Full
        ));
        assert!(matches!(
            StoreError::from(sqlx::Error::RowNotFound),
            StoreError::Backend(_)
        ));
    }

    #[tokio::test]
    async fn the_look_for_unrendered_blobs_does_not_scan_the_table() {
        let dir = tempfile::tempdir().unwrap();
        SqliteStore::open(dir.path()).await.unwrap();
        let c = rusqlite::Connection::open(dir.path().join("crispin.db")).unwrap();
        let plan: String = c
            .query_row(&format!("EXPLAIN QUERY PLAN {UNRENDERED}"), [], |r| {
                r.get(3)
            })
            .unwrap();
        assert!(plan.contains("USING INDEX blobs_unrendered"), "{plan}");
    }
}
