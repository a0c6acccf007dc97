//! The embedded backend's write side: one SQLite connection on a thread of
//! its own, committing every change in group commits, and the writes
//! themselves as plain functions over that connection.
//!
//! rusqlite, not sqlx, on this side: sqlx runs each statement on a
//! connection thread of its own, a round trip of ~80 µs, and a write is
//! four to ten statements; here they run in place from cached prepared
//! statements. (rusqlite 0.39 uses sqlx's libsqlite3-sys 0.37: one SQLite.)

use crate::bus::Event;
use crate::changelog::Entry;
use crate::ingest::{self, Prepared};
use crate::types::*;
use crate::{DEFAULT_MAILBOXES, Result, StoreError};
use chrono::{DateTime, FixedOffset};
use rusqlite::{Connection, OptionalExtension, params};
use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

/// Writes committed together at most.
const MAX_BATCH: usize = 256;

/// UIDs (or ids) per statement where a read or write names many messages.
pub(crate) const UID_CHUNK: usize = 2000;

/// What a write leaves to be told once it is committed.
pub(crate) enum Note {
    /// Messages or flags of one mailbox changed: for the change log, and
    /// published as [`Event::MailboxChanged`].
    Changed(AccountId, MailboxId, Entry),
    /// A change to the account's mailboxes themselves.
    Event(AccountId, Event),
}

/// A write for the group-commit thread: it runs inside the shared
/// transaction and leaves what is to happen once that is durable.
pub(crate) type WriteJob = Box<dyn FnOnce(&Tx) -> Pending + Send>;

/// The batch's transaction, as each write sees it.
pub(crate) struct Tx<'c> {
    conn: &'c Connection,
}

impl std::ops::Deref for Tx<'_> {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        self.conn
    }
}

/// Pending search-index work per blob (`search_pending.op`).
const INDEX_REMOVE: i64 = 0;
const INDEX_ADD: i64 = 1;
/// Remove the old entry of a reused rowid, then add the new one.
const INDEX_REPLACE: i64 = 2;

/// Pending blobs written to the search index at once, at the end of the
/// batch that reaches this many: FTS5 writes a segment per transaction that
/// touches it, so a few hundred rows at a time keep segments and merges few,
/// while SEARCH reads no more than this many rows past the index.
const INDEX_AT: i64 = 500;

impl Tx<'_> {
    /// A new blob: its headers are to be indexed.
    fn index_added(&self, blob: i64) -> Result<()> {
        // Only a pending removal can be there: the rowid is being reused,
        // and the old entry must go before the new one is written.
        self.prepare_cached(
            "INSERT INTO search_pending (blob, op) VALUES (?1, ?2)
             ON CONFLICT (blob) DO UPDATE SET op = ?3",
        )?
        .execute(params![blob, INDEX_ADD, INDEX_REPLACE])?;
        Ok(())
    }

    /// A deleted blob: its index entry, if written, is to be removed.
    fn index_removed(&self, blob: i64) -> Result<()> {
        // Never written to the index: nothing to undo.
        let unwritten = self
            .prepare_cached("DELETE FROM search_pending WHERE blob = ?1 AND op = ?2")?
            .execute(params![blob, INDEX_ADD])?;
        if unwritten == 0 {
            self.prepare_cached(
                "INSERT INTO search_pending (blob, op) VALUES (?1, ?2)
                 ON CONFLICT (blob) DO UPDATE SET op = ?2",
            )?
            .execute(params![blob, INDEX_REMOVE])?;
        }
        Ok(())
    }

    /// Writes the pending index changes out once there are `at` or more.
    pub(crate) fn write_search_index(&self, at: i64) -> Result<()> {
        let pending: i64 = self
            .prepare_cached("SELECT count(*) FROM search_pending")?
            .query_row([], |r| r.get(0))?;
        if pending < at.max(1) {
            return Ok(());
        }
        let rows = self
            .prepare_cached("SELECT blob, op FROM search_pending ORDER BY blob")?
            .query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?)))?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        let mut remove = self.prepare_cached("DELETE FROM search_fts WHERE rowid = ?")?;
        let mut add = self.prepare_cached(
            "INSERT INTO search_fts (rowid, headers)
             SELECT rowid, search_headers FROM blobs WHERE rowid = ?",
        )?;
        for (blob, op) in rows {
            if op != INDEX_ADD {
                remove.execute([blob])?;
            }
            if op != INDEX_REMOVE {
                add.execute([blob])?;
            }
        }
        self.execute("DELETE FROM search_pending", [])?;
        Ok(())
    }
}

