//! Integration tests of the client against a real server started in-process on `127.0.0.1:0`,
//! with an in-memory embedded store. Every client method is exercised at least once.

mod batches;
mod connection;
mod deletions;
mod errors;
mod methods;
mod support;
