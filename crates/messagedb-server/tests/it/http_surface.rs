//! SPEC §3 and checklist group A: fixed endpoints, headers, routing, limits, metrics, debug.

use messagedb_core::VERSION;
use messagedb_server::ServerConfig;
use reqwest::Method;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::app::{on_both_backends, spawn_app, spawn_with, T};

/// Serialises the tests that take a CPU profile (see `debug_endpoints`).
static PROFILE_TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Sends `request` on a fresh connection and returns everything the server answers until it
/// closes the connection.
async fn raw_exchange(addr: std::net::SocketAddr, request: &[u8]) -> String {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(request).await.unwrap();
    let mut received = Vec::new();
    let _ = stream.read_to_end(&mut received).await;
    String::from_utf8_lossy(&received).into_owned()
}

/// The heads of the responses in `text`, in order: the `HTTP/1.1 …` line up to the blank line.
fn response_heads(text: &str) -> Vec<&str> {
    text.match_indices("HTTP/1.1 ")
        .filter_map(|(at, _)| text[at..].split("\r\n\r\n").next())
        .collect()
}

on_both_backends! {
/// A1, A2, A3, A7.
#[tokio::test]
async fn health_and_version_bodies_are_exact() {
    let app = spawn_app().await;
    for method in [Method::GET, Method::POST, Method::DELETE] {
        let health = app.send(method.clone(), "/health", None, "").await;
        assert_eq!(health.status, 200);
        assert_eq!(health.header("content-type"), Some("application/json"));
        assert_eq!(health.body, r#"{"status":"ok"}"#);
        let version = app.send(method, "/version?x=1", None, "").await;
        assert_eq!(version.status, 200);
        assert_eq!(version.header("content-type"), Some("application/json"));
        assert_eq!(version.body, format!(r#"{{"version":"{VERSION}"}}"#));
    }
    let rpc = app.call(json!(["sys.version"])).await;
    assert_eq!(rpc, VERSION);
    let parts: Vec<&str> = VERSION.split('.').collect();
    assert!(parts.len() >= 3 && parts[..3].iter().all(|p| p.parse::<u64>().is_ok()));
}

/// A3: the `Server` header is on every kind of response.
#[tokio::test]
async fn every_response_has_the_server_header() {
    let app = spawn_app().await;
    let expected = format!("messagedb/{VERSION}");
    let answers = [
        app.send(Method::GET, "/health", None, "").await,
        app.send(Method::GET, "/version", None, "").await,
        app.send(Method::GET, "/nope", None, "").await,
        app.send(Method::GET, "/metrics", None, "").await,
        app.send(Method::GET, "/rpc", None, "").await,
        app.send(Method::GET, "/rpc", Some(T), "").await,
        app.rpc_raw(Some(T), r#"["sys.version"]"#).await,
        app.rpc_raw(Some(T), "{}").await,
        app.rpc_raw(Some(T), r#"["nope"]"#).await,
        app.rpc_raw(Some("abc"), r#"["sys.version"]"#).await,
    ];
    for a in answers {
        assert_eq!(a.header("server"), Some(expected.as_str()), "{a:?}");
    }
}

/// A4: unknown paths, including near misses, get the exact 404.
#[tokio::test]
async fn unknown_paths_get_the_exact_404() {
    let app = spawn_app().await;
    for path in [
        "/nope",
        "/rpc/",
        "/RPC",
        "/health/",
        "/",
        "/debug/pprof/profile",
        "/subscribex",
    ] {
        let a = app.send(Method::GET, path, Some(T), "").await;
        assert_eq!(a.status, 404, "{path}");
        assert_eq!(a.header("content-type"), Some("application/json"));
        assert_eq!(
            a.body,
            r#"{"error":{"code":"NOT_FOUND","message":"Endpoint not found"}}"#
        );
    }
}

/// A5: authentication runs before the method check.
#[tokio::test]
async fn rpc_rejects_other_methods_after_auth() {
    let app = spawn_app().await;
    for method in [Method::GET, Method::PUT, Method::DELETE, Method::OPTIONS] {
        let a = app.send(method.clone(), "/rpc", Some(T), "").await;
        a.error(405, "INVALID_REQUEST", "Only POST method allowed");
        assert_eq!(a.header("allow"), Some("POST"));
        let a = app.send(method.clone(), "/rpc", None, "").await;
        a.error(401, "AUTH_REQUIRED", "Authorization header required");
        let a = app.send(method, "/rpc", Some("ns_eA_0"), "").await;
        assert_eq!(a.status, 401);
    }
}

/// A6: the body limit, exactly at and one past 16 MiB.
#[tokio::test]
async fn body_limit_is_sixteen_mebibytes() {
    let app = spawn_app().await;
    let limit = ServerConfig::default().max_body_bytes;
    assert_eq!(limit, 16 * 1024 * 1024);
    let body_of = |len: usize| {
        let head = r#"["stream.write","big-1",{"type":"t","data":{"s":""#;
        let tail = r#""}}]"#;
        let mut body = String::with_capacity(len);
        body.push_str(head);
        body.push_str(&"x".repeat(len - head.len() - tail.len()));
        body.push_str(tail);
        assert_eq!(body.len(), len);
        body
    };
    let over = app.rpc_raw(Some(T), body_of(limit + 1)).await;
    assert_eq!(over.status, 413);
    assert_eq!(
        over.body,
        format!(
            r#"{{"error":{{"code":"PAYLOAD_TOO_LARGE","message":"Request body exceeds {limit} bytes"}}}}"#
        ) + "\n"
    );
    assert_eq!(
        app.call(json!(["stream.version", "big-1"])).await,
        json!(null)
    );
    let at = app.rpc_raw(Some(T), body_of(limit)).await;
    assert_eq!(at.status, 200, "{}", at.body);
    assert_eq!(app.call(json!(["stream.version", "big-1"])).await, json!(0));
}

/// A smaller configured limit is reported in the message, and chunked bodies count too.
#[tokio::test]
async fn configured_limit_applies_to_chunked_bodies() {
    let app = spawn_with(ServerConfig {
        max_body_bytes: 100,
        ..ServerConfig::default()
    })
    .await;
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> = (0..20)
        .map(|_| Ok(b"[\"sys.version\",\"xxxxxxxxxxxxxxxxx\"]".to_vec()))
        .collect();
    let body = reqwest::Body::wrap_stream(futures::stream::iter(chunks));
    let a = app.rpc_raw(Some(T), body).await;
    a.error(413, "PAYLOAD_TOO_LARGE", "Request body exceeds 100 bytes");
    let chunks: Vec<Result<&'static [u8], std::io::Error>> =
        vec![Ok(b"[\"sys."), Ok(b"version\""), Ok(b"]")];
    let body = reqwest::Body::wrap_stream(futures::stream::iter(chunks));
    let a = app.rpc_raw(Some(T), body).await;
    assert_eq!(
        (a.status, a.body.as_str()),
        (200, format!("\"{VERSION}\"\n").as_str())
    );
}

/// A8 (the `/rpc` half): no CORS header on RPC answers.
#[tokio::test]
async fn rpc_answers_carry_no_cors_header() {
    let app = spawn_app().await;
    for a in [
        app.rpc_raw(Some(T), r#"["sys.version"]"#).await,
        app.rpc_raw(None, r#"["sys.version"]"#).await,
    ] {
        assert!(a.header("access-control-allow-origin").is_none());
    }
}

/// Header blocks of 16 KiB and more are accepted; oversized ones get 431.
#[tokio::test]
async fn large_header_blocks() {
    let app = spawn_app().await;
    let big = "x".repeat(20 * 1024);
    let ok = app
        .client
        .post(app.url("/rpc"))
        .bearer_auth(T)
        .header("x-padding", &big)
        .body(r#"["sys.version"]"#)
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);

    // Raw TCP, so that the server closing right after its answer cannot hide the answer.
    let mut stream = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    let request = format!(
        "POST /rpc HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {T}\r\nx-padding: {}\r\ncontent-length: 15\r\n\r\n[\"sys.version\"]",
        "x".repeat(100 * 1024)
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut received = Vec::new();
    let _ = stream.read_to_end(&mut received).await;
    let text = String::from_utf8_lossy(&received);
    assert!(text.starts_with("HTTP/1.1 431"), "{text}");
}

/// A3 for the answers hyper writes itself, without calling the service: 400 for a request it
/// cannot parse, 431 for an oversized head, also after a request served on the same connection.
#[tokio::test]
async fn responses_to_unparsable_requests_have_the_server_header() {
    let app = spawn_app().await;
    let server = format!("\r\nserver: messagedb/{VERSION}\r\n");
    let oversized = format!(
        "GET /health HTTP/1.1\r\nhost: x\r\nx-padding: {}\r\n\r\n",
        "x".repeat(100 * 1024)
    );
    let cases: [(&[u8], &[&str]); 4] = [
        (b"GARBAGE\r\n\r\n", &["400"]),
        (oversized.as_bytes(), &["431"]),
        (
            b"GET /health HTTP/1.1\r\nhost: x\r\n\r\nNOT HTTP AT ALL\r\n\r\n",
            &["200", "400"],
        ),
        (b"GET /health HTTP/1.1\r\nhost: x\r\nbad header\r\n\r\n", &["400"]),
    ];
    for (request, statuses) in cases {
        let text = raw_exchange(app.addr, request).await;
        let heads = response_heads(&text);
        assert_eq!(heads.len(), statuses.len(), "{text}");
        for (head, status) in heads.iter().zip(statuses) {
            assert!(head.starts_with(&format!("HTTP/1.1 {status} ")), "{text}");
            assert_eq!(
                format!("{head}\r\n").matches(&server).count(),
                1,
                "one Server header in {head:?}"
            );
        }
    }
}

/// A10: `/metrics` without auth, and 404 when disabled.
#[tokio::test]
async fn metrics_endpoint() {
    let app = spawn_app().await;
    app.write("m-1", "t", json!({})).await;
    let a = app.send(Method::GET, "/metrics", None, "").await;
    assert_eq!(a.status, 200);
    assert_eq!(a.header("content-type"), Some("text/plain; version=0.0.4"));
    assert!(
        a.body.contains(&format!(
            "messagedb_build_info{{version=\"{VERSION}\"}} 1\n"
        )),
        "{}",
        a.body
    );
    assert!(a.body.contains("messagedb_sse_subscriptions 0\n"));
    assert!(a.body.contains("messagedb_namespaces 1\n"));
    assert!(a.body.contains("messagedb_messages_written_total"));
    assert!(
        a.body
            .contains("messagedb_rpc_requests_total{method=\"stream.write\",code=\"ok\"}"),
        "{}",
        a.body
    );
    assert!(a.body.contains("messagedb_rpc_request_duration_seconds"));
    assert!(!a.body.contains("m-1"), "stream names are never labels");

    // The subscription gauge is per instance.
    let guard = app.state.track_subscription();
    let a = app.send(Method::GET, "/metrics", None, "").await;
    assert!(a.body.contains("messagedb_sse_subscriptions 1\n"));
    let health = app.call(json!(["sys.health"])).await;
    assert_eq!(
        health,
        json!({"backend": app.state.store().backend_name(), "connections": 1, "status": "ok"})
    );
    drop(guard);

    let disabled = spawn_with(ServerConfig {
        metrics: false,
        ..ServerConfig::default()
    })
    .await;
    let a = disabled.send(Method::GET, "/metrics", None, "").await;
    assert_eq!(
        (a.status, a.body.as_str()),
        (
            404,
            r#"{"error":{"code":"NOT_FOUND","message":"Endpoint not found"}}"#
        )
    );
}

/// A11: debug endpoints are off by default, admin-only when on.
#[tokio::test]
async fn debug_endpoints() {
    let off = spawn_app().await;
    for path in ["/debug/pprof/profile?seconds=1", "/debug/pprof/allocs"] {
        assert_eq!(off.send(Method::GET, path, Some(T), "").await.status, 404);
    }

    let app = spawn_with(ServerConfig {
        debug_endpoints: true,
        ..ServerConfig::default()
    })
    .await;
    let tenant = app.tenant("dbg").await;
    for path in ["/debug/pprof/profile?seconds=1", "/debug/pprof/allocs"] {
        app.send(Method::GET, path, Some(&tenant), "").await.error(
            403,
            "AUTH_UNAUTHORIZED",
            "Admin token required",
        );
        app.send(Method::GET, path, None, "").await.error(
            401,
            "AUTH_REQUIRED",
            "Authorization header required",
        );
    }
    for bad in ["0", "301", "x"] {
        app.send(
            Method::GET,
            &format!("/debug/pprof/profile?seconds={bad}"),
            Some(T),
            "",
        )
        .await
        .error(400, "INVALID_REQUEST", "seconds must be between 1 and 300");
    }
    let allocs = app
        .send(Method::GET, "/debug/pprof/allocs", Some(T), "")
        .await;
    assert_eq!(allocs.status, 200);
    assert!(allocs.body.contains("resident_bytes: "), "{}", allocs.body);

    // The CPU profiler is process-wide and a second concurrent profile gets 409, so the copies of
    // this test (one per backend, run in parallel in this process) take turns.
    let _turn = PROFILE_TURN.lock().await;
    let response = app
        .client
        .get(app.url("/debug/pprof/profile?seconds=1"))
        .query(&[("token", T)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "application/octet-stream"
    );
    let profile = response.bytes().await.unwrap();
    assert!(
        !profile.is_empty(),
        "an encoded pprof Profile has at least its string table"
    );
}
}
