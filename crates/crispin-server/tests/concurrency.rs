//! Two sessions on one mailbox, IDLE (RFC 2177) and pipelining: changes
//! made by one session reach the other only where RFC 3501 §7.4.1 allows.

use crispin_testkit::*;

fn status_word(line: &str) -> &str {
    line.split(' ').nth(1).unwrap_or("")
}

fn search_result(lines: &[String]) -> Vec<u32> {
    let found: Vec<&String> = lines.iter().filter(|l| l.starts_with("* SEARCH")).collect();
    assert_eq!(found.len(), 1, "expected one SEARCH response: {lines:?}");
    found[0]["* SEARCH".len()..]
        .split_whitespace()
        .map(|n| n.parse().unwrap())
        .collect()
}

fn flags_in(line: &str) -> Vec<String> {
    let start = line
        .find("FLAGS (")
        .unwrap_or_else(|| panic!("no FLAGS in {line}"))
        + "FLAGS (".len();
    let end = start + line[start..].find(')').unwrap();
    let mut v: Vec<String> = line[start..end]
        .split_whitespace()
        .map(str::to_string)
        .collect();
    v.sort();
    v
}

fn expunges(lines: &[String]) -> Vec<&String> {
    lines.iter().filter(|l| l.ends_with(" EXPUNGE")).collect()
}

/// Applies `* n EXPUNGE` responses to a model of the sequence → UID map.
fn apply_expunges(model: &mut Vec<u32>, lines: &[String]) {
    for l in lines {
        if let Some(n) = l
            .strip_prefix("* ")
            .and_then(|r| r.strip_suffix(" EXPUNGE"))
        {
            let seq: usize = n.parse().unwrap();
            assert!(
                seq >= 1 && seq <= model.len(),
                "bad EXPUNGE {seq} for {model:?}"
            );
            model.remove(seq - 1);
        }
    }
}

/// Reads lines until one satisfies `pred`; returns them all.
async fn read_until(c: &mut Client, pred: impl Fn(&str) -> bool) -> Vec<String> {
    let mut lines = Vec::new();
    loop {
        let l = c.read_line().await;
        let done = pred(&l);
        lines.push(l);
        if done {
            return lines;
        }
    }
}

/// A server whose INBOX holds `n` messages, and two sessions of alice
/// with INBOX selected.
async fn two_sessions(n: usize) -> (TestServer, Client, Client) {
    let server = TestServer::start().await;
    let mut a = server.login("alice").await;
    for i in 1..=n {
        a.append(
            "INBOX",
            "",
            &message(&format!("m{i}"), &format!("body {i}")),
        )
        .await;
    }
    a.ok("SELECT INBOX").await;
    let mut b = server.login("alice").await;
    b.ok("SELECT INBOX").await;
    (server, a, b)
}

// ---------------------------------------------------------------------------
// Two sessions
// ---------------------------------------------------------------------------

#[tokio::test]
async fn other_sessions_append_seen_on_noop() {
    let (server, mut a, mut b) = two_sessions(1).await;
    let st = a.append("INBOX", "", &message("new", "new")).await;
    assert_eq!(status_word(&st), "OK", "{st}");
    let lines = b.ok("NOOP").await;
    assert!(lines.contains(&"* 2 EXISTS".to_string()), "{lines:?}");
    // Reported once only.
    let lines = b.ok("NOOP").await;
    assert!(!lines.iter().any(|l| l.ends_with("EXISTS")), "{lines:?}");
    let f = b.ok("FETCH 2 BODY.PEEK[TEXT]").await;
    assert_eq!(f, vec!["* 2 FETCH (BODY[TEXT] {5}\r\nnew\r\n)"]);
    // A third session appending from the authenticated state counts too.
    let mut c = server.login("alice").await;
    c.append("INBOX", "", &message("third", "x")).await;
    let lines = b.ok("NOOP").await;
    assert!(lines.contains(&"* 3 EXISTS".to_string()), "{lines:?}");
    let lines = a.ok("NOOP").await;
    assert!(lines.contains(&"* 3 EXISTS".to_string()), "{lines:?}");
    server.shutdown().await;
}

