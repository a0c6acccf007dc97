//! Protocol tests for the message commands: APPEND, FETCH, STORE, SEARCH,
//! COPY/MOVE, EXPUNGE, CLOSE/UNSELECT (RFC 3501, 4315, 4731, 6851, 7888,
//! 7889), over real TCP to a server on an ephemeral port.

use crispin_testkit::*;
use std::collections::BTreeSet;

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/// The status word of a tagged line (`OK`, `NO`, `BAD`).
fn status_word(line: &str) -> &str {
    line.split(' ').nth(1).unwrap_or("")
}

/// The flags in the first `FLAGS (...)` of a line, as a set.
fn flags_in(line: &str) -> BTreeSet<String> {
    let start = line
        .find("FLAGS (")
        .unwrap_or_else(|| panic!("no FLAGS in {line}"))
        + "FLAGS (".len();
    let end = start + line[start..].find(')').unwrap();
    line[start..end]
        .split_whitespace()
        .map(str::to_string)
        .collect()
}

/// For BODY/BODYSTRUCTURE, whose type names compare case-insensitively.
fn lc(s: &str) -> String {
    s.to_ascii_lowercase()
}

fn set(flags: &[&str]) -> BTreeSet<String> {
    flags.iter().map(|s| s.to_string()).collect()
}

/// The numbers of the `* SEARCH` response among `lines`.
fn search_result(lines: &[String]) -> Vec<u32> {
    let found: Vec<&String> = lines.iter().filter(|l| l.starts_with("* SEARCH")).collect();
    assert_eq!(found.len(), 1, "expected one SEARCH response: {lines:?}");
    found[0]["* SEARCH".len()..]
        .split_whitespace()
        .map(|n| n.parse().unwrap())
        .collect()
}

/// The value of a FETCH item such as `BODY[1]`: `Some(text)` for a
/// literal or a quoted string, `None` for NIL.
fn item(line: &str, name: &str) -> Option<String> {
    let key = format!("{name} ");
    let at = line
        .find(&key)
        .unwrap_or_else(|| panic!("no {name} in {line}"));
    let rest = &line[at + key.len()..];
    if rest.starts_with("NIL") {
        return None;
    }
    if let Some(q) = rest.strip_prefix('"') {
        let mut out = String::new();
        let mut chars = q.chars();
        while let Some(c) = chars.next() {
            match c {
                '"' => return Some(out),
                '\\' => out.push(chars.next().unwrap()),
                c => out.push(c),
            }
        }
        panic!("unterminated quoted string in {line}");
    }
    let close = rest
        .find("}\r\n")
        .unwrap_or_else(|| panic!("{name} is not a literal: {line}"));
    assert!(rest.starts_with('{'), "{name} is not a literal: {line}");
    let n: usize = rest[1..close].parse().unwrap();
    Some(rest[close + 3..close + 3 + n].to_string())
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

/// UIDs of the messages a session sees, in sequence order.
async fn uids(c: &mut Client) -> Vec<u32> {
    let lines = c.ok("UID SEARCH ALL").await;
    search_result(&lines)
}

fn tagged_code<'a>(line: &'a str, code: &str) -> Vec<&'a str> {
    let start = line
        .find(&format!("[{code} "))
        .unwrap_or_else(|| panic!("no {code} in {line}"))
        + code.len()
        + 2;
    let end = start + line[start..].find(']').unwrap();
    line[start..end].split(' ').collect()
}

/// Expands a UID set such as `1:3,7` into its numbers, in order.
fn expand(set: &str) -> Vec<u32> {
    let mut out = Vec::new();
    for part in set.split(',') {
        match part.split_once(':') {
            Some((a, b)) => {
                let (a, b): (u32, u32) = (a.parse().unwrap(), b.parse().unwrap());
                if a <= b {
                    out.extend(a..=b);
                } else {
                    out.extend((b..=a).rev());
                }
            }
            None => out.push(part.parse().unwrap()),
        }
    }
    out
}

/// Sends an APPEND with a non-synchronising literal; returns all lines.
async fn append_nonsync(c: &mut Client, mailbox: &str, args: &str, msg: &[u8]) -> Vec<String> {
    let tag = c.tag();
    let mut bytes = format!("{tag} APPEND {mailbox} {args}{{{}+}}\r\n", msg.len()).into_bytes();
    bytes.extend_from_slice(msg);
    bytes.extend_from_slice(b"\r\n");
    c.send_raw(&bytes).await;
    c.until_tag(&tag).await
}

/// Sends `command` whose last argument is `literal`, as a synchronising
/// literal (waiting for `+`).
async fn cmd_with_literal(c: &mut Client, command: &str, literal: &[u8]) -> Vec<String> {
    let tag = c.tag();
    c.send(&format!("{tag} {command} {{{}}}", literal.len()))
        .await;
    let cont = c.read_line().await;
    assert!(cont.starts_with("+ ") || cont == "+", "{cont}");
    c.send_raw(literal).await;
    c.send_raw(b"\r\n").await;
    c.until_tag(&tag).await
}

fn find_from(hay: &[u8], needle: &str, from: usize) -> usize {
    let n = needle.as_bytes();
    from + hay[from..]
        .windows(n.len())
        .position(|w| w == n)
        .unwrap_or_else(|| panic!("{needle:?} not found"))
}

// ---------------------------------------------------------------------------
// Test messages
// ---------------------------------------------------------------------------

const MULTI: &str = "From: \"Alice Example\" <alice@example.org>\r\n\
To: Bob <bob@example.org>, carol@example.org\r\n\
Cc: Dave <dave@example.org>\r\n\
Bcc: eve@example.org\r\n\
Subject: Multipart test\r\n\
Date: Tue, 01 Mar 2022 10:00:00 +0000\r\n\
Message-ID: <multi@example.org>\r\n\
In-Reply-To: <parent@example.org>\r\n\
MIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=\"outer\"\r\n\
\r\n\
This is a preamble.\r\n\
--outer\r\n\
Content-Type: text/plain; charset=us-ascii\r\n\
\r\n\
Hello, this is the first part.\r\n\
--outer\r\n\
Content-Type: message/rfc822\r\n\
\r\n\
From: Inner <inner@example.org>\r\n\
Subject: Inner message\r\n\
Content-Type: multipart/alternative; boundary=\"inner\"\r\n\
\r\n\
--inner\r\n\
Content-Type: text/plain\r\n\
\r\n\
Inner plain text.\r\n\
--inner\r\n\
Content-Type: text/html\r\n\
\r\n\
<p>Inner html</p>\r\n\
--inner--\r\n\
--outer\r\n\
Content-Type: application/octet-stream\r\n\
Content-Transfer-Encoding: base64\r\n\
\r\n\
AAECAwQF\r\n\
--outer--\r\n";

/// The expected bytes of every section of [`MULTI`], computed from the
/// message text itself.
struct Sections {
    header: String,
    text: String,
    p1_mime: String,
    p1: String,
    p2_mime: String,
    p2: String,
    p2_header: String,
    p2_text: String,
    p21_mime: String,
    p21: String,
    p22: String,
    p3: String,
}

fn sections() -> Sections {
    let m = MULTI.as_bytes();
    let s = |a: usize, b: usize| MULTI[a..b].to_string();
    let body = find_from(m, "\r\n\r\n", 0) + 4;
    // Part 1.
    let p1_start = find_from(m, "--outer\r\n", body) + "--outer\r\n".len();
    let p1_body = find_from(m, "\r\n\r\n", p1_start) + 4;
    let p1_end = find_from(m, "\r\n--outer", p1_body);
    // Part 2 (message/rfc822).
    let p2_start = p1_end + "\r\n--outer\r\n".len();
    let p2_body = find_from(m, "\r\n\r\n", p2_start) + 4;
    let p2_end = find_from(m, "\r\n--outer", p2_body);
    let inner_body = find_from(m, "\r\n\r\n", p2_body) + 4;
    let p21_start = find_from(m, "--inner\r\n", inner_body) + "--inner\r\n".len();
    let p21_body = find_from(m, "\r\n\r\n", p21_start) + 4;
    let p21_end = find_from(m, "\r\n--inner", p21_body);
    let p22_body = find_from(m, "\r\n\r\n", p21_end) + 4;
    let p22_end = find_from(m, "\r\n--inner", p22_body);
    // Part 3.
    let p3_body = find_from(m, "\r\n\r\n", p2_end) + 4;
    let p3_end = find_from(m, "\r\n--outer--", p3_body);
    Sections {
        header: s(0, body),
        text: s(body, m.len()),
        p1_mime: s(p1_start, p1_body),
        p1: s(p1_body, p1_end),
        p2_mime: s(p2_start, p2_body),
        p2: s(p2_body, p2_end),
        p2_header: s(p2_body, inner_body),
        p2_text: s(inner_body, p2_end),
        p21_mime: s(p21_start, p21_body),
        p21: s(p21_body, p21_end),
        p22: s(p22_body, p22_end),
        p3: s(p3_body, p3_end),
    }
}

// ---------------------------------------------------------------------------
// APPEND
// ---------------------------------------------------------------------------

#[tokio::test]
async fn append_flags_and_new_keyword_in_flags() {
    let server = TestServer::start().await;
    let mut c = server.login("alice").await;
    let st = c
        .append(
            "INBOX",
            "(\\Seen \\Flagged $Custom)",
            &message("flags", "body"),
        )
        .await;
    assert_eq!(status_word(&st), "OK", "{st}");
    let sel = c.ok("SELECT INBOX").await;
    let flags = sel.iter().find(|l| l.starts_with("* FLAGS ")).unwrap();
    assert_eq!(
        flags_in(flags),
        set(&[
            "\\Answered",
            "\\Flagged",
            "\\Deleted",
            "\\Seen",
            "\\Draft",
            "$Custom"
        ]),
        "{flags}"
    );
    let perm = sel
        .iter()
        .find(|l| l.starts_with("* OK [PERMANENTFLAGS "))
        .unwrap();
    assert!(perm.contains("$Custom") && perm.contains("\\*"), "{perm}");
    let f = c.ok("FETCH 1 FLAGS").await;
    assert_eq!(f.len(), 1, "{f:?}");
    assert_eq!(
        flags_in(&f[0]),
        set(&["\\Seen", "\\Flagged", "$Custom", "\\Recent"])
    );
    server.shutdown().await;
}

#[tokio::test]
async fn append_date_time_is_internaldate() {
    let server = TestServer::start().await;
    let mut c = server.login("alice").await;
    let st = c
        .append(
            "INBOX",
            "() \"17-Jul-1996 02:44:25 -0700\"",
            &message("dated", "x"),
        )
        .await;
    assert_eq!(status_word(&st), "OK", "{st}");
    // A single-digit day may be sent with a leading space.
    let st = c
        .append(
            "INBOX",
            "\" 7-Feb-1994 21:52:25 +0100\"",
            &message("dated2", "x"),
        )
        .await;
    assert_eq!(status_word(&st), "OK", "{st}");
    c.ok("EXAMINE INBOX").await;
    let f = c.ok("FETCH 1:2 INTERNALDATE").await;
    assert_eq!(
        f,
        vec![
            "* 1 FETCH (INTERNALDATE \"17-Jul-1996 02:44:25 -0700\")",
            "* 2 FETCH (INTERNALDATE \"07-Feb-1994 21:52:25 +0100\")",
        ]
    );
    // An impossible date is a syntax error.
    let tag = c.tag();
    c.send(&format!(
        "{tag} APPEND INBOX \"31-Feb-2020 00:00:00 +0000\" {{3+}}\r\nabc"
    ))
    .await;
    let r = c.until_tag(&tag).await;
    assert_eq!(status_word(r.last().unwrap()), "BAD", "{r:?}");
    server.shutdown().await;
}

