//! The change bus: every committed change is published, after its commit
//! and before the write that made it returns, as a typed [`Event`] on its
//! account's bus. One mechanism for IDLE, NOOP, NOTIFY and other
//! processes or nodes: the backend publishes its own commits here, and
//! whatever hears of other writers' commits (the feed socket of the
//! embedded backend, a PostgreSQL `LISTEN`) publishes theirs here too.
//!
//! Two ways to listen:
//!
//! - [`ChangeBus::subscribe`]: every event of one account, in commit
//!   order, on a bounded channel. A subscriber that falls more than
//!   [`CAPACITY`] events behind loses the oldest and is told so by an
//!   [`Event::Resync`] in their place; so is every subscriber when events
//!   may have been lost upstream (a reconnect to the database, a notice
//!   from another process that could not be read).
//! - [`ChangeBus::watch`]: the newest modseq of one mailbox, the view a
//!   selected session needs. A watch never lags (it holds a value, not a
//!   queue), and thousands of idlers on one mailbox are woken by one store
//!   of a number, whatever else happens in the account.
//!
//! Events say *that* something changed, not all of what: the store stays
//! the source of truth. A subscriber that gets [`Event::Resync`] reads
//! again what it follows (`changes_since` from the modseq it knows for each
//! mailbox it reports on, `list_mailboxes`, `subscriptions`); as the store
//! holds every change after a modseq, nothing is missed, only learned in
//! one read instead of event by event.

use crate::types::{AccountId, MailboxId};
use std::collections::HashMap;
use std::sync::Mutex;
use tokio::sync::{broadcast, watch};

/// Events a subscriber can fall behind by before it must resync. Kept
/// small: the channel's slots are allocated when an account gets its first
/// subscriber, and a subscriber that lags resyncs without loss.
pub const CAPACITY: usize = 64;

/// A watch's value once its mailbox is deleted.
pub const DELETED: u64 = u64::MAX;

/// A committed change to an account's mailboxes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Messages were added, changed or expunged; `modseq` is the mailbox's
    /// new HIGHESTMODSEQ.
    MailboxChanged {
        mailbox: MailboxId,
        modseq: u64,
    },
    MailboxCreated {
        mailbox: MailboxId,
        name: String,
    },
    /// The mailbox and its messages are gone (its id may come back for a
    /// new mailbox, with a new UIDVALIDITY).
    MailboxDeleted {
        mailbox: MailboxId,
        name: String,
    },
    /// One event per mailbox renamed (a RENAME takes the children along).
    /// Subscriptions to the old names follow: no
    /// [`Event::SubscriptionChanged`] is published for them.
    MailboxRenamed {
        mailbox: MailboxId,
        old: String,
        new: String,
    },
    SubscriptionChanged {
        name: String,
        subscribed: bool,
    },
    /// Events may have been lost: read again what you follow.
    Resync,
}

impl Event {
    /// The mailbox the event is about, if one.
    pub fn mailbox(&self) -> Option<MailboxId> {
        match self {
            Event::MailboxChanged { mailbox, .. }
            | Event::MailboxCreated { mailbox, .. }
            | Event::MailboxDeleted { mailbox, .. }
            | Event::MailboxRenamed { mailbox, .. } => Some(*mailbox),
            Event::SubscriptionChanged { .. } | Event::Resync => None,
        }
    }
}

/// One account's events, from the moment of [`ChangeBus::subscribe`].
pub struct Subscription {
    account: AccountId,
    rx: broadcast::Receiver<Event>,
}

impl Subscription {
    pub fn account(&self) -> AccountId {
        self.account
    }

    /// The next event; [`Event::Resync`] in place of those lost by
    /// lagging. `None` once the store is gone.
    pub async fn recv(&mut self) -> Option<Event> {
        match self.rx.recv().await {
            Ok(event) => Some(event),
            Err(broadcast::error::RecvError::Lagged(_)) => Some(Event::Resync),
            Err(broadcast::error::RecvError::Closed) => None,
        }
    }

    /// The next event if one is waiting (NOOP's look, without waiting).
    pub fn try_recv(&mut self) -> Option<Event> {
        match self.rx.try_recv() {
            Ok(event) => Some(event),
            Err(broadcast::error::TryRecvError::Lagged(_)) => Some(Event::Resync),
            Err(_) => None,
        }
    }
}

#[derive(Default)]
pub struct ChangeBus {
    accounts: Mutex<HashMap<AccountId, broadcast::Sender<Event>>>,
    mailboxes: Mutex<HashMap<MailboxId, watch::Sender<u64>>>,
}

impl ChangeBus {
    pub fn subscribe(&self, account: AccountId) -> Subscription {
        let mut map = self.accounts.lock().unwrap_or_else(|e| e.into_inner());
        let rx = map
            .entry(account)
            .or_insert_with(|| broadcast::channel(CAPACITY).0)
            .subscribe();
        Subscription { account, rx }
    }

    /// A receiver that wakes whenever the mailbox's modseq moves past what
    /// it has seen, and holds [`DELETED`] once the mailbox is deleted.
    pub fn watch(&self, mailbox: MailboxId) -> watch::Receiver<u64> {
        let mut map = self.mailboxes.lock().unwrap_or_else(|e| e.into_inner());
        map.entry(mailbox)
            .or_insert_with(|| watch::channel(0).0)
            .subscribe()
    }

    /// Called only after the change is committed (or, for another
    /// writer's change, once it is heard of).
    pub fn publish(&self, account: AccountId, event: Event) {
        match &event {
            Event::MailboxChanged { mailbox, modseq } => self.moved(*mailbox, *modseq),
            Event::MailboxDeleted { mailbox, .. } => self.moved(*mailbox, DELETED),
            _ => {}
        }
        let mut map = self.accounts.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(tx) = map.get(&account) {
            if tx.receiver_count() == 0 {
                map.remove(&account);
            } else {
                let _ = tx.send(event);
            }
        }
    }

