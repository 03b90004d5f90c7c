//! [`PostgresStore`]: the `Store` implementation and the lifecycle of namespaces.
//!
//! Several instances may share one database, so nothing here is the source of truth except
//! PostgreSQL. Each instance remembers which internal key (and so which schema) a namespace id
//! maps to, and starts a writer task for a namespace on its first write. That memory can go
//! stale when another instance deletes (and perhaps re-creates) a namespace: an operation that
//! then finds its schema or counter row gone (`NsError::Gone`, or an internal error while the
//! counter row is gone: `NsError::settle`) re-reads the registry once and retries under the new
//! key, or reports `NamespaceNotFound`.
//!
//! Deletion is one transaction: lock the registry row, lock the counter row (which waits for
//! in-flight write transactions of every instance, so the reported count is exact), delete the
//! registry and counter rows, drop the namespace's schema (which waits for in-flight reads),
//! and notify every instance. Reads that arrive later find the schema gone.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use async_trait::async_trait;
use deadpool_postgres::Pool;
use messagedb_core::{
    BatchOutcome, BatchRequest, CategoryQuery, CategorySummary, CommitListener, DeleteOutcome,
    DeleteRequest, Deletion, ImportError, ImportRecord, Message, NamespaceId, NamespaceInfo,
    NamespaceKey, NamespaceRecord, NamespaceSummary, NewMessage, Store, StoreError, StreamName,
    StreamQuery, StreamSummary, StreamsQuery, Timestamp, TokenHash, UnitOutcome, WriteOutcome,
    WriteRequest,
};
use tokio::sync::watch;
use tokio_postgres::types::Type;

use crate::connect::{Connector, PostgresOptions};
use crate::deletion;
use crate::error::{self, NsError, OpenError};
use crate::import::{self, ImportFailure};
use crate::listen::{self, ListenerSlot};
use crate::notify::{self, NamespaceEvent};
use crate::reads;
use crate::schema;
use crate::writer::{Rejected, Submission, Writer, WriterSlot};

/// The PostgreSQL store. Cheap to clone; every clone is the same store.
#[derive(Clone)]
pub struct PostgresStore {
    inner: Arc<Inner>,
}

struct Inner {
    pool: Pool,
    /// The listener the `LISTEN` task reports to.
    listener: Arc<ListenerSlot>,
    /// Turned true by `close`, which ends the `LISTEN` task.
    stop: watch::Sender<bool>,
    /// The namespaces this instance has used, by id.
    namespaces: RwLock<HashMap<NamespaceId, Arc<Handle>>>,
    closed: AtomicBool,
    /// How long an idle writer task lives (`PostgresOptions::writer_idle`).
    writer_idle: Duration,
}

/// What this instance knows about one namespace.
struct Handle {
    key: NamespaceKey,
    schema: String,
    /// Started on the first write through this instance; ends when idle (and empties the
    /// slot), and the next write starts a new one.
    writer: Arc<WriterSlot>,
}

impl Handle {
    /// The namespace's writer task on this instance, started if there is none running.
    fn writer(&self, pool: &Pool, idle: Duration) -> Writer {
        let mut slot = self.writer.lock().unwrap_or_else(PoisonError::into_inner);
        match &*slot {
            Some(writer) if !writer.has_stopped() => writer.clone(),
            _ => {
                let writer = Writer::spawn(
                    pool.clone(),
                    self.key.clone(),
                    idle,
                    Arc::downgrade(&self.writer),
                );
                *slot = Some(writer.clone());
                writer
            }
        }
    }

    fn new(key: NamespaceKey) -> Handle {
        Handle {
            schema: schema::namespace_schema(&key),
            key,
            writer: Arc::new(Mutex::new(None)),
        }
    }
}

