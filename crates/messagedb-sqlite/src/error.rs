//! Errors of this backend: [`OpenError`] for startup, and the small private errors that travel
//! inside [`StoreError::Backend`] once the store is running.

use std::io;
use std::path::PathBuf;

use messagedb_core::StoreError;

/// Why the store could not be opened. The display texts are meant for a startup error line.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// Another process (or another open in this process) holds `<dir>/.lock`.
    #[error("data directory {} is in use by another messagedb process", .dir.display())]
    InUse { dir: PathBuf },
    /// A database was written by a newer messagedb; opening it could corrupt it.
    #[error("store schema version {found} is newer than this messagedb supports ({supported})")]
    SchemaTooNew { found: i64, supported: i64 },
    /// A file or directory could not be created, opened or locked.
    #[error("cannot access {}: {source}", .path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// SQLite failed while opening or migrating a database.
    #[error("cannot open {what}: {source}")]
    Sqlite {
        what: String,
        #[source]
        source: rusqlite::Error,
    },
    /// A registry row could not be understood (hand-edited or corrupt registry).
    #[error("registry entry for namespace {id:?} is invalid: {reason}")]
    InvalidRegistry { id: String, reason: &'static str },
}

/// Returned (as a backend error) by every operation after [`messagedb_core::Store::close`].
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("the store is closed")]
pub(crate) struct StoreClosed;

/// A background task died without answering (a panic in a blocking task).
#[derive(Debug, thiserror::Error)]
#[error("storage task failed: {0}")]
pub(crate) struct TaskFailed(pub String);

pub(crate) fn closed() -> StoreError {
    StoreError::backend(StoreClosed)
}

pub(crate) fn sqlite(error: rusqlite::Error) -> StoreError {
    StoreError::backend(error)
}
