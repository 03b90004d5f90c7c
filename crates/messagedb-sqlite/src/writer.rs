//! The write path: one OS thread per namespace owns the write connection and group-commits.
//!
//! Requests arrive on a bounded channel. The thread waits for one, then gathers whatever else is
//! queued (up to [`MAX_BATCH`], `messagedb_core::write::gather`) and runs the whole group in ONE
//! transaction: it reads what the group needs (the stored messages of the supplied ids, the
//! version of each stream), lets the shared write rule (`messagedb_core::decide`) give every
//! request its outcome in arrival order (idempotent retry, duplicate id, version conflict, or an
//! append at the next global position), inserts the rows it lists, commits (one fsync for the
//! group), and only then answers every request (SPEC §6.3, §10.3). Because a single thread
//! assigns positions and commits, commit order is gpos order and a reader can never see gpos
//! N+1 before N (I4).
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

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;

use messagedb_core::write::{gather, Append, Queued, StoredId, MAX_BATCH, QUEUE_CAPACITY};
use messagedb_core::{
    decide, Committed, ImportError, ImportRecord, Known, Lookups, Positions, StoreError, Timestamp,
    WriteOutcome, WriteRequest,
};
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use tokio::sync::{mpsc, oneshot};

use crate::error;
use crate::namespace::{Shared, Status};
use crate::reads;

/// What the writer reports when it stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StopReport {
    /// The number of messages in the namespace after the last commit (for `ns.delete`).
    MessageCount,
    Nothing,
}

type Reply = oneshot::Sender<Result<WriteOutcome, StoreError>>;

enum Command {
    Write(WriteRequest, Reply),
    /// An import batch (SPEC §9.3): its own transaction, after the writes queued before it.
    Import(Vec<ImportRecord>, oneshot::Sender<Result<(), ImportError>>),
    /// Delete every message (a forced import), after the writes queued before it.
    Clear(oneshot::Sender<Result<(), StoreError>>),
    /// Commit what was queued before, close the connection, report, exit.
    Stop(
        StopReport,
        std::sync::mpsc::Sender<rusqlite::Result<Option<u64>>>,
    ),
}

