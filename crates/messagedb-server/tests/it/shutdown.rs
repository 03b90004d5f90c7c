//! Graceful shutdown: idle connections close, in-flight requests finish, then `serve` returns.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::app::{spawn_app, T};

/// Reads until `needle` has arrived; returns everything read.
async fn read_until(stream: &mut TcpStream, needle: &str) -> String {
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&seen).contains(needle) {
        let n = stream.read(&mut buf).await.unwrap();
        assert!(
            n > 0,
            "connection closed before {needle:?}: {}",
            String::from_utf8_lossy(&seen)
        );
        seen.extend_from_slice(&buf[..n]);
    }
    String::from_utf8(seen).unwrap()
}

/// A guard against hanging forever if the behaviour under test is broken.
async fn within<T>(what: &str, f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(10), f)
        .await
        .unwrap_or_else(|_| panic!("timed out: {what}"))
}

#[tokio::test]
async fn shutdown_closes_idle_connections_and_drains_in_flight_requests() {
    let mut app = spawn_app().await;

    // An idle keep-alive connection.
    let mut idle = TcpStream::connect(app.addr).await.unwrap();
    idle.write_all(b"GET /health HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .unwrap();
    within("health answer", read_until(&mut idle, r#"{"status":"ok"}"#)).await;

    // An in-flight request: the server asked for the body, so the handler is running.
    let mut busy = TcpStream::connect(app.addr).await.unwrap();
    let head = format!(
        "POST /rpc HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {T}\r\ncontent-length: 15\r\nexpect: 100-continue\r\n\r\n"
    );
    busy.write_all(head.as_bytes()).await.unwrap();
    within(
        "100 Continue",
        read_until(&mut busy, "100 Continue\r\n\r\n"),
    )
    .await;

    app.begin_shutdown();
    let mut rest = Vec::new();
    let n = within("idle connection closed", idle.read_to_end(&mut rest))
        .await
        .unwrap();
    assert_eq!(n, 0, "nothing more is sent on the idle connection");
    assert!(!app.server_finished(), "a request is still in flight");

    busy.write_all(br#"["sys.version"]"#).await.unwrap();
    let mut answer = Vec::new();
    within("in-flight answer", busy.read_to_end(&mut answer))
        .await
        .unwrap();
    let answer = String::from_utf8(answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(
        answer.ends_with(&format!("\"{}\"\n", messagedb_core::VERSION)),
        "{answer}"
    );

    let addr = app.addr;
    within("serve returns", app.shutdown()).await;
    assert!(
        TcpStream::connect(addr).await.is_err(),
        "no longer accepting"
    );
}
