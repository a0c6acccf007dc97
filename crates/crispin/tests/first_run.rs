//! The first hour of an administrator, with the real binary: what
//! `serve` prints and refuses, what the tools leave behind, the logs,
//! signals, account names and lockouts.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(60);

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A configuration in `dir` (data in `dir/data`) with cheap hashes; the
/// caller's lines are appended (they may add keys to `[auth]`, the last
/// table, or open other tables).
fn config(dir: &Path, port: u16, extra: &str) -> PathBuf {
    let path = dir.join("c.toml");
    std::fs::write(
        &path,
        format!(
            "data_dir = \"{}/data\"\n{extra}\n[imap]\nlisten = [\"127.0.0.1:{port}\"]\n\
             [lmtp]\nlisten = []\n[auth]\nargon2_memory_kib = 64\nargon2_iterations = 1\n",
            dir.display()
        ),
    )
    .unwrap();
    path
}

fn crispin(config: &Path, args: &[&str], stdin: &str) -> std::process::Output {
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

/// A running `crispin serve` whose standard error is collected.
struct Serve {
    child: Child,
    err: Arc<Mutex<String>>,
}

impl Serve {
    fn start(config: &Path, args: &[&str]) -> Serve {
        Self::start_env(config, args, &[])
    }

    fn start_env(config: &Path, args: &[&str], env: &[(&str, &str)]) -> Serve {
        let mut child = Command::new(env!("CARGO_BIN_EXE_crispin"))
            .arg("--config")
            .arg(config)
            .arg("serve")
            .args(args)
            .envs(env.iter().copied())
            .env_remove("RUST_LOG")
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let err = Arc::new(Mutex::new(String::new()));
        let mut pipe = BufReader::new(child.stderr.take().unwrap());
        let sink = err.clone();
        std::thread::spawn(move || {
            let mut line = String::new();
            while pipe.read_line(&mut line).unwrap_or(0) > 0 {
                sink.lock().unwrap().push_str(&line);
                line.clear();
            }
        });
        Serve { child, err }
    }

    fn stderr(&self) -> String {
        self.err.lock().unwrap().clone()
    }

    /// Waits until standard error holds `what`; returns all of it.
    fn wait_for(&self, what: &str) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            let err = self.stderr();
            if err.contains(what) {
                return err;
            }
            assert!(Instant::now() < deadline, "no {what:?} in:\n{err}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn signal(&self, sig: &str) {
        let pid = self.child.id().to_string();
        assert!(
            Command::new("kill")
                .args([sig, &pid])
                .status()
                .unwrap()
                .success()
        );
    }

    fn stop(mut self) -> String {
        self.signal("-TERM");
        assert!(self.child.wait().unwrap().success(), "{}", self.stderr());
        // The reader thread has seen EOF once the process is gone.
        std::thread::sleep(Duration::from_millis(100));
        self.stderr()
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn connect(port: u16) -> (TcpStream, BufReader<TcpStream>) {
    let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut r = BufReader::new(s.try_clone().unwrap());
    let mut greeting = String::new();
    r.read_line(&mut greeting).unwrap();
    assert!(greeting.starts_with("* OK"), "{greeting}");
    (s, r)
}

/// Sends a command, returns the lines up to the tagged one.
fn cmd(s: &mut TcpStream, r: &mut BufReader<TcpStream>, tag: &str, command: &str) -> Vec<String> {
    s.write_all(format!("{tag} {command}\r\n").as_bytes())
        .unwrap();
    let mut lines = Vec::new();
    loop {
        let mut line = String::new();
        assert!(r.read_line(&mut line).unwrap() > 0, "closed: {lines:?}");
        let done = line.starts_with(&format!("{tag} "));
        lines.push(line.trim_end().to_string());
        if done {
            return lines;
        }
    }
}

fn login(port: u16, user: &str, pw: &str) -> String {
    let (mut s, mut r) = connect(port);
    cmd(&mut s, &mut r, "a", &format!("LOGIN {user} \"{pw}\""))
        .pop()
        .unwrap()
}

fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn password_from(err: &str, user: &str) -> String {
    err.split(&format!("Created account {user} with password "))
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no password printed:\n{err}"))
        .to_string()
}

#[test]
fn a_second_serve_is_refused_and_the_first_keeps_waking_idlers() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let c = config(dir.path(), port, "");
    let first = Serve::start(&c, &["--first-user", "alice"]);
    let err = first.wait_for("connect with");
    let pw = password_from(&err, "alice");
    // The data directory and the database are private: the database
    // holds password hashes.
    assert_eq!(mode(&dir.path().join("data")), 0o700);
    assert_eq!(mode(&dir.path().join("data/crispin.db")), 0o600);
    for side in ["-wal", "-shm"] {
        let p = dir.path().join(format!("data/crispin.db{side}"));
        if p.exists() {
            assert_eq!(mode(&p), 0o600, "{side}");
        }
    }
    // The second refuses with the first's pid and an error status.
    let second = crispin(&c, &["serve"], "");
    let text = String::from_utf8_lossy(&second.stderr);
    assert!(!second.status.success());
    assert!(
        text.contains(&format!("pid {}", first.child.id())),
        "{text}"
    );
    assert!(!text.contains("Crispin is serving"), "{text}");
    // The first still hears `crispin deliver`: an idler wakes.
    let (mut s, mut r) = connect(port);
    cmd(&mut s, &mut r, "a", &format!("LOGIN alice \"{pw}\""));
    cmd(&mut s, &mut r, "b", "SELECT INBOX");
    s.write_all(b"c IDLE\r\n").unwrap();
    let mut line = String::new();
    r.read_line(&mut line).unwrap();
    assert!(line.starts_with('+'), "{line}");
    let out = crispin(&c, &["deliver", "--user", "alice"], "Subject: hi\n\nbody\n");
    assert!(out.status.success(), "{out:?}");
    line.clear();
    r.read_line(&mut line).unwrap();
    assert_eq!(line.trim_end(), "* 1 EXISTS");
    first.stop();
}

#[test]
fn tools_never_create_a_store() {
    let dir = tempfile::tempdir().unwrap();
    let c = config(dir.path(), free_port(), "");
    let data = dir.path().join("data");
    for args in [
        &["user", "list"][..],
        &["user", "passwd", "alice"],
        &["user", "delete", "alice"],
        &["user", "unlock", "alice"],
        &["import", "--user", "alice", "--mbox", "/dev/null"],
    ] {
        let out = crispin(&c, args, "pw\n");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?}");
        assert!(err.contains("no store in"), "{args:?}: {err}");
        assert!(!data.exists(), "{args:?} created {data:?}");
    }
    // deliver: a temporary failure (the MTA defers), not "no such user".
    let out = crispin(&c, &["deliver", "--user", "alice"], "Subject: x\n\ny\n");
    assert_eq!(out.status.code(), Some(75), "{out:?}");
    assert!(!data.exists());
    // An unreadable store is also a temporary failure (root reads
    // everything, so a directory in place of the database stands in).
    std::fs::create_dir_all(data.join("crispin.db")).unwrap();
    let out = crispin(&c, &["deliver", "--user", "alice"], "Subject: x\n\ny\n");
    assert_eq!(out.status.code(), Some(75), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("crispin.db"),
        "the error names the file: {err}"
    );
    std::fs::remove_dir_all(&data).unwrap();
    // `user add` creates it, private.
    let out = crispin(&c, &["user", "add", "alice"], "pw\n");
    assert!(out.status.success(), "{out:?}");
    assert_eq!(mode(&data), 0o700);
    assert_eq!(mode(&data.join("crispin.db")), 0o600);
}

#[test]
fn the_connect_line_works_under_each_plaintext_policy() {
    for policy in ["loopback", "never"] {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let c = config(dir.path(), port, "");
        let text = std::fs::read_to_string(&c).unwrap();
        std::fs::write(&c, format!("{text}plaintext = \"{policy}\"\n")).unwrap();
        let serve = Serve::start(&c, &["--first-user", "alice"]);
        let err = serve.wait_for("connect with: ");
        if policy == "never" {
            assert!(err.contains("SHA-256 fingerprint"), "{err}");
            assert!(err.contains(&format!("{}/data/tls/cert.pem", dir.path().display())));
        }
        let hint = err
            .lines()
            .find_map(|l| l.split("connect with: ").nth(1))
            .unwrap()
            .to_string();
        assert_eq!(hint.contains("--ssl-reqd"), policy == "never", "{hint}");
        let out = Command::new("sh")
            .args(["-c", &format!("{hint} --max-time 20")])
            .output()
            .unwrap();
        assert!(out.status.success(), "{policy}: {hint}: {out:?}");
        let listing = String::from_utf8_lossy(&out.stdout);
        assert!(listing.contains("INBOX"), "{listing}");
        serve.stop();
    }
}

#[test]
fn logs_are_plain_text_off_a_terminal_or_json() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let c = config(dir.path(), port, "log = \"debug\"");
    let serve = Serve::start(&c, &["--first-user", "alice"]);
    let pw = password_from(&serve.wait_for("connect with"), "alice");
    let (mut s, mut r) = connect(port);
    cmd(
        &mut s,
        &mut r,
        "a",
        "ID (\"name\" \"TestClient\" \"version\" \"1.2\")",
    );
    cmd(&mut s, &mut r, "b", "LOGIN alice wrong");
    cmd(&mut s, &mut r, "c", &format!("LOGIN alice \"{pw}\""));
    cmd(&mut s, &mut r, "d", "LOGOUT");
    drop((s, r));
    serve.wait_for("connection closed");
    let err = serve.stop();
    assert!(!err.contains('\x1b'), "colour codes in:\n{err}");
    // Crispin's own debug events, not its dependencies': theirs stay at
    // WARN and above unless the filter names them.
    assert!(err.contains("DEBUG"), "{err}");
    let mut events = 0;
    for line in err.lines() {
        let mut words = line.split_whitespace();
        let (Some(time), Some(level)) = (words.next(), words.next()) else {
            continue;
        };
        // The lines `serve` prints for the user are not log events.
        if !time.starts_with(|c: char| c.is_ascii_digit()) || !time.ends_with('Z') {
            continue;
        }
        // After the spans (`imap{peer=… user=…}:`), the target: a Rust
        // path and a colon.
        let target = words
            .find(|w| {
                w.strip_suffix(':').is_some_and(|t| {
                    !t.is_empty()
                        && t.split("::").all(|p| {
                            !p.is_empty()
                                && p.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                        })
                })
            })
            .unwrap_or_else(|| panic!("no target in {line:?}"));
        assert!(
            target.starts_with("crispin") || matches!(level, "WARN" | "ERROR"),
            "a dependency's {level} event:\n{line}"
        );
        events += 1;
    }
    assert!(events >= 5, "{err}");
    for want in [
        "connection opened",
        "login refused",
        "wrong name or password",
        "logged in",
        "mechanism=\"LOGIN\"",
        "tls=false",
        "client=\"TestClient 1.2\"",
        "user=alice",
        "connection closed",
    ] {
        assert!(err.contains(want), "no {want:?} in:\n{err}");
    }

    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let c = config(dir.path(), port, "log_format = \"json\"");
    let serve = Serve::start(&c, &[]);
    serve.wait_for("Crispin is serving");
    login(port, "nobody", "x");
    serve.wait_for("login refused");
    let err = serve.stop();
    let mut events = 0;
    for line in err.lines() {
        // The lines `serve` prints for the user are not log events.
        if line.starts_with("Crispin ") || line.starts_with("TLS ") || line.starts_with("  ") {
            continue;
        }
        let event: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert!(event["level"].is_string(), "{line}");
        events += 1;
    }
    assert!(events >= 3, "{err}");
    assert!(err.contains("\"login refused\""), "{err}");
}

