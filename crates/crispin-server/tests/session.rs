//! Session-level protocol tests: greeting, CAPABILITY, NOOP, LOGOUT, ID,
//! NAMESPACE, ENABLE, LOGIN, AUTHENTICATE (SASL-IR, PLAIN), state checks,
//! syntax errors and limits, pipelining (RFC 3501 §6.1–6.2, RFC 2342,
//! RFC 2971, RFC 4616, RFC 4959, RFC 5161, RFC 7888).

use base64::Engine as _;
use crispin_store::Store;
use crispin_testkit::*;

// The exact capability lists (session.rs `capabilities()`): update these
// when a capability is added or removed.
const COMMON_CAPS: &str = "IMAP4rev1 LITERAL+ ID ENABLE IDLE NAMESPACE SASL-IR";

/// CAPABILITY before login on the cleartext test listener, which offers
/// STARTTLS and allows plaintext logins (it is on loopback).
fn caps_before_login(server: &TestServer) -> String {
    format!(
        "{COMMON_CAPS} STARTTLS AUTH=PLAIN AUTH=LOGIN AUTH=SCRAM-SHA-256 APPENDLIMIT={}",
        server.config.limits.max_message_size
    )
}

fn caps_after_login(server: &TestServer) -> String {
    format!(
        "{COMMON_CAPS} UNSELECT UIDPLUS MOVE CHILDREN SPECIAL-USE CREATE-SPECIAL-USE ESEARCH APPENDLIMIT={}",
        server.config.limits.max_message_size
    )
}

/// A server without failed-login back-off, for tests that fail logins on
/// purpose and must not wait for (or be locked out by) the throttle.
async fn start_unthrottled() -> TestServer {
    TestServer::start_with(|c| {
        c.auth.failures_before_delay = 1000;
        c.auth.lockout_after = 1000;
    })
    .await
}

fn b64(data: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(data)
}

/// The tagged status word of a tagged line: `OK`, `NO` or `BAD`.
fn word(line: &str) -> &str {
    line.split(' ').nth(1).unwrap_or_default()
}

fn assert_bad(line: &str, tag: &str) {
    assert!(
        line.starts_with(&format!("{tag} BAD")),
        "expected BAD: {line}"
    );
}

/// Adds an account with a given password directly in the store.
async fn add_user(server: &TestServer, user: &str, pw: &str) {
    let creds = crispin_server::auth::credentials(pw, &server.config.auth).unwrap();
    server
        .server
        .as_ref()
        .unwrap()
        .store
        .create_account(user, &creds)
        .await
        .unwrap();
}

/// Whether the session is authenticated, asked without side effects:
/// NAMESPACE is BAD before login and OK after.
async fn is_authenticated(c: &mut Client) -> bool {
    let st = c.status("NAMESPACE").await;
    match word(&st) {
        "OK" => true,
        "BAD" => false,
        _ => panic!("unexpected NAMESPACE result: {st}"),
    }
}

// ---------------------------------------------------------------------------
// Any state: greeting, CAPABILITY, NOOP, LOGOUT, ID

#[tokio::test]
async fn greeting_carries_capabilities() {
    let server = TestServer::start().await;
    let c = server.connect().await;
    assert_eq!(
        c.greeting,
        format!(
            "* OK [CAPABILITY {}] Crispin ready",
            caps_before_login(&server)
        )
    );
    server.shutdown().await;
}

#[tokio::test]
async fn capability_before_and_after_login() {
    let server = TestServer::start().await;
    let mut c = server.connect().await;
    let r = c.cmd("CAPABILITY").await;
    assert_eq!(
        r,
        vec![
            format!("* CAPABILITY {}", caps_before_login(&server)),
            "T1 OK CAPABILITY completed".to_string(),
        ]
    );

    // The LOGIN OK carries the new capabilities (RFC 3501 §7.2.1 allows it,
    // and then they must be the post-login ones).
    let st = c.status("LOGIN alice alice-pw").await;
    assert_eq!(
        st,
        format!("T2 OK [CAPABILITY {}] Logged in", caps_after_login(&server))
    );
    let r = c.cmd("CAPABILITY").await;
    assert_eq!(
        r,
        vec![
            format!("* CAPABILITY {}", caps_after_login(&server)),
            "T3 OK CAPABILITY completed".to_string(),
        ]
    );
    assert!(!r[0].contains("AUTH="), "no AUTH= after login: {}", r[0]);
    server.shutdown().await;
}

