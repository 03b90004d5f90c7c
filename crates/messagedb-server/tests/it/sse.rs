//! SPEC §15 group L (SSE), items 101–112, plus credentials, CORS, isolation and compound ids on
//! `/subscribe`, on both backends. Load, slow consumers and lifetime are in `sse_load` and
//! `sse_lifetime`.

use std::sync::Arc;
use std::time::Duration;

use messagedb_core::{CommitListener, Committed, NamespaceId};
use messagedb_server::ServerConfig;
use serde_json::json;

use crate::app::{on_both_backends, spawn_app, spawn_with, T};
use crate::sse_client::{
    append, assert_ascending, category_get, default_ns, gpos_set, Event, Poke, RawSse, Sse,
};

fn poke(stream: &str, position: i64, global_position: i64) -> Poke {
    Poke {
        stream: stream.to_owned(),
        position,
        global_position,
    }
}

on_both_backends! {
/// 101–103 (and auth before validation): 400 `text/plain` with the exact bodies, no CORS.
#[tokio::test]
async fn validation_errors_are_plain_text_in_order() {
    let app = spawn_app().await;
    let cases = [
        (
            "",
            "Either 'stream', 'category', or 'all=true' parameter required",
        ),
        (
            "?all=false",
            "Either 'stream', 'category', or 'all=true' parameter required",
        ),
        (
            "?stream=a-1&category=a",
            "Cannot specify both 'stream' and 'category'",
        ),
        (
            "?all=true&stream=a-1",
            "Cannot combine 'all' with 'stream' or 'category'",
        ),
        ("?stream=a-1&position=x", "Invalid position parameter"),
        ("?category=a&consumer=-1", "Invalid consumer parameter"),
        ("?category=a&size=x", "Invalid size parameter"),
        (
            "?category=a&consumer=2&size=2",
            "Invalid consumer group: member must be < size",
        ),
        (
            "?category=a&consumerGroupMember=2&consumerGroupSize=2",
            "Invalid consumer group: member must be < size",
        ),
    ];
    for (query, body) in cases {
        let a = app
            .send(
                reqwest::Method::GET,
                &format!("/subscribe{query}"),
                Some(T),
                "",
            )
            .await;
        assert_eq!(a.status, 400, "{query}");
        assert_eq!(a.body, body, "{query}");
        assert_eq!(a.header("content-type"), Some("text/plain; charset=utf-8"));
        assert_eq!(
            a.header("access-control-allow-origin"),
            None,
            "CORS only on success"
        );
    }
    // Authentication runs first and answers in JSON.
    let a = app.send(reqwest::Method::GET, "/subscribe", None, "").await;
    a.error(401, "AUTH_REQUIRED", "Authorization header required");
    // Group parameters are neither used nor validated outside categories.
    let mut sse = Sse::open(&app, "stream=a-1&consumer=-1&size=x").await;
    let written = app.write("a-1", "T", json!({})).await;
    assert_eq!(sse.pokes(1).await, [poke("a-1", written.0, written.1)]);
}

/// 104: the headers and `: ready` arrive before anything is written, for every kind, as the
/// first chunk of a chunked body; 105: a later write is one poke in one chunk, LF endings.
#[tokio::test]
async fn ready_first_then_one_poke_per_chunk() {
    let app = spawn_app().await;
    for (query, stream) in [
        ("stream=one-1", "one-1"),
        ("category=two", "two-1"),
        ("all=true", "three-1"),
    ] {
        let mut raw = RawSse::open(app.addr, T, query).await;
        assert_eq!(raw.head[0], "HTTP/1.1 200 OK", "{query}");
        assert_eq!(raw.header("content-type"), Some("text/event-stream"));
        assert_eq!(raw.header("cache-control"), Some("no-cache"));
        assert_eq!(raw.header("connection"), Some("keep-alive"));
        assert_eq!(raw.header("access-control-allow-origin"), Some("*"));
        assert_eq!(raw.header("x-accel-buffering"), Some("no"));
        assert_eq!(raw.header("transfer-encoding"), Some("chunked"));
        assert!(raw
            .header("server")
            .is_some_and(|s| s.starts_with("messagedb/")));
        assert_eq!(
            raw.chunk().await.as_deref(),
            Some(&b": ready\n\n"[..]),
            "{query}"
        );

        let (position, gpos) = app.write(stream, "Opened", json!({"n": 1})).await;
        let chunk = raw.chunk().await.expect("a poke chunk");
        assert_eq!(
            String::from_utf8(chunk).unwrap(),
            format!(
                "event: poke\ndata: {{\"stream\":\"{stream}\",\"position\":{position},\"globalPosition\":{gpos}}}\n\n"
            ),
            "{query}"
        );
    }
}

/// 106: replay from a stream position, then live, each message once.
#[tokio::test]
async fn stream_replay_starts_at_the_position() {
    let app = spawn_app().await;
    for i in 0..3 {
        app.write("order-1", "T", json!({ "i": i })).await;
    }
    app.write("order-2", "T", json!({})).await;
    let mut from0 = Sse::open(&app, "stream=order-1&position=0").await;
    let mut from2 = Sse::open(&app, "stream=order-1&position=2").await;
    let got: Vec<i64> = from0.pokes(3).await.iter().map(|p| p.position).collect();
    assert_eq!(got, [0, 1, 2]);
    assert_eq!(from2.pokes(1).await, [poke("order-1", 2, 3)]);
    // Live: only the next message of this stream, on both.
    app.write("order-2", "T", json!({})).await;
    let (position, gpos) = app.write("order-1", "T", json!({})).await;
    assert_eq!(from0.pokes(1).await, [poke("order-1", position, gpos)]);
    assert_eq!(from2.pokes(1).await, [poke("order-1", position, gpos)]);
    // `position` defaults to 0 and a negative one behaves as 0.
    let mut negative = Sse::open(&app, "stream=order-1&position=-5").await;
    assert_eq!(negative.pokes(4).await.len(), 4);
}

/// 107: a 2,500-message stream replays completely (no cap), in order, across pages.
#[tokio::test]
async fn long_streams_replay_without_a_cap() {
    let app = spawn_app().await;
    let ns = default_ns();
    for _ in 0..2500 {
        append(&app, &ns, "big-1").await;
    }
    let mut sse = Sse::open(&app, "stream=big-1").await;
    let pokes = sse.pokes(2500).await;
    let positions: Vec<i64> = pokes.iter().map(|p| p.position).collect();
    assert_eq!(positions, (0..2500).collect::<Vec<i64>>());
    assert_ascending(&pokes);
    let next = append(&app, &ns, "big-1").await;
    assert_eq!(
        sse.pokes(1).await,
        [poke("big-1", 2500, next.global_position)]
    );
}

/// 108: a category subscription gets exactly its category, ascending and unique; a category
/// with `-` gets nothing; `position` is a global position.
#[tokio::test]
async fn category_subscriptions_get_only_their_category() {
    let app = spawn_with(ServerConfig {
        sse_heartbeat: Some(Duration::from_millis(300)),
        ..ServerConfig::default()
    })
    .await;
    let streams = [
        "account-1",
        "accountLog-1",
        "account-2+x",
        "Account-1",
        "account",
        "other-1",
    ];
    for stream in streams {
        app.write(stream, "T", json!({})).await;
    }
    let mut sse = Sse::open(&app, "category=account").await;
    let mut dashed = Sse::open(&app, "category=account-1").await;
    for stream in streams {
        app.write(stream, "T", json!({})).await;
    }
    let pokes = sse.pokes(6).await;
    assert_ascending(&pokes);
    let names: Vec<&str> = pokes.iter().map(|p| p.stream.as_str()).collect();
    assert_eq!(
        names,
        [
            "account-1",
            "account-2+x",
            "account",
            "account-1",
            "account-2+x",
            "account"
        ]
    );
    assert_eq!(pokes, category_get(&app, "account", None).await);
    // Had anything matched `account-1` as a category, it would have been poked before the
    // first keepalive, which only comes after an idle interval.
    assert_eq!(dashed.next().await, Some(Event::Keepalive));

    let mut from = Sse::open(&app, "category=account&position=9").await;
    let expected: Vec<Poke> = pokes
        .into_iter()
        .filter(|p| p.global_position >= 9)
        .collect();
    assert_eq!(expected.len(), 2);
    assert_eq!(from.pokes(2).await, expected);
}

/// 109–110: two members of a group of 2 share the category exactly, in replay and live, as
/// `category.get` groups it; the long parameter names behave the same.
#[tokio::test]
async fn consumer_groups_partition_replay_and_live() {
    let app = spawn_app().await;
    let ns = default_ns();
    let streams: Vec<String> = (0..20).map(|i| format!("job-{i}")).collect();
    for stream in &streams {
        append(&app, &ns, stream).await;
    }
    append(&app, &ns, "job").await; // no cardinal id: no member gets it
    let mut m0 = Sse::open(&app, "category=job&consumer=0&size=2").await;
    let mut m1 = Sse::open(&app, "category=job&consumer=1&size=2").await;
    let mut m1_long = Sse::open(
        &app,
        "category=job&consumerGroupMember=1&consumerGroupSize=2",
    )
    .await;
    for stream in &streams {
        append(&app, &ns, stream).await;
    }
    append(&app, &ns, "job").await;
    let expected0 = category_get(&app, "job", Some((0, 2))).await;
    let expected1 = category_get(&app, "job", Some((1, 2))).await;
    assert_eq!(
        expected0.len() + expected1.len(),
        40,
        "the group covers the category"
    );
    assert!(gpos_set(&expected0).is_disjoint(&gpos_set(&expected1)));
    assert_eq!(m0.pokes(expected0.len()).await, expected0);
    assert_eq!(m1.pokes(expected1.len()).await, expected1);
    assert_eq!(m1_long.pokes(expected1.len()).await, expected1);
    // Nothing else was pending: each member's next poke is the next message of its own.
    let of = |member: u64| {
        streams
            .iter()
            .find(|s| messagedb_core::group::member_of(&s[4..], 2) == member)
            .unwrap()
            .clone()
    };
    let (s0, s1) = (of(0), of(1));
    let w0 = append(&app, &ns, &s0).await;
    let w1 = append(&app, &ns, &s1).await;
    assert_eq!(m0.pokes(1).await, [poke(&s0, 2, w0.global_position)]);
    assert_eq!(m1.pokes(1).await, [poke(&s1, 2, w1.global_position)]);
}

/// 111: `all=true` gets only what is written after `: ready`; with a position it replays the
/// namespace first.
#[tokio::test]
async fn all_is_live_only_unless_given_a_position() {
    let app = spawn_app().await;
    let before = app.write("a-1", "T", json!({})).await;
    app.write("b-1", "T", json!({})).await;
    let mut live = Sse::open(&app, "all=true").await;
    let mut replay = Sse::open(&app, "all=true&position=1").await;
    let mut from2 = Sse::open(&app, "all=true&position=2").await;
    let after = app.write("c-1", "T", json!({})).await;
    assert_eq!(live.pokes(1).await, [poke("c-1", 0, after.1)]);
    assert_eq!(
        replay.pokes(3).await,
        [
            poke("a-1", 0, before.1),
            poke("b-1", 0, 2),
            poke("c-1", 0, 3)
        ]
    );
    assert_eq!(from2.pokes(2).await, [poke("b-1", 0, 2), poke("c-1", 0, 3)]);
}

/// 112: messages written while a long replay runs are each poked exactly once.
#[tokio::test]
async fn writes_during_replay_are_poked_once() {
    let app = spawn_app().await;
    let ns = default_ns();
    for _ in 0..3000 {
        append(&app, &ns, "busy-1").await;
    }
    let mut sse = Sse::open(&app, "stream=busy-1").await;
    // Write while the subscription is replaying (it has read at most a few pages so far).
    let writer = {
        let store_app = app.state.clone();
        tokio::spawn(async move {
            let mut last = 0;
            for _ in 0..500 {
                let message = messagedb_core::NewMessage {
                    id: None,
                    stream_name: messagedb_core::StreamName::parse("busy-1").unwrap(),
                    message_type: "T".into(),
                    data: "{}".into(),
                    metadata: None,
                    expected_version: None,
                };
                last = store_app
                    .store()
                    .write(&default_ns(), message)
                    .await
                    .unwrap()
                    .positions()
                    .global_position;
            }
            last
        })
    };
    let first = sse.pokes(100).await;
    let last = writer.await.unwrap();
    let mut pokes = first;
    pokes.extend(sse.pokes_through(last).await);
    assert_eq!(pokes.len(), 3500);
    assert_ascending(&pokes);
    let positions: Vec<i64> = pokes.iter().map(|p| p.position).collect();
    assert_eq!(positions, (0..3500).collect::<Vec<i64>>());
}

/// B17 on `/subscribe`: `?token=` and a Bearer header both work, the query wins over a bad
/// header; a tenant's subscription sees only its namespace. A8: CORS only on `/subscribe`.
#[tokio::test]
async fn credentials_cors_and_isolation() {
    let app = spawn_app().await;
    let tenant = app.tenant("tenant-a").await;
    let by_query = Sse::start(
        app.client
            .get(app.url(&format!("/subscribe?all=true&token={tenant}")))
            .header("authorization", "Basic nope"),
    )
    .await;
    let mut by_query = by_query;
    let mut by_header = Sse::open_as(&app, &tenant, "all=true").await;
    let mut admin = Sse::open(&app, "all=true").await;
    app.write("shared-1", "T", json!({})).await; // default namespace
    let (_, gpos) = app.write_as(&tenant, "shared-1", "T", json!({})).await;
    assert_eq!(by_query.pokes(1).await, [poke("shared-1", 0, gpos)]);
    assert_eq!(by_header.pokes(1).await, [poke("shared-1", 0, gpos)]);
    assert_eq!(admin.pokes(1).await, [poke("shared-1", 0, 1)]);
    assert!(by_query
        .headers
        .get("access-control-allow-origin")
        .is_some());
    let rpc = app.rpc_as(T, json!(["sys.version"])).await;
    assert_eq!(rpc.header("access-control-allow-origin"), None);
    // Wrong tokens are refused in JSON before anything streams.
    let wrong = format!("ns_dGVuYW50LWE_{}", "1".repeat(64));
    let a = app
        .send(
            reqwest::Method::GET,
            "/subscribe?all=true",
            Some(&wrong),
            "",
        )
        .await;
    a.error(
        403,
        "AUTH_UNAUTHORIZED",
        "Token not authorized for namespace",
    );
}

/// Compound ids: `+` must be sent as `%2B` (a bare `+` is a space), and `entity-123+alice` and
/// `entity-123+bob` go to the same member of every group, live and in replay.
#[tokio::test]
async fn compound_ids_share_a_member_and_need_percent_encoding() {
    let app = spawn_app().await;
    let ns = default_ns();
    let mut encoded = Sse::open(&app, "stream=entity-123%2Balice").await;
    let mut bare = Sse::open(&app, "stream=other-123+alice").await;
    let mut members = Vec::new();
    for m in 0..3 {
        members.push(Sse::open(&app, &format!("category=entity&consumer={m}&size=3")).await);
    }
    let alice = append(&app, &ns, "entity-123+alice").await;
    let bob = append(&app, &ns, "entity-123+bob").await;
    append(&app, &ns, "other-123+alice").await;
    let spaced = append(&app, &ns, "other-123 alice").await;
    assert_eq!(
        encoded.pokes(1).await,
        [poke("entity-123+alice", 0, alice.global_position)]
    );
    assert_eq!(
        bare.pokes(1).await,
        [poke("other-123 alice", 0, spaced.global_position)]
    );
    let owner = messagedb_core::group::member_of("123", 3) as usize;
    let got = members[owner].pokes(2).await;
    assert_eq!(
        got,
        [
            poke("entity-123+alice", 0, alice.global_position),
            poke("entity-123+bob", 0, bob.global_position)
        ]
    );
    // Replay agrees with live.
    let mut replayed = Sse::open(&app, &format!("category=entity&consumer={owner}&size=3")).await;
    assert_eq!(replayed.pokes(2).await, got);
    // The other members got nothing: their next poke is a later message of theirs.
    for (m, member) in members.iter_mut().enumerate() {
        if m == owner {
            continue;
        }
        let stream = (0..)
            .map(|i| format!("entity-{i}"))
            .find(|s| messagedb_core::group::member_of(&s[7..], 3) as usize == m)
            .unwrap();
        let marker = append(&app, &ns, &stream).await;
        assert_eq!(
            member.pokes(1).await,
            [poke(&stream, 0, marker.global_position)]
        );
    }
}

/// `/subscribe` accepts any method, and sends nothing but `: ready` until there is news.
#[tokio::test]
async fn any_method_subscribes() {
    let app = spawn_app().await;
    let request = app
        .client
        .post(app.url("/subscribe?stream=p-1"))
        .bearer_auth(T);
    let mut sse = Sse::start(request).await;
    let (_, gpos) = app.write("p-1", "T", json!({})).await;
    assert_eq!(sse.next().await, Some(Event::Poke(poke("p-1", 0, gpos))));
}

/// §8.7: when the backend may have missed commits (a lost `LISTEN` connection) and says so with
/// `resync`, subscriptions catch up from the store: nothing missed is skipped, nothing is poked
/// twice. The loss is simulated by pointing the store at a listener that hears nothing.
#[tokio::test]
async fn a_resync_recovers_commits_the_notifier_never_heard() {
    let app = spawn_app().await;
    let mut all = Sse::open(&app, "all=true").await;
    let mut stream = Sse::open(&app, "stream=lost-1").await;
    let first = app.write("lost-1", "T", json!({})).await;
    assert_eq!(all.pokes(1).await, [poke("lost-1", 0, first.1)]);
    assert_eq!(stream.pokes(1).await, [poke("lost-1", 0, first.1)]);

    let store = app.state.store();
    store.set_commit_listener(Arc::new(Deaf));
    let missed = app.write("lost-1", "T", json!({})).await;
    let notifier: Arc<dyn CommitListener> = app.state.notifier().clone();
    store.set_commit_listener(Arc::clone(&notifier));
    notifier.resync();
    let after = app.write("lost-1", "T", json!({})).await;
    let expected = [poke("lost-1", 1, missed.1), poke("lost-1", 2, after.1)];
    assert_eq!(all.pokes(2).await, expected);
    assert_eq!(stream.pokes(2).await, expected);
    assert!(app.state.notifier().catch_ups() >= 2);
    // Nothing else was queued: the next poke is the next write.
    let next = app.write("lost-1", "T", json!({})).await;
    assert_eq!(all.pokes(1).await, [poke("lost-1", 3, next.1)]);
}
}

/// A commit listener that hears nothing: a backend's lost notification connection.
struct Deaf;

impl CommitListener for Deaf {
    fn committed(&self, _: &NamespaceId, _: &[Committed]) {}
    fn deleted(&self, _: &NamespaceId, _: &messagedb_core::Deletion) {}
    fn ended(&self, _: &NamespaceId) {}
}
