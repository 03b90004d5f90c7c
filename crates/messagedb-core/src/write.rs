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
use std::collections::{HashMap, HashSet};

use crate::batch::{AppendCondition, BatchOutcome, BatchRequest, ConditionMatch};
use crate::group::hash_64;
use crate::message::{MessageId, NewMessage, Positions, WriteOutcome};
use crate::store::StoreError;
use crate::stream::{cardinal_id, StreamName};

/// The most messages one transaction takes (plus at most one batch): large enough to amortise
/// the commit's sync, small enough that the first request of a group is not kept waiting behind
/// thousands of others.
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

/// One atomic unit of a group: a `stream.write`, or a `stream.writeBatch` (SPEC §17).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit<'a> {
    Write(&'a WriteRequest),
    Batch(&'a BatchRequest),
}

impl<'a> From<&'a WriteRequest> for Unit<'a> {
    fn from(request: &'a WriteRequest) -> Unit<'a> {
        Unit::Write(request)
    }
}

impl<'a> From<&'a BatchRequest> for Unit<'a> {
    fn from(batch: &'a BatchRequest) -> Unit<'a> {
        Unit::Batch(batch)
    }
}

impl<'a> Unit<'a> {
    /// The messages the unit would append, in order.
    pub fn entries(self) -> &'a [WriteRequest] {
        match self {
            Unit::Write(request) => std::slice::from_ref(request),
            Unit::Batch(batch) => &batch.entries,
        }
    }

    /// Whether the unit is a plain append: one message, no supplied id, no expected version.
    pub fn is_plain_append(self) -> bool {
        matches!(self, Unit::Write(request) if is_plain_append(request))
    }
}

/// What a group needs read from storage, under the namespace's write lock, before [`decide`].
#[derive(Debug, Default)]
pub struct Lookups<'a> {
    /// The supplied ids, in arrival order (repeats included; a lookup may dedup).
    pub ids: Vec<MessageId>,
    /// Every stream the group writes or checks, once each, in first-arrival order.
    pub streams: Vec<&'a str>,
    /// The append conditions, with the index of their unit in the group: for each, the lowest
    /// stored message after `after` that matches (see [`Known::condition_matches`]).
    pub conditions: Vec<(usize, &'a AppendCondition)>,
}

impl<'a> Lookups<'a> {
    pub fn of<U: Into<Unit<'a>>>(group: impl IntoIterator<Item = U>) -> Lookups<'a> {
        let mut lookups = Lookups::default();
        for (index, unit) in group.into_iter().enumerate() {
            let unit = unit.into();
            for request in unit.entries() {
                if request.has_supplied_id() {
                    lookups.ids.push(request.id);
                }
                lookups.add_stream(request.message.stream_name.as_str());
            }
            if let Unit::Batch(batch) = unit {
                for (stream, _) in &batch.expected_versions {
                    lookups.add_stream(stream.as_str());
                }
                if let Some(condition) = &batch.condition {
                    lookups.conditions.push((index, condition));
                }
            }
        }
        lookups
    }

    fn add_stream(&mut self, stream: &'a str) {
        // Groups are small (at most MAX_BATCH units) and usually touch a few streams: a linear
        // scan beats hashing here and allocates nothing more.
        if !self.streams.contains(&stream) {
            self.streams.push(stream);
        }
    }
}

/// The state of the namespace that a group is decided against, as read under the write lock.
#[derive(Debug, Default)]
pub struct Known<'a> {
    /// The stored message of each supplied id that exists (ids not found are absent).
    pub ids: HashMap<MessageId, StoredId<'a>>,
    /// The version of each stream of [`Lookups::streams`] that was ever written: its highest
    /// position, or, for a stream whose messages were all deleted, the highest it had (SPEC
    /// §18: versions never go back). A stream absent here was never written (version -1).
    pub versions: HashMap<&'a str, i64>,
    /// The streams of `versions` that have no message now (all deleted): their next message is
    /// their first again for the counters (§16.3), though not at position 0.
    pub emptied: HashSet<&'a str>,
    /// For each condition of [`Lookups::conditions`] (by unit index), the lowest stored message
    /// with a global position above `after` that matches its query; absent when none does.
    pub condition_matches: HashMap<usize, ConditionMatch>,
    /// The global position the next append takes.
    pub next_global_position: i64,
}

