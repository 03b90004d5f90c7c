//! The server's standing resources during a run: threads, open file descriptors and resident
//! memory, sampled from `/proc/<pid>` (with `--server-pid`).
//!
//! SPEC §16.3 bounds threads and descriptors independently of the number of namespaces, so a
//! workload that touches thousands of them reports the peaks it drove the server to, and the
//! values when it stopped. A peak needs sampling: a [`Sampler`] reads `/proc/<pid>/status`
//! (`Threads`, `VmRSS`) and counts the entries of `/proc/<pid>/fd` every [`INTERVAL`] on its own
//! OS thread, so the reads (a directory listing of up to thousands of entries) never delay a
//! worker's task. A peak shorter than the interval can be missed; the end values are read once
//! more when the sampler stops, so they are exact.

use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::Duration;

use super::report::{Count, ServerResources};

/// How often the sampler reads `/proc`.
pub const INTERVAL: Duration = Duration::from_millis(100);

/// One reading of the server's resources; each figure `None` where `/proc` did not say.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Reading {
    pub threads: Option<u64>,
    pub fds: Option<u64>,
    pub rss_bytes: Option<u64>,
}

/// Reads the resources of process `pid` now.
pub fn read(pid: u32) -> Reading {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .ok()
        .map(|entries| entries.count() as u64);
    Reading {
        threads: status_field(&status, "Threads:"),
        fds,
        // `VmRSS` is in kB (KiB).
        rss_bytes: status_field(&status, "VmRSS:").map(|kib| kib * 1024),
    }
}

/// The first number after `name` on its line of `/proc/<pid>/status`.
fn status_field(status: &str, name: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|line| line.strip_prefix(name))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Peaks so far and the latest reading.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Tally {
    peak: Reading,
    last: Reading,
    samples: u64,
}

impl Tally {
    fn add(&mut self, reading: Reading) {
        let max = |a: Option<u64>, b: Option<u64>| a.max(b);
        self.peak = Reading {
            threads: max(self.peak.threads, reading.threads),
            fds: max(self.peak.fds, reading.fds),
            rss_bytes: max(self.peak.rss_bytes, reading.rss_bytes),
        };
        self.last = reading;
        self.samples += 1;
    }

    fn figures(&self) -> ServerResources {
        let count = |n: Option<u64>| n.map(Count::from);
        ServerResources {
            samples: self.samples.into(),
            peak_threads: count(self.peak.threads),
            peak_fds: count(self.peak.fds),
            peak_rss_bytes: count(self.peak.rss_bytes),
            end_threads: count(self.last.threads),
            end_fds: count(self.last.fds),
            end_rss_bytes: count(self.last.rss_bytes),
        }
    }
}

/// Samples one process until [`Sampler::finish`].
pub struct Sampler {
    stop: mpsc::Sender<()>,
    thread: JoinHandle<Tally>,
}

impl Sampler {
    /// Starts sampling process `pid` now and every [`INTERVAL`].
    pub fn start(pid: u32) -> std::io::Result<Sampler> {
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("bench-resources".to_owned())
            .spawn(move || {
                let mut tally = Tally::default();
                loop {
                    tally.add(read(pid));
                    // A message or a dropped sender both mean stop; the timeout is the interval.
                    match stopped.recv_timeout(INTERVAL) {
                        Err(RecvTimeoutError::Timeout) => {}
                        Ok(()) | Err(RecvTimeoutError::Disconnected) => break,
                    }
                }
                // The end values: read once more as the run stops, not up to an interval ago.
                tally.add(read(pid));
                tally
            })?;
        Ok(Sampler { stop, thread })
    }

    /// Stops sampling and returns the peaks and the end values; `None` when `/proc` gave none of
    /// the figures (not Linux, or the process is gone).
    pub fn finish(self) -> Option<ServerResources> {
        let _ = self.stop.send(());
        let tally = self.thread.join().ok()?;
        let last = tally.last;
        (last.threads.is_some() || last.fds.is_some() || last.rss_bytes.is_some())
            .then(|| tally.figures())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_fields_are_read_by_name() {
        let status = "Name:\tmessagedb\nVmHWM:\t  40000 kB\nVmRSS:\t   12345 kB\nThreads:\t9\n";
        assert_eq!(status_field(status, "Threads:"), Some(9));
        assert_eq!(status_field(status, "VmRSS:"), Some(12345));
        assert_eq!(status_field(status, "VmSwap:"), None);
    }

    #[test]
    fn peaks_and_the_last_reading_are_kept() {
        let mut tally = Tally::default();
        let reading = |threads, fds, rss| Reading {
            threads: Some(threads),
            fds: Some(fds),
            rss_bytes: Some(rss),
        };
        tally.add(reading(5, 100, 10));
        tally.add(reading(9, 40, 30));
        tally.add(reading(7, 60, 20));
        let figures = tally.figures();
        assert_eq!(figures.samples, Count(3.0));
        assert_eq!(figures.peak_threads, Some(Count(9.0)));
        assert_eq!(figures.peak_fds, Some(Count(100.0)));
        assert_eq!(figures.peak_rss_bytes, Some(Count(30.0)));
        assert_eq!(figures.end_threads, Some(Count(7.0)));
        assert_eq!(figures.end_fds, Some(Count(60.0)));
        assert_eq!(figures.end_rss_bytes, Some(Count(20.0)));
    }

    #[test]
    fn this_process_can_be_sampled() {
        let sampler = Sampler::start(std::process::id()).unwrap();
        let figures = sampler.finish().expect("Linux has /proc");
        assert!(figures.samples.get() >= 2.0, "{figures:?}");
        // This test runs on at least the test harness's thread plus the sampler's.
        assert!(figures.peak_threads.unwrap().get() >= 2.0, "{figures:?}");
        assert!(figures.peak_fds.unwrap().get() >= 1.0, "{figures:?}");
        assert!(figures.end_rss_bytes.unwrap().get() > 0.0, "{figures:?}");
    }
}
