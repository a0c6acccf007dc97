//! The command loop and the state machine (RFC 3501 §3).
//!
//! A command's spec row (`crispin_proto::spec`) says in which states it is
//! valid and what is reported before and after it; the machine applies
//! that and hands the command to its handler with the state it needs: a
//! selected-state handler gets the `Selected` itself. Handlers live in one
//! file per command family and are methods of [`Session`], which holds what
//! they share (the connection, the store, the settings) but not the state.

use crate::selected::{Selected, SyncError};
use crate::{ConnInfo, ImapContext};
use crispin_proto::response::{Code, Data};
use crispin_proto::spec::{After, Allowed, Before};
use crispin_proto::{Command, CommandBody, Connection, FrameError, Stream, parse_command};
use crispin_store::{Account, AccountId, StoreError};
use std::io;
use std::sync::Arc;

/// The tagged result of a command (and the untagged OK/NO/BAD/BYE).
pub(crate) use crispin_proto::response::Status;

/// Consecutive unparsable commands tolerated before we hang up.
const MAX_BAD_COMMANDS: u32 = 20;

const LOG_IN_FIRST: &str = "Log in first";
const NO_MAILBOX: &str = "No mailbox selected";

/// What every handler works with; the state is the machine's and is
/// passed to handlers as arguments.
pub(crate) struct Session {
    pub ctx: Arc<ImapContext>,
    /// The settings this session started with (a reload changes new
    /// sessions only).
    pub config: Arc<crate::SessionConfig>,
    pub conn: Connection,
    pub info: ConnInfo,
    /// UTF8=ACCEPT is enabled.
    pub utf8: bool,
    /// CONDSTORE is enabled (RFC 7162 §3.1: by ENABLE or by the first
    /// command that uses it): every FETCH response carries MODSEQ.
    pub condstore: bool,
    /// QRESYNC is enabled (RFC 7162 §3.2.3: by ENABLE only): VANISHED
    /// replaces EXPUNGE, SELECT takes `(QRESYNC …)`.
    pub qresync: bool,
    pub enabled: Vec<String>,
    /// The client's name and version from ID (RFC 2971), for the log.
    pub client_id: Option<String>,
    /// The client's name from ID, lower-cased, and the account's, for
    /// hidden capabilities (`SessionConfig::hidden`).
    pub client_name: Option<String>,
    pub account_name: Option<String>,
}

/// The session states of RFC 3501 §3.
pub(crate) enum State {
    NotAuthenticated,
    Authenticated {
        account: Account,
    },
    Selected {
        account: Account,
        /// Boxed: the other states are small.
        mailbox: Box<Selected>,
    },
    /// After LOGOUT or a BYE: no further command is read. The account
    /// stays known until the connection is closed, for the authenticator's
    /// count of sessions.
    Logout {
        account: Option<Account>,
    },
}

impl State {
    pub fn account(&self) -> Option<&Account> {
        match self {
            State::Authenticated { account } | State::Selected { account, .. } => Some(account),
            State::NotAuthenticated | State::Logout { .. } => None,
        }
    }

    fn logged_in(&self) -> bool {
        self.account().is_some()
    }

    fn selected(&mut self) -> Option<&mut Selected> {
        match self {
            State::Selected { mailbox, .. } => Some(mailbox),
            _ => None,
        }
    }

    /// Why a command valid in `allowed` cannot run now, as its answer.
    fn refusal(&self, allowed: Allowed) -> Option<Status> {
        let selected = matches!(self, State::Selected { .. });
        match allowed {
            Allowed::NotAuthenticated if self.logged_in() => {
                Some(Status::bad("Already authenticated"))
            }
            Allowed::Authenticated | Allowed::Selected if !self.logged_in() => {
                Some(Status::bad(LOG_IN_FIRST))
            }
            Allowed::Selected if !selected => Some(Status::bad(NO_MAILBOX)),
            _ => None,
        }
    }

    /// Leaves the selected state, if in it; returns the mailbox that was
    /// selected.
    fn deselect(&mut self) -> Option<Selected> {
        match std::mem::replace(self, State::NotAuthenticated) {
            State::Selected { account, mailbox } => {
                *self = State::Authenticated { account };
                Some(*mailbox)
            }
            other => {
                *self = other;
                None
            }
        }
    }