#[tokio::test]
async fn logindisabled_without_plaintext() {
    let server = TestServer::start_with(|c| {
        c.auth.plaintext = crispin_server::config::Plaintext::Never;
    })
    .await;
    let mut c = server.connect().await;
    let caps = format!(
        "{COMMON_CAPS} STARTTLS LOGINDISABLED APPENDLIMIT={}",
        server.config.limits.max_message_size
    );
    assert_eq!(
        c.greeting,
        format!("* OK [CAPABILITY {caps}] Crispin ready")
    );
    assert_eq!(
        c.ok("CAPABILITY").await,
        vec![format!("* CAPABILITY {caps}")]
    );
    // RFC 3501 §6.2.3: LOGIN must not work while LOGINDISABLED is shown.
    let st = c.status("LOGIN alice alice-pw").await;
    assert!(st.starts_with("T2 NO [PRIVACYREQUIRED]"), "{st}");
    let r = c.cmd("AUTHENTICATE PLAIN").await;
    assert_eq!(r.len(), 1, "no continuation: {r:?}");
    assert_eq!(word(&r[0]), "NO", "{r:?}");
    let st = c
        .status(&format!("AUTHENTICATE PLAIN {}", b64(b"\0alice\0alice-pw")))
        .await;
    assert_eq!(word(&st), "NO", "{st}");
    assert!(!is_authenticated(&mut c).await);
    server.shutdown().await;
}

#[tokio::test]
async fn capability_lists_configured_appendlimit() {
    let server = TestServer::start_with(|c| c.limits.max_message_size = 12345).await;
    let mut c = server.connect().await;
    let r = c.ok("CAPABILITY").await;
    assert!(r[0].ends_with(" APPENDLIMIT=12345"), "{}", r[0]);
    server.shutdown().await;
}

#[tokio::test]
async fn capability_with_arguments_is_bad() {
    let server = TestServer::start().await;
    let mut c = server.connect().await;
    let r = c.cmd("CAPABILITY IMAP4rev1").await;
    assert_eq!(r.len(), 1, "no untagged CAPABILITY on error: {r:?}");
    assert_bad(&r[0], "T1");
    server.shutdown().await;
}

#[tokio::test]
async fn noop_in_every_state() {
    let server = TestServer::start().await;
    let mut c = server.connect().await;
    assert_eq!(c.cmd("NOOP").await, vec!["T1 OK NOOP completed"]);
    c.ok("LOGIN alice alice-pw").await;
    assert_eq!(c.cmd("NOOP").await, vec!["T3 OK NOOP completed"]);
    c.ok("SELECT INBOX").await;
    assert_eq!(c.cmd("noop").await, vec!["T5 OK NOOP completed"]);
    // NOOP takes no arguments.
    assert_bad(&c.status("NOOP now").await, "T6");
    server.shutdown().await;
}

#[tokio::test]
async fn logout_before_login() {
    let server = TestServer::start().await;
    let mut c = server.connect().await;
    let r = c.cmd("LOGOUT").await;
    assert_eq!(r, vec!["* BYE Logging out", "T1 OK LOGOUT completed"]);
    assert!(c.closed().await, "connection must be closed after LOGOUT");
    server.shutdown().await;
}

#[tokio::test]
async fn logout_when_selected_and_ignores_pipelined_rest() {
    let server = TestServer::start().await;
    let mut c = server.login("alice").await;
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
    server.shutdown().await;
}

#[tokio::test]
async fn id_any_state() {
    let server = TestServer::start().await;
    let mut c = server.connect().await;
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
        assert_eq!(word(&r[0]), "BAD", "{bad}: {r:?}");
    }
    server.shutdown().await;
}

// ---------------------------------------------------------------------------
// Authenticated-state extensions: NAMESPACE, ENABLE

