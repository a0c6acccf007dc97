//! Telling the world about committed changes: the in-memory change log and
//! mailbox index cache first, then the change bus, and, between processes
//! on one data directory, a Unix datagram socket (`feed.sock`) on which
//! tool processes (`crispin deliver`, `import`, `user`) tell the running
//! server, which publishes what it hears on its own bus.
//!
//! One event a datagram, as text: space-separated fields, names with `%`,
//! white space and control characters as `%XX` (of their UTF-8 bytes):
//!
//! ```text
//! changed ACCOUNT MAILBOX MODSEQ
//! created ACCOUNT MAILBOX NAME
//! deleted ACCOUNT MAILBOX NAME
//! renamed ACCOUNT MAILBOX OLD NEW
//! subscribed ACCOUNT NAME
//! unsubscribed ACCOUNT NAME
//! resync ACCOUNT
//! resync
//! unlock NAME
//! ```
//!
//! A notice the server cannot read (cut short, or from another version)
//! costs a resync of everything it holds, never a missed change.

use super::commit::Note;
use crate::bus::{ChangeBus, Event};
use crate::changelog::ChangeLog;
use crate::index::IndexCache;
use crate::types::*;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// The longest notice: far beyond two mailbox names of the longest kind,
/// far below what a datagram can carry. A longer one is sent as `resync`.
const MAX_NOTICE: usize = 64 * 1024;

pub(super) struct Notifier {
    /// Recent changes per mailbox, for sessions catching up (IDLE).
    pub(super) log: ChangeLog,
    /// Per-mailbox message index (see [`crate::index`]).
    pub(super) index: IndexCache,
    pub(super) bus: ChangeBus,
    /// Where a running server receives change notices from other
    /// processes (`crispin deliver`, `crispin import`).
    feed_socket: PathBuf,
    /// Set in those other processes: tell the server about our changes.
    pub(super) notify_server: AtomicBool,
    /// Set in the server, which hears of every other process's changes:
    /// then a cached index no change was heard of since is current.
    pub(super) hears_all: AtomicBool,
    /// Notices about accounts heard from other processes.
    pub(super) accounts: tokio::sync::broadcast::Sender<AccountNotice>,
}

impl Notifier {
    pub(super) fn new(dir: &Path) -> Notifier {
        Notifier {
            log: ChangeLog::default(),
            index: IndexCache::default(),
            bus: ChangeBus::default(),
            feed_socket: dir.join("feed.sock"),
            notify_server: AtomicBool::new(false),
            hears_all: AtomicBool::new(false),
            accounts: tokio::sync::broadcast::channel(16).0,
        }
    }

    /// After a commit of ours, in commit order: remember the change for
    /// catching-up sessions, publish it, and from a tool process tell the
    /// running server.
    pub(super) fn committed(&self, note: Note) {
        let (account, event) = match note {
            Note::Changed(account, mailbox, entry) => {
                let modseq = entry.modseq;
                self.log.record(account, mailbox, entry);
                (account, Event::MailboxChanged { mailbox, modseq })
            }
            Note::Event(account, event) => (account, event),
        };
        let notice = self
            .notify_server
            .load(Ordering::Relaxed)
            .then(|| encode(account, &event));
        self.publish(account, event);
        if let Some(notice) = notice
            && let Ok(sock) = std::os::unix::net::UnixDatagram::unbound()
        {
            let notice = if notice.len() > MAX_NOTICE {
                tracing::warn!(len = notice.len(), "change notice too long: sent as resync");
                "resync".to_string()
            } else {
                notice
            };
            // No server running is fine: nobody is waiting.
            let _ = sock.send_to(notice.as_bytes(), &self.feed_socket);
        }
    }

