//! messagedb's embedded storage backend: SQLite in WAL mode, one database file per namespace.
//!
//! [`SqliteStore`] implements [`messagedb_core::Store`]. The registry of namespaces lives in
//! `<data-dir>/registry.sqlite` and is mirrored in memory, because authentication looks a
//! namespace up on every request. Each namespace has its own file `<data-dir>/ns/<key>.sqlite`,
//! one writer thread that group-commits every queued write in one durable transaction
//! (`writer`), and a small pool of read connections that never wait for that writer (WAL). The
//! in-memory mode (`sqlite://:memory:`, test mode) runs the same code on SQLite's `memdb` VFS.
//!
//! Code map: `store` is the `Store` implementation and the namespace lifecycle; `registry`
//! the registry database; `namespace` one namespace's connections and its gate; `writer` the
//! write path; `publish` the hook that reports commits to the server's listener; `reads` every
//! query; `schema` the versioned migrations (SQL in `src/sql/`); `location` where databases
//! live (directory or memory); `lock` the data-directory lock.

mod cache;
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
