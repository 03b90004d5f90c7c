//! What `messagedb profile` reads from the server while a run goes on, keyed on the run's
//! [`Phase`]: allocation counters when the measurement window opens and closes (and around the CPU
//! profile, whose own report building allocates in the server), the CPU profile over the middle
//! of the window, and the resident set size once a second.

use std::time::Duration;

use std::collections::BTreeMap;

use anyhow::{bail, Context};
use messagedb_client::Client;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use crate::bench::report::Count;
use crate::bench::Phase;

/// The server's `/debug/pprof/allocs?format=json` (what `messagedb-server`'s `debug.rs` writes),
/// as far as the profile reads it.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Counters {
    pub counting: bool,
    /// Sizes in bytes and the thread count, by name (`threads`, `resident_bytes`, …).
    #[serde(default)]
    pub memory: BTreeMap<String, u64>,
    /// Only while counting.
    pub totals: Option<Totals>,
    /// By RPC method (plus `other`); only while counting.
    #[serde(default)]
    pub requests: BTreeMap<String, Tally>,
}

/// The process's allocation totals.
#[derive(Debug, Clone, Copy, Default, Deserialize)]
pub struct Totals {
    pub allocations: u64,
    pub bytes_allocated: u64,
}

/// What the requests of one method allocated while polled.
#[derive(Debug, Clone, Copy, Default, Deserialize)]
pub struct Tally {
    pub calls: u64,
    pub allocations: u64,
    pub bytes: u64,
}

/// A bundle's `allocations.json` for one run: the window's allocations per operation. Without
/// counting only `counting` (false) and `note` are there.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Allocations {
    pub counting: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub window_s: Option<f64>,
    /// The whole process, divided by the RPC calls served.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total: Option<Scope>,
    /// Each RPC method's request futures, for methods called in the window.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub by_method: Option<BTreeMap<String, Scope>>,
    /// Storage threads, socket I/O, the runtime: everything outside request futures.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outside_requests: Option<Scope>,
    /// Requests that are not RPC calls (`/health`, the debug endpoints, …). Older builds wrote `{}`
    /// when there were none, which reads as `None`.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "empty_object_is_none"
    )]
    pub other_requests: Option<Scope>,
}

/// `{}` (or `null`) as `None`, anything else as a [`Scope`].
fn empty_object_is_none<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Scope>, D::Error> {
    let value = Option::<serde_json::Value>::deserialize(deserializer)?;
    match value {
        None => Ok(None),
        Some(serde_json::Value::Object(map)) if map.is_empty() => Ok(None),
        Some(value) => Scope::deserialize(value)
            .map(Some)
            .map_err(serde::de::Error::custom),
    }
}

/// Allocations of one scope over the window. `calls` is written for methods, `operations` for the
/// total (the RPC calls it is divided by), neither for `outside_requests`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Scope {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub calls: Option<Count>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub operations: Option<Count>,
    pub allocations: Count,
    pub bytes: Count,
    pub allocations_per_op: f64,
    pub bytes_per_op: f64,
}

/// A bundle's `server.json` for one run: memory. Sizes are in bytes; `None` where `/proc` did not
/// say (or, for the profiler's peak, without a CPU profile).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServerRun {
    /// `VmHWM` before the CPU profile started.
    pub peak_rss_bytes: Option<Count>,
    pub peak_rss_with_profiler_bytes: Option<Count>,
    pub rss_end_bytes: Option<Count>,
    pub threads_end: Option<Count>,
    /// `[seconds since the window opened, resident bytes]`; `None` in bundles from builds before
    /// the timeline.
    pub rss_timeline: Option<Vec<[Count; 2]>>,
}

/// Seconds of CPU profile for a measurement window: its middle half, at least 1 s.
pub fn cpu_seconds(window: Duration) -> u64 {
    (window.as_secs() / 2).max(1)
}

/// What [`measure`] read from the server.
pub struct Measured {
    /// Allocation counters at the start and end of the parts of the window that the CPU profile
    /// does not overlap: building its report (symbolising, encoding) allocates a lot in the
    /// server, and that is not the server's work.
    pub segments: Vec<(Counters, Counters)>,
    /// `None` with `--cpu-seconds 0`.
    pub cpu_pb: Option<Vec<u8>>,
    /// Allocation counters (and memory figures) when the window closed.
    pub after: Counters,
    /// `VmHWM` just before the CPU profile started (at the end without one): the sampler's own
    /// buffers (hundreds of MB) would otherwise dominate the peak.
    pub peak_rss_before_cpu_profile: Option<u64>,
}