#[tokio::test]
async fn namespace() {
    let server = TestServer::start().await;
    let mut c = server.connect().await;
    assert_bad(&c.status("NAMESPACE").await, "T1");
    c.ok("LOGIN alice alice-pw").await;
    let r = c.cmd("NAMESPACE").await;
    assert_eq!(
        r,
        vec![
            "* NAMESPACE ((\"\" \"/\")) NIL NIL",
            "T3 OK NAMESPACE completed"
        ]
    );
    assert_bad(&c.status("NAMESPACE x").await, "T4");
    server.shutdown().await;
}

#[tokio::test]
async fn enable_unknown_capabilities() {
    let server = TestServer::start().await;
    let mut c = server.connect().await;
    // ENABLE is only valid once authenticated (RFC 5161 §3.1).
    let r = c.cmd("ENABLE CONDSTORE").await;
    assert_eq!(r.len(), 1, "{r:?}");
    assert_bad(&r[0], "T1");
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
    assert_bad(&r[0], "T5");
    server.shutdown().await;
}

// ---------------------------------------------------------------------------
// LOGIN

#[tokio::test]
async fn login_good_bad_and_unknown_user() {
    let server = start_unthrottled().await;
    let mut c = server.connect().await;
    assert_eq!(
        c.cmd("LOGIN alice wrong-pw").await,
        vec!["T1 NO [AUTHENTICATIONFAILED] Authentication failed"]
    );
    assert!(!is_authenticated(&mut c).await);
    assert_eq!(
        c.cmd("LOGIN mallory alice-pw").await,
        vec!["T3 NO [AUTHENTICATIONFAILED] Authentication failed"]
    );
    // Another user's password does not work either.
    assert_eq!(
        c.status("LOGIN alice bob-pw").await,
        "T4 NO [AUTHENTICATIONFAILED] Authentication failed"
    );
    // Empty password.
    assert_eq!(
        c.status("LOGIN alice \"\"").await,
        "T5 NO [AUTHENTICATIONFAILED] Authentication failed"
    );
    assert!(!is_authenticated(&mut c).await);
    // A failed login leaves the session usable.
    let st = c.status("LOGIN alice alice-pw").await;
    assert!(st.starts_with("T7 OK [CAPABILITY "), "{st}");
    assert!(is_authenticated(&mut c).await);
    server.shutdown().await;
}

#[tokio::test]
async fn login_quoted_and_escaped_arguments() {
    let server = TestServer::start().await;
    add_user(&server, "carol", "pa ss\"wo\\rd").await;
    let mut c = server.connect().await;
    c.ok("LOGIN \"alice\" \"alice-pw\"").await;
    let mut c = server.connect().await;
    c.ok("login \"carol\" \"pa ss\\\"wo\\\\rd\"").await;
    assert!(is_authenticated(&mut c).await);
    // Unescaped, the same password is a different string.
    let mut c = server.connect().await;
    let st = c.status("LOGIN carol \"pa ss\\\"wo\\rd\"").await;
    assert_eq!(word(&st), "BAD", "\\r is not a valid escape: {st}");
    server.shutdown().await;
}

#[tokio::test]
async fn login_with_synchronising_literals() {
    let server = TestServer::start().await;
    add_user(&server, "dave", "pässwörd").await;
    let mut c = server.connect().await;
    c.send("A1 LOGIN {5}").await;
    let cont = c.read_line().await;
    assert!(cont.starts_with("+ "), "{cont}");
    let pw = "pässwörd".as_bytes();
    c.send_raw(format!("alice {{{}}}\r\n", "alice-pw".len()).as_bytes())
        .await;
    let cont = c.read_line().await;
    assert!(cont.starts_with("+ "), "{cont}");
    c.send_raw(b"alice-pw\r\n").await;
    let st = c.until_tag("A1").await;
    assert_eq!(st.len(), 1, "{st:?}");
    assert!(st[0].starts_with("A1 OK [CAPABILITY "), "{st:?}");

    // 8-bit password in a literal.
    let mut c = server.connect().await;
    c.send("A1 LOGIN dave {10}").await;
    assert!(c.read_line().await.starts_with("+ "));
    assert_eq!(pw.len(), 10);
    c.send_raw(pw).await;
    c.send_raw(b"\r\n").await;
    let st = c.until_tag("A1").await;
    assert!(st[0].starts_with("A1 OK "), "{st:?}");
    server.shutdown().await;
}

