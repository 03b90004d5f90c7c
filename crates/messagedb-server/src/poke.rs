//! SSE poke encoding (SPEC §8.3) into a caller's buffer, so a subscription that reuses one buffer
//! encodes pokes without allocating.
//!
//! The bytes are exactly one event: `event: poke`, a `data:` line with the compact JSON object
//! (`stream`, `position`, `globalPosition`, in that order, the stream name JSON-escaped so no name
//! can break the framing), and the blank line that ends the event.

use crate::wire;

/// Appends one poke event for the message at `position` / `global_position` of `stream_name`.
pub fn encode_poke(out: &mut String, stream_name: &str, position: i64, global_position: i64) {
    out.push_str("event: poke\ndata: {\"stream\":");
    wire::push_str(out, stream_name);
    out.push_str(",\"position\":");
    wire::push_i64(out, position);
    out.push_str(",\"globalPosition\":");
    wire::push_i64(out, global_position);
    out.push_str("}\n\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_compact_event_with_the_spec_key_order() {
        let mut out = String::new();
        encode_poke(&mut out, "account-123", 5, 1234);
        assert_eq!(
            out,
            "event: poke\ndata: {\"stream\":\"account-123\",\"position\":5,\"globalPosition\":1234}\n\n"
        );
        out.clear();
        encode_poke(&mut out, "a\n\"b", 0, 1);
        assert_eq!(
            out,
            "event: poke\ndata: {\"stream\":\"a\\n\\\"b\",\"position\":0,\"globalPosition\":1}\n\n"
        );
    }
}
