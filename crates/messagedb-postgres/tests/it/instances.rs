//! Several instances on one database (SPEC §10.2, §4.6, §15 K98): stores opened side by side on
//! the same test database, as several messagedb processes would be.

use std::sync::Arc;

use futures::future::join_all;
use messagedb_conformance::notifications::{Heard, Recorder};
use messagedb_conformance::support::{
    append_to, message, read_category, read_stream, stream, whole_category, whole_stream,
};
use messagedb_core::{
    DeleteKind, DeleteOutcome, DeleteRequest, NamespaceId, NewMessage, Store, StoreError, Token,
    TokenHash, WriteOutcome,
};
use messagedb_server::{bootstrap_default, Bootstrap};

use crate::support::open;

/// Instances starting together on an empty database migrate once and bootstrap `default` once:
/// with the same `--token`, one creates it and the others find it unchanged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_starting_together_bootstrap_once() {
    let Some(db) = messagedb_testpg::database("instances_starting_together_bootstrap_once").await
    else {
        return;
    };
    let token = Token::generate(&NamespaceId::default_namespace());
    let started = join_all((0..4).map(|_| async {
        let store = open(&db).await;
        let outcome = bootstrap_default(&store, Some(token.expose()))
            .await
            .expect("bootstrap");
        (store, outcome)
    }))
    .await;
    let created = started
        .iter()
        .filter(|(_, o)| *o == Bootstrap::Created { generated: None })
        .count();
    let unchanged = started
        .iter()
        .filter(|(_, o)| *o == Bootstrap::Unchanged)
        .count();
    assert_eq!(
        (created, unchanged),
        (1, 3),
        "{:?}",
        started.iter().map(|(_, o)| o).collect::<Vec<_>>()
    );
    let (store, _) = &started[0];
    let record = store
        .namespace(&NamespaceId::default_namespace())
        .await
        .unwrap()
        .expect("default exists");
    assert_eq!(record.token_hash, token.hash());
    assert_eq!(store.list_namespaces().await.unwrap().len(), 1);

    // Without a token, racing first starts generate a token each, but only the one that
    // created `default` hands its token out; the others keep it.
    let Some(db) = messagedb_testpg::database("instances_starting_together_bootstrap_once").await
    else {
        return;
    };
    let outcomes = join_all((0..4).map(|_| async {
        let store = open(&db).await;
        bootstrap_default(&store, None).await.expect("bootstrap")
    }))
    .await;
    let generated: Vec<&Token> = outcomes
        .iter()
        .filter_map(|o| match o {
            Bootstrap::Created { generated } => generated.as_ref(),
            _ => None,
        })
        .collect();
    assert_eq!(generated.len(), 1, "{outcomes:?}");
    assert_eq!(
        outcomes.iter().filter(|o| **o == Bootstrap::Kept).count(),
        3
    );
    let store = open(&db).await;
    let record = store
        .namespace(&NamespaceId::default_namespace())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        record.token_hash,
        generated[0].hash(),
        "the printed token works"
    );
}

/// 20 writers with the same expectedVersion, spread over two instances: exactly one wins.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expected_version_has_one_winner_across_instances() {
    let Some(db) =
        messagedb_testpg::database("expected_version_has_one_winner_across_instances").await
    else {
        return;
    };
    let (a, b) = (Arc::new(open(&db).await), Arc::new(open(&db).await));
    let ns = messagedb_conformance::support::namespace(&*a, "race").await;
    append_to(&*b, &ns, "race-1").await;
    let writes = (0..20).map(|i| {
        let store = if i % 2 == 0 {
            Arc::clone(&a)
        } else {
            Arc::clone(&b)
        };
        let ns = ns.clone();
        tokio::spawn(async move {
            store
                .write(
                    &ns,
                    NewMessage {
                        expected_version: Some(0),
                        ..message("race-1")
                    },
                )
                .await
        })
    });
    let mut wins = 0;
    for outcome in join_all(writes).await {
        match outcome.unwrap() {
            Ok(WriteOutcome::Appended(p)) => {
                wins += 1;
                assert_eq!(p.position, 1);
            }
            Err(StoreError::VersionConflict { actual, .. }) => assert_eq!(actual, 1),
            other => panic!("expected a win or a conflict, got {other:?}"),
        }
    }
    assert_eq!(wins, 1);
    let stored = read_category(&*a, &ns, whole_category("race")).await;
    assert_eq!(
        stored.iter().map(|m| m.position).collect::<Vec<_>>(),
        [0, 1]
    );
}

