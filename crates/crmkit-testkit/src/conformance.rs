//! The conformance suite: one function per behaviour every [`Store`] must have.
//!
//! Each check takes a fresh, **empty** store (as an `Arc<dyn Store>`, because most of them
//! drive it through [`Crm::from_arc`] with a [`FixedClock`]) and panics with a message saying
//! what the store got wrong. The expected values are written out by hand from the contract on
//! [`WriteOp`] and the reference [`MemoryStore`](crmkit_core::MemoryStore),
//! not computed by calling into it.
//!
//! Run them all with [`store_conformance_tests!`](crate::store_conformance_tests) (one
//! `#[test]` each) or [`run_all`].

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Debug;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use crmkit_core::{
    AttributeValue, AuditRecord, BatchOutcome, Channel, Consent, ConsentStatus, Crm, Currency,
    Customer, CustomerId, CustomerKind, CustomerQuery, CustomerUpdate, Direction, Error, ErrorKind,
    FieldDef, FieldType, FixedClock, IdentityKey, IdentityKind, Interaction, InteractionId,
    InteractionKind, LifecycleStage, LineItem, Money, NewCustomer, NewInteraction, Page, Result,
    StageChange, Store, StoreExt, StoreStats, TimeRange, WriteBatch, WriteOp,
};
use rust_decimal::Decimal;
use serde_json::json;

use crmkit_core::TaskId;
use crmkit_core::automation::{
    EventPayload, Membership, NewEvent, Playbook, Segment, Task, TaskQuery, TaskStatus,
};

use crate::Snapshot;

mod records;
pub use records::{
    record_writes_are_atomic_with_other_writes, records_are_versioned_and_conflict,
    records_query_by_kind_and_index,
};

/// A named conformance check.
pub type Check = fn(Arc<dyn Store>);

/// Every check, by name, in the order [`store_conformance_tests!`](crate::store_conformance_tests)
/// lists them.
///
/// # Examples
///
/// ```
/// assert!(crmkit_testkit::conformance::CHECKS.len() >= 20);
/// ```
pub const CHECKS: &[(&str, Check)] = crate::__conformance_checks!(__conformance_check_table);

/// Runs every check in [`CHECKS`], each on a fresh store from `make`.
///
/// Prefer [`store_conformance_tests!`](crate::store_conformance_tests), which makes each check
/// its own test; this is for a quick run in a single test or a doc test.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// crmkit_testkit::conformance::run_all(|| Arc::new(crmkit_core::MemoryStore::new()));
/// ```
pub fn run_all(make: impl Fn() -> Arc<dyn Store>) {
    for (name, check) in CHECKS {
        let store = make();
        let stats = store.stats().expect("stats() of a fresh store");
        assert_eq!(stats, StoreStats::default(), "{name}: the store to test must be empty");
        check(store);
    }
}

// ---------------------------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------------------------

/// The instant every check's [`FixedClock`] starts at: 2024-05-01T09:30:00Z.
///
/// # Examples
///
/// ```
/// assert_eq!(crmkit_testkit::conformance::base_time().to_rfc3339(), "2024-05-01T09:30:00+00:00");
/// ```
pub fn base_time() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 5, 1, 9, 30, 0).unwrap()
}

/// A [`Crm`] on `store` with a [`FixedClock`] at [`base_time`], and the clock to move it.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// let store: Arc<dyn crmkit_core::Store> = Arc::new(crmkit_core::MemoryStore::new());
/// let (crm, clock) = crmkit_testkit::conformance::crm_with_clock(&store);
/// clock.set(crmkit_testkit::conformance::base_time() + chrono::Duration::hours(1));
/// assert_eq!(crm.now().to_rfc3339(), "2024-05-01T10:30:00+00:00");
/// ```
pub fn crm_with_clock(store: &Arc<dyn Store>) -> (Crm, Arc<FixedClock>) {
    let clock = Arc::new(FixedClock::new(base_time()));
    (Crm::from_arc(store.clone()).with_clock(clock.clone()), clock)
}

fn id(n: u128) -> CustomerId {
    CustomerId::from_u128(n)
}

fn dec(s: &str) -> Decimal {
    s.parse().unwrap_or_else(|e| panic!("bad decimal literal {s:?}: {e}"))
}

fn money(amount: &str, currency: &str) -> Money {
    Money::parse(amount, currency).unwrap()
}

fn key(text: &str) -> IdentityKey {
    text.parse().unwrap_or_else(|e| panic!("bad identity key literal {text:?}: {e}"))
}

fn note(customer: CustomerId, at: DateTime<Utc>, text: &str) -> NewInteraction {
    NewInteraction::new(customer, at, InteractionKind::Note { text: text.into() })
}

fn refund(customer: CustomerId, at: DateTime<Utc>, total: Money) -> NewInteraction {
    NewInteraction::new(customer, at, InteractionKind::Refund { total, items: Vec::new() })
}

/// The customer holding `k`, checking that [`CustomerStore::customer_id_by_key`](crmkit_core::CustomerStore::customer_id_by_key) agrees.
#[track_caller]
fn owner(store: &dyn Store, k: &IdentityKey) -> Option<Customer> {
    let found = store.customer_by_key(k).unwrap();
    let found_id = store.customer_id_by_key(k).unwrap();
    assert_eq!(
        found_id,
        found.as_ref().map(|c| c.id),
        "customer_id_by_key({k}) vs customer_by_key"
    );
    found
}

fn apply(store: &dyn Store, ops: Vec<WriteOp>) -> Result<BatchOutcome> {
    store.apply(WriteBatch { ops })
}

/// A customer record as a backend-facing writer would build it (not through `Crm`).
fn raw_customer(id: CustomerId, name: &str, keys: &[&str], at: DateTime<Utc>) -> Customer {
    let mut identities: Vec<IdentityKey> = keys.iter().map(|k| key(k)).collect();
    identities.sort();
    identities.dedup();
    Customer {
        id,
        kind: CustomerKind::Person,
        name: name.into(),
        identities,
        stage: LifecycleStage::Prospect,
        stage_history: vec![StageChange {
            from: None,
            to: LifecycleStage::Prospect,
            at,
            source: "testkit".into(),
        }],
        attributes: BTreeMap::new(),
        tags: BTreeSet::new(),
        consents: Vec::new(),
        created_at: at,
        updated_at: at,
        revision: 1,
    }
}

fn audit_record(customer: CustomerId, at: DateTime<Utc>, field: &str) -> AuditRecord {
    AuditRecord {
        customer,
        at,
        actor: "testkit".into(),
        field: field.into(),
        old: None,
        new: Some(json!("changed")),
    }
}

#[track_caller]
fn expect_err<T: Debug>(result: Result<T>, kind: ErrorKind, what: &str) -> Error {
    match result {
        Ok(v) => panic!("{what}: expected a {kind:?} error, got Ok({v:?})"),
        Err(e) => {
            assert_eq!(e.kind(), kind, "{what}: wrong error kind for {e:?}");
            e
        }
    }
}

/// Compares the JSON forms, which keep what `==` ignores (a decimal's scale).
macro_rules! assert_json_eq {
    ($a:expr, $b:expr, $what:expr) => {{
        let a = serde_json::to_value($a).unwrap();
        let b = serde_json::to_value($b).unwrap();
        assert_eq!(a, b, "{}: differs in its exact (JSON) form, e.g. a decimal's scale", $what);
    }};
}

fn ids_of(customers: &[Customer]) -> Vec<CustomerId> {
    customers.iter().map(|c| c.id).collect()
}

fn interaction_ids(list: &[Interaction]) -> Vec<u64> {
    list.iter().map(|i| i.id.0).collect()
}

fn all_field_types(crm: &Crm) {
    for (name, ty) in [
        ("plan", FieldType::String),
        ("seats", FieldType::Integer),
        ("mrr", FieldType::Decimal),
        ("active", FieldType::Bool),
        ("renewal", FieldType::Date),
        ("last_login", FieldType::Datetime),
        ("langs", FieldType::StringList),
    ] {
        crm.define_field(FieldDef::new(name, ty)).unwrap();
    }
}

// ---------------------------------------------------------------------------------------------
// Customers
// ---------------------------------------------------------------------------------------------

/// A customer with every field set (all kinds of identity keys, a custom stage, a stage
/// history, attributes of all 7 types with edge values, tags, consents on built-in and custom
/// channels) reads back exactly as written, through `Crm` and through the store; so does a
/// record written directly with `WriteOp::InsertCustomer` (its revision is stored as given).
///
/// Orders matter: identities come back in [`IdentityKey`]'s order (not the text order, which
/// differs for `ext:shop` / `ext:shop-eu`), consents in the order written (sorted by
/// [`Channel`]'s enum order, not by its name), string lists as written (including `;` and
/// empty strings), decimals with their scale.
///
/// # Examples
///
/// ```
/// crmkit_testkit::conformance::customer_roundtrip(std::sync::Arc::new(crmkit_core::MemoryStore::new()));
/// ```
pub fn customer_roundtrip(store: Arc<dyn Store>) {
    let (crm, clock) = crm_with_clock(&store);
    all_field_types(&crm);
    let t0 = base_time();
    let cid = id(0xADA);
    let last_login = t0 - Duration::days(3) + Duration::microseconds(123_456);
    let new = NewCustomer::organisation("  Ada & Co. — Ünïcode ✓  ")
        .id(cid)
        .email(" ADA@Example.org ")
        .phone("+44 20 7946 0018")
        .external_id("shop-eu", "C-1")
        .external_id("Shop", "C-1")
        .stage(LifecycleStage::Custom("trial".into()))
        .tag("vip")
        .tag(" newsletter ")
        .tag("ünï ✓")
        .attribute("plan", AttributeValue::String("pro ✓ 'quoted' \"double\" ;%_\\".into()))
        .attribute("seats", AttributeValue::Integer(i64::MIN))
        .attribute("mrr", AttributeValue::Decimal(dec("1234.5600")))
        .attribute("active", AttributeValue::Bool(false))
        .attribute("renewal", AttributeValue::Date(NaiveDate::from_ymd_opt(2025, 2, 28).unwrap()))
        .attribute("last_login", AttributeValue::Datetime(last_login))
        .attribute(
            "langs",
            AttributeValue::StringList(vec!["en".into(), "a;b".into(), String::new(), "ü".into()]),
        )
        .consent("newsletter", Channel::Sms, ConsentStatus::Granted)
        .consent("newsletter", Channel::Other("aaa".into()), ConsentStatus::Unknown)
        .consent("newsletter", Channel::Email, ConsentStatus::Denied)
        .consent("newsletter", Channel::Phone, ConsentStatus::Granted)
        .consent("analytics", Channel::Web, ConsentStatus::Granted)
        .source("signup-form");
    let created = crm.create_customer(new).unwrap();

    // What Crm built (so that the roundtrip below covers what we think it covers).
    assert_eq!(created.name, "Ada & Co. — Ünïcode ✓");
    assert_eq!(
        created.identities.iter().map(ToString::to_string).collect::<Vec<_>>(),
        ["email:ada@example.org", "ext:shop:C-1", "ext:shop-eu:C-1", "phone:+442079460018"]
    );
    assert_eq!(
        created.consents.iter().map(|c| format!("{}/{}", c.purpose, c.channel)).collect::<Vec<_>>(),
        [
            "analytics/web",
            "newsletter/email",
            "newsletter/sms",
            "newsletter/phone",
            "newsletter/aaa"
        ]
    );
    assert_eq!(created.attributes.len(), 7);
    assert_eq!((created.revision, created.created_at, created.updated_at), (1, t0, t0));

    let read = store.customer(cid).unwrap();
    assert_eq!(read.as_ref(), Some(&created), "customer() after create_customer()");
    assert_json_eq!(&read.unwrap(), &created, "customer() after create_customer()");
    assert_eq!(crm.customer(cid).unwrap(), created, "Crm::customer()");

    // Two more stage changes: a history of three.
    clock.set(t0 + Duration::hours(1));
    crm.update_customer(
        cid,
        CustomerUpdate::new()
            .stage(LifecycleStage::Customer)
            .kind(CustomerKind::Person)
            .attribute("seats", AttributeValue::Integer(i64::MAX))
            .attribute("mrr", AttributeValue::Decimal(dec("-0.000001")))
            .remove_attribute("active")
            .source("sales"),
    )
    .unwrap();
    clock.set(t0 + Duration::hours(2));
    let updated = crm
        .update_customer(
            cid,
            CustomerUpdate::new().stage(LifecycleStage::Churned).source("churn-job"),
        )
        .unwrap();
    assert_eq!(updated.revision, 3);
    assert_eq!(
        updated
            .stage_history
            .iter()
            .map(|s| (s.from.clone(), s.to.clone(), s.at, s.source.as_str()))
            .collect::<Vec<_>>(),
        [
            (None, LifecycleStage::Custom("trial".into()), t0, "signup-form"),
            (
                Some(LifecycleStage::Custom("trial".into())),
                LifecycleStage::Customer,
                t0 + Duration::hours(1),
                "sales"
            ),
            (
                Some(LifecycleStage::Customer),
                LifecycleStage::Churned,
                t0 + Duration::hours(2),
                "churn-job"
            ),
        ]
    );
    let read = store.customer(cid).unwrap();
    assert_eq!(read.as_ref(), Some(&updated), "customer() after two update_customer()");
    assert_json_eq!(&read.unwrap(), &updated, "customer() after two update_customer()");

    // Written directly, with a revision that is not 1 and no identities.
    let mut raw = raw_customer(id(0xB0), "Raw", &[], t0);
    raw.revision = 7;
    raw.tags.insert("Vip".into());
    raw.attributes
        .insert("mrr".into(), AttributeValue::Decimal(dec("79228162514264337593543950335")));
    raw.attributes.insert(
        "seats_typo".into(),
        AttributeValue::Decimal(dec("0.0000000000000000000000000001")),
    );
    raw.consents.push(Consent {
        purpose: "x".into(),
        channel: Channel::InPerson,
        status: ConsentStatus::Denied,
        at: t0,
        source: "desk".into(),
    });
    apply(store.as_ref(), vec![WriteOp::InsertCustomer(raw.clone())]).unwrap();
    let read = store.customer(raw.id).unwrap();
    assert_eq!(read.as_ref(), Some(&raw), "customer() of a record inserted with WriteOp");
    assert_json_eq!(&read.unwrap(), &raw, "customer() of a record inserted with WriteOp");

    assert_eq!(store.customer(id(0xDEAD)).unwrap(), None, "customer() of an unknown id");
    expect_err(crm.customer(id(0xDEAD)), ErrorKind::NotFound, "Crm::customer() of an unknown id");
    assert_eq!(ids_of(&store.all_customers().unwrap()), [id(0xB0), id(0xADA)]);
}

