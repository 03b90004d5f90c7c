//! PostgreSQL going away while messagedb serves (SPEC §10.5, §8.7): requests fail with
//! `BACKEND_ERROR` during the outage instead of hanging, succeed again afterwards without a
//! restart of messagedb, the `LISTEN` connection comes back (and subscriptions are told to
//! catch up), and no acknowledged write is lost.
//!
//! This test owns its cluster, with PostgreSQL's default durability settings, because it stops
//! and restarts it.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use messagedb_core::{CommitListener, Committed, NamespaceId, Store};
use messagedb_testpg::{Cluster, Durability};
use serde_json::json;
use tokio::sync::watch;

use crate::servers::{rpc, Instance};

/// Records what the store reports, so the test can wait for it.
#[derive(Default)]
struct Heard {
    commits: Mutex<Vec<i64>>,
    resyncs: AtomicUsize,
    changed: Option<watch::Sender<u64>>,
}

impl Heard {
    fn new() -> Arc<Heard> {
        Arc::new(Heard {
            changed: Some(watch::channel(0).0),
            ..Heard::default()
        })
    }

    fn bump(&self) {
        if let Some(changed) = &self.changed {
            changed.send_modify(|v| *v += 1);
        }
    }

    /// Waits (at most 30 s) until `condition` holds.
    async fn until(&self, what: &str, condition: impl Fn(&Heard) -> bool) {
        let mut changed = self.changed.as_ref().unwrap().subscribe();
        let waited = tokio::time::timeout(Duration::from_secs(30), async {
            while !condition(self) {
                if changed.changed().await.is_err() {
                    return;
                }
            }
        })
        .await;
        assert!(waited.is_ok(), "timed out waiting for {what}");
    }
}

impl CommitListener for Heard {
    fn committed(&self, _ns: &NamespaceId, messages: &[Committed]) {
        self.commits
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend(messages.iter().map(|c| c.global_position));
        self.bump();
    }

    fn deleted(&self, _ns: &NamespaceId, _deletion: &messagedb_core::Deletion) {}

    fn ended(&self, _ns: &NamespaceId) {}

