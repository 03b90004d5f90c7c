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

use messagedb_core::NamespaceKey;
use tokio_postgres::Client;

use crate::error::OpenError;

/// One step of the schema's history.
enum Migration {
    /// SQL run as it is.
    Sql(&'static str),
    /// (Re)creates the append function in the schema of every namespace.
    AppendFunctions,
}

/// Migration `i` takes the database from version `i` to `i + 1`.
const MIGRATIONS: &[Migration] = &[
    Migration::Sql(include_str!("sql/registry_v1.sql")),
    Migration::AppendFunctions,
];

/// The DDL of one namespace at the current version; `{schema}` is replaced by its schema name.
const NAMESPACE: &str = include_str!("sql/namespace.sql");

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
    ddl.push_str(&crate::writer::append_function_ddl(&schema));
    ddl
}

/// A transaction (re)creating the append function of namespace `key` under the migration lock,
/// for namespaces whose schema lacks it.
pub(crate) fn append_function_transaction(key: &NamespaceKey) -> String {
    format!(
        "BEGIN; SELECT pg_advisory_xact_lock({MIGRATION_LOCK}); {} COMMIT;",
        crate::writer::append_function_ddl(&namespace_schema(key))
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
            Migration::AppendFunctions => {
                let keys = tx
                    .query("SELECT key FROM messagedb.namespaces ORDER BY key", &[])
                    .await
                    .map_err(database)?;
                for row in keys {
                    let key: String = row.try_get(0).map_err(database)?;
                    let key = NamespaceKey::parse(key)
                        .map_err(|e| OpenError::Database(format!("migration failed: {e}")))?;
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
        assert!(!ddl.contains("{schema}"));
        let statements: String = ddl.lines().filter(|l| !l.starts_with("--")).collect();
        assert!(!statements.to_lowercase().contains("jsonb"));
    }
}