/// A write that ran, waiting for its batch to commit.
pub(crate) struct Pending {
    /// The write failed: its savepoint is rolled back, its error reported.
    pub failed: bool,
    pub notes: Vec<Note>,
    pub finish: Finish,
}

/// Answers the caller; given the commit's error, if it failed.
pub(crate) type Finish = Box<dyn FnOnce(Option<&StoreError>) + Send>;

/// Opens the writing connection to a database the read side has already
/// created and migrated.
pub(crate) fn open(path: &Path) -> Result<Connection> {
    let c = Connection::open(path)?;
    c.busy_timeout(Duration::from_secs(30))?;
    // WAL is a property of the file, set when it was created; the rest
    // belongs to the connection. No mmap: remapping a growing file costs
    // writers dearly.
    c.execute_batch(
        "PRAGMA journal_mode = WAL;
         PRAGMA synchronous = FULL;
         PRAGMA foreign_keys = OFF;
         PRAGMA cache_size = -32768;",
    )?;
    c.set_prepared_statement_cache_capacity(64);
    Ok(c)
}

/// Group commit: writes that arrive while a commit is being made durable
/// share the next transaction, so concurrent sessions pay one fsync
/// between them instead of one each. Each write is a savepoint: one that
/// fails (say, its mailbox was just deleted) does not undo the others.
/// `committed` runs for each note of each write that stuck, in commit
/// order, before its caller is answered.
pub(crate) fn run(
    conn: Connection,
    mut jobs: tokio::sync::mpsc::Receiver<WriteJob>,
    committed: impl Fn(Note),
) {
    while let Some(first) = jobs.blocking_recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let mut done = Vec::with_capacity(batch.len());
        match commit_batch(&conn, batch, &mut done) {
            Ok(()) => {
                for p in done {
                    if !p.failed {
                        p.notes.into_iter().for_each(&committed);
                    }
                    (p.finish)(None);
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "write batch failed");
                if !conn.is_autocommit() {
                    let _ = conn.execute_batch("ROLLBACK");
                }
                // Jobs that never ran are dropped, which answers them too.
                for p in done {
                    (p.finish)(Some(&e));
                }
            }
        }
    }
}

fn commit_batch(c: &Connection, batch: Vec<WriteJob>, done: &mut Vec<Pending>) -> Result<()> {
    c.execute_batch("BEGIN IMMEDIATE")?;
    let tx = Tx { conn: c };
    // A lone write needs no savepoint: its failure rolls back the whole.
    let lone = batch.len() == 1;
    for job in batch {
        if !lone {
            c.execute_batch("SAVEPOINT write")?;
        }
        let p = job(&tx);
        let failed = p.failed;
        done.push(p);
        if lone && failed {
            c.execute_batch("ROLLBACK")?;
            return Ok(());
        }
        if failed {
            c.execute_batch("ROLLBACK TO write")?;
        }
        if !lone {
            c.execute_batch("RELEASE write")?;
        }
    }
    tx.write_search_index(INDEX_AT)?;
    c.execute_batch("COMMIT")?;
    Ok(())
}

/// The JSON array SQLite's `json_each` reads a list of UIDs or ids from.
pub(crate) fn json_list<T: std::fmt::Display>(items: &[T]) -> String {
    use std::fmt::Write as _;
    let mut s = String::with_capacity(items.len() * 7 + 2);
    s.push('[');
    for (i, x) in items.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        let _ = write!(s, "{x}");
    }
    s.push(']');
    s
}

/// Bumps and returns the mailbox's modseq.
fn next_modseq(c: &Tx, account: AccountId, mailbox: MailboxId) -> Result<u64> {
    c.prepare_cached(
        "UPDATE mailboxes SET highest_modseq = highest_modseq + 1
         WHERE account_id = ? AND mailbox_id = ? RETURNING highest_modseq",
    )?
    .query_row(params![account.0, mailbox.0], |r| r.get::<_, i64>(0))
    .optional()?
    .map(|m| m as u64)
    .ok_or(StoreError::NoMailbox)
}

/// Adds keywords to the mailbox's list; the new list when it grew.
fn add_keywords(
    c: &Tx,
    account: AccountId,
    mailbox: MailboxId,
    keywords: &[String],
) -> Result<Option<Vec<String>>> {
    if keywords.is_empty() {
        return Ok(None);
    }
    let current: String = c
        .prepare_cached("SELECT keywords FROM mailboxes WHERE account_id = ? AND mailbox_id = ?")?
        .query_row(params![account.0, mailbox.0], |r| r.get(0))
        .optional()?
        .ok_or(StoreError::NoMailbox)?;
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
    if list.keywords.len() > crate::MAX_KEYWORDS {
        return Err(StoreError::TooManyKeywords);
    }
    c.prepare_cached("UPDATE mailboxes SET keywords = ? WHERE account_id = ? AND mailbox_id = ?")?
        .execute(params![list.keywords_text(), account.0, mailbox.0])?;
    Ok(Some(list.keywords))
}