    /// Another process's change, or ours: the caches learn of it before
    /// anyone who is woken by it reads them.
    fn publish(&self, account: AccountId, event: Event) {
        match &event {
            Event::MailboxChanged { mailbox, modseq } => self.index.changed(*mailbox, *modseq),
            // An id that comes back must not find the old mailbox's state.
            Event::MailboxCreated { mailbox, .. } | Event::MailboxDeleted { mailbox, .. } => {
                self.log.invalidate(*mailbox);
                self.index.forget(*mailbox);
            }
            Event::MailboxRenamed { .. } | Event::SubscriptionChanged { .. } => {}
            Event::Resync => {
                self.log.clear();
                self.index.forget_all();
            }
        }
        self.bus.publish(account, event);
    }

    /// What the server heard on the feed socket.
    fn heard(&self, notice: Option<Heard>) {
        match notice {
            Some(Heard::Event(account, event)) => {
                // The change log holds our commits only: it cannot answer
                // across another process's.
                if let Event::MailboxChanged { mailbox, .. } = &event {
                    self.log.invalidate(*mailbox);
                }
                self.publish(account, event);
            }
            Some(Heard::Unlock(name)) => {
                let _ = self.accounts.send(AccountNotice::Unlock(name));
            }
            Some(Heard::Resync) | None => {
                self.log.clear();
                self.index.forget_all();
                self.bus.resync();
            }
        }
    }

    /// In the server: receive change notices from other processes on
    /// the feed socket and publish them, until the store is gone.
    pub(super) fn listen(self: &Arc<Self>) -> std::io::Result<()> {
        let _ = std::fs::remove_file(&self.feed_socket);
        let sock = tokio::net::UnixDatagram::bind(&self.feed_socket)?;
        self.hears_all.store(true, Ordering::Relaxed);
        let notes = Arc::downgrade(self);
        tokio::spawn(async move {
            // One byte more than a notice may have: a fuller read was cut.
            let mut buf = vec![0u8; MAX_NOTICE + 1];
            while let Ok(n) = sock.recv(&mut buf).await {
                let Some(notes) = notes.upgrade() else { return };
                let notice = buf.get(..n).filter(|_| n <= MAX_NOTICE).and_then(decode);
                if notice.is_none() {
                    tracing::warn!(len = n, "unreadable change notice: resyncing everything");
                }
                notes.heard(notice);
            }
        });
        Ok(())
    }

