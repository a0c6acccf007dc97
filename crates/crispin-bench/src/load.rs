//! `load`: puts the deterministic corpus into mailboxes, by pipelined
//! APPEND over several connections or by LMTP, and checks the count.

use crate::corpus;
use crate::imap::{parse_tagged, show, write_append};
use crate::stats::{Better, Metric, Report};
use crate::target::{SENDER, Target, Via};
use anyhow::{Context, Result, anyhow, bail};
use std::sync::Arc;
use std::time::Instant;
use tokio::io::AsyncWriteExt;
use tokio::sync::{Semaphore, mpsc};

#[derive(Debug, Clone)]
pub struct LoadOpts {
    pub users: Vec<String>,
    pub mailbox: String,
    pub count: u64,
    pub seed: u64,
    pub via: Via,
    pub connections: usize,
    pub pipeline: usize,
}

pub async fn run(t: &Target, o: &LoadOpts, report: &mut Report) -> Result<()> {
    let start = Instant::now();
    let mut bytes = 0;
    for user in &o.users {
        let before = {
            let mut conn = t.login(user).await?;
            let n = conn.messages(&o.mailbox).await?;
            conn.logout().await?;
            n
        };
        let mut tasks = tokio::task::JoinSet::new();
        let connections = o.connections.max(1) as u64;
        for k in 0..connections {
            let (t, o, user) = (t.clone(), o.clone(), user.clone());
            let indices = (k..o.count).step_by(connections as usize);
            tasks.spawn(async move {
                match o.via {
                    Via::Append => append_pipelined(&t, &user, &o, indices).await,
                    Via::Lmtp => deliver_lmtp(&t, &user, &o, indices).await,
                }
            });
        }
        while let Some(done) = tasks.join_next().await {
            bytes += done.context("a loader task failed")??;
        }
        let mut conn = t.login(user).await?;
        let after = conn.messages(&o.mailbox).await?;
        conn.logout().await?;
        if u64::from(after) != u64::from(before) + o.count {
            bail!(
                "{user}/{}: {before} messages before loading {}, {after} after",
                o.mailbox,
                o.count
            );
        }
    }
    let elapsed = start.elapsed();
    let total = o.count * o.users.len() as u64;
    let name = match o.via {
        Via::Append => format!(
            "APPEND x{} conns, depth {}",
            o.connections.max(1),
            o.pipeline
        ),
        Via::Lmtp => format!("LMTP x{} conns", o.connections.max(1)),
    };
    let mut m = Metric::new(
        &format!("load {} msgs", total),
        &name,
        total as f64 / elapsed.as_secs_f64().max(1e-9),
        "msgs/s",
        Better::Higher,
    );
    m.count = Some(total);
    m.mb_per_sec = Some(bytes as f64 / 1e6 / elapsed.as_secs_f64().max(1e-9));
    report.metrics.push(m);
    Ok(())
}

/// APPENDs `indices` of the corpus on one connection with up to
/// `pipeline` commands in flight (LITERAL+). Returns the bytes sent.
async fn append_pipelined(
    t: &Target,
    user: &str,
    o: &LoadOpts,
    indices: impl Iterator<Item = u64>,
) -> Result<u64> {
    let mut conn = t.login(user).await?;
    if !conn.has_cap("LITERAL+") {
        // Without LITERAL+ every APPEND waits for its continuation.
        let mut bytes = 0;
        for i in indices {
            let msg = corpus::message(o.seed, i);
            conn.append(&o.mailbox, "", &msg).await?;
            bytes += msg.len() as u64;
        }
        conn.logout().await?;
        return Ok(bytes);
    }
    let window = Arc::new(Semaphore::new(o.pipeline.max(1)));
    let (tags_tx, mut tags_rx) = mpsc::unbounded_channel::<String>();
    let seed = o.seed;
    let mailbox = o.mailbox.clone();
    let w = &mut conn.w;
    let r = &mut conn.r;
    let writer = {
        let window = window.clone();
        async move {
            let mut bytes = 0u64;
            let mut buf = Vec::new();
            for (n, i) in indices.enumerate() {
                window
                    .acquire()
                    .await
                    .map_err(|_| anyhow!("window closed"))?
                    .forget();
                let msg = corpus::message(seed, i);
                let tag = format!("P{n}");
                buf.clear();
                write_append(&mut buf, &tag, &mailbox, "", msg.len(), true);
                buf.extend_from_slice(&msg);
                buf.extend_from_slice(b"\r\n");
                tags_tx.send(tag).map_err(|_| anyhow!("reader stopped"))?;
                w.write_all(&buf).await.context("sending APPEND")?;
                bytes += msg.len() as u64;
            }
            Ok::<u64, anyhow::Error>(bytes)
        }
    };
    let reader = async move {
        let mut buf = Vec::new();
        while let Some(tag) = tags_rx.recv().await {
            loop {
                r.read_response(&mut buf).await?;
                if buf.starts_with(b"* ") {
                    continue;
                }
                let tagged = parse_tagged(&buf, &tag)
                    .ok_or_else(|| anyhow!("expected {tag}, got {}", show(&buf)))?;
                if tagged.status != crate::imap::Status::Ok {
                    bail!("APPEND → {:?} {}", tagged.status, tagged.text);
                }
                break;
            }
            window.add_permits(1);
        }
        Ok::<(), anyhow::Error>(())
    };
    let (bytes, ()) = tokio::try_join!(writer, reader)?;
    conn.logout().await?;
    Ok(bytes)
}

async fn deliver_lmtp(
    t: &Target,
    user: &str,
    o: &LoadOpts,
    indices: impl Iterator<Item = u64>,
) -> Result<u64> {
    let mut lmtp = t.lmtp().await?;
    let rcpt = [t.rcpt(user)];
    let mut bytes = 0;
    for i in indices {
        let msg = corpus::message(o.seed, i);
        lmtp.deliver(SENDER, &rcpt, &msg).await?;
        bytes += msg.len() as u64;
    }
    lmtp.quit().await?;
    Ok(bytes)
}
