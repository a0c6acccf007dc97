//! APPEND: flags, dates, literals of every kind, APPENDUID, APPENDLIMIT,
//! large and spooled messages, APPEND before login, pipelined APPENDs
//! (RFC 3501 §6.3.11, RFC 4315, RFC 7888, RFC 7889).

use crispin_testkit::*;

#[tokio::test]
async fn append_flags_and_new_keyword_in_flags() {
    let imap = TestImap::start().await;
    let mut c = imap.login("alice").await;
    let st = c
        .append(
            "INBOX",
            "(\\Seen \\Flagged $Custom)",
            &message("flags", "body"),
        )
        .await;
    assert_ok(&st);
    let sel = c.ok("SELECT INBOX").await;
    let flags = sel.iter().find(|l| l.starts_with("* FLAGS ")).unwrap();
    assert_eq!(
        flags_in(flags),
        set(&[
            "\\Answered",
            "\\Flagged",
            "\\Deleted",
            "\\Seen",
            "\\Draft",
            "$Custom"
        ]),
        "{flags}"
    );
    let perm = sel
        .iter()
        .find(|l| l.starts_with("* OK [PERMANENTFLAGS "))
        .unwrap();
    assert!(perm.contains("$Custom") && perm.contains("\\*"), "{perm}");
    let f = c.ok("FETCH 1 FLAGS").await;
    assert_eq!(f.len(), 1, "{f:?}");
    assert_eq!(
        flags_in(&f[0]),
        set(&["\\Seen", "\\Flagged", "$Custom", "\\Recent"])
    );
    imap.shutdown().await;
}

#[tokio::test]
async fn append_date_time_is_internaldate() {
    let imap = TestImap::start().await;
    let mut c = imap.login("alice").await;
    let st = c
        .append(
            "INBOX",
            "() \"17-Jul-1996 02:44:25 -0700\"",
            &message("dated", "x"),
        )
        .await;
    assert_ok(&st);
    // A single-digit day may be sent with a leading space.
    let st = c
        .append(
            "INBOX",
            "\" 7-Feb-1994 21:52:25 +0100\"",
            &message("dated2", "x"),
        )
        .await;
    assert_ok(&st);
    c.ok("EXAMINE INBOX").await;
    let f = c.ok("FETCH 1:2 INTERNALDATE").await;
    assert_eq!(
        f,
        vec![
            "* 1 FETCH (INTERNALDATE \"17-Jul-1996 02:44:25 -0700\")",
            "* 2 FETCH (INTERNALDATE \"07-Feb-1994 21:52:25 +0100\")",
        ]
    );
    // An impossible date is a syntax error.
    let tag = c.tag();
    c.send(&format!(
        "{tag} APPEND INBOX \"31-Feb-2020 00:00:00 +0000\" {{3+}}\r\nabc"
    ))
    .await;
    let r = c.until_tag(&tag).await;
    assert_eq!(tagged(r.last().unwrap()).status, Status::Bad, "{r:?}");
    imap.shutdown().await;
}

#[tokio::test]
async fn append_sync_and_nonsync_literals_with_appenduid() {
    let imap = TestImap::start().await;
    let mut c = imap.login("alice").await;
    let m1 = message("one", "first");
    let m2 = message("two", "second");
    let st1 = c.append("INBOX", "", &m1).await;
    let lines = c.append_nonsync("INBOX", "", &m2).await;
    // A non-synchronising literal gets no continuation request.
    assert!(!lines.iter().any(|l| l.starts_with('+')), "{lines:?}");
    assert_eq!(lines.len(), 1, "{lines:?}");
    let st2 = &lines[0];
    assert_ok(st2);
    let a1 = code_args(&st1, "APPENDUID");
    let a2 = code_args(st2, "APPENDUID");
    assert_eq!(a1[0], a2[0], "same UIDVALIDITY");
    let (u1, u2): (u32, u32) = (a1[1].parse().unwrap(), a2[1].parse().unwrap());
    assert!(u2 > u1, "{st1} / {st2}");
    let sel = c.ok("SELECT INBOX").await;
    assert!(
        sel.contains(&format!("* OK [UIDVALIDITY {}] UIDs valid", a1[0])),
        "{sel:?}"
    );
    let f = c.ok("FETCH 1:2 (UID BODY.PEEK[])").await;
    assert_eq!(item(&f[0], "BODY[]").unwrap().as_bytes(), &m1[..]);
    assert_eq!(item(&f[1], "BODY[]").unwrap().as_bytes(), &m2[..]);
    assert!(
        f[0].starts_with(&format!("* 1 FETCH (UID {u1} ")),
        "{}",
        f[0]
    );
    assert!(
        f[1].starts_with(&format!("* 2 FETCH (UID {u2} ")),
        "{}",
        f[1]
    );
    imap.shutdown().await;
}

