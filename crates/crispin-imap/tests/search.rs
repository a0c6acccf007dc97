//! SEARCH and UID SEARCH: every key, charsets, decoded text, ESEARCH
//! return options (RFC 3501 §6.4.4, RFC 4731).

use crispin_testkit::*;

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
async fn search_corpus() -> (TestImap, Client, Vec<Vec<u8>>) {
    let imap = TestImap::start().await;
    let mut c = imap.login("alice").await;
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
        assert_ok(&st);
    }
    let mut other = imap.login("alice").await;
    other.ok("SELECT INBOX").await;
    other.ok("LOGOUT").await;
    let st = c
        .append("INBOX", "() \"20-Apr-2024 10:00:00 +0000\"", &m5)
        .await;
    assert_ok(&st);
    c.ok("SELECT INBOX").await;
    (imap, c, vec![m1, m2, m3, m4, m5])
}

#[tokio::test]
async fn search_every_key() {
    let (imap, mut c, msgs) = search_corpus().await;
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
    imap.shutdown().await;
}

#[tokio::test]
async fn search_sizes_are_exact() {
    let (imap, mut c, msgs) = search_corpus().await;
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
    imap.shutdown().await;
}

#[tokio::test]
async fn search_charset_utf8_literals() {
    let (imap, mut c, _) = search_corpus().await;
    let lines = c
        .cmd_with_literal("SEARCH CHARSET UTF-8 SUBJECT", "Grüße".as_bytes())
        .await;
    assert_eq!(
        tagged(lines.last().unwrap()).status,
        Status::Ok,
        "{lines:?}"
    );
    assert_eq!(search_result(&lines), vec![2]);
    let lines = c
        .cmd_with_literal("SEARCH CHARSET UTF-8 SUBJECT", "köln".as_bytes())
        .await;
    assert_eq!(search_result(&lines), vec![2]);
    let lines = c
        .cmd_with_literal("SEARCH CHARSET UTF-8 BODY", "schöne".as_bytes())
        .await;
    assert_eq!(search_result(&lines), vec![2]);
    let lines = c
        .cmd_with_literal("SEARCH CHARSET utf-8 TEXT", "grüße".as_bytes())
        .await;
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
    imap.shutdown().await;
}

#[tokio::test]
async fn uid_search_returns_uids() {
    let (imap, mut c, _) = search_corpus().await;
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
    imap.shutdown().await;
}

#[tokio::test]
async fn esearch_return_options() {
    let (imap, mut c, _) = search_corpus().await;
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
    let es = esearch(&lines[0], &tag);
    assert!(!es.uid);
    assert_eq!(es.items.len(), 4, "{lines:?}");
    assert_eq!(es.get("MIN"), Some("1"));
    assert_eq!(es.get("MAX"), Some("5"));
    assert_eq!(es.get("COUNT"), Some("4"));
    let all = es.get("ALL").unwrap();
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
    let es = esearch(&lines[0], &tag);
    assert!(es.uid, "{}", lines[0]);
    assert_eq!(es.get("MIN"), Some("1"));
    assert_eq!(es.get("MAX"), Some("5"));
    assert_eq!(expand(es.get("ALL").unwrap()), vec![1, 2, 4, 5]);
    imap.shutdown().await;
}

#[tokio::test]
async fn search_syntax_errors_are_bad() {
    let (imap, mut c, _) = search_corpus().await;
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
        assert_eq!(tagged(&st).status, Status::Bad, "{bad}: {st}");
    }
    imap.shutdown().await;
}

#[tokio::test]
async fn search_decodes_transfer_encodings_and_charsets() {
    let imap = TestImap::start().await;
    let mut c = imap.login("alice").await;
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
    let lines = c
        .cmd_with_literal("SEARCH CHARSET UTF-8 BODY", "café crème".as_bytes())
        .await;
    assert_eq!(search_result(&lines), vec![2], "{lines:?}");
    let lines = c
        .cmd_with_literal("SEARCH CHARSET UTF-8 BODY", "señor".as_bytes())
        .await;
    assert_eq!(search_result(&lines), vec![3], "{lines:?}");
    let lines = c
        .cmd_with_literal("SEARCH CHARSET UTF-8 FROM", "André".as_bytes())
        .await;
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
    imap.shutdown().await;
}

#[tokio::test]
async fn search_non_ascii_case_insensitive() {
    let (imap, mut c, _) = search_corpus().await;
    let lines = c
        .cmd_with_literal("SEARCH CHARSET UTF-8 SUBJECT", "KÖLN".as_bytes())
        .await;
    assert_eq!(search_result(&lines), vec![2], "{lines:?}");
    let lines = c
        .cmd_with_literal("SEARCH CHARSET UTF-8 BODY", "SCHÖNE".as_bytes())
        .await;
    assert_eq!(search_result(&lines), vec![2], "{lines:?}");
    imap.shutdown().await;
}

#[tokio::test]
async fn internal_date_and_sent_date_are_distinct() {
    let imap = TestImap::start().await;
    let mut c = imap.login("alice").await;
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
    imap.shutdown().await;
}

/// Addresses are compared without their comments (and the whitespace
/// RFC 5322 §3.4.1 lets stand around `@`): `SEARCH FROM user-from@domain.org`
/// finds `From: <user-from (comment)@ (comment) domain.org>`; the field's
/// text as written is still searched too.
#[tokio::test]
async fn search_from_compares_addresses_without_comments() {
    let imap = TestImap::start().await;
    let mut c = imap.login("alice").await;
    let odd = b"From: <user-from (comment)@ (comment) domain.org>\r\n\
To: bob (the builder) @ example . net\r\nSubject: odd\r\n\r\nbody\r\n";
    c.append("INBOX", "", odd).await;
    c.append("INBOX", "", &message("plain", "body")).await;
    c.ok("SELECT INBOX").await;
    for (q, want) in [
        ("FROM user-from@domain.org", vec![1]),
        ("FROM \"user-from (comment)@\"", vec![1]),
        ("TO bob@example.net", vec![1]),
        ("FROM alice@example.org", vec![2]),
        ("FROM comment@domain.org", vec![]),
    ] {
        assert_eq!(
            search_result(&c.ok(&format!("SEARCH {q}")).await),
            want,
            "{q}"
        );
    }
    imap.shutdown().await;
}
