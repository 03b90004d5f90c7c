//! The write path: a namespace's write queue is drained by one pool thread at a time (holding
//! one of the store's writer permits), which owns the write connection and group-commits.
//!
//! Requests arrive on a bounded queue. The draining thread takes one, then gathers whatever
//! else is queued (up to [`MAX_BATCH`], `messagedb_core::write::gather`) and runs the whole group in ONE
//! transaction: it reads what the group needs (the stored messages of the supplied ids, the
//! version of each stream), lets the shared write rule (`messagedb_core::decide`) give every
//! request its outcome in arrival order (idempotent retry, duplicate id, version conflict, or an
//! append at the next global position), inserts the rows it lists, adds them to the counters
//! of `ns.info` and `ns.categories` (one upsert per category the group touches, and the counter
//! row: [`count_appends`]), commits (one fsync for the group), and only then answers every
//! request (SPEC §6.3, §10.3, §16.3). Because a single thread assigns positions and commits,
//! commit order is gpos order and a reader can never see gpos N+1 before N (I4).
//!
//! After the commit, and before the gate is released or the next group starts, the appended
//! messages are reported to the store's commit listener (`publish`): one thread reporting in
//! commit order is what gives subscribers each namespace's commits in gpos order (§10.3), and
//! reporting under the gate means a deletion, which takes the gate, is never followed by a late
//! report. Idempotent retries and refusals write nothing and are not reported.
//!
//! Refusals are decided before anything is written, so the only statements that can fail are
//! storage failures (an I/O error, a full disk, a generated id colliding with the unique index);
//! any of them rolls the whole transaction back and every request of the group gets a backend
//! error, like a failed `COMMIT`.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use messagedb_core::write::{gather, Append, Queued, StoredId, QUEUE_CAPACITY};
use messagedb_core::{
    decide, BatchOutcome, BatchRequest, Committed, ConditionMatch, Decision, ImportError,
    ImportRecord, Known, Lookups, Positions, StoreError, Timestamp, Unit, UnitOutcome,
    WriteOutcome, WriteRequest,
};
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use tokio::sync::{oneshot, Semaphore};

use crate::deletion::DeleteJob;
use crate::error;
use crate::namespace::{Lease, Shared, Status};
use crate::reads;

/// Groups one pool thread commits for a namespace before it lets other namespaces' writers
/// have the thread: a busy namespace cannot starve the others.
const FAIR_GROUPS: usize = 16;

/// The largest batch that commits on the submitting async worker in memory
/// ([`Command::is_quick`]): well under a millisecond.
const INLINE_ROWS: usize = 64;

type Reply = oneshot::Sender<Result<WriteOutcome, StoreError>>;
type BatchReply = oneshot::Sender<Result<BatchOutcome, StoreError>>;

/// An item of a namespace's write queue. Each carries the lease that keeps the namespace's
/// storage open until it is answered.
pub(crate) enum Command {
    Write(WriteRequest, Reply, Lease),
    /// A `stream.writeBatch` (SPEC §17): one unit of a group, like a write.
    Batch(BatchRequest, BatchReply, Lease),
    /// An import batch (SPEC §9.3): its own transaction, after the writes queued before it.
    Import(
        Vec<ImportRecord>,
        oneshot::Sender<Result<(), ImportError>>,
        Lease,
    ),
    /// Delete every message (a forced import), after the writes queued before it.
    Clear(oneshot::Sender<Result<(), StoreError>>, Lease),
    /// `stream.delete` / `stream.truncate` (SPEC §18): one chunk per turn, then back to the end
    /// of the queue until finished.
    Delete(Box<DeleteJob>, Lease),
}

/// A queued unit, in the group being committed.
type Pending = (Job, Lease);

/// A unit of a group and where its outcome goes.
enum Job {
    Write(WriteRequest, Reply),
    Batch(BatchRequest, BatchReply),
}

impl Job {
    fn unit(&self) -> Unit<'_> {
        match self {
            Job::Write(request, _) => Unit::Write(request),
            Job::Batch(batch, _) => Unit::Batch(batch),
        }
    }

    /// How many messages the unit holds (its weight in a group).
    fn rows(&self) -> usize {
        self.unit().entries().len()
    }

    fn answer(self, outcome: Result<UnitOutcome, StoreError>) {
        match self {
            Job::Write(_, reply) => {
                let _ = reply.send(outcome.map(UnitOutcome::into_write));
            }
            Job::Batch(_, reply) => {
                let _ = reply.send(outcome.map(UnitOutcome::into_batch));
            }
        }
    }
}

impl Command {
    /// Whether the command is quick enough to commit on the submitting async worker, in memory:
    /// a write or a small batch takes microseconds. An import batch, a clear, a deletion chunk
    /// or a large batch takes milliseconds, which every other request on that worker would wait
    /// out (an import of 300,000 messages held a concurrent read for up to 2.3 s).
    fn is_quick(&self) -> bool {
        match self {
            Command::Write(..) => true,
            Command::Batch(batch, ..) => batch.entries.len() <= INLINE_ROWS,
            Command::Import(..) | Command::Clear(..) | Command::Delete(..) => false,
        }
    }

    /// The command as a group sees it: a unit joins the group, anything else ends it.
    fn queued(self) -> Queued<Pending, Command> {
        match self {
            Command::Write(request, reply, lease) => {
                Queued::Write((Job::Write(request, reply), lease))
            }
            Command::Batch(batch, reply, lease) => Queued::Write((Job::Batch(batch, reply), lease)),
            other => Queued::Other(other),
        }
    }
}

