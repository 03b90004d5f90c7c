//! The load shapes `messagedb bench` can generate, and the loop each worker runs for them.
//!
//! Every worker has its own [`Client`] with a one-connection pool, so it keeps one keep-alive HTTP
//! connection for the whole run, as the classic EventoDB profiling load did. Request bodies are
//! written by hand into a reused buffer and sent with [`Client::call_body`]: the generator shares
//! the machine with the server, and every microsecond it spends encoding is one the server does
//! not get. Operations that start before the measurement window (the warmup) are not recorded.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use messagedb_client::{CategoryOptions, Client, ClientError, Connection, ConsumerGroup};

use super::batch;
use super::fanout::{fanout_category, subscribe};
use super::namespaces::{self, Tenants};
use super::recorder::{Outcome, Recorder};

/// A named load shape (`--workload`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Workload {
    /// The classic EventoDB profiling load: a write per iteration, a 10-message read every 10th.
    ReferenceMix,
    /// Single-message appends spread over `--streams` streams (in `--categories` categories).
    WriteOnly,
    /// 90 % reads (`stream.get` and `category.get`, 10 messages each), 10 % writes.
    ReadHeavy,
    /// 4 readers polling `category.get` as members of a group of 4, while the others write.
    ConsumerGroups,
    /// `expectedVersion` writes on a few streams; conflicts are counted apart from errors.
    Contention,
    /// `--workers` SSE subscribers on one category and one writer; measures write ack → poke.
    SseFanout,
    /// `--namespaces N` new namespaces, each written and read in turn, round-robin (admin token).
    ManyNamespaces,
    /// `stream.writeBatch` calls of `--batch-size N` messages over 1–3 of `--streams` streams.
    Batch,
}

impl Workload {
    /// The name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Workload::ReferenceMix => "reference-mix",
            Workload::WriteOnly => "write-only",
            Workload::ReadHeavy => "read-heavy",
            Workload::ConsumerGroups => "consumer-groups",
            Workload::Contention => "contention",
            Workload::SseFanout => "sse-fanout",
            Workload::ManyNamespaces => "many-namespaces",
            Workload::Batch => "batch",
        }
    }

    /// How many streams the workload spreads over when `--streams` is not given.
    pub fn default_streams(self) -> u32 {
        match self {
            Workload::Contention => 4,
            Workload::ManyNamespaces => 1,
            _ => 100,
        }
    }
}

/// The fixed payload of the reference load (between the counter and the closing brace).
pub const REFERENCE_PAYLOAD: &str =
    "test data for profiling with some content to make it realistic";

/// What a run writes: the reference data, or a `payload` string sized to a total data size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Payload {
    Reference,
    Bytes(usize),
}

/// The window the workers share: record from `window_start`, stop starting work at `deadline`.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    pub window_start: Instant,
    pub deadline: Instant,
}

impl Clock {
    pub(crate) fn over(&self) -> bool {
        Instant::now() >= self.deadline
    }
}

/// Everything a worker needs besides its own client and recorder.
#[derive(Debug, Clone)]
pub struct Shape {
    pub workload: Workload,
    pub streams: u32,
    pub payload: Payload,
    /// `write-only`: how many categories the streams are spread over.
    pub categories: u32,
    /// Unique per run, so runs that must start from an empty category get one.
    pub tag: String,
    /// `read-heavy`: the highest global position the setup wrote.
    pub last_setup_gpos: i64,
    /// `many-namespaces`: how many namespaces to create (`--namespaces`; 0 for the others).
    pub namespaces: u32,
    /// `many-namespaces`: the namespaces, once created.
    pub tenants: Option<Arc<Tenants>>,
    /// `batch`: messages per `stream.writeBatch` call (`--batch-size`; 0 for the others).
    pub batch_size: u32,
}

