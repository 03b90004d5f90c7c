//! The top-level command line (SPEC §11): which command runs, and the flag-syntax normalisation
//! every command shares.
//!
//! The first argument picks the command. Flags alone (a first argument starting with `-`) mean
//! `serve`, because EventoDB tooling starts the server as `<bin> -port 6789 -test-mode …`. Go-style
//! single-dash long flags (`-port 6789`, `-port=6789`) are rewritten to clap's `--port` form before
//! clap sees them; see [`normalise_flags`].

use std::ffi::OsString;

/// What the command line asks for.
#[derive(Debug, PartialEq, Eq)]
pub enum Command {
    /// `messagedb`, `help`, `--help`, `-h`.
    Help,
    /// `version`, `--version`, `-v`; the rest of the arguments are the version flags.
    Version(Vec<OsString>),
    /// `serve [flags]`, or flags only; the rest of the arguments are the serve flags.
    Serve(Vec<OsString>),
    /// `bench [flags]` or `bench compare BASE NEW`; the rest of the arguments.
    Bench(Vec<OsString>),
    /// `profile [flags]`; the rest of the arguments.
    Profile(Vec<OsString>),
    /// `export [flags]`; the rest of the arguments.
    Export(Vec<OsString>),
    /// `import [flags]`; the rest of the arguments.
    Import(Vec<OsString>),
    /// Any other first word: a usage error.
    Unknown(String),
}

/// The top-level usage text.
pub const USAGE: &str = "\
messagedb: a multi-tenant message store, wire-compatible with EventoDB 0.7

Usage:
  messagedb serve [flags]      run the server (flags alone, e.g. `messagedb -port 8080`, also do)
  messagedb version [--full]   print the version (--full adds the commit and build time)
  messagedb bench [flags]      generate load against a server and report throughput and latency
  messagedb bench compare BASE NEW [--fail-on-regression 5%]   compare two results
  messagedb profile [flags]    start a server, load it, and write a profile bundle
  messagedb export --url U --token T [--categories a,b] [--since D] [--until D] [--gzip] [--output F]
  messagedb import --url U --token T [--input F] [--gzip] [--force [--yes]]
  messagedb help               print this help

Run `messagedb serve --help` for the server's flags. Every flag --x-y can also be set with the
environment variable MESSAGEDB_X_Y (or its EventoDB alias EVENTODB_X_Y).
";

impl Command {
    /// Classifies `args`, the command line without the program name.
    pub fn parse(args: Vec<OsString>) -> Command {
        let mut args = args.into_iter();
        let Some(first) = args.next() else {
            return Command::Help;
        };
        let rest: Vec<OsString> = args.collect();
        match first.to_str() {
            Some("help" | "--help" | "-h" | "-help") => Command::Help,
            Some("version" | "--version" | "-v" | "-version") => Command::Version(rest),
            Some("serve") => Command::Serve(rest),
            Some("bench") => Command::Bench(rest),
            Some("profile") => Command::Profile(rest),
            Some("export") => Command::Export(rest),
            Some("import") => Command::Import(rest),
            Some(flag) if flag.starts_with('-') => {
                let mut all = Vec::with_capacity(rest.len() + 1);
                all.push(first);
                all.extend(rest);
                Command::Serve(all)
            }
            _ => Command::Unknown(first.to_string_lossy().into_owned()),
        }
    }
}

/// Rewrites single-dash long flags (`-port`, `-port=1`) to `--port`, `--port=1` for clap.
///
/// Only arguments in flag position are touched: the word after a flag that takes a separate value
/// is that value and is passed through as is, even if it starts with `-`. `takes_value` says
/// whether a long flag name (without dashes) consumes the next word; booleans do not (they only
/// take `--flag=value`), which is what stops `-test-mode serve` from eating `serve`. Single-letter
/// flags (`-h`) and `--` are left alone, as is everything after `--`.
pub fn normalise_flags(args: Vec<OsString>, takes_value: impl Fn(&str) -> bool) -> Vec<OsString> {
    let mut out = Vec::with_capacity(args.len());
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let Some(text) = arg.to_str() else {
            out.push(arg);
            continue;
        };
        if text == "--" {
            out.push(arg);
            out.extend(args.by_ref());
            break;
        }
        let long = if let Some(body) = text.strip_prefix("--") {
            Some(body.to_owned())
        } else if let Some(body) = text.strip_prefix('-') {
            let name_len = body.find('=').unwrap_or(body.len());
            let is_long_name = name_len >= 2 && body.starts_with(|c: char| c.is_ascii_alphabetic());
            is_long_name.then(|| body.to_owned())
        } else {
            None
        };
        let Some(body) = long else {
            out.push(arg);
            continue;
        };
        let has_inline_value = body.contains('=');
        let name = body.split('=').next().unwrap_or_default().to_owned();
        out.push(OsString::from(format!("--{body}")));
        if !has_inline_value && takes_value(&name) {
            if let Some(value) = args.next() {
                out.push(value);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(args: &[&str]) -> Vec<OsString> {
        args.iter().map(OsString::from).collect()
    }

    #[test]
    fn commands() {
        assert_eq!(Command::parse(os(&[])), Command::Help);
        for help in ["help", "--help", "-h"] {
            assert_eq!(Command::parse(os(&[help])), Command::Help, "{help}");
        }
        for version in ["version", "--version", "-v"] {
            assert_eq!(
                Command::parse(os(&[version, "--full"])),
                Command::Version(os(&["--full"])),
                "{version}"
            );
        }
        assert_eq!(
            Command::parse(os(&["serve", "--port", "1"])),
            Command::Serve(os(&["--port", "1"]))
        );
        assert_eq!(
            Command::parse(os(&["-port", "1"])),
            Command::Serve(os(&["-port", "1"]))
        );
        assert_eq!(
            Command::parse(os(&["frobnicate"])),
            Command::Unknown("frobnicate".into())
        );
    }

    #[test]
    fn single_dash_long_flags_become_double_dash() {
        let takes_value = |name: &str| matches!(name, "port" | "token" | "data-dir" | "db-url");
        let args = os(&[
            "-port",
            "6789",
            "-token",
            "T",
            "-db-url",
            "sqlite://:memory:",
            "-data-dir",
            "/tmp/x",
            "-test-mode",
        ]);
        assert_eq!(
            normalise_flags(args, takes_value),
            os(&[
                "--port",
                "6789",
                "--token",
                "T",
                "--db-url",
                "sqlite://:memory:",
                "--data-dir",
                "/tmp/x",
                "--test-mode",
            ])
        );
        assert_eq!(
            normalise_flags(os(&["-port=1", "--metrics=false", "-h"]), takes_value),
            os(&["--port=1", "--metrics=false", "-h"])
        );
    }

    #[test]
    fn values_are_never_rewritten() {
        let takes_value = |name: &str| name == "data-dir";
        assert_eq!(
            normalise_flags(os(&["-data-dir", "-odd", "-test-mode"]), takes_value),
            os(&["--data-dir", "-odd", "--test-mode"])
        );
        // A boolean does not take the next word, so it stays a (rejected) positional.
        assert_eq!(
            normalise_flags(os(&["-test-mode", "false"]), takes_value),
            os(&["--test-mode", "false"])
        );
        assert_eq!(
            normalise_flags(os(&["--", "-port"]), takes_value),
            os(&["--", "-port"])
        );
        assert_eq!(normalise_flags(os(&["-1"]), takes_value), os(&["-1"]));
    }
}
