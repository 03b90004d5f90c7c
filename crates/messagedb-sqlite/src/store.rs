//! [`SqliteStore`]: the `Store` implementation and the lifecycle of namespaces.
//!
//! Registry changes (create, delete, token rotation) are serialised by one mutex and written
//! through to `registry.sqlite`; the in-memory map of every namespace answers every lookup, open
//! or not. Message operations go to the namespace, which opens its storage on demand: writes to
//! its write queue, reads to a blocking task on a pooled read connection.
//!
//! Deletion commits the removal of the registry row first, then takes the namespace out of the
//! map, marks it deleted (after which its writer commits and publishes nothing), tells the
//! commit listener that the namespace ended, shuts it down (in-flight reads finish, queued
//! writes are refused with `NamespaceNotFound`) and finally removes its files. A crash between
//! those steps leaves an orphan file, which the next open removes. The first steps run under the
//! registry lock, so a namespace re-created with the same id cannot start before the old one has
//! ended: its subscribers never hear of the old one.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use async_trait::async_trait;
use messagedb_core::{
    BatchOutcome, BatchRequest, CategoryQuery, CategorySummary, CommitListener, DeleteOutcome,
    DeleteRequest, Deletion, ImportError, ImportRecord, Message, NamespaceId, NamespaceInfo,
    NamespaceKey, NamespaceRecord, NamespaceSummary, NewMessage, Store, StoreError, StreamName,
    StreamQuery, StreamSummary, StreamsQuery, Timestamp, TokenHash, WriteOutcome, WriteRequest,
};

use crate::cache::{Cache, Limits};
use crate::error::{self, OpenError, TaskFailed};
use crate::location::Location;
use crate::lock::DirLock;
use crate::namespace::{Namespace, Shutdown};
use crate::publish::Publisher;
use crate::reads;
use crate::registry::Registry;
use crate::schema::MigrateError;

/// The embedded store. Cheap to clone; every clone is the same store.
#[derive(Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

struct Inner {
    location: Arc<Location>,
    /// Serialises namespace creation, deletion and token rotation. `None` once closed.
    registry: Mutex<Option<Registry>>,
    /// Every open namespace. Authentication reads this on every request, so it never touches
    /// the disk.
    namespaces: RwLock<HashMap<NamespaceId, Arc<Namespace>>>,
    closed: AtomicBool,
    /// The server's commit listener, shared with every namespace's writer.
    publisher: Arc<Publisher>,
    /// The open-namespace slots and the storage thread permits.
    cache: Arc<Cache>,
    /// The data-directory lock, released by `close` (or when the store is dropped).
    lock: Mutex<Option<DirLock>>,
}

impl SqliteStore {
    /// Persistent store in `data_dir` (created if missing). Takes an exclusive lock on
    /// `<data_dir>/.lock`; a second process (or a second open in the same process) fails with
    /// [`OpenError::InUse`]. Runs the schema migrations and removes orphan namespace files.
    pub fn open(data_dir: &Path) -> Result<SqliteStore, OpenError> {
        SqliteStore::open_with(data_dir, Limits::default())
    }

    /// [`SqliteStore::open`] with explicit limits on open namespaces and storage threads
    /// (SPEC §16.3).
    pub fn open_with(data_dir: &Path, limits: Limits) -> Result<SqliteStore, OpenError> {
        std::fs::create_dir_all(data_dir).map_err(|source| OpenError::Io {
            path: data_dir.to_path_buf(),
            source,
        })?;
        let lock = DirLock::acquire(data_dir)?;
        SqliteStore::start(Location::disk(data_dir), Some(lock), limits)
    }

    /// Everything in memory; nothing touches the disk. Used by `sqlite://:memory:` and test mode.
    pub fn open_in_memory() -> Result<SqliteStore, OpenError> {
        SqliteStore::start(Location::memory(), None, Limits::default())
    }

    /// How many write transactions a namespace has committed since the store was opened; with
    /// group commit this is at most the number of writes. `None` if the namespace is not open.
    pub fn write_transactions(&self, namespace: &NamespaceId) -> Option<u64> {
        self.inner.read_map().get(namespace).map(|ns| ns.commits())
    }

    /// How many namespaces have their databases open now (at most
    /// [`Limits::max_open_namespaces`] on disk).
    pub fn open_namespaces(&self) -> usize {
        self.inner.cache.open_count()
    }

    /// Whether namespace `id`'s database is open now.
    pub fn is_namespace_open(&self, id: &NamespaceId) -> bool {
        self.inner.read_map().get(id).is_some_and(|ns| ns.is_open())
    }

    /// How many times a namespace's storage has been opened since the store opened (reopens
    /// after an eviction included; creation and startup migration not).
    pub fn namespace_opens(&self) -> u64 {
        self.inner.cache.opens()
    }

