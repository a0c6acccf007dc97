//! Framing: a command is one or more lines joined by literals.
//!
//! The framer owns the connection's byte stream and its buffers. It reads a
//! line, and when the line announces a literal (`{n}` or `{n+}`) it checks
//! the size against the limits *before* sending `+` (synchronising
//! literals), then reads the literal — into memory when small, into a
//! spool file when large, so a 50 MB APPEND is never held in RAM.

use bytes::{Buf, BytesMut};
use std::io;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Any byte stream a session can run over (TCP, TLS, ...).
pub trait Stream: AsyncRead + AsyncWrite + Unpin + Send + Sync {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + Sync> Stream for T {}

#[derive(Debug, Clone)]
pub struct Limits {
    /// Longest command line (without literals).
    pub max_line: usize,
    /// Largest message accepted by APPEND (advertised as APPENDLIMIT).
    pub max_message: u64,
    /// Largest literal in any other command, and their total per command.
    pub max_literal: u64,
    /// Literals larger than this are spooled to a file.
    pub spool_threshold: u64,
    pub spool_dir: PathBuf,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_line: 2 * 1024 * 1024,
            max_message: 64 * 1024 * 1024,
            max_literal: 256 * 1024,
            spool_threshold: 1024 * 1024,
            spool_dir: std::env::temp_dir(),
        }
    }
}

/// A literal's content.
#[derive(Debug)]
pub enum Literal {
    Memory(Vec<u8>),
    File {
        file: tempfile::NamedTempFile,
        len: u64,
    },
}

impl Literal {
    pub fn len(&self) -> u64 {
        match self {
            Literal::Memory(v) => v.len() as u64,
            Literal::File { len, .. } => *len,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The bytes of an in-memory literal; spooled literals are only ever
    /// message bodies, which are not read through this.
    pub fn as_memory(&self) -> Option<&[u8]> {
        match self {
            Literal::Memory(v) => Some(v),
            Literal::File { .. } => None,
        }
    }
}

#[derive(Debug)]
pub enum Chunk {
    Text(Vec<u8>),
    Literal(Literal),
}

/// One complete command as received: text with literals in between.
#[derive(Debug, Default)]
pub struct Frame {
    pub chunks: Vec<Chunk>,
}

#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("connection closed")]
    Eof,
    #[error("i/o error: {0}")]
    Io(#[from] io::Error),
    /// The line was skipped; the session answers BAD and goes on.
    #[error("line too long")]
    LineTooLong { tag: Option<String> },
    /// The literal was refused (and, if non-synchronising, discarded).
    #[error("literal too large")]
    LiteralTooLarge {
        tag: String,
        is_append: bool,
        /// The client broke protocol in a way we cannot resync from.
        fatal: bool,
    },
}

/// A literal announced at the end of a line: `{123}` or `{123+}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Announcement {
    pub len: u64,
    pub sync: bool,
    /// Length of the line before the `{`.
    pub prefix: usize,
}

pub fn literal_announcement(line: &[u8]) -> Option<Announcement> {
    let inner = line.strip_suffix(b"}")?;
    let open = inner.iter().rposition(|&b| b == b'{')?;
    let mut digits = &inner[open + 1..];
    let sync = match digits.strip_suffix(b"+") {
        Some(d) => {
            digits = d;
            false
        }
        None => true,
    };
    if digits.is_empty() || digits.len() > 19 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let len = std::str::from_utf8(digits).ok()?.parse().ok()?;
    Some(Announcement {
        len,
        sync,
        prefix: open,
    })
}

/// The tag and command name of a first line, for decisions made before the
/// whole command is parsed.
fn tag_and_command(line: &[u8]) -> (String, String) {
    let mut it = line.split(|&b| b == b' ');
    let tag = String::from_utf8_lossy(it.next().unwrap_or_default()).into_owned();
    let mut cmd = it.next().unwrap_or_default();
    if cmd.eq_ignore_ascii_case(b"UID") {
        cmd = it.next().unwrap_or_default();
    }
    (tag, String::from_utf8_lossy(cmd).to_ascii_uppercase())
}

/// The tag of a line we will not parse, when it looks like one.
fn guess_tag(line: &[u8]) -> Option<String> {
    let (tag, _) = tag_and_command(&line[..line.len().min(128)]);
    (!tag.is_empty() && tag.len() < 64 && tag.bytes().all(|b| b.is_ascii_graphic() && b != b'+'))
        .then_some(tag)
}

pub struct Connection {
    stream: Box<dyn Stream>,
    rbuf: BytesMut,
    /// How far `rbuf` has been searched for a line end.
    scanned: usize,
    /// Set while discarding the rest of an over-long line.
    skipping: Option<Option<String>>,
    /// Responses waiting to be written; see [`Connection::flush`].
    pub out: Vec<u8>,
    pub limits: Limits,
    /// True while part of a command has arrived and the rest has not (see
    /// [`Connection::receiving`]).
    receiving: Arc<AtomicBool>,
}

impl Connection {
    pub fn new(stream: Box<dyn Stream>, limits: Limits) -> Self {
        Connection {
            stream,
            rbuf: BytesMut::with_capacity(1024),
            scanned: 0,
            skipping: None,
            out: Vec::with_capacity(1024),
            limits,
            receiving: Arc::default(),
        }
    }

