//! `messagedb profile`: one command from nothing to a profile bundle.
//!
//! For each run it starts a fresh server ([`server::ChildServer`], with the debug endpoints and
//! the counting allocator on), runs a bench workload against it ([`crate::bench::run_once`]), and
//! meanwhile ([`measure`]), keyed on the run's [`Phase`]: reads the allocation counters when the
//! measurement window opens, records a CPU profile over the middle half of the window, and reads
//! the counters again when it closes. The bundle, `profiles/<UTC timestamp>-<backend>-<workload>/`, holds:
//!
//! * `bench.json`: the bench report (every run, medians, spread);
//! * `cpu.pb` (pprof protobuf) and `cpu.svg` (flamegraph) of the median-throughput run;
//! * `allocations.json`: allocations and bytes in total and per operation by RPC method;
//! * `server.json`: version, configuration, peak RSS;
//! * `README.md`: the summary ([`bundle`]);
//! * with `--runs N > 1`, `runs/<n>/` with each run's own files.

pub mod bundle;
pub mod cpu;
pub mod measure;
pub mod server;

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use messagedb_client::Client;
use messagedb_core::{NamespaceId, Token};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use crate::bench::report::{Report, Run};
use crate::bench::{self, report, LoadArgs, Phase, Plan};
use crate::cli::normalise_flags;
use measure::{
    allocations, cpu_seconds, measure, rss_timeline, status_kib, Allocations, ServerRun,
};
use server::{Backend, ChildServer};

/// `messagedb profile` flags.
#[derive(Debug, Parser)]
#[command(
    name = "messagedb profile",
    about = "Start a messagedb server, run a bench workload against it, and write a profile bundle",
    after_help = "The bundle goes to <output-dir>/<UTC timestamp>-<backend>-<workload>/. Durations are \
                  whole seconds (20) or have a unit (500ms, 20s, 2m)."
)]
pub struct ProfileArgs {
    /// Storage of the profiled server
    #[arg(long, value_enum, default_value_t = Backend::Embedded)]
    pub backend: Backend,
    /// PostgreSQL URL for --backend postgres
    #[arg(long, value_name = "URL")]
    pub db_url: Option<String>,
    #[command(flatten)]
    pub load: LoadArgs,
    /// Repeat the whole measurement N times (a fresh server each time)
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub runs: usize,
    /// Where bundles are written
    #[arg(long, default_value = "profiles", value_name = "DIR")]
    pub output_dir: PathBuf,
    /// The profiled server's --log-level (info, its default, includes the request log)
    #[arg(long, default_value = "info", value_name = "LEVEL")]
    pub server_log_level: String,
    /// Length of the CPU profile, centred in the measured time [default: half of --duration];
    /// 0 takes none (the RSS timeline then shows the server alone, for long memory checks)
    #[arg(long, value_name = "SECONDS")]
    pub cpu_seconds: Option<u64>,
}

impl ProfileArgs {
    /// Seconds of CPU profile per run (0: none).
    fn cpu_profile_seconds(&self) -> u64 {
        self.cpu_seconds
            .unwrap_or_else(|| cpu_seconds(self.load.duration))
    }
}

fn takes_value(name: &str) -> bool {
    bench::takes_value(name)
        || matches!(
            name,
            "backend" | "db-url" | "output-dir" | "server-log-level" | "cpu-seconds"
        )
}

/// Runs `messagedb profile` with the words after `profile`.
pub fn run(args: Vec<OsString>) -> anyhow::Result<ExitCode> {
    let args = normalise_flags(args, takes_value);
    let argv = std::iter::once(OsString::from("messagedb profile")).chain(args);
    let args = match ProfileArgs::try_parse_from(argv) {
        Ok(args) => args,
        Err(err) => {
            let _ = err.print();
            return Ok(ExitCode::from(err.exit_code().clamp(0, 255) as u8));
        }
    };
    let usage = args.load.validate().err().or_else(|| {
        if args.runs == 0 {
            Some("--runs must be at least 1".to_owned())
        } else if args.load.duration < Duration::from_secs(1) {
            Some("--duration must be at least 1s (the CPU profile has a 1 s resolution)".to_owned())
        } else if args.backend == Backend::Postgres && args.db_url.is_none() {
            Some("--backend postgres needs --db-url postgres://…".to_owned())
        } else if args
            .cpu_seconds
            .is_some_and(|n| n > args.load.duration.as_secs())
        {
            Some("--cpu-seconds must not exceed the measured --duration".to_owned())
        } else if args.backend != Backend::Postgres && args.db_url.is_some() {
            Some("--db-url only applies to --backend postgres".to_owned())
        } else {
            None
        }
    });
    if let Some(message) = usage {
        eprintln!("messagedb profile: {message}");
        return Ok(ExitCode::from(2));
    }
    let command = bench::machine::command_line(&std::env::args().collect::<Vec<_>>());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let dir = runtime.block_on(profile(&args, &command))?;
    println!("profile bundle: {}", dir.display());
    Ok(ExitCode::SUCCESS)
}

