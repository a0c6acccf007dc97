//! Commands that only talk about the server: CAPABILITY, LOGOUT and ID
//! (RFC 2971), valid in any state, and ENABLE (RFC 5161) and NAMESPACE
//! (RFC 2342) once logged in. NOOP and CHECK have no handler: their answer
//! is what the reporter says after them (see their spec rows).

use crate::names::DELIMITER;
use crate::session::{Session, Status};
use crispin_proto::response::Data;

/// Extensions a client can ENABLE (RFC 5161 §3.1).
const ENABLEABLE: &[&str] = &["CONDSTORE", "QRESYNC"];

/// When a capability is advertised.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Advertised {
    Always,
    /// Before login, on a connection that can still start TLS.
    StartTls,
    LoggedIn,
}

/// The capabilities, in the order they are listed. The `AUTH=` mechanisms
/// or `LOGINDISABLED` follow the first group before login, `APPENDLIMIT`
/// ends the list.
const CAPABILITIES: &[(&str, Advertised)] = &[
    ("IMAP4rev1", Advertised::Always),
    ("LITERAL+", Advertised::Always),
    ("ID", Advertised::Always),
    ("ENABLE", Advertised::Always),
    ("IDLE", Advertised::Always),
    ("NAMESPACE", Advertised::Always),
    ("SASL-IR", Advertised::Always),
    ("STARTTLS", Advertised::StartTls),
    ("UNSELECT", Advertised::LoggedIn),
    ("UIDPLUS", Advertised::LoggedIn),
    ("MOVE", Advertised::LoggedIn),
    ("CHILDREN", Advertised::LoggedIn),
    ("SPECIAL-USE", Advertised::LoggedIn),
    ("CREATE-SPECIAL-USE", Advertised::LoggedIn),
    ("ESEARCH", Advertised::LoggedIn),
    ("CONDSTORE", Advertised::LoggedIn),
    ("QRESYNC", Advertised::LoggedIn),
    // RFC 8438: STATUS SIZE (tests/status.rs).
    ("STATUS=SIZE", Advertised::LoggedIn),
];

/// See [`crate::hideable_capabilities`].
pub(crate) fn hideable() -> Vec<&'static str> {
    CAPABILITIES
        .iter()
        .filter(|(name, when)| *when != Advertised::StartTls && *name != "IMAP4rev1")
        .map(|(name, _)| *name)
        .collect()
}

impl Session {
    /// Whether the settings hide `cap` from this client or account.
    fn hidden(&self, cap: &str) -> bool {
        let hidden = &self.config.hidden;
        let listed = |map: &std::collections::HashMap<String, Vec<String>>,
                      key: &Option<String>| {
            key.as_ref()
                .and_then(|k| map.get(k))
                .is_some_and(|caps| caps.iter().any(|c| c == cap))
        };
        listed(&hidden.clients, &self.client_name) || listed(&hidden.accounts, &self.account_name)
    }

    pub fn capabilities(&self, logged_in: bool) -> Vec<String> {
        let start_tls = !self.info.tls && self.ctx.tls.is_some() && !logged_in;
        let mut caps = Vec::new();
        for &(name, when) in CAPABILITIES {
            if self.hidden(name) {
                continue;
            }
            let listed = match when {
                Advertised::Always => true,
                Advertised::StartTls => start_tls,
                Advertised::LoggedIn => logged_in,
            };
            if listed {
                caps.push(name.to_string());
            }
        }
        if !logged_in {
            // Only the group before the logged-in extensions is listed
            // before login, so this lands right after it.
            if self.info.plaintext_ok {
                for m in self.ctx.auth.mechanisms(&self.info) {
                    caps.push(format!("AUTH={m}"));
                }
            } else {
                caps.push("LOGINDISABLED".into());
            }
        }
        caps.push(format!("APPENDLIMIT={}", self.config.limits.max_message));
        caps
    }

    pub(crate) fn capability(&mut self, logged_in: bool) -> Status {
        let caps = self.capabilities(logged_in);
        self.data(Data::Capability(&caps));
        Status::ok("CAPABILITY completed")
    }

    pub(crate) fn logout(&mut self) -> Status {
        self.untagged(Status::bye("Logging out"));
        Status::ok("LOGOUT completed")
    }

    pub(crate) fn id(&mut self, params: Option<&[(String, Option<String>)]>) -> Status {
        self.client_id = client_id(params);
        self.client_name = params.and_then(|p| {
            p.iter()
                .find(|(k, _)| k.eq_ignore_ascii_case("name"))
                .and_then(|(_, v)| v.as_ref())
                .map(|v| v.to_lowercase())
        });
        if let Some(id) = &self.client_id {
            tracing::debug!(client = %id, "client identified itself");
        }
        self.data(Data::Id(&[
            ("name", "Crispin"),
            ("version", env!("CARGO_PKG_VERSION")),
        ]));
        Status::ok("ID completed")
    }

    pub(crate) fn namespace(&mut self) -> Status {
        // One personal namespace, the account's own mailboxes.
        self.data(Data::Namespace {
            personal: &[("", DELIMITER)],
            other: &[],
            shared: &[],
        });
        Status::ok("NAMESPACE completed")
    }

    pub(crate) fn enable(&mut self, caps: Vec<String>) -> Status {
        // Unknown capabilities are ignored, as RFC 5161 requires; the
        // names are compared without case (RFC 5161 §4's atoms).
        let mut enabled: Vec<String> = Vec::new();
        for c in caps {
            let c = c.to_ascii_uppercase();
            if ENABLEABLE.contains(&c.as_str()) && !self.enabled.contains(&c) && !self.hidden(&c) {
                enabled.push(c);
            }
        }
        for c in &enabled {
            match c.as_str() {
                "CONDSTORE" => self.enable_condstore(),
                // QRESYNC implies CONDSTORE (RFC 7162 §3.2.3).
                "QRESYNC" => {
                    self.qresync = true;
                    self.enable_condstore();
                }
                _ => {}
            }
        }
        // Listed in ENABLED once per session, even when a command had
        // already turned it on implicitly: the client asked, it is on.
        self.enabled.extend(enabled.iter().cloned());
        self.data(Data::Enabled(&enabled));
        Status::ok("ENABLE completed")
    }

    /// CONDSTORE on from now until the connection ends (RFC 7162 §3.1):
    /// by ENABLE, or by the first command that uses it.
    pub(crate) fn enable_condstore(&mut self) {
        self.condstore = true;
    }
}

/// `name "version"` from an ID list, bounded (it is the client's text).
fn client_id(params: Option<&[(String, Option<String>)]>) -> Option<String> {
    let field = |key: &str| {
        params?
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .and_then(|(_, v)| v.clone())
    };
    let mut id = field("name")?;
    if let Some(version) = field("version") {
        id.push(' ');
        id.push_str(&version);
    }
    Some(id.chars().filter(|c| !c.is_control()).take(100).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A command's capability column names something we advertise, at a
    /// time the command can be used.
    #[test]
    fn every_command_capability_is_advertised() {
        use crispin_proto::spec::{ALL, Allowed};
        for row in ALL {
            let Some(cap) = row.capability else { continue };
            let Some(&(_, when)) = CAPABILITIES.iter().find(|(name, _)| *name == cap) else {
                panic!("{} needs {cap}, which is not advertised", row.name);
            };
            let usable = match when {
                Advertised::Always => true,
                Advertised::StartTls => row.allowed != Allowed::Authenticated,
                Advertised::LoggedIn => row.allowed != Allowed::NotAuthenticated,
            };
            assert!(usable, "{} is advertised when it cannot be used", row.name);
        }
    }
}
