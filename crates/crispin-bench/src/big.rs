//! `bigmailbox`: single big operations over a mailbox loaded with
//! `load` (same seed and count): SELECT, FETCH over every message,
//! partial bodies, and SEARCH with a known number of hits.

use crate::corpus::{self, BODY_MARKER, FROM_MARKER, SUBJECT_MARKER, TEXT_MARKER};
use crate::imap::{find_ci, number_after, search_hits, untagged_number};
use crate::stats::{Metric, Recorder, Report};
use crate::target::Target;
use anyhow::{Result, anyhow, bail};
use std::time::Instant;

#[derive(Debug, Clone)]
pub struct BigOpts {
    pub user: String,
    pub mailbox: String,
    /// How many corpus messages were loaded (0..count).
    pub count: u64,
    pub partial: u32,
    /// Wrong counts are errors rather than warnings.
    pub strict: bool,
}

pub async fn run(t: &Target, o: &BigOpts, report: &mut Report) -> Result<()> {
    let group = "bigmailbox";
    let mut conn = t.login(&o.user).await?;

    let at = Instant::now();
    let state = conn.select(&o.mailbox, false).await?;
    let mut m = Metric::seconds(group, "SELECT", at.elapsed());
    m.count = Some(u64::from(state.exists));
    report.metrics.push(m);
    let exists = state.exists;
    if u64::from(exists) != o.count {
        let text = format!(
            "{}/{} holds {exists} messages, expected {}",
            o.user, o.mailbox, o.count
        );
        if o.strict {
            bail!(text);
        }
        report.warn(text);
    }

    // Whole-mailbox FETCHes: every message must answer with its items.
    let fetches: [(&str, &str, &[&[u8]]); 3] = [
        (
            "UID FETCH 1:* (UID FLAGS)",
            "UID FETCH 1:* (UID FLAGS)",
            &[b"UID ", b"FLAGS ("],
        ),
        (
            "FETCH 1:* (ENVELOPE BODYSTRUCTURE)",
            "FETCH 1:* (ENVELOPE BODYSTRUCTURE)",
            &[b"ENVELOPE (", b"BODYSTRUCTURE ("],
        ),
        (
            "FETCH 1:* BODY.PEEK[HEADER.FIELDS (FROM SUBJECT DATE)]",
            "FETCH 1:* HEADER.FIELDS",
            &[b"BODY[HEADER.FIELDS (FROM SUBJECT DATE)] {"],
        ),
    ];
    for (command, name, items) in fetches {
        let mut seen = 0u64;
        let at = Instant::now();
        conn.run(command, |line| {
            if untagged_number(line, b"FETCH").is_some() {
                for item in items {
                    if find_ci(line, item).is_none() {
                        bail!(
                            "{command}: a response without {}",
                            String::from_utf8_lossy(item)
                        );
                    }
                }
                seen += 1;
            }
            Ok(())
        })
        .await?;
        let mut m = Metric::seconds(group, name, at.elapsed());
        m.count = Some(seen);
        report.metrics.push(m);
        if seen != u64::from(exists) {
            bail!("{command}: {seen} FETCH responses for {exists} messages");
        }
    }

    // Partial bodies, one command each, spread over the mailbox.
    let n = o.partial.min(exists);
    if n > 0 {
        let mut rec = Recorder::default();
        let start = Instant::now();
        for k in 0..n {
            let seq = 1 + (u64::from(k) * u64::from(exists) / u64::from(n)) as u32;
            let mut got = None;
            let at = Instant::now();
            conn.run(&format!("FETCH {seq} BODY.PEEK[]<0.2048>"), |line| {
                if untagged_number(line, b"FETCH").is_some() {
                    got = number_after(line, b"BODY[]<0> {");
                }
                Ok(())
            })
            .await?;
            rec.record("BODY.PEEK[]<0.2048>", at.elapsed());
            match got {
                Some(len) if len > 0 && len <= 2048 => {}
                Some(len) => bail!("FETCH {seq} BODY.PEEK[]<0.2048> gave {len} bytes"),
                None => bail!("FETCH {seq} BODY.PEEK[]<0.2048>: no BODY[]<0> literal"),
            }
        }
        let mut m = rec.metrics(group, start.elapsed(), &[]);
        for m in &mut m {
            m.name = format!("{n} x FETCH BODY.PEEK[]<0.2048>");
        }
        report.metrics.extend(m);
    }

    // Searches with a known number of hits.
    let expected = corpus::expected_hits(o.count);
    let searches = [
        ("SUBJECT", SUBJECT_MARKER, expected.subject),
        ("FROM", FROM_MARKER, expected.from),
        ("BODY", BODY_MARKER, expected.body),
        ("TEXT", TEXT_MARKER, expected.text),
    ];
    for (key, word, want) in searches {
        let command = format!("UID SEARCH {key} {word}");
        let mut hits = None;
        let at = Instant::now();
        conn.run(&command, |line| {
            if let Some(h) = search_hits(line) {
                *hits.get_or_insert(0u64) += h.len() as u64;
            }
            Ok(())
        })
        .await?;
        let took = at.elapsed();
        let hits = hits.ok_or_else(|| anyhow!("{command}: no * SEARCH response"))?;
        let mut m = Metric::seconds(group, &command, took);
        m.hits = Some(hits);
        m.expected_hits = Some(want);
        report.metrics.push(m);
        if hits != want {
            let text = format!("{command}: {hits} hits, the corpus has {want} matching messages");
            if o.strict {
                bail!(text);
            }
            report.warn(text);
        }
    }
    resync(t, o, &mut conn, report).await?;
    conn.logout().await?;
    Ok(())
}

