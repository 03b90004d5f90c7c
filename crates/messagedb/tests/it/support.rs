//! Running the real `messagedb` binary in tests.
//!
//! A [`Launch`] describes one invocation. [`Launch::start`] spawns it and reads its stderr line by
//! line until the `messagedb listening` line appears, which is the server's readiness signal: the
//! port is read from that line, so every server runs on `--port 0` and no test ever sleeps waiting
//! for readiness. If the process exits first, the start fails with its exit status and stderr.
//! A reader thread keeps collecting stderr for the life of the process, so tests can grep the whole
//! log afterwards, and its end-of-file tells when the process has exited.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use messagedb_client::Client;

/// The admin token the SPEC's checklist uses: `default` with 64 `0` as its random part.
pub const ADMIN: &str =
    "ns_ZGVmYXVsdA_0000000000000000000000000000000000000000000000000000000000000000";

/// Another valid `default` token, with a random part that is easy to grep for.
pub const OTHER_ADMIN: &str =
    "ns_ZGVmYXVsdA_0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

/// How long a server may take to start or stop before the test gives up. A safety net against a
/// hung test, far above what any start needs; never used to wait for something to happen.
const PATIENCE: Duration = Duration::from_secs(60);

/// One invocation of the binary.
pub struct Launch {
    args: Vec<String>,
    env: Vec<(String, String)>,
}

/// A process that exited.
#[derive(Debug)]
pub struct Exited {
    pub status: ExitStatus,
    pub stderr: String,
}

impl Launch {
    /// `messagedb <args…>` with a clean environment (no `MESSAGEDB_*` / `EVENTODB_*` from the
    /// environment the tests run in).
    pub fn new<S: AsRef<str>>(args: &[S]) -> Launch {
        Launch {
            args: args.iter().map(|a| a.as_ref().to_owned()).collect(),
            env: Vec::new(),
        }
    }

    /// `messagedb serve --listen 127.0.0.1 --port 0 --data-dir <dir> <extra…>`.
    pub fn serve<S: AsRef<str>>(data_dir: &Path, extra: &[S]) -> Launch {
        let mut args = vec![
            "serve".to_owned(),
            "--listen".to_owned(),
            "127.0.0.1".to_owned(),
            "--port".to_owned(),
            "0".to_owned(),
            "--data-dir".to_owned(),
            data_dir.display().to_string(),
        ];
        args.extend(extra.iter().map(|a| a.as_ref().to_owned()));
        Launch {
            args,
            env: Vec::new(),
        }
    }

    pub fn env(mut self, name: &str, value: &str) -> Launch {
        self.env.push((name.to_owned(), value.to_owned()));
        self
    }

    fn command(&self) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_messagedb"));
        command.args(&self.args);
        for (name, _) in std::env::vars() {
            if name.starts_with("MESSAGEDB_") || name.starts_with("EVENTODB_") {
                command.env_remove(name);
            }
        }
        command.env_remove("RUST_LOG");
        for (name, value) in &self.env {
            command.env(name, value);
        }
        command
    }

    /// Runs a command that is expected to exit by itself (help, version, usage errors).
    pub fn output(&self) -> std::process::Output {
        self.command()
            .stdin(Stdio::null())
            .output()
            .expect("run messagedb")
    }

    /// Starts a server and waits for its `messagedb listening` line; `Err` if it exits first.
    pub fn start(&self) -> Result<Server, Exited> {
        let mut child = self
            .command()
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn messagedb");
        let stderr = child.stderr.take().expect("stderr is piped");
        let log = Arc::new(Mutex::new(Vec::new()));
        let (lines_tx, lines) = mpsc::channel();
        let collected = Arc::clone(&log);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                collected.lock().unwrap().push(line.clone());
                // The receiver may be gone (the Server was dropped); keep collecting anyway.
                let _ = lines_tx.send(line);
            }
        });
        let mut server = Server {
            child,
            port: 0,
            log,
            lines,
        };
        let deadline = Instant::now() + PATIENCE;
        loop {
            match server
                .lines
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            {
                Ok(line) if line.contains("messagedb listening") => {
                    server.port = listening_port(&line)
                        .unwrap_or_else(|| panic!("no port in the listening line: {line}"));
                    return Ok(server);
                }
                Ok(_) => {}
                Err(RecvTimeoutError::Disconnected) => {
                    let status = server.child.wait().expect("wait for messagedb");
                    return Err(Exited {
                        status,
                        stderr: server.stderr(),
                    });
                }
                Err(RecvTimeoutError::Timeout) => {
                    panic!(
                        "messagedb did not start in time; stderr:\n{}",
                        server.stderr()
                    )
                }
            }
        }
    }

    /// Starts a server that must fail to start, and returns how it exited.
    pub fn start_failure(&self) -> Exited {
        match self.start() {
            Ok(server) => panic!(
                "messagedb {:?} started but should have failed; stderr:\n{}",
                self.args,
                server.stderr()
            ),
            Err(exited) => exited,
        }
    }
}

