//! `messagedb serve`: start the server and run it until a shutdown signal (SPEC §11.2, §11.3).
//!
//! Startup runs in the SPEC's order: configuration, logging, store, bootstrap of `default`, bind,
//! then the `messagedb listening` log line, which is the readiness signal (tests and supervisors
//! read the port from it). Anything that fails before that line is a startup error: the store is
//! closed again (releasing the data-directory lock) and the process exits 1.
//!
//! Shutdown: the first SIGINT/SIGTERM tells the server to stop accepting and drain; after
//! `--shutdown-timeout` whatever is still running is dropped. The store is closed last, so every
//! write the server answered is already durable (I2) and nothing is lost by the deadline.

mod config;
mod database;

use std::ffi::OsString;
use std::io::Write;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, bail, Context};
use clap::Parser;
use messagedb_core::{Store, Token, VERSION};
use messagedb_server::{bootstrap_default, AppState, Bootstrap, ServerConfig};
use messagedb_sqlite::{Limits, SqliteStore};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tracing::{info, warn};

use crate::cli::normalise_flags;
use crate::logging;
use crate::settings::ProcessEnv;
use crate::signals::ShutdownSignals;
use config::{Config, ServeArgs};
use database::Database;

/// Runs `messagedb serve` with `args` (the flags after `serve`).
pub fn run(args: Vec<OsString>) -> anyhow::Result<ExitCode> {
    let args = normalise_flags(args, ServeArgs::takes_value);
    let argv = std::iter::once(OsString::from("messagedb serve")).chain(args);
    let args = match ServeArgs::try_parse_from(argv) {
        Ok(args) => args,
        Err(err) => {
            // clap prints help (exit 0) to stdout and usage errors (exit 2) to stderr.
            let _ = err.print();
            return Ok(ExitCode::from(err.exit_code().clamp(0, 255) as u8));
        }
    };
    let config = Config::resolve(args, &ProcessEnv)?;
    logging::init(config.log_level, config.log_format);
    tracing::debug!(?config, "configuration");
    raise_descriptor_limit();

    // Storage work runs on the blocking pool under the store's permits; capping the pool at
    // what the permits can use keeps the thread count flat (SPEC §16.3) instead of letting
    // spawn_blocking add a thread whenever a finishing one has not yet gone idle.
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    builder
        .enable_all()
        .max_blocking_threads(embedded_limits(&config).blocking_threads());
    if let Some(workers) = config.async_workers(std::env::var_os("TOKIO_WORKER_THREADS"), cores()) {
        builder.worker_threads(workers);
    }
    let runtime = builder.build().context("cannot start the async runtime")?;
    let outcome = runtime.block_on(serve(config));
    // Tasks that outlived the shutdown deadline (connections still writing) are not waited for.
    runtime.shutdown_timeout(Duration::from_millis(500));
    outcome
}

async fn serve(config: Config) -> anyhow::Result<ExitCode> {
    let mut signals = ShutdownSignals::install().context("cannot install signal handlers")?;
    if config.test_mode {
        warn!(
            "Test mode: all data is kept in memory and lost on exit, and requests without valid \
             credentials act as admin. Do not use test mode in production."
        );
    }
    let store = open_store(&config).await?;
    let (listener, local) = match start(&config, store.as_ref()).await {
        Ok(bound) => bound,
        Err(err) => {
            store.close().await;
            return Err(err);
        }
    };
    info!(
        address = %local.ip(),
        port = local.port(),
        version = %VERSION,
        backend = %store.backend_name(),
        test_mode = config.test_mode,
        "messagedb listening"
    );

    let state = AppState::new(Arc::clone(&store), server_config(&config));
    let (stop, stopped) = watch::channel(false);
    let shutdown = async move {
        let mut stopped = stopped;
        // An error means the sender is gone, which also means "stop".
        let _ = stopped.wait_for(|stop| *stop).await;
    };
    let mut server = tokio::spawn(messagedb_server::serve(listener, state, shutdown));

    let signal = tokio::select! {
        ended = &mut server => {
            store.close().await;
            return match ended {
                Ok(Ok(())) => Err(anyhow!("the server stopped without a shutdown signal")),
                Ok(Err(err)) => Err(anyhow::Error::new(err).context("the server failed")),
                Err(err) => Err(anyhow!("the server task failed: {err}")),
            };
        }
        signal = signals.recv() => signal,
    };
    info!(signal = %signal, "Shutdown signal received");
    let _ = stop.send(true);

    tokio::select! {
        drained = tokio::time::timeout(config.shutdown_timeout, &mut server) => match drained {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(err))) => warn!(error = %err, "The server reported an error while stopping"),
            Ok(Err(err)) => warn!(error = %err, "The server task failed while stopping"),
            Err(_) => {
                warn!(
                    timeout = ?config.shutdown_timeout,
                    "Shutdown timeout reached; closing the remaining connections"
                );
                server.abort();
            }
        },
        signal = signals.recv() => {
            // Safe because every acknowledged write is already durable (SPEC §10.2 I2).
            warn!(signal = %signal, "Second shutdown signal received; exiting immediately");
            std::process::exit(1);
        }
    }
    store.close().await;
    info!("Server stopped");
    Ok(ExitCode::SUCCESS)
}

