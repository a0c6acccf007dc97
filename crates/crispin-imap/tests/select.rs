//! SELECT, EXAMINE and UNSELECT: their responses, read-only and
//! read-write, `\Recent`, switching mailboxes (RFC 3501 §6.3.1–2,
//! RFC 3691).

use crispin_testkit::*;

/// A tagged line without its tag.
fn untag(line: &str) -> &str {
    line.split_once(' ').map_or("", |(_, rest)| rest)
}

#[tokio::test]
async fn select_empty_mailbox_responses() {
    let imap = TestImap::start().await;
    let mut c = imap.login("alice").await;
    let r = c.cmd("SELECT INBOX").await;
    let validity = code_value(&r, "UIDVALIDITY");
    assert!(validity > 0);
    assert_eq!(r.len(), 8, "{r:#?}");
    assert_eq!(
        r[0],
        "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)"
    );
    assert!(
        r[1].starts_with(
            "* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft \\*)]"
        ),
        "{r:#?}"
    );
    assert!(r.contains(&"* 0 EXISTS".to_string()), "{r:#?}");
    assert!(r.contains(&"* 0 RECENT".to_string()), "{r:#?}");
    assert_eq!(code_value(&r, "UIDNEXT"), 1);
    assert!(!r.iter().any(|l| l.contains("[UNSEEN ")), "{r:#?}");
    // RFC 7162 §3.1.2.1; a mod-sequence is never 0 (§7).
    assert!(code_value(&r, "HIGHESTMODSEQ") >= 1, "{r:#?}");
    assert!(untag(&r[7]).starts_with("OK [READ-WRITE] "), "{r:#?}");
    imap.shutdown().await;
}

#[tokio::test]
async fn select_and_examine_with_messages() {
    let imap = TestImap::start().await;
    let mut c = imap.login("alice").await;
    c.ok("CREATE box").await;
    c.append("box", "(\\Seen)", &message("one", "1")).await;
    c.append("box", "()", &message("two", "2")).await;
    c.append("box", "($Label1 \\Flagged)", &message("three", "3"))
        .await;

    // EXAMINE first: read-only, and it must not take \Recent away.
    let r = c.cmd("EXAMINE box").await;
    assert!(
        r.contains(&"* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Label1)".to_string()),
        "{r:#?}"
    );
    assert!(
        r.iter().any(|l| l.starts_with("* OK [PERMANENTFLAGS ()]")),
        "{r:#?}"
    );
    assert!(r.contains(&"* 3 EXISTS".to_string()), "{r:#?}");
    assert_eq!(code_value(&r, "UNSEEN"), 2);
    assert_eq!(code_value(&r, "UIDNEXT"), 4);
    assert!(
        untag(r.last().unwrap()).starts_with("OK [READ-ONLY] "),
        "{r:#?}"
    );
    // Read-only: no flag changes.
    assert_no(&c.status("STORE 1 +FLAGS (\\Answered)").await, None);

    let r = c.cmd("SELECT box").await;
    assert!(
        r.contains(&"* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Label1)".to_string()),
        "{r:#?}"
    );
    assert!(
        r.iter().any(|l| l.starts_with(
            "* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Label1 \\*)]"
        )),
        "{r:#?}"
    );
    assert!(r.contains(&"* 3 EXISTS".to_string()), "{r:#?}");
    assert!(r.contains(&"* 3 RECENT".to_string()), "{r:#?}");
    assert_eq!(code_value(&r, "UNSEEN"), 2);
    assert_eq!(code_value(&r, "UIDNEXT"), 4);
    let validity = code_value(&r, "UIDVALIDITY");
    assert!(
        untag(r.last().unwrap()).starts_with("OK [READ-WRITE] "),
        "{r:#?}"
    );
    // Read-write now.
    c.ok("STORE 1 +FLAGS (\\Answered)").await;

    // \Recent belongs to the first session that saw the messages.
    let mut other = imap.login("alice").await;
    let r = other.ok("SELECT box").await;
    assert!(r.contains(&"* 3 EXISTS".to_string()), "{r:#?}");
    assert!(r.contains(&"* 0 RECENT".to_string()), "{r:#?}");
    assert_eq!(code_value(&r, "UIDVALIDITY"), validity);
    imap.shutdown().await;
}

