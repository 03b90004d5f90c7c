//! Import batches and the forced-import clear (SPEC §9.3, §9.4) on PostgreSQL.
//!
//! An import batch is one transaction under the same lock as `stream.write`: the namespace's
//! counter row, `SELECT … FOR UPDATE`, held until commit. So imports and writes of a namespace
//! are serialised on every instance, and the collision checks cannot race a concurrent write.
//! The checks read, in one pipelined round trip, which of the batch's global positions, ids and
//! (stream, position) pairs are stored already; then each record, in batch order, is checked
//! against those and against the records before it, in the §9.3 order (gpos, id, (stream,
//! position)). A refused batch rolls back and changed nothing.
//!
//! The committed records are announced like writes: one `NOTIFY` per record, queued in the
//! transaction in global-position order, so `LISTEN` stays the only feed of every instance's
//! commit listener. A clear deletes the rows under the same lock and sends a `cleared` event,
//! on which every instance ends the namespace's subscriptions. Both keep the counters of
//! `ns.info` and `ns.categories` (SPEC §16.3) in the same transaction.

use std::collections::{HashMap, HashSet};

use deadpool_postgres::Pool;
use messagedb_core::{cardinal_id, hash_64, ImportError, ImportRecord, NamespaceId, Positions};
use tokio_postgres::types::Type;
use uuid::Uuid;

use crate::error::NsError;
use crate::notify::{self, NamespaceEvent};
use crate::reads::Param;

/// How an import batch failed on one namespace schema.
pub(crate) enum ImportFailure {
    /// The schema or counter row is gone (deleted, perhaps re-created elsewhere).
    Gone,
    Refused(ImportError),
}

impl From<NsError> for ImportFailure {
    fn from(error: NsError) -> ImportFailure {
        match error {
            NsError::Gone => ImportFailure::Gone,
            NsError::Store(e) => ImportFailure::Refused(ImportError::Store(e)),
        }
    }
}

impl From<tokio_postgres::Error> for ImportFailure {
    fn from(error: tokio_postgres::Error) -> ImportFailure {
        NsError::from(error).into()
    }
}

impl From<deadpool_postgres::PoolError> for ImportFailure {
    fn from(error: deadpool_postgres::PoolError) -> ImportFailure {
        NsError::from(error).into()
    }
}

const INSERT: &str = "INSERT INTO {schema}.messages (global_position, position, stream_name, \
     category, type, id, data, metadata, correlation_category, cardinal_hash, time) \
     SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::text[], $5::text[], \
     $6::uuid[], $7::text[], $8::text[], $9::text[], $10::bigint[], $11::bigint[])";