/// The namespace's handle on its writer thread.
pub(crate) struct WriterHandle {
    commands: mpsc::Sender<Command>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

/// Starts the writer thread of a namespace whose database `conn` has been migrated.
pub(crate) fn spawn(conn: Connection, shared: Arc<Shared>) -> Result<WriterHandle, SpawnError> {
    let next_global_position = next_global_position(&conn)?;
    let (commands, receiver) = mpsc::channel(QUEUE_CAPACITY);
    let writer = Writer {
        conn,
        shared,
        next_global_position,
    };
    let thread = std::thread::Builder::new()
        .name("messagedb-writer".to_owned())
        .spawn(move || writer.run(receiver))
        .map_err(SpawnError::Thread)?;
    Ok(WriterHandle {
        commands,
        thread: Mutex::new(Some(thread)),
    })
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum SpawnError {
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
    #[error("cannot start the writer thread: {0}")]
    Thread(std::io::Error),
}

impl WriterHandle {
    /// Queues a write and waits for its outcome; `None` if the writer has stopped.
    pub(crate) async fn submit(
        &self,
        request: WriteRequest,
    ) -> Option<Result<WriteOutcome, StoreError>> {
        let (reply, outcome) = oneshot::channel();
        self.commands
            .send(Command::Write(request, reply))
            .await
            .ok()?;
        outcome.await.ok()
    }

    /// Queues an import batch and waits for its commit; `None` if the writer has stopped.
    pub(crate) async fn import(
        &self,
        records: Vec<ImportRecord>,
    ) -> Option<Result<(), ImportError>> {
        let (reply, outcome) = oneshot::channel();
        self.commands
            .send(Command::Import(records, reply))
            .await
            .ok()?;
        outcome.await.ok()
    }

    /// Queues the removal of every message and waits for it; `None` if the writer has stopped.
    pub(crate) async fn clear(&self) -> Option<Result<(), StoreError>> {
        let (reply, outcome) = oneshot::channel();
        self.commands.send(Command::Clear(reply)).await.ok()?;
        outcome.await.ok()
    }

    /// Stops the writer after the writes queued so far and waits for its thread. Blocking.
    pub(crate) fn stop(&self, report: StopReport) -> rusqlite::Result<Option<u64>> {
        let (done, finished) = std::sync::mpsc::channel();
        let result = match self.commands.blocking_send(Command::Stop(report, done)) {
            Ok(()) => finished.recv().unwrap_or(Ok(None)),
            // Already stopped (a second shutdown, or the thread died).
            Err(_) => Ok(None),
        };
        let thread = self
            .thread
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(thread) = thread {
            if thread.join().is_err() {
                tracing::error!("a namespace writer thread panicked");
            }
        }
        result
    }
}

struct Writer {
    conn: Connection,
    shared: Arc<Shared>,
    /// The next global position to assign: the counter row, cached. Only this thread moves it.
    next_global_position: i64,
}

impl Writer {
    fn run(mut self, mut commands: mpsc::Receiver<Command>) {
        let mut batch: Vec<(WriteRequest, Reply)> = Vec::with_capacity(MAX_BATCH);
        while let Some(command) = commands.blocking_recv() {
            // A command other than a write ends the group: the writes before it commit first,
            // so everything keeps arrival order.
            let first = match command {
                Command::Write(request, reply) => Queued::Write((request, reply)),
                other => Queued::Other(other),
            };
            let next = match first {
                Queued::Write(write) => {
                    batch.push(write);
                    #[cfg(test)]
                    let held = self
                        .shared
                        .hold
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner);
                    let next = gather(&mut batch, || {
                        commands.try_recv().ok().map(|command| match command {
                            Command::Write(request, reply) => Queued::Write((request, reply)),
                            other => Queued::Other(other),
                        })
                    });
                    #[cfg(test)]
                    drop(held);
                    self.commit(&mut batch);
                    next
                }
                Queued::Other(other) => Some(other),
            };
            let stop = match next {
                None | Some(Command::Write(..)) => None,
                Some(Command::Import(records, reply)) => {
                    let _ = reply.send(self.import(&records));
                    None
                }
                Some(Command::Clear(reply)) => {
                    let _ = reply.send(self.clear());
                    None
                }
                Some(Command::Stop(report, done)) => Some((report, done)),
            };
            if let Some((report, done)) = stop {
                let result = match report {
                    StopReport::MessageCount => reads::message_count(&self.conn).map(Some),
                    StopReport::Nothing => Ok(None),
                };
                // Close the connection before answering: the caller may delete the files next.
                drop(self);
                let _ = done.send(result);
                // Requests queued after the stop are dropped with the channel; their callers
                // see the writer gone and report the namespace deleted or the store closed.
                return;
            }
        }
    }

    /// Runs one batch and answers every request in it.
    fn commit(&mut self, batch: &mut Vec<(WriteRequest, Reply)>) {
        let shared = Arc::clone(&self.shared);
        let gate = shared.enter_write();
        if gate.status() == Status::Deleted {
            drop(gate);
            for (_, reply) in batch.drain(..) {
                let _ = reply.send(Err(StoreError::NamespaceNotFound(shared.id.clone())));
            }
            return;
        }
        let outcomes = self.transaction(batch);
        drop(gate);
        match outcomes {
            Ok(outcomes) => {
                for ((_, reply), outcome) in batch.drain(..).zip(outcomes) {
                    let _ = reply.send(outcome);
                }
            }
            Err(e) => {
                tracing::error!(namespace = %shared.id, error = %e, "write transaction failed");
                let error = error::sqlite(e);
                for (_, reply) in batch.drain(..) {
                    let _ = reply.send(Err(error.clone()));
                }
            }
        }
    }

    /// Reports the appended messages of a committed group, in gpos order.
    fn publish(&self, appends: &[Append<'_>]) {
        let publisher = &self.shared.publisher;
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
        publisher.committed(&self.shared.id, &committed);
    }

    /// One transaction for the whole group, reported to the commit listener once committed;
    /// `Err` when nothing of it was committed.
    fn transaction(
        &mut self,
        batch: &[(WriteRequest, Reply)],
    ) -> rusqlite::Result<Vec<Result<WriteOutcome, StoreError>>> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let group = || batch.iter().map(|(request, _)| request);
        let known = read_known(&tx, &Lookups::of(group()), self.next_global_position)?;
        let decision = decide(group(), known);
        if decision.appends.is_empty() {
            // Only refusals and idempotent retries: nothing to commit.
            return Ok(decision.outcomes);
        }
        let now = Timestamp::now().as_micros();
        for append in &decision.appends {
            insert(&tx, append, now)?;
        }
        // The counter row is not moved here: the appended rows themselves say where the next
        // position is (see `next_global_position`). Only `clear`, which removes rows, and
        // `import` must write it. One page and one statement less per commit.
        tx.commit()?;
        self.next_global_position = decision.next_global_position;
        self.shared.commits.fetch_add(1, Ordering::Relaxed);
        self.publish(&decision.appends);
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
        if let Some(version) = reads::stream_version(conn, stream)? {
            known.versions.insert(stream, version);
        }
    }
    Ok(known)
}

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
    fn import(&mut self, records: &[ImportRecord]) -> Result<(), ImportError> {
        let shared = Arc::clone(&self.shared);
        let gate = shared.enter_write();
        if gate.status() == Status::Deleted {
            return Err(StoreError::NamespaceNotFound(shared.id.clone()).into());
        }
        let sqlite = |e: rusqlite::Error| ImportError::Store(error::sqlite(e));
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(sqlite)?;
        let mut highest = 0;
        for (index, record) in records.iter().enumerate() {
            import_one(&tx, record, index)?;
            highest = highest.max(record.global_position);
        }
        // Never backwards: an import below the head leaves the counter where it was.
        let next = self.next_global_position.max(highest + 1);
        save_counter(&tx, next).map_err(sqlite)?;
        tx.commit().map_err(sqlite)?;
        self.next_global_position = next;
        self.shared.commits.fetch_add(1, Ordering::Relaxed);
        if self.shared.publisher.is_listening() {
            let mut committed: Vec<Committed> = records
                .iter()
                .map(|r| Committed {
                    global_position: r.global_position,
                    stream_name: r.stream_name.as_str().to_owned(),
                    position: r.position,
                })
                .collect();
            committed.sort_unstable_by_key(|c| c.global_position);
            self.shared.publisher.committed(&self.shared.id, &committed);
        }
        drop(gate);
        Ok(())
    }

