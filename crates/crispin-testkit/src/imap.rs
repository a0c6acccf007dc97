//! The in-process harness: IMAP sessions (`crispin_imap::run_session`) on
//! a store in a temporary directory, each connected to a [`Client`] by an
//! in-memory pipe. No TCP, no TLS, no listener: what the sessions do is
//! what `crispin-imap` does.

use crate::{Client, HookedStore, USERS, message};
use crispin_auth::{AuthConfig, AuthService};
use crispin_imap::{ConnInfo, ImapContext, SessionConfig};
use crispin_store::Store;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU16, Ordering};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Opens the store of a test. The one place a backend is named: the
/// in-process harness and any test that needs a bare store call this.
pub async fn open_store(dir: &Path) -> Arc<dyn Store> {
    crispin_store::open(
        &crispin_store::StoreConfig {
            backend: crispin_store::Backend::default(),
            data_dir: dir.to_path_buf(),
        },
        crispin_store::OpenMode::CreateIfMissing,
    )
    .await
    .expect("open the test store")
}

/// Cheap argon2 parameters: tests check behaviour, not hash cost.
pub fn test_auth_config() -> AuthConfig {
    AuthConfig {
        argon2_memory_kib: 64,
        argon2_iterations: 1,
        ..AuthConfig::default()
    }
}

/// Sessions per user and address, as the server's default
/// (`limits.max_connections_per_user_ip`).
const MAX_SESSIONS_PER_USER_IP: usize = 50;

/// Bytes either end of a connection may have in flight before the writer
/// waits, like a loopback socket's buffers: a client may pipeline
/// thousands of commands before it reads the first answer.
const PIPE_BUFFER: usize = 8 * 1024 * 1024;

/// Sessions on one store, with the accounts of [`USERS`].
pub struct TestImap {
    pub ctx: Arc<ImapContext>,
    pub store: Arc<dyn Store>,
    pub auth: Arc<AuthService>,
    /// The session settings in effect (the server's defaults, changed by
    /// [`TestImapBuilder::with_config`]).
    pub config: SessionConfig,
    pub auth_config: AuthConfig,
    /// The store under the sessions when started [`TestImapBuilder::hooked`].
    pub hooks: Option<Arc<HookedStore>>,
    sessions: TaskTracker,
    next_port: AtomicU16,
    /// The store's directory and the literal spool; removed at the end.
    pub dir: tempfile::TempDir,
}

/// Settings for a [`TestImap`] before it starts.
pub struct TestImapBuilder {
    config: SessionConfig,
    auth: AuthConfig,
    hooked: bool,
}

impl TestImapBuilder {
    /// Changes the session settings (limits, timeouts, keepalives).
    pub fn with_config(mut self, f: impl FnOnce(&mut SessionConfig)) -> Self {
        f(&mut self.config);
        self
    }

    /// Changes the login policy (back-off, lockout).
    pub fn with_auth(mut self, f: impl FnOnce(&mut AuthConfig)) -> Self {
        f(&mut self.auth);
        self
    }

    /// Puts a [`HookedStore`] under the sessions (as `TestImap::hooks`),
    /// for what must happen in the middle of a command.
    pub fn hooked(mut self) -> Self {
        self.hooked = true;
        self
    }

    pub async fn start(self) -> TestImap {
        let dir = tempfile::tempdir().unwrap();
        let mut store = open_store(&dir.path().join("store")).await;
        let mut hooks = None;
        if self.hooked {
            let hooked = Arc::new(HookedStore::new(store));
            store = hooked.clone();
            hooks = Some(hooked);
        }
        let spool = dir.path().join("spool");
        std::fs::create_dir(&spool).unwrap();
        let mut config = self.config;
        config.limits.spool_dir = spool;
        let auth = Arc::new(AuthService::new(
            store.clone(),
            self.auth.clone(),
            MAX_SESSIONS_PER_USER_IP,
        ));
        let ctx = Arc::new(ImapContext::new(
            store.clone(),
            auth.clone(),
            None,
            config.clone(),
            CancellationToken::new(),
        ));
        let imap = TestImap {
            ctx,
            store,
            auth,
            config,
            auth_config: self.auth,
            hooks,
            sessions: TaskTracker::new(),
            next_port: AtomicU16::new(40000),
            dir,
        };
        for (user, pw) in USERS {
            imap.add_user(user, pw).await;
        }
        imap
    }
}

