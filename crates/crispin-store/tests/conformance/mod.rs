//! The `Store` contract, as checks every backend runs.
//!
//! Each `pub async fn` below states one rule of [`Store`] and checks it
//! through the trait alone (`Arc<dyn Store>`, nothing backend-specific),
//! on a store of its own that starts empty. The rules, in short:
//!
//! - UIDs strictly increase per mailbox and are never used again, neither
//!   after EXPUNGE nor (within one UIDVALIDITY) after the mailbox is
//!   deleted and created again, which gives it a greater UIDVALIDITY; UIDNEXT
//!   moves only when messages are added (RFC 3501 §2.3.1.1).
//! - Every change (APPEND, a STORE that changes flags, EXPUNGE, COPY into the
//!   target, MOVE on both sides) raises the mailbox's HIGHESTMODSEQ; a STORE
//!   that changes nothing (or a COPY of no message) reports nothing as
//!   changed and raises nothing; modseqs strictly increase, concurrent
//!   STOREs never share one, and a message's modseq never goes down, not
//!   even across RENAME INBOX (RFC 7162 §3.1).
//! - `changes_since` reports new UIDs, changed flags (the new flags) and
//!   expunged UIDs after a modseq, with `fresh` true and false alike.
//! - Flags: add/remove/replace, the five system flags, keywords compared
//!   case-insensitively (one spelling kept, and reported as kept); only
//!   keywords set, not removed, become the mailbox's; flags persist in
//!   `fetch`, `snapshot` and `status`.
//! - RENAME takes the children along; renaming INBOX moves its messages to
//!   a new mailbox and leaves INBOX there, empty, with UIDs that still go
//!   up (RFC 3501 §6.3.5); an existing target is `MailboxExists`, a missing
//!   source `NoMailbox`.
//! - COPY/MOVE pair source and destination UIDs in source UID order with
//!   increasing destination UIDs (COPYUID, RFC 4315); MOVE removes from the
//!   source in the same change (RFC 6851); a missing target fails and
//!   changes nothing.
//! - EXPUNGE removes only `\Deleted` messages (only among the UIDs given,
//!   in any order) and returns them ascending.
//! - Content whose last message is expunged reads as `Expunged` (from
//!   `read_blob` and `open_blob`), never as an I/O error; content opened
//!   before the expunge reads to its end (a FETCH under way sends it).
//! - Accounts: one account can neither read nor change another's mailboxes
//!   and messages (nor their `\Recent` state) by id; deleting an account
//!   removes all of it and nothing else; names are unique and
//!   case-insensitive ([`account_name`]).
//! - Concurrent writers lose nothing; `append_queued` assigns UIDs in queue
//!   order; SEARCH on header substrings and flags (the query normalized, as
//!   the session passes it); mailbox create, delete
//!   (not its children), list and subscriptions; APPEND keeps bytes, date
//!   and flags; `\Recent` goes to one claimer; `watch` sees every write.
//! - The change bus: by the time a write returns, its account's
//!   subscribers (and no other account's) have its events: a mailbox
//!   created, changed (with its new HIGHESTMODSEQ), renamed (each mailbox
//!   the RENAME moved), subscribed or unsubscribed (when that changed
//!   anything), deleted.
//!
//! A new backend runs them all from a file of its own,
//! `tests/conformance_<backend>.rs`, given a function
//! `fn fresh() -> conformance::Fresh` that makes an empty store:
//!
//! ```ignore
//! mod conformance;
//! conformance::suite!(fresh);
//! ```
//!
//! which makes one `#[tokio::test]` per check, named after it. Each call of
//! `fresh` must give an empty store of its own (a check may call it more
//! than once); the [`Guard`] returned beside the store lives as long as the
//! check uses the store (a temporary directory, or a database schema made
//! for the check that its `Drop` removes).

use chrono::{DateTime, FixedOffset};
use crispin_store::*;
use futures_util::future::BoxFuture;
use std::collections::{BTreeSet, HashSet};
use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Keeps what a store needs alive for as long as a check runs.
pub type Guard = Box<dyn std::any::Any + Send>;

/// A new, empty store.
pub type Fresh = BoxFuture<'static, (Arc<dyn Store>, Guard)>;

/// One `#[tokio::test]` per check, given a `fn() -> Fresh`.
macro_rules! conformance_suite {
    ($fresh:path) => {
        $crate::conformance::suite!(@checks $fresh;
            uids_increase_and_are_never_reused,
            every_write_raises_the_modseq,
            changes_since_reports_every_kind_of_write,
            flags_and_keywords,
            rename_takes_children_and_empties_inbox,
            copy_and_move_pair_uids_in_order,
            expunge_removes_only_deleted_messages,
            expunged_content_reads_as_expunged,
            accounts_cannot_reach_each_other,
            deleting_an_account_removes_only_it,
            account_names_are_unique_and_case_insensitive,
            concurrent_writers_lose_nothing,
            unchanged_since_is_checked_in_the_write,
            search_by_modseq,
            queued_appends_get_uids_in_queue_order,
            search_by_header_and_flags,
            search_is_not_cut_short_by_text_caps,
            keywords_per_mailbox_are_capped,
            mailboxes_create_list_delete_subscribe,
            append_keeps_bytes_date_and_flags,
            recent_goes_to_one_claimer,
            watch_sees_every_write,
            bus_tells_each_account_of_its_mailboxes,
        );
    };
    (@checks $fresh:path; $($check:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $check() {
                $crate::conformance::$check($fresh).await;
            }
        )*
    };
}
pub(crate) use conformance_suite as suite;

// ---------------------------------------------------------------- helpers

static NEXT_MESSAGE: AtomicU64 = AtomicU64::new(1);

/// A message of its own (a unique Message-ID), with this subject and body.
pub fn mail(subject: &str, body: &str) -> Vec<u8> {
    let n = NEXT_MESSAGE.fetch_add(1, Ordering::Relaxed);
    format!(
        "From: Alice Example <alice@example.org>\r\n\
         To: Bob <bob@example.net>\r\n\
         Subject: {subject}\r\n\
         Date: Tue, 2 Jan 2024 10:00:00 +0100\r\n\
         Message-ID: <{n}.conformance@example.org>\r\n\
         \r\n\
         {body}\r\n"
    )
    .into_bytes()
}

fn date() -> DateTime<FixedOffset> {
    DateTime::parse_from_rfc3339("2024-01-02T11:30:00+02:00").unwrap()
}

fn new_message(data: Vec<u8>, flags: Flags) -> NewMessage {
    NewMessage {
        data: MessageData::Bytes(data),
        flags,
        internal_date: date(),
        skip_if_present: false,
    }
}

fn fl(system: u8, keywords: &[&str]) -> Flags {
    Flags {
        system,
        keywords: keywords.iter().map(|k| k.to_string()).collect(),
    }
}

/// Flags as a set: the order of keywords is not part of the contract.
fn set(f: &Flags) -> (u8, BTreeSet<String>) {
    (f.system, f.keywords.iter().cloned().collect())
}

/// Flags as a set with keywords folded (when the spelling kept is the
/// store's choice).
fn folded(f: &Flags) -> (u8, BTreeSet<String>) {
    (
        f.system,
        f.keywords.iter().map(|k| k.to_ascii_lowercase()).collect(),
    )
}

fn sets(v: &[(u32, Flags)]) -> Vec<(u32, (u8, BTreeSet<String>))> {
    v.iter().map(|(u, f)| (*u, set(f))).collect()
}

/// `StoreResult::current` without its modseqs.
fn current(v: &[(u32, Flags, u64)]) -> Vec<(u32, (u8, BTreeSet<String>))> {
    v.iter().map(|(u, f, _)| (*u, set(f))).collect()
}

fn updates(c: &Changes) -> Vec<(u32, (u8, BTreeSet<String>), u64)> {
    c.updated.iter().map(|(u, f, m)| (*u, set(f), *m)).collect()
}

fn strictly_increasing<T: PartialOrd>(v: &[T]) -> bool {
    v.windows(2).all(|w| w[0] < w[1])
}

/// Creates the account; returns it and its INBOX.
async fn account(s: &dyn Store, name: &str) -> (AccountId, MailboxId) {
    let id = s
        .create_account(name, &Credentials::default())
        .await
        .unwrap();
    (id, mailbox(s, id, "INBOX").await)
}

async fn mailbox(s: &dyn Store, account: AccountId, name: &str) -> MailboxId {
    s.mailbox(account, name)
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("mailbox {name:?} should exist"))
        .id
}

async fn append(s: &dyn Store, a: AccountId, m: MailboxId, subject: &str, f: Flags) -> Appended {
    s.append(a, m, new_message(mail(subject, "body text"), f))
        .await
        .unwrap()
}

async fn set_flags(
    s: &dyn Store,
    a: AccountId,
    m: MailboxId,
    uids: &[u32],
    op: FlagOp,
    f: Flags,
) -> StoreResult {
    s.store_flags(a, m, uids, op, &f).await.unwrap()
}

async fn record(s: &dyn Store, a: AccountId, m: MailboxId, uid: u32) -> MessageRecord {
    let mut r = s.fetch(a, m, &[uid], FetchNeed::default()).await.unwrap();
    assert_eq!(r.len(), 1, "FETCH finds UID {uid}");
    r.remove(0)
}

async fn flags_of(s: &dyn Store, a: AccountId, m: MailboxId, uid: u32) -> Flags {
    record(s, a, m, uid).await.flags
}

async fn modseq_of(s: &dyn Store, a: AccountId, m: MailboxId, uid: u32) -> u64 {
    record(s, a, m, uid).await.modseq
}

async fn uids(s: &dyn Store, a: AccountId, m: MailboxId) -> Vec<u32> {
    s.snapshot(a, m).await.unwrap().uids
}

async fn highest(s: &dyn Store, a: AccountId, m: MailboxId) -> u64 {
    s.status(a, m).await.unwrap().highest_modseq
}

/// The message's bytes, read back through its record, as text (the test
/// messages are ASCII; a mismatch then reads as text).
async fn text_of(s: &dyn Store, a: AccountId, m: MailboxId, uid: u32) -> String {
    let r = record(s, a, m, uid).await;
    let bytes = s.read_blob(a, &r.blob, 0, r.size).await.unwrap();
    String::from_utf8_lossy(&bytes).into_owned()
}

/// The Subject of each message, in UID order.
async fn subjects(s: &dyn Store, a: AccountId, m: MailboxId) -> Vec<String> {
    let all = uids(s, a, m).await;
    let need = FetchNeed {
        header: true,
        ..FetchNeed::default()
    };
    let recs = s.fetch(a, m, &all, need).await.unwrap();
    assert_eq!(
        recs.len(),
        all.len(),
        "FETCH finds every UID of the snapshot"
    );
    recs.iter()
        .map(|r| {
            let header = String::from_utf8_lossy(r.header.as_deref().expect("header fetched"));
            header
                .lines()
                .find_map(|l| l.strip_prefix("Subject: "))
                .unwrap_or("")
                .to_string()
        })
        .collect()
}

/// Everything of the account a client could see, as text: mailboxes,
/// their status and snapshot, every message's flags, modseq and bytes,
/// subscriptions and credentials.
async fn digest(s: &dyn Store, name: &str) -> String {
    let acc = s.account(name).await.unwrap().expect("account exists");
    let a = acc.id;
    let mut out = format!("{} {:?}\n", acc.name, acc.credentials);
    let mut boxes = s.list_mailboxes(a).await.unwrap();
    boxes.sort_by(|x, y| x.name.cmp(&y.name));
    for mb in boxes {
        let st = s.status(a, mb.id).await.unwrap();
        let snap = s.snapshot(a, mb.id).await.unwrap();
        let mut keywords = snap.keywords.clone();
        keywords.sort();
        writeln!(
            out,
            "{} {:?} {:?} {st:?} uids={:?} first_unseen={:?} keywords={keywords:?}",
            mb.name, mb.id, mb.special_use, snap.uids, snap.first_unseen_uid
        )
        .unwrap();
        let recs = s
            .fetch(a, mb.id, &snap.uids, FetchNeed::default())
            .await
            .unwrap();
        for r in recs {
            let bytes = s.read_blob(a, &r.blob, 0, r.size).await.unwrap();
            writeln!(
                out,
                "  {} {:?} modseq={} size={} date={} bytes={:?}",
                r.uid,
                set(&r.flags),
                r.modseq,
                r.size,
                r.internal_date,
                String::from_utf8_lossy(&bytes)
            )
            .unwrap();
        }
    }
    let mut subs = s.subscriptions(a).await.unwrap();
    subs.sort();
    writeln!(out, "subscribed {subs:?}").unwrap();
    out
}

/// Fails with the lines that differ, when `now` is not `before`.
fn unchanged(now: &str, before: &str, what: &str) {
    if now == before {
        return;
    }
    let (old, new): (Vec<&str>, Vec<&str>) = (before.lines().collect(), now.lines().collect());
    let mut diff = String::new();
    for l in old.iter().filter(|l| !new.contains(l)) {
        writeln!(diff, "- {l}").unwrap();
    }
    for l in new.iter().filter(|l| !old.contains(l)) {
        writeln!(diff, "+ {l}").unwrap();
    }
    panic!("{what}; what changed (- before, + now):\n{diff}");
}

// ----------------------------------------------------------------- checks

