//! Small helpers the cases share: building messages and queries, and asserting outcomes.

use messagedb_core::{
    CategoryQuery, Limit, Message, NamespaceId, NewMessage, Positions, StartAt, Store, StoreError,
    StreamName, StreamQuery, TokenHash, WriteOutcome,
};

/// The token hash cases store; its value never matters except in the rotation case.
pub const HASH: [u8; 32] = [0xab; 32];

/// Creates namespace `id` (which must not exist) and returns it.
pub async fn namespace(store: &dyn Store, id: &str) -> NamespaceId {
    let id = NamespaceId::parse(id).expect("a valid namespace id");
    store
        .create_namespace(&id, "conformance", &TokenHash::from_bytes(HASH))
        .await
        .unwrap_or_else(|e| panic!("creating namespace {id}: {e}"));
    id
}

pub fn stream(name: &str) -> StreamName {
    StreamName::parse(name).expect("a valid stream name")
}

/// A message of type `Tested` with data `{}`, no metadata, no id, no expected version.
pub fn message(stream_name: &str) -> NewMessage {
    NewMessage {
        id: None,
        stream_name: stream(stream_name),
        message_type: "Tested".to_owned(),
        data: "{}".to_owned(),
        metadata: None,
        expected_version: None,
    }
}

/// Writes `message`, which must be appended, and returns where it landed.
pub async fn append(store: &dyn Store, ns: &NamespaceId, message: NewMessage) -> Positions {
    let stream = message.stream_name.clone();
    match store.write(ns, message).await {
        Ok(WriteOutcome::Appended(positions)) => positions,
        other => panic!("writing to {stream}: expected an append, got {other:?}"),
    }
}

/// Appends a plain [`message`] to `stream_name`.
pub async fn append_to(store: &dyn Store, ns: &NamespaceId, stream_name: &str) -> Positions {
    append(store, ns, message(stream_name)).await
}

/// From position 0, no limit.
pub fn whole_stream() -> StreamQuery {
    StreamQuery {
        start: StartAt::Position(0),
        limit: Limit::Unlimited,
    }
}

/// From global position 1, no limit, no filters.
pub fn whole_category(name: &str) -> CategoryQuery {
    CategoryQuery {
        category: name.to_owned(),
        from_global_position: 1,
        limit: Limit::Unlimited,
        correlation: None,
        consumer_group: None,
    }
}

pub async fn read_stream(
    store: &dyn Store,
    ns: &NamespaceId,
    name: &str,
    query: StreamQuery,
) -> Vec<Message> {
    store
        .read_stream(ns, &stream(name), &query)
        .await
        .unwrap_or_else(|e| panic!("reading stream {name}: {e}"))
}

pub async fn read_category(
    store: &dyn Store,
    ns: &NamespaceId,
    query: CategoryQuery,
) -> Vec<Message> {
    store
        .read_category(ns, &query)
        .await
        .unwrap_or_else(|e| panic!("reading category {:?}: {e}", query.category))
}

pub fn positions(messages: &[Message]) -> Vec<i64> {
    messages.iter().map(|m| m.position).collect()
}

pub fn global_positions(messages: &[Message]) -> Vec<i64> {
    messages.iter().map(|m| m.global_position).collect()
}

pub fn stream_names(messages: &[Message]) -> Vec<&str> {
    messages.iter().map(|m| m.stream_name.as_str()).collect()
}

/// Panics unless `result` is `NamespaceNotFound(ns)`.
pub fn assert_not_found<T: std::fmt::Debug>(
    result: Result<T, StoreError>,
    ns: &NamespaceId,
    what: &str,
) {
    match result {
        Err(StoreError::NamespaceNotFound(id)) if &id == ns => {}
        other => panic!("{what}: expected NamespaceNotFound({ns}), got {other:?}"),
    }
}
