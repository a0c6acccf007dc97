//! Logins: password checks (argon2id), the SASL mechanisms PLAIN, LOGIN,
//! SCRAM-SHA-256 and SCRAM-SHA-256-PLUS, failed-login back-off and
//! lockout, and the per-user+IP session limit.

use crate::config::AuthConfig;
use crate::scram::{self, ScramSecret, ScramServer};
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use async_trait::async_trait;
use base64::Engine as _;
use crispin_imap::{AuthError, Authenticator, ConnInfo, SaslExchange, SaslStep};
use crispin_store::{Account, Credentials, Store};
use rand::RngExt;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Builds the stored secrets for a password: an argon2id hash for
/// password logins and SCRAM keys, never the password itself.
pub fn credentials(password: &str, cfg: &AuthConfig) -> Result<Credentials, String> {
    let params = argon2::Params::new(cfg.argon2_memory_kib, cfg.argon2_iterations, 1, None)
        .map_err(|e| e.to_string())?;
    let hasher = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
    let hash = hasher
        .hash_password(password.as_bytes())
        .map_err(|e| e.to_string())?;
    let salt: [u8; 16] = rand::rng().random();
    let scram =
        ScramSecret::derive(password, &salt, cfg.scram_iterations).map_err(|e| e.to_string())?;
    Ok(Credentials {
        password_hash: hash.to_string(),
        scram_sha256: Some(scram.encode()),
    })
}

/// Entries kept per failure map before old ones are dropped.
const MAX_TRACKED: usize = 100_000;

#[derive(Clone, Copy)]
struct Failures {
    count: u32,
    last: Instant,
}

pub struct AuthService {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<dyn Store>,
    cfg: AuthConfig,
    max_user_ip: usize,
    by_ip: Mutex<HashMap<IpAddr, Failures>>,
    by_user: Mutex<HashMap<String, Failures>>,
    sessions: Mutex<HashMap<(String, IpAddr), usize>>,
    /// Keys fake SCRAM salts for unknown users, so a probe cannot tell
    /// whether a name exists.
    fake_key: [u8; 32],
    /// Verified for unknown users, so they cost the same as known ones.
    dummy_hash: String,
    /// Password hashes verified at once. A hash is deliberately costly in
    /// CPU and memory; a burst of logins (thousands of clients reconnecting)
    /// must queue for the cores instead of each holding a thread and its
    /// memory at the same time.
    hash_slots: tokio::sync::Semaphore,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl AuthService {
    pub fn new(store: Arc<dyn Store>, cfg: AuthConfig, max_user_ip: usize) -> Self {
        let random: [u8; 16] = rand::rng().random();
        let dummy_hash = credentials(
            &base64::engine::general_purpose::STANDARD.encode(random),
            &cfg,
        )
        .map(|c| c.password_hash)
        .unwrap_or_default();
        AuthService {
            inner: Arc::new(Inner {
                store,
                cfg,
                max_user_ip,
                by_ip: Mutex::default(),
                by_user: Mutex::default(),
                sessions: Mutex::default(),
                fake_key: rand::rng().random(),
                dummy_hash,
                hash_slots: tokio::sync::Semaphore::new(
                    std::thread::available_parallelism().map_or(2, |n| n.get()),
                ),
            }),
        }
    }
}

impl Inner {
    fn recent<K: std::hash::Hash + Eq>(&self, map: &Mutex<HashMap<K, Failures>>, key: &K) -> u32 {
        let window = Duration::from_secs(self.cfg.lockout_secs);
        lock(map)
            .get(key)
            .filter(|f| f.last.elapsed() < window)
            .map_or(0, |f| f.count)
    }

    /// Refuses locked-out logins and serves the back-off delay.
    async fn gate(&self, user: &str, ip: IpAddr) -> Result<(), AuthError> {
        let n = self
            .recent(&self.by_ip, &ip)
            .max(self.recent(&self.by_user, &user.to_string()));
        if n >= self.cfg.lockout_after {
            tracing::warn!(%user, %ip, failures = n, "login refused: locked out");
            return Err(AuthError::Throttled);
        }
        if n >= self.cfg.failures_before_delay && self.cfg.failure_delay_ms > 0 {
            let exp = (n - self.cfg.failures_before_delay).min(20);
            let ms = self
                .cfg
                .failure_delay_ms
                .saturating_mul(1 << exp)
                .min(self.cfg.max_failure_delay_ms);
            tokio::time::sleep(Duration::from_millis(ms)).await;
        }
        Ok(())
    }

