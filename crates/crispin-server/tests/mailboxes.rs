//! Mailbox-level protocol tests: CREATE, DELETE, RENAME, SUBSCRIBE,
//! UNSUBSCRIBE, LIST, LSUB, STATUS, SELECT, EXAMINE, UNSELECT (RFC 3501
//! §6.3, RFC 3348 CHILDREN, RFC 6154 SPECIAL-USE and CREATE-SPECIAL-USE,
//! RFC 3691 UNSELECT), modified UTF-7 names and isolation between accounts.

use crispin_testkit::*;
use std::collections::BTreeMap;

/// The tagged status word of a tagged line: `OK`, `NO` or `BAD`.
fn word(line: &str) -> &str {
    line.split(' ').nth(1).unwrap_or_default()
}

/// Asserts a tagged line is `NO`, optionally with a response code.
#[track_caller]
fn assert_no(line: &str, code: Option<&str>) {
    assert_eq!(word(line), "NO", "expected NO: {line}");
    if let Some(code) = code {
        assert!(
            line.split(' ').nth(2) == Some(&format!("[{code}]")[..]),
            "expected NO [{code}]: {line}"
        );
    }
}

/// A tagged line without its tag.
fn untag(line: &str) -> &str {
    line.split_once(' ').map_or("", |(_, rest)| rest)
}

#[track_caller]
fn assert_bad(line: &str) {
    assert_eq!(word(line), "BAD", "expected BAD: {line}");
}

/// Reads an IMAP astring at the start of `s` (atom or quoted string).
fn astring(s: &str) -> String {
    let Some(q) = s.strip_prefix('"') else {
        return s.to_string();
    };
    let mut out = String::new();
    let mut chars = q.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.push(chars.next().expect("escape at end")),
            '"' => {
                assert_eq!(chars.next(), None, "text after quoted name: {s}");
                return out;
            }
            c => out.push(c),
        }
    }
    panic!("unterminated quoted name: {s}");
}

/// Parses `* LIST (attrs) "/" name` (or LSUB) into the name and the
/// attributes, sorted (the RFC does not fix their order).
fn parse_list(line: &str, word: &str) -> (String, Vec<String>) {
    let rest = line
        .strip_prefix(&format!("* {word} ("))
        .unwrap_or_else(|| panic!("not a {word} response: {line}"));
    let (attrs, rest) = rest.split_once(") ").expect("attribute list");
    let name = rest
        .strip_prefix("\"/\" ")
        .unwrap_or_else(|| panic!("delimiter must be \"/\": {line}"));
    let mut attrs: Vec<String> = attrs.split_whitespace().map(String::from).collect();
    attrs.sort();
    (astring(name), attrs)
}

fn attrs(a: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = a.iter().map(|s| s.to_string()).collect();
    v.sort();
    v
}

/// LIST (or LSUB) results as name → sorted attributes; no name twice.
async fn listing(c: &mut Client, cmd: &str) -> BTreeMap<String, Vec<String>> {
    let word = cmd.split(' ').next().unwrap().to_ascii_uppercase();
    let mut map = BTreeMap::new();
    for line in c.ok(cmd).await {
        let (name, attrs) = parse_list(&line, &word);
        assert!(map.insert(name, attrs).is_none(), "listed twice: {line}");
    }
    map
}

async fn list(c: &mut Client, reference: &str, pattern: &str) -> BTreeMap<String, Vec<String>> {
    listing(c, &format!("LIST {reference} {pattern}")).await
}

async fn lsub(c: &mut Client, reference: &str, pattern: &str) -> BTreeMap<String, Vec<String>> {
    listing(c, &format!("LSUB {reference} {pattern}")).await
}

fn names(map: &BTreeMap<String, Vec<String>>) -> Vec<&str> {
    map.keys().map(String::as_str).collect()
}

/// One STATUS item's value.
async fn status_item(c: &mut Client, mailbox: &str, item: &str) -> u64 {
    let lines = c.ok(&format!("STATUS {mailbox} ({item})")).await;
    assert_eq!(lines.len(), 1, "{lines:?}");
    let inner = lines[0]
        .rsplit_once(" (")
        .and_then(|(_, r)| r.strip_suffix(')'))
        .unwrap_or_else(|| panic!("bad STATUS response {}", lines[0]));
    let (name, value) = inner.split_once(' ').unwrap();
    assert_eq!(name, item);
    value.parse().unwrap()
}

