//! Several sessions on one mailbox: changes made by one session reach the
//! others only where RFC 3501 §7.4.1 allows (new mail, flags, expunges,
//! `\Recent` for one session only).

use crispin_testkit::*;

#[tokio::test]
async fn other_sessions_append_seen_on_noop() {
    let (imap, mut a, mut b) = two_sessions(1).await;
    let st = a.append("INBOX", "", &message("new", "new")).await;
    assert_ok(&st);
    let lines = b.ok("NOOP").await;
    assert!(lines.contains(&"* 2 EXISTS".to_string()), "{lines:?}");
    // Reported once only.
    let lines = b.ok("NOOP").await;
    assert!(!lines.iter().any(|l| l.ends_with("EXISTS")), "{lines:?}");
    let f = b.ok("FETCH 2 BODY.PEEK[TEXT]").await;
    assert_eq!(f, vec!["* 2 FETCH (BODY[TEXT] {5}\r\nnew\r\n)"]);
    // A third session appending from the authenticated state counts too.
    let mut c = imap.login("alice").await;
    c.append("INBOX", "", &message("third", "x")).await;
    let lines = b.ok("NOOP").await;
    assert!(lines.contains(&"* 3 EXISTS".to_string()), "{lines:?}");
    let lines = a.ok("NOOP").await;
    assert!(lines.contains(&"* 3 EXISTS".to_string()), "{lines:?}");
    imap.shutdown().await;
}

#[tokio::test]
async fn other_sessions_flag_changes_seen_as_fetch() {
    let (imap, mut a, mut b) = two_sessions(2).await;
    a.ok("STORE 2 +FLAGS.SILENT (\\Flagged \\Seen)").await;
    let lines = b.ok("NOOP").await;
    let fetch: Vec<&String> = lines.iter().filter(|l| l.contains(" FETCH ")).collect();
    assert_eq!(fetch.len(), 1, "{lines:?}");
    assert!(fetch[0].starts_with("* 2 FETCH ("), "{}", fetch[0]);
    let flags = flags_in(fetch[0]);
    assert!(
        flags.contains("\\Flagged") && flags.contains("\\Seen"),
        "{}",
        fetch[0]
    );
    // A new keyword also updates FLAGS.
    a.ok("STORE 1 +FLAGS.SILENT ($Shared)").await;
    let lines = b.ok("NOOP").await;
    let defined = lines
        .iter()
        .find(|l| l.starts_with("* FLAGS "))
        .unwrap_or_else(|| panic!("{lines:?}"));
    assert!(defined.contains("$Shared"), "{defined}");
    let fetch = lines.iter().find(|l| l.starts_with("* 1 FETCH (")).unwrap();
    assert!(flags_in(fetch).contains("$Shared"), "{fetch}");
    // Nothing more to report.
    assert_eq!(b.ok("NOOP").await, Vec::<String>::new());
    imap.shutdown().await;
}

#[tokio::test]
async fn other_sessions_expunge_seen_on_noop() {
    let (imap, mut a, mut b) = two_sessions(3).await;
    a.ok("STORE 1,3 +FLAGS.SILENT (\\Deleted)").await;
    a.ok("EXPUNGE").await;
    let lines = b.ok("NOOP").await;
    let mut model = vec![1, 2, 3];
    apply_expunges(&mut model, &lines);
    assert_eq!(model, vec![2], "{lines:?}");
    assert_eq!(b.ok("FETCH 1 UID").await, vec!["* 1 FETCH (UID 2)"]);
    imap.shutdown().await;
}

#[tokio::test]
async fn no_expunge_during_fetch_store_search() {
    let (imap, mut a, mut b) = two_sessions(3).await;
    a.ok("STORE 2 +FLAGS.SILENT (\\Deleted)").await;
    a.ok("EXPUNGE").await;

    // B has not been told: sequence numbers stay as they were.
    let f = b.ok("FETCH 1:3 UID").await;
    assert!(expunges(&f).is_empty(), "{f:?}");
    // Message 2 may be reported or omitted; 1 and 3 keep their numbers.
    assert!(f.contains(&"* 1 FETCH (UID 1)".to_string()), "{f:?}");
    assert!(f.contains(&"* 3 FETCH (UID 3)".to_string()), "{f:?}");
    assert!(f.iter().all(|l| l != "* 2 FETCH (UID 3)"), "{f:?}");

    let s = b.ok("STORE 3 +FLAGS (\\Answered)").await;
    assert!(expunges(&s).is_empty(), "{s:?}");
    assert!(s.iter().any(|l| l.starts_with("* 3 FETCH (")), "{s:?}");

    let s = b.ok("SEARCH ALL").await;
    assert!(expunges(&s).is_empty(), "{s:?}");
    let found = search_result(&s);
    assert!(found.contains(&1) && found.contains(&3), "{s:?}");
    assert_eq!(search_result(&b.ok("SEARCH ANSWERED").await), vec![3]);

    // `*` still means message 3.
    assert_eq!(b.ok("FETCH * UID").await, vec!["* 3 FETCH (UID 3)"]);

    // NOOP may tell.
    let lines = b.ok("NOOP").await;
    assert_eq!(expunges(&lines), vec!["* 2 EXPUNGE"], "{lines:?}");
    assert_eq!(b.ok("FETCH 2 UID").await, vec!["* 2 FETCH (UID 3)"]);
    assert_eq!(b.ok("NOOP").await, Vec::<String>::new());
    imap.shutdown().await;
}

