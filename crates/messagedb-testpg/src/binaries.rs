//! Finding the PostgreSQL server programs (`initdb`, `pg_ctl`), which Debian keeps outside `PATH`.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The directory holding `initdb` and `pg_ctl`, or a description of everywhere that was searched.
pub(crate) fn find_bindir() -> Result<PathBuf, String> {
    let mut tried = Vec::new();
    let mut candidates = Vec::new();
    match output("pg_config", &["--bindir"]) {
        Some(dir) => candidates.push(PathBuf::from(dir.trim())),
        None => tried.push("`pg_config --bindir` (not runnable)".to_owned()),
    }
    candidates.push(PathBuf::from("/usr/lib/postgresql/15/bin"));
    if let Some(files) = output("dpkg", &["-L", "postgresql-15"]) {
        candidates.extend(
            files
                .lines()
                .filter_map(|line| line.strip_suffix("/initdb"))
                .map(PathBuf::from),
        );
    } else {
        tried.push("`dpkg -L postgresql-15` (not runnable or not installed)".to_owned());
    }
    for dir in candidates {
        if has_server_programs(&dir) {
            return Ok(dir);
        }
        tried.push(format!("{} (no initdb and pg_ctl)", dir.display()));
    }
    Err(format!(
        "PostgreSQL server binaries not found; tried {}",
        tried.join(", ")
    ))
}

fn has_server_programs(dir: &Path) -> bool {
    dir.join("initdb").is_file() && dir.join("pg_ctl").is_file()
}

/// The stdout of a successful command, if it could be run at all.
fn output(program: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(program).args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}
