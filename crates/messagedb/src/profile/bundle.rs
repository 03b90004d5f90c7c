//! The bundle's `README.md`: what was measured, how, and the figures that matter first.

use std::fmt::Write as _;

use serde_json::Value;

use super::cpu::CpuProfile;
use super::ProfileArgs;
use crate::bench::report::format_number;

/// What the summary is written from.
pub struct Inputs<'a> {
    pub args: &'a ProfileArgs,
    pub command: &'a str,
    pub bench: &'a Value,
    pub allocations: &'a Value,
    pub server: &'a Value,
    /// `None` with `--cpu-seconds 0`.
    pub cpu: Option<&'a CpuProfile>,
    /// The run whose CPU profile is in the bundle (1-based).
    pub cpu_run: usize,
}

/// A figure: the median, plus `[min–max]` over several runs.
fn figure(report: &Value, path: &[&str], decimals: usize) -> String {
    let value = path.iter().fold(report, |v, k| &v[*k]);
    let spread = path.iter().fold(&report["summary"], |v, k| &v[*k]);
    let shown = value
        .as_f64()
        .map_or_else(|| "–".to_owned(), |x| format_number(x, decimals));
    let runs = report["run_count"].as_u64().unwrap_or(1);
    match (spread["min"].as_f64(), spread["max"].as_f64()) {
        (Some(lo), Some(hi)) if runs > 1 => {
            format!(
                "{shown} [{}–{}]",
                format_number(lo, decimals),
                format_number(hi, decimals)
            )
        }
        _ => shown,
    }
}

/// The README text.
pub fn readme(inputs: &Inputs<'_>) -> String {
    let Inputs {
        args,
        command,
        bench,
        allocations,
        server,
        cpu,
        cpu_run,
    } = inputs;
    let runs = bench["run_count"].as_u64().unwrap_or(1);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# Profile: {} on {} ({})\n",
        args.load.workload.name(),
        args.backend.name(),
        bench["started_at"].as_str().unwrap_or("")
    );
    let _ = writeln!(
        out,
        "messagedb {} (`sys.health` backend `{}`), {} workers, {} s measured after {} s warmup, {} run{}{}.\n",
        server["version"].as_str().unwrap_or("?"),
        server["backend"].as_str().unwrap_or("?"),
        bench["workers"],
        bench["duration_s"],
        bench["warmup_s"],
        runs,
        if runs == 1 { "" } else { "s" },
        if runs == 1 { "" } else { "; figures are medians with [min–max] over the runs" },
    );
    let _ = writeln!(
        out,
        "Machine: {} cores, {}; load average {} at the start of the first run.\n",
        bench["machine"]["cores"],
        bench["machine"]["cpu"].as_str().unwrap_or("unknown CPU"),
        bench["runs"][0]["machine"]["load_average_start"],
    );

    out.push_str("## Throughput and latency\n\n");
    out.push_str("| operation | ops/s | p50 ms | p90 ms | p99 ms | p99.9 ms | max ms | errors |\n");
    out.push_str("|---|---|---|---|---|---|---|---|\n");
    let mut rows: Vec<(String, Vec<&str>)> = vec![("all".to_owned(), vec![])];
    if let Some(Value::Object(ops)) = bench.get("ops") {
        rows.extend(ops.keys().map(|op| (op.clone(), vec!["ops", op.as_str()])));
    }
    for (label, prefix) in &rows {
        let path = |tail: &[&'static str]| -> Vec<&str> {
            prefix.iter().copied().chain(tail.iter().copied()).collect()
        };
        let _ = writeln!(
            out,
            "| {label} | {} | {} | {} | {} | {} | {} | {} |",
            figure(bench, &path(&["ops_per_sec"]), 0),
            figure(bench, &path(&["latency_ms", "p50"]), 3),
            figure(bench, &path(&["latency_ms", "p90"]), 3),
            figure(bench, &path(&["latency_ms", "p99"]), 3),
            figure(bench, &path(&["latency_ms", "p999"]), 3),
            figure(bench, &path(&["latency_ms", "max"]), 3),
            figure(bench, &path(&["errors"]), 0),
        );
    }
    if bench["conflicts"].as_f64().unwrap_or(0.0) > 0.0 {
        let _ = writeln!(
            out,
            "\nVersion conflicts (expected under contention, not errors): {}",
            figure(bench, &["conflicts"], 0)
        );
    }

    out.push_str("\n## Heap allocations per operation (server)\n\n");
    if allocations["counting"] == true {
        out.push_str("| scope | operations | allocations/op | bytes/op |\n|---|---|---|---|\n");
        let _ = writeln!(
            out,
            "| everything in the server process | {} | {} | {} |",
            figure(allocations, &["total", "operations"], 0),
            figure(allocations, &["total", "allocations_per_op"], 1),
            figure(allocations, &["total", "bytes_per_op"], 0),
        );
        if let Some(Value::Object(methods)) = allocations.get("by_method") {
            for method in methods.keys() {
                let _ = writeln!(
                    out,
                    "| `{method}` request handling | {} | {} | {} |",
                    figure(allocations, &["by_method", method, "calls"], 0),
                    figure(allocations, &["by_method", method, "allocations_per_op"], 1),
                    figure(allocations, &["by_method", method, "bytes_per_op"], 0),
                );
            }
        }
        let _ = writeln!(
            out,
            "| outside request futures (storage threads, socket I/O, runtime) | – | {} | {} |",
            figure(allocations, &["outside_requests", "allocations_per_op"], 1),
            figure(allocations, &["outside_requests", "bytes_per_op"], 0),
        );
        out.push_str(
            "\n*Request handling* counts what a request allocates on the async worker thread while it \
             is polled (routing, auth, body, parsing, the async part of the store call, the response). \
             Work the storage does on its own threads (the SQLite writer thread, blocking read \
             threads) is in the *outside* row, shared over all operations; *everything* is the \
             process total divided by the RPC calls served. For a one-method workload (`write-only`) \
             *everything* is that method's full cost.\n",
        );
    } else {
        out.push_str("Allocation counting was off in the server; no figures.\n");
    }

    match cpu {
        Some(_) => {
            let _ = writeln!(
                out,
                "\n## Memory\n\nPeak RSS of the server: {} bytes before the CPU profile started ({} \
                 bytes with the profiler's own buffers); {} bytes resident at the end. `server.json` \
                 has the resident size once a second (`rss_timeline`).\n",
                figure(server, &["peak_rss_bytes"], 0),
                figure(server, &["peak_rss_with_profiler_bytes"], 0),
                figure(server, &["rss_end_bytes"], 0),
            );
        }
        None => {
            let _ = writeln!(
                out,
                "\n## Memory\n\nPeak RSS of the server: {} bytes; {} bytes resident at the end. \
                 `server.json` has the resident size once a second (`rss_timeline`).\n",
                figure(server, &["peak_rss_bytes"], 0),
                figure(server, &["rss_end_bytes"], 0),
            );
        }
    }
    match cpu {
        Some(cpu) => cpu_section(&mut out, cpu, *cpu_run),
        None => out.push_str("## CPU\n\nNo CPU profile was taken (`--cpu-seconds 0`).\n"),
    }

    out.push_str("\n## How it was produced\n\n");
    let _ = writeln!(out, "```\n{command}\n```\n");
    let _ = writeln!(
        out,
        "Each run started a fresh server (`messagedb {}`, plus a generated admin token) with the \
         debug endpoints and the counting allocator on, ran the `{}` workload through `messagedb \
         bench`'s load generator, read `/debug/pprof/allocs?format=json` when the measurement window \
         opened and closed, and recorded `/debug/pprof/profile` over the middle half of the window. \
         Throughput here includes the cost of allocation counting and sampling; headline figures \
         come from `messagedb bench` against a plain server.\n",
        server["configuration"]["serve_args"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(" "))
            .unwrap_or_default(),
        args.load.workload.name(),
    );
    out.push_str(
        "## Files\n\n\
         - `bench.json`: the bench report (every run, medians, min–max).\n\
         - `cpu.pb`: pprof CPU profile (`go tool pprof -http=: cpu.pb`); `cpu.svg`: its flamegraph; \
         `cpu.folded`: folded stacks (unless `--cpu-seconds 0`).\n\
         - `allocations.json`: allocation counts in total and per operation by RPC method.\n\
         - `server.json`: server version, configuration, peak RSS.\n\
         - `server.log`: the server's warnings and errors.\n",
    );
    if runs > 1 {
        out.push_str("- `runs/<n>/`: the same files for each run.\n");
    }
    out.push_str("\nCompare two bundles with `messagedb bench compare <base> <new>`.\n");
    out
}

