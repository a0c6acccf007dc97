//! Test support for the workspace, defined once: a line-oriented IMAP
//! [`Client`] over any stream, a typed reading of server lines
//! ([`response`]), an in-process harness of IMAP sessions ([`TestImap`])
//! and, with the `server` feature, the whole server on ephemeral ports
//! (`TestServer`).
//!
//! A test of an IMAP command runs against [`TestImap`]
//! (`crates/crispin-imap/tests/`, see the README there); a test of what
//! only the server does (TLS, listeners, limits per address, back-off
//! timing, LMTP, shutdown, reload) against `TestServer`
//! (`crates/crispin-server/tests/`).

mod client;
pub mod hooked;
mod imap;
pub mod response;
#[cfg(feature = "server")]
mod server;

pub use client::Client;
pub use hooked::{HookedStore, Op, expunge_now};
pub use imap::{
    TestImap, TestImapBuilder, open_store, selected_with, test_auth_config, two_sessions,
};
pub use response::{
    Esearch, Line, Status, Tagged, Untagged, apply_expunges, assert_bad, assert_bad_tag, assert_no,
    assert_ok, attrs, code_args, code_value, esearch, expand, expunges, flags_in, item, names,
    search_result, set, tagged, untagged,
};
#[cfg(feature = "server")]
pub use server::{TestServer, test_config};

use std::time::Duration;

/// Generous bound for any single response: a hang fails the test instead
/// of blocking CI. Tests never rely on anything being fast.
pub const TIMEOUT: Duration = Duration::from_secs(20);

/// The accounts every harness starts with, and their passwords.
pub const USERS: [(&str, &str); 2] = [("alice", "alice-pw"), ("bob", "bob-pw")];

/// The mailboxes a new account has, in LIST order.
pub const DEFAULT_MAILBOXES: [&str; 6] = ["Archive", "Drafts", "INBOX", "Junk", "Sent", "Trash"];

// The exact capability lists (crispin-imap's session.rs `capabilities()`):
// update these when a capability is added or removed.

/// Advertised in every state.
pub const COMMON_CAPS: &str = "IMAP4rev1 LITERAL+ ID ENABLE IDLE NAMESPACE SASL-IR";

/// CAPABILITY before login where plaintext logins are allowed and
/// STARTTLS is not offered (the in-process sessions); `appendlimit` is
/// the largest message accepted.
pub fn caps_before_login(appendlimit: u64) -> String {
    format!("{COMMON_CAPS} AUTH=PLAIN AUTH=LOGIN AUTH=SCRAM-SHA-256 APPENDLIMIT={appendlimit}")
}

/// CAPABILITY after login.
pub fn caps_after_login(appendlimit: u64) -> String {
    format!(
        "{COMMON_CAPS} UNSELECT UIDPLUS MOVE CHILDREN SPECIAL-USE CREATE-SPECIAL-USE ESEARCH CONDSTORE QRESYNC STATUS=SIZE APPENDLIMIT={appendlimit}"
    )
}

/// Standard base64, as SASL exchanges use it.
pub fn b64(data: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(data)
}

/// A small well-formed message.
pub fn message(subject: &str, body: &str) -> Vec<u8> {
    format!(
        "From: Alice <alice@example.org>\r\nTo: Bob <bob@example.org>\r\nSubject: {subject}\r\nDate: Mon, 7 Feb 1994 21:52:25 -0800\r\nMessage-ID: <{subject}@example.org>\r\n\r\n{body}\r\n"
    )
    .into_bytes()
}