#[test]
fn configuration_errors_are_printed_once_without_a_backtrace() {
    let dir = tempfile::tempdir().unwrap();
    for (text, want) in [
        ("log = \"crispin=loud\"\n", "log filter"),
        (
            "[imap]\nlisten = [\"not an address\"]\n",
            "invalid configuration",
        ),
    ] {
        let c = dir.path().join("bad.toml");
        std::fs::write(&c, text).unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_crispin"))
            .arg("--config")
            .arg(&c)
            .args(["user", "list"])
            .env("RUST_BACKTRACE", "1")
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success());
        assert!(err.contains(want), "{err}");
        assert!(err.contains(&c.display().to_string()) || want == "log filter");
        assert!(!err.to_lowercase().contains("backtrace"), "{err}");
        // Printed once: the first line of the message does not recur.
        let first = err.lines().next().unwrap();
        let key = &first[..first.len().min(40)];
        assert_eq!(err.matches(key).count(), 1, "{err}");
    }
    // RUST_LOG that does not parse is refused too, not ignored.
    let c = config(dir.path(), free_port(), "");
    let out = Command::new(env!("CARGO_BIN_EXE_crispin"))
        .arg("--config")
        .arg(&c)
        .args(["user", "list"])
        .env("RUST_LOG", "crispin=loud")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("RUST_LOG"));
}