    /// Ends the connection cleanly: for TLS a `close_notify` alert (RFC
    /// 8446 §6.1; without it a client cannot tell our LOGOUT from a cut
    /// connection), then the TCP FIN. Bounded: a peer that reads nothing
    /// must not hold the session.
    pub async fn shutdown(&mut self) {
        let _ =
            tokio::time::timeout(std::time::Duration::from_secs(5), self.stream.shutdown()).await;
    }

    /// A flag that is set while a command is partly received (a line
    /// without its end, or a literal in transit), readable while
    /// [`Connection::read_frame`] runs: at shutdown a session lets such a
    /// command finish and waits for no one else.
    pub fn receiving(&self) -> Arc<AtomicBool> {
        self.receiving.clone()
    }

    /// Writes buffered responses to the client.
    pub async fn flush(&mut self) -> io::Result<()> {
        if !self.out.is_empty() {
            self.stream.write_all(&self.out).await?;
            // Keep small buffers; release the memory a big FETCH needed.
            if self.out.capacity() > 256 * 1024 {
                self.out = Vec::with_capacity(1024);
            } else {
                self.out.clear();
            }
        }
        self.stream.flush().await
    }

    /// Flushes only when enough output has piled up, so that a long FETCH
    /// streams instead of building one giant buffer.
    pub async fn flush_if_large(&mut self) -> io::Result<()> {
        if self.out.len() >= 64 * 1024 {
            self.flush().await?;
        }
        Ok(())
    }

    /// Writes raw bytes straight through (large literals from storage),
    /// after whatever is buffered.
    pub async fn write_through(&mut self, data: &[u8]) -> io::Result<()> {
        if self.out.len() + data.len() <= 64 * 1024 {
            self.out.extend_from_slice(data);
            return Ok(());
        }
        if !self.out.is_empty() {
            self.stream.write_all(&self.out).await?;
            self.out.clear();
        }
        self.stream.write_all(data).await
    }

    /// Takes the stream out for an upgrade (STARTTLS, COMPRESS). Anything
    /// the client sent after the command is dropped: plaintext pipelined
    /// behind STARTTLS must never be executed as if it had come over TLS.
    pub fn take_stream(&mut self) -> Box<dyn Stream> {
        self.rbuf.clear();
        self.scanned = 0;
        self.skipping = None;
        std::mem::replace(
            &mut self.stream,
            Box::new(tokio::io::join(tokio::io::empty(), tokio::io::sink())),
        )
    }

    pub fn set_stream(&mut self, stream: Box<dyn Stream>) {
        self.stream = stream;
    }

