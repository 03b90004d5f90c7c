//! `stream.write` (SPEC §6.3) and the write-side invariants of §10.2: positions (I3), global
//! order (I4), linearizable `expectedVersion` (I5), unique ids (I6), time at commit (§2.5).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use messagedb_core::{
    Limit, MessageId, NamespaceId, NewMessage, Positions, StartAt, Store, StoreError, StreamQuery,
    Timestamp, WriteOutcome,
};

use crate::support::{
    append, append_to, assert_not_found, global_positions, message, namespace, positions,
    read_category, read_stream, whole_category, whole_stream,
};

pub async fn positions_start_at_zero_and_global_positions_increase(store: Arc<dyn Store>) {
    let store = &*store;
    let ns = namespace(store, "writes").await;
    let mut written = Vec::new();
    for _ in 0..3 {
        written.push(append_to(store, &ns, "account-1").await);
    }
    written.push(append_to(store, &ns, "account-2").await);
    written.push(append_to(store, &ns, "account-1").await);
    let stream_positions: Vec<i64> = written.iter().map(|p| p.position).collect();
    assert_eq!(stream_positions, [0, 1, 2, 0, 3]);
    let gpos: Vec<i64> = written.iter().map(|p| p.global_position).collect();
    assert_eq!(gpos[0], 1, "a new namespace starts at global position 1");
    assert!(
        gpos.windows(2).all(|w| w[0] < w[1]),
        "{gpos:?} must strictly increase"
    );
    let stored = read_stream(store, &ns, "account-1", whole_stream()).await;
    assert_eq!(positions(&stored), [0, 1, 2, 3]);
    assert_eq!(
        global_positions(&stored),
        [gpos[0], gpos[1], gpos[2], gpos[4]]
    );
}

pub async fn global_positions_are_gapless(store: Arc<dyn Store>) {
    let store = &*store;
    let ns = namespace(store, "gapless").await;
    let mut gpos = Vec::new();
    for i in 0..30 {
        let stream = format!("s{}-{}", i % 3, i % 5);
        gpos.push(append_to(store, &ns, &stream).await.global_position);
    }
    assert_eq!(gpos, (1..=30).collect::<Vec<i64>>());
    let all = read_category(store, &ns, whole_category("")).await;
    assert_eq!(global_positions(&all), gpos);
}

pub async fn ids_are_generated_v7_or_kept(store: Arc<dyn Store>) {
    let store = &*store;
    let ns = namespace(store, "ids").await;
    append_to(store, &ns, "gen-1").await;
    let generated = &read_stream(store, &ns, "gen-1", whole_stream()).await[0];
    assert_eq!(
        generated.id.as_uuid().get_version_num(),
        7,
        "{}",
        generated.id
    );
    let text = generated.id.to_string();
    assert_eq!(text, text.to_lowercase());
    assert_eq!(text.len(), 36);

    let supplied = MessageId::parse("{0190F2C4-3B1E-7C2A-9D4E-1F2A3B4C5D6E}").unwrap();
    append(
        store,
        &ns,
        NewMessage {
            id: Some(supplied),
            ..message("kept-1")
        },
    )
    .await;
    let kept = &read_stream(store, &ns, "kept-1", whole_stream()).await[0];
    assert_eq!(kept.id, supplied);
    assert_eq!(kept.id.to_string(), "0190f2c4-3b1e-7c2a-9d4e-1f2a3b4c5d6e");
}

