//! Integration tests of the `messagedb` binary, run as a real process (`CARGO_BIN_EXE_messagedb`)
//! in temporary directories, each server on `--port 0`. Item numbers refer to the SPEC §15
//! conformance checklist.

mod bench;
mod bootstrap;
mod cli;
mod compare;
mod console;
mod durability;
mod export_import;
mod network;
mod postgres;
mod profile;
mod support;
mod tenants;
