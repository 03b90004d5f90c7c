//! SPEC §6.8–6.13, checklist group I: namespace management and listings.

use messagedb_core::{NamespaceId, Token};
use serde_json::{json, Value};

use crate::app::{on_both_backends, spawn_app, T};

on_both_backends! {
/// I74, I75.
#[tokio::test]
async fn create_returns_a_working_token() {
    let app = spawn_app().await;
    let created = app
        .call(json!(["ns.create", "tenant-a", {"description": "A"}]))
        .await;
    let keys: Vec<&String> = created.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["createdAt", "namespace", "token"]);
    assert_eq!(created["namespace"], "tenant-a");
    let token = created["token"].as_str().unwrap();
    assert!(token.starts_with("ns_dGVuYW50LWE_"));
    assert_eq!(Token::parse(token).unwrap().namespace(), "tenant-a");
    app.call_as(token, json!(["sys.version"])).await;

    let custom = Token::generate(&NamespaceId::parse("tenant-b").unwrap());
    let created = app
        .call(json!(["ns.create", "tenant-b", {"token": custom.expose()}]))
        .await;
    assert_eq!(created["token"], custom.expose());
    assert_eq!(
        app.call_as(custom.expose(), json!(["ns.info", "tenant-b"]))
            .await["namespace"],
        "tenant-b"
    );
}

/// I76–I78.
#[tokio::test]
async fn create_validation_and_conflicts() {
    let app = spawn_app().await;
    app.rpc_as(T, json!(["ns.create", "x", {"token": T}]))
        .await
        .error(
            400,
            "INVALID_REQUEST",
            "Token is for namespace 'default', not 'x'",
        );
    app.rpc_as(T, json!(["ns.create", "x", {"token": "abc"}]))
        .await
        .error(
            400,
            "INVALID_REQUEST",
            "Invalid token format: invalid token format: missing 'ns_' prefix",
        );
    app.tenant("dup").await;
    app.rpc_as(T, json!(["ns.create", "dup"])).await.error(
        409,
        "NAMESPACE_EXISTS",
        "Namespace 'dup' already exists",
    );
    let long = "x".repeat(129);
    for id in ["a/b", ".x", long.as_str()] {
        app.rpc_as(T, json!(["ns.create", id])).await.error(
            400,
            "INVALID_REQUEST",
            "namespace ID must match [A-Za-z0-9][A-Za-z0-9._-]{0,127}",
        );
    }
    app.tenant(&"y".repeat(128)).await;
}

/// I79: ids are case-sensitive.
#[tokio::test]
async fn case_distinct_ids_are_isolated() {
    let app = spawn_app().await;
    let upper = app.tenant("Tenant").await;
    let lower = app.tenant("tenant").await;
    app.write_as(&upper, "s-1", "T", json!({})).await;
    assert_eq!(
        app.call_as(&lower, json!(["stream.get", "s-1"])).await,
        json!([])
    );
    app.rpc_as(&upper, json!(["ns.info", "tenant"]))
        .await
        .error(403, "AUTH_UNAUTHORIZED", "Admin token required");
}

/// I80, I81.
#[tokio::test]
async fn info_counts() {
    let app = spawn_app().await;
    app.call(json!(["ns.create", "info", {"description": "the info one"}]))
        .await;
    let fresh = app.call(json!(["ns.info", "info"])).await;
    let keys: Vec<&String> = fresh.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        [
            "createdAt",
            "description",
            "lastActivity",
            "messageCount",
            "namespace",
            "streamCount"
        ]
    );
    assert_eq!(
        (
            fresh["messageCount"].clone(),
            fresh["streamCount"].clone(),
            fresh["lastActivity"].clone(),
            fresh["description"].clone()
        ),
        (json!(0), json!(0), Value::Null, json!("the info one"))
    );
    let token = app.tenant("info-2").await;
    for stream in ["a-1", "a-2", "b-1", "a-1", "b-1", "a-2"] {
        app.write_as(&token, stream, "T", json!({})).await;
    }
    let info = app.call(json!(["ns.info", "info-2"])).await;
    assert_eq!(
        (info["messageCount"].clone(), info["streamCount"].clone()),
        (json!(6), json!(3))
    );
    let last = app.call_as(&token, json!(["stream.last", "a-2"])).await;
    assert_eq!(info["lastActivity"], last[6]);
    app.rpc_as(T, json!(["ns.info", "missing"])).await.error(
        404,
        "NAMESPACE_NOT_FOUND",
        "Namespace 'missing' not found",
    );
}

