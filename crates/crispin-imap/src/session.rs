//! The command loop, the state machine, and the commands valid in any
//! state or before login.

use crate::selected::{Selected, SyncError};
use crate::{AuthError, ConnInfo, ImapContext, SaslStep};
use base64::Engine as _;
use crispin_proto::parser::{SaslLine, parse_sasl_response};
use crispin_proto::{Command, CommandBody, Connection, FrameError, Stream, parse_command};
use crispin_store::{Account, StoreError};
use std::io::{self, Write as _};
use std::sync::Arc;

/// Extensions a client can ENABLE; none of ours needs it yet.
const ENABLEABLE: &[&str] = &[];

/// Consecutive unparsable commands tolerated before we hang up.
const MAX_BAD_COMMANDS: u32 = 20;

pub(crate) struct Session {
    pub ctx: Arc<ImapContext>,
    /// The settings this session started with (a reload changes new
    /// sessions only).
    pub config: Arc<crate::SessionConfig>,
    pub conn: Connection,
    pub info: ConnInfo,
    pub account: Option<Account>,
    pub selected: Option<Selected>,
    /// UTF8=ACCEPT is enabled.
    pub utf8: bool,
    pub enabled: Vec<String>,
    logout: bool,
    /// The client's name and version from ID (RFC 2971), for the log.
    client_id: Option<String>,
    /// Pipelined APPENDs under way, answered in order before anything
    /// else (see `start_append`).
    appending: Vec<(String, tokio::task::JoinHandle<Status>)>,
}

/// The tagged result of a command.
pub(crate) enum Status {
    Ok(String),
    No(String),
    Bad(String),
}

impl Status {
    pub fn ok(s: impl Into<String>) -> Status {
        Status::Ok(s.into())
    }
    pub fn no(s: impl Into<String>) -> Status {
        Status::No(s.into())
    }
    pub fn bad(s: impl Into<String>) -> Status {
        Status::Bad(s.into())
    }
}

/// Runs one connection until it ends.
pub async fn run_session(ctx: Arc<ImapContext>, stream: Box<dyn Stream>, info: ConnInfo) {
    let config = ctx.config();
    let mut limits = config.limits.clone();
    // Before login nobody may upload a message: APPEND literals get the
    // small limit until then (see `logged_in`).
    limits.max_message = limits.max_literal.min(limits.max_message);
    let mut s = Session {
        conn: Connection::new(stream, limits),
        ctx,
        config,
        info,
        account: None,
        selected: None,
        utf8: false,
        enabled: Vec::new(),
        logout: false,
        client_id: None,
        appending: Vec::new(),
    };
    match s.run().await {
        Ok(()) => s.conn.shutdown().await,
        Err(e) => tracing::debug!(peer = %s.info.peer, error = %e, "session ended with an error"),
    }
    if let Some(account) = &s.account {
        s.ctx.auth.logout(account, &s.info);
    }
}

pub(crate) fn store_error(e: StoreError) -> Status {
    match e {
        StoreError::NoMailbox => Status::no("[NONEXISTENT] No such mailbox"),
        StoreError::MailboxExists => Status::no("[ALREADYEXISTS] Mailbox already exists"),
        // As Dovecot answers ENOSPC: clients show OVERQUOTA to the user,
        // who can make room by deleting mail (RFC 5530 §3).
        StoreError::Full => {
            tracing::error!("refused: [OVERQUOTA] the server's disk is full");
            Status::no("[OVERQUOTA] Not enough disk space on the server")
        }
        StoreError::TooLarge => {
            tracing::info!("refused: [TOOBIG] message too large");
            Status::no("[TOOBIG] Message too large")
        }
        e => {
            tracing::error!(error = %e, "store error");
            Status::no("[SERVERBUG] Internal error, the command was not completed")
        }
    }
}

impl Session {
    pub fn authenticated(&self) -> bool {
        self.account.is_some()
    }

