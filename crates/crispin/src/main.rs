//! The `crispin` command: run the server and manage accounts.

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use crispin_server::config::Plaintext;
use crispin_server::{Config, RunningServer, auth};
use crispin_store::OpenMode;
use crispin_store::{AccountNotice, StoreError};
use std::io::{BufRead, IsTerminal};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

mod deliver;
mod import;
mod log;

#[derive(Parser)]
#[command(name = "crispin", version, about = "An IMAP mail server")]
struct Cli {
    /// Configuration file (TOML); defaults apply without one.
    #[arg(long, short, global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server until SIGINT or SIGTERM; SIGHUP reloads the
    /// configuration.
    Serve {
        /// Create this account with a generated password (printed once)
        /// if it does not exist yet.
        #[arg(long, value_name = "NAME")]
        first_user: Option<String>,
    },
    /// Manage accounts.
    User {
        #[command(subcommand)]
        action: UserAction,
    },
    /// Deliver one message from standard input (for an MTA's
    /// `mailbox_command`). Exits 0 when delivered, 67 for an unknown user,
    /// 75 for a temporary failure (the MTA retries).
    Deliver {
        #[arg(long)]
        user: String,
        /// Target mailbox (INBOX when absent or when it does not exist).
        #[arg(long)]
        mailbox: Option<String>,
        /// Flags to set, e.g. `--flag '\Seen' --flag '$Label1'`.
        #[arg(long = "flag")]
        flags: Vec<String>,
    },
    /// Import existing mail from a Maildir++ tree or an mbox file; running
    /// it again does not duplicate messages.
    Import {
        #[arg(long)]
        user: String,
        #[arg(long, conflicts_with = "mbox", required_unless_present = "mbox")]
        maildir: Option<PathBuf>,
        #[arg(long)]
        mbox: Option<PathBuf>,
        /// Mailbox to import into (Maildir subfolders go below it);
        /// INBOX by default.
        #[arg(long)]
        mailbox: Option<String>,
    },
}

#[derive(Subcommand)]
enum UserAction {
    /// Create an account; the password is read from standard input.
    /// Names are case-insensitive and stored in lower case.
    Add { name: String },
    /// Change an account's password (read from standard input).
    Passwd { name: String },
    /// Delete an account and all its mail.
    Delete { name: String },
    /// List accounts.
    List,
    /// End a login lockout in the running server (lockouts live in its
    /// memory: a restart ends them all).
    Unlock { name: String },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match Config::load(cli.config.as_deref()) {
        Ok(c) => c,
        Err(e) => return fail(&e.into()),
    };
    let logging = match log::init(&config) {
        Ok(l) => l,
        Err(e) => return fail(&e),
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => return fail(&anyhow::Error::new(e).context("cannot start the runtime")),
    };
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Serve { first_user } => {
                serve(config, cli.config.as_deref(), first_user, logging).await
            }
            Command::User { action } => user(config, action).await,
            Command::Deliver {
                user,
                mailbox,
                flags,
            } => {
                let code = deliver::deliver(&config, &user, mailbox.as_deref(), &flags).await;
                std::process::exit(code);
            }
            Command::Import {
                user,
                maildir,
                mbox,
                mailbox,
            } => import::import(&config, &user, maildir, mbox, mailbox).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&e),
    }
}

/// Prints an error once, with its causes but without a backtrace (even
/// with `RUST_BACKTRACE` set: these are the user's errors, not bugs).
fn fail(e: &anyhow::Error) -> ExitCode {
    let mut text = e.to_string();
    for cause in e.chain().skip(1) {
        // Our messages usually carry their cause already.
        let cause = cause.to_string();
        if !text.contains(&cause) {
            text.push_str(": ");
            text.push_str(&cause);
        }
    }
    eprintln!("crispin: {text}");
    ExitCode::FAILURE
}

/// Names are what a client types at LOGIN and what delivery takes from an
/// address's local part, up to a `+` detail: so neither `+` nor `@`.
fn valid_user_name(name: &str) -> Result<()> {
    if name.is_empty()
        || name.len() > 255
        || !name
            .chars()
            .all(|c| c.is_alphanumeric() || "._-".contains(c))
    {
        bail!(
            "invalid user name {name:?}: use letters, digits and . _ - \
             (+ and @ separate a mailbox and a domain in delivery addresses)"
        );
    }
    Ok(())
}

/// Reads a password: prompted twice on a terminal, else one line of stdin.
fn read_password() -> Result<String> {
    let password = if std::io::stdin().is_terminal() {
        let p = rpassword::prompt_password("Password: ")?;
        if p != rpassword::prompt_password("Again: ")? {
            bail!("the passwords do not match");
        }
        p
    } else {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        line.trim_end_matches(['\r', '\n']).to_string()
    };
    if password.is_empty() {
        bail!("the password is empty");
    }
    Ok(password)
}

fn generated_password() -> String {
    use rand::RngExt;
    const CHARS: &[u8] = b"abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut rng = rand::rng();
    (0..16)
        .map(|_| CHARS[rng.random_range(0..CHARS.len())] as char)
        .collect()
}

