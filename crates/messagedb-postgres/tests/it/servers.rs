//! Two messagedb servers (in process, each with its own store) on one database, driven over
//! HTTP like a load balancer would (SPEC §10.2 I3–I5, §15 K98).

use std::collections::{BTreeMap, HashSet};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use messagedb_core::Store;
use messagedb_server::{bootstrap_default, serve, AppState, ServerConfig};
use messagedb_testpg::TestDatabase;
use serde_json::{json, Value};
use tokio::net::TcpListener;

use crate::support::open;

/// The checklist's admin token.
pub const T: &str =
    "ns_ZGVmYXVsdA_0000000000000000000000000000000000000000000000000000000000000000";

/// One server instance on `db`, serving until the test's runtime ends.
pub struct Instance {
    pub addr: SocketAddr,
}

impl Instance {
    pub async fn start(db: &TestDatabase) -> Instance {
        let store: Arc<dyn Store> = Arc::new(open(db).await);
        bootstrap_default(store.as_ref(), Some(T))
            .await
            .expect("bootstrap");
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().unwrap();
        let state = AppState::new(store, ServerConfig::default());
        tokio::spawn(serve(listener, state, std::future::pending()));
        Instance { addr }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

/// `POST /rpc` as admin; returns the status and the JSON body.
pub async fn rpc(client: &reqwest::Client, to: &Instance, body: Value) -> (u16, Value) {
    rpc_as(client, to, T, body).await
}

/// `POST /rpc` with `token`; returns the status and the JSON body.
pub async fn rpc_as(
    client: &reqwest::Client,
    to: &Instance,
    token: &str,
    body: Value,
) -> (u16, Value) {
    let response = client
        .post(to.url("/rpc"))
        .bearer_auth(token)
        .body(body.to_string())
        .send()
        .await
        .expect("request");
    let status = response.status().as_u16();
    let text = response.text().await.expect("body");
    (status, serde_json::from_str(&text).expect("JSON"))
}

/// 10,000 writes alternating between the instances, many in flight at once: every stream's
/// positions are gapless from 0, global positions are unique, gapless and follow position order
/// within each stream, and both instances read the same history.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_writes_alternating_between_instances() {
    const WRITES: usize = 10_000;
    const IN_FLIGHT: usize = 32;
    const STREAMS: usize = 25;
    let Some(db) =
        messagedb_testpg::database("ten_thousand_writes_alternating_between_instances").await
    else {
        return;
    };
    let instances = Arc::new([Instance::start(&db).await, Instance::start(&db).await]);
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let tasks = (0..IN_FLIGHT).map(|task| {
        let (instances, client) = (Arc::clone(&instances), client.clone());
        tokio::spawn(async move {
            let mut answers = Vec::new();
            for n in (task..WRITES).step_by(IN_FLIGHT) {
                let stream = format!("load{}-{}", n % 3, n % STREAMS);
                let via = &instances[n % 2];
                let (status, body) = rpc(
                    &client,
                    via,
                    json!(["stream.write", stream, {"type": "Loaded", "data": {"n": n}}]),
                )
                .await;
                assert_eq!(status, 200, "{body}");
                answers.push((
                    stream,
                    body["position"].as_i64().unwrap(),
                    body["globalPosition"].as_i64().unwrap(),
                ));
            }
            answers
        })
    });
    let mut per_stream: BTreeMap<String, Vec<(i64, i64)>> = BTreeMap::new();
    let mut gpos = HashSet::new();
    for task in futures::future::join_all(tasks).await {
        for (stream, position, global_position) in task.unwrap() {
            assert!(gpos.insert(global_position), "gpos {global_position} twice");
            per_stream
                .entry(stream)
                .or_default()
                .push((position, global_position));
        }
    }
    assert_eq!(gpos.len(), WRITES);
    assert_eq!(
        gpos.iter().max(),
        Some(&(WRITES as i64)),
        "no gaps: 1..=10000"
    );
    for (stream, mut written) in per_stream {
        written.sort();
        let positions: Vec<i64> = written.iter().map(|(p, _)| *p).collect();
        assert_eq!(
            positions,
            (0..written.len() as i64).collect::<Vec<_>>(),
            "{stream}"
        );
        assert!(
            written.windows(2).all(|w| w[0].1 < w[1].1),
            "{stream}: gpos in position order"
        );
    }
    let mut histories = Vec::new();
    for instance in instances.iter() {
        let (status, all) = rpc(
            &client,
            instance,
            json!(["category.get", "", {"batchSize": -1}]),
        )
        .await;
        assert_eq!(status, 200);
        let read: Vec<i64> = all
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m[4].as_i64().unwrap())
            .collect();
        assert_eq!(read, (1..=WRITES as i64).collect::<Vec<_>>());
        histories.push(all);
    }
    assert_eq!(
        histories[0], histories[1],
        "both instances read the same history"
    );
}

/// A namespace deleted through one instance stops authenticating on the other within 1 s
/// (SPEC §4.4, §6.9), although the other had just accepted (and cached) its token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deletion_on_one_instance_revokes_the_token_on_the_other_within_a_second() {
    let Some(db) = messagedb_testpg::database("deletion_revokes_the_token_everywhere").await else {
        return;
    };
    let (a, b) = (Instance::start(&db).await, Instance::start(&db).await);
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let (status, created) = rpc(&client, &a, json!(["ns.create", "leaving"])).await;
    assert_eq!(status, 200);
    let token = created["token"].as_str().unwrap().to_owned();
    let write = json!(["stream.write", "s-1", {"type": "T", "data": {}}]);
    assert_eq!(rpc_as(&client, &b, &token, write.clone()).await.0, 200);

    let (status, _) = rpc(&client, &a, json!(["ns.delete", "leaving"])).await;
    assert_eq!(status, 200);
    let deleted = Instant::now();
    loop {
        // What counts is when a request was sent: one sent before the 1 s mark may still pass,
        // however long a loaded machine takes to answer it.
        let sent = deleted.elapsed();
        let (status, body) = rpc_as(&client, &b, &token, json!(["stream.version", "s-1"])).await;
        if status == 403 {
            assert_eq!(body["error"]["code"], "AUTH_UNAUTHORIZED");
            break;
        }
        // Until the cache entry expires, the request is authenticated but finds nothing.
        assert!(
            status == 200 || body["error"]["code"] == "NAMESPACE_NOT_FOUND",
            "{status} {body}"
        );
        assert!(
            sent < Duration::from_secs(1),
            "the deleted namespace's token still works on the other instance {sent:?} after the delete"
        );
    }
    // And it stays revoked: nothing of the namespace is left.
    assert_eq!(rpc_as(&client, &b, &token, write).await.0, 403);
}
