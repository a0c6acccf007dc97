//! Mail getting in, end to end: `crispin deliver` and `crispin import` as
//! separate processes, LMTP into the running server, and every path waking
//! a client that idles on the target mailbox.

use crispin_testkit::*;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

/// A config file for tool processes sharing the test server's data.
fn config_file(server: &TestServer) -> std::path::PathBuf {
    let path = server.dir.path().join("tool.toml");
    std::fs::write(
        &path,
        format!(
            "data_dir = \"{}\"\n[auth]\nargon2_memory_kib = 64\nargon2_iterations = 1\n",
            server.dir.path().display()
        ),
    )
    .unwrap();
    path
}

fn crispin(config: &Path, args: &[&str], stdin: &[u8]) -> std::process::Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_crispin"))
        .arg("--config")
        .arg(config)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    child.wait_with_output().unwrap()
}

/// A client idling on `mailbox`, after `+ idling`.
async fn idler(server: &TestServer, mailbox: &str) -> Client {
    let mut c = server.login("alice").await;
    c.ok(&format!("SELECT {mailbox}")).await;
    c.send("I1 IDLE").await;
    assert!(c.read_line().await.starts_with("+ "));
    c
}

async fn expect_exists(c: &mut Client, n: u32) {
    loop {
        let line = c.read_line().await;
        if line == format!("* {n} EXISTS") {
            return;
        }
        assert!(!line.starts_with("I1 "), "IDLE ended: {line}");
    }
}