#[tokio::test]
async fn other_sessions_flag_changes_seen_as_fetch() {
    let (server, mut a, mut b) = two_sessions(2).await;
    a.ok("STORE 2 +FLAGS.SILENT (\\Flagged \\Seen)").await;
    let lines = b.ok("NOOP").await;
    let fetch: Vec<&String> = lines.iter().filter(|l| l.contains(" FETCH ")).collect();
    assert_eq!(fetch.len(), 1, "{lines:?}");
    assert!(fetch[0].starts_with("* 2 FETCH ("), "{}", fetch[0]);
    let flags = flags_in(fetch[0]);
    assert!(
        flags.contains(&"\\Flagged".to_string()) && flags.contains(&"\\Seen".to_string()),
        "{}",
        fetch[0]
    );
    // A new keyword also updates FLAGS.
    a.ok("STORE 1 +FLAGS.SILENT ($Shared)").await;
    let lines = b.ok("NOOP").await;
    let defined = lines
        .iter()
        .find(|l| l.starts_with("* FLAGS "))
        .unwrap_or_else(|| panic!("{lines:?}"));
    assert!(defined.contains("$Shared"), "{defined}");
    let fetch = lines.iter().find(|l| l.starts_with("* 1 FETCH (")).unwrap();
    assert!(flags_in(fetch).contains(&"$Shared".to_string()), "{fetch}");
    // Nothing more to report.
    assert_eq!(b.ok("NOOP").await, Vec::<String>::new());
    server.shutdown().await;
}

#[tokio::test]
async fn other_sessions_expunge_seen_on_noop() {
    let (server, mut a, mut b) = two_sessions(3).await;
    a.ok("STORE 1,3 +FLAGS.SILENT (\\Deleted)").await;
    a.ok("EXPUNGE").await;
    let lines = b.ok("NOOP").await;
    let mut model = vec![1, 2, 3];
    apply_expunges(&mut model, &lines);
    assert_eq!(model, vec![2], "{lines:?}");
    assert_eq!(b.ok("FETCH 1 UID").await, vec!["* 1 FETCH (UID 2)"]);
    server.shutdown().await;
}

#[tokio::test]
async fn no_expunge_during_fetch_store_search() {
    let (server, mut a, mut b) = two_sessions(3).await;
    a.ok("STORE 2 +FLAGS.SILENT (\\Deleted)").await;
    a.ok("EXPUNGE").await;

    // B has not been told: sequence numbers stay as they were.
    let f = b.ok("FETCH 1:3 UID").await;
    assert!(expunges(&f).is_empty(), "{f:?}");
    // Message 2 may be reported or omitted; 1 and 3 keep their numbers.
    assert!(f.contains(&"* 1 FETCH (UID 1)".to_string()), "{f:?}");
    assert!(f.contains(&"* 3 FETCH (UID 3)".to_string()), "{f:?}");
    assert!(f.iter().all(|l| l != "* 2 FETCH (UID 3)"), "{f:?}");

    let s = b.ok("STORE 3 +FLAGS (\\Answered)").await;
    assert!(expunges(&s).is_empty(), "{s:?}");
    assert!(s.iter().any(|l| l.starts_with("* 3 FETCH (")), "{s:?}");

    let s = b.ok("SEARCH ALL").await;
    assert!(expunges(&s).is_empty(), "{s:?}");
    let found = search_result(&s);
    assert!(found.contains(&1) && found.contains(&3), "{s:?}");
    assert_eq!(search_result(&b.ok("SEARCH ANSWERED").await), vec![3]);

    // `*` still means message 3.
    assert_eq!(b.ok("FETCH * UID").await, vec!["* 3 FETCH (UID 3)"]);

    // NOOP may tell.
    let lines = b.ok("NOOP").await;
    assert_eq!(expunges(&lines), vec!["* 2 EXPUNGE"], "{lines:?}");
    assert_eq!(b.ok("FETCH 2 UID").await, vec!["* 2 FETCH (UID 3)"]);
    assert_eq!(b.ok("NOOP").await, Vec::<String>::new());
    server.shutdown().await;
}

