//! `messagedb export` (SPEC §12.1): pages through a namespace over the public RPC API and writes
//! one §9.2 record per line, in ascending global position.
//!
//! Only `category.get` (and `ns.info` for the progress percentage) is used, so it works against
//! EventoDB 0.7 too. Several `--categories` page the whole namespace (`""`) and filter, which
//! keeps the output in global order without a merge. Every value is copied as the raw JSON text
//! the server sent (`RawValue`): payloads of any JSON type and times of any precision come out
//! byte for byte as received, and nothing is re-serialised.

use std::ffi::OsString;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{anyhow, bail, Context};
use clap::Parser;
use messagedb_core::Timestamp;
use serde_json::value::RawValue;

use crate::cli::normalise_flags;

/// Records per page.
const PAGE: u32 = 1000;

/// Per-request timeout, and how often an idempotent read is tried.
const TIMEOUT: Duration = Duration::from_secs(30);
const ATTEMPTS: u32 = 3;

#[derive(Debug, Parser)]
#[command(
    name = "messagedb export",
    about = "Export a namespace as NDJSON records (SPEC §12.1)"
)]
pub struct ExportArgs {
    /// Server base URL
    #[arg(long)]
    url: String,
    /// Token of the namespace to export
    #[arg(long)]
    token: String,
    /// Comma-separated categories (default: all)
    #[arg(long)]
    categories: Option<String>,
    /// Keep messages at or after this time (RFC 3339 or YYYY-MM-DD)
    #[arg(long, value_parser = bound)]
    since: Option<Timestamp>,
    /// Keep messages before this time (RFC 3339 or YYYY-MM-DD)
    #[arg(long, value_parser = bound)]
    until: Option<Timestamp>,
    /// Gzip the output
    #[arg(long)]
    gzip: bool,
    /// Output file (default stdout); written to <file>.partial, then renamed
    #[arg(long)]
    output: Option<PathBuf>,
}

/// `--since` / `--until`: RFC 3339, or a date meaning UTC midnight.
pub fn bound(text: &str) -> Result<Timestamp, String> {
    let full = if text.len() == 10 {
        format!("{text}T00:00:00Z")
    } else {
        text.to_owned()
    };
    Timestamp::parse_rfc3339(&full).map_err(|e| format!("not RFC 3339 or YYYY-MM-DD: {e}"))
}

fn takes_value(name: &str) -> bool {
    matches!(
        name,
        "url" | "token" | "categories" | "since" | "until" | "output"
    )
}

pub fn run(args: Vec<OsString>) -> anyhow::Result<ExitCode> {
    let argv = std::iter::once(OsString::from("messagedb export"))
        .chain(normalise_flags(args, takes_value));
    let args = match ExportArgs::try_parse_from(argv) {
        Ok(args) => args,
        Err(err) => {
            let _ = err.print();
            return Ok(ExitCode::from(err.exit_code().clamp(0, 255) as u8));
        }
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(export(args))?;
    Ok(ExitCode::SUCCESS)
}

/// Where records go: stdout or `<file>.partial`, optionally gzipped.
type Sink = Box<dyn Write>;

async fn export(args: ExportArgs) -> anyhow::Result<()> {
    let url = args.url.trim_end_matches('/').to_owned();
    let client = reqwest::Client::builder().timeout(TIMEOUT).build()?;
    let rpc = Rpc {
        client,
        url: format!("{url}/rpc"),
        token: args.token.clone(),
    };
    let categories: Vec<String> = args
        .categories
        .as_deref()
        .map(|c| {
            c.split(',')
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
                .collect()
        })
        .unwrap_or_default();
    let paged = match categories.as_slice() {
        [one] => one.clone(),
        _ => String::new(),
    };
    let partial = args.output.as_ref().map(|o| {
        let mut name = o.clone().into_os_string();
        name.push(".partial");
        PathBuf::from(name)
    });
    let file: Sink = match &partial {
        Some(path) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?,
        )),
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    };
    let mut out: Sink = if args.gzip {
        Box::new(flate2::write::GzEncoder::new(
            file,
            flate2::Compression::default(),
        ))
    } else {
        file
    };
    let progress = Progress::start(&rpc).await;
    let mut position: i64 = 1;
    let mut exported: u64 = 0;
    let mut line = String::new();
    loop {
        let body =
            serde_json::json!(["category.get", paged, {"position": position, "batchSize": PAGE}]);
        let text = rpc.call(&body).await?;
        let page: Vec<Vec<&RawValue>> =
            serde_json::from_str(&text).context("unexpected category.get result")?;
        if page.is_empty() {
            break;
        }
        for message in &page {
            let [id, stream, ty, pos, gpos, data, meta, time] = message.as_slice() else {
                bail!("unexpected message shape in category.get result");
            };
            let gpos_value: i64 = serde_json::from_str(gpos.get())?;
            position = gpos_value + 1;
            let stream_name: String = serde_json::from_str(stream.get())?;
            if categories.len() > 1
                && !categories
                    .iter()
                    .any(|c| c == messagedb_core::category(&stream_name))
            {
                continue;
            }
            if args.since.is_some() || args.until.is_some() {
                let t: String = serde_json::from_str(time.get())?;
                let t = Timestamp::parse_rfc3339(&t)
                    .map_err(|e| anyhow!("unexpected time {t:?}: {e}"))?;
                if args.since.is_some_and(|s| t < s) || args.until.is_some_and(|u| t >= u) {
                    continue;
                }
            }
            line.clear();
            line.push_str("{\"id\":");
            for (key, value) in [
                ("", id),
                ("stream", stream),
                ("type", ty),
                ("pos", pos),
                ("gpos", gpos),
                ("data", data),
                ("meta", meta),
                ("time", time),
            ] {
                if !key.is_empty() {
                    line.push_str(",\"");
                    line.push_str(key);
                    line.push_str("\":");
                }
                line.push_str(value.get());
            }
            line.push_str("}\n");
            out.write_all(line.as_bytes())?;
            exported += 1;
        }
        progress.update(exported);
    }
    out.flush()?;
    drop(out);
    if let (Some(partial), Some(output)) = (&partial, &args.output) {
        std::fs::rename(partial, output)
            .with_context(|| format!("renaming {} to {}", partial.display(), output.display()))?;
    }
    progress.finish();
    eprintln!("Exported: {exported} events total");
    Ok(())
}