/// [`CustomerStore::customer_by_key`](crmkit_core::CustomerStore::customer_by_key) (and [`CustomerStore::customer_id_by_key`](crmkit_core::CustomerStore::customer_id_by_key)) find a customer by any of its
/// normalised keys (e-mail in any case and with spaces, phone in any format, external ids with
/// their case kept), and nothing for unknown keys; so does [`Crm::lookup`] with key text or an
/// id.
///
/// # Examples
///
/// ```
/// crmkit_testkit::conformance::lookup_by_identity_key(std::sync::Arc::new(crmkit_core::MemoryStore::new()));
/// ```
pub fn lookup_by_identity_key(store: Arc<dyn Store>) {
    let (crm, _clock) = crm_with_clock(&store);
    let ada = crm
        .create_customer(
            NewCustomer::person("Ada")
                .id(id(1))
                .email("ada@example.org")
                .phone("+44 20 7946 0018")
                .external_id("shop", "A-1"),
        )
        .unwrap();
    let bo = crm
        .create_customer(
            NewCustomer::person("Bo")
                .id(id(2))
                .email("bo@example.org")
                .external_id("shop-eu", "A-1"),
        )
        .unwrap();

    let find = |k: IdentityKey| {
        let found = owner(store.as_ref(), &k);
        let found_id = store.customer_id_by_key(&k).unwrap();
        assert_eq!(found_id, found.as_ref().map(|c| c.id), "customer_id_by_key({k})");
        found
    };
    for raw in [" ADA@Example.org ", "ada@example.org", "Ada@EXAMPLE.ORG"] {
        assert_eq!(find(IdentityKey::email(raw).unwrap()), Some(ada.clone()), "email {raw:?}");
    }
    for raw in ["0044 (20) 7946-0018", "+442079460018", "+44.20.7946.0018"] {
        assert_eq!(find(IdentityKey::phone(raw).unwrap()), Some(ada.clone()), "phone {raw:?}");
    }
    assert_eq!(find(IdentityKey::external("SHOP", " A-1 ").unwrap()), Some(ada.clone()));
    assert_eq!(find(IdentityKey::external("shop-eu", "A-1").unwrap()), Some(bo.clone()));
    assert_eq!(find(IdentityKey::email("BO@example.org").unwrap()), Some(bo.clone()));

    // External ids are case-sensitive; near misses find nothing.
    assert_eq!(find(IdentityKey::external("shop", "a-1").unwrap()), None, "ext id case");
    assert_eq!(find(IdentityKey::external("shop-us", "A-1").unwrap()), None);
    assert_eq!(find(IdentityKey::email("ada@example.or").unwrap()), None);
    assert_eq!(find(IdentityKey::email("nobody@example.org").unwrap()), None);
    assert_eq!(find(IdentityKey::phone("+44 20 7946 0019").unwrap()), None);
    // Same value, other namespace.
    assert_eq!(find(IdentityKey::external("email", "ada@example.org").unwrap()), None);

    assert_eq!(crm.lookup("ADA@example.org").unwrap(), ada);
    assert_eq!(crm.lookup("phone:+44 20 7946 0018").unwrap(), ada);
    assert_eq!(crm.lookup("ext:Shop-EU:A-1").unwrap(), bo);
    assert_eq!(crm.lookup(&bo.id.to_string()).unwrap(), bo);
    expect_err(crm.lookup("email:nobody@example.org"), ErrorKind::NotFound, "lookup(unknown)");
}

/// Creating a customer with an identity key another customer holds is an
/// [`ErrorKind::Conflict`] ([`Error::DuplicateIdentityKey`] naming the owner) and writes nothing
/// (not even the new customer's other, free keys); so is reusing an id
/// ([`Error::AlreadyExists`]), and two inserts with one key in the same batch.
///
/// # Examples
///
/// ```
/// crmkit_testkit::conformance::duplicate_identity_key_is_conflict(std::sync::Arc::new(crmkit_core::MemoryStore::new()));
/// ```
pub fn duplicate_identity_key_is_conflict(store: Arc<dyn Store>) {
    let (crm, _clock) = crm_with_clock(&store);
    let ada =
        crm.create_customer(NewCustomer::person("Ada").id(id(1)).email("ada@example.org")).unwrap();
    let before = Snapshot::of(store.as_ref());

    let err = expect_err(
        crm.create_customer(
            NewCustomer::person("Imposter")
                .id(id(2))
                .email("bo@example.org")
                .email(" ADA@Example.org "),
        ),
        ErrorKind::Conflict,
        "create with a key held by another customer",
    );
    assert!(
        matches!(&err, Error::DuplicateIdentityKey { key, owner }
            if key == "email:ada@example.org" && *owner == ada.id),
        "expected DuplicateIdentityKey {{ key: email:ada@example.org, owner: {} }}, got {err:?}",
        ada.id
    );
    Snapshot::of(store.as_ref()).assert_same(&before, "after a create failing on a duplicate key");
    assert_eq!(store.customer(id(2)).unwrap(), None);
    assert_eq!(owner(store.as_ref(), &key("email:bo@example.org")), None);
    assert_eq!(owner(store.as_ref(), &key("email:ada@example.org")), Some(ada.clone()));

    let err = expect_err(
        crm.create_customer(NewCustomer::person("Twin").id(ada.id).email("twin@example.org")),
        ErrorKind::Conflict,
        "create with an existing id",
    );
    assert!(matches!(err, Error::AlreadyExists { .. }), "expected AlreadyExists, got {err:?}");
    Snapshot::of(store.as_ref()).assert_same(&before, "after a create failing on its id");
    assert_eq!(owner(store.as_ref(), &key("email:twin@example.org")), None);
    assert_eq!(store.customer(ada.id).unwrap(), Some(ada.clone()));

    let t = base_time();
    let err = expect_err(
        apply(
            store.as_ref(),
            vec![
                WriteOp::InsertCustomer(raw_customer(id(3), "Cy", &["email:cy@example.org"], t)),
                WriteOp::InsertCustomer(raw_customer(
                    id(4),
                    "Di",
                    &["email:di@example.org", "email:cy@example.org"],
                    t,
                )),
            ],
        ),
        ErrorKind::Conflict,
        "two inserts with one key in one batch",
    );
    assert!(matches!(err, Error::DuplicateIdentityKey { owner, .. } if owner == id(3)), "{err:?}");
    Snapshot::of(store.as_ref()).assert_same(&before, "after a batch of two inserts sharing a key");
    assert_eq!(owner(store.as_ref(), &key("email:cy@example.org")), None);

    // The keys the failed writes tried to claim are free.
    let bo = crm.create_customer(NewCustomer::person("Bo").id(id(2)).email("bo@example.org"));
    assert_eq!(bo.unwrap().identities, [key("email:bo@example.org")]);
    crm.create_customer(NewCustomer::person("Cy").id(id(3)).email("cy@example.org")).unwrap();
    assert_eq!(store.stats().unwrap().customers, 3);
}

/// `update_customer` writes one audit entry per changed field (field name, old and new JSON
/// value, actor, time, store-wide sequence number) next to the creation entry, bumps the
/// revision, and writes nothing at all for a change that changes nothing.
///
/// # Examples
///
/// ```
/// crmkit_testkit::conformance::update_writes_audit_entries(std::sync::Arc::new(crmkit_core::MemoryStore::new()));
/// ```
pub fn update_writes_audit_entries(store: Arc<dyn Store>) {
    let (crm, clock) = crm_with_clock(&store);
    crm.define_field(FieldDef::new("seats", FieldType::Integer)).unwrap();
    let t0 = base_time();
    let bo = crm.create_customer(NewCustomer::person("Bo").id(id(1)).source("signup")).unwrap();

    let log = store.audit_log(None, 0, 100).unwrap();
    assert_eq!(log.len(), 1, "one audit entry for a creation: {log:#?}");
    let e = &log[0];
    assert_eq!((e.seq, e.customer, e.at), (1, bo.id, t0));
    assert_eq!((e.actor.as_str(), e.field.as_str()), ("signup", "customer"));
    assert_eq!(e.old, None);
    // What a creation entry holds is Crm's business; the store keeps it as given.
    let created_as = e.new.as_ref().expect("a creation entry has a new value");
    assert_eq!(created_as["name"], json!("Bo"), "creation entry: {created_as}");

    let t1 = t0 + Duration::minutes(5);
    clock.set(t1);
    let updated = crm
        .update_customer(
            bo.id,
            CustomerUpdate::new()
                .name("Bo Diddley")
                .stage(LifecycleStage::Lead)
                .add_tag("vip")
                .attribute("seats", AttributeValue::Integer(3))
                .consent("newsletter", Channel::Email, ConsentStatus::Granted)
                .add_identity(IdentityKind::Email, "Bo@Example.org")
                .source("agent:sam"),
        )
        .unwrap();
    assert_eq!((updated.revision, updated.updated_at, updated.created_at), (2, t1, t0));
    assert_eq!(store.customer(bo.id).unwrap(), Some(updated.clone()));

    let log = store.audit_log(None, 1, 100).unwrap();
    let got: Vec<_> =
        log.iter().map(|e| (e.seq, e.field.as_str(), e.old.clone(), e.new.clone())).collect();
    assert_eq!(
        got,
        [
            (2, "name", Some(json!("Bo")), Some(json!("Bo Diddley"))),
            (3, "stage", Some(json!("prospect")), Some(json!("lead"))),
            (4, "identities", Some(json!([])), Some(json!(["email:bo@example.org"]))),
            (5, "tags", Some(json!([])), Some(json!(["vip"]))),
            (6, "attributes.seats", None, Some(json!({"type": "integer", "value": 3}))),
            (7, "consent.newsletter.email", None, Some(json!("granted"))),
        ]
    );
    for e in &log {
        assert_eq!((e.customer, e.at, e.actor.as_str()), (bo.id, t1, "agent:sam"), "{e:?}");
    }

    clock.set(t1 + Duration::minutes(1));
    let removed = crm.update_customer(bo.id, CustomerUpdate::new().remove_attribute("seats"));
    assert_eq!(removed.unwrap().revision, 3);
    let log = store.audit_log(None, 7, 100).unwrap();
    assert_eq!(log.len(), 1, "{log:#?}");
    assert_eq!(
        (log[0].seq, log[0].field.as_str(), log[0].actor.as_str()),
        (8, "attributes.seats", "api")
    );
    assert_eq!(log[0].old, Some(json!({"type": "integer", "value": 3})));
    assert_eq!(log[0].new, None, "a removed attribute's new value is absent");

    // A change that changes nothing writes nothing.
    let before = Snapshot::of(store.as_ref());
    clock.set(t1 + Duration::minutes(2));
    let same = crm
        .update_customer(
            bo.id,
            CustomerUpdate::new().add_tag("vip").name("Bo Diddley").stage(LifecycleStage::Lead),
        )
        .unwrap();
    assert_eq!(same.revision, 3);
    Snapshot::of(store.as_ref()).assert_same(&before, "after an update that changes nothing");
}

