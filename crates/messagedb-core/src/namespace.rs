//! Namespaces (SPEC §2.1): the tenant boundary. Each owns its streams and its global-position
//! counter; the token of `default` is the admin token.

use std::fmt;

use crate::time::Timestamp;
use crate::token::TokenHash;

/// A validated namespace id: `^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`, case-sensitive.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NamespaceId(String);

/// The internal key that names a namespace's storage (its database file, its PostgreSQL schema):
/// 128 random bits as 32 lowercase hex digits (SPEC §2.1). Keys are never derived from the id
/// and never reused, so a re-created namespace gets new storage. Only [`NamespaceKey::random`]
/// and [`NamespaceKey::parse`] build one, so a key spliced into a file name or an SQL identifier
/// is always 32 hex digits, never text from a request.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NamespaceKey(String);

/// A stored key that is not 32 lowercase hex digits (a hand-edited registry).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("namespace key {0:?} is not 32 lowercase hex digits")]
pub struct NamespaceKeyError(pub String);

impl NamespaceKey {
    /// A fresh key.
    pub fn random() -> NamespaceKey {
        NamespaceKey(format!("{:032x}", rand::random::<u128>()))
    }

    pub fn parse(key: impl Into<String>) -> Result<NamespaceKey, NamespaceKeyError> {
        let key = key.into();
        if key.len() == 32 && key.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            Ok(NamespaceKey(key))
        } else {
            Err(NamespaceKeyError(key))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for NamespaceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The id does not match the SPEC pattern. Its display text is the RPC error message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("namespace ID must match [A-Za-z0-9][A-Za-z0-9._-]{{0,127}}")]
pub struct NamespaceIdError;

impl NamespaceId {
    /// The id of the namespace that always exists and whose token is the admin token.
    pub const DEFAULT: &'static str = "default";

    pub fn parse(id: impl Into<String>) -> Result<NamespaceId, NamespaceIdError> {
        let id = id.into();
        if is_valid_id(&id) {
            Ok(NamespaceId(id))
        } else {
            Err(NamespaceIdError)
        }
    }

    pub fn default_namespace() -> NamespaceId {
        NamespaceId(Self::DEFAULT.to_owned())
    }

    pub fn is_default(&self) -> bool {
        self.0 == Self::DEFAULT
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn is_valid_id(id: &str) -> bool {
    let bytes = id.as_bytes();
    match bytes.first() {
        Some(b) if b.is_ascii_alphanumeric() => {}
        _ => return false,
    }
    bytes.len() <= 128
        && bytes[1..]
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

impl fmt::Debug for NamespaceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl fmt::Display for NamespaceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A namespace as the registry holds it; what authentication needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamespaceRecord {
    pub id: NamespaceId,
    pub description: String,
    pub created_at: Timestamp,
    pub token_hash: TokenHash,
}

/// One row of `ns.list`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamespaceSummary {
    pub id: NamespaceId,
    pub description: String,
    pub created_at: Timestamp,
    pub message_count: u64,
}

/// The result of `ns.info`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamespaceInfo {
    pub id: NamespaceId,
    pub description: String,
    pub created_at: Timestamp,
    pub message_count: u64,
    /// Streams with at least one message.
    pub stream_count: u64,
    /// The time of the message with the highest global position.
    pub last_activity: Option<Timestamp>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_fresh_hex_and_nothing_else_parses() {
        let (a, b) = (NamespaceKey::random(), NamespaceKey::random());
        assert_ne!(a, b);
        assert_eq!(NamespaceKey::parse(a.as_str()), Ok(a.clone()));
        for bad in [
            "default",
            "",
            "0123456789abcdef0123456789ABCDEF",
            "0123456789abcdef0123456789abcde",
            "0123456789abcdef0123456789abcdef0",
            "0123456789abcdef0123456789abcde;",
            "x; DROP SCHEMA messagedb CASCADE",
        ] {
            assert!(NamespaceKey::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn id_rules() {
        for ok in [
            "default",
            "a",
            "Tenant",
            "tenant-a",
            "a.b_c-d",
            "0",
            &"x".repeat(128),
        ] {
            assert!(NamespaceId::parse(ok).is_ok(), "{ok} should be valid");
        }
        for bad in [
            "",
            "a/b",
            ".x",
            "-x",
            "_x",
            "a b",
            "é",
            &"x".repeat(129),
            "a\0",
        ] {
            assert!(
                NamespaceId::parse(bad).is_err(),
                "{bad:?} should be invalid"
            );
        }
        assert_eq!(
            NamespaceIdError.to_string(),
            "namespace ID must match [A-Za-z0-9][A-Za-z0-9._-]{0,127}"
        );
    }
}
