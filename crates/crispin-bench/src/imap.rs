//! A small asynchronous IMAP client: enough grammar to drive a server and
//! check what it answers (tagged status, untagged counts, literals), with
//! no dependency on the server's own crates.

use anyhow::{Context, Result, anyhow, bail};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

/// Longest response line (without literals) we accept.
const MAX_LINE: u64 = 16 * 1024 * 1024;
/// Largest literal we accept in a response.
const MAX_LITERAL: usize = 512 * 1024 * 1024;

/// The reading half: one response at a time, literals inlined.
pub struct Reader {
    inner: BufReader<OwnedReadHalf>,
    pub timeout: Duration,
}

impl Reader {
    /// Reads one complete response (a line and the literals it announces)
    /// into `buf`, without the final CRLF. Literal bytes are inlined right
    /// after their `{n}` announcement and a CRLF.
    pub async fn read_response(&mut self, buf: &mut Vec<u8>) -> Result<()> {
        buf.clear();
        loop {
            let start = buf.len();
            let mut limited = (&mut self.inner).take(MAX_LINE);
            let read = limited.read_until(b'\n', buf);
            let n = tokio::time::timeout(self.timeout, read)
                .await
                .map_err(|_| anyhow!("no response from the server within {:?}", self.timeout))?
                .context("reading from the server")?;
            if n == 0 {
                bail!("the server closed the connection");
            }
            if buf.last() != Some(&b'\n') {
                bail!("response line too long or cut off");
            }
            buf.pop();
            if buf.last() == Some(&b'\r') {
                buf.pop();
            }
            match literal_len(&buf[start..]) {
                Some(len) => {
                    if len > MAX_LITERAL {
                        bail!("the server announced a literal of {len} bytes");
                    }
                    buf.extend_from_slice(b"\r\n");
                    let at = buf.len();
                    buf.resize(at + len, 0);
                    tokio::time::timeout(self.timeout, self.inner.read_exact(&mut buf[at..]))
                        .await
                        .map_err(|_| anyhow!("literal not received within {:?}", self.timeout))?
                        .context("reading a literal")?;
                }
                None => return Ok(()),
            }
        }
    }
}

/// `{123}` at the end of a line: the size of the literal that follows.
pub fn literal_len(line: &[u8]) -> Option<usize> {
    let body = line.strip_suffix(b"}")?;
    let open = body.iter().rposition(|&b| b == b'{')?;
    let digits = &body[open + 1..];
    let digits = digits.strip_suffix(b"+").unwrap_or(digits);
    if digits.is_empty() || digits.len() > 12 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(digits).ok()?.parse().ok()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Ok,
    No,
    Bad,
}

/// The tagged response that completes a command.
#[derive(Debug, Clone)]
pub struct Tagged {
    pub status: Status,
    pub text: String,
}

impl Tagged {
    /// `[APPENDUID validity uid]` → uid.
    pub fn append_uid(&self) -> Option<u32> {
        let at = self.text.find("[APPENDUID ")?;
        let mut words = self.text[at + 11..].split([' ', ']']);
        let _validity = words.next()?;
        words.next()?.parse().ok()
    }
}

/// What the untagged responses told us about the selected mailbox.
#[derive(Debug, Clone, Default)]
pub struct MailboxState {
    pub exists: u32,
    pub uid_next: u32,
    pub uid_validity: u32,
    pub expunged: u32,
}

pub struct Conn {
    pub r: Reader,
    pub w: OwnedWriteHalf,
    next_tag: u32,
    pub caps: Vec<String>,
    pub state: MailboxState,
    buf: Vec<u8>,
    out: Vec<u8>,
    idle_tag: Option<String>,
}

impl Conn {
    /// Connects and reads the greeting (`* OK`).
    pub async fn connect(addr: &str, timeout: Duration) -> Result<Conn> {
        let stream = tokio::time::timeout(timeout, TcpStream::connect(addr))
            .await
            .map_err(|_| anyhow!("connecting to {addr} timed out"))?
            .with_context(|| format!("connecting to {addr}"))?;
        stream.set_nodelay(true)?;
        let (r, w) = stream.into_split();
        let mut conn = Conn {
            r: Reader {
                inner: BufReader::with_capacity(16 * 1024, r),
                timeout,
            },
            w,
            next_tag: 1,
            caps: Vec::new(),
            state: MailboxState::default(),
            buf: Vec::with_capacity(1024),
            out: Vec::with_capacity(1024),
            idle_tag: None,
        };
        let mut greeting = Vec::new();
        conn.r.read_response(&mut greeting).await?;
        if !greeting.starts_with(b"* OK") {
            bail!("unexpected greeting: {}", show(&greeting));
        }
        conn.note_caps(&greeting);
        Ok(conn)
    }