/// A namespace's write queue. At most one pool thread drains it at a time (`scheduled`), so
/// every write of the namespace runs on one writer at a time (I3–I5) whatever thread it is.
///
/// The queue holds a buffer only while it is in use: a closed namespace's queue owns no heap
/// memory, which is what keeps ten thousands of idle namespaces cheap (SPEC §16.3). A channel
/// would keep its blocks (6 KiB each) for the life of the namespace.
pub(crate) struct Queue {
    /// Commands in arrival order. Never held across an await or a commit.
    waiting: Mutex<VecDeque<Command>>,
    /// Free places in `waiting`, [`QUEUE_CAPACITY`] in all: a full queue makes `submit` wait,
    /// first come first served. Never closed.
    space: Semaphore,
    /// Whether a drain job is queued or running.
    scheduled: AtomicBool,
    /// The write connection while the namespace is open; held by the draining thread.
    writer: Mutex<Option<Writer>>,
}

/// The capacity an empty queue keeps for its next commands; a burst's larger buffer is freed.
const SPARE: usize = 32;

/// The write connection of an open namespace and the next global position it hands out.
pub(crate) struct Writer {
    conn: Connection,
    /// The next global position to assign: the counter row, cached. Only the writer moves it.
    next_global_position: i64,
}

impl Writer {
    /// The writer of a namespace database `conn` that has been migrated.
    pub(crate) fn new(conn: Connection) -> rusqlite::Result<Writer> {
        Ok(Writer {
            next_global_position: next_global_position(&conn)?,
            conn,
        })
    }

    pub(crate) fn conn(&self) -> &Connection {
        &self.conn
    }

    pub(crate) fn conn_mut(&mut self) -> &mut Connection {
        &mut self.conn
    }

    /// The next global position to hand out.
    pub(crate) fn next_global_position(&self) -> i64 {
        self.next_global_position
    }

    /// After a commit that took global positions other than through [`decide`].
    pub(crate) fn set_next_global_position(&mut self, next: i64) {
        self.next_global_position = next;
    }
}

impl Queue {
    pub(crate) fn new() -> Queue {
        Queue {
            waiting: Mutex::new(VecDeque::new()),
            space: Semaphore::new(QUEUE_CAPACITY),
            scheduled: AtomicBool::new(false),
            writer: Mutex::new(None),
        }
    }

    fn waiting(&self) -> MutexGuard<'_, VecDeque<Command>> {
        self.waiting.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn writer(&self) -> MutexGuard<'_, Option<Writer>> {
        self.writer.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues `command`, waiting while the queue is full. Cancelling the wait queues nothing.
    async fn push(&self, command: Command) {
        // The semaphore is never closed; the place is given back when the command is taken.
        if let Ok(place) = self.space.acquire().await {
            place.forget();
        }
        self.waiting().push_back(command);
    }

    /// The oldest queued command.
    fn pop(&self) -> Option<Command> {
        let command = self.waiting().pop_front()?;
        self.space.add_permits(1);
        Some(command)
    }

    /// Whether nothing is queued; an empty queue gives back a burst's buffer.
    fn is_empty(&self) -> bool {
        let mut waiting = self.waiting();
        if waiting.capacity() > SPARE && waiting.is_empty() {
            waiting.shrink_to(SPARE);
        }
        waiting.is_empty()
    }

    /// Installs (or, with `None`, closes) the write connection. Waits for a running drain.
    /// Closing also frees the queue's buffer: nothing is queued when a namespace closes, since
    /// every queued command holds a lease.
    pub(crate) fn set_writer(&self, writer: Option<Writer>) {
        let closing = writer.is_none();
        let old = std::mem::replace(&mut *self.writer(), writer);
        drop(old);
        if closing {
            let mut waiting = self.waiting();
            if waiting.is_empty() {
                *waiting = VecDeque::new();
            }
        }
    }

    /// Runs `op` on the write connection, if the namespace is open.
    pub(crate) fn with_writer<T>(&self, op: impl FnOnce(&Writer) -> T) -> Option<T> {
        self.writer().as_ref().map(op)
    }

    /// The write connection, for a read, when it is open and idle: no drain running or
    /// scheduled. Never waits. A drain that starts meanwhile waits for the read to end (a read
    /// is short); the connection has no transaction open between drains, so the read sees
    /// exactly what is committed.
    pub(crate) fn idle_writer(&self) -> Option<IdleWriter<'_>> {
        if self.scheduled.load(Ordering::SeqCst) {
            return None;
        }
        let guard = self.writer.try_lock().ok()?;
        guard.is_some().then_some(IdleWriter(guard))
    }

    /// The buffer the queue holds, in commands (for tests).
    #[cfg(test)]
    pub(crate) fn capacity(&self) -> usize {
        self.waiting().capacity()
    }
}

/// The write connection lent to a read (see [`Queue::idle_writer`]).
pub(crate) struct IdleWriter<'a>(MutexGuard<'a, Option<Writer>>);

impl IdleWriter<'_> {
    pub(crate) fn conn(&self) -> &Connection {
        // `idle_writer` only lends an open writer, and nobody closes it while the lock is held.
        &self.0.as_ref().expect("lent while open").conn
    }
}

/// Queues `command` (waiting while the queue is full) and makes sure a drain takes it: on disk a
/// pool thread's; in memory (`Location::runs_inline`), for a quick command
/// ([`Command::is_quick`]), this task's own, on its async worker, for up to [`FAIR_GROUPS`]
/// groups, after which a pool thread takes over.
pub(crate) async fn submit(shared: &Arc<Shared>, command: Command) {
    let inline = shared.location.runs_inline() && command.is_quick();
    shared.queue.push(command).await;
    // Queued before the flag is read: a drain that has just found the queue empty and cleared
    // the flag either sees this command or leaves the flag for us (see `drain`).
    if !shared.queue.scheduled.swap(true, Ordering::SeqCst) {
        // An inline drain that has had its share leaves the rest to a pool thread.
        if !inline || drain(shared) {
            schedule(Arc::clone(shared));
        }
    }
}

/// Runs a drain of the namespace's queue on the blocking pool, once a writer permit is free.
fn schedule(shared: Arc<Shared>) {
    tokio::spawn(async move {
        let Ok(permit) = Arc::clone(&shared.cache.jobs).acquire_owned().await else {
            return;
        };
        tokio::task::spawn_blocking(move || {
            let more = drain(&shared);
            drop(permit);
            if more {
                schedule(shared);
            }
        });
    });
}

