//! What one worker saw: a latency histogram per operation, error counts by code, conflicts.
//!
//! Each worker owns a [`Recorder`] and nothing is shared on the hot path except two relaxed
//! progress counters; the recorders are merged once the run is over. Latencies go into HDR
//! histograms at microsecond resolution (3 significant digits, up to one hour), so percentiles
//! are exact to 0.1 % whatever the spread.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use messagedb_client::ClientError;

/// The highest latency a histogram holds, in µs; slower operations are clamped to it.
const MAX_MICROS: u64 = 3_600_000_000;

/// The operation label of a poke's write-acknowledgement-to-receipt time (`sse-fanout`).
pub const POKE: &str = "sse.poke";

/// The operation label of a poke's write-sent-to-receipt time (`sse-fanout`).
pub const WRITE_TO_POKE: &str = "sse.write_to_poke";

/// How an operation ended, as far as the figures are concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Answered with a result.
    Ok,
    /// Answered `STREAM_VERSION_CONFLICT`: a correct answer under contention, not an error.
    Conflict,
    /// Anything else: an API error code or a transport failure.
    Error(String),
}

impl Outcome {
    /// Classifies a client result.
    pub fn of<T>(result: &Result<T, ClientError>) -> Outcome {
        match result {
            Ok(_) => Outcome::Ok,
            Err(e) if e.code() == Some("STREAM_VERSION_CONFLICT") => Outcome::Conflict,
            Err(e) => Outcome::Error(error_code(e)),
        }
    }
}

/// The name an error is counted under: the API code, or the kind of failure.
pub fn error_code(error: &ClientError) -> String {
    match error {
        ClientError::Api(api) => api.code.clone(),
        ClientError::UnexpectedResponse { status, .. } => format!("HTTP_{status}"),
        ClientError::Transport(_) | ClientError::Connection(_) => "TRANSPORT".to_owned(),
        ClientError::Encode(_) => "ENCODE".to_owned(),
        ClientError::Decode(_) => "DECODE".to_owned(),
        ClientError::InvalidToken => "INVALID_TOKEN".to_owned(),
    }
}

/// Live totals for the progress line, shared by every worker, and the span of a `--delete-stream`
/// call, so that workers can tell which of their writes overlapped it.
#[derive(Debug)]
pub struct Progress {
    pub ops: AtomicU64,
    pub errors: AtomicU64,
    origin: Instant,
    /// µs after `origin` when the deletion started and ended; `u64::MAX` until then.
    deletion_from: AtomicU64,
    deletion_to: AtomicU64,
}

impl Default for Progress {
    fn default() -> Progress {
        Progress {
            ops: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            origin: Instant::now(),
            deletion_from: AtomicU64::new(u64::MAX),
            deletion_to: AtomicU64::new(u64::MAX),
        }
    }
}

impl Progress {
    fn now_micros(&self) -> u64 {
        self.origin.elapsed().as_micros() as u64
    }

    /// Marks the start of the `--delete-stream` call.
    pub fn deletion_started(&self) {
        self.deletion_from
            .store(self.now_micros(), Ordering::SeqCst);
    }

    /// Marks its end.
    pub fn deletion_ended(&self) {
        self.deletion_to.store(self.now_micros(), Ordering::SeqCst);
    }

    /// Whether an operation that took `latency` and ended now overlapped the deletion.
    fn overlaps_deletion(&self, latency: Duration) -> bool {
        let from = self.deletion_from.load(Ordering::SeqCst);
        if from == u64::MAX {
            return false;
        }
        let end = self.now_micros();
        let start = end.saturating_sub(latency.as_micros() as u64);
        end >= from && start <= self.deletion_to.load(Ordering::SeqCst)
    }
}

/// One operation's figures.
#[derive(Debug, Clone)]
pub struct OpFigures {
    pub latency: Histogram<u64>,
    pub errors: u64,
    pub conflicts: u64,
}

impl OpFigures {
    fn new() -> OpFigures {
        OpFigures {
            latency: new_histogram(),
            errors: 0,
            conflicts: 0,
        }
    }

    /// Operations that got an answer (results and conflicts).
    pub fn completed(&self) -> u64 {
        self.latency.len()
    }
}

/// An empty latency histogram in µs, from 1 µs to [`MAX_MICROS`].
fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_MICROS, 3).expect("static histogram bounds are valid")
}

/// A latency in whole µs, within the histograms' bounds.
fn micros(latency: Duration) -> u64 {
    u64::try_from(latency.as_micros())
        .unwrap_or(u64::MAX)
        .clamp(1, MAX_MICROS)
}

/// A worker's figures; see the module documentation.
#[derive(Debug, Clone)]
pub struct Recorder {
    pub ops: BTreeMap<&'static str, OpFigures>,
    pub errors_by_code: BTreeMap<String, u64>,
    /// `many-namespaces`: the latency of each visit's first request, a second view of operations
    /// already recorded under their method (so it is kept out of `ops` and of [`Recorder::overall`]).
    pub first_requests: Histogram<u64>,
    /// With `--delete-stream`: the answered writes (`stream.write`, `stream.writeBatch`) whose
    /// span overlapped the deletion call, a second view of operations recorded under their method.
    pub writes_during_deletion: Histogram<u64>,
    progress: Arc<Progress>,
}

impl Recorder {
    pub fn new(progress: Arc<Progress>) -> Recorder {
        Recorder {
            ops: BTreeMap::new(),
            errors_by_code: BTreeMap::new(),
            first_requests: new_histogram(),
            writes_during_deletion: new_histogram(),
            progress,
        }
    }

