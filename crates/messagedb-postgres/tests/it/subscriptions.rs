//! Subscriptions across instances (SPEC §8.7, §15 K99, L115): a `/subscribe` on one instance hears
//! the writes made through another exactly once and in order, because each instance's notifier is
//! fed only by its `LISTEN` connection; and deleting a namespace through one instance ends its
//! subscriptions on the others.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::servers::{rpc, rpc_as, Instance, T};
use crate::subscription::Subscription;

/// K99: an `all=true` subscriber on instance A receives every write made through instance B,
/// exactly once and in global-position order, including writes made concurrently.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_on_one_instance_hears_writes_made_through_another() {
    const WRITES: usize = 300;
    let Some(db) = messagedb_testpg::database("a_subscriber_hears_writes_through_another").await
    else {
        return;
    };
    let (a, b) = (Instance::start(&db).await, Instance::start(&db).await);
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let mut subscription = Subscription::open(&client, &a, &format!("all=true&token={T}")).await;

    let writers = (0..6).map(|w| {
        let (client, b) = (client.clone(), &b);
        async move {
            let mut written = Vec::new();
            for n in (w..WRITES).step_by(6) {
                let (status, body) = rpc(
                    &client,
                    b,
                    json!(["stream.write", format!("far{}-{}", n % 2, n % 7), {"type": "T", "data": {}}]),
                )
                .await;
                assert_eq!(status, 200, "{body}");
                written.push((
                    body["globalPosition"].as_i64().unwrap(),
                    body["position"].as_i64().unwrap(),
                ));
            }
            written
        }
    });
    let mut written: Vec<(i64, i64)> = futures::future::join_all(writers)
        .await
        .into_iter()
        .flatten()
        .collect();
    written.sort();
    let mut heard = Vec::with_capacity(WRITES);
    for _ in 0..WRITES {
        let poke = subscription.poke().await;
        heard.push((
            poke["globalPosition"].as_i64().unwrap(),
            poke["position"].as_i64().unwrap(),
        ));
    }
    assert_eq!(heard, written, "every write through B, once, in gpos order");
}

/// L115 across instances: deleting a namespace through A ends its subscriptions on B within 1 s.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_through_one_instance_ends_subscriptions_on_another() {
    let Some(db) = messagedb_testpg::database("deleting_ends_subscriptions_elsewhere").await else {
        return;
    };
    let (a, b) = (Instance::start(&db).await, Instance::start(&db).await);
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let (_, created) = rpc(&client, &a, json!(["ns.create", "doomed"])).await;
    let token = created["token"].as_str().unwrap().to_owned();
    let mut subscription =
        Subscription::open(&client, &b, &format!("all=true&token={token}")).await;
    let (status, _) = rpc_as(
        &client,
        &a,
        &token,
        json!(["stream.write", "d-1", {"type": "T", "data": {}}]),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(subscription.poke().await["globalPosition"], 1);

    let (status, _) = rpc(&client, &a, json!(["ns.delete", "doomed"])).await;
    assert_eq!(status, 200);
    let deleted = Instant::now();
    loop {
        match subscription.next().await {
            None => break,
            Some(block) => assert_eq!(block, ": keepalive", "nothing but the end is expected"),
        }
    }
    assert!(
        deleted.elapsed() < Duration::from_secs(1),
        "the subscription on the other instance ended {:?} after the delete",
        deleted.elapsed()
    );
}

/// §8.7: when an instance's `LISTEN` connection is lost, it reconnects and its subscriptions catch
/// up from the store: writes committed while nobody listened are still poked, once, in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscriptions_catch_up_after_the_listen_connection_is_lost() {
    const BEFORE: i64 = 5;
    const AFTER: i64 = 60;
    let Some(db) = messagedb_testpg::database("subscriptions_catch_up_after_listen_loss").await
    else {
        return;
    };
    let (a, b) = (Instance::start(&db).await, Instance::start(&db).await);
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let mut subscription = Subscription::open(&client, &a, &format!("all=true&token={T}")).await;
    let write = |n: i64| {
        let client = client.clone();
        let b = &b;
        async move {
            let (status, body) = rpc(
                &client,
                b,
                json!(["stream.write", format!("gap-{}", n % 3), {"type": "T", "data": {}}]),
            )
            .await;
            assert_eq!(status, 200, "{body}");
        }
    };
    for n in 0..BEFORE {
        write(n).await;
    }
    for gpos in 1..=BEFORE {
        assert_eq!(subscription.poke().await["globalPosition"], gpos);
    }

    // Cut every instance's LISTEN connection, then write at once: the first of these commits
    // land while instance A is still reconnecting.
    let (admin, connection) = tokio_postgres::connect(db.url(), tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    let cut: i64 = admin
        .query_one(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
             WHERE datname = current_database() AND query = 'LISTEN messagedb'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(cut, 2, "one LISTEN connection per instance");
    for n in BEFORE..BEFORE + AFTER {
        write(n).await;
    }
    let mut heard = Vec::new();
    while heard.len() < AFTER as usize {
        heard.push(
            subscription.poke().await["globalPosition"]
                .as_i64()
                .unwrap(),
        );
    }
    assert_eq!(
        heard,
        (BEFORE + 1..=BEFORE + AFTER).collect::<Vec<_>>(),
        "every write, once, in order, across the reconnection"
    );
}
