//! Size limits on client-supplied text (SPEC §16.1), in one place for every entry point.
//!
//! The limits are in bytes of UTF-8, not characters, because what they protect is storage: a
//! PostgreSQL B-tree entry must fit in a third of a page (about 2700 bytes), and a stream name
//! travels inside an 8000-byte `NOTIFY` payload. 1024 bytes leaves room for both on every
//! backend, so a value the server accepted is one every backend can store; storage must never
//! be where a limit is discovered. The server checks each value right after its type check, and
//! names the value the way the entry point spells it (`streamName` in RPC, `stream` in
//! `/import`), which is why the name is the caller's and the rule is here.

use std::fmt;

/// The longest stream name, in bytes.
pub const MAX_STREAM_NAME_BYTES: usize = 1024;

/// The longest message type, in bytes.
pub const MAX_MESSAGE_TYPE_BYTES: usize = 1024;

/// The longest category name argument (`category.get`, SSE `category=`), in bytes.
pub const MAX_CATEGORY_NAME_BYTES: usize = 1024;

/// The longest namespace description (`ns.create`), in bytes.
pub const MAX_DESCRIPTION_BYTES: usize = 4096;

/// A kind of value with a size limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SizeLimit {
    StreamName,
    MessageType,
    CategoryName,
    Description,
}

impl SizeLimit {
    /// The limit, in bytes of UTF-8.
    pub const fn max_bytes(self) -> usize {
        match self {
            SizeLimit::StreamName => MAX_STREAM_NAME_BYTES,
            SizeLimit::MessageType => MAX_MESSAGE_TYPE_BYTES,
            SizeLimit::CategoryName => MAX_CATEGORY_NAME_BYTES,
            SizeLimit::Description => MAX_DESCRIPTION_BYTES,
        }
    }

    /// Accepts `text` when it is at most [`max_bytes`](SizeLimit::max_bytes) long; the error
    /// names the value `name`, as the entry point spells it.
    pub fn check(self, text: &str, name: &'static str) -> Result<(), TooLong> {
        if text.len() <= self.max_bytes() {
            Ok(())
        } else {
            Err(TooLong {
                name,
                max_bytes: self.max_bytes(),
            })
        }
    }
}

/// A value over its limit. Displays as the SPEC §16.1 message, `<name> must be at most <n> bytes`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooLong {
    /// The value's name as the entry point spells it (`streamName`, `stream`, …).
    pub name: &'static str,
    pub max_bytes: usize,
}

impl fmt::Display for TooLong {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} must be at most {} bytes", self.name, self.max_bytes)
    }
}

impl std::error::Error for TooLong {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limit_is_inclusive_and_in_bytes() {
        let at = "a".repeat(1024);
        assert_eq!(SizeLimit::StreamName.check(&at, "streamName"), Ok(()));
        let over = "a".repeat(1025);
        let e = SizeLimit::StreamName
            .check(&over, "streamName")
            .unwrap_err();
        assert_eq!(e.to_string(), "streamName must be at most 1024 bytes");
        // 342 three-byte characters are 1026 bytes: too long, though only 342 characters.
        let wide = "€".repeat(342);
        assert_eq!(wide.chars().count(), 342);
        assert!(SizeLimit::MessageType.check(&wide, "message.type").is_err());
        assert!(SizeLimit::MessageType
            .check(&"€".repeat(341), "message.type")
            .is_ok());
    }

    #[test]
    fn each_value_has_the_spec_limit() {
        let cases = [
            (SizeLimit::StreamName, 1024),
            (SizeLimit::MessageType, 1024),
            (SizeLimit::CategoryName, 1024),
            (SizeLimit::Description, 4096),
        ];
        for (limit, bytes) in cases {
            assert_eq!(limit.max_bytes(), bytes, "{limit:?}");
            assert!(limit.check(&"x".repeat(bytes), "v").is_ok());
            assert_eq!(
                limit.check(&"x".repeat(bytes + 1), "v").unwrap_err(),
                TooLong {
                    name: "v",
                    max_bytes: bytes
                }
            );
        }
    }
}
