//! Stream reads (SPEC §6.4–6.6): `stream.get` start and limit rules, `stream.last`,
//! `stream.version`.

use std::sync::Arc;

use messagedb_core::{Limit, NewMessage, StartAt, Store, StreamQuery, Timestamp};

use crate::support::{
    append, append_to, global_positions, message, namespace, positions, read_stream, stream,
    stream_names, whole_stream,
};

fn from(start: StartAt, limit: Limit) -> StreamQuery {
    StreamQuery { start, limit }
}

pub async fn unknown_streams_are_empty(store: Arc<dyn Store>) {
    let store = &*store;
    let ns = namespace(store, "empty").await;
    append_to(store, &ns, "known-1").await;
    assert!(read_stream(store, &ns, "unknown-1", whole_stream())
        .await
        .is_empty());
    let unknown = stream("unknown-1");
    assert_eq!(store.last_message(&ns, &unknown, None).await.unwrap(), None);
    assert_eq!(store.stream_version(&ns, &unknown).await.unwrap(), None);
}

pub async fn messages_carry_every_field(store: Arc<dyn Store>) {
    let store = &*store;
    let ns = namespace(store, "fields").await;
    append_to(store, &ns, "other-1").await;
    let id = messagedb_core::MessageId::new_v7();
    let before = Timestamp::now();
    let written = NewMessage {
        id: Some(id),
        message_type: "Deposited".to_owned(),
        data: r#"{"amount":100}"#.to_owned(),
        metadata: Some(r#"{"correlationStreamName":"flow-1"}"#.to_owned()),
        ..message("account-123")
    };
    append(store, &ns, written).await;
    let stored = read_stream(store, &ns, "account-123", whole_stream()).await;
    assert_eq!(stored.len(), 1);
    let m = &stored[0];
    assert_eq!(m.id, id);
    assert_eq!(m.stream_name, "account-123");
    assert_eq!(m.message_type, "Deposited");
    assert_eq!((m.position, m.global_position), (0, 2));
    assert_eq!(m.data, r#"{"amount":100}"#);
    assert_eq!(
        m.metadata.as_deref(),
        Some(r#"{"correlationStreamName":"flow-1"}"#)
    );
    assert!(m.time >= before && m.time <= Timestamp::now());
}

pub async fn read_stream_start_positions(store: Arc<dyn Store>) {
    let store = &*store;
    let ns = namespace(store, "starts").await;
    for _ in 0..10 {
        append_to(store, &ns, "s-1").await;
    }
    let read = |start, limit| read_stream(store, &ns, "s-1", from(start, limit));
    assert_eq!(
        positions(&read(StartAt::Position(5), Limit::Unlimited).await),
        [5, 6, 7, 8, 9]
    );
    assert!(read(StartAt::Position(10), Limit::Unlimited)
        .await
        .is_empty());
    assert!(read(StartAt::Position(100), Limit::Unlimited)
        .await
        .is_empty());
    assert_eq!(
        positions(&read(StartAt::Position(-1), Limit::Unlimited).await),
        (0..10).collect::<Vec<_>>()
    );
    assert_eq!(
        positions(&read(StartAt::Position(i64::MIN), Limit::AtMost(2)).await),
        [0, 1]
    );
    assert_eq!(
        positions(&read(StartAt::Position(0), Limit::AtMost(3)).await),
        [0, 1, 2]
    );
    assert_eq!(
        positions(&read(StartAt::Position(8), Limit::AtMost(5)).await),
        [8, 9]
    );
}

pub async fn read_stream_limits(store: Arc<dyn Store>) {
    let store = &*store;
    let ns = namespace(store, "limits").await;
    for _ in 0..50 {
        append_to(store, &ns, "s-1").await;
    }
    let read = |limit| read_stream(store, &ns, "s-1", from(StartAt::Position(0), limit));
    assert_eq!(
        positions(&read(Limit::AtMost(10)).await),
        (0..10).collect::<Vec<_>>()
    );
    assert_eq!(read(Limit::Unlimited).await.len(), 50);
    assert_eq!(read(Limit::AtMost(Limit::MAX)).await.len(), 50);
    assert!(read(Limit::AtMost(0)).await.is_empty());
    assert_eq!(read(Limit::AtMost(1)).await.len(), 1);
}

pub async fn read_stream_from_a_global_position(store: Arc<dyn Store>) {
    let store = &*store;
    let ns = namespace(store, "by-gpos").await;
    // a-1 gets global positions 1, 3, 5, 7 and b-1 gets 2, 4, 6, 8.
    for _ in 0..4 {
        append_to(store, &ns, "a-1").await;
        append_to(store, &ns, "b-1").await;
    }
    let read = |start, limit| read_stream(store, &ns, "a-1", from(start, limit));
    let tail = read(StartAt::GlobalPosition(4), Limit::Unlimited).await;
    assert_eq!(positions(&tail), [2, 3], "gpos >= 4, in position order");
    assert_eq!(global_positions(&tail), [5, 7]);
    assert_eq!(
        positions(&read(StartAt::GlobalPosition(5), Limit::AtMost(1)).await),
        [2]
    );
    assert_eq!(
        positions(&read(StartAt::GlobalPosition(0), Limit::Unlimited).await),
        [0, 1, 2, 3]
    );
    assert_eq!(
        positions(&read(StartAt::GlobalPosition(-3), Limit::Unlimited).await),
        [0, 1, 2, 3]
    );
    assert!(read(StartAt::GlobalPosition(8), Limit::Unlimited)
        .await
        .is_empty());
    assert!(read(StartAt::GlobalPosition(5), Limit::AtMost(0))
        .await
        .is_empty());
}

pub async fn stream_reads_never_treat_the_name_as_a_category(store: Arc<dyn Store>) {
    let store = &*store;
    let ns = namespace(store, "exact").await;
    append_to(store, &ns, "account").await;
    append_to(store, &ns, "account-1").await;
    append_to(store, &ns, "account-1+x").await;
    append_to(store, &ns, "Account").await;
    let bare = read_stream(store, &ns, "account", whole_stream()).await;
    assert_eq!(stream_names(&bare), ["account"]);
    let one = read_stream(store, &ns, "account-1", whole_stream()).await;
    assert_eq!(stream_names(&one), ["account-1"]);
    assert_eq!(
        store.stream_version(&ns, &stream("account")).await.unwrap(),
        Some(0)
    );
}

pub async fn last_message_with_and_without_type(store: Arc<dyn Store>) {
    let store = &*store;
    let ns = namespace(store, "last").await;
    let s = stream("account-1");
    assert_eq!(store.last_message(&ns, &s, None).await.unwrap(), None);
    for ty in ["A", "B", "A", "C"] {
        let m = NewMessage {
            message_type: ty.to_owned(),
            ..message("account-1")
        };
        append(store, &ns, m).await;
    }
    append_to(store, &ns, "account-2").await;
    let last = |ty: Option<&'static str>| {
        let s = s.clone();
        let ns = ns.clone();
        async move { store.last_message(&ns, &s, ty).await.unwrap() }
    };
    let newest = last(None).await.expect("a last message");
    assert_eq!((newest.position, newest.message_type.as_str()), (3, "C"));
    assert_eq!(newest.stream_name, "account-1");
    assert_eq!(last(Some("A")).await.map(|m| m.position), Some(2));
    assert_eq!(last(Some("B")).await.map(|m| m.position), Some(1));
    assert_eq!(last(Some("Z")).await, None);
    assert_eq!(last(Some("a")).await, None, "types compare exactly");
    let all = read_stream(store, &ns, "account-1", whole_stream()).await;
    assert_eq!(
        Some(&all[3]),
        last(None).await.as_ref(),
        "the same message as stream reads give"
    );
}

pub async fn stream_version_counts_up(store: Arc<dyn Store>) {
    let store = &*store;
    let ns = namespace(store, "version").await;
    let s = stream("account-1");
    assert_eq!(store.stream_version(&ns, &s).await.unwrap(), None);
    for expected in 0..3 {
        append_to(store, &ns, "account-1").await;
        append_to(store, &ns, "account-2").await;
        assert_eq!(store.stream_version(&ns, &s).await.unwrap(), Some(expected));
    }
}
