//! The write rule (SPEC §6.3, §10.2 I3–I6), once, for every backend.
//!
//! A backend's writer takes a group of queued writes ([`gather`]), reads what the group needs
//! under its namespace's write lock ([`Lookups`]: the stored messages of the supplied ids and
//! the version of every stream), and then calls [`decide`]. `decide` is pure: it gives each
//! request, in arrival order, its outcome (idempotent retry, duplicate id, version conflict, or
//! an append at the next global position) seeing the effects of the requests before it, and
//! lists the rows to insert. The backend inserts exactly those rows in one transaction and
//! answers every request only after the commit. So the decision cannot differ between backends,
//! and it is tested here without any storage (unit and property tests against a model).
//!
//! A backend may compute the outcome of a batch of [plain appends](is_plain_append) in storage
//! (PostgreSQL does it in one statement): for such a batch the rule reduces to the closed form
//! that [`decide`]'s tests check — every request appended, global positions consecutive from
//! the next one, each stream's positions consecutive after its version, in arrival order.

use std::borrow::Cow;
use std::collections::HashMap;

use crate::group::hash_64;
use crate::message::{MessageId, NewMessage, Positions, WriteOutcome};
use crate::store::StoreError;
use crate::stream::cardinal_id;

/// The most requests one transaction takes: large enough to amortise the commit's sync, small
/// enough that the first request of a group is not kept waiting behind thousands of others.
pub const MAX_BATCH: usize = 256;

/// Requests a namespace's writer queue holds; beyond this, callers wait (asynchronously) to
/// enqueue, so a burst is bounded in memory.
pub const QUEUE_CAPACITY: usize = 4096;

/// A write as a namespace's writer receives it: validated, with its id and correlation category
/// worked out by the caller's task, so the writer does as little as possible.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteRequest {
    pub message: NewMessage,
    /// `message.id`, or a fresh UUIDv7 when it was `None`.
    pub id: MessageId,
    /// The category of `metadata.correlationStreamName` (§7.2).
    pub correlation: Option<String>,
}

impl WriteRequest {
    pub fn new(message: NewMessage) -> WriteRequest {
        WriteRequest {
            id: message.id.unwrap_or_else(MessageId::new_v7),
            correlation: message.correlation_category(),
            message,
        }
    }

    /// Whether the caller supplied the id. Only supplied ids are looked up: a generated UUIDv7
    /// cannot collide in practice, and if it ever did the unique index would turn the insert
    /// into a backend error rather than a silent duplicate.
    pub fn has_supplied_id(&self) -> bool {
        self.message.id.is_some()
    }

    /// `hash_64` of the stream's cardinal id (§7.1); `None` when the cardinal id is empty (no
    /// consumer-group member gets such a stream).
    pub fn cardinal_hash(&self) -> Option<i64> {
        let cid = cardinal_id(self.message.stream_name.as_str());
        (!cid.is_empty()).then(|| hash_64(cid))
    }
}

/// Whether `request` has nothing to check: no supplied id, no expected version. A group made of
/// such requests only is appended whole, in order (see the module documentation).
pub fn is_plain_append(request: &WriteRequest) -> bool {
    !request.has_supplied_id() && request.message.expected_version.is_none()
}

/// A message already stored under an id that the group supplies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredId<'a> {
    pub stream: Cow<'a, str>,
    pub message_type: Cow<'a, str>,
    pub positions: Positions,
}

/// What a group needs read from storage, under the namespace's write lock, before [`decide`].
#[derive(Debug, Default)]
pub struct Lookups<'a> {
    /// The supplied ids, in arrival order (repeats included; a lookup may dedup).
    pub ids: Vec<MessageId>,
    /// Every stream the group writes, once each, in first-arrival order.
    pub streams: Vec<&'a str>,
}

impl<'a> Lookups<'a> {
    pub fn of(group: impl IntoIterator<Item = &'a WriteRequest>) -> Lookups<'a> {
        let mut lookups = Lookups::default();
        for request in group {
            if request.has_supplied_id() {
                lookups.ids.push(request.id);
            }
            let stream = request.message.stream_name.as_str();
            // Groups are small (at most MAX_BATCH) and usually touch a few streams: a linear
            // scan beats hashing here and allocates nothing more.
            if !lookups.streams.contains(&stream) {
                lookups.streams.push(stream);
            }
        }
        lookups
    }
}

/// The state of the namespace that a group is decided against, as read under the write lock.
#[derive(Debug, Default)]
pub struct Known<'a> {
    /// The stored message of each supplied id that exists (ids not found are absent).
    pub ids: HashMap<MessageId, StoredId<'a>>,
    /// The version (highest position) of each stream of [`Lookups::streams`] that has
    /// messages; a stream absent here is empty (version -1).
    pub versions: HashMap<&'a str, i64>,
    /// The global position the next append takes.
    pub next_global_position: i64,
}

