//! Every read query, as plain functions of a connection (SPEC §6.2–6.13).
//!
//! They run on pooled read connections (or, for the writer's own checks, inside its
//! transaction) and use `prepare_cached`, so a hot query is parsed once per connection. Each
//! query is shaped for one index: `(stream_name, position)` for stream reads and stream
//! listings, `(category, global_position)` for category reads, the primary key for whole-
//! namespace reads. The unit tests below check those plans.

use messagedb_core::{
    CategoryQuery, CategorySummary, Deletion, Message, MessageId, StartAt, StreamQuery,
    StreamSummary, StreamsQuery, Timestamp,
};
use rusqlite::types::Type;
use rusqlite::{params, Connection, OptionalExtension, Row};
use uuid::Uuid;

/// Expands to `SELECT <columns> FROM messages <rest>`, with the columns [`message`] decodes.
macro_rules! select_messages {
    ($rest:literal) => {
        concat!(
            "SELECT id, stream_name, type, position, global_position, data, metadata, time \
             FROM messages ",
            $rest
        )
    };
}

/// Counts and the last activity of a namespace, for `ns.info`.
pub(crate) struct Totals {
    pub(crate) message_count: u64,
    pub(crate) stream_count: u64,
    pub(crate) last_activity: Option<Timestamp>,
}

pub(crate) fn read_stream(
    conn: &Connection,
    stream: &str,
    query: &StreamQuery,
) -> rusqlite::Result<Vec<Message>> {
    let Some(scan) = query.scan() else {
        return Ok(Vec::new());
    };
    let (sql, from) = match scan.start {
        StartAt::Position(p) => (
            select_messages!(
                "WHERE stream_name = ?1 AND position >= ?2 ORDER BY position LIMIT ?3"
            ),
            p,
        ),
        // Still in position order: within a stream, gpos order and position order agree for
        // written messages, and an import may not have kept them aligned.
        StartAt::GlobalPosition(g) => (
            select_messages!(
                "WHERE stream_name = ?1 AND global_position >= ?2 ORDER BY position LIMIT ?3"
            ),
            g,
        ),
    };
    let mut stmt = conn.prepare_cached(sql)?;
    let rows = stmt.query_map(params![stream, from, sql_limit(scan.limit)], message)?;
    rows.collect()
}

pub(crate) fn last_message(
    conn: &Connection,
    stream: &str,
    message_type: Option<&str>,
) -> rusqlite::Result<Option<Message>> {
    match message_type.filter(|t| !t.is_empty()) {
        None => conn
            .prepare_cached(select_messages!(
                "WHERE stream_name = ?1 ORDER BY position DESC LIMIT 1"
            ))?
            .query_row([stream], message)
            .optional(),
        Some(t) => conn
            .prepare_cached(select_messages!(
                "WHERE stream_name = ?1 AND type = ?2 ORDER BY position DESC LIMIT 1"
            ))?
            .query_row([stream, t], message)
            .optional(),
    }
}

/// The stream version (SPEC §18: the highest position ever assigned), `None` for a stream
/// never written, and whether it has messages now. One index seek, and a second one only for
/// a stream without messages (its floor, if deletion emptied it).
pub(crate) fn stream_version_and_presence(
    conn: &Connection,
    stream: &str,
) -> rusqlite::Result<Option<(i64, bool)>> {
    let newest: Option<i64> = conn
        .prepare_cached(
            "SELECT position FROM messages WHERE stream_name = ?1 ORDER BY position DESC LIMIT 1",
        )?
        .query_row([stream], |row| row.get(0))
        .optional()?;
    if let Some(version) = newest {
        return Ok(Some((version, true)));
    }
    let floor: Option<i64> = conn
        .prepare_cached("SELECT version FROM stream_floors WHERE stream_name = ?1")?
        .query_row([stream], |row| row.get(0))
        .optional()?;
    Ok(floor.map(|version| (version, false)))
}

/// The stream version, `None` for a stream never written.
pub(crate) fn stream_version(conn: &Connection, stream: &str) -> rusqlite::Result<Option<i64>> {
    Ok(stream_version_and_presence(conn, stream)?.map(|(version, _)| version))
}

/// `ns.deletions`: the deletion log from `from`, ascending, at most `limit`.
pub(crate) fn list_deletions(
    conn: &Connection,
    from: i64,
    limit: u32,
) -> rusqlite::Result<Vec<Deletion>> {
    let mut stmt = conn.prepare_cached(
        "SELECT global_position, stream_name, before, time FROM deletions \
         WHERE global_position >= ?1 ORDER BY global_position LIMIT ?2",
    )?;
    let rows = stmt.query_map(params![from, limit], |row| {
        Ok(Deletion {
            global_position: row.get(0)?,
            stream_name: text(row, 1)?.to_owned(),
            before: row.get(2)?,
            time: Timestamp::from_micros(row.get(3)?),
        })
    })?;
    rows.collect()
}

