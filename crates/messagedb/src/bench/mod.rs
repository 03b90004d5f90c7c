//! `messagedb bench`: a load generator for messagedb (or EventoDB) over its RPC API, and
//! `messagedb bench compare` for two sets of results.
//!
//! A run prepares its workload (seed data, subscriptions), starts `--workers` workers on one clock,
//! lets `--warmup` pass unrecorded, then records every operation that starts within `--duration`.
//! Each worker records into its own histograms ([`recorder`]); they are merged when the run ends
//! and turned into JSON ([`report`]). `--runs N` repeats the run and reports the median and the
//! min–max of every figure, because one run says little about noise. `messagedb profile` drives
//! the same runs through [`run_once`], watching [`Phase`] to time its measurements.

pub mod batch;
pub mod compare;
pub mod fanout;
pub mod machine;
pub mod namespaces;
pub mod recorder;
pub mod report;
pub mod resources;
pub mod workload;

use std::ffi::OsString;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use clap::Parser;
use serde::Serialize;
use tokio::sync::watch;

use crate::cli::normalise_flags;
use recorder::{Progress, Recorder};
use report::{CpuFigures, Run, ServerInfo};
use workload::{Clock, Payload, Shape, Workload};

/// `messagedb bench` flags.
#[derive(Debug, Parser)]
#[command(
    name = "messagedb bench",
    about = "Generate load against a messagedb (or EventoDB) server and report throughput and latency",
    after_help = "Durations are whole seconds (20) or have a unit (500ms, 20s, 2m).\n\
                  `messagedb bench compare BASE NEW` compares two results (bench JSON files or \
                  profile bundles); see `messagedb bench compare --help`."
)]
pub struct BenchArgs {
    /// Server base URL
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// Token to authenticate with (its namespace receives the load)
    #[arg(long)]
    pub token: Option<String>,
    #[command(flatten)]
    pub load: LoadArgs,
    /// Write the results as JSON to this file
    #[arg(long, value_name = "FILE.json")]
    pub output: Option<PathBuf>,
    /// Repeat the measurement N times and report the median and min–max of every figure
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub runs: usize,
    /// The server's process id, when it runs on this machine: adds its CPU time per operation
    /// (`cpu.server_us_per_op`), a figure far less noisy than throughput on a shared machine, and
    /// its peak and final threads, open file descriptors and RSS (`server_resources`)
    #[arg(long, value_name = "PID")]
    pub server_pid: Option<u32>,
}

/// The load itself; shared with `messagedb profile`.
#[derive(Debug, Clone, clap::Args)]
pub struct LoadArgs {
    /// Load shape
    #[arg(long, value_enum, default_value_t = Workload::ReferenceMix)]
    pub workload: Workload,
    /// Concurrent workers, each with its own keep-alive connection
    #[arg(long, default_value_t = 10, value_name = "N")]
    pub workers: usize,
    /// Measured time per run
    #[arg(long, default_value = "30s", value_parser = duration)]
    pub duration: Duration,
    /// Unmeasured time before each measurement
    #[arg(long, default_value = "2s", value_parser = duration)]
    pub warmup: Duration,
    /// Streams to spread the load over [default: 100; contention: 4; fixed for reference-mix]
    #[arg(long, value_name = "N")]
    pub streams: Option<u32>,
    /// Size of each message's data in bytes [default: the reference-mix data, about 160 bytes]
    #[arg(long, value_name = "BYTES")]
    pub payload_bytes: Option<usize>,
    /// write-only: spread the streams over N categories (1: one category for all)
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub categories: u32,
    /// sse-fanout: pace the writer at N writes per second [default: as fast as it can]
    #[arg(long, value_name = "N")]
    pub rate: Option<u32>,
    /// many-namespaces: create N namespaces and write and read them round-robin (needs the admin
    /// token)
    #[arg(long, value_name = "N")]
    pub namespaces: Option<u32>,
    /// many-namespaces: leave the namespaces on the server after the run
    #[arg(long)]
    pub keep_namespaces: bool,
    /// batch: messages per stream.writeBatch call, 1 to 1000 [default: 10]
    #[arg(long, value_name = "N")]
    pub batch_size: Option<u32>,
    /// Delete this stream (`stream.delete`, SPEC §18) during the window, and report how long the
    /// call took and the latency of the writes that overlapped it (the server must allow deletion)
    #[arg(long, value_name = "STREAM")]
    pub delete_stream: Option<String>,
    /// With --delete-stream: how long into the window the deletion starts
    #[arg(long, default_value = "5s", value_parser = duration)]
    pub delete_after: Duration,
}

