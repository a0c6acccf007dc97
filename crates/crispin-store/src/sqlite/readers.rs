//! The embedded backend's hot reads (FETCH rows, message bytes, index
//! refreshes) on read-only rusqlite connections that map the file.
//!
//! Not sqlx here: it hands every row from its connection thread to the
//! caller through a channel, and a point lookup costs two thread hops,
//! more than the lookup itself.

use super::mapped;
use crate::Result;
use rusqlite::{Connection, OpenFlags};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Bytes of the file each connection maps (1 TiB: all of it).
const MMAP_SIZE: i64 = 1 << 40;

/// Idle connections kept for reuse.
const KEEP: usize = 16;

pub(crate) struct Readers {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
}

impl Readers {
    pub fn new(path: &Path) -> Arc<Readers> {
        Arc::new(Readers {
            path: path.to_path_buf(),
            idle: Mutex::default(),
        })
    }

    fn take(&self) -> Result<Connection> {
        if let Some(c) = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop() {
            return Ok(c);
        }
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        // Pages from a map shared by all readers, which a write elsewhere
        // does not throw away (see mapped.rs); SQLite's own if it cannot be.
        let c = if mapped::register() {
            Connection::open_with_flags_and_vfs(&self.path, flags, mapped::NAME)?
        } else {
            Connection::open_with_flags(&self.path, flags)?
        };
        c.busy_timeout(Duration::from_secs(30))?;
        // Whole-mailbox reads then touch pages in place instead of a pread
        // and a copy per page. The whole file: the ceiling SQLite is built
        // with is raised from 2 GiB in .cargo/config.toml.
        c.execute_batch(&format!(
            "PRAGMA mmap_size = {MMAP_SIZE}; PRAGMA cache_size = -32768;"
        ))?;
        c.set_prepared_statement_cache_capacity(32);
        Ok(c)
    }

    fn give(&self, c: Connection) {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        if idle.len() < KEEP {
            idle.push(c);
        }
    }

    /// Runs a bounded read (a lookup by key, a few rows) in place: a
    /// thread hop would cost more than the read.
    pub fn now<T>(&self, read: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        let c = self.take()?;
        let out = read(&c);
        // A read that began a transaction ends it here, however it went;
        // a connection that cannot is not reused.
        if c.is_autocommit() || c.execute_batch("ROLLBACK").is_ok() {
            self.give(c);
        }
        out
    }

    /// Runs a read of many rows on a blocking thread.
    pub async fn scan<T: Send + 'static>(
        self: &Arc<Self>,
        read: impl FnOnce(&Connection) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let me = self.clone();
        tokio::task::spawn_blocking(move || me.now(read))
            .await
            .map_err(|e| crate::StoreError::Other(format!("read task failed: {e}")))?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_past_sqlites_default_ceiling() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        Connection::open(&path).unwrap();
        let readers = Readers::new(&path);
        let mapped: i64 = readers
            .now(|c| Ok(c.query_row("PRAGMA mmap_size", [], |r| r.get(0))?))
            .unwrap();
        // SQLite clamps the pragma to the ceiling it was built with.
        assert_eq!(mapped, MMAP_SIZE, "built without LIBSQLITE3_FLAGS?");
    }
}
