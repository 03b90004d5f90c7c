//! SPEC §4.2–4.4, checklist group B: credentials, token parsing, verification, isolation.

use serde_json::json;

use crate::app::{on_both_backends, spawn_app, T};

on_both_backends! {
/// B12: header rules.
#[tokio::test]
async fn missing_or_malformed_headers_get_401() {
    let app = spawn_app().await;
    let cases: [(Option<&str>, &str); 5] = [
        (None, "Authorization header required"),
        (Some(""), "Authorization header required"),
        (
            Some("Basic x"),
            "Authorization header must use Bearer scheme",
        ),
        (
            Some("bearer x"),
            "Authorization header must use Bearer scheme",
        ),
        (Some("Bearer "), "Token required"),
    ];
    for (header, message) in cases {
        let mut request = app.client.post(app.url("/rpc")).body(r#"["sys.version"]"#);
        if let Some(h) = header {
            request = request.header("authorization", h);
        }
        let a = crate::app::answer(request.send().await.unwrap()).await;
        let e = a.error(401, "AUTH_REQUIRED", message);
        assert!(e.get("details").is_none());
    }
}

/// B13–B15: token parse errors, with the parser's text in `details.error`.
#[tokio::test]
async fn unparseable_tokens_get_401_with_details() {
    let app = spawn_app().await;
    let cases = [
        (
            "abc".to_owned(),
            "invalid token format: missing 'ns_' prefix",
        ),
        (
            format!("ns_ZGVmYXVsdA_{}", "0".repeat(63)),
            "invalid token format: random part must be 64 hex characters, got 63",
        ),
        (
            "ns_abcdef".to_owned(),
            "invalid token format: expected 2 parts after prefix, got 1",
        ),
        (
            format!("ns_ZGVmYXVsdA_{}", "z".repeat(64)),
            "invalid token format: random part is not valid hexadecimal",
        ),
        (
            format!("ns__{}", "0".repeat(64)),
            "invalid token format: namespace is empty",
        ),
    ];
    for (token, prefix) in cases {
        let a = app.rpc_raw(Some(&token), r#"["sys.version"]"#).await;
        let e = a.error(401, "AUTH_INVALID_TOKEN", "Invalid token format");
        let detail = e["details"]["error"].as_str().unwrap();
        assert!(detail.starts_with(prefix), "{token}: {detail}");
    }
}

/// B16: unknown namespace and wrong random part both get the same 403.
#[tokio::test]
async fn unknown_namespace_or_wrong_secret_get_403() {
    let app = spawn_app().await;
    let tenant = app.tenant("tenant-a").await;
    let wrong_secret = format!(
        "{}{}",
        &tenant[..tenant.len() - 1],
        if tenant.ends_with('0') { '1' } else { '0' }
    );
    let unknown = format!("ns_bm9wZQ_{}", "0".repeat(64)); // "nope"
    let wrong_admin = format!("ns_ZGVmYXVsdA_{}", "1".repeat(64));
    for (token, namespace) in [
        (&wrong_secret, "tenant-a"),
        (&unknown, "nope"),
        (&wrong_admin, "default"),
    ] {
        let a = app.rpc_raw(Some(token), r#"["sys.version"]"#).await;
        let e = a.error(
            403,
            "AUTH_UNAUTHORIZED",
            "Token not authorized for namespace",
        );
        assert_eq!(e["details"], json!({"namespace": namespace}));
    }
    // A decoded id that can never be a namespace id is unknown too.
    let invalid_id = format!("ns_YS9i_{}", "0".repeat(64)); // "a/b"
    let e = app
        .rpc_raw(Some(&invalid_id), r#"["sys.version"]"#)
        .await
        .error(
            403,
            "AUTH_UNAUTHORIZED",
            "Token not authorized for namespace",
        );
    assert_eq!(e["details"]["namespace"], "a/b");
    // Uppercase hex is a different token, so a different hash.
    let upper = T.replace("ZGVmYXVsdA_0000", "ZGVmYXVsdA_000A").to_owned();
    assert_eq!(
        app.rpc_raw(Some(&upper), r#"["sys.version"]"#).await.status,
        403
    );
}

/// B17 (`/rpc`), B18: the query token, first occurrence, wins over the header.
#[tokio::test]
async fn query_token_takes_precedence() {
    let app = spawn_app().await;
    let url = format!("{}?token={T}", app.url("/rpc"));
    for header in [None, Some("Basic nope"), Some("Bearer abc")] {
        let mut request = app.client.post(&url).body(r#"["sys.version"]"#);
        if let Some(h) = header {
            request = request.header("authorization", h);
        }
        assert_eq!(request.send().await.unwrap().status(), 200, "{header:?}");
    }
    let first_wins = format!("{}?token=abc&token={T}", app.url("/rpc"));
    let r = app
        .client
        .post(&first_wins)
        .bearer_auth(T)
        .body(r#"["sys.version"]"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    // An empty `token=` is absent: the header is used.
    let empty = format!("{}?token=", app.url("/rpc"));
    let r = app
        .client
        .post(&empty)
        .bearer_auth(T)
        .body(r#"["sys.version"]"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

/// B19: the same stream name in two tenants names two streams.
#[tokio::test]
async fn tenants_are_isolated() {
    let app = spawn_app().await;
    let a = app.tenant("iso-a").await;
    let b = app.tenant("iso-b").await;
    assert_eq!(
        app.write_as(&a, "account-1", "A", json!({"n": 1})).await.0,
        0
    );
    assert_eq!(
        app.write_as(&a, "account-1", "A", json!({"n": 2})).await.0,
        1
    );
    assert_eq!(
        app.write_as(&b, "account-1", "B", json!({"n": 3})).await.0,
        0
    );
    let in_a = app.call_as(&a, json!(["stream.get", "account-1"])).await;
    let in_b = app.call_as(&b, json!(["stream.get", "account-1"])).await;
    assert_eq!(in_a.as_array().unwrap().len(), 2);
    assert_eq!(in_b.as_array().unwrap().len(), 1);
    assert_eq!(in_b[0][1], "B");
    assert_eq!(in_b[0][3], 1, "global positions are per namespace");
    assert_eq!(
        app.call(json!(["stream.get", "account-1"])).await,
        json!([])
    );
}

/// A namespace re-created by another instance (here: straight through the store) accepts its new
/// token at once, although this instance has the old hash cached.
#[tokio::test]
async fn recreated_elsewhere_works_immediately() {
    let app = spawn_app().await;
    let old = app.tenant("moved").await;
    app.call_as(&old, json!(["sys.version"])).await;
    let id = messagedb_core::NamespaceId::parse("moved").unwrap();
    let new = messagedb_core::Token::generate(&id);
    let store = app.state.store();
    store.delete_namespace(&id).await.unwrap();
    store.create_namespace(&id, "", &new.hash()).await.unwrap();
    app.call_as(new.expose(), json!(["sys.version"])).await;
}
}
