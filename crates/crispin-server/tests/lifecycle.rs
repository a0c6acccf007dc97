//! The server's lifetime over real sockets: clean shutdown, timeouts,
//! certificate reload, the LMTP Unix socket (its mode, group and
//! directory).

use crispin_testkit::*;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

#[tokio::test]
async fn shutdown_says_bye_after_the_command_in_flight() {
    let server = TestServer::start().await;
    let mut idle = server.login("alice").await;
    idle.ok("SELECT INBOX").await;
    idle.send("I IDLE").await;
    assert!(idle.read_line().await.starts_with('+'));
    let mut other = server.login("bob").await;
    other.ok("NOOP").await;
    server.shutdown().await;
    assert_eq!(idle.read_line().await, "* BYE Server shutting down");
    assert!(idle.closed().await);
    assert_eq!(other.read_line().await, "* BYE Server shutting down");
    assert!(other.closed().await);
}

#[tokio::test]
async fn login_timeout_and_autologout() {
    let server = TestServer::start_with(|c| {
        c.limits.login_timeout_secs = 1;
        c.limits.autologout_secs = 2;
        c.limits.idle_keepalive_secs = 1;
    })
    .await;
    let mut silent = server.connect().await;
    assert!(silent.read_line().await.starts_with("* BYE"));
    assert!(silent.closed().await);
    // Keepalives from the server while idling are not client activity.
    let mut idle = server.login("alice").await;
    idle.ok("SELECT INBOX").await;
    idle.send("I IDLE").await;
    assert!(idle.read_line().await.starts_with('+'));
    let mut lines = Vec::new();
    loop {
        let line = idle.read_line().await;
        let bye = line.starts_with("* BYE");
        lines.push(line);
        if bye {
            break;
        }
    }
    assert!(lines.iter().any(|l| l == "* OK Still here"), "{lines:?}");
    assert!(idle.closed().await);
    server.shutdown().await;
}

fn write_cert(
    dir: &std::path::Path,
    name: &str,
) -> (std::path::PathBuf, std::path::PathBuf, Vec<u8>) {
    let c = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let cert = dir.join(format!("{name}.crt"));
    let key = dir.join(format!("{name}.key"));
    std::fs::write(&cert, c.cert.pem()).unwrap();
    std::fs::write(&key, c.signing_key.serialize_pem()).unwrap();
    (cert, key, c.cert.der().to_vec())
}

/// Connects with TLS trusting any of `certs`; returns the client and the
/// certificate the server presented.
async fn tls_connect(addr: std::net::SocketAddr, certs: &[Vec<u8>]) -> (Client, Vec<u8>) {
    let mut roots = rustls::RootCertStore::empty();
    for c in certs {
        roots
            .add(rustls::pki_types::CertificateDer::from(c.clone()))
            .unwrap();
    }
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let tls = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config))
        .connect(name, tcp)
        .await
        .unwrap();
    let presented = tls.get_ref().1.peer_certificates().unwrap()[0].to_vec();
    (Client::over(Box::new(tls)).await, presented)
}

#[tokio::test]
async fn certificate_reload_keeps_connections() {
    let certs = tempfile::tempdir().unwrap();
    let (cert_a, key_a, der_a) = write_cert(certs.path(), "a");
    let (cert_b, key_b, der_b) = write_cert(certs.path(), "b");
    let (live_cert, live_key) = (certs.path().join("live.crt"), certs.path().join("live.key"));
    std::fs::copy(&cert_a, &live_cert).unwrap();
    std::fs::copy(&key_a, &live_key).unwrap();
    let (lc, lk) = (live_cert.clone(), live_key.clone());
    let server = TestServer::start_with(move |c| {
        c.imaps.listen = vec!["127.0.0.1:0".parse().unwrap()];
        c.tls.cert = Some(lc);
        c.tls.key = Some(lk);
    })
    .await;
    let addr = server.server.as_ref().unwrap().imaps_addrs[0];
    let both = [der_a.clone(), der_b.clone()];
    let (mut old, presented) = tls_connect(addr, &both).await;
    assert_eq!(presented, der_a);
    old.ok("LOGIN alice alice-pw").await;

    std::fs::copy(&cert_b, &live_cert).unwrap();
    std::fs::copy(&key_b, &live_key).unwrap();
    server.server.as_ref().unwrap().reload_tls();

    let (mut new, presented) = tls_connect(addr, &both).await;
    assert_eq!(presented, der_b, "new connections get the new certificate");
    new.ok("LOGIN bob bob-pw").await;
    // The connection made before the reload is unaffected.
    old.ok("NOOP").await;
    old.ok("SELECT INBOX").await;

    // A broken file keeps the old certificate in use.
    std::fs::write(&live_cert, "not a certificate").unwrap();
    server.server.as_ref().unwrap().reload_tls();
    let (_third, presented) = tls_connect(addr, &both).await;
    assert_eq!(presented, der_b);
    server.shutdown().await;
}

