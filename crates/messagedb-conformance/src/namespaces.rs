//! The namespace registry (SPEC §2.1, §6.8–6.11): creation, lookup, info, listing, deletion,
//! token rotation, and isolation between namespaces (I8).

use std::collections::BTreeSet;
use std::sync::Arc;

use messagedb_core::{
    NamespaceId, NamespaceSummary, Store, StoreError, StreamQuery, StreamsQuery, Timestamp,
    TokenHash, WriteOutcome,
};

use crate::support::{
    append_to, assert_not_found, message, namespace, read_category, read_stream, stream,
    whole_category, whole_stream, HASH,
};

fn id(text: &str) -> NamespaceId {
    NamespaceId::parse(text).expect("a valid namespace id")
}

pub async fn create_and_look_up(store: Arc<dyn Store>) {
    let store = &*store;
    let tenant = id("tenant-a");
    let hash = TokenHash::from_bytes([3; 32]);
    let before = Timestamp::now();
    let created_at = store
        .create_namespace(&tenant, "Tenant A", &hash)
        .await
        .unwrap();
    assert!(created_at >= before && created_at <= Timestamp::now());
    let record = store
        .namespace(&tenant)
        .await
        .unwrap()
        .expect("the new namespace");
    assert_eq!(record.id, tenant);
    assert_eq!(record.description, "Tenant A");
    assert_eq!(record.created_at, created_at);
    assert_eq!(record.token_hash, hash);
    assert_eq!(store.namespace(&id("tenant-b")).await.unwrap(), None);
    assert_eq!(
        store.namespace(&id("Tenant-a")).await.unwrap(),
        None,
        "ids are case-sensitive"
    );
}

pub async fn duplicate_create_is_refused(store: Arc<dyn Store>) {
    let store = &*store;
    let tenant = namespace(store, "tenant").await;
    match store
        .create_namespace(&tenant, "again", &TokenHash::from_bytes([9; 32]))
        .await
    {
        Err(StoreError::NamespaceExists(existing)) => assert_eq!(existing, tenant),
        other => panic!("expected NamespaceExists, got {other:?}"),
    }
    let record = store.namespace(&tenant).await.unwrap().unwrap();
    assert_eq!(
        record.description, "conformance",
        "the original is untouched"
    );
    assert_eq!(record.token_hash, TokenHash::from_bytes(HASH));
}