/// Allocation counters at the window's start, the CPU profile of its middle, counters at its end.
pub async fn measure(
    debug: &Client,
    mut phase: watch::Receiver<Phase>,
    window: Duration,
    seconds: u64,
    pid: u32,
) -> anyhow::Result<Measured> {
    let started = phase
        .wait_for(|p| matches!(p, Phase::Measuring(_) | Phase::Done))
        .await
        .map(|p| *p)
        .unwrap_or(Phase::Done);
    let Phase::Measuring(window_start) = started else {
        bail!("the run ended before its measurement window");
    };
    let window_opened = allocs(debug).await?;
    if seconds == 0 {
        let _ = phase.wait_for(|p| *p == Phase::Done).await;
        let window_closed = allocs(debug).await?;
        return Ok(Measured {
            segments: vec![(window_opened, window_closed.clone())],
            cpu_pb: None,
            after: window_closed,
            peak_rss_before_cpu_profile: status_kib(pid, "VmHWM"),
        });
    }
    let lead = window.saturating_sub(Duration::from_secs(seconds)) / 2;
    // Aligning the profile with the middle of the window: a schedule, not a synchronisation.
    tokio::time::sleep_until(tokio::time::Instant::from_std(window_start + lead)).await;
    let peak_rss_before_cpu_profile = status_kib(pid, "VmHWM");
    let profile_starts = allocs(debug).await?;
    let response = debug
        .request(
            reqwest::Method::GET,
            &format!("/debug/pprof/profile?seconds={seconds}"),
        )
        .send()
        .await
        .context("cannot fetch the CPU profile")?;
    if !response.status().is_success() {
        let status = response.status();
        bail!(
            "the CPU profile failed: HTTP {status}: {}",
            response.text().await.unwrap_or_default()
        );
    }
    let cpu_pb = response
        .bytes()
        .await
        .context("cannot read the CPU profile")?
        .to_vec();
    let profile_ended = allocs(debug).await?;
    let _ = phase.wait_for(|p| *p == Phase::Done).await;
    let window_closed = allocs(debug).await?;
    Ok(Measured {
        segments: vec![
            (window_opened, profile_starts),
            (profile_ended, window_closed.clone()),
        ],
        cpu_pb: Some(cpu_pb),
        after: window_closed,
        peak_rss_before_cpu_profile,
    })
}

/// `[seconds since the window opened, resident bytes]` once a second until the run is done, to
/// show whether memory stays flat (the CPU profile's own buffers appear in its middle half).
pub async fn rss_timeline(pid: u32, mut phase: watch::Receiver<Phase>) -> Vec<[Count; 2]> {
    let Ok(Phase::Measuring(start)) = phase
        .wait_for(|p| matches!(p, Phase::Measuring(_) | Phase::Done))
        .await
        .map(|p| *p)
    else {
        return Vec::new();
    };
    let mut points = Vec::new();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = phase.wait_for(|p| *p == Phase::Done) => break,
        }
        if let Some(rss) = status_kib(pid, "VmRSS") {
            points.push([start.elapsed().as_secs().into(), rss.into()]);
        }
    }
    points
}

/// A `/proc/<pid>/status` size field in bytes (`VmHWM`, `VmRSS`), while the process runs.
pub fn status_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find_map(|line| {
        let rest = line.strip_prefix(field)?.strip_prefix(':')?;
        let kib: u64 = rest.trim().strip_suffix("kB")?.trim().parse().ok()?;
        Some(kib * 1024)
    })
}

async fn allocs(debug: &Client) -> anyhow::Result<Counters> {
    let response = debug
        .request(reqwest::Method::GET, "/debug/pprof/allocs?format=json")
        .send()
        .await
        .context("cannot read the allocation counters")?;
    if !response.status().is_success() {
        bail!("/debug/pprof/allocs failed: HTTP {}", response.status());
    }
    response
        .json()
        .await
        .context("/debug/pprof/allocs did not return the counters")
}

