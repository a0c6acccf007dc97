//! Test harness: a real server on an ephemeral port, and a tiny IMAP
//! client that speaks over TCP and collects responses up to the tag.

#![allow(dead_code)]

use crispin_server::{Config, RunningServer, auth};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// Generous bound for any single response: a hang fails the test instead
/// of blocking CI. Tests never rely on anything being fast.
pub const TIMEOUT: Duration = Duration::from_secs(20);

pub const USERS: [(&str, &str); 2] = [("alice", "alice-pw"), ("bob", "bob-pw")];

pub struct TestServer {
    pub addr: SocketAddr,
    pub server: Option<RunningServer>,
    pub config: Config,
    pub dir: tempfile::TempDir,
}

/// Cheap argon2 parameters: tests check behaviour, not hash cost.
#[allow(clippy::field_reassign_with_default)]
pub fn test_config(dir: &std::path::Path) -> Config {
    let mut config = Config::default();
    config.data_dir = dir.to_path_buf();
    config.imap.listen = vec!["127.0.0.1:0".parse().unwrap()];
    config.lmtp.listen = vec!["127.0.0.1:0".parse().unwrap()];
    config.auth.argon2_memory_kib = 64;
    config.auth.argon2_iterations = 1;
    config
}

impl TestServer {
    pub async fn start() -> TestServer {
        Self::start_with(|_| {}).await
    }

    pub async fn start_with(f: impl FnOnce(&mut Config)) -> TestServer {
        let dir = tempfile::tempdir().unwrap();
        let mut config = test_config(dir.path());
        f(&mut config);
        let server = crispin_server::start(&config).await.unwrap();
        for (user, pw) in USERS {
            let creds = auth::credentials(pw, &config.auth).unwrap();
            server.store.create_account(user, &creds).await.unwrap();
        }
        TestServer {
            addr: server.imap_addrs[0],
            server: Some(server),
            config,
            dir,
        }
    }

    pub async fn connect(&self) -> Client {
        Client::connect(self.addr).await
    }

    /// A client logged in as `user`.
    pub async fn login(&self, user: &str) -> Client {
        let mut c = self.connect().await;
        let pw = USERS.iter().find(|u| u.0 == user).unwrap().1;
        c.ok(&format!("LOGIN {user} {pw}")).await;
        c
    }

    /// A TLS client config that trusts the certificate the server
    /// generated into its data directory.
    pub fn tls_client(&self) -> tokio_rustls::TlsConnector {
        use rustls::pki_types::CertificateDer;
        use rustls::pki_types::pem::PemObject;
        let pem = std::fs::read(self.dir.path().join("tls/cert.pem")).unwrap();
        let mut roots = rustls::RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(&pem) {
            roots.add(cert.unwrap()).unwrap();
        }
        let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        tokio_rustls::TlsConnector::from(std::sync::Arc::new(config))
    }

    pub async fn tls_handshake(
        &self,
        stream: Box<dyn crispin_proto::Stream>,
    ) -> Box<dyn crispin_proto::Stream> {
        let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
        let tls = self.tls_client().connect(name, stream).await.unwrap();
        Box::new(tls)
    }

    /// A client over implicit TLS (the `imaps` listener must be configured).
    pub async fn connect_tls(&self) -> Client {
        let addr = self.server.as_ref().unwrap().imaps_addrs[0];
        let tcp = TcpStream::connect(addr).await.unwrap();
        let tls = self.tls_handshake(Box::new(tcp)).await;
        Client::over(tls).await
    }

    pub async fn shutdown(mut self) {
        if let Some(s) = self.server.take() {
            s.shutdown().await;
        }
    }
}

pub struct Client {
    pub stream: BufReader<Box<dyn crispin_proto::Stream>>,
    pub greeting: String,
    next_tag: u32,
}

impl Client {
    pub async fn connect(addr: SocketAddr) -> Client {
        let stream = TcpStream::connect(addr).await.unwrap();
        Client::over(Box::new(stream)).await
    }

    /// A client on an established stream (TCP or TLS); reads the greeting.
    pub async fn over(stream: Box<dyn crispin_proto::Stream>) -> Client {
        let mut c = Client {
            stream: BufReader::new(stream),
            greeting: String::new(),
            next_tag: 1,
        };
        c.greeting = c.read_line().await;
        assert!(c.greeting.starts_with("* OK"), "{}", c.greeting);
        c
    }

