//! Configuration: a TOML file, every key optional, with defaults that
//! give a working server for a non-root user.

pub use crispin_auth::{AuthConfig, Plaintext};
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Where the database, message files and generated certificates live.
    pub data_dir: PathBuf,
    /// Log filter (`tracing` syntax), overridden by `RUST_LOG`. A bare
    /// level (`debug`) applies to Crispin's own events; dependencies stay
    /// at `warn` unless named (`debug,rustls=info`).
    pub log: String,
    /// `text` (the default) or `json`, one object per line.
    pub log_format: LogFormat,
    pub store: StoreSettings,
    pub imap: ImapConfig,
    pub imaps: ImapsConfig,
    pub lmtp: LmtpConfig,
    pub tls: TlsConfig,
    pub limits: LimitsConfig,
    pub auth: AuthConfig,
}

/// `[store]`: what keeps accounts and mail (the embedded backend keeps
/// them in `data_dir`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StoreSettings {
    pub backend: crispin_store::Backend,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ImapConfig {
    /// Plain IMAP listeners (STARTTLS once TLS is configured).
    pub listen: Vec<SocketAddr>,
    /// `[imap.hide_capabilities]`: capabilities not offered to a client
    /// (by the name it sends in ID) or an account, for the day one
    /// mishandles one: `clients = { "Outlook" = ["QRESYNC"] }`,
    /// `accounts = { "alice" = ["CONDSTORE", "QRESYNC"] }`.
    pub hide_capabilities: HideCapabilities,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HideCapabilities {
    pub clients: std::collections::BTreeMap<String, Vec<String>>,
    pub accounts: std::collections::BTreeMap<String, Vec<String>>,
}

impl HideCapabilities {
    /// As sessions use it: names lower-cased, capabilities upper-cased.
    pub fn rules(&self) -> crispin_imap::HiddenCapabilities {
        let lower = |m: &std::collections::BTreeMap<String, Vec<String>>| {
            m.iter()
                .map(|(k, v)| {
                    (
                        k.to_lowercase(),
                        v.iter().map(|c| c.to_ascii_uppercase()).collect(),
                    )
                })
                .collect()
        };
        crispin_imap::HiddenCapabilities {
            clients: lower(&self.clients),
            accounts: lower(&self.accounts),
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ImapsConfig {
    /// Implicit-TLS listeners (RFC 8314), e.g. port 993.
    pub listen: Vec<SocketAddr>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LmtpConfig {
    /// LMTP listeners for the MTA; keep them on loopback or a private
    /// network: LMTP has no authentication.
    pub listen: Vec<SocketAddr>,
    /// Also listen on this Unix socket.
    pub unix_socket: Option<PathBuf>,
    /// Permissions of the Unix socket, in octal ("0660"): connecting
    /// needs write permission.
    pub unix_socket_mode: String,
    /// Group of the Unix socket (Postfix's lmtp client runs as
    /// `postfix`); none keeps the process's group.
    pub unix_socket_group: Option<String>,
    /// Recipients per transaction.
    pub max_recipients: usize,
    /// Name in the greeting and LHLO reply.
    pub hostname: String,
    /// The account that receives mail for `postmaster`.
    pub postmaster: String,
}

impl LmtpConfig {
    /// `unix_socket_mode` as permission bits.
    pub fn socket_mode(&self) -> Result<u32, ConfigError> {
        let s = &self.unix_socket_mode;
        match u32::from_str_radix(s, 8) {
            Ok(mode) if s.bytes().all(|b| b.is_ascii_digit()) && mode <= 0o777 => Ok(mode),
            _ => Err(ConfigError::Invalid(format!(
                "lmtp.unix_socket_mode must be octal permissions like \"0660\", not {s:?}"
            ))),
        }
    }
}

impl Default for LmtpConfig {
    fn default() -> Self {
        LmtpConfig {
            listen: vec![SocketAddr::from(([127, 0, 0, 1], 2424))],
            unix_socket: None,
            unix_socket_mode: "0660".into(),
            unix_socket_group: None,
            max_recipients: 100,
            hostname: "localhost".into(),
            postmaster: "postmaster".into(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TlsConfig {
    /// Offer TLS (STARTTLS and the `imaps` listeners).
    pub enabled: bool,
    /// PEM certificate chain; with `key` unset, a self-signed certificate
    /// is generated into `data_dir/tls` on first start.
    pub cert: Option<PathBuf>,
    /// PEM private key.
    pub key: Option<PathBuf>,
}

impl Default for TlsConfig {
    fn default() -> Self {
        TlsConfig {
            enabled: true,
            cert: None,
            key: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
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
    /// Simultaneous connections from one IP address.
    pub max_connections_per_ip: usize,
    /// Simultaneous logged-in sessions of one user from one IP address
    /// (a desktop client and several phones behind one NAT must fit).
    pub max_connections_per_user_ip: usize,
    /// At shutdown, seconds a command already arriving (an APPEND literal
    /// in transit) may take to finish before clients get `* BYE`.
    pub shutdown_grace_secs: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            data_dir: PathBuf::from("crispin-data"),
            log: "info".into(),
            log_format: LogFormat::Text,
            store: StoreSettings::default(),
            imap: ImapConfig::default(),
            imaps: ImapsConfig::default(),
            lmtp: LmtpConfig::default(),
            tls: TlsConfig::default(),
            limits: LimitsConfig::default(),
            auth: AuthConfig::default(),
        }
    }
}

impl Default for ImapConfig {
    fn default() -> Self {
        ImapConfig {
            listen: vec![SocketAddr::from(([127, 0, 0, 1], 1143))],
            hide_capabilities: HideCapabilities::default(),
        }
    }
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            max_message_size: 64 * 1024 * 1024,
            // QRESYNC's known-UID lists reach 1 MB (Nextcloud sends
            // hundreds of KB), and a FETCH of 100,000 scattered UIDs ~0.7 MB.
            max_line_length: 2 * 1024 * 1024,
            login_timeout_secs: 60,
            autologout_secs: 30 * 60,
            idle_keepalive_secs: 120,
            max_connections_per_ip: 256,
            max_connections_per_user_ip: 50,
            shutdown_grace_secs: 30,
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
    /// What [`crispin_store::open`] opens.
    pub fn store_config(&self) -> crispin_store::StoreConfig {
        crispin_store::StoreConfig {
            backend: self.store.backend,
            data_dir: self.data_dir.clone(),
        }
    }

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
        log_filter(&self.log)?;
        let hideable = crispin_imap::hideable_capabilities();
        let hide = &self.imap.hide_capabilities;
        for cap in hide
            .clients
            .values()
            .chain(hide.accounts.values())
            .flatten()
        {
            if !hideable.iter().any(|h| h.eq_ignore_ascii_case(cap)) {
                return Err(ConfigError::Invalid(format!(
                    "imap.hide_capabilities: {cap:?} is not a capability that can be hidden ({})",
                    hideable.join(", ")
                )));
            }
        }
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
        if self.tls.cert.is_some() != self.tls.key.is_some() {
            return Err(ConfigError::Invalid(
                "tls.cert and tls.key must be set together".into(),
            ));
        }
        if !self.tls.enabled && !self.imaps.listen.is_empty() {
            return Err(ConfigError::Invalid(
                "imaps listeners need tls.enabled = true".into(),
            ));
        }
        if self.auth.scram_iterations < 1 {
            return Err(ConfigError::Invalid(
                "auth.scram_iterations must be at least 1".into(),
            ));
        }
        if self.auth.argon2_memory_kib < 8 || self.auth.argon2_iterations < 1 {
            return Err(ConfigError::Invalid(
                "auth.argon2_* parameters too small".into(),
            ));
        }
        self.lmtp.socket_mode()?;
        Ok(())
    }
}

/// The crates whose events a bare level in `log` turns on (a target
/// prefix: it covers every `crispin_*` crate).
const OWN_TARGET: &str = "crispin";

/// Parses a log filter. A directive without a target (`debug`) is about
/// Crispin: dependencies stay at `warn` unless a directive names them, so
/// that `debug` shows what the server did, not every SQL statement.
pub fn log_filter(spec: &str) -> Result<tracing_subscriber::EnvFilter, ConfigError> {
    use tracing_subscriber::filter::LevelFilter;
    let mut directives = vec!["warn".to_string()];
    for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        match part.parse::<LevelFilter>() {
            Ok(level) => {
                // Quieter than warn applies everywhere.
                if level < LevelFilter::WARN {
                    directives[0] = part.to_string();
                }
                directives.push(format!("{OWN_TARGET}={part}"));
            }
            Err(_) => directives.push(part.to_string()),
        }
    }
    tracing_subscriber::EnvFilter::builder()
        .with_default_directive(LevelFilter::WARN.into())
        .parse(directives.join(","))
        .map_err(|e| ConfigError::Invalid(format!("log filter {spec:?}: {e}")))
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
    fn hidden_capabilities_are_checked_and_normalised() {
        let c: Config = toml::from_str(
            "[imap.hide_capabilities]\nclients = { \"Outlook\" = [\"qresync\"] }\naccounts = { \"Alice\" = [\"CONDSTORE\"] }\n",
        )
        .unwrap();
        c.validate().unwrap();
        let rules = c.imap.hide_capabilities.rules();
        assert_eq!(rules.clients["outlook"], vec!["QRESYNC".to_string()]);
        assert_eq!(rules.accounts["alice"], vec!["CONDSTORE".to_string()]);
        for bad in ["IMAP4rev1", "STARTTLS", "X-NOTHING"] {
            let c: Config = toml::from_str(&format!(
                "[imap.hide_capabilities]\naccounts = {{ \"a\" = [\"{bad}\"] }}\n"
            ))
            .unwrap();
            assert!(c.validate().is_err(), "{bad}");
        }
    }

    /// What a filter lets through, of a debug and a warn event from
    /// Crispin and from a dependency.
    fn passes(spec: &str) -> String {
        use std::sync::{Arc, Mutex};
        use tracing_subscriber::layer::SubscriberExt;
        #[derive(Clone, Default)]
        struct Buf(Arc<Mutex<Vec<u8>>>);
        impl std::io::Write for Buf {
            fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(b);
                Ok(b.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let buf = Buf::default();
        let out = buf.clone();
        let subscriber = tracing_subscriber::registry()
            .with(log_filter(spec).unwrap())
            .with(
                tracing_subscriber::fmt::layer()
                    .with_ansi(false)
                    .with_writer(move || out.clone()),
            );
        tracing::subscriber::with_default(subscriber, || {
            tracing::debug!(target: "crispin_server::server", "own-debug");
            tracing::warn!(target: "crispin_store::sqlite", "own-warn");
            tracing::debug!(target: "rustls::conn", "dep-debug");
            tracing::info!(target: "rustls::conn", "dep-info");
            tracing::warn!(target: "rustls::conn", "dep-warn");
        });
        let text = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
        ["own-debug", "own-warn", "dep-debug", "dep-info", "dep-warn"]
            .into_iter()
            .filter(|m| text.contains(m))
            .collect::<Vec<_>>()
            .join(" ")
    }

    #[test]
    fn a_bare_level_is_about_crispin() {
        assert_eq!(passes("debug"), "own-debug own-warn dep-warn");
        assert_eq!(passes("info"), "own-warn dep-warn");
        assert_eq!(
            passes("debug,rustls=info"),
            "own-debug own-warn dep-info dep-warn"
        );
        assert_eq!(passes("error"), "");
        assert_eq!(
            passes("crispin_server=debug"),
            "own-debug own-warn dep-warn"
        );
    }

    #[test]
    fn an_unparseable_log_filter_is_a_configuration_error() {
        for bad in ["crispin=loud", "info,[unclosed", "rustls=nonsense"] {
            assert!(log_filter(bad).is_err(), "{bad}");
            let c: Config = toml::from_str(&format!("log = {bad:?}")).unwrap();
            assert!(c.validate().is_err(), "{bad}");
        }
    }

    #[test]
    fn the_store_backend_is_sqlite_unless_named_and_only_a_known_one() {
        let c = Config::default();
        assert_eq!(c.store.backend, crispin_store::Backend::Sqlite);
        assert_eq!(c.store_config().data_dir, c.data_dir);
        let c: Config = toml::from_str("[store]\nbackend = \"sqlite\"\n").unwrap();
        assert_eq!(c.store.backend, crispin_store::Backend::Sqlite);
        for bad in ["postgres", "SQLite", ""] {
            let e = toml::from_str::<Config>(&format!("[store]\nbackend = {bad:?}\n"))
                .unwrap_err()
                .to_string();
            assert!(
                e.contains(&format!("unknown store backend {bad:?}"))
                    && e.contains("the choices are \"sqlite\""),
                "{bad}: {e}"
            );
        }
        assert!(toml::from_str::<Config>("[store]\nbogus = 1\n").is_err());
    }

    #[test]
    fn unix_socket_mode() {
        let mode = |m: &str| {
            let mut c = Config::default();
            c.lmtp.unix_socket_mode = m.into();
            c.validate().map(|()| c.lmtp.socket_mode().unwrap())
        };
        assert_eq!(mode("0660").unwrap(), 0o660);
        assert_eq!(mode("600").unwrap(), 0o600);
        assert_eq!(Config::default().lmtp.socket_mode().unwrap(), 0o660);
        for bad in ["", "0690", "rw-rw----", "+660", "4770", "0x1b6"] {
            let e = mode(bad).unwrap_err().to_string();
            assert!(e.contains("lmtp.unix_socket_mode"), "{bad}: {e}");
        }
    }

    #[test]
    fn example_config_is_valid() {
        let text = include_str!("../../../crispin.example.toml");
        let c: Config = toml::from_str(text).unwrap();
        c.validate().unwrap();
    }
}