/// UIDs strictly increase per mailbox and are never used again; UIDNEXT
/// moves only when messages are added; a mailbox created again under a
/// deleted one's name has a greater UIDVALIDITY (RFC 3501 §2.3.1.1).
pub async fn uids_increase_and_are_never_reused(fresh: impl Fn() -> Fresh) {
    let (store, _guard) = fresh().await;
    let s = &*store;
    let (a, _) = account(s, "alice").await;
    let work = s.create_mailbox(a, "Work", None).await.unwrap();
    let other = s.create_mailbox(a, "Other", None).await.unwrap();
    let start = s.status(a, work).await.unwrap();
    assert_ne!(start.uid_validity, 0, "UIDVALIDITY is a non-zero number");
    assert!(start.uid_next >= 1, "UIDNEXT is a non-zero number");
    assert_eq!(start.messages, 0, "a new mailbox is empty");

    let mut given = Vec::new();
    for i in 0..4 {
        let before = s.status(a, work).await.unwrap();
        let got = append(s, a, work, &format!("m{i}"), Flags::default()).await;
        // Another mailbox's appends in between: UIDs are per mailbox.
        append(s, a, other, "elsewhere", Flags::default()).await;
        if let Some(last) = given.last() {
            assert!(
                got.uid > *last,
                "UIDs strictly increase per mailbox: {} came after {last}",
                got.uid
            );
        }
        assert!(
            got.uid >= before.uid_next,
            "a new message's UID ({}) is not below the UIDNEXT announced before it ({})",
            got.uid,
            before.uid_next
        );
        assert_eq!(
            got.uid_validity, before.uid_validity,
            "APPEND reports the mailbox's UIDVALIDITY"
        );
        let after = s.status(a, work).await.unwrap();
        assert!(
            after.uid_next > got.uid,
            "UIDNEXT ({}) moves past every new UID ({})",
            after.uid_next,
            got.uid
        );
        given.push(got.uid);
    }
    let snap = s.snapshot(a, work).await.unwrap();
    let st = s.status(a, work).await.unwrap();
    assert_eq!(snap.uids, given, "the snapshot lists every UID, ascending");
    assert_eq!(
        snap.uid_next, st.uid_next,
        "snapshot and status agree on UIDNEXT"
    );
    assert_eq!(
        snap.uid_validity, st.uid_validity,
        "snapshot and status agree on UIDVALIDITY"
    );
    assert_eq!(st.uid_validity, start.uid_validity, "UIDVALIDITY stays put");
    assert_eq!(st.messages, 4, "status counts the messages");

    // Expunging the newest message moves neither UIDNEXT back nor lets its
    // UID be given out again.
    let last = *given.last().unwrap();
    set_flags(s, a, work, &[last], FlagOp::Add, fl(flag::DELETED, &[])).await;
    assert_eq!(
        s.expunge(a, work, None).await.unwrap(),
        vec![last],
        "EXPUNGE removes the \\Deleted message"
    );
    let after_expunge = s.status(a, work).await.unwrap();
    assert_eq!(
        after_expunge.uid_next, st.uid_next,
        "UIDNEXT changes only when messages are added (STORE and EXPUNGE leave it)"
    );
    let next = append(s, a, work, "after expunge", Flags::default()).await;
    assert!(
        next.uid > last,
        "a UID is never used again after EXPUNGE: got {} after {last} was expunged",
        next.uid
    );
    assert!(
        next.uid >= after_expunge.uid_next,
        "the new UID is not below UIDNEXT"
    );

    // COPY into the mailbox takes new UIDs the same way.
    let src = append(s, a, other, "to copy", Flags::default()).await;
    let before = s.status(a, work).await.unwrap();
    let copied = s.copy(a, other, &[src.uid], work, false).await.unwrap();
    assert_eq!(
        copied.pairs.len(),
        1,
        "COPY of one existing message makes one pair"
    );
    let dest = copied.pairs[0].1;
    assert!(
        dest > next.uid && dest >= before.uid_next,
        "COPY gives a new UID ({dest}) above every earlier one ({}) and UIDNEXT ({})",
        next.uid,
        before.uid_next
    );
    assert_eq!(
        copied.uid_validity, before.uid_validity,
        "CopyResult has the target's UIDVALIDITY"
    );
    assert!(
        s.status(a, work).await.unwrap().uid_next > dest,
        "UIDNEXT moves past the copy's UID"
    );

    // Deleted and created again: its old UIDs mean nothing any more, which
    // a greater UIDVALIDITY says.
    s.delete_mailbox(a, work).await.unwrap();
    let again = s.create_mailbox(a, "Work", None).await.unwrap();
    let st = s.status(a, again).await.unwrap();
    assert!(
        st.uid_validity > start.uid_validity,
        "a mailbox created again under a deleted one's name gets a greater UIDVALIDITY: {} then {}",
        start.uid_validity,
        st.uid_validity
    );
    assert_eq!(
        st.messages, 0,
        "the new mailbox has none of the old one's messages"
    );
    assert!(
        uids(s, a, again).await.is_empty(),
        "the mailbox created again is empty"
    );
    let first = append(s, a, again, "new life", Flags::default()).await;
    assert_eq!(
        first.uid_validity, st.uid_validity,
        "APPEND reports the new UIDVALIDITY"
    );
    assert_eq!(
        uids(s, a, again).await,
        vec![first.uid],
        "the mailbox created again holds just the new message"
    );
}

/// Every write raises HIGHESTMODSEQ, and the messages it changed carry its
/// modseq; a STORE that changes nothing changes no modseq (RFC 7162 §3.1).
pub async fn every_write_raises_the_modseq(fresh: impl Fn() -> Fresh) {
    let (store, _guard) = fresh().await;
    let s = &*store;
    let (a, inbox) = account(s, "alice").await;
    let dest = s.create_mailbox(a, "Dest", None).await.unwrap();
    let snap = s.snapshot(a, inbox).await.unwrap();
    let h0 = highest(s, a, inbox).await;
    assert_eq!(
        snap.highest_modseq, h0,
        "snapshot and status agree on HIGHESTMODSEQ"
    );
    // The modseq of each write to INBOX, in order.
    let mut seq = Vec::new();

    let m1 = append(s, a, inbox, "one", Flags::default()).await;
    let h1 = highest(s, a, inbox).await;
    assert!(
        m1.modseq > h0,
        "APPEND's modseq ({}) is above the HIGHESTMODSEQ before it ({h0})",
        m1.modseq
    );
    assert!(
        h1 >= m1.modseq,
        "HIGHESTMODSEQ ({h1}) covers the appended message ({})",
        m1.modseq
    );
    assert_eq!(
        modseq_of(s, a, inbox, m1.uid).await,
        m1.modseq,
        "FETCH MODSEQ is the modseq APPEND reported"
    );
    seq.push(m1.modseq);
    let m2 = append(s, a, inbox, "two", Flags::default()).await;
    assert!(m2.modseq > m1.modseq, "each APPEND has a greater modseq");
    seq.push(m2.modseq);

    // A STORE that changes flags.
    let before = highest(s, a, inbox).await;
    let r = set_flags(s, a, inbox, &[m1.uid], FlagOp::Add, fl(flag::SEEN, &[])).await;
    assert_eq!(
        sets(&r.changed),
        sets(&[(m1.uid, fl(flag::SEEN, &[]))]),
        "+FLAGS \\Seen changed the message"
    );
    assert!(
        r.modseq > before,
        "STORE's modseq ({}) is above the HIGHESTMODSEQ before it ({before})",
        r.modseq
    );
    assert!(
        highest(s, a, inbox).await >= r.modseq,
        "STORE raises HIGHESTMODSEQ"
    );
    assert_eq!(
        modseq_of(s, a, inbox, m1.uid).await,
        r.modseq,
        "a changed message's MODSEQ is its STORE's"
    );
    assert_eq!(
        modseq_of(s, a, inbox, m2.uid).await,
        m2.modseq,
        "a message the STORE did not touch keeps its MODSEQ"
    );
    seq.push(r.modseq);

    // A STORE that changes nothing.
    let before = highest(s, a, inbox).await;
    let same = set_flags(s, a, inbox, &[m1.uid], FlagOp::Add, fl(flag::SEEN, &[])).await;
    assert!(
        same.changed.is_empty(),
        "a STORE that changes nothing reports no message as changed: {:?}",
        same.changed
    );
    assert_eq!(
        current(&same.current),
        sets(&[(m1.uid, fl(flag::SEEN, &[]))]),
        "StoreResult::current still lists the message with its flags"
    );
    assert_eq!(
        highest(s, a, inbox).await,
        before,
        "a STORE that changes nothing does not raise HIGHESTMODSEQ"
    );
    assert_eq!(
        modseq_of(s, a, inbox, m1.uid).await,
        r.modseq,
        "a STORE that changes nothing leaves the message's MODSEQ"
    );
    // Nor does one naming only a UID that is not there.
    let none = set_flags(s, a, inbox, &[9999], FlagOp::Add, fl(flag::SEEN, &[])).await;
    assert!(
        none.changed.is_empty() && none.current.is_empty(),
        "a STORE naming only a missing UID finds nothing"
    );
    assert_eq!(
        highest(s, a, inbox).await,
        before,
        "a STORE naming only a missing UID raises no modseq"
    );

    // Replace on two messages: both changed, both at the STORE's modseq.
    let before = highest(s, a, inbox).await;
    let r = set_flags(
        s,
        a,
        inbox,
        &[m1.uid, m2.uid],
        FlagOp::Replace,
        fl(flag::FLAGGED, &[]),
    )
    .await;
    assert_eq!(r.changed.len(), 2, "both messages changed: {:?}", r.changed);
    assert!(
        r.modseq > before,
        "a changing STORE's modseq is above the HIGHESTMODSEQ before it"
    );
    for uid in [m1.uid, m2.uid] {
        assert_eq!(
            modseq_of(s, a, inbox, uid).await,
            r.modseq,
            "every message a STORE changed has the STORE's modseq"
        );
    }
    seq.push(r.modseq);
    // Remove.
    let r = set_flags(
        s,
        a,
        inbox,
        &[m2.uid],
        FlagOp::Remove,
        fl(flag::FLAGGED, &[]),
    )
    .await;
    assert_eq!(r.changed.len(), 1, "-FLAGS changed the message");
    assert!(
        r.modseq > highest_before(&seq),
        "removing a flag raises the modseq"
    );
    seq.push(r.modseq);

    // EXPUNGE.
    let r = set_flags(s, a, inbox, &[m2.uid], FlagOp::Add, fl(flag::DELETED, &[])).await;
    seq.push(r.modseq);
    let before = highest(s, a, inbox).await;
    assert_eq!(
        s.expunge(a, inbox, None).await.unwrap(),
        vec![m2.uid],
        "EXPUNGE removes the \\Deleted message"
    );
    let after = highest(s, a, inbox).await;
    assert!(
        after > before,
        "EXPUNGE raises HIGHESTMODSEQ ({before} before, {after} after)"
    );
    seq.push(after);

    // COPY raises the target's, not the source's.
    let (src_before, dest_before) = (after, highest(s, a, dest).await);
    let c = s.copy(a, inbox, &[m1.uid], dest, false).await.unwrap();
    let dest_after = highest(s, a, dest).await;
    assert!(
        c.dest_modseq > dest_before && dest_after >= c.dest_modseq,
        "COPY raises the target's HIGHESTMODSEQ: {dest_before} before, {dest_after} after, \
         reported {}",
        c.dest_modseq
    );
    let copy_modseq = modseq_of(s, a, dest, c.pairs[0].1).await;
    assert!(
        copy_modseq > dest_before && copy_modseq <= dest_after,
        "the copy's MODSEQ lies within the target's new range"
    );
    assert_eq!(
        highest(s, a, inbox).await,
        src_before,
        "COPY leaves the source's HIGHESTMODSEQ"
    );

    // MOVE raises both.
    let m3 = append(s, a, inbox, "three", Flags::default()).await;
    seq.push(m3.modseq);
    let (src_before, dest_before) = (highest(s, a, inbox).await, highest(s, a, dest).await);
    s.copy(a, inbox, &[m3.uid], dest, true).await.unwrap();
    let (src_after, dest_after) = (highest(s, a, inbox).await, highest(s, a, dest).await);
    assert!(
        src_after > src_before,
        "MOVE raises the source's HIGHESTMODSEQ ({src_before} before, {src_after} after)"
    );
    assert!(
        dest_after > dest_before,
        "MOVE raises the target's HIGHESTMODSEQ ({dest_before} before, {dest_after} after)"
    );
    seq.push(src_after);
    assert!(
        strictly_increasing(&seq),
        "the modseqs of successive writes strictly increase: {seq:?}"
    );
}

fn highest_before(seq: &[u64]) -> u64 {
    seq.iter().copied().max().unwrap_or(0)
}

/// `changes_since(modseq)` reports, after each kind of write, the new UIDs,
/// the changed flags (the new ones) and the expunged UIDs; with `fresh`
/// false (caches allowed) and true alike.
pub async fn changes_since_reports_every_kind_of_write(fresh: impl Fn() -> Fresh) {
    for from_db in [false, true] {
        let (store, _guard) = fresh().await;
        changes_since_with(&*store, from_db).await;
    }
}

