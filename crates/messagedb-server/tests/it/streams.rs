//! SPEC §6.3–6.6, checklist groups F and G: writing and reading streams.

use std::collections::HashSet;

use serde_json::{json, Value};

use crate::app::{on_both_backends, spawn_app, T};

on_both_backends! {
/// F42.
#[tokio::test]
async fn positions_are_gapless_and_global_positions_increase() {
    let app = spawn_app().await;
    let mut last_global = 0;
    for (i, stream) in ["p-1", "p-2", "p-1", "p-1", "p-2"].iter().enumerate() {
        let (position, global) = app.write(stream, "t", json!({"i": i})).await;
        let expected = [0, 0, 1, 2, 1][i];
        assert_eq!(position, expected, "{stream}");
        assert!(global > last_global);
        last_global = global;
    }
}

/// F43–F47: validation failures through HTTP.
#[tokio::test]
async fn write_validation() {
    let app = spawn_app().await;
    let uuid = "0190f2c4-3b1e-7c2a-9d4e-1f2a3b4c5d6e";
    let cases = [
        (
            json!(["stream.write", "a"]),
            "stream.write requires at least 2 arguments: streamName and message",
        ),
        (
            json!(["stream.write", 5, {}]),
            "streamName must be a non-empty string",
        ),
        (
            json!(["stream.write", "", {}]),
            "streamName must be a non-empty string",
        ),
        (
            json!(["stream.write", "a", {"data": {}}]),
            "message.type must be a non-empty string",
        ),
        (
            json!(["stream.write", "a", {"type": "", "data": {}}]),
            "message.type must be a non-empty string",
        ),
        (
            json!(["stream.write", "a", {"type": "t", "data": []}]),
            "message.data must be an object",
        ),
        (
            json!(["stream.write", "a", {"type": "t", "data": 1}]),
            "message.data must be an object",
        ),
        (
            json!(["stream.write", "a", {"type": "t", "data": null}]),
            "message.data must be an object",
        ),
        (
            json!(["stream.write", "a", {"type": "t"}]),
            "message.data must be an object",
        ),
        (
            json!(["stream.write", "a", {"type": "t", "data": {}, "metadata": "x"}]),
            "message.metadata must be an object",
        ),
        (
            json!(["stream.write", "a", {"type": "t", "data": {}}, {"id": 5}]),
            "options.id must be a string",
        ),
        (
            json!(["stream.write", "a", {"type": "t", "data": {}}, {"id": "nope"}]),
            "options.id must be a UUID",
        ),
        (
            json!(["stream.write", "a", {"type": "t", "data": {}}, {"id": format!("urn:uuid:{uuid}")}]),
            "options.id must be a UUID",
        ),
        (
            json!(["stream.write", "a", {"type": "t", "data": {}}, {"expectedVersion": "1"}]),
            "options.expectedVersion must be a number",
        ),
        (
            json!(["stream.write", "a\u{0}b", {"type": "t", "data": {}}]),
            "streamName must not contain NUL characters",
        ),
    ];
    for (call, message) in cases {
        app.rpc_as(T, call)
            .await
            .error(400, "INVALID_REQUEST", message);
    }
    // No side effects.
    assert_eq!(
        app.call(json!(["ns.info", "default"])).await["messageCount"],
        0
    );
    // F45: null metadata is accepted and reads back as null; {} stays {}.
    app.call(json!(["stream.write", "meta-1", {"type": "t", "data": {}, "metadata": null}]))
        .await;
    app.call(json!(["stream.write", "meta-1", {"type": "t", "data": {}, "metadata": {}}]))
        .await;
    let back = app.call(json!(["stream.get", "meta-1"])).await;
    assert_eq!(back[0][5], Value::Null);
    assert_eq!(back[1][5], json!({}));
}

/// F48, F49: version conflicts.
#[tokio::test]
async fn expected_version() {
    let app = spawn_app().await;
    let write = |ev: i64| json!(["stream.write", "ev-1", {"type": "t", "data": {}}, {"expectedVersion": ev}]);
    assert_eq!(app.call(write(-1)).await["position"], 0);
    let e = app.rpc_as(T, write(-1)).await.error(
        409,
        "STREAM_VERSION_CONFLICT",
        "Expected version -1, stream is at version 0",
    );
    assert_eq!(
        e["details"],
        json!({"actual": 0, "expected": -1, "stream": "ev-1"})
    );
    assert_eq!(app.call(write(0)).await["position"], 1);
    let e = app
        .rpc_as(
            T,
            json!(["stream.write", "missing-1", {"type": "t", "data": {}}, {"expectedVersion": 0}]),
        )
        .await
        .error(
            409,
            "STREAM_VERSION_CONFLICT",
            "Expected version 0, stream is at version -1",
        );
    assert_eq!(
        e["details"],
        json!({"actual": -1, "expected": 0, "stream": "missing-1"})
    );
}

/// F50: of 10 concurrent writes with the same expectedVersion, one wins.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_expected_version_has_one_winner() {
    let app = spawn_app().await;
    app.write("race-1", "t", json!({})).await;
    let calls = (0..10).map(|i| {
        app.rpc_as(T, json!(["stream.write", "race-1", {"type": "t", "data": {"i": i}}, {"expectedVersion": 0}]))
    });
    let answers = futures::future::join_all(calls).await;
    let ok = answers.iter().filter(|a| a.status == 200).count();
    let conflicts = answers.iter().filter(|a| a.status == 409).count();
    assert_eq!((ok, conflicts), (1, 9));
}

