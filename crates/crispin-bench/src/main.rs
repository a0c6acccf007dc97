//! crispin-bench: a load generator for IMAP servers (Crispin, Dovecot or
//! any other), speaking IMAP and LMTP over TCP with its own small client.
//! Every scenario checks what the server answers (tagged OK, counts,
//! literals) and reports per operation the rate and latency p50/p99;
//! `--json FILE` writes the same figures for scripts.

mod big;
mod corpus;
mod idle;
mod imap;
mod ingest;
mod lmtp;
mod load;
mod mixed;
mod poll;
mod procmem;
mod soak;
mod stats;
mod stress;
mod target;

use anyhow::{Result, bail};
use clap::{Args, Parser, Subcommand};
use stats::Report;
use std::path::PathBuf;
use std::time::Duration;
use target::{Target, Via};

#[derive(Parser, Debug)]
#[command(name = "crispin-bench", version, about)]
struct Cli {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    command: Command,
}

#[derive(Args, Debug)]
struct Global {
    /// IMAP server address.
    #[arg(long, global = true, default_value = "127.0.0.1:1143")]
    imap: String,
    /// LMTP server address (for LMTP loading, ingest and idle delivery).
    #[arg(long, global = true)]
    lmtp: Option<String>,
    /// The password of every benchmark account.
    #[arg(long, global = true, default_value = "bench-pw")]
    password: String,
    /// Domain of LMTP recipients (user@DOMAIN).
    #[arg(long, global = true, default_value = "localhost")]
    domain: String,
    /// Longest wait for any one response, in seconds.
    #[arg(long, global = true, default_value_t = 600)]
    timeout: u64,
    /// Seed of the message corpus.
    #[arg(long, global = true, default_value_t = 42)]
    seed: u64,
    /// Also write the figures as JSON to this file.
    #[arg(long, global = true)]
    json: Option<PathBuf>,
    /// A name for the server in the report (e.g. crispin, dovecot).
    #[arg(long, global = true, default_value = "")]
    label: String,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// A busy mail client's cycle with N clients, for a fixed time.
    Mixed {
        /// Client counts to run, one after the other.
        #[arg(long, value_delimiter = ',', default_value = "10,50")]
        clients: Vec<usize>,
        #[arg(long, value_enum, default_value = "both")]
        mode: mixed::Mode,
        /// Seconds per client count and mode.
        #[arg(long, default_value_t = 20.0)]
        duration: f64,
        /// Client k logs in as PREFIXk (1-based); its INBOX must hold mail.
        #[arg(long, default_value = "mix")]
        user_prefix: String,
    },
    /// The default profile of Dovecot's imaptest (an independent stress
    /// tool): N clients over `--users` accounts picked at random.
    Stress {
        #[arg(long, value_delimiter = ',', default_value = "10")]
        clients: Vec<usize>,
        /// session: a login every cycle; long: persistent sessions.
        #[arg(long, value_enum, default_value = "both")]
        mode: mixed::Mode,
        #[arg(long, default_value_t = 20.0)]
        duration: f64,
        /// Accounts PREFIX1..PREFIXn, each with ~30 messages in INBOX.
        #[arg(long, default_value_t = 100)]
        users: usize,
        #[arg(long, default_value = "stress")]
        user_prefix: String,
    },
    /// A long run (idlers woken by deliveries, active long-lived clients)
    /// sampling the server's memory, descriptors and p99 latency.
    Soak {
        #[arg(long, default_value_t = 1000)]
        idlers: usize,
        #[arg(long, default_value_t = 200)]
        active: usize,
        #[arg(long, default_value_t = 60.0)]
        minutes: f64,
        #[arg(long, default_value_t = 60)]
        sample_secs: u64,
        /// An LMTP delivery to `idle` this often wakes the idlers.
        #[arg(long, default_value_t = 10)]
        deliver_secs: u64,
        /// Active client k uses PREFIXk (1-based); its INBOX must hold mail.
        #[arg(long, default_value = "mix")]
        user_prefix: String,
        #[arg(long)]
        server_pid: u32,
        /// Write the samples here as JSON (for bench/plot_soak.py).
        #[arg(long)]
        series: Option<PathBuf>,
    },
    /// Many sessions on one mailbox polling with NOOP while writing flags.
    Poll {
        #[arg(long, default_value_t = 200)]
        sessions: usize,
        #[arg(long, default_value = "poll")]
        user: String,
        #[arg(long, default_value_t = 20.0)]
        duration: f64,
    },
    /// A burst of logins, and the server's anonymous memory afterwards.
    Logins {
        #[arg(long, default_value_t = 1000)]
        count: usize,
        #[arg(long, default_value_t = 50)]
        parallel: usize,
        #[arg(long, default_value_t = 100)]
        users: usize,
        #[arg(long, default_value = "stress")]
        user_prefix: String,
        #[arg(long)]
        server_pid: u32,
        #[arg(long, default_value_t = 30)]
        settle_secs: u64,
    },
    /// Load the corpus (messages 0..COUNT) into mailboxes.
    Load {
        /// Users to load (each gets the whole corpus); repeat or comma-separate.
        #[arg(long, value_delimiter = ',', required = true)]
        user: Vec<String>,
        #[arg(long)]
        count: u64,
        #[arg(long, default_value = "INBOX")]
        mailbox: String,
        #[arg(long, value_enum, default_value = "append")]
        via: Via,
        /// Connections per user.
        #[arg(long, default_value_t = 4)]
        connections: usize,
        /// APPENDs in flight per connection.
        #[arg(long, default_value_t = 16)]
        pipeline: usize,
    },
    /// Big operations over a mailbox loaded with `load` (same seed, count).
    Bigmailbox {
        #[arg(long, default_value = "big")]
        user: String,
        #[arg(long, default_value = "INBOX")]
        mailbox: String,
        /// How many corpus messages the mailbox holds.
        #[arg(long)]
        count: u64,
        /// Partial fetches (BODY.PEEK[]<0.2048>), one command each.
        #[arg(long, default_value_t = 1000)]
        partial: u32,
        /// Treat wrong counts and hit numbers as errors, not warnings.
        #[arg(long)]
        strict: bool,
    },
    /// APPEND and LMTP throughput with 1 and 10 writers.
    Ingest {
        #[arg(long, value_enum, value_delimiter = ',', default_value = "append,lmtp")]
        via: Vec<Via>,
        #[arg(long, value_delimiter = ',', default_value = "1,10")]
        writers: Vec<usize>,
        /// Seconds per combination.
        #[arg(long, default_value_t = 20.0)]
        duration: f64,
        /// Writer k stores into PREFIXk's INBOX (1-based).
        #[arg(long, default_value = "ingest")]
        user_prefix: String,
    },
    /// C idling connections; time until each sees a delivered message.
    Idle {
        #[arg(long, default_value = "idle")]
        user: String,
        #[arg(long, default_value_t = 5000)]
        connections: usize,
        /// Deliveries on the same connections (the figures are medians).
        #[arg(long, default_value_t = 1)]
        rounds: usize,
        #[arg(long, value_enum, default_value = "lmtp")]
        via: Via,
        #[command(flatten)]
        memory: MemoryArgs,
        /// Connections being set up at once.
        #[arg(long, default_value_t = 64)]
        connect_concurrency: usize,
        /// Seconds an idler may wait for its EXISTS.
        #[arg(long, default_value_t = 60)]
        wait: u64,
    },
    /// A few seconds of every scenario at tiny sizes, with strict checks
    /// (for the test suite). Needs a fresh server with the accounts big,
    /// idle, mix1..mix3 and ingest1..ingest2, all with --password.
    Smoke {
        #[command(flatten)]
        memory: MemoryArgs,
    },
}

