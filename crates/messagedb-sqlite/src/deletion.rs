//! `stream.delete` / `stream.truncate` on the embedded backend (SPEC §18).
//!
//! A call is a [`DeleteJob`] in the namespace's write queue, so it is serialized with every
//! write. Each turn of the writer runs one chunk of at most [`CHUNK`] messages, oldest first,
//! in its own transaction; a job that is not finished goes to the back of the queue, so writes
//! queued meanwhile (to any stream of the namespace) wait for one chunk at most. The rule that
//! decides the call and when it records its [`Deletion`] is `messagedb_core::deletion`; this
//! module is its SQL.
//!
//! **Physical erasure.** The write connection runs with `secure_delete` on, so SQLite
//! overwrites removed rows and freed pages with zeros, and the last chunk checkpoints the WAL
//! with `TRUNCATE` before the call is answered: no copy of a removed payload is left in the
//! database file or the WAL (checklist 152).

use messagedb_core::deletion::{plan, Chunk, Progress, CHUNK};
use messagedb_core::{category, DeleteOutcome, DeleteRequest, Deletion, StoreError, Timestamp};
use rusqlite::{params, Connection, TransactionBehavior};
use tokio::sync::oneshot;

use crate::error;
use crate::namespace::{Shared, Status};
use crate::reads;
use crate::writer::Writer;

/// How often the final checkpoint is retried while readers still use older WAL frames.
const CHECKPOINT_ATTEMPTS: u32 = 20;

/// One call in progress.
pub(crate) struct DeleteJob {
    pub(crate) request: DeleteRequest,
    pub(crate) reply: oneshot::Sender<Result<DeleteOutcome, StoreError>>,
    /// Decided by the first chunk, from the stream's version then.
    before: Option<i64>,
    progress: Progress,
    /// The stream's version as of the last chunk.
    version: i64,
}

impl DeleteJob {
    pub(crate) fn new(
        request: DeleteRequest,
        reply: oneshot::Sender<Result<DeleteOutcome, StoreError>>,
    ) -> DeleteJob {
        DeleteJob {
            request,
            reply,
            before: None,
            progress: Progress::default(),
            version: -1,
        }
    }

    /// Answers the call.
    pub(crate) fn answer(self, outcome: Result<DeleteOutcome, StoreError>) {
        let _ = self.reply.send(outcome);
    }

    pub(crate) fn outcome(&self) -> DeleteOutcome {
        DeleteOutcome {
            deleted: self.progress.deleted,
            version: self.version,
        }
    }
}

impl Writer {
    /// Runs the job's next chunk; `Ok(true)` when the call is finished (then the removed
    /// bytes are gone from the files too).
    pub(crate) fn delete_chunk(
        &mut self,
        shared: &Shared,
        job: &mut DeleteJob,
    ) -> Result<bool, StoreError> {
        let gate = shared.enter_write();
        if gate.status() == Status::Deleted {
            return Err(StoreError::NamespaceNotFound(shared.id.clone()));
        }
        let next_global_position = self.next_global_position();
        let stream = job.request.stream.as_str();
        let tx = self
            .conn_mut()
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(error::sqlite)?;
        let version = reads::stream_version(&tx, stream)
            .map_err(error::sqlite)?
            .unwrap_or(-1);
        let before = match job.before {
            Some(before) => before,
            None => {
                let before = plan(&job.request, version)?;
                job.before = Some(before);
                before
            }
        };
        let chunk = remove_chunk(&tx, stream, before, version).map_err(error::sqlite)?;
        let deletion = if job.progress.records(chunk.removed, chunk.remaining) {
            let deletion = Deletion {
                global_position: next_global_position,
                stream_name: stream.to_owned(),
                before,
                time: Timestamp::now(),
            };
            record(&tx, &deletion).map_err(error::sqlite)?;
            Some(deletion)
        } else {
            None
        };
        tx.commit().map_err(error::sqlite)?;
        job.version = version;
        let finished = job.progress.chunk(chunk);
        if let Some(deletion) = &deletion {
            self.set_next_global_position(deletion.global_position + 1);
            shared.publisher.deleted(&shared.id, deletion);
        }
        drop(gate);
        if finished && job.progress.deleted > 0 {
            checkpoint(self.conn()).map_err(error::sqlite)?;
        }
        Ok(finished)
    }
}