/// F51: 100 concurrent writes to one stream all succeed with positions 0–99.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writes_to_one_stream() {
    let app = spawn_app().await;
    let calls = (0..100).map(|i| {
        app.rpc_as(
            T,
            json!(["stream.write", "many-1", {"type": "t", "data": {"i": i}}]),
        )
    });
    let answers = futures::future::join_all(calls).await;
    let positions: HashSet<i64> = answers
        .iter()
        .map(|a| {
            assert_eq!(a.status, 200, "{}", a.body);
            a.json()["position"].as_i64().unwrap()
        })
        .collect();
    assert_eq!(positions, (0..100).collect());
}

/// F52, F53: generated ids are UUIDv7 lowercase; supplied ids come back canonical.
#[tokio::test]
async fn message_ids() {
    let app = spawn_app().await;
    app.write("id-1", "t", json!({})).await;
    let canonical = "0190f2c4-3b1e-7c2a-9d4e-1f2a3b4c5d6e";
    let forms = [
        canonical.to_uppercase(),
        format!("{{{}}}", "0190f2c4-3b1e-7c2a-9d4e-1f2a3b4c5d6f"),
        "0190F2C43B1E7C2A9D4E1F2A3B4C5D70".to_owned(),
    ];
    for id in &forms {
        app.call(json!(["stream.write", "id-1", {"type": "t", "data": {}}, {"id": id}]))
            .await;
    }
    let back = app.call(json!(["stream.get", "id-1"])).await;
    let ids: Vec<&str> = back
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m[0].as_str().unwrap())
        .collect();
    let generated = ids[0];
    assert_eq!(generated.len(), 36);
    assert_eq!(&generated[14..15], "7", "version 7");
    assert_eq!(generated, generated.to_lowercase());
    assert_eq!(
        &ids[1..],
        [
            canonical,
            "0190f2c4-3b1e-7c2a-9d4e-1f2a3b4c5d6f",
            "0190f2c4-3b1e-7c2a-9d4e-1f2a3b4c5d70"
        ]
    );
}

/// F54, F55: idempotent retries and duplicate ids.
#[tokio::test]
async fn idempotent_retries_and_duplicates() {
    let app = spawn_app().await;
    let id = "0190f2c4-3b1e-7c2a-9d4e-1f2a3b4c5d6e";
    let first = app
        .call(json!(["stream.write", "idem-1", {"type": "T", "data": {"a": 1}}, {"id": id}]))
        .await;
    app.write("idem-1", "T", json!({})).await;
    let again = app
        .call(json!(["stream.write", "idem-1", {"type": "T", "data": {"different": true}}, {"id": id, "expectedVersion": 0}]))
        .await;
    assert_eq!(again, first);
    assert_eq!(
        app.call(json!(["stream.version", "idem-1"])).await,
        1,
        "nothing was added"
    );
    for (stream, ty) in [("idem-2", "T"), ("idem-1", "U")] {
        let e = app
            .rpc_as(T, json!(["stream.write", stream, {"type": ty, "data": {}}, {"id": id.to_uppercase()}]))
            .await
            .error(409, "DUPLICATE_MESSAGE_ID", &format!("Message id {id} already exists in stream idem-1"));
        assert_eq!(e["details"], json!({"id": id, "stream": "idem-1"}));
    }
}

