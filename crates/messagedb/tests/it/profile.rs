//! `messagedb profile` (issue 3): a short run produces every file of the bundle, with real
//! content, and the bundle can be compared with `bench compare`.

use serde_json::Value;

use crate::support::Launch;

#[test]
fn a_short_profile_writes_the_whole_bundle() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().display().to_string();
    let out = Launch::new(&[
        "profile",
        "--backend",
        "memory",
        "--duration",
        "2s",
        "--warmup",
        "0s",
        "--workers",
        "2",
        "--output-dir",
        &out_dir,
    ])
    .output();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "profile failed:\n{stderr}");
    let bundles: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(bundles.len(), 1);
    let bundle = &bundles[0];
    let name = bundle.file_name().unwrap().to_string_lossy().into_owned();
    assert!(name.ends_with("Z-memory-reference-mix"), "{name}");
    let json = |file: &str| -> Value {
        serde_json::from_str(&std::fs::read_to_string(bundle.join(file)).unwrap()).unwrap()
    };

    let bench = json("bench.json");
    assert_eq!(bench["workload"], "reference-mix");
    assert!(bench["ops_per_sec"].as_f64().unwrap() > 0.0);
    assert_eq!(bench["errors"], 0);

    let cpu = std::fs::read(bundle.join("cpu.pb")).unwrap();
    assert!(!cpu.is_empty());
    let svg = std::fs::read_to_string(bundle.join("cpu.svg")).unwrap();
    assert!(svg.contains("<svg"), "{}", &svg[..svg.len().min(200)]);

    let allocations = json("allocations.json");
    assert_eq!(allocations["counting"], true);
    let write = &allocations["by_method"]["stream.write"];
    assert!(write["calls"].as_u64().unwrap() > 0, "{allocations:#}");
    assert!(
        write["allocations_per_op"].as_f64().unwrap() > 0.0,
        "{allocations:#}"
    );
    assert!(write["bytes_per_op"].as_f64().unwrap() > 0.0);
    assert!(
        allocations["by_method"]["stream.get"]["calls"]
            .as_u64()
            .unwrap()
            > 0
    );
    assert!(
        allocations["total"]["allocations_per_op"].as_f64().unwrap()
            >= write["allocations_per_op"].as_f64().unwrap()
    );

    let server = json("server.json");
    assert!(server["version"].as_str().unwrap().contains('.'));
    assert_eq!(server["configuration"]["backend"], "memory");
    assert!(
        server["peak_rss_bytes"].as_u64().unwrap() > 1_000_000,
        "{server:#}"
    );
    let args = server["configuration"]["serve_args"].to_string();
    assert!(
        args.contains("--debug-endpoints") && !args.contains("ns_"),
        "{args}"
    );

    let readme = std::fs::read_to_string(bundle.join("README.md")).unwrap();
    for section in [
        "## Throughput and latency",
        "## Heap allocations per operation",
        "## Memory",
        "## Top 15 CPU frames",
        "## How it was produced",
    ] {
        assert!(readme.contains(section), "{section} missing:\n{readme}");
    }
    assert!(readme.contains("messagedb profile"), "{readme}");

    // A bundle compared with itself is within noise and passes the CI guard.
    let b = bundle.display().to_string();
    let out = Launch::new(&["bench", "compare", &b, &b, "--fail-on-regression", "5%"]).output();
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{table}");
    assert!(
        table.contains("allocations.by_method.stream.write.allocations_per_op"),
        "{table}"
    );
    assert!(
        table.contains("server.peak_rss_bytes") && !table.contains("REGRESSED"),
        "{table}"
    );
}

#[test]
fn profile_usage_errors_exit_2() {
    for args in [
        vec!["profile", "--backend", "postgres"],
        vec![
            "profile",
            "--backend",
            "memory",
            "--db-url",
            "postgres://x/y",
        ],
        vec!["profile", "--duration", "500ms"],
        vec!["profile", "--backend", "cloud"],
        vec!["profile", "--duration", "2s", "--cpu-seconds", "3"],
        vec!["bench", "--workload", "contention", "--categories", "2"],
    ] {
        let out = Launch::new(&args).output();
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn without_a_cpu_profile_the_embedded_bundle_has_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().display().to_string();
    let out = Launch::new(&[
        "profile",
        "--backend",
        "embedded",
        "--workload",
        "write-only",
        "--categories",
        "3",
        "--duration",
        "1s",
        "--warmup",
        "0s",
        "--workers",
        "2",
        "--cpu-seconds",
        "0",
        // Below info the server does not announce its port; the profile picks one.
        "--server-log-level",
        "warn",
        "--output-dir",
        &out_dir,
    ])
    .output();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bundle = std::fs::read_dir(dir.path())
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    assert!(bundle.to_string_lossy().ends_with("-embedded-write-only"));
    for file in ["bench.json", "allocations.json", "server.json", "README.md"] {
        assert!(bundle.join(file).exists(), "{file}");
    }
    assert!(!bundle.join("cpu.pb").exists());
    let readme = std::fs::read_to_string(bundle.join("README.md")).unwrap();
    assert!(readme.contains("No CPU profile was taken"), "{readme}");
    let allocations: Value =
        serde_json::from_str(&std::fs::read_to_string(bundle.join("allocations.json")).unwrap())
            .unwrap();
    // One method: the process total per operation is that method's whole cost.
    let total = allocations["total"]["allocations_per_op"].as_f64().unwrap();
    let write = allocations["by_method"]["stream.write"]["allocations_per_op"]
        .as_f64()
        .unwrap();
    assert!(total >= write && write > 0.0, "{allocations:#}");
    let server: Value =
        serde_json::from_str(&std::fs::read_to_string(bundle.join("server.json")).unwrap())
            .unwrap();
    assert!(server["peak_rss_bytes"].as_u64().unwrap() > 1_000_000);
    assert!(server["peak_rss_with_profiler_bytes"].is_null());
    assert_eq!(server["backend"], "sqlite");
}
