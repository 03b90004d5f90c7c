//! What `messagedb profile` reads from the server while a run goes on, keyed on the run's
//! [`Phase`]: allocation counters when the measurement window opens and closes (and around the CPU
//! profile, whose own report building allocates in the server), the CPU profile over the middle
//! of the window, and the resident set size once a second.

use std::time::Duration;

use anyhow::{bail, Context};
use messagedb_client::Client;
use serde_json::{json, Map, Value};
use tokio::sync::watch;

use crate::bench::Phase;

/// Seconds of CPU profile for a measurement window: its middle half, at least 1 s.
pub fn cpu_seconds(window: Duration) -> u64 {
    (window.as_secs() / 2).max(1)
}

/// What [`measure`] read from the server.
pub struct Measured {
    /// Allocation counters at the start and end of the parts of the window that the CPU profile
    /// does not overlap: building its report (symbolising, encoding) allocates a lot in the
    /// server, and that is not the server's work.
    pub segments: Vec<(Value, Value)>,
    /// `None` with `--cpu-seconds 0`.
    pub cpu_pb: Option<Vec<u8>>,
    /// Allocation counters (and memory figures) when the window closed.
    pub after: Value,
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
pub async fn rss_timeline(pid: u32, mut phase: watch::Receiver<Phase>) -> Value {
    let Ok(Phase::Measuring(start)) = phase
        .wait_for(|p| matches!(p, Phase::Measuring(_) | Phase::Done))
        .await
        .map(|p| *p)
    else {
        return json!([]);
    };
    let mut points = Vec::new();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = phase.wait_for(|p| *p == Phase::Done) => break,
        }
        if let Some(rss) = status_kib(pid, "VmRSS") {
            points.push(json!([start.elapsed().as_secs(), rss]));
        }
    }
    Value::Array(points)
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

async fn allocs(debug: &Client) -> anyhow::Result<Value> {
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
        .context("/debug/pprof/allocs did not return JSON")
}

/// The allocation figures of a window, from the counters before and after it.
pub fn allocations(segments: &[(Value, Value)], window_s: f64) -> Value {
    if segments.is_empty() || segments.iter().any(|(_, after)| after["counting"] != true) {
        return json!({
            "counting": false,
            "note": "the server's counting allocator was not counting; no allocation figures",
        });
    }
    let delta = |path: &[&str]| -> u64 {
        let get = |v: &Value| path.iter().fold(v, |v, k| &v[*k]).as_u64().unwrap_or(0);
        segments
            .iter()
            .map(|(before, after)| get(after).saturating_sub(get(before)))
            .sum()
    };
    let per = |n: u64, ops: u64| {
        if ops == 0 {
            0.0
        } else {
            (n as f64 / ops as f64 * 10.0).round() / 10.0
        }
    };
    let mut by_method = Map::new();
    let (mut rpc_calls, mut in_requests_allocations, mut in_requests_bytes) = (0, 0, 0);
    let mut other = json!({});
    if let Some(Value::Object(methods)) = segments[0].1.get("requests") {
        for name in methods.keys() {
            let calls = delta(&["requests", name, "calls"]);
            let allocations = delta(&["requests", name, "allocations"]);
            let bytes = delta(&["requests", name, "bytes"]);
            in_requests_allocations += allocations;
            in_requests_bytes += bytes;
            let entry = json!({
                "calls": calls,
                "allocations": allocations,
                "bytes": bytes,
                "allocations_per_op": per(allocations, calls),
                "bytes_per_op": per(bytes, calls),
            });
            if name == "other" {
                other = entry;
            } else if calls > 0 {
                rpc_calls += calls;
                by_method.insert(name.clone(), entry);
            }
        }
    }
    let allocations = delta(&["totals", "allocations"]);
    let bytes = delta(&["totals", "bytes_allocated"]);
    let outside_allocations = allocations.saturating_sub(in_requests_allocations);
    let outside_bytes = bytes.saturating_sub(in_requests_bytes);
    json!({
        "counting": true,
        "window_s": window_s,
        "total": {
            "operations": rpc_calls,
            "allocations": allocations,
            "bytes": bytes,
            "allocations_per_op": per(allocations, rpc_calls),
            "bytes_per_op": per(bytes, rpc_calls),
        },
        "by_method": by_method,
        "outside_requests": {
            "allocations": outside_allocations,
            "bytes": outside_bytes,
            "allocations_per_op": per(outside_allocations, rpc_calls),
            "bytes_per_op": per(outside_bytes, rpc_calls),
        },
        "other_requests": other,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allocation_deltas_per_operation() {
        let before = json!({"counting": true, "totals": {"allocations": 100, "bytes_allocated": 1000},
            "requests": {"stream.write": {"calls": 10, "allocations": 50, "bytes": 500},
                         "other": {"calls": 1, "allocations": 5, "bytes": 50}}});
        let after = json!({"counting": true, "totals": {"allocations": 1100, "bytes_allocated": 21000},
            "requests": {"stream.write": {"calls": 30, "allocations": 450, "bytes": 4500},
                         "stream.get": {"calls": 0, "allocations": 0, "bytes": 0},
                         "other": {"calls": 2, "allocations": 15, "bytes": 150}}});
        let a = allocations(&[(before.clone(), after.clone())], 2.0);
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
        let off = allocations(&[(json!({}), json!({"counting": false}))], 2.0);
        assert_eq!(off["counting"], false);
        // Two segments add up: the same deltas twice.
        let twice = allocations(&[(before.clone(), after.clone()), (before, after)], 2.0);
        assert_eq!(twice["total"]["operations"], 40);
        assert_eq!(
            twice["by_method"]["stream.write"]["allocations_per_op"],
            20.0
        );
    }

    #[test]
    fn the_cpu_profile_covers_the_middle_half() {
        assert_eq!(cpu_seconds(Duration::from_secs(30)), 15);
        assert_eq!(cpu_seconds(Duration::from_secs(20)), 10);
        assert_eq!(cpu_seconds(Duration::from_secs(2)), 1);
        assert_eq!(cpu_seconds(Duration::from_secs(1)), 1);
    }
}