fn duration(text: &str) -> Result<Duration, String> {
    crate::settings::parse_duration(text)
        .ok_or_else(|| format!("expected {}", crate::settings::DURATION))
}

impl LoadArgs {
    /// Checks the combinations clap cannot; the error is a usage error.
    pub fn validate(&self) -> Result<(), String> {
        if self.workers == 0 {
            return Err("--workers must be at least 1".to_owned());
        }
        if self.duration.is_zero() {
            return Err("--duration must be more than 0".to_owned());
        }
        if self.streams == Some(0) {
            return Err("--streams must be at least 1".to_owned());
        }
        if self.categories == 0 {
            return Err("--categories must be at least 1".to_owned());
        }
        if self.categories > 1 && self.workload != Workload::WriteOnly {
            return Err("--categories applies to write-only only".to_owned());
        }
        if self.rate == Some(0) {
            return Err("--rate must be at least 1".to_owned());
        }
        if self.rate.is_some() && self.workload != Workload::SseFanout {
            return Err("--rate applies to sse-fanout only".to_owned());
        }
        if self.workload == Workload::ManyNamespaces {
            if self.namespaces.unwrap_or(0) == 0 {
                return Err("many-namespaces needs --namespaces N (at least 1)".to_owned());
            }
            if self.streams.is_some() {
                return Err(
                    "many-namespaces writes one stream per namespace: --streams does not apply"
                        .to_owned(),
                );
            }
        } else if self.namespaces.is_some() || self.keep_namespaces {
            return Err(
                "--namespaces and --keep-namespaces apply to many-namespaces only".to_owned(),
            );
        }
        if self.workload == Workload::Batch {
            if let Some(size) = self.batch_size {
                if size == 0 || size > batch::MAX_SIZE {
                    return Err(format!(
                        "--batch-size must be between 1 and {} (SPEC §17.1)",
                        batch::MAX_SIZE
                    ));
                }
            }
        } else if self.batch_size.is_some() {
            return Err("--batch-size applies to batch only".to_owned());
        }
        if self.delete_stream.is_some() {
            if matches!(
                self.workload,
                Workload::SseFanout | Workload::ManyNamespaces
            ) {
                return Err(format!(
                    "--delete-stream does not apply to {}",
                    self.workload.name()
                ));
            }
            if self.delete_after >= self.duration {
                return Err("--delete-after must be less than --duration".to_owned());
            }
        }
        if self.workload == Workload::ReferenceMix
            && (self.streams.is_some() || self.payload_bytes.is_some())
        {
            return Err(
                "reference-mix is the fixed classic load (100 streams, fixed data): \
                        --streams and --payload-bytes do not apply to it"
                    .to_owned(),
            );
        }
        Ok(())
    }
}

/// Where a run is; `messagedb profile` times its measurements on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Preparing,
    Warmup,
    /// Recording; the window started at this instant.
    Measuring(Instant),
    Done,
}

/// One run's target and load.
#[derive(Debug, Clone)]
pub struct Plan {
    pub url: String,
    pub token: Option<String>,
    pub load: LoadArgs,
    /// The command line for the report, already redacted.
    pub command: String,
    /// The server's process, when it is local: its CPU time is reported per operation.
    pub server_pid: Option<u32>,
}

