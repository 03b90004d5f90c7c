//! The command line and configuration (SPEC §11): invocations, exit codes, the flag syntax, the
//! environment fallback and startup errors (checklist N128–N132, D29, D30).

use messagedb_core::VERSION;

use crate::support::{Launch, ADMIN};

fn stdout(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// N132 and §11: help, version and unknown commands.
#[test]
fn help_version_and_unknown_commands() {
    for args in [&[][..], &["help"], &["--help"], &["-h"]] {
        let output = Launch::new(args).output();
        assert_eq!(output.status.code(), Some(0), "{args:?}");
        assert!(stdout(&output).contains("Usage:"), "{args:?}");
    }
    for args in [["version"], ["--version"], ["-v"]] {
        let output = Launch::new(&args).output();
        assert_eq!(output.status.code(), Some(0), "{args:?}");
        assert_eq!(stdout(&output), format!("messagedb {VERSION}\n"));
    }
    let semver = VERSION.split('.').collect::<Vec<_>>();
    assert_eq!(semver.len(), 3);
    assert!(
        semver.iter().all(|part| part.parse::<u64>().is_ok()),
        "{VERSION}"
    );

    for flag in ["--full", "-f"] {
        let output = Launch::new(&["version", flag]).output();
        assert_eq!(output.status.code(), Some(0));
        let text = stdout(&output);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[1], format!("Version: {VERSION}"), "{text}");
        assert!(lines[2].starts_with("Commit: "), "{text}");
        assert!(lines[3].starts_with("Built: "), "{text}");
    }

    let output = Launch::new(&["frobnicate"]).output();
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("unknown command"),
        "{}",
        stderr(&output)
    );

    let output = Launch::new(&["serve", "--help"]).output();
    assert_eq!(output.status.code(), Some(0));
    assert!(stdout(&output).contains("--shutdown-timeout"));

    // Unknown flags and a word after a boolean flag are usage errors.
    for args in [
        &["serve", "--bogus"][..],
        &["--test-mode", "serve"],
        &["version", "--bogus"],
    ] {
        let output = Launch::new(args).output();
        assert_eq!(
            output.status.code(),
            Some(2),
            "{args:?}: {}",
            stderr(&output)
        );
    }
}

/// N128: EventoDB tooling's invocation, single-dash flags and all.
#[tokio::test]
async fn eventodb_style_invocation_serves_health() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("x");
    let server = Launch::new(&[
        "-port",
        "0",
        "-token",
        ADMIN,
        "-db-url",
        "sqlite://:memory:",
        "-data-dir",
        data_dir.to_str().unwrap(),
        "-test-mode",
    ])
    .start()
    .unwrap_or_else(|exited| panic!("did not start: {exited:?}"));
    let response = server.get("/health").await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), r#"{"status":"ok"}"#);
    // Test mode keeps everything in memory: the data directory is not even created.
    assert!(!data_dir.exists());
    server.stop();
}

/// N129: `MESSAGEDB_PORT` and `EVENTODB_PORT` both work, in that order, and a flag wins.
///
/// Port 0 is used to tell the sources apart without racing for fixed ports: a setting that was
/// used yields an ephemeral port (never the default 8080), and a setting that was *not* used is
/// given an unparseable value, so the server could not have started had it been read.
#[test]
fn port_from_environment_with_precedence() {
    let base = [
        "serve",
        "--listen",
        "127.0.0.1",
        "--test-mode",
        "--token",
        ADMIN,
    ];
    let cases = [
        (vec![], vec![("EVENTODB_PORT", "0")]),
        (vec![], vec![("MESSAGEDB_PORT", "0")]),
        (
            vec![],
            vec![("MESSAGEDB_PORT", "0"), ("EVENTODB_PORT", "abc")],
        ),
        (vec![], vec![("MESSAGEDB_PORT", ""), ("EVENTODB_PORT", "0")]),
        (
            vec!["--port", "0"],
            vec![("MESSAGEDB_PORT", "abc"), ("EVENTODB_PORT", "abc")],
        ),
    ];
    for (flags, env) in cases {
        let mut args: Vec<&str> = base.to_vec();
        args.extend(&flags);
        let mut launch = Launch::new(&args);
        for (name, value) in &env {
            launch = launch.env(name, value);
        }
        let server = launch
            .start()
            .unwrap_or_else(|exited| panic!("{flags:?} {env:?} did not start: {exited:?}"));
        assert_ne!(server.port, 8080, "{flags:?} {env:?}");
        server.stop();
    }
}

