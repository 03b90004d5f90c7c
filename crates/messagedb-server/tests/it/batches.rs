//! `stream.writeBatch` over HTTP (SPEC §17, checklist 140 and 144–149), on both backends: the
//! §17.1 validation messages in order, the exact result, atomicity of refused batches, the
//! append condition under concurrency (also across two PostgreSQL instances), idempotent retries,
//! and what subscribers and readers see of a batch.

use std::collections::HashSet;

use futures::future::join_all;
use serde_json::{json, Value};

use crate::app::{on_both_backends, spawn_app, App, T};
use crate::sse_client::{assert_ascending, within, Event, Poke, Sse};

const ID_A: &str = "0190f2c4-3b1e-7c2a-9d4e-1f2a3b4c5d6e";
const ID_B: &str = "0190f2c4-3b1e-7c2a-9d4e-1f2a3b4c5d6f";
const ID_C: &str = "0190f2c4-3b1e-7c2a-9d4e-1f2a3b4c5d70";

/// `{"stream": s, "type": t, "data": {}}`.
fn entry(stream: &str, ty: &str) -> Value {
    json!({"stream": stream, "type": ty, "data": {}})
}

fn with_id(mut entry: Value, id: &str) -> Value {
    entry["id"] = json!(id);
    entry
}

/// `stream.version` of `stream` (`null` when it has no messages).
async fn version(app: &App, stream: &str) -> Value {
    app.call(json!(["stream.version", stream])).await
}

/// The `default` namespace's message count (`ns.info`), which counts every committed message.
async fn message_count(app: &App) -> i64 {
    app.call(json!(["ns.info", "default"])).await["messageCount"]
        .as_i64()
        .expect("messageCount")
}

/// A batch that must be refused with 409 `code` and `message`; returns the error object.
async fn conflict(app: &App, args: Value, code: &str, message: &str) -> Value {
    let mut body = json!(["stream.writeBatch"]);
    for arg in args.as_array().expect("an argument list") {
        body.as_array_mut().unwrap().push(arg.clone());
    }
    app.rpc_as(T, body).await.error(409, code, message)
}

