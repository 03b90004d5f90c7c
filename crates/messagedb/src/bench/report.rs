//! The figures of a bench run as JSON, the summary of several runs, and the readable summary.
//!
//! One run is a JSON object ([`run_json`]). A report file holds the median of every figure at the
//! top level (so a reader that knows one run's shape can read any report), every run under
//! `runs`, and the median, min and max of every numeric figure under `summary`. The summary is
//! computed generically over the runs' JSON, so a figure added to [`run_json`] is summarised and
//! compared without further code.

use std::time::Duration;

use hdrhistogram::Histogram;
use serde_json::{json, Map, Value};

use super::recorder::{OpFigures, Recorder};

/// Latency percentiles in milliseconds, from a µs histogram.
pub fn latency_json(latency: &Histogram<u64>) -> Value {
    let ms = |micros: u64| round3(micros as f64 / 1000.0);
    if latency.is_empty() {
        return json!({"p50": 0.0, "p90": 0.0, "p99": 0.0, "p999": 0.0, "max": 0.0, "mean": 0.0});
    }
    json!({
        "p50": ms(latency.value_at_quantile(0.50)),
        "p90": ms(latency.value_at_quantile(0.90)),
        "p99": ms(latency.value_at_quantile(0.99)),
        "p999": ms(latency.value_at_quantile(0.999)),
        "max": ms(latency.max()),
        "mean": round3(latency.mean() / 1000.0),
    })
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

fn op_json(figures: &OpFigures, seconds: f64) -> Value {
    let total = figures.completed();
    json!({
        "total_ops": total,
        "ops_per_sec": round3(total as f64 / seconds),
        "errors": figures.errors,
        "conflicts": figures.conflicts,
        "latency_ms": latency_json(&figures.latency),
    })
}

/// The measured figures of one run: throughput, errors, latency, per-operation figures. The
/// caller adds the descriptive fields (workload, url, server, machine, command).
pub fn figures_json(recorder: &Recorder, window: Duration) -> Value {
    let seconds = window.as_secs_f64().max(1e-9);
    let overall = recorder.overall();
    let ops: Map<String, Value> = recorder
        .ops
        .iter()
        .map(|(op, figures)| ((*op).to_owned(), op_json(figures, seconds)))
        .collect();
    let errors_by_code: Map<String, Value> = recorder
        .errors_by_code
        .iter()
        .map(|(code, n)| (code.clone(), (*n).into()))
        .collect();
    json!({
        "total_ops": overall.completed(),
        "ops_per_sec": round3(overall.completed() as f64 / seconds),
        "errors": overall.errors,
        "errors_by_code": errors_by_code,
        "conflicts": overall.conflicts,
        "latency_ms": latency_json(&overall.latency),
        "ops": ops,
    })
}

/// A report of one or more runs: medians at the top level, plus `runs` and `summary`.
pub fn combine(runs: Vec<Value>) -> Value {
    let (medians, spread) = summarise(&runs, "");
    let mut report = match medians {
        Value::Object(map) => map,
        _ => Map::new(),
    };
    report.insert("run_count".to_owned(), runs.len().into());
    report.insert("runs".to_owned(), Value::Array(runs));
    report.insert("summary".to_owned(), spread.unwrap_or(Value::Null));
    Value::Object(report)
}

/// The runs inside a report (or a bare run, which is a report of itself).
pub fn runs_of(report: &Value) -> Vec<Value> {
    match report.get("runs") {
        Some(Value::Array(runs)) if !runs.is_empty() => runs.clone(),
        _ => vec![report.clone()],
    }
}

/// For values of the same shape: (the value with every number replaced by the median, the same
/// shape with every number replaced by `{median, min, max}`; `None` where there are no numbers).
/// Keys missing from some runs count as 0 inside `errors_by_code` (no error of that code) and are
/// skipped elsewhere.
pub fn summarise(values: &[Value], key: &str) -> (Value, Option<Value>) {
    let Some(first) = values.first() else {
        return (Value::Null, None);
    };
    if values.iter().all(Value::is_number) {
        let mut numbers: Vec<f64> = values.iter().filter_map(Value::as_f64).collect();
        numbers.sort_by(f64::total_cmp);
        let med = median_of_sorted(&numbers);
        let (min, max) = (numbers[0], numbers[numbers.len() - 1]);
        let med_value = if values.iter().all(|v| v.is_u64()) && med.fract() == 0.0 {
            Value::from(med as u64)
        } else {
            Value::from(med)
        };
        return (
            med_value,
            Some(json!({"median": med, "min": min, "max": max})),
        );
    }
    if values.iter().all(Value::is_object) {
        let mut keys: Vec<&String> = Vec::new();
        for value in values {
            for k in value.as_object().into_iter().flat_map(|m| m.keys()) {
                if !keys.contains(&k) {
                    keys.push(k);
                }
            }
        }
        let mut medians = Map::new();
        let mut spreads = Map::new();
        for k in keys {
            let children: Vec<Value> = values
                .iter()
                .filter_map(|v| match v.get(k) {
                    Some(child) => Some(child.clone()),
                    None if key == "errors_by_code" => Some(Value::from(0u64)),
                    None => None,
                })
                .collect();
            let (median, spread) = summarise(&children, k);
            medians.insert(k.clone(), median);
            if let Some(spread) = spread {
                spreads.insert(k.clone(), spread);
            }
        }
        let spreads =
            (!spreads.is_empty() || key == "errors_by_code").then_some(Value::Object(spreads));
        return (Value::Object(medians), spreads);
    }
    if values.iter().all(Value::is_array) {
        let len = first.as_array().map_or(0, Vec::len);
        if values
            .iter()
            .all(|v| v.as_array().map(Vec::len) == Some(len))
        {
            let mut medians = Vec::new();
            let mut spreads = Vec::new();
            for i in 0..len {
                let column: Vec<Value> = values.iter().map(|v| v[i].clone()).collect();
                let (median, spread) = summarise(&column, key);
                medians.push(median);
                spreads.push(spread.unwrap_or(Value::Null));
            }
            let any = spreads.iter().any(|s| !s.is_null());
            return (Value::Array(medians), any.then_some(Value::Array(spreads)));
        }
    }
    (first.clone(), None)
}

/// The median of sorted numbers (the mean of the middle two for an even count).
pub fn median_of_sorted(sorted: &[f64]) -> f64 {
    let n = sorted.len();
    if n == 0 {
        return 0.0;
    }
    if n % 2 == 1 {
        sorted[n / 2]
    } else {
        (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
    }
}

/// A figure for the readable summary: the median, plus `[min–max]` when runs differ.
fn figure(report: &Value, path: &[&str], decimals: usize) -> String {
    let mut value = report;
    let mut spread = report.get("summary");
    for key in path {
        value = &value[*key];
        spread = spread.and_then(|s| s.get(*key));
    }
    let shown = format_number(value.as_f64().unwrap_or(0.0), decimals);
    match (spread, report.get("run_count").and_then(Value::as_u64)) {
        (Some(s), Some(n)) if n > 1 => {
            let min = s["min"].as_f64().unwrap_or(0.0);
            let max = s["max"].as_f64().unwrap_or(0.0);
            format!(
                "{shown} [{}–{}]",
                format_number(min, decimals),
                format_number(max, decimals)
            )
        }
        _ => shown,
    }
}

/// `12345.678` with `decimals` → `12,345.7` (thousands separators for readability).
pub fn format_number(x: f64, decimals: usize) -> String {
    let text = format!("{:.*}", decimals, x.abs());
    let (int, frac) = text
        .split_once('.')
        .map_or((text.as_str(), ""), |(i, f)| (i, f));
    let mut grouped = String::new();
    for (i, ch) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(ch);
    }
    let sign = if x < 0.0 && text.chars().any(|c| c != '0' && c != '.') {
        "-"
    } else {
        ""
    };
    if frac.is_empty() {
        format!("{sign}{grouped}")
    } else {
        format!("{sign}{grouped}.{frac}")
    }
}

/// The readable summary of a report (throughput, latency percentiles, errors, per operation).
pub fn summary_text(report: &Value) -> String {
    let runs = report["run_count"].as_u64().unwrap_or(1);
    let mut out = format!(
        "{} against {}: {} workers, {}s measured after {}s warmup, {} run{}\n",
        report["workload"].as_str().unwrap_or("?"),
        report["url"].as_str().unwrap_or("?"),
        report["workers"],
        report["duration_s"],
        report["warmup_s"],
        runs,
        if runs == 1 {
            ""
        } else {
            "s (median [min–max])"
        },
    );
    out.push_str(&format!(
        "server: messagedb {} ({}); machine: {} cores\n",
        report["server"]["version"].as_str().unwrap_or("?"),
        report["server"]["backend"].as_str().unwrap_or("?"),
        report["machine"]["cores"],
    ));
    out.push_str(&format!(
        "throughput: {} ops/s   errors: {}   conflicts: {}\n",
        figure(report, &["ops_per_sec"], 0),
        figure(report, &["errors"], 0),
        figure(report, &["conflicts"], 0),
    ));
    out.push_str(&format!(
        "latency ms: p50 {}  p90 {}  p99 {}  p99.9 {}  max {}\n",
        figure(report, &["latency_ms", "p50"], 3),
        figure(report, &["latency_ms", "p90"], 3),
        figure(report, &["latency_ms", "p99"], 3),
        figure(report, &["latency_ms", "p999"], 3),
        figure(report, &["latency_ms", "max"], 3),
    ));
    if let Some(Value::Object(cpu)) = report.get("cpu") {
        let mut parts = Vec::new();
        for (name, label) in [("server", "server"), ("load_generator", "load generator")] {
            if cpu.contains_key(&format!("{name}_us_per_op")) {
                parts.push(format!(
                    "{label} {} µs ({} cores)",
                    figure(report, &["cpu", &format!("{name}_us_per_op")], 1),
                    figure(report, &["cpu", &format!("{name}_cores")], 2),
                ));
            }
        }
        if !parts.is_empty() {
            out.push_str(&format!("cpu per op: {}\n", parts.join(", ")));
        }
    }
    if let Some(Value::Object(codes)) = report.get("errors_by_code") {
        for (code, n) in codes {
            out.push_str(&format!("  error {code}: {n}\n"));
        }
    }
    if let Some(Value::Object(ops)) = report.get("ops") {
        for op in ops.keys() {
            out.push_str(&format!(
                "  {op}: {} ops/s, p50 {} ms, p99 {} ms, errors {}\n",
                figure(report, &["ops", op, "ops_per_sec"], 0),
                figure(report, &["ops", op, "latency_ms", "p50"], 3),
                figure(report, &["ops", op, "latency_ms", "p99"], 3),
                figure(report, &["ops", op, "errors"], 0),
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::recorder::{Outcome, Progress};
    use std::sync::Arc;

    #[test]
    fn figures_have_every_required_field() {
        let mut rec = Recorder::new(Arc::new(Progress::default()));
        for i in 0..1000 {
            rec.record("stream.write", Duration::from_micros(100 + i), Outcome::Ok);
        }
        rec.record("stream.get", Duration::from_micros(700), Outcome::Ok);
        rec.record(
            "stream.get",
            Duration::ZERO,
            Outcome::Error("TRANSPORT".into()),
        );
        let v = figures_json(&rec, Duration::from_secs(2));
        assert_eq!(v["total_ops"], 1001);
        assert_eq!(v["ops_per_sec"], 500.5);
        assert_eq!(v["errors"], 1);
        assert_eq!(v["errors_by_code"]["TRANSPORT"], 1);
        for p in ["p50", "p90", "p99", "p999", "max"] {
            assert!(v["latency_ms"][p].as_f64().unwrap() > 0.0, "{p}");
        }
        assert_eq!(v["ops"]["stream.write"]["total_ops"], 1000);
        assert_eq!(v["ops"]["stream.get"]["errors"], 1);
        assert_eq!(v["ops"]["stream.get"]["latency_ms"]["max"], 0.7);
    }

    #[test]
    fn summaries_take_median_min_and_max_of_every_number() {
        let runs = vec![
            json!({"workload": "w", "ops_per_sec": 100.0, "errors": 0, "errors_by_code": {}, "latency_ms": {"p99": 3.0}, "machine": {"load_average_start": [1.0, 2.0, 3.0]}}),
            json!({"workload": "w", "ops_per_sec": 120.0, "errors": 2, "errors_by_code": {"X": 2}, "latency_ms": {"p99": 1.0}, "machine": {"load_average_start": [1.0, 2.0, 3.0]}}),
            json!({"workload": "w", "ops_per_sec": 110.0, "errors": 0, "errors_by_code": {}, "latency_ms": {"p99": 2.0}, "machine": {"load_average_start": [1.0, 2.0, 3.0]}}),
        ];
        let report = combine(runs);
        assert_eq!(report["workload"], "w");
        assert_eq!(report["ops_per_sec"], 110.0);
        assert_eq!(report["errors"], 0);
        assert_eq!(report["latency_ms"]["p99"], 2.0);
        assert_eq!(report["run_count"], 3);
        assert_eq!(report["runs"].as_array().unwrap().len(), 3);
        assert_eq!(
            report["summary"]["ops_per_sec"],
            json!({"median": 110.0, "min": 100.0, "max": 120.0})
        );
        assert_eq!(
            report["summary"]["errors_by_code"]["X"],
            json!({"median": 0.0, "min": 0.0, "max": 2.0})
        );
        assert_eq!(report["summary"]["latency_ms"]["p99"]["min"], 1.0);
        assert_eq!(runs_of(&report).len(), 3);
        assert_eq!(runs_of(&report["runs"][0]).len(), 1);
        let text = summary_text(&report);
        assert!(text.contains("110 [100–120] ops/s"), "{text}");
    }

    #[test]
    fn medians_and_numbers() {
        assert_eq!(median_of_sorted(&[1.0, 2.0, 10.0]), 2.0);
        assert_eq!(median_of_sorted(&[1.0, 2.0, 4.0, 10.0]), 3.0);
        assert_eq!(format_number(1234567.891, 1), "1,234,567.9");
        assert_eq!(format_number(-0.5, 3), "-0.500");
        assert_eq!(format_number(999.0, 0), "999");
    }
}
