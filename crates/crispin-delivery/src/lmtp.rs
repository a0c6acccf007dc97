//! LMTP (RFC 2033): how an MTA hands mail to Crispin. The grammar comes
//! from `smtp-proto`; the per-recipient replies after the data are ours.
//!
//! A `250` for a recipient is sent only after that recipient's copy is
//! durably stored; a recipient whose copy cannot be stored gets `451`, and
//! nothing of it is kept.

use crate::deliver::{self, Recipient, ResolveError};
use crispin_store::{Flags, Store, StoreError};
use smtp_proto::request::receiver::{BdatReceiver, MAX_LINE_LENGTH, RequestReceiver};
use smtp_proto::{Error as SmtpError, Request};
use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio_util::sync::CancellationToken;

#[derive(Debug, Clone)]
pub struct LmtpConfig {
    pub hostname: String,
    /// Largest message accepted, in bytes (advertised as SIZE).
    pub max_message_size: usize,
    pub max_recipients: usize,
    /// Inactivity before the connection is dropped.
    pub timeout: Duration,
    /// The account that mail for `postmaster` (any domain, or none)
    /// goes to.
    pub postmaster: String,
}

impl Default for LmtpConfig {
    fn default() -> Self {
        LmtpConfig {
            hostname: "localhost".into(),
            max_message_size: 64 * 1024 * 1024,
            max_recipients: 100,
            timeout: Duration::from_secs(300),
            postmaster: "postmaster".into(),
        }
    }
}

pub struct Lmtp {
    pub store: Arc<dyn Store>,
    pub config: LmtpConfig,
    pub shutdown: CancellationToken,
}

/// The DATA phase: dot-unstuffing and the end marker. Ours rather than
/// smtp-proto's receiver, which only treats CRLF as a line end, while MTAs
/// in the wild also send bare LF; lines are stored with CRLF.
#[derive(Default)]
struct DataReceiver {
    line: Vec<u8>,
    /// Part of the current line was already passed on.
    continued: bool,
}

impl DataReceiver {
    fn new() -> Self {
        Self::default()
    }

    /// Consumes input up to the end marker; true when it was seen.
    fn ingest(&mut self, bytes: &mut std::slice::Iter<'_, u8>, out: &mut Vec<u8>) -> bool {
        for &b in bytes.by_ref() {
            if b != b'\n' {
                self.line.push(b);
                // A hostile client may never send a line end: flush long
                // lines in pieces (a dot can only matter at line start).
                if self.line.len() >= 64 * 1024 {
                    let start = usize::from(!self.continued && self.line[0] == b'.');
                    out.extend_from_slice(&self.line[start..]);
                    self.line.clear();
                    self.continued = true;
                }
                continue;
            }
            if self.line.last() == Some(&b'\r') {
                self.line.pop();
            }
            if self.line == b"." && !self.continued {
                self.line.clear();
                return true;
            }
            let start = usize::from(!self.continued && self.line.first() == Some(&b'.'));
            self.continued = false;
            out.extend_from_slice(&self.line[start..]);
            out.extend_from_slice(b"\r\n");
            self.line.clear();
        }
        false
    }
}

/// Who is on the other end, for the logs and the `Received:` field.
#[derive(Debug, Clone, Copy)]
enum Peer {
    Tcp(SocketAddr),
    /// A Unix socket: the MTA runs on this host.
    Local,
}

impl fmt::Display for Peer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Peer::Tcp(a) => write!(f, "{a}"),
            Peer::Local => f.write_str("local"),
        }
    }
}

impl Peer {
    /// An address literal as RFC 5321 §4.1.3 writes it.
    fn literal(&self) -> String {
        match self {
            Peer::Tcp(a) => match a.ip().to_canonical() {
                std::net::IpAddr::V4(ip) => format!("[{ip}]"),
                std::net::IpAddr::V6(ip) => format!("[IPv6:{ip}]"),
            },
            Peer::Local => "local".into(),
        }
    }
}

struct Session {
    peer: Peer,
    /// The name given in LHLO; none before it.
    lhlo: Option<String>,
}

