//! Fuzz target: arbitrary bytes as a `/rpc` request body.
//!
//! `parse_request` is the first code that touches an untrusted body after authentication. For any
//! input it must return either a request or an API error, never panic, loop or blow the stack
//! (deeply nested arrays are the classic way to do the latter). The result is discarded: the
//! property under test is "no crash", and libFuzzer reports any panic as a crash with its input.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|body: &[u8]| {
    let _ = messagedb_server::rpc::parse_request(body);
});