#[tokio::test]
async fn lmtp_on_a_unix_socket() {
    let sock_dir = tempfile::tempdir().unwrap();
    let path = sock_dir.path().join("lmtp.sock");
    let p = path.clone();
    let server = TestServer::start_with(move |c| c.lmtp.unix_socket = Some(p)).await;
    let stream = tokio::net::UnixStream::connect(&path).await.unwrap();
    let mut lmtp = BufReader::new(stream);
    let mut line = String::new();
    lmtp.read_line(&mut line).await.unwrap();
    assert!(line.starts_with("220 "), "{line}");
    lmtp.get_mut()
        .write_all(b"LHLO x\r\nMAIL FROM:<a@b>\r\nRCPT TO:<alice@x>\r\nDATA\r\n")
        .await
        .unwrap();
    let mut last = String::new();
    for _ in 0..9 {
        last.clear();
        tokio::time::timeout(Duration::from_secs(20), lmtp.read_line(&mut last))
            .await
            .unwrap()
            .unwrap();
        if last.starts_with("354") {
            break;
        }
    }
    assert!(last.starts_with("354"), "{last}");
    lmtp.get_mut()
        .write_all(b"Subject: unix\r\n\r\nvia socket\r\n.\r\n")
        .await
        .unwrap();
    last.clear();
    lmtp.read_line(&mut last).await.unwrap();
    assert!(last.starts_with("250 2.1.5"), "{last}");
    let mut c = server.login("alice").await;
    assert_eq!(
        c.ok("STATUS INBOX (MESSAGES)").await,
        vec!["* STATUS INBOX (MESSAGES 1)"]
    );
    // The trace names no address for a client on the Unix socket.
    c.ok("SELECT INBOX").await;
    let f = c.ok("FETCH 1 BODY.PEEK[HEADER.FIELDS (RECEIVED)]").await;
    let unfolded = f[0].replace("\r\n\t", " ");
    assert!(
        unfolded.contains("Received: from x (local) by localhost (Crispin) with LMTP id ")
            && unfolded.contains(" for <alice@x>; "),
        "{f:?}"
    );
    server.shutdown().await;
}

/// `0.0.0.0:P` and `[::]:P` side by side, as the example configuration
/// lists them: IPv6 listeners are IPv6-only, so the second bind does not
/// find the port taken by the first (Linux's `bindv6only = 0`).
#[tokio::test]
async fn ipv4_and_ipv6_wildcards_on_one_port() {
    let port = std::net::TcpListener::bind("0.0.0.0:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let server = TestServer::start_with(|c| {
        c.imap.listen = vec![
            format!("0.0.0.0:{port}").parse().unwrap(),
            format!("[::]:{port}").parse().unwrap(),
        ];
    })
    .await;
    for addr in [format!("127.0.0.1:{port}"), format!("[::1]:{port}")] {
        let mut c = Client::connect(addr.parse().unwrap()).await;
        c.ok("LOGIN alice alice-pw").await;
    }
    server.shutdown().await;
}

/// A second server on the same data directory refuses to start, naming
/// the first's pid, and touches nothing the first uses.
#[tokio::test]
async fn a_second_server_on_one_data_dir_is_refused() {
    let first = TestServer::start().await;
    let second = crispin_server::start(&first.config).await;
    let err = match second {
        Ok(_) => panic!("a second server started on {:?}", first.dir.path()),
        Err(e) => e.to_string(),
    };
    let pid = std::process::id().to_string();
    assert!(err.contains(&pid) && err.contains("in use"), "{err}");
    // The first still serves and still hears other processes' changes.
    let mut c = first.login("alice").await;
    c.ok("SELECT INBOX").await;
    first.shutdown().await;
}

