//! The store conformance suite: SPEC §10.2 (I1–I9) and §6 semantics, checked through the
//! [`Store`] trait only, so that every backend runs the very same cases.
//!
//! A backend's integration tests expand [`store_conformance_tests!`] with a future that builds a
//! fresh, empty store; each case becomes its own `#[tokio::test]` (named `<area>::<case>`), so a
//! failure names the behaviour that broke. Cases create the namespaces they need, never rely on
//! `default`, and close the store when they finish. Cases live in one module per area:
//! [`writes`], [`payload`], [`streams`], [`categories`], [`listing`], [`namespaces`],
//! [`notifications`] (the commit listener and `head`, which subscriptions rely on), [`counts`]
//! (the counters of `ns.info` and `ns.categories` against a full scan, over random operations),
//! [`import`] (import batches and the forced-import clear), [`batches`]
//! (`stream.writeBatch`) and [`deletions`] (`stream.delete`, `stream.truncate`). A tidy test (`tidy.rs`) fails when a case is not listed in the macro.
//!
//! ```text
//! mod in_memory {
//!     messagedb_conformance::store_conformance_tests!(async {
//!         Arc::new(SqliteStore::open_in_memory().unwrap()) as Arc<dyn Store>
//!     });
//! }
//! ```
//!
//! The calling crate needs `tokio` (with the `macros` and `rt-multi-thread` features), and the
//! factory expression is evaluated inside a generated child module that glob-imports its parent.

use std::any::Any;
use std::future::Future;
use std::sync::Arc;

use messagedb_core::Store;

pub mod batches;
pub mod categories;
pub mod counts;
pub mod deletions;
pub mod import;
pub mod listing;
pub mod namespaces;
pub mod notifications;
pub mod payload;
pub mod streams;
pub mod support;
pub mod writes;

#[cfg(test)]
mod tidy;

/// A store under test, plus whatever must outlive it (a temporary directory, a database
/// cluster). Fields drop in order: the store first, then the guard.
pub struct Fixture {
    pub store: Arc<dyn Store>,
    guard: Option<Box<dyn Any + Send>>,
}

impl Fixture {
    pub fn new(store: Arc<dyn Store>) -> Fixture {
        Fixture { store, guard: None }
    }

    /// Keeps `guard` alive until the case has finished and the store is closed.
    pub fn keeping(mut self, guard: impl Any + Send) -> Fixture {
        self.guard = Some(Box::new(guard));
        self
    }
}

impl From<Arc<dyn Store>> for Fixture {
    fn from(store: Arc<dyn Store>) -> Fixture {
        Fixture::new(store)
    }
}

/// What a factory gives a case: a fixture to run against, or a reason to skip (a backend whose
/// server is not available, when the environment explicitly allows skipping it).
pub enum Setup {
    Run(Fixture),
    /// The case passes without running; the factory has already said why.
    Skip,
}

impl From<Fixture> for Setup {
    fn from(fixture: Fixture) -> Setup {
        Setup::Run(fixture)
    }
}

impl From<Arc<dyn Store>> for Setup {
    fn from(store: Arc<dyn Store>) -> Setup {
        Setup::Run(Fixture::new(store))
    }
}

impl From<Option<Fixture>> for Setup {
    fn from(fixture: Option<Fixture>) -> Setup {
        fixture.map_or(Setup::Skip, Setup::Run)
    }
}

/// Builds the fixture, runs one case against it, and closes the store.
pub async fn run<F, C, R>(fixture: F, case: C)
where
    F: Future,
    F::Output: Into<Setup>,
    C: FnOnce(Arc<dyn Store>) -> R,
    R: Future<Output = ()>,
{
    let Setup::Run(fixture) = fixture.await.into() else {
        return;
    };
    case(Arc::clone(&fixture.store)).await;
    fixture.store.close().await;
    drop(fixture.guard);
}

