//! QRESYNC (RFC 7162 §3.2): ENABLE QRESYNC, SELECT/EXAMINE … (QRESYNC …)
//! answered with VANISHED (EARLIER) and the FETCHes of what changed,
//! VANISHED instead of EXPUNGE, UID FETCH … (CHANGEDSINCE n VANISHED) and
//! [CLOSED]; long known-UID lists and sets.

use crispin_testkit::*;
use std::collections::BTreeMap;

/// `[NAME n]` among untagged OK lines, as u64.
#[track_caller]
fn code_u64(lines: &[String], name: &str) -> u64 {
    let prefix = format!("* OK [{name} ");
    let line = lines
        .iter()
        .find(|l| l.starts_with(&prefix))
        .unwrap_or_else(|| panic!("no [{name}] in {lines:?}"));
    let v = &line[prefix.len()..];
    v[..v.find(']').unwrap()].parse().unwrap()
}

/// The UIDs of a `* VANISHED [(EARLIER)] set` line.
fn vanished_uids(line: &str) -> Vec<u32> {
    let set = line
        .trim_start_matches("* VANISHED ")
        .trim_start_matches("(EARLIER) ");
    let mut out = Vec::new();
    for part in set.split(',') {
        match part.split_once(':') {
            Some((a, b)) => out.extend(a.parse::<u32>().unwrap()..=b.parse::<u32>().unwrap()),
            None => out.push(part.parse().unwrap()),
        }
    }
    out
}

/// UID → flags (sorted), from FETCH lines that carry both.
fn cache_from(lines: &[String]) -> BTreeMap<u32, Vec<String>> {
    let mut cache = BTreeMap::new();
    for l in lines.iter().filter(|l| l.contains(" FETCH (")) {
        let uid = l.split("UID ").nth(1).and_then(|r| {
            r.split(|c: char| !c.is_ascii_digit())
                .next()
                .and_then(|n| n.parse().ok())
        });
        if let Some(uid) = uid {
            let mut flags: Vec<String> = flags_in(l)
                .into_iter()
                .filter(|f| f != "\\Recent")
                .collect();
            flags.sort();
            cache.insert(uid, flags);
        }
    }
    cache
}

/// Client A caches INBOX, B changes flags, appends, expunges and moves;
/// A comes back with QRESYNC and, applying only what it is told, ends
/// with the state a full resync gives, message by message.
#[tokio::test]
async fn reconnect_with_qresync_gives_the_full_state() {
    let (imap, mut a, mut b) = two_sessions(10).await;
    let sel = a.ok("SELECT INBOX").await;
    let validity = code_u64(&sel, "UIDVALIDITY");
    let highest = code_u64(&sel, "HIGHESTMODSEQ");
    let mut cache = cache_from(&a.ok("UID FETCH 1:* (FLAGS)").await);
    assert_eq!(cache.len(), 10);
    a.ok("LOGOUT").await;

    b.ok("STORE 2 +FLAGS (\\Seen $Work)").await;
    b.ok("STORE 3,7 +FLAGS (\\Deleted)").await;
    b.ok("EXPUNGE").await; // UIDs 3 and 7
    b.append("INBOX", "(\\Flagged)", &message("new", "n")).await; // UID 11
    b.ok("UID MOVE 9 Archive").await;
    b.ok("UID STORE 10 -FLAGS (\\Seen)").await; // no change: not reported

    let mut a = imap.login("alice").await;
    assert_eq!(
        a.ok("ENABLE QRESYNC").await,
        vec!["* ENABLED QRESYNC".to_string()]
    );
    let resync = a
        .ok(&format!("SELECT INBOX (QRESYNC ({validity} {highest}))"))
        .await;
    let vanished: Vec<&String> = resync
        .iter()
        .filter(|l| l.starts_with("* VANISHED "))
        .collect();
    assert_eq!(vanished.len(), 1, "{resync:?}");
    assert!(
        vanished[0].starts_with("* VANISHED (EARLIER) "),
        "{resync:?}"
    );
    assert_eq!(vanished_uids(vanished[0]), vec![3, 7, 9]);
    for uid in vanished_uids(vanished[0]) {
        cache.remove(&uid);
    }
    let changed = cache_from(&resync);
    assert_eq!(
        changed.keys().copied().collect::<Vec<_>>(),
        vec![2, 11],
        "only what changed or is new: {resync:?}"
    );
    for l in resync.iter().filter(|l| l.contains(" FETCH (")) {
        assert!(l.contains("MODSEQ ("), "{l}");
    }
    cache.extend(changed);
    let full = cache_from(&a.ok("UID FETCH 1:* (FLAGS)").await);
    assert_eq!(cache, full, "the resynced cache is the full state");
    assert!(code_u64(&resync, "HIGHESTMODSEQ") > highest);
    imap.shutdown().await;
}

