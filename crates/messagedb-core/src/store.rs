//! The storage seam: one async trait that every backend implements and the server calls.
//!
//! Namespaces are addressed by their validated id; mapping an id to its storage container
//! (named from an internal key, SPEC §2.1) is the backend's business. Backend error types never
//! cross this trait: [`StoreError`] has the semantic variants the API reports, plus an opaque
//! [`StoreError::Backend`] for storage failures (reported as `BACKEND_ERROR`).
//!
//! Subscriptions (SPEC §8) hear about commits through the same seam: the server hands the store
//! one [`CommitListener`], and the backend tells it about every committed message, namespace by
//! namespace, in global-position order (§10.3).

use std::error::Error as StdError;
use std::sync::Arc;

use async_trait::async_trait;

use crate::batch::{BatchOutcome, BatchRequest, ConditionMatch};
use crate::deletion::{DeleteOutcome, DeleteRequest, Deletion};
use crate::group::ConsumerGroup;
use crate::message::{Message, MessageId, NewMessage, WriteOutcome};
use crate::namespace::{NamespaceId, NamespaceInfo, NamespaceRecord, NamespaceSummary};
use crate::stream::StreamName;
use crate::time::Timestamp;
use crate::token::TokenHash;

/// How many messages a read may return.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// `batchSize: -1`.
    Unlimited,
    /// At most this many; `0` returns nothing.
    AtMost(u32),
}

impl Limit {
    /// The SPEC's default batch size.
    pub const DEFAULT: Limit = Limit::AtMost(1000);
    /// The largest batch size a caller may ask for.
    pub const MAX: u32 = 10_000;
}

/// Where a `stream.get` starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartAt {
    /// Messages with `position >= n` (negative behaves as 0).
    Position(i64),
    /// Messages with `globalPosition >= n`, still ordered by position.
    GlobalPosition(i64),
}

/// A `stream.get`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamQuery {
    pub start: StartAt,
    pub limit: Limit,
}

/// A `category.get`: every filter applies before the limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CategoryQuery {
    /// `""` selects the whole namespace; a name containing `-` selects nothing.
    pub category: String,
    /// Messages with `globalPosition >= n` (0 or negative behaves as 1).
    pub from_global_position: i64,
    pub limit: Limit,
    /// Keep only messages whose correlation category equals this (§7.2); `None`: no filter.
    pub correlation: Option<String>,
    pub consumer_group: Option<ConsumerGroup>,
}

impl Limit {
    /// The limit as storage applies it: `None` when nothing may be returned, `Some(None)` for
    /// no limit.
    fn rows(self) -> Option<Option<i64>> {
        match self {
            Limit::Unlimited => Some(None),
            Limit::AtMost(0) => None,
            Limit::AtMost(n) => Some(Some(i64::from(n))),
        }
    }
}

/// A `stream.get` as storage runs it, with the SPEC's edge cases applied once for every backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamScan {
    /// A position start is ≥ 0 (negative behaves as 0).
    pub start: StartAt,
    /// `None`: no limit.
    pub limit: Option<i64>,
}

impl StreamQuery {
    /// `None` when the query can return nothing (`batchSize: 0`).
    pub fn scan(&self) -> Option<StreamScan> {
        Some(StreamScan {
            start: match self.start {
                StartAt::Position(p) => StartAt::Position(p.max(0)),
                global => global,
            },
            limit: self.limit.rows()?,
        })
    }
}

/// A `category.get` as storage runs it, with the SPEC's edge cases (§6.7, §7.2) applied once
/// for every backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CategoryScan<'a> {
    /// `None`: the whole namespace (`""`).
    pub category: Option<&'a str>,
    /// ≥ 1 (0 or negative behaves as 1).
    pub from_global_position: i64,
    /// `None`: no limit.
    pub limit: Option<i64>,
    /// `None`: no correlation filter (an empty one filters nothing).
    pub correlation: Option<&'a str>,
    pub consumer_group: Option<ConsumerGroup>,
}

impl CategoryQuery {
    /// `None` when the query can return nothing: `batchSize: 0`, or a category name containing
    /// `-` (a category never does, so it selects nothing).
    pub fn scan(&self) -> Option<CategoryScan<'_>> {
        if self.category.contains('-') {
            return None;
        }
        Some(CategoryScan {
            category: Some(self.category.as_str()).filter(|c| !c.is_empty()),
            from_global_position: self.from_global_position.max(1),
            limit: self.limit.rows()?,
            correlation: self.correlation.as_deref().filter(|c| !c.is_empty()),
            consumer_group: self.consumer_group,
        })
    }
}

/// An `ns.streams` page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamsQuery {
    /// Literal, bytewise prefix (`%` and `_` are not wildcards).
    pub prefix: String,
    /// Only names bytewise greater than this.
    pub cursor: String,
    /// 1..=1000.
    pub limit: u32,
}

/// One row of `ns.streams`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamSummary {
    pub stream_name: String,
    pub version: i64,
    pub last_activity: Timestamp,
}

