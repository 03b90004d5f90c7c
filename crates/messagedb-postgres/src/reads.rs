//! Every read query of a namespace's messages, with the same semantics as the embedded backend
//! (I9).
//!
//! Most queries are sent with `query_typed` (parameter types given up front), which parses, binds
//! and executes in one round trip with the unnamed statement. The hot ones (`stream.get`, and the
//! writer's) are prepared once per pooled connection instead ([`prepared`]), which spares
//! PostgreSQL parsing and planning them on every call; schema names differ per namespace, so
//! that cache is bounded ([`MAX_PREPARED`] per connection). Each statement reads one snapshot
//! (READ COMMITTED), so a read never sees gpos N+1 without N (I4).

use deadpool_postgres::ClientWrapper;
use messagedb_core::{
    CategoryQuery, CategorySummary, Deletion, Message, MessageId, StartAt, StreamQuery,
    StreamSummary, StreamsQuery, Timestamp,
};
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::{Client, Row, Statement};
use uuid::Uuid;

/// A query parameter with its PostgreSQL type.
pub(crate) type Param<'a> = (&'a (dyn ToSql + Sync), Type);

/// The most statements one pooled connection keeps prepared; when a new one would exceed it,
/// the connection's cache starts over (and PostgreSQL frees the statements). A handful per
/// namespace in use, so this covers a few dozen busy namespaces per connection.
pub(crate) const MAX_PREPARED: usize = 128;

/// `sql` prepared with parameter types `types` on this connection, from its cache when it was
/// prepared before (then without a round trip). Callers that pipeline prepare every statement
/// first: a statement prepared in the middle of a pipeline would be sent after the ones behind it.
pub(crate) async fn prepared(
    client: &ClientWrapper,
    sql: &str,
    types: &[Type],
) -> Result<Statement, tokio_postgres::Error> {
    let cache = &client.statement_cache;
    if cache.size() >= MAX_PREPARED {
        cache.clear();
    }
    client.prepare_typed_cached(sql, types).await
}

/// [`prepared`] with the types of `params`.
pub(crate) async fn prepared_with(
    client: &ClientWrapper,
    sql: &str,
    params: &[Param<'_>],
) -> Result<Statement, tokio_postgres::Error> {
    let types: Vec<Type> = params.iter().map(|(_, t)| t.clone()).collect();
    prepared(client, sql, &types).await
}

/// The values of `params`, for a prepared statement.
pub(crate) fn values<'a>(params: &[Param<'a>]) -> Vec<&'a (dyn ToSql + Sync)> {
    params.iter().map(|(v, _)| *v).collect()
}

/// The columns [`message`] decodes, in its order.
pub(crate) const COLUMNS: &str =
    "id, stream_name, type, position, global_position, data, metadata, time";

pub(crate) async fn read_stream(
    client: &ClientWrapper,
    schema: &str,
    stream: &str,
    query: &StreamQuery,
) -> Result<Vec<Message>, tokio_postgres::Error> {
    let Some(scan) = query.scan() else {
        return Ok(Vec::new());
    };
    // The limit is part of the text, not a parameter: with `LIMIT $3` PostgreSQL estimates a
    // generic plan to return a tenth of the stream, finds it dearer than a custom plan for
    // `LIMIT 10` and so plans every call again (about 0.15 ms of a 10-message read). With the
    // limit in the text, the generic plan costs the same and is kept. A few distinct batch
    // sizes per client make a few statements, which the bounded cache absorbs.
    let limit = match scan.limit {
        Some(n) => format!(" LIMIT {n}"),
        None => String::new(),
    };
    let (sql, from) = match scan.start {
        StartAt::Position(p) => (
            format!(
                "SELECT {COLUMNS} FROM {schema}.messages \
                 WHERE stream_name = $1 AND position >= $2 ORDER BY position{limit}"
            ),
            p,
        ),
        // Still in position order, as on the embedded backend.
        StartAt::GlobalPosition(g) => (
            format!(
                "SELECT {COLUMNS} FROM {schema}.messages \
                 WHERE stream_name = $1 AND global_position >= $2 ORDER BY position{limit}"
            ),
            g,
        ),
    };
    let statement = prepared(client, &sql, &[Type::TEXT, Type::INT8]).await?;
    let rows = client.query(&statement, &[&stream, &from]).await?;
    rows.iter().map(message).collect()
}

