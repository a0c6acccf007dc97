//! Transport security and login policy over real sockets: implicit TLS,
//! STARTTLS (and its injection attack), the capabilities and the
//! plaintext policy that depend on them, SCRAM-SHA-256-PLUS channel
//! binding, back-off and lockout, and connection limits. LOGIN and
//! AUTHENTICATE themselves, and isolation between accounts, are tested in
//! process in crates/crispin-imap/tests (auth.rs, isolation.rs).

use base64::Engine as _;
use crispin_server::config::Plaintext;
use crispin_testkit::*;
use std::time::{Duration, Instant};

async fn tls_server() -> TestServer {
    TestServer::start_with(|c| c.imaps.listen = vec!["127.0.0.1:0".parse().unwrap()]).await
}

#[tokio::test]
async fn implicit_tls_login() {
    let server = tls_server().await;
    let mut c = server.connect_tls().await;
    let caps = c.ok("CAPABILITY").await;
    assert!(!caps[0].contains("STARTTLS"), "{}", caps[0]);
    assert!(caps[0].contains("AUTH=SCRAM-SHA-256-PLUS"), "{}", caps[0]);
    c.ok("LOGIN alice alice-pw").await;
    c.ok("SELECT INBOX").await;
    server.shutdown().await;
}

/// RFC 8446 §6.1: a LOGOUT over TLS ends with close_notify, so that the
/// client can tell it from a cut connection (rustls reports a TLS stream
/// that ends without one as UnexpectedEof).
#[tokio::test]
async fn logout_over_tls_ends_with_close_notify() {
    use tokio::io::AsyncReadExt;
    let server = tls_server().await;
    for starttls in [false, true] {
        let mut c = if starttls {
            let mut c = server.connect().await;
            c.starttls(&server).await;
            c
        } else {
            server.connect_tls().await
        };
        c.ok("LOGIN alice alice-pw").await;
        let bye = c.ok("LOGOUT").await;
        assert!(bye[0].starts_with("* BYE"), "{bye:?}");
        let mut rest = Vec::new();
        let end = tokio::time::timeout(TIMEOUT, c.stream.read_to_end(&mut rest))
            .await
            .unwrap();
        assert!(end.is_ok(), "starttls={starttls}: {end:?}");
        assert!(rest.is_empty(), "{rest:?}");
    }
    server.shutdown().await;
}

#[tokio::test]
async fn starttls_then_login_and_capabilities_change() {
    let server = TestServer::start_with(|c| c.auth.plaintext = Plaintext::Never).await;
    let mut c = server.connect().await;
    assert!(c.greeting.contains("STARTTLS") && c.greeting.contains("LOGINDISABLED"));
    c.starttls(&server).await;
    let caps = c.ok("CAPABILITY").await;
    assert!(!caps[0].contains("STARTTLS"), "{}", caps[0]);
    assert!(!caps[0].contains("LOGINDISABLED"), "{}", caps[0]);
    assert!(caps[0].contains("AUTH=PLAIN"), "{}", caps[0]);
    // A second STARTTLS is refused.
    assert!(c.status("STARTTLS").await.contains("BAD"));
    c.ok("LOGIN alice alice-pw").await;
    server.shutdown().await;
}

/// The capabilities on the cleartext listener, exactly: STARTTLS before
/// login (TLS is on by default) beside the mechanisms, since plaintext
/// logins are allowed on loopback. (The in-process sessions of
/// crispin-imap's tests have no TLS to offer; their lists are checked in
/// its tests/any_state.rs.)
#[tokio::test]
async fn cleartext_listener_offers_starttls_before_login() {
    let server = TestServer::start().await;
    let limit = server.config.limits.max_message_size;
    let before = format!(
        "{COMMON_CAPS} STARTTLS AUTH=PLAIN AUTH=LOGIN AUTH=SCRAM-SHA-256 APPENDLIMIT={limit}"
    );
    let mut c = server.connect().await;
    assert_eq!(
        c.greeting,
        format!("* OK [CAPABILITY {before}] Crispin ready")
    );
    assert_eq!(
        c.cmd("CAPABILITY").await,
        vec![
            format!("* CAPABILITY {before}"),
            "T1 OK CAPABILITY completed".to_string(),
        ]
    );
    let st = c.status("LOGIN alice alice-pw").await;
    assert_eq!(
        st,
        format!("T2 OK [CAPABILITY {}] Logged in", caps_after_login(limit))
    );
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
    assert_eq!(tagged(&r[0]).status, Status::No, "{r:?}");
    let st = c
        .status(&format!("AUTHENTICATE PLAIN {}", b64(b"\0alice\0alice-pw")))
        .await;
    assert_no(&st, None);
    assert!(!c.is_authenticated().await);
    server.shutdown().await;
}

