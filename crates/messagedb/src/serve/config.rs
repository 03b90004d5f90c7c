//! The server's configuration (SPEC §11.1): clap reads the flags as raw text, then every setting is
//! resolved through the flag > `MESSAGEDB_*` > `EVENTODB_*` > default chain and parsed into one
//! typed [`Config`].
//!
//! clap does not parse values itself because the same value syntax (and the same error, naming
//! where the bad value came from) must apply whether it arrived as a flag or from the environment,
//! and because clap's own `env` support knows only one variable per flag. Booleans are declared as
//! "optional value, `=` required" so that `--test-mode serve` never takes `serve` as the value.

use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{CommandFactory, Parser};

use super::database::{Database, DatabaseUrlError};
use crate::logging::{LogFormat, LogLevel};
use crate::settings::{self, lookup, Env, InvalidSetting};

/// The serve flags as clap sees them: raw text, validated by [`Config::resolve`].
#[derive(Parser)]
#[command(
    name = "messagedb serve",
    about = "Run the messagedb server",
    disable_version_flag = true,
    after_help = "Every flag --x-y falls back to the environment variable MESSAGEDB_X_Y, then to \
                  EVENTODB_X_Y; empty values count as unset. Flags also work as -x-y and -x-y=v.\n\
                  Booleans are --flag or --flag=true|false. Durations are whole seconds (15) or \
                  have a unit (500ms, 15s, 2m)."
)]
pub struct ServeArgs {
    /// Listen port; 0 picks a free port (logged) [default: 8080]
    #[arg(long, value_name = "PORT")]
    port: Option<String>,
    /// Bind address, IPv4 or IPv6 [default: 0.0.0.0]
    #[arg(long, value_name = "ADDR")]
    listen: Option<String>,
    /// sqlite://<ignored>, sqlite://:memory:, or postgres://… [default: embedded, in --data-dir]
    #[arg(long, value_name = "URL")]
    db_url: Option<String>,
    /// Embedded data directory, created if missing [default: ./data]
    #[arg(long, value_name = "DIR")]
    data_dir: Option<String>,
    /// Admin (`default` namespace) token; rotates the stored one [default: generated on first start]
    #[arg(long, value_name = "TOKEN")]
    token: Option<String>,
    /// Development mode: in-memory data, anonymous callers act as admin [default: false]
    #[arg(long, value_name = "BOOL", num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    test_mode: Option<String>,
    /// debug, info, warn or error; anything else means info [default: info]
    #[arg(long, value_name = "LEVEL")]
    log_level: Option<String>,
    /// console or json; anything else means json [default: console]
    #[arg(long, value_name = "FORMAT")]
    log_format: Option<String>,
    /// Largest accepted /rpc body, in bytes [default: 16777216]
    #[arg(long, value_name = "BYTES")]
    max_body_bytes: Option<String>,
    /// SSE keepalive interval; 0 turns keepalives off [default: 15s]
    #[arg(long, value_name = "DURATION")]
    sse_heartbeat: Option<String>,
    /// How long a graceful shutdown waits for in-flight requests [default: 10s]
    #[arg(long, value_name = "DURATION")]
    shutdown_timeout: Option<String>,
    /// Serve the admin-only /debug/pprof endpoints [default: false]
    #[arg(long, value_name = "BOOL", num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    debug_endpoints: Option<String>,
    /// Serve Prometheus metrics on /metrics [default: true]
    #[arg(long, value_name = "BOOL", num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    metrics: Option<String>,
    /// Serve the web console on /console [default: true]
    #[arg(long, value_name = "BOOL", num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    console: Option<String>,
    /// Allow stream.delete and stream.truncate to the namespace's tokens; false answers 403
    /// [default: true]
    #[arg(long, value_name = "BOOL", num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    allow_deletion: Option<String>,
    /// PostgreSQL connection pool size [default: 16]
    #[arg(long, value_name = "N")]
    db_pool_size: Option<String>,
    /// Embedded: namespaces whose databases are open at once; the least recently used idle one is
    /// closed to make room [default: from the file-descriptor limit, at most 1024]
    #[arg(long, value_name = "N")]
    max_open_namespaces: Option<String>,
    /// Embedded: threads that run group commits (shared by every namespace) [default: the number
    /// of cores, 2 to 8]
    #[arg(long, value_name = "N")]
    writer_threads: Option<String>,
    /// Accepted for EventoDB compatibility: empty, postgres or sqlite (ignored)
    #[arg(long, value_name = "TYPE")]
    db_type: Option<String>,
}

