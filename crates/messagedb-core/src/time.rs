//! Timestamps (SPEC §2.5): microseconds since the Unix epoch, emitted as UTC RFC 3339 with the
//! fraction trimmed of trailing zeros (and dropped when zero).

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// A point in time with microsecond precision; finer precision is truncated on construction.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i64);

/// Why a text is not an RFC 3339 date-time. The display text is the parser's detail.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct TimestampError(String);

impl Timestamp {
    pub fn now() -> Timestamp {
        let since = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        Timestamp(since.as_micros() as i64)
    }

    pub fn from_micros(micros: i64) -> Timestamp {
        Timestamp(micros)
    }

    pub fn as_micros(&self) -> i64 {
        self.0
    }

    /// Parses an RFC 3339 date-time with any offset, converts it to UTC and truncates it to µs.
    pub fn parse_rfc3339(text: &str) -> Result<Timestamp, TimestampError> {
        let t = OffsetDateTime::parse(text, &Rfc3339).map_err(|e| TimestampError(e.to_string()))?;
        let nanos = t.unix_timestamp_nanos();
        let micros = nanos.div_euclid(1000);
        i64::try_from(micros)
            .map(Timestamp)
            .map_err(|_| TimestampError("time out of range".to_owned()))
    }

    /// Appends the SPEC §2.5 text to `out` without allocating.
    pub fn write_rfc3339(&self, out: &mut String) {
        use std::fmt::Write;
        let _ = write!(out, "{self}");
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = self.0.div_euclid(1_000_000);
        let micros = self.0.rem_euclid(1_000_000) as u32;
        let t = OffsetDateTime::from_unix_timestamp(secs).unwrap_or(OffsetDateTime::UNIX_EPOCH);
        write!(
            f,
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
            t.year(),
            t.month() as u8,
            t.day(),
            t.hour(),
            t.minute(),
            t.second()
        )?;
        if micros != 0 {
            let mut digits = 6;
            let mut frac = micros;
            while frac.is_multiple_of(10) {
                frac /= 10;
                digits -= 1;
            }
            write!(f, ".{frac:0digits$}")?;
        }
        f.write_str("Z")
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Timestamp({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Timestamp {
        Timestamp::parse_rfc3339(text).unwrap()
    }

    #[test]
    fn formats_with_trimmed_microseconds() {
        assert_eq!(
            at("2025-01-15T10:30:00.123456Z").to_string(),
            "2025-01-15T10:30:00.123456Z"
        );
        assert_eq!(
            at("2025-01-15T10:30:00.123400Z").to_string(),
            "2025-01-15T10:30:00.1234Z"
        );
        assert_eq!(
            at("2025-01-15T10:30:00.000000Z").to_string(),
            "2025-01-15T10:30:00Z"
        );
        assert_eq!(
            at("2025-01-15T10:30:00.5Z").to_string(),
            "2025-01-15T10:30:00.5Z"
        );
        assert_eq!(
            at("2025-01-15T10:30:00.000001Z").to_string(),
            "2025-01-15T10:30:00.000001Z"
        );
    }

    #[test]
    fn parsing_truncates_and_converts_to_utc() {
        assert_eq!(
            at("2025-01-15T10:30:00.1234567Z").to_string(),
            "2025-01-15T10:30:00.123456Z"
        );
        assert_eq!(
            at("2025-01-15T12:30:00+02:00").to_string(),
            "2025-01-15T10:30:00Z"
        );
        assert_eq!(at("1969-12-31T23:59:59.9999999Z").as_micros(), -1);
        assert!(Timestamp::parse_rfc3339("2025-01-15").is_err());
        assert!(Timestamp::parse_rfc3339("yesterday").is_err());
    }

    #[test]
    fn now_matches_the_spec_pattern() {
        let s = Timestamp::now().to_string();
        let (date, rest) = s.split_once('T').unwrap();
        assert_eq!(date.len(), 10);
        assert!(rest.ends_with('Z'));
        if let Some((_, frac)) = rest.trim_end_matches('Z').split_once('.') {
            assert!((1..=6).contains(&frac.len()));
            assert!(!frac.ends_with('0'));
        }
    }
}