/// A bundle's `server.json`: the memory figures of every run ([`ServerRun`]), and the server that
/// was profiled.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ServerReport {
    #[serde(flatten)]
    pub report: Report<ServerRun>,
    pub version: String,
    pub backend: String,
    pub configuration: Configuration,
}

/// How the profiled server was started.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Configuration {
    /// `--backend`.
    pub backend: String,
    /// The `messagedb` arguments, a database password redacted (the token is passed apart).
    pub serve_args: Vec<String>,
    pub debug_endpoints: bool,
    pub allocation_counting: bool,
    pub log_level: String,
}

/// What one run produced.
struct RunOutput {
    bench: Run,
    allocations: Allocations,
    server: ServerRun,
    /// The CPU profile, unless `--cpu-seconds 0`.
    cpu: Option<Cpu>,
    version: String,
    backend: String,
    server_args: Vec<String>,
}

/// A CPU profile: the pprof bytes and what they say.
struct Cpu {
    pb: Vec<u8>,
    profile: cpu::CpuProfile,
}

impl Cpu {
    /// Writes `cpu.pb`, `cpu.svg` and `cpu.folded` into `dir`.
    fn write(&self, dir: &Path, title: &str) -> anyhow::Result<()> {
        std::fs::write(dir.join("cpu.pb"), &self.pb)?;
        std::fs::write(dir.join("cpu.svg"), self.profile.flamegraph_svg(title)?)?;
        std::fs::write(dir.join("cpu.folded"), self.profile.folded_text())?;
        Ok(())
    }
}

async fn profile(args: &ProfileArgs, command: &str) -> anyhow::Result<PathBuf> {
    let stamp = time::OffsetDateTime::now_utc()
        .format(time::macros::format_description!(
            "[year][month][day]T[hour][minute][second]Z"
        ))
        .unwrap_or_default();
    let dir = args.output_dir.join(format!(
        "{stamp}-{}-{}",
        args.backend.name(),
        args.load.workload.name()
    ));
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let token = Token::generate(&NamespaceId::default_namespace());
    let mut outputs = Vec::with_capacity(args.runs);
    for run in 1..=args.runs {
        let run_dir = if args.runs > 1 {
            dir.join("runs").join(run.to_string())
        } else {
            dir.clone()
        };
        std::fs::create_dir_all(&run_dir)?;
        let output = profile_run(args, token.expose(), command, (run, args.runs), &run_dir).await?;
        eprintln!(
            "run {run}/{}: {} ops/s, p99 {} ms, {} allocations per operation",
            args.runs,
            report::format_number(output.bench.figures.ops_per_sec, 0),
            output.bench.figures.latency_ms.p99,
            output.allocations.total.as_ref().map_or_else(
                || "no".to_owned(),
                |total| total.allocations_per_op.to_string()
            ),
        );
        if args.runs > 1 {
            write_run_files(&run_dir, &output)?;
        }
        outputs.push(output);
    }
    write_bundle(&dir, args, command, &outputs)?;
    Ok(dir)
}

fn write_run_files(dir: &Path, output: &RunOutput) -> anyhow::Result<()> {
    bench::write_json(&dir.join("bench.json"), &output.bench)?;
    bench::write_json(&dir.join("allocations.json"), &output.allocations)?;
    bench::write_json(&dir.join("server.json"), &output.server)?;
    if let Some(cpu) = &output.cpu {
        cpu.write(dir, "messagedb server CPU")?;
    }
    Ok(())
}

/// The index of the run with the median throughput (the lower middle for an even count).
fn median_run(outputs: &[RunOutput]) -> usize {
    let mut order: Vec<usize> = (0..outputs.len()).collect();
    order.sort_by(|a, b| {
        let x = |i: &usize| outputs[*i].bench.figures.ops_per_sec;
        x(a).total_cmp(&x(b))
    });
    order[(order.len() - 1) / 2]
}