/// The allocation figures of a window, from the counters before and after it.
pub fn allocations(segments: &[(Counters, Counters)], window_s: f64) -> Allocations {
    if segments.is_empty() || segments.iter().any(|(_, after)| !after.counting) {
        return Allocations {
            counting: false,
            note: Some(
                "the server's counting allocator was not counting; no allocation figures"
                    .to_owned(),
            ),
            window_s: None,
            total: None,
            by_method: None,
            outside_requests: None,
            other_requests: None,
        };
    }
    // A counter's growth over every segment; a method first seen after a segment began started
    // from zero.
    let delta = |get: &dyn Fn(&Counters) -> Option<u64>| -> u64 {
        segments
            .iter()
            .map(|(before, after)| {
                get(after)
                    .unwrap_or(0)
                    .saturating_sub(get(before).unwrap_or(0))
            })
            .sum()
    };
    let per = |n: u64, ops: u64| {
        if ops == 0 {
            0.0
        } else {
            (n as f64 / ops as f64 * 10.0).round() / 10.0
        }
    };
    let mut by_method = BTreeMap::new();
    let (mut rpc_calls, mut in_requests_allocations, mut in_requests_bytes) = (0, 0, 0);
    let mut other = None;
    for name in segments[0].1.requests.keys() {
        let tally = |field: fn(&Tally) -> u64| delta(&|c| c.requests.get(name).map(field));
        let calls = tally(|t| t.calls);
        let allocations = tally(|t| t.allocations);
        let bytes = tally(|t| t.bytes);
        in_requests_allocations += allocations;
        in_requests_bytes += bytes;
        let scope = Scope {
            calls: Some(calls.into()),
            operations: None,
            allocations: allocations.into(),
            bytes: bytes.into(),
            allocations_per_op: per(allocations, calls),
            bytes_per_op: per(bytes, calls),
        };
        if name == "other" {
            other = Some(scope);
        } else if calls > 0 {
            rpc_calls += calls;
            by_method.insert(name.clone(), scope);
        }
    }
    let allocations = delta(&|c| c.totals.map(|t| t.allocations));
    let bytes = delta(&|c| c.totals.map(|t| t.bytes_allocated));
    let outside_allocations = allocations.saturating_sub(in_requests_allocations);
    let outside_bytes = bytes.saturating_sub(in_requests_bytes);
    Allocations {
        counting: true,
        note: None,
        window_s: Some(window_s),
        total: Some(Scope {
            calls: None,
            operations: Some(rpc_calls.into()),
            allocations: allocations.into(),
            bytes: bytes.into(),
            allocations_per_op: per(allocations, rpc_calls),
            bytes_per_op: per(bytes, rpc_calls),
        }),
        by_method: Some(by_method),
        outside_requests: Some(Scope {
            calls: None,
            operations: None,
            allocations: outside_allocations.into(),
            bytes: outside_bytes.into(),
            allocations_per_op: per(outside_allocations, rpc_calls),
            bytes_per_op: per(outside_bytes, rpc_calls),
        }),
        other_requests: other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn counters(value: serde_json::Value) -> Counters {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn allocation_deltas_per_operation() {
        let before = counters(
            json!({"counting": true, "totals": {"allocations": 100, "bytes_allocated": 1000},
            "requests": {"stream.write": {"calls": 10, "allocations": 50, "bytes": 500},
                         "other": {"calls": 1, "allocations": 5, "bytes": 50}}}),
        );
        let after = counters(
            json!({"counting": true, "totals": {"allocations": 1100, "bytes_allocated": 21000},
            "requests": {"stream.write": {"calls": 30, "allocations": 450, "bytes": 4500},
                         "stream.get": {"calls": 0, "allocations": 0, "bytes": 0},
                         "other": {"calls": 2, "allocations": 15, "bytes": 150}}}),
        );
        let a = serde_json::to_value(allocations(&[(before.clone(), after.clone())], 2.0)).unwrap();
        assert_eq!(a["total"]["operations"], 20);
        assert_eq!(a["total"]["allocations"], 1000);
        assert_eq!(a["total"]["allocations_per_op"], 50.0);
        assert_eq!(a["by_method"]["stream.write"]["allocations_per_op"], 20.0);
        assert_eq!(a["by_method"]["stream.write"]["bytes_per_op"], 200.0);
        assert!(
            a["by_method"].get("stream.get").is_none(),
            "methods without calls are left out"
        );
        assert_eq!(a["outside_requests"]["allocations"], 1000 - 400 - 10);
        assert_eq!(a["other_requests"]["calls"], 1);
        let off = allocations(
            &[(Counters::default(), counters(json!({"counting": false})))],
            2.0,
        );
        assert!(!off.counting && off.total.is_none());
        // Two segments add up: the same deltas twice.
        let twice = serde_json::to_value(allocations(
            &[(before.clone(), after.clone()), (before, after)],
            2.0,
        ))
        .unwrap();
        assert_eq!(twice["total"]["operations"], 40);
        assert_eq!(
            twice["by_method"]["stream.write"]["allocations_per_op"],
            20.0
        );
    }

    #[test]
    fn older_allocation_files_read_back() {
        // Builds before the typed report wrote `{}` when no `other` requests were counted.
        let old = r#"{"counting": true, "window_s": 2.0, "by_method": {}, "other_requests": {},
            "total": {"operations": 0, "allocations": 0, "bytes": 0, "allocations_per_op": 0.0, "bytes_per_op": 0.0},
            "outside_requests": {"allocations": 0, "bytes": 0, "allocations_per_op": 0.0, "bytes_per_op": 0.0}}"#;
        let read: Allocations = serde_json::from_str(old).unwrap();
        assert_eq!(read.other_requests, None);
        assert_eq!(read.by_method, Some(BTreeMap::new()));
        let off: Allocations = serde_json::from_str(r#"{"counting": false, "note": "n"}"#).unwrap();
        assert!(!off.counting && off.total.is_none() && off.other_requests.is_none());
    }

    #[test]
    fn the_cpu_profile_covers_the_middle_half() {
        assert_eq!(cpu_seconds(Duration::from_secs(30)), 15);
        assert_eq!(cpu_seconds(Duration::from_secs(20)), 10);
        assert_eq!(cpu_seconds(Duration::from_secs(2)), 1);
        assert_eq!(cpu_seconds(Duration::from_secs(1)), 1);
    }
}