async fn changes_since_with(s: &dyn Store, fresh: bool) {
    let (a, inbox) = account(s, "alice").await;
    let dest = s.create_mailbox(a, "Dest", None).await.unwrap();
    let changes = |m: MailboxId, since: u64| async move {
        let c = s.changes_since(a, m, since, fresh).await.unwrap();
        assert_eq!(
            c.highest_modseq,
            highest(s, a, m).await,
            "Changes::highest_modseq is the mailbox's HIGHESTMODSEQ (fresh = {fresh})"
        );
        c
    };
    let start = highest(s, a, inbox).await;
    let c = changes(inbox, start).await;
    assert!(
        c.updated.is_empty() && c.expunged.is_empty(),
        "nothing changed after the current HIGHESTMODSEQ (fresh = {fresh}): {c:?}"
    );

    // APPEND: the new UID with its flags and modseq.
    let m1 = append(s, a, inbox, "one", fl(flag::SEEN, &["$A"])).await;
    let c = changes(inbox, start).await;
    assert_eq!(
        updates(&c),
        vec![(m1.uid, set(&fl(flag::SEEN, &["$A"])), m1.modseq)],
        "after APPEND (fresh = {fresh}): the new UID, its flags and modseq"
    );
    assert!(c.expunged.is_empty(), "APPEND expunges nothing");
    let keywords = c
        .keywords
        .expect("a new keyword: Changes::keywords is given");
    assert!(
        keywords.iter().any(|k| k.eq_ignore_ascii_case("$A")),
        "the mailbox's keywords include the appended one: {keywords:?}"
    );
    let m2 = append(s, a, inbox, "two", Flags::default()).await;

    // STORE: only the message whose flags changed, with its new flags.
    let before = highest(s, a, inbox).await;
    let r = set_flags(
        s,
        a,
        inbox,
        &[m1.uid, m2.uid],
        FlagOp::Add,
        fl(flag::SEEN, &[]),
    )
    .await;
    let c = changes(inbox, before).await;
    assert_eq!(
        updates(&c),
        vec![(m2.uid, set(&fl(flag::SEEN, &[])), r.modseq)],
        "after STORE (fresh = {fresh}): the changed message only, with its new flags"
    );
    assert!(c.expunged.is_empty(), "STORE expunges nothing");
    let before = highest(s, a, inbox).await;
    let r = set_flags(s, a, inbox, &[m2.uid], FlagOp::Add, fl(0, &["$New"])).await;
    let c = changes(inbox, before).await;
    assert_eq!(
        updates(&c),
        vec![(m2.uid, set(&fl(flag::SEEN, &["$New"])), r.modseq)],
        "after STORE +$New (fresh = {fresh})"
    );
    let keywords = c
        .keywords
        .expect("a new keyword: Changes::keywords is given");
    assert!(keywords.iter().any(|k| k.eq_ignore_ascii_case("$New")));

    // EXPUNGE: the expunged UID, and it is no longer among the updated.
    set_flags(s, a, inbox, &[m1.uid], FlagOp::Add, fl(flag::DELETED, &[])).await;
    let before = highest(s, a, inbox).await;
    s.expunge(a, inbox, None).await.unwrap();
    let c = changes(inbox, before).await;
    assert_eq!(
        c.expunged,
        vec![m1.uid],
        "after EXPUNGE (fresh = {fresh}): the expunged UID"
    );
    assert!(c.updated.is_empty(), "{c:?}");
    // All of it since the start, merged: m2 as it is now, m1 gone.
    let c = changes(inbox, start).await;
    assert_eq!(
        updates(&c),
        vec![(
            m2.uid,
            set(&fl(flag::SEEN, &["$New"])),
            modseq_of(s, a, inbox, m2.uid).await
        )],
        "everything since the start (fresh = {fresh}): the survivor with its latest flags"
    );
    assert_eq!(
        c.expunged,
        vec![m1.uid],
        "everything since the start: the expunged UID"
    );

    // COPY: new UIDs in the target with the source's flags; nothing in the
    // source.
    let (src_before, dest_before) = (highest(s, a, inbox).await, highest(s, a, dest).await);
    let cp = s.copy(a, inbox, &[m2.uid], dest, false).await.unwrap();
    let d = cp.pairs[0].1;
    let c = changes(dest, dest_before).await;
    assert_eq!(
        updates(&c),
        vec![(
            d,
            set(&fl(flag::SEEN, &["$New"])),
            modseq_of(s, a, dest, d).await
        )],
        "after COPY (fresh = {fresh}): the target's new UID with the source's flags"
    );
    assert!(c.expunged.is_empty(), "COPY expunges nothing in the target");
    let c = changes(inbox, src_before).await;
    assert!(
        c.updated.is_empty() && c.expunged.is_empty(),
        "COPY changes nothing in the source (fresh = {fresh}): {c:?}"
    );

    // MOVE: expunged from the source, new in the target.
    let m3 = append(s, a, inbox, "three", fl(0, &["$M"])).await;
    let (src_before, dest_before) = (highest(s, a, inbox).await, highest(s, a, dest).await);
    let mv = s.copy(a, inbox, &[m3.uid], dest, true).await.unwrap();
    let d = mv.pairs[0].1;
    let c = changes(inbox, src_before).await;
    assert_eq!(
        c.expunged,
        vec![m3.uid],
        "after MOVE (fresh = {fresh}): the source reports the moved UID expunged"
    );
    assert!(c.updated.is_empty(), "{c:?}");
    let c = changes(dest, dest_before).await;
    assert_eq!(
        updates(&c),
        vec![(d, set(&fl(0, &["$M"])), modseq_of(s, a, dest, d).await)],
        "after MOVE (fresh = {fresh}): the target reports the new UID"
    );
    assert!(c.expunged.is_empty(), "MOVE expunges nothing in the target");

    // A message that came and went after the modseq is expunged, not new.
    let before = highest(s, a, inbox).await;
    let m4 = append(s, a, inbox, "brief", fl(flag::DELETED, &[])).await;
    s.expunge(a, inbox, Some(&[m4.uid])).await.unwrap();
    let c = changes(inbox, before).await;
    assert!(
        c.updated.iter().all(|u| u.0 != m4.uid) && c.expunged.contains(&m4.uid),
        "a message appended and expunged after the modseq is reported expunged only \
         (fresh = {fresh}): {c:?}"
    );
}

/// Flags and keywords: add, remove, replace; every system flag alone;
/// keywords compared case-insensitively; flags persist in FETCH and show in
/// the snapshot and status.
pub async fn flags_and_keywords(fresh: impl Fn() -> Fresh) {
    let (store, _guard) = fresh().await;
    let s = &*store;
    let (a, inbox) = account(s, "alice").await;
    let m = append(s, a, inbox, "flags", fl(flag::SEEN, &["$Label1"])).await;
    assert_eq!(
        set(&flags_of(s, a, inbox, m.uid).await),
        set(&fl(flag::SEEN, &["$Label1"])),
        "APPEND stores the flags given"
    );

    // Each system flag alone, on and off.
    let plain = append(s, a, inbox, "plain", Flags::default()).await;
    for (bit, name) in flag::SYSTEM {
        let r = set_flags(s, a, inbox, &[plain.uid], FlagOp::Add, fl(bit, &[])).await;
        assert_eq!(
            sets(&r.changed),
            sets(&[(plain.uid, fl(bit, &[]))]),
            "+{name}"
        );
        assert_eq!(
            set(&flags_of(s, a, inbox, plain.uid).await),
            set(&fl(bit, &[])),
            "{name} is stored on its own"
        );
        let r = set_flags(s, a, inbox, &[plain.uid], FlagOp::Remove, fl(bit, &[])).await;
        assert_eq!(
            sets(&r.changed),
            sets(&[(plain.uid, Flags::default())]),
            "-{name}"
        );
        assert_eq!(
            flags_of(s, a, inbox, plain.uid).await,
            Flags::default(),
            "-{name} persists: the message has no flags again"
        );
    }

    // Add: system flags and keywords join what is there.
    let r = set_flags(
        s,
        a,
        inbox,
        &[m.uid],
        FlagOp::Add,
        fl(flag::FLAGGED, &["Work"]),
    )
    .await;
    let want = fl(flag::SEEN | flag::FLAGGED, &["$Label1", "Work"]);
    assert_eq!(
        sets(&r.changed),
        sets(&[(m.uid, want.clone())]),
        "+FLAGS reports the new flags"
    );
    assert_eq!(
        current(&r.current),
        sets(&[(m.uid, want.clone())]),
        "StoreResult::current after +FLAGS"
    );
    assert_eq!(
        set(&flags_of(s, a, inbox, m.uid).await),
        set(&want),
        "+FLAGS persists"
    );
    assert!(
        r.keywords_changed,
        "a keyword new to the mailbox is reported (FLAGS must list it)"
    );
    let snap = s.snapshot(a, inbox).await.unwrap();
    for k in ["$Label1", "Work"] {
        assert!(
            snap.keywords.iter().any(|x| x.eq_ignore_ascii_case(k)),
            "the snapshot lists keyword {k}: {:?}",
            snap.keywords
        );
    }

    // Keywords compare case-insensitively: WORK is Work.
    let r = set_flags(s, a, inbox, &[m.uid], FlagOp::Add, fl(0, &["WORK"])).await;
    assert!(
        r.changed.is_empty(),
        "adding a keyword in another case changes nothing: {:?}",
        r.changed
    );
    assert!(
        !r.keywords_changed,
        "WORK is no new keyword when Work is there"
    );
    let now = flags_of(s, a, inbox, m.uid).await;
    assert_eq!(
        now.keywords
            .iter()
            .filter(|k| k.eq_ignore_ascii_case("work"))
            .count(),
        1,
        "a keyword is held once, in one spelling: {:?}",
        now.keywords
    );
    assert_eq!(
        folded(&now),
        folded(&want),
        "the flags are the same, whatever the spelling"
    );
    // The same keywords in other cases replace nothing, and what STORE
    // reports is what the store holds.
    let r = set_flags(
        s,
        a,
        inbox,
        &[m.uid],
        FlagOp::Replace,
        fl(flag::SEEN | flag::FLAGGED, &["$LABEL1", "WORK"]),
    )
    .await;
    assert!(
        r.changed.is_empty(),
        "FLAGS in another case changes nothing: {:?}",
        r.changed
    );
    assert_eq!(
        current(&r.current),
        sets(&[(m.uid, flags_of(s, a, inbox, m.uid).await)]),
        "StoreResult::current holds the flags as stored"
    );

    // Remove, naming a keyword in another case.
    let r = set_flags(
        s,
        a,
        inbox,
        &[m.uid],
        FlagOp::Remove,
        fl(flag::SEEN, &["$LABEL1"]),
    )
    .await;
    let want = fl(flag::FLAGGED, &["Work"]);
    assert_eq!(
        sets(&r.changed),
        sets(&[(m.uid, want.clone())]),
        "-FLAGS reports what is left"
    );
    assert_eq!(
        set(&flags_of(s, a, inbox, m.uid).await),
        set(&want),
        "-FLAGS persists"
    );

    // Replace.
    let want = fl(flag::DRAFT, &["Other"]);
    let r = set_flags(s, a, inbox, &[m.uid], FlagOp::Replace, want.clone()).await;
    assert_eq!(
        sets(&r.changed),
        sets(&[(m.uid, want.clone())]),
        "FLAGS replaces"
    );
    assert_eq!(
        set(&flags_of(s, a, inbox, m.uid).await),
        set(&want),
        "FLAGS persists"
    );
    // Removing a keyword no message has does not make it the mailbox's.
    let r = set_flags(
        s,
        a,
        inbox,
        &[m.uid],
        FlagOp::Remove,
        fl(flag::DRAFT, &["$Never"]),
    )
    .await;
    assert_eq!(sets(&r.changed), sets(&[(m.uid, fl(0, &["Other"]))]));
    assert!(
        !r.keywords_changed,
        "removing a keyword no message has does not change the mailbox's keywords"
    );
    let snap = s.snapshot(a, inbox).await.unwrap();
    assert!(
        !snap
            .keywords
            .iter()
            .any(|k| k.eq_ignore_ascii_case("$Never")),
        "a keyword only ever removed is not one in use: {:?}",
        snap.keywords
    );
    let r = set_flags(s, a, inbox, &[m.uid], FlagOp::Replace, Flags::default()).await;
    assert_eq!(
        sets(&r.changed),
        sets(&[(m.uid, Flags::default())]),
        "FLAGS () clears"
    );
    assert_eq!(
        flags_of(s, a, inbox, m.uid).await,
        Flags::default(),
        "FLAGS () persists"
    );

    // Several messages: changed lists those whose flags differ now,
    // current every one found; a missing UID is skipped.
    let n = append(s, a, inbox, "seen", fl(flag::SEEN, &[])).await;
    let r = set_flags(
        s,
        a,
        inbox,
        &[m.uid, n.uid, 9999],
        FlagOp::Add,
        fl(flag::SEEN, &[]),
    )
    .await;
    assert_eq!(
        r.changed.iter().map(|c| c.0).collect::<Vec<_>>(),
        vec![m.uid],
        "only the message whose flags differ is changed"
    );
    let mut current: Vec<u32> = r.current.iter().map(|c| c.0).collect();
    current.sort_unstable();
    assert_eq!(
        current,
        vec![m.uid, n.uid],
        "current lists every message found, no other"
    );
    assert!(
        r.current.iter().all(|(_, f, _)| f.has(flag::SEEN)),
        "current lists each message with its flags now"
    );

    // Status and snapshot see the flags: m and n seen, plain not.
    set_flags(s, a, inbox, &[n.uid], FlagOp::Add, fl(flag::DELETED, &[])).await;
    let st = s.status(a, inbox).await.unwrap();
    assert_eq!(
        (st.messages, st.unseen, st.deleted),
        (3, 1, 1),
        "status counts the flags: {st:?}"
    );
    assert_eq!(
        s.snapshot(a, inbox).await.unwrap().first_unseen_uid,
        Some(plain.uid),
        "the snapshot's first unseen message"
    );
    let all = s
        .fetch(a, inbox, &[m.uid, plain.uid, n.uid], FetchNeed::default())
        .await
        .unwrap();
    let got: Vec<(u32, (u8, BTreeSet<String>))> =
        all.iter().map(|r| (r.uid, set(&r.flags))).collect();
    assert_eq!(
        got,
        vec![
            (m.uid, set(&fl(flag::SEEN, &[]))),
            (plain.uid, set(&Flags::default())),
            (n.uid, set(&fl(flag::SEEN | flag::DELETED, &[]))),
        ],
        "FETCH returns each message's flags, ascending by UID"
    );
}

