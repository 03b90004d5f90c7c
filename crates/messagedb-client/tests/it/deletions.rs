//! `Client::delete_stream`, `Client::truncate_stream` and `Client::ns_deletions` against a real
//! server (SPEC §18): versions never go back, the deletion takes a global position of its own and
//! is listed by `ns.deletions`, refusals arrive as the server's error envelope, and
//! `Client::deletion_allowed` tells an allowing server from a refusing or an older one.

use messagedb_client::{
    CategoryOptions, Client, ClientError, DeleteOptions, DeleteResult, Deletion, DeletionsOptions,
    NewMessage, StreamOptions, DELETION_PROBE_STREAM,
};
use messagedb_server::ServerConfig;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::{http, TestServer, ADMIN};

fn message(message_type: &str) -> NewMessage {
    NewMessage::from_json_text(message_type, "{}").unwrap()
}

fn result(deleted: u64, version: i64) -> DeleteResult {
    DeleteResult { deleted, version }
}

#[tokio::test]
async fn a_deleted_stream_keeps_its_version_and_the_next_write_follows_it() {
    let server = TestServer::start().await;
    let client = server.admin();
    for t in ["A", "B", "C"] {
        client
            .write_message("account-1", &message(t))
            .await
            .unwrap();
    }
    client
        .write_message("account-2", &message("Kept"))
        .await
        .unwrap();

    let deleted = client
        .delete_stream("account-1", &DeleteOptions::default())
        .await
        .unwrap();
    assert_eq!(deleted, result(3, 2));
    let read = client
        .get_stream("account-1", &StreamOptions::default())
        .await
        .unwrap();
    assert!(read.is_empty(), "{read:?}");
    assert!(client
        .last_message("account-1", None)
        .await
        .unwrap()
        .is_none());
    assert_eq!(client.stream_version("account-1").await.unwrap(), Some(2));

    // No position is reused: the next write takes version + 1, and is all the stream holds.
    let written = client
        .write_message("account-1", &message("D").with_expected_version(2))
        .await
        .unwrap();
    assert_eq!(written.position, 3);
    let read = client
        .get_stream("account-1", &StreamOptions::default())
        .await
        .unwrap();
    let shape: Vec<(&str, i64)> = read
        .iter()
        .map(|m| (m.message_type.as_str(), m.position))
        .collect();
    assert_eq!(shape, [("D", 3)]);
    let category = client
        .get_category("account", &CategoryOptions::default())
        .await
        .unwrap();
    let types: Vec<&str> = category.iter().map(|m| m.message_type.as_str()).collect();
    assert_eq!(types, ["Kept", "D"]);
    let info = client.ns_info("default").await.unwrap();
    assert_eq!((info.message_count, info.stream_count), (2, 2));

    // Removing nothing is not an error; a stream never written is at version -1.
    assert_eq!(
        client
            .delete_stream("account-9", &DeleteOptions::default())
            .await
            .unwrap(),
        result(0, -1)
    );

    // expectedVersion guards the deletion like a write.
    let err = client
        .delete_stream("account-1", &DeleteOptions::expecting_version(2))
        .await
        .unwrap_err();
    let api = err.api().expect("an API error");
    assert_eq!(
        (api.status, api.code.as_str(), api.message.as_str()),
        (
            409,
            "STREAM_VERSION_CONFLICT",
            "Expected version 2, stream is at version 3"
        )
    );
    assert_eq!(
        client
            .get_stream("account-1", &StreamOptions::default())
            .await
            .unwrap()
            .len(),
        1,
        "a refused deletion removes nothing"
    );
    assert_eq!(
        client
            .delete_stream("account-1", &DeleteOptions::expecting_version(3))
            .await
            .unwrap(),
        result(1, 3)
    );
    assert_eq!(
        client
            .delete_stream("account-1", &DeleteOptions::default())
            .await
            .unwrap(),
        result(0, 3)
    );
}

#[tokio::test]
async fn truncate_removes_the_positions_below_before() {
    let server = TestServer::start().await;
    let client = server.admin();
    for i in 0..10 {
        client
            .write_message("ledger-1", &message(&format!("M{i}")))
            .await
            .unwrap();
    }
    assert_eq!(
        client.truncate_stream("ledger-1", 5).await.unwrap(),
        result(5, 9)
    );
    let read = client
        .get_stream("ledger-1", &StreamOptions::default())
        .await
        .unwrap();
    let positions: Vec<i64> = read.iter().map(|m| m.position).collect();
    assert_eq!(positions, [5, 6, 7, 8, 9]);
    assert_eq!(read[0].message_type, "M5");
    assert_eq!(client.stream_version("ledger-1").await.unwrap(), Some(9));

    assert_eq!(
        client.truncate_stream("ledger-1", 0).await.unwrap(),
        result(0, 9)
    );
    assert_eq!(
        client.truncate_stream("ledger-1", 5).await.unwrap(),
        result(0, 9),
        "truncating again removes nothing"
    );
    assert_eq!(
        client.truncate_stream("ledger-1", 100).await.unwrap(),
        result(5, 9),
        "a `before` above the version removes everything"
    );
    let written = client
        .write_message("ledger-1", &message("After"))
        .await
        .unwrap();
    assert_eq!(written.position, 10);
}