/// One row of `ns.categories`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CategorySummary {
    pub category: String,
    pub message_count: u64,
    pub stream_count: u64,
}

/// One committed message, as subscribers are poked about it (SPEC §8.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Committed {
    pub global_position: i64,
    pub stream_name: String,
    pub position: i64,
}

/// Receives each namespace's commits in global-position order (SPEC §10.3).
///
/// Backends call it from their write path, so implementations must return quickly and never
/// block on subscribers. Order is the whole point: a subscription that saw gpos N+1 before N
/// would advance its cursor past N and drop it.
pub trait CommitListener: Send + Sync + 'static {
    /// `messages` were committed durably, in this order (ascending global position), and no
    /// later commit of `ns` has been reported yet. Idempotent retries commit nothing and are
    /// not reported.
    fn committed(&self, ns: &NamespaceId, messages: &[Committed]);

    /// A deletion (SPEC §18) was committed durably at its global position; it is reported in
    /// global-position order with the commits around it.
    fn deleted(&self, ns: &NamespaceId, deletion: &Deletion);

    /// The namespace was deleted (or, later, cleared by a forced import): its subscriptions end.
    /// Nothing more is reported for this incarnation of `ns`; a namespace re-created with the
    /// same id starts afresh.
    fn ended(&self, ns: &NamespaceId);

    /// The backend may have missed commits of any namespace (on PostgreSQL: the `LISTEN`
    /// connection was lost and is back). Every subscription must catch up from the store from
    /// its cursor, as after a queue overflow (SPEC §8.7); none ends. Commits reported after this
    /// call are complete again. The default does nothing, for listeners without subscriptions.
    fn resync(&self) {}
}

/// What can go wrong behind the [`Store`] trait.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// The namespace does not exist (or was deleted while the request was in flight).
    #[error("namespace '{0}' not found")]
    NamespaceNotFound(NamespaceId),
    #[error("namespace '{0}' already exists")]
    NamespaceExists(NamespaceId),
    /// `expectedVersion` did not match; `actual` is -1 for an empty stream.
    #[error("expected version {expected}, stream is at version {actual}")]
    VersionConflict {
        stream: StreamName,
        expected: i64,
        actual: i64,
    },
    /// The id is already used by a message of another stream or type; `stream` is that message's.
    #[error("message id {id} already exists in stream {stream}")]
    DuplicateMessageId { id: MessageId, stream: String },
    /// A batch's append condition matched a message written after `after` (SPEC §17.2): the
    /// lowest such message.
    #[error("Append condition failed: a matching message was written at global position {}", .0.global_position)]
    AppendConditionFailed(ConditionMatch),
    /// A storage failure. The detail is logged, not shown to clients.
    #[error("{0}")]
    Backend(Arc<dyn StdError + Send + Sync>),
}

impl StoreError {
    pub fn backend(error: impl StdError + Send + Sync + 'static) -> StoreError {
        StoreError::Backend(Arc::new(error))
    }
}

/// One record of an import (SPEC §9.2), validated: it lands exactly where it says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportRecord {
    pub id: MessageId,
    pub stream_name: StreamName,
    /// Non-empty, without U+0000.
    pub message_type: String,
    /// ≥ 0; continuity is not checked (§9.3).
    pub position: i64,
    /// ≥ 1.
    pub global_position: i64,
    /// Minified JSON object text.
    pub data: String,
    /// Minified JSON object text, or `None`.
    pub metadata: Option<String>,
    pub time: Timestamp,
}