pub async fn info_counts_and_last_activity(store: Arc<dyn Store>) {
    let store = &*store;
    let tenant = id("info");
    let created_at = store
        .create_namespace(&tenant, "Described", &TokenHash::from_bytes(HASH))
        .await
        .unwrap();
    let fresh = store.namespace_info(&tenant).await.unwrap();
    assert_eq!(fresh.id, tenant);
    assert_eq!(fresh.description, "Described");
    assert_eq!(fresh.created_at, created_at);
    assert_eq!(
        (fresh.message_count, fresh.stream_count, fresh.last_activity),
        (0, 0, None)
    );

    for s in ["a-1", "a-2", "b", "a-1", "b", "a-1"] {
        append_to(store, &tenant, s).await;
    }
    let info = store.namespace_info(&tenant).await.unwrap();
    assert_eq!((info.message_count, info.stream_count), (6, 3));
    let last = store
        .last_message(&tenant, &stream("a-1"), None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(last.global_position, 6);
    assert_eq!(info.last_activity, Some(last.time));
    assert_not_found(
        store.namespace_info(&id("missing")).await,
        &id("missing"),
        "info of a missing namespace",
    );
}

pub async fn list_is_ordered_with_real_counts(store: Arc<dyn Store>) {
    let store = &*store;
    assert!(store.list_namespaces().await.unwrap().is_empty());
    let mut expected = Vec::new();
    for (name, messages) in [("b", 2), ("a", 0), ("c", 1), ("B", 3)] {
        let ns = id(name);
        let created_at = store
            .create_namespace(&ns, &format!("about {name}"), &TokenHash::from_bytes(HASH))
            .await
            .unwrap();
        for _ in 0..messages {
            append_to(store, &ns, "s-1").await;
        }
        expected.push(NamespaceSummary {
            id: ns,
            description: format!("about {name}"),
            created_at,
            message_count: messages,
        });
    }
    expected.sort_by(|x, y| {
        y.created_at
            .cmp(&x.created_at)
            .then_with(|| x.id.cmp(&y.id))
    });
    assert_eq!(store.list_namespaces().await.unwrap(), expected);
}

pub async fn delete_reports_the_count_and_forgets_everything(store: Arc<dyn Store>) {
    let store = &*store;
    let keep = namespace(store, "keep").await;
    append_to(store, &keep, "s-1").await;
    let doomed = namespace(store, "doomed").await;
    for s in ["s-1", "s-1", "t-1"] {
        append_to(store, &doomed, s).await;
    }
    assert_eq!(store.delete_namespace(&doomed).await.unwrap(), 3);

    assert_eq!(store.namespace(&doomed).await.unwrap(), None);
    let s = stream("s-1");
    assert_not_found(store.namespace_info(&doomed).await, &doomed, "info");
    assert_not_found(store.write(&doomed, message("s-1")).await, &doomed, "write");
    assert_not_found(
        store.read_stream(&doomed, &s, &whole_stream()).await,
        &doomed,
        "read_stream",
    );
    assert_not_found(
        store.last_message(&doomed, &s, None).await,
        &doomed,
        "last_message",
    );
    assert_not_found(
        store.stream_version(&doomed, &s).await,
        &doomed,
        "stream_version",
    );
    assert_not_found(
        store.read_category(&doomed, &whole_category("")).await,
        &doomed,
        "read_category",
    );
    let all_streams = StreamsQuery {
        prefix: String::new(),
        cursor: String::new(),
        limit: 100,
    };
    assert_not_found(
        store.list_streams(&doomed, &all_streams).await,
        &doomed,
        "list_streams",
    );
    assert_not_found(
        store.list_categories(&doomed).await,
        &doomed,
        "list_categories",
    );
    let hash = TokenHash::from_bytes([1; 32]);
    assert_not_found(
        store.set_token_hash(&doomed, &hash).await,
        &doomed,
        "set_token_hash",
    );
    assert_not_found(
        store.delete_namespace(&doomed).await,
        &doomed,
        "a second delete",
    );

    let listed: Vec<NamespaceId> = store
        .list_namespaces()
        .await
        .unwrap()
        .into_iter()
        .map(|n| n.id)
        .collect();
    assert_eq!(listed, std::slice::from_ref(&keep));
    assert_eq!(
        read_stream(store, &keep, "s-1", whole_stream()).await.len(),
        1,
        "others are untouched"
    );
}

pub async fn recreated_namespace_is_empty(store: Arc<dyn Store>) {
    let store = &*store;
    let tenant = namespace(store, "phoenix").await;
    for _ in 0..4 {
        append_to(store, &tenant, "s-1").await;
    }
    let first = store.namespace(&tenant).await.unwrap().unwrap();
    store.delete_namespace(&tenant).await.unwrap();
    let new_hash = TokenHash::from_bytes([5; 32]);
    store
        .create_namespace(&tenant, "reborn", &new_hash)
        .await
        .unwrap();
    let info = store.namespace_info(&tenant).await.unwrap();
    assert_eq!(
        (info.message_count, info.stream_count, info.last_activity),
        (0, 0, None)
    );
    assert_eq!(info.description, "reborn");
    assert!(info.created_at >= first.created_at);
    assert_eq!(
        store.namespace(&tenant).await.unwrap().unwrap().token_hash,
        new_hash
    );
    assert!(read_stream(store, &tenant, "s-1", whole_stream())
        .await
        .is_empty());
    assert_eq!(
        store.stream_version(&tenant, &stream("s-1")).await.unwrap(),
        None
    );
    let again = append_to(store, &tenant, "s-1").await;
    assert_eq!(
        (again.position, again.global_position),
        (0, 1),
        "a new namespace starts over"
    );
}

pub async fn token_hash_rotation(store: Arc<dyn Store>) {
    let store = &*store;
    let tenant = namespace(store, "rotating").await;
    let other = namespace(store, "steady").await;
    let rotated = TokenHash::from_bytes([0x42; 32]);
    store.set_token_hash(&tenant, &rotated).await.unwrap();
    assert_eq!(
        store.namespace(&tenant).await.unwrap().unwrap().token_hash,
        rotated
    );
    assert_eq!(
        store.namespace(&other).await.unwrap().unwrap().token_hash,
        TokenHash::from_bytes(HASH)
    );
    assert_not_found(
        store.set_token_hash(&id("nobody"), &rotated).await,
        &id("nobody"),
        "rotation",
    );
}

/// Checklist I79 and B19: `Tenant` and `tenant` are two namespaces with unrelated streams.
pub async fn namespaces_are_isolated(store: Arc<dyn Store>) {
    let store = &*store;
    let upper = namespace(store, "Tenant").await;
    let lower = namespace(store, "tenant").await;
    let a = append_to(store, &upper, "account-1").await;
    let b = append_to(store, &lower, "account-1").await;
    append_to(store, &lower, "account-1").await;
    append_to(store, &lower, "other-1").await;
    assert_eq!((a.position, a.global_position), (0, 1));
    assert_eq!((b.position, b.global_position), (0, 1));
    assert_eq!(
        read_stream(store, &upper, "account-1", whole_stream())
            .await
            .len(),
        1
    );
    assert_eq!(
        read_stream(store, &lower, "account-1", whole_stream())
            .await
            .len(),
        2
    );
    assert_eq!(
        read_category(store, &upper, whole_category("")).await.len(),
        1
    );
    assert_eq!(store.list_categories(&upper).await.unwrap().len(), 1);
    assert_eq!(store.list_categories(&lower).await.unwrap().len(), 2);
    let all_streams = StreamsQuery {
        prefix: String::new(),
        cursor: String::new(),
        limit: 100,
    };
    assert_eq!(
        store
            .list_streams(&upper, &all_streams)
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(store.namespace_info(&lower).await.unwrap().message_count, 3);

    // An id used in one namespace is free in another.
    let shared_id = messagedb_core::MessageId::new_v7();
    for ns in [&upper, &lower] {
        let m = messagedb_core::NewMessage {
            id: Some(shared_id),
            ..message("ids-1")
        };
        assert!(matches!(
            store.write(ns, m).await,
            Ok(WriteOutcome::Appended(_))
        ));
    }

    assert_eq!(store.delete_namespace(&upper).await.unwrap(), 2);
    assert_eq!(store.namespace_info(&lower).await.unwrap().message_count, 4);
    assert_eq!(
        read_stream(store, &lower, "account-1", whole_stream())
            .await
            .len(),
        2
    );
}

pub async fn concurrent_creates(store: Arc<dyn Store>) {
    let distinct: Vec<_> = (0..10)
        .map(|i| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                store
                    .create_namespace(&id(&format!("t{i}")), "", &TokenHash::from_bytes(HASH))
                    .await
            })
        })
        .collect();
    for task in distinct {
        task.await.unwrap().expect("distinct ids all get created");
    }
    let same: Vec<_> = (0..5)
        .map(|_| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                store
                    .create_namespace(&id("same"), "", &TokenHash::from_bytes(HASH))
                    .await
            })
        })
        .collect();
    let mut created = 0;
    for task in same {
        match task.await.unwrap() {
            Ok(_) => created += 1,
            Err(StoreError::NamespaceExists(_)) => {}
            Err(e) => panic!("expected success or NamespaceExists, got {e:?}"),
        }
    }
    assert_eq!(created, 1, "one id is created once");
    let listed: BTreeSet<String> = store
        .list_namespaces()
        .await
        .unwrap()
        .into_iter()
        .map(|n| n.id.as_str().to_owned())
        .collect();
    let mut expected: BTreeSet<String> = (0..10).map(|i| format!("t{i}")).collect();
    expected.insert("same".to_owned());
    assert_eq!(listed, expected);
}