/// UID → flags (sorted, without \\Recent) from a FETCH line with both.
fn note_flags(line: &[u8], into: &mut std::collections::BTreeMap<u32, Vec<String>>) {
    let text = String::from_utf8_lossy(line);
    let uid = text
        .split("UID ")
        .nth(1)
        .and_then(|r| r.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|n| n.parse::<u32>().ok());
    let flags = text
        .split("FLAGS (")
        .nth(1)
        .and_then(|r| r.split(')').next());
    if let (Some(uid), Some(flags)) = (uid, flags) {
        let mut v: Vec<String> = flags
            .split_ascii_whitespace()
            .filter(|f| !f.eq_ignore_ascii_case("\\Recent"))
            .map(str::to_owned)
            .collect();
        v.sort();
        into.insert(uid, v);
    }
}

/// Changed since the client's cache, for the reconnect rows.
const RESYNC_CHANGED: u32 = 100;

/// A client that reconnects with a current cache, after another client
/// changed the flags of `RESYNC_CHANGED` messages: what a plain client
/// does (`SELECT`, `UID FETCH 1:* (FLAGS)`) against QRESYNC's `SELECT …
/// (QRESYNC (uidvalidity modseq))` (RFC 7162 §3.2.5), bytes and time. The
/// QRESYNC answer must name exactly the changed messages.
async fn resync(
    t: &Target,
    o: &BigOpts,
    conn: &mut crate::imap::Conn,
    report: &mut Report,
) -> Result<()> {
    let exists = conn.state.exists;
    if exists < RESYNC_CHANGED {
        return Ok(());
    }
    let validity = conn.state.uid_validity;
    let mut highest = None;
    conn.run(&format!("STATUS {} (HIGHESTMODSEQ)", o.mailbox), |line| {
        highest = highest.or(crate::imap::number_after_u64(line, b"HIGHESTMODSEQ "));
        Ok(())
    })
    .await?;
    let highest = highest.ok_or_else(|| anyhow!("STATUS gave no HIGHESTMODSEQ"))?;
    // The client's cache: every message's flags as of `highest`.
    let mut cache = std::collections::BTreeMap::new();
    conn.run("UID FETCH 1:* (FLAGS)", |l| {
        note_flags(l, &mut cache);
        Ok(())
    })
    .await?;
    // A keyword of this run's own, so that every pass changes the flags.
    let keyword = format!(
        "$Resync{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis())
    );
    conn.run(
        &format!("STORE 1:{RESYNC_CHANGED} +FLAGS.SILENT ({keyword})"),
        |_| Ok(()),
    )
    .await?;

    // The plain way: every message's flags again.
    let mut full = std::collections::BTreeMap::new();
    let plain = [
        format!("SELECT {}", o.mailbox),
        "UID FETCH 1:* (FLAGS)".into(),
    ];
    let name = "reconnect, 100 changed: SELECT + UID FETCH 1:* (FLAGS)";
    let fetched = reconnect(t, &o.user, None, &plain, &mut full, name, report).await?;
    if fetched != u64::from(exists) {
        bail!("{name}: {fetched} FETCH responses for {exists} messages");
    }

    if !conn.has_cap("QRESYNC") {
        report.warn("no QRESYNC: the QRESYNC reconnect row is left out".into());
        return Ok(());
    }
    let qresync = [format!(
        "SELECT {} (QRESYNC ({validity} {highest}))",
        o.mailbox
    )];
    let name = "reconnect, 100 changed: SELECT (QRESYNC (uidvalidity modseq))";
    let fetched = reconnect(
        t,
        &o.user,
        Some("ENABLE QRESYNC"),
        &qresync,
        &mut cache,
        name,
        report,
    )
    .await?;
    if fetched != u64::from(RESYNC_CHANGED) {
        bail!("{name}: {fetched} FETCH responses for {RESYNC_CHANGED} changed messages");
    }
    // The cache brought up to date by QRESYNC alone is the full state,
    // message by message.
    if cache != full {
        let differ = full
            .iter()
            .filter(|(u, f)| cache.get(*u) != Some(*f))
            .count();
        bail!("{name}: the resynced cache differs from the full state in {differ} messages");
    }
    Ok(())
}

/// A new session (`setup` sent untimed), then `commands` timed: their
/// time and bytes as two rows named `name`; every FETCH's flags go into
/// `flags`. Returns the number of FETCH responses.
async fn reconnect(
    t: &Target,
    user: &str,
    setup: Option<&str>,
    commands: &[String],
    flags: &mut std::collections::BTreeMap<u32, Vec<String>>,
    name: &str,
    report: &mut Report,
) -> Result<u64> {
    let mut c = t.login(user).await?;
    if let Some(setup) = setup {
        c.run(setup, |_| Ok(())).await?;
    }
    let (mut bytes, mut fetched) = (0u64, 0u64);
    let at = Instant::now();
    for command in commands {
        c.run(command, |line| {
            bytes += line.len() as u64 + 2;
            if untagged_number(line, b"FETCH").is_some() {
                fetched += 1;
            }
            note_flags(line, flags);
            Ok(())
        })
        .await?;
    }
    let took = at.elapsed();
    let mut m = Metric::seconds("bigmailbox", name, took);
    m.count = Some(fetched);
    report.metrics.push(m);
    report.metrics.push(Metric::new(
        "bigmailbox",
        &format!("{name}, bytes"),
        bytes as f64,
        "bytes",
        crate::stats::Better::Lower,
    ));
    c.logout().await?;
    Ok(fetched)
}
