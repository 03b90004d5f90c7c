//! Integration tests of the PostgreSQL backend, on a throwaway cluster that the tests start
//! themselves (`messagedb-testpg`): the store conformance suite, the layout and migrations, and
//! several instances on one database.

mod batches;
mod conformance;
mod faults;
mod import;
mod instances;
mod layout;
mod races;
mod servers;
mod subscription;
mod subscriptions;
mod support;
mod tls;
