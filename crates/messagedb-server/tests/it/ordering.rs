//! Checklist K95–K96: global positions under concurrency.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::app::{on_both_backends, spawn_app, T};

on_both_backends! {
/// K95: 100 concurrent writes to 100 streams get 100 distinct, gapless global positions.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writes_get_distinct_gapless_gpos() {
    let app = spawn_app().await;
    let calls = (0..100).map(|i| {
        app.rpc_as(
            T,
            json!(["stream.write", format!("k95-{i}"), {"type": "T", "data": {}}]),
        )
    });
    let gpos: HashSet<i64> = futures::future::join_all(calls)
        .await
        .iter()
        .map(|a| {
            assert_eq!(a.status, 200, "{}", a.body);
            a.json()["globalPosition"].as_i64().unwrap()
        })
        .collect();
    assert_eq!(gpos, (1..=100).collect());
}

/// K96: a reader polling `category.get("")` while 8 writers run never sees a gpos below one it
/// has already seen. Runs for about 2 s.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reader_never_sees_a_gpos_go_backwards() {
    let app = spawn_app().await;
    let until = Instant::now() + Duration::from_secs(2);
    let writers = (0..8).map(|w| {
        let app = &app;
        async move {
            let mut written = 0;
            while Instant::now() < until {
                let a = app.rpc_as(T, json!(["stream.write", format!("cat{w}-{}", written % 5), {"type": "T", "data": {}}])).await;
                assert_eq!(a.status, 200, "{}", a.body);
                written += 1;
            }
            written
        }
    });
    let reader = async {
        let mut seen = HashSet::new();
        let mut max_seen = 0;
        let mut polls = 0;
        while Instant::now() < until {
            let page = app
                .call(json!(["category.get", "", {"batchSize": -1}]))
                .await;
            let gpos: Vec<i64> = page
                .as_array()
                .unwrap()
                .iter()
                .map(|m| m[4].as_i64().unwrap())
                .collect();
            assert!(
                gpos.windows(2).all(|w| w[0] < w[1]),
                "ascending within a page"
            );
            for g in gpos {
                if seen.insert(g) {
                    assert!(g > max_seen, "new gpos {g} appeared below {max_seen}");
                    max_seen = g;
                }
            }
            polls += 1;
        }
        (polls, max_seen)
    };
    let (written, (polls, _)) = tokio::join!(futures::future::join_all(writers), reader);
    let total: i64 = written.iter().sum();
    assert!(total > 0 && polls > 0);
    let all = app
        .call(json!(["category.get", "", {"batchSize": -1}]))
        .await;
    let gpos: Vec<i64> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m[4].as_i64().unwrap())
        .collect();
    assert_eq!(
        gpos,
        (1..=total).collect::<Vec<_>>(),
        "no gaps on the embedded backend"
    );
}
}
