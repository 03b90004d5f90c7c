//! JSON output: results are written straight into one `String`, never through a value tree.
//!
//! Stored `data`/`metadata` are already minified JSON text (SPEC §2.6) and are copied verbatim, so
//! key order, duplicate keys and number spellings survive. Strings the server emits are escaped the
//! way `serde_json` does (quote, backslash and control characters only), which adds no escapes for
//! `<>&`, U+2028 or non-ASCII text.

use messagedb_core::{Message, Timestamp};

/// Appends `text` as a JSON string literal.
pub fn push_str(out: &mut String, text: &str) {
    out.reserve(text.len() + 2);
    out.push('"');
    let bytes = text.as_bytes();
    let mut copied_from = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let escape: &str = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x08 => "\\b",
            0x0c => "\\f",
            0x00..=0x1f => "",
            _ => continue,
        };
        // Escaped bytes are ASCII, so these slice boundaries are char boundaries.
        out.push_str(&text[copied_from..i]);
        if escape.is_empty() {
            out.push_str("\\u00");
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0xf)]));
        } else {
            out.push_str(escape);
        }
        copied_from = i + 1;
    }
    out.push_str(&text[copied_from..]);
    out.push('"');
}

const HEX: &[u8; 16] = b"0123456789abcdef";

pub fn push_i64(out: &mut String, n: i64) {
    out.push_str(itoa::Buffer::new().format(n));
}

pub fn push_u64(out: &mut String, n: u64) {
    out.push_str(itoa::Buffer::new().format(n));
}

/// Appends a timestamp as a JSON string (SPEC §2.5 format).
pub fn push_time(out: &mut String, time: Timestamp) {
    out.push('"');
    time.write_rfc3339(out);
    out.push('"');
}

/// Appends a timestamp or `null`.
pub fn push_opt_time(out: &mut String, time: Option<Timestamp>) {
    match time {
        Some(t) => push_time(out, t),
        None => out.push_str("null"),
    }
}

/// How messages are laid out (SPEC §6.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// `[id, type, position, globalPosition, data, metadata, time]`.
    Stream,
    /// `[id, streamName, type, position, globalPosition, data, metadata, time]`.
    Category,
}

/// Appends one message array.
pub fn push_message(out: &mut String, message: &Message, layout: Layout) {
    out.push_str("[\"");
    // A hyphenated UUID is ASCII hex and dashes; it never needs escaping.
    let mut id = [0u8; 36];
    out.push_str(message.id.as_uuid().hyphenated().encode_lower(&mut id));
    out.push_str("\",");
    if layout == Layout::Category {
        push_str(out, &message.stream_name);
        out.push(',');
    }
    push_str(out, &message.message_type);
    out.push(',');
    push_i64(out, message.position);
    out.push(',');
    push_i64(out, message.global_position);
    out.push(',');
    out.push_str(&message.data);
    out.push(',');
    out.push_str(message.metadata.as_deref().unwrap_or("null"));
    out.push(',');
    push_time(out, message.time);
    out.push(']');
}

/// A JSON array of messages, ending in the newline every RPC result has.
pub fn messages(messages: &[Message], layout: Layout) -> String {
    let payload: usize = messages
        .iter()
        .map(|m| {
            m.data.len() + m.metadata.as_ref().map_or(4, String::len) + m.stream_name.len() + 128
        })
        .sum();
    let mut out = String::with_capacity(payload + 3);
    out.push('[');
    for (i, message) in messages.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        push_message(&mut out, message, layout);
    }
    out.push_str("]\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use messagedb_core::MessageId;

    #[test]
    fn strings_escape_like_serde_json() {
        let cases = [
            "plain",
            "",
            "quote \" backslash \\ slash /",
            "<&> é 😀 \u{2028} \u{7f}",
            "\n\r\t\u{8}\u{c}\u{0}\u{1}\u{1f}",
        ];
        for text in cases {
            let mut out = String::new();
            push_str(&mut out, text);
            assert_eq!(out, serde_json::to_string(text).unwrap(), "{text:?}");
        }
    }

    #[test]
    fn message_layouts() {
        let message = Message {
            id: MessageId::parse("0190F2C4-3B1E-7C2A-9D4E-1F2A3B4C5D6E").unwrap(),
            stream_name: "account-1".into(),
            message_type: "Deposited".into(),
            position: 0,
            global_position: 41,
            data: r#"{"amount":100,"amount":1.50}"#.into(),
            metadata: None,
            time: Timestamp::parse_rfc3339("2025-01-15T10:30:00.123456Z").unwrap(),
        };
        assert_eq!(
            messages(std::slice::from_ref(&message), Layout::Stream),
            "[[\"0190f2c4-3b1e-7c2a-9d4e-1f2a3b4c5d6e\",\"Deposited\",0,41,{\"amount\":100,\"amount\":1.50},null,\"2025-01-15T10:30:00.123456Z\"]]\n"
        );
        let with_meta = Message {
            metadata: Some("{}".into()),
            ..message
        };
        assert_eq!(
            messages(&[with_meta], Layout::Category),
            "[[\"0190f2c4-3b1e-7c2a-9d4e-1f2a3b4c5d6e\",\"account-1\",\"Deposited\",0,41,{\"amount\":100,\"amount\":1.50},{},\"2025-01-15T10:30:00.123456Z\"]]\n"
        );
        assert_eq!(messages(&[], Layout::Stream), "[]\n");
    }
}
