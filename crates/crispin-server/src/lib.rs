//! Configuration, listeners, authentication and wiring: everything that
//! turns the store and the IMAP session into a running server.

pub mod config;
pub mod server;
pub mod tls;

pub use config::Config;
/// Logins live in their own crate; re-exported for the binary and tests.
pub use crispin_auth as auth;
pub use server::{RunningServer, start};
