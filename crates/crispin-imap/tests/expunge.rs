//! EXPUNGE, UID EXPUNGE and CLOSE (RFC 3501 §6.4.1–3, RFC 4315).

use crispin_testkit::*;

#[tokio::test]
async fn expunge_renumbers_correctly() {
    let (imap, mut c) = selected_with(7).await;
    c.ok("STORE 2,3,5,7 +FLAGS.SILENT (\\Deleted)").await;
    let lines = c.ok("EXPUNGE").await;
    assert_eq!(lines.len(), 4, "{lines:?}");
    let mut model: Vec<u32> = (1..=7).collect();
    apply_expunges(&mut model, &lines);
    assert_eq!(model, vec![1, 4, 6], "{lines:?}");
    assert_eq!(c.uids().await, vec![1, 4, 6]);
    // Nothing more to expunge.
    assert_eq!(c.ok("EXPUNGE").await, Vec::<String>::new());
    // Sequence numbers follow: seq 2 is now UID 4.
    assert_eq!(c.ok("FETCH 2 UID").await, vec!["* 2 FETCH (UID 4)"]);
    // Read-only mailboxes cannot be expunged.
    c.ok("STORE 1 +FLAGS.SILENT (\\Deleted)").await;
    c.ok("EXAMINE INBOX").await;
    let st = c.status("EXPUNGE").await;
    assert_no(&st, None);
    imap.shutdown().await;
}

#[tokio::test]
async fn uid_expunge_only_given_uids() {
    let (imap, mut c) = selected_with(4).await;
    c.ok("STORE 1:3 +FLAGS.SILENT (\\Deleted)").await;
    let lines = c.ok("UID EXPUNGE 2,4").await;
    // UID 4 is not \Deleted: only UID 2 goes.
    assert_eq!(lines, vec!["* 2 EXPUNGE"]);
    assert_eq!(c.uids().await, vec![1, 3, 4]);
    assert_eq!(search_result(&c.ok("UID SEARCH DELETED").await), vec![1, 3]);
    let lines = c.ok("UID EXPUNGE 3:*").await;
    assert_eq!(lines, vec!["* 2 EXPUNGE"]);
    assert_eq!(c.uids().await, vec![1, 4]);
    imap.shutdown().await;
}

#[tokio::test]
async fn close_expunges_silently_unselect_does_not() {
    let (imap, mut c) = selected_with(3).await;
    c.ok("STORE 1 +FLAGS.SILENT (\\Deleted)").await;
    // UNSELECT: nothing expunged.
    assert_eq!(c.ok("UNSELECT").await, Vec::<String>::new());
    let st = c.status("FETCH 1 FLAGS").await;
    assert_eq!(tagged(&st).status, Status::Bad, "no mailbox selected: {st}");
    let s = c.ok("STATUS INBOX (MESSAGES)").await;
    assert_eq!(s, vec!["* STATUS INBOX (MESSAGES 3)"]);
    // CLOSE: expunged, with no EXPUNGE responses.
    c.ok("SELECT INBOX").await;
    c.ok("STORE 3 +FLAGS.SILENT (\\Deleted)").await;
    assert_eq!(c.ok("CLOSE").await, Vec::<String>::new());
    let s = c.ok("STATUS INBOX (MESSAGES)").await;
    assert_eq!(s, vec!["* STATUS INBOX (MESSAGES 1)"]);
    let st = c.status("CLOSE").await;
    assert_bad(&st);
    // CLOSE after EXAMINE does not expunge.
    c.append("INBOX", "(\\Deleted)", &message("d", "d")).await;
    c.ok("EXAMINE INBOX").await;
    assert_eq!(c.ok("CLOSE").await, Vec::<String>::new());
    let s = c.ok("STATUS INBOX (MESSAGES)").await;
    assert_eq!(s, vec!["* STATUS INBOX (MESSAGES 2)"]);
    imap.shutdown().await;
}
