//! Latency samples, percentiles, and the report (a table on stdout and
//! JSON for scripts).

use serde::Serialize;
use std::collections::BTreeMap;
use std::time::Duration;

/// Latency samples per operation, in microseconds.
#[derive(Default, Debug)]
pub struct Recorder {
    pub ops: BTreeMap<String, Vec<u64>>,
    /// Bytes moved per operation (for MB/s), where it matters.
    pub bytes: BTreeMap<String, u64>,
}

impl Recorder {
    pub fn record(&mut self, op: &str, took: Duration) {
        let us = took.as_micros().min(u128::from(u64::MAX)) as u64;
        match self.ops.get_mut(op) {
            Some(v) => v.push(us),
            None => {
                self.ops.insert(op.to_owned(), vec![us]);
            }
        }
    }

    pub fn add_bytes(&mut self, op: &str, n: u64) {
        *self.bytes.entry(op.to_owned()).or_default() += n;
    }

    pub fn merge(&mut self, other: Recorder) {
        for (op, mut v) in other.ops {
            self.ops.entry(op).or_default().append(&mut v);
        }
        for (op, n) in other.bytes {
            *self.bytes.entry(op).or_default() += n;
        }
    }

    pub fn count(&self, op: &str) -> usize {
        self.ops.get(op).map_or(0, Vec::len)
    }

    /// One metric per operation: ops/s over `elapsed`, p50/p99/max.
    /// `order` lists operations to put first, in that order.
    pub fn metrics(&self, group: &str, elapsed: Duration, order: &[&str]) -> Vec<Metric> {
        let mut names: Vec<&String> = self.ops.keys().collect();
        names.sort_by_key(|n| order.iter().position(|o| o == n).unwrap_or(usize::MAX));
        names
            .into_iter()
            .map(|name| {
                let mut m = Metric::latency(group, name, &self.ops[name], elapsed);
                if let Some(&b) = self.bytes.get(name.as_str()) {
                    m.mb_per_sec = Some(b as f64 / 1e6 / elapsed.as_secs_f64().max(1e-9));
                }
                m
            })
            .collect()
    }
}

/// The q-quantile (0..=1) of sorted samples, in milliseconds.
pub fn quantile_ms(sorted_us: &[u64], q: f64) -> f64 {
    if sorted_us.is_empty() {
        return 0.0;
    }
    let rank = ((q * sorted_us.len() as f64).ceil() as usize).clamp(1, sorted_us.len());
    sorted_us[rank - 1] as f64 / 1000.0
}

#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Better {
    Higher,
    Lower,
}

/// One figure: a value with its unit and the direction that is better,
/// plus optional detail.
#[derive(Debug, Clone, Serialize)]
pub struct Metric {
    pub group: String,
    pub name: String,
    pub value: f64,
    pub unit: String,
    pub better: Better,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub count: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub p50_ms: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub p99_ms: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_ms: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mb_per_sec: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ops_per_sec: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hits: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected_hits: Option<u64>,
}

impl Metric {
    pub fn new(group: &str, name: &str, value: f64, unit: &str, better: Better) -> Metric {
        Metric {
            group: group.to_owned(),
            name: name.to_owned(),
            value,
            unit: unit.to_owned(),
            better,
            count: None,
            p50_ms: None,
            p99_ms: None,
            max_ms: None,
            mb_per_sec: None,
            ops_per_sec: None,
            hits: None,
            expected_hits: None,
        }
    }

    /// ops/s over `elapsed` with p50/p99/max of the samples.
    pub fn latency(group: &str, name: &str, samples_us: &[u64], elapsed: Duration) -> Metric {
        let mut sorted = samples_us.to_vec();
        sorted.sort_unstable();
        let rate = sorted.len() as f64 / elapsed.as_secs_f64().max(1e-9);
        let mut m = Metric::new(group, name, rate, "ops/s", Better::Higher);
        m.count = Some(sorted.len() as u64);
        m.p50_ms = Some(quantile_ms(&sorted, 0.50));
        m.p99_ms = Some(quantile_ms(&sorted, 0.99));
        m.max_ms = Some(quantile_ms(&sorted, 1.0));
        m
    }

    /// The same figure with the median latency as its value ("ms p50",
    /// lower is better) and the rate as detail: for operations whose rate
    /// is set by a cycle they are part of.
    pub fn by_latency(mut self) -> Metric {
        self.ops_per_sec = Some(self.value);
        self.value = self.p50_ms.unwrap_or(0.0);
        self.unit = "ms p50".into();
        self.better = Better::Lower;
        self
    }

