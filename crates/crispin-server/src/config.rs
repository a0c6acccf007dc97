//! Configuration: a TOML file, every key optional, with defaults that
//! give a working server for a non-root user.

use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Where the database, message files and generated certificates live.
    pub data_dir: PathBuf,
    /// Log filter (`tracing` syntax), overridden by `RUST_LOG`.
    pub log: String,
    pub imap: ImapConfig,
    pub limits: LimitsConfig,
    pub auth: AuthConfig,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ImapConfig {
    /// Plain IMAP listeners (STARTTLS once TLS is configured).
    pub listen: Vec<SocketAddr>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimitsConfig {
    /// Largest message APPEND accepts (advertised as APPENDLIMIT), bytes.
    pub max_message_size: u64,
    /// Longest command line, bytes (at least 64 KiB is recommended).
    pub max_line_length: usize,
    /// Seconds a client may take to log in.
    pub login_timeout_secs: u64,
    /// Seconds of inactivity before a logged-in client is logged out
    /// (RFC 3501 requires at least 30 minutes).
    pub autologout_secs: u64,
    /// Seconds between `* OK Still here` while idling.
    pub idle_keepalive_secs: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// Argon2id memory cost in KiB for new password hashes.
    pub argon2_memory_kib: u32,
    /// Argon2id iterations for new password hashes.
    pub argon2_iterations: u32,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            data_dir: PathBuf::from("crispin-data"),
            log: "info".into(),
            imap: ImapConfig::default(),
            limits: LimitsConfig::default(),
            auth: AuthConfig::default(),
        }
    }
}

impl Default for ImapConfig {
    fn default() -> Self {
        ImapConfig {
            listen: vec![SocketAddr::from(([127, 0, 0, 1], 1143))],
        }
    }
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            max_message_size: 64 * 1024 * 1024,
            max_line_length: 256 * 1024,
            login_timeout_secs: 60,
            autologout_secs: 30 * 60,
            idle_keepalive_secs: 120,
        }
    }
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            argon2_memory_kib: 19 * 1024,
            argon2_iterations: 2,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid configuration in {path}: {source}")]
    Parse {
        path: PathBuf,
        source: toml::de::Error,
    },
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

impl Config {
    /// Loads `path`, or the defaults when no file is given.
    pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
        let config = match path {
            None => Config::default(),
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                    path: path.into(),
                    source,
                })?;
                toml::from_str(&text).map_err(|source| ConfigError::Parse {
                    path: path.into(),
                    source,
                })?
            }
        };
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if self.limits.max_line_length < 8 * 1024 {
            return Err(ConfigError::Invalid(
                "limits.max_line_length must be at least 8192".into(),
            ));
        }
        if self.limits.max_message_size >= u64::from(u32::MAX) {
            return Err(ConfigError::Invalid(
                "limits.max_message_size must be below 4 GiB".into(),
            ));
        }
        if self.auth.argon2_memory_kib < 8 || self.auth.argon2_iterations < 1 {
            return Err(ConfigError::Invalid(
                "auth.argon2_* parameters too small".into(),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_rejects_unknown_keys() {
        let c: Config =
            toml::from_str("data_dir = \"/var/lib/crispin\"\n[imap]\nlisten = [\"0.0.0.0:143\"]\n")
                .unwrap();
        assert_eq!(c.imap.listen[0].port(), 143);
        assert_eq!(c.limits.max_message_size, 64 * 1024 * 1024);
        assert!(toml::from_str::<Config>("bogus = 1").is_err());
    }

    #[test]
    fn example_config_is_valid() {
        let text = include_str!("../../../crispin.example.toml");
        let c: Config = toml::from_str(text).unwrap();
        c.validate().unwrap();
    }
}
