//! The request options and result shapes of the RPC methods (SPEC §6), as Rust types.
//!
//! Payloads are [`RawValue`]s: the exact JSON text the server stored or will store. Option structs
//! serialise only the fields that are set, so the server applies its own defaults to the rest.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::ClientError;

/// A message to write with `stream.write`.
#[derive(Debug, Clone)]
pub struct NewMessage {
    /// The message type (non-empty).
    pub message_type: String,
    /// The `data` object, as raw JSON text.
    pub data: Box<RawValue>,
    /// The `metadata` object (or `null`), as raw JSON text; `None` omits it.
    pub metadata: Option<Box<RawValue>>,
    /// The message id; `None` lets the server generate a UUIDv7.
    pub id: Option<String>,
    /// The stream version the write expects (-1: no messages yet); `None`: no check.
    pub expected_version: Option<i64>,
}

impl NewMessage {
    pub fn new(message_type: impl Into<String>, data: Box<RawValue>) -> NewMessage {
        NewMessage {
            message_type: message_type.into(),
            data,
            metadata: None,
            id: None,
            expected_version: None,
        }
    }

    /// A message whose data is the JSON text `data`, which must be valid JSON.
    pub fn from_json_text(
        message_type: impl Into<String>,
        data: impl Into<String>,
    ) -> Result<NewMessage, ClientError> {
        let data = RawValue::from_string(data.into()).map_err(ClientError::Encode)?;
        Ok(NewMessage::new(message_type, data))
    }

    /// A message whose data is `data` serialised with `serde_json`.
    pub fn from_value(
        message_type: impl Into<String>,
        data: &serde_json::Value,
    ) -> Result<NewMessage, ClientError> {
        let data = serde_json::value::to_raw_value(data).map_err(ClientError::Encode)?;
        Ok(NewMessage::new(message_type, data))
    }

    pub fn with_metadata(mut self, metadata: Box<RawValue>) -> NewMessage {
        self.metadata = Some(metadata);
        self
    }

    pub fn with_id(mut self, id: impl Into<String>) -> NewMessage {
        self.id = Some(id.into());
        self
    }

    pub fn with_expected_version(mut self, version: i64) -> NewMessage {
        self.expected_version = Some(version);
        self
    }

    /// The message argument and, if any option is set, the options argument.
    pub(crate) fn to_wire(&self) -> (WireMessage<'_>, Option<WireWriteOptions<'_>>) {
        let message = WireMessage {
            message_type: &self.message_type,
            data: &self.data,
            metadata: self.metadata.as_deref(),
        };
        let options = WireWriteOptions {
            id: self.id.as_deref(),
            expected_version: self.expected_version,
        };
        let options = (self.id.is_some() || self.expected_version.is_some()).then_some(options);
        (message, options)
    }
}

#[derive(Serialize)]
pub(crate) struct WireMessage<'a> {
    #[serde(rename = "type")]
    message_type: &'a str,
    data: &'a RawValue,
    #[serde(skip_serializing_if = "Option::is_none")]
    metadata: Option<&'a RawValue>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct WireWriteOptions<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    expected_version: Option<i64>,
}

/// The result of `stream.write`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WriteResult {
    pub position: i64,
    pub global_position: i64,
}

/// A stored message, from `stream.get`, `stream.last` or `category.get`.
#[derive(Debug, Clone)]
pub struct Message {
    /// As the server sent it (canonical lowercase for messagedb).
    pub id: String,
    /// The message's stream (for stream reads, the stream that was read).
    pub stream_name: String,
    pub message_type: String,
    pub position: i64,
    pub global_position: i64,
    /// The `data` JSON text exactly as the server returned it.
    pub data: Box<RawValue>,
    /// The `metadata` JSON text, or `None` for `null`.
    pub metadata: Option<Box<RawValue>>,
    /// The time text exactly as the server returned it.
    pub time: String,
}

/// A 7-element stream message array.
#[derive(Deserialize)]
pub(crate) struct StreamRow(
    String,
    String,
    i64,
    i64,
    Box<RawValue>,
    Option<Box<RawValue>>,
    String,
);

impl StreamRow {
    pub(crate) fn into_message(self, stream: &str) -> Message {
        let StreamRow(id, message_type, position, global_position, data, metadata, time) = self;
        Message {
            id,
            stream_name: stream.to_owned(),
            message_type,
            position,
            global_position,
            data,
            metadata,
            time,
        }
    }
}

/// An 8-element category message array.
#[derive(Deserialize)]
pub(crate) struct CategoryRow(
    String,
    String,
    String,
    i64,
    i64,
    Box<RawValue>,
    Option<Box<RawValue>>,
    String,
);

impl CategoryRow {
    pub(crate) fn into_message(self) -> Message {
        let CategoryRow(
            id,
            stream_name,
            message_type,
            position,
            global_position,
            data,
            metadata,
            time,
        ) = self;
        Message {
            id,
            stream_name,
            message_type,
            position,
            global_position,
            data,
            metadata,
            time,
        }
    }
}

/// `stream.get` options; unset fields use the server's defaults.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StreamOptions {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub position: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub global_position: Option<i64>,
    /// At most this many messages (default 1000, -1: unlimited).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub batch_size: Option<i64>,
}

/// A consumer group member: `member` of `size` (SPEC §7.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ConsumerGroup {
    pub member: i64,
    pub size: i64,
}

