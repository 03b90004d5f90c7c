//! Debug endpoints (SPEC §13.2): a CPU profile in pprof format and memory statistics (with
//! allocation counts by RPC method while the counting allocator counts, see [`crate::alloc_scope`]).
//!
//! They are routed only with `debug_endpoints` and need the admin token. The sampling profiler is
//! process-wide (a `SIGPROF` timer), so at most one profile runs at a time in the process; a
//! second request gets 409 rather than corrupting the first.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::header::{HeaderValue, CONTENT_TYPE};
use http::Uri;

use crate::auth::Caller;
use crate::error::{ApiError, ErrorCode};
use crate::AppState;

/// Samples per second; a prime avoids lock-step with periodic work.
const FREQUENCY: i32 = 99;

static PROFILING: AtomicBool = AtomicBool::new(false);

/// `GET /debug/pprof/profile?seconds=N`.
pub async fn profile(State(_state): State<AppState>, caller: Caller, uri: Uri) -> Response {
    match profile_bytes(&caller, &uri).await {
        Ok(bytes) => {
            let mut response = bytes.into_response();
            response.headers_mut().insert(
                CONTENT_TYPE,
                HeaderValue::from_static("application/octet-stream"),
            );
            response
        }
        Err(e) => e.into_response(),
    }
}

async fn profile_bytes(caller: &Caller, uri: &Uri) -> Result<Vec<u8>, ApiError> {
    caller.require_admin()?;
    let seconds = seconds(uri.query())?;
    let _running = Running::acquire().ok_or_else(|| {
        ApiError::new(
            ErrorCode::ProfileInProgress,
            "A CPU profile is already being collected",
        )
    })?;
    let duration = Duration::from_secs(seconds);
    tokio::task::spawn_blocking(move || collect(duration))
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "profiling task failed");
            ApiError::internal()
        })?
        .map_err(|e| {
            tracing::error!(error = %e, "profiling failed");
            ApiError::internal()
        })
}

/// Runs the profiler for `duration` on this blocking thread and encodes the result.
fn collect(duration: Duration) -> Result<Vec<u8>, pprof::Error> {
    use pprof::protos::Message;
    let guard = pprof::ProfilerGuardBuilder::default()
        .frequency(FREQUENCY)
        .blocklist(&["libc", "libgcc", "pthread", "vdso"])
        .build()?;
    // The profile is what happens during this wait; it is the requested duration, not a delay.
    std::thread::sleep(duration);
    let profile = guard.report().build()?.pprof()?;
    Ok(profile.encode_to_vec())
}

/// `seconds`: default 30, 1–300.
fn seconds(query: Option<&str>) -> Result<u64, ApiError> {
    let value = query.and_then(|q| {
        form_urlencoded::parse(q.as_bytes())
            .find(|(key, _)| key == "seconds")
            .map(|(_, v)| v.into_owned())
    });
    match value {
        None => Ok(30),
        Some(text) => match text.parse::<u64>() {
            Ok(n @ 1..=300) => Ok(n),
            _ => Err(ApiError::invalid("seconds must be between 1 and 300")),
        },
    }
}

/// Holds the process-wide profiling slot.
struct Running;

impl Running {
    fn acquire() -> Option<Running> {
        PROFILING
            .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
            .ok()
            .map(|_| Running)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        PROFILING.store(false, Ordering::Release);
    }
}

