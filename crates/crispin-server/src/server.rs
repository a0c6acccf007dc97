//! Listeners and the server's lifetime: bind, accept, hand each
//! connection to an IMAP session, and shut down cleanly.

use crate::auth::PasswordAuth;
use crate::config::Config;
use crispin_imap::{ConnInfo, ImapContext, SessionConfig};
use crispin_store::sqlite::SqliteStore;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("cannot open the store: {0}")]
    Store(#[from] crispin_store::StoreError),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

pub async fn open_store(config: &Config) -> Result<Arc<SqliteStore>, crispin_store::StoreError> {
    Ok(Arc::new(SqliteStore::open(&config.data_dir).await?))
}

/// A server that is accepting connections.
pub struct RunningServer {
    /// The addresses actually bound (useful with port 0).
    pub imap_addrs: Vec<SocketAddr>,
    pub store: Arc<SqliteStore>,
    shutdown: CancellationToken,
    tracker: TaskTracker,
}

impl RunningServer {
    /// Stops accepting, tells every client `* BYE` once its current
    /// command has finished, waits for sessions to end, closes the store.
    pub async fn shutdown(self) {
        self.shutdown.cancel();
        self.tracker.close();
        if tokio::time::timeout(Duration::from_secs(30), self.tracker.wait())
            .await
            .is_err()
        {
            tracing::warn!("some sessions did not end within 30 s");
        }
        self.store.close().await;
    }
}

pub async fn start(config: &Config) -> Result<RunningServer, ServerError> {
    let store = open_store(config).await?;
    let shutdown = CancellationToken::new();
    let tracker = TaskTracker::new();
    let limits = crispin_proto::Limits {
        max_line: config.limits.max_line_length,
        max_message: config.limits.max_message_size,
        max_literal: (config.limits.max_line_length as u64).max(64 * 1024),
        spool_threshold: 1024 * 1024,
        spool_dir: store.spool_dir().to_path_buf(),
    };
    let ctx = Arc::new(ImapContext {
        store: store.clone(),
        auth: Arc::new(PasswordAuth::new(store.clone())),
        tls: None,
        config: SessionConfig {
            limits,
            idle_keepalive: Duration::from_secs(config.limits.idle_keepalive_secs),
            idle_recheck: Duration::from_secs(30),
            login_timeout: Duration::from_secs(config.limits.login_timeout_secs),
            autologout: Duration::from_secs(config.limits.autologout_secs),
        },
        shutdown: shutdown.clone(),
    });
    let mut imap_addrs = Vec::new();
    for addr in &config.imap.listen {
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| ServerError::Bind {
                addr: *addr,
                source,
            })?;
        let local = listener.local_addr().unwrap_or(*addr);
        imap_addrs.push(local);
        tracing::info!(addr = %local, "IMAP listening");
        tracker.spawn(accept_loop(listener, ctx.clone(), tracker.clone()));
    }
    Ok(RunningServer {
        imap_addrs,
        store,
        shutdown,
        tracker,
    })
}

async fn accept_loop(listener: TcpListener, ctx: Arc<ImapContext>, tracker: TaskTracker) {
    loop {
        let accepted = tokio::select! {
            r = listener.accept() => r,
            _ = ctx.shutdown.cancelled() => return,
        };
        let (stream, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // Usually out of file descriptors: back off instead of
                // spinning.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let info = ConnInfo {
            peer,
            tls: false,
            plaintext_ok: true,
            tls_exporter: None,
        };
        tracker.spawn(crispin_imap::run_session(
            ctx.clone(),
            Box::new(stream),
            info,
        ));
    }
}