#[tokio::test]
async fn expunge_pending_while_new_mail_arrives() {
    // An expunge and an append by A; B's FETCH may learn about the new
    // message (EXISTS) but not about the expunge.
    let (server, mut a, mut b) = two_sessions(2).await;
    a.ok("STORE 1 +FLAGS.SILENT (\\Deleted)").await;
    a.ok("EXPUNGE").await;
    a.append("INBOX", "", &message("m3", "body 3")).await;
    let f = b.ok("FETCH 2 UID").await;
    assert!(expunges(&f).is_empty(), "{f:?}");
    assert!(f.contains(&"* 2 FETCH (UID 2)".to_string()), "{f:?}");
    let mut model = vec![1, 2];
    if f.iter().any(|l| l == "* 3 EXISTS") {
        model.push(3);
    }
    let lines = b.ok("NOOP").await;
    if lines.iter().any(|l| l == "* 3 EXISTS") {
        model.push(3);
    }
    apply_expunges(&mut model, &lines);
    assert_eq!(model, vec![2, 3], "{f:?} {lines:?}");
    let f = b.ok("FETCH 1:* UID").await;
    assert_eq!(f, vec!["* 1 FETCH (UID 2)", "* 2 FETCH (UID 3)"]);
    server.shutdown().await;
}

#[tokio::test]
async fn uid_fetch_may_report_expunge() {
    let (server, mut a, mut b) = two_sessions(3).await;
    a.ok("STORE 2 +FLAGS.SILENT (\\Deleted)").await;
    a.ok("EXPUNGE").await;
    let mut model = vec![1, 2, 3];
    let f = b.ok("UID FETCH 1:* FLAGS").await;
    apply_expunges(&mut model, &f);
    // Whatever was said is consistent with the numbers used.
    for l in f.iter().filter(|l| l.contains(" FETCH (")) {
        let seq: usize = l[2..l.find(" FETCH").unwrap()].parse().unwrap();
        let uid: u32 = l[l.find("UID ").unwrap() + 4..]
            .split(|c: char| !c.is_ascii_digit())
            .next()
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(model[seq - 1], uid, "{f:?}");
        assert_ne!(uid, 2, "{f:?}");
    }
    let lines = b.ok("NOOP").await;
    apply_expunges(&mut model, &lines);
    assert_eq!(model, vec![1, 3], "{f:?} {lines:?}");
    server.shutdown().await;
}

#[tokio::test]
async fn recent_is_given_to_one_session_only() {
    let (server, mut a, mut b) = two_sessions(1).await;
    let mut c = server.login("alice").await;
    c.append("INBOX", "", &message("new", "x")).await;
    let la = a.ok("NOOP").await;
    let lb = b.ok("NOOP").await;
    assert!(la.contains(&"* 2 EXISTS".to_string()), "{la:?}");
    assert!(lb.contains(&"* 2 EXISTS".to_string()), "{lb:?}");
    let ra = search_result(&a.ok("SEARCH RECENT").await);
    let rb = search_result(&b.ok("SEARCH RECENT").await);
    let holders = [&ra, &rb].iter().filter(|r| r.contains(&2)).count();
    assert_eq!(holders, 1, "A: {ra:?} B: {rb:?}");
    // The RECENT counts agree with what SEARCH says.
    let count = |lines: &[String]| {
        lines
            .iter()
            .find_map(|l| l.strip_prefix("* ")?.strip_suffix(" RECENT"))
            .map(|n| n.parse::<usize>().unwrap())
    };
    assert_eq!(count(&la).unwrap_or(ra.len()), ra.len(), "{la:?}");
    assert_eq!(count(&lb).unwrap_or(rb.len()), rb.len(), "{lb:?}");
    server.shutdown().await;
}

#[tokio::test]
async fn other_sessions_append_with_new_keyword_updates_flags() {
    let (server, mut a, mut b) = two_sessions(1).await;
    a.append("INBOX", "($Fresh)", &message("kw", "x")).await;
    let lines = b.ok("NOOP").await;
    let defined = lines
        .iter()
        .find(|l| l.starts_with("* FLAGS "))
        .unwrap_or_else(|| panic!("no FLAGS: {lines:?}"));
    assert!(
        flags_in(defined).contains(&"$Fresh".to_string()),
        "{defined}"
    );
    assert!(lines.contains(&"* 2 EXISTS".to_string()), "{lines:?}");
    let f = b.ok("FETCH 2 FLAGS").await;
    assert!(flags_in(&f[0]).contains(&"$Fresh".to_string()), "{}", f[0]);
    server.shutdown().await;
}

