//! Mailbox names: from the wire to the canonical form the store keeps, and
//! LIST pattern matching (back to the wire is the encoder's:
//! `crispin_proto::response::MailboxName`).
//!
//! Canonical names are UTF-8, levels separated by `/`, with `INBOX` in
//! capitals. Anything that could alias another name or escape the
//! account's namespace is refused here, before the store sees it.

use crispin_proto::mutf7;

pub const DELIMITER: char = '/';
/// Longest name we store, in bytes.
const MAX_NAME: usize = 512;
/// Deepest hierarchy we accept.
const MAX_LEVELS: usize = 32;

#[derive(Debug, PartialEq, Eq)]
pub enum NameError {
    /// Not valid modified UTF-7 / UTF-8, or contains control characters.
    Encoding,
    /// Empty, empty level, too long, too deep, or a wildcard.
    Invalid,
}

impl NameError {
    pub fn message(&self) -> &'static str {
        match self {
            NameError::Encoding => "Mailbox name is not valid modified UTF-7 or UTF-8",
            NameError::Invalid => "Invalid mailbox name",
        }
    }
}

/// Decodes the wire form of a name (modified UTF-7 unless `utf8`).
pub fn decode(raw: &[u8], utf8: bool) -> Result<String, NameError> {
    let s = std::str::from_utf8(raw).map_err(|_| NameError::Encoding)?;
    let s = if utf8 {
        s.to_string()
    } else {
        mutf7::decode(s).ok_or(NameError::Encoding)?
    };
    if s.chars().any(|c| c.is_control()) {
        return Err(NameError::Encoding);
    }
    Ok(s)
}

/// `INBOX` in any case, as the first level, becomes `INBOX`.
pub fn canonical_inbox(name: &str) -> String {
    let first = name.split(DELIMITER).next().unwrap_or_default();
    if first.eq_ignore_ascii_case("INBOX") && first != "INBOX" {
        format!("INBOX{}", &name[first.len()..])
    } else {
        name.to_string()
    }
}

/// Decodes and validates a name that names one mailbox.
pub fn mailbox(raw: &[u8], utf8: bool) -> Result<String, NameError> {
    let s = canonical_inbox(&decode(raw, utf8)?);
    let mut levels = 0;
    for level in s.split(DELIMITER) {
        levels += 1;
        if level.is_empty() || level == "." || level == ".." {
            return Err(NameError::Invalid);
        }
    }
    if s.len() > MAX_NAME || levels > MAX_LEVELS || s.contains(['*', '%']) {
        return Err(NameError::Invalid);
    }
    Ok(s)
}

/// All the levels above `name`: `a/b/c` → `a`, `a/b`.
pub fn parents(name: &str) -> impl Iterator<Item = &str> {
    name.match_indices(DELIMITER).map(move |(i, _)| &name[..i])
}

/// LIST pattern matching: `*` matches anything, `%` anything but the
/// delimiter. The pattern must already be canonical (see [`pattern`]).
pub fn matches(pattern: &str, name: &str) -> bool {
    // Dynamic programming rather than backtracking, so that hostile
    // patterns like `*a*a*a*a*b` stay linear in pattern × name.
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    let width = n.len() + 1;
    let mut next = vec![false; width];
    next[n.len()] = true; // empty pattern matches only the empty rest
    for i in (0..p.len()).rev() {
        let mut cur = vec![false; width];
        for j in (0..width).rev() {
            cur[j] = match p[i] {
                '*' => next[j] || (j < n.len() && cur[j + 1]),
                '%' => next[j] || (j < n.len() && n[j] != DELIMITER && cur[j + 1]),
                c => j < n.len() && n[j] == c && next[j + 1],
            };
        }
        next = cur;
    }
    next[0]
}

/// Joins reference and pattern (RFC 3501 §6.3.8) and canonicalises INBOX.
pub fn pattern(reference: &str, pattern: &str) -> String {
    let joined = if pattern.starts_with(DELIMITER) || reference.is_empty() {
        pattern.to_string()
    } else if reference.ends_with(DELIMITER) {
        format!("{reference}{pattern}")
    } else {
        format!("{reference}{DELIMITER}{pattern}")
    };
    canonical_inbox(&joined)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validates() {
        assert_eq!(mailbox(b"inbox", false).unwrap(), "INBOX");
        assert_eq!(mailbox(b"Inbox/Sub", false).unwrap(), "INBOX/Sub");
        assert_eq!(mailbox(b"InboxX", false).unwrap(), "InboxX");
        assert_eq!(mailbox(b"Entw&APw-rfe", false).unwrap(), "Entwürfe");
        assert_eq!(mailbox("Entwürfe".as_bytes(), true).unwrap(), "Entwürfe");
        for bad in [
            &b""[..],
            b"/a",
            b"a/",
            b"a//b",
            b"../x",
            b"a/../b",
            b"a/./b",
            b"a*",
            b"%",
        ] {
            assert_eq!(mailbox(bad, false), Err(NameError::Invalid), "{bad:?}");
        }
        assert_eq!(mailbox(b"a\x01", false), Err(NameError::Encoding));
        assert_eq!(mailbox("é".as_bytes(), false), Err(NameError::Encoding));
        assert_eq!(mailbox(b"&AGE-", false), Err(NameError::Encoding));
        assert_eq!(mailbox(&[b'a'; 600], false), Err(NameError::Invalid));
    }

    #[test]
    fn patterns() {
        assert!(matches("*", "a/b/c"));
        assert!(matches("%", "a"));
        assert!(!matches("%", "a/b"));
        assert!(matches("a/%", "a/b"));
        assert!(matches("a/*", "a/b/c"));
        assert!(matches("INBOX", "INBOX"));
        assert!(matches("%/%", "a/b"));
        assert!(matches("a*c", "abbc"));
        assert!(!matches("a", "A"));
        assert_eq!(pattern("", "inbox"), "INBOX");
        assert_eq!(pattern("a", "%"), "a/%");
        assert_eq!(pattern("a/", "%"), "a/%");
        assert_eq!(pattern("a", "/b"), "/b");
        let hostile = "*".repeat(200) + "x";
        assert!(!matches(&hostile, &"a".repeat(100)));
    }

    #[test]
    fn parents_listed() {
        assert_eq!(parents("a/b/c").collect::<Vec<_>>(), vec!["a", "a/b"]);
        assert_eq!(parents("a").count(), 0);
    }
}