/// An `UpdateCustomer` whose `expected_revision` is not the stored revision fails with
/// [`Error::StaleRevision`] ([`ErrorKind::Conflict`]) and writes nothing; with the right
/// revision it replaces the whole record (revision stored as given). Updating an unknown
/// customer is [`ErrorKind::NotFound`].
///
/// # Examples
///
/// ```
/// crmkit_testkit::conformance::stale_revision_is_detected(std::sync::Arc::new(crmkit_core::MemoryStore::new()));
/// ```
pub fn stale_revision_is_detected(store: Arc<dyn Store>) {
    let (crm, _clock) = crm_with_clock(&store);
    let c =
        crm.create_customer(NewCustomer::person("Cy").id(id(1)).email("cy@example.org")).unwrap();
    let before = Snapshot::of(store.as_ref());

    let mut next = c.clone();
    next.name = "Cy Twombly".into();
    next.revision = 2;
    for wrong in [0, 2, 99] {
        let err = expect_err(
            apply(
                store.as_ref(),
                vec![WriteOp::UpdateCustomer { customer: next.clone(), expected_revision: wrong }],
            ),
            ErrorKind::Conflict,
            "update with a wrong expected_revision",
        );
        assert!(
            matches!(err, Error::StaleRevision { customer, expected, found }
                if customer == c.id && expected == wrong && found == 1),
            "expected StaleRevision {{ expected: {wrong}, found: 1 }}, got {err:?}"
        );
        Snapshot::of(store.as_ref()).assert_same(&before, "after a stale update");
    }

    apply(
        store.as_ref(),
        vec![WriteOp::UpdateCustomer { customer: next.clone(), expected_revision: 1 }],
    )
    .unwrap();
    assert_eq!(store.customer(c.id).unwrap(), Some(next.clone()));

    // The first writer's read is now stale.
    let mut late = c.clone();
    late.name = "Late".into();
    late.revision = 2;
    let err = expect_err(
        apply(
            store.as_ref(),
            vec![WriteOp::UpdateCustomer { customer: late, expected_revision: 1 }],
        ),
        ErrorKind::Conflict,
        "second update from the same read",
    );
    assert!(matches!(err, Error::StaleRevision { found: 2, .. }), "{err:?}");
    assert_eq!(store.customer(c.id).unwrap(), Some(next.clone()));

    // A revision that jumps is stored as given, and checked against next time.
    let mut jump = next.clone();
    jump.revision = 10;
    apply(store.as_ref(), vec![WriteOp::UpdateCustomer { customer: jump, expected_revision: 2 }])
        .unwrap();
    let via_crm = crm.update_customer(c.id, CustomerUpdate::new().add_tag("t")).unwrap();
    assert_eq!(via_crm.revision, 11);
    assert_eq!(store.customer(c.id).unwrap(), Some(via_crm));

    let mut ghost = raw_customer(id(2), "Ghost", &[], base_time());
    ghost.revision = 2;
    let err = expect_err(
        apply(
            store.as_ref(),
            vec![WriteOp::UpdateCustomer { customer: ghost, expected_revision: 1 }],
        ),
        ErrorKind::NotFound,
        "update of an unknown customer",
    );
    assert!(matches!(err, Error::NotFound { .. }), "{err:?}");
    expect_err(
        crm.update_customer(id(2), CustomerUpdate::new().name("x")),
        ErrorKind::NotFound,
        "Crm::update_customer of an unknown customer",
    );
    assert_eq!(store.customer(id(2)).unwrap(), None);
}

/// Removing an identity key from a customer frees it: nobody is found by it, another customer
/// can take it, and the first can no longer add it back. Replacing a key in one update frees
/// the old one and claims the new one.
///
/// # Examples
///
/// ```
/// crmkit_testkit::conformance::removed_identity_key_is_freed(std::sync::Arc::new(crmkit_core::MemoryStore::new()));
/// ```
pub fn removed_identity_key_is_freed(store: Arc<dyn Store>) {
    let (crm, _clock) = crm_with_clock(&store);
    let ada_key = key("email:ada@example.org");
    let ada = crm
        .create_customer(
            NewCustomer::person("Ada").id(id(1)).email("ada@example.org").phone("+1 555 0100 42"),
        )
        .unwrap();
    expect_err(
        crm.create_customer(NewCustomer::person("Bo").id(id(2)).email("ADA@example.org")),
        ErrorKind::Conflict,
        "create with a held key",
    );

    let ada = crm
        .update_customer(ada.id, CustomerUpdate::new().remove_identity(ada_key.clone()))
        .unwrap();
    assert_eq!(ada.identities, [key("phone:+1555010042")]);
    assert_eq!(store.customer(ada.id).unwrap(), Some(ada.clone()));
    assert_eq!(owner(store.as_ref(), &ada_key), None, "removed key still finds someone");
    assert_eq!(owner(store.as_ref(), &key("phone:+1555010042")), Some(ada.clone()));

    let bo = crm
        .create_customer(NewCustomer::person("Bo").id(id(2)).email(" ADA@example.org "))
        .unwrap();
    assert_eq!(owner(store.as_ref(), &ada_key), Some(bo.clone()));

    let err = expect_err(
        crm.update_customer(
            ada.id,
            CustomerUpdate::new().add_identity(IdentityKind::Email, "ada@example.org"),
        ),
        ErrorKind::Conflict,
        "adding back a key another customer took",
    );
    assert!(matches!(err, Error::DuplicateIdentityKey { owner, .. } if owner == bo.id), "{err:?}");
    assert_eq!(store.customer(ada.id).unwrap(), Some(ada.clone()));

    // Replace Bo's e-mail in one update.
    let bo = crm
        .update_customer(
            bo.id,
            CustomerUpdate::new()
                .remove_identity(ada_key.clone())
                .add_identity(IdentityKind::Email, "bo@example.org"),
        )
        .unwrap();
    assert_eq!(owner(store.as_ref(), &ada_key), None);
    assert_eq!(owner(store.as_ref(), &key("email:bo@example.org")), Some(bo.clone()));
    let ada = crm
        .update_customer(
            ada.id,
            CustomerUpdate::new().add_identity(IdentityKind::Email, "Ada@Example.org"),
        )
        .unwrap();
    assert_eq!(owner(store.as_ref(), &ada_key), Some(ada));
}

/// Identity keys are checked write by write, in batch order, against the store as the earlier
/// writes of the batch left it: a batch that first drops a key from one customer and then
/// gives it to a new one succeeds; the same writes in the other order fail and write nothing.
///
/// # Examples
///
/// ```
/// crmkit_testkit::conformance::identity_keys_are_checked_in_batch_order(std::sync::Arc::new(crmkit_core::MemoryStore::new()));
/// ```
pub fn identity_keys_are_checked_in_batch_order(store: Arc<dyn Store>) {
    let t = base_time();
    let k = key("email:shared@example.org");
    let a = raw_customer(id(1), "A", &["email:shared@example.org", "ext:crm:1"], t);
    apply(store.as_ref(), vec![WriteOp::InsertCustomer(a.clone())]).unwrap();

    let mut a2 = a.clone();
    a2.identities.retain(|x| x != &k);
    a2.revision = 2;
    let b = raw_customer(id(2), "B", &["email:shared@example.org"], t);
    apply(
        store.as_ref(),
        vec![
            WriteOp::UpdateCustomer { customer: a2.clone(), expected_revision: 1 },
            WriteOp::InsertCustomer(b.clone()),
        ],
    )
    .unwrap();
    assert_eq!(owner(store.as_ref(), &k), Some(b.clone()));
    assert_eq!(store.customer(a.id).unwrap(), Some(a2.clone()));
    assert_eq!(owner(store.as_ref(), &key("ext:crm:1")), Some(a2.clone()));

    // Other order: the insert comes first and finds the key held.
    let before = Snapshot::of(store.as_ref());
    let mut b2 = b.clone();
    b2.identities.clear();
    b2.revision = 2;
    let c = raw_customer(id(3), "C", &["email:shared@example.org"], t);
    let err = expect_err(
        apply(
            store.as_ref(),
            vec![
                WriteOp::InsertCustomer(c),
                WriteOp::UpdateCustomer { customer: b2, expected_revision: 1 },
            ],
        ),
        ErrorKind::Conflict,
        "insert before the update that frees its key",
    );
    assert!(matches!(err, Error::DuplicateIdentityKey { owner, .. } if owner == b.id), "{err:?}");
    Snapshot::of(store.as_ref()).assert_same(&before, "after the failed reordered batch");
    assert_eq!(owner(store.as_ref(), &k), Some(b));
}

/// Writes see the earlier writes of the same batch: interactions and audit entries for a
/// customer inserted earlier in it, an update of that customer at revision 1, idempotency keys
/// used earlier in it (skipped, `None`), and a field defined twice.
///
/// # Examples
///
/// ```
/// crmkit_testkit::conformance::batch_sees_its_own_earlier_writes(std::sync::Arc::new(crmkit_core::MemoryStore::new()));
/// ```
pub fn batch_sees_its_own_earlier_writes(store: Arc<dyn Store>) {
    let t = base_time();
    let c = raw_customer(id(7), "New", &["ext:crm:7"], t);
    let mut c2 = c.clone();
    c2.name = "Renamed".into();
    c2.revision = 2;
    let first = note(c.id, t, "first").idempotency_key("once");
    let again = note(c.id, t, "again").idempotency_key("once");
    let third = note(c.id, t + Duration::seconds(1), "third");
    let outcome = apply(
        store.as_ref(),
        vec![
            WriteOp::InsertCustomer(c.clone()),
            WriteOp::AppendInteraction(first.clone()),
            WriteOp::AppendInteraction(again),
            WriteOp::Audit(audit_record(c.id, t, "customer")),
            WriteOp::UpdateCustomer { customer: c2.clone(), expected_revision: 1 },
            WriteOp::DefineField(FieldDef::new("flag", FieldType::Bool)),
            WriteOp::DefineField(FieldDef::new("flag", FieldType::Bool)),
            WriteOp::AppendInteraction(third.clone()),
        ],
    )
    .unwrap();
    assert_eq!(outcome.appended, [Some(InteractionId(1)), None, Some(InteractionId(2))]);
    assert_eq!((outcome.written(), outcome.skipped()), (2, 1));
    assert_eq!(store.customer(c.id).unwrap(), Some(c2.clone()));
    assert_eq!(owner(store.as_ref(), &key("ext:crm:7")), Some(c2));
    assert_eq!(
        store.interactions(c.id, TimeRange::new()).unwrap(),
        [first.into_interaction(InteractionId(1)), third.into_interaction(InteractionId(2))]
    );
    let log = store.audit_log(None, 0, 10).unwrap();
    assert_eq!(log.len(), 1);
    assert_eq!((log[0].seq, log[0].customer, log[0].field.as_str()), (1, c.id, "customer"));
    assert_eq!(store.field_schema().unwrap(), [FieldDef::new("flag", FieldType::Bool)]);
    assert_eq!(store.stats().unwrap(), StoreStats { customers: 1, interactions: 2 });
}

