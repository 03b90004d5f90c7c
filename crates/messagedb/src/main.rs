//! The `messagedb` command: `serve` (the default when only flags are given), `version` and `help`.
//!
//! `main` only maps the outcome of [`run`] to an exit code (SPEC §11.2): 0 for success, 1 for a
//! startup or fatal error (printed as `Error: <message>` on stderr), 2 for a usage error. Each
//! command lives in its own module; adding one (`export`, `import`, `bench`, …) means adding a
//! [`cli::Command`] variant, its module and one arm in [`run`].

mod cli;
mod logging;
mod serve;
mod settings;
mod signals;
mod version;

use std::ffi::OsString;
use std::process::ExitCode;

use cli::{Command, USAGE};

fn main() -> ExitCode {
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
        Command::Unknown(word) => {
            eprintln!("messagedb: unknown command {word:?}\n\n{USAGE}");
            Ok(ExitCode::from(2))
        }
    }
}