/// Commits queued groups until the queue is empty (returns `false`, the flag cleared) or the
/// namespace has had its share of the thread (returns `true`, the flag kept: the caller
/// schedules it again, behind the namespaces already waiting for a permit).
fn drain(shared: &Arc<Shared>) -> bool {
    let queue = &shared.queue;
    let mut writer = queue.writer();
    let mut group: Vec<Pending> = Vec::new();
    let mut groups = 0;
    while groups < FAIR_GROUPS {
        let command = match queue.pop() {
            Some(command) => command,
            None => {
                // Cleared with a read-modify-write, which sees every `submit` that set the flag
                // before: its command is in the queue by then. If one arrived since the empty
                // read, either it saw the flag clear and scheduled a new drain, or it saw it set
                // and this drain takes the flag back and goes on.
                queue.scheduled.swap(false, Ordering::SeqCst);
                if queue.is_empty() || queue.scheduled.swap(true, Ordering::SeqCst) {
                    return false;
                }
                continue;
            }
        };
        groups += 1;
        // A command other than a write ends the group: the writes before it commit first, so
        // everything keeps arrival order.
        let next = match command.queued() {
            Queued::Write(unit) => {
                group.push(unit);
                #[cfg(test)]
                let held = shared.hold.lock().unwrap_or_else(PoisonError::into_inner);
                let next = gather(
                    &mut group,
                    |(job, _)| job.rows(),
                    || queue.pop().map(Command::queued),
                );
                #[cfg(test)]
                drop(held);
                commit(writer.as_mut(), shared, &mut group);
                next
            }
            Queued::Other(other) => Some(other),
        };
        match next {
            None | Some(Command::Write(..) | Command::Batch(..)) => {}
            Some(Command::Import(records, reply, lease)) => {
                let outcome = match writer.as_mut() {
                    Some(writer) => writer.import(shared, &records),
                    None => Err(shared.gone().into()),
                };
                let _ = reply.send(outcome);
                drop(lease);
            }
            Some(Command::Clear(reply, lease)) => {
                let outcome = match writer.as_mut() {
                    Some(writer) => writer.clear(shared),
                    None => Err(shared.gone()),
                };
                let _ = reply.send(outcome);
                drop(lease);
            }
            Some(Command::Delete(mut job, lease)) => {
                let step = match writer.as_mut() {
                    Some(writer) => writer.delete_chunk(shared, &mut job),
                    None => Err(shared.gone()),
                };
                match step {
                    Ok(true) => {
                        let outcome = job.outcome();
                        job.answer(Ok(outcome));
                        drop(lease);
                    }
                    Err(e) => {
                        job.answer(Err(e));
                        drop(lease);
                    }
                    // Not finished: behind whatever was queued meanwhile. Sent from a task,
                    // since the queue may be full and this thread must not wait for itself.
                    Ok(false) => {
                        let shared = Arc::clone(shared);
                        tokio::spawn(async move {
                            submit(&shared, Command::Delete(job, lease)).await;
                        });
                    }
                }
            }
        }
    }
    true
}

/// Runs one group and answers every request in it. The leases make `writer` present; should it
/// not be, the requests fail rather than wait.
fn commit(writer: Option<&mut Writer>, shared: &Shared, group: &mut Vec<Pending>) {
    let Some(writer) = writer else {
        for (job, _) in group.drain(..) {
            job.answer(Err(shared.gone()));
        }
        return;
    };
    writer.commit(shared, group);
}

impl Writer {
    /// Runs one group and answers every request in it, then ends their leases.
    fn commit(&mut self, shared: &Shared, group: &mut Vec<Pending>) {
        let gate = shared.enter_write();
        if gate.status() == Status::Deleted {
            drop(gate);
            for (job, _) in group.drain(..) {
                job.answer(Err(StoreError::NamespaceNotFound(shared.id.clone())));
            }
            return;
        }
        let outcomes = self.transaction(shared, group);
        drop(gate);
        match outcomes {
            Ok(outcomes) => {
                for ((job, _), outcome) in group.drain(..).zip(outcomes) {
                    job.answer(outcome);
                }
            }
            Err(e) => {
                tracing::error!(namespace = %shared.id, error = %e, "write transaction failed");
                let error = error::sqlite(e);
                for (job, _) in group.drain(..) {
                    job.answer(Err(error.clone()));
                }
            }
        }
    }

    /// Reports the appended messages of a committed group, in gpos order.
    fn publish(shared: &Shared, appends: &[Append<'_>]) {
        let publisher = &shared.publisher;
        if !publisher.is_listening() {
            return;
        }
        let committed: Vec<Committed> = appends
            .iter()
            .map(|append| Committed {
                global_position: append.positions.global_position,
                stream_name: append.request.message.stream_name.as_str().to_owned(),
                position: append.positions.position,
            })
            .collect();
        publisher.committed(&shared.id, &committed);
    }

    /// One transaction for the whole group, reported to the commit listener once committed;
    /// `Err` when nothing of it was committed.
    fn transaction(
        &mut self,
        shared: &Shared,
        batch: &[Pending],
    ) -> rusqlite::Result<Vec<Result<UnitOutcome, StoreError>>> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let group = || batch.iter().map(|(job, _)| job.unit());
        let lookups = Lookups::of(group());
        let mut known = read_known(&tx, &lookups, self.next_global_position)?;
        read_condition_matches(&tx, &lookups, &mut known)?;
        let decision = decide(group(), known);
        if decision.appends.is_empty() {
            // Only refusals and idempotent retries: nothing to commit.
            return Ok(decision.outcomes);
        }
        let now = Timestamp::now().as_micros();
        for append in &decision.appends {
            insert(&tx, append, now)?;
        }
        count_appends(&tx, &decision, now)?;
        tx.commit()?;
        self.next_global_position = decision.next_global_position;
        shared.commits.fetch_add(1, Ordering::Relaxed);
        Writer::publish(shared, &decision.appends);
        Ok(decision.outcomes)
    }
}