/// A client with its own one-connection pool (one keep-alive connection per worker).
pub fn worker_client(url: &str, token: Option<&str>) -> anyhow::Result<Client> {
    let http = reqwest::Client::builder()
        .no_proxy()
        .http1_only()
        .pool_max_idle_per_host(1)
        .timeout(Duration::from_secs(60))
        .build()
        .context("cannot build the HTTP client")?;
    Ok(Client::with_http_client(http, url, token)?)
}

/// Nanoseconds since the Unix epoch (the reference load's `counter`).
pub(crate) fn unix_nanos() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
}

/// The reference load's `stream.write` body for stream `test-stream-<stream>`.
pub fn reference_write_body(out: &mut String, stream: u64, nanos: u128) {
    out.clear();
    let _ = write!(
        out,
        r#"["stream.write","test-stream-{stream}",{{"type":"TestEvent","data":{{"counter":{nanos},"payload":"{REFERENCE_PAYLOAD}","nested":{{"field1":"value1","field2":42,"field3":true}}}},"metadata":{{"correlationStreamName":"test-correlation","source":"load-test"}}}}]"#
    );
}

/// The reference load's read: `["stream.get", <stream>, {"position":0,"batchSize":10}]`.
pub fn reference_read_body(out: &mut String, stream: u64) {
    out.clear();
    let _ = write!(
        out,
        r#"["stream.get","test-stream-{stream}",{{"position":0,"batchSize":10}}]"#
    );
}

