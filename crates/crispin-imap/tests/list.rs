//! LIST, LSUB, SUBSCRIBE, UNSUBSCRIBE and NAMESPACE (RFC 3501 §6.3.6–9,
//! RFC 3348 CHILDREN, RFC 6154 SPECIAL-USE, RFC 2342).

use crispin_testkit::*;

#[tokio::test]
async fn list_empty_pattern_returns_delimiter_and_root() {
    let imap = TestImap::start().await;
    let mut c = imap.login("alice").await;
    assert_eq!(
        c.cmd("LIST \"\" \"\"").await,
        vec!["* LIST (\\Noselect) \"/\" \"\"", "T2 OK LIST completed"]
    );
    imap.shutdown().await;
}

#[tokio::test]
async fn list_default_mailboxes_with_special_use() {
    let imap = TestImap::start().await;
    let mut c = imap.login("alice").await;
    let mut lines = c.ok("LIST \"\" *").await;
    lines.sort();
    assert_eq!(
        lines,
        vec![
            "* LIST (\\Archive \\HasNoChildren) \"/\" Archive",
            "* LIST (\\Drafts \\HasNoChildren) \"/\" Drafts",
            "* LIST (\\HasNoChildren) \"/\" INBOX",
            "* LIST (\\Junk \\HasNoChildren) \"/\" Junk",
            "* LIST (\\Sent \\HasNoChildren) \"/\" Sent",
            "* LIST (\\Trash \\HasNoChildren) \"/\" Trash",
        ]
    );
    // `%` at the top level is the same here; quoted patterns too.
    assert_eq!(names(&c.list("\"\"", "%").await), DEFAULT_MAILBOXES);
    assert_eq!(names(&c.list("\"\"", "\"*\"").await), DEFAULT_MAILBOXES);
    // A pattern that matches nothing is OK with no data.
    assert!(c.list("\"\"", "Nothing*").await.is_empty());
    assert!(c.list("\"\"", "sent").await.is_empty(), "case-sensitive");
    imap.shutdown().await;
}

#[tokio::test]
async fn list_wildcards_references_and_children() {
    let imap = TestImap::start().await;
    let mut c = imap.login("alice").await;
    for m in [
        "Work/Projects/Alpha",
        "Work/Projects/Beta",
        "Work/Notes",
        "Workshop",
    ] {
        c.ok(&format!("CREATE {m}")).await;
    }
    let has = |yes: bool| {
        attrs(&[if yes {
            "\\HasChildren"
        } else {
            "\\HasNoChildren"
        }])
    };

    let top = c.list("\"\"", "%").await;
    let mut expected: Vec<&str> = DEFAULT_MAILBOXES.to_vec();
    expected.extend(["Work", "Workshop"]);
    expected.sort();
    assert_eq!(names(&top), expected);
    assert_eq!(top["Work"], has(true));
    assert_eq!(top["Workshop"], has(false));

    let l = c.list("\"\"", "Work/%").await;
    assert_eq!(names(&l), ["Work/Notes", "Work/Projects"]);
    assert_eq!(l["Work/Projects"], has(true));
    assert_eq!(l["Work/Notes"], has(false));

    let l = c.list("\"\"", "\"Work/*\"").await;
    assert_eq!(
        names(&l),
        [
            "Work/Notes",
            "Work/Projects",
            "Work/Projects/Alpha",
            "Work/Projects/Beta"
        ]
    );
    assert_eq!(l["Work/Projects/Alpha"], has(false));

    let l = c.list("\"\"", "Work*").await;
    assert_eq!(
        names(&l),
        [
            "Work",
            "Work/Notes",
            "Work/Projects",
            "Work/Projects/Alpha",
            "Work/Projects/Beta",
            "Workshop"
        ]
    );
    assert_eq!(names(&c.list("\"\"", "Work%").await), ["Work", "Workshop"]);
    assert_eq!(
        names(&c.list("\"\"", "*/Alpha").await),
        ["Work/Projects/Alpha"]
    );
    assert_eq!(
        names(&c.list("\"\"", "%/%").await),
        ["Work/Notes", "Work/Projects"]
    );
    assert_eq!(
        names(&c.list("\"\"", "%/%/%").await),
        ["Work/Projects/Alpha", "Work/Projects/Beta"]
    );
    assert_eq!(
        names(&c.list("\"\"", "*a").await),
        ["Work/Projects/Alpha", "Work/Projects/Beta"]
    );
    assert_eq!(names(&c.list("\"\"", "W%/N%").await), ["Work/Notes"]);

    // The reference names a level of the hierarchy (RFC 3501 §6.3.8).
    assert_eq!(
        names(&c.list("Work/", "%").await),
        ["Work/Notes", "Work/Projects"]
    );
    assert_eq!(
        names(&c.list("\"Work/Projects/\"", "*").await),
        ["Work/Projects/Alpha", "Work/Projects/Beta"]
    );
    assert_eq!(names(&c.list("Work/", "Projects").await), ["Work/Projects"]);
    // A literal pattern.
    c.send("L1 LIST \"\" {6}").await;
    assert!(c.read_line().await.starts_with('+'));
    c.send("Work/%").await;
    let r = c.until_tag("L1").await;
    assert_eq!(r.len(), 3, "{r:?}");
    assert!(r[2].starts_with("L1 OK"), "{r:?}");
    imap.shutdown().await;
}

