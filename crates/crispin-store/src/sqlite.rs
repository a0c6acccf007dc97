//! The embedded backend: SQLite (WAL, synchronous=FULL) for metadata and
//! content-addressed files for message bytes.
//!
//! Writes go through a single connection so they never contend inside the
//! process; reads use a small pool and see committed data only.

use crate::blob::BlobFiles;
use crate::changelog::{ChangeLog, Entry};
use crate::feed::ChangeFeed;
use crate::index::{IndexCache, IndexEntry, MailboxIndex};
use crate::ingest::{self, Prepared};
use crate::search::{self, Query};
use crate::types::*;
use crate::{DEFAULT_MAILBOXES, Result, Store, StoreError};
use async_trait::async_trait;
use chrono::{DateTime, FixedOffset, Offset};
use futures_util::future::BoxFuture;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Row, Sqlite, Transaction};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

pub struct SqliteStore {
    writer: SqlitePool,
    reader: SqlitePool,
    blobs: Arc<BlobFiles>,
    tmp_dir: PathBuf,
    notes: Arc<Notifier>,
    /// Message writes (APPEND, STORE, EXPUNGE, COPY/MOVE) go to the
    /// group-commit task (see [`committer`]).
    writes: tokio::sync::mpsc::Sender<WriteJob>,
    /// First UID not yet reported as \Recent, per mailbox. Kept in memory
    /// (claiming must not cost a durable write per session) and saved on
    /// close; \Recent is advisory and gone from IMAP4rev2.
    recent: std::sync::Mutex<HashMap<MailboxId, u32>>,
    /// Per-mailbox message index (see [`crate::index`]).
    index: IndexCache,
}

type Tx = Transaction<'static, Sqlite>;

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
}

impl Notifier {
    /// After a commit: remember the change for catching-up sessions and
    /// wake them.
    fn committed(&self, account: AccountId, mailbox: MailboxId, entry: Entry) {
        let modseq = entry.modseq;
        self.log.record(account, mailbox, entry);
        self.publish(mailbox, modseq);
    }

    /// Publishes a committed change locally and, from a tool process, to
    /// the running server.
    fn publish(&self, mailbox: MailboxId, modseq: u64) {
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

/// UIDs per query when fetching, so huge FETCHes stream in batches.
const FETCH_BATCH: usize = 2000;

impl SqliteStore {
    /// Opens (creating if needed) the store in `dir`.
    pub async fn open(dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(dir)?;
        let options = SqliteConnectOptions::new()
            .filename(dir.join("crispin.db"))
            .create_if_missing(true)
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
        sqlx::migrate!("./migrations/sqlite")
            .run(&writer)
            .await
            .map_err(|e| StoreError::Other(format!("migration failed: {e}")))?;
        Self::backfill_rendered(&writer).await?;
        // Start with the WAL folded into the database: after a migration
        // it can hold most of it, and every read would look there first.
        sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
            .execute(&writer)
            .await?;
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
        let blobs = Arc::new(BlobFiles::open(&dir.join("blobs"), &tmp_dir)?);
        let notes = Arc::new(Notifier {
            feed: ChangeFeed::default(),
            log: ChangeLog::default(),
            feed_socket: dir.join("feed.sock"),
            notify_server: std::sync::atomic::AtomicBool::new(false),
        });
        let (writes, jobs) = tokio::sync::mpsc::channel(1024);
        // The committer gets a thread of its own: each statement is a
        // round trip to sqlx's connection thread, and waiting behind busy
        // session tasks for every wake-up made writes several times slower.
        let commit = committer(writer.clone(), notes.clone(), jobs);
        std::thread::Builder::new()
            .name("crispin-commit".into())
            .spawn(move || {
                match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt.block_on(commit),
                    // Dropping the job queue fails every write cleanly.
                    Err(e) => tracing::error!(error = %e, "cannot start the committer"),
                }
            })?;
        Ok(SqliteStore {
            writer,
            reader,
            blobs,
            tmp_dir,
            notes,
            writes,
            recent: std::sync::Mutex::default(),
            index: IndexCache::default(),
        })
    }

    fn committed(&self, account: AccountId, mailbox: MailboxId, entry: Entry) {
        self.notes.committed(account, mailbox, entry);
    }

    /// Derived data is rebuilt from what ingest stored: rows from before
    /// pre-rendering get their ENVELOPE/BODYSTRUCTURE text here, once.
    async fn backfill_rendered(writer: &SqlitePool) -> Result<()> {
        loop {
            let rows: Vec<(i64, Vec<u8>)> =
                sqlx::query_as("SELECT rowid, meta FROM blobs WHERE imap IS NULL LIMIT 1000")
                    .fetch_all(writer)
                    .await?;
            if rows.is_empty() {
                return Ok(());
            }
            let mut tx = writer.begin().await?;
            for (rowid, meta) in rows {
                let meta = ingest::decode_meta(&meta)?;
                let rendered = crate::Rendered::of(&meta).encode();
                sqlx::query("UPDATE blobs SET imap = ? WHERE rowid = ?")
                    .bind(rendered)
                    .bind(rowid)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
        }
    }

    fn publish(&self, mailbox: MailboxId, modseq: u64) {
        self.notes.publish(mailbox, modseq);
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
        let store = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut buf = [0u8; 64];
            while let Ok(n) = sock.recv(&mut buf).await {
                let Some(store) = store.upgrade() else { return };
                let text = String::from_utf8_lossy(&buf[..n]);
                if let Some((m, s)) = text.split_once(' ')
                    && let (Ok(m), Ok(s)) = (m.parse(), s.parse())
                {
                    // Our in-memory log did not see that change.
                    store.notes.log.invalidate(MailboxId(m));
                    store.notes.feed.publish(MailboxId(m), s);
                }
            }
        });
        Ok(())
    }

    /// Where spooled literals should go: on the blob file system, so that
    /// storing one is a rename, not a copy.
    pub fn spool_dir(&self) -> &Path {
        &self.tmp_dir
    }

