//! Messages (SPEC §2.2, §2.7): what is written, what is read back, and the outcome of a write.

use std::fmt;

use uuid::Uuid;

use crate::stream::StreamName;
use crate::time::Timestamp;

/// A message id: a UUID, always shown canonical lowercase hyphenated.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MessageId(Uuid);

/// The text is not a UUID in one of the accepted forms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("not a UUID")]
pub struct MessageIdError;

impl MessageId {
    /// Accepts the canonical 36-character, braced (`{…}`) or 32-hex forms, in any case. Other
    /// forms that the `uuid` crate would take (`urn:uuid:…`) are rejected.
    pub fn parse(text: &str) -> Result<MessageId, MessageIdError> {
        if !matches!(text.len(), 32 | 36 | 38) || text.starts_with("urn:") {
            return Err(MessageIdError);
        }
        Uuid::try_parse(text)
            .map(MessageId)
            .map_err(|_| MessageIdError)
    }

    /// A fresh UUIDv7 (RFC 9562): time-ordered, so ids of new messages index well.
    pub fn new_v7() -> MessageId {
        MessageId(Uuid::now_v7())
    }

    pub fn as_uuid(&self) -> &Uuid {
        &self.0
    }
}

impl From<Uuid> for MessageId {
    fn from(uuid: Uuid) -> MessageId {
        MessageId(uuid)
    }
}

impl fmt::Display for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0.hyphenated(), f)
    }
}

impl fmt::Debug for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MessageId({})", self.0.hyphenated())
    }
}

/// A stored message, as every read returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub id: MessageId,
    pub stream_name: String,
    pub message_type: String,
    pub position: i64,
    pub global_position: i64,
    /// The JSON object text exactly as stored (SPEC §2.6).
    pub data: String,
    /// The JSON object text, or `None` for no metadata.
    pub metadata: Option<String>,
    pub time: Timestamp,
}

/// A `stream.write` request, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMessage {
    /// `None`: the store generates a UUIDv7.
    pub id: Option<MessageId>,
    pub stream_name: StreamName,
    /// Non-empty, without U+0000.
    pub message_type: String,
    /// Minified JSON object text (see [`crate::json::minify`]).
    pub data: String,
    /// Minified JSON object text, or `None`.
    pub metadata: Option<String>,
    /// The stream version the caller expects (-1 = empty stream); `None`: no check.
    pub expected_version: Option<i64>,
}

impl NewMessage {
    /// The category of `metadata.correlationStreamName`, which category reads filter on (§7.2).
    pub fn correlation_category(&self) -> Option<String> {
        self.metadata
            .as_deref()
            .and_then(crate::json::correlation_category)
    }
}

/// Where a write landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Positions {
    pub position: i64,
    pub global_position: i64,
}

/// What a successful `stream.write` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteOutcome {
    /// A new message was committed durably.
    Appended(Positions),
    /// The id was already stored with the same stream and type: nothing was written (§6.3).
    AlreadyWritten(Positions),
}

impl WriteOutcome {
    pub fn positions(&self) -> Positions {
        match self {
            WriteOutcome::Appended(p) | WriteOutcome::AlreadyWritten(p) => *p,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_forms() {
        let canonical = "0190f2c4-3b1e-7c2a-9d4e-1f2a3b4c5d6e";
        for form in [
            canonical.to_owned(),
            canonical.to_uppercase(),
            format!("{{{canonical}}}"),
            canonical.replace('-', ""),
            canonical.replace('-', "").to_uppercase(),
        ] {
            assert_eq!(
                MessageId::parse(&form).unwrap().to_string(),
                canonical,
                "{form}"
            );
        }
        for bad in [
            "nope",
            "",
            &format!("urn:uuid:{canonical}"),
            "0190f2c4-3b1e-7c2a-9d4e-1f2a3b4c5d6",
            "0190f2c43b1e7c2a9d4e1f2a3b4c5d6g",
        ] {
            assert!(MessageId::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn generated_ids_are_v7_lowercase() {
        let id = MessageId::new_v7().to_string();
        assert_eq!(id.len(), 36);
        assert_eq!(&id[14..15], "7");
        assert_eq!(id, id.to_lowercase());
    }
}