fn new_uid_validity(c: &Tx, account: AccountId) -> Result<i64> {
    // The clock makes values unlikely to repeat across a lost database;
    // the counter makes them never repeat within one.
    let now = chrono::Utc::now().timestamp().clamp(1, u32::MAX as i64 - 1);
    let v: i64 = c
        .prepare_cached(
            "UPDATE accounts SET last_uid_validity = MAX(last_uid_validity + 1, ?)
             WHERE account_id = ? RETURNING last_uid_validity",
        )?
        .query_row(params![now, account.0], |r| r.get(0))
        .optional()?
        .ok_or(StoreError::NoAccount)?;
    if v > u32::MAX as i64 {
        return Err(StoreError::Other("UIDVALIDITY space exhausted".into()));
    }
    Ok(v)
}

pub(crate) fn create_mailbox(
    c: &Tx,
    account: AccountId,
    name: &str,
    special_use: Option<&str>,
) -> Result<(MailboxId, Vec<Note>)> {
    let uid_validity = new_uid_validity(c, account)?;
    let mailbox = c
        .prepare_cached(
            "INSERT INTO mailboxes (account_id, name, special_use, uid_validity)
             VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING RETURNING mailbox_id",
        )?
        .query_row(params![account.0, name, special_use, uid_validity], |r| {
            r.get(0)
        })
        .optional()?
        .map(MailboxId)
        .ok_or(StoreError::MailboxExists)?;
    let created = Event::MailboxCreated {
        mailbox,
        name: name.to_string(),
    };
    Ok((mailbox, vec![Note::Event(account, created)]))
}

pub(crate) fn create_account(
    c: &Tx,
    name: &str,
    credentials: &Credentials,
) -> Result<(AccountId, Vec<Note>)> {
    let account = c
        .prepare_cached(
            "INSERT INTO accounts (name, password_hash, scram_sha256) VALUES (?, ?, ?)
             ON CONFLICT DO NOTHING RETURNING account_id",
        )?
        .query_row(
            params![name, credentials.password_hash, credentials.scram_sha256],
            |r| r.get(0),
        )
        .optional()?
        .map(AccountId)
        .ok_or(StoreError::AccountExists)?;
    let mut notes = Vec::new();
    for (mailbox, special_use) in DEFAULT_MAILBOXES {
        let (_, created) = create_mailbox(c, account, mailbox, special_use)?;
        let (_, subscribed) = set_subscribed(c, account, mailbox, true)?;
        notes.extend(created.into_iter().chain(subscribed));
    }
    Ok((account, notes))
}

/// Returns the account; each of its mailboxes is told as deleted.
pub(crate) fn delete_account(c: &Tx, name: &str) -> Result<(AccountId, Vec<Note>)> {
    let id: i64 = c
        .prepare_cached("DELETE FROM accounts WHERE name = ? RETURNING account_id")?
        .query_row([name], |r| r.get(0))
        .optional()?
        .ok_or(StoreError::NoAccount)?;
    let account = AccountId(id);
    let deleted = c
        .prepare_cached("SELECT mailbox_id, name FROM mailboxes WHERE account_id = ?")?
        .query_map([id], |r| {
            Ok(Note::Event(
                account,
                Event::MailboxDeleted {
                    mailbox: MailboxId(r.get(0)?),
                    name: r.get(1)?,
                },
            ))
        })?
        .collect::<rusqlite::Result<Vec<Note>>>()?;
    let blobs = c
        .prepare_cached("SELECT rowid FROM blobs WHERE account_id = ?")?
        .query_map([id], |r| r.get::<_, i64>(0))?
        .collect::<rusqlite::Result<Vec<i64>>>()?;
    for rowid in blobs {
        c.index_removed(rowid)?;
        c.prepare_cached("DELETE FROM blob_fields WHERE blob = ?")?
            .execute([rowid])?;
    }
    for table in [
        "DELETE FROM mailboxes WHERE account_id = ?",
        "DELETE FROM subscriptions WHERE account_id = ?",
        "DELETE FROM messages WHERE account_id = ?",
        "DELETE FROM blobs WHERE account_id = ?",
        "DELETE FROM expunged WHERE account_id = ?",
        "DELETE FROM blob_data WHERE account_id = ?",
        "DELETE FROM blob_text WHERE account_id = ?",
    ] {
        c.execute(table, [id])?;
    }
    Ok((account, deleted))
}

