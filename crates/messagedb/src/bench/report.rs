//! The shape of a bench report, shared by the writer (`messagedb bench`, `messagedb profile`) and
//! the readers (`bench compare`, the bundle's README), the summary of several runs, and the
//! readable summary.
//!
//! One run is a [`Run`]. A report file is a [`Report`]: the median of every figure at the top level
//! (so a reader that knows one run's shape can read any report), every run under `runs`, and the
//! median, min and max of every numeric figure under `summary`. The medians and the summary are
//! computed generically over the runs' JSON ([`summarise`]), so a figure added to [`Run`] is
//! summarised without further code; readers read the typed runs back ([`read_runs`]). Fields that
//! reports written by older builds may lack are `Option`s, and each reader says what it does
//! without them.

use std::collections::BTreeMap;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{json, Map, Value};

use super::recorder::{OpFigures, Recorder};

/// A count (operations, errors, bytes). Counts are whole in a run, but the median of an even number
/// of runs can fall between two, so it is kept as a float and written as an integer when whole,
/// which is how a count has always been written.
#[derive(Debug, Clone, Copy, Default, PartialEq, PartialOrd)]
pub struct Count(pub f64);

impl Count {
    pub fn get(self) -> f64 {
        self.0
    }
}

impl From<u64> for Count {
    fn from(n: u64) -> Count {
        Count(n as f64)
    }
}

impl Serialize for Count {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        // Below 2^53 every whole f64 is exactly a u64.
        if self.0.fract() == 0.0 && (0.0..9_007_199_254_740_992.0).contains(&self.0) {
            serializer.serialize_u64(self.0 as u64)
        } else {
            serializer.serialize_f64(self.0)
        }
    }
}

impl<'de> Deserialize<'de> for Count {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Count, D::Error> {
        f64::deserialize(deserializer).map(Count)
    }
}

/// Latency percentiles in milliseconds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Latency {
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
    /// Always written; `None` only in hand-made reports without it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mean: Option<f64>,
}

/// The figures of one RPC method (or of every operation, see [`Figures`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OpReport {
    pub total_ops: Count,
    pub ops_per_sec: f64,
    pub errors: Count,
    /// Always written; `None` only in hand-made reports without it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub conflicts: Option<Count>,
    pub latency_ms: Latency,
}

/// The measured figures of one run: throughput, errors, latency, per-operation figures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Figures {
    pub total_ops: Count,
    pub ops_per_sec: f64,
    pub errors: Count,
    /// Errors by code; `STREAM_VERSION_CONFLICT` is a conflict, not an error.
    pub errors_by_code: BTreeMap<String, Count>,
    pub conflicts: Count,
    pub latency_ms: Latency,
    /// The same figures per RPC method (`sse.poke` and the like for the SSE workload).
    pub ops: BTreeMap<String, OpReport>,
}

/// CPU time over the measurement window, per operation and in cores; each figure only where it
/// could be measured (the server's needs `--server-pid`, both need Linux's `/proc`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CpuFigures {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_us_per_op: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_cores: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub load_generator_us_per_op: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub load_generator_cores: Option<f64>,
}

/// The server's threads, open file descriptors and resident memory over a run (with
/// `--server-pid`, on Linux; see [`super::resources`]): the peaks from the start of the run's
/// preparation to the end of the measurement window, and the values at that end. A figure `/proc`
/// did not give is absent.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ServerResources {
    /// How many times `/proc` was read (about every 100 ms).
    pub samples: Count,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub peak_threads: Option<Count>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub peak_fds: Option<Count>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub peak_rss_bytes: Option<Count>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_threads: Option<Count>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_fds: Option<Count>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_rss_bytes: Option<Count>,
}