/// An HTTP client for the servers under test. Proxies from the environment are ignored: every
/// server here is on loopback.
pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("build HTTP client")
}

/// Reads the port from the `messagedb listening` line, in console (`port=123`) or JSON
/// (`"port":123`) form.
pub fn listening_port(line: &str) -> Option<u16> {
    let start = line
        .find("port=")
        .map(|i| i + "port=".len())
        .or_else(|| line.find("\"port\":").map(|i| i + "\"port\":".len()))?;
    let digits: String = line[start..]
        .chars()
        .take_while(|c| c.is_ascii_digit())
        .collect();
    digits.parse().ok()
}

/// A running server process. Dropping it kills the process.
pub struct Server {
    child: Child,
    pub port: u16,
    log: Arc<Mutex<Vec<String>>>,
    lines: Receiver<String>,
}

impl Server {
    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn client(&self, token: Option<&str>) -> Client {
        Client::with_http_client(http(), &self.url(), token).expect("build client")
    }

    /// `GET <url><path>` without credentials.
    pub async fn get(&self, path: &str) -> reqwest::Response {
        http()
            .get(format!("{}{path}", self.url()))
            .send()
            .await
            .expect("GET")
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Everything the server wrote to stderr so far.
    pub fn stderr(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    /// Sends SIGTERM.
    pub fn send_sigterm(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -TERM failed");
    }

    /// Waits until the process has exited (its stderr closed), for at most `limit`; `None` if it
    /// is still running then.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<Exited> {
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(_) => {}
                Err(RecvTimeoutError::Disconnected) => break,
                Err(RecvTimeoutError::Timeout) => return None,
            }
        }
        let status = self.child.wait().expect("wait for messagedb");
        Some(Exited {
            status,
            stderr: self.stderr(),
        })
    }

    /// SIGTERM, then waits for a graceful exit, which must be a success.
    pub fn stop(mut self) -> Exited {
        self.send_sigterm();
        let exited = self
            .wait_exit(PATIENCE)
            .unwrap_or_else(|| panic!("messagedb did not stop; stderr:\n{}", self.stderr()));
        assert!(
            exited.status.success(),
            "graceful stop failed: {:?}\n{}",
            exited.status,
            exited.stderr
        );
        exited
    }

    /// SIGKILL: the process dies at once, without any shutdown work.
    pub fn kill(mut self) {
        self.child.kill().expect("SIGKILL messagedb");
        self.child.wait().expect("wait for messagedb");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // Already reaped after stop/kill; errors here only mean "already gone".
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn listening_port_is_read_from_both_log_formats() {
    let console = "2026-01-01T00:00:00Z  INFO messagedb::serve: messagedb listening \
                   address=127.0.0.1 port=45241 version=0.1.0 backend=sqlite test_mode=false";
    assert_eq!(listening_port(console), Some(45241));
    let json = r#"{"message":"messagedb listening","address":"127.0.0.1","port":37045}"#;
    assert_eq!(listening_port(json), Some(37045));
    assert_eq!(listening_port("messagedb listening"), None);
}