/// Expands to one `#[tokio::test]` per conformance case, grouped in one module per area.
///
/// `$factory` is an expression evaluating to a future whose output is `Arc<dyn Store>`, a
/// [`Fixture`], or an `Option<Fixture>` (`None` skips the case); it is evaluated once per case,
/// and must give a fresh, empty store each time.
#[macro_export]
macro_rules! store_conformance_tests {
    ($factory:expr) => {
        $crate::store_conformance_tests!(@expand $factory;
            writes {
                positions_start_at_zero_and_global_positions_increase,
                global_positions_are_gapless,
                ids_are_generated_v7_or_kept,
                idempotent_retry_returns_the_original_positions,
                duplicate_id_in_another_stream_or_type_is_refused,
                version_conflicts_report_expected_and_actual,
                concurrent_expected_version_writes_have_one_winner,
                concurrent_writes_keep_positions_gapless,
                readers_never_see_a_position_appear_below_one_seen,
                times_are_microseconds_at_commit,
                writes_to_a_missing_namespace_fail,
            }
            payload {
                data_and_metadata_round_trip_byte_identical,
                no_metadata_and_empty_metadata_differ,
            }
            streams {
                unknown_streams_are_empty,
                messages_carry_every_field,
                read_stream_start_positions,
                read_stream_limits,
                read_stream_from_a_global_position,
                stream_reads_never_treat_the_name_as_a_category,
                last_message_with_and_without_type,
                stream_version_counts_up,
            }
            categories {
                category_selection_is_exact,
                category_start_positions,
                category_limits,
                correlation_filter,
                consumer_groups_partition_a_category,
                compound_ids_share_a_member,
                group_filter_applies_before_the_limit,
                filters_combine,
            }
            listing {
                streams_are_listed_bytewise_with_versions,
                stream_prefixes_are_literal,
                stream_paging_returns_each_stream_once,
                categories_are_counted_exactly,
            }
            namespaces {
                create_and_look_up,
                duplicate_create_is_refused,
                info_counts_and_last_activity,
                list_is_ordered_with_real_counts,
                delete_reports_the_count_and_forgets_everything,
                recreated_namespace_is_empty,
                token_hash_rotation,
                namespaces_are_isolated,
                concurrent_creates,
                delete_during_traffic,
            }
            notifications {
                commits_are_reported_in_global_order,
                only_appends_are_reported,
                deletion_ends_the_namespace,
                head_is_the_highest_committed_global_position,
                head_covers_every_reported_commit,
            }
            batches {
                entries_land_in_order,
                a_stale_expected_version_writes_nothing,
                conditions_fail_on_the_lowest_match,
                concurrent_guarded_batches_have_one_winner,
                retries_and_duplicates,
                batches_are_seen_whole,
            }
            counts {
                counts_equal_a_full_scan,
            }
            deletions {
                delete_then_write_continues_after_the_old_version,
                truncate_removes_the_oldest_positions,
                a_deletion_takes_the_next_global_position,
                an_import_cannot_take_a_deletions_position,
                delete_checks_the_expected_version,
                ids_of_removed_messages_are_forgotten,
                a_long_stream_is_removed_in_chunks,
                a_truncated_stream_exports_and_imports,
                deletions_are_listed_in_pages,
            }
            import {
                records_keep_every_field,
                collisions_refuse_the_whole_batch,
                the_counter_never_moves_backwards,
                writes_continue_after_imported_positions,
                imports_are_reported_in_global_order,
                clear_keeps_the_namespace_and_its_counter,
            }
        );
    };
    (@expand $factory:expr; $($area:ident { $($case:ident),* $(,)? })*) => {
        $(
            mod $area {
                #[allow(unused_imports)]
                use super::*;
                $(
                    #[::tokio::test(flavor = "multi_thread", worker_threads = 2)]
                    async fn $case() {
                        $crate::run($factory, $crate::$area::$case).await;
                    }
                )*
            }
        )*
    };
}