/// `many-namespaces`: what the run did to its namespaces, and the latency of the first request
/// to each namespace in a pass (see [`super::namespaces`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NamespaceFigures {
    /// The namespaces the run created (`--namespaces`).
    pub namespaces: Count,
    /// Visits (a write then a read of one namespace) that started in the measurement window.
    pub visits: Count,
    /// Visits in the window ÷ namespaces: how many times the window went round all of them.
    pub passes: f64,
    /// The first request of each visit, i.e. to a namespace since the previous pass: with many
    /// more namespaces than the server keeps open, a request to a closed namespace. Successful
    /// ones only (a failed one is counted as an error of its method).
    pub first_request_ms: Latency,
    /// How many first requests `first_request_ms` holds.
    pub first_requests: Count,
    /// Seconds spent creating the namespaces before the run (not measured as load).
    pub create_s: f64,
    /// Seconds spent deleting them after it (0 with `--keep-namespaces`).
    pub delete_s: f64,
}

/// `--delete-stream`: what the deletion call did and what the writers saw while it ran.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeletionFigures {
    /// The stream deleted.
    pub stream: String,
    /// Messages the call removed.
    pub deleted: Count,
    /// The call's wall time.
    pub seconds: f64,
    /// Answered writes whose span overlapped the call.
    pub writes_during: Count,
    /// Their latency: the stall a deletion puts on other streams' writers.
    pub write_latency_during_ms: Latency,
}

/// `batch`: how many messages the calls carried (see [`super::batch`]). Each answered call
/// appended exactly `batch_size` messages, so `messages_per_sec` is `batch_size` × `ops_per_sec`
/// (the calls per second), give or take the rounding of each to 3 decimals.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BatchFigures {
    /// Messages per `stream.writeBatch` call (`--batch-size`).
    pub batch_size: Count,
    /// Messages appended by the calls that started in the measurement window.
    pub total_messages: Count,
    /// `total_messages` ÷ the window: the throughput in messages, higher is better.
    pub messages_per_sec: f64,
}

/// The server measured, as it describes itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServerInfo {
    /// `sys.version`.
    pub version: String,
    /// `sys.health`'s backend (`unknown` for servers that predate it).
    pub backend: String,
}

/// Where a run ran (see [`super::machine`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Machine {
    pub cores: u64,
    pub cpu: String,
    /// Always written; `None` only in hand-made reports without it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub os: Option<String>,
    /// The 1, 5 and 15 minute load averages (empty where the OS does not say).
    pub load_average_start: Vec<f64>,
    pub load_average_end: Vec<f64>,
}

/// One run of `messagedb bench`: what was measured, how, and the figures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Run {
    pub workload: String,
    pub url: String,
    pub workers: u64,
    pub duration_s: f64,
    pub warmup_s: f64,
    /// Always written; `None` only in hand-made reports without it.
    pub streams: Option<u64>,
    /// `null` for the reference payload.
    pub payload_bytes: Option<u64>,
    /// `None` in reports from builds before `--categories`.
    pub categories: Option<u64>,
    /// The requested write rate of `sse-fanout` (`null` when not paced, and in reports from builds
    /// before `--rate`).
    pub rate: Option<u64>,
    /// RFC 3339; always written, `None` only in hand-made reports without it.
    pub started_at: Option<String>,
    #[serde(flatten)]
    pub figures: Figures,
    /// `None` when the window's CPU time could not be read at all.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu: Option<CpuFigures>,
    /// `sse-fanout` only: the achieved write rate, next to the requested `rate`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub writes_per_sec: Option<f64>,
    /// `batch` only: messages per call and per second.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub batch: Option<BatchFigures>,
    /// `many-namespaces` only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespaces: Option<NamespaceFigures>,
    /// With `--delete-stream` only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletion: Option<DeletionFigures>,
    /// With `--server-pid`: the server's threads, descriptors and memory over the run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_resources: Option<ServerResources>,
    pub server: ServerInfo,
    pub machine: Machine,
    /// The command line, tokens redacted.
    pub command: String,
}

