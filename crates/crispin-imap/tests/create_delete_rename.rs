//! CREATE (with CREATE-SPECIAL-USE), DELETE and RENAME, and mailbox names
//! in modified UTF-7 (RFC 3501 §6.3.3–5, §5.1.3, RFC 6154).

use crispin_testkit::*;

#[tokio::test]
async fn create_mailboxes_and_missing_parents() {
    let imap = TestImap::start().await;
    let mut c = imap.login("alice").await;
    assert_eq!(c.status("CREATE Projects").await, "T2 OK CREATE completed");
    let l = c.list("\"\"", "Projects").await;
    assert_eq!(l["Projects"], attrs(&["\\HasNoChildren"]));
    c.ok("SELECT Projects").await;

    // Superiors are created as needed (RFC 3501 §6.3.3), as real mailboxes.
    c.ok("CREATE x/y/z").await;
    let l = c.list("\"\"", "x*").await;
    assert_eq!(names(&l), ["x", "x/y", "x/y/z"]);
    assert!(
        l.values().all(|a| !a.contains(&"\\Noselect".to_string())),
        "{l:?}"
    );
    c.ok("SELECT x").await;
    c.ok("SELECT x/y").await;
    c.ok("UNSELECT").await;

    // A trailing delimiter declares the intent to create children.
    c.ok("CREATE trail/").await;
    let l = c.list("\"\"", "trail*").await;
    assert_eq!(names(&l), ["trail"]);
    c.ok("SELECT trail").await;
    assert_no(&c.status("CREATE trail/").await, Some("ALREADYEXISTS"));
    assert_no(&c.status("CREATE trail").await, Some("ALREADYEXISTS"));
    c.ok("CREATE trail/child").await;

    // Existing names.
    assert_no(&c.status("CREATE Sent").await, Some("ALREADYEXISTS"));
    assert_no(&c.status("CREATE x/y").await, Some("ALREADYEXISTS"));
    // Names are case-sensitive apart from INBOX.
    c.ok("CREATE sent").await;
    assert_eq!(
        c.list("\"\"", "sent").await["sent"],
        attrs(&["\\HasNoChildren"])
    );
    imap.shutdown().await;
}

#[tokio::test]
async fn create_inbox_is_no() {
    let imap = TestImap::start().await;
    let mut c = imap.login("alice").await;
    for name in ["INBOX", "inbox", "Inbox", "\"INBOX\"", "INBOX/"] {
        let r = c.cmd(&format!("CREATE {name}")).await;
        assert_eq!(r.len(), 1, "{r:?}");
        assert_no(&r[0], None);
    }
    assert_eq!(names(&c.list("\"\"", "*").await), DEFAULT_MAILBOXES);
    imap.shutdown().await;
}

#[tokio::test]
async fn create_invalid_names_is_no() {
    let imap = TestImap::start().await;
    let mut c = imap.login("alice").await;
    let long = "n".repeat(600);
    let deep = vec!["d"; 40].join("/");
    for name in [
        "\"a//b\"",
        "\"/a\"",
        "\"/\"",
        "\"//\"",
        "\"a//\"",
        "..",
        "\".\"",
        "\"a/../b\"",
        "\"../x\"",
        "\"a/./b\"",
        "\"a/..\"",
        "\"\"",
        "\"a*\"",
        "\"a%\"",
        "\"*\"",
        "\"%\"",
        "\"x/%/y\"",
        long.as_str(),
        deep.as_str(),
    ] {
        let r = c.cmd(&format!("CREATE {name}")).await;
        assert_eq!(r.len(), 1, "{name}: {r:?}");
        assert_no(&r[0], None);
    }
    // Nothing was created, not even superiors of the refused names.
    assert_eq!(names(&c.list("\"\"", "*").await), DEFAULT_MAILBOXES);
    imap.shutdown().await;
}