#[tokio::test]
async fn list_children_with_siblings_sorting_before_the_delimiter() {
    let imap = TestImap::start().await;
    let mut c = imap.login("alice").await;
    // ' ', '-' and '.' sort before '/', so "Work Archive" and "Work.old"
    // come between "Work" and "Work/Projects" in byte order.
    c.ok("CREATE Work/Projects").await;
    c.ok("CREATE \"Work Archive\"").await;
    c.ok("CREATE Work.old").await;
    c.ok("CREATE Work-x/y").await;
    let l = c.list("\"\"", "Work*").await;
    assert_eq!(
        names(&l),
        [
            "Work",
            "Work Archive",
            "Work-x",
            "Work-x/y",
            "Work.old",
            "Work/Projects"
        ]
    );
    assert_eq!(l["Work"], attrs(&["\\HasChildren"]));
    assert_eq!(l["Work Archive"], attrs(&["\\HasNoChildren"]));
    assert_eq!(l["Work.old"], attrs(&["\\HasNoChildren"]));
    assert_eq!(l["Work-x"], attrs(&["\\HasChildren"]));
    assert_eq!(l["Work/Projects"], attrs(&["\\HasNoChildren"]));
    // The same for a \Noselect placeholder and in LSUB.
    c.ok("DELETE Work").await;
    let l = c.list("\"\"", "Work").await;
    assert_eq!(l["Work"], attrs(&["\\Noselect", "\\HasChildren"]));
    c.ok("SUBSCRIBE Work/Projects").await;
    let l = c.lsub("\"\"", "%").await;
    assert_eq!(l["Work"], attrs(&["\\Noselect", "\\HasChildren"]));
    imap.shutdown().await;
}

#[tokio::test]
async fn list_inbox_is_case_insensitive() {
    let imap = TestImap::start().await;
    let mut c = imap.login("alice").await;
    for pat in ["inbox", "InBoX", "INBOX", "\"Inbox\""] {
        assert_eq!(
            c.ok(&format!("LIST \"\" {pat}")).await,
            vec!["* LIST (\\HasNoChildren) \"/\" INBOX"],
            "{pat}"
        );
    }
    // INBOX's children, created with any case, live under INBOX.
    c.ok("CREATE inbox/Sub").await;
    let l = c.list("\"\"", "INBOX*").await;
    assert_eq!(names(&l), ["INBOX", "INBOX/Sub"]);
    assert_eq!(l["INBOX"], attrs(&["\\HasChildren"]));
    assert_eq!(names(&c.list("\"\"", "inbox/%").await), ["INBOX/Sub"]);
    assert_eq!(names(&c.list("inbox/", "%").await), ["INBOX/Sub"]);
    assert_eq!(
        names(&c.list("\"\"", "Inbox/sub").await),
        Vec::<&str>::new()
    );
    assert_no(&c.status("CREATE Inbox/Sub").await, Some("ALREADYEXISTS"));
    assert_no(&c.status("CREATE InBoX").await, None);
    c.ok("SELECT iNbOx").await;
    assert_eq!(
        c.ok("STATUS Inbox (MESSAGES)").await,
        vec!["* STATUS INBOX (MESSAGES 0)"]
    );
    // Only the name INBOX is special: InboxX is an ordinary name.
    c.ok("CREATE InboxX").await;
    assert_eq!(names(&c.list("\"\"", "Inbox*").await), ["InboxX"]);
    c.ok("CREATE inboxx").await;
    assert_eq!(names(&c.list("\"\"", "inbox*").await), ["inboxx"]);
    imap.shutdown().await;
}

