//! The readers' map of the database file: one per file and process, kept
//! across transactions and connections.
//!
//! SQLite drops a connection's map whenever another connection has
//! committed (it cannot tell whether the file shrank), so after any write
//! the next whole-mailbox read faults every page back in: at 100,000
//! messages, 30,000 faults and 0.37 s of a 0.85 s FETCH. This VFS is
//! SQLite's own unix VFS with only xFetch/xUnfetch replaced: pages come
//! from one shared map whose page tables survive. Which version of a page
//! a reader sees (the WAL's or the file's) is still SQLite's business.
//! Hand-written: no crate offers it.
//!
//! Safe because a map is only read below the size the file had when the
//! reader's snapshot began, and a snapshot never reaches past the file.
//! The store never shrinks its file (no VACUUM, no auto_vacuum); if
//! something did, the next snapshot would see the smaller size.

use rusqlite::ffi;
use std::collections::HashMap;
use std::ffi::{CStr, c_char, c_int, c_void};
use std::sync::{Arc, Mutex, OnceLock, Weak};

pub(crate) const NAME: &str = "crispin-mapped";
const NAME_C: &CStr = c"crispin-mapped";

/// SQLite may read this far past the end of a page it was handed.
const EOF_BUFFER: i64 = 256;
/// The smallest map: address space only; pages come in as they are read.
const MIN_MAP: i64 = if cfg!(test) { 1 << 16 } else { 1 << 30 };
/// Where SQLite's unixFile keeps its descriptor (after three pointers).
/// Checked against the file's name at open: a mismatch leaves the file
/// to SQLite's own map.
const FD_OFFSET: usize = 3 * std::mem::size_of::<usize>();

/// A read-only shared map of `len` bytes of a file (maybe past its end).
struct Region {
    base: *const u8,
    len: i64,
}

// The map is read-only and lives until the last Arc goes.
unsafe impl Send for Region {}
unsafe impl Sync for Region {}

impl Region {
    fn map(fd: c_int, size: i64) -> Option<Region> {
        let len = size.saturating_mul(2).max(MIN_MAP);
        let len = usize::try_from(len).ok()?;
        // SAFETY: a fresh read-only mapping; no memory of ours is touched.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ,
                libc::MAP_SHARED,
                fd,
                0,
            )
        };
        (p != libc::MAP_FAILED).then(|| Region {
            base: p.cast(),
            len: len as i64,
        })
    }
}

impl Drop for Region {
    fn drop(&mut self) {
        // SAFETY: our own mapping; no connection holds a page of it any more
        // (each holds the Arc while it may hand pages out).
        unsafe { libc::munmap(self.base as *mut c_void, self.len as usize) };
    }
}

/// The current map of one file, shared by every reader on it.
struct Shared {
    region: Mutex<Arc<Region>>,
}

fn file_id(fd: c_int) -> Option<(FileId, i64)> {
    // SAFETY: fstat writes only into `st`.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    if unsafe { libc::fstat(fd, &mut st) } != 0 {
        return None;
    }
    Some(((st.st_dev as u64, st.st_ino as u64), st.st_size as i64))
}

fn path_id(path: *const c_char) -> Option<FileId> {
    if path.is_null() {
        return None;
    }
    // SAFETY: SQLite passes a NUL-terminated name; stat writes only `st`.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    if unsafe { libc::stat(path, &mut st) } != 0 {
        return None;
    }
    Some((st.st_dev as u64, st.st_ino as u64))
}

/// A file by device and inode.
type FileId = (u64, u64);

fn shared_for(fd: c_int, id: FileId, size: i64) -> Option<Arc<Shared>> {
    static FILES: OnceLock<Mutex<HashMap<FileId, Weak<Shared>>>> = OnceLock::new();
    let mut files = FILES
        .get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    if let Some(s) = files.get(&id).and_then(Weak::upgrade) {
        return Some(s);
    }
    files.retain(|_, w| w.strong_count() > 0);
    let s = Arc::new(Shared {
        region: Mutex::new(Arc::new(Region::map(fd, size)?)),
    });
    files.insert(id, Arc::downgrade(&s));
    Some(s)
}

/// Ours, stored right after SQLite's unixFile in the same allocation.
struct Extra {
    original: *const ffi::sqlite3_io_methods,
    fd: c_int,
    shared: Arc<Shared>,
    region: Arc<Region>,
    /// Bytes of the file that may be handed out: its size when this
    /// connection's current snapshot began.
    size: i64,
}

