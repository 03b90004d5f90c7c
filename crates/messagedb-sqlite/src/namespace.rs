//! One namespace: its registry record, its write queue, its read connections, the lease that
//! keeps its storage open, and the gate that orders reads, writes, deletion and close.
//!
//! **Leases.** A namespace's database connections are open only while it holds a slot of the
//! store's [`Cache`]. Every operation first takes a [`Lease`] (`Shared::lease`), opening the
//! storage if it is closed; a queued write carries its lease until it is answered. A namespace
//! with no lease is idle and may be closed to make room for another. Taking a lease on an open
//! namespace is two atomic operations (count the user, then check the state); closing marks the
//! state first and then checks the count, so of a lease and a close that race, at least one sees
//! the other and backs off (both use sequentially consistent order).
//!
//! **The gate** is a `RwLock<Status>`. Every read holds it shared while it runs. The writer holds
//! it shared (on disk) or exclusively (in memory, where `memdb` has no WAL and a reader must not
//! see a transaction in progress) while a group transaction runs. Deletion and close take it
//! exclusively to change the status, which therefore waits for in-flight work and makes every
//! later read or write see the new status: a read that starts after a deletion reports
//! `NamespaceNotFound` instead of reading a database that is being removed.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard, TryLockError};

use messagedb_core::{
    BatchOutcome, BatchRequest, DeleteOutcome, DeleteRequest, ImportError, ImportRecord,
    NamespaceId, NamespaceKey, NamespaceRecord, StoreError, TokenHash, WriteOutcome, WriteRequest,
};
use rusqlite::config::DbConfig;
use rusqlite::Connection;
use tokio::sync::{OwnedMutexGuard, Semaphore};

use crate::cache::Cache;
use crate::error::{self, TaskFailed};
use crate::location::Location;
use crate::publish::Publisher;
use crate::reads;
use crate::schema::{MigrateError, NAMESPACE};
use crate::writer::{self, Command, Queue, Writer};

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

/// The storage of a namespace is closed: no connection, no slot.
const CLOSED: u8 = 0;
/// Open: connections may exist, the namespace holds a slot.
const OPEN: u8 = 1;
/// Being closed; a lease that sees this waits for the close and reopens.
const CLOSING: u8 = 2;

pub(crate) struct Namespace {
    /// The registry record; only the token hash ever changes.
    record: RwLock<NamespaceRecord>,
    shared: Arc<Shared>,
}

/// The state the writer, the blocking read tasks and the cache share with the handle.
pub(crate) struct Shared {
    pub(crate) id: NamespaceId,
    pub(crate) key: NamespaceKey,
    pub(crate) location: Arc<Location>,
    pub(crate) cache: Arc<Cache>,
    /// The gate (see the module documentation).
    status: RwLock<Status>,
    /// Mirrors `status == Deleted` so async code can classify a failure without blocking on
    /// the gate.
    deleted: AtomicBool,
    /// Mirrors `status == Closed`: no new lease.
    stopped: AtomicBool,
    /// Evicted without a checkpoint since it was last checkpointed: a WAL file may be on disk,
    /// which closing the store checkpoints.
    wal_left: AtomicBool,
    /// Leases held (operations in flight, writes queued).
    users: AtomicUsize,
    /// [`CLOSED`], [`OPEN`] or [`CLOSING`].
    state: AtomicU8,
    /// The cache's clock when the last lease was taken.
    last_used: AtomicU64,
    /// Held while the storage is being opened or closed.
    open_lock: Arc<tokio::sync::Mutex<()>>,
    /// Idle read connections, opened lazily, at most [`MAX_READERS`].
    readers: Mutex<Vec<Connection>>,
    read_permits: Arc<Semaphore>,
    /// The write queue and, while open, the write connection.
    pub(crate) queue: Queue,
    /// Write transactions committed since the store opened (group commit makes this ≤ the
    /// writes).
    pub(crate) commits: AtomicU64,
    /// Where the writer reports its commits (shared by every namespace of the store).
    pub(crate) publisher: Arc<Publisher>,
    /// Lets unit tests hold the writer between receiving a request and draining the queue, so
    /// that a group's composition is deterministic.
    #[cfg(test)]
    pub(crate) hold: Mutex<()>,
}

