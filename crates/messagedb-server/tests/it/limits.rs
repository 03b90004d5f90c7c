//! SPEC §16.1 (checklist 140): size limits at every entry point, on both backends. A value at
//! its limit is stored and read back; one byte more is a 400 with the exact message, never a
//! 5xx; and the limits count bytes of UTF-8, not characters.

use serde_json::{json, Value};

use crate::app::{on_both_backends, spawn_app, App, T};
use crate::sse_client::{Event, Poke, Sse};

/// A stream name of exactly `bytes` bytes in category `lim`, mostly two-byte characters so that
/// a character count would be half the byte count.
fn name_of(bytes: usize) -> String {
    let mut name = String::from("lim-");
    while name.len() + 2 <= bytes {
        name.push('é');
    }
    while name.len() < bytes {
        name.push('x');
    }
    assert_eq!(name.len(), bytes);
    name
}

/// A message type of exactly `bytes` bytes of three-byte characters and ASCII.
fn type_of(bytes: usize) -> String {
    let mut ty = "€".repeat(bytes / 3);
    ty.push_str(&"T".repeat(bytes % 3));
    assert_eq!(ty.len(), bytes);
    ty
}

fn encode(value: &str) -> String {
    form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

/// Asserts a 400 `INVALID_REQUEST` with `message`.
async fn refused(app: &App, body: Value, message: &str) {
    app.rpc_as(T, body)
        .await
        .error(400, "INVALID_REQUEST", message);
}

/// `GET /subscribe?<query>` answered with the §8.2 plain-text 400.
async fn subscribe_refused(app: &App, query: &str, message: &str) {
    let answer = app
        .send(
            reqwest::Method::GET,
            &format!("/subscribe?{query}"),
            Some(T),
            "",
        )
        .await;
    assert_eq!(
        (answer.status, answer.body.as_str()),
        (400, message),
        "{query}"
    );
    assert_eq!(
        answer.header("content-type"),
        Some("text/plain; charset=utf-8")
    );
}

/// Posts an NDJSON body to `/import` and returns its events.
async fn import(app: &App, body: String) -> Vec<Value> {
    let answer = app
        .send(reqwest::Method::POST, "/import", Some(T), body)
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    answer
        .body
        .trim_end_matches("\n\n")
        .split("\n\n")
        .map(|event| serde_json::from_str(event.strip_prefix("data: ").unwrap()).unwrap())
        .collect()
}

fn record(gpos: i64, stream: &str, ty: &str) -> String {
    json!({
        "id": format!("0190f2c4-3b1e-7c2a-9d4e-{gpos:012x}"),
        "stream": stream, "type": ty, "pos": 0, "gpos": gpos,
        "data": {}, "meta": null, "time": "2025-01-15T10:00:00Z"
    })
    .to_string()
        + "\n"
}

on_both_backends! {
    /// 140: a 1024-byte name and type are written and read back through every reading method.
    #[tokio::test]
    async fn names_and_types_at_the_limit_are_stored_and_read_back() {
        let app = spawn_app().await;
        let (name, ty) = (name_of(1024), type_of(1024));
        let written = app
            .call(json!(["stream.write", name, {"type": ty, "data": {"n": 1}}]))
            .await;
        assert_eq!(written["position"], 0);
        let read = app.call(json!(["stream.get", name])).await;
        assert_eq!(read[0][1], ty.as_str());
        let last = app.call(json!(["stream.last", name, {"type": ty}])).await;
        assert_eq!(last[1], ty.as_str());
        assert_eq!(app.call(json!(["stream.version", name])).await, 0);
        let category = app.call(json!(["category.get", "lim"])).await;
        assert_eq!((&category[0][1], &category[0][2]), (&json!(name), &json!(ty)));

        // A name without `-` is its own category: a 1024-byte category argument.
        let whole = "c".repeat(1024);
        app.write(&whole, "T", json!({})).await;
        let category = app.call(json!(["category.get", whole])).await;
        assert_eq!(category[0][1], whole.as_str());
    }

    /// 140: one byte over the limit is a 400 with the §16.1 message on every RPC entry point.
    #[tokio::test]
    async fn one_byte_over_is_refused_by_every_method() {
        let app = spawn_app().await;
        let over = name_of(1025);
        let message = "streamName must be at most 1024 bytes";
        refused(&app, json!(["stream.write", over, {"type": "T", "data": {}}]), message).await;
        refused(&app, json!(["stream.get", over]), message).await;
        refused(&app, json!(["stream.last", over]), message).await;
        refused(&app, json!(["stream.version", over]), message).await;
        refused(
            &app,
            json!(["stream.write", "lim-1", {"type": type_of(1025), "data": {}}]),
            "message.type must be at most 1024 bytes",
        )
        .await;
        refused(
            &app,
            json!(["category.get", "c".repeat(1025)]),
            "categoryName must be at most 1024 bytes",
        )
        .await;
        // Nothing reached storage.
        assert_eq!(app.call(json!(["category.get", ""])).await, json!([]));
    }

    /// 140: a 2 MB name is a 400 on both backends, not a 500 (PostgreSQL's index) nor stored.
    #[tokio::test]
    async fn huge_names_never_reach_storage() {
        let app = spawn_app().await;
        let huge = "h".repeat(2 << 20);
        refused(
            &app,
            json!(["stream.write", huge, {"type": "T", "data": {}}]),
            "streamName must be at most 1024 bytes",
        )
        .await;
        refused(
            &app,
            json!(["stream.write", "lim-1", {"type": huge, "data": {}}]),
            "message.type must be at most 1024 bytes",
        )
        .await;
        assert_eq!(app.call(json!(["ns.info", "default"])).await["messageCount"], 0);
    }

    /// 140: SSE takes a 1024-byte `stream=` (and pokes it) and `category=`; 1025 bytes is a 400.
    #[tokio::test]
    async fn subscriptions_take_names_up_to_the_limit() {
        let app = spawn_app().await;
        let name = name_of(1024);
        let mut by_stream = Sse::open(&app, &format!("stream={}", encode(&name))).await;
        let whole = "c".repeat(1024);
        let mut by_category = Sse::open(&app, &format!("category={whole}")).await;
        let (position, global_position) = app.write(&name, "T", json!({})).await;
        assert_eq!(
            by_stream.next().await,
            Some(Event::Poke(Poke { stream: name.clone(), position, global_position }))
        );
        let (position, global_position) = app.write(&whole, "T", json!({})).await;
        assert_eq!(
            by_category.next().await,
            Some(Event::Poke(Poke { stream: whole.clone(), position, global_position }))
        );

        let over = encode(&name_of(1025));
        subscribe_refused(&app, &format!("stream={over}"), "streamName must be at most 1024 bytes")
            .await;
        subscribe_refused(
            &app,
            &format!("category={whole}c&position=x"),
            "categoryName must be at most 1024 bytes",
        )
        .await;
    }

    /// 140: `/import` stores a 1024-byte stream and type; 1025 bytes is `INVALID_RECORD` with
    /// the §16.1 reason, and rolls back its batch.
    #[tokio::test]
    async fn import_takes_names_up_to_the_limit() {
        let app = spawn_app().await;
        let (name, ty) = (name_of(1024), type_of(1024));
        let events = import(&app, record(1, &name, &ty)).await;
        assert_eq!(events.last().unwrap()["imported"], 1, "{events:?}");
        let read = app.call(json!(["stream.get", name])).await;
        assert_eq!(read[0][1], ty.as_str());

        let events = import(&app, record(2, "lim-2", "T") + &record(3, &name_of(1025), "T")).await;
        assert_eq!(
            events.last().unwrap(),
            &json!({
                "error": "INVALID_RECORD",
                "message": "invalid record at line 2: stream must be at most 1024 bytes",
                "line": 2
            })
        );
        let events = import(&app, record(4, "lim-4", &type_of(1025))).await;
        assert_eq!(
            events.last().unwrap()["message"],
            "invalid record at line 1: message.type must be at most 1024 bytes"
        );
        assert_eq!(app.call(json!(["stream.version", "lim-2"])).await, Value::Null);
    }

    /// A 4096-byte description is stored; 4097 bytes is a 400.
    #[tokio::test]
    async fn descriptions_up_to_4096_bytes() {
        let app = spawn_app().await;
        let description = type_of(4096);
        app.call(json!(["ns.create", "described", {"description": description}])).await;
        let info = app.call(json!(["ns.info", "described"])).await;
        assert_eq!(info["description"], description.as_str());
        refused(
            &app,
            json!(["ns.create", "too-long", {"description": type_of(4097)}]),
            "options.description must be at most 4096 bytes",
        )
        .await;
        app.rpc_as(T, json!(["ns.info", "too-long"])).await.error(
            404,
            "NAMESPACE_NOT_FOUND",
            "Namespace 'too-long' not found",
        );
    }
}
