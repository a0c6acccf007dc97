//! The store conformance suite (`tests/conformance/mod.rs`) against the
//! embedded backend: each check on a fresh store, opened as every front
//! end opens one ([`crispin_store::open`]), in a directory of its own.

mod conformance;

use crispin_store::{Backend, OpenMode, StoreConfig};

fn fresh() -> conformance::Fresh {
    Box::pin(async {
        let dir = tempfile::tempdir().unwrap();
        let config = StoreConfig {
            backend: Backend::Sqlite,
            data_dir: dir.path().to_path_buf(),
        };
        let store = crispin_store::open(&config, OpenMode::CreateIfMissing)
            .await
            .unwrap();
        let guard: conformance::Guard = Box::new(dir);
        (store, guard)
    })
}

conformance::suite!(fresh);
