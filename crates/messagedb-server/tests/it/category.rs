//! SPEC §6.7 and §7, checklist group H: category reads, consumer groups, correlation.

use std::collections::BTreeSet;

use serde_json::{json, Value};

use crate::app::{on_both_backends, spawn_app, App, T};

fn gpos(messages: &Value) -> Vec<i64> {
    messages
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m[4].as_i64().unwrap())
        .collect()
}

fn streams(messages: &Value) -> Vec<String> {
    messages
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m[1].as_str().unwrap().to_owned())
        .collect()
}

async fn category(app: &App, name: &str, options: Value) -> Value {
    app.call(json!(["category.get", name, options])).await
}

on_both_backends! {
/// H64–H67.
#[tokio::test]
async fn selection_order_and_start() {
    let app = spawn_app().await;
    for stream in [
        "account-1",
        "accountLog-1",
        "account-2+x",
        "Account-1",
        "account",
        "account-1",
    ] {
        app.write(stream, "T", json!({"s": stream})).await;
    }
    let all = category(&app, "account", json!({})).await;
    let m = &all[0];
    assert_eq!(m.as_array().unwrap().len(), 8);
    assert_eq!(
        (m[1].clone(), m[2].clone(), m[3].clone()),
        (json!("account-1"), json!("T"), json!(0))
    );
    assert_eq!(
        streams(&all),
        ["account-1", "account-2+x", "account", "account-1"]
    );
    assert_eq!(gpos(&all), [1, 3, 5, 6]);

    assert_eq!(
        gpos(&category(&app, "account", json!({"position": 3})).await),
        [3, 5, 6]
    );
    assert_eq!(
        category(&app, "account", json!({"position": 0})).await,
        category(&app, "account", json!({"position": 1})).await
    );
    assert_eq!(
        gpos(&category(&app, "account", json!({"position": 6, "globalPosition": 2})).await),
        [3, 5, 6]
    );
    assert_eq!(
        gpos(&category(&app, "", json!({})).await),
        [1, 2, 3, 4, 5, 6]
    );
    assert_eq!(category(&app, "account-1", json!({})).await, json!([]));
    assert_eq!(
        gpos(&category(&app, "account", json!({"batchSize": 2})).await),
        [1, 3]
    );
}

/// H68–H71: consumer groups partition a category by cardinal id.
#[tokio::test]
async fn consumer_groups_partition() {
    let app = spawn_app().await;
    let ids = [
        "123",
        "456",
        "abc",
        "1",
        "2",
        "alice",
        "ü",
        "123+alice",
        "123+bob",
        "x",
        "y",
        "z",
    ];
    for id in ids {
        app.write(&format!("entity-{id}"), "T", json!({})).await;
    }
    app.write("entity", "T", json!({})).await;
    app.write("entity-", "T", json!({})).await;
    let everything: BTreeSet<i64> = gpos(&category(&app, "entity", json!({})).await)
        .into_iter()
        .filter(|&g| g <= ids.len() as i64)
        .collect();
    for size in [2, 3] {
        let mut seen = BTreeSet::new();
        for member in 0..size {
            let part = category(
                &app,
                "entity",
                json!({"consumerGroup": {"member": member, "size": size}}),
            )
            .await;
            for g in gpos(&part) {
                assert!(seen.insert(g), "gpos {g} in two members");
            }
            let names = streams(&part);
            assert!(
                !names.iter().any(|s| s == "entity" || s == "entity-"),
                "no member gets an empty cardinal id"
            );
            let has_alice = names.iter().any(|s| s == "entity-123+alice");
            let has_bob = names.iter().any(|s| s == "entity-123+bob");
            let has_123 = names.iter().any(|s| s == "entity-123");
            assert_eq!(
                (has_alice, has_bob),
                (has_123, has_123),
                "compound ids follow their cardinal id"
            );
        }
        assert_eq!(
            seen, everything,
            "size {size} covers everything exactly once"
        );
    }
    // §7.1 table: `abc` is member 0 of 2 and member 2 of 3.
    let m0 = streams(
        &category(
            &app,
            "entity",
            json!({"consumerGroup": {"member": 0, "size": 2}}),
        )
        .await,
    );
    let m2 = streams(
        &category(
            &app,
            "entity",
            json!({"consumerGroup": {"member": 2, "size": 3}}),
        )
        .await,
    );
    assert!(m0.contains(&"entity-abc".to_owned()) && m2.contains(&"entity-abc".to_owned()));
    assert!(m0.contains(&"entity-1".to_owned()) && !m0.contains(&"entity-123".to_owned()));
    // H71: the group filter applies before batchSize.
    let member = json!({"member": 1, "size": 2});
    let full = gpos(&category(&app, "entity", json!({"consumerGroup": member})).await);
    let limited = gpos(
        &category(
            &app,
            "entity",
            json!({"consumerGroup": member, "batchSize": 5}),
        )
        .await,
    );
    assert!(full.len() > 5);
    assert_eq!(limited, full[..5]);
}

/// H70 with the SPEC's own example name.
#[tokio::test]
async fn spec_example_x_abc() {
    let app = spawn_app().await;
    app.write("x-abc", "T", json!({})).await;
    app.write("x", "T", json!({})).await;
    let member = |m: i64, n: i64| json!({"consumerGroup": {"member": m, "size": n}});
    assert_eq!(streams(&category(&app, "x", member(0, 2)).await), ["x-abc"]);
    assert_eq!(
        streams(&category(&app, "x", member(1, 2)).await),
        Vec::<String>::new()
    );
    assert_eq!(streams(&category(&app, "x", member(2, 3)).await), ["x-abc"]);
}

/// H72: group validation messages.
#[tokio::test]
async fn consumer_group_validation() {
    let app = spawn_app().await;
    let cases = [
        (
            json!({"member": 0}),
            "options.consumerGroup requires both member and size",
        ),
        (
            json!({"member": 2, "size": 2}),
            "options.consumerGroup.member must be < size",
        ),
        (
            json!({"member": -1, "size": 2}),
            "options.consumerGroup.member must be non-negative",
        ),
        (
            json!({"member": 0, "size": 0}),
            "options.consumerGroup.size must be positive",
        ),
    ];
    for (group, message) in cases {
        app.rpc_as(T, json!(["category.get", "x", {"consumerGroup": group}]))
            .await
            .error(400, "INVALID_REQUEST", message);
    }
}

/// H73: correlation compares the category of `metadata.correlationStreamName`.
#[tokio::test]
async fn correlation_filter() {
    let app = spawn_app().await;
    let metas = [
        json!({"correlationStreamName": "workflow-abc"}),
        json!({"correlationStreamName": "workflow"}),
        json!({"correlationStreamName": "process-1"}),
        json!({"correlationStreamName": "Workflow-1"}),
        Value::Null,
        json!({"correlationStreamName": 5}),
        json!({"other": "workflow-1"}),
    ];
    for meta in &metas {
        app.call(json!(["stream.write", "corr-1", {"type": "T", "data": {}, "metadata": meta}]))
            .await;
    }
    let kept = category(&app, "corr", json!({"correlation": "workflow"})).await;
    assert_eq!(gpos(&kept), [1, 2]);
    assert_eq!(
        gpos(&category(&app, "corr", json!({"correlation": ""})).await).len(),
        metas.len()
    );
    let limited = category(
        &app,
        "corr",
        json!({"correlation": "workflow", "batchSize": 1, "position": 2}),
    )
    .await;
    assert_eq!(gpos(&limited), [2]);
}
}