/// A `stream.write` body for the other workloads; `expected` adds `expectedVersion`.
pub fn write_body(
    out: &mut String,
    stream: &str,
    payload: Payload,
    expected: Option<i64>,
    nanos: u128,
) {
    out.clear();
    out.push_str(r#"["stream.write",""#);
    out.push_str(stream);
    out.push_str(r#"",{"type":"BenchEvent","data":"#);
    push_data(out, payload, nanos);
    out.push('}');
    if let Some(version) = expected {
        let _ = write!(out, r#",{{"expectedVersion":{version}}}"#);
    }
    out.push(']');
}

/// Appends a bench message's `data` object: the reference data, or `payload` sized to `size`.
pub(crate) fn push_data(out: &mut String, payload: Payload, nanos: u128) {
    match payload {
        Payload::Reference => {
            let _ = write!(
                out,
                r#"{{"counter":{nanos},"payload":"{REFERENCE_PAYLOAD}","nested":{{"field1":"value1","field2":42,"field3":true}}}}"#
            );
        }
        Payload::Bytes(size) => {
            let start = out.len();
            let _ = write!(out, r#"{{"counter":{nanos},"payload":""#);
            let fixed = out.len() - start + 2;
            out.extend(std::iter::repeat_n('x', size.saturating_sub(fixed)));
            out.push_str("\"}");
        }
    }
}

/// Runs `call`, and records it when it started inside the measurement window.
pub(crate) async fn timed<T>(
    recorder: &mut Recorder,
    clock: &Clock,
    op: &'static str,
    call: impl std::future::Future<Output = Result<T, ClientError>>,
) -> Result<T, ClientError> {
    let started = Instant::now();
    let result = call.await;
    if started >= clock.window_start {
        recorder.record(op, started.elapsed(), Outcome::of(&result));
    }
    result
}

/// Work done before the clock starts (data to read, subscriptions to open, namespaces).
pub struct Prepared {
    pub shape: Shape,
    /// `sse-fanout`: one open subscription per worker.
    pub subscriptions: Vec<reqwest::Response>,
    /// `many-namespaces`: how long creating the namespaces took.
    pub create_time: Duration,
}

/// Prepares a run: seeds `read-heavy` streams, opens `sse-fanout` subscriptions, creates the
/// `many-namespaces` namespaces.
pub async fn prepare(
    mut shape: Shape,
    url: &str,
    token: Option<&str>,
    workers: usize,
) -> anyhow::Result<Prepared> {
    let mut subscriptions = Vec::new();
    let mut create_time = Duration::ZERO;
    match shape.workload {
        Workload::ReadHeavy => {
            shape.last_setup_gpos = seed_read_heavy(&shape, url, token, workers).await?;
        }
        Workload::SseFanout => {
            for _ in 0..workers {
                let client = worker_client(url, token)?;
                subscriptions.push(subscribe(&client, &fanout_category(&shape)).await?);
            }
        }
        Workload::ManyNamespaces => {
            let admin = namespaces::admin_client(url, token)?;
            namespaces::check_admin(&admin).await?;
            eprintln!("creating {} namespaces…", shape.namespaces);
            let started = Instant::now();
            let tenants = namespaces::create(&admin, &shape.tag, shape.namespaces).await?;
            create_time = started.elapsed();
            eprintln!(
                "created {} namespaces in {:.1} s",
                tenants.len(),
                create_time.as_secs_f64()
            );
            shape.tenants = Some(Arc::new(Tenants::new(tenants)));
        }
        Workload::ReferenceMix
        | Workload::WriteOnly
        | Workload::ConsumerGroups
        | Workload::Contention
        | Workload::Batch => {}
    }
    Ok(Prepared {
        shape,
        subscriptions,
        create_time,
    })
}

/// Messages written to each `read-heavy` stream before the run.
const SEED_PER_STREAM: u32 = 10;

async fn seed_read_heavy(
    shape: &Shape,
    url: &str,
    token: Option<&str>,
    workers: usize,
) -> anyhow::Result<i64> {
    let tasks = workers.clamp(1, 16) as u32;
    let mut handles = Vec::new();
    for task in 0..tasks {
        let client = worker_client(url, token)?;
        let shape = shape.clone();
        handles.push(tokio::spawn(async move {
            let mut body = String::new();
            let mut last = 0i64;
            let mut i = task;
            while i < shape.streams * SEED_PER_STREAM {
                let stream = format!("bench_read-{}", i % shape.streams);
                write_body(&mut body, &stream, shape.payload, None, unix_nanos());
                let raw = client.call_body(body.clone().into_bytes()).await?;
                let written: messagedb_client::WriteResult =
                    serde_json::from_str(raw.get()).map_err(ClientError::Decode)?;
                last = last.max(written.global_position);
                i += tasks;
            }
            Ok::<i64, ClientError>(last)
        }));
    }
    let mut last = 0;
    for handle in handles {
        last = last.max(
            handle
                .await
                .context("a seeding task failed")?
                .context("cannot seed the read-heavy streams")?,
        );
    }
    Ok(last)
}

/// Runs worker `index` until the deadline and returns what it recorded. Requests the worker
/// writes itself go over `conn`; `client` is for the typed calls (`consumer-groups` reads).
pub async fn run_worker(
    index: usize,
    mut conn: Connection,
    client: Client,
    shape: Arc<Shape>,
    clock: Clock,
    mut recorder: Recorder,
    workers: usize,
) -> Recorder {
    match shape.workload {
        Workload::ReferenceMix => reference_mix(index, &mut conn, &clock, &mut recorder).await,
        Workload::WriteOnly => write_only(index, &mut conn, &shape, &clock, &mut recorder).await,
        Workload::ReadHeavy => read_heavy(index, &mut conn, &shape, &clock, &mut recorder).await,
        Workload::ConsumerGroups => {
            let io = (&mut conn, &client);
            consumer_groups(index, workers, io, &shape, &clock, &mut recorder).await
        }
        Workload::Contention => contention(index, &mut conn, &shape, &clock, &mut recorder).await,
        Workload::Batch => batch::run_worker(index, &mut conn, &shape, &clock, &mut recorder).await,
        Workload::ManyNamespaces => {
            if let Some(tenants) = &shape.tenants {
                namespaces::run_worker(&mut conn, tenants, shape.payload, &clock, &mut recorder)
                    .await;
            }
        }
        // sse-fanout's workers are started by `fanout::run_fanout`.
        Workload::SseFanout => {}
    }
    recorder
}

async fn reference_mix(worker: usize, conn: &mut Connection, clock: &Clock, rec: &mut Recorder) {
    let mut c = worker as u64 * 1_000_000;
    let mut body = String::with_capacity(512);
    while !clock.over() {
        let stream = c % 100;
        reference_write_body(&mut body, stream, unix_nanos());
        let _ = timed(
            rec,
            clock,
            "stream.write",
            conn.call_body(body.clone().into_bytes()),
        )
        .await;
        if c.is_multiple_of(10) {
            reference_read_body(&mut body, stream);
            let _ = timed(
                rec,
                clock,
                "stream.get",
                conn.call_body(body.clone().into_bytes()),
            )
            .await;
        }
        c += 1;
    }
}

async fn write_only(
    worker: usize,
    conn: &mut Connection,
    shape: &Shape,
    clock: &Clock,
    rec: &mut Recorder,
) {
    let mut c = worker as u64 * 1_000_000;
    let mut body = String::with_capacity(512);
    let mut stream = String::new();
    while !clock.over() {
        stream.clear();
        // One category (`bench_write`) by default; with `--categories N`, stream k of category j
        // is `bench_write<j>-<k>`: the same streams, spread over N categories.
        let index = c % u64::from(shape.streams);
        if shape.categories > 1 {
            let category = index % u64::from(shape.categories);
            let _ = write!(stream, "bench_write{category}-{index}");
        } else {
            let _ = write!(stream, "bench_write-{index}");
        }
        write_body(&mut body, &stream, shape.payload, None, unix_nanos());
        let _ = timed(
            rec,
            clock,
            "stream.write",
            conn.call_body(body.clone().into_bytes()),
        )
        .await;
        c += 1;
    }
}

async fn read_heavy(
    worker: usize,
    conn: &mut Connection,
    shape: &Shape,
    clock: &Clock,
    rec: &mut Recorder,
) {
    let mut c = worker as u64 * 1_000_000;
    let mut body = String::with_capacity(512);
    let mut stream = String::new();
    let span = shape.last_setup_gpos.max(1) as u64;
    while !clock.over() {
        stream.clear();
        let _ = write!(stream, "bench_read-{}", c % u64::from(shape.streams));
        match c % 10 {
            0 => {
                write_body(&mut body, &stream, shape.payload, None, unix_nanos());
                let _ = timed(
                    rec,
                    clock,
                    "stream.write",
                    conn.call_body(body.clone().into_bytes()),
                )
                .await;
            }
            n if n % 2 == 1 => {
                body.clear();
                let _ = write!(
                    body,
                    r#"["stream.get","{stream}",{{"position":0,"batchSize":10}}]"#
                );
                let _ = timed(
                    rec,
                    clock,
                    "stream.get",
                    conn.call_body(body.clone().into_bytes()),
                )
                .await;
            }
            _ => {
                // Spread the starting points over the seeded range (7919 is prime).
                let position = 1 + (c.wrapping_mul(7919) % span);
                body.clear();
                let _ = write!(
                    body,
                    r#"["category.get","bench_read",{{"position":{position},"batchSize":10}}]"#
                );
                let _ = timed(
                    rec,
                    clock,
                    "category.get",
                    conn.call_body(body.clone().into_bytes()),
                )
                .await;
            }
        }
        c += 1;
    }
}

/// Members of the consumer group in `consumer-groups`.
pub const GROUP_SIZE: usize = 4;

async fn consumer_groups(
    worker: usize,
    workers: usize,
    (conn, client): (&mut Connection, &Client),
    shape: &Shape,
    clock: &Clock,
    rec: &mut Recorder,
) {
    let category = format!("bench_group{}", shape.tag);
    let readers = consumer_group_readers(workers);
    if worker < readers {
        let mut options = CategoryOptions {
            position: Some(1),
            batch_size: Some(100),
            consumer_group: Some(ConsumerGroup {
                member: worker as i64,
                size: GROUP_SIZE as i64,
            }),
            ..CategoryOptions::default()
        };
        while !clock.over() {
            if let Ok(messages) = timed(
                rec,
                clock,
                "category.get",
                client.get_category(&category, &options),
            )
            .await
            {
                if let Some(last) = messages.last() {
                    options.position = Some(last.global_position + 1);
                }
            }
        }
        return;
    }
    let mut c = worker as u64 * 1_000_000;
    let mut body = String::with_capacity(512);
    while !clock.over() {
        let stream = format!("{category}-{}", c % u64::from(shape.streams));
        write_body(&mut body, &stream, shape.payload, None, unix_nanos());
        let _ = timed(
            rec,
            clock,
            "stream.write",
            conn.call_body(body.clone().into_bytes()),
        )
        .await;
        c += 1;
    }
}

/// How many `consumer-groups` workers read (the rest write); the run has at least one writer.
pub fn consumer_group_readers(workers: usize) -> usize {
    GROUP_SIZE.min(workers.saturating_sub(1))
}

/// How many workers `consumer-groups` needs: the group's readers plus at least one writer.
pub fn consumer_group_workers(workers: usize) -> usize {
    workers.max(GROUP_SIZE + 1)
}

async fn contention(
    worker: usize,
    conn: &mut Connection,
    shape: &Shape,
    clock: &Clock,
    rec: &mut Recorder,
) {
    let mut c = worker as u64 * 1_000_000;
    let mut body = String::with_capacity(512);
    let mut expected: HashMap<u64, i64> = HashMap::new();
    while !clock.over() {
        let index = c % u64::from(shape.streams);
        let stream = format!("bench_contention{}-{index}", shape.tag);
        let version = *expected.get(&index).unwrap_or(&-1);
        write_body(
            &mut body,
            &stream,
            shape.payload,
            Some(version),
            unix_nanos(),
        );
        match timed(
            rec,
            clock,
            "stream.write",
            conn.call_body(body.clone().into_bytes()),
        )
        .await
        {
            Ok(raw) => {
                if let Ok(w) = serde_json::from_str::<messagedb_client::WriteResult>(raw.get()) {
                    expected.insert(index, w.position);
                }
            }
            Err(e) => {
                // A conflict says where the stream is: try again from there, as a real
                // optimistic writer would after re-reading.
                if let Some(actual) = e
                    .api()
                    .and_then(|a| a.details.as_ref())
                    .and_then(|d| d["actual"].as_i64())
                {
                    expected.insert(index, actual);
                }
            }
        }
        c += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_bodies_are_the_classic_load() {
        let mut body = String::new();
        reference_write_body(&mut body, 42, 1_700_000_000_123_456_789);
        assert_eq!(
            body,
            r#"["stream.write","test-stream-42",{"type":"TestEvent","data":{"counter":1700000000123456789,"payload":"test data for profiling with some content to make it realistic","nested":{"field1":"value1","field2":42,"field3":true}},"metadata":{"correlationStreamName":"test-correlation","source":"load-test"}}]"#
        );
        serde_json::from_str::<serde_json::Value>(&body).unwrap();
        reference_read_body(&mut body, 7);
        assert_eq!(
            body,
            r#"["stream.get","test-stream-7",{"position":0,"batchSize":10}]"#
        );
    }

    #[test]
    fn sized_payloads_hit_the_requested_size() {
        let mut body = String::new();
        write_body(&mut body, "s-1", Payload::Bytes(1000), Some(-1), 123);
        let value: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(value[2]["data"].to_string().len(), 1000);
        assert_eq!(value[3]["expectedVersion"], -1);
        write_body(&mut body, "s-1", Payload::Bytes(0), None, 123);
        let value: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(value[2]["data"]["payload"], "");
        assert!(value.get(3).is_none());
        write_body(&mut body, "s-1", Payload::Reference, None, 5);
        let value: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(value[2]["data"]["payload"], REFERENCE_PAYLOAD);
    }

    #[test]
    fn consumer_groups_always_have_a_writer() {
        assert_eq!(consumer_group_workers(2), 5);
        assert_eq!(consumer_group_readers(consumer_group_workers(2)), 4);
        assert_eq!(consumer_group_readers(10), 4);
    }
}
