//! Group commit (SPEC §10.3): many writes queued at once share transactions, and every one still
//! gets the positions it would have had alone, in arrival order (I3, I4, I9), whether its batch
//! holds plain appends only (positions assigned by PostgreSQL) or also ids and expected versions
//! (checked by the writer); the notifications report the same positions, in gpos order.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use futures::future::join_all;
use messagedb_conformance::support::{message, namespace, read_category, whole_category};
use messagedb_core::{
    CommitListener, Committed, MessageId, NamespaceId, NewMessage, Store, StoreError, WriteOutcome,
};

use crate::support::open;

#[derive(Default)]
struct Heard(Mutex<Vec<Committed>>);

impl CommitListener for Heard {
    fn committed(&self, _ns: &NamespaceId, messages: &[Committed]) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend(messages.iter().cloned());
    }

    fn deleted(&self, _ns: &NamespaceId, _deletion: &messagedb_core::Deletion) {}

    fn ended(&self, _ns: &NamespaceId) {}

    fn resync(&self) {}
}

/// Writes `messages`, 30 at a time (queued together, so the writer batches them) and returns
/// their outcomes in order. `join_all` of at most 30 futures polls them in order, so they queue
/// in order; larger ones poll in no particular order.
async fn write_together(
    store: &dyn Store,
    ns: &NamespaceId,
    messages: Vec<NewMessage>,
) -> Vec<Result<WriteOutcome, StoreError>> {
    let mut outcomes = Vec::with_capacity(messages.len());
    for chunk in messages.chunks(30) {
        outcomes.extend(join_all(chunk.iter().map(|m| store.write(ns, m.clone()))).await);
    }
    outcomes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batched_writes_get_the_positions_of_their_arrival_order() {
    let Some(db) = messagedb_testpg::database("batched_writes_get_arrival_positions").await else {
        return;
    };
    let store = open(&db).await;
    let heard = Arc::new(Heard::default());
    store.set_commit_listener(Arc::clone(&heard) as Arc<dyn CommitListener>);
    let ns = namespace(&store, "batches").await;
    // Its notification cannot carry the name (over 8000 bytes of JSON): listeners read the row.
    let long = format!("long-{}", "\"".repeat(4000));
    let stream_of = |n: usize| match n % 7 {
        6 => long.clone(),
        k => format!("batch-{}", k % 3),
    };

    // Round 0: plain appends only, so PostgreSQL assigns the positions. Round 1: every 5th
    // write supplies an id, every 11th reuses the id of an earlier write of the round (an
    // idempotent retry when stream and type match, else a duplicate), every 9th expects the
    // version its stream had after round 0 (so only the first of them per stream appends).
    let mut expected: Vec<(String, i64)> = Vec::new();
    let mut version: HashMap<String, i64> = HashMap::new();
    let mut next_gpos = 1;
    for round in 0..2 {
        let ids: Vec<MessageId> = (0..300).map(|_| MessageId::new_v7()).collect();
        let messages: Vec<NewMessage> = (0..300)
            .map(|n| {
                let mut m = message(&stream_of(n));
                m.data = format!(r#"{{"round":{round},"n":{n}}}"#);
                if round == 1 {
                    if n % 5 == 0 {
                        m.id = Some(ids[n]);
                    }
                    if n % 11 == 0 && n > 0 {
                        m.id = Some(ids[(n / 11) * 5]);
                    }
                    if n % 9 == 0 {
                        let stream = stream_of(n);
                        m.expected_version = Some(version.get(&stream).copied().unwrap_or(-1));
                    }
                }
                m
            })
            .collect();
        let outcomes = write_together(&store, &ns, messages.clone()).await;
        // What the writer must decide, in arrival order (SPEC §6.3).
        let mut written: HashMap<MessageId, (String, WriteOutcome)> = HashMap::new();
        for (n, (m, outcome)) in messages.iter().zip(outcomes).enumerate() {
            let stream = m.stream_name.as_str().to_owned();
            let current = version.get(&stream).copied().unwrap_or(-1);
            let case = format!("write {n} of round {round}");
            match (m.id.and_then(|id| written.get(&id)), m.expected_version) {
                (Some((s, first)), _) if *s == stream => {
                    assert_eq!(
                        outcome.unwrap(),
                        WriteOutcome::AlreadyWritten(first.positions()),
                        "{case}"
                    );
                }
                (Some(_), _) => {
                    assert!(
                        matches!(outcome, Err(StoreError::DuplicateMessageId { .. })),
                        "{case}: {outcome:?}"
                    );
                }
                (None, Some(e)) if e != current => {
                    assert!(
                        matches!(outcome, Err(StoreError::VersionConflict { .. })),
                        "{case}: {outcome:?}"
                    );
                }
                (None, _) => {
                    let outcome = outcome.unwrap();
                    let p = outcome.positions();
                    assert_eq!(outcome, WriteOutcome::Appended(p), "{case}");
                    assert_eq!(
                        (p.position, p.global_position),
                        (current + 1, next_gpos),
                        "{case}"
                    );
                    next_gpos += 1;
                    version.insert(stream.clone(), p.position);
                    expected.push((stream.clone(), p.position));
                    if let Some(id) = m.id {
                        written.insert(id, (stream, outcome));
                    }
                }
            }
        }
    }
    // The stored rows are the acknowledged ones, gpos 1.. without a gap.
    let all = read_category(&store, &ns, whole_category("")).await;
    let stored: Vec<(String, i64)> = all
        .iter()
        .map(|m| (m.stream_name.as_str().to_owned(), m.position))
        .collect();
    assert_eq!(stored, expected);
    let gpos: Vec<i64> = all.iter().map(|m| m.global_position).collect();
    assert_eq!(gpos, (1..next_gpos).collect::<Vec<_>>());
    // The listener hears every commit once, in gpos order, with its stream and position.
    let mut waited = 0;
    loop {
        let heard: Vec<(i64, String, i64)> = heard
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(|c| (c.global_position, c.stream_name.clone(), c.position))
            .collect();
        if heard.len() >= expected.len() || waited >= 300 {
            let wanted: Vec<(i64, String, i64)> = expected
                .iter()
                .enumerate()
                .map(|(i, (s, p))| (i as i64 + 1, s.clone(), *p))
                .collect();
            assert_eq!(heard, wanted);
            break;
        }
        waited += 1;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    store.close().await;
}
