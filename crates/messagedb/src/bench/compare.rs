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
//! more than 5 %, so a CI job can guard a change, and also when a figure is on one side only: a
//! guard that skipped what it cannot compare would pass a change that stopped measuring something.
//!
//! The files are read into the same types the writers use ([`Run`], [`Allocations`],
//! [`ServerRun`]), and the figures are listed from those types, each with the direction that is
//! better.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use serde::de::DeserializeOwned;

use super::report::{format_number, median_of_sorted, read_runs, Latency, Run};
use crate::cli::normalise_flags;
use crate::profile::measure::{Allocations, ServerRun};

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
    /// Exit 1 when any figure regressed by more than this much (e.g. 5%), or is on one side only
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

/// Which side of the comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Which {
    Base,
    New,
}

impl Which {
    fn label(self) -> &'static str {
        match self {
            Which::Base => "base",
            Which::New => "new",
        }
    }
}

/// A figure that only one side has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Missing {
    pub name: String,
    /// The side that lacks it.
    pub missing_from: Which,
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
    let (rows, missing) = compare(&base, &new, args.noise);
    println!("base: {}\nnew:  {}\n", base.description, new.description);
    print!("{}", table(&rows));
    for m in &missing {
        println!(
            "{}: missing from {} ({}), not compared",
            m.name,
            m.missing_from.label(),
            match m.missing_from {
                Which::Base => args.base.display(),
                Which::New => args.new.display(),
            }
        );
    }
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
        if !missing.is_empty() {
            for m in &missing {
                eprintln!(
                    "figure {} is missing from {} ({}): cannot check it for a regression",
                    m.name,
                    m.missing_from.label(),
                    match m.missing_from {
                        Which::Base => args.base.display(),
                        Which::New => args.new.display(),
                    }
                );
            }
            return Ok(ExitCode::FAILURE);
        }
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
/// `server.json` (the last two when present).
pub fn load(path: &Path) -> anyhow::Result<Side> {
    fn read<R: DeserializeOwned>(file: &Path) -> anyhow::Result<Vec<R>> {
        let text = std::fs::read_to_string(file)
            .with_context(|| format!("cannot read {}", file.display()))?;
        read_runs(&text).with_context(|| format!("{} is not a report", file.display()))
    }
    let mut side = Side::default();
    let bench_file = if path.is_dir() {
        path.join("bench.json")
    } else {
        path.to_owned()
    };
    let runs: Vec<Run> = read(&bench_file)?;
    for run in &runs {
        add(&mut side, bench_figures(run));
    }
    if path.is_dir() {
        let allocations = path.join("allocations.json");
        if allocations.exists() {
            for run in read::<Allocations>(&allocations)? {
                add(&mut side, allocation_figures(&run));
            }
        }
        let server = path.join("server.json");
        if server.exists() {
            for run in read::<ServerRun>(&server)? {
                add(&mut side, server_figures(&run));
            }
        }
    }
    // `read_runs` never returns an empty list.
    let first = &runs[0];
    side.description = format!(
        "{} — {} on {} ({}), {} workers, {} run(s) × {}s, {}",
        path.display(),
        first.workload,
        first.server.backend,
        first.server.version,
        first.workers,
        runs.len(),
        first.duration_s,
        first.machine.cpu,
    );
    Ok(side)
}

/// A figure of one run: its name, value, and which way is better.
type Found = (String, f64, Better);

