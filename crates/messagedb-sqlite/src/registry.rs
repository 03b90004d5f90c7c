//! The registry database: one row per namespace (`registry.sqlite`, SPEC §10.4).
//!
//! Only namespace creation, deletion and token rotation write here, under the store's registry
//! mutex. Lookups never read it: the store keeps every record in memory, loaded once at open.

use messagedb_core::{NamespaceId, NamespaceKey, NamespaceRecord, Timestamp, TokenHash};
use rusqlite::{params, Connection};

use crate::error::OpenError;
use crate::location::Location;
use crate::schema::{MigrateError, REGISTRY};

/// A namespace as stored: its record plus the key that names its database.
pub(crate) struct Row {
    pub(crate) record: NamespaceRecord,
    pub(crate) key: NamespaceKey,
}

pub(crate) struct Registry {
    conn: Connection,
    /// The largest createdAt handed out so far, in µs. New namespaces get a strictly larger
    /// one, so `ns.list` (sorted by createdAt) shows creation order even within one µs.
    last_created_at: i64,
}

impl Registry {
    /// Opens and migrates the registry, returning it with every stored namespace.
    pub(crate) fn open(location: &Location) -> Result<(Registry, Vec<Row>), OpenError> {
        let what = || match location.registry_path() {
            Some(path) => path.display().to_string(),
            None => "in-memory registry".to_owned(),
        };
        let sqlite = |source| OpenError::Sqlite {
            what: what(),
            source,
        };
        let conn = location.open_registry(&REGISTRY).map_err(|e| match e {
            MigrateError::TooNew { found, supported } => {
                OpenError::SchemaTooNew { found, supported }
            }
            MigrateError::Sqlite(source) => sqlite(source),
        })?;
        let rows = load(&conn).map_err(sqlite)?;
        let rows = rows
            .into_iter()
            .map(|(id, key, hash, description, created_at)| {
                let invalid = |reason| OpenError::InvalidRegistry {
                    id: id.clone(),
                    reason,
                };
                let key = NamespaceKey::parse(key)
                    .map_err(|_| invalid("the key is not 32 lowercase hex digits"))?;
                let token_hash = TokenHash::from_hex(&hash)
                    .ok_or_else(|| invalid("the token hash is not 64 hex digits"))?;
                let ns_id = NamespaceId::parse(id.clone())
                    .map_err(|_| invalid("the id is not a valid namespace id"))?;
                Ok(Row {
                    record: NamespaceRecord {
                        id: ns_id,
                        description,
                        created_at: Timestamp::from_micros(created_at),
                        token_hash,
                    },
                    key,
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let last_created_at = rows
            .iter()
            .map(|row| row.record.created_at.as_micros())
            .max()
            .unwrap_or(i64::MIN);
        Ok((
            Registry {
                conn,
                last_created_at,
            },
            rows,
        ))
    }

    /// The createdAt for a namespace created now: the clock, or 1 µs after the previous one.
    pub(crate) fn next_created_at(&self) -> Timestamp {
        let now = Timestamp::now().as_micros();
        Timestamp::from_micros(now.max(self.last_created_at.saturating_add(1)))
    }

    /// Stores a new namespace durably. The caller has checked that the id is free.
    pub(crate) fn insert(
        &mut self,
        record: &NamespaceRecord,
        key: &NamespaceKey,
    ) -> rusqlite::Result<()> {
        self.conn
            .prepare_cached(
                "INSERT INTO namespaces (id, key, token_hash, description, created_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![
                record.id.as_str(),
                key.as_str(),
                record.token_hash.to_hex(),
                record.description,
                record.created_at.as_micros(),
            ])?;
        self.last_created_at = self.last_created_at.max(record.created_at.as_micros());
        Ok(())
    }

    /// Removes a namespace's row durably; `false` if there was none.
    pub(crate) fn delete(&mut self, id: &NamespaceId) -> rusqlite::Result<bool> {
        let changed = self
            .conn
            .prepare_cached("DELETE FROM namespaces WHERE id = ?1")?
            .execute([id.as_str()])?;
        Ok(changed > 0)
    }

    /// Replaces a token hash durably; `false` if the namespace does not exist.
    pub(crate) fn set_token_hash(
        &mut self,
        id: &NamespaceId,
        hash: &TokenHash,
    ) -> rusqlite::Result<bool> {
        let changed = self
            .conn
            .prepare_cached("UPDATE namespaces SET token_hash = ?2 WHERE id = ?1")?
            .execute(params![id.as_str(), hash.to_hex()])?;
        Ok(changed > 0)
    }
}

type RawRow = (String, String, String, String, i64);

fn load(conn: &Connection) -> rusqlite::Result<Vec<RawRow>> {
    let mut stmt =
        conn.prepare("SELECT id, key, token_hash, description, created_at FROM namespaces")?;
    let rows = stmt.query_map([], |row| {
        Ok((
            row.get(0)?,
            row.get(1)?,
            row.get(2)?,
            row.get(3)?,
            row.get(4)?,
        ))
    })?;
    rows.collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_at_strictly_increases() {
        let (mut registry, rows) = Registry::open(&Location::memory()).unwrap();
        assert!(rows.is_empty());
        let hash = TokenHash::from_bytes([7; 32]);
        let mut previous = None;
        for i in 0..20 {
            let record = NamespaceRecord {
                id: NamespaceId::parse(format!("n{i}")).unwrap(),
                description: String::new(),
                created_at: registry.next_created_at(),
                token_hash: hash,
            };
            registry.insert(&record, &NamespaceKey::random()).unwrap();
            if let Some(previous) = previous {
                assert!(record.created_at > previous);
            }
            previous = Some(record.created_at);
        }
    }
}
