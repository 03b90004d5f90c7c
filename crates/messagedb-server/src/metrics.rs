//! Prometheus metrics (SPEC §13.1).
//!
//! Counters and histograms go through the `metrics` facade into one process-global Prometheus
//! recorder, installed on first use. Values that belong to one server instance (build info, open
//! SSE subscriptions, namespaces) are rendered from its [`AppState`] instead, so that several
//! servers in one process (as in the tests) each report their own. Labels are only ever method
//! names and error codes: never namespace ids or stream names.

use std::sync::OnceLock;
use std::time::Duration;

use messagedb_core::VERSION;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

use crate::rpc::Method;
use crate::AppState;

/// The content type of the Prometheus text format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4";

const RPC_REQUESTS: &str = "messagedb_rpc_requests_total";
const RPC_DURATION: &str = "messagedb_rpc_request_duration_seconds";
const MESSAGES_WRITTEN: &str = "messagedb_messages_written_total";
const MESSAGES_IMPORTED: &str = "messagedb_messages_imported_total";
const MESSAGES_DELETED: &str = "messagedb_messages_deleted_total";
const SSE_POKES: &str = "messagedb_sse_pokes_total";
const SSE_CATCHUPS: &str = "messagedb_sse_catchups_total";

/// Buckets for RPC latency, in seconds: from well under a millisecond to seconds.
const DURATION_BUCKETS: [f64; 12] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 2.5,
];

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the global recorder once. `None` when another recorder was installed first (then
/// only the per-instance values are served).
fn handle() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets(&DURATION_BUCKETS)
                .unwrap_or_else(|_| PrometheusBuilder::new());
            let recorder = builder.build_recorder();
            let handle = recorder.handle();
            if metrics::set_global_recorder(recorder).is_err() {
                tracing::warn!("a metrics recorder was already installed; /metrics serves only instance gauges");
                return None;
            }
            describe();
            Some(handle)
        })
        .as_ref()
}

/// Registers help texts and makes the counters visible at zero.
fn describe() {
    metrics::describe_counter!(RPC_REQUESTS, "RPC calls by method and result code");
    metrics::describe_histogram!(RPC_DURATION, metrics::Unit::Seconds, "RPC call latency");
    metrics::describe_counter!(
        MESSAGES_WRITTEN,
        "Messages appended by stream.write and stream.writeBatch"
    );
    metrics::describe_counter!(MESSAGES_IMPORTED, "Messages committed by /import");
    metrics::describe_counter!(
        MESSAGES_DELETED,
        "Messages removed by stream.delete and stream.truncate"
    );
    metrics::describe_counter!(SSE_POKES, "Pokes sent to SSE subscribers");
    metrics::describe_counter!(SSE_CATCHUPS, "SSE replays after a queue overflow");
    for name in [
        MESSAGES_WRITTEN,
        MESSAGES_IMPORTED,
        MESSAGES_DELETED,
        SSE_POKES,
        SSE_CATCHUPS,
    ] {
        metrics::counter!(name).absolute(0);
    }
}

/// Makes sure the recorder exists before the first request records anything.
pub fn init() {
    handle();
}

/// How often histogram samples are folded into their buckets when nobody scrapes `/metrics`.
const UPKEEP_INTERVAL: Duration = Duration::from_secs(5);

/// Periodic recorder maintenance: without it, histogram samples pile up in memory until the next
/// scrape. Runs until dropped; [`crate::serve`] runs it for as long as it serves.
pub async fn upkeep() {
    let mut interval = tokio::time::interval(UPKEEP_INTERVAL);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        interval.tick().await;
        if let Some(handle) = handle() {
            handle.run_upkeep();
        }
    }
}

/// The handles of one method's successful calls, registered once. The `counter!`/`histogram!`
/// macros build the label set (a heap allocation) and look the key up in the registry on every
/// call; on the hot path (`ok` results) that is a measurable share of a request's allocations.
struct OkHandles {
    method: &'static str,
    requests: metrics::Counter,
    duration: metrics::Histogram,
}

struct HotHandles {
    by_method: Vec<OkHandles>,
    messages_written: metrics::Counter,
}

static HOT: OnceLock<HotHandles> = OnceLock::new();

fn hot() -> &'static HotHandles {
    HOT.get_or_init(|| {
        // The recorder must exist first, or the handles would be no-ops for ever.
        handle();
        HotHandles {
            by_method: Method::ALL
                .iter()
                .map(|m| {
                    let method = m.name();
                    OkHandles {
                        method,
                        requests: metrics::counter!(RPC_REQUESTS, "method" => method, "code" => "ok"),
                        duration: metrics::histogram!(RPC_DURATION, "method" => method),
                    }
                })
                .collect(),
            messages_written: metrics::counter!(MESSAGES_WRITTEN),
        }
    })
}

/// One RPC call finished; `code` is `ok` or the error code string.
pub fn rpc_finished(method: &'static str, code: &'static str, elapsed: Duration) {
    if code == "ok" {
        if let Some(handles) = hot().by_method.iter().find(|h| h.method == method) {
            handles.requests.increment(1);
            handles.duration.record(elapsed.as_secs_f64());
            return;
        }
    }
    metrics::counter!(RPC_REQUESTS, "method" => method, "code" => code).increment(1);
    metrics::histogram!(RPC_DURATION, "method" => method).record(elapsed.as_secs_f64());
}

pub fn message_written() {
    hot().messages_written.increment(1);
}

/// `count` messages appended at once (a `stream.writeBatch`); idempotent retries are not counted.
pub fn messages_written(count: u64) {
    hot().messages_written.increment(count);
}

pub fn messages_imported(count: u64) {
    metrics::counter!(MESSAGES_IMPORTED).increment(count);
}

pub fn messages_deleted(count: u64) {
    metrics::counter!(MESSAGES_DELETED).increment(count);
}

pub fn sse_poked() {
    metrics::counter!(SSE_POKES).increment(1);
}

pub fn sse_caught_up() {
    metrics::counter!(SSE_CATCHUPS).increment(1);
}

/// The full exposition for this instance.
pub async fn render(state: &AppState) -> String {
    let mut out = String::with_capacity(4096);
    out.push_str("# HELP messagedb_build_info Build information\n");
    out.push_str("# TYPE messagedb_build_info gauge\n");
    out.push_str("messagedb_build_info{version=\"");
    out.push_str(VERSION);
    out.push_str("\"} 1\n");
    out.push_str("# HELP messagedb_sse_subscriptions Open SSE subscriptions on this instance\n");
    out.push_str("# TYPE messagedb_sse_subscriptions gauge\n");
    out.push_str("messagedb_sse_subscriptions ");
    out.push_str(itoa::Buffer::new().format(state.subscriptions()));
    out.push('\n');
    // Counted on demand: the registry is the only source that is right across instances.
    match state.store().list_namespaces().await {
        Ok(namespaces) => {
            out.push_str("# HELP messagedb_namespaces Namespaces in the store\n");
            out.push_str("# TYPE messagedb_namespaces gauge\n");
            out.push_str("messagedb_namespaces ");
            out.push_str(itoa::Buffer::new().format(namespaces.len()));
            out.push('\n');
        }
        Err(e) => tracing::warn!(error = %e, "metrics: could not count namespaces"),
    }
    if let Some(handle) = handle() {
        out.push_str(&handle.render());
    }
    out
}