#[tokio::test]
async fn login_with_non_synchronising_literals() {
    let server = TestServer::start().await;
    let mut c = server.connect().await;
    // LITERAL+ (RFC 7888): no continuation is sent, the first line the
    // client reads is the tagged response.
    c.send_raw(b"A1 LOGIN {5+}\r\nalice {8+}\r\nalice-pw\r\n")
        .await;
    let line = c.read_line().await;
    assert!(line.starts_with("A1 OK [CAPABILITY "), "{line}");
    assert!(is_authenticated(&mut c).await);
    server.shutdown().await;
}

#[tokio::test]
async fn login_missing_or_extra_arguments() {
    let server = TestServer::start().await;
    let mut c = server.connect().await;
    for (i, bad) in [
        "LOGIN",
        "LOGIN alice",
        "LOGIN alice ",
        "LOGIN alice alice-pw extra",
        "LOGIN  alice alice-pw",
        "LOGIN (alice) alice-pw",
        "LOGIN \"alice alice-pw",
    ]
    .iter()
    .enumerate()
    {
        let r = c.cmd(bad).await;
        assert_eq!(r.len(), 1, "{bad}: {r:?}");
        assert_bad(&r[0], &format!("T{}", i + 1));
    }
    assert!(!is_authenticated(&mut c).await);
    server.shutdown().await;
}

#[tokio::test]
async fn login_or_authenticate_when_authenticated_is_bad() {
    let server = TestServer::start().await;
    let mut c = server.login("alice").await;
    assert_bad(&c.status("LOGIN alice alice-pw").await, "T2");
    assert_bad(&c.status("LOGIN bob bob-pw").await, "T3");
    let ir = b64(b"\0bob\0bob-pw");
    let r = c.cmd(&format!("AUTHENTICATE PLAIN {ir}")).await;
    assert_eq!(r.len(), 1, "no continuation: {r:?}");
    assert_bad(&r[0], "T4");
    // No continuation either without an initial response.
    let r = c.cmd("AUTHENTICATE PLAIN").await;
    assert_eq!(r.len(), 1, "no continuation: {r:?}");
    assert_bad(&r[0], "T5");
    assert_bad(&c.status("STARTTLS").await, "T6");
    // Still alice: her mailboxes are there and the session works.
    c.ok("CREATE only-alice").await;
    let mut b = server.login("bob").await;
    assert_eq!(b.ok("LIST \"\" only-alice").await, Vec::<String>::new());
    server.shutdown().await;
}

// ---------------------------------------------------------------------------
// AUTHENTICATE

#[tokio::test]
async fn authenticate_plain_with_initial_response() {
    let server = start_unthrottled().await;
    let mut c = server.connect().await;
    let st = c
        .status(&format!("AUTHENTICATE PLAIN {}", b64(b"\0alice\0alice-pw")))
        .await;
    assert_eq!(
        st,
        format!("T1 OK [CAPABILITY {}] Logged in", caps_after_login(&server))
    );
    assert!(is_authenticated(&mut c).await);

    // authzid equal to the authcid is acting as oneself: allowed.
    let mut c = server.connect().await;
    let st = c
        .status(&format!("authenticate plain {}", b64(b"bob\0bob\0bob-pw")))
        .await;
    assert!(st.starts_with("T1 OK "), "{st}");

    // Wrong password, unknown user, authorising as somebody else.
    for creds in [
        &b"\0alice\0wrong"[..],
        b"\0nobody\0alice-pw",
        b"bob\0alice\0alice-pw",
        b"alice-pw",
        b"\0alice",
        b"\0alice\0alice-pw\0",
    ] {
        let mut c = server.connect().await;
        let st = c
            .status(&format!("AUTHENTICATE PLAIN {}", b64(creds)))
            .await;
        assert_eq!(
            st, "T1 NO [AUTHENTICATIONFAILED] Authentication failed",
            "{creds:?}"
        );
        assert!(!is_authenticated(&mut c).await);
    }
    server.shutdown().await;
}

