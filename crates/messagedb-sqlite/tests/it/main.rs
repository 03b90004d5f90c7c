//! Integration tests of the embedded backend: the shared store conformance suite, run in memory
//! and on disk, plus what only this backend has (files, the directory lock, schema versions,
//! group commit).

mod conformance;
mod files;
mod group_commit;
mod many_namespaces;
