//! Memory of a server: the resident set (VmRSS) and proportional set
//! (Pss) of a process and all its descendants, from /proc. For a server
//! made of many processes (Dovecot), RSS counts shared pages once per
//! process; PSS divides them among the processes that share them.

use anyhow::{Context, Result, bail};
use std::collections::{BTreeSet, HashMap};

#[derive(Debug, Clone, Copy, Default)]
pub struct Memory {
    pub processes: usize,
    pub rss_kib: u64,
    pub pss_kib: u64,
}

/// Where the server's processes come from.
#[derive(Debug, Clone)]
pub enum Source {
    Pid(u32),
    /// A shell command that prints PIDs; their descendants count too.
    Command(String),
}

impl Source {
    pub fn measure(&self) -> Result<Memory> {
        let roots = match self {
            Source::Pid(pid) => vec![*pid],
            Source::Command(cmd) => {
                let out = std::process::Command::new("sh")
                    .arg("-c")
                    .arg(cmd)
                    .output()
                    .with_context(|| format!("running {cmd}"))?;
                String::from_utf8_lossy(&out.stdout)
                    .split_ascii_whitespace()
                    .filter_map(|w| w.parse().ok())
                    .collect()
            }
        };
        if roots.is_empty() {
            bail!("no server process to measure");
        }
        let pids = with_descendants(&roots)?;
        let mut mem = Memory::default();
        for pid in pids {
            // A process may exit while we look: skip it.
            let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else {
                continue;
            };
            mem.processes += 1;
            mem.rss_kib += field_kib(&status, "VmRSS:").unwrap_or(0);
            if let Ok(rollup) = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")) {
                mem.pss_kib += field_kib(&rollup, "Pss:").unwrap_or(0);
            }
        }
        Ok(mem)
    }
}

fn field_kib(text: &str, key: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with(key))?;
    line[key.len()..]
        .split_ascii_whitespace()
        .next()?
        .parse()
        .ok()
}

/// `roots` and every process whose parent chain leads to one of them.
pub fn with_descendants(roots: &[u32]) -> Result<BTreeSet<u32>> {
    let mut children: HashMap<u32, Vec<u32>> = HashMap::new();
    for entry in std::fs::read_dir("/proc").context("reading /proc")? {
        let Ok(entry) = entry else { continue };
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // The command name may hold spaces and parentheses: fields start
        // after the last ')'.
        let Some(after) = stat.rfind(')').map(|at| &stat[at + 1..]) else {
            continue;
        };
        let mut fields = after.split_ascii_whitespace();
        let _state = fields.next();
        if let Some(ppid) = fields.next().and_then(|p| p.parse::<u32>().ok()) {
            children.entry(ppid).or_default().push(pid);
        }
    }
    let mut seen = BTreeSet::new();
    let mut todo: Vec<u32> = roots.to_vec();
    while let Some(pid) = todo.pop() {
        if seen.insert(pid)
            && let Some(kids) = children.get(&pid)
        {
            todo.extend(kids);
        }
    }
    Ok(seen)
}

/// Raises the soft limit on open files to the hard limit; returns it.
pub fn raise_nofile() -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read or write the struct we pass.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return 0;
        }
        if lim.rlim_cur < lim.rlim_max {
            let want = libc::rlimit {
                rlim_cur: lim.rlim_max,
                rlim_max: lim.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &want) == 0 {
                lim.rlim_cur = lim.rlim_max;
            }
        }
    }
    #[allow(clippy::unnecessary_cast)] // rlim_t is not u64 everywhere
    let current = lim.rlim_cur as u64;
    current
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_process() {
        let me = std::process::id();
        let mem = Source::Pid(me).measure().unwrap();
        assert!(mem.processes >= 1);
        assert!(mem.rss_kib > 0);
        assert!(with_descendants(&[me]).unwrap().contains(&me));
    }
}
