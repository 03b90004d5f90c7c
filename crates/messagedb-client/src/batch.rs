//! The types of `stream.writeBatch` (SPEC §17): entries, options (expected versions and an
//! append condition) and the per-entry results.
//!
//! Entries carry their payloads as raw JSON text, like [`NewMessage`](crate::NewMessage). Expected
//! versions are a list, not a map, because the server checks them in the order the keys appear
//! and reports the first mismatch: the caller decides that order, and it is sent as written.

use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::ClientError;

/// One message of a batch: the stream it goes to and the message.
#[derive(Debug, Clone, Serialize)]
pub struct BatchEntry {
    /// The stream (non-empty).
    pub stream: String,
    /// The message type (non-empty).
    #[serde(rename = "type")]
    pub message_type: String,
    /// The `data` object, as raw JSON text.
    pub data: Box<RawValue>,
    /// The `metadata` object (or `null`), as raw JSON text; `None` omits it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Box<RawValue>>,
    /// The message id; `None` lets the server generate a UUIDv7. Supply ids to make the batch
    /// safe to retry: a retry of a stored batch answers the original results.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
}

impl BatchEntry {
    pub fn new(
        stream: impl Into<String>,
        message_type: impl Into<String>,
        data: Box<RawValue>,
    ) -> BatchEntry {
        BatchEntry {
            stream: stream.into(),
            message_type: message_type.into(),
            data,
            metadata: None,
            id: None,
        }
    }

    /// An entry whose data is the JSON text `data`, which must be valid JSON.
    pub fn from_json_text(
        stream: impl Into<String>,
        message_type: impl Into<String>,
        data: impl Into<String>,
    ) -> Result<BatchEntry, ClientError> {
        let data = RawValue::from_string(data.into()).map_err(ClientError::Encode)?;
        Ok(BatchEntry::new(stream, message_type, data))
    }

    /// An entry whose data is `data` serialised with `serde_json`.
    pub fn from_value(
        stream: impl Into<String>,
        message_type: impl Into<String>,
        data: &serde_json::Value,
    ) -> Result<BatchEntry, ClientError> {
        let data = serde_json::value::to_raw_value(data).map_err(ClientError::Encode)?;
        Ok(BatchEntry::new(stream, message_type, data))
    }

    pub fn with_metadata(mut self, metadata: Box<RawValue>) -> BatchEntry {
        self.metadata = Some(metadata);
        self
    }

    pub fn with_id(mut self, id: impl Into<String>) -> BatchEntry {
        self.id = Some(id.into());
        self
    }
}

/// The options of a batch; the default has none (an unconditional append).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchOptions {
    /// Streams that must be at exactly this version (-1: no messages), checked in this order.
    /// A stream here need not have an entry: it is then only checked.
    #[serde(
        skip_serializing_if = "Vec::is_empty",
        serialize_with = "expected_versions_object"
    )]
    pub expected_versions: Vec<(String, i64)>,
    /// Refuse the batch if a matching message was written after a global position.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub condition: Option<AppendCondition>,
}

impl BatchOptions {
    /// Adds an expected version, checked after the ones added before it.
    pub fn expect_version(mut self, stream: impl Into<String>, version: i64) -> BatchOptions {
        self.expected_versions.push((stream.into(), version));
        self
    }

    pub fn with_condition(mut self, condition: AppendCondition) -> BatchOptions {
        self.condition = Some(condition);
        self
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.expected_versions.is_empty() && self.condition.is_none()
    }
}

/// `{"stream": version, …}` in list order (a map type would reorder or merge the keys).
fn expected_versions_object<S: Serializer>(
    versions: &[(String, i64)],
    serializer: S,
) -> Result<S::Ok, S::Error> {
    let mut map = serializer.serialize_map(Some(versions.len()))?;
    for (stream, version) in versions {
        map.serialize_entry(stream, version)?;
    }
    map.end()
}

/// "Fail if anything matching `query` was written after global position `after`" (a dynamic
/// consistency boundary): read with `category.get`/`stream.get`, decide, then append with the
/// last global position you read as `after`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AppendCondition {
    /// A global position ≥ 0.
    pub after: i64,
    pub query: ConditionQuery,
}

impl AppendCondition {
    pub fn new(after: i64, query: ConditionQuery) -> AppendCondition {
        AppendCondition { after, query }
    }
}

/// Which messages an [`AppendCondition`] looks at: those whose stream is in `streams` or whose
/// category is in `categories` (at least one of them must be non-empty), and, when set, whose
/// type is in `types` and whose correlation category is `correlation`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ConditionQuery {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub streams: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub categories: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub types: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub correlation: Option<String>,
}

impl ConditionQuery {
    /// Messages of these streams.
    pub fn streams<S: Into<String>>(streams: impl IntoIterator<Item = S>) -> ConditionQuery {
        ConditionQuery {
            streams: streams.into_iter().map(Into::into).collect(),
            ..ConditionQuery::default()
        }
    }

    /// Messages of these categories.
    pub fn categories<S: Into<String>>(categories: impl IntoIterator<Item = S>) -> ConditionQuery {
        ConditionQuery {
            categories: categories.into_iter().map(Into::into).collect(),
            ..ConditionQuery::default()
        }
    }

    /// Also messages of these categories.
    pub fn or_categories<S: Into<String>>(
        mut self,
        categories: impl IntoIterator<Item = S>,
    ) -> ConditionQuery {
        self.categories
            .extend(categories.into_iter().map(Into::into));
        self
    }

    /// Only messages of these types.
    pub fn of_types<S: Into<String>>(
        mut self,
        types: impl IntoIterator<Item = S>,
    ) -> ConditionQuery {
        self.types.extend(types.into_iter().map(Into::into));
        self
    }

    /// Only messages whose correlation category (SPEC §7.2) is `category`.
    pub fn correlated_with(mut self, category: impl Into<String>) -> ConditionQuery {
        self.correlation = Some(category.into());
        self
    }
}

/// Where one entry of a batch was stored; results come in entry order.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchResult {
    pub global_position: i64,
    /// The supplied or generated id, canonical lowercase.
    pub id: String,
    pub position: i64,
    pub stream: String,
}

#[derive(Deserialize)]
pub(crate) struct BatchResults {
    pub(crate) results: Vec<BatchResult>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_keep_the_order_of_expected_versions_and_omit_what_is_unset() {
        let options = BatchOptions::default()
            .expect_version("b-2", 3)
            .expect_version("a-1", -1)
            .with_condition(AppendCondition::new(
                12,
                ConditionQuery::categories(["stock"]).of_types(["Reserved"]),
            ));
        assert_eq!(
            serde_json::to_string(&options).unwrap(),
            r#"{"expectedVersions":{"b-2":3,"a-1":-1},"condition":{"after":12,"query":{"categories":["stock"],"types":["Reserved"]}}}"#
        );
        assert!(BatchOptions::default().is_empty());
        assert_eq!(
            serde_json::to_string(&BatchOptions::default()).unwrap(),
            "{}"
        );
    }

    #[test]
    fn entries_send_payloads_verbatim() {
        let entry = BatchEntry::from_json_text("a-1", "T", r#"{"b":1,"a":2.50}"#)
            .unwrap()
            .with_metadata(RawValue::from_string("null".into()).unwrap())
            .with_id("x");
        assert_eq!(
            serde_json::to_string(&entry).unwrap(),
            r#"{"stream":"a-1","type":"T","data":{"b":1,"a":2.50},"metadata":null,"id":"x"}"#
        );
    }
}
