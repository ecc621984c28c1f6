//! The testkit run against the reference `MemoryStore`: the conformance suite (through the
//! macro, both forms), and the differential test of `MemoryStore` against itself.

use std::collections::BTreeMap;
use std::sync::Arc;

use crmkit_core::{Error, MemoryStore, Store};
use crmkit_testkit::ops::{self, OpValue};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::TestRunner;

crmkit_testkit::store_conformance_tests!(MemoryStore::new());

fn make_store() -> MemoryStore {
    MemoryStore::new()
}

crmkit_testkit::store_conformance_tests!(mod conformance_via_helper, make_store());

fn memory() -> Arc<dyn Store> {
    Arc::new(MemoryStore::new())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn memory_behaves_like_memory(ops in ops::ops_strategy()) {
        ops::assert_same_behaviour(memory(), memory(), &ops);
    }
}

#[test]
fn check_differential_runs() {
    ops::check_differential(8, memory, memory);
}

#[test]
fn run_all_runs_every_check() {
    crmkit_testkit::conformance::run_all(memory);
}

/// The generator must reach the interesting cases often enough to matter: tally what 300
/// sequences did on MemoryStore and require each outcome to occur.
#[test]
fn generated_ops_cover_the_interesting_outcomes() {
    let mut runner = TestRunner::deterministic();
    let strategy = ops::ops_strategy();
    let mut seen: BTreeMap<&'static str, usize> = BTreeMap::new();
    for _ in 0..300 {
        let ops = strategy.new_tree(&mut runner).unwrap().current();
        let results = ops::assert_same_behaviour(memory(), memory(), &ops);
        for (op, result) in ops.iter().zip(results) {
            let what = match (op, result) {
                (ops::Op::CreateCustomer(_), Ok(_)) => "create ok",
                (ops::Op::CreateCustomer(_), Err(Error::DuplicateIdentityKey { .. })) => {
                    "create duplicate key"
                }
                (ops::Op::CreateCustomer(_), Err(Error::AlreadyExists { .. })) => {
                    "create existing id"
                }
                (ops::Op::CreateCustomer(_), Err(Error::Validation { .. })) => "create invalid",
                (ops::Op::UpdateCustomer(..), Ok(_)) => "update ok",
                (ops::Op::UpdateCustomer(..), Err(Error::NotFound { .. })) => "update unknown",
                (ops::Op::UpdateCustomer(..), Err(Error::DuplicateIdentityKey { .. })) => {
                    "update duplicate key"
                }
                (ops::Op::UpdateCustomer(..), Err(Error::Validation { .. })) => "update invalid",
                (ops::Op::DefineField(_), Ok(_)) => "define ok",
                (ops::Op::DefineField(_), Err(Error::FieldTypeConflict { .. })) => {
                    "define conflict"
                }
                (ops::Op::Record(_), Ok(OpValue::Recorded(Some(_)))) => "record written",
                (ops::Op::Record(_), Ok(OpValue::Recorded(None))) => "record skipped",
                (ops::Op::Record(_), Err(Error::NotFound { .. })) => "record unknown customer",
                (ops::Op::Record(_), Err(Error::Validation { .. })) => "record invalid",
                (ops::Op::RecordAll(_), Ok(OpValue::Batch(b))) if b.skipped() > 0 => {
                    "record_all with skips"
                }
                (ops::Op::RecordAll(_), Ok(_)) => "record_all ok",
                (ops::Op::RecordAll(_), Err(Error::NotFound { .. })) => "record_all failing item",
                (ops::Op::Apply(_), Ok(_)) => "apply ok",
                (ops::Op::Apply(_), Err(Error::StaleRevision { .. })) => "apply stale",
                (ops::Op::Apply(_), Err(Error::DuplicateIdentityKey { .. })) => {
                    "apply duplicate key"
                }
                (ops::Op::Apply(_), Err(Error::NotFound { .. })) => "apply unknown customer",
                (ops::Op::Apply(_), Err(Error::FieldTypeConflict { .. })) => "apply field conflict",
                (ops::Op::Apply(_), Err(Error::AlreadyExists { .. })) => "apply existing id",
                _ => "other",
            };
            *seen.entry(what).or_default() += 1;
        }
    }
    let required = [
        "create ok",
        "create duplicate key",
        "create existing id",
        "create invalid",
        "update ok",
        "update unknown",
        "update duplicate key",
        "update invalid",
        "define ok",
        "define conflict",
        "record written",
        "record skipped",
        "record unknown customer",
        "record invalid",
        "record_all ok",
        "record_all with skips",
        "record_all failing item",
        "apply ok",
        "apply stale",
        "apply duplicate key",
        "apply unknown customer",
        "apply field conflict",
        "apply existing id",
    ];
    for what in required {
        assert!(
            seen.get(what).copied().unwrap_or(0) >= 5,
            "{what} is (almost) never generated: {seen:#?}"
        );
    }
    eprintln!("{seen:#?}");
}
