//! Logins: password checks (argon2id), the SASL mechanisms PLAIN, LOGIN,
//! SCRAM-SHA-256 and SCRAM-SHA-256-PLUS, failed-login back-off and
//! lockout, and the per-user+IP session limit.

use crate::config::AuthConfig;
use crate::password;
use crate::scram::{self, ScramSecret, ScramServer};
use crate::{AuthError, Authenticator, ConnInfo, SaslExchange, SaslStep};
use argon2::password_hash::PasswordHasher;
use async_trait::async_trait;
use base64::Engine as _;
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
    /// The policy and its session limit, replaced on reload.
    settings: std::sync::RwLock<Arc<Settings>>,
    /// Failed logins from an address, whatever account they named (a
    /// password spray from one address).
    by_ip: Mutex<HashMap<IpAddr, Failures>>,
    /// Failed logins of an account from an address. Not per account
    /// alone: then anyone could lock any account out.
    by_user_ip: Mutex<HashMap<(String, IpAddr), Failures>>,
    sessions: Mutex<HashMap<(String, IpAddr), usize>>,
    /// Keys fake SCRAM salts for unknown users, so a probe cannot tell
    /// whether a name exists.
    fake_key: [u8; 32],

    /// Password hashes verified at once. A hash is deliberately costly in
    /// CPU and memory; a burst of logins (thousands of clients reconnecting)
    /// must queue for the cores instead of each holding a thread and its
    /// memory at the same time.
    hash_slots: tokio::sync::Semaphore,
    /// argon2's work memory, reused and returned when idle.
    memory: Arc<password::WorkMemory>,
    /// Recent successful password checks.
    cache: password::LoginCache,
}

struct Settings {
    cfg: AuthConfig,
    max_user_ip: usize,
    /// Verified for unknown users, so they cost the same as known ones
    /// (made with the current cost parameters).
    dummy_hash: String,
}

