//! The commit hook (SPEC §8, §10.3): what the store tells its [`CommitListener`], and `head`.
//!
//! Subscriptions are only gap-free if every backend reports each namespace's commits exactly
//! once and in global-position order, reports nothing for writes that commit nothing, ends a
//! deleted namespace, and never reports a commit that `head` would not cover. Backends may
//! report asynchronously (PostgreSQL hears its own commits through `LISTEN`), so the cases wait
//! for what they expect, with a timeout, instead of assuming it arrived with the answer.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use messagedb_core::{
    CommitListener, Committed, Deletion, MessageId, NamespaceId, NewMessage, Store, StoreError,
    WriteOutcome,
};
use tokio::sync::watch;

use crate::support::{append, append_to, message, namespace, read_category, whole_category};

/// How long a report may take to arrive.
const PATIENCE: Duration = Duration::from_secs(10);

/// What a listener heard, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Heard {
    Committed(NamespaceId, Committed),
    Deleted(NamespaceId, Deletion),
    Ended(NamespaceId),
}

/// A listener that records everything and lets a case wait for a condition on the record.
pub struct Recorder {
    heard: Mutex<Vec<Heard>>,
    /// Bumped after every report, to wake waiters.
    version: watch::Sender<u64>,
}

impl Recorder {
    /// A recorder installed as `store`'s listener.
    pub fn install(store: &dyn Store) -> Arc<Recorder> {
        let recorder = Arc::new(Recorder {
            heard: Mutex::new(Vec::new()),
            version: watch::channel(0).0,
        });
        store.set_commit_listener(Arc::clone(&recorder) as Arc<dyn CommitListener>);
        recorder
    }

    pub fn heard(&self) -> Vec<Heard> {
        self.heard
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The commits heard for `ns`, in order.
    pub fn commits(&self, ns: &NamespaceId) -> Vec<Committed> {
        self.heard()
            .into_iter()
            .filter_map(|h| match h {
                Heard::Committed(id, c) if &id == ns => Some(c),
                _ => None,
            })
            .collect()
    }

    /// Waits until `condition` holds for what was heard; panics after [`PATIENCE`].
    pub async fn wait_until(&self, what: &str, condition: impl Fn(&[Heard]) -> bool) {
        let mut version = self.version.subscribe();
        let waited = tokio::time::timeout(PATIENCE, async {
            loop {
                if condition(&self.heard()) {
                    return;
                }
                if version.changed().await.is_err() {
                    return;
                }
            }
        })
        .await;
        if waited.is_err() {
            panic!("timed out waiting for {what}; heard {:?}", self.heard());
        }
    }

    /// Waits until the commit with global position `gpos` of `ns` has been heard.
    pub async fn wait_for_commit(&self, ns: &NamespaceId, gpos: i64) {
        self.wait_until(&format!("gpos {gpos} of {ns}"), |heard| {
            heard.iter().any(
                |h| matches!(h, Heard::Committed(id, c) if id == ns && c.global_position == gpos),
            )
        })
        .await;
    }

    fn record(&self, heard: impl IntoIterator<Item = Heard>) {
        self.heard
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend(heard);
        self.version.send_modify(|v| *v += 1);
    }
}

impl CommitListener for Recorder {
    fn committed(&self, ns: &NamespaceId, messages: &[Committed]) {
        self.record(
            messages
                .iter()
                .map(|c| Heard::Committed(ns.clone(), c.clone())),
        );
    }

    fn deleted(&self, ns: &NamespaceId, deletion: &Deletion) {
        self.record([Heard::Deleted(ns.clone(), deletion.clone())]);
    }

