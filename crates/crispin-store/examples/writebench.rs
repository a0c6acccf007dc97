use crispin_store::*;
use std::time::Instant;

#[tokio::main]
async fn main() {
    let dir = tempfile::tempdir().unwrap();
    let config = StoreConfig {
        backend: Backend::Sqlite,
        data_dir: dir.path().to_path_buf(),
    };
    let store = crispin_store::open(&config, OpenMode::CreateIfMissing)
        .await
        .unwrap();
    let a = store
        .create_account("a", &Credentials::default())
        .await
        .unwrap();
    let inbox = store.mailbox(a, "INBOX").await.unwrap().unwrap().id;
    let n = 300;
    let t = Instant::now();
    for i in 0..n {
        let data = format!("Subject: m{i}\r\n\r\nbody {i}\r\n").into_bytes();
        store
            .append(
                a,
                inbox,
                NewMessage {
                    data: MessageData::Bytes(data),
                    flags: Flags::default(),
                    internal_date: chrono::Utc::now().fixed_offset(),
                    skip_if_present: false,
                },
            )
            .await
            .unwrap();
    }
    println!(
        "append: {:.3} ms/op",
        t.elapsed().as_secs_f64() * 1000.0 / n as f64
    );
    let t = Instant::now();
    for i in 0..n {
        let f = Flags {
            system: if i % 2 == 0 { flag::SEEN } else { 0 },
            keywords: vec![],
        };
        store
            .store_flags(a, inbox, &[(i % 300 + 1) as u32], FlagOp::Replace, &f)
            .await
            .unwrap();
    }
    println!(
        "store_flags: {:.3} ms/op",
        t.elapsed().as_secs_f64() * 1000.0 / n as f64
    );
    let t = Instant::now();
    for _ in 0..n {
        store.status(a, inbox).await.unwrap();
    }
    println!(
        "status: {:.3} ms/op",
        t.elapsed().as_secs_f64() * 1000.0 / n as f64
    );
    let t = Instant::now();
    for i in 0..n {
        store
            .fetch(
                a,
                inbox,
                &[(i % 300 + 1) as u32],
                FetchNeed {
                    meta: true,
                    ..FetchNeed::default()
                },
            )
            .await
            .unwrap();
    }
    println!(
        "fetch 1: {:.3} ms/op",
        t.elapsed().as_secs_f64() * 1000.0 / n as f64
    );
    let del = Flags {
        system: flag::DELETED,
        keywords: vec![],
    };
    let t = Instant::now();
    for i in 0..100u32 {
        store
            .store_flags(a, inbox, &[i + 1], FlagOp::Add, &del)
            .await
            .unwrap();
        store.expunge(a, inbox, Some(&[i + 1])).await.unwrap();
    }
    println!(
        "store+expunge: {:.3} ms/op",
        t.elapsed().as_secs_f64() * 1000.0 / 100.0
    );
}