/// Bootstraps `default` and binds the listener: the startup steps after the store is open.
/// Returns the listener and the address it is bound to (the real port when `--port 0`).
async fn start(config: &Config, store: &dyn Store) -> anyhow::Result<(TcpListener, SocketAddr)> {
    let token = config.token.as_ref().map(|secret| secret.expose());
    match bootstrap_default(store, token).await? {
        Bootstrap::Created {
            generated: Some(token),
        } => print_generated_token(&token),
        Bootstrap::Created { generated: None }
        | Bootstrap::Rotated
        | Bootstrap::Unchanged
        | Bootstrap::Kept => {}
    }
    let address = SocketAddr::new(config.listen, config.port);
    let listener = TcpListener::bind(address)
        .await
        .with_context(|| format!("cannot listen on {address}"))?;
    let local = listener
        .local_addr()
        .context("cannot read the bound address")?;
    Ok((listener, local))
}

/// Opens the store `--db-url` and `--test-mode` select (SPEC §10.1, §4.7).
async fn open_store(config: &Config) -> anyhow::Result<Arc<dyn Store>> {
    if config.test_mode {
        match &config.database {
            Database::Postgres(_) => bail!(
                "--test-mode cannot be used with a PostgreSQL database URL \
                 (test mode keeps all data in memory)"
            ),
            Database::Embedded { url: Some(url) } => {
                warn!(db_url = %url, "Test mode keeps all data in memory; --db-url is ignored");
            }
            Database::Embedded { url: None } | Database::EmbeddedInMemory => {}
        }
        if let Some(dir) = &config.data_dir {
            warn!(data_dir = %dir.display(), "Test mode keeps all data in memory; --data-dir is ignored");
        }
        let store = SqliteStore::open_in_memory().context("cannot open the in-memory store")?;
        return Ok(Arc::new(store));
    }
    match &config.database {
        Database::Postgres(url) => {
            info!(db_url = %url, pool_size = config.db_pool_size, "Opening the PostgreSQL store");
            Ok(database::open_postgres(url, config.db_pool_size).await?)
        }
        Database::EmbeddedInMemory => {
            info!("Using the embedded store in memory (sqlite://:memory:); data is lost on exit");
            let store = SqliteStore::open_in_memory().context("cannot open the in-memory store")?;
            Ok(Arc::new(store))
        }
        Database::Embedded { url } => {
            let dir = config.data_dir();
            if let Some(url) = url {
                info!(
                    db_url = %url,
                    data_dir = %dir.display(),
                    "The path of a sqlite:// URL is ignored; the embedded store lives in --data-dir"
                );
            }
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create data directory {}", dir.display()))?;
            let limits = embedded_limits(config);
            info!(
                data_dir = %dir.display(),
                max_open_namespaces = limits.max_open_namespaces,
                writer_threads = limits.writer_threads,
                reader_threads = limits.reader_threads,
                "Opening the embedded store"
            );
            Ok(Arc::new(SqliteStore::open_with(dir, limits)?))
        }
    }
}

/// The embedded store's limits: the flags, or defaults from the cores and the soft descriptor
/// limit the process started with (before [`raise_descriptor_limit`] raised it).
/// The cores this process may use (affinity and cgroup quota included), 2 when unknown.
fn cores() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

fn embedded_limits(config: &Config) -> Limits {
    let mut limits =
        Limits::for_machine(cores(), STARTING_SOFT_LIMIT.get().copied().unwrap_or(1024));
    if let Some(n) = config.max_open_namespaces {
        limits.max_open_namespaces = n;
    }
    if let Some(n) = config.writer_threads {
        limits.writer_threads = n;
    }
    limits
}

/// The soft `RLIMIT_NOFILE` when the process started.
static STARTING_SOFT_LIMIT: std::sync::OnceLock<u64> = std::sync::OnceLock::new();

/// Raises the soft limit on open files to the hard limit, as the Go runtime does, and logs both
/// (SPEC §16.3): sockets and namespace databases then never fail for a limit the operator did
/// not mean. The limit it started with is kept for the embedded store's defaults.
fn raise_descriptor_limit() {
    use rlimit::Resource;
    match rlimit::getrlimit(Resource::NOFILE) {
        Ok((soft, hard)) => {
            let _ = STARTING_SOFT_LIMIT.set(soft);
            if soft >= hard {
                info!(soft, hard, "Open-file limit");
                return;
            }
            match rlimit::setrlimit(Resource::NOFILE, hard, hard) {
                Ok(()) => info!(was = soft, now = hard, hard, "Raised the open-file limit"),
                Err(error) => warn!(soft, hard, %error, "Cannot raise the open-file limit"),
            }
        }
        Err(error) => warn!(%error, "Cannot read the open-file limit"),
    }
}

fn server_config(config: &Config) -> ServerConfig {
    ServerConfig {
        test_mode: config.test_mode,
        max_body_bytes: config.max_body_bytes,
        sse_heartbeat: config.sse_heartbeat,
        metrics: config.metrics,
        debug_endpoints: config.debug_endpoints,
        console: config.console,
        allow_deletion: config.allow_deletion,
    }
}

/// Prints a generated admin token once, on stderr, whatever the log level (SPEC §4.6). It is the
/// only place the plaintext is shown: the store keeps only its hash.
fn print_generated_token(token: &Token) {
    let rule = "=".repeat(80);
    let block = format!(
        "{rule}\nDEFAULT NAMESPACE TOKEN:\n{}\n{rule}\n",
        token.expose()
    );
    let mut stderr = std::io::stderr().lock();
    // If stderr is gone there is nobody to show the token to; the server still works.
    let _ = stderr.write_all(block.as_bytes());
    let _ = stderr.flush();
}
