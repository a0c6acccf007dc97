//! The most recent changes of each mailbox, kept in memory so that the
//! sessions woken by one change (thousands of idling clients on one
//! mailbox) learn what changed without each asking the database.
//!
//! It is a cache of what the database says: it only answers when it holds
//! every change after the asked-for modseq, and the caller falls back to
//! the database otherwise (or when asked for fresh data).

use crate::types::{AccountId, Changes, Flags, MailboxId};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Mutex;

/// One committed change.
#[derive(Debug, Clone, Default)]
pub struct Entry {
    pub modseq: u64,
    /// New or changed messages with their flags.
    pub updated: Vec<(u32, Flags)>,
    pub expunged: Vec<u32>,
    /// The mailbox's full keyword list, when this change altered it.
    pub keywords: Option<Vec<String>>,
}

/// Entries kept per mailbox, and message items across them.
const MAX_ENTRIES: usize = 512;
const MAX_ITEMS: usize = 20_000;

struct Log {
    account: AccountId,
    /// Highest modseq recorded.
    last: u64,
    entries: VecDeque<Entry>,
    items: usize,
}

impl Log {
    /// The modseq just before the oldest entry: changes after it are all
    /// here.
    fn base(&self) -> u64 {
        self.entries.front().map_or(self.last, |e| e.modseq - 1)
    }
}

#[derive(Default)]
pub struct ChangeLog {
    logs: Mutex<HashMap<MailboxId, Log>>,
}

impl ChangeLog {
    /// Records a change right after its commit. Changes must arrive in
    /// modseq order; a gap (a change made by another process) restarts the
    /// log from this entry.
    pub fn record(&self, account: AccountId, mailbox: MailboxId, entry: Entry) {
        let mut logs = self.logs.lock().unwrap_or_else(|e| e.into_inner());
        let items = entry.updated.len() + entry.expunged.len();
        let contiguous = logs
            .get(&mailbox)
            .is_some_and(|l| l.account == account && l.last + 1 == entry.modseq);
        if !contiguous {
            logs.insert(
                mailbox,
                Log {
                    account,
                    last: entry.modseq,
                    items,
                    entries: VecDeque::from([entry]),
                },
            );
            return;
        }
        let Some(log) = logs.get_mut(&mailbox) else {
            return;
        };
        log.last = entry.modseq;
        log.items += items;
        log.entries.push_back(entry);
        while log.entries.len() > MAX_ENTRIES || (log.items > MAX_ITEMS && log.entries.len() > 1) {
            if let Some(old) = log.entries.pop_front() {
                log.items -= old.updated.len() + old.expunged.len();
            }
        }
    }

    /// Forgets a mailbox (deleted, or changed behind our back).
    pub fn invalidate(&self, mailbox: MailboxId) {
        self.logs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&mailbox);
    }

    /// Forgets every mailbox (changes may have been missed).
    pub fn clear(&self) {
        self.logs.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }

    /// Everything after `modseq`, if the log holds all of it.
    pub fn since(&self, account: AccountId, mailbox: MailboxId, modseq: u64) -> Option<Changes> {
        let logs = self.logs.lock().unwrap_or_else(|e| e.into_inner());
        let log = logs.get(&mailbox)?;
        if log.account != account || modseq < log.base() || modseq > log.last {
            return None;
        }
        let mut updated: BTreeMap<u32, (Flags, u64)> = BTreeMap::new();
        let mut expunged = Vec::new();
        let mut keywords = None;
        // Entries are in modseq order: thousands of idlers woken by one
        // change each read the last entry, not the whole log.
        let first = log.entries.partition_point(|e| e.modseq <= modseq);
        for e in log.entries.range(first..) {
            for (uid, flags) in &e.updated {
                updated.insert(*uid, (flags.clone(), e.modseq));
            }
            for uid in &e.expunged {
                updated.remove(uid);
                expunged.push(*uid);
            }
            if e.keywords.is_some() {
                keywords.clone_from(&e.keywords);
            }
        }
        expunged.sort_unstable();
        Some(Changes {
            highest_modseq: log.last,
            updated: updated
                .into_iter()
                .map(|(uid, (flags, m))| (uid, flags, m))
                .collect(),
            expunged,
            keywords,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: AccountId = AccountId(1);
    const M: MailboxId = MailboxId(7);

    fn flags(bit: u8) -> Flags {
        Flags {
            system: bit,
            keywords: Vec::new(),
        }
    }

    #[test]
    fn reads_only_what_came_after() {
        let log = ChangeLog::default();
        for (modseq, uid) in [(5, 1), (6, 2), (7, 3), (8, 4)] {
            log.record(
                A,
                M,
                Entry {
                    modseq,
                    updated: vec![(uid, flags(0))],
                    ..Default::default()
                },
            );
        }
        for (since, uids) in [(4, vec![1, 2, 3, 4]), (6, vec![3, 4]), (7, vec![4])] {
            let c = log.since(A, M, since).unwrap();
            let got: Vec<u32> = c.updated.iter().map(|u| u.0).collect();
            assert_eq!(got, uids, "since {since}");
        }
    }

    #[test]
    fn merges_and_falls_back() {
        let log = ChangeLog::default();
        assert!(log.since(A, M, 4).is_none());
        log.record(
            A,
            M,
            Entry {
                modseq: 5,
                updated: vec![(1, flags(0)), (2, flags(0))],
                ..Default::default()
            },
        );
        log.record(
            A,
            M,
            Entry {
                modseq: 6,
                updated: vec![(1, flags(1))],
                expunged: vec![2],
                keywords: Some(vec!["$x".into()]),
            },
        );
        let c = log.since(A, M, 4).unwrap();
        assert_eq!(c.highest_modseq, 6);
        assert_eq!(c.updated, vec![(1, flags(1), 6)]);
        assert_eq!(c.expunged, vec![2]);
        assert_eq!(c.keywords, Some(vec!["$x".to_string()]));
        let c = log.since(A, M, 6).unwrap();
        assert!(c.updated.is_empty() && c.expunged.is_empty() && c.keywords.is_none());
        // Older than the log, or another account: ask the database.
        assert!(log.since(A, M, 3).is_none());
        assert!(log.since(AccountId(2), M, 5).is_none());
        // A gap restarts the log.
        log.record(
            A,
            M,
            Entry {
                modseq: 9,
                ..Default::default()
            },
        );
        assert!(log.since(A, M, 6).is_none());
        assert!(log.since(A, M, 8).is_some());
        log.invalidate(M);
        assert!(log.since(A, M, 9).is_none());
    }
}
