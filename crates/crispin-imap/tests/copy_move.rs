//! COPY, MOVE and their UID forms, with COPYUID (RFC 3501 §6.4.7,
//! RFC 4315, RFC 6851).

use crispin_testkit::*;
use std::collections::BTreeSet;

#[tokio::test]
async fn copy_and_uid_copy_with_copyuid() {
    let (imap, mut c) = selected_with(4).await;
    c.ok("CREATE Dest").await;
    // A message already in the destination, so UIDs differ.
    c.append("Dest", "", &message("pre", "existing")).await;
    c.ok("STORE 2 +FLAGS.SILENT (\\Flagged $Kw)").await;
    let st = c.status("COPY 2,4 Dest").await;
    assert_ok(&st);
    let code = code_args(&st, "COPYUID");
    let validity = code[0];
    assert_eq!(expand(code[1]), vec![2, 4], "{st}");
    let dst = expand(code[2]);
    assert_eq!(dst, vec![2, 3], "{st}");

    let st = c.status("UID COPY 3:100 Dest").await;
    let code = code_args(&st, "COPYUID");
    assert_eq!(expand(code[1]), vec![3, 4], "{st}");
    assert_eq!(expand(code[2]), vec![4, 5], "{st}");

    // Source untouched.
    assert_eq!(c.uids().await, vec![1, 2, 3, 4]);

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
    assert_bad(&st);
    imap.shutdown().await;
}

#[tokio::test]
async fn move_and_uid_move() {
    let (imap, mut c) = selected_with(5).await;
    c.ok("CREATE Dest").await;
    let tag = c.tag();
    c.send(&format!("{tag} MOVE 2:3 Dest")).await;
    let lines = c.until_tag(&tag).await;
    assert_eq!(
        tagged(lines.last().unwrap()).status,
        Status::Ok,
        "{lines:?}"
    );
    let copyuid = lines
        .iter()
        .position(|l| l.starts_with("* OK [COPYUID "))
        .unwrap_or_else(|| panic!("no untagged COPYUID: {lines:?}"));
    let first_expunge = lines.iter().position(|l| l.ends_with(" EXPUNGE")).unwrap();
    assert!(copyuid < first_expunge, "{lines:?}");
    let code = code_args(&lines[copyuid], "COPYUID");
    assert_eq!(expand(code[1]), vec![2, 3]);
    assert_eq!(expand(code[2]), vec![1, 2]);
    let mut model = vec![1, 2, 3, 4, 5];
    apply_expunges(&mut model, &lines);
    assert_eq!(model, vec![1, 4, 5], "{lines:?}");
    assert_eq!(c.uids().await, vec![1, 4, 5]);

    // UID MOVE, with a UID that does not exist.
    let tag = c.tag();
    c.send(&format!("{tag} UID MOVE 5,4,99 Dest")).await;
    let lines = c.until_tag(&tag).await;
    assert_eq!(
        tagged(lines.last().unwrap()).status,
        Status::Ok,
        "{lines:?}"
    );
    let copyuid = lines
        .iter()
        .position(|l| l.starts_with("* OK [COPYUID "))
        .unwrap();
    let code = code_args(&lines[copyuid], "COPYUID");
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
    assert_eq!(c.uids().await, vec![1]);

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
    assert_eq!(c.uids().await, vec![1]);
    // MOVE in a read-only mailbox is refused.
    c.ok("EXAMINE INBOX").await;
    let st = c.status("MOVE 1 Dest").await;
    assert_no(&st, None);
    imap.shutdown().await;
}

#[tokio::test]
async fn copy_into_the_selected_mailbox_reports_exists() {
    let (imap, mut c) = selected_with(2).await;
    let lines = c.cmd("COPY 1:2 INBOX").await;
    let st = lines.last().unwrap();
    assert_eq!(tagged(st).status, Status::Ok, "{lines:?}");
    let code = code_args(st, "COPYUID");
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
    imap.shutdown().await;
}
