//! Checking a password against its argon2id hash, cheaply when repeated.
//!
//! - **Work memory** (19 MiB a hash at the default cost) comes from a
//!   small pool of anonymous maps, one per hash that may run at once, and
//!   maps idle for [`RELEASE_AFTER`] are unmapped. Left to malloc, freed
//!   argon2 buffers stay resident: glibc raises its mmap threshold after
//!   the first free, so later buffers come from arenas that are never
//!   given back (a server that served 200 parallel logins kept ~450 MB).
//! - **A cache of recent successes** (what Dovecot calls the auth cache):
//!   after argon2 accepts a password, an HMAC of (account, stored hash,
//!   password) under a key that lives only in this process is kept for
//!   `auth.cache_secs`. A login that presents the same password for the
//!   same stored hash is then a keyed hash and a comparison: microseconds
//!   instead of ~13 ms of CPU. The password itself is never kept; a
//!   changed password (another stored hash) or a deleted account misses;
//!   a failed password is never cached.

use argon2::{Algorithm, Argon2, Block, Params, PasswordHash, Version};
use hmac::Mac;
use memmap2::MmapMut;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use subtle::ConstantTimeEq;

/// Work memory unused this long is returned to the system.
pub const RELEASE_AFTER: Duration = Duration::from_secs(10);

/// Cached successes kept at most (beyond it, expired ones go, then all).
const MAX_CACHED: usize = 100_000;

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Reusable argon2 work memory.
#[derive(Default)]
pub struct WorkMemory {
    idle: Mutex<Vec<(MmapMut, Instant)>>,
}

/// One buffer of argon2 blocks, on loan from the pool.
struct Loan<'a> {
    pool: &'a WorkMemory,
    map: Option<MmapMut>,
    blocks: usize,
}

impl AsMut<[Block]> for Loan<'_> {
    fn as_mut(&mut self) -> &mut [Block] {
        match &mut self.map {
            // SAFETY: the map is page-aligned (Block needs 64 bytes), at
            // least `blocks * size_of::<Block>()` long (checked in
            // `borrow`), zero-filled or holding earlier blocks, and a
            // Block is plain u64 words, valid for any bytes. The slice
            // borrows `self` mutably, so nothing else touches the map.
            Some(map) => unsafe {
                std::slice::from_raw_parts_mut(map.as_mut_ptr().cast::<Block>(), self.blocks)
            },
            None => &mut [],
        }
    }
}

impl Drop for Loan<'_> {
    fn drop(&mut self) {
        if let Some(map) = self.map.take() {
            lock(&self.pool.idle).push((map, Instant::now()));
        }
    }
}

impl WorkMemory {
    fn borrow(&self, blocks: usize) -> std::io::Result<Loan<'_>> {
        let bytes = blocks * std::mem::size_of::<Block>();
        let reused = {
            let mut idle = lock(&self.idle);
            let fit = idle.iter().position(|(m, _)| m.len() >= bytes);
            fit.map(|i| idle.swap_remove(i).0)
        };
        let map = match reused {
            Some(m) => m,
            None => MmapMut::map_anon(bytes.max(1))?,
        };
        Ok(Loan {
            pool: self,
            map: Some(map),
            blocks,
        })
    }

    /// Unmaps buffers idle for `after`; returns how many bytes went back.
    pub fn release_idle(&self, after: Duration) -> usize {
        let mut idle = lock(&self.idle);
        let mut freed = 0;
        idle.retain(|(m, since)| {
            let keep = since.elapsed() < after;
            if !keep {
                freed += m.len();
            }
            keep
        });
        freed
    }

    /// Bytes held by idle buffers.
    pub fn held(&self) -> usize {
        lock(&self.idle).iter().map(|(m, _)| m.len()).sum()
    }
}

/// Whether `password` matches the PHC-format argon2 `hash` (a hash that
/// does not parse never matches).
pub fn verify(memory: &WorkMemory, hash: &str, password: &[u8]) -> bool {
    let Ok(parsed) = PasswordHash::new(hash) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (&parsed.salt, &parsed.hash) else {
        return false;
    };
    let Ok(algorithm) = Algorithm::try_from(parsed.algorithm.as_str()) else {
        return false;
    };
    let version = match parsed.version.map(Version::try_from) {
        None => Version::default(),
        Some(Ok(v)) => v,
        Some(Err(_)) => return false,
    };
    let Ok(params) = Params::try_from(&parsed) else {
        return false;
    };
    let blocks = params.block_count();
    let argon = Argon2::new(algorithm, version, params);
    let Ok(mut memory) = memory.borrow(blocks) else {
        return false;
    };
    let expected = expected.as_bytes();
    let mut out = vec![0u8; expected.len()];
    let computed = argon
        .hash_password_into_with_memory(password, salt, &mut out, &mut memory)
        .is_ok();
    computed && bool::from(out.ct_eq(expected))
}