// ---------------------------------------------------------------------------------------------
// Listing
// ---------------------------------------------------------------------------------------------

fn all_pages(store: &dyn Store, query: CustomerQuery) -> Vec<Page<Customer>> {
    let mut pages = Vec::new();
    let mut q = query;
    loop {
        let page = store.list_customers(&q).unwrap();
        assert!(page.items.len() <= q.limit.max(1), "page longer than the limit: {page:#?}");
        let next = page.next;
        if let Some(next) = next {
            assert_eq!(
                page.items.last().map(|c| c.id),
                Some(next),
                "next must be the last id of a page"
            );
        }
        pages.push(page);
        assert!(pages.len() < 1000, "list_customers() pages never end");
        match next {
            Some(n) => q.after = Some(n),
            None => return pages,
        }
    }
}

fn page_ids(pages: &[Page<Customer>]) -> Vec<Vec<u128>> {
    pages.iter().map(|p| p.items.iter().map(|c| c.id.as_u128()).collect()).collect()
}

/// `list_customers` returns customers ordered by id (as 128-bit numbers, also above 2^63 and
/// 2^127), `limit` at a time (0 counts as 1), with `next` = the last id of a page when more
/// match and `None` otherwise (also when the last page is exactly full), starting after any
/// id (present or not); filters by exact stage, exact tag, and case-insensitive name
/// substring (Unicode; `%`, `_` and `\` are literal characters, not patterns), combined.
///
/// # Examples
///
/// ```
/// crmkit_testkit::conformance::list_customers_pages_and_filters(std::sync::Arc::new(crmkit_core::MemoryStore::new()));
/// ```
pub fn list_customers_pages_and_filters(store: Arc<dyn Store>) {
    let (crm, _clock) = crm_with_clock(&store);
    let name = |n: u128| -> String {
        match n {
            1 => "Ada Lovelace".into(),
            2 => "ada".into(),
            3 => "GRENADA Ltd".into(),
            4 => "Émile Zola".into(),
            5 => "100% Juice".into(),
            6 => "a_b".into(),
            7 => "axb".into(),
            8 => "back\\slash".into(),
            9 => "ÅSA ÖBERG".into(),
            _ => format!("Person {n}"),
        }
    };
    let stage = |n: u128| match n % 4 {
        0 => LifecycleStage::Lead,
        1 => LifecycleStage::Customer,
        _ => LifecycleStage::Prospect,
    };
    // Created in a scrambled order; ids 10, 20, ..., 230 and three huge ones.
    let mut numbers: Vec<u128> = (0..23).map(|k| (k * 7 % 23) + 1).collect();
    numbers.extend([24, 25, 26]);
    let id_of = |n: u128| match n {
        24 => 1u128 << 127,
        25 => u128::MAX,
        26 => 1u128 << 64,
        _ => n * 10,
    };
    for &n in &numbers {
        let mut new = NewCustomer::person(name(n)).id(id(id_of(n))).stage(stage(n));
        if n % 3 == 0 {
            new = new.tag("vip");
        }
        if n % 5 == 0 {
            new = new.tag("Vip");
        }
        crm.create_customer(new).unwrap();
    }
    let mut sorted: Vec<u128> = numbers.iter().map(|&n| id_of(n)).collect();
    sorted.sort();
    let number_of = |i: u128| numbers.iter().copied().find(|&n| id_of(n) == i).unwrap();
    let expect = |pred: &dyn Fn(u128) -> bool| -> Vec<u128> {
        sorted.iter().copied().filter(|&i| pred(number_of(i))).collect()
    };
    let flat = |pages: &[Page<Customer>]| -> Vec<u128> { page_ids(pages).concat() };

    // Paging through everyone.
    let pages = all_pages(store.as_ref(), CustomerQuery::new().limit(5));
    assert_eq!(flat(&pages), sorted, "everyone, 5 at a time, ordered by id");
    assert_eq!(
        pages.iter().map(|p| p.items.len()).collect::<Vec<_>>(),
        [5, 5, 5, 5, 5, 1],
        "page sizes with limit 5"
    );
    let pages = all_pages(store.as_ref(), CustomerQuery::new().limit(13));
    assert_eq!(pages.len(), 2, "26 customers, limit 13: the second page is full and last");
    assert_eq!(pages[1].next, None);
    let one = store.list_customers(&CustomerQuery::new().limit(26)).unwrap();
    assert_eq!((one.items.len(), one.next), (26, None), "exactly full first page");
    let one = store.list_customers(&CustomerQuery::new().limit(25)).unwrap();
    assert_eq!(one.next, Some(id(sorted[24])));
    let zero = CustomerQuery { limit: 0, ..CustomerQuery::new() };
    let page = store.list_customers(&zero).unwrap();
    assert_eq!((ids_of(&page.items), page.next), (vec![id(10)], Some(id(10))), "limit 0 acts as 1");
    assert_eq!(
        store.all_customers().unwrap().iter().map(|c| c.id.as_u128()).collect::<Vec<_>>(),
        sorted
    );

    // Starting after ids that are and are not there.
    let page = store.list_customers(&CustomerQuery::new().after(id(55)).limit(2)).unwrap();
    assert_eq!((ids_of(&page.items), page.next), (vec![id(60), id(70)], Some(id(70))));
    let page = store.list_customers(&CustomerQuery::new().after(id(230))).unwrap();
    assert_eq!(ids_of(&page.items), [id(1 << 64), id(1 << 127), id(u128::MAX)]);
    let page = store.list_customers(&CustomerQuery::new().after(id(u128::MAX))).unwrap();
    assert_eq!((page.items.len(), page.next), (0, None));
    let page = store.list_customers(&CustomerQuery::new().after(id(0))).unwrap();
    assert_eq!(page.items.len(), 26);

    // Filters.
    let lead = all_pages(store.as_ref(), CustomerQuery::new().stage(LifecycleStage::Lead).limit(2));
    assert_eq!(flat(&lead), expect(&|n| n % 4 == 0), "stage = lead");
    let lead = all_pages(store.as_ref(), CustomerQuery::new().stage(LifecycleStage::Lead).limit(7));
    assert_eq!(lead.len(), 1, "7 leads, limit 7: one page, no next (later non-leads don't count)");
    let vip = all_pages(store.as_ref(), CustomerQuery::new().tag("vip").limit(3));
    assert_eq!(flat(&vip), expect(&|n| n % 3 == 0), "tag = vip (exact, not Vip)");
    let vip = all_pages(store.as_ref(), CustomerQuery::new().tag("Vip"));
    assert_eq!(flat(&vip), expect(&|n| n % 5 == 0), "tag = Vip");
    let none = all_pages(store.as_ref(), CustomerQuery::new().tag("vi"));
    assert_eq!(flat(&none), Vec::<u128>::new(), "tag is exact, not a prefix");
    let custom = all_pages(store.as_ref(), CustomerQuery::new().stage(LifecycleStage::Churned));
    assert_eq!(flat(&custom), Vec::<u128>::new());

    let named =
        |text: &str| flat(&all_pages(store.as_ref(), CustomerQuery::new().name_contains(text)));
    assert_eq!(named("ADA"), [10, 20, 30], "name contains ADA, any case");
    assert_eq!(named("lovelace"), [10]);
    assert_eq!(named("ÉMILE"), [40], "case-insensitive beyond ASCII");
    assert_eq!(named("åsa öberg"), [90], "case-insensitive beyond ASCII");
    assert_eq!(named("%"), [50], "% is a literal character");
    assert_eq!(named("0% j"), [50]);
    assert_eq!(named("a_b"), [60], "_ is a literal character");
    assert_eq!(named("\\"), [80], "backslash is a literal character");
    assert_eq!(named("nobody"), Vec::<u128>::new());
    assert_eq!(named("").len(), 26, "the empty text matches everyone");

    let combined =
        CustomerQuery::new().stage(LifecycleStage::Lead).tag("vip").name_contains("PERSON");
    let pages = all_pages(store.as_ref(), combined.limit(1));
    assert_eq!(
        flat(&pages),
        expect(&|n| n % 4 == 0 && n % 3 == 0 && n >= 10),
        "lead + vip + name contains PERSON"
    );
}

// ---------------------------------------------------------------------------------------------
// Interactions
// ---------------------------------------------------------------------------------------------

/// Interactions get ids 1, 2, 3... in append order, come back whole (kind with line items,
/// channel, JSON properties, idempotency key), per customer, ordered by time then id, within
/// a half-open `[from, to)` range; an unknown customer has none.
///
/// # Examples
///
/// ```
/// crmkit_testkit::conformance::interactions_by_customer_and_range(std::sync::Arc::new(crmkit_core::MemoryStore::new()));
/// ```
pub fn interactions_by_customer_and_range(store: Arc<dyn Store>) {
    let (crm, _clock) = crm_with_clock(&store);
    let a = crm.create_customer(NewCustomer::person("A").id(id(1))).unwrap().id;
    let b = crm.create_customer(NewCustomer::person("B").id(id(2))).unwrap().id;
    let t = base_time();
    let h = Duration::hours(1);

    let first = note(a, t + h * 2, "first, but later")
        .channel(Channel::Other("whatsapp".into()))
        .property("agent", "sam")
        .property("nested", json!({"list": [1, 2.5, "drei", null, true], "ü": {}}))
        .idempotency_key("note-1");
    let second = NewInteraction::new(
        a,
        t + h,
        InteractionKind::Call {
            direction: Direction::Outbound,
            duration_secs: u32::MAX,
            outcome: Some("voicemail".into()),
        },
    )
    .channel(Channel::Phone);
    let third = NewInteraction::new(
        a,
        t + h * 2,
        InteractionKind::Purchase {
            total: money("19.00", "EUR"),
            items: vec![LineItem {
                sku: "CD-42".into(),
                quantity: dec("2"),
                unit_price: money("9.50", "EUR"),
            }],
        },
    )
    .property("big", json!(i64::MAX));
    let fourth = NewInteraction::new(
        b,
        t + h,
        InteractionKind::Email { direction: Direction::Inbound, subject: None },
    );
    assert_eq!(crm.record(first.clone()).unwrap(), Some(InteractionId(1)));
    assert_eq!(crm.record(second.clone()).unwrap(), Some(InteractionId(2)));
    let outcome = crm.record_all(vec![third.clone(), fourth.clone()]).unwrap();
    assert_eq!(outcome.appended, [Some(InteractionId(3)), Some(InteractionId(4))]);

    let i1 = first.into_interaction(InteractionId(1));
    let i2 = second.into_interaction(InteractionId(2));
    let i3 = third.into_interaction(InteractionId(3));
    let i4 = fourth.into_interaction(InteractionId(4));

    let list = |c: CustomerId, r: TimeRange| store.interactions(c, r).unwrap();
    let all = list(a, TimeRange::new());
    assert_eq!(interaction_ids(&all), [2, 1, 3], "ordered by time, then id");
    assert_eq!(all, [i2.clone(), i1.clone(), i3.clone()], "interactions read back whole");
    for (got, want) in all.iter().zip([&i2, &i1, &i3]) {
        assert_json_eq!(got, want, "interaction");
    }
    assert_eq!(list(b, TimeRange::new()), [i4]);
    assert_eq!(list(id(3), TimeRange::new()), [], "unknown customer: none, not an error");

    let ids = |r: TimeRange| interaction_ids(&list(a, r));
    assert_eq!(ids(TimeRange::new().from(t + h).to(t + h * 2)), [2], "[from, to) excludes to");
    assert_eq!(ids(TimeRange::new().from(t + h * 2)), [1, 3], "from is inclusive");
    assert_eq!(ids(TimeRange::new().to(t + h)), Vec::<u64>::new(), "to is exclusive");
    assert_eq!(ids(TimeRange::new().to(t + h + Duration::microseconds(1))), [2]);
    assert_eq!(ids(TimeRange::new().from(t + h * 2).to(t + h * 2)), Vec::<u64>::new(), "empty");
    assert_eq!(ids(TimeRange::new().from(t + h * 3).to(t)), Vec::<u64>::new(), "reversed");
    assert_eq!(ids(TimeRange::new().from(t).to(t + h * 3)), [2, 1, 3]);
    assert_eq!(crm.interactions(a, TimeRange::new().from(t + h * 2)).unwrap(), [i1, i3]);
}

