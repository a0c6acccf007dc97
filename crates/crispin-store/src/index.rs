//! An in-memory index of each mailbox in use: UID, flags, modseq, dates,
//! size and content address of every message, the way Dovecot keeps its
//! index files mapped. SELECT, FETCH of flags/dates/sizes and SEARCH on
//! anything but text read it instead of streaming rows out of SQLite.
//!
//! It is a cache of committed state, never the source of truth: every use
//! first reads the mailbox's highest modseq (one primary-key lookup) and,
//! when it moved, applies what changed since (rows with a higher modseq,
//! tombstones) — which also covers changes made by other processes.

use crate::types::{AccountId, Flags, MailboxId};
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

#[derive(Debug, Clone)]
pub struct IndexEntry {
    pub uid: u32,
    pub modseq: u64,
    pub flags: Flags,
    /// Unix time and zone offset (seconds) of the internal date.
    pub internal_date: i64,
    pub internal_tz: i32,
    pub size: u64,
    /// The Date: header's day as yyyymmdd.
    pub sent_day: Option<i64>,
    pub hash: Arc<str>,
    /// The content's row in `blobs`: FETCH reads metadata by it.
    pub blob: i64,
}

#[derive(Debug)]
pub struct MailboxIndex {
    pub account: AccountId,
    pub modseq: u64,
    pub uid_validity: u32,
    pub uid_next: u32,
    pub keywords: Vec<String>,
    /// Ascending by UID.
    pub entries: Vec<IndexEntry>,
}

impl MailboxIndex {
    /// The entries for `uids` (ascending), skipping missing ones.
    pub fn select(&self, uids: &[u32]) -> Vec<&IndexEntry> {
        let mut out = Vec::with_capacity(uids.len());
        let mut from = 0;
        for uid in uids {
            let rest = &self.entries[from..];
            // Runs of consecutive UIDs (1:*) need no search.
            let i = match rest.first() {
                Some(e) if e.uid >= *uid => 0,
                _ => rest.partition_point(|e| e.uid < *uid),
            };
            from += i;
            if let Some(e) = rest.get(i).filter(|e| e.uid == *uid) {
                out.push(e);
                from += 1;
            }
        }
        out
    }

    /// A newer index: `updated` rows replace or extend, `expunged` go.
    pub fn apply(
        &self,
        modseq: u64,
        uid_next: u32,
        keywords: Vec<String>,
        mut updated: Vec<IndexEntry>,
        expunged: &[u32],
    ) -> MailboxIndex {
        updated.sort_by_key(|e| e.uid);
        let mut entries = Vec::with_capacity(self.entries.len() + updated.len());
        let mut new = updated.into_iter().peekable();
        for e in &self.entries {
            while let Some(n) = new.next_if(|n| n.uid < e.uid) {
                entries.push(n);
            }
            match new.next_if(|n| n.uid == e.uid) {
                Some(n) => entries.push(n),
                None => entries.push(e.clone()),
            }
        }
        entries.extend(new);
        if !expunged.is_empty() {
            entries.retain(|e| expunged.binary_search(&e.uid).is_err());
        }
        MailboxIndex {
            account: self.account,
            modseq,
            uid_validity: self.uid_validity,
            uid_next,
            keywords,
            entries,
        }
    }
}

/// Messages kept across all cached mailboxes before the oldest go.
const MAX_ENTRIES: usize = 2_000_000;

#[derive(Default)]
pub struct IndexCache {
    inner: Mutex<Cache>,
}

#[derive(Default)]
struct Cache {
    map: HashMap<MailboxId, Arc<MailboxIndex>>,
    /// The highest modseq committed per mailbox that this process has
    /// heard of (its own commits, and other processes' by notice).
    known: HashMap<MailboxId, u64>,
    /// Mailboxes forgotten so far: an index read before a forget (of a
    /// mailbox deleted meanwhile, whose id may come back) is not kept.
    forgets: u64,
    order: VecDeque<MailboxId>,
    entries: usize,
}

impl IndexCache {
    pub fn get(&self, account: AccountId, mailbox: MailboxId) -> Option<Arc<MailboxIndex>> {
        let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner
            .map
            .get(&mailbox)
            .filter(|i| i.account == account)
            .cloned()
    }

    /// The cached index if nothing has been committed to the mailbox since
    /// it was read, which then costs no database round trip at all.
    pub fn current(&self, account: AccountId, mailbox: MailboxId) -> Option<Arc<MailboxIndex>> {
        let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let known = inner.known.get(&mailbox).copied().unwrap_or(0);
        inner
            .map
            .get(&mailbox)
            .filter(|i| i.account == account && i.modseq >= known)
            .cloned()
    }

    /// Called for every committed change, before anyone is told of it.
    /// `u64::MAX` says the mailbox was deleted (its id may come back).
    pub fn changed(&self, mailbox: MailboxId, modseq: u64) {
        if modseq == u64::MAX {
            return self.forget(mailbox);
        }
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let known = inner.known.entry(mailbox).or_insert(0);
        *known = (*known).max(modseq);
    }

    /// Taken before reading an index from the database, for [`Self::put`].
    pub fn epoch(&self) -> u64 {
        self.inner.lock().unwrap_or_else(|e| e.into_inner()).forgets
    }