pub(crate) fn set_credentials(c: &Tx, name: &str, credentials: &Credentials) -> Result<()> {
    let n = c
        .prepare_cached("UPDATE accounts SET password_hash = ?, scram_sha256 = ? WHERE name = ?")?
        .execute(params![
            credentials.password_hash,
            credentials.scram_sha256,
            name
        ])?;
    if n == 0 {
        return Err(StoreError::NoAccount);
    }
    Ok(())
}

/// Told only when it changed something.
pub(crate) fn set_subscribed(
    c: &Tx,
    account: AccountId,
    name: &str,
    on: bool,
) -> Result<((), Vec<Note>)> {
    let q = if on {
        "INSERT OR IGNORE INTO subscriptions (account_id, name) VALUES (?, ?)"
    } else {
        "DELETE FROM subscriptions WHERE account_id = ? AND name = ?"
    };
    if c.prepare_cached(q)?.execute(params![account.0, name])? == 0 {
        return Ok(((), Vec::new()));
    }
    let changed = Event::SubscriptionChanged {
        name: name.to_string(),
        subscribed: on,
    };
    Ok(((), vec![Note::Event(account, changed)]))
}

/// Saves the first UID not yet reported as \Recent per mailbox.
pub(crate) fn save_recent(c: &Tx, recent: &[((AccountId, MailboxId), u32)]) -> Result<()> {
    let mut update = c.prepare_cached(
        "UPDATE mailboxes SET recent_uid = MAX(recent_uid, ?)
         WHERE account_id = ? AND mailbox_id = ?",
    )?;
    for ((account, mailbox), uid) in recent {
        update.execute(params![i64::from(*uid), account.0, mailbox.0])?;
    }
    Ok(())
}

/// Deletes the mailbox and its messages; returns the hashes of blobs no
/// message refers to any more (their files go after commit).
pub(crate) fn delete_mailbox(
    c: &Tx,
    account: AccountId,
    mailbox: MailboxId,
) -> Result<(Vec<String>, Vec<Note>)> {
    let per_hash = c
        .prepare_cached(
            "SELECT hash, COUNT(*) FROM messages WHERE account_id = ? AND mailbox_id = ?
             GROUP BY hash",
        )?
        .query_map(params![account.0, mailbox.0], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })?
        .collect::<rusqlite::Result<Vec<(String, i64)>>>()?;
    let gone = release_blobs(c, account, &per_hash)?;
    for q in [
        "DELETE FROM messages WHERE account_id = ? AND mailbox_id = ?",
        "DELETE FROM expunged WHERE account_id = ? AND mailbox_id = ?",
    ] {
        c.prepare_cached(q)?
            .execute(params![account.0, mailbox.0])?;
    }
    let name: String = c
        .prepare_cached(
            "DELETE FROM mailboxes WHERE account_id = ? AND mailbox_id = ? RETURNING name",
        )?
        .query_row(params![account.0, mailbox.0], |r| r.get(0))
        .optional()?
        .ok_or(StoreError::NoMailbox)?;
    let deleted = Event::MailboxDeleted { mailbox, name };
    Ok((gone, vec![Note::Event(account, deleted)]))
}

