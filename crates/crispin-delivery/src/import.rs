//! Reading existing mail for `crispin import`: Maildir++ trees and mbox
//! files, with their flags and dates. Writing goes through the store like
//! any other delivery.

use chrono::{DateTime, FixedOffset, NaiveDateTime, TimeZone, Utc};
use crispin_store::{Flags, flag};
use std::io::{self, BufRead};
use std::path::{Path, PathBuf};

/// One message found in a source, ready to append.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// Mailbox name relative to the import's base (empty for the base).
    pub folder: String,
    pub data: Vec<u8>,
    pub flags: Flags,
    pub date: DateTime<FixedOffset>,
}

/// CRLF line ends, as IMAP clients expect (Maildir and mbox files usually
/// have bare LF).
pub fn crlf(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + data.len() / 40);
    let mut prev = 0u8;
    for &b in data {
        if b == b'\n' && prev != b'\r' {
            out.push(b'\r');
        }
        out.push(b);
        prev = b;
    }
    out
}

/// The folders of a Maildir++ tree: the root (INBOX) and every `.Name`
/// directory, whose dots separate levels and whose names are modified
/// UTF-7. Returns (folder, path), root first, in name order.
pub fn maildir_folders(root: &Path) -> io::Result<Vec<(String, PathBuf)>> {
    let is_maildir = |p: &Path| p.join("cur").is_dir() || p.join("new").is_dir();
    let mut out = Vec::new();
    if is_maildir(root) {
        out.push((String::new(), root.to_path_buf()));
    }
    let mut subs = Vec::new();
    for entry in std::fs::read_dir(root)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(encoded) = name.strip_prefix('.') else {
            continue;
        };
        if encoded.is_empty() || encoded.starts_with('.') || !is_maildir(&entry.path()) {
            continue;
        }
        let levels: Vec<String> = encoded
            .split('.')
            .map(|l| crispin_proto::mutf7::decode(l).unwrap_or_else(|| l.to_string()))
            .collect();
        if levels.iter().any(|l| l.is_empty()) {
            continue;
        }
        subs.push((levels.join("/"), entry.path()));
    }
    subs.sort();
    out.extend(subs);
    Ok(out)
}

/// Dovecot's `dovecot-keywords` file: keyword letters `a`.. to names.
fn dovecot_keywords(dir: &Path) -> Vec<(usize, String)> {
    let Ok(text) = std::fs::read_to_string(dir.join("dovecot-keywords")) else {
        return Vec::new();
    };
    text.lines()
        .filter_map(|l| {
            let (i, name) = l.split_once(' ')?;
            Some((i.parse().ok()?, name.trim().to_string()))
        })
        .collect()
}

/// Flags from a Maildir file name's `:2,` info (D F P R S T, and Dovecot
/// keyword letters).
pub fn maildir_flags(file_name: &str, keywords: &[(usize, String)]) -> Flags {
    let mut f = Flags::default();
    let Some((_, info)) = file_name.rsplit_once(":2,") else {
        return f;
    };
    for c in info.chars() {
        match c {
            'D' => f.system |= flag::DRAFT,
            'F' => f.system |= flag::FLAGGED,
            'R' => f.system |= flag::ANSWERED,
            'S' => f.system |= flag::SEEN,
            'T' => f.system |= flag::DELETED,
            'P' => f.keywords.push("$Forwarded".into()),
            'a'..='z' => {
                let idx = c as usize - 'a' as usize;
                if let Some((_, name)) = keywords.iter().find(|(i, _)| *i == idx) {
                    f.keywords.push(name.clone());
                }
            }
            _ => {}
        }
    }
    f
}

