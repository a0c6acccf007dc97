//! The embedded store directly: group commit, inline and file blobs.

use crispin_store::sqlite::SqliteStore;
use crispin_store::*;
use std::sync::Arc;

fn msg(i: usize, size: usize) -> NewMessage {
    let mut data = format!("Subject: m{i}\r\n\r\n").into_bytes();
    data.resize(data.len() + size, b'x');
    message(data)
}

fn message(data: Vec<u8>) -> NewMessage {
    NewMessage {
        data: MessageData::Bytes(data),
        flags: Flags::default(),
        internal_date: chrono::Utc::now().fixed_offset(),
        skip_if_present: false,
    }
}

/// A store in `dir` with account `a`; returns it, the account and INBOX.
async fn store_with_account(dir: &std::path::Path) -> (Arc<SqliteStore>, AccountId, MailboxId) {
    let store = Arc::new(SqliteStore::open(dir).await.unwrap());
    let account = store
        .create_account("a", &Credentials::default())
        .await
        .unwrap();
    let inbox = store.mailbox(account, "INBOX").await.unwrap().unwrap().id;
    (store, account, inbox)
}

#[tokio::test]
async fn concurrent_appends_share_commits_and_fail_alone() {
    let dir = tempfile::tempdir().unwrap();
    let (store, account, inbox) = store_with_account(dir.path()).await;
    let mut tasks = Vec::new();
    for i in 0..60 {
        let store = store.clone();
        // Every seventh goes to a mailbox that does not exist.
        let target = if i % 7 == 3 { MailboxId(9999) } else { inbox };
        tasks.push(tokio::spawn(async move {
            store.append(account, target, msg(i, 100)).await
        }));
    }
    let mut uids = Vec::new();
    for (i, t) in tasks.into_iter().enumerate() {
        match t.await.unwrap() {
            Ok(a) => {
                assert!(i % 7 != 3);
                uids.push(a.uid);
            }
            Err(StoreError::NoMailbox) => assert!(i % 7 == 3),
            Err(e) => panic!("{e}"),
        }
    }
    uids.sort_unstable();
    let expected: Vec<u32> = (1..=uids.len() as u32).collect();
    assert_eq!(uids, expected, "every committed append got its own UID");
    let snap = store.snapshot(account, inbox).await.unwrap();
    assert_eq!(snap.uids, expected);
}