/// RENAME; renaming INBOX moves its messages to a new mailbox and leaves
/// INBOX empty, which is reported as a note.
pub(crate) fn rename_mailbox(
    c: &Tx,
    account: AccountId,
    from: &str,
    to: &str,
) -> Result<((), Vec<Note>)> {
    let (src_id, uid_next): (i64, i64) = c
        .prepare_cached(
            "SELECT mailbox_id, uid_next FROM mailboxes WHERE account_id = ? AND name = ?",
        )?
        .query_row(params![account.0, from], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?
        .ok_or(StoreError::NoMailbox)?;
    let exists: i64 = c
        .prepare_cached(
            "SELECT COUNT(*) FROM mailboxes WHERE account_id = ?1
             AND (name = ?2 OR substr(name, 1, length(?2) + 1) = ?2 || '/')",
        )?
        .query_row(params![account.0, to], |r| r.get(0))?;
    if exists > 0 {
        return Err(StoreError::MailboxExists);
    }
    if from != "INBOX" {
        let renamed = c
            .prepare_cached(
                "UPDATE mailboxes SET name = ?3 || substr(name, length(?2) + 1)
                 WHERE account_id = ?1
                   AND (name = ?2 OR substr(name, 1, length(?2) + 1) = ?2 || '/')
                 RETURNING mailbox_id, name",
            )?
            .query_map(params![account.0, from, to], |r| {
                Ok((MailboxId(r.get(0)?), r.get::<_, String>(1)?))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        // Parents before their children, whatever order SQLite returns.
        let mut renamed = renamed;
        renamed.sort_unstable_by(|a, b| a.1.cmp(&b.1));
        c.prepare_cached(
            "UPDATE OR REPLACE subscriptions SET name = ?3 || substr(name, length(?2) + 1)
             WHERE account_id = ?1 AND (name = ?2 OR substr(name, 1, length(?2) + 1) = ?2 || '/')",
        )?
        .execute(params![account.0, from, to])?;
        let notes = renamed
            .into_iter()
            .map(|(mailbox, new)| {
                // Each new name is `to` and what followed `from` in the old.
                let old = format!("{from}{}", new.get(to.len()..).unwrap_or_default());
                Note::Event(account, Event::MailboxRenamed { mailbox, old, new })
            })
            .collect();
        return Ok(((), notes));
    }
    let (new_id, mut notes) = create_mailbox(c, account, to, None)?;
    // The messages keep their UIDs and modseqs: the new mailbox starts at
    // INBOX's UIDNEXT and HIGHESTMODSEQ, so that its HIGHESTMODSEQ covers
    // them and its next change goes above them.
    c.prepare_cached(
        "UPDATE mailboxes SET uid_next = ?1,
           keywords = (SELECT keywords FROM mailboxes WHERE mailbox_id = ?2),
           highest_modseq = (SELECT highest_modseq FROM mailboxes WHERE mailbox_id = ?2)
         WHERE account_id = ?3 AND mailbox_id = ?4",
    )?
    .execute(params![uid_next, src_id, account.0, new_id.0])?;
    let uids = c
        .prepare_cached(
            "SELECT uid FROM messages WHERE account_id = ? AND mailbox_id = ? ORDER BY uid",
        )?
        .query_map(params![account.0, src_id], |r| r.get::<_, i64>(0))?
        .map(|u| u.map(|u| u as u32))
        .collect::<rusqlite::Result<Vec<u32>>>()?;
    let modseq = next_modseq(c, account, MailboxId(src_id))?;
    c.prepare_cached("UPDATE messages SET mailbox_id = ? WHERE account_id = ? AND mailbox_id = ?")?
        .execute(params![new_id.0, account.0, src_id])?;
    c.prepare_cached(
        "INSERT OR REPLACE INTO expunged (account_id, mailbox_id, uid, modseq)
         SELECT ?, ?, value, ? FROM json_each(?)",
    )?
    .execute(params![account.0, src_id, modseq as i64, json_list(&uids)])?;
    notes.push(Note::Changed(
        account,
        MailboxId(src_id),
        Entry {
            modseq,
            expunged: uids,
            ..Entry::default()
        },
    ));
    Ok(((), notes))
}

/// A message to append, parsed and (when large) already on disk.
pub(crate) struct AppendJob {
    pub account: AccountId,
    pub mailbox: MailboxId,
    pub prepared: Prepared,
    /// The bytes, for a message small enough to live in the database.
    pub inline: Option<Vec<u8>>,
    pub flags: Flags,
    pub internal_date: DateTime<FixedOffset>,
    pub skip_if_present: bool,
}

pub(crate) fn append(c: &Tx, job: &AppendJob) -> Result<(Appended, Vec<Note>)> {
    let (account, mailbox, p) = (job.account, job.mailbox, &job.prepared);
    if job.skip_if_present
        && let Some((uid, modseq, uid_validity)) = c
            .prepare_cached(
                "SELECT m.uid, mb.highest_modseq, mb.uid_validity FROM messages m
                 JOIN mailboxes mb
                   ON mb.account_id = m.account_id AND mb.mailbox_id = m.mailbox_id
                 WHERE m.account_id = ? AND m.mailbox_id = ? AND m.hash = ? LIMIT 1",
            )?
            .query_row(params![account.0, mailbox.0, p.hash], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, i64>(2)?,
                ))
            })
            .optional()?
    {
        let appended = Appended {
            uid: uid as u32,
            modseq: modseq as u64,
            uid_validity: uid_validity as u32,
            duplicate: true,
        };
        return Ok((appended, Vec::new()));
    }
    let (uid, modseq, uid_validity): (i64, i64, i64) = c
        .prepare_cached(
            "UPDATE mailboxes SET uid_next = uid_next + 1, highest_modseq = highest_modseq + 1
             WHERE account_id = ? AND mailbox_id = ?
             RETURNING uid_next - 1, highest_modseq, uid_validity",
        )?
        .query_row(params![account.0, mailbox.0], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })
        .optional()?
        .ok_or(StoreError::NoMailbox)?;
    insert_blob(c, account, p)?;
    if let Some(data) = &job.inline {
        c.prepare_cached(
            "INSERT OR IGNORE INTO blob_data (account_id, hash, data) VALUES (?, ?, ?)",
        )?
        .execute(params![account.0, p.hash, data])?;
    }
    c.prepare_cached(
        "INSERT INTO messages (account_id, mailbox_id, uid, modseq, flags, keywords,
                               internal_date, internal_tz, size, hash)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )?
    .execute(params![
        account.0,
        mailbox.0,
        uid,
        modseq,
        i64::from(job.flags.system),
        job.flags.keywords_text(),
        job.internal_date.timestamp(),
        i64::from(job.internal_date.offset().local_minus_utc()),
        p.size as i64,
        p.hash,
    ])?;
    let keywords = add_keywords(c, account, mailbox, &job.flags.keywords)?;
    let appended = Appended {
        uid_validity: uid_validity as u32,
        uid: uid as u32,
        modseq: modseq as u64,
        duplicate: false,
    };
    let note = Note::Changed(
        account,
        mailbox,
        Entry {
            modseq: appended.modseq,
            updated: vec![(appended.uid, job.flags.clone())],
            expunged: Vec::new(),
            keywords,
        },
    );
    Ok((appended, vec![note]))
}

