//! The commands of the not-authenticated state: STARTTLS, LOGIN and
//! AUTHENTICATE (SASL, RFC 4959's initial response included). A successful
//! login returns the account; the state machine enters the authenticated
//! state with it.

use crate::session::{Session, Status};
use crate::{AuthError, SaslStep};
use base64::Engine as _;
use crispin_proto::FrameError;
use crispin_proto::parser::{SaslLine, parse_sasl_response};
use crispin_proto::response::{Code, write_continuation};
use crispin_store::Account;
use std::io;

/// The account logged in with its tagged answer, or the refusal.
pub(crate) type Login = Result<(Account, Status), Status>;

fn privacy_required() -> Status {
    Status::no("Use TLS before logging in").with(Code::PrivacyRequired)
}

impl Session {
    pub(crate) async fn starttls(&mut self, tag: &str) -> io::Result<Option<Status>> {
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

    pub(crate) async fn login(&mut self, user: &[u8], password: &[u8]) -> Login {
        if !self.info.plaintext_ok {
            return Err(privacy_required());
        }
        match self.ctx.auth.login(user, password, &self.info).await {
            Ok(account) => Ok(self.logged_in(account, "LOGIN")),
            Err(e) => Err(self.auth_failure(e, user, "LOGIN")),
        }
    }

    fn logged_in(&mut self, account: Account, mechanism: &str) -> (Account, Status) {
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
        self.conn.limits.max_message = self.config.limits.max_message;
        self.account_name = Some(account.name.to_lowercase());
        let caps = self.capabilities(true);
        (
            account,
            Status::ok("Logged in").with(Code::Capability(caps)),
        )
    }

    pub(crate) async fn authenticate(
        &mut self,
        mechanism: &str,
        initial: Option<Vec<u8>>,
    ) -> io::Result<Login> {
        if !self.info.plaintext_ok {
            return Ok(Err(privacy_required()));
        }
        let Some(mut exchange) = self.ctx.auth.start(mechanism, &self.info) else {
            return Ok(Err(Status::no("Unsupported authentication mechanism")));
        };
        let b64 = base64::engine::general_purpose::STANDARD;
        // Without an initial response the mechanism speaks first: PLAIN
        // and SCRAM with an empty challenge, LOGIN with "Username:".
        let mut response = match initial {
            Some(data) => match b64.decode(&data) {
                Ok(d) => d,
                Err(_) => return Ok(Err(Status::bad("Invalid base64 in initial response"))),
            },
            None => Vec::new(),
        };
        loop {
            match exchange.step(&response).await {
                SaslStep::Challenge(c) => {
                    write_continuation(&mut self.conn.out, b64.encode(&c).as_bytes());
                    self.conn.flush().await?;
                    response = match self.read_sasl_line().await? {
                        Ok(d) => d,
                        Err(status) => return Ok(Err(status)),
                    };
                }
                SaslStep::Success { account, data } => {
                    if let Some(data) = data {
                        // Additional data with success goes in a final
                        // challenge the client answers with an empty line.
                        write_continuation(&mut self.conn.out, b64.encode(&data).as_bytes());
                        self.conn.flush().await?;
                        match self.read_sasl_line().await? {
                            Ok(d) if d.is_empty() => {}
                            Ok(_) => return Ok(Err(Status::bad("Unexpected data after success"))),
                            Err(status) => return Ok(Err(status)),
                        }
                    }
                    return Ok(Ok(self.logged_in(account, mechanism)));
                }
                SaslStep::Failure(e) => return Ok(Err(self.auth_failure(e, b"", mechanism))),
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

    /// The tagged answer to a failed login, logged with what the client
    /// tried (the authenticator logs the account and the counts).
    fn auth_failure(&self, e: AuthError, user: &[u8], mechanism: &str) -> Status {
        let user = String::from_utf8_lossy(&user[..user.len().min(100)]);
        let (status, why) = match e {
            AuthError::Failed => (
                Status::no("Authentication failed").with(Code::AuthenticationFailed),
                "wrong name or password",
            ),
            AuthError::Throttled => (
                Status::no("Too many failed logins, try again later").with(Code::Unavailable),
                "locked out",
            ),
            AuthError::Unavailable => (
                Status::no("Authentication is temporarily unavailable").with(Code::Unavailable),
                "backend unavailable",
            ),
            AuthError::Limit => (
                Status::no("Too many sessions for this user from your address").with(Code::Limit),
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