/// STORE, EXPUNGE, COPY and APPEND from many sessions share transactions;
/// each still gets exactly its own result, a failing one (a mailbox that
/// does not exist) fails alone, and the change log sees every change.
#[tokio::test]
async fn mixed_concurrent_writes_share_commits() {
    let dir = tempfile::tempdir().unwrap();
    let (store, account, inbox) = store_with_account(dir.path()).await;
    let trash = store.mailbox(account, "Trash").await.unwrap().unwrap().id;
    for i in 0..40 {
        store.append(account, inbox, msg(i, 50)).await.unwrap();
    }
    let start = store.status(account, inbox).await.unwrap().highest_modseq;
    let deleted = Flags {
        system: flag::DELETED,
        keywords: Vec::new(),
    };
    let seen = Flags {
        system: flag::SEEN,
        keywords: vec!["$Work".into()],
    };
    let mut tasks: Vec<tokio::task::JoinHandle<Result<&str>>> = Vec::new();
    for uid in 1..=40u32 {
        let store = store.clone();
        let (seen, deleted) = (seen.clone(), deleted.clone());
        tasks.push(tokio::spawn(async move {
            match uid % 4 {
                // \Deleted on every fourth, then expunge just that one.
                0 => {
                    let r = store
                        .store_flags(account, inbox, &[uid], FlagOp::Add, &deleted)
                        .await?;
                    assert_eq!(r.changed.len(), 1);
                    let gone = store.expunge(account, inbox, Some(&[uid])).await?;
                    assert_eq!(gone, vec![uid]);
                    Ok("expunged")
                }
                1 => {
                    let r = store
                        .store_flags(account, inbox, &[uid], FlagOp::Add, &seen)
                        .await?;
                    assert_eq!(r.changed, vec![(uid, seen)]);
                    Ok("seen")
                }
                2 => {
                    let r = store.copy(account, inbox, &[uid], trash, false).await?;
                    assert_eq!(r.pairs.len(), 1);
                    Ok("copied")
                }
                _ => {
                    let r = store
                        .copy(account, inbox, &[uid], MailboxId(9999), false)
                        .await;
                    assert!(matches!(r, Err(StoreError::NoMailbox)), "{r:?}");
                    Ok("failed alone")
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    let snap = store.snapshot(account, inbox).await.unwrap();
    let expected: Vec<u32> = (1..=40).filter(|u| u % 4 != 0).collect();
    assert_eq!(snap.uids, expected);
    assert_eq!(store.snapshot(account, trash).await.unwrap().uids.len(), 10);
    let changes = store
        .changes_since(account, inbox, start, false)
        .await
        .unwrap();
    assert_eq!(
        changes.expunged,
        (1..=10).map(|i| i * 4).collect::<Vec<u32>>()
    );
    let seen_uids: Vec<u32> = changes
        .updated
        .iter()
        .filter(|(_, f, _)| f.system & flag::SEEN != 0)
        .map(|(u, _, _)| *u)
        .collect();
    assert_eq!(seen_uids, (0..10).map(|i| i * 4 + 1).collect::<Vec<u32>>());
}

#[tokio::test]
async fn small_messages_inline_large_ones_as_files() {
    let dir = tempfile::tempdir().unwrap();
    let (store, account, inbox) = store_with_account(dir.path()).await;
    for (i, size) in [(1, 1000), (2, 300_000)] {
        store.append(account, inbox, msg(i, size)).await.unwrap();
    }
    let recs = store
        .fetch(account, inbox, &[1, 2], FetchNeed::default())
        .await
        .unwrap();
    let files = |dir: &std::path::Path| {
        walk(&dir.join("blobs"))
            .into_iter()
            .filter(|p| p.is_file())
            .count()
    };
    assert_eq!(files(dir.path()), 1, "only the large message is a file");
    for r in &recs {
        let all = store.read_blob(account, &r.blob, 0, r.size).await.unwrap();
        assert_eq!(all.len() as u64, r.size);
        let part = store.read_blob(account, &r.blob, 5, 10).await.unwrap();
        assert_eq!(part, &all[5..15]);
    }
    // Expunging removes both kinds.
    store
        .store_flags(
            account,
            inbox,
            &[1, 2],
            FlagOp::Add,
            &Flags {
                system: flag::DELETED,
                keywords: vec![],
            },
        )
        .await
        .unwrap();
    store.expunge(account, inbox, None).await.unwrap();
    assert_eq!(files(dir.path()), 0);
    for r in &recs {
        assert!(store.read_blob(account, &r.blob, 0, 10).await.is_err());
    }
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}

#[tokio::test]
async fn indexed_search_is_exact_and_per_account() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path()).await.unwrap();
    let a = store
        .create_account("a", &Credentials::default())
        .await
        .unwrap();
    let b = store
        .create_account("b", &Credentials::default())
        .await
        .unwrap();
    let put = |acct, subject: &str, body: &str| {
        let data = format!("Subject: {subject}\r\nFrom: x@y\r\n\r\n{body}\r\n").into_bytes();
        (acct, message(data))
    };
    let inbox_a = store.mailbox(a, "INBOX").await.unwrap().unwrap().id;
    let inbox_b = store.mailbox(b, "INBOX").await.unwrap().unwrap().id;
    for (acct, m) in [
        put(a, "Kumquat pie", "nothing"),
        put(a, "other", "a kumquat in the body"),
        put(a, "plain", "plain"),
    ] {
        store.append(acct, inbox_a, m).await.unwrap();
    }
    // Same content in another account: never reported for the first.
    let (_, m) = put(b, "Kumquat pie", "nothing");
    store.append(b, inbox_b, m).await.unwrap();
    let search = |q: Query| {
        let store = &store;
        async move { store.search(a, inbox_a, &q.normalized()).await.unwrap() }
    };
    let subject = Query::Header {
        name: "SUBJECT".into(),
        value: "KUMQUAT".into(),
    };
    assert_eq!(search(subject.clone()).await, vec![1]);
    // The word is in message 2's body, not its Subject.
    assert_eq!(search(Query::Body("kumquat".into())).await, vec![2]);
    assert_eq!(search(Query::Text("kumquat".into())).await, vec![1, 2]);
    assert_eq!(
        search(Query::Not(Box::new(Query::Text("kumquat".into())))).await,
        vec![3]
    );
    // Two characters: below the index, answered by scanning.
    assert_eq!(search(Query::Body("ku".into())).await, vec![2]);
    // After expunge the index forgets the message.
    store
        .store_flags(
            a,
            inbox_a,
            &[1],
            FlagOp::Add,
            &Flags {
                system: flag::DELETED,
                keywords: vec![],
            },
        )
        .await
        .unwrap();
    store.expunge(a, inbox_a, None).await.unwrap();
    assert!(search(subject).await.is_empty());
    assert_eq!(
        store
            .search(b, inbox_b, &Query::Text("kumquat".into()).normalized())
            .await
            .unwrap(),
        vec![1]
    );
}

/// The in-memory index of one process sees what another process wrote
/// (`crispin deliver` beside a running server).
#[tokio::test]
async fn index_follows_other_processes() {
    let dir = tempfile::tempdir().unwrap();
    let (server, a, inbox) = store_with_account(dir.path()).await;
    server.append(a, inbox, msg(1, 10)).await.unwrap();
    assert_eq!(server.snapshot(a, inbox).await.unwrap().uids, vec![1]);
    let tool = SqliteStore::open(dir.path()).await.unwrap();
    tool.append(a, inbox, msg(2, 10)).await.unwrap();
    tool.store_flags(
        a,
        inbox,
        &[1],
        FlagOp::Add,
        &Flags {
            system: flag::SEEN,
            keywords: vec![],
        },
    )
    .await
    .unwrap();
    let snap = server.snapshot(a, inbox).await.unwrap();
    assert_eq!(snap.uids, vec![1, 2]);
    assert_eq!(snap.first_unseen_uid, Some(2));
    let recs = server
        .fetch(a, inbox, &[1, 2], FetchNeed::default())
        .await
        .unwrap();
    assert!(recs[0].flags.has(flag::SEEN));
    let seen = Query::System {
        bit: flag::SEEN,
        set: true,
    };
    assert_eq!(server.search(a, inbox, &seen).await.unwrap(), vec![1]);
    tool.store_flags(
        a,
        inbox,
        &[2],
        FlagOp::Add,
        &Flags {
            system: flag::DELETED,
            keywords: vec![],
        },
    )
    .await
    .unwrap();
    tool.expunge(a, inbox, None).await.unwrap();
    assert_eq!(server.snapshot(a, inbox).await.unwrap().uids, vec![1]);
}

/// Writes that share a batch index their headers at the end of it: the
/// index holds exactly the appends that stuck (not those of a write that
/// failed within the batch) and forgets expunged ones.
#[tokio::test]
async fn search_is_exact_while_the_index_trails() {
    let dir = tempfile::tempdir().unwrap();
    let (store, account, inbox) = store_with_account(dir.path()).await;
    let append = |subject: &'static str| {
        let store = store.clone();
        async move {
            let m = message(format!("Subject: {subject}\r\n\r\nhi\r\n").into());
            store.append(account, inbox, m).await.unwrap().uid
        }
    };
    let search = |text: &'static str| {
        let store = store.clone();
        async move {
            let q = Query::Text(text.into()).normalized();
            store.search(account, inbox, &q).await.unwrap()
        }
    };
    let expunge = |uid: u32| {
        let store = store.clone();
        async move {
            let deleted = Flags {
                system: flag::DELETED,
                keywords: Vec::new(),
            };
            store
                .store_flags(account, inbox, &[uid], FlagOp::Add, &deleted)
                .await
                .unwrap();
            assert_eq!(store.expunge(account, inbox, None).await.unwrap(), [uid]);
        }
    };
    // Not yet in the index, then in it.
    let a = append("Alpaca").await;
    let b = append("Bison").await;
    assert_eq!(search("alpaca").await, [a]);
    store.write_search_index().await.unwrap();
    assert_eq!(search("alpaca").await, [a]);
    assert_eq!(search("bison").await, [b]);
    // B's blob is the newest: once gone, its rowid is given to the next
    // blob while the index still holds B's text under it.
    expunge(b).await;
    let c = append("Camel").await;
    assert!(search("bison").await.is_empty());
    assert_eq!(search("camel").await, [c]);
    store.write_search_index().await.unwrap();
    assert!(search("bison").await.is_empty());
    assert_eq!(search("camel").await, [c]);
    // Appended and expunged before the index was written: never in it.
    let d = append("Dingo").await;
    assert_eq!(search("dingo").await, [d]);
    expunge(d).await;
    assert!(search("dingo").await.is_empty());
    store.write_search_index().await.unwrap();
    assert!(search("dingo").await.is_empty());
    assert_eq!(search("a").await, [a, c]);
    // Pending work survives a restart.
    let e = append("Emu").await;
    drop(store);
    let store = SqliteStore::open(dir.path()).await.unwrap();
    let q = Query::Text("emu".into()).normalized();
    assert_eq!(store.search(account, inbox, &q).await.unwrap(), [e]);
    store.write_search_index().await.unwrap();
    assert_eq!(store.search(account, inbox, &q).await.unwrap(), [e]);
}

#[tokio::test]
async fn batched_writes_keep_the_search_index_exact() {
    let dir = tempfile::tempdir().unwrap();
    let (store, account, inbox) = store_with_account(dir.path()).await;
    let mut tasks = Vec::new();
    for i in 0..60 {
        let store = store.clone();
        // Every fifth goes to a mailbox that does not exist.
        let target = if i % 5 == 2 { MailboxId(9999) } else { inbox };
        let data = format!("Subject: zebra{i:02}\r\n\r\nbody {i}\r\n").into_bytes();
        tasks.push(tokio::spawn(async move {
            (i, store.append(account, target, message(data)).await)
        }));
    }
    let mut uid_of = std::collections::HashMap::new();
    for t in tasks {
        let (i, r) = t.await.unwrap();
        match r {
            Ok(a) => {
                uid_of.insert(i, a.uid);
            }
            Err(StoreError::NoMailbox) => assert_eq!(i % 5, 2),
            Err(e) => panic!("{e}"),
        }
    }
    let search = |value: &str| {
        let q = Query::Header {
            name: "SUBJECT".into(),
            value: value.into(),
        }
        .normalized();
        let store = store.clone();
        async move { store.search(account, inbox, &q).await.unwrap() }
    };
    let mut all: Vec<u32> = uid_of.values().copied().collect();
    all.sort_unstable();
    assert_eq!(all.len(), 48);
    assert_eq!(search("zebra").await, all);
    assert!(search("zebra02").await.is_empty(), "a failed append");
    assert_eq!(search("zebra13").await, vec![uid_of[&13]]);
    // Expunge half of them concurrently with more appends.
    let deleted = Flags {
        system: flag::DELETED,
        keywords: Vec::new(),
    };
    let odd: Vec<u32> = all.iter().copied().filter(|u| u % 2 == 1).collect();
    store
        .store_flags(account, inbox, &odd, FlagOp::Add, &deleted)
        .await
        .unwrap();
    let expunge = {
        let store = store.clone();
        tokio::spawn(async move { store.expunge(account, inbox, None).await })
    };
    let more: Vec<_> = (60..70)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move { store.append(account, inbox, msg(i, 10)).await })
        })
        .collect();
    assert_eq!(expunge.await.unwrap().unwrap(), odd);
    for t in more {
        t.await.unwrap().unwrap();
    }
    let even: Vec<u32> = all.iter().copied().filter(|u| u % 2 == 0).collect();
    assert_eq!(search("zebra").await, even);
    assert_eq!(search("m6").await.len(), 10);
}