/// One row to insert: the request and where it lands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Append<'a> {
    /// The index of the unit in the group.
    pub index: usize,
    pub request: &'a WriteRequest,
    pub positions: Positions,
    /// The stream had no message before this one (never written, or emptied by deletion).
    pub first_message: bool,
}

/// What a unit of a group did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UnitOutcome {
    Write(WriteOutcome),
    Batch(BatchOutcome),
}

impl UnitOutcome {
    /// The outcome of a [`Unit::Write`].
    pub fn into_write(self) -> WriteOutcome {
        match self {
            UnitOutcome::Write(outcome) => outcome,
            UnitOutcome::Batch(batch) => WriteOutcome::AlreadyWritten(batch.positions[0]),
        }
    }

    /// The outcome of a [`Unit::Batch`].
    pub fn into_batch(self) -> BatchOutcome {
        match self {
            UnitOutcome::Batch(batch) => batch,
            UnitOutcome::Write(outcome) => BatchOutcome {
                positions: vec![outcome.positions()],
                appended: matches!(outcome, WriteOutcome::Appended(_)),
            },
        }
    }
}

impl PartialEq<WriteOutcome> for UnitOutcome {
    fn eq(&self, other: &WriteOutcome) -> bool {
        matches!(self, UnitOutcome::Write(outcome) if outcome == other)
    }
}

/// The outcome of a group.
#[derive(Debug)]
pub struct Decision<'a> {
    /// One outcome per unit, in group order.
    pub outcomes: Vec<Result<UnitOutcome, StoreError>>,
    /// The rows to insert, in ascending global position (= group order).
    pub appends: Vec<Append<'a>>,
    /// The next global position after the group's appends.
    pub next_global_position: i64,
}

impl<'a> Decision<'a> {
    /// What the appends add to the counters of each category they touch (SPEC §16.3), in the
    /// order the categories first appear. A stream counts as new at its first message
    /// ([`Append::first_message`]): position 0, or the first after a deletion emptied it.
    /// Groups are small (at most [`MAX_BATCH`]) and touch few categories, so a linear scan
    /// does.
    pub fn category_growth(&self) -> Vec<CategoryGrowth<'a>> {
        let mut growth: Vec<CategoryGrowth<'a>> = Vec::new();
        for append in &self.appends {
            let category = append.request.message.stream_name.category();
            let streams = i64::from(append.first_message);
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

/// Decides a group: for each unit in order, idempotency, then the version checks, then (for a
/// batch) the append condition, then the append (SPEC §6.3, §17.2), each unit seeing the appends
/// of the ones before it. A refused unit changes nothing.
pub fn decide<'a, U: Into<Unit<'a>>>(
    group: impl IntoIterator<Item = U>,
    mut known: Known<'a>,
) -> Decision<'a> {
    let group = group.into_iter();
    let mut outcomes = Vec::with_capacity(group.size_hint().0);
    let mut appends = Vec::with_capacity(group.size_hint().0);
    for (index, unit) in group.enumerate() {
        let outcome = match unit.into() {
            Unit::Write(request) => {
                decide_write(request, index, &mut known, &mut appends).map(UnitOutcome::Write)
            }
            Unit::Batch(batch) => {
                decide_batch(batch, index, &mut known, &mut appends).map(UnitOutcome::Batch)
            }
        };
        outcomes.push(outcome);
    }
    Decision {
        outcomes,
        appends,
        next_global_position: known.next_global_position,
    }
}

fn decide_write<'a>(
    request: &'a WriteRequest,
    index: usize,
    known: &mut Known<'a>,
    appends: &mut Vec<Append<'a>>,
) -> Result<WriteOutcome, StoreError> {
    let message = &request.message;
    let stream = message.stream_name.as_str();
    if request.has_supplied_id() {
        if let Some(stored) = known.ids.get(&request.id) {
            if stored.stream == stream && stored.message_type == message.message_type.as_str() {
                return Ok(WriteOutcome::AlreadyWritten(stored.positions));
            }
            return Err(duplicate(request, stored));
        }
    }
    if let Some(expected) = message.expected_version {
        check_version(known, &message.stream_name, expected)?;
    }
    Ok(WriteOutcome::Appended(append(
        request, index, known, appends,
    )))
}