pub(crate) async fn last_message(
    client: &Client,
    schema: &str,
    stream: &str,
    message_type: Option<&str>,
) -> Result<Option<Message>, tokio_postgres::Error> {
    let row = match message_type.filter(|t| !t.is_empty()) {
        None => {
            client
                .query_typed_opt(
                    &format!(
                        "SELECT {COLUMNS} FROM {schema}.messages \
                         WHERE stream_name = $1 ORDER BY position DESC LIMIT 1"
                    ),
                    &[(&stream, Type::TEXT)],
                )
                .await?
        }
        Some(t) => {
            client
                .query_typed_opt(
                    &format!(
                        "SELECT {COLUMNS} FROM {schema}.messages \
                         WHERE stream_name = $1 AND type = $2 ORDER BY position DESC LIMIT 1"
                    ),
                    &[(&stream, Type::TEXT), (&t, Type::TEXT)],
                )
                .await?
        }
    };
    row.as_ref().map(message).transpose()
}

/// The stream version (SPEC §18: the highest position ever assigned), `None` for a stream
/// never written: its newest message's position, or for a stream whose messages were all
/// deleted, its floor. One index seek, and a second one only for a stream without messages.
pub(crate) async fn stream_version(
    client: &Client,
    schema: &str,
    stream: &str,
) -> Result<Option<i64>, tokio_postgres::Error> {
    let row = client
        .query_typed_one(
            &format!(
                "SELECT coalesce((SELECT position FROM {schema}.messages \
                     WHERE stream_name = $1 ORDER BY position DESC LIMIT 1), \
                     (SELECT version FROM {schema}.stream_floors WHERE stream_name = $1))"
            ),
            &[(&stream, Type::TEXT)],
        )
        .await?;
    row.try_get(0)
}

/// The columns [`deletion`] decodes, in its order.
const DELETION_COLUMNS: &str = "global_position, stream_name, before, time";

/// `ns.deletions`: the deletion log from `from`, ascending, at most `limit` (primary-key range).
pub(crate) async fn list_deletions(
    client: &Client,
    schema: &str,
    from: i64,
    limit: u32,
) -> Result<Vec<Deletion>, tokio_postgres::Error> {
    let limit = i64::from(limit);
    let rows = client
        .query_typed(
            &format!(
                "SELECT {DELETION_COLUMNS} FROM {schema}.deletions \
                 WHERE global_position >= $1 ORDER BY global_position LIMIT $2"
            ),
            &[(&from, Type::INT8), (&limit, Type::INT8)],
        )
        .await?;
    rows.iter().map(deletion).collect()
}

/// The deletion recorded at `global_position`, if any (for notifications too large to carry
/// it).
pub(crate) async fn deletion_at(
    client: &Client,
    schema: &str,
    global_position: i64,
) -> Result<Option<Deletion>, tokio_postgres::Error> {
    let row = client
        .query_typed_opt(
            &format!(
                "SELECT {DELETION_COLUMNS} FROM {schema}.deletions WHERE global_position = $1"
            ),
            &[(&global_position, Type::INT8)],
        )
        .await?;
    row.as_ref().map(deletion).transpose()
}

/// The highest committed global position, a message's or a deletion's (SPEC §18), 0 when there
/// is none: two backward primary-key seeks.
pub(crate) async fn head(client: &Client, schema: &str) -> Result<i64, tokio_postgres::Error> {
    let row = client
        .query_typed_one(
            &format!(
                "SELECT GREATEST( \
                     coalesce((SELECT max(global_position) FROM {schema}.messages), 0), \
                     coalesce((SELECT max(global_position) FROM {schema}.deletions), 0))"
            ),
            &[],
        )
        .await?;
    row.try_get(0)
}