    /// Whether the client has already sent more bytes than we consumed.
    pub fn has_buffered_input(&self) -> bool {
        !self.rbuf.is_empty()
    }

    /// Reads one line, without its CRLF (a bare LF is accepted too).
    /// Cancel-safe: a line partly read stays buffered for the next call.
    pub async fn read_line(&mut self) -> Result<Vec<u8>, FrameError> {
        loop {
            if let Some(pos) = self.rbuf[self.scanned..].iter().position(|&b| b == b'\n') {
                let end = self.scanned + pos;
                let mut line = self.rbuf.split_to(end + 1);
                self.scanned = 0;
                line.truncate(end);
                if line.last() == Some(&b'\r') {
                    line.truncate(end - 1);
                }
                if let Some(tag) = self.skipping.take() {
                    return Err(FrameError::LineTooLong { tag });
                }
                if line.len() > self.limits.max_line {
                    return Err(FrameError::LineTooLong {
                        tag: guess_tag(&line),
                    });
                }
                return Ok(line.to_vec());
            }
            self.scanned = self.rbuf.len();
            if self.rbuf.len() > self.limits.max_line {
                if self.skipping.is_none() {
                    self.skipping = Some(guess_tag(&self.rbuf));
                }
                self.rbuf.clear();
                self.scanned = 0;
            }
            if self.rbuf.capacity() - self.rbuf.len() < 1024 {
                self.rbuf.reserve(8 * 1024);
            }
            if !self.rbuf.is_empty() {
                self.receiving.store(true, Ordering::Relaxed);
            }
            if self.stream.read_buf(&mut self.rbuf).await? == 0 {
                return Err(FrameError::Eof);
            }
        }
    }

    /// Reads exactly `len` bytes of literal data.
    async fn read_literal(&mut self, len: u64) -> Result<Literal, FrameError> {
        if len > self.limits.spool_threshold {
            let file = tempfile::Builder::new()
                .prefix("literal-")
                .tempfile_in(&self.limits.spool_dir)?;
            let mut writer = tokio::fs::File::from_std(file.as_file().try_clone()?);
            let mut remaining = len;
            while remaining > 0 {
                if self.rbuf.is_empty() && self.stream.read_buf(&mut self.rbuf).await? == 0 {
                    return Err(FrameError::Eof);
                }
                let n = (self.rbuf.len() as u64).min(remaining) as usize;
                writer.write_all(&self.rbuf[..n]).await?;
                self.rbuf.advance(n);
                remaining -= n as u64;
                if self.rbuf.capacity() < 64 * 1024 {
                    self.rbuf.reserve(64 * 1024);
                }
            }
            writer.flush().await?;
            self.scanned = 0;
            return Ok(Literal::File { file, len });
        }
        let len = len as usize;
        while self.rbuf.len() < len {
            self.rbuf.reserve(len - self.rbuf.len());
            if self.stream.read_buf(&mut self.rbuf).await? == 0 {
                return Err(FrameError::Eof);
            }
        }
        let data = self.rbuf.split_to(len).to_vec();
        self.scanned = 0;
        Ok(Literal::Memory(data))
    }

    async fn discard(&mut self, mut len: u64) -> Result<(), FrameError> {
        while len > 0 {
            if self.rbuf.is_empty() && self.stream.read_buf(&mut self.rbuf).await? == 0 {
                return Err(FrameError::Eof);
            }
            let n = (self.rbuf.len() as u64).min(len) as usize;
            self.rbuf.advance(n);
            len -= n as u64;
        }
        self.scanned = 0;
        Ok(())
    }

    /// Reads one whole command. Literal size checks happen here, before
    /// any `+` continuation is sent.
    pub async fn read_frame(&mut self) -> Result<Frame, FrameError> {
        let frame = self.read_frame_inner().await;
        self.receiving.store(false, Ordering::Relaxed);
        frame
    }