#[tokio::test]
async fn append_to_missing_mailbox_is_trycreate() {
    let imap = TestImap::start().await;
    let mut c = imap.login("alice").await;
    let st = c.append("Nowhere", "", &message("x", "y")).await;
    assert!(st.starts_with("T2 NO [TRYCREATE]"), "{st}");
    let lines = c
        .append_nonsync("Nowhere", "(\\Seen) ", &message("x", "y"))
        .await;
    assert!(lines[0].starts_with("T3 NO [TRYCREATE]"), "{lines:?}");
    c.ok("NOOP").await;
    imap.shutdown().await;
}

#[tokio::test]
async fn append_over_appendlimit_is_toobig() {
    let imap = TestImap::with_config(|c| c.limits.max_message = 1000)
        .start()
        .await;
    let mut c = imap.login("alice").await;
    let caps = c.ok("CAPABILITY").await;
    assert!(caps[0].contains(" APPENDLIMIT=1000"), "{caps:?}");
    // Synchronising: refused at once, without `+`.
    c.send("A1 APPEND INBOX {2000}").await;
    let line = c.read_line().await;
    assert!(line.starts_with("A1 NO [TOOBIG]"), "{line}");
    // The session goes on: the client never sent the literal.
    c.ok("NOOP").await;
    // Non-synchronising: the literal is already on its way; the server
    // must skip it and answer the next command.
    let big = vec![b'x'; 2000];
    let mut bytes = b"A2 APPEND INBOX (\\Seen) {2000+}\r\n".to_vec();
    bytes.extend_from_slice(&big);
    bytes.extend_from_slice(b"\r\nA3 NOOP\r\n");
    c.send_raw(&bytes).await;
    let l2 = c.read_line().await;
    assert!(l2.starts_with("A2 NO [TOOBIG]"), "{l2}");
    let rest = c.until_tag("A3").await;
    assert!(rest.last().unwrap().starts_with("A3 OK"), "{rest:?}");
    // At the limit is fine.
    let mut exact = message("limit", "");
    exact.resize(1000, b'z');
    let st = c.append("INBOX", "", &exact).await;
    assert_ok(&st);
    let s = c.ok("STATUS INBOX (MESSAGES)").await;
    assert_eq!(s, vec!["* STATUS INBOX (MESSAGES 1)"]);
    imap.shutdown().await;
}

#[tokio::test]
async fn append_several_megabytes_round_trips_exactly() {
    let imap = TestImap::start().await;
    let mut c = imap.login("alice").await;
    let mut msg = message("big", "").to_vec();
    msg.truncate(msg.len() - 2);
    let mut i = 0u64;
    while msg.len() < 5 * 1024 * 1024 {
        msg.extend_from_slice(format!("line {i:08} {}\r\n", "abcdefghij".repeat(7)).as_bytes());
        i += 1;
    }
    let st = c.append("INBOX", "", &msg).await;
    assert_ok(&st);
    c.ok("EXAMINE INBOX").await;
    let f = c.ok("FETCH 1 (RFC822.SIZE BODY.PEEK[])").await;
    assert_eq!(f.len(), 1);
    assert!(
        f[0].starts_with(&format!(
            "* 1 FETCH (RFC822.SIZE {} BODY[] {{{}}}\r\n",
            msg.len(),
            msg.len()
        )),
        "{}",
        &f[0][..100]
    );
    let got = item(&f[0], "BODY[]").unwrap();
    let first_diff = got.bytes().zip(msg.iter()).position(|(a, &b)| a != b);
    assert!(
        got.len() == msg.len() && first_diff.is_none(),
        "length {} vs {}, first difference at {first_diff:?}",
        got.len(),
        msg.len()
    );
    // A partial from deep inside the message.
    let f = c.ok("FETCH 1 BODY.PEEK[]<3000000.100>").await;
    let part = item(&f[0], "BODY[]<3000000>").unwrap();
    assert_eq!(part.as_bytes(), &msg[3_000_000..3_000_100]);
    imap.shutdown().await;
}