/// A hold on a namespace's open storage; while any exists, the storage is not closed.
pub(crate) struct Lease(Arc<Shared>);

impl Drop for Lease {
    fn drop(&mut self) {
        if self.0.users.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.0.cache.became_idle();
        }
    }
}

/// The writer's hold on the gate for one transaction.
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

/// An evicted namespace's WAL longer than this (about 64 pages) is checkpointed and truncated
/// before its connection closes (see `Shared::checkpoint_a_long_wal`). Measured with
/// `examples/reopen` (400 namespaces, 100 slots, 100 visits each), CPU per visit: 8 pages
/// 998 µs, 24: 957, 48: 937, 64: 942, 128: 1,025; without, 1,425 on average and growing.
const EVICTION_CHECKPOINT_WAL_BYTES: u64 = 64 * (4096 + 24);

/// Opens (creating and migrating if needed) a namespace's database for writing.
fn open_writer(location: &Location, key: &NamespaceKey) -> Result<Writer, MigrateError> {
    let conn = location.open_writer(key, &NAMESPACE)?;
    Ok(Writer::new(conn)?)
}

impl Namespace {
    /// A namespace whose storage is closed; it opens on first use.
    pub(crate) fn new(
        location: Arc<Location>,
        cache: Arc<Cache>,
        key: NamespaceKey,
        record: NamespaceRecord,
        publisher: Arc<Publisher>,
    ) -> Namespace {
        let shared = Arc::new(Shared {
            id: record.id.clone(),
            key,
            location,
            cache,
            status: RwLock::new(Status::Open),
            deleted: AtomicBool::new(false),
            stopped: AtomicBool::new(false),
            wal_left: AtomicBool::new(false),
            users: AtomicUsize::new(0),
            state: AtomicU8::new(CLOSED),
            last_used: AtomicU64::new(0),
            open_lock: Arc::new(tokio::sync::Mutex::new(())),
            readers: Mutex::new(Vec::with_capacity(MAX_READERS)),
            read_permits: Arc::new(Semaphore::new(MAX_READERS)),
            queue: Queue::new(),
            commits: AtomicU64::new(0),
            publisher,
            #[cfg(test)]
            hold: Mutex::new(()),
        });
        Namespace {
            record: RwLock::new(record),
            shared,
        }
    }

    /// Migrates the namespace's database now (at startup, where migrations run before
    /// listening), so that a storage failure is reported at once. On disk the database is closed
    /// again with SQLite's checkpoint, which removes the WAL: keeping it, as creation does, made
    /// a restart with 10,000 namespaces take 10.7 s to listen instead of 4.8 s (PROFILING.md).
    /// In memory, where closing would discard it, it stays open. Blocking.
    pub(crate) fn prepare_storage(&self) -> Result<(), MigrateError> {
        let writer = open_writer(&self.shared.location, &self.shared.key)?;
        if !self.shared.location.can_close() {
            self.keep_open(writer);
        }
        Ok(())
    }

    /// Creates the namespace's database, so that a storage failure is reported at once, and
    /// closes it as an eviction does, keeping the WAL: the first visit then finds it and
    /// creates no file, which would cost a directory sync on the path of its request
    /// (PROFILING.md, "Three costs found in the request log"). Closing the store checkpoints
    /// it. In memory the database stays open. Blocking.
    pub(crate) fn create_storage(&self) -> Result<(), MigrateError> {
        let writer = open_writer(&self.shared.location, &self.shared.key)?;
        if !self.shared.location.can_close() {
            self.keep_open(writer);
            return Ok(());
        }
        self.shared.skip_checkpoint_on_close(&writer);
        drop(writer);
        self.shared.closed_keeping_wal();
        Ok(())
    }

    /// In memory: the namespace stays open for good (closing would discard the database).
    fn keep_open(&self, writer: Writer) {
        self.shared.install(writer);
        self.shared
            .cache
            .opened_unreserved(Arc::clone(&self.shared));
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
        &self.shared.key
    }