/// Runs `messagedb bench` (or `bench compare`) with `args`, the words after `bench`.
pub fn run(args: Vec<OsString>) -> anyhow::Result<ExitCode> {
    if args.first().and_then(|a| a.to_str()) == Some("compare") {
        return compare::run(args.into_iter().skip(1).collect());
    }
    let args = normalise_flags(args, takes_value);
    let argv = std::iter::once(OsString::from("messagedb bench")).chain(args);
    let args = match BenchArgs::try_parse_from(argv) {
        Ok(args) => args,
        Err(err) => {
            let _ = err.print();
            return Ok(ExitCode::from(err.exit_code().clamp(0, 255) as u8));
        }
    };
    if let Err(message) = args.load.validate().and_then(|()| {
        if args.runs == 0 {
            Err("--runs must be at least 1".to_owned())
        } else if args.load.workload == Workload::ManyNamespaces && args.token.is_none() {
            Err(
                "many-namespaces creates and deletes namespaces, so it needs the admin token \
                 (a token of the `default` namespace) in --token"
                    .to_owned(),
            )
        } else {
            Ok(())
        }
    }) {
        eprintln!("messagedb bench: {message}");
        return Ok(ExitCode::from(2));
    }
    let plan = Plan {
        url: args.url.trim_end_matches('/').to_owned(),
        token: args.token.clone(),
        load: args.load.clone(),
        command: machine::command_line(&std::env::args().collect::<Vec<_>>()),
        server_pid: args.server_pid,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let report = runtime.block_on(async {
        let mut runs = Vec::with_capacity(args.runs);
        for run in 1..=args.runs {
            let (phase, _) = watch::channel(Phase::Preparing);
            let figures = run_once(&plan, (run, args.runs), &phase).await?;
            eprintln!("{}", run_line(&figures, (run, args.runs)));
            runs.push(figures);
        }
        anyhow::Ok(report::combine(runs)?)
    })?;
    print!("{}", report::summary_text(&report));
    if let Some(path) = &args.output {
        write_json(path, &report)?;
        println!("results written to {}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// Whether a bench flag (without dashes) takes the next word as its value.
pub fn takes_value(name: &str) -> bool {
    matches!(
        name,
        "url"
            | "token"
            | "workload"
            | "workers"
            | "duration"
            | "warmup"
            | "streams"
            | "payload-bytes"
            | "categories"
            | "rate"
            | "namespaces"
            | "batch-size"
            | "delete-stream"
            | "delete-after"
            | "output"
            | "runs"
            | "server-pid"
    )
}

/// Writes `value` as pretty JSON with a final newline.
pub fn write_json(path: &std::path::Path, value: &impl Serialize) -> anyhow::Result<()> {
    let mut text = serde_json::to_string_pretty(value)?;
    text.push('\n');
    std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
}

/// One line per finished run.
fn run_line(run_report: &Run, (run, runs): (usize, usize)) -> String {
    let figures = &run_report.figures;
    let messages = run_report.batch.as_ref().map_or_else(String::new, |batch| {
        format!(
            " ({} messages/s)",
            report::format_number(batch.messages_per_sec, 0)
        )
    });
    format!(
        "run {run}/{runs}: {} ops/s{messages}, p50 {} ms, p99 {} ms, {} errors",
        report::format_number(figures.ops_per_sec, 0),
        figures.latency_ms.p50,
        figures.latency_ms.p99,
        report::format_number(figures.errors.get(), 0),
    )
}

/// Runs one measurement of `plan` and returns its report (figures plus the descriptive fields).
/// `phase` follows the run; `run` is (this run, of how many) for the progress line.
pub async fn run_once(
    plan: &Plan,
    run: (usize, usize),
    phase: &watch::Sender<Phase>,
) -> anyhow::Result<Run> {
    let load = &plan.load;
    let token = plan.token.as_deref();
    phase.send_replace(Phase::Preparing);
    let probe = workload::worker_client(&plan.url, token)?;
    let version = probe
        .sys_version()
        .await
        .with_context(|| format!("cannot reach the server at {} (sys.version)", plan.url))?;
    // Servers that predate `sys.health`'s backend field still get measured.
    let backend = probe
        .sys_health()
        .await
        .map_or_else(|_| "unknown".to_owned(), |h| h.backend);
    let workers = match load.workload {
        Workload::ConsumerGroups => workload::consumer_group_workers(load.workers),
        _ => load.workers,
    };
    let shape = Shape {
        workload: load.workload,
        streams: load
            .streams
            .unwrap_or_else(|| load.workload.default_streams()),
        payload: load
            .payload_bytes
            .map_or(Payload::Reference, Payload::Bytes),
        categories: load.categories,
        tag: run_tag(run.0),
        last_setup_gpos: 0,
        namespaces: load.namespaces.unwrap_or(0),
        tenants: None,
        batch_size: batch_size(load),
    };
    // From before the preparation, so creating thousands of namespaces is inside the peaks.
    let sampler = match plan.server_pid {
        Some(pid) => Some(resources::Sampler::start(pid).context("cannot start the sampler")?),
        None => None,
    };
    let prepared = workload::prepare(shape, &plan.url, token, workers).await?;
    let create_time = prepared.create_time;
    let shape = Arc::new(prepared.shape);
    let clients = (0..workers)
        .map(|_| workload::worker_client(&plan.url, token))
        .collect::<anyhow::Result<Vec<_>>>()?;
    // The workers' own lean connections (sse-fanout drives everything through `clients`).
    let mut connections = Vec::new();
    if load.workload != Workload::SseFanout {
        for _ in 0..workers {
            let connection = messagedb_client::Connection::open(&plan.url, token)
                .await
                .with_context(|| format!("cannot connect to {}", plan.url))?;
            connections.push(connection);
        }
    }
    let mut connections = connections.into_iter();

    let load_start = machine::load_average();
    let started_at = time::OffsetDateTime::now_utc();
    let start = Instant::now();
    let clock = Clock {
        window_start: start + load.warmup,
        deadline: start + load.warmup + load.duration,
    };
    let progress = Arc::new(Progress::default());
    phase.send_replace(if load.warmup.is_zero() {
        Phase::Measuring(start)
    } else {
        Phase::Warmup
    });
    let display = tokio::spawn(show_progress(
        Arc::clone(&progress),
        clock,
        start,
        run,
        phase.subscribe(),
    ));
    let server_pid = plan.server_pid;
    let phase_keeper = {
        let phase = phase.clone();
        let window_start = clock.window_start;
        tokio::spawn(async move {
            tokio::time::sleep_until(tokio::time::Instant::from_std(window_start)).await;
            phase.send_replace(Phase::Measuring(window_start));
            CpuSnapshot::take(server_pid)
        })
    };

    let deleter = load.delete_stream.clone().map(|stream| {
        let client = workload::worker_client(&plan.url, token);
        let progress = Arc::clone(&progress);
        let at = clock.window_start + load.delete_after;
        tokio::spawn(async move {
            tokio::time::sleep_until(tokio::time::Instant::from_std(at)).await;
            delete_stream(&client?, stream, &progress).await
        })
    });

    let new_recorder = || Recorder::new(Arc::clone(&progress));
    let recorders: Vec<Recorder> = if load.workload == Workload::SseFanout {
        let writer = clients.into_iter().next().context("no worker")?;
        fanout::run_fanout(
            writer,
            Arc::clone(&shape),
            clock,
            load.rate,
            prepared.subscriptions,
            new_recorder,
        )
        .await
    } else {
        let mut tasks = Vec::with_capacity(workers);
        for (index, client) in clients.into_iter().enumerate() {
            let connection = connections.next().context("a connection per worker")?;
            tasks.push(tokio::spawn(workload::run_worker(
                index,
                connection,
                client,
                Arc::clone(&shape),
                clock,
                new_recorder(),
                workers,
            )));
        }
        let mut recorders = Vec::with_capacity(workers);
        for task in tasks {
            recorders.push(task.await.context("a bench worker failed")?);
        }
        recorders
    };
    let cpu_end = CpuSnapshot::take(server_pid);
    let server_resources = sampler.and_then(resources::Sampler::finish);
    // The keeper has finished: workers only stop at the deadline, after the window started.
    let cpu_start = phase_keeper.await.ok();
    phase.send_replace(Phase::Done);
    let _ = display.await;

    let mut merged = new_recorder();
    for rec in recorders {
        merged.merge(rec);
    }
    let namespaces = match &shape.tenants {
        Some(tenants) => {
            let delete_time = if load.keep_namespaces {
                Duration::ZERO
            } else {
                let admin = namespaces::admin_client(&plan.url, token)?;
                eprintln!("deleting {} namespaces…", tenants.list.len());
                let started = Instant::now();
                namespaces::delete(&admin, &tenants.list).await?;
                started.elapsed()
            };
            Some(namespace_figures(
                &merged,
                tenants.list.len(),
                create_time,
                delete_time,
            ))
        }
        None => None,
    };
    let deletion = match deleter {
        Some(task) => {
            let (stream, deleted, seconds) = task.await.context("the deleter failed")??;
            Some(report::DeletionFigures {
                stream,
                deleted: deleted.into(),
                seconds: report::round3(seconds),
                writes_during: merged.writes_during_deletion.len().into(),
                write_latency_during_ms: report::latency(&merged.writes_during_deletion),
            })
        }
        None => None,
    };
    let figures = report::figures(&merged, load.duration);
    let cpu = cpu_start.map(|cpu_start| cpu_end.per_op(&cpu_start, merged.overall().completed()));
    // The achieved write rate, next to the requested `rate`: a paced writer that cannot keep up
    // shows here rather than silently measuring a lighter load.
    let writes_per_sec = (load.workload == Workload::SseFanout).then(|| {
        figures
            .ops
            .get("stream.write")
            .map_or(0.0, |write| write.ops_per_sec)
    });
    Ok(Run {
        workload: load.workload.name().to_owned(),
        url: plan.url.clone(),
        workers: workers as u64,
        duration_s: load.duration.as_secs_f64(),
        warmup_s: load.warmup.as_secs_f64(),
        streams: Some(u64::from(shape.streams)),
        payload_bytes: load.payload_bytes.map(|n| n as u64),
        categories: Some(u64::from(load.categories)),
        rate: load.rate.map(u64::from),
        started_at: Some(
            started_at
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default(),
        ),
        figures,
        cpu,
        writes_per_sec,
        batch: (shape.batch_size > 0)
            .then(|| batch_figures(&merged, shape.batch_size, load.duration)),
        namespaces,
        deletion,
        server_resources,
        server: ServerInfo { version, backend },
        machine: machine::describe(load_start, machine::load_average()),
        command: plan.command.clone(),
    })
}

/// `--delete-stream`: deletes `stream` in one `stream.delete` call, marking the call's span in
/// `progress`; returns the stream, the messages removed and the call's wall time in seconds.
async fn delete_stream(
    client: &messagedb_client::Client,
    stream: String,
    progress: &Progress,
) -> anyhow::Result<(String, u64, f64)> {
    let started = Instant::now();
    progress.deletion_started();
    let result = client
        .call(&serde_json::json!(["stream.delete", stream]))
        .await;
    progress.deletion_ended();
    let seconds = started.elapsed().as_secs_f64();
    let result = result.with_context(|| format!("--delete-stream: stream.delete {stream}"))?;
    let deleted = serde_json::from_str::<serde_json::Value>(result.get())?["deleted"]
        .as_u64()
        .context("--delete-stream: stream.delete answered without `deleted`")?;
    Ok((stream, deleted, seconds))
}

/// Messages per call of the `batch` workload (0 for the others, which send one per call).
fn batch_size(load: &LoadArgs) -> u32 {
    match load.workload {
        Workload::Batch => load.batch_size.unwrap_or(batch::DEFAULT_SIZE),
        _ => 0,
    }
}

/// `many-namespaces`' own figures from the merged recorder: every visit writes once, so the
/// visits in the window are the writes recorded (answered or failed).
fn namespace_figures(
    merged: &Recorder,
    count: usize,
    create_time: Duration,
    delete_time: Duration,
) -> report::NamespaceFigures {
    let visits = merged
        .ops
        .get("stream.write")
        .map_or(0, |w| w.completed() + w.errors);
    report::NamespaceFigures {
        namespaces: (count as u64).into(),
        visits: visits.into(),
        passes: round2(visits as f64 / count.max(1) as f64),
        first_request_ms: report::latency(&merged.first_requests),
        first_requests: merged.first_requests.len().into(),
        create_s: round2(create_time.as_secs_f64()),
        delete_s: round2(delete_time.as_secs_f64()),
    }
}

/// `batch`'s own figures: every answered call appended exactly `size` messages (a refused batch
/// appends none, and is counted as an error, not as a call).
fn batch_figures(merged: &Recorder, size: u32, window: Duration) -> report::BatchFigures {
    let calls = merged.ops.get(batch::METHOD).map_or(0, |c| c.completed());
    let messages = calls * u64::from(size);
    report::BatchFigures {
        batch_size: u64::from(size).into(),
        total_messages: messages.into(),
        messages_per_sec: report::round3(messages as f64 / window.as_secs_f64().max(1e-9)),
    }
}

/// CPU time used so far by the server (when its process id is known) and by this process.
struct CpuSnapshot {
    at: Instant,
    server: Option<Duration>,
    generator: Option<Duration>,
}

impl CpuSnapshot {
    fn take(server_pid: Option<u32>) -> CpuSnapshot {
        CpuSnapshot {
            at: Instant::now(),
            server: server_pid.and_then(machine::cpu_time),
            generator: machine::cpu_time(std::process::id()),
        }
    }

    /// `{server,load_generator}_{us_per_op,cores}` between `start` and this snapshot, for
    /// `ops` operations; the figures that cannot be measured are left out.
    fn per_op(&self, start: &CpuSnapshot, ops: u64) -> CpuFigures {
        let window = self.at.duration_since(start.at).as_secs_f64();
        // (µs per operation, cores) of one process, where both snapshots could read its time.
        let figures = |before: Option<Duration>, after: Option<Duration>| {
            let used = after?.saturating_sub(before?).as_secs_f64();
            Some((
                (ops > 0).then(|| round2(used * 1e6 / ops as f64)),
                (window > 0.0).then(|| round2(used / window)),
            ))
        };
        let (server_us_per_op, server_cores) =
            figures(start.server, self.server).unwrap_or_default();
        let (load_generator_us_per_op, load_generator_cores) =
            figures(start.generator, self.generator).unwrap_or_default();
        CpuFigures {
            server_us_per_op,
            server_cores,
            load_generator_us_per_op,
            load_generator_cores,
        }
    }
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// A short tag unique to this run (categories that must start empty include it).
fn run_tag(run: usize) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("{:x}r{run}", nanos % (1 << 40))
}

/// The live progress line: a bar on a terminal, otherwise a line every 5 seconds. Ends when the
/// run is done.
async fn show_progress(
    progress: Arc<Progress>,
    clock: Clock,
    start: Instant,
    (run, runs): (usize, usize),
    mut phase: watch::Receiver<Phase>,
) {
    let total = clock.deadline.duration_since(start);
    let tty = std::io::stderr().is_terminal();
    let bar = tty.then(|| {
        let bar = indicatif::ProgressBar::new(total.as_millis() as u64);
        bar.set_style(
            indicatif::ProgressStyle::with_template("{prefix} [{bar:30}] {elapsed_precise} {msg}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        bar.set_prefix(format!("run {run}/{runs}"));
        bar
    });
    let tick = if tty {
        Duration::from_millis(250)
    } else {
        Duration::from_secs(5)
    };
    let mut last = (Instant::now(), 0u64);
    loop {
        tokio::select! {
            () = tokio::time::sleep(tick) => {}
            _ = phase.wait_for(|p| *p == Phase::Done) => break,
        }
        let now = Instant::now();
        let ops = progress.ops.load(Ordering::Relaxed);
        let errors = progress.errors.load(Ordering::Relaxed);
        let rate = (ops - last.1) as f64 / now.duration_since(last.0).as_secs_f64().max(1e-9);
        last = (now, ops);
        let stage = if now < clock.window_start {
            "warmup"
        } else {
            "measuring"
        };
        let message = format!(
            "{stage}: {} ops/s, {errors} errors",
            report::format_number(rate, 0)
        );
        match &bar {
            Some(bar) => {
                bar.set_position(now.duration_since(start).as_millis() as u64);
                bar.set_message(message);
            }
            None => eprintln!(
                "run {run}/{runs} {:.0}s/{:.0}s {message}",
                now.duration_since(start).as_secs_f64(),
                total.as_secs_f64()
            ),
        }
    }
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
}
