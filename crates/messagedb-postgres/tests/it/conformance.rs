//! The store conformance suite (`messagedb-conformance`), the same cases the embedded backend
//! runs, each on a fresh database.

use crate::support::{fixture, fixture_with_short_lived_writers};

messagedb_conformance::store_conformance_tests!(fixture());

/// The whole suite again with writer tasks that end as soon as their queue is empty: starting,
/// ending and restarting them changes nothing a client can observe.
mod short_lived_writers {
    use super::*;

    messagedb_conformance::store_conformance_tests!(fixture_with_short_lived_writers());
}