#[tokio::test]
async fn seen_set_by_fetch_reaches_other_session() {
    let (server, mut a, mut b) = two_sessions(2).await;
    a.ok("FETCH 2 BODY[TEXT]").await;
    let lines = b.ok("NOOP").await;
    let f = lines
        .iter()
        .find(|l| l.starts_with("* 2 FETCH ("))
        .unwrap_or_else(|| panic!("{lines:?}"));
    assert!(flags_in(f).contains(&"\\Seen".to_string()), "{f}");
    server.shutdown().await;
}

#[tokio::test]
async fn own_expunge_with_others_pending() {
    // B still shows a message A expunged; B's own EXPUNGE then reports
    // both, with numbers consistent at each step.
    let (server, mut a, mut b) = two_sessions(4).await;
    a.ok("STORE 2 +FLAGS.SILENT (\\Deleted)").await;
    a.ok("EXPUNGE").await;
    let s = b.ok("STORE 3,4 +FLAGS.SILENT (\\Deleted)").await;
    assert!(expunges(&s).is_empty(), "{s:?}");
    let lines = b.ok("EXPUNGE").await;
    let mut model = vec![1, 2, 3, 4];
    apply_expunges(&mut model, &lines);
    assert_eq!(model, vec![1], "{lines:?}");
    assert_eq!(b.ok("FETCH 1:* UID").await, vec!["* 1 FETCH (UID 1)"]);
    assert_eq!(b.ok("NOOP").await, Vec::<String>::new());
    // A learns about B's expunges.
    let lines = a.ok("NOOP").await;
    let mut model = vec![1, 3, 4];
    apply_expunges(&mut model, &lines);
    assert_eq!(model, vec![1], "{lines:?}");
    server.shutdown().await;
}

#[tokio::test]
async fn move_and_close_by_other_session_seen_as_expunge() {
    let (server, mut a, mut b) = two_sessions(4).await;
    a.ok("CREATE Dest").await;
    a.ok("MOVE 1 Dest").await;
    let lines = b.ok("NOOP").await;
    assert_eq!(expunges(&lines), vec!["* 1 EXPUNGE"], "{lines:?}");
    // A's CLOSE expunges silently for A, but B is told.
    a.ok("STORE 2 +FLAGS.SILENT (\\Deleted)").await;
    a.ok("CLOSE").await;
    let lines = b.ok("NOOP").await;
    let mut model = vec![2, 3, 4];
    apply_expunges(&mut model, &lines);
    assert_eq!(model, vec![2, 4], "{lines:?}");
    // B's view of Dest is updated on SELECT.
    let sel = b.ok("SELECT Dest").await;
    assert!(sel.contains(&"* 1 EXISTS".to_string()), "{sel:?}");
    server.shutdown().await;
}

#[tokio::test]
async fn examine_session_sees_changes_too() {
    let server = TestServer::start().await;
    let mut a = server.login("alice").await;
    a.append("INBOX", "", &message("m1", "x")).await;
    a.ok("SELECT INBOX").await;
    let mut b = server.login("alice").await;
    b.ok("EXAMINE INBOX").await;
    a.append("INBOX", "", &message("m2", "y")).await;
    a.ok("STORE 1 +FLAGS.SILENT (\\Answered)").await;
    let lines = b.ok("NOOP").await;
    assert!(lines.contains(&"* 2 EXISTS".to_string()), "{lines:?}");
    let f = lines
        .iter()
        .find(|l| l.starts_with("* 1 FETCH ("))
        .unwrap_or_else(|| panic!("{lines:?}"));
    assert!(flags_in(f).contains(&"\\Answered".to_string()), "{f}");
    // Read-only: B never takes \Recent away from A.
    assert_eq!(
        search_result(&b.ok("SEARCH RECENT").await),
        Vec::<u32>::new()
    );
    server.shutdown().await;
}

#[tokio::test]
async fn idle_reports_move_by_other_session() {
    let (server, mut a, mut b) = two_sessions(3).await;
    a.ok("CREATE Dest").await;
    b.send("I1 IDLE").await;
    assert!(b.read_line().await.starts_with("+ "));
    a.ok("UID MOVE 2 Dest").await;
    let lines = read_until(&mut b, |l| l.ends_with(" EXPUNGE")).await;
    assert_eq!(lines.last().unwrap(), "* 2 EXPUNGE", "{lines:?}");
    b.send("DONE").await;
    let lines = b.until_tag("I1").await;
    assert!(lines.last().unwrap().starts_with("I1 OK"), "{lines:?}");
    assert_eq!(
        b.ok("FETCH 1:* UID").await,
        vec!["* 1 FETCH (UID 1)", "* 2 FETCH (UID 3)"]
    );
    server.shutdown().await;
}

