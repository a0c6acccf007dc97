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

/// Three messages in alice's INBOX (the second `big` bytes of body or
/// more, so that a backend may keep it elsewhere), selected by a session
/// over a [`HookedStore`]; the session holds their `\Recent`.
async fn hooked_three(big: usize) -> (TestImap, Client) {
    let imap = TestImap::builder().hooked().start().await;
    let mut c = imap.login("alice").await;
    for (i, body) in [
        (1, "body 1".to_string()),
        (2, "x".repeat(big)),
        (3, "body 3".into()),
    ] {
        c.append("INBOX", "", &message(&format!("m{i}"), &body))
            .await;
    }
    c.ok("SELECT INBOX").await;
    (imap, c)
}

fn hooks(imap: &TestImap) -> &HookedStore {
    imap.hooks.as_deref().unwrap()
}

/// Another session expunges a message between this FETCH's metadata read
/// and its body read (a hook at the first body read, so no timing luck;
/// a small message and one kept as a file): what is still readable is
/// sent, NIL for the body, a tagged `OK [EXPUNGEISSUED]` (RFC 9051 §7.1,
/// RFC 2180 §4.1.3), and the session goes on and hears of the expunge.
#[tokio::test]
async fn fetch_of_a_message_expunged_before_its_body_is_read() {
    for big in [10, 300_000] {
        let (imap, mut c) = hooked_three(big).await;
        hooks(&imap).before(Op::BodyRead, |s| async move {
            expunge_now(&*s, "alice", "INBOX", &[2]).await;
        });
        let lines = c
            .cmd("FETCH 1:3 (UID BODY.PEEK[HEADER.FIELDS (SUBJECT)] BODY.PEEK[] BODY.PEEK[TEXT])")
            .await;
        assert_eq!(hooks(&imap).pending(), 0, "the hook ran");
        assert_eq!(lines.len(), 4, "{big}: {lines:?}");
        let (m1, m3) = (message("m1", "body 1"), message("m3", "body 3"));
        let lit = |b: &[u8]| format!("{{{}}}\r\n{}", b.len(), String::from_utf8_lossy(b));
        assert_eq!(
            lines[0],
            format!(
                "* 1 FETCH (UID 1 BODY[HEADER.FIELDS (SUBJECT)] {} BODY[] {} BODY[TEXT] {})",
                lit(b"Subject: m1\r\n\r\n"),
                lit(&m1),
                lit(b"body 1\r\n")
            )
        );
        assert_eq!(
            lines[1],
            format!(
                "* 2 FETCH (UID 2 BODY[HEADER.FIELDS (SUBJECT)] {} BODY[] NIL BODY[TEXT] NIL)",
                lit(b"Subject: m2\r\n\r\n")
            ),
            "{big}: the header kept with the metadata is still sent; the body is gone"
        );
        assert!(lines[2].starts_with("* 3 FETCH (UID 3 "), "{lines:?}");
        assert!(lines[2].contains(&lit(&m3)), "{lines:?}");
        let st = assert_ok(&lines[3]);
        assert_eq!(st.code.as_deref(), Some("EXPUNGEISSUED"), "{lines:?}");
        // The session goes on: NOOP tells of the expunge.
        assert_eq!(c.ok("NOOP").await, vec!["* 2 EXPUNGE"]);
        assert_eq!(
            c.ok("FETCH 1:* UID").await,
            vec!["* 1 FETCH (UID 1)", "* 2 FETCH (UID 3)"]
        );
        imap.shutdown().await;
    }
}

/// Expunged before the FETCH read anything (the session was not yet told):
/// the other messages are answered, the gone one left out, and the tagged
/// answer says `[EXPUNGEISSUED]`; a FETCH of nothing gone says nothing.
#[tokio::test]
async fn fetch_of_a_message_expunged_before_its_metadata_is_read() {
    let (imap, mut c) = hooked_three(10).await;
    hooks(&imap).before(Op::Fetch, |s| async move {
        expunge_now(&*s, "alice", "INBOX", &[2]).await;
    });
    let lines = c.cmd("FETCH 1:3 (UID RFC822.SIZE BODY.PEEK[])").await;
    assert_eq!(lines.len(), 3, "{lines:?}");
    assert!(lines[0].starts_with("* 1 FETCH (UID 1 "), "{lines:?}");
    assert!(lines[1].starts_with("* 3 FETCH (UID 3 "), "{lines:?}");
    let st = assert_ok(&lines[2]);
    assert_eq!(st.code.as_deref(), Some("EXPUNGEISSUED"), "{lines:?}");
    let st = assert_ok(&c.status("FETCH 1 UID").await);
    assert_eq!(st.code, None, "nothing gone, nothing said");
    assert_eq!(c.ok("NOOP").await, vec!["* 2 EXPUNGE"]);
    imap.shutdown().await;
}