#[tokio::test]
async fn deletions_take_a_global_position_and_are_listed_in_order() {
    let server = TestServer::start().await;
    let client = server.admin();
    let mut last = 0;
    for stream in ["job-1", "job-1", "job-2", "job-2", "job-2"] {
        last = client
            .write_message(stream, &message("Ran"))
            .await
            .unwrap()
            .global_position;
    }
    assert!(client
        .ns_deletions(&DeletionsOptions::default())
        .await
        .unwrap()
        .is_empty());

    client
        .delete_stream("job-1", &DeleteOptions::default())
        .await
        .unwrap();
    // Removing nothing records nothing.
    client
        .delete_stream("job-9", &DeleteOptions::default())
        .await
        .unwrap();
    client.truncate_stream("job-2", 0).await.unwrap();
    client.truncate_stream("job-2", 2).await.unwrap();
    let next = client
        .write_message("job-3", &message("Ran"))
        .await
        .unwrap();
    assert_eq!(
        next.global_position,
        last + 3,
        "each deletion moved the counter by one"
    );

    let records = client
        .ns_deletions(&DeletionsOptions::default())
        .await
        .unwrap();
    let shape: Vec<(&str, i64, i64)> = records
        .iter()
        .map(|d| (d.stream.as_str(), d.before, d.global_position))
        .collect();
    assert_eq!(shape, [("job-1", 2, last + 1), ("job-2", 2, last + 2)]);
    assert!(records.iter().all(|d| d.time.ends_with('Z')), "{records:?}");

    // Paging: from a global position, at most batchSize records.
    let page = client
        .ns_deletions(&DeletionsOptions {
            position: Some(last + 2),
            batch_size: None,
        })
        .await
        .unwrap();
    assert_eq!(page, records[1..]);
    let one = client
        .ns_deletions(&DeletionsOptions {
            position: None,
            batch_size: Some(1),
        })
        .await
        .unwrap();
    assert_eq!(one, records[..1]);
    let none: Vec<Deletion> = client
        .ns_deletions(&DeletionsOptions {
            position: Some(next.global_position),
            batch_size: Some(10),
        })
        .await
        .unwrap();
    assert!(none.is_empty());

    // Deletion records are the namespace's own: another tenant sees none of them.
    let tenant = admin_creates_tenant(&server).await;
    assert!(tenant
        .ns_deletions(&DeletionsOptions::default())
        .await
        .unwrap()
        .is_empty());
}

async fn admin_creates_tenant(server: &TestServer) -> messagedb_client::Client {
    let created = server
        .admin()
        .ns_create("tenant-d", &Default::default())
        .await
        .unwrap();
    server.client(&created.token)
}

#[tokio::test]
async fn invalid_arguments_are_refused_with_the_spec_messages() {
    let server = TestServer::start().await;
    let client = server.admin();
    client
        .write_message("account-1", &message("Kept"))
        .await
        .unwrap();
    let refusals = [
        (
            serde_json::json!(["stream.delete"]),
            "stream.delete requires 1 argument: streamName",
        ),
        (
            serde_json::json!(["stream.delete", ""]),
            "streamName must be a non-empty string",
        ),
        (
            serde_json::json!(["stream.delete", "account-1", 5]),
            "options must be an object",
        ),
        (
            serde_json::json!(["stream.delete", "account-1", {"expectedVersion": "0"}]),
            "options.expectedVersion must be a number",
        ),
        (
            serde_json::json!(["stream.truncate", "account-1"]),
            "stream.truncate requires 2 arguments: streamName and options",
        ),
        (
            serde_json::json!(["stream.truncate", "account-1", {}]),
            "options.before must be an integer >= 0",
        ),
        (
            serde_json::json!(["stream.truncate", "account-1", {"before": 1.5}]),
            "options.before must be an integer >= 0",
        ),
    ];
    for (request, message) in refusals {
        let err = client.call(&request).await.unwrap_err();
        let api = err.api().unwrap_or_else(|| panic!("{request}: {err:?}"));
        assert_eq!(
            (api.status, api.code.as_str(), api.message.as_str()),
            (400, "INVALID_REQUEST", message),
            "{request}"
        );
    }
    let err = client.truncate_stream("account-1", -1).await.unwrap_err();
    assert_eq!(
        err.api().map(|api| api.message.as_str()),
        Some("options.before must be an integer >= 0")
    );
    assert_eq!(
        client
            .get_stream("account-1", &StreamOptions::default())
            .await
            .unwrap()
            .len(),
        1,
        "a refused call removes nothing"
    );
}

