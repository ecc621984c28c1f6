//! The testkit run against the reference `MemoryStore`: the conformance suite, and the
//! differential test of `MemoryStore` against itself.

use crmkit_core::MemoryStore;

crmkit_testkit::store_conformance_tests!(MemoryStore::new());

fn make_store() -> MemoryStore {
    MemoryStore::new()
}

crmkit_testkit::store_conformance_tests!(mod conformance_via_helper, make_store());