#[tokio::test]
async fn fetch_reads_each_messages_own_metadata_however_the_content_lies() {
    let dir = tempfile::tempdir().unwrap();
    let (store, a, a_inbox) = store_with_account(dir.path()).await;
    let b = store
        .create_account("b", &Credentials::default())
        .await
        .unwrap();
    let b_inbox = store.mailbox(b, "INBOX").await.unwrap().unwrap().id;
    // Content of a and b interleaved (a's rowids close together, with b's
    // between), then a run of b's alone, then one of a's far away: both
    // ways the store reads rows (a walk along close rowids, a lookup each)
    // and the rows of another account in between.
    let mut subjects: std::collections::HashMap<(u32, u32), String> = Default::default();
    let mut add = async |account: AccountId, inbox: MailboxId, i: usize| {
        let uid = store.append(account, inbox, msg(i, 50)).await.unwrap().uid;
        subjects.insert((account.0 as u32, uid), format!("Subject: m{i}\r\n"));
    };
    for i in 0..6 {
        add(a, a_inbox, i).await;
        add(b, b_inbox, 100 + i).await;
    }
    for i in 0..30 {
        add(b, b_inbox, 200 + i).await;
    }
    add(a, a_inbox, 300).await;
    let need = FetchNeed {
        header: true,
        rendered: true,
        ..FetchNeed::default()
    };
    for (account, inbox, count) in [(a, a_inbox, 7u32), (b, b_inbox, 36)] {
        let uids: Vec<u32> = (1..=count).collect();
        let sets = [uids.clone(), vec![1, count], vec![count]];
        for set in sets {
            let recs = store
                .fetch(account, inbox, &set, need.clone())
                .await
                .unwrap();
            let got: Vec<u32> = recs.iter().map(|r| r.uid).collect();
            assert_eq!(got, set, "account {account:?}");
            for r in &recs {
                let header = String::from_utf8_lossy(r.header.as_deref().unwrap()).into_owned();
                assert_eq!(
                    header,
                    format!("{}\r\n", subjects[&(account.0 as u32, r.uid)])
                );
                assert!(r.rendered.is_some());
            }
        }
    }
}