    /// Enters the selected state (from the authenticated or selected one:
    /// SELECT's row admits no other).
    fn select(&mut self, mailbox: Box<Selected>) {
        *self = match std::mem::replace(self, State::NotAuthenticated) {
            State::Authenticated { account } | State::Selected { account, .. } => {
                State::Selected { account, mailbox }
            }
            other => other,
        };
    }

    fn logout(&mut self) {
        let account = match std::mem::replace(self, State::NotAuthenticated) {
            State::Authenticated { account } | State::Selected { account, .. } => Some(account),
            State::Logout { account } => account,
            State::NotAuthenticated => None,
        };
        *self = State::Logout { account };
    }

    fn is_logout(&self) -> bool {
        matches!(self, State::Logout { .. })
    }
}

pub(crate) fn no_such_mailbox() -> Status {
    Status::no("No such mailbox").with(Code::Nonexistent)
}

pub(crate) fn server_bug() -> Status {
    Status::no("Internal error, the command was not completed").with(Code::ServerBug)
}

pub(crate) fn too_big() -> Status {
    Status::no("Message too large").with(Code::TooBig)
}

/// The BYE for a session whose selected mailbox was deleted.
pub(crate) fn mailbox_deleted() -> Status {
    Status::bye("The selected mailbox was deleted")
}

pub(crate) fn store_error(e: StoreError) -> Status {
    match e {
        StoreError::NoMailbox => no_such_mailbox(),
        StoreError::MailboxExists => Status::no("Mailbox already exists").with(Code::AlreadyExists),
        // As Dovecot answers ENOSPC: clients show OVERQUOTA to the user,
        // who can make room by deleting mail (RFC 5530 §3).
        StoreError::Full => {
            tracing::error!("refused: [OVERQUOTA] the server's disk is full");
            Status::no("Not enough disk space on the server").with(Code::OverQuota)
        }
        StoreError::TooLarge => {
            tracing::info!("refused: [TOOBIG] message too large");
            too_big()
        }
        StoreError::TooManyKeywords => {
            tracing::info!(
                max = crispin_store::MAX_KEYWORDS,
                "refused: [LIMIT] too many keywords in the mailbox"
            );
            Status::no(format!(
                "The mailbox may have at most {} keywords",
                crispin_store::MAX_KEYWORDS
            ))
            .with(Code::Limit)
        }
        e => {
            tracing::error!(error = %e, "store error");
            server_bug()
        }
    }
}

impl Session {
    /// An untagged status response (`* OK …`, `* BYE …`).
    pub fn untagged(&mut self, status: Status) {
        status.encode(&mut self.conn.out, None);
    }

    pub fn tagged(&mut self, tag: &str, status: Status) {
        status.encode(&mut self.conn.out, Some(tag));
    }

    pub fn data(&mut self, data: Data) {
        data.encode(&mut self.conn.out);
    }
}

/// Runs one connection until it ends.
pub async fn run_session(ctx: Arc<ImapContext>, stream: Box<dyn Stream>, info: ConnInfo) {
    let config = ctx.config();
    let mut limits = config.limits.clone();
    // Before login nobody may upload a message: APPEND literals get the
    // small limit until then (see `Session::logged_in`).
    limits.max_message = limits.max_literal.min(limits.max_message);
    let mut m = Machine {
        s: Session {
            conn: Connection::new(stream, limits),
            ctx,
            config,
            info,
            utf8: false,
            condstore: false,
            qresync: false,
            enabled: Vec::new(),
            client_id: None,
            client_name: None,
            account_name: None,
        },
        state: State::NotAuthenticated,
        appending: Vec::new(),
    };
    match m.run().await {
        Ok(()) => m.s.conn.shutdown().await,
        Err(e) => tracing::debug!(peer = %m.s.info.peer, error = %e, "session ended with an error"),
    }
    let account = match &m.state {
        State::Logout { account } => account.as_ref(),
        state => state.account(),
    };
    if let Some(account) = account {
        m.s.ctx.auth.logout(account, &m.s.info);
    }
}

/// A session and its state.
struct Machine {
    s: Session,
    state: State,
    /// Pipelined APPENDs under way, answered in order before anything
    /// else (see `start_append`).
    appending: Vec<(String, tokio::task::JoinHandle<Status>)>,
}

