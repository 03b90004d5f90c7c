//! The database layout (SPEC §10.5) and its versioned migrations (§10.6).
//!
//! Schema `messagedb` holds the registry, the counters and `messagedb.migrations` (one row per
//! applied version). Each namespace has a schema `messagedb_ns_<key>` built from
//! `sql/namespace.sql`. Migrations run at startup in one transaction that first takes a
//! transaction-scoped advisory lock, so instances starting together migrate exactly once: the
//! others wait for the lock and then find nothing left to do. A database whose version is newer
//! than this binary knows is refused. Migrations are append-only: a released one is never edited.
//!
//! Version 2 adds each namespace's `append` function (`writer::append_function_ddl`), which
//! new namespaces get with their schema. A namespace created meanwhile by an older messagedb
//! still running on the same database lacks it; its writer creates it on first use.
//!
//! Version 3 adds the counters of `ns.info` and `ns.categories` (SPEC §16.3): columns of
//! `messagedb.counters` and a `categories` table per namespace, filled from the stored
//! messages under each namespace's counter-row lock ([`counters_fill`]), and recreates every
//! append function, whose statement now maintains them. The writer's late repair of a
//! namespace without an append function (created by a messagedb older than version 2 or 3)
//! fills its counters the same way. Instances of an older version must not keep writing after
//! the migration: their general write path, import and clear do not maintain the new counters.
//!
//! Version 4 adds deletion (SPEC §18): every namespace gets the tables of
//! `sql/namespace_deletions.sql` (the deletion log and the stream floors) and an append function
//! that continues a stream after its floor. Again, instances of an older version must be
//! stopped first: they neither read floors (a write after a deletion would reuse positions) nor
//! hear deletions.

use messagedb_core::NamespaceKey;
use tokio_postgres::Client;

use crate::error::OpenError;