#[tokio::test]
async fn listed_header_fields_come_from_their_table_and_the_header_stands_in() {
    let dir = tempfile::tempdir().unwrap();
    let (store, a, inbox) = store_with_account(dir.path()).await;
    for i in 0..40 {
        let data = format!(
            "Received: by r{i}\r\nFrom: f{i}@x\r\nX-Other: o{i}\r\nSubject: m{i}\r\n folded\r\n\r\nbody {i}\r\n"
        );
        store
            .append(a, inbox, message(data.into_bytes()))
            .await
            .unwrap();
    }
    let need = |names: &[&str]| FetchNeed {
        header: true,
        header_fields: Some(Arc::new(
            names.iter().map(|n| n.as_bytes().to_vec()).collect(),
        )),
        ..FetchNeed::default()
    };
    let listed = need(&["from", "subject"]);
    let unlisted = need(&["subject", "x-other"]);
    let uids: Vec<u32> = (1..=40).collect();
    let check = async |need: &FetchNeed, expect: &dyn Fn(u32) -> String| {
        // All at once (a walk along the rowids) and a few (lookups).
        for set in [uids.clone(), vec![2, 17, 40]] {
            let recs = store.fetch(a, inbox, &set, need.clone()).await.unwrap();
            assert_eq!(recs.iter().map(|r| r.uid).collect::<Vec<_>>(), set);
            for r in &recs {
                let got = String::from_utf8_lossy(r.header.as_deref().unwrap()).into_owned();
                assert_eq!(got, expect(r.uid - 1), "uid {}", r.uid);
            }
        }
    };
    let from_subject = |i: u32| format!("From: f{i}@x\r\nSubject: m{i}\r\n folded\r\n\r\n");
    check(&listed, &from_subject).await;
    check(&unlisted, &|i| {
        format!("X-Other: o{i}\r\nSubject: m{i}\r\n folded\r\n\r\n")
    })
    .await;

    // The listed fields are read from their table: what it holds is what
    // FETCH hands over.
    let db = rusqlite::Connection::open(dir.path().join("crispin.db")).unwrap();
    db.execute(
        "UPDATE blob_fields SET fields = CAST('From: table\r\n\r\n' AS BLOB)",
        [],
    )
    .unwrap();
    check(&listed, &|_| "From: table\r\n\r\n".to_string()).await;
    // Content without a row there (stored before the table existed), or
    // whose row belongs to other content (a rowid used again), is read
    // from its header.
    db.execute("DELETE FROM blob_fields WHERE blob % 3 = 0", [])
        .unwrap();
    db.execute(
        "UPDATE blob_fields SET tag = tag + 1 WHERE blob % 3 = 1",
        [],
    )
    .unwrap();
    let mixed = |i: u32| match (i + 1) % 3 {
        2 => "From: table\r\n\r\n".to_string(),
        _ => from_subject(i),
    };
    check(&listed, &mixed).await;
    // A row left behind for the next rowid (say by an upgrade's backfill
    // racing a delete) neither fails the next append nor answers for it.
    db.execute(
        "INSERT INTO blob_fields (account_id, blob, tag, fields)
         SELECT account_id, max(blob) + 1, 7, CAST('From: stale

' AS BLOB) FROM blob_fields",
        [],
    )
    .unwrap();
    let data = "From: new@x\r\nSubject: new\r\n\r\nbody\r\n";
    let uid = store
        .append(a, inbox, message(data.as_bytes().to_vec()))
        .await
        .unwrap()
        .uid;
    let recs = store.fetch(a, inbox, &[uid], listed.clone()).await.unwrap();
    assert_eq!(
        recs[0].header.as_deref().unwrap(),
        b"From: new@x\r\nSubject: new\r\n\r\n"
    );
    // Deleting content deletes its row.
    let left: i64 = db
        .query_row("SELECT count(*) FROM blob_fields", [], |r| r.get(0))
        .unwrap();
    assert!(left > 0);
    store.delete_account("a").await.unwrap();
    let left: i64 = db
        .query_row("SELECT count(*) FROM blob_fields", [], |r| r.get(0))
        .unwrap();
    assert_eq!(left, 0);
}

#[tokio::test]
async fn a_store_from_before_the_listed_fields_gets_them_at_its_first_open() {
    let dir = tempfile::tempdir().unwrap();
    let (store, a, inbox) = store_with_account(dir.path()).await;
    for i in 0..1500 {
        let data = format!("Received: r{i}\r\nSubject: m{i}\r\nFrom: f{i}\r\n\r\nbody\r\n");
        store
            .append(a, inbox, message(data.into_bytes()))
            .await
            .unwrap();
    }
    // Make it a store from before migration 0011.
    let db = rusqlite::Connection::open(dir.path().join("crispin.db")).unwrap();
    db.execute_batch("DROP TABLE blob_fields; DELETE FROM _sqlx_migrations WHERE version = 11;")
        .unwrap();
    let reopened = SqliteStore::open(dir.path()).await.unwrap();
    let rows: Vec<(i64, Vec<u8>)> = db
        .prepare("SELECT blob, fields FROM blob_fields ORDER BY blob")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap();
    assert_eq!(rows.len(), 1500, "more than one batch of 1,000");
    for (blob, fields) in &rows {
        let i = blob - 1;
        assert_eq!(
            String::from_utf8_lossy(fields),
            format!("Subject: m{i}\r\nFrom: f{i}\r\n\r\n")
        );
    }
    // Served from there, with the tag that matches the content.
    db.execute(
        "UPDATE blob_fields SET fields = CAST('From: table\r\n\r\n' AS BLOB)",
        [],
    )
    .unwrap();
    let need = FetchNeed {
        header: true,
        header_fields: Some(Arc::new(vec![b"from".to_vec()])),
        ..FetchNeed::default()
    };
    let recs = reopened.fetch(a, inbox, &[1, 1500], need).await.unwrap();
    assert_eq!(recs.len(), 2);
    for r in recs {
        assert_eq!(r.header.as_deref().unwrap(), b"From: table\r\n\r\n");
    }
    // Opening again does not fill in anything twice.
    db.execute("DELETE FROM blob_fields WHERE blob = 1", [])
        .unwrap();
    drop(SqliteStore::open(dir.path()).await.unwrap());
    let count: i64 = db
        .query_row("SELECT count(*) FROM blob_fields", [], |r| r.get(0))
        .unwrap();
    assert_eq!(count, 1499);
}

/// What a tool process (`crispin deliver`, `import`, `user`) commits
/// reaches a running server's bus, in order, and its watches; a notice the
/// server cannot read makes everyone resync; `unlock` travels the same way.
#[tokio::test]
async fn other_processes_changes_arrive_on_the_servers_bus() {
    use std::time::Duration;
    let dir = tempfile::tempdir().unwrap();
    let (server, a, inbox) = store_with_account(dir.path()).await;
    server.listen_for_other_processes().unwrap();
    let mut events = server.subscribe(a);
    let mut watch = server.watch(inbox);
    watch.borrow_and_update();
    let mut notices = server.account_notices();
    let tool = SqliteStore::open(dir.path()).await.unwrap();
    tool.notify_running_server();
    let next = async |events: &mut Subscription| {
        tokio::time::timeout(Duration::from_secs(10), events.recv())
            .await
            .expect("an event within 10 s")
            .expect("the bus is open")
    };

    let appended = tool.append(a, inbox, msg(1, 10)).await.unwrap();
    assert_eq!(
        next(&mut events).await,
        Event::MailboxChanged {
            mailbox: inbox,
            modseq: appended.modseq
        }
    );
    tokio::time::timeout(Duration::from_secs(10), watch.changed())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(*watch.borrow_and_update(), appended.modseq);
    assert_eq!(server.snapshot(a, inbox).await.unwrap().uids, vec![1]);

    let made = tool.create_mailbox(a, "From a tool", None).await.unwrap();
    tool.rename_mailbox(a, "From a tool", "Renamed 100%")
        .await
        .unwrap();
    tool.set_subscribed(a, "Renamed 100%", true).await.unwrap();
    tool.delete_mailbox(a, made).await.unwrap();
    for want in [
        Event::MailboxCreated {
            mailbox: made,
            name: "From a tool".into(),
        },
        Event::MailboxRenamed {
            mailbox: made,
            old: "From a tool".into(),
            new: "Renamed 100%".into(),
        },
        Event::SubscriptionChanged {
            name: "Renamed 100%".into(),
            subscribed: true,
        },
        Event::MailboxDeleted {
            mailbox: made,
            name: "Renamed 100%".into(),
        },
    ] {
        assert_eq!(next(&mut events).await, want);
    }

    let sock = std::os::unix::net::UnixDatagram::unbound().unwrap();
    sock.send_to(b"7 12", dir.path().join("feed.sock")).unwrap();
    assert_eq!(next(&mut events).await, Event::Resync);
    tokio::time::timeout(Duration::from_secs(10), watch.changed())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(*watch.borrow_and_update(), appended.modseq);

    assert!(
        tool.tell_running_server(&AccountNotice::Unlock("a".into()))
            .unwrap()
    );
    let notice = tokio::time::timeout(Duration::from_secs(10), notices.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(notice, AccountNotice::Unlock("a".into()));
    tool.close().await;
}

/// Addresses are searched without their comments, in content stored
/// after migration 0013 and, rebuilt once at the first open after it, in
/// content stored before (its search text and its index entry).
#[tokio::test]
async fn addresses_are_searched_without_comments_after_the_upgrade() {
    let dir = tempfile::tempdir().unwrap();
    let (store, a, inbox) = store_with_account(dir.path()).await;
    let from = |value: &str| {
        Query::Header {
            name: "FROM".into(),
            value: value.into(),
        }
        .normalized()
    };
    for i in 0..700 {
        let data = format!(
            "From: <user-from{i} (comment)@ (comment) domain.org>\r\nSubject: m{i}\r\n\r\nbody\r\n"
        );
        store
            .append(a, inbox, message(data.into_bytes()))
            .await
            .unwrap();
    }
    let wanted = |n: &str| -> Vec<u32> {
        (0..700u32)
            .filter(|i| format!("user-from{i}@domain.org").contains(n))
            .map(|i| i + 1)
            .collect()
    };
    let q = from("user-from7@domain.org");
    assert_eq!(
        store.search(a, inbox, &q).await.unwrap(),
        wanted("user-from7@domain.org"),
        "new content"
    );
    // Make it a store from before migration 0013: the old search text,
    // indexed as it was.
    let db = rusqlite::Connection::open(dir.path().join("crispin.db")).unwrap();
    db.execute_batch(
        "UPDATE blobs SET search_headers =
             substr(search_headers, 1, instr(search_headers, 'domain.org>') + 11)
             || substr(search_headers, instr(search_headers, 'subject:'));
         INSERT INTO search_fts (search_fts) VALUES ('delete-all');
         INSERT INTO search_fts (rowid, headers) SELECT rowid, search_headers FROM blobs;
         DELETE FROM _sqlx_migrations WHERE version = 13;",
    )
    .unwrap();
    drop(store);
    let old = SqliteStore::open(dir.path()).await.unwrap();
    let q = from("user-from12@domain.org");
    assert_eq!(
        old.search(a, inbox, &q).await.unwrap(),
        wanted("user-from12@domain.org"),
        "content from before the upgrade, rebuilt (more than one batch)"
    );
    let q = from("(comment)@");
    assert_eq!(old.search(a, inbox, &q).await.unwrap().len(), 700);
}

/// RFC 7162 §3.1: modseqs are kept across restarts, and a mailbox's go on
/// from where they were, never reused (an expunge's modseq included).
#[tokio::test]
async fn modseqs_survive_a_restart_and_are_not_reused() {
    let dir = tempfile::tempdir().unwrap();
    let (store, a, inbox) = store_with_account(dir.path()).await;
    let m1 = store.append(a, inbox, msg(1, 10)).await.unwrap();
    let m2 = store.append(a, inbox, msg(2, 10)).await.unwrap();
    let seen = Flags {
        system: flag::SEEN | flag::DELETED,
        keywords: Vec::new(),
    };
    let stored = store
        .store_flags(a, inbox, &[m2.uid], FlagOp::Add, &seen)
        .await
        .unwrap();
    store.expunge(a, inbox, None).await.unwrap();
    let before = store.status(a, inbox).await.unwrap().highest_modseq;
    assert!(
        before > stored.modseq,
        "the expunge took a modseq of its own"
    );
    store.close().await;
    drop(store);

    let store = SqliteStore::open(dir.path()).await.unwrap();
    assert_eq!(store.status(a, inbox).await.unwrap().highest_modseq, before);
    let recs = store
        .fetch(a, inbox, &[m1.uid], FetchNeed::default())
        .await
        .unwrap();
    assert_eq!(recs[0].modseq, m1.modseq, "a message keeps its modseq");
    let m3 = store.append(a, inbox, msg(3, 10)).await.unwrap();
    assert!(m3.modseq > before, "{} after {before}", m3.modseq);
    store.close().await;
}
