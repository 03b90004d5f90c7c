//! Log setup (SPEC §11.2): `tracing` records to stderr, human-readable or one JSON object per line.
//!
//! Stdout stays free for command output (`export` writes records there). Both settings are lenient
//! by design, as EventoDB's were: an unknown level means `info` and an unknown format means `json`,
//! so a typo never stops a server from starting, it only changes how the logs look.

use std::io::IsTerminal;

use tracing::level_filters::LevelFilter;

/// `--log-level`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogLevel {
    Debug,
    Info,
    Warn,
    Error,
}

impl LogLevel {
    /// `debug`, `info`, `warn` or `error` (any case); anything else is `info`.
    pub fn parse(text: &str) -> LogLevel {
        match text.to_ascii_lowercase().as_str() {
            "debug" => LogLevel::Debug,
            "warn" => LogLevel::Warn,
            "error" => LogLevel::Error,
            _ => LogLevel::Info,
        }
    }

    fn filter(self) -> LevelFilter {
        match self {
            LogLevel::Debug => LevelFilter::DEBUG,
            LogLevel::Info => LevelFilter::INFO,
            LogLevel::Warn => LevelFilter::WARN,
            LogLevel::Error => LevelFilter::ERROR,
        }
    }
}

/// `--log-format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines: `<time> <LEVEL> <target>: <message> key=value…`.
    Console,
    /// One JSON object per line, with the event's fields at the top level.
    Json,
}

impl LogFormat {
    /// `console` (any case) is [`LogFormat::Console`]; anything else is [`LogFormat::Json`].
    pub fn parse(text: &str) -> LogFormat {
        if text.eq_ignore_ascii_case("console") {
            LogFormat::Console
        } else {
            LogFormat::Json
        }
    }
}

/// Installs the global subscriber. Called once, before anything logs.
pub fn init(level: LogLevel, format: LogFormat) {
    let builder = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_max_level(level.filter());
    // `try_init` fails only if a subscriber is already installed, which would be a programming
    // error in `main`; keeping the first one is the harmless reaction.
    let _ = match format {
        LogFormat::Console => builder
            .with_ansi(std::io::stderr().is_terminal())
            .try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(false)
            .try_init(),
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_values_fall_back() {
        assert_eq!(LogLevel::parse("debug"), LogLevel::Debug);
        assert_eq!(LogLevel::parse("WARN"), LogLevel::Warn);
        assert_eq!(LogLevel::parse("error"), LogLevel::Error);
        assert_eq!(LogLevel::parse("verbose"), LogLevel::Info);
        assert_eq!(LogFormat::parse("console"), LogFormat::Console);
        assert_eq!(LogFormat::parse("json"), LogFormat::Json);
        assert_eq!(LogFormat::parse("xyz"), LogFormat::Json);
    }
}
