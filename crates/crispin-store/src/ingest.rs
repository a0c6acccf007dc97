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
    /// The Date: header's day as yyyymmdd, for SENT* searches.
    pub sent_day: Option<i64>,
    pub search_headers: String,
    pub search_body: String,
    pub data: MessageData,
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