#[tokio::test]
async fn deliver_command_wakes_idle_and_sets_flags() {
    let server = TestServer::start().await;
    let config = config_file(&server);
    let mut idle = idler(&server, "INBOX").await;
    let out = tokio::task::spawn_blocking(move || {
        crispin(
            &config,
            &["deliver", "--user", "alice", "--flag", "\\Flagged"],
            b"Subject: by deliver\n\nbody\n",
        )
    })
    .await
    .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    expect_exists(&mut idle, 1).await;
    idle.send("DONE").await;
    idle.until_tag("I1").await;
    let f = idle.ok("FETCH 1 (FLAGS BODY.PEEK[])").await;
    assert!(f[0].contains("\\Flagged"), "{f:?}");
    assert!(
        f[0].ends_with("Subject: by deliver\r\n\r\nbody\r\n)"),
        "{f:?}"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn deliver_exit_codes() {
    let server = TestServer::start().await;
    let config = config_file(&server);
    let out = crispin(
        &config,
        &["deliver", "--user", "nobody"],
        b"Subject: x\n\ny\n",
    );
    assert_eq!(out.status.code(), Some(67), "{out:?}");
    // A store that cannot be opened is a temporary failure for the MTA.
    let broken = server.dir.path().join("broken.toml");
    std::fs::write(&broken, "data_dir = \"/proc/crispin-cannot-write-here\"\n").unwrap();
    let out = crispin(
        &broken,
        &["deliver", "--user", "alice"],
        b"Subject: x\n\ny\n",
    );
    assert_eq!(out.status.code(), Some(75), "{out:?}");
    // --mailbox picks the target.
    let out = crispin(
        &config,
        &["deliver", "--user", "alice", "--mailbox", "Junk"],
        b"Subject: spam\n\ny\n",
    );
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let mut c = server.login("alice").await;
    let st = c.ok("STATUS Junk (MESSAGES)").await;
    assert_eq!(st, vec!["* STATUS Junk (MESSAGES 1)"]);
    server.shutdown().await;
}

#[tokio::test]
async fn lmtp_delivery_wakes_idle() {
    let server = TestServer::start().await;
    let mut idle = idler(&server, "INBOX").await;
    let addr = server.server.as_ref().unwrap().lmtp_addrs[0];
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut lmtp = BufReader::new(stream);
    let mut greeting = String::new();
    lmtp.read_line(&mut greeting).await.unwrap();
    assert!(greeting.starts_with("220 "), "{greeting}");
    lmtp.get_mut()
        .write_all(b"LHLO t\r\nMAIL FROM:<s@x>\r\nRCPT TO:<alice@example.org>\r\nDATA\r\n")
        .await
        .unwrap();
    let mut replies = Vec::new();
    while replies.len() < 4 {
        let mut l = String::new();
        lmtp.read_line(&mut l).await.unwrap();
        if l.as_bytes().get(3) != Some(&b'-') {
            replies.push(l);
        }
    }
    assert!(replies[3].starts_with("354"), "{replies:?}");
    lmtp.get_mut()
        .write_all(b"Subject: via lmtp\r\n\r\nhi\r\n.\r\n")
        .await
        .unwrap();
    let mut l = String::new();
    lmtp.read_line(&mut l).await.unwrap();
    assert!(l.starts_with("250"), "{l}");
    expect_exists(&mut idle, 1).await;
    idle.send("DONE").await;
    idle.until_tag("I1").await;
    // The server hands the client's address on to the trace field.
    let f = idle.ok("FETCH 1 BODY.PEEK[HEADER]").await;
    let unfolded = f[0].replace("\r\n\t", " ");
    assert!(
        unfolded.contains(
            "Return-Path: <s@x>\r\nDelivered-To: alice@example.org\r\n\
             Received: from t ([127.0.0.1]) by localhost (Crispin) with LMTP id "
        ) && unfolded.contains(" for <alice@example.org>; "),
        "{f:?}"
    );
    server.shutdown().await;
}

fn maildir(root: &Path, folder: &str, files: &[(&str, &str, &[u8], i64)]) {
    let dir = if folder.is_empty() {
        root.to_path_buf()
    } else {
        root.join(folder)
    };
    for sub in ["cur", "new", "tmp"] {
        std::fs::create_dir_all(dir.join(sub)).unwrap();
    }
    for (sub, name, data, mtime) in files {
        let path = dir.join(sub).join(name);
        std::fs::write(&path, data).unwrap();
        let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(*mtime as u64);
        let f = std::fs::File::options().write(true).open(&path).unwrap();
        f.set_modified(t).unwrap();
    }
}

const M1: &[u8] = b"From: a@x\nSubject: one\n\nfirst body\n";
const M2: &[u8] = b"From: b@x\nSubject: two\n\nsecond body\n";
const M3: &[u8] = b"From: c@x\nSubject: three\n\nthird\n";
const M4: &[u8] = b"From: d@x\nSubject: four\n\n8-bit \xc3\xa9 body\n";

fn crlf(b: &[u8]) -> String {
    String::from_utf8_lossy(b).replace('\n', "\r\n")
}

#[tokio::test]
async fn import_maildir_tree_twice() {
    let server = TestServer::start().await;
    let config = config_file(&server);
    let src = server.dir.path().join("Maildir");
    maildir(
        &src,
        "",
        &[
            ("cur", "1000.a.host:2,RS", M1, 1_000_000_000),
            ("new", "1001.b.host", M2, 1_100_000_000),
        ],
    );
    maildir(
        &src,
        ".Work.Projects",
        &[("cur", "1002.c.host:2,FTa", M3, 1_200_000_000)],
    );
    std::fs::write(
        src.join(".Work.Projects/dovecot-keywords"),
        "0 $Important\n",
    )
    .unwrap();
    maildir(
        &src,
        ".Entw&APw-rfe",
        &[("cur", "1003.d.host:2,D", M4, 1_300_000_000)],
    );
    let mut idle = idler(&server, "INBOX").await;

    let src_str = src.to_string_lossy().to_string();
    let out = crispin(
        &config,
        &["import", "--user", "alice", "--maildir", &src_str],
        b"",
    );
    assert!(out.status.success(), "{out:?}");
    expect_exists(&mut idle, 2).await;
    idle.send("DONE").await;
    idle.until_tag("I1").await;

    // Again: nothing new.
    let out = crispin(
        &config,
        &["import", "--user", "alice", "--maildir", &src_str],
        b"",
    );
    assert!(out.status.success(), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("imported 0 messages"),
        "{out:?}"
    );

    let c = &mut idle;
    let list = c.ok("LIST \"\" *").await;
    for name in ["Work", "Work/Projects", "Entw&APw-rfe"] {
        assert!(
            list.iter().any(|l| l.ends_with(&format!("\"/\" {name}"))),
            "{name}: {list:?}"
        );
    }
    c.ok("EXAMINE INBOX").await;
    let f = c.ok("FETCH 1:* (FLAGS INTERNALDATE BODY.PEEK[])").await;
    assert_eq!(f.len(), 2, "{f:?}");
    assert!(f[0].contains("FLAGS (\\Seen \\Answered)"), "{f:?}");
    assert!(
        f[0].contains("INTERNALDATE \"09-Sep-2001 01:46:40 +0000\""),
        "{f:?}"
    );
    assert!(f[0].ends_with(&format!("{})", crlf(M1))), "{f:?}");
    assert!(f[1].contains("FLAGS ()"), "{f:?}");
    assert!(f[1].ends_with(&format!("{})", crlf(M2))), "{f:?}");
    c.ok("EXAMINE Work/Projects").await;
    let f = c.ok("FETCH 1:* (FLAGS BODY.PEEK[])").await;
    assert_eq!(f.len(), 1, "{f:?}");
    assert!(f[0].contains("\\Flagged \\Deleted $Important"), "{f:?}");
    assert!(f[0].ends_with(&format!("{})", crlf(M3))), "{f:?}");
    c.ok("EXAMINE Entw&APw-rfe").await;
    let f = c.ok("FETCH 1 (FLAGS BODY.PEEK[TEXT])").await;
    assert!(f[0].contains("\\Draft"), "{f:?}");
    assert!(
        f[0].contains("8-bit \u{fffd}") || f[0].contains("8-bit é"),
        "{f:?}"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn import_mbox_twice_into_a_mailbox() {
    let server = TestServer::start().await;
    let config = config_file(&server);
    let mbox = server.dir.path().join("old.mbox");
    let mut data = Vec::new();
    data.extend_from_slice(b"From alice@x Wed Jan  3 01:05:34 1996\nStatus: RO\nX-Status: A\n");
    data.extend_from_slice(M1);
    data.extend_from_slice(b"\nFrom bob@x Mon Feb  5 10:00:00 2001\n");
    data.extend_from_slice(b"From: b@x\nSubject: quoted\n\n>From the start\nend\n");
    std::fs::write(&mbox, &data).unwrap();
    let path = mbox.to_string_lossy().to_string();
    let mut idle = idler(&server, "INBOX").await;
    let mut c = server.login("alice").await;
    c.ok("CREATE Old").await;
    let args = [
        "import",
        "--user",
        "alice",
        "--mbox",
        &path,
        "--mailbox",
        "Old",
    ];
    let out = crispin(&config, &args, b"");
    assert!(out.status.success(), "{out:?}");
    let out = crispin(&config, &args, b"");
    assert!(out.status.success(), "{out:?}");
    c.ok("EXAMINE Old").await;
    let f = c.ok("FETCH 1:* (FLAGS INTERNALDATE BODY.PEEK[])").await;
    assert_eq!(f.len(), 2, "{f:?}");
    assert!(f[0].contains("FLAGS (\\Seen \\Answered"), "{f:?}");
    assert!(f[0].contains("\"03-Jan-1996 01:05:34 +0000\""), "{f:?}");
    assert!(
        f[0].ends_with(&format!("Status: RO\r\nX-Status: A\r\n{})", crlf(M1))),
        "{f:?}"
    );
    assert!(
        f[1].ends_with("Subject: quoted\r\n\r\nFrom the start\r\nend\r\n)"),
        "{f:?}"
    );
    // Nothing went to INBOX: the idler is still waiting.
    idle.send("DONE").await;
    let lines = idle.until_tag("I1").await;
    assert_eq!(lines.len(), 1, "{lines:?}");
    server.shutdown().await;
}

/// `crispin user delete` beside a running server: the server forgets the
/// account's cached mailboxes, so an account created again (which may get
/// the same ids) starts empty instead of showing the old mail.
#[tokio::test]
async fn deleted_account_recreated_starts_empty() {
    let server = TestServer::start().await;
    let config = config_file(&server);
    // bob is the newest account: his ids are the ones SQLite hands out again.
    let mut c = server.login("bob").await;
    for i in 0..2 {
        c.append("INBOX", "", &message(&format!("old{i}"), "b"))
            .await;
    }
    let s = c.ok("SELECT INBOX").await;
    assert!(s.contains(&"* 2 EXISTS".to_string()), "{s:?}");
    c.ok("LOGOUT").await;
    let out = tokio::task::spawn_blocking(move || {
        let del = crispin(&config, &["user", "delete", "bob"], b"");
        let add = crispin(&config, &["user", "add", "bob"], b"bob-pw\n");
        (del, add)
    })
    .await
    .unwrap();
    assert_eq!(out.0.status.code(), Some(0), "{:?}", out.0);
    assert_eq!(out.1.status.code(), Some(0), "{:?}", out.1);
    // The notice travels by datagram: wait for it, up to ten seconds.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let mut c = server.login("bob").await;
        let s = c.ok("SELECT INBOX").await;
        if s.contains(&"* 0 EXISTS".to_string()) {
            let f = c.cmd("FETCH 1:* BODY.PEEK[]").await;
            assert!(!f.iter().any(|l| l.contains(" FETCH (")), "{f:?}");
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "old mail still shown: {s:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    server.shutdown().await;
}
