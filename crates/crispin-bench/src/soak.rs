//! `soak`: a long run to show that nothing grows. `--idlers` connections
//! IDLE on `idle`'s INBOX (woken by an LMTP delivery every
//! `--deliver-secs`), and `--active` long-lived clients run the `mixed`
//! cycle on `PREFIX1..PREFIXn` for `--minutes`. Every `--sample-secs` the
//! server's anonymous and file-backed resident memory (from
//! /proc/PID/status: RssAnon, RssFile + RssShmem), its open file
//! descriptors and the p99 latency of the commands in that interval are
//! sampled; `--series FILE` writes them as JSON for `bench/plot_soak.py`.

use crate::corpus::{self, Rng};
use crate::mixed;
use crate::procmem;
use crate::stats::{Better, Metric, Recorder, Report, quantile_ms};
use crate::target::{SENDER, Target};
use anyhow::{Context, Result, anyhow, bail};
use serde::Serialize;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub struct SoakOpts {
    pub idlers: usize,
    pub active: usize,
    pub minutes: f64,
    pub sample_secs: u64,
    pub deliver_secs: u64,
    pub user_prefix: String,
    pub server_pid: u32,
    pub series: Option<PathBuf>,
    pub seed: u64,
}

#[derive(Debug, Serialize, Clone)]
pub struct Sample {
    pub minute: f64,
    pub rss_anon_mib: f64,
    pub rss_mapped_mib: f64,
    pub fds: usize,
    pub p99_ms: f64,
    pub commands: usize,
    pub idlers: usize,
}

fn status_kib(pid: u32, key: &str) -> Result<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("reading /proc/{pid}/status (is the server running?)"))?;
    let line = text
        .lines()
        .find(|l| l.starts_with(key))
        .ok_or_else(|| anyhow!("no {key} in /proc/{pid}/status"))?;
    line[key.len()..]
        .split_ascii_whitespace()
        .next()
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| anyhow!("unreadable {key}"))
}

pub fn sample_memory(pid: u32) -> Result<(f64, f64, usize)> {
    let anon = status_kib(pid, "RssAnon:")?;
    let mapped = status_kib(pid, "RssFile:")? + status_kib(pid, "RssShmem:")?;
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0);
    Ok((anon as f64 / 1024.0, mapped as f64 / 1024.0, fds))
}

