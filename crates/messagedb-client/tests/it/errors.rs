//! How failures surface: API error envelopes with status, code, message and details, and
//! transport failures kept apart from them.

use messagedb_client::{Client, ClientError, NewMessage};

use crate::support::{http, TestServer};

#[tokio::test]
async fn api_errors_carry_status_code_message_and_details() {
    let server = TestServer::start().await;
    let client = server.admin();
    let message = NewMessage::from_json_text("T", "{}").unwrap();
    client.write_message("account-1", &message).await.unwrap();

    let conflict = client
        .write_message("account-1", &message.clone().with_expected_version(5))
        .await
        .unwrap_err();
    let api = conflict.api().expect("an API error");
    assert_eq!(api.status, 409);
    assert_eq!(api.code, "STREAM_VERSION_CONFLICT");
    assert_eq!(api.message, "Expected version 5, stream is at version 0");
    assert_eq!(
        api.details,
        Some(serde_json::json!({"actual": 0, "expected": 5, "stream": "account-1"}))
    );

    let unknown = client.call(&serde_json::json!(["nope"])).await.unwrap_err();
    assert_eq!(unknown.status(), Some(404));
    assert_eq!(unknown.code(), Some("METHOD_NOT_FOUND"));
    assert_eq!(unknown.api().unwrap().message, "Unknown method: nope");
    assert_eq!(unknown.api().unwrap().details, None);

    let anonymous = Client::with_http_client(http(), &server.url, None).unwrap();
    let err = anonymous.sys_version().await.unwrap_err();
    assert_eq!(
        (err.status(), err.code()),
        (Some(401), Some("AUTH_REQUIRED"))
    );

    let wrong = format!("ns_ZGVmYXVsdA_{}", "1".repeat(64));
    let err = server.client(&wrong).sys_version().await.unwrap_err();
    assert_eq!(
        (err.status(), err.code()),
        (Some(403), Some("AUTH_UNAUTHORIZED"))
    );
}

#[tokio::test]
async fn transport_errors_are_not_api_errors() {
    // Bind and drop a listener to get a local port with nothing behind it.
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let url = format!("http://127.0.0.1:{port}/");
    let client = Client::with_http_client(http(), &url, Some("x")).unwrap();
    assert_eq!(client.base_url(), format!("http://127.0.0.1:{port}"));
    let err = client.sys_version().await.unwrap_err();
    assert!(matches!(err, ClientError::Transport(_)), "{err:?}");
    assert_eq!(err.status(), None);

    assert!(matches!(
        Client::new("http://127.0.0.1:1", Some("bad\ntoken")),
        Err(ClientError::InvalidToken)
    ));
}
