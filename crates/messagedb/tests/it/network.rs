//! What the server exposes on the network: the bind address, `/metrics`, and what it logs about
//! credentials (checklist A9, A10, N133).

use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use crate::support::{Launch, OTHER_ADMIN};

/// Whether a TCP connection to `address` succeeds. Every address used here is on the loopback
/// interface, so a refusal is immediate; the timeout is only a safety net.
fn reachable(address: SocketAddr) -> bool {
    TcpStream::connect_timeout(&address, Duration::from_secs(5)).is_ok()
}

/// A9: with `--listen 127.0.0.1` the server is reachable on that address only.
///
/// The other interface address used is 127.0.0.2: Linux routes all of 127.0.0.0/8 to the loopback
/// interface, so it is a second local address that exists on every machine and keeps the test's
/// traffic on loopback. A socket bound to 127.0.0.1 does not accept connections to 127.0.0.2; one
/// bound to 0.0.0.0 does, which the control half of the test checks.
#[test]
fn listen_address_restricts_reachability() {
    let dir = tempfile::tempdir().unwrap();
    let other = |port| SocketAddr::from(([127, 0, 0, 2], port));

    let server = Launch::serve(dir.path(), &["--test-mode", "--token", OTHER_ADMIN])
        .start()
        .unwrap();
    assert!(
        server.stderr().contains("address=127.0.0.1"),
        "{}",
        server.stderr()
    );
    assert!(reachable(SocketAddr::from(([127, 0, 0, 1], server.port))));
    assert!(
        !reachable(other(server.port)),
        "bound to 127.0.0.1 but reachable via 127.0.0.2"
    );
    server.stop();

    let server = Launch::new(&[
        "serve",
        "--port",
        "0",
        "--test-mode",
        "--token",
        OTHER_ADMIN,
    ])
    .start()
    .unwrap();
    assert!(
        server.stderr().contains("address=0.0.0.0"),
        "{}",
        server.stderr()
    );
    assert!(
        reachable(other(server.port)),
        "control: bound to 0.0.0.0 but not reachable via 127.0.0.2"
    );
    server.stop();
}

/// A10: `/metrics` is served by default and disabled with `--metrics=false`.
#[tokio::test]
async fn metrics_can_be_disabled() {
    let dir = tempfile::tempdir().unwrap();
    let server = Launch::serve(dir.path(), &["--test-mode", "--token", OTHER_ADMIN])
        .start()
        .unwrap();
    let response = server.get("/metrics").await;
    assert_eq!(response.status(), 200);
    assert!(response
        .text()
        .await
        .unwrap()
        .contains("messagedb_build_info"));
    server.stop();

    for flag in ["--metrics=false", "-metrics=0"] {
        let server = Launch::serve(dir.path(), &["--test-mode", "--token", OTHER_ADMIN, flag])
            .start()
            .unwrap();
        let response = server.get("/metrics").await;
        assert_eq!(response.status(), 404, "{flag}");
        assert_eq!(
            response.text().await.unwrap(),
            r#"{"error":{"code":"NOT_FOUND","message":"Endpoint not found"}}"#
        );
        server.stop();
    }
}

/// N133: no log line contains a token, even at debug level and with `?token=` in URLs.
#[tokio::test]
async fn tokens_never_reach_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let server = Launch::serve(
        dir.path(),
        &["--token", OTHER_ADMIN, "--log-level", "debug"],
    )
    .start()
    .unwrap();
    let http = crate::support::http();
    let rpc = format!("{}/rpc", server.url());
    let wrong = format!("ns_ZGVmYXVsdA_{}", "fedcba9876543210".repeat(4));
    for token in [OTHER_ADMIN, wrong.as_str(), "not-a-token-secret"] {
        let response = http
            .post(format!("{rpc}?token={token}"))
            .body(r#"["sys.version"]"#)
            .send()
            .await
            .unwrap();
        assert!(response.status() == 200 || response.status() == 401 || response.status() == 403);
        let response = http
            .post(&rpc)
            .bearer_auth(token)
            .body(r#"["ns.list"]"#)
            .send()
            .await
            .unwrap();
        assert!(response.status() == 200 || response.status() == 401 || response.status() == 403);
    }
    // Unknown paths are logged too, query string included.
    let response = http
        .get(format!(
            "{}/elsewhere?a=1&token={OTHER_ADMIN}",
            server.url()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    let exited = server.stop();

    let secrets = [
        &OTHER_ADMIN[OTHER_ADMIN.len() - 64..],
        &wrong[wrong.len() - 64..],
        "not-a-token-secret",
    ];
    for line in exited.stderr.lines() {
        for secret in secrets {
            assert!(!line.contains(secret), "a token reached the log: {line}");
        }
    }
    assert!(
        exited.stderr.contains("/rpc"),
        "requests are logged:\n{}",
        exited.stderr
    );
}
