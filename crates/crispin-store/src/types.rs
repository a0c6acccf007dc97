//! Values that cross the `Store` boundary.

use chrono::{DateTime, FixedOffset};
use std::sync::Arc;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AccountId(pub i64);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MailboxId(pub i64);

/// Secrets needed to check a login, opaque to the store (the server
/// decides their format: an argon2id PHC string and SCRAM keys).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Credentials {
    pub password_hash: String,
    pub scram_sha256: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Account {
    pub id: AccountId,
    pub name: String,
    pub credentials: Credentials,
}

/// The system flags as bits, keywords by name.
pub mod flag {
    pub const SEEN: u8 = 1;
    pub const ANSWERED: u8 = 2;
    pub const FLAGGED: u8 = 4;
    pub const DELETED: u8 = 8;
    pub const DRAFT: u8 = 16;

    pub const SYSTEM: [(u8, &str); 5] = [
        (SEEN, "\\Seen"),
        (ANSWERED, "\\Answered"),
        (FLAGGED, "\\Flagged"),
        (DELETED, "\\Deleted"),
        (DRAFT, "\\Draft"),
    ];
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Flags {
    pub system: u8,
    /// Keywords, without duplicates (compared case-insensitively).
    pub keywords: Vec<String>,
}

impl Flags {
    pub fn has(&self, bit: u8) -> bool {
        self.system & bit != 0
    }

    pub fn has_keyword(&self, k: &str) -> bool {
        self.keywords.iter().any(|x| x.eq_ignore_ascii_case(k))
    }

    /// Builds flags from names as a client writes them. Returns the name
    /// of a `\`-flag that cannot be stored (e.g. `\Recent`, `\Foo`).
    pub fn from_names<'a>(names: impl IntoIterator<Item = &'a str>) -> Result<Flags, String> {
        let mut f = Flags::default();
        for name in names {
            if let Some((bit, _)) = flag::SYSTEM
                .iter()
                .find(|(_, n)| n.eq_ignore_ascii_case(name))
            {
                f.system |= bit;
            } else if name.starts_with('\\') {
                return Err(name.to_string());
            } else if !f.has_keyword(name) {
                f.keywords.push(name.to_string());
            }
        }
        Ok(f)
    }

    pub fn apply(&self, op: FlagOp, change: &Flags) -> Flags {
        match op {
            FlagOp::Replace => change.clone(),
            FlagOp::Add => {
                let mut f = self.clone();
                f.system |= change.system;
                for k in &change.keywords {
                    if !f.has_keyword(k) {
                        f.keywords.push(k.clone());
                    }
                }
                f
            }
            FlagOp::Remove => {
                let mut f = self.clone();
                f.system &= !change.system;
                f.keywords.retain(|k| !change.has_keyword(k));
                f
            }
        }
    }

    /// Names as they appear in a FLAGS response (without `\Recent`).
    pub fn names(&self) -> impl Iterator<Item = &str> {
        flag::SYSTEM
            .iter()
            .filter(|(bit, _)| self.has(*bit))
            .map(|(_, n)| *n)
            .chain(self.keywords.iter().map(String::as_str))
    }

    /// Keywords as stored in one text column.
    pub fn keywords_text(&self) -> String {
        self.keywords.join(" ")
    }

