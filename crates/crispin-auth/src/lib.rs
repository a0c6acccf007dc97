//! Logins, for every front end (IMAP today; LMTP, POP3 or ManageSieve
//! later): how a client connected ([`ConnInfo`]), the [`Authenticator`]
//! and SASL contracts the sessions drive, the TLS-upgrade contract
//! (STARTTLS), and their implementation ([`AuthService`]): argon2id
//! password checks, PLAIN, LOGIN, SCRAM-SHA-256(-PLUS), failed-login
//! back-off and lockout, the per-user+address session limit.

pub mod config;
pub mod password;
pub mod scram;
mod service;

pub use config::{AuthConfig, Plaintext};
pub use service::{AuthService, credentials};

use async_trait::async_trait;
use crispin_store::Account;
use std::net::SocketAddr;

/// How a client connected: what the login policy needs to know.
#[derive(Debug, Clone)]
pub struct ConnInfo {
    pub peer: SocketAddr,
    pub tls: bool,
    /// Whether plaintext logins are acceptable on this connection as it
    /// stands (always true once TLS is up).
    pub plaintext_ok: bool,
    /// The TLS exporter value for SCRAM-PLUS channel binding, when on TLS.
    pub tls_exporter: Option<Vec<u8>>,
}

#[derive(Debug)]
pub enum AuthError {
    /// Wrong name or password.
    Failed,
    /// Too many failures: the caller must wait (the delay was already
    /// served by the authenticator or the client is locked out).
    Throttled,
    /// The backend could not answer.
    Unavailable,
    /// The user has too many sessions from this address.
    Limit,
}

/// One SASL exchange, driven by the session.
#[async_trait]
pub trait SaslExchange: Send {
    /// Feeds the client's (decoded) response; the first call gets the
    /// initial response, possibly empty.
    async fn step(&mut self, response: &[u8]) -> SaslStep;
}

pub enum SaslStep {
    Challenge(Vec<u8>),
    /// `data` is sent as additional data with the final `+` or in the OK.
    Success {
        account: Account,
        data: Option<Vec<u8>>,
    },
    Failure(AuthError),
}

/// Checks logins; implemented by the server, which owns the password
/// hashes, SASL mechanisms and login throttling.
#[async_trait]
pub trait Authenticator: Send + Sync {
    async fn login(
        &self,
        user: &[u8],
        password: &[u8],
        conn: &ConnInfo,
    ) -> Result<Account, AuthError>;
    /// Mechanisms to advertise (and accept) on this connection.
    fn mechanisms(&self, conn: &ConnInfo) -> Vec<&'static str>;
    fn start(&self, mechanism: &str, conn: &ConnInfo) -> Option<Box<dyn SaslExchange>>;
    /// Called when the session ends, for per-user connection counting.
    fn logout(&self, _account: &Account, _conn: &ConnInfo) {}
}

/// Upgrades a plain connection to TLS (STARTTLS); provided by the server.
#[async_trait]
pub trait TlsUpgrade: Send + Sync {
    async fn upgrade(
        &self,
        stream: Box<dyn crispin_proto::Stream>,
    ) -> std::io::Result<(Box<dyn crispin_proto::Stream>, Option<Vec<u8>>)>;
}