#[tokio::test]
async fn failed_select_leaves_no_mailbox_selected() {
    let imap = TestImap::start().await;
    let mut c = imap.login("alice").await;
    c.append("INBOX", "()", &message("m", "x")).await;
    c.ok("SELECT INBOX").await;
    c.ok("FETCH 1 FLAGS").await;
    assert_no(&c.status("SELECT Nowhere").await, Some("NONEXISTENT"));
    assert_bad(&c.status("FETCH 1 FLAGS").await);
    assert_bad(&c.status("UNSELECT").await);
    // The same with EXAMINE and with invalid names.
    c.ok("EXAMINE INBOX").await;
    assert_no(&c.status("EXAMINE Nowhere").await, Some("NONEXISTENT"));
    assert_bad(&c.status("FETCH 1 FLAGS").await);
    c.ok("SELECT INBOX").await;
    assert_no(&c.status("SELECT \"a//b\"").await, None);
    assert_bad(&c.status("SEARCH ALL").await);
    // A \Noselect name cannot be selected either.
    c.ok("CREATE n/child").await;
    c.ok("DELETE n").await;
    c.ok("SELECT INBOX").await;
    assert_no(&c.status("SELECT n").await, Some("NONEXISTENT"));
    assert_bad(&c.status("FETCH 1 FLAGS").await);
    // Syntax errors.
    assert_bad(&c.status("SELECT").await);
    assert_bad(&c.status("EXAMINE").await);
    imap.shutdown().await;
}

#[tokio::test]
async fn select_switches_mailbox() {
    let imap = TestImap::start().await;
    let mut c = imap.login("alice").await;
    c.ok("CREATE other").await;
    c.append("INBOX", "()", &message("in-inbox", "x")).await;
    c.append("other", "()", &message("in-other-1", "x")).await;
    c.append("other", "()", &message("in-other-2", "x")).await;
    c.ok("SELECT INBOX").await;
    let r = c.ok("SELECT other").await;
    assert!(r.contains(&"* 2 EXISTS".to_string()), "{r:#?}");
    let f = c.ok("FETCH 2 (BODY.PEEK[HEADER.FIELDS (SUBJECT)])").await;
    assert!(f[0].contains("Subject: in-other-2"), "{f:?}");
    imap.shutdown().await;
}

#[tokio::test]
async fn unselect_does_not_expunge() {
    let imap = TestImap::start().await;
    let mut c = imap.login("alice").await;
    c.append("INBOX", "()", &message("a", "1")).await;
    c.append("INBOX", "()", &message("b", "2")).await;
    c.ok("SELECT INBOX").await;
    c.ok("STORE 1 +FLAGS (\\Deleted)").await;
    let r = c.cmd("UNSELECT").await;
    assert_eq!(r.len(), 1, "no untagged EXPUNGE: {r:?}");
    assert_eq!(tagged(&r[0]).status, Status::Ok, "{r:?}");
    assert_bad(&c.status("FETCH 1 FLAGS").await);
    assert_bad(&c.status("UNSELECT").await);
    assert_eq!(
        c.ok("STATUS INBOX (MESSAGES DELETED)").await,
        vec!["* STATUS INBOX (MESSAGES 2 DELETED 1)"]
    );
    // Also after EXAMINE.
    c.ok("EXAMINE INBOX").await;
    c.ok("UNSELECT").await;
    assert_eq!(c.status_item("INBOX", "MESSAGES").await, 2);
    assert_bad(&c.status("UNSELECT INBOX").await);
    imap.shutdown().await;
}