/// Reads what the write rule needs to decide a group, inside the group's transaction: the
/// stored message of each supplied id and the version of each stream.
fn read_known<'a>(
    conn: &Connection,
    lookups: &Lookups<'a>,
    next_global_position: i64,
) -> rusqlite::Result<Known<'a>> {
    let mut known = Known {
        next_global_position,
        ..Known::default()
    };
    if !lookups.ids.is_empty() {
        let mut stmt = conn.prepare_cached(
            "SELECT stream_name, type, position, global_position FROM messages WHERE id = ?1",
        )?;
        for id in &lookups.ids {
            if known.ids.contains_key(id) {
                continue;
            }
            let stored = stmt
                .query_row([id.as_uuid().as_bytes()], |row| {
                    Ok(StoredId {
                        stream: reads::text(row, 0)?.to_owned().into(),
                        message_type: reads::text(row, 1)?.to_owned().into(),
                        positions: Positions {
                            position: row.get(2)?,
                            global_position: row.get(3)?,
                        },
                    })
                })
                .optional()?;
            if let Some(stored) = stored {
                known.ids.insert(*id, stored);
            }
        }
    }
    for stream in &lookups.streams {
        if let Some((version, present)) = reads::stream_version_and_presence(conn, stream)? {
            known.versions.insert(stream, version);
            if !present {
                known.emptied.insert(stream);
            }
        }
    }
    Ok(known)
}

/// Finds, for each append condition of the group, the lowest stored message after `after` that
/// matches it (SPEC §17.2), inside the group's transaction. Each category is one seek of the
/// `(category, global_position)` index; each stream walks that stream's rows through the
/// `(stream_name, position)` index. Never a scan of the namespace.
fn read_condition_matches(
    conn: &Connection,
    lookups: &Lookups<'_>,
    known: &mut Known<'_>,
) -> rusqlite::Result<()> {
    for (index, condition) in &lookups.conditions {
        let query = &condition.query;
        let mut filters = String::new();
        if !query.types.is_empty() {
            let params: Vec<String> = (0..query.types.len())
                .map(|i| format!("?{}", i + 3))
                .collect();
            filters = format!(" AND type IN ({})", params.join(", "));
        }
        let correlation_param = query.types.len() + 3;
        if query.correlation.is_some() {
            filters.push_str(&format!(" AND correlation_category = ?{correlation_param}"));
        }
        let mut params: Vec<&dyn rusqlite::ToSql> = vec![&"", &condition.after];
        for message_type in &query.types {
            params.push(message_type);
        }
        if let Some(correlation) = &query.correlation {
            params.push(correlation);
        }
        let mut best: Option<ConditionMatch> = None;
        let searches = query
            .categories
            .iter()
            .map(|c| {
                (
                    c,
                    "messages INDEXED BY messages_category WHERE category = ?1",
                )
            })
            .chain(query.streams.iter().map(|s| {
                (
                    s,
                    "messages INDEXED BY messages_stream_position WHERE stream_name = ?1",
                )
            }));
        for (name, from) in searches {
            let sql = format!(
                "SELECT global_position, stream_name, type FROM {from} \
                 AND global_position > ?2{filters} ORDER BY global_position LIMIT 1"
            );
            params[0] = name;
            let found = conn
                .prepare_cached(&sql)?
                .query_row(params.as_slice(), |row| {
                    Ok(ConditionMatch {
                        global_position: row.get(0)?,
                        stream: row.get(1)?,
                        message_type: row.get(2)?,
                    })
                })
                .optional()?;
            if let Some(found) = found {
                if best
                    .as_ref()
                    .is_none_or(|b| found.global_position < b.global_position)
                {
                    best = Some(found);
                }
            }
        }
        if let Some(best) = best {
            known.condition_matches.insert(*index, best);
        }
    }
    Ok(())
}

/// Adds a group's appends to the counters (SPEC §16.3), in its transaction: one upsert per
/// category the group touches and one update of the counter row, whatever the group's size.
/// The appends are the namespace's newest messages, so the last one is its last activity.
fn count_appends(conn: &Connection, decision: &Decision<'_>, time: i64) -> rusqlite::Result<()> {
    let (mut messages, mut streams) = (0, 0);
    let mut grow = conn.prepare_cached(GROW_CATEGORY)?;
    for growth in decision.category_growth() {
        grow.execute(params![growth.category, growth.messages, growth.streams])?;
        messages += growth.messages;
        streams += growth.streams;
    }
    conn.prepare_cached(
        "UPDATE counter SET next_global_position = ?1, message_count = message_count + ?2, \
         stream_count = stream_count + ?3, last_global_position = ?1 - 1, last_time = ?4",
    )?
    .execute(params![
        decision.next_global_position,
        messages,
        streams,
        time
    ])?;
    Ok(())
}

/// Adds `?2` messages and `?3` streams to category `?1`'s row, creating it if needed.
const GROW_CATEGORY: &str = "INSERT INTO categories (category, message_count, stream_count) \
     VALUES (?1, ?2, ?3) ON CONFLICT (category) DO UPDATE SET \
     message_count = message_count + excluded.message_count, \
     stream_count = stream_count + excluded.stream_count";

