//! Content-addressed message files for the embedded backend. Files are
//! immutable: written to a temporary name, fsynced, renamed, and the
//! directory fsynced, all before the database commit that refers to them.

use crate::types::{AccountId, MessageData};
use std::fs;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

pub struct BlobFiles {
    root: PathBuf,
    tmp: PathBuf,
}

impl BlobFiles {
    pub fn open(root: &Path, tmp: &Path) -> io::Result<Self> {
        fs::create_dir_all(root)?;
        fs::create_dir_all(tmp)?;
        Ok(BlobFiles {
            root: root.to_path_buf(),
            tmp: tmp.to_path_buf(),
        })
    }

    pub fn path(&self, account: AccountId, hash: &str) -> PathBuf {
        let prefix = hash.get(..2).unwrap_or("xx");
        self.root
            .join(account.0.to_string())
            .join(prefix)
            .join(hash)
    }

    /// Makes the blob durable. Returns false when it already existed.
    pub fn put(&self, account: AccountId, hash: &str, data: MessageData) -> io::Result<bool> {
        let path = self.path(account, hash);
        if path.exists() {
            return Ok(false);
        }
        let dir = path.parent().unwrap_or(&self.root);
        fs::create_dir_all(dir)?;
        let tmp = match data {
            MessageData::Bytes(bytes) => {
                let mut f = tempfile::NamedTempFile::new_in(&self.tmp)?;
                f.write_all(&bytes)?;
                f
            }
            MessageData::File(f) => f,
        };
        tmp.as_file().sync_all()?;
        tmp.persist(&path).map_err(|e| e.error)?;
        fs::File::open(dir)?.sync_all()?;
        Ok(true)
    }

    /// The message file, open; `NotFound` when there is none.
    pub fn open_file(&self, account: AccountId, hash: &str) -> io::Result<fs::File> {
        fs::File::open(self.path(account, hash))
    }

    pub fn read_range(
        &self,
        account: AccountId,
        hash: &str,
        start: u64,
        len: u64,
    ) -> io::Result<Vec<u8>> {
        let mut f = fs::File::open(self.path(account, hash))?;
        f.seek(SeekFrom::Start(start))?;
        let mut buf = Vec::with_capacity(len.min(16 << 20) as usize);
        f.take(len).read_to_end(&mut buf)?;
        Ok(buf)
    }

    pub fn remove(&self, account: AccountId, hash: &str) {
        if let Err(e) = fs::remove_file(self.path(account, hash))
            && e.kind() != io::ErrorKind::NotFound
        {
            tracing::warn!(%hash, error = %e, "could not remove blob");
        }
    }

    pub fn remove_account(&self, account: AccountId) -> io::Result<()> {
        match fs::remove_dir_all(self.root.join(account.0.to_string())) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }
}