#[tokio::test]
async fn append_to_selected_mailbox_reports_exists() {
    let imap = TestImap::start().await;
    let mut c = imap.login("alice").await;
    c.append("INBOX", "", &message("a", "a")).await;
    c.ok("SELECT INBOX").await;
    let tag = c.tag();
    let m = message("b", "b");
    c.send(&format!("{tag} APPEND INBOX {{{}}}", m.len())).await;
    assert!(c.read_line().await.starts_with('+'));
    c.send_raw(&m).await;
    c.send_raw(b"\r\n").await;
    let lines = c.until_tag(&tag).await;
    assert!(lines.contains(&"* 2 EXISTS".to_string()), "{lines:?}");
    assert_ok(lines.last().unwrap());
    // The new message is usable at once.
    let f = c.ok("FETCH 2 BODY.PEEK[TEXT]").await;
    assert_eq!(f, vec!["* 2 FETCH (BODY[TEXT] {3}\r\nb\r\n)"]);
    imap.shutdown().await;
}

#[tokio::test]
async fn append_mailbox_as_literal_and_spooled_nonsync_literal() {
    let imap = TestImap::start().await;
    let mut c = imap.login("alice").await;
    // The mailbox name as a literal, then the message as another.
    let m = message("lit", "mailbox name was a literal");
    let tag = c.tag();
    c.send(&format!("{tag} APPEND {{5}}")).await;
    assert!(c.read_line().await.starts_with('+'));
    c.send(&format!("INBOX (\\Seen) {{{}}}", m.len())).await;
    assert!(c.read_line().await.starts_with('+'));
    c.send_raw(&m).await;
    c.send_raw(b"\r\n").await;
    let st = c.until_tag(&tag).await.pop().unwrap();
    assert_ok(&st);
    // A non-synchronising literal big enough to be spooled to disk,
    // with a pipelined command right behind it.
    let mut big = message("spooled", "").to_vec();
    big.truncate(big.len() - 2);
    let mut i = 0;
    while big.len() < 2 * 1024 * 1024 + 17 {
        big.extend_from_slice(
            format!("{i:07} 0123456789abcdefghijklmnopqrstuvwxyz\r\n").as_bytes(),
        );
        i += 1;
    }
    let tag = c.tag();
    let mut bytes = format!("{tag} APPEND INBOX {{{}+}}\r\n", big.len()).into_bytes();
    bytes.extend_from_slice(&big);
    bytes.extend_from_slice(b"\r\nX1 NOOP\r\n");
    c.send_raw(&bytes).await;
    let lines = c.until_tag("X1").await;
    assert!(
        lines.iter().any(|l| l.starts_with(&format!("{tag} OK"))),
        "{lines:?}"
    );
    assert!(lines.last().unwrap().starts_with("X1 OK"), "{lines:?}");
    c.ok("EXAMINE INBOX").await;
    let f = c.ok("FETCH 1:2 (FLAGS RFC822.SIZE BODY.PEEK[])").await;
    assert!(flags_in(&f[0]).contains("\\Seen"), "{}", f[0]);
    assert_eq!(item(&f[0], "BODY[]").unwrap().as_bytes(), &m[..]);
    assert!(f[1].contains(&format!("RFC822.SIZE {}", big.len())));
    assert!(
        item(&f[1], "BODY[]").unwrap().as_bytes() == &big[..],
        "spooled message differs"
    );
    imap.shutdown().await;
}

#[tokio::test]
async fn append_invalid_arguments_are_bad() {
    let imap = TestImap::start().await;
    let mut c = imap.login("alice").await;
    for (args, what) in [
        ("(\\Bogus) ", "unknown system flag"),
        ("(\\Seen ", "unclosed flag list"),
        ("\"99-Jan-2020 00:00:00 +0000\" ", "bad day"),
        ("\"01-Jan-2020 00:00:00\" ", "missing zone"),
    ] {
        let lines = c
            .append_nonsync("INBOX", args, b"Subject: x\r\n\r\ny\r\n")
            .await;
        assert_eq!(
            tagged(lines.last().unwrap()).status,
            Status::Bad,
            "{what}: {lines:?}"
        );
    }
    let s = c.ok("STATUS INBOX (MESSAGES)").await;
    assert_eq!(s, vec!["* STATUS INBOX (MESSAGES 0)"]);
    imap.shutdown().await;
}