/// A namespace deleted and re-created through one instance is used under its new key by
/// another instance that still remembers the old one, for reads and for writes; nothing reaches
/// the old incarnation, and a namespace deleted elsewhere is reported missing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_follow_a_namespace_recreated_elsewhere() {
    let Some(db) =
        messagedb_testpg::database("instances_follow_a_namespace_recreated_elsewhere").await
    else {
        return;
    };
    let (a, b) = (open(&db).await, open(&db).await);
    let hash = TokenHash::from_bytes([1; 32]);
    for name in ["reader", "writer", "gone"] {
        let ns = messagedb_conformance::support::namespace(&a, name).await;
        append_to(&a, &ns, "old-1").await;
        assert_eq!(b.delete_namespace(&ns).await.unwrap(), 1);
        if name != "gone" {
            b.create_namespace(&ns, "again", &hash).await.unwrap();
        }
    }
    let reader = NamespaceId::parse("reader").unwrap();
    assert!(read_category(&a, &reader, whole_category(""))
        .await
        .is_empty());
    assert_eq!(
        a.namespace_info(&reader).await.unwrap().description,
        "again"
    );

    let writer = NamespaceId::parse("writer").unwrap();
    let written = append_to(&a, &writer, "new-1").await;
    assert_eq!((written.position, written.global_position), (0, 1));
    let all = read_category(&b, &writer, whole_category("")).await;
    assert_eq!(
        all.iter()
            .map(|m| m.stream_name.as_str())
            .collect::<Vec<_>>(),
        ["new-1"]
    );

    let gone = NamespaceId::parse("gone").unwrap();
    match a.write(&gone, message("ghost-1")).await {
        Err(StoreError::NamespaceNotFound(id)) => assert_eq!(id, gone),
        other => panic!("a write to a namespace deleted elsewhere: {other:?}"),
    }
    match a.head(&gone).await {
        Err(StoreError::NamespaceNotFound(id)) => assert_eq!(id, gone),
        other => panic!("a read of a namespace deleted elsewhere: {other:?}"),
    }
}

/// Counts stay exact when two instances write one namespace at once, through both write paths
/// (plain appends, and writes with supplied ids): their transactions take the counter-row lock,
/// so each adds to the counts the previous one left.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counts_stay_exact_across_instances() {
    let Some(db) = messagedb_testpg::database("counts_stay_exact_across_instances").await else {
        return;
    };
    let (a, b) = (Arc::new(open(&db).await), Arc::new(open(&db).await));
    let ns = messagedb_conformance::support::namespace(&*a, "counted").await;
    let writes = (0..240).map(|i| {
        let store = if i % 2 == 0 {
            Arc::clone(&a)
        } else {
            Arc::clone(&b)
        };
        let ns = ns.clone();
        // 40 streams over 4 categories, so that both instances create streams of one category
        // at the same time; every third write goes the general path.
        let mut write = message(&format!("c{}-{}", i % 4, i % 40));
        if i % 3 == 0 {
            write.id = Some(messagedb_core::MessageId::new_v7());
        }
        tokio::spawn(async move { store.write(&ns, write).await })
    });
    for outcome in join_all(writes).await {
        assert!(matches!(outcome.unwrap(), Ok(WriteOutcome::Appended(_))));
    }
    let info = b.namespace_info(&ns).await.unwrap();
    assert_eq!((info.message_count, info.stream_count), (240, 40));
    let stored = read_category(&*a, &ns, whole_category("")).await;
    assert_eq!(info.last_activity, stored.last().map(|m| m.time));
    let categories = a.list_categories(&ns).await.unwrap();
    assert_eq!(
        categories
            .iter()
            .map(|c| (c.category.as_str(), c.message_count, c.stream_count))
            .collect::<Vec<_>>(),
        [
            ("c0", 60, 10),
            ("c1", 60, 10),
            ("c2", 60, 10),
            ("c3", 60, 10)
        ]
    );
}