/// Decodes the columns of [`DELETION_COLUMNS`].
fn deletion(row: &Row) -> Result<Deletion, tokio_postgres::Error> {
    Ok(Deletion {
        global_position: row.try_get(0)?,
        stream_name: row.try_get(1)?,
        before: row.try_get(2)?,
        time: Timestamp::from_micros(row.try_get(3)?),
    })
}

pub(crate) async fn read_category(
    client: &Client,
    schema: &str,
    query: &CategoryQuery,
) -> Result<Vec<Message>, tokio_postgres::Error> {
    let Some(scan) = query.scan() else {
        return Ok(Vec::new());
    };
    let (from, limit) = (scan.from_global_position, scan.limit);
    let group = scan
        .consumer_group
        .map(|g| (g.member() as i64, g.size() as i64));
    let mut sql = format!("SELECT {COLUMNS} FROM {schema}.messages WHERE global_position >= $1");
    let mut params: Vec<Param<'_>> = vec![(&from, Type::INT8), (&limit, Type::INT8)];
    if let Some(category) = &scan.category {
        params.push((category, Type::TEXT));
        sql.push_str(&format!(" AND category = ${}", params.len()));
    }
    if let Some(correlation) = &scan.correlation {
        params.push((correlation, Type::TEXT));
        sql.push_str(&format!(" AND correlation_category = ${}", params.len()));
    }
    if let Some((member, size)) = &group {
        // SPEC §7.1 on numeric, so that abs(i64::MIN) cannot overflow. Streams with an empty
        // cardinal id have no hash and belong to no member.
        params.push((size, Type::INT8));
        params.push((member, Type::INT8));
        sql.push_str(&format!(
            " AND cardinal_hash IS NOT NULL \
             AND mod(abs(cardinal_hash::numeric), ${}::numeric) = ${}::numeric",
            params.len() - 1,
            params.len()
        ));
    }
    sql.push_str(" ORDER BY global_position LIMIT $2");
    let rows = client.query_typed(&sql, &params).await?;
    rows.iter().map(message).collect()
}

/// `ns.streams`: a loose index scan (a recursive walk from one distinct name to the next, each
/// step an index seek) instead of a `GROUP BY` over every message, so a page costs the same however
/// long the streams are.
pub(crate) async fn list_streams(
    client: &Client,
    schema: &str,
    query: &StreamsQuery,
) -> Result<Vec<StreamSummary>, tokio_postgres::Error> {
    let prefix = query.prefix.as_str();
    // Every name with the prefix is >= the prefix, so when the cursor sorts below the prefix the
    // walk starts at the prefix itself; otherwise just after the cursor. Both compare bytewise
    // (COLLATE "C" columns), like `str` does.
    let (first, start) = if query.cursor.as_str() < prefix {
        (">=", prefix)
    } else {
        (">", query.cursor.as_str())
    };
    let limit = i64::from(query.limit);
    let sql = format!(
        "WITH RECURSIVE walk(name, n) AS ( \
             (SELECT stream_name, 1 FROM {schema}.messages \
              WHERE stream_name {first} $1 ORDER BY stream_name LIMIT 1) \
           UNION ALL \
             SELECT (SELECT m.stream_name FROM {schema}.messages m \
                     WHERE m.stream_name > walk.name ORDER BY m.stream_name LIMIT 1), walk.n + 1 \
             FROM walk \
             WHERE walk.name IS NOT NULL AND walk.n < $2 AND starts_with(walk.name, $3) \
         ) \
         SELECT walk.name, head.position, head.time FROM walk \
         CROSS JOIN LATERAL (SELECT position, time FROM {schema}.messages \
                             WHERE stream_name = walk.name ORDER BY position DESC LIMIT 1) head \
         WHERE walk.name IS NOT NULL AND starts_with(walk.name, $3) \
         ORDER BY walk.name"
    );
    let rows = client
        .query_typed(
            &sql,
            &[
                (&start, Type::TEXT),
                (&limit, Type::INT8),
                (&prefix, Type::TEXT),
            ],
        )
        .await?;
    rows.iter()
        .map(|row| {
            Ok(StreamSummary {
                stream_name: row.try_get(0)?,
                version: row.try_get(1)?,
                last_activity: Timestamp::from_micros(row.try_get(2)?),
            })
        })
        .collect()
}