#[test]
fn sighup_applies_a_new_limit_and_names_what_needs_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let c = config(dir.path(), port, "");
    let serve = Serve::start(&c, &[]);
    serve.wait_for("Crispin is serving");
    let caps = |port| {
        let (mut s, mut r) = connect(port);
        cmd(&mut s, &mut r, "a", "CAPABILITY").remove(0)
    };
    assert!(caps(port).contains("APPENDLIMIT=67108864"));
    let text = std::fs::read_to_string(&c).unwrap();
    let other = free_port();
    let text = text.replace(&format!("127.0.0.1:{port}"), &format!("127.0.0.1:{other}"));
    std::fs::write(&c, format!("{text}[limits]\nmax_message_size = 1000000\n")).unwrap();
    serve.signal("-HUP");
    let err = serve.wait_for("configuration reloaded");
    assert!(err.contains("imap.listen"), "{err}");
    // New connections get the new limit, on the old port.
    assert!(caps(port).contains("APPENDLIMIT=1000000"), "{}", caps(port));
    // A reload with an error keeps the running configuration.
    std::fs::write(&c, "log = \"crispin=loud\"\n").unwrap();
    serve.signal("-HUP");
    serve.wait_for("configuration not reloaded");
    assert!(caps(port).contains("APPENDLIMIT=1000000"));
    serve.stop();
}

