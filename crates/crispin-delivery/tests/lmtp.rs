//! LMTP over a real socket: per-recipient replies, pipelining, dot
//! stuffing, bare LF, size limits, CHUNKING, a storage failure that
//! must leave nothing half-delivered, bare local parts and postmaster,
//! the `Received:` field, and what refusals log.

use async_trait::async_trait;
use crispin_delivery::{Lmtp, LmtpConfig};
use crispin_store::*;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

const TIMEOUT: Duration = Duration::from_secs(20);

/// A store that can be told to fail appends for one account, as a full
/// disk or a database error would.
struct Failing {
    inner: Arc<dyn Store>,
    fail_for: Option<AccountId>,
    failed: AtomicBool,
}

#[async_trait]
impl Store for Failing {
    async fn close(&self) {
        self.inner.close().await
    }
    fn spool_dir(&self) -> &std::path::Path {
        self.inner.spool_dir()
    }
    fn notify_running_server(&self) {
        self.inner.notify_running_server()
    }
    fn listen_for_other_processes(&self) -> std::io::Result<()> {
        self.inner.listen_for_other_processes()
    }
    fn tell_running_server(&self, n: &AccountNotice) -> std::io::Result<bool> {
        self.inner.tell_running_server(n)
    }
    fn account_notices(&self) -> tokio::sync::broadcast::Receiver<AccountNotice> {
        self.inner.account_notices()
    }
    async fn create_account(&self, n: &str, c: &Credentials) -> Result<AccountId> {
        self.inner.create_account(n, c).await
    }
    async fn delete_account(&self, n: &str) -> Result<()> {
        self.inner.delete_account(n).await
    }
    async fn set_credentials(&self, n: &str, c: &Credentials) -> Result<()> {
        self.inner.set_credentials(n, c).await
    }
    async fn account(&self, n: &str) -> Result<Option<Account>> {
        self.inner.account(n).await
    }
    async fn list_accounts(&self) -> Result<Vec<String>> {
        self.inner.list_accounts().await
    }
    async fn list_mailboxes(&self, a: AccountId) -> Result<Vec<MailboxInfo>> {
        self.inner.list_mailboxes(a).await
    }
    async fn mailbox(&self, a: AccountId, n: &str) -> Result<Option<MailboxInfo>> {
        self.inner.mailbox(a, n).await
    }
    async fn create_mailbox(&self, a: AccountId, n: &str, u: Option<&str>) -> Result<MailboxId> {
        self.inner.create_mailbox(a, n, u).await
    }
    async fn delete_mailbox(&self, a: AccountId, m: MailboxId) -> Result<()> {
        self.inner.delete_mailbox(a, m).await
    }
    async fn rename_mailbox(&self, a: AccountId, f: &str, t: &str) -> Result<()> {
        self.inner.rename_mailbox(a, f, t).await
    }
    async fn subscriptions(&self, a: AccountId) -> Result<Vec<String>> {
        self.inner.subscriptions(a).await
    }
    async fn set_subscribed(&self, a: AccountId, n: &str, on: bool) -> Result<()> {
        self.inner.set_subscribed(a, n, on).await
    }
    async fn status(&self, a: AccountId, m: MailboxId) -> Result<MailboxStatus> {
        self.inner.status(a, m).await
    }
    async fn snapshot(&self, a: AccountId, m: MailboxId) -> Result<Snapshot> {
        self.inner.snapshot(a, m).await
    }
    async fn changes_since(
        &self,
        a: AccountId,
        m: MailboxId,
        s: u64,
        fresh: bool,
    ) -> Result<Changes> {
        self.inner.changes_since(a, m, s, fresh).await
    }
    async fn claim_recent(&self, a: AccountId, m: MailboxId, u: u32) -> Result<u32> {
        self.inner.claim_recent(a, m, u).await
    }
    fn subscribe(&self, a: AccountId) -> Subscription {
        self.inner.subscribe(a)
    }
    fn watch(&self, m: MailboxId) -> watch::Receiver<u64> {
        self.inner.watch(m)
    }
    async fn append(&self, a: AccountId, m: MailboxId, msg: NewMessage) -> Result<Appended> {
        if Some(a) == self.fail_for {
            self.failed.store(true, Ordering::SeqCst);
            return Err(StoreError::Io(std::io::Error::other(
                "disk full (injected)",
            )));
        }
        self.inner.append(a, m, msg).await
    }
    async fn fetch(
        &self,
        a: AccountId,
        m: MailboxId,
        u: &[u32],
        n: FetchNeed,
    ) -> Result<Vec<MessageRecord>> {
        self.inner.fetch(a, m, u, n).await
    }
    async fn read_blob(&self, a: AccountId, b: &str, s: u64, l: u64) -> Result<Vec<u8>> {
        self.inner.read_blob(a, b, s, l).await
    }
    async fn open_blob(&self, a: AccountId, b: &str) -> Result<BlobReader> {
        self.inner.open_blob(a, b).await
    }
    async fn store_flags_unchanged_since(
        &self,
        a: AccountId,
        m: MailboxId,
        u: &[u32],
        o: FlagOp,
        f: &Flags,
        since: Option<u64>,
    ) -> Result<StoreResult> {
        self.inner
            .store_flags_unchanged_since(a, m, u, o, f, since)
            .await
    }
    async fn expunge(&self, a: AccountId, m: MailboxId, u: Option<&[u32]>) -> Result<Vec<u32>> {
        self.inner.expunge(a, m, u).await
    }
    async fn copy(
        &self,
        a: AccountId,
        f: MailboxId,
        u: &[u32],
        t: MailboxId,
        mv: bool,
    ) -> Result<CopyResult> {
        self.inner.copy(a, f, u, t, mv).await
    }
    async fn search(&self, a: AccountId, m: MailboxId, q: &Query) -> Result<Vec<u32>> {
        self.inner.search(a, m, q).await
    }
}

