//! `messagedb bench compare BASE NEW`: every figure side by side, with a verdict that respects the
//! run-to-run noise.
//!
//! BASE and NEW are bench JSON files or profile bundles (directories with `bench.json`, and
//! `allocations.json` / `server.json` when present), each with one or more runs. A figure is
//! *improved* or *regressed* only when the change stands out from the noise:
//!
//! * with at least [`MIN_RUNS_FOR_SPREAD`] runs on both sides, when the two min–max ranges do not
//!   overlap;
//! * with fewer runs (no spread to judge by), when the medians differ by more than `--noise`
//!   (default 5 %) and more than either side's own relative spread.
//!
//! Anything else is *within noise*. `--fail-on-regression 5%` exits 1 when a figure regressed by
//! more than 5 %, so a CI job can guard a change.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use serde_json::Value;

use super::report::{format_number, median_of_sorted, runs_of};
use crate::cli::normalise_flags;

/// Runs needed on both sides before the min–max ranges are trusted as the noise.
pub const MIN_RUNS_FOR_SPREAD: usize = 3;

/// `messagedb bench compare` flags.
#[derive(Debug, Parser)]
#[command(
    name = "messagedb bench compare",
    about = "Compare two bench results (JSON files or profile bundles) figure by figure"
)]
struct CompareArgs {
    /// The baseline: a bench JSON file or a profile bundle directory
    base: PathBuf,
    /// The candidate, in the same form
    new: PathBuf,
    /// Exit 1 when any figure regressed by more than this much (e.g. 5%)
    #[arg(long, value_name = "PERCENT", value_parser = percent)]
    fail_on_regression: Option<f64>,
    /// With fewer than 3 runs a side, smaller changes than this count as noise
    #[arg(long, value_name = "PERCENT", value_parser = percent, default_value = "5%")]
    noise: f64,
}

fn percent(text: &str) -> Result<f64, String> {
    let number = text.trim().trim_end_matches('%');
    match number.parse::<f64>() {
        Ok(x) if x >= 0.0 && x.is_finite() => Ok(x / 100.0),
        _ => Err("expected a percentage such as 5%".to_owned()),
    }
}

/// Whether a bigger value of a figure is better.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Better {
    Higher,
    Lower,
}

/// A figure's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Improved,
    Regressed,
    WithinNoise,
}

impl Verdict {
    fn label(self) -> &'static str {
        match self {
            Verdict::Improved => "improved",
            Verdict::Regressed => "REGRESSED",
            Verdict::WithinNoise => "within noise",
        }
    }
}

/// One figure's values, one per run.
#[derive(Debug, Clone, PartialEq)]
pub struct Figure {
    pub better: Better,
    pub values: Vec<f64>,
}

/// The figures of one side, by name, plus what describes the measurement.
#[derive(Debug, Clone, Default)]
pub struct Side {
    pub figures: BTreeMap<String, Figure>,
    pub description: String,
}

/// One compared figure.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub name: String,
    pub base: Vec<f64>,
    pub new: Vec<f64>,
    pub change: f64,
    /// Relative change of the medians (`inf` when the base is 0 and the new value is not).
    pub relative: f64,
    pub verdict: Verdict,
    pub better: Better,
}

impl Row {
    /// How much worse the figure got, as a fraction (0 when it did not get worse).
    pub fn worsening(&self) -> f64 {
        match self.better {
            Better::Higher => (-self.relative).max(0.0),
            Better::Lower => self.relative.max(0.0),
        }
    }
}