    pub fn capabilities(&self) -> String {
        let mut caps = vec!["IMAP4rev1", "LITERAL+", "ID", "ENABLE", "IDLE", "NAMESPACE"];
        caps.push("SASL-IR");
        if !self.info.tls && self.ctx.tls.is_some() && !self.authenticated() {
            caps.push("STARTTLS");
        }
        let mut out = caps.join(" ");
        if !self.authenticated() {
            if self.info.plaintext_ok {
                for m in self.ctx.auth.mechanisms(&self.info) {
                    out.push_str(" AUTH=");
                    out.push_str(m);
                }
            } else {
                out.push_str(" LOGINDISABLED");
            }
        } else {
            out.push_str(" UNSELECT UIDPLUS MOVE CHILDREN SPECIAL-USE CREATE-SPECIAL-USE ESEARCH");
        }
        out.push_str(&format!(" APPENDLIMIT={}", self.config.limits.max_message));
        out
    }

    pub fn untagged(&mut self, line: &str) {
        self.conn.out.extend_from_slice(b"* ");
        self.conn.out.extend_from_slice(line.as_bytes());
        self.conn.out.extend_from_slice(b"\r\n");
    }

    fn tagged(&mut self, tag: &str, status: Status) {
        let (word, text) = match status {
            Status::Ok(t) => ("OK", t),
            Status::No(t) => ("NO", t),
            Status::Bad(t) => ("BAD", t),
        };
        let _ = write!(self.conn.out, "{tag} {word} {text}\r\n");
    }

    async fn run(&mut self) -> io::Result<()> {
        let greeting = format!("OK [CAPABILITY {}] Crispin ready", self.capabilities());
        self.untagged(&greeting);
        self.conn.flush().await?;
        let mut bad_commands = 0;
        loop {
            let timeout = if self.authenticated() {
                self.config.autologout
            } else {
                self.config.login_timeout
            };
            let shutdown = self.ctx.shutdown.clone();
            let receiving = self.conn.receiving();
            let grace = self.config.shutdown_grace;
            let frame = {
                let read = tokio::time::timeout(timeout, self.conn.read_frame());
                tokio::pin!(read);
                tokio::select! {
                    biased;
                    _ = shutdown.cancelled() => {
                        // A command that is arriving (an APPEND literal in
                        // transit) may finish within the grace period;
                        // nobody else is waited for.
                        if receiving.load(std::sync::atomic::Ordering::Relaxed) {
                            tokio::time::timeout(grace, read).await.ok()
                        } else {
                            None
                        }
                    }
                    r = &mut read => Some(r),
                }
            };
            let Some(frame) = frame else {
                self.finish_appends().await?;
                self.untagged("BYE Server shutting down");
                return self.conn.flush().await;
            };
            // Parsed first: only another pipelined APPEND joins the APPENDs
            // under way; anything else is answered after them.
            let frame = frame.map(|r| r.map(parse_command));
            let joins = matches!(
                &frame,
                Ok(Ok(Ok(Command {
                    body: CommandBody::Append { .. },
                    ..
                })))
            ) && self.authenticated()
                && self.conn.has_buffered_input();
            if !joins && self.finish_appends().await? {
                return self.conn.flush().await;
            }
            let parsed = match frame {
                Err(_) => {
                    self.untagged("BYE Autologout: idle for too long");
                    return self.conn.flush().await;
                }
                // Half-closed: answers may still reach the client.
                Ok(Err(FrameError::Eof)) => return self.conn.flush().await,
                Ok(Err(FrameError::Io(e))) => return Err(e),
                Ok(Err(FrameError::LineTooLong { tag })) => {
                    let tag = tag.unwrap_or_else(|| "*".into());
                    self.tagged(&tag, Status::bad("Command line too long"));
                    bad_commands += 1;
                    None
                }
                Ok(Err(FrameError::LiteralTooLarge {
                    tag,
                    is_append,
                    fatal,
                })) => {
                    let status = if is_append {
                        tracing::info!(
                            peer = %self.info.peer,
                            user = self.account.as_ref().map_or("-", |a| a.name.as_str()),
                            "APPEND refused: [TOOBIG]"
                        );
                        Status::no("[TOOBIG] Message too large")
                    } else {
                        Status::bad("Literal too large")
                    };
                    self.tagged(&tag, status);
                    if fatal {
                        self.untagged("BYE Protocol error");
                        return self.conn.flush().await;
                    }
                    None
                }
                Ok(Ok(parsed)) => Some(parsed),
            };
            match parsed {
                None => {}
                Some(Err(e)) => {
                    let tag = e.tag.unwrap_or_else(|| "*".into());
                    self.tagged(&tag, Status::bad(format!("Syntax error: {}", e.message)));
                    bad_commands += 1;
                }
                Some(Ok(cmd)) => {
                    bad_commands = 0;
                    match cmd.body {
                        CommandBody::Append {
                            mailbox,
                            flags,
                            date,
                            message,
                        } if joins => {
                            self.start_append(cmd.tag, &mailbox, flags, date, message)
                                .await;
                        }
                        body => self.execute(Command { tag: cmd.tag, body }).await?,
                    }
                }
            }
            if bad_commands >= MAX_BAD_COMMANDS {
                self.untagged("BYE Too many invalid commands");
                return self.conn.flush().await;
            }
            if self.logout {
                return self.conn.flush().await;
            }
            // Pipelined commands are answered in one write.
            if !self.conn.has_buffered_input() {
                if self.finish_appends().await? {
                    return self.conn.flush().await;
                }
                self.conn.flush().await?;
            }
        }
    }