struct Env {
    _dir: tempfile::TempDir,
    store: Arc<Failing>,
    addr: std::net::SocketAddr,
    alice: AccountId,
    bob: AccountId,
}

async fn env(max_message_size: usize, fail_bob: bool) -> Env {
    let config = LmtpConfig {
        max_message_size,
        ..Default::default()
    };
    env_with(config, fail_bob).await
}

async fn env_with(config: LmtpConfig, fail_bob: bool) -> Env {
    let dir = tempfile::tempdir().unwrap();
    let opened = StoreConfig {
        backend: Backend::Sqlite,
        data_dir: dir.path().to_path_buf(),
    };
    let inner = crispin_store::open(&opened, OpenMode::CreateIfMissing)
        .await
        .unwrap();
    let creds = Credentials::default();
    let alice = inner.create_account("alice", &creds).await.unwrap();
    let bob = inner.create_account("bob", &creds).await.unwrap();
    inner.create_mailbox(alice, "Lists", None).await.unwrap();
    let store = Arc::new(Failing {
        inner,
        fail_for: fail_bob.then_some(bob),
        failed: AtomicBool::new(false),
    });
    let lmtp = Arc::new(Lmtp {
        store: store.clone(),
        config,
        shutdown: CancellationToken::new(),
    });
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((s, peer)) = listener.accept().await {
            let lmtp = lmtp.clone();
            tokio::spawn(async move { lmtp.serve_peer(s, Some(peer)).await });
        }
    });
    Env {
        _dir: dir,
        store,
        addr,
        alice,
        bob,
    }
}

struct Conn {
    s: BufReader<TcpStream>,
}

impl Conn {
    async fn open(addr: std::net::SocketAddr) -> Conn {
        let mut c = Conn {
            s: BufReader::new(TcpStream::connect(addr).await.unwrap()),
        };
        assert!(c.line().await.starts_with("220 "));
        c
    }
    async fn send(&mut self, data: &[u8]) {
        self.s.get_mut().write_all(data).await.unwrap();
    }
    async fn line(&mut self) -> String {
        let mut l = String::new();
        tokio::time::timeout(TIMEOUT, self.s.read_line(&mut l))
            .await
            .expect("timeout")
            .unwrap();
        l.trim_end().to_string()
    }
    /// Reads a (possibly multi-line) reply; returns its last line.
    async fn reply(&mut self) -> String {
        loop {
            let l = self.line().await;
            if l.as_bytes().get(3) != Some(&b'-') {
                return l;
            }
        }
    }
}

