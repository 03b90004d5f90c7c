//! `stream.delete` and `stream.truncate` (SPEC §18; checklist 150, 151, 154, 155): what is
//! removed, what every read sees afterwards, versions that never go back, the deletion record
//! in the log and its report to the commit listener, chunking, and export/import of what
//! remains. The counters after deletions are in [`crate::counts`]; physical erasure (152) is a
//! file-level test of the embedded backend.

use std::sync::Arc;

use messagedb_core::deletion::CHUNK;
use messagedb_core::{
    DeleteKind, DeleteOutcome, DeleteRequest, Deletion, ImportError, ImportRecord, MessageId,
    Store, StoreError, StreamsQuery,
};

use crate::notifications::{Heard, Recorder};
use crate::support::{
    append, append_to, global_positions, message, namespace, positions, read_category, read_stream,
    stream, whole_category, whole_stream,
};

fn delete(name: &str, expected_version: Option<i64>) -> DeleteRequest {
    DeleteRequest {
        stream: stream(name),
        kind: DeleteKind::Delete { expected_version },
    }
}

fn truncate(name: &str, before: i64) -> DeleteRequest {
    DeleteRequest {
        stream: stream(name),
        kind: DeleteKind::Truncate { before },
    }
}

async fn outcome(
    store: &dyn Store,
    ns: &messagedb_core::NamespaceId,
    request: DeleteRequest,
) -> DeleteOutcome {
    store
        .delete_messages(ns, &request)
        .await
        .unwrap_or_else(|e| panic!("{request:?}: {e}"))
}

/// 150: delete, then write: the new message is at the old version + 1, the stream holds only
/// it, category reads and `ns.streams` skip the removed messages, counts drop, and `stream.last`
/// of the deleted stream is empty until then.
pub async fn delete_then_write_continues_after_the_old_version(store: Arc<dyn Store>) {
    let store = &*store;
    let ns = namespace(store, "deleting").await;
    for _ in 0..3 {
        append_to(store, &ns, "account-1").await;
    }
    let kept = append_to(store, &ns, "account-2").await;
    let removed = outcome(store, &ns, delete("account-1", None)).await;
    assert_eq!(
        removed,
        DeleteOutcome {
            deleted: 3,
            version: 2
        }
    );
    assert!(read_stream(store, &ns, "account-1", whole_stream())
        .await
        .is_empty());
    assert_eq!(
        store
            .stream_version(&ns, &stream("account-1"))
            .await
            .unwrap(),
        Some(2)
    );
    assert_eq!(
        store
            .last_message(&ns, &stream("account-1"), None)
            .await
            .unwrap(),
        None
    );
    let info = store.namespace_info(&ns).await.unwrap();
    assert_eq!((info.message_count, info.stream_count), (1, 1));
    let category = read_category(store, &ns, whole_category("account")).await;
    assert_eq!(global_positions(&category), [kept.global_position]);
    let streams = store
        .list_streams(
            &ns,
            &StreamsQuery {
                prefix: String::new(),
                cursor: String::new(),
                limit: 1000,
            },
        )
        .await
        .unwrap();
    assert_eq!(
        streams
            .iter()
            .map(|s| s.stream_name.as_str())
            .collect::<Vec<_>>(),
        ["account-2"]
    );

    let next = append_to(store, &ns, "account-1").await;
    assert_eq!(next.position, 3, "versions never go back");
    let stream_now = read_stream(store, &ns, "account-1", whole_stream()).await;
    assert_eq!(positions(&stream_now), [3]);
    let info = store.namespace_info(&ns).await.unwrap();
    assert_eq!((info.message_count, info.stream_count), (2, 2));
    let categories = store.list_categories(&ns).await.unwrap();
    assert_eq!(
        (categories[0].message_count, categories[0].stream_count),
        (2, 2)
    );
}

/// 151: truncating a 10-message stream before 5 removes positions 0–4; reads from 0 start at 5.
pub async fn truncate_removes_the_oldest_positions(store: Arc<dyn Store>) {
    let store = &*store;
    let ns = namespace(store, "truncating").await;
    for _ in 0..10 {
        append_to(store, &ns, "order-7").await;
    }
    let removed = outcome(store, &ns, truncate("order-7", 5)).await;
    assert_eq!(
        removed,
        DeleteOutcome {
            deleted: 5,
            version: 9
        }
    );
    let remaining = read_stream(store, &ns, "order-7", whole_stream()).await;
    assert_eq!(positions(&remaining), [5, 6, 7, 8, 9]);
    assert_eq!(
        store
            .last_message(&ns, &stream("order-7"), None)
            .await
            .unwrap()
            .map(|m| m.position),
        Some(9)
    );
    // Again: nothing left below 5, nothing removed, no record.
    let again = outcome(store, &ns, truncate("order-7", 5)).await;
    assert_eq!(again.deleted, 0);
    assert_eq!(store.list_deletions(&ns, 1, 100).await.unwrap().len(), 1);
    let info = store.namespace_info(&ns).await.unwrap();
    assert_eq!((info.message_count, info.stream_count), (5, 1));
}