/// One row to insert: the request and where it lands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Append<'a> {
    /// The index of the request in the group.
    pub index: usize,
    pub request: &'a WriteRequest,
    pub positions: Positions,
}

/// The outcome of a group.
#[derive(Debug)]
pub struct Decision<'a> {
    /// One outcome per request, in group order.
    pub outcomes: Vec<Result<WriteOutcome, StoreError>>,
    /// The rows to insert, in ascending global position (= group order).
    pub appends: Vec<Append<'a>>,
    /// The next global position after the group's appends.
    pub next_global_position: i64,
}

impl<'a> Decision<'a> {
    /// What the appends add to the counters of each category they touch (SPEC §16.3), in the
    /// order the categories first appear. A stream counts as new at its append at position 0:
    /// [`decide`] appends at version + 1 and a stream without messages has version -1, so that
    /// is its first message. Groups are small (at most [`MAX_BATCH`]) and touch few
    /// categories, so a linear scan does.
    pub fn category_growth(&self) -> Vec<CategoryGrowth<'a>> {
        let mut growth: Vec<CategoryGrowth<'a>> = Vec::new();
        for append in &self.appends {
            let category = append.request.message.stream_name.category();
            let streams = i64::from(append.positions.position == 0);
            match growth.iter_mut().find(|g| g.category == category) {
                Some(g) => {
                    g.messages += 1;
                    g.streams += streams;
                }
                None => growth.push(CategoryGrowth {
                    category,
                    messages: 1,
                    streams,
                }),
            }
        }
        growth
    }
}

/// What one group adds to one category's counters: messages, and streams that got their first
/// message. The namespace's totals grow by the sums.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CategoryGrowth<'a> {
    pub category: &'a str,
    pub messages: i64,
    pub streams: i64,
}

/// Decides a group of writes: for each request in order, idempotency, then the version check,
/// then the append (SPEC §6.3), each request seeing the appends of the ones before it.
pub fn decide<'a>(
    group: impl IntoIterator<Item = &'a WriteRequest>,
    mut known: Known<'a>,
) -> Decision<'a> {
    let group = group.into_iter();
    let mut outcomes = Vec::with_capacity(group.size_hint().0);
    let mut appends = Vec::with_capacity(group.size_hint().0);
    for (index, request) in group.enumerate() {
        let outcome = decide_one(request, &mut known);
        if let Ok(WriteOutcome::Appended(positions)) = outcome {
            appends.push(Append {
                index,
                request,
                positions,
            });
        }
        outcomes.push(outcome);
    }
    Decision {
        outcomes,
        appends,
        next_global_position: known.next_global_position,
    }
}

fn decide_one<'a>(
    request: &'a WriteRequest,
    known: &mut Known<'a>,
) -> Result<WriteOutcome, StoreError> {
    let message = &request.message;
    let stream = message.stream_name.as_str();
    if request.has_supplied_id() {
        if let Some(stored) = known.ids.get(&request.id) {
            if stored.stream == stream && stored.message_type == message.message_type.as_str() {
                return Ok(WriteOutcome::AlreadyWritten(stored.positions));
            }
            return Err(StoreError::DuplicateMessageId {
                id: request.id,
                stream: stored.stream.clone().into_owned(),
            });
        }
    }
    let version = known.versions.get(stream).copied().unwrap_or(-1);
    if let Some(expected) = message.expected_version {
        if expected != version {
            return Err(StoreError::VersionConflict {
                stream: message.stream_name.clone(),
                expected,
                actual: version,
            });
        }
    }
    let positions = Positions {
        position: version + 1,
        global_position: known.next_global_position,
    };
    known.next_global_position += 1;
    known.versions.insert(stream, positions.position);
    if request.has_supplied_id() {
        known.ids.insert(
            request.id,
            StoredId {
                stream: Cow::Borrowed(stream),
                message_type: Cow::Borrowed(&message.message_type),
                positions,
            },
        );
    }
    Ok(WriteOutcome::Appended(positions))
}

