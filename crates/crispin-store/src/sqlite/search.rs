//! SEARCH on the embedded backend: header text keys from the FTS5 trigram
//! index over headers (exact sets of content hashes), everything else by
//! the shared semantics of [`crate::search`] over the mailbox index or one
//! scan of the mailbox's rows.

use super::{SqliteStore, text, to_date};
use crate::Result;
use crate::ingest;
use crate::search::{self, Query};
use crate::types::*;
use rusqlite::params;
use std::sync::Arc;

/// For a message whose stored search text was cut (or whose structure
/// went past the parser's limits): the query against the whole message,
/// decoded again now, so that the caps never turn a match into no match.
/// Rare, and as costly as the message is large.
fn matches_uncapped(
    c: &rusqlite::Connection,
    files: &super::blob::BlobFiles,
    account: AccountId,
    query: &Query,
    row: &search::Row<'_>,
) -> Result<bool> {
    use rusqlite::OptionalExtension;
    let inline: Option<Vec<u8>> = c
        .prepare_cached("SELECT data FROM blob_data WHERE account_id = ? AND hash = ?")?
        .query_row(params![account.0, row.hash], |r| r.get(0))
        .optional()?;
    let raw = match inline {
        Some(raw) => raw,
        None => match files.read_range(account, row.hash, 0, u64::MAX) {
            Ok(raw) => raw,
            // Expunged since the scan began: it no longer matches anything.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(e.into()),
        },
    };
    let text = crispin_mime::uncapped(&raw);
    Ok(search::matches(
        query,
        &search::Row {
            headers: &text.headers,
            body: &text.body,
            ..*row
        },
    ))
}

impl SqliteStore {
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

    /// [`Store::search`](crate::Store::search).
    pub(super) async fn search_uids(
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
                            modseq: e.modseq,
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
        let files = self.blobs.clone();
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
                            m.hash, m.modseq
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
                        modseq: r.get::<_, i64>(10)? as u64,
                        internal_date: to_date(r.get(3)?, r.get(4)?),
                        size: r.get::<_, i64>(5)? as u64,
                        sent_day: r.get::<_, Option<i64>>(6)?.and_then(ingest::day_from_int),
                        headers: text(r, 7)?,
                        body: text(r, 8)?,
                    };
                    let capped = (body && crispin_mime::is_capped(row.body))
                        || (headers && crispin_mime::is_capped(row.headers));
                    if search::matches(&query, &row)
                        || (capped && matches_uncapped(c, &files, account, &query, &row)?)
                    {
                        out.push(row.uid);
                    }
                }
                Ok(out)
            })
            .await
    }
}
