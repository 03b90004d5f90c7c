//! Import batches and the forced-import clear (SPEC §9.3, §9.4), through the [`Store`] trait.
//!
//! An import places each record exactly where it says, checks collisions against the stored
//! messages and the earlier records of its batch in the §9.3 order, is all or nothing, never
//! moves the counter backwards, and reports what it committed in global-position order. A clear
//! removes the messages, keeps the counter and ends the namespace's subscriptions.

use std::sync::Arc;

use messagedb_core::{ImportError, ImportRecord, MessageId, NamespaceId, Store, Timestamp};

use crate::notifications::{Heard, Recorder};
use crate::support::{append_to, namespace, read_category, stream, whole_category};

/// A record of type `Imported` with data `{"n":<gpos>}` and a fresh id.
pub fn record(stream_name: &str, position: i64, global_position: i64) -> ImportRecord {
    ImportRecord {
        id: MessageId::new_v7(),
        stream_name: stream(stream_name),
        message_type: "Imported".to_owned(),
        position,
        global_position,
        data: format!(r#"{{"n":{global_position}}}"#),
        metadata: None,
        time: Timestamp::from_micros(1_736_935_200_000_001 + global_position),
    }
}

async fn import(store: &dyn Store, ns: &NamespaceId, records: Vec<ImportRecord>) {
    store
        .import_batch(ns, records)
        .await
        .unwrap_or_else(|e| panic!("import into {ns}: {e}"));
}

/// Every field lands exactly as given, including the time, metadata and correlation.
pub async fn records_keep_every_field(store: Arc<dyn Store>) {
    let ns = namespace(&*store, "import-fields").await;
    let mut first = record("order-1", 3, 7);
    first.data = r#"{"b":1.50,"a":[1e3,-0]}"#.to_owned();
    first.metadata = Some(r#"{"correlationStreamName":"saga-9"}"#.to_owned());
    let second = record("order-1", 9, 2);
    import(&*store, &ns, vec![first.clone(), second.clone()]).await;
    let stored = read_category(&*store, &ns, whole_category("")).await;
    assert_eq!(stored.len(), 2);
    for (message, record) in stored.iter().zip([&second, &first]) {
        assert_eq!(message.id, record.id);
        assert_eq!(message.stream_name, record.stream_name.as_str());
        assert_eq!(message.message_type, record.message_type);
        assert_eq!(message.position, record.position);
        assert_eq!(message.global_position, record.global_position);
        assert_eq!(message.data, record.data);
        assert_eq!(message.metadata, record.metadata);
        assert_eq!(message.time, record.time);
    }
    let mut correlated = whole_category("order");
    correlated.correlation = Some("saga".to_owned());
    let correlated = read_category(&*store, &ns, correlated).await;
    assert_eq!(correlated.len(), 1);
    assert_eq!(correlated[0].global_position, 7);
    assert_eq!(
        store.stream_version(&ns, &stream("order-1")).await.unwrap(),
        Some(9),
        "a stream's version is its highest position"
    );
}

/// Collisions with stored messages and with earlier records of the batch, each reported with
/// the failing record's index, in the order gpos, id, (stream, position); nothing of a refused
/// batch is stored.
pub async fn collisions_refuse_the_whole_batch(store: Arc<dyn Store>) {
    let ns = namespace(&*store, "import-collide").await;
    let existing = record("a-1", 0, 5);
    import(&*store, &ns, vec![existing.clone()]).await;

    let refused = |records: Vec<ImportRecord>| {
        let store = Arc::clone(&store);
        let ns = ns.clone();
        async move {
            store
                .import_batch(&ns, records)
                .await
                .expect_err("a collision")
        }
    };
    // Stored gpos, even though id and (stream, pos) collide too: gpos is checked first.
    let mut all = existing.clone();
    all.data = "{}".to_owned();
    match refused(vec![record("b-1", 0, 6), all]).await {
        ImportError::PositionExists {
            global_position: 5,
            index: 1,
        } => {}
        other => panic!("{other:?}"),
    }
    // gpos within the batch.
    match refused(vec![record("b-1", 0, 8), record("b-1", 1, 8)]).await {
        ImportError::PositionExists {
            global_position: 8,
            index: 1,
        } => {}
        other => panic!("{other:?}"),
    }
    // Stored id (before the (stream, pos) check).
    let mut same_id = record("a-1", 0, 9);
    same_id.id = existing.id;
    match refused(vec![same_id]).await {
        ImportError::DuplicateMessageId {
            id,
            stream,
            index: 0,
        } => {
            assert_eq!(id, existing.id);
            assert_eq!(stream, "a-1");
        }
        other => panic!("{other:?}"),
    }
    // Id within the batch.
    let first = record("c-1", 0, 10);
    let mut again = record("d-1", 0, 11);
    again.id = first.id;
    match refused(vec![first, again]).await {
        ImportError::DuplicateMessageId {
            stream, index: 1, ..
        } => assert_eq!(stream, "c-1"),
        other => panic!("{other:?}"),
    }
    // Stored (stream, pos), and within the batch.
    match refused(vec![record("a-1", 0, 12)]).await {
        ImportError::StreamPositionExists {
            stream,
            position: 0,
            index: 0,
        } => assert_eq!(stream, "a-1"),
        other => panic!("{other:?}"),
    }
    match refused(vec![record("e-1", 4, 13), record("e-1", 4, 14)]).await {
        ImportError::StreamPositionExists {
            position: 4,
            index: 1,
            ..
        } => {}
        other => panic!("{other:?}"),
    }
    let stored = read_category(&*store, &ns, whole_category("")).await;
    assert_eq!(
        stored.len(),
        1,
        "refused batches stored nothing: {stored:?}"
    );
    assert_eq!(stored[0].id, existing.id);
}

/// M125: the counter becomes max(next, highest imported + 1) and never moves backwards.
pub async fn the_counter_never_moves_backwards(store: Arc<dyn Store>) {
    let ns = namespace(&*store, "import-counter").await;
    for _ in 0..9 {
        append_to(&*store, &ns, "w-1").await;
    }
    import(&*store, &ns, vec![record("i-1", 0, 5000)]).await;
    assert_eq!(append_to(&*store, &ns, "w-1").await.global_position, 5001);
    import(&*store, &ns, vec![record("i-1", 1, 100)]).await;
    assert_eq!(append_to(&*store, &ns, "w-1").await.global_position, 5002);
    assert_eq!(store.head(&ns).await.unwrap(), 5002);
}

/// A stream written to, then extended by an import, continues after the imported position
/// (a writer that remembers stream versions must forget them when an import commits).
pub async fn writes_continue_after_imported_positions(store: Arc<dyn Store>) {
    let ns = namespace(&*store, "import-extends").await;
    append_to(&*store, &ns, "e-1").await;
    append_to(&*store, &ns, "e-1").await;
    import(
        &*store,
        &ns,
        vec![record("e-1", 2, 100), record("e-1", 3, 101)],
    )
    .await;
    let after = append_to(&*store, &ns, "e-1").await;
    assert_eq!((after.position, after.global_position), (4, 102));
    assert_eq!(
        store.stream_version(&ns, &stream("e-1")).await.unwrap(),
        Some(4)
    );
}

/// The committed records are reported in gpos order, whatever their order in the batch.
pub async fn imports_are_reported_in_global_order(store: Arc<dyn Store>) {
    let recorder = Recorder::install(&*store);
    let ns = namespace(&*store, "import-heard").await;
    import(
        &*store,
        &ns,
        vec![
            record("x-1", 1, 30),
            record("x-1", 0, 20),
            record("y-1", 0, 25),
        ],
    )
    .await;
    recorder.wait_for_commit(&ns, 30).await;
    let heard: Vec<(i64, String, i64)> = recorder
        .commits(&ns)
        .into_iter()
        .map(|c| (c.global_position, c.stream_name, c.position))
        .collect();
    assert_eq!(
        heard,
        vec![
            (20, "x-1".to_owned(), 0),
            (25, "y-1".to_owned(), 0),
            (30, "x-1".to_owned(), 1)
        ]
    );
}

/// A clear removes every message, keeps the namespace and its counter, and ends the
/// namespace's subscriptions; other namespaces are untouched.
pub async fn clear_keeps_the_namespace_and_its_counter(store: Arc<dyn Store>) {
    let recorder = Recorder::install(&*store);
    let ns = namespace(&*store, "import-clear").await;
    let other = namespace(&*store, "import-other").await;
    for _ in 0..3 {
        append_to(&*store, &ns, "s-1").await;
    }
    append_to(&*store, &other, "s-1").await;
    store.clear_namespace(&ns).await.unwrap();
    recorder
        .wait_until("the clear to end the namespace", |heard| {
            heard.contains(&Heard::Ended(ns.clone()))
        })
        .await;
    assert!(read_category(&*store, &ns, whole_category(""))
        .await
        .is_empty());
    assert_eq!(
        store.stream_version(&ns, &stream("s-1")).await.unwrap(),
        None
    );
    assert!(store.namespace(&ns).await.unwrap().is_some());
    assert_eq!(store.namespace_info(&ns).await.unwrap().message_count, 0);
    let after = append_to(&*store, &ns, "s-1").await;
    assert_eq!((after.position, after.global_position), (0, 4));
    assert_eq!(
        read_category(&*store, &other, whole_category(""))
            .await
            .len(),
        1
    );
    assert!(!recorder.heard().contains(&Heard::Ended(other.clone())));
}
