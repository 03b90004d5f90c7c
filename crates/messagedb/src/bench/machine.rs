//! Where a measurement ran: cores, CPU model, OS, load average, and the exact command line.
//!
//! Figures are only comparable on the same machine under the same load, so every report carries
//! this, and `bench compare` shows it next to the figures.

use super::report::Machine;

/// Cores, CPU model and OS, with the load averages measured at the start and end of a run.
pub fn describe(load_average_start: Vec<f64>, load_average_end: Vec<f64>) -> Machine {
    Machine {
        cores: std::thread::available_parallelism().map_or(1, |n| n.get() as u64),
        cpu: cpu_model(),
        os: Some(format!("{} {}", std::env::consts::OS, kernel_release())),
        load_average_start,
        load_average_end,
    }
}

/// CPU time (user + system, all threads) a process has used so far; `None` where `/proc` does
/// not say (not Linux, or the process is gone).
pub fn cpu_time(pid: u32) -> Option<std::time::Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces; count from after it.
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace().skip(11);
    let user: u64 = fields.next()?.parse().ok()?;
    let system: u64 = fields.next()?.parse().ok()?;
    // Linux reports these in USER_HZ, which is 100 on every architecture it exports to users.
    Some(std::time::Duration::from_millis((user + system) * 10))
}

/// The 1, 5 and 15 minute load averages (`[]` where the OS does not say).
pub fn load_average() -> Vec<f64> {
    let text = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let loads: Vec<f64> = text
        .split_whitespace()
        .take(3)
        .filter_map(|x| x.parse().ok())
        .collect();
    loads
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
    fn cpu_time_grows_with_work_and_is_none_for_no_process() {
        let pid = std::process::id();
        let before = cpu_time(pid).expect("this process has a /proc entry");
        // Spin until the kernel has charged at least two clock ticks more.
        let mut x = 0u64;
        while cpu_time(pid).unwrap() < before + std::time::Duration::from_millis(20) {
            for i in 0..100_000u64 {
                x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(i));
            }
        }
        assert!(cpu_time(pid).unwrap() >= before + std::time::Duration::from_millis(20));
        // Beyond Linux's default pid_max: no such process.
        assert_eq!(cpu_time(u32::MAX), None);
    }

    #[test]
    fn machine_fields() {
        let m = describe(load_average(), vec![]);
        assert!(m.cores >= 1);
        assert!(!m.cpu.is_empty());
        // Linux always reports the three load averages.
        assert_eq!(m.load_average_start.len(), 3);
    }
}