#[derive(Args, Debug, Clone)]
struct MemoryArgs {
    /// Measure this server process and its descendants (VmRSS, Pss).
    #[arg(long)]
    server_pid: Option<u32>,
    /// Or a shell command printing the server's PIDs.
    #[arg(long, conflicts_with = "server_pid")]
    server_pids_cmd: Option<String>,
}

impl MemoryArgs {
    fn source(&self) -> Option<procmem::Source> {
        match (&self.server_pid, &self.server_pids_cmd) {
            (Some(pid), _) => Some(procmem::Source::Pid(*pid)),
            (None, Some(cmd)) => Some(procmem::Source::Command(cmd.clone())),
            (None, None) => None,
        }
    }
}

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s.max(0.01))
}

#[tokio::main]
async fn main() {
    let cli = Cli::parse();
    let g = &cli.global;
    let target = Target {
        imap: g.imap.clone(),
        lmtp: g.lmtp.clone(),
        password: g.password.clone(),
        domain: g.domain.clone(),
        timeout: Duration::from_secs(g.timeout.max(1)),
    };
    let scenario = match &cli.command {
        Command::Mixed { .. } => "mixed",
        Command::Stress { .. } => "stress",
        Command::Soak { .. } => "soak",
        Command::Poll { .. } => "poll",
        Command::Logins { .. } => "logins",
        Command::Load { .. } => "load",
        Command::Bigmailbox { .. } => "bigmailbox",
        Command::Ingest { .. } => "ingest",
        Command::Idle { .. } => "idle",
        Command::Smoke { .. } => "smoke",
    };
    let mut report = Report {
        tool: "crispin-bench",
        scenario: scenario.into(),
        label: g.label.clone(),
        server: g.imap.clone(),
        ..Report::default()
    };
    let outcome = run(&cli.command, &target, g.seed, &mut report).await;
    if let Err(e) = &outcome {
        report.error = Some(format!("{e:#}"));
    }
    report.print();
    if let Some(path) = &g.json {
        let written = serde_json::to_vec_pretty(&report)
            .map_err(anyhow::Error::from)
            .and_then(|json| std::fs::write(path, json).map_err(anyhow::Error::from));
        if let Err(e) = written {
            eprintln!("cannot write {}: {e:#}", path.display());
            std::process::exit(2);
        }
    }
    if let Err(e) = outcome {
        eprintln!("crispin-bench {scenario}: {e:#}");
        std::process::exit(1);
    }
}

