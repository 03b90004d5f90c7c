//! `messagedb bench` against a real server (issue 3): every workload runs for 2 s and yields a
//! valid JSON report with every required field, non-zero throughput and zero errors; `--runs`
//! reports each run plus the median and min–max of every figure. `many-namespaces` (issue 14)
//! runs against an on-disk server that keeps only 4 namespaces open, so most of its requests go
//! to a closed namespace, and reports the server's threads, descriptors and memory. `batch`
//! (issue 15) reports messages per second, and the server holds exactly the messages it counts.

use std::path::Path;

use serde_json::Value;

use crate::support::{Launch, Server, ADMIN};

/// A test-mode server (in memory, so a debug build still serves quickly) with the SPEC's admin
/// token.
fn server(dir: &Path) -> Server {
    Launch::serve(dir, &["--test-mode", "--token", ADMIN])
        .start()
        .unwrap_or_else(|e| panic!("server did not start: {}", e.stderr))
}

/// Runs `messagedb bench` against `server` with `extra` flags and returns the JSON report.
fn bench(server: &Server, dir: &Path, extra: &[&str]) -> Value {
    let output_file = dir.join("bench.json");
    let url = server.url();
    let mut args = vec![
        "bench",
        "--url",
        &url,
        "--token",
        ADMIN,
        "--workers",
        "3",
        "--warmup",
        "0s",
    ];
    let output_path = output_file.display().to_string();
    args.extend(["--output", &output_path]);
    args.extend(extra);
    let out = Launch::new(&args).output();
    assert!(
        out.status.success(),
        "bench {extra:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&output_file).expect("the report file exists");
    serde_json::from_str(&text).expect("the report is JSON")
}

/// The fields issue 3 requires of every report, with sane values.
fn assert_complete(report: &Value, workload: &str) {
    assert_eq!(report["workload"], workload);
    assert!(report["url"]
        .as_str()
        .unwrap()
        .starts_with("http://127.0.0.1:"));
    assert!(report["workers"].as_u64().unwrap() >= 3);
    assert_eq!(report["duration_s"], 2.0);
    assert!(report["total_ops"].as_u64().unwrap() > 0, "{report:#}");
    assert!(report["ops_per_sec"].as_f64().unwrap() > 0.0);
    assert_eq!(report["errors"], 0, "{:#}", report["errors_by_code"]);
    assert!(report["errors_by_code"].as_object().unwrap().is_empty());
    for p in ["p50", "p90", "p99", "p999", "max"] {
        assert!(
            report["latency_ms"][p].as_f64().unwrap() >= 0.0,
            "latency_ms.{p}"
        );
    }
    assert!(report["latency_ms"]["max"].as_f64().unwrap() > 0.0);
    let ops = report["ops"].as_object().unwrap();
    assert!(!ops.is_empty());
    for (op, figures) in ops {
        assert!(figures["total_ops"].as_u64().unwrap() > 0, "{op}");
        assert!(figures["latency_ms"]["p99"].is_number(), "{op}");
    }
    assert_eq!(report["server"]["backend"], "sqlite");
    assert!(report["server"]["version"].as_str().unwrap().contains('.'));
    assert!(report["machine"]["cores"].as_u64().unwrap() >= 1);
    assert!(report["machine"]["load_average_start"].is_array());
    assert!(report["machine"]["load_average_end"].is_array());
    let command = report["command"].as_str().unwrap();
    assert!(
        command.contains("bench") && command.contains("--workload"),
        "{command}"
    );
    assert!(!command.contains(ADMIN), "the token is redacted: {command}");
    assert_eq!(report["runs"].as_array().unwrap().len(), 1);
}

fn run_workload(workload: &str) -> Value {
    let dir = tempfile::tempdir().unwrap();
    let server = server(dir.path());
    let pid = server.pid().to_string();
    let report = bench(
        &server,
        dir.path(),
        &[
            "--workload",
            workload,
            "--duration",
            "2s",
            "--server-pid",
            &pid,
        ],
    );
    assert_complete(&report, workload);
    // `--server-pid`: both processes' CPU time per operation.
    for figure in ["server_us_per_op", "load_generator_us_per_op"] {
        let value = report["cpu"][figure].as_f64();
        assert!(
            value.is_some_and(|v| v > 0.0),
            "cpu.{figure}: {:#}",
            report["cpu"]
        );
    }
    assert_server_resources(&report);
    report
}

/// `--server-pid`: the server's peak and final threads, descriptors and RSS, all measured.
fn assert_server_resources(report: &Value) {
    let resources = &report["server_resources"];
    assert!(resources["samples"].as_u64().unwrap() >= 2, "{resources:#}");
    for figure in ["threads", "fds", "rss_bytes"] {
        let peak = resources[format!("peak_{figure}")].as_u64();
        let end = resources[format!("end_{figure}")].as_u64();
        assert!(
            peak.is_some_and(|p| p > 0) && end.is_some_and(|e| e > 0 && e <= peak.unwrap()),
            "{figure}: {resources:#}"
        );
    }
}

#[test]
fn reference_mix_writes_and_reads_every_tenth_iteration() {
    let report = run_workload("reference-mix");
    let writes = report["ops"]["stream.write"]["total_ops"].as_u64().unwrap();
    let reads = report["ops"]["stream.get"]["total_ops"].as_u64().unwrap();
    // One read per 10 iterations of each worker (the first iteration reads: c = worker × 10^6).
    assert!(
        reads * 10 >= writes && reads * 10 <= writes + 10 * 3 * 10,
        "{writes} writes, {reads} reads"
    );
}

#[test]
fn write_only_only_writes() {
    let report = run_workload("write-only");
    let ops: Vec<&String> = report["ops"].as_object().unwrap().keys().collect();
    assert_eq!(ops, ["stream.write"]);
}

#[test]
fn read_heavy_is_mostly_reads() {
    let report = run_workload("read-heavy");
    let count = |op: &str| report["ops"][op]["total_ops"].as_u64().unwrap_or(0);
    let reads = count("stream.get") + count("category.get");
    assert!(count("category.get") > 0 && count("stream.get") > 0);
    assert!(reads > 5 * count("stream.write"), "{:#}", report["ops"]);
}

#[test]
fn consumer_groups_read_while_writing() {
    let report = run_workload("consumer-groups");
    assert_eq!(report["workers"], 5, "4 group members plus a writer");
    assert!(report["ops"]["category.get"]["total_ops"].as_u64().unwrap() > 0);
    assert!(report["ops"]["stream.write"]["total_ops"].as_u64().unwrap() > 0);
}

#[test]
fn contention_counts_conflicts_apart_from_errors() {
    let report = run_workload("contention");
    assert_eq!(report["streams"], 4);
    // Three workers on four streams, all starting on the same one: conflicts happen, and none of
    // them is an error.
    assert!(report["conflicts"].as_u64().unwrap() > 0, "{report:#}");
    assert_eq!(report["errors"], 0);
}

#[test]
fn sse_fanout_measures_write_to_poke() {
    let report = run_workload("sse-fanout");
    let writes = report["ops"]["stream.write"]["total_ops"].as_u64().unwrap();
    let pokes = report["ops"]["sse.poke"]["total_ops"].as_u64().unwrap();
    assert!(pokes > 0 && writes > 0);
    // Three subscribers each get (nearly) every write's poke.
    assert!(pokes <= 3 * writes + 3, "{pokes} pokes for {writes} writes");
    assert!(
        report["ops"]["sse.write_to_poke"]["latency_ms"]["p50"]
            .as_f64()
            .unwrap()
            > 0.0
    );
}

#[test]
fn sse_fanout_paces_its_writer_at_the_rate() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(dir.path());
    let report = bench(
        &server,
        dir.path(),
        &[
            "--workload",
            "sse-fanout",
            "--duration",
            "2s",
            "--rate",
            "50",
        ],
    );
    assert_complete(&report, "sse-fanout");
    assert_eq!(report["rate"], 50);
    let writes = report["ops"]["stream.write"]["total_ops"].as_u64().unwrap();
    // Ticks come every 20 ms from an immediate first one, and the clock stops new writes at the
    // deadline: never more than rate × duration + 1, however fast the server is.
    assert!(writes <= 2 * 50 + 1, "{writes} writes at 50/s for 2 s");
    // A loose lower bound: a noisy machine may delay ticks, and the pacer catches up in bursts.
    let achieved = report["writes_per_sec"].as_f64().unwrap();
    assert!(
        (25.0..=55.0).contains(&achieved),
        "achieved {achieved} writes/s of 50"
    );
    assert_eq!(achieved, writes as f64 / 2.0);
}

