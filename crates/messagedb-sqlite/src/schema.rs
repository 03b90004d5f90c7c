//! Versioned schema migrations for the registry and the namespace databases.
//!
//! Each database records its schema version in `PRAGMA user_version` (0 = empty file). Opening
//! runs the missing migrations in one transaction; a database whose version is newer than this
//! binary knows is refused (SPEC §10.6) rather than written with assumptions that no longer hold.
//! Migrations are append-only: a released one is never edited, a change is a new file.

use rusqlite::{Connection, TransactionBehavior};

/// An ordered list of migrations; migration `i` takes a database from version `i` to `i + 1`.
pub(crate) struct Schema {
    migrations: &'static [&'static str],
}

pub(crate) const REGISTRY: Schema = Schema {
    migrations: &[include_str!("sql/registry_v1.sql")],
};

pub(crate) const NAMESPACE: Schema = Schema {
    migrations: &[include_str!("sql/namespace_v1.sql")],
};

#[derive(Debug, thiserror::Error)]
pub(crate) enum MigrateError {
    #[error("store schema version {found} is newer than this messagedb supports ({supported})")]
    TooNew { found: i64, supported: i64 },
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
}

impl Schema {
    /// The version this binary writes.
    pub(crate) fn version(&self) -> i64 {
        self.migrations.len() as i64
    }

    /// Brings `conn`'s database up to [`Schema::version`].
    pub(crate) fn migrate(&self, conn: &mut Connection) -> Result<(), MigrateError> {
        // IMMEDIATE: two openers of one fresh file must not both run migration 1.
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let found: i64 = tx.pragma_query_value(None, "user_version", |row| row.get(0))?;
        if found > self.version() {
            return Err(MigrateError::TooNew {
                found,
                supported: self.version(),
            });
        }
        let first = usize::try_from(found).unwrap_or(0);
        for sql in &self.migrations[first..] {
            tx.execute_batch(sql)?;
        }
        if found < self.version() {
            tx.pragma_update(None, "user_version", self.version())?;
        }
        tx.commit()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrating_twice_is_a_no_op_and_newer_is_refused() {
        let mut conn = Connection::open_in_memory().unwrap();
        NAMESPACE.migrate(&mut conn).unwrap();
        NAMESPACE.migrate(&mut conn).unwrap();
        let next: i64 = conn
            .query_row("SELECT next_global_position FROM counter", [], |r| r.get(0))
            .unwrap();
        assert_eq!(next, 1);
        conn.pragma_update(None, "user_version", 7).unwrap();
        let err = NAMESPACE.migrate(&mut conn).unwrap_err();
        assert_eq!(
            err.to_string(),
            "store schema version 7 is newer than this messagedb supports (1)"
        );
    }
}