#[tokio::test]
async fn authenticate_plain_with_continuation() {
    let server = start_unthrottled().await;
    let mut c = server.connect().await;
    c.send("A1 AUTHENTICATE PLAIN").await;
    // PLAIN has no server challenge: an empty continuation.
    assert_eq!(c.read_line().await, "+ ");
    c.send(&b64(b"\0alice\0alice-pw")).await;
    let r = c.until_tag("A1").await;
    assert_eq!(
        r,
        vec![format!(
            "A1 OK [CAPABILITY {}] Logged in",
            caps_after_login(&server)
        )]
    );
    assert!(is_authenticated(&mut c).await);

    // An empty initial response (`=`, RFC 4959) also gets `+ `.
    let mut c = server.connect().await;
    c.send("A1 AUTHENTICATE PLAIN =").await;
    assert_eq!(c.read_line().await, "+ ");
    c.send(&b64(b"\0bob\0bob-pw")).await;
    let r = c.until_tag("A1").await;
    assert!(r[0].starts_with("A1 OK [CAPABILITY "), "{r:?}");

    // A wrong password through the continuation.
    let mut c = server.connect().await;
    c.send("A1 AUTHENTICATE PLAIN").await;
    assert_eq!(c.read_line().await, "+ ");
    c.send(&b64(b"\0alice\0nope")).await;
    assert_eq!(
        c.until_tag("A1").await,
        vec!["A1 NO [AUTHENTICATIONFAILED] Authentication failed"]
    );
    server.shutdown().await;
}

#[tokio::test]
async fn authenticate_cancelled_by_client() {
    let server = TestServer::start().await;
    let mut c = server.connect().await;
    c.send("A1 AUTHENTICATE PLAIN").await;
    assert_eq!(c.read_line().await, "+ ");
    // RFC 3501 §6.2.2: `*` cancels, and the server MUST answer BAD.
    c.send("*").await;
    let r = c.until_tag("A1").await;
    assert_eq!(r.len(), 1, "{r:?}");
    assert_bad(&r[0], "A1");
    assert!(!is_authenticated(&mut c).await);
    // The session goes on and can still log in.
    c.ok("LOGIN alice alice-pw").await;
    assert!(is_authenticated(&mut c).await);
    server.shutdown().await;
}

#[tokio::test]
async fn authenticate_bad_base64() {
    let server = TestServer::start().await;
    let mut c = server.connect().await;
    // In the continuation.
    c.send("A1 AUTHENTICATE PLAIN").await;
    assert_eq!(c.read_line().await, "+ ");
    c.send("not base64!").await;
    let r = c.until_tag("A1").await;
    assert_eq!(r.len(), 1, "{r:?}");
    assert_bad(&r[0], "A1");
    c.send("A2 AUTHENTICATE PLAIN").await;
    assert_eq!(c.read_line().await, "+ ");
    c.send("AGFsaWNl=").await; // bad padding
    assert_bad(&c.until_tag("A2").await[0], "A2");
    // In the initial response: bad length, bad characters.
    assert_bad(&c.status("AUTHENTICATE PLAIN AGFsaWNlAG").await, "T1");
    assert_bad(&c.status("AUTHENTICATE PLAIN ####").await, "T2");
    assert_bad(&c.status("AUTHENTICATE PLAIN AGFs aWNl").await, "T3");
    assert!(!is_authenticated(&mut c).await);
    c.ok("LOGIN alice alice-pw").await;
    server.shutdown().await;
}

#[tokio::test]
async fn authenticate_unknown_mechanism() {
    let server = TestServer::start().await;
    let mut c = server.connect().await;
    // SCRAM-SHA-256-PLUS needs TLS channel binding: not on cleartext.
    for mech in ["CRAM-MD5", "X-UNKNOWN", "DIGEST-MD5", "SCRAM-SHA-256-PLUS"] {
        let r = c.cmd(&format!("AUTHENTICATE {mech}")).await;
        assert_eq!(r.len(), 1, "no continuation for {mech}: {r:?}");
        assert!(r[0].contains(" NO "), "{mech}: {r:?}");
    }
    // With an initial response too.
    let st = c
        .status(&format!(
            "AUTHENTICATE X-UNKNOWN {}",
            b64(b"\0alice\0alice-pw")
        ))
        .await;
    assert!(st.contains(" NO "), "{st}");
    // Missing mechanism.
    assert_bad(&c.status("AUTHENTICATE").await, "T6");
    assert!(!is_authenticated(&mut c).await);
    server.shutdown().await;
}

