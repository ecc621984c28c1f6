//! SqliteStore-specific behaviour: files, schema versions, persistence, concurrent readers.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use crmkit_core::prelude::*;
use crmkit_core::{Crm, ErrorKind, Money, NewCustomer, NewInteraction, Store, StoreExt};
use crmkit_sqlite::{SCHEMA_VERSION, SqliteStore};

#[test]
fn data_survives_closing_and_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("crm.db");
    let (customers, interactions, audit) = {
        let crm = Crm::new(SqliteStore::open(&path).unwrap());
        let c = crm.create_customer(NewCustomer::person("Ada").email("ada@example.org")).unwrap();
        crm.record(NewInteraction::purchase(c.id, crm.now(), Money::parse("1.10", "EUR").unwrap()))
            .unwrap();
        let s = crm.store();
        (
            s.all_customers().unwrap(),
            s.interactions(c.id, Default::default()).unwrap(),
            s.full_audit_log().unwrap(),
        )
    };
    let store = SqliteStore::open(&path).unwrap();
    store.check_integrity().unwrap();
    assert_eq!(store.all_customers().unwrap(), customers);
    assert_eq!(store.interactions(customers[0].id, Default::default()).unwrap(), interactions);
    assert_eq!(store.full_audit_log().unwrap(), audit);
}

#[test]
fn a_database_from_a_newer_crmkit_is_refused_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("future.db");
    drop(SqliteStore::open(&path).unwrap());
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.pragma_update(None, "user_version", SCHEMA_VERSION + 1).unwrap();
    }
    let err = SqliteStore::open(&path).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Storage);
    assert!(
        matches!(err, crmkit_core::Error::SchemaTooNew { found, supported } if found == SCHEMA_VERSION + 1 && supported == SCHEMA_VERSION),
        "{err}"
    );
    assert!(err.to_string().contains("newer"), "{err}");
    let conn = rusqlite::Connection::open(&path).unwrap();
    let v: u32 = conn.query_row("PRAGMA user_version", [], |r| r.get(0)).unwrap();
    assert_eq!(v, SCHEMA_VERSION + 1, "opening must not touch the file");
}

#[test]
fn a_file_that_is_not_a_database_is_a_storage_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notes.txt");
    std::fs::write(
        &path,
        "this is not a database, just some text that is long enough to fill a header",
    )
    .unwrap();
    let err = SqliteStore::open(&path).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Storage);
    assert!(err.to_string().contains("notes.txt"), "{err}");
}

#[test]
fn a_missing_directory_is_a_storage_error_naming_the_path() {
    let err = SqliteStore::open("/nonexistent-dir/crm.db").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Storage);
    assert!(err.to_string().contains("/nonexistent-dir/crm.db"), "{err}");
}

#[test]
fn schema_version_is_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("crm.db");
    drop(SqliteStore::open(&path).unwrap());
    let conn = rusqlite::Connection::open(&path).unwrap();
    let v: u32 = conn.query_row("PRAGMA user_version", [], |r| r.get(0)).unwrap();
    assert_eq!(v, SCHEMA_VERSION);
    let mode: String = conn.query_row("PRAGMA journal_mode", [], |r| r.get(0)).unwrap();
    assert_eq!(mode, "wal");
}

#[test]
fn two_stores_on_one_file_see_each_others_commits() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("crm.db");
    let a = Crm::new(SqliteStore::open(&path).unwrap());
    let b: Arc<dyn Store> = Arc::new(SqliteStore::open(&path).unwrap());
    let c = a.create_customer(NewCustomer::person("Ada").email("ada@example.org")).unwrap();
    assert_eq!(b.customer(c.id).unwrap().unwrap(), c);
}

#[test]
fn a_version_1_database_is_migrated_with_its_data() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v1.db");
    let customer = {
        let crm = Crm::new(SqliteStore::open(&path).unwrap());
        crm.create_customer(NewCustomer::person("Ada").email("ada@example.org")).unwrap()
    };
    {
        // Turn it back into what version 1 wrote.
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(
            r#"DROP TABLE "record_index"; DROP TABLE "records";
               DROP TABLE "memberships"; DROP TABLE "events"; DROP TABLE "consumers";
               DROP TABLE "tasks"; DROP TABLE "automation_revision"; DROP TABLE "playbooks";
               DROP TABLE "segments";
               DROP TABLE "scores"; DROP TABLE "models"; PRAGMA user_version = 1;"#,
        )
        .unwrap();
    }
    let store = SqliteStore::open(&path).unwrap();
    store.check_integrity().unwrap();
    assert_eq!(store.customer(customer.id).unwrap(), Some(customer));
    assert_eq!(store.model(None).unwrap(), None, "the version 2 tables exist and are empty");
    assert!(store.segments().unwrap().is_empty(), "the version 3 tables exist and are empty");
    assert_eq!(store.automation_revision().unwrap(), 0);
    let records = store.records(&crmkit_core::RecordQuery::kind("deal")).unwrap();
    assert!(records.items.is_empty(), "the version 4 tables exist and are empty");
    let conn = rusqlite::Connection::open(&path).unwrap();
    let v: u32 = conn.query_row("PRAGMA user_version", [], |r| r.get(0)).unwrap();
    assert_eq!(v, SCHEMA_VERSION);
}

/// `Store::write` when its work fails: nothing is written, the error is the work's, and the
/// transaction is rolled back (the next write, by this handle or another, goes through).
#[test]
fn a_write_whose_work_fails_writes_nothing_and_releases_the_lock() {
    use crmkit_core::{Error, FieldDef, FieldType, WriteBatch, WriteOp};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("crm.db");
    for store in [SqliteStore::open_in_memory().unwrap(), SqliteStore::open(&path).unwrap()] {
        let err = store
            .write(Box::new(|| {
                assert_eq!(store.field_schema()?.len(), 0, "work reads inside the transaction");
                Err(Error::validation("plan", "refused by the caller"))
            }))
            .unwrap_err();
        assert_eq!(err.to_string(), "invalid plan: refused by the caller");
        assert!(store.field_schema().unwrap().is_empty());
        let mut batch = WriteBatch::new();
        batch.push(WriteOp::DefineField(FieldDef::new("plan", FieldType::String)));
        store.apply(batch).unwrap();
        assert_eq!(store.field_schema().unwrap().len(), 1);
    }
    // Another handle on the file is not kept waiting by the failed write.
    let other = Crm::new(SqliteStore::open(&path).unwrap());
    other.create_customer(NewCustomer::person("Bo")).unwrap();
    assert_eq!(other.store().stats().unwrap().customers, 1);
}

/// A panic inside a write's work rolls the transaction back and leaves the store writable.
#[test]
fn a_panic_inside_a_write_rolls_back_and_the_store_stays_writable() {
    use crmkit_core::{FieldDef, FieldType, WriteBatch, WriteOp};
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join("crm.db")).unwrap();
    let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _ = store.write(Box::new(|| panic!("a bug in the work")));
    }));
    assert!(panicked.is_err());
    let mut batch = WriteBatch::new();
    batch.push(WriteOp::DefineField(FieldDef::new("plan", FieldType::String)));
    store.apply(batch).unwrap();
    assert_eq!(store.field_schema().unwrap().len(), 1);
}
