//! `stream.delete` / `stream.truncate` on PostgreSQL (SPEC §18).
//!
//! A call removes the stream's messages in chunks of at most [`CHUNK`], oldest positions first,
//! each chunk its own transaction that first locks the namespace's counter row (`SELECT … FOR
//! UPDATE`), the lock every write, import and clear of the namespace takes on every instance.
//! So a chunk is serialized with all of them, and between two chunks the writers queued on the
//! lock go first (the next chunk asks for the lock a round trip after the last one released
//! it): a long deletion holds up other writers for one chunk at a time, never for the whole
//! call. The rule that decides the call and when it records its [`Deletion`] is
//! `messagedb_core::deletion` (the same as the embedded backend's); this module is its SQL.
//!
//! A chunk is three round trips: `BEGIN`, the lock and the stream's version (pipelined; the
//! version is read once the lock is granted, so it includes every earlier commit); the removal;
//! then the counters (SPEC §16.3:
//! messages, the stream when it has none left, its category, whose row goes when it has no
//! message left, and the last activity), the stream's floor when it is emptied (its version is
//! kept: versions never go back), the deletion record at the next global position with its
//! `NOTIFY` when this chunk finishes a call that removed something, and `COMMIT` (pipelined).
//! The record is delivered through `LISTEN` like a commit, so every instance hears it in
//! global-position order with the messages around it.
//!
//! **Physical erasure.** The rows are deleted; their bytes stay in the table's pages until
//! VACUUM reclaims them, and in WAL, archives, replicas and backups for their retention (the
//! README's "Deletion on PostgreSQL" says what an operator can do).

use deadpool_postgres::{ClientWrapper, Object, Pool};
use messagedb_core::deletion::{plan, Chunk, Progress, CHUNK};
use messagedb_core::{
    category, DeleteOutcome, DeleteRequest, Deletion, NamespaceKey, StoreError, Timestamp,
};
use tokio_postgres::types::Type;

use crate::error::NsError;
use crate::notify;
use crate::reads::Param;

/// Runs one call on the namespace with key `key`; `NsError::Gone` when its counter row or schema
/// is gone (deleted, perhaps re-created elsewhere).
pub(crate) async fn delete_messages(
    pool: &Pool,
    key: &NamespaceKey,
    schema: &str,
    request: &DeleteRequest,
) -> Result<DeleteOutcome, NsError> {
    let sql = Sql::new(schema);
    let conn = pool.get().await?;
    let mut call = Call {
        request,
        key: key.as_str(),
        before: None,
        progress: Progress::default(),
        version: -1,
    };
    loop {
        match call.chunk(&conn, &sql).await {
            Ok(true) => break,
            Ok(false) => {}
            // Rolled back: the connection is clean.
            Err(e @ NsError::Store(StoreError::VersionConflict { .. })) => return Err(e),
            Err(e) => {
                // Whatever state the session is in, it is not reused: dropping the client
                // closes the connection, and PostgreSQL rolls back what was not committed.
                drop(Object::take(conn));
                return Err(e);
            }
        }
    }
    Ok(DeleteOutcome {
        deleted: call.progress.deleted,
        version: call.version,
    })
}

/// One call in progress.
struct Call<'a> {
    request: &'a DeleteRequest,
    key: &'a str,
    /// Decided by the first chunk, from the stream's version then.
    before: Option<i64>,
    progress: Progress,
    /// The stream's version as of the last chunk.
    version: i64,
}

