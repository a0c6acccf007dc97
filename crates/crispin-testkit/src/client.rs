//! A line-oriented IMAP client for tests, over any stream: TCP, TLS or
//! the in-process pipe of [`TestImap`](crate::TestImap).

use crate::TIMEOUT;
use crate::response::{parse_list, search_result};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

pub struct Client {
    pub stream: BufReader<Box<dyn crispin_proto::Stream>>,
    pub greeting: String,
    next_tag: u32,
}

impl Client {
    /// A client over TCP to `addr`; reads the greeting.
    pub async fn connect(addr: SocketAddr) -> Client {
        let stream = TcpStream::connect(addr).await.unwrap();
        Client::over(stream).await
    }

    /// A client on an established stream (TCP, TLS, in-process); reads
    /// the greeting, which must be `* OK`.
    pub async fn over(stream: impl crispin_proto::Stream + 'static) -> Client {
        let c = Client::unchecked(stream).await;
        assert!(c.greeting.starts_with("* OK"), "{}", c.greeting);
        c
    }

    /// Like [`Client::over`], whatever the greeting is (a refusal, `* BYE`).
    pub async fn unchecked(stream: impl crispin_proto::Stream + 'static) -> Client {
        let mut c = Client {
            stream: BufReader::new(Box::new(stream)),
            greeting: String::new(),
            next_tag: 1,
        };
        c.greeting = c.read_line().await;
        c
    }

    /// Takes the stream out (for a TLS handshake), leaving a dead one;
    /// nothing must have been read past the last line.
    pub fn take_stream(&mut self) -> Box<dyn crispin_proto::Stream> {
        let placeholder: Box<dyn crispin_proto::Stream> =
            Box::new(tokio::io::join(tokio::io::empty(), tokio::io::sink()));
        let plain = std::mem::replace(&mut self.stream, BufReader::new(placeholder));
        assert!(plain.buffer().is_empty(), "data after the last line read");
        plain.into_inner()
    }

    /// Speaks over `stream` from now on (after a TLS handshake).
    pub fn set_stream(&mut self, stream: impl crispin_proto::Stream + 'static) {
        self.stream = BufReader::new(Box::new(stream));
    }

    pub async fn send_raw(&mut self, bytes: &[u8]) {
        self.stream.get_mut().write_all(bytes).await.unwrap();
    }

    pub async fn send(&mut self, line: &str) {
        self.send_raw(format!("{line}\r\n").as_bytes()).await;
    }

    /// One response line; a literal `{n}` is read and inlined, so a
    /// response that spans literals comes back as one string.
    pub async fn read_line(&mut self) -> String {
        tokio::time::timeout(TIMEOUT, self.read_line_inner())
            .await
            .expect("timed out waiting for the server")
    }

    async fn read_line_inner(&mut self) -> String {
        let mut out = Vec::new();
        loop {
            let mut line = Vec::new();
            let n = self.stream.read_until(b'\n', &mut line).await.unwrap();
            assert!(
                n > 0,
                "connection closed; got so far: {:?}",
                String::from_utf8_lossy(&out)
            );
            if line.ends_with(b"\r\n") {
                line.truncate(line.len() - 2);
            }
            let lit = literal_len(&line);
            out.extend_from_slice(&line);
            match lit {
                Some(len) => {
                    let mut buf = vec![0; len];
                    self.stream.read_exact(&mut buf).await.unwrap();
                    out.extend_from_slice(b"\r\n");
                    out.extend_from_slice(&buf);
                }
                None => return String::from_utf8_lossy(&out).into_owned(),
            }
        }
    }

    /// Reads lines until one satisfies `pred`; returns them all.
    pub async fn read_until(&mut self, pred: impl Fn(&str) -> bool) -> Vec<String> {
        let mut lines = Vec::new();
        loop {
            let l = self.read_line().await;
            let done = pred(&l);
            lines.push(l);
            if done {
                return lines;
            }
        }
    }

    /// Whether the server closed the connection (after draining lines).
    pub async fn closed(&mut self) -> bool {
        let mut buf = Vec::new();
        match tokio::time::timeout(TIMEOUT, self.stream.read_to_end(&mut buf)).await {
            Ok(Ok(_)) => true,
            Ok(Err(_)) => true,
            Err(_) => false,
        }
    }

    pub fn tag(&mut self) -> String {
        let t = format!("T{}", self.next_tag);
        self.next_tag += 1;
        t
    }

    /// Sends a command and returns every line up to and including the
    /// tagged one (which is last).
    pub async fn cmd(&mut self, command: &str) -> Vec<String> {
        let tag = self.tag();
        self.send(&format!("{tag} {command}")).await;
        self.until_tag(&tag).await
    }

    pub async fn until_tag(&mut self, tag: &str) -> Vec<String> {
        let mut lines = Vec::new();
        loop {
            let line = self.read_line().await;
            let done = line.starts_with(&format!("{tag} "));
            lines.push(line);
            if done {
                return lines;
            }
        }
    }