    pub fn has_cap(&self, cap: &str) -> bool {
        self.caps.iter().any(|c| c.eq_ignore_ascii_case(cap))
    }

    fn note_caps(&mut self, line: &[u8]) {
        let text = String::from_utf8_lossy(line);
        let upper = text.to_ascii_uppercase();
        let list = if let Some(at) = upper.find("[CAPABILITY ") {
            let rest = &text[at + 12..];
            rest.split(']').next().unwrap_or("")
        } else if let Some(rest) = text.strip_prefix("* CAPABILITY ") {
            rest
        } else {
            return;
        };
        self.caps = list.split_ascii_whitespace().map(str::to_owned).collect();
    }

    pub fn tag(&mut self) -> String {
        let tag = format!("A{}", self.next_tag);
        self.next_tag += 1;
        tag
    }

    /// Updates the mailbox state from an untagged response.
    fn note_untagged(&mut self, line: &[u8]) {
        note_state(&mut self.state, line);
        if starts_with_ci(line, b"* CAPABILITY ") {
            self.note_caps(line);
        }
    }

    /// Sends `tag command` and reads to its tagged response; every
    /// untagged response is handed to `each`. Errors unless the status is
    /// OK.
    pub async fn run<F>(&mut self, command: &str, each: F) -> Result<Tagged>
    where
        F: FnMut(&[u8]) -> Result<()>,
    {
        let tagged = self.run_status(command, each).await?;
        if tagged.status != Status::Ok {
            bail!("{command:.80} → {:?} {}", tagged.status, tagged.text);
        }
        Ok(tagged)
    }

    /// Like `run`, but a NO or BAD is returned rather than an error.
    pub async fn run_status<F>(&mut self, command: &str, mut each: F) -> Result<Tagged>
    where
        F: FnMut(&[u8]) -> Result<()>,
    {
        let tag = self.tag();
        self.out.clear();
        self.out.extend_from_slice(tag.as_bytes());
        self.out.push(b' ');
        self.out.extend_from_slice(command.as_bytes());
        self.out.extend_from_slice(b"\r\n");
        self.w.write_all(&self.out).await.context("sending")?;
        self.finish(&tag, &mut each).await
    }

    /// Sends several commands in one write (pipelined, as clients and
    /// imaptest do) and reads their answers in order; every untagged
    /// response goes to `each` with the index of the command it came
    /// under. Errors unless every status is OK.
    pub async fn run_pipelined<F>(
        &mut self,
        commands: &[String],
        mut each: F,
    ) -> Result<Vec<Tagged>>
    where
        F: FnMut(usize, &[u8]) -> Result<()>,
    {
        let mut tags = Vec::with_capacity(commands.len());
        self.out.clear();
        for command in commands {
            let tag = self.tag();
            self.out.extend_from_slice(tag.as_bytes());
            self.out.push(b' ');
            self.out.extend_from_slice(command.as_bytes());
            self.out.extend_from_slice(b"\r\n");
            tags.push(tag);
        }
        self.w.write_all(&self.out).await.context("sending")?;
        let mut answers = Vec::with_capacity(tags.len());
        for (i, tag) in tags.iter().enumerate() {
            let tagged = self.finish(tag, &mut |line: &[u8]| each(i, line)).await?;
            if tagged.status != Status::Ok {
                bail!("{:.80} → {:?} {}", commands[i], tagged.status, tagged.text);
            }
            answers.push(tagged);
        }
        Ok(answers)
    }

    /// Reads responses up to the tagged one for `tag`.
    async fn finish<F>(&mut self, tag: &str, each: &mut F) -> Result<Tagged>
    where
        F: FnMut(&[u8]) -> Result<()>,
    {
        let mut buf = std::mem::take(&mut self.buf);
        let result = loop {
            if let Err(e) = self.r.read_response(&mut buf).await {
                break Err(e);
            }
            if buf.starts_with(b"* ") {
                self.note_untagged(&buf);
                if let Err(e) = each(&buf) {
                    break Err(e);
                }
            } else if let Some(tagged) = parse_tagged(&buf, tag) {
                if tagged.text.contains("[CAPABILITY ") {
                    self.note_caps(&buf);
                }
                break Ok(tagged);
            } else if buf.starts_with(b"+") {
                break Err(anyhow!("unexpected continuation: {}", show(&buf)));
            } else {
                break Err(anyhow!("unexpected response: {}", show(&buf)));
            }
        };
        self.buf = buf;
        result
    }

