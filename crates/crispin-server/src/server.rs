//! Listeners and the server's lifetime: bind, accept, hand each
//! connection to an IMAP session, and shut down cleanly.

use crate::auth::AuthService;
use crate::config::{Config, Plaintext};
use crate::tls::Tls;
use crispin_imap::{ConnInfo, ImapContext, SessionConfig};
use crispin_store::sqlite::SqliteStore;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("cannot open the store: {0}")]
    Store(#[from] crispin_store::StoreError),
    #[error("TLS: {0}")]
    Tls(#[from] crate::tls::TlsError),
    #[error("cannot listen on {path}: {source}")]
    Unix {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("cannot give {path} to group {group:?} (lmtp.unix_socket_group): no such group")]
    NoGroup {
        path: std::path::PathBuf,
        group: String,
    },
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
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
    pub imaps_addrs: Vec<SocketAddr>,
    pub lmtp_addrs: Vec<SocketAddr>,
    pub store: Arc<SqliteStore>,
    pub tls: Option<Arc<Tls>>,
    shutdown: CancellationToken,
    tracker: TaskTracker,
}

impl RunningServer {
    /// Re-reads the TLS certificate and key (on SIGHUP); connections in
    /// progress are not affected.
    pub fn reload_tls(&self) {
        if let Some(tls) = &self.tls {
            match tls.reload() {
                Ok(()) => tracing::info!("TLS certificate reloaded"),
                Err(e) => {
                    tracing::error!(error = %e, "TLS reload failed; keeping the old certificate")
                }
            }
        }
    }

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
    let tls = if config.tls.enabled {
        Some(Arc::new(Tls::load(&config.tls, &config.data_dir)?))
    } else {
        None
    };
    let ctx = Arc::new(ImapContext {
        store: store.clone(),
        auth: Arc::new(AuthService::new(
            store.clone(),
            config.auth.clone(),
            config.limits.max_connections_per_user_ip,
        )),
        tls: tls.clone().map(|t| t as Arc<dyn crispin_imap::TlsUpgrade>),
        config: SessionConfig {
            limits,
            idle_keepalive: Duration::from_secs(config.limits.idle_keepalive_secs),
            idle_recheck: Duration::from_secs(30),
            login_timeout: Duration::from_secs(config.limits.login_timeout_secs),
            autologout: Duration::from_secs(config.limits.autologout_secs),
        },
        shutdown: shutdown.clone(),
    });
    let shared = Arc::new(Listening {
        ctx,
        tls: tls.clone(),
        plaintext: config.auth.plaintext,
        per_ip: Mutex::default(),
        max_per_ip: config.limits.max_connections_per_ip,
        tracker: tracker.clone(),
    });
    let mut bound = [Vec::new(), Vec::new()];
    for (implicit_tls, addrs) in [(false, &config.imap.listen), (true, &config.imaps.listen)] {
        for addr in addrs {
            let listener = TcpListener::bind(addr)
                .await
                .map_err(|source| ServerError::Bind {
                    addr: *addr,
                    source,
                })?;
            let local = listener.local_addr().unwrap_or(*addr);
            tracing::info!(addr = %local, tls = implicit_tls, "IMAP listening");
            bound[usize::from(implicit_tls)].push(local);
            tracker.spawn(accept_loop(listener, shared.clone(), implicit_tls));
        }
    }
    let [imap_addrs, imaps_addrs] = bound;
    let lmtp = Arc::new(crispin_lmtp::Lmtp {
        store: store.clone(),
        config: crispin_lmtp::LmtpConfig {
            hostname: config.lmtp.hostname.clone(),
            max_message_size: config.limits.max_message_size as usize,
            max_recipients: config.lmtp.max_recipients,
            postmaster: config.lmtp.postmaster.clone(),
            ..Default::default()
        },
        shutdown: shutdown.clone(),
    });
    let mut lmtp_addrs = Vec::new();
    let mut lmtp_listeners = Vec::new();
    for addr in &config.lmtp.listen {
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| ServerError::Bind {
                addr: *addr,
                source,
            })?;
        let local = listener.local_addr().unwrap_or(*addr);
        tracing::info!(addr = %local, "LMTP listening");
        lmtp_addrs.push(local);
        lmtp_listeners.push(LmtpListener::Tcp(listener));
    }
    if let Some(path) = &config.lmtp.unix_socket {
        let mode = config.lmtp.socket_mode()?;
        let group = config.lmtp.unix_socket_group.as_deref();
        let listener = bind_lmtp_socket(path, mode, group)?;
        tracing::info!(path = %path.display(), mode = %format!("{mode:04o}"), "LMTP listening");
        lmtp_listeners.push(LmtpListener::Unix(listener));
    }
    for listener in lmtp_listeners {
        tracker.spawn(lmtp_accept_loop(
            listener,
            lmtp.clone(),
            tracker.clone(),
            shutdown.clone(),
        ));
    }
    store
        .listen_for_other_processes()
        .map_err(|source| ServerError::Unix {
            path: config.data_dir.join("feed.sock"),
            source,
        })?;
    Ok(RunningServer {
        imap_addrs,
        imaps_addrs,
        lmtp_addrs,
        store,
        tls,
        shutdown,
        tracker,
    })
}

