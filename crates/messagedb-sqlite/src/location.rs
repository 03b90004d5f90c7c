//! Where the databases live: a data directory on disk, or SQLite's in-memory `memdb` VFS.
//!
//! Both modes run the same code. On disk every database is in WAL mode with `synchronous=FULL`,
//! so a commit is durable when it returns and readers never wait for the writer. In memory,
//! databases are named `file:/<store prefix>-<key>?vfs=memdb`, which the writer and the readers
//! of one namespace share; `memdb` has no WAL, so there the namespace gate makes the writer
//! exclude readers for the duration of a transaction (see [`crate::namespace`]).

use std::collections::HashSet;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use messagedb_core::NamespaceKey;
use rusqlite::{Connection, OpenFlags};

use crate::schema::{MigrateError, Schema};

/// How long a connection retries on `SQLITE_BUSY`. Busy only happens in unusual situations (WAL
/// recovery, a checkpoint racing a reader), so this is a safety net, not a synchronisation tool.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Suffixes of the files SQLite keeps for one database.
const FILE_SUFFIXES: [&str; 4] = [".sqlite", ".sqlite-wal", ".sqlite-shm", ".sqlite-journal"];

/// Distinguishes the memdb names of several in-memory stores in one process (tests open many).
static MEMORY_STORES: AtomicU64 = AtomicU64::new(0);

#[derive(Debug)]
pub(crate) enum Location {
    Disk {
        /// The data directory, as given.
        dir: PathBuf,
    },
    Memory {
        /// `messagedb-<pid>-<n>`: unique among the stores of this process.
        prefix: String,
    },
}

impl Location {
    pub(crate) fn disk(dir: &Path) -> Location {
        Location::Disk {
            dir: dir.to_path_buf(),
        }
    }

    pub(crate) fn memory() -> Location {
        let n = MEMORY_STORES.fetch_add(1, Ordering::Relaxed);
        Location::Memory {
            prefix: format!("messagedb-{}-{n}", std::process::id()),
        }
    }

    /// In memory (`memdb`, no WAL) a write transaction must exclude readers; on disk it need not.
    pub(crate) fn writer_excludes_readers(&self) -> bool {
        matches!(self, Location::Memory { .. })
    }

    /// In memory a group commit or a read is CPU work of microseconds, with no I/O to wait for:
    /// it runs on the async worker that asks for it, which costs less than handing it to a pool
    /// thread and being woken with the result (PROFILING.md, "Server CPU per request").
    pub(crate) fn runs_inline(&self) -> bool {
        matches!(self, Location::Memory { .. })
    }

    /// The directory holding the namespace files, on disk.
    pub(crate) fn namespace_dir(&self) -> Option<PathBuf> {
        match self {
            Location::Disk { dir } => Some(dir.join("ns")),
            Location::Memory { .. } => None,
        }
    }

    pub(crate) fn registry_path(&self) -> Option<PathBuf> {
        match self {
            Location::Disk { dir } => Some(dir.join("registry.sqlite")),
            Location::Memory { .. } => None,
        }
    }

    /// Whether a namespace's database survives closing its connections (on disk; in memory the
    /// last connection's close discards it).
    pub(crate) fn can_close(&self) -> bool {
        matches!(self, Location::Disk { .. })
    }

    /// The database file of a namespace, on disk.
    pub(crate) fn namespace_file(&self, key: &NamespaceKey) -> Option<PathBuf> {
        match self {
            Location::Disk { dir } => Some(namespace_file(dir, key)),
            Location::Memory { .. } => None,
        }
    }

    /// A human-readable name for a namespace database, for error messages.
    pub(crate) fn describe_namespace(&self, key: &NamespaceKey) -> String {
        match self {
            Location::Disk { dir } => namespace_file(dir, key).display().to_string(),
            Location::Memory { prefix } => format!("in-memory namespace database {prefix}-{key}"),
        }
    }

    /// Opens the registry database (creating it), configured for durable writes, and brings it
    /// to `schema`.
    pub(crate) fn open_registry(&self, schema: &Schema) -> Result<Connection, MigrateError> {
        let mut conn = match self.registry_path() {
            Some(path) => {
                let created = CreatedFiles::before_open(&path);
                let mut conn = Connection::open_with_flags(&path, write_flags())?;
                set_wal(&conn)?;
                conn.busy_timeout(BUSY_TIMEOUT)?;
                schema.migrate(&mut conn)?;
                created.make_durable(&path)?;
                return Ok(conn);
            }
            None => Connection::open_in_memory()?,
        };
        conn.busy_timeout(BUSY_TIMEOUT)?;
        schema.migrate(&mut conn)?;
        Ok(conn)
    }