/// RENAME takes the children along; renaming INBOX moves its messages to a
/// new mailbox and leaves INBOX existing and empty, its children where
/// they are (RFC 3501 §6.3.5); an existing target name or a missing source
/// fails and changes nothing.
pub async fn rename_takes_children_and_empties_inbox(fresh: impl Fn() -> Fresh) {
    let (store, _guard) = fresh().await;
    let s = &*store;
    let (a, inbox) = account(s, "alice").await;
    for name in ["A", "A/B", "A/B/C", "AB", "AB/D"] {
        s.create_mailbox(a, name, None).await.unwrap();
    }
    let ab = mailbox(s, a, "A/B").await;
    append(s, a, ab, "in A/B", fl(flag::FLAGGED, &[])).await;
    let names = |a| async move {
        let mut v: Vec<String> = s
            .list_mailboxes(a)
            .await
            .unwrap()
            .into_iter()
            .map(|m| m.name)
            .collect();
        v.sort();
        v
    };

    s.rename_mailbox(a, "A", "X").await.unwrap();
    let now = names(a).await;
    for gone in ["A", "A/B", "A/B/C"] {
        assert!(
            !now.contains(&gone.to_string()),
            "{gone} was renamed away: {now:?}"
        );
    }
    for there in ["X", "X/B", "X/B/C", "AB", "AB/D"] {
        assert!(
            now.contains(&there.to_string()),
            "{there} exists after RENAME A X (children move, AB is no child of A): {now:?}"
        );
    }
    let xb = mailbox(s, a, "X/B").await;
    assert_eq!(
        subjects(s, a, xb).await,
        vec!["in A/B"],
        "messages move with their mailbox"
    );

    // Errors change nothing.
    let before = names(a).await;
    let r = s.rename_mailbox(a, "X", "AB").await;
    assert!(
        matches!(r, Err(StoreError::MailboxExists)),
        "RENAME onto an existing name: {r:?}"
    );
    let r = s.rename_mailbox(a, "X/B", "INBOX").await;
    assert!(
        matches!(r, Err(StoreError::MailboxExists)),
        "RENAME onto INBOX: {r:?}"
    );
    let r = s.rename_mailbox(a, "Nope", "Y").await;
    assert!(
        matches!(r, Err(StoreError::NoMailbox)),
        "RENAME of a missing mailbox: {r:?}"
    );
    assert_eq!(names(a).await, before, "a failed RENAME changes nothing");
    assert_eq!(subjects(s, a, xb).await, vec!["in A/B"]);

    // A child alone.
    s.rename_mailbox(a, "X/B/C", "Top").await.unwrap();
    let now = names(a).await;
    assert!(now.contains(&"Top".to_string()) && now.contains(&"X/B".to_string()));
    assert!(!now.contains(&"X/B/C".to_string()));

    // INBOX: its messages go to the new mailbox, INBOX stays, empty, with
    // its children.
    s.create_mailbox(a, "INBOX/Sub", None).await.unwrap();
    let i1 = append(s, a, inbox, "first", fl(flag::SEEN, &["$K"])).await;
    let i2 = append(s, a, inbox, "second", Flags::default()).await;
    let inbox_before = s.status(a, inbox).await.unwrap();
    let base = inbox_before.highest_modseq;
    s.rename_mailbox(a, "INBOX", "Old").await.unwrap();
    let inbox_now = mailbox(s, a, "INBOX").await;
    let st = s.status(a, inbox_now).await.unwrap();
    assert_eq!(
        st.messages, 0,
        "INBOX is left empty by RENAME INBOX: {st:?}"
    );
    assert!(
        uids(s, a, inbox_now).await.is_empty(),
        "INBOX's snapshot is empty after RENAME INBOX"
    );
    let old = mailbox(s, a, "Old").await;
    assert_eq!(
        subjects(s, a, old).await,
        vec!["first", "second"],
        "RENAME INBOX moves its messages to the new mailbox"
    );
    let old_uids = uids(s, a, old).await;
    let old_flags: Vec<(u8, BTreeSet<String>)> = s
        .fetch(a, old, &old_uids, FetchNeed::default())
        .await
        .unwrap()
        .iter()
        .map(|r| set(&r.flags))
        .collect();
    assert_eq!(
        old_flags,
        vec![set(&fl(flag::SEEN, &["$K"])), set(&Flags::default())],
        "moved messages keep their flags"
    );
    let now = names(a).await;
    assert!(
        now.contains(&"INBOX/Sub".to_string()) && !now.contains(&"Old/Sub".to_string()),
        "INBOX's children stay where they are: {now:?}"
    );
    if inbox_now == inbox {
        // Sessions with INBOX selected learn that its messages went.
        for from_db in [false, true] {
            let c = s.changes_since(a, inbox, base, from_db).await.unwrap();
            assert_eq!(
                c.expunged,
                vec![i1.uid, i2.uid],
                "INBOX reports its messages expunged after RENAME INBOX (fresh = {from_db})"
            );
        }
    }
    // The moved messages' modseqs stay within the new mailbox's
    // HIGHESTMODSEQ, and its next change goes above them all (RFC 7162
    // §3.1: a changed message's modseq only goes up).
    let old_snap = s.snapshot(a, old).await.unwrap();
    let moved = s
        .fetch(a, old, &old_uids, FetchNeed::default())
        .await
        .unwrap();
    for r in &moved {
        assert!(
            r.modseq <= old_snap.highest_modseq,
            "after RENAME INBOX, message {} of the new mailbox has MODSEQ {} above the \
             mailbox's HIGHESTMODSEQ {}",
            r.uid,
            r.modseq,
            old_snap.highest_modseq
        );
    }
    let top = moved.iter().map(|r| r.modseq).max().unwrap();
    let r = set_flags(
        s,
        a,
        old,
        &[old_uids[0]],
        FlagOp::Add,
        fl(flag::FLAGGED, &[]),
    )
    .await;
    assert!(
        r.modseq > top,
        "a STORE in the mailbox INBOX was renamed to gets a MODSEQ ({}) above its \
         messages' ({top})",
        r.modseq
    );
    // INBOX keeps counting up: its old UIDs are never given out again
    // under the same UIDVALIDITY.
    let next = append(s, a, inbox_now, "new in INBOX", Flags::default()).await;
    assert!(
        next.uid > i2.uid || next.uid_validity != inbox_before.uid_validity,
        "after RENAME INBOX, a new INBOX message ({}, UIDVALIDITY {}) must not reuse an \
         old UID ({}, UIDVALIDITY {})",
        next.uid,
        next.uid_validity,
        i2.uid,
        inbox_before.uid_validity
    );
}

/// COPY and MOVE pair source and destination UIDs in source UID order,
/// destination UIDs increasing (COPYUID, RFC 4315), each copy the source's
/// bytes and flags; MOVE takes the messages out of the source in the same
/// change (RFC 6851); a missing target fails and changes nothing.
pub async fn copy_and_move_pair_uids_in_order(fresh: impl Fn() -> Fresh) {
    let (store, _guard) = fresh().await;
    let s = &*store;
    let (a, _) = account(s, "alice").await;
    let src = s.create_mailbox(a, "Src", None).await.unwrap();
    let dst = s.create_mailbox(a, "Dst", None).await.unwrap();
    // The target already has a message: its UIDs do not start at 1.
    append(s, a, dst, "already there", Flags::default()).await;
    let mut u = Vec::new();
    for i in 0..5 {
        let f = fl(
            if i % 2 == 0 { flag::SEEN } else { 0 },
            &[&format!("$k{i}")],
        );
        u.push(append(s, a, src, &format!("s{i}"), f).await.uid);
    }

    // COPY, UIDs named out of order and one that is not there.
    let before_dst = s.status(a, dst).await.unwrap();
    let src_before = digest_mailbox(s, a, src).await;
    let c = s
        .copy(a, src, &[u[3], u[0], 9999, u[2]], dst, false)
        .await
        .unwrap();
    let sources: Vec<u32> = c.pairs.iter().map(|p| p.0).collect();
    let dests: Vec<u32> = c.pairs.iter().map(|p| p.1).collect();
    assert_eq!(
        sources,
        vec![u[0], u[2], u[3]],
        "COPY pairs are in source UID order, missing UIDs skipped"
    );
    assert!(
        strictly_increasing(&dests),
        "destination UIDs increase with the source UIDs (COPYUID order): {:?}",
        c.pairs
    );
    assert!(
        dests[0] >= before_dst.uid_next,
        "destination UIDs are new: {:?}",
        c.pairs
    );
    assert_eq!(
        c.uid_validity, before_dst.uid_validity,
        "CopyResult has the target's UIDVALIDITY"
    );
    for (from, to) in &c.pairs {
        assert_eq!(
            text_of(s, a, dst, *to).await,
            text_of(s, a, src, *from).await,
            "COPY pair ({from}, {to}): the destination holds the source's message"
        );
        assert_eq!(
            set(&flags_of(s, a, dst, *to).await),
            set(&flags_of(s, a, src, *from).await),
            "COPY pair ({from}, {to}) keeps the flags"
        );
    }
    let mut want = uids(s, a, dst).await;
    want.retain(|x| !dests.contains(x));
    want.extend(&dests);
    want.sort_unstable();
    assert_eq!(
        uids(s, a, dst).await,
        want,
        "COPY adds exactly the destination UIDs to the target"
    );
    unchanged(
        &digest_mailbox(s, a, src).await,
        &src_before,
        "COPY leaves the source as it was",
    );
    // A COPY that finds none of its UIDs changes nothing in the target.
    let dst_before = digest_mailbox(s, a, dst).await;
    for is_move in [false, true] {
        let none = s.copy(a, src, &[9998, 9999], dst, is_move).await.unwrap();
        assert!(none.pairs.is_empty(), "{:?}", none.pairs);
        unchanged(
            &digest_mailbox(s, a, dst).await,
            &dst_before,
            &format!("a COPY/MOVE (move = {is_move}) of no message changes nothing in the target"),
        );
    }

    // MOVE: the target gets them, the source loses them, each side's
    // changes say so.
    let (src_m, dst_m) = (highest(s, a, src).await, highest(s, a, dst).await);
    let expected: Vec<String> = vec![
        text_of(s, a, src, u[1]).await,
        text_of(s, a, src, u[4]).await,
    ];
    let mv = s.copy(a, src, &[u[4], u[1]], dst, true).await.unwrap();
    assert_eq!(
        mv.pairs.iter().map(|p| p.0).collect::<Vec<_>>(),
        vec![u[1], u[4]],
        "MOVE pairs are in source UID order"
    );
    let moved_to: Vec<u32> = mv.pairs.iter().map(|p| p.1).collect();
    assert!(
        strictly_increasing(&moved_to),
        "MOVE destination UIDs increase: {:?}",
        mv.pairs
    );
    assert!(
        moved_to[0] > *dests.last().unwrap(),
        "MOVE's destination UIDs are above the earlier copies'"
    );
    for (to, bytes) in moved_to.iter().zip(&expected) {
        assert_eq!(
            &text_of(s, a, dst, *to).await,
            bytes,
            "MOVE pair to {to} holds its message"
        );
    }
    assert_eq!(
        uids(s, a, src).await,
        vec![u[0], u[2], u[3]],
        "MOVE removes the messages from the source"
    );
    assert!(
        s.fetch(a, src, &[u[1], u[4]], FetchNeed::default())
            .await
            .unwrap()
            .is_empty(),
        "moved messages are gone from the source"
    );
    let c = s.changes_since(a, src, src_m, true).await.unwrap();
    assert_eq!(
        c.expunged,
        vec![u[1], u[4]],
        "the source's changes show the MOVE's expunges"
    );
    let c = s.changes_since(a, dst, dst_m, true).await.unwrap();
    assert_eq!(
        c.updated.iter().map(|x| x.0).collect::<Vec<_>>(),
        moved_to,
        "the target's changes show the moved messages"
    );

    // A missing target: an error, and nothing changes in the source.
    let gone = s.create_mailbox(a, "Gone", None).await.unwrap();
    s.delete_mailbox(a, gone).await.unwrap();
    let src_before = digest_mailbox(s, a, src).await;
    for is_move in [false, true] {
        let r = s.copy(a, src, &[u[0], u[2]], gone, is_move).await;
        assert!(
            matches!(r, Err(StoreError::NoMailbox)),
            "COPY/MOVE (move = {is_move}) to a missing mailbox fails with NoMailbox: {r:?}"
        );
        unchanged(
            &digest_mailbox(s, a, src).await,
            &src_before,
            &format!("a failed COPY/MOVE (move = {is_move}) changes nothing in the source"),
        );
    }
}

/// What a client could see of one mailbox, as text.
async fn digest_mailbox(s: &dyn Store, a: AccountId, m: MailboxId) -> String {
    let st = s.status(a, m).await.unwrap();
    let snap = s.snapshot(a, m).await.unwrap();
    let recs = s
        .fetch(a, m, &snap.uids, FetchNeed::default())
        .await
        .unwrap();
    let mut out = format!("{st:?} {:?}\n", snap.uids);
    for r in recs {
        writeln!(out, "{} {:?} {}", r.uid, set(&r.flags), r.modseq).unwrap();
    }
    out
}