/// `category.get` options; unset fields use the server's defaults.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CategoryOptions {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub position: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub global_position: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub batch_size: Option<i64>,
    /// Keep only messages whose `metadata.correlationStreamName` is in this category.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub correlation: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consumer_group: Option<ConsumerGroup>,
}

/// `ns.create` options.
#[derive(Clone, Default, Serialize)]
pub struct CreateNamespaceOptions {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// A token to install instead of a generated one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata: Option<serde_json::Value>,
}

impl fmt::Debug for CreateNamespaceOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CreateNamespaceOptions")
            .field("description", &self.description)
            .field("token", &self.token.as_ref().map(|_| "REDACTED"))
            .field("metadata", &self.metadata)
            .finish()
    }
}

/// `ns.streams` options; unset fields use the server's defaults (prefix `""`, limit 100).
#[derive(Debug, Clone, Default, Serialize)]
pub struct StreamsOptions {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<i64>,
    /// Only streams whose names sort after this one (the last name of the previous page).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
}

/// The result of `ns.create`. `Debug` hides the token.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NamespaceCreated {
    pub created_at: String,
    pub namespace: String,
    /// The namespace's token: shown only here, never again.
    pub token: String,
}

impl fmt::Debug for NamespaceCreated {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NamespaceCreated")
            .field("created_at", &self.created_at)
            .field("namespace", &self.namespace)
            .field("token", &"REDACTED")
            .finish()
    }
}

/// The result of `ns.delete`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NamespaceDeleted {
    pub deleted_at: String,
    pub messages_deleted: u64,
    pub namespace: String,
}

/// One entry of `ns.list`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NamespaceSummary {
    pub created_at: String,
    pub description: String,
    pub message_count: u64,
    pub namespace: String,
}

/// The result of `ns.info`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NamespaceInfo {
    pub created_at: String,
    pub description: String,
    /// The time of the newest message; `None` for an empty namespace.
    #[serde(default)]
    pub last_activity: Option<String>,
    pub message_count: u64,
    pub namespace: String,
    pub stream_count: u64,
}

/// One entry of `ns.streams`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StreamSummary {
    pub last_activity: String,
    pub stream: String,
    pub version: i64,
}

/// One entry of `ns.categories`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CategorySummary {
    pub category: String,
    pub message_count: u64,
    pub stream_count: u64,
}

/// The result of `sys.health`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Health {
    /// `sqlite` or `postgres`.
    pub backend: String,
    /// Open SSE subscriptions on this instance.
    pub connections: u64,
    pub status: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_arguments_keep_the_payload_text() {
        let message = NewMessage::from_json_text("Deposited", r#"{"b":1,"a":1.50,"a":1e3}"#)
            .unwrap()
            .with_metadata(RawValue::from_string("null".into()).unwrap())
            .with_id("0190f2c4-3b1e-7c2a-9d4e-1f2a3b4c5d6e")
            .with_expected_version(-1);
        let (wire, options) = message.to_wire();
        let body = serde_json::to_string(&("stream.write", "account-1", wire, options)).unwrap();
        assert_eq!(
            body,
            r#"["stream.write","account-1",{"type":"Deposited","data":{"b":1,"a":1.50,"a":1e3},"metadata":null},{"id":"0190f2c4-3b1e-7c2a-9d4e-1f2a3b4c5d6e","expectedVersion":-1}]"#
        );
        let plain = NewMessage::from_json_text("T", "{}").unwrap();
        assert!(plain.to_wire().1.is_none());
    }

    #[test]
    fn options_serialise_only_what_is_set() {
        let options = CategoryOptions {
            batch_size: Some(10),
            consumer_group: Some(ConsumerGroup { member: 0, size: 2 }),
            ..CategoryOptions::default()
        };
        assert_eq!(
            serde_json::to_string(&options).unwrap(),
            r#"{"batchSize":10,"consumerGroup":{"member":0,"size":2}}"#
        );
        assert_eq!(
            serde_json::to_string(&StreamOptions::default()).unwrap(),
            "{}"
        );
    }

    #[test]
    fn rows_decode_with_raw_payloads() {
        let text = r#"[["0190f2c4-3b1e-7c2a-9d4e-1f2a3b4c5d6e","account-1","Deposited",0,41,{"n":12345678901234567890,"x":1.50},null,"2025-01-15T10:30:00.123456Z"]]"#;
        let rows: Vec<CategoryRow> = serde_json::from_str(text).unwrap();
        let message = rows.into_iter().next().unwrap().into_message();
        assert_eq!(message.stream_name, "account-1");
        assert_eq!(message.global_position, 41);
        assert_eq!(message.data.get(), r#"{"n":12345678901234567890,"x":1.50}"#);
        assert!(message.metadata.is_none());
        assert_eq!(message.time, "2025-01-15T10:30:00.123456Z");
    }

    #[test]
    fn debug_hides_tokens() {
        let created = NamespaceCreated {
            created_at: "t".into(),
            namespace: "n".into(),
            token: "ns_secret".into(),
        };
        assert!(!format!("{created:?}").contains("ns_secret"));
        let options = CreateNamespaceOptions {
            token: Some("ns_secret".into()),
            ..CreateNamespaceOptions::default()
        };
        assert!(!format!("{options:?}").contains("ns_secret"));
    }
}