/// A report of one or more runs of `R` (a bench [`Run`], or a profile run's allocation or server
/// figures): medians at the top level, plus `run_count`, `runs` and `summary`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report<R> {
    /// The median of every number over the runs, in a run's shape.
    #[serde(flatten)]
    pub median: R,
    pub run_count: usize,
    pub runs: Vec<R>,
    /// `{median, min, max}` of every number, in a run's shape: for people and other tools. Nothing
    /// in messagedb reads it back; readers take the spread from `runs`.
    pub summary: Value,
}

/// Latency percentiles in milliseconds, from a µs histogram.
pub fn latency(histogram: &Histogram<u64>) -> Latency {
    let ms = |micros: u64| round3(micros as f64 / 1000.0);
    if histogram.is_empty() {
        return Latency {
            mean: Some(0.0),
            ..Latency::default()
        };
    }
    Latency {
        p50: ms(histogram.value_at_quantile(0.50)),
        p90: ms(histogram.value_at_quantile(0.90)),
        p99: ms(histogram.value_at_quantile(0.99)),
        p999: ms(histogram.value_at_quantile(0.999)),
        max: ms(histogram.max()),
        mean: Some(round3(histogram.mean() / 1000.0)),
    }
}

pub(crate) fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

fn op_report(figures: &OpFigures, seconds: f64) -> OpReport {
    let total = figures.completed();
    OpReport {
        total_ops: total.into(),
        ops_per_sec: round3(total as f64 / seconds),
        errors: figures.errors.into(),
        conflicts: Some(figures.conflicts.into()),
        latency_ms: latency(&figures.latency),
    }
}

/// The measured figures of one run. The caller adds the descriptive fields (workload, url,
/// server, machine, command) to make a [`Run`].
pub fn figures(recorder: &Recorder, window: Duration) -> Figures {
    let seconds = window.as_secs_f64().max(1e-9);
    let overall = recorder.overall();
    Figures {
        total_ops: overall.completed().into(),
        ops_per_sec: round3(overall.completed() as f64 / seconds),
        errors: overall.errors.into(),
        errors_by_code: recorder
            .errors_by_code
            .iter()
            .map(|(code, n)| (code.clone(), (*n).into()))
            .collect(),
        conflicts: overall.conflicts.into(),
        latency_ms: latency(&overall.latency),
        ops: recorder
            .ops
            .iter()
            .map(|(op, figures)| ((*op).to_owned(), op_report(figures, seconds)))
            .collect(),
    }
}

/// A report of `runs`: the medians and the summary computed over the runs' JSON.
pub fn combine<R: Serialize + DeserializeOwned>(runs: Vec<R>) -> serde_json::Result<Report<R>> {
    let values = runs
        .iter()
        .map(serde_json::to_value)
        .collect::<serde_json::Result<Vec<Value>>>()?;
    let (medians, spread) = summarise(&values, "");
    Ok(Report {
        median: serde_json::from_value(medians)?,
        run_count: runs.len(),
        runs,
        summary: spread.unwrap_or(Value::Null),
    })
}

/// The runs of a report file's text; a bare run (a profile's `runs/<n>/` files) is a report of
/// itself. Only `runs` is read from a report: the medians at its top level are derived from them.
pub fn read_runs<R: DeserializeOwned>(text: &str) -> serde_json::Result<Vec<R>> {
    /// A report as far as its runs go; a bare run has no `runs`.
    #[derive(Deserialize)]
    struct Runs<R> {
        runs: Option<Vec<R>>,
    }
    match serde_json::from_str::<Runs<R>>(text)?.runs {
        Some(runs) if !runs.is_empty() => Ok(runs),
        _ => Ok(vec![serde_json::from_str(text)?]),
    }
}

