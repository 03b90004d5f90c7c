//! `messagedb version [--full]` (SPEC §11): the crate semver, and with `--full` the commit and the
//! build time that `build.rs` recorded.

use std::ffi::OsString;
use std::process::ExitCode;

use messagedb_core::VERSION;

use crate::cli::USAGE;

/// The commit this binary was built from, or `unknown`.
pub const COMMIT: &str = env!("MESSAGEDB_GIT_COMMIT");
/// When this binary was built (RFC 3339, UTC), or `unknown`.
pub const BUILT: &str = env!("MESSAGEDB_BUILD_TIME");

/// Prints the version; `args` may only be `--full` / `-f`.
pub fn run(args: Vec<OsString>) -> ExitCode {
    let mut detail = Detail::Short;
    for arg in args {
        match arg.to_str() {
            Some("--full" | "-f" | "-full") => detail = Detail::Full,
            _ => {
                eprintln!(
                    "messagedb version: unexpected argument {:?}\n\n{USAGE}",
                    arg.to_string_lossy()
                );
                return ExitCode::from(2);
            }
        }
    }
    print!("{}", render(detail));
    ExitCode::SUCCESS
}

/// How much `version` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Detail {
    Short,
    Full,
}

fn render(detail: Detail) -> String {
    let mut out = format!("messagedb {VERSION}\n");
    if detail == Detail::Full {
        out.push_str(&format!(
            "Version: {VERSION}\nCommit: {COMMIT}\nBuilt: {BUILT}\n"
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_and_full() {
        assert_eq!(render(Detail::Short), format!("messagedb {VERSION}\n"));
        let full = render(Detail::Full);
        let lines: Vec<&str> = full.lines().collect();
        assert_eq!(lines.len(), 4, "{full}");
        assert_eq!(lines[1], format!("Version: {VERSION}"));
        assert!(lines[2].starts_with("Commit: ") && lines[2].len() > "Commit: ".len());
        assert!(lines[3].starts_with("Built: ") && lines[3].len() > "Built: ".len());
    }
}