/// An interaction whose idempotency key is already stored is skipped (`record` returns
/// `None`, the batch outcome holds `None`), whatever its customer and content: across batches
/// and within one batch; skipping consumes no id. Interactions without a key are never
/// skipped. The customer must still exist.
///
/// # Examples
///
/// ```
/// crmkit_testkit::conformance::idempotency_key_skips_duplicates(std::sync::Arc::new(crmkit_core::MemoryStore::new()));
/// ```
pub fn idempotency_key_skips_duplicates(store: Arc<dyn Store>) {
    let (crm, _clock) = crm_with_clock(&store);
    let a = crm.create_customer(NewCustomer::person("A").id(id(1))).unwrap().id;
    let b = crm.create_customer(NewCustomer::person("B").id(id(2))).unwrap().id;
    let t = base_time();
    let k1 = note(a, t, "original").idempotency_key("k1");

    assert_eq!(crm.record(k1.clone()).unwrap(), Some(InteractionId(1)));
    assert_eq!(crm.record(k1.clone()).unwrap(), None, "same interaction, same key");
    let other = NewInteraction::purchase(b, t + Duration::hours(1), money("5", "USD"));
    assert_eq!(crm.record(other.idempotency_key("k1")).unwrap(), None, "key is store-wide");
    assert_eq!(store.stats().unwrap().interactions, 1);

    let outcome = crm
        .record_all(vec![
            note(a, t, "x").idempotency_key("k2"),
            note(b, t, "y").idempotency_key("k2"),
            note(a, t, "z"),
            k1.clone(),
            note(b, t, "w").idempotency_key("k3"),
        ])
        .unwrap();
    assert_eq!(
        outcome.appended,
        [Some(InteractionId(2)), None, Some(InteractionId(3)), None, Some(InteractionId(4))],
        "duplicates within one batch and of earlier batches"
    );
    assert_eq!((outcome.written(), outcome.skipped()), (3, 2));

    let outcome = crm.record_all(vec![note(a, t, "k2 again").idempotency_key("k2")]).unwrap();
    assert_eq!(outcome.appended, [None]);
    assert_eq!(crm.record(note(a, t, "z")).unwrap(), Some(InteractionId(5)), "no key, no skip");
    assert_eq!(crm.record(note(a, t, "z")).unwrap(), Some(InteractionId(6)), "no key, no skip");

    let stored = store.interactions(a, TimeRange::new()).unwrap();
    assert_eq!(interaction_ids(&stored), [1, 2, 3, 5, 6]);
    assert_eq!(stored[0], k1.clone().into_interaction(InteractionId(1)), "the first one is kept");
    assert_eq!(stored[1].idempotency_key.as_deref(), Some("k2"));
    assert_eq!(interaction_ids(&store.interactions(b, TimeRange::new()).unwrap()), [4]);
    assert_eq!(store.stats().unwrap(), StoreStats { customers: 2, interactions: 6 });

    // The customer is checked even when the key is a duplicate.
    let before = Snapshot::of(store.as_ref());
    expect_err(
        crm.record(note(id(9), t, "ghost").idempotency_key("k1")),
        ErrorKind::NotFound,
        "duplicate key for an unknown customer",
    );
    Snapshot::of(store.as_ref()).assert_same(&before, "after a failed duplicate");
}

// ---------------------------------------------------------------------------------------------
// Atomicity
// ---------------------------------------------------------------------------------------------

/// A batch whose last write fails leaves the store exactly as before (stats, customers,
/// identity keys, interactions, purchases, audit log, field schema), whatever the failure:
/// an interaction or audit entry for an unknown customer, a duplicate key (also one taken
/// earlier in the batch), an existing id, a field type conflict (also with a field defined
/// earlier in the batch), a stale revision. Nothing of it is reserved afterwards: ids and
/// sequence numbers continue as if it never happened, and its idempotency keys are free.
///
/// # Examples
///
/// ```
/// crmkit_testkit::conformance::failed_batch_leaves_store_unchanged(std::sync::Arc::new(crmkit_core::MemoryStore::new()));
/// ```
pub fn failed_batch_leaves_store_unchanged(store: Arc<dyn Store>) {
    let (crm, clock) = crm_with_clock(&store);
    let t = base_time();
    crm.define_field(FieldDef::new("plan", FieldType::String)).unwrap();
    let a = crm
        .create_customer(
            NewCustomer::person("Ada")
                .id(id(1))
                .email("ada@example.org")
                .phone("+44 20 7946 0018")
                .attribute("plan", AttributeValue::String("pro".into())),
        )
        .unwrap();
    let b =
        crm.create_customer(NewCustomer::person("Bo").id(id(2)).email("bo@example.org")).unwrap();
    crm.record(NewInteraction::purchase(a.id, t, money("10.00", "EUR")).idempotency_key("order-1"))
        .unwrap();
    crm.record(note(b.id, t, "hello")).unwrap();
    let b = crm.update_customer(b.id, CustomerUpdate::new().add_tag("vip")).unwrap();
    assert_eq!(b.revision, 2);
    clock.set(t + Duration::hours(1));
    let now = crm.now();

    let before = Snapshot::of(store.as_ref());
    let audit_before = before.audit.len() as u64;

    // A valid prefix touching every kind of write.
    let c3 = raw_customer(id(3), "Cy", &["email:cy@example.org"], now);
    let mut a2 = a.clone();
    a2.name = "Ada King".into();
    a2.identities.retain(|k| k.kind() != IdentityKind::Phone);
    a2.revision = 2;
    let c4 = raw_customer(id(4), "Di", &["phone:+442079460018"], now);
    let prefix = || {
        vec![
            WriteOp::InsertCustomer(c3.clone()),
            WriteOp::UpdateCustomer { customer: a2.clone(), expected_revision: 1 },
            WriteOp::AppendInteraction(
                NewInteraction::purchase(c3.id, now, money("5.00", "USD"))
                    .idempotency_key("order-2"),
            ),
            WriteOp::AppendInteraction(refund(a.id, now, money("1.00", "EUR"))),
            WriteOp::AppendInteraction(
                NewInteraction::purchase(a.id, now, money("2", "EUR")).idempotency_key("order-1"),
            ),
            WriteOp::DefineField(FieldDef::new("flag", FieldType::Bool)),
            WriteOp::Audit(audit_record(c3.id, now, "customer")),
            WriteOp::InsertCustomer(c4.clone()),
        ]
    };
    let mut stale_b = b.clone();
    stale_b.name = "Stale".into();
    stale_b.revision = 2;
    let failing: Vec<(&str, WriteOp, ErrorKind)> = vec![
        (
            "an interaction for an unknown customer",
            WriteOp::AppendInteraction(note(id(99), now, "ghost")),
            ErrorKind::NotFound,
        ),
        (
            "a duplicate identity key",
            WriteOp::InsertCustomer(raw_customer(id(5), "Eve", &["email:bo@example.org"], now)),
            ErrorKind::Conflict,
        ),
        (
            "a key taken earlier in the batch",
            WriteOp::InsertCustomer(raw_customer(id(5), "Eve", &["email:cy@example.org"], now)),
            ErrorKind::Conflict,
        ),
        (
            "an existing customer id",
            WriteOp::InsertCustomer(raw_customer(a.id, "Twin", &[], now)),
            ErrorKind::Conflict,
        ),
        (
            "a field type conflict",
            WriteOp::DefineField(FieldDef::new("plan", FieldType::Integer)),
            ErrorKind::Conflict,
        ),
        (
            "a type conflict with a field defined earlier in the batch",
            WriteOp::DefineField(FieldDef::new("flag", FieldType::Date)),
            ErrorKind::Conflict,
        ),
        (
            "a stale revision",
            WriteOp::UpdateCustomer { customer: stale_b, expected_revision: 1 },
            ErrorKind::Conflict,
        ),
        (
            "an audit entry for an unknown customer",
            WriteOp::Audit(audit_record(id(99), now, "name")),
            ErrorKind::NotFound,
        ),
    ];
    for (what, last, kind) in failing {
        let mut ops = prefix();
        ops.push(last);
        expect_err(apply(store.as_ref(), ops), kind, &format!("batch ending in {what}"));
        let after = Snapshot::of(store.as_ref());
        after.assert_same(&before, &format!("after a batch ending in {what}"));
        for (k, holder) in [
            ("email:cy@example.org", None),
            ("phone:+442079460018", Some(a.id)),
            ("email:ada@example.org", Some(a.id)),
            ("email:bo@example.org", Some(b.id)),
        ] {
            let found = owner(store.as_ref(), &key(k)).map(|c| c.id);
            assert_eq!(found, holder, "after a batch ending in {what}: owner of {k}");
        }
    }

    // Through Crm: an atomic record_all whose last interaction fails.
    expect_err(
        crm.record_all(vec![
            NewInteraction::purchase(a.id, now, money("3", "EUR")).idempotency_key("order-2"),
            note(id(99), now, "ghost"),
        ]),
        ErrorKind::NotFound,
        "record_all ending in an unknown customer",
    );
    Snapshot::of(store.as_ref()).assert_same(&before, "after a failed record_all");

    // The prefix alone is fine, and nothing of the failed batches was reserved.
    let outcome = apply(store.as_ref(), prefix()).unwrap();
    assert_eq!(
        outcome.appended,
        [Some(InteractionId(3)), Some(InteractionId(4)), None],
        "ids continue after the failed batches, order-2 is free, order-1 is taken"
    );
    let log = store.audit_log(None, audit_before, 10).unwrap();
    assert_eq!(log.iter().map(|e| e.seq).collect::<Vec<_>>(), [audit_before + 1]);
    assert_eq!(store.customer(a.id).unwrap(), Some(a2));
    assert_eq!(owner(store.as_ref(), &key("phone:+442079460018")), Some(c4));
    assert_eq!(owner(store.as_ref(), &key("email:cy@example.org")), Some(c3));
    assert_eq!(store.field_schema().unwrap().len(), 2);
    assert_eq!(store.stats().unwrap(), StoreStats { customers: 4, interactions: 4 });
}

// ---------------------------------------------------------------------------------------------
// Fields
// ---------------------------------------------------------------------------------------------

/// `DefineField` adds a field; the same definition again is a no-op; another type is
/// [`Error::FieldTypeConflict`] ([`ErrorKind::Conflict`]) and changes nothing; the schema
/// lists fields by name. `Crm::define_field` rejects bad names ([`ErrorKind::Validation`]).
///
/// # Examples
///
/// ```
/// crmkit_testkit::conformance::define_field_is_idempotent_and_conflicts_on_type(std::sync::Arc::new(crmkit_core::MemoryStore::new()));
/// ```
pub fn define_field_is_idempotent_and_conflicts_on_type(store: Arc<dyn Store>) {
    let (crm, _clock) = crm_with_clock(&store);
    assert_eq!(store.field_schema().unwrap(), []);
    crm.define_field(FieldDef::new("zeta", FieldType::Date)).unwrap();
    crm.define_field(FieldDef::new("alpha", FieldType::StringList)).unwrap();
    crm.define_field(FieldDef::new("Mid.dle-field_2", FieldType::Decimal)).unwrap();
    crm.define_field(FieldDef::new("alpha", FieldType::StringList)).unwrap();
    let schema = vec![
        FieldDef::new("Mid.dle-field_2", FieldType::Decimal),
        FieldDef::new("alpha", FieldType::StringList),
        FieldDef::new("zeta", FieldType::Date),
    ];
    assert_eq!(store.field_schema().unwrap(), schema, "fields by name, once each");
    assert_eq!(crm.fields().unwrap(), schema);

    let before = Snapshot::of(store.as_ref());
    for ty in [FieldType::String, FieldType::Integer, FieldType::Datetime, FieldType::Bool] {
        let err = expect_err(
            crm.define_field(FieldDef::new("zeta", ty)),
            ErrorKind::Conflict,
            "redefining a field with another type",
        );
        assert!(
            matches!(&err, Error::FieldTypeConflict { name, existing, requested }
                if name == "zeta" && existing == "date" && *requested == ty.to_string()),
            "{err:?}"
        );
    }
    let err = expect_err(
        crm.define_field(FieldDef::new("bad name", FieldType::Bool)),
        ErrorKind::Validation,
        "a field name with a space",
    );
    assert!(matches!(err, Error::Validation { .. }), "{err:?}");
    expect_err(
        apply(
            store.as_ref(),
            vec![
                WriteOp::DefineField(FieldDef::new("new", FieldType::Bool)),
                WriteOp::DefineField(FieldDef::new("new", FieldType::Integer)),
            ],
        ),
        ErrorKind::Conflict,
        "two definitions of one field in one batch",
    );
    Snapshot::of(store.as_ref()).assert_same(&before, "after failed field definitions");
    assert_eq!(apply(store.as_ref(), vec![]).unwrap(), BatchOutcome::default(), "empty batch");
    Snapshot::of(store.as_ref()).assert_same(&before, "after an empty batch");
}

