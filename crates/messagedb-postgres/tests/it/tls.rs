//! `sslmode` from the URL (SPEC §10.5): TLS through rustls when the URL asks for it, a plain
//! fallback for `prefer`, and a clear failure for `require` against a server without TLS.

use messagedb_conformance::support::{append_to, namespace, read_category, whole_category};
use messagedb_postgres::{PostgresOptions, PostgresStore};
use messagedb_testpg::{Cluster, Durability};
use tokio_postgres::NoTls;

/// How many of this database's connections from messagedb use TLS, and how many in all.
async fn tls_connections(url: &str) -> (i64, i64) {
    let (client, connection) = tokio_postgres::connect(&format!("{url}?sslmode=disable"), NoTls)
        .await
        .expect("a plain admin connection");
    tokio::spawn(connection);
    let row = client
        .query_one(
            "SELECT count(*) FILTER (WHERE s.ssl), count(*) \
             FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid) \
             WHERE a.datname = current_database() AND a.application_name = 'messagedb'",
            &[],
        )
        .await
        .unwrap();
    (row.get(0), row.get(1))
}

async fn open(url: String) -> Result<PostgresStore, messagedb_postgres::OpenError> {
    PostgresStore::open(PostgresOptions {
        pool_size: 2,
        ..PostgresOptions::new(url)
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sslmode_require_and_prefer_use_tls_when_offered() {
    if messagedb_testpg::skipped("sslmode_require_and_prefer_use_tls_when_offered") {
        return;
    }
    let cluster = tokio::task::spawn_blocking(|| Cluster::start_with_tls(Durability::Relaxed))
        .await
        .unwrap()
        .unwrap_or_else(|e| panic!("cannot start a PostgreSQL cluster with TLS: {e}"));
    for mode in ["require", "prefer"] {
        let db = cluster.create_database().await;
        let store = open(format!("{}?sslmode={mode}", db.url()))
            .await
            .unwrap_or_else(|e| panic!("sslmode={mode}: {e}"));
        let ns = namespace(&store, "secure").await;
        append_to(&store, &ns, "s-1").await;
        assert_eq!(
            read_category(&store, &ns, whole_category("")).await.len(),
            1
        );
        let (encrypted, all) = tls_connections(db.url()).await;
        assert!(all >= 2, "the pool and the LISTEN connection: {all}");
        assert_eq!(encrypted, all, "sslmode={mode}: every connection uses TLS");
        messagedb_core::Store::close(&store).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sslmode_prefer_falls_back_and_require_refuses_a_plain_server() {
    let Some(db) = messagedb_testpg::database("sslmode_prefer_falls_back").await else {
        return;
    };
    let store = open(format!("{}?sslmode=prefer", db.url()))
        .await
        .expect("prefer");
    let (encrypted, all) = tls_connections(db.url()).await;
    assert!(all >= 1 && encrypted == 0, "{encrypted} of {all}");
    messagedb_core::Store::close(&store).await;
    let refused = open(format!("{}?sslmode=require", db.url())).await;
    let error = refused
        .expect_err("require without TLS on the server fails")
        .to_string();
    assert!(
        error.starts_with("cannot open the PostgreSQL store"),
        "{error}"
    );
}