/// EXPUNGE removes only `\Deleted` messages, with a UID list only those
/// among them, and returns the expunged UIDs ascending; they are gone from
/// snapshot, fetch, search and status.
pub async fn expunge_removes_only_deleted_messages(fresh: impl Fn() -> Fresh) {
    let (store, _guard) = fresh().await;
    let s = &*store;
    let (a, inbox) = account(s, "alice").await;
    let mut u = Vec::new();
    for i in 0..6 {
        u.push(
            append(s, a, inbox, &format!("e{i}"), Flags::default())
                .await
                .uid,
        );
    }
    let r = s.expunge(a, inbox, None).await.unwrap();
    assert!(
        r.is_empty(),
        "nothing is \\Deleted, nothing is expunged: {r:?}"
    );
    set_flags(
        s,
        a,
        inbox,
        &[u[0], u[2], u[3], u[5]],
        FlagOp::Add,
        fl(flag::DELETED, &[]),
    )
    .await;

    // With a UID list (in any order): only the \Deleted among them.
    let r = s
        .expunge(a, inbox, Some(&[u[5], u[1], u[4], u[2]]))
        .await
        .unwrap();
    assert_eq!(
        r,
        vec![u[2], u[5]],
        "UID EXPUNGE removes the \\Deleted messages among the UIDs given, no other"
    );
    assert_eq!(
        uids(s, a, inbox).await,
        vec![u[0], u[1], u[3], u[4]],
        "the snapshot after UID EXPUNGE"
    );
    // Without: every \Deleted message, ascending.
    let r = s.expunge(a, inbox, None).await.unwrap();
    assert_eq!(
        r,
        vec![u[0], u[3]],
        "EXPUNGE removes every \\Deleted message, ascending"
    );
    assert_eq!(
        uids(s, a, inbox).await,
        vec![u[1], u[4]],
        "expunged messages are gone from the snapshot"
    );
    let left = s
        .fetch(a, inbox, &u, FetchNeed::default())
        .await
        .unwrap()
        .iter()
        .map(|r| r.uid)
        .collect::<Vec<_>>();
    assert_eq!(
        left,
        vec![u[1], u[4]],
        "expunged messages are gone from FETCH"
    );
    assert_eq!(
        s.search(a, inbox, &Query::All).await.unwrap(),
        vec![u[1], u[4]],
        "expunged messages are gone from SEARCH"
    );
    let st = s.status(a, inbox).await.unwrap();
    assert_eq!(
        (st.messages, st.deleted),
        (2, 0),
        "status after EXPUNGE: {st:?}"
    );
    assert!(
        s.expunge(a, inbox, None).await.unwrap().is_empty(),
        "a second EXPUNGE finds nothing"
    );
}

/// A session that read a message's record before another session
/// expunged it still asks for its bytes: content gone is `Expunged` (the
/// session answers NIL and `[EXPUNGEISSUED]`, RFC 9051 §7.1, RFC 2180
/// §4.1.3), and content opened before the expunge stays readable. Small
/// and large messages alike (a backend may keep them in different places).
pub async fn expunged_content_reads_as_expunged(fresh: impl Fn() -> Fresh) {
    let (store, _guard) = fresh().await;
    let s = &*store;
    let (a, inbox) = account(s, "alice").await;
    let big_body = "0123456789abcdef\r\n".repeat(20_000);
    let mut recs = Vec::new();
    for (subject, body) in [("small", "a small body"), ("big", big_body.as_str())] {
        let data = mail(subject, body);
        let m = s
            .append(a, inbox, new_message(data.clone(), Flags::default()))
            .await
            .unwrap();
        recs.push((record(s, a, inbox, m.uid).await, data));
    }
    let mut opened = Vec::new();
    for (r, data) in &recs {
        let reader = s.open_blob(a, &r.blob).await.unwrap();
        assert_eq!(
            reader.read(0, r.size).await.unwrap(),
            *data,
            "open_blob reads the exact bytes"
        );
        assert_eq!(
            reader.read(r.size - 4, 100).await.unwrap(),
            data[data.len() - 4..].to_vec(),
            "a read past the end is cut at the end"
        );
        opened.push(reader);
    }
    let all: Vec<u32> = recs.iter().map(|(r, _)| r.uid).collect();
    set_flags(s, a, inbox, &all, FlagOp::Add, fl(flag::DELETED, &[])).await;
    assert_eq!(s.expunge(a, inbox, None).await.unwrap(), all);
    for ((r, data), reader) in recs.iter().zip(&opened) {
        let what = if r.size > 1000 { "a large" } else { "a small" };
        let read = s.read_blob(a, &r.blob, 0, r.size).await;
        assert!(
            matches!(read, Err(StoreError::Expunged)),
            "read_blob of {what} expunged message is Expunged: {read:?}"
        );
        let open = s.open_blob(a, &r.blob).await;
        assert!(
            matches!(open, Err(StoreError::Expunged)),
            "open_blob of {what} expunged message is Expunged: {:?}",
            open.map(|_| ())
        );
        assert_eq!(
            reader.read(0, r.size).await.unwrap(),
            *data,
            "{what} message opened before the expunge still reads"
        );
    }
}

/// Whether a call made by one account on another's mailbox or message
/// gave nothing away: an error, or a result that `empty` says is empty.
fn refused<T: std::fmt::Debug>(what: &str, r: Result<T>, empty: impl Fn(&T) -> bool) {
    if let Ok(v) = &r {
        assert!(empty(v), "{what} must fail or find nothing, but gave {v:?}");
    }
}

/// Account B cannot see, read, change, copy into or out of, expunge or
/// search account A's mailboxes and messages by id; whatever B is told,
/// A's data stays exactly as it was.
pub async fn accounts_cannot_reach_each_other(fresh: impl Fn() -> Fresh) {
    let (store, _guard) = fresh().await;
    let s = &*store;
    let (a, a_inbox) = account(s, "alice").await;
    let a_private = s.create_mailbox(a, "Private", None).await.unwrap();
    let mut a_uids = Vec::new();
    for (i, f) in [
        fl(flag::SEEN, &["$Mine"]),
        fl(flag::DELETED, &[]),
        Flags::default(),
    ]
    .into_iter()
    .enumerate()
    {
        a_uids.push(append(s, a, a_inbox, &format!("secret {i}"), f).await.uid);
    }
    let p = append(s, a, a_private, "secret private", fl(flag::DELETED, &[])).await;
    let a_blob = record(s, a, a_inbox, a_uids[0]).await;
    // A session of A has looked at \Recent (without claiming).
    let a_recent = s.claim_recent(a, a_inbox, 0).await.unwrap();

    let (b, b_inbox) = account(s, "bob").await;
    let b_msg = append(s, b, b_inbox, "bob's own", Flags::default()).await;
    let a_before = digest(s, "alice").await;
    let b_inbox_before = digest_mailbox(s, b, b_inbox).await;

    // Names are per account.
    assert!(
        s.mailbox(b, "Private").await.unwrap().is_none(),
        "B does not see A's mailbox names"
    );
    let a_ids: HashSet<MailboxId> = s
        .list_mailboxes(a)
        .await
        .unwrap()
        .iter()
        .map(|m| m.id)
        .collect();
    for m in s.list_mailboxes(b).await.unwrap() {
        // Ids are unique across accounts: `watch` takes a mailbox id alone.
        assert!(
            !a_ids.contains(&m.id),
            "B's mailbox {m:?} has the id of one of A's"
        );
    }

    for (name, m) in [("INBOX", a_inbox), ("Private", a_private)] {
        let what = |op: &str| format!("{op} by B on A's {name}");
        refused(&what("STATUS"), s.status(b, m).await, |st| st.messages == 0);
        refused(&what("snapshot"), s.snapshot(b, m).await, |x| {
            x.uids.is_empty()
        });
        for from_db in [false, true] {
            refused(
                &what("changes_since"),
                s.changes_since(b, m, 0, from_db).await,
                |c| c.updated.is_empty() && c.expunged.is_empty(),
            );
        }
        let all = [a_uids.clone(), vec![p.uid]].concat();
        let need = FetchNeed {
            meta: true,
            header: true,
            rendered: true,
            ..FetchNeed::default()
        };
        refused(
            &what("FETCH"),
            s.fetch(b, m, &all, need).await,
            Vec::is_empty,
        );
        refused(
            &what("SEARCH ALL"),
            s.search(b, m, &Query::All).await,
            Vec::is_empty,
        );
        let text = Query::Header {
            name: "SUBJECT".into(),
            value: "secret".into(),
        }
        .normalized();
        refused(
            &what("SEARCH SUBJECT"),
            s.search(b, m, &text).await,
            Vec::is_empty,
        );
        let short = Query::Body("bo".into()).normalized();
        refused(
            &what("SEARCH BODY"),
            s.search(b, m, &short).await,
            Vec::is_empty,
        );
        for op in [FlagOp::Add, FlagOp::Remove, FlagOp::Replace] {
            refused(
                &what("STORE"),
                s.store_flags(b, m, &all, op, &fl(flag::DELETED | flag::SEEN, &["$B"]))
                    .await,
                |r| r.changed.is_empty() && r.current.is_empty(),
            );
        }
        refused(&what("EXPUNGE"), s.expunge(b, m, None).await, Vec::is_empty);
        refused(
            &what("UID EXPUNGE"),
            s.expunge(b, m, Some(&all)).await,
            Vec::is_empty,
        );
        for is_move in [false, true] {
            refused(
                &what("COPY/MOVE out"),
                s.copy(b, m, &all, b_inbox, is_move).await,
                |c| c.pairs.is_empty(),
            );
            refused(
                &what("COPY/MOVE in"),
                s.copy(b, b_inbox, &[b_msg.uid], m, is_move).await,
                |c| c.pairs.is_empty(),
            );
        }
        let r = s
            .append(b, m, new_message(mail("intruder", "x"), Flags::default()))
            .await;
        assert!(r.is_err(), "APPEND by B into A's {name} must fail: {r:?}");
        // Whatever B is told, A's \Recent must not move (see below).
        let _ = s.claim_recent(b, m, u32::MAX).await;
    }
    refused(
        "read_blob by B of A's message",
        s.read_blob(b, &a_blob.blob, 0, a_blob.size).await,
        Vec::is_empty,
    );
    let r = s.delete_mailbox(b, a_private).await;
    assert!(r.is_err(), "DELETE by B of A's mailbox must fail: {r:?}");
    let r = s.rename_mailbox(b, "Private", "Mine").await;
    assert!(
        matches!(r, Err(StoreError::NoMailbox)),
        "B cannot RENAME A's mailbox: {r:?}"
    );
    // B's own namesakes and subscriptions are B's.
    let b_private = s.create_mailbox(b, "Private", None).await.unwrap();
    assert_ne!(b_private, a_private, "B's Private is not A's");
    s.set_subscribed(b, "INBOX", false).await.unwrap();
    s.set_subscribed(b, "Private", true).await.unwrap();
    s.rename_mailbox(b, "Private", "Renamed").await.unwrap();

    unchanged(
        &digest(s, "alice").await,
        &a_before,
        "A's data is unchanged by what B did",
    );
    assert_eq!(
        s.claim_recent(a, a_inbox, 0).await.unwrap(),
        a_recent,
        "A's \\Recent is unchanged by what B did"
    );
    assert_eq!(
        uids(s, b, b_inbox).await,
        vec![b_msg.uid],
        "B's INBOX got nothing of A's"
    );
    unchanged(
        &digest_mailbox(s, b, b_inbox).await,
        &b_inbox_before,
        "B's INBOX is as it was",
    );
}

/// Deleting an account removes its mailboxes, messages and name, and
/// nothing of any other account (not even content both hold).
pub async fn deleting_an_account_removes_only_it(fresh: impl Fn() -> Fresh) {
    let (store, _guard) = fresh().await;
    let s = &*store;
    let (a, a_inbox) = account(s, "alice").await;
    let (c, c_inbox) = account(s, "carol").await;
    // The same bytes in both accounts.
    let shared = mail("shared", "the same content");
    for (acc, m) in [(a, a_inbox), (c, c_inbox)] {
        s.append(acc, m, new_message(shared.clone(), fl(flag::SEEN, &[])))
            .await
            .unwrap();
    }
    append(s, a, a_inbox, "alice only", Flags::default()).await;
    let c_stuff = s.create_mailbox(c, "Stuff", None).await.unwrap();
    let c_msg = append(s, c, c_stuff, "carol only", Flags::default()).await;
    let c_rec = record(s, c, c_stuff, c_msg.uid).await;
    let a_before = digest(s, "alice").await;

    s.delete_account("CAROL").await.unwrap();
    assert!(
        s.account("carol").await.unwrap().is_none(),
        "the deleted account is gone"
    );
    let names = s.list_accounts().await.unwrap();
    assert!(
        !names.contains(&"carol".to_string()) && names.contains(&"alice".to_string()),
        "list_accounts after deleting carol: {names:?}"
    );
    refused(
        "list_mailboxes of a deleted account",
        s.list_mailboxes(c).await,
        Vec::is_empty,
    );
    refused(
        "mailbox of a deleted account",
        s.mailbox(c, "INBOX").await,
        Option::is_none,
    );
    for m in [c_inbox, c_stuff] {
        assert!(
            s.status(c, m).await.is_err(),
            "STATUS of a deleted account's mailbox fails"
        );
        refused(
            "FETCH in a deleted account",
            s.fetch(c, m, &[1, 2, 3], FetchNeed::default()).await,
            Vec::is_empty,
        );
        refused(
            "SEARCH in a deleted account",
            s.search(c, m, &Query::All).await,
            Vec::is_empty,
        );
    }
    refused(
        "read_blob of a deleted account's message",
        s.read_blob(c, &c_rec.blob, 0, c_rec.size).await,
        Vec::is_empty,
    );
    unchanged(
        &digest(s, "alice").await,
        &a_before,
        "the other account is intact",
    );
    let r = s.delete_account("carol").await;
    assert!(
        matches!(r, Err(StoreError::NoAccount)),
        "deleting it again: {r:?}"
    );

    // The name can be used again, for an account that starts empty.
    let (c2, _) = account(s, "carol").await;
    for m in s.list_mailboxes(c2).await.unwrap() {
        let st = s.status(c2, m.id).await.unwrap();
        assert_eq!(st.messages, 0, "{} of the new carol is empty", m.name);
    }
    unchanged(
        &digest(s, "alice").await,
        &a_before,
        "the new carol takes nothing of alice's",
    );
}