#[tokio::test]
async fn invalid_modified_utf7_names_are_no_and_list_nothing() {
    let imap = TestImap::start().await;
    let mut c = imap.login("alice").await;
    for name in [
        "\"&AGE-\"",      // "a" shifted: a non-canonical alias
        "\"&Jjo\"",       // unterminated
        "\"Entw&APw\"",   // unterminated at the end
        "\"&Jjo!-\"",     // not base64
        "\"&2D0-\"",      // lone surrogate
        "\"&APw-&APw-\"", // two adjacent shifted runs
        "\"caf\u{e9}\"",  // raw 8-bit without UTF8=ACCEPT
        "\"tab\there\"",  // control character
    ] {
        // A well-formed command with a name no mailbox can have: NO, and
        // the same from SELECT, EXAMINE, DELETE and STATUS.
        for cmd in ["CREATE", "SELECT", "EXAMINE", "DELETE"] {
            let r = c.cmd(&format!("{cmd} {name}")).await;
            assert_eq!(r.len(), 1, "{cmd} {name}: {r:?}");
            // CREATE cannot make it; the others find no such mailbox.
            let code = if cmd == "CREATE" {
                "CANNOT"
            } else {
                "NONEXISTENT"
            };
            assert_no(&r[0], Some(code));
        }
        assert_no(
            &c.status(&format!("STATUS {name} (MESSAGES)")).await,
            Some("NONEXISTENT"),
        );
        // LIST with such a pattern lists nothing, and says OK.
        let r = c.cmd(&format!("LIST \"\" {name}")).await;
        assert_eq!(r.len(), 1, "LIST {name}: {r:?}");
        assert_ok(&r[0]);
    }
    assert_eq!(names(&c.list("\"\"", "*").await), DEFAULT_MAILBOXES);
    imap.shutdown().await;
}

#[tokio::test]
async fn create_with_special_use() {
    let imap = TestImap::start().await;
    let mut c = imap.login("alice").await;
    c.ok("CREATE MySent (USE (\\Sent))").await;
    assert_eq!(
        c.ok("LIST \"\" MySent").await,
        vec!["* LIST (\\Sent \\HasNoChildren) \"/\" MySent"]
    );
    // The attribute name is case-insensitive; the canonical one is listed.
    c.ok("CREATE Bin (USE (\\trash))").await;
    assert_eq!(
        c.list("\"\"", "Bin").await["Bin"],
        attrs(&["\\Trash", "\\HasNoChildren"])
    );
    // With missing superiors: only the named mailbox gets the use.
    c.ok("CREATE Folders/Mine (USE (\\Drafts))").await;
    let l = c.list("\"\"", "Folders*").await;
    assert_eq!(l["Folders"], attrs(&["\\HasChildren"]));
    assert_eq!(l["Folders/Mine"], attrs(&["\\Drafts", "\\HasNoChildren"]));
    for u in ["\\Archive", "\\Junk"] {
        let name = format!("Box{}", &u[1..]);
        c.ok(&format!("CREATE {name} (USE ({u}))")).await;
        assert_eq!(
            c.list("\"\"", &name).await[&name],
            attrs(&[u, "\\HasNoChildren"])
        );
    }
    // An empty USE list is a plain CREATE.
    c.ok("CREATE Plain (USE ())").await;
    assert_eq!(
        c.list("\"\"", "Plain").await["Plain"],
        attrs(&["\\HasNoChildren"])
    );

    // Uses we cannot give: NO [USEATTR], and nothing is created
    // (RFC 6154 §3, also not the missing superiors).
    for (name, u) in [
        ("AllMail", "(\\All)"),
        ("Starred", "(\\Flagged)"),
        ("Odd", "(\\Foo)"),
        ("Kw", "(keyword)"),
        ("Two", "(\\Sent \\Drafts)"),
        ("Deep/Er", "(\\All)"),
    ] {
        let st = c.status(&format!("CREATE {name} (USE {u})")).await;
        assert_no(&st, Some("USEATTR"));
        let top = name.split('/').next().unwrap();
        assert!(
            c.list("\"\"", &format!("{top}*")).await.is_empty(),
            "{name} created"
        );
    }
    // Malformed parameters.
    for bad in [
        "CREATE p (USE \\Sent)",
        "CREATE p (FOO (\\Sent))",
        "CREATE p (USE (\\Sent)",
        "CREATE p USE (\\Sent)",
        "CREATE p ()",
    ] {
        assert_bad(&c.status(bad).await);
    }
    assert!(c.list("\"\"", "p").await.is_empty());
    // The use stays with the mailbox through RENAME.
    c.ok("RENAME MySent Old/MySent").await;
    assert_eq!(
        c.list("\"\"", "Old/MySent").await["Old/MySent"],
        attrs(&["\\Sent", "\\HasNoChildren"])
    );
    imap.shutdown().await;
}