#[tokio::test]
async fn append_sync_and_nonsync_literals_with_appenduid() {
    let server = TestServer::start().await;
    let mut c = server.login("alice").await;
    let m1 = message("one", "first");
    let m2 = message("two", "second");
    let st1 = c.append("INBOX", "", &m1).await;
    let lines = append_nonsync(&mut c, "INBOX", "", &m2).await;
    // A non-synchronising literal gets no continuation request.
    assert!(!lines.iter().any(|l| l.starts_with('+')), "{lines:?}");
    assert_eq!(lines.len(), 1, "{lines:?}");
    let st2 = &lines[0];
    assert_eq!(status_word(st2), "OK", "{st2}");
    let a1 = tagged_code(&st1, "APPENDUID");
    let a2 = tagged_code(st2, "APPENDUID");
    assert_eq!(a1[0], a2[0], "same UIDVALIDITY");
    let (u1, u2): (u32, u32) = (a1[1].parse().unwrap(), a2[1].parse().unwrap());
    assert!(u2 > u1, "{st1} / {st2}");
    let sel = c.ok("SELECT INBOX").await;
    assert!(
        sel.contains(&format!("* OK [UIDVALIDITY {}] UIDs valid", a1[0])),
        "{sel:?}"
    );
    let f = c.ok("FETCH 1:2 (UID BODY.PEEK[])").await;
    assert_eq!(item(&f[0], "BODY[]").unwrap().as_bytes(), &m1[..]);
    assert_eq!(item(&f[1], "BODY[]").unwrap().as_bytes(), &m2[..]);
    assert!(
        f[0].starts_with(&format!("* 1 FETCH (UID {u1} ")),
        "{}",
        f[0]
    );
    assert!(
        f[1].starts_with(&format!("* 2 FETCH (UID {u2} ")),
        "{}",
        f[1]
    );
    server.shutdown().await;
}

#[tokio::test]
async fn append_to_missing_mailbox_is_trycreate() {
    let server = TestServer::start().await;
    let mut c = server.login("alice").await;
    let st = c.append("Nowhere", "", &message("x", "y")).await;
    assert!(st.starts_with("T2 NO [TRYCREATE]"), "{st}");
    let lines = append_nonsync(&mut c, "Nowhere", "(\\Seen) ", &message("x", "y")).await;
    assert!(lines[0].starts_with("T3 NO [TRYCREATE]"), "{lines:?}");
    c.ok("NOOP").await;
    server.shutdown().await;
}

#[tokio::test]
async fn append_over_appendlimit_is_toobig() {
    let server = TestServer::start_with(|c| c.limits.max_message_size = 1000).await;
    let mut c = server.login("alice").await;
    let caps = c.ok("CAPABILITY").await;
    assert!(caps[0].contains(" APPENDLIMIT=1000"), "{caps:?}");
    // Synchronising: refused at once, without `+`.
    c.send("A1 APPEND INBOX {2000}").await;
    let line = c.read_line().await;
    assert!(line.starts_with("A1 NO [TOOBIG]"), "{line}");
    // The session goes on: the client never sent the literal.
    c.ok("NOOP").await;
    // Non-synchronising: the literal is already on its way; the server
    // must skip it and answer the next command.
    let big = vec![b'x'; 2000];
    let mut bytes = b"A2 APPEND INBOX (\\Seen) {2000+}\r\n".to_vec();
    bytes.extend_from_slice(&big);
    bytes.extend_from_slice(b"\r\nA3 NOOP\r\n");
    c.send_raw(&bytes).await;
    let l2 = c.read_line().await;
    assert!(l2.starts_with("A2 NO [TOOBIG]"), "{l2}");
    let rest = c.until_tag("A3").await;
    assert!(rest.last().unwrap().starts_with("A3 OK"), "{rest:?}");
    // At the limit is fine.
    let mut exact = message("limit", "");
    exact.resize(1000, b'z');
    let st = c.append("INBOX", "", &exact).await;
    assert_eq!(status_word(&st), "OK", "{st}");
    let s = c.ok("STATUS INBOX (MESSAGES)").await;
    assert_eq!(s, vec!["* STATUS INBOX (MESSAGES 1)"]);
    server.shutdown().await;
}

#[tokio::test]
async fn append_several_megabytes_round_trips_exactly() {
    let server = TestServer::start().await;
    let mut c = server.login("alice").await;
    let mut msg = message("big", "").to_vec();
    msg.truncate(msg.len() - 2);
    let mut i = 0u64;
    while msg.len() < 5 * 1024 * 1024 {
        msg.extend_from_slice(format!("line {i:08} {}\r\n", "abcdefghij".repeat(7)).as_bytes());
        i += 1;
    }
    let st = c.append("INBOX", "", &msg).await;
    assert_eq!(status_word(&st), "OK", "{st}");
    c.ok("EXAMINE INBOX").await;
    let f = c.ok("FETCH 1 (RFC822.SIZE BODY.PEEK[])").await;
    assert_eq!(f.len(), 1);
    assert!(
        f[0].starts_with(&format!(
            "* 1 FETCH (RFC822.SIZE {} BODY[] {{{}}}\r\n",
            msg.len(),
            msg.len()
        )),
        "{}",
        &f[0][..100]
    );
    let got = item(&f[0], "BODY[]").unwrap();
    let first_diff = got.bytes().zip(msg.iter()).position(|(a, &b)| a != b);
    assert!(
        got.len() == msg.len() && first_diff.is_none(),
        "length {} vs {}, first difference at {first_diff:?}",
        got.len(),
        msg.len()
    );
    // A partial from deep inside the message.
    let f = c.ok("FETCH 1 BODY.PEEK[]<3000000.100>").await;
    let part = item(&f[0], "BODY[]<3000000>").unwrap();
    assert_eq!(part.as_bytes(), &msg[3_000_000..3_000_100]);
    server.shutdown().await;
}

#[tokio::test]
async fn append_to_selected_mailbox_reports_exists() {
    let server = TestServer::start().await;
    let mut c = server.login("alice").await;
    c.append("INBOX", "", &message("a", "a")).await;
    c.ok("SELECT INBOX").await;
    let tag = c.tag();
    let m = message("b", "b");
    c.send(&format!("{tag} APPEND INBOX {{{}}}", m.len())).await;
    assert!(c.read_line().await.starts_with('+'));
    c.send_raw(&m).await;
    c.send_raw(b"\r\n").await;
    let lines = c.until_tag(&tag).await;
    assert!(lines.contains(&"* 2 EXISTS".to_string()), "{lines:?}");
    assert_eq!(status_word(lines.last().unwrap()), "OK");
    // The new message is usable at once.
    let f = c.ok("FETCH 2 BODY.PEEK[TEXT]").await;
    assert_eq!(f, vec!["* 2 FETCH (BODY[TEXT] {3}\r\nb\r\n)"]);
    server.shutdown().await;
}

// ---------------------------------------------------------------------------
// FETCH
// ---------------------------------------------------------------------------

#[tokio::test]
async fn fetch_simple_attributes_and_macros() {
    let server = TestServer::start().await;
    let mut c = server.login("alice").await;
    let msg = message("hi", "hello");
    c.append("INBOX", "(\\Flagged) \"07-Feb-1994 21:52:25 -0800\"", &msg)
        .await;
    // Another session takes \Recent, so FLAGS is just what was stored.
    let mut other = server.login("alice").await;
    other.ok("SELECT INBOX").await;
    other.ok("LOGOUT").await;
    c.ok("EXAMINE INBOX").await;
    let size = msg.len();
    let env = "ENVELOPE (\"Mon, 7 Feb 1994 21:52:25 -0800\" \"hi\" \
               ((\"Alice\" NIL \"alice\" \"example.org\")) \
               ((\"Alice\" NIL \"alice\" \"example.org\")) \
               ((\"Alice\" NIL \"alice\" \"example.org\")) \
               ((\"Bob\" NIL \"bob\" \"example.org\")) NIL NIL NIL \"<hi@example.org>\")";
    let body = "BODY (\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 7 1)";
    let date = "INTERNALDATE \"07-Feb-1994 21:52:25 -0800\"";
    assert_eq!(
        c.ok("FETCH 1 (FLAGS INTERNALDATE RFC822.SIZE UID)").await,
        vec![format!(
            "* 1 FETCH (FLAGS (\\Flagged) {date} RFC822.SIZE {size} UID 1)"
        )]
    );
    assert_eq!(
        c.ok("FETCH 1 ENVELOPE").await,
        vec![format!("* 1 FETCH ({env})")]
    );
    // Type, subtype, parameter names and encodings are case-insensitive.
    let f = c.ok("FETCH 1 BODY").await;
    assert_eq!(f.len(), 1);
    assert_eq!(lc(&f[0]), lc(&format!("* 1 FETCH ({body})")));
    let bs = c.ok("FETCH 1 BODYSTRUCTURE").await;
    assert_eq!(bs.len(), 1);
    assert!(
        lc(&bs[0]).starts_with(&lc(
            "* 1 FETCH (BODYSTRUCTURE (\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 7 1"
        )),
        "{}",
        bs[0]
    );
    // Macros expand to exactly their attributes.
    let fast = c.ok("FETCH 1 FAST").await;
    assert_eq!(fast.len(), 1);
    for part in ["FLAGS (\\Flagged)", date, &format!("RFC822.SIZE {size}")] {
        assert!(fast[0].contains(part), "{part} missing: {}", fast[0]);
    }
    assert!(!fast[0].contains("ENVELOPE"), "{}", fast[0]);
    let all = c.ok("FETCH 1 ALL").await;
    assert!(
        all[0].contains(env) && !all[0].contains("BODY"),
        "{}",
        all[0]
    );
    let full = c.ok("FETCH 1 FULL").await;
    assert!(
        full[0].contains(env) && lc(&full[0]).contains(&lc(body)),
        "{}",
        full[0]
    );
    for part in ["FLAGS (\\Flagged)", date, &format!("RFC822.SIZE {size}")] {
        assert!(all[0].contains(part) && full[0].contains(part), "{part}");
    }
    server.shutdown().await;
}

#[tokio::test]
async fn fetch_rfc822_items() {
    let server = TestServer::start().await;
    let mut c = server.login("alice").await;
    let msg = message("hi", "hello");
    c.append("INBOX", "", &msg).await;
    c.ok("EXAMINE INBOX").await;
    let text = std::str::from_utf8(&msg).unwrap();
    let split = text.find("\r\n\r\n").unwrap() + 4;
    let f = c.ok("FETCH 1 (RFC822.HEADER RFC822.TEXT RFC822)").await;
    assert_eq!(
        f,
        vec![format!(
            "* 1 FETCH (RFC822.HEADER {{{}}}\r\n{} RFC822.TEXT {{{}}}\r\n{} RFC822 {{{}}}\r\n{})",
            split,
            &text[..split],
            text.len() - split,
            &text[split..],
            text.len(),
            text
        )]
    );
    server.shutdown().await;
}

#[tokio::test]
async fn fetch_body_sections_byte_exact() {
    let server = TestServer::start().await;
    let mut c = server.login("alice").await;
    c.append("INBOX", "", MULTI.as_bytes()).await;
    c.ok("EXAMINE INBOX").await;
    let s = sections();
    let cases: [(&str, &str); 14] = [
        ("", MULTI),
        ("HEADER", &s.header),
        ("TEXT", &s.text),
        ("1", &s.p1),
        ("1.MIME", &s.p1_mime),
        ("2", &s.p2),
        ("2.MIME", &s.p2_mime),
        ("2.HEADER", &s.p2_header),
        ("2.TEXT", &s.p2_text),
        ("2.1", &s.p21),
        ("2.1.MIME", &s.p21_mime),
        ("2.2", &s.p22),
        ("3", &s.p3),
        (
            "3.MIME",
            &MULTI[MULTI.find("Content-Type: application").unwrap()..MULTI.find("AAEC").unwrap()],
        ),
    ];
    for (section, want) in cases {
        let f = c.ok(&format!("FETCH 1 BODY.PEEK[{section}]")).await;
        assert_eq!(f.len(), 1, "{section}: {f:?}");
        let got = item(&f[0], &format!("BODY[{section}]"));
        assert_eq!(got.as_deref(), Some(want), "section {section}: {}", f[0]);
        // The literal is the last thing before the closing parenthesis.
        assert!(f[0].ends_with(&format!("{want})")), "section {section}");
    }
    // Spot-check the computed expectations themselves.
    assert_eq!(s.p1, "Hello, this is the first part.");
    assert_eq!(s.p21, "Inner plain text.");
    assert_eq!(s.p3, "AAECAwQF");
    assert!(s.p2.starts_with("From: Inner") && s.p2.ends_with("--inner--"));
    server.shutdown().await;
}

