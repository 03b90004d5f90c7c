//! Deleting messages for good (SPEC §18): `stream.delete` and `stream.truncate`.
//!
//! Both are one operation, *remove the messages of one stream below a position* (`before`):
//! `stream.delete` is that with `before` = version + 1, after its optional `expectedVersion`
//! check. [`plan`] decides a call from the stream's version when it starts; both backends call
//! it, then remove the messages in chunks of at most [`CHUNK`], each its own transaction
//! serialized with the namespace's writes, oldest positions first, so a deletion never holds
//! the writer for long. The transaction that leaves no message below `before` also records the
//! [`Deletion`] at the next global position, if the call removed anything, so a call that
//! stops half-way (a crash) has removed a prefix of the stream and leaves no record; retried,
//! it removes the rest and records it.
//!
//! **Versions never go back.** A stream's version is the highest position ever assigned to it,
//! whether or not that message still exists, so backends keep the version of a stream whose
//! messages are all gone (its *floor*) and [`crate::write::decide`] appends after it.

use crate::{StoreError, StreamName, Timestamp};

/// Messages removed per transaction: small enough that other streams' writers never wait long
/// behind a deletion (SPEC §18 asks for well under 100 ms), large enough that the per-commit
/// cost (an fsync, and on the embedded backend a WAL checkpoint at the end) stays small.
pub const CHUNK: i64 = 1000;

/// `ns.deletions`: the default and largest page.
pub const DEFAULT_DELETIONS_PAGE: u32 = 1000;
pub const MAX_DELETIONS_PAGE: u32 = 10_000;

/// What to remove.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeleteKind {
    /// `stream.delete`: every message, if the stream is at `expected_version` (when given).
    Delete { expected_version: Option<i64> },
    /// `stream.truncate`: the messages with `position < before` (`before ≥ 0`).
    Truncate { before: i64 },
}

/// One `stream.delete` or `stream.truncate` call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeleteRequest {
    pub stream: StreamName,
    pub kind: DeleteKind,
}

/// The result of a call: `{"deleted":n,"version":v}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeleteOutcome {
    /// Messages this call removed.
    pub deleted: u64,
    /// The stream's version afterwards (unchanged by the call: versions never go back); -1 for
    /// a stream never written.
    pub version: i64,
}

/// A deletion in the log: it took `global_position`, and the messages of `stream_name` with
/// `position < before` are gone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deletion {
    pub global_position: i64,
    pub stream_name: String,
    pub before: i64,
    pub time: Timestamp,
}

/// Decides a call from the stream's version when it starts: the `before` to remove below.
/// A `stream.delete` whose `expectedVersion` differs is refused as a write would be (§6.3).
/// Removing nothing (a stream never written, or nothing below `before`) is not an error.
pub fn plan(request: &DeleteRequest, version: i64) -> Result<i64, StoreError> {
    match request.kind {
        DeleteKind::Delete { expected_version } => {
            if let Some(expected) = expected_version {
                if expected != version {
                    return Err(StoreError::VersionConflict {
                        stream: request.stream.clone(),
                        expected,
                        actual: version,
                    });
                }
            }
            Ok(version + 1)
        }
        DeleteKind::Truncate { before } => Ok(before.max(0)),
    }
}

/// What one chunk transaction did, as the backend reports it to [`Progress::chunk`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Chunk {
    /// Messages the chunk removed.
    pub removed: u64,
    /// Whether messages of the stream below `before` remain after it.
    pub remaining: bool,
}

/// A call in progress, across its chunks: the one place that decides when it is finished and
/// whether the transaction that finishes it records a [`Deletion`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Progress {
    /// Messages removed so far by this call.
    pub deleted: u64,
}

impl Progress {
    /// Whether the transaction of a chunk that removed `removed` messages and left
    /// `remaining` must record the deletion: it is the last one, and the call removed
    /// something. Called inside the chunk's transaction, before its commit.
    pub fn records(&self, removed: u64, remaining: bool) -> bool {
        !remaining && self.deleted + removed > 0
    }

    /// Accounts for a committed chunk; `true` when the call is finished.
    pub fn chunk(&mut self, chunk: Chunk) -> bool {
        self.deleted += chunk.removed;
        !chunk.remaining
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(kind: DeleteKind) -> DeleteRequest {
        DeleteRequest {
            stream: StreamName::parse("account-1").unwrap(),
            kind,
        }
    }

    #[test]
    fn delete_removes_below_version_plus_one_after_its_check() {
        let plain = request(DeleteKind::Delete {
            expected_version: None,
        });
        assert_eq!(plan(&plain, 9).unwrap(), 10);
        assert_eq!(plan(&plain, -1).unwrap(), 0, "never written: nothing");
        let checked = request(DeleteKind::Delete {
            expected_version: Some(4),
        });
        assert_eq!(plan(&checked, 4).unwrap(), 5);
        match plan(&checked, 9) {
            Err(StoreError::VersionConflict {
                expected, actual, ..
            }) => assert_eq!((expected, actual), (4, 9)),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn truncate_removes_below_before() {
        assert_eq!(
            plan(&request(DeleteKind::Truncate { before: 5 }), 9).unwrap(),
            5
        );
        assert_eq!(
            plan(&request(DeleteKind::Truncate { before: 50 }), 9).unwrap(),
            50
        );
    }

    /// The record goes with the chunk that finishes a call that removed something, also when
    /// that chunk itself removed nothing new (the previous one took exactly the rest).
    #[test]
    fn the_last_chunk_records_what_the_call_removed() {
        let mut progress = Progress::default();
        assert!(!progress.records(1000, true));
        assert!(!progress.chunk(Chunk {
            removed: 1000,
            remaining: true
        }));
        assert!(progress.records(0, false));
        assert!(progress.chunk(Chunk {
            removed: 0,
            remaining: false
        }));
        assert_eq!(progress.deleted, 1000);

        let nothing = Progress::default();
        assert!(
            !nothing.records(0, false),
            "removing nothing records nothing"
        );
    }
}