fn decide_batch<'a>(
    batch: &'a BatchRequest,
    index: usize,
    known: &mut Known<'a>,
    appends: &mut Vec<Append<'a>>,
) -> Result<BatchOutcome, StoreError> {
    // 1. Idempotent retry: every entry's id stored with the same stream and type, in the same
    //    order; otherwise the first entry whose id is stored at all is a duplicate.
    if let Some(positions) = already_written(batch, known) {
        return Ok(BatchOutcome {
            positions,
            appended: false,
        });
    }
    for request in batch.entries.iter().filter(|r| r.has_supplied_id()) {
        if let Some(stored) = known.ids.get(&request.id) {
            return Err(duplicate(request, stored));
        }
    }
    // 2. Expected versions, in the order given.
    for (stream, expected) in &batch.expected_versions {
        check_version(known, stream, *expected)?;
    }
    // 3. The condition: a stored match (the backend found the lowest), else an earlier append of
    //    this group (all of which come after every stored message).
    if let Some(condition) = &batch.condition {
        if let Some(found) = known.condition_matches.get(&index) {
            return Err(StoreError::AppendConditionFailed(found.clone()));
        }
        let earlier = appends.iter().find(|a| {
            let message = &a.request.message;
            a.positions.global_position > condition.after
                && condition.query.matches(
                    message.stream_name.as_str(),
                    message.stream_name.category(),
                    &message.message_type,
                    a.request.correlation.as_deref(),
                )
        });
        if let Some(found) = earlier {
            return Err(StoreError::AppendConditionFailed(ConditionMatch {
                global_position: found.positions.global_position,
                stream: found.request.message.stream_name.as_str().to_owned(),
                message_type: found.request.message.message_type.clone(),
            }));
        }
    }
    // 4. Append every entry, in order.
    let positions = batch
        .entries
        .iter()
        .map(|request| append(request, index, known, appends))
        .collect();
    Ok(BatchOutcome {
        positions,
        appended: true,
    })
}

/// The original positions of a batch that was written before (same ids, streams and types, in
/// the same order of global positions), or `None`.
fn already_written(batch: &BatchRequest, known: &Known<'_>) -> Option<Vec<Positions>> {
    let mut positions = Vec::with_capacity(batch.entries.len());
    for request in &batch.entries {
        if !request.has_supplied_id() {
            return None;
        }
        let stored = known.ids.get(&request.id)?;
        if stored.stream != request.message.stream_name.as_str()
            || stored.message_type != request.message.message_type.as_str()
        {
            return None;
        }
        if positions
            .last()
            .is_some_and(|p: &Positions| p.global_position >= stored.positions.global_position)
        {
            return None;
        }
        positions.push(stored.positions);
    }
    Some(positions)
}

fn duplicate(request: &WriteRequest, stored: &StoredId<'_>) -> StoreError {
    StoreError::DuplicateMessageId {
        id: request.id,
        stream: stored.stream.clone().into_owned(),
    }
}

fn check_version(known: &Known<'_>, stream: &StreamName, expected: i64) -> Result<(), StoreError> {
    let actual = known.versions.get(stream.as_str()).copied().unwrap_or(-1);
    if expected == actual {
        Ok(())
    } else {
        Err(StoreError::VersionConflict {
            stream: stream.clone(),
            expected,
            actual,
        })
    }
}