/// Account names are unique and case-insensitive, kept as
/// [`account_name`] folds them.
pub async fn account_names_are_unique_and_case_insensitive(fresh: impl Fn() -> Fresh) {
    let (store, _guard) = fresh().await;
    let s = &*store;
    let first = Credentials {
        password_hash: "hash-1".into(),
        scram_sha256: None,
    };
    let id = s.create_account("Alice", &first).await.unwrap();
    for spelling in ["alice", "ALICE", "Alice"] {
        let acc = s
            .account(spelling)
            .await
            .unwrap()
            .expect("found in any case");
        assert_eq!(acc.id, id, "account({spelling:?}) is Alice");
        assert_eq!(acc.name, account_name("Alice"), "the name is kept folded");
        assert_eq!(acc.credentials, first, "the credentials given");
        let r = s.create_account(spelling, &Credentials::default()).await;
        assert!(
            matches!(r, Err(StoreError::AccountExists)),
            "create_account({spelling:?}) when Alice exists: {r:?}"
        );
    }
    assert_eq!(s.list_accounts().await.unwrap(), vec!["alice".to_string()]);
    let second = Credentials {
        password_hash: "hash-2".into(),
        scram_sha256: Some("scram".into()),
    };
    s.set_credentials("ALICE", &second).await.unwrap();
    assert_eq!(
        s.account("alice").await.unwrap().unwrap().credentials,
        second
    );

    // Beyond ASCII too.
    let e = s.create_account("Émile", &first).await.unwrap();
    assert_eq!(s.account("ÉMILE").await.unwrap().map(|a| a.id), Some(e));
    let r = s.create_account("éMILE", &first).await;
    assert!(matches!(r, Err(StoreError::AccountExists)), "{r:?}");
    let mut names = s.list_accounts().await.unwrap();
    names.sort();
    assert_eq!(names, vec!["alice".to_string(), account_name("Émile")]);

    // Missing names.
    assert!(s.account("nobody").await.unwrap().is_none());
    let r = s.set_credentials("nobody", &first).await;
    assert!(matches!(r, Err(StoreError::NoAccount)), "{r:?}");
    let r = s.delete_account("nobody").await;
    assert!(matches!(r, Err(StoreError::NoAccount)), "{r:?}");
}

/// Many tasks appending to one mailbox and storing flags on one message at
/// once: every acknowledged APPEND has its own UID, the mailbox holds
/// exactly those, and no flag update is lost.
pub async fn concurrent_writers_lose_nothing(fresh: impl Fn() -> Fresh) {
    const APPENDS: usize = 40;
    const KEYWORDS: usize = 16;
    let (store, _guard) = fresh().await;
    let (a, inbox) = account(&*store, "alice").await;
    let target = append(&*store, a, inbox, "target", Flags::default()).await;
    let mut appends = Vec::new();
    let mut stores = Vec::new();
    for i in 0..APPENDS.max(KEYWORDS) {
        if i < APPENDS {
            let s = store.clone();
            appends.push(tokio::spawn(async move {
                s.append(
                    a,
                    inbox,
                    new_message(mail(&format!("c{i}"), "x"), Flags::default()),
                )
                .await
            }));
        }
        if i < KEYWORDS {
            let s = store.clone();
            // Every fourth also sets a system flag of its own.
            let bit = [0, flag::SEEN, flag::FLAGGED, flag::ANSWERED][i % 4];
            stores.push(tokio::spawn(async move {
                let f = fl(bit, &[&format!("k{i}")]);
                s.store_flags(a, inbox, &[target.uid], FlagOp::Add, &f)
                    .await
            }));
        }
    }
    let mut acked = Vec::new();
    for t in appends {
        acked.push(t.await.unwrap().unwrap());
    }
    let mut storemodseqs = Vec::new();
    for (i, t) in stores.into_iter().enumerate() {
        let r = t.await.unwrap().unwrap();
        assert_eq!(
            r.changed.iter().map(|c| c.0).collect::<Vec<_>>(),
            vec![target.uid],
            "STORE +k{i} changed the message"
        );
        assert!(r.changed[0].1.has_keyword(&format!("k{i}")));
        storemodseqs.push(r.modseq);
    }
    let s = &*store;
    let distinct: HashSet<u32> = acked.iter().map(|x| x.uid).collect();
    assert_eq!(
        distinct.len(),
        APPENDS,
        "every acknowledged APPEND has a UID of its own"
    );
    assert!(
        !distinct.contains(&target.uid),
        "no acknowledged APPEND has the target's UID"
    );
    let mut want: Vec<u32> = distinct.iter().copied().chain([target.uid]).collect();
    want.sort_unstable();
    assert_eq!(
        uids(s, a, inbox).await,
        want,
        "the mailbox holds exactly the acknowledged messages"
    );
    let flags = flags_of(s, a, inbox, target.uid).await;
    for i in 0..KEYWORDS {
        assert!(
            flags.has_keyword(&format!("k{i}")),
            "keyword k{i} was lost by a concurrent STORE: {flags:?}"
        );
    }
    assert_eq!(
        flags.system,
        flag::SEEN | flag::FLAGGED | flag::ANSWERED,
        "{flags:?}"
    );
    let distinct: HashSet<u64> = storemodseqs.iter().copied().collect();
    assert_eq!(
        distinct.len(),
        KEYWORDS,
        "concurrent STOREs each get a modseq of their own (RFC 7162 §3.1): {storemodseqs:?}"
    );
    let last = storemodseqs.iter().copied().max().unwrap();
    assert_eq!(
        modseq_of(s, a, inbox, target.uid).await,
        last,
        "the message's MODSEQ is its last STORE's"
    );
    let top = acked.iter().map(|x| x.modseq).chain([last]).max().unwrap();
    assert!(
        highest(s, a, inbox).await >= top,
        "HIGHESTMODSEQ covers every acknowledged write"
    );
}

/// Appends queued one after another get UIDs (and modseqs) in queue order,
/// however their results are awaited; one that fails fails alone.
pub async fn queued_appends_get_uids_in_queue_order(fresh: impl Fn() -> Fresh) {
    let (store, _guard) = fresh().await;
    let s = &*store;
    let (a, inbox) = account(s, "alice").await;
    let gone = s.create_mailbox(a, "Gone", None).await.unwrap();
    s.delete_mailbox(a, gone).await.unwrap();
    let mut pending = Vec::new();
    for i in 0..12 {
        let msg = new_message(mail(&format!("q{i}"), "queued"), Flags::default());
        pending.push(s.append_queued(a, inbox, msg).await.unwrap());
    }
    // Awaited last to first.
    let mut got = Vec::new();
    for p in pending.into_iter().rev() {
        got.push(p.await.unwrap());
    }
    got.reverse();
    let queued: Vec<u32> = got.iter().map(|x| x.uid).collect();
    assert!(
        strictly_increasing(&queued),
        "queued appends get UIDs in queue order: {queued:?}"
    );
    let modseqs: Vec<u64> = got.iter().map(|x| x.modseq).collect();
    assert!(
        strictly_increasing(&modseqs),
        "and modseqs in queue order: {modseqs:?}"
    );
    assert_eq!(
        uids(s, a, inbox).await,
        queued,
        "every queued append is committed"
    );
    let want: Vec<String> = (0..12).map(|i| format!("q{i}")).collect();
    assert_eq!(
        subjects(s, a, inbox).await,
        want,
        "each UID holds its own message"
    );

    // One queued for a missing mailbox in between fails alone.
    let msg = |i: &str| new_message(mail(i, "queued"), Flags::default());
    let first = s.append_queued(a, inbox, msg("before")).await.unwrap();
    let bad = s.append_queued(a, gone, msg("lost")).await;
    let second = s.append_queued(a, inbox, msg("after")).await.unwrap();
    let bad = match bad {
        Ok(f) => f.await,
        Err(e) => Err(e),
    };
    assert!(
        bad.is_err(),
        "a queued append to a missing mailbox fails: {bad:?}"
    );
    let (first, second) = (first.await.unwrap(), second.await.unwrap());
    assert!(
        first.uid > *queued.last().unwrap() && second.uid > first.uid,
        "the queued appends around the failed one get increasing UIDs"
    );
    let mut want = queued.clone();
    want.extend([first.uid, second.uid]);
    assert_eq!(
        uids(s, a, inbox).await,
        want,
        "the mailbox holds the committed queued appends, no more"
    );
}

/// SEARCH through [`Query`] (as the session passes it: normalized): header
/// substrings in any case, flags, keywords and their combinations, UIDs
/// ascending; results follow later flag changes and expunges.
/// A mailbox holds at most MAX_KEYWORDS keywords: STORE, APPEND and COPY
/// that would add more fail with TooManyKeywords and change nothing;
/// keywords it already has stay usable.
pub async fn keywords_per_mailbox_are_capped(fresh: impl Fn() -> Fresh) {
    let (store, _guard) = fresh().await;
    let s = &*store;
    let (a, inbox) = account(s, "alice").await;
    let other = s.create_mailbox(a, "Other", None).await.unwrap();
    let m = append(s, a, inbox, "m", Flags::default()).await.uid;
    let names: Vec<String> = (0..crispin_store::MAX_KEYWORDS)
        .map(|i| format!("k{i}"))
        .collect();
    let all = Flags {
        system: 0,
        keywords: names.clone(),
    };
    s.store_flags(a, inbox, &[m], FlagOp::Add, &all)
        .await
        .unwrap();
    let before = s.status(a, inbox).await.unwrap();
    let over = s
        .store_flags(a, inbox, &[m], FlagOp::Add, &fl(0, &["one-too-many"]))
        .await;
    assert!(
        matches!(over, Err(StoreError::TooManyKeywords)),
        "STORE: {over:?}"
    );
    let appended = s
        .append(
            a,
            inbox,
            new_message(mail("n", "x"), fl(0, &["one-too-many"])),
        )
        .await;
    assert!(
        matches!(appended, Err(StoreError::TooManyKeywords)),
        "APPEND: {appended:?}"
    );
    let after = s.status(a, inbox).await.unwrap();
    assert_eq!(
        (after.messages, after.highest_modseq),
        (before.messages, before.highest_modseq),
        "refused writes change nothing"
    );
    // Known keywords (any case) still work.
    s.store_flags(a, inbox, &[m], FlagOp::Replace, &fl(0, &["K7"]))
        .await
        .unwrap();
    // Another mailbox has its own budget; a COPY that would overflow it
    // fails as a whole.
    let o = append(s, a, other, "o", fl(0, &["elsewhere"])).await.uid;
    s.store_flags(a, inbox, &[m], FlagOp::Add, &all)
        .await
        .unwrap();
    let copied = s.copy(a, inbox, &[m], other, false).await;
    assert!(
        matches!(copied, Err(StoreError::TooManyKeywords)),
        "COPY: {copied:?}"
    );
    assert_eq!(s.snapshot(a, other).await.unwrap().uids, vec![o]);
}

/// SEARCH BODY/TEXT find what lies beyond the text kept for search (2 MiB
/// of decoded text, the parser's nesting limit): the cap is the store's
/// shortcut, never a "no match".
pub async fn search_is_not_cut_short_by_text_caps(fresh: impl Fn() -> Fresh) {
    let (store, _guard) = fresh().await;
    let s = &*store;
    let (a, inbox) = account(s, "alice").await;
    let long = format!(
        "Subject: long\r\n\r\n{}needle past the cap\r\n",
        "filler text line\r\n".repeat(150_000)
    );
    let mut deep =
        "Subject: inner\r\nContent-Type: text/plain\r\n\r\nthe deep needle\r\n".to_string();
    for i in 0..40 {
        deep = format!("Subject: level {i}\r\nContent-Type: message/rfc822\r\n\r\n{deep}");
    }
    let short = append_bytes(
        s,
        a,
        inbox,
        mail("short", "nothing here"),
        Flags::default(),
        false,
    )
    .await
    .uid;
    let long = append_bytes(s, a, inbox, long.into_bytes(), Flags::default(), false)
        .await
        .uid;
    let deep = append_bytes(s, a, inbox, deep.into_bytes(), Flags::default(), false)
        .await
        .uid;
    let q = |q: Query| async move { s.search(a, inbox, &q.normalized()).await.unwrap() };
    assert_eq!(
        q(Query::Body("NEEDLE PAST".into())).await,
        vec![long],
        "BODY past 2 MiB of text"
    );
    assert_eq!(
        q(Query::Text("needle past the cap".into())).await,
        vec![long],
        "TEXT past 2 MiB of text"
    );
    assert_eq!(
        q(Query::Body("deep needle".into())).await,
        vec![deep],
        "BODY past the nesting limit"
    );
    assert_eq!(
        q(Query::Body("filler text".into())).await,
        vec![long],
        "text before the cap as before"
    );
    assert!(
        q(Query::Body("absent".into())).await.is_empty(),
        "no false hit"
    );
    let _ = short;
}

