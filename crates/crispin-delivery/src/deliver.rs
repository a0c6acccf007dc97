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
    resolve_user(store, address, user, detail, mailbox).await
}

/// As [`resolve`], but for the account `user` whatever the address's
/// local part says (postmaster mail goes to a configured account).
pub async fn resolve_as(
    store: &dyn Store,
    address: &str,
    user: &str,
) -> Result<Recipient, ResolveError> {
    let (_, detail) = local_part(address);
    resolve_user(store, address, user, detail, None).await
}

async fn resolve_user(
    store: &dyn Store,
    address: &str,
    user: &str,
    detail: Option<&str>,
    mailbox: Option<&str>,
) -> Result<Recipient, ResolveError> {
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

/// The stored form of a delivered message: `Return-Path:` first (RFC 5321
/// §4.4 adds it at final delivery, above everything else), `Delivered-To:`,
/// then `received` (a whole `Received:` field with its CRLF, see
/// [`received_header`]), and CRLF line ends throughout (IMAP clients
/// expect them; MTAs sometimes hand over bare LF).
pub fn with_trace_headers(
    return_path: &str,
    delivered_to: &str,
    received: &str,
    data: &[u8],
) -> Vec<u8> {
    let mut out =
        format!("Return-Path: <{return_path}>\r\nDelivered-To: {delivered_to}\r\n{received}")
            .into_bytes();
    out.extend_from_slice(&crate::import::crlf(data));
    out
}

/// What a `Received:` field says about one delivery (RFC 5321 §4.4).
pub struct Trace<'a> {
    /// The name the client gave in LHLO.
    pub helo: &'a str,
    /// `[192.0.2.1]`, `[IPv6:…]` or `local`.
    pub peer: &'a str,
    pub hostname: &'a str,
    pub id: &'a str,
    pub rcpt: &'a str,
    pub date: chrono::DateTime<chrono::FixedOffset>,
}

/// RFC 5322 §2.1.1: lines should stay within 78 characters.
const MAX_LINE: usize = 78;

/// The `Received:` field, CRLF included, folded (RFC 5322 §2.2.3): with
/// the date it never fits on one line, so the `for` clause and the date
/// go on a continuation line of their own, as Postfix and Dovecot write
/// them.
pub fn received_header(t: &Trace<'_>) -> String {
    let words = [
        format!("from {} ({})", header_safe(t.helo), t.peer),
        format!("by {} (Crispin)", header_safe(t.hostname)),
        "with LMTP".to_string(),
        format!("id {}", t.id),
    ];
    let tail = [format!("for <{}>;", t.rcpt), t.date.to_rfc2822()];
    let mut lines = vec!["Received:".to_string()];
    fill(&mut lines, &words);
    lines.push(String::new());
    fill(&mut lines, &tail);
    let mut out = lines.join("\r\n\t");
    out.push_str("\r\n");
    out
}

/// Appends `words` to the last line, starting a new one when a word
/// would push it past the limit (a word longer than a line stays whole:
/// folding happens only at white space).
fn fill(lines: &mut Vec<String>, words: &[String]) {
    for w in words {
        // The tab that will start a continuation line counts too.
        let indent = usize::from(lines.len() > 1);
        let Some(line) = lines.last_mut() else {
            return;
        };
        if line.is_empty() {
            line.push_str(w);
        } else if indent + line.len() + 1 + w.len() <= MAX_LINE {
            line.push(' ');
            line.push_str(w);
        } else {
            lines.push(w.clone());
        }
    }
}

/// The LHLO name is whatever the client sent: keep what a domain or an
/// address literal can hold, so it cannot open a comment or smuggle in
/// anything else.
fn header_safe(name: &str) -> String {
    let safe: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || ".-_:[]".contains(c) {
                c
            } else {
                '?'
            }
        })
        .collect();
    if safe.is_empty() {
        "unknown".into()
    } else {
        safe
    }
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
        let out = with_trace_headers(
            "s@x",
            "alice@y",
            "Received: r\r\n",
            b"Subject: a\n\nbody\r\nmore\n",
        );
        assert_eq!(
            out,
            b"Return-Path: <s@x>\r\nDelivered-To: alice@y\r\nReceived: r\r\nSubject: a\r\n\r\nbody\r\nmore\r\n"
        );
    }

    fn date() -> chrono::DateTime<chrono::FixedOffset> {
        chrono::DateTime::parse_from_rfc2822("Tue, 1 Jul 2025 10:00:00 +0200").unwrap()
    }

    #[test]
    fn received_short() {
        let h = received_header(&Trace {
            helo: "mx",
            peer: "local",
            hostname: "h",
            id: "1A",
            rcpt: "a@b",
            date: date(),
        });
        assert_eq!(
            h,
            "Received: from mx (local) by h (Crispin) with LMTP id 1A\r\n\
             \tfor <a@b>; Tue, 1 Jul 2025 10:00:00 +0200\r\n"
        );
    }

    #[test]
    fn received_is_folded_and_lhlo_name_sanitised() {
        let h = received_header(&Trace {
            helo: "mx.example.org (evil)\u{e9}",
            peer: "[127.0.0.1]",
            hostname: "mail.example.org",
            id: "6390A1B2C3D4E",
            rcpt: "alice@example.org",
            date: date(),
        });
        assert_eq!(
            h,
            "Received: from mx.example.org??evil?? ([127.0.0.1])\r\n\
             \tby mail.example.org (Crispin) with LMTP id 6390A1B2C3D4E\r\n\
             \tfor <alice@example.org>; Tue, 1 Jul 2025 10:00:00 +0200\r\n"
        );
        for line in h.split("\r\n") {
            assert!(line.len() <= MAX_LINE, "{line}");
        }
        // A recipient too long to share a line with the date.
        let rcpt = format!("{}@example.org", "x".repeat(60));
        let h = received_header(&Trace {
            helo: "mx",
            peer: "local",
            hostname: "h",
            id: "1",
            rcpt: &rcpt,
            date: date(),
        });
        assert_eq!(
            h,
            format!(
                "Received: from mx (local) by h (Crispin) with LMTP id 1\r\n\
                 \tfor <{rcpt}>;\r\n\tTue, 1 Jul 2025 10:00:00 +0200\r\n"
            )
        );
    }
}
