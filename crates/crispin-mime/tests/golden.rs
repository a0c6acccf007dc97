//! Golden tests: ENVELOPE, BODY, BODYSTRUCTURE, section offsets and search
//! text for every message in tests/corpus, checked against reviewed
//! snapshots in tests/snapshots.
//!
//! Where we deliberately differ from Dovecot 2.3 (checked by hand against
//! Debian's dovecot-imapd):
//! * Sizes are octets as stored; Dovecot counts bare LF as CRLF.
//! * `lines` counts a final line without a line break (every part inside a
//!   multipart has one, since the CRLF before a delimiter belongs to the
//!   delimiter); Dovecot counts line feeds only.
//! * A delimiter must be followed by whitespace only; Dovecot accepts
//!   `--sepXYZ` and `--sep--junk` as delimiters.
//! * A message/rfc822 part nested in a multipart ends before the CRLF of
//!   the outer delimiter; Dovecot includes that CRLF in its body.
//! * message/global is parsed like message/rfc822 (RFC 6532, IMAP4rev2);
//!   Dovecot 2.3 treats it as an opaque leaf.
//! * Header values keep their whitespace (only fold line breaks removed);
//!   Dovecot collapses runs of whitespace and turns tabs into spaces.
//! * Strings with `"` or `\` are quoted with escapes, not sent as literals.
//! * A display name missing its angle brackets (`Joe Q. Public joe@x.y`)
//!   keeps the address; Dovecot reports MISSING_MAILBOX/MISSING_DOMAIN.
//! * An invalid Content-Type (`text` without a subtype) means the RFC 2045
//!   default text/plain; Dovecot reports `"text" ""`.
//! * 8-bit header values go to non-UTF8=ACCEPT clients as RFC 2047 words
//!   (as the server's design asks); Dovecot sends them raw.

use std::fmt::Write as _;
use std::path::Path;

use crispin_mime::{Part, PartKind, parse, write_body, write_envelope};

/// Bytes as readable text: CR and LF made visible so literals show exactly.
fn show(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes)
        .replace('\r', "\\r")
        .replace('\n', "\\n")
}

fn preview(bytes: &[u8]) -> String {
    const MAX: usize = 48;
    if bytes.len() <= MAX {
        format!("\"{}\"", show(bytes))
    } else {
        format!("\"{}\"...", show(&bytes[..MAX]))
    }
}

fn range(raw: &[u8], a: u32, b: u32) -> &[u8] {
    &raw[a as usize..b as usize]
}

/// Lists every numbered section the way an IMAP client would address it,
/// checking that `Part::section` resolves each number to that very part.
fn sections(raw: &[u8], root: &Part, out: &mut String) {
    fn numbered_children(p: &Part) -> Vec<&Part> {
        match &p.kind {
            PartKind::Multipart(c) => c.iter().collect(),
            PartKind::Message { body, .. } => match &body.kind {
                PartKind::Multipart(c) => c.iter().collect(),
                _ => vec![&**body],
            },
            PartKind::Leaf => Vec::new(),
        }
    }
    fn visit(raw: &[u8], root: &Part, p: &Part, path: &mut Vec<u32>, out: &mut String) {
        let name: Vec<String> = path.iter().map(u32::to_string).collect();
        let resolved = root.section(path).expect("listed section must resolve");
        assert!(
            std::ptr::eq(resolved, p),
            "section {name:?} resolves elsewhere"
        );
        writeln!(
            out,
            "{:<8} {}/{} mime=[{}..{}) body=[{}..{}) size={} lines={} {}",
            name.join("."),
            show(&p.content_type),
            show(&p.content_subtype),
            p.header_start,
            p.body_start,
            p.body_start,
            p.end,
            p.body_size(),
            p.lines,
            preview(range(raw, p.body_start, p.end)),
        )
        .unwrap();
        if let Some(inner) = p.message_inner() {
            writeln!(
                out,
                "{:<8} HEADER {} / TEXT {}",
                "",
                preview(range(raw, inner.header_start, inner.body_start)),
                preview(range(raw, inner.body_start, inner.end)),
            )
            .unwrap();
        }
        for (i, c) in numbered_children(p).into_iter().enumerate() {
            path.push(i as u32 + 1);
            visit(raw, root, c, path, out);
            path.pop();
        }
    }
    // The root itself is not numbered: a single-part message's part 1 is
    // the root, a multipart's parts are its children.
    match &root.kind {
        PartKind::Multipart(children) => {
            for (i, c) in children.iter().enumerate() {
                visit(raw, root, c, &mut vec![i as u32 + 1], out);
            }
        }
        _ => visit(raw, root, root, &mut vec![1], out),
    }
}

fn render(raw: &[u8]) -> String {
    let parsed = parse(raw);
    let meta = &parsed.meta;
    let mut s = String::new();

    let mut buf = Vec::new();
    write_envelope(&mut buf, &meta.envelope, false);
    writeln!(s, "ENVELOPE {}", show(&buf)).unwrap();

    buf.clear();
    write_body(&mut buf, &meta.root, false, false);
    writeln!(s, "BODY {}", show(&buf)).unwrap();

    buf.clear();
    write_body(&mut buf, &meta.root, true, false);
    writeln!(s, "BODYSTRUCTURE {}", show(&buf)).unwrap();

    // Only shown where UTF8=ACCEPT changes anything.
    let mut env8 = Vec::new();
    write_envelope(&mut env8, &meta.envelope, true);
    let mut bs8 = Vec::new();
    write_body(&mut bs8, &meta.root, true, true);
    let mut env7 = Vec::new();
    write_envelope(&mut env7, &meta.envelope, false);
    if env8 != env7 {
        writeln!(s, "ENVELOPE (UTF8) {}", show(&env8)).unwrap();
    }
    if bs8 != buf {
        writeln!(s, "BODYSTRUCTURE (UTF8) {}", show(&bs8)).unwrap();
    }

    writeln!(s, "SENT {:?} {:?}", meta.sent_date, meta.sent_day).unwrap();
    writeln!(
        s,
        "HEADER [{}..{}) size={}",
        meta.root.header_start,
        meta.root.body_start,
        meta.root.body_start - meta.root.header_start
    )
    .unwrap();
    writeln!(s, "SECTIONS").unwrap();
    sections(raw, &meta.root, &mut s);
    writeln!(s, "SEARCH HEADERS\n{}", parsed.search.headers.trim_end()).unwrap();
    writeln!(s, "SEARCH BODY\n{}", parsed.search.body.trim_end()).unwrap();
    s
}

#[test]
fn corpus_golden() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "eml"))
        .collect();
    files.sort();
    assert!(files.len() >= 15, "corpus went missing");
    for path in files {
        let raw = std::fs::read(&path).unwrap();
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        insta::assert_snapshot!(name, render(&raw));
    }
}

/// The store keeps `MessageMeta` and `SearchText` as postcard; they must
/// come back identical.
#[test]
fn corpus_postcard_roundtrip() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus");
    for entry in std::fs::read_dir(dir).unwrap() {
        let raw = std::fs::read(entry.unwrap().path()).unwrap();
        let parsed = parse(&raw);
        let bytes = postcard::to_allocvec(&parsed.meta).unwrap();
        let back: crispin_mime::MessageMeta = postcard::from_bytes(&bytes).unwrap();
        assert_eq!(back, parsed.meta);
        let bytes = postcard::to_allocvec(&parsed.search).unwrap();
        let back: crispin_mime::SearchText = postcard::from_bytes(&bytes).unwrap();
        assert_eq!(back, parsed.search);
    }
}