/// Inserts one row the write rule decided on.
fn insert(conn: &Connection, append: &Append<'_>, time: i64) -> rusqlite::Result<()> {
    let request = append.request;
    let message = &request.message;
    conn.prepare_cached(
        "INSERT INTO messages (global_position, position, stream_name, category, type, id, data, \
         metadata, correlation_category, time) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    )?
    .execute(params![
        append.positions.global_position,
        append.positions.position,
        message.stream_name.as_str(),
        message.stream_name.category(),
        message.message_type,
        request.id.as_uuid().as_bytes(),
        message.data,
        message.metadata,
        request.correlation,
        time,
    ])?;
    Ok(())
}

impl Writer {
    /// One import batch in one transaction (SPEC §9.3, §9.4). Records are inserted one by one,
    /// so each is checked against the stored messages and the earlier records alike.
    fn import(&mut self, shared: &Shared, records: &[ImportRecord]) -> Result<(), ImportError> {
        let gate = shared.enter_write();
        if gate.status() == Status::Deleted {
            return Err(StoreError::NamespaceNotFound(shared.id.clone()).into());
        }
        let sqlite = |e: rusqlite::Error| ImportError::Store(error::sqlite(e));
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(sqlite)?;
        let mut counts = ImportCounts::default();
        for (index, record) in records.iter().enumerate() {
            counts.add(&tx, record).map_err(sqlite)?;
            import_one(&tx, record, index)?;
        }
        // Never backwards: an import below the head leaves the counter where it was.
        let next = self.next_global_position.max(counts.highest.0 + 1);
        counts.save(&tx, next).map_err(sqlite)?;
        tx.commit().map_err(sqlite)?;
        self.next_global_position = next;
        shared.commits.fetch_add(1, Ordering::Relaxed);
        if shared.publisher.is_listening() {
            let mut committed: Vec<Committed> = records
                .iter()
                .map(|r| Committed {
                    global_position: r.global_position,
                    stream_name: r.stream_name.as_str().to_owned(),
                    position: r.position,
                })
                .collect();
            committed.sort_unstable_by_key(|c| c.global_position);
            shared.publisher.committed(&shared.id, &committed);
        }
        drop(gate);
        Ok(())
    }

    /// Deletes every message, keeping the counter, and ends the namespace's subscriptions
    /// while the gate is held, so no commit of the old contents can be reported after it.
    fn clear(&mut self, shared: &Shared) -> Result<(), StoreError> {
        let gate = shared.enter_write();
        if gate.status() == Status::Deleted {
            return Err(StoreError::NamespaceNotFound(shared.id.clone()));
        }
        // The counter row is what keeps the removed positions from being handed out again
        // after a restart, so it is saved in the same transaction.
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(error::sqlite)?;
        tx.execute_batch(
            "DELETE FROM messages; DELETE FROM categories; DELETE FROM deletions; \
             DELETE FROM stream_floors",
        )
        .map_err(error::sqlite)?;
        tx.prepare_cached(
            "UPDATE counter SET next_global_position = ?1, message_count = 0, stream_count = 0, \
             last_global_position = 0, last_time = NULL",
        )
        .and_then(|mut stmt| stmt.execute([self.next_global_position]))
        .map_err(error::sqlite)?;
        tx.commit().map_err(error::sqlite)?;
        shared.publisher.ended(&shared.id);
        drop(gate);
        Ok(())
    }
}

/// Inserts one imported record after the §9.3 collision checks, in their order.
fn import_one(conn: &Connection, record: &ImportRecord, index: usize) -> Result<(), ImportError> {
    let sqlite = |e: rusqlite::Error| ImportError::Store(error::sqlite(e));
    let taken = conn
        // A deletion record holds its position too (SPEC §18): no message may share it.
        .prepare_cached(
            "SELECT 1 FROM messages WHERE global_position = ?1 \
             UNION ALL SELECT 1 FROM deletions WHERE global_position = ?1",
        )
        .and_then(|mut stmt| stmt.exists([record.global_position]))
        .map_err(sqlite)?;
    if taken {
        return Err(ImportError::PositionExists {
            global_position: record.global_position,
            index,
        });
    }
    let id = record.id.as_uuid().as_bytes();
    let owner = conn
        .prepare_cached("SELECT stream_name FROM messages WHERE id = ?1")
        .and_then(|mut stmt| {
            stmt.query_row([id], |row| row.get::<_, String>(0))
                .optional()
        })
        .map_err(sqlite)?;
    if let Some(stream) = owner {
        return Err(ImportError::DuplicateMessageId {
            id: record.id,
            stream,
            index,
        });
    }
    let stream = record.stream_name.as_str();
    let occupied = conn
        .prepare_cached("SELECT 1 FROM messages WHERE stream_name = ?1 AND position = ?2")
        .and_then(|mut stmt| stmt.exists(params![stream, record.position]))
        .map_err(sqlite)?;
    if occupied {
        return Err(ImportError::StreamPositionExists {
            stream: stream.to_owned(),
            position: record.position,
            index,
        });
    }
    let correlation = record
        .metadata
        .as_deref()
        .and_then(messagedb_core::json::correlation_category);
    conn.prepare_cached(
        "INSERT INTO messages (global_position, position, stream_name, category, type, id, data, \
         metadata, correlation_category, time) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    )
    .and_then(|mut stmt| {
        stmt.execute(params![
            record.global_position,
            record.position,
            stream,
            record.stream_name.category(),
            record.message_type,
            id,
            record.data,
            record.metadata,
            correlation,
            record.time.as_micros(),
        ])
    })
    .map_err(sqlite)?;
    Ok(())
}

/// What an import batch adds to the counters, gathered record by record before each is
/// inserted, and saved once per batch.
#[derive(Default)]
struct ImportCounts<'a> {
    /// The streams of the batch so far, and whether each is new (had no message before).
    streams: HashMap<&'a str, bool>,
    /// Per category: messages, new streams.
    categories: HashMap<&'a str, (i64, i64)>,
    /// The highest global position of the batch and its record's time.
    highest: (i64, i64),
}

impl<'a> ImportCounts<'a> {
    /// Counts `record`, before it is inserted: a stream is new if this is its first record in
    /// the batch and it has no stored message (one index seek per stream of the batch). A
    /// refused record fails the batch, so counting it first changes nothing that commits.
    fn add(&mut self, conn: &Connection, record: &'a ImportRecord) -> rusqlite::Result<()> {
        let stream = record.stream_name.as_str();
        let new_stream = match self.streams.get(stream) {
            Some(_) => false,
            None => {
                let stored = conn
                    .prepare_cached("SELECT 1 FROM messages WHERE stream_name = ?1 LIMIT 1")?
                    .exists([stream])?;
                self.streams.insert(stream, !stored);
                !stored
            }
        };
        let category = self
            .categories
            .entry(record.stream_name.category())
            .or_default();
        category.0 += 1;
        category.1 += i64::from(new_stream);
        if record.global_position > self.highest.0 {
            self.highest = (record.global_position, record.time.as_micros());
        }
        Ok(())
    }

    /// Saves the counts and the next global position `next`. The last activity moves only if
    /// the batch reached above the highest stored position (an import may land below it).
    fn save(&self, conn: &Connection, next: i64) -> rusqlite::Result<()> {
        let mut grow = conn.prepare_cached(GROW_CATEGORY)?;
        let (mut messages, mut streams) = (0, 0);
        for (category, (added, new_streams)) in &self.categories {
            grow.execute(params![category, added, new_streams])?;
            messages += added;
            streams += new_streams;
        }
        let (highest, time) = self.highest;
        conn.prepare_cached(
            "UPDATE counter SET next_global_position = ?1, message_count = message_count + ?2, \
             stream_count = stream_count + ?3, \
             last_time = CASE WHEN ?4 > last_global_position THEN ?5 ELSE last_time END, \
             last_global_position = max(last_global_position, ?4)",
        )?
        .execute(params![next, messages, streams, highest, time])?;
        Ok(())
    }
}

/// The next global position to hand out: the counter row, which every transaction saves, or
/// one past the highest stored position if that is larger (a database of schema version 1,
/// whose appends did not save the row).
fn next_global_position(conn: &Connection) -> rusqlite::Result<i64> {
    conn.query_row(
        "SELECT max((SELECT next_global_position FROM counter), \
                    coalesce((SELECT max(global_position) FROM messages), 0) + 1)",
        [],
        |row| row.get(0),
    )
}

#[cfg(test)]
mod tests {
    use std::future::Future;

    use messagedb_core::write::MAX_BATCH;
    use std::pin::Pin;

    use messagedb_core::{MessageId, NamespaceId, NewMessage, StreamName, TokenHash};

    use super::*;
    use crate::store::SqliteStore;
    use messagedb_core::Store;

    fn message(stream: &str) -> NewMessage {
        NewMessage {
            id: None,
            stream_name: StreamName::parse(stream).unwrap(),
            message_type: "Tested".to_owned(),
            data: "{}".to_owned(),
            metadata: None,
            expected_version: None,
        }
    }

    type Pending<'a> = Pin<Box<dyn Future<Output = Result<WriteOutcome, StoreError>> + Send + 'a>>;

    /// Polls `write` once, which queues its request, and keeps it for awaiting later. The
    /// caller runs unconstrained by tokio's cooperative budget, which would otherwise make a
    /// poll return `Pending` *before* queuing once the budget is spent, scrambling the order.
    async fn queue<'a>(pending: &mut Vec<Pending<'a>>, mut write: Pending<'a>) {
        assert!(futures::poll!(write.as_mut()).is_pending());
        pending.push(write);
    }

    /// A queue keeps a small buffer while its namespace is open and frees it when the namespace
    /// closes, however many commands a burst queued (a channel would keep its blocks).
    // The hold is kept across awaits that only poll each write once; none waits for the writer.
    #[allow(clippy::await_holding_lock)]
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_closed_namespace_queue_holds_no_buffer() {
        let dir = tempfile::tempdir().unwrap();
        let limits = crate::Limits {
            max_open_namespaces: 1,
            writer_threads: 2,
            reader_threads: 2,
        };
        let store = SqliteStore::open_with(dir.path(), limits).unwrap();
        let (a, b) = (
            NamespaceId::parse("a").unwrap(),
            NamespaceId::parse("b").unwrap(),
        );
        for ns in [&a, &b] {
            store
                .create_namespace(ns, "", &TokenHash::from_bytes([1; 32]))
                .await
                .unwrap();
        }
        store.write(&a, message("s-1")).await.unwrap();
        let handle = store.open_namespace(&a);
        let burst = 200;
        let held = handle.shared().hold.lock().unwrap();
        let mut pending: Vec<Pending<'_>> = Vec::new();
        tokio::task::unconstrained(async {
            for _ in 0..burst {
                queue(&mut pending, store.write(&a, message("s-1"))).await;
            }
        })
        .await;
        let queue = &handle.shared().queue;
        // One command is with the held drain; the rest wait in the buffer.
        assert!(queue.capacity() >= burst - 1, "{}", queue.capacity());
        drop(held);
        for outcome in futures::future::join_all(pending).await {
            outcome.unwrap();
        }
        while queue.scheduled.load(Ordering::SeqCst) {
            tokio::task::yield_now().await;
        }
        assert!(store.is_namespace_open(&a));
        assert!(queue.capacity() <= SPARE, "{}", queue.capacity());

        // Opening `b` closes `a`, the only slot's idle holder.
        drop(handle);
        store.write(&b, message("s-1")).await.unwrap();
        assert!(!store.is_namespace_open(&a));
        assert_eq!(store.open_namespace(&a).shared().queue.capacity(), 0);
        assert_eq!(
            store
                .read_stream(
                    &a,
                    &StreamName::parse("s-1").unwrap(),
                    &messagedb_conformance::support::whole_stream()
                )
                .await
                .unwrap()
                .len(),
            burst + 1
        );
        store.close().await;
    }

    /// With the writer held, eight requests are queued in a known order; released, the writer
    /// takes them all into one transaction, and each gets the outcome its position in the batch
    /// implies, seeing the effects of the requests before it.
    // The hold is kept across awaits that only poll each write once; none waits for the writer.
    #[allow(clippy::await_holding_lock)]
    #[tokio::test]
    async fn one_transaction_carries_a_mixed_batch_in_arrival_order() {
        // On disk: in memory the drain runs inline, in the held test itself.
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path()).unwrap();
        let ns = NamespaceId::parse("batch").unwrap();
        store
            .create_namespace(&ns, "", &TokenHash::from_bytes([0; 32]))
            .await
            .unwrap();
        let (x, y) = (MessageId::new_v7(), MessageId::new_v7());
        let first = store
            .write(
                &ns,
                NewMessage {
                    id: Some(x),
                    ..message("existing-1")
                },
            )
            .await
            .unwrap();
        assert_eq!(
            first,
            WriteOutcome::Appended(Positions {
                position: 0,
                global_position: 1
            })
        );

        let handle = store.open_namespace(&ns);
        let commits_before = handle.commits();
        let held = handle.shared().hold.lock().unwrap();
        let requests = [
            NewMessage {
                expected_version: Some(-1),
                ..message("new-1")
            },
            NewMessage {
                expected_version: Some(-1),
                ..message("new-1")
            },
            NewMessage {
                id: Some(y),
                ..message("new-1")
            },
            NewMessage {
                id: Some(y),
                expected_version: Some(-1),
                ..message("new-1")
            },
            NewMessage {
                id: Some(y),
                ..message("other-1")
            },
            NewMessage {
                id: Some(x),
                ..message("other-1")
            },
            NewMessage {
                id: Some(x),
                expected_version: Some(7),
                ..message("existing-1")
            },
            NewMessage {
                expected_version: Some(1),
                ..message("new-1")
            },
        ];
        let mut pending: Vec<Pending<'_>> = Vec::new();
        tokio::task::unconstrained(async {
            for request in requests {
                queue(&mut pending, store.write(&ns, request)).await;
            }
        })
        .await;
        drop(held);
        let outcomes = futures::future::join_all(pending).await;

        let appended = |position, global_position| Positions {
            position,
            global_position,
        };
        assert_eq!(
            outcomes[0].as_ref().unwrap(),
            &WriteOutcome::Appended(appended(0, 2))
        );
        assert!(
            matches!(
                &outcomes[1],
                Err(StoreError::VersionConflict {
                    expected: -1,
                    actual: 0,
                    ..
                })
            ),
            "{:?}",
            outcomes[1]
        );
        assert_eq!(
            outcomes[2].as_ref().unwrap(),
            &WriteOutcome::Appended(appended(1, 3))
        );
        assert_eq!(
            outcomes[3].as_ref().unwrap(),
            &WriteOutcome::AlreadyWritten(appended(1, 3))
        );
        assert!(
            matches!(&outcomes[4], Err(StoreError::DuplicateMessageId { id, stream }) if *id == y && stream == "new-1"),
            "{:?}",
            outcomes[4]
        );
        assert!(
            matches!(&outcomes[5], Err(StoreError::DuplicateMessageId { id, stream }) if *id == x && stream == "existing-1"),
            "{:?}",
            outcomes[5]
        );
        assert_eq!(
            outcomes[6].as_ref().unwrap(),
            &WriteOutcome::AlreadyWritten(appended(0, 1))
        );
        assert_eq!(
            outcomes[7].as_ref().unwrap(),
            &WriteOutcome::Appended(appended(2, 4))
        );
        assert_eq!(
            handle.commits(),
            commits_before + 1,
            "one transaction for the batch"
        );
        store.close().await;
    }

    /// Appends do not move the counter row, so a restart derives the next position from the
    /// stored rows; after a `clear` removed them, the saved row is what keeps the old positions
    /// from being handed out again.
    #[tokio::test]
    async fn positions_are_never_reused_across_clear_and_restart() {
        let dir = tempfile::tempdir().unwrap();
        let ns = NamespaceId::parse("restart").unwrap();
        let global_position = |outcome: WriteOutcome| match outcome {
            WriteOutcome::Appended(p) => p.global_position,
            other => panic!("not appended: {other:?}"),
        };

        let store = SqliteStore::open(dir.path()).unwrap();
        store
            .create_namespace(&ns, "", &TokenHash::from_bytes([0; 32]))
            .await
            .unwrap();
        for expected in 1..=3 {
            let outcome = store.write(&ns, message("s-1")).await.unwrap();
            assert_eq!(global_position(outcome), expected);
        }
        store.close().await;

        let store = SqliteStore::open(dir.path()).unwrap();
        let outcome = store.write(&ns, message("s-1")).await.unwrap();
        assert_eq!(
            global_position(outcome),
            4,
            "continues after the stored rows"
        );
        store.clear_namespace(&ns).await.unwrap();
        store.close().await;

        let store = SqliteStore::open(dir.path()).unwrap();
        let outcome = store.write(&ns, message("s-1")).await.unwrap();
        assert_eq!(
            global_position(outcome),
            5,
            "positions removed by clear are not handed out again"
        );
        store.close().await;
    }

    /// A batch larger than [`MAX_BATCH`] is split, and positions stay gapless across the split.
    #[allow(clippy::await_holding_lock)]
    #[tokio::test]
    async fn batches_are_bounded() {
        // On disk: in memory the drain runs inline, in the held test itself.
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path()).unwrap();
        let ns = NamespaceId::parse("bounded").unwrap();
        store
            .create_namespace(&ns, "", &TokenHash::from_bytes([0; 32]))
            .await
            .unwrap();
        // Opened first (a read writes nothing): otherwise the first writes would wait for the
        // open, not in the queue, and arrive after the drain has started.
        let stream = StreamName::parse("s-1").unwrap();
        let whole = messagedb_conformance::support::whole_stream();
        assert!(store
            .read_stream(&ns, &stream, &whole)
            .await
            .unwrap()
            .is_empty());
        let handle = store.open_namespace(&ns);
        let held = handle.shared().hold.lock().unwrap();
        let total = MAX_BATCH + 10;
        let mut pending: Vec<Pending<'_>> = Vec::new();
        tokio::task::unconstrained(async {
            for _ in 0..total {
                queue(&mut pending, store.write(&ns, message("s-1"))).await;
            }
        })
        .await;
        drop(held);
        let outcomes = futures::future::join_all(pending).await;
        for (i, outcome) in outcomes.into_iter().enumerate() {
            let i = i as i64;
            assert_eq!(
                outcome.unwrap(),
                WriteOutcome::Appended(Positions {
                    position: i,
                    global_position: i + 1
                })
            );
        }
        assert_eq!(
            handle.commits(),
            2,
            "{total} queued writes take two transactions"
        );
        store.close().await;
    }

    /// A read of a namespace without a read connection is served by its idle write connection
    /// (no second connection to open, and close again on eviction); once a drain is queued or
    /// running, reads open their own connection instead of waiting for the writer.
    // The hold is kept across a poll of the write and a read, neither of which waits for it.
    #[allow(clippy::await_holding_lock)]
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_idle_writer_serves_reads() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path()).unwrap();
        let ns = NamespaceId::parse("reads").unwrap();
        store
            .create_namespace(&ns, "", &TokenHash::from_bytes([1; 32]))
            .await
            .unwrap();
        store.write(&ns, message("s-1")).await.unwrap();
        let handle = store.open_namespace(&ns);
        let writes = &handle.shared().queue;
        // The write's answer can come before its drain has let go of the queue.
        while writes.scheduled.load(Ordering::SeqCst) {
            tokio::task::yield_now().await;
        }
        let stream = StreamName::parse("s-1").unwrap();
        let query = messagedb_conformance::support::whole_stream();
        for _ in 0..3 {
            assert_eq!(
                store.read_stream(&ns, &stream, &query).await.unwrap().len(),
                1
            );
        }
        assert_eq!(store.read_connections_opened(), 0);

        // With a drain scheduled (held in the test hook), a read does not wait for it.
        let held = handle.shared().hold.lock().unwrap();
        let mut pending: Vec<Pending<'_>> = Vec::new();
        queue(&mut pending, store.write(&ns, message("s-1"))).await;
        assert_eq!(
            store.read_stream(&ns, &stream, &query).await.unwrap().len(),
            1
        );
        assert_eq!(store.read_connections_opened(), 1);
        drop(held);
        for outcome in futures::future::join_all(pending).await {
            outcome.unwrap();
        }
        store.close().await;
    }

    /// In memory, what takes milliseconds commits on a pool thread, so that the async worker's
    /// other requests do not wait for it: an import batch and a batch over [`INLINE_ROWS`]
    /// entries. A write and a small batch commit on the calling thread.
    #[tokio::test]
    async fn in_memory_slow_commands_commit_on_a_pool_thread() {
        let store = SqliteStore::open_in_memory().unwrap();
        let threads = Arc::new(CommitThreads::default());
        store.set_commit_listener(Arc::clone(&threads) as _);
        let ns = NamespaceId::parse("slow").unwrap();
        store
            .create_namespace(&ns, "", &TokenHash::from_bytes([0; 32]))
            .await
            .unwrap();
        let batch = |entries: usize| BatchRequest {
            entries: (0..entries)
                .map(|_| WriteRequest::new(message("b-1")))
                .collect(),
            expected_versions: Vec::new(),
            condition: None,
        };
        store.write(&ns, message("s-1")).await.unwrap();
        store.write_batch(&ns, batch(INLINE_ROWS)).await.unwrap();
        let records = (0..3)
            .map(|i| messagedb_conformance::import::record("i-1", i, 1000 + i))
            .collect();
        store.import_batch(&ns, records).await.unwrap();
        store
            .write_batch(&ns, batch(INLINE_ROWS + 1))
            .await
            .unwrap();
        let here = std::thread::current().id();
        let inline: Vec<bool> = threads
            .0
            .lock()
            .unwrap()
            .iter()
            .map(|&thread| thread == here)
            .collect();
        assert_eq!(inline, [true, true, false, false]);
        store.close().await;
    }

    /// Records the thread each commit is reported on.
    #[derive(Default)]
    struct CommitThreads(Mutex<Vec<std::thread::ThreadId>>);

    impl messagedb_core::CommitListener for CommitThreads {
        fn committed(&self, _: &NamespaceId, _: &[Committed]) {
            let mut threads = self.0.lock().unwrap();
            threads.push(std::thread::current().id());
        }
        fn deleted(&self, _: &NamespaceId, _: &messagedb_core::Deletion) {}
        fn ended(&self, _: &NamespaceId) {}
    }

    /// Where a namespace's writes commit: in memory on the thread of the task that asks (no
    /// hand-off to the blocking pool, and so no wake-ups), on disk on a pool thread. A drain
    /// reports its commits on its own thread, before it answers.
    #[tokio::test]
    async fn in_memory_writes_commit_on_the_calling_thread() {
        let dir = tempfile::tempdir().unwrap();
        for (store, inline) in [
            (SqliteStore::open_in_memory().unwrap(), true),
            (SqliteStore::open(dir.path()).unwrap(), false),
        ] {
            let threads = Arc::new(CommitThreads::default());
            store.set_commit_listener(Arc::clone(&threads) as _);
            let ns = NamespaceId::parse("inline").unwrap();
            store
                .create_namespace(&ns, "", &TokenHash::from_bytes([0; 32]))
                .await
                .unwrap();
            for _ in 0..3 {
                store.write(&ns, message("s-1")).await.unwrap();
            }
            let here = std::thread::current().id();
            let threads = threads.0.lock().unwrap().clone();
            assert_eq!(threads.len(), 3);
            assert!(
                threads.iter().all(|&thread| (thread == here) == inline),
                "inline: {inline}, this thread: {here:?}, commits on: {threads:?}"
            );
            store.close().await;
        }
    }
}
