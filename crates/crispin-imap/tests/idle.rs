//! IDLE (RFC 2177): what other sessions' changes look like while idling,
//! DONE, keepalives, IDLE outside the selected state.

use crispin_testkit::*;
use std::time::Duration;

#[tokio::test]
async fn idle_reports_move_by_other_session() {
    let (imap, mut a, mut b) = two_sessions(3).await;
    a.ok("CREATE Dest").await;
    b.send("I1 IDLE").await;
    assert!(b.read_line().await.starts_with("+ "));
    a.ok("UID MOVE 2 Dest").await;
    let lines = b.read_until(|l| l.ends_with(" EXPUNGE")).await;
    assert_eq!(lines.last().unwrap(), "* 2 EXPUNGE", "{lines:?}");
    b.send("DONE").await;
    let lines = b.until_tag("I1").await;
    assert!(lines.last().unwrap().starts_with("I1 OK"), "{lines:?}");
    assert_eq!(
        b.ok("FETCH 1:* UID").await,
        vec!["* 1 FETCH (UID 1)", "* 2 FETCH (UID 3)"]
    );
    imap.shutdown().await;
}

#[tokio::test]
async fn idle_reports_append_flags_and_expunge() {
    let (imap, mut a, mut b) = two_sessions(2).await;
    b.send("I1 IDLE").await;
    let cont = b.read_line().await;
    assert!(cont.starts_with("+ "), "{cont}");

    a.append("INBOX", "", &message("new", "while idling")).await;
    let lines = b.read_until(|l| l.ends_with(" EXISTS")).await;
    assert_eq!(lines.last().unwrap(), "* 3 EXISTS", "{lines:?}");

    a.ok("STORE 1 +FLAGS.SILENT (\\Flagged)").await;
    let lines = b.read_until(|l| l.contains(" FETCH (")).await;
    let fetch = lines.last().unwrap();
    assert!(fetch.starts_with("* 1 FETCH ("), "{fetch}");
    assert!(flags_in(fetch).contains("\\Flagged"), "{fetch}");

    a.ok("STORE 2 +FLAGS.SILENT (\\Deleted)").await;
    a.ok("EXPUNGE").await;
    let lines = b.read_until(|l| l.ends_with(" EXPUNGE")).await;
    assert_eq!(lines.last().unwrap(), "* 2 EXPUNGE", "{lines:?}");

    b.send("DONE").await;
    let lines = b.until_tag("I1").await;
    assert!(lines.last().unwrap().starts_with("I1 OK"), "{lines:?}");
    // B's view after IDLE: UIDs 1 and 3.
    let f = b.ok("FETCH 1:* UID").await;
    assert_eq!(f, vec!["* 1 FETCH (UID 1)", "* 2 FETCH (UID 3)"]);
    imap.shutdown().await;
}

#[tokio::test]
async fn idle_reports_changes_made_before_it_started() {
    let (imap, mut a, mut b) = two_sessions(1).await;
    a.append("INBOX", "", &message("early", "x")).await;
    b.send("I1 IDLE").await;
    // The pending EXISTS may come before or after the continuation.
    let lines = b.read_until(|l| l.starts_with('+')).await;
    let mut all = lines.clone();
    if !all.iter().any(|l| l == "* 2 EXISTS") {
        all.extend(b.read_until(|l| l.ends_with(" EXISTS")).await);
    }
    assert!(all.contains(&"* 2 EXISTS".to_string()), "{all:?}");
    b.send("DONE").await;
    let lines = b.until_tag("I1").await;
    assert!(lines.last().unwrap().starts_with("I1 OK"), "{lines:?}");
    imap.shutdown().await;
}

#[tokio::test]
async fn idle_anything_but_done_is_bad() {
    let (imap, _a, mut b) = two_sessions(1).await;
    b.send("I1 IDLE").await;
    assert!(b.read_line().await.starts_with("+ "));
    b.send("I2 NOOP").await;
    let line = b.read_line().await;
    assert!(line.starts_with("I1 BAD"), "{line}");
    // The session is usable afterwards.
    let lines = b.ok("NOOP").await;
    assert!(lines.is_empty(), "{lines:?}");
    // DONE is case-insensitive.
    b.send("I3 IDLE").await;
    assert!(b.read_line().await.starts_with("+ "));
    b.send("done").await;
    let line = b.read_line().await;
    assert!(line.starts_with("I3 OK"), "{line}");
    imap.shutdown().await;
}

#[tokio::test]
async fn idle_in_authenticated_state() {
    let imap = TestImap::start().await;
    let mut c = imap.login("alice").await;
    c.send("I1 IDLE").await;
    assert!(c.read_line().await.starts_with("+ "));
    // Mail arriving elsewhere is not reported: nothing is selected.
    let mut other = imap.login("alice").await;
    other.append("INBOX", "", &message("x", "y")).await;
    c.send("DONE").await;
    let lines = c.until_tag("I1").await;
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].starts_with("I1 OK"), "{lines:?}");
    c.ok("NOOP").await;
    imap.shutdown().await;
}

#[tokio::test]
async fn idle_before_login_is_bad() {
    let imap = TestImap::start().await;
    let mut c = imap.connect().await;
    let st = c.status("IDLE").await;
    assert_bad(&st);
    imap.shutdown().await;
}

#[tokio::test]
async fn idle_keepalive() {
    let imap = TestImap::with_config(|c| c.idle_keepalive = Duration::from_secs(1))
        .start()
        .await;
    let mut c = imap.login("alice").await;
    c.ok("SELECT INBOX").await;
    c.send("I1 IDLE").await;
    assert!(c.read_line().await.starts_with("+ "));
    // Within the harness timeout, at least two keepalives arrive.
    assert_eq!(c.read_line().await, "* OK Still here");
    assert_eq!(c.read_line().await, "* OK Still here");
    c.send("DONE").await;
    let lines = c.until_tag("I1").await;
    assert!(lines.last().unwrap().starts_with("I1 OK"), "{lines:?}");
    imap.shutdown().await;
}

#[tokio::test]
async fn command_pipelined_right_after_done() {
    let (imap, mut a, mut b) = two_sessions(1).await;
    b.send("I1 IDLE").await;
    assert!(b.read_line().await.starts_with("+ "));
    a.append("INBOX", "", &message("x", "y")).await;
    let _ = b.read_until(|l| l == "* 2 EXISTS").await;
    b.send_raw(b"DONE\r\nP1 FETCH 2 UID\r\nP2 NOOP\r\n").await;
    let lines = b.until_tag("P2").await;
    let i1 = lines.iter().position(|l| l.starts_with("I1 OK")).unwrap();
    let fetch = lines.iter().position(|l| l == "* 2 FETCH (UID 2)").unwrap();
    let p1 = lines.iter().position(|l| l.starts_with("P1 OK")).unwrap();
    assert!(i1 < fetch && fetch < p1, "{lines:?}");
    imap.shutdown().await;
}
