//! Test support for the PostgreSQL backend: a throwaway PostgreSQL cluster that the tests start
//! themselves, and a fresh database for every test.
//!
//! `cargo test` has no global setup or teardown, so each test process starts at most one shared
//! cluster, lazily, the first time a test asks for a database ([`database`]). The cluster lives in
//! a private directory under the system temp dir (data and unix-socket directories), listens on a
//! free loopback port, and is removed by a small watchdog process (`sh -c`) that waits for the end
//! of a pipe held by the test process: when the process exits, however it exits, the pipe closes
//! and the watchdog stops the cluster and deletes its directory. PostgreSQL refuses to run as
//! root, so when the tests run as root (as in CI) every PostgreSQL program runs as the `postgres`
//! OS user through `runuser`.
//!
//! Missing PostgreSQL binaries make the tests fail with a message saying what was looked for,
//! unless `MESSAGEDB_SKIP_POSTGRES=1` is set: then [`database`] returns `None` and the test skips,
//! printing that it did.
//!
//! A test that restarts the database (the fault test) starts its own [`Cluster`] with
//! [`Durability::Default`] instead of sharing one.

mod admin;
mod binaries;
mod cluster;

use std::sync::OnceLock;

pub use cluster::{Cluster, Durability};

/// Set to `1` to skip every PostgreSQL test (for machines without PostgreSQL).
pub const SKIP_ENV: &str = "MESSAGEDB_SKIP_POSTGRES";

/// Whether PostgreSQL tests are skipped; prints a line saying so (once per call) when they are.
pub fn skipped(test: &str) -> bool {
    let skip = std::env::var(SKIP_ENV).is_ok_and(|v| v == "1");
    if skip {
        eprintln!("skipped {test}: {SKIP_ENV}=1 (no PostgreSQL tests)");
    }
    skip
}

/// A fresh, empty database on the shared cluster of this test process, or `None` when PostgreSQL
/// tests are skipped. Panics, with the reason, when the cluster cannot be started.
pub async fn database(test: &str) -> Option<TestDatabase> {
    if skipped(test) {
        return None;
    }
    Some(shared_cluster().create_database().await)
}

/// The cluster every test of this process shares. It is never stopped by the process itself:
/// its watchdog removes it when the process exits.
pub fn shared_cluster() -> &'static Cluster {
    static SHARED: OnceLock<Result<Cluster, String>> = OnceLock::new();
    // Starting is blocking (initdb, pg_ctl); a test's runtime thread waits for it once, and tests
    // on other threads wait on the lock.
    let started =
        SHARED.get_or_init(|| Cluster::start(Durability::Relaxed).map_err(|e| e.to_string()));
    match started {
        Ok(cluster) => cluster,
        Err(e) => panic!(
            "cannot start the throwaway PostgreSQL cluster for the tests: {e}\n\
             (install PostgreSQL 15 — Debian: apt-get install postgresql-15 — or set \
             {SKIP_ENV}=1 to skip the PostgreSQL tests)"
        ),
    }
}

/// A database created for one test. Dropping it drops the database in the background.
pub struct TestDatabase {
    name: String,
    url: String,
    admin: admin::Admin,
}

impl TestDatabase {
    /// A `postgres://` URL for this database (TCP on loopback, trust authentication).
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        self.admin.drop_database(&self.name);
    }
}

impl std::fmt::Debug for TestDatabase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestDatabase")
            .field("url", &self.url)
            .finish()
    }
}