// ---------------------------------------------------------------------------
// Commands in the wrong state

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
async fn authenticated_and_selected_commands_before_login_are_bad() {
    let server = TestServer::start().await;
    let mut c = server.connect().await;
    for cmd in AUTHENTICATED_COMMANDS.iter().chain(SELECTED_COMMANDS) {
        let r = c.cmd(cmd).await;
        assert_eq!(r.len(), 1, "{cmd}: no untagged data expected: {r:?}");
        assert_eq!(word(&r[0]), "BAD", "{cmd}: {r:?}");
    }
    // More than 20 of them did not count as protocol errors, nothing was
    // done, and the session can log in.
    c.ok("LOGIN alice alice-pw").await;
    let list = c.ok("LIST \"\" *").await;
    assert!(list.iter().any(|l| l.ends_with(" Trash")), "{list:?}");
    assert!(!list.iter().any(|l| l.contains("newbox")), "{list:?}");
    server.shutdown().await;
}

#[tokio::test]
async fn append_before_login_is_bad() {
    let server = TestServer::start().await;
    let mut c = server.connect().await;
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
    assert_bad(&line, "A1");
    // With a non-synchronising literal the session resynchronises.
    c.send_raw(format!("A2 APPEND INBOX {{{}+}}\r\n", msg.len()).as_bytes())
        .await;
    c.send_raw(&msg).await;
    c.send_raw(b"\r\nA3 NOOP\r\n").await;
    assert_bad(&c.read_line().await, "A2");
    assert_eq!(c.read_line().await, "A3 OK NOOP completed");
    let mut c = server.login("alice").await;
    let st = c.ok("STATUS INBOX (MESSAGES)").await;
    assert_eq!(st, vec!["* STATUS INBOX (MESSAGES 0)"]);
    server.shutdown().await;
}

#[tokio::test]
async fn selected_commands_without_selected_mailbox_are_bad() {
    let server = TestServer::start().await;
    let mut c = server.login("alice").await;
    c.append("INBOX", "()", &message("m", "body")).await;
    for cmd in SELECTED_COMMANDS {
        let r = c.cmd(cmd).await;
        assert_eq!(r.len(), 1, "{cmd}: no untagged data expected: {r:?}");
        assert_eq!(word(&r[0]), "BAD", "{cmd}: {r:?}");
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
    assert_eq!(word(&st), "BAD", "{st}");
    server.shutdown().await;
}

// ---------------------------------------------------------------------------
// Bad syntax and limits

#[tokio::test]
async fn bad_syntax_is_bad_and_session_continues() {
    let server = TestServer::start().await;
    let mut c = server.login("alice").await;
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
        assert_bad(&r, tag);
        assert_eq!(c.status("NOOP").await.split(' ').nth(1), Some("OK"));
    }
    // Lines without a usable tag get an untagged BAD.
    for line in ["(((", "+ NOOP", " NOOP", "*", "\"quoted\" NOOP"] {
        c.send(line).await;
        let r = c.read_line().await;
        assert!(r.starts_with("* BAD"), "{line:?}: {r}");
        assert_eq!(c.status("NOOP").await.split(' ').nth(1), Some("OK"));
    }
    server.shutdown().await;
}

