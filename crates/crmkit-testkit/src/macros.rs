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

            $crate::__conformance_checks!(__conformance_test_fns);
        }
    };
    ($make:expr $(,)?) => {
        $crate::store_conformance_tests!(mod conformance, $make);
    };
}

/// The conformance checks, written once: calls the crate's macro `$then!` with their names (in the order of
/// [`CHECKS`](crate::conformance::CHECKS)).
#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_checks {
    ($then:ident) => {
        $crate::$then! {
            customer_roundtrip,
            models_and_scores_are_versioned,
            lookup_by_identity_key,
            duplicate_identity_key_is_conflict,
            update_writes_audit_entries,
            stale_revision_is_detected,
            removed_identity_key_is_freed,
            identity_keys_are_checked_in_batch_order,
            batch_sees_its_own_earlier_writes,
            list_customers_pages_and_filters,
            interactions_by_customer_and_range,
            idempotency_key_skips_duplicates,
            failed_batch_leaves_store_unchanged,
            define_field_is_idempotent_and_conflicts_on_type,
            scan_purchases_columns,
            audit_log_paging,
            stats_count_customers_and_interactions,
            attribute_validation_errors,
            writes_for_unknown_customers_fail,
            timestamps_are_truncated_to_micros,
            concurrent_readers_see_whole_batches,
            membership_rows_and_schedule,
            outbox_events_and_cursors,
            tasks_are_stored_and_queried,
            records_are_versioned_and_conflict,
            records_query_by_kind_and_index,
            record_writes_are_atomic_with_other_writes,
        }
    };
}

/// One `#[test]` per check, each on a `fresh_store()` of the calling module.
#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_test_fns {
    ($($check:ident),* $(,)?) => {
        $(
            #[test]
            fn $check() {
                $crate::conformance::$check(fresh_store());
            }
        )*
    };
}

/// The [`CHECKS`](crate::conformance::CHECKS) table from the names.
#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_check_table {
    ($($check:ident),* $(,)?) => {
        &[$((stringify!($check), $crate::conformance::$check as $crate::conformance::Check)),*]
    };
}