    /// How many read connections have been opened since the store opened.
    pub fn read_connections_opened(&self) -> u64 {
        self.inner.cache.readers_opened()
    }

    /// The most namespaces that were open at once since the store opened.
    pub fn peak_open_namespaces(&self) -> usize {
        self.inner.cache.peak()
    }

    /// The open namespace handle, for unit tests that reach into the writer.
    #[cfg(test)]
    pub(crate) fn open_namespace(&self, id: &NamespaceId) -> Arc<Namespace> {
        self.namespace_handle(id).expect("an open namespace")
    }

    fn start(
        location: Location,
        lock: Option<DirLock>,
        limits: Limits,
    ) -> Result<SqliteStore, OpenError> {
        let location = Arc::new(location);
        let cache = Arc::new(Cache::new(limits, location.can_close()));
        if let Some(dir) = location.namespace_dir() {
            std::fs::create_dir_all(&dir).map_err(|source| OpenError::Io {
                path: dir.clone(),
                source,
            })?;
        }
        let (registry, rows) = Registry::open(&location)?;
        if let Some(dir) = location.namespace_dir() {
            let keys: HashSet<NamespaceKey> = rows.iter().map(|row| row.key.clone()).collect();
            location
                .remove_orphans(&keys)
                .map_err(|source| OpenError::Io { path: dir, source })?;
        }
        let publisher = Arc::new(Publisher::default());
        let mut namespaces = HashMap::with_capacity(rows.len());
        for row in rows {
            if location
                .namespace_file(&row.key)
                .is_some_and(|file| !file.exists())
            {
                // Creation writes the file before the registry row, so this only happens when
                // the file was removed behind our back. Start with an empty namespace, loudly.
                tracing::error!(namespace = %row.record.id, key = %row.key, "namespace database file is missing; starting it empty");
            }
            let id = row.record.id.clone();
            // Opened on first use (SPEC §16.3): a namespace costs no descriptor until then.
            let namespace = Namespace::new(
                Arc::clone(&location),
                Arc::clone(&cache),
                row.key,
                row.record,
                Arc::clone(&publisher),
            );
            // Migrations run before listening (SPEC §10.6): each database is opened, migrated
            // and closed again, one at a time.
            namespace
                .prepare_storage()
                .map_err(|e| open_error(&location, namespace.key(), e))?;
            namespaces.insert(id, Arc::new(namespace));
        }
        Ok(SqliteStore {
            inner: Arc::new(Inner {
                location,
                registry: Mutex::new(Some(registry)),
                namespaces: RwLock::new(namespaces),
                closed: AtomicBool::new(false),
                publisher,
                cache,
                lock: Mutex::new(lock),
            }),
        })
    }

    /// The open namespace `id`, or the error an operation on it reports.
    fn namespace_handle(&self, id: &NamespaceId) -> Result<Arc<Namespace>, StoreError> {
        if let Some(namespace) = self.inner.read_map().get(id) {
            return Ok(Arc::clone(namespace));
        }
        if self.inner.closed.load(Ordering::Acquire) {
            return Err(error::closed());
        }
        Err(StoreError::NamespaceNotFound(id.clone()))
    }

    /// Runs a registry operation (which fsyncs) on a blocking thread.
    async fn blocking<T, F>(&self, op: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Inner) -> Result<T, StoreError> + Send + 'static,
    {
        let inner = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || op(&inner))
            .await
            .map_err(|e| StoreError::backend(TaskFailed(e.to_string())))?
    }
}

