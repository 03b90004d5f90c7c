//! Where a measurement ran: cores, CPU model, OS, load average, and the exact command line.
//!
//! Figures are only comparable on the same machine under the same load, so every report carries
//! this, and `bench compare` shows it next to the figures.

use serde_json::{json, Value};

/// Cores, CPU model and OS; the load averages are added at the start and end of each run.
pub fn describe() -> Value {
    json!({
        "cores": std::thread::available_parallelism().map_or(1, usize::from),
        "cpu": cpu_model(),
        "os": format!("{} {}", std::env::consts::OS, kernel_release()),
    })
}

/// The 1, 5 and 15 minute load averages (`[]` where the OS does not say).
pub fn load_average() -> Value {
    let text = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let loads: Vec<f64> = text
        .split_whitespace()
        .take(3)
        .filter_map(|x| x.parse().ok())
        .collect();
    json!(loads)
}

fn cpu_model() -> String {
    let info = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    info.lines()
        .find_map(|l| l.strip_prefix("model name"))
        .and_then(|rest| rest.split_once(':'))
        .map_or_else(
            || "unknown".to_owned(),
            |(_, model)| model.trim().to_owned(),
        )
}

fn kernel_release() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_owned())
        .unwrap_or_default()
}

/// The command line as typed, with token values replaced by `REDACTED` (reports are shared).
pub fn command_line(args: &[String]) -> String {
    let mut out = Vec::with_capacity(args.len());
    let mut hide_next = false;
    for arg in args {
        if hide_next {
            out.push("REDACTED".to_owned());
            hide_next = false;
            continue;
        }
        let bare = arg.trim_start_matches('-');
        if arg.starts_with('-') && (bare == "token" || bare == "db-url") {
            hide_next = true;
            out.push(arg.clone());
        } else if arg.starts_with('-')
            && (bare.starts_with("token=") || bare.starts_with("db-url="))
        {
            let name = &arg[..arg.find('=').unwrap_or(arg.len())];
            out.push(format!("{name}=REDACTED"));
        } else {
            out.push(shell_quote(arg));
        }
    }
    out.join(" ")
}

fn shell_quote(arg: &str) -> String {
    let plain = !arg.is_empty()
        && arg
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=,%@+".contains(c));
    if plain {
        arg.to_owned()
    } else {
        format!("'{}'", arg.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(args: &[&str]) -> Vec<String> {
        args.iter().map(|a| (*a).to_owned()).collect()
    }

    #[test]
    fn tokens_never_reach_a_report() {
        let line = command_line(&s(&[
            "messagedb",
            "bench",
            "--token",
            "ns_secret",
            "--url=http://x",
            "-token=ns_other",
            "--db-url",
            "postgres://u:pw@h/db",
            "--workload",
            "a b",
        ]));
        assert!(
            !line.contains("secret") && !line.contains("other") && !line.contains("pw"),
            "{line}"
        );
        assert_eq!(
            line,
            "messagedb bench --token REDACTED --url=http://x -token=REDACTED --db-url REDACTED --workload 'a b'"
        );
    }

    #[test]
    fn machine_fields() {
        let m = describe();
        assert!(m["cores"].as_u64().unwrap() >= 1);
        assert!(m["cpu"].is_string());
        assert!(load_average().is_array());
    }
}
