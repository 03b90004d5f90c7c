//! SSE heartbeat and lifetime (SPEC §8.6, §11.3, checklist 114–115): keepalives after idle
//! intervals, dead clients unregistered, and responses that end when the namespace is deleted
//! or the server shuts down. The heartbeat is shortened to 200 ms; the tests assert that things
//! happen, not how fast (every wait is bounded by a generous timeout).

use std::time::Duration;

use messagedb_server::ServerConfig;
use serde_json::json;

use crate::app::{on_both_backends, spawn_with, App, T};
use crate::sse_client::{within, Event, RawSse, Sse, PATIENCE};

const HEARTBEAT: Duration = Duration::from_millis(200);

fn with_heartbeat() -> ServerConfig {
    ServerConfig {
        sse_heartbeat: Some(HEARTBEAT),
        ..ServerConfig::default()
    }
}

/// `sys.health.connections`, as a client sees it.
async fn connections(app: &App) -> i64 {
    app.call(json!(["sys.health"])).await["connections"]
        .as_i64()
        .unwrap()
}

/// Waits until `sys.health.connections` reads `expected`.
async fn wait_for_connections(app: &App, expected: i64) {
    let waited = tokio::time::timeout(PATIENCE, async {
        let mut poll = tokio::time::interval(Duration::from_millis(20));
        loop {
            poll.tick().await;
            if connections(app).await == expected {
                return;
            }
        }
    })
    .await;
    assert!(
        waited.is_ok(),
        "connections never became {expected} (now {})",
        connections(app).await
    );
}

on_both_backends! {
/// 114: an idle subscription gets `: keepalive` after each idle interval, each as its own
/// chunk; pokes reset the interval; nothing else is ever sent.
#[tokio::test]
async fn idle_subscriptions_get_keepalives() {
    let app = spawn_with(with_heartbeat()).await;
    let mut raw = RawSse::open(app.addr, T, "stream=quiet-1").await;
    assert_eq!(raw.event().await, Some(Event::Ready));
    assert_eq!(raw.event().await, Some(Event::Keepalive));
    assert_eq!(raw.event().await, Some(Event::Keepalive));
    let (_, gpos) = app.write("quiet-1", "T", json!({})).await;
    // The poke may come after a keepalive that was already due, never as part of one.
    let mut events = Vec::new();
    while !matches!(events.last(), Some(Event::Poke(_))) {
        events.push(raw.event().await.expect("an event"));
    }
    match events.last() {
        Some(Event::Poke(p)) => assert_eq!(p.global_position, gpos),
        other => panic!("{other:?}"),
    }
    assert!(events[..events.len() - 1]
        .iter()
        .all(|e| e == &Event::Keepalive));
    assert_eq!(raw.event().await, Some(Event::Keepalive));
    // The gauge on /metrics counts this subscription too.
    let metrics = app.send(reqwest::Method::GET, "/metrics", None, "").await;
    assert!(
        metrics.body.contains("\nmessagedb_sse_subscriptions 1\n"),
        "{}",
        metrics.body
    );
}

/// 115: a client that goes away is unregistered (`sys.health.connections` drops) without
/// waiting for a write to fail, whether it leaves while live or mid-replay.
#[tokio::test]
async fn dead_clients_are_unregistered() {
    let app = spawn_with(with_heartbeat()).await;
    assert_eq!(connections(&app).await, 0);
    let sse = Sse::open(&app, "all=true").await;
    let raw = RawSse::open(app.addr, T, "category=gone").await;
    wait_for_connections(&app, 2).await;
    drop(sse);
    wait_for_connections(&app, 1).await;
    drop(raw);
    wait_for_connections(&app, 0).await;
}

/// 115 / §6.9: deleting a namespace ends its subscriptions (terminating chunk), whatever their
/// kind, and leaves other namespaces' alone; a re-created namespace starts afresh.
#[tokio::test]
async fn deleting_the_namespace_ends_its_subscriptions() {
    let app = spawn_with(with_heartbeat()).await;
    let tenant = app.tenant("doomed").await;
    app.write_as(&tenant, "d-1", "T", json!({})).await;
    let mut subscriptions = Vec::new();
    for query in [
        "stream=d-1",
        "category=d",
        "all=true",
        "all=true&position=1",
    ] {
        subscriptions.push(Sse::open_as(&app, &tenant, query).await);
    }
    let mut raw = RawSse::open(app.addr, &tenant, "category=d&consumer=0&size=2").await;
    assert_eq!(raw.event().await, Some(Event::Ready));
    let mut bystander = Sse::open(&app, "all=true").await;
    wait_for_connections(&app, 6).await;

    app.call(json!(["ns.delete", "doomed"])).await;
    for sse in &mut subscriptions {
        // Replay pokes of the one message may precede the end.
        for poke in sse.until_end().await {
            assert_eq!(poke.stream, "d-1");
        }
    }
    raw.until_end().await;
    wait_for_connections(&app, 1).await;

    // The bystander is still live; a re-created namespace is a new one.
    let (_, gpos) = app.write("still-1", "T", json!({})).await;
    assert_eq!(bystander.pokes(1).await[0].global_position, gpos);
    let again = app.tenant("doomed").await;
    let mut fresh = Sse::open_as(&app, &again, "all=true&position=1").await;
    let (_, first) = app.write_as(&again, "d-1", "T", json!({})).await;
    assert_eq!(first, 1);
    assert_eq!(fresh.pokes(1).await[0].global_position, 1);
}

/// §11.3 step 3: shutting the server down ends every SSE response, and `serve` returns.
#[tokio::test]
async fn shutdown_ends_every_subscription() {
    let app = spawn_with(with_heartbeat()).await;
    let mut live = Sse::open(&app, "all=true").await;
    let mut replaying = Sse::open(&app, "stream=s-1").await;
    let mut raw = RawSse::open(app.addr, T, "category=s").await;
    assert_eq!(raw.event().await, Some(Event::Ready));
    let (_, gpos) = app.write("s-1", "T", json!({})).await;
    assert_eq!(live.pokes(1).await[0].global_position, gpos);
    assert_eq!(replaying.pokes(1).await[0].global_position, gpos);
    loop {
        match raw.event().await {
            Some(Event::Poke(p)) => break assert_eq!(p.global_position, gpos),
            Some(Event::Keepalive) => {}
            other => panic!("{other:?}"),
        }
    }

    let state = app.state.clone();
    within(app.shutdown()).await;
    live.expect_end().await;
    replaying.expect_end().await;
    assert!(raw.until_end().await.is_empty());
    // The connection closes after the terminating chunk.
    assert!(raw.rest().await.is_empty());
    assert_eq!(state.subscriptions(), 0);
}
}

/// §8.5: a replay read that keeps failing ends the response (after a few retries) instead of
/// silently going live-only. The faulty store fails every category read.
#[tokio::test]
async fn a_failing_replay_ends_the_response() {
    let app = crate::failures::faulty_app().await;
    let mut sse = Sse::open(&app, "category=broken").await;
    sse.expect_end().await;
    wait_for_connections(&app, 0).await;
    // Stream subscriptions read streams, which work: they stay open and live.
    let mut fine = Sse::open(&app, "stream=fine-1").await;
    let (_, gpos) = app.write("fine-1", "T", json!({})).await;
    assert_eq!(fine.pokes(1).await[0].global_position, gpos);
}