impl Extra {
    /// A new snapshot (no page of the old one is out): take the file's
    /// size now, and a bigger map if it outgrew the current one.
    fn refresh(&mut self) {
        let Some((_, size)) = file_id(self.fd) else {
            self.size = 0;
            return;
        };
        let mut current = self.shared.region.lock().unwrap_or_else(|e| e.into_inner());
        if current.len < size + EOF_BUFFER
            && let Some(bigger) = Region::map(self.fd, size)
        {
            *current = Arc::new(bigger);
        }
        self.region = current.clone();
        self.size = size;
    }
}

struct Vfs {
    real: *mut ffi::sqlite3_vfs,
    /// SQLite's unixFile size, rounded up so that `Extra` is aligned.
    real_size: usize,
}
unsafe impl Send for Vfs {}
unsafe impl Sync for Vfs {}

static VFS: OnceLock<Option<Vfs>> = OnceLock::new();

/// Registers the VFS (once); false if it cannot be.
pub(crate) fn register() -> bool {
    VFS.get_or_init(|| {
        // SAFETY: plain SQLite calls; the registered struct is leaked so it
        // outlives every connection.
        unsafe {
            let real = ffi::sqlite3_vfs_find(std::ptr::null());
            if real.is_null() || (*real).xOpen.is_none() {
                return None;
            }
            let align = std::mem::align_of::<Extra>();
            let real_size = usize::try_from((*real).szOsFile)
                .ok()?
                .next_multiple_of(align);
            let mut ours: ffi::sqlite3_vfs = *real;
            ours.szOsFile = c_int::try_from(real_size + std::mem::size_of::<Extra>()).ok()?;
            ours.zName = NAME_C.as_ptr();
            ours.pNext = std::ptr::null_mut();
            ours.xOpen = Some(open);
            let ours = Box::leak(Box::new(ours));
            let vfs = Vfs { real, real_size };
            (ffi::sqlite3_vfs_register(ours, 0) == ffi::SQLITE_OK).then_some(vfs)
        }
    })
    .is_some()
}

/// Our method table: SQLite's own, with the map calls replaced. Built from
/// the first table seen; files with another (not the main database's
/// usual one) keep theirs.
fn methods_for(original: *const ffi::sqlite3_io_methods) -> Option<*const ffi::sqlite3_io_methods> {
    struct Table {
        original: usize,
        ours: ffi::sqlite3_io_methods,
    }
    static TABLE: OnceLock<Table> = OnceLock::new();
    let table = TABLE.get_or_init(|| {
        // SAFETY: SQLite's static method table.
        let mut ours = unsafe { *original };
        ours.xClose = Some(close);
        ours.xFetch = Some(fetch);
        ours.xUnfetch = Some(unfetch);
        Table {
            original: original as usize,
            ours,
        }
    });
    (table.original == original as usize).then_some(&table.ours as *const _)
}

unsafe fn extra(file: *mut ffi::sqlite3_file) -> *mut Extra {
    let real_size = VFS
        .get()
        .and_then(Option::as_ref)
        .map_or(0, |v| v.real_size);
    // SAFETY: the VFS sized every file it opens for an Extra at this offset.
    unsafe { file.cast::<u8>().add(real_size).cast::<Extra>() }
}

unsafe extern "C" fn open(
    _vfs: *mut ffi::sqlite3_vfs,
    name: *const c_char,
    file: *mut ffi::sqlite3_file,
    flags: c_int,
    out_flags: *mut c_int,
) -> c_int {
    let Some(vfs) = VFS.get().and_then(Option::as_ref) else {
        return ffi::SQLITE_ERROR;
    };
    // SAFETY: SQLite's open, on the allocation it sized for us; ours is
    // only installed once it succeeded, on a main database it describes.
    unsafe {
        let Some(real_open) = (*vfs.real).xOpen else {
            return ffi::SQLITE_ERROR;
        };
        let rc = real_open(vfs.real, name, file, flags, out_flags);
        let original = (*file).pMethods;
        if rc != ffi::SQLITE_OK
            || original.is_null()
            || flags & ffi::SQLITE_OPEN_MAIN_DB == 0
            || (*original).iVersion < 3
        {
            return rc;
        }
        let Some(methods) = methods_for(original) else {
            return rc;
        };
        let fd = *file.cast::<u8>().add(FD_OFFSET).cast::<c_int>();
        let Some((id, size)) = file_id(fd) else {
            return rc;
        };
        if path_id(name) != Some(id) {
            return rc;
        }
        let Some(shared) = shared_for(fd, id, size) else {
            return rc;
        };
        let region = shared
            .region
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        extra(file).write(Extra {
            original,
            fd,
            shared,
            region,
            // Nothing is handed out before the first snapshot's refresh.
            size: 0,
        });
        (*file).pMethods = methods;
        rc
    }
}

unsafe extern "C" fn close(file: *mut ffi::sqlite3_file) -> c_int {
    // SAFETY: only files `open` gave our table reach here, with an Extra.
    unsafe {
        let e = extra(file).read();
        (*file).pMethods = e.original;
        let original = e.original;
        drop(e);
        match (*original).xClose {
            Some(f) => f(file),
            None => ffi::SQLITE_OK,
        }
    }
}

