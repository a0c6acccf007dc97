//! The `crispin` command line: accounts, and `serve` with its signals.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn config(dir: &Path, port: u16) -> std::path::PathBuf {
    let path = dir.join("c.toml");
    std::fs::write(
        &path,
        format!(
            "data_dir = \"{}/data\"\n[imap]\nlisten = [\"127.0.0.1:{port}\"]\n\
             [lmtp]\nlisten = []\n[auth]\nargon2_memory_kib = 64\nargon2_iterations = 1\n",
            dir.display()
        ),
    )
    .unwrap();
    path
}

fn run(config: &Path, args: &[&str], stdin: &str) -> std::process::Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_crispin"))
        .arg("--config")
        .arg(config)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Logs in over plain IMAP; returns the tagged reply line.
fn login(port: u16, user: &str, pw: &str) -> String {
    let stream = connect(port);
    let mut r = BufReader::new(stream.try_clone().unwrap());
    let mut line = String::new();
    r.read_line(&mut line).unwrap();
    (&stream)
        .write_all(format!("a LOGIN {user} \"{pw}\"\r\n").as_bytes())
        .unwrap();
    line.clear();
    r.read_line(&mut line).unwrap();
    line
}

fn connect(port: u16) -> TcpStream {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match TcpStream::connect(("127.0.0.1", port)) {
            Ok(s) => {
                s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
                return s;
            }
            Err(e) if Instant::now() > deadline => panic!("server did not start: {e}"),
            Err(_) => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}

#[test]
fn user_commands() {
    let dir = tempfile::tempdir().unwrap();
    let c = config(dir.path(), free_port());
    assert!(
        run(&c, &["user", "add", "alice"], "first pw\n")
            .status
            .success()
    );
    let dup = run(&c, &["user", "add", "alice"], "x\n");
    assert!(!dup.status.success());
    assert!(String::from_utf8_lossy(&dup.stderr).contains("already exists"));
    assert!(
        !run(&c, &["user", "add", "bad name"], "x\n")
            .status
            .success()
    );
    assert!(
        !run(&c, &["user", "add", "bob"], "\n").status.success(),
        "empty password"
    );
    assert!(run(&c, &["user", "add", "bob"], "b\n").status.success());
    let list = run(&c, &["user", "list"], "");
    assert_eq!(String::from_utf8_lossy(&list.stdout), "alice\nbob\n");
    assert!(
        run(&c, &["user", "passwd", "alice"], "second pw\n")
            .status
            .success()
    );
    assert!(
        !run(&c, &["user", "passwd", "nobody"], "x\n")
            .status
            .success()
    );
    assert!(run(&c, &["user", "delete", "bob"], "").status.success());
    assert!(!run(&c, &["user", "delete", "bob"], "").status.success());
    let list = run(&c, &["user", "list"], "");
    assert_eq!(String::from_utf8_lossy(&list.stdout), "alice\n");
    // The stored secret is a hash, never the password.
    let db = std::fs::read(dir.path().join("data/crispin.db")).unwrap();
    assert!(!db.windows(9).any(|w| w == b"second pw"));
}

#[test]
fn serve_first_user_hup_and_term() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let c = config(dir.path(), port);
    let mut server = Command::new(env!("CARGO_BIN_EXE_crispin"))
        .arg("--config")
        .arg(&c)
        .args(["serve", "--first-user", "alice"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(server.stderr.take().unwrap());
    let mut password = None;
    let mut line = String::new();
    while stderr.read_line(&mut line).unwrap() > 0 {
        if let Some(rest) = line.split("Created account alice with password ").nth(1) {
            password = Some(rest.trim().to_string());
        }
        if line.contains("connect with: curl imap://") {
            break;
        }
        line.clear();
    }
    let password = password.expect("the first user's password is printed");
    assert!(login(port, "alice", &password).starts_with("a OK"));
    // SIGHUP reloads TLS and keeps serving.
    let pid = server.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-HUP", &pid])
            .status()
            .unwrap()
            .success()
    );
    assert!(login(port, "alice", &password).starts_with("a OK"));
    // SIGTERM: a connected client gets BYE, the process exits 0.
    let client = connect(port);
    let mut r = BufReader::new(client.try_clone().unwrap());
    let mut greeting = String::new();
    r.read_line(&mut greeting).unwrap();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let mut rest = String::new();
    r.read_to_string(&mut rest).unwrap();
    assert!(rest.starts_with("* BYE"), "{rest}");
    let status = server.wait().unwrap();
    assert!(status.success(), "{status:?}");
    // A second start does not create the user again.
    let mut again = Command::new(env!("CARGO_BIN_EXE_crispin"))
        .arg("--config")
        .arg(&c)
        .args(["serve", "--first-user", "alice"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    assert!(login(port, "alice", &password).starts_with("a OK"));
    Command::new("kill")
        .args(["-TERM", &again.id().to_string()])
        .status()
        .unwrap();
    let mut err = String::new();
    again
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(again.wait().unwrap().success());
    assert!(!err.contains("Created account"), "{err}");
}
