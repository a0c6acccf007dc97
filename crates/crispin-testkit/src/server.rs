//! The whole server on ephemeral ports (`crispin_server::start`), for the
//! tests of what only the server does: listeners, TLS and STARTTLS, the
//! plaintext policy, connection limits, login back-off, LMTP, shutdown
//! and reload.

use crate::{Client, USERS};
use crispin_server::{Config, RunningServer};
use std::net::SocketAddr;
use tokio::net::TcpStream;

pub struct TestServer {
    pub addr: SocketAddr,
    pub server: Option<RunningServer>,
    pub config: Config,
    pub dir: tempfile::TempDir,
}

/// The test configuration: the defaults on ephemeral loopback ports, with
/// cheap argon2 parameters (tests check behaviour, not hash cost).
#[allow(clippy::field_reassign_with_default)]
pub fn test_config(dir: &std::path::Path) -> Config {
    let mut config = Config::default();
    config.data_dir = dir.to_path_buf();
    config.imap.listen = vec!["127.0.0.1:0".parse().unwrap()];
    config.lmtp.listen = vec!["127.0.0.1:0".parse().unwrap()];
    let cheap = crate::test_auth_config();
    config.auth.argon2_memory_kib = cheap.argon2_memory_kib;
    config.auth.argon2_iterations = cheap.argon2_iterations;
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
            let creds = crispin_auth::credentials(pw, &config.auth).unwrap();
            server.store.create_account(user, &creds).await.unwrap();
        }
        TestServer {
            addr: server.imap_addrs[0],
            server: Some(server),
            config,
            dir,
        }
    }

    /// Adds an account with the given password.
    pub async fn add_user(&self, user: &str, password: &str) {
        let creds = crispin_auth::credentials(password, &self.config.auth).unwrap();
        self.server
            .as_ref()
            .unwrap()
            .store
            .create_account(user, &creds)
            .await
            .unwrap();
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

impl Client {
    /// Runs STARTTLS and the handshake; the client then speaks over TLS.
    pub async fn starttls(&mut self, server: &TestServer) {
        let st = self.status("STARTTLS").await;
        assert!(st.contains("OK"), "{st}");
        let plain = self.take_stream();
        let tls = server.tls_handshake(plain).await;
        self.set_stream(tls);
    }
}
