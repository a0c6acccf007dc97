//! FETCH's reads: flags, dates and sizes from the mailbox index, and only
//! the metadata columns a FETCH asks for, by content rowid, from `blobs`
//! (or from `blob_fields` when only the listed header fields are wanted).

use super::commit;
use super::{SqliteStore, text, to_date};
use crate::Result;
use crate::index::IndexEntry;
use crate::ingest;
use crate::types::*;
use rusqlite::params;
use std::sync::Arc;

impl SqliteStore {
    /// [`Store::fetch`](crate::Store::fetch).
    pub(super) async fn fetch_records(
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