#[tokio::test]
async fn nul_bytes_are_bad() {
    let server = TestServer::start().await;
    let mut c = server.connect().await;
    c.send_raw(b"N1 NOOP\0\r\n").await;
    assert_bad(&c.read_line().await, "N1");
    c.send_raw(b"N2 LOGIN \"ali\0ce\" alice-pw\r\n").await;
    assert_bad(&c.read_line().await, "N2");
    c.send_raw(b"N3 LOGIN alice \"alice-pw\0\"\r\n").await;
    assert_bad(&c.read_line().await, "N3");
    c.send_raw(b"N4 NO\0OP\r\n").await;
    assert_bad(&c.read_line().await, "N4");
    c.send_raw(b"\0\0\0\r\n").await;
    let r = c.read_line().await;
    assert!(r.starts_with("* BAD"), "{r}");
    assert!(!is_authenticated(&mut c).await);
    c.ok("LOGIN alice alice-pw").await;
    c.send_raw(b"N5 SELECT IN\0BOX\r\n").await;
    assert_bad(&c.read_line().await, "N5");
    c.send_raw(b"N6 CREATE \"a\0b\"\r\n").await;
    assert_bad(&c.read_line().await, "N6");
    let list = c.ok("LIST \"\" a*").await;
    assert!(list.is_empty(), "{list:?}");
    server.shutdown().await;
}

#[tokio::test]
async fn over_long_line_is_bad_and_session_continues() {
    let server = TestServer::start_with(|c| c.limits.max_line_length = 1024).await;
    let mut c = server.connect().await;
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
    assert_bad(&c.read_line().await, "L1");
    assert_eq!(c.status("NOOP").await.split(' ').nth(1), Some("OK"));

    // Far too long, arriving over many reads: tagged BAD once.
    let mut big = b"L2 LOGIN alice ".to_vec();
    big.extend(std::iter::repeat_n(b'z', 200_000));
    big.extend_from_slice(b"\r\nL3 NOOP\r\n");
    c.send_raw(&big).await;
    assert_bad(&c.read_line().await, "L2");
    assert_eq!(c.read_line().await, "L3 OK NOOP completed");

    // Without anything that looks like a tag: untagged BAD.
    let mut big = vec![b'('; 5000];
    big.extend_from_slice(b"\r\nL4 NOOP\r\n");
    c.send_raw(&big).await;
    let r = c.read_line().await;
    assert!(r.starts_with("* BAD"), "{r}");
    assert_eq!(c.read_line().await, "L4 OK NOOP completed");

    // The session is intact: not logged in, and can log in.
    assert!(!is_authenticated(&mut c).await);
    c.ok("LOGIN alice alice-pw").await;
    server.shutdown().await;
}

#[tokio::test]
async fn too_many_bad_commands_get_bye() {
    let server = TestServer::start().await;
    let mut c = server.connect().await;
    // 19 in a row are tolerated, and a good command resets the count.
    for i in 0..19 {
        c.send(&format!("X{i} BOGUS")).await;
        assert_bad(&c.read_line().await, &format!("X{i}"));
    }
    assert_eq!(c.status("NOOP").await, "T1 OK NOOP completed");
    for i in 0..19 {
        c.send(&format!("Y{i} BOGUS")).await;
        assert_bad(&c.read_line().await, &format!("Y{i}"));
    }
    assert_eq!(c.status("NOOP").await, "T2 OK NOOP completed");
    // Twenty in a row, pipelined: twenty BADs, then BYE and close.
    let mut burst = String::new();
    for i in 0..20 {
        burst.push_str(&format!("Z{i} BOGUS\r\n"));
    }
    c.send_raw(burst.as_bytes()).await;
    for i in 0..20 {
        assert_bad(&c.read_line().await, &format!("Z{i}"));
    }
    let bye = c.read_line().await;
    assert!(bye.starts_with("* BYE "), "{bye}");
    assert!(c.closed().await);
    server.shutdown().await;
}

// ---------------------------------------------------------------------------
// Pipelining

#[tokio::test]
async fn pipelined_commands_answered_in_order() {
    let server = TestServer::start().await;
    let mut c = server.connect().await;
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
    server.shutdown().await;
}

#[tokio::test]
async fn pipelined_appends_with_literal_plus() {
    let server = TestServer::start().await;
    let mut c = server.login("alice").await;
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
    let uid = |l: &str| -> u32 {
        l.split(' ')
            .nth(4)
            .unwrap()
            .trim_end_matches(']')
            .parse()
            .unwrap()
    };
    assert_eq!(uid(&a2), uid(&a1) + 1);
    assert_eq!(c.read_line().await, "* STATUS INBOX (MESSAGES 2 UNSEEN 1)");
    assert!(c.read_line().await.starts_with("A3 OK"));
    server.shutdown().await;
}
