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
    migrations: &[
        include_str!("sql/namespace_v1.sql"),
        include_str!("sql/namespace_v2.sql"),
        include_str!("sql/namespace_v3.sql"),
    ],
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
        // The common case, a database already at this version, reads one header field and
        // takes no write lock (a write transaction on every reopen of an evicted namespace cost
        // about 3 % of the server's CPU under `bench --workload many-namespaces`).
        let found: i64 = conn.pragma_query_value(None, "user_version", |row| row.get(0))?;
        if found == self.version() {
            return Ok(());
        }
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
            "store schema version 7 is newer than this messagedb supports (3)"
        );
    }

    /// A database written by version 1 (no counters) gets exact counters from its messages.
    #[test]
    fn version_2_fills_the_counters_from_the_messages() {
        let mut conn = Connection::open_in_memory().unwrap();
        let version_1 = Schema {
            migrations: &NAMESPACE.migrations[..1],
        };
        version_1.migrate(&mut conn).unwrap();
        let rows = [
            (3, 0, "b-1", "b", 30),
            (5, 0, "a-1", "a", 50),
            (7, 1, "a-1", "a", 70),
            (8, 0, "a-2", "a", 80),
            (9, 4, "b", "b", 60),
        ];
        for (gpos, pos, stream, category, time) in rows {
            conn.execute(
                "INSERT INTO messages (global_position, position, stream_name, category, type, \
                 id, data, time) VALUES (?1, ?2, ?3, ?4, 'T', randomblob(16), '{}', ?5)",
                rusqlite::params![gpos, pos, stream, category, time],
            )
            .unwrap();
        }
        NAMESPACE.migrate(&mut conn).unwrap();
        let totals = crate::reads::totals(&conn).unwrap();
        assert_eq!((totals.message_count, totals.stream_count), (5, 4));
        assert_eq!(totals.last_activity.map(|t| t.as_micros()), Some(60));
        let categories: Vec<_> = crate::reads::list_categories(&conn)
            .unwrap()
            .into_iter()
            .map(|c| (c.category, c.message_count, c.stream_count))
            .collect();
        assert_eq!(categories, [("a".to_owned(), 3, 2), ("b".to_owned(), 2, 2)]);
        let empty = Connection::open_in_memory().map(|mut c| {
            NAMESPACE.migrate(&mut c).unwrap();
            crate::reads::totals(&c).unwrap()
        });
        let empty = empty.unwrap();
        assert_eq!((empty.message_count, empty.stream_count), (0, 0));
        assert!(empty.last_activity.is_none());
    }
}
