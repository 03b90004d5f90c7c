//! The server a profile measures: this same binary, started as a child process.
//!
//! It runs `messagedb serve` on a free loopback port with `--debug-endpoints`, a fresh random
//! admin token, and [`messagedb_alloc::ENV_VAR`] set so its counting allocator counts. The port is
//! read from the `messagedb listening` log line (the server's readiness signal), so nothing polls.
//! After that line, stderr is drained by a thread that keeps warnings and errors in the run's
//! `server.log` and drops the per-request `INFO` log, which at tens of thousands of requests per
//! second would fill the bundle (the server still formats it, as it does by default).

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};

/// Which storage the profiled server uses (`--backend`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Backend {
    /// Test mode: the embedded backend in memory.
    Memory,
    /// The embedded backend on disk (WAL, fsync'd group commit), in a fresh data directory.
    Embedded,
    /// PostgreSQL at `--db-url`.
    Postgres,
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Backend::Memory => "memory",
            Backend::Embedded => "embedded",
            Backend::Postgres => "postgres",
        }
    }
}

/// How long the server may take to start or stop before the profile gives up.
const PATIENCE: Duration = Duration::from_secs(60);

/// A running child server. Dropping it kills the process.
pub struct ChildServer {
    child: Child,
    pub url: String,
    /// The `serve` arguments, for `server.json` (the token is redacted).
    pub args: Vec<String>,
    data_dir: Option<PathBuf>,
}

