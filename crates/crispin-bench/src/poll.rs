//! `poll`: many sessions on one mailbox, each polling with NOOP (as mobile
//! and polling clients do every few seconds) while all of them also write
//! flags: NOOP and CHECK must cost no more than the writes around them.
//! Per session: SELECT, then until the deadline NOOP, STORE ±\Seen of a
//! random message, and every fifth round CHECK.

use crate::corpus::Rng;
use crate::stats::{Recorder, Report};
use crate::target::Target;
use anyhow::{Context, Result, bail};
use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub struct PollOpts {
    pub sessions: usize,
    pub user: String,
    pub duration: Duration,
    pub seed: u64,
}

pub async fn run(t: &Target, o: &PollOpts, report: &mut Report) -> Result<()> {
    let group = format!("poll s={}", o.sessions);
    let nofile = crate::procmem::raise_nofile();
    if nofile < o.sessions as u64 + 64 {
        bail!(
            "RLIMIT_NOFILE ({nofile}) is too low for {} sessions",
            o.sessions
        );
    }
    let start = Instant::now();
    let deadline = start + o.duration;
    let mut tasks = tokio::task::JoinSet::new();
    for k in 0..o.sessions {
        let (t, user) = (t.clone(), o.user.clone());
        let seed = o.seed ^ ((k as u64) << 20);
        tasks.spawn(async move {
            let mut rec = Recorder::default();
            let r: Result<()> = async {
                let mut rng = Rng::new(seed);
                let mut conn = t.login(&user).await?;
                conn.select("INBOX", false).await?;
                let mut round = 0u64;
                while Instant::now() < deadline {
                    round += 1;
                    let at = Instant::now();
                    conn.run("NOOP", |_| Ok(())).await?;
                    rec.record("NOOP", at.elapsed());
                    let exists = conn.state.exists;
                    if exists == 0 {
                        bail!("{user}'s INBOX is empty: load it first");
                    }
                    let seq = 1 + rng.below(u64::from(exists));
                    let sign = if rng.chance(0.5) { '+' } else { '-' };
                    let at = Instant::now();
                    conn.run(&format!("STORE {seq} {sign}FLAGS.SILENT (\\Seen)"), |_| {
                        Ok(())
                    })
                    .await?;
                    rec.record("STORE", at.elapsed());
                    if round.is_multiple_of(5) {
                        let at = Instant::now();
                        conn.run("CHECK", |_| Ok(())).await?;
                        rec.record("CHECK", at.elapsed());
                    }
                }
                conn.logout().await
            }
            .await;
            (r, rec)
        });
    }
    let mut rec = Recorder::default();
    while let Some(done) = tasks.join_next().await {
        let (r, part) = done.context("a poll task panicked")?;
        r?;
        rec.merge(part);
    }
    let elapsed = start.elapsed();
    for m in rec.metrics(&group, elapsed, &["NOOP", "STORE", "CHECK"]) {
        report.metrics.push(m);
    }
    Ok(())
}