    /// Records one measured operation. Errors have no latency: a fast failure must not make the
    /// percentiles look better.
    pub fn record(&mut self, op: &'static str, latency: Duration, outcome: Outcome) {
        let figures = self.ops.entry(op).or_insert_with(OpFigures::new);
        match outcome {
            Outcome::Ok | Outcome::Conflict => {
                if outcome == Outcome::Conflict {
                    figures.conflicts += 1;
                }
                figures.latency.saturating_record(micros(latency));
                self.progress.ops.fetch_add(1, Ordering::Relaxed);
                if op.starts_with("stream.write") && self.progress.overlaps_deletion(latency) {
                    self.writes_during_deletion
                        .saturating_record(micros(latency));
                }
            }
            Outcome::Error(code) => {
                figures.errors += 1;
                *self.errors_by_code.entry(code).or_insert(0) += 1;
                self.progress.errors.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Records the latency of a visit's first request (`many-namespaces`), which the caller has
    /// also recorded under its method. Only answered requests: a failure is already an error.
    pub fn record_first_request(&mut self, latency: Duration) {
        self.first_requests.saturating_record(micros(latency));
    }

    /// Adds another worker's figures to these.
    pub fn merge(&mut self, other: Recorder) {
        for (op, theirs) in other.ops {
            let ours = self.ops.entry(op).or_insert_with(OpFigures::new);
            // Both histograms have the same bounds, so adding cannot fail.
            let _ = ours.latency.add(&theirs.latency);
            ours.errors += theirs.errors;
            ours.conflicts += theirs.conflicts;
        }
        for (code, n) in other.errors_by_code {
            *self.errors_by_code.entry(code).or_insert(0) += n;
        }
        let _ = self.first_requests.add(&other.first_requests);
        let _ = self
            .writes_during_deletion
            .add(&other.writes_during_deletion);
    }

    /// Every operation's latencies in one histogram. `sse.write_to_poke` is a second view of the
    /// pokes already counted as `sse.poke`, so it is left out.
    pub fn overall(&self) -> OpFigures {
        let mut all = OpFigures::new();
        for (_, figures) in self.ops.iter().filter(|(op, _)| **op != WRITE_TO_POKE) {
            let _ = all.latency.add(&figures.latency);
            all.errors += figures.errors;
            all.conflicts += figures.conflicts;
        }
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_merge_and_classify() {
        let progress = Arc::new(Progress::default());
        let mut a = Recorder::new(Arc::clone(&progress));
        let mut b = Recorder::new(Arc::clone(&progress));
        for ms in 1..=100 {
            a.record("stream.write", Duration::from_millis(ms), Outcome::Ok);
        }
        b.record("stream.write", Duration::from_millis(5), Outcome::Conflict);
        b.record("stream.get", Duration::from_micros(0), Outcome::Ok);
        b.record(
            "stream.get",
            Duration::from_millis(1),
            Outcome::Error("BACKEND_ERROR".into()),
        );
        a.merge(b);
        let write = &a.ops["stream.write"];
        assert_eq!(
            (write.completed(), write.conflicts, write.errors),
            (101, 1, 0)
        );
        let get = &a.ops["stream.get"];
        assert_eq!((get.completed(), get.errors), (1, 1));
        assert_eq!(get.latency.max(), 1, "0 µs is clamped to the 1 µs floor");
        assert_eq!(a.errors_by_code["BACKEND_ERROR"], 1);
        let all = a.overall();
        assert_eq!((all.completed(), all.errors, all.conflicts), (102, 1, 1));
        let p50 = all.latency.value_at_quantile(0.5);
        assert!((49_000..=51_100).contains(&p50), "{p50}");
        assert_eq!(progress.ops.load(Ordering::Relaxed), 102);
        assert_eq!(progress.errors.load(Ordering::Relaxed), 1);
        assert!(a.first_requests.is_empty());
        let mut c = Recorder::new(Arc::clone(&progress));
        c.record_first_request(Duration::from_millis(3));
        a.merge(c);
        assert_eq!(a.first_requests.len(), 1);
        assert_eq!(
            a.overall().completed(),
            102,
            "first requests are not operations"
        );
        assert_eq!(progress.ops.load(Ordering::Relaxed), 102);
    }

    #[test]
    fn writes_overlapping_the_deletion_are_recorded_apart() {
        // Sleeps only ever last longer than asked, so each case holds on a slow machine.
        let progress = Arc::new(Progress::default());
        let mut rec = Recorder::new(Arc::clone(&progress));
        rec.record("stream.write", Duration::from_millis(1), Outcome::Ok);
        progress.deletion_started();
        // Started long before the deletion, ended during it; a read is not a write.
        rec.record("stream.write", Duration::from_secs(10), Outcome::Ok);
        rec.record("stream.get", Duration::from_millis(1), Outcome::Ok);
        std::thread::sleep(Duration::from_millis(2));
        progress.deletion_ended();
        std::thread::sleep(Duration::from_millis(2));
        // Started before the deletion ended, ended after it.
        rec.record("stream.writeBatch", Duration::from_secs(10), Outcome::Ok);
        // Started and ended after it.
        rec.record("stream.write", Duration::from_micros(1), Outcome::Ok);
        assert_eq!(rec.writes_during_deletion.len(), 2);
        assert_eq!(rec.ops["stream.write"].completed(), 3);
        let mut other = Recorder::new(Arc::clone(&progress));
        other.record("stream.write", Duration::from_secs(10), Outcome::Ok);
        rec.merge(other);
        assert_eq!(rec.writes_during_deletion.len(), 3);
    }
}
