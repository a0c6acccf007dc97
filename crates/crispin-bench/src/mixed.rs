//! `mixed`: what a busy mail client does, cycle after cycle, for a fixed
//! time: LOGIN, SELECT, FETCH flags and envelopes of new mail, FETCH a
//! full body, STORE a flag, APPEND, delete (STORE \Deleted + EXPUNGE),
//! LOGOUT. Either a session per cycle, or long-lived sessions that log
//! in once. Every client is its own user (`PREFIX1`, `PREFIX2`, …).

use crate::corpus::{self, Rng};
use crate::imap::{Conn, find_ci, number_after, untagged_number};
use crate::stats::{Recorder, Report, run_clients};
use crate::target::Target;
use anyhow::{Result, anyhow, bail};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Mode {
    /// A new connection and login for every cycle.
    Session,
    /// One login per client, cycles on the open session.
    Long,
    /// Both, one after the other.
    Both,
}

#[derive(Debug, Clone)]
pub struct MixedOpts {
    pub clients: Vec<usize>,
    pub mode: Mode,
    pub duration: Duration,
    pub user_prefix: String,
    pub seed: u64,
}

pub const OPS: &[&str] = &[
    "cycle",
    "CONNECT",
    "LOGIN",
    "SELECT",
    "FETCH new (FLAGS ENVELOPE)",
    "FETCH BODY[]",
    "STORE \\Seen",
    "APPEND",
    "STORE \\Deleted",
    "EXPUNGE",
    "LOGOUT",
];

pub async fn run(t: &Target, o: &MixedOpts, report: &mut Report) -> Result<()> {
    // Messages to append, made before the clock starts.
    let pool: Arc<Vec<Vec<u8>>> = Arc::new(
        (0..64)
            .map(|k| corpus::message(o.seed ^ 0xA99E, 1_000_000 + k))
            .filter(|m| m.len() < 64 * 1024)
            .collect(),
    );
    let modes: &[Mode] = match o.mode {
        Mode::Both => &[Mode::Session, Mode::Long],
        Mode::Session => &[Mode::Session],
        Mode::Long => &[Mode::Long],
    };
    for &clients in &o.clients {
        for &mode in modes {
            let group = format!(
                "mixed c={clients} {}",
                if mode == Mode::Session {
                    "session/cycle"
                } else {
                    "long-lived"
                }
            );
            let deadline = Instant::now() + o.duration;
            run_clients(&group, clients, OPS, report, |k| {
                let t = t.clone();
                let user = format!("{}{k}", o.user_prefix);
                let pool = pool.clone();
                let seed = o.seed ^ (k as u64) << 32;
                async move {
                    let mut rec = Recorder::default();
                    let result = client(&t, &user, mode, deadline, &pool, seed, &mut rec).await;
                    (user, result, rec)
                }
            })
            .await?;
        }
    }
    Ok(())
}

/// One client's loop until `deadline`.
async fn client(
    t: &Target,
    user: &str,
    mode: Mode,
    deadline: Instant,
    pool: &[Vec<u8>],
    seed: u64,
    rec: &mut Recorder,
) -> Result<()> {
    let mut rng = Rng::new(seed);
    let mut session: Option<Conn> = None;
    // The first UID the client has not seen yet.
    let mut unseen_uid: Option<u32> = None;
    while Instant::now() < deadline {
        let cycle_start = Instant::now();
        let mut conn = match session.take() {
            Some(conn) => conn,
            None => {
                let at = Instant::now();
                let mut conn = t.connect().await?;
                rec.record("CONNECT", at.elapsed());
                let at = Instant::now();
                conn.login(user, &t.password).await?;
                rec.record("LOGIN", at.elapsed());
                let at = Instant::now();
                let state = conn.select("INBOX", false).await?;
                rec.record("SELECT", at.elapsed());
                if state.exists == 0 {
                    bail!("{user}'s INBOX is empty: load it first");
                }
                if unseen_uid.is_none() && state.uid_next > 0 {
                    unseen_uid = Some(state.uid_next.saturating_sub(10).max(1));
                }
                conn
            }
        };
        cycle(&mut conn, &mut rng, pool, &mut unseen_uid, rec).await?;
        if mode == Mode::Session {
            let at = Instant::now();
            conn.logout().await?;
            rec.record("LOGOUT", at.elapsed());
        } else {
            session = Some(conn);
        }
        rec.record("cycle", cycle_start.elapsed());
    }
    if let Some(mut conn) = session {
        let at = Instant::now();
        conn.logout().await?;
        rec.record("LOGOUT", at.elapsed());
    }
    Ok(())
}