    /// Opens (creating if needed) the one write connection of a namespace and brings its
    /// database to `schema`.
    pub(crate) fn open_writer(
        &self,
        key: &NamespaceKey,
        schema: &Schema,
    ) -> Result<Connection, MigrateError> {
        let (mut conn, created) = match self {
            Location::Disk { dir } => {
                let path = namespace_file(dir, key);
                let created = CreatedFiles::before_open(&path);
                let conn = Connection::open_with_flags(&path, write_flags())?;
                set_wal(&conn)?;
                // Bound the WAL file after checkpoints so a burst of writes does not leave a
                // huge file behind for ever.
                conn.pragma_update(None, "journal_size_limit", 64 * 1024 * 1024)?;
                conn.pragma_update(None, "wal_autocheckpoint", WAL_AUTOCHECKPOINT_PAGES)?;
                (conn, Some((created, path)))
            }
            Location::Memory { prefix } => {
                let conn = Connection::open_with_flags(
                    memdb_uri(prefix, key),
                    write_flags() | OpenFlags::SQLITE_OPEN_URI,
                )?;
                // Before the first write, which fixes a database's page size for ever.
                conn.pragma_update(None, "page_size", MEMORY_PAGE_SIZE)?;
                // memdb would put a rollback journal on the real file system; keep it in memory.
                set_journal_mode(&conn, "MEMORY")?;
                conn.pragma_update(None, "synchronous", "OFF")?;
                (conn, None)
            }
        };
        conn.busy_timeout(BUSY_TIMEOUT)?;
        conn.pragma_update(None, "temp_store", "MEMORY")?;
        conn.pragma_update(None, "cache_size", -16 * 1024)?;
        // Removed rows and freed pages are overwritten with zeros (SPEC §18: deleted payloads
        // must leave the files). Only deletion and clearing remove rows, so writes pay nothing.
        conn.pragma_update(None, "secure_delete", "ON")?;
        // Room for the writer's statements and for the reads it serves when idle.
        conn.set_prepared_statement_cache_capacity(48);
        schema.migrate(&mut conn)?;
        if let Some((created, path)) = created {
            created.make_durable(&path)?;
        }
        Ok(conn)
    }

    /// Opens a read connection to an existing namespace database. It never creates the file:
    /// a reader racing a deletion must fail, not resurrect an empty database.
    pub(crate) fn open_reader(&self, key: &NamespaceKey) -> rusqlite::Result<Connection> {
        let conn = match self {
            Location::Disk { dir } => Connection::open_with_flags(
                namespace_file(dir, key),
                OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )?,
            Location::Memory { prefix } => Connection::open_with_flags(
                memdb_uri(prefix, key),
                OpenFlags::SQLITE_OPEN_READ_WRITE
                    | OpenFlags::SQLITE_OPEN_URI
                    | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )?,
        };
        conn.busy_timeout(BUSY_TIMEOUT)?;
        conn.pragma_update(None, "temp_store", "MEMORY")?;
        conn.pragma_update(None, "cache_size", -8 * 1024)?;
        conn.set_prepared_statement_cache_capacity(32);
        Ok(conn)
    }

    /// Removes a namespace's database files. Every connection to it must be closed already.
    pub(crate) fn remove_namespace_files(&self, key: &NamespaceKey) -> io::Result<()> {
        let Some(ns_dir) = self.namespace_dir() else {
            return Ok(());
        };
        for suffix in FILE_SUFFIXES {
            match std::fs::remove_file(ns_dir.join(format!("{key}{suffix}"))) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
        }
        Ok(())
    }

    /// Empties the shared-memory file (`-shm`, SQLite's WAL index) of a namespace whose
    /// connections are all closed. Call it only then: the file is mapped by every open
    /// connection.
    ///
    /// The WAL index is rebuilt from the WAL by whichever connection opens the database next
    /// (SQLite truncates the file itself when it is the first to open it), so its content is
    /// worthless once the last connection has closed. Left alone, every evicted namespace's
    /// index (32 KiB, rewritten by each reopen) stays dirty in the page cache and the kernel
    /// writes it to disk later: with namespaces reopened all the time (SPEC §16.3) that is tens
    /// of MB/s of useless writeback competing with the commits' fsyncs. Truncating drops the
    /// pages before they are written. Failures are logged, not fatal: the file is only a cache.
    pub(crate) fn discard_wal_index(&self, key: &NamespaceKey) {
        let Location::Disk { dir } = self else {
            return;
        };
        let shm = with_suffix(&namespace_file(dir, key), "-shm");
        let emptied = std::fs::OpenOptions::new()
            .write(true)
            .open(&shm)
            .and_then(|file| file.set_len(0));
        match emptied {
            Err(error) if error.kind() != io::ErrorKind::NotFound => {
                tracing::warn!(file = %shm.display(), %error, "cannot empty a closed namespace's WAL index");
            }
            _ => {}
        }
    }

