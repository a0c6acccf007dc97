//! Commands valid in any state, and what a session does with whatever a
//! client sends: the greeting, CAPABILITY, NOOP, LOGOUT, ID, ENABLE,
//! commands in the wrong state, syntax errors, NUL bytes, line and
//! literal limits, too many bad commands in a row, pipelining (RFC 3501
//! §5.5, §6.1, RFC 2971, RFC 5161, RFC 7888).

use crispin_testkit::*;

/// Every command that needs authentication, as a well-formed line.
const AUTHENTICATED_COMMANDS: &[&str] = &[
    "SELECT INBOX",
    "EXAMINE INBOX",
    "CREATE newbox",
    "DELETE Trash",
    "RENAME Trash Bin",
    "SUBSCRIBE INBOX",
    "UNSUBSCRIBE INBOX",
    "LIST \"\" *",
    "LSUB \"\" *",
    "STATUS INBOX (MESSAGES)",
    "NAMESPACE",
    "ENABLE CONDSTORE",
    "IDLE",
];

/// Every command that needs a selected mailbox.
const SELECTED_COMMANDS: &[&str] = &[
    "CHECK",
    "CLOSE",
    "UNSELECT",
    "EXPUNGE",
    "SEARCH ALL",
    "FETCH 1 FLAGS",
    "FETCH 1:* (UID FLAGS)",
    "STORE 1 +FLAGS (\\Seen)",
    "COPY 1 Trash",
    "MOVE 1 Trash",
    "UID SEARCH ALL",
    "UID FETCH 1 FLAGS",
    "UID STORE 1 +FLAGS (\\Seen)",
    "UID COPY 1 Trash",
    "UID MOVE 1 Trash",
    "UID EXPUNGE 1",
];

#[tokio::test]
async fn greeting_carries_capabilities() {
    let imap = TestImap::start().await;
    let c = imap.connect().await;
    // No STARTTLS: these sessions have no TLS to offer. The server's
    // cleartext listener adds it (crispin-server/tests/security.rs).
    assert_eq!(
        c.greeting,
        format!(
            "* OK [CAPABILITY {}] Crispin ready",
            imap.caps_before_login()
        )
    );
    imap.shutdown().await;
}

#[tokio::test]
async fn capability_before_and_after_login() {
    let imap = TestImap::start().await;
    let mut c = imap.connect().await;
    let r = c.cmd("CAPABILITY").await;
    assert_eq!(
        r,
        vec![
            format!("* CAPABILITY {}", imap.caps_before_login()),
            "T1 OK CAPABILITY completed".to_string(),
        ]
    );

    // The LOGIN OK carries the new capabilities (RFC 3501 §7.2.1 allows it,
    // and then they must be the post-login ones).
    let st = c.status("LOGIN alice alice-pw").await;
    assert_eq!(
        st,
        format!("T2 OK [CAPABILITY {}] Logged in", imap.caps_after_login())
    );
    let r = c.cmd("CAPABILITY").await;
    assert_eq!(
        r,
        vec![
            format!("* CAPABILITY {}", imap.caps_after_login()),
            "T3 OK CAPABILITY completed".to_string(),
        ]
    );
    assert!(!r[0].contains("AUTH="), "no AUTH= after login: {}", r[0]);
    imap.shutdown().await;
}

#[tokio::test]
async fn capability_lists_configured_appendlimit() {
    let imap = TestImap::with_config(|c| c.limits.max_message = 12345)
        .start()
        .await;
    let mut c = imap.connect().await;
    let r = c.ok("CAPABILITY").await;
    assert!(r[0].ends_with(" APPENDLIMIT=12345"), "{}", r[0]);
    imap.shutdown().await;
}

#[tokio::test]
async fn capability_with_arguments_is_bad() {
    let imap = TestImap::start().await;
    let mut c = imap.connect().await;
    let r = c.cmd("CAPABILITY IMAP4rev1").await;
    assert_eq!(r.len(), 1, "no untagged CAPABILITY on error: {r:?}");
    assert_bad_tag(&r[0], "T1");
    imap.shutdown().await;
}