#[tokio::test]
async fn delete_mailboxes() {
    let imap = TestImap::start().await;
    let mut c = imap.login("alice").await;
    assert_no(&c.status("DELETE INBOX").await, None);
    assert_no(&c.status("DELETE inbox").await, None);
    assert_no(&c.status("DELETE Nowhere").await, Some("NONEXISTENT"));
    assert_no(&c.status("DELETE \"a//b\"").await, None);
    assert_no(&c.status("DELETE \"&AGE-\"").await, None);
    assert_bad(&c.status("DELETE").await);

    assert_eq!(c.status("DELETE Junk").await, "T8 OK DELETE completed");
    assert!(c.list("\"\"", "Junk").await.is_empty());
    assert_no(
        &c.status("STATUS Junk (MESSAGES)").await,
        Some("NONEXISTENT"),
    );
    assert_no(&c.status("SELECT Junk").await, Some("NONEXISTENT"));
    assert_no(&c.status("DELETE Junk").await, Some("NONEXISTENT"));
    assert_eq!(
        names(&c.list("\"\"", "*").await),
        ["Archive", "Drafts", "INBOX", "Sent", "Trash"]
    );
    imap.shutdown().await;
}

#[tokio::test]
async fn delete_removes_messages_and_recreate_is_fresh() {
    let imap = TestImap::start().await;
    let mut c = imap.login("alice").await;
    c.ok("CREATE box").await;
    c.append("box", "()", &message("a", "1")).await;
    c.append("box", "()", &message("b", "2")).await;
    let validity = c.status_item("box", "UIDVALIDITY").await;
    let next = c.status_item("box", "UIDNEXT").await;
    c.ok("DELETE box").await;
    c.ok("CREATE box").await;
    assert_eq!(c.status_item("box", "MESSAGES").await, 0);
    // RFC 3501 §2.3.1.1: a new mailbox of the same name must not reuse
    // UIDs under the same UIDVALIDITY.
    let validity2 = c.status_item("box", "UIDVALIDITY").await;
    let next2 = c.status_item("box", "UIDNEXT").await;
    assert!(
        validity2 != validity || next2 >= next,
        "{validity}/{next} vs {validity2}/{next2}"
    );
    imap.shutdown().await;
}

#[tokio::test]
async fn delete_parent_keeps_children() {
    let imap = TestImap::start().await;
    let mut c = imap.login("alice").await;
    c.ok("CREATE p/c").await;
    c.append("p", "()", &message("in-parent", "x")).await;
    c.ok("DELETE p").await;
    assert_eq!(
        c.ok("LIST \"\" p").await,
        vec!["* LIST (\\Noselect \\HasChildren) \"/\" p"]
    );
    let l = c.list("\"\"", "p*").await;
    assert_eq!(l["p/c"], attrs(&["\\HasNoChildren"]));
    assert_eq!(c.status_item("p/c", "MESSAGES").await, 0);
    // The \Noselect placeholder cannot be selected or deleted again.
    assert_no(&c.status("SELECT p").await, Some("NONEXISTENT"));
    assert_no(&c.status("DELETE p").await, None);
    // APPEND to it asks the client to create it.
    let st = c.append("p", "()", &message("again", "y")).await;
    assert_no(&st, Some("TRYCREATE"));
    imap.shutdown().await;
}

#[tokio::test]
async fn delete_selected_mailbox_is_no() {
    let imap = TestImap::start().await;
    let mut c = imap.login("alice").await;
    c.ok("CREATE busy").await;
    c.ok("SELECT busy").await;
    assert_no(&c.status("DELETE busy").await, None);
    assert_eq!(names(&c.list("\"\"", "busy").await), ["busy"]);
    // Still selected and usable.
    c.ok("NOOP").await;
    c.ok("SEARCH ALL").await;
    c.ok("EXAMINE busy").await;
    assert_no(&c.status("DELETE busy").await, None);
    c.ok("UNSELECT").await;
    c.ok("DELETE busy").await;
    assert!(c.list("\"\"", "busy").await.is_empty());
    imap.shutdown().await;
}