impl PostgresStore {
    /// Connects, runs the migrations (under an advisory lock, so instances starting together
    /// migrate once), starts listening for notifications and returns the store. Fails if the
    /// database cannot be reached.
    pub async fn open(options: PostgresOptions) -> Result<PostgresStore, OpenError> {
        let connector = Connector::new(&options.url)?;
        let pool = connector.pool(options.pool_size)?;
        let mut conn = pool
            .get()
            .await
            .map_err(|e| OpenError::Database(e.to_string()))?;
        schema::migrate(&mut conn).await?;
        drop(conn);
        let slot = Arc::new(ListenerSlot::default());
        let (stop, stopped) = watch::channel(false);
        listen::start(connector, pool.clone(), Arc::clone(&slot), stopped)
            .await
            .map_err(|e| OpenError::Database(format!("cannot LISTEN: {e}")))?;
        Ok(PostgresStore {
            inner: Arc::new(Inner {
                pool,
                listener: slot,
                stop,
                namespaces: RwLock::new(HashMap::new()),
                closed: AtomicBool::new(false),
                writer_idle: options.writer_idle.max(Duration::from_millis(1)),
            }),
        })
    }

    fn read_map(&self) -> std::sync::RwLockReadGuard<'_, HashMap<NamespaceId, Arc<Handle>>> {
        self.inner
            .namespaces
            .read()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn write_map(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<NamespaceId, Arc<Handle>>> {
        self.inner
            .namespaces
            .write()
            .unwrap_or_else(PoisonError::into_inner)
    }

    async fn conn(&self) -> Result<deadpool_postgres::Object, StoreError> {
        if self.inner.closed.load(Ordering::Acquire) {
            return Err(error::closed());
        }
        self.inner.pool.get().await.map_err(error::pool)
    }

    /// The namespace's handle, from memory or else from the registry.
    async fn handle(&self, id: &NamespaceId) -> Result<Arc<Handle>, StoreError> {
        if self.inner.closed.load(Ordering::Acquire) {
            return Err(error::closed());
        }
        if let Some(handle) = self.read_map().get(id) {
            return Ok(Arc::clone(handle));
        }
        self.refresh(id)
            .await?
            .ok_or_else(|| StoreError::NamespaceNotFound(id.clone()))
    }

    /// Reads the namespace's registry row and brings this instance's memory in line with it.
    async fn refresh(&self, id: &NamespaceId) -> Result<Option<Arc<Handle>>, StoreError> {
        Ok(self.lookup(id).await?.map(|(handle, _)| handle))
    }

    /// The registry row of `id` (and its up-to-date handle), or `None`.
    async fn lookup(
        &self,
        id: &NamespaceId,
    ) -> Result<Option<(Arc<Handle>, NamespaceRecord)>, StoreError> {
        let conn = self.conn().await?;
        let row = conn
            .query_typed_opt(
                "SELECT key, token_hash, description, created_at \
                 FROM messagedb.namespaces WHERE id = $1",
                &[(&id.as_str(), Type::TEXT)],
            )
            .await
            .map_err(error::pg)?;
        let Some(row) = row else {
            self.write_map().remove(id);
            return Ok(None);
        };
        let key: String = row.try_get(0).map_err(error::pg)?;
        let hash: String = row.try_get(1).map_err(error::pg)?;
        let record = NamespaceRecord {
            id: id.clone(),
            token_hash: TokenHash::from_hex(&hash)
                .ok_or_else(|| StoreError::backend(InvalidRegistry(id.clone())))?,
            description: row.try_get(2).map_err(error::pg)?,
            created_at: Timestamp::from_micros(row.try_get(3).map_err(error::pg)?),
        };
        let key = NamespaceKey::parse(key)
            .map_err(|_| StoreError::backend(InvalidRegistry(id.clone())))?;
        let handle = self.remember(id, key);
        Ok(Some((handle, record)))
    }

    /// Records that `id` has key `key`, keeping the existing handle (and its writer) when the
    /// key is unchanged.
    fn remember(&self, id: &NamespaceId, key: NamespaceKey) -> Arc<Handle> {
        let mut map = self.write_map();
        match map.get(id) {
            Some(handle) if handle.key == key => Arc::clone(handle),
            _ => {
                let handle = Arc::new(Handle::new(key));
                map.insert(id.clone(), Arc::clone(&handle));
                handle
            }
        }
    }

    /// Forgets `id`, if this instance still maps it to `key`.
    fn forget(&self, id: &NamespaceId, key: &NamespaceKey) {
        let mut map = self.write_map();
        if map.get(id).is_some_and(|h| h.key == *key) {
            map.remove(id);
        }
    }

    /// Runs `op` on the namespace's storage under the key this instance knows. If the storage
    /// turns out to be gone (`Attempt::Gone`, which hands back `state`), re-reads the registry
    /// and retries once under a new key (the namespace was re-created elsewhere), or reports
    /// `NamespaceNotFound`. The one place where a stale key is recovered from.
    async fn retry_if_gone<T, E, S, F, Fut>(
        &self,
        id: &NamespaceId,
        mut state: S,
        op: F,
    ) -> Result<T, E>
    where
        E: From<StoreError>,
        F: Fn(Arc<Handle>, S) -> Fut,
        Fut: Future<Output = Attempt<T, E, S>>,
    {
        let mut handle = self.handle(id).await?;
        let mut retried = false;
        loop {
            match op(Arc::clone(&handle), state).await {
                Attempt::Done(result) => return result,
                Attempt::Gone(returned) => {
                    self.forget(id, &handle.key);
                    match self.refresh(id).await? {
                        Some(fresh) if !retried && fresh.key != handle.key => {
                            handle = fresh;
                            state = returned;
                            retried = true;
                        }
                        _ => return Err(StoreError::NamespaceNotFound(id.clone()).into()),
                    }
                }
            }
        }
    }

    /// Hands a unit to the namespace's writer task on this instance, starting one if none runs,
    /// and waits for its outcome.
    async fn submit(
        &self,
        ns: &NamespaceId,
        submission: Submission,
    ) -> Result<UnitOutcome, StoreError> {
        self.retry_if_gone(ns, submission, |handle, mut submission| async move {
            loop {
                let writer = handle.writer(&self.inner.pool, self.inner.writer_idle);
                match writer.submit(submission).await {
                    Ok(outcome) => return Attempt::Done(Ok(outcome)),
                    Err(Rejected::Store(e)) => return Attempt::Done(Err(e)),
                    Err(Rejected::Gone(returned)) => return Attempt::Gone(*returned),
                    // The task had gone idle and ended: the next round starts a new one.
                    Err(Rejected::Stopped(returned)) => submission = *returned,
                }
            }
        })
        .await
    }

    /// [`retry_if_gone`](Self::retry_if_gone) for an operation that reports `NsError`.
    async fn on_namespace<T, F, Fut>(&self, id: &NamespaceId, op: F) -> Result<T, StoreError>
    where
        F: Fn(Arc<Handle>) -> Fut,
        Fut: Future<Output = Result<T, NsError>>,
    {
        self.retry_if_gone(id, (), |handle, ()| {
            let attempt = op(Arc::clone(&handle));
            async move {
                match attempt.await {
                    Ok(value) => Attempt::Done(Ok(value)),
                    Err(e) => match e.settle(&self.inner.pool, &handle.key).await {
                        NsError::Store(e) => Attempt::Done(Err(e)),
                        NsError::Gone => Attempt::Gone(()),
                    },
                }
            }
        })
        .await
    }

    /// Runs a read of the namespace's messages on a pooled connection.
    async fn read<T, F, Fut>(&self, id: &NamespaceId, op: F) -> Result<T, StoreError>
    where
        F: Fn(deadpool_postgres::Object, Arc<Handle>) -> Fut,
        Fut: Future<Output = Result<T, tokio_postgres::Error>>,
    {
        self.on_namespace(id, |handle| {
            let conn = self.conn();
            let op = &op;
            async move {
                let conn = conn.await?;
                op(conn, handle).await.map_err(NsError::from)
            }
        })
        .await
    }

    async fn create(
        &self,
        id: &NamespaceId,
        description: &str,
        token_hash: &TokenHash,
    ) -> Result<(Timestamp, NamespaceKey), StoreError> {
        let key = NamespaceKey::random();
        let mut conn = self.conn().await?;
        let tx = conn.transaction().await.map_err(error::pg)?;
        let now = Timestamp::now().as_micros();
        let hash = token_hash.to_hex();
        // ON CONFLICT waits for a concurrent insert of the same id and then does nothing, so of
        // several instances creating one id (bootstrap of `default`) exactly one succeeds. The
        // createdAt is the clock, or 1 µs after the newest, so ns.list shows creation order.
        let row = tx
            .query_typed_opt(
                "INSERT INTO messagedb.namespaces (id, key, token_hash, description, created_at) \
                 VALUES ($1, $2, $3, $4, GREATEST($5, \
                     (SELECT max(created_at) + 1 FROM messagedb.namespaces))) \
                 ON CONFLICT (id) DO NOTHING RETURNING created_at",
                &[
                    (&id.as_str(), Type::TEXT),
                    (&key.as_str(), Type::TEXT),
                    (&hash, Type::TEXT),
                    (&description, Type::TEXT),
                    (&now, Type::INT8),
                ],
            )
            .await
            .map_err(error::pg)?;
        let Some(row) = row else {
            return Err(StoreError::NamespaceExists(id.clone()));
        };
        let created_at: i64 = row.try_get(0).map_err(error::pg)?;
        tx.batch_execute(&schema::namespace_ddl(&key))
            .await
            .map_err(error::pg)?;
        tx.execute_typed(
            "INSERT INTO messagedb.counters (key, next_global_position, message_count) \
             VALUES ($1, 1, 0)",
            &[(&key.as_str(), Type::TEXT)],
        )
        .await
        .map_err(error::pg)?;
        tx.commit().await.map_err(error::pg)?;
        Ok((Timestamp::from_micros(created_at), key))
    }

    async fn delete(&self, id: &NamespaceId) -> Result<u64, StoreError> {
        let mut conn = self.conn().await?;
        let tx = conn.transaction().await.map_err(error::pg)?;
        let row = tx
            .query_typed_opt(
                "SELECT key FROM messagedb.namespaces WHERE id = $1 FOR UPDATE",
                &[(&id.as_str(), Type::TEXT)],
            )
            .await
            .map_err(error::pg)?;
        let Some(row) = row else {
            return Err(StoreError::NamespaceNotFound(id.clone()));
        };
        let key: String = row.try_get(0).map_err(error::pg)?;
        let key = NamespaceKey::parse(key)
            .map_err(|_| StoreError::backend(InvalidRegistry(id.clone())))?;
        // Waits for the write transaction in flight on any instance; later ones find no row.
        let count: i64 = tx
            .query_typed_one(
                "SELECT message_count FROM messagedb.counters WHERE key = $1 FOR UPDATE",
                &[(&key.as_str(), Type::TEXT)],
            )
            .await
            .map_err(error::pg)?
            .try_get(0)
            .map_err(error::pg)?;
        tx.execute_typed(
            "DELETE FROM messagedb.namespaces WHERE id = $1",
            &[(&id.as_str(), Type::TEXT)],
        )
        .await
        .map_err(error::pg)?;
        tx.batch_execute(&format!(
            "DROP SCHEMA {} CASCADE",
            schema::namespace_schema(&key)
        ))
        .await
        .map_err(error::pg)?;
        let payload = notify::namespace_payload(key.as_str(), NamespaceEvent::Deleted, id.as_str());
        tx.execute_typed(notify::NOTIFY_ONE, &[(&payload, Type::TEXT)])
            .await
            .map_err(error::pg)?;
        tx.commit().await.map_err(error::pg)?;
        self.forget(id, &key);
        Ok(u64::try_from(count).unwrap_or(0))
    }
}

/// A registry row this version cannot use (hand-edited or corrupt).
#[derive(Debug, thiserror::Error)]
#[error("registry entry for namespace {0} is invalid")]
struct InvalidRegistry(NamespaceId);

impl fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresStore")
            .field("namespaces", &self.read_map().len())
            .finish()
    }
}