pub(crate) async fn cycle(
    conn: &mut Conn,
    rng: &mut Rng,
    pool: &[Vec<u8>],
    unseen_uid: &mut Option<u32>,
    rec: &mut Recorder,
) -> Result<()> {
    // New mail: flags and envelopes of what came since last time.
    let since = unseen_uid.unwrap_or(1);
    let mut fetched = 0u32;
    let mut max_uid = 0u32;
    let at = Instant::now();
    conn.run(
        &format!("UID FETCH {since}:* (UID FLAGS ENVELOPE)"),
        |line| {
            if untagged_number(line, b"FETCH").is_some() {
                fetched += 1;
                let uid =
                    number_after(line, b"UID ").ok_or_else(|| anyhow!("FETCH without UID"))?;
                max_uid = max_uid.max(uid);
                if find_ci(line, b"ENVELOPE (").is_none() || find_ci(line, b"FLAGS (").is_none() {
                    bail!("FETCH without ENVELOPE or FLAGS");
                }
            }
            Ok(())
        },
    )
    .await?;
    rec.record("FETCH new (FLAGS ENVELOPE)", at.elapsed());
    if conn.state.exists > 0 && fetched == 0 {
        bail!("UID FETCH {since}:* returned nothing in a non-empty mailbox");
    }
    if max_uid >= since {
        *unseen_uid = Some(max_uid + 1);
    }

    // Read one message in full.
    let exists = conn.state.exists;
    if exists == 0 {
        bail!("the mailbox is empty");
    }
    let seq = 1 + rng.below(u64::from(exists)) as u32;
    let mut bodies = 0;
    let at = Instant::now();
    conn.run(&format!("FETCH {seq} BODY.PEEK[]"), |line| {
        if untagged_number(line, b"FETCH").is_some() {
            if find_ci(line, b"BODY[] {").is_none() {
                bail!("FETCH BODY.PEEK[] without a literal");
            }
            bodies += 1;
        }
        Ok(())
    })
    .await?;
    rec.record("FETCH BODY[]", at.elapsed());
    if bodies != 1 {
        bail!("FETCH {seq} BODY.PEEK[] gave {bodies} FETCH responses");
    }

    // Mark it read (or unread).
    let sign = if rng.chance(0.5) { '+' } else { '-' };
    let at = Instant::now();
    conn.run(&format!("STORE {seq} {sign}FLAGS (\\Seen)"), |_| Ok(()))
        .await?;
    rec.record("STORE \\Seen", at.elapsed());

    // Save a message (a draft, a sent copy).
    let msg = &pool[rng.below(pool.len() as u64) as usize];
    let at = Instant::now();
    let tagged = conn.append("INBOX", "\\Seen", msg).await?;
    rec.record("APPEND", at.elapsed());
    rec.add_bytes("APPEND", msg.len() as u64);
    let uid = tagged
        .append_uid()
        .ok_or_else(|| anyhow!("APPEND OK without APPENDUID: {}", tagged.text))?;

    // Delete it again, so that the mailbox keeps its size.
    let at = Instant::now();
    conn.run(
        &format!("UID STORE {uid} +FLAGS.SILENT (\\Deleted)"),
        |_| Ok(()),
    )
    .await?;
    rec.record("STORE \\Deleted", at.elapsed());
    let before = conn.state.expunged;
    let at = Instant::now();
    conn.run("EXPUNGE", |_| Ok(())).await?;
    rec.record("EXPUNGE", at.elapsed());
    if conn.state.expunged == before {
        bail!("EXPUNGE removed nothing (the appended UID {uid} was marked \\Deleted)");
    }
    // What we appended ourselves is not new mail.
    if unseen_uid.is_some_and(|u| u <= uid) {
        *unseen_uid = Some(uid + 1);
    }
    Ok(())
}