/// Group commit: moves queued writes into `group` (which holds the first one already) while the
/// queue has some ready and the group is below [`MAX_BATCH`]. `try_next` returns the next queued
/// item without waiting; an item that is not a write ends the group and is returned, to run
/// after the group commits, so everything keeps arrival order.
pub fn gather<W, C>(
    group: &mut Vec<W>,
    mut try_next: impl FnMut() -> Option<Queued<W, C>>,
) -> Option<C> {
    while group.len() < MAX_BATCH {
        match try_next()? {
            Queued::Write(write) => group.push(write),
            Queued::Other(other) => return Some(other),
        }
    }
    None
}

/// An item of a writer's queue, as [`gather`] sees it.
pub enum Queued<W, C> {
    Write(W),
    /// Anything else (an import, a clear, a stop): it ends the group.
    Other(C),
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::stream::StreamName;

    /// Each category grows by its appends and by the streams whose first message the group
    /// holds, however many of the group's appends those streams get; refusals add nothing.
    #[test]
    fn category_growth_counts_messages_and_new_streams() {
        let group = [
            request("a-1", None, None),
            request("a-1", None, None),
            request("b-1", None, None),
            request("a-2", None, Some(4)),
            request("a-3", None, None),
            request("b", None, None),
        ];
        let mut known = Known {
            next_global_position: 10,
            ..Known::default()
        };
        known.versions.insert("a-2", 4);
        known.versions.insert("a-3", 0);
        let decision = decide(&group, known);
        assert_eq!(
            decision.category_growth(),
            [
                CategoryGrowth {
                    category: "a",
                    messages: 4,
                    streams: 1
                },
                CategoryGrowth {
                    category: "b",
                    messages: 2,
                    streams: 2
                },
            ]
        );
        let conflicting = [request("c-1", None, Some(3))];
        let refused = decide(&conflicting, Known::default());
        assert!(refused.category_growth().is_empty());
    }

    fn request(stream: &str, id: Option<MessageId>, expected: Option<i64>) -> WriteRequest {
        request_typed(stream, "Tested", id, expected)
    }

    fn request_typed(
        stream: &str,
        message_type: &str,
        id: Option<MessageId>,
        expected: Option<i64>,
    ) -> WriteRequest {
        WriteRequest::new(NewMessage {
            id,
            stream_name: StreamName::parse(stream).unwrap(),
            message_type: message_type.to_owned(),
            data: "{}".to_owned(),
            metadata: None,
            expected_version: expected,
        })
    }

    fn at(position: i64, global_position: i64) -> Positions {
        Positions {
            position,
            global_position,
        }
    }

    /// The example of the SQLite writer's batch test, decided without storage: each request sees
    /// the ones before it.
    #[test]
    fn a_mixed_group_in_arrival_order() {
        let (x, y) = (MessageId::new_v7(), MessageId::new_v7());
        let group = [
            request("new-1", None, Some(-1)),
            request("new-1", None, Some(-1)),
            request("new-1", Some(y), None),
            request("new-1", Some(y), Some(-1)),
            request("other-1", Some(y), None),
            request("other-1", Some(x), None),
            request("existing-1", Some(x), Some(7)),
            request("new-1", None, Some(1)),
        ];
        let lookups = Lookups::of(&group);
        assert_eq!(lookups.ids, vec![y, y, y, x, x]);
        assert_eq!(lookups.streams, vec!["new-1", "other-1", "existing-1"]);
        let mut known = Known {
            next_global_position: 2,
            ..Known::default()
        };
        known.ids.insert(
            x,
            StoredId {
                stream: "existing-1".into(),
                message_type: "Tested".into(),
                positions: at(0, 1),
            },
        );
        known.versions.insert("existing-1", 0);
        let decision = decide(&group, known);
        let o = &decision.outcomes;
        assert_eq!(o[0].as_ref().unwrap(), &WriteOutcome::Appended(at(0, 2)));
        assert!(
            matches!(
                &o[1],
                Err(StoreError::VersionConflict {
                    expected: -1,
                    actual: 0,
                    ..
                })
            ),
            "{:?}",
            o[1]
        );
        assert_eq!(o[2].as_ref().unwrap(), &WriteOutcome::Appended(at(1, 3)));
        assert_eq!(
            o[3].as_ref().unwrap(),
            &WriteOutcome::AlreadyWritten(at(1, 3))
        );
        assert!(
            matches!(&o[4], Err(StoreError::DuplicateMessageId { id, stream }) if *id == y && stream == "new-1"),
            "{:?}",
            o[4]
        );
        assert!(
            matches!(&o[5], Err(StoreError::DuplicateMessageId { id, stream }) if *id == x && stream == "existing-1"),
            "{:?}",
            o[5]
        );
        assert_eq!(
            o[6].as_ref().unwrap(),
            &WriteOutcome::AlreadyWritten(at(0, 1)),
            "idempotency comes before the version check"
        );
        assert_eq!(o[7].as_ref().unwrap(), &WriteOutcome::Appended(at(2, 4)));
        let appended: Vec<(usize, Positions)> = decision
            .appends
            .iter()
            .map(|a| (a.index, a.positions))
            .collect();
        assert_eq!(appended, vec![(0, at(0, 2)), (2, at(1, 3)), (7, at(2, 4))]);
        assert_eq!(decision.next_global_position, 5);
    }