    async fn read_frame_inner(&mut self) -> Result<Frame, FrameError> {
        let mut frame = Frame::default();
        let mut header: Option<(String, String)> = None;
        let mut literal_total: u64 = 0;
        let mut text_total: usize = 0;
        loop {
            let line = self.read_line().await?;
            text_total += line.len();
            let Some(ann) = literal_announcement(&line) else {
                if text_total > self.limits.max_line {
                    let tag = header.map(|h| h.0);
                    return Err(FrameError::LineTooLong { tag });
                }
                frame.chunks.push(Chunk::Text(line));
                return Ok(frame);
            };
            self.receiving.store(true, Ordering::Relaxed);
            let (tag, command) = header.get_or_insert_with(|| tag_and_command(&line)).clone();
            // In APPEND only the message may be large: a literal right
            // after the command name is the mailbox name.
            let is_append = command == "APPEND"
                && !(frame.chunks.is_empty()
                    && line[..ann.prefix]
                        .trim_ascii_end()
                        .split(|&b| b == b' ')
                        .count()
                        <= 2);
            let over = if is_append {
                ann.len > self.limits.max_message
            } else {
                literal_total.saturating_add(ann.len) > self.limits.max_literal
            };
            if over || text_total > self.limits.max_line {
                let fatal = if ann.sync {
                    false
                } else {
                    self.discard_rest(ann.len).await?
                };
                return Err(FrameError::LiteralTooLarge {
                    tag,
                    is_append,
                    fatal,
                });
            }
            if !is_append {
                literal_total += ann.len;
            }
            let mut text = line;
            text.truncate(ann.prefix);
            frame.chunks.push(Chunk::Text(text));
            if ann.sync {
                crate::response::write_continuation(&mut self.out, b"Ready for literal data");
                self.flush().await?;
            }
            let literal = self.read_literal(ann.len).await?;
            frame.chunks.push(Chunk::Literal(literal));
        }
    }