/// A transaction id for `Received:` and the logs: unique within the
/// process and, since it starts from the clock, across restarts too.
fn transaction_id() -> String {
    static NEXT: OnceLock<AtomicU64> = OnceLock::new();
    let next = NEXT.get_or_init(|| {
        let micros = chrono::Utc::now().timestamp_micros();
        AtomicU64::new(u64::try_from(micros).unwrap_or(0))
    });
    format!("{:X}", next.fetch_add(1, Ordering::Relaxed))
}

enum Phase {
    Command,
    Data(DataReceiver),
    Bdat(BdatReceiver),
    /// A BDAT chunk that was already refused: read and dropped.
    Skip(BdatReceiver),
}

struct Transaction {
    from: Option<String>,
    rcpts: Vec<Recipient>,
    data: Vec<u8>,
    /// The message grew past the limit; it is read and discarded.
    too_big: bool,
}

impl Transaction {
    fn new() -> Self {
        Transaction {
            from: None,
            rcpts: Vec::new(),
            data: Vec::new(),
            too_big: false,
        }
    }
}

impl Lmtp {
    /// Serves a connection from a local client (a Unix socket).
    pub async fn serve<S: AsyncRead + AsyncWrite + Unpin>(&self, stream: S) -> io::Result<()> {
        self.serve_peer(stream, None).await
    }

    /// Serves one connection until QUIT, EOF, timeout or shutdown; `peer`
    /// is the client's address, none for a Unix socket.
    pub async fn serve_peer<S: AsyncRead + AsyncWrite + Unpin>(
        &self,
        mut stream: S,
        peer: Option<SocketAddr>,
    ) -> io::Result<()> {
        let mut out = Vec::new();
        out.extend_from_slice(
            format!("220 {} LMTP Crispin ready\r\n", self.config.hostname).as_bytes(),
        );
        stream.write_all(&out).await?;
        out.clear();
        let mut buf = vec![0u8; 64 * 1024];
        let mut receiver = RequestReceiver::default();
        // The start of a command line that smtp-proto is still buffering:
        // the RCPT fallbacks need the line as sent.
        let mut partial = Vec::new();
        let mut phase = Phase::Command;
        let mut tx = Transaction::new();
        let mut session = Session {
            peer: peer.map_or(Peer::Local, Peer::Tcp),
            lhlo: None,
        };
        loop {
            let n = tokio::select! {
                r = tokio::time::timeout(self.config.timeout, stream.read(&mut buf)) => match r {
                    Ok(r) => r?,
                    Err(_) => {
                        stream.write_all(b"421 4.4.2 Idle too long, closing\r\n").await?;
                        return Ok(());
                    }
                },
                _ = self.shutdown.cancelled(), if matches!(phase, Phase::Command) => {
                    stream.write_all(b"421 4.3.2 Server shutting down\r\n").await?;
                    return Ok(());
                }
            };
            if n == 0 {
                return Ok(());
            }
            let mut iter = buf[..n].iter();
            // Everything that arrived in one read is answered in one
            // write: that is what makes PIPELINING cheap.
            loop {
                match &mut phase {
                    Phase::Data(data) => {
                        let done = data.ingest(&mut iter, &mut tx.data);
                        self.check_size(&mut tx);
                        if !done {
                            break;
                        }
                        self.finish_data(&mut tx, &session, &mut out).await;
                        phase = Phase::Command;
                    }
                    Phase::Bdat(bdat) => {
                        let done = bdat.ingest(&mut iter, &mut tx.data);
                        self.check_size(&mut tx);
                        if !done {
                            break;
                        }
                        if bdat.is_last {
                            self.finish_data(&mut tx, &session, &mut out).await;
                        } else {
                            out.extend_from_slice(b"250 2.0.0 Chunk accepted\r\n");
                        }
                        phase = Phase::Command;
                    }
                    Phase::Skip(skip) => {
                        let mut sink = Vec::new();
                        let done = skip.ingest(&mut iter, &mut sink);
                        if !done {
                            break;
                        }
                        phase = Phase::Command;
                    }
                    Phase::Command => {
                        if iter.len() == 0 {
                            break;
                        }
                        let before = iter.as_slice();
                        let result = receiver.ingest(&mut iter).map(Request::into_owned);
                        let consumed = &before[..before.len() - iter.len()];
                        if let Err(SmtpError::NeedsMoreData { .. }) = result {
                            // smtp-proto refuses longer lines itself; past
                            // that, keep nothing rather than a torn line.
                            if partial.len() + consumed.len() <= MAX_LINE_LENGTH {
                                partial.extend_from_slice(consumed);
                            } else {
                                partial.clear();
                            }
                            break;
                        }
                        let line: &[u8] = if partial.is_empty() {
                            consumed
                        } else {
                            partial.extend_from_slice(consumed);
                            &partial
                        };
                        let next = match result {
                            Ok(request) => {
                                self.command(request, line, &mut tx, &mut session, &mut out)
                                    .await
                            }
                            Err(SmtpError::InvalidRecipientAddress) => {
                                match bare_recipient(line) {
                                    Some(local) => {
                                        self.rcpt(local, &mut tx, &session, &mut out).await;
                                    }
                                    None => {
                                        reply_error(SmtpError::InvalidRecipientAddress, &mut out)
                                    }
                                }
                                Next::Continue
                            }
                            Err(e) => {
                                reply_error(e, &mut out);
                                Next::Continue
                            }
                        };
                        partial.clear();
                        match next {
                            Next::Continue => {}
                            Next::Data => phase = Phase::Data(DataReceiver::new()),
                            Next::Bdat(size, last) => {
                                phase = Phase::Bdat(BdatReceiver::new(size, last))
                            }
                            Next::Skip(size) => phase = Phase::Skip(BdatReceiver::new(size, false)),
                            Next::Quit => {
                                stream.write_all(&out).await?;
                                return Ok(());
                            }
                        }
                    }
                }
            }
            if !out.is_empty() {
                stream.write_all(&out).await?;
                stream.flush().await?;
                out.clear();
            }
        }
    }