async fn messages(env: &Env, account: AccountId, mailbox: &str) -> Vec<Vec<u8>> {
    let st = &env.store.inner;
    let mb = st.mailbox(account, mailbox).await.unwrap().unwrap();
    let snap = st.snapshot(account, mb.id).await.unwrap();
    let recs = st
        .fetch(account, mb.id, &snap.uids, FetchNeed::default())
        .await
        .unwrap();
    let mut out = Vec::new();
    for r in recs {
        out.push(st.read_blob(account, &r.blob, 0, r.size).await.unwrap());
    }
    out
}

/// Cuts the `Received:` field (the third, after Return-Path and
/// Delivered-To) out of a stored message: the field unfolded, and the
/// message without it.
fn cut_received(msg: &[u8]) -> (String, Vec<u8>) {
    let text = String::from_utf8(msg.to_vec()).unwrap();
    let mut start = 0;
    for _ in 0..2 {
        start += text[start..].find("\r\n").unwrap() + 2;
    }
    assert!(text[start..].starts_with("Received: "), "{text}");
    let mut end = start;
    loop {
        end += text[end..].find("\r\n").unwrap() + 2;
        if !text[end..].starts_with([' ', '\t']) {
            break;
        }
    }
    let field = text[start..end - 2].replace("\r\n\t", " ");
    let rest = format!("{}{}", &text[..start], &text[end..]);
    (field, rest.into_bytes())
}

/// The form RFC 5321 §4.4 asks for: who handed it over, who took it, how,
/// under which id, for whom, and when.
fn assert_received(field: &str, lhlo: &str, peer: &str, host: &str, rcpt: &str) {
    let head = format!("Received: from {lhlo} ({peer}) by {host} (Crispin) with LMTP id ");
    let rest = field
        .strip_prefix(&head)
        .unwrap_or_else(|| panic!("{field}"));
    let (id, rest) = rest.split_once(' ').unwrap();
    assert!(
        !id.is_empty() && id.chars().all(|c| c.is_ascii_hexdigit()),
        "{field}"
    );
    let date = rest
        .strip_prefix(&format!("for <{rcpt}>; "))
        .unwrap_or_else(|| panic!("{field}"));
    chrono::DateTime::parse_from_rfc2822(date).unwrap();
}

#[tokio::test]
async fn pipelined_multi_recipient_with_unknown_user() {
    let env = env(1 << 20, false).await;
    let mut c = Conn::open(env.addr).await;
    // One write: LHLO, MAIL, three RCPTs, DATA (PIPELINING).
    c.send(
        b"LHLO mta\r\nMAIL FROM:<s@example.org>\r\nRCPT TO:<alice@example.org>\r\n\
          RCPT TO:<nobody@example.org>\r\nRCPT TO:<bob+x@elsewhere.net>\r\nDATA\r\n",
    )
    .await;
    let lhlo = c.reply().await;
    assert!(lhlo.starts_with("250 SIZE"), "{lhlo}");
    assert!(c.line().await.starts_with("250 2.1.0"));
    assert!(c.line().await.starts_with("250 2.1.5"));
    assert!(c.line().await.starts_with("550 5.1.1"));
    assert!(c.line().await.starts_with("250 2.1.5"));
    assert!(c.line().await.starts_with("354"));
    c.send(b"Subject: hi\r\n\r\nhello\r\n.\r\n").await;
    // One reply per accepted recipient, in RCPT order.
    assert!(c.line().await.starts_with("250 2.1.5 <alice@example.org>"));
    assert!(
        c.line()
            .await
            .starts_with("250 2.1.5 <bob+x@elsewhere.net>")
    );
    c.send(b"QUIT\r\n").await;
    assert!(c.line().await.starts_with("221"));
    let a = messages(&env, env.alice, "INBOX").await;
    assert_eq!(a.len(), 1);
    let (received, rest) = cut_received(&a[0]);
    assert_eq!(
        rest,
        b"Return-Path: <s@example.org>\r\nDelivered-To: alice@example.org\r\nSubject: hi\r\n\r\nhello\r\n"
    );
    assert_received(
        &received,
        "mta",
        "[127.0.0.1]",
        "localhost",
        "alice@example.org",
    );
    let b = messages(&env, env.bob, "INBOX").await;
    assert_eq!(b.len(), 1);
    let (received_b, _) = cut_received(&b[0]);
    assert_received(
        &received_b,
        "mta",
        "[127.0.0.1]",
        "localhost",
        "bob+x@elsewhere.net",
    );
    // One transaction, one id, whatever the recipient.
    let id = |r: &str| {
        r.split(" id ")
            .nth(1)
            .unwrap()
            .split(' ')
            .next()
            .unwrap()
            .to_string()
    };
    assert_eq!(id(&received), id(&received_b));
}

