//! A client that sends a command and its CRLF in two writes, with Nagle's
//! algorithm on (as IMAPClient does): without quick ACKs from the server,
//! each such command waits for the kernel's 40 ms delayed ACK.

use crispin_server::Config;
use std::io::{BufRead, BufReader, Write};
use std::time::{Duration, Instant};

#[allow(clippy::field_reassign_with_default)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn split_writes_are_not_held_by_delayed_acks() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::default();
    config.data_dir = dir.path().to_path_buf();
    config.imap.listen = vec!["127.0.0.1:0".parse().unwrap()];
    config.lmtp.listen = vec![];
    let server = crispin_server::start(&config).await.unwrap();
    let addr = server.imap_addrs[0];
    const COMMANDS: u32 = 50;
    let elapsed = tokio::task::spawn_blocking(move || {
        let stream = std::net::TcpStream::connect(addr).unwrap();
        // Nagle stays on, as in the clients that show the stall.
        stream.set_nodelay(false).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        let start = Instant::now();
        for i in 0..COMMANDS {
            (&stream)
                .write_all(format!("a{i} NOOP").as_bytes())
                .unwrap();
            (&stream).write_all(b"\r\n").unwrap();
            line.clear();
            reader.read_line(&mut line).unwrap();
            assert!(line.starts_with(&format!("a{i} OK")), "{line}");
        }
        start.elapsed()
    })
    .await
    .unwrap();
    // With delayed ACKs each command costs at least 40 ms (2 s in all);
    // with quick ACKs a fraction of a millisecond. The bound is half the
    // stall, so only the stall itself can fail it.
    assert!(
        elapsed < Duration::from_millis(20) * COMMANDS,
        "{COMMANDS} split-written commands took {elapsed:?}"
    );
    server.shutdown().await;
}
