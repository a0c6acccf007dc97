//! The reporter: the only writer of what a session tells its client about
//! the selected mailbox beside the answers to its own questions: EXISTS,
//! RECENT, EXPUNGE, FLAGS/PERMANENTFLAGS and FETCH (FLAGS), for the
//! session's own changes (STORE, EXPUNGE, MOVE) and for everyone else's,
//! and those only where the command's spec row allows it (`After`: no
//! EXPUNGE during FETCH, STORE or SEARCH by sequence number, RFC 3501
//! §7.4.1). The view in `Selected` changes here and nowhere else, as the
//! client is told. Once CONDSTORE is on, every FETCH written here carries
//! MODSEQ (RFC 7162 §3.1); once QRESYNC is on, VANISHED replaces EXPUNGE
//! (§3.2.10).

use super::Selected;
use crate::session::Session;
use crispin_proto::response::{Code, Data, FetchWriter, Status};
use crispin_proto::spec::After;
use crispin_store::{Changes, Flags, StoreError, StoreResult};
use std::io;

/// How a STORE's results are reported.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Stored {
    pub silent: bool,
    pub uid: bool,
    pub condstore: bool,
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

/// The system flags a FLAGS response lists, in RFC 3501 §2.3.2's order
/// (`\Recent` cannot be set, so it is not among them).
const SYSTEM_FLAGS: [&str; 5] = ["\\Answered", "\\Flagged", "\\Deleted", "\\Seen", "\\Draft"];

impl Selected {
    /// SELECT's and EXAMINE's untagged responses: the view as it starts
    /// (RFC 3501 §6.3.1).
    pub fn report_opened(
        &self,
        out: &mut Vec<u8>,
        uid_next: u32,
        first_unseen_uid: Option<u32>,
        highest_modseq: u64,
    ) {
        self.write_flags(out);
        Data::Exists(self.exists()).encode(out);
        Data::Recent(self.recent.len() as u32).encode(out);
        if let Some(seq) = first_unseen_uid.and_then(|u| self.seq_of(u)) {
            Status::ok("First unseen message")
                .with(Code::Unseen(seq))
                .encode(out, None);
        }
        Status::ok("UIDs valid")
            .with(Code::UidValidity(self.uid_validity))
            .encode(out, None);
        Status::ok("Predicted next UID")
            .with(Code::UidNext(uid_next))
            .encode(out, None);
        // Sent on every SELECT, not only after a CONDSTORE enabling
        // command: modseqs are kept for every mailbox (RFC 7162 §3.1.2.1).
        Status::ok("Highest")
            .with(Code::HighestModSeq(highest_modseq))
            .encode(out, None);
    }

    /// What this session's STORE did: FLAGS when it brought new keywords
    /// (`set` holds the ones it set), and the messages' flags unless
    /// `.SILENT` (RFC 3501 §6.4.6), with their UIDs after UID STORE
    /// (§6.4.8). With CONDSTORE on, each FETCH carries MODSEQ, and the
    /// messages the STORE changed get one even after `.SILENT`, so the
    /// client learns their new modseq (RFC 7162 §3.1.3).
    pub fn report_stored(
        &mut self,
        out: &mut Vec<u8>,
        result: &StoreResult,
        set: &[String],
        how: Stored,
    ) {
        // The keywords it set, and any another session created that the
        // messages carry: announced in one FLAGS before a FETCH shows them.
        let set = set.iter().filter(|_| result.keywords_changed);
        let carried = result.current.iter().flat_map(|(_, f, _)| &f.keywords);
        self.learn_keywords(out, set.chain(carried));
        if result.modseq > 0 {
            self.own_change(result.modseq);
        }
        for (msg_uid, flags, modseq) in &result.current {
            let changed = *modseq == result.modseq && result.modseq > 0;
            if how.silent && !(how.condstore && changed) {
                continue;
            }
            if let Some(seq) = self.seq_of(*msg_uid) {
                let mut w = FetchWriter::begin(out, seq);
                if !how.silent {
                    w.flags(out, flags.names(), self.is_recent(*msg_uid));
                }
                if how.uid || how.silent {
                    w.uid(out, *msg_uid);
                }
                if how.condstore {
                    w.modseq(out, *modseq);
                }
                w.end(out);
            }
        }
    }

    /// Before a FETCH shows `flags`: any keyword among them the client
    /// was not told of (another session created it since) is announced in
    /// FLAGS and PERMANENTFLAGS first, so that every keyword a FETCH
    /// carries is one the client knows (RFC 9051 §7.3.5, §7.1).
    pub fn announce_keywords(&mut self, out: &mut Vec<u8>, flags: &Flags) {
        self.learn_keywords(out, flags.keywords.iter());
    }

