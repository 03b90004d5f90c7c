//! `messagedb bench compare` (issue 3): an injected 30 % slowdown is a regression that fails
//! `--fail-on-regression 5%`; identical inputs are within noise and pass; a figure that only one
//! side has fails `--fail-on-regression` and names the figure and the side that lacks it.

use std::path::Path;

use serde_json::{json, Value};

use crate::support::Launch;

/// A report of three runs with realistic run-to-run jitter; `slowdown` scales every time by
/// `1 + slowdown` and every rate by `1 / (1 + slowdown)`.
fn report(slowdown: f64) -> Value {
    let runs: Vec<Value> = [1.0, 1.02, 0.985]
        .iter()
        .map(|jitter| {
            let rate = 1000.0 * jitter / (1.0 + slowdown);
            let ms = |x: f64| x / jitter * (1.0 + slowdown);
            json!({
                "workload": "reference-mix", "url": "http://127.0.0.1:8080", "workers": 10,
                "duration_s": 20.0, "warmup_s": 2.0, "total_ops": (rate * 20.0) as u64,
                "ops_per_sec": rate, "errors": 0, "errors_by_code": {}, "conflicts": 0,
                "latency_ms": {"p50": ms(0.4), "p90": ms(0.8), "p99": ms(2.0), "p999": ms(4.0), "max": ms(9.0)},
                "ops": {"stream.write": {"total_ops": (rate * 18.0) as u64, "ops_per_sec": rate * 0.9, "errors": 0,
                        "latency_ms": {"p50": ms(0.4), "p90": ms(0.8), "p99": ms(2.0), "p999": ms(4.0), "max": ms(9.0)}}},
                "server": {"version": "0.1.0", "backend": "sqlite"},
                "machine": {"cores": 2, "cpu": "test", "load_average_start": [0.1, 0.1, 0.1], "load_average_end": [2.0, 1.0, 0.5]},
                "command": "messagedb bench"
            })
        })
        .collect();
    json!({"workload": "reference-mix", "workers": 10, "duration_s": 20.0, "server": {"version": "0.1.0", "backend": "sqlite"}, "runs": runs})
}

fn write(path: &Path, value: &Value) {
    std::fs::write(path, serde_json::to_string_pretty(value).unwrap()).unwrap();
}

fn compare(base: &Path, new: &Path) -> (Option<i32>, String) {
    let out = Launch::new(&[
        "bench",
        "compare",
        &base.display().to_string(),
        &new.display().to_string(),
        "--fail-on-regression",
        "5%",
    ])
    .output();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

fn verdict_of<'a>(table: &'a str, figure: &str) -> &'a str {
    let line = table
        .lines()
        .find(|l| l.split_whitespace().next() == Some(figure))
        .unwrap_or_else(|| panic!("no row for {figure} in\n{table}"));
    if line.ends_with("REGRESSED") {
        "REGRESSED"
    } else if line.ends_with("improved") {
        "improved"
    } else if line.ends_with("within noise") {
        "within noise"
    } else {
        panic!("no verdict in {line}")
    }
}

#[test]
fn a_30_percent_slowdown_is_a_regression() {
    let dir = tempfile::tempdir().unwrap();
    let (base, slow) = (dir.path().join("base.json"), dir.path().join("slow.json"));
    write(&base, &report(0.0));
    write(&slow, &report(0.3));
    let (code, table) = compare(&base, &slow);
    assert_eq!(code, Some(1), "{table}");
    for figure in [
        "ops_per_sec",
        "latency_ms.p99",
        "latency_ms.p50",
        "ops.stream.write.ops_per_sec",
    ] {
        assert_eq!(verdict_of(&table, figure), "REGRESSED", "{table}");
    }
    assert_eq!(verdict_of(&table, "errors"), "within noise");
    // The other way round it is an improvement, and nothing fails.
    let (code, table) = compare(&slow, &base);
    assert_eq!(code, Some(0), "{table}");
    assert_eq!(verdict_of(&table, "ops_per_sec"), "improved");
}

#[test]
fn identical_inputs_are_within_noise() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("base.json");
    write(&base, &report(0.0));
    let (code, table) = compare(&base, &base);
    assert_eq!(code, Some(0), "{table}");
    let rows: Vec<&str> = table
        .lines()
        .filter(|l| l.contains('%') && !l.starts_with("figure"))
        .collect();
    assert!(rows.len() > 10, "{table}");
    assert!(rows.iter().all(|l| l.ends_with("within noise")), "{table}");
    assert!(table.contains("0 improved, 0 regressed"), "{table}");
}

#[test]
fn a_missing_input_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let (code, _) = compare(&dir.path().join("nope.json"), &dir.path().join("nope.json"));
    assert_eq!(code, Some(1));
}

/// `report(0.0)` whose runs also have the server's CPU time per operation (a bench run with
/// `--server-pid`).
fn report_with_server_cpu() -> Value {
    let mut report = report(0.0);
    for run in report["runs"].as_array_mut().unwrap() {
        run["cpu"] = json!({"server_us_per_op": 40.0, "server_cores": 1.0});
    }
    report
}

#[test]
fn a_figure_on_one_side_only_fails_the_regression_guard() {
    let dir = tempfile::tempdir().unwrap();
    let (with, without) = (
        dir.path().join("with.json"),
        dir.path().join("without.json"),
    );
    write(&with, &report_with_server_cpu());
    write(&without, &report(0.0));
    let run = |base: &Path, new: &Path, guard: bool| {
        let (base, new) = (base.display().to_string(), new.display().to_string());
        let mut args = vec!["bench", "compare", &base, &new];
        if guard {
            args.extend(["--fail-on-regression", "5%"]);
        }
        let out = Launch::new(&args).output();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, stdout, stderr) = run(&with, &without, true);
    assert_eq!(code, Some(1), "{stdout}\n{stderr}");
    assert!(
        stderr.contains("figure cpu.server_us_per_op is missing from new"),
        "{stderr}"
    );
    let (code, _, stderr) = run(&without, &with, true);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("figure cpu.server_us_per_op is missing from base"),
        "{stderr}"
    );
    // Without the guard the comparison still succeeds, and says what it could not compare.
    let (code, stdout, stderr) = run(&with, &without, false);
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("cpu.server_us_per_op: missing from new"),
        "{stdout}"
    );
    // With the figure on both sides, nothing is missing and the guard passes.
    let (code, stdout, stderr) = run(&with, &with, true);
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    assert_eq!(verdict_of(&stdout, "cpu.server_us_per_op"), "within noise");
}

#[test]
fn a_report_lacking_a_required_figure_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let (base, broken) = (dir.path().join("base.json"), dir.path().join("broken.json"));
    write(&base, &report(0.0));
    let mut report = report(0.0);
    report["runs"][1]
        .as_object_mut()
        .unwrap()
        .remove("ops_per_sec");
    write(&broken, &report);
    let out = Launch::new(&[
        "bench",
        "compare",
        &base.display().to_string(),
        &broken.display().to_string(),
    ])
    .output();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("broken.json") && stderr.contains("ops_per_sec"),
        "{stderr}"
    );
}
