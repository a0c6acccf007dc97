//! The mailbox index (see [`crate::index`]) read from the database: built
//! once per mailbox, then brought up to date by reading only the rows past
//! its modseq.

use super::{SqliteStore, text};
use crate::index::{IndexEntry, MailboxIndex};
use crate::types::*;
use crate::{Result, StoreError};
use rusqlite::{OptionalExtension, params};
use std::sync::Arc;

impl SqliteStore {
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
}