#[tokio::test]
async fn fetch_header_fields() {
    let server = TestServer::start().await;
    let mut c = server.login("alice").await;
    c.append("INBOX", "", MULTI.as_bytes()).await;
    c.ok("EXAMINE INBOX").await;
    let f = c
        .ok("FETCH 1 BODY.PEEK[HEADER.FIELDS (SUBJECT FROM X-NOT-THERE)]")
        .await;
    // Fields in message order; the blank line is included.
    let want = "From: \"Alice Example\" <alice@example.org>\r\nSubject: Multipart test\r\n\r\n";
    assert_eq!(
        item(&f[0], "BODY[HEADER.FIELDS (SUBJECT FROM X-NOT-THERE)]").as_deref(),
        Some(want),
        "{}",
        f[0]
    );
    // Field names match case-insensitively.
    let f = c.ok("FETCH 1 BODY.PEEK[HEADER.FIELDS (message-id)]").await;
    assert!(
        f[0].contains("{35}\r\nMessage-ID: <multi@example.org>\r\n\r\n)"),
        "{}",
        f[0]
    );
    let f = c
        .ok("FETCH 1 BODY.PEEK[HEADER.FIELDS.NOT (TO CC BCC DATE MESSAGE-ID IN-REPLY-TO MIME-VERSION CONTENT-TYPE)]")
        .await;
    let got = item(
        &f[0],
        "BODY[HEADER.FIELDS.NOT (TO CC BCC DATE MESSAGE-ID IN-REPLY-TO MIME-VERSION CONTENT-TYPE)]",
    );
    assert_eq!(got.as_deref(), Some(want), "{}", f[0]);
    // Inside the message/rfc822 part.
    let f = c.ok("FETCH 1 BODY.PEEK[2.HEADER.FIELDS (SUBJECT)]").await;
    assert_eq!(
        item(&f[0], "BODY[2.HEADER.FIELDS (SUBJECT)]").as_deref(),
        Some("Subject: Inner message\r\n\r\n"),
        "{}",
        f[0]
    );
    // A partial of a field subset is taken after subsetting.
    let f = c
        .ok("FETCH 1 BODY.PEEK[HEADER.FIELDS (SUBJECT)]<9.9>")
        .await;
    assert_eq!(
        item(&f[0], "BODY[HEADER.FIELDS (SUBJECT)]<9>").as_deref(),
        Some("Multipart"),
        "{}",
        f[0]
    );
    // Several subsets in one FETCH (the store hands over their union),
    // and a subset beside the whole header (it hands over all of it).
    let f = c
        .ok("FETCH 1 (BODY.PEEK[HEADER.FIELDS (SUBJECT)] BODY.PEEK[HEADER.FIELDS (From)])")
        .await;
    assert_eq!(
        item(&f[0], "BODY[HEADER.FIELDS (SUBJECT)]").as_deref(),
        Some("Subject: Multipart test\r\n\r\n"),
        "{}",
        f[0]
    );
    assert_eq!(
        item(&f[0], "BODY[HEADER.FIELDS (FROM)]").as_deref(),
        Some("From: \"Alice Example\" <alice@example.org>\r\n\r\n"),
        "{}",
        f[0]
    );
    let f = c
        .ok("FETCH 1 (BODY.PEEK[HEADER.FIELDS (SUBJECT)] BODY.PEEK[HEADER])")
        .await;
    let header = &MULTI[..MULTI.find("\r\n\r\n").unwrap() + 4];
    assert_eq!(
        item(&f[0], "BODY[HEADER]").as_deref(),
        Some(header),
        "{}",
        f[0]
    );
    assert_eq!(
        item(&f[0], "BODY[HEADER.FIELDS (SUBJECT)]").as_deref(),
        Some("Subject: Multipart test\r\n\r\n"),
        "{}",
        f[0]
    );
    server.shutdown().await;
}

#[tokio::test]
async fn fetch_partials() {
    let server = TestServer::start().await;
    let mut c = server.login("alice").await;
    c.append("INBOX", "", MULTI.as_bytes()).await;
    c.ok("EXAMINE INBOX").await;
    let n = MULTI.len();
    let f = c.ok("FETCH 1 BODY.PEEK[]<0.10>").await;
    assert_eq!(
        f,
        vec![format!("* 1 FETCH (BODY[]<0> {{10}}\r\n{})", &MULTI[..10])]
    );
    let f = c.ok("FETCH 1 BODY.PEEK[TEXT]<5.7>").await;
    let text = &sections().text;
    assert_eq!(
        item(&f[0], "BODY[TEXT]<5>").as_deref(),
        Some(&text[5..12]),
        "{}",
        f[0]
    );
    // Running past the end is truncated; it is still a partial response.
    let f = c.ok(&format!("FETCH 1 BODY.PEEK[]<{}.100>", n - 5)).await;
    assert_eq!(
        item(&f[0], &format!("BODY[]<{}>", n - 5)).as_deref(),
        Some(&MULTI[n - 5..]),
        "{}",
        f[0]
    );
    let f = c.ok(&format!("FETCH 1 BODY.PEEK[]<0.{}>", n + 1000)).await;
    assert_eq!(item(&f[0], "BODY[]<0>").as_deref(), Some(MULTI));
    // Starting beyond the end gives an empty string.
    let f = c.ok(&format!("FETCH 1 BODY.PEEK[]<{}.10>", n + 50)).await;
    assert_eq!(
        item(&f[0], &format!("BODY[]<{}>", n + 50)).as_deref(),
        Some(""),
        "{}",
        f[0]
    );
    let f = c.ok("FETCH 1 BODY.PEEK[1]<1000.10>").await;
    assert_eq!(
        item(&f[0], "BODY[1]<1000>").as_deref(),
        Some(""),
        "{}",
        f[0]
    );
    let f = c.ok("FETCH 1 BODY.PEEK[2.1]<6.4>").await;
    assert_eq!(
        item(&f[0], "BODY[2.1]<6>").as_deref(),
        Some("plai"),
        "{}",
        f[0]
    );
    server.shutdown().await;
}

#[tokio::test]
async fn fetch_nonexistent_part_is_nil() {
    let server = TestServer::start().await;
    let mut c = server.login("alice").await;
    c.append("INBOX", "", MULTI.as_bytes()).await;
    c.append("INBOX", "", &message("plain", "text")).await;
    c.ok("EXAMINE INBOX").await;
    // (Whether `1.1` of a non-multipart part 1 is that part itself or
    // nothing is left open, as servers differ.)
    for section in ["4", "2.3", "1.2", "2.1.2", "9.9.9"] {
        let f = c.ok(&format!("FETCH 1 BODY.PEEK[{section}]")).await;
        assert_eq!(f, vec![format!("* 1 FETCH (BODY[{section}] NIL)")]);
    }
    // A non-multipart message has exactly one part, numbered 1.
    let f = c.ok("FETCH 2 BODY.PEEK[1]").await;
    assert_eq!(f, vec!["* 2 FETCH (BODY[1] {6}\r\ntext\r\n)"]);
    let f = c.ok("FETCH 2 BODY.PEEK[2]").await;
    assert_eq!(f, vec!["* 2 FETCH (BODY[2] NIL)"]);
    server.shutdown().await;
}

#[tokio::test]
async fn fetch_multipart_body_and_bodystructure() {
    let server = TestServer::start().await;
    let mut c = server.login("alice").await;
    c.append("INBOX", "", MULTI.as_bytes()).await;
    c.ok("EXAMINE INBOX").await;
    let s = sections();
    let f = c.ok("FETCH 1 (ENVELOPE BODY)").await;
    assert_eq!(f.len(), 1);
    let env = "ENVELOPE (\"Tue, 01 Mar 2022 10:00:00 +0000\" \"Multipart test\" \
               ((\"Alice Example\" NIL \"alice\" \"example.org\")) \
               ((\"Alice Example\" NIL \"alice\" \"example.org\")) \
               ((\"Alice Example\" NIL \"alice\" \"example.org\")) \
               ((\"Bob\" NIL \"bob\" \"example.org\")(NIL NIL \"carol\" \"example.org\")) \
               ((\"Dave\" NIL \"dave\" \"example.org\")) \
               ((NIL NIL \"eve\" \"example.org\")) \
               \"<parent@example.org>\" \"<multi@example.org>\")";
    assert!(f[0].contains(env), "{}", f[0]);
    let body = lc(&f[0][f[0].find("BODY (").unwrap()..]);
    assert!(
        body.starts_with(&lc(
            "BODY ((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"us-ascii\") NIL NIL \"7BIT\" 30 "
        )),
        "{body}"
    );
    assert!(
        body.contains(&lc(&format!(
            "(\"MESSAGE\" \"RFC822\" NIL NIL NIL \"7BIT\" {} (NIL \"Inner message\" ((\"Inner\" NIL \"inner\" \"example.org\"))",
            s.p2.len()
        ))),
        "{body}"
    );
    assert!(
        body.contains(&lc(
            "(\"APPLICATION\" \"OCTET-STREAM\" NIL NIL NIL \"BASE64\" 8)"
        )),
        "{body}"
    );
    assert!(body.ends_with(" \"mixed\"))"), "{body}");
    // The inner multipart/alternative appears inside the message/rfc822 part.
    assert!(body.contains(" \"alternative\")"), "{body}");
    let f = c.ok("FETCH 1 BODYSTRUCTURE").await;
    assert!(
        lc(&f[0]).contains("\"mixed\" (\"boundary\" \"outer\")"),
        "{}",
        f[0]
    );
    assert!(
        lc(&f[0]).contains("\"alternative\" (\"boundary\" \"inner\")"),
        "{}",
        f[0]
    );
    server.shutdown().await;
}

#[tokio::test]
async fn fetch_seen_semantics() {
    let server = TestServer::start().await;
    let mut c = server.login("alice").await;
    for i in 1..=5 {
        c.append("INBOX", "", &message(&format!("m{i}"), "body"))
            .await;
    }
    // Claim \Recent in another session so that flags are predictable.
    let mut other = server.login("alice").await;
    other.ok("SELECT INBOX").await;
    other.ok("LOGOUT").await;
    c.ok("SELECT INBOX").await;

    // PEEK sets nothing.
    let f = c
        .ok("FETCH 1 (BODY.PEEK[TEXT] BODY.PEEK[HEADER] RFC822.HEADER)")
        .await;
    assert_eq!(f.len(), 1);
    assert!(!f[0].contains("FLAGS"), "{}", f[0]);
    assert_eq!(c.ok("FETCH 1 FLAGS").await, vec!["* 1 FETCH (FLAGS ())"]);

    // BODY[...] sets \Seen and says so.
    let f = c.ok("FETCH 1 BODY[TEXT]").await;
    assert_eq!(f.len(), 1);
    assert!(f[0].contains("BODY[TEXT] {6}\r\nbody\r\n"), "{}", f[0]);
    assert_eq!(flags_in(&f[0]), set(&["\\Seen"]), "{}", f[0]);
    // A second fetch changes nothing, so no FLAGS is needed.
    let f = c.ok("FETCH 1 BODY[TEXT]").await;
    assert!(!f[0].contains("FLAGS"), "{}", f[0]);

    // RFC822 and RFC822.TEXT set \Seen too.
    let f = c.ok("FETCH 2 RFC822").await;
    assert_eq!(flags_in(&f[0]), set(&["\\Seen"]), "{}", f[0]);
    let f = c.ok("FETCH 3 RFC822.TEXT").await;
    assert_eq!(flags_in(&f[0]), set(&["\\Seen"]), "{}", f[0]);
    // When FLAGS was asked for, it appears once, with \Seen.
    let f = c.ok("FETCH 4 (FLAGS BODY[HEADER])").await;
    assert_eq!(f[0].matches("FLAGS").count(), 1, "{}", f[0]);
    assert_eq!(flags_in(&f[0]), set(&["\\Seen"]), "{}", f[0]);

    let lines = c.ok("SEARCH UNSEEN").await;
    assert_eq!(search_result(&lines), vec![5]);

    // EXAMINE is read-only: no \Seen.
    c.ok("EXAMINE INBOX").await;
    let f = c.ok("FETCH 5 BODY[]").await;
    assert!(!f[0].contains("FLAGS"), "{}", f[0]);
    assert_eq!(c.ok("FETCH 5 FLAGS").await, vec!["* 5 FETCH (FLAGS ())"]);
    server.shutdown().await;
}

