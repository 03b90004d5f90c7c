//! Every RPC method once, through the typed client, with payloads checked byte for byte.

use messagedb_client::{
    CategoryOptions, ConsumerGroup, CreateNamespaceOptions, NewMessage, StreamOptions,
    StreamsOptions,
};
use serde_json::value::RawValue;

use crate::support::TestServer;

fn raw(text: &str) -> Box<RawValue> {
    RawValue::from_string(text.to_owned()).unwrap()
}

#[tokio::test]
async fn sys_methods_and_health() {
    let server = TestServer::start().await;
    let client = server.admin();
    assert_eq!(client.sys_version().await.unwrap(), messagedb_core::VERSION);
    let health = client.sys_health().await.unwrap();
    assert_eq!(
        (
            health.backend.as_str(),
            health.status.as_str(),
            health.connections
        ),
        ("sqlite", "ok", 0)
    );
    client.health().await.unwrap();
    // The raw call returns the result text untouched.
    let result = client
        .call(&serde_json::json!(["sys.version"]))
        .await
        .unwrap();
    assert_eq!(result.get(), format!("\"{}\"", messagedb_core::VERSION));
}

#[tokio::test]
async fn stream_methods_keep_payloads_verbatim() {
    let server = TestServer::start().await;
    let client = server.admin();
    let data = r#"{"b":1,"a":{"z":[1,2.50,1e3]},"big":12345678901234567890,"s":"<&>\u00e9😀"}"#;
    let id = "0190F2C4-3B1E-7C2A-9D4E-1F2A3B4C5D6E";
    let first = NewMessage::from_json_text("Opened", data)
        .unwrap()
        .with_metadata(raw(r#"{"correlationStreamName":"workflow-1","k":-0}"#))
        .with_id(id)
        .with_expected_version(-1);
    let written = client.write_message("account-1", &first).await.unwrap();
    assert_eq!(written.position, 0);
    assert!(written.global_position >= 1);

    let second = NewMessage::from_value("Deposited", &serde_json::json!({ "amount": 5 })).unwrap();
    let again = client.write_message("account-1", &second).await.unwrap();
    assert_eq!(again.position, 1);
    assert!(again.global_position > written.global_position);

    let messages = client
        .get_stream("account-1", &StreamOptions::default())
        .await
        .unwrap();
    assert_eq!(messages.len(), 2);
    let m = &messages[0];
    assert_eq!(m.id, id.to_lowercase());
    assert_eq!(m.stream_name, "account-1");
    assert_eq!(m.message_type, "Opened");
    assert_eq!(
        (m.position, m.global_position),
        (0, written.global_position)
    );
    assert_eq!(m.data.get(), data);
    assert_eq!(
        m.metadata.as_deref().map(RawValue::get),
        Some(r#"{"correlationStreamName":"workflow-1","k":-0}"#)
    );
    assert!(m.time.ends_with('Z'), "{}", m.time);
    assert!(messages[1].metadata.is_none());

    let from_one = client
        .get_stream(
            "account-1",
            &StreamOptions {
                position: Some(1),
                batch_size: Some(10),
                ..StreamOptions::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(from_one.len(), 1);
    assert_eq!(from_one[0].message_type, "Deposited");

    let last = client
        .last_message("account-1", None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(last.position, 1);
    let last_opened = client
        .last_message("account-1", Some("Opened"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(last_opened.position, 0);
    assert!(client
        .last_message("account-1", Some("Nope"))
        .await
        .unwrap()
        .is_none());
    assert!(client
        .last_message("account-2", None)
        .await
        .unwrap()
        .is_none());

    assert_eq!(client.stream_version("account-1").await.unwrap(), Some(1));
    assert_eq!(client.stream_version("account-2").await.unwrap(), None);
}

#[tokio::test]
async fn category_reads_with_filters() {
    let server = TestServer::start().await;
    let client = server.admin();
    for (stream, correlation) in [
        ("job-123", Some("workflow-a")),
        ("job-abc", None),
        ("job-123+x", Some("process-1")),
        ("other-1", None),
    ] {
        let mut message = NewMessage::from_json_text("Ran", "{}").unwrap();
        if let Some(c) = correlation {
            message = message.with_metadata(raw(&format!(r#"{{"correlationStreamName":"{c}"}}"#)));
        }
        client.write_message(stream, &message).await.unwrap();
    }
    let all = client
        .get_category("job", &CategoryOptions::default())
        .await
        .unwrap();
    let streams: Vec<&str> = all.iter().map(|m| m.stream_name.as_str()).collect();
    assert_eq!(streams, ["job-123", "job-abc", "job-123+x"]);

    let correlated = client
        .get_category(
            "job",
            &CategoryOptions {
                correlation: Some("workflow".into()),
                ..CategoryOptions::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(correlated.len(), 1);
    assert_eq!(correlated[0].stream_name, "job-123");

    // cid 123 → member 1 of 2, cid abc → member 0 of 2 (SPEC §7.1).
    let member = |m| CategoryOptions {
        consumer_group: Some(ConsumerGroup { member: m, size: 2 }),
        ..CategoryOptions::default()
    };
    let zero = client.get_category("job", &member(0)).await.unwrap();
    let one = client.get_category("job", &member(1)).await.unwrap();
    let names = |ms: &[messagedb_client::Message]| {
        ms.iter().map(|m| m.stream_name.clone()).collect::<Vec<_>>()
    };
    assert_eq!(names(&zero), ["job-abc"]);
    assert_eq!(names(&one), ["job-123", "job-123+x"]);

    let from = client
        .get_category(
            "",
            &CategoryOptions {
                position: Some(all[1].global_position),
                batch_size: Some(2),
                ..CategoryOptions::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(names(&from), ["job-abc", "job-123+x"]);
}

#[tokio::test]
async fn namespace_methods() {
    let server = TestServer::start().await;
    let admin = server.admin();
    let created = admin
        .ns_create(
            "tenant-a",
            &CreateNamespaceOptions {
                description: Some("Tenant A".into()),
                ..CreateNamespaceOptions::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(created.namespace, "tenant-a");
    assert!(created.token.starts_with("ns_dGVuYW50LWE_"));

    let tenant = server.client(&created.token);
    for stream in ["b-1", "a-1", "a-2"] {
        let message = NewMessage::from_json_text("T", "{}").unwrap();
        tenant.write_message(stream, &message).await.unwrap();
    }

    let info = tenant.ns_info("tenant-a").await.unwrap();
    assert_eq!(info.namespace, "tenant-a");
    assert_eq!(info.description, "Tenant A");
    assert_eq!((info.message_count, info.stream_count), (3, 3));
    assert!(info.last_activity.is_some());

    let list = admin.ns_list().await.unwrap();
    let tenant_row = list.iter().find(|n| n.namespace == "tenant-a").unwrap();
    assert_eq!(tenant_row.message_count, 3);
    assert!(list.iter().any(|n| n.namespace == "default"));

    let page = tenant
        .ns_streams(&StreamsOptions {
            prefix: Some("a".into()),
            limit: Some(1),
            ..StreamsOptions::default()
        })
        .await
        .unwrap();
    assert_eq!(page.len(), 1);
    assert_eq!((page[0].stream.as_str(), page[0].version), ("a-1", 0));
    let next = tenant
        .ns_streams(&StreamsOptions {
            cursor: Some("a-1".into()),
            ..StreamsOptions::default()
        })
        .await
        .unwrap();
    let names: Vec<&str> = next.iter().map(|s| s.stream.as_str()).collect();
    assert_eq!(names, ["a-2", "b-1"]);

    let categories = tenant.ns_categories().await.unwrap();
    let summary: Vec<(&str, u64, u64)> = categories
        .iter()
        .map(|c| (c.category.as_str(), c.message_count, c.stream_count))
        .collect();
    assert_eq!(summary, [("a", 2, 2), ("b", 1, 1)]);

    let deleted = admin.ns_delete("tenant-a").await.unwrap();
    assert_eq!(
        (deleted.namespace.as_str(), deleted.messages_deleted),
        ("tenant-a", 3)
    );
    assert!(deleted.deleted_at.ends_with('Z'));
}