async fn run(command: &Command, t: &Target, seed: u64, report: &mut Report) -> Result<()> {
    match command {
        Command::Mixed {
            clients,
            mode,
            duration,
            user_prefix,
        } => {
            let o = mixed::MixedOpts {
                clients: clients.clone(),
                mode: *mode,
                duration: secs(*duration),
                user_prefix: user_prefix.clone(),
                seed,
            };
            mixed::run(t, &o, report).await
        }
        Command::Stress {
            clients,
            mode,
            duration,
            users,
            user_prefix,
        } => {
            let o = stress::StressOpts {
                clients: clients.clone(),
                mode: *mode,
                duration: secs(*duration),
                users: *users,
                user_prefix: user_prefix.clone(),
                seed,
            };
            stress::run(t, &o, report).await
        }
        Command::Soak {
            idlers,
            active,
            minutes,
            sample_secs,
            deliver_secs,
            user_prefix,
            server_pid,
            series,
        } => {
            let o = soak::SoakOpts {
                idlers: *idlers,
                active: *active,
                minutes: *minutes,
                sample_secs: *sample_secs,
                deliver_secs: *deliver_secs,
                user_prefix: user_prefix.clone(),
                server_pid: *server_pid,
                series: series.clone(),
                seed,
            };
            soak::run(t, &o, report).await
        }
        Command::Poll {
            sessions,
            user,
            duration,
        } => {
            let o = poll::PollOpts {
                sessions: *sessions,
                user: user.clone(),
                duration: secs(*duration),
                seed,
            };
            poll::run(t, &o, report).await
        }
        Command::Logins {
            count,
            parallel,
            users,
            user_prefix,
            server_pid,
            settle_secs,
        } => {
            let o = soak::LoginsOpts {
                count: *count,
                parallel: *parallel,
                users: *users,
                user_prefix: user_prefix.clone(),
                server_pid: *server_pid,
                settle_secs: *settle_secs,
            };
            soak::logins(t, &o, report).await
        }
        Command::Load {
            user,
            count,
            mailbox,
            via,
            connections,
            pipeline,
        } => {
            if *via == Via::Lmtp && !mailbox.eq_ignore_ascii_case("INBOX") {
                bail!("LMTP delivers to INBOX only");
            }
            let o = load::LoadOpts {
                users: user.clone(),
                mailbox: mailbox.clone(),
                count: *count,
                seed,
                via: *via,
                connections: *connections,
                pipeline: *pipeline,
            };
            load::run(t, &o, report).await
        }
        Command::Bigmailbox {
            user,
            mailbox,
            count,
            partial,
            strict,
        } => {
            let o = big::BigOpts {
                user: user.clone(),
                mailbox: mailbox.clone(),
                count: *count,
                partial: *partial,
                strict: *strict,
            };
            big::run(t, &o, report).await
        }
        Command::Ingest {
            via,
            writers,
            duration,
            user_prefix,
        } => {
            let o = ingest::IngestOpts {
                via: via.clone(),
                writers: writers.clone(),
                duration: secs(*duration),
                user_prefix: user_prefix.clone(),
                seed,
            };
            ingest::run(t, &o, report).await
        }
        Command::Idle {
            user,
            connections,
            rounds,
            via,
            memory,
            connect_concurrency,
            wait,
        } => {
            let o = idle::IdleOpts {
                user: user.clone(),
                connections: *connections,
                rounds: (*rounds).max(1),
                via: *via,
                memory: memory.source(),
                connect_concurrency: *connect_concurrency,
                wait: Duration::from_secs(*wait),
            };
            idle::run(t, &o, report).await
        }
        Command::Smoke { memory } => smoke(t, seed, memory.source(), report).await,
    }
}