pub(crate) fn read_category(
    conn: &Connection,
    query: &CategoryQuery,
) -> rusqlite::Result<Vec<Message>> {
    let Some(scan) = query.scan() else {
        return Ok(Vec::new());
    };
    let from = scan.from_global_position;
    // A consumer group is filtered here while stepping rows (SQLite cannot hash), so SQLite must
    // not stop at the limit: the limit counts matching messages only (SPEC §6.7).
    let sql_limit = if scan.consumer_group.is_some() {
        -1
    } else {
        sql_limit(scan.limit)
    };
    let mut stmt;
    let mut rows = match (scan.category, scan.correlation) {
        (None, None) => {
            stmt = conn.prepare_cached(select_messages!(
                "WHERE global_position >= ?1 ORDER BY global_position LIMIT ?2"
            ))?;
            stmt.query(params![from, sql_limit])?
        }
        (None, Some(correlation)) => {
            stmt = conn.prepare_cached(select_messages!(
                "WHERE global_position >= ?1 AND correlation_category = ?3 \
                 ORDER BY global_position LIMIT ?2"
            ))?;
            stmt.query(params![from, sql_limit, correlation])?
        }
        (Some(category), None) => {
            stmt = conn.prepare_cached(select_messages!(
                "WHERE category = ?3 AND global_position >= ?1 ORDER BY global_position LIMIT ?2"
            ))?;
            stmt.query(params![from, sql_limit, category])?
        }
        (Some(category), Some(correlation)) => {
            stmt = conn.prepare_cached(select_messages!(
                "WHERE category = ?3 AND global_position >= ?1 AND correlation_category = ?4 \
                 ORDER BY global_position LIMIT ?2"
            ))?;
            stmt.query(params![from, sql_limit, category, correlation])?
        }
    };
    let wanted = scan.limit.and_then(|n| usize::try_from(n).ok());
    let mut messages = Vec::new();
    while let Some(row) = rows.next()? {
        if let Some(group) = &scan.consumer_group {
            // Borrowed from SQLite's row buffer: skipped rows cost no allocation.
            if !group.contains(text(row, 1)?) {
                continue;
            }
        }
        messages.push(message(row)?);
        if wanted.is_some_and(|n| messages.len() >= n) {
            break;
        }
    }
    Ok(messages)
}

/// `ns.streams`: walks distinct stream names with index seeks (two per stream) instead of a
/// `GROUP BY` over every message, so a page costs the same however long the streams are.
pub(crate) fn list_streams(
    conn: &Connection,
    query: &StreamsQuery,
) -> rusqlite::Result<Vec<StreamSummary>> {
    let mut first_at_least = conn.prepare_cached(
        "SELECT stream_name FROM messages WHERE stream_name >= ?1 ORDER BY stream_name LIMIT 1",
    )?;
    let mut first_after = conn.prepare_cached(
        "SELECT stream_name FROM messages WHERE stream_name > ?1 ORDER BY stream_name LIMIT 1",
    )?;
    let mut head = conn.prepare_cached(
        "SELECT position, time FROM messages WHERE stream_name = ?1 ORDER BY position DESC LIMIT 1",
    )?;
    let prefix = query.prefix.as_str();
    // Names are compared bytewise both here (str) and in SQLite (BINARY collation on UTF-8). Every
    // name with the prefix is >= the prefix, so when the cursor sorts below the prefix the walk
    // starts at the prefix itself; otherwise just after the cursor.
    let mut next: Option<String> = if query.cursor.as_str() < prefix {
        first_at_least
            .query_row([prefix], |row| row.get(0))
            .optional()?
    } else {
        first_after
            .query_row([query.cursor.as_str()], |row| row.get(0))
            .optional()?
    };
    let mut streams = Vec::new();
    while let Some(name) = next {
        // Sorted order: the first name without the prefix ends the range of names with it.
        if streams.len() >= query.limit as usize || !name.starts_with(prefix) {
            break;
        }
        let (version, time): (i64, i64) =
            head.query_row([name.as_str()], |row| Ok((row.get(0)?, row.get(1)?)))?;
        next = first_after
            .query_row([name.as_str()], |row| row.get(0))
            .optional()?;
        streams.push(StreamSummary {
            stream_name: name,
            version,
            last_activity: Timestamp::from_micros(time),
        });
    }
    Ok(streams)
}

/// `ns.categories`, from the category counters (one row per category with messages), in
/// bytewise order (the primary key's BINARY collation on UTF-8).
pub(crate) fn list_categories(conn: &Connection) -> rusqlite::Result<Vec<CategorySummary>> {
    let mut stmt = conn.prepare_cached(
        "SELECT category, message_count, stream_count FROM categories ORDER BY category",
    )?;
    let rows = stmt.query_map([], |row| {
        Ok(CategorySummary {
            category: row.get(0)?,
            message_count: count(row.get(1)?),
            stream_count: count(row.get(2)?),
        })
    })?;
    rows.collect()
}