/// G56–G60: stream.get.
#[tokio::test]
async fn stream_get_options() {
    let app = spawn_app().await;
    assert_eq!(
        app.call(json!(["stream.get", "nothing-1"])).await,
        json!([])
    );
    let mut globals = Vec::new();
    for i in 0..50 {
        app.write("other-1", "t", json!({})).await;
        globals.push(app.write("get-1", "T", json!({"i": i})).await.1);
    }
    let all = app
        .call(json!(["stream.get", "get-1", {"batchSize": -1}]))
        .await;
    assert_eq!(all.as_array().unwrap().len(), 50);
    let m = &all[3];
    assert_eq!(m.as_array().unwrap().len(), 7);
    assert!(m[0].is_string());
    assert_eq!(
        (m[1].clone(), m[2].clone(), m[3].clone()),
        (json!("T"), json!(3), json!(globals[3]))
    );
    assert_eq!((m[4].clone(), m[5].clone()), (json!({"i": 3}), Value::Null));
    assert!(m[6].is_string());

    let positions = |v: &Value| {
        v.as_array()
            .unwrap()
            .iter()
            .map(|m| m[2].as_i64().unwrap())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        positions(
            &app.call(json!(["stream.get", "get-1", {"position": 5, "batchSize": 3}]))
                .await
        ),
        [5, 6, 7]
    );
    assert_eq!(
        app.call(json!(["stream.get", "get-1", {"position": 100}]))
            .await,
        json!([])
    );
    assert_eq!(
        positions(
            &app.call(json!(["stream.get", "get-1", {"position": -1, "batchSize": 1}]))
                .await
        ),
        [0]
    );
    assert_eq!(
        app.call(json!(["stream.get", "get-1", {"batchSize": 10}]))
            .await
            .as_array()
            .unwrap()
            .len(),
        10
    );
    assert_eq!(
        app.call(json!(["stream.get", "get-1", {"batchSize": 0}]))
            .await,
        json!([])
    );
    assert_eq!(
        app.call(json!(["stream.get", "get-1", {"batchSize": 10000}]))
            .await
            .as_array()
            .unwrap()
            .len(),
        50
    );
    app.rpc_as(T, json!(["stream.get", "get-1", {"batchSize": 10001}]))
        .await
        .error(
            400,
            "INVALID_REQUEST",
            "options.batchSize must be <= 10000 or -1 for unlimited",
        );
    app.rpc_as(T, json!(["stream.get", "get-1", {"batchSize": -2}]))
        .await
        .error(
            400,
            "INVALID_REQUEST",
            "options.batchSize must be >= 0, or -1 for unlimited",
        );
    let by_global = app
        .call(json!(["stream.get", "get-1", {"globalPosition": globals[40], "position": 2}]))
        .await;
    assert_eq!(positions(&by_global), (40..50).collect::<Vec<_>>());
    let between = app
        .call(json!(["stream.get", "get-1", {"globalPosition": globals[40] - 1}]))
        .await;
    assert_eq!(positions(&between)[0], 40);
}

/// G61–G63: stream.last and stream.version.
#[tokio::test]
async fn last_and_version() {
    let app = spawn_app().await;
    assert_eq!(
        app.call(json!(["stream.last", "last-1"])).await,
        Value::Null
    );
    assert_eq!(
        app.call(json!(["stream.version", "last-1"])).await,
        Value::Null
    );
    for (i, ty) in ["X", "Y", "X", "Y"].iter().enumerate() {
        app.write("last-1", ty, json!({"i": i})).await;
        assert_eq!(
            app.call(json!(["stream.version", "last-1"])).await,
            i as i64
        );
    }
    let last = app.call(json!(["stream.last", "last-1"])).await;
    assert_eq!(last.as_array().unwrap().len(), 7);
    assert_eq!((last[1].clone(), last[2].clone()), (json!("Y"), json!(3)));
    let last_x = app
        .call(json!(["stream.last", "last-1", {"type": "X"}]))
        .await;
    assert_eq!(
        (last_x[1].clone(), last_x[2].clone()),
        (json!("X"), json!(2))
    );
    assert_eq!(
        app.call(json!(["stream.last", "last-1", {"type": "Z"}]))
            .await,
        Value::Null
    );
    assert_eq!(
        app.call(json!(["stream.last", "last-1", {"type": ""}]))
            .await[2],
        3
    );
    app.rpc_as(T, json!(["stream.version"])).await.error(
        400,
        "INVALID_REQUEST",
        "stream.version requires 1 argument: streamName",
    );
    let null_answer = app.rpc_as(T, json!(["stream.last", "nope-1"])).await;
    assert_eq!(null_answer.body, "null\n");
}
}
