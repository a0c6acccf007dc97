//! `ingest`: APPEND and LMTP throughput with W writers, each its own
//! user (`PREFIX1` …) and connection, one message at a time, for a fixed
//! time.

use crate::corpus;
use crate::imap::Conn;
use crate::lmtp::Lmtp;
use crate::stats::{Recorder, Report};
use crate::target::{SENDER, Target, Via};
use anyhow::{Context, Result, bail};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub struct IngestOpts {
    pub via: Vec<Via>,
    pub writers: Vec<usize>,
    pub duration: Duration,
    pub user_prefix: String,
    pub seed: u64,
}

enum Writer {
    Imap(Conn),
    Lmtp(Lmtp, [String; 1]),
}

pub async fn run(t: &Target, o: &IngestOpts, report: &mut Report) -> Result<()> {
    // A pool of corpus messages, made before the clock starts.
    let pool: Arc<Vec<Vec<u8>>> = Arc::new(
        (0..256)
            .map(|k| corpus::message(o.seed ^ 0x1263, 2_000_000 + k))
            .collect(),
    );
    for &via in &o.via {
        for &writers in &o.writers {
            let group = format!("ingest {} x{writers}", via.name());
            // Connect and log in first: that is not what is measured.
            let mut conns = Vec::new();
            for k in 1..=writers {
                let user = format!("{}{k}", o.user_prefix);
                conns.push(match via {
                    Via::Append => Writer::Imap(t.login(&user).await?),
                    Via::Lmtp => Writer::Lmtp(t.lmtp().await?, [t.rcpt(&user)]),
                });
            }
            let start = Instant::now();
            let deadline = start + o.duration;
            let mut tasks = tokio::task::JoinSet::new();
            for (k, mut writer) in conns.into_iter().enumerate() {
                let pool = pool.clone();
                tasks.spawn(async move {
                    let mut rec = Recorder::default();
                    let mut n = k * 37;
                    while Instant::now() < deadline {
                        let msg = &pool[n % pool.len()];
                        n += 1;
                        let at = Instant::now();
                        match &mut writer {
                            Writer::Imap(conn) => {
                                conn.append("INBOX", "", msg).await?;
                            }
                            Writer::Lmtp(lmtp, rcpt) => {
                                lmtp.deliver(SENDER, rcpt, msg).await?;
                            }
                        }
                        rec.record("message", at.elapsed());
                        rec.add_bytes("message", msg.len() as u64);
                    }
                    match writer {
                        Writer::Imap(mut conn) => conn.logout().await?,
                        Writer::Lmtp(lmtp, _) => lmtp.quit().await?,
                    }
                    Ok::<Recorder, anyhow::Error>(rec)
                });
            }
            let mut rec = Recorder::default();
            while let Some(done) = tasks.join_next().await {
                rec.merge(done.context("a writer panicked")??);
            }
            let elapsed = start.elapsed();
            if rec.count("message") == 0 {
                bail!("{group}: no message stored in {:?}", o.duration);
            }
            for mut m in rec.metrics(&group, elapsed, &[]) {
                m.name = "messages".into();
                m.unit = "msgs/s".into();
                report.metrics.push(m);
            }
        }
    }
    Ok(())
}