#[tokio::test]
async fn noop_in_every_state() {
    let imap = TestImap::start().await;
    let mut c = imap.connect().await;
    assert_eq!(c.cmd("NOOP").await, vec!["T1 OK NOOP completed"]);
    c.ok("LOGIN alice alice-pw").await;
    assert_eq!(c.cmd("NOOP").await, vec!["T3 OK NOOP completed"]);
    c.ok("SELECT INBOX").await;
    assert_eq!(c.cmd("noop").await, vec!["T5 OK NOOP completed"]);
    // NOOP takes no arguments.
    assert_bad_tag(&c.status("NOOP now").await, "T6");
    imap.shutdown().await;
}

#[tokio::test]
async fn logout_before_login() {
    let imap = TestImap::start().await;
    let mut c = imap.connect().await;
    let r = c.cmd("LOGOUT").await;
    assert_eq!(r, vec!["* BYE Logging out", "T1 OK LOGOUT completed"]);
    assert!(c.closed().await, "connection must be closed after LOGOUT");
    imap.shutdown().await;
}

#[tokio::test]
async fn logout_when_selected_and_ignores_pipelined_rest() {
    let imap = TestImap::start().await;
    let mut c = imap.login("alice").await;
    c.ok("SELECT INBOX").await;
    // Anything pipelined after LOGOUT is not executed: the server closes.
    c.send_raw(b"L1 LOGOUT\r\nL2 NOOP\r\n").await;
    assert!(c.read_line().await.starts_with("* BYE "));
    assert_eq!(c.read_line().await, "L1 OK LOGOUT completed");
    let mut rest = Vec::new();
    let n = tokio::time::timeout(
        TIMEOUT,
        tokio::io::AsyncReadExt::read_to_end(&mut c.stream, &mut rest),
    )
    .await
    .expect("server did not close the connection")
    .unwrap_or(0);
    assert_eq!(n, 0, "{:?}", String::from_utf8_lossy(&rest));
    imap.shutdown().await;
}

#[tokio::test]
async fn id_any_state() {
    let imap = TestImap::start().await;
    let mut c = imap.connect().await;
    let version = env!("CARGO_PKG_VERSION");
    let expected = format!("* ID (\"name\" \"Crispin\" \"version\" \"{version}\")");
    // RFC 2971: ID is valid in any state, NIL or a parameter list.
    assert_eq!(
        c.cmd("ID NIL").await,
        vec![expected.clone(), "T1 OK ID completed".into()]
    );
    let r = c
        .cmd("ID (\"name\" \"test-client\" \"version\" \"1.0\" \"os\" NIL)")
        .await;
    assert_eq!(r, vec![expected.clone(), "T2 OK ID completed".into()]);
    assert_eq!(
        c.cmd("ID ()").await,
        vec![expected.clone(), "T3 OK ID completed".into()]
    );
    c.ok("LOGIN alice alice-pw").await;
    assert_eq!(
        c.cmd("ID NIL").await,
        vec![expected, "T5 OK ID completed".into()]
    );
    // Malformed ID commands.
    for bad in [
        "ID",
        "ID (\"name\")",
        "ID (\"name\" \"x\"",
        "ID name",
        "ID (name \"x\")",
    ] {
        let r = c.cmd(bad).await;
        assert_eq!(r.len(), 1, "{bad}: {r:?}");
        assert_eq!(tagged(&r[0]).status, Status::Bad, "{bad}: {r:?}");
    }
    imap.shutdown().await;
}

#[tokio::test]
async fn enable_unknown_capabilities() {
    let imap = TestImap::start().await;
    let mut c = imap.connect().await;
    // ENABLE is only valid once authenticated (RFC 5161 §3.1).
    let r = c.cmd("ENABLE CONDSTORE").await;
    assert_eq!(r.len(), 1, "{r:?}");
    assert_bad_tag(&r[0], "T1");
    c.ok("LOGIN alice alice-pw").await;
    // Unknown or unsupported extensions are ignored: an empty ENABLED.
    assert_eq!(
        c.cmd("ENABLE X-UNKNOWN").await,
        vec!["* ENABLED", "T3 OK ENABLE completed"]
    );
    assert_eq!(
        c.cmd("ENABLE X-ONE X-TWO IMAP4rev1").await,
        vec!["* ENABLED", "T4 OK ENABLE completed"]
    );
    // At least one capability is required.
    let r = c.cmd("ENABLE").await;
    assert_eq!(r.len(), 1, "{r:?}");
    assert_bad_tag(&r[0], "T5");
    imap.shutdown().await;
}