/// The account of an authenticated-state command, or the mailbox of a
/// selected-state one (which knows its account). The state check (`State::refusal`, from the
/// command's spec row) has let the command through, so the refusals here
/// are never sent; they keep a mistaken row from reaching a handler.
macro_rules! account {
    ($m:expr) => {
        match $m.state.account() {
            Some(account) => account.id,
            None => return Ok(Some(Status::bad(LOG_IN_FIRST))),
        }
    };
}
macro_rules! selected {
    ($m:expr) => {
        match $m.state.selected() {
            Some(selected) => selected,
            None => return Ok(Some(Status::bad(NO_MAILBOX))),
        }
    };
}

impl Machine {
    async fn run(&mut self) -> io::Result<()> {
        let caps = self.s.capabilities(false);
        self.s
            .untagged(Status::ok("Crispin ready").with(Code::Capability(caps)));
        self.s.conn.flush().await?;
        let mut bad_commands = 0;
        loop {
            let timeout = if self.state.logged_in() {
                self.s.config.autologout
            } else {
                self.s.config.login_timeout
            };
            let shutdown = self.s.ctx.shutdown.clone();
            let receiving = self.s.conn.receiving();
            let grace = self.s.config.shutdown_grace;
            let frame = {
                let read = tokio::time::timeout(timeout, self.s.conn.read_frame());
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
                self.s.untagged(Status::bye("Server shutting down"));
                return self.s.conn.flush().await;
            };
            // Parsed first: only another pipelined APPEND joins the APPENDs
            // under way; anything else is answered after them.
            let frame = frame.map(|r| r.map(parse_command));
            let joins = match &frame {
                Ok(Ok(Ok(Command {
                    body: CommandBody::Append { .. },
                    ..
                }))) if self.s.conn.has_buffered_input() => self.state.account().map(|a| a.id),
                _ => None,
            };
            if joins.is_none() && self.finish_appends().await? {
                return self.s.conn.flush().await;
            }
            let parsed = match frame {
                Err(_) => {
                    self.s
                        .untagged(Status::bye("Autologout: idle for too long"));
                    return self.s.conn.flush().await;
                }
                // Half-closed: answers may still reach the client.
                Ok(Err(FrameError::Eof)) => return self.s.conn.flush().await,
                Ok(Err(FrameError::Io(e))) => return Err(e),
                Ok(Err(FrameError::LineTooLong { tag })) => {
                    let tag = tag.unwrap_or_else(|| "*".into());
                    self.s.tagged(&tag, Status::bad("Command line too long"));
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
                            peer = %self.s.info.peer,
                            user = self.state.account().map_or("-", |a| a.name.as_str()),
                            "APPEND refused: [TOOBIG]"
                        );
                        too_big()
                    } else {
                        Status::bad("Literal too large")
                    };
                    self.s.tagged(&tag, status);
                    if fatal {
                        self.s.untagged(Status::bye("Protocol error"));
                        return self.s.conn.flush().await;
                    }
                    None
                }
                Ok(Ok(parsed)) => Some(parsed),
            };
            match parsed {
                None => {}
                Some(Err(e)) => {
                    let tag = e.tag.unwrap_or_else(|| "*".into());
                    self.s
                        .tagged(&tag, Status::bad(format!("Syntax error: {}", e.message)));
                    bad_commands += 1;
                }
                Some(Ok(cmd)) => {
                    bad_commands = 0;
                    match (cmd.body, joins) {
                        (
                            CommandBody::Append {
                                mailbox,
                                flags,
                                date,
                                message,
                            },
                            Some(account),
                        ) => {
                            self.start_append(cmd.tag, account, &mailbox, flags, date, message)
                                .await;
                        }
                        (body, _) => self.execute(Command { tag: cmd.tag, body }).await?,
                    }
                }
            }
            if bad_commands >= MAX_BAD_COMMANDS {
                self.s.untagged(Status::bye("Too many invalid commands"));
                return self.s.conn.flush().await;
            }
            if self.state.is_logout() {
                return self.s.conn.flush().await;
            }
            // Pipelined commands are answered in one write.
            if !self.s.conn.has_buffered_input() {
                if self.finish_appends().await? {
                    return self.s.conn.flush().await;
                }
                self.s.conn.flush().await?;
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
        account: AccountId,
        mailbox: &crispin_proto::RawMailbox,
        flags: Vec<crispin_proto::Flag>,
        date: Option<chrono::DateTime<chrono::FixedOffset>>,
        message: crispin_proto::Literal,
    ) {
        // Queued in command order here; only the answers wait in tasks.
        let answer = match self
            .s
            .prepare_append(account, mailbox, flags, date, message)
            .await
        {
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
                server_bug()
            });
            answers.push((tag, status));
        }
        let news = self.report(After::News).await;
        for (tag, status) in answers {
            self.s.tagged(&tag, status);
        }
        match news {
            Ok(()) => Ok(false),
            Err(SyncError::Io(e)) => Err(e),
            Err(SyncError::Gone) => {
                self.s.untagged(mailbox_deleted());
                self.state.logout();
                Ok(true)
            }
            Err(SyncError::Store(e)) => {
                tracing::warn!(error = %e, "cannot report news after APPEND");
                Ok(false)
            }
        }
    }

    /// The reporter's turn around a command (see `selected/reporter.rs`);
    /// nothing when no mailbox is selected.
    async fn report(&mut self, after: After) -> Result<(), SyncError> {
        match self.state.selected() {
            Some(mailbox) => self.s.report(mailbox, after).await,
            None => Ok(()),
        }
    }

    async fn execute(&mut self, cmd: Command) -> io::Result<()> {
        let Command { tag, body } = cmd;
        let spec = body.spec();
        tracing::trace!(%tag, command = spec.name, "command");
        if spec.before == Before::AnnounceNew {
            // UID commands may name messages we have not announced yet:
            // announce them first, so they have sequence numbers.
            if let Err(e) = self.report(After::News).await {
                return self.sync_failed(&tag, e).await;
            }
        }
        let Some(status) = self.dispatch(&tag, body).await? else {
            // The command wrote its own tagged response (STARTTLS, IDLE).
            return Ok(());
        };
        if self.state.is_logout() {
            self.s.tagged(&tag, status);
            return Ok(());
        }
        if let Err(e) = self.report(spec.after).await {
            return self.sync_failed(&tag, e).await;
        }
        self.s.tagged(&tag, status);
        Ok(())
    }

    async fn sync_failed(&mut self, tag: &str, e: SyncError) -> io::Result<()> {
        match e {
            SyncError::Io(e) => Err(e),
            SyncError::Gone => {
                self.s.untagged(mailbox_deleted());
                self.state.logout();
                Ok(())
            }
            SyncError::Store(e) => {
                let status = store_error(e);
                self.s.tagged(tag, status);
                Ok(())
            }
        }
    }

    /// Runs one command in the state its row allows; `None` when it
    /// already wrote its tagged response. No `_` arm: a new command needs
    /// its handler here.
    async fn dispatch(&mut self, tag: &str, body: CommandBody) -> io::Result<Option<Status>> {
        if let Some(status) = self.state.refusal(body.spec().allowed) {
            return Ok(Some(status));
        }
        let logged_in = self.state.logged_in();
        use CommandBody as C;
        Ok(Some(match body {
            // Any state (any.rs).
            C::Capability => self.s.capability(logged_in),
            C::Noop => Status::ok("NOOP completed"),
            C::Logout => {
                self.state.logout();
                self.s.logout()
            }
            C::Id(params) => self.s.id(params.as_deref()),
            // Not authenticated (auth.rs).
            C::StartTls => return self.s.starttls(tag).await,
            C::Login { username, password } => {
                let login = self.s.login(&username, &password).await;
                self.logged_in(login)
            }
            C::Authenticate { mechanism, initial } => {
                let login = self.s.authenticate(&mechanism, initial).await?;
                self.logged_in(login)
            }
            // Authenticated (any.rs, mailbox.rs, message.rs, idle.rs).
            C::Enable(caps) => {
                let status = self.s.enable(caps);
                // Enabled while a mailbox is selected: VANISHED from now on.
                if self.s.qresync
                    && let Some(sel) = self.state.selected()
                {
                    sel.vanished = true;
                }
                status
            }
            C::Namespace => self.s.namespace(),
            C::Select {
                mailbox,
                read_only,
                condstore,
                qresync,
            } => {
                let account = account!(self);
                if qresync.is_some() && !self.s.qresync {
                    // RFC 7162 §3.2.5.
                    return Ok(Some(Status::bad("QRESYNC needs ENABLE QRESYNC first")));
                }
                // A failed SELECT leaves no mailbox selected (RFC 3501 §6.3.1).
                if self.state.deselect().is_some() && self.s.qresync {
                    // RFC 7162 §3.2.11: the client learns where the old
                    // mailbox's responses end.
                    self.s
                        .untagged(Status::ok("Previous mailbox closed").with(Code::Closed));
                }
                if condstore {
                    self.s.enable_condstore();
                }
                match self
                    .s
                    .select(account, &mailbox, read_only, qresync.as_ref())
                    .await
                {
                    Ok((selected, status)) => {
                        self.state.select(selected);
                        status
                    }
                    Err(status) => status,
                }
            }
            C::Create {
                mailbox,
                special_use,
            } => self.s.create(account!(self), &mailbox, special_use).await,
            C::Delete(m) => {
                let account = account!(self);
                let selected = self.state.selected().map(|sel| sel.info.id);
                self.s.delete(account, selected, &m).await
            }
            C::Rename { from, to } => {
                let account = account!(self);
                let selected = self.state.selected();
                self.s.rename(account, selected, &from, &to).await
            }
            C::Subscribe(m) => self.s.subscribe(account!(self), &m, true).await,
            C::Unsubscribe(m) => self.s.subscribe(account!(self), &m, false).await,
            C::List {
                reference,
                patterns,
                selection,
                return_opts,
                lsub,
            } => {
                let account = account!(self);
                self.s
                    .list(
                        account,
                        &reference,
                        &patterns,
                        &selection,
                        &return_opts,
                        lsub,
                    )
                    .await?
            }
            C::Status { mailbox, items } => self.s.status(account!(self), &mailbox, &items).await,
            C::Append {
                mailbox,
                flags,
                date,
                message,
            } => {
                let account = account!(self);
                self.s.append(account, &mailbox, flags, date, message).await
            }
            C::Idle => match self.s.idle(self.state.selected()).await? {
                Some(s) => s,
                None => return Ok(None),
            },
            // Selected (any.rs, message.rs, search.rs, fetch.rs).
            C::Check => Status::ok("CHECK completed"),
            C::Close => self.close(true).await?,
            C::Unselect => self.close(false).await?,
            C::Expunge { uids } => {
                let sel = selected!(self);
                self.s.expunge(sel, uids.as_ref()).await
            }
            C::Search {
                uid,
                charset,
                criteria,
                ret,
            } => {
                let sel = selected!(self);
                self.s.search(sel, tag, uid, charset, criteria, ret).await
            }
            C::Fetch {
                uid,
                set,
                items,
                changed_since,
                vanished,
            } => {
                let sel = selected!(self);
                let since = crate::fetch::Since {
                    modseq: changed_since,
                    vanished,
                };
                self.s.fetch(sel, uid, &set, items, since).await?
            }
            C::Store {
                uid,
                set,
                mode,
                silent,
                flags,
                unchanged_since,
            } => {
                let sel = selected!(self);
                let store = crate::message::StoreArgs {
                    uid,
                    mode,
                    silent,
                    flags,
                    unchanged_since,
                };
                self.s.store(sel, &set, store).await
            }
            C::Copy {
                uid,
                set,
                mailbox,
                is_move,
            } => {
                let sel = selected!(self);
                self.s.copy(sel, uid, &set, &mailbox, is_move).await
            }
        }))
    }

    /// CLOSE and UNSELECT: back to the authenticated state.
    async fn close(&mut self, expunge: bool) -> io::Result<Status> {
        Ok(match self.state.deselect() {
            Some(selected) => self.s.close(selected, expunge).await,
            None => Status::bad(NO_MAILBOX),
        })
    }

    /// Enters the authenticated state after a successful login.
    fn logged_in(&mut self, login: Result<(Account, Status), Status>) -> Status {
        match login {
            Ok((account, status)) => {
                self.state = State::Authenticated { account };
                status
            }
            Err(status) => status,
        }
    }
}