#[tokio::test]
async fn rename_errors() {
    let imap = TestImap::start().await;
    let mut c = imap.login("alice").await;
    c.ok("CREATE f/g").await;
    assert_no(
        &c.status("RENAME Nowhere Somewhere").await,
        Some("NONEXISTENT"),
    );
    assert!(c.list("\"\"", "Somewhere").await.is_empty());
    assert_no(&c.status("RENAME Drafts Sent").await, Some("ALREADYEXISTS"));
    assert_no(
        &c.status("RENAME Drafts INBOX").await,
        Some("ALREADYEXISTS"),
    );
    assert_no(
        &c.status("RENAME Drafts inbox").await,
        Some("ALREADYEXISTS"),
    );
    assert_no(
        &c.status("RENAME Drafts Drafts").await,
        Some("ALREADYEXISTS"),
    );
    assert_no(&c.status("RENAME Drafts f/g").await, Some("ALREADYEXISTS"));
    // Into itself.
    assert_no(&c.status("RENAME f f/g/h").await, None);
    assert_no(&c.status("RENAME f f/x").await, None);
    // Invalid target names.
    for to in ["\"a//b\"", "\"/x\"", "..", "\"x*\"", "\"x%\"", "\"\""] {
        assert_no(&c.status(&format!("RENAME Drafts {to}")).await, None);
    }
    assert_no(&c.status("RENAME Drafts \"&AGE-\"").await, Some("CANNOT"));
    assert_bad(&c.status("RENAME Drafts").await);
    // Nothing changed.
    let mut expected: Vec<&str> = DEFAULT_MAILBOXES.to_vec();
    expected.extend(["f", "f/g"]);
    expected.sort();
    assert_eq!(names(&c.list("\"\"", "*").await), expected);
    assert_eq!(
        c.list("\"\"", "Drafts").await["Drafts"],
        attrs(&["\\Drafts", "\\HasNoChildren"])
    );
    imap.shutdown().await;
}

#[tokio::test]
async fn rename_moves_children_messages_and_subscriptions() {
    let imap = TestImap::start().await;
    let mut c = imap.login("alice").await;
    c.ok("CREATE f/g/h").await;
    c.ok("CREATE fx").await;
    c.ok("SUBSCRIBE f/g").await;
    c.append("f/g/h", "(\\Seen)", &message("deep", "x")).await;
    c.append("f", "()", &message("top", "y")).await;
    c.ok("RENAME f n").await;
    assert!(c.list("\"\"", "f").await.is_empty());
    assert!(c.list("\"\"", "f/*").await.is_empty());
    // A sibling sharing the prefix is untouched.
    assert_eq!(names(&c.list("\"\"", "f*").await), ["fx"]);
    let l = c.list("\"\"", "n*").await;
    assert_eq!(names(&l), ["n", "n/g", "n/g/h"]);
    assert_eq!(l["n"], attrs(&["\\HasChildren"]));
    assert_eq!(c.status_item("n/g/h", "MESSAGES").await, 1);
    assert_eq!(c.status_item("n/g/h", "UNSEEN").await, 0);
    assert_eq!(c.status_item("n", "MESSAGES").await, 1);
    let subs = c.lsub("\"\"", "*").await;
    assert!(subs.contains_key("n/g"), "{subs:?}");
    assert!(!subs.contains_key("f/g"), "{subs:?}");
    // The renamed mailbox can be selected and the old name reused.
    c.ok("SELECT n/g/h").await;
    c.ok("CREATE f").await;
    assert_eq!(c.status_item("f", "MESSAGES").await, 0);
    // Into new superiors, which are created; special use kept.
    c.ok("RENAME Archive Old/2024/Archive").await;
    let l = c.list("\"\"", "Old*").await;
    assert_eq!(names(&l), ["Old", "Old/2024", "Old/2024/Archive"]);
    assert_eq!(
        l["Old/2024/Archive"],
        attrs(&["\\Archive", "\\HasNoChildren"])
    );
    assert!(c.list("\"\"", "Archive").await.is_empty());
    imap.shutdown().await;
}

