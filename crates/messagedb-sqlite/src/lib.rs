//! messagedb's embedded storage backend: SQLite in WAL mode, one database file per namespace.
//!
//! [`SqliteStore`] implements [`messagedb_core::Store`]. The registry of namespaces lives in
//! `<data-dir>/registry.sqlite` and is mirrored in memory, because authentication looks a
//! namespace up on every request. Each namespace has its own file `<data-dir>/ns/<key>.sqlite`,
//! opened only while the namespace holds one of a bounded number of slots (`cache`), a write
//! queue that one pool thread at a time drains, group-committing every queued write in one
//! durable transaction (`writer`), and a small pool of read connections that never wait for the
//! writer (WAL). Threads come from fixed pools, so a namespace costs storage, not threads or
//! descriptors (SPEC §16.3). The in-memory mode (`sqlite://:memory:`, test mode) runs the same
//! code on SQLite's `memdb` VFS.
//!
//! Code map: `store` is the `Store` implementation and the namespace lifecycle; `registry`
//! the registry database; `cache` the open-namespace slots and thread permits; `namespace` one
//! namespace's leases, connections and gate; `writer` the
//! write path; `publish` the hook that reports commits to the server's listener; `reads` every
//! query; `schema` the versioned migrations (SQL in `src/sql/`); `location` where databases
//! live (directory or memory); `lock` the data-directory lock.

mod cache;
mod deletion;
mod error;
mod location;
mod lock;
mod namespace;
mod publish;
mod reads;
mod registry;
mod schema;
mod store;
mod writer;

pub use cache::Limits;
pub use error::OpenError;
pub use store::SqliteStore;