// ---------------------------------------------------------------------------------------------
// Purchases, audit log, stats
// ---------------------------------------------------------------------------------------------

/// `scan_purchases` returns every purchase (not refunds, not other kinds) in interaction id
/// order (not time order), with customers numbered in order of their first purchase,
/// currencies in order of appearance, times in microseconds, and exact amounts (28-digit
/// values, 28 decimal places, zero, the scale kept).
///
/// # Examples
///
/// ```
/// crmkit_testkit::conformance::scan_purchases_columns(std::sync::Arc::new(crmkit_core::MemoryStore::new()));
/// ```
pub fn scan_purchases_columns(store: Arc<dyn Store>) {
    let (crm, _clock) = crm_with_clock(&store);
    assert_eq!(store.scan_purchases().unwrap(), Default::default(), "empty store, no purchases");
    let a = crm.create_customer(NewCustomer::person("A").id(id(3))).unwrap().id;
    let b = crm.create_customer(NewCustomer::person("B").id(id(1))).unwrap().id;
    let c = crm.create_customer(NewCustomer::person("C").id(id(2))).unwrap().id;
    let t = base_time();
    let h = Duration::hours(1);
    let buy =
        |cu, at, amount: &str, cur: &str| NewInteraction::purchase(cu, at, money(amount, cur));
    let max = "79228162514264337593543950335";
    let tiny = "0.0000000000000000000000000001";
    crm.record(buy(b, t + h * 3, "10.00", "EUR")).unwrap();
    crm.record(refund(a, t + h, money("5", "EUR"))).unwrap();
    crm.record(buy(a, t + h + Duration::nanoseconds(1_999), max, "USD")).unwrap();
    crm.record(note(c, t, "no purchase")).unwrap();
    crm.record_all(vec![buy(a, t, "0.10", "EUR"), buy(b, t + h * 2, "0", "GBP")]).unwrap();
    crm.record(buy(c, t - Duration::days(1), "19.990", "EUR")).unwrap();
    crm.record(buy(a, t + h * 5, tiny, "USD")).unwrap();

    let cols = store.scan_purchases().unwrap();
    assert_eq!((cols.len(), cols.is_empty()), (6, false));
    assert_eq!(cols.customers, [b, a, c], "customers in order of first purchase");
    assert_eq!(cols.currencies, [Currency::EUR, Currency::USD, Currency::GBP]);
    assert_eq!(cols.customer_index, [0, 1, 1, 0, 2, 1]);
    assert_eq!(cols.currency_index, [0, 1, 0, 2, 0, 1]);
    let us = |d: DateTime<Utc>| d.timestamp_micros();
    assert_eq!(
        cols.occurred_at_micros,
        [
            us(t + h * 3),
            us(t + h) + 1,
            us(t),
            us(t + h * 2),
            us(t - Duration::days(1)),
            us(t + h * 5)
        ],
        "rows in id order, times in whole microseconds"
    );
    assert_eq!(
        cols.amount.iter().map(ToString::to_string).collect::<Vec<_>>(),
        ["10.00", max, "0.10", "0", "19.990", tiny],
        "exact amounts, scale kept"
    );
    assert_eq!(cols.amount[1], Decimal::MAX);
}

/// The audit log numbers entries 1, 2, 3... store-wide in write order and pages with `after`
/// (a sequence number) and `limit`, optionally for one customer.
///
/// # Examples
///
/// ```
/// crmkit_testkit::conformance::audit_log_paging(std::sync::Arc::new(crmkit_core::MemoryStore::new()));
/// ```
pub fn audit_log_paging(store: Arc<dyn Store>) {
    let (crm, clock) = crm_with_clock(&store);
    let a = crm.create_customer(NewCustomer::person("A").id(id(1))).unwrap().id;
    let b = crm.create_customer(NewCustomer::person("B").id(id(2))).unwrap().id;
    let t = base_time();
    let steps: Vec<(CustomerId, CustomerUpdate)> = vec![
        (a, CustomerUpdate::new().name("A2")),
        (b, CustomerUpdate::new().stage(LifecycleStage::Lead)),
        (a, CustomerUpdate::new().add_tag("x")),
        (a, CustomerUpdate::new().stage(LifecycleStage::Customer).add_tag("y")),
        (b, CustomerUpdate::new().name("B2").source("agent")),
    ];
    for (n, (c, u)) in steps.into_iter().enumerate() {
        clock.set(t + Duration::seconds(n as i64 + 1));
        crm.update_customer(c, u).unwrap();
    }
    let seqs =
        |entries: Vec<crmkit_core::AuditEntry>| entries.iter().map(|e| e.seq).collect::<Vec<_>>();
    let log = store.audit_log(None, 0, 100).unwrap();
    assert_eq!(seqs(log.clone()), [1, 2, 3, 4, 5, 6, 7, 8]);
    assert_eq!(
        log.iter().map(|e| (e.customer, e.field.as_str())).collect::<Vec<_>>(),
        [
            (a, "customer"),
            (b, "customer"),
            (a, "name"),
            (b, "stage"),
            (a, "tags"),
            (a, "stage"),
            (a, "tags"),
            (b, "name"),
        ]
    );
    assert_eq!(log[7].actor, "agent");
    assert_eq!(log[5].at, t + Duration::seconds(4));
    assert_eq!(store.full_audit_log().unwrap(), log);

    let page = |c, after, limit| seqs(store.audit_log(c, after, limit).unwrap());
    assert_eq!(page(None, 2, 3), [3, 4, 5]);
    assert_eq!(page(None, 0, 1), [1]);
    assert_eq!(page(None, 7, 100), [8]);
    assert_eq!(page(None, 8, 100), Vec::<u64>::new());
    assert_eq!(page(None, 1000, 100), Vec::<u64>::new());
    assert_eq!(page(None, 0, 0), Vec::<u64>::new(), "limit 0");
    assert_eq!(page(Some(a), 0, 100), [1, 3, 5, 6, 7]);
    assert_eq!(page(Some(a), 3, 2), [5, 6], "after and limit count the customer's entries");
    assert_eq!(page(Some(a), 4, 100), [5, 6, 7], "after need not be the customer's");
    assert_eq!(page(Some(b), 4, 100), [8]);
    assert_eq!(page(Some(b), 8, 100), Vec::<u64>::new());
    assert_eq!(page(Some(id(99)), 0, 100), Vec::<u64>::new(), "unknown customer");

    let mut paged = Vec::new();
    loop {
        let chunk = store
            .audit_log(None, paged.last().map_or(0, |e: &crmkit_core::AuditEntry| e.seq), 3)
            .unwrap();
        if chunk.is_empty() {
            break;
        }
        paged.extend(chunk);
    }
    assert_eq!(paged, log, "paging 3 at a time gives the whole log");
}

/// `stats` counts customers and interactions (all kinds; skipped duplicates and failed
/// batches not counted; fields and audit entries not counted).
///
/// # Examples
///
/// ```
/// crmkit_testkit::conformance::stats_count_customers_and_interactions(std::sync::Arc::new(crmkit_core::MemoryStore::new()));
/// ```
pub fn stats_count_customers_and_interactions(store: Arc<dyn Store>) {
    let (crm, _clock) = crm_with_clock(&store);
    let stats = || store.stats().unwrap();
    assert_eq!(stats(), StoreStats { customers: 0, interactions: 0 });
    crm.define_field(FieldDef::new("f", FieldType::Bool)).unwrap();
    assert_eq!(stats(), StoreStats { customers: 0, interactions: 0 });
    let a = crm.create_customer(NewCustomer::person("A").id(id(1))).unwrap().id;
    let b = crm.create_customer(NewCustomer::person("B").id(id(2))).unwrap().id;
    crm.update_customer(a, CustomerUpdate::new().name("A2")).unwrap();
    assert_eq!(stats(), StoreStats { customers: 2, interactions: 0 });
    let t = base_time();
    crm.record_all(vec![
        note(a, t, "1").idempotency_key("k"),
        note(b, t, "2").idempotency_key("k"),
        NewInteraction::purchase(b, t, money("1", "USD")),
        refund(b, t, money("1", "USD")),
    ])
    .unwrap();
    assert_eq!(stats(), StoreStats { customers: 2, interactions: 3 });
    expect_err(
        crm.record_all(vec![note(a, t, "3"), note(id(9), t, "ghost")]),
        ErrorKind::NotFound,
        "failing batch",
    );
    expect_err(
        crm.create_customer(NewCustomer::person("A").id(a)),
        ErrorKind::Conflict,
        "existing id",
    );
    assert_eq!(stats(), StoreStats { customers: 2, interactions: 3 });
}

// ---------------------------------------------------------------------------------------------
// Validation, unknown customers, time
// ---------------------------------------------------------------------------------------------

/// An attribute of an undeclared field, or of the wrong type, is an [`ErrorKind::Validation`]
/// error on create and on update, and writes nothing.
///
/// # Examples
///
/// ```
/// crmkit_testkit::conformance::attribute_validation_errors(std::sync::Arc::new(crmkit_core::MemoryStore::new()));
/// ```
pub fn attribute_validation_errors(store: Arc<dyn Store>) {
    let (crm, _clock) = crm_with_clock(&store);
    let check = |result: Result<Customer>, field: &str, what: &str| {
        let err = expect_err(result, ErrorKind::Validation, what);
        assert!(
            matches!(&err, Error::Validation { field: f, .. } if f == field),
            "{what}: expected a validation error on {field}, got {err:?}"
        );
    };
    let before = Snapshot::of(store.as_ref());
    check(
        crm.create_customer(
            NewCustomer::person("A")
                .id(id(1))
                .attribute("plan", AttributeValue::String("pro".into())),
        ),
        "attributes.plan",
        "create with an undeclared field",
    );
    Snapshot::of(store.as_ref()).assert_same(&before, "after a create with an undeclared field");

    crm.define_field(FieldDef::new("plan", FieldType::String)).unwrap();
    crm.define_field(FieldDef::new("seats", FieldType::Integer)).unwrap();
    let before = Snapshot::of(store.as_ref());
    check(
        crm.create_customer(
            NewCustomer::person("A")
                .id(id(1))
                .attribute("plan", AttributeValue::String("pro".into()))
                .attribute("seats", AttributeValue::String("many".into())),
        ),
        "attributes.seats",
        "create with a wrong type",
    );
    Snapshot::of(store.as_ref()).assert_same(&before, "after a create with a wrong type");

    let a = crm
        .create_customer(
            NewCustomer::person("A").id(id(1)).attribute("seats", AttributeValue::Integer(3)),
        )
        .unwrap();
    let before = Snapshot::of(store.as_ref());
    check(
        crm.update_customer(
            a.id,
            CustomerUpdate::new().name("B").attribute("seats", AttributeValue::Decimal(dec("3.5"))),
        ),
        "attributes.seats",
        "update with a wrong type",
    );
    check(
        crm.update_customer(
            a.id,
            CustomerUpdate::new().attribute("nope", AttributeValue::Bool(true)),
        ),
        "attributes.nope",
        "update with an undeclared field",
    );
    Snapshot::of(store.as_ref()).assert_same(&before, "after updates with bad attributes");
    assert_eq!(store.customer(a.id).unwrap(), Some(a));
}

