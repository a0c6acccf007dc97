//! Telling the world about committed changes: the in-memory change log and
//! mailbox index cache, the change feed, and, between processes on one
//! data directory, a Unix datagram socket (`feed.sock`) on which tool
//! processes (`crispin deliver`, `import`, `user`) tell the running server.

use crate::changelog::{ChangeLog, Entry};
use crate::bus::ChangeFeed;
use crate::index::IndexCache;
use crate::types::*;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Tells the world about committed changes: the in-memory change log, the
/// change feed, and (from tool processes) the running server.
pub(super) struct Notifier {
    pub(super) feed: ChangeFeed,
    /// Recent changes per mailbox, for sessions catching up (IDLE).
    pub(super) log: ChangeLog,
    /// Where a running server receives change notices from other
    /// processes (`crispin deliver`, `crispin import`).
    pub(super) feed_socket: PathBuf,
    /// Set in those other processes: tell the server about our changes.
    pub(super) notify_server: std::sync::atomic::AtomicBool,
    /// Per-mailbox message index (see [`crate::index`]).
    pub(super) index: IndexCache,
    /// Set in the server, which hears of every other process's changes:
    /// then a cached index no change was heard of since is current.
    pub(super) hears_all: std::sync::atomic::AtomicBool,
    /// Notices about accounts heard from other processes.
    pub(super) accounts: tokio::sync::broadcast::Sender<AccountNotice>,
}

/// The feed socket's prefix for [`AccountNotice::Unlock`].
const UNLOCK: &str = "unlock ";

impl Notifier {
    pub(super) fn new(dir: &Path) -> Notifier {
        Notifier {
            feed: ChangeFeed::default(),
            log: ChangeLog::default(),
            feed_socket: dir.join("feed.sock"),
            notify_server: std::sync::atomic::AtomicBool::new(false),
            index: IndexCache::default(),
            hears_all: std::sync::atomic::AtomicBool::new(false),
            accounts: tokio::sync::broadcast::channel(16).0,
        }
    }

    /// After a commit: remember the change for catching-up sessions and
    /// wake them.
    pub(super) fn committed(&self, account: AccountId, mailbox: MailboxId, entry: Entry) {
        let modseq = entry.modseq;
        self.log.record(account, mailbox, entry);
        self.publish(mailbox, modseq);
    }

    /// A change the change log did not see (another process's, or a
    /// deleted mailbox: `u64::MAX`): drop what the log holds and publish.
    pub(super) fn unlogged(&self, mailbox: MailboxId, modseq: u64) {
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

impl Notifier {
    /// In the server: receive change notices from other processes on
    /// the feed socket and publish them, until the store is gone.
    pub(super) fn listen(self: &Arc<Self>) -> std::io::Result<()> {
        let _ = std::fs::remove_file(&self.feed_socket);
        let sock = tokio::net::UnixDatagram::bind(&self.feed_socket)?;
        self.hears_all
            .store(true, std::sync::atomic::Ordering::Relaxed);
        let notes = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut buf = [0u8; 512];
            while let Ok(n) = sock.recv(&mut buf).await {
                let Some(notes) = notes.upgrade() else { return };
                let text = String::from_utf8_lossy(&buf[..n]);
                if let Some(name) = text.strip_prefix(UNLOCK) {
                    let _ = notes.accounts.send(AccountNotice::Unlock(name.to_string()));
                } else if let Some((m, s)) = text.split_once(' ')
                    && let (Ok(m), Ok(s)) = (m.parse(), s.parse())
                {
                    notes.unlogged(MailboxId(m), s);
                }
            }
        });
        Ok(())
    }

    /// From a tool process: tells the running server. `Ok(false)` when no
    /// server is listening on this data directory.
    pub(super) fn tell(&self, notice: &AccountNotice) -> std::io::Result<bool> {
        let AccountNotice::Unlock(name) = notice;
        let sock = std::os::unix::net::UnixDatagram::unbound()?;
        match sock.send_to(format!("{UNLOCK}{name}").as_bytes(), &self.feed_socket) {
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
}
