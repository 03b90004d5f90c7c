//! SPEC §2.5–2.6, checklist group J: payloads round-trip byte-identically; times are exact.

use proptest::prelude::*;
use serde_json::json;

use crate::app::{on_both_backends, spawn_app, App, T};

/// Writes `data` (raw JSON text) and returns the raw `stream.get` answer body.
async fn round_trip(app: &App, stream: &str, data: &str) -> String {
    let body = format!(
        r#"["stream.write",{},{{"type":"T","data":{data}}}]"#,
        serde_json::to_string(stream).unwrap()
    );
    let written = app.rpc_raw(Some(T), body).await;
    assert_eq!(written.status, 200, "{}", written.body);
    let read = app
        .rpc_raw(
            Some(T),
            format!(
                r#"["stream.get",{}]"#,
                serde_json::to_string(stream).unwrap()
            ),
        )
        .await;
    assert_eq!(read.status, 200);
    read.body
}

/// The `data` text of the only message in a raw `stream.get` answer.
fn data_of(body: &str) -> &str {
    // [["<36-char id>","T",0,<gpos>,DATA,null,"<time>"]]\n
    let after_gpos = body.match_indices(',').nth(3).unwrap().0 + 1;
    let end = body.rfind(",null,\"").unwrap();
    &body[after_gpos..end]
}

