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
