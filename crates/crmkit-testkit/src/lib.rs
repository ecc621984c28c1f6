//! # crmkit-testkit
//!
//! The tests every crmkit [`Store`](crmkit_core::Store) backend must pass:
//!
//! - [`conformance`]: one `pub fn` per documented behaviour of the storage contract (the
//!   semantics written on [`WriteOp`](crmkit_core::WriteOp) and implemented by the reference
//!   [`MemoryStore`](crmkit_core::MemoryStore)). Each takes a fresh, empty store and panics with
//!   a descriptive message when the store misbehaves.
//! - [`store_conformance_tests!`]: expands to one `#[test]` per conformance check.
//! - [`ops`]: a differential, model-based property test. Random sequences of operations (with
//!   deliberate conflicts, stale revisions, idempotency collisions and failing batches) are run
//!   against two stores through the [`Crm`](crmkit_core::Crm) engine; every result and, at the
//!   end, everything observable must be equal. Run a new backend against `MemoryStore`.
//! - [`Snapshot`]: everything a store lets one observe, for before/after and A/B comparisons.
//!
//! ```
//! use std::sync::Arc;
//! use crmkit_core::{MemoryStore, Store};
//!
//! // One check on one fresh store:
//! crmkit_testkit::conformance::duplicate_identity_key_is_conflict(Arc::new(MemoryStore::new()));
//!
//! // The differential test, a few cases:
//! crmkit_testkit::ops::check_differential(
//!     4,
//!     || -> Arc<dyn Store> { Arc::new(MemoryStore::new()) },
//!     || -> Arc<dyn Store> { Arc::new(MemoryStore::new()) },
//! );
//! ```
//!
//! In a backend's tests:
//!
//! ```ignore
//! crmkit_testkit::store_conformance_tests!(crmkit_sqlite::SqliteStore::open_in_memory().unwrap());
//! ```
//!
//! # Stability
//!
//! This crate is test support for crmkit's own backends and is **not API-stable**: checks are
//! added, renamed and tightened in any release, without a major version bump. Pin the exact
//! version if you use it for a backend of your own.

// This whole crate is test code: its library functions *are* assertions, and the way a test
// reports a failure is to panic (directly, or through `unwrap`/`expect` on a result that must be
// `Ok`). The workspace denies these lints for production code only.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod conformance;
mod macros;
pub mod ops;
mod snapshot;

pub use snapshot::Snapshot;

/// Re-exported for [`store_conformance_tests!`], so that callers need no direct dependency.
#[doc(hidden)]
pub use crmkit_core as __crmkit_core;

#[cfg(test)]
mod tests {
    use crate::conformance::CHECKS;

    /// A check function that is not in the list would never run.
    #[test]
    fn every_check_function_is_listed() {
        let sources = [include_str!("conformance.rs"), include_str!("conformance/records.rs")];
        let mut found = 0;
        for source in sources {
            for line in source.lines() {
                let Some(rest) = line.strip_prefix("pub fn ") else { continue };
                let Some((name, args)) = rest.split_once('(') else { continue };
                if args.starts_with("store: Arc<dyn Store>)") {
                    found += 1;
                    assert!(CHECKS.iter().any(|(n, _)| *n == name), "check {name} is not listed");
                }
            }
        }
        assert_eq!(found, CHECKS.len(), "check functions vs listed checks");
    }

    #[test]
    fn check_names_are_unique() {
        let mut names: Vec<&str> = CHECKS.iter().map(|(n, _)| *n).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), CHECKS.len());
    }
}
