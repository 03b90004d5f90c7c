//! The counts of `ns.info`, `ns.list` and `ns.categories` (SPEC §6.10, §6.11, §6.13, §16.3;
//! checklist 143): backends answer them from counters, so a property test checks that the
//! counters always equal what a full scan of the messages computes.
//!
//! The operations come from a seeded generator (a SplitMix64, no dependency and no async
//! adapter needed), so a run is reproducible: a failure names the step and the operation. They
//! cover what moves the counters: writes to new and existing streams of several categories,
//! concurrent bursts (so that writers group several appends, some to one new stream, into one
//! transaction, and PostgreSQL's one-statement path runs as well as its general one), supplied
//! ids with retries and duplicates, expected-version conflicts, import batches (new streams,
//! positions below a stream's first, global positions below the head, refused batches),
//! deletions and truncations (checklist 143), and clears. After every step the three answers are compared with a scan of
//! `read_category("")`.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use messagedb_core::{
    CategorySummary, DeleteKind, DeleteRequest, ImportError, ImportRecord, Message, MessageId,
    NamespaceId, NewMessage, Store, StoreError, Timestamp, WriteOutcome,
};

use crate::support::{message, namespace, read_category, stream, whole_category};

/// Operations per run. Clears keep the namespace small, so each step's scan stays cheap.
const STEPS: usize = 400;

/// Streams the operations pick from: four categories, a stream named like its category, and
/// compound ids.
const STREAMS: &[&str] = &[
    "account-1",
    "account-2",
    "account-3",
    "account-4+a",
    "order-1",
    "order-2",
    "order-3",
    "solo",
    "x-1",
    "x-2+b",
    "x-2+c",
    "account",
];

/// SplitMix64: small, fast, and the same sequence everywhere for a seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0; the bias is irrelevant here).
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// True with probability `percent` / 100.
    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// What a full scan of the namespace says.
struct Scan {
    messages: Vec<Message>,
}

impl Scan {
    async fn of(store: &dyn Store, ns: &NamespaceId) -> Scan {
        Scan {
            messages: read_category(store, ns, whole_category("")).await,
        }
    }

    /// Each stream's version (highest position).
    fn versions(&self) -> HashMap<&str, i64> {
        let mut versions = HashMap::new();
        for m in &self.messages {
            let v = versions.entry(m.stream_name.as_str()).or_insert(m.position);
            *v = (*v).max(m.position);
        }
        versions
    }

    fn global_positions(&self) -> BTreeSet<i64> {
        self.messages.iter().map(|m| m.global_position).collect()
    }

    fn head(&self) -> i64 {
        self.messages.last().map_or(0, |m| m.global_position)
    }

    fn categories(&self) -> Vec<CategorySummary> {
        let mut streams: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
        let mut messages: BTreeMap<&str, u64> = BTreeMap::new();
        for m in &self.messages {
            let category = messagedb_core::category(&m.stream_name);
            streams.entry(category).or_default().insert(&m.stream_name);
            *messages.entry(category).or_default() += 1;
        }
        streams
            .into_iter()
            .map(|(category, names)| CategorySummary {
                category: category.to_owned(),
                message_count: messages[category],
                stream_count: names.len() as u64,
            })
            .collect()
    }

    /// Panics unless the store's counts equal the scan's.
    async fn check(&self, store: &dyn Store, ns: &NamespaceId, context: &str) {
        let info = store.namespace_info(ns).await.unwrap();
        let streams: BTreeSet<&str> = self
            .messages
            .iter()
            .map(|m| m.stream_name.as_str())
            .collect();
        // The scan is in global-position order, so the last message is the head's.
        let last = self.messages.last().map(|m| m.time);
        assert_eq!(
            (info.message_count, info.stream_count, info.last_activity),
            (self.messages.len() as u64, streams.len() as u64, last),
            "ns.info (messages, streams, last activity) after {context}"
        );
        let categories = store.list_categories(ns).await.unwrap();
        assert_eq!(
            categories,
            self.categories(),
            "ns.categories after {context}"
        );
        let listed = store.list_namespaces().await.unwrap();
        let listed = listed.iter().find(|n| &n.id == ns).expect("listed");
        assert_eq!(
            listed.message_count,
            self.messages.len() as u64,
            "ns.list messageCount after {context}"
        );
    }
}

/// A random write: any stream; sometimes a supplied id (fresh, a stored one in its own stream
/// and type: a retry, or a stored one elsewhere: a duplicate); sometimes an expected version
/// (right or wrong).
fn random_write(rng: &mut Rng, scan: &Scan) -> NewMessage {
    let name = *rng.pick(STREAMS);
    let mut write = message(name);
    if rng.chance(10) {
        write.message_type = "Other".to_owned();
    }
    if rng.chance(30) {
        let stored = (!scan.messages.is_empty()).then(|| rng.pick(&scan.messages));
        write.id = Some(match (stored, rng.below(3)) {
            (Some(m), 0) => {
                write.stream_name = stream(&m.stream_name);
                write.message_type = m.message_type.clone();
                m.id
            }
            (Some(m), 1) => m.id,
            _ => MessageId::new_v7(),
        });
    }
    if rng.chance(25) {
        let version = scan
            .versions()
            .get(write.stream_name.as_str())
            .copied()
            .unwrap_or(-1);
        write.expected_version = Some(if rng.chance(60) {
            version
        } else {
            version + 1 - rng.below(3) as i64
        });
    }
    write
}