    /// An APPEND with more commands pipelined behind it: its write starts
    /// now and is answered once the pipeline is drained, so a client's
    /// pipelined APPENDs share commits (a session otherwise runs one
    /// command at a time, and each APPEND would wait for its own fsync).
    async fn start_append(
        &mut self,
        tag: String,
        mailbox: &crispin_proto::RawMailbox,
        flags: Vec<crispin_proto::Flag>,
        date: Option<chrono::DateTime<chrono::FixedOffset>>,
        message: crispin_proto::Literal,
    ) {
        // Queued in command order here; only the answers wait in tasks.
        let answer = match self.prepare_append(mailbox, flags, date, message).await {
            Ok(append) => tokio::spawn(append),
            Err(status) => tokio::spawn(std::future::ready(status)),
        };
        self.appending.push((tag, answer));
    }

    /// Answers the pipelined APPENDs under way, in order, after the
    /// selected mailbox's news (as after any APPEND). True when that news
    /// ended the session (BYE: the mailbox was deleted).
    async fn finish_appends(&mut self) -> io::Result<bool> {
        if self.appending.is_empty() {
            return Ok(false);
        }
        let mut answers = Vec::with_capacity(self.appending.len());
        for (tag, answer) in std::mem::take(&mut self.appending) {
            let status = answer.await.unwrap_or_else(|e| {
                tracing::error!(error = %e, "APPEND task failed");
                Status::no("[SERVERBUG] Internal error, the command was not completed")
            });
            answers.push((tag, status));
        }
        let news = if self.selected.is_some() {
            self.sync(true, false).await
        } else {
            Ok(())
        };
        for (tag, status) in answers {
            self.tagged(&tag, status);
        }
        match news {
            Ok(()) => Ok(false),
            Err(SyncError::Io(e)) => Err(e),
            Err(SyncError::Gone) => {
                self.untagged("BYE The selected mailbox was deleted");
                self.logout = true;
                Ok(true)
            }
            Err(SyncError::Store(e)) => {
                tracing::warn!(error = %e, "cannot report news after APPEND");
                Ok(false)
            }
        }
    }