    /// A single timed operation: seconds, lower is better.
    pub fn seconds(group: &str, name: &str, took: Duration) -> Metric {
        Metric::new(group, name, took.as_secs_f64(), "s", Better::Lower)
    }
}

#[derive(Debug, Default, Serialize)]
pub struct Report {
    pub tool: &'static str,
    pub scenario: String,
    pub label: String,
    pub server: String,
    pub metrics: Vec<Metric>,
    pub warnings: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Report {
    pub fn warn(&mut self, text: String) {
        eprintln!("WARNING: {text}");
        self.warnings.push(text);
    }

    /// The human-readable table.
    pub fn print(&self) {
        println!();
        println!(
            "{} against {} ({})",
            self.scenario,
            self.server,
            if self.label.is_empty() {
                "-"
            } else {
                &self.label
            }
        );
        println!(
            "{:<24} {:<38} {:>16} {:>8} {:>9} {:>9} {:>9}",
            "group", "operation", "value", "count", "p50 ms", "p99 ms", "max ms"
        );
        for m in &self.metrics {
            let value = format!("{} {}", fmt_num(m.value), m.unit);
            let opt = |v: Option<f64>| v.map(fmt_num).unwrap_or_default();
            let mut extra = String::new();
            if let Some(ops) = m.ops_per_sec {
                extra.push_str(&format!("  {} ops/s", fmt_num(ops)));
            }
            if let Some(mb) = m.mb_per_sec {
                extra.push_str(&format!("  {} MB/s", fmt_num(mb)));
            }
            if let Some(h) = m.hits {
                extra.push_str(&format!("  hits {h}"));
                if let Some(e) = m.expected_hits {
                    extra.push_str(&format!(" (expected {e})"));
                }
            }
            println!(
                "{:<24} {:<38} {:>16} {:>8} {:>9} {:>9} {:>9}{}",
                m.group,
                m.name,
                value,
                m.count.map(|c| c.to_string()).unwrap_or_default(),
                opt(m.p50_ms),
                opt(m.p99_ms),
                opt(m.max_ms),
                extra
            );
        }
        for w in &self.warnings {
            println!("WARNING: {w}");
        }
        if let Some(e) = &self.error {
            println!("ERROR: {e}");
        }
    }
}

pub fn fmt_num(v: f64) -> String {
    let a = v.abs();
    if a >= 100.0 {
        format!("{v:.0}")
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else if a >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

/// Runs `clients` client tasks (the k-th made by `client(k)`, 1-based) to
/// their end, then reports their merged figures under `group`: "cycles"
/// as a rate, every other operation by its latency (each runs once a
/// cycle, so its rate is the cycle rate). Any client's failure fails the
/// group.
pub async fn run_clients<F, Fut>(
    group: &str,
    clients: usize,
    order: &[&str],
    report: &mut Report,
    client: F,
) -> anyhow::Result<()>
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = (String, anyhow::Result<()>, Recorder)> + Send + 'static,
{
    use anyhow::{Context, bail};
    let start = std::time::Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for k in 1..=clients {
        tasks.spawn(client(k));
    }
    let mut rec = Recorder::default();
    let mut failures = Vec::new();
    while let Some(done) = tasks.join_next().await {
        let (who, result, r) = done.context("a client task panicked")?;
        if let Err(e) = result {
            failures.push(format!("{who}: {e:#}"));
        }
        rec.merge(r);
    }
    let elapsed = start.elapsed();
    if !failures.is_empty() {
        bail!(
            "{group}: {} of {clients} clients failed; first: {}",
            failures.len(),
            failures[0]
        );
    }
    if rec.count("cycle") == 0 {
        bail!("{group}: no cycle completed");
    }
    for mut m in rec.metrics(group, elapsed, order) {
        if m.name == "cycle" {
            m.name = "cycles".into();
            m.unit = "cycles/s".into();
            report.metrics.push(m);
        } else {
            report.metrics.push(m.by_latency());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles() {
        let v: Vec<u64> = (1..=100).map(|x| x * 1000).collect();
        assert_eq!(quantile_ms(&v, 0.5), 50.0);
        assert_eq!(quantile_ms(&v, 0.99), 99.0);
        assert_eq!(quantile_ms(&v, 1.0), 100.0);
        assert_eq!(quantile_ms(&[], 0.5), 0.0);
    }
}
