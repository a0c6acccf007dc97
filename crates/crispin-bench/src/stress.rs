//! `stress`: the workload of Dovecot's imaptest in its default profile,
//! the independent stress tool our users' own tests run, rather than our
//! own idea of a client. Per cycle: LOGIN, LIST and STATUS half the time,
//! SELECT, FETCH of flags and envelopes, FETCH of a body, STORE of a flag
//! half the time, STORE \Deleted and EXPUNGE of one message, APPEND of
//! one, LOGOUT; commands of one step pipelined. Clients pick one of
//! `--users` accounts at random, so two clients sometimes share an
//! account (and see each other's EXPUNGEs); mailboxes stay near their
//! size (one deleted, one appended a cycle: load ~30 messages first).
//! `session` logs in every cycle, `long` once per client.

use crate::corpus::{self, Rng};
use crate::imap::{Conn, find_ci, number_after, untagged_number};
use crate::mixed::Mode;
use crate::stats::{Recorder, Report, run_clients};
use crate::target::Target;
use anyhow::{Result, anyhow, bail};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub struct StressOpts {
    pub clients: Vec<usize>,
    pub mode: Mode,
    pub duration: Duration,
    pub users: usize,
    pub user_prefix: String,
    pub seed: u64,
}

pub const OPS: &[&str] = &[
    "cycle",
    "CONNECT",
    "LOGIN",
    "LIST+STATUS",
    "SELECT",
    "FETCH envelopes",
    "FETCH body",
    "STORE flag",
    "STORE \\Deleted+EXPUNGE",
    "APPEND",
    "LOGOUT",
];

pub async fn run(t: &Target, o: &StressOpts, report: &mut Report) -> Result<()> {
    if o.users == 0 {
        bail!("--users must be at least 1");
    }
    let pool: Arc<Vec<Vec<u8>>> = Arc::new(
        (0..64)
            .map(|k| corpus::message(o.seed ^ 0x57E5, 2_000_000 + k))
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
                "stress c={clients} u={} {}",
                o.users,
                if mode == Mode::Session {
                    "login/cycle"
                } else {
                    "persistent"
                }
            );
            let deadline = Instant::now() + o.duration;
            run_clients(&group, clients, OPS, report, |k| {
                let t = t.clone();
                let o = o.clone();
                let pool = pool.clone();
                async move {
                    let mut rec = Recorder::default();
                    let seed = o.seed ^ ((k as u64) << 40) ^ mode as u64;
                    let result = client(&t, &o, mode, deadline, &pool, seed, &mut rec).await;
                    (format!("client {k}"), result, rec)
                }
            })
            .await?;
        }
    }
    Ok(())
}

async fn client(
    t: &Target,
    o: &StressOpts,
    mode: Mode,
    deadline: Instant,
    pool: &[Vec<u8>],
    seed: u64,
    rec: &mut Recorder,
) -> Result<()> {
    let mut rng = Rng::new(seed);
    let mut session: Option<Conn> = None;
    while Instant::now() < deadline {
        let cycle_start = Instant::now();
        let mut conn = match session.take() {
            Some(conn) => conn,
            None => {
                let user = format!("{}{}", o.user_prefix, 1 + rng.below(o.users as u64));
                let at = Instant::now();
                let mut conn = t.connect().await?;
                rec.record("CONNECT", at.elapsed());
                let at = Instant::now();
                conn.login(&user, &t.password).await?;
                rec.record("LOGIN", at.elapsed());
                conn
            }
        };
        cycle(&mut conn, &mut rng, pool, rec).await?;
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
        conn.logout().await?;
    }
    Ok(())
}

async fn cycle(conn: &mut Conn, rng: &mut Rng, pool: &[Vec<u8>], rec: &mut Recorder) -> Result<()> {
    if rng.chance(0.5) {
        let at = Instant::now();
        let mut listed = 0;
        conn.run_pipelined(
            &[
                "LIST \"\" \"*\"".to_string(),
                "STATUS INBOX (MESSAGES UNSEEN UIDNEXT)".to_string(),
            ],
            |_, line| {
                if line.starts_with(b"* LIST ") {
                    listed += 1;
                }
                Ok(())
            },
        )
        .await?;
        rec.record("LIST+STATUS", at.elapsed());
        if listed == 0 {
            bail!("LIST \"\" \"*\" listed nothing");
        }
    }
    let at = Instant::now();
    conn.select("INBOX", false).await?;
    rec.record("SELECT", at.elapsed());
    let exists = conn.state.exists;
    if exists == 0 {
        // Another client on this account emptied it: refill, go on.
        let msg = &pool[rng.below(pool.len() as u64) as usize];
        conn.append("INBOX", "", msg).await?;
        return Ok(());
    }

    // Flags and envelopes of everything (imaptest FETCHes ranges of a
    // ~30-message mailbox), then one body and, half the time, a flag:
    // one round trip, as a pipelining client sends them.
    let seq = 1 + rng.below(u64::from(exists)) as u32;
    let mut commands = vec![
        "FETCH 1:* (UID FLAGS ENVELOPE)".to_string(),
        format!("FETCH {seq} (UID BODY.PEEK[])"),
    ];
    let flag = rng.chance(0.5);
    if flag {
        let which = ["\\Flagged", "\\Answered", "$Label1"][rng.below(3) as usize];
        let sign = if rng.chance(0.5) { '+' } else { '-' };
        commands.push(format!("STORE {seq} {sign}FLAGS ({which})"));
    }
    let mut uids = Vec::new();
    let mut bodies = 0;
    let at = Instant::now();
    let answered = conn
        .run_pipelined(&commands, |i, line| {
            if untagged_number(line, b"FETCH").is_some() {
                match i {
                    // Without ENVELOPE it is another session's flag change,
                    // reported in passing (RFC 3501 §7.4.2).
                    0 if find_ci(line, b"ENVELOPE (").is_some() => {
                        let uid = number_after(line, b"UID ")
                            .ok_or_else(|| anyhow!("FETCH ENVELOPE without UID"))?;
                        uids.push(uid);
                    }
                    1 if find_ci(line, b"BODY[] {").is_some() => bodies += 1,
                    _ => {}
                }
            }
            Ok(())
        })
        .await;
    let elapsed = at.elapsed();
    answered?;
    // One figure each: the pipelined round trip is split evenly.
    let share = elapsed / commands.len() as u32;
    rec.record("FETCH envelopes", share);
    rec.record("FETCH body", share);
    if flag {
        rec.record("STORE flag", share);
    }
    if uids.is_empty() {
        bail!("FETCH 1:* returned nothing in a mailbox of {exists}");
    }
    // No body (bodies == 0) is fine: a client sharing the account may
    // have expunged that message meanwhile.
    let _ = bodies;

    // One out, one in: the mailbox keeps its size.
    let victim = uids[rng.below(uids.len() as u64) as usize];
    let at = Instant::now();
    conn.run_pipelined(
        &[
            format!("UID STORE {victim} +FLAGS.SILENT (\\Deleted)"),
            "EXPUNGE".to_string(),
        ],
        |_, _| Ok(()),
    )
    .await?;
    rec.record("STORE \\Deleted+EXPUNGE", at.elapsed());
    let msg = &pool[rng.below(pool.len() as u64) as usize];
    let at = Instant::now();
    let tagged = conn.append("INBOX", "", msg).await?;
    rec.record("APPEND", at.elapsed());
    rec.add_bytes("APPEND", msg.len() as u64);
    if tagged.append_uid().is_none() && conn.has_cap("UIDPLUS") {
        return Err(anyhow!("APPEND OK without APPENDUID: {}", tagged.text));
    }
    Ok(())
}