#[tokio::test]
async fn known_uids_narrow_and_a_stale_uidvalidity_is_ignored() {
    let (imap, mut a, mut b) = two_sessions(6).await;
    let sel = a.ok("SELECT INBOX").await;
    let (validity, highest) = (
        code_u64(&sel, "UIDVALIDITY"),
        code_u64(&sel, "HIGHESTMODSEQ"),
    );
    b.ok("STORE 1,5 +FLAGS (\\Answered)").await;
    b.ok("STORE 2,6 +FLAGS (\\Deleted)").await;
    b.ok("EXPUNGE").await;
    a.ok("ENABLE QRESYNC").await;
    // Known UIDs 1:3 (and the RFC's seq-match data, which is accepted).
    let r = a
        .ok(&format!(
            "EXAMINE INBOX (QRESYNC ({validity} {highest} 1:3 (1:3 1:3)))"
        ))
        .await;
    let lines: Vec<&String> = r
        .iter()
        .filter(|l| l.starts_with("* VANISHED") || l.contains(" FETCH ("))
        .collect();
    assert_eq!(lines.len(), 2, "{r:?}");
    assert_eq!(lines[0], "* VANISHED (EARLIER) 2");
    assert!(
        lines[1].starts_with("* 1 FETCH (UID 1 FLAGS (\\Answered"),
        "{r:?}"
    );
    // A client whose UIDVALIDITY is another gets the plain answer.
    let r = a
        .ok(&format!(
            "EXAMINE INBOX (QRESYNC ({} {highest}))",
            validity + 1
        ))
        .await;
    assert!(
        !r.iter()
            .any(|l| l.starts_with("* VANISHED") || l.contains(" FETCH (")),
        "{r:?}"
    );
    // EXAMINE replaced the selected mailbox: [CLOSED] came first.
    assert!(r[0].starts_with("* OK [CLOSED]"), "{r:?}");
    imap.shutdown().await;
}

#[tokio::test]
async fn vanished_replaces_expunge_once_enabled() {
    let (imap, mut a, mut b) = two_sessions(5).await;
    a.ok("ENABLE QRESYNC").await; // while INBOX is selected
    a.ok("STORE 1,2 +FLAGS.SILENT (\\Deleted)").await;
    let r = a.ok("EXPUNGE").await;
    assert_eq!(r, vec!["* VANISHED 1:2".to_string()]);
    // Another session's expunge.
    b.ok("UID STORE 4 +FLAGS (\\Deleted)").await;
    b.ok("UID EXPUNGE 4").await;
    let r = a.ok("NOOP").await;
    assert!(r.contains(&"* VANISHED 4".to_string()), "{r:?}");
    assert!(!r.iter().any(|l| l.ends_with(" EXPUNGE")), "{r:?}");
    // MOVE, too (RFC 6851 §4.3 with RFC 7162).
    let r = a.ok("UID MOVE 5 Archive").await;
    assert!(r.contains(&"* VANISHED 5".to_string()), "{r:?}");
    assert_eq!(a.uids().await, vec![3]);
    // A session without QRESYNC still gets EXPUNGE.
    let r = b.ok("NOOP").await;
    assert!(r.iter().any(|l| l.ends_with(" EXPUNGE")), "{r:?}");
    imap.shutdown().await;
}