    #[test]
    fn same_id_with_another_type_is_a_duplicate() {
        let x = MessageId::new_v7();
        let group = [
            request_typed("s-1", "A", Some(x), None),
            request_typed("s-1", "B", Some(x), None),
        ];
        let decision = decide(
            &group,
            Known {
                next_global_position: 1,
                ..Known::default()
            },
        );
        assert_eq!(
            decision.outcomes[0].as_ref().unwrap(),
            &WriteOutcome::Appended(at(0, 1))
        );
        assert!(matches!(
            &decision.outcomes[1],
            Err(StoreError::DuplicateMessageId { stream, .. }) if stream == "s-1"
        ));
        assert_eq!(decision.appends.len(), 1);
    }

    #[test]
    fn gather_stops_at_the_limit_and_at_other_items() {
        let mut queue: std::collections::VecDeque<Queued<u32, &str>> =
            (1..=3).map(Queued::Write).collect();
        queue.push_back(Queued::Other("stop"));
        queue.push_back(Queued::Write(9));
        let mut group = vec![0];
        let other = gather(&mut group, || queue.pop_front());
        assert_eq!(group, vec![0, 1, 2, 3]);
        assert_eq!(other, Some("stop"));
        assert_eq!(
            queue.len(),
            1,
            "the write after the stop waits for the next group"
        );

        let mut queue: std::collections::VecDeque<Queued<usize, ()>> =
            (1..MAX_BATCH + 5).map(Queued::Write).collect();
        let mut group = vec![0];
        assert!(gather(&mut group, || queue.pop_front()).is_none());
        assert_eq!(group.len(), MAX_BATCH);
        assert_eq!(queue.len(), 5);
    }

    // ---- the model ----

    /// A stored message of the model: a plain list, searched the obvious way.
    #[derive(Debug, Clone)]
    struct Row {
        id: MessageId,
        stream: String,
        message_type: String,
        positions: Positions,
    }

    /// The rule of §6.3 stated as directly as possible: one request at a time against a list.
    fn model_write(rows: &mut Vec<Row>, next: &mut i64, request: &WriteRequest) -> Outcome {
        let stream = request.message.stream_name.as_str();
        if request.has_supplied_id() {
            if let Some(row) = rows.iter().find(|r| r.id == request.id) {
                return if row.stream == stream && row.message_type == request.message.message_type {
                    Outcome::AlreadyWritten(row.positions)
                } else {
                    Outcome::Duplicate(row.stream.clone())
                };
            }
        }
        let version = rows
            .iter()
            .filter(|r| r.stream == stream)
            .map(|r| r.positions.position)
            .max()
            .unwrap_or(-1);
        if let Some(expected) = request.message.expected_version {
            if expected != version {
                return Outcome::Conflict(expected, version);
            }
        }
        let positions = at(version + 1, *next);
        *next += 1;
        rows.push(Row {
            id: request.id,
            stream: stream.to_owned(),
            message_type: request.message.message_type.clone(),
            positions,
        });
        Outcome::Appended(positions)
    }

    /// Outcomes in a comparable form (`StoreError` is not `PartialEq`).
    #[derive(Debug, Clone, PartialEq, Eq)]
    enum Outcome {
        Appended(Positions),
        AlreadyWritten(Positions),
        Duplicate(String),
        Conflict(i64, i64),
    }

    fn comparable(outcome: &Result<WriteOutcome, StoreError>) -> Outcome {
        match outcome {
            Ok(WriteOutcome::Appended(p)) => Outcome::Appended(*p),
            Ok(WriteOutcome::AlreadyWritten(p)) => Outcome::AlreadyWritten(*p),
            Err(StoreError::DuplicateMessageId { stream, .. }) => {
                Outcome::Duplicate(stream.clone())
            }
            Err(StoreError::VersionConflict {
                expected, actual, ..
            }) => Outcome::Conflict(*expected, *actual),
            Err(other) => panic!("decide never fails with {other:?}"),
        }
    }