impl Call<'_> {
    /// Runs the next chunk in its own transaction; `Ok(true)` when the call is finished. On an
    /// error other than a version conflict the transaction may still be open: the caller
    /// drops the connection.
    async fn chunk(&mut self, client: &ClientWrapper, sql: &Sql) -> Result<bool, NsError> {
        let stream = self.request.stream.as_str();
        let key = self.key;

        // 1. BEGIN, the lock, then the version under it (pipelined).
        let key_param: [Param<'_>; 1] = [(&key, Type::TEXT)];
        let stream_param: [Param<'_>; 1] = [(&stream, Type::TEXT)];
        let ((), counter, version) = futures::try_join!(
            client.batch_execute("BEGIN"),
            client.query_typed_opt(LOCK, &key_param),
            client.query_typed_one(&sql.version, &stream_param),
        )?;
        let Some(counter) = counter else {
            return Err(NsError::Gone);
        };
        let next_global_position: i64 = counter.try_get(0)?;
        let version: Option<i64> = version.try_get(0)?;
        let version = version.unwrap_or(-1);
        let before = match self.before {
            Some(before) => before,
            None => match plan(self.request, version) {
                Ok(before) => *self.before.insert(before),
                Err(e) => {
                    client.batch_execute("ROLLBACK").await?;
                    return Err(e.into());
                }
            },
        };

        // 2. The removal. A chunk that removed fewer than it may has left nothing below `before`
        // (it takes the oldest first, under the lock); one that removed a full chunk is followed
        // by another, which may remove nothing. No query asks what is left: the rows removed stay
        // in the index (dead) until vacuum, and an EXISTS that walked 100,000 of them took
        // 284 ms, with every writer of the namespace waiting on the lock.
        let chunk_size = CHUNK;
        let remove_params: [Param<'_>; 3] = [
            (&stream, Type::TEXT),
            (&before, Type::INT8),
            (&chunk_size, Type::INT8),
        ];
        let removed: i64 = client
            .query_typed_one(&sql.remove, &remove_params)
            .await?
            .try_get(0)?;
        let remaining = removed == chunk_size;
        // Every message of the stream is at or below its version: with nothing left below
        // `before > version`, the stream is empty, and it was not before this call if the call
        // removed anything.
        let emptied = !remaining && before > version && (removed > 0 || self.progress.deleted > 0);
        let deletion = self
            .progress
            .records(u64::try_from(removed).unwrap_or(0), remaining)
            .then(|| Deletion {
                global_position: next_global_position,
                stream_name: stream.to_owned(),
                before,
                time: Timestamp::now(),
            });

        // 3. The counters (SPEC §16.3), the floor, the record and COMMIT (pipelined; a failing
        // statement aborts the transaction, so the COMMIT behind it rolls back).
        let category = category(stream);
        let streams = i64::from(emptied);
        let record = deletion.as_ref().map(|d| {
            (
                d.time.as_micros(),
                d.global_position + 1,
                notify::deletion_payload(key, d),
            )
        });
        let mut statements: Vec<(&str, Vec<Param<'_>>)> = Vec::new();
        if removed > 0 || emptied {
            statements.push((
                &sql.shrink_category,
                vec![
                    (&category, Type::TEXT),
                    (&removed, Type::INT8),
                    (&streams, Type::INT8),
                ],
            ));
            statements.push((&sql.drop_category, vec![(&category, Type::TEXT)]));
            statements.push((
                &sql.shrink_counter,
                vec![
                    (&key, Type::TEXT),
                    (&removed, Type::INT8),
                    (&streams, Type::INT8),
                ],
            ));
            if emptied {
                // Versions never go back: the stream keeps its version as its floor.
                statements.push((
                    &sql.floor,
                    vec![(&stream, Type::TEXT), (&version, Type::INT8)],
                ));
            }
        }
        if let (Some(deletion), Some((time, next, payload))) = (&deletion, &record) {
            statements.push((
                &sql.record,
                vec![
                    (&deletion.global_position, Type::INT8),
                    (&deletion.stream_name, Type::TEXT),
                    (&deletion.before, Type::INT8),
                    (time, Type::INT8),
                ],
            ));
            statements.push((ADVANCE, vec![(&key, Type::TEXT), (next, Type::INT8)]));
            statements.push((notify::NOTIFY_ONE, vec![(payload, Type::TEXT)]));
        }
        let writes = futures::future::try_join_all(
            statements
                .iter()
                .map(|(statement, params)| client.execute_typed(statement, params)),
        );
        futures::try_join!(writes, client.batch_execute("COMMIT"))?;
        self.version = version;
        let removed = u64::try_from(removed).unwrap_or(0);
        Ok(self.progress.chunk(Chunk { removed, remaining }))
    }
}

/// Locks the namespace's counter row until the end of the transaction (as every writer does).
const LOCK: &str = "SELECT next_global_position FROM messagedb.counters WHERE key = $1 FOR UPDATE";

/// Moves the counter of key `$1` past a deletion record: to `$2`.
const ADVANCE: &str = "UPDATE messagedb.counters SET next_global_position = $2 WHERE key = $1";

/// The statements of a call, for its namespace's schema.
struct Sql {
    /// The version of stream `$1`: its newest position, else its floor; NULL if never written.
    version: String,
    /// Removes up to `$3` messages of stream `$1` below position `$2`, oldest first (an index
    /// walk of `(stream_name, position)`, then primary-key deletes); returns how many.
    remove: String,
    /// Subtracts `$2` messages and `$3` streams from category `$1`.
    shrink_category: String,
    /// Drops category `$1`'s row when it has no message left.
    drop_category: String,
    /// Subtracts `$2` messages and `$3` streams from the totals of key `$1` and re-reads the
    /// last activity (the removed messages may have held it): two backward primary-key seeks.
    shrink_counter: String,
    /// Keeps version `$2` as stream `$1`'s floor (never lowering one kept before).
    floor: String,
    /// Inserts a deletion record.
    record: String,
}

impl Sql {
    fn new(schema: &str) -> Sql {
        Sql {
            version: format!(
                "SELECT coalesce((SELECT position FROM {schema}.messages \
                     WHERE stream_name = $1 ORDER BY position DESC LIMIT 1), \
                     (SELECT version FROM {schema}.stream_floors WHERE stream_name = $1))"
            ),
            remove: format!(
                "WITH d AS (DELETE FROM {schema}.messages WHERE global_position IN ( \
                     SELECT global_position FROM {schema}.messages \
                     WHERE stream_name = $1 AND position < $2 ORDER BY position LIMIT $3) \
                     RETURNING 1) \
                 SELECT count(*) FROM d"
            ),
            shrink_category: format!(
                "UPDATE {schema}.categories SET message_count = message_count - $2, \
                     stream_count = stream_count - $3 WHERE category = $1"
            ),
            drop_category: format!(
                "DELETE FROM {schema}.categories WHERE category = $1 AND message_count <= 0"
            ),
            shrink_counter: format!(
                "UPDATE messagedb.counters SET message_count = message_count - $2, \
                     stream_count = stream_count - $3, \
                     last_global_position = \
                         coalesce((SELECT max(global_position) FROM {schema}.messages), 0), \
                     last_time = (SELECT time FROM {schema}.messages \
                                  ORDER BY global_position DESC LIMIT 1) \
                 WHERE key = $1"
            ),
            floor: format!(
                "INSERT INTO {schema}.stream_floors AS f (stream_name, version) VALUES ($1, $2) \
                 ON CONFLICT (stream_name) DO UPDATE SET \
                     version = GREATEST(f.version, excluded.version)"
            ),
            record: format!(
                "INSERT INTO {schema}.deletions (global_position, stream_name, before, time) \
                 VALUES ($1, $2, $3, $4)"
            ),
        }
    }
}