#[tokio::test]
async fn rename_selected_mailbox() {
    let imap = TestImap::start().await;
    let mut c = imap.login("alice").await;
    c.ok("CREATE here").await;
    c.append("here", "()", &message("m", "x")).await;
    c.ok("SELECT here").await;
    c.ok("RENAME here there").await;
    // The session keeps working on the (renamed) mailbox.
    let f = c.ok("FETCH 1 (FLAGS)").await;
    assert_eq!(f.len(), 1, "{f:?}");
    assert!(f[0].starts_with("* 1 FETCH (FLAGS ("), "{f:?}");
    c.ok("STORE 1 +FLAGS.SILENT (\\Flagged)").await;
    c.ok("UNSELECT").await;
    assert_no(&c.status("SELECT here").await, Some("NONEXISTENT"));
    c.ok("SELECT there").await;
    let f = c.ok("FETCH 1 (FLAGS)").await;
    assert!(f[0].contains("\\Flagged"), "{f:?}");
    imap.shutdown().await;
}

#[tokio::test]
async fn rename_inbox_moves_messages_only() {
    let imap = TestImap::start().await;
    let mut c = imap.login("alice").await;
    c.append("INBOX", "()", &message("one", "1")).await;
    c.append("INBOX", "(\\Seen)", &message("two", "2")).await;
    c.ok("CREATE INBOX/keep").await;
    c.append("INBOX/keep", "()", &message("kept", "3")).await;
    let inbox_next = c.status_item("INBOX", "UIDNEXT").await;
    let inbox_validity = c.status_item("INBOX", "UIDVALIDITY").await;

    c.ok("RENAME INBOX Saved").await;
    // The messages moved to a new mailbox...
    assert_eq!(
        c.ok("STATUS Saved (MESSAGES UNSEEN)").await,
        vec!["* STATUS Saved (MESSAGES 2 UNSEEN 1)"]
    );
    c.ok("SELECT Saved").await;
    let f = c.ok("FETCH 1:* (BODY.PEEK[HEADER.FIELDS (SUBJECT)])").await;
    assert_eq!(f.len(), 2, "{f:?}");
    assert!(f[0].contains("Subject: one"), "{f:?}");
    assert!(f[1].contains("Subject: two"), "{f:?}");
    c.ok("UNSELECT").await;
    // ...INBOX still exists and is empty, its children did not move...
    let l = c.list("\"\"", "*").await;
    assert!(l.contains_key("INBOX"), "{l:?}");
    assert_eq!(l["INBOX"], attrs(&["\\HasChildren"]));
    assert!(l.contains_key("INBOX/keep"), "{l:?}");
    assert_eq!(l["Saved"], attrs(&["\\HasNoChildren"]));
    assert!(!l.contains_key("Saved/keep"), "{l:?}");
    assert_eq!(c.status_item("INBOX", "MESSAGES").await, 0);
    assert_eq!(c.status_item("INBOX/keep", "MESSAGES").await, 1);
    let sel = c.ok("SELECT INBOX").await;
    assert!(sel.contains(&"* 0 EXISTS".to_string()), "{sel:?}");
    // ...and INBOX never hands out an old UID again under the same
    // UIDVALIDITY.
    let validity = code_value(&sel, "UIDVALIDITY");
    let next = code_value(&sel, "UIDNEXT");
    assert!(
        u64::from(validity) != inbox_validity || u64::from(next) >= inbox_next,
        "{inbox_validity}/{inbox_next} vs {validity}/{next}"
    );
    let st = c.append("INBOX", "()", &message("new", "4")).await;
    assert!(st.contains("OK [APPENDUID "), "{st}");
    assert_eq!(c.status_item("INBOX", "MESSAGES").await, 1);
    assert_eq!(c.status_item("Saved", "MESSAGES").await, 2);
    // Renaming INBOX under itself works too.
    c.ok("RENAME INBOX INBOX/old").await;
    assert_eq!(c.status_item("INBOX/old", "MESSAGES").await, 1);
    assert_eq!(c.status_item("INBOX", "MESSAGES").await, 0);
    imap.shutdown().await;
}