impl Settings {
    fn new(cfg: AuthConfig, max_user_ip: usize) -> Settings {
        // A well-formed hash at the current cost with a random salt and
        // output: checking it costs what a real one does and never
        // succeeds, and making it costs no hash.
        let b64 = base64::engine::general_purpose::STANDARD_NO_PAD;
        let salt: [u8; 16] = rand::rng().random();
        let output: [u8; 32] = rand::rng().random();
        let dummy_hash = format!(
            "$argon2id$v=19$m={},t={},p=1${}${}",
            cfg.argon2_memory_kib,
            cfg.argon2_iterations,
            b64.encode(salt),
            b64.encode(output)
        );
        Settings {
            cfg,
            max_user_ip,
            dummy_hash,
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl AuthService {
    pub fn new(store: Arc<dyn Store>, cfg: AuthConfig, max_user_ip: usize) -> Self {
        let service = AuthService {
            inner: Arc::new(Inner {
                store,
                settings: std::sync::RwLock::new(Arc::new(Settings::new(cfg, max_user_ip))),
                by_ip: Mutex::default(),
                by_user_ip: Mutex::default(),
                sessions: Mutex::default(),
                fake_key: rand::rng().random(),
                hash_slots: tokio::sync::Semaphore::new(
                    std::thread::available_parallelism().map_or(2, |n| n.get()),
                ),
                memory: Arc::default(),
                cache: password::LoginCache::new(),
            }),
        };
        // Work memory goes back to the system once logins stop.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let memory = Arc::downgrade(&service.inner.memory);
            runtime.spawn(async move {
                let mut tick = tokio::time::interval(password::RELEASE_AFTER / 2);
                loop {
                    tick.tick().await;
                    let Some(memory) = memory.upgrade() else {
                        return;
                    };
                    memory.release_idle(password::RELEASE_AFTER);
                }
            });
        }
        service
    }
}

impl AuthService {
    /// A new policy (SIGHUP): it applies to the next login; failures
    /// counted so far stay counted.
    pub fn reconfigure(&self, cfg: AuthConfig, max_user_ip: usize) {
        let settings = Arc::new(Settings::new(cfg, max_user_ip));
        *self
            .inner
            .settings
            .write()
            .unwrap_or_else(|e| e.into_inner()) = settings;
    }
}

impl AuthService {
    /// Ends an account's lockout and forgets its failed logins
    /// (`crispin user unlock`): from every address, and those failures
    /// no longer count against their addresses either. Returns how many
    /// failures were forgotten.
    pub fn unlock(&self, name: &str) -> u32 {
        let name = crispin_store::account_name(name);
        let forgotten = self.inner.forget(|(user, _)| *user == name);
        self.inner.cache.forget(&name);
        tracing::info!(user = %name, failures = forgotten, "lockout ended by the administrator");
        forgotten
    }
}

impl Inner {
    fn settings(&self) -> Arc<Settings> {
        self.settings
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn recent<K: std::hash::Hash + Eq>(&self, map: &Mutex<HashMap<K, Failures>>, key: &K) -> u32 {
        let window = Duration::from_secs(self.settings().cfg.lockout_secs);
        lock(map)
            .get(key)
            .filter(|f| f.last.elapsed() < window)
            .map_or(0, |f| f.count)
    }

    /// Refuses locked-out logins and serves the back-off delay.
    async fn gate(&self, user: &str, ip: IpAddr) -> Result<(), AuthError> {
        let settings = self.settings();
        let cfg = &settings.cfg;
        let n = self
            .recent(&self.by_ip, &ip)
            .max(self.recent(&self.by_user_ip, &(user.to_string(), ip)));
        if n >= cfg.lockout_after {
            tracing::warn!(%user, %ip, failures = n, "login refused: locked out");
            return Err(AuthError::Throttled);
        }
        if n >= cfg.failures_before_delay && cfg.failure_delay_ms > 0 {
            let exp = (n - cfg.failures_before_delay).min(20);
            let ms = cfg
                .failure_delay_ms
                .saturating_mul(1 << exp)
                .min(cfg.max_failure_delay_ms);
            tokio::time::sleep(Duration::from_millis(ms)).await;
        }
        Ok(())
    }

    /// Forgets the failures of the (account, address) pairs `which`
    /// picks, here and in their addresses' counts; returns how many.
    fn forget(&self, which: impl Fn(&(String, IpAddr)) -> bool) -> u32 {
        let mut pairs = lock(&self.by_user_ip);
        let mut by_ip = lock(&self.by_ip);
        let mut forgotten = 0;
        pairs.retain(|key, f| {
            if !which(key) {
                return true;
            }
            forgotten += f.count;
            if let Some(at_ip) = by_ip.get_mut(&key.1) {
                at_ip.count = at_ip.count.saturating_sub(f.count);
                if at_ip.count == 0 {
                    by_ip.remove(&key.1);
                }
            }
            false
        });
        forgotten
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
        let window = Duration::from_secs(self.settings().cfg.lockout_secs);
        if ok {
            // A success vouches for its own account's earlier typos only:
            // failures against other accounts from here still count (one
            // valid account must not reset a spray at the others).
            self.forget(|key| key.0 == user && key.1 == ip);
        } else {
            tracing::info!(%user, %ip, "failed login");
            bump(&mut lock(&self.by_user_ip), (user.to_string(), ip), window);
            bump(&mut lock(&self.by_ip), ip, window);
        }
    }

    /// Counts a new session of `user` from `ip`, within the limit.
    fn admit(&self, account: &Account, ip: IpAddr) -> Result<(), AuthError> {
        let mut sessions = lock(&self.sessions);
        let n = sessions.entry((account.name.clone(), ip)).or_insert(0);
        if *n >= self.settings().max_user_ip {
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
        let ttl = Duration::from_secs(self.settings().cfg.cache_secs);
        if let Some(a) = &account
            && self
                .cache
                .hit(&a.name, &a.credentials.password_hash, password, ttl)
        {
            return Ok(a.clone());
        }
        // Unknown users cost the same hash as known ones.
        let hash = account
            .as_ref()
            .map(|a| a.credentials.password_hash.clone())
            .unwrap_or_else(|| self.settings().dummy_hash.clone());
        let pw = password.to_vec();
        let _slot = self.hash_slots.acquire().await;
        let memory = self.memory.clone();
        let ok = tokio::task::spawn_blocking(move || password::verify(&memory, &hash, &pw))
            .await
            .unwrap_or(false);
        match account {
            Some(a) if ok => {
                self.cache
                    .remember(&a.name, &a.credentials.password_hash, password, ttl);
                Ok(a)
            }
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
        // Failures count against the account, however its name is spelt.
        let user = &crispin_store::account_name(user);
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
            iterations: self.settings().cfg.scram_iterations,
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
            let user = crispin_store::account_name(&first.user);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_dummy_hash_costs_a_real_check_and_never_matches() {
        let cfg = AuthConfig {
            argon2_memory_kib: 64,
            argon2_iterations: 1,
            ..AuthConfig::default()
        };
        let settings = Settings::new(cfg, 1);
        let parsed = argon2::PasswordHash::new(&settings.dummy_hash).unwrap();
        let params = argon2::Params::try_from(&parsed).unwrap();
        assert_eq!((params.m_cost(), params.t_cost()), (64, 1));
        let memory = password::WorkMemory::default();
        assert!(!password::verify(&memory, &settings.dummy_hash, b""));
        // The check ran argon2 at that cost: it borrowed 64 KiB.
        assert_eq!(memory.held(), 64 * 1024);
    }
}