fn insert_blob(c: &Tx, account: AccountId, p: &Prepared) -> Result<()> {
    let (rowid, refcount): (i64, i64) = c
        .prepare_cached(
            "INSERT INTO blobs (account_id, hash, size, refcount, meta, header, sent_day,
                                search_headers, imap)
             VALUES (?, ?, ?, 1, ?, ?, ?, ?, ?)
             ON CONFLICT (account_id, hash) DO UPDATE SET refcount = refcount + 1
             RETURNING rowid, refcount",
        )?
        .query_row(
            params![
                account.0,
                p.hash,
                p.size as i64,
                p.meta,
                p.header,
                p.sent_day,
                p.search_headers,
                p.rendered,
            ],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
    // A new blob: keep and index its text for SEARCH.
    if refcount == 1 {
        c.prepare_cached("INSERT INTO blob_text (account_id, hash, body) VALUES (?, ?, ?)")?
            .execute(params![account.0, p.hash, p.search_body])?;
        // REPLACE: a row left for this rowid by earlier content (the
        // upgrade's backfill racing a delete) must not fail the append.
        c.prepare_cached(
            "INSERT OR REPLACE INTO blob_fields (account_id, blob, tag, fields)
             VALUES (?, ?, ?, ?)",
        )?
        .execute(params![
            account.0,
            rowid,
            ingest::hash_tag(&p.hash),
            p.fields
        ])?;
        c.index_added(rowid)?;
    }
    Ok(())
}

pub(crate) fn store_flags(
    c: &Tx,
    account: AccountId,
    mailbox: MailboxId,
    uids: &[u32],
    op: FlagOp,
    flags: &Flags,
    unchanged_since: Option<u64>,
) -> Result<(StoreResult, Vec<Note>)> {
    let mut result = StoreResult::default();
    let mut modseq = None;
    for (uid, old, old_modseq) in flags_of(c, account, mailbox, uids)? {
        // RFC 7162 §3.1.3: changed after the client's mod-sequence (every
        // message has one of at least 1, so 0 always fails): left alone.
        if unchanged_since.is_some_and(|n| old_modseq > n) {
            result.modified.push(uid);
            continue;
        }
        let new = old.apply(op, flags);
        let same = new.system == old.system
            && new.keywords.len() == old.keywords.len()
            && new.keywords.iter().all(|k| old.has_keyword(k));
        if same {
            // As stored: keywords given in another case keep their spelling.
            result.current.push((uid, old, old_modseq));
            continue;
        }
        let m = match modseq {
            Some(m) => m,
            None => *modseq.insert(next_modseq(c, account, mailbox)?),
        };
        c.prepare_cached(
            "UPDATE messages SET flags = ?, keywords = ?, modseq = ?
             WHERE account_id = ? AND mailbox_id = ? AND uid = ?",
        )?
        .execute(params![
            i64::from(new.system),
            new.keywords_text(),
            m as i64,
            account.0,
            mailbox.0,
            i64::from(uid),
        ])?;
        result.changed.push((uid, new.clone()));
        result.current.push((uid, new, m));
    }
    let Some(m) = modseq else {
        return Ok((result, Vec::new()));
    };
    // Only keywords set become the mailbox's, not those removed.
    let keywords = match op {
        FlagOp::Remove => None,
        FlagOp::Add | FlagOp::Replace => add_keywords(c, account, mailbox, &flags.keywords)?,
    };
    result.keywords_changed = keywords.is_some();
    result.modseq = m;
    let note = Note::Changed(
        account,
        mailbox,
        Entry {
            modseq: m,
            updated: result.changed.clone(),
            expunged: Vec::new(),
            keywords,
        },
    );
    Ok((result, vec![note]))
}

