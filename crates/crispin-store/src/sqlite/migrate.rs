//! Opening the database file: the checks that tell a missing store from an
//! unreadable one, the migrations (`migrations/sqlite/`), and the
//! backfills of derived data they call for.

use crate::ingest;
use crate::{Result, StoreError};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use std::path::Path;
use std::time::Duration;

/// Creates the data directory (0700) and an empty database file (0600)
/// unless they exist; SQLite gives its WAL and shared-memory files the
/// database file's mode.
pub(super) fn create_private(dir: &Path) -> Result<()> {
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

/// Checks that `dir` holds a store we may read and write, migrates it and
/// fills in derived data; returns the options every connection opens the
/// database with.
pub(super) async fn prepare(dir: &Path) -> Result<SqliteConnectOptions> {
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
    let cut_fields = lacks_migration(&writer, FIELDS_MIGRATION).await?;
    let address_text = lacks_migration(&writer, ADDRESSES_MIGRATION).await?;
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
        backfill_rendered(&writer).await,
    )?;
    if cut_fields {
        full(
            "filling in listed header fields",
            backfill_fields(&writer).await,
        )?;
    }
    if address_text {
        full(
            "rebuilding the search text of headers",
            backfill_search_headers(&writer).await,
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
    // The migrations' connection is done; writes go to the committer's.
    writer.close().await;
    Ok(options)
}

/// The migration that made `blob_fields`.
const FIELDS_MIGRATION: i64 = 11;

/// Blobs from before pre-rendering, looked for at every open (served by
/// the partial index `blobs_unrendered`, which new rows never enter).
const UNRENDERED: &str = "SELECT rowid, meta FROM blobs WHERE imap IS NULL LIMIT 1000";

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

/// The migration after which address fields are searchable without
/// their comments.
const ADDRESSES_MIGRATION: i64 = 13;

/// Right after migration 0013, once: the search text of the headers of
/// content stored before it, rebuilt from its header block, and its
/// search index entry with it (content still waiting for the index gets
/// the new text when it is written). Cut short (a full disk), the content
/// not reached is searched as before: its addresses with their comments.
async fn backfill_search_headers(writer: &SqlitePool) -> Result<()> {
    let mut after = 0i64;
    loop {
        let rows: Vec<(i64, Option<Vec<u8>>)> = sqlx::query_as(
            "SELECT rowid, header FROM blobs WHERE rowid > ? ORDER BY rowid LIMIT 500",
        )
        .bind(after)
        .fetch_all(writer)
        .await?;
        let Some(last) = rows.last() else {
            return Ok(());
        };
        after = last.0;
        let mut tx = writer.begin().await?;
        for (rowid, header) in rows {
            let Some(header) = header else { continue };
            let text = crispin_mime::search_headers(&header);
            sqlx::query("UPDATE blobs SET search_headers = ? WHERE rowid = ?")
                .bind(&text)
                .bind(rowid)
                .execute(&mut *tx)
                .await?;
            let pending: i64 =
                sqlx::query_scalar("SELECT count(*) FROM search_pending WHERE blob = ?")
                    .bind(rowid)
                    .fetch_one(&mut *tx)
                    .await?;
            if pending == 0 {
                sqlx::query("DELETE FROM search_fts WHERE rowid = ?")
                    .bind(rowid)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query("INSERT INTO search_fts (rowid, headers) VALUES (?, ?)")
                    .bind(rowid)
                    .bind(&text)
                    .execute(&mut *tx)
                    .await?;
            }
        }
        tx.commit().await?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sqlite::SqliteStore;

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