    /// Deletes every message, keeping the counter, and ends the namespace's subscriptions
    /// while the gate is held, so no commit of the old contents can be reported after it.
    fn clear(&mut self) -> Result<(), StoreError> {
        let shared = Arc::clone(&self.shared);
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
        tx.execute("DELETE FROM messages", [])
            .map_err(error::sqlite)?;
        save_counter(&tx, self.next_global_position).map_err(error::sqlite)?;
        tx.commit().map_err(error::sqlite)?;
        self.shared.publisher.ended(&self.shared.id);
        drop(gate);
        Ok(())
    }
}

/// Inserts one imported record after the §9.3 collision checks, in their order.
fn import_one(conn: &Connection, record: &ImportRecord, index: usize) -> Result<(), ImportError> {
    let sqlite = |e: rusqlite::Error| ImportError::Store(error::sqlite(e));
    let taken = conn
        .prepare_cached("SELECT 1 FROM messages WHERE global_position = ?1")
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

/// Writes the counter row. Appends do not move it (their rows are the record); it is saved
/// before rows are removed (`clear`) and when an import moves it.
fn save_counter(conn: &Connection, next: i64) -> rusqlite::Result<()> {
    conn.prepare_cached("UPDATE counter SET next_global_position = ?1")?
        .execute([next])?;
    Ok(())
}

/// The next global position to hand out: one past the highest stored position, or the
/// counter row if that is larger (after a `clear` removed the rows, or an import below the
/// head). Appends do not update the row, so the stored rows are what covers them.
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

    /// With the writer held, eight requests are queued in a known order; released, the writer
    /// takes them all into one transaction, and each gets the outcome its position in the batch
    /// implies, seeing the effects of the requests before it.
    // The hold is kept across awaits that only poll each write once; none waits for the writer.
    #[allow(clippy::await_holding_lock)]
    #[tokio::test]
    async fn one_transaction_carries_a_mixed_batch_in_arrival_order() {
        let store = SqliteStore::open_in_memory().unwrap();
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
        let store = SqliteStore::open_in_memory().unwrap();
        let ns = NamespaceId::parse("bounded").unwrap();
        store
            .create_namespace(&ns, "", &TokenHash::from_bytes([0; 32]))
            .await
            .unwrap();
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
}
