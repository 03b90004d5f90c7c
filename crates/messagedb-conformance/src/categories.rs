//! Category reads (SPEC §6.7, §7): exact selection, start positions, limits, the correlation
//! filter and consumer groups, every filter applied before the limit.

use std::collections::BTreeSet;
use std::sync::Arc;

use messagedb_core::{CategoryQuery, ConsumerGroup, Limit, Message, NewMessage, Store};

use crate::support::{
    append, append_to, global_positions, message, namespace, read_category, stream_names,
    whole_category,
};

fn group(member: i64, size: i64) -> Option<ConsumerGroup> {
    Some(ConsumerGroup::new(member, size).expect("a valid group"))
}

fn ids(messages: &[Message]) -> BTreeSet<i64> {
    messages.iter().map(|m| m.global_position).collect()
}

fn assert_ascending(messages: &[Message]) {
    let gpos = global_positions(messages);
    assert!(
        gpos.windows(2).all(|w| w[0] < w[1]),
        "ascending global positions: {gpos:?}"
    );
}

pub async fn category_selection_is_exact(store: Arc<dyn Store>) {
    let store = &*store;
    let ns = namespace(store, "selection").await;
    let streams = [
        "account-1",
        "accountLog-1",
        "account-2+x",
        "Account-1",
        "account",
        "accounts-1",
        "account-1",
        "account-",
        "user-account-1",
    ];
    for s in streams {
        append_to(store, &ns, s).await;
    }
    let account = read_category(store, &ns, whole_category("account")).await;
    assert_eq!(
        stream_names(&account),
        [
            "account-1",
            "account-2+x",
            "account",
            "account-1",
            "account-"
        ]
    );
    assert_ascending(&account);
    assert_eq!(account[0].global_position, 1);

    let everything = read_category(store, &ns, whole_category("")).await;
    assert_eq!(
        stream_names(&everything),
        streams,
        "\"\" selects the whole namespace"
    );
    assert_ascending(&everything);

    for nothing in [
        "account-1",
        "-",
        "user-account",
        "acc",
        "ACCOUNT",
        "missing",
    ] {
        assert!(
            read_category(store, &ns, whole_category(nothing))
                .await
                .is_empty(),
            "{nothing:?} selects nothing"
        );
    }
    let capital = read_category(store, &ns, whole_category("Account")).await;
    assert_eq!(stream_names(&capital), ["Account-1"]);
}

pub async fn category_start_positions(store: Arc<dyn Store>) {
    let store = &*store;
    let ns = namespace(store, "cat-starts").await;
    for i in 0..10 {
        append_to(store, &ns, &format!("c-{}", i % 3)).await;
        append_to(store, &ns, "other-1").await;
    }
    let starting = |from: i64| CategoryQuery {
        from_global_position: from,
        ..whole_category("c")
    };
    let all = read_category(store, &ns, starting(1)).await;
    assert_eq!(
        global_positions(&all),
        (0..10).map(|i| 2 * i + 1).collect::<Vec<i64>>()
    );
    for equivalent in [0, -1, i64::MIN] {
        assert_eq!(
            read_category(store, &ns, starting(equivalent)).await,
            all,
            "from {equivalent}"
        );
    }
    assert_eq!(
        global_positions(&read_category(store, &ns, starting(10)).await),
        [11, 13, 15, 17, 19]
    );
    assert_eq!(
        global_positions(&read_category(store, &ns, starting(11)).await),
        [11, 13, 15, 17, 19]
    );
    assert!(read_category(store, &ns, starting(20)).await.is_empty());
}

pub async fn category_limits(store: Arc<dyn Store>) {
    let store = &*store;
    let ns = namespace(store, "cat-limits").await;
    for i in 0..12 {
        append_to(store, &ns, &format!("c-{i}")).await;
    }
    let limited = |limit| CategoryQuery {
        limit,
        ..whole_category("c")
    };
    assert_eq!(
        global_positions(&read_category(store, &ns, limited(Limit::AtMost(3))).await),
        [1, 2, 3]
    );
    assert!(read_category(store, &ns, limited(Limit::AtMost(0)))
        .await
        .is_empty());
    assert_eq!(
        read_category(store, &ns, limited(Limit::Unlimited))
            .await
            .len(),
        12
    );
    assert_eq!(
        read_category(store, &ns, limited(Limit::AtMost(Limit::MAX)))
            .await
            .len(),
        12
    );
    let paged = CategoryQuery {
        from_global_position: 4,
        ..limited(Limit::AtMost(5))
    };
    assert_eq!(
        global_positions(&read_category(store, &ns, paged).await),
        [4, 5, 6, 7, 8]
    );
}

