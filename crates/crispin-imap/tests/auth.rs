//! LOGIN and AUTHENTICATE as a session runs them: arguments, quoting and
//! literals, SASL PLAIN and LOGIN with and without an initial response,
//! cancellation, bad base64, unknown mechanisms (RFC 3501 §6.2, RFC 4616,
//! RFC 4959). What needs TLS or the server (STARTTLS, SCRAM-SHA-256-PLUS,
//! the plaintext policy, back-off, lockout, connection limits) is tested
//! in crates/crispin-server/tests/security.rs.

use crispin_testkit::*;

/// Sessions without failed-login back-off, for tests that fail logins on
/// purpose and must not wait for (or be locked out by) the throttle.
async fn start_unthrottled() -> TestImap {
    TestImap::with_auth(|a| {
        a.failures_before_delay = 1000;
        a.lockout_after = 1000;
    })
    .start()
    .await
}

#[tokio::test]
async fn login_good_bad_and_unknown_user() {
    let imap = start_unthrottled().await;
    let mut c = imap.connect().await;
    assert_eq!(
        c.cmd("LOGIN alice wrong-pw").await,
        vec!["T1 NO [AUTHENTICATIONFAILED] Authentication failed"]
    );
    assert!(!c.is_authenticated().await);
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
    assert!(!c.is_authenticated().await);
    // A failed login leaves the session usable.
    let st = c.status("LOGIN alice alice-pw").await;
    assert!(st.starts_with("T7 OK [CAPABILITY "), "{st}");
    assert!(c.is_authenticated().await);
    imap.shutdown().await;
}

#[tokio::test]
async fn login_quoted_and_escaped_arguments() {
    let imap = TestImap::start().await;
    imap.add_user("carol", "pa ss\"wo\\rd").await;
    let mut c = imap.connect().await;
    c.ok("LOGIN \"alice\" \"alice-pw\"").await;
    let mut c = imap.connect().await;
    c.ok("login \"carol\" \"pa ss\\\"wo\\\\rd\"").await;
    assert!(c.is_authenticated().await);
    // Unescaped, the same password is a different string.
    let mut c = imap.connect().await;
    let st = c.status("LOGIN carol \"pa ss\\\"wo\\rd\"").await;
    assert_eq!(
        tagged(&st).status,
        Status::Bad,
        "\\r is not a valid escape: {st}"
    );
    imap.shutdown().await;
}

#[tokio::test]
async fn login_with_synchronising_literals() {
    let imap = TestImap::start().await;
    imap.add_user("dave", "pässwörd").await;
    let mut c = imap.connect().await;
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
    let mut c = imap.connect().await;
    c.send("A1 LOGIN dave {10}").await;
    assert!(c.read_line().await.starts_with("+ "));
    assert_eq!(pw.len(), 10);
    c.send_raw(pw).await;
    c.send_raw(b"\r\n").await;
    let st = c.until_tag("A1").await;
    assert!(st[0].starts_with("A1 OK "), "{st:?}");
    imap.shutdown().await;
}

#[tokio::test]
async fn login_with_non_synchronising_literals() {
    let imap = TestImap::start().await;
    let mut c = imap.connect().await;
    // LITERAL+ (RFC 7888): no continuation is sent, the first line the
    // client reads is the tagged response.
    c.send_raw(b"A1 LOGIN {5+}\r\nalice {8+}\r\nalice-pw\r\n")
        .await;
    let line = c.read_line().await;
    assert!(line.starts_with("A1 OK [CAPABILITY "), "{line}");
    assert!(c.is_authenticated().await);
    imap.shutdown().await;
}

#[tokio::test]
async fn login_missing_or_extra_arguments() {
    let imap = TestImap::start().await;
    let mut c = imap.connect().await;
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
        assert_bad_tag(&r[0], &format!("T{}", i + 1));
    }
    assert!(!c.is_authenticated().await);
    imap.shutdown().await;
}

#[tokio::test]
async fn login_or_authenticate_when_authenticated_is_bad() {
    let imap = TestImap::start().await;
    let mut c = imap.login("alice").await;
    assert_bad_tag(&c.status("LOGIN alice alice-pw").await, "T2");
    assert_bad_tag(&c.status("LOGIN bob bob-pw").await, "T3");
    let ir = b64(b"\0bob\0bob-pw");
    let r = c.cmd(&format!("AUTHENTICATE PLAIN {ir}")).await;
    assert_eq!(r.len(), 1, "no continuation: {r:?}");
    assert_bad_tag(&r[0], "T4");
    // No continuation either without an initial response.
    let r = c.cmd("AUTHENTICATE PLAIN").await;
    assert_eq!(r.len(), 1, "no continuation: {r:?}");
    assert_bad_tag(&r[0], "T5");
    assert_bad_tag(&c.status("STARTTLS").await, "T6");
    // Still alice: her mailboxes are there and the session works.
    c.ok("CREATE only-alice").await;
    let mut b = imap.login("bob").await;
    assert_eq!(b.ok("LIST \"\" only-alice").await, Vec::<String>::new());
    imap.shutdown().await;
}

#[tokio::test]
async fn authenticate_plain_with_initial_response() {
    let imap = start_unthrottled().await;
    let mut c = imap.connect().await;
    let st = c
        .status(&format!("AUTHENTICATE PLAIN {}", b64(b"\0alice\0alice-pw")))
        .await;
    assert_eq!(
        st,
        format!("T1 OK [CAPABILITY {}] Logged in", imap.caps_after_login())
    );
    assert!(c.is_authenticated().await);

    // authzid equal to the authcid is acting as oneself: allowed.
    let mut c = imap.connect().await;
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
        let mut c = imap.connect().await;
        let st = c
            .status(&format!("AUTHENTICATE PLAIN {}", b64(creds)))
            .await;
        assert_eq!(
            st, "T1 NO [AUTHENTICATIONFAILED] Authentication failed",
            "{creds:?}"
        );
        assert!(!c.is_authenticated().await);
    }
    imap.shutdown().await;
}

