//! `Client::write_batch` against a real server: results in entry order with payloads stored
//! verbatim, and each kind of refusal arriving as the server's error envelope.

use messagedb_client::{AppendCondition, BatchEntry, BatchOptions, ConditionQuery, StreamOptions};
use serde_json::value::RawValue;

use crate::support::TestServer;

const ID: &str = "0190F2C4-3B1E-7C2A-9D4E-1F2A3B4C5D6E";

#[tokio::test]
async fn a_batch_lands_in_entry_order_with_payloads_verbatim() {
    let server = TestServer::start().await;
    let client = server.admin();
    let data = r#"{"b":1,"a":[1,2.50,1e3]}"#;
    let entries = [
        BatchEntry::from_json_text("order-7", "Placed", data)
            .unwrap()
            .with_id(ID),
        BatchEntry::from_value("stock-3", "Reserved", &serde_json::json!({"qty": 1}))
            .unwrap()
            .with_metadata(RawValue::from_string(r#"{"k":-0}"#.into()).unwrap()),
        BatchEntry::from_json_text("order-7", "Paid", "{}").unwrap(),
    ];
    let options = BatchOptions::default()
        .expect_version("order-7", -1)
        .expect_version("stock-3", -1);
    let results = client.write_batch(&entries, &options).await.unwrap();
    let shape: Vec<(&str, i64)> = results
        .iter()
        .map(|r| (r.stream.as_str(), r.position))
        .collect();
    assert_eq!(shape, [("order-7", 0), ("stock-3", 0), ("order-7", 1)]);
    assert_eq!(results[0].id, ID.to_lowercase());
    assert_eq!(results[1].global_position, results[0].global_position + 1);
    assert_eq!(results[2].global_position, results[0].global_position + 2);

    let order = client
        .get_stream("order-7", &StreamOptions::default())
        .await
        .unwrap();
    assert_eq!(order[0].data.get(), data);
    assert_eq!(order[1].id, results[2].id);
    let stock = client.last_message("stock-3", None).await.unwrap().unwrap();
    assert_eq!(stock.metadata.unwrap().get(), r#"{"k":-0}"#);

    // A retry with the same ids answers the same results (here: one entry, the stored one).
    let retry = client
        .write_batch(&entries[..1], &BatchOptions::default())
        .await
        .unwrap();
    assert_eq!(retry[0], results[0]);
}

#[tokio::test]
async fn refusals_are_api_errors() {
    let server = TestServer::start().await;
    let client = server.admin();
    let entry = |stream: &str| BatchEntry::from_json_text(stream, "Taken", "{}").unwrap();
    let first = client
        .write_batch(&[entry("lock-1")], &BatchOptions::default())
        .await
        .unwrap();

    let guarded = BatchOptions::default().with_condition(AppendCondition::new(
        0,
        ConditionQuery::streams(["lock-1"]).of_types(["Taken"]),
    ));
    let err = client
        .write_batch(&[entry("lock-2")], &guarded)
        .await
        .unwrap_err();
    let api = err.api().expect("an API error");
    assert_eq!(
        (api.status, api.code.as_str()),
        (409, "APPEND_CONDITION_FAILED")
    );
    assert_eq!(
        api.details.as_ref().unwrap()["globalPosition"],
        first[0].global_position
    );
    let after = BatchOptions::default().with_condition(AppendCondition::new(
        first[0].global_position,
        ConditionQuery::streams(["lock-1"]),
    ));
    client
        .write_batch(&[entry("lock-2")], &after)
        .await
        .unwrap();

    let stale = BatchOptions::default().expect_version("lock-1", 5);
    let err = client
        .write_batch(&[entry("lock-1")], &stale)
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("STREAM_VERSION_CONFLICT"));

    let err = client
        .write_batch(&[], &BatchOptions::default())
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("INVALID_REQUEST"));
    assert_eq!(
        err.api().unwrap().message,
        "messages must be a non-empty array"
    );
}
