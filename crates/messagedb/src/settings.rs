//! Where a setting's value comes from, and the parsers for its value syntax (SPEC §11.1).
//!
//! Every flag `--x-y` falls back to `MESSAGEDB_X_Y`, then to the EventoDB alias `EVENTODB_X_Y`,
//! then to its default; an empty value counts as unset at every level. A value that does not parse
//! is an error naming the exact place it came from (`--port` or `MESSAGEDB_PORT`), so an operator
//! can tell a bad flag from a stale environment variable. The parsers here are shared by every
//! command that takes flags.

use std::fmt;
use std::time::Duration;

/// Where a raw setting value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// A command-line flag, e.g. `--port`.
    Flag(String),
    /// An environment variable, e.g. `MESSAGEDB_PORT`.
    Env(String),
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Flag(name) | Origin::Env(name) => f.write_str(name),
        }
    }
}

/// A setting's raw text and where it came from; parse it with [`Raw::parse`].
#[derive(Clone, PartialEq, Eq)]
pub struct Raw {
    pub value: String,
    pub origin: Origin,
}

// The value may be a secret (a token, a database password); Debug shows only its origin.
impl fmt::Debug for Raw {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Raw(from {})", self.origin)
    }
}

/// A setting value that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid value {value:?} for {origin}: expected {expected}")]
pub struct InvalidSetting {
    pub origin: Origin,
    pub value: String,
    pub expected: &'static str,
}

/// Reads environment variables. The process environment in production; a map in tests, so that
/// precedence rules can be tested without mutating the (shared) process environment.
pub trait Env {
    fn var(&self, name: &str) -> Option<String>;
}

/// The real process environment. Variables that are not valid Unicode count as unset.
pub struct ProcessEnv;

impl Env for ProcessEnv {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
}

/// A fixed list of variables, for tests.
#[cfg(test)]
pub struct TestEnv<'a>(pub &'a [(&'a str, &'a str)]);

#[cfg(test)]
impl Env for TestEnv<'_> {
    fn var(&self, name: &str) -> Option<String> {
        self.0
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| (*v).to_owned())
    }
}

/// Picks the value of the setting whose flag is `--<flag>`: the flag's value, else
/// `MESSAGEDB_<FLAG>`, else `EVENTODB_<FLAG>`; empty values are skipped.
pub fn lookup(flag: &str, flag_value: Option<String>, env: &dyn Env) -> Option<Raw> {
    if let Some(value) = flag_value.filter(|v| !v.is_empty()) {
        return Some(Raw {
            value,
            origin: Origin::Flag(format!("--{flag}")),
        });
    }
    let suffix = flag.to_ascii_uppercase().replace('-', "_");
    ["MESSAGEDB", "EVENTODB"].iter().find_map(|prefix| {
        let name = format!("{prefix}_{suffix}");
        let value = env.var(&name).filter(|v| !v.is_empty())?;
        Some(Raw {
            value,
            origin: Origin::Env(name),
        })
    })
}

impl Raw {
    /// Parses the value with `parse`; `expected` describes the syntax for the error message.
    pub fn parse<T>(
        self,
        expected: &'static str,
        parse: impl FnOnce(&str) -> Option<T>,
    ) -> Result<T, InvalidSetting> {
        match parse(&self.value) {
            Some(value) => Ok(value),
            None => Err(InvalidSetting {
                origin: self.origin,
                value: self.value,
                expected,
            }),
        }
    }
}

/// Expectation text for [`parse_bool`].
pub const BOOL: &str = "a boolean (1 t T true TRUE True 0 f F false FALSE False)";
/// Expectation text for [`parse_duration`].
pub const DURATION: &str = "a duration in whole seconds or with a unit (500ms, 15s, 2m, 1h)";