/// The namespace's message count, from the counter row.
pub(crate) fn message_count(conn: &Connection) -> rusqlite::Result<u64> {
    let messages: i64 = conn
        .prepare_cached("SELECT message_count FROM counter")?
        .query_row([], |row| row.get(0))?;
    Ok(count(messages))
}

/// The message count of a database that may not have been migrated (a namespace deleted
/// without being opened since an upgrade): the counter row from schema version 2 on, else a
/// count of the rows.
pub(crate) fn message_count_of_any_version(conn: &Connection) -> rusqlite::Result<u64> {
    let version: i64 = conn.pragma_query_value(None, "user_version", |row| row.get(0))?;
    if version >= 2 {
        return message_count(conn);
    }
    let messages: i64 = conn.query_row("SELECT count(*) FROM messages", [], |row| row.get(0))?;
    Ok(count(messages))
}

/// The highest stored global position, 0 for an empty namespace (primary-key lookup).
pub(crate) fn head(conn: &Connection) -> rusqlite::Result<i64> {
    conn.prepare_cached(
        "SELECT max(coalesce((SELECT max(global_position) FROM messages), 0), \
         coalesce((SELECT max(global_position) FROM deletions), 0))",
    )?
    .query_row([], |row| row.get(0))
}

/// `ns.info` numbers: the counter row, one statement (so one snapshot).
pub(crate) fn totals(conn: &Connection) -> rusqlite::Result<Totals> {
    conn.prepare_cached("SELECT message_count, stream_count, last_time FROM counter")?
        .query_row([], |row| {
            Ok(Totals {
                message_count: count(row.get(0)?),
                stream_count: count(row.get(1)?),
                last_activity: row.get::<_, Option<i64>>(2)?.map(Timestamp::from_micros),
            })
        })
}

/// A stored count (never negative) as the API's type.
fn count(stored: i64) -> u64 {
    u64::try_from(stored).unwrap_or(0)
}

/// A scan's limit as SQLite's `LIMIT` (-1 = none).
fn sql_limit(limit: Option<i64>) -> i64 {
    limit.unwrap_or(-1)
}

/// Decodes the columns of [`select_messages!`].
fn message(row: &Row<'_>) -> rusqlite::Result<Message> {
    let id: [u8; 16] = row.get(0)?;
    Ok(Message {
        id: MessageId::from(Uuid::from_bytes(id)),
        stream_name: row.get(1)?,
        message_type: row.get(2)?,
        position: row.get(3)?,
        global_position: row.get(4)?,
        data: row.get(5)?,
        metadata: row.get(6)?,
        time: Timestamp::from_micros(row.get(7)?),
    })
}

/// A text column borrowed from the row, without copying it.
pub(crate) fn text<'r>(row: &'r Row<'_>, index: usize) -> rusqlite::Result<&'r str> {
    row.get_ref(index)?
        .as_str()
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(index, Type::Text, Box::new(e)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::NAMESPACE;

    fn plan(conn: &Connection, sql: &str) -> String {
        let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
        let rows = stmt.query_map([], |row| row.get::<_, String>(3)).unwrap();
        rows.map(Result::unwrap).collect::<Vec<_>>().join("; ")
    }

    /// Each hot query seeks the index it was written for and never sorts.
    #[test]
    fn hot_queries_use_their_indexes() {
        let mut conn = Connection::open_in_memory().unwrap();
        NAMESPACE.migrate(&mut conn).unwrap();
        let cases = [
            (
                select_messages!("WHERE stream_name = 'a' AND position >= 0 ORDER BY position LIMIT 10"),
                "USING INDEX messages_stream_position (stream_name=? AND position>?)",
            ),
            (
                "SELECT position FROM messages WHERE stream_name = 'a' ORDER BY position DESC LIMIT 1",
                "USING COVERING INDEX messages_stream_position (stream_name=?)",
            ),
            (
                select_messages!("WHERE category = 'a' AND global_position >= 1 ORDER BY global_position LIMIT 10"),
                "USING INDEX messages_category (category=? AND global_position>?)",
            ),
            (
                select_messages!("WHERE global_position >= 1 ORDER BY global_position LIMIT 10"),
                "USING INTEGER PRIMARY KEY (rowid>?)",
            ),
            (
                "SELECT stream_name FROM messages WHERE stream_name > 'a' ORDER BY stream_name LIMIT 1",
                "USING COVERING INDEX messages_stream_position (stream_name>?)",
            ),
            (
                "SELECT stream_name, global_position FROM messages WHERE id = x'00'",
                "USING INDEX messages_id (id=?)",
            ),
            // An import's probe for a stream's first message (the counters' new streams).
            (
                "SELECT 1 FROM messages WHERE stream_name = 'a' LIMIT 1",
                "USING COVERING INDEX messages_stream_position (stream_name=?)",
            ),
        ];
        for (sql, expected) in cases {
            let plan = plan(&conn, sql);
            assert!(
                plan.contains(expected),
                "{sql}\n  plan: {plan}\n  want: {expected}"
            );
            assert!(!plan.contains("TEMP B-TREE"), "{sql} sorts: {plan}");
        }
    }
}