#[tokio::test]
async fn uids_are_never_reused() {
    let (imap, mut c) = selected_with(2).await;
    c.ok("STORE 2 +FLAGS.SILENT (\\Deleted)").await;
    c.ok("EXPUNGE").await;
    let st = c.append("INBOX", "", &message("again", "x")).await;
    let code = code_args(&st, "APPENDUID");
    assert_eq!(code[1], "3", "{st}");
    let sel = c.ok("SELECT INBOX").await;
    assert!(
        sel.contains(&"* OK [UIDNEXT 4] Predicted next UID".to_string()),
        "{sel:?}"
    );
    assert_eq!(c.uids().await, vec![1, 3]);
    imap.shutdown().await;
}

#[tokio::test]
async fn append_before_login_is_bad() {
    let imap = TestImap::start().await;
    let mut c = imap.connect().await;
    let msg = message("early", "not logged in");
    c.send(&format!("A1 APPEND INBOX {{{}}}", msg.len())).await;
    let line = c.read_line().await;
    // Refusing before the literal is best; accepting the literal and then
    // answering BAD is allowed.
    let line = if line.starts_with('+') {
        c.send_raw(&msg).await;
        c.send_raw(b"\r\n").await;
        c.read_line().await
    } else {
        line
    };
    assert_bad_tag(&line, "A1");
    // With a non-synchronising literal the session resynchronises.
    c.send_raw(format!("A2 APPEND INBOX {{{}+}}\r\n", msg.len()).as_bytes())
        .await;
    c.send_raw(&msg).await;
    c.send_raw(b"\r\nA3 NOOP\r\n").await;
    assert_bad_tag(&c.read_line().await, "A2");
    assert_eq!(c.read_line().await, "A3 OK NOOP completed");
    let mut c = imap.login("alice").await;
    let st = c.ok("STATUS INBOX (MESSAGES)").await;
    assert_eq!(st, vec!["* STATUS INBOX (MESSAGES 0)"]);
    imap.shutdown().await;
}

#[tokio::test]
async fn no_large_upload_before_login() {
    let imap = TestImap::start().await;
    let mut c = imap.connect().await;
    // 1 MB would be fine after login; before it, no `+` is offered.
    c.send("a APPEND INBOX {1000000}").await;
    let reply = c.read_line().await;
    assert!(
        reply.starts_with("a NO") || reply.starts_with("a BAD"),
        "{reply}"
    );
    c.ok("LOGIN alice alice-pw").await;
    c.send("b APPEND INBOX {1000000}").await;
    assert!(c.read_line().await.starts_with('+'));
    imap.shutdown().await;
}

#[tokio::test]
async fn pipelined_appends_with_literal_plus() {
    let imap = TestImap::start().await;
    let mut c = imap.login("alice").await;
    let m1 = message("one", "first");
    let m2 = message("two", "second");
    let mut burst = Vec::new();
    burst.extend_from_slice(format!("A1 APPEND INBOX {{{}+}}\r\n", m1.len()).as_bytes());
    burst.extend_from_slice(&m1);
    burst.extend_from_slice(
        format!("\r\nA2 APPEND INBOX (\\Seen) {{{}+}}\r\n", m2.len()).as_bytes(),
    );
    burst.extend_from_slice(&m2);
    burst.extend_from_slice(b"\r\nA3 STATUS INBOX (MESSAGES UNSEEN)\r\n");
    c.send_raw(&burst).await;
    let a1 = c.read_line().await;
    assert!(a1.starts_with("A1 OK [APPENDUID "), "{a1}");
    let a2 = c.read_line().await;
    assert!(a2.starts_with("A2 OK [APPENDUID "), "{a2}");
    let uid = |l: &str| -> u32 { code_args(l, "APPENDUID")[1].parse().unwrap() };
    assert_eq!(uid(&a2), uid(&a1) + 1);
    assert_eq!(c.read_line().await, "* STATUS INBOX (MESSAGES 2 UNSEEN 1)");
    assert!(c.read_line().await.starts_with("A3 OK"));
    imap.shutdown().await;
}

#[tokio::test]
async fn pipelined_appends_with_literals() {
    let imap = TestImap::start().await;
    let mut c = imap.login("alice").await;
    let m1 = message("p1", "one");
    let m2 = message("p2", "two");
    let mut bytes = Vec::new();
    bytes.extend_from_slice(format!("P1 APPEND INBOX {{{}+}}\r\n", m1.len()).as_bytes());
    bytes.extend_from_slice(&m1);
    bytes.extend_from_slice(
        format!("\r\nP2 APPEND INBOX (\\Seen) {{{}+}}\r\n", m2.len()).as_bytes(),
    );
    bytes.extend_from_slice(&m2);
    bytes.extend_from_slice(b"\r\nP3 SELECT INBOX\r\nP4 FETCH 1:2 (FLAGS BODY.PEEK[TEXT])\r\n");
    c.send_raw(&bytes).await;
    let lines = c.until_tag("P4").await;
    let order: Vec<&String> = lines.iter().filter(|l| l.starts_with('P')).collect();
    assert_eq!(order.len(), 4, "{lines:#?}");
    for (i, l) in order.iter().enumerate() {
        assert!(l.starts_with(&format!("P{} OK", i + 1)), "{lines:#?}");
    }
    assert!(
        lines.contains(&"* 1 FETCH (FLAGS (\\Recent) BODY[TEXT] {5}\r\none\r\n)".to_string()),
        "{lines:#?}"
    );
    assert!(!lines.iter().any(|l| l.starts_with('+')), "{lines:#?}");
    imap.shutdown().await;
}

