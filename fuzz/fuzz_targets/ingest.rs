//! Ingest on arbitrary message bytes: parse once, store (postcard), load,
//! and render ENVELOPE/BODYSTRUCTURE. The rendering must be valid IMAP
//! syntax (checked with imap-codec as an oracle) and every part's offsets
//! must lie inside the message.
#![no_main]

use imap_codec::ResponseCodec;
use imap_codec::decode::Decoder;
use libfuzzer_sys::fuzz_target;

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
    if let Err(e) = ResponseCodec::default().decode(&out) {
        panic!(
            "invalid response syntax ({e:?}):\n{}",
            String::from_utf8_lossy(&out)
        );
    }
});
