//! `--db-url postgres://…` through the real binary: two `messagedb` processes on one PostgreSQL
//! database of the throwaway test cluster (SPEC §10.1, §10.5, §4.6; checklist K98).

use messagedb_client::Client;
use serde_json::{json, Value};

use crate::support::{Launch, ADMIN};

async fn call(client: &Client, request: Value) -> Value {
    let raw = client
        .call(&request)
        .await
        .unwrap_or_else(|e| panic!("{request}: {e}"));
    serde_json::from_str(raw.get()).unwrap()
}

/// Both processes start on the same database (migrations and bootstrap run once, under the
/// advisory lock), report the `postgres` backend, and see each other's writes at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_share_one_database() {
    let Some(db) = messagedb_testpg::database("two_processes_share_one_database").await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let args = [
        "--db-url",
        db.url(),
        "--token",
        ADMIN,
        "--db-pool-size",
        "4",
    ];
    let first = Launch::serve(dir.path(), &args)
        .start()
        .expect("first instance");
    let second = Launch::serve(dir.path(), &args)
        .start()
        .expect("second instance");
    let (a, b) = (first.client(Some(ADMIN)), second.client(Some(ADMIN)));

    for client in [&a, &b] {
        let health = call(client, json!(["sys.health"])).await;
        assert_eq!(health["backend"], "postgres");
    }
    assert!(!first.stderr().contains("DEFAULT NAMESPACE TOKEN"));

    let created = call(&a, json!(["ns.create", "shared"])).await;
    let tenant = created["token"].as_str().unwrap().to_owned();
    let (ta, tb) = (first.client(Some(&tenant)), second.client(Some(&tenant)));
    let mut expected = Vec::new();
    for i in 0..6 {
        let via = if i % 2 == 0 { &ta } else { &tb };
        let written = call(
            via,
            json!(["stream.write", "order-1", {"type": "Placed", "data": {"n": i}}]),
        )
        .await;
        assert_eq!(written["position"], i);
        expected.push(written["globalPosition"].as_i64().unwrap());
    }
    for client in [&ta, &tb] {
        let stored = call(client, json!(["stream.get", "order-1"])).await;
        let gpos: Vec<i64> = stored
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m[3].as_i64().unwrap())
            .collect();
        assert_eq!(gpos, expected);
    }
    let listed = call(&b, json!(["ns.list"])).await;
    assert_eq!(listed.as_array().unwrap().len(), 2, "{listed}");

    let exited = second.stop();
    assert_eq!(exited.status.code(), Some(0), "{}", exited.stderr);
    let exited = first.stop();
    assert_eq!(exited.status.code(), Some(0), "{}", exited.stderr);
    assert!(!exited.stderr.contains(ADMIN), "the token leaked");
}
