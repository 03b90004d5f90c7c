//! One throwaway PostgreSQL cluster: initdb, pg_ctl start on a free loopback port with a private
//! socket directory, and a watchdog that stops it and deletes its directory when the cluster is
//! dropped or the test process exits.

use std::io;
use std::net::TcpListener;
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use crate::admin::Admin;
use crate::binaries::find_bindir;
use crate::TestDatabase;

/// How carefully the cluster writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// `synchronous_commit=off`: a commit returns before its WAL is flushed. Acceptable for tests
    /// that never crash the database (a clean stop still flushes everything), and much faster on
    /// CI disks. `fsync` stays on.
    Relaxed,
    /// PostgreSQL's defaults, for tests that restart the database and check that acknowledged
    /// writes survive.
    Default,
}

/// A running cluster. Dropping it stops the cluster and removes its files.
pub struct Cluster {
    bindir: PathBuf,
    base: PathBuf,
    port: u16,
    durability: Durability,
    /// Serve TLS with a self-signed certificate (`ssl=on`).
    tls: bool,
    /// Run PostgreSQL programs as this OS user (when the tests run as root).
    run_as: Option<&'static str>,
    /// The write end of the watchdog's stdin; closing it triggers the cleanup.
    watchdog_pipe: Mutex<Option<ChildStdin>>,
    watchdog: Mutex<Option<Child>>,
    admin: Admin,
    databases: AtomicU64,
}

/// Why a cluster could not be started or controlled.
#[derive(Debug)]
pub enum StartError {
    Binaries(String),
    Io(String, io::Error),
    Command(String),
}

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StartError::Binaries(detail) | StartError::Command(detail) => f.write_str(detail),
            StartError::Io(what, e) => write!(f, "{what}: {e}"),
        }
    }
}

impl std::error::Error for StartError {}

impl Cluster {
    /// Creates and starts a new cluster. Blocking (initdb takes about a second).
    pub fn start(durability: Durability) -> Result<Cluster, StartError> {
        Cluster::create(durability, false)
    }

    /// Like [`Cluster::start`], but the cluster also accepts TLS connections, with a self-signed
    /// certificate made by `openssl` (plain connections still work).
    pub fn start_with_tls(durability: Durability) -> Result<Cluster, StartError> {
        Cluster::create(durability, true)
    }