#[tokio::test]
async fn fetch_sequence_numbers_uids_and_star() {
    let server = TestServer::start().await;
    let mut c = server.login("alice").await;
    for i in 1..=3 {
        c.append("INBOX", "", &message(&format!("m{i}"), "b")).await;
    }
    c.ok("SELECT INBOX").await;
    // Make UIDs differ from sequence numbers: expunge the first message.
    c.ok("STORE 1 +FLAGS.SILENT (\\Deleted)").await;
    c.ok("EXPUNGE").await;
    // Now seq 1 = UID 2, seq 2 = UID 3.
    assert_eq!(c.ok("FETCH * UID").await, vec!["* 2 FETCH (UID 3)"]);
    assert_eq!(
        c.ok("FETCH 1:* UID").await,
        vec!["* 1 FETCH (UID 2)", "* 2 FETCH (UID 3)"]
    );
    // Beyond EXISTS is an error.
    let st = c.status("FETCH 3 UID").await;
    assert_eq!(status_word(&st), "BAD", "{st}");
    let st = c.status("FETCH 1:5 FLAGS").await;
    assert_eq!(status_word(&st), "BAD", "{st}");
    let st = c.status("FETCH 0 FLAGS").await;
    assert_eq!(status_word(&st), "BAD", "{st}");
    // UID FETCH always carries UID, and skips UIDs that do not exist.
    let f = c.ok("UID FETCH 1:10 FLAGS").await;
    assert_eq!(f.len(), 2, "{f:?}");
    assert!(
        f[0].starts_with("* 1 FETCH (") && f[0].contains("UID 2"),
        "{}",
        f[0]
    );
    assert!(
        f[1].starts_with("* 2 FETCH (") && f[1].contains("UID 3"),
        "{}",
        f[1]
    );
    assert_eq!(c.ok("UID FETCH 1 FLAGS").await, Vec::<String>::new());
    assert_eq!(c.ok("UID FETCH 50:60 FLAGS").await, Vec::<String>::new());
    // UID * is the highest UID; `n:*` includes it even when n is larger.
    assert_eq!(c.ok("UID FETCH * UID").await, vec!["* 2 FETCH (UID 3)"]);
    assert_eq!(c.ok("UID FETCH 100:* UID").await, vec!["* 2 FETCH (UID 3)"]);
    server.shutdown().await;
}

// ---------------------------------------------------------------------------
// STORE
// ---------------------------------------------------------------------------

/// A server with `n` messages in INBOX, selected by a client that holds
/// no `\Recent` for them.
async fn selected_with(n: usize) -> (TestServer, Client) {
    let server = TestServer::start().await;
    let mut c = server.login("alice").await;
    for i in 1..=n {
        c.append(
            "INBOX",
            "",
            &message(&format!("m{i}"), &format!("body {i}")),
        )
        .await;
    }
    let mut other = server.login("alice").await;
    other.ok("SELECT INBOX").await;
    other.ok("LOGOUT").await;
    c.ok("SELECT INBOX").await;
    (server, c)
}

#[tokio::test]
async fn store_replace_add_remove() {
    let (server, mut c) = selected_with(2).await;
    let f = c.ok("STORE 1 FLAGS (\\Seen \\Flagged)").await;
    assert_eq!(f.len(), 1, "{f:?}");
    assert!(f[0].starts_with("* 1 FETCH ("), "{}", f[0]);
    assert_eq!(flags_in(&f[0]), set(&["\\Seen", "\\Flagged"]));
    let f = c.ok("STORE 1 +FLAGS (\\Answered \\Draft)").await;
    assert_eq!(
        flags_in(&f[0]),
        set(&["\\Seen", "\\Flagged", "\\Answered", "\\Draft"])
    );
    let f = c.ok("STORE 1 -FLAGS (\\Flagged \\Draft)").await;
    assert_eq!(flags_in(&f[0]), set(&["\\Seen", "\\Answered"]));
    let f = c.ok("STORE 1 FLAGS ()").await;
    assert_eq!(flags_in(&f[0]), set(&[]));
    // A flag list without parentheses is allowed too.
    let f = c.ok("STORE 1:2 +FLAGS \\Deleted").await;
    assert_eq!(f.len(), 2, "{f:?}");
    assert!(f[0].starts_with("* 1 FETCH (") && f[1].starts_with("* 2 FETCH ("));
    for l in &f {
        assert_eq!(flags_in(l), set(&["\\Deleted"]));
    }
    // Flags are case-insensitive on input.
    let f = c.ok("STORE 2 FLAGS (\\SEEN)").await;
    assert_eq!(flags_in(&f[0]), set(&["\\Seen"]));
    server.shutdown().await;
}

#[tokio::test]
async fn store_silent_sends_no_fetch() {
    let (server, mut c) = selected_with(2).await;
    assert_eq!(
        c.ok("STORE 1:2 +FLAGS.SILENT (\\Seen)").await,
        Vec::<String>::new()
    );
    assert_eq!(
        c.ok("STORE 1 -FLAGS.SILENT (\\Seen)").await,
        Vec::<String>::new()
    );
    assert_eq!(
        c.ok("STORE 2 FLAGS.SILENT (\\Flagged)").await,
        Vec::<String>::new()
    );
    let f = c.ok("FETCH 1:2 FLAGS").await;
    assert_eq!(flags_in(&f[0]), set(&[]));
    assert_eq!(flags_in(&f[1]), set(&["\\Flagged"]));
    server.shutdown().await;
}

#[tokio::test]
async fn store_keywords_appear_in_flags() {
    let (server, mut c) = selected_with(2).await;
    let f = c.ok("STORE 1 +FLAGS ($Important Work)").await;
    let flags_line = f
        .iter()
        .find(|l| l.starts_with("* FLAGS "))
        .unwrap_or_else(|| panic!("no FLAGS for the new keywords: {f:?}"));
    let defined = flags_in(flags_line);
    assert!(
        defined.contains("$Important") && defined.contains("Work"),
        "{flags_line}"
    );
    let fetch = f.iter().find(|l| l.starts_with("* 1 FETCH")).unwrap();
    assert_eq!(flags_in(fetch), set(&["$Important", "Work"]));
    // Setting a known keyword again does not resend FLAGS.
    let f = c.ok("STORE 2 +FLAGS (Work)").await;
    assert!(!f.iter().any(|l| l.starts_with("* FLAGS")), "{f:?}");
    let f = c.ok("STORE 1 -FLAGS (Work)").await;
    assert_eq!(flags_in(&f[0]), set(&["$Important"]));
    // Keywords survive a re-select and are searchable.
    let sel = c.ok("SELECT INBOX").await;
    let flags_line = sel.iter().find(|l| l.starts_with("* FLAGS ")).unwrap();
    assert!(flags_in(flags_line).contains("$Important"), "{flags_line}");
    assert_eq!(search_result(&c.ok("SEARCH KEYWORD Work").await), vec![2]);
    assert_eq!(
        search_result(&c.ok("SEARCH KEYWORD $important").await),
        vec![1]
    );
    server.shutdown().await;
}

#[tokio::test]
async fn uid_store_includes_uid() {
    let (server, mut c) = selected_with(3).await;
    let f = c.ok("UID STORE 2:3 +FLAGS (\\Flagged)").await;
    assert_eq!(f.len(), 2, "{f:?}");
    assert!(
        f[0].starts_with("* 2 FETCH (") && f[0].contains("UID 2"),
        "{}",
        f[0]
    );
    assert!(
        f[1].starts_with("* 3 FETCH (") && f[1].contains("UID 3"),
        "{}",
        f[1]
    );
    // Unknown UIDs are no error.
    assert_eq!(
        c.ok("UID STORE 10:20 +FLAGS (\\Flagged)").await,
        Vec::<String>::new()
    );
    server.shutdown().await;
}

#[tokio::test]
async fn store_recent_invalid_flags_and_read_only() {
    let (server, mut c) = selected_with(2).await;
    // \Recent is the server's to set: storing it never makes it appear.
    let _ = c.cmd("STORE 1 +FLAGS (\\Recent)").await;
    let f = c.ok("FETCH 1 FLAGS").await;
    assert!(!flags_in(&f[0]).contains("\\Recent"), "{}", f[0]);
    assert_eq!(
        search_result(&c.ok("SEARCH RECENT").await),
        Vec::<u32>::new()
    );
    // An unknown system flag is an error, and nothing changes.
    let st = c.status("STORE 1 +FLAGS (\\Seen \\Bogus)").await;
    assert_eq!(status_word(&st), "BAD", "{st}");
    let f = c.ok("FETCH 1 FLAGS").await;
    assert_eq!(flags_in(&f[0]), set(&[]));
    // Syntax errors.
    for bad in [
        "STORE 1 +FLAGS (\\Seen",
        "STORE 1 FLAGZ (\\Seen)",
        "STORE 1 +FLAGS (a\"b)",
        "STORE 3 +FLAGS (\\Seen)",
    ] {
        let st = c.status(bad).await;
        assert_eq!(status_word(&st), "BAD", "{bad}: {st}");
    }
    // EXAMINE: read-only.
    c.ok("EXAMINE INBOX").await;
    let st = c.status("STORE 1 +FLAGS (\\Seen)").await;
    assert_eq!(status_word(&st), "NO", "{st}");
    let st = c.status("UID STORE 1 +FLAGS (\\Seen)").await;
    assert_eq!(status_word(&st), "NO", "{st}");
    let f = c.ok("FETCH 1 FLAGS").await;
    assert_eq!(flags_in(&f[0]), set(&[]));
    server.shutdown().await;
}

// ---------------------------------------------------------------------------
// SEARCH
// ---------------------------------------------------------------------------

fn big_body() -> String {
    let mut s = String::new();
    for i in 0..60 {
        s.push_str(&format!(
            "Line {i:03}: lorem ipsum dolor sit amet, consectetur adipiscing.\r\n"
        ));
    }
    s
}

/// Five messages with known properties; message 5 arrives after the
/// others were claimed as `\Recent` elsewhere, so only it is recent.
async fn search_corpus() -> (TestServer, Client, Vec<Vec<u8>>) {
    let server = TestServer::start().await;
    let mut c = server.login("alice").await;
    let m1 = "From: Alice Anders <alice@example.org>\r\n\
To: Bob Brown <bob@example.org>\r\n\
Cc: Carol Clark <carol@example.org>\r\n\
Bcc: Dave Davis <dave@example.org>\r\n\
Subject: Quarterly report\r\n\
Date: Wed, 01 Jan 2020 09:00:00 +0000\r\n\
Message-ID: <m1@example.org>\r\n\
\r\n\
The numbers look GOOD this quarter.\r\n"
        .as_bytes()
        .to_vec();
    let m2 = "From: Bob Brown <bob@example.org>\r\n\
To: Alice Anders <alice@example.org>\r\n\
Subject: =?UTF-8?Q?Gr=C3=BC=C3=9Fe_aus_K=C3=B6ln?=\r\n\
Date: Tue, 15 Jun 2021 12:00:00 +0200\r\n\
Message-ID: <m2@example.org>\r\n\
In-Reply-To: <m1@example.org>\r\n\
MIME-Version: 1.0\r\n\
Content-Type: text/plain; charset=utf-8\r\n\
Content-Transfer-Encoding: 8bit\r\n\
\r\n\
Sch\u{f6}ne Gr\u{fc}\u{df}e vom Rhein.\r\n"
        .as_bytes()
        .to_vec();
    let m3 = "From: Carol Clark <carol@example.org>\r\n\
To: Bob Brown <bob@example.org>\r\n\
Subject: Lunch?\r\n\
Date: Wed, 02 Feb 2022 11:30:00 -0500\r\n\
Message-ID: <m3@example.org>\r\n\
\r\n\
Pizza or sushi?\r\n"
        .as_bytes()
        .to_vec();
    let m4 = format!(
        "From: Dave Davis <dave@example.org>\r\n\
To: alice@example.org\r\n\
Subject: Big attachment\r\n\
Date: Fri, 10 Mar 2023 08:00:00 +0000\r\n\
Message-ID: <m4@example.org>\r\n\
\r\n\
{}",
        big_body()
    )
    .into_bytes();
    let m5 = "From: Eve <eve@example.org>\r\n\
To: Bob Brown <bob@example.org>\r\n\
Subject: New arrival\r\n\
Date: Sat, 20 Apr 2024 10:00:00 +0000\r\n\
Message-ID: <m5@example.org>\r\n\
\r\n\
Fresh.\r\n"
        .as_bytes()
        .to_vec();
    let args = [
        "(\\Answered \\Seen $Work) \"01-Jan-2020 10:00:00 +0000\"",
        "(\\Flagged) \"15-Jun-2021 12:00:00 +0200\"",
        "(\\Deleted \\Draft) \"02-Feb-2022 11:30:00 -0500\"",
        "($Later) \"10-Mar-2023 08:00:00 +0000\"",
    ];
    for (m, a) in [&m1, &m2, &m3, &m4].into_iter().zip(args) {
        let st = c.append("INBOX", a, m).await;
        assert_eq!(status_word(&st), "OK", "{st}");
    }
    let mut other = server.login("alice").await;
    other.ok("SELECT INBOX").await;
    other.ok("LOGOUT").await;
    let st = c
        .append("INBOX", "() \"20-Apr-2024 10:00:00 +0000\"", &m5)
        .await;
    assert_eq!(status_word(&st), "OK", "{st}");
    c.ok("SELECT INBOX").await;
    (server, c, vec![m1, m2, m3, m4, m5])
}

