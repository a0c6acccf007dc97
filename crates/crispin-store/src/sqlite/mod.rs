//! The embedded backend: SQLite (WAL, synchronous=FULL) for metadata and
//! content-addressed files for message bytes.
//!
//! Writes go through a single connection so they never contend inside the
//! process; reads use a small pool and see committed data only.
//!
//! Here the store itself and its [`Store`] impl; beside it, one file per
//! job: `migrate` (opening, migrations, backfills), `commit` (the
//! group-commit thread and every write), `readers` and `mapped` (read-only
//! connections over one shared map of the file), `index`, `fetch` and
//! `search` (the reads behind SELECT, FETCH and SEARCH), `blob` (message
//! files) and `notify` (publishing committed changes, and the socket that
//! carries them between processes).

mod blob;
mod commit;
mod fetch;
mod index;
mod mapped;
mod migrate;
mod notify;
mod readers;
mod search;

use crate::ingest;
use crate::search::Query;
use crate::types::*;
use crate::{Result, Store, StoreError};
use async_trait::async_trait;
use blob::BlobFiles;
use chrono::{DateTime, FixedOffset, Offset};
use commit::{Note, Pending, WriteJob};
use futures_util::future::BoxFuture;
use notify::Notifier;
use readers::Readers;
use rusqlite::{OptionalExtension, params};
use sqlx::Row;
use sqlx::sqlite::{SqlitePool, SqlitePoolOptions};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
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
    /// Content files that APPENDs under way rely on (see `remove_files`).
    pins: Pins,
}

/// How many APPENDs under way rely on each content file: one that found
/// the file already there stores no bytes of its own.
type Pins = Arc<std::sync::Mutex<HashMap<(AccountId, String), usize>>>;

/// One APPEND's claim on a content file, released when its commit is done
/// (or abandoned).
struct Pin {
    pins: Pins,
    key: (AccountId, String),
}

impl Pin {
    fn new(pins: &Pins, account: AccountId, hash: &str) -> Pin {
        let key = (account, hash.to_string());
        *pins
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(key.clone())
            .or_insert(0) += 1;
        Pin {
            pins: pins.clone(),
            key,
        }
    }
}