#[test]
fn batch_reports_messages_per_second_and_stores_every_message() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(dir.path());
    let report = bench(
        &server,
        dir.path(),
        &[
            "--workload",
            "batch",
            "--batch-size",
            "7",
            "--duration",
            "2s",
        ],
    );
    assert_complete(&report, "batch");
    let ops: Vec<&String> = report["ops"].as_object().unwrap().keys().collect();
    assert_eq!(ops, ["stream.writeBatch"]);
    let calls = report["total_ops"].as_u64().unwrap();
    let batch = &report["batch"];
    assert_eq!(batch["batch_size"], 7, "{batch:#}");
    assert_eq!(batch["total_messages"].as_u64().unwrap(), 7 * calls);
    // Both rates are rounded to 3 decimals on their own.
    let ops_per_sec = report["ops_per_sec"].as_f64().unwrap();
    let messages_per_sec = batch["messages_per_sec"].as_f64().unwrap();
    assert!(
        (messages_per_sec - 7.0 * ops_per_sec).abs() <= 0.01,
        "{messages_per_sec} messages/s for {ops_per_sec} calls/s"
    );
    // Every call of the run was recorded (no warmup) and none failed, so the namespace holds
    // exactly the messages the report counts.
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let info = runtime
        .block_on(server.client(Some(ADMIN)).ns_info("default"))
        .expect("ns.info");
    assert_eq!(info.message_count, 7 * calls, "{report:#}");
}

