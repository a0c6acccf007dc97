//! STORE and UID STORE: replacing, adding and removing flags, .SILENT,
//! keywords, read-only mailboxes (RFC 3501 §6.4.6).

use crispin_testkit::*;

#[tokio::test]
async fn store_replace_add_remove() {
    let (imap, mut c) = selected_with(2).await;
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
    imap.shutdown().await;
}

#[tokio::test]
async fn store_silent_sends_no_fetch() {
    let (imap, mut c) = selected_with(2).await;
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
    imap.shutdown().await;
}

#[tokio::test]
async fn store_keywords_appear_in_flags() {
    let (imap, mut c) = selected_with(2).await;
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
    imap.shutdown().await;
}

#[tokio::test]
async fn uid_store_includes_uid() {
    let (imap, mut c) = selected_with(3).await;
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
    imap.shutdown().await;
}

#[tokio::test]
async fn store_recent_invalid_flags_and_read_only() {
    let (imap, mut c) = selected_with(2).await;
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
    assert_bad(&st);
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
        assert_eq!(tagged(&st).status, Status::Bad, "{bad}: {st}");
    }
    // EXAMINE: read-only.
    c.ok("EXAMINE INBOX").await;
    let st = c.status("STORE 1 +FLAGS (\\Seen)").await;
    assert_no(&st, None);
    let st = c.status("UID STORE 1 +FLAGS (\\Seen)").await;
    assert_no(&st, None);
    let f = c.ok("FETCH 1 FLAGS").await;
    assert_eq!(flags_in(&f[0]), set(&[]));
    imap.shutdown().await;
}

/// One client cannot give a mailbox more keywords than the store allows
/// (every SELECT lists them all): STORE and APPEND get NO [LIMIT], and
/// nothing changes; known keywords stay usable.
#[tokio::test]
async fn keywords_beyond_the_cap_get_limit() {
    let (imap, mut c) = selected_with(1).await;
    let max = crispin_store::MAX_KEYWORDS;
    let names: Vec<String> = (0..max).map(|i| format!("k{i}")).collect();
    c.ok(&format!("STORE 1 +FLAGS.SILENT ({})", names.join(" ")))
        .await;
    let st = c.status("STORE 1 +FLAGS (one-too-many)").await;
    assert_no(&st, Some("LIMIT"));
    let st = c
        .append("INBOX", "(another-new-one)", &message("x", "y"))
        .await;
    assert_no(&st, Some("LIMIT"));
    let f = c.ok("FETCH 1 (FLAGS)").await;
    assert!(!f[0].contains("one-too-many"), "{}", f[0]);
    assert_eq!(
        c.ok("STATUS INBOX (MESSAGES)").await,
        vec!["* STATUS INBOX (MESSAGES 1)"]
    );
    c.ok("STORE 1 FLAGS (K7)").await;
    imap.shutdown().await;
}