/// Why an import batch was refused; `index` is the failing record's index in the batch. A
/// refused batch changed nothing.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ImportError {
    /// The global position is stored already, or used by an earlier record of the batch.
    #[error("global position already exists: {global_position}")]
    PositionExists { global_position: i64, index: usize },
    /// The id is stored already (in `stream`), or used by an earlier record of the batch.
    #[error("Message id {id} already exists in stream {stream}")]
    DuplicateMessageId {
        id: MessageId,
        stream: String,
        index: usize,
    },
    /// `(stream, position)` is taken.
    #[error("position {position} already exists in stream {stream}")]
    StreamPositionExists {
        stream: String,
        position: i64,
        index: usize,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The storage backend. Every method is scoped to one namespace except the registry methods.
///
/// Implementations must uphold SPEC §10.2 (I1–I9); the conformance suite in
/// `messagedb-conformance` checks them, and every backend runs it.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// `"sqlite"` or `"postgres"`, as `sys.health.backend` reports it.
    fn backend_name(&self) -> &'static str;

    /// Installs the listener that hears about every commit and namespace end from now on.
    /// Called once at startup, before serving; a later call replaces the listener.
    fn set_commit_listener(&self, listener: Arc<dyn CommitListener>);

    // ---- registry ----

    /// Creates a namespace; `NamespaceExists` if the id is taken. Returns the stored createdAt.
    async fn create_namespace(
        &self,
        id: &NamespaceId,
        description: &str,
        token_hash: &TokenHash,
    ) -> Result<Timestamp, StoreError>;

    /// Deletes a namespace and all its messages; returns how many messages it held.
    async fn delete_namespace(&self, id: &NamespaceId) -> Result<u64, StoreError>;

    /// The registry entry, for authentication; `None` if it does not exist.
    async fn namespace(&self, id: &NamespaceId) -> Result<Option<NamespaceRecord>, StoreError>;

    /// Replaces a namespace's token hash (rotation of the `default` token, §4.6).
    async fn set_token_hash(&self, id: &NamespaceId, hash: &TokenHash) -> Result<(), StoreError>;

    /// Every namespace, sorted by createdAt descending, then id ascending.
    async fn list_namespaces(&self) -> Result<Vec<NamespaceSummary>, StoreError>;

    async fn namespace_info(&self, id: &NamespaceId) -> Result<NamespaceInfo, StoreError>;

    // ---- messages ----

    /// Appends one message atomically and durably (§6.3): idempotent retry, then version check,
    /// then insert. Returns only after the commit is durable.
    async fn write(
        &self,
        ns: &NamespaceId,
        message: NewMessage,
    ) -> Result<WriteOutcome, StoreError>;

    /// Appends a batch atomically and durably (SPEC §17.2): idempotent retry, expected
    /// versions, the append condition, then every entry in order, serialized with every other
    /// write of the namespace. Returns only after the commit is durable.
    async fn write_batch(
        &self,
        ns: &NamespaceId,
        batch: BatchRequest,
    ) -> Result<BatchOutcome, StoreError>;

    async fn read_stream(
        &self,
        ns: &NamespaceId,
        stream: &StreamName,
        query: &StreamQuery,
    ) -> Result<Vec<Message>, StoreError>;

    /// The highest-position message, optionally only of `message_type`.
    async fn last_message(
        &self,
        ns: &NamespaceId,
        stream: &StreamName,
        message_type: Option<&str>,
    ) -> Result<Option<Message>, StoreError>;

    /// The stream version: the highest position ever assigned to it (SPEC §18: deletion does
    /// not lower it), `None` when it was never written.
    async fn stream_version(
        &self,
        ns: &NamespaceId,
        stream: &StreamName,
    ) -> Result<Option<i64>, StoreError>;

    async fn read_category(
        &self,
        ns: &NamespaceId,
        query: &CategoryQuery,
    ) -> Result<Vec<Message>, StoreError>;

    async fn list_streams(
        &self,
        ns: &NamespaceId,
        query: &StreamsQuery,
    ) -> Result<Vec<StreamSummary>, StoreError>;

    async fn list_categories(&self, ns: &NamespaceId) -> Result<Vec<CategorySummary>, StoreError>;

    /// The highest committed global position of the namespace (a message's or a deletion's),
    /// 0 when it has none. Every commit already reported to the [`CommitListener`] is at or
    /// below it.
    async fn head(&self, ns: &NamespaceId) -> Result<i64, StoreError>;

    // ---- deletion (SPEC §18) ----

    /// Removes the messages of one stream below the position [`crate::deletion::plan`] decides,
    /// in transactions of at most [`crate::deletion::CHUNK`] messages, oldest first, each
    /// serialized with the namespace's writes. The transaction that leaves none below it records
    /// the [`Deletion`] (if the call removed anything) at the next global position, and the
    /// deletion is reported to [`CommitListener::deleted`]. Counters drop; the stream's version
    /// does not; removed ids are forgotten. On the embedded backend the removed bytes are
    /// overwritten and the WAL checkpointed (TRUNCATE) before this returns.
    async fn delete_messages(
        &self,
        ns: &NamespaceId,
        request: &DeleteRequest,
    ) -> Result<DeleteOutcome, StoreError>;

    /// `ns.deletions`: the deletions with `global_position >= from_global_position`, ascending,
    /// at most `limit`.
    async fn list_deletions(
        &self,
        ns: &NamespaceId,
        from_global_position: i64,
        limit: u32,
    ) -> Result<Vec<Deletion>, StoreError>;

    // ---- import (SPEC §9) ----

    /// Stores `records` exactly as given, atomically and durably. Each record is checked against
    /// the stored messages and the earlier records of the batch, in the §9.3 order: global
    /// position, then id, then (stream, position). Afterwards the next global position is
    /// `max(next, highest imported + 1)`: the counter never moves backwards. Serialised with
    /// `write` in the namespace; the committed records are reported to the [`CommitListener`]
    /// in global-position order.
    async fn import_batch(
        &self,
        ns: &NamespaceId,
        records: Vec<ImportRecord>,
    ) -> Result<(), ImportError>;

    /// Deletes every message of the namespace (a forced import), keeping the namespace, its
    /// token and its counter, and ends its subscriptions ([`CommitListener::ended`]).
    async fn clear_namespace(&self, ns: &NamespaceId) -> Result<(), StoreError>;

    /// Flushes and releases everything (the lock file, connections). Called once at shutdown.
    async fn close(&self);
}
