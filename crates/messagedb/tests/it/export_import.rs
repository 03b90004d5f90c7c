//! `messagedb export` / `messagedb import` through the built binary (SPEC §12, checklist O):
//! a round trip from the embedded backend to PostgreSQL, gzip, `--categories` order, time
//! bounds, `--force` confirmation with and without a terminal, and error output.

use std::io::Write;
use std::process::{Command, Output, Stdio};

use messagedb_client::Client;
use serde_json::{json, Value};

use crate::support::{Launch, ADMIN};

fn cli(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_messagedb"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run messagedb");
    child.stdin.take().unwrap().write_all(stdin).ok();
    child.wait_with_output().unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

async fn call(client: &Client, request: Value) -> String {
    client
        .call(&request)
        .await
        .unwrap_or_else(|e| panic!("{request}: {e}"))
        .get()
        .to_owned()
}

async fn seed(client: &Client) {
    let writes = [
        json!(["stream.write", "b-1", {"type": "X", "data": {"z": 1.50, "a": [1e3, -0]}}]),
        json!(["stream.write", "a-1", {"type": "Y", "data": {}, "metadata": {"correlationStreamName": "c-9"}}]),
        json!(["stream.write", "c-1", {"type": "Z", "data": {"s": "é\u{2028}<>"}}]),
        json!(["stream.write", "b-1", {"type": "X", "data": {"k": null}}]),
        json!(["stream.write", "a-1", {"type": "Y", "data": {"n": 12345678901234567890u64}}]),
    ];
    for write in writes {
        call(client, write).await;
    }
}

const ALL: &str = r#"["category.get","",{"position":1,"batchSize":-1}]"#;

/// O134, O137: export from the embedded backend, import into PostgreSQL (plain and gzipped):
/// `category.get ""` is byte-identical; gzip decompresses to the plain output.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_trip_to_the_other_backend() {
    let dir = tempfile::tempdir().unwrap();
    let source = Launch::serve(dir.path(), &["--token", ADMIN])
        .start()
        .expect("sqlite server");
    let src = source.client(Some(ADMIN));
    seed(&src).await;
    let url = source.url();
    let plain = dir.path().join("plain.ndjson");
    let gz = dir.path().join("out.ndjson.gz");
    let out = cli(
        &[
            "export",
            "--url",
            &format!("{url}/"),
            "--token",
            ADMIN,
            "--output",
            plain.to_str().unwrap(),
        ],
        b"",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).ends_with("Exported: 5 events total\n"),
        "{}",
        stderr(&out)
    );
    let out = cli(
        &[
            "export",
            "-url",
            &url,
            "-token",
            ADMIN,
            "--gzip",
            "--output",
            gz.to_str().unwrap(),
        ],
        b"",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let mut unzipped = String::new();
    std::io::Read::read_to_string(
        &mut flate2::read::GzDecoder::new(std::fs::File::open(&gz).unwrap()),
        &mut unzipped,
    )
    .unwrap();
    let text = std::fs::read_to_string(&plain).unwrap();
    assert_eq!(unzipped, text);
    assert!(!dir.path().join("plain.ndjson.partial").exists());
    assert!(text.starts_with(r#"{"id":""#));
    assert!(
        text.contains(r#","data":{"a":[1000.0,0],"z":1.5},"meta":null,"time":""#),
        "{text}"
    );

    let expected: String = src
        .call_body(ALL.as_bytes().to_vec())
        .await
        .unwrap()
        .get()
        .to_owned();
    let Some(db) = messagedb_testpg::database("round_trip_to_the_other_backend").await else {
        return;
    };
    let target_dir = tempfile::tempdir().unwrap();
    let target = Launch::serve(
        target_dir.path(),
        &[
            "--token",
            ADMIN,
            "--db-url",
            db.url(),
            "--db-pool-size",
            "4",
        ],
    )
    .start()
    .expect("postgres server");
    let out = cli(
        &[
            "import",
            "--url",
            &target.url(),
            "--token",
            ADMIN,
            "--input",
            gz.to_str().unwrap(),
            "--gzip",
        ],
        b"",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).starts_with("Imported: 5 events in "),
        "{}",
        stderr(&out)
    );
    let dst = target.client(Some(ADMIN));
    let imported = dst
        .call_body(ALL.as_bytes().to_vec())
        .await
        .unwrap()
        .get()
        .to_owned();
    assert_eq!(imported, expected);
}

/// O135, O136, O138, O139 and the --force rules without a terminal.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filters_and_failures() {
    let dir = tempfile::tempdir().unwrap();
    let server = Launch::serve(dir.path(), &["--token", ADMIN])
        .start()
        .expect("server");
    let client = server.client(Some(ADMIN));
    seed(&client).await;
    let url = server.url();
    let out = cli(
        &[
            "export",
            "--url",
            &url,
            "--token",
            ADMIN,
            "--categories",
            " b, a",
        ],
        b"",
    );
    assert!(out.status.success());
    let gpos: Vec<i64> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["gpos"]
                .as_i64()
                .unwrap()
        })
        .collect();
    assert_eq!(gpos, vec![1, 2, 4, 5]);

    let all = cli(&["export", "--url", &url, "--token", ADMIN], b"");
    let lines: Vec<Value> = String::from_utf8(all.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let (since, until) = (
        lines[1]["time"].as_str().unwrap(),
        lines[3]["time"].as_str().unwrap(),
    );
    let out = cli(
        &[
            "export", "--url", &url, "--token", ADMIN, "--since", since, "--until", until,
        ],
        b"",
    );
    let kept: Vec<i64> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["gpos"]
                .as_i64()
                .unwrap()
        })
        .collect();
    assert_eq!(kept, vec![2, 3]);
    let out = cli(
        &[
            "export",
            "--url",
            &url,
            "--token",
            ADMIN,
            "--since",
            "2999-01-01",
        ],
        b"",
    );
    assert!(out.stdout.is_empty());
    let out = cli(
        &["export", "--url", &url, "--token", ADMIN, "--since", "soon"],
        b"",
    );
    assert_eq!(out.status.code(), Some(2));

    let bad = dir.path().join("bad.ndjson");
    std::fs::write(&bad, "\n{oops\n").unwrap();
    let out = cli(
        &[
            "import",
            "--url",
            &url,
            "--token",
            ADMIN,
            "--input",
            bad.to_str().unwrap(),
        ],
        b"",
    );
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.starts_with("Error: INVALID_JSON: malformed JSON at line 2: "),
        "{err}"
    );
    assert!(err.trim_end().ends_with("(line 2)"), "{err}");

    // --force with --input: the answer comes from stdin; "n" cancels and changes nothing.
    let out = cli(
        &[
            "import",
            "--url",
            &url,
            "--token",
            ADMIN,
            "--input",
            bad.to_str().unwrap(),
            "--force",
        ],
        b"n\n",
    );
    assert_eq!(out.status.code(), Some(0));
    assert!(stderr(&out).contains("Are you sure you want to continue? [y/N]: "));
    assert!(stderr(&out).contains("Import cancelled."));
    assert_eq!(call(&client, json!(["stream.version", "a-1"])).await, "1");
    // Data on stdin and no controlling terminal (setsid): --yes is required.
    let out = Command::new("setsid")
        .args([
            "-w",
            env!("CARGO_BIN_EXE_messagedb"),
            "import",
            "--url",
            &url,
            "--token",
            ADMIN,
            "--force",
        ])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out),
        "Error: --force with data on stdin requires --yes\n"
    );
    // --force --yes on stdin replaces everything.
    let out = cli(
        &[
            "import", "--url", &url, "--token", ADMIN, "--force", "--yes",
        ],
        lines[0].to_string().as_bytes(),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let left = call(&client, json!(["category.get", ""])).await;
    assert_eq!(
        serde_json::from_str::<Value>(&left)
            .unwrap()
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let out = cli(&["import", "--url", &url, "--token", "nope"], b"");
    assert!(
        stderr(&out).starts_with("Error: server error (HTTP 401): "),
        "{}",
        stderr(&out)
    );
}

/// Runs `messagedb import --force` with the data on stdin (a file redirected by the shell) under
/// `script`, which gives it a pseudo-terminal as its controlling terminal; `answer` is typed into
/// that terminal. Returns the exit code and everything the terminal showed.
fn import_force_from_terminal(url: &str, data: &std::path::Path, answer: &[u8]) -> (i32, String) {
    let command = format!(
        "'{}' import --url '{url}' --token '{ADMIN}' --force < '{}'",
        env!("CARGO_BIN_EXE_messagedb"),
        data.display()
    );
    let out = cli_program("script", &["-qec", &command, "/dev/null"], answer);
    let screen = String::from_utf8_lossy(&out.stdout).into_owned();
    (out.status.code().expect("exit code"), screen)
}

fn cli_program(program: &str, args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("run {program}: {e}"));
    child.stdin.take().unwrap().write_all(stdin).ok();
    child.wait_with_output().unwrap()
}

