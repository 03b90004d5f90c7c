//! Build script: records the git commit and the build time for `messagedb version --full`.
//!
//! Both are best effort. A build from a source tarball (no `git`, or not a checkout) reports
//! `unknown` rather than failing, because the version output is informative, not load-bearing.

use std::path::PathBuf;
use std::process::Command;

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

fn main() {
    let commit = git(&["rev-parse", "--short=12", "HEAD"]).unwrap_or_else(|| "unknown".to_owned());
    println!("cargo:rustc-env=MESSAGEDB_GIT_COMMIT={commit}");

    let built = OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| "unknown".to_owned());
    println!("cargo:rustc-env=MESSAGEDB_BUILD_TIME={built}");

    // Re-run when HEAD moves (a commit or a checkout), not on every source change: the build time
    // is the time of the build that first saw this commit, which keeps incremental builds cheap.
    println!("cargo:rerun-if-changed=build.rs");
    if let Some(git_dir) = git(&["rev-parse", "--absolute-git-dir"]).map(PathBuf::from) {
        let head = git_dir.join("HEAD");
        println!("cargo:rerun-if-changed={}", head.display());
        if let Some(reference) = git(&["symbolic-ref", "-q", "HEAD"]) {
            println!(
                "cargo:rerun-if-changed={}",
                git_dir.join(reference).display()
            );
        }
    }
}

/// Runs `git` with `args` and returns its trimmed stdout, or `None` if that fails in any way.
fn git(args: &[&str]) -> Option<String> {
    let output = Command::new("git").args(args).output().ok()?;
    if !output.status.success() {
        return None;
    }
    let text = String::from_utf8(output.stdout).ok()?;
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_owned())
}