#[tokio::test]
async fn expunge_pending_while_new_mail_arrives() {
    // An expunge and an append by A; B's FETCH may learn about the new
    // message (EXISTS) but not about the expunge.
    let (imap, mut a, mut b) = two_sessions(2).await;
    a.ok("STORE 1 +FLAGS.SILENT (\\Deleted)").await;
    a.ok("EXPUNGE").await;
    a.append("INBOX", "", &message("m3", "body 3")).await;
    let f = b.ok("FETCH 2 UID").await;
    assert!(expunges(&f).is_empty(), "{f:?}");
    assert!(f.contains(&"* 2 FETCH (UID 2)".to_string()), "{f:?}");
    let mut model = vec![1, 2];
    if f.iter().any(|l| l == "* 3 EXISTS") {
        model.push(3);
    }
    let lines = b.ok("NOOP").await;
    if lines.iter().any(|l| l == "* 3 EXISTS") {
        model.push(3);
    }
    apply_expunges(&mut model, &lines);
    assert_eq!(model, vec![2, 3], "{f:?} {lines:?}");
    let f = b.ok("FETCH 1:* UID").await;
    assert_eq!(f, vec!["* 1 FETCH (UID 2)", "* 2 FETCH (UID 3)"]);
    imap.shutdown().await;
}

#[tokio::test]
async fn uid_fetch_may_report_expunge() {
    let (imap, mut a, mut b) = two_sessions(3).await;
    a.ok("STORE 2 +FLAGS.SILENT (\\Deleted)").await;
    a.ok("EXPUNGE").await;
    let mut model = vec![1, 2, 3];
    let f = b.ok("UID FETCH 1:* FLAGS").await;
    apply_expunges(&mut model, &f);
    // Whatever was said is consistent with the numbers used.
    for l in f.iter().filter(|l| l.contains(" FETCH (")) {
        let seq: usize = l[2..l.find(" FETCH").unwrap()].parse().unwrap();
        let uid: u32 = l[l.find("UID ").unwrap() + 4..]
            .split(|c: char| !c.is_ascii_digit())
            .next()
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(model[seq - 1], uid, "{f:?}");
        assert_ne!(uid, 2, "{f:?}");
    }
    let lines = b.ok("NOOP").await;
    apply_expunges(&mut model, &lines);
    assert_eq!(model, vec![1, 3], "{f:?} {lines:?}");
    imap.shutdown().await;
}

#[tokio::test]
async fn recent_is_given_to_one_session_only() {
    let (imap, mut a, mut b) = two_sessions(1).await;
    let mut c = imap.login("alice").await;
    c.append("INBOX", "", &message("new", "x")).await;
    let la = a.ok("NOOP").await;
    let lb = b.ok("NOOP").await;
    assert!(la.contains(&"* 2 EXISTS".to_string()), "{la:?}");
    assert!(lb.contains(&"* 2 EXISTS".to_string()), "{lb:?}");
    let ra = search_result(&a.ok("SEARCH RECENT").await);
    let rb = search_result(&b.ok("SEARCH RECENT").await);
    let holders = [&ra, &rb].iter().filter(|r| r.contains(&2)).count();
    assert_eq!(holders, 1, "A: {ra:?} B: {rb:?}");
    // The RECENT counts agree with what SEARCH says.
    let count = |lines: &[String]| {
        let recent = untagged(lines, "RECENT");
        recent.first().map(|u| u.number.unwrap() as usize)
    };
    assert_eq!(count(&la).unwrap_or(ra.len()), ra.len(), "{la:?}");
    assert_eq!(count(&lb).unwrap_or(rb.len()), rb.len(), "{lb:?}");
    imap.shutdown().await;
}