#[async_trait]
impl Store for PostgresStore {
    fn backend_name(&self) -> &'static str {
        "postgres"
    }

    fn set_commit_listener(&self, listener: Arc<dyn CommitListener>) {
        self.inner.listener.set(listener);
    }

    async fn create_namespace(
        &self,
        id: &NamespaceId,
        description: &str,
        token_hash: &TokenHash,
    ) -> Result<Timestamp, StoreError> {
        let (created_at, key) = self.create(id, description, token_hash).await?;
        self.remember(id, key);
        Ok(created_at)
    }

    async fn delete_namespace(&self, id: &NamespaceId) -> Result<u64, StoreError> {
        self.delete(id).await
    }

    async fn namespace(&self, id: &NamespaceId) -> Result<Option<NamespaceRecord>, StoreError> {
        Ok(self.lookup(id).await?.map(|(_, record)| record))
    }

    async fn set_token_hash(&self, id: &NamespaceId, hash: &TokenHash) -> Result<(), StoreError> {
        let conn = self.conn().await?;
        let hash = hash.to_hex();
        // One statement, so the notification commits with the change. Ids are restricted to
        // [A-Za-z0-9._-], so they need no JSON escaping.
        let row = conn
            .query_typed_opt(
                "WITH changed AS ( \
                     UPDATE messagedb.namespaces SET token_hash = $2 WHERE id = $1 RETURNING key) \
                 SELECT pg_notify('messagedb', \
                     '{\"key\":\"' || key || '\",\"event\":\"token\",\"namespace\":\"' || $1 || '\"}') \
                 FROM changed",
                &[(&id.as_str(), Type::TEXT), (&hash, Type::TEXT)],
            )
            .await
            .map_err(error::pg)?;
        match row {
            Some(_) => Ok(()),
            None => Err(StoreError::NamespaceNotFound(id.clone())),
        }
    }

    async fn list_namespaces(&self) -> Result<Vec<NamespaceSummary>, StoreError> {
        let conn = self.conn().await?;
        let rows = conn
            .query_typed(
                "SELECT n.id, n.description, n.created_at, c.message_count \
                 FROM messagedb.namespaces n JOIN messagedb.counters c ON c.key = n.key \
                 ORDER BY n.created_at DESC, n.id",
                &[],
            )
            .await
            .map_err(error::pg)?;
        rows.iter()
            .map(|row| {
                let id: String = row.try_get(0).map_err(error::pg)?;
                let count: i64 = row.try_get(3).map_err(error::pg)?;
                Ok(NamespaceSummary {
                    id: NamespaceId::parse(id.clone())
                        .map_err(|_| StoreError::backend(InvalidId(id)))?,
                    description: row.try_get(1).map_err(error::pg)?,
                    created_at: Timestamp::from_micros(row.try_get(2).map_err(error::pg)?),
                    message_count: u64::try_from(count).unwrap_or(0),
                })
            })
            .collect()
    }

    async fn namespace_info(&self, id: &NamespaceId) -> Result<NamespaceInfo, StoreError> {
        self.read(id, |conn, handle| async move {
            // The counter row (SPEC §16.3): one row read, the counts and the last activity
            // from one commit.
            let row = conn
                .query_typed_opt(
                    "SELECT n.description, n.created_at, c.message_count, c.stream_count, \
                         c.last_time \
                     FROM messagedb.namespaces n JOIN messagedb.counters c ON c.key = n.key \
                     WHERE n.key = $1",
                    &[(&handle.key.as_str(), Type::TEXT)],
                )
                .await?;
            Ok(row)
        })
        .await?
        .map(|row| -> Result<NamespaceInfo, tokio_postgres::Error> {
            let messages: i64 = row.try_get(2)?;
            let streams: i64 = row.try_get(3)?;
            let last: Option<i64> = row.try_get(4)?;
            Ok(NamespaceInfo {
                id: id.clone(),
                description: row.try_get(0)?,
                created_at: Timestamp::from_micros(row.try_get(1)?),
                message_count: u64::try_from(messages).unwrap_or(0),
                stream_count: u64::try_from(streams).unwrap_or(0),
                last_activity: last.map(Timestamp::from_micros),
            })
        })
        .transpose()
        .map_err(error::pg)?
        .ok_or_else(|| StoreError::NamespaceNotFound(id.clone()))
    }

    async fn write(
        &self,
        ns: &NamespaceId,
        message: NewMessage,
    ) -> Result<WriteOutcome, StoreError> {
        let submission = Submission::Write(WriteRequest::new(message));
        let outcome = self.submit(ns, submission).await?;
        Ok(outcome.into_write())
    }

    async fn write_batch(
        &self,
        ns: &NamespaceId,
        batch: BatchRequest,
    ) -> Result<BatchOutcome, StoreError> {
        let outcome = self.submit(ns, Submission::Batch(batch)).await?;
        Ok(outcome.into_batch())
    }

    async fn read_stream(
        &self,
        ns: &NamespaceId,
        stream: &StreamName,
        query: &StreamQuery,
    ) -> Result<Vec<Message>, StoreError> {
        self.read(ns, |conn, handle| async move {
            reads::read_stream(&conn, &handle.schema, stream.as_str(), query).await
        })
        .await
    }

    async fn last_message(
        &self,
        ns: &NamespaceId,
        stream: &StreamName,
        message_type: Option<&str>,
    ) -> Result<Option<Message>, StoreError> {
        self.read(ns, |conn, handle| async move {
            reads::last_message(&conn, &handle.schema, stream.as_str(), message_type).await
        })
        .await
    }

    async fn stream_version(
        &self,
        ns: &NamespaceId,
        stream: &StreamName,
    ) -> Result<Option<i64>, StoreError> {
        self.read(ns, |conn, handle| async move {
            reads::stream_version(&conn, &handle.schema, stream.as_str()).await
        })
        .await
    }

    async fn read_category(
        &self,
        ns: &NamespaceId,
        query: &CategoryQuery,
    ) -> Result<Vec<Message>, StoreError> {
        self.read(ns, |conn, handle| async move {
            reads::read_category(&conn, &handle.schema, query).await
        })
        .await
    }

    async fn list_streams(
        &self,
        ns: &NamespaceId,
        query: &StreamsQuery,
    ) -> Result<Vec<StreamSummary>, StoreError> {
        self.read(ns, |conn, handle| async move {
            reads::list_streams(&conn, &handle.schema, query).await
        })
        .await
    }

    async fn list_categories(&self, ns: &NamespaceId) -> Result<Vec<CategorySummary>, StoreError> {
        self.read(ns, |conn, handle| async move {
            reads::list_categories(&conn, &handle.schema).await
        })
        .await
    }

    async fn delete_messages(
        &self,
        ns: &NamespaceId,
        request: &DeleteRequest,
    ) -> Result<DeleteOutcome, StoreError> {
        self.on_namespace(ns, |handle| async move {
            if self.inner.closed.load(Ordering::Acquire) {
                return Err(NsError::Store(error::closed()));
            }
            deletion::delete_messages(&self.inner.pool, &handle.key, &handle.schema, request).await
        })
        .await
    }

    async fn list_deletions(
        &self,
        ns: &NamespaceId,
        from_global_position: i64,
        limit: u32,
    ) -> Result<Vec<Deletion>, StoreError> {
        self.read(ns, |conn, handle| async move {
            reads::list_deletions(&conn, &handle.schema, from_global_position, limit).await
        })
        .await
    }

    async fn head(&self, ns: &NamespaceId) -> Result<i64, StoreError> {
        self.read(ns, |conn, handle| async move {
            reads::head(&conn, &handle.schema).await
        })
        .await
    }

    async fn import_batch(
        &self,
        ns: &NamespaceId,
        records: Vec<ImportRecord>,
    ) -> Result<(), ImportError> {
        let records = &records;
        self.retry_if_gone(ns, (), |handle, ()| async move {
            if self.inner.closed.load(Ordering::Acquire) {
                return Attempt::Done(Err(error::closed().into()));
            }
            match import::import_batch(
                &self.inner.pool,
                handle.key.as_str(),
                &handle.schema,
                records,
            )
            .await
            {
                Ok(()) => Attempt::Done(Ok(())),
                Err(ImportFailure::Refused(ImportError::Store(e))) => {
                    match NsError::Store(e)
                        .settle(&self.inner.pool, &handle.key)
                        .await
                    {
                        NsError::Gone => Attempt::Gone(()),
                        NsError::Store(e) => Attempt::Done(Err(ImportError::Store(e))),
                    }
                }
                Err(ImportFailure::Refused(e)) => Attempt::Done(Err(e)),
                Err(ImportFailure::Gone) => Attempt::Gone(()),
            }
        })
        .await
    }

    async fn clear_namespace(&self, ns: &NamespaceId) -> Result<(), StoreError> {
        self.on_namespace(ns, |handle| async move {
            if self.inner.closed.load(Ordering::Acquire) {
                return Err(NsError::Store(error::closed()));
            }
            import::clear(&self.inner.pool, handle.key.as_str(), &handle.schema, ns).await
        })
        .await
    }

    async fn close(&self) {
        self.inner.closed.store(true, Ordering::Release);
        let _ = self.inner.stop.send(true);
        self.write_map().clear();
        self.inner.pool.close();
    }
}