    /// Keeps `index` (read at `epoch`) unless a newer one is already there
    /// or a mailbox was forgotten since it was read.
    pub fn put(&self, mailbox: MailboxId, index: Arc<MailboxIndex>, epoch: u64) {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if inner.forgets != epoch {
            return;
        }
        if let Some(old) = inner.map.get(&mailbox) {
            if old.modseq > index.modseq {
                return;
            }
            let n = old.entries.len();
            inner.entries -= n;
            inner.order.retain(|m| *m != mailbox);
        }
        inner.entries += index.entries.len();
        inner.map.insert(mailbox, index);
        inner.order.push_back(mailbox);
        while inner.entries > MAX_ENTRIES && inner.order.len() > 1 {
            if let Some(victim) = inner.order.pop_front()
                && let Some(gone) = inner.map.remove(&victim)
            {
                inner.entries -= gone.entries.len();
            }
        }
    }

    /// Forgets every mailbox (changes may have been missed).
    pub fn forget_all(&self) {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let forgets = inner.forgets + 1;
        *inner = Cache {
            forgets,
            ..Cache::default()
        };
    }

    pub fn forget(&self, mailbox: MailboxId) {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner.known.remove(&mailbox);
        inner.forgets += 1;
        if let Some(gone) = inner.map.remove(&mailbox) {
            inner.entries -= gone.entries.len();
            inner.order.retain(|m| *m != mailbox);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(uid: u32, modseq: u64) -> IndexEntry {
        IndexEntry {
            uid,
            modseq,
            flags: Flags::default(),
            internal_date: 0,
            internal_tz: 0,
            size: 1,
            sent_day: None,
            hash: Arc::from("h"),
            blob: 1,
        }
    }

    #[test]
    fn apply_and_select() {
        let base = MailboxIndex {
            account: AccountId(1),
            modseq: 5,
            uid_validity: 1,
            uid_next: 5,
            keywords: vec![],
            entries: vec![e(1, 1), e(2, 2), e(4, 4)],
        };
        let next = base.apply(8, 7, vec![], vec![e(6, 8), e(2, 7)], &[4]);
        let uids: Vec<(u32, u64)> = next.entries.iter().map(|e| (e.uid, e.modseq)).collect();
        assert_eq!(uids, vec![(1, 1), (2, 7), (6, 8)]);
        let picked: Vec<u32> = next.select(&[2, 3, 6, 9]).iter().map(|e| e.uid).collect();
        assert_eq!(picked, vec![2, 6]);
        // Runs, gaps, and UIDs before, between and after the entries.
        let many = MailboxIndex {
            entries: [3, 4, 5, 7, 8, 20].iter().map(|u| e(*u, 1)).collect(),
            ..base
        };
        let picked: Vec<u32> = many
            .select(&[1, 3, 4, 5, 6, 7, 8, 9, 19, 20, 21])
            .iter()
            .map(|e| e.uid)
            .collect();
        assert_eq!(picked, vec![3, 4, 5, 7, 8, 20]);
    }

    #[test]
    fn cache_keeps_newest_and_bounds() {
        let cache = IndexCache::default();
        let idx = |modseq| {
            Arc::new(MailboxIndex {
                account: AccountId(1),
                modseq,
                uid_validity: 1,
                uid_next: 1,
                keywords: vec![],
                entries: vec![],
            })
        };
        cache.put(MailboxId(1), idx(5), cache.epoch());
        cache.put(MailboxId(1), idx(3), cache.epoch());
        assert_eq!(cache.get(AccountId(1), MailboxId(1)).unwrap().modseq, 5);
        assert!(cache.get(AccountId(2), MailboxId(1)).is_none());
        cache.forget(MailboxId(1));
        assert!(cache.get(AccountId(1), MailboxId(1)).is_none());
    }

    #[test]
    fn current_until_a_newer_change_is_heard_of() {
        let cache = IndexCache::default();
        let idx = Arc::new(MailboxIndex {
            account: AccountId(1),
            modseq: 5,
            uid_validity: 1,
            uid_next: 1,
            keywords: vec![],
            entries: vec![],
        });
        cache.put(MailboxId(1), idx, cache.epoch());
        assert!(cache.current(AccountId(1), MailboxId(1)).is_some());
        assert!(cache.current(AccountId(2), MailboxId(1)).is_none());
        // A change the index already holds, or one to another mailbox.
        cache.changed(MailboxId(1), 5);
        cache.changed(MailboxId(2), 9);
        assert!(cache.current(AccountId(1), MailboxId(1)).is_some());
        cache.changed(MailboxId(1), 6);
        assert!(cache.current(AccountId(1), MailboxId(1)).is_none());
        // Still there to refresh from.
        assert!(cache.get(AccountId(1), MailboxId(1)).is_some());
        // A deleted mailbox is forgotten, and a new one with its id starts
        // afresh.
        let before = cache.epoch();
        cache.changed(MailboxId(1), u64::MAX);
        assert!(cache.get(AccountId(1), MailboxId(1)).is_none());
        let fresh = || {
            Arc::new(MailboxIndex {
                account: AccountId(1),
                modseq: 1,
                uid_validity: 2,
                uid_next: 1,
                keywords: vec![],
                entries: vec![],
            })
        };
        // One read before the delete is not kept.
        cache.put(MailboxId(1), fresh(), before);
        assert!(cache.get(AccountId(1), MailboxId(1)).is_none());
        cache.put(MailboxId(1), fresh(), cache.epoch());
        assert!(cache.current(AccountId(1), MailboxId(1)).is_some());
    }
}
