//! Ingest on arbitrary message bytes: parse once, store (postcard), load,
//! and render ENVELOPE/BODYSTRUCTURE. The rendering must be valid IMAP
//! syntax (checked with imap-codec as an oracle) and every part's offsets
//! must lie inside the message.
#![no_main]

use imap_codec::ResponseCodec;
use imap_codec::decode::Decoder;
use libfuzzer_sys::fuzz_target;

/// imap-codec's body parser gives up past 7 nested parts (its guard against
/// stack exhaustion); we nest up to 32, so deeper structures are checked
/// with a lexical scan instead of the oracle.
const ORACLE_MAX_DEPTH: usize = 7;

fn depth(part: &crispin_mime::Part) -> usize {
    1 + match &part.kind {
        crispin_mime::PartKind::Leaf => 0,
        crispin_mime::PartKind::Multipart(children) => {
            children.iter().map(depth).max().unwrap_or(0)
        }
        crispin_mime::PartKind::Message { body, .. } => depth(body),
    }
}

/// Parentheses balance outside quoted strings and literals, and the line
/// ends with `)` CRLF: enough to catch a structure writer that loses a
/// paren or leaves a string open.
fn lexically_balanced(out: &[u8]) -> bool {
    let mut depth = 0i64;
    let mut i = 0;
    while i < out.len() {
        match out[i] {
            b'"' => {
                i += 1;
                while i < out.len() && out[i] != b'"' {
                    if out[i] == b'\\' {
                        i += 1;
                    }
                    i += 1;
                }
                if i >= out.len() {
                    return false;
                }
            }
            b'{' => {
                let close = match out[i..].iter().position(|&b| b == b'}') {
                    Some(c) => i + c,
                    None => return false,
                };
                let n: usize = match std::str::from_utf8(&out[i + 1..close])
                    .ok()
                    .and_then(|s| s.parse().ok())
                {
                    Some(n) => n,
                    None => return false,
                };
                if out.get(close + 1..close + 3) != Some(b"\r\n") {
                    return false;
                }
                i = close + 2 + n;
            }
            b'(' => depth += 1,
            b')' => {
                depth -= 1;
                if depth < 0 {
                    return false;
                }
            }
            _ => {}
        }
        i += 1;
    }
    depth == 0 && out.ends_with(b")\r\n")
}

fn check_part(part: &crispin_mime::Part, len: usize) {
    assert!(part.header_start <= part.body_start);
    assert!(part.body_start <= part.end);
    assert!(part.end as usize <= len);
}

fuzz_target!(|data: &[u8]| {
    let parsed = crispin_mime::parse(data);
    let stored = postcard::to_stdvec(&parsed.meta).expect("serialize");
    let meta: crispin_mime::MessageMeta = postcard::from_bytes(&stored).expect("deserialize");
    assert_eq!(meta, parsed.meta);
    meta.root.walk(&mut |p| check_part(p, data.len()));
    for path in [&[1u32][..], &[1, 1], &[2], &[2, 1], &[1, 2, 3]] {
        if let Some(p) = meta.root.section(path) {
            check_part(p, data.len());
        }
    }
    let mut out = b"* 1 FETCH (ENVELOPE ".to_vec();
    crispin_mime::write_envelope(&mut out, &meta.envelope, false);
    out.extend_from_slice(b" BODYSTRUCTURE ");
    crispin_mime::write_body(&mut out, &meta.root, true, false);
    out.extend_from_slice(b" BODY ");
    crispin_mime::write_body(&mut out, &meta.root, false, false);
    out.extend_from_slice(b")\r\n");
    if depth(&meta.root) > ORACLE_MAX_DEPTH {
        assert!(
            lexically_balanced(&out),
            "unbalanced response:\n{}",
            String::from_utf8_lossy(&out)
        );
    } else if let Err(e) = ResponseCodec::default().decode(&out) {
        panic!(
            "invalid response syntax ({e:?}):\n{}",
            String::from_utf8_lossy(&out)
        );
    }
});