#[tokio::test]
async fn plaintext_refused_when_policy_forbids_it() {
    // "never" treats even loopback as an untrusted network.
    let server = TestServer::start_with(|c| c.auth.plaintext = Plaintext::Never).await;
    let mut c = server.connect().await;
    let caps = c.ok("CAPABILITY").await;
    assert!(caps[0].contains("LOGINDISABLED"), "{}", caps[0]);
    assert!(!caps[0].contains("AUTH="), "{}", caps[0]);
    let st = c.status("LOGIN alice alice-pw").await;
    assert!(st.contains("NO [PRIVACYREQUIRED]"), "{st}");
    let st = c
        .status(&format!("AUTHENTICATE PLAIN {}", b64(b"\0alice\0alice-pw")))
        .await;
    assert!(st.contains("NO [PRIVACYREQUIRED]"), "{st}");
    // Still not logged in.
    assert!(c.status("SELECT INBOX").await.contains("BAD"));
    server.shutdown().await;
}

#[tokio::test]
async fn loopback_plaintext_allowed_by_default() {
    let server = TestServer::start().await;
    let c = server.connect().await;
    assert!(!c.greeting.contains("LOGINDISABLED"), "{}", c.greeting);
    assert!(c.greeting.contains("AUTH=PLAIN"), "{}", c.greeting);
    server.shutdown().await;
}

#[tokio::test]
async fn starttls_injection_is_discarded() {
    let server = TestServer::start().await;
    let mut c = server.connect().await;
    // The classic attack: a command pipelined in plaintext behind STARTTLS
    // must not run once TLS is up.
    c.send_raw(b"a STARTTLS\r\nb LOGIN alice alice-pw\r\n")
        .await;
    let ok = c.read_line().await;
    assert!(ok.starts_with("a OK"), "{ok}");
    let tls = server.tls_handshake(c.take_stream()).await;
    c.set_stream(tls);
    // The first thing the server says over TLS answers this command, and
    // we are not logged in.
    let lines = c.cmd("SELECT INBOX").await;
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].contains("BAD"), "{lines:?}");
    server.shutdown().await;
}

#[tokio::test]
async fn lockout_after_repeated_failures() {
    let server = TestServer::start_with(|c| {
        c.auth.lockout_after = 3;
        c.auth.failure_delay_ms = 0;
    })
    .await;
    let mut c = server.connect().await;
    for _ in 0..3 {
        let st = c.status("LOGIN alice wrong").await;
        assert!(st.contains("NO [AUTHENTICATIONFAILED]"), "{st}");
    }
    // The right password no longer helps, for this account and for any
    // other account from this IP.
    let st = c.status("LOGIN alice alice-pw").await;
    assert!(st.contains("NO [UNAVAILABLE]"), "{st}");
    let st = c.status("LOGIN bob bob-pw").await;
    assert!(st.contains("NO [UNAVAILABLE]"), "{st}");
    server.shutdown().await;
}

#[tokio::test]
async fn failed_logins_back_off() {
    let server = TestServer::start_with(|c| {
        c.auth.failures_before_delay = 1;
        c.auth.failure_delay_ms = 300;
        c.auth.max_failure_delay_ms = 300;
    })
    .await;
    let mut c = server.connect().await;
    c.status("LOGIN alice wrong").await;
    // The second attempt is held back by at least the configured delay
    // (a lower bound only: the test cannot be flaky by being slow).
    let start = Instant::now();
    c.status("LOGIN alice wrong").await;
    assert!(start.elapsed() >= Duration::from_millis(300));
    server.shutdown().await;
}

