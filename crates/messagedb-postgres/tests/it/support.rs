//! Opening stores on fresh test databases.

use messagedb_conformance::Fixture;
use messagedb_postgres::{PostgresOptions, PostgresStore};
use messagedb_testpg::TestDatabase;

/// A small pool: tests run two at a time against one cluster.
pub const TEST_POOL_SIZE: usize = 4;

pub async fn open(db: &TestDatabase) -> PostgresStore {
    open_with(db, PostgresOptions::DEFAULT_WRITER_IDLE).await
}

/// [`open`] with writer tasks that end after `writer_idle` without writes.
pub async fn open_with(db: &TestDatabase, writer_idle: std::time::Duration) -> PostgresStore {
    let options = PostgresOptions {
        pool_size: TEST_POOL_SIZE,
        writer_idle,
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

/// A conformance fixture whose writer tasks end after 1 ms without writes, so that nearly every
/// write finds its namespace's task gone and starts a new one (SPEC §16.3).
pub async fn fixture_with_short_lived_writers() -> Option<Fixture> {
    let db = messagedb_testpg::database("a PostgreSQL conformance case").await?;
    let store = open_with(&db, std::time::Duration::from_millis(1)).await;
    Some(Fixture::new(std::sync::Arc::new(store)).keeping(db))
}

/// A direct connection to `url`, outside any store.
pub async fn sql(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .expect("a direct connection");
    tokio::spawn(connection);
    client
}
