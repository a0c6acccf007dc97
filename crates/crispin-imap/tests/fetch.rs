//! FETCH and UID FETCH: attributes, macros, body sections byte for byte,
//! header fields, partials, BODY/BODYSTRUCTURE, ENVELOPE, `\Seen`,
//! sequence sets (RFC 3501 §6.4.5, §7.4.2).

use crispin_testkit::*;

/// For BODY/BODYSTRUCTURE, whose type names compare case-insensitively.
fn lc(s: &str) -> String {
    s.to_ascii_lowercase()
}

fn find_from(hay: &[u8], needle: &str, from: usize) -> usize {
    let n = needle.as_bytes();
    from + hay[from..]
        .windows(n.len())
        .position(|w| w == n)
        .unwrap_or_else(|| panic!("{needle:?} not found"))
}

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

#[tokio::test]
async fn fetch_simple_attributes_and_macros() {
    let imap = TestImap::start().await;
    let mut c = imap.login("alice").await;
    let msg = message("hi", "hello");
    c.append("INBOX", "(\\Flagged) \"07-Feb-1994 21:52:25 -0800\"", &msg)
        .await;
    // Another session takes \Recent, so FLAGS is just what was stored.
    let mut other = imap.login("alice").await;
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
    imap.shutdown().await;
}

#[tokio::test]
async fn fetch_rfc822_items() {
    let imap = TestImap::start().await;
    let mut c = imap.login("alice").await;
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
    imap.shutdown().await;
}

#[tokio::test]
async fn fetch_body_sections_byte_exact() {
    let imap = TestImap::start().await;
    let mut c = imap.login("alice").await;
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
    imap.shutdown().await;
}

#[tokio::test]
async fn fetch_header_fields() {
    let imap = TestImap::start().await;
    let mut c = imap.login("alice").await;
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
    imap.shutdown().await;
}

#[tokio::test]
async fn fetch_partials() {
    let imap = TestImap::start().await;
    let mut c = imap.login("alice").await;
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
    imap.shutdown().await;
}

#[tokio::test]
async fn fetch_nonexistent_part_is_nil() {
    let imap = TestImap::start().await;
    let mut c = imap.login("alice").await;
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
    imap.shutdown().await;
}

#[tokio::test]
async fn fetch_multipart_body_and_bodystructure() {
    let imap = TestImap::start().await;
    let mut c = imap.login("alice").await;
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
    imap.shutdown().await;
}

#[tokio::test]
async fn fetch_seen_semantics() {
    let imap = TestImap::start().await;
    let mut c = imap.login("alice").await;
    for i in 1..=5 {
        c.append("INBOX", "", &message(&format!("m{i}"), "body"))
            .await;
    }
    // Claim \Recent in another session so that flags are predictable.
    let mut other = imap.login("alice").await;
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
    imap.shutdown().await;
}

#[tokio::test]
async fn fetch_sequence_numbers_uids_and_star() {
    let imap = TestImap::start().await;
    let mut c = imap.login("alice").await;
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
    assert_bad(&st);
    let st = c.status("FETCH 1:5 FLAGS").await;
    assert_bad(&st);
    let st = c.status("FETCH 0 FLAGS").await;
    assert_bad(&st);
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
    imap.shutdown().await;
}

#[tokio::test]
async fn fetch_message_without_body() {
    let imap = TestImap::start().await;
    let mut c = imap.login("alice").await;
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
    imap.shutdown().await;
}

#[tokio::test]
async fn folded_headers_in_fields_and_search() {
    let imap = TestImap::start().await;
    let mut c = imap.login("alice").await;
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
    imap.shutdown().await;
}

#[tokio::test]
async fn envelope_strings_are_quoted_or_literal() {
    let imap = TestImap::start().await;
    let mut c = imap.login("alice").await;
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
    imap.shutdown().await;
}

#[tokio::test]
async fn boundary_must_start_a_line() {
    let imap = TestImap::start().await;
    let mut c = imap.login("alice").await;
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
    imap.shutdown().await;
}

#[tokio::test]
async fn fetch_inside_simple_encapsulated_message() {
    let imap = TestImap::start().await;
    let mut c = imap.login("alice").await;
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
    imap.shutdown().await;
}

#[tokio::test]
async fn empty_mailbox_and_set_forms() {
    let imap = TestImap::start().await;
    let mut c = imap.login("alice").await;
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
    assert_bad(&st);
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
    assert_bad(&st);
    imap.shutdown().await;
}

#[tokio::test]
async fn many_messages_fetched_in_order() {
    let imap = TestImap::start().await;
    let mut c = imap.login("alice").await;
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
    let es = esearch(&lines[0], &tag);
    assert_eq!(es.get("COUNT"), Some(N.to_string().as_str()));
    assert_eq!(
        expand(es.get("ALL").unwrap()),
        (1..=N as u32).collect::<Vec<_>>()
    );
    imap.shutdown().await;
}
