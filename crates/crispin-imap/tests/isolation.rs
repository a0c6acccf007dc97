//! Accounts are isolated: no mailbox name, reference or pattern reaches
//! another account's mailboxes or messages.

use crispin_testkit::*;

#[tokio::test]
async fn accounts_are_isolated() {
    let imap = TestImap::start().await;
    let mut bob = imap.login("bob").await;
    bob.ok("CREATE BobSecret").await;
    bob.ok("CREATE Shared/Bob").await;
    bob.append("BobSecret", "()", &message("secret", "for bob"))
        .await;
    bob.append("INBOX", "()", &message("bob-inbox", "for bob"))
        .await;

    let mut alice = imap.login("alice").await;
    // LIST and LSUB show only alice's mailboxes, whatever the reference.
    assert_eq!(names(&alice.list("\"\"", "*").await), DEFAULT_MAILBOXES);
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
            let l = alice.list(reference, pat).await;
            assert!(
                !l.keys().any(|n| n.contains("Bob")),
                "LIST {reference} {pat}: {l:?}"
            );
            let l = alice.lsub(reference, pat).await;
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
    assert_eq!(alice.status_item("BobSecret", "MESSAGES").await, 0);
    alice.ok("DELETE BobSecret").await;
    alice.ok("RENAME Trash Bin").await;
    assert_eq!(alice.status_item("INBOX", "MESSAGES").await, 1);

    // Bob's side is untouched.
    assert_eq!(bob.status_item("BobSecret", "MESSAGES").await, 1);
    assert_eq!(bob.status_item("INBOX", "MESSAGES").await, 1);
    let l = bob.list("\"\"", "*").await;
    assert!(
        l.contains_key("BobSecret") && l.contains_key("Trash"),
        "{l:?}"
    );
    assert!(!l.contains_key("Bin"), "{l:?}");
    assert!(l.contains_key("Shared/Bob"), "{l:?}");
    imap.shutdown().await;
}

/// Every way of naming another account's mailbox fails, and nothing of
/// bob's is ever visible to alice.
#[tokio::test]
async fn isolation_between_accounts() {
    let imap = TestImap::start().await;
    let mut bob = imap.login("bob").await;
    bob.ok("CREATE Secret").await;
    assert!(
        bob.append("Secret", "()", &message("bobs", "private"))
            .await
            .contains("OK")
    );
    let mut alice = imap.login("alice").await;
    let names = [
        "../bob/Secret",
        "bob/Secret",
        "/bob/Secret",
        "#bob/Secret",
        "~bob/Secret",
        "..",
        "Secret",
        "SECRET",
        "%",
        "*",
        "&AC4ALg-/bob",
        "\"../../bob\"",
    ];
    for name in names {
        let quoted = format!("\"{}\"", name.trim_matches('"'));
        for cmd in [
            format!("SELECT {quoted}"),
            format!("EXAMINE {quoted}"),
            format!("STATUS {quoted} (MESSAGES)"),
            format!("DELETE {quoted}"),
            format!("RENAME {quoted} Mine"),
        ] {
            let st = alice.status(&cmd).await;
            assert!(st.contains(" NO ") || st.contains(" BAD "), "{cmd}: {st}");
        }
        let st = alice.append(&quoted, "()", &message("x", "y")).await;
        assert!(
            st.contains(" NO ") || st.contains(" BAD "),
            "APPEND {quoted}: {st}"
        );
        // SUBSCRIBE may accept a name, but it stays alice's own name.
        alice.cmd(&format!("SUBSCRIBE {quoted}")).await;
    }
    let long = "a".repeat(5000);
    let st = alice.status(&format!("SELECT {long}")).await;
    assert!(st.contains(" NO ") || st.contains(" BAD "), "{st}");
    // COPY and MOVE cannot target bob's mailbox either.
    alice.append("INBOX", "()", &message("mine", "text")).await;
    alice.ok("SELECT INBOX").await;
    for target in ["../bob/Secret", "bob/Secret", "Secret"] {
        let st = alice.status(&format!("COPY 1 \"{target}\"")).await;
        assert!(st.contains("NO [TRYCREATE]"), "{target}: {st}");
        let st = alice.status(&format!("MOVE 1 \"{target}\"")).await;
        assert!(
            st.contains("NO [TRYCREATE]") || st.contains("BAD"),
            "{target}: {st}"
        );
    }
    let list = alice.ok("LIST \"\" *").await;
    assert!(list.iter().all(|l| !l.contains("Secret")), "{list:?}");
    let lsub = alice.ok("LSUB \"\" *").await;
    assert!(lsub.iter().all(|l| !l.contains("bob")) || lsub.iter().all(|l| !l.contains("private")));
    // bob's message is untouched and still his alone.
    bob.ok("SELECT Secret").await;
    let f = bob.ok("FETCH 1 BODY.PEEK[TEXT]").await;
    assert!(f[0].contains("private"), "{f:?}");
    let search = alice.ok("SEARCH TEXT private").await;
    assert_eq!(search, vec!["* SEARCH"]);
    imap.shutdown().await;
}