/// COPY and MOVE of a set another session expunged part of meanwhile
/// (between the session's look-up of the UIDs and the store's copy): the
/// survivors are copied (COPYUID names only them), an untagged
/// `OK [EXPUNGEISSUED]` says the rest is gone; a set wholly gone is
/// `NO [EXPUNGEISSUED]` and copies nothing (RFC 9051 §6.4.7, RFC 2180
/// §4.4); the session goes on.
#[tokio::test]
async fn copy_and_move_of_messages_expunged_meanwhile() {
    for word in ["COPY", "MOVE"] {
        let (imap, mut c) = hooked_three(10).await;
        hooks(&imap).before(Op::Copy, |s| async move {
            expunge_now(&*s, "alice", "INBOX", &[2]).await;
        });
        let lines = c.cmd(&format!("{word} 1:3 Archive")).await;
        assert_eq!(hooks(&imap).pending(), 0, "the hook ran");
        let tagged_line = lines.last().unwrap();
        assert_ok(tagged_line);
        assert!(
            lines.iter().any(|l| l.starts_with("* OK [EXPUNGEISSUED]")),
            "{word}: {lines:?}"
        );
        assert!(
            lines
                .iter()
                .any(|l| l.contains("[COPYUID ") && l.contains(" 1,3 ")),
            "{word}: COPYUID names the messages copied: {lines:?}"
        );
        let st = c.cmd("STATUS Archive (MESSAGES)").await;
        assert_eq!(st[0], "* STATUS Archive (MESSAGES 2)", "{word}: {st:?}");
        // The other session's expunge is told with the answer or at the
        // next NOOP; a MOVE's own EXPUNGEs come with it.
        let mut model = vec![1, 2, 3];
        apply_expunges(&mut model, &lines);
        apply_expunges(&mut model, &c.ok("NOOP").await);
        let left = if word == "MOVE" { vec![] } else { vec![1, 3] };
        assert_eq!(model, left, "{word}: {lines:?}");
        assert_eq!(c.uids().await, left, "{word}");

        // All of the set gone: nothing copied, NO.
        c.append("INBOX", "", &message("m4", "body 4")).await;
        c.ok("NOOP").await;
        hooks(&imap).before(Op::Copy, |s| async move {
            expunge_now(&*s, "alice", "INBOX", &[4]).await;
        });
        let lines = c.cmd(&format!("UID {word} 4 Archive")).await;
        assert_eq!(hooks(&imap).pending(), 0, "the hook ran");
        assert_no(lines.last().unwrap(), Some("EXPUNGEISSUED"));
        let st = c.cmd("STATUS Archive (MESSAGES)").await;
        assert_eq!(st[0], "* STATUS Archive (MESSAGES 2)", "{word}: {st:?}");
        let mut model = [left.clone(), vec![4]].concat();
        apply_expunges(&mut model, &lines);
        apply_expunges(&mut model, &c.ok("NOOP").await);
        assert_eq!(model, left, "{word}: {lines:?}");
        assert_eq!(c.uids().await, left, "{word}");
        imap.shutdown().await;
    }
}

/// SEARCH while another session expunges a message of the result: the
/// messages left are found by their sequence numbers (which have not
/// moved, RFC 9051 §7.5.1), the session goes on and hears of the expunge.
#[tokio::test]
async fn search_while_a_message_is_expunged() {
    let (imap, mut c) = hooked_three(10).await;
    hooks(&imap).before(Op::Search, |s| async move {
        expunge_now(&*s, "alice", "INBOX", &[2]).await;
    });
    let lines = c.ok("SEARCH FROM alice").await;
    assert_eq!(hooks(&imap).pending(), 0, "the hook ran");
    assert_eq!(search_result(&lines), vec![1, 3], "{lines:?}");
    assert!(expunges(&lines).is_empty(), "{lines:?}");
    assert_eq!(c.ok("NOOP").await, vec!["* 2 EXPUNGE"]);
    assert_eq!(search_result(&c.ok("UID SEARCH ALL").await), vec![1, 3]);
    imap.shutdown().await;
}

/// Whether every keyword a FETCH carries was announced in an earlier
/// FLAGS and PERMANENTFLAGS of `lines` or of what the client knew
/// (`known`), which the announcements then extend.
fn keywords_announced_first(lines: &[String], known: &mut Vec<String>) {
    for l in lines {
        if l.starts_with("* FLAGS ") {
            known.extend(flags_in(l).into_iter().filter(|f| !f.starts_with('\\')));
        } else if l.starts_with("* OK [PERMANENTFLAGS ") {
            for k in known.iter() {
                assert!(l.contains(k.as_str()), "{k} not in {l}: {lines:?}");
            }
        } else if l.contains(" FETCH (") && l.contains("FLAGS (") {
            for f in flags_in(l) {
                assert!(
                    f.starts_with('\\') || known.contains(&f),
                    "{f} in a FETCH before a FLAGS announced it: {lines:?}"
                );
            }
        }
    }
}

/// A keyword another session created reaches this one in FLAGS (and
/// PERMANENTFLAGS) before any FETCH carries it: its own FETCH FLAGS, its
/// own STORE (whose answer shows the message's flags), and FETCHes that
/// set `\Seen` (RFC 9051 §7.3.5: FLAGS names the flags the mailbox has).
#[tokio::test]
async fn keywords_created_elsewhere_are_announced_before_a_fetch_shows_them() {
    let (imap, mut a, mut b) = two_sessions(3).await;
    let mut known = Vec::new();
    b.ok("STORE 1 +FLAGS ($Label3)").await;
    let lines = a.ok("FETCH 1:3 (UID FLAGS)").await;
    assert!(lines[0].starts_with("* FLAGS "), "{lines:?}");
    keywords_announced_first(&lines, &mut known);
    assert_eq!(known, vec!["$Label3".to_string()]);

    b.ok("STORE 2 +FLAGS ($Label4)").await;
    let lines = a.ok("STORE 2 +FLAGS (\\Flagged)").await;
    keywords_announced_first(&lines, &mut known);
    assert!(known.contains(&"$Label4".to_string()), "{lines:?}");

    b.ok("STORE 3 +FLAGS ($Label5)").await;
    let lines = a.ok("FETCH 3 BODY[TEXT]").await;
    keywords_announced_first(&lines, &mut known);
    assert!(known.contains(&"$Label5".to_string()), "{lines:?}");
    // Once known, not announced again.
    let lines = a.ok("FETCH 1:3 FLAGS").await;
    assert!(
        lines.iter().all(|l| !l.starts_with("* FLAGS ")),
        "{lines:?}"
    );
    imap.shutdown().await;
}