#[tokio::test]
async fn dot_stuffing_and_bare_lf() {
    let env = env(1 << 20, false).await;
    let mut c = Conn::open(env.addr).await;
    c.send(b"LHLO mta\r\nMAIL FROM:<>\r\nRCPT TO:<alice+Lists@x>\r\nDATA\r\n")
        .await;
    c.reply().await;
    for _ in 0..3 {
        c.line().await;
    }
    // A leading dot is doubled on the wire; bare LF lines are stored as CRLF.
    c.send(b"Subject: dots\nX: y\n\n..leading dot\n...two\r\nplain\r\n.\r\n")
        .await;
    assert!(c.line().await.starts_with("250 2.1.5"));
    let got = messages(&env, env.alice, "Lists").await;
    assert_eq!(got.len(), 1);
    let (received, rest) = cut_received(&got[0]);
    assert_eq!(
        rest,
        b"Return-Path: <>\r\nDelivered-To: alice+Lists@x\r\nSubject: dots\r\nX: y\r\n\r\n.leading dot\r\n..two\r\nplain\r\n"
    );
    assert_received(
        &received,
        "mta",
        "[127.0.0.1]",
        "localhost",
        "alice+Lists@x",
    );
    // +detail for a mailbox that does not exist goes to INBOX.
    assert!(messages(&env, env.alice, "INBOX").await.is_empty());
}

#[tokio::test]
async fn oversize_message_refused_per_recipient() {
    let env = env(1000, false).await;
    let mut c = Conn::open(env.addr).await;
    c.send(b"LHLO mta\r\n").await;
    c.reply().await;
    // Declared too big: refused at MAIL.
    c.send(b"MAIL FROM:<s@x> SIZE=5000\r\n").await;
    assert!(c.line().await.starts_with("552 5.3.4"));
    // Undeclared, but too big when it arrives.
    c.send(b"MAIL FROM:<s@x>\r\nRCPT TO:<alice@x>\r\nRCPT TO:<bob@x>\r\nDATA\r\n")
        .await;
    for _ in 0..4 {
        c.line().await;
    }
    let mut body = b"Subject: big\r\n\r\n".to_vec();
    for _ in 0..100 {
        body.extend_from_slice(b"0123456789012345678901234567890123456789\r\n");
    }
    body.extend_from_slice(b".\r\n");
    c.send(&body).await;
    assert!(c.line().await.starts_with("552 5.3.4"));
    assert!(c.line().await.starts_with("552 5.3.4"));
    // The session goes on.
    c.send(b"NOOP\r\n").await;
    assert!(c.line().await.starts_with("250"));
    assert!(messages(&env, env.alice, "INBOX").await.is_empty());
}

#[tokio::test]
async fn storage_failure_gives_451_and_stores_nothing_for_that_recipient() {
    let env = env(1 << 20, true).await;
    let mut c = Conn::open(env.addr).await;
    c.send(b"LHLO mta\r\nMAIL FROM:<s@x>\r\nRCPT TO:<alice@x>\r\nRCPT TO:<bob@x>\r\nDATA\r\n")
        .await;
    c.reply().await;
    for _ in 0..4 {
        c.line().await;
    }
    c.send(b"Subject: s\r\n\r\nbody\r\n.\r\n").await;
    assert!(c.line().await.starts_with("250 2.1.5 <alice@x>"));
    assert!(c.line().await.starts_with("451 4.3.0 <bob@x>"));
    assert!(env.store.failed.load(Ordering::SeqCst));
    assert_eq!(messages(&env, env.alice, "INBOX").await.len(), 1);
    assert!(messages(&env, env.bob, "INBOX").await.is_empty());
}