/// Writes that need an existing customer fail with [`ErrorKind::NotFound`] and write nothing:
/// an interaction, an audit entry, an update (directly and through `Crm`).
///
/// # Examples
///
/// ```
/// crmkit_testkit::conformance::writes_for_unknown_customers_fail(std::sync::Arc::new(crmkit_core::MemoryStore::new()));
/// ```
pub fn writes_for_unknown_customers_fail(store: Arc<dyn Store>) {
    let (crm, _clock) = crm_with_clock(&store);
    let t = base_time();
    let a = crm.create_customer(NewCustomer::person("A").id(id(1))).unwrap();
    let before = Snapshot::of(store.as_ref());
    let ghost = id(2);
    let mut ghost_record = raw_customer(ghost, "Ghost", &[], t);
    ghost_record.revision = 2;
    for (what, op) in [
        ("an interaction", WriteOp::AppendInteraction(note(ghost, t, "x"))),
        ("an audit entry", WriteOp::Audit(audit_record(ghost, t, "name"))),
        ("an update", WriteOp::UpdateCustomer { customer: ghost_record, expected_revision: 1 }),
    ] {
        let err = expect_err(apply(store.as_ref(), vec![op]), ErrorKind::NotFound, what);
        assert!(matches!(err, Error::NotFound { .. }), "{what}: {err:?}");
        Snapshot::of(store.as_ref()).assert_same(&before, &format!("after {what} for nobody"));
    }
    expect_err(crm.record(note(ghost, t, "x")), ErrorKind::NotFound, "Crm::record");
    expect_err(
        crm.update_customer(ghost, CustomerUpdate::new().name("x")),
        ErrorKind::NotFound,
        "Crm::update_customer",
    );
    Snapshot::of(store.as_ref()).assert_same(&before, "after Crm writes for nobody");
    assert_eq!(store.customer(a.id).unwrap(), Some(a));
}

/// Every timestamp a store keeps has microsecond precision: nanoseconds written in a
/// customer (created/updated, stage history, consents), an interaction or an audit entry come
/// back truncated; `scan_purchases` has the truncated microseconds; and a time range compares
/// the stored (truncated) time with the exact bounds, so a bound with nanoseconds inside the
/// stored microsecond excludes it as `from` and includes it as `to`.
///
/// # Examples
///
/// ```
/// crmkit_testkit::conformance::timestamps_are_truncated_to_micros(std::sync::Arc::new(crmkit_core::MemoryStore::new()));
/// ```
pub fn timestamps_are_truncated_to_micros(store: Arc<dyn Store>) {
    let secs = base_time().timestamp();
    let fine = |s: i64, nanos: u32| Utc.timestamp_opt(secs + s, nanos).unwrap();
    let at = fine(0, 123_456_789);
    let at_us = fine(0, 123_456_000);

    let mut c = raw_customer(id(1), "Nano", &["ext:crm:1"], at);
    c.updated_at = fine(1, 999_999_999);
    c.consents.push(Consent {
        purpose: "newsletter".into(),
        channel: Channel::Email,
        status: ConsentStatus::Granted,
        at: fine(2, 1),
        source: "form".into(),
    });
    apply(store.as_ref(), vec![WriteOp::InsertCustomer(c.clone())]).unwrap();
    let mut want = c.clone();
    want.created_at = at_us;
    want.updated_at = fine(1, 999_999_000);
    want.stage_history[0].at = at_us;
    want.consents[0].at = fine(2, 0);
    assert_eq!(store.customer(c.id).unwrap(), Some(want.clone()), "customer times in µs");
    assert_eq!(owner(store.as_ref(), &key("ext:crm:1")), Some(want.clone()));

    let mut next = want.clone();
    next.stage = LifecycleStage::Lead;
    next.stage_history.push(StageChange {
        from: Some(LifecycleStage::Prospect),
        to: LifecycleStage::Lead,
        at: fine(3, 500),
        source: "x".into(),
    });
    next.updated_at = fine(3, 500);
    next.revision = 2;
    apply(
        store.as_ref(),
        vec![
            WriteOp::UpdateCustomer { customer: next.clone(), expected_revision: 1 },
            WriteOp::Audit(audit_record(c.id, fine(3, 777), "stage")),
            WriteOp::AppendInteraction(NewInteraction::purchase(c.id, at, money("1", "EUR"))),
        ],
    )
    .unwrap();
    let mut want_next = next.clone();
    want_next.stage_history[1].at = fine(3, 0);
    want_next.updated_at = fine(3, 0);
    assert_eq!(store.customer(c.id).unwrap(), Some(want_next), "updated customer times in µs");
    let log = store.audit_log(None, 0, 10).unwrap();
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].at, fine(3, 0), "audit time in µs");

    let stored = store.interactions(c.id, TimeRange::new()).unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].occurred_at, at_us, "interaction time in µs");
    assert_eq!(store.scan_purchases().unwrap().occurred_at_micros, [at_us.timestamp_micros()]);

    let count = |r: TimeRange| store.interactions(c.id, r).unwrap().len();
    assert_eq!(count(TimeRange::new().from(at_us)), 1, "from = the stored µs");
    assert_eq!(count(TimeRange::new().from(at)), 0, "from = the written ns, after the stored µs");
    assert_eq!(count(TimeRange::new().from(fine(0, 123_456_001))), 0, "from 1 ns after");
    assert_eq!(count(TimeRange::new().to(at_us)), 0, "to = the stored µs (exclusive)");
    assert_eq!(count(TimeRange::new().to(fine(0, 123_456_001))), 1, "to 1 ns after");
    assert_eq!(count(TimeRange::new().to(at)), 1, "to = the written ns");
    assert_eq!(count(TimeRange::new().from(fine(0, 123_455_999)).to(fine(0, 123_456_001))), 1);
}

// ---------------------------------------------------------------------------------------------
// Concurrency
// ---------------------------------------------------------------------------------------------

/// Readers never see part of a batch: while one thread records batches of interactions for
/// one customer, three threads keep reading `stats()` and `interactions()`; every count they
/// see is a multiple of the batch size and never decreases, the ids they see are exactly
/// 1..=count, and no read fails.
///
/// # Examples
///
/// ```
/// crmkit_testkit::conformance::concurrent_readers_see_whole_batches(std::sync::Arc::new(crmkit_core::MemoryStore::new()));
/// ```
pub fn concurrent_readers_see_whole_batches(store: Arc<dyn Store>) {
    const BATCHES: u64 = 40;
    const PER_BATCH: u64 = 7;
    const READERS: usize = 3;

    struct DoneOnDrop(Arc<AtomicBool>);
    impl Drop for DoneOnDrop {
        fn drop(&mut self) {
            self.0.store(true, Ordering::Release);
        }
    }

    let (crm, _clock) = crm_with_clock(&store);
    let customer = crm.create_customer(NewCustomer::person("Busy").id(id(1))).unwrap().id;
    let done = Arc::new(AtomicBool::new(false));
    let start = Arc::new(Barrier::new(READERS + 1));

    let readers: Vec<_> = (0..READERS)
        .map(|r| {
            let store = store.clone();
            let done = done.clone();
            let start = start.clone();
            thread::spawn(move || {
                start.wait();
                let (mut last_stats, mut last_list, mut reads) = (0u64, 0u64, 0u64);
                loop {
                    let finished = done.load(Ordering::Acquire);
                    let stats = store
                        .stats()
                        .unwrap_or_else(|e| panic!("reader {r}: stats() failed: {e:?}"));
                    assert_eq!(stats.customers, 1, "reader {r}: customers");
                    assert!(
                        stats.interactions.is_multiple_of(PER_BATCH),
                        "reader {r}: stats() saw {} interactions, part of a batch of {PER_BATCH}",
                        stats.interactions
                    );
                    assert!(
                        stats.interactions >= last_stats,
                        "reader {r}: stats().interactions went back from {last_stats} to {}",
                        stats.interactions
                    );
                    last_stats = stats.interactions;

                    let list = store
                        .interactions(customer, TimeRange::new())
                        .unwrap_or_else(|e| panic!("reader {r}: interactions() failed: {e:?}"));
                    let n = list.len() as u64;
                    assert!(
                        n.is_multiple_of(PER_BATCH),
                        "reader {r}: interactions() saw {n}, part of a batch of {PER_BATCH}"
                    );
                    assert!(
                        n >= last_list,
                        "reader {r}: interactions went back from {last_list} to {n}"
                    );
                    let mut ids = interaction_ids(&list);
                    ids.sort_unstable();
                    assert!(
                        ids.iter().copied().eq(1..=n),
                        "reader {r}: interaction ids are not 1..={n}: {ids:?}"
                    );
                    last_list = n;
                    reads += 1;
                    if finished {
                        return (reads, last_stats, last_list);
                    }
                    thread::yield_now();
                }
            })
        })
        .collect();

    {
        let _done = DoneOnDrop(done.clone());
        start.wait();
        let t = base_time();
        for b in 0..BATCHES {
            let batch = (0..PER_BATCH)
                .map(|k| note(customer, t + Duration::seconds((b * PER_BATCH + k) as i64), "tick"))
                .collect();
            let outcome = crm.record_all(batch).unwrap();
            assert_eq!(outcome.written() as u64, PER_BATCH);
            if b % 4 == 0 {
                thread::yield_now();
            }
        }
    }

    let total = BATCHES * PER_BATCH;
    for h in readers {
        let (reads, last_stats, last_list) =
            h.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        assert!(reads >= 1);
        assert_eq!((last_stats, last_list), (total, total), "final read after the writer finished");
    }
    assert_eq!(store.stats().unwrap(), StoreStats { customers: 1, interactions: total });
}

/// Fitted models are stored as versions 1, 2, 3... (no gaps, no reuse); scores replace a
/// customer's previous scores, must name a stored model version and an existing customer, and a
/// failing batch stores neither.
pub fn models_and_scores_are_versioned(store: Arc<dyn Store>) {
    use crmkit_core::{CustomerScore, ModelRecord, WriteBatch, WriteOp};
    let (crm, _clock) = crm_with_clock(&store);
    let a = crm.create_customer(NewCustomer::person("A").id(id(1))).unwrap().id;
    let b = crm.create_customer(NewCustomer::person("B").id(id(2))).unwrap().id;
    assert_eq!(store.model(None).unwrap(), None);
    let model = |version: u64| ModelRecord {
        version,
        fitted_at: base_time() + chrono::Duration::nanoseconds(1_234_567_891),
        as_of: base_time(),
        time_unit: "week".into(),
        currency: Some(crmkit_core::Currency::USD),
        models: serde_json::json!({"bgnbd": {"r": 0.243, "alpha": 4.414}, "v": version}),
    };
    let score = |customer, version, p| CustomerScore {
        p_alive: p,
        clv: Some(12.5),
        rfm: [5, 4, 3],
        segment: "champions".into(),
        ..CustomerScore::empty(customer, version)
    };
    let apply = |ops: Vec<WriteOp>| store.apply(WriteBatch { ops });
    apply(vec![WriteOp::SaveModel(model(1)), WriteOp::SaveScores(vec![score(a, 1, 0.9)])]).unwrap();
    let stored = store.model(None).unwrap().unwrap();
    assert_eq!(stored.version, 1);
    assert_eq!(stored.models, model(1).models);
    assert_eq!(stored.fitted_at.timestamp_subsec_nanos() % 1000, 0, "kept to the microsecond");
    assert_eq!(store.score(a).unwrap(), Some(score(a, 1, 0.9)));
    assert_eq!(store.score(b).unwrap(), None);
    // Versions: taken, skipped.
    expect_err(apply(vec![WriteOp::SaveModel(model(1))]), ErrorKind::Conflict, "taken version");
    expect_err(apply(vec![WriteOp::SaveModel(model(3))]), ErrorKind::Validation, "skipped version");
    // Scores for an unknown model version or customer fail the whole batch.
    let before = (store.model(None).unwrap(), store.all_scores().unwrap());
    expect_err(
        apply(vec![
            WriteOp::SaveModel(model(2)),
            WriteOp::SaveScores(vec![score(b, 2, 0.5), score(id(99), 2, 0.1)]),
        ]),
        ErrorKind::NotFound,
        "scores of an unknown customer",
    );
    expect_err(
        apply(vec![WriteOp::SaveScores(vec![score(b, 7, 0.5)])]),
        ErrorKind::NotFound,
        "scores of an unknown model version",
    );
    assert_eq!((store.model(None).unwrap(), store.all_scores().unwrap()), before);
    // A new version replaces the customers' scores; old model versions stay readable.
    apply(vec![
        WriteOp::SaveModel(model(2)),
        WriteOp::SaveScores(vec![score(b, 2, 0.4), score(a, 2, 0.3)]),
    ])
    .unwrap();
    assert_eq!(store.model(None).unwrap().unwrap().version, 2);
    assert_eq!(store.model(Some(1)).unwrap().unwrap().models, model(1).models);
    assert_eq!(store.model(Some(3)).unwrap(), None);
    assert_eq!(store.all_scores().unwrap(), vec![score(a, 2, 0.3), score(b, 2, 0.4)]);
}