/// Operations racing a deletion either complete before it or report `NamespaceNotFound`, never
/// a backend error; and the count `delete` reports includes exactly the writes that succeeded.
pub async fn delete_during_traffic(store: Arc<dyn Store>) {
    let tenant = namespace(&*store, "busy").await;
    append_to(&*store, &tenant, "s-0").await;
    let writes: Vec<_> = (0..200)
        .map(|i| {
            let (store, tenant) = (Arc::clone(&store), tenant.clone());
            tokio::spawn(
                async move { store.write(&tenant, message(&format!("s-{}", i % 5))).await },
            )
        })
        .collect();
    let reads: Vec<_> = (0..50)
        .map(|i| {
            let (store, tenant) = (Arc::clone(&store), tenant.clone());
            tokio::spawn(async move {
                let query = StreamQuery {
                    start: messagedb_core::StartAt::Position(0),
                    limit: messagedb_core::Limit::Unlimited,
                };
                store
                    .read_stream(&tenant, &stream(&format!("s-{}", i % 5)), &query)
                    .await
            })
        })
        .collect();
    tokio::task::yield_now().await;
    let deleted = store.delete_namespace(&tenant).await.expect("delete");
    let mut appended = 1;
    for task in writes {
        match task.await.unwrap() {
            Ok(WriteOutcome::Appended(_)) => appended += 1,
            Err(StoreError::NamespaceNotFound(gone)) => assert_eq!(gone, tenant),
            other => panic!("a write racing a delete: {other:?}"),
        }
    }
    for task in reads {
        match task.await.unwrap() {
            Ok(_) => {}
            Err(StoreError::NamespaceNotFound(gone)) => assert_eq!(gone, tenant),
            Err(e) => panic!("a read racing a delete: {e:?}"),
        }
    }
    assert_eq!(
        deleted, appended,
        "delete counts exactly the acknowledged writes"
    );
    assert_eq!(store.namespace(&tenant).await.unwrap(), None);
    store
        .create_namespace(&tenant, "", &TokenHash::from_bytes(HASH))
        .await
        .unwrap();
    assert_eq!(
        store.namespace_info(&tenant).await.unwrap().message_count,
        0
    );
}