#[test]
fn sigterm_lets_an_append_in_transit_finish() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let c = config(dir.path(), port, "");
    let serve = Serve::start(&c, &["--first-user", "alice"]);
    let pw = password_from(&serve.wait_for("connect with"), "alice");
    let (mut s, mut r) = connect(port);
    cmd(&mut s, &mut r, "a", &format!("LOGIN alice \"{pw}\""));
    let message = format!("Subject: in transit\r\n\r\n{}\r\n", "x".repeat(10_000));
    s.write_all(format!("b APPEND INBOX {{{}}}\r\n", message.len()).as_bytes())
        .unwrap();
    let mut line = String::new();
    r.read_line(&mut line).unwrap();
    assert!(line.starts_with('+'), "{line}");
    let (head, tail) = message.as_bytes().split_at(5_000);
    s.write_all(head).unwrap();
    // The server is shutting down while the rest is on its way.
    serve.signal("-TERM");
    serve.wait_for("shutting down");
    s.write_all(tail).unwrap();
    s.write_all(b"\r\n").unwrap();
    let mut rest = String::new();
    r.read_to_string(&mut rest).unwrap();
    let lines: Vec<&str> = rest.lines().collect();
    assert!(lines[0].starts_with("b OK [APPENDUID"), "{rest}");
    assert!(lines.last().unwrap().starts_with("* BYE"), "{rest}");
    let mut child = serve;
    assert!(child.child.wait().unwrap().success());
    drop(child);
    // It is stored.
    let serve = Serve::start(&c, &[]);
    serve.wait_for("Crispin is serving");
    let (mut s, mut r) = connect(port);
    cmd(&mut s, &mut r, "a", &format!("LOGIN alice \"{pw}\""));
    let st = cmd(&mut s, &mut r, "b", "STATUS INBOX (MESSAGES)");
    assert_eq!(st[0], "* STATUS INBOX (MESSAGES 1)");
    serve.stop();
}

#[test]
fn account_names_are_case_insensitive_and_lockouts_end_with_unlock() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let c = config(dir.path(), port, "");
    let text = std::fs::read_to_string(&c).unwrap();
    std::fs::write(
        &c,
        format!("{text}lockout_after = 2\nfailures_before_delay = 100\n"),
    )
    .unwrap();
    let out = crispin(&c, &["user", "add", "Bob"], "bob-pw\n");
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "created account bob\n"
    );
    let dup = crispin(&c, &["user", "add", "BOB"], "x\n");
    assert!(!dup.status.success(), "BOB is bob");
    for bad in ["bob+lists", "bob@example.org"] {
        let out = crispin(&c, &["user", "add", bad], "x\n");
        assert!(!out.status.success(), "{bad}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("invalid user name"));
    }
    let out = crispin(&c, &["user", "unlock", "bob"], "");
    assert!(String::from_utf8_lossy(&out.stdout).contains("no server is running"));
    let serve = Serve::start(&c, &[]);
    serve.wait_for("Crispin is serving");
    assert!(login(port, "BOB", "bob-pw").starts_with("a OK"));
    assert!(login(port, "bob", "wrong").starts_with("a NO"));
    assert!(login(port, "Bob", "wrong").starts_with("a NO"));
    let locked = login(port, "bob", "bob-pw");
    assert!(locked.starts_with("a NO [UNAVAILABLE]"), "{locked}");
    serve.wait_for("locked out");
    let out = crispin(&c, &["user", "unlock", "BOB"], "");
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "lockout of bob ended\n"
    );
    serve.wait_for("lockout ended by the administrator");
    assert!(login(port, "bob", "bob-pw").starts_with("a OK"));
    serve.stop();
}

#[test]
fn a_taken_port_stops_the_start_before_anything_is_announced() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let lmtp = taken.local_addr().unwrap();
    let c = config(dir.path(), port, "");
    let text = std::fs::read_to_string(&c).unwrap();
    std::fs::write(
        &c,
        text.replace(
            "[lmtp]\nlisten = []",
            &format!("[lmtp]\nlisten = [\"{lmtp}\"]"),
        ),
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_crispin"))
        .arg("--config")
        .arg(&c)
        .arg("serve")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(!child.wait().unwrap().success());
    assert!(err.contains(&format!("cannot listen on {lmtp}")), "{err}");
    assert!(
        !err.contains("listening"),
        "announced before failing:\n{err}"
    );
    assert!(!err.contains("Crispin is"), "{err}");
    assert!(TcpStream::connect(("127.0.0.1", port)).is_err());
}