    /// Adds the keywords not known yet to the view; FLAGS and
    /// PERMANENTFLAGS once if there were any.
    fn learn_keywords<'a>(
        &mut self,
        out: &mut Vec<u8>,
        keywords: impl Iterator<Item = &'a String>,
    ) {
        let mut learnt = false;
        for k in keywords {
            if !self.keywords.iter().any(|x| x.eq_ignore_ascii_case(k)) {
                self.keywords.push(k.clone());
                learnt = true;
            }
        }
        if learnt {
            self.write_flags(out);
        }
    }

    /// Messages this session expunged (EXPUNGE, UID EXPUNGE, MOVE).
    pub fn report_expunged(&mut self, out: &mut Vec<u8>, uids: &[u32]) {
        let mut gone = uids.to_vec();
        gone.sort_unstable();
        gone.dedup();
        self.write_expunges(out, gone);
    }

    /// The session changed the mailbox itself and already told the client:
    /// skip re-reporting, unless someone else changed it in between.
    pub fn own_change(&mut self, modseq: u64) {
        if modseq == self.known_modseq + 1 {
            self.known_modseq = modseq;
        }
    }

    /// EXPUNGE for each of `gone` (ascending) still in the view, highest
    /// first, so that each number is still valid as sent; with QRESYNC on,
    /// one VANISHED naming their UIDs instead (RFC 7162 §3.2.10.2).
    fn write_expunges(&mut self, out: &mut Vec<u8>, gone: Vec<u32>) {
        let mut vanished = Vec::new();
        for uid in gone.into_iter().rev() {
            if let Ok(i) = self.uids.binary_search(&uid) {
                self.uids.remove(i);
                self.recent.remove(&uid);
                if self.vanished {
                    vanished.push(uid);
                } else {
                    Data::Expunge(i as u32 + 1).encode(out);
                }
            }
        }
        if !vanished.is_empty() {
            vanished.reverse();
            Data::Vanished {
                earlier: false,
                uids: &vanished,
            }
            .encode(out);
        }
    }

    /// `VANISHED (EARLIER)` for UIDs expunged before the client's view began
    /// (QRESYNC's SELECT, UID FETCH … VANISHED; RFC 7162 §3.2.5.1, §3.2.6):
    /// `uids` ascending, none of them in the view.
    pub fn report_vanished_earlier(&self, out: &mut Vec<u8>, uids: &[u32]) {
        if !uids.is_empty() {
            Data::Vanished {
                earlier: true,
                uids,
            }
            .encode(out);
        }
    }

    /// QRESYNC's SELECT (RFC 7162 §3.2.5.1): after the opening responses,
    /// what changed since the client's modseq among the messages `known`
    /// admits: VANISHED (EARLIER) for those expunged, then FETCH (UID FLAGS
    /// MODSEQ) for those changed or new. Only changes the view already
    /// holds: later ones are the reporter's news as usual.
    pub fn report_resync(
        &mut self,
        out: &mut Vec<u8>,
        changes: &Changes,
        known: impl Fn(u32) -> bool,
    ) {
        let mut gone: Vec<u32> = changes
            .expunged
            .iter()
            .copied()
            .filter(|u| known(*u) && self.seq_of(*u).is_none())
            .collect();
        gone.sort_unstable();
        self.report_vanished_earlier(out, &gone);
        for (uid, flags, modseq) in &changes.updated {
            if *modseq > self.known_modseq || !known(*uid) {
                continue;
            }
            if let Some(seq) = self.seq_of(*uid) {
                self.announce_keywords(out, flags);
                let mut w = FetchWriter::begin(out, seq);
                w.uid(out, *uid);
                w.flags(out, flags.names(), self.is_recent(*uid));
                w.modseq(out, *modseq);
                w.end(out);
            }
        }
    }

    /// The FLAGS and PERMANENTFLAGS responses: clients may set any flag
    /// but `\Recent` and create keywords (`\*`), unless read-only.
    fn write_flags(&self, out: &mut Vec<u8>) {
        let flags: Vec<&str> = SYSTEM_FLAGS
            .into_iter()
            .chain(self.keywords.iter().map(String::as_str))
            .collect();
        Data::Flags(&flags).encode(out);
        let permanent = if self.read_only {
            Status::ok("Read-only mailbox").with(Code::PermanentFlags {
                flags: Vec::new(),
                new_keywords: false,
            })
        } else {
            Status::ok("Flags permitted").with(Code::PermanentFlags {
                flags: flags.iter().map(|f| f.to_string()).collect(),
                new_keywords: true,
            })
        };
        permanent.encode(out, None);
    }
}

impl Session {
    /// Reports the changes made elsewhere (other sessions, LMTP, other
    /// processes) as far as `after` allows: EXPUNGEs wait while the client
    /// counts by sequence number, and only `After::Poll` asks the store
    /// without a wake-up, which also catches other processes' changes.
    pub(crate) async fn report(
        &mut self,
        sel: &mut Selected,
        after: After,
    ) -> Result<(), SyncError> {
        let (allow_expunge, force) = match after {
            After::Nothing => return Ok(()),
            After::NoExpunge => (false, false),
            After::News => (true, false),
            After::Poll => (true, true),
        };
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
            sel.write_expunges(out, gone);
        }

        if let Some(keywords) = &changes.keywords
            && *keywords != sel.keywords
        {
            sel.keywords = keywords.clone();
            sel.write_flags(out);
        }

        let last_uid = sel.uids.last().copied().unwrap_or(0);
        let mut new_uids = Vec::new();
        for (uid, flags, modseq) in &changes.updated {
            if *uid > last_uid {
                new_uids.push(*uid);
            } else if let Some(seq) = sel.seq_of(*uid) {
                sel.announce_keywords(out, flags);
                let mut w = FetchWriter::begin(out, seq);
                w.uid(out, *uid);
                w.flags(out, flags.names(), sel.is_recent(*uid));
                if self.condstore {
                    w.modseq(out, *modseq);
                }
                w.end(out);
            }
        }
        if !new_uids.is_empty() {
            sel.uids.extend_from_slice(&new_uids);
            Data::Exists(sel.exists()).encode(out);
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
            Data::Recent(sel.recent.len() as u32).encode(&mut self.conn.out);
        }
        sel.known_modseq = sel.known_modseq.max(changes.highest_modseq);
        Ok(())
    }
}
