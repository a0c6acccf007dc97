//! The IMAP session: the state machine of RFC 3501/9051 and one handler
//! file per command family, turning store results into typed responses
//! (`crispin_proto::response`, which alone encodes them).
//!
//! Where to look: `session.rs` runs the command loop and the state machine
//! (it checks each command against its row in `crispin_proto::spec` and
//! hands it to its handler with the state it needs); `any.rs` CAPABILITY,
//! LOGOUT, ID, ENABLE, NAMESPACE and the capability list; `auth.rs`
//! STARTTLS, LOGIN and AUTHENTICATE; `mailbox.rs` the mailbox commands
//! (LIST, CREATE, SELECT, STATUS, ...); `message.rs` APPEND, STORE,
//! COPY/MOVE, EXPUNGE, CLOSE; `fetch.rs` and `search.rs` those two;
//! `selected.rs` is a selected session's view of its mailbox (sequence
//! numbers ↔ UIDs, `\Recent`, keywords) and `selected/reporter.rs` the
//! reporter, the only writer of EXISTS, RECENT, EXPUNGE, FLAGS and
//! FETCH (FLAGS) about it, for the session's own changes and others';
//! `idle.rs` IDLE; `names.rs` mailbox names from the wire and LIST
//! patterns.

mod any;
mod auth;
mod fetch;
mod idle;
mod mailbox;
mod message;
pub mod names;
mod search;
mod selected;
mod session;

pub use session::run_session;
// The login and TLS contracts, shared with every front end.
pub use crispin_auth::{AuthError, Authenticator, ConnInfo, SaslExchange, SaslStep, TlsUpgrade};

use crispin_store::Store;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

#[derive(Debug, Clone)]
pub struct SessionConfig {
    pub limits: crispin_proto::Limits,
    /// `* OK Still here` while idling, so NAT boxes keep the connection.
    pub idle_keepalive: Duration,
    /// How often an idling session re-checks the store even without a
    /// wake-up, for changes made by other processes.
    pub idle_recheck: Duration,
    /// Time allowed before login.
    pub login_timeout: Duration,
    /// Inactivity allowed after login (RFC 3501: at least 30 minutes).
    pub autologout: Duration,
    /// At shutdown, how long a command already arriving (an APPEND
    /// literal in transit) may take to finish before `* BYE`.
    pub shutdown_grace: Duration,
    /// Capabilities not offered to some clients or accounts.
    pub hidden: HiddenCapabilities,
}

/// Capabilities hidden, for the day a client mishandles one: by the name
/// a client gives in ID (from then on) and by account (from login on),
/// both lower-cased; capability names upper-cased. A hidden capability is
/// not advertised and cannot be ENABLEd.
#[derive(Debug, Clone, Default)]
pub struct HiddenCapabilities {
    pub clients: std::collections::HashMap<String, Vec<String>>,
    pub accounts: std::collections::HashMap<String, Vec<String>>,
}

/// The capabilities that can be hidden: every extension advertised after
/// login (not IMAP4rev1, not the login mechanisms).
pub fn hideable_capabilities() -> Vec<&'static str> {
    any::hideable()
}

impl Default for SessionConfig {
    fn default() -> Self {
        SessionConfig {
            limits: crispin_proto::Limits::default(),
            idle_keepalive: Duration::from_secs(120),
            idle_recheck: Duration::from_secs(30),
            login_timeout: Duration::from_secs(60),
            autologout: Duration::from_secs(30 * 60),
            shutdown_grace: Duration::from_secs(30),
            hidden: HiddenCapabilities::default(),
        }
    }
}

/// Everything sessions share.
pub struct ImapContext {
    pub store: Arc<dyn Store>,
    pub auth: Arc<dyn Authenticator>,
    pub tls: Option<Arc<dyn TlsUpgrade>>,
    /// Replaced on a configuration reload; a session keeps the one it
    /// started with (see [`ImapContext::config`]).
    config: std::sync::RwLock<Arc<SessionConfig>>,
    pub shutdown: CancellationToken,
}

impl ImapContext {
    pub fn new(
        store: Arc<dyn Store>,
        auth: Arc<dyn Authenticator>,
        tls: Option<Arc<dyn TlsUpgrade>>,
        config: SessionConfig,
        shutdown: CancellationToken,
    ) -> Self {
        ImapContext {
            store,
            auth,
            tls,
            config: std::sync::RwLock::new(Arc::new(config)),
            shutdown,
        }
    }

    /// The settings for a new session.
    pub fn config(&self) -> Arc<SessionConfig> {
        self.config
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// New sessions get `config`; sessions under way keep theirs.
    pub fn set_config(&self, config: SessionConfig) {
        *self.config.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(config);
    }
}

#[cfg(test)]
mod tests {
    /// An idle connection costs this future plus its buffers: keep it
    /// small (thousands of idlers).
    #[test]
    fn session_future_is_small() {
        fn size_of_future<F, Fut>(_: F) -> usize
        where
            F: Fn(
                std::sync::Arc<super::ImapContext>,
                Box<dyn crispin_proto::Stream>,
                super::ConnInfo,
            ) -> Fut,
        {
            std::mem::size_of::<Fut>()
        }
        let size = size_of_future(super::run_session);
        println!("run_session future: {size} bytes");
        assert!(size < 16 * 1024, "{size}");
    }
}
