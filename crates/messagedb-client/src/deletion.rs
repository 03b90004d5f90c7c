//! The types of deleting data (SPEC §18): `stream.delete`'s options, the `{"deleted","version"}`
//! answer of `stream.delete` and `stream.truncate`, and the deletion records of `ns.deletions`.
//!
//! A deletion record is what a projection needs to erase its own copies: which stream, and that
//! every position below `before` is gone. Records come in global-position order with the
//! messages, so a consumer that reads both never erases what it has not yet seen.

use serde::{Deserialize, Serialize};

/// The stream [`Client::deletion_allowed`](crate::Client::deletion_allowed) truncates before
/// position 0 to learn whether the server allows deletion. Such a call removes nothing from any
/// stream, so the name only has to be recognisable where the server logs the call; the `$`
/// prefix marks it as the client's own, not an application's stream.
pub const DELETION_PROBE_STREAM: &str = "$messagedb-deletion-probe";

/// `stream.delete` options; the default has none (delete whatever the stream holds).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeleteOptions {
    /// Delete only if the stream is at this version (-1: never written); otherwise the call
    /// fails with `STREAM_VERSION_CONFLICT` and removes nothing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected_version: Option<i64>,
}

impl DeleteOptions {
    /// Options that delete only if the stream is at `version`.
    pub fn expecting_version(version: i64) -> DeleteOptions {
        DeleteOptions {
            expected_version: Some(version),
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.expected_version.is_none()
    }
}

/// `stream.truncate`'s options argument: `{"before": p}`.
#[derive(Serialize)]
pub(crate) struct TruncateOptions {
    pub(crate) before: i64,
}

/// The result of `stream.delete` and `stream.truncate`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub struct DeleteResult {
    /// How many messages the call removed (0 is not an error).
    pub deleted: u64,
    /// The stream version afterwards: deletion never lowers it (-1: the stream was never
    /// written), so the next write lands at `version + 1`.
    pub version: i64,
}

/// `ns.deletions` options; unset fields use the server's defaults (from global position 1, at
/// most 1000 records).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeletionsOptions {
    /// Only deletions at or after this global position.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub position: Option<i64>,
    /// At most this many records (≤ 10000).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub batch_size: Option<i64>,
}

impl DeletionsOptions {
    pub(crate) fn is_empty(&self) -> bool {
        self.position.is_none() && self.batch_size.is_none()
    }
}

/// One deletion, from `ns.deletions`: the messages of `stream` with a position below `before`
/// are gone. It holds a global position of its own, which no message has.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Deletion {
    /// The stream version + 1 for `stream.delete`, the `before` argument for `stream.truncate`.
    pub before: i64,
    pub global_position: i64,
    pub stream: String,
    /// The time text exactly as the server returned it.
    pub time: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_serialise_only_what_is_set() {
        assert!(DeleteOptions::default().is_empty());
        assert_eq!(
            serde_json::to_string(&DeleteOptions::expecting_version(-1)).unwrap(),
            r#"{"expectedVersion":-1}"#
        );
        assert_eq!(
            serde_json::to_string(&TruncateOptions { before: 5 }).unwrap(),
            r#"{"before":5}"#
        );
        assert!(DeletionsOptions::default().is_empty());
        let page = DeletionsOptions {
            position: Some(12),
            batch_size: Some(2),
        };
        assert_eq!(
            serde_json::to_string(&page).unwrap(),
            r#"{"position":12,"batchSize":2}"#
        );
    }

    #[test]
    fn records_decode_with_the_time_as_sent() {
        let text = r#"[{"before":5,"globalPosition":42,"stream":"account-1","time":"2025-01-15T10:30:00.123456Z"}]"#;
        let records: Vec<Deletion> = serde_json::from_str(text).unwrap();
        assert_eq!(
            records,
            [Deletion {
                before: 5,
                global_position: 42,
                stream: "account-1".into(),
                time: "2025-01-15T10:30:00.123456Z".into(),
            }]
        );
        let result: DeleteResult = serde_json::from_str(r#"{"deleted":0,"version":-1}"#).unwrap();
        assert_eq!(
            result,
            DeleteResult {
                deleted: 0,
                version: -1
            }
        );
    }
}
