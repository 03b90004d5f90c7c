//! SPEC §4.5, checklist group C: what admin and tenants may do.

use serde_json::json;

use crate::app::{on_both_backends, spawn_app, T};

on_both_backends! {
/// C20: admin manages namespaces.
#[tokio::test]
async fn admin_manages_namespaces() {
    let app = spawn_app().await;
    app.tenant("c20").await;
    let list = app.call(json!(["ns.list"])).await;
    assert!(list
        .as_array()
        .unwrap()
        .iter()
        .any(|n| n["namespace"] == "c20"));
    assert_eq!(
        app.call(json!(["ns.info", "c20"])).await["namespace"],
        "c20"
    );
    assert_eq!(
        app.call(json!(["ns.info", "default"])).await["namespace"],
        "default"
    );
    assert_eq!(
        app.call(json!(["ns.delete", "c20"])).await["namespace"],
        "c20"
    );
}

/// C21, C23: tenants get 403 for admin methods, but 400 first for bad arguments.
#[tokio::test]
async fn tenants_cannot_manage_namespaces() {
    let app = spawn_app().await;
    let tenant = app.tenant("c21").await;
    app.tenant("other").await;
    for call in [
        json!(["ns.create", "x1"]),
        json!(["ns.delete", "other"]),
        json!(["ns.list"]),
    ] {
        app.rpc_as(&tenant, call)
            .await
            .error(403, "AUTH_UNAUTHORIZED", "Admin token required");
    }
    let malformed = [
        (
            json!(["ns.create"]),
            "ns.create requires at least 1 argument: namespace ID",
        ),
        (
            json!(["ns.create", "a/b"]),
            "namespace ID must match [A-Za-z0-9][A-Za-z0-9._-]{0,127}",
        ),
        (
            json!(["ns.create", "x", {"token": 1}]),
            "options.token must be a string",
        ),
        (
            json!(["ns.delete"]),
            "ns.delete requires 1 argument: namespace ID",
        ),
        (
            json!(["ns.delete", "default"]),
            "Cannot delete the default namespace",
        ),
    ];
    for (call, message) in malformed {
        app.rpc_as(&tenant, call)
            .await
            .error(400, "INVALID_REQUEST", message);
    }
}

/// C22: a tenant's `ns.info` of itself works; of any other id, existing or not, is 403.
#[tokio::test]
async fn tenant_info_is_own_only() {
    let app = spawn_app().await;
    let tenant = app.tenant("c22").await;
    app.tenant("c22-other").await;
    let own = app.call_as(&tenant, json!(["ns.info", "c22"])).await;
    assert_eq!(own["namespace"], "c22");
    for id in ["c22-other", "does-not-exist", "default"] {
        app.rpc_as(&tenant, json!(["ns.info", id])).await.error(
            403,
            "AUTH_UNAUTHORIZED",
            "Admin token required",
        );
    }
}

/// C24: listings show only the caller's namespace; admin writes land in `default`.
#[tokio::test]
async fn listings_are_per_namespace() {
    let app = spawn_app().await;
    let tenant = app.tenant("c24").await;
    app.write("admin-1", "t", json!({})).await;
    app.write_as(&tenant, "tenant-1", "t", json!({})).await;
    let admin_streams = app.call(json!(["ns.streams"])).await;
    let tenant_streams = app.call_as(&tenant, json!(["ns.streams"])).await;
    assert_eq!(admin_streams.as_array().unwrap().len(), 1);
    assert_eq!(admin_streams[0]["stream"], "admin-1");
    assert_eq!(tenant_streams[0]["stream"], "tenant-1");
    assert_eq!(tenant_streams.as_array().unwrap().len(), 1);
    let cats = app.call_as(&tenant, json!(["ns.categories"])).await;
    assert_eq!(
        cats,
        json!([{"category": "tenant", "messageCount": 1, "streamCount": 1}])
    );
    let default = app.call(json!(["ns.info", "default"])).await;
    assert_eq!(default["messageCount"], 1);
}

/// C25.
#[tokio::test]
async fn default_cannot_be_deleted() {
    let app = spawn_app().await;
    app.rpc_as(T, json!(["ns.delete", "default"])).await.error(
        400,
        "INVALID_REQUEST",
        "Cannot delete the default namespace",
    );
    assert_eq!(
        app.call(json!(["ns.info", "default"])).await["namespace"],
        "default"
    );
}
}