#[tokio::test]
async fn other_sessions_append_with_new_keyword_updates_flags() {
    let (imap, mut a, mut b) = two_sessions(1).await;
    a.append("INBOX", "($Fresh)", &message("kw", "x")).await;
    let lines = b.ok("NOOP").await;
    let defined = lines
        .iter()
        .find(|l| l.starts_with("* FLAGS "))
        .unwrap_or_else(|| panic!("no FLAGS: {lines:?}"));
    assert!(flags_in(defined).contains("$Fresh"), "{defined}");
    assert!(lines.contains(&"* 2 EXISTS".to_string()), "{lines:?}");
    let f = b.ok("FETCH 2 FLAGS").await;
    assert!(flags_in(&f[0]).contains("$Fresh"), "{}", f[0]);
    imap.shutdown().await;
}

#[tokio::test]
async fn seen_set_by_fetch_reaches_other_session() {
    let (imap, mut a, mut b) = two_sessions(2).await;
    a.ok("FETCH 2 BODY[TEXT]").await;
    let lines = b.ok("NOOP").await;
    let f = lines
        .iter()
        .find(|l| l.starts_with("* 2 FETCH ("))
        .unwrap_or_else(|| panic!("{lines:?}"));
    assert!(flags_in(f).contains("\\Seen"), "{f}");
    imap.shutdown().await;
}

#[tokio::test]
async fn own_expunge_with_others_pending() {
    // B still shows a message A expunged; B's own EXPUNGE then reports
    // both, with numbers consistent at each step.
    let (imap, mut a, mut b) = two_sessions(4).await;
    a.ok("STORE 2 +FLAGS.SILENT (\\Deleted)").await;
    a.ok("EXPUNGE").await;
    let s = b.ok("STORE 3,4 +FLAGS.SILENT (\\Deleted)").await;
    assert!(expunges(&s).is_empty(), "{s:?}");
    let lines = b.ok("EXPUNGE").await;
    let mut model = vec![1, 2, 3, 4];
    apply_expunges(&mut model, &lines);
    assert_eq!(model, vec![1], "{lines:?}");
    assert_eq!(b.ok("FETCH 1:* UID").await, vec!["* 1 FETCH (UID 1)"]);
    assert_eq!(b.ok("NOOP").await, Vec::<String>::new());
    // A learns about B's expunges.
    let lines = a.ok("NOOP").await;
    let mut model = vec![1, 3, 4];
    apply_expunges(&mut model, &lines);
    assert_eq!(model, vec![1], "{lines:?}");
    imap.shutdown().await;
}

#[tokio::test]
async fn move_and_close_by_other_session_seen_as_expunge() {
    let (imap, mut a, mut b) = two_sessions(4).await;
    a.ok("CREATE Dest").await;
    a.ok("MOVE 1 Dest").await;
    let lines = b.ok("NOOP").await;
    assert_eq!(expunges(&lines), vec!["* 1 EXPUNGE"], "{lines:?}");
    // A's CLOSE expunges silently for A, but B is told.
    a.ok("STORE 2 +FLAGS.SILENT (\\Deleted)").await;
    a.ok("CLOSE").await;
    let lines = b.ok("NOOP").await;
    let mut model = vec![2, 3, 4];
    apply_expunges(&mut model, &lines);
    assert_eq!(model, vec![2, 4], "{lines:?}");
    // B's view of Dest is updated on SELECT.
    let sel = b.ok("SELECT Dest").await;
    assert!(sel.contains(&"* 1 EXISTS".to_string()), "{sel:?}");
    imap.shutdown().await;
}

#[tokio::test]
async fn examine_session_sees_changes_too() {
    let imap = TestImap::start().await;
    let mut a = imap.login("alice").await;
    a.append("INBOX", "", &message("m1", "x")).await;
    a.ok("SELECT INBOX").await;
    let mut b = imap.login("alice").await;
    b.ok("EXAMINE INBOX").await;
    a.append("INBOX", "", &message("m2", "y")).await;
    a.ok("STORE 1 +FLAGS.SILENT (\\Answered)").await;
    let lines = b.ok("NOOP").await;
    assert!(lines.contains(&"* 2 EXISTS".to_string()), "{lines:?}");
    let f = lines
        .iter()
        .find(|l| l.starts_with("* 1 FETCH ("))
        .unwrap_or_else(|| panic!("{lines:?}"));
    assert!(flags_in(f).contains("\\Answered"), "{f}");
    // Read-only: B never takes \Recent away from A.
    assert_eq!(
        search_result(&b.ok("SEARCH RECENT").await),
        Vec::<u32>::new()
    );
    imap.shutdown().await;
}
