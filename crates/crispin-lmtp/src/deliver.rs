//! Delivery into the store, shared by LMTP and `crispin deliver`:
//! recipient mapping, trace headers, and the append itself.

use crispin_store::{
    Account, Appended, Flags, MailboxId, MessageData, NewMessage, Store, StoreError,
};

/// A recipient resolved to an account and a mailbox.
#[derive(Debug, Clone)]
pub struct Recipient {
    pub address: String,
    pub account: Account,
    pub mailbox: MailboxId,
}

#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    #[error("no such user")]
    UnknownUser,
    #[error("temporary failure: {0}")]
    Temporary(#[from] StoreError),
}

/// Splits `user+detail@domain` into `(user, detail)`; any domain is ours.
pub fn local_part(address: &str) -> (&str, Option<&str>) {
    let local = address.rsplit_once('@').map_or(address, |(l, _)| l);
    match local.split_once('+') {
        Some((user, detail)) if !detail.is_empty() => (user, Some(detail)),
        Some((user, _)) => (user, None),
        None => (local, None),
    }
}

/// Maps an address to an account; `+detail` selects the mailbox of that
/// name when it exists, INBOX otherwise. `mailbox` overrides both.
pub async fn resolve(
    store: &dyn Store,
    address: &str,
    mailbox: Option<&str>,
) -> Result<Recipient, ResolveError> {
    let (user, detail) = local_part(address);
    if user.is_empty() {
        return Err(ResolveError::UnknownUser);
    }
    let account = match store.account(user).await? {
        Some(a) => a,
        None => match store.account(&user.to_lowercase()).await? {
            Some(a) => a,
            None => return Err(ResolveError::UnknownUser),
        },
    };
    let mut target = None;
    for name in [mailbox, detail].into_iter().flatten() {
        if let Some(info) = store.mailbox(account.id, name).await? {
            target = Some(info.id);
            break;
        }
    }
    let mailbox = match target {
        Some(id) => id,
        None => {
            store
                .mailbox(account.id, "INBOX")
                .await?
                .ok_or(StoreError::NoMailbox)?
                .id
        }
    };
    Ok(Recipient {
        address: address.to_string(),
        account,
        mailbox,
    })
}

/// The stored form of a delivered message: `Return-Path:` and
/// `Delivered-To:` first, and CRLF line ends throughout (IMAP clients
/// expect them; MTAs sometimes hand over bare LF).
pub fn with_trace_headers(return_path: &str, delivered_to: &str, data: &[u8]) -> Vec<u8> {
    let mut out =
        format!("Return-Path: <{return_path}>\r\nDelivered-To: {delivered_to}\r\n").into_bytes();
    out.extend_from_slice(&crate::import::crlf(data));
    out
}

/// Appends one delivered copy; durable when it returns Ok.
pub async fn deliver(
    store: &dyn Store,
    rcpt: &Recipient,
    message: Vec<u8>,
    flags: Flags,
) -> Result<Appended, StoreError> {
    store
        .append(
            rcpt.account.id,
            rcpt.mailbox,
            NewMessage {
                data: MessageData::Bytes(message),
                flags,
                internal_date: chrono::Utc::now().fixed_offset(),
                skip_if_present: false,
            },
        )
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_parts() {
        assert_eq!(local_part("alice@example.org"), ("alice", None));
        assert_eq!(local_part("alice+lists@x"), ("alice", Some("lists")));
        assert_eq!(local_part("alice+@x"), ("alice", None));
        assert_eq!(local_part("bob"), ("bob", None));
        assert_eq!(local_part("\"odd@name\"@x"), ("\"odd@name\"", None));
    }

    #[test]
    fn trace_headers_and_line_ends() {
        let out = with_trace_headers("s@x", "alice@y", b"Subject: a\n\nbody\r\nmore\n");
        assert_eq!(
            out,
            b"Return-Path: <s@x>\r\nDelivered-To: alice@y\r\nSubject: a\r\n\r\nbody\r\nmore\r\n"
        );
    }
}
