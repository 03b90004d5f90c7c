//! The web console (`/console`, `console/` at the repository root) tested from the outside: its
//! TypeScript sources against the bundle the server embeds, and the page itself in a real
//! headless Chromium against a real `messagedb serve`.
//!
//! Both tests need Node and the console's `node_modules` (`npm ci` in `console/`); the browser
//! test also needs Debian's `chromium`. `.ci/run` installs all three. When one is missing the
//! tests fail and say what to install, because a silently skipped browser test looks exactly like
//! a passing one; `MESSAGEDB_SKIP_BROWSER=1` skips them on purpose, with a printed notice.
//! The browser test saves its screenshots in `target/console-screenshots/`.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use messagedb_client::{CreateNamespaceOptions, DeletionsOptions, NewMessage, StreamOptions};
use serde_json::value::RawValue;

use crate::support::{Launch, ADMIN};

/// A safety net against a hung browser or Node process; never waited out on success.
const PATIENCE: Duration = Duration::from_secs(120);

/// The stream the browser test reads and writes; its category is `ledger`.
const STREAM: &str = "ledger-e2e";

/// The stream the browser test truncates and then deletes (SPEC §18), in a category of its own
/// so the other steps' counts do not depend on it.
const DELETION_STREAM: &str = "erasure-e2e";

fn console_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../console")
}

/// `target/console-screenshots`, next to the target directory's `tmp`.
fn screenshot_dir() -> PathBuf {
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
    tmp.parent().unwrap_or(tmp).join("console-screenshots")
}

fn chromium() -> PathBuf {
    std::env::var_os("CHROMIUM").map_or_else(|| PathBuf::from("/usr/bin/chromium"), PathBuf::from)
}

/// What a console test needs besides the Rust toolchain.
enum Needs {
    Node,
    NodeAndBrowser,
}

/// `true` when the test should run, `false` when it is skipped on purpose
/// (`MESSAGEDB_SKIP_BROWSER=1`); a panic naming what to install when something is missing.
fn prerequisites(needs: Needs) -> bool {
    let mut missing = Vec::new();
    let node = std::process::Command::new("node")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    if !node.is_ok_and(|s| s.success()) {
        missing.push("node (Node.js 20 or later) on PATH".to_owned());
    }
    let modules = console_dir().join("node_modules");
    for package in ["esbuild", "typescript", "playwright-core"] {
        if !modules.join(package).join("package.json").is_file() {
            missing.push(format!(
                "{package} in {} (run `npm ci` in console/)",
                modules.display()
            ));
        }
    }
    if matches!(needs, Needs::NodeAndBrowser) && !chromium().is_file() {
        missing.push(format!(
            "Chromium at {} (`apt-get install -y chromium`, or set CHROMIUM)",
            chromium().display()
        ));
    }
    if missing.is_empty() {
        return true;
    }
    if std::env::var("MESSAGEDB_SKIP_BROWSER").is_ok_and(|v| v == "1") {
        eprintln!(
            "SKIPPED (MESSAGEDB_SKIP_BROWSER=1): the console test needs {}",
            missing.join(", ")
        );
        return false;
    }
    panic!(
        "the console tests need {}. Install them (`.ci/run` does), or set \
         MESSAGEDB_SKIP_BROWSER=1 to skip these tests on purpose.",
        missing.join("; ")
    );
}

/// Runs `node <args…>` in `console/` with `env`, failing the test with its output unless it
/// exits 0.
async fn node(args: &[&str], env: &[(&str, String)]) {
    let mut command = tokio::process::Command::new("node");
    command
        .args(args)
        .current_dir(console_dir())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    for (name, value) in env {
        command.env(name, value);
    }
    let child = command.spawn().expect("start node");
    let output = tokio::time::timeout(PATIENCE, child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("node {args:?} did not finish within {PATIENCE:?}"))
        .expect("wait for node");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "node {args:?} failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
    println!("{stdout}");
}

