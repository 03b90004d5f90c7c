//! The data-directory lock: `<data-dir>/.lock`, held exclusively while the store is open.
//!
//! Two processes writing the same SQLite files would each believe they own the global-position
//! counters, so the second one must refuse to start. The lock is an advisory `flock`-style lock
//! on an open file description, which the OS releases when the process dies (no stale lock files
//! after `kill -9`), and which also conflicts with a second open inside the same process.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::Path;

use crate::error::OpenError;

/// Holds the lock until dropped. The file itself is never deleted: removing a lock file while
/// another process is about to open it is a classic race.
#[derive(Debug)]
pub(crate) struct DirLock {
    _file: File,
}

impl DirLock {
    /// Locks `<dir>/.lock`, creating it if needed. `dir` is reported as given.
    pub(crate) fn acquire(dir: &Path) -> Result<DirLock, OpenError> {
        let path = dir.join(".lock");
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|source| OpenError::Io {
                path: path.clone(),
                source,
            })?;
        match file.try_lock() {
            Ok(()) => Ok(DirLock { _file: file }),
            Err(TryLockError::WouldBlock) => Err(OpenError::InUse {
                dir: dir.to_path_buf(),
            }),
            Err(TryLockError::Error(source)) => Err(OpenError::Io { path, source }),
        }
    }
}
