//! Modified UTF-7 mailbox names (RFC 3501 §5.1.3).
//!
//! Hand-written: the encoding is tiny and the crates for it are unmaintained.

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";

fn b64_value(c: u8) -> Option<u32> {
    B64.iter().position(|&b| b == c).map(|p| p as u32)
}

/// Encodes a UTF-8 mailbox name for clients that have not enabled UTF8=ACCEPT.
pub fn encode(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut pending: Vec<u16> = Vec::new();
    for ch in name.chars() {
        if (' '..='~').contains(&ch) {
            flush(&mut out, &mut pending);
            if ch == '&' {
                out.push_str("&-");
            } else {
                out.push(ch);
            }
        } else {
            let mut buf = [0u16; 2];
            pending.extend_from_slice(ch.encode_utf16(&mut buf));
        }
    }
    flush(&mut out, &mut pending);
    out
}

fn flush(out: &mut String, pending: &mut Vec<u16>) {
    if pending.is_empty() {
        return;
    }
    out.push('&');
    let mut bits: u32 = 0;
    let mut nbits = 0;
    for unit in pending.drain(..) {
        bits = (bits << 16) | u32::from(unit);
        nbits += 16;
        while nbits >= 6 {
            nbits -= 6;
            out.push(B64[((bits >> nbits) & 63) as usize] as char);
        }
    }
    if nbits > 0 {
        out.push(B64[((bits << (6 - nbits)) & 63) as usize] as char);
    }
    out.push('-');
}

/// Decodes a modified UTF-7 name. Returns `None` for anything that is not
/// canonical modified UTF-7, so that one mailbox cannot have two spellings.
pub fn decode(name: &str) -> Option<String> {
    let bytes = name.as_bytes();
    let mut out = String::with_capacity(name.len());
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        if !(0x20..=0x7e).contains(&c) {
            return None;
        }
        if c != b'&' {
            out.push(c as char);
            i += 1;
            continue;
        }
        let end = i + 1 + bytes[i + 1..].iter().position(|&b| b == b'-')?;
        if end == i + 1 {
            out.push('&');
            i = end + 1;
            continue;
        }
        let mut units = Vec::new();
        let mut bits: u32 = 0;
        let mut nbits = 0;
        for &b in &bytes[i + 1..end] {
            bits = (bits << 6) | b64_value(b)?;
            nbits += 6;
            if nbits >= 16 {
                nbits -= 16;
                units.push(((bits >> nbits) & 0xffff) as u16);
            }
        }
        // Leftover bits must be zero padding shorter than one base64 digit.
        if nbits >= 6 || (bits & ((1 << nbits) - 1)) != 0 {
            return None;
        }
        let decoded = String::from_utf16(&units).ok()?;
        // A shifted run of printable ASCII is a non-canonical alias.
        if decoded.chars().any(|ch| (' '..='~').contains(&ch)) {
            return None;
        }
        out.push_str(&decoded);
        i = end + 1;
        // Two adjacent shifted runs would also be an alias of one run.
        if bytes.get(i) == Some(&b'&') && bytes.get(i + 1) != Some(&b'-') {
            return None;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        for s in [
            "INBOX",
            "Entwürfe",
            "~peter/mail/台北/日本語",
            "a&b",
            "Отправленные",
            "😀 smile",
        ] {
            let enc = encode(s);
            assert!(enc.is_ascii());
            assert_eq!(decode(&enc).as_deref(), Some(s), "{enc}");
        }
    }

    #[test]
    fn rfc_example() {
        assert_eq!(
            decode("~peter/mail/&U,BTFw-/&ZeVnLIqe-").as_deref(),
            Some("~peter/mail/台北/日本語")
        );
        assert_eq!(
            encode("~peter/mail/台北/日本語"),
            "~peter/mail/&U,BTFw-/&ZeVnLIqe-"
        );
        assert_eq!(encode("&"), "&-");
    }

    #[test]
    fn rejects_aliases_and_garbage() {
        assert_eq!(decode("&AGEAYgBj-"), None); // "abc" shifted
        assert_eq!(decode("&Jjo"), None); // unterminated
        assert_eq!(decode("&Jjo!-"), None); // bad base64
        assert_eq!(decode("a\u{e9}"), None); // raw 8-bit
        assert_eq!(decode("&2D0-"), None); // lone surrogate
    }
}