    /// Every subscriber gets [`Event::Resync`] and every watch wakes (with
    /// its value as it was): events may have been lost.
    pub fn resync(&self) {
        let accounts = self.accounts.lock().unwrap_or_else(|e| e.into_inner());
        for tx in accounts.values() {
            let _ = tx.send(Event::Resync);
        }
        drop(accounts);
        let mailboxes = self.mailboxes.lock().unwrap_or_else(|e| e.into_inner());
        for tx in mailboxes.values() {
            tx.send_modify(|_| {});
        }
    }

    /// Moves a mailbox's watch forward (never back), waking its receivers.
    fn moved(&self, mailbox: MailboxId, modseq: u64) {
        let mut map = self.mailboxes.lock().unwrap_or_else(|e| e.into_inner());
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

    const A: AccountId = AccountId(1);
    const B: AccountId = AccountId(2);

    fn every_kind() -> Vec<Event> {
        vec![
            Event::MailboxCreated {
                mailbox: MailboxId(7),
                name: "Lists".into(),
            },
            Event::MailboxChanged {
                mailbox: MailboxId(7),
                modseq: 3,
            },
            Event::MailboxRenamed {
                mailbox: MailboxId(7),
                old: "Lists".into(),
                new: "Old lists".into(),
            },
            Event::SubscriptionChanged {
                name: "Old lists".into(),
                subscribed: true,
            },
            Event::MailboxDeleted {
                mailbox: MailboxId(7),
                name: "Old lists".into(),
            },
        ]
    }

    #[tokio::test]
    async fn each_event_reaches_its_accounts_subscribers_only() {
        let bus = ChangeBus::default();
        let mut a1 = bus.subscribe(A);
        let mut a2 = bus.subscribe(A);
        let mut b = bus.subscribe(B);
        for event in every_kind() {
            bus.publish(A, event);
        }
        for a in [&mut a1, &mut a2] {
            for want in every_kind() {
                assert_eq!(a.recv().await, Some(want));
            }
            assert_eq!(a.try_recv(), None);
        }
        assert_eq!(b.try_recv(), None, "another account hears nothing");
        assert_eq!(a1.account(), A);
        // A subscriber hears what came after it subscribed.
        let mut late = bus.subscribe(A);
        assert_eq!(late.try_recv(), None);
    }

    #[tokio::test]
    async fn a_lagging_subscriber_is_told_to_resync() {
        let bus = ChangeBus::default();
        let mut slow = bus.subscribe(A);
        let mut watch = bus.watch(MailboxId(1));
        let last = CAPACITY as u64 + 10;
        for modseq in 1..=last {
            bus.publish(
                A,
                Event::MailboxChanged {
                    mailbox: MailboxId(1),
                    modseq,
                },
            );
        }
        assert_eq!(slow.recv().await, Some(Event::Resync));
        // Then the events still held, the newest last.
        let mut rest = Vec::new();
        while let Some(e) = slow.try_recv() {
            rest.push(e);
        }
        assert_eq!(rest.len(), CAPACITY);
        assert_eq!(
            rest.last(),
            Some(&Event::MailboxChanged {
                mailbox: MailboxId(1),
                modseq: last
            })
        );
        // A watch holds the newest value, never a backlog.
        assert!(watch.has_changed().unwrap());
        assert_eq!(*watch.borrow_and_update(), last);
    }

    #[tokio::test]
    async fn watches_see_their_mailbox_move_forward_and_its_deletion() {
        let bus = ChangeBus::default();
        let mut rx = bus.watch(MailboxId(1));
        let other = bus.watch(MailboxId(2));
        let changed = |modseq| Event::MailboxChanged {
            mailbox: MailboxId(1),
            modseq,
        };
        bus.publish(A, changed(5));
        rx.changed().await.unwrap();
        assert_eq!(*rx.borrow_and_update(), 5);
        assert!(!other.has_changed().unwrap());
        // An older modseq never moves the value back.
        bus.publish(A, changed(3));
        assert!(!rx.has_changed().unwrap());
        // Mailbox-level events but deletion leave it alone.
        bus.publish(
            A,
            Event::MailboxRenamed {
                mailbox: MailboxId(1),
                old: "a".into(),
                new: "b".into(),
            },
        );
        assert!(!rx.has_changed().unwrap());
        bus.publish(
            A,
            Event::MailboxDeleted {
                mailbox: MailboxId(1),
                name: "b".into(),
            },
        );
        assert!(rx.has_changed().unwrap());
        assert_eq!(*rx.borrow_and_update(), DELETED);
    }

    #[tokio::test]
    async fn a_resync_reaches_every_subscriber_and_wakes_every_watch() {
        let bus = ChangeBus::default();
        let (mut a, mut b) = (bus.subscribe(A), bus.subscribe(B));
        bus.publish(A, Event::Resync);
        assert_eq!(a.try_recv(), Some(Event::Resync));
        assert_eq!(b.try_recv(), None, "one account's resync is its own");
        let mut rx = bus.watch(MailboxId(9));
        bus.resync();
        assert_eq!(a.try_recv(), Some(Event::Resync));
        assert_eq!(b.try_recv(), Some(Event::Resync));
        assert!(rx.has_changed().unwrap());
        assert_eq!(*rx.borrow_and_update(), 0, "its value as it was");
    }

    #[test]
    fn a_subscription_outlives_no_store() {
        let bus = ChangeBus::default();
        let mut a = bus.subscribe(A);
        drop(bus);
        assert_eq!(a.try_recv(), None);
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        assert_eq!(rt.block_on(a.recv()), None);
    }
}