/// I82: every namespace, newest first, with real counts.
#[tokio::test]
async fn list_is_sorted_with_counts() {
    let app = spawn_app().await;
    let a = app.tenant("list-a").await;
    app.tenant("list-b").await;
    app.write_as(&a, "s-1", "T", json!({})).await;
    app.write_as(&a, "s-2", "T", json!({})).await;
    let list = app.call(json!(["ns.list"])).await;
    let rows = list.as_array().unwrap();
    assert_eq!(rows.len(), 3);
    let keys: Vec<&String> = rows[0].as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        ["createdAt", "description", "messageCount", "namespace"]
    );
    let ids: Vec<&str> = rows
        .iter()
        .map(|r| r["namespace"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["list-b", "list-a", "default"]);
    assert_eq!(rows[1]["messageCount"], 2);
    assert_eq!(rows[2]["description"], "Default namespace");
    let times: Vec<&str> = rows
        .iter()
        .map(|r| r["createdAt"].as_str().unwrap())
        .collect();
    assert!(times.windows(2).all(|w| w[0] >= w[1]), "{times:?}");
    assert!(!list.to_string().contains("token"));
}

/// I83–I86.
#[tokio::test]
async fn delete_and_recreate() {
    let app = spawn_app().await;
    let token = app.tenant("gone").await;
    for i in 0..3 {
        app.write_as(&token, "s-1", "T", json!({"i": i})).await;
    }
    let deleted = app.call(json!(["ns.delete", "gone"])).await;
    let keys: Vec<&String> = deleted.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["deletedAt", "messagesDeleted", "namespace"]);
    assert_eq!(
        (
            deleted["messagesDeleted"].clone(),
            deleted["namespace"].clone()
        ),
        (json!(3), json!("gone"))
    );
    app.rpc_as(&token, json!(["sys.version"])).await.error(
        403,
        "AUTH_UNAUTHORIZED",
        "Token not authorized for namespace",
    );
    app.rpc_as(T, json!(["ns.info", "gone"])).await.error(
        404,
        "NAMESPACE_NOT_FOUND",
        "Namespace 'gone' not found",
    );
    app.rpc_as(T, json!(["ns.delete", "gone"])).await.error(
        404,
        "NAMESPACE_NOT_FOUND",
        "Namespace 'gone' not found",
    );
    let again = app.tenant("gone").await;
    assert_eq!(
        app.call_as(&again, json!(["stream.get", "s-1"])).await,
        json!([])
    );
    assert_eq!(app.write_as(&again, "s-1", "T", json!({})).await, (0, 1));

    let creates = (0..10).map(|i| app.rpc_as(T, json!(["ns.create", format!("par-{i}")])));
    for a in futures::future::join_all(creates).await {
        assert_eq!(a.status, 200, "{}", a.body);
    }
}

/// I87, I88: ns.streams.
#[tokio::test]
async fn streams_listing_and_paging() {
    let app = spawn_app().await;
    for stream in ["b-1", "acc-2", "a%c-1", "a_c-1", "acc-1", "abc-1", "acc-1"] {
        app.write(stream, "T", json!({})).await;
    }
    let all = app.call(json!(["ns.streams", {"prefix": ""}])).await;
    let names: Vec<&str> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["stream"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["a%c-1", "a_c-1", "abc-1", "acc-1", "acc-2", "b-1"]);
    let row = &all[3];
    let keys: Vec<&String> = row.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["lastActivity", "stream", "version"]);
    assert_eq!(row["version"], 1);
    let acc = app.call(json!(["ns.streams", {"prefix": "acc"}])).await;
    assert_eq!(acc.as_array().unwrap().len(), 2);
    let literal = app.call(json!(["ns.streams", {"prefix": "a%"}])).await;
    assert_eq!(literal[0]["stream"], "a%c-1");
    assert_eq!(literal.as_array().unwrap().len(), 1);
    let underscore = app.call(json!(["ns.streams", {"prefix": "a_"}])).await;
    assert_eq!(underscore.as_array().unwrap().len(), 1);

    let mut cursor = String::new();
    let mut paged = Vec::new();
    loop {
        let page = app
            .call(json!(["ns.streams", {"limit": 2, "cursor": cursor}]))
            .await;
        let page = page.as_array().unwrap().clone();
        if page.is_empty() {
            break;
        }
        assert!(page.len() <= 2);
        cursor = page.last().unwrap()["stream"].as_str().unwrap().to_owned();
        paged.extend(
            page.into_iter()
                .map(|s| s["stream"].as_str().unwrap().to_owned()),
        );
    }
    assert_eq!(paged, names);
    app.rpc_as(T, json!(["ns.streams", {"limit": 0}]))
        .await
        .error(400, "INVALID_REQUEST", "limit must be between 1 and 1000");
}

/// I89: ns.categories.
#[tokio::test]
async fn categories_listing() {
    let app = spawn_app().await;
    assert_eq!(app.call(json!(["ns.categories"])).await, json!([]));
    for stream in ["b-1", "a-1", "a-2", "a-1", "solo", "b-1"] {
        app.write(stream, "T", json!({})).await;
    }
    let cats = app.call(json!(["ns.categories", "ignored"])).await;
    assert_eq!(
        cats,
        json!([
            {"category": "a", "messageCount": 3, "streamCount": 2},
            {"category": "b", "messageCount": 2, "streamCount": 1},
            {"category": "solo", "messageCount": 1, "streamCount": 1},
        ])
    );
}
}
