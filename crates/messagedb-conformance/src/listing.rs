//! `ns.streams` and `ns.categories` (SPEC §6.12, §6.13): bytewise order, literal prefixes,
//! cursor paging, exact counts.

use std::sync::Arc;

use messagedb_core::{CategorySummary, NamespaceId, Store, StreamSummary, StreamsQuery};

use crate::support::{append_to, namespace, stream};

fn page(prefix: &str, cursor: &str, limit: u32) -> StreamsQuery {
    StreamsQuery {
        prefix: prefix.to_owned(),
        cursor: cursor.to_owned(),
        limit,
    }
}

async fn names(store: &dyn Store, ns: &NamespaceId, query: StreamsQuery) -> Vec<String> {
    let listed = store.list_streams(ns, &query).await.expect("list streams");
    listed.into_iter().map(|s| s.stream_name).collect()
}

pub async fn streams_are_listed_bytewise_with_versions(store: Arc<dyn Store>) {
    let store = &*store;
    let ns = namespace(store, "listing").await;
    assert!(store
        .list_streams(&ns, &page("", "", 100))
        .await
        .unwrap()
        .is_empty());
    for s in [
        "b-1", "a-1", "é-1", "b-1", "A-1", "a+x", "a-10", "a-2", "b-1", "a",
    ] {
        append_to(store, &ns, s).await;
    }
    let listed = store.list_streams(&ns, &page("", "", 1000)).await.unwrap();
    let sorted = ["A-1", "a", "a+x", "a-1", "a-10", "a-2", "b-1", "é-1"];
    assert_eq!(
        listed
            .iter()
            .map(|s| s.stream_name.as_str())
            .collect::<Vec<_>>(),
        sorted
    );
    for summary in &listed {
        let last = store
            .last_message(&ns, &stream(&summary.stream_name), None)
            .await
            .unwrap()
            .expect("a listed stream has messages");
        let expected = StreamSummary {
            stream_name: last.stream_name.clone(),
            version: last.position,
            last_activity: last.time,
        };
        assert_eq!(summary, &expected);
    }
    assert_eq!(listed[6].version, 2, "b-1 has three messages");
}

pub async fn stream_prefixes_are_literal(store: Arc<dyn Store>) {
    let store = &*store;
    let ns = namespace(store, "prefixes").await;
    for s in [
        "a%b-1",
        "a_b-1",
        "axb-1",
        "ab-1",
        "a%-2",
        "a\\b-1",
        "acc-1",
        "account-1",
        "b-1",
    ] {
        append_to(store, &ns, s).await;
    }
    assert_eq!(
        names(store, &ns, page("a%", "", 100)).await,
        ["a%-2", "a%b-1"]
    );
    assert_eq!(names(store, &ns, page("a_", "", 100)).await, ["a_b-1"]);
    assert_eq!(names(store, &ns, page("a\\", "", 100)).await, ["a\\b-1"]);
    assert_eq!(
        names(store, &ns, page("acc", "", 100)).await,
        ["acc-1", "account-1"]
    );
    assert_eq!(
        names(store, &ns, page("account-1", "", 100)).await,
        ["account-1"]
    );
    assert_eq!(
        names(store, &ns, page("A", "", 100)).await,
        Vec::<String>::new()
    );
    assert_eq!(
        names(store, &ns, page("zzz", "", 100)).await,
        Vec::<String>::new()
    );
    assert_eq!(names(store, &ns, page("", "", 100)).await.len(), 9);
}

pub async fn stream_paging_returns_each_stream_once(store: Arc<dyn Store>) {
    let store = &*store;
    let ns = namespace(store, "paging").await;
    let mut all = Vec::new();
    for i in 0..7 {
        let name = format!("s-{i}");
        append_to(store, &ns, &name).await;
        append_to(store, &ns, &name).await;
        all.push(name);
    }
    for other in ["a-1", "t-1"] {
        append_to(store, &ns, other).await;
    }
    let mut seen = Vec::new();
    let mut cursor = String::new();
    loop {
        let got = names(store, &ns, page("s-", &cursor, 2)).await;
        assert!(got.len() <= 2);
        let Some(last) = got.last() else { break };
        cursor = last.clone();
        seen.extend(got);
    }
    assert_eq!(seen, all, "every stream exactly once, in order");

    // The cursor and the prefix bound the page independently.
    assert_eq!(
        names(store, &ns, page("s-", "a", 3)).await,
        ["s-0", "s-1", "s-2"]
    );
    assert_eq!(
        names(store, &ns, page("s-", "s-4", 100)).await,
        ["s-5", "s-6"]
    );
    assert_eq!(names(store, &ns, page("s-", "s-", 1)).await, ["s-0"]);
    assert_eq!(
        names(store, &ns, page("s-", "s-6", 100)).await,
        Vec::<String>::new()
    );
    assert_eq!(
        names(store, &ns, page("s-", "z", 100)).await,
        Vec::<String>::new()
    );
    assert_eq!(names(store, &ns, page("", "s-6", 100)).await, ["t-1"]);
    assert_eq!(names(store, &ns, page("", "", 1)).await, ["a-1"]);
}

pub async fn categories_are_counted_exactly(store: Arc<dyn Store>) {
    let store = &*store;
    let ns = namespace(store, "categories").await;
    assert!(store.list_categories(&ns).await.unwrap().is_empty());
    let writes = [
        ("account-1", 3),
        ("account-2", 1),
        ("account", 1),
        ("accountLog-1", 2),
        ("x", 1),
        ("account+y", 1),
        ("Account-1", 1),
    ];
    for (s, n) in writes {
        for _ in 0..n {
            append_to(store, &ns, s).await;
        }
    }
    let summary = |category: &str, message_count, stream_count| CategorySummary {
        category: category.to_owned(),
        message_count,
        stream_count,
    };
    assert_eq!(
        store.list_categories(&ns).await.unwrap(),
        [
            summary("Account", 1, 1),
            summary("account", 5, 3),
            summary("account+y", 1, 1),
            summary("accountLog", 2, 1),
            summary("x", 1, 1),
        ]
    );
}
