//! The store conformance suite (`messagedb-conformance`) against both embedded modes.

use std::sync::Arc;

use messagedb_conformance::Fixture;
use messagedb_core::Store;
use messagedb_sqlite::SqliteStore;

mod in_memory {
    use super::*;

    messagedb_conformance::store_conformance_tests!(async {
        Arc::new(SqliteStore::open_in_memory().expect("open in memory")) as Arc<dyn Store>
    });
}

mod on_disk {
    use super::*;

    messagedb_conformance::store_conformance_tests!(async {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let store = SqliteStore::open(dir.path()).expect("open on disk");
        Fixture::new(Arc::new(store)).keeping(dir)
    });
}

/// The whole suite again with two open slots and constant eviction: closing and reopening a
/// namespace's storage changes nothing a client can observe (SPEC §16.3).
mod on_disk_with_two_slots {
    use super::*;
    use messagedb_sqlite::Limits;

    messagedb_conformance::store_conformance_tests!(async {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let limits = Limits {
            max_open_namespaces: 2,
            writer_threads: 2,
            reader_threads: 4,
        };
        let store = SqliteStore::open_with(dir.path(), limits).expect("open on disk");
        Fixture::new(Arc::new(store)).keeping(dir)
    });
}