/// The boolean spellings SPEC §11.1 accepts (Go's `strconv.ParseBool`, which EventoDB used).
pub fn parse_bool(text: &str) -> Option<bool> {
    match text {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Some(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Some(false),
        _ => None,
    }
}

/// Whole seconds (`15`) or a whole number with a unit: `ms`, `s`, `m` or `h`.
pub fn parse_duration(text: &str) -> Option<Duration> {
    let digits_end = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(digits_end);
    if number.is_empty() {
        return None;
    }
    let n: u64 = number.parse().ok()?;
    let millis = match unit {
        "" | "s" => n.checked_mul(1000)?,
        "ms" => n,
        "m" => n.checked_mul(60_000)?,
        "h" => n.checked_mul(3_600_000)?,
        _ => return None,
    };
    Some(Duration::from_millis(millis))
}

/// A decimal integer with no sign, whitespace or other decoration.
pub fn parse_number<T: std::str::FromStr>(text: &str) -> Option<T> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn precedence_is_flag_then_messagedb_then_eventodb() {
        let env = [("MESSAGEDB_PORT", "1"), ("EVENTODB_PORT", "2")];
        let raw = lookup("port", Some("3".into()), &TestEnv(&env)).unwrap();
        assert_eq!(
            (raw.value.as_str(), raw.origin.to_string().as_str()),
            ("3", "--port")
        );
        let raw = lookup("port", None, &TestEnv(&env)).unwrap();
        assert_eq!(
            (raw.value.as_str(), raw.origin.to_string().as_str()),
            ("1", "MESSAGEDB_PORT")
        );
        let env = [("EVENTODB_PORT", "2")];
        let raw = lookup("port", None, &TestEnv(&env)).unwrap();
        assert_eq!(
            (raw.value.as_str(), raw.origin.to_string().as_str()),
            ("2", "EVENTODB_PORT")
        );
        assert_eq!(lookup("port", None, &TestEnv(&[("OTHER", "x")])), None);
    }

    #[test]
    fn empty_values_count_as_unset() {
        let env = [("MESSAGEDB_DATA_DIR", ""), ("EVENTODB_DATA_DIR", "/x")];
        let raw = lookup("data-dir", Some(String::new()), &TestEnv(&env)).unwrap();
        assert_eq!(raw.value, "/x");
        assert_eq!(raw.origin, Origin::Env("EVENTODB_DATA_DIR".into()));
        assert_eq!(
            lookup("data-dir", None, &TestEnv(&[("EVENTODB_DATA_DIR", "")])),
            None
        );
    }

    #[test]
    fn errors_name_the_source() {
        let raw = lookup("port", None, &TestEnv(&[("MESSAGEDB_PORT", "abc")])).unwrap();
        let err = raw.parse("a port", parse_number::<u16>).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid value \"abc\" for MESSAGEDB_PORT: expected a port"
        );
    }

    #[test]
    fn booleans() {
        for t in ["1", "t", "T", "true", "TRUE", "True"] {
            assert_eq!(parse_bool(t), Some(true), "{t}");
        }
        for f in ["0", "f", "F", "false", "FALSE", "False"] {
            assert_eq!(parse_bool(f), Some(false), "{f}");
        }
        for bad in ["", "yes", "tRUE", "2", " true"] {
            assert_eq!(parse_bool(bad), None, "{bad}");
        }
    }

    #[test]
    fn durations() {
        let cases = [
            ("15", Some(15_000)),
            ("0", Some(0)),
            ("500ms", Some(500)),
            ("15s", Some(15_000)),
            ("2m", Some(120_000)),
            ("1h", Some(3_600_000)),
            ("", None),
            ("s", None),
            ("1.5s", None),
            ("-1", None),
            ("10x", None),
            ("10 s", None),
            ("99999999999999999999", None),
        ];
        for (text, millis) in cases {
            assert_eq!(
                parse_duration(text),
                millis.map(Duration::from_millis),
                "{text:?}"
            );
        }
    }

    #[test]
    fn numbers_are_plain_decimal() {
        assert_eq!(parse_number::<u16>("8080"), Some(8080));
        assert_eq!(parse_number::<u16>("0"), Some(0));
        for bad in ["", "+1", "-1", " 1", "1e3", "65536", "abc"] {
            assert_eq!(parse_number::<u16>(bad), None, "{bad:?}");
        }
    }
}