#[tokio::test]
async fn list_noselect_intermediate_levels() {
    let imap = TestImap::start().await;
    let mut c = imap.login("alice").await;
    c.ok("CREATE a/b/c").await;
    // CREATE made the superiors real mailboxes.
    let l = c.list("\"\"", "a*").await;
    assert_eq!(l["a"], attrs(&["\\HasChildren"]));
    assert_eq!(l["a/b"], attrs(&["\\HasChildren"]));
    assert_eq!(l["a/b/c"], attrs(&["\\HasNoChildren"]));
    c.ok("SELECT a/b").await;
    c.ok("UNSELECT").await;
    // Deleting an intermediate leaves a \Noselect placeholder.
    c.ok("DELETE a/b").await;
    let l = c.list("\"\"", "a*").await;
    assert_eq!(names(&l), ["a", "a/b", "a/b/c"]);
    assert_eq!(l["a/b"], attrs(&["\\Noselect", "\\HasChildren"]));
    assert_eq!(
        c.ok("LIST \"\" a/%").await,
        vec!["* LIST (\\Noselect \\HasChildren) \"/\" a/b"]
    );
    assert_eq!(names(&c.list("\"\"", "%/%/%").await), ["a/b/c"]);
    assert_no(&c.status("SELECT a/b").await, Some("NONEXISTENT"));
    assert_no(
        &c.status("STATUS a/b (MESSAGES)").await,
        Some("NONEXISTENT"),
    );
    assert_no(&c.status("DELETE a/b").await, None);
    // The placeholder can become a mailbox again.
    c.ok("CREATE a/b").await;
    assert_eq!(
        c.list("\"\"", "a/b").await["a/b"],
        attrs(&["\\HasChildren"])
    );
    // With the last child gone, no placeholder remains.
    c.ok("DELETE a/b/c").await;
    c.ok("DELETE a/b").await;
    c.ok("DELETE a").await;
    assert!(c.list("\"\"", "a*").await.is_empty());
    imap.shutdown().await;
}

#[tokio::test]
async fn list_quotes_names_that_are_not_atoms() {
    let imap = TestImap::start().await;
    let mut c = imap.login("alice").await;
    c.ok("CREATE \"My Folder\"").await;
    c.ok("CREATE \"say \\\"hi\\\"\"").await;
    c.ok("CREATE \"back\\\\slash\"").await;
    c.ok("CREATE nil").await;
    let mut lines = c.ok("LIST \"\" *").await;
    lines.retain(|l| {
        !DEFAULT_MAILBOXES
            .iter()
            .any(|d| l.ends_with(&format!(" {d}")))
    });
    lines.sort();
    assert_eq!(
        lines,
        vec![
            "* LIST (\\HasNoChildren) \"/\" \"My Folder\"",
            "* LIST (\\HasNoChildren) \"/\" \"back\\\\slash\"",
            "* LIST (\\HasNoChildren) \"/\" \"nil\"",
            "* LIST (\\HasNoChildren) \"/\" \"say \\\"hi\\\"\"",
        ]
    );
    c.ok("SELECT \"My Folder\"").await;
    assert_eq!(
        c.ok("STATUS \"say \\\"hi\\\"\" (MESSAGES)").await,
        vec!["* STATUS \"say \\\"hi\\\"\" (MESSAGES 0)"]
    );
    imap.shutdown().await;
}

#[tokio::test]
async fn list_syntax_errors() {
    let imap = TestImap::start().await;
    let mut c = imap.login("alice").await;
    for bad in [
        "LIST",
        "LIST \"\"",
        "LIST \"\" * extra",
        "LIST \"\" \"unterminated",
        "LSUB \"\"",
    ] {
        let r = c.cmd(bad).await;
        assert_eq!(r.len(), 1, "{bad}: {r:?}");
        assert_bad(&r[0]);
    }
    // Well formed, but no mailbox name can match: OK, nothing listed.
    for nothing in [
        "LIST \"\" \"&AGE-\"",
        "LIST \"&Jjo\" *",
        "LSUB \"\" \"&Jjo\"",
        "LIST \"\" (\"&AGE-\" \"&Jjo\")",
    ] {
        let r = c.cmd(nothing).await;
        assert_eq!(r.len(), 1, "{nothing}: {r:?}");
        assert_ok(&r[0]);
    }
    imap.shutdown().await;
}