#[test]
fn runs_report_every_run_and_the_spread() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(dir.path());
    let report = bench(
        &server,
        dir.path(),
        &[
            "--workload",
            "write-only",
            "--duration",
            "1s",
            "--runs",
            "3",
            "--streams",
            "5",
            "--payload-bytes",
            "300",
        ],
    );
    let runs = report["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 3);
    assert_eq!(report["run_count"], 3);
    let mut rates: Vec<f64> = runs
        .iter()
        .map(|r| r["ops_per_sec"].as_f64().unwrap())
        .collect();
    rates.sort_by(f64::total_cmp);
    let spread = &report["summary"]["ops_per_sec"];
    assert_eq!(spread["median"].as_f64().unwrap(), rates[1]);
    assert_eq!(spread["min"].as_f64().unwrap(), rates[0]);
    assert_eq!(spread["max"].as_f64().unwrap(), rates[2]);
    assert_eq!(report["ops_per_sec"].as_f64().unwrap(), rates[1]);
    assert!(report["summary"]["latency_ms"]["p99"]["max"].is_number());
    assert!(report["summary"]["ops"]["stream.write"]["latency_ms"]["p50"]["min"].is_number());
    assert_eq!(report["streams"], 5);
    assert_eq!(report["payload_bytes"], 300);
}

/// An on-disk server that keeps at most 4 namespaces open.
fn small_cache_server(dir: &Path) -> Server {
    Launch::serve(dir, &["--token", ADMIN, "--max-open-namespaces", "4"])
        .start()
        .unwrap_or_else(|e| panic!("server did not start: {}", e.stderr))
}

/// The namespaces the server has, by id (admin `ns.list`).
fn namespace_ids(server: &Server) -> Vec<String> {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let list = runtime
        .block_on(server.client(Some(ADMIN)).ns_list())
        .expect("ns.list");
    let mut ids: Vec<String> = list.into_iter().map(|n| n.namespace).collect();
    ids.sort();
    ids
}

#[test]
fn many_namespaces_visits_closed_namespaces_and_deletes_them() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = small_cache_server(&data);
    let pid = server.pid().to_string();
    let report = bench(
        &server,
        dir.path(),
        &[
            "--workload",
            "many-namespaces",
            "--namespaces",
            "30",
            "--duration",
            "2s",
            "--server-pid",
            &pid,
        ],
    );
    assert_complete(&report, "many-namespaces");
    assert_server_resources(&report);
    let ns = &report["namespaces"];
    assert_eq!(ns["namespaces"], 30, "{ns:#}");
    // Each visit is one write then one read of the same namespace, and its write is the first
    // request to that namespace in its pass. (Equal counts need `--warmup 0s`: with a warmup, a
    // visit whose write started before the window has its read recorded.)
    let writes = report["ops"]["stream.write"]["total_ops"].as_u64().unwrap();
    let reads = report["ops"]["stream.get"]["total_ops"].as_u64().unwrap();
    assert_eq!(writes, reads, "{:#}", report["ops"]);
    assert_eq!(ns["visits"].as_u64().unwrap(), writes);
    assert_eq!(ns["first_requests"].as_u64().unwrap(), writes);
    assert_eq!(
        ns["passes"].as_f64().unwrap(),
        (writes as f64 / 30.0 * 100.0).round() / 100.0
    );
    assert!(writes > 30, "at least one full pass in 2 s: {ns:#}");
    let first = &ns["first_request_ms"];
    assert!(first["p50"].as_f64().unwrap() > 0.0, "{first:#}");
    assert!(first["p99"].as_f64().unwrap() >= first["p50"].as_f64().unwrap());
    assert!(first["max"].as_f64().unwrap() >= first["p99"].as_f64().unwrap());
    assert!(ns["create_s"].as_f64().unwrap() > 0.0);
    assert!(ns["delete_s"].as_f64().unwrap() > 0.0);
    // 30 namespaces through 4 slots: the server never held all of them open (an open namespace
    // holds 5 descriptors).
    let peak_fds = report["server_resources"]["peak_fds"].as_u64().unwrap();
    assert!(peak_fds < 30 * 5, "peak fds {peak_fds}");
    // Cleaned up: only `default` is left.
    assert_eq!(namespace_ids(&server), ["default"]);
}