/// Runs `messagedb bench compare` with the words after `compare`.
pub fn run(args: Vec<OsString>) -> anyhow::Result<ExitCode> {
    let args = normalise_flags(args, |name| matches!(name, "fail-on-regression" | "noise"));
    let argv = std::iter::once(OsString::from("messagedb bench compare")).chain(args);
    let args = match CompareArgs::try_parse_from(argv) {
        Ok(args) => args,
        Err(err) => {
            let _ = err.print();
            return Ok(ExitCode::from(err.exit_code().clamp(0, 255) as u8));
        }
    };
    let base = load(&args.base)?;
    let new = load(&args.new)?;
    let rows = compare(&base, &new, args.noise);
    println!("base: {}\nnew:  {}\n", base.description, new.description);
    print!("{}", table(&rows));
    let regressed: Vec<&Row> = rows
        .iter()
        .filter(|r| r.verdict == Verdict::Regressed)
        .collect();
    let improved = rows
        .iter()
        .filter(|r| r.verdict == Verdict::Improved)
        .count();
    println!(
        "\n{} figures: {improved} improved, {} regressed, {} within noise",
        rows.len(),
        regressed.len(),
        rows.len() - improved - regressed.len()
    );
    if let Some(limit) = args.fail_on_regression {
        let beyond: Vec<&&Row> = regressed.iter().filter(|r| r.worsening() > limit).collect();
        if !beyond.is_empty() {
            let names: Vec<&str> = beyond.iter().map(|r| r.name.as_str()).collect();
            eprintln!(
                "regression beyond {}%: {}",
                format_number(limit * 100.0, 1),
                names.join(", ")
            );
            return Ok(ExitCode::FAILURE);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Reads a bench JSON file, or a bundle directory's `bench.json`, `allocations.json` and
/// `server.json`.
pub fn load(path: &Path) -> anyhow::Result<Side> {
    let read = |file: &Path| -> anyhow::Result<Value> {
        let text = std::fs::read_to_string(file)
            .with_context(|| format!("cannot read {}", file.display()))?;
        serde_json::from_str(&text).with_context(|| format!("{} is not JSON", file.display()))
    };
    let mut side = Side::default();
    let bench = if path.is_dir() {
        let bench = read(&path.join("bench.json"))?;
        for (file, prefix) in [
            ("allocations.json", "allocations"),
            ("server.json", "server"),
        ] {
            let file = path.join(file);
            if file.exists() {
                add_runs(&mut side, prefix, &read(&file)?);
            }
        }
        bench
    } else {
        read(path)?
    };
    add_runs(&mut side, "", &bench);
    side.description = format!(
        "{} — {} on {} ({}), {} workers, {} run(s) × {}s, {}",
        path.display(),
        bench["workload"].as_str().unwrap_or("?"),
        bench["server"]["backend"].as_str().unwrap_or("?"),
        bench["server"]["version"].as_str().unwrap_or("?"),
        bench["workers"],
        runs_of(&bench).len(),
        bench["duration_s"],
        bench["machine"]["cpu"]
            .as_str()
            .unwrap_or("unknown machine"),
    );
    Ok(side)
}

/// Adds the figures of every run in `report` under `prefix`.
fn add_runs(side: &mut Side, prefix: &str, report: &Value) {
    for run in runs_of(report) {
        let mut found = Vec::new();
        collect(&run, prefix, &mut found);
        for (name, value, better) in found {
            side.figures
                .entry(name)
                .or_insert_with(|| Figure {
                    better,
                    values: Vec::new(),
                })
                .values
                .push(value);
        }
    }
}

/// The figures a run holds: throughput and counts, latencies, allocations, memory.
fn collect(value: &Value, path: &str, out: &mut Vec<(String, f64, Better)>) {
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                // Descriptions, configuration and the machine are not figures.
                if matches!(
                    key.as_str(),
                    "machine" | "runs" | "summary" | "configuration" | "errors_by_code"
                ) || matches!(
                    key.as_str(),
                    "workers"
                        | "duration_s"
                        | "warmup_s"
                        | "streams"
                        | "payload_bytes"
                        | "categories"
                        | "run_count"
                        | "window_s"
                ) {
                    continue;
                }
                let child_path = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                collect(child, &child_path, out);
            }
        }
        Value::Number(n) => {
            if let (Some(x), Some(better)) = (n.as_f64(), direction(path)) {
                out.push((path.to_owned(), x, better));
            }
        }
        _ => {}
    }
}