#[tokio::test]
async fn authenticated_and_selected_commands_before_login_are_bad() {
    let imap = TestImap::start().await;
    let mut c = imap.connect().await;
    for cmd in AUTHENTICATED_COMMANDS.iter().chain(SELECTED_COMMANDS) {
        let r = c.cmd(cmd).await;
        assert_eq!(r.len(), 1, "{cmd}: no untagged data expected: {r:?}");
        assert_eq!(tagged(&r[0]).status, Status::Bad, "{cmd}: {r:?}");
    }
    // More than 20 of them did not count as protocol errors, nothing was
    // done, and the session can log in.
    c.ok("LOGIN alice alice-pw").await;
    let list = c.ok("LIST \"\" *").await;
    assert!(list.iter().any(|l| l.ends_with(" Trash")), "{list:?}");
    assert!(!list.iter().any(|l| l.contains("newbox")), "{list:?}");
    imap.shutdown().await;
}

#[tokio::test]
async fn selected_commands_without_selected_mailbox_are_bad() {
    let imap = TestImap::start().await;
    let mut c = imap.login("alice").await;
    c.append("INBOX", "()", &message("m", "body")).await;
    for cmd in SELECTED_COMMANDS {
        let r = c.cmd(cmd).await;
        assert_eq!(r.len(), 1, "{cmd}: no untagged data expected: {r:?}");
        assert_eq!(tagged(&r[0]).status, Status::Bad, "{cmd}: {r:?}");
    }
    // Nothing was moved or expunged.
    assert_eq!(
        c.ok("STATUS INBOX (MESSAGES)").await,
        vec!["* STATUS INBOX (MESSAGES 1)"]
    );
    assert_eq!(
        c.ok("STATUS Trash (MESSAGES)").await,
        vec!["* STATUS Trash (MESSAGES 0)"]
    );
    // After a SELECT and an UNSELECT they are BAD again.
    c.ok("SELECT INBOX").await;
    c.ok("FETCH 1 FLAGS").await;
    c.ok("UNSELECT").await;
    let st = c.status("FETCH 1 FLAGS").await;
    assert_bad(&st);
    imap.shutdown().await;
}

#[tokio::test]
async fn bad_syntax_is_bad_and_session_continues() {
    let imap = TestImap::start().await;
    let mut c = imap.login("alice").await;
    let tagged = [
        ("B1 FOO", "B1"),
        ("B2 XYZZY arg", "B2"),
        ("B3 SELECT", "B3"),
        ("B4 CREATE", "B4"),
        ("B5 RENAME a", "B5"),
        ("B6 STATUS INBOX", "B6"),
        ("B7 STATUS INBOX ()", "B7"),
        ("B8 STATUS INBOX (BOGUS)", "B8"),
        ("B9 LIST \"\"", "B9"),
        ("B10", "B10"),
        ("B11 ", "B11"),
        ("B12 NOOP ", "B12"),
        ("B13 SELECT INBOX extra", "B13"),
        ("B14 LIST \"\" \"*", "B14"),
        ("B15 UID", "B15"),
        ("B16 UID FOO 1", "B16"),
        ("B17 SELECT (INBOX)", "B17"),
    ];
    for (line, tag) in tagged {
        c.send(line).await;
        let r = c.read_line().await;
        assert_bad_tag(&r, tag);
        assert_eq!(c.status("NOOP").await.split(' ').nth(1), Some("OK"));
    }
    // Lines without a usable tag get an untagged BAD.
    for line in ["(((", "+ NOOP", " NOOP", "*", "\"quoted\" NOOP"] {
        c.send(line).await;
        let r = c.read_line().await;
        assert!(r.starts_with("* BAD"), "{line:?}: {r}");
        assert_eq!(c.status("NOOP").await.split(' ').nth(1), Some("OK"));
    }
    imap.shutdown().await;
}

