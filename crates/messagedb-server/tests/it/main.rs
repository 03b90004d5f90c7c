//! Integration tests: the real server on 127.0.0.1:0 over an in-memory SQLite store, driven with
//! raw HTTP requests. Modules follow the SPEC §15 checklist groups.

mod app;

mod authentication;
mod authorization;
mod batches;
mod bootstrap;
mod category;
mod deletions;
mod envelope;
mod failures;
mod fidelity;
mod http_surface;
mod import;
mod limits;
mod many_namespaces;
mod namespaces;
mod ordering;
mod shutdown;
mod sse;
mod sse_client;
mod sse_lifetime;
mod sse_load;
mod streams;
mod test_mode;
