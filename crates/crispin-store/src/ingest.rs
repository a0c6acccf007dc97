//! The one place a message is parsed: hash, size, metadata and search
//! text, computed before any transaction starts.

use crate::StoreError;
use crate::types::MessageData;

pub struct Prepared {
    pub hash: String,
    pub size: u64,
    pub meta: Vec<u8>,
    /// [`crate::Rendered`], serialized.
    pub rendered: Vec<u8>,
    pub header: Vec<u8>,
    /// The header's [`LISTED`] fields, for `blob_fields`.
    pub fields: Vec<u8>,
    /// The Date: header's day as yyyymmdd, for SENT* searches.
    pub sent_day: Option<i64>,
    pub search_headers: String,
    pub search_body: String,
    pub data: MessageData,
}

/// The header fields mail clients fetch to list messages (Thunderbird,
/// K-9, mutt, Apple Mail, Outlook), lowercase. Cut from each header at
/// ingest, they are served from a narrow table (`blob_fields`) instead of
/// the whole header; a FETCH naming any other field reads the header.
/// Stored rows hold what this list said when they were written: changing
/// it needs a migration that empties `blob_fields` (rows then fall back to
/// the header).
pub const LISTED: [&str; 31] = [
    "bcc",
    "cc",
    "chat-version",
    "content-class",
    "content-description",
    "content-transfer-encoding",
    "content-type",
    "date",
    "delivered-to",
    "disposition-notification-to",
    "from",
    "importance",
    "in-reply-to",
    "lines",
    "list-id",
    "list-post",
    "list-subscribe",
    "list-unsubscribe",
    "message-id",
    "newsgroups",
    "priority",
    "references",
    "reply-to",
    "sender",
    "subject",
    "to",
    "x-k9mail-identity",
    "x-label",
    "x-original-to",
    "x-priority",
    "x-spam-flag",
];

/// A header cut down to its [`LISTED`] fields.
pub fn cut_listed(header: &[u8]) -> Vec<u8> {
    crispin_mime::header_fields(header, &LISTED.map(str::as_bytes), false)
}

/// Whether a lowercase field name is one of [`LISTED`].
pub fn is_listed(name: &[u8]) -> bool {
    LISTED.binary_search_by(|l| l.as_bytes().cmp(name)).is_ok()
}

/// A content hash's first 64 bits: enough to tell that a `blob_fields` row
/// belongs to the content a message names, not to later content that got
/// the same rowid.
pub fn hash_tag(hash: &str) -> i64 {
    let head = hash.get(..16).unwrap_or(hash);
    u64::from_str_radix(head, 16).map_or(0, |v| v as i64)
}

/// Largest message the stored offsets can describe.
pub const MAX_MESSAGE: u64 = u32::MAX as u64;

/// CPU-bound: call from a blocking thread for large messages.
pub fn prepare(data: MessageData) -> Result<Prepared, StoreError> {
    let map;
    let bytes: &[u8] = match &data {
        MessageData::Bytes(b) => b,
        MessageData::File(f) => {
            // SAFETY: the spool file is private to this process and is not
            // modified while mapped.
            map = unsafe { memmap2::Mmap::map(f.as_file())? };
            &map
        }
    };
    if bytes.len() as u64 > MAX_MESSAGE {
        return Err(StoreError::TooLarge);
    }
    let parsed = crispin_mime::parse(bytes);
    let hash = blake3::hash(bytes).to_hex().to_string();
    let root = &parsed.meta.root;
    let header = bytes
        .get(root.header_start as usize..root.body_start as usize)
        .unwrap_or_default()
        .to_vec();
    let fields = cut_listed(&header);
    let sent_day = parsed
        .meta
        .sent_day
        .map(|(y, m, d)| i64::from(y) * 10000 + i64::from(m) * 100 + i64::from(d));
    let meta = postcard::to_stdvec(&parsed.meta).map_err(|e| StoreError::Other(e.to_string()))?;
    let rendered = crate::Rendered::of(&parsed.meta).into_encoded();
    Ok(Prepared {
        hash,
        size: bytes.len() as u64,
        meta,
        rendered,
        header,
        fields,
        sent_day,
        search_headers: parsed.search.headers,
        search_body: parsed.search.body,
        data,
    })
}

pub fn decode_rendered(bytes: &[u8]) -> Result<crate::Rendered, StoreError> {
    crate::Rendered::decode(bytes).ok_or_else(|| StoreError::Corrupt("rendered metadata".into()))
}

pub fn decode_meta(bytes: &[u8]) -> Result<crispin_mime::MessageMeta, StoreError> {
    postcard::from_bytes(bytes).map_err(|e| StoreError::Corrupt(e.to_string()))
}

pub fn day_from_int(v: i64) -> Option<chrono::NaiveDate> {
    chrono::NaiveDate::from_ymd_opt(
        (v / 10000) as i32,
        ((v / 100) % 100) as u32,
        (v % 100) as u32,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listed_names_are_sorted_lowercase_and_found() {
        assert!(LISTED.windows(2).all(|w| w[0] < w[1]));
        assert!(LISTED.iter().all(|n| n.to_ascii_lowercase() == *n));
        for n in LISTED {
            assert!(is_listed(n.as_bytes()));
        }
        assert!(!is_listed(b"received"));
        assert!(!is_listed(b"From"));
    }

    #[test]
    fn hash_tag_is_the_first_64_bits() {
        let hash = blake3::hash(b"x").to_hex().to_string();
        let tag = hash_tag(&hash);
        assert_eq!(format!("{:016x}", tag as u64), hash[..16]);
        assert_ne!(tag, hash_tag(&blake3::hash(b"y").to_hex()));
    }
}