/// Authenticated RPC calls with the per-request timeout and retries of reads.
struct Rpc {
    client: reqwest::Client,
    url: String,
    token: String,
}

impl Rpc {
    /// The result text of a successful call; `HTTP <code>: <body>` otherwise.
    async fn call(&self, body: &serde_json::Value) -> anyhow::Result<String> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let sent = self
                .client
                .post(&self.url)
                .bearer_auth(&self.token)
                .json(body)
                .send()
                .await;
            let response = match sent {
                Ok(response) => response,
                Err(e) if attempt < ATTEMPTS => {
                    tracing::debug!(error = %e, "retrying a read");
                    continue;
                }
                Err(e) => return Err(anyhow!("request to {} failed: {e}", self.url)),
            };
            let status = response.status();
            let text = match response.text().await {
                Ok(text) => text,
                Err(_) if attempt < ATTEMPTS => continue,
                Err(e) => return Err(anyhow!("reading the response failed: {e}")),
            };
            if status != reqwest::StatusCode::OK {
                bail!("HTTP {}: {}", status.as_u16(), text.trim_end());
            }
            return Ok(text);
        }
    }
}

/// Progress on stderr: a bar (with a percentage when `ns.info` gives the total) on a terminal,
/// occasional lines otherwise.
enum Progress {
    Bar(indicatif::ProgressBar),
    Lines {
        every: u64,
        next: std::cell::Cell<u64>,
    },
}

impl Progress {
    async fn start(rpc: &Rpc) -> Progress {
        if !std::io::stderr().is_terminal() {
            return Progress::Lines {
                every: 10_000,
                next: std::cell::Cell::new(10_000),
            };
        }
        let total = match messagedb_core::Token::parse(&rpc.token) {
            Ok(token) => rpc
                .call(&serde_json::json!(["ns.info", token.namespace()]))
                .await
                .ok()
                .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
                .and_then(|v| v["messageCount"].as_u64()),
            Err(_) => None,
        };
        let bar = match total {
            Some(total) => indicatif::ProgressBar::new(total).with_style(
                indicatif::ProgressStyle::with_template(
                    "{bar:40} {percent}% {pos}/{len} events ({per_sec})",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            ),
            None => indicatif::ProgressBar::new_spinner().with_style(
                indicatif::ProgressStyle::with_template("{spinner} {pos} events ({per_sec})")
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
            ),
        };
        Progress::Bar(bar)
    }

    fn update(&self, exported: u64) {
        match self {
            Progress::Bar(bar) => bar.set_position(exported),
            Progress::Lines { every, next } => {
                if exported >= next.get() {
                    eprintln!("Exported: {exported} events...");
                    next.set(exported - exported % every + every);
                }
            }
        }
    }

    fn finish(&self) {
        if let Progress::Bar(bar) = self {
            bar.finish_and_clear();
        }
    }
}
