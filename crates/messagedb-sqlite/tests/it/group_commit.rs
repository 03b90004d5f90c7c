//! Group commit and the embedded backend's stricter global positions: one transaction may carry
//! many writes, each with its own outcome, and refused writes never leave a gap (SPEC §10.2 I4).

use std::sync::Arc;

use messagedb_conformance::support::{message, read_category, whole_category};
use messagedb_core::{
    MessageId, NamespaceId, NewMessage, Store, StoreError, TokenHash, WriteOutcome,
};
use messagedb_sqlite::SqliteStore;

async fn tenant(store: &SqliteStore) -> NamespaceId {
    let ns = NamespaceId::parse("tenant").unwrap();
    store
        .create_namespace(&ns, "", &TokenHash::from_bytes([1; 32]))
        .await
        .unwrap();
    ns
}

/// Every write is answered after a commit, and a commit carries at least one write; how many
/// share one depends on timing, so only the bound is asserted here. The exact composition of a
/// batch is tested deterministically in the writer's unit tests.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writes_share_transactions() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(dir.path()).unwrap());
    let ns = tenant(&store).await;
    assert_eq!(store.write_transactions(&ns), Some(0));
    let writes: Vec<_> = (0..300)
        .map(|i| {
            let (store, ns) = (Arc::clone(&store), ns.clone());
            tokio::spawn(async move { store.write(&ns, message(&format!("s-{}", i % 7))).await })
        })
        .collect();
    for write in writes {
        assert!(matches!(
            write.await.unwrap(),
            Ok(WriteOutcome::Appended(_))
        ));
    }
    let commits = store.write_transactions(&ns).unwrap();
    assert!(
        (1..=300).contains(&commits),
        "{commits} transactions for 300 writes"
    );
    assert_eq!(
        store.write_transactions(&NamespaceId::parse("nope").unwrap()),
        None
    );
    store.close().await;
}

#[tokio::test]
async fn refused_writes_leave_no_gap_in_global_positions() {
    let store = SqliteStore::open_in_memory().unwrap();
    let ns = tenant(&store).await;
    let id = MessageId::new_v7();
    let mut appended = Vec::new();
    for round in 0..10 {
        let attempts = [
            NewMessage {
                id: (round == 0).then_some(id),
                ..message("a-1")
            },
            // Conflict: the stream is at version `round`.
            NewMessage {
                expected_version: Some(-1),
                ..message("a-1")
            },
            // Idempotent retry of the first message.
            NewMessage {
                id: Some(id),
                ..message("a-1")
            },
            // Duplicate id in another stream.
            NewMessage {
                id: Some(id),
                ..message("b-1")
            },
            message("b-1"),
        ];
        for attempt in attempts {
            match store.write(&ns, attempt).await {
                Ok(WriteOutcome::Appended(p)) => appended.push(p.global_position),
                Ok(WriteOutcome::AlreadyWritten(p)) => assert_eq!(p.global_position, 1),
                Err(StoreError::VersionConflict { .. } | StoreError::DuplicateMessageId { .. }) => {
                }
                Err(e) => panic!("{e:?}"),
            }
        }
    }
    assert_eq!(appended, (1..=20).collect::<Vec<i64>>());
    let stored = read_category(&store, &ns, whole_category("")).await;
    assert_eq!(stored.len(), 20);
    store.close().await;
}