// ---------------------------------------------------------------------------
// IDLE
// ---------------------------------------------------------------------------

#[tokio::test]
async fn idle_reports_append_flags_and_expunge() {
    let (server, mut a, mut b) = two_sessions(2).await;
    b.send("I1 IDLE").await;
    let cont = b.read_line().await;
    assert!(cont.starts_with("+ "), "{cont}");

    a.append("INBOX", "", &message("new", "while idling")).await;
    let lines = read_until(&mut b, |l| l.ends_with(" EXISTS")).await;
    assert_eq!(lines.last().unwrap(), "* 3 EXISTS", "{lines:?}");

    a.ok("STORE 1 +FLAGS.SILENT (\\Flagged)").await;
    let lines = read_until(&mut b, |l| l.contains(" FETCH (")).await;
    let fetch = lines.last().unwrap();
    assert!(fetch.starts_with("* 1 FETCH ("), "{fetch}");
    assert!(
        flags_in(fetch).contains(&"\\Flagged".to_string()),
        "{fetch}"
    );

    a.ok("STORE 2 +FLAGS.SILENT (\\Deleted)").await;
    a.ok("EXPUNGE").await;
    let lines = read_until(&mut b, |l| l.ends_with(" EXPUNGE")).await;
    assert_eq!(lines.last().unwrap(), "* 2 EXPUNGE", "{lines:?}");

    b.send("DONE").await;
    let lines = b.until_tag("I1").await;
    assert!(lines.last().unwrap().starts_with("I1 OK"), "{lines:?}");
    // B's view after IDLE: UIDs 1 and 3.
    let f = b.ok("FETCH 1:* UID").await;
    assert_eq!(f, vec!["* 1 FETCH (UID 1)", "* 2 FETCH (UID 3)"]);
    server.shutdown().await;
}

#[tokio::test]
async fn idle_reports_changes_made_before_it_started() {
    let (server, mut a, mut b) = two_sessions(1).await;
    a.append("INBOX", "", &message("early", "x")).await;
    b.send("I1 IDLE").await;
    // The pending EXISTS may come before or after the continuation.
    let lines = read_until(&mut b, |l| l.starts_with('+')).await;
    let mut all = lines.clone();
    if !all.iter().any(|l| l == "* 2 EXISTS") {
        all.extend(read_until(&mut b, |l| l.ends_with(" EXISTS")).await);
    }
    assert!(all.contains(&"* 2 EXISTS".to_string()), "{all:?}");
    b.send("DONE").await;
    let lines = b.until_tag("I1").await;
    assert!(lines.last().unwrap().starts_with("I1 OK"), "{lines:?}");
    server.shutdown().await;
}

#[tokio::test]
async fn idle_anything_but_done_is_bad() {
    let (server, _a, mut b) = two_sessions(1).await;
    b.send("I1 IDLE").await;
    assert!(b.read_line().await.starts_with("+ "));
    b.send("I2 NOOP").await;
    let line = b.read_line().await;
    assert!(line.starts_with("I1 BAD"), "{line}");
    // The session is usable afterwards.
    let lines = b.ok("NOOP").await;
    assert!(lines.is_empty(), "{lines:?}");
    // DONE is case-insensitive.
    b.send("I3 IDLE").await;
    assert!(b.read_line().await.starts_with("+ "));
    b.send("done").await;
    let line = b.read_line().await;
    assert!(line.starts_with("I3 OK"), "{line}");
    server.shutdown().await;
}

#[tokio::test]
async fn idle_in_authenticated_state() {
    let server = TestServer::start().await;
    let mut c = server.login("alice").await;
    c.send("I1 IDLE").await;
    assert!(c.read_line().await.starts_with("+ "));
    // Mail arriving elsewhere is not reported: nothing is selected.
    let mut other = server.login("alice").await;
    other.append("INBOX", "", &message("x", "y")).await;
    c.send("DONE").await;
    let lines = c.until_tag("I1").await;
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].starts_with("I1 OK"), "{lines:?}");
    c.ok("NOOP").await;
    server.shutdown().await;
}