    async fn execute(&mut self, cmd: Command) -> io::Result<()> {
        let Command { tag, body } = cmd;
        use CommandBody as C;
        // Commands by sequence number must not see EXPUNGE responses.
        let (sync_after, allow_expunge, force) = match &body {
            C::Fetch { uid, .. } | C::Store { uid, .. } | C::Search { uid, .. } => {
                (true, *uid, false)
            }
            C::Noop | C::Check | C::Idle => (true, true, true),
            C::Logout | C::Close | C::Unselect | C::Select { .. } => (false, false, false),
            _ => (true, true, false),
        };
        let is_uid = matches!(
            &body,
            C::Fetch { uid: true, .. }
                | C::Store { uid: true, .. }
                | C::Search { uid: true, .. }
                | C::Copy { uid: true, .. }
                | C::Expunge { uids: Some(_) }
        );
        let name = body.name();
        tracing::trace!(%tag, command = name, "command");
        if is_uid && self.selected.is_some() {
            // UID commands may name messages we have not announced yet:
            // announce them first, so they have sequence numbers.
            if let Err(e) = self.sync(true, false).await {
                return self.sync_failed(&tag, e).await;
            }
        }
        let Some(status) = self.dispatch(&tag, body).await? else {
            // The command wrote its own tagged response (STARTTLS, IDLE).
            return Ok(());
        };
        if self.logout {
            self.tagged(&tag, status);
            return Ok(());
        }
        if sync_after
            && self.selected.is_some()
            && let Err(e) = self.sync(allow_expunge, force).await
        {
            return self.sync_failed(&tag, e).await;
        }
        self.tagged(&tag, status);
        Ok(())
    }

    async fn sync_failed(&mut self, tag: &str, e: SyncError) -> io::Result<()> {
        match e {
            SyncError::Io(e) => Err(e),
            SyncError::Gone => {
                self.untagged("BYE The selected mailbox was deleted");
                self.logout = true;
                let _ = tag;
                Ok(())
            }
            SyncError::Store(e) => {
                let status = store_error(e);
                self.tagged(tag, status);
                Ok(())
            }
        }
    }

    fn wrong_state(&self, body: &CommandBody) -> Option<Status> {
        use CommandBody as C;
        let needs_auth = !matches!(
            body,
            C::Capability
                | C::Noop
                | C::Logout
                | C::Id(_)
                | C::StartTls
                | C::Login { .. }
                | C::Authenticate { .. }
        );
        let needs_selected = matches!(
            body,
            C::Check
                | C::Close
                | C::Unselect
                | C::Expunge { .. }
                | C::Search { .. }
                | C::Fetch { .. }
                | C::Store { .. }
                | C::Copy { .. }
        );
        let pre_auth_only = matches!(body, C::StartTls | C::Login { .. } | C::Authenticate { .. });
        if pre_auth_only && self.authenticated() {
            Some(Status::bad("Already authenticated"))
        } else if needs_auth && !self.authenticated() {
            Some(Status::bad("Log in first"))
        } else if needs_selected && self.selected.is_none() {
            Some(Status::bad("No mailbox selected"))
        } else {
            None
        }
    }

    /// Runs one command; `None` when it already wrote its tagged response.
    async fn dispatch(&mut self, tag: &str, body: CommandBody) -> io::Result<Option<Status>> {
        if let Some(status) = self.wrong_state(&body) {
            return Ok(Some(status));
        }
        use CommandBody as C;
        Ok(Some(match body {
            C::Capability => {
                let caps = format!("CAPABILITY {}", self.capabilities());
                self.untagged(&caps);
                Status::ok("CAPABILITY completed")
            }
            C::Noop => Status::ok("NOOP completed"),
            C::Check => Status::ok("CHECK completed"),
            C::Logout => {
                self.untagged("BYE Logging out");
                self.logout = true;
                Status::ok("LOGOUT completed")
            }
            C::Id(params) => {
                self.client_id = client_id(params.as_deref());
                if let Some(id) = &self.client_id {
                    tracing::debug!(client = %id, "client identified itself");
                }
                self.untagged(&format!(
                    "ID (\"name\" \"Crispin\" \"version\" \"{}\")",
                    env!("CARGO_PKG_VERSION")
                ));
                Status::ok("ID completed")
            }
            C::Namespace => {
                self.untagged("NAMESPACE ((\"\" \"/\")) NIL NIL");
                Status::ok("NAMESPACE completed")
            }
            C::Enable(caps) => self.enable(caps),
            C::StartTls => return self.starttls(tag).await,
            C::Login { username, password } => self.login(&username, &password).await,
            C::Authenticate { mechanism, initial } => {
                self.authenticate(&mechanism, initial).await?
            }
            C::Select { mailbox, read_only } => self.select(&mailbox, read_only).await,
            C::Create {
                mailbox,
                special_use,
            } => self.create(&mailbox, special_use).await,
            C::Delete(m) => self.delete(&m).await,
            C::Rename { from, to } => self.rename(&from, &to).await,
            C::Subscribe(m) => self.subscribe(&m, true).await,
            C::Unsubscribe(m) => self.subscribe(&m, false).await,
            C::List {
                reference,
                patterns,
                selection,
                return_opts,
                lsub,
            } => {
                self.list(&reference, &patterns, &selection, &return_opts, lsub)
                    .await?
            }
            C::Status { mailbox, items } => self.status(&mailbox, &items).await,
            C::Append {
                mailbox,
                flags,
                date,
                message,
            } => self.append(&mailbox, flags, date, message).await,
            C::Idle => match self.idle().await? {
                Some(s) => s,
                None => return Ok(None),
            },
            C::Close => self.close(true).await,
            C::Unselect => self.close(false).await,
            C::Expunge { uids } => self.expunge(uids.as_ref()).await,
            C::Search {
                uid,
                charset,
                criteria,
                ret,
            } => self.search(tag, uid, charset, criteria, ret).await,
            C::Fetch { uid, set, items } => self.fetch(uid, &set, items).await?,
            C::Store {
                uid,
                set,
                mode,
                silent,
                flags,
            } => self.store(uid, &set, mode, silent, flags).await,
            C::Copy {
                uid,
                set,
                mailbox,
                is_move,
            } => self.copy(uid, &set, &mailbox, is_move).await,
        }))
    }