/// Removes up to [`CHUNK`] of the stream's messages below `before`, oldest first, and keeps
/// the counters exact: messages, the stream (when it has none left; its version is kept as its
/// floor), the category (whose row goes when it has no message left) and the last activity.
fn remove_chunk(
    conn: &Connection,
    stream: &str,
    before: i64,
    version: i64,
) -> rusqlite::Result<Chunk> {
    let removed = conn
        .prepare_cached(
            "DELETE FROM messages WHERE global_position IN (SELECT global_position FROM messages \
             WHERE stream_name = ?1 AND position < ?2 ORDER BY position LIMIT ?3)",
        )?
        .execute(params![stream, before, CHUNK])? as u64;
    let remaining = conn
        .prepare_cached("SELECT 1 FROM messages WHERE stream_name = ?1 AND position < ?2 LIMIT 1")?
        .exists(params![stream, before])?;
    if removed == 0 {
        return Ok(Chunk { removed, remaining });
    }
    let emptied = !conn
        .prepare_cached("SELECT 1 FROM messages WHERE stream_name = ?1 LIMIT 1")?
        .exists([stream])?;
    let category = category(stream);
    let streams = i64::from(emptied);
    conn.prepare_cached(
        "UPDATE categories SET message_count = message_count - ?2, \
         stream_count = stream_count - ?3 WHERE category = ?1",
    )?
    .execute(params![category, removed, streams])?;
    conn.prepare_cached("DELETE FROM categories WHERE category = ?1 AND message_count <= 0")?
        .execute([category])?;
    conn.prepare_cached(
        "UPDATE counter SET message_count = message_count - ?1, stream_count = stream_count - ?2, \
         last_global_position = coalesce((SELECT max(global_position) FROM messages), 0), \
         last_time = (SELECT time FROM messages ORDER BY global_position DESC LIMIT 1)",
    )?
    .execute(params![removed, streams])?;
    if emptied {
        conn.prepare_cached(
            "INSERT INTO stream_floors (stream_name, version) VALUES (?1, ?2) \
             ON CONFLICT (stream_name) DO UPDATE SET version = max(version, excluded.version)",
        )?
        .execute(params![stream, version])?;
    }
    Ok(Chunk { removed, remaining })
}

/// Records a deletion at its global position, which the counter hands out like a message's.
fn record(conn: &Connection, deletion: &Deletion) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO deletions (global_position, stream_name, before, time) \
         VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(params![
        deletion.global_position,
        deletion.stream_name,
        deletion.before,
        deletion.time.as_micros()
    ])?;
    conn.prepare_cached("UPDATE counter SET next_global_position = ?1")?
        .execute([deletion.global_position + 1])?;
    Ok(())
}

/// Copies every WAL frame into the database file and truncates the WAL to zero bytes, so the
/// old page images (with the removed payloads) leave the WAL. A reader still on an older
/// snapshot makes SQLite report the checkpoint busy; it is retried (each try waits up to the
/// busy timeout) and then reported as a failure: the rows are gone, but their bytes may remain
/// in the WAL until the next checkpoint, which the caller must know.
fn checkpoint(conn: &Connection) -> rusqlite::Result<()> {
    for _ in 0..CHECKPOINT_ATTEMPTS {
        let busy: i64 = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |row| row.get(0))?;
        if busy == 0 {
            return Ok(());
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    Err(rusqlite::Error::SqliteFailure(
        rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_BUSY),
        Some("the WAL checkpoint after a deletion stayed busy".to_owned()),
    ))
}