/// Asserts a well-formed result and returns `(globalPosition, id, position, stream)` per entry.
fn results(result: &Value) -> Vec<(i64, String, i64, String)> {
    let object = result.as_object().expect("an object");
    assert_eq!(object.len(), 1, "only `results`: {result}");
    result["results"]
        .as_array()
        .expect("results is an array")
        .iter()
        .map(|r| {
            let keys: Vec<&str> = r.as_object().unwrap().keys().map(String::as_str).collect();
            assert_eq!(keys, ["globalPosition", "id", "position", "stream"], "{r}");
            (
                r["globalPosition"].as_i64().unwrap(),
                r["id"].as_str().unwrap().to_owned(),
                r["position"].as_i64().unwrap(),
                r["stream"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn is_canonical_uuid(text: &str) -> bool {
    text.len() == 36
        && text.char_indices().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => c == '-',
            _ => c.is_ascii_digit() || ('a'..='f').contains(&c),
        })
}

/// Every §17.1 message, in order: each case is valid up to the step it breaks, so a check that
/// ran too early or too late gives another message. `<i>` counts from 0, and a later entry's
/// failure is reported only after every earlier entry passed.
fn validation_cases() -> Vec<(Value, String)> {
    let ok = || entry("a-1", "T");
    let long = "x".repeat(1025);
    let one = |e: Value| json!(["stream.writeBatch", [ok(), e]]);
    let opts = |o: Value| json!(["stream.writeBatch", [ok()], o]);
    let cond = |c: Value| opts(json!({"condition": c}));
    let query = |q: Value| cond(json!({"after": 0, "query": q}));
    let cases: Vec<(Value, &str)> = vec![
        (
            json!(["stream.writeBatch"]),
            "stream.writeBatch requires at least 1 argument: messages",
        ),
        (
            json!(["stream.writeBatch", null]),
            "messages must be a non-empty array",
        ),
        (
            json!(["stream.writeBatch", {}]),
            "messages must be a non-empty array",
        ),
        (
            json!(["stream.writeBatch", []]),
            "messages must be a non-empty array",
        ),
        (
            json!(["stream.writeBatch", vec![json!(5); 1001]]),
            "messages must hold at most 1000 entries",
        ),
        (
            json!(["stream.writeBatch", [ok(), null]]),
            "messages[1] must be an object",
        ),
        (
            json!(["stream.writeBatch", [[ok()]]]),
            "messages[0] must be an object",
        ),
        (
            one(json!({"type": "T", "data": {}})),
            "messages[1].stream must be a non-empty string",
        ),
        (
            one(json!({"stream": "", "type": "T", "data": {}})),
            "messages[1].stream must be a non-empty string",
        ),
        (
            one(json!({"stream": 5, "type": "T", "data": {}})),
            "messages[1].stream must be a non-empty string",
        ),
        (
            one(json!({"stream": "a\u{0}", "type": "T", "data": {}})),
            "messages[1].stream must not contain NUL characters",
        ),
        (
            one(json!({"stream": long, "type": long, "data": {}})),
            "messages[1].stream must be at most 1024 bytes",
        ),
        (
            one(json!({"stream": "a", "data": {}})),
            "messages[1].type must be a non-empty string",
        ),
        (
            one(json!({"stream": "a", "type": "", "data": {}})),
            "messages[1].type must be a non-empty string",
        ),
        (
            one(json!({"stream": "a", "type": "T\u{0}"})),
            "messages[1].type must not contain NUL characters",
        ),
        (
            one(json!({"stream": "a", "type": long})),
            "messages[1].type must be at most 1024 bytes",
        ),
        (
            one(json!({"stream": "a", "type": "T"})),
            "messages[1].data must be an object",
        ),
        (
            one(json!({"stream": "a", "type": "T", "data": null})),
            "messages[1].data must be an object",
        ),
        (
            one(json!({"stream": "a", "type": "T", "data": [], "metadata": 5})),
            "messages[1].data must be an object",
        ),
        (
            one(json!({"stream": "a", "type": "T", "data": {}, "metadata": "m", "id": 5})),
            "messages[1].metadata must be an object",
        ),
        (
            one(json!({"stream": "a", "type": "T", "data": {}, "metadata": [], "id": 5})),
            "messages[1].metadata must be an object",
        ),
        (
            one(json!({"stream": "a", "type": "T", "data": {}, "metadata": null, "id": 5})),
            "messages[1].id must be a string",
        ),
        (
            one(json!({"stream": "a", "type": "T", "data": {}, "id": null})),
            "messages[1].id must be a string",
        ),
        (
            one(json!({"stream": "a", "type": "T", "data": {}, "id": "nope"})),
            "messages[1].id must be a UUID",
        ),
        (
            one(json!({"stream": "a", "type": "T", "data": {}, "id": format!("urn:uuid:{ID_A}")})),
            "messages[1].id must be a UUID",
        ),
        // Step 4 covers every entry before step 5 looks at repeats.
        (
            json!([
                "stream.writeBatch",
                [
                    with_id(ok(), ID_A),
                    with_id(ok(), ID_A),
                    with_id(ok(), "bad")
                ]
            ]),
            "messages[2].id must be a UUID",
        ),
        (
            json!([
                "stream.writeBatch",
                [
                    with_id(ok(), ID_A),
                    with_id(ok(), ID_B),
                    ok(),
                    with_id(ok(), &ID_B.to_uppercase()),
                    with_id(ok(), ID_A)
                ],
                null
            ]),
            "messages[3].id repeats messages[1].id",
        ),
        (
            json!([
                "stream.writeBatch",
                [with_id(ok(), ID_A), with_id(ok(), &format!("{{{ID_A}}}"))]
            ]),
            "messages[1].id repeats messages[0].id",
        ),
        (
            json!(["stream.writeBatch", [ok()], null]),
            "options must be an object",
        ),
        (
            json!(["stream.writeBatch", [ok()], []]),
            "options must be an object",
        ),
        (
            opts(json!({"expectedVersions": null, "condition": 5})),
            "options.expectedVersions must be an object",
        ),
        (
            opts(json!({"expectedVersions": [], "condition": 5})),
            "options.expectedVersions must be an object",
        ),
        (
            opts(json!({"expectedVersions": {"a-1": 0, "b-2": -2}, "condition": 5})),
            "options.expectedVersions.b-2 must be an integer >= -1",
        ),
        (
            opts(json!({"expectedVersions": {"a-1": "0"}})),
            "options.expectedVersions.a-1 must be an integer >= -1",
        ),
        (
            opts(json!({"expectedVersions": {"a-1": null}})),
            "options.expectedVersions.a-1 must be an integer >= -1",
        ),
        // Keys are stream names: the same rules, without echoing the bad key.
        (
            opts(json!({"expectedVersions": {"": 0}})),
            "options.expectedVersions keys must be non-empty stream names",
        ),
        (
            opts(json!({"expectedVersions": {"a\u{0}": 0}})),
            "options.expectedVersions keys must not contain NUL characters",
        ),
        (
            opts(json!({"expectedVersions": {long.clone(): "x"}})),
            "options.expectedVersions keys must be at most 1024 bytes",
        ),
        (
            opts(json!({"expectedVersions": {}, "condition": null})),
            "options.condition must be an object",
        ),
        (cond(json!([])), "options.condition must be an object"),
        (
            cond(json!({"query": {"streams": ["a"]}})),
            "options.condition.after must be an integer >= 0",
        ),
        (
            cond(json!({"after": -1, "query": 5})),
            "options.condition.after must be an integer >= 0",
        ),
        (
            cond(json!({"after": "1", "query": 5})),
            "options.condition.after must be an integer >= 0",
        ),
        (
            cond(json!({"after": 0})),
            "options.condition.query must be an object",
        ),
        (
            cond(json!({"after": 0, "query": null})),
            "options.condition.query must be an object",
        ),
        (
            query(json!({"streams": "a-1", "categories": 5})),
            "options.condition.query.streams must be an array of non-empty strings",
        ),
        (
            query(json!({"streams": ["a-1", ""], "categories": 5})),
            "options.condition.query.streams must be an array of non-empty strings",
        ),
        (
            query(json!({"streams": [null]})),
            "options.condition.query.streams must be an array of non-empty strings",
        ),
        (
            query(json!({"streams": ["a-1", "b\u{0}"]})),
            "options.condition.query.streams[1] must not contain NUL characters",
        ),
        (
            query(json!({"streams": [long.clone()]})),
            "options.condition.query.streams[0] must be at most 1024 bytes",
        ),
        (
            query(json!({"streams": ["a-1"], "categories": [5], "types": 5})),
            "options.condition.query.categories must be an array of non-empty strings",
        ),
        (
            query(json!({"categories": {}})),
            "options.condition.query.categories must be an array of non-empty strings",
        ),
        (
            query(json!({"categories": ["\u{0}"]})),
            "options.condition.query.categories[0] must not contain NUL characters",
        ),
        (
            query(json!({"categories": ["a", long.clone()]})),
            "options.condition.query.categories[1] must be at most 1024 bytes",
        ),
        (
            query(json!({"categories": ["a"], "types": [""], "correlation": 5})),
            "options.condition.query.types must be an array of non-empty strings",
        ),
        (
            query(json!({"types": ["T\u{0}"]})),
            "options.condition.query.types[0] must not contain NUL characters",
        ),
        (
            query(json!({"types": [long.clone()]})),
            "options.condition.query.types[0] must be at most 1024 bytes",
        ),
        (
            query(json!({"categories": ["a"], "correlation": ""})),
            "options.condition.query.correlation must be a non-empty string",
        ),
        (
            query(json!({"correlation": null})),
            "options.condition.query.correlation must be a non-empty string",
        ),
        (
            query(json!({"correlation": ["saga"]})),
            "options.condition.query.correlation must be a non-empty string",
        ),
        (
            query(json!({"correlation": "s\u{0}"})),
            "options.condition.query.correlation must not contain NUL characters",
        ),
        (
            query(json!({"correlation": long.clone()})),
            "options.condition.query.correlation must be at most 1024 bytes",
        ),
        (
            query(json!({"types": ["T"], "correlation": "saga"})),
            "options.condition.query must name streams or categories",
        ),
        (
            query(json!({"streams": [], "categories": []})),
            "options.condition.query must name streams or categories",
        ),
        (
            query(json!({})),
            "options.condition.query must name streams or categories",
        ),
    ];
    cases
        .into_iter()
        .map(|(body, message)| (body, message.to_owned()))
        .collect()
}

on_both_backends! {
    /// §17.1: every validation message, in order, each a 400 with no side effect.
    #[tokio::test]
    async fn validation_order_and_messages() {
        let app = spawn_app().await;
        let before = message_count(&app).await;
        for (body, message) in validation_cases() {
            let answer = app.rpc_as(T, body.clone()).await;
            assert_eq!(answer.status, 400, "{body} → {}", answer.body);
            assert_eq!(answer.json()["error"]["code"], "INVALID_REQUEST", "{body}");
            assert_eq!(answer.json()["error"]["message"], message.as_str(), "{body}");
        }
        assert_eq!(message_count(&app).await, before, "a refused batch writes nothing");
        assert_eq!(version(&app, "a-1").await, Value::Null);
    }

    /// 144: three entries over two streams take consecutive global positions in entry order and
    /// consecutive positions per stream; the result is exactly the §17.2 shape, in entry order.
    #[tokio::test]
    async fn three_entries_over_two_streams() {
        let app = spawn_app().await;
        app.write("order-7", "Opened", json!({})).await;
        let (_, head) = app.write("stock-3", "Counted", json!({})).await;
        let body = json!(["stream.writeBatch", [
            {"stream": "order-7", "type": "Placed", "data": {"total": 30}, "id": ID_A.to_uppercase()},
            {"stream": "stock-3", "type": "Reserved", "data": {"qty": 1}, "metadata": null},
            {"stream": "order-7", "type": "Paid", "data": {}, "metadata": {"by": "card"}, "id": format!("{{{ID_B}}}")}
        ], {"expectedVersions": {"order-7": 0, "stock-3": 0}}]);
        let answer = app.rpc_as(T, body).await;
        assert_eq!(answer.status, 200, "{}", answer.body);
        let generated = results(&answer.json())[1].1.clone();
        assert!(is_canonical_uuid(&generated), "{generated}");
        let expected = format!(
            concat!(
                r#"{{"results":[{{"globalPosition":{},"id":"{}","position":1,"stream":"order-7"}},"#,
                r#"{{"globalPosition":{},"id":"{}","position":1,"stream":"stock-3"}},"#,
                r#"{{"globalPosition":{},"id":"{}","position":2,"stream":"order-7"}}]}}"#,
                "\n"
            ),
            head + 1,
            ID_A,
            head + 2,
            generated,
            head + 3,
            ID_B
        );
        assert_eq!(answer.body, expected);
        // What was stored is what the result says, payloads included.
        let order = app.call(json!(["stream.get", "order-7"])).await;
        assert_eq!(order[1][0], ID_A);
        assert_eq!(order[1][1], "Placed");
        assert_eq!((order[1][2].clone(), order[1][3].clone()), (json!(1), json!(head + 1)));
        assert_eq!(order[1][4], json!({"total": 30}));
        assert_eq!((order[2][3].clone(), order[2][5].clone()), (json!(head + 3), json!({"by": "card"})));
        let stock = app.call(json!(["stream.get", "stock-3"])).await;
        assert_eq!(stock[1][0], generated.as_str());
        assert_eq!((stock[1][2].clone(), stock[1][3].clone()), (json!(1), json!(head + 2)));
    }

    /// 145: the second expected version is wrong → 409 with its stream's details, and nothing
    /// of the batch is readable; a stream named only in `expectedVersions` is just checked.
    #[tokio::test]
    async fn a_mismatched_expected_version_refuses_the_whole_batch() {
        let app = spawn_app().await;
        app.write("acct-1", "Opened", json!({})).await;
        app.write("acct-2", "Opened", json!({})).await;
        app.write("acct-2", "Deposited", json!({})).await;
        let before = message_count(&app).await;
        let error = conflict(
            &app,
            json!([
                [entry("acct-1", "Withdrawn"), entry("acct-2", "Deposited"), entry("acct-3", "Opened")],
                {"expectedVersions": {"acct-1": 0, "acct-2": 0, "acct-3": 5}}
            ]),
            "STREAM_VERSION_CONFLICT",
            "Expected version 0, stream is at version 1",
        )
        .await;
        assert_eq!(error["details"], json!({"actual": 1, "expected": 0, "stream": "acct-2"}));
        assert_eq!(message_count(&app).await, before);
        assert_eq!(version(&app, "acct-1").await, json!(0));
        assert_eq!(version(&app, "acct-2").await, json!(1));
        assert_eq!(version(&app, "acct-3").await, Value::Null);
        assert_eq!(app.call(json!(["category.get", "acct"])).await.as_array().unwrap().len(), 3);

        // The first mismatch in the order the keys are written is the one reported (a raw body:
        // `json!` objects sort their keys); -1 is "no messages".
        let body = r#"["stream.writeBatch",[{"stream":"acct-1","type":"Closed","data":{}}],
            {"expectedVersions":{"acct-3":0,"acct-2":7}}]"#;
        let error = app.rpc_raw(Some(T), body).await.error(
            409,
            "STREAM_VERSION_CONFLICT",
            "Expected version 0, stream is at version -1",
        );
        assert_eq!(error["details"], json!({"actual": -1, "expected": 0, "stream": "acct-3"}));
        let body = body.replace(r#""acct-3":0,"#, r#""acct-3":-1,"#);
        let error = app.rpc_raw(Some(T), body).await.error(
            409,
            "STREAM_VERSION_CONFLICT",
            "Expected version 7, stream is at version 1",
        );
        assert_eq!(error["details"], json!({"actual": 1, "expected": 7, "stream": "acct-2"}));

        // A stream without an entry is only checked; with every version right the batch lands.
        let ok = app
            .call(json!(["stream.writeBatch", [entry("acct-1", "Withdrawn")],
                {"expectedVersions": {"acct-2": 1, "acct-1": 0, "acct-3": -1}}]))
            .await;
        assert_eq!(results(&ok)[0].2, 1);
        assert_eq!(version(&app, "acct-3").await, Value::Null);
    }

    /// 146: a message matching the condition after `after` → 409 with the lowest matching gpos;
    /// with `after` at that gpos the same batch succeeds.
    #[tokio::test]
    async fn a_matching_condition_refuses_the_batch() {
        let app = spawn_app().await;
        let (_, after) = app.write("order-7", "Placed", json!({})).await;
        app.write("stock-3", "Counted", json!({})).await; // a type the query leaves out
        let (_, first) = app.write("stock-4", "Reserved", json!({})).await;
        app.write("order-8", "Released", json!({})).await; // a category the query leaves out
        let batch = |after: i64| {
            json!([
                [entry("order-7", "Paid"), entry("stock-3", "Reserved")],
                {"condition": {"after": after, "query": {"categories": ["stock"], "types": ["Reserved", "Released"]}}}
            ])
        };
        let before = message_count(&app).await;
        let error = conflict(
            &app,
            batch(after),
            "APPEND_CONDITION_FAILED",
            &format!("Append condition failed: a matching message was written at global position {first}"),
        )
        .await;
        assert_eq!(
            error["details"],
            json!({"globalPosition": first, "stream": "stock-4", "type": "Reserved"})
        );
        assert_eq!(message_count(&app).await, before, "nothing of the batch is written");

        let mut body = json!(["stream.writeBatch"]);
        body.as_array_mut().unwrap().extend(batch(first).as_array().unwrap().iter().cloned());
        let ok = app.call(body).await;
        let landed = results(&ok);
        assert_eq!((landed[0].2, landed[1].2), (1, 1));

        // Streams match by name, and a correlation narrows the match to its category (§7.2).
        app.call(json!(["stream.write", "ship-1", {"type": "Sent", "data": {},
            "metadata": {"correlationStreamName": "saga-1"}}])).await;
        let (_, head) = app.write("ship-2", "Sent", json!({})).await;
        let correlated = |correlation: &str| {
            json!([[entry("ship-9", "Sent")], {"condition": {"after": after,
                "query": {"streams": ["ship-2"], "categories": ["ship"], "correlation": correlation}}}])
        };
        let error = conflict(
            &app,
            correlated("saga"),
            "APPEND_CONDITION_FAILED",
            &format!("Append condition failed: a matching message was written at global position {}", head - 1),
        )
        .await;
        assert_eq!(error["details"]["stream"], "ship-1");
        let mut body = json!(["stream.writeBatch"]);
        body.as_array_mut().unwrap().extend(correlated("other").as_array().unwrap().iter().cloned());
        app.call(body).await;
    }

    /// 147: 20 concurrent batches guarded by the same condition, each writing a message the
    /// condition matches: exactly one succeeds, the rest are refused by the condition.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_batches_with_one_condition_have_one_winner() {
        let app = spawn_app().await;
        let (_, after) = app.write("lock-0", "Created", json!({})).await;
        let answers = join_all((0..20).map(|n| guarded_batch(&app, after, n))).await;
        assert_one_winner(&answers);
        assert_eq!(version(&app, "lock-1").await, json!(0));
        assert_eq!(app.call(json!(["category.get", "lock"])).await.as_array().unwrap().len(), 3);
    }

    /// 148: a retried batch gets the original results and writes nothing; a batch mixing a new
    /// id with a stored one is a duplicate and writes nothing either.
    #[tokio::test]
    async fn retries_are_idempotent_and_mixed_ids_are_duplicates() {
        let app = spawn_app().await;
        let batch = json!(["stream.writeBatch", [
            with_id(entry("cart-1", "Added"), ID_A),
            with_id(entry("cart-2", "Added"), ID_B)
        ], {"expectedVersions": {"cart-1": -1}}]);
        let first = app.rpc_as(T, batch.clone()).await;
        assert_eq!(first.status, 200, "{}", first.body);
        let count = message_count(&app).await;
        // Another write in between: the retry still answers the original positions, and its
        // expected version (now stale) does not matter (§17.2 step 1 comes first).
        app.write("cart-1", "Removed", json!({})).await;
        let retry = app.rpc_as(T, batch.clone()).await;
        assert_eq!((retry.status, retry.body.as_str()), (200, first.body.as_str()));
        // Other spellings of the same ids are the same ids.
        let respelled = json!(["stream.writeBatch", [
            with_id(entry("cart-1", "Added"), &ID_A.to_uppercase()),
            with_id(entry("cart-2", "Added"), &ID_B.replace('-', ""))
        ]]);
        assert_eq!(app.rpc_as(T, respelled).await.body, first.body);
        assert_eq!(message_count(&app).await, count + 1);

        let error = conflict(
            &app,
            json!([[with_id(entry("cart-3", "Added"), ID_C), with_id(entry("cart-2", "Added"), ID_B)]]),
            "DUPLICATE_MESSAGE_ID",
            &format!("Message id {ID_B} already exists in stream cart-2"),
        )
        .await;
        assert_eq!(error["details"], json!({"id": ID_B, "stream": "cart-2"}));
        // The same ids in another stream are duplicates too, not retries.
        conflict(
            &app,
            json!([[with_id(entry("cart-9", "Added"), ID_A), with_id(entry("cart-2", "Added"), ID_B)]]),
            "DUPLICATE_MESSAGE_ID",
            &format!("Message id {ID_A} already exists in stream cart-1"),
        )
        .await;
        assert_eq!(message_count(&app).await, count + 1);
        assert_eq!(version(&app, "cart-3").await, Value::Null);
    }

    /// 149: a subscriber sees every message of a batch exactly once, in gpos order, and the
    /// write after the batch next.
    #[tokio::test]
    async fn a_subscriber_sees_each_message_of_a_batch_once_in_order() {
        let app = spawn_app().await;
        let mut sse = Sse::open(&app, "all=true").await;
        let entries: Vec<Value> = (0..7).map(|n| entry(&format!("sub-{}", n % 3), "Happened")).collect();
        let result = app.call(json!(["stream.writeBatch", entries])).await;
        let expected: Vec<Poke> = results(&result)
            .into_iter()
            .map(|(global_position, _, position, stream)| Poke { stream, position, global_position })
            .collect();
        let (_, after) = app.write("sub-9", "Later", json!({})).await;
        let pokes = sse.pokes(8).await;
        assert_ascending(&pokes);
        assert_eq!(pokes[..7], expected[..]);
        assert_eq!(pokes[7].global_position, after);
        // Nothing else is pending: a further write is the very next event.
        let (_, last) = app.write("sub-9", "Last", json!({})).await;
        match within(sse.next()).await {
            Some(Event::Poke(p)) => assert_eq!(p.global_position, last),
            other => panic!("expected the last poke, got {other:?}"),
        }
    }

    /// 149: a reader polling while batches of three land never sees part of one.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_polling_reader_never_sees_a_partial_batch() {
        const BATCHES: usize = 1000;
        let app = spawn_app().await;
        let writer = async {
            for n in 0..BATCHES {
                let entries = [entry("poll-a", "One"), entry(&format!("poll-{n}"), "Two"), entry("poll-b", "Three")];
                app.call(json!(["stream.writeBatch", entries])).await;
            }
        };
        let reader = async {
            let mut reads = 0usize;
            loop {
                let all = app.call(json!(["category.get", "poll", {"batchSize": -1}])).await;
                let seen = all.as_array().unwrap();
                assert_eq!(seen.len() % 3, 0, "a partial batch after {reads} reads");
                for triple in seen.chunks(3) {
                    let types: Vec<&str> = triple.iter().map(|m| m[2].as_str().unwrap()).collect();
                    assert_eq!(types, ["One", "Two", "Three"]);
                }
                reads += 1;
                if seen.len() == 3 * BATCHES {
                    return reads;
                }
            }
        };
        let ((), reads) = tokio::join!(writer, reader);
        assert!(reads >= 1);
    }

    /// 140 for batches: 1024-byte stream names and types are stored on both backends, also where
    /// a batch names streams and categories in its options; 1025 bytes is the §16.1 message.
    #[tokio::test]
    async fn names_and_types_at_the_limit() {
        let app = spawn_app().await;
        let stream = format!("lim-{}", "é".repeat(510));
        assert_eq!(stream.len(), 1024);
        let category = "c".repeat(1024);
        let ty = "€".repeat(341) + "T";
        assert_eq!((category.len(), ty.len()), (1024, 1024));
        let body = json!(["stream.writeBatch",
            [{"stream": stream, "type": ty, "data": {}}, {"stream": category, "type": "T", "data": {}}],
            {"expectedVersions": {stream.clone(): -1},
             "condition": {"after": 0, "query": {"streams": [stream], "categories": [category],
                "types": [ty], "correlation": category}}}]);
        let result = app.call(body).await;
        assert_eq!(results(&result)[0].3, stream);
        let stored = app.call(json!(["stream.last", stream])).await;
        assert_eq!(stored[1], ty.as_str());

        let over = format!("{stream}x");
        let answer = app.rpc_as(T, json!(["stream.writeBatch", [entry("a", "T"), entry(&over, "T")]])).await;
        answer.error(400, "INVALID_REQUEST", "messages[1].stream must be at most 1024 bytes");
        let answer = app.rpc_as(T, json!(["stream.writeBatch", [entry("a", &format!("{ty}x"))]])).await;
        answer.error(400, "INVALID_REQUEST", "messages[0].type must be at most 1024 bytes");
    }

    /// `/metrics` has the method label, and `messagedb_messages_written_total` counts the
    /// messages of a batch, not the call. The counter is process-wide and other tests write in
    /// parallel, so only a lower bound can be checked here (and not that retries add nothing).
    /// `stream.write` answers as before beside batches.
    #[tokio::test]
    async fn the_method_is_labelled_in_metrics() {
        let app = spawn_app().await;
        let before = messages_written(&app).await;
        app.call(json!(["stream.writeBatch", [entry("m-1", "T"), entry("m-2", "T"), entry("m-1", "T")]])).await;
        assert!(messages_written(&app).await >= before + 3);
        let metrics = app.send(reqwest::Method::GET, "/metrics", None, "").await.body;
        let needle = r#"messagedb_rpc_requests_total{method="stream.writeBatch",code="ok"}"#;
        assert!(metrics.contains(needle), "{needle} missing from\n{metrics}");
        let written = app
            .call(json!(["stream.write", "m-1", {"type": "T", "data": {}}, {"expectedVersion": 1}]))
            .await;
        assert_eq!(written["position"], 2);
    }
}

/// The value of `messagedb_messages_written_total` on `/metrics`.
async fn messages_written(app: &App) -> u64 {
    let metrics = app
        .send(reqwest::Method::GET, "/metrics", None, "")
        .await
        .body;
    metrics
        .lines()
        .find_map(|line| line.strip_prefix("messagedb_messages_written_total "))
        .unwrap_or_else(|| panic!("no messages_written counter in\n{metrics}"))
        .parse()
        .expect("a counter value")
}

/// One of the contenders of 147: appends to `lock-1` unless anything in `lock-1` was written
/// after `after`, with a distinct other entry so each winner would be visible.
async fn guarded_batch(app: &App, after: i64, n: usize) -> (u16, Value) {
    let body = json!(["stream.writeBatch",
        [entry("lock-1", "Taken"), entry(&format!("lock-by{n}"), "Won")],
        {"condition": {"after": after, "query": {"streams": ["lock-1"]}}}]);
    let answer = app.rpc_as(T, body).await;
    let json = answer.json();
    (answer.status, json)
}

fn assert_one_winner(answers: &[(u16, Value)]) {
    let winners: Vec<&Value> = answers
        .iter()
        .filter(|(s, _)| *s == 200)
        .map(|(_, v)| v)
        .collect();
    assert_eq!(winners.len(), 1, "{answers:?}");
    let winning_gpos = winners[0]["results"][0]["globalPosition"].as_i64().unwrap();
    let losers: HashSet<i64> = answers
        .iter()
        .filter(|(s, _)| *s != 200)
        .map(|(status, v)| {
            assert_eq!(*status, 409, "{v}");
            assert_eq!(v["error"]["code"], "APPEND_CONDITION_FAILED", "{v}");
            v["error"]["details"]["globalPosition"].as_i64().unwrap()
        })
        .collect();
    // Every loser lost to the winner's message.
    assert_eq!(losers, HashSet::from([winning_gpos]));
}

/// 147 across two PostgreSQL instances: 20 batches with the same condition, split between two
/// servers (each its own store and writer) on one database: exactly one winner.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_batches_across_two_postgres_instances_have_one_winner() {
    if messagedb_testpg::skipped(concat!(
        module_path!(),
        "::concurrent_batches_across_two_postgres_instances_have_one_winner"
    )) {
        return;
    }
    let one = crate::app::postgres::spawn_app().await;
    let two = crate::app::postgres::another_instance(&one).await;
    let (_, after) = one.write("lock-0", "Created", json!({})).await;
    let answers = join_all((0..20).map(|n| {
        let app = if n % 2 == 0 { &one } else { &two };
        guarded_batch(app, after, n)
    }))
    .await;
    assert_one_winner(&answers);
    for app in [&one, &two] {
        assert_eq!(version(app, "lock-1").await, json!(0));
    }
}
