//! `messagedb import` (SPEC §12.2): streams an export (a file, stdin, optionally gzipped) to
//! `POST <url>/import` and reports the server's progress events.
//!
//! The input is read on a blocking thread in 64 KiB chunks and handed to the upload through a
//! small channel, so memory stays constant whatever the file size, and the upload has no
//! timeout. `--force` asks for confirmation first unless `--yes` is given; the answer comes from
//! stdin when the data is in a file, and from the controlling terminal when the data is on stdin.

use std::ffi::OsString;
use std::io::{BufRead, IsTerminal, Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{anyhow, bail, Context};
use clap::Parser;
use serde::Deserialize;
use tokio::sync::mpsc;

use crate::cli::normalise_flags;

const CHUNK: usize = 64 * 1024;

#[derive(Debug, Parser)]
#[command(
    name = "messagedb import",
    about = "Import NDJSON records into a namespace (SPEC §12.2)"
)]
pub struct ImportArgs {
    /// Server base URL
    #[arg(long)]
    url: String,
    /// Token of the namespace to import into
    #[arg(long)]
    token: String,
    /// Input file (default stdin)
    #[arg(long)]
    input: Option<PathBuf>,
    /// The input is gzip-compressed
    #[arg(long)]
    gzip: bool,
    /// Delete the namespace's messages first
    #[arg(long)]
    force: bool,
    /// Do not ask for confirmation
    #[arg(long)]
    yes: bool,
}

fn takes_value(name: &str) -> bool {
    matches!(name, "url" | "token" | "input")
}

pub fn run(args: Vec<OsString>) -> anyhow::Result<ExitCode> {
    let argv = std::iter::once(OsString::from("messagedb import"))
        .chain(normalise_flags(args, takes_value));
    let args = match ImportArgs::try_parse_from(argv) {
        Ok(args) => args,
        Err(err) => {
            let _ = err.print();
            return Ok(ExitCode::from(err.exit_code().clamp(0, 255) as u8));
        }
    };
    if args.force && !args.yes && !confirmed(args.input.is_some())? {
        eprintln!("Import cancelled.");
        return Ok(ExitCode::SUCCESS);
    }
    let input: Box<dyn Read + Send> = match &args.input {
        Some(path) => Box::new(
            std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?,
        ),
        None => Box::new(std::io::stdin()),
    };
    let input: Box<dyn Read + Send> = if args.gzip {
        Box::new(flate2::read::MultiGzDecoder::new(std::io::BufReader::new(
            input,
        )))
    } else {
        input
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(upload(&args, input))?;
    Ok(ExitCode::SUCCESS)
}

/// Asks before a forced import; `Ok(false)` when the answer is not yes.
fn confirmed(data_in_file: bool) -> anyhow::Result<bool> {
    let mut answer = String::new();
    if data_in_file {
        prompt();
        std::io::stdin().lock().read_line(&mut answer)?;
    } else {
        let Ok(tty) = std::fs::File::open("/dev/tty") else {
            bail!("--force with data on stdin requires --yes");
        };
        prompt();
        std::io::BufReader::new(tty).read_line(&mut answer)?;
    }
    Ok(matches!(
        answer.trim().to_ascii_lowercase().as_str(),
        "y" | "yes"
    ))
}

fn prompt() {
    let mut err = std::io::stderr();
    let _ = write!(
        err,
        "WARNING: --force deletes every message of the namespace before importing.\n\
         Are you sure you want to continue? [y/N]: "
    );
    let _ = err.flush();
}

/// One server event (§9.1).
#[derive(Deserialize)]
struct Event {
    imported: Option<u64>,
    gpos: Option<i64>,
    done: Option<bool>,
    elapsed: Option<String>,
    error: Option<String>,
    message: Option<String>,
    line: Option<u64>,
}

async fn upload(args: &ImportArgs, mut input: Box<dyn Read + Send>) -> anyhow::Result<()> {
    let (chunks, received) = mpsc::channel::<std::io::Result<Vec<u8>>>(4);
    std::thread::spawn(move || loop {
        let mut buf = vec![0; CHUNK];
        match input.read(&mut buf) {
            Ok(0) => return,
            Ok(n) => {
                buf.truncate(n);
                if chunks.blocking_send(Ok(buf)).is_err() {
                    return;
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => {
                let _ = chunks.blocking_send(Err(e));
                return;
            }
        }
    });
    let body = futures::stream::unfold(received, |mut r| async move {
        r.recv().await.map(|chunk| (chunk, r))
    });
    let mut url = format!("{}/import", args.url.trim_end_matches('/'));
    if args.force {
        url.push_str("?force=true");
    }
    let client = reqwest::Client::builder().build()?;
    let mut response = client
        .post(&url)
        .bearer_auth(&args.token)
        .header("content-type", "application/x-ndjson")
        .body(reqwest::Body::wrap_stream(body))
        .send()
        .await
        .map_err(|e| anyhow!("request to {url} failed: {e}"))?;
    let status = response.status();
    if status != reqwest::StatusCode::OK {
        let text = response.text().await.unwrap_or_default();
        bail!(
            "server error (HTTP {}): {}",
            status.as_u16(),
            text.trim_end()
        );
    }
    let bar = std::io::stderr().is_terminal().then(|| {
        indicatif::ProgressBar::new_spinner().with_style(
            indicatif::ProgressStyle::with_template("{spinner} {pos} events ({per_sec}) {msg}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
        )
    });
    let mut pending: Vec<u8> = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| anyhow!("reading the server's events failed: {e}"))?
    {
        pending.extend_from_slice(&chunk);
        while let Some(end) = pending.windows(2).position(|w| w == b"\n\n") {
            let block: Vec<u8> = pending.drain(..end + 2).collect();
            let text = std::str::from_utf8(&block)?.trim_end();
            let Some(json) = text.strip_prefix("data: ") else {
                continue;
            };
            let event: Event = serde_json::from_str(json)
                .with_context(|| format!("unexpected event from the server: {json}"))?;
            if let Some(code) = event.error {
                if let Some(bar) = &bar {
                    bar.finish_and_clear();
                }
                let message = event.message.unwrap_or_default();
                match event.line {
                    Some(line) => bail!("{code}: {message} (line {line})"),
                    None => bail!("{code}: {message}"),
                }
            }
            let imported = event.imported.unwrap_or(0);
            if event.done == Some(true) {
                if let Some(bar) = &bar {
                    bar.finish_and_clear();
                }
                let elapsed = event.elapsed.unwrap_or_default();
                eprintln!("Imported: {imported} events in {elapsed}");
                return Ok(());
            }
            let gpos = event.gpos.unwrap_or(0);
            match &bar {
                Some(bar) => {
                    bar.set_position(imported);
                    bar.set_message(format!("gpos {gpos}"));
                }
                None => eprintln!("Imported: {imported} events (gpos: {gpos})..."),
            }
        }
    }
    bail!("the server ended the import without a result")
}