/// `ns.categories`, from the category counters, sorted bytewise (the column is COLLATE "C").
pub(crate) async fn list_categories(
    client: &Client,
    schema: &str,
) -> Result<Vec<CategorySummary>, tokio_postgres::Error> {
    let rows = client
        .query_typed(
            &format!(
                "SELECT category, message_count, stream_count \
                 FROM {schema}.categories ORDER BY category"
            ),
            &[],
        )
        .await?;
    rows.iter()
        .map(|row| {
            let messages: i64 = row.try_get(1)?;
            let streams: i64 = row.try_get(2)?;
            Ok(CategorySummary {
                category: row.try_get(0)?,
                message_count: u64::try_from(messages).unwrap_or(0),
                stream_count: u64::try_from(streams).unwrap_or(0),
            })
        })
        .collect()
}

/// Reads the message at `global_position`, if it exists (for notifications too large to carry
/// the stream name).
pub(crate) async fn message_at(
    client: &Client,
    schema: &str,
    global_position: i64,
) -> Result<Option<Message>, tokio_postgres::Error> {
    let row = client
        .query_typed_opt(
            &format!("SELECT {COLUMNS} FROM {schema}.messages WHERE global_position = $1"),
            &[(&global_position, Type::INT8)],
        )
        .await?;
    row.as_ref().map(message).transpose()
}

/// Decodes the columns of [`COLUMNS`].
pub(crate) fn message(row: &Row) -> Result<Message, tokio_postgres::Error> {
    let id: Uuid = row.try_get(0)?;
    Ok(Message {
        id: MessageId::from(id),
        stream_name: row.try_get(1)?,
        message_type: row.try_get(2)?,
        position: row.try_get(3)?,
        global_position: row.try_get(4)?,
        data: row.try_get(5)?,
        metadata: row.try_get(6)?,
        time: Timestamp::from_micros(row.try_get(7)?),
    })
}

#[cfg(test)]
mod tests {
    use futures::FutureExt;

    use super::*;
    use crate::connect::Connector;

    /// Each connection keeps at most `MAX_PREPARED` statements prepared, on both sides, however
    /// many different ones (say, of many namespaces) it runs, and reuses those it has.
    #[tokio::test]
    async fn prepared_statements_per_connection_are_bounded() {
        let Some(db) = messagedb_testpg::database("prepared_statements_are_bounded").await else {
            return;
        };
        let pool = Connector::new(db.url()).unwrap().pool(1).unwrap();
        let conn = pool.get().await.unwrap();
        for n in 0..(2 * MAX_PREPARED + 5) {
            let sql = format!("SELECT {n}::bigint + $1");
            let statement = prepared(&conn, &sql, &[Type::INT8]).await.unwrap();
            let row = conn.query_one(&statement, &[&1i64]).await.unwrap();
            assert_eq!(row.get::<_, i64>(0), n as i64 + 1);
            // Found in the cache without waiting for the server (unless the cache is full and
            // starts over), which is what lets the writer prepare before it pipelines.
            let full = conn.statement_cache.size() >= MAX_PREPARED;
            let again = prepared(&conn, &sql, &[Type::INT8]).now_or_never();
            assert!(
                full || matches!(again, Some(Ok(_))),
                "{n}: reused, not prepared again"
            );
            assert!(conn.statement_cache.size() <= MAX_PREPARED);
        }
        // Statements dropped from the cache are closed on the server too.
        let open: i64 = conn
            .query_one("SELECT count(*) FROM pg_prepared_statements", &[])
            .await
            .unwrap()
            .get(0);
        assert!(usize::try_from(open).unwrap() <= MAX_PREPARED + 1, "{open}");
    }
}