pub async fn search_by_header_and_flags(fresh: impl Fn() -> Fresh) {
    let (store, _guard) = fresh().await;
    let s = &*store;
    let (a, inbox) = account(s, "alice").await;
    let mut u = Vec::new();
    for (subject, f) in [
        ("Hello World", fl(flag::FLAGGED, &[])),
        ("Quarterly report", fl(0, &["$Urgent"])),
        ("hello again", fl(flag::SEEN, &[])),
        ("Other things", fl(flag::FLAGGED | flag::SEEN, &["$Urgent"])),
    ] {
        u.push(append(s, a, inbox, subject, f).await.uid);
    }
    let q = |q: Query| async move { s.search(a, inbox, &q.normalized()).await.unwrap() };
    let subject = |v: &str| Query::Header {
        name: "SUBJECT".into(),
        value: v.into(),
    };
    assert_eq!(
        q(subject("hello")).await,
        vec![u[0], u[2]],
        "SUBJECT hello: any case"
    );
    assert_eq!(
        q(subject("ELLO W")).await,
        vec![u[0]],
        "SUBJECT is a substring match"
    );
    assert_eq!(
        q(subject("lo")).await,
        vec![u[0], u[2]],
        "short substrings match too"
    );
    assert!(q(subject("absent")).await.is_empty());
    assert_eq!(
        q(Query::Header {
            name: "FROM".into(),
            value: "ALICE@example".into()
        })
        .await,
        u,
        "FROM address substring"
    );
    assert_eq!(q(Query::Body("BODY TEX".into())).await, u, "BODY substring");
    let flagged = Query::System {
        bit: flag::FLAGGED,
        set: true,
    };
    assert_eq!(q(flagged.clone()).await, vec![u[0], u[3]], "FLAGGED");
    assert_eq!(
        q(Query::System {
            bit: flag::SEEN,
            set: false
        })
        .await,
        vec![u[0], u[1]],
        "UNSEEN"
    );
    let urgent = Query::Keyword {
        name: "$URGENT".into(),
        set: true,
    };
    assert_eq!(
        q(urgent.clone()).await,
        vec![u[1], u[3]],
        "KEYWORD, any case"
    );
    assert_eq!(
        q(Query::And(vec![subject("hello"), flagged.clone()])).await,
        vec![u[0]],
        "SUBJECT hello FLAGGED"
    );
    assert_eq!(
        q(Query::Or(
            Box::new(subject("report")),
            Box::new(flagged.clone())
        ))
        .await,
        vec![u[0], u[1], u[3]],
        "OR SUBJECT report FLAGGED"
    );
    assert_eq!(
        q(Query::Not(Box::new(urgent.clone()))).await,
        vec![u[0], u[2]],
        "NOT KEYWORD $Urgent"
    );
    assert_eq!(
        q(Query::And(vec![
            Query::Uids(vec![(u[1], u[2])]),
            Query::All
        ]))
        .await,
        vec![u[1], u[2]],
        "UID range"
    );
    // Later changes show.
    set_flags(s, a, inbox, &[u[2]], FlagOp::Add, fl(flag::FLAGGED, &[])).await;
    set_flags(s, a, inbox, &[u[0]], FlagOp::Remove, fl(flag::FLAGGED, &[])).await;
    assert_eq!(
        q(flagged.clone()).await,
        vec![u[2], u[3]],
        "FLAGGED after STORE"
    );
    set_flags(s, a, inbox, &[u[0]], FlagOp::Add, fl(flag::DELETED, &[])).await;
    s.expunge(a, inbox, None).await.unwrap();
    assert_eq!(
        q(subject("hello")).await,
        vec![u[2]],
        "SUBJECT hello after EXPUNGE"
    );
    assert_eq!(
        q(Query::All).await,
        vec![u[1], u[2], u[3]],
        "ALL, ascending"
    );
}

/// Mailboxes: a new account's defaults (subscribed, with their special
/// uses); create, look up, list; a duplicate name fails; DELETE removes the
/// mailbox and its messages but not its children, nor copies elsewhere,
/// nor its subscription (RFC 3501 §6.3.6, SUBSCRIBE); subscriptions come and go.
pub async fn mailboxes_create_list_delete_subscribe(fresh: impl Fn() -> Fresh) {
    let (store, _guard) = fresh().await;
    let s = &*store;
    let (a, _) = account(s, "alice").await;
    let listed: BTreeSet<(String, Option<String>)> = s
        .list_mailboxes(a)
        .await
        .unwrap()
        .into_iter()
        .map(|m| (m.name, m.special_use))
        .collect();
    let defaults: BTreeSet<(String, Option<String>)> = DEFAULT_MAILBOXES
        .iter()
        .map(|(n, u)| (n.to_string(), u.map(str::to_string)))
        .collect();
    assert_eq!(listed, defaults, "a new account has the default mailboxes");
    let subs: BTreeSet<String> = s.subscriptions(a).await.unwrap().into_iter().collect();
    let want: BTreeSet<String> = DEFAULT_MAILBOXES
        .iter()
        .map(|(n, _)| n.to_string())
        .collect();
    assert_eq!(subs, want, "and is subscribed to them");

    let projects = s.create_mailbox(a, "Projects", None).await.unwrap();
    let child = s
        .create_mailbox(a, "Projects/2024", Some("\\Flagged"))
        .await
        .unwrap();
    assert_ne!(projects, child, "a child is a mailbox of its own");
    let info = s.mailbox(a, "Projects/2024").await.unwrap().unwrap();
    assert_eq!((info.id, info.name.as_str()), (child, "Projects/2024"));
    assert_eq!(
        info.special_use.as_deref(),
        Some("\\Flagged"),
        "special use is kept"
    );
    assert_eq!(
        s.mailbox(a, "Projects").await.unwrap().unwrap().special_use,
        None
    );
    let names: Vec<String> = s
        .list_mailboxes(a)
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.name)
        .collect();
    assert!(
        names.contains(&"Projects".to_string()) && names.contains(&"Projects/2024".to_string())
    );
    assert!(s.mailbox(a, "Nothing").await.unwrap().is_none());
    for name in ["Projects", "INBOX", "Trash"] {
        let r = s.create_mailbox(a, name, None).await;
        assert!(
            matches!(r, Err(StoreError::MailboxExists)),
            "CREATE {name} again: {r:?}"
        );
    }

    // Messages in the parent, in the child, and a copy elsewhere.
    let m = append(s, a, projects, "in projects", Flags::default()).await;
    append(s, a, child, "in 2024", Flags::default()).await;
    let archive = mailbox(s, a, "Archive").await;
    let copied = s
        .copy(a, projects, &[m.uid], archive, false)
        .await
        .unwrap()
        .pairs[0]
        .1;
    let bytes = text_of(s, a, projects, m.uid).await;
    s.set_subscribed(a, "Projects", true).await.unwrap();

    s.delete_mailbox(a, projects).await.unwrap();
    assert!(
        s.mailbox(a, "Projects").await.unwrap().is_none(),
        "DELETE removes the mailbox"
    );
    assert!(
        s.status(a, projects).await.is_err(),
        "STATUS of a deleted mailbox fails"
    );
    assert!(
        s.snapshot(a, projects).await.is_err(),
        "snapshot of a deleted mailbox fails"
    );
    assert_eq!(
        s.mailbox(a, "Projects/2024").await.unwrap().map(|m| m.id),
        Some(child),
        "DELETE leaves the children"
    );
    assert_eq!(
        subjects(s, a, child).await,
        vec!["in 2024"],
        "and their messages"
    );
    assert_eq!(
        text_of(s, a, archive, copied).await,
        bytes,
        "a copy elsewhere is kept"
    );
    assert!(
        s.subscriptions(a)
            .await
            .unwrap()
            .contains(&"Projects".to_string()),
        "DELETE does not remove the subscription (RFC 3501 §6.3.6, SUBSCRIBE)"
    );
    let r = s.delete_mailbox(a, projects).await;
    assert!(
        matches!(r, Err(StoreError::NoMailbox)),
        "DELETE of a missing mailbox: {r:?}"
    );
    let r = s
        .append(
            a,
            projects,
            new_message(mail("late", "x"), Flags::default()),
        )
        .await;
    assert!(
        matches!(r, Err(StoreError::NoMailbox)),
        "APPEND to a deleted mailbox: {r:?}"
    );

    // Subscriptions: on, again (no duplicate), off.
    s.set_subscribed(a, "Projects/2024", true).await.unwrap();
    s.set_subscribed(a, "Projects/2024", true).await.unwrap();
    s.set_subscribed(a, "Projects", false).await.unwrap();
    s.set_subscribed(a, "Junk", false).await.unwrap();
    let mut subs = s.subscriptions(a).await.unwrap();
    subs.sort();
    let mut want: Vec<String> = DEFAULT_MAILBOXES
        .iter()
        .map(|(n, _)| n.to_string())
        .filter(|n| n != "Junk")
        .chain(["Projects/2024".to_string()])
        .collect();
    want.sort();
    assert_eq!(
        subs, want,
        "subscriptions after subscribing and unsubscribing"
    );
}

/// APPEND keeps the exact bytes (whole and in ranges), size, internal
/// date with its zone, flags and header block; `skip_if_present` makes a
/// second APPEND of the same bytes a no-op that names the first copy.
pub async fn append_keeps_bytes_date_and_flags(fresh: impl Fn() -> Fresh) {
    let (store, _guard) = fresh().await;
    let s = &*store;
    let (a, inbox) = account(s, "alice").await;
    let data = mail("Round trip", "line one\r\nline two");
    let m = append_bytes(
        s,
        a,
        inbox,
        data.clone(),
        fl(flag::DRAFT, &["$Draft"]),
        false,
    )
    .await;
    assert!(!m.duplicate, "a first APPEND is no duplicate");
    let need = FetchNeed {
        meta: true,
        header: true,
        rendered: true,
        ..FetchNeed::default()
    };
    let r = s.fetch(a, inbox, &[m.uid], need).await.unwrap().remove(0);
    assert_eq!(r.uid, m.uid, "FETCH returns the UID asked for");
    assert_eq!(r.size, data.len() as u64, "RFC822.SIZE is the byte count");
    assert_eq!(r.internal_date, date(), "the internal date is kept");
    assert_eq!(
        r.internal_date.offset().local_minus_utc(),
        date().offset().local_minus_utc(),
        "with its zone"
    );
    assert_eq!(set(&r.flags), set(&fl(flag::DRAFT, &["$Draft"])));
    assert_eq!(
        s.read_blob(a, &r.blob, 0, r.size).await.unwrap(),
        data,
        "read_blob gives back the exact bytes"
    );
    assert_eq!(
        s.read_blob(a, &r.blob, 6, 5).await.unwrap(),
        data[6..11].to_vec(),
        "a range"
    );
    let split = data.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    assert_eq!(
        r.header.as_deref(),
        Some(&data[..split]),
        "the header block, with its blank line"
    );
    assert!(
        r.meta.is_some() && r.rendered.is_some(),
        "metadata is there when asked for"
    );

    // The same bytes again: a new message, unless skip_if_present.
    let again = append_bytes(s, a, inbox, data.clone(), Flags::default(), false).await;
    assert!(
        !again.duplicate && again.uid > m.uid,
        "the same bytes again are a new message"
    );
    let before = s.status(a, inbox).await.unwrap();
    let dup = append_bytes(s, a, inbox, data.clone(), Flags::default(), true).await;
    assert!(dup.duplicate, "skip_if_present: the message was there");
    assert!(
        dup.uid == m.uid || dup.uid == again.uid,
        "and its UID is an existing copy's"
    );
    assert_eq!(
        s.status(a, inbox).await.unwrap(),
        before,
        "skip_if_present adds nothing"
    );
    let fresh_msg = append_bytes(s, a, inbox, mail("new", "x"), Flags::default(), true).await;
    assert!(
        !fresh_msg.duplicate && fresh_msg.uid > again.uid,
        "new bytes are appended"
    );
}

async fn append_bytes(
    s: &dyn Store,
    a: AccountId,
    m: MailboxId,
    data: Vec<u8>,
    flags: Flags,
    skip_if_present: bool,
) -> Appended {
    let msg = NewMessage {
        skip_if_present,
        ..new_message(data, flags)
    };
    s.append(a, m, msg).await.unwrap()
}

