//! SSE poke encoding (SPEC §8.3).
//!
//! The bytes are exactly one event: `event: poke`, a `data:` line with the compact JSON object
//! (`stream`, `position`, `globalPosition`, in that order, the stream name JSON-escaped so no name
//! can break the framing), and the blank line that ends the event.
//!
//! [`encode_poke`] appends to a caller's buffer and allocates nothing once the buffer is big
//! enough. Each subscription keeps one such buffer in a [`PokeBuffer`], so in production the
//! encoding allocates nothing; what a poke does allocate is its chunk, exactly its size, because
//! the response body owns each chunk until the socket has taken it. That is one allocation per
//! poke (a fresh `String` turned into `Bytes` was two: the string and the `Bytes` header), and
//! an idle subscription keeps only its buffer, about 100 bytes. The benchmarks
//! (`cargo bench -p messagedb-bench -- poke`) and the allocation tests in `messagedb-bench` pin
//! both counts.

use bytes::Bytes;

use crate::wire;

/// A subscription's poke encoder: one buffer, reused for every poke it sends.
#[derive(Debug, Default)]
pub struct PokeBuffer {
    buffer: String,
}

impl PokeBuffer {
    /// One poke event as its own chunk; one allocation, of exactly the chunk's size.
    pub fn chunk(&mut self, stream_name: &str, position: i64, global_position: i64) -> Bytes {
        self.buffer.clear();
        encode_poke(&mut self.buffer, stream_name, position, global_position);
        Bytes::copy_from_slice(self.buffer.as_bytes())
    }
}

/// One `event: deleted` (SPEC §18): `data: {"before":p,"globalPosition":g,"stream":"s"}`.
/// Deletions are rare, so this builds its own chunk.
pub fn deleted_chunk(stream_name: &str, before: i64, global_position: i64) -> Bytes {
    let mut out = String::with_capacity(64 + stream_name.len());
    out.push_str("event: deleted\ndata: {\"before\":");
    wire::push_i64(&mut out, before);
    out.push_str(",\"globalPosition\":");
    wire::push_i64(&mut out, global_position);
    out.push_str(",\"stream\":");
    wire::push_str(&mut out, stream_name);
    out.push_str("}\n\n");
    Bytes::from(out)
}

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

    #[test]
    fn a_deletion_is_one_event_with_the_spec_key_order() {
        assert_eq!(
            &deleted_chunk("account-\"1", 5, 42)[..],
            b"event: deleted\ndata: {\"before\":5,\"globalPosition\":42,\"stream\":\"account-\\\"1\"}\n\n"
        );
    }

    #[test]
    fn a_reused_buffer_gives_each_chunk_only_its_own_event() {
        let mut pokes = PokeBuffer::default();
        let long = pokes.chunk("a-long-stream-name", 10, 20);
        let short = pokes.chunk("b", 1, 2);
        assert_eq!(
            &long[..],
            b"event: poke\ndata: {\"stream\":\"a-long-stream-name\",\"position\":10,\"globalPosition\":20}\n\n"
        );
        assert_eq!(
            &short[..],
            b"event: poke\ndata: {\"stream\":\"b\",\"position\":1,\"globalPosition\":2}\n\n"
        );
    }
}