#[tokio::test]
async fn authenticate_plain_with_continuation() {
    let imap = start_unthrottled().await;
    let mut c = imap.connect().await;
    c.send("A1 AUTHENTICATE PLAIN").await;
    // PLAIN has no server challenge: an empty continuation.
    assert_eq!(c.read_line().await, "+ ");
    c.send(&b64(b"\0alice\0alice-pw")).await;
    let r = c.until_tag("A1").await;
    assert_eq!(
        r,
        vec![format!(
            "A1 OK [CAPABILITY {}] Logged in",
            imap.caps_after_login()
        )]
    );
    assert!(c.is_authenticated().await);

    // An empty initial response (`=`, RFC 4959) also gets `+ `.
    let mut c = imap.connect().await;
    c.send("A1 AUTHENTICATE PLAIN =").await;
    assert_eq!(c.read_line().await, "+ ");
    c.send(&b64(b"\0bob\0bob-pw")).await;
    let r = c.until_tag("A1").await;
    assert!(r[0].starts_with("A1 OK [CAPABILITY "), "{r:?}");

    // A wrong password through the continuation.
    let mut c = imap.connect().await;
    c.send("A1 AUTHENTICATE PLAIN").await;
    assert_eq!(c.read_line().await, "+ ");
    c.send(&b64(b"\0alice\0nope")).await;
    assert_eq!(
        c.until_tag("A1").await,
        vec!["A1 NO [AUTHENTICATIONFAILED] Authentication failed"]
    );
    imap.shutdown().await;
}

#[tokio::test]
async fn authenticate_cancelled_by_client() {
    let imap = TestImap::start().await;
    let mut c = imap.connect().await;
    c.send("A1 AUTHENTICATE PLAIN").await;
    assert_eq!(c.read_line().await, "+ ");
    // RFC 3501 §6.2.2: `*` cancels, and the server MUST answer BAD.
    c.send("*").await;
    let r = c.until_tag("A1").await;
    assert_eq!(r.len(), 1, "{r:?}");
    assert_bad_tag(&r[0], "A1");
    assert!(!c.is_authenticated().await);
    // The session goes on and can still log in.
    c.ok("LOGIN alice alice-pw").await;
    assert!(c.is_authenticated().await);
    imap.shutdown().await;
}

#[tokio::test]
async fn authenticate_bad_base64() {
    let imap = TestImap::start().await;
    let mut c = imap.connect().await;
    // In the continuation.
    c.send("A1 AUTHENTICATE PLAIN").await;
    assert_eq!(c.read_line().await, "+ ");
    c.send("not base64!").await;
    let r = c.until_tag("A1").await;
    assert_eq!(r.len(), 1, "{r:?}");
    assert_bad_tag(&r[0], "A1");
    c.send("A2 AUTHENTICATE PLAIN").await;
    assert_eq!(c.read_line().await, "+ ");
    c.send("AGFsaWNl=").await; // bad padding
    assert_bad_tag(&c.until_tag("A2").await[0], "A2");
    // In the initial response: bad length, bad characters.
    assert_bad_tag(&c.status("AUTHENTICATE PLAIN AGFsaWNlAG").await, "T1");
    assert_bad_tag(&c.status("AUTHENTICATE PLAIN ####").await, "T2");
    assert_bad_tag(&c.status("AUTHENTICATE PLAIN AGFs aWNl").await, "T3");
    assert!(!c.is_authenticated().await);
    c.ok("LOGIN alice alice-pw").await;
    imap.shutdown().await;
}

#[tokio::test]
async fn authenticate_unknown_mechanism() {
    let imap = TestImap::start().await;
    let mut c = imap.connect().await;
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
    assert_bad_tag(&c.status("AUTHENTICATE").await, "T6");
    assert!(!c.is_authenticated().await);
    imap.shutdown().await;
}

#[tokio::test]
async fn authenticate_login_mechanism() {
    let imap = TestImap::start().await;
    let mut c = imap.connect().await;
    c.send("a AUTHENTICATE LOGIN").await;
    assert_eq!(c.read_line().await, format!("+ {}", b64(b"Username:")));
    c.send(&b64(b"alice")).await;
    assert_eq!(c.read_line().await, format!("+ {}", b64(b"Password:")));
    c.send(&b64(b"alice-pw")).await;
    let ok = c.read_line().await;
    assert!(ok.starts_with("a OK"), "{ok}");
    imap.shutdown().await;
}

#[tokio::test]
async fn sasl_cancel_and_garbage() {
    let imap = TestImap::start().await;
    let mut c = imap.connect().await;
    c.send("a AUTHENTICATE PLAIN").await;
    assert_eq!(c.read_line().await, "+ ");
    c.send("*").await;
    assert!(c.read_line().await.starts_with("a BAD"));
    c.send("b AUTHENTICATE PLAIN").await;
    c.read_line().await;
    c.send("not base64 !!").await;
    assert!(c.read_line().await.starts_with("b BAD"));
    c.ok(&format!("AUTHENTICATE PLAIN {}", b64(b"\0alice\0alice-pw")))
        .await;
    imap.shutdown().await;
}