fn write_bundle(
    dir: &Path,
    args: &ProfileArgs,
    command: &str,
    outputs: &[RunOutput],
) -> anyhow::Result<()> {
    let median = median_run(outputs);
    let chosen = &outputs[median];
    let bench_report = report::combine(outputs.iter().map(|o| o.bench.clone()).collect())?;
    let allocations = report::combine(outputs.iter().map(|o| o.allocations.clone()).collect())?;
    let server = ServerReport {
        report: report::combine(outputs.iter().map(|o| o.server.clone()).collect())?,
        version: chosen.version.clone(),
        backend: chosen.backend.clone(),
        configuration: Configuration {
            backend: args.backend.name().to_owned(),
            serve_args: chosen.server_args.clone(),
            debug_endpoints: true,
            allocation_counting: true,
            log_level: args.server_log_level.clone(),
        },
    };
    bench::write_json(&dir.join("bench.json"), &bench_report)?;
    bench::write_json(&dir.join("allocations.json"), &allocations)?;
    bench::write_json(&dir.join("server.json"), &server)?;
    let title = format!(
        "messagedb {} CPU: {} on {}, run {} of {}",
        chosen.version,
        args.load.workload.name(),
        args.backend.name(),
        median + 1,
        outputs.len()
    );
    if let Some(cpu) = &chosen.cpu {
        cpu.write(dir, &title)?;
    }
    let readme = bundle::readme(&bundle::Inputs {
        args,
        command,
        bench: &bench_report,
        allocations: &allocations,
        server: &server,
        cpu: chosen.cpu.as_ref().map(|c| &c.profile),
        cpu_run: median + 1,
    });
    std::fs::write(dir.join("README.md"), readme)?;
    Ok(())
}

async fn profile_run(
    args: &ProfileArgs,
    token: &str,
    command: &str,
    run: (usize, usize),
    run_dir: &Path,
) -> anyhow::Result<RunOutput> {
    let server = ChildServer::start(
        args.backend,
        args.db_url.as_deref(),
        token,
        &args.server_log_level,
        &run_dir.join("server.log"),
    )?;
    let plan = Plan {
        url: server.url.clone(),
        token: Some(token.to_owned()),
        load: args.load.clone(),
        command: command.to_owned(),
        server_pid: Some(server.pid()),
    };
    // No request timeout: the CPU profile request takes as long as the profile.
    let http = reqwest::Client::builder().no_proxy().build()?;
    let debug = Client::with_http_client(http, &server.url, Some(token))?;
    let version = debug.sys_version().await.context("sys.version")?;
    let backend = debug.sys_health().await.context("sys.health")?.backend;
    let (phase_tx, phase_rx) = watch::channel(Phase::Preparing);
    let bench_run = async {
        let result = bench::run_once(&plan, run, &phase_tx).await;
        phase_tx.send_replace(Phase::Done);
        result
    };
    let pid = server.pid();
    let (bench_result, measured, timeline) = tokio::join!(
        bench_run,
        measure(
            &debug,
            phase_rx.clone(),
            args.load.duration,
            args.cpu_profile_seconds(),
            pid
        ),
        rss_timeline(pid, phase_rx),
    );
    let bench_figures = bench_result?;
    let measured = measured?;
    let server_run = ServerRun {
        peak_rss_bytes: measured.peak_rss_before_cpu_profile.map(Into::into),
        peak_rss_with_profiler_bytes: measured
            .cpu_pb
            .as_ref()
            .and(status_kib(pid, "VmHWM"))
            .map(Into::into),
        rss_end_bytes: status_kib(pid, "VmRSS").map(Into::into),
        threads_end: measured.after.memory.get("threads").map(|&n| n.into()),
        rss_timeline: Some(timeline),
    };
    // The token is passed apart from `args`; a database password is hidden here.
    let server_args = redact_password(&server.args);
    server.stop()?;
    let cpu = match measured.cpu_pb {
        Some(pb) => Some(Cpu {
            profile: cpu::analyse(&pb)?,
            pb,
        }),
        None => None,
    };
    // The allocation figures leave out the CPU profile's interval (see `Measured`).
    let window = args.load.duration.as_secs_f64() - args.cpu_profile_seconds() as f64;
    Ok(RunOutput {
        allocations: allocations(&measured.segments, window),
        bench: bench_figures,
        server: server_run,
        cpu,
        version,
        backend,
        server_args,
    })
}

/// The serve arguments with the password of a `--db-url` replaced by `REDACTED`.
fn redact_password(args: &[String]) -> Vec<String> {
    let mut out = args.to_vec();
    for i in 1..out.len() {
        if out[i - 1] == "--db-url" {
            if let Ok(mut url) = url::Url::parse(&out[i]) {
                if url.password().is_some() && url.set_password(Some("REDACTED")).is_ok() {
                    out[i] = url.to_string();
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_passwords_stay_out_of_the_bundle() {
        let args: Vec<String> = [
            "serve",
            "--db-url",
            "postgres://me:s3cret@db:5432/x",
            "--port",
            "0",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        let shown = redact_password(&args).join(" ");
        assert_eq!(
            shown,
            "serve --db-url postgres://me:REDACTED@db:5432/x --port 0"
        );
        let plain = ["--db-url".to_owned(), "postgres://db/x".to_owned()];
        assert_eq!(redact_password(&plain), plain);
    }
}