#[tokio::test]
async fn nul_bytes_are_bad() {
    let imap = TestImap::start().await;
    let mut c = imap.connect().await;
    c.send_raw(b"N1 NOOP\0\r\n").await;
    assert_bad_tag(&c.read_line().await, "N1");
    c.send_raw(b"N2 LOGIN \"ali\0ce\" alice-pw\r\n").await;
    assert_bad_tag(&c.read_line().await, "N2");
    c.send_raw(b"N3 LOGIN alice \"alice-pw\0\"\r\n").await;
    assert_bad_tag(&c.read_line().await, "N3");
    c.send_raw(b"N4 NO\0OP\r\n").await;
    assert_bad_tag(&c.read_line().await, "N4");
    c.send_raw(b"\0\0\0\r\n").await;
    let r = c.read_line().await;
    assert!(r.starts_with("* BAD"), "{r}");
    assert!(!c.is_authenticated().await);
    c.ok("LOGIN alice alice-pw").await;
    c.send_raw(b"N5 SELECT IN\0BOX\r\n").await;
    assert_bad_tag(&c.read_line().await, "N5");
    c.send_raw(b"N6 CREATE \"a\0b\"\r\n").await;
    assert_bad_tag(&c.read_line().await, "N6");
    let list = c.ok("LIST \"\" a*").await;
    assert!(list.is_empty(), "{list:?}");
    imap.shutdown().await;
}

#[tokio::test]
async fn over_long_line_is_bad_and_session_continues() {
    let imap = TestImap::with_config(|c| {
        // As the server sets them for `limits.max_line_length = 1024`.
        c.limits.max_line = 1024;
        c.limits.max_literal = 64 * 1024;
    })
    .start()
    .await;
    let mut c = imap.connect().await;
    // Just within the limit works.
    let pad = 1024 - "L0 ID (\"x\" \"\")".len();
    let line = format!("L0 ID (\"x\" \"{}\")", "y".repeat(pad));
    assert_eq!(line.len(), 1024);
    c.send(&line).await;
    let r = c.until_tag("L0").await;
    assert!(r.last().unwrap().starts_with("L0 OK"), "{r:?}");

    // Slightly too long: tagged BAD.
    let line = format!("L1 ID (\"x\" \"{}\")", "y".repeat(pad + 1));
    c.send(&line).await;
    assert_bad_tag(&c.read_line().await, "L1");
    assert_eq!(c.status("NOOP").await.split(' ').nth(1), Some("OK"));

    // Far too long, arriving over many reads: tagged BAD once.
    let mut big = b"L2 LOGIN alice ".to_vec();
    big.extend(std::iter::repeat_n(b'z', 200_000));
    big.extend_from_slice(b"\r\nL3 NOOP\r\n");
    c.send_raw(&big).await;
    assert_bad_tag(&c.read_line().await, "L2");
    assert_eq!(c.read_line().await, "L3 OK NOOP completed");

    // Without anything that looks like a tag: untagged BAD.
    let mut big = vec![b'('; 5000];
    big.extend_from_slice(b"\r\nL4 NOOP\r\n");
    c.send_raw(&big).await;
    let r = c.read_line().await;
    assert!(r.starts_with("* BAD"), "{r}");
    assert_eq!(c.read_line().await, "L4 OK NOOP completed");

    // The session is intact: not logged in, and can log in.
    assert!(!c.is_authenticated().await);
    c.ok("LOGIN alice alice-pw").await;
    imap.shutdown().await;
}