/// Pipelined APPENDs run together (their writes share commits) but are
/// answered strictly in order, interleaved correctly with a failing
/// APPEND, a syntax error and other commands, with EXISTS before the OKs.
#[tokio::test]
async fn pipelined_appends_in_selected_state_answered_in_order() {
    let imap = TestImap::start().await;
    let mut c = imap.login("alice").await;
    c.ok("SELECT INBOX").await;
    let append = |tag: &str, mailbox: &str, m: &[u8]| {
        let mut b = format!("{tag} APPEND {mailbox} {{{}+}}\r\n", m.len()).into_bytes();
        b.extend_from_slice(m);
        b.extend_from_slice(b"\r\n");
        b
    };
    let mut bytes = Vec::new();
    bytes.extend(append("A1", "INBOX", &message("q1", "one")));
    bytes.extend(append("A2", "Nowhere", &message("q2", "two")));
    bytes.extend(append("A3", "INBOX", &message("q3", "three")));
    bytes.extend_from_slice(b"A4 FROB\r\n");
    bytes.extend(append("A5", "INBOX", &message("q5", "five")));
    bytes.extend_from_slice(b"A6 NOOP\r\n");
    c.send_raw(&bytes).await;
    let lines = c.until_tag("A6").await;
    let tagged: Vec<&String> = lines.iter().filter(|l| l.starts_with('A')).collect();
    let words: Vec<(&str, &str)> = tagged
        .iter()
        .map(|l| {
            let mut it = l.split(' ');
            (it.next().unwrap(), it.next().unwrap())
        })
        .collect();
    assert_eq!(
        words,
        vec![
            ("A1", "OK"),
            ("A2", "NO"),
            ("A3", "OK"),
            ("A4", "BAD"),
            ("A5", "OK"),
            ("A6", "OK")
        ],
        "{lines:#?}"
    );
    assert!(tagged[1].contains("[TRYCREATE]"), "{lines:#?}");
    let uid = |l: &str| -> u32 { code_args(l, "APPENDUID")[1].parse().unwrap() };
    assert_eq!(
        [uid(tagged[0]), uid(tagged[2]), uid(tagged[4])],
        [1, 2, 3],
        "{lines:#?}"
    );
    let pos = |s: &str| lines.iter().position(|l| l == s).expect(s);
    let tag_pos = |t: &str| lines.iter().position(|l| l.starts_with(t)).unwrap();
    assert!(pos("* 2 EXISTS") < tag_pos("A1 "), "{lines:#?}");
    assert!(pos("* 3 EXISTS") < tag_pos("A5 "), "{lines:#?}");
    assert!(pos("* 3 EXISTS") > tag_pos("A4 "), "{lines:#?}");
    let f = c.ok("FETCH 1:* BODY.PEEK[TEXT]").await;
    assert_eq!(
        f.iter().filter(|l| l.contains(" FETCH (")).count(),
        3,
        "{f:#?}"
    );
    imap.shutdown().await;
}

/// `\Recent` is not a flag a client sets (RFC 3501 §2.3.2): APPEND with
/// it is BAD and stores nothing; the session goes on.
#[tokio::test]
async fn append_with_recent_is_bad() {
    let imap = TestImap::start().await;
    let mut c = imap.login("alice").await;
    for flags in ["(\\Recent)", "(\\Seen \\recent)"] {
        let st = c.append("INBOX", flags, &message("r", "x")).await;
        assert_bad(&st);
    }
    assert_eq!(c.status_item("INBOX", "MESSAGES").await, 0);
    assert_ok(&c.append("INBOX", "(\\Seen)", &message("s", "y")).await);
    assert_eq!(c.status_item("INBOX", "MESSAGES").await, 1);
    imap.shutdown().await;
}