/// Which way is better for a figure path; `None` for numbers that are not compared.
fn direction(path: &str) -> Option<Better> {
    let last = path.rsplit('.').next().unwrap_or(path);
    if path.contains("latency_ms.")
        || (path.starts_with("allocations.") || path.starts_with("cpu."))
            && last.ends_with("_per_op")
    {
        return Some(Better::Lower);
    }
    match last {
        "ops_per_sec" => Some(Better::Higher),
        "errors" | "peak_rss_bytes" => Some(Better::Lower),
        _ => None,
    }
}

/// Compares every figure present on both sides.
pub fn compare(base: &Side, new: &Side, noise: f64) -> Vec<Row> {
    base.figures
        .iter()
        .filter_map(|(name, b)| {
            let n = new.figures.get(name)?;
            Some(row(name, b, n, noise))
        })
        .collect()
}

fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    median_of_sorted(&sorted)
}

fn min_max(values: &[f64]) -> (f64, f64) {
    values
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), x| {
            (lo.min(*x), hi.max(*x))
        })
}

fn row(name: &str, base: &Figure, new: &Figure, noise: f64) -> Row {
    let (mb, mn) = (median(&base.values), median(&new.values));
    let relative = if mb == 0.0 {
        if mn == 0.0 {
            0.0
        } else {
            f64::INFINITY * mn.signum()
        }
    } else {
        (mn - mb) / mb.abs()
    };
    let better_is_up = base.better == Better::Higher;
    let direction_verdict = |up: bool| {
        if up == better_is_up {
            Verdict::Improved
        } else {
            Verdict::Regressed
        }
    };
    let (base_lo, base_hi) = min_max(&base.values);
    let (new_lo, new_hi) = min_max(&new.values);
    let verdict = if base.values.len() >= MIN_RUNS_FOR_SPREAD
        && new.values.len() >= MIN_RUNS_FOR_SPREAD
    {
        if new_lo > base_hi {
            direction_verdict(true)
        } else if new_hi < base_lo {
            direction_verdict(false)
        } else {
            Verdict::WithinNoise
        }
    } else {
        let spread = |lo: f64, hi: f64, m: f64| if m == 0.0 { 0.0 } else { (hi - lo) / m.abs() };
        let threshold = noise
            .max(spread(base_lo, base_hi, mb))
            .max(spread(new_lo, new_hi, mn));
        if relative.abs() > threshold {
            direction_verdict(relative > 0.0)
        } else {
            Verdict::WithinNoise
        }
    };
    Row {
        name: name.to_owned(),
        base: base.values.clone(),
        new: new.values.clone(),
        change: mn - mb,
        relative,
        verdict,
        better: base.better,
    }
}

fn shown(values: &[f64]) -> String {
    let decimals = |x: f64| if x.abs() >= 100.0 { 0 } else { 3 };
    let m = median(values);
    if values.len() > 1 {
        let (lo, hi) = min_max(values);
        format!(
            "{} [{}–{}]",
            format_number(m, decimals(m)),
            format_number(lo, decimals(m)),
            format_number(hi, decimals(m))
        )
    } else {
        format_number(m, decimals(m))
    }
}

