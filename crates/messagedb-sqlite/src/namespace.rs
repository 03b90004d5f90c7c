//! One open namespace: its registry record, its writer thread, its read connections, and the
//! gate that orders reads, writes, deletion and close.
//!
//! The gate is a `RwLock<Status>`. Every read holds it shared while it runs. The writer holds it
//! shared (on disk) or exclusively (in memory, where `memdb` has no WAL and a reader must not see
//! a transaction in progress) while a batch transaction runs. Deletion and close take it
//! exclusively to change the status, which therefore waits for in-flight work and makes every
//! later read or write see the new status: a read that starts after a deletion reports
//! `NamespaceNotFound` instead of reading a database that is being removed.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use messagedb_core::{
    ImportError, ImportRecord, NamespaceId, NamespaceKey, NamespaceRecord, StoreError, TokenHash,
    WriteOutcome, WriteRequest,
};
use rusqlite::Connection;
use tokio::sync::Semaphore;

use crate::error::{self, TaskFailed};
use crate::location::Location;
use crate::publish::Publisher;
use crate::schema::{MigrateError, NAMESPACE};
use crate::writer::{self, SpawnError, StopReport, WriterHandle};

/// At most this many reads of one namespace run at once, each on its own pooled connection.
/// The machine has few cores; more connections would only add memory and cache misses.
const MAX_READERS: usize = 4;

/// What a namespace's connections may still do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Status {
    Open,
    /// Deleted: every operation reports `NamespaceNotFound`.
    Deleted,
    /// The store is closing: reads fail, queued writes still commit.
    Closed,
}

/// Why a namespace is being shut down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Shutdown {
    /// `ns.delete`: queued writes are refused; reports the final message count.
    Delete,
    /// `Store::close`: queued writes are committed first.
    Close,
}

