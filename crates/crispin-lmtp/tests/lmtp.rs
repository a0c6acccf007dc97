//! LMTP over a real socket: per-recipient replies, pipelining, dot
//! stuffing, bare LF, size limits, CHUNKING, and a storage failure that
//! must leave nothing half-delivered.

use async_trait::async_trait;
use crispin_lmtp::{Lmtp, LmtpConfig};
use crispin_store::sqlite::SqliteStore;
use crispin_store::*;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

const TIMEOUT: Duration = Duration::from_secs(20);

/// A store that can be told to fail appends for one account, as a full
/// disk or a database error would.
struct Failing {
    inner: Arc<SqliteStore>,
    fail_for: Option<AccountId>,
    failed: AtomicBool,
}

#[async_trait]
impl Store for Failing {
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
    async fn store_flags(
        &self,
        a: AccountId,
        m: MailboxId,
        u: &[u32],
        o: FlagOp,
        f: &Flags,
    ) -> Result<StoreResult> {
        self.inner.store_flags(a, m, u, o, f).await
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
    let dir = tempfile::tempdir().unwrap();
    let inner = Arc::new(SqliteStore::open(dir.path()).await.unwrap());
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
        config: LmtpConfig {
            max_message_size,
            ..Default::default()
        },
        shutdown: CancellationToken::new(),
    });
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((s, _)) = listener.accept().await {
            let lmtp = lmtp.clone();
            tokio::spawn(async move { lmtp.serve(s).await });
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
    assert_eq!(
        a,
        vec![
            b"Return-Path: <s@example.org>\r\nDelivered-To: alice@example.org\r\nSubject: hi\r\n\r\nhello\r\n"
                .to_vec()
        ]
    );
    assert_eq!(messages(&env, env.bob, "INBOX").await.len(), 1);
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
    assert_eq!(
        got,
        vec![
            b"Return-Path: <>\r\nDelivered-To: alice+Lists@x\r\nSubject: dots\r\nX: y\r\n\r\n.leading dot\r\n..two\r\nplain\r\n"
                .to_vec()
        ]
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
