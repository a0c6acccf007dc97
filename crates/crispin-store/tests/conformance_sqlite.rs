//! The store conformance suite (`tests/conformance/mod.rs`) against the
//! embedded backend: each check on a fresh `SqliteStore` in a directory of
//! its own.

mod conformance;

use crispin_store::Store;
use crispin_store::sqlite::SqliteStore;
use std::sync::Arc;

fn fresh() -> conformance::Fresh {
    Box::pin(async {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path()).await.unwrap();
        let store: Arc<dyn Store> = Arc::new(store);
        let guard: conformance::Guard = Box::new(dir);
        (store, guard)
    })
}

conformance::suite!(fresh);