async fn user(config: Config, action: UserAction) -> Result<()> {
    let mode = match action {
        UserAction::Add { .. } => OpenMode::CreateIfMissing,
        _ => OpenMode::Existing,
    };
    let store = crispin_server::server::open_store(&config, mode).await?;
    // A deleted account's mailboxes must leave a running server's caches.
    store.notify_running_server();
    match action {
        UserAction::Add { name } => {
            valid_user_name(&name)?;
            let name = crispin_store::account_name(&name);
            let creds =
                auth::credentials(&read_password()?, &config.auth).map_err(anyhow::Error::msg)?;
            match store.create_account(&name, &creds).await {
                Ok(_) => println!("created account {name}"),
                Err(StoreError::AccountExists) => bail!("account {name} already exists"),
                Err(e) => return Err(e.into()),
            }
        }
        UserAction::Passwd { name } => {
            let creds =
                auth::credentials(&read_password()?, &config.auth).map_err(anyhow::Error::msg)?;
            match store.set_credentials(&name, &creds).await {
                Ok(()) => println!("password changed for {name}"),
                Err(StoreError::NoAccount) => bail!("no account {name}"),
                Err(e) => return Err(e.into()),
            }
        }
        UserAction::Delete { name } => match store.delete_account(&name).await {
            Ok(()) => println!("deleted account {name}"),
            Err(StoreError::NoAccount) => bail!("no account {name}"),
            Err(e) => return Err(e.into()),
        },
        UserAction::List => {
            for name in store.list_accounts().await? {
                println!("{name}");
            }
        }
        UserAction::Unlock { name } => {
            let Some(account) = store.account(&name).await? else {
                bail!("no account {name}");
            };
            let told = store
                .tell_running_server(&AccountNotice::Unlock(account.name.clone()))
                .with_context(|| {
                    format!("cannot reach the server in {}", config.data_dir.display())
                })?;
            if told {
                println!("lockout of {} ended", account.name);
            } else {
                println!(
                    "no server is running on {}: there is no lockout to end \
                     (lockouts end with the server)",
                    config.data_dir.display()
                );
            }
        }
    }
    store.close().await;
    Ok(())
}

async fn serve(
    config: Config,
    config_path: Option<&Path>,
    first_user: Option<String>,
    logging: log::Logging,
) -> Result<()> {
    // Handlers first: a signal that comes early must not kill us.
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let mut hup = signal(SignalKind::hangup())?;
    if let Some(name) = &first_user {
        valid_user_name(name)?;
    }
    let server = crispin_server::start(&config).await?;
    let mut user = None;
    if let Some(name) = first_user {
        let name = crispin_store::account_name(&name);
        if server.store.account(&name).await?.is_none() {
            let password = generated_password();
            let creds = auth::credentials(&password, &config.auth).map_err(anyhow::Error::msg)?;
            server.store.create_account(&name, &creds).await?;
            eprintln!("Created account {name} with password {password}");
            user = Some((name, password));
        } else {
            user = Some((name, "PASSWORD".to_string()));
        }
    }
    announce(&server, &config, user.as_ref());
    loop {
        tokio::select! {
            _ = term.recv() => break,
            _ = int.recv() => break,
            _ = hup.recv() => reload(&server, config_path, &logging),
        }
    }
    tracing::info!("shutting down");
    server.shutdown().await;
    Ok(())
}

/// SIGHUP: read the configuration again and apply what can change
/// without a restart.
fn reload(server: &RunningServer, path: Option<&Path>, logging: &log::Logging) {
    let new = match Config::load(path) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "configuration not reloaded");
            return;
        }
    };
    if let Err(e) = logging.reload(&new) {
        tracing::error!(error = %e, "log filter not reloaded");
    }
    let restart = server.reload(&new);
    if restart.is_empty() {
        tracing::info!("configuration reloaded");
    } else {
        tracing::warn!(
            keys = %restart.join(", "),
            "configuration reloaded; these changed keys take effect only after a restart"
        );
    }
}

/// What a new user needs: where the server listens, how to trust its
/// certificate, and a connect line that works under the plaintext policy.
fn announce(server: &RunningServer, config: &Config, user: Option<&(String, String)>) {
    let (name, password) = user.map_or(("USER", "PASSWORD"), |(n, p)| (n.as_str(), p.as_str()));
    let cert = server.tls.as_ref().map(|t| t.certificate());
    let mut cacert = String::new();
    if let Some((path, generated, fingerprint)) = &cert {
        if *generated {
            eprintln!(
                "TLS certificate (self-signed): {}\n  SHA-256 fingerprint {fingerprint}\n  \
                 trust it in a client by importing that file, or compare the fingerprint \
                 when the client asks",
                path.display()
            );
            cacert = format!("--cacert {} ", path.display());
        } else {
            eprintln!(
                "TLS certificate: {} (SHA-256 {fingerprint})",
                path.display()
            );
        }
    }
    for addr in &server.lmtp_addrs {
        eprintln!("Crispin is accepting mail by LMTP on {addr}");
    }
    for addr in &server.imaps_addrs {
        eprintln!(
            "Crispin is serving IMAP over TLS on {addr}; connect with: \
             curl {cacert}imaps://{}/ -u {name}:{password}",
            connect_addr(*addr)
        );
    }
    for addr in &server.imap_addrs {
        let host = connect_addr(*addr);
        let cleartext_ok = match config.auth.plaintext {
            Plaintext::Always => true,
            Plaintext::Loopback => host.ip().is_loopback(),
            Plaintext::Never => false,
        };
        if cleartext_ok || server.tls.is_none() {
            eprintln!(
                "Crispin is serving IMAP on {addr}; connect with: \
                 curl imap://{host}/ -u {name}:{password}"
            );
        } else {
            eprintln!(
                "Crispin is serving IMAP on {addr} (STARTTLS required before login); \
                 connect with: curl --ssl-reqd {cacert}imap://{host}/ -u {name}:{password}"
            );
        }
    }
}

/// An address a local client can connect to: the loopback address for a
/// wildcard listener.
fn connect_addr(addr: std::net::SocketAddr) -> std::net::SocketAddr {
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
    match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => (Ipv4Addr::LOCALHOST, addr.port()).into(),
        IpAddr::V6(ip) if ip.is_unspecified() => (Ipv6Addr::LOCALHOST, addr.port()).into(),
        _ => addr,
    }
}