pub async fn run(t: &Target, o: &SoakOpts, report: &mut Report) -> Result<()> {
    let nofile = procmem::raise_nofile();
    if nofile < (o.idlers + o.active) as u64 + 64 {
        bail!(
            "RLIMIT_NOFILE ({nofile}) is too low for {} connections",
            o.idlers + o.active
        );
    }
    let end = Instant::now() + Duration::from_secs_f64(o.minutes * 60.0);
    let start = Instant::now();
    let latencies = Arc::new(Mutex::new(Vec::<u64>::new()));
    let idling = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let failures = Arc::new(Mutex::new(Vec::<String>::new()));
    let mut tasks = tokio::task::JoinSet::new();
    // Idlers: set up a few at a time.
    let gate = Arc::new(tokio::sync::Semaphore::new(32));
    for _ in 0..o.idlers {
        let (t, gate, idling, failures) =
            (t.clone(), gate.clone(), idling.clone(), failures.clone());
        tasks.spawn(async move {
            let r: Result<()> = async {
                let permit = gate.acquire().await.map_err(|_| anyhow!("gate closed"))?;
                let mut conn = t.login("idle").await?;
                conn.select("INBOX", false).await?;
                conn.idle_start().await?;
                drop(permit);
                idling.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                while Instant::now() < end {
                    let left = end.saturating_duration_since(Instant::now());
                    let known = conn.state.exists;
                    // Woken by a delivery, or the run is over.
                    match conn.idle_wait(left, |s| s.exists > known).await {
                        Ok(_) => {}
                        Err(_) if Instant::now() >= end => break,
                        Err(e) => return Err(e),
                    }
                }
                idling.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
                Ok(())
            }
            .await;
            if let Err(e) = r {
                failures
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push(format!("idler: {e:#}"));
            }
        });
    }
    // Active clients: the mixed cycle on long-lived sessions.
    let pool: Arc<Vec<Vec<u8>>> = Arc::new(
        (0..64)
            .map(|k| corpus::message(o.seed ^ 0x50A4, 3_000_000 + k))
            .filter(|m| m.len() < 64 * 1024)
            .collect(),
    );
    for k in 1..=o.active {
        let (t, pool, lat, failures) =
            (t.clone(), pool.clone(), latencies.clone(), failures.clone());
        let user = format!("{}{k}", o.user_prefix);
        let seed = o.seed ^ ((k as u64) << 24);
        tasks.spawn(async move {
            let r: Result<()> = async {
                let mut rng = Rng::new(seed);
                let mut conn = t.login(&user).await?;
                let state = conn.select("INBOX", false).await?;
                let mut unseen = Some(state.uid_next.saturating_sub(10).max(1));
                while Instant::now() < end {
                    let mut rec = Recorder::default();
                    mixed::cycle(&mut conn, &mut rng, &pool, &mut unseen, &mut rec).await?;
                    let mut all = lat.lock().unwrap_or_else(|p| p.into_inner());
                    for v in rec.ops.into_values() {
                        all.extend(v);
                    }
                }
                conn.logout().await
            }
            .await;
            if let Err(e) = r {
                failures
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push(format!("{user}: {e:#}"));
            }
        });
    }
    // Deliveries that wake the idlers.
    {
        let (t, failures) = (t.clone(), failures.clone());
        let every = Duration::from_secs(o.deliver_secs.max(1));
        let seed = o.seed;
        tasks.spawn(async move {
            let mut n = 0u64;
            while Instant::now() + every < end {
                tokio::time::sleep(every).await;
                n += 1;
                let r: Result<()> = async {
                    let mut lmtp = t.lmtp().await?;
                    let msg = corpus::message(seed ^ 0x1D1E, 4_000_000 + n);
                    lmtp.deliver(SENDER, &[t.rcpt("idle")], &msg).await?;
                    lmtp.quit().await
                }
                .await;
                if let Err(e) = r {
                    failures
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .push(format!("delivery: {e:#}"));
                }
            }
        });
    }
    // Samples.
    let mut series = Vec::new();
    let every = Duration::from_secs(o.sample_secs.max(1));
    let mut next = Instant::now() + every;
    while Instant::now() < end {
        tokio::time::sleep_until(next.into()).await;
        next += every;
        let mut window = std::mem::take(&mut *latencies.lock().unwrap_or_else(|p| p.into_inner()));
        window.sort_unstable();
        let (anon, mapped, fds) = sample_memory(o.server_pid)?;
        let s = Sample {
            minute: start.elapsed().as_secs_f64() / 60.0,
            rss_anon_mib: anon,
            rss_mapped_mib: mapped,
            fds,
            p99_ms: quantile_ms(&window, 0.99),
            commands: window.len(),
            idlers: idling.load(std::sync::atomic::Ordering::Relaxed),
        };
        println!(
            "{:6.1} min  anon {:7.1} MiB  mapped {:7.1} MiB  fds {:5}  p99 {:7.2} ms  {:7} commands  {} idling",
            s.minute, s.rss_anon_mib, s.rss_mapped_mib, s.fds, s.p99_ms, s.commands, s.idlers
        );
        series.push(s);
        if let Some(f) = failures.lock().unwrap_or_else(|p| p.into_inner()).first() {
            bail!("a client failed: {f}");
        }
    }
    while let Some(done) = tasks.join_next().await {
        done.context("a soak task panicked")?;
    }
    if let Some(f) = failures.lock().unwrap_or_else(|p| p.into_inner()).first() {
        bail!("a client failed: {f}");
    }
    if let Some(path) = &o.series {
        std::fs::write(path, serde_json::to_vec_pretty(&series)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    let group = format!("soak {} idlers + {} active", o.idlers, o.active);
    // The bar: anonymous memory at the end against minute 10 (or the
    // first sample of a shorter run).
    let reference = series
        .iter()
        .find(|s| s.minute >= 10.0)
        .or(series.first())
        .cloned();
    if let (Some(r), Some(last)) = (reference, series.last()) {
        report.metrics.push(Metric::new(
            &group,
            &format!("RssAnon at the end / at minute {:.0}", r.minute),
            last.rss_anon_mib / r.rss_anon_mib.max(1e-9),
            "ratio",
            Better::Lower,
        ));
        report.metrics.push(Metric::new(
            &group,
            "RssAnon at the end",
            last.rss_anon_mib,
            "MiB",
            Better::Lower,
        ));
        report.metrics.push(Metric::new(
            &group,
            "fds at the end",
            last.fds as f64,
            "fds",
            Better::Lower,
        ));
        let worst = series.iter().map(|s| s.p99_ms).fold(0.0, f64::max);
        report.metrics.push(Metric::new(
            &group,
            "worst minute's p99",
            worst,
            "ms",
            Better::Lower,
        ));
    }
    Ok(())
}

#[derive(Debug, Clone)]
pub struct LoginsOpts {
    pub count: usize,
    pub parallel: usize,
    pub users: usize,
    pub user_prefix: String,
    pub server_pid: u32,
    pub settle_secs: u64,
}

/// `logins`: COUNT logins (LOGIN then LOGOUT, `--parallel` at once) over
/// PREFIX1..PREFIXn, then the server's anonymous memory right after and
/// once it has been idle for `--settle-secs`: what a burst of logins
/// leaves resident.
pub async fn logins(t: &Target, o: &LoginsOpts, report: &mut Report) -> Result<()> {
    if o.users == 0 || o.parallel == 0 {
        bail!("--users and --parallel must be at least 1");
    }
    let (before, _, _) = sample_memory(o.server_pid)?;
    let gate = Arc::new(tokio::sync::Semaphore::new(o.parallel));
    let mut tasks = tokio::task::JoinSet::new();
    let start = Instant::now();
    for i in 0..o.count {
        let (t, gate) = (t.clone(), gate.clone());
        let user = format!("{}{}", o.user_prefix, 1 + i % o.users);
        tasks.spawn(async move {
            let _permit = gate.acquire().await.map_err(|_| anyhow!("gate closed"))?;
            let at = Instant::now();
            let mut conn = t.login(&user).await?;
            let took = at.elapsed();
            conn.logout().await?;
            Ok::<_, anyhow::Error>(took)
        });
    }
    let mut samples = Vec::with_capacity(o.count);
    while let Some(done) = tasks.join_next().await {
        samples.push(done.context("a login task panicked")??.as_micros() as u64);
    }
    let elapsed = start.elapsed();
    let (after, _, _) = sample_memory(o.server_pid)?;
    tokio::time::sleep(Duration::from_secs(o.settle_secs)).await;
    let (settled, _, _) = sample_memory(o.server_pid)?;
    let group = format!("logins n={} parallel={}", o.count, o.parallel);
    report
        .metrics
        .push(Metric::latency(&group, "LOGIN", &samples, elapsed));
    for (name, v) in [
        ("RssAnon before", before),
        ("RssAnon right after", after),
        (&*format!("RssAnon {} s later", o.settle_secs), settled),
    ] {
        report
            .metrics
            .push(Metric::new(&group, name, v, "MiB", Better::Lower));
    }
    Ok(())
}
