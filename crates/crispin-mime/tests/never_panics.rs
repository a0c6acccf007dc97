//! `parse` must survive any bytes, and its offsets must always be usable as
//! slices of the raw message.

use std::path::Path;

use crispin_mime::{Part, PartKind, parse, write_body, write_envelope};
use proptest::prelude::*;

fn corpus() -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus");
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files.iter().map(|p| std::fs::read(p).unwrap()).collect()
}

fn check_offsets(p: &Part, len: usize, lo: u32, hi: u32) {
    assert!(p.header_start <= p.body_start, "{p:?}");
    assert!(p.body_start <= p.end, "{p:?}");
    assert!(p.end as usize <= len, "{p:?}");
    // Every part lies inside the body of the part that contains it.
    assert!(
        lo <= p.header_start && p.end <= hi,
        "{p:?} outside [{lo}, {hi})"
    );
    match &p.kind {
        PartKind::Leaf => {}
        PartKind::Multipart(children) => {
            assert!(!children.is_empty());
            let mut prev_end = p.body_start;
            for c in children {
                // Siblings are in order and do not overlap.
                assert!(prev_end <= c.header_start, "{c:?} overlaps");
                prev_end = c.end;
                check_offsets(c, len, p.body_start, p.end);
            }
        }
        PartKind::Message { body, .. } => check_offsets(body, len, p.body_start, p.end),
    }
}

fn check(raw: &[u8]) {
    let parsed = parse(raw);
    let root = &parsed.meta.root;
    assert_eq!(root.header_start, 0);
    check_offsets(
        root,
        raw.len(),
        0,
        u32::try_from(raw.len()).unwrap_or(u32::MAX),
    );
    // The writers and section lookup must not panic either.
    let mut out = Vec::new();
    write_envelope(&mut out, &parsed.meta.envelope, false);
    write_body(&mut out, root, true, false);
    write_body(&mut out, root, false, true);
    for path in [&[1u32][..], &[1, 1], &[2, 1, 1], &[0], &[u32::MAX]] {
        let _ = root.section(path);
    }
}

/// Byte-level edits that keep most of a message's structure, so mutations
/// reach deep into the splitter rather than just failing early.
#[derive(Debug, Clone)]
enum Edit {
    Flip(usize, u8),
    Insert(usize, Vec<u8>),
    Delete(usize, usize),
    Truncate(usize),
}

fn interesting_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..8),
        Just(b"\r\n".to_vec()),
        Just(b"\n".to_vec()),
        Just(b"\r\n\r\n".to_vec()),
        Just(b"--".to_vec()),
        Just(b"\r\n--b\r\n".to_vec()),
        Just(b"Content-Type: multipart/mixed; boundary=b\r\n\r\n".to_vec()),
        Just(b"Content-Type: message/rfc822\r\n\r\n".to_vec()),
        Just(b"=?utf-8?q?=C3?=".to_vec()),
        Just(b"\"(\\<>@,;:".to_vec()),
        Just(vec![0xc3]),
        Just(vec![0]),
    ]
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Edit::Flip(i, b)),
        (any::<usize>(), interesting_bytes()).prop_map(|(i, b)| Edit::Insert(i, b)),
        (any::<usize>(), 0usize..64).prop_map(|(i, n)| Edit::Delete(i, n)),
        any::<usize>().prop_map(Edit::Truncate),
    ]
}

fn apply(mut raw: Vec<u8>, edits: &[Edit]) -> Vec<u8> {
    for e in edits {
        let len = raw.len();
        match e {
            Edit::Flip(i, b) if len > 0 => raw[i % len] = *b,
            Edit::Insert(i, bytes) => {
                let at = i % (len + 1);
                raw.splice(at..at, bytes.iter().copied());
            }
            Edit::Delete(i, n) if len > 0 => {
                let at = i % len;
                raw.drain(at..(at + n).min(len));
            }
            Edit::Truncate(i) => raw.truncate(i % (len + 1)),
            _ => {}
        }
    }
    raw
}

proptest! {
    // PROPTEST_CASES=100000 for a longer local run.
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(512),
        ..ProptestConfig::default()
    })]

    #[test]
    fn random_bytes(raw in proptest::collection::vec(any::<u8>(), 0..2048)) {
        check(&raw);
    }

    #[test]
    fn random_structured_bytes(chunks in proptest::collection::vec(interesting_bytes(), 0..64)) {
        check(&chunks.concat());
    }

    #[test]
    fn mutated_corpus(index in any::<usize>(), edits in proptest::collection::vec(edit(), 1..16)) {
        let corpus = corpus();
        let raw = corpus[index % corpus.len()].clone();
        check(&apply(raw, &edits));
    }
}

#[test]
fn corpus_offsets_hold() {
    for raw in corpus() {
        check(&raw);
    }
}