#[tokio::test]
async fn chunking_bdat() {
    let env = env(1 << 20, false).await;
    let mut c = Conn::open(env.addr).await;
    c.send(b"LHLO mta\r\nMAIL FROM:<s@x>\r\nRCPT TO:<alice@x>\r\n")
        .await;
    c.reply().await;
    c.line().await;
    c.line().await;
    c.send(b"BDAT 14\r\nSubject: b\r\n\r\nBDAT 6 LAST\r\nbody\r\n")
        .await;
    assert!(c.line().await.starts_with("250 2.0.0"));
    assert!(c.line().await.starts_with("250 2.1.5 <alice@x>"));
    let got = messages(&env, env.alice, "INBOX").await;
    assert!(got[0].ends_with(b"Subject: b\r\n\r\nbody\r\n"), "{got:?}");
}

#[tokio::test]
async fn command_order_errors() {
    let env = env(1 << 20, false).await;
    let mut c = Conn::open(env.addr).await;
    c.send(b"MAIL FROM:<s@x>\r\n").await;
    assert!(c.line().await.starts_with("503"));
    c.send(b"EHLO x\r\n").await;
    assert!(c.line().await.starts_with("500"));
    c.send(b"LHLO x\r\n").await;
    c.reply().await;
    c.send(b"RCPT TO:<alice@x>\r\n").await;
    assert!(c.line().await.starts_with("503"));
    c.send(b"MAIL FROM:<s@x>\r\nDATA\r\n").await;
    c.line().await;
    assert!(c.line().await.starts_with("503"));
    c.send(b"RSET\r\nBOGUS\r\n").await;
    assert!(c.line().await.starts_with("250"));
    assert!(c.line().await.starts_with("500"));
}

#[tokio::test]
async fn received_field_leads_with_the_trace() {
    let env = env_with(
        LmtpConfig {
            hostname: "lmtp.example.org".into(),
            ..Default::default()
        },
        false,
    )
    .await;
    let mut c = Conn::open(env.addr).await;
    c.send(
        b"LHLO mx.example.net\r\nMAIL FROM:<s@example.org>\r\n\
          RCPT TO:<alice@example.org>\r\nDATA\r\n",
    )
    .await;
    c.reply().await;
    for _ in 0..3 {
        c.line().await;
    }
    c.send(b"Subject: traced\r\n\r\nbody\r\n.\r\n").await;
    assert!(c.line().await.starts_with("250 2.1.5"));
    let got = messages(&env, env.alice, "INBOX").await;
    let text = String::from_utf8(got[0].clone()).unwrap();
    let lines: Vec<&str> = text.split("\r\n").collect();
    assert_eq!(lines[0], "Return-Path: <s@example.org>");
    assert_eq!(lines[1], "Delivered-To: alice@example.org");
    assert!(lines[2].starts_with("Received: from mx.example.net ([127.0.0.1])"));
    // Too long for one line: folded, every line within RFC 5322's 78.
    assert!(lines[3].starts_with('\t'), "{text}");
    for l in &lines {
        assert!(l.len() <= 78, "{l}");
    }
    let (received, rest) = cut_received(&got[0]);
    assert_received(
        &received,
        "mx.example.net",
        "[127.0.0.1]",
        "lmtp.example.org",
        "alice@example.org",
    );
    assert!(rest.ends_with(b"Delivered-To: alice@example.org\r\nSubject: traced\r\n\r\nbody\r\n"));
    // A mail parser reads it as a Received field with every part in place.
    let msg = mail_parser::MessageParser::default()
        .parse(&got[0])
        .unwrap();
    let r = msg.received().unwrap();
    assert_eq!(
        r.from(),
        Some(&mail_parser::Host::Name("mx.example.net".into()))
    );
    assert_eq!(
        r.by(),
        Some(&mail_parser::Host::Name("lmtp.example.org".into()))
    );
    assert_eq!(r.with, Some(mail_parser::Protocol::LMTP));
    assert_eq!(r.for_(), Some("alice@example.org"));
    assert!(r.id().is_some());
    let age = chrono::Utc::now().timestamp() - r.date().unwrap().to_timestamp();
    assert!((0..60).contains(&age), "{age}");
    assert_eq!(msg.subject(), Some("traced"));
}