/// The messages of one Maildir folder (`cur` and `new`), oldest first.
pub fn maildir_messages(folder: &str, dir: &Path) -> io::Result<Vec<Found>> {
    let keywords = dovecot_keywords(dir);
    let mut out = Vec::new();
    for sub in ["cur", "new"] {
        let path = dir.join(sub);
        let Ok(entries) = std::fs::read_dir(&path) else {
            continue;
        };
        for entry in entries {
            let entry = entry?;
            if !entry.file_type()?.is_file() {
                continue;
            }
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') {
                continue;
            }
            let mtime = entry.metadata()?.modified()?;
            let date: DateTime<Utc> = mtime.into();
            out.push(Found {
                folder: folder.to_string(),
                data: crlf(&std::fs::read(entry.path())?),
                flags: maildir_flags(&name, &keywords),
                date: date.fixed_offset(),
            });
        }
    }
    out.sort_by_key(|f| f.date);
    Ok(out)
}

/// Reads an mbox file (mboxrd or mboxo) one message at a time.
pub struct Mbox<R> {
    reader: R,
    /// The `From ` line of the next message, already read.
    next_from: Option<String>,
    started: bool,
}

impl<R: BufRead> Mbox<R> {
    pub fn new(reader: R) -> Self {
        Mbox {
            reader,
            next_from: None,
            started: false,
        }
    }

    fn read_line(&mut self) -> io::Result<Option<Vec<u8>>> {
        let mut line = Vec::new();
        if self.reader.read_until(b'\n', &mut line)? == 0 {
            return Ok(None);
        }
        Ok(Some(line))
    }
}

/// Parses the date of a `From sender date` line (asctime format).
fn from_line_date(line: &str) -> Option<DateTime<FixedOffset>> {
    let rest = line.strip_prefix("From ")?.trim_end();
    let (_, date) = rest.split_once(' ')?;
    // The weekday is dropped: writers get it wrong and chrono rejects a
    // date whose weekday does not match.
    let mut words: Vec<&str> = date.split_whitespace().collect();
    if words
        .first()
        .is_some_and(|w| w.chars().all(|c| c.is_ascii_alphabetic()))
        && words
            .get(1)
            .is_some_and(|w| w.chars().all(|c| c.is_ascii_alphabetic()))
    {
        words.remove(0);
    }
    let date = words.join(" ");
    // Some writers append a zone or put the year before the time.
    for fmt in [
        "%b %d %H:%M:%S %Y",
        "%b %d %H:%M:%S %Y %z",
        "%b %d %Y %H:%M:%S",
    ] {
        if let Ok(dt) = DateTime::parse_from_str(&date, fmt) {
            return Some(dt);
        }
        if let Ok(naive) = NaiveDateTime::parse_from_str(&date, fmt) {
            return Some(Utc.from_utc_datetime(&naive).fixed_offset());
        }
    }
    None
}

/// Flags from mbox `Status:`, `X-Status:` and `X-Keywords:` headers.
fn mbox_flags(message: &[u8]) -> Flags {
    let mut f = Flags::default();
    let header_end = message
        .windows(2)
        .position(|w| w == b"\n\n")
        .or_else(|| message.windows(4).position(|w| w == b"\r\n\r\n"))
        .unwrap_or(message.len());
    for line in message[..header_end].split(|&b| b == b'\n') {
        let line = String::from_utf8_lossy(line);
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("Status") {
            if value.contains('R') {
                f.system |= flag::SEEN;
            }
        } else if name.eq_ignore_ascii_case("X-Status") {
            for (c, bit) in [
                ('A', flag::ANSWERED),
                ('F', flag::FLAGGED),
                ('T', flag::DRAFT),
                ('D', flag::DELETED),
            ] {
                if value.contains(c) {
                    f.system |= bit;
                }
            }
        } else if name.eq_ignore_ascii_case("X-Keywords") {
            for k in value.split([' ', ',']).filter(|k| !k.is_empty()) {
                if !f.has_keyword(k) && !k.starts_with('\\') {
                    f.keywords.push(k.to_string());
                }
            }
        }
    }
    f
}

impl<R: BufRead> Iterator for Mbox<R> {
    type Item = io::Result<Found>;