/// SPEC §7.2 and checklist H73.
pub async fn correlation_filter(store: Arc<dyn Store>) {
    let store = &*store;
    let ns = namespace(store, "correlation").await;
    let metadata: [(Option<&str>, bool); 11] = [
        (Some(r#"{"correlationStreamName":"workflow-abc"}"#), true),
        (Some(r#"{"correlationStreamName":"workflow"}"#), true),
        (Some(r#"{"correlationStreamName":"process-1"}"#), false),
        (Some(r#"{"correlationStreamName":"Workflow-1"}"#), false),
        (Some(r#"{"correlationStreamName":"workflows-1"}"#), false),
        (None, false),
        (Some("{}"), false),
        (Some(r#"{"correlationStreamName":5}"#), false),
        (
            Some(r#"{"correlationStreamName":null,"x":"workflow-1"}"#),
            false,
        ),
        (
            Some(r#"{"correlationStreamName":"process-1","correlationStreamName":"workflow-9"}"#),
            true,
        ),
        (
            Some(r#"{"correlationStreamName":"workflow-9","correlationStreamName":"process-1"}"#),
            false,
        ),
    ];
    for (i, (meta, _)) in metadata.iter().enumerate() {
        let m = NewMessage {
            metadata: meta.map(str::to_owned),
            ..message(&format!("task-{i}"))
        };
        append(store, &ns, m).await;
        append_to(store, &ns, "noise-1").await;
    }
    let expected: Vec<i64> = metadata
        .iter()
        .enumerate()
        .filter(|(_, (_, keep))| *keep)
        .map(|(i, _)| 2 * i as i64 + 1)
        .collect();
    let correlated = |category: &str, correlation: Option<&str>| CategoryQuery {
        correlation: correlation.map(str::to_owned),
        ..whole_category(category)
    };
    let kept = read_category(store, &ns, correlated("task", Some("workflow"))).await;
    assert_eq!(global_positions(&kept), expected);
    let whole_namespace = read_category(store, &ns, correlated("", Some("workflow"))).await;
    assert_eq!(global_positions(&whole_namespace), expected);
    let unfiltered = read_category(store, &ns, correlated("task", Some(""))).await;
    assert_eq!(unfiltered.len(), metadata.len(), "\"\" applies no filter");
    assert!(
        read_category(store, &ns, correlated("task", Some("Workflow")))
            .await
            .len()
            == 1
    );
    assert!(
        read_category(store, &ns, correlated("noise", Some("workflow")))
            .await
            .is_empty()
    );
}

/// Checklist H68–H70: each group partitions the category (streams without a cardinal id go to
/// no member), and membership follows `ConsumerGroup::contains`.
pub async fn consumer_groups_partition_a_category(store: Arc<dyn Store>) {
    let store = &*store;
    let ns = namespace(store, "groups").await;
    let mut streams: Vec<String> = (0..30).map(|i| format!("entity-{i}")).collect();
    streams.extend(
        [
            "entity",
            "entity-",
            "entity-+x",
            "entity-7+y",
            "entity-abc",
            "entity-ü",
        ]
        .map(str::to_owned),
    );
    for s in &streams {
        append_to(store, &ns, s).await;
        append_to(store, &ns, s).await;
    }
    let everything = read_category(store, &ns, whole_category("entity")).await;
    for size in [1, 2, 3, 5] {
        let mut union = BTreeSet::new();
        for member in 0..size {
            let query = CategoryQuery {
                consumer_group: group(member, size),
                ..whole_category("entity")
            };
            let got = read_category(store, &ns, query).await;
            assert_ascending(&got);
            let g = group(member, size).unwrap();
            let expected: Vec<&Message> = everything
                .iter()
                .filter(|m| g.contains(&m.stream_name))
                .collect();
            assert_eq!(
                got.iter().collect::<Vec<_>>(),
                expected,
                "member {member} of {size}"
            );
            let got = ids(&got);
            assert!(
                union.is_disjoint(&got),
                "members of a group of {size} overlap"
            );
            union.extend(got);
        }
        let assignable: BTreeSet<i64> = everything
            .iter()
            .filter(|m| !messagedb_core::cardinal_id(&m.stream_name).is_empty())
            .map(|m| m.global_position)
            .collect();
        assert_eq!(
            union, assignable,
            "a group of {size} covers every stream with a cardinal id"
        );
    }

    // SPEC §7.1: `x-abc` is member 0 of 2 and member 2 of 3; `x` (no cardinal id) is in none.
    append_to(store, &ns, "x-abc").await;
    append_to(store, &ns, "x").await;
    for (member, size, expected) in [
        (0, 2, vec!["x-abc"]),
        (1, 2, vec![]),
        (2, 3, vec!["x-abc"]),
        (0, 3, vec![]),
    ] {
        let query = CategoryQuery {
            consumer_group: group(member, size),
            ..whole_category("x")
        };
        let got = read_category(store, &ns, query).await;
        assert_eq!(stream_names(&got), expected, "member {member} of {size}");
    }
}

/// Checklist H69: `entity-123+alice` and `entity-123+bob` go to the member of `123`.
pub async fn compound_ids_share_a_member(store: Arc<dyn Store>) {
    let store = &*store;
    let ns = namespace(store, "compound").await;
    for s in [
        "entity-123+alice",
        "entity-123+bob",
        "entity-123",
        "entity-456+alice",
    ] {
        append_to(store, &ns, s).await;
    }
    for size in 2..6 {
        let mut owners = Vec::new();
        for member in 0..size {
            let query = CategoryQuery {
                consumer_group: group(member, size),
                ..whole_category("entity")
            };
            let got = read_category(store, &ns, query).await;
            let names = stream_names(&got);
            if names.contains(&"entity-123") {
                owners.push(member);
                for s in ["entity-123+alice", "entity-123+bob"] {
                    assert!(
                        names.contains(&s),
                        "{s} with entity-123 in member {member} of {size}"
                    );
                }
            }
        }
        assert_eq!(
            owners.len(),
            1,
            "exactly one member of {size} owns cardinal id 123"
        );
    }
}

/// Checklist H71: a limit counts matching messages, so it returns `limit` of them when they
/// exist, however many non-matching messages come first.
pub async fn group_filter_applies_before_the_limit(store: Arc<dyn Store>) {
    let store = &*store;
    let ns = namespace(store, "group-limit").await;
    for i in 0..40 {
        append_to(store, &ns, &format!("c-{i}")).await;
    }
    let g = group(1, 3).unwrap();
    let all = read_category(store, &ns, whole_category("c")).await;
    let matching: Vec<&Message> = all.iter().filter(|m| g.contains(&m.stream_name)).collect();
    assert!(matching.len() > 5, "the fixture needs more than 5 members");
    let query = CategoryQuery {
        consumer_group: Some(g),
        limit: Limit::AtMost(5),
        ..whole_category("c")
    };
    let got = read_category(store, &ns, query).await;
    assert_eq!(got.iter().collect::<Vec<_>>(), matching[..5]);
}

pub async fn filters_combine(store: Arc<dyn Store>) {
    let store = &*store;
    let ns = namespace(store, "combined").await;
    for i in 0..60 {
        // Every stream gets correlated and uncorrelated messages.
        let correlated = i % 3 != 0;
        let m = NewMessage {
            metadata: correlated.then(|| r#"{"correlationStreamName":"flow-1"}"#.to_owned()),
            ..message(&format!("job-{}", i % 10))
        };
        append(store, &ns, m).await;
    }
    let g = group(0, 2).unwrap();
    let all = read_category(store, &ns, whole_category("job")).await;
    let expected: Vec<&Message> = all
        .iter()
        .filter(|m| m.global_position >= 10 && m.metadata.is_some() && g.contains(&m.stream_name))
        .take(4)
        .collect();
    assert_eq!(expected.len(), 4, "the fixture needs 4 matches");
    assert!(
        expected.iter().any(|m| m.global_position > 14),
        "the limit is not reached by position"
    );
    let query = CategoryQuery {
        category: "job".to_owned(),
        from_global_position: 10,
        limit: Limit::AtMost(4),
        correlation: Some("flow".to_owned()),
        consumer_group: Some(g),
    };
    let got = read_category(store, &ns, query).await;
    assert_eq!(got.iter().collect::<Vec<_>>(), expected);
}