    pub async fn close(&self) {
        let recent: Vec<(MailboxId, u32)> = self
            .recent
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|(m, u)| (*m, *u))
            .collect();
        for (mailbox, uid) in recent {
            let r = sqlx::query(
                "UPDATE mailboxes SET recent_uid = MAX(recent_uid, ?) WHERE mailbox_id = ?",
            )
            .bind(i64::from(uid))
            .bind(mailbox.0)
            .execute(&self.writer)
            .await;
            if let Err(e) = r {
                tracing::warn!(error = %e, "could not save \\Recent state");
            }
        }
        self.writer.close().await;
        self.reader.close().await;
    }

    /// Runs `work` in the group-commit task's next transaction and returns
    /// its result once that transaction is durable; the change notes are
    /// published right after the commit, in commit order.
    async fn write<T, F>(&self, work: F) -> Result<T>
    where
        T: Send + 'static,
        F: for<'t> FnOnce(&'t mut Tx) -> BoxFuture<'t, Result<(T, Vec<Note>)>> + Send + 'static,
    {
        let (reply, answer) = tokio::sync::oneshot::channel();
        let job: WriteJob = Box::new(move |tx| {
            Box::pin(async move {
                match work(tx).await {
                    Ok((value, notes)) => Pending {
                        failed: false,
                        notes,
                        finish: Box::new(move |commit_error| {
                            let _ = reply.send(match commit_error {
                                None => Ok(value),
                                Some(e) => Err(StoreError::Other(e.to_string())),
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
                }
            })
        });
        self.writes
            .send(job)
            .await
            .map_err(|_| StoreError::Other("the store is closed".into()))?;
        // A dropped reply means the batch failed before this job ran.
        answer
            .await
            .map_err(|_| StoreError::Other("the write was not committed".into()))?
    }

    async fn begin(&self) -> Result<Tx> {
        Ok(self.writer.begin_with("BEGIN IMMEDIATE").await?)
    }

    fn remove_files(&self, account: AccountId, hashes: &[String]) {
        for h in hashes {
            self.blobs.remove(account, h);
        }
    }

    /// Bumps and returns the mailbox's modseq within a transaction.
    async fn next_modseq(tx: &mut Tx, account: AccountId, mailbox: MailboxId) -> Result<u64> {
        let row = sqlx::query(
            "UPDATE mailboxes SET highest_modseq = highest_modseq + 1
             WHERE account_id = ? AND mailbox_id = ? RETURNING highest_modseq",
        )
        .bind(account.0)
        .bind(mailbox.0)
        .fetch_optional(&mut **tx)
        .await?
        .ok_or(StoreError::NoMailbox)?;
        Ok(row.get::<i64, _>(0) as u64)
    }

    /// Adds keywords to the mailbox's list; true when the list grew.
    async fn add_keywords(
        tx: &mut Tx,
        account: AccountId,
        mailbox: MailboxId,
        keywords: &[String],
    ) -> Result<Option<Vec<String>>> {
        if keywords.is_empty() {
            return Ok(None);
        }
        let current: String = sqlx::query_scalar(
            "SELECT keywords FROM mailboxes WHERE account_id = ? AND mailbox_id = ?",
        )
        .bind(account.0)
        .bind(mailbox.0)
        .fetch_one(&mut **tx)
        .await?;
        let mut list = Flags::from_parts(0, &current);
        let before = list.keywords.len();
        for k in keywords {
            if !list.has_keyword(k) {
                list.keywords.push(k.clone());
            }
        }
        if list.keywords.len() == before {
            return Ok(None);
        }
        sqlx::query("UPDATE mailboxes SET keywords = ? WHERE account_id = ? AND mailbox_id = ?")
            .bind(list.keywords_text())
            .bind(account.0)
            .bind(mailbox.0)
            .execute(&mut **tx)
            .await?;
        Ok(Some(list.keywords))
    }

    async fn new_uid_validity(tx: &mut Tx, account: AccountId) -> Result<i64> {
        // The clock makes values unlikely to repeat across a lost database;
        // the counter makes them never repeat within one.
        let now = chrono::Utc::now().timestamp().clamp(1, u32::MAX as i64 - 1);
        let v: i64 = sqlx::query_scalar(
            "UPDATE accounts SET last_uid_validity = MAX(last_uid_validity + 1, ?)
             WHERE account_id = ? RETURNING last_uid_validity",
        )
        .bind(now)
        .bind(account.0)
        .fetch_optional(&mut **tx)
        .await?
        .ok_or(StoreError::NoAccount)?;
        if v > u32::MAX as i64 {
            return Err(StoreError::Other("UIDVALIDITY space exhausted".into()));
        }
        Ok(v)
    }

    async fn insert_mailbox(
        tx: &mut Tx,
        account: AccountId,
        name: &str,
        special_use: Option<&str>,
    ) -> Result<MailboxId> {
        let uid_validity = Self::new_uid_validity(tx, account).await?;
        let r = sqlx::query(
            "INSERT INTO mailboxes (account_id, name, special_use, uid_validity)
             VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING RETURNING mailbox_id",
        )
        .bind(account.0)
        .bind(name)
        .bind(special_use)
        .bind(uid_validity)
        .fetch_optional(&mut **tx)
        .await?;
        r.map(|r| MailboxId(r.get(0)))
            .ok_or(StoreError::MailboxExists)
    }

    async fn insert_blob(tx: &mut Tx, account: AccountId, p: &Prepared) -> Result<()> {
        let row = sqlx::query(
            "INSERT INTO blobs (account_id, hash, size, refcount, meta, header, sent_day,
                                search_headers, imap)
             VALUES (?, ?, ?, 1, ?, ?, ?, ?, ?)
             ON CONFLICT (account_id, hash) DO UPDATE SET refcount = refcount + 1
             RETURNING rowid, refcount",
        )
        .bind(account.0)
        .bind(&p.hash)
        .bind(p.size as i64)
        .bind(&p.meta)
        .bind(&p.header)
        .bind(p.sent_day)
        .bind(&p.search_headers)
        .bind(&p.rendered)
        .fetch_one(&mut **tx)
        .await?;
        // A new blob: keep and index its text for SEARCH.
        if row.get::<i64, _>(1) == 1 {
            sqlx::query("INSERT INTO blob_text (account_id, hash, body) VALUES (?, ?, ?)")
                .bind(account.0)
                .bind(&p.hash)
                .bind(&p.search_body)
                .execute(&mut **tx)
                .await?;
            sqlx::query("INSERT INTO search_fts (rowid, headers) VALUES (?, ?)")
                .bind(row.get::<i64, _>(0))
                .bind(&p.search_headers)
                .execute(&mut **tx)
                .await?;
        }
        Ok(())
    }

    /// Deletes messages with tombstones at `modseq`; returns the hashes of
    /// blobs no message refers to any more (their files go after commit).
    async fn store_flags_tx(
        tx: &mut Tx,
        account: AccountId,
        mailbox: MailboxId,
        uids: &[u32],
        op: FlagOp,
        flags: &Flags,
    ) -> Result<(StoreResult, Vec<Note>)> {
        let mut result = StoreResult::default();
        let mut keywords = None;
        let mut modseq = None;
        for (uid, old) in Self::flags_of(tx, account, mailbox, uids).await? {
            let new = old.apply(op, flags);
            let same = new.system == old.system
                && new.keywords.len() == old.keywords.len()
                && new.keywords.iter().all(|k| old.has_keyword(k));
            if !same {
                let m = match modseq {
                    Some(m) => m,
                    None => {
                        let m = Self::next_modseq(tx, account, mailbox).await?;
                        modseq = Some(m);
                        m
                    }
                };
                sqlx::query(
                    "UPDATE messages SET flags = ?, keywords = ?, modseq = ?
                     WHERE account_id = ? AND mailbox_id = ? AND uid = ?",
                )
                .bind(i64::from(new.system))
                .bind(new.keywords_text())
                .bind(m as i64)
                .bind(account.0)
                .bind(mailbox.0)
                .bind(i64::from(uid))
                .execute(&mut **tx)
                .await?;
                result.changed.push((uid, new.clone()));
            }
            result.current.push((uid, new));
        }
        if modseq.is_some() {
            keywords = Self::add_keywords(tx, account, mailbox, &flags.keywords).await?;
            result.keywords_changed = keywords.is_some();
        }
        let mut notes = Vec::new();
        if let Some(m) = modseq {
            result.modseq = m;
            notes.push((
                account,
                mailbox,
                Entry {
                    modseq: m,
                    updated: result.changed.clone(),
                    expunged: Vec::new(),
                    keywords,
                },
            ));
        }
        Ok((result, notes))
    }

    /// Expunges the \\Deleted messages (of `uids`, if given); returns them
    /// and the blobs left without a reference.
    async fn expunge_tx(
        tx: &mut Tx,
        account: AccountId,
        mailbox: MailboxId,
        uids: Option<&[u32]>,
    ) -> Result<((Vec<u32>, Vec<String>), Vec<Note>)> {
        let deleted: Vec<u32> = sqlx::query_scalar::<_, i64>(
            "SELECT uid FROM messages WHERE account_id = ? AND mailbox_id = ? AND (flags & 8) != 0
             ORDER BY uid",
        )
        .bind(account.0)
        .bind(mailbox.0)
        .fetch_all(&mut **tx)
        .await?
        .into_iter()
        .map(|u| u as u32)
        .filter(|u| uids.is_none_or(|set| set.binary_search(u).is_ok()))
        .collect();
        if deleted.is_empty() {
            return Ok(((deleted, Vec::new()), Vec::new()));
        }
        let modseq = Self::next_modseq(tx, account, mailbox).await?;
        let gone = Self::remove_messages(tx, account, mailbox, &deleted, modseq).await?;
        let note = (
            account,
            mailbox,
            Entry {
                modseq,
                expunged: deleted.clone(),
                ..Entry::default()
            },
        );
        Ok(((deleted, gone), vec![note]))
    }

    async fn copy_tx(
        tx: &mut Tx,
        account: AccountId,
        from: MailboxId,
        uids: &[u32],
        to: MailboxId,
        is_move: bool,
    ) -> Result<(CopyResult, Vec<Note>)> {
        let sources = Self::flags_of(tx, account, from, uids).await?;
        let count = sources.len() as i64;
        let row = sqlx::query(
            "UPDATE mailboxes SET uid_next = uid_next + ?, highest_modseq = highest_modseq + 1
             WHERE account_id = ? AND mailbox_id = ?
             RETURNING uid_next - ?, highest_modseq, uid_validity",
        )
        .bind(count)
        .bind(account.0)
        .bind(to.0)
        .bind(count)
        .fetch_optional(&mut **tx)
        .await?
        .ok_or(StoreError::NoMailbox)?;
        let first_uid = row.get::<i64, _>(0);
        let dest_modseq = row.get::<i64, _>(1);
        let mut result = CopyResult {
            uid_validity: row.get::<i64, _>(2) as u32,
            pairs: Vec::with_capacity(sources.len()),
            dest_modseq: dest_modseq as u64,
        };
        let mut keywords: Vec<String> = Vec::new();
        for (i, (uid, flags)) in sources.iter().enumerate() {
            let new_uid = first_uid + i as i64;
            // MOVE keeps \Recent semantics aside; the copy gets the flags.
            sqlx::query(
                "INSERT INTO messages (account_id, mailbox_id, uid, modseq, flags, keywords,
                                       internal_date, internal_tz, size, hash)
                 SELECT account_id, ?, ?, ?, flags, keywords, internal_date, internal_tz, size, hash
                 FROM messages WHERE account_id = ? AND mailbox_id = ? AND uid = ?",
            )
            .bind(to.0)
            .bind(new_uid)
            .bind(dest_modseq)
            .bind(account.0)
            .bind(from.0)
            .bind(i64::from(*uid))
            .execute(&mut **tx)
            .await?;
            sqlx::query(
                "UPDATE blobs SET refcount = refcount + 1 WHERE account_id = ? AND hash =
                 (SELECT hash FROM messages WHERE account_id = ? AND mailbox_id = ? AND uid = ?)",
            )
            .bind(account.0)
            .bind(account.0)
            .bind(from.0)
            .bind(i64::from(*uid))
            .execute(&mut **tx)
            .await?;
            for k in &flags.keywords {
                if !keywords.iter().any(|x| x.eq_ignore_ascii_case(k)) {
                    keywords.push(k.clone());
                }
            }
            result.pairs.push((*uid, new_uid as u32));
        }
        let dest_keywords = Self::add_keywords(tx, account, to, &keywords).await?;
        let mut source_modseq = None;
        if is_move && !sources.is_empty() {
            let m = Self::next_modseq(tx, account, from).await?;
            let moved: Vec<u32> = sources.iter().map(|s| s.0).collect();
            // The copies hold references, so no blob can go here.
            Self::remove_messages(tx, account, from, &moved, m).await?;
            source_modseq = Some(m);
        }
        let flags_of: HashMap<u32, &Flags> = sources.iter().map(|(u, f)| (*u, f)).collect();
        let mut notes = vec![(
            account,
            to,
            Entry {
                modseq: dest_modseq as u64,
                updated: result
                    .pairs
                    .iter()
                    .filter_map(|(src, dst)| flags_of.get(src).map(|f| (*dst, (*f).clone())))
                    .collect(),
                expunged: Vec::new(),
                keywords: dest_keywords,
            },
        )];
        if let Some(m) = source_modseq {
            notes.push((
                account,
                from,
                Entry {
                    modseq: m,
                    expunged: result.pairs.iter().map(|p| p.0).collect(),
                    ..Entry::default()
                },
            ));
        }
        Ok((result, notes))
    }

    async fn remove_messages(
        tx: &mut Tx,
        account: AccountId,
        mailbox: MailboxId,
        uids: &[u32],
        modseq: u64,
    ) -> Result<Vec<String>> {
        let mut gone = Vec::new();
        for chunk in uids.chunks(FETCH_BATCH) {
            let list = uid_json(chunk);
            let per_hash: Vec<(String, i64)> = sqlx::query_as(
                "SELECT hash, COUNT(*) FROM messages WHERE account_id = ? AND mailbox_id = ?
                 AND uid IN (SELECT value FROM json_each(?)) GROUP BY hash",
            )
            .bind(account.0)
            .bind(mailbox.0)
            .bind(&list)
            .fetch_all(&mut **tx)
            .await?;
            gone.extend(Self::release_blobs(tx, account, &per_hash).await?);
            sqlx::query(
                "DELETE FROM messages WHERE account_id = ? AND mailbox_id = ?
                 AND uid IN (SELECT value FROM json_each(?))",
            )
            .bind(account.0)
            .bind(mailbox.0)
            .bind(&list)
            .execute(&mut **tx)
            .await?;
            sqlx::query(
                "INSERT OR REPLACE INTO expunged (account_id, mailbox_id, uid, modseq)
                 SELECT ?, ?, value, ? FROM json_each(?)",
            )
            .bind(account.0)
            .bind(mailbox.0)
            .bind(modseq as i64)
            .bind(&list)
            .execute(&mut **tx)
            .await?;
        }
        Ok(gone)
    }

    /// The flags of the given messages that exist, ascending by UID.
    async fn flags_of(
        tx: &mut Tx,
        account: AccountId,
        mailbox: MailboxId,
        uids: &[u32],
    ) -> Result<Vec<(u32, Flags)>> {
        let mut out = Vec::with_capacity(uids.len());
        for chunk in uids.chunks(FETCH_BATCH) {
            let rows = sqlx::query(
                "SELECT uid, flags, keywords FROM messages WHERE account_id = ? AND mailbox_id = ?
                 AND uid IN (SELECT value FROM json_each(?)) ORDER BY uid",
            )
            .bind(account.0)
            .bind(mailbox.0)
            .bind(uid_json(chunk))
            .fetch_all(&mut **tx)
            .await?;
            out.extend(rows.iter().map(|r| {
                (
                    r.get::<i64, _>(0) as u32,
                    Flags::from_parts(r.get(1), r.get::<&str, _>(2)),
                )
            }));
        }
        Ok(out)
    }

    /// Drops `n` references per blob; deletes the blobs that have none
    /// left and returns their hashes.
    async fn release_blobs(
        tx: &mut Tx,
        account: AccountId,
        per_hash: &[(String, i64)],
    ) -> Result<Vec<String>> {
        let mut gone = Vec::new();
        for (hash, n) in per_hash {
            let left: Option<i64> = sqlx::query_scalar(
                "UPDATE blobs SET refcount = refcount - ? WHERE account_id = ? AND hash = ?
                 RETURNING refcount",
            )
            .bind(n)
            .bind(account.0)
            .bind(hash)
            .fetch_optional(&mut **tx)
            .await?;
            if left.is_some_and(|l| l <= 0) {
                let rowid: i64 = sqlx::query_scalar(
                    "DELETE FROM blobs WHERE account_id = ? AND hash = ? RETURNING rowid",
                )
                .bind(account.0)
                .bind(hash)
                .fetch_one(&mut **tx)
                .await?;
                sqlx::query("DELETE FROM search_fts WHERE rowid = ?")
                    .bind(rowid)
                    .execute(&mut **tx)
                    .await?;
                for q in [
                    "DELETE FROM blob_data WHERE account_id = ? AND hash = ?",
                    "DELETE FROM blob_text WHERE account_id = ? AND hash = ?",
                ] {
                    sqlx::query(q)
                        .bind(account.0)
                        .bind(hash)
                        .execute(&mut **tx)
                        .await?;
                }
                gone.push(hash.clone());
            }
        }
        Ok(gone)
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
            // The index first, then the account's blobs by rowid.
            let candidates: Vec<(String, String)> = sqlx::query_as(
                "SELECT hash, search_headers FROM blobs
                 WHERE rowid IN (SELECT rowid FROM search_fts WHERE search_fts MATCH ?)
                   AND account_id = ? LIMIT ?",
            )
            .bind(&fts)
            .bind(account.0)
            .bind(MAX_CANDIDATES as i64 + 1)
            .fetch_all(&self.reader)
            .await?;
            if candidates.len() > MAX_CANDIDATES {
                continue;
            }
            let answer = match &key {
                // The index finds the value anywhere in the header block;
                // the candidates' headers say in which field.
                Query::Header { name, value } => Query::InHashes(Arc::new(
                    candidates
                        .into_iter()
                        .filter(|(_, headers)| search::header_contains(headers, name, value))
                        .map(|(hash, _)| hash)
                        .collect(),
                )),
                _ => Query::Or(
                    Box::new(Query::InHashes(Arc::new(
                        candidates.into_iter().map(|(hash, _)| hash).collect(),
                    ))),
                    Box::new(Query::Body(needle.clone())),
                ),
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
                   m.internal_tz, m.size, b.sent_day, m.hash
            FROM messages m JOIN blobs b ON b.account_id = m.account_id AND b.hash = m.hash
            WHERE m.account_id = ?1 AND m.mailbox_id = ?2 AND m.modseq > ?3
            ORDER BY m.uid";
        let cached = self.index.get(account, mailbox);
        let mut conn = self.reader.acquire().await?;
        // The usual case, an index that is current, costs one statement;
        // only a refresh needs a transaction (rows consistent with modseq).
        if let Some(c) = &cached {
            let (_, highest_modseq, _, _) =
                Self::mailbox_keywords(&mut conn, account, mailbox).await?;
            if c.modseq == highest_modseq {
                return Ok(c.clone());
            }
        }
        let mut tx = sqlx::Connection::begin(&mut *conn).await?;
        let (keywords, highest_modseq, uid_validity, uid_next) =
            Self::mailbox_keywords(&mut tx, account, mailbox).await?;
        let since = cached.as_ref().map_or(0, |c| c.modseq);
        let rows = sqlx::query(COLUMNS)
            .bind(account.0)
            .bind(mailbox.0)
            .bind(since as i64)
            .fetch_all(&mut *tx)
            .await?;
        let updated: Vec<IndexEntry> = rows
            .iter()
            .map(|r| IndexEntry {
                uid: r.get::<i64, _>(0) as u32,
                modseq: r.get::<i64, _>(1) as u64,
                flags: Flags::from_parts(r.get(2), r.get::<&str, _>(3)),
                internal_date: r.get(4),
                internal_tz: r.get::<i64, _>(5) as i32,
                size: r.get::<i64, _>(6) as u64,
                sent_day: r.get(7),
                hash: Arc::from(r.get::<&str, _>(8)),
            })
            .collect();
        let index = match cached {
            Some(c) => {
                let expunged: Vec<u32> = sqlx::query_scalar::<_, i64>(
                    "SELECT uid FROM expunged WHERE account_id = ? AND mailbox_id = ?
                     AND modseq > ? ORDER BY uid",
                )
                .bind(account.0)
                .bind(mailbox.0)
                .bind(since as i64)
                .fetch_all(&mut *tx)
                .await?
                .into_iter()
                .map(|u| u as u32)
                .collect();
                c.apply(highest_modseq, uid_next, keywords, updated, &expunged)
            }
            None => MailboxIndex {
                account,
                modseq: highest_modseq,
                uid_validity,
                uid_next,
                keywords,
                entries: updated,
            },
        };
        tx.commit().await?;
        let index = Arc::new(index);
        self.index.put(mailbox, index.clone());
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

fn uid_json(uids: &[u32]) -> String {
    let mut s = String::with_capacity(uids.len() * 6 + 2);
    s.push('[');
    for (i, u) in uids.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        s.push_str(&u.to_string());
    }
    s.push(']');
    s
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
        let mut tx = self.begin().await?;
        let row = sqlx::query(
            "INSERT INTO accounts (name, password_hash, scram_sha256) VALUES (?, ?, ?)
             ON CONFLICT DO NOTHING RETURNING account_id",
        )
        .bind(name)
        .bind(&credentials.password_hash)
        .bind(&credentials.scram_sha256)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(StoreError::AccountExists)?;
        let account = AccountId(row.get(0));
        for (mailbox, special_use) in DEFAULT_MAILBOXES {
            Self::insert_mailbox(&mut tx, account, mailbox, special_use).await?;
            sqlx::query("INSERT INTO subscriptions (account_id, name) VALUES (?, ?)")
                .bind(account.0)
                .bind(mailbox)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(account)
    }

    async fn delete_account(&self, name: &str) -> Result<()> {
        let mut tx = self.begin().await?;
        let id: i64 =
            sqlx::query_scalar("DELETE FROM accounts WHERE name = ? RETURNING account_id")
                .bind(name)
                .fetch_optional(&mut *tx)
                .await?
                .ok_or(StoreError::NoAccount)?;
        for table in [
            "DELETE FROM mailboxes WHERE account_id = ?",
            "DELETE FROM subscriptions WHERE account_id = ?",
            "DELETE FROM messages WHERE account_id = ?",
            "DELETE FROM search_fts WHERE rowid IN (SELECT rowid FROM blobs WHERE account_id = ?)",
            "DELETE FROM blobs WHERE account_id = ?",
            "DELETE FROM expunged WHERE account_id = ?",
            "DELETE FROM blob_data WHERE account_id = ?",
            "DELETE FROM blob_text WHERE account_id = ?",
        ] {
            sqlx::query(table).bind(id).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        self.blobs.remove_account(AccountId(id))?;
        Ok(())
    }

    async fn set_credentials(&self, name: &str, credentials: &Credentials) -> Result<()> {
        let r =
            sqlx::query("UPDATE accounts SET password_hash = ?, scram_sha256 = ? WHERE name = ?")
                .bind(&credentials.password_hash)
                .bind(&credentials.scram_sha256)
                .bind(name)
                .execute(&self.writer)
                .await?;
        if r.rows_affected() == 0 {
            return Err(StoreError::NoAccount);
        }
        Ok(())
    }

    async fn account(&self, name: &str) -> Result<Option<Account>> {
        let row = sqlx::query(
            "SELECT account_id, name, password_hash, scram_sha256 FROM accounts WHERE name = ?",
        )
        .bind(name)
        .fetch_optional(&self.reader)
        .await?;
        Ok(row.map(|r| Account {
            id: AccountId(r.get(0)),
            name: r.get(1),
            credentials: Credentials {
                password_hash: r.get(2),
                scram_sha256: r.get(3),
            },
        }))
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
        let row = sqlx::query(
            "SELECT mailbox_id, name, special_use FROM mailboxes WHERE account_id = ? AND name = ?",
        )
        .bind(account.0)
        .bind(name)
        .fetch_optional(&self.reader)
        .await?;
        Ok(row.map(|r| MailboxInfo {
            id: MailboxId(r.get(0)),
            name: r.get(1),
            special_use: r.get(2),
        }))
    }

    async fn create_mailbox(
        &self,
        account: AccountId,
        name: &str,
        special_use: Option<&str>,
    ) -> Result<MailboxId> {
        let mut tx = self.begin().await?;
        let id = Self::insert_mailbox(&mut tx, account, name, special_use).await?;
        tx.commit().await?;
        Ok(id)
    }

    async fn delete_mailbox(&self, account: AccountId, mailbox: MailboxId) -> Result<()> {
        let mut tx = self.begin().await?;
        let per_hash: Vec<(String, i64)> = sqlx::query_as(
            "SELECT hash, COUNT(*) FROM messages WHERE account_id = ? AND mailbox_id = ? GROUP BY hash",
        )
        .bind(account.0)
        .bind(mailbox.0)
        .fetch_all(&mut *tx)
        .await?;
        let gone = Self::release_blobs(&mut tx, account, &per_hash).await?;
        for q in [
            "DELETE FROM messages WHERE account_id = ? AND mailbox_id = ?",
            "DELETE FROM expunged WHERE account_id = ? AND mailbox_id = ?",
        ] {
            sqlx::query(q)
                .bind(account.0)
                .bind(mailbox.0)
                .execute(&mut *tx)
                .await?;
        }
        let r = sqlx::query("DELETE FROM mailboxes WHERE account_id = ? AND mailbox_id = ?")
            .bind(account.0)
            .bind(mailbox.0)
            .execute(&mut *tx)
            .await?;
        if r.rows_affected() == 0 {
            return Err(StoreError::NoMailbox);
        }
        tx.commit().await?;
        self.remove_files(account, &gone);
        // Sessions that have it selected learn it is gone.
        self.notes.log.invalidate(mailbox);
        self.index.forget(mailbox);
        self.publish(mailbox, u64::MAX);
        Ok(())
    }

    async fn rename_mailbox(&self, account: AccountId, from: &str, to: &str) -> Result<()> {
        let mut tx = self.begin().await?;
        let src: Option<(i64, i64)> = sqlx::query_as(
            "SELECT mailbox_id, uid_next FROM mailboxes WHERE account_id = ? AND name = ?",
        )
        .bind(account.0)
        .bind(from)
        .fetch_optional(&mut *tx)
        .await?;
        let (src_id, uid_next) = src.ok_or(StoreError::NoMailbox)?;
        let exists: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM mailboxes WHERE account_id = ?1
             AND (name = ?2 OR substr(name, 1, length(?2) + 1) = ?2 || '/')",
        )
        .bind(account.0)
        .bind(to)
        .fetch_one(&mut *tx)
        .await?;
        if exists > 0 {
            return Err(StoreError::MailboxExists);
        }
        let mut publish = None;
        if from == "INBOX" {
            let new_id = Self::insert_mailbox(&mut tx, account, to, None).await?;
            sqlx::query(
                "UPDATE mailboxes SET uid_next = ?, keywords = (SELECT keywords FROM mailboxes
                 WHERE mailbox_id = ?) WHERE account_id = ? AND mailbox_id = ?",
            )
            .bind(uid_next)
            .bind(src_id)
            .bind(account.0)
            .bind(new_id.0)
            .execute(&mut *tx)
            .await?;
            let uids: Vec<i64> = sqlx::query_scalar(
                "SELECT uid FROM messages WHERE account_id = ? AND mailbox_id = ? ORDER BY uid",
            )
            .bind(account.0)
            .bind(src_id)
            .fetch_all(&mut *tx)
            .await?;
            let modseq = Self::next_modseq(&mut tx, account, MailboxId(src_id)).await?;
            sqlx::query(
                "UPDATE messages SET mailbox_id = ? WHERE account_id = ? AND mailbox_id = ?",
            )
            .bind(new_id.0)
            .bind(account.0)
            .bind(src_id)
            .execute(&mut *tx)
            .await?;
            let list = uid_json(&uids.iter().map(|&u| u as u32).collect::<Vec<_>>());
            sqlx::query(
                "INSERT OR REPLACE INTO expunged (account_id, mailbox_id, uid, modseq)
                 SELECT ?, ?, value, ? FROM json_each(?)",
            )
            .bind(account.0)
            .bind(src_id)
            .bind(modseq as i64)
            .bind(&list)
            .execute(&mut *tx)
            .await?;
            publish = Some((MailboxId(src_id), modseq, uids));
        } else {
            sqlx::query(
                "UPDATE mailboxes SET name = ?3 || substr(name, length(?2) + 1)
                 WHERE account_id = ?1 AND (name = ?2 OR substr(name, 1, length(?2) + 1) = ?2 || '/')",
            )
            .bind(account.0)
            .bind(from)
            .bind(to)
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "UPDATE OR REPLACE subscriptions SET name = ?3 || substr(name, length(?2) + 1)
                 WHERE account_id = ?1 AND (name = ?2 OR substr(name, 1, length(?2) + 1) = ?2 || '/')",
            )
            .bind(account.0)
            .bind(from)
            .bind(to)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        if let Some((m, s, uids)) = publish {
            self.committed(
                account,
                m,
                Entry {
                    modseq: s,
                    expunged: uids.into_iter().map(|u| u as u32).collect(),
                    ..Entry::default()
                },
            );
        }
        Ok(())
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
        let q = if on {
            "INSERT OR IGNORE INTO subscriptions (account_id, name) VALUES (?, ?)"
        } else {
            "DELETE FROM subscriptions WHERE account_id = ? AND name = ?"
        };
        sqlx::query(q)
            .bind(account.0)
            .bind(name)
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    async fn status(&self, account: AccountId, mailbox: MailboxId) -> Result<MailboxStatus> {
        let recent_floor = self
            .recent
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&mailbox)
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
            .get(&mailbox)
            .copied();
        let loaded = match known {
            Some(w) => w,
            None => self.recent_watermark(account, mailbox).await?,
        };
        let mut map = self.recent.lock().unwrap_or_else(|e| e.into_inner());
        let w = map.entry(mailbox).or_insert(loaded);
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
        let job = AppendJob {
            account,
            mailbox,
            prepared,
            inline,
            flags: message.flags,
            internal_date: message.internal_date,
            skip_if_present: message.skip_if_present,
        };
        self.write(move |tx| {
            Box::pin(async move {
                let (appended, keywords) = append_one(tx, &job).await?;
                let mut notes = Vec::new();
                if !appended.duplicate {
                    notes.push((
                        account,
                        mailbox,
                        Entry {
                            modseq: appended.modseq,
                            updated: vec![(appended.uid, job.flags)],
                            expunged: Vec::new(),
                            keywords,
                        },
                    ));
                }
                Ok((appended, notes))
            })
        })
        .await
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
        let mut columns = String::from("m.uid");
        for (wanted, column) in [
            (need.meta, ", b.meta"),
            (need.header, ", b.header"),
            (need.rendered, ", b.imap"),
        ] {
            if wanted {
                columns.push_str(column);
            }
        }
        let mut out = Vec::with_capacity(entries.len());
        for chunk in entries.chunks(FETCH_BATCH) {
            let (Some(first), Some(last)) = (chunk.first(), chunk.last()) else {
                continue;
            };
            // A dense run (1:* and the like) is a range scan of the primary
            // key; a sparse set is looked up UID by UID.
            let dense = u64::from(last.uid - first.uid) < 2 * chunk.len() as u64;
            let filter = if dense {
                "m.uid BETWEEN ?3 AND ?4"
            } else {
                "m.uid IN (SELECT value FROM json_each(?5))"
            };
            let sql = format!(
                "SELECT {columns}
                 FROM messages m JOIN blobs b ON b.account_id = m.account_id AND b.hash = m.hash
                 WHERE m.account_id = ?1 AND m.mailbox_id = ?2 AND {filter}
                 ORDER BY m.uid"
            );
            // Built only from the fixed texts above.
            let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(account.0)
                .bind(mailbox.0)
                .bind(i64::from(first.uid))
                .bind(i64::from(last.uid))
                .bind(if dense {
                    String::new()
                } else {
                    let uids: Vec<u32> = chunk.iter().map(|e| e.uid).collect();
                    uid_json(&uids)
                })
                .fetch_all(&self.reader)
                .await?;
            // Both are in UID order; a message expunged since the index was
            // read has no row and is left out.
            let mut entry = chunk.iter().peekable();
            for r in rows {
                let uid = r.get::<i64, _>(0) as u32;
                while entry.next_if(|e| e.uid < uid).is_some() {}
                let Some(e) = entry.next_if(|e| e.uid == uid) else {
                    continue;
                };
                let mut rec = record(e);
                let mut col = 1;
                if need.meta {
                    if let Some(b) = r.get::<Option<&[u8]>, _>(col) {
                        rec.meta = Some(Arc::new(ingest::decode_meta(b)?));
                    }
                    col += 1;
                }
                if need.header {
                    rec.header = r.get::<Option<Vec<u8>>, _>(col).map(Arc::new);
                    col += 1;
                }
                if need.rendered
                    && let Some(b) = r.get::<Option<&[u8]>, _>(col)
                {
                    rec.rendered = Some(Arc::new(ingest::decode_rendered(b)?));
                }
                out.push(rec);
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
        let inline: Option<Vec<u8>> = sqlx::query_scalar(
            "SELECT substr(data, ?, ?) FROM blob_data WHERE account_id = ? AND hash = ?",
        )
        .bind(start.min(i64::MAX as u64 - 1) as i64 + 1)
        .bind(len.min(i64::MAX as u64) as i64)
        .bind(account.0)
        .bind(blob)
        .fetch_optional(&self.reader)
        .await?;
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
        self.write(move |tx| {
            Box::pin(
                async move { Self::store_flags_tx(tx, account, mailbox, &uids, op, &flags).await },
            )
        })
        .await
    }

    async fn expunge(
        &self,
        account: AccountId,
        mailbox: MailboxId,
        uids: Option<&[u32]>,
    ) -> Result<Vec<u32>> {
        let uids = uids.map(<[u32]>::to_vec);
        let (deleted, gone) = self
            .write(move |tx| {
                Box::pin(
                    async move { Self::expunge_tx(tx, account, mailbox, uids.as_deref()).await },
                )
            })
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
        self.write(move |tx| {
            Box::pin(async move { Self::copy_tx(tx, account, from, &uids, to, is_move).await })
        })
        .await
    }

    async fn search(
        &self,
        account: AccountId,
        mailbox: MailboxId,
        query: &Query,
    ) -> Result<Vec<u32>> {
        use futures_util::TryStreamExt;
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
        let mut rows = sqlx::query(
            "SELECT m.uid, m.flags, m.keywords, m.internal_date, m.internal_tz, m.size, b.sent_day,
                    CASE WHEN ?3 THEN b.search_headers ELSE '' END,
                    CASE WHEN ?4 THEN
                      (SELECT t.body FROM blob_text t WHERE t.account_id = m.account_id
                       AND t.hash = m.hash) ELSE '' END,
                    m.hash
             FROM messages m JOIN blobs b ON b.account_id = m.account_id AND b.hash = m.hash
             WHERE m.account_id = ?1 AND m.mailbox_id = ?2 ORDER BY m.uid",
        )
        .bind(account.0)
        .bind(mailbox.0)
        .bind(headers)
        .bind(body)
        .fetch(&self.reader);
        let mut out = Vec::new();
        while let Some(r) = rows.try_next().await? {
            let flags = Flags::from_parts(r.get(1), r.get::<&str, _>(2));
            let row = search::Row {
                uid: r.get::<i64, _>(0) as u32,
                hash: r.get::<&str, _>(9),
                flags: &flags,
                internal_date: to_date(r.get(3), r.get(4)),
                size: r.get::<i64, _>(5) as u64,
                sent_day: r.get::<Option<i64>, _>(6).and_then(ingest::day_from_int),
                headers: r.get::<&str, _>(7),
                body: r.get::<&str, _>(8),
            };
            if search::matches(query, &row) {
                out.push(row.uid);
            }
        }
        Ok(out)
    }
}

/// Messages up to this size are kept in the database, where the commit's
/// one fsync covers them; larger ones are files (an fsync each, plus the
/// directory's).
const INLINE_BLOB: u64 = 128 * 1024;

/// Appends committed together at most.
const MAX_BATCH: usize = 256;

struct AppendJob {
    account: AccountId,
    mailbox: MailboxId,
    prepared: Prepared,
    inline: Option<Vec<u8>>,
    flags: Flags,
    internal_date: DateTime<FixedOffset>,
    skip_if_present: bool,
}

type AppendOutcome = Result<(Appended, Option<Vec<String>>)>;

/// A committed change to one mailbox, for the change log and feed.
type Note = (AccountId, MailboxId, Entry);

/// A write for the group-commit task: it runs inside the shared
/// transaction and leaves what is to happen once that is durable.
type WriteJob = Box<dyn for<'t> FnOnce(&'t mut Tx) -> BoxFuture<'t, Pending> + Send>;

/// A write that ran, waiting for its batch to commit.
struct Pending {
    /// The write failed: its savepoint is rolled back, its error reported.
    failed: bool,
    notes: Vec<Note>,
    finish: Finish,
}

/// Answers the caller; given the commit's error, if it failed.
type Finish = Box<dyn FnOnce(Option<&StoreError>) + Send>;

/// Group commit: writes that arrive while a commit is being made durable
/// share the next transaction, so concurrent sessions pay one fsync
/// between them instead of one each. Each write is a savepoint: one that
/// fails (say, its mailbox was just deleted) does not undo the others.
async fn committer(
    writer: SqlitePool,
    notes: Arc<Notifier>,
    mut jobs: tokio::sync::mpsc::Receiver<WriteJob>,
) {
    while let Some(first) = jobs.recv().await {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let mut done = Vec::with_capacity(batch.len());
        match commit_batch(&writer, batch, &mut done).await {
            Ok(()) => {
                for p in done {
                    if !p.failed {
                        for (account, mailbox, entry) in p.notes {
                            notes.committed(account, mailbox, entry);
                        }
                    }
                    (p.finish)(None);
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "write batch failed");
                // Jobs that never ran are dropped, which answers them too.
                for p in done {
                    (p.finish)(Some(&e));
                }
            }
        }
    }
}

async fn commit_batch(
    writer: &SqlitePool,
    batch: Vec<WriteJob>,
    done: &mut Vec<Pending>,
) -> Result<()> {
    let mut tx = writer.begin_with("BEGIN IMMEDIATE").await?;
    // A lone write needs no savepoint: its failure rolls back the whole.
    if batch.len() == 1 {
        for job in batch {
            let p = job(&mut tx).await;
            let failed = p.failed;
            done.push(p);
            if failed {
                tx.rollback().await?;
                return Ok(());
            }
        }
        tx.commit().await?;
        return Ok(());
    }
    // Every statement is a round trip to the connection's thread, so the
    // savepoint bookkeeping rides along with its neighbours where it can;
    // COMMIT releases the last savepoint.
    let last = batch.len() - 1;
    sqlx::raw_sql("SAVEPOINT write").execute(&mut *tx).await?;
    for (i, job) in batch.into_iter().enumerate() {
        let p = job(&mut tx).await;
        let failed = p.failed;
        done.push(p);
        let next = match (failed, i == last) {
            (false, false) => "RELEASE write; SAVEPOINT write",
            (true, false) => "ROLLBACK TO write; RELEASE write; SAVEPOINT write",
            (true, true) => "ROLLBACK TO write",
            (false, true) => continue,
        };
        sqlx::raw_sql(next).execute(&mut *tx).await?;
    }
    tx.commit().await?;
    Ok(())
}

async fn append_one(tx: &mut Tx, job: &AppendJob) -> AppendOutcome {
    let (account, mailbox, p) = (job.account, job.mailbox, &job.prepared);
    if job.skip_if_present {
        let existing = sqlx::query(
            "SELECT m.uid, mb.highest_modseq, mb.uid_validity FROM messages m
             JOIN mailboxes mb ON mb.account_id = m.account_id AND mb.mailbox_id = m.mailbox_id
             WHERE m.account_id = ? AND m.mailbox_id = ? AND m.hash = ? LIMIT 1",
        )
        .bind(account.0)
        .bind(mailbox.0)
        .bind(&p.hash)
        .fetch_optional(&mut **tx)
        .await?;
        if let Some(r) = existing {
            let appended = Appended {
                uid: r.get::<i64, _>(0) as u32,
                modseq: r.get::<i64, _>(1) as u64,
                uid_validity: r.get::<i64, _>(2) as u32,
                duplicate: true,
            };
            return Ok((appended, None));
        }
    }
    let row = sqlx::query(
        "UPDATE mailboxes SET uid_next = uid_next + 1, highest_modseq = highest_modseq + 1
         WHERE account_id = ? AND mailbox_id = ? RETURNING uid_next - 1, highest_modseq, uid_validity",
    )
    .bind(account.0)
    .bind(mailbox.0)
    .fetch_optional(&mut **tx)
    .await?
    .ok_or(StoreError::NoMailbox)?;
    let uid = row.get::<i64, _>(0);
    let modseq = row.get::<i64, _>(1);
    let uid_validity = row.get::<i64, _>(2) as u32;
    SqliteStore::insert_blob(tx, account, p).await?;
    if let Some(data) = &job.inline {
        sqlx::query("INSERT OR IGNORE INTO blob_data (account_id, hash, data) VALUES (?, ?, ?)")
            .bind(account.0)
            .bind(&p.hash)
            .bind(data)
            .execute(&mut **tx)
            .await?;
    }
    sqlx::query(
        "INSERT INTO messages (account_id, mailbox_id, uid, modseq, flags, keywords,
                               internal_date, internal_tz, size, hash)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(account.0)
    .bind(mailbox.0)
    .bind(uid)
    .bind(modseq)
    .bind(i64::from(job.flags.system))
    .bind(job.flags.keywords_text())
    .bind(job.internal_date.timestamp())
    .bind(i64::from(job.internal_date.offset().local_minus_utc()))
    .bind(p.size as i64)
    .bind(&p.hash)
    .execute(&mut **tx)
    .await?;
    let keywords = SqliteStore::add_keywords(tx, account, mailbox, &job.flags.keywords).await?;
    let appended = Appended {
        uid_validity,
        uid: uid as u32,
        modseq: modseq as u64,
        duplicate: false,
    };
    Ok((appended, keywords))
}
