//! CONDSTORE (RFC 7162 §3.1): HIGHESTMODSEQ on SELECT and in STATUS, the
//! MODSEQ FETCH item, FETCH (CHANGEDSINCE), STORE (UNCHANGEDSINCE) and
//! [MODIFIED], SEARCH MODSEQ with the modseq in SEARCH and ESEARCH, and
//! the ways CONDSTORE is turned on (ENABLE, SELECT (CONDSTORE), the first
//! command that uses it), after which every FETCH carries MODSEQ.

use crispin_testkit::*;

/// The value of `MODSEQ (n)` in a FETCH line.
#[track_caller]
fn modseq_in(line: &str) -> u64 {
    let at = line
        .find("MODSEQ (")
        .unwrap_or_else(|| panic!("no MODSEQ in {line}"));
    let rest = &line[at + 8..];
    rest[..rest.find(')').unwrap()].parse().unwrap()
}

/// `[HIGHESTMODSEQ n]` among SELECT's untagged lines.
#[track_caller]
fn highest_in(lines: &[String]) -> u64 {
    let line = lines
        .iter()
        .find(|l| l.starts_with("* OK [HIGHESTMODSEQ "))
        .unwrap_or_else(|| panic!("no HIGHESTMODSEQ in {lines:?}"));
    let v = &line["* OK [HIGHESTMODSEQ ".len()..];
    v[..v.find(']').unwrap()].parse().unwrap()
}

/// The FETCH line for sequence number `seq`.
#[track_caller]
fn fetch_of(lines: &[String], seq: u32) -> &str {
    let prefix = format!("* {seq} FETCH (");
    lines
        .iter()
        .find(|l| l.starts_with(&prefix))
        .unwrap_or_else(|| panic!("no FETCH for {seq} in {lines:?}"))
}

#[tokio::test]
async fn advertised_and_enabled_by_enable() {
    let imap = TestImap::start().await;
    let mut before = imap.connect().await;
    let caps = before.ok("CAPABILITY").await;
    assert!(
        !caps[0].contains("CONDSTORE"),
        "CONDSTORE is for logged-in sessions: {caps:?}"
    );
    let mut c = imap.login("alice").await;
    let caps = c.ok("CAPABILITY").await;
    assert!(caps[0].contains(" CONDSTORE "), "{caps:?}");
    assert_eq!(
        c.ok("enable condstore").await,
        vec!["* ENABLED CONDSTORE".to_string()]
    );
    // Already on: not listed again (RFC 5161 §3.2 lists what this command
    // enabled).
    assert_eq!(
        c.ok("ENABLE CONDSTORE").await,
        vec!["* ENABLED".to_string()]
    );
    c.append("INBOX", "", &message("a", "b")).await;
    c.ok("SELECT INBOX").await;
    let f = c.ok("FETCH 1 (FLAGS)").await;
    assert!(fetch_of(&f, 1).contains("MODSEQ ("), "{f:?}");
    imap.shutdown().await;
}

#[tokio::test]
async fn select_and_status_report_the_highest_modseq() {
    let (imap, mut c) = selected_with(3).await;
    let f = c.ok("FETCH 1 (UID)").await;
    assert!(
        !fetch_of(&f, 1).contains("MODSEQ"),
        "CONDSTORE is off: {f:?}"
    );
    let sel = c.ok("EXAMINE INBOX").await;
    let first = highest_in(&sel);
    assert!(first > 0, "{sel:?}");
    assert_eq!(c.status_item("INBOX", "HIGHESTMODSEQ").await, first);
    // STATUS HIGHESTMODSEQ turned CONDSTORE on (RFC 7162 §3.1).
    let f = c.ok("FETCH 1 (UID)").await;
    assert!(fetch_of(&f, 1).contains("MODSEQ ("), "{f:?}");
    c.ok("SELECT INBOX").await;
    c.ok("STORE 2 +FLAGS (\\Seen)").await;
    let sel = c.ok("SELECT INBOX").await;
    let second = highest_in(&sel);
    assert!(
        second > first,
        "a STORE raises HIGHESTMODSEQ: {first} → {second}"
    );
    // A STORE that changes nothing does not.
    c.ok("STORE 2 +FLAGS (\\Seen)").await;
    assert_eq!(highest_in(&c.ok("SELECT INBOX").await), second);
    let st = c.ok("STATUS INBOX (MESSAGES HIGHESTMODSEQ)").await;
    assert_eq!(
        st,
        vec![format!(
            "* STATUS INBOX (MESSAGES 3 HIGHESTMODSEQ {second})"
        )]
    );
    imap.shutdown().await;
}