/// Adds one run's figures to `side`.
fn add(side: &mut Side, found: Vec<Found>) {
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

fn latency_figures(out: &mut Vec<Found>, prefix: &str, latency: &Latency) {
    let mut push = |name: &str, value: f64| {
        out.push((format!("{prefix}latency_ms.{name}"), value, Better::Lower));
    };
    push("p50", latency.p50);
    push("p90", latency.p90);
    push("p99", latency.p99);
    push("p999", latency.p999);
    push("max", latency.max);
    if let Some(mean) = latency.mean {
        push("mean", mean);
    }
}

/// A bench run's figures: throughput, errors and latency, overall and per method, CPU time per
/// operation, the server's threads, descriptors and memory, `many-namespaces`' first-request
/// latency and `batch`'s messages per second; lower is better for all but throughput (operations
/// and messages per second). Counts, configuration and the machine are not
/// figures.
fn bench_figures(run: &Run) -> Vec<Found> {
    let figures = &run.figures;
    let mut out = vec![
        (
            "ops_per_sec".to_owned(),
            figures.ops_per_sec,
            Better::Higher,
        ),
        ("errors".to_owned(), figures.errors.get(), Better::Lower),
    ];
    latency_figures(&mut out, "", &figures.latency_ms);
    for (op, f) in &figures.ops {
        out.push((
            format!("ops.{op}.ops_per_sec"),
            f.ops_per_sec,
            Better::Higher,
        ));
        out.push((format!("ops.{op}.errors"), f.errors.get(), Better::Lower));
        latency_figures(&mut out, &format!("ops.{op}."), &f.latency_ms);
    }
    if let Some(batch) = &run.batch {
        out.push((
            "batch.messages_per_sec".to_owned(),
            batch.messages_per_sec,
            Better::Higher,
        ));
    }
    if let Some(ns) = &run.namespaces {
        latency_figures(&mut out, "namespaces.first_request_", &ns.first_request_ms);
    }
    if let Some(res) = &run.server_resources {
        for (name, value) in [
            ("peak_threads", res.peak_threads),
            ("peak_fds", res.peak_fds),
            ("peak_rss_bytes", res.peak_rss_bytes),
            ("end_threads", res.end_threads),
            ("end_fds", res.end_fds),
            ("end_rss_bytes", res.end_rss_bytes),
        ] {
            if let Some(value) = value {
                out.push((
                    format!("server_resources.{name}"),
                    value.get(),
                    Better::Lower,
                ));
            }
        }
    }
    if let Some(cpu) = &run.cpu {
        for (name, value) in [
            ("server_us_per_op", cpu.server_us_per_op),
            ("load_generator_us_per_op", cpu.load_generator_us_per_op),
        ] {
            if let Some(value) = value {
                out.push((format!("cpu.{name}"), value, Better::Lower));
            }
        }
    }
    out
}

/// A profile run's allocations per operation (none when the server was not counting).
fn allocation_figures(run: &Allocations) -> Vec<Found> {
    let mut out = Vec::new();
    let mut per_op = |scope: String, allocations: f64, bytes: f64| {
        out.push((
            format!("allocations.{scope}.allocations_per_op"),
            allocations,
            Better::Lower,
        ));
        out.push((
            format!("allocations.{scope}.bytes_per_op"),
            bytes,
            Better::Lower,
        ));
    };
    if let Some(total) = &run.total {
        per_op(
            "total".to_owned(),
            total.allocations_per_op,
            total.bytes_per_op,
        );
    }
    for (method, m) in run.by_method.iter().flatten() {
        per_op(
            format!("by_method.{method}"),
            m.allocations_per_op,
            m.bytes_per_op,
        );
    }
    if let Some(outside) = &run.outside_requests {
        per_op(
            "outside_requests".to_owned(),
            outside.allocations_per_op,
            outside.bytes_per_op,
        );
    }
    if let Some(other) = &run.other_requests {
        per_op(
            "other_requests".to_owned(),
            other.allocations_per_op,
            other.bytes_per_op,
        );
    }
    out
}

/// A profile run's peak memory.
fn server_figures(run: &ServerRun) -> Vec<Found> {
    run.peak_rss_bytes
        .map(|peak| {
            (
                "server.peak_rss_bytes".to_owned(),
                peak.get(),
                Better::Lower,
            )
        })
        .into_iter()
        .collect()
}

/// Compares every figure present on both sides, and lists the ones that are on one side only.
pub fn compare(base: &Side, new: &Side, noise: f64) -> (Vec<Row>, Vec<Missing>) {
    let mut rows = Vec::new();
    let mut missing = Vec::new();
    for (name, b) in &base.figures {
        match new.figures.get(name) {
            Some(n) => rows.push(row(name, b, n, noise)),
            None => missing.push(Missing {
                name: name.clone(),
                missing_from: Which::New,
            }),
        }
    }
    for name in new.figures.keys() {
        if !base.figures.contains_key(name) {
            missing.push(Missing {
                name: name.clone(),
                missing_from: Which::Base,
            });
        }
    }
    (rows, missing)
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
        let run: Run = serde_json::from_value(serde_json::json!({
            "workload": "reference-mix", "url": "http://x", "workers": 10, "duration_s": 1.0,
            "warmup_s": 0.0, "total_ops": 100, "ops_per_sec": 100.0, "errors": 0,
            "errors_by_code": {"X": 1}, "conflicts": 0,
            "latency_ms": {"p50": 1.0, "p90": 1.0, "p99": 2.0, "p999": 2.0, "max": 3.0},
            "ops": {"stream.write": {"ops_per_sec": 90.0, "total_ops": 9, "errors": 0,
                    "latency_ms": {"p50": 1.0, "p90": 1.0, "p99": 2.0, "p999": 2.0, "max": 3.0}}},
            "cpu": {"server_us_per_op": 40.0, "server_cores": 1.0},
            "batch": {"batch_size": 10, "total_messages": 1000, "messages_per_sec": 1000.0},
            "namespaces": {"namespaces": 30, "visits": 90, "passes": 3.0, "first_requests": 90,
                "create_s": 0.5, "delete_s": 0.4,
                "first_request_ms": {"p50": 1.0, "p90": 1.0, "p99": 2.0, "p999": 2.0, "max": 3.0}},
            "server_resources": {"samples": 20, "peak_threads": 12, "peak_fds": 40,
                "peak_rss_bytes": 30000000, "end_threads": 11, "end_fds": 35},
            "server": {"version": "0.1.0", "backend": "sqlite"},
            "machine": {"cores": 2, "cpu": "test", "load_average_start": [], "load_average_end": []},
            "command": "messagedb bench"
        }))
        .unwrap();
        let names: BTreeMap<String, Better> = bench_figures(&run)
            .into_iter()
            .map(|(n, _, b)| (n, b))
            .collect();
        assert_eq!(names["ops_per_sec"], Better::Higher);
        assert_eq!(names["latency_ms.p99"], Better::Lower);
        assert_eq!(names["ops.stream.write.latency_ms.p50"], Better::Lower);
        assert_eq!(names["ops.stream.write.ops_per_sec"], Better::Higher);
        assert_eq!(names["cpu.server_us_per_op"], Better::Lower);
        assert_eq!(names["batch.messages_per_sec"], Better::Higher);
        assert!(!names.contains_key("batch.batch_size"));
        assert!(!names.contains_key("cpu.server_cores"));
        assert_eq!(
            names["namespaces.first_request_latency_ms.p99"],
            Better::Lower
        );
        for figure in [
            "peak_threads",
            "peak_fds",
            "peak_rss_bytes",
            "end_threads",
            "end_fds",
        ] {
            assert_eq!(names[&format!("server_resources.{figure}")], Better::Lower);
        }
        assert!(
            !names.contains_key("server_resources.end_rss_bytes"),
            "absent, not zero"
        );
        assert!(!names.contains_key("server_resources.samples"));
        assert!(!names.contains_key("latency_ms.mean"), "absent, not zero");
        assert!(!names
            .keys()
            .any(|n| n.contains("total_ops") || n.contains("workers")));
    }

    #[test]
    fn a_figure_on_one_side_only_is_reported_as_missing() {
        let side = |names: &[&str]| Side {
            figures: names
                .iter()
                .map(|n| ((*n).to_owned(), fig(Better::Lower, &[1.0])))
                .collect(),
            description: String::new(),
        };
        let (rows, missing) = compare(&side(&["a", "b"]), &side(&["b", "c"]), 0.05);
        assert_eq!(rows.len(), 1);
        assert_eq!(
            missing,
            [
                Missing {
                    name: "a".to_owned(),
                    missing_from: Which::New
                },
                Missing {
                    name: "c".to_owned(),
                    missing_from: Which::Base
                }
            ]
        );
    }

    #[test]
    fn percentages_parse() {
        assert_eq!(percent("5%"), Ok(0.05));
        assert_eq!(percent("12.5"), Ok(0.125));
        assert!(percent("x").is_err() && percent("-1%").is_err());
    }
}
