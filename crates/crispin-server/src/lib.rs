//! Configuration, listeners, authentication and wiring: everything that
//! turns the store and the IMAP session into a running server.

pub mod auth;
pub mod config;
pub mod scram;
pub mod server;
pub mod tls;

pub use config::Config;
pub use server::{RunningServer, start};