    fn resync(&self) {
        self.resyncs.fetch_add(1, Ordering::SeqCst);
        self.bump();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_survive_a_database_restart_and_the_server_recovers() {
    if messagedb_testpg::skipped("writes_survive_a_database_restart_and_the_server_recovers") {
        return;
    }
    let cluster = tokio::task::spawn_blocking(|| Cluster::start(Durability::Default))
        .await
        .unwrap()
        .unwrap_or_else(|e| panic!("cannot start a private PostgreSQL cluster: {e}"));
    let cluster = Arc::new(cluster);
    let db = cluster.create_database().await;
    let server = Arc::new(Instance::start(&db).await);
    // A second store on the same database, whose commit listener the test watches.
    let watched = crate::support::open(&db).await;
    let heard = Heard::new();
    watched.set_commit_listener(Arc::clone(&heard) as Arc<dyn CommitListener>);
    let client = reqwest::Client::builder().no_proxy().build().unwrap();

    // A steady write load with supplied ids; only 200s count as acknowledged.
    let stop = Arc::new(AtomicBool::new(false));
    let acknowledged = Arc::new(Mutex::new(Vec::<String>::new()));
    let acks = Arc::new(watch::channel(0usize).0);
    let failed = Arc::new(AtomicUsize::new(0));
    let load = (0..4).map(|writer| {
        let (server, client) = (Arc::clone(&server), client.clone());
        let (stop, acknowledged, failed, acks) = (
            Arc::clone(&stop),
            Arc::clone(&acknowledged),
            Arc::clone(&failed),
            Arc::clone(&acks),
        );
        tokio::spawn(async move {
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                let id = uuid::Uuid::now_v7().to_string();
                let (status, body) = rpc(
                    &client,
                    &server,
                    json!(["stream.write", format!("load-{writer}"), {"type": "T", "data": {"n": n}}, {"id": id}]),
                )
                .await;
                match status {
                    200 => {
                        acknowledged.lock().unwrap().push(id);
                        acks.send_modify(|n| *n += 1);
                    }
                    500 => {
                        assert_eq!(body["error"]["code"], "BACKEND_ERROR", "{body}");
                        failed.fetch_add(1, Ordering::Relaxed);
                        // Keep the outage from turning into a busy loop of failures.
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                    other => panic!("unexpected {other}: {body}"),
                }
                n += 1;
            }
        })
    });
    let load: Vec<_> = load.collect();
    let acknowledged_count = || *acks.borrow();
    wait_for(&acks, 200, "writes before the outage").await;

    // Outage: clients get BACKEND_ERROR, promptly.
    let c = Arc::clone(&cluster);
    tokio::task::spawn_blocking(move || c.stop())
        .await
        .unwrap()
        .unwrap();
    let asked = Instant::now();
    let (status, body) = rpc(&client, &server, json!(["stream.version", "load-0"])).await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (500, &json!("BACKEND_ERROR")),
        "{body}"
    );
    assert!(
        asked.elapsed() < Duration::from_secs(15),
        "no hang during the outage"
    );
    let before_restart = acknowledged_count();

    // Back: writes succeed again, without restarting messagedb.
    let c = Arc::clone(&cluster);
    tokio::task::spawn_blocking(move || c.start_again())
        .await
        .unwrap()
        .unwrap();
    wait_for(
        &acks,
        before_restart + 200,
        "writes after the database came back",
    )
    .await;
    assert!(
        failed.load(Ordering::Relaxed) > 0,
        "the load saw the outage"
    );

    // The watched store's LISTEN connection came back: it asked subscriptions to resync, and
    // hears commits again.
    heard
        .until("a resync", |h| h.resyncs.load(Ordering::SeqCst) >= 1)
        .await;
    let (status, written) = rpc(
        &client,
        &server,
        json!(["stream.write", "after-1", {"type": "T", "data": {}}]),
    )
    .await;
    assert_eq!(status, 200, "{written}");
    let gpos = written["globalPosition"].as_i64().unwrap();
    heard
        .until("the commit made after the restart", |h| {
            h.commits.lock().unwrap().contains(&gpos)
        })
        .await;

    // An operator's `pg_ctl restart -m fast` under load, too.
    let c = Arc::clone(&cluster);
    tokio::task::spawn_blocking(move || c.restart())
        .await
        .unwrap()
        .unwrap();
    let after_second = acknowledged_count();
    wait_for(&acks, after_second + 100, "writes after the second restart").await;
    stop.store(true, Ordering::Relaxed);
    for task in load {
        task.await.unwrap();
    }

    // Every acknowledged write is there.
    let (status, all) = rpc(
        &client,
        &server,
        json!(["category.get", "", {"batchSize": -1}]),
    )
    .await;
    assert_eq!(status, 200);
    let stored: std::collections::HashSet<String> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m[0].as_str().unwrap().to_owned())
        .collect();
    let acknowledged = acknowledged.lock().unwrap().clone();
    let missing: Vec<&String> = acknowledged
        .iter()
        .filter(|id| !stored.contains(*id))
        .collect();
    assert!(
        missing.is_empty(),
        "{} acknowledged writes lost: {missing:?}",
        missing.len()
    );
    watched.close().await;
}

/// Waits until at least `count` writes have been acknowledged, for at most a minute.
async fn wait_for(acks: &watch::Sender<usize>, count: usize, what: &str) {
    let mut acks = acks.subscribe();
    let waited = tokio::time::timeout(Duration::from_secs(60), acks.wait_for(|n| *n >= count));
    assert!(
        matches!(waited.await, Ok(Ok(_))),
        "timed out waiting for {what}"
    );
}
