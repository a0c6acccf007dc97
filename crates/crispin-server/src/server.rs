//! Listeners and the server's lifetime: bind, accept, hand each
//! connection to an IMAP session, and shut down cleanly.

use crate::config::{Config, Plaintext};
use crate::tls::Tls;
use crispin_auth::AuthService;
use crispin_imap::{ConnInfo, ImapContext, SessionConfig};
use crispin_store::{OpenMode, Store};
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
    #[error("cannot listen on {}: {source}", path.display())]
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
    #[error("{}: {source}", path.display())]
    Lock {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error(
        "{} is in use by another `crispin serve` (pid {pid}); two servers on one data_dir would disagree about what is stored",
        dir.display()
    )]
    Locked {
        dir: std::path::PathBuf,
        pid: String,
    },
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The changed keys a reload cannot apply: what is bound, opened or
/// shared with the LMTP listeners at start.
fn needs_restart(old: &Config, new: &Config) -> Vec<&'static str> {
    let mut keys = Vec::new();
    let mut check = |changed: bool, key: &'static str| {
        if changed {
            keys.push(key);
        }
    };
    check(old.data_dir != new.data_dir, "data_dir");
    check(old.store.backend != new.store.backend, "store.backend");
    check(old.imap.listen != new.imap.listen, "imap.listen");
    check(old.imaps.listen != new.imaps.listen, "imaps.listen");
    check(old.lmtp.listen != new.lmtp.listen, "lmtp.listen");
    check(
        old.lmtp.unix_socket != new.lmtp.unix_socket,
        "lmtp.unix_socket",
    );
    check(old.lmtp.hostname != new.lmtp.hostname, "lmtp.hostname");
    check(
        old.lmtp.max_recipients != new.lmtp.max_recipients,
        "lmtp.max_recipients",
    );
    check(
        old.lmtp.postmaster != new.lmtp.postmaster,
        "lmtp.postmaster",
    );
    check(
        old.lmtp.unix_socket_mode != new.lmtp.unix_socket_mode
            || old.lmtp.unix_socket_group != new.lmtp.unix_socket_group,
        "lmtp.unix_socket_mode/group",
    );
    // IMAP's APPENDLIMIT takes the new value at once; LMTP's SIZE was
    // handed to the LMTP listener at start.
    check(
        old.limits.max_message_size != new.limits.max_message_size,
        "limits.max_message_size (for LMTP; IMAP uses the new value now)",
    );
    check(old.tls.enabled != new.tls.enabled, "tls.enabled");
    check(old.log_format != new.log_format, "log_format");
    keys
}

/// Opens the store the configuration names (`[store]`, `data_dir`); see
/// [`OpenMode`] for who may create one.
pub async fn open_store(
    config: &Config,
    mode: OpenMode,
) -> Result<Arc<dyn Store>, crispin_store::StoreError> {
    crispin_store::open(&config.store_config(), mode).await
}

/// The one `crispin serve` of a data directory: an exclusive lock on
/// `data_dir/serve.lock`, held as long as the server runs (the kernel
/// drops it when the process dies, so a crash leaves nothing stale).
pub struct DataDirLock {
    _file: std::fs::File,
}

impl DataDirLock {
    pub fn acquire(dir: &std::path::Path) -> Result<DataDirLock, ServerError> {
        use std::io::{Read, Seek, Write};
        use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
        let path = dir.join("serve.lock");
        let err = |source| ServerError::Lock {
            path: path.clone(),
            source,
        };
        if !dir.exists() {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .map_err(|source| ServerError::Lock {
                    path: dir.to_path_buf(),
                    source,
                })?;
        }
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&path)
            .map_err(err)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                let mut pid = String::new();
                let _ = file.read_to_string(&mut pid);
                let pid = pid.trim();
                return Err(ServerError::Locked {
                    dir: dir.to_path_buf(),
                    pid: if pid.is_empty() { "unknown" } else { pid }.to_string(),
                });
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(err(e)),
        }
        file.set_len(0)
            .and_then(|()| file.rewind())
            .and_then(|()| writeln!(file, "{}", std::process::id()))
            .map_err(err)?;
        Ok(DataDirLock { _file: file })
    }
}