    /// Runs a command that must succeed; returns its untagged lines.
    pub async fn ok(&mut self, command: &str) -> Vec<String> {
        let mut lines = self.cmd(command).await;
        let last = lines.pop().unwrap();
        let t = crate::response::tagged(&last);
        assert!(
            t.status == crate::Status::Ok,
            "{command} failed: {last}\n{lines:#?}"
        );
        lines
    }

    /// Runs a command and returns its tagged status line.
    pub async fn status(&mut self, command: &str) -> String {
        self.cmd(command).await.pop().unwrap()
    }

    /// APPENDs a message with a synchronising literal; returns the tagged
    /// line. Empty `flags` means no optional arguments.
    pub async fn append(&mut self, mailbox: &str, flags: &str, msg: &[u8]) -> String {
        let tag = self.tag();
        let sep = if flags.is_empty() { "" } else { " " };
        self.send(&format!(
            "{tag} APPEND {mailbox} {flags}{sep}{{{}}}",
            msg.len()
        ))
        .await;
        let cont = self.read_line().await;
        assert!(cont.starts_with('+'), "{cont}");
        self.send_raw(msg).await;
        self.send_raw(b"\r\n").await;
        self.until_tag(&tag).await.pop().unwrap()
    }

    /// APPENDs with a non-synchronising literal (`args` end with a space
    /// when not empty); returns all lines.
    pub async fn append_nonsync(&mut self, mailbox: &str, args: &str, msg: &[u8]) -> Vec<String> {
        let tag = self.tag();
        let mut bytes = format!("{tag} APPEND {mailbox} {args}{{{}+}}\r\n", msg.len()).into_bytes();
        bytes.extend_from_slice(msg);
        bytes.extend_from_slice(b"\r\n");
        self.send_raw(&bytes).await;
        self.until_tag(&tag).await
    }

    /// Sends `command` whose last argument is `literal`, as a
    /// synchronising literal (waiting for `+`); returns all lines.
    pub async fn cmd_with_literal(&mut self, command: &str, literal: &[u8]) -> Vec<String> {
        let tag = self.tag();
        self.send(&format!("{tag} {command} {{{}}}", literal.len()))
            .await;
        let cont = self.read_line().await;
        assert!(cont.starts_with("+ ") || cont == "+", "{cont}");
        self.send_raw(literal).await;
        self.send_raw(b"\r\n").await;
        self.until_tag(&tag).await
    }

    /// LIST (or LSUB) results of `cmd` as name → sorted attributes; no
    /// name may come twice.
    pub async fn listing(&mut self, cmd: &str) -> BTreeMap<String, Vec<String>> {
        let word = cmd.split(' ').next().unwrap().to_ascii_uppercase();
        let mut map = BTreeMap::new();
        for line in self.ok(cmd).await {
            let (name, attrs) = parse_list(&line, &word);
            assert!(map.insert(name, attrs).is_none(), "listed twice: {line}");
        }
        map
    }

    /// `LIST reference pattern` as name → sorted attributes.
    pub async fn list(&mut self, reference: &str, pattern: &str) -> BTreeMap<String, Vec<String>> {
        self.listing(&format!("LIST {reference} {pattern}")).await
    }

    /// `LSUB reference pattern` as name → sorted attributes.
    pub async fn lsub(&mut self, reference: &str, pattern: &str) -> BTreeMap<String, Vec<String>> {
        self.listing(&format!("LSUB {reference} {pattern}")).await
    }

    /// One STATUS item's value.
    pub async fn status_item(&mut self, mailbox: &str, item: &str) -> u64 {
        let lines = self.ok(&format!("STATUS {mailbox} ({item})")).await;
        assert_eq!(lines.len(), 1, "{lines:?}");
        let inner = lines[0]
            .rsplit_once(" (")
            .and_then(|(_, r)| r.strip_suffix(')'))
            .unwrap_or_else(|| panic!("bad STATUS response {}", lines[0]));
        let (name, value) = inner.split_once(' ').unwrap();
        assert_eq!(name, item);
        value.parse().unwrap()
    }

    /// Whether the session is authenticated, asked without side effects:
    /// NAMESPACE is BAD before login and OK after.
    pub async fn is_authenticated(&mut self) -> bool {
        let st = self.status("NAMESPACE").await;
        match crate::response::tagged(&st).status {
            crate::Status::Ok => true,
            crate::Status::Bad => false,
            crate::Status::No => panic!("unexpected NAMESPACE result: {st}"),
        }
    }

    /// UIDs of the messages the session sees, in sequence order.
    pub async fn uids(&mut self) -> Vec<u32> {
        search_result(&self.ok("UID SEARCH ALL").await)
    }
}

fn literal_len(line: &[u8]) -> Option<usize> {
    let inner = line.strip_suffix(b"}")?;
    let open = inner.iter().rposition(|&b| b == b'{')?;
    std::str::from_utf8(&inner[open + 1..]).ok()?.parse().ok()
}