/// The number inside a response code line like `* OK [UIDNEXT 4] ...`.
fn code_value(lines: &[String], code: &str) -> u32 {
    let prefix = format!("* OK [{code} ");
    let line = lines
        .iter()
        .find(|l| l.starts_with(&prefix))
        .unwrap_or_else(|| panic!("no [{code}] in {lines:#?}"));
    line[prefix.len()..]
        .split(']')
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

const DEFAULTS: [&str; 6] = ["Archive", "Drafts", "INBOX", "Junk", "Sent", "Trash"];

// ---------------------------------------------------------------------------
// LIST

#[tokio::test]
async fn list_empty_pattern_returns_delimiter_and_root() {
    let server = TestServer::start().await;
    let mut c = server.login("alice").await;
    assert_eq!(
        c.cmd("LIST \"\" \"\"").await,
        vec!["* LIST (\\Noselect) \"/\" \"\"", "T2 OK LIST completed"]
    );
    server.shutdown().await;
}

#[tokio::test]
async fn list_default_mailboxes_with_special_use() {
    let server = TestServer::start().await;
    let mut c = server.login("alice").await;
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
    assert_eq!(names(&list(&mut c, "\"\"", "%").await), DEFAULTS);
    assert_eq!(names(&list(&mut c, "\"\"", "\"*\"").await), DEFAULTS);
    // A pattern that matches nothing is OK with no data.
    assert!(list(&mut c, "\"\"", "Nothing*").await.is_empty());
    assert!(
        list(&mut c, "\"\"", "sent").await.is_empty(),
        "case-sensitive"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn list_wildcards_references_and_children() {
    let server = TestServer::start().await;
    let mut c = server.login("alice").await;
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

    let top = list(&mut c, "\"\"", "%").await;
    let mut expected: Vec<&str> = DEFAULTS.to_vec();
    expected.extend(["Work", "Workshop"]);
    expected.sort();
    assert_eq!(names(&top), expected);
    assert_eq!(top["Work"], has(true));
    assert_eq!(top["Workshop"], has(false));

    let l = list(&mut c, "\"\"", "Work/%").await;
    assert_eq!(names(&l), ["Work/Notes", "Work/Projects"]);
    assert_eq!(l["Work/Projects"], has(true));
    assert_eq!(l["Work/Notes"], has(false));

    let l = list(&mut c, "\"\"", "\"Work/*\"").await;
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

    let l = list(&mut c, "\"\"", "Work*").await;
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
    assert_eq!(
        names(&list(&mut c, "\"\"", "Work%").await),
        ["Work", "Workshop"]
    );
    assert_eq!(
        names(&list(&mut c, "\"\"", "*/Alpha").await),
        ["Work/Projects/Alpha"]
    );
    assert_eq!(
        names(&list(&mut c, "\"\"", "%/%").await),
        ["Work/Notes", "Work/Projects"]
    );
    assert_eq!(
        names(&list(&mut c, "\"\"", "%/%/%").await),
        ["Work/Projects/Alpha", "Work/Projects/Beta"]
    );
    assert_eq!(
        names(&list(&mut c, "\"\"", "*a").await),
        ["Work/Projects/Alpha", "Work/Projects/Beta"]
    );
    assert_eq!(names(&list(&mut c, "\"\"", "W%/N%").await), ["Work/Notes"]);

    // The reference names a level of the hierarchy (RFC 3501 §6.3.8).
    assert_eq!(
        names(&list(&mut c, "Work/", "%").await),
        ["Work/Notes", "Work/Projects"]
    );
    assert_eq!(
        names(&list(&mut c, "\"Work/Projects/\"", "*").await),
        ["Work/Projects/Alpha", "Work/Projects/Beta"]
    );
    assert_eq!(
        names(&list(&mut c, "Work/", "Projects").await),
        ["Work/Projects"]
    );
    // A literal pattern.
    c.send("L1 LIST \"\" {6}").await;
    assert!(c.read_line().await.starts_with('+'));
    c.send("Work/%").await;
    let r = c.until_tag("L1").await;
    assert_eq!(r.len(), 3, "{r:?}");
    assert!(r[2].starts_with("L1 OK"), "{r:?}");
    server.shutdown().await;
}

#[tokio::test]
async fn list_children_with_siblings_sorting_before_the_delimiter() {
    let server = TestServer::start().await;
    let mut c = server.login("alice").await;
    // ' ', '-' and '.' sort before '/', so "Work Archive" and "Work.old"
    // come between "Work" and "Work/Projects" in byte order.
    c.ok("CREATE Work/Projects").await;
    c.ok("CREATE \"Work Archive\"").await;
    c.ok("CREATE Work.old").await;
    c.ok("CREATE Work-x/y").await;
    let l = list(&mut c, "\"\"", "Work*").await;
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
    let l = list(&mut c, "\"\"", "Work").await;
    assert_eq!(l["Work"], attrs(&["\\Noselect", "\\HasChildren"]));
    c.ok("SUBSCRIBE Work/Projects").await;
    let l = lsub(&mut c, "\"\"", "%").await;
    assert_eq!(l["Work"], attrs(&["\\Noselect", "\\HasChildren"]));
    server.shutdown().await;
}

#[tokio::test]
async fn list_inbox_is_case_insensitive() {
    let server = TestServer::start().await;
    let mut c = server.login("alice").await;
    for pat in ["inbox", "InBoX", "INBOX", "\"Inbox\""] {
        assert_eq!(
            c.ok(&format!("LIST \"\" {pat}")).await,
            vec!["* LIST (\\HasNoChildren) \"/\" INBOX"],
            "{pat}"
        );
    }
    // INBOX's children, created with any case, live under INBOX.
    c.ok("CREATE inbox/Sub").await;
    let l = list(&mut c, "\"\"", "INBOX*").await;
    assert_eq!(names(&l), ["INBOX", "INBOX/Sub"]);
    assert_eq!(l["INBOX"], attrs(&["\\HasChildren"]));
    assert_eq!(names(&list(&mut c, "\"\"", "inbox/%").await), ["INBOX/Sub"]);
    assert_eq!(names(&list(&mut c, "inbox/", "%").await), ["INBOX/Sub"]);
    assert_eq!(
        names(&list(&mut c, "\"\"", "Inbox/sub").await),
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
    assert_eq!(names(&list(&mut c, "\"\"", "Inbox*").await), ["InboxX"]);
    c.ok("CREATE inboxx").await;
    assert_eq!(names(&list(&mut c, "\"\"", "inbox*").await), ["inboxx"]);
    server.shutdown().await;
}

#[tokio::test]
async fn list_noselect_intermediate_levels() {
    let server = TestServer::start().await;
    let mut c = server.login("alice").await;
    c.ok("CREATE a/b/c").await;
    // CREATE made the superiors real mailboxes.
    let l = list(&mut c, "\"\"", "a*").await;
    assert_eq!(l["a"], attrs(&["\\HasChildren"]));
    assert_eq!(l["a/b"], attrs(&["\\HasChildren"]));
    assert_eq!(l["a/b/c"], attrs(&["\\HasNoChildren"]));
    c.ok("SELECT a/b").await;
    c.ok("UNSELECT").await;
    // Deleting an intermediate leaves a \Noselect placeholder.
    c.ok("DELETE a/b").await;
    let l = list(&mut c, "\"\"", "a*").await;
    assert_eq!(names(&l), ["a", "a/b", "a/b/c"]);
    assert_eq!(l["a/b"], attrs(&["\\Noselect", "\\HasChildren"]));
    assert_eq!(
        c.ok("LIST \"\" a/%").await,
        vec!["* LIST (\\Noselect \\HasChildren) \"/\" a/b"]
    );
    assert_eq!(names(&list(&mut c, "\"\"", "%/%/%").await), ["a/b/c"]);
    assert_no(&c.status("SELECT a/b").await, Some("NONEXISTENT"));
    assert_no(
        &c.status("STATUS a/b (MESSAGES)").await,
        Some("NONEXISTENT"),
    );
    assert_no(&c.status("DELETE a/b").await, None);
    // The placeholder can become a mailbox again.
    c.ok("CREATE a/b").await;
    assert_eq!(
        list(&mut c, "\"\"", "a/b").await["a/b"],
        attrs(&["\\HasChildren"])
    );
    // With the last child gone, no placeholder remains.
    c.ok("DELETE a/b/c").await;
    c.ok("DELETE a/b").await;
    c.ok("DELETE a").await;
    assert!(list(&mut c, "\"\"", "a*").await.is_empty());
    server.shutdown().await;
}

#[tokio::test]
async fn list_quotes_names_that_are_not_atoms() {
    let server = TestServer::start().await;
    let mut c = server.login("alice").await;
    c.ok("CREATE \"My Folder\"").await;
    c.ok("CREATE \"say \\\"hi\\\"\"").await;
    c.ok("CREATE \"back\\\\slash\"").await;
    c.ok("CREATE nil").await;
    let mut lines = c.ok("LIST \"\" *").await;
    lines.retain(|l| !DEFAULTS.iter().any(|d| l.ends_with(&format!(" {d}"))));
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
    server.shutdown().await;
}

#[tokio::test]
async fn list_syntax_errors() {
    let server = TestServer::start().await;
    let mut c = server.login("alice").await;
    for bad in [
        "LIST",
        "LIST \"\"",
        "LIST \"\" * extra",
        "LIST \"\" \"unterminated",
        "LSUB \"\"",
        "LIST \"\" \"&AGE-\"",
        "LIST \"&Jjo\" *",
    ] {
        let r = c.cmd(bad).await;
        assert_eq!(r.len(), 1, "{bad}: {r:?}");
        assert_bad(&r[0]);
    }
    server.shutdown().await;
}

// ---------------------------------------------------------------------------
// CREATE

#[tokio::test]
async fn create_mailboxes_and_missing_parents() {
    let server = TestServer::start().await;
    let mut c = server.login("alice").await;
    assert_eq!(c.status("CREATE Projects").await, "T2 OK CREATE completed");
    let l = list(&mut c, "\"\"", "Projects").await;
    assert_eq!(l["Projects"], attrs(&["\\HasNoChildren"]));
    c.ok("SELECT Projects").await;

    // Superiors are created as needed (RFC 3501 §6.3.3), as real mailboxes.
    c.ok("CREATE x/y/z").await;
    let l = list(&mut c, "\"\"", "x*").await;
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
    let l = list(&mut c, "\"\"", "trail*").await;
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
        list(&mut c, "\"\"", "sent").await["sent"],
        attrs(&["\\HasNoChildren"])
    );
    server.shutdown().await;
}

#[tokio::test]
async fn create_inbox_is_no() {
    let server = TestServer::start().await;
    let mut c = server.login("alice").await;
    for name in ["INBOX", "inbox", "Inbox", "\"INBOX\"", "INBOX/"] {
        let r = c.cmd(&format!("CREATE {name}")).await;
        assert_eq!(r.len(), 1, "{r:?}");
        assert_no(&r[0], None);
    }
    assert_eq!(names(&list(&mut c, "\"\"", "*").await), DEFAULTS);
    server.shutdown().await;
}

#[tokio::test]
async fn create_invalid_names_is_no() {
    let server = TestServer::start().await;
    let mut c = server.login("alice").await;
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
    assert_eq!(names(&list(&mut c, "\"\"", "*").await), DEFAULTS);
    server.shutdown().await;
}

#[tokio::test]
async fn create_invalid_modified_utf7_is_bad() {
    let server = TestServer::start().await;
    let mut c = server.login("alice").await;
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
        let r = c.cmd(&format!("CREATE {name}")).await;
        assert_eq!(r.len(), 1, "{name}: {r:?}");
        assert_bad(&r[0]);
    }
    assert_eq!(names(&list(&mut c, "\"\"", "*").await), DEFAULTS);
    server.shutdown().await;
}

#[tokio::test]
async fn create_with_special_use() {
    let server = TestServer::start().await;
    let mut c = server.login("alice").await;
    c.ok("CREATE MySent (USE (\\Sent))").await;
    assert_eq!(
        c.ok("LIST \"\" MySent").await,
        vec!["* LIST (\\Sent \\HasNoChildren) \"/\" MySent"]
    );
    // The attribute name is case-insensitive; the canonical one is listed.
    c.ok("CREATE Bin (USE (\\trash))").await;
    assert_eq!(
        list(&mut c, "\"\"", "Bin").await["Bin"],
        attrs(&["\\Trash", "\\HasNoChildren"])
    );
    // With missing superiors: only the named mailbox gets the use.
    c.ok("CREATE Folders/Mine (USE (\\Drafts))").await;
    let l = list(&mut c, "\"\"", "Folders*").await;
    assert_eq!(l["Folders"], attrs(&["\\HasChildren"]));
    assert_eq!(l["Folders/Mine"], attrs(&["\\Drafts", "\\HasNoChildren"]));
    for u in ["\\Archive", "\\Junk"] {
        let name = format!("Box{}", &u[1..]);
        c.ok(&format!("CREATE {name} (USE ({u}))")).await;
        assert_eq!(
            list(&mut c, "\"\"", &name).await[&name],
            attrs(&[u, "\\HasNoChildren"])
        );
    }
    // An empty USE list is a plain CREATE.
    c.ok("CREATE Plain (USE ())").await;
    assert_eq!(
        list(&mut c, "\"\"", "Plain").await["Plain"],
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
            list(&mut c, "\"\"", &format!("{top}*")).await.is_empty(),
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
    assert!(list(&mut c, "\"\"", "p").await.is_empty());
    // The use stays with the mailbox through RENAME.
    c.ok("RENAME MySent Old/MySent").await;
    assert_eq!(
        list(&mut c, "\"\"", "Old/MySent").await["Old/MySent"],
        attrs(&["\\Sent", "\\HasNoChildren"])
    );
    server.shutdown().await;
}

// ---------------------------------------------------------------------------
// DELETE

#[tokio::test]
async fn delete_mailboxes() {
    let server = TestServer::start().await;
    let mut c = server.login("alice").await;
    assert_no(&c.status("DELETE INBOX").await, None);
    assert_no(&c.status("DELETE inbox").await, None);
    assert_no(&c.status("DELETE Nowhere").await, Some("NONEXISTENT"));
    assert_no(&c.status("DELETE \"a//b\"").await, None);
    assert_bad(&c.status("DELETE \"&AGE-\"").await);
    assert_bad(&c.status("DELETE").await);

    assert_eq!(c.status("DELETE Junk").await, "T8 OK DELETE completed");
    assert!(list(&mut c, "\"\"", "Junk").await.is_empty());
    assert_no(
        &c.status("STATUS Junk (MESSAGES)").await,
        Some("NONEXISTENT"),
    );
    assert_no(&c.status("SELECT Junk").await, Some("NONEXISTENT"));
    assert_no(&c.status("DELETE Junk").await, Some("NONEXISTENT"));
    assert_eq!(
        names(&list(&mut c, "\"\"", "*").await),
        ["Archive", "Drafts", "INBOX", "Sent", "Trash"]
    );
    server.shutdown().await;
}

#[tokio::test]
async fn delete_removes_messages_and_recreate_is_fresh() {
    let server = TestServer::start().await;
    let mut c = server.login("alice").await;
    c.ok("CREATE box").await;
    c.append("box", "()", &message("a", "1")).await;
    c.append("box", "()", &message("b", "2")).await;
    let validity = status_item(&mut c, "box", "UIDVALIDITY").await;
    let next = status_item(&mut c, "box", "UIDNEXT").await;
    c.ok("DELETE box").await;
    c.ok("CREATE box").await;
    assert_eq!(status_item(&mut c, "box", "MESSAGES").await, 0);
    // RFC 3501 §2.3.1.1: a new mailbox of the same name must not reuse
    // UIDs under the same UIDVALIDITY.
    let validity2 = status_item(&mut c, "box", "UIDVALIDITY").await;
    let next2 = status_item(&mut c, "box", "UIDNEXT").await;
    assert!(
        validity2 != validity || next2 >= next,
        "{validity}/{next} vs {validity2}/{next2}"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn delete_parent_keeps_children() {
    let server = TestServer::start().await;
    let mut c = server.login("alice").await;
    c.ok("CREATE p/c").await;
    c.append("p", "()", &message("in-parent", "x")).await;
    c.ok("DELETE p").await;
    assert_eq!(
        c.ok("LIST \"\" p").await,
        vec!["* LIST (\\Noselect \\HasChildren) \"/\" p"]
    );
    let l = list(&mut c, "\"\"", "p*").await;
    assert_eq!(l["p/c"], attrs(&["\\HasNoChildren"]));
    assert_eq!(status_item(&mut c, "p/c", "MESSAGES").await, 0);
    // The \Noselect placeholder cannot be selected or deleted again.
    assert_no(&c.status("SELECT p").await, Some("NONEXISTENT"));
    assert_no(&c.status("DELETE p").await, None);
    // APPEND to it asks the client to create it.
    let st = c.append("p", "()", &message("again", "y")).await;
    assert_no(&st, Some("TRYCREATE"));
    server.shutdown().await;
}

#[tokio::test]
async fn delete_selected_mailbox_is_no() {
    let server = TestServer::start().await;
    let mut c = server.login("alice").await;
    c.ok("CREATE busy").await;
    c.ok("SELECT busy").await;
    assert_no(&c.status("DELETE busy").await, None);
    assert_eq!(names(&list(&mut c, "\"\"", "busy").await), ["busy"]);
    // Still selected and usable.
    c.ok("NOOP").await;
    c.ok("SEARCH ALL").await;
    c.ok("EXAMINE busy").await;
    assert_no(&c.status("DELETE busy").await, None);
    c.ok("UNSELECT").await;
    c.ok("DELETE busy").await;
    assert!(list(&mut c, "\"\"", "busy").await.is_empty());
    server.shutdown().await;
}

// ---------------------------------------------------------------------------
// RENAME

#[tokio::test]
async fn rename_errors() {
    let server = TestServer::start().await;
    let mut c = server.login("alice").await;
    c.ok("CREATE f/g").await;
    assert_no(
        &c.status("RENAME Nowhere Somewhere").await,
        Some("NONEXISTENT"),
    );
    assert!(list(&mut c, "\"\"", "Somewhere").await.is_empty());
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
    assert_bad(&c.status("RENAME Drafts \"&AGE-\"").await);
    assert_bad(&c.status("RENAME Drafts").await);
    // Nothing changed.
    let mut expected: Vec<&str> = DEFAULTS.to_vec();
    expected.extend(["f", "f/g"]);
    expected.sort();
    assert_eq!(names(&list(&mut c, "\"\"", "*").await), expected);
    assert_eq!(
        list(&mut c, "\"\"", "Drafts").await["Drafts"],
        attrs(&["\\Drafts", "\\HasNoChildren"])
    );
    server.shutdown().await;
}

#[tokio::test]
async fn rename_moves_children_messages_and_subscriptions() {
    let server = TestServer::start().await;
    let mut c = server.login("alice").await;
    c.ok("CREATE f/g/h").await;
    c.ok("CREATE fx").await;
    c.ok("SUBSCRIBE f/g").await;
    c.append("f/g/h", "(\\Seen)", &message("deep", "x")).await;
    c.append("f", "()", &message("top", "y")).await;
    c.ok("RENAME f n").await;
    assert!(list(&mut c, "\"\"", "f").await.is_empty());
    assert!(list(&mut c, "\"\"", "f/*").await.is_empty());
    // A sibling sharing the prefix is untouched.
    assert_eq!(names(&list(&mut c, "\"\"", "f*").await), ["fx"]);
    let l = list(&mut c, "\"\"", "n*").await;
    assert_eq!(names(&l), ["n", "n/g", "n/g/h"]);
    assert_eq!(l["n"], attrs(&["\\HasChildren"]));
    assert_eq!(status_item(&mut c, "n/g/h", "MESSAGES").await, 1);
    assert_eq!(status_item(&mut c, "n/g/h", "UNSEEN").await, 0);
    assert_eq!(status_item(&mut c, "n", "MESSAGES").await, 1);
    let subs = lsub(&mut c, "\"\"", "*").await;
    assert!(subs.contains_key("n/g"), "{subs:?}");
    assert!(!subs.contains_key("f/g"), "{subs:?}");
    // The renamed mailbox can be selected and the old name reused.
    c.ok("SELECT n/g/h").await;
    c.ok("CREATE f").await;
    assert_eq!(status_item(&mut c, "f", "MESSAGES").await, 0);
    // Into new superiors, which are created; special use kept.
    c.ok("RENAME Archive Old/2024/Archive").await;
    let l = list(&mut c, "\"\"", "Old*").await;
    assert_eq!(names(&l), ["Old", "Old/2024", "Old/2024/Archive"]);
    assert_eq!(
        l["Old/2024/Archive"],
        attrs(&["\\Archive", "\\HasNoChildren"])
    );
    assert!(list(&mut c, "\"\"", "Archive").await.is_empty());
    server.shutdown().await;
}

#[tokio::test]
async fn rename_selected_mailbox() {
    let server = TestServer::start().await;
    let mut c = server.login("alice").await;
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
    server.shutdown().await;
}

#[tokio::test]
async fn rename_inbox_moves_messages_only() {
    let server = TestServer::start().await;
    let mut c = server.login("alice").await;
    c.append("INBOX", "()", &message("one", "1")).await;
    c.append("INBOX", "(\\Seen)", &message("two", "2")).await;
    c.ok("CREATE INBOX/keep").await;
    c.append("INBOX/keep", "()", &message("kept", "3")).await;
    let inbox_next = status_item(&mut c, "INBOX", "UIDNEXT").await;
    let inbox_validity = status_item(&mut c, "INBOX", "UIDVALIDITY").await;

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
    let l = list(&mut c, "\"\"", "*").await;
    assert!(l.contains_key("INBOX"), "{l:?}");
    assert_eq!(l["INBOX"], attrs(&["\\HasChildren"]));
    assert!(l.contains_key("INBOX/keep"), "{l:?}");
    assert_eq!(l["Saved"], attrs(&["\\HasNoChildren"]));
    assert!(!l.contains_key("Saved/keep"), "{l:?}");
    assert_eq!(status_item(&mut c, "INBOX", "MESSAGES").await, 0);
    assert_eq!(status_item(&mut c, "INBOX/keep", "MESSAGES").await, 1);
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
    assert_eq!(status_item(&mut c, "INBOX", "MESSAGES").await, 1);
    assert_eq!(status_item(&mut c, "Saved", "MESSAGES").await, 2);
    // Renaming INBOX under itself works too.
    c.ok("RENAME INBOX INBOX/old").await;
    assert_eq!(status_item(&mut c, "INBOX/old", "MESSAGES").await, 1);
    assert_eq!(status_item(&mut c, "INBOX", "MESSAGES").await, 0);
    server.shutdown().await;
}

#[tokio::test]
async fn rename_inbox_while_selected_expunges_it() {
    let server = TestServer::start().await;
    let mut c = server.login("alice").await;
    c.append("INBOX", "()", &message("one", "1")).await;
    c.append("INBOX", "()", &message("two", "2")).await;
    let mut watcher = server.login("alice").await;
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
    assert_eq!(status_item(&mut c, "Moved", "MESSAGES").await, 2);
    server.shutdown().await;
}

// ---------------------------------------------------------------------------
// SUBSCRIBE, UNSUBSCRIBE, LSUB

#[tokio::test]
async fn subscribe_unsubscribe_lsub() {
    let server = TestServer::start().await;
    let mut c = server.login("alice").await;
    // New accounts have their default mailboxes subscribed.
    assert_eq!(names(&lsub(&mut c, "\"\"", "*").await), DEFAULTS);
    c.ok("CREATE news").await;
    assert!(!lsub(&mut c, "\"\"", "*").await.contains_key("news"));
    assert_eq!(
        c.status("SUBSCRIBE news").await,
        "T5 OK SUBSCRIBE completed"
    );
    let l = lsub(&mut c, "\"\"", "news").await;
    assert_eq!(names(&l), ["news"]);
    assert!(!l["news"].contains(&"\\Noselect".to_string()), "{l:?}");
    // Subscribing twice is harmless.
    c.ok("SUBSCRIBE news").await;
    assert_eq!(names(&lsub(&mut c, "\"\"", "n*").await), ["news"]);
    assert_eq!(
        c.status("UNSUBSCRIBE news").await,
        "T9 OK UNSUBSCRIBE completed"
    );
    assert!(!lsub(&mut c, "\"\"", "*").await.contains_key("news"));
    // INBOX in any case.
    c.ok("UNSUBSCRIBE inbox").await;
    assert!(!lsub(&mut c, "\"\"", "*").await.contains_key("INBOX"));
    c.ok("SUBSCRIBE Inbox").await;
    assert_eq!(names(&lsub(&mut c, "\"\"", "inbox").await), ["INBOX"]);
    // LSUB with a reference.
    c.ok("CREATE r/s").await;
    c.ok("SUBSCRIBE r/s").await;
    assert_eq!(names(&lsub(&mut c, "r/", "%").await), ["r/s"]);
    // Bad names.
    assert_no(&c.status("SUBSCRIBE \"a//b\"").await, None);
    assert_bad(&c.status("SUBSCRIBE \"&AGE-\"").await);
    assert_bad(&c.status("SUBSCRIBE").await);
    assert_bad(&c.status("UNSUBSCRIBE").await);
    // Subscriptions are per account.
    let mut b = server.login("bob").await;
    assert_eq!(names(&lsub(&mut b, "\"\"", "*").await), DEFAULTS);
    server.shutdown().await;
}

#[tokio::test]
async fn lsub_percent_lists_noselect_parent() {
    let server = TestServer::start().await;
    let mut c = server.login("alice").await;
    c.ok("CREATE foo/bar").await;
    c.ok("SUBSCRIBE foo/bar").await;
    // RFC 3501 §6.3.9: `%` must return foo, not foo/bar, flagged \Noselect.
    let l = lsub(&mut c, "\"\"", "%").await;
    assert!(!l.contains_key("foo/bar"), "{l:?}");
    assert!(
        l.get("foo")
            .is_some_and(|a| a.contains(&"\\Noselect".to_string())),
        "{l:?}"
    );
    let l = lsub(&mut c, "\"\"", "f%").await;
    assert_eq!(names(&l), ["foo"]);
    // `*` lists the subscribed name itself and not the unsubscribed parent.
    let l = lsub(&mut c, "\"\"", "*").await;
    assert!(l.contains_key("foo/bar"), "{l:?}");
    assert!(!l.contains_key("foo"), "{l:?}");
    assert!(!l["foo/bar"].contains(&"\\Noselect".to_string()), "{l:?}");
    assert_eq!(names(&lsub(&mut c, "\"\"", "foo/%").await), ["foo/bar"]);
    // Once the parent is subscribed it is listed as itself.
    c.ok("SUBSCRIBE foo").await;
    let l = lsub(&mut c, "\"\"", "%").await;
    assert!(!l["foo"].contains(&"\\Noselect".to_string()), "{l:?}");
    server.shutdown().await;
}

#[tokio::test]
async fn lsub_keeps_deleted_and_nonexistent_names() {
    let server = TestServer::start().await;
    let mut c = server.login("alice").await;
    // RFC 3501 §6.3.6: the server MUST NOT drop a subscription on its own.
    c.ok("DELETE Junk").await;
    let l = lsub(&mut c, "\"\"", "Junk").await;
    assert_eq!(names(&l), ["Junk"]);
    assert!(l["Junk"].contains(&"\\Noselect".to_string()), "{l:?}");
    // Subscribing to a name that does not exist (yet) is allowed here.
    c.ok("SUBSCRIBE later").await;
    assert_eq!(names(&lsub(&mut c, "\"\"", "later").await), ["later"]);
    // LIST is not affected by subscriptions.
    assert!(list(&mut c, "\"\"", "later").await.is_empty());
    assert!(list(&mut c, "\"\"", "Junk").await.is_empty());
    c.ok("CREATE later").await;
    let l = lsub(&mut c, "\"\"", "later").await;
    assert!(!l["later"].contains(&"\\Noselect".to_string()), "{l:?}");
    server.shutdown().await;
}

// ---------------------------------------------------------------------------
// STATUS

#[tokio::test]
async fn status_all_items() {
    let server = TestServer::start().await;
    let mut c = server.login("alice").await;
    let r = c
        .ok("STATUS INBOX (MESSAGES RECENT UIDNEXT UIDVALIDITY UNSEEN)")
        .await;
    assert_eq!(r.len(), 1, "{r:?}");
    let validity = status_item(&mut c, "INBOX", "UIDVALIDITY").await;
    assert!(validity > 0);
    assert_eq!(
        r[0],
        format!("* STATUS INBOX (MESSAGES 0 RECENT 0 UIDNEXT 1 UIDVALIDITY {validity} UNSEEN 0)")
    );
    let m1 = message("one", "first");
    let m2 = message("two", "second message");
    let m3 = message("three", "third");
    c.append("INBOX", "()", &m1).await;
    c.append("INBOX", "(\\Seen)", &m2).await;
    c.append("INBOX", "(\\Seen \\Deleted)", &m3).await;
    let size = m1.len() + m2.len() + m3.len();
    // Items come back in the order they were asked for.
    assert_eq!(
        c.ok("STATUS INBOX (UNSEEN UIDVALIDITY UIDNEXT RECENT MESSAGES)")
            .await,
        vec![format!(
            "* STATUS INBOX (UNSEEN 1 UIDVALIDITY {validity} UIDNEXT 4 RECENT 3 MESSAGES 3)"
        )]
    );
    assert_eq!(
        c.ok("status inbox (deleted size messages)").await,
        vec![format!("* STATUS INBOX (DELETED 1 SIZE {size} MESSAGES 3)")]
    );
    assert_eq!(
        c.ok("STATUS INBOX (APPENDLIMIT)").await,
        vec![format!(
            "* STATUS INBOX (APPENDLIMIT {})",
            server.config.limits.max_message_size
        )]
    );
    // Values agree with SELECT.
    let sel = c.ok("SELECT INBOX").await;
    assert_eq!(u64::from(code_value(&sel, "UIDVALIDITY")), validity);
    assert_eq!(code_value(&sel, "UIDNEXT"), 4);
    server.shutdown().await;
}

#[tokio::test]
async fn status_errors() {
    let server = TestServer::start().await;
    let mut c = server.login("alice").await;
    let r = c.cmd("STATUS Nowhere (MESSAGES)").await;
    assert_eq!(r.len(), 1, "no STATUS data for a missing mailbox: {r:?}");
    assert_no(&r[0], Some("NONEXISTENT"));
    assert_no(
        &c.status("STATUS \"a//b\" (MESSAGES)").await,
        Some("NONEXISTENT"),
    );
    assert_bad(&c.status("STATUS \"&AGE-\" (MESSAGES)").await);
    for bad in [
        "STATUS INBOX",
        "STATUS INBOX ()",
        "STATUS INBOX (BOGUS)",
        "STATUS INBOX MESSAGES",
        "STATUS INBOX (MESSAGES",
        "STATUS (MESSAGES)",
    ] {
        let r = c.cmd(bad).await;
        assert_eq!(r.len(), 1, "{bad}: {r:?}");
        assert_bad(&r[0]);
    }
    server.shutdown().await;
}

#[tokio::test]
async fn status_follows_append_store_expunge() {
    let server = TestServer::start().await;
    let mut c = server.login("alice").await;
    let mut other = server.login("alice").await;
    c.ok("CREATE box").await;
    let all = "(MESSAGES UIDNEXT UNSEEN DELETED)";
    let st = |m: u32, n: u32, u: u32, d: u32| {
        vec![format!(
            "* STATUS box (MESSAGES {m} UIDNEXT {n} UNSEEN {u} DELETED {d})"
        )]
    };
    assert_eq!(other.ok(&format!("STATUS box {all}")).await, st(0, 1, 0, 0));
    c.append("box", "()", &message("a", "1")).await;
    c.append("box", "()", &message("b", "2")).await;
    assert_eq!(other.ok(&format!("STATUS box {all}")).await, st(2, 3, 2, 0));
    c.ok("SELECT box").await;
    c.ok("STORE 1 +FLAGS (\\Seen)").await;
    assert_eq!(other.ok(&format!("STATUS box {all}")).await, st(2, 3, 1, 0));
    c.ok("STORE 2 +FLAGS (\\Deleted \\Seen)").await;
    assert_eq!(other.ok(&format!("STATUS box {all}")).await, st(2, 3, 0, 1));
    c.ok("STORE 1 -FLAGS (\\Seen)").await;
    assert_eq!(other.ok(&format!("STATUS box {all}")).await, st(2, 3, 1, 1));
    c.ok("EXPUNGE").await;
    assert_eq!(other.ok(&format!("STATUS box {all}")).await, st(1, 3, 1, 0));
    // STATUS on one's own selected mailbox works too.
    assert_eq!(c.ok(&format!("STATUS box {all}")).await, st(1, 3, 1, 0));
    server.shutdown().await;
}

// ---------------------------------------------------------------------------
// SELECT, EXAMINE, UNSELECT

#[tokio::test]
async fn select_empty_mailbox_responses() {
    let server = TestServer::start().await;
    let mut c = server.login("alice").await;
    let r = c.cmd("SELECT INBOX").await;
    let validity = code_value(&r, "UIDVALIDITY");
    assert!(validity > 0);
    assert_eq!(r.len(), 7, "{r:#?}");
    assert_eq!(
        r[0],
        "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)"
    );
    assert!(
        r[1].starts_with(
            "* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft \\*)]"
        ),
        "{r:#?}"
    );
    assert!(r.contains(&"* 0 EXISTS".to_string()), "{r:#?}");
    assert!(r.contains(&"* 0 RECENT".to_string()), "{r:#?}");
    assert_eq!(code_value(&r, "UIDNEXT"), 1);
    assert!(!r.iter().any(|l| l.contains("[UNSEEN ")), "{r:#?}");
    assert!(untag(&r[6]).starts_with("OK [READ-WRITE] "), "{r:#?}");
    server.shutdown().await;
}

#[tokio::test]
async fn select_and_examine_with_messages() {
    let server = TestServer::start().await;
    let mut c = server.login("alice").await;
    c.ok("CREATE box").await;
    c.append("box", "(\\Seen)", &message("one", "1")).await;
    c.append("box", "()", &message("two", "2")).await;
    c.append("box", "($Label1 \\Flagged)", &message("three", "3"))
        .await;

    // EXAMINE first: read-only, and it must not take \Recent away.
    let r = c.cmd("EXAMINE box").await;
    assert!(
        r.contains(&"* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Label1)".to_string()),
        "{r:#?}"
    );
    assert!(
        r.iter().any(|l| l.starts_with("* OK [PERMANENTFLAGS ()]")),
        "{r:#?}"
    );
    assert!(r.contains(&"* 3 EXISTS".to_string()), "{r:#?}");
    assert_eq!(code_value(&r, "UNSEEN"), 2);
    assert_eq!(code_value(&r, "UIDNEXT"), 4);
    assert!(
        untag(r.last().unwrap()).starts_with("OK [READ-ONLY] "),
        "{r:#?}"
    );
    // Read-only: no flag changes.
    assert_no(&c.status("STORE 1 +FLAGS (\\Answered)").await, None);

    let r = c.cmd("SELECT box").await;
    assert!(
        r.contains(&"* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Label1)".to_string()),
        "{r:#?}"
    );
    assert!(
        r.iter().any(|l| l.starts_with(
            "* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Label1 \\*)]"
        )),
        "{r:#?}"
    );
    assert!(r.contains(&"* 3 EXISTS".to_string()), "{r:#?}");
    assert!(r.contains(&"* 3 RECENT".to_string()), "{r:#?}");
    assert_eq!(code_value(&r, "UNSEEN"), 2);
    assert_eq!(code_value(&r, "UIDNEXT"), 4);
    let validity = code_value(&r, "UIDVALIDITY");
    assert!(
        untag(r.last().unwrap()).starts_with("OK [READ-WRITE] "),
        "{r:#?}"
    );
    // Read-write now.
    c.ok("STORE 1 +FLAGS (\\Answered)").await;

    // \Recent belongs to the first session that saw the messages.
    let mut other = server.login("alice").await;
    let r = other.ok("SELECT box").await;
    assert!(r.contains(&"* 3 EXISTS".to_string()), "{r:#?}");
    assert!(r.contains(&"* 0 RECENT".to_string()), "{r:#?}");
    assert_eq!(code_value(&r, "UIDVALIDITY"), validity);
    server.shutdown().await;
}

#[tokio::test]
async fn failed_select_leaves_no_mailbox_selected() {
    let server = TestServer::start().await;
    let mut c = server.login("alice").await;
    c.append("INBOX", "()", &message("m", "x")).await;
    c.ok("SELECT INBOX").await;
    c.ok("FETCH 1 FLAGS").await;
    assert_no(&c.status("SELECT Nowhere").await, Some("NONEXISTENT"));
    assert_bad(&c.status("FETCH 1 FLAGS").await);
    assert_bad(&c.status("UNSELECT").await);
    // The same with EXAMINE and with invalid names.
    c.ok("EXAMINE INBOX").await;
    assert_no(&c.status("EXAMINE Nowhere").await, Some("NONEXISTENT"));
    assert_bad(&c.status("FETCH 1 FLAGS").await);
    c.ok("SELECT INBOX").await;
    assert_no(&c.status("SELECT \"a//b\"").await, None);
    assert_bad(&c.status("SEARCH ALL").await);
    // A \Noselect name cannot be selected either.
    c.ok("CREATE n/child").await;
    c.ok("DELETE n").await;
    c.ok("SELECT INBOX").await;
    assert_no(&c.status("SELECT n").await, Some("NONEXISTENT"));
    assert_bad(&c.status("FETCH 1 FLAGS").await);
    // Syntax errors.
    assert_bad(&c.status("SELECT").await);
    assert_bad(&c.status("EXAMINE").await);
    server.shutdown().await;
}

#[tokio::test]
async fn select_switches_mailbox() {
    let server = TestServer::start().await;
    let mut c = server.login("alice").await;
    c.ok("CREATE other").await;
    c.append("INBOX", "()", &message("in-inbox", "x")).await;
    c.append("other", "()", &message("in-other-1", "x")).await;
    c.append("other", "()", &message("in-other-2", "x")).await;
    c.ok("SELECT INBOX").await;
    let r = c.ok("SELECT other").await;
    assert!(r.contains(&"* 2 EXISTS".to_string()), "{r:#?}");
    let f = c.ok("FETCH 2 (BODY.PEEK[HEADER.FIELDS (SUBJECT)])").await;
    assert!(f[0].contains("Subject: in-other-2"), "{f:?}");
    server.shutdown().await;
}

#[tokio::test]
async fn unselect_does_not_expunge() {
    let server = TestServer::start().await;
    let mut c = server.login("alice").await;
    c.append("INBOX", "()", &message("a", "1")).await;
    c.append("INBOX", "()", &message("b", "2")).await;
    c.ok("SELECT INBOX").await;
    c.ok("STORE 1 +FLAGS (\\Deleted)").await;
    let r = c.cmd("UNSELECT").await;
    assert_eq!(r.len(), 1, "no untagged EXPUNGE: {r:?}");
    assert_eq!(word(&r[0]), "OK", "{r:?}");
    assert_bad(&c.status("FETCH 1 FLAGS").await);
    assert_bad(&c.status("UNSELECT").await);
    assert_eq!(
        c.ok("STATUS INBOX (MESSAGES DELETED)").await,
        vec!["* STATUS INBOX (MESSAGES 2 DELETED 1)"]
    );
    // Also after EXAMINE.
    c.ok("EXAMINE INBOX").await;
    c.ok("UNSELECT").await;
    assert_eq!(status_item(&mut c, "INBOX", "MESSAGES").await, 2);
    assert_bad(&c.status("UNSELECT INBOX").await);
    server.shutdown().await;
}

// ---------------------------------------------------------------------------
// Modified UTF-7 names

#[tokio::test]
async fn modified_utf7_names_round_trip() {
    let server = TestServer::start().await;
    let mut c = server.login("alice").await;
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
    let l = list(&mut c, "\"\"", "~peter/*").await;
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
        status_item(&mut c, "&BB4EQgQ,BEAEMAQyBDsENQQ9BD0ESwQ1-", "MESSAGES").await,
        1
    );
    c.ok("DELETE &BB4EQgQ,BEAEMAQyBDsENQQ9BD0ESwQ1-").await;
    assert!(
        list(&mut c, "\"\"", "&BB4EQgQ,BEAEMAQyBDsENQQ9BD0ESwQ1-")
            .await
            .is_empty()
    );
    // A non-canonical spelling does not reach an existing mailbox.
    c.ok("CREATE a").await;
    assert_bad(&c.status("SELECT &AGE-").await);
    server.shutdown().await;
}

// ---------------------------------------------------------------------------
// Isolation between accounts

#[tokio::test]
async fn accounts_are_isolated() {
    let server = TestServer::start().await;
    let mut bob = server.login("bob").await;
    bob.ok("CREATE BobSecret").await;
    bob.ok("CREATE Shared/Bob").await;
    bob.append("BobSecret", "()", &message("secret", "for bob"))
        .await;
    bob.append("INBOX", "()", &message("bob-inbox", "for bob"))
        .await;

    let mut alice = server.login("alice").await;
    // LIST and LSUB show only alice's mailboxes, whatever the reference.
    assert_eq!(names(&list(&mut alice, "\"\"", "*").await), DEFAULTS);
    for reference in [
        "\"\"",
        "\"/\"",
        "\"~bob/\"",
        "\"../\"",
        "bob/",
        "\"#users/bob/\"",
        "\"/home/bob/\"",
    ] {
        for pat in ["*", "%", "BobSecret", "*Secret*"] {
            let l = list(&mut alice, reference, pat).await;
            assert!(
                !l.keys().any(|n| n.contains("Bob")),
                "LIST {reference} {pat}: {l:?}"
            );
            let l = lsub(&mut alice, reference, pat).await;
            assert!(
                !l.keys().any(|n| n.contains("Bob")),
                "LSUB {reference} {pat}: {l:?}"
            );
        }
    }
    // No name reaches bob's mailboxes.
    for name in [
        "BobSecret",
        "bobsecret",
        "bob/BobSecret",
        "~bob/BobSecret",
        "\"/bob/BobSecret\"",
        "\"../bob/BobSecret\"",
        "\"#users/bob/BobSecret\"",
        "user/bob/BobSecret",
        "user.bob.BobSecret",
        "Shared/Bob",
        "bob/INBOX",
        "~bob/INBOX",
        "\"../bob/INBOX\"",
        "\"/bob/INBOX\"",
        "\"#users/bob/INBOX\"",
    ] {
        for cmd in [
            format!("SELECT {name}"),
            format!("EXAMINE {name}"),
            format!("STATUS {name} (MESSAGES)"),
            format!("DELETE {name}"),
            format!("RENAME {name} Mine"),
        ] {
            let r = alice.cmd(&cmd).await;
            assert_eq!(r.len(), 1, "{cmd}: {r:?}");
            assert_no(&r[0], None);
        }
        let st = alice.append(name, "()", &message("intrude", "x")).await;
        assert_no(&st, None);
    }
    // COPY/MOVE cannot reach them either.
    alice.append("INBOX", "()", &message("alice", "x")).await;
    alice.ok("SELECT INBOX").await;
    for cmd in [
        "COPY 1 BobSecret",
        "MOVE 1 BobSecret",
        "UID COPY 1:* BobSecret",
    ] {
        assert_no(&alice.status(cmd).await, Some("TRYCREATE"));
    }
    alice.ok("UNSELECT").await;
    // Alice's own mailbox of the same name is a different one.
    alice.ok("CREATE BobSecret").await;
    assert_eq!(status_item(&mut alice, "BobSecret", "MESSAGES").await, 0);
    alice.ok("DELETE BobSecret").await;
    alice.ok("RENAME Trash Bin").await;
    assert_eq!(status_item(&mut alice, "INBOX", "MESSAGES").await, 1);

    // Bob's side is untouched.
    assert_eq!(status_item(&mut bob, "BobSecret", "MESSAGES").await, 1);
    assert_eq!(status_item(&mut bob, "INBOX", "MESSAGES").await, 1);
    let l = list(&mut bob, "\"\"", "*").await;
    assert!(
        l.contains_key("BobSecret") && l.contains_key("Trash"),
        "{l:?}"
    );
    assert!(!l.contains_key("Bin"), "{l:?}");
    assert!(l.contains_key("Shared/Bob"), "{l:?}");
    server.shutdown().await;
}
