//! SPEC §18 through HTTP, on both backends: `event: deleted` in replay and live, between the
//! pokes around it (checklist 156); a subscription open across a deletion keeps working and
//! never sees a removed message; `--allow-deletion=false` (153).

use serde_json::json;

use crate::app::{on_both_backends, spawn_app, spawn_with};
use crate::sse_client::{Event, Sse};

/// The next event that is not a keepalive.
async fn next_event(sse: &mut Sse) -> Event {
    loop {
        match sse.next().await.expect("an event") {
            Event::Keepalive => {}
            event => return event,
        }
    }
}

fn gpos_of(event: &Event) -> i64 {
    match event {
        Event::Poke(p) => p.global_position,
        Event::Deleted(data) => {
            let value: serde_json::Value = serde_json::from_str(data).unwrap();
            value["globalPosition"].as_i64().unwrap()
        }
        other => panic!("{other:?}"),
    }
}

on_both_backends! {
/// 156: a category subscription open before a deletion and one started afterwards at a position
/// before it both get `event: deleted` once, between the pokes of the messages around it.
#[tokio::test]
async fn category_subscriptions_get_the_deletion_in_order() {
    let app = spawn_app().await;
    app.write("gdpr-1", "T", json!({"secret": "alice"})).await;
    app.write("gdpr-1", "T", json!({"secret": "bob"})).await;
    let mut before = Sse::open(&app, "category=gdpr").await;
    assert_eq!(before.pokes(2).await.len(), 2);
    let removed = app.call(json!(["stream.truncate", "gdpr-1", {"before": 1}])).await;
    assert_eq!(removed, json!({"deleted": 1, "version": 1}));
    let (_, after_gpos) = app.write("gdpr-2", "T", json!({})).await;
    let deletion = after_gpos - 1;
    let expected = format!(r#"{{"before":1,"globalPosition":{deletion},"stream":"gdpr-1"}}"#);

    // Live.
    assert_eq!(next_event(&mut before).await, Event::Deleted(expected.clone()));
    assert_eq!(gpos_of(&next_event(&mut before).await), after_gpos);

    // Replay from gpos 1: the removed message is gone, the deletion sits between the rest.
    let mut later = Sse::open(&app, "category=gdpr&position=1").await;
    let mut replayed = Vec::new();
    for _ in 0..3 {
        replayed.push(next_event(&mut later).await);
    }
    assert_eq!(
        replayed.iter().map(gpos_of).collect::<Vec<_>>(),
        [2, deletion, after_gpos],
        "{replayed:?}"
    );
    assert_eq!(replayed[1], Event::Deleted(expected));

    // A stream subscription from position 0 is told first, then gets what remains.
    let mut stream = Sse::open(&app, "stream=gdpr-1&position=0").await;
    assert!(matches!(next_event(&mut stream).await, Event::Deleted(_)));
    assert_eq!(gpos_of(&next_event(&mut stream).await), 2);
    // One started above the removed positions is not told.
    let mut above = Sse::open(&app, "stream=gdpr-1&position=1").await;
    assert_eq!(gpos_of(&next_event(&mut above).await), 2);

    // A subscription open across a whole-stream deletion keeps working: later writes arrive.
    app.call(json!(["stream.delete", "gdpr-1"])).await;
    let (position, gpos) = app.write("gdpr-1", "T", json!({})).await;
    assert_eq!(position, 2, "versions never go back");
    assert!(matches!(next_event(&mut before).await, Event::Deleted(_)));
    assert_eq!(gpos_of(&next_event(&mut before).await), gpos);
    let deletions = app.call(json!(["ns.deletions"])).await;
    assert_eq!(deletions.as_array().unwrap().len(), 2);
}

/// 153: with `--allow-deletion=false` both methods answer 403 and nothing is removed.
#[tokio::test]
async fn deletion_can_be_disabled() {
    let app = spawn_with(messagedb_server::ServerConfig {
        allow_deletion: false,
        ..messagedb_server::ServerConfig::default()
    })
    .await;
    app.write("keep-1", "T", json!({})).await;
    for body in [
        json!(["stream.delete", "keep-1"]),
        json!(["stream.truncate", "keep-1", {"before": 1}]),
    ] {
        let answer = app.rpc_as(crate::app::T, body).await;
        assert_eq!(answer.status, 403, "{}", answer.body);
        let error = answer.json();
        assert_eq!(error["error"]["code"], "AUTH_UNAUTHORIZED");
        assert_eq!(error["error"]["message"], "Deletion is disabled on this server");
    }
    let stream = app.call(json!(["stream.get", "keep-1"])).await;
    assert_eq!(stream.as_array().unwrap().len(), 1);
}
}