    fn enable(&mut self, caps: Vec<String>) -> Status {
        // Unknown capabilities are ignored, as RFC 5161 requires.
        let enabled: Vec<String> = caps
            .into_iter()
            .filter(|c| ENABLEABLE.contains(&c.as_str()) && !self.enabled.contains(c))
            .collect();
        self.enabled.extend(enabled.iter().cloned());
        let mut line = String::from("ENABLED");
        for c in &enabled {
            line.push(' ');
            line.push_str(c);
        }
        self.untagged(&line);
        Status::ok("ENABLE completed")
    }

    async fn starttls(&mut self, tag: &str) -> io::Result<Option<Status>> {
        let Some(tls) = self.ctx.tls.clone() else {
            return Ok(Some(Status::bad("STARTTLS is not available")));
        };
        if self.info.tls {
            return Ok(Some(Status::bad("TLS is already active")));
        }
        self.tagged(tag, Status::ok("Begin TLS negotiation now"));
        self.conn.flush().await?;
        // Whatever the client pipelined in plaintext is dropped here.
        let plain = self.conn.take_stream();
        let (stream, exporter) = tls.upgrade(plain).await?;
        self.conn.set_stream(stream);
        self.info.tls = true;
        self.info.plaintext_ok = true;
        self.info.tls_exporter = exporter;
        Ok(None)
    }

    async fn login(&mut self, user: &[u8], password: &[u8]) -> Status {
        if !self.info.plaintext_ok {
            return Status::no("[PRIVACYREQUIRED] Use TLS before logging in");
        }
        match self.ctx.auth.login(user, password, &self.info).await {
            Ok(account) => self.logged_in(account, "LOGIN"),
            Err(e) => self.auth_failure(e, user, "LOGIN"),
        }
    }

    fn logged_in(&mut self, account: Account, mechanism: &str) -> Status {
        tracing::info!(
            user = %account.name,
            peer = %self.info.peer,
            mechanism,
            tls = self.info.tls,
            client = self.client_id.as_deref().unwrap_or("-"),
            "logged in"
        );
        // The connection's span (the server's) names the account from now on.
        tracing::Span::current().record("user", account.name.as_str());
        self.account = Some(account);
        self.conn.limits.max_message = self.config.limits.max_message;
        Status::ok(format!("[CAPABILITY {}] Logged in", self.capabilities()))
    }

