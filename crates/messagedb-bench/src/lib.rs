//! Inputs for messagedb's micro-benchmarks (`benches/hot_paths.rs`), and the tests that pin the
//! hot paths that must never allocate.
//!
//! The benchmarks run with divan's allocation profiler, so each reports time *and* heap
//! allocations per iteration: `cargo bench -p messagedb-bench` (or `make benchmark-all`). The
//! fixtures live here so the benchmarks and the tests measure the same inputs. The zero-allocation
//! tests run with the project's counting allocator and count this thread's allocations only, so
//! tests running in parallel cannot disturb them.

use messagedb_core::{Message, MessageId, Timestamp, Token};

/// A compound stream name: category `account`, id `123+alice`, cardinal id `123`.
pub const STREAM_NAME: &str = "account-123+alice";

/// The admin token of the SPEC's checklist (`default`, 64 `0`s).
pub const TOKEN: &str =
    "ns_ZGVmYXVsdA_0000000000000000000000000000000000000000000000000000000000000000";

/// The reference load's `stream.write` body (issue 3's `reference-mix`).
pub const WRITE_BODY: &str = r#"["stream.write","test-stream-42",{"type":"TestEvent","data":{"counter":1700000000123456789,"payload":"test data for profiling with some content to make it realistic","nested":{"field1":"value1","field2":42,"field3":true}},"metadata":{"correlationStreamName":"test-correlation","source":"load-test"}}]"#;

/// The reference load's `stream.get` body.
pub const GET_BODY: &str = r#"["stream.get","test-stream-42",{"position":0,"batchSize":10}]"#;

/// A `category.get` with a consumer group and a correlation filter.
pub const CATEGORY_BODY: &str = r#"["category.get","account",{"position":1,"batchSize":100,"correlation":"workflow","consumerGroup":{"member":1,"size":4}}]"#;

/// `n` stored messages as a 10-message `stream.get` returns them (reference-mix data).
pub fn messages(n: usize) -> Vec<Message> {
    let time = Timestamp::parse_rfc3339("2025-01-15T10:30:00.123456Z").expect("valid time");
    (0..n)
        .map(|i| Message {
            id: MessageId::parse("0190f2c4-3b1e-7c2a-9d4e-1f2a3b4c5d6e").expect("valid id"),
            stream_name: "test-stream-42".to_owned(),
            message_type: "TestEvent".to_owned(),
            position: i as i64,
            global_position: 1000 + i as i64,
            data: r#"{"counter":1700000000123456789,"payload":"test data for profiling with some content to make it realistic","nested":{"field1":"value1","field2":42,"field3":true}}"#.to_owned(),
            metadata: Some(r#"{"correlationStreamName":"test-correlation","source":"load-test"}"#.to_owned()),
            time,
        })
        .collect()
}

/// What authentication does with a bearer token on a cache miss: parse it and compare its hash
/// with the stored one (constant time).
pub fn verify_token(text: &str, stored: &messagedb_core::TokenHash) -> bool {
    Token::parse(text).is_ok_and(|token| token.hash() == *stored)
}

#[cfg(test)]
mod tests {
    use super::*;
    use messagedb_alloc::{measure, CountingAllocator};
    use messagedb_core::{cardinal_id, category, hash_64, stream_id, ConsumerGroup};
    use messagedb_server::poke::{encode_poke, PokeBuffer};
    use std::hint::black_box;

    #[global_allocator]
    static GLOBAL: CountingAllocator = CountingAllocator;

    /// Asserts that `f` makes no heap allocation on this thread.
    fn assert_no_allocation<R>(what: &str, f: impl FnOnce() -> R) -> R {
        messagedb_alloc::enable();
        let (result, counts) = measure(f);
        assert_eq!(
            counts.allocations, 0,
            "{what} allocated {} bytes",
            counts.bytes
        );
        result
    }

    #[test]
    fn stream_name_splits_do_not_allocate() {
        for name in [
            STREAM_NAME,
            "account",
            "account-",
            "user-profile-456",
            "é-ü+x",
        ] {
            let name = black_box(name);
            let cat = assert_no_allocation("category", || category(name));
            let id = assert_no_allocation("stream_id", || stream_id(name));
            let cid = assert_no_allocation("cardinal_id", || cardinal_id(name));
            assert!(name.starts_with(cat) && id.starts_with(cid));
        }
        assert_eq!(category(STREAM_NAME), "account");
        assert_eq!(cardinal_id(STREAM_NAME), "123");
    }

    #[test]
    fn hash_64_does_not_allocate() {
        let h = assert_no_allocation("hash_64", || hash_64(black_box("123")));
        assert_eq!(h, 2318431741638412123);
        let group = ConsumerGroup::new(1, 4).unwrap();
        let member = assert_no_allocation("ConsumerGroup::contains", || {
            group.contains(black_box(STREAM_NAME))
        });
        assert_eq!(member, hash_64("123").unsigned_abs() % 4 == 1);
    }

    #[test]
    fn poke_encoding_into_a_reused_buffer_does_not_allocate() {
        let mut out = String::with_capacity(256);
        encode_poke(&mut out, STREAM_NAME, 0, 1);
        for (position, gpos) in [(5, 1234), (i64::MAX, i64::MAX), (-1, i64::MIN)] {
            out.clear();
            assert_no_allocation("encode_poke", || {
                encode_poke(&mut out, black_box(STREAM_NAME), position, gpos)
            });
            assert!(out.starts_with("event: poke\ndata: {\"stream\":\"account-123+alice\""));
            assert!(out.ends_with("}\n\n"));
        }
    }

    #[test]
    fn a_subscription_allocates_only_each_poke_chunk() {
        let mut pokes = PokeBuffer::default();
        // The buffer grows to the widest poke once, then is reused.
        pokes.chunk(STREAM_NAME, i64::MIN, i64::MIN);
        for (position, gpos) in [(5, 1234), (i64::MAX, i64::MAX), (-1, i64::MIN)] {
            messagedb_alloc::enable();
            let (chunk, counts) = measure(|| pokes.chunk(black_box(STREAM_NAME), position, gpos));
            assert_eq!(counts.allocations, 1, "{} bytes", counts.bytes);
            assert_eq!(counts.bytes, chunk.len() as u64, "exactly the chunk");
        }
    }

    #[test]
    fn fixtures_are_what_the_benchmarks_claim() {
        assert!(messagedb_server::rpc::parse_request(WRITE_BODY.as_bytes()).is_ok());
        assert!(messagedb_server::rpc::parse_request(GET_BODY.as_bytes()).is_ok());
        assert!(messagedb_server::rpc::parse_request(CATEGORY_BODY.as_bytes()).is_ok());
        let stored = Token::parse(TOKEN).unwrap().hash();
        assert!(verify_token(TOKEN, &stored));
        assert!(!verify_token(&TOKEN.replace("_00", "_01"), &stored));
        assert_eq!(messages(10).len(), 10);
    }
}