/// One step of the schema's history.
enum Migration {
    /// SQL run as it is.
    Sql(&'static str),
    /// (Re)creates the append function in the schema of every namespace.
    AppendFunctions,
    /// SQL run as it is, then, for every namespace, [`counters_fill`] and its append function.
    Counters(&'static str),
    /// For every namespace, its deletion tables ([`deletion_ddl`]) and its append function.
    Deletions,
}

/// Migration `i` takes the database from version `i` to `i + 1`.
const MIGRATIONS: &[Migration] = &[
    Migration::Sql(include_str!("sql/registry_v1.sql")),
    Migration::AppendFunctions,
    Migration::Counters(include_str!("sql/registry_v3.sql")),
    Migration::Deletions,
];

/// The DDL of one namespace at the current version; `{schema}` is replaced by its schema name.
const NAMESPACE: &str = include_str!("sql/namespace.sql");

/// The deletion tables of one namespace (`IF NOT EXISTS`: also run on existing namespaces).
const NAMESPACE_DELETIONS: &str = include_str!("sql/namespace_deletions.sql");

/// The advisory lock key that serialises migrations (an arbitrary constant: "msgdb" + 1); the
/// writer's late creation of an append function takes it too.
const MIGRATION_LOCK: i64 = 0x6d73_6764_6201;

/// The schema version this binary writes.
pub(crate) fn version() -> i64 {
    MIGRATIONS.len() as i64
}

/// The schema of the namespace with internal key `key` (32 lowercase hex digits, so a valid
/// identifier as it is: the type is what guarantees it).
pub(crate) fn namespace_schema(key: &NamespaceKey) -> String {
    format!("messagedb_ns_{key}")
}

/// The DDL creating a namespace's schema.
pub(crate) fn namespace_ddl(key: &NamespaceKey) -> String {
    let schema = namespace_schema(key);
    let mut ddl = NAMESPACE.replace("{schema}", &schema);
    ddl.push('\n');
    ddl.push_str(&deletion_ddl(key));
    ddl.push('\n');
    ddl.push_str(&crate::writer::append_function_ddl(&schema));
    ddl
}

/// The DDL creating namespace `key`'s deletion tables, if missing.
pub(crate) fn deletion_ddl(key: &NamespaceKey) -> String {
    NAMESPACE_DELETIONS.replace("{schema}", &namespace_schema(key))
}

/// A transaction bringing namespace `key`'s schema up to date under the migration lock, for
/// namespaces whose schema lacks the append function (created by an older messagedb): fills
/// its counters, creates its deletion tables, then (re)creates the function.
pub(crate) fn repair_transaction(key: &NamespaceKey) -> String {
    format!(
        "BEGIN; SELECT pg_advisory_xact_lock({MIGRATION_LOCK}); {} {} {} COMMIT;",
        counters_fill(key),
        deletion_ddl(key),
        crate::writer::append_function_ddl(&namespace_schema(key))
    )
}

/// SQL that creates namespace `key`'s `categories` table if missing and sets it and the
/// namespace's counter row from its stored messages (one pass over them), under the counter-row
/// lock so that no write of the namespace interleaves. Exact whatever state the counters were
/// in; used where a namespace schema may predate them.
pub(crate) fn counters_fill(key: &NamespaceKey) -> String {
    let schema = namespace_schema(key);
    // The key is 32 hex digits (its type guarantees it), so it is a safe literal.
    format!(
        "SELECT FROM messagedb.counters WHERE key = '{key}' FOR UPDATE; \
         CREATE TABLE IF NOT EXISTS {schema}.categories ( \
             category      text COLLATE \"C\" NOT NULL PRIMARY KEY, \
             message_count bigint           NOT NULL, \
             stream_count  bigint           NOT NULL); \
         DELETE FROM {schema}.categories; \
         INSERT INTO {schema}.categories (category, message_count, stream_count) \
             SELECT category, count(*), count(DISTINCT stream_name) FROM {schema}.messages \
             GROUP BY category; \
         UPDATE messagedb.counters SET \
             message_count = (SELECT coalesce(sum(message_count), 0) FROM {schema}.categories), \
             stream_count = (SELECT coalesce(sum(stream_count), 0) FROM {schema}.categories), \
             last_global_position = \
                 coalesce((SELECT max(global_position) FROM {schema}.messages), 0), \
             last_time = (SELECT time FROM {schema}.messages \
                          ORDER BY global_position DESC LIMIT 1) \
         WHERE key = '{key}';"
    )
}

/// Brings the database up to [`version`], under the migration lock.
pub(crate) async fn migrate(client: &mut Client) -> Result<(), OpenError> {
    let database = |e: tokio_postgres::Error| OpenError::Database(format!("migration failed: {e}"));
    let tx = client.transaction().await.map_err(database)?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await
        .map_err(database)?;
    tx.batch_execute(
        "CREATE SCHEMA IF NOT EXISTS messagedb; \
         CREATE TABLE IF NOT EXISTS messagedb.migrations ( \
             version    bigint NOT NULL PRIMARY KEY, \
             applied_at bigint NOT NULL)",
    )
    .await
    .map_err(database)?;
    let found: i64 = tx
        .query_one(
            "SELECT coalesce(max(version), 0) FROM messagedb.migrations",
            &[],
        )
        .await
        .map_err(database)?
        .get(0);
    if found > version() {
        return Err(OpenError::SchemaTooNew {
            found,
            supported: version(),
        });
    }
    let first = usize::try_from(found).unwrap_or(0);
    for (index, migration) in MIGRATIONS.iter().enumerate().skip(first) {
        match migration {
            Migration::Sql(sql) => tx.batch_execute(sql).await.map_err(database)?,
            Migration::AppendFunctions | Migration::Counters(_) | Migration::Deletions => {
                if let Migration::Counters(sql) = migration {
                    tx.batch_execute(sql).await.map_err(database)?;
                }
                let keys = tx
                    .query("SELECT key FROM messagedb.namespaces ORDER BY key", &[])
                    .await
                    .map_err(database)?;
                for row in keys {
                    let key: String = row.try_get(0).map_err(database)?;
                    let key = NamespaceKey::parse(key)
                        .map_err(|e| OpenError::Database(format!("migration failed: {e}")))?;
                    match migration {
                        Migration::Counters(_) => tx.batch_execute(&counters_fill(&key)).await,
                        Migration::Deletions => tx.batch_execute(&deletion_ddl(&key)).await,
                        Migration::Sql(_) | Migration::AppendFunctions => Ok(()),
                    }
                    .map_err(database)?;
                    let ddl = crate::writer::append_function_ddl(&namespace_schema(&key));
                    tx.batch_execute(&ddl).await.map_err(database)?;
                }
            }
        }
        let applied = messagedb_core::Timestamp::now().as_micros();
        tx.execute(
            "INSERT INTO messagedb.migrations (version, applied_at) VALUES ($1, $2)",
            &[&(index as i64 + 1), &applied],
        )
        .await
        .map_err(database)?;
    }
    tx.commit().await.map_err(database)?;
    if first < MIGRATIONS.len() {
        tracing::info!(from = found, to = version(), "PostgreSQL schema migrated");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_name_schemas() {
        let a = NamespaceKey::random();
        let ddl = namespace_ddl(&a);
        assert!(ddl.contains(&format!("CREATE SCHEMA messagedb_ns_{a};")));
        assert!(ddl.contains(&format!("messagedb_ns_{a}.stream_floors")));
        assert!(!ddl.contains("{schema}"));
        let statements: String = ddl.lines().filter(|l| !l.starts_with("--")).collect();
        assert!(!statements.to_lowercase().contains("jsonb"));
    }
}