/// Binds a TCP listener. IPv6 sockets are IPv6 only, so that `0.0.0.0:143`
/// and `[::]:143` can both be listed (Linux's default `bindv6only = 0`
/// would make `[::]` take the IPv4 port too, and the second bind fail).
fn bind_tcp(addr: SocketAddr) -> Result<TcpListener, ServerError> {
    use socket2::{Domain, Socket, Type};
    let err = |source| ServerError::Bind { addr, source };
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None).map_err(err)?;
    if addr.is_ipv6() {
        socket.set_only_v6(true).map_err(err)?;
    }
    socket.set_reuse_address(true).map_err(err)?;
    socket.set_nonblocking(true).map_err(err)?;
    socket.bind(&addr.into()).map_err(err)?;
    socket.listen(1024).map_err(err)?;
    TcpListener::from_std(socket.into()).map_err(err)
}

/// A server that is accepting connections.
pub struct RunningServer {
    /// The addresses actually bound (useful with port 0).
    pub imap_addrs: Vec<SocketAddr>,
    pub imaps_addrs: Vec<SocketAddr>,
    pub lmtp_addrs: Vec<SocketAddr>,
    pub store: Arc<dyn Store>,
    pub tls: Option<Arc<Tls>>,
    shutdown: CancellationToken,
    tracker: TaskTracker,
    shared: Arc<Listening>,
    auth: Arc<AuthService>,
    /// The configuration in effect, to tell what a reload changes.
    applied: Mutex<Config>,
    /// Released when the server is dropped, after the store is closed.
    _lock: DataDirLock,
}

impl RunningServer {
    /// Re-reads the TLS certificate and key; connections in progress are
    /// not affected.
    pub fn reload_tls(&self) {
        if let Some(tls) = &self.tls {
            let config = lock(&self.applied).clone();
            match tls.reload(&config.tls, &config.data_dir) {
                Ok(()) => tracing::info!("TLS certificate reloaded"),
                Err(e) => {
                    tracing::error!(error = %e, "TLS reload failed; keeping the old certificate")
                }
            }
        }
    }

    /// Applies a new configuration (SIGHUP): the TLS certificate, limits
    /// and the login policy take effect for new connections and logins;
    /// sessions under way keep the limits they started with. Returns the
    /// changed keys that only a restart applies (they keep their old
    /// values until then). The log filter is the caller's (it owns the
    /// subscriber).
    pub fn reload(&self, new: &Config) -> Vec<&'static str> {
        let mut applied = lock(&self.applied);
        let restart = needs_restart(&applied, new);
        // What needs a restart keeps its old value in what is applied.
        let mut next = new.clone();
        next.data_dir = applied.data_dir.clone();
        next.store = applied.store.clone();
        next.imap = applied.imap.clone();
        next.imaps = applied.imaps.clone();
        next.lmtp = applied.lmtp.clone();
        next.tls.enabled = applied.tls.enabled;
        if let Some(tls) = &self.tls {
            match tls.reload(&next.tls, &next.data_dir) {
                Ok(()) => tracing::info!("TLS certificate reloaded"),
                Err(e) => {
                    tracing::error!(error = %e, "TLS reload failed; keeping the old certificate");
                    next.tls = applied.tls.clone();
                }
            }
        }
        let old_ctx = self.shared.ctx.config();
        let mut limits = old_ctx.limits.clone();
        limits.max_line = next.limits.max_line_length;
        limits.max_message = next.limits.max_message_size;
        limits.max_literal = (next.limits.max_line_length as u64).max(64 * 1024);
        self.shared.ctx.set_config(session_config(&next, limits));
        *self
            .shared
            .policy
            .write()
            .unwrap_or_else(|e| e.into_inner()) = Policy::of(&next);
        self.auth
            .reconfigure(next.auth.clone(), next.limits.max_connections_per_user_ip);
        *applied = next;
        restart
    }
    /// Stops accepting, tells every client `* BYE` once its current
    /// command has finished, waits for sessions to end, closes the store.
    pub async fn shutdown(self) {
        self.shutdown.cancel();
        self.tracker.close();
        // The grace period, and time for the commands it let finish.
        let grace = self.shared.ctx.config().shutdown_grace + Duration::from_secs(10);
        if tokio::time::timeout(grace, self.tracker.wait())
            .await
            .is_err()
        {
            tracing::warn!(secs = grace.as_secs(), "some sessions did not end in time");
        }
        self.store.close().await;
    }
}