impl ChildServer {
    /// Starts `messagedb serve` for `backend` and waits for it to listen. Its log goes to
    /// `log_path`.
    pub fn start(
        backend: Backend,
        db_url: Option<&str>,
        token: &str,
        log_level: &str,
        log_path: &Path,
    ) -> anyhow::Result<ChildServer> {
        // Below `info` the server does not log `messagedb listening`, which carries the port, so
        // the port is picked here and readiness is a successful connection instead.
        let announces = !matches!(log_level.to_ascii_lowercase().as_str(), "warn" | "error");
        let port = if announces { 0 } else { free_port()? };
        let mut args: Vec<String> = [
            "serve",
            "--listen",
            "127.0.0.1",
            "--port",
            &port.to_string(),
            "--debug-endpoints",
            "--log-level",
            log_level,
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        let mut data_dir = None;
        match backend {
            Backend::Memory => args.push("--test-mode".to_owned()),
            Backend::Embedded => {
                let dir = std::env::temp_dir().join(format!(
                    "messagedb-profile-{}-{}",
                    std::process::id(),
                    std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map_or(0, |d| d.as_nanos())
                ));
                args.push("--data-dir".to_owned());
                args.push(dir.display().to_string());
                data_dir = Some(dir);
            }
            Backend::Postgres => {
                let url = db_url.context("--backend postgres needs --db-url postgres://…")?;
                args.push("--db-url".to_owned());
                args.push(url.to_owned());
            }
        }
        let exe = std::env::current_exe().context("cannot find the messagedb executable")?;
        let mut command = Command::new(exe);
        command.args(&args).arg("--token").arg(token);
        // The profile decides the server's whole configuration: settings from the environment
        // would make bundles of the "same" command differ.
        for (name, _) in std::env::vars_os() {
            let name = name.to_string_lossy();
            if name.starts_with("MESSAGEDB_") || name.starts_with("EVENTODB_") {
                command.env_remove(name.as_ref());
            }
        }
        command
            .env_remove("RUST_LOG")
            .env(messagedb_alloc::ENV_VAR, "1");
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .context("cannot start the server")?;
        let stderr = child
            .stderr
            .take()
            .context("the server's stderr is not piped")?;
        let mut log = File::create(log_path)
            .with_context(|| format!("cannot create {}", log_path.display()))?;
        let (ready_tx, ready) = mpsc::channel::<Result<u16, String>>();
        std::thread::spawn(move || {
            if !announces {
                // Nothing routine is logged below `info`: keep every line.
                for line in BufReader::new(stderr).lines() {
                    let Ok(line) = line else { break };
                    let _ = writeln!(log, "{line}");
                }
                return;
            }
            let mut early = String::new();
            let mut lines = BufReader::new(stderr).lines();
            let mut port = None;
            for line in lines.by_ref() {
                let Ok(line) = line else { break };
                let _ = writeln!(log, "{line}");
                if line.contains("messagedb listening") {
                    port = listening_port(&line);
                    let _ = ready_tx.send(port.ok_or_else(|| format!("no port in: {line}")));
                    break;
                }
                early.push_str(&line);
                early.push('\n');
            }
            if port.is_none() {
                let _ = ready_tx.send(Err(early));
                return;
            }
            for line in lines {
                let Ok(line) = line else { break };
                if !is_routine(&line) {
                    let _ = writeln!(log, "{line}");
                }
            }
        });
        let mut server = ChildServer {
            child,
            url: String::new(),
            args,
            data_dir,
        };
        if !announces {
            server.wait_until_accepting(port, log_path)?;
            server.url = format!("http://127.0.0.1:{port}");
            return Ok(server);
        }
        match ready.recv_timeout(PATIENCE) {
            Ok(Ok(port)) => {
                server.url = format!("http://127.0.0.1:{port}");
                Ok(server)
            }
            Ok(Err(stderr)) => {
                let status = server.child.wait().ok();
                bail!(
                    "the {} server exited before listening ({}):\n{}",
                    backend.name(),
                    status.map_or_else(|| "unknown status".to_owned(), |s| s.to_string()),
                    stderr.trim_end()
                )
            }
            Err(_) => Err(anyhow!("the server did not start within {PATIENCE:?}")),
        }
    }

    /// Waits until the server accepts connections on `port`, or fails if it exits first.
    fn wait_until_accepting(&mut self, port: u16, log_path: &Path) -> anyhow::Result<()> {
        let deadline = Instant::now() + PATIENCE;
        loop {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Ok(());
            }
            if let Some(status) = self.child.try_wait()? {
                let log = std::fs::read_to_string(log_path).unwrap_or_default();
                bail!(
                    "the server exited before listening ({status}):\n{}",
                    log.trim_end()
                );
            }
            if Instant::now() >= deadline {
                bail!("the server did not start within {PATIENCE:?}");
            }
            // Nothing to wait on but the socket: retry shortly.
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGTERM, then waits for a graceful exit (SIGKILL after the patience runs out).
    pub fn stop(mut self) -> anyhow::Result<()> {
        let pid = self.pid().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Some(status) = self.child.try_wait()? {
                if !status.success() {
                    bail!("the server exited with {status} when stopped");
                }
                return Ok(());
            }
            if Instant::now() >= deadline {
                let _ = self.child.kill();
                bail!("the server did not stop within {PATIENCE:?}");
            }
            // Waiting for another process to exit; std has no blocking wait with a timeout.
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for ChildServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(dir) = &self.data_dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// A port that is free now (bound and released; another process could take it in between, which
/// the start then reports).
fn free_port() -> anyhow::Result<u16> {
    let listener =
        std::net::TcpListener::bind(("127.0.0.1", 0)).context("cannot find a free port")?;
    Ok(listener.local_addr()?.port())
}

/// The port of a `messagedb listening` line (console `port=123` or JSON `"port":123`).
fn listening_port(line: &str) -> Option<u16> {
    let start = line
        .find("port=")
        .map(|i| i + "port=".len())
        .or_else(|| line.find("\"port\":").map(|i| i + "\"port\":".len()))?;
    let digits: String = line[start..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

/// Request-log and other `INFO`/`DEBUG` lines, which the bundle does not keep.
fn is_routine(line: &str) -> bool {
    let head = &line[..line.len().min(48)];
    head.contains(" INFO ") || head.contains(" DEBUG ") || line.contains("\"level\":\"INFO\"")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_lines() {
        let listening = "2026-01-01T00:00:00.000000Z  INFO messagedb::serve: messagedb listening address=127.0.0.1 port=45241";
        assert_eq!(listening_port(listening), Some(45241));
        assert_eq!(
            listening_port(r#"{"message":"messagedb listening","port":37045}"#),
            Some(37045)
        );
        assert!(is_routine(
            "2026-01-01T00:00:00.000000Z  INFO messagedb_server::router: HTTP request"
        ));
        assert!(!is_routine(
            "2026-01-01T00:00:00.000000Z  WARN messagedb::serve: Test mode"
        ));
        assert!(!is_routine(
            "2026-01-01T00:00:00.000000Z ERROR messagedb_server::router: HTTP request status=500"
        ));
    }
}