/// Binds the LMTP Unix socket with the permissions and group the MTA
/// needs to connect (it usually runs as another user). Until the chmod the
/// socket has what the umask gives, never more.
fn bind_lmtp_socket(
    path: &std::path::Path,
    mode: u32,
    group: Option<&str>,
) -> Result<tokio::net::UnixListener, ServerError> {
    use std::os::unix::fs::{DirBuilderExt, FileTypeExt, PermissionsExt};
    let unix = |source| ServerError::Unix {
        path: path.to_path_buf(),
        source,
    };
    // Resolved first, so a bad name fails before anything is created.
    let gid = match group {
        Some(name) => Some(
            group_id(name)
                .map_err(unix)?
                .ok_or_else(|| ServerError::NoGroup {
                    path: path.to_path_buf(),
                    group: name.to_string(),
                })?,
        ),
        None => None,
    };
    // /run is a tmpfs: the directory is gone after every reboot.
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o755)
            .create(dir)
            .map_err(unix)?;
    }
    // A socket left by an earlier run blocks the bind; anything else at
    // the path is not ours to delete.
    if std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_socket()) {
        std::fs::remove_file(path).map_err(unix)?;
    }
    let listener = tokio::net::UnixListener::bind(path).map_err(unix)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).map_err(unix)?;
    if gid.is_some() {
        std::os::unix::fs::chown(path, None, gid).map_err(unix)?;
    }
    Ok(listener)
}

/// The id of the group `name` (through NSS, as `ls -l` sees it), none when
/// there is no such group.
fn group_id(name: &str) -> std::io::Result<Option<u32>> {
    let Ok(cname) = std::ffi::CString::new(name) else {
        return Ok(None);
    };
    let mut buf = vec![0 as libc::c_char; 1024];
    loop {
        // SAFETY: `group` and `buf` outlive the call, `buf.len()` is the
        // buffer's real size, and `result` only ever points into them.
        let mut group: libc::group = unsafe { std::mem::zeroed() };
        let mut result: *mut libc::group = std::ptr::null_mut();
        let rc = unsafe {
            libc::getgrnam_r(
                cname.as_ptr(),
                &mut group,
                buf.as_mut_ptr(),
                buf.len(),
                &mut result,
            )
        };
        match rc {
            0 if result.is_null() => return Ok(None),
            0 => return Ok(Some(group.gr_gid)),
            // Large groups (many members) need a larger buffer.
            libc::ERANGE if buf.len() < 1 << 20 => buf.resize(buf.len() * 2, 0),
            // POSIX lets these mean "not found" too.
            libc::ENOENT | libc::ESRCH | libc::EBADF | libc::EPERM => return Ok(None),
            rc => return Err(std::io::Error::from_raw_os_error(rc)),
        }
    }
}