#[tokio::test]
async fn idle_before_login_is_bad() {
    let server = TestServer::start().await;
    let mut c = server.connect().await;
    let st = c.status("IDLE").await;
    assert_eq!(status_word(&st), "BAD", "{st}");
    server.shutdown().await;
}

#[tokio::test]
async fn idle_keepalive() {
    let server = TestServer::start_with(|c| c.limits.idle_keepalive_secs = 1).await;
    let mut c = server.login("alice").await;
    c.ok("SELECT INBOX").await;
    c.send("I1 IDLE").await;
    assert!(c.read_line().await.starts_with("+ "));
    // Within the harness timeout, at least two keepalives arrive.
    assert_eq!(c.read_line().await, "* OK Still here");
    assert_eq!(c.read_line().await, "* OK Still here");
    c.send("DONE").await;
    let lines = c.until_tag("I1").await;
    assert!(lines.last().unwrap().starts_with("I1 OK"), "{lines:?}");
    server.shutdown().await;
}

#[tokio::test]
async fn command_pipelined_right_after_done() {
    let (server, mut a, mut b) = two_sessions(1).await;
    b.send("I1 IDLE").await;
    assert!(b.read_line().await.starts_with("+ "));
    a.append("INBOX", "", &message("x", "y")).await;
    let _ = read_until(&mut b, |l| l == "* 2 EXISTS").await;
    b.send_raw(b"DONE\r\nP1 FETCH 2 UID\r\nP2 NOOP\r\n").await;
    let lines = b.until_tag("P2").await;
    let i1 = lines.iter().position(|l| l.starts_with("I1 OK")).unwrap();
    let fetch = lines.iter().position(|l| l == "* 2 FETCH (UID 2)").unwrap();
    let p1 = lines.iter().position(|l| l.starts_with("P1 OK")).unwrap();
    assert!(i1 < fetch && fetch < p1, "{lines:?}");
    server.shutdown().await;
}

// ---------------------------------------------------------------------------
// Pipelining
// ---------------------------------------------------------------------------

#[tokio::test]
async fn pipelined_commands_answered_in_order() {
    let server = TestServer::start().await;
    let mut c = server.login("alice").await;
    for i in 1..=4 {
        c.append("INBOX", "", &message(&format!("m{i}"), "b")).await;
    }
    c.send_raw(
        b"P1 SELECT INBOX\r\n\
P2 STORE 2 +FLAGS (\\Deleted)\r\n\
P3 EXPUNGE\r\n\
P4 FETCH 2 UID\r\n\
P5 STORE 1,3 +FLAGS.SILENT (\\Deleted)\r\n\
P6 EXPUNGE\r\n\
P7 SEARCH ALL\r\n\
P8 NOOP\r\n",
    )
    .await;
    let lines = c.until_tag("P8").await;
    let pos = |pred: &dyn Fn(&String) -> bool| {
        lines
            .iter()
            .position(pred)
            .unwrap_or_else(|| panic!("missing in {lines:#?}"))
    };
    let tags: Vec<usize> = (1..=8)
        .map(|i| pos(&|l: &String| l.starts_with(&format!("P{i} OK"))))
        .collect();
    assert!(tags.windows(2).all(|w| w[0] < w[1]), "{lines:#?}");
    // Each command's untagged responses sit between its predecessor's
    // tagged response and its own.
    let within = |i: usize, pred: &dyn Fn(&String) -> bool| {
        let p = pos(pred);
        assert!(
            p < tags[i - 1] && (i == 1 || p > tags[i - 2]),
            "P{i}: {lines:#?}"
        );
    };
    within(2, &|l| l.starts_with("* 2 FETCH ("));
    within(3, &|l| l == "* 2 EXPUNGE");
    within(4, &|l| l == "* 2 FETCH (UID 3)");
    within(7, &|l| l == "* SEARCH 1");
    let mut model = vec![1, 2, 3, 4];
    apply_expunges(&mut model, &lines[tags[1]..tags[2]]);
    apply_expunges(&mut model, &lines[tags[4]..tags[5]]);
    assert_eq!(model, vec![3], "{lines:#?}");
    server.shutdown().await;
}