/// `\Recent`: a message is recent for exactly one claimer; `uid_next` 0
/// only looks; STATUS counts the unclaimed; a mailbox deleted and created
/// again starts with its new messages recent.
pub async fn recent_goes_to_one_claimer(fresh: impl Fn() -> Fresh) {
    let (store, _guard) = fresh().await;
    let s = &*store;
    let (a, _) = account(s, "alice").await;
    let m = s.create_mailbox(a, "Tmp", None).await.unwrap();
    let u1 = append(s, a, m, "r1", Flags::default()).await.uid;
    let u2 = append(s, a, m, "r2", Flags::default()).await.uid;
    assert_eq!(
        s.status(a, m).await.unwrap().recent,
        2,
        "both are recent before any claim"
    );
    let look = s.claim_recent(a, m, 0).await.unwrap();
    assert!(
        look <= u1,
        "a look sees both as recent: first recent {look}"
    );
    assert_eq!(
        s.status(a, m).await.unwrap().recent,
        2,
        "a look claims nothing"
    );
    let next = s.status(a, m).await.unwrap().uid_next;
    let first = s.claim_recent(a, m, next).await.unwrap();
    assert!(
        first <= u1,
        "the first claimer gets both: first recent {first}"
    );
    let again = s.claim_recent(a, m, next).await.unwrap();
    assert!(
        again > u2,
        "a second claimer gets neither: first recent {again}"
    );
    assert_eq!(
        s.status(a, m).await.unwrap().recent,
        0,
        "claimed messages are not recent"
    );
    let u3 = append(s, a, m, "r3", Flags::default()).await.uid;
    assert_eq!(
        s.status(a, m).await.unwrap().recent,
        1,
        "a message appended after the claims is recent"
    );
    let next = s.status(a, m).await.unwrap().uid_next;
    let third = s.claim_recent(a, m, next).await.unwrap();
    assert!(
        third > u2 && third <= u3,
        "the next claimer gets only the new one: {third}"
    );

    // Deleted and created again: the new mailbox's messages are recent.
    s.delete_mailbox(a, m).await.unwrap();
    let m = s.create_mailbox(a, "Tmp", None).await.unwrap();
    let v1 = append(s, a, m, "new r1", Flags::default()).await.uid;
    assert_eq!(
        s.status(a, m).await.unwrap().recent,
        1,
        "a message in a mailbox created again is recent"
    );
    let next = s.status(a, m).await.unwrap().uid_next;
    let first = s.claim_recent(a, m, next).await.unwrap();
    assert!(
        first <= v1,
        "and goes to the first claimer: first recent {first}, UID {v1}"
    );
}

fn saw(what: &str, rx: &mut tokio::sync::watch::Receiver<u64>, want: u64) {
    assert!(
        rx.has_changed().unwrap_or(false),
        "watch has seen the {what} by the time it returned"
    );
    assert_eq!(
        *rx.borrow_and_update(),
        want,
        "watch's value after the {what}"
    );
}

/// `watch` has seen every write by the time the write returns: its value
/// is the mailbox's new HIGHESTMODSEQ; another mailbox's receiver stays
/// quiet.
pub async fn watch_sees_every_write(fresh: impl Fn() -> Fresh) {
    let (store, _guard) = fresh().await;
    let s = &*store;
    let (a, inbox) = account(s, "alice").await;
    let other = s.create_mailbox(a, "Other", None).await.unwrap();
    let mut rx = s.watch(inbox);
    let mut quiet = s.watch(other);
    rx.borrow_and_update();
    quiet.borrow_and_update();
    let m = append(s, a, inbox, "w1", Flags::default()).await;
    saw("APPEND", &mut rx, highest(s, a, inbox).await);
    set_flags(s, a, inbox, &[m.uid], FlagOp::Add, fl(flag::DELETED, &[])).await;
    saw("STORE", &mut rx, highest(s, a, inbox).await);
    s.expunge(a, inbox, None).await.unwrap();
    saw("EXPUNGE", &mut rx, highest(s, a, inbox).await);
    assert!(
        !quiet.has_changed().unwrap_or(true),
        "another mailbox's watch stays quiet"
    );
    let o = append(s, a, other, "w2", Flags::default()).await;
    saw(
        "APPEND to the other mailbox",
        &mut quiet,
        highest(s, a, other).await,
    );
    s.copy(a, other, &[o.uid], inbox, false).await.unwrap();
    saw("COPY into it", &mut rx, highest(s, a, inbox).await);
    let n = uids(s, a, inbox).await;
    s.copy(a, inbox, &n, other, true).await.unwrap();
    saw("MOVE out of it", &mut rx, highest(s, a, inbox).await);
    saw(
        "MOVE into the other",
        &mut quiet,
        highest(s, a, other).await,
    );
}

/// Every event waiting on the subscription, in order.
fn heard(sub: &mut Subscription) -> Vec<Event> {
    std::iter::from_fn(|| sub.try_recv()).collect()
}

/// The bus has each write's events by the time the write returns, on its
/// account's subscriptions only: CREATE, APPEND and STORE (the new
/// HIGHESTMODSEQ), SUBSCRIBE and UNSUBSCRIBE (only when they change
/// something), RENAME (each mailbox moved, children too; subscriptions
/// follow without events of their own), RENAME INBOX (a new mailbox, and
/// INBOX emptied), DELETE.
pub async fn bus_tells_each_account_of_its_mailboxes(fresh: impl Fn() -> Fresh) {
    let (store, _guard) = fresh().await;
    let s = &*store;
    let (a, inbox) = account(s, "alice").await;
    let (b, _) = account(s, "bob").await;
    let mut events = s.subscribe(a);
    let mut bob = s.subscribe(b);
    assert_eq!(events.account(), a);
    assert_eq!(heard(&mut events), vec![], "nothing before subscribing");

    let lists = s.create_mailbox(a, "Lists", None).await.unwrap();
    let child = s.create_mailbox(a, "Lists/rust", None).await.unwrap();
    assert_eq!(
        heard(&mut events),
        vec![
            Event::MailboxCreated {
                mailbox: lists,
                name: "Lists".into()
            },
            Event::MailboxCreated {
                mailbox: child,
                name: "Lists/rust".into()
            },
        ],
        "CREATE"
    );
    let m = append(s, a, lists, "b1", Flags::default()).await;
    let changed = |mailbox, modseq| Event::MailboxChanged { mailbox, modseq };
    assert_eq!(
        heard(&mut events),
        vec![changed(lists, highest(s, a, lists).await)],
        "APPEND"
    );
    set_flags(s, a, lists, &[m.uid], FlagOp::Add, fl(flag::SEEN, &[])).await;
    assert_eq!(
        heard(&mut events),
        vec![changed(lists, highest(s, a, lists).await)],
        "STORE"
    );
    s.set_subscribed(a, "Lists", true).await.unwrap();
    s.set_subscribed(a, "Lists", true).await.unwrap();
    let subscribed = |name: &str, subscribed| Event::SubscriptionChanged {
        name: name.into(),
        subscribed,
    };
    assert_eq!(
        heard(&mut events),
        vec![subscribed("Lists", true)],
        "SUBSCRIBE, twice: one change"
    );

    s.rename_mailbox(a, "Lists", "Old lists").await.unwrap();
    let renamed: HashSet<String> = heard(&mut events)
        .into_iter()
        .map(|e| format!("{e:?}"))
        .collect();
    let want: HashSet<String> = [
        Event::MailboxRenamed {
            mailbox: lists,
            old: "Lists".into(),
            new: "Old lists".into(),
        },
        Event::MailboxRenamed {
            mailbox: child,
            old: "Lists/rust".into(),
            new: "Old lists/rust".into(),
        },
    ]
    .iter()
    .map(|e| format!("{e:?}"))
    .collect();
    assert_eq!(renamed, want, "RENAME, children too");
    s.set_subscribed(a, "Old lists", false).await.unwrap();
    assert_eq!(
        heard(&mut events),
        vec![subscribed("Old lists", false)],
        "the subscription followed the RENAME"
    );

    s.delete_mailbox(a, child).await.unwrap();
    assert_eq!(
        heard(&mut events),
        vec![Event::MailboxDeleted {
            mailbox: child,
            name: "Old lists/rust".into()
        }],
        "DELETE"
    );

    append(s, a, inbox, "i1", Flags::default()).await;
    heard(&mut events);
    s.rename_mailbox(a, "INBOX", "Saved").await.unwrap();
    let saved = mailbox(s, a, "Saved").await;
    let got: HashSet<String> = heard(&mut events)
        .into_iter()
        .map(|e| format!("{e:?}"))
        .collect();
    let want: HashSet<String> = [
        Event::MailboxCreated {
            mailbox: saved,
            name: "Saved".into(),
        },
        changed(inbox, highest(s, a, inbox).await),
    ]
    .iter()
    .map(|e| format!("{e:?}"))
    .collect();
    assert_eq!(got, want, "RENAME INBOX: a new mailbox, INBOX emptied");

    assert_eq!(heard(&mut bob), vec![], "another account hears nothing");
}

/// RFC 7162 §3.1.3: a STORE with UNCHANGEDSINCE changes only messages
/// whose modseq is not above it, lists the others as modified, and gives
/// each message found its modseq in `current`.
pub async fn unchanged_since_is_checked_in_the_write(fresh: impl Fn() -> Fresh) {
    let (s, _guard) = fresh().await;
    let s = &*s;
    let (a, inbox) = account(s, "alice").await;
    assert!(
        highest(s, a, inbox).await >= 1,
        "a new mailbox's HIGHESTMODSEQ is at least 1 (RFC 7162 §7: 0 means no modseqs)"
    );
    let m1 = append(s, a, inbox, "one", Flags::default()).await;
    let m2 = append(s, a, inbox, "two", Flags::default()).await;
    let m3 = append(s, a, inbox, "three", Flags::default()).await;
    // m2 changes after the client read m1's modseq.
    let seen_at = modseq_of(s, a, inbox, m3.uid).await;
    let bumped = set_flags(s, a, inbox, &[m2.uid], FlagOp::Add, fl(flag::FLAGGED, &[])).await;
    assert!(bumped.modseq > seen_at, "the STORE raised m2's modseq");

    let all = [m1.uid, m2.uid, m3.uid];
    let r = s
        .store_flags_unchanged_since(
            a,
            inbox,
            &all,
            FlagOp::Add,
            &fl(flag::SEEN, &[]),
            Some(seen_at),
        )
        .await
        .unwrap();
    assert_eq!(
        r.modified,
        vec![m2.uid],
        "the message changed since is MODIFIED"
    );
    assert_eq!(
        r.changed.iter().map(|c| c.0).collect::<Vec<_>>(),
        vec![m1.uid, m3.uid],
        "the others are changed"
    );
    assert!(
        !flags_of(s, a, inbox, m2.uid).await.has(flag::SEEN),
        "the modified message is left alone"
    );
    for (uid, _, modseq) in &r.current {
        assert_eq!(
            *modseq,
            modseq_of(s, a, inbox, *uid).await,
            "current carries UID {uid}'s modseq as stored"
        );
        assert_eq!(
            *modseq, r.modseq,
            "a changed message has the STORE's modseq"
        );
    }

    // UNCHANGEDSINCE 0 fails for every message (RFC 7162 §3.1.3).
    let before = highest(s, a, inbox).await;
    let r = s
        .store_flags_unchanged_since(a, inbox, &all, FlagOp::Add, &fl(flag::DRAFT, &[]), Some(0))
        .await
        .unwrap();
    assert_eq!(r.modified, all.to_vec(), "UNCHANGEDSINCE 0 changes nothing");
    assert!(r.changed.is_empty() && r.current.is_empty(), "{r:?}");
    assert_eq!(
        highest(s, a, inbox).await,
        before,
        "nor raises HIGHESTMODSEQ"
    );

    // A large enough UNCHANGEDSINCE is a plain STORE; a no-op lists the
    // message with its modseq unchanged.
    let at = modseq_of(s, a, inbox, m1.uid).await;
    let r = s
        .store_flags_unchanged_since(
            a,
            inbox,
            &[m1.uid],
            FlagOp::Add,
            &fl(flag::SEEN, &[]),
            Some(u64::MAX >> 1),
        )
        .await
        .unwrap();
    assert!(r.modified.is_empty() && r.changed.is_empty(), "{r:?}");
    assert_eq!(r.current.len(), 1);
    assert_eq!(
        r.current[0].2, at,
        "a STORE that changes nothing keeps the modseq"
    );
}

/// RFC 7162 §3.1.5: SEARCH MODSEQ n finds the messages whose modseq is n or
/// more, from the index and from the text scan alike.
pub async fn search_by_modseq(fresh: impl Fn() -> Fresh) {
    let (s, _guard) = fresh().await;
    let s = &*s;
    let (a, inbox) = account(s, "alice").await;
    let m1 = append(s, a, inbox, "one", Flags::default()).await;
    let m2 = append(s, a, inbox, "two", Flags::default()).await;
    let m3 = append(s, a, inbox, "three", Flags::default()).await;
    let r = set_flags(s, a, inbox, &[m1.uid], FlagOp::Add, fl(flag::SEEN, &[])).await;
    let search = |q: Query| async move { s.search(a, inbox, &q.normalized()).await.unwrap() };
    assert_eq!(
        search(Query::ModSeq(r.modseq)).await,
        vec![m1.uid],
        "only the changed message"
    );
    assert_eq!(
        search(Query::ModSeq(m3.modseq)).await,
        vec![m1.uid, m3.uid],
        "MODSEQ is at least, not equal"
    );
    assert_eq!(search(Query::ModSeq(0)).await, vec![m1.uid, m2.uid, m3.uid]);
    assert_eq!(
        search(Query::And(vec![
            Query::ModSeq(m2.modseq),
            Query::Text("body".into())
        ]))
        .await,
        vec![m1.uid, m2.uid, m3.uid],
        "with a text key (the scan)"
    );
    assert_eq!(
        search(Query::And(vec![
            Query::ModSeq(r.modseq),
            Query::Body("text".into())
        ]))
        .await,
        vec![m1.uid],
        "with a body key (the scan)"
    );
    assert!(search(Query::ModSeq(r.modseq + 1)).await.is_empty());
}