on_both_backends! {
/// J90–J92.
#[tokio::test]
async fn payloads_round_trip_byte_identically() {
    let app = spawn_app().await;
    let sixty_k = format!(
        r#"{{"blob":"{}","n":[{}]}}"#,
        "z".repeat(60_000),
        vec!["1.0"; 100].join(",")
    );
    let cases = [
        r#"{"b":1,"a":{"z":[1,2.50,1e3]},"big":12345678901234567890}"#.to_owned(),
        r#"{"s":"<&>","e":"é","emoji":"😀","empty":"","esc":"\u00e9"}"#.to_owned(),
        r#"{"t":true,"f":false,"n":null,"nested":[[[]],[{}]],"o":{}}"#.to_owned(),
        r#"{"dup":1,"dup":2,"neg":-0,"exp":1E-7,"line":"\u2028","q":"\"\\\/"}"#.to_owned(),
        r#"{}"#.to_owned(),
        sixty_k,
    ];
    for (i, data) in cases.iter().enumerate() {
        let body = round_trip(&app, &format!("fid-{i}"), data).await;
        assert_eq!(data_of(&body), data);
    }
    // Whitespace outside strings is dropped, inside strings kept.
    let body = round_trip(&app, "fid-ws", "{ \"a\" : [ 1 , 2 ] ,\n \"s\" : \" x \" }").await;
    assert_eq!(data_of(&body), r#"{"a":[1,2],"s":" x "}"#);
    // Metadata likewise, in stream and category layouts.
    let meta = r#"{"correlationStreamName":"w-1","x":1.50}"#;
    let w = app
        .rpc_raw(
            Some(T),
            format!(r#"["stream.write","meta-1",{{"type":"T","data":{{}},"metadata":{meta}}}]"#),
        )
        .await;
    assert_eq!(w.status, 200);
    let got = app.rpc_raw(Some(T), r#"["category.get","meta"]"#).await;
    assert!(
        got.body.contains(&format!(",{{}},{meta},\"")),
        "{}",
        got.body
    );
}

/// Result objects use ascending keys, as the SPEC shows them.
#[tokio::test]
async fn result_key_order() {
    let app = spawn_app().await;
    let w = app
        .rpc_raw(Some(T), r#"["stream.write","k-1",{"type":"T","data":{}}]"#)
        .await;
    assert_eq!(w.body, "{\"globalPosition\":1,\"position\":0}\n");
    let health = app.rpc_raw(Some(T), r#"["sys.health"]"#).await;
    assert_eq!(
        health.body,
        format!(
            "{{\"backend\":\"{}\",\"connections\":0,\"status\":\"ok\"}}\n",
            app.state.store().backend_name()
        )
    );
    let created = app.rpc_raw(Some(T), r#"["ns.create","keys"]"#).await;
    assert!(
        created.body.starts_with("{\"createdAt\":\"")
            && created
                .body
                .contains("\",\"namespace\":\"keys\",\"token\":\"ns_")
    );
    let info = app.rpc_raw(Some(T), r#"["ns.info","keys"]"#).await;
    assert!(info.body.contains("\",\"description\":\"\",\"lastActivity\":null,\"messageCount\":0,\"namespace\":\"keys\",\"streamCount\":0}\n"), "{}", info.body);
    let streams = app.rpc_raw(Some(T), r#"["ns.streams"]"#).await;
    assert!(
        streams.body.starts_with("[{\"lastActivity\":\"")
            && streams
                .body
                .ends_with("\",\"stream\":\"k-1\",\"version\":0}]\n")
    );
    let cats = app.rpc_raw(Some(T), r#"["ns.categories"]"#).await;
    assert_eq!(
        cats.body,
        "[{\"category\":\"k\",\"messageCount\":1,\"streamCount\":1}]\n"
    );
    let list = app.rpc_raw(Some(T), r#"["ns.list"]"#).await;
    assert!(
        list.body.starts_with("[{\"createdAt\":\"")
            && list
                .body
                .contains("\",\"description\":\"\",\"messageCount\":0,\"namespace\":\"keys\"}")
    );
    let deleted = app.rpc_raw(Some(T), r#"["ns.delete","keys"]"#).await;
    assert!(
        deleted.body.starts_with("{\"deletedAt\":\"")
            && deleted
                .body
                .ends_with("\",\"messagesDeleted\":0,\"namespace\":\"keys\"}\n")
    );
}

/// J93, J94.
#[tokio::test]
async fn times_have_microsecond_format() {
    let app = spawn_app().await;
    let first = app.write("time-1", "T", json!({})).await;
    // Two writes at least 2 ms apart: wait on the clock itself, not a fixed sleep.
    let started = std::time::Instant::now();
    while started.elapsed() < std::time::Duration::from_millis(2) {
        tokio::task::yield_now().await;
    }
    app.write("time-1", "T", json!({})).await;
    for i in 0..20 {
        app.write("time-2", "T", json!({"i": i})).await;
    }
    let mut times = Vec::new();
    for stream in ["time-1", "time-2"] {
        for m in app
            .call(json!(["stream.get", stream]))
            .await
            .as_array()
            .unwrap()
        {
            times.push(m[6].as_str().unwrap().to_owned());
        }
    }
    let info = app.call(json!(["ns.info", "default"])).await;
    times.push(info["createdAt"].as_str().unwrap().to_owned());
    times.push(info["lastActivity"].as_str().unwrap().to_owned());
    for t in &times {
        assert!(valid_time(t), "{t}");
    }
    assert_ne!(times[0], times[1], "writes 2 ms apart have different times");
    assert_eq!(first, (0, 1));
}
}

/// `^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z$` with no trailing zero in the fraction.
fn valid_time(t: &str) -> bool {
    let b = t.as_bytes();
    let digits =
        |r: std::ops::Range<usize>| b.get(r).is_some_and(|s| s.iter().all(u8::is_ascii_digit));
    let head = b.len() >= 20
        && digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[7] == b'-'
        && digits(8..10)
        && b[10] == b'T'
        && digits(11..13)
        && b[13] == b':'
        && digits(14..16)
        && b[16] == b':'
        && digits(17..19);
    if !head || !t.ends_with('Z') {
        return false;
    }
    match &t[19..t.len() - 1] {
        "" => true,
        frac => {
            let f = &frac[1..];
            frac.starts_with('.')
                && (1..=6).contains(&f.len())
                && f.bytes().all(|c| c.is_ascii_digit())
                && !f.ends_with('0')
        }
    }
}

fn arb_json() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(serde_json::Value::from),
        "\\PC{0,12}".prop_map(serde_json::Value::from),
        "[\\x00-\\x1f\"\\\\<>&\u{2028}é😀]{0,6}".prop_map(serde_json::Value::from),
    ];
    leaf.prop_recursive(3, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(serde_json::Value::from),
            prop::collection::vec(("\\PC{0,8}", inner), 0..6)
                .prop_map(|kv| serde_json::Value::Object(kv.into_iter().collect())),
        ]
    })
}

fn arb_object() -> impl Strategy<Value = String> {
    prop::collection::vec(("\\PC{0,8}", arb_json()), 0..6).prop_map(|members| {
        // Built by hand so that key order and duplicates are whatever was generated.
        let parts: Vec<String> = members
            .iter()
            .map(|(k, v)| format!("{}:{}", serde_json::to_string(k).unwrap(), v))
            .collect();
        format!("{{{}}}", parts.join(","))
    })
}

/// Arbitrary payload objects round-trip byte-identically through stream.write/stream.get.
#[test]
fn arbitrary_payloads_round_trip() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let app = runtime.block_on(spawn_app());
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases: 64,
        ..ProptestConfig::default()
    });
    let counter = std::cell::Cell::new(0);
    runner
        .run(&arb_object(), |data| {
            counter.set(counter.get() + 1);
            let stream = format!("prop-{}", counter.get());
            let body = runtime.block_on(round_trip(&app, &stream, &data));
            prop_assert_eq!(data_of(&body), data.as_str());
            Ok(())
        })
        .unwrap();
}
