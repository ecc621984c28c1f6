//! The [`store_conformance_tests!`](crate::store_conformance_tests) macro.

/// Expands to a test module with one `#[test]` per check of [`conformance`](crate::conformance),
/// each on a fresh store.
///
/// The argument is an expression that creates a fresh, empty store: it is evaluated once per
/// test and must have a type `S: Store + 'static` (not an `Arc`; the macro wraps it). It is
/// evaluated inside the generated module, which glob-imports its parent (`use super::*;`), so
/// a helper function next to the invocation can be called by its bare name; paths starting
/// with `self::` or `super::` would resolve one level too deep, so avoid them.
///
/// The module is called `conformance`; use the `mod NAME, EXPR` form to pick another name, for
/// example to run the suite twice in one file (in memory and on disk).
///
/// This crate is not API-stable: the set of generated tests grows and changes between
/// releases.
///
/// # Examples
///
/// ```ignore
/// // tests/conformance.rs of a backend crate
/// fn make_store() -> my_backend::MyStore {
///     my_backend::MyStore::open_in_memory().unwrap()
/// }
///
/// crmkit_testkit::store_conformance_tests!(make_store());
/// crmkit_testkit::store_conformance_tests!(mod on_disk, my_backend::MyStore::open_temp().unwrap());
/// ```
#[macro_export]
macro_rules! store_conformance_tests {
    (mod $name:ident, $make:expr $(,)?) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            fn fresh_store() -> ::std::sync::Arc<dyn $crate::__crmkit_core::Store> {
                ::std::sync::Arc::new($make)
            }

            #[test]
            fn customer_roundtrip() {
                $crate::conformance::customer_roundtrip(fresh_store());
            }

            #[test]
            fn models_and_scores_are_versioned() {
                $crate::conformance::models_and_scores_are_versioned(fresh_store());
            }

            #[test]
            fn lookup_by_identity_key() {
                $crate::conformance::lookup_by_identity_key(fresh_store());
            }

            #[test]
            fn duplicate_identity_key_is_conflict() {
                $crate::conformance::duplicate_identity_key_is_conflict(fresh_store());
            }

            #[test]
            fn update_writes_audit_entries() {
                $crate::conformance::update_writes_audit_entries(fresh_store());
            }

            #[test]
            fn stale_revision_is_detected() {
                $crate::conformance::stale_revision_is_detected(fresh_store());
            }

            #[test]
            fn removed_identity_key_is_freed() {
                $crate::conformance::removed_identity_key_is_freed(fresh_store());
            }

            #[test]
            fn identity_keys_are_checked_in_batch_order() {
                $crate::conformance::identity_keys_are_checked_in_batch_order(fresh_store());
            }

            #[test]
            fn batch_sees_its_own_earlier_writes() {
                $crate::conformance::batch_sees_its_own_earlier_writes(fresh_store());
            }

            #[test]
            fn list_customers_pages_and_filters() {
                $crate::conformance::list_customers_pages_and_filters(fresh_store());
            }

            #[test]
            fn interactions_by_customer_and_range() {
                $crate::conformance::interactions_by_customer_and_range(fresh_store());
            }

            #[test]
            fn idempotency_key_skips_duplicates() {
                $crate::conformance::idempotency_key_skips_duplicates(fresh_store());
            }

            #[test]
            fn failed_batch_leaves_store_unchanged() {
                $crate::conformance::failed_batch_leaves_store_unchanged(fresh_store());
            }

            #[test]
            fn define_field_is_idempotent_and_conflicts_on_type() {
                $crate::conformance::define_field_is_idempotent_and_conflicts_on_type(
                    fresh_store(),
                );
            }

            #[test]
            fn scan_purchases_columns() {
                $crate::conformance::scan_purchases_columns(fresh_store());
            }

            #[test]
            fn audit_log_paging() {
                $crate::conformance::audit_log_paging(fresh_store());
            }

            #[test]
            fn stats_count_customers_and_interactions() {
                $crate::conformance::stats_count_customers_and_interactions(fresh_store());
            }

            #[test]
            fn attribute_validation_errors() {
                $crate::conformance::attribute_validation_errors(fresh_store());
            }

            #[test]
            fn writes_for_unknown_customers_fail() {
                $crate::conformance::writes_for_unknown_customers_fail(fresh_store());
            }

            #[test]
            fn timestamps_are_truncated_to_micros() {
                $crate::conformance::timestamps_are_truncated_to_micros(fresh_store());
            }

            #[test]
            fn concurrent_readers_see_whole_batches() {
                $crate::conformance::concurrent_readers_see_whole_batches(fresh_store());
            }

            #[test]
            fn membership_rows_and_schedule() {
                $crate::conformance::membership_rows_and_schedule(fresh_store());
            }

            #[test]
            fn outbox_events_and_cursors() {
                $crate::conformance::outbox_events_and_cursors(fresh_store());
            }

            #[test]
            fn tasks_are_stored_and_queried() {
                $crate::conformance::tasks_are_stored_and_queried(fresh_store());
            }

            #[test]
            fn records_are_versioned_and_conflict() {
                $crate::conformance::records_are_versioned_and_conflict(fresh_store());
            }

            #[test]
            fn records_query_by_kind_and_index() {
                $crate::conformance::records_query_by_kind_and_index(fresh_store());
            }

            #[test]
            fn record_writes_are_atomic_with_other_writes() {
                $crate::conformance::record_writes_are_atomic_with_other_writes(fresh_store());
            }
        }
    };
    ($make:expr $(,)?) => {
        $crate::store_conformance_tests!(mod conformance, $make);
    };
}