/// Imports one batch into the namespace with internal key `key`, atomically.
pub(crate) async fn import_batch(
    pool: &Pool,
    key: &str,
    schema: &str,
    records: &[ImportRecord],
) -> Result<(), ImportFailure> {
    let mut conn = pool.get().await?;
    let tx = conn.transaction().await?;
    let counter = tx
        .query_typed_opt(
            "SELECT next_global_position FROM messagedb.counters WHERE key = $1 FOR UPDATE",
            &[(&key, Type::TEXT)],
        )
        .await?;
    if counter.is_none() {
        return Err(ImportFailure::Gone);
    }
    if records.is_empty() {
        return Ok(());
    }

    let gpos: Vec<i64> = records.iter().map(|r| r.global_position).collect();
    let ids: Vec<Uuid> = records.iter().map(|r| *r.id.as_uuid()).collect();
    let streams: Vec<&str> = records.iter().map(|r| r.stream_name.as_str()).collect();
    let positions: Vec<i64> = records.iter().map(|r| r.position).collect();
    // A deletion record holds its position too (SPEC §18): no message may share it.
    let gpos_sql = format!(
        "SELECT global_position FROM {schema}.messages WHERE global_position = ANY($1) \
         UNION ALL SELECT global_position FROM {schema}.deletions WHERE global_position = ANY($1)"
    );
    let ids_sql = format!("SELECT id, stream_name FROM {schema}.messages WHERE id = ANY($1)");
    let pairs_sql = format!(
        "SELECT m.stream_name, m.position FROM {schema}.messages m \
         JOIN unnest($1::text[], $2::bigint[]) AS p(stream_name, position) \
         ON m.stream_name = p.stream_name AND m.position = p.position"
    );
    // Which of the batch's streams have messages already (one index probe per stream): the
    // others are new, and count once each in the counters.
    let stored_sql = format!(
        "SELECT s.name FROM unnest($1::text[]) AS s(name) \
         WHERE EXISTS (SELECT FROM {schema}.messages m WHERE m.stream_name = s.name)"
    );
    let mut distinct: Vec<&str> = streams.clone();
    distinct.sort_unstable();
    distinct.dedup();
    let pair_params: [Param<'_>; 2] =
        [(&streams, Type::TEXT_ARRAY), (&positions, Type::INT8_ARRAY)];
    let gpos_params: [Param<'_>; 1] = [(&gpos, Type::INT8_ARRAY)];
    let id_params: [Param<'_>; 1] = [(&ids, Type::UUID_ARRAY)];
    let stored_params: [Param<'_>; 1] = [(&distinct, Type::TEXT_ARRAY)];
    let (gpos_rows, id_rows, pair_rows, stored_rows) = futures::try_join!(
        tx.query_typed(&gpos_sql, &gpos_params),
        tx.query_typed(&ids_sql, &id_params),
        tx.query_typed(&pairs_sql, &pair_params),
        tx.query_typed(&stored_sql, &stored_params),
    )?;
    let mut taken_gpos: HashSet<i64> = HashSet::with_capacity(records.len());
    for row in &gpos_rows {
        taken_gpos.insert(row.try_get(0)?);
    }
    let mut owners: HashMap<Uuid, String> = HashMap::with_capacity(records.len());
    for row in &id_rows {
        owners.insert(row.try_get(0)?, row.try_get(1)?);
    }
    let mut taken_pairs: HashSet<(String, i64)> = HashSet::with_capacity(records.len());
    for row in &pair_rows {
        taken_pairs.insert((row.try_get(0)?, row.try_get(1)?));
    }

    for (index, record) in records.iter().enumerate() {
        if !taken_gpos.insert(record.global_position) {
            return Err(ImportFailure::Refused(ImportError::PositionExists {
                global_position: record.global_position,
                index,
            }));
        }
        let id = *record.id.as_uuid();
        if let Some(stream) = owners.get(&id) {
            return Err(ImportFailure::Refused(ImportError::DuplicateMessageId {
                id: record.id,
                stream: stream.clone(),
                index,
            }));
        }
        owners.insert(id, record.stream_name.as_str().to_owned());
        let pair = (record.stream_name.as_str().to_owned(), record.position);
        if taken_pairs.contains(&pair) {
            return Err(ImportFailure::Refused(ImportError::StreamPositionExists {
                stream: pair.0,
                position: pair.1,
                index,
            }));
        }
        taken_pairs.insert(pair);
    }

    let categories: Vec<&str> = records.iter().map(|r| r.stream_name.category()).collect();
    let types: Vec<&str> = records.iter().map(|r| r.message_type.as_str()).collect();
    let data: Vec<&str> = records.iter().map(|r| r.data.as_str()).collect();
    let metadata: Vec<Option<&str>> = records.iter().map(|r| r.metadata.as_deref()).collect();
    let correlation: Vec<Option<String>> = records
        .iter()
        .map(|r| {
            r.metadata
                .as_deref()
                .and_then(messagedb_core::json::correlation_category)
        })
        .collect();
    let cardinal_hash: Vec<Option<i64>> = records
        .iter()
        .map(|r| {
            let cid = cardinal_id(r.stream_name.as_str());
            (!cid.is_empty()).then(|| hash_64(cid))
        })
        .collect();
    let times: Vec<i64> = records.iter().map(|r| r.time.as_micros()).collect();
    let mut order: Vec<&ImportRecord> = records.iter().collect();
    order.sort_unstable_by_key(|r| r.global_position);
    let notifications: Vec<String> = order
        .iter()
        .map(|r| {
            notify::message_payload(
                key,
                Positions {
                    position: r.position,
                    global_position: r.global_position,
                },
                r.stream_name.as_str(),
            )
        })
        .collect();
    let highest = order.last().map_or(0, |r| r.global_position);
    let highest_time = order.last().map_or(0, |r| r.time.as_micros());
    let count = records.len() as i64;

    // Per category: messages, and streams without a stored message (each once).
    let mut stored: HashSet<String> = HashSet::with_capacity(stored_rows.len());
    for row in &stored_rows {
        stored.insert(row.try_get(0)?);
    }
    let mut growth: HashMap<&str, (i64, i64)> = HashMap::new();
    let mut counted: HashSet<&str> = HashSet::with_capacity(distinct.len());
    for record in records {
        let stream = record.stream_name.as_str();
        let new_stream = !stored.contains(stream) && counted.insert(stream);
        let category = growth.entry(record.stream_name.category()).or_default();
        category.0 += 1;
        category.1 += i64::from(new_stream);
    }
    let grown: Vec<&str> = growth.keys().copied().collect();
    let grown_messages: Vec<i64> = grown.iter().map(|c| growth[c].0).collect();
    let grown_streams: Vec<i64> = grown.iter().map(|c| growth[c].1).collect();
    let new_streams: i64 = grown_streams.iter().sum();

    let insert_sql = INSERT.replace("{schema}", schema);
    let insert_params: [Param<'_>; 11] = [
        (&gpos, Type::INT8_ARRAY),
        (&positions, Type::INT8_ARRAY),
        (&streams, Type::TEXT_ARRAY),
        (&categories, Type::TEXT_ARRAY),
        (&types, Type::TEXT_ARRAY),
        (&ids, Type::UUID_ARRAY),
        (&data, Type::TEXT_ARRAY),
        (&metadata, Type::TEXT_ARRAY),
        (&correlation, Type::TEXT_ARRAY),
        (&cardinal_hash, Type::INT8_ARRAY),
        (&times, Type::INT8_ARRAY),
    ];
    let next = highest + 1;
    let update_params: [Param<'_>; 6] = [
        (&key, Type::TEXT),
        (&next, Type::INT8),
        (&count, Type::INT8),
        (&new_streams, Type::INT8),
        (&highest, Type::INT8),
        (&highest_time, Type::INT8),
    ];
    let grow_sql = crate::writer::GROW_CATEGORIES.replace("{schema}", schema);
    let grow_params: [Param<'_>; 3] = [
        (&grown, Type::TEXT_ARRAY),
        (&grown_messages, Type::INT8_ARRAY),
        (&grown_streams, Type::INT8_ARRAY),
    ];
    let notify_params: [Param<'_>; 1] = [(&notifications, Type::TEXT_ARRAY)];
    // Pipelined: sent together, executed in order; any failure fails the batch before COMMIT.
    let insert = tx.execute_typed(&insert_sql, &insert_params);
    // The counter never moves backwards (§9.4). The last activity moves only if the batch
    // reaches above the highest stored position (an import may land below it).
    let update = tx.execute_typed(
        "UPDATE messagedb.counters \
         SET next_global_position = GREATEST(next_global_position, $2), \
             message_count = message_count + $3, stream_count = stream_count + $4, \
             last_time = CASE WHEN $5 > last_global_position THEN $6 ELSE last_time END, \
             last_global_position = GREATEST(last_global_position, $5) \
         WHERE key = $1",
        &update_params,
    );
    let grow = tx.execute_typed(&grow_sql, &grow_params);
    let notify = tx.execute_typed(notify::NOTIFY_ALL, &notify_params);
    futures::try_join!(insert, update, grow, notify)?;
    tx.commit().await?;
    Ok(())
}

/// Deletes every message of the namespace under the counter-row lock, keeping the counter, and
/// tells every instance to end the namespace's subscriptions.
pub(crate) async fn clear(
    pool: &Pool,
    key: &str,
    schema: &str,
    id: &NamespaceId,
) -> Result<(), NsError> {
    let mut conn = pool.get().await?;
    let tx = conn.transaction().await?;
    let counter = tx
        .query_typed_opt(
            "SELECT next_global_position FROM messagedb.counters WHERE key = $1 FOR UPDATE",
            &[(&key, Type::TEXT)],
        )
        .await?;
    if counter.is_none() {
        return Err(NsError::Gone);
    }
    // Deletion records and stream floors go too: the cleared namespace starts afresh, except
    // for its counter (SPEC §9.4).
    tx.batch_execute(&format!(
        "DELETE FROM {schema}.messages; DELETE FROM {schema}.categories; \
         DELETE FROM {schema}.deletions; DELETE FROM {schema}.stream_floors"
    ))
    .await?;
    tx.execute_typed(
        "UPDATE messagedb.counters SET message_count = 0, stream_count = 0, \
             last_global_position = 0, last_time = NULL \
         WHERE key = $1",
        &[(&key, Type::TEXT)],
    )
    .await?;
    let payload = notify::namespace_payload(key, NamespaceEvent::Cleared, id.as_str());
    tx.execute_typed(notify::NOTIFY_ONE, &[(&payload, Type::TEXT)])
        .await?;
    tx.commit().await?;
    Ok(())
}
