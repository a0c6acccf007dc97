//! STATUS (RFC 3501 §6.3.10, RFC 8438 SIZE, RFC 7889 APPENDLIMIT).

use crispin_testkit::*;

#[tokio::test]
async fn status_all_items() {
    let imap = TestImap::start().await;
    let mut c = imap.login("alice").await;
    let r = c
        .ok("STATUS INBOX (MESSAGES RECENT UIDNEXT UIDVALIDITY UNSEEN)")
        .await;
    assert_eq!(r.len(), 1, "{r:?}");
    let validity = c.status_item("INBOX", "UIDVALIDITY").await;
    assert!(validity > 0);
    assert_eq!(
        r[0],
        format!("* STATUS INBOX (MESSAGES 0 RECENT 0 UIDNEXT 1 UIDVALIDITY {validity} UNSEEN 0)")
    );
    let m1 = message("one", "first");
    let m2 = message("two", "second message");
    let m3 = message("three", "third");
    c.append("INBOX", "()", &m1).await;
    c.append("INBOX", "(\\Seen)", &m2).await;
    c.append("INBOX", "(\\Seen \\Deleted)", &m3).await;
    let size = m1.len() + m2.len() + m3.len();
    // Items come back in the order they were asked for.
    assert_eq!(
        c.ok("STATUS INBOX (UNSEEN UIDVALIDITY UIDNEXT RECENT MESSAGES)")
            .await,
        vec![format!(
            "* STATUS INBOX (UNSEEN 1 UIDVALIDITY {validity} UIDNEXT 4 RECENT 3 MESSAGES 3)"
        )]
    );
    // RFC 8438: advertised, and SIZE is the sum of the messages' sizes.
    let caps = c.ok("CAPABILITY").await;
    assert!(caps[0].contains(" STATUS=SIZE "), "{caps:?}");
    assert_eq!(
        c.ok("status inbox (deleted size messages)").await,
        vec![format!("* STATUS INBOX (DELETED 1 SIZE {size} MESSAGES 3)")]
    );
    assert_eq!(
        c.ok("STATUS INBOX (APPENDLIMIT)").await,
        vec![format!(
            "* STATUS INBOX (APPENDLIMIT {})",
            imap.config.limits.max_message
        )]
    );
    // Values agree with SELECT.
    let sel = c.ok("SELECT INBOX").await;
    assert_eq!(u64::from(code_value(&sel, "UIDVALIDITY")), validity);
    assert_eq!(code_value(&sel, "UIDNEXT"), 4);
    imap.shutdown().await;
}

#[tokio::test]
async fn status_errors() {
    let imap = TestImap::start().await;
    let mut c = imap.login("alice").await;
    let r = c.cmd("STATUS Nowhere (MESSAGES)").await;
    assert_eq!(r.len(), 1, "no STATUS data for a missing mailbox: {r:?}");
    assert_no(&r[0], Some("NONEXISTENT"));
    assert_no(
        &c.status("STATUS \"a//b\" (MESSAGES)").await,
        Some("NONEXISTENT"),
    );
    // A name no mailbox can have (a non-canonical modified UTF-7
    // spelling): NO, as for any mailbox that is not there.
    assert_no(
        &c.status("STATUS \"&AGE-\" (MESSAGES)").await,
        Some("NONEXISTENT"),
    );
    for bad in [
        "STATUS INBOX",
        "STATUS INBOX ()",
        "STATUS INBOX (BOGUS)",
        "STATUS INBOX MESSAGES",
        "STATUS INBOX (MESSAGES",
        "STATUS (MESSAGES)",
    ] {
        let r = c.cmd(bad).await;
        assert_eq!(r.len(), 1, "{bad}: {r:?}");
        assert_bad(&r[0]);
    }
    imap.shutdown().await;
}

#[tokio::test]
async fn status_follows_append_store_expunge() {
    let imap = TestImap::start().await;
    let mut c = imap.login("alice").await;
    let mut other = imap.login("alice").await;
    c.ok("CREATE box").await;
    let all = "(MESSAGES UIDNEXT UNSEEN DELETED)";
    let st = |m: u32, n: u32, u: u32, d: u32| {
        vec![format!(
            "* STATUS box (MESSAGES {m} UIDNEXT {n} UNSEEN {u} DELETED {d})"
        )]
    };
    assert_eq!(other.ok(&format!("STATUS box {all}")).await, st(0, 1, 0, 0));
    c.append("box", "()", &message("a", "1")).await;
    c.append("box", "()", &message("b", "2")).await;
    assert_eq!(other.ok(&format!("STATUS box {all}")).await, st(2, 3, 2, 0));
    c.ok("SELECT box").await;
    c.ok("STORE 1 +FLAGS (\\Seen)").await;
    assert_eq!(other.ok(&format!("STATUS box {all}")).await, st(2, 3, 1, 0));
    c.ok("STORE 2 +FLAGS (\\Deleted \\Seen)").await;
    assert_eq!(other.ok(&format!("STATUS box {all}")).await, st(2, 3, 0, 1));
    c.ok("STORE 1 -FLAGS (\\Seen)").await;
    assert_eq!(other.ok(&format!("STATUS box {all}")).await, st(2, 3, 1, 1));
    c.ok("EXPUNGE").await;
    assert_eq!(other.ok(&format!("STATUS box {all}")).await, st(1, 3, 1, 0));
    // STATUS on one's own selected mailbox works too.
    assert_eq!(c.ok(&format!("STATUS box {all}")).await, st(1, 3, 1, 0));
    imap.shutdown().await;
}