    fn next(&mut self) -> Option<Self::Item> {
        let mut step = || -> io::Result<Option<Found>> {
            if !self.started {
                self.started = true;
                // Skip anything before the first From line.
                loop {
                    match self.read_line()? {
                        None => return Ok(None),
                        Some(l) if l.starts_with(b"From ") => {
                            self.next_from = Some(String::from_utf8_lossy(&l).into_owned());
                            break;
                        }
                        Some(_) => {}
                    }
                }
            }
            let Some(from) = self.next_from.take() else {
                return Ok(None);
            };
            let mut data = Vec::new();
            loop {
                match self.read_line()? {
                    None => break,
                    Some(l) if l.starts_with(b"From ") => {
                        self.next_from = Some(String::from_utf8_lossy(&l).into_owned());
                        break;
                    }
                    Some(l) => {
                        // mboxrd: ">From " lines lose one '>'.
                        let quoted = l.iter().take_while(|&&b| b == b'>').count();
                        if quoted > 0 && l[quoted..].starts_with(b"From ") {
                            data.extend_from_slice(&l[1..]);
                        } else {
                            data.extend_from_slice(&l);
                        }
                    }
                }
            }
            // The empty line before the next From line is the separator.
            if self.next_from.is_some() {
                if data.ends_with(b"\r\n\r\n") {
                    data.truncate(data.len() - 2);
                } else if data.ends_with(b"\n\n") {
                    data.truncate(data.len() - 1);
                }
            }
            Ok(Some(Found {
                folder: String::new(),
                flags: mbox_flags(&data),
                data: crlf(&data),
                date: from_line_date(&from).unwrap_or_else(|| Utc::now().fixed_offset()),
            }))
        };
        step().transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maildir_flag_letters() {
        let kw = vec![(0, "$Work".to_string()), (1, "Later".to_string())];
        let f = maildir_flags("1700000000.M1P2.host,S=120:2,FRSab", &kw);
        assert_eq!(f.system, flag::FLAGGED | flag::ANSWERED | flag::SEEN);
        assert_eq!(f.keywords, vec!["$Work", "Later"]);
        assert_eq!(maildir_flags("1700000000.M1P2.host", &kw), Flags::default());
        assert_eq!(maildir_flags("x:2,T", &[]).system, flag::DELETED);
    }

    #[test]
    fn mbox_split_unescape_flags_dates() {
        let mbox = b"From a@b Sat Jan  3 01:05:34 1996\nStatus: RO\nX-Status: AF\nSubject: one\n\n>From here\n>>From there\n\nFrom c@d Mon Feb  5 10:00:00 2001\nSubject: two\n\nbody\n";
        let msgs: Vec<Found> = Mbox::new(&mbox[..]).collect::<io::Result<_>>().unwrap();
        assert_eq!(msgs.len(), 2);
        assert_eq!(
            msgs[0].data,
            b"Status: RO\r\nX-Status: AF\r\nSubject: one\r\n\r\nFrom here\r\n>From there\r\n"
        );
        assert_eq!(
            msgs[0].flags.system,
            flag::SEEN | flag::ANSWERED | flag::FLAGGED
        );
        assert_eq!(msgs[0].date.to_rfc3339(), "1996-01-03T01:05:34+00:00");
        assert_eq!(msgs[1].data, b"Subject: two\r\n\r\nbody\r\n");
        assert_eq!(msgs[1].flags, Flags::default());
        assert_eq!(msgs[1].date.to_rfc3339(), "2001-02-05T10:00:00+00:00");
    }

    #[test]
    fn maildir_tree() {
        let dir = tempfile::tempdir().unwrap();
        for sub in ["", ".Sent", ".Work.Projects", ".Entw&APw-rfe", ".broken"] {
            let p = dir.path().join(sub);
            if sub != ".broken" {
                std::fs::create_dir_all(p.join("cur")).unwrap();
                std::fs::create_dir_all(p.join("new")).unwrap();
            } else {
                std::fs::create_dir_all(&p).unwrap();
            }
        }
        let folders: Vec<String> = maildir_folders(dir.path())
            .unwrap()
            .into_iter()
            .map(|f| f.0)
            .collect();
        assert_eq!(folders, vec!["", "Entwürfe", "Sent", "Work/Projects"]);
    }
}
