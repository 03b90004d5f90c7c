//! [`Connection`]: the same answers as [`Client::call_body`] over one kept-alive connection.

use messagedb_client::{ClientError, Connection};

use crate::support::{TestServer, ADMIN};

#[tokio::test]
async fn calls_share_one_connection_and_get_the_servers_answers() {
    let server = TestServer::start().await;
    let mut conn = Connection::open(&format!("{}/", server.url), Some(ADMIN))
        .await
        .unwrap();
    let version = conn
        .call_body(br#"["sys.version"]"#.to_vec())
        .await
        .unwrap();
    assert!(version.get().starts_with('"'), "{}", version.get());
    let body = br#"["stream.write","c-1",{"type":"T","data":{"n":1}}]"#;
    let first = conn.call_body(body.to_vec()).await.unwrap();
    assert_eq!(first.get(), r#"{"globalPosition":1,"position":0}"#);
    let second = conn.call_body(body.to_vec()).await.unwrap();
    assert_eq!(second.get(), r#"{"globalPosition":2,"position":1}"#);
    let read = conn
        .call_body(br#"["stream.get","c-1"]"#.to_vec())
        .await
        .unwrap();
    let rows: Vec<serde_json::Value> = serde_json::from_str(read.get()).unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(
        server
            .admin()
            .get_stream("c-1", &Default::default())
            .await
            .unwrap()
            .len(),
        2,
        "the writes went to the token's namespace"
    );
}

#[tokio::test]
async fn api_errors_and_failures_are_told_apart() {
    let server = TestServer::start().await;
    let mut conn = Connection::open(&server.url, Some(ADMIN)).await.unwrap();
    let conflict = conn
        .call_body(
            br#"["stream.write","c-1",{"type":"T","data":{}},{"expectedVersion":3}]"#.to_vec(),
        )
        .await
        .unwrap_err();
    assert_eq!(
        (conflict.status(), conflict.code()),
        (Some(409), Some("STREAM_VERSION_CONFLICT"))
    );
    // The connection is still usable after an error answer.
    conn.call_body(br#"["sys.version"]"#.to_vec())
        .await
        .unwrap();

    let mut anonymous = Connection::open(&server.url, None).await.unwrap();
    let err = anonymous
        .call_body(br#"["sys.version"]"#.to_vec())
        .await
        .unwrap_err();
    assert_eq!(
        (err.status(), err.code()),
        (Some(401), Some("AUTH_REQUIRED"))
    );

    for url in ["https://127.0.0.1:1", "not a url"] {
        let err = Connection::open(url, None).await.unwrap_err();
        assert!(matches!(err, ClientError::Connection(_)), "{url}: {err}");
    }
    // Nothing listens on the server's port once it has stopped.
    let url = server.url.clone();
    drop(server);
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    match Connection::open(&url, None).await {
        Err(ClientError::Connection(_)) => {}
        Ok(mut conn) => {
            let err = conn
                .call_body(br#"["sys.version"]"#.to_vec())
                .await
                .unwrap_err();
            assert!(matches!(err, ClientError::Connection(_)), "{err}");
        }
        Err(other) => panic!("{other}"),
    }
}
