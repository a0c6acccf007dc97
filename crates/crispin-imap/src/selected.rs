//! A selected mailbox as one session sees it.
//!
//! The session keeps its own sequence-number → UID map, its `\Recent`
//! messages and keywords: what the client has been told. Handlers read
//! them here; only the reporter (`selected/reporter.rs`) changes them,
//! and only by telling the client (EXISTS, EXPUNGE, FLAGS), so sequence
//! numbers never shift under a client without the responses that explain
//! it.

mod reporter;

pub(crate) use reporter::{Stored, SyncError};

use crispin_proto::SequenceSet;
use crispin_store::{AccountId, MailboxInfo, Snapshot};
use std::collections::HashSet;
use tokio::sync::watch;

pub(crate) struct Selected {
    /// Whose mailbox it is: every store call about it is scoped by this.
    pub account: AccountId,
    pub info: MailboxInfo,
    pub read_only: bool,
    pub uid_validity: u32,
    /// `uids[seq - 1]` is the UID of message `seq`; ascending.
    uids: Vec<u32>,
    /// Messages this session reports as `\Recent`.
    recent: HashSet<u32>,
    /// The keywords the client was told of in FLAGS.
    keywords: Vec<String>,
    /// The modseq reported up to.
    known_modseq: u64,
    watch: watch::Receiver<u64>,
    /// Expunged elsewhere while we could not say so yet.
    pending_expunge: Vec<u32>,
    /// QRESYNC is on: expunges are reported as VANISHED (RFC 7162
    /// §3.2.10.2).
    pub vanished: bool,
}

/// A resolved message: sequence number and UID.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Msg {
    pub seq: u32,
    pub uid: u32,
}

impl Selected {
    /// The view of a mailbox as SELECT reads it: `watch` was subscribed
    /// before the snapshot was taken, so no change falls in between; UIDs
    /// from `first_recent` on are `\Recent` for this session.
    pub fn new(
        account: AccountId,
        info: MailboxInfo,
        read_only: bool,
        snap: Snapshot,
        first_recent: u32,
        watch: watch::Receiver<u64>,
    ) -> Selected {
        Selected {
            account,
            info,
            read_only,
            uid_validity: snap.uid_validity,
            recent: snap
                .uids
                .iter()
                .copied()
                .filter(|&u| u >= first_recent)
                .collect(),
            uids: snap.uids,
            known_modseq: snap.highest_modseq,
            keywords: snap.keywords,
            watch,
            pending_expunge: Vec::new(),
            vanished: false,
        }
    }

    pub fn exists(&self) -> u32 {
        self.uids.len() as u32
    }

    /// Every UID the client knows, in sequence-number order.
    pub fn uids(&self) -> &[u32] {
        &self.uids
    }

    pub fn seq_of(&self, uid: u32) -> Option<u32> {
        self.uids.binary_search(&uid).ok().map(|i| i as u32 + 1)
    }

    /// The `\Recent` messages, ascending.
    pub fn recent_uids(&self) -> Vec<u32> {
        let mut uids: Vec<u32> = self.recent.iter().copied().collect();
        uids.sort_unstable();
        uids
    }

    /// A receiver of the mailbox's change feed (IDLE waits on it).
    pub fn watch(&self) -> watch::Receiver<u64> {
        self.watch.clone()
    }

    /// Messages named by a set, ascending. For sequence numbers, a number
    /// beyond the mailbox is an error; UIDs that do not exist are skipped.
    pub fn resolve(&self, set: &SequenceSet, uid: bool) -> Result<Vec<Msg>, &'static str> {
        if uid {
            return Ok(set
                .select_sorted(&self.uids)
                .into_iter()
                .filter_map(|uid| self.seq_of(uid).map(|seq| Msg { seq, uid }))
                .collect());
        }
        let exists = self.exists();
        let ranges = set.ranges(exists);
        if exists == 0 || ranges.iter().any(|&(a, b)| a == 0 || b > exists) {
            return Err("Invalid message sequence number");
        }
        let mut out = Vec::new();
        for (a, b) in ranges {
            for seq in a..=b {
                out.push(Msg {
                    seq,
                    uid: self.uids[seq as usize - 1],
                });
            }
        }
        Ok(out)
    }

    /// Whether this session shows the message as `\Recent`.
    pub fn is_recent(&self, uid: u32) -> bool {
        self.recent.contains(&uid)
    }
}