/// N131: an unparseable environment value is a startup error naming the variable (exit 1), and
/// an unknown log format means JSON.
#[test]
fn bad_environment_values_and_json_logs() {
    let dir = tempfile::tempdir().unwrap();
    let exited = Launch::serve(dir.path(), &["--test-mode"])
        .env("MESSAGEDB_SHUTDOWN_TIMEOUT", "soon")
        .start_failure();
    assert_eq!(exited.status.code(), Some(1));
    assert!(
        exited.stderr.contains("MESSAGEDB_SHUTDOWN_TIMEOUT"),
        "{}",
        exited.stderr
    );

    let exited = Launch::new(&["serve", "--test-mode"])
        .env("MESSAGEDB_PORT", "abc")
        .start_failure();
    assert_eq!(exited.status.code(), Some(1));
    assert!(
        exited.stderr.contains("MESSAGEDB_PORT"),
        "{}",
        exited.stderr
    );

    let exited = Launch::serve(dir.path(), &["--test-mode", "--metrics=maybe"]).start_failure();
    assert_eq!(exited.status.code(), Some(1));
    assert!(exited.stderr.contains("--metrics"), "{}", exited.stderr);

    let server = Launch::serve(
        dir.path(),
        &["--test-mode", "--token", ADMIN, "--log-format=xyz"],
    )
    .start()
    .unwrap_or_else(|exited| panic!("did not start: {exited:?}"));
    let exited = server.stop();
    let lines: Vec<&str> = exited.stderr.lines().collect();
    assert!(lines.len() >= 3, "{}", exited.stderr);
    for line in &lines {
        let record: serde_json::Value = serde_json::from_str(line)
            .unwrap_or_else(|err| panic!("not a JSON log line ({err}): {line}"));
        assert!(record.is_object(), "{line}");
    }
    let listening = lines
        .iter()
        .map(|line| serde_json::from_str::<serde_json::Value>(line).unwrap())
        .find(|record| record["message"] == "messagedb listening")
        .expect("a listening record");
    assert!(
        listening["port"].as_u64().is_some_and(|port| port > 0),
        "{listening}"
    );
    assert_eq!(listening["test_mode"], true);
    assert_eq!(listening["backend"], "sqlite");
}

/// N130, D30 and §10.1: database URL errors.
#[test]
fn database_url_errors() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            vec!["--db-url", "mysql://x"],
            "unsupported database scheme: mysql (use postgres://, postgresql://, or sqlite://)",
        ),
        (
            vec!["--test-mode", "--db-url", "postgres://user:pw@localhost/db"],
            "--test-mode cannot be used with a PostgreSQL database URL (test mode keeps all data in memory)",
        ),
        (
            vec!["--test-mode", "--db-url=postgresql://localhost/db"],
            "--test-mode cannot be used with a PostgreSQL database URL (test mode keeps all data in memory)",
        ),
        (vec!["--db-url", "nonsense"], "invalid database URL: "),
        (vec!["--db-type", "mysql"], "unsupported --db-type: mysql"),
        (
            // Nothing listens on port 1: startup fails without hanging, and says why.
            vec!["--db-url", "postgres://user:pw@127.0.0.1:1/db"],
            "cannot open the PostgreSQL store",
        ),
    ];
    for (args, message) in cases {
        let exited = Launch::serve(dir.path(), &args).start_failure();
        assert_eq!(exited.status.code(), Some(1), "{args:?}");
        assert!(
            exited.stderr.contains(message),
            "{args:?}: {}",
            exited.stderr
        );
        assert!(
            !exited.stderr.contains(":pw@"),
            "the password leaked: {}",
            exited.stderr
        );
    }
}

/// D29: a `--token` for another namespace, or a malformed one, stops startup.
#[test]
fn admin_token_must_be_for_default() {
    let dir = tempfile::tempdir().unwrap();
    // base64url("tenant") = dGVuYW50
    let tenant = format!("ns_dGVuYW50_{}", "0".repeat(64));
    let exited = Launch::serve(dir.path(), &["--token", &tenant]).start_failure();
    assert_eq!(exited.status.code(), Some(1));
    assert!(
        exited
            .stderr
            .contains("provided token is for namespace 'tenant', expected 'default'"),
        "{}",
        exited.stderr
    );
    let exited = Launch::serve(dir.path(), &["--token", "abc"]).start_failure();
    assert_eq!(exited.status.code(), Some(1));
    assert!(
        exited.stderr.contains("invalid token format"),
        "{}",
        exited.stderr
    );
    // The failed starts released the data directory.
    let server = Launch::serve(dir.path(), &["--token", ADMIN])
        .start()
        .unwrap_or_else(|exited| panic!("did not start: {exited:?}"));
    server.stop();
}

/// §11.2: a failure after the store is open (here: the port is taken) is still a startup error,
/// and it releases the data directory.
#[test]
fn port_in_use_is_a_startup_error() {
    let dir = tempfile::tempdir().unwrap();
    let other = tempfile::tempdir().unwrap();
    let first = Launch::serve(other.path(), &["--token", ADMIN])
        .start()
        .unwrap();
    let port = first.port.to_string();
    let exited = Launch::new(&[
        "serve",
        "--listen",
        "127.0.0.1",
        "--port",
        &port,
        "--data-dir",
        dir.path().to_str().unwrap(),
        "--token",
        ADMIN,
    ])
    .start_failure();
    assert_eq!(exited.status.code(), Some(1));
    assert!(
        exited.stderr.contains("cannot listen on"),
        "{}",
        exited.stderr
    );
    first.stop();
    let again = Launch::serve(dir.path(), &["--token", ADMIN])
        .start()
        .unwrap();
    again.stop();
}
