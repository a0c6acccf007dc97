//! The framer and the command parser on arbitrary client bytes: no panic,
//! no hang, bounded memory; every frame the framer yields is parsed.
#![no_main]

use crispin_proto::{Connection, FrameError, Limits, parse_command};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime")
    })
}

fuzz_target!(|data: &[u8]| {
    let input = std::io::Cursor::new(data.to_vec());
    let stream = tokio::io::join(input, tokio::io::sink());
    let limits = Limits {
        max_line: 4096,
        max_message: 64 * 1024,
        max_literal: 8192,
        spool_threshold: 16 * 1024,
        spool_dir: std::env::temp_dir(),
    };
    let mut conn = Connection::new(Box::new(stream), limits);
    runtime().block_on(async {
        loop {
            match conn.read_frame().await {
                Ok(frame) => {
                    let _ = parse_command(frame);
                }
                Err(FrameError::Eof) | Err(FrameError::Io(_)) => break,
                Err(FrameError::LiteralTooLarge { fatal: true, .. }) => break,
                Err(_) => {}
            }
        }
    });
});
