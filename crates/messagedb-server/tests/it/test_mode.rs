//! SPEC §4.7, checklist D31–D33: test-mode authentication, in process.

use messagedb_server::ServerConfig;
use serde_json::json;

use crate::app::{spawn_with, T};

fn test_mode() -> ServerConfig {
    ServerConfig {
        test_mode: true,
        ..ServerConfig::default()
    }
}

/// D31: no credentials, a malformed token, or a token for an impossible id act as admin.
#[tokio::test]
async fn anonymous_callers_are_admin_on_default() {
    let app = spawn_with(test_mode()).await;
    let impossible = format!("ns_YS9i_{}", "0".repeat(64)); // "a/b"
    for token in [None, Some("abc"), Some("ns_x"), Some(impossible.as_str())] {
        let a = app
            .rpc_raw(
                token,
                json!(["stream.write", "anon-1", {"type": "t", "data": {}}]).to_string(),
            )
            .await;
        assert_eq!(a.status, 200, "{token:?}: {}", a.body);
        let list = app.rpc_raw(token, r#"["ns.list"]"#).await;
        assert_eq!(list.status, 200, "admin rights for {token:?}");
    }
    for header in ["Basic x", "Bearer "] {
        let a = app
            .client
            .post(app.url("/rpc"))
            .header("authorization", header)
            .body(r#"["ns.list"]"#)
            .send()
            .await
            .unwrap();
        assert_eq!(a.status(), 200);
    }
    // The writes went to `default`.
    assert_eq!(app.call(json!(["stream.version", "anon-1"])).await, 3);
}

/// D32: an unknown well-formed token creates its namespace (not admin).
#[tokio::test]
async fn unknown_tokens_auto_create_their_namespace() {
    let app = spawn_with(test_mode()).await;
    let token = format!("ns_dGVzdC1ucw_{}", "ab".repeat(32)); // "test-ns"
    let written = app
        .call_as(
            &token,
            json!(["stream.write", "x-1", {"type": "t", "data": {}}]),
        )
        .await;
    assert_eq!(written, json!({"globalPosition": 1, "position": 0}));
    let info = app.call(json!(["ns.info", "test-ns"])).await;
    assert_eq!(info["description"], "Auto-created in test mode");
    assert_eq!(info["messageCount"], 1);
    app.rpc_as(&token, json!(["ns.list"])).await.error(
        403,
        "AUTH_UNAUTHORIZED",
        "Admin token required",
    );

    // Concurrent first uses create it once and all succeed.
    let racing = format!("ns_cmFjZQ_{}", "cd".repeat(32)); // "race"
    let calls = (0..8).map(|_| {
        app.rpc_as(
            &racing,
            json!(["stream.write", "r-1", {"type": "t", "data": {}}]),
        )
    });
    for a in futures::future::join_all(calls).await {
        assert_eq!(a.status, 200, "{}", a.body);
    }
    assert_eq!(
        app.call(json!(["ns.info", "race"])).await["messageCount"],
        8
    );

    // A deleted namespace's token re-creates it empty.
    app.call(json!(["ns.delete", "test-ns"])).await;
    assert_eq!(
        app.call_as(&token, json!(["stream.version", "x-1"])).await,
        json!(null)
    );
}

/// D33: a wrong token for an existing namespace is still 403.
#[tokio::test]
async fn wrong_token_for_existing_namespace_is_403() {
    let app = spawn_with(test_mode()).await;
    let tenant = app.tenant("d33").await;
    let wrong = format!("{}{}", &tenant[..tenant.len() - 64], "0".repeat(64));
    app.rpc_as(&wrong, json!(["sys.version"])).await.error(
        403,
        "AUTH_UNAUTHORIZED",
        "Token not authorized for namespace",
    );
    let wrong_admin = T.replace("0000000000", "1111111111");
    app.rpc_as(&wrong_admin, json!(["sys.version"]))
        .await
        .error(
            403,
            "AUTH_UNAUTHORIZED",
            "Token not authorized for namespace",
        );
    app.call_as(&tenant, json!(["sys.version"])).await;
}