#[tokio::test]
async fn examine_reports_recent_without_claiming_it() {
    // RFC 3501 §6.3.2 (its example shows `* 2 RECENT` for EXAMINE): a
    // read-only session sees \Recent but must not take it away.
    let imap = TestImap::start().await;
    let mut c = imap.login("alice").await;
    for i in 1..=2 {
        c.append("INBOX", "", &message(&format!("m{i}"), "b")).await;
    }
    let ex = c.ok("EXAMINE INBOX").await;
    assert!(ex.contains(&"* 2 RECENT".to_string()), "{ex:?}");
    assert_eq!(search_result(&c.ok("SEARCH RECENT").await), vec![1, 2]);
    let f = c.ok("FETCH 1 FLAGS").await;
    assert_eq!(flags_in(&f[0]), set(&["\\Recent"]), "{}", f[0]);
    // Mail arriving while examined is recent too.
    let mut other = imap.login("alice").await;
    other.append("INBOX", "", &message("m3", "b")).await;
    let lines = c.ok("NOOP").await;
    assert!(lines.contains(&"* 3 EXISTS".to_string()), "{lines:?}");
    assert!(lines.contains(&"* 3 RECENT".to_string()), "{lines:?}");
    // Still recent for the first read-write session.
    let sel = other.ok("SELECT INBOX").await;
    assert!(sel.contains(&"* 3 RECENT".to_string()), "{sel:?}");
    // ...which took it: a new EXAMINE sees none.
    let ex = c.ok("EXAMINE INBOX").await;
    assert!(ex.contains(&"* 0 RECENT".to_string()), "{ex:?}");
    imap.shutdown().await;
}

/// `\Recent` in every path (RFC 3501 §2.3.2; issue 15 item 3): appended
/// while nobody has the mailbox selected, copied and moved in, and after
/// the mailbox is deleted and created again; RECENT, SEARCH RECENT/NEW/OLD,
/// STATUS RECENT and the `\Recent` flag agree, and the first session to
/// select takes it.
#[tokio::test]
async fn recent_in_every_path() {
    let imap = TestImap::start().await;
    let mut c = imap.login("alice").await;
    let mut other = imap.login("alice").await;
    c.ok("CREATE box").await;
    // Appended while nobody has "box" selected.
    c.append("box", "", &message("a1", "x")).await;
    c.append("box", "(\\Seen)", &message("a2", "x")).await;
    // Copied and moved in from INBOX.
    c.append("INBOX", "", &message("i1", "x")).await;
    c.append("INBOX", "", &message("i2", "x")).await;
    c.ok("SELECT INBOX").await;
    c.ok("COPY 1 box").await;
    c.ok("MOVE 2 box").await;
    c.ok("UNSELECT").await;
    assert_eq!(
        c.status_item("box", "RECENT").await,
        4,
        "STATUS before anyone selects"
    );

    let agree = |lines: &[String], want: &[u32]| {
        assert!(
            lines.contains(&format!("* {} RECENT", want.len())),
            "{lines:?}"
        );
    };
    let sel = other.ok("SELECT box").await;
    agree(&sel, &[1, 2, 3, 4]);
    assert_eq!(
        search_result(&other.ok("SEARCH RECENT").await),
        vec![1, 2, 3, 4]
    );
    assert_eq!(search_result(&other.ok("SEARCH NEW").await), vec![1, 3, 4]);
    assert!(search_result(&other.ok("SEARCH OLD").await).is_empty());
    let f = other.ok("FETCH 1:4 (FLAGS)").await;
    assert!(f.iter().all(|l| l.contains("\\Recent")), "{f:?}");
    // Taken by that session: others see none.
    let sel = c.ok("SELECT box").await;
    agree(&sel, &[]);
    assert!(search_result(&c.ok("SEARCH RECENT").await).is_empty());
    assert_eq!(search_result(&c.ok("SEARCH OLD").await), vec![1, 2, 3, 4]);
    assert_eq!(c.status_item("box", "RECENT").await, 0);
    c.ok("UNSELECT").await;
    other.ok("UNSELECT").await;

    // Deleted and created again under the same name: new messages are
    // recent again for the next session that selects.
    c.ok("DELETE box").await;
    c.ok("CREATE box").await;
    c.append("box", "", &message("b1", "x")).await;
    assert_eq!(c.status_item("box", "RECENT").await, 1);
    let sel = other.ok("SELECT box").await;
    agree(&sel, &[1]);
    assert_eq!(search_result(&other.ok("SEARCH RECENT").await), vec![1]);
    imap.shutdown().await;
}