    fn ended(&self, ns: &NamespaceId) {
        self.record([Heard::Ended(ns.clone())]);
    }
}

/// Concurrent writers in two namespaces: each namespace's commits are heard exactly once, in
/// ascending gpos, with the stream and position that reads return.
pub async fn commits_are_reported_in_global_order(store: Arc<dyn Store>) {
    let recorder = Recorder::install(&*store);
    let a = namespace(&*store, "heard-a").await;
    let b = namespace(&*store, "heard-b").await;
    let mut writers = Vec::new();
    for writer in 0..4 {
        let (store, a, b) = (Arc::clone(&store), a.clone(), b.clone());
        writers.push(tokio::spawn(async move {
            for i in 0..40 {
                let ns = if i % 3 == 0 { &b } else { &a };
                append_to(&*store, ns, &format!("cat{}-{writer}", i % 2)).await;
            }
        }));
    }
    for writer in writers {
        writer.await.expect("writer task");
    }
    for ns in [&a, &b] {
        let stored = read_category(&*store, ns, whole_category("")).await;
        let last = stored.last().expect("messages").global_position;
        recorder.wait_for_commit(ns, last).await;
        let heard = recorder.commits(ns);
        let expected: Vec<Committed> = stored
            .iter()
            .map(|m| Committed {
                global_position: m.global_position,
                stream_name: m.stream_name.clone(),
                position: m.position,
            })
            .collect();
        assert_eq!(heard, expected, "every commit of {ns}, once, in gpos order");
    }
}

/// An idempotent retry, a version conflict and a duplicate id commit nothing and are not heard.
pub async fn only_appends_are_reported(store: Arc<dyn Store>) {
    let recorder = Recorder::install(&*store);
    let ns = namespace(&*store, "appends").await;
    let id = MessageId::new_v7();
    let first = append(
        &*store,
        &ns,
        NewMessage {
            id: Some(id),
            ..message("once-1")
        },
    )
    .await;
    let retry = store
        .write(
            &ns,
            NewMessage {
                id: Some(id),
                ..message("once-1")
            },
        )
        .await;
    assert_eq!(retry.unwrap(), WriteOutcome::AlreadyWritten(first));
    let conflict = store
        .write(
            &ns,
            NewMessage {
                expected_version: Some(7),
                ..message("once-1")
            },
        )
        .await;
    assert!(matches!(conflict, Err(StoreError::VersionConflict { .. })));
    let duplicate = store
        .write(
            &ns,
            NewMessage {
                id: Some(id),
                ..message("other-1")
            },
        )
        .await;
    assert!(matches!(
        duplicate,
        Err(StoreError::DuplicateMessageId { .. })
    ));
    let second = append_to(&*store, &ns, "once-1").await;
    recorder.wait_for_commit(&ns, second.global_position).await;
    let heard: Vec<(i64, String, i64)> = recorder
        .commits(&ns)
        .into_iter()
        .map(|c| (c.global_position, c.stream_name, c.position))
        .collect();
    assert_eq!(
        heard,
        [
            (first.global_position, "once-1".to_owned(), 0),
            (second.global_position, "once-1".to_owned(), 1),
        ]
    );
}

/// Deleting a namespace is heard as its end, after which nothing of it is heard; a namespace
/// re-created with the same id is heard afresh.
pub async fn deletion_ends_the_namespace(store: Arc<dyn Store>) {
    let recorder = Recorder::install(&*store);
    let ns = namespace(&*store, "doomed").await;
    let other = namespace(&*store, "survivor").await;
    let written = append_to(&*store, &ns, "doomed-1").await;
    recorder.wait_for_commit(&ns, written.global_position).await;
    store.delete_namespace(&ns).await.expect("delete");
    recorder
        .wait_until("the end of the deleted namespace", |heard| {
            heard.contains(&Heard::Ended(ns.clone()))
        })
        .await;
    assert!(
        !recorder.heard().contains(&Heard::Ended(other.clone())),
        "only the deleted namespace ends"
    );

    namespace(&*store, "doomed").await;
    let again = append_to(&*store, &ns, "reborn-1").await;
    // Both incarnations start at gpos 1, so wait for a commit heard after the end, not for the
    // gpos (a backend that reports asynchronously may not have reported it yet).
    recorder
        .wait_until("a commit of the re-created namespace", |heard| {
            heard
                .iter()
                .skip_while(|h| **h != Heard::Ended(ns.clone()))
                .any(|h| matches!(h, Heard::Committed(id, _) if id == &ns))
        })
        .await;
    let heard = recorder.heard();
    let end = heard
        .iter()
        .position(|h| h == &Heard::Ended(ns.clone()))
        .expect("the end");
    let after: Vec<&Heard> = heard[end + 1..]
        .iter()
        .filter(|h| matches!(h, Heard::Committed(id, _) if id == &ns))
        .collect();
    assert_eq!(
        after,
        [&Heard::Committed(
            ns.clone(),
            Committed {
                global_position: again.global_position,
                stream_name: "reborn-1".to_owned(),
                position: 0,
            }
        )],
        "after its end, only the new namespace's commits"
    );
}

/// `head` is 0 for an empty namespace, then the highest committed gpos; per namespace.
pub async fn head_is_the_highest_committed_global_position(store: Arc<dyn Store>) {
    let a = namespace(&*store, "head-a").await;
    let b = namespace(&*store, "head-b").await;
    assert_eq!(store.head(&a).await.unwrap(), 0);
    let mut last = 0;
    for i in 0..5 {
        last = append_to(&*store, &a, &format!("s-{i}"))
            .await
            .global_position;
        assert_eq!(store.head(&a).await.unwrap(), last);
    }
    assert_eq!(store.head(&b).await.unwrap(), 0, "namespaces are isolated");
    let refused = store
        .write(
            &a,
            NewMessage {
                expected_version: Some(9),
                ..message("s-0")
            },
        )
        .await;
    assert!(refused.is_err());
    assert_eq!(
        store.head(&a).await.unwrap(),
        last,
        "a refusal moves nothing"
    );
    let missing = NamespaceId::parse("nowhere").unwrap();
    match store.head(&missing).await {
        Err(StoreError::NamespaceNotFound(id)) => assert_eq!(id, missing),
        other => panic!("expected NamespaceNotFound, got {other:?}"),
    }
}

/// While writers run, `head` read after any report is at least every gpos heard so far: what a
/// live-only subscription relies on when it reads `H` after registering.
pub async fn head_covers_every_reported_commit(store: Arc<dyn Store>) {
    let recorder = Recorder::install(&*store);
    let ns = namespace(&*store, "covered").await;
    let mut writers = Vec::new();
    for writer in 0..3 {
        let (store, ns) = (Arc::clone(&store), ns.clone());
        writers.push(tokio::spawn(async move {
            for _ in 0..60 {
                append_to(&*store, &ns, &format!("w-{writer}")).await;
            }
        }));
    }
    let mut checks = 0;
    while writers.iter().any(|w| !w.is_finished()) {
        let heard_max = recorder
            .commits(&ns)
            .iter()
            .map(|c| c.global_position)
            .max()
            .unwrap_or(0);
        let head = store.head(&ns).await.expect("head");
        assert!(
            head >= heard_max,
            "head {head} below a heard gpos {heard_max}"
        );
        checks += 1;
        tokio::task::yield_now().await;
    }
    for writer in writers {
        writer.await.expect("writer task");
    }
    let stored = read_category(&*store, &ns, whole_category("")).await;
    assert_eq!(stored.len(), 180);
    let last = stored.last().map(|m| m.global_position);
    assert_eq!(Some(store.head(&ns).await.unwrap()), last);
    assert!(checks > 0);
}
