//! SPEC §5.1–5.2, checklist group E, and bad input that must never crash the server.

use serde_json::json;

use crate::app::{on_both_backends, spawn_app, T};

on_both_backends! {
/// E36 and other malformed bodies: 400 with the parser's text.
#[tokio::test]
async fn malformed_bodies() {
    let app = spawn_app().await;
    let deep = format!(r#"["sys.version",{}{}]"#, "[".repeat(128), "]".repeat(128));
    let deep_data = format!(
        r#"["stream.write","d-1",{{"type":"t","data":{{"x":{}1{}}}}}]"#,
        "[".repeat(130),
        "]".repeat(130)
    );
    let bodies: Vec<Vec<u8>> = vec![
        b"{}".to_vec(),
        b"".to_vec(),
        b"[\"sys.version\"] x".to_vec(),
        b"[\"sys.version\", \xff\xfe]".to_vec(),
        b"[\"sys.version\", \"\xc3\x28\"]".to_vec(),
        br#"["sys.version","\ud800"]"#.to_vec(),
        br#"["stream.write","a",{"type":"t","data":{"k":"\udc00\ud800"}}]"#.to_vec(),
        b"\"sys.version\"".to_vec(),
        b"[\"sys.version\",]".to_vec(),
        b"[\"sys.version\" \"x\"]".to_vec(),
        deep.into_bytes(),
        deep_data.into_bytes(),
    ];
    for body in bodies {
        let shown = String::from_utf8_lossy(&body)
            .chars()
            .take(60)
            .collect::<String>();
        let a = app.rpc_raw(Some(T), body).await;
        let e = a.error(400, "INVALID_REQUEST", "Malformed JSON request");
        assert!(
            !e["details"]["error"]
                .as_str()
                .unwrap_or_default()
                .is_empty(),
            "{shown}"
        );
    }
    // 128 levels, the envelope included, are fine.
    let ok = format!(r#"["sys.version",{}{}]"#, "[".repeat(127), "]".repeat(127));
    assert_eq!(app.rpc_raw(Some(T), ok).await.status, 200);
    // The server is still there.
    assert_eq!(app.call(json!(["sys.health"])).await["status"], "ok");
}

/// E37, E38.
#[tokio::test]
async fn method_names() {
    let app = spawn_app().await;
    app.rpc_raw(Some(T), "[]")
        .await
        .error(400, "INVALID_REQUEST", "Missing method name");
    app.rpc_raw(Some(T), "null")
        .await
        .error(400, "INVALID_REQUEST", "Missing method name");
    app.rpc_raw(Some(T), "[1]")
        .await
        .error(400, "INVALID_REQUEST", "Method name must be a string");
    app.rpc_raw(Some(T), r#"[{"m":1}]"#).await.error(
        400,
        "INVALID_REQUEST",
        "Method name must be a string",
    );
    app.rpc_raw(Some(T), r#"["nope"]"#).await.error(
        404,
        "METHOD_NOT_FOUND",
        "Unknown method: nope",
    );
    app.rpc_raw(Some(T), r#"["Stream.Get","x"]"#).await.error(
        404,
        "METHOD_NOT_FOUND",
        "Unknown method: Stream.Get",
    );
    app.rpc_raw(Some(T), r#"["stream.get\u0000","x"]"#)
        .await
        .error(404, "METHOD_NOT_FOUND", "Unknown method: stream.get\u{0}");
}

/// E39–E41.
#[tokio::test]
async fn argument_conventions() {
    let app = spawn_app().await;
    for i in 0..3 {
        app.write("conv-1", "t", json!({"i": i})).await;
    }
    let extras = app
        .call(json!(["stream.get", "conv-1", {"batchSize": 2, "bogus": true}, "extra", 5]))
        .await;
    assert_eq!(extras.as_array().unwrap().len(), 2);
    assert_eq!(
        app.call(json!(["sys.version", 1, 2, 3])).await,
        messagedb_core::VERSION
    );
    app.rpc_as(T, json!(["stream.get", "conv-1", null]))
        .await
        .error(400, "INVALID_REQUEST", "options must be an object");
    let truncated = app
        .call(json!(["stream.get", "conv-1", {"batchSize": 1.9}]))
        .await;
    assert_eq!(truncated.as_array().unwrap().len(), 1);
    let from = app
        .call(json!(["stream.get", "conv-1", {"position": 1.9}]))
        .await;
    assert_eq!(from[0][2], 1);
    // Huge numbers saturate instead of failing.
    let big = app
        .rpc_raw(Some(T), r#"["stream.get","conv-1",{"position":1e30}]"#)
        .await;
    assert_eq!((big.status, big.body.as_str()), (200, "[]\n"));
    let big = app
        .rpc_raw(
            Some(T),
            r#"["stream.get","conv-1",{"position":99999999999999999999}]"#,
        )
        .await;
    assert_eq!((big.status, big.body.as_str()), (200, "[]\n"));
}

/// Wrong types, NUL characters and unknown methods never take the server down.
#[tokio::test]
async fn hostile_arguments_are_rejected_cleanly() {
    let app = spawn_app().await;
    let cases = [
        (
            r#"["stream.write",{},{}]"#,
            "streamName must be a non-empty string",
        ),
        (
            r#"["stream.write","a\u0000",{}]"#,
            "streamName must not contain NUL characters",
        ),
        (
            r#"["stream.write","a",{"type":"t\u0000","data":{}}]"#,
            "message.type must not contain NUL characters",
        ),
        (
            r#"["stream.get","a",{"batchSize":"x"}]"#,
            "options.batchSize must be a number",
        ),
        (
            r#"["category.get","a\u0000"]"#,
            "categoryName must not contain NUL characters",
        ),
        (
            r#"["category.get","a",{"correlation":"\u0000"}]"#,
            "options.correlation must not contain NUL characters",
        ),
        (
            r#"["stream.last","a",{"type":"\u0000"}]"#,
            "options.type must not contain NUL characters",
        ),
        (
            r#"["ns.create","x",{"description":"\u0000"}]"#,
            "options.description must not contain NUL characters",
        ),
        (
            r#"["ns.streams",{"prefix":"\u0000"}]"#,
            "prefix must not contain NUL characters",
        ),
        (
            r#"["ns.streams",{"cursor":"\u0000"}]"#,
            "cursor must not contain NUL characters",
        ),
        (
            r#"["stream.version",[]]"#,
            "streamName must be a non-empty string",
        ),
    ];
    for (body, message) in cases {
        app.rpc_raw(Some(T), body)
            .await
            .error(400, "INVALID_REQUEST", message);
    }
    // NUL inside data is just data.
    let written = app
        .rpc_raw(
            Some(T),
            r#"["stream.write","nul-1",{"type":"t","data":{"s":"a\u0000b"}}]"#,
        )
        .await;
    assert_eq!(written.status, 200);
    let back = app.rpc_raw(Some(T), r#"["stream.get","nul-1"]"#).await;
    assert!(back.body.contains(r#"{"s":"a\u0000b"}"#), "{}", back.body);
}
}
