//! `crispin deliver`: one message from standard input into a mailbox,
//! with sendmail-style exit codes for MTAs.

use crispin_delivery::deliver::{self, ResolveError};
use crispin_server::Config;
use crispin_store::Flags;
use std::io::Read;

const EX_OK: i32 = 0;
const EX_NOUSER: i32 = 67;
const EX_TEMPFAIL: i32 = 75;
const EX_DATAERR: i32 = 65;

pub async fn deliver(config: &Config, user: &str, mailbox: Option<&str>, flags: &[String]) -> i32 {
    let flags = match Flags::from_names(flags.iter().map(String::as_str)) {
        Ok(f) => f,
        Err(bad) => {
            eprintln!("crispin deliver: flag {bad} cannot be set");
            return EX_DATAERR;
        }
    };
    let limit = config.limits.max_message_size;
    let mut data = Vec::new();
    if let Err(e) = std::io::stdin()
        .lock()
        .take(limit + 1)
        .read_to_end(&mut data)
    {
        eprintln!("crispin deliver: cannot read the message: {e}");
        return EX_TEMPFAIL;
    }
    if data.len() as u64 > limit {
        eprintln!("crispin deliver: message larger than {limit} bytes");
        return EX_DATAERR;
    }
    if data.is_empty() {
        eprintln!("crispin deliver: empty message");
        return EX_DATAERR;
    }
    let store =
        match crispin_server::server::open_store(config, crispin_store::OpenMode::Existing).await {
            Ok(s) => s,
            Err(e) => {
                eprintln!("crispin deliver: cannot open the store: {e}");
                return EX_TEMPFAIL;
            }
        };
    store.notify_running_server();
    let code = match deliver::resolve(store.as_ref(), user, mailbox).await {
        Err(ResolveError::UnknownUser) => {
            eprintln!("crispin deliver: no such user {user}");
            EX_NOUSER
        }
        Err(ResolveError::Temporary(e)) => {
            eprintln!("crispin deliver: {e}");
            EX_TEMPFAIL
        }
        Ok(rcpt) => {
            // The MTA (e.g. Postfix local(8)) already added Return-Path and
            // Delivered-To; only the line ends are normalised.
            let message = crispin_delivery::import::crlf(&data);
            match deliver::deliver(store.as_ref(), &rcpt, message, flags).await {
                Ok(_) => EX_OK,
                Err(e) => {
                    eprintln!("crispin deliver: {e}");
                    EX_TEMPFAIL
                }
            }
        }
    };
    store.close().await;
    code
}
