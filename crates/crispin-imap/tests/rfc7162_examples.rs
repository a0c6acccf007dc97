//! RFC 7162's examples as whole transcripts: the exchanges of §3.1.3
//! (conditional STORE, MODIFIED), §3.1.4.1 (FETCH CHANGEDSINCE), §3.1.5
//! (SEARCH MODSEQ), §3.2.5.2 (SELECT with QRESYNC, CLOSED, VANISHED
//! (EARLIER)) and §3.2.10 (VANISHED for EXPUNGE), with this server's UIDs,
//! modseqs and texts in the RFC's values' places. Every line of each
//! answer is compared.

use crispin_testkit::*;

/// The MODSEQ of each message, by sequence number (1-based).
async fn modseqs(c: &mut Client, n: u32) -> Vec<u64> {
    let lines = c.ok(&format!("FETCH 1:{n} (MODSEQ)")).await;
    lines
        .iter()
        .map(|l| {
            let v = &l[l.find("MODSEQ (").unwrap() + 8..];
            v[..v.find(')').unwrap()].parse().unwrap()
        })
        .collect()
}

fn highest(lines: &[String]) -> u64 {
    let l = lines
        .iter()
        .find(|l| l.starts_with("* OK [HIGHESTMODSEQ "))
        .unwrap();
    l["* OK [HIGHESTMODSEQ ".len()..l.find(']').unwrap()]
        .parse()
        .unwrap()
}

/// §3.1.3 example 3 (a conditional STORE that succeeds, `.SILENT`: FETCH
/// with UID and MODSEQ only) and example 9's shape (one that fails for
/// some messages: `OK [MODIFIED set]`).
#[tokio::test]
async fn conditional_store() {
    let (imap, mut c) = selected_with(9).await;
    c.ok("ENABLE CONDSTORE").await;
    let before = modseqs(&mut c, 9).await;
    let since = *before.iter().max().unwrap();
    let h = c.status_item("INBOX", "HIGHESTMODSEQ").await;
    let lines = c
        .cmd(&format!(
            "UID STORE 6,4,8 (UNCHANGEDSINCE {since}) +FLAGS.SILENT (\\Deleted)"
        ))
        .await;
    let m = h + 1;
    let tag = lines.last().unwrap().split(' ').next().unwrap().to_string();
    assert_eq!(
        lines,
        vec![
            format!("* 4 FETCH (UID 4 MODSEQ ({m}))"),
            format!("* 6 FETCH (UID 6 MODSEQ ({m}))"),
            format!("* 8 FETCH (UID 8 MODSEQ ({m}))"),
            format!("{tag} OK STORE completed"),
        ]
    );
    // 7 and 9 change after the client's modseq; 5 does not.
    c.ok("STORE 7,9 +FLAGS.SILENT (\\Answered)").await;
    let lines = c
        .cmd(&format!("STORE 7,5,9 (UNCHANGEDSINCE {m}) -FLAGS (\\Seen)"))
        .await;
    let tag = lines.last().unwrap().split(' ').next().unwrap().to_string();
    assert_eq!(
        lines,
        vec![
            format!("* 5 FETCH (FLAGS () MODSEQ ({}))", before[4]),
            format!("{tag} OK [MODIFIED 7,9] Conditional STORE failed for some messages"),
        ]
    );
    imap.shutdown().await;
}

/// §3.1.4.1: `UID FETCH 1:* (FLAGS) (CHANGEDSINCE n)`, and §3.1.5 with
/// §3.1.6: `SEARCH MODSEQ "/flags/\\draft" all n` with the highest modseq.
#[tokio::test]
async fn changedsince_and_search_modseq() {
    let (imap, mut c) = selected_with(5).await;
    let base = highest(&c.ok("SELECT INBOX (CONDSTORE)").await);
    c.ok("STORE 4 +FLAGS (\\Seen)").await;
    c.ok("STORE 2 +FLAGS (\\Draft)").await;
    let lines = c
        .cmd(&format!("UID FETCH 1:* (FLAGS) (CHANGEDSINCE {base})"))
        .await;
    let tag = lines.last().unwrap().split(' ').next().unwrap().to_string();
    assert_eq!(
        lines,
        vec![
            format!("* 2 FETCH (UID 2 FLAGS (\\Draft) MODSEQ ({}))", base + 2),
            format!("* 4 FETCH (UID 4 FLAGS (\\Seen) MODSEQ ({}))", base + 1),
            format!("{tag} OK FETCH completed"),
        ]
    );
    let lines = c
        .cmd(&format!(
            "SEARCH MODSEQ \"/flags/\\\\draft\" all {}",
            base + 1
        ))
        .await;
    let tag = lines.last().unwrap().split(' ').next().unwrap().to_string();
    assert_eq!(
        lines,
        vec![
            format!("* SEARCH 2 4 (MODSEQ {})", base + 2),
            format!("{tag} OK SEARCH completed"),
        ]
    );
    imap.shutdown().await;
}

/// §3.2.5.2's example: a client that knows UIDs 1:6 reselects with
/// QRESYNC while another mailbox is selected: CLOSED, the usual SELECT
/// responses, HIGHESTMODSEQ, VANISHED (EARLIER) for what was expunged
/// and a FETCH for what changed; then §3.2.10: its own EXPUNGE comes back
/// as VANISHED.
#[tokio::test]
async fn select_with_qresync_transcript() {
    let (imap, mut a, mut b) = two_sessions(6).await;
    let sel = a.ok("SELECT INBOX").await;
    let validity = code_value(&sel, "UIDVALIDITY");
    let known = highest(&sel);
    b.ok("STORE 2,4 +FLAGS.SILENT (\\Deleted)").await;
    b.ok("EXPUNGE").await;
    b.ok("UID STORE 3 +FLAGS (\\Seen \\Answered)").await;
    a.ok("SELECT Archive").await;
    a.ok("ENABLE QRESYNC").await;
    let lines = a
        .cmd(&format!("SELECT INBOX (QRESYNC ({validity} {known} 1:6))"))
        .await;
    let tag = lines.last().unwrap().split(' ').next().unwrap().to_string();
    let now = known + 3; // the STORE, the EXPUNGE, the STORE
    assert_eq!(
        lines,
        vec![
            "* OK [CLOSED] Previous mailbox closed".to_string(),
            "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)".to_string(),
            "* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft \\*)] Flags permitted".to_string(),
            "* 4 EXISTS".to_string(),
            "* 0 RECENT".to_string(),
            "* OK [UNSEEN 1] First unseen message".to_string(),
            format!("* OK [UIDVALIDITY {validity}] UIDs valid"),
            "* OK [UIDNEXT 7] Predicted next UID".to_string(),
            format!("* OK [HIGHESTMODSEQ {now}] Highest"),
            "* VANISHED (EARLIER) 2,4".to_string(),
            format!("* 2 FETCH (UID 3 FLAGS (\\Seen \\Answered) MODSEQ ({now}))"),
            format!("{tag} OK [READ-WRITE] SELECT completed"),
        ]
    );
    a.ok("STORE 1 +FLAGS.SILENT (\\Deleted)").await;
    let lines = a.cmd("EXPUNGE").await;
    let tag = lines.last().unwrap().split(' ').next().unwrap().to_string();
    assert_eq!(
        lines,
        vec![
            "* VANISHED 1".to_string(),
            format!("{tag} OK EXPUNGE completed")
        ]
    );
    imap.shutdown().await;
}