/// O139 with a real terminal: data on stdin, the confirmation answered on the controlling
/// terminal. `n` cancels (exit 0, namespace untouched); `y` clears and imports.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn force_confirmation_from_the_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let server = Launch::serve(dir.path(), &["--token", ADMIN])
        .start()
        .expect("server");
    let client = server.client(Some(ADMIN));
    seed(&client).await;
    let url = server.url();
    let data = dir.path().join("one.ndjson");
    std::fs::write(
        &data,
        concat!(
            r#"{"id":"0190f2c4-0000-4000-8000-000000000001","stream":"t-1","type":"T","#,
            r#""pos":0,"gpos":7,"data":{"v":1},"meta":null,"time":"2025-01-15T10:00:00.5Z"}"#,
            "\n"
        ),
    )
    .unwrap();

    let (code, screen) = import_force_from_terminal(&url, &data, b"n\n");
    assert_eq!(code, 0, "{screen}");
    assert!(
        screen.contains("Are you sure you want to continue? [y/N]: "),
        "{screen}"
    );
    assert!(screen.contains("Import cancelled."), "{screen}");
    assert_eq!(call(&client, json!(["stream.version", "a-1"])).await, "1");
    assert_eq!(
        call(&client, json!(["stream.version", "t-1"])).await,
        "null"
    );

    let (code, screen) = import_force_from_terminal(&url, &data, b"y\n");
    assert_eq!(code, 0, "{screen}");
    assert!(screen.contains("Imported: 1 events in "), "{screen}");
    let left: Value =
        serde_json::from_str(&call(&client, json!(["category.get", ""])).await).unwrap();
    let left = left.as_array().unwrap();
    assert_eq!(left.len(), 1, "{left:?}");
    assert_eq!(left[0][0], "0190f2c4-0000-4000-8000-000000000001");
    assert_eq!(left[0][4], 7);
}