pub async fn idempotent_retry_returns_the_original_positions(store: Arc<dyn Store>) {
    let store = &*store;
    let ns = namespace(store, "idempotent").await;
    append_to(store, &ns, "other-1").await;
    let id = MessageId::new_v7();
    let original = NewMessage {
        id: Some(id),
        data: r#"{"v":1}"#.to_owned(),
        expected_version: Some(-1),
        ..message("account-1")
    };
    let first = append(store, &ns, original.clone()).await;
    append_to(store, &ns, "account-1").await;
    append_to(store, &ns, "account-1").await;

    // Same id, stream and type: the original positions, whatever the data and even though the
    // expectedVersion is stale by now.
    let retry = NewMessage {
        data: r#"{"v":2}"#.to_owned(),
        ..original
    };
    let outcome = store.write(&ns, retry).await.expect("a retry succeeds");
    assert_eq!(outcome, WriteOutcome::AlreadyWritten(first));
    assert_eq!(
        first,
        Positions {
            position: 0,
            global_position: 2
        }
    );

    let stored = read_stream(store, &ns, "account-1", whole_stream()).await;
    assert_eq!(stored.len(), 3, "the retry added nothing");
    assert_eq!(stored[0].data, r#"{"v":1}"#, "the retry changed nothing");
    assert_eq!(store.namespace_info(&ns).await.unwrap().message_count, 4);
    // Whether a refused or idempotent write may leave a gap in global positions is backend
    // specific (SPEC §10.2 I4: none on the embedded backend, checked in its own tests).
    let next = append_to(store, &ns, "account-1").await;
    assert_eq!(next.position, 3);
    assert!(next.global_position > 4, "{next:?}");
}

pub async fn duplicate_id_in_another_stream_or_type_is_refused(store: Arc<dyn Store>) {
    let store = &*store;
    let ns = namespace(store, "duplicates").await;
    let id = MessageId::new_v7();
    append(
        store,
        &ns,
        NewMessage {
            id: Some(id),
            ..message("account-1")
        },
    )
    .await;
    let elsewhere = [
        NewMessage {
            id: Some(id),
            ..message("account-2")
        },
        NewMessage {
            id: Some(id),
            message_type: "Other".to_owned(),
            ..message("account-1")
        },
    ];
    for attempt in elsewhere {
        let what = format!("{} / {}", attempt.stream_name, attempt.message_type);
        match store.write(&ns, attempt).await {
            Err(StoreError::DuplicateMessageId {
                id: reported,
                stream,
            }) => {
                assert_eq!(reported, id, "{what}");
                assert_eq!(stream, "account-1", "{what}: the existing message's stream");
            }
            other => panic!("{what}: expected DuplicateMessageId, got {other:?}"),
        }
    }
    assert_eq!(
        store
            .stream_version(&ns, &crate::support::stream("account-2"))
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .stream_version(&ns, &crate::support::stream("account-1"))
            .await
            .unwrap(),
        Some(0)
    );
    assert_eq!(store.namespace_info(&ns).await.unwrap().message_count, 1);
}

pub async fn version_conflicts_report_expected_and_actual(store: Arc<dyn Store>) {
    let store = &*store;
    let ns = namespace(store, "versions").await;
    let expecting = |stream: &str, version: i64| NewMessage {
        expected_version: Some(version),
        ..message(stream)
    };
    let conflict = |result: Result<WriteOutcome, StoreError>,
                    stream: &str,
                    expected: i64,
                    actual: i64| match result {
        Err(StoreError::VersionConflict {
            stream: s,
            expected: e,
            actual: a,
        }) => {
            assert_eq!((s.as_str(), e, a), (stream, expected, actual));
        }
        other => panic!("expected a conflict ({expected} vs {actual}) on {stream}, got {other:?}"),
    };

    assert_eq!(
        append(store, &ns, expecting("account-1", -1))
            .await
            .position,
        0
    );
    conflict(
        store.write(&ns, expecting("account-1", -1)).await,
        "account-1",
        -1,
        0,
    );
    conflict(
        store.write(&ns, expecting("account-9", 0)).await,
        "account-9",
        0,
        -1,
    );
    assert_eq!(
        append(store, &ns, expecting("account-1", 0)).await.position,
        1
    );
    conflict(
        store.write(&ns, expecting("account-1", 5)).await,
        "account-1",
        5,
        1,
    );
    conflict(
        store.write(&ns, expecting("account-1", 0)).await,
        "account-1",
        0,
        1,
    );
    assert_eq!(
        store.namespace_info(&ns).await.unwrap().message_count,
        2,
        "conflicts write nothing"
    );
}

pub async fn concurrent_expected_version_writes_have_one_winner(store: Arc<dyn Store>) {
    let ns = namespace(&*store, "race").await;
    append_to(&*store, &ns, "account-1").await;
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let (store, ns) = (Arc::clone(&store), ns.clone());
            tokio::spawn(async move {
                let attempt = NewMessage {
                    expected_version: Some(0),
                    ..message("account-1")
                };
                store.write(&ns, attempt).await
            })
        })
        .collect();
    let mut winners = Vec::new();
    let mut conflicts = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(WriteOutcome::Appended(p)) => winners.push(p),
            Err(StoreError::VersionConflict {
                expected: 0,
                actual: 1,
                ..
            }) => conflicts += 1,
            other => panic!("expected an append or a conflict at version 1, got {other:?}"),
        }
    }
    assert_eq!(winners.len(), 1, "{winners:?}");
    assert_eq!(winners[0].position, 1);
    assert_eq!(conflicts, 19);
    assert_eq!(
        store
            .stream_version(&ns, &crate::support::stream("account-1"))
            .await
            .unwrap(),
        Some(1)
    );
}

