//! The store conformance suite (`messagedb-conformance`), the same cases the embedded backend
//! runs, each on a fresh database.

use crate::support::fixture;

messagedb_conformance::store_conformance_tests!(fixture());