    fn record(&self, user: &str, ip: IpAddr, ok: bool) {
        fn bump<K: std::hash::Hash + Eq>(map: &mut HashMap<K, Failures>, key: K, window: Duration) {
            if map.len() >= MAX_TRACKED {
                map.retain(|_, f| f.last.elapsed() < window);
            }
            let now = Instant::now();
            let f = map.entry(key).or_insert(Failures {
                count: 0,
                last: now,
            });
            if f.last.elapsed() >= window {
                f.count = 0;
            }
            f.count += 1;
            f.last = now;
        }
        let window = Duration::from_secs(self.cfg.lockout_secs);
        if ok {
            lock(&self.by_user).remove(user);
            lock(&self.by_ip).remove(&ip);
        } else {
            tracing::info!(%user, %ip, "failed login");
            bump(&mut lock(&self.by_user), user.to_string(), window);
            bump(&mut lock(&self.by_ip), ip, window);
        }
    }

    /// Counts a new session of `user` from `ip`, within the limit.
    fn admit(&self, account: &Account, ip: IpAddr) -> Result<(), AuthError> {
        let mut sessions = lock(&self.sessions);
        let n = sessions.entry((account.name.clone(), ip)).or_insert(0);
        if *n >= self.max_user_ip {
            return Err(AuthError::Limit);
        }
        *n += 1;
        Ok(())
    }

    async fn account(&self, user: &str) -> Result<Option<Account>, AuthError> {
        self.store.account(user).await.map_err(|e| {
            tracing::error!(error = %e, "account lookup failed");
            AuthError::Unavailable
        })
    }

    async fn verify_password(&self, user: &str, password: &[u8]) -> Result<Account, AuthError> {
        let account = self.account(user).await?;
        // Unknown users cost the same hash as known ones.
        let hash = account
            .as_ref()
            .map(|a| a.credentials.password_hash.clone())
            .unwrap_or_else(|| self.dummy_hash.clone());
        let password = password.to_vec();
        let _slot = self.hash_slots.acquire().await;
        let ok = tokio::task::spawn_blocking(move || {
            argon2::Argon2::default()
                .verify_password(&password, hash.as_str())
                .is_ok()
        })
        .await
        .unwrap_or(false);
        match account {
            Some(a) if ok => Ok(a),
            _ => Err(AuthError::Failed),
        }
    }

    /// A password login through any mechanism: gate, check, record, admit.
    async fn password_login(
        &self,
        user: &[u8],
        password: &[u8],
        ip: IpAddr,
    ) -> Result<Account, AuthError> {
        let Ok(user) = std::str::from_utf8(user) else {
            return Err(AuthError::Failed);
        };
        self.gate(user, ip).await?;
        let result = self.verify_password(user, password).await;
        self.finish(user, ip, result)
    }

    fn finish(
        &self,
        user: &str,
        ip: IpAddr,
        result: Result<Account, AuthError>,
    ) -> Result<Account, AuthError> {
        match result {
            Ok(account) => {
                self.record(user, ip, true);
                self.admit(&account, ip)?;
                Ok(account)
            }
            Err(AuthError::Failed) => {
                self.record(user, ip, false);
                Err(AuthError::Failed)
            }
            Err(e) => Err(e),
        }
    }

    fn fake_secret(&self, user: &str) -> ScramSecret {
        use hmac::Mac;
        let mut mac = <hmac::Hmac<sha2::Sha256> as Mac>::new_from_slice(&self.fake_key)
            .unwrap_or_else(|_| unreachable!());
        mac.update(user.as_bytes());
        let salt = mac.finalize().into_bytes()[..16].to_vec();
        ScramSecret {
            iterations: self.cfg.scram_iterations,
            salt,
            stored_key: rand::rng().random(),
            server_key: rand::rng().random(),
        }
    }
}

#[async_trait]
impl Authenticator for AuthService {
    async fn login(
        &self,
        user: &[u8],
        password: &[u8],
        conn: &ConnInfo,
    ) -> Result<Account, AuthError> {
        self.inner
            .password_login(user, password, conn.peer.ip())
            .await
    }

    fn mechanisms(&self, conn: &ConnInfo) -> Vec<&'static str> {
        let mut m = vec!["PLAIN", "LOGIN", "SCRAM-SHA-256"];
        if conn.tls_exporter.is_some() {
            m.push("SCRAM-SHA-256-PLUS");
        }
        m
    }