impl ServeArgs {
    /// Whether the long flag `name` consumes the following word as its value (booleans do not).
    pub fn takes_value(name: &str) -> bool {
        ServeArgs::command()
            .get_arguments()
            .find(|arg| arg.get_long() == Some(name))
            .is_some_and(|arg| arg.get_action().takes_values() && !arg.is_require_equals_set())
    }
}

/// A secret setting value (the admin token). `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("REDACTED")
    }
}

/// Everything `messagedb serve` needs to know, validated.
#[derive(Debug, Clone)]
pub struct Config {
    /// The port to bind; 0 binds a free one.
    pub port: u16,
    /// The address to bind.
    pub listen: IpAddr,
    /// The storage backend `--db-url` selects.
    pub database: Database,
    /// `--data-dir` when it was set; `None` means [`Config::DEFAULT_DATA_DIR`].
    pub data_dir: Option<PathBuf>,
    /// The admin token to install or rotate; `None` keeps the stored one (or generates one).
    pub token: Option<Secret>,
    /// In-memory storage and anonymous admin access (SPEC §4.7).
    pub test_mode: bool,
    pub log_level: LogLevel,
    pub log_format: LogFormat,
    /// The `/rpc` body limit in bytes.
    pub max_body_bytes: usize,
    /// The SSE keepalive interval; `None` disables keepalives.
    pub sse_heartbeat: Option<Duration>,
    /// How long shutdown waits for in-flight requests before closing them.
    pub shutdown_timeout: Duration,
    /// Whether `/debug/pprof/*` exists.
    pub debug_endpoints: bool,
    /// Whether `/metrics` exists.
    pub metrics: bool,
    /// Whether the web console exists at `/console`.
    pub console: bool,
    /// Whether `stream.delete` / `stream.truncate` are allowed (SPEC §18).
    pub allow_deletion: bool,
    /// PostgreSQL pool size (no effect on the embedded backend).
    pub db_pool_size: u32,
    /// `--max-open-namespaces`; `None`: derived from the descriptor limit at startup.
    pub max_open_namespaces: Option<usize>,
    /// `--writer-threads`; `None`: derived from the cores.
    pub writer_threads: Option<usize>,
}