#[test]
fn many_namespaces_can_keep_its_namespaces() {
    let dir = tempfile::tempdir().unwrap();
    let server = small_cache_server(&dir.path().join("data"));
    let report = bench(
        &server,
        dir.path(),
        &[
            "--workload",
            "many-namespaces",
            "--namespaces",
            "5",
            "--duration",
            "1s",
            "--keep-namespaces",
        ],
    );
    assert_eq!(report["errors"], 0, "{:#}", report["errors_by_code"]);
    assert_eq!(report["namespaces"]["delete_s"], 0.0);
    assert!(report.get("server_resources").is_none(), "no --server-pid");
    let ids = namespace_ids(&server);
    assert_eq!(ids.len(), 6, "{ids:?}");
    assert!(ids
        .iter()
        .filter(|id| *id != "default")
        .all(|id| id.starts_with("bench-ns-")));
}

#[test]
fn many_namespaces_refuses_a_token_that_is_not_admin() {
    let dir = tempfile::tempdir().unwrap();
    let server = small_cache_server(&dir.path().join("data"));
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let tenant = runtime
        .block_on(server.client(Some(ADMIN)).ns_create(
            "tenant",
            &messagedb_client::CreateNamespaceOptions::default(),
        ))
        .expect("ns.create tenant");
    let url = server.url();
    for token in [Some(tenant.token.as_str()), None] {
        let mut args = vec![
            "bench",
            "--url",
            &url,
            "--workload",
            "many-namespaces",
            "--namespaces",
            "5",
            "--duration",
            "1s",
        ];
        if let Some(token) = token {
            args.extend(["--token", token]);
        }
        let out = Launch::new(&args).output();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("needs the admin token"), "{stderr}");
        if token.is_some() {
            // The server's refusal, before anything is created.
            assert_eq!(out.status.code(), Some(1), "{stderr}");
            assert!(stderr.contains("Admin token required"), "{stderr}");
        } else {
            // No token at all is a usage error.
            assert_eq!(out.status.code(), Some(2), "{stderr}");
        }
    }
    assert_eq!(namespace_ids(&server), ["default", "tenant"]);
}

#[test]
fn usage_errors_exit_2() {
    for args in [
        vec!["bench", "--workload", "nope"],
        vec!["bench", "--workers", "0"],
        vec!["bench", "--workload", "reference-mix", "--streams", "5"],
        vec!["bench", "--duration", "soon"],
        vec!["bench", "--workload", "write-only", "--rate", "100"],
        vec!["bench", "--workload", "sse-fanout", "--rate", "0"],
        vec!["bench", "--workload", "many-namespaces"],
        vec![
            "bench",
            "--workload",
            "many-namespaces",
            "--namespaces",
            "0",
        ],
        vec![
            "bench",
            "--workload",
            "many-namespaces",
            "--namespaces",
            "5",
            "--streams",
            "2",
        ],
        vec!["bench", "--workload", "write-only", "--namespaces", "5"],
        vec!["bench", "--keep-namespaces"],
        vec!["bench", "--workload", "write-only", "--batch-size", "10"],
        vec!["bench", "--batch-size", "10"],
        vec!["bench", "--workload", "batch", "--batch-size", "0"],
        vec!["bench", "--workload", "batch", "--batch-size", "1001"],
    ] {
        let out = Launch::new(&args).output();
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn an_unreachable_server_is_an_error() {
    // Port 9 (discard) on loopback has no listener here.
    let out = Launch::new(&["bench", "--url", "http://127.0.0.1:9", "--duration", "1s"]).output();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("cannot reach the server"), "{stderr}");
}
