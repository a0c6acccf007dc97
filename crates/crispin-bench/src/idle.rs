//! `idle`: C connections log in, SELECT INBOX and IDLE; then one message
//! is delivered (LMTP, or APPEND from another connection) and we measure
//! how long each idler takes to see `* n EXISTS`. Repeated for a number of
//! rounds on the same connections; also the server's memory per idler.

use crate::corpus;
use crate::imap::Conn;
use crate::lmtp::Lmtp;
use crate::procmem::{self, Source};
use crate::stats::{Better, Metric, Recorder, Report, quantile_ms};
use crate::target::{SENDER, Target, Via};
use anyhow::{Context, Result, anyhow, bail};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{Semaphore, mpsc, watch};

#[derive(Debug, Clone)]
pub struct IdleOpts {
    pub user: String,
    pub connections: usize,
    pub rounds: usize,
    pub via: Via,
    pub memory: Option<Source>,
    pub connect_concurrency: usize,
    /// How long an idler may take to see its EXISTS, from the delivery.
    pub wait: Duration,
}

enum Event {
    /// Logged in, selected, idling (setup latency on the first round).
    Ready(Option<Duration>),
    Seen(Instant),
    Failed(String),
}

pub async fn run(t: &Target, o: &IdleOpts, report: &mut Report) -> Result<()> {
    let group = format!("idle c={}", o.connections);
    let nofile = procmem::raise_nofile();
    if nofile < o.connections as u64 + 64 {
        bail!(
            "{} connections need more open files than RLIMIT_NOFILE allows ({nofile})",
            o.connections
        );
    }
    let baseline = match &o.memory {
        Some(src) => Some(src.measure()?),
        None => None,
    };
    let (events_tx, mut events_rx) = mpsc::unbounded_channel::<Event>();
    let (round_tx, round_rx) = watch::channel(0usize);
    let gate = Arc::new(Semaphore::new(o.connect_concurrency.max(1)));
    let mut tasks = tokio::task::JoinSet::new();
    let start = Instant::now();
    for _ in 0..o.connections {
        let (t, user, gate, events) = (t.clone(), o.user.clone(), gate.clone(), events_tx.clone());
        let mut round_rx = round_rx.clone();
        // The idlers wait without a limit of their own (the delivery comes
        // when all of them are idling): the main task enforces `wait` from
        // the delivery on, and stops them if it runs out.
        let rounds = o.rounds;
        let wait = Duration::from_secs(24 * 3600);
        tasks.spawn(async move {
            let result = async {
                let permit = gate.acquire().await.map_err(|_| anyhow!("gate closed"))?;
                let at = Instant::now();
                let mut conn = t.login(&user).await?;
                conn.select("INBOX", false).await?;
                conn.idle_start().await?;
                let setup = at.elapsed();
                drop(permit);
                let _ = events.send(Event::Ready(Some(setup)));
                for round in 0..rounds {
                    if round > 0 {
                        conn.idle_start().await?;
                        let _ = events.send(Event::Ready(None));
                    }
                    let known = conn.state.exists;
                    let seen = conn.idle_wait(wait, |s| s.exists > known).await?;
                    let _ = events.send(Event::Seen(seen));
                    // Stay idle until every idler has seen it.
                    round_rx
                        .wait_for(|&r| r > round)
                        .await
                        .map_err(|_| anyhow!("the benchmark stopped"))?;
                    conn.idle_done().await?;
                }
                conn.logout().await?;
                Ok::<(), anyhow::Error>(())
            }
            .await;
            if let Err(e) = result {
                let _ = events.send(Event::Failed(format!("{e:#}")));
            }
        });
    }
    drop(events_tx);

    let mut setup = Recorder::default();
    let mut latencies: Vec<(f64, f64, f64)> = Vec::new();
    let mut deliveries = Recorder::default();
    let outcome: Result<()> = async {
        for round in 0..o.rounds {
            // Everyone idling?
            let mut ready = 0;
            while ready < o.connections {
                match events_rx.recv().await {
                    Some(Event::Ready(s)) => {
                        ready += 1;
                        if let Some(s) = s {
                            setup.record("setup", s);
                        }
                    }
                    Some(Event::Failed(e)) => bail!("an idler failed: {e}"),
                    Some(Event::Seen(_)) => bail!("an idler saw EXISTS before the delivery"),
                    None => bail!("the idlers stopped"),
                }
            }
            if round == 0 {
                let ramp = start.elapsed();
                let mut ms = setup.metrics(&group, ramp, &[]);
                for m in &mut ms {
                    m.name = "connect+LOGIN+SELECT+IDLE".into();
                    m.unit = "conns/s".into();
                }
                report.metrics.extend(ms);
                if let (Some(src), Some(before)) = (&o.memory, baseline) {
                    let after = src.measure()?;
                    let c = o.connections as f64;
                    let per = |a: u64, b: u64| (a as f64 - b as f64) / c;
                    report.metrics.push(Metric::new(
                        &group,
                        "server RSS per idler",
                        per(after.rss_kib, before.rss_kib),
                        "KiB",
                        Better::Lower,
                    ));
                    report.metrics.push(Metric::new(
                        &group,
                        "server PSS per idler",
                        per(after.pss_kib, before.pss_kib),
                        "KiB",
                        Better::Lower,
                    ));
                    let mut total = Metric::new(
                        &group,
                        "server RSS, all idling",
                        after.rss_kib as f64 / 1024.0,
                        "MiB",
                        Better::Lower,
                    );
                    total.count = Some(after.processes as u64);
                    report.metrics.push(total);
                }
            }
            // Let the last IDLE settle, then deliver one message.
            tokio::time::sleep(Duration::from_millis(300)).await;
            let msg = corpus::message(0x1D1E, 3_000_000 + round as u64);
            // Connected and logged in before the clock starts.
            let mut deliverer = Deliverer::open(t, o).await?;
            let t0 = Instant::now();
            deliverer.send(t, o, &msg).await?;
            deliveries.record(o.via.name(), t0.elapsed());
            deliverer.close().await?;
            let mut seen_us = Vec::with_capacity(o.connections);
            let deadline = tokio::time::Instant::from_std(t0 + o.wait);
            while seen_us.len() < o.connections {
                let event = match tokio::time::timeout_at(deadline, events_rx.recv()).await {
                    Ok(event) => event,
                    Err(_) => bail!(
                        "only {} of {} idlers saw EXISTS within {:?} of the delivery",
                        seen_us.len(),
                        o.connections,
                        o.wait
                    ),
                };
                match event {
                    Some(Event::Seen(at)) => {
                        seen_us.push(at.saturating_duration_since(t0).as_micros() as u64)
                    }
                    Some(Event::Failed(e)) => {
                        bail!("an idler failed ({} had seen EXISTS): {e}", seen_us.len())
                    }
                    Some(Event::Ready(_)) => bail!("unexpected ready"),
                    None => bail!("the idlers stopped"),
                }
            }
            seen_us.sort_unstable();
            latencies.push((
                quantile_ms(&seen_us, 0.5),
                quantile_ms(&seen_us, 0.99),
                quantile_ms(&seen_us, 1.0),
            ));
            round_tx.send_replace(round + 1);
        }
        Ok(())
    }
    .await;
    if outcome.is_err() {
        // Let every idler go: they stop at their next wait.
        round_tx.send_replace(usize::MAX);
        tasks.abort_all();
    }
    let mut failures = Vec::new();
    while let Some(done) = tasks.join_next().await {
        if let Err(e) = done
            && !e.is_cancelled()
        {
            failures.push(e.to_string());
        }
    }
    while let Ok(ev) = events_rx.try_recv() {
        if let Event::Failed(e) = ev {
            failures.push(e);
        }
    }
    outcome?;
    if let Some(first) = failures.first() {
        bail!("{} idlers failed at logout; first: {first}", failures.len());
    }

    let median = |f: fn(&(f64, f64, f64)) -> f64| {
        let mut v: Vec<f64> = latencies.iter().map(f).collect();
        v.sort_by(f64::total_cmp);
        v.get(v.len() / 2).copied().unwrap_or(0.0)
    };
    for (name, value) in [
        ("EXISTS seen p50", median(|l| l.0)),
        ("EXISTS seen p99", median(|l| l.1)),
        ("EXISTS seen max", median(|l| l.2)),
    ] {
        let mut m = Metric::new(&group, name, value, "ms", Better::Lower);
        m.count = Some(o.rounds as u64);
        report.metrics.push(m);
    }
    let d = deliveries.metrics(&group, Duration::from_secs(1), &[]);
    for d in d {
        let mut m = Metric::new(
            &group,
            &format!("delivery ({})", o.via.name()),
            d.p50_ms.unwrap_or(0.0),
            "ms",
            Better::Lower,
        );
        m.count = d.count;
        report.metrics.push(m);
    }
    Ok(())
}

enum Deliverer {
    Lmtp(Lmtp),
    Imap(Conn),
}

impl Deliverer {
    async fn open(t: &Target, o: &IdleOpts) -> Result<Deliverer> {
        Ok(match o.via {
            Via::Lmtp => Deliverer::Lmtp(t.lmtp().await?),
            Via::Append => Deliverer::Imap(t.login(&o.user).await?),
        })
    }

    async fn send(&mut self, t: &Target, o: &IdleOpts, msg: &[u8]) -> Result<()> {
        match self {
            Deliverer::Lmtp(lmtp) => lmtp
                .deliver(SENDER, &[t.rcpt(&o.user)], msg)
                .await
                .context("LMTP delivery"),
            Deliverer::Imap(conn) => conn.append("INBOX", "", msg).await.map(drop),
        }
    }

    async fn close(self) -> Result<()> {
        match self {
            Deliverer::Lmtp(lmtp) => lmtp.quit().await,
            Deliverer::Imap(mut conn) => conn.logout().await,
        }
    }
}
