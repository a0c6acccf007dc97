//! A selected mailbox as one session sees it, and the catching-up with
//! changes made elsewhere (other sessions, LMTP, ...).
//!
//! The session keeps its own sequence-number → UID map. It changes only
//! when the session reports the change: new messages by `EXISTS`, removed
//! ones by `EXPUNGE`, and only where RFC 3501 §7.4.1 allows it.

use crate::session::Session;
use crispin_proto::SequenceSet;
use crispin_store::{AccountId, Flags, MailboxInfo, StoreError};
use std::collections::HashSet;
use std::io;
use std::io::Write as _;
use tokio::sync::watch;

pub(crate) struct Selected {
    /// Whose mailbox it is: every store call about it is scoped by this.
    pub account: AccountId,
    pub info: MailboxInfo,
    pub read_only: bool,
    pub uid_validity: u32,
    /// `uids[seq - 1]` is the UID of message `seq`; ascending.
    pub uids: Vec<u32>,
    /// Messages this session reports as `\Recent`.
    pub recent: HashSet<u32>,
    pub known_modseq: u64,
    pub keywords: Vec<String>,
    pub watch: watch::Receiver<u64>,
    /// Expunged elsewhere while we could not say so yet.
    pub pending_expunge: Vec<u32>,
}

/// A resolved message: sequence number and UID.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Msg {
    pub seq: u32,
    pub uid: u32,
}

impl Selected {
    pub fn exists(&self) -> u32 {
        self.uids.len() as u32
    }

    pub fn seq_of(&self, uid: u32) -> Option<u32> {
        self.uids.binary_search(&uid).ok().map(|i| i as u32 + 1)
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

    /// Removes a UID we are reporting as expunged; returns its sequence
    /// number.
    pub fn remove(&mut self, uid: u32) -> Option<u32> {
        let i = self.uids.binary_search(&uid).ok()?;
        self.uids.remove(i);
        self.recent.remove(&uid);
        Some(i as u32 + 1)
    }

    /// The session changed the mailbox itself and already told the client:
    /// skip re-reporting, unless someone else changed it in between.
    pub fn own_change(&mut self, modseq: u64) {
        if modseq == self.known_modseq + 1 {
            self.known_modseq = modseq;
        }
    }

    /// Writes the FLAGS and PERMANENTFLAGS responses.
    pub fn write_flags(&self, out: &mut Vec<u8>) {
        let mut list = String::from("\\Answered \\Flagged \\Deleted \\Seen \\Draft");
        for k in &self.keywords {
            list.push(' ');
            list.push_str(k);
        }
        let _ = write!(out, "* FLAGS ({list})\r\n");
        if self.read_only {
            out.extend_from_slice(b"* OK [PERMANENTFLAGS ()] Read-only mailbox\r\n");
        } else {
            let _ = write!(
                out,
                "* OK [PERMANENTFLAGS ({list} \\*)] Flags permitted\r\n"
            );
        }
    }

    /// Flags as a FETCH response shows them for one message.
    pub fn write_msg_flags(&self, out: &mut Vec<u8>, uid: u32, flags: &Flags) {
        out.extend_from_slice(b"FLAGS (");
        let mut first = true;
        for name in flags.names() {
            if !first {
                out.push(b' ');
            }
            first = false;
            // Flags are atoms (keywords were validated as atoms on input).
            out.extend_from_slice(name.as_bytes());
        }
        if self.recent.contains(&uid) {
            if !first {
                out.push(b' ');
            }
            out.extend_from_slice(b"\\Recent");
        }
        out.push(b')');
    }
}

pub(crate) enum SyncError {
    /// The selected mailbox no longer exists.
    Gone,
    Io(io::Error),
    Store(StoreError),
}

impl From<io::Error> for SyncError {
    fn from(e: io::Error) -> Self {
        SyncError::Io(e)
    }
}

impl Session {
    /// Reports changes made elsewhere. `allow_expunge` is false during
    /// FETCH, STORE and SEARCH by sequence number; `force` asks the store
    /// even without a wake-up (NOOP, CHECK, IDLE), which also catches
    /// changes made by other processes.
    pub(crate) async fn sync(
        &mut self,
        sel: &mut Selected,
        allow_expunge: bool,
        force: bool,
    ) -> Result<(), SyncError> {
        let woken = sel.watch.has_changed().unwrap_or(false);
        let published = *sel.watch.borrow_and_update();
        if published == u64::MAX {
            return Err(SyncError::Gone);
        }
        let pending = allow_expunge && !sel.pending_expunge.is_empty();
        if !force && !woken && !pending {
            return Ok(());
        }
        let account = sel.account;
        let mailbox = sel.info.id;
        let changes = match self
            .ctx
            .store
            .changes_since(account, mailbox, sel.known_modseq, force)
            .await
        {
            Ok(c) => c,
            Err(StoreError::NoMailbox) => return Err(SyncError::Gone),
            Err(e) => return Err(SyncError::Store(e)),
        };
        let out = &mut self.conn.out;

        sel.pending_expunge.extend(
            changes
                .expunged
                .iter()
                .filter(|u| sel.uids.binary_search(u).is_ok()),
        );
        if allow_expunge && !sel.pending_expunge.is_empty() {
            let mut gone = std::mem::take(&mut sel.pending_expunge);
            gone.sort_unstable();
            gone.dedup();
            // Highest first, so that each number is still valid as sent.
            for uid in gone.into_iter().rev() {
                if let Some(seq) = sel.remove(uid) {
                    let _ = write!(out, "* {seq} EXPUNGE\r\n");
                }
            }
        }

        if let Some(keywords) = &changes.keywords
            && *keywords != sel.keywords
        {
            sel.keywords = keywords.clone();
            sel.write_flags(out);
        }

        let last_uid = sel.uids.last().copied().unwrap_or(0);
        let mut new_uids = Vec::new();
        for (uid, flags, _) in &changes.updated {
            if *uid > last_uid {
                new_uids.push(*uid);
            } else if let Some(seq) = sel.seq_of(*uid) {
                let _ = write!(out, "* {seq} FETCH (UID {uid} ");
                sel.write_msg_flags(out, *uid, flags);
                out.extend_from_slice(b")\r\n");
            }
        }
        if !new_uids.is_empty() {
            sel.uids.extend_from_slice(&new_uids);
            let _ = write!(out, "* {} EXISTS\r\n", sel.uids.len());
            if let Some(&max) = new_uids.last() {
                // Read-only sessions look without claiming (see SELECT).
                let claim_to = if sel.read_only { 0 } else { max + 1 };
                let first = self
                    .ctx
                    .store
                    .claim_recent(account, mailbox, claim_to)
                    .await
                    .map_err(SyncError::Store)?;
                sel.recent.extend(new_uids.iter().filter(|&&u| u >= first));
            }
            let _ = write!(self.conn.out, "* {} RECENT\r\n", sel.recent.len());
        }
        sel.known_modseq = sel.known_modseq.max(changes.highest_modseq);
        Ok(())
    }
}