#[tokio::test]
async fn subscribe_unsubscribe_lsub() {
    let imap = TestImap::start().await;
    let mut c = imap.login("alice").await;
    // New accounts have their default mailboxes subscribed.
    assert_eq!(names(&c.lsub("\"\"", "*").await), DEFAULT_MAILBOXES);
    c.ok("CREATE news").await;
    assert!(!c.lsub("\"\"", "*").await.contains_key("news"));
    assert_eq!(
        c.status("SUBSCRIBE news").await,
        "T5 OK SUBSCRIBE completed"
    );
    let l = c.lsub("\"\"", "news").await;
    assert_eq!(names(&l), ["news"]);
    assert!(!l["news"].contains(&"\\Noselect".to_string()), "{l:?}");
    // Subscribing twice is harmless.
    c.ok("SUBSCRIBE news").await;
    assert_eq!(names(&c.lsub("\"\"", "n*").await), ["news"]);
    assert_eq!(
        c.status("UNSUBSCRIBE news").await,
        "T9 OK UNSUBSCRIBE completed"
    );
    assert!(!c.lsub("\"\"", "*").await.contains_key("news"));
    // INBOX in any case.
    c.ok("UNSUBSCRIBE inbox").await;
    assert!(!c.lsub("\"\"", "*").await.contains_key("INBOX"));
    c.ok("SUBSCRIBE Inbox").await;
    assert_eq!(names(&c.lsub("\"\"", "inbox").await), ["INBOX"]);
    // LSUB with a reference.
    c.ok("CREATE r/s").await;
    c.ok("SUBSCRIBE r/s").await;
    assert_eq!(names(&c.lsub("r/", "%").await), ["r/s"]);
    // Bad names.
    assert_no(&c.status("SUBSCRIBE \"a//b\"").await, None);
    assert_no(&c.status("SUBSCRIBE \"&AGE-\"").await, Some("CANNOT"));
    assert_bad(&c.status("SUBSCRIBE").await);
    assert_bad(&c.status("UNSUBSCRIBE").await);
    // Subscriptions are per account.
    let mut b = imap.login("bob").await;
    assert_eq!(names(&b.lsub("\"\"", "*").await), DEFAULT_MAILBOXES);
    imap.shutdown().await;
}

#[tokio::test]
async fn lsub_percent_lists_noselect_parent() {
    let imap = TestImap::start().await;
    let mut c = imap.login("alice").await;
    c.ok("CREATE foo/bar").await;
    c.ok("SUBSCRIBE foo/bar").await;
    // RFC 3501 §6.3.9: `%` must return foo, not foo/bar, flagged \Noselect.
    let l = c.lsub("\"\"", "%").await;
    assert!(!l.contains_key("foo/bar"), "{l:?}");
    assert!(
        l.get("foo")
            .is_some_and(|a| a.contains(&"\\Noselect".to_string())),
        "{l:?}"
    );
    let l = c.lsub("\"\"", "f%").await;
    assert_eq!(names(&l), ["foo"]);
    // `*` lists the subscribed name itself and not the unsubscribed parent.
    let l = c.lsub("\"\"", "*").await;
    assert!(l.contains_key("foo/bar"), "{l:?}");
    assert!(!l.contains_key("foo"), "{l:?}");
    assert!(!l["foo/bar"].contains(&"\\Noselect".to_string()), "{l:?}");
    assert_eq!(names(&c.lsub("\"\"", "foo/%").await), ["foo/bar"]);
    // Once the parent is subscribed it is listed as itself.
    c.ok("SUBSCRIBE foo").await;
    let l = c.lsub("\"\"", "%").await;
    assert!(!l["foo"].contains(&"\\Noselect".to_string()), "{l:?}");
    imap.shutdown().await;
}

#[tokio::test]
async fn lsub_keeps_deleted_and_nonexistent_names() {
    let imap = TestImap::start().await;
    let mut c = imap.login("alice").await;
    // RFC 3501 §6.3.6: the server MUST NOT drop a subscription on its own.
    c.ok("DELETE Junk").await;
    let l = c.lsub("\"\"", "Junk").await;
    assert_eq!(names(&l), ["Junk"]);
    assert!(l["Junk"].contains(&"\\Noselect".to_string()), "{l:?}");
    // Subscribing to a name that does not exist (yet) is allowed here.
    c.ok("SUBSCRIBE later").await;
    assert_eq!(names(&c.lsub("\"\"", "later").await), ["later"]);
    // LIST is not affected by subscriptions.
    assert!(c.list("\"\"", "later").await.is_empty());
    assert!(c.list("\"\"", "Junk").await.is_empty());
    c.ok("CREATE later").await;
    let l = c.lsub("\"\"", "later").await;
    assert!(!l["later"].contains(&"\\Noselect".to_string()), "{l:?}");
    imap.shutdown().await;
}

#[tokio::test]
async fn namespace() {
    let imap = TestImap::start().await;
    let mut c = imap.connect().await;
    assert_bad_tag(&c.status("NAMESPACE").await, "T1");
    c.ok("LOGIN alice alice-pw").await;
    let r = c.cmd("NAMESPACE").await;
    assert_eq!(
        r,
        vec![
            "* NAMESPACE ((\"\" \"/\")) NIL NIL",
            "T3 OK NAMESPACE completed"
        ]
    );
    assert_bad_tag(&c.status("NAMESPACE x").await, "T4");
    imap.shutdown().await;
}
