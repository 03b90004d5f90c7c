//! The `sse-fanout` workload: `--workers` SSE subscribers on one category, one writer, and the
//! time from each write to each subscriber's poke.
//!
//! The subscriptions are open (registered with the server) before the clock starts. Each reader task
//! splits its byte stream into events and matches every poke's global position against what the
//! writer has sent and had acknowledged.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use futures::StreamExt;
use messagedb_client::Client;

use super::recorder::{Outcome, Recorder, POKE, WRITE_TO_POKE};
use super::workload::{timed, unix_nanos, write_body, Clock, Shape};

/// The category every subscriber of this run follows (unique per run, so nothing is replayed).
pub fn fanout_category(shape: &Shape) -> String {
    format!("bench_fanout{}", shape.tag)
}

/// Opens `/subscribe?category=…` and waits for the response head, which the server sends (with
/// `: ready`) only once the subscription is registered (SPEC §8.5): writes after this are poked.
pub async fn subscribe(client: &Client, category: &str) -> anyhow::Result<reqwest::Response> {
    let response = client
        .request(
            reqwest::Method::GET,
            &format!("/subscribe?category={category}"),
        )
        .send()
        .await
        .context("cannot open an SSE subscription")?;
    if !response.status().is_success() {
        let status = response.status();
        let body = response.text().await.unwrap_or_default();
        bail!("SSE subscription refused: HTTP {status}: {body}");
    }
    Ok(response)
}

/// What the `sse-fanout` writer tells its subscribers' readers about its writes.
#[derive(Default)]
struct Writes {
    /// When the write now in flight was sent (the writer has one in flight at a time).
    in_flight: Option<Instant>,
    /// Global position → (sent, acknowledged) of acknowledged writes.
    acked: HashMap<i64, (Instant, Instant)>,
}

/// `sse-fanout`: one writer plus one reader task per subscription. Returns every recorder.
///
/// Each poke is recorded twice: `sse.poke` is the time from the write's acknowledgement to the
/// poke's receipt (0 when the poke arrives first, which the server's publish-before-respond order
/// makes common), and `sse.write_to_poke` the time from sending the write to the poke's receipt.
/// With `rate`, the writer starts one write per `1/rate` s (see [`Pacer`]); without, it writes
/// back to back.
pub async fn run_fanout(
    client: Client,
    shape: Arc<Shape>,
    clock: Clock,
    rate: Option<u32>,
    subscriptions: Vec<reqwest::Response>,
    new_recorder: impl Fn() -> Recorder,
) -> Vec<Recorder> {
    let writes: Arc<Mutex<Writes>> = Arc::default();
    let mut readers = Vec::new();
    for response in subscriptions {
        let writes = Arc::clone(&writes);
        let mut rec = new_recorder();
        readers.push(tokio::spawn(async move {
            let mut body = response.bytes_stream();
            let mut pending = Vec::new();
            let deadline = tokio::time::Instant::from_std(clock.deadline);
            while let Ok(Some(Ok(chunk))) = tokio::time::timeout_at(deadline, body.next()).await {
                let received = Instant::now();
                pending.extend_from_slice(&chunk);
                while let Some(end) = pending.windows(2).position(|w| w == b"\n\n") {
                    let event: Vec<u8> = pending.drain(..end + 2).collect();
                    let Some(gpos) = poke_global_position(&event) else {
                        continue;
                    };
                    if received < clock.window_start {
                        continue;
                    }
                    let known = writes.lock().ok().map(|w| match w.acked.get(&gpos) {
                        Some(&(sent, acked)) => (Some(sent), Some(acked)),
                        None => (w.in_flight, None),
                    });
                    let (sent, acked) = known.unwrap_or((None, None));
                    let after_ack =
                        acked.map_or(Duration::ZERO, |at| received.saturating_duration_since(at));
                    rec.record(POKE, after_ack, Outcome::Ok);
                    if let Some(sent) = sent {
                        rec.record(
                            WRITE_TO_POKE,
                            received.saturating_duration_since(sent),
                            Outcome::Ok,
                        );
                    }
                }
            }
            rec
        }));
    }
    let mut writer = new_recorder();
    let mut c = 0u64;
    let mut body = String::with_capacity(512);
    let category = fanout_category(&shape);
    let mut pacer = rate.map(Pacer::new);
    while !clock.over() {
        if let Some(pacer) = &mut pacer {
            pacer.wait().await;
            if clock.over() {
                break;
            }
        }
        let stream = format!("{category}-{}", c % u64::from(shape.streams));
        write_body(&mut body, &stream, shape.payload, None, unix_nanos());
        let sent = Instant::now();
        if let Ok(mut w) = writes.lock() {
            w.in_flight = Some(sent);
        }
        let result = timed(
            &mut writer,
            &clock,
            "stream.write",
            client.call_body(body.clone().into_bytes()),
        )
        .await;
        let acked = Instant::now();
        if let Ok(raw) = result {
            if let Ok(written) = serde_json::from_str::<messagedb_client::WriteResult>(raw.get()) {
                if let Ok(mut w) = writes.lock() {
                    w.acked.insert(written.global_position, (sent, acked));
                }
            }
        }
        c += 1;
    }
    let mut recorders = vec![writer];
    for reader in readers {
        if let Ok(rec) = reader.await {
            recorders.push(rec);
        }
    }
    recorders
}

/// Paces the `sse-fanout` writer at a fixed number of writes per second.
///
/// The writer has one write in flight at a time, so a write slower than the period delays the next
/// tick; `MissedTickBehavior::Burst` then lets the writer catch up back to back, so the rate over
/// the run stays the requested one whenever the server can sustain it at all. When it cannot, the
/// report's `writes_per_sec` (the achieved rate) falls below `rate` and says so.
pub struct Pacer {
    interval: tokio::time::Interval,
}

impl Pacer {
    /// A pacer for `per_second` writes per second; the first tick is immediate.
    pub fn new(per_second: u32) -> Pacer {
        let period = Duration::from_secs(1) / per_second.max(1);
        let mut interval = tokio::time::interval(period);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
        Pacer { interval }
    }

    /// Waits until the next write may start.
    pub async fn wait(&mut self) {
        self.interval.tick().await;
    }
}

/// The `globalPosition` of an SSE poke event (`event: poke\ndata: {…}\n\n`); `None` for
/// comments (`: ready`, `: keepalive`).
pub fn poke_global_position(event: &[u8]) -> Option<i64> {
    let text = std::str::from_utf8(event).ok()?;
    let data = text.lines().find_map(|l| l.strip_prefix("data: "))?;
    let value: serde_json::Value = serde_json::from_str(data).ok()?;
    value["globalPosition"].as_i64()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pokes_are_parsed_and_comments_skipped() {
        let poke =
            b"event: poke\ndata: {\"stream\":\"a-1\",\"position\":5,\"globalPosition\":1234}\n\n";
        assert_eq!(poke_global_position(poke), Some(1234));
        assert_eq!(poke_global_position(b": ready\n\n"), None);
        assert_eq!(poke_global_position(b": keepalive\n\n"), None);
    }

    #[tokio::test]
    async fn the_pacer_period_is_one_over_the_rate() {
        assert_eq!(Pacer::new(1000).interval.period(), Duration::from_millis(1));
        assert_eq!(
            Pacer::new(3).interval.period(),
            Duration::from_nanos(333_333_333)
        );
    }
}