/// Appends `request` at its stream's next position and the next global position.
fn append<'a>(
    request: &'a WriteRequest,
    index: usize,
    known: &mut Known<'a>,
    appends: &mut Vec<Append<'a>>,
) -> Positions {
    let message = &request.message;
    let stream = message.stream_name.as_str();
    let version = known.versions.get(stream).copied().unwrap_or(-1);
    let first_message = version < 0 || known.emptied.remove(stream);
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
    appends.push(Append {
        index,
        request,
        positions,
        first_message,
    });
    positions
}

/// Group commit: moves queued units into `group` (which holds the first one already) while the
/// queue has some ready and the group holds fewer than [`MAX_BATCH`] messages (`rows` says how
/// many a unit holds: one for a write, its entries for a batch; a unit that crosses the limit
/// still joins, so a group holds at most `MAX_BATCH` plus one batch). `try_next` returns the
/// next queued item without waiting; an item that is not a write ends the group and is
/// returned, to run after the group commits, so everything keeps arrival order.
pub fn gather<W, C>(
    group: &mut Vec<W>,
    rows: impl Fn(&W) -> usize,
    mut try_next: impl FnMut() -> Option<Queued<W, C>>,
) -> Option<C> {
    let mut total: usize = group.iter().map(&rows).sum();
    while total < MAX_BATCH {
        match try_next()? {
            Queued::Write(write) => {
                total += rows(&write);
                group.push(write);
            }
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

    /// A stream whose messages were all deleted continues after its old version (SPEC §18),
    /// and its next message makes it a stream again for the counters, once.
    #[test]
    fn an_emptied_stream_continues_after_its_version_and_counts_again() {
        let group = [
            request("a-1", None, Some(9)),
            request("a-1", None, None),
            request("a-2", None, None),
        ];
        let mut known = Known {
            next_global_position: 30,
            ..Known::default()
        };
        known.versions.insert("a-1", 9);
        known.emptied.insert("a-1");
        known.versions.insert("a-2", 3);
        let decision = decide(&group, known);
        let positions: Vec<_> = decision
            .appends
            .iter()
            .map(|a| (a.positions.position, a.first_message))
            .collect();
        assert_eq!(positions, [(10, true), (11, false), (4, false)]);
        assert_eq!(
            decision.category_growth(),
            [CategoryGrowth {
                category: "a",
                messages: 3,
                streams: 1
            }]
        );
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
        let other = gather(&mut group, |_| 1, || queue.pop_front());
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
        assert!(gather(&mut group, |_| 1, || queue.pop_front()).is_none());
        assert_eq!(group.len(), MAX_BATCH);
        assert_eq!(queue.len(), 5);

        // Weighted by messages: a batch that crosses the limit still joins, then the group ends.
        let mut queue: std::collections::VecDeque<Queued<usize, ()>> =
            [100, 100, 100, 1].into_iter().map(Queued::Write).collect();
        let mut group = vec![1];
        assert!(gather(&mut group, |rows| *rows, || queue.pop_front()).is_none());
        assert_eq!(group, vec![1, 100, 100, 100]);
        assert_eq!(queue.len(), 1);
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
        BatchAppended(Vec<Positions>),
        BatchRetried(Vec<Positions>),
        ConditionFailed(i64),
    }

    fn comparable(outcome: &Result<UnitOutcome, StoreError>) -> Outcome {
        match outcome {
            Ok(UnitOutcome::Write(WriteOutcome::Appended(p))) => Outcome::Appended(*p),
            Ok(UnitOutcome::Write(WriteOutcome::AlreadyWritten(p))) => Outcome::AlreadyWritten(*p),
            Ok(UnitOutcome::Batch(batch)) => panic!("no batches here: {batch:?}"),
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

    // ---- batches (SPEC §17.2) ----

    fn batch(entries: Vec<WriteRequest>) -> BatchRequest {
        BatchRequest {
            entries,
            expected_versions: Vec::new(),
            condition: None,
        }
    }

    fn stream(name: &str) -> StreamName {
        StreamName::parse(name).unwrap()
    }

    fn category_condition(after: i64, category: &str) -> AppendCondition {
        AppendCondition {
            after,
            query: crate::batch::ConditionQuery {
                categories: vec![category.to_owned()],
                ..Default::default()
            },
        }
    }

    /// Checklist 144: three entries over two streams take consecutive global positions and each
    /// stream's next positions, in entry order.
    #[test]
    fn a_batch_appends_in_entry_order() {
        let b = batch(vec![
            request("order-7", None, None),
            request("stock-3", None, None),
            request("order-7", None, None),
        ]);
        let mut known = Known {
            next_global_position: 10,
            ..Known::default()
        };
        known.versions.insert("stock-3", 11);
        let decision = decide([&b], known);
        let outcome = decision.outcomes[0].clone().unwrap().into_batch();
        assert!(outcome.appended);
        assert_eq!(outcome.positions, vec![at(0, 10), at(12, 11), at(1, 12)]);
        assert_eq!(decision.appends.len(), 3);
        assert_eq!(decision.next_global_position, 13);
    }

    /// Checklist 145: the second expected version mismatches: a conflict naming it, nothing
    /// appended; a stream only checked (no entry) counts.
    #[test]
    fn a_batch_with_a_stale_version_writes_nothing() {
        let mut b = batch(vec![request("order-7", None, None)]);
        b.expected_versions = vec![(stream("order-7"), -1), (stream("stock-3"), 4)];
        let mut known = Known {
            next_global_position: 1,
            ..Known::default()
        };
        known.versions.insert("stock-3", 5);
        let decision = decide([&b], known);
        assert!(
            matches!(&decision.outcomes[0], Err(StoreError::VersionConflict { stream, expected: 4, actual: 5 }) if stream.as_str() == "stock-3"),
            "{:?}",
            decision.outcomes[0]
        );
        assert!(decision.appends.is_empty());
        assert_eq!(decision.next_global_position, 1);
    }

    /// Checklist 146: a stored match fails the batch with it; a match appended earlier in the
    /// same group does too; a match at or below `after` does not.
    #[test]
    fn conditions_see_stored_and_earlier_appends() {
        let mut guarded = batch(vec![request("stock-3", None, None)]);
        guarded.condition = Some(category_condition(5, "stock"));
        let mut known = Known {
            next_global_position: 20,
            ..Known::default()
        };
        let found = ConditionMatch {
            global_position: 7,
            stream: "stock-1".into(),
            message_type: "Tested".into(),
        };
        known.condition_matches.insert(0, found.clone());
        let decision = decide([&guarded], known);
        assert!(
            matches!(&decision.outcomes[0], Err(StoreError::AppendConditionFailed(m)) if *m == found)
        );

        // Same group: a plain write to the category first, then the guarded batch.
        let earlier = request("stock-9", None, None);
        let group = [Unit::Write(&earlier), Unit::Batch(&guarded)];
        let decision = decide(
            group,
            Known {
                next_global_position: 20,
                ..Known::default()
            },
        );
        assert!(decision.outcomes[0].is_ok());
        assert!(
            matches!(&decision.outcomes[1], Err(StoreError::AppendConditionFailed(m)) if m.global_position == 20 && m.stream == "stock-9"),
            "{:?}",
            decision.outcomes[1]
        );

        // With `after` at that message, the batch goes through.
        guarded.condition = Some(category_condition(20, "stock"));
        let group = [Unit::Write(&earlier), Unit::Batch(&guarded)];
        let decision = decide(
            group,
            Known {
                next_global_position: 20,
                ..Known::default()
            },
        );
        assert_eq!(
            decision.outcomes[1].clone().unwrap().into_batch().positions,
            vec![at(0, 21)]
        );
    }

    /// Checklist 148: a retried batch gets its original results and writes nothing; a batch
    /// mixing a new and a stored id is a duplicate, naming the first stored one.
    #[test]
    fn batch_retries_and_duplicates() {
        let (x, y, z) = (
            MessageId::new_v7(),
            MessageId::new_v7(),
            MessageId::new_v7(),
        );
        let first = batch(vec![
            request("a-1", Some(x), None),
            request("b-1", Some(y), None),
        ]);
        let retry = first.clone();
        let mixed = batch(vec![
            request("a-1", Some(z), None),
            request("b-1", Some(y), None),
        ]);
        let decision = decide(
            [&first, &retry, &mixed],
            Known {
                next_global_position: 1,
                ..Known::default()
            },
        );
        let original = decision.outcomes[0].clone().unwrap().into_batch();
        assert!(original.appended);
        let retried = decision.outcomes[1].clone().unwrap().into_batch();
        assert!(!retried.appended);
        assert_eq!(retried.positions, original.positions);
        assert!(
            matches!(&decision.outcomes[2], Err(StoreError::DuplicateMessageId { id, stream }) if *id == y && stream == "b-1"),
            "{:?}",
            decision.outcomes[2]
        );
        assert_eq!(decision.appends.len(), 2, "only the first batch appended");
    }

    /// The model of a batch: all or nothing, checks in the §17.2 order.
    fn model_batch(rows: &mut Vec<Row>, next: &mut i64, batch: &BatchRequest) -> Outcome {
        let found = |id: &MessageId| rows.iter().find(|r| r.id == *id).cloned();
        let mut original = Vec::new();
        let mut all = true;
        for request in &batch.entries {
            match request
                .has_supplied_id()
                .then(|| found(&request.id))
                .flatten()
            {
                Some(row)
                    if row.stream == request.message.stream_name.as_str()
                        && row.message_type == request.message.message_type
                        && original.last().is_none_or(|p: &Positions| {
                            p.global_position < row.positions.global_position
                        }) =>
                {
                    original.push(row.positions)
                }
                _ => all = false,
            }
        }
        if all {
            return Outcome::BatchRetried(original);
        }
        for request in batch.entries.iter().filter(|r| r.has_supplied_id()) {
            if let Some(row) = found(&request.id) {
                return Outcome::Duplicate(row.stream);
            }
        }
        let version = |rows: &Vec<Row>, stream: &str| {
            rows.iter()
                .filter(|r| r.stream == stream)
                .map(|r| r.positions.position)
                .max()
                .unwrap_or(-1)
        };
        for (stream, expected) in &batch.expected_versions {
            let actual = version(rows, stream.as_str());
            if actual != *expected {
                return Outcome::Conflict(*expected, actual);
            }
        }
        if let Some(condition) = &batch.condition {
            let hit = rows
                .iter()
                .filter(|r| r.positions.global_position > condition.after)
                .find(|r| {
                    let category = crate::stream::category(&r.stream);
                    condition
                        .query
                        .matches(&r.stream, category, &r.message_type, None)
                });
            if let Some(row) = hit {
                return Outcome::ConditionFailed(row.positions.global_position);
            }
        }
        let mut appended = Vec::new();
        for request in &batch.entries {
            let stream = request.message.stream_name.as_str();
            let positions = at(version(rows, stream) + 1, *next);
            *next += 1;
            rows.push(Row {
                id: request.id,
                stream: stream.to_owned(),
                message_type: request.message.message_type.clone(),
                positions,
            });
            appended.push(positions);
        }
        Outcome::BatchAppended(appended)
    }

    fn comparable_unit(outcome: &Result<UnitOutcome, StoreError>) -> Outcome {
        match outcome {
            Ok(UnitOutcome::Batch(b)) if b.appended => Outcome::BatchAppended(b.positions.clone()),
            Ok(UnitOutcome::Batch(b)) => Outcome::BatchRetried(b.positions.clone()),
            Err(StoreError::AppendConditionFailed(m)) => {
                Outcome::ConditionFailed(m.global_position)
            }
            other => comparable(other),
        }
    }

    /// A batch of 1–3 entries from the small pools, with random expected versions and
    /// sometimes a condition on a category.
    fn arb_batch(ids: Vec<MessageId>) -> impl Strategy<Value = BatchRequest> {
        (
            prop::collection::vec(arb_request(ids), 1..4),
            prop::collection::vec((0..4usize, -1i64..3), 0..3),
            prop::option::of((0i64..12, 0..2usize)),
        )
            .prop_map(|(entries, expected, condition)| {
                // Entries of a batch never share a supplied id (the server refuses it), and
                // batch entries carry no per-message expected version.
                let mut seen = Vec::new();
                let entries = entries
                    .into_iter()
                    .filter(|r| {
                        !r.has_supplied_id()
                            || !seen.contains(&r.id) && {
                                seen.push(r.id);
                                true
                            }
                    })
                    .map(|mut r| {
                        r.message.expected_version = None;
                        r
                    })
                    .collect();
                let names = ["a-1", "a-2", "b-1", "b"];
                let mut expected_versions: Vec<(StreamName, i64)> = Vec::new();
                for (s, v) in expected {
                    if !expected_versions
                        .iter()
                        .any(|(n, _)| n.as_str() == names[s])
                    {
                        expected_versions.push((stream(names[s]), v));
                    }
                }
                BatchRequest {
                    entries,
                    expected_versions,
                    condition: condition.map(|(after, c)| category_condition(after, ["a", "b"][c])),
                }
            })
    }

    /// What a backend reads for the conditions of `lookups` from the model's rows.
    fn read_matches(rows: &[Row], lookups: &Lookups<'_>, known: &mut Known<'_>) {
        for (index, condition) in &lookups.conditions {
            let hit = rows
                .iter()
                .filter(|r| r.positions.global_position > condition.after)
                .filter(|r| {
                    let category = crate::stream::category(&r.stream);
                    condition
                        .query
                        .matches(&r.stream, category, &r.message_type, None)
                })
                .min_by_key(|r| r.positions.global_position);
            if let Some(row) = hit {
                known.condition_matches.insert(
                    *index,
                    ConditionMatch {
                        global_position: row.positions.global_position,
                        stream: row.stream.clone(),
                        message_type: row.message_type.clone(),
                    },
                );
            }
        }
    }

    #[derive(Debug, Clone)]
    enum Owned {
        Write(WriteRequest),
        Batch(BatchRequest),
    }

    fn arb_mixed_groups() -> impl Strategy<Value = Vec<Vec<Owned>>> {
        let ids: Vec<MessageId> = (0..6).map(|_| MessageId::new_v7()).collect();
        let unit = prop_oneof![
            arb_request(ids.clone()).prop_map(Owned::Write),
            arb_batch(ids).prop_map(Owned::Batch),
        ];
        prop::collection::vec(prop::collection::vec(unit, 1..8), 1..6)
    }

    proptest! {
        /// Groups mixing writes and batches: `decide` agrees with the one-at-a-time model, and
        /// its appends are exactly the model's new rows.
        #[test]
        fn batches_agree_with_the_model(groups in arb_mixed_groups()) {
            let mut rows: Vec<Row> = Vec::new();
            let mut next = 1;
            for group in &groups {
                let units: Vec<Unit<'_>> = group
                    .iter()
                    .map(|u| match u {
                        Owned::Write(r) => Unit::Write(r),
                        Owned::Batch(b) => Unit::Batch(b),
                    })
                    .collect();
                let lookups = Lookups::of(units.iter().copied());
                let mut known = read_known(&rows, &lookups, next);
                read_matches(&rows, &lookups, &mut known);
                let decision = decide(units.iter().copied(), known);
                let before = rows.len();
                let expected: Vec<Outcome> = group
                    .iter()
                    .map(|unit| match unit {
                        Owned::Write(r) => model_write(&mut rows, &mut next, r),
                        Owned::Batch(b) => model_batch(&mut rows, &mut next, b),
                    })
                    .collect();
                let actual: Vec<Outcome> = decision.outcomes.iter().map(comparable_unit).collect();
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
    }
}