impl Drop for Pin {
    fn drop(&mut self) {
        let mut pins = self.pins.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = pins.get_mut(&self.key) {
            *n -= 1;
            if *n == 0 {
                pins.remove(&self.key);
            }
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

impl SqliteStore {
    /// Opens the store in `dir`, creating it when missing: `dir` with mode
    /// 0700 and the database with 0600 (it holds password hashes).
    pub async fn open(dir: &Path) -> Result<Self> {
        migrate::create_private(dir)?;
        Self::open_existing(dir).await
    }

    /// Opens the store in `dir`; [`StoreError::NoStore`] when there is
    /// none, so that a tool run from the wrong directory does not leave a
    /// new, empty store behind.
    pub async fn open_existing(dir: &Path) -> Result<Self> {
        let options = migrate::prepare(dir).await?;
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
        let notes = Arc::new(Notifier::new(dir));
        let conn = commit::open(&dir.join("crispin.db"))?;
        let (writes, jobs) = tokio::sync::mpsc::channel(1024);
        let committed = notes.clone();
        std::thread::Builder::new()
            .name("crispin-commit".into())
            .spawn(move || commit::run(conn, jobs, |note| committed.committed(note)))?;
        Ok(SqliteStore {
            reader,
            readers: Readers::new(&dir.join("crispin.db")),
            blobs,
            tmp_dir,
            notes,
            writes,
            recent: std::sync::Mutex::default(),
            pins: Pins::default(),
        })
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

    /// Content with neither a row in `blob_data` nor a file: expunged
    /// since its metadata was read, when `blobs` has no row for it either
    /// (rows go in the commit, files after it); a file lost under a row
    /// that still refers to it is damage, reported as the I/O error.
    fn vanished(&self, account: AccountId, hash: &str, e: std::io::Error) -> StoreError {
        let row = self.readers.now(|c| {
            Ok(
                c.prepare_cached("SELECT 1 FROM blobs WHERE account_id = ? AND hash = ?")?
                    .query_row(params![account.0, hash], |_| Ok(()))
                    .optional()?,
            )
        });
        match row {
            Ok(None) => StoreError::Expunged,
            Ok(Some(())) => {
                tracing::error!(%hash, error = %e, "message file missing");
                StoreError::Io(e)
            }
            Err(err) => err,
        }
    }

    /// Removes the files of content whose last message a commit removed.
    /// The same bytes may have been appended again meanwhile: an APPEND
    /// that found the file still there wrote none of its own, and its
    /// commit gave the content a new row. Such a file stays: while the
    /// APPEND is under way (its pin), and after its commit (the row). The
    /// pins' lock is held from the check to the unlink, and an APPEND pins
    /// before it looks for the file, so none can see the file and lose it.
    /// (Another process's APPEND, `deliver` or `import`, is covered by the
    /// row check only once it has committed.)
    fn remove_files(&self, account: AccountId, hashes: &[String]) {
        let pins = self.pins.lock().unwrap_or_else(|e| e.into_inner());
        for h in hashes {
            if pins.contains_key(&(account, h.clone())) {
                continue;
            }
            let stored = self.readers.now(|c| {
                Ok(
                    c.prepare_cached("SELECT 1 FROM blobs WHERE account_id = ? AND hash = ?")?
                        .query_row(params![account.0, h], |_| Ok(()))
                        .optional()?
                        .is_some(),
                )
            });
            match stored {
                Ok(false) => self.blobs.remove(account, h),
                Ok(true) => {}
                Err(e) => {
                    tracing::warn!(hash = %h, error = %e, "content file kept: cannot check its row")
                }
            }
        }
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
    async fn close(&self) {
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

    /// On the blob file system: a spooled literal becomes a message file
    /// by a rename.
    fn spool_dir(&self) -> &Path {
        &self.tmp_dir
    }

    fn notify_running_server(&self) {
        self.notes
            .notify_server
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }

    /// On a Unix datagram socket in the data directory (see [`notify`]).
    fn listen_for_other_processes(&self) -> std::io::Result<()> {
        self.notes.listen()
    }

    fn tell_running_server(&self, notice: &AccountNotice) -> std::io::Result<bool> {
        self.notes.tell(notice)
    }

    fn account_notices(&self) -> tokio::sync::broadcast::Receiver<AccountNotice> {
        self.notes.accounts.subscribe()
    }

    async fn create_account(&self, name: &str, credentials: &Credentials) -> Result<AccountId> {
        let (name, credentials) = (crate::account_name(name), credentials.clone());
        self.write(move |c| commit::create_account(c, &name, &credentials))
            .await
    }

    async fn delete_account(&self, name: &str) -> Result<()> {
        let name = self.stored_name(name).await?;
        // Sessions and caches forget its mailboxes as the commit is told
        // (their ids may come back).
        let id = self
            .write(move |c| commit::delete_account(c, &name))
            .await?;
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
        self.write(move |c| commit::create_mailbox(c, account, &name, special_use.as_deref()))
            .await
    }

    async fn delete_mailbox(&self, account: AccountId, mailbox: MailboxId) -> Result<()> {
        // Sessions that have it selected learn it is gone as the commit
        // is told.
        let gone = self
            .write(move |c| commit::delete_mailbox(c, account, mailbox))
            .await?;
        self.remove_files(account, &gone);
        self.recent
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&(account, mailbox));
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
        self.write(move |c| commit::set_subscribed(c, account, &name, on))
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
        // NOOP/CHECK must see other processes' commits at once, a beat
        // before their notice reaches the server: the log answers when the
        // database's HIGHESTMODSEQ (one indexed row) says it is current.
        let hears_all = self
            .notes
            .hears_all
            .load(std::sync::atomic::Ordering::Relaxed);
        if fresh
            && hears_all
            && let Some(changes) = self.notes.log.since(account, mailbox, modseq)
        {
            let stored: Option<i64> = self.readers.now(|c| {
                Ok(c.prepare_cached(
                    "SELECT highest_modseq FROM mailboxes WHERE account_id = ? AND mailbox_id = ?",
                )?
                .query_row(params![account.0, mailbox.0], |r| r.get(0))
                .optional()?)
            })?;
            if stored.is_some_and(|m| m as u64 <= changes.highest_modseq) {
                return Ok(changes);
            }
        }
        // In place on a pooled reader, in one read transaction: behind
        // sqlx's queue a NOOP waited for every FETCH before it.
        self.readers.now(|c| {
            let tx = c.unchecked_transaction()?;
            let (keywords, highest_modseq): (String, i64) = tx
                .prepare_cached(
                    "SELECT keywords, highest_modseq FROM mailboxes
                     WHERE account_id = ? AND mailbox_id = ?",
                )?
                .query_row(params![account.0, mailbox.0], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })
                .optional()?
                .ok_or(StoreError::NoMailbox)?;
            let highest_modseq = highest_modseq as u64;
            let mut changes = Changes {
                highest_modseq,
                keywords: Some(Flags::from_parts(0, &keywords).keywords),
                ..Changes::default()
            };
            if highest_modseq > modseq {
                let mut q = tx.prepare_cached(
                    "SELECT uid, flags, keywords, modseq FROM messages
                     WHERE account_id = ? AND mailbox_id = ? AND modseq > ? ORDER BY uid",
                )?;
                let mut rows = q.query(params![account.0, mailbox.0, modseq as i64])?;
                while let Some(r) = rows.next()? {
                    changes.updated.push((
                        r.get::<_, i64>(0)? as u32,
                        Flags::from_parts(r.get(1)?, text(r, 2)?),
                        r.get::<_, i64>(3)? as u64,
                    ));
                }
                let mut q = tx.prepare_cached(
                    "SELECT uid FROM expunged WHERE account_id = ? AND mailbox_id = ? AND modseq > ?
                     ORDER BY uid",
                )?;
                let mut rows = q.query(params![account.0, mailbox.0, modseq as i64])?;
                while let Some(r) = rows.next()? {
                    changes.expunged.push(r.get::<_, i64>(0)? as u32);
                }
            }
            Ok(changes)
        })
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
        self.notes.bus.watch(mailbox)
    }

    fn subscribe(&self, account: AccountId) -> crate::Subscription {
        self.notes.bus.subscribe(account)
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
        let pins = self.pins.clone();
        let data = message.data;
        let (prepared, inline, pin) = tokio::task::spawn_blocking(move || {
            let mut p = ingest::prepare(data)?;
            let data = std::mem::replace(&mut p.data, MessageData::Bytes(Vec::new()));
            if p.size <= INLINE_BLOB {
                let bytes = match data {
                    MessageData::Bytes(b) => b,
                    MessageData::File(f) => std::fs::read(f.path())?,
                };
                Ok::<_, StoreError>((p, Some(bytes), None))
            } else {
                // Pinned before looking for the file (see `remove_files`).
                let pin = Pin::new(&pins, account, &p.hash);
                // The file first: a crash after this leaves at worst an
                // unreferenced file, never a message without its bytes.
                blobs.put(account, &p.hash, data)?;
                Ok((p, None, Some(pin)))
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
        Ok(Box::pin(async move {
            let appended = done.await;
            drop(pin);
            appended
        }))
    }

    async fn fetch(
        &self,
        account: AccountId,
        mailbox: MailboxId,
        uids: &[u32],
        need: FetchNeed,
    ) -> Result<Vec<MessageRecord>> {
        self.fetch_records(account, mailbox, uids, need).await
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
        let hash = blob.to_string();
        let read =
            tokio::task::spawn_blocking(move || blobs.read_range(account, &hash, start, len))
                .await
                .map_err(|e| StoreError::Other(e.to_string()))?;
        match read {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Err(self.vanished(account, blob, e))
            }
            r => r.map_err(StoreError::from),
        }
    }

    async fn open_blob(&self, account: AccountId, blob: &str) -> Result<BlobReader> {
        let inline = self.readers.now(|c| {
            Ok(
                c.prepare_cached("SELECT data FROM blob_data WHERE account_id = ? AND hash = ?")?
                    .query_row(params![account.0, blob], |r| r.get::<_, Vec<u8>>(0))
                    .optional()?,
            )
        })?;
        if let Some(data) = inline {
            return Ok(BlobReader::from_bytes(data));
        }
        let blobs = self.blobs.clone();
        let hash = blob.to_string();
        let open = tokio::task::spawn_blocking(move || blobs.open_file(account, &hash))
            .await
            .map_err(|e| StoreError::Other(e.to_string()))?;
        match open {
            Ok(f) => Ok(BlobReader::from_file(f)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Err(self.vanished(account, blob, e))
            }
            Err(e) => Err(StoreError::from(e)),
        }
    }

    async fn store_flags_unchanged_since(
        &self,
        account: AccountId,
        mailbox: MailboxId,
        uids: &[u32],
        op: FlagOp,
        flags: &Flags,
        unchanged_since: Option<u64>,
    ) -> Result<StoreResult> {
        let (uids, flags) = (uids.to_vec(), flags.clone());
        self.write(move |c| {
            commit::store_flags(c, account, mailbox, &uids, op, &flags, unchanged_since)
        })
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
        self.search_uids(account, mailbox, query).await
    }
}

/// Messages up to this size are kept in the database, where the commit's
/// one fsync covers them; larger ones are files (an fsync each, plus the
/// directory's).
const INLINE_BLOB: u64 = 128 * 1024;

#[cfg(test)]
mod tests {
    use super::*;

    fn big(subject: &str) -> NewMessage {
        let mut data = format!("Subject: {subject}\r\n\r\n").into_bytes();
        data.resize(data.len() + INLINE_BLOB as usize + 1, b'x');
        NewMessage {
            data: MessageData::Bytes(data),
            flags: Flags::default(),
            internal_date: chrono::Utc::now().fixed_offset(),
            skip_if_present: false,
        }
    }

    /// The last message with some content is expunged, and the same bytes
    /// are appended again after the expunge's commit but before its file
    /// is removed: the new message keeps its content (it was lost before:
    /// the APPEND found the file, stored none, and the removal took it).
    #[tokio::test]
    async fn content_appended_again_before_its_file_is_removed_survives() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path()).await.unwrap();
        let a = store
            .create_account("a", &Credentials::default())
            .await
            .unwrap();
        let inbox = store.mailbox(a, "INBOX").await.unwrap().unwrap().id;
        let first = store.append(a, inbox, big("same")).await.unwrap();
        let deleted = Flags {
            system: crate::flag::DELETED,
            keywords: Vec::new(),
        };
        store
            .store_flags(a, inbox, &[first.uid], FlagOp::Add, &deleted)
            .await
            .unwrap();
        // The expunge's commit, and its removal held back.
        let (expunged, gone) = store
            .write(move |c| commit::expunge(c, a, inbox, None))
            .await
            .unwrap();
        assert_eq!((expunged, gone.len()), (vec![first.uid], 1));
        // Meanwhile the same bytes again, committed before the removal.
        let again = store.append(a, inbox, big("same")).await.unwrap();
        store.remove_files(a, &gone);
        let rec = store
            .fetch(a, inbox, &[again.uid], FetchNeed::default())
            .await
            .unwrap();
        let bytes = store.read_blob(a, &rec[0].blob, 0, 15).await.unwrap();
        assert_eq!(
            &bytes[..],
            b"Subject: same\r\n",
            "the appended message's content"
        );

        // With the row gone again and an APPEND pinned: the file stays too.
        let pin = Pin::new(&store.pins, a, &gone[0]);
        store
            .store_flags(a, inbox, &[again.uid], FlagOp::Add, &deleted)
            .await
            .unwrap();
        let (_, gone) = store
            .write(move |c| commit::expunge(c, a, inbox, None))
            .await
            .unwrap();
        store.remove_files(a, &gone);
        assert!(store.blobs.path(a, &gone[0]).exists(), "pinned: kept");
        drop(pin);
        store.remove_files(a, &gone);
        assert!(
            !store.blobs.path(a, &gone[0]).exists(),
            "no row, no pin: removed"
        );
        store.close().await;
    }

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
}
