//! The login policy's settings (the `[auth]` table of the configuration).

use serde::Deserialize;

/// When a password may travel without TLS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Plaintext {
    Never,
    /// Only for connections from 127.0.0.0/8 and ::1.
    Loopback,
    Always,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// Argon2id memory cost in KiB for new password hashes.
    pub argon2_memory_kib: u32,
    /// Argon2id iterations for new password hashes.
    pub argon2_iterations: u32,
    /// PBKDF2 iterations for new SCRAM-SHA-256 secrets (RFC 7677: >= 4096).
    pub scram_iterations: u32,
    /// Whether LOGIN/AUTHENTICATE work without TLS.
    pub plaintext: Plaintext,
    /// Failed logins (per IP or per account) before delays start.
    pub failures_before_delay: u32,
    /// First delay after failed logins; it doubles with each failure.
    pub failure_delay_ms: u64,
    /// Longest delay.
    pub max_failure_delay_ms: u64,
    /// Failed logins (per IP or per account) that lock logins out.
    pub lockout_after: u32,
    /// How long a lockout lasts, and how long failures are remembered.
    pub lockout_secs: u64,
    /// Seconds a successful password check is remembered (see
    /// [`crate::password`]); 0 turns the cache off.
    pub cache_secs: u64,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            argon2_memory_kib: 19 * 1024,
            argon2_iterations: 2,
            scram_iterations: 4096,
            plaintext: Plaintext::Loopback,
            failures_before_delay: 3,
            failure_delay_ms: 500,
            max_failure_delay_ms: 15_000,
            lockout_after: 20,
            lockout_secs: 300,
            cache_secs: 3600,
        }
    }
}