    fn start(&self, mechanism: &str, conn: &ConnInfo) -> Option<Box<dyn SaslExchange>> {
        let inner = self.inner.clone();
        let ip = conn.peer.ip();
        Some(match mechanism {
            "PLAIN" => Box::new(Plain { inner, ip }),
            "LOGIN" => Box::new(Login {
                inner,
                ip,
                user: None,
                asked_user: false,
            }),
            "SCRAM-SHA-256" | "SCRAM-SHA-256-PLUS" => {
                let plus = mechanism.ends_with("-PLUS");
                if plus && conn.tls_exporter.is_none() {
                    return None;
                }
                Box::new(Scram {
                    inner,
                    ip,
                    plus,
                    plus_offered: conn.tls_exporter.is_some(),
                    exporter: conn.tls_exporter.clone(),
                    state: None,
                })
            }
            _ => return None,
        })
    }

    fn logout(&self, account: &Account, conn: &ConnInfo) {
        let mut sessions = lock(&self.inner.sessions);
        let key = (account.name.clone(), conn.peer.ip());
        if let Some(n) = sessions.get_mut(&key) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                sessions.remove(&key);
            }
        }
    }
}

/// SASL PLAIN (RFC 4616): `authzid NUL authcid NUL password`.
struct Plain {
    inner: Arc<Inner>,
    ip: IpAddr,
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
        // Acting as another user is not supported.
        if !authz.is_empty() && authz != user {
            return SaslStep::Failure(AuthError::Failed);
        }
        outcome(
            self.inner.password_login(user, password, self.ip).await,
            None,
        )
    }
}

/// The obsolete but widespread LOGIN mechanism (draft-murchison-sasl-login).
struct Login {
    inner: Arc<Inner>,
    ip: IpAddr,
    user: Option<Vec<u8>>,
    asked_user: bool,
}

#[async_trait]
impl SaslExchange for Login {
    async fn step(&mut self, response: &[u8]) -> SaslStep {
        match &self.user {
            None if response.is_empty() && !self.asked_user => {
                self.asked_user = true;
                SaslStep::Challenge(b"Username:".to_vec())
            }
            None => {
                self.user = Some(response.to_vec());
                SaslStep::Challenge(b"Password:".to_vec())
            }
            Some(user) => {
                let user = user.clone();
                outcome(
                    self.inner.password_login(&user, response, self.ip).await,
                    None,
                )
            }
        }
    }
}

struct Scram {
    inner: Arc<Inner>,
    ip: IpAddr,
    plus: bool,
    plus_offered: bool,
    exporter: Option<Vec<u8>>,
    state: Option<(ScramServer, String, Option<Account>)>,
}

#[async_trait]
impl SaslExchange for Scram {
    async fn step(&mut self, response: &[u8]) -> SaslStep {
        let Some((server, user, account)) = self.state.take() else {
            if response.is_empty() {
                return SaslStep::Challenge(Vec::new());
            }
            let first = match scram::parse_client_first(response, self.plus, self.plus_offered) {
                Ok(f) => f,
                Err(e) => {
                    tracing::debug!(error = %e, "SCRAM client-first rejected");
                    return SaslStep::Failure(AuthError::Failed);
                }
            };
            let user = first.user.clone();
            if let Err(e) = self.inner.gate(&user, self.ip).await {
                return SaslStep::Failure(e);
            }
            let account = match self.inner.account(&user).await {
                Ok(a) => a,
                Err(e) => return SaslStep::Failure(e),
            };
            let secret = account
                .as_ref()
                .and_then(|a| a.credentials.scram_sha256.as_deref())
                .and_then(ScramSecret::decode)
                .unwrap_or_else(|| self.inner.fake_secret(&user));
            let nonce_bytes: [u8; 18] = rand::rng().random();
            let nonce = base64::engine::general_purpose::STANDARD.encode(nonce_bytes);
            let (server, server_first) = ScramServer::new(first, secret, &nonce);
            self.state = Some((server, user, account));
            return SaslStep::Challenge(server_first.into_bytes());
        };
        let result = match (server.finish(response, self.exporter.as_deref()), account) {
            (Ok(server_final), Some(account)) => Ok((account, server_final)),
            _ => Err(AuthError::Failed),
        };
        match result {
            Ok((account, server_final)) => outcome(
                self.inner.finish(&user, self.ip, Ok(account)),
                Some(server_final.into_bytes()),
            ),
            Err(e) => outcome(self.inner.finish(&user, self.ip, Err(e)), None),
        }
    }
}

fn outcome(result: Result<Account, AuthError>, data: Option<Vec<u8>>) -> SaslStep {
    match result {
        Ok(account) => SaslStep::Success { account, data },
        Err(e) => SaslStep::Failure(e),
    }
}