    /// What a backend reads for `lookups` from the model's rows.
    fn read_known<'a>(rows: &[Row], lookups: &Lookups<'a>, next: i64) -> Known<'a> {
        let mut known = Known {
            next_global_position: next,
            ..Known::default()
        };
        for id in &lookups.ids {
            if let Some(row) = rows.iter().find(|r| r.id == *id) {
                known.ids.insert(
                    *id,
                    StoredId {
                        stream: row.stream.clone().into(),
                        message_type: row.message_type.clone().into(),
                        positions: row.positions,
                    },
                );
            }
        }
        for stream in &lookups.streams {
            let version = rows
                .iter()
                .filter(|r| r.stream == *stream)
                .map(|r| r.positions.position)
                .max();
            if let Some(version) = version {
                known.versions.insert(stream, version);
            }
        }
        known
    }

    /// A request drawn from small pools, so ids, streams and versions collide often.
    fn arb_request(ids: Vec<MessageId>) -> impl Strategy<Value = WriteRequest> {
        (
            0..4usize,
            prop::option::of(0..ids.len()),
            0..2usize,
            prop::option::of(-1i64..4),
        )
            .prop_map(move |(stream, id, ty, expected)| {
                request_typed(
                    ["a-1", "a-2", "b-1", "b"][stream],
                    ["A", "B"][ty],
                    id.map(|i| ids[i]),
                    expected,
                )
            })
    }

    fn arb_groups() -> impl Strategy<Value = Vec<Vec<WriteRequest>>> {
        let ids: Vec<MessageId> = (0..6).map(|_| MessageId::new_v7()).collect();
        prop::collection::vec(prop::collection::vec(arb_request(ids), 1..12), 1..6)
    }

    proptest! {
        /// Group after group, `decide` against what a backend would read gives the same
        /// outcomes as the one-at-a-time model, and its appends are exactly the model's new rows.
        #[test]
        fn decide_agrees_with_the_model(groups in arb_groups()) {
            let mut rows: Vec<Row> = Vec::new();
            let mut next = 1;
            for group in &groups {
                let known = read_known(&rows, &Lookups::of(group), next);
                let decision = decide(group, known);
                let before = rows.len();
                let expected: Vec<Outcome> = group
                    .iter()
                    .map(|request| model_write(&mut rows, &mut next, request))
                    .collect();
                let actual: Vec<Outcome> = decision.outcomes.iter().map(comparable).collect();
                prop_assert_eq!(actual, expected);
                let appended: Vec<(MessageId, Positions)> = decision
                    .appends
                    .iter()
                    .map(|a| (a.request.id, a.positions))
                    .collect();
                let model_rows: Vec<(MessageId, Positions)> =
                    rows[before..].iter().map(|r| (r.id, r.positions)).collect();
                prop_assert_eq!(appended, model_rows);
                prop_assert_eq!(decision.next_global_position, next);
            }
        }

        /// The closed form a backend may compute in storage for a group of plain appends:
        /// everything appended, consecutive global positions, each stream consecutive after
        /// its version.
        #[test]
        fn plain_appends_have_a_closed_form(
            streams in prop::collection::vec(0..4usize, 1..20),
            versions in prop::collection::vec(-1i64..5, 4),
            next in 1i64..1000,
        ) {
            let names = ["a-1", "a-2", "b-1", "b"];
            let group: Vec<WriteRequest> =
                streams.iter().map(|s| request(names[*s], None, None)).collect();
            prop_assert!(group.iter().all(is_plain_append));
            let mut known = Known { next_global_position: next, ..Known::default() };
            for (name, version) in names.iter().zip(&versions) {
                if *version >= 0 {
                    known.versions.insert(name, *version);
                }
            }
            let decision = decide(&group, known);
            for (i, (outcome, stream)) in decision.outcomes.iter().zip(&streams).enumerate() {
                let earlier = streams[..i].iter().filter(|s| *s == stream).count() as i64;
                let expected = at(versions[*stream].max(-1) + 1 + earlier, next + i as i64);
                prop_assert_eq!(comparable(outcome), Outcome::Appended(expected));
            }
            prop_assert_eq!(decision.appends.len(), group.len());
        }
    }
}