/// Why a namespace database could not be opened.
#[derive(Debug, thiserror::Error)]
pub(crate) enum OpenNamespaceError {
    #[error(transparent)]
    Schema(#[from] MigrateError),
    #[error(transparent)]
    Writer(#[from] SpawnError),
}

pub(crate) struct Namespace {
    /// The registry record; only the token hash ever changes.
    record: RwLock<NamespaceRecord>,
    /// Names the database; needed again to remove its files.
    key: NamespaceKey,
    shared: Arc<Shared>,
    writer: WriterHandle,
}

/// The state the writer thread and the blocking read tasks share with the handle.
pub(crate) struct Shared {
    pub(crate) id: NamespaceId,
    key: NamespaceKey,
    location: Arc<Location>,
    /// The gate (see the module documentation).
    status: RwLock<Status>,
    /// Mirrors `status == Deleted` so async code can classify a failure without blocking on
    /// the gate.
    deleted: AtomicBool,
    /// Idle read connections, opened lazily, at most [`MAX_READERS`].
    readers: Mutex<Vec<Connection>>,
    read_permits: Arc<Semaphore>,
    /// Write transactions committed since open (group commit makes this ≤ the writes).
    pub(crate) commits: AtomicU64,
    /// Where the writer reports its commits (shared by every namespace of the store).
    pub(crate) publisher: Arc<Publisher>,
    /// Lets unit tests hold the writer between receiving a request and draining the queue, so
    /// that a batch's composition is deterministic.
    #[cfg(test)]
    pub(crate) hold: Mutex<()>,
}

/// The writer's hold on the gate for one batch transaction.
pub(crate) enum WriteGate<'a> {
    Shared(RwLockReadGuard<'a, Status>),
    Exclusive(RwLockWriteGuard<'a, Status>),
}

impl WriteGate<'_> {
    pub(crate) fn status(&self) -> Status {
        match self {
            WriteGate::Shared(guard) => **guard,
            WriteGate::Exclusive(guard) => **guard,
        }
    }
}

impl Namespace {
    /// Opens (creating and migrating if needed) a namespace database and starts its writer.
    pub(crate) fn open(
        location: Arc<Location>,
        key: NamespaceKey,
        record: NamespaceRecord,
        publisher: Arc<Publisher>,
    ) -> Result<Namespace, OpenNamespaceError> {
        let mut conn = location.open_writer(&key).map_err(MigrateError::from)?;
        NAMESPACE.migrate(&mut conn)?;
        let shared = Arc::new(Shared {
            id: record.id.clone(),
            key: key.clone(),
            location,
            status: RwLock::new(Status::Open),
            deleted: AtomicBool::new(false),
            readers: Mutex::new(Vec::with_capacity(MAX_READERS)),
            read_permits: Arc::new(Semaphore::new(MAX_READERS)),
            commits: AtomicU64::new(0),
            publisher,
            #[cfg(test)]
            hold: Mutex::new(()),
        });
        let writer = writer::spawn(conn, Arc::clone(&shared))?;
        Ok(Namespace {
            record: RwLock::new(record),
            key,
            shared,
            writer,
        })
    }

    pub(crate) fn record(&self) -> NamespaceRecord {
        self.record
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub(crate) fn set_token_hash(&self, hash: TokenHash) {
        self.record
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .token_hash = hash;
    }

    pub(crate) fn key(&self) -> &NamespaceKey {
        &self.key
    }

    pub(crate) fn commits(&self) -> u64 {
        self.shared.commits.load(Ordering::Relaxed)
    }

    #[cfg(test)]
    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// Queues a write and waits until it is durably committed (or refused).
    pub(crate) async fn write(&self, request: WriteRequest) -> Result<WriteOutcome, StoreError> {
        match self.writer.submit(request).await {
            Some(outcome) => outcome,
            None => Err(self.shared.gone()),
        }
    }

    /// Queues an import batch and waits until it is durably committed (or refused).
    pub(crate) async fn import(&self, records: Vec<ImportRecord>) -> Result<(), ImportError> {
        match self.writer.import(records).await {
            Some(outcome) => outcome,
            None => Err(self.shared.gone().into()),
        }
    }

    /// Deletes every message through the writer, after the writes queued before.
    pub(crate) async fn clear(&self) -> Result<(), StoreError> {
        match self.writer.clear().await {
            Some(outcome) => outcome,
            None => Err(self.shared.gone()),
        }
    }

    /// Runs `op` on a pooled read connection in a blocking task.
    pub(crate) async fn read<T, F>(&self, op: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        // The permit is taken before a blocking thread is: excess reads queue here, cheaply.
        let permit = Arc::clone(&self.shared.read_permits)
            .acquire_owned()
            .await
            .map_err(|_| error::closed())?;
        let shared = Arc::clone(&self.shared);
        tokio::task::spawn_blocking(move || {
            let result = shared.with_reader(op);
            drop(permit);
            result
        })
        .await
        .map_err(|e| StoreError::backend(TaskFailed(e.to_string())))?
    }

    /// Stops the namespace: waits for in-flight reads and the current write batch, refuses
    /// further reads, closes the read connections, then stops the writer (which closes last, so
    /// SQLite checkpoints and removes the WAL). Blocking. Returns the final message count for
    /// [`Shutdown::Delete`].
    pub(crate) fn shutdown(&self, reason: Shutdown) -> Result<Option<u64>, StoreError> {
        self.close_gate(reason);
        let report = match reason {
            Shutdown::Delete => StopReport::MessageCount,
            Shutdown::Close => StopReport::Nothing,
        };
        self.writer.stop(report).map_err(error::sqlite)
    }

    /// Marks the namespace deleted: waits for the write batch in progress (which publishes its
    /// commits while holding the gate), after which the writer refuses every queued write, so
    /// nothing of this namespace is committed or published any more. Blocking; quick.
    pub(crate) fn mark_deleted(&self) {
        self.close_gate(Shutdown::Delete);
    }

    /// Sets the status for `reason` under the exclusive gate and drops the idle readers.
    fn close_gate(&self, reason: Shutdown) {
        let mut status = self
            .shared
            .status
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        *status = match reason {
            Shutdown::Delete => Status::Deleted,
            Shutdown::Close => Status::Closed,
        };
        if reason == Shutdown::Delete {
            self.shared.deleted.store(true, Ordering::Release);
        }
        self.shared
            .readers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }
}

impl Shared {
    /// The error for an operation that found the namespace gone.
    pub(crate) fn gone(&self) -> StoreError {
        if self.deleted.load(Ordering::Acquire) {
            StoreError::NamespaceNotFound(self.id.clone())
        } else {
            error::closed()
        }
    }

    /// The writer's hold on the gate for one transaction (see the module documentation).
    pub(crate) fn enter_write(&self) -> WriteGate<'_> {
        if self.location.writer_excludes_readers() {
            WriteGate::Exclusive(self.status.write().unwrap_or_else(PoisonError::into_inner))
        } else {
            WriteGate::Shared(self.status.read().unwrap_or_else(PoisonError::into_inner))
        }
    }

    fn with_reader<T>(
        &self,
        op: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> Result<T, StoreError> {
        let status = self.status.read().unwrap_or_else(PoisonError::into_inner);
        match *status {
            Status::Open => {}
            Status::Deleted => return Err(StoreError::NamespaceNotFound(self.id.clone())),
            Status::Closed => return Err(error::closed()),
        }
        let idle = self
            .readers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        let conn = match idle {
            Some(conn) => conn,
            None => self
                .location
                .open_reader(&self.key)
                .map_err(error::sqlite)?,
        };
        let result = op(&conn).map_err(error::sqlite);
        // Returned while the gate is still held, so a shutdown's `clear` sees every connection.
        self.readers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(conn);
        drop(status);
        result
    }
}