    /// From a tool process: tells the running server. `Ok(false)` when no
    /// server is listening on this data directory.
    pub(super) fn tell(&self, notice: &AccountNotice) -> std::io::Result<bool> {
        let AccountNotice::Unlock(name) = notice;
        let sock = std::os::unix::net::UnixDatagram::unbound()?;
        match sock.send_to(format!("unlock {name}").as_bytes(), &self.feed_socket) {
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

/// A notice as the server reads it.
#[derive(Debug, PartialEq, Eq)]
enum Heard {
    Event(AccountId, Event),
    Unlock(String),
    /// Events may have been lost, anywhere.
    Resync,
}

fn encode(account: AccountId, event: &Event) -> String {
    let a = account.0;
    match event {
        Event::MailboxChanged { mailbox, modseq } => format!("changed {a} {} {modseq}", mailbox.0),
        Event::MailboxCreated { mailbox, name } => {
            format!("created {a} {} {}", mailbox.0, escape(name))
        }
        Event::MailboxDeleted { mailbox, name } => {
            format!("deleted {a} {} {}", mailbox.0, escape(name))
        }
        Event::MailboxRenamed { mailbox, old, new } => {
            format!("renamed {a} {} {} {}", mailbox.0, escape(old), escape(new))
        }
        Event::SubscriptionChanged { name, subscribed } => {
            let verb = if *subscribed {
                "subscribed"
            } else {
                "unsubscribed"
            };
            format!("{verb} {a} {}", escape(name))
        }
        Event::Resync => format!("resync {a}"),
    }
}

fn decode(notice: &[u8]) -> Option<Heard> {
    let text = std::str::from_utf8(notice).ok()?;
    if let Some(name) = text.strip_prefix("unlock ") {
        return Some(Heard::Unlock(name.to_string()));
    }
    if text == "resync" {
        return Some(Heard::Resync);
    }
    let mut fields = text.split(' ');
    let verb = fields.next()?;
    let account = AccountId(fields.next()?.parse().ok()?);
    let event = match verb {
        "changed" => Event::MailboxChanged {
            mailbox: MailboxId(fields.next()?.parse().ok()?),
            modseq: fields.next()?.parse().ok()?,
        },
        "created" => Event::MailboxCreated {
            mailbox: MailboxId(fields.next()?.parse().ok()?),
            name: unescape(fields.next()?)?,
        },
        "deleted" => Event::MailboxDeleted {
            mailbox: MailboxId(fields.next()?.parse().ok()?),
            name: unescape(fields.next()?)?,
        },
        "renamed" => Event::MailboxRenamed {
            mailbox: MailboxId(fields.next()?.parse().ok()?),
            old: unescape(fields.next()?)?,
            new: unescape(fields.next()?)?,
        },
        "subscribed" | "unsubscribed" => Event::SubscriptionChanged {
            name: unescape(fields.next()?)?,
            subscribed: verb == "subscribed",
        },
        "resync" => Event::Resync,
        _ => return None,
    };
    // A field too many is a format we do not know.
    if fields.next().is_some() {
        return None;
    }
    Some(Heard::Event(account, event))
}

/// A name as one field: `%`, white space and control characters as `%XX`.
fn escape(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        if c == '%' || c.is_whitespace() || c.is_control() {
            let mut utf8 = [0u8; 4];
            for b in c.encode_utf8(&mut utf8).bytes() {
                let _ = write!(out, "%{b:02X}");
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn unescape(field: &str) -> Option<String> {
    let mut bytes = Vec::with_capacity(field.len());
    let mut rest = field.as_bytes();
    while let Some((&b, tail)) = rest.split_first() {
        if b == b'%' {
            let hex = std::str::from_utf8(tail.get(..2)?).ok()?;
            bytes.push(u8::from_str_radix(hex, 16).ok()?);
            rest = &tail[2..];
        } else {
            bytes.push(b);
            rest = tail;
        }
    }
    String::from_utf8(bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_event_reads_back_as_sent() {
        let names = [
            "INBOX",
            "Lists/rust users",
            "100% done\tand\nmore",
            "Entwürfe/日本",
            "%41 is not A",
            "",
        ];
        let mut events = vec![
            Event::MailboxChanged {
                mailbox: MailboxId(7),
                modseq: u64::MAX - 1,
            },
            Event::Resync,
        ];
        for name in names {
            events.extend([
                Event::MailboxCreated {
                    mailbox: MailboxId(7),
                    name: name.into(),
                },
                Event::MailboxDeleted {
                    mailbox: MailboxId(8),
                    name: name.into(),
                },
                Event::MailboxRenamed {
                    mailbox: MailboxId(9),
                    old: name.into(),
                    new: format!("{name} 2"),
                },
                Event::SubscriptionChanged {
                    name: name.into(),
                    subscribed: true,
                },
                Event::SubscriptionChanged {
                    name: name.into(),
                    subscribed: false,
                },
            ]);
        }
        for event in events {
            let notice = encode(AccountId(42), &event);
            assert!(!notice.contains(['\n', '\t']), "{notice:?}");
            assert_eq!(
                decode(notice.as_bytes()),
                Some(Heard::Event(AccountId(42), event)),
                "{notice:?}"
            );
        }
        assert_eq!(decode(b"unlock alice"), Some(Heard::Unlock("alice".into())));
        assert_eq!(decode(b"resync"), Some(Heard::Resync));
    }

    #[test]
    fn what_cannot_be_read_is_none() {
        for bad in [
            &b""[..],
            b"7 12",
            b"changed 1 2",
            b"changed 1 2 3 4",
            b"changed x 2 3",
            b"created 1 2",
            b"created 1 2 a%2",
            b"created 1 2 a%zz",
            b"created 1 2 %FF",
            b"renamed 1 2 a",
            b"moved 1 2 3",
            b"\xff\xfe",
        ] {
            assert_eq!(decode(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
    }
}