/// The side-by-side table.
pub fn table(rows: &[Row]) -> String {
    let mut lines = vec![[
        "figure".to_owned(),
        "base".to_owned(),
        "new".to_owned(),
        "change".to_owned(),
        "change %".to_owned(),
        "verdict".to_owned(),
    ]];
    for r in rows {
        let decimals = if r.change.abs() >= 100.0 { 0 } else { 3 };
        let sign = if r.change > 0.0 { "+" } else { "" };
        let relative = if r.relative.is_finite() {
            format!("{sign}{}%", format_number(r.relative * 100.0, 1))
        } else {
            "new".to_owned()
        };
        lines.push([
            r.name.clone(),
            shown(&r.base),
            shown(&r.new),
            format!("{sign}{}", format_number(r.change, decimals)),
            relative,
            r.verdict.label().to_owned(),
        ]);
    }
    let widths: Vec<usize> = (0..6)
        .map(|i| {
            lines
                .iter()
                .map(|l| l[i].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for line in &lines {
        let cells: Vec<String> = line
            .iter()
            .enumerate()
            .map(|(i, cell)| format!("{cell:<width$}", width = widths[i]))
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fig(better: Better, values: &[f64]) -> Figure {
        Figure {
            better,
            values: values.to_vec(),
        }
    }

    #[test]
    fn non_overlapping_ranges_decide_with_three_runs() {
        let base = fig(Better::Higher, &[1000.0, 1050.0, 980.0]);
        let slower = fig(Better::Higher, &[700.0, 735.0, 686.0]);
        let r = row("ops_per_sec", &base, &slower, 0.05);
        assert_eq!(r.verdict, Verdict::Regressed);
        assert!((r.worsening() - 0.3).abs() < 1e-9, "{}", r.worsening());
        let r = row("ops_per_sec", &slower, &base, 0.05);
        assert_eq!(r.verdict, Verdict::Improved);
        assert_eq!(r.worsening(), 0.0);
        let overlapping = fig(Better::Higher, &[990.0, 1100.0, 1020.0]);
        assert_eq!(
            row("x", &base, &overlapping, 0.05).verdict,
            Verdict::WithinNoise
        );
        assert_eq!(row("x", &base, &base, 0.05).verdict, Verdict::WithinNoise);
    }

    #[test]
    fn lower_is_better_for_latency() {
        let base = fig(Better::Lower, &[1.0, 1.1, 0.9]);
        let worse = fig(Better::Lower, &[1.3, 1.4, 1.35]);
        assert_eq!(
            row("latency_ms.p99", &base, &worse, 0.05).verdict,
            Verdict::Regressed
        );
        assert_eq!(
            row("latency_ms.p99", &worse, &base, 0.05).verdict,
            Verdict::Improved
        );
    }

    #[test]
    fn single_runs_use_the_noise_floor() {
        let base = fig(Better::Higher, &[1000.0]);
        assert_eq!(
            row("x", &base, &fig(Better::Higher, &[1030.0]), 0.05).verdict,
            Verdict::WithinNoise
        );
        assert_eq!(
            row("x", &base, &fig(Better::Higher, &[700.0]), 0.05).verdict,
            Verdict::Regressed
        );
        let zero = fig(Better::Lower, &[0.0]);
        assert_eq!(
            row("errors", &zero, &zero, 0.05).verdict,
            Verdict::WithinNoise
        );
        let r = row("errors", &zero, &fig(Better::Lower, &[4.0]), 0.05);
        assert_eq!(r.verdict, Verdict::Regressed);
        assert!(r.worsening().is_infinite());
    }

    #[test]
    fn figures_are_found_with_their_direction() {
        let run = serde_json::json!({
            "workload": "reference-mix", "workers": 10, "ops_per_sec": 100.0, "errors": 0,
            "errors_by_code": {"X": 1}, "latency_ms": {"p99": 2.0},
            "ops": {"stream.write": {"ops_per_sec": 90.0, "total_ops": 9, "latency_ms": {"p50": 1.0}}},
            "machine": {"cores": 2}
        });
        let mut found = Vec::new();
        collect(&run, "", &mut found);
        let names: BTreeMap<String, Better> = found.into_iter().map(|(n, _, b)| (n, b)).collect();
        assert_eq!(names["ops_per_sec"], Better::Higher);
        assert_eq!(names["latency_ms.p99"], Better::Lower);
        assert_eq!(names["ops.stream.write.latency_ms.p50"], Better::Lower);
        assert_eq!(names["ops.stream.write.ops_per_sec"], Better::Higher);
        assert!(!names.contains_key("workers") && !names.contains_key("machine.cores"));
        assert_eq!(
            direction("allocations.by_method.stream.write.allocations_per_op"),
            Some(Better::Lower)
        );
        assert_eq!(direction("server.peak_rss_bytes"), Some(Better::Lower));
        assert_eq!(direction("allocations.total.allocations"), None);
        assert_eq!(direction("cpu.server_us_per_op"), Some(Better::Lower));
        assert_eq!(direction("cpu.server_cores"), None);
    }

    #[test]
    fn percentages_parse() {
        assert_eq!(percent("5%"), Ok(0.05));
        assert_eq!(percent("12.5"), Ok(0.125));
        assert!(percent("x").is_err() && percent("-1%").is_err());
    }
}
