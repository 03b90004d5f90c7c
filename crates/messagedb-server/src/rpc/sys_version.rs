//! `sys.version` (SPEC §6.1): the crate semver as a JSON string.

use messagedb_core::VERSION;

pub fn apply() -> String {
    format!("\"{VERSION}\"\n")
}

#[cfg(test)]
mod tests {
    #[test]
    fn is_a_semver_string() {
        let out = super::apply();
        let inner = out.trim_end().trim_matches('"');
        assert!(out.ends_with("\"\n"));
        assert_eq!(
            inner
                .split('.')
                .take(3)
                .filter(|p| p.parse::<u64>().is_ok())
                .count(),
            3
        );
    }
}