pub async fn concurrent_writes_keep_positions_gapless(store: Arc<dyn Store>) {
    let ns = namespace(&*store, "concurrent").await;
    let tasks: Vec<_> = (0..1000)
        .map(|i| {
            let (store, ns) = (Arc::clone(&store), ns.clone());
            tokio::spawn(async move {
                let stream = format!("load-{}", i % 10);
                let outcome = store.write(&ns, message(&stream)).await;
                (stream, outcome)
            })
        })
        .collect();
    let mut by_stream: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    let mut all_gpos = Vec::new();
    for task in tasks {
        let (stream, outcome) = task.await.unwrap();
        let Ok(WriteOutcome::Appended(p)) = outcome else {
            panic!("{stream}: expected an append, got {outcome:?}");
        };
        by_stream.entry(stream).or_default().push(p.position);
        all_gpos.push(p.global_position);
    }
    all_gpos.sort_unstable();
    assert_eq!(
        all_gpos,
        (1..=1000).collect::<Vec<i64>>(),
        "unique, gapless global positions"
    );
    for (stream, mut stream_positions) in by_stream {
        stream_positions.sort_unstable();
        assert_eq!(stream_positions, (0..100).collect::<Vec<i64>>(), "{stream}");
        let stored = read_stream(&*store, &ns, &stream, whole_stream()).await;
        assert_eq!(
            positions(&stored),
            (0..100).collect::<Vec<i64>>(),
            "{stream}"
        );
        let gpos = global_positions(&stored);
        assert!(
            gpos.windows(2).all(|w| w[0] < w[1]),
            "{stream}: gpos follow positions"
        );
    }
    let everything = read_category(&*store, &ns, whole_category("")).await;
    assert_eq!(
        global_positions(&everything),
        (1..=1000).collect::<Vec<i64>>()
    );
}

/// I4: a reader that has seen global position N never later sees a new message below N. Each
/// poll must therefore extend the previous one.
pub async fn readers_never_see_a_position_appear_below_one_seen(store: Arc<dyn Store>) {
    const WRITERS: usize = 4;
    const EACH: usize = 100;
    let ns = namespace(&*store, "visibility").await;
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let (store, ns) = (Arc::clone(&store), ns.clone());
            tokio::spawn(async move {
                for i in 0..EACH {
                    append_to(&*store, &ns, &format!("cat{w}-{}", i % 7)).await;
                }
            })
        })
        .collect();
    let mut seen: Vec<i64> = Vec::new();
    while seen.len() < WRITERS * EACH {
        let now = global_positions(&read_category(&*store, &ns, whole_category("")).await);
        assert!(now.windows(2).all(|w| w[0] < w[1]), "ascending: {now:?}");
        assert!(
            now.len() >= seen.len() && now[..seen.len()] == seen[..],
            "a message appeared below one already seen: before {:?}, now {:?}",
            seen.last(),
            now.iter().find(|g| !seen.contains(g))
        );
        seen = now;
        tokio::task::yield_now().await;
    }
    for writer in writers {
        writer.await.unwrap();
    }
    assert_eq!(seen, (1..=(WRITERS * EACH) as i64).collect::<Vec<i64>>());
}

pub async fn times_are_microseconds_at_commit(store: Arc<dyn Store>) {
    let store = &*store;
    let ns = namespace(store, "times").await;
    let before = Timestamp::now();
    append_to(store, &ns, "clock-1").await;
    let after = Timestamp::now();
    // A real 2 ms gap between two writes (SPEC §15 J94), not a synchronisation sleep.
    tokio::time::sleep(Duration::from_millis(2)).await;
    append_to(store, &ns, "clock-1").await;
    let stored = read_stream(store, &ns, "clock-1", whole_stream()).await;
    let (first, second) = (stored[0].time, stored[1].time);
    assert!(
        before <= first && first <= after,
        "{before:?} <= {first:?} <= {after:?}: time is µs at commit"
    );
    assert!(
        second.as_micros() - first.as_micros() >= 2000,
        "{first:?} then {second:?}"
    );
    let last = store.namespace_info(&ns).await.unwrap().last_activity;
    assert_eq!(last, Some(second));
    let query = StreamQuery {
        start: StartAt::Position(1),
        limit: Limit::AtMost(1),
    };
    assert_eq!(
        read_stream(store, &ns, "clock-1", query).await[0].time,
        second,
        "reads agree"
    );
}

pub async fn writes_to_a_missing_namespace_fail(store: Arc<dyn Store>) {
    let store = &*store;
    namespace(store, "present").await;
    let ghost = NamespaceId::parse("ghost").unwrap();
    assert_not_found(store.write(&ghost, message("a-1")).await, &ghost, "write");
}