    /// After refusing a non-synchronising literal: drop it and the rest of
    /// its command. Returns true when that is impossible (the client now
    /// waits for a `+` we will not send, or sends without end).
    async fn discard_rest(&mut self, first: u64) -> Result<bool, FrameError> {
        const MAX_DISCARD: u64 = 1 << 30;
        let mut total = first;
        if total > MAX_DISCARD {
            return Ok(true);
        }
        self.discard(first).await?;
        loop {
            let line = match self.read_line().await {
                Ok(line) => line,
                Err(FrameError::LineTooLong { .. }) => continue,
                Err(e) => return Err(e),
            };
            match literal_announcement(&line) {
                None => return Ok(false),
                Some(ann) if ann.sync => return Ok(true),
                Some(ann) => {
                    total = total.saturating_add(ann.len);
                    if total > MAX_DISCARD {
                        return Ok(true);
                    }
                    self.discard(ann.len).await?;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    fn limits() -> Limits {
        Limits {
            max_line: 100,
            max_message: 1000,
            max_literal: 50,
            spool_threshold: 20,
            spool_dir: std::env::temp_dir(),
        }
    }

    #[test]
    fn announcements() {
        assert_eq!(
            literal_announcement(b"a APPEND x {12}"),
            Some(Announcement {
                len: 12,
                sync: true,
                prefix: 11
            })
        );
        assert_eq!(literal_announcement(b"a {3+}").map(|a| a.sync), Some(false));
        assert_eq!(literal_announcement(b"a {}"), None);
        assert_eq!(literal_announcement(b"a {1x}"), None);
        assert_eq!(literal_announcement(b"a {99999999999999999999}"), None);
    }

    async fn frames(input: &[u8]) -> (Vec<Result<Frame, FrameError>>, Vec<u8>) {
        let (mut client, server) = tokio::io::duplex(1 << 16);
        client.write_all(input).await.unwrap();
        client.shutdown().await.unwrap();
        let mut conn = Connection::new(Box::new(server), limits());
        let mut out = Vec::new();
        loop {
            let r = conn.read_frame().await;
            let eof = matches!(r, Err(FrameError::Eof));
            out.push(r);
            if eof {
                break;
            }
        }
        conn.flush().await.unwrap();
        drop(conn);
        let mut written = Vec::new();
        client.read_to_end(&mut written).await.unwrap();
        (out, written)
    }

    #[tokio::test]
    async fn literal_then_text() {
        let (f, written) = frames(b"a LOGIN {3}\r\nbob {2+}\r\npw\r\nb NOOP\n").await;
        let Ok(first) = &f[0] else { panic!() };
        assert_eq!(first.chunks.len(), 5);
        assert!(matches!(&first.chunks[1], Chunk::Literal(Literal::Memory(v)) if v == b"bob"));
        assert!(matches!(&first.chunks[4], Chunk::Text(t) if t.is_empty()));
        assert!(
            matches!(&f[1], Ok(fr) if matches!(&fr.chunks[0], Chunk::Text(t) if t == b"b NOOP"))
        );
        // Exactly one continuation: the second literal was non-synchronising.
        assert_eq!(written, b"+ Ready for literal data\r\n");
    }

    #[tokio::test]
    async fn big_literal_is_spooled() {
        let body = vec![b'x'; 500];
        let mut input = b"a APPEND INBOX {500+}\r\n".to_vec();
        input.extend_from_slice(&body);
        input.extend_from_slice(b"\r\n");
        let (f, _) = frames(&input).await;
        let Ok(frame) = &f[0] else { panic!() };
        match &frame.chunks[1] {
            Chunk::Literal(Literal::File { file, len }) => {
                assert_eq!(*len, 500);
                assert_eq!(std::fs::read(file.path()).unwrap(), body);
            }
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn oversize_sync_literal_refused_without_continuation() {
        let (f, written) = frames(b"a APPEND INBOX {5000}\r\nb NOOP\r\n").await;
        assert!(matches!(
            &f[0],
            Err(FrameError::LiteralTooLarge { tag, is_append: true, fatal: false }) if tag == "a"
        ));
        assert!(f[1].is_ok());
        assert!(written.is_empty());
    }

    #[tokio::test]
    async fn oversize_nonsync_literal_discarded() {
        let mut input = b"a SEARCH TEXT {60+}\r\n".to_vec();
        input.extend_from_slice(&[b'y'; 60]);
        input.extend_from_slice(b"\r\nb NOOP\r\n");
        let (f, _) = frames(&input).await;
        assert!(matches!(
            &f[0],
            Err(FrameError::LiteralTooLarge {
                is_append: false,
                fatal: false,
                ..
            })
        ));
        assert!(
            matches!(&f[1], Ok(fr) if matches!(&fr.chunks[0], Chunk::Text(t) if t == b"b NOOP"))
        );
    }

    #[tokio::test]
    async fn append_mailbox_literal_has_the_small_limit() {
        // A 60-byte mailbox name is over max_literal (50) even in APPEND.
        let mut input = b"a APPEND {60}\r\n".to_vec();
        input.extend_from_slice(b"b NOOP\r\n");
        let (f, written) = frames(&input).await;
        assert!(matches!(
            &f[0],
            Err(FrameError::LiteralTooLarge {
                is_append: false,
                ..
            })
        ));
        assert!(written.is_empty());
        // The message literal itself may be up to max_message.
        let (f, _) = frames(b"a APPEND INBOX {600}\r\n").await;
        assert!(matches!(&f[0], Err(FrameError::Eof)));
    }

    #[tokio::test]
    async fn long_line_skipped() {
        let mut input = b"t1 NOOP ".to_vec();
        input.extend_from_slice(&[b'z'; 300]);
        input.extend_from_slice(b"\r\nt2 NOOP\r\n");
        let (f, _) = frames(&input).await;
        assert!(matches!(&f[0], Err(FrameError::LineTooLong { tag: Some(t) }) if t == "t1"));
        assert!(f[1].is_ok());
    }
}