#[tokio::test]
async fn modseq_fetch_item_and_changes_raise_it() {
    let (imap, mut c) = selected_with(2).await;
    let f = c.ok("FETCH 1:2 (MODSEQ)").await;
    let (m1, m2) = (modseq_in(fetch_of(&f, 1)), modseq_in(fetch_of(&f, 2)));
    assert!(m1 < m2, "appended later, higher modseq: {f:?}");
    assert_eq!(fetch_of(&f, 1), format!("* 1 FETCH (MODSEQ ({m1}))"));
    // Every STORE's response carries the new, higher modseq.
    let mut last = m2;
    for flag in ["\\Seen", "\\Flagged", "$Work"] {
        let f = c.ok(&format!("STORE 1 +FLAGS ({flag})")).await;
        let m = modseq_in(fetch_of(&f, 1));
        assert!(m > last, "{flag}: {m} after {last}");
        last = m;
    }
    // A FETCH that sets \Seen reports the modseq it made.
    let f = c.ok("FETCH 2 (BODY[TEXT])").await;
    let line = fetch_of(&f, 2);
    assert!(line.contains("\\Seen"), "{line}");
    assert!(modseq_in(line) > last, "{line}");
    // Modseqs survive a re-select unchanged.
    c.ok("SELECT INBOX").await;
    let again = c.ok("FETCH 2 (MODSEQ)").await;
    assert_eq!(modseq_in(fetch_of(&again, 2)), modseq_in(line));
    imap.shutdown().await;
}

#[tokio::test]
async fn fetch_changedsince_returns_only_what_changed() {
    let (imap, mut c) = selected_with(4).await;
    let highest = highest_in(&c.ok("SELECT INBOX (CONDSTORE)").await);
    c.ok("STORE 2 +FLAGS (\\Flagged)").await;
    c.ok("STORE 4 +FLAGS (\\Seen)").await;
    let f = c
        .ok(&format!("UID FETCH 1:* (FLAGS) (CHANGEDSINCE {highest})"))
        .await;
    assert_eq!(f.len(), 2, "{f:?}");
    assert!(fetch_of(&f, 2).contains("UID 2") && fetch_of(&f, 2).contains("\\Flagged"));
    assert!(fetch_of(&f, 4).contains("UID 4") && fetch_of(&f, 4).contains("\\Seen"));
    let m4 = modseq_in(fetch_of(&f, 4));
    // Strictly greater: the change at exactly the given modseq is known.
    let f = c
        .ok(&format!("FETCH 1:* (FLAGS) (CHANGEDSINCE {m4})"))
        .await;
    assert!(f.is_empty(), "{f:?}");
    // 0 (as iOS Mail sends it) is every message.
    let f = c.ok("FETCH 1:* (UID) (CHANGEDSINCE 0)").await;
    assert_eq!(f.len(), 4, "{f:?}");
    // A message set still bounds it.
    let f = c
        .ok(&format!("FETCH 1:3 (FLAGS) (CHANGEDSINCE {highest})"))
        .await;
    assert_eq!(f.len(), 1, "{f:?}");
    fetch_of(&f, 2);
    imap.shutdown().await;
}