unsafe extern "C" fn fetch(
    file: *mut ffi::sqlite3_file,
    offset: ffi::sqlite3_int64,
    amount: c_int,
    out: *mut *mut c_void,
) -> c_int {
    // SAFETY: as in `close`; the pointer stays valid while this
    // connection holds the region, i.e. until its next snapshot.
    unsafe {
        *out = std::ptr::null_mut();
        let e = &*extra(file);
        let end = offset + i64::from(amount) + EOF_BUFFER;
        if offset >= 0 && end <= e.size && end <= e.region.len {
            *out = e.region.base.add(offset as usize) as *mut c_void;
        }
    }
    ffi::SQLITE_OK
}

unsafe extern "C" fn unfetch(
    file: *mut ffi::sqlite3_file,
    _offset: ffi::sqlite3_int64,
    page: *mut c_void,
) -> c_int {
    // A page given back needs nothing; "unmap everything" means a new
    // snapshot is starting with no page out.
    if page.is_null() {
        // SAFETY: as in `close`.
        unsafe { (*extra(file)).refresh() };
    }
    ffi::SQLITE_OK
}

#[cfg(test)]
mod tests {
    use super::*;
    use rusqlite::{Connection, OpenFlags};

    fn minor_faults() -> i64 {
        // SAFETY: getrusage writes only into `u`.
        let mut u: libc::rusage = unsafe { std::mem::zeroed() };
        unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut u) };
        u.ru_minflt
    }

    fn reader(path: &std::path::Path, mapped: bool) -> Connection {
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let c = if mapped {
            assert!(register());
            Connection::open_with_flags_and_vfs(path, flags, NAME).unwrap()
        } else {
            Connection::open_with_flags(path, flags).unwrap()
        };
        c.execute_batch("PRAGMA mmap_size = 1099511627776; PRAGMA cache_size = 0;")
            .unwrap();
        c
    }

    /// A WAL database with one table `t (v BLOB)`, and its writer.
    fn writer(dir: &std::path::Path) -> (std::path::PathBuf, Connection) {
        let path = dir.join("t.db");
        let w = Connection::open(&path).unwrap();
        w.execute_batch("PRAGMA journal_mode = WAL; CREATE TABLE t (v BLOB);")
            .unwrap();
        (path, w)
    }

    fn total(c: &Connection) -> (i64, i64) {
        c.query_row("SELECT count(*), sum(length(v)) FROM t", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap()
    }

    #[test]
    fn reads_what_was_written_as_the_file_grows() {
        let dir = tempfile::tempdir().unwrap();
        let (path, w) = writer(dir.path());
        let r = reader(&path, true);
        let (mut rows, mut bytes) = (0, 0);
        // Past the first map (64 KiB in tests) several times over, with
        // checkpoints moving pages from the WAL into the file.
        for round in 0..40 {
            for k in 0..20 {
                let v = vec![(round * 20 + k) as u8; 900 + k * 37];
                bytes += v.len() as i64;
                w.execute("INSERT INTO t (v) VALUES (?1)", [&v]).unwrap();
                rows += 1;
            }
            if round % 5 == 4 {
                w.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)").unwrap();
            }
            assert_eq!(total(&r), (rows, bytes), "round {round}");
        }
        let first: Vec<u8> = r
            .query_row("SELECT v FROM t WHERE rowid = 1", [], |x| x.get(0))
            .unwrap();
        assert_eq!(first, vec![0u8; 900]);
    }

    #[test]
    fn a_write_elsewhere_does_not_cost_the_pages_again() {
        let dir = tempfile::tempdir().unwrap();
        let (path, w) = writer(dir.path());
        for k in 0..8000 {
            w.execute("INSERT INTO t (v) VALUES (?1)", [&vec![k as u8; 2000]])
                .unwrap();
        }
        w.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)").unwrap();
        // Faults of a full read after another connection wrote, per VFS.
        let refaults = |mapped: bool| {
            let r = reader(&path, mapped);
            total(&r);
            w.execute("INSERT INTO t (v) VALUES (x'00')", []).unwrap();
            let before = minor_faults();
            total(&r);
            minor_faults() - before
        };
        let plain = refaults(false);
        let ours = refaults(true);
        // About 4,000 pages, which SQLite's own map faults in again (the
        // kernel maps up to 16 a fault); the shared map keeps them.
        assert!(
            plain > 4000 / 32,
            "SQLite's map refaulted only {plain} times"
        );
        assert!(
            ours < plain / 8,
            "the shared map refaulted {ours} times ({plain})"
        );
    }
}
