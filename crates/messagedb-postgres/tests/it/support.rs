//! Opening stores on fresh test databases.

use messagedb_conformance::Fixture;
use messagedb_postgres::{PostgresOptions, PostgresStore};
use messagedb_testpg::TestDatabase;

/// A small pool: tests run two at a time against one cluster.
pub const TEST_POOL_SIZE: usize = 4;

pub async fn open(db: &TestDatabase) -> PostgresStore {
    let options = PostgresOptions {
        pool_size: TEST_POOL_SIZE,
        ..PostgresOptions::new(db.url())
    };
    PostgresStore::open(options)
        .await
        .unwrap_or_else(|e| panic!("opening the store on {}: {e}", db.url()))
}

/// A conformance fixture on a fresh database, or `None` when PostgreSQL tests are skipped.
pub async fn fixture() -> Option<Fixture> {
    let db = messagedb_testpg::database("a PostgreSQL conformance case").await?;
    let store = open(&db).await;
    Some(Fixture::new(std::sync::Arc::new(store)).keeping(db))
}
