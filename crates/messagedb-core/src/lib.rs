//! messagedb's domain core: the vocabulary every other crate speaks.
//!
//! Nothing here does I/O. Values that arrive from the outside world (stream names, namespace ids,
//! tokens, message ids) are validated newtypes built by `parse`, so code that receives one never
//! checks it again. The storage seam is the [`Store`] trait; backends implement it, the server
//! calls it, and its error type [`StoreError`] is the only error that crosses it.

pub mod batch;
pub mod deletion;
pub mod group;
pub mod json;
pub mod limits;
pub mod message;
pub mod namespace;
pub mod store;
pub mod stream;
pub mod time;
pub mod token;
pub mod write;

pub use batch::{AppendCondition, BatchOutcome, BatchRequest, ConditionMatch, ConditionQuery};
pub use deletion::{DeleteKind, DeleteOutcome, DeleteRequest, Deletion};
pub use group::{hash_64, ConsumerGroup};
pub use message::{Message, MessageId, NewMessage, Positions, WriteOutcome};
pub use namespace::{
    NamespaceId, NamespaceInfo, NamespaceKey, NamespaceKeyError, NamespaceRecord, NamespaceSummary,
};
pub use store::{
    CategoryQuery, CategoryScan, CategorySummary, CommitListener, Committed, ImportError,
    ImportRecord, Limit, StartAt, Store, StoreError, StreamQuery, StreamScan, StreamSummary,
    StreamsQuery,
};
pub use stream::{cardinal_id, category, stream_id, StreamName};
pub use time::Timestamp;
pub use token::{Token, TokenError, TokenHash};
pub use write::{
    decide, CategoryGrowth, Decision, Known, Lookups, Unit, UnitOutcome, WriteRequest,
};

/// The crate semver, reported by `sys.version`, `/version` and the `Server` header.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
