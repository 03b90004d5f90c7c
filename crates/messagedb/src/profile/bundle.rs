//! The bundle's `README.md`: what was measured, how, and the figures that matter first.

use std::fmt::Write as _;

use super::cpu::CpuProfile;
use super::measure::{Allocations, Scope, ServerRun};
use super::{ProfileArgs, ServerReport};
use crate::bench::report::{format_number, Count, OpReport, Report, Run};

/// What the summary is written from.
pub struct Inputs<'a> {
    pub args: &'a ProfileArgs,
    pub command: &'a str,
    pub bench: &'a Report<Run>,
    pub allocations: &'a Report<Allocations>,
    pub server: &'a ServerReport,
    /// `None` with `--cpu-seconds 0`.
    pub cpu: Option<&'a CpuProfile>,
    /// The run whose CPU profile is in the bundle (1-based).
    pub cpu_run: usize,
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
    let runs = bench.run_count;
    let run = &bench.median;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# Profile: {} on {} ({})\n",
        args.load.workload.name(),
        args.backend.name(),
        run.started_at.as_deref().unwrap_or("")
    );
    let _ = writeln!(
        out,
        "messagedb {} (`sys.health` backend `{}`), {} workers, {} s measured after {} s warmup, {} run{}{}.\n",
        server.version,
        server.backend,
        run.workers,
        run.duration_s,
        run.warmup_s,
        runs,
        if runs == 1 { "" } else { "s" },
        if runs == 1 { "" } else { "; figures are medians with [min–max] over the runs" },
    );
    let load_start = bench
        .runs
        .first()
        .unwrap_or(run)
        .machine
        .load_average_start
        .clone();
    let _ = writeln!(
        out,
        "Machine: {} cores, {}; load average {:?} at the start of the first run.\n",
        run.machine.cores, run.machine.cpu, load_start,
    );

    out.push_str("## Throughput and latency\n\n");
    out.push_str("| operation | ops/s | p50 ms | p90 ms | p99 ms | p99.9 ms | max ms | errors |\n");
    out.push_str("|---|---|---|---|---|---|---|---|\n");
    // Every operation's figures, and the overall ones in the same shape, read from one run.
    let rows = std::iter::once(None).chain(run.figures.ops.keys().map(Some));
    for op in rows {
        let get = |field: fn(&OpReport) -> f64| {
            move |r: &Run| match op {
                None => Some(field(&OpReport {
                    total_ops: r.figures.total_ops,
                    ops_per_sec: r.figures.ops_per_sec,
                    errors: r.figures.errors,
                    conflicts: Some(r.figures.conflicts),
                    latency_ms: r.figures.latency_ms.clone(),
                })),
                Some(op) => r.figures.ops.get(op).map(field),
            }
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
            op.map_or("all", String::as_str),
            bench.figure(get(|o| o.ops_per_sec), 0),
            bench.figure(get(|o| o.latency_ms.p50), 3),
            bench.figure(get(|o| o.latency_ms.p90), 3),
            bench.figure(get(|o| o.latency_ms.p99), 3),
            bench.figure(get(|o| o.latency_ms.p999), 3),
            bench.figure(get(|o| o.latency_ms.max), 3),
            bench.figure(get(|o| o.errors.get()), 0),
        );
    }
    if run.figures.conflicts.get() > 0.0 {
        let _ = writeln!(
            out,
            "\nVersion conflicts (expected under contention, not errors): {}",
            bench.figure(|r| Some(r.figures.conflicts.get()), 0)
        );
    }

    out.push_str("\n## Heap allocations per operation (server)\n\n");
    if allocations.median.counting {
        out.push_str("| scope | operations | allocations/op | bytes/op |\n|---|---|---|---|\n");
        let scope = |pick: fn(&Allocations) -> Option<&Scope>, field: fn(&Scope) -> f64| {
            move |a: &Allocations| pick(a).map(field)
        };
        let _ = writeln!(
            out,
            "| everything in the server process | {} | {} | {} |",
            allocations.figure(
                scope(
                    |a| a.total.as_ref(),
                    |s| s.operations.unwrap_or_default().get()
                ),
                0
            ),
            allocations.figure(scope(|a| a.total.as_ref(), |s| s.allocations_per_op), 1),
            allocations.figure(scope(|a| a.total.as_ref(), |s| s.bytes_per_op), 0),
        );
        for method in allocations
            .median
            .by_method
            .iter()
            .flatten()
            .map(|(m, _)| m)
        {
            let of = |field: fn(&Scope) -> f64| {
                move |a: &Allocations| a.by_method.as_ref()?.get(method).map(field)
            };
            let _ = writeln!(
                out,
                "| `{method}` request handling | {} | {} | {} |",
                allocations.figure(of(|s| s.calls.unwrap_or_default().get()), 0),
                allocations.figure(of(|s| s.allocations_per_op), 1),
                allocations.figure(of(|s| s.bytes_per_op), 0),
            );
        }
        let _ = writeln!(
            out,
            "| outside request futures (storage threads, socket I/O, runtime) | – | {} | {} |",
            allocations.figure(
                scope(|a| a.outside_requests.as_ref(), |s| s.allocations_per_op),
                1
            ),
            allocations.figure(
                scope(|a| a.outside_requests.as_ref(), |s| s.bytes_per_op),
                0
            ),
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

    let memory = &server.report;
    let bytes =
        |get: fn(&ServerRun) -> Option<Count>| memory.figure(move |r| get(r).map(|n| n.get()), 0);
    match cpu {
        Some(_) => {
            let _ = writeln!(
                out,
                "\n## Memory\n\nPeak RSS of the server: {} bytes before the CPU profile started ({} \
                 bytes with the profiler's own buffers); {} bytes resident at the end. `server.json` \
                 has the resident size once a second (`rss_timeline`).\n",
                bytes(|r| r.peak_rss_bytes),
                bytes(|r| r.peak_rss_with_profiler_bytes),
                bytes(|r| r.rss_end_bytes),
            );
        }
        None => {
            let _ = writeln!(
                out,
                "\n## Memory\n\nPeak RSS of the server: {} bytes; {} bytes resident at the end. \
                 `server.json` has the resident size once a second (`rss_timeline`).\n",
                bytes(|r| r.peak_rss_bytes),
                bytes(|r| r.rss_end_bytes),
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
        server.configuration.serve_args.join(" "),
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