    /// The length of a namespace's WAL file, on disk, if it exists.
    pub(crate) fn wal_len(&self, key: &NamespaceKey) -> Option<u64> {
        let Location::Disk { dir } = self else {
            return None;
        };
        std::fs::metadata(wal_path(&namespace_file(dir, key)))
            .ok()
            .map(|meta| meta.len())
    }

    /// Removes namespace files whose key has no registry row: leftovers of a deletion or a
    /// creation that was interrupted by a crash. Failures are logged, not fatal.
    pub(crate) fn remove_orphans(&self, known_keys: &HashSet<NamespaceKey>) -> io::Result<()> {
        let Some(ns_dir) = self.namespace_dir() else {
            return Ok(());
        };
        for entry in std::fs::read_dir(&ns_dir)? {
            let entry = entry?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            let Some(key) = FILE_SUFFIXES.iter().find_map(|s| name.strip_suffix(s)) else {
                continue;
            };
            if NamespaceKey::parse(key).is_ok_and(|key| known_keys.contains(&key)) {
                continue;
            }
            match std::fs::remove_file(entry.path()) {
                Ok(()) => {
                    tracing::info!(file = %entry.path().display(), "removed orphan namespace file")
                }
                Err(error) => {
                    tracing::warn!(file = %entry.path().display(), %error, "cannot remove orphan namespace file")
                }
            }
        }
        Ok(())
    }
}

/// The writer checkpoints the WAL inside the commit that takes it past this many pages
/// (SQLite's default is 1,000). A checkpoint stalls the namespace's writer and every write queued
/// behind it, which is what the embedded backend's p99 is made of; half the default halves each
/// stall for twice as many of them. Measured (PROFILING.md, session 2): p99 3.52 → 2.74 ms,
/// throughput within noise (−4 %); 250 pages cost 7 % of the throughput.
const WAL_AUTOCHECKPOINT_PAGES: i64 = 500;

/// The page size of a database in memory (SQLite's default, kept on disk, is 4,096 bytes). In
/// memory a transaction's cost is mostly copying pages: each page it changes is copied whole into
/// the in-memory rollback journal (in 1 KiB chunks, each a `malloc`) and back into the memdb
/// buffer at commit. A message touches about six pages, so smaller pages copy a quarter of the
/// bytes, in fewer journal chunks. Measured (PROFILING.md, issue 17, `scripts/ab.sh test`,
/// alternated): 22.2 → 20.5 and 21.3 → 20.4 µs of server CPU per operation, +4–9 % ops/s;
/// 512 bytes measured 21.5 (the B-trees get deeper). On disk the same change measured nothing
/// (48.9 against 46.8 µs/op): there the cost is the number of WAL frames and fsyncs, not bytes.
const MEMORY_PAGE_SIZE: i64 = 1024;

fn write_flags() -> OpenFlags {
    OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX
}

fn namespace_file(dir: &Path, key: &NamespaceKey) -> PathBuf {
    dir.join("ns").join(format!("{key}.sqlite"))
}

/// Whether opening a database in WAL mode is about to create its file or its WAL.
///
/// A file's directory entry is durable only once its directory has been synced. SQLite would
/// sync the directory on the first commit of *every* connection that opens a WAL, even one
/// that already existed (it cannot tell), which cost a second device flush on every reopen of a
/// namespace evicted from the cache (SPEC §16.3). Our build turns that off
/// (`SQLITE_DISABLE_DIRSYNC`, `.cargo/config.toml`), and the writer's open syncs the directory
/// itself exactly when it creates a file, before any commit is acknowledged. The WAL is never
/// removed while a writer has it open (only closing the last connection removes it), so a
/// file that existed at open stays put for the life of the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct CreatedFiles(bool);

impl CreatedFiles {
    fn before_open(database: &Path) -> CreatedFiles {
        CreatedFiles(!database.exists() || !wal_path(database).exists())
    }