#[tokio::test]
async fn uid_fetch_vanished() {
    let (imap, mut a, mut b) = two_sessions(5).await;
    assert_bad(
        &a.status("UID FETCH 1:* (FLAGS) (CHANGEDSINCE 1 VANISHED)")
            .await,
    );
    let highest = code_u64(&a.ok("SELECT INBOX").await, "HIGHESTMODSEQ");
    b.ok("STORE 2 +FLAGS (\\Deleted \\Seen)").await;
    b.ok("STORE 3 +FLAGS (\\Flagged)").await;
    b.ok("STORE 5 +FLAGS (\\Deleted)").await;
    b.ok("EXPUNGE").await;
    a.ok("ENABLE QRESYNC").await;
    a.ok("SELECT INBOX").await; // a fresh view without 2 and 5
    let r = a
        .ok(&format!(
            "UID FETCH 1:* (FLAGS) (CHANGEDSINCE {highest} VANISHED)"
        ))
        .await;
    assert_eq!(r[0], "* VANISHED (EARLIER) 2,5", "{r:?}");
    assert_eq!(r.len(), 2, "{r:?}");
    assert!(
        r[1].contains("UID 3") && r[1].contains("\\Flagged"),
        "{r:?}"
    );
    // The set bounds it.
    let r = a
        .ok(&format!(
            "UID FETCH 3:4 (FLAGS) (CHANGEDSINCE {highest} VANISHED)"
        ))
        .await;
    assert_eq!(r.len(), 1, "{r:?}");
    imap.shutdown().await;
}

#[tokio::test]
async fn qresync_needs_enable_and_closed_is_sent() {
    let (imap, mut c) = selected_with(2).await;
    let caps = c.ok("CAPABILITY").await;
    assert!(caps[0].contains(" QRESYNC "), "{caps:?}");
    assert_bad(&c.status("SELECT INBOX (QRESYNC (1 1))").await);
    // Still selected: the BAD changed nothing.
    c.ok("FETCH 1 (UID)").await;
    // Without QRESYNC, no CLOSED.
    let r = c.ok("SELECT Archive").await;
    assert!(!r.iter().any(|l| l.contains("[CLOSED]")), "{r:?}");
    c.ok("ENABLE QRESYNC").await;
    let r = c.ok("SELECT INBOX").await;
    assert!(r[0].starts_with("* OK [CLOSED]"), "{r:?}");
    // QRESYNC turned CONDSTORE on.
    let f = c.ok("FETCH 1 (FLAGS)").await;
    assert!(f[0].contains("MODSEQ ("), "{f:?}");
    // eM Client's form: both parameters in one SELECT.
    let r = c.cmd("SELECT INBOX (CONDSTORE QRESYNC (1 1))").await;
    assert_ok(r.last().unwrap());
    imap.shutdown().await;
}

/// Nextcloud sends known-UID lists of hundreds of KB; RFC 7162 §4 asks
/// servers for long lines. A 1 MB list, and a FETCH of 100,000 UIDs.
#[tokio::test]
async fn long_known_uid_lists_and_sets() {
    let (imap, mut c) = selected_with(3).await;
    let sel = c.ok("SELECT INBOX").await;
    let (validity, highest) = (
        code_u64(&sel, "UIDVALIDITY"),
        code_u64(&sel, "HIGHESTMODSEQ"),
    );
    c.ok("STORE 2 +FLAGS (\\Seen)").await;
    let known: Vec<String> = (0..160_000u32).map(|i| (2 * i + 2).to_string()).collect();
    let known = known.join(",");
    assert!(known.len() > 1_000_000, "{}", known.len());
    c.ok("ENABLE QRESYNC").await;
    let r = c
        .ok(&format!(
            "SELECT INBOX (QRESYNC ({validity} {highest} {known}))"
        ))
        .await;
    let fetches: Vec<&String> = r.iter().filter(|l| l.contains(" FETCH (")).collect();
    assert_eq!(fetches.len(), 1, "{r:?}");
    assert!(fetches[0].contains("UID 2 "), "{r:?}");
    let set: Vec<String> = (0..100_000u32).map(|i| (2 * i + 1).to_string()).collect();
    let f = c.ok(&format!("UID FETCH {} (FLAGS)", set.join(","))).await;
    assert_eq!(f.len(), 2, "UIDs 1 and 3: {f:?}");
    imap.shutdown().await;
}