/// Recent successful password checks (see the module doc).
pub struct LoginCache {
    key: [u8; 32],
    entries: Mutex<HashMap<String, ([u8; 32], Instant)>>,
}

impl LoginCache {
    pub fn new() -> LoginCache {
        use rand::RngExt;
        LoginCache {
            key: rand::rng().random(),
            entries: Mutex::default(),
        }
    }

    fn tag(&self, account: &str, stored_hash: &str, password: &[u8]) -> [u8; 32] {
        let mut mac = <hmac::Hmac<sha2::Sha256> as Mac>::new_from_slice(&self.key)
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        // Lengths first, so that no two inputs run together the same way.
        for part in [account.as_bytes(), stored_hash.as_bytes(), password] {
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part);
        }
        mac.finalize().into_bytes().into()
    }

    /// Whether `password` was accepted for this account and stored hash
    /// within `ttl`.
    pub fn hit(&self, account: &str, stored_hash: &str, password: &[u8], ttl: Duration) -> bool {
        if ttl.is_zero() {
            return false;
        }
        let tag = self.tag(account, stored_hash, password);
        lock(&self.entries)
            .get(account)
            .is_some_and(|(t, at)| at.elapsed() < ttl && bool::from(t.ct_eq(&tag)))
    }

    /// After argon2 accepted `password`.
    pub fn remember(&self, account: &str, stored_hash: &str, password: &[u8], ttl: Duration) {
        if ttl.is_zero() {
            return;
        }
        let tag = self.tag(account, stored_hash, password);
        let mut entries = lock(&self.entries);
        if entries.len() >= MAX_CACHED && !entries.contains_key(account) {
            entries.retain(|_, (_, at)| at.elapsed() < ttl);
            if entries.len() >= MAX_CACHED {
                entries.clear();
            }
        }
        entries.insert(account.to_string(), (tag, Instant::now()));
    }

    /// Forgets the account's cached success (`crispin user unlock`).
    pub fn forget(&self, account: &str) {
        lock(&self.entries).remove(account);
    }

    pub fn len(&self) -> usize {
        lock(&self.entries).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Default for LoginCache {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use argon2::PasswordHasher;

    fn hash(password: &str, m_kib: u32) -> String {
        let params = Params::new(m_kib, 1, 1, None).unwrap();
        Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
            .hash_password(password.as_bytes())
            .unwrap()
            .to_string()
    }

    #[test]
    fn verifies_like_the_crate_and_reuses_its_memory() {
        use argon2::PasswordVerifier;
        let memory = WorkMemory::default();
        let h = hash("right", 256);
        assert!(verify(&memory, &h, b"right"));
        assert!(!verify(&memory, &h, b"wrong"));
        assert!(!verify(&memory, "not a hash", b"right"));
        assert!(!verify(
            &memory,
            &h.replace("argon2id", "argon2x"),
            b"right"
        ));
        // The crate's own verifier agrees.
        assert!(
            Argon2::default()
                .verify_password(b"right", h.as_str())
                .is_ok()
        );
        // One buffer served every check, and goes back when idle.
        assert_eq!(memory.held(), 256 * 1024);
        assert_eq!(memory.release_idle(Duration::from_secs(3600)), 0);
        assert_eq!(memory.release_idle(Duration::ZERO), 256 * 1024);
        assert_eq!(memory.held(), 0);
        // A bigger cost gets a bigger buffer; the old one is not enough.
        let big = hash("x", 1024);
        assert!(verify(&memory, &h, b"right"));
        assert!(verify(&memory, &big, b"x"));
        assert_eq!(memory.held(), 256 * 1024 + 1024 * 1024);
    }

    #[test]
    fn the_cache_holds_successes_for_the_stored_hash_only() {
        let cache = LoginCache::new();
        let ttl = Duration::from_secs(60);
        assert!(!cache.hit("alice", "h1", b"pw", ttl));
        cache.remember("alice", "h1", b"pw", ttl);
        assert!(cache.hit("alice", "h1", b"pw", ttl));
        assert!(!cache.hit("alice", "h1", b"other", ttl), "another password");
        assert!(!cache.hit("alice", "h2", b"pw", ttl), "a changed password");
        assert!(!cache.hit("bob", "h1", b"pw", ttl), "another account");
        assert!(!cache.hit("alice", "h1", b"pw", Duration::ZERO), "disabled");
        std::thread::sleep(Duration::from_millis(20));
        assert!(
            !cache.hit("alice", "h1", b"pw", Duration::from_millis(10)),
            "expired"
        );
        cache.forget("alice");
        assert!(!cache.hit("alice", "h1", b"pw", ttl));
        // Nothing of the password is kept.
        cache.remember("alice", "h1", b"s3cr3t-password", ttl);
        let entries = lock(&cache.entries);
        let (tag, _) = entries.get("alice").unwrap();
        assert!(!tag.windows(6).any(|w| w == b"s3cr3t"));
    }
}
