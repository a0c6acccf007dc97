//! LMTP (RFC 2033): how an MTA hands mail to Crispin. The grammar comes
//! from `smtp-proto`; the per-recipient replies after the data are ours.
//!
//! A `250` for a recipient is sent only after that recipient's copy is
//! durably stored; a recipient whose copy cannot be stored gets `451`, and
//! nothing of it is kept.

pub mod deliver;
pub mod import;

use crispin_store::{Flags, Store};
use deliver::{Recipient, ResolveError};
use smtp_proto::request::receiver::{BdatReceiver, RequestReceiver};
use smtp_proto::{Error as SmtpError, Request};
use std::io;
use std::sync::Arc;
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
}

impl Default for LmtpConfig {
    fn default() -> Self {
        LmtpConfig {
            hostname: "localhost".into(),
            max_message_size: 64 * 1024 * 1024,
            max_recipients: 100,
            timeout: Duration::from_secs(300),
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
    /// Serves one connection until QUIT, EOF, timeout or shutdown.
    pub async fn serve<S: AsyncRead + AsyncWrite + Unpin>(&self, mut stream: S) -> io::Result<()> {
        let mut out = Vec::new();
        out.extend_from_slice(
            format!("220 {} LMTP Crispin ready\r\n", self.config.hostname).as_bytes(),
        );
        stream.write_all(&out).await?;
        out.clear();
        let mut buf = vec![0u8; 64 * 1024];
        let mut receiver = RequestReceiver::default();
        let mut phase = Phase::Command;
        let mut tx = Transaction::new();
        let mut greeted = false;
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
                        self.finish_data(&mut tx, &mut out).await;
                        phase = Phase::Command;
                    }
                    Phase::Bdat(bdat) => {
                        let done = bdat.ingest(&mut iter, &mut tx.data);
                        self.check_size(&mut tx);
                        if !done {
                            break;
                        }
                        if bdat.is_last {
                            self.finish_data(&mut tx, &mut out).await;
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
                        match receiver.ingest(&mut iter) {
                            Ok(request) => {
                                let request = request.into_owned();
                                match self.command(request, &mut tx, &mut greeted, &mut out).await {
                                    Next::Continue => {}
                                    Next::Data => phase = Phase::Data(DataReceiver::new()),
                                    Next::Bdat(size, last) => {
                                        phase = Phase::Bdat(BdatReceiver::new(size, last))
                                    }
                                    Next::Skip(size) => {
                                        phase = Phase::Skip(BdatReceiver::new(size, false))
                                    }
                                    Next::Quit => {
                                        stream.write_all(&out).await?;
                                        return Ok(());
                                    }
                                }
                            }
                            Err(SmtpError::NeedsMoreData { .. }) => break,
                            Err(e) => reply_error(e, &mut out),
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

    async fn command(
        &self,
        request: Request<String>,
        tx: &mut Transaction,
        greeted: &mut bool,
        out: &mut Vec<u8>,
    ) -> Next {
        match request {
            Request::Lhlo { .. } => {
                *greeted = true;
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
                if !*greeted {
                    out.extend_from_slice(b"503 5.5.1 Send LHLO first\r\n");
                } else if tx.from.is_some() {
                    out.extend_from_slice(b"503 5.5.1 Sender already given\r\n");
                } else if from.size > self.config.max_message_size {
                    out.extend_from_slice(b"552 5.3.4 Message too big\r\n");
                } else {
                    tx.from = Some(from.address);
                    out.extend_from_slice(b"250 2.1.0 Sender OK\r\n");
                }
            }
            Request::Rcpt { to } => {
                if tx.from.is_none() {
                    out.extend_from_slice(b"503 5.5.1 Send MAIL FROM first\r\n");
                } else if tx.rcpts.len() >= self.config.max_recipients {
                    out.extend_from_slice(b"452 4.5.3 Too many recipients\r\n");
                } else {
                    match deliver::resolve(self.store.as_ref(), &to.address, None).await {
                        Ok(r) => {
                            tx.rcpts.push(r);
                            out.extend_from_slice(b"250 2.1.5 Recipient OK\r\n");
                        }
                        Err(ResolveError::UnknownUser) => {
                            out.extend_from_slice(
                                format!("550 5.1.1 <{}> No such user here\r\n", to.address)
                                    .as_bytes(),
                            );
                        }
                        Err(ResolveError::Temporary(e)) => {
                            tracing::error!(error = %e, "recipient lookup failed");
                            out.extend_from_slice(b"451 4.3.0 Temporary lookup failure\r\n");
                        }
                    }
                }
            }
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

    /// After the data: one reply per accepted recipient, in order.
    async fn finish_data(&self, tx: &mut Transaction, out: &mut Vec<u8>) {
        let finished = std::mem::replace(tx, Transaction::new());
        if finished.too_big {
            for _ in &finished.rcpts {
                out.extend_from_slice(b"552 5.3.4 Message too big\r\n");
            }
            return;
        }
        let from = finished.from.unwrap_or_default();
        for rcpt in &finished.rcpts {
            let bytes = deliver::with_trace_headers(&from, &rcpt.address, &finished.data);
            match deliver::deliver(self.store.as_ref(), rcpt, bytes, Flags::default()).await {
                Ok(a) => {
                    tracing::info!(rcpt = %rcpt.address, uid = a.uid, "delivered");
                    out.extend_from_slice(
                        format!("250 2.1.5 <{}> Delivered\r\n", rcpt.address).as_bytes(),
                    );
                }
                Err(e) => {
                    tracing::error!(rcpt = %rcpt.address, error = %e, "delivery failed");
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