/// The same two-client test on a mailbox of 100,000 messages (loaded
/// through the store, queued so that they share commits): another client
/// changes the flags of 1,000, expunges 500 and appends 10; the client
/// that comes back with QRESYNC ends with the full state, message by
/// message, having been sent a small fraction of it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconnect_with_qresync_at_100000_messages() {
    use crispin_store::{Flags, MessageData, NewMessage};
    let imap = TestImap::start().await;
    let store = imap.store.clone();
    let account = store.account("alice").await.unwrap().unwrap().id;
    let inbox = store.mailbox(account, "INBOX").await.unwrap().unwrap().id;
    for chunk in 0..100u32 {
        let mut pending = Vec::new();
        for i in 0..1000u32 {
            let n = chunk * 1000 + i;
            let msg = NewMessage {
                data: MessageData::Bytes(format!("Subject: m{n}\r\n\r\nb\r\n").into_bytes()),
                flags: Flags::default(),
                internal_date: chrono::Utc::now().fixed_offset(),
                skip_if_present: false,
            };
            pending.push(store.append_queued(account, inbox, msg).await.unwrap());
        }
        for p in pending {
            p.await.unwrap();
        }
    }
    let mut a = imap.login("alice").await;
    let sel = a.ok("SELECT INBOX").await;
    let validity = code_u64(&sel, "UIDVALIDITY");
    let highest = code_u64(&sel, "HIGHESTMODSEQ");
    let mut cache = cache_from(&a.ok("UID FETCH 1:* (FLAGS)").await);
    assert_eq!(cache.len(), 100_000);
    a.ok("LOGOUT").await;

    let mut b = imap.login("alice").await;
    b.ok("SELECT INBOX").await;
    let every = |from: u32, step: u32| {
        (from..=100_000)
            .step_by(step as usize)
            .map(|u| u.to_string())
            .collect::<Vec<_>>()
            .join(",")
    };
    b.ok(&format!(
        "UID STORE {} +FLAGS.SILENT (\\Seen)",
        every(1, 100)
    ))
    .await; // 1,000
    b.ok(&format!(
        "UID STORE {} +FLAGS.SILENT (\\Deleted)",
        every(50, 200)
    ))
    .await; // 500
    b.ok("EXPUNGE").await;
    for i in 0..10 {
        b.append("INBOX", "(\\Flagged)", &message(&format!("new {i}"), "n"))
            .await;
    }
    b.ok("LOGOUT").await;

    let mut a = imap.login("alice").await;
    a.ok("ENABLE QRESYNC").await;
    let resync = a
        .ok(&format!("SELECT INBOX (QRESYNC ({validity} {highest}))"))
        .await;
    let bytes: usize = resync.iter().map(|l| l.len() + 2).sum();
    for l in resync.iter().filter(|l| l.starts_with("* VANISHED ")) {
        assert!(l.starts_with("* VANISHED (EARLIER) "), "{l}");
        for uid in vanished_uids(l) {
            assert!(
                cache.remove(&uid).is_some(),
                "VANISHED names unknown UID {uid}"
            );
        }
    }
    let changed = cache_from(&resync);
    cache.extend(changed);
    let full = cache_from(&a.ok("UID FETCH 1:* (FLAGS)").await);
    assert_eq!(full.len(), 100_000 - 500 + 10);
    assert!(cache == full, "the resynced cache is the full state");
    assert!(bytes < 100_000, "QRESYNC sent {bytes} bytes");
    imap.shutdown().await;
}
