//! The change feed: every committed mutation publishes the mailbox's new
//! highest modseq; selected and idling sessions wait on it and then ask the
//! store what changed. One mechanism for IDLE, NOOP and (later) other nodes.

use crate::types::MailboxId;
use std::collections::HashMap;
use std::sync::Mutex;
use tokio::sync::watch;

#[derive(Default)]
pub struct ChangeFeed {
    senders: Mutex<HashMap<MailboxId, watch::Sender<u64>>>,
}

impl ChangeFeed {
    /// A receiver that wakes whenever the mailbox's modseq moves past what
    /// it has seen.
    pub fn subscribe(&self, mailbox: MailboxId) -> watch::Receiver<u64> {
        let mut map = self.senders.lock().unwrap_or_else(|e| e.into_inner());
        map.entry(mailbox)
            .or_insert_with(|| watch::channel(0).0)
            .subscribe()
    }

    /// Called only after the change is committed.
    pub fn publish(&self, mailbox: MailboxId, modseq: u64) {
        let mut map = self.senders.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(tx) = map.get(&mailbox) {
            if tx.receiver_count() == 0 {
                map.remove(&mailbox);
            } else {
                tx.send_if_modified(|cur| {
                    let moved = modseq > *cur;
                    if moved {
                        *cur = modseq;
                    }
                    moved
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn wakes_subscribers() {
        let feed = ChangeFeed::default();
        let mut rx = feed.subscribe(MailboxId(1));
        let other = feed.subscribe(MailboxId(2));
        feed.publish(MailboxId(1), 5);
        rx.changed().await.unwrap();
        assert_eq!(*rx.borrow_and_update(), 5);
        assert!(!other.has_changed().unwrap());
        // An older modseq never moves the value back.
        feed.publish(MailboxId(1), 3);
        assert!(!rx.has_changed().unwrap());
    }
}