pub async fn start(config: &Config) -> Result<RunningServer, ServerError> {
    // Before anything touches the directory: a second server must not
    // migrate, rebind the feed socket or write anything.
    let lock = DataDirLock::acquire(&config.data_dir)?;
    let store = open_store(config, OpenMode::CreateIfMissing).await?;
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
        let ips: Vec<IpAddr> = config
            .imap
            .listen
            .iter()
            .chain(&config.imaps.listen)
            .map(|a| a.ip())
            .collect();
        Some(Arc::new(Tls::load(&config.tls, &config.data_dir, &ips)?))
    } else {
        None
    };
    // Every listener is bound before any is announced or served: a port
    // that is taken stops the start before a client is told we are up.
    let bind_all = |addrs: &[SocketAddr]| -> Result<Vec<(SocketAddr, TcpListener)>, ServerError> {
        addrs
            .iter()
            .map(|addr| {
                let listener = bind_tcp(*addr)?;
                Ok((listener.local_addr().unwrap_or(*addr), listener))
            })
            .collect()
    };
    let imap = bind_all(&config.imap.listen)?;
    let imaps = bind_all(&config.imaps.listen)?;
    let lmtp_tcp = bind_all(&config.lmtp.listen)?;
    let lmtp_unix = match &config.lmtp.unix_socket {
        Some(path) => {
            let mode = config.lmtp.socket_mode()?;
            let group = config.lmtp.unix_socket_group.as_deref();
            Some((path.clone(), mode, bind_lmtp_socket(path, mode, group)?))
        }
        None => None,
    };
    store
        .listen_for_other_processes()
        .map_err(|source| ServerError::Unix {
            path: config.data_dir.join("feed.sock"),
            source,
        })?;

    let auth = Arc::new(AuthService::new(
        store.clone(),
        config.auth.clone(),
        config.limits.max_connections_per_user_ip,
    ));
    let mut notices = store.account_notices();
    let unlocker = auth.clone();
    let stop = shutdown.clone();
    tracker.spawn(async move {
        loop {
            tokio::select! {
                n = notices.recv() => match n {
                    Ok(crispin_store::AccountNotice::Unlock(name)) => {
                        unlocker.unlock(&name);
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                    Err(_) => return,
                },
                _ = stop.cancelled() => return,
            }
        }
    });
    let ctx = Arc::new(ImapContext::new(
        store.clone(),
        auth.clone(),
        tls.clone().map(|t| t as Arc<dyn crispin_auth::TlsUpgrade>),
        session_config(config, limits),
        shutdown.clone(),
    ));
    let shared = Arc::new(Listening {
        ctx,
        tls: tls.clone(),
        policy: std::sync::RwLock::new(Policy::of(config)),
        per_ip: Mutex::default(),
        tracker: tracker.clone(),
    });
    let mut bound = [Vec::new(), Vec::new()];
    for (implicit_tls, listeners) in [(false, imap), (true, imaps)] {
        for (local, listener) in listeners {
            tracing::info!(addr = %local, tls = implicit_tls, "IMAP listening");
            bound[usize::from(implicit_tls)].push(local);
            tracker.spawn(accept_loop(listener, shared.clone(), implicit_tls));
        }
    }
    let [imap_addrs, imaps_addrs] = bound;
    let lmtp = Arc::new(crispin_delivery::Lmtp {
        store: store.clone(),
        config: crispin_delivery::LmtpConfig {
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
    for (local, listener) in lmtp_tcp {
        tracing::info!(addr = %local, "LMTP listening");
        lmtp_addrs.push(local);
        lmtp_listeners.push(LmtpListener::Tcp(listener));
    }
    if let Some((path, mode, listener)) = lmtp_unix {
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
    Ok(RunningServer {
        imap_addrs,
        imaps_addrs,
        lmtp_addrs,
        store,
        tls,
        shutdown,
        tracker,
        shared,
        auth,
        applied: Mutex::new(config.clone()),
        _lock: lock,
    })
}

fn session_config(config: &Config, limits: crispin_proto::Limits) -> SessionConfig {
    SessionConfig {
        limits,
        idle_keepalive: Duration::from_secs(config.limits.idle_keepalive_secs),
        idle_recheck: Duration::from_secs(30),
        login_timeout: Duration::from_secs(config.limits.login_timeout_secs),
        autologout: Duration::from_secs(config.limits.autologout_secs),
        shutdown_grace: Duration::from_secs(config.limits.shutdown_grace_secs),
        hidden: config.imap.hide_capabilities.rules(),
    }
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
    policy: std::sync::RwLock<Policy>,
    per_ip: Mutex<HashMap<IpAddr, usize>>,
    tracker: TaskTracker,
}

/// The connection policy, replaced on reload.
#[derive(Clone, Copy)]
struct Policy {
    plaintext: Plaintext,
    max_per_ip: usize,
}

impl Policy {
    fn of(config: &Config) -> Policy {
        Policy {
            plaintext: config.auth.plaintext,
            max_per_ip: config.limits.max_connections_per_ip,
        }
    }
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
        if *n >= self.policy().max_per_ip {
            return None;
        }
        *n += 1;
        Some(IpSlot {
            shared: self.clone(),
            ip,
        })
    }

    fn policy(&self) -> Policy {
        *self.policy.read().unwrap_or_else(|e| e.into_inner())
    }

    fn plaintext_ok(&self, peer: SocketAddr) -> bool {
        match self.policy().plaintext {
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
        tracing::warn!(%peer, "connection refused: too many from this address");
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
    let stream: Box<dyn crispin_proto::Stream> = Box::new(QuickAck(stream));
    let stream = match (&shared.tls, implicit_tls) {
        (Some(tls), true) => match tls.accept(stream).await {
            Ok((s, exporter)) => {
                info.tls = true;
                info.plaintext_ok = true;
                info.tls_exporter = exporter;
                s
            }
            Err(e) => {
                tracing::info!(error = %e, "TLS handshake failed");
                return;
            }
        },
        _ => stream,
    };
    let started = std::time::Instant::now();
    tracing::info!(tls = info.tls, "connection opened");
    crispin_imap::run_session(shared.ctx.clone(), stream, info).await;
    tracing::info!(secs = started.elapsed().as_secs(), "connection closed");
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
        shared.tracker.spawn(tracing::Instrument::instrument(
            connection(shared.clone(), stream, peer, implicit_tls),
            tracing::info_span!("imap", %peer, user = tracing::field::Empty),
        ));
    }
}

/// A TCP stream that acknowledges at once whenever what arrived does not
/// end a line. A client that writes a command and its CRLF separately
/// (IMAPClient does) holds the CRLF back under Nagle's algorithm until its
/// first segment is acknowledged, and Linux delays that ACK by 40 ms when
/// it has nothing to send: every such command would cost 40 ms. Quick-ACK
/// mode does not stick (the kernel leaves it on its own), hence once per
/// read. Under TLS the last byte is ciphertext, so nearly every read asks.
struct QuickAck(TcpStream);

impl tokio::io::AsyncRead for QuickAck {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = std::pin::Pin::new(&mut self.0).poll_read(cx, buf);
        if polled.is_ready() {
            let new = &buf.filled()[before..];
            if new.last().is_some_and(|&b| b != b'\n') {
                let _ = socket2::SockRef::from(&self.0).set_tcp_quickack(true);
            }
        }
        polled
    }
}

impl tokio::io::AsyncWrite for QuickAck {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        data: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.0).poll_write(cx, data)
    }

    fn poll_write_vectored(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.0).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.0.is_write_vectored()
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.0).poll_shutdown(cx)
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
    lmtp: Arc<crispin_delivery::Lmtp>,
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
