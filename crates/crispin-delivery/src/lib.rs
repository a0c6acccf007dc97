//! How mail gets in: LMTP from an MTA ([`lmtp`]), one message from a
//! local delivery command ([`deliver`], shared by both: recipient mapping,
//! trace fields, the append), and existing mail from Maildir and mbox
//! ([`import`]). It knows the store, not IMAP sessions.

pub mod deliver;
pub mod import;
pub mod lmtp;

pub use lmtp::{Lmtp, LmtpConfig};
