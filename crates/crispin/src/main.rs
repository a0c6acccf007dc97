//! The `crispin` command: run the server and manage accounts.

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use crispin_server::{Config, auth};
use crispin_store::{Store, StoreError};
use std::io::{BufRead, IsTerminal};
use std::path::PathBuf;

mod deliver;
mod import;

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
    /// Run the server until SIGINT or SIGTERM.
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
    /// 75 for a temporary failure.
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
    Add { name: String },
    /// Change an account's password (read from standard input).
    Passwd { name: String },
    /// Delete an account and all its mail.
    Delete { name: String },
    /// List accounts.
    List,
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    let config = Config::load(cli.config.as_deref())?;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(&config.log));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    let runtime = tokio::runtime::Runtime::new().context("cannot start the runtime")?;
    runtime.block_on(async move {
        match cli.command {
            Command::Serve { first_user } => serve(config, first_user).await,
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
    })
}

fn valid_user_name(name: &str) -> Result<()> {
    if name.is_empty()
        || name.len() > 255
        || !name
            .chars()
            .all(|c| c.is_alphanumeric() || "._-@+".contains(c))
    {
        bail!("invalid user name {name:?}: use letters, digits and . _ - @ +");
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
    let store = crispin_server::server::open_store(&config).await?;
    // A deleted account's mailboxes must leave a running server's caches.
    store.notify_running_server();
    match action {
        UserAction::Add { name } => {
            valid_user_name(&name)?;
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
    }
    store.close().await;
    Ok(())
}

async fn serve(config: Config, first_user: Option<String>) -> Result<()> {
    // Handlers first: a signal that comes early must not kill us.
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let mut hup = signal(SignalKind::hangup())?;
    let server = crispin_server::start(&config).await?;
    if let Some(name) = first_user {
        valid_user_name(&name)?;
        if server.store.account(&name).await?.is_none() {
            let password = generated_password();
            let creds = auth::credentials(&password, &config.auth).map_err(anyhow::Error::msg)?;
            server.store.create_account(&name, &creds).await?;
            eprintln!("Created account {name} with password {password}");
        }
    }
    for addr in &server.imaps_addrs {
        eprintln!("Crispin is serving IMAP over TLS on {addr}");
    }
    for addr in &server.lmtp_addrs {
        eprintln!("Crispin is accepting mail by LMTP on {addr}");
    }
    for addr in &server.imap_addrs {
        eprintln!(
            "Crispin is serving IMAP on {addr}; connect with: curl imap://{addr}/ -u USER:PASSWORD"
        );
    }
    loop {
        tokio::select! {
            _ = term.recv() => break,
            _ = int.recv() => break,
            // Reload the TLS certificate without dropping connections.
            _ = hup.recv() => server.reload_tls(),
        }
    }
    tracing::info!("shutting down");
    server.shutdown().await;
    Ok(())
}