    /// Syncs the directory of `database` if the open created a file. Call it after the
    /// migration: by then the WAL exists (an empty database gets it with its first write, the
    /// migration; an existing one when its schema is read).
    fn make_durable(self, database: &Path) -> rusqlite::Result<()> {
        if !self.0 {
            return Ok(());
        }
        let dir = database.parent().unwrap_or(Path::new("."));
        let wal = wal_path(database);
        if !wal.exists() {
            return Err(rusqlite::Error::SqliteFailure(
                rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_IOERR),
                Some(format!("{} was not created", wal.display())),
            ));
        }
        sync_dir(dir).map_err(|e| {
            rusqlite::Error::SqliteFailure(
                rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_IOERR),
                Some(format!("cannot sync directory {}: {e}", dir.display())),
            )
        })
    }
}

fn wal_path(database: &Path) -> PathBuf {
    with_suffix(database, "-wal")
}

/// One of SQLite's companion files of `database` (`-wal`, `-shm`).
fn with_suffix(database: &Path, suffix: &str) -> PathBuf {
    let mut name = database.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

fn memdb_uri(prefix: &str, key: &NamespaceKey) -> String {
    format!("file:/{prefix}-{key}?vfs=memdb")
}

/// WAL lets readers run beside the writer; `synchronous=FULL` fsyncs the WAL on every commit,
/// which is what makes an acknowledged write survive `kill -9` and OS crashes (SPEC §10.2 I2).
fn set_wal(conn: &Connection) -> rusqlite::Result<()> {
    set_journal_mode(conn, "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")
}

/// SQLite answers a journal-mode change with the mode in effect, which may not be the one asked.
fn set_journal_mode(conn: &Connection, wanted: &str) -> rusqlite::Result<()> {
    let mode: String =
        conn.pragma_update_and_check(None, "journal_mode", wanted, |row| row.get(0))?;
    if mode.eq_ignore_ascii_case(wanted) {
        return Ok(());
    }
    Err(rusqlite::Error::SqliteFailure(
        rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CANTOPEN),
        Some(format!(
            "journal_mode {wanted} refused (the database stays in {mode})"
        )),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::NAMESPACE;

    /// The writer's checkpoint threshold is ours, not SQLite's default (it sets the p99).
    #[test]
    fn the_writer_checkpoints_every_500_wal_pages() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("ns")).unwrap();
        let conn = Location::disk(dir.path())
            .open_writer(&NamespaceKey::random(), &NAMESPACE)
            .unwrap();
        let pages: i64 = conn
            .pragma_query_value(None, "wal_autocheckpoint", |row| row.get(0))
            .unwrap();
        assert_eq!(pages, WAL_AUTOCHECKPOINT_PAGES);
        assert_eq!(pages, 500);
    }

    /// Databases in memory use small pages; on disk SQLite's default stays.
    #[test]
    fn pages_are_1_kib_in_memory_and_4_kib_on_disk() {
        let page_size = |conn: &Connection| -> i64 {
            conn.pragma_query_value(None, "page_size", |row| row.get(0))
                .unwrap()
        };
        let memory = Location::memory()
            .open_writer(&NamespaceKey::random(), &NAMESPACE)
            .unwrap();
        assert_eq!(page_size(&memory), MEMORY_PAGE_SIZE);
        assert_eq!(page_size(&memory), 1024);

        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("ns")).unwrap();
        let disk = Location::disk(dir.path())
            .open_writer(&NamespaceKey::random(), &NAMESPACE)
            .unwrap();
        assert_eq!(page_size(&disk), 4096);
    }

    /// The directory is synced exactly when the open creates the database or its WAL, and the
    /// open itself creates the WAL (so the sync covers it before the first commit).
    #[test]
    fn the_directory_is_synced_when_the_open_creates_a_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("ns")).unwrap();
        let location = Location::disk(dir.path());
        let key = NamespaceKey::random();
        let file = namespace_file(dir.path(), &key);
        assert_eq!(CreatedFiles::before_open(&file), CreatedFiles(true));

        let conn = location.open_writer(&key, &NAMESPACE).unwrap();
        assert!(wal_path(&file).exists(), "the open created the WAL");
        assert_eq!(CreatedFiles::before_open(&file), CreatedFiles(false));

        // Closed without a checkpoint (an eviction): the WAL stays, a reopen syncs nothing.
        conn.set_db_config(
            rusqlite::config::DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE,
            true,
        )
        .unwrap();
        drop(conn);
        assert_eq!(CreatedFiles::before_open(&file), CreatedFiles(false));

        // Closed with the checkpoint: SQLite removes the WAL, and the next open creates it.
        let conn = location.open_writer(&key, &NAMESPACE).unwrap();
        drop(conn);
        assert!(!wal_path(&file).exists());
        assert_eq!(CreatedFiles::before_open(&file), CreatedFiles(true));
        drop(location.open_writer(&key, &NAMESPACE).unwrap());
    }
}