/// A configuration that cannot be used. Display texts are the startup error messages.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error(transparent)]
    Invalid(#[from] InvalidSetting),
    #[error(transparent)]
    DatabaseUrl(#[from] DatabaseUrlError),
    #[error("unsupported --db-type: {0}")]
    DbType(String),
}

impl Config {
    pub const DEFAULT_DATA_DIR: &'static str = "./data";

    /// Resolves every setting from the flags in `args`, then `env`, then the defaults.
    pub fn resolve(args: ServeArgs, env: &dyn Env) -> Result<Config, ConfigError> {
        let port = match lookup("port", args.port, env) {
            Some(raw) => raw.parse("a port number (0-65535)", settings::parse_number)?,
            None => 8080,
        };
        let listen = match lookup("listen", args.listen, env) {
            Some(raw) => raw.parse("an IPv4 or IPv6 address", parse_ip)?,
            None => IpAddr::from([0, 0, 0, 0]),
        };
        let database = match lookup("db-url", args.db_url, env) {
            Some(raw) => Database::parse(&raw.value)?,
            None => Database::DEFAULT,
        };
        let data_dir = lookup("data-dir", args.data_dir, env).map(|raw| PathBuf::from(raw.value));
        let token = lookup("token", args.token, env).map(|raw| Secret(raw.value));
        let test_mode = flag(lookup("test-mode", args.test_mode, env), false)?;
        let log_level = lookup("log-level", args.log_level, env)
            .map_or(LogLevel::Info, |raw| LogLevel::parse(&raw.value));
        let log_format = lookup("log-format", args.log_format, env)
            .map_or(LogFormat::Console, |raw| LogFormat::parse(&raw.value));
        let max_body_bytes = match lookup("max-body-bytes", args.max_body_bytes, env) {
            Some(raw) => raw.parse("a positive number of bytes", |text| {
                settings::parse_number::<usize>(text).filter(|n| *n > 0)
            })?,
            None => 16 * 1024 * 1024,
        };
        let sse_heartbeat = match lookup("sse-heartbeat", args.sse_heartbeat, env) {
            Some(raw) => raw.parse(settings::DURATION, settings::parse_duration)?,
            None => Duration::from_secs(15),
        };
        let shutdown_timeout = match lookup("shutdown-timeout", args.shutdown_timeout, env) {
            Some(raw) => raw.parse(settings::DURATION, settings::parse_duration)?,
            None => Duration::from_secs(10),
        };
        let debug_endpoints = flag(lookup("debug-endpoints", args.debug_endpoints, env), false)?;
        let metrics = flag(lookup("metrics", args.metrics, env), true)?;
        let console = flag(lookup("console", args.console, env), true)?;
        let allow_deletion = flag(lookup("allow-deletion", args.allow_deletion, env), true)?;
        let db_pool_size = match lookup("db-pool-size", args.db_pool_size, env) {
            Some(raw) => raw.parse("a positive number", |text| {
                settings::parse_number::<u32>(text).filter(|n| *n > 0)
            })?,
            None => 16,
        };
        let max_open_namespaces = match lookup("max-open-namespaces", args.max_open_namespaces, env)
        {
            Some(raw) => Some(raw.parse("a positive number", |text| {
                settings::parse_number::<usize>(text).filter(|n| *n > 0)
            })?),
            None => None,
        };
        let writer_threads = match lookup("writer-threads", args.writer_threads, env) {
            Some(raw) => Some(raw.parse("a number from 1 to 256", |text| {
                settings::parse_number::<usize>(text).filter(|n| (1..=256).contains(n))
            })?),
            None => None,
        };
        if let Some(raw) = lookup("db-type", args.db_type, env) {
            if !matches!(raw.value.as_str(), "postgres" | "sqlite") {
                return Err(ConfigError::DbType(raw.value));
            }
        }
        Ok(Config {
            port,
            listen,
            database,
            data_dir,
            token,
            test_mode,
            log_level,
            log_format,
            max_body_bytes,
            sse_heartbeat: (!sse_heartbeat.is_zero()).then_some(sse_heartbeat),
            shutdown_timeout,
            debug_endpoints,
            metrics,
            console,
            allow_deletion,
            db_pool_size,
            max_open_namespaces,
            writer_threads,
        })
    }

    /// The embedded data directory: `--data-dir`, or `./data`.
    pub fn data_dir(&self) -> &Path {
        self.data_dir
            .as_deref()
            .unwrap_or(Path::new(Config::DEFAULT_DATA_DIR))
    }
}

fn flag(raw: Option<settings::Raw>, default: bool) -> Result<bool, InvalidSetting> {
    match raw {
        Some(raw) => raw.parse(settings::BOOL, settings::parse_bool),
        None => Ok(default),
    }
}

impl Config {
    /// The async worker threads on a machine with `cores` cores, or `None` to let tokio decide
    /// when the `TOKIO_WORKER_THREADS` variable is set (it always wins):
    /// - one for a store in memory: every store call runs on the worker that makes it
    ///   (`messagedb-sqlite`'s inline drains and reads), so a second worker only adds wake-ups
    ///   across threads;
    /// - otherwise half the cores, at least one (tokio's default is one per core). About half of
    ///   a request's CPU is storage work off the async workers (SQLite's drains and fsyncs on the
    ///   blocking pool; PostgreSQL's own processes, often on the same host), and each idle worker
    ///   more is one more thread for a wake-up to land on.
    ///
    /// Measured on 2 cores (PROFILING.md, "Server CPU per request"): one worker instead of two
    /// costs about a fifth less CPU per request in memory, a tenth less on disk and on PostgreSQL,
    /// with the same or better throughput and p99. Larger machines were not measured.
    pub fn async_workers(
        &self,
        tokio_worker_threads: Option<std::ffi::OsString>,
        cores: usize,
    ) -> Option<usize> {
        if tokio_worker_threads.is_some() {
            return None;
        }
        let in_memory = self.test_mode || self.database == Database::EmbeddedInMemory;
        Some(if in_memory { 1 } else { (cores / 2).max(1) })
    }
}

/// An IP address, IPv6 optionally in brackets (`[::1]`); `localhost` means 127.0.0.1.
fn parse_ip(text: &str) -> Option<IpAddr> {
    if text.eq_ignore_ascii_case("localhost") {
        return Some(IpAddr::from([127, 0, 0, 1]));
    }
    let bare = text
        .strip_prefix('[')
        .and_then(|t| t.strip_suffix(']'))
        .unwrap_or(text);
    bare.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::TestEnv;

    fn resolve(args: &[&str], env: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let argv = std::iter::once("messagedb serve").chain(args.iter().copied());
        let args = ServeArgs::try_parse_from(argv).expect("flags parse");
        Config::resolve(args, &TestEnv(env))
    }

    #[test]
    fn async_workers_are_one_in_memory_and_half_the_cores_otherwise() {
        let durable = resolve(&[], &[]).unwrap();
        let test_mode = resolve(&["--test-mode"], &[]).unwrap();
        let memory = resolve(&["--db-url=sqlite://:memory:"], &[]).unwrap();
        let postgres = resolve(&["--db-url=postgres://localhost/x"], &[]).unwrap();
        for config in [&test_mode, &memory] {
            for cores in [1, 2, 16] {
                assert_eq!(config.async_workers(None, cores), Some(1));
            }
        }
        for config in [&durable, &postgres] {
            assert_eq!(config.async_workers(None, 1), Some(1));
            assert_eq!(config.async_workers(None, 2), Some(1));
            assert_eq!(config.async_workers(None, 3), Some(1));
            assert_eq!(config.async_workers(None, 16), Some(8));
        }
        for config in [&durable, &postgres, &test_mode] {
            assert_eq!(config.async_workers(Some("4".into()), 16), None);
        }
    }

    #[test]
    fn defaults() {
        let config = resolve(&[], &[]).unwrap();
        assert_eq!(config.port, 8080);
        assert_eq!(config.listen.to_string(), "0.0.0.0");
        assert_eq!(config.database, Database::DEFAULT);
        assert_eq!(config.data_dir(), Path::new("./data"));
        assert_eq!(config.token, None);
        assert!(!config.test_mode);
        assert_eq!(config.log_level, LogLevel::Info);
        assert_eq!(config.log_format, LogFormat::Console);
        assert_eq!(config.max_body_bytes, 16_777_216);
        assert_eq!(config.sse_heartbeat, Some(Duration::from_secs(15)));
        assert_eq!(config.shutdown_timeout, Duration::from_secs(10));
        assert!(!config.debug_endpoints);
        assert!(config.metrics);
        assert!(config.console);
        assert_eq!(config.db_pool_size, 16);
    }

    #[test]
    fn every_flag_parses() {
        let config = resolve(
            &[
                "--port=1234",
                "--listen",
                "[::1]",
                "--db-url",
                "sqlite://:memory:",
                "--data-dir=/tmp/x",
                "--token",
                "T",
                "--test-mode",
                "--log-level=debug",
                "--log-format",
                "json",
                "--max-body-bytes=10",
                "--sse-heartbeat=0",
                "--shutdown-timeout",
                "500ms",
                "--debug-endpoints=true",
                "--metrics=false",
                "--console=false",
                "--db-pool-size=4",
                "--db-type=sqlite",
            ],
            &[],
        )
        .unwrap();
        assert_eq!(config.port, 1234);
        assert_eq!(config.listen.to_string(), "::1");
        assert_eq!(config.database, Database::EmbeddedInMemory);
        assert_eq!(config.data_dir(), Path::new("/tmp/x"));
        assert_eq!(config.token.as_ref().map(Secret::expose), Some("T"));
        assert!(config.test_mode);
        assert_eq!(config.log_level, LogLevel::Debug);
        assert_eq!(config.log_format, LogFormat::Json);
        assert_eq!(config.max_body_bytes, 10);
        assert_eq!(config.sse_heartbeat, None);
        assert_eq!(config.shutdown_timeout, Duration::from_millis(500));
        assert!(config.debug_endpoints);
        assert!(!config.metrics);
        assert!(!config.console);
        assert_eq!(config.db_pool_size, 4);
    }

    #[test]
    fn environment_fallback_and_precedence() {
        let env = [
            ("MESSAGEDB_PORT", "1"),
            ("EVENTODB_PORT", "2"),
            ("EVENTODB_TEST_MODE", "T"),
            ("MESSAGEDB_METRICS", "0"),
            ("EVENTODB_METRICS", "1"),
            ("MESSAGEDB_SHUTDOWN_TIMEOUT", ""),
            ("EVENTODB_SHUTDOWN_TIMEOUT", "2m"),
            ("MESSAGEDB_CONSOLE", "false"),
        ];
        let config = resolve(&[], &env).unwrap();
        assert!(!config.console);
        assert_eq!(config.port, 1);
        assert!(config.test_mode);
        assert!(!config.metrics);
        assert_eq!(config.shutdown_timeout, Duration::from_secs(120));
        let config = resolve(&["--port", "3", "--metrics"], &env).unwrap();
        assert_eq!(config.port, 3);
        assert!(config.metrics);
    }

    #[test]
    fn bad_values_name_the_setting() {
        type Case<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)], &'a str);
        let cases: [Case; 7] = [
            (&[], &[("MESSAGEDB_PORT", "abc")], "MESSAGEDB_PORT"),
            (&[], &[("EVENTODB_PORT", "70000")], "EVENTODB_PORT"),
            (&["--port=x"], &[], "--port"),
            (&["--test-mode=yes"], &[], "--test-mode"),
            (
                &[],
                &[("MESSAGEDB_SSE_HEARTBEAT", "soon")],
                "MESSAGEDB_SSE_HEARTBEAT",
            ),
            (&["--max-body-bytes=0"], &[], "--max-body-bytes"),
            (&["--listen=nowhere"], &[], "--listen"),
        ];
        for (args, env, name) in cases {
            let err = resolve(args, env).unwrap_err().to_string();
            assert!(err.contains(name), "{args:?}: {err}");
        }
    }

    #[test]
    fn db_type_and_db_url_errors() {
        assert!(resolve(&["--db-type=postgres"], &[]).is_ok());
        assert_eq!(
            resolve(&["--db-type=mysql"], &[]).unwrap_err().to_string(),
            "unsupported --db-type: mysql"
        );
        assert_eq!(
            resolve(&["--db-url=mysql://x"], &[])
                .unwrap_err()
                .to_string(),
            "unsupported database scheme: mysql (use postgres://, postgresql://, or sqlite://)"
        );
    }

    #[test]
    fn booleans_never_take_the_next_word() {
        let argv = ["messagedb serve", "--test-mode", "false"];
        assert!(ServeArgs::try_parse_from(argv).is_err());
        assert!(ServeArgs::takes_value("port"));
        assert!(!ServeArgs::takes_value("test-mode"));
        assert!(!ServeArgs::takes_value("metrics"));
        assert!(!ServeArgs::takes_value("console"));
        assert!(!ServeArgs::takes_value("nope"));
    }

    #[test]
    fn debug_hides_the_token() {
        let config = resolve(&["--token=ns_secret_value"], &[]).unwrap();
        let shown = format!("{config:?}");
        assert!(!shown.contains("ns_secret_value"), "{shown}");
        assert!(shown.contains("REDACTED"));
    }
}