    pub async fn login(&mut self, user: &str, password: &str) -> Result<()> {
        let command = format!("LOGIN {} {}", quote(user), quote(password));
        let tagged = self.run_status(&command, |_| Ok(())).await?;
        if tagged.status != Status::Ok {
            bail!("LOGIN {user} → {:?} {}", tagged.status, tagged.text);
        }
        Ok(())
    }

    /// SELECT (or EXAMINE): resets the mailbox state from the answer.
    pub async fn select(&mut self, mailbox: &str, examine: bool) -> Result<MailboxState> {
        self.state = MailboxState::default();
        let verb = if examine { "EXAMINE" } else { "SELECT" };
        self.run(&format!("{verb} {}", quote(mailbox)), |_| Ok(()))
            .await?;
        Ok(self.state.clone())
    }

    /// `STATUS mailbox (MESSAGES)`.
    pub async fn messages(&mut self, mailbox: &str) -> Result<u32> {
        let mut count = None;
        self.run(&format!("STATUS {} (MESSAGES)", quote(mailbox)), |line| {
            if starts_with_ci(line, b"* STATUS ") {
                count = number_after(line, b"MESSAGES ");
            }
            Ok(())
        })
        .await?;
        count.ok_or_else(|| anyhow!("STATUS gave no MESSAGES count"))
    }

    /// APPEND with a literal (LITERAL+ when the server offers it).
    pub async fn append(&mut self, mailbox: &str, flags: &str, message: &[u8]) -> Result<Tagged> {
        let tag = self.tag();
        let plus = self.has_cap("LITERAL+");
        self.out.clear();
        write_append(&mut self.out, &tag, mailbox, flags, message.len(), plus);
        if plus {
            self.out.extend_from_slice(message);
            self.out.extend_from_slice(b"\r\n");
            self.w.write_all(&self.out).await.context("sending")?;
        } else {
            self.w.write_all(&self.out).await.context("sending")?;
            let mut buf = Vec::new();
            loop {
                self.r.read_response(&mut buf).await?;
                if buf.starts_with(b"+") {
                    break;
                }
                if buf.starts_with(b"* ") {
                    self.note_untagged(&buf);
                    continue;
                }
                match parse_tagged(&buf, &tag) {
                    Some(t) => bail!("APPEND refused: {:?} {}", t.status, t.text),
                    None => bail!("unexpected response: {}", show(&buf)),
                }
            }
            self.out.clear();
            self.out.extend_from_slice(message);
            self.out.extend_from_slice(b"\r\n");
            self.w.write_all(&self.out).await.context("sending")?;
        }
        let tagged = self.finish(&tag, &mut |_| Ok(())).await?;
        if tagged.status != Status::Ok {
            bail!("APPEND → {:?} {}", tagged.status, tagged.text);
        }
        Ok(tagged)
    }

    /// Sends IDLE and waits for the continuation.
    pub async fn idle_start(&mut self) -> Result<()> {
        let tag = self.tag();
        self.out.clear();
        self.out.extend_from_slice(tag.as_bytes());
        self.out.extend_from_slice(b" IDLE\r\n");
        self.w.write_all(&self.out).await.context("sending")?;
        let mut buf = std::mem::take(&mut self.buf);
        let result = loop {
            if let Err(e) = self.r.read_response(&mut buf).await {
                break Err(e);
            }
            if buf.starts_with(b"+") {
                break Ok(());
            }
            if buf.starts_with(b"* ") {
                self.note_untagged(&buf);
                continue;
            }
            break Err(match parse_tagged(&buf, &tag) {
                Some(t) => anyhow!("IDLE refused: {:?} {}", t.status, t.text),
                None => anyhow!("unexpected response: {}", show(&buf)),
            });
        };
        self.buf = buf;
        self.idle_tag = Some(tag);
        result
    }