    fn create(durability: Durability, tls: bool) -> Result<Cluster, StartError> {
        let bindir = find_bindir().map_err(StartError::Binaries)?;
        let run_as = if running_as_root() {
            Some("postgres")
        } else {
            None
        };
        let base = std::env::temp_dir().join(format!(
            "messagedb-pg-{}-{:x}",
            std::process::id(),
            rand_suffix()
        ));
        let shown = base.display().to_string();
        let io = |what: &str| {
            let what = format!("{what} {shown}");
            move |e| StartError::Io(what, e)
        };
        std::fs::create_dir_all(base.join("sock")).map_err(io("cannot create"))?;
        if let Some(user) = run_as {
            run(Command::new("chown")
                .arg("-R")
                .arg(format!("{user}:"))
                .arg(&base))?;
        }
        // The watchdog first: from here on, the directory is removed whatever happens.
        let (watchdog, pipe) =
            spawn_watchdog(&bindir, &base, run_as).map_err(io("watchdog for"))?;
        let mut cluster = Cluster {
            bindir,
            base,
            port: 0,
            durability,
            tls,
            run_as,
            watchdog_pipe: Mutex::new(Some(pipe)),
            watchdog: Mutex::new(Some(watchdog)),
            admin: Admin::detached(),
            databases: AtomicU64::new(0),
        };
        let mut initdb = cluster.pg_command("initdb");
        initdb
            .arg("-D")
            .arg(cluster.data_dir())
            .args(["-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C"])
            // The cluster is thrown away; syncing its initial files would only slow tests down.
            .args(["--no-sync", "--no-instructions"]);
        run(&mut initdb)?;
        if tls {
            cluster.make_certificate()?;
        }
        // A free port can be taken between looking and listening; try a few.
        let mut last = None;
        for _ in 0..5 {
            cluster.port = free_port().map_err(io("no free port for"))?;
            match cluster.pg_ctl_start() {
                Ok(()) => {
                    last = None;
                    break;
                }
                Err(e) => last = Some(e),
            }
        }
        if let Some(e) = last {
            return Err(e);
        }
        cluster.admin = Admin::start(cluster.url("postgres"));
        Ok(cluster)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// A URL for database `db` on this cluster.
    pub fn url(&self, db: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{db}", self.port)
    }

    /// Creates a fresh, empty database; it is dropped again when the result is dropped.
    pub async fn create_database(&self) -> TestDatabase {
        let n = self.databases.fetch_add(1, Ordering::Relaxed);
        let name = format!("test_{n}");
        if let Err(e) = self.admin.create_database(&name).await {
            panic!("cannot create database {name}: {e}");
        }
        TestDatabase {
            url: self.url(&name),
            name,
            admin: self.admin.clone(),
        }
    }

    /// Stops the cluster (`pg_ctl stop -m fast`): clients are disconnected, and the cluster
    /// shuts down cleanly.
    pub fn stop(&self) -> Result<(), StartError> {
        let mut stop = self.pg_command("pg_ctl");
        stop.arg("-D")
            .arg(self.data_dir())
            .args(["-m", "fast", "-w", "-t", "60", "stop"]);
        run(&mut stop)
    }

    /// Starts a stopped cluster again, on the same port.
    pub fn start_again(&self) -> Result<(), StartError> {
        self.pg_ctl_start()
    }

    /// `pg_ctl restart -m fast`: what an operator does; clients see their connections drop.
    pub fn restart(&self) -> Result<(), StartError> {
        let mut restart = self.pg_command("pg_ctl");
        restart
            .arg("-D")
            .arg(self.data_dir())
            .arg("-l")
            .arg(self.base.join("log"))
            .args(["-m", "fast", "-w", "-t", "60", "restart"]);
        run(&mut restart)
    }

    fn data_dir(&self) -> PathBuf {
        self.base.join("data")
    }

    fn pg_ctl_start(&self) -> Result<(), StartError> {
        let mut options = format!(
            "-c listen_addresses=127.0.0.1 -p {} -c unix_socket_directories={} \
             -c max_connections=300 -c shared_buffers=64MB",
            self.port,
            self.base.join("sock").display()
        );
        if self.durability == Durability::Relaxed {
            options.push_str(" -c synchronous_commit=off");
        }
        if self.tls {
            options.push_str(&format!(
                " -c ssl=on -c ssl_cert_file={} -c ssl_key_file={}",
                self.base.join("server.crt").display(),
                self.base.join("server.key").display()
            ));
        }
        let mut start = self.pg_command("pg_ctl");
        start
            .arg("-D")
            .arg(self.data_dir())
            .arg("-l")
            .arg(self.base.join("log"))
            .arg("-o")
            .arg(options)
            .args(["-w", "-t", "60", "start"]);
        run(&mut start).map_err(|e| {
            let log = std::fs::read_to_string(self.base.join("log")).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(20).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            StartError::Command(format!("{e}\nserver log:\n{}", tail.join("\n")))
        })
    }

    /// A self-signed certificate and its key, readable only by the user PostgreSQL runs as.
    fn make_certificate(&self) -> Result<(), StartError> {
        let mut openssl = match self.run_as {
            Some(user) => {
                let mut command = Command::new("runuser");
                command.args(["-u", user, "--", "openssl"]);
                command
            }
            None => Command::new("openssl"),
        };
        openssl
            .args([
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            ])
            .args(["-subj", "/CN=localhost", "-keyout"])
            .arg(self.base.join("server.key"))
            .arg("-out")
            .arg(self.base.join("server.crt"));
        run(&mut openssl)?;
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(
            self.base.join("server.key"),
            std::fs::Permissions::from_mode(0o600),
        )
        .map_err(|e| StartError::Io("cannot protect the TLS key".to_owned(), e))
    }

    /// A PostgreSQL program, run as the `postgres` user when the tests run as root.
    fn pg_command(&self, program: &str) -> Command {
        pg_command(&self.bindir, program, self.run_as)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.admin.shutdown();
        // Closing the pipe tells the watchdog to stop the cluster and remove its directory.
        drop(lock(&self.watchdog_pipe).take());
        if let Some(mut watchdog) = lock(&self.watchdog).take() {
            let _ = watchdog.wait();
        }
    }
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("base", &self.base)
            .field("port", &self.port)
            .finish()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

fn pg_command(bindir: &Path, program: &str, run_as: Option<&str>) -> Command {
    let path = bindir.join(program);
    match run_as {
        Some(user) => {
            let mut command = Command::new("runuser");
            command.args(["-u", user, "--"]).arg(path);
            command
        }
        None => Command::new(path),
    }
}

/// Starts `sh -c 'cat >/dev/null; pg_ctl stop; rm -rf <base>'` with a piped stdin. `cat` returns
/// when the pipe's write end closes: when the cluster is dropped or this process exits. The
/// watchdog gets its own process group so that a Ctrl-C aimed at the tests does not kill it
/// before it has cleaned up.
fn spawn_watchdog(
    bindir: &Path,
    base: &Path,
    run_as: Option<&str>,
) -> io::Result<(Child, ChildStdin)> {
    let pg_ctl = pg_command(bindir, "pg_ctl", run_as);
    let mut stop = vec![quote(&pg_ctl.get_program().to_string_lossy())];
    stop.extend(pg_ctl.get_args().map(|a| quote(&a.to_string_lossy())));
    let script = format!(
        "cat >/dev/null; {} -D {} -m immediate -w stop >/dev/null 2>&1; rm -rf {}",
        stop.join(" "),
        quote(&base.join("data").to_string_lossy()),
        quote(&base.to_string_lossy()),
    );
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()?;
    let pipe = child.stdin.take().expect("piped stdin");
    Ok((child, pipe))
}

fn quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

fn run(command: &mut Command) -> Result<(), StartError> {
    let shown = format!("{command:?}");
    let out = command
        .stdin(Stdio::null())
        .output()
        .map_err(|e| StartError::Command(format!("cannot run {shown}: {e}")))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(StartError::Command(format!(
            "{shown} failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )))
    }
}

fn running_as_root() -> bool {
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

fn free_port() -> io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Enough randomness to keep two test processes' directories apart (the pid already does
/// most of that).
fn rand_suffix() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(std::process::id().into());
    hasher.finish()
}