fn apply_ok(store: &Arc<dyn Store>, ops: Vec<WriteOp>) -> BatchOutcome {
    store.apply(WriteBatch { ops }).unwrap_or_else(|e| panic!("batch failed: {e}"))
}

fn row(segment: &str, c: CustomerId, member: bool, next: Option<DateTime<Utc>>) -> Membership {
    Membership {
        segment: segment.into(),
        customer: c,
        member,
        since: base_time(),
        version: 3,
        leaves: u64::MAX - 1, // every bit but one: the full u64 must survive storage
        next_check: next,
    }
}

/// Segments and playbooks bump the revision; membership rows are upserted, deleted when neither
/// a member nor scheduled, listed per customer and per segment, scheduled by `next_check`, and
/// deleted with their segment.
pub fn membership_rows_and_schedule(store: Arc<dyn Store>) {
    let t = base_time();
    let (a, b, c) = (id(1), id(2), id(3));
    let mut ops: Vec<WriteOp> =
        [a, b, c].iter().map(|&i| WriteOp::InsertCustomer(raw_customer(i, "X", &[], t))).collect();
    ops.push(WriteOp::SaveSegment(Segment::dynamic("s2", "tag \"x\"").unwrap()));
    ops.push(WriteOp::SaveSegment(Segment::manual("s1")));
    apply_ok(&store, ops);
    assert_eq!(store.automation_revision().unwrap(), 2, "one bump per segment write");
    let names: Vec<String> = store.segments().unwrap().into_iter().map(|s| s.name).collect();
    assert_eq!(names, ["s1", "s2"], "segments by name");
    apply_ok(&store, vec![WriteOp::SavePlaybook(Playbook::new("p", "s1"))]);
    assert_eq!(store.automation_revision().unwrap(), 3);
    assert_eq!(store.playbooks().unwrap(), vec![Playbook::new("p", "s1")]);

    let h = |n: i64| Some(t + Duration::hours(n));
    apply_ok(
        &store,
        vec![
            WriteOp::SetMembership(row("s2", b, true, h(5))),
            WriteOp::SetMembership(row("s2", a, false, h(2))),
            WriteOp::SetMembership(row("s1", a, true, None)),
            WriteOp::SetMembership(row("s2", c, true, h(2))),
            // Neither a member nor scheduled: not stored.
            WriteOp::SetMembership(row("s1", c, false, None)),
        ],
    );
    let segs = |who| -> Vec<String> {
        store.memberships(who).unwrap().into_iter().map(|m| m.segment).collect()
    };
    assert_eq!(segs(a), ["s1", "s2"], "a customer's rows, by segment");
    assert_eq!(segs(c), ["s2"], "a row that is neither member nor scheduled is not stored");
    assert_eq!(store.memberships(b).unwrap(), vec![row("s2", b, true, h(5))], "row round trip");
    let rows = store.segment_rows("s2", None, 10).unwrap();
    assert_eq!(rows.iter().map(|m| m.customer).collect::<Vec<_>>(), [a, b, c], "by customer id");
    let page = store.segment_rows("s2", Some(a), 1).unwrap();
    assert_eq!(page.iter().map(|m| m.customer).collect::<Vec<_>>(), [b], "paged after a");
    assert_eq!(
        store.segment_sizes().unwrap(),
        vec![("s1".to_string(), 1), ("s2".to_string(), 2)],
        "members only, by segment"
    );
    let due = |until: i64| -> Vec<(String, CustomerId)> {
        store
            .due_checks(t + Duration::hours(until), 10)
            .unwrap()
            .into_iter()
            .map(|m| (m.segment, m.customer))
            .collect()
    };
    assert_eq!(due(1), [], "nothing due before the first check");
    assert_eq!(due(2), [("s2".into(), a), ("s2".into(), c)], "`until` is inclusive");
    assert_eq!(due(9).len(), 3, "ordered by time: b last");
    assert_eq!(due(9)[2], ("s2".into(), b));
    // Clearing the schedule of a non-member deletes its row; of a member, keeps it.
    apply_ok(
        &store,
        vec![
            WriteOp::SetMembership(row("s2", a, false, None)),
            WriteOp::SetMembership(row("s2", c, true, None)),
        ],
    );
    assert_eq!(segs(a), ["s1"]);
    assert_eq!(due(9), [("s2".into(), b)]);
    // Unknown segment or customer.
    let err =
        store.apply(WriteBatch { ops: vec![WriteOp::SetMembership(row("nope", a, true, None))] });
    assert_eq!(err.unwrap_err().kind(), ErrorKind::NotFound, "unknown segment");
    let err = store
        .apply(WriteBatch { ops: vec![WriteOp::SetMembership(row("s1", id(99), true, None))] });
    assert_eq!(err.unwrap_err().kind(), ErrorKind::NotFound, "unknown customer");
    // Deleting a segment deletes its rows and bumps the revision; again is NotFound.
    apply_ok(&store, vec![WriteOp::DeleteSegment("s2".into())]);
    assert_eq!(store.automation_revision().unwrap(), 4);
    assert_eq!(segs(b), Vec::<String>::new());
    assert_eq!(due(9), []);
    let err = store.apply(WriteBatch { ops: vec![WriteOp::DeleteSegment("s2".into())] });
    assert_eq!(err.unwrap_err().kind(), ErrorKind::NotFound);
    let err = store.apply(WriteBatch { ops: vec![WriteOp::DeletePlaybook("nope".into())] });
    assert_eq!(err.unwrap_err().kind(), ErrorKind::NotFound);
    assert_eq!(store.automation_revision().unwrap(), 4, "failed batches bump nothing");
}

/// Written interactions emit an event (duplicates do not), `Emit` appends, sequence numbers
/// count from 1, a failed batch emits nothing, and cursors only move forward.
pub fn outbox_events_and_cursors(store: Arc<dyn Store>) {
    let t = base_time();
    let a = id(1);
    let buy = |k: &str| {
        WriteOp::AppendInteraction(
            NewInteraction::purchase(a, t, Money::new(Decimal::new(1250, 2), Currency::EUR))
                .idempotency_key(k),
        )
    };
    let action = |name: &str| {
        WriteOp::Emit(NewEvent {
            at: t + Duration::nanoseconds(1500),
            customer: Some(a),
            payload: EventPayload::Action {
                playbook: "p".into(),
                action: name.into(),
                payload: json!({"n": 1}),
            },
        })
    };
    let o = apply_ok(
        &store,
        vec![
            WriteOp::InsertCustomer(raw_customer(a, "A", &[], t)),
            buy("k1"),
            buy("k1"),
            action("x"),
        ],
    );
    assert_eq!(
        (o.events, o.last_event),
        (2, 2),
        "one interaction event (the duplicate none) and one emit"
    );
    let events = store.events(0, 10).unwrap();
    assert_eq!(events.iter().map(|e| e.seq).collect::<Vec<_>>(), [1, 2]);
    match &events[0].payload {
        EventPayload::InteractionRecorded { interaction, kind, occurred_at, amount } => {
            assert_eq!((interaction.0, kind.as_str(), *occurred_at), (1, "purchase", t));
            assert_eq!(amount.as_ref().map(|m| m.to_string()).as_deref(), Some("12.50 EUR"));
        }
        other => panic!("expected interaction_recorded, got {other:?}"),
    }
    assert_eq!(events[1].at, t + Duration::microseconds(1), "event times are truncated to µs");
    assert_eq!(events[1].customer, Some(a));
    // A failing batch writes no events.
    let err = store.apply(WriteBatch {
        ops: vec![
            action("y"),
            buy("k2"),
            WriteOp::AppendInteraction(NewInteraction::purchase(
                id(9),
                t,
                Money::new(Decimal::ONE, Currency::EUR),
            )),
        ],
    });
    assert_eq!(err.unwrap_err().kind(), ErrorKind::NotFound);
    assert_eq!(store.events(0, 10).unwrap().len(), 2, "the failed batch emitted nothing");
    let o = apply_ok(&store, vec![buy("k1")]);
    assert_eq!((o.events, o.last_event), (0, 0), "a duplicate of an earlier batch emits nothing");
    let o = apply_ok(&store, vec![action("z")]);
    assert_eq!((o.events, o.last_event), (1, 3), "numbering continues after a failed batch");
    assert_eq!(store.events(1, 1).unwrap()[0].seq, 2, "after and limit");
    assert_eq!(apply_ok(&store, vec![]).last_event, 0, "no events: last_event is 0");
    // Cursors.
    assert_eq!(store.consumer_cursor("c").unwrap(), 0);
    let ack = |c: &str, seq| WriteOp::Ack { consumer: c.into(), seq };
    apply_ok(&store, vec![ack("c", 2)]);
    apply_ok(&store, vec![ack("c", 1)]);
    assert_eq!(store.consumer_cursor("c").unwrap(), 2, "a cursor never moves back");
    assert_eq!(store.consumer_cursor("d").unwrap(), 0, "consumers are independent");
    let err = store.apply(WriteBatch { ops: vec![ack("d", 1), ack("c", 4)] });
    assert_eq!(err.unwrap_err().kind(), ErrorKind::Validation, "beyond the last event");
    assert_eq!(store.consumer_cursor("d").unwrap(), 0, "the failed batch moved no cursor");
}

/// Tasks are inserted and replaced by id, filtered, ordered by due date then id.
pub fn tasks_are_stored_and_queried(store: Arc<dyn Store>) {
    let t = base_time();
    let (a, b) = (id(1), id(2));
    apply_ok(
        &store,
        vec![
            WriteOp::InsertCustomer(raw_customer(a, "A", &[], t)),
            WriteOp::InsertCustomer(raw_customer(b, "B", &[], t)),
        ],
    );
    let task = |n: u128, who, due_days: i64, assignee: Option<&str>| Task {
        id: TaskId(uuid_of(n)),
        customer: who,
        title: format!("task {n}"),
        due: t + Duration::days(due_days) + Duration::nanoseconds(700),
        assignee: assignee.map(Into::into),
        status: TaskStatus::Open,
        created_at: t,
        completed_at: None,
        playbook: n.is_multiple_of(2).then(|| "p".to_string()),
    };
    apply_ok(
        &store,
        vec![
            WriteOp::PutTask(task(1, a, 3, Some("sam"))),
            WriteOp::PutTask(task(2, b, 1, None)),
            WriteOp::PutTask(task(3, a, 1, Some("sam"))),
        ],
    );
    let titles = |q: TaskQuery| -> Vec<String> {
        store.tasks(&q).unwrap().into_iter().map(|t| t.title).collect()
    };
    assert_eq!(titles(TaskQuery::new()), ["task 2", "task 3", "task 1"], "due, then id");
    assert_eq!(titles(TaskQuery::new().customer(a)), ["task 3", "task 1"]);
    assert_eq!(titles(TaskQuery::new().assignee("sam").limit(1)), ["task 3"]);
    assert_eq!(titles(TaskQuery::new().playbook("p")), ["task 2"]);
    let mut done = task(3, a, 1, Some("sam"));
    done.status = TaskStatus::Done;
    done.completed_at = Some(t + Duration::days(1));
    apply_ok(&store, vec![WriteOp::PutTask(done.clone())]);
    assert_eq!(titles(TaskQuery::new().status(TaskStatus::Open)), ["task 2", "task 1"]);
    let stored = store.task(done.id).unwrap().unwrap();
    assert_eq!(stored.status, TaskStatus::Done);
    assert_eq!(stored.due, t + Duration::days(1), "due truncated to µs");
    assert_eq!(store.task(TaskId(uuid_of(42))).unwrap(), None);
    let err = store.apply(WriteBatch { ops: vec![WriteOp::PutTask(task(5, id(9), 1, None))] });
    assert_eq!(err.unwrap_err().kind(), ErrorKind::NotFound, "unknown customer");
}

fn uuid_of(n: u128) -> uuid::Uuid {
    uuid::Uuid::from_u128(n)
}
