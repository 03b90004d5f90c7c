//! Atomic batches (SPEC §17, checklist 144–149): entry order, expected versions, append
//! conditions, idempotent retries, one winner among concurrent guarded batches, and no reader or
//! listener ever seeing part of a batch.

use std::sync::Arc;

use messagedb_core::{
    AppendCondition, BatchOutcome, BatchRequest, ConditionQuery, MessageId, NamespaceId,
    NewMessage, Positions, Store, StoreError, WriteRequest,
};

use crate::notifications::Recorder;
use crate::support::{
    append, append_to, message, namespace, read_category, read_stream, stream, whole_category,
    whole_stream,
};

fn entry(stream_name: &str) -> WriteRequest {
    WriteRequest::new(message(stream_name))
}

fn entry_with_id(stream_name: &str, id: MessageId) -> WriteRequest {
    WriteRequest::new(NewMessage {
        id: Some(id),
        ..message(stream_name)
    })
}

fn batch(entries: Vec<WriteRequest>) -> BatchRequest {
    BatchRequest {
        entries,
        expected_versions: Vec::new(),
        condition: None,
    }
}

fn on_category(after: i64, category: &str) -> AppendCondition {
    AppendCondition {
        after,
        query: ConditionQuery {
            categories: vec![category.to_owned()],
            ..ConditionQuery::default()
        },
    }
}

async fn write(store: &dyn Store, ns: &NamespaceId, batch: BatchRequest) -> BatchOutcome {
    store
        .write_batch(ns, batch)
        .await
        .unwrap_or_else(|e| panic!("batch refused: {e}"))
}

fn at(position: i64, global_position: i64) -> Positions {
    Positions {
        position,
        global_position,
    }
}

/// 144: three entries over two streams: consecutive global positions, each stream's positions
/// consecutive after its version, results in entry order.
pub async fn entries_land_in_order(store: Arc<dyn Store>) {
    let ns = namespace(&*store, "batch-order").await;
    append_to(&*store, &ns, "stock-3").await;
    let outcome = write(
        &*store,
        &ns,
        batch(vec![entry("order-7"), entry("stock-3"), entry("order-7")]),
    )
    .await;
    assert!(outcome.appended);
    assert_eq!(outcome.positions, vec![at(0, 2), at(1, 3), at(1, 4)]);
    let order = read_stream(&*store, &ns, "order-7", whole_stream()).await;
    assert_eq!(order.len(), 2);
    assert_eq!(order[1].global_position, 4);
}

/// 145: the second expected version mismatches (a stream only checked, with no entry): a
/// conflict naming it, and nothing of the batch is readable.
pub async fn a_stale_expected_version_writes_nothing(store: Arc<dyn Store>) {
    let ns = namespace(&*store, "batch-versions").await;
    append_to(&*store, &ns, "stock-3").await;
    let mut guarded = batch(vec![entry("order-7"), entry("order-8")]);
    guarded.expected_versions = vec![(stream("order-7"), -1), (stream("stock-3"), 5)];
    let error = store.write_batch(&ns, guarded.clone()).await.unwrap_err();
    assert!(
        matches!(&error, StoreError::VersionConflict { stream, expected: 5, actual: 0 } if stream.as_str() == "stock-3"),
        "{error:?}"
    );
    let everything = read_category(&*store, &ns, whole_category("")).await;
    assert_eq!(everything.len(), 1, "nothing of the batch was written");

    guarded.expected_versions[1].1 = 0;
    let outcome = write(&*store, &ns, guarded).await;
    assert_eq!(outcome.positions, vec![at(0, 2), at(0, 3)]);
}