    fn check_size(&self, tx: &mut Transaction) {
        if tx.data.len() > self.config.max_message_size {
            tx.too_big = true;
            tx.data.clear();
        }
    }

    /// `line` is the command as sent, CRLF included.
    async fn command(
        &self,
        request: Request<String>,
        line: &[u8],
        tx: &mut Transaction,
        session: &mut Session,
        out: &mut Vec<u8>,
    ) -> Next {
        match request {
            Request::Lhlo { host } => {
                session.lhlo = Some(host);
                *tx = Transaction::new();
                let host = &self.config.hostname;
                out.extend_from_slice(
                    format!(
                        "250-{host}\r\n250-PIPELINING\r\n250-ENHANCEDSTATUSCODES\r\n\
                         250-8BITMIME\r\n250-CHUNKING\r\n250 SIZE {}\r\n",
                        self.config.max_message_size
                    )
                    .as_bytes(),
                );
            }
            Request::Ehlo { .. } | Request::Helo { .. } => {
                out.extend_from_slice(b"500 5.5.1 This is LMTP: use LHLO\r\n");
            }
            Request::Mail { from } => {
                if session.lhlo.is_none() {
                    out.extend_from_slice(b"503 5.5.1 Send LHLO first\r\n");
                } else if tx.from.is_some() {
                    out.extend_from_slice(b"503 5.5.1 Sender already given\r\n");
                } else if from.size > self.config.max_message_size {
                    tracing::info!(
                        peer = %session.peer,
                        from = %from.address,
                        size = from.size,
                        limit = self.config.max_message_size,
                        code = 552,
                        "LMTP message refused: declared size over the limit"
                    );
                    out.extend_from_slice(b"552 5.3.4 Message too big\r\n");
                } else {
                    tx.from = Some(from.address);
                    out.extend_from_slice(b"250 2.1.0 Sender OK\r\n");
                }
            }
            Request::Rcpt { to } if to.address.is_empty() => {
                // smtp-proto reads `<postmaster>` as the null path, like
                // `<>`; only the line tells them apart.
                match bare_recipient(line) {
                    Some(p) if p.eq_ignore_ascii_case("postmaster") => {
                        self.rcpt(p, tx, session, out).await;
                    }
                    _ => reply_error(SmtpError::InvalidRecipientAddress, out),
                }
            }
            Request::Rcpt { to } => self.rcpt(to.address, tx, session, out).await,
            Request::Data | Request::Bdat { .. } if tx.rcpts.is_empty() => {
                // RFC 2033 §4.2: no valid recipients, no data phase.
                out.extend_from_slice(b"503 5.5.1 No valid recipients\r\n");
                if let Request::Bdat { chunk_size, .. } = request {
                    // The chunk still arrives and must be skipped.
                    return Next::Skip(chunk_size);
                }
            }
            Request::Data => {
                out.extend_from_slice(b"354 Start mail input; end with <CRLF>.<CRLF>\r\n");
                return Next::Data;
            }
            Request::Bdat {
                chunk_size,
                is_last,
            } => return Next::Bdat(chunk_size, is_last),
            Request::Rset => {
                *tx = Transaction::new();
                out.extend_from_slice(b"250 2.0.0 OK\r\n");
            }
            Request::Noop { .. } => out.extend_from_slice(b"250 2.0.0 OK\r\n"),
            Request::Vrfy { .. } => {
                out.extend_from_slice(b"252 2.5.0 Cannot verify, but will accept\r\n");
            }
            Request::Quit => {
                out.extend_from_slice(b"221 2.0.0 Bye\r\n");
                return Next::Quit;
            }
            _ => out.extend_from_slice(b"502 5.5.1 Command not implemented\r\n"),
        }
        Next::Continue
    }