    /// Runs STARTTLS and the handshake; the client then speaks over TLS.
    pub async fn starttls(&mut self, server: &TestServer) {
        let st = self.status("STARTTLS").await;
        assert!(st.contains("OK"), "{st}");
        let placeholder: Box<dyn crispin_proto::Stream> =
            Box::new(tokio::io::join(tokio::io::empty(), tokio::io::sink()));
        let plain = std::mem::replace(&mut self.stream, BufReader::new(placeholder));
        assert!(plain.buffer().is_empty(), "data after STARTTLS OK");
        let tls = server.tls_handshake(plain.into_inner()).await;
        self.stream = BufReader::new(tls);
    }

    pub async fn send_raw(&mut self, bytes: &[u8]) {
        self.stream.get_mut().write_all(bytes).await.unwrap();
    }

    pub async fn send(&mut self, line: &str) {
        self.send_raw(format!("{line}\r\n").as_bytes()).await;
    }

    /// One response line; a literal `{n}` is read and inlined, so a
    /// response that spans literals comes back as one string.
    pub async fn read_line(&mut self) -> String {
        tokio::time::timeout(TIMEOUT, self.read_line_inner())
            .await
            .expect("timed out waiting for the server")
    }

    async fn read_line_inner(&mut self) -> String {
        let mut out = Vec::new();
        loop {
            let mut line = Vec::new();
            let n = self.stream.read_until(b'\n', &mut line).await.unwrap();
            assert!(
                n > 0,
                "connection closed; got so far: {:?}",
                String::from_utf8_lossy(&out)
            );
            if line.ends_with(b"\r\n") {
                line.truncate(line.len() - 2);
            }
            let lit = literal_len(&line);
            out.extend_from_slice(&line);
            match lit {
                Some(len) => {
                    let mut buf = vec![0; len];
                    self.stream.read_exact(&mut buf).await.unwrap();
                    out.extend_from_slice(b"\r\n");
                    out.extend_from_slice(&buf);
                }
                None => return String::from_utf8_lossy(&out).into_owned(),
            }
        }
    }

    /// Whether the server closed the connection (after draining lines).
    pub async fn closed(&mut self) -> bool {
        let mut buf = Vec::new();
        match tokio::time::timeout(TIMEOUT, self.stream.read_to_end(&mut buf)).await {
            Ok(Ok(_)) => true,
            Ok(Err(_)) => true,
            Err(_) => false,
        }
    }

    pub fn tag(&mut self) -> String {
        let t = format!("T{}", self.next_tag);
        self.next_tag += 1;
        t
    }

    /// Sends a command and returns every line up to and including the
    /// tagged one (which is last).
    pub async fn cmd(&mut self, command: &str) -> Vec<String> {
        let tag = self.tag();
        self.send(&format!("{tag} {command}")).await;
        self.until_tag(&tag).await
    }

    pub async fn until_tag(&mut self, tag: &str) -> Vec<String> {
        let mut lines = Vec::new();
        loop {
            let line = self.read_line().await;
            let done = line.starts_with(&format!("{tag} "));
            lines.push(line);
            if done {
                return lines;
            }
        }
    }

    /// Runs a command that must succeed; returns its untagged lines.
    pub async fn ok(&mut self, command: &str) -> Vec<String> {
        let mut lines = self.cmd(command).await;
        let last = lines.pop().unwrap();
        assert!(
            last.split(' ').nth(1) == Some("OK"),
            "{command} failed: {last}\n{lines:#?}"
        );
        lines
    }

    /// Runs a command and returns its tagged status line.
    pub async fn status(&mut self, command: &str) -> String {
        self.cmd(command).await.pop().unwrap()
    }

    /// APPENDs a message with a synchronising literal.
    pub async fn append(&mut self, mailbox: &str, flags: &str, msg: &[u8]) -> String {
        let tag = self.tag();
        // Empty `flags` means no optional arguments (no double space).
        let sep = if flags.is_empty() { "" } else { " " };
        self.send(&format!(
            "{tag} APPEND {mailbox} {flags}{sep}{{{}}}",
            msg.len()
        ))
        .await;
        let cont = self.read_line().await;
        assert!(cont.starts_with('+'), "{cont}");
        self.send_raw(msg).await;
        self.send_raw(b"\r\n").await;
        self.until_tag(&tag).await.pop().unwrap()
    }
}

fn literal_len(line: &[u8]) -> Option<usize> {
    let inner = line.strip_suffix(b"}")?;
    let open = inner.iter().rposition(|&b| b == b'{')?;
    std::str::from_utf8(&inner[open + 1..]).ok()?.parse().ok()
}

/// A small well-formed message.
pub fn message(subject: &str, body: &str) -> Vec<u8> {
    format!(
        "From: Alice <alice@example.org>\r\nTo: Bob <bob@example.org>\r\nSubject: {subject}\r\nDate: Mon, 7 Feb 1994 21:52:25 -0800\r\nMessage-ID: <{subject}@example.org>\r\n\r\n{body}\r\n"
    )
    .into_bytes()
}