/// A random import batch of 1–6 records: global positions above the head or in unused places
/// below it, stream positions after a stream's version or free ones below; with a small chance a
/// record collides with a stored one, which refuses the batch.
fn random_import(rng: &mut Rng, scan: &Scan, step: usize) -> Vec<ImportRecord> {
    let mut taken_gpos = scan.global_positions();
    let mut taken_pairs: BTreeSet<(String, i64)> = scan
        .messages
        .iter()
        .map(|m| (m.stream_name.clone(), m.position))
        .collect();
    let versions = scan.versions();
    let head = scan.head();
    let mut records = Vec::new();
    for _ in 0..1 + rng.below(6) {
        let name = *rng.pick(STREAMS);
        let collide = rng.chance(4) && !scan.messages.is_empty();
        let global_position = if collide {
            rng.pick(&scan.messages).global_position
        } else {
            // Each failed attempt widens the range, so a free place is always found.
            (0..)
                .map(|attempt| {
                    if rng.chance(70) {
                        head + 1 + rng.below(4 + attempt) as i64
                    } else {
                        1 + rng.below(head as usize + 3 + attempt) as i64
                    }
                })
                .find(|&candidate| taken_gpos.insert(candidate))
                .expect("an unbounded search")
        };
        let version = versions.get(name).copied();
        let position = (0..)
            .map(|attempt| match version {
                Some(v) if rng.chance(70) => v + 1 + rng.below(3 + attempt) as i64,
                Some(v) => rng.below(v as usize + 1 + attempt) as i64,
                None => rng.below(4 + attempt) as i64,
            })
            .find(|&candidate| taken_pairs.insert((name.to_owned(), candidate)))
            .expect("an unbounded search");
        records.push(ImportRecord {
            id: MessageId::new_v7(),
            stream_name: stream(name),
            message_type: "Imported".to_owned(),
            position,
            global_position,
            data: format!(r#"{{"step":{step}}}"#),
            metadata: None,
            time: Timestamp::from_micros(1_736_935_200_000_000 + global_position * 1000),
        });
    }
    records
}

/// Checklist 143: after every step of a random sequence of writes, bursts, imports and clears,
/// `ns.info`, `ns.list` and `ns.categories` equal a full scan.
pub async fn counts_equal_a_full_scan(store: Arc<dyn Store>) {
    let store = &*store;
    let ns = namespace(store, "counted").await;
    // A neighbour whose messages must never be counted in `ns`.
    let other = namespace(store, "neighbour").await;
    crate::support::append_to(store, &other, "account-1").await;
    let mut rng = Rng(0x5eed_0143);
    let mut scan = Scan::of(store, &ns).await;
    scan.check(store, &ns, "nothing").await;
    for step in 0..STEPS {
        let roll = rng.below(100);
        let context = if roll < 45 {
            let write = random_write(&mut rng, &scan);
            let context = format!("step {step}: write {write:?}");
            check_write(store.write(&ns, write).await, &context);
            context
        } else if roll < 75 {
            let writes: Vec<NewMessage> = (0..2 + rng.below(7))
                .map(|_| random_write(&mut rng, &scan))
                .collect();
            let context = format!("step {step}: burst of {} writes {writes:?}", writes.len());
            let outcomes =
                futures::future::join_all(writes.into_iter().map(|w| store.write(&ns, w))).await;
            for outcome in outcomes {
                check_write(outcome, &context);
            }
            context
        } else if roll < 85 {
            // Deletions and truncations (SPEC §18): counts drop, a stream emptied stops
            // counting until it is written again.
            let name = *rng.pick(STREAMS);
            let kind = if rng.chance(50) {
                DeleteKind::Delete {
                    expected_version: None,
                }
            } else {
                DeleteKind::Truncate {
                    before: rng.below(6) as i64,
                }
            };
            let request = DeleteRequest {
                stream: stream(name),
                kind,
            };
            let context = format!("step {step}: {request:?}");
            store
                .delete_messages(&ns, &request)
                .await
                .unwrap_or_else(|e| panic!("{context}: {e:?}"));
            context
        } else if roll < 97 {
            let records = random_import(&mut rng, &scan, step);
            let context = format!("step {step}: import {records:?}");
            match store.import_batch(&ns, records).await {
                Ok(()) | Err(ImportError::PositionExists { .. }) => {}
                Err(e) => panic!("{context}: {e:?}"),
            }
            context
        } else {
            store.clear_namespace(&ns).await.unwrap();
            format!("step {step}: clear")
        };
        scan = Scan::of(store, &ns).await;
        scan.check(store, &ns, &context).await;
    }
    let neighbour = store.namespace_info(&other).await.unwrap();
    assert_eq!((neighbour.message_count, neighbour.stream_count), (1, 1));
}

/// A write's outcome is an append, a retry, or a refusal the write rule makes; never a backend
/// failure.
fn check_write(outcome: Result<WriteOutcome, StoreError>, context: &str) {
    match outcome {
        Ok(_)
        | Err(StoreError::VersionConflict { .. })
        | Err(StoreError::DuplicateMessageId { .. }) => {}
        Err(e) => panic!("{context}: {e:?}"),
    }
}