/// RFC 7162 §3.1.3, its examples 3 and 11 adapted: messages changed after
/// UNCHANGEDSINCE are left alone and listed in MODIFIED; the others change
/// and are reported with their modseq even after .SILENT.
#[tokio::test]
async fn store_unchangedsince_and_modified() {
    let (imap, mut c) = selected_with(3).await;
    let f = c.ok("FETCH 1:3 (MODSEQ)").await;
    let seen_at = modseq_in(fetch_of(&f, 3));
    c.ok("STORE 2 +FLAGS (\\Answered)").await;

    let lines = c
        .cmd(&format!(
            "STORE 1:3 (UNCHANGEDSINCE {seen_at}) +FLAGS.SILENT (\\Deleted)"
        ))
        .await;
    let tagged = lines.last().unwrap();
    assert_ok(tagged);
    assert!(tagged.contains("[MODIFIED 2]"), "{tagged}");
    let untagged = &lines[..lines.len() - 1];
    assert_eq!(untagged.len(), 2, "{lines:?}");
    for seq in [1, 3] {
        let line = fetch_of(untagged, seq);
        assert!(!line.contains("FLAGS"), ".SILENT: no flags: {line}");
        assert!(modseq_in(line) > seen_at, "{line}");
    }
    let f = c.ok("FETCH 1:3 (FLAGS)").await;
    assert!(fetch_of(&f, 1).contains("\\Deleted"));
    assert!(!fetch_of(&f, 2).contains("\\Deleted"), "left alone: {f:?}");
    assert!(fetch_of(&f, 3).contains("\\Deleted"));

    // UID STORE names UIDs in MODIFIED; UNCHANGEDSINCE 0 always fails.
    let lines = c
        .cmd("UID STORE 1:3 (UNCHANGEDSINCE 0) +FLAGS (\\Draft)")
        .await;
    let tagged = lines.last().unwrap();
    assert!(tagged.contains("OK [MODIFIED 1:3]"), "{lines:?}");
    assert_eq!(
        lines.len(),
        1,
        "nothing changed, nothing reported: {lines:?}"
    );

    // A high enough value is a plain STORE, reported with FLAGS and MODSEQ.
    let f = c
        .ok("STORE 2 (UNCHANGEDSINCE 9223372036854775807) FLAGS (\\Seen)")
        .await;
    let line = fetch_of(&f, 2);
    assert!(
        line.contains("FLAGS (\\Seen)") && line.contains("MODSEQ ("),
        "{line}"
    );

    // After a sequence-number STORE, MODIFIED holds sequence numbers.
    c.ok("STORE 1 -FLAGS (\\Deleted)").await;
    c.ok("EXPUNGE").await; // message 3 (UID 3) goes; UIDs 1, 2 are seq 1, 2
    let m = modseq_in(fetch_of(&c.ok("FETCH 2 (MODSEQ)").await, 2));
    c.ok("STORE 1 +FLAGS (\\Flagged)").await;
    let tagged = c
        .status(&format!("STORE 1:2 (UNCHANGEDSINCE {m}) +FLAGS (X)"))
        .await;
    assert!(tagged.contains("[MODIFIED 1]"), "{tagged}");
    imap.shutdown().await;
}

