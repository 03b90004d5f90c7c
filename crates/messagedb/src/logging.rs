//! Log setup (SPEC §11.2): `tracing` records to stderr, human-readable or one JSON object per line.
//!
//! Stdout stays free for command output (`export` writes records there). Both settings are lenient
//! by design, as EventoDB's were: an unknown level means `info` and an unknown format means `json`,
//! so a typo never stops a server from starting, it only changes how the logs look.

use std::io::{IsTerminal, Write};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tracing::level_filters::LevelFilter;
use tracing::{Level, Metadata};
use tracing_subscriber::fmt::MakeWriter;

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
        .with_writer(LogWriter::start())
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

/// The target of the per-request log records (SPEC §11.2), the only ones written in batches.
const REQUEST_LOG_TARGET: &str = messagedb_server::REQUEST_LOG_TARGET;

/// How long a request-log record may wait in memory before it reaches stderr.
const FLUSH_INTERVAL: Duration = Duration::from_millis(50);

/// Pending request-log bytes beyond which the record that crosses it writes them out at once.
const FLUSH_BYTES: usize = 64 * 1024;

/// stderr, with the request log written in batches.
///
/// A server logs one record per request; writing each with its own `write` system call cost
/// about 4 % of the server's CPU under load. So info-level request records are appended to a
/// buffer that a background thread writes out every [`FLUSH_INTERVAL`] (or the record crossing
/// [`FLUSH_BYTES`] does). Every other record (startup, warnings, errors, `Server stopped`) writes
/// the pending records and then itself at once, so records keep their order and nothing before
/// a shutdown is left behind. What a `kill -9` can lose is at most the last
/// [`FLUSH_INTERVAL`] of request records.
#[derive(Clone)]
struct LogWriter {
    pending: Arc<Mutex<Vec<u8>>>,
    /// Whether the flusher thread runs; without it every record is written through.
    batching: bool,
    /// Where the bytes go: stderr (tests capture them).
    sink: Arc<Sink>,
}

type Sink = dyn Fn(&[u8]) + Send + Sync;

impl LogWriter {
    fn start() -> LogWriter {
        let mut writer = LogWriter::new(|bytes: &[u8]| {
            // Nowhere to report a failed write to stderr; the bytes are dropped either way.
            let _ = std::io::stderr().lock().write_all(bytes);
        });
        let flusher = writer.clone();
        let started = std::thread::Builder::new()
            .name("messagedb-log".to_owned())
            .spawn(move || loop {
                std::thread::sleep(FLUSH_INTERVAL);
                flusher.append(b"", true);
            });
        writer.batching = started.is_ok();
        writer
    }

    fn new(sink: impl Fn(&[u8]) + Send + Sync + 'static) -> LogWriter {
        LogWriter {
            pending: Arc::new(Mutex::new(Vec::with_capacity(FLUSH_BYTES))),
            batching: true,
            sink: Arc::new(sink),
        }
    }

    /// Appends `bytes`; with `flush`, writes out everything pending (the lock is held during
    /// the write, which is what keeps records in order).
    fn append(&self, bytes: &[u8], flush: bool) {
        let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        pending.extend_from_slice(bytes);
        if (flush || pending.len() >= FLUSH_BYTES) && !pending.is_empty() {
            (self.sink)(&pending);
            pending.clear();
        }
    }
}

/// One record on its way to stderr.
struct Record<'a> {
    writer: &'a LogWriter,
    batched: bool,
}

impl Write for Record<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.writer.append(buf, !self.batched);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for LogWriter {
    type Writer = Record<'a>;

    fn make_writer(&'a self) -> Record<'a> {
        Record {
            writer: self,
            batched: false,
        }
    }

    fn make_writer_for(&'a self, meta: &Metadata<'_>) -> Record<'a> {
        Record {
            writer: self,
            // `Level` orders by verbosity: INFO and DEBUG are >= INFO, WARN and ERROR are not.
            batched: self.batching
                && meta.target() == REQUEST_LOG_TARGET
                && *meta.level() >= Level::INFO,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn capturing() -> (LogWriter, Arc<Mutex<Vec<u8>>>) {
        let out = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&out);
        let writer =
            LogWriter::new(move |bytes: &[u8]| sink.lock().unwrap().extend_from_slice(bytes));
        (writer, out)
    }

    fn record(writer: &LogWriter, batched: bool, text: &str) {
        let mut record = Record { writer, batched };
        record.write_all(text.as_bytes()).unwrap();
    }

    #[test]
    fn request_records_wait_and_others_write_everything_in_order() {
        let (writer, out) = capturing();
        record(&writer, true, "request 1\n");
        record(&writer, true, "request 2\n");
        assert!(
            out.lock().unwrap().is_empty(),
            "request records are batched"
        );
        record(&writer, false, "Server stopped\n");
        assert_eq!(
            String::from_utf8(out.lock().unwrap().clone()).unwrap(),
            "request 1\nrequest 2\nServer stopped\n"
        );
        record(&writer, true, "request 3\n");
        writer.append(b"", true); // what the flusher thread does
        assert!(String::from_utf8(out.lock().unwrap().clone())
            .unwrap()
            .ends_with("Server stopped\nrequest 3\n"));
    }

    #[test]
    fn a_full_batch_is_written_at_once() {
        let (writer, out) = capturing();
        let line = format!("{}\n", "x".repeat(99));
        for _ in 0..FLUSH_BYTES / line.len() {
            record(&writer, true, &line);
        }
        assert!(out.lock().unwrap().is_empty());
        record(&writer, true, &line);
        assert_eq!(
            out.lock().unwrap().len(),
            (FLUSH_BYTES / line.len() + 1) * line.len()
        );
    }

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