impl Inner {
    fn read_map(&self) -> std::sync::RwLockReadGuard<'_, HashMap<NamespaceId, Arc<Namespace>>> {
        self.namespaces
            .read()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn write_map(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<NamespaceId, Arc<Namespace>>> {
        self.namespaces
            .write()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn registry(&self) -> std::sync::MutexGuard<'_, Option<Registry>> {
        self.registry.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn create(
        &self,
        id: NamespaceId,
        description: String,
        token_hash: TokenHash,
    ) -> Result<Timestamp, StoreError> {
        let mut registry = self.registry();
        let registry = registry.as_mut().ok_or_else(error::closed)?;
        if self.read_map().contains_key(&id) {
            return Err(StoreError::NamespaceExists(id));
        }
        let key = NamespaceKey::random();
        let record = NamespaceRecord {
            id: id.clone(),
            description,
            created_at: registry.next_created_at(),
            token_hash,
        };
        // The file first, then the registry row: a crash in between leaves an orphan file
        // (removed at the next open), never a registry row without its database.
        let namespace = Namespace::new(
            Arc::clone(&self.location),
            Arc::clone(&self.cache),
            key.clone(),
            record.clone(),
            Arc::clone(&self.publisher),
        );
        if let Err(e) = namespace.create_storage() {
            self.remove_files(&key);
            return Err(StoreError::backend(e));
        }
        if let Err(e) = registry.insert(&record, &key) {
            self.remove_files(&key);
            return Err(error::sqlite(e));
        }
        self.write_map().insert(id, Arc::new(namespace));
        Ok(record.created_at)
    }

    /// The registry part of a deletion: the row goes, the namespace is marked deleted (which
    /// waits for its group in progress) and its subscriptions end. The caller shuts it down.
    fn unregister(&self, id: NamespaceId) -> Result<Arc<Namespace>, StoreError> {
        let mut registry = self.registry();
        let registry = registry.as_mut().ok_or_else(error::closed)?;
        if !registry.delete(&id).map_err(error::sqlite)? {
            return Err(StoreError::NamespaceNotFound(id));
        }
        let namespace = self.write_map().remove(&id);
        if let Some(namespace) = &namespace {
            namespace.mark_deleted();
        }
        self.publisher.ended(&id);
        namespace.ok_or(StoreError::NamespaceNotFound(id))
    }

    fn set_token_hash(&self, id: NamespaceId, hash: TokenHash) -> Result<(), StoreError> {
        let mut registry = self.registry();
        let registry = registry.as_mut().ok_or_else(error::closed)?;
        if !registry.set_token_hash(&id, &hash).map_err(error::sqlite)? {
            return Err(StoreError::NamespaceNotFound(id));
        }
        if let Some(namespace) = self.read_map().get(&id) {
            namespace.set_token_hash(hash);
        }
        Ok(())
    }

    /// Removes a namespace's files; a failure is logged, and the next open removes the orphan.
    fn remove_files(&self, key: &NamespaceKey) {
        if let Err(error) = self.location.remove_namespace_files(key) {
            tracing::warn!(%error, %key, "cannot remove a deleted namespace's files");
        }
    }
}

fn open_error(location: &Location, key: &NamespaceKey, error: MigrateError) -> OpenError {
    match error {
        MigrateError::TooNew { found, supported } => OpenError::SchemaTooNew { found, supported },
        MigrateError::Sqlite(source) => OpenError::Sqlite {
            what: location.describe_namespace(key),
            source,
        },
    }
}

impl fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteStore")
            .field("location", &self.inner.location)
            .field("namespaces", &self.inner.read_map().len())
            .finish()
    }
}