    async fn rcpt(
        &self,
        address: String,
        tx: &mut Transaction,
        session: &Session,
        out: &mut Vec<u8>,
    ) {
        let peer = &session.peer;
        let Some(from) = &tx.from else {
            out.extend_from_slice(b"503 5.5.1 Send MAIL FROM first\r\n");
            return;
        };
        if tx.rcpts.len() >= self.config.max_recipients {
            tracing::info!(
                %peer,
                %from,
                rcpt = %address,
                code = 452,
                "LMTP recipient refused: too many recipients"
            );
            out.extend_from_slice(b"452 4.5.3 Too many recipients\r\n");
            return;
        }
        // RFC 5321 §4.1.1.3: postmaster, with or without a domain, must be
        // accepted.
        let postmaster = deliver::local_part(&address)
            .0
            .eq_ignore_ascii_case("postmaster");
        let store = self.store.as_ref();
        let resolved = if postmaster {
            deliver::resolve_as(store, &address, &self.config.postmaster).await
        } else {
            deliver::resolve(store, &address, None).await
        };
        match resolved {
            Ok(r) => {
                tx.rcpts.push(r);
                out.extend_from_slice(b"250 2.1.5 Recipient OK\r\n");
            }
            Err(ResolveError::UnknownUser) => {
                if postmaster {
                    tracing::error!(
                        %peer,
                        %from,
                        rcpt = %address,
                        account = %self.config.postmaster,
                        code = 550,
                        "LMTP postmaster mail refused: the account named by \
                         lmtp.postmaster does not exist"
                    );
                } else {
                    tracing::info!(
                        %peer,
                        %from,
                        rcpt = %address,
                        code = 550,
                        "LMTP recipient refused: no such user"
                    );
                }
                out.extend_from_slice(
                    format!("550 5.1.1 <{address}> No such user here\r\n").as_bytes(),
                );
            }
            Err(ResolveError::Temporary(e)) => {
                tracing::error!(
                    %peer,
                    %from,
                    rcpt = %address,
                    code = 451,
                    error = %e,
                    "LMTP recipient lookup failed"
                );
                out.extend_from_slice(b"451 4.3.0 Temporary lookup failure\r\n");
            }
        }
    }