impl TestImap {
    /// With the server's default settings.
    pub async fn start() -> TestImap {
        Self::builder().start().await
    }

    pub fn builder() -> TestImapBuilder {
        TestImapBuilder {
            config: SessionConfig::default(),
            auth: test_auth_config(),
            hooked: false,
        }
    }

    /// A builder with changed session settings, e.g.
    /// `TestImap::with_config(|c| c.limits.max_message = 1000).start()`.
    pub fn with_config(f: impl FnOnce(&mut SessionConfig)) -> TestImapBuilder {
        Self::builder().with_config(f)
    }

    /// A builder with a changed login policy.
    pub fn with_auth(f: impl FnOnce(&mut AuthConfig)) -> TestImapBuilder {
        Self::builder().with_auth(f)
    }

    /// CAPABILITY before login (see [`crate::caps_before_login`]).
    pub fn caps_before_login(&self) -> String {
        crate::caps_before_login(self.config.limits.max_message)
    }

    /// CAPABILITY after login.
    pub fn caps_after_login(&self) -> String {
        crate::caps_after_login(self.config.limits.max_message)
    }

    /// Adds an account with the given password.
    pub async fn add_user(&self, user: &str, password: &str) {
        let creds = crispin_auth::credentials(password, &self.auth_config).unwrap();
        self.store.create_account(user, &creds).await.unwrap();
    }

    /// A new session, as from `127.0.0.1` (another port each time),
    /// without TLS and with plaintext logins allowed; the greeting is read.
    pub async fn connect(&self) -> Client {
        let (client, server) = tokio::io::duplex(PIPE_BUFFER);
        let port = self.next_port.fetch_add(1, Ordering::Relaxed);
        let info = ConnInfo {
            peer: format!("127.0.0.1:{port}").parse().unwrap(),
            tls: false,
            plaintext_ok: true,
            tls_exporter: None,
        };
        self.sessions.spawn(crispin_imap::run_session(
            self.ctx.clone(),
            Box::new(server),
            info,
        ));
        Client::over(client).await
    }

    /// A session logged in as `user` (one of [`USERS`]).
    pub async fn login(&self, user: &str) -> Client {
        let mut c = self.connect().await;
        let pw = USERS.iter().find(|u| u.0 == user).unwrap().1;
        c.ok(&format!("LOGIN {user} {pw}")).await;
        c
    }

    /// Tells every session to end (they say `* BYE`) and gives them a
    /// moment to. One in the middle of a command (an APPEND literal still
    /// arriving) would wait `shutdown_grace` for it: it is not waited for,
    /// the test's runtime drops it when the test returns.
    pub async fn shutdown(self) {
        self.ctx.shutdown.cancel();
        self.sessions.close();
        let moment = std::time::Duration::from_secs(1);
        let _ = tokio::time::timeout(moment, self.sessions.wait()).await;
    }
}

/// A harness with `n` messages (`m1`…, bodies `body 1`…) in alice's
/// INBOX, selected by a session that holds no `\Recent` for them.
pub async fn selected_with(n: usize) -> (TestImap, Client) {
    let imap = TestImap::start().await;
    let mut c = imap.login("alice").await;
    for i in 1..=n {
        c.append(
            "INBOX",
            "",
            &message(&format!("m{i}"), &format!("body {i}")),
        )
        .await;
    }
    let mut other = imap.login("alice").await;
    other.ok("SELECT INBOX").await;
    other.ok("LOGOUT").await;
    c.ok("SELECT INBOX").await;
    (imap, c)
}

/// A harness whose INBOX holds `n` messages (`m1`…, bodies `body 1`…),
/// and two sessions of alice with INBOX selected (the first holds their
/// `\Recent`).
pub async fn two_sessions(n: usize) -> (TestImap, Client, Client) {
    let imap = TestImap::start().await;
    let mut a = imap.login("alice").await;
    for i in 1..=n {
        a.append(
            "INBOX",
            "",
            &message(&format!("m{i}"), &format!("body {i}")),
        )
        .await;
    }
    a.ok("SELECT INBOX").await;
    let mut b = imap.login("alice").await;
    b.ok("SELECT INBOX").await;
    (imap, a, b)
}