#[tokio::test]
async fn rename_inbox_while_selected_expunges_it() {
    let imap = TestImap::start().await;
    let mut c = imap.login("alice").await;
    c.append("INBOX", "()", &message("one", "1")).await;
    c.append("INBOX", "()", &message("two", "2")).await;
    let mut watcher = imap.login("alice").await;
    watcher.ok("SELECT INBOX").await;
    c.ok("SELECT INBOX").await;
    // The session that renamed INBOX learns that its messages left.
    let r = c.ok("RENAME INBOX Moved").await;
    let expunges = r.iter().filter(|l| l.ends_with(" EXPUNGE")).count();
    assert_eq!(expunges, 2, "{r:?}");
    assert_bad(&c.status("FETCH 1 FLAGS").await);
    // So does another session with INBOX selected, at its next NOOP.
    let r = watcher.ok("NOOP").await;
    let expunges = r.iter().filter(|l| l.ends_with(" EXPUNGE")).count();
    assert_eq!(expunges, 2, "{r:?}");
    // INBOX is still selected and now empty; new mail arrives in it.
    watcher.ok("UNSELECT").await;
    watcher.append("INBOX", "()", &message("three", "3")).await;
    let r = c.ok("NOOP").await;
    assert_eq!(r, vec!["* 1 EXISTS", "* 1 RECENT"]);
    let f = c.ok("FETCH 1 (BODY.PEEK[HEADER.FIELDS (SUBJECT)])").await;
    assert!(f[0].contains("Subject: three"), "{f:?}");
    assert_eq!(c.status_item("Moved", "MESSAGES").await, 2);
    imap.shutdown().await;
}

#[tokio::test]
async fn modified_utf7_names_round_trip() {
    let imap = TestImap::start().await;
    let mut c = imap.login("alice").await;
    c.ok("CREATE Entw&APw-rfe").await;
    assert_eq!(
        c.ok("LIST \"\" Entw*").await,
        vec!["* LIST (\\HasNoChildren) \"/\" Entw&APw-rfe"]
    );
    assert_eq!(
        c.ok("LIST \"\" \"Entw&APw-*\"").await,
        vec!["* LIST (\\HasNoChildren) \"/\" Entw&APw-rfe"]
    );
    let r = c.ok("SELECT Entw&APw-rfe").await;
    assert!(r.contains(&"* 0 EXISTS".to_string()), "{r:?}");
    c.ok("UNSELECT").await;
    let st = c.append("Entw&APw-rfe", "()", &message("u", "x")).await;
    assert!(st.contains("OK [APPENDUID "), "{st}");
    assert_eq!(
        c.ok("STATUS Entw&APw-rfe (MESSAGES)").await,
        vec!["* STATUS Entw&APw-rfe (MESSAGES 1)"]
    );
    assert_no(
        &c.status("CREATE Entw&APw-rfe").await,
        Some("ALREADYEXISTS"),
    );

    // The RFC 3501 §5.1.3 example, with its superiors.
    c.ok("CREATE ~peter/mail/&U,BTFw-/&ZeVnLIqe-").await;
    let l = c.list("\"\"", "~peter/*").await;
    assert_eq!(
        names(&l),
        [
            "~peter/mail",
            "~peter/mail/&U,BTFw-",
            "~peter/mail/&U,BTFw-/&ZeVnLIqe-"
        ]
    );
    c.ok("SELECT ~peter/mail/&U,BTFw-/&ZeVnLIqe-").await;
    c.ok("UNSELECT").await;

    // `&` itself is `&-`.
    c.ok("CREATE R&-D").await;
    assert_eq!(
        c.ok("LIST \"\" R*").await,
        vec!["* LIST (\\HasNoChildren) \"/\" R&-D"]
    );

    // RENAME and DELETE by encoded name.
    c.ok("RENAME Entw&APw-rfe &BB4EQgQ,BEAEMAQyBDsENQQ9BD0ESwQ1-")
        .await;
    assert_eq!(
        c.ok("LIST \"\" \"&BB4EQgQ,BEAEMAQyBDsENQQ9BD0ESwQ1-*\"")
            .await,
        vec!["* LIST (\\HasNoChildren) \"/\" &BB4EQgQ,BEAEMAQyBDsENQQ9BD0ESwQ1-"]
    );
    assert_eq!(
        c.status_item("&BB4EQgQ,BEAEMAQyBDsENQQ9BD0ESwQ1-", "MESSAGES")
            .await,
        1
    );
    c.ok("DELETE &BB4EQgQ,BEAEMAQyBDsENQQ9BD0ESwQ1-").await;
    assert!(
        c.list("\"\"", "&BB4EQgQ,BEAEMAQyBDsENQQ9BD0ESwQ1-")
            .await
            .is_empty()
    );
    // A non-canonical spelling does not reach an existing mailbox.
    c.ok("CREATE a").await;
    assert_no(&c.status("SELECT &AGE-").await, None);
    imap.shutdown().await;
}