/// SPEC §18 across instances: deletions made through instance A reach instance B's commit
/// listener through `LISTEN`, in global-position order between the commits around them, with
/// the record `ns.deletions` lists, also when the stream name is too long for the notification
/// (B reads the record back). B's writes continue after the kept version, through both write
/// paths.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deletions_reach_every_instance_in_order() {
    let Some(db) = messagedb_testpg::database("deletions_reach_every_instance_in_order").await
    else {
        return;
    };
    let (a, b) = (open(&db).await, open(&db).await);
    let heard = Recorder::install(&b);
    let ns = messagedb_conformance::support::namespace(&a, "erasing").await;
    // Over 8000 bytes of JSON: no notification can carry it.
    let long = format!("long-{}", "\"".repeat(4000));
    let first = append_to(&a, &ns, "account-1").await;
    let second = append_to(&b, &ns, "account-1").await;
    let third = append_to(&a, &ns, &long).await;
    // B reads that message back to report it (its name is not in the notification), so it
    // must hear it before the message is deleted: a commit read back after its deletion is
    // not reported (see `listen.rs`; names within SPEC §16.1's limit always fit).
    heard.wait_for_commit(&ns, third.global_position).await;
    let delete = |name: &str| DeleteRequest {
        stream: stream(name),
        kind: DeleteKind::Delete {
            expected_version: None,
        },
    };
    assert_eq!(
        a.delete_messages(&ns, &delete("account-1")).await.unwrap(),
        DeleteOutcome {
            deleted: 2,
            version: 1
        }
    );
    assert_eq!(
        a.delete_messages(&ns, &delete(&long)).await.unwrap(),
        DeleteOutcome {
            deleted: 1,
            version: 0
        }
    );
    // The plain-append path (one statement in PostgreSQL) and the general one (a supplied id).
    let plain = append_to(&b, &ns, "account-1").await;
    let mut with_id = message(&long);
    with_id.id = Some(messagedb_core::MessageId::new_v7());
    let general = messagedb_conformance::support::append(&b, &ns, with_id).await;
    assert_eq!(
        (plain.position, general.position),
        (2, 1),
        "after the kept versions"
    );
    heard.wait_for_commit(&ns, general.global_position).await;

    let deletions = b.list_deletions(&ns, 1, 10).await.unwrap();
    assert_eq!(
        deletions
            .iter()
            .map(|d| (d.global_position, d.stream_name.as_str(), d.before))
            .collect::<Vec<_>>(),
        [
            (third.global_position + 1, "account-1", 2),
            (third.global_position + 2, long.as_str(), 1)
        ]
    );
    let events: Vec<Heard> = heard
        .heard()
        .into_iter()
        .filter(|h| match h {
            Heard::Committed(id, _) | Heard::Deleted(id, _) | Heard::Ended(id) => *id == ns,
        })
        .collect();
    let expected: Vec<Heard> = [first, second, third]
        .iter()
        .map(|p| (p.global_position, None))
        .chain(
            deletions
                .iter()
                .map(|d| (d.global_position, Some(d.clone()))),
        )
        .chain([plain, general].iter().map(|p| (p.global_position, None)))
        .map(|(gpos, deletion)| match deletion {
            Some(deletion) => Heard::Deleted(ns.clone(), deletion),
            None => Heard::Committed(
                ns.clone(),
                events
                    .iter()
                    .find_map(|h| match h {
                        Heard::Committed(_, c) if c.global_position == gpos => Some(c.clone()),
                        _ => None,
                    })
                    .unwrap_or_else(|| panic!("commit {gpos} not heard: {events:?}")),
            ),
        })
        .collect();
    assert_eq!(
        events, expected,
        "every event once, in global-position order"
    );
    assert_eq!(b.head(&ns).await.unwrap(), general.global_position);
    let remaining = read_stream(&a, &ns, "account-1", whole_stream()).await;
    assert_eq!(
        remaining.iter().map(|m| m.position).collect::<Vec<_>>(),
        [2]
    );
    let info = a.namespace_info(&ns).await.unwrap();
    assert_eq!((info.message_count, info.stream_count), (2, 2));
}