#[tokio::test]
async fn bare_local_part_and_postmaster() {
    // Postmaster mail goes to bob here.
    let env = env_with(
        LmtpConfig {
            postmaster: "bob".into(),
            ..Default::default()
        },
        false,
    )
    .await;
    let mut c = Conn::open(env.addr).await;
    c.send(b"LHLO mta\r\nMAIL FROM:<s@x>\r\n").await;
    c.reply().await;
    c.line().await;
    for (rcpt, reply) in [
        ("<alice>", "250 2.1.5"),
        ("<postmaster>", "250 2.1.5"),
        ("<Postmaster>", "250 2.1.5"),
        ("<POSTMASTER@example.org>", "250 2.1.5"),
        ("<nobody>", "550 5.1.1 <nobody>"),
        // Still refused: the null path, and what is no dot-atom.
        ("<>", "501 5.1.3"),
        ("<al..ice>", "501 5.1.3"),
        ("<alice> BOGUS=1", "501 5.1.3"),
    ] {
        let line = format!("RCPT TO:{rcpt}\r\n");
        if rcpt == "<Postmaster>" {
            // In two reads: the line is put together before it is looked at.
            let (a, b) = line.split_at(12);
            c.send(a.as_bytes()).await;
            tokio::time::sleep(Duration::from_millis(50)).await;
            c.send(b.as_bytes()).await;
        } else {
            c.send(line.as_bytes()).await;
        }
        let got = c.line().await;
        assert!(got.starts_with(reply), "{rcpt}: {got}");
    }
    c.send(b"DATA\r\n").await;
    assert!(c.line().await.starts_with("354"));
    c.send(b"Subject: local\r\n\r\nbody\r\n.\r\n").await;
    for rcpt in [
        "alice",
        "postmaster",
        "Postmaster",
        "POSTMASTER@example.org",
    ] {
        let got = c.line().await;
        assert_eq!(got, format!("250 2.1.5 <{rcpt}> Delivered"));
    }
    let a = messages(&env, env.alice, "INBOX").await;
    assert_eq!(a.len(), 1);
    assert!(a[0].starts_with(b"Return-Path: <s@x>\r\nDelivered-To: alice\r\n"));
    let b = messages(&env, env.bob, "INBOX").await;
    assert_eq!(b.len(), 3);
    assert!(b[1].starts_with(b"Return-Path: <s@x>\r\nDelivered-To: Postmaster\r\n"));
}

/// The log, for the tests that read it. One subscriber for the whole
/// process, not one per test (`set_default`): tracing caches whether a
/// call site is enabled process-wide, and with a single scoped subscriber
/// a call site first reached by a concurrent test without one stays off.
/// Each test picks its own lines by its connection's `peer=`.
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Logs {
    type Writer = Logs;
    fn make_writer(&'a self) -> Logs {
        self.clone()
    }
}

impl Logs {
    fn capture() -> &'static Logs {
        static LOGS: std::sync::OnceLock<Logs> = std::sync::OnceLock::new();
        LOGS.get_or_init(|| {
            let logs = Logs::default();
            let subscriber = tracing_subscriber::fmt()
                .with_writer(logs.clone())
                .with_ansi(false)
                .with_max_level(tracing::Level::INFO)
                .finish();
            tracing::subscriber::set_global_default(subscriber).unwrap();
            logs
        })
    }

    /// The one line that says `message`; it must carry every `field`.
    fn line(&self, message: &str, fields: &[&str]) -> String {
        let text = String::from_utf8(self.0.lock().unwrap().clone()).unwrap();
        let found: Vec<&str> = text
            .lines()
            .filter(|l| l.contains(message) && fields.iter().all(|f| l.contains(f)))
            .collect();
        assert_eq!(found.len(), 1, "{message} {fields:?} in:\n{text}");
        found[0].to_string()
    }
}