#[tokio::test]
async fn connection_limit_per_ip() {
    let server = TestServer::start_with(|c| c.limits.max_connections_per_ip = 2).await;
    let _a = server.connect().await;
    let _b = server.connect().await;
    let mut third = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    let mut buf = String::new();
    use tokio::io::AsyncReadExt;
    tokio::time::timeout(TIMEOUT, third.read_to_string(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert!(buf.starts_with("* BYE"), "{buf}");
    server.shutdown().await;
}

#[tokio::test]
async fn session_limit_per_user_and_ip() {
    let server = TestServer::start_with(|c| c.limits.max_connections_per_user_ip = 1).await;
    let mut first = server.login("alice").await;
    let mut second = server.connect().await;
    let st = second.status("LOGIN alice alice-pw").await;
    assert!(st.contains("NO [LIMIT]"), "{st}");
    // Other users are not affected.
    second.ok("LOGIN bob bob-pw").await;
    first.cmd("LOGOUT").await;
    // The server closes the socket only after releasing the session.
    assert!(first.closed().await);
    let mut third = server.connect().await;
    third.ok("LOGIN alice alice-pw").await;
    server.shutdown().await;
}

/// A SCRAM-SHA-256-PLUS client written here from RFC 5802/9266 (Python's
/// scramp cannot do `tls-exporter`), against the server's implementation.
async fn scram_plus_login(tamper_binding: bool) -> String {
    use hmac::{Hmac, Mac};
    use sha2::{Digest, Sha256};
    fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
        let mut m = <Hmac<Sha256> as Mac>::new_from_slice(key).unwrap();
        m.update(data);
        m.finalize().into_bytes().to_vec()
    }
    let server = tls_server().await;
    let addr = server.server.as_ref().unwrap().imaps_addrs[0];
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let tls = server.tls_client().connect(name, tcp).await.unwrap();
    let mut exporter = tls
        .get_ref()
        .1
        .export_keying_material(vec![0u8; 32], b"EXPORTER-Channel-Binding", None)
        .unwrap();
    if tamper_binding {
        exporter[0] ^= 1;
    }
    let mut c = Client::over(Box::new(tls)).await;
    let gs2 = "p=tls-exporter,,";
    let bare = "n=alice,r=clientnonce123";
    c.send(&format!(
        "a AUTHENTICATE SCRAM-SHA-256-PLUS {}",
        b64(format!("{gs2}{bare}").as_bytes())
    ))
    .await;
    let line = c.read_line().await;
    let server_first = String::from_utf8(
        base64::engine::general_purpose::STANDARD
            .decode(line.strip_prefix("+ ").unwrap())
            .unwrap(),
    )
    .unwrap();
    let mut nonce = "";
    let mut salt = Vec::new();
    let mut iterations = 0;
    for field in server_first.split(',') {
        match field.split_at(2) {
            ("r=", v) => nonce = v,
            ("s=", v) => salt = base64::engine::general_purpose::STANDARD.decode(v).unwrap(),
            ("i=", v) => iterations = v.parse().unwrap(),
            _ => {}
        }
    }
    assert!(nonce.starts_with("clientnonce123") && nonce.len() > 14);
    let mut salted = [0u8; 32];
    pbkdf2::pbkdf2_hmac::<Sha256>(b"alice-pw", &salt, iterations, &mut salted);
    let client_key = hmac(&salted, b"Client Key");
    let stored_key = Sha256::digest(&client_key);
    let server_key = hmac(&salted, b"Server Key");
    let mut cbind = gs2.as_bytes().to_vec();
    cbind.extend_from_slice(&exporter);
    let without_proof = format!("c={},r={nonce}", b64(&cbind));
    let auth_message = format!("{bare},{server_first},{without_proof}");
    let signature = hmac(&stored_key, auth_message.as_bytes());
    let proof: Vec<u8> = client_key
        .iter()
        .zip(&signature)
        .map(|(a, b)| a ^ b)
        .collect();
    c.send(&b64(format!("{without_proof},p={}", b64(&proof)).as_bytes()))
        .await;
    let line = c.read_line().await;
    if let Some(data) = line.strip_prefix("+ ") {
        let expected = format!("v={}", b64(&hmac(&server_key, auth_message.as_bytes())));
        let got = base64::engine::general_purpose::STANDARD
            .decode(data)
            .unwrap();
        assert_eq!(
            String::from_utf8(got).unwrap(),
            expected,
            "server signature"
        );
        c.send("").await;
        let done = c.read_line().await;
        server.shutdown().await;
        return done;
    }
    server.shutdown().await;
    line
}

#[tokio::test]
async fn scram_sha256_plus_with_tls_exporter() {
    let done = scram_plus_login(false).await;
    assert!(done.starts_with("a OK"), "{done}");
}

#[tokio::test]
async fn scram_plus_rejects_a_foreign_channel_binding() {
    // What a man-in-the-middle relaying the exchange would present.
    let done = scram_plus_login(true).await;
    assert!(done.starts_with("a NO [AUTHENTICATIONFAILED]"), "{done}");
}