/// 155: an effective call takes the next global position (the next write gets the one after),
/// `ns.deletions` lists it, the head covers it, and the commit listener hears it in order.
pub async fn a_deletion_takes_the_next_global_position(store: Arc<dyn Store>) {
    let recorder = Recorder::install(&*store);
    let store = &*store;
    let ns = namespace(store, "logged").await;
    append_to(store, &ns, "account-1").await;
    let second = append_to(store, &ns, "account-1").await;
    outcome(store, &ns, truncate("account-1", 1)).await;
    let deletion_gpos = second.global_position + 1;
    assert_eq!(store.head(&ns).await.unwrap(), deletion_gpos);
    let next = append_to(store, &ns, "account-2").await;
    assert_eq!(next.global_position, deletion_gpos + 1);

    let deletions = store.list_deletions(&ns, 1, 1000).await.unwrap();
    assert_eq!(deletions.len(), 1);
    let Deletion {
        global_position,
        stream_name,
        before,
        ..
    } = &deletions[0];
    assert_eq!(
        (*global_position, stream_name.as_str(), *before),
        (deletion_gpos, "account-1", 1)
    );
    assert!(store
        .list_deletions(&ns, deletion_gpos + 1, 1000)
        .await
        .unwrap()
        .is_empty());
    // Removing nothing takes no position.
    assert_eq!(
        outcome(store, &ns, delete("never-1", None)).await,
        DeleteOutcome {
            deleted: 0,
            version: -1
        }
    );
    assert_eq!(store.head(&ns).await.unwrap(), next.global_position);

    recorder.wait_for_commit(&ns, next.global_position).await;
    let heard: Vec<i64> = recorder
        .heard()
        .into_iter()
        .filter_map(|h| match h {
            Heard::Committed(id, c) if id == ns => Some(c.global_position),
            Heard::Deleted(id, d) if id == ns => Some(-d.global_position),
            _ => None,
        })
        .collect();
    assert_eq!(
        heard,
        [1, 2, -deletion_gpos, next.global_position],
        "the deletion is reported between the commits around it"
    );
}

/// A deletion record holds its global position for good: an import of a record at that
/// position is a §9.3 gpos collision (`POSITION_EXISTS`), as for a message, so a subscriber's
/// cursor never meets a message and a deletion at one position. A forced import clears the
/// deletion records with the messages, and may then use the position.
pub async fn an_import_cannot_take_a_deletions_position(store: Arc<dyn Store>) {
    let store = &*store;
    let ns = namespace(store, "import-over-deletion").await;
    let written = append_to(store, &ns, "account-1").await;
    outcome(store, &ns, delete("account-1", None)).await;
    let deletion_gpos = written.global_position + 1;
    let refused = store
        .import_batch(
            &ns,
            vec![
                crate::import::record("other-1", 0, deletion_gpos + 5),
                crate::import::record("other-1", 1, deletion_gpos),
            ],
        )
        .await
        .expect_err("the deletion holds that position");
    match refused {
        ImportError::PositionExists {
            global_position,
            index: 1,
        } if global_position == deletion_gpos => {}
        other => panic!("{other:?}"),
    }
    // All or nothing: the first record was not stored either.
    assert!(read_stream(store, &ns, "other-1", whole_stream())
        .await
        .is_empty());
    assert_eq!(store.list_deletions(&ns, 1, 10).await.unwrap().len(), 1);

    store.clear_namespace(&ns).await.unwrap();
    store
        .import_batch(
            &ns,
            vec![crate::import::record("other-1", 0, deletion_gpos)],
        )
        .await
        .expect("a cleared namespace has no deletion records");
    assert_eq!(
        global_positions(&read_stream(store, &ns, "other-1", whole_stream()).await),
        [deletion_gpos]
    );
}

/// `expectedVersion` guards a delete as it guards a write; a stream never written deletes
/// nothing at version -1.
pub async fn delete_checks_the_expected_version(store: Arc<dyn Store>) {
    let store = &*store;
    let ns = namespace(store, "guarded").await;
    append_to(store, &ns, "account-1").await;
    append_to(store, &ns, "account-1").await;
    match store
        .delete_messages(&ns, &delete("account-1", Some(0)))
        .await
    {
        Err(StoreError::VersionConflict {
            expected, actual, ..
        }) => assert_eq!((expected, actual), (0, 1)),
        other => panic!("expected a version conflict, got {other:?}"),
    }
    assert_eq!(
        read_stream(store, &ns, "account-1", whole_stream())
            .await
            .len(),
        2
    );
    let removed = outcome(store, &ns, delete("account-1", Some(1))).await;
    assert_eq!(removed.deleted, 2);
    // The version stays 1, so the same guard matches again, and deletes nothing.
    assert_eq!(
        outcome(store, &ns, delete("account-1", Some(1)))
            .await
            .deleted,
        0
    );
    assert_eq!(
        outcome(store, &ns, delete("fresh-1", Some(-1))).await,
        DeleteOutcome {
            deleted: 0,
            version: -1
        }
    );
    // A write's expected version sees the kept version too.
    let mut guarded = message("account-1");
    guarded.expected_version = Some(1);
    assert_eq!(append(store, &ns, guarded).await.position, 2);
}