impl<R> Report<R> {
    /// A figure for a readable summary: the median, plus `[min–max]` over the runs when there
    /// are several; `–` when the report does not have it.
    pub fn figure(&self, get: impl Fn(&R) -> Option<f64>, decimals: usize) -> String {
        let Some(median) = get(&self.median) else {
            return "–".to_owned();
        };
        let shown = format_number(median, decimals);
        let values: Vec<f64> = self.runs.iter().filter_map(&get).collect();
        if self.run_count < 2 || values.is_empty() {
            return shown;
        }
        let (min, max) = values
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), x| {
                (lo.min(*x), hi.max(*x))
            });
        format!(
            "{shown} [{}–{}]",
            format_number(min, decimals),
            format_number(max, decimals)
        )
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
pub fn summary_text(report: &Report<Run>) -> String {
    let run = &report.median;
    let runs = report.run_count;
    let mut out = format!(
        "{} against {}: {} workers, {}s measured after {}s warmup, {} run{}\n",
        run.workload,
        run.url,
        run.workers,
        run.duration_s,
        run.warmup_s,
        runs,
        if runs == 1 {
            ""
        } else {
            "s (median [min–max])"
        },
    );
    out.push_str(&format!(
        "server: messagedb {} ({}); machine: {} cores\n",
        run.server.version, run.server.backend, run.machine.cores,
    ));
    let fig = |get: &dyn Fn(&Run) -> Option<f64>, decimals| report.figure(get, decimals);
    out.push_str(&format!(
        "throughput: {} ops/s   errors: {}   conflicts: {}\n",
        fig(&|r| Some(r.figures.ops_per_sec), 0),
        fig(&|r| Some(r.figures.errors.get()), 0),
        fig(&|r| Some(r.figures.conflicts.get()), 0),
    ));
    out.push_str(&format!(
        "latency ms: p50 {}  p90 {}  p99 {}  p99.9 {}  max {}\n",
        fig(&|r| Some(r.figures.latency_ms.p50), 3),
        fig(&|r| Some(r.figures.latency_ms.p90), 3),
        fig(&|r| Some(r.figures.latency_ms.p99), 3),
        fig(&|r| Some(r.figures.latency_ms.p999), 3),
        fig(&|r| Some(r.figures.latency_ms.max), 3),
    ));
    if let Some(cpu) = &run.cpu {
        let mut parts = Vec::new();
        if cpu.server_us_per_op.is_some() {
            parts.push(format!(
                "server {} µs ({} cores)",
                fig(&|r| r.cpu.as_ref()?.server_us_per_op, 1),
                fig(&|r| r.cpu.as_ref()?.server_cores, 2),
            ));
        }
        if cpu.load_generator_us_per_op.is_some() {
            parts.push(format!(
                "load generator {} µs ({} cores)",
                fig(&|r| r.cpu.as_ref()?.load_generator_us_per_op, 1),
                fig(&|r| r.cpu.as_ref()?.load_generator_cores, 2),
            ));
        }
        if !parts.is_empty() {
            out.push_str(&format!("cpu per op: {}\n", parts.join(", ")));
        }
    }
    if run.batch.is_some() {
        let batch = |get: fn(&BatchFigures) -> f64| move |r: &Run| r.batch.as_ref().map(get);
        out.push_str(&format!(
            "messages: {} messages/s ({} per call, {} messages)\n",
            report.figure(batch(|b| b.messages_per_sec), 0),
            report.figure(batch(|b| b.batch_size.get()), 0),
            report.figure(batch(|b| b.total_messages.get()), 0),
        ));
    }
    if run.namespaces.is_some() {
        let ns = |get: fn(&NamespaceFigures) -> f64| move |r: &Run| r.namespaces.as_ref().map(get);
        out.push_str(&format!(
            "namespaces: {} ({} visits, {} passes; created in {} s, deleted in {} s)\n",
            report.figure(ns(|n| n.namespaces.get()), 0),
            report.figure(ns(|n| n.visits.get()), 0),
            report.figure(ns(|n| n.passes), 2),
            report.figure(ns(|n| n.create_s), 1),
            report.figure(ns(|n| n.delete_s), 1),
        ));
        out.push_str(&format!(
            "first request to a namespace in a pass, ms: p50 {}  p99 {}  max {}\n",
            report.figure(ns(|n| n.first_request_ms.p50), 3),
            report.figure(ns(|n| n.first_request_ms.p99), 3),
            report.figure(ns(|n| n.first_request_ms.max), 3),
        ));
    }
    if run.deletion.is_some() {
        let del = |get: fn(&DeletionFigures) -> f64| move |r: &Run| r.deletion.as_ref().map(get);
        out.push_str(&format!(
            "deletion: {} messages in {} s; {} writes overlapped it, ms: p50 {}  p99 {}  max {}\n",
            report.figure(del(|d| d.deleted.get()), 0),
            report.figure(del(|d| d.seconds), 3),
            report.figure(del(|d| d.writes_during.get()), 0),
            report.figure(del(|d| d.write_latency_during_ms.p50), 3),
            report.figure(del(|d| d.write_latency_during_ms.p99), 3),
            report.figure(del(|d| d.write_latency_during_ms.max), 3),
        ));
    }
    if run.server_resources.is_some() {
        let res = |get: fn(&ServerResources) -> Option<Count>| {
            move |r: &Run| Some(get(r.server_resources.as_ref()?)?.get())
        };
        let mib = |get: fn(&ServerResources) -> Option<Count>| {
            move |r: &Run| Some(get(r.server_resources.as_ref()?)?.get() / (1024.0 * 1024.0))
        };
        out.push_str(&format!(
            "server peak (end): threads {} ({}), open fds {} ({}), RSS {} ({}) MiB\n",
            report.figure(res(|s| s.peak_threads), 0),
            report.figure(res(|s| s.end_threads), 0),
            report.figure(res(|s| s.peak_fds), 0),
            report.figure(res(|s| s.end_fds), 0),
            report.figure(mib(|s| s.peak_rss_bytes), 1),
            report.figure(mib(|s| s.end_rss_bytes), 1),
        ));
    }
    for (code, n) in &run.figures.errors_by_code {
        out.push_str(&format!("  error {code}: {}\n", format_number(n.get(), 0)));
    }
    for op in run.figures.ops.keys() {
        let of = |get: fn(&OpReport) -> f64| move |r: &Run| r.figures.ops.get(op).map(get);
        out.push_str(&format!(
            "  {op}: {} ops/s, p50 {} ms, p99 {} ms, errors {}\n",
            report.figure(of(|o| o.ops_per_sec), 0),
            report.figure(of(|o| o.latency_ms.p50), 3),
            report.figure(of(|o| o.latency_ms.p99), 3),
            report.figure(of(|o| o.errors.get()), 0),
        ));
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
        let v = serde_json::to_value(figures(&rec, Duration::from_secs(2))).unwrap();
        assert_eq!(v["total_ops"], 1001);
        assert_eq!(v["ops_per_sec"], 500.5);
        assert_eq!(v["errors"], 1);
        assert_eq!(v["errors_by_code"]["TRANSPORT"], 1);
        for p in ["p50", "p90", "p99", "p999", "max", "mean"] {
            assert!(v["latency_ms"][p].as_f64().unwrap() > 0.0, "{p}");
        }
        assert_eq!(v["ops"]["stream.write"]["total_ops"], 1000);
        assert_eq!(v["ops"]["stream.get"]["errors"], 1);
        assert_eq!(v["ops"]["stream.get"]["conflicts"], 0);
        assert_eq!(v["ops"]["stream.get"]["latency_ms"]["max"], 0.7);
    }

    /// A run as `messagedb bench` writes it, with the given throughput, errors and p99.
    fn run(ops_per_sec: f64, errors: u64, by_code: &[(&str, u64)], p99: f64) -> Run {
        let latency = Latency {
            p99,
            mean: Some(1.0),
            ..Latency::default()
        };
        Run {
            workload: "w".to_owned(),
            url: "http://127.0.0.1:1".to_owned(),
            workers: 10,
            duration_s: 20.0,
            warmup_s: 2.0,
            streams: Some(100),
            payload_bytes: None,
            categories: Some(1),
            rate: None,
            started_at: Some("2026-11-27T08:00:00Z".to_owned()),
            figures: Figures {
                total_ops: Count(ops_per_sec * 20.0),
                ops_per_sec,
                errors: errors.into(),
                errors_by_code: by_code
                    .iter()
                    .map(|(c, n)| ((*c).to_owned(), (*n).into()))
                    .collect(),
                conflicts: 0.into(),
                latency_ms: latency.clone(),
                ops: BTreeMap::from([(
                    "stream.write".to_owned(),
                    OpReport {
                        total_ops: Count(ops_per_sec * 20.0),
                        ops_per_sec,
                        errors: errors.into(),
                        conflicts: Some(0.into()),
                        latency_ms: latency,
                    },
                )]),
            },
            cpu: None,
            writes_per_sec: None,
            batch: None,
            namespaces: None,
            deletion: None,
            server_resources: None,
            server: ServerInfo {
                version: "0.1.0".to_owned(),
                backend: "sqlite".to_owned(),
            },
            machine: Machine {
                cores: 2,
                cpu: "test".to_owned(),
                os: Some("linux".to_owned()),
                load_average_start: vec![1.0, 2.0, 3.0],
                load_average_end: vec![1.0, 2.0, 3.0],
            },
            command: "messagedb bench".to_owned(),
        }
    }

    #[test]
    fn summaries_take_median_min_and_max_of_every_number() {
        let runs = vec![
            run(100.0, 0, &[], 3.0),
            run(120.0, 2, &[("X", 2)], 1.0),
            run(110.0, 0, &[], 2.0),
        ];
        let report = combine(runs).unwrap();
        assert_eq!(report.median.workload, "w");
        assert_eq!(report.median.figures.ops_per_sec, 110.0);
        assert_eq!(report.median.figures.errors, Count(0.0));
        assert_eq!(report.median.figures.latency_ms.p99, 2.0);
        assert_eq!(report.run_count, 3);
        assert_eq!(report.runs.len(), 3);
        assert_eq!(
            report.summary["ops_per_sec"],
            json!({"median": 110.0, "min": 100.0, "max": 120.0})
        );
        assert_eq!(
            report.summary["errors_by_code"]["X"],
            json!({"median": 0.0, "min": 0.0, "max": 2.0})
        );
        assert_eq!(report.summary["latency_ms"]["p99"]["min"], 1.0);
        let text = summary_text(&report);
        assert!(text.contains("110 [100–120] ops/s"), "{text}");
        assert!(text.contains("p99 2.000 [1.000–3.000]"), "{text}");
    }

    #[test]
    fn namespace_and_resource_figures_are_summarised() {
        let with = |first_p99: f64, peak_fds: u64| {
            let mut r = run(100.0, 0, &[], 1.0);
            r.namespaces = Some(NamespaceFigures {
                namespaces: 30.into(),
                visits: 90.into(),
                passes: 3.0,
                first_request_ms: Latency {
                    p99: first_p99,
                    ..Latency::default()
                },
                first_requests: 90.into(),
                create_s: 0.5,
                delete_s: 0.25,
            });
            r.server_resources = Some(ServerResources {
                samples: 10.into(),
                peak_threads: Some(12.into()),
                peak_fds: Some(peak_fds.into()),
                peak_rss_bytes: Some((64u64 << 20).into()),
                end_threads: Some(11.into()),
                end_fds: Some(30.into()),
                end_rss_bytes: Some((32u64 << 20).into()),
            });
            r
        };
        let report = combine(vec![with(4.0, 41), with(2.0, 40)]).unwrap();
        // The median of two whole counts falls between them and still reads back.
        let resources = report.median.server_resources.as_ref().unwrap();
        assert_eq!(resources.peak_fds, Some(Count(40.5)));
        let ns = report.median.namespaces.as_ref().unwrap();
        assert_eq!(ns.first_request_ms.p99, 3.0);
        let text = summary_text(&report);
        assert!(
            text.contains("namespaces: 30 [30–30] (90 [90–90] visits, 3.00 [3.00–3.00] passes"),
            "{text}"
        );
        assert!(text.contains("p99 3.000 [2.000–4.000]"), "{text}");
        assert!(
            text.contains("threads 12 [12–12] (11 [11–11]), open fds 40 [40–41]"),
            "{text}"
        );
        assert!(
            text.contains("RSS 64.0 [64.0–64.0] (32.0 [32.0–32.0]) MiB"),
            "{text}"
        );
        let back: Report<Run> =
            serde_json::from_str(&serde_json::to_string(&report).unwrap()).unwrap();
        assert_eq!(back.runs, report.runs);
    }

    #[test]
    fn batch_figures_are_summarised() {
        let with = |messages_per_sec: f64| {
            let mut r = run(messages_per_sec / 10.0, 0, &[], 1.0);
            r.batch = Some(BatchFigures {
                batch_size: 10.into(),
                total_messages: Count(messages_per_sec * 20.0),
                messages_per_sec,
            });
            r
        };
        let report = combine(vec![with(60_000.0), with(50_000.0), with(70_000.0)]).unwrap();
        let batch = report.median.batch.as_ref().unwrap();
        assert_eq!(batch.messages_per_sec, 60_000.0);
        assert_eq!(
            report.summary["batch"]["messages_per_sec"],
            json!({"median": 60_000.0, "min": 50_000.0, "max": 70_000.0})
        );
        let text = summary_text(&report);
        assert!(
            text.contains("messages: 60,000 [50,000–70,000] messages/s (10 [10–10] per call"),
            "{text}"
        );
        let back: Report<Run> =
            serde_json::from_str(&serde_json::to_string(&report).unwrap()).unwrap();
        assert_eq!(back.runs, report.runs);
    }

    #[test]
    fn reports_read_back_as_they_were_written() {
        let report = combine(vec![run(100.0, 0, &[], 3.0), run(120.0, 1, &[], 1.0)]).unwrap();
        let text = serde_json::to_string_pretty(&report).unwrap();
        let value: Value = serde_json::from_str(&text).unwrap();
        // The median of two counts can fall between them, and still reads back.
        assert_eq!(value["errors"], 0.5);
        assert_eq!(value["total_ops"], 2200);
        assert_eq!(value["runs"][1]["errors"], 1);
        let back: Report<Run> = serde_json::from_str(&text).unwrap();
        assert_eq!(back.median, report.median);
        assert_eq!(back.runs, report.runs);
        assert_eq!(read_runs::<Run>(&text).unwrap(), report.runs);
        // A bare run (a profile's `runs/<n>/bench.json`) is a report of itself.
        let bare = serde_json::to_string(&report.runs[0]).unwrap();
        assert_eq!(
            read_runs::<Run>(&bare).unwrap(),
            vec![report.runs[0].clone()]
        );
    }

    #[test]
    fn older_reports_without_the_newer_fields_still_load() {
        let mut old = serde_json::to_value(run(100.0, 0, &[], 3.0)).unwrap();
        for field in [
            "categories",
            "rate",
            "started_at",
            "streams",
            "payload_bytes",
        ] {
            old.as_object_mut().unwrap().remove(field);
        }
        old["latency_ms"].as_object_mut().unwrap().remove("mean");
        let runs = read_runs::<Run>(&old.to_string()).unwrap();
        assert_eq!(runs[0].categories, None);
        assert_eq!(runs[0].figures.latency_ms.mean, None);
        // A figure a run must have is an error that names it.
        old.as_object_mut().unwrap().remove("ops_per_sec");
        let err = read_runs::<Run>(&old.to_string()).unwrap_err();
        assert!(err.to_string().contains("ops_per_sec"), "{err}");
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