    pub(crate) fn commits(&self) -> u64 {
        self.shared.commits.load(Ordering::Relaxed)
    }

    #[cfg(test)]
    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// Whether the namespace's storage is open now.
    pub(crate) fn is_open(&self) -> bool {
        self.shared.state.load(Ordering::SeqCst) == OPEN
    }

    /// Queues a write and waits until it is durably committed (or refused).
    pub(crate) async fn write(&self, request: WriteRequest) -> Result<WriteOutcome, StoreError> {
        let lease = self.shared.lease().await?;
        let (reply, outcome) = tokio::sync::oneshot::channel();
        writer::submit(&self.shared, Command::Write(request, reply, lease)).await;
        outcome.await.unwrap_or_else(|_| Err(self.shared.gone()))
    }

    /// Queues an atomic batch and waits until it is durably committed (or refused).
    pub(crate) async fn write_batch(
        &self,
        batch: BatchRequest,
    ) -> Result<BatchOutcome, StoreError> {
        let lease = self.shared.lease().await?;
        let (reply, outcome) = tokio::sync::oneshot::channel();
        writer::submit(&self.shared, Command::Batch(batch, reply, lease)).await;
        outcome.await.unwrap_or_else(|_| Err(self.shared.gone()))
    }

    /// Queues an import batch and waits until it is durably committed (or refused).
    pub(crate) async fn import(&self, records: Vec<ImportRecord>) -> Result<(), ImportError> {
        let lease = self.shared.lease().await?;
        let (reply, outcome) = tokio::sync::oneshot::channel();
        writer::submit(&self.shared, Command::Import(records, reply, lease)).await;
        outcome
            .await
            .unwrap_or_else(|_| Err(self.shared.gone().into()))
    }

    /// Removes messages of one stream through the writer (SPEC §18), chunk by chunk.
    pub(crate) async fn delete_messages(
        &self,
        request: DeleteRequest,
    ) -> Result<DeleteOutcome, StoreError> {
        let lease = self.shared.lease().await?;
        let (reply, outcome) = tokio::sync::oneshot::channel();
        let job = Box::new(crate::deletion::DeleteJob::new(request, reply));
        writer::submit(&self.shared, Command::Delete(job, lease)).await;
        outcome.await.unwrap_or_else(|_| Err(self.shared.gone()))
    }

    /// Deletes every message through the writer, after the writes queued before.
    pub(crate) async fn clear(&self) -> Result<(), StoreError> {
        let lease = self.shared.lease().await?;
        let (reply, outcome) = tokio::sync::oneshot::channel();
        writer::submit(&self.shared, Command::Clear(reply, lease)).await;
        outcome.await.unwrap_or_else(|_| Err(self.shared.gone()))
    }

    /// Runs `op` on a pooled read connection in a blocking task (in memory, on this task's
    /// async worker: `Location::runs_inline`).
    pub(crate) async fn read<T, F>(&self, op: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        let lease = self.shared.lease().await?;
        let op = if self.shared.location.runs_inline() {
            // Unless a transaction on a pool thread holds the gate (an import batch, say): the
            // read would block the async worker until it ends, so it waits on the pool instead.
            let inline = match self.shared.try_gate() {
                Some(status) => Ok(self.shared.read_through(status, op)),
                None => Err(op),
            };
            match inline {
                Ok(result) => {
                    drop(lease);
                    // Like a socket read (a write's answer is a channel, which does the same): a
                    // task that does nothing but read would otherwise never give the worker back.
                    tokio::task::coop::consume_budget().await;
                    return result;
                }
                Err(op) => op,
            }
        } else {
            op
        };
        // The permits are taken before a blocking thread is: excess reads queue here, cheaply.
        let permit = Arc::clone(&self.shared.read_permits)
            .acquire_owned()
            .await
            .map_err(|_| error::closed())?;
        let thread = Arc::clone(&self.shared.cache.reads)
            .acquire_owned()
            .await
            .map_err(|_| error::closed())?;
        let shared = Arc::clone(&self.shared);
        tokio::task::spawn_blocking(move || {
            let result = shared.with_reader(op);
            drop((permit, thread, lease));
            result
        })
        .await
        .map_err(|e| StoreError::backend(TaskFailed(e.to_string())))?
    }