/// How one try of an operation on a namespace's storage ended (see
/// `PostgresStore::retry_if_gone`).
enum Attempt<T, E, S> {
    Done(Result<T, E>),
    /// The storage under the known key is gone; `S` is what the operation needs to try again.
    Gone(S),
}

/// A registry id that is not a valid namespace id (hand-edited registry).
#[derive(Debug, thiserror::Error)]
#[error("registry holds an invalid namespace id {0:?}")]
struct InvalidId(String);

#[cfg(test)]
mod tests {
    use messagedb_conformance::support::{append_to, read_stream, whole_stream};

    use super::*;

    /// Whether the namespace's slot holds a writer handle (running or stopped).
    fn holds_writer(store: &PostgresStore, ns: &NamespaceId) -> bool {
        let handle = store.read_map().get(ns).cloned().expect("a used namespace");
        let held = handle
            .writer
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_some();
        held
    }

    /// A writer task that ends when idle empties its namespace's slot, so that nothing keeps
    /// its queue allocated (with 10,000 namespaces the stopped handles held about 60 MiB);
    /// the next write starts a new task. Fails if the stopped handle stays in the slot.
    #[tokio::test]
    async fn an_idle_writer_leaves_no_handle_behind() {
        let Some(db) = messagedb_testpg::database("an_idle_writer_leaves_no_handle_behind").await
        else {
            return;
        };
        let store = PostgresStore::open(PostgresOptions {
            pool_size: 2,
            writer_idle: Duration::from_millis(20),
            ..PostgresOptions::new(db.url())
        })
        .await
        .unwrap();
        let ns = NamespaceId::parse("tenant-a").unwrap();
        store
            .create_namespace(&ns, "", &TokenHash::from_bytes([1; 32]))
            .await
            .unwrap();
        for round in 1..=3 {
            append_to(&store, &ns, "account-1").await;
            let deadline = std::time::Instant::now() + Duration::from_secs(10);
            while holds_writer(&store, &ns) {
                assert!(
                    std::time::Instant::now() < deadline,
                    "round {round}: the idle writer's handle is still held"
                );
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            let stored = read_stream(&store, &ns, "account-1", whole_stream()).await;
            assert_eq!(stored.len(), round);
        }
    }
}
