//! `/import` across instances (SPEC §9.1, §9.4, §15 M116, M126): a forced import through one
//! instance ends the namespace's subscriptions on another, and records imported through one
//! instance are poked to subscribers on another, because every instance hears the clear and the
//! imported records through its `LISTEN` connection.

use serde_json::{json, Value};

use crate::servers::{rpc, Instance, T};
use crate::subscription::Subscription;

/// One export record (§9.2) in stream `y-1`.
fn record(pos: i64, gpos: i64) -> String {
    format!(
        r#"{{"id":"0190f2c4-0000-4000-8000-{gpos:012}","stream":"y-1","type":"T","pos":{pos},"gpos":{gpos},"data":{{}},"meta":null,"time":"2025-01-15T10:00:00Z"}}"#
    ) + "\n"
}

/// `/import` through `to`; returns the last event's data.
async fn import(client: &reqwest::Client, to: &Instance, query: &str, body: String) -> Value {
    let response = client
        .post(to.url(&format!("/import{query}")))
        .bearer_auth(T)
        .body(body)
        .send()
        .await
        .expect("import");
    assert_eq!(response.status(), 200);
    let text = response.text().await.expect("events");
    let last = text
        .trim_end()
        .rsplit("\n\n")
        .next()
        .and_then(|event| event.strip_prefix("data: "))
        .unwrap_or_else(|| panic!("no event in {text:?}"));
    serde_json::from_str(last).expect("event JSON")
}

/// `force=true` through A ends an `all=true` subscription on B (M126 across instances); a later
/// import through A is poked to a new subscriber on B (M116 across instances), and the counter
/// both instances share moves past the imported records.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forced_import_through_one_instance_ends_subscriptions_on_another() {
    let Some(db) = messagedb_testpg::database("forced_import_ends_subscriptions_elsewhere").await
    else {
        return;
    };
    let (a, b) = (Instance::start(&db).await, Instance::start(&db).await);
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let (status, _) = rpc(
        &client,
        &a,
        json!(["stream.write", "x-1", {"type": "T", "data": {}}]),
    )
    .await;
    assert_eq!(status, 200);
    let mut before = Subscription::open(&client, &b, &format!("all=true&token={T}")).await;
    let (status, _) = rpc(
        &client,
        &a,
        json!(["stream.write", "x-1", {"type": "T", "data": {}}]),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(before.poke_gpos().await, 2);

    let done = import(&client, &a, "?force=true", record(0, 5) + &record(1, 6)).await;
    assert_eq!(done["imported"], 2, "{done}");
    assert_eq!(
        before.next().await,
        None,
        "the subscription on B ends, with nothing but keepalives first"
    );
    let (_, all) = rpc(&client, &b, json!(["category.get", ""])).await;
    let gpos: Vec<&Value> = all.as_array().unwrap().iter().map(|m| &m[4]).collect();
    assert_eq!(gpos, [5, 6], "B reads the cleared and imported namespace");

    let mut after = Subscription::open(&client, &b, &format!("all=true&token={T}")).await;
    let done = import(&client, &a, "", record(2, 10) + &record(3, 11)).await;
    assert_eq!(done["imported"], 2, "{done}");
    assert_eq!(after.poke_gpos().await, 10);
    assert_eq!(after.poke_gpos().await, 11);

    let (status, written) = rpc(
        &client,
        &b,
        json!(["stream.write", "y-1", {"type": "T", "data": {}}]),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(written["globalPosition"], 12, "{written}");
    assert_eq!(written["position"], 4, "{written}");
    assert_eq!(after.poke_gpos().await, 12);
}