/// The top frames of the CPU profile of run `cpu_run`.
fn cpu_section(out: &mut String, cpu: &CpuProfile, cpu_run: usize) {
    let _ = writeln!(
        out,
        "## Top 15 CPU frames (run {cpu_run}, {} samples at 99 Hz over the middle of the window)\n",
        cpu.samples
    );
    out.push_str("| # | function | self % | total % |\n|---|---|---|---|\n");
    let pct = |n: u64| {
        format_number(
            if cpu.samples == 0 {
                0.0
            } else {
                n as f64 * 100.0 / cpu.samples as f64
            },
            1,
        )
    };
    for (i, frame) in cpu.top(15).iter().enumerate() {
        let _ = writeln!(
            out,
            "| {} | `{}` | {} | {} |",
            i + 1,
            frame.function.replace('|', "\\|"),
            pct(frame.self_samples),
            pct(frame.total_samples)
        );
    }
    let own = cpu.top_own(10);
    if !own.is_empty() {
        out.push_str("\nmessagedb's own functions by total time:\n\n| # | function | self % | total % |\n|---|---|---|---|\n");
        for (i, frame) in own.iter().enumerate() {
            let _ = writeln!(
                out,
                "| {} | `{}` | {} | {} |",
                i + 1,
                frame.function.replace('|', "\\|"),
                pct(frame.self_samples),
                pct(frame.total_samples)
            );
        }
    }
    out.push_str(
        "\n*self*: samples where the function itself was running; *total*: samples where it was \
         anywhere on the stack. The profile covers the server process only (the load generator runs \
         in the `messagedb profile` process).\n",
    );
}