    /// Stops the namespace for good: sets the status (which waits for in-flight reads and the
    /// current group), waits until every queued write is answered (committed on close, refused
    /// on delete), then closes the storage and gives its slot back. Returns the final message
    /// count for [`Shutdown::Delete`].
    pub(crate) async fn shutdown(&self, reason: Shutdown) -> Result<Option<u64>, StoreError> {
        let shared = Arc::clone(&self.shared);
        blocking(move || {
            shared.close_gate(reason);
            Ok(())
        })
        .await?;
        let shared = Arc::clone(&self.shared);
        self.shared
            .cache
            .wait_until(|| shared.users.load(Ordering::SeqCst) == 0)
            .await;
        let guard = Arc::clone(&self.shared.open_lock).lock_owned().await;
        let shared = Arc::clone(&self.shared);
        let count = blocking(move || {
            let count = match reason {
                Shutdown::Delete => Some(shared.message_count().map_err(error::sqlite)?),
                Shutdown::Close => None,
            };
            Ok(count)
        })
        .await;
        if self.shared.state.swap(CLOSED, Ordering::SeqCst) == OPEN {
            self.shared.cache.remove(&self.shared);
            let shared = Arc::clone(&self.shared);
            // Closing the write connection last lets SQLite checkpoint and remove the WAL.
            blocking(move || {
                shared.drop_connections();
                Ok(())
            })
            .await?;
        } else if reason == Shutdown::Close && self.shared.wal_left.load(Ordering::Acquire) {
            // Evicted without a checkpoint: open and close it once more, so that a stopped
            // store is one file per namespace, as a copy of the data directory expects.
            let shared = Arc::clone(&self.shared);
            blocking(move || {
                drop(open_writer(&shared.location, &shared.key).map_err(StoreError::backend)?);
                shared.wal_left.store(false, Ordering::Release);
                Ok(())
            })
            .await?;
        }
        drop(guard);
        count
    }

    /// Marks the namespace deleted: waits for the group in progress (which publishes its commits
    /// while holding the gate), after which every queued write is refused, so nothing of this
    /// namespace is committed or published any more. Blocking; quick.
    pub(crate) fn mark_deleted(&self) {
        self.shared.close_gate(Shutdown::Delete);
    }
}