/// The ids of removed messages are forgotten: a later write may use them again.
pub async fn ids_of_removed_messages_are_forgotten(store: Arc<dyn Store>) {
    let store = &*store;
    let ns = namespace(store, "forgetting").await;
    let id = MessageId::new_v7();
    let mut first = message("account-1");
    first.id = Some(id);
    append(store, &ns, first).await;
    outcome(store, &ns, delete("account-1", None)).await;
    let mut again = message("account-9");
    again.id = Some(id);
    let positions = append(store, &ns, again).await;
    assert_eq!(positions.position, 0);
}

/// A stream longer than a chunk is removed in several transactions by one call, oldest first,
/// with one deletion record; the other streams are untouched.
pub async fn a_long_stream_is_removed_in_chunks(store: Arc<dyn Store>) {
    let store = &*store;
    let ns = namespace(store, "chunked").await;
    let total = 2 * CHUNK + CHUNK / 2;
    let records: Vec<ImportRecord> = (0..total)
        .map(|i| crate::import::record("big-1", i, i + 1))
        .collect();
    store.import_batch(&ns, records).await.unwrap();
    append_to(store, &ns, "big-2").await;
    let removed = outcome(store, &ns, truncate("big-1", total - 3)).await;
    assert_eq!(removed.deleted, (total - 3) as u64);
    assert_eq!(removed.version, total - 1);
    let remaining = read_stream(store, &ns, "big-1", whole_stream()).await;
    assert_eq!(positions(&remaining), [total - 3, total - 2, total - 1]);
    assert_eq!(
        read_stream(store, &ns, "big-2", whole_stream()).await.len(),
        1
    );
    assert_eq!(store.list_deletions(&ns, 1, 1000).await.unwrap().len(), 1);
    let info = store.namespace_info(&ns).await.unwrap();
    assert_eq!((info.message_count, info.stream_count), (4, 2));
}

/// 154: an export of a truncated stream (what remains) imports into an empty namespace and
/// reproduces it: positions that start above 0 are accepted.
pub async fn a_truncated_stream_exports_and_imports(store: Arc<dyn Store>) {
    let store = &*store;
    let source = namespace(store, "exported").await;
    for _ in 0..6 {
        append_to(store, &source, "account-5").await;
    }
    outcome(store, &source, truncate("account-5", 4)).await;
    let remaining = read_category(store, &source, whole_category("")).await;
    let records: Vec<ImportRecord> = remaining
        .iter()
        .map(|m| ImportRecord {
            id: m.id,
            stream_name: stream(&m.stream_name),
            message_type: m.message_type.clone(),
            position: m.position,
            global_position: m.global_position,
            data: m.data.clone(),
            metadata: m.metadata.clone(),
            time: m.time,
        })
        .collect();
    let target = namespace(store, "imported").await;
    store.import_batch(&target, records).await.unwrap();
    let copy = read_category(store, &target, whole_category("")).await;
    assert_eq!(copy, remaining);
    assert_eq!(
        store
            .stream_version(&target, &stream("account-5"))
            .await
            .unwrap(),
        Some(5)
    );
    let next = append_to(store, &target, "account-5").await;
    assert_eq!(next.position, 6);
    // Deletion records are not messages: they are in no read and in no export.
    assert!(store
        .list_deletions(&target, 1, 10)
        .await
        .unwrap()
        .is_empty());
}

/// `ns.deletions` pages: ascending from `position`, at most the limit.
pub async fn deletions_are_listed_in_pages(store: Arc<dyn Store>) {
    let store = &*store;
    let ns = namespace(store, "paged").await;
    for i in 0..5 {
        append_to(store, &ns, &format!("account-{i}")).await;
    }
    for i in 0..5 {
        outcome(store, &ns, delete(&format!("account-{i}"), None)).await;
    }
    let all = store.list_deletions(&ns, 1, 1000).await.unwrap();
    let gpos: Vec<i64> = all.iter().map(|d| d.global_position).collect();
    assert_eq!(gpos, [6, 7, 8, 9, 10]);
    let page = store.list_deletions(&ns, 7, 2).await.unwrap();
    assert_eq!(
        page.iter().map(|d| d.global_position).collect::<Vec<_>>(),
        [7, 8]
    );
}