#[tokio::test]
async fn pipelined_appends_with_literals() {
    let server = TestServer::start().await;
    let mut c = server.login("alice").await;
    let m1 = message("p1", "one");
    let m2 = message("p2", "two");
    let mut bytes = Vec::new();
    bytes.extend_from_slice(format!("P1 APPEND INBOX {{{}+}}\r\n", m1.len()).as_bytes());
    bytes.extend_from_slice(&m1);
    bytes.extend_from_slice(
        format!("\r\nP2 APPEND INBOX (\\Seen) {{{}+}}\r\n", m2.len()).as_bytes(),
    );
    bytes.extend_from_slice(&m2);
    bytes.extend_from_slice(b"\r\nP3 SELECT INBOX\r\nP4 FETCH 1:2 (FLAGS BODY.PEEK[TEXT])\r\n");
    c.send_raw(&bytes).await;
    let lines = c.until_tag("P4").await;
    let order: Vec<&String> = lines.iter().filter(|l| l.starts_with('P')).collect();
    assert_eq!(order.len(), 4, "{lines:#?}");
    for (i, l) in order.iter().enumerate() {
        assert!(l.starts_with(&format!("P{} OK", i + 1)), "{lines:#?}");
    }
    assert!(
        lines.contains(&"* 1 FETCH (FLAGS (\\Recent) BODY[TEXT] {5}\r\none\r\n)".to_string()),
        "{lines:#?}"
    );
    assert!(!lines.iter().any(|l| l.starts_with('+')), "{lines:#?}");
    server.shutdown().await;
}

/// Pipelined APPENDs run together (their writes share commits) but are
/// answered strictly in order, interleaved correctly with a failing
/// APPEND, a syntax error and other commands, with EXISTS before the OKs.
#[tokio::test]
async fn pipelined_appends_in_selected_state_answered_in_order() {
    let server = TestServer::start().await;
    let mut c = server.login("alice").await;
    c.ok("SELECT INBOX").await;
    let append = |tag: &str, mailbox: &str, m: &[u8]| {
        let mut b = format!("{tag} APPEND {mailbox} {{{}+}}\r\n", m.len()).into_bytes();
        b.extend_from_slice(m);
        b.extend_from_slice(b"\r\n");
        b
    };
    let mut bytes = Vec::new();
    bytes.extend(append("A1", "INBOX", &message("q1", "one")));
    bytes.extend(append("A2", "Nowhere", &message("q2", "two")));
    bytes.extend(append("A3", "INBOX", &message("q3", "three")));
    bytes.extend_from_slice(b"A4 FROB\r\n");
    bytes.extend(append("A5", "INBOX", &message("q5", "five")));
    bytes.extend_from_slice(b"A6 NOOP\r\n");
    c.send_raw(&bytes).await;
    let lines = c.until_tag("A6").await;
    let tagged: Vec<&String> = lines.iter().filter(|l| l.starts_with('A')).collect();
    let words: Vec<(&str, &str)> = tagged
        .iter()
        .map(|l| {
            let mut it = l.split(' ');
            (it.next().unwrap(), it.next().unwrap())
        })
        .collect();
    assert_eq!(
        words,
        vec![
            ("A1", "OK"),
            ("A2", "NO"),
            ("A3", "OK"),
            ("A4", "BAD"),
            ("A5", "OK"),
            ("A6", "OK")
        ],
        "{lines:#?}"
    );
    assert!(tagged[1].contains("[TRYCREATE]"), "{lines:#?}");
    let uid = |l: &str| -> u32 {
        let rest = &l[l.find("[APPENDUID ").unwrap() + 11..];
        rest.split([' ', ']']).nth(1).unwrap().parse().unwrap()
    };
    assert_eq!(
        [uid(tagged[0]), uid(tagged[2]), uid(tagged[4])],
        [1, 2, 3],
        "{lines:#?}"
    );
    let pos = |s: &str| lines.iter().position(|l| l == s).expect(s);
    let tag_pos = |t: &str| lines.iter().position(|l| l.starts_with(t)).unwrap();
    assert!(pos("* 2 EXISTS") < tag_pos("A1 "), "{lines:#?}");
    assert!(pos("* 3 EXISTS") < tag_pos("A5 "), "{lines:#?}");
    assert!(pos("* 3 EXISTS") > tag_pos("A4 "), "{lines:#?}");
    let f = c.ok("FETCH 1:* BODY.PEEK[TEXT]").await;
    assert_eq!(
        f.iter().filter(|l| l.contains(" FETCH (")).count(),
        3,
        "{f:#?}"
    );
    server.shutdown().await;
}