#[async_trait]
impl Store for SqliteStore {
    fn backend_name(&self) -> &'static str {
        "sqlite"
    }

    fn set_commit_listener(&self, listener: Arc<dyn CommitListener>) {
        self.inner.publisher.set(listener);
    }

    async fn create_namespace(
        &self,
        id: &NamespaceId,
        description: &str,
        token_hash: &TokenHash,
    ) -> Result<Timestamp, StoreError> {
        let (id, description, hash) = (id.clone(), description.to_owned(), *token_hash);
        self.blocking(move |inner| inner.create(id, description, hash))
            .await
    }

    async fn delete_namespace(&self, id: &NamespaceId) -> Result<u64, StoreError> {
        let id = id.clone();
        let namespace = self.blocking(move |inner| inner.unregister(id)).await?;
        let count = namespace.shutdown(Shutdown::Delete).await;
        let key = namespace.key().clone();
        self.blocking(move |inner| {
            inner.remove_files(&key);
            Ok(())
        })
        .await?;
        Ok(count?.unwrap_or(0))
    }

    async fn namespace(&self, id: &NamespaceId) -> Result<Option<NamespaceRecord>, StoreError> {
        match self.namespace_handle(id) {
            Ok(namespace) => Ok(Some(namespace.record())),
            Err(StoreError::NamespaceNotFound(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn set_token_hash(&self, id: &NamespaceId, hash: &TokenHash) -> Result<(), StoreError> {
        let (id, hash) = (id.clone(), *hash);
        self.blocking(move |inner| inner.set_token_hash(id, hash))
            .await
    }

    async fn list_namespaces(&self) -> Result<Vec<NamespaceSummary>, StoreError> {
        if self.inner.closed.load(Ordering::Acquire) {
            return Err(error::closed());
        }
        let namespaces: Vec<Arc<Namespace>> = self.inner.read_map().values().cloned().collect();
        let mut summaries = Vec::with_capacity(namespaces.len());
        for namespace in namespaces {
            let record = namespace.record();
            let message_count = match namespace.read(reads::message_count).await {
                Ok(count) => count,
                // Deleted since the snapshot: it is no longer part of the list.
                Err(StoreError::NamespaceNotFound(_)) => continue,
                Err(e) => return Err(e),
            };
            summaries.push(NamespaceSummary {
                id: record.id,
                description: record.description,
                created_at: record.created_at,
                message_count,
            });
        }
        summaries.sort_by(|a, b| {
            b.created_at
                .cmp(&a.created_at)
                .then_with(|| a.id.cmp(&b.id))
        });
        Ok(summaries)
    }

    async fn namespace_info(&self, id: &NamespaceId) -> Result<NamespaceInfo, StoreError> {
        let namespace = self.namespace_handle(id)?;
        let totals = namespace.read(reads::totals).await?;
        let record = namespace.record();
        Ok(NamespaceInfo {
            id: record.id,
            description: record.description,
            created_at: record.created_at,
            message_count: totals.message_count,
            stream_count: totals.stream_count,
            last_activity: totals.last_activity,
        })
    }

    async fn write(
        &self,
        ns: &NamespaceId,
        message: NewMessage,
    ) -> Result<WriteOutcome, StoreError> {
        let namespace = self.namespace_handle(ns)?;
        namespace.write(WriteRequest::new(message)).await
    }

    async fn write_batch(
        &self,
        ns: &NamespaceId,
        batch: BatchRequest,
    ) -> Result<BatchOutcome, StoreError> {
        self.namespace_handle(ns)?.write_batch(batch).await
    }

    async fn read_stream(
        &self,
        ns: &NamespaceId,
        stream: &StreamName,
        query: &StreamQuery,
    ) -> Result<Vec<Message>, StoreError> {
        let namespace = self.namespace_handle(ns)?;
        let (stream, query) = (stream.clone(), query.clone());
        namespace
            .read(move |conn| reads::read_stream(conn, stream.as_str(), &query))
            .await
    }

    async fn last_message(
        &self,
        ns: &NamespaceId,
        stream: &StreamName,
        message_type: Option<&str>,
    ) -> Result<Option<Message>, StoreError> {
        let namespace = self.namespace_handle(ns)?;
        let (stream, message_type) = (stream.clone(), message_type.map(str::to_owned));
        namespace
            .read(move |conn| reads::last_message(conn, stream.as_str(), message_type.as_deref()))
            .await
    }

    async fn stream_version(
        &self,
        ns: &NamespaceId,
        stream: &StreamName,
    ) -> Result<Option<i64>, StoreError> {
        let namespace = self.namespace_handle(ns)?;
        let stream = stream.clone();
        namespace
            .read(move |conn| reads::stream_version(conn, stream.as_str()))
            .await
    }

    async fn delete_messages(
        &self,
        ns: &NamespaceId,
        request: &DeleteRequest,
    ) -> Result<DeleteOutcome, StoreError> {
        self.namespace_handle(ns)?
            .delete_messages(request.clone())
            .await
    }

    async fn list_deletions(
        &self,
        ns: &NamespaceId,
        from_global_position: i64,
        limit: u32,
    ) -> Result<Vec<Deletion>, StoreError> {
        let namespace = self.namespace_handle(ns)?;
        namespace
            .read(move |conn| reads::list_deletions(conn, from_global_position, limit))
            .await
    }

    async fn read_category(
        &self,
        ns: &NamespaceId,
        query: &CategoryQuery,
    ) -> Result<Vec<Message>, StoreError> {
        let namespace = self.namespace_handle(ns)?;
        let query = query.clone();
        namespace
            .read(move |conn| reads::read_category(conn, &query))
            .await
    }

    async fn list_streams(
        &self,
        ns: &NamespaceId,
        query: &StreamsQuery,
    ) -> Result<Vec<StreamSummary>, StoreError> {
        let namespace = self.namespace_handle(ns)?;
        let query = query.clone();
        namespace
            .read(move |conn| reads::list_streams(conn, &query))
            .await
    }

    async fn list_categories(&self, ns: &NamespaceId) -> Result<Vec<CategorySummary>, StoreError> {
        let namespace = self.namespace_handle(ns)?;
        namespace.read(reads::list_categories).await
    }

    async fn head(&self, ns: &NamespaceId) -> Result<i64, StoreError> {
        let namespace = self.namespace_handle(ns)?;
        namespace.read(reads::head).await
    }

    async fn import_batch(
        &self,
        ns: &NamespaceId,
        records: Vec<ImportRecord>,
    ) -> Result<(), ImportError> {
        self.namespace_handle(ns)?.import(records).await
    }

    async fn clear_namespace(&self, ns: &NamespaceId) -> Result<(), StoreError> {
        self.namespace_handle(ns)?.clear().await
    }

    /// Stops every namespace (queued writes commit first), then releases the registry and the
    /// data-directory lock.
    async fn close(&self) {
        self.inner.closed.store(true, Ordering::Release);
        let registry = self.inner.registry().take();
        let namespaces: Vec<Arc<Namespace>> =
            self.inner.write_map().drain().map(|(_, ns)| ns).collect();
        for namespace in namespaces {
            if let Err(e) = namespace.shutdown(Shutdown::Close).await {
                tracing::error!(error = %e, "closing a namespace failed");
            }
        }
        drop(registry);
        self.inner
            .lock
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
    }
}