/// `GET /debug/pprof/allocs`: memory statistics as text, or as JSON with `?format=json`.
///
/// The kernel's view of the process (resident and peak resident bytes) is always there. When the
/// binary's counting allocator is counting (`messagedb profile` turns it on), the allocation
/// totals and the per-RPC-method tallies of [`crate::alloc_scope`] are added; the counters only
/// grow, so a caller reads them before and after a load and subtracts.
pub async fn allocs(caller: Caller, uri: Uri) -> Response {
    if let Err(e) = caller.require_admin() {
        return e.into_response();
    }
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let memory = memory_fields(&status);
    let counting = messagedb_alloc::is_enabled();
    let wants_json = uri.query().is_some_and(|q| {
        form_urlencoded::parse(q.as_bytes()).any(|(key, value)| key == "format" && value == "json")
    });
    let (body, content_type) = if wants_json {
        (allocs_json(&memory, counting), "application/json")
    } else {
        (allocs_text(&memory, counting), "text/plain; charset=utf-8")
    };
    let mut response = body.into_response();
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

/// `(name, value)` pairs from `/proc/self/status`: sizes in bytes, then the thread count.
fn memory_fields(status: &str) -> Vec<(&'static str, u64)> {
    let mut fields = Vec::new();
    for (field, name) in [
        ("VmRSS", "resident_bytes"),
        ("VmHWM", "peak_resident_bytes"),
        ("VmSize", "virtual_bytes"),
        ("VmData", "data_bytes"),
        ("RssAnon", "resident_anonymous_bytes"),
    ] {
        if let Some(kib) = kib_field(status, field) {
            fields.push((name, kib * 1024));
        }
    }
    if let Some(threads) = status
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .and_then(|v| v.trim().parse::<u64>().ok())
    {
        fields.push(("threads", threads));
    }
    fields
}

fn allocs_text(memory: &[(&str, u64)], counting: bool) -> String {
    let mut out = String::from("# messagedb memory statistics\n");
    out.push_str(if counting {
        "allocator: counting\n"
    } else {
        "allocator: system (no allocation counters)\n"
    });
    let mut line = |name: &str, value: u64| {
        out.push_str(name);
        out.push_str(": ");
        out.push_str(itoa::Buffer::new().format(value));
        out.push('\n');
    };
    for (name, value) in memory {
        line(name, *value);
    }
    if counting {
        let totals = messagedb_alloc::totals();
        line("allocations", totals.allocations);
        line("deallocations", totals.deallocations);
        line("bytes_allocated", totals.bytes_allocated);
        line("bytes_freed", totals.bytes_freed);
        for (method, counts) in crate::alloc_scope::snapshot() {
            if counts.calls > 0 {
                out.push_str(&format!(
                    "requests{{method=\"{method}\"}}: calls={} allocations={} bytes={}\n",
                    counts.calls, counts.allocations, counts.bytes
                ));
            }
        }
    }
    out
}

/// `{"allocator":…,"counting":…,"memory":{…},"totals":{…},"requests":{method:{…}}}`.
fn allocs_json(memory: &[(&str, u64)], counting: bool) -> String {
    let memory: serde_json::Map<String, serde_json::Value> = memory
        .iter()
        .map(|(name, value)| ((*name).to_owned(), (*value).into()))
        .collect();
    let mut body = serde_json::json!({
        "allocator": if counting { "counting" } else { "system" },
        "counting": counting,
        "memory": memory,
    });
    if counting {
        let totals = messagedb_alloc::totals();
        body["totals"] = serde_json::json!({
            "allocations": totals.allocations,
            "deallocations": totals.deallocations,
            "bytes_allocated": totals.bytes_allocated,
            "bytes_freed": totals.bytes_freed,
        });
        let requests: serde_json::Map<String, serde_json::Value> = crate::alloc_scope::snapshot()
            .into_iter()
            .map(|(method, counts)| {
                let value = serde_json::json!({
                    "calls": counts.calls,
                    "allocations": counts.allocations,
                    "bytes": counts.bytes,
                });
                (method.to_owned(), value)
            })
            .collect();
        body["requests"] = requests.into();
    }
    let mut text = body.to_string();
    text.push('\n');
    text
}

/// A `Name:   123 kB` line of `/proc/self/status`, in KiB.
fn kib_field(status: &str, field: &str) -> Option<u64> {
    status.lines().find_map(|line| {
        let rest = line.strip_prefix(field)?.strip_prefix(':')?;
        rest.trim().strip_suffix("kB")?.trim().parse().ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_rules() {
        assert_eq!(seconds(None).unwrap(), 30);
        assert_eq!(seconds(Some("x=1")).unwrap(), 30);
        assert_eq!(seconds(Some("seconds=1")).unwrap(), 1);
        assert_eq!(seconds(Some("seconds=300")).unwrap(), 300);
        for bad in [
            "seconds=0",
            "seconds=301",
            "seconds=-1",
            "seconds=abc",
            "seconds=",
        ] {
            assert_eq!(
                seconds(Some(bad)).unwrap_err().message,
                "seconds must be between 1 and 300",
                "{bad}"
            );
        }
    }

    #[test]
    fn status_fields() {
        let status = "Name:\tx\nVmRSS:\t  1234 kB\nThreads:\t3\n";
        assert_eq!(kib_field(status, "VmRSS"), Some(1234));
        assert_eq!(kib_field(status, "VmHWM"), None);
    }

    #[test]
    fn memory_statistics_formats() {
        let status = "VmRSS:\t  2 kB\nVmHWM:\t 3 kB\nThreads:\t4\n";
        let memory = memory_fields(status);
        assert_eq!(
            memory,
            [
                ("resident_bytes", 2048),
                ("peak_resident_bytes", 3072),
                ("threads", 4)
            ]
        );
        let text = allocs_text(&memory, false);
        assert!(text.contains("allocator: system"), "{text}");
        assert!(text.contains("peak_resident_bytes: 3072\n"), "{text}");
        let json: serde_json::Value = serde_json::from_str(&allocs_json(&memory, false)).unwrap();
        assert_eq!(json["counting"], false);
        assert_eq!(json["memory"]["peak_resident_bytes"], 3072);
        assert!(json.get("requests").is_none());
    }

    #[test]
    fn one_profile_at_a_time() {
        let first = Running::acquire().unwrap();
        assert!(Running::acquire().is_none());
        drop(first);
        assert!(Running::acquire().is_some());
    }
}