#[tokio::test]
async fn oversized_literal_outside_append() {
    let imap = TestImap::with_config(|c| {
        // As the server sets them for `limits.max_line_length = 8192`.
        c.limits.max_line = 8192;
        c.limits.max_literal = 64 * 1024;
    })
    .start()
    .await;
    let mut c = imap.login("alice").await;
    c.ok("SELECT INBOX").await;
    let limit = 64 * 1024;
    // Synchronising: refused before `+`.
    c.send(&format!("S1 SEARCH TEXT {{{}}}", limit + 1)).await;
    let l = c.read_line().await;
    assert!(l.starts_with("S1 BAD") || l.starts_with("S1 NO"), "{l}");
    c.ok("NOOP").await;
    // Non-synchronising: refused and skipped; the next command runs.
    let mut bytes = format!("S2 SEARCH TEXT {{{}+}}\r\n", limit + 1).into_bytes();
    bytes.extend(std::iter::repeat_n(b'q', limit + 1));
    bytes.extend_from_slice(b"\r\nS3 NOOP\r\n");
    c.send_raw(&bytes).await;
    let lines = c.until_tag("S3").await;
    let s2 = lines.iter().find(|l| l.starts_with("S2 ")).unwrap();
    assert!(
        s2.starts_with("S2 BAD") || s2.starts_with("S2 NO"),
        "{lines:?}"
    );
    assert!(lines.last().unwrap().starts_with("S3 OK"), "{lines:?}");
    imap.shutdown().await;
}

#[tokio::test]
async fn too_many_bad_commands_get_bye() {
    let imap = TestImap::start().await;
    let mut c = imap.connect().await;
    // 19 in a row are tolerated, and a good command resets the count.
    for i in 0..19 {
        c.send(&format!("X{i} BOGUS")).await;
        assert_bad_tag(&c.read_line().await, &format!("X{i}"));
    }
    assert_eq!(c.status("NOOP").await, "T1 OK NOOP completed");
    for i in 0..19 {
        c.send(&format!("Y{i} BOGUS")).await;
        assert_bad_tag(&c.read_line().await, &format!("Y{i}"));
    }
    assert_eq!(c.status("NOOP").await, "T2 OK NOOP completed");
    // Twenty in a row, pipelined: twenty BADs, then BYE and close.
    let mut burst = String::new();
    for i in 0..20 {
        burst.push_str(&format!("Z{i} BOGUS\r\n"));
    }
    c.send_raw(burst.as_bytes()).await;
    for i in 0..20 {
        assert_bad_tag(&c.read_line().await, &format!("Z{i}"));
    }
    let bye = c.read_line().await;
    assert!(bye.starts_with("* BYE "), "{bye}");
    assert!(c.closed().await);
    imap.shutdown().await;
}

#[tokio::test]
async fn pipelined_commands_answered_in_order() {
    let imap = TestImap::start().await;
    let mut c = imap.connect().await;
    c.send_raw(
        b"P1 NOOP\r\n\
          P2 LOGIN alice alice-pw\r\n\
          P3 CREATE piped\r\n\
          P4 LIST \"\" piped\r\n\
          P5 BOGUS\r\n\
          P6 SELECT piped\r\n\
          P7 STATUS INBOX (MESSAGES)\r\n\
          P8 UNSELECT\r\n\
          P9 DELETE piped\r\n\
          P10 LIST \"\" piped\r\n\
          P11 LOGOUT\r\n",
    )
    .await;
    let mut tagged = Vec::new();
    let mut all = Vec::new();
    loop {
        let line = c.read_line().await;
        all.push(line.clone());
        if !line.starts_with('*') {
            tagged.push(line.split(' ').take(2).collect::<Vec<_>>().join(" "));
            if line.starts_with("P11 ") {
                break;
            }
        }
    }
    assert_eq!(
        tagged,
        vec![
            "P1 OK", "P2 OK", "P3 OK", "P4 OK", "P5 BAD", "P6 OK", "P7 OK", "P8 OK", "P9 OK",
            "P10 OK", "P11 OK"
        ],
        "{all:#?}"
    );
    // Untagged data comes before the tagged response of its command.
    let pos = |p: &str| all.iter().position(|l| l.starts_with(p)).unwrap();
    let list = all
        .iter()
        .position(|l| l == "* LIST (\\HasNoChildren) \"/\" piped")
        .expect("LIST reply");
    assert!(pos("P3 ") < list && list < pos("P4 "), "{all:#?}");
    let exists = pos("* 0 EXISTS");
    assert!(pos("P5 ") < exists && exists < pos("P6 "), "{all:#?}");
    let status = pos("* STATUS INBOX (MESSAGES 0)");
    assert!(pos("P6 ") < status && status < pos("P7 "), "{all:#?}");
    // Nothing between P9 and P10: the mailbox is gone.
    assert_eq!(pos("P10 "), pos("P9 ") + 1, "{all:#?}");
    let bye = pos("* BYE ");
    assert_eq!(bye + 1, pos("P11 "));
    assert!(c.closed().await);
    imap.shutdown().await;
}

