//! A namespace deleted under a running operation, in orderings that a free-running race only
//! hits now and then (the conformance suite's `delete_during_traffic` runs them free). Locks
//! taken from a separate connection hold the deletion at the chosen point.

use std::sync::Arc;
use std::time::Duration;

use messagedb_conformance::support::{append_to, message, namespace};
use messagedb_core::{NamespaceId, Store, StoreError, WriteOutcome};
use messagedb_postgres::PostgresStore;
use messagedb_testpg::TestDatabase;
use tokio_postgres::Client;

use crate::support::{open, sql};

/// Namespace `doomed` with one message, and two direct connections: `client` to take locks and
/// `watcher` to see who waits for them.
struct Doomed {
    store: Arc<PostgresStore>,
    ns: NamespaceId,
    key: String,
    client: Client,
    watcher: Client,
    _db: TestDatabase,
}

impl Doomed {
    /// A write to stream `s-1`, in a task of its own.
    fn spawn_write(&self) -> tokio::task::JoinHandle<Result<WriteOutcome, StoreError>> {
        let (store, ns) = (Arc::clone(&self.store), self.ns.clone());
        tokio::spawn(async move { store.write(&ns, message("s-1")).await })
    }
}

async fn doomed(test: &str) -> Option<Doomed> {
    let db = messagedb_testpg::database(test).await?;
    let store = Arc::new(open(&db).await);
    let ns = namespace(&*store, "doomed").await;
    append_to(&*store, &ns, "s-1").await;
    let (client, watcher) = (sql(db.url()).await, sql(db.url()).await);
    let key = client
        .query_one(
            "SELECT key FROM messagedb.namespaces WHERE id = 'doomed'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    Some(Doomed {
        store,
        ns,
        key,
        client,
        watcher,
        _db: db,
    })
}

/// Waits (at most 30 s) until a session waits for a lock while running a statement whose text
/// contains `statement`. (`client` must not be in a transaction: PostgreSQL shows a
/// transaction the activity as it was at its first look.)
async fn until_waiting(client: &Client, statement: &str) {
    let pattern = format!("%{statement}%");
    for _ in 0..3000 {
        let waiting: i64 = client
            .query_one(
                "SELECT count(*) FROM pg_stat_activity \
                 WHERE wait_event_type = 'Lock' AND query LIKE $1 AND pid <> pg_backend_pid()",
                &[&pattern],
            )
            .await
            .unwrap()
            .get(0);
        if waiting > 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("no session came to wait for a lock in a statement like {pattern}");
}

/// A write that waits for the counter-row lock of a deletion in progress finds the row gone once
/// the deletion commits (with the schema, and the append function the write is running), and
/// reports `NamespaceNotFound` like every operation racing a deletion.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_queued_behind_a_deletion_finds_the_namespace_gone() {
    let Some(t) = doomed("a_write_queued_behind_a_deletion_finds_the_namespace_gone").await else {
        return;
    };
    let (store, ns, key, client, watcher) = (&t.store, &t.ns, &t.key, &t.client, &t.watcher);
    // The deletion takes the counter-row lock, then waits to drop the schema.
    client
        .batch_execute(&format!(
            "BEGIN; LOCK TABLE messagedb_ns_{key}.categories IN ACCESS SHARE MODE"
        ))
        .await
        .unwrap();
    let deletion = tokio::spawn({
        let (store, ns) = (Arc::clone(store), ns.clone());
        async move { store.delete_namespace(&ns).await }
    });
    until_waiting(watcher, "DROP SCHEMA").await;
    // The write waits for the counter row inside the append function.
    let write = t.spawn_write();
    until_waiting(watcher, ".append(").await;
    client.batch_execute("COMMIT").await.unwrap();

    assert_eq!(deletion.await.unwrap().expect("the deletion"), 1);
    match write.await.unwrap() {
        Err(StoreError::NamespaceNotFound(gone)) => assert_eq!(&gone, ns),
        other => panic!("a write queued behind a deletion: {other:?}"),
    }
    // The writer task is still good for other namespaces' work and a re-created one.
    let again = namespace(&**store, "doomed").await;
    assert_eq!(append_to(&**store, &again, "s-1").await.position, 0);
}

/// A statement that fails with PostgreSQL's internal error (`XX000`) after its namespace was
/// deleted under it reports `NamespaceNotFound`, not a backend error. PostgreSQL reports a
/// function dropped between a statement's planning and its start as `cache lookup failed for
/// function …`, which a free-running race hits rarely; here the namespace's append function is
/// replaced by one that waits for the test, which deletes the namespace meanwhile, and then
/// fails with that error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_internal_error_from_a_deleted_namespace_is_namespace_not_found() {
    let Some(t) = doomed("an_internal_error_from_a_deleted_namespace_is_namespace_not_found").await
    else {
        return;
    };
    let (store, ns, key, client, watcher) = (&t.store, &t.ns, &t.key, &t.client, &t.watcher);
    client
        .batch_execute(&format!(
            "CREATE OR REPLACE FUNCTION messagedb_ns_{key}.append(text, text[], text[], text[], \
                 uuid[], text[], text[], text[], bigint[], bigint[], text[]) \
             RETURNS TABLE (appended_ord bigint, appended_global_position bigint, \
                 appended_position bigint) \
             LANGUAGE plpgsql AS $f$ BEGIN \
                 PERFORM pg_advisory_xact_lock(4242); \
                 RAISE EXCEPTION USING ERRCODE = 'XX000', \
                     MESSAGE = 'cache lookup failed for function 1'; \
             END $f$; \
             SELECT pg_advisory_lock(4242)"
        ))
        .await
        .unwrap();
    let write = t.spawn_write();
    until_waiting(watcher, ".append(").await;
    assert_eq!(store.delete_namespace(ns).await.expect("the deletion"), 1);
    client
        .batch_execute("SELECT pg_advisory_unlock(4242)")
        .await
        .unwrap();
    match write.await.unwrap() {
        Err(StoreError::NamespaceNotFound(gone)) => assert_eq!(&gone, ns),
        other => panic!("a write failing inside a deleted namespace: {other:?}"),
    }
}
