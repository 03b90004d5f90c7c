//! Micro-benchmarks of the hot paths, with time and heap allocations per iteration (divan's
//! allocation profiler). Run: `cargo bench -p messagedb-bench` (or `make benchmark-all`); one
//! group: `cargo bench -p messagedb-bench -- stream_name`.

use std::hint::black_box;

use divan::Bencher;
use messagedb_bench::{
    messages, verify_token, CATEGORY_BODY, GET_BODY, STREAM_NAME, TOKEN, WRITE_BODY,
};
use messagedb_core::{
    cardinal_id, category, hash_64, stream_id, ConsumerGroup, NamespaceId, StreamName, Token,
};
use messagedb_server::auth::{AuthCache, TokenKey};
use messagedb_server::poke::{encode_poke, PokeBuffer};
use messagedb_server::wire::{self, Layout};

#[global_allocator]
static ALLOC: divan::AllocProfiler = divan::AllocProfiler::system();

fn main() {
    divan::main();
}

mod stream_name {
    use super::*;

    #[divan::bench]
    fn category_of() -> &'static str {
        category(black_box(STREAM_NAME))
    }

    #[divan::bench]
    fn id_of() -> &'static str {
        stream_id(black_box(STREAM_NAME))
    }

    #[divan::bench]
    fn cardinal_id_of() -> &'static str {
        cardinal_id(black_box(STREAM_NAME))
    }

    /// Validation into an owned name (one allocation: the name is copied).
    #[divan::bench]
    fn parse() -> StreamName {
        StreamName::parse(black_box(STREAM_NAME)).expect("valid name")
    }
}

mod consumer_group {
    use super::*;

    #[divan::bench]
    fn hash_64_of_cardinal_id() -> i64 {
        hash_64(black_box("123"))
    }

    #[divan::bench]
    fn member_contains_stream() -> bool {
        ConsumerGroup::new(1, 4)
            .expect("valid group")
            .contains(black_box(STREAM_NAME))
    }
}

mod rpc_request {
    use super::*;

    /// The reference load's write and read, and a grouped, correlated `category.get`.
    #[divan::bench(args = ["stream.write", "stream.get", "category.get"])]
    fn parse(bencher: Bencher, method: &str) {
        let body = match method {
            "stream.write" => WRITE_BODY,
            "stream.get" => GET_BODY,
            _ => CATEGORY_BODY,
        };
        bencher.bench(|| messagedb_server::rpc::parse_request(black_box(body.as_bytes())).is_ok());
    }
}

mod wire_rows {
    use super::*;

    #[divan::bench(args = [1, 10, 100])]
    fn stream_get_result(bencher: Bencher, n: usize) {
        let rows = messages(n);
        bencher.bench(|| wire::messages(black_box(&rows), Layout::Stream));
    }

    #[divan::bench(args = [10, 100])]
    fn category_get_result(bencher: Bencher, n: usize) {
        let rows = messages(n);
        bencher.bench(|| wire::messages(black_box(&rows), Layout::Category));
    }
}

mod poke {
    use super::*;

    /// Into a buffer the caller reuses (as a subscription's `PokeBuffer` does): no allocation.
    #[divan::bench]
    fn encode_into_reused_buffer(bencher: Bencher) {
        let mut out = String::with_capacity(256);
        bencher.bench_local(|| {
            out.clear();
            encode_poke(
                &mut out,
                black_box(STREAM_NAME),
                black_box(5),
                black_box(1234),
            );
            out.len()
        });
    }

    /// What a subscription does per poke: encode into its reused buffer, copy out the chunk the
    /// response body will own (one allocation).
    #[divan::bench]
    fn subscription_chunk(bencher: Bencher) {
        let mut pokes = PokeBuffer::default();
        bencher.bench_local(|| pokes.chunk(black_box(STREAM_NAME), black_box(5), black_box(1234)));
    }

    /// Into a fresh buffer per poke.
    #[divan::bench]
    fn encode_into_new_buffer() -> String {
        let mut out = String::new();
        encode_poke(
            &mut out,
            black_box(STREAM_NAME),
            black_box(5),
            black_box(1234),
        );
        out
    }
}

mod token {
    use super::*;

    /// Parse the bearer token, hash it, compare with the stored hash in constant time.
    #[divan::bench]
    fn verify(bencher: Bencher) {
        let stored = Token::parse(TOKEN).expect("valid token").hash();
        bencher.bench(|| verify_token(black_box(TOKEN), &stored));
    }

    #[divan::bench]
    fn parse_only() -> bool {
        Token::parse(black_box(TOKEN)).is_ok()
    }

    /// The usual request: a token verified before, answered from the server's memo (one SHA-256
    /// of the text, one lookup).
    #[divan::bench]
    fn memo_hit(bencher: Bencher) {
        let cache = AuthCache::default();
        let hash = Token::parse(TOKEN).expect("valid token").hash();
        let id = NamespaceId::parse("default").expect("valid id");
        cache.remember(id.clone(), hash);
        // The namespace's entry is fresh for 500 ms; refresh it before each sample (untimed).
        bencher
            .with_inputs(|| cache.put(id.clone(), hash))
            .bench_refs(|()| cache.verified(&TokenKey::of(black_box(TOKEN))).is_some());
    }
}