    async fn authenticate(
        &mut self,
        mechanism: &str,
        initial: Option<Vec<u8>>,
    ) -> io::Result<Status> {
        if !self.info.plaintext_ok {
            return Ok(Status::no("[PRIVACYREQUIRED] Use TLS before logging in"));
        }
        let Some(mut exchange) = self.ctx.auth.start(mechanism, &self.info) else {
            return Ok(Status::no("Unsupported authentication mechanism"));
        };
        let b64 = base64::engine::general_purpose::STANDARD;
        // Without an initial response the mechanism speaks first: PLAIN
        // and SCRAM with an empty challenge, LOGIN with "Username:".
        let mut response = match initial {
            Some(data) => match b64.decode(&data) {
                Ok(d) => d,
                Err(_) => return Ok(Status::bad("Invalid base64 in initial response")),
            },
            None => Vec::new(),
        };
        loop {
            match exchange.step(&response).await {
                SaslStep::Challenge(c) => {
                    let _ = write!(self.conn.out, "+ {}\r\n", b64.encode(&c));
                    self.conn.flush().await?;
                    response = match self.read_sasl_line().await? {
                        Ok(d) => d,
                        Err(status) => return Ok(status),
                    };
                }
                SaslStep::Success { account, data } => {
                    if let Some(data) = data {
                        // Additional data with success goes in a final
                        // challenge the client answers with an empty line.
                        let _ = write!(self.conn.out, "+ {}\r\n", b64.encode(&data));
                        self.conn.flush().await?;
                        match self.read_sasl_line().await? {
                            Ok(d) if d.is_empty() => {}
                            Ok(_) => return Ok(Status::bad("Unexpected data after success")),
                            Err(status) => return Ok(status),
                        }
                    }
                    return Ok(self.logged_in(account, mechanism));
                }
                SaslStep::Failure(e) => return Ok(self.auth_failure(e, b"", mechanism)),
            }
        }
    }

    /// Reads one client line of a SASL exchange.
    async fn read_sasl_line(&mut self) -> io::Result<Result<Vec<u8>, Status>> {
        let line = match self.conn.read_line().await {
            Ok(l) => l,
            Err(FrameError::Io(e)) => return Err(e),
            Err(FrameError::Eof) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Err(_) => return Ok(Err(Status::bad("Response too long"))),
        };
        Ok(match parse_sasl_response(&line) {
            Some(SaslLine::Cancel) => Err(Status::bad("Authentication cancelled")),
            Some(SaslLine::Data(d)) => base64::engine::general_purpose::STANDARD
                .decode(&d)
                .map_err(|_| Status::bad("Invalid base64")),
            None => Err(Status::bad("Invalid base64")),
        })
    }
}

/// `name "version"` from an ID list, bounded (it is the client's text).
fn client_id(params: Option<&[(String, Option<String>)]>) -> Option<String> {
    let field = |key: &str| {
        params?
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .and_then(|(_, v)| v.clone())
    };
    let mut id = field("name")?;
    if let Some(version) = field("version") {
        id.push(' ');
        id.push_str(&version);
    }
    Some(id.chars().filter(|c| !c.is_control()).take(100).collect())
}

impl Session {
    /// The tagged answer to a failed login, logged with what the client
    /// tried (the authenticator logs the account and the counts).
    fn auth_failure(&self, e: AuthError, user: &[u8], mechanism: &str) -> Status {
        let user = String::from_utf8_lossy(&user[..user.len().min(100)]);
        let (status, why) = match e {
            AuthError::Failed => (
                Status::no("[AUTHENTICATIONFAILED] Authentication failed"),
                "wrong name or password",
            ),
            AuthError::Throttled => (
                Status::no("[UNAVAILABLE] Too many failed logins, try again later"),
                "locked out",
            ),
            AuthError::Unavailable => (
                Status::no("[UNAVAILABLE] Authentication is temporarily unavailable"),
                "backend unavailable",
            ),
            AuthError::Limit => (
                Status::no("[LIMIT] Too many sessions for this user from your address"),
                "too many sessions",
            ),
        };
        tracing::info!(
            user = %user,
            peer = %self.info.peer,
            mechanism,
            tls = self.info.tls,
            client = self.client_id.as_deref().unwrap_or("-"),
            why,
            "login refused"
        );
        status
    }
}