    /// While idling: reads untagged responses until `done(state)` holds,
    /// and returns when that was seen. `limit` bounds the wait.
    pub async fn idle_wait<F>(&mut self, limit: Duration, done: F) -> Result<Instant>
    where
        F: Fn(&MailboxState) -> bool,
    {
        let deadline = Instant::now() + limit;
        let mut buf = std::mem::take(&mut self.buf);
        let saved = self.r.timeout;
        let result = loop {
            if done(&self.state) {
                break Ok(Instant::now());
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break Err(anyhow!("no EXISTS within {limit:?} while idling"));
            }
            self.r.timeout = left;
            if let Err(e) = self.r.read_response(&mut buf).await {
                break Err(e);
            }
            if buf.starts_with(b"* ") {
                self.note_untagged(&buf);
            } else {
                break Err(anyhow!("unexpected response while idling: {}", show(&buf)));
            }
        };
        self.r.timeout = saved;
        self.buf = buf;
        result
    }

    /// Ends IDLE with DONE and waits for its tagged OK.
    pub async fn idle_done(&mut self) -> Result<()> {
        let tag = self
            .idle_tag
            .take()
            .ok_or_else(|| anyhow!("DONE without IDLE"))?;
        self.w.write_all(b"DONE\r\n").await.context("sending")?;
        let tagged = self.finish(&tag, &mut |_| Ok(())).await?;
        if tagged.status != Status::Ok {
            bail!("IDLE ended with {:?} {}", tagged.status, tagged.text);
        }
        Ok(())
    }

    /// LOGOUT: expects `* BYE` and a tagged OK.
    pub async fn logout(&mut self) -> Result<()> {
        let mut bye = false;
        self.run("LOGOUT", |line| {
            bye |= starts_with_ci(line, b"* BYE");
            Ok(())
        })
        .await?;
        if !bye {
            bail!("LOGOUT without * BYE");
        }
        Ok(())
    }
}

/// `tag APPEND "mailbox" (flags) {n+}\r\n` into `out`.
pub fn write_append(
    out: &mut Vec<u8>,
    tag: &str,
    mailbox: &str,
    flags: &str,
    len: usize,
    plus: bool,
) {
    out.extend_from_slice(tag.as_bytes());
    out.extend_from_slice(b" APPEND ");
    out.extend_from_slice(quote(mailbox).as_bytes());
    if !flags.is_empty() {
        out.extend_from_slice(b" (");
        out.extend_from_slice(flags.as_bytes());
        out.push(b')');
    }
    let literal = if plus {
        format!(" {{{len}+}}\r\n")
    } else {
        format!(" {{{len}}}\r\n")
    };
    out.extend_from_slice(literal.as_bytes());
}

/// `tag OK text` → Tagged, when the line carries `tag`.
pub fn parse_tagged(line: &[u8], tag: &str) -> Option<Tagged> {
    let rest = line.strip_prefix(tag.as_bytes())?.strip_prefix(b" ")?;
    let (word, text) = match rest.iter().position(|&b| b == b' ') {
        Some(at) => (&rest[..at], &rest[at + 1..]),
        None => (rest, &b""[..]),
    };
    let status = if word.eq_ignore_ascii_case(b"OK") {
        Status::Ok
    } else if word.eq_ignore_ascii_case(b"NO") {
        Status::No
    } else if word.eq_ignore_ascii_case(b"BAD") {
        Status::Bad
    } else {
        return None;
    };
    Some(Tagged {
        status,
        text: String::from_utf8_lossy(text).into_owned(),
    })
}

/// Folds one untagged response into the mailbox state.
pub fn note_state(state: &mut MailboxState, line: &[u8]) {
    if let Some(n) = untagged_number(line, b"EXISTS") {
        state.exists = n;
    } else if untagged_number(line, b"EXPUNGE").is_some() {
        state.exists = state.exists.saturating_sub(1);
        state.expunged += 1;
    } else if starts_with_ci(line, b"* OK [UIDNEXT ") {
        if let Some(n) = number_after(line, b"UIDNEXT ") {
            state.uid_next = n;
        }
    } else if starts_with_ci(line, b"* OK [UIDVALIDITY ")
        && let Some(n) = number_after(line, b"UIDVALIDITY ")
    {
        state.uid_validity = n;
    }
}

