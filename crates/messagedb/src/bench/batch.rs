//! `batch`: atomic appends of `--batch-size N` messages per call (`stream.writeBatch`, SPEC §17).
//!
//! Each operation is one `stream.writeBatch` of N `BenchEvent` messages spread over 1, 2 or 3
//! streams of the run's `--streams` (default 100, named `bench_batch-<k>`). The stream count and
//! the first stream of each call come from a per-worker [`SplitMix64`] seeded with the worker's
//! index, so a run's sequence of batches is the same every time for the same workers and batch
//! size; the streams of one call are consecutive (`k`, `k+1`, `k+2` modulo `--streams`, so they
//! are distinct whenever there are enough streams), and message `i` of the call goes to its
//! stream `i mod count`, in array order. The latency recorded is the call's; since every
//! successful call appends exactly N messages, the report's `messages_per_sec` is N × the calls
//! per second.

use std::fmt::Write as _;

use messagedb_client::Connection;

use super::recorder::Recorder;
use super::workload::{push_data, timed, unix_nanos, Clock, Payload, Shape};

/// The operation label (the RPC method).
pub const METHOD: &str = "stream.writeBatch";

/// `--batch-size` when not given.
pub const DEFAULT_SIZE: u32 = 10;

/// The most messages one call may carry (SPEC §17.1: `messages must hold at most 1000 entries`).
pub const MAX_SIZE: u32 = 1000;

/// The most streams one call spreads its messages over.
pub const MAX_STREAMS_PER_CALL: u64 = 3;

/// A tiny seeded generator (SplitMix64): reproducible per worker, no dependency, and a few
/// nanoseconds per draw, which matters on a hot path that shares the machine with the server.
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    pub fn new(seed: u64) -> SplitMix64 {
        SplitMix64(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

/// Which streams one call writes: `count` consecutive stream indices from `first`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Spread {
    pub first: u64,
    pub count: u64,
}

impl Spread {
    /// The next call's streams: 1–3 of them (never more than there are), from `rng`.
    pub fn draw(rng: &mut SplitMix64, streams: u32) -> Spread {
        let streams = u64::from(streams.max(1));
        let count = 1 + rng.next_u64() % MAX_STREAMS_PER_CALL.min(streams);
        Spread {
            first: rng.next_u64() % streams,
            count,
        }
    }

    /// The stream index of message `i` of the call.
    pub fn stream_of(self, i: u64, streams: u32) -> u64 {
        (self.first + i % self.count) % u64::from(streams.max(1))
    }
}

/// Writes the `stream.writeBatch` body of one call: `size` messages over `spread`'s streams.
pub fn batch_body(
    out: &mut String,
    spread: Spread,
    (size, streams): (u32, u32),
    payload: Payload,
    nanos: u128,
) {
    out.clear();
    out.push_str(r#"["stream.writeBatch",["#);
    for i in 0..u64::from(size) {
        if i > 0 {
            out.push(',');
        }
        let _ = write!(
            out,
            r#"{{"stream":"bench_batch-{}","type":"BenchEvent","data":"#,
            spread.stream_of(i, streams)
        );
        push_data(out, payload, nanos);
        out.push('}');
    }
    out.push_str("]]");
}

/// One worker's loop: batches until the deadline.
pub async fn run_worker(
    worker: usize,
    conn: &mut Connection,
    shape: &Shape,
    clock: &Clock,
    rec: &mut Recorder,
) {
    let mut rng = SplitMix64::new(worker as u64);
    let mut body = String::with_capacity(256 * shape.batch_size as usize);
    while !clock.over() {
        let spread = Spread::draw(&mut rng, shape.streams);
        batch_body(
            &mut body,
            spread,
            (shape.batch_size, shape.streams),
            shape.payload,
            unix_nanos(),
        );
        let _ = timed(
            rec,
            clock,
            METHOD,
            conn.call_body(body.clone().into_bytes()),
        )
        .await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_body_spreads_its_messages_over_the_drawn_streams_in_order() {
        let mut body = String::new();
        let spread = Spread {
            first: 99,
            count: 3,
        };
        batch_body(&mut body, spread, (5, 100), Payload::Bytes(50), 7);
        let value: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(value[0], "stream.writeBatch");
        assert!(value.get(2).is_none(), "no options");
        let streams: Vec<&str> = value[1]
            .as_array()
            .unwrap()
            .iter()
            .map(|entry| entry["stream"].as_str().unwrap())
            .collect();
        assert_eq!(
            streams,
            [
                "bench_batch-99",
                "bench_batch-0",
                "bench_batch-1",
                "bench_batch-99",
                "bench_batch-0"
            ]
        );
        for entry in value[1].as_array().unwrap() {
            assert_eq!(entry["type"], "BenchEvent");
            assert_eq!(entry["data"].to_string().len(), 50);
        }
    }

    #[test]
    fn draws_are_reproducible_and_cover_one_to_three_distinct_streams() {
        let draws = |seed| {
            let mut rng = SplitMix64::new(seed);
            (0..300)
                .map(|_| Spread::draw(&mut rng, 100))
                .collect::<Vec<_>>()
        };
        let a = draws(4);
        assert_eq!(a, draws(4), "same seed, same batches");
        assert_ne!(a, draws(5), "workers differ");
        for count in 1..=3 {
            assert!(a.iter().any(|s| s.count == count), "{count} streams drawn");
        }
        assert!(a
            .iter()
            .all(|s| (1..=3).contains(&s.count) && s.first < 100));
        // With fewer streams than 3, a call never names one twice.
        let mut rng = SplitMix64::new(1);
        for _ in 0..100 {
            let spread = Spread::draw(&mut rng, 2);
            assert!(spread.count <= 2);
            let mut seen: Vec<u64> = (0..spread.count).map(|i| spread.stream_of(i, 2)).collect();
            seen.dedup();
            assert_eq!(seen.len() as u64, spread.count);
        }
    }
}
