//! `--db-url`: which storage backend the server uses (SPEC §10.1).
//!
//! The backend is picked once, from the URL's scheme. SQLite URLs are recognised before general
//! URL parsing because `sqlite://:memory:` is not a valid URL (`:memory:` would be an empty host
//! with an invalid port), and because the path of any other `sqlite://` URL is ignored anyway: the
//! embedded backend keeps its files in `--data-dir`.
//!
//! A PostgreSQL URL is handed to `messagedb-postgres` as it is (libpq URL syntax, including
//! `?sslmode=`), with `--db-pool-size` connections; [`open_postgres`] opens it.

use std::fmt;

use std::sync::Arc;

use messagedb_core::Store;
use messagedb_postgres::{PostgresOptions, PostgresStore};
use url::Url;

/// The storage the `--db-url` setting selects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Database {
    /// The embedded backend, persistent in `--data-dir`. `url` is the `sqlite://` URL that selected
    /// it, if any: its path is ignored, which the server logs.
    Embedded { url: Option<String> },
    /// `sqlite://:memory:`: the embedded backend in memory, with normal authentication.
    EmbeddedInMemory,
    /// `postgres://` or `postgresql://`.
    Postgres(PostgresUrl),
}

/// A `--db-url` that selects no backend. Display texts are the SPEC's startup errors.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DatabaseUrlError {
    #[error("unsupported database scheme: {0} (use postgres://, postgresql://, or sqlite://)")]
    UnsupportedScheme(String),
    #[error("invalid database URL: {0}")]
    Invalid(String),
}

impl Database {
    /// The default when `--db-url` is not set: embedded and persistent.
    pub const DEFAULT: Database = Database::Embedded { url: None };

    pub fn parse(text: &str) -> Result<Database, DatabaseUrlError> {
        if let Some((scheme, rest)) = text.split_once(':') {
            if scheme.eq_ignore_ascii_case("sqlite") {
                let location = rest.strip_prefix("//").unwrap_or(rest);
                return Ok(if location == ":memory:" {
                    Database::EmbeddedInMemory
                } else {
                    Database::Embedded {
                        url: Some(text.to_owned()),
                    }
                });
            }
        }
        let url = Url::parse(text).map_err(|e| DatabaseUrlError::Invalid(e.to_string()))?;
        match url.scheme() {
            "postgres" | "postgresql" => Ok(Database::Postgres(PostgresUrl(url))),
            other => Err(DatabaseUrlError::UnsupportedScheme(other.to_owned())),
        }
    }
}

/// A PostgreSQL connection URL. `Debug` and `Display` hide the password.
#[derive(Clone, PartialEq, Eq)]
pub struct PostgresUrl(Url);

impl PostgresUrl {
    /// The full URL, password included, for connecting. Never log this.
    pub fn expose(&self) -> &str {
        self.0.as_str()
    }

    fn redacted(&self) -> Url {
        let mut url = self.0.clone();
        if url.password().is_some() {
            // Only fails for URLs that cannot have credentials, which a parsed postgres URL can.
            let _ = url.set_password(Some("REDACTED"));
        }
        url
    }
}

impl fmt::Display for PostgresUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.redacted(), f)
    }
}

impl fmt::Debug for PostgresUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PostgresUrl({})", self.redacted())
    }
}

/// Opens the PostgreSQL store: connects, migrates, starts listening. A database that cannot be
/// reached is a startup error (the store reconnects by itself only once it is running).
pub async fn open_postgres(
    url: &PostgresUrl,
    pool_size: u32,
) -> Result<Arc<dyn Store>, messagedb_postgres::OpenError> {
    let options = PostgresOptions {
        pool_size: usize::try_from(pool_size).unwrap_or(PostgresOptions::DEFAULT_POOL_SIZE),
        ..PostgresOptions::new(url.expose())
    };
    Ok(Arc::new(PostgresStore::open(options).await?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_urls() {
        assert_eq!(
            Database::parse("sqlite://:memory:"),
            Ok(Database::EmbeddedInMemory)
        );
        assert_eq!(
            Database::parse("sqlite::memory:"),
            Ok(Database::EmbeddedInMemory)
        );
        for url in [
            "sqlite://",
            "sqlite:///var/lib/x.db",
            "SQLITE://./data.db",
            "sqlite://a b",
        ] {
            assert_eq!(
                Database::parse(url),
                Ok(Database::Embedded {
                    url: Some(url.to_owned())
                }),
                "{url}"
            );
        }
    }

    #[test]
    fn postgres_urls() {
        for url in [
            "postgres://u:p@localhost:5432/db",
            "postgresql://localhost/db",
            "POSTGRES://h/db",
        ] {
            assert!(
                matches!(Database::parse(url), Ok(Database::Postgres(_))),
                "{url}"
            );
        }
    }

    #[test]
    fn errors_are_the_spec_texts() {
        assert_eq!(
            Database::parse("mysql://x").unwrap_err().to_string(),
            "unsupported database scheme: mysql (use postgres://, postgresql://, or sqlite://)"
        );
        let err = Database::parse("not a url").unwrap_err().to_string();
        assert!(err.starts_with("invalid database URL: "), "{err}");
        let err = Database::parse("postgres://h:99999/db")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("invalid database URL: "), "{err}");
    }

    #[test]
    fn passwords_are_redacted() {
        let Ok(Database::Postgres(url)) = Database::parse("postgres://me:s3cret@db:5432/x") else {
            panic!("not a postgres URL");
        };
        for shown in [format!("{url}"), format!("{url:?}")] {
            assert!(!shown.contains("s3cret"), "{shown}");
            assert!(shown.contains("me:REDACTED@db:5432"), "{shown}");
        }
    }
}