/// `deletion_allowed` probes with a truncation before position 0: `true` on a server that
/// allows deletion, for any token of the namespace, and the probe leaves nothing behind (no
/// deletion record, no stream, no global position taken, counts unchanged).
#[tokio::test]
async fn deletion_allowed_is_true_on_an_allowing_server_and_the_probe_leaves_no_trace() {
    let server = TestServer::start().await;
    let client = server.admin();
    let first = client
        .write_message("account-1", &message("Kept"))
        .await
        .unwrap();

    assert!(client.deletion_allowed().await.unwrap());
    let tenant = admin_creates_tenant(&server).await;
    assert!(
        tenant.deletion_allowed().await.unwrap(),
        "any token of a namespace may delete its data"
    );

    assert!(client
        .ns_deletions(&DeletionsOptions::default())
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        client.stream_version(DELETION_PROBE_STREAM).await.unwrap(),
        None
    );
    let info = client.ns_info("default").await.unwrap();
    assert_eq!((info.message_count, info.stream_count), (1, 1));
    let next = client
        .write_message("account-1", &message("Next"))
        .await
        .unwrap();
    assert_eq!(
        next.global_position,
        first.global_position + 1,
        "the probe took no global position"
    );
    let read = client
        .get_stream("account-1", &StreamOptions::default())
        .await
        .unwrap();
    assert_eq!(read.len(), 2);
}

/// On a server started with `--allow-deletion=false` the probe says `false`, and both methods
/// answer 403 `AUTH_UNAUTHORIZED` without removing anything.
#[tokio::test]
async fn deletion_allowed_is_false_on_a_refusing_server_which_answers_403() {
    let refusing = TestServer::start_with(ServerConfig {
        allow_deletion: false,
        ..ServerConfig::default()
    })
    .await;
    let client = refusing.admin();
    assert!(!client.deletion_allowed().await.unwrap());
    client
        .write_message("account-1", &message("Kept"))
        .await
        .unwrap();
    let delete = client
        .delete_stream("account-1", &DeleteOptions::default())
        .await
        .unwrap_err();
    let truncate = client.truncate_stream("account-1", 1).await.unwrap_err();
    let probe = client
        .truncate_stream(DELETION_PROBE_STREAM, 0)
        .await
        .unwrap_err();
    for err in [delete, truncate, probe] {
        let api = err.api().expect("an API error");
        assert_eq!(
            (api.status, api.code.as_str(), api.message.as_str()),
            (
                403,
                "AUTH_UNAUTHORIZED",
                "Deletion is disabled on this server"
            )
        );
    }
    assert_eq!(client.stream_version("account-1").await.unwrap(), Some(0));
    assert_eq!(
        client
            .get_stream("account-1", &StreamOptions::default())
            .await
            .unwrap()
            .len(),
        1
    );
}

/// Any other answer is `false` too: a token the server refuses, and a server that predates
/// deletion (EventoDB answers `stream.truncate` as an unknown method); no answer at all is an
/// error, because then nothing is known.
#[tokio::test]
async fn deletion_allowed_is_false_for_other_refusals_and_an_error_without_an_answer() {
    let server = TestServer::start().await;
    let wrong = format!("ns_ZGVmYXVsdA_{}", "1".repeat(64));
    assert!(!server.client(&wrong).deletion_allowed().await.unwrap());

    let old = old_server(
        "404 Not Found",
        r#"{"error":{"code":"METHOD_NOT_FOUND","message":"Unknown method: stream.truncate"}}"#,
    )
    .await;
    let client = Client::with_http_client(http(), &old.url, Some(ADMIN)).unwrap();
    assert!(!client.deletion_allowed().await.unwrap());
    let request = old.request.await.unwrap();
    assert!(
        request.ends_with(r#"["stream.truncate","$messagedb-deletion-probe",{"before":0}]"#),
        "{request}"
    );

    // Bind and drop a listener to get a local port with nothing behind it.
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let nobody =
        Client::with_http_client(http(), &format!("http://127.0.0.1:{port}"), Some(ADMIN)).unwrap();
    let err = nobody.deletion_allowed().await.unwrap_err();
    assert!(matches!(err, ClientError::Transport(_)), "{err:?}");
}

/// A stand-in for a server that predates deletion: it answers one request with `status` and
/// the JSON `body`, and hands over the request it read.
struct OldServer {
    url: String,
    request: tokio::task::JoinHandle<String>,
}

async fn old_server(status: &'static str, body: &'static str) -> OldServer {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let request = tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        // Read the whole request (headers, then Content-Length bytes) before answering.
        let mut read = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            let n = socket.read(&mut buf).await.unwrap();
            assert!(n > 0, "the client closed before sending its request");
            read.extend_from_slice(&buf[..n]);
            let text = String::from_utf8_lossy(&read);
            if let Some(end) = text.find("\r\n\r\n") {
                let length = text[..end]
                    .lines()
                    .find_map(|line| {
                        let (name, value) = line.split_once(':')?;
                        name.eq_ignore_ascii_case("content-length")
                            .then(|| value.trim().parse::<usize>().unwrap())
                    })
                    .unwrap_or(0);
                if read.len() >= end + 4 + length {
                    break;
                }
            }
        }
        let response = format!(
            "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
             connection: close\r\n\r\n{body}",
            body.len()
        );
        socket.write_all(response.as_bytes()).await.unwrap();
        socket.shutdown().await.unwrap();
        String::from_utf8(read).unwrap()
    });
    OldServer { url, request }
}
