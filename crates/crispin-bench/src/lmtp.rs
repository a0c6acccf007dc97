//! A small LMTP client (RFC 2033): LHLO once, then MAIL/RCPT/DATA per
//! message, checking a 250 per recipient after the data.

use anyhow::{Context, Result, anyhow, bail};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

pub struct Lmtp {
    r: BufReader<OwnedReadHalf>,
    w: OwnedWriteHalf,
    timeout: Duration,
    out: Vec<u8>,
}

/// One reply: its code and the text of its last line.
#[derive(Debug)]
pub struct Reply {
    pub code: u16,
    pub text: String,
}

impl Lmtp {
    pub async fn connect(addr: &str, timeout: Duration) -> Result<Lmtp> {
        let stream = tokio::time::timeout(timeout, TcpStream::connect(addr))
            .await
            .map_err(|_| anyhow!("connecting to {addr} timed out"))?
            .with_context(|| format!("connecting to LMTP at {addr}"))?;
        stream.set_nodelay(true)?;
        let (r, w) = stream.into_split();
        let mut lmtp = Lmtp {
            r: BufReader::new(r),
            w,
            timeout,
            out: Vec::new(),
        };
        let greeting = lmtp.reply().await?;
        if greeting.code != 220 {
            bail!("LMTP greeting: {} {}", greeting.code, greeting.text);
        }
        lmtp.w.write_all(b"LHLO crispin-bench\r\n").await?;
        let lhlo = lmtp.reply().await?;
        if lhlo.code != 250 {
            bail!("LHLO: {} {}", lhlo.code, lhlo.text);
        }
        Ok(lmtp)
    }

    /// Reads one (possibly multi-line) reply.
    async fn reply(&mut self) -> Result<Reply> {
        let mut line = Vec::new();
        loop {
            line.clear();
            let mut limited = (&mut self.r).take(64 * 1024);
            let read = limited.read_until(b'\n', &mut line);
            let n = tokio::time::timeout(self.timeout, read)
                .await
                .map_err(|_| anyhow!("no LMTP reply within {:?}", self.timeout))??;
            if n == 0 {
                bail!("the LMTP server closed the connection");
            }
            if line.len() < 4 || !line[..3].iter().all(u8::is_ascii_digit) {
                bail!("malformed LMTP reply: {}", String::from_utf8_lossy(&line));
            }
            let code: u16 = std::str::from_utf8(&line[..3])?.parse()?;
            if line[3] == b'-' {
                continue;
            }
            let text = String::from_utf8_lossy(&line[4..]).trim_end().to_owned();
            return Ok(Reply { code, text });
        }
    }

    /// Delivers `message` (CRLF line ends) to `rcpts`; every recipient
    /// must get a 250.
    pub async fn deliver(&mut self, from: &str, rcpts: &[String], message: &[u8]) -> Result<()> {
        self.out.clear();
        self.out
            .extend_from_slice(format!("MAIL FROM:<{from}>\r\n").as_bytes());
        for rcpt in rcpts {
            self.out
                .extend_from_slice(format!("RCPT TO:<{rcpt}>\r\n").as_bytes());
        }
        self.out.extend_from_slice(b"DATA\r\n");
        self.w.write_all(&self.out).await?;
        let mail = self.reply().await?;
        if mail.code != 250 {
            bail!("MAIL FROM: {} {}", mail.code, mail.text);
        }
        let mut refused = None;
        for rcpt in rcpts {
            let r = self.reply().await?;
            if r.code != 250 && refused.is_none() {
                refused = Some(format!("RCPT TO:<{rcpt}>: {} {}", r.code, r.text));
            }
        }
        let data = self.reply().await?;
        if let Some(refused) = refused {
            if data.code == 354 {
                self.w.write_all(b".\r\n").await?;
                for _ in rcpts {
                    let _ = self.reply().await;
                }
            }
            bail!(refused);
        }
        if data.code != 354 {
            bail!("DATA: {} {}", data.code, data.text);
        }
        self.out.clear();
        dot_stuff(message, &mut self.out);
        self.out.extend_from_slice(b".\r\n");
        self.w.write_all(&self.out).await?;
        for rcpt in rcpts {
            let r = self.reply().await?;
            if r.code != 250 {
                bail!("delivery to {rcpt}: {} {}", r.code, r.text);
            }
        }
        Ok(())
    }

    pub async fn quit(mut self) -> Result<()> {
        self.w.write_all(b"QUIT\r\n").await?;
        let r = self.reply().await?;
        if r.code != 221 {
            bail!("QUIT: {} {}", r.code, r.text);
        }
        Ok(())
    }
}

/// Doubles a leading dot on every line and makes sure the data ends with
/// CRLF.
pub fn dot_stuff(message: &[u8], out: &mut Vec<u8>) {
    out.reserve(message.len() + 16);
    let mut at_line_start = true;
    for &b in message {
        if at_line_start && b == b'.' {
            out.push(b'.');
        }
        out.push(b);
        at_line_start = b == b'\n';
    }
    if !out.ends_with(b"\r\n") {
        out.extend_from_slice(b"\r\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stuffing() {
        let mut out = Vec::new();
        dot_stuff(b".a\r\nb\r\n.\r\nc", &mut out);
        assert_eq!(out, b"..a\r\nb\r\n..\r\nc\r\n");
    }
}