#[tokio::test]
async fn search_modseq_reports_the_highest_modseq() {
    let (imap, mut c) = selected_with(3).await;
    let highest = highest_in(&c.ok("SELECT INBOX").await);
    let f = c.ok("STORE 2 +FLAGS (\\Flagged)").await;
    // CONDSTORE was not on yet: no MODSEQ in that STORE's FETCH.
    assert!(!fetch_of(&f, 2).contains("MODSEQ"), "{f:?}");
    let changed = c.ok("FETCH 2 (MODSEQ)").await;
    let m2 = modseq_in(fetch_of(&changed, 2));

    let r = c.ok(&format!("SEARCH MODSEQ {}", highest + 1)).await;
    assert_eq!(r, vec![format!("* SEARCH 2 (MODSEQ {m2})")]);
    // The entry-name form (a flag's entry and its type) finds the same.
    let r = c
        .ok(&format!(
            "UID SEARCH MODSEQ \"/flags/\\\\flagged\" all {}",
            highest + 1
        ))
        .await;
    assert_eq!(r, vec![format!("* SEARCH 2 (MODSEQ {m2})")]);
    // With other keys; no match has no MODSEQ.
    let r = c.ok("SEARCH MODSEQ 0 UNFLAGGED").await;
    assert!(r[0].starts_with("* SEARCH 1 3 (MODSEQ "), "{r:?}");
    assert_eq!(
        c.ok(&format!("SEARCH MODSEQ {}", m2 + 1)).await,
        vec!["* SEARCH".to_string()]
    );
    // ESEARCH carries MODSEQ as a result (RFC 7162 §3.1.10).
    let lines = c
        .cmd(&format!(
            "UID SEARCH RETURN (ALL COUNT) MODSEQ {}",
            highest + 1
        ))
        .await;
    assert_ok(lines.last().unwrap());
    assert!(
        lines[0].ends_with(&format!("UID ALL 2 COUNT 1 MODSEQ {m2}")),
        "{lines:?}"
    );
    // Bad forms.
    assert_bad(&c.status("SEARCH MODSEQ \"/nothing\" all 1").await);
    assert_bad(&c.status("SEARCH MODSEQ \"/flags/\\\\seen\" mine 1").await);
    assert_bad(&c.status("SEARCH MODSEQ x").await);
    imap.shutdown().await;
}

/// Another session's flag change reaches a CONDSTORE session with MODSEQ,
/// and a session without CONDSTORE without it.
#[tokio::test]
async fn unsolicited_fetch_carries_modseq_once_enabled() {
    let (imap, mut a, mut b) = two_sessions(2).await;
    a.ok("ENABLE CONDSTORE").await;
    let f = b.ok("STORE 1 +FLAGS (\\Seen)").await;
    assert!(!fetch_of(&f, 1).contains("MODSEQ"), "{f:?}");
    let news = a.ok("NOOP").await;
    let line = fetch_of(&news, 1);
    assert!(line.contains("UID 1") && line.contains("\\Seen"), "{line}");
    let m = modseq_in(line);
    // The same modseq as the store gave it.
    assert_eq!(modseq_in(fetch_of(&a.ok("FETCH 1 (MODSEQ)").await, 1)), m);
    a.ok("STORE 2 +FLAGS (\\Flagged)").await;
    let news = b.ok("NOOP").await;
    assert!(!fetch_of(&news, 2).contains("MODSEQ"), "{news:?}");
    imap.shutdown().await;
}

#[tokio::test]
async fn bad_condstore_syntax() {
    let (imap, mut c) = selected_with(1).await;
    for bad in [
        "FETCH 1 (FLAGS) (CHANGEDSINCE x)",
        "FETCH 1 (FLAGS) (CHANGEDSINCE 9223372036854775808)",
        "FETCH 1 (FLAGS) (CHANGEDSINCE 1 CHANGEDSINCE 2)",
        "FETCH 1 (FLAGS) (VANISHED)",
        "STORE 1 (UNCHANGEDSINCE) +FLAGS (\\Seen)",
        "STORE 1 (UNCHANGEDSINCE -1) +FLAGS (\\Seen)",
        "SELECT INBOX (CONDSTORE 1)",
        "SELECT INBOX (QRESYNC (1 2))",
    ] {
        assert_bad(&c.status(bad).await);
    }
    // The session goes on, CONDSTORE still off.
    let f = c.ok("FETCH 1 (FLAGS)").await;
    assert!(!fetch_of(&f, 1).contains("MODSEQ"), "{f:?}");
    imap.shutdown().await;
}