    pub fn from_parts(system: i64, keywords: &str) -> Flags {
        Flags {
            system: (system & 0xff) as u8,
            keywords: keywords
                .split_ascii_whitespace()
                .map(String::from)
                .collect(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlagOp {
    Replace,
    Add,
    Remove,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailboxInfo {
    pub id: MailboxId,
    /// UTF-8, `/`-separated; `INBOX` is always spelled in capitals.
    pub name: String,
    /// `\Sent`, `\Trash`, ... (RFC 6154).
    pub special_use: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MailboxStatus {
    pub messages: u32,
    pub unseen: u32,
    pub deleted: u32,
    pub recent: u32,
    pub size: u64,
    pub uid_next: u32,
    pub uid_validity: u32,
    pub highest_modseq: u64,
}

/// What SELECT needs to build a session's view.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub uid_validity: u32,
    pub uid_next: u32,
    pub highest_modseq: u64,
    /// Every UID in the mailbox, ascending: position + 1 is the sequence number.
    pub uids: Vec<u32>,
    /// Sequence-free facts SELECT reports.
    pub first_unseen_uid: Option<u32>,
    /// Every keyword in use in the mailbox (for FLAGS/PERMANENTFLAGS).
    pub keywords: Vec<String>,
}

/// Everything that happened in a mailbox after a modseq.
#[derive(Debug, Clone, Default)]
pub struct Changes {
    pub highest_modseq: u64,
    /// New or changed messages, ascending by UID.
    pub updated: Vec<(u32, Flags, u64)>,
    /// UIDs expunged after the modseq.
    pub expunged: Vec<u32>,
    /// The mailbox's keywords, when they may have changed.
    pub keywords: Option<Vec<String>>,
}

/// A message to add, from APPEND, LMTP, `deliver` or `import`.
pub struct NewMessage {
    pub data: MessageData,
    pub flags: Flags,
    pub internal_date: DateTime<FixedOffset>,
    /// Do nothing when the mailbox already holds these exact bytes
    /// (makes imports idempotent).
    pub skip_if_present: bool,
}

/// Message bytes: in memory, or spooled to a file (large APPEND literals).
pub enum MessageData {
    Bytes(Vec<u8>),
    File(tempfile::NamedTempFile),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Appended {
    pub uid_validity: u32,
    pub uid: u32,
    pub modseq: u64,
    /// The message was already there (`skip_if_present`); `uid` is the
    /// existing copy's.
    pub duplicate: bool,
}

/// What a FETCH needs beyond UID and flags, so the store reads no more
/// than that.
#[derive(Debug, Clone, Default)]
pub struct FetchNeed {
    pub meta: bool,
    pub header: bool,
    /// Only these fields of the header are needed (lowercase names): the
    /// store hands over just them, not the whole header block.
    pub header_fields: Option<Arc<Vec<Vec<u8>>>>,
    /// The pre-rendered ENVELOPE/BODY/BODYSTRUCTURE.
    pub rendered: bool,
}

/// ENVELOPE, BODY and BODYSTRUCTURE as response text, rendered once at
/// ingest for clients without UTF8=ACCEPT (all of them today). Kept in
/// its stored form (each part as a 4-byte little-endian length and its
/// bytes; not serde: postcard walks a `Vec<u8>` byte by byte), so a FETCH
/// copies one buffer a message, not three.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rendered {
    bytes: Vec<u8>,
    /// Where each part starts and ends in `bytes`.
    parts: [(usize, usize); 3],
}

impl Rendered {
    pub fn new(envelope: &[u8], body: &[u8], bodystructure: &[u8]) -> Rendered {
        let mut bytes = Vec::with_capacity(12 + envelope.len() + body.len() + bodystructure.len());
        let mut parts = [(0, 0); 3];
        for (i, part) in [envelope, body, bodystructure].into_iter().enumerate() {
            bytes.extend_from_slice(&(part.len() as u32).to_le_bytes());
            parts[i] = (bytes.len(), bytes.len() + part.len());
            bytes.extend_from_slice(part);
        }
        Rendered { bytes, parts }
    }

    /// The stored form.
    pub fn into_encoded(self) -> Vec<u8> {
        self.bytes
    }

    pub fn decode(bytes: &[u8]) -> Option<Rendered> {
        let mut parts = [(0, 0); 3];
        let mut at = 0;
        for part in &mut parts {
            let len = u32::from_le_bytes(bytes.get(at..at + 4)?.try_into().ok()?) as usize;
            let end = (at + 4).checked_add(len).filter(|e| *e <= bytes.len())?;
            *part = (at + 4, end);
            at = end;
        }
        Some(Rendered {
            bytes: bytes.get(..at)?.to_vec(),
            parts,
        })
    }

    fn part(&self, i: usize) -> &[u8] {
        let (a, b) = self.parts[i];
        &self.bytes[a..b]
    }

    pub fn envelope(&self) -> &[u8] {
        self.part(0)
    }

    pub fn body(&self) -> &[u8] {
        self.part(1)
    }

    pub fn bodystructure(&self) -> &[u8] {
        self.part(2)
    }

    pub fn of(meta: &crispin_mime::MessageMeta) -> Rendered {
        let (mut envelope, mut body, mut bodystructure) = (Vec::new(), Vec::new(), Vec::new());
        crispin_mime::write_envelope(&mut envelope, &meta.envelope, false);
        crispin_mime::write_body(&mut body, &meta.root, false, false);
        crispin_mime::write_body(&mut bodystructure, &meta.root, true, false);
        Rendered::new(&envelope, &body, &bodystructure)
    }
}

#[derive(Debug, Clone)]
pub struct MessageRecord {
    pub uid: u32,
    pub flags: Flags,
    pub modseq: u64,
    pub internal_date: DateTime<FixedOffset>,
    pub size: u64,
    /// Content address of the raw bytes, for [`crate::Store::read_blob`].
    pub blob: Arc<str>,
    pub meta: Option<Arc<crispin_mime::MessageMeta>>,
    pub rendered: Option<Arc<Rendered>>,
    /// The raw top-level header block (with its blank line).
    pub header: Option<Arc<[u8]>>,
}

/// A message's content opened for reading ([`crate::Store::open_blob`]):
/// bytes in memory, or an open file, which stays readable after the file
/// is removed (its last message expunged by another session).
#[derive(Debug, Clone)]
pub struct BlobReader(Reader);

#[derive(Debug, Clone)]
enum Reader {
    Bytes(Arc<[u8]>),
    File(Arc<std::fs::File>),
}

impl BlobReader {
    pub fn from_bytes(bytes: impl Into<Arc<[u8]>>) -> BlobReader {
        BlobReader(Reader::Bytes(bytes.into()))
    }

    pub fn from_file(file: std::fs::File) -> BlobReader {
        BlobReader(Reader::File(Arc::new(file)))
    }

    /// `len` bytes from `start`, fewer at the end of the content.
    pub async fn read(&self, start: u64, len: u64) -> crate::Result<Vec<u8>> {
        match &self.0 {
            Reader::Bytes(b) => {
                let start = usize::try_from(start).unwrap_or(usize::MAX).min(b.len());
                let len = usize::try_from(len).unwrap_or(usize::MAX);
                Ok(b[start..start.saturating_add(len).min(b.len())].to_vec())
            }
            Reader::File(f) => {
                let f = f.clone();
                tokio::task::spawn_blocking(move || read_at(&f, start, len))
                    .await
                    .map_err(|e| crate::StoreError::Other(e.to_string()))?
                    .map_err(crate::StoreError::from)
            }
        }
    }
}

/// Positioned reads (no shared cursor: clones of a reader may read at once).
fn read_at(f: &std::fs::File, start: u64, len: u64) -> std::io::Result<Vec<u8>> {
    use std::os::unix::fs::FileExt;
    let mut buf = vec![0; usize::try_from(len.min(16 << 20)).unwrap_or(16 << 20)];
    let mut out = Vec::with_capacity(buf.len());
    let mut pos = start;
    while (out.len() as u64) < len {
        let want = usize::try_from(len - out.len() as u64)
            .unwrap_or(usize::MAX)
            .min(buf.len());
        match f.read_at(&mut buf[..want], pos) {
            Ok(0) => break,
            Ok(n) => {
                out.extend_from_slice(&buf[..n]);
                pos += n as u64;
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}

#[derive(Debug, Clone, Default)]
pub struct StoreResult {
    pub modseq: u64,
    /// Messages whose flags now differ from before, with their new flags.
    pub changed: Vec<(u32, Flags)>,
    /// Messages given that were found and not `modified` (changed or
    /// not), with their flags and modseq.
    pub current: Vec<(u32, Flags, u64)>,
    /// Messages left alone because they changed after the STORE's
    /// UNCHANGEDSINCE, ascending.
    pub modified: Vec<u32>,
    pub keywords_changed: bool,
}

#[derive(Debug, Clone, Default)]
pub struct CopyResult {
    pub uid_validity: u32,
    /// (source UID, destination UID), in source UID order.
    pub pairs: Vec<(u32, u32)>,
    pub dest_modseq: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rendered_round_trip() {
        let r = Rendered::new(b"(NIL)", b"", &[0, 255, 10]);
        let bytes = r.clone().into_encoded();
        let back = Rendered::decode(&bytes).unwrap();
        assert_eq!(back, r);
        assert_eq!(
            (back.envelope(), back.body(), back.bodystructure()),
            (&b"(NIL)"[..], &b""[..], &[0u8, 255, 10][..])
        );
        assert_eq!(Rendered::decode(&bytes[..bytes.len() - 1]), None);
        assert_eq!(Rendered::decode(&[9, 9]), None);
    }
}

/// Something an administrator did to an account that a running server
/// must hear of (its state lives in memory).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccountNotice {
    /// End the account's login lockout (`crispin user unlock`).
    Unlock(String),
}
