//! Password checks and SASL mechanisms.
//!
//! Passwords are stored as argon2id PHC strings; checking one runs on a
//! blocking thread, as it is deliberately slow.

use crate::config::AuthConfig;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use async_trait::async_trait;
use crispin_imap::{AuthError, Authenticator, ConnInfo, SaslExchange, SaslStep};
use crispin_store::{Account, Credentials, Store};
use std::sync::Arc;

/// Builds the stored secrets for a password.
pub fn credentials(password: &str, cfg: &AuthConfig) -> Result<Credentials, String> {
    let params = argon2::Params::new(cfg.argon2_memory_kib, cfg.argon2_iterations, 1, None)
        .map_err(|e| e.to_string())?;
    let hasher = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
    let hash = hasher
        .hash_password(password.as_bytes())
        .map_err(|e| e.to_string())?;
    Ok(Credentials {
        password_hash: hash.to_string(),
        scram_sha256: None,
    })
}

pub struct PasswordAuth {
    store: Arc<dyn Store>,
}

impl PasswordAuth {
    pub fn new(store: Arc<dyn Store>) -> Self {
        PasswordAuth { store }
    }

    async fn check(&self, user: &[u8], password: &[u8]) -> Result<Account, AuthError> {
        let Ok(user) = std::str::from_utf8(user) else {
            return Err(AuthError::Failed);
        };
        let account = match self.store.account(user).await {
            Ok(Some(a)) => a,
            Ok(None) => return Err(AuthError::Failed),
            Err(e) => {
                tracing::error!(error = %e, "account lookup failed");
                return Err(AuthError::Unavailable);
            }
        };
        let hash = account.credentials.password_hash.clone();
        let password = password.to_vec();
        let ok = tokio::task::spawn_blocking(move || {
            argon2::Argon2::default()
                .verify_password(&password, hash.as_str())
                .is_ok()
        })
        .await
        .unwrap_or(false);
        if ok {
            Ok(account)
        } else {
            Err(AuthError::Failed)
        }
    }
}

#[async_trait]
impl Authenticator for PasswordAuth {
    async fn login(
        &self,
        user: &[u8],
        password: &[u8],
        _conn: &ConnInfo,
    ) -> Result<Account, AuthError> {
        self.check(user, password).await
    }

    fn mechanisms(&self, _conn: &ConnInfo) -> Vec<&'static str> {
        vec!["PLAIN"]
    }

    fn start(&self, mechanism: &str, _conn: &ConnInfo) -> Option<Box<dyn SaslExchange>> {
        match mechanism {
            "PLAIN" => Some(Box::new(Plain {
                auth: PasswordAuth {
                    store: self.store.clone(),
                },
            })),
            _ => None,
        }
    }
}

/// SASL PLAIN (RFC 4616): `authzid NUL authcid NUL password`.
struct Plain {
    auth: PasswordAuth,
}

#[async_trait]
impl SaslExchange for Plain {
    async fn step(&mut self, response: &[u8]) -> SaslStep {
        if response.is_empty() {
            return SaslStep::Challenge(Vec::new());
        }
        let parts: Vec<&[u8]> = response.split(|&b| b == 0).collect();
        let [authz, user, password] = parts.as_slice() else {
            return SaslStep::Failure(AuthError::Failed);
        };
        // We do not support acting as another user.
        if !authz.is_empty() && authz != user {
            return SaslStep::Failure(AuthError::Failed);
        }
        match self.auth.check(user, password).await {
            Ok(account) => SaslStep::Success {
                account,
                data: None,
            },
            Err(e) => SaslStep::Failure(e),
        }
    }
}