/// A group the socket can be given that differs from the one it gets
/// anyway (as root: any other group in /etc/group); otherwise our own.
fn other_group(dir: &std::path::Path) -> (String, u32) {
    use std::os::unix::fs::MetadataExt;
    let probe = dir.join("probe");
    std::fs::write(&probe, b"").unwrap();
    let meta = std::fs::metadata(&probe).unwrap();
    let groups = std::fs::read_to_string("/etc/group").unwrap();
    let groups: Vec<(String, u32)> = groups
        .lines()
        .filter_map(|l| {
            let mut f = l.split(':');
            let name = f.next()?.to_string();
            let gid = f.nth(1)?.parse().ok()?;
            Some((name, gid))
        })
        .collect();
    let wanted = |&&(_, gid): &&(String, u32)| {
        if meta.uid() == 0 {
            gid != meta.gid()
        } else {
            gid == meta.gid()
        }
    };
    groups.iter().find(wanted).cloned().unwrap()
}

#[tokio::test]
async fn lmtp_socket_mode_group_and_directory() {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let base = tempfile::tempdir().unwrap();
    // Like /run/crispin after a reboot: not there yet.
    let dir = base.path().join("run/crispin");
    let path = dir.join("lmtp");
    let (group, gid) = other_group(base.path());
    let (p, g) = (path.clone(), group.clone());
    let server = TestServer::start_with(move |c| {
        c.lmtp.unix_socket = Some(p);
        c.lmtp.unix_socket_group = Some(g);
    })
    .await;
    let meta = std::fs::metadata(&path).unwrap();
    assert!(meta.file_type().is_socket());
    // The default mode: the owner and the group (the MTA) may connect.
    assert_eq!(meta.mode() & 0o7777, 0o660, "{:o}", meta.mode());
    assert_eq!(meta.gid(), gid, "group {group}");
    let dir_meta = std::fs::metadata(&dir).unwrap();
    assert_eq!(dir_meta.mode() & 0o7777, 0o755, "{:o}", dir_meta.mode());
    let mut lmtp = BufReader::new(tokio::net::UnixStream::connect(&path).await.unwrap());
    let mut line = String::new();
    lmtp.read_line(&mut line).await.unwrap();
    assert!(line.starts_with("220 "), "{line}");
    server.shutdown().await;

    // A restart finds the old socket and replaces it, with the mode asked for.
    let data = tempfile::tempdir().unwrap();
    let mut config = test_config(data.path());
    config.lmtp.unix_socket = Some(path.clone());
    config.lmtp.unix_socket_mode = "0600".into();
    let server = crispin_server::start(&config).await.unwrap();
    let meta = std::fs::metadata(&path).unwrap();
    assert_eq!(meta.mode() & 0o7777, 0o600, "{:o}", meta.mode());
    server.shutdown().await;
}

#[tokio::test]
async fn lmtp_socket_group_must_exist() {
    let base = tempfile::tempdir().unwrap();
    let path = base.path().join("lmtp");
    let mut config = test_config(base.path());
    config.lmtp.unix_socket = Some(path.clone());
    config.lmtp.unix_socket_group = Some("crispin-no-such-group".into());
    let Err(e) = crispin_server::start(&config).await else {
        panic!("started with a group that does not exist");
    };
    let e = e.to_string();
    assert!(e.contains("\"crispin-no-such-group\""), "{e}");
    assert!(e.contains("lmtp.unix_socket_group"), "{e}");
    assert!(e.contains(&path.display().to_string()), "{e}");
    assert!(!path.exists());

    // Something at the path that is no socket is left alone.
    std::fs::write(&path, b"not a socket").unwrap();
    config.lmtp.unix_socket_group = None;
    let Err(e) = crispin_server::start(&config).await else {
        panic!("listened over a regular file");
    };
    assert!(e.to_string().contains(&path.display().to_string()), "{e}");
    assert_eq!(std::fs::read(&path).unwrap(), b"not a socket");
}
