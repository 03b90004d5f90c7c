//! Errors of this backend: [`OpenError`] for startup, and the mapping of driver and pool errors
//! onto [`StoreError`] once the store is running.

use deadpool_postgres::Pool;
use messagedb_core::{NamespaceKey, StoreError};
use tokio_postgres::error::SqlState;
use tokio_postgres::types::Type;

/// Why the store could not be opened. The display texts are meant for a startup error line.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The URL is not a PostgreSQL connection URL this backend understands.
    #[error("invalid database URL: {0}")]
    InvalidUrl(String),
    /// The database was migrated by a newer messagedb; writing to it could corrupt it (§10.6).
    #[error("store schema version {found} is newer than this messagedb supports ({supported})")]
    SchemaTooNew { found: i64, supported: i64 },
    /// The TLS configuration could not be built.
    #[error("cannot set up TLS for PostgreSQL: {0}")]
    Tls(String),
    /// PostgreSQL could not be reached, or refused the migrations.
    #[error("cannot open the PostgreSQL store: {0}")]
    Database(String),
}

/// Returned (as a backend error) by every operation after [`messagedb_core::Store::close`].
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("the store is closed")]
pub(crate) struct StoreClosed;

pub(crate) fn closed() -> StoreError {
    StoreError::backend(StoreClosed)
}

/// How an operation on one namespace's schema failed.
#[derive(Debug, Clone)]
pub(crate) enum NsError {
    /// The schema (or the counter row) this instance knew for the namespace is gone: the
    /// namespace was deleted, possibly re-created under a new key, by any instance.
    Gone,
    Store(StoreError),
}

impl From<tokio_postgres::Error> for NsError {
    fn from(error: tokio_postgres::Error) -> NsError {
        match error.code() {
            Some(code)
                if *code == SqlState::UNDEFINED_TABLE || *code == SqlState::INVALID_SCHEMA_NAME =>
            {
                NsError::Gone
            }
            _ => NsError::Store(StoreError::backend(error)),
        }
    }
}

impl NsError {
    /// `self`, or [`NsError::Gone`] when `self` is PostgreSQL's internal error (`XX000`) and the
    /// namespace's counter row is gone. A catalog object dropped under a running statement can
    /// surface as an internal error rather than as a missing table (a function dropped between
    /// a statement's planning and its start: `cache lookup failed for function …`); with the
    /// namespace deleted, the deletion is the cause, and the operation reports it as every
    /// other operation racing a deletion does. Asks the database only after such an error.
    pub(crate) async fn settle(self, pool: &Pool, key: &NamespaceKey) -> NsError {
        let NsError::Store(StoreError::Backend(error)) = &self else {
            return self;
        };
        let internal = error
            .downcast_ref::<tokio_postgres::Error>()
            .is_some_and(|e| e.code() == Some(&SqlState::INTERNAL_ERROR));
        if !internal {
            return self;
        }
        let Ok(conn) = pool.get().await else {
            return self;
        };
        let found = conn
            .query_typed_opt(
                "SELECT 1 FROM messagedb.counters WHERE key = $1",
                &[(&key.as_str(), Type::TEXT)],
            )
            .await;
        match found {
            Ok(None) => NsError::Gone,
            _ => self,
        }
    }
}

impl From<deadpool_postgres::PoolError> for NsError {
    fn from(error: deadpool_postgres::PoolError) -> NsError {
        NsError::Store(pool(error))
    }
}

impl From<StoreError> for NsError {
    fn from(error: StoreError) -> NsError {
        NsError::Store(error)
    }
}

pub(crate) fn pool(error: deadpool_postgres::PoolError) -> StoreError {
    match error {
        deadpool_postgres::PoolError::Closed => closed(),
        other => StoreError::backend(other),
    }
}

pub(crate) fn pg(error: tokio_postgres::Error) -> StoreError {
    StoreError::backend(error)
}