/// Runs blocking work on tokio's blocking pool.
async fn blocking<T: Send + 'static>(
    op: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    tokio::task::spawn_blocking(op)
        .await
        .map_err(|e| StoreError::backend(TaskFailed(e.to_string())))?
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

    /// A lease on the namespace's open storage, opening it first if it is closed.
    ///
    /// The lease is counted before the storage is opened and kept while it opens: a namespace
    /// that has just been opened is never idle, so neither the background trim nor another
    /// opener can close it again before its first operation runs (they did, when the opener
    /// took its lease only afterwards: with more namespaces than slots, most opens were undone
    /// at once and redone, about 20 per request).
    pub(crate) async fn lease(self: &Arc<Self>) -> Result<Lease, StoreError> {
        loop {
            self.users.fetch_add(1, Ordering::SeqCst);
            let lease = Lease(Arc::clone(self));
            if self.state.load(Ordering::SeqCst) == OPEN {
                self.last_used.store(self.cache.tick(), Ordering::Relaxed);
                return Ok(lease);
            }
            if self.deleted.load(Ordering::Acquire) || self.stopped.load(Ordering::Acquire) {
                return Err(self.gone());
            }
            self.open().await?;
            // Still leased, so still open unless it was being closed when the open began
            // (a close that had already marked it closing finishes first): then again.
            if self.state.load(Ordering::SeqCst) == OPEN {
                self.last_used.store(self.cache.tick(), Ordering::Relaxed);
                return Ok(lease);
            }
        }
    }

    /// Opens the storage (unless someone else did meanwhile). It runs as a task of its own, so
    /// that a caller that gives up (a client that went away) cannot leave a slot half taken.
    async fn open(self: &Arc<Self>) -> Result<(), StoreError> {
        let shared = Arc::clone(self);
        let task = tokio::spawn(async move {
            let _guard = Arc::clone(&shared.open_lock).lock_owned().await;
            if shared.state.load(Ordering::SeqCst) == OPEN {
                return Ok(());
            }
            if shared.deleted.load(Ordering::Acquire) || shared.stopped.load(Ordering::Acquire) {
                return Err(shared.gone());
            }
            shared.cache.reserve().await;
            let opened = {
                let permit = Arc::clone(&shared.cache.jobs).acquire_owned().await;
                let (location, key) = (Arc::clone(&shared.location), shared.key.clone());
                let opened =
                    blocking(move || open_writer(&location, &key).map_err(StoreError::backend))
                        .await;
                drop(permit);
                opened
            };
            match opened {
                Ok(writer) => {
                    shared
                        .last_used
                        .store(shared.cache.tick(), Ordering::Relaxed);
                    shared.cache.count_open();
                    shared.install(writer);
                    shared.cache.opened(Arc::clone(&shared));
                    shared.cache.trim();
                    Ok(())
                }
                Err(e) => {
                    shared.cache.unreserve();
                    let file = shared.location.describe_namespace(&shared.key);
                    tracing::error!(namespace = %shared.id, %file, error = %e, "cannot open a namespace");
                    Err(e)
                }
            }
        });
        task.await
            .map_err(|e| StoreError::backend(TaskFailed(e.to_string())))?
    }

    /// Makes `writer` the namespace's write connection and marks the storage open.
    fn install(&self, writer: Writer) {
        self.queue.set_writer(Some(writer));
        self.state.store(OPEN, Ordering::SeqCst);
    }

    /// Whether the storage is open and nobody holds a lease.
    pub(crate) fn is_idle(&self) -> bool {
        self.users.load(Ordering::SeqCst) == 0 && self.state.load(Ordering::SeqCst) == OPEN
    }

    pub(crate) fn last_used(&self) -> u64 {
        self.last_used.load(Ordering::Relaxed)
    }

    /// Starts closing an idle namespace: takes its open lock and marks it closing, unless
    /// someone is opening it or holds a lease. Never waits.
    pub(crate) fn try_begin_close(&self) -> Option<OwnedMutexGuard<()>> {
        let guard = Arc::clone(&self.open_lock).try_lock_owned().ok()?;
        if self
            .state
            .compare_exchange(OPEN, CLOSING, Ordering::SeqCst, Ordering::SeqCst)
            .is_err()
        {
            return None;
        }
        if self.users.load(Ordering::SeqCst) != 0 {
            // A lease came first: it keeps the namespace open.
            self.state.store(OPEN, Ordering::SeqCst);
            return None;
        }
        Some(guard)
    }

    /// Closes the storage of a namespace marked closing (see [`Shared::try_begin_close`]).
    pub(crate) async fn close_storage(self: &Arc<Self>) {
        let permit = Arc::clone(&self.cache.jobs).acquire_owned().await;
        let shared = Arc::clone(self);
        let closed = blocking(move || {
            shared.evict_connections();
            Ok(())
        })
        .await;
        drop(permit);
        if let Err(e) = closed {
            tracing::error!(namespace = %self.id, error = %e, "closing a namespace failed");
        }
        self.state.store(CLOSED, Ordering::SeqCst);
    }

    /// Closes the read connections, then the write connection (last, so that SQLite checkpoints
    /// the WAL and removes it: a deleted or shut-down namespace leaves one file). Blocking.
    fn drop_connections(&self) {
        self.readers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
        self.queue.set_writer(None);
    }

    /// Closes the connections of a namespace evicted to make room, without the checkpoint that
    /// SQLite runs when the last connection closes: the WAL stays on disk (it is as durable as
    /// the database, and the next open reads it), so an eviction usually costs no fsync on the
    /// path of the request waiting for the slot. A long WAL is checkpointed first, since every
    /// reopen would read it all. Blocking.
    fn evict_connections(&self) {
        self.readers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
        self.queue.with_writer(|writer| {
            self.checkpoint_a_long_wal(writer);
            self.skip_checkpoint_on_close(writer);
        });
        self.queue.set_writer(None);
        // Every connection is closed now (leases keep reads and writes out while closing).
        self.closed_keeping_wal();
    }

    /// Checkpoints the WAL and truncates it to nothing when it is longer than
    /// [`EVICTION_CHECKPOINT_WAL_BYTES`]. The next open reads the whole WAL to rebuild its index,
    /// so without this, reopening costs more the longer the namespace has been written since
    /// its last checkpoint: up to the writer's 500-page threshold, 2 MB read and checksummed
    /// per reopen. Measured (`examples/reopen`, PROFILING.md "Three costs found in the request log"):
    /// CPU per visit grew from 0.9 to 2.0 ms over 100 visits per namespace; with the checkpoint
    /// it stays at 0.94 ms. A failure (busy) only means the WAL stays as long as it was.
    fn checkpoint_a_long_wal(&self, writer: &Writer) {
        if self
            .location
            .wal_len(&self.key)
            .is_none_or(|len| len <= EVICTION_CHECKPOINT_WAL_BYTES)
        {
            return;
        }
        let checkpoint = writer
            .conn()
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |row| {
                row.get::<_, i64>(0)
            });
        if let Err(error) = checkpoint {
            tracing::warn!(namespace = %self.id, %error, "checkpoint before closing failed");
        }
    }

    /// Makes closing `writer`, the last connection, leave the WAL as it is.
    fn skip_checkpoint_on_close(&self, writer: &Writer) {
        if let Err(error) = writer
            .conn()
            .set_db_config(DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, true)
        {
            tracing::warn!(namespace = %self.id, %error, "closing with a checkpoint");
        }
    }

    /// Records that the last connection closed without a checkpoint, and empties the WAL index,
    /// which only connections use (see [`Location::discard_wal_index`]).
    fn closed_keeping_wal(&self) {
        self.wal_left.store(true, Ordering::Release);
        self.location.discard_wal_index(&self.key);
    }

    /// The messages stored, read on the write connection if open, else on a fresh one.
    fn message_count(&self) -> rusqlite::Result<u64> {
        if let Some(count) = self
            .queue
            .with_writer(|writer| reads::message_count(writer.conn()))
        {
            return count;
        }
        let conn = self.location.open_reader(&self.key)?;
        reads::message_count_of_any_version(&conn)
    }

    /// The writer's hold on the gate for one transaction (see the module documentation).
    pub(crate) fn enter_write(&self) -> WriteGate<'_> {
        if self.location.writer_excludes_readers() {
            WriteGate::Exclusive(self.status.write().unwrap_or_else(PoisonError::into_inner))
        } else {
            WriteGate::Shared(self.status.read().unwrap_or_else(PoisonError::into_inner))
        }
    }

    /// Sets the status for `reason` under the exclusive gate and drops the idle readers.
    fn close_gate(&self, reason: Shutdown) {
        let mut status = self.status.write().unwrap_or_else(PoisonError::into_inner);
        *status = match reason {
            Shutdown::Delete => Status::Deleted,
            Shutdown::Close => Status::Closed,
        };
        match reason {
            Shutdown::Delete => self.deleted.store(true, Ordering::Release),
            Shutdown::Close => self.stopped.store(true, Ordering::Release),
        }
        self.readers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }

    fn with_reader<T>(
        &self,
        op: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> Result<T, StoreError> {
        let status = self.status.read().unwrap_or_else(PoisonError::into_inner);
        self.read_through(status, op)
    }

    /// The gate held shared, or `None` if the writer or a shutdown holds it now.
    fn try_gate(&self) -> Option<RwLockReadGuard<'_, Status>> {
        match self.status.try_read() {
            Ok(status) => Some(status),
            Err(TryLockError::Poisoned(poisoned)) => Some(poisoned.into_inner()),
            Err(TryLockError::WouldBlock) => None,
        }
    }

    /// Runs `op` on a read connection (or the idle write connection), holding the gate shared.
    fn read_through<T>(
        &self,
        status: RwLockReadGuard<'_, Status>,
        op: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> Result<T, StoreError> {
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
        if idle.is_none() {
            // No read connection yet (the namespace was just opened, or every one is busy):
            // the idle write connection serves the read, which spares opening one for a
            // namespace that is written and read now and then (a second connection to open,
            // parse the schema of, and close again on eviction).
            if let Some(writer) = self.queue.idle_writer() {
                return op(writer.conn()).map_err(error::sqlite);
            }
        }
        let conn = match idle {
            Some(conn) => conn,
            None => {
                self.cache.count_reader();
                self.location
                    .open_reader(&self.key)
                    .map_err(error::sqlite)?
            }
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

#[cfg(test)]
mod tests {
    use std::sync::mpsc;
    use std::time::Duration;

    use messagedb_conformance::support::{message, whole_stream};
    use messagedb_core::{NamespaceId, Store, StreamName, TokenHash};

    use crate::store::SqliteStore;

    /// A store in memory with namespace `id` holding one message, in stream `s-1`.
    async fn one_message(id: &str) -> (SqliteStore, NamespaceId) {
        let store = SqliteStore::open_in_memory().unwrap();
        let ns = NamespaceId::parse(id).unwrap();
        store
            .create_namespace(&ns, "", &TokenHash::from_bytes([0; 32]))
            .await
            .unwrap();
        store.write(&ns, message("s-1")).await.unwrap();
        (store, ns)
    }

    /// In memory a read completes without waiting, so it spends tokio's cooperative budget as a
    /// socket read would: a task that only reads gives the worker back now and then. On a
    /// one-thread runtime, the other task here runs while the reader loops; a reader that never
    /// yielded would finish its loop first (the conformance suite's `batches_are_seen_whole`
    /// hung that way, its writers stuck behind such a reader).
    #[tokio::test]
    async fn in_memory_reads_give_the_worker_back() {
        let (store, ns) = one_message("busy").await;
        let other_ran = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let reader = tokio::spawn({
            let (store, ns, other_ran) = (store.clone(), ns.clone(), other_ran.clone());
            async move {
                let stream = StreamName::parse("s-1").unwrap();
                for reads in 1..=10_000 {
                    store
                        .read_stream(&ns, &stream, &whole_stream())
                        .await
                        .unwrap();
                    if other_ran.load(std::sync::atomic::Ordering::Acquire) {
                        return reads;
                    }
                }
                panic!("10,000 reads and the other task never ran");
            }
        });
        tokio::spawn(async move { other_ran.store(true, std::sync::atomic::Ordering::Release) });
        assert!(reader.await.unwrap() <= 1_000);
        store.close().await;
    }

    /// In memory, a read that finds the gate held by a transaction on another thread (an
    /// import batch, say) waits for it on the blocking pool, not on the async worker: the
    /// worker's other tasks go on meanwhile. Here the test's own task runs on while the gate is
    /// held, and lets it go; a read that blocked the thread would leave the holder to give up.
    #[tokio::test]
    async fn in_memory_a_read_behind_the_writer_does_not_block_the_async_worker() {
        let (store, ns) = one_message("gated").await;
        let shared = std::sync::Arc::clone(store.open_namespace(&ns).shared());
        let (held_tx, held) = mpsc::channel();
        let (release, release_rx) = mpsc::channel::<()>();
        let holder = std::thread::spawn(move || {
            let gate = shared.status.write().unwrap();
            held_tx.send(()).unwrap();
            let released = release_rx.recv_timeout(Duration::from_secs(5)).is_ok();
            drop(gate);
            released
        });
        held.recv().unwrap();
        let read = tokio::spawn({
            let store = store.clone();
            let ns = ns.clone();
            async move {
                let stream = StreamName::parse("s-1").unwrap();
                store.read_stream(&ns, &stream, &whole_stream()).await
            }
        });
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
        release.send(()).unwrap();
        assert_eq!(read.await.unwrap().unwrap().len(), 1);
        assert!(
            holder.join().unwrap(),
            "the read blocked the async worker until the gate's holder gave up"
        );
        store.close().await;
    }
}