/// What the accept loops share.
struct Listening {
    ctx: Arc<ImapContext>,
    tls: Option<Arc<Tls>>,
    plaintext: Plaintext,
    per_ip: Mutex<HashMap<IpAddr, usize>>,
    max_per_ip: usize,
    tracker: TaskTracker,
}

/// Counts a connection from an IP for as long as it lives.
struct IpSlot {
    shared: Arc<Listening>,
    ip: IpAddr,
}

impl Drop for IpSlot {
    fn drop(&mut self) {
        let mut map = self.shared.per_ip.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = map.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                map.remove(&self.ip);
            }
        }
    }
}

impl Listening {
    fn take_slot(self: &Arc<Self>, ip: IpAddr) -> Option<IpSlot> {
        let mut map = self.per_ip.lock().unwrap_or_else(|e| e.into_inner());
        let n = map.entry(ip).or_insert(0);
        if *n >= self.max_per_ip {
            return None;
        }
        *n += 1;
        Some(IpSlot {
            shared: self.clone(),
            ip,
        })
    }

    fn plaintext_ok(&self, peer: SocketAddr) -> bool {
        match self.plaintext {
            Plaintext::Always => true,
            Plaintext::Never => false,
            Plaintext::Loopback => peer.ip().to_canonical().is_loopback(),
        }
    }
}

async fn connection(
    shared: Arc<Listening>,
    stream: TcpStream,
    peer: SocketAddr,
    implicit_tls: bool,
) {
    let Some(slot) = shared.take_slot(peer.ip()) else {
        use tokio::io::AsyncWriteExt;
        let mut stream = stream;
        let _ = stream
            .write_all(b"* BYE Too many connections from your address\r\n")
            .await;
        return;
    };
    let mut info = ConnInfo {
        peer,
        tls: false,
        plaintext_ok: shared.plaintext_ok(peer),
        tls_exporter: None,
    };
    let stream: Box<dyn crispin_proto::Stream> = Box::new(stream);
    let stream = match (&shared.tls, implicit_tls) {
        (Some(tls), true) => match tls.accept(stream).await {
            Ok((s, exporter)) => {
                info.tls = true;
                info.plaintext_ok = true;
                info.tls_exporter = exporter;
                s
            }
            Err(e) => {
                tracing::debug!(%peer, error = %e, "TLS handshake failed");
                return;
            }
        },
        _ => stream,
    };
    crispin_imap::run_session(shared.ctx.clone(), stream, info).await;
    drop(slot);
}

async fn accept_loop(listener: TcpListener, shared: Arc<Listening>, implicit_tls: bool) {
    loop {
        let accepted = tokio::select! {
            r = listener.accept() => r,
            _ = shared.ctx.shutdown.cancelled() => return,
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
        shared
            .tracker
            .spawn(connection(shared.clone(), stream, peer, implicit_tls));
    }
}

enum LmtpListener {
    Tcp(TcpListener),
    Unix(tokio::net::UnixListener),
}

impl LmtpListener {
    /// A connection and its peer (none on the Unix socket).
    async fn accept(
        &self,
    ) -> std::io::Result<(Box<dyn crispin_proto::Stream>, Option<SocketAddr>)> {
        Ok(match self {
            LmtpListener::Tcp(l) => {
                let (s, peer) = l.accept().await?;
                (Box::new(s), Some(peer))
            }
            LmtpListener::Unix(l) => (Box::new(l.accept().await?.0), None),
        })
    }
}

async fn lmtp_accept_loop(
    listener: LmtpListener,
    lmtp: Arc<crispin_lmtp::Lmtp>,
    tracker: TaskTracker,
    shutdown: CancellationToken,
) {
    loop {
        let accepted = tokio::select! {
            r = listener.accept() => r,
            _ = shutdown.cancelled() => return,
        };
        match accepted {
            Ok((stream, peer)) => {
                let lmtp = lmtp.clone();
                tracker.spawn(async move {
                    if let Err(e) = lmtp.serve_peer(stream, peer).await {
                        tracing::debug!(error = %e, "LMTP connection ended");
                    }
                });
            }
            Err(e) => {
                tracing::warn!(error = %e, "LMTP accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}