#[tokio::test]
async fn pipelined_selected_commands_answered_in_order() {
    let imap = TestImap::start().await;
    let mut c = imap.login("alice").await;
    for i in 1..=4 {
        c.append("INBOX", "", &message(&format!("m{i}"), "b")).await;
    }
    c.send_raw(
        b"P1 SELECT INBOX\r\n\
P2 STORE 2 +FLAGS (\\Deleted)\r\n\
P3 EXPUNGE\r\n\
P4 FETCH 2 UID\r\n\
P5 STORE 1,3 +FLAGS.SILENT (\\Deleted)\r\n\
P6 EXPUNGE\r\n\
P7 SEARCH ALL\r\n\
P8 NOOP\r\n",
    )
    .await;
    let lines = c.until_tag("P8").await;
    let pos = |pred: &dyn Fn(&String) -> bool| {
        lines
            .iter()
            .position(pred)
            .unwrap_or_else(|| panic!("missing in {lines:#?}"))
    };
    let tags: Vec<usize> = (1..=8)
        .map(|i| pos(&|l: &String| l.starts_with(&format!("P{i} OK"))))
        .collect();
    assert!(tags.windows(2).all(|w| w[0] < w[1]), "{lines:#?}");
    // Each command's untagged responses sit between its predecessor's
    // tagged response and its own.
    let within = |i: usize, pred: &dyn Fn(&String) -> bool| {
        let p = pos(pred);
        assert!(
            p < tags[i - 1] && (i == 1 || p > tags[i - 2]),
            "P{i}: {lines:#?}"
        );
    };
    within(2, &|l| l.starts_with("* 2 FETCH ("));
    within(3, &|l| l == "* 2 EXPUNGE");
    within(4, &|l| l == "* 2 FETCH (UID 3)");
    within(7, &|l| l == "* SEARCH 1");
    let mut model = vec![1, 2, 3, 4];
    apply_expunges(&mut model, &lines[tags[1]..tags[2]]);
    apply_expunges(&mut model, &lines[tags[4]..tags[5]]);
    assert_eq!(model, vec![3], "{lines:#?}");
    imap.shutdown().await;
}

/// `[imap.hide_capabilities]` (issue 15 item 5): a capability hidden from
/// a client (by its ID name) or an account is neither advertised nor
/// ENABLEd; others keep it.
#[tokio::test]
async fn capabilities_hidden_per_client_and_account() {
    let imap = TestImap::with_config(|c| {
        c.hidden
            .accounts
            .insert("alice".into(), vec!["QRESYNC".into()]);
        c.hidden
            .clients
            .insert("oddmail".into(), vec!["CONDSTORE".into(), "IDLE".into()]);
    })
    .start()
    .await;
    let mut alice = imap.login("alice").await;
    let caps = alice.ok("CAPABILITY").await;
    assert!(
        caps[0].contains(" CONDSTORE ") && !caps[0].contains("QRESYNC"),
        "{caps:?}"
    );
    assert_eq!(
        alice.ok("ENABLE QRESYNC").await,
        vec!["* ENABLED".to_string()]
    );
    assert_bad(&alice.status("SELECT INBOX (QRESYNC (1 1))").await);

    let mut bob = imap.login("bob").await;
    assert!(bob.ok("CAPABILITY").await[0].contains(" QRESYNC "));
    // A client named in the rules, by its ID (names compared without case).
    bob.ok("ID (\"name\" \"OddMail\" \"version\" \"1\")").await;
    let caps = bob.ok("CAPABILITY").await;
    assert!(
        !caps[0].contains("CONDSTORE") && !caps[0].contains(" IDLE "),
        "{caps:?}"
    );
    assert!(caps[0].contains(" QRESYNC "), "{caps:?}");
    assert_eq!(
        bob.ok("ENABLE CONDSTORE").await,
        vec!["* ENABLED".to_string()]
    );
    imap.shutdown().await;
}