    /// After the data: one reply per accepted recipient, in order.
    async fn finish_data(&self, tx: &mut Transaction, session: &Session, out: &mut Vec<u8>) {
        let finished = std::mem::replace(tx, Transaction::new());
        let from = finished.from.unwrap_or_default();
        let peer = &session.peer;
        if finished.too_big {
            for rcpt in &finished.rcpts {
                tracing::info!(
                    %peer,
                    %from,
                    rcpt = %rcpt.address,
                    limit = self.config.max_message_size,
                    code = 552,
                    "LMTP message refused: too big"
                );
                out.extend_from_slice(b"552 5.3.4 Message too big\r\n");
            }
            return;
        }
        let id = transaction_id();
        let literal = peer.literal();
        let date = chrono::Local::now().fixed_offset();
        for rcpt in &finished.rcpts {
            let received = deliver::received_header(&deliver::Trace {
                helo: session.lhlo.as_deref().unwrap_or_default(),
                peer: &literal,
                hostname: &self.config.hostname,
                id: &id,
                rcpt: &rcpt.address,
                date,
            });
            let bytes =
                deliver::with_trace_headers(&from, &rcpt.address, &received, &finished.data);
            match deliver::deliver(self.store.as_ref(), rcpt, bytes, Flags::default()).await {
                Ok(a) => {
                    tracing::info!(
                        %peer,
                        %from,
                        rcpt = %rcpt.address,
                        %id,
                        uid = a.uid,
                        "delivered"
                    );
                    out.extend_from_slice(
                        format!("250 2.1.5 <{}> Delivered\r\n", rcpt.address).as_bytes(),
                    );
                }
                Err(StoreError::Full) => {
                    // RFC 3463 X.3.1: mail system full; the MTA keeps the
                    // message queued and retries.
                    tracing::error!(
                        %peer,
                        %from,
                        rcpt = %rcpt.address,
                        %id,
                        code = 452,
                        "LMTP delivery refused: disk full"
                    );
                    out.extend_from_slice(
                        format!(
                            "452 4.3.1 <{}> Insufficient system storage, try again later\r\n",
                            rcpt.address
                        )
                        .as_bytes(),
                    );
                }
                Err(e) => {
                    tracing::error!(
                        %peer,
                        %from,
                        rcpt = %rcpt.address,
                        %id,
                        code = 451,
                        error = %e,
                        "LMTP delivery failed"
                    );
                    out.extend_from_slice(
                        format!(
                            "451 4.3.0 <{}> Temporary failure, try again\r\n",
                            rcpt.address
                        )
                        .as_bytes(),
                    );
                }
            }
        }
    }
}

enum Next {
    Continue,
    Data,
    Bdat(usize, bool),
    Skip(usize),
    Quit,
}

/// The path of a `RCPT TO:<path>` line when it is a bare local part (a
/// dot-atom, RFC 5321 §4.1.2) and nothing follows it. smtp-proto refuses
/// an address without a domain, but an MTA's local delivery sends just
/// the user, and RFC 5321 §4.1.1.3 requires `<postmaster>` to work.
fn bare_recipient(line: &[u8]) -> Option<String> {
    let line = std::str::from_utf8(line)
        .ok()?
        .trim_end_matches(['\r', '\n']);
    let (verb, rest) = line.split_at_checked(4)?;
    if !verb.eq_ignore_ascii_case("RCPT") {
        return None;
    }
    let rest = rest.trim_start();
    let (to, rest) = rest.split_at_checked(2)?;
    if !to.eq_ignore_ascii_case("TO") {
        return None;
    }
    let rest = rest.trim_start().strip_prefix(':')?.trim_start();
    let (path, after) = rest.strip_prefix('<')?.split_once('>')?;
    // RFC 5321 §4.5.3.1.1: a local part is at most 64 octets.
    let atext = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~".contains(c);
    let dot_atom = !path.is_empty()
        && path.len() <= 64
        && path
            .split('.')
            .all(|a| !a.is_empty() && a.chars().all(atext));
    (dot_atom && after.trim().is_empty()).then(|| path.to_string())
}

fn reply_error(e: SmtpError, out: &mut Vec<u8>) {
    let line = match e {
        SmtpError::UnknownCommand => "500 5.5.2 Unknown command".to_string(),
        SmtpError::InvalidSenderAddress => "501 5.1.7 Invalid sender address".to_string(),
        SmtpError::InvalidRecipientAddress => "501 5.1.3 Invalid recipient address".to_string(),
        SmtpError::SyntaxError { syntax } => format!("501 5.5.4 Syntax: {syntax}"),
        SmtpError::InvalidParameter { param } => format!("501 5.5.4 Invalid parameter {param}"),
        SmtpError::UnsupportedParameter { param } => {
            format!("555 5.5.4 Unsupported parameter {param}")
        }
        SmtpError::ResponseTooLong => "500 5.5.2 Line too long".to_string(),
        _ => "500 5.5.2 Syntax error".to_string(),
    };
    out.extend_from_slice(line.as_bytes());
    out.extend_from_slice(b"\r\n");
}