#[tokio::test]
async fn refusals_and_failures_are_logged() {
    let logs = Logs::capture();
    let limited = env_with(
        LmtpConfig {
            max_message_size: 1000,
            max_recipients: 2,
            ..Default::default()
        },
        false,
    )
    .await;
    let mut c = Conn::open(limited.addr).await;
    let local = c.s.get_ref().local_addr().unwrap();
    let peer = format!("peer={local} ");
    c.send(b"LHLO mta\r\nMAIL FROM:<big@x> SIZE=5000\r\n").await;
    c.reply().await;
    assert!(c.line().await.starts_with("552 5.3.4"));
    c.send(
        b"MAIL FROM:<s@x>\r\nRCPT TO:<nobody@example.org>\r\nRCPT TO:<alice@x>\r\n\
          RCPT TO:<bob@x>\r\nRCPT TO:<carol@x>\r\nDATA\r\n",
    )
    .await;
    for want in ["250", "550 5.1.1", "250", "250", "452 4.5.3", "354"] {
        let got = c.line().await;
        assert!(got.starts_with(want), "{want}: {got}");
    }
    let mut body = b"Subject: big\r\n\r\n".to_vec();
    body.extend_from_slice(&[b'x'; 2000]);
    body.extend_from_slice(b"\r\n.\r\n");
    c.send(&body).await;
    assert!(c.line().await.starts_with("552 5.3.4"));
    assert!(c.line().await.starts_with("552 5.3.4"));

    let l = logs.line(
        "LMTP recipient refused: no such user",
        &[&peer, "from=s@x", "rcpt=nobody@example.org", "code=550"],
    );
    assert!(l.contains(" INFO "), "{l}");
    logs.line(
        "LMTP recipient refused: too many recipients",
        &[&peer, "rcpt=carol@x", "code=452"],
    );
    logs.line(
        "LMTP message refused: declared size over the limit",
        &[&peer, "from=big@x", "size=5000", "code=552"],
    );
    for rcpt in ["rcpt=alice@x", "rcpt=bob@x"] {
        logs.line(
            "LMTP message refused: too big",
            &[&peer, "from=s@x", rcpt, "code=552"],
        );
    }

    // A storage failure is an error, with the same fields.
    let failing = env(1 << 20, true).await;
    let mut c = Conn::open(failing.addr).await;
    let peer = format!("peer={} ", c.s.get_ref().local_addr().unwrap());
    c.send(b"LHLO mta\r\nMAIL FROM:<s@x>\r\nRCPT TO:<bob@x>\r\nDATA\r\n")
        .await;
    c.reply().await;
    for _ in 0..3 {
        c.line().await;
    }
    c.send(b"Subject: s\r\n\r\nbody\r\n.\r\n").await;
    assert!(c.line().await.starts_with("451 4.3.0"));
    let l = logs.line(
        "LMTP delivery failed",
        &[&peer, "from=s@x", "rcpt=bob@x", "code=451", "disk full"],
    );
    assert!(l.contains(" ERROR "), "{l}");
}

#[tokio::test]
async fn postmaster_without_its_account_is_refused_and_logged() {
    let logs = Logs::capture();
    // No account is named "postmaster" (the default lmtp.postmaster).
    let env = env(1 << 20, false).await;
    let mut c = Conn::open(env.addr).await;
    let peer = format!("peer={} ", c.s.get_ref().local_addr().unwrap());
    c.send(b"LHLO mta\r\nMAIL FROM:<s@x>\r\nRCPT TO:<postmaster>\r\n")
        .await;
    c.reply().await;
    c.line().await;
    assert_eq!(c.line().await, "550 5.1.1 <postmaster> No such user here");
    let l = logs.line(
        "LMTP postmaster mail refused",
        &[&peer, "rcpt=postmaster", "account=postmaster", "code=550"],
    );
    assert!(l.contains(" ERROR "), "{l}");
}
