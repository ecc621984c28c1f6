//! SqliteStore against the conformance suite (file and in-memory) and, operation by operation,
//! against the reference MemoryStore.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use crmkit_core::{MemoryStore, Store};
use crmkit_sqlite::SqliteStore;

/// A fresh database file that lives as long as the process (the directory is leaked on purpose:
/// the store must outlive this function).
fn file_store() -> SqliteStore {
    let dir = tempfile::tempdir().unwrap().keep();
    SqliteStore::open(dir.join("crm.db")).unwrap()
}

crmkit_testkit::store_conformance_tests!(mod sqlite_in_memory, SqliteStore::open_in_memory().unwrap());
crmkit_testkit::store_conformance_tests!(mod sqlite_file, file_store());

#[test]
fn sqlite_in_memory_behaves_like_memory_store() {
    crmkit_testkit::ops::check_differential(
        128,
        || Arc::new(MemoryStore::new()) as Arc<dyn Store>,
        || Arc::new(SqliteStore::open_in_memory().unwrap()) as Arc<dyn Store>,
    );
}

#[test]
fn sqlite_file_behaves_like_memory_store() {
    crmkit_testkit::ops::check_differential(
        32,
        || Arc::new(MemoryStore::new()) as Arc<dyn Store>,
        || Arc::new(file_store()) as Arc<dyn Store>,
    );
}
