//! The `messagedb` command: `serve` (the default when only flags are given), `version`, `export`
//! and `import` (NDJSON backups over HTTP, SPEC §12), `bench` (the load generator, and `bench
//! compare`), `profile` (a profiled child server and its bundle) and `help`.
//!
//! `main` only maps the outcome of [`run`] to an exit code (SPEC §11.2): 0 for success, 1 for a
//! startup or fatal error (printed as `Error: <message>` on stderr), 2 for a usage error. Each
//! command lives in its own module; adding one means adding a [`cli::Command`] variant, its module
//! and one arm in [`run`].

mod bench;
mod cli;
mod export;
mod import;
mod logging;
mod profile;
mod serve;
mod settings;
mod signals;
mod version;

use std::ffi::OsString;
use std::process::ExitCode;

use cli::{Command, USAGE};

// The system allocator plus counters that only `messagedb profile`'s server turns on; while off
// they cost one relaxed atomic load per allocation.
#[global_allocator]
static ALLOCATOR: messagedb_alloc::CountingAllocator = messagedb_alloc::CountingAllocator;

fn main() -> ExitCode {
    messagedb_alloc::enable_from_env();
    match run() {
        Ok(code) => code,
        Err(err) => {
            eprintln!("Error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> anyhow::Result<ExitCode> {
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    match Command::parse(args) {
        Command::Help => {
            print!("{USAGE}");
            Ok(ExitCode::SUCCESS)
        }
        Command::Version(args) => Ok(version::run(args)),
        Command::Serve(args) => serve::run(args),
        Command::Bench(args) => bench::run(args),
        Command::Profile(args) => profile::run(args),
        Command::Export(args) => export::run(args),
        Command::Import(args) => import::run(args),
        Command::Unknown(word) => {
            eprintln!("messagedb: unknown command {word:?}\n\n{USAGE}");
            Ok(ExitCode::from(2))
        }
    }
}
