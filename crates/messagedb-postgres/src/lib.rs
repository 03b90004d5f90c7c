//! messagedb's PostgreSQL backend: production storage, several stateless messagedb instances on
//! one database (SPEC §10.5).
//!
//! [`PostgresStore`] implements [`messagedb_core::Store`] with the same semantics as the embedded
//! backend (I9). Schema `messagedb` holds the registry of namespaces, their counters and the
//! applied migrations; every namespace has its own schema `messagedb_ns_<key>`, named from a
//! random internal key. Writes of one namespace are serialised across all instances by a lock on
//! its counter row held until commit, and group-committed per instance. Each write queues a
//! `NOTIFY` inside its transaction, so notifications arrive after commit and in commit order.
//!
//! Code map: `store` is the `Store` implementation and the namespace lifecycle; `writer` the
//! write path; `reads` every query; `schema` the layout and its migrations (SQL in `src/sql/`);
//! `import` import batches and the forced-import clear; `deletion` `stream.delete` and
//! `stream.truncate`; `notify` the notification payloads; `listen` the `LISTEN` task that feeds the commit listener; `connect` URLs, TLS, timeouts and the pool; `error` the
//! error types.

mod connect;
mod deletion;
mod error;
mod import;
mod listen;
mod notify;
mod reads;
mod schema;
mod store;
mod writer;

pub use connect::{PostgresOptions, CONNECT_TIMEOUT, POOL_TIMEOUT, TCP_USER_TIMEOUT};
pub use error::OpenError;
pub use store::PostgresStore;