#[tokio::test]
async fn search_every_key() {
    let (server, mut c, msgs) = search_corpus().await;
    assert!(
        msgs[3].len() > 3000
            && msgs
                .iter()
                .enumerate()
                .all(|(i, m)| i == 3 || m.len() < 1000)
    );
    let cases: &[(&str, &[u32])] = &[
        ("ALL", &[1, 2, 3, 4, 5]),
        ("ANSWERED", &[1]),
        ("UNANSWERED", &[2, 3, 4, 5]),
        ("BCC dave", &[1]),
        ("BCC \"Davis\"", &[1]),
        ("CC carol", &[1]),
        ("CC bob", &[]),
        ("BEFORE 1-Jan-2021", &[1]),
        ("BEFORE 01-Jan-2020", &[]),
        ("BEFORE 2-Jan-2020", &[1]),
        ("ON 15-Jun-2021", &[2]),
        ("ON \"2-Feb-2022\"", &[3]),
        ("SINCE 2-Feb-2022", &[3, 4, 5]),
        ("SINCE 3-Feb-2022", &[4, 5]),
        ("BODY good", &[1]),
        ("BODY \"NUMBERS LOOK\"", &[1]),
        ("BODY quarterly", &[]),
        ("BODY ipsum", &[4]),
        ("DELETED", &[3]),
        ("UNDELETED", &[1, 2, 4, 5]),
        ("DRAFT", &[3]),
        ("UNDRAFT", &[1, 2, 4, 5]),
        ("FLAGGED", &[2]),
        ("UNFLAGGED", &[1, 3, 4, 5]),
        ("FROM alice", &[1]),
        ("FROM ALICE", &[1]),
        ("FROM \"Carol Clark\"", &[3]),
        ("FROM example.org", &[1, 2, 3, 4, 5]),
        ("HEADER Message-ID \"<m3@example.org>\"", &[3]),
        ("HEADER MESSAGE-ID m4@", &[4]),
        ("HEADER In-Reply-To \"<m1@example.org>\"", &[2]),
        ("HEADER In-Reply-To \"\"", &[2]),
        ("HEADER X-Missing \"\"", &[]),
        ("HEADER Content-Type utf-8", &[2]),
        ("KEYWORD $Work", &[1]),
        ("KEYWORD $Later", &[4]),
        ("KEYWORD $Nothing", &[]),
        ("UNKEYWORD $Work", &[2, 3, 4, 5]),
        ("LARGER 3000", &[4]),
        ("SMALLER 3000", &[1, 2, 3, 5]),
        ("NEW", &[5]),
        ("OLD", &[1, 2, 3, 4]),
        ("RECENT", &[5]),
        ("NOT FROM alice", &[2, 3, 4, 5]),
        ("NOT NOT SEEN", &[1]),
        ("OR FROM carol FROM dave", &[3, 4]),
        ("OR (FROM bob FLAGGED) SUBJECT lunch", &[2, 3]),
        ("SEEN", &[1]),
        ("UNSEEN", &[2, 3, 4, 5]),
        ("SENTBEFORE 1-Jun-2021", &[1]),
        ("SENTBEFORE 1-Jan-2020", &[]),
        ("SENTON 15-Jun-2021", &[2]),
        ("SENTSINCE 2-Feb-2022", &[3, 4, 5]),
        ("SENTSINCE 11-Mar-2023", &[5]),
        ("SUBJECT lunch", &[3]),
        ("SUBJECT \"QUARTERLY REP\"", &[1]),
        // RFC 2047: found by the decoded text, not the encoded form.
        ("SUBJECT \"e aus K\"", &[2]),
        ("SUBJECT \"UTF-8?Q\"", &[]),
        ("TEXT report", &[1]),
        ("TEXT pizza", &[3]),
        ("TEXT m5@example", &[5]),
        ("TO bob", &[1, 3, 5]),
        ("TO Alice", &[2, 4]),
        ("UID 2:3", &[2, 3]),
        ("UID 4:*", &[4, 5]),
        ("UID 9", &[]),
        ("2,4:*", &[2, 4, 5]),
        ("*", &[5]),
        ("1:2 SEEN", &[1]),
        ("(FROM bob SEEN)", &[]),
        ("(FROM alice SEEN)", &[1]),
        ("((FROM alice) (OR SEEN FLAGGED))", &[1]),
        ("FROM example.org UNSEEN NOT DELETED", &[2, 4, 5]),
        ("OR OR ANSWERED FLAGGED DRAFT", &[1, 2, 3]),
        ("LARGER 100 SMALLER 2000 NOT RECENT", &[1, 2, 3]),
    ];
    let mut failures = Vec::new();
    for (criteria, want) in cases {
        let lines = c.ok(&format!("SEARCH {criteria}")).await;
        let got = search_result(&lines);
        if got != *want {
            failures.push(format!("SEARCH {criteria}: got {got:?}, want {want:?}"));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
    // Exact response form.
    assert_eq!(
        c.ok("SEARCH OR FROM carol FROM dave").await,
        vec!["* SEARCH 3 4"]
    );
    assert_eq!(c.ok("SEARCH KEYWORD $Nothing").await, vec!["* SEARCH"]);
    server.shutdown().await;
}

#[tokio::test]
async fn search_sizes_are_exact() {
    let (server, mut c, msgs) = search_corpus().await;
    let n = msgs[0].len();
    assert_eq!(
        search_result(&c.ok(&format!("SEARCH LARGER {n} UID 1")).await),
        Vec::<u32>::new()
    );
    assert_eq!(
        search_result(&c.ok(&format!("SEARCH LARGER {} UID 1", n - 1)).await),
        vec![1]
    );
    assert_eq!(
        search_result(&c.ok(&format!("SEARCH SMALLER {n} UID 1")).await),
        Vec::<u32>::new()
    );
    assert_eq!(
        search_result(&c.ok(&format!("SEARCH SMALLER {} UID 1", n + 1)).await),
        vec![1]
    );
    server.shutdown().await;
}

#[tokio::test]
async fn search_charset_utf8_literals() {
    let (server, mut c, _) = search_corpus().await;
    let lines = cmd_with_literal(&mut c, "SEARCH CHARSET UTF-8 SUBJECT", "Grüße".as_bytes()).await;
    assert_eq!(status_word(lines.last().unwrap()), "OK", "{lines:?}");
    assert_eq!(search_result(&lines), vec![2]);
    let lines = cmd_with_literal(&mut c, "SEARCH CHARSET UTF-8 SUBJECT", "köln".as_bytes()).await;
    assert_eq!(search_result(&lines), vec![2]);
    let lines = cmd_with_literal(&mut c, "SEARCH CHARSET UTF-8 BODY", "schöne".as_bytes()).await;
    assert_eq!(search_result(&lines), vec![2]);
    let lines = cmd_with_literal(&mut c, "SEARCH CHARSET utf-8 TEXT", "grüße".as_bytes()).await;
    assert_eq!(search_result(&lines), vec![2]);
    // Non-synchronising literal.
    let tag = c.tag();
    let word = "Köln".as_bytes();
    let mut bytes = format!(
        "{tag} UID SEARCH CHARSET UTF-8 SUBJECT {{{}+}}\r\n",
        word.len()
    )
    .into_bytes();
    bytes.extend_from_slice(word);
    bytes.extend_from_slice(b" UNSEEN\r\n");
    c.send_raw(&bytes).await;
    let lines = c.until_tag(&tag).await;
    assert_eq!(search_result(&lines), vec![2], "{lines:?}");
    // US-ASCII is always accepted.
    assert_eq!(
        search_result(&c.ok("SEARCH CHARSET US-ASCII SUBJECT lunch").await),
        vec![3]
    );
    // Unknown charset: NO [BADCHARSET ...].
    let st = c
        .status("SEARCH CHARSET X-UNKNOWN-CHARSET SUBJECT lunch")
        .await;
    assert!(
        st.starts_with("T") && st.contains(" NO [BADCHARSET"),
        "{st}"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn uid_search_returns_uids() {
    let (server, mut c, _) = search_corpus().await;
    // Message 3 (\Deleted) goes: sequence numbers shift, UIDs do not.
    let e = c.ok("EXPUNGE").await;
    assert_eq!(e, vec!["* 3 EXPUNGE"]);
    assert_eq!(search_result(&c.ok("SEARCH ALL").await), vec![1, 2, 3, 4]);
    assert_eq!(
        search_result(&c.ok("UID SEARCH ALL").await),
        vec![1, 2, 4, 5]
    );
    assert_eq!(search_result(&c.ok("SEARCH FROM dave").await), vec![3]);
    assert_eq!(search_result(&c.ok("UID SEARCH FROM dave").await), vec![4]);
    // UID criteria inside SEARCH, sequence numbers inside UID SEARCH.
    assert_eq!(search_result(&c.ok("SEARCH UID 4:5").await), vec![3, 4]);
    assert_eq!(search_result(&c.ok("UID SEARCH 3:4").await), vec![4, 5]);
    assert_eq!(search_result(&c.ok("UID SEARCH *").await), vec![5]);
    server.shutdown().await;
}

/// Parses `* ESEARCH (TAG "x") [UID] k v ...` into its parts.
fn esearch(line: &str, tag: &str) -> (bool, Vec<(String, String)>) {
    let prefix = format!("* ESEARCH (TAG \"{tag}\")");
    let rest = line
        .strip_prefix(&prefix)
        .unwrap_or_else(|| panic!("not an ESEARCH for {tag}: {line}"));
    let mut words: Vec<&str> = rest.split_whitespace().collect();
    let uid = words.first() == Some(&"UID");
    if uid {
        words.remove(0);
    }
    assert!(words.len().is_multiple_of(2), "{line}");
    let pairs = words
        .chunks(2)
        .map(|p| (p[0].to_string(), p[1].to_string()))
        .collect();
    (uid, pairs)
}

fn get<'a>(pairs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    pairs.iter().find(|p| p.0 == key).map(|p| p.1.as_str())
}

#[tokio::test]
async fn esearch_return_options() {
    let (server, mut c, _) = search_corpus().await;
    let tag = c.tag();
    c.send(&format!(
        "{tag} SEARCH RETURN (MIN MAX COUNT ALL) UNFLAGGED"
    ))
    .await;
    let lines = c.until_tag(&tag).await;
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(
        !lines.iter().any(|l| l.starts_with("* SEARCH")),
        "{lines:?}"
    );
    let (uid, pairs) = esearch(&lines[0], &tag);
    assert!(!uid);
    assert_eq!(pairs.len(), 4, "{lines:?}");
    assert_eq!(get(&pairs, "MIN"), Some("1"));
    assert_eq!(get(&pairs, "MAX"), Some("5"));
    assert_eq!(get(&pairs, "COUNT"), Some("4"));
    let all = get(&pairs, "ALL").unwrap();
    assert_eq!(expand(all), vec![1, 3, 4, 5], "{all}");

    // Only what was asked for.
    let tag = c.tag();
    c.send(&format!("{tag} SEARCH RETURN (COUNT) ALL")).await;
    let lines = c.until_tag(&tag).await;
    assert_eq!(lines[0], format!("* ESEARCH (TAG \"{tag}\") COUNT 5"));

    // No match: COUNT 0, MIN/MAX/ALL omitted.
    let tag = c.tag();
    c.send(&format!(
        "{tag} SEARCH RETURN (MIN MAX COUNT ALL) KEYWORD $Nothing"
    ))
    .await;
    let lines = c.until_tag(&tag).await;
    assert_eq!(lines[0], format!("* ESEARCH (TAG \"{tag}\") COUNT 0"));

    // RETURN () means ALL.
    let tag = c.tag();
    c.send(&format!("{tag} SEARCH RETURN () FLAGGED")).await;
    let lines = c.until_tag(&tag).await;
    assert_eq!(lines[0], format!("* ESEARCH (TAG \"{tag}\") ALL 2"));

    // UID SEARCH: the UID indicator and UIDs.
    c.ok("STORE 3 +FLAGS.SILENT (\\Deleted)").await;
    c.ok("EXPUNGE").await;
    let tag = c.tag();
    c.send(&format!(
        "{tag} UID SEARCH RETURN (MIN MAX ALL) FROM example.org"
    ))
    .await;
    let lines = c.until_tag(&tag).await;
    let (uid, pairs) = esearch(&lines[0], &tag);
    assert!(uid, "{}", lines[0]);
    assert_eq!(get(&pairs, "MIN"), Some("1"));
    assert_eq!(get(&pairs, "MAX"), Some("5"));
    assert_eq!(expand(get(&pairs, "ALL").unwrap()), vec![1, 2, 4, 5]);
    server.shutdown().await;
}

#[tokio::test]
async fn search_syntax_errors_are_bad() {
    let (server, mut c, _) = search_corpus().await;
    for bad in [
        "SEARCH",
        "SEARCH BOGUS",
        "SEARCH FROM",
        "SEARCH (FROM alice",
        "SEARCH OR FROM alice",
        "SEARCH BEFORE 32-Jan-2020",
        "SEARCH BEFORE 1-Foo-2020",
        "SEARCH LARGER abc",
        "SEARCH RETURN (BOGUS) ALL",
    ] {
        let st = c.status(bad).await;
        assert_eq!(status_word(&st), "BAD", "{bad}: {st}");
    }
    server.shutdown().await;
}

// ---------------------------------------------------------------------------
// COPY / MOVE
// ---------------------------------------------------------------------------

#[tokio::test]
async fn copy_and_uid_copy_with_copyuid() {
    let (server, mut c) = selected_with(4).await;
    c.ok("CREATE Dest").await;
    // A message already in the destination, so UIDs differ.
    c.append("Dest", "", &message("pre", "existing")).await;
    c.ok("STORE 2 +FLAGS.SILENT (\\Flagged $Kw)").await;
    let st = c.status("COPY 2,4 Dest").await;
    assert_eq!(status_word(&st), "OK", "{st}");
    let code = tagged_code(&st, "COPYUID");
    let validity = code[0];
    assert_eq!(expand(code[1]), vec![2, 4], "{st}");
    let dst = expand(code[2]);
    assert_eq!(dst, vec![2, 3], "{st}");

    let st = c.status("UID COPY 3:100 Dest").await;
    let code = tagged_code(&st, "COPYUID");
    assert_eq!(expand(code[1]), vec![3, 4], "{st}");
    assert_eq!(expand(code[2]), vec![4, 5], "{st}");

    // Source untouched.
    assert_eq!(uids(&mut c).await, vec![1, 2, 3, 4]);

    // The copies: matching contents, flags copied, UIDVALIDITY as reported.
    let s = c.ok("STATUS Dest (UIDVALIDITY MESSAGES)").await;
    assert_eq!(
        s,
        vec![format!("* STATUS Dest (UIDVALIDITY {validity} MESSAGES 5)")]
    );
    c.ok("EXAMINE Dest").await;
    let f = c.ok("UID FETCH 2:5 (FLAGS BODY.PEEK[TEXT])").await;
    let bodies: Vec<String> = f.iter().map(|l| item(l, "BODY[TEXT]").unwrap()).collect();
    assert_eq!(
        bodies,
        vec!["body 2\r\n", "body 4\r\n", "body 3\r\n", "body 4\r\n"]
    );
    assert!(
        flags_in(&f[0]).contains("\\Flagged") && flags_in(&f[0]).contains("$Kw"),
        "{}",
        f[0]
    );

    // COPY to a missing mailbox.
    c.ok("SELECT INBOX").await;
    let st = c.status("COPY 1 Missing").await;
    assert!(st.contains(" NO [TRYCREATE]"), "{st}");
    let st = c.status("UID COPY 1 Missing").await;
    assert!(st.contains(" NO [TRYCREATE]"), "{st}");
    // Bad sequence number.
    let st = c.status("COPY 9 Dest").await;
    assert_eq!(status_word(&st), "BAD", "{st}");
    server.shutdown().await;
}

#[tokio::test]
async fn move_and_uid_move() {
    let (server, mut c) = selected_with(5).await;
    c.ok("CREATE Dest").await;
    let tag = c.tag();
    c.send(&format!("{tag} MOVE 2:3 Dest")).await;
    let lines = c.until_tag(&tag).await;
    assert_eq!(status_word(lines.last().unwrap()), "OK", "{lines:?}");
    let copyuid = lines
        .iter()
        .position(|l| l.starts_with("* OK [COPYUID "))
        .unwrap_or_else(|| panic!("no untagged COPYUID: {lines:?}"));
    let first_expunge = lines.iter().position(|l| l.ends_with(" EXPUNGE")).unwrap();
    assert!(copyuid < first_expunge, "{lines:?}");
    let code = tagged_code(&lines[copyuid], "COPYUID");
    assert_eq!(expand(code[1]), vec![2, 3]);
    assert_eq!(expand(code[2]), vec![1, 2]);
    let mut model = vec![1, 2, 3, 4, 5];
    apply_expunges(&mut model, &lines);
    assert_eq!(model, vec![1, 4, 5], "{lines:?}");
    assert_eq!(uids(&mut c).await, vec![1, 4, 5]);

    // UID MOVE, with a UID that does not exist.
    let tag = c.tag();
    c.send(&format!("{tag} UID MOVE 5,4,99 Dest")).await;
    let lines = c.until_tag(&tag).await;
    assert_eq!(status_word(lines.last().unwrap()), "OK", "{lines:?}");
    let copyuid = lines
        .iter()
        .position(|l| l.starts_with("* OK [COPYUID "))
        .unwrap();
    let code = tagged_code(&lines[copyuid], "COPYUID");
    let src = expand(code[1]);
    let dst = expand(code[2]);
    assert_eq!(src.len(), 2);
    // Source and destination UIDs correspond pairwise.
    let pairs: BTreeSet<(u32, u32)> = src.into_iter().zip(dst).collect();
    assert_eq!(
        pairs,
        [(4, 3), (5, 4)].into_iter().collect(),
        "{}",
        lines[copyuid]
    );
    let mut model = vec![1, 4, 5];
    apply_expunges(&mut model, &lines);
    assert_eq!(model, vec![1]);
    assert_eq!(uids(&mut c).await, vec![1]);

    // What arrived.
    c.ok("EXAMINE Dest").await;
    let f = c.ok("FETCH 1:* (UID BODY.PEEK[TEXT])").await;
    let got: Vec<String> = f.iter().map(|l| item(l, "BODY[TEXT]").unwrap()).collect();
    assert_eq!(
        got,
        vec!["body 2\r\n", "body 3\r\n", "body 4\r\n", "body 5\r\n"]
    );

    // MOVE to a missing mailbox fails and moves nothing.
    c.ok("SELECT INBOX").await;
    let st = c.status("MOVE 1 Missing").await;
    assert!(st.contains(" NO [TRYCREATE]"), "{st}");
    assert_eq!(uids(&mut c).await, vec![1]);
    // MOVE in a read-only mailbox is refused.
    c.ok("EXAMINE INBOX").await;
    let st = c.status("MOVE 1 Dest").await;
    assert_eq!(status_word(&st), "NO", "{st}");
    server.shutdown().await;
}

// ---------------------------------------------------------------------------
// EXPUNGE, CLOSE, UNSELECT
// ---------------------------------------------------------------------------

#[tokio::test]
async fn expunge_renumbers_correctly() {
    let (server, mut c) = selected_with(7).await;
    c.ok("STORE 2,3,5,7 +FLAGS.SILENT (\\Deleted)").await;
    let lines = c.ok("EXPUNGE").await;
    assert_eq!(lines.len(), 4, "{lines:?}");
    let mut model: Vec<u32> = (1..=7).collect();
    apply_expunges(&mut model, &lines);
    assert_eq!(model, vec![1, 4, 6], "{lines:?}");
    assert_eq!(uids(&mut c).await, vec![1, 4, 6]);
    // Nothing more to expunge.
    assert_eq!(c.ok("EXPUNGE").await, Vec::<String>::new());
    // Sequence numbers follow: seq 2 is now UID 4.
    assert_eq!(c.ok("FETCH 2 UID").await, vec!["* 2 FETCH (UID 4)"]);
    // Read-only mailboxes cannot be expunged.
    c.ok("STORE 1 +FLAGS.SILENT (\\Deleted)").await;
    c.ok("EXAMINE INBOX").await;
    let st = c.status("EXPUNGE").await;
    assert_eq!(status_word(&st), "NO", "{st}");
    server.shutdown().await;
}

#[tokio::test]
async fn uid_expunge_only_given_uids() {
    let (server, mut c) = selected_with(4).await;
    c.ok("STORE 1:3 +FLAGS.SILENT (\\Deleted)").await;
    let lines = c.ok("UID EXPUNGE 2,4").await;
    // UID 4 is not \Deleted: only UID 2 goes.
    assert_eq!(lines, vec!["* 2 EXPUNGE"]);
    assert_eq!(uids(&mut c).await, vec![1, 3, 4]);
    assert_eq!(search_result(&c.ok("UID SEARCH DELETED").await), vec![1, 3]);
    let lines = c.ok("UID EXPUNGE 3:*").await;
    assert_eq!(lines, vec!["* 2 EXPUNGE"]);
    assert_eq!(uids(&mut c).await, vec![1, 4]);
    server.shutdown().await;
}

#[tokio::test]
async fn close_expunges_silently_unselect_does_not() {
    let (server, mut c) = selected_with(3).await;
    c.ok("STORE 1 +FLAGS.SILENT (\\Deleted)").await;
    // UNSELECT: nothing expunged.
    assert_eq!(c.ok("UNSELECT").await, Vec::<String>::new());
    let st = c.status("FETCH 1 FLAGS").await;
    assert_eq!(status_word(&st), "BAD", "no mailbox selected: {st}");
    let s = c.ok("STATUS INBOX (MESSAGES)").await;
    assert_eq!(s, vec!["* STATUS INBOX (MESSAGES 3)"]);
    // CLOSE: expunged, with no EXPUNGE responses.
    c.ok("SELECT INBOX").await;
    c.ok("STORE 3 +FLAGS.SILENT (\\Deleted)").await;
    assert_eq!(c.ok("CLOSE").await, Vec::<String>::new());
    let s = c.ok("STATUS INBOX (MESSAGES)").await;
    assert_eq!(s, vec!["* STATUS INBOX (MESSAGES 1)"]);
    let st = c.status("CLOSE").await;
    assert_eq!(status_word(&st), "BAD", "{st}");
    // CLOSE after EXAMINE does not expunge.
    c.append("INBOX", "(\\Deleted)", &message("d", "d")).await;
    c.ok("EXAMINE INBOX").await;
    assert_eq!(c.ok("CLOSE").await, Vec::<String>::new());
    let s = c.ok("STATUS INBOX (MESSAGES)").await;
    assert_eq!(s, vec!["* STATUS INBOX (MESSAGES 2)"]);
    server.shutdown().await;
}

// ---------------------------------------------------------------------------
// Edge cases
// ---------------------------------------------------------------------------

#[tokio::test]
async fn append_mailbox_as_literal_and_spooled_nonsync_literal() {
    let server = TestServer::start().await;
    let mut c = server.login("alice").await;
    // The mailbox name as a literal, then the message as another.
    let m = message("lit", "mailbox name was a literal");
    let tag = c.tag();
    c.send(&format!("{tag} APPEND {{5}}")).await;
    assert!(c.read_line().await.starts_with('+'));
    c.send(&format!("INBOX (\\Seen) {{{}}}", m.len())).await;
    assert!(c.read_line().await.starts_with('+'));
    c.send_raw(&m).await;
    c.send_raw(b"\r\n").await;
    let st = c.until_tag(&tag).await.pop().unwrap();
    assert_eq!(status_word(&st), "OK", "{st}");
    // A non-synchronising literal big enough to be spooled to disk,
    // with a pipelined command right behind it.
    let mut big = message("spooled", "").to_vec();
    big.truncate(big.len() - 2);
    let mut i = 0;
    while big.len() < 2 * 1024 * 1024 + 17 {
        big.extend_from_slice(
            format!("{i:07} 0123456789abcdefghijklmnopqrstuvwxyz\r\n").as_bytes(),
        );
        i += 1;
    }
    let tag = c.tag();
    let mut bytes = format!("{tag} APPEND INBOX {{{}+}}\r\n", big.len()).into_bytes();
    bytes.extend_from_slice(&big);
    bytes.extend_from_slice(b"\r\nX1 NOOP\r\n");
    c.send_raw(&bytes).await;
    let lines = c.until_tag("X1").await;
    assert!(
        lines.iter().any(|l| l.starts_with(&format!("{tag} OK"))),
        "{lines:?}"
    );
    assert!(lines.last().unwrap().starts_with("X1 OK"), "{lines:?}");
    c.ok("EXAMINE INBOX").await;
    let f = c.ok("FETCH 1:2 (FLAGS RFC822.SIZE BODY.PEEK[])").await;
    assert!(flags_in(&f[0]).contains("\\Seen"), "{}", f[0]);
    assert_eq!(item(&f[0], "BODY[]").unwrap().as_bytes(), &m[..]);
    assert!(f[1].contains(&format!("RFC822.SIZE {}", big.len())));
    assert!(
        item(&f[1], "BODY[]").unwrap().as_bytes() == &big[..],
        "spooled message differs"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn append_invalid_arguments_are_bad() {
    let server = TestServer::start().await;
    let mut c = server.login("alice").await;
    for (args, what) in [
        ("(\\Bogus) ", "unknown system flag"),
        ("(\\Seen ", "unclosed flag list"),
        ("\"99-Jan-2020 00:00:00 +0000\" ", "bad day"),
        ("\"01-Jan-2020 00:00:00\" ", "missing zone"),
    ] {
        let lines = append_nonsync(&mut c, "INBOX", args, b"Subject: x\r\n\r\ny\r\n").await;
        assert_eq!(
            status_word(lines.last().unwrap()),
            "BAD",
            "{what}: {lines:?}"
        );
    }
    let s = c.ok("STATUS INBOX (MESSAGES)").await;
    assert_eq!(s, vec!["* STATUS INBOX (MESSAGES 0)"]);
    server.shutdown().await;
}

#[tokio::test]
async fn fetch_message_without_body() {
    let server = TestServer::start().await;
    let mut c = server.login("alice").await;
    let m = "From: a@example.org\r\nSubject: no body\r\n";
    c.append("INBOX", "", m.as_bytes()).await;
    c.ok("EXAMINE INBOX").await;
    let f = c
        .ok("FETCH 1 (RFC822.SIZE BODY.PEEK[HEADER] BODY.PEEK[TEXT])")
        .await;
    assert!(
        f[0].contains(&format!("RFC822.SIZE {}", m.len())),
        "{}",
        f[0]
    );
    // No blank line to include, and an empty text.
    assert_eq!(item(&f[0], "BODY[HEADER]").as_deref(), Some(m), "{}", f[0]);
    assert_eq!(item(&f[0], "BODY[TEXT]").as_deref(), Some(""), "{}", f[0]);
    server.shutdown().await;
}

#[tokio::test]
async fn folded_headers_in_fields_and_search() {
    let server = TestServer::start().await;
    let mut c = server.login("alice").await;
    let m = "From: a@example.org\r\nSubject: a rather long\r\n\tsubject line\r\nTo: b@example.org\r\n\r\nbody\r\n";
    c.append("INBOX", "", m.as_bytes()).await;
    c.ok("EXAMINE INBOX").await;
    let f = c.ok("FETCH 1 BODY.PEEK[HEADER.FIELDS (SUBJECT)]").await;
    assert_eq!(
        item(&f[0], "BODY[HEADER.FIELDS (SUBJECT)]").as_deref(),
        Some("Subject: a rather long\r\n\tsubject line\r\n\r\n"),
        "{}",
        f[0]
    );
    let f = c.ok("FETCH 1 BODY.PEEK[HEADER.FIELDS.NOT (SUBJECT)]").await;
    assert_eq!(
        item(&f[0], "BODY[HEADER.FIELDS.NOT (SUBJECT)]").as_deref(),
        Some("From: a@example.org\r\nTo: b@example.org\r\n\r\n"),
        "{}",
        f[0]
    );
    // SEARCH sees the unfolded value, across the fold.
    assert_eq!(
        search_result(&c.ok("SEARCH SUBJECT \"rather long\"").await),
        vec![1]
    );
    assert_eq!(
        search_result(&c.ok("SEARCH SUBJECT \"long\"").await),
        vec![1]
    );
    assert_eq!(
        search_result(&c.ok("SEARCH SUBJECT \"subject line\"").await),
        vec![1]
    );
    server.shutdown().await;
}

#[tokio::test]
async fn envelope_strings_are_quoted_or_literal() {
    let server = TestServer::start().await;
    let mut c = server.login("alice").await;
    let m = "From: \"Q \\\"uote\\\" Person\" <q@example.org>\r\n\
Subject: He said \"hi\" \\ bye\r\n\
Message-ID: <esc@example.org>\r\n\r\nx\r\n";
    c.append("INBOX", "", m.as_bytes()).await;
    let m2 = "From: u@example.org\r\nSubject: =?UTF-8?Q?Gr=C3=BC=C3=9Fe?=\r\n\r\nx\r\n";
    c.append("INBOX", "", m2.as_bytes()).await;
    let m3 = "From: u@example.org\r\nSubject: Gr\u{fc}\u{df}e raw\r\n\r\nx\r\n";
    c.append("INBOX", "", m3.as_bytes()).await;
    c.ok("EXAMINE INBOX").await;
    let f = c.ok("FETCH 1 ENVELOPE").await;
    // The subject as it stands, with its quotes and backslash escaped
    // (or sent as a literal).
    let subject = "He said \"hi\" \\ bye";
    let quoted = "\"He said \\\"hi\\\" \\\\ bye\"";
    let literal = format!("{{{}}}\r\n{subject}", subject.len());
    assert!(f[0].contains(quoted) || f[0].contains(&literal), "{}", f[0]);
    // Encoded words stay encoded in the envelope.
    let f = c.ok("FETCH 2 ENVELOPE").await;
    assert!(f[0].contains("\"=?UTF-8?Q?Gr=C3=BC=C3=9Fe?=\""), "{}", f[0]);
    // Raw 8-bit never appears in a quoted string without UTF8=ACCEPT.
    let f = c.ok("FETCH 3 ENVELOPE").await;
    assert!(!f[0].contains("\"Gr\u{fc}"), "{}", f[0]);
    server.shutdown().await;
}

#[tokio::test]
async fn boundary_must_start_a_line() {
    let server = TestServer::start().await;
    let mut c = server.login("alice").await;
    let m = "From: a@example.org\r\n\
Subject: boundaries\r\n\
MIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=\"b1\"\r\n\
\r\n\
--b1\r\n\
Content-Type: text/plain\r\n\
\r\n\
see --b1 in the middle\r\n\
and at the end--b1\r\n\
--b1\r\n\
Content-Type: text/plain\r\n\
\r\n\
second\r\n\
--b1--\r\n";
    c.append("INBOX", "", m.as_bytes()).await;
    c.ok("EXAMINE INBOX").await;
    let f = c
        .ok("FETCH 1 (BODY.PEEK[1] BODY.PEEK[2] BODY.PEEK[3])")
        .await;
    assert_eq!(
        item(&f[0], "BODY[1]").as_deref(),
        Some("see --b1 in the middle\r\nand at the end--b1"),
        "{}",
        f[0]
    );
    assert_eq!(
        item(&f[0], "BODY[2]").as_deref(),
        Some("second"),
        "{}",
        f[0]
    );
    assert_eq!(item(&f[0], "BODY[3]"), None, "{}", f[0]);
    server.shutdown().await;
}

#[tokio::test]
async fn fetch_inside_simple_encapsulated_message() {
    let server = TestServer::start().await;
    let mut c = server.login("alice").await;
    let inner = "From: in@example.org\r\nSubject: inner\r\n\r\nInner body.\r\n";
    let m = format!(
        "From: a@example.org\r\n\
Subject: forward\r\n\
MIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=\"fw\"\r\n\
\r\n\
--fw\r\n\
Content-Type: message/rfc822\r\n\
\r\n\
{inner}\r\n\
--fw--\r\n"
    );
    c.append("INBOX", "", m.as_bytes()).await;
    c.ok("EXAMINE INBOX").await;
    let f = c
        .ok("FETCH 1 (BODY.PEEK[1] BODY.PEEK[1.HEADER] BODY.PEEK[1.TEXT] BODY.PEEK[1.1] BODY.PEEK[1.MIME])")
        .await;
    let split = inner.find("\r\n\r\n").unwrap() + 4;
    assert_eq!(item(&f[0], "BODY[1]").as_deref(), Some(inner), "{}", f[0]);
    assert_eq!(
        item(&f[0], "BODY[1.HEADER]").as_deref(),
        Some(&inner[..split])
    );
    assert_eq!(
        item(&f[0], "BODY[1.TEXT]").as_deref(),
        Some(&inner[split..])
    );
    // A non-multipart encapsulated message has a part 1: its body.
    assert_eq!(item(&f[0], "BODY[1.1]").as_deref(), Some(&inner[split..]));
    assert_eq!(
        item(&f[0], "BODY[1.MIME]").as_deref(),
        Some("Content-Type: message/rfc822\r\n\r\n")
    );
    server.shutdown().await;
}

#[tokio::test]
async fn copy_into_the_selected_mailbox_reports_exists() {
    let (server, mut c) = selected_with(2).await;
    let lines = c.cmd("COPY 1:2 INBOX").await;
    let st = lines.last().unwrap();
    assert_eq!(status_word(st), "OK", "{lines:?}");
    let code = tagged_code(st, "COPYUID");
    assert_eq!(expand(code[1]), vec![1, 2]);
    assert_eq!(expand(code[2]), vec![3, 4]);
    assert!(lines.contains(&"* 4 EXISTS".to_string()), "{lines:?}");
    let f = c.ok("FETCH 3:4 (UID BODY.PEEK[TEXT])").await;
    assert_eq!(
        f,
        vec![
            "* 3 FETCH (UID 3 BODY[TEXT] {8}\r\nbody 1\r\n)",
            "* 4 FETCH (UID 4 BODY[TEXT] {8}\r\nbody 2\r\n)",
        ]
    );
    server.shutdown().await;
}

#[tokio::test]
async fn empty_mailbox_and_set_forms() {
    let server = TestServer::start().await;
    let mut c = server.login("alice").await;
    c.ok("SELECT INBOX").await;
    // UID sets never fail; an empty mailbox simply has nothing.
    assert_eq!(c.ok("UID FETCH 1:* FLAGS").await, Vec::<String>::new());
    assert_eq!(
        c.ok("UID STORE 1:* +FLAGS (\\Seen)").await,
        Vec::<String>::new()
    );
    assert_eq!(c.ok("SEARCH ALL").await, vec!["* SEARCH"]);
    assert_eq!(c.ok("UID SEARCH ALL").await, vec!["* SEARCH"]);
    assert_eq!(c.ok("EXPUNGE").await, Vec::<String>::new());
    let st = c.status("FETCH 1 FLAGS").await;
    assert_eq!(status_word(&st), "BAD", "{st}");
    for i in 1..=3 {
        c.append("INBOX", "", &message(&format!("m{i}"), "b")).await;
    }
    c.ok("NOOP").await;
    // A reversed range means the same as the ordered one.
    assert_eq!(
        c.ok("FETCH 3:2 UID").await,
        vec!["* 2 FETCH (UID 2)", "* 3 FETCH (UID 3)"]
    );
    assert_eq!(
        c.ok("FETCH 3,1 UID").await,
        vec!["* 1 FETCH (UID 1)", "* 3 FETCH (UID 3)"]
    );
    // UID FETCH that names UID itself.
    let f = c.ok("UID FETCH 2 (FLAGS UID)").await;
    assert_eq!(f.len(), 1);
    assert!(
        f[0].starts_with("* 2 FETCH (") && f[0].contains("UID 2"),
        "{}",
        f[0]
    );
    // A partial of length zero is a syntax error.
    let st = c.status("FETCH 1 BODY.PEEK[]<0.0>").await;
    assert_eq!(status_word(&st), "BAD", "{st}");
    server.shutdown().await;
}

#[tokio::test]
async fn search_decodes_transfer_encodings_and_charsets() {
    let server = TestServer::start().await;
    let mut c = server.login("alice").await;
    // base64 text part.
    let m1 = "From: a@example.org\r\nSubject: b64\r\nMIME-Version: 1.0\r\n\
Content-Type: text/plain; charset=us-ascii\r\nContent-Transfer-Encoding: base64\r\n\r\n\
VGhlIHNlY3JldCBwaHJhc2UgaXMgaGVyZS4=\r\n";
    // quoted-printable UTF-8.
    let m2 = "From: a@example.org\r\nSubject: qp\r\nMIME-Version: 1.0\r\n\
Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n\
Un caf=C3=A9 cr=C3=A8me, s'il vous pla=C3=AEt.\r\n";
    // ISO-8859-1, 8bit.
    let m3 = b"From: a@example.org\r\nSubject: latin1\r\nMIME-Version: 1.0\r\n\
Content-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: 8bit\r\n\r\n\
Na\xefve se\xf1or\r\n"
        .to_vec();
    // Encoded display name.
    let m4 = "From: =?ISO-8859-1?Q?Andr=E9?= <andre@example.org>\r\nSubject: name\r\n\r\nx\r\n";
    c.append("INBOX", "", m1.as_bytes()).await;
    c.append("INBOX", "", m2.as_bytes()).await;
    c.append("INBOX", "", &m3).await;
    c.append("INBOX", "", m4.as_bytes()).await;
    c.ok("SELECT INBOX").await;
    assert_eq!(
        search_result(&c.ok("SEARCH BODY \"secret phrase\"").await),
        vec![1]
    );
    assert_eq!(
        search_result(&c.ok("SEARCH TEXT \"SECRET\"").await),
        vec![1]
    );
    let lines =
        cmd_with_literal(&mut c, "SEARCH CHARSET UTF-8 BODY", "café crème".as_bytes()).await;
    assert_eq!(search_result(&lines), vec![2], "{lines:?}");
    let lines = cmd_with_literal(&mut c, "SEARCH CHARSET UTF-8 BODY", "señor".as_bytes()).await;
    assert_eq!(search_result(&lines), vec![3], "{lines:?}");
    let lines = cmd_with_literal(&mut c, "SEARCH CHARSET UTF-8 FROM", "André".as_bytes()).await;
    assert_eq!(search_result(&lines), vec![4], "{lines:?}");
    // Encoded forms do not match.
    assert_eq!(
        search_result(&c.ok("SEARCH BODY VGhlIHNlY3J").await),
        Vec::<u32>::new()
    );
    assert_eq!(
        search_result(&c.ok("SEARCH BODY caf=C3").await),
        Vec::<u32>::new()
    );
    server.shutdown().await;
}

#[tokio::test]
async fn search_non_ascii_case_insensitive() {
    let (server, mut c, _) = search_corpus().await;
    let lines = cmd_with_literal(&mut c, "SEARCH CHARSET UTF-8 SUBJECT", "KÖLN".as_bytes()).await;
    assert_eq!(search_result(&lines), vec![2], "{lines:?}");
    let lines = cmd_with_literal(&mut c, "SEARCH CHARSET UTF-8 BODY", "SCHÖNE".as_bytes()).await;
    assert_eq!(search_result(&lines), vec![2], "{lines:?}");
    server.shutdown().await;
}

#[tokio::test]
async fn many_messages_fetched_in_order() {
    let server = TestServer::start().await;
    let mut c = server.login("alice").await;
    // Pipelined non-synchronising APPENDs, one of them failing midway;
    // enough messages for FETCH to read the store in several batches.
    const N: usize = 2100;
    let mut bytes = Vec::new();
    for i in 1..=N {
        let m = message(&format!("n{i:04}"), &format!("text {i}"));
        bytes.extend_from_slice(format!("A{i} APPEND INBOX {{{}+}}\r\n", m.len()).as_bytes());
        bytes.extend_from_slice(&m);
        bytes.extend_from_slice(b"\r\n");
        if i == 10 {
            bytes.extend_from_slice(b"BAD1 APPEND Missing {3+}\r\nabc\r\n");
        }
    }
    c.send_raw(&bytes).await;
    let lines = c.until_tag(&format!("A{N}")).await;
    let tagged: Vec<&String> = lines.iter().filter(|l| !l.starts_with('*')).collect();
    assert_eq!(tagged.len(), N + 1, "{tagged:?}");
    assert!(
        tagged[10].starts_with("BAD1 NO [TRYCREATE]"),
        "{}",
        tagged[10]
    );
    for (i, l) in tagged.iter().filter(|l| l.starts_with('A')).enumerate() {
        assert!(l.starts_with(&format!("A{} OK", i + 1)), "{l}");
    }
    c.ok("EXAMINE INBOX").await;
    let f = c
        .ok("FETCH 1:* (UID BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
        .await;
    assert_eq!(f.len(), N);
    for (i, l) in f.iter().enumerate() {
        let n = i + 1;
        assert!(l.starts_with(&format!("* {n} FETCH (UID {n} ")), "{l}");
        assert!(l.contains(&format!("Subject: n{n:04}\r\n")), "{l}");
    }
    // A sparse set across batches, flags from the index, headers from
    // the store.
    let f = c
        .ok("UID FETCH 3,999:1001,2000,2099:* (FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
        .await;
    let want = [3, 999, 1000, 1001, 2000, 2099, 2100];
    assert_eq!(f.len(), want.len(), "{f:?}");
    for (l, n) in f.iter().zip(want) {
        assert!(
            l.starts_with(&format!("* {n} FETCH (UID {n} FLAGS (")),
            "{l}"
        );
        assert!(l.contains(&format!("Subject: n{n:04}\r\n")), "{l}");
    }
    let s = c.ok("SEARCH ALL").await;
    assert_eq!(search_result(&s), (1..=N as u32).collect::<Vec<_>>());
    let tag = c.tag();
    c.send(&format!("{tag} SEARCH RETURN (ALL COUNT) 1:*"))
        .await;
    let lines = c.until_tag(&tag).await;
    let (_, pairs) = esearch(&lines[0], &tag);
    assert_eq!(get(&pairs, "COUNT"), Some(N.to_string().as_str()));
    assert_eq!(
        expand(get(&pairs, "ALL").unwrap()),
        (1..=N as u32).collect::<Vec<_>>()
    );
    server.shutdown().await;
}

#[tokio::test]
async fn oversized_literal_outside_append() {
    let server = TestServer::start_with(|c| c.limits.max_line_length = 8192).await;
    let mut c = server.login("alice").await;
    c.ok("SELECT INBOX").await;
    let limit = 64 * 1024;
    // Synchronising: refused before `+`.
    c.send(&format!("S1 SEARCH TEXT {{{}}}", limit + 1)).await;
    let l = c.read_line().await;
    assert!(l.starts_with("S1 BAD") || l.starts_with("S1 NO"), "{l}");
    c.ok("NOOP").await;
    // Non-synchronising: refused and skipped; the next command runs.
    let mut bytes = format!("S2 SEARCH TEXT {{{}+}}\r\n", limit + 1).into_bytes();
    bytes.extend(std::iter::repeat_n(b'q', limit + 1));
    bytes.extend_from_slice(b"\r\nS3 NOOP\r\n");
    c.send_raw(&bytes).await;
    let lines = c.until_tag("S3").await;
    let s2 = lines.iter().find(|l| l.starts_with("S2 ")).unwrap();
    assert!(
        s2.starts_with("S2 BAD") || s2.starts_with("S2 NO"),
        "{lines:?}"
    );
    assert!(lines.last().unwrap().starts_with("S3 OK"), "{lines:?}");
    server.shutdown().await;
}

#[tokio::test]
async fn internal_date_and_sent_date_are_distinct() {
    let server = TestServer::start().await;
    let mut c = server.login("alice").await;
    let m = "From: a@example.org\r\nDate: Sat, 1 Jan 2000 12:00:00 +0000\r\nSubject: dates\r\n\r\nx\r\n";
    c.append("INBOX", "\"01-Jan-2010 12:00:00 +0000\"", m.as_bytes())
        .await;
    c.ok("SELECT INBOX").await;
    for (criteria, want) in [
        ("ON 1-Jan-2010", vec![1]),
        ("ON 1-Jan-2000", vec![]),
        ("SENTON 1-Jan-2000", vec![1]),
        ("SENTON 1-Jan-2010", vec![]),
        ("SINCE 1-Jan-2005", vec![1]),
        ("SENTSINCE 1-Jan-2005", vec![]),
        ("BEFORE 1-Jan-2005", vec![]),
        ("SENTBEFORE 1-Jan-2005", vec![1]),
    ] {
        let got = search_result(&c.ok(&format!("SEARCH {criteria}")).await);
        assert_eq!(got, want, "SEARCH {criteria}");
    }
    server.shutdown().await;
}

#[tokio::test]
async fn uids_are_never_reused() {
    let (server, mut c) = selected_with(2).await;
    c.ok("STORE 2 +FLAGS.SILENT (\\Deleted)").await;
    c.ok("EXPUNGE").await;
    let st = c.append("INBOX", "", &message("again", "x")).await;
    let code = tagged_code(&st, "APPENDUID");
    assert_eq!(code[1], "3", "{st}");
    let sel = c.ok("SELECT INBOX").await;
    assert!(
        sel.contains(&"* OK [UIDNEXT 4] Predicted next UID".to_string()),
        "{sel:?}"
    );
    assert_eq!(uids(&mut c).await, vec![1, 3]);
    server.shutdown().await;
}

#[tokio::test]
async fn examine_reports_recent_without_claiming_it() {
    // RFC 3501 §6.3.2 (its example shows `* 2 RECENT` for EXAMINE): a
    // read-only session sees \Recent but must not take it away.
    let server = TestServer::start().await;
    let mut c = server.login("alice").await;
    for i in 1..=2 {
        c.append("INBOX", "", &message(&format!("m{i}"), "b")).await;
    }
    let ex = c.ok("EXAMINE INBOX").await;
    assert!(ex.contains(&"* 2 RECENT".to_string()), "{ex:?}");
    assert_eq!(search_result(&c.ok("SEARCH RECENT").await), vec![1, 2]);
    let f = c.ok("FETCH 1 FLAGS").await;
    assert_eq!(flags_in(&f[0]), set(&["\\Recent"]), "{}", f[0]);
    // Mail arriving while examined is recent too.
    let mut other = server.login("alice").await;
    other.append("INBOX", "", &message("m3", "b")).await;
    let lines = c.ok("NOOP").await;
    assert!(lines.contains(&"* 3 EXISTS".to_string()), "{lines:?}");
    assert!(lines.contains(&"* 3 RECENT".to_string()), "{lines:?}");
    // Still recent for the first read-write session.
    let sel = other.ok("SELECT INBOX").await;
    assert!(sel.contains(&"* 3 RECENT".to_string()), "{sel:?}");
    // ...which took it: a new EXAMINE sees none.
    let ex = c.ok("EXAMINE INBOX").await;
    assert!(ex.contains(&"* 0 RECENT".to_string()), "{ex:?}");
    server.shutdown().await;
}