/// The UIDs expunged, and the hashes of blobs left without a reference.
pub(crate) type Expunged = (Vec<u32>, Vec<String>);

/// Expunges the \\Deleted messages (of `uids`, if given); returns them
/// and the blobs left without a reference.
pub(crate) fn expunge(
    c: &Tx,
    account: AccountId,
    mailbox: MailboxId,
    uids: Option<&[u32]>,
) -> Result<(Expunged, Vec<Note>)> {
    let deleted = c
        .prepare_cached(
            "SELECT uid FROM messages
             WHERE account_id = ? AND mailbox_id = ? AND (flags & 8) != 0 ORDER BY uid",
        )?
        .query_map(params![account.0, mailbox.0], |r| r.get::<_, i64>(0))?
        .filter_map(|u| match u {
            Ok(u) if uids.is_none_or(|set| set.binary_search(&(u as u32)).is_ok()) => {
                Some(Ok(u as u32))
            }
            Ok(_) => None,
            Err(e) => Some(Err(e)),
        })
        .collect::<rusqlite::Result<Vec<u32>>>()?;
    if deleted.is_empty() {
        return Ok(((deleted, Vec::new()), Vec::new()));
    }
    let modseq = next_modseq(c, account, mailbox)?;
    let gone = remove_messages(c, account, mailbox, &deleted, modseq)?;
    let note = Note::Changed(
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

pub(crate) fn copy(
    c: &Tx,
    account: AccountId,
    from: MailboxId,
    uids: &[u32],
    to: MailboxId,
    is_move: bool,
) -> Result<(CopyResult, Vec<Note>)> {
    let sources = flags_of(c, account, from, uids)?;
    if sources.is_empty() {
        // Nothing to copy changes nothing, but the target must exist.
        let (uid_validity, modseq): (i64, i64) = c
            .prepare_cached(
                "SELECT uid_validity, highest_modseq FROM mailboxes
                 WHERE account_id = ? AND mailbox_id = ?",
            )?
            .query_row(params![account.0, to.0], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?
            .ok_or(StoreError::NoMailbox)?;
        let result = CopyResult {
            uid_validity: uid_validity as u32,
            pairs: Vec::new(),
            dest_modseq: modseq as u64,
        };
        return Ok((result, Vec::new()));
    }
    let count = sources.len() as i64;
    let (first_uid, dest_modseq, uid_validity): (i64, i64, i64) = c
        .prepare_cached(
            "UPDATE mailboxes SET uid_next = uid_next + ?1, highest_modseq = highest_modseq + 1
             WHERE account_id = ?2 AND mailbox_id = ?3
             RETURNING uid_next - ?1, highest_modseq, uid_validity",
        )?
        .query_row(params![count, account.0, to.0], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })
        .optional()?
        .ok_or(StoreError::NoMailbox)?;
    let mut result = CopyResult {
        uid_validity: uid_validity as u32,
        pairs: Vec::with_capacity(sources.len()),
        dest_modseq: dest_modseq as u64,
    };
    let mut insert = c.prepare_cached(
        "INSERT INTO messages (account_id, mailbox_id, uid, modseq, flags, keywords,
                               internal_date, internal_tz, size, hash)
         SELECT account_id, ?, ?, ?, flags, keywords, internal_date, internal_tz, size, hash
         FROM messages WHERE account_id = ? AND mailbox_id = ? AND uid = ?",
    )?;
    let mut reference = c.prepare_cached(
        "UPDATE blobs SET refcount = refcount + 1 WHERE account_id = ?1 AND hash =
         (SELECT hash FROM messages WHERE account_id = ?1 AND mailbox_id = ?2 AND uid = ?3)",
    )?;
    let mut keywords: Vec<String> = Vec::new();
    for (i, (uid, flags, _)) in sources.iter().enumerate() {
        let new_uid = first_uid + i as i64;
        insert.execute(params![
            to.0,
            new_uid,
            dest_modseq,
            account.0,
            from.0,
            i64::from(*uid)
        ])?;
        reference.execute(params![account.0, from.0, i64::from(*uid)])?;
        for k in &flags.keywords {
            if !keywords.iter().any(|x| x.eq_ignore_ascii_case(k)) {
                keywords.push(k.clone());
            }
        }
        result.pairs.push((*uid, new_uid as u32));
    }
    let dest_keywords = add_keywords(c, account, to, &keywords)?;
    let flags_of: HashMap<u32, &Flags> = sources.iter().map(|(u, f, _)| (*u, f)).collect();
    let mut notes = vec![Note::Changed(
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
    if is_move && !sources.is_empty() {
        let m = next_modseq(c, account, from)?;
        let moved: Vec<u32> = sources.iter().map(|s| s.0).collect();
        // The copies hold references, so no blob can go here.
        remove_messages(c, account, from, &moved, m)?;
        notes.push(Note::Changed(
            account,
            from,
            Entry {
                modseq: m,
                expunged: moved,
                ..Entry::default()
            },
        ));
    }
    Ok((result, notes))
}

/// Deletes messages with tombstones at `modseq`; returns the hashes of
/// blobs no message refers to any more (their files go after commit).
fn remove_messages(
    c: &Tx,
    account: AccountId,
    mailbox: MailboxId,
    uids: &[u32],
    modseq: u64,
) -> Result<Vec<String>> {
    let mut gone = Vec::new();
    for chunk in uids.chunks(UID_CHUNK) {
        let list = json_list(chunk);
        let per_hash = c
            .prepare_cached(
                "SELECT hash, COUNT(*) FROM messages WHERE account_id = ? AND mailbox_id = ?
                 AND uid IN (SELECT value FROM json_each(?)) GROUP BY hash",
            )?
            .query_map(params![account.0, mailbox.0, list], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })?
            .collect::<rusqlite::Result<Vec<(String, i64)>>>()?;
        gone.extend(release_blobs(c, account, &per_hash)?);
        c.prepare_cached(
            "DELETE FROM messages WHERE account_id = ? AND mailbox_id = ?
             AND uid IN (SELECT value FROM json_each(?))",
        )?
        .execute(params![account.0, mailbox.0, list])?;
        c.prepare_cached(
            "INSERT OR REPLACE INTO expunged (account_id, mailbox_id, uid, modseq)
             SELECT ?, ?, value, ? FROM json_each(?)",
        )?
        .execute(params![account.0, mailbox.0, modseq as i64, list])?;
    }
    Ok(gone)
}

/// The flags and modseqs of the given messages that exist, ascending by UID.
fn flags_of(
    c: &Tx,
    account: AccountId,
    mailbox: MailboxId,
    uids: &[u32],
) -> Result<Vec<(u32, Flags, u64)>> {
    let mut out = Vec::with_capacity(uids.len());
    let mut select = c.prepare_cached(
        "SELECT uid, flags, keywords, modseq FROM messages WHERE account_id = ? AND mailbox_id = ?
         AND uid IN (SELECT value FROM json_each(?)) ORDER BY uid",
    )?;
    for chunk in uids.chunks(UID_CHUNK) {
        let rows = select.query_map(params![account.0, mailbox.0, json_list(chunk)], |r| {
            Ok((
                r.get::<_, i64>(0)? as u32,
                Flags::from_parts(r.get(1)?, r.get_ref(2)?.as_str()?),
                r.get::<_, i64>(3)? as u64,
            ))
        })?;
        for row in rows {
            out.push(row?);
        }
    }
    Ok(out)
}

/// Drops `n` references per blob; deletes the blobs that have none left
/// and returns their hashes.
fn release_blobs(c: &Tx, account: AccountId, per_hash: &[(String, i64)]) -> Result<Vec<String>> {
    let mut gone = Vec::new();
    for (hash, n) in per_hash {
        let left: Option<i64> = c
            .prepare_cached(
                "UPDATE blobs SET refcount = refcount - ? WHERE account_id = ? AND hash = ?
                 RETURNING refcount",
            )?
            .query_row(params![n, account.0, hash], |r| r.get(0))
            .optional()?;
        if left.is_none_or(|l| l > 0) {
            continue;
        }
        let rowid: i64 = c
            .prepare_cached("DELETE FROM blobs WHERE account_id = ? AND hash = ? RETURNING rowid")?
            .query_row(params![account.0, hash], |r| r.get(0))?;
        c.index_removed(rowid)?;
        c.prepare_cached("DELETE FROM blob_fields WHERE blob = ?")?
            .execute([rowid])?;
        for q in [
            "DELETE FROM blob_data WHERE account_id = ? AND hash = ?",
            "DELETE FROM blob_text WHERE account_id = ? AND hash = ?",
        ] {
            c.prepare_cached(q)?.execute(params![account.0, hash])?;
        }
        gone.push(hash.clone());
    }
    Ok(gone)
}