/// Every scenario at tiny sizes, with strict checks.
async fn smoke(
    t: &Target,
    seed: u64,
    memory: Option<procmem::Source>,
    report: &mut Report,
) -> Result<()> {
    let deliver_via = if t.lmtp.is_some() {
        Via::Lmtp
    } else {
        Via::Append
    };
    let count = 200;
    load::run(
        t,
        &load::LoadOpts {
            users: vec!["big".into()],
            mailbox: "INBOX".into(),
            count,
            seed,
            via: Via::Append,
            connections: 2,
            pipeline: 8,
        },
        report,
    )
    .await?;
    load::run(
        t,
        &load::LoadOpts {
            users: vec!["mix1".into(), "mix2".into(), "mix3".into()],
            mailbox: "INBOX".into(),
            count: 20,
            seed,
            via: deliver_via,
            connections: 2,
            pipeline: 4,
        },
        report,
    )
    .await?;
    big::run(
        t,
        &big::BigOpts {
            user: "big".into(),
            mailbox: "INBOX".into(),
            count,
            partial: 50,
            strict: true,
        },
        report,
    )
    .await?;
    let mut vias = vec![Via::Append];
    if t.lmtp.is_some() {
        vias.push(Via::Lmtp);
    }
    ingest::run(
        t,
        &ingest::IngestOpts {
            via: vias,
            writers: vec![1, 2],
            duration: Duration::from_millis(500),
            user_prefix: "ingest".into(),
            seed,
        },
        report,
    )
    .await?;
    idle::run(
        t,
        &idle::IdleOpts {
            user: "idle".into(),
            connections: 20,
            rounds: 2,
            via: deliver_via,
            memory,
            connect_concurrency: 8,
            wait: Duration::from_secs(30),
        },
        report,
    )
    .await?;
    mixed::run(
        t,
        &mixed::MixedOpts {
            clients: vec![3],
            mode: mixed::Mode::Both,
            duration: Duration::from_secs(1),
            user_prefix: "mix".into(),
            seed,
        },
        report,
    )
    .await?;
    // Three clients on two accounts: two of them share one, and expunge
    // messages while the other FETCHes them (answered NIL and
    // EXPUNGEISSUED, never a dropped connection; issue 15).
    stress::run(
        t,
        &stress::StressOpts {
            clients: vec![3],
            mode: mixed::Mode::Both,
            duration: Duration::from_secs(1),
            users: 2,
            user_prefix: "mix".into(),
            seed,
        },
        report,
    )
    .await?;
    // Every timed operation must have happened.
    for m in &report.metrics {
        if m.count == Some(0) || !m.value.is_finite() {
            bail!("{} / {}: no result", m.group, m.name);
        }
    }
    if !report.warnings.is_empty() {
        bail!("warnings: {}", report.warnings.join("; "));
    }
    Ok(())
}
