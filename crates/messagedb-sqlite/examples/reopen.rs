//! What reopening a closed namespace costs, without HTTP: `--namespaces N` namespaces visited
//! round-robin (a write, then a read of the stream) through `--slots S` open slots, one visit at
//! a time, so every visit with N > S reopens a namespace. Prints per-visit p50/p99 and the
//! process's CPU per visit, overall and for each tenth of the visits (each namespace's WAL grows
//! with its visits until a checkpoint, so a reopen's recovery may cost more as the run goes on).
//! The read is of the message just written, so its cost does not grow with the stream. Run with
//! `--slots` ≥ N for the all-open control.
//!
//! ```sh
//! cargo run --release -p messagedb-sqlite --example reopen -- 400 100 4000
//! ```

use std::time::{Duration, Instant};

use messagedb_conformance::support::{append_to, read_stream};
use messagedb_core::{Limit, NamespaceId, StartAt, Store, StreamQuery, TokenHash};
use messagedb_sqlite::{Limits, SqliteStore};

fn cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap()
        .split_whitespace()
        .collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    Duration::from_millis(ticks * 10)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse().expect("numbers: namespaces slots visits"))
        .collect();
    let (namespaces, slots, visits) = (args[0], args[1], args[2]);
    let dir = tempfile::tempdir().unwrap();
    let limits = Limits {
        max_open_namespaces: slots,
        ..Limits::default()
    };
    let store = SqliteStore::open_with(dir.path(), limits).unwrap();
    let mut ids = Vec::new();
    for i in 0..namespaces {
        let ns = NamespaceId::parse(format!("tenant-{i}")).unwrap();
        store
            .create_namespace(&ns, "", &TokenHash::from_bytes([1; 32]))
            .await
            .unwrap();
        ids.push(ns);
    }
    // One pass to warm up (every namespace written once).
    for ns in &ids {
        append_to(&store, ns, "account-1").await;
    }
    if std::env::var_os("REOPEN_PAUSE").is_some() {
        eprintln!("setup done, pid {}", std::process::id());
        std::thread::sleep(Duration::from_secs(3));
    }
    let mut times = Vec::with_capacity(visits);
    let cpu_start = cpu();
    let start = Instant::now();
    let tenth = (visits / 10).max(1);
    let mut segment = (cpu_start, Instant::now());
    let mut segments = Vec::new();
    for i in 0..visits {
        let ns = &ids[i % namespaces];
        let t = Instant::now();
        let written = append_to(&store, ns, "account-1").await;
        let w = t.elapsed();
        let just_written = StreamQuery {
            start: StartAt::Position(written.position),
            limit: Limit::AtMost(1),
        };
        assert_eq!(
            read_stream(&store, ns, "account-1", just_written)
                .await
                .len(),
            1
        );
        times.push(t.elapsed());
        if (i + 1) % tenth == 0 {
            let now = (cpu(), Instant::now());
            segments.push(format!(
                "{:.0}/{:.0}",
                (now.0 - segment.0).as_micros() as f64 / tenth as f64,
                tenth as f64 / (now.1 - segment.1).as_secs_f64()
            ));
            segment = now;
        }
        if std::env::var_os("REOPEN_SLOW").is_some() && t.elapsed() > Duration::from_millis(10) {
            eprintln!("visit {i}: write {w:?}, read {:?}", t.elapsed() - w);
        }
    }
    let wall = start.elapsed();
    let cpu_used = cpu() - cpu_start;
    times.sort();
    let pct = |p: f64| times[((times.len() as f64 * p) as usize).min(times.len() - 1)];
    println!(
        "namespaces={namespaces} slots={slots} visits={visits}: visit p50 {:?} p99 {:?} max {:?}; \
         {:.0} visits/s; process CPU {:.0} µs/visit",
        pct(0.5),
        pct(0.99),
        times[times.len() - 1],
        visits as f64 / wall.as_secs_f64(),
        cpu_used.as_micros() as f64 / visits as f64
    );
    println!(
        "per tenth of the visits, process CPU µs/visit / visits/s: {}",
        segments.join(" ")
    );
    let closing = Instant::now();
    store.close().await;
    println!("closing the store: {:?}", closing.elapsed());
}
