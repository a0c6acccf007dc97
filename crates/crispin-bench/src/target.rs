//! The server under test: where to connect and how to log in.

use crate::imap::Conn;
use crate::lmtp::Lmtp;
use anyhow::{Result, anyhow};
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct Target {
    /// host:port of the IMAP listener.
    pub imap: String,
    /// host:port of the LMTP listener, when there is one.
    pub lmtp: Option<String>,
    /// One password for every benchmark account.
    pub password: String,
    /// Domain for LMTP recipients (`user@domain`).
    pub domain: String,
    /// Longest wait for any one response.
    pub timeout: Duration,
}

impl Target {
    pub async fn connect(&self) -> Result<Conn> {
        Conn::connect(&self.imap, self.timeout).await
    }

    /// Connects and logs in as `user`.
    pub async fn login(&self, user: &str) -> Result<Conn> {
        let mut conn = self.connect().await?;
        conn.login(user, &self.password).await?;
        Ok(conn)
    }

    pub async fn lmtp(&self) -> Result<Lmtp> {
        let addr = self
            .lmtp
            .as_deref()
            .ok_or_else(|| anyhow!("this needs an LMTP address (--lmtp HOST:PORT)"))?;
        Lmtp::connect(addr, self.timeout).await
    }

    pub fn rcpt(&self, user: &str) -> String {
        format!("{user}@{}", self.domain)
    }
}

/// How messages get into the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Via {
    Append,
    Lmtp,
}

impl Via {
    pub fn name(self) -> &'static str {
        match self {
            Via::Append => "APPEND",
            Via::Lmtp => "LMTP",
        }
    }
}

/// The sender of every LMTP delivery.
pub const SENDER: &str = "bench@bench.example";