/// `* 12 WORD…` → 12 when the word matches.
pub fn untagged_number(line: &[u8], word: &[u8]) -> Option<u32> {
    let rest = line.strip_prefix(b"* ")?;
    let space = rest.iter().position(|&b| b == b' ')?;
    let n = std::str::from_utf8(&rest[..space]).ok()?.parse().ok()?;
    let after = &rest[space + 1..];
    let w = after.get(..word.len())?;
    if !w.eq_ignore_ascii_case(word) {
        return None;
    }
    match after.get(word.len()) {
        None | Some(b' ') => Some(n),
        _ => None,
    }
}

/// The number right after the first occurrence of `key` (case-insensitive).
pub fn number_after(line: &[u8], key: &[u8]) -> Option<u32> {
    number_after_u64(line, key).and_then(|n| u32::try_from(n).ok())
}

/// The 64-bit number right after `key` (a modseq).
pub fn number_after_u64(line: &[u8], key: &[u8]) -> Option<u64> {
    let at = find_ci(line, key)? + key.len();
    let digits: Vec<u8> = line[at..]
        .iter()
        .copied()
        .take_while(u8::is_ascii_digit)
        .collect();
    std::str::from_utf8(&digits).ok()?.parse().ok()
}

pub fn find_ci(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || hay.len() < needle.len() {
        return None;
    }
    hay.windows(needle.len())
        .position(|w| w.eq_ignore_ascii_case(needle))
}

pub fn starts_with_ci(line: &[u8], prefix: &[u8]) -> bool {
    line.len() >= prefix.len() && line[..prefix.len()].eq_ignore_ascii_case(prefix)
}

/// `* SEARCH 1 2 3` → the numbers; None when the line is no SEARCH.
pub fn search_hits(line: &[u8]) -> Option<Vec<u32>> {
    if !starts_with_ci(line, b"* SEARCH") {
        return None;
    }
    let rest = &line[8..];
    let text = std::str::from_utf8(rest).ok()?;
    let mut hits = Vec::new();
    for word in text.split_ascii_whitespace() {
        if word.starts_with('(') {
            break; // (MODSEQ n)
        }
        hits.push(word.parse().ok()?);
    }
    Some(hits)
}

/// An IMAP quoted string.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// A response for an error message: the start of it, printable.
pub fn show(line: &[u8]) -> String {
    let cut = &line[..line.len().min(200)];
    String::from_utf8_lossy(cut).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals() {
        assert_eq!(literal_len(b"* 1 FETCH (BODY[] {123}"), Some(123));
        assert_eq!(literal_len(b"A1 APPEND x {5+}"), Some(5));
        assert_eq!(literal_len(b"* OK {abc}"), None);
        assert_eq!(literal_len(b"* OK done"), None);
        assert_eq!(literal_len(b"{}"), None);
    }

    #[test]
    fn tagged() {
        let t = parse_tagged(b"A7 OK [APPENDUID 38505 3955] APPEND completed", "A7").unwrap();
        assert_eq!(t.status, Status::Ok);
        assert_eq!(t.append_uid(), Some(3955));
        assert!(parse_tagged(b"A70 OK x", "A7").is_none());
        assert_eq!(parse_tagged(b"A7 no x", "A7").unwrap().status, Status::No);
    }

    #[test]
    fn state() {
        let mut s = MailboxState::default();
        note_state(&mut s, b"* 17 EXISTS");
        note_state(&mut s, b"* OK [UIDNEXT 4392] Predicted next UID");
        note_state(&mut s, b"* OK [UIDVALIDITY 3857529045] UIDs valid");
        note_state(&mut s, b"* 3 EXPUNGE");
        assert_eq!(
            (s.exists, s.uid_next, s.uid_validity, s.expunged),
            (16, 4392, 3857529045, 1)
        );
        assert_eq!(untagged_number(b"* 5 EXISTSX", b"EXISTS"), None);
        assert_eq!(untagged_number(b"* 5 FETCH (UID 9)", b"FETCH"), Some(5));
    }

    #[test]
    fn search() {
        assert_eq!(search_hits(b"* SEARCH 2 84 882"), Some(vec![2, 84, 882]));
        assert_eq!(search_hits(b"* SEARCH"), Some(vec![]));
        assert_eq!(search_hits(b"* SEARCH 1 (MODSEQ 9)"), Some(vec![1]));
        assert_eq!(search_hits(b"* 1 EXISTS"), None);
    }

    #[test]
    fn quoting() {
        assert_eq!(quote(r#"a"b\c"#), r#""a\"b\\c""#);
    }
}