/// The embedded bundle (`crates/messagedb-server/console-dist`) is a fresh build of
/// `console/src`, the sources type-check, and the console's unit tests pass.
#[tokio::test]
async fn console_sources_match_the_embedded_bundle() {
    if !prerequisites(Needs::Node) {
        return;
    }
    node(
        &["node_modules/typescript/bin/tsc", "--noEmit", "-p", "."],
        &[],
    )
    .await;
    node(&["build.mjs", "--check"], &[]).await;
    node(&["--test", "test/"], &[]).await;
}

fn raw(json: &str) -> Box<RawValue> {
    RawValue::from_string(json.to_owned()).expect("valid JSON")
}

/// Sign in (a bad token first), the overview, namespace create/delete, the streams browser, a
/// stream's messages with faithful payloads, the write form (client-side validation, a server
/// conflict, a success, two messages as one `stream.writeBatch`), the live tail with pause and
/// resume, the category page's correlation filter, truncating and deleting a stream behind a
/// typed confirmation, a narrow screen, and no deletion actions on a second server started with
/// `--allow-deletion=false`: see `console/e2e/console.mjs` for each step.
#[tokio::test]
async fn console_in_a_real_browser() {
    if !prerequisites(Needs::NodeAndBrowser) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let server = Launch::serve(dir.path(), &["--token", ADMIN])
        .start()
        .unwrap();
    let refusing_dir = tempfile::tempdir().unwrap();
    let refusing = Launch::serve(
        refusing_dir.path(),
        &["--token", ADMIN, "--allow-deletion=false"],
    )
    .start()
    .unwrap();
    let refuses = refusing
        .client(Some(ADMIN))
        .deletion_allowed()
        .await
        .unwrap();
    assert!(!refuses, "the second server must refuse deletion");
    let client = server.client(Some(ADMIN));
    assert!(client.deletion_allowed().await.unwrap());
    let big = r#"{"amount":12345678901234567890,"price":1.50,"note":"<b>not markup</b>"}"#;
    let large: Vec<String> = (0..60)
        .map(|i| format!(r#""line-{i}":"{}""#, "x".repeat(40)))
        .collect();
    let large = format!("{{{}}}", large.join(","));
    let messages = [
        NewMessage::new("Deposited", raw(big)),
        NewMessage::new("Large", raw(&large)),
        NewMessage::new("Correlated", raw("{}"))
            .with_metadata(raw(r#"{"correlationStreamName":"workflow-1"}"#)),
    ];
    for message in &messages {
        client.write_message(STREAM, message).await.expect("seed");
    }
    client
        .write_message("other-1", &NewMessage::new("Other", raw("{}")))
        .await
        .expect("seed");
    // More streams than one page of the streams browser (25) holds.
    for i in 0..27 {
        client
            .write_message(
                &format!("page-{i:02}"),
                &NewMessage::new("Paged", raw("{}")),
            )
            .await
            .expect("seed");
    }

    for i in 0..5 {
        let data = format!(r#"{{"step":{i}}}"#);
        client
            .write_message(
                DELETION_STREAM,
                &NewMessage::new(format!("Step{i}"), raw(&data)),
            )
            .await
            .expect("seed");
    }

    let tenant = client
        .ns_create("acme", &CreateNamespaceOptions::default())
        .await
        .expect("create a tenant");

    let shots = screenshot_dir();
    // Screenshots from an earlier run must not pass for this run's.
    let _ = std::fs::remove_dir_all(&shots);
    node(
        &["e2e/console.mjs"],
        &[
            ("MESSAGEDB_URL", server.url()),
            ("MESSAGEDB_TOKEN", ADMIN.to_owned()),
            ("CONSOLE_TENANT_TOKEN", tenant.token.clone()),
            ("CONSOLE_STREAM", STREAM.to_owned()),
            ("CONSOLE_DELETION_STREAM", DELETION_STREAM.to_owned()),
            ("CONSOLE_REFUSING_URL", refusing.url()),
            ("CONSOLE_SCREENSHOTS", shots.display().to_string()),
            ("CHROMIUM", chromium().display().to_string()),
        ],
    )
    .await;
    for name in [
        "01-signin-error.png",
        "05-stream.png",
        "06-tail.png",
        "11-deleted.png",
        "14-deletion-disabled.png",
    ] {
        assert!(shots.join(name).is_file(), "missing screenshot {name}");
    }
    println!("console screenshots: {}", shots.display());

    // What the browser wrote is really in the store, exactly as typed.
    let options = StreamOptions {
        position: Some(3),
        ..StreamOptions::default()
    };
    let written = client.get_stream(STREAM, &options).await.expect("read");
    let written: Vec<(&str, &str)> = written
        .iter()
        .map(|m| (m.message_type.as_str(), m.data.get()))
        .collect();
    assert_eq!(
        written,
        [
            (
                "ConsoleWritten",
                r#"{"written":"by the console","n":98765432109876543210}"#
            ),
            (
                "WhilePaused",
                r#"{"written":"by the console","n":98765432109876543210}"#
            ),
        ]
    );
    // The write page's batch: one message in each of two new streams, payloads as typed.
    let batch = r#"{"batch":true,"n":98765432109876543210,"price":2.50}"#;
    for (name, message_type, metadata) in [
        ("batchone-e2e", "BatchFirst", None),
        (
            "batchtwo-e2e",
            "BatchSecond",
            Some(r#"{"correlationStreamName":"workflow-9"}"#),
        ),
    ] {
        let stored = client
            .get_stream(name, &StreamOptions::default())
            .await
            .expect("read");
        let stored: Vec<(&str, &str, Option<&str>)> = stored
            .iter()
            .map(|m| {
                (
                    m.message_type.as_str(),
                    m.data.get(),
                    m.metadata.as_deref().map(RawValue::get),
                )
            })
            .collect();
        assert_eq!(stored, [(message_type, batch, metadata)], "{name}");
    }
    // The browser truncated the deletion stream before position 3, then deleted the rest: the
    // stream is empty at its old version, and both deletions are on record.
    assert_eq!(
        client
            .stream_version(DELETION_STREAM)
            .await
            .expect("version"),
        Some(4)
    );
    let left = client
        .get_stream(DELETION_STREAM, &StreamOptions::default())
        .await
        .expect("read");
    assert!(left.is_empty(), "{left:?}");
    let records = client
        .ns_deletions(&DeletionsOptions::default())
        .await
        .expect("ns.deletions");
    let records: Vec<(&str, i64)> = records
        .iter()
        .map(|d| (d.stream.as_str(), d.before))
        .collect();
    assert_eq!(records, [(DELETION_STREAM, 3), (DELETION_STREAM, 5)]);
    refusing.stop();
    server.stop();
}

/// `--console=false` (or `MESSAGEDB_CONSOLE=false`): every console path is the SPEC §3 404.
/// With the default, the page is served without credentials.
#[tokio::test]
async fn console_flag() {
    let dir = tempfile::tempdir().unwrap();
    let server = Launch::serve(dir.path(), &["--token", ADMIN])
        .start()
        .unwrap();
    let page = server.get("/console").await;
    assert_eq!(page.status(), 200);
    assert_eq!(
        page.headers()["content-type"].to_str().unwrap(),
        "text/html; charset=utf-8"
    );
    server.stop();

    let off = [
        Launch::serve(dir.path(), &["--token", ADMIN, "--console=false"]),
        Launch::serve(dir.path(), &["--token", ADMIN]).env("MESSAGEDB_CONSOLE", "false"),
    ];
    for launch in off {
        let server = launch.start().unwrap();
        for path in ["/console", "/console/app.js", "/console/app.css"] {
            let response = server.get(path).await;
            assert_eq!(response.status(), 404, "{path}");
            assert_eq!(
                response.text().await.unwrap(),
                r#"{"error":{"code":"NOT_FOUND","message":"Endpoint not found"}}"#
            );
        }
        server.stop();
    }
}