/// 146: a condition matching a message after `after` fails with the lowest match; with `after`
/// at that message it succeeds. Types and correlation narrow the match.
pub async fn conditions_fail_on_the_lowest_match(store: Arc<dyn Store>) {
    let ns = namespace(&*store, "batch-condition").await;
    append_to(&*store, &ns, "order-1").await; // 1
    let first = append_to(&*store, &ns, "stock-1").await; // 2
    append_to(&*store, &ns, "stock-2").await; // 3
    let guarded = |after| BatchRequest {
        condition: Some(on_category(after, "stock")),
        ..batch(vec![entry("stock-9")])
    };
    match store.write_batch(&ns, guarded(1)).await {
        Err(StoreError::AppendConditionFailed(found)) => {
            assert_eq!(found.global_position, first.global_position);
            assert_eq!(found.stream, "stock-1");
            assert_eq!(found.message_type, "Tested");
        }
        other => panic!("expected APPEND_CONDITION_FAILED, got {other:?}"),
    }
    match store.write_batch(&ns, guarded(2)).await {
        Err(StoreError::AppendConditionFailed(found)) => assert_eq!(found.global_position, 3),
        other => panic!("expected APPEND_CONDITION_FAILED, got {other:?}"),
    }
    let outcome = write(&*store, &ns, guarded(3)).await;
    assert_eq!(outcome.positions, vec![at(0, 4)]);

    // By stream, and narrowed by type: a message of another type does not match.
    let by_stream = |after, types: Vec<String>| BatchRequest {
        condition: Some(AppendCondition {
            after,
            query: ConditionQuery {
                streams: vec!["order-1".to_owned()],
                types,
                ..ConditionQuery::default()
            },
        }),
        ..batch(vec![entry("order-1")])
    };
    assert!(matches!(
        store.write_batch(&ns, by_stream(0, Vec::new())).await,
        Err(StoreError::AppendConditionFailed(found)) if found.global_position == 1
    ));
    write(&*store, &ns, by_stream(0, vec!["Other".to_owned()])).await;

    // By correlation: only messages whose correlation category matches.
    let correlated = NewMessage {
        metadata: Some(r#"{"correlationStreamName":"saga-1"}"#.to_owned()),
        ..message("stock-5")
    };
    let saga = append(&*store, &ns, correlated).await;
    let on_saga = |after| BatchRequest {
        condition: Some(AppendCondition {
            after,
            query: ConditionQuery {
                categories: vec!["stock".to_owned()],
                correlation: Some("saga".to_owned()),
                ..ConditionQuery::default()
            },
        }),
        ..batch(vec![entry("stock-6")])
    };
    assert!(matches!(
        store.write_batch(&ns, on_saga(0)).await,
        Err(StoreError::AppendConditionFailed(found)) if found.global_position == saga.global_position
    ));
    write(&*store, &ns, on_saga(saga.global_position)).await;
}

/// 147: twenty batches guarded by the same condition, each appending to the guarded category,
/// sent at once: exactly one commits.
pub async fn concurrent_guarded_batches_have_one_winner(store: Arc<dyn Store>) {
    let ns = namespace(&*store, "batch-race").await;
    append_to(&*store, &ns, "seat-0").await;
    let mut racers = Vec::new();
    for i in 0..20 {
        let (store, ns) = (Arc::clone(&store), ns.clone());
        racers.push(tokio::spawn(async move {
            let guarded = BatchRequest {
                condition: Some(on_category(1, "seat")),
                ..batch(vec![entry(&format!("seat-{}", i + 1)), entry("log-1")])
            };
            store.write_batch(&ns, guarded).await
        }));
    }
    let mut winners = 0;
    for racer in racers {
        match racer.await.expect("racer task") {
            Ok(_) => winners += 1,
            Err(StoreError::AppendConditionFailed(found)) => assert!(found.global_position > 1),
            Err(other) => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(winners, 1, "exactly one guarded batch commits");
    let seats = read_category(&*store, &ns, whole_category("seat")).await;
    assert_eq!(seats.len(), 2);
}

/// 148: a retried batch returns the original results and writes nothing; a batch mixing a new
/// and a stored id is a duplicate, and writes nothing.
pub async fn retries_and_duplicates(store: Arc<dyn Store>) {
    let ns = namespace(&*store, "batch-retry").await;
    let (x, y) = (MessageId::new_v7(), MessageId::new_v7());
    let first = batch(vec![entry_with_id("a-1", x), entry_with_id("b-1", y)]);
    let original = write(&*store, &ns, first.clone()).await;
    let retried = write(&*store, &ns, first).await;
    assert!(!retried.appended);
    assert_eq!(retried.positions, original.positions);

    let mixed = batch(vec![
        entry_with_id("a-1", MessageId::new_v7()),
        entry_with_id("b-1", y),
    ]);
    match store.write_batch(&ns, mixed).await {
        Err(StoreError::DuplicateMessageId { id, stream }) => {
            assert_eq!(id, y);
            assert_eq!(stream, "b-1");
        }
        other => panic!("expected DUPLICATE_MESSAGE_ID, got {other:?}"),
    }
    let everything = read_category(&*store, &ns, whole_category("")).await;
    assert_eq!(
        everything.len(),
        2,
        "neither the retry nor the duplicate wrote"
    );
}

/// 149: a listener hears every message of a batch once, in gpos order; a reader polling while
/// batches commit never sees part of one.
pub async fn batches_are_seen_whole(store: Arc<dyn Store>) {
    const BATCHES: usize = 1000;
    const SIZE: usize = 3;
    let recorder = Recorder::install(&*store);
    let ns = namespace(&*store, "batch-whole").await;
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader = {
        let (store, ns, done) = (Arc::clone(&store), ns.clone(), Arc::clone(&done));
        tokio::spawn(async move {
            let mut polls = 0;
            while !done.load(std::sync::atomic::Ordering::Acquire) {
                let seen = read_category(&*store, &ns, whole_category("whole")).await;
                assert_eq!(seen.len() % SIZE, 0, "a partial batch was visible");
                polls += 1;
            }
            polls
        })
    };
    let mut writers = Vec::new();
    for w in 0..4 {
        let (store, ns) = (Arc::clone(&store), ns.clone());
        writers.push(tokio::spawn(async move {
            for i in 0..BATCHES / 4 {
                let entries = (0..SIZE)
                    .map(|e| entry(&format!("whole-{w}x{i}x{e}")))
                    .collect();
                write(&*store, &ns, batch(entries)).await;
            }
        }));
    }
    for writer in writers {
        writer.await.expect("writer task");
    }
    done.store(true, std::sync::atomic::Ordering::Release);
    assert!(reader.await.expect("reader task") > 0);

    let stored = read_category(&*store, &ns, whole_category("whole")).await;
    assert_eq!(stored.len(), BATCHES * SIZE);
    recorder
        .wait_for_commit(&ns, stored.last().unwrap().global_position)
        .await;
    let heard: Vec<i64> = recorder
        .commits(&ns)
        .iter()
        .map(|c| c.global_position)
        .collect();
    let expected: Vec<i64> = stored.iter().map(|m| m.global_position).collect();
    assert_eq!(heard, expected, "every message heard once, in gpos order");
}
