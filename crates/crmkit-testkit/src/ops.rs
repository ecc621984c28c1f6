//! A differential, model-based property test: random sequences of [`Op`]s, run against two
//! stores through the [`Crm`] engine, must behave the same.
//!
//! The generator draws from small pools on purpose, so that the interesting cases are common:
//! customer ids `1..=7` (creates use `1..=6`, so `7` never exists), identity keys that collide
//! after normalisation, a few custom fields whose types conflict, attribute values of every
//! type (so wrong types happen), idempotency keys `k1..k4`, invalid values, batches with a
//! failing item, and raw [`WriteBatch`]es with stale revisions.
//!
//! [`assert_same_behaviour`] checks one sequence; [`check_differential`] runs many (with
//! shrinking) and is what a backend calls:
//!
//! ```
//! use std::sync::Arc;
//! use crmkit_core::{MemoryStore, Store};
//! crmkit_testkit::ops::check_differential(
//!     8,
//!     || -> Arc<dyn Store> { Arc::new(MemoryStore::new()) },
//!     || -> Arc<dyn Store> { Arc::new(MemoryStore::new()) }, // the backend under test
//! );
//! ```
//!
//! Or, in a `proptest!` block (with `#[test]` on the function in a test file):
//!
//! ```
//! use std::sync::Arc;
//! use crmkit_core::MemoryStore;
//! use proptest::prelude::*;
//!
//! proptest! {
//!     #![proptest_config(ProptestConfig::with_cases(4))]
//!     fn memory_vs_memory(ops in crmkit_testkit::ops::ops_strategy()) {
//!         crmkit_testkit::ops::assert_same_behaviour(
//!             Arc::new(MemoryStore::new()), Arc::new(MemoryStore::new()), &ops);
//!     }
//! }
//! # memory_vs_memory();
//! ```

use std::sync::Arc;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use crmkit_core::objects::{
    NewObject, Object, ObjectField, ObjectFieldType, ObjectType, ObjectTypeDef, ObjectUpdate,
    ObjectValue,
};
use crmkit_core::{
    AttributeValue, AuditRecord, BatchOutcome, Channel, ConsentStatus, Crm, Currency, Customer,
    CustomerId, CustomerKind, CustomerQuery, CustomerUpdate, Direction, Expected, FieldDef,
    FieldType, FixedClock, IdentityKey, IdentityKind, IndexValue, InteractionId, InteractionKind,
    LifecycleStage, Money, NewCustomer, NewInteraction, NewRecord, Page, Result, StageChange,
    Store, TimeRange, WriteBatch, WriteOp,
};
use proptest::prelude::*;
use proptest::sample::select;
use proptest::test_runner::{Config, TestRunner};
use rust_decimal::Decimal;
use serde_json::json;

use crate::Snapshot;
use crate::conformance::base_time;

/// The customer ids operations refer to: `1..=CUSTOMER_POOL` (creates use all but the last).
pub const CUSTOMER_POOL: u128 = 7;

/// One operation of a generated sequence.
#[derive(Debug, Clone)]
pub enum Op {
    /// [`Crm::create_customer`] (always with an explicit id, `CustomerId::from_u128(1..=6)`).
    CreateCustomer(NewCustomer),
    /// [`Crm::update_customer`].
    UpdateCustomer(CustomerId, CustomerUpdate),
    /// [`Crm::define_field`].
    DefineField(FieldDef),
    /// [`Crm::record`]: one interaction.
    Record(NewInteraction),
    /// [`Crm::record_all`]: several interactions, atomically.
    RecordAll(Vec<NewInteraction>),
    /// [`Store::apply`] of a batch built from these writes (see [`RawWrite`]).
    Apply(Vec<RawWrite>),
    /// [`Crm::define_object_type`].
    DefineObjectType(ObjectTypeDef),
    /// [`Crm::create_object`] of a [`OBJECT_TYPE`] object.
    CreateObject(NewObject),
    /// [`Crm::update_object`] of a [`OBJECT_TYPE`] object.
    UpdateObject(String, ObjectUpdate),
    /// [`Crm::delete_object`] of a [`OBJECT_TYPE`] object, with an expected revision.
    DeleteObject(String, Option<u64>),
}

/// The user-defined object type the generated operations use.
pub const OBJECT_TYPE: &str = "ticket";

/// A write of an [`Op::Apply`] batch, made concrete when the op runs (an update needs the
/// stored record). Times are the clock's plus a few nanoseconds, to exercise truncation.
#[derive(Debug, Clone)]
pub enum RawWrite {
    /// `InsertCustomer` of a fresh record (revision 1) with these keys.
    Insert {
        /// The id.
        id: CustomerId,
        /// Its name.
        name: String,
        /// Its identity keys.
        keys: Vec<IdentityKey>,
    },
    /// `UpdateCustomer` of the stored record (or of a made-up revision-1 record if there is
    /// none, which succeeds only if the batch inserted it earlier), renamed and with these keys
    /// instead of its own; `stale` expects a revision one too high.
    Update {
        /// The customer.
        id: CustomerId,
        /// Its new name.
        name: String,
        /// Its new identity keys.
        keys: Vec<IdentityKey>,
        /// Whether to expect the wrong revision.
        stale: bool,
    },
    /// `AppendInteraction`.
    Append(NewInteraction),
    /// `DefineField`.
    Define(FieldDef),
    /// `Audit` of a made-up change of `field`.
    Audit {
        /// The customer.
        customer: CustomerId,
        /// The field name.
        field: String,
    },
    /// `PutRecord` of a record of one of [`RECORD_KINDS`], with a `stage` index and (when
    /// given) an `amount` index.
    PutRecord {
        /// The kind.
        kind: &'static str,
        /// The id.
        id: &'static str,
        /// Its `stage` index value.
        stage: &'static str,
        /// Its `amount` index value, if it has one.
        amount: Option<i64>,
        /// The revision it expects.
        expected: Expected,
    },
    /// `DeleteRecord`.
    DeleteRecord {
        /// The kind.
        kind: &'static str,
        /// The id.
        id: &'static str,
        /// The revision it expects.
        expected: Expected,
    },
}

/// The record kinds the generated operations write, and [`Snapshot`] reads.
pub const RECORD_KINDS: &[&str] = &["deal", "case", "object_type", "object:ticket"];

/// The `stage` index values the generated records have.
pub const RECORD_STAGES: &[&str] = &["open", "won", "lost"];

/// What an operation returned.
#[derive(Debug, Clone, PartialEq)]
pub enum OpValue {
    /// A customer (create, update).
    Customer(Customer),
    /// Nothing (define field).
    Unit,
    /// The id of a recorded interaction, `None` when skipped as a duplicate.
    Recorded(Option<InteractionId>),
    /// The outcome of a batch (`record_all`, `apply`).
    Batch(BatchOutcome),
    /// An object type (define).
    ObjectType(ObjectType),
    /// An object (create, update, delete).
    Object(Object),
}

// ---------------------------------------------------------------------------------------------
// Strategies
// ---------------------------------------------------------------------------------------------

fn cid(n: u128) -> CustomerId {
    CustomerId::from_u128(n)
}

/// Any pool id, low ids more often (so that most references hit customers that exist).
fn any_customer() -> impl Strategy<Value = CustomerId> {
    prop_oneof![
        4 => Just(1u128),
        4 => Just(2),
        3 => Just(3),
        2 => 4..CUSTOMER_POOL,
        1 => Just(CUSTOMER_POOL),
    ]
    .prop_map(cid)
}

/// A pool id that may be created (not the last one).
fn creatable_customer() -> impl Strategy<Value = CustomerId> {
    prop_oneof![4 => Just(1u128), 4 => Just(2), 3 => Just(3), 2 => 4..CUSTOMER_POOL].prop_map(cid)
}

const NAMES: &[&str] =
    &["Ada Lovelace", "ada", "GRENADA Ltd", "Émile Zola", "100% Juice", "a_b", "Bo"];

/// A name; rarely an invalid (blank) one.
fn name() -> impl Strategy<Value = String> {
    prop_oneof![20 => select(NAMES), 1 => Just("  ")].prop_map(str::to_owned)
}

/// Raw identity inputs: several normalise to the same key; rarely an invalid one.
fn raw_identity() -> impl Strategy<Value = (IdentityKind, &'static str)> {
    prop_oneof![
        20 => select(vec![
            (IdentityKind::Email, "ada@example.org"),
            (IdentityKind::Email, " ADA@Example.org "),
            (IdentityKind::Email, "bo@example.org"),
            (IdentityKind::Phone, "+44 20 7946 0018"),
            (IdentityKind::Phone, "0044 (20) 7946-0018"),
            (IdentityKind::External("shop".into()), "A-1"),
            (IdentityKind::External("Shop-EU".into()), "A-1"),
        ]),
        1 => Just((IdentityKind::Email, "not-an-address")),
    ]
}

/// The distinct valid keys [`raw_identity`] normalises to.
fn key_pool() -> Vec<IdentityKey> {
    [
        "email:ada@example.org",
        "email:bo@example.org",
        "phone:+442079460018",
        "ext:shop:A-1",
        "ext:shop-eu:A-1",
    ]
    .iter()
    .map(|k| k.parse().expect("valid key literal"))
    .collect()
}

fn identity_key() -> impl Strategy<Value = IdentityKey> {
    select(key_pool())
}

fn stage() -> impl Strategy<Value = LifecycleStage> {
    select(vec![
        LifecycleStage::Prospect,
        LifecycleStage::Lead,
        LifecycleStage::Customer,
        LifecycleStage::Churned,
        LifecycleStage::Custom("trial".into()),
    ])
}

/// A tag; rarely an invalid (empty) one.
fn tag() -> impl Strategy<Value = &'static str> {
    prop_oneof![20 => select(vec!["vip", "newsletter", " vip ", "ünï"]), 1 => Just("")]
}

/// The custom fields, each with the type it usually gets.
const FIELDS: &[(&str, FieldType)] = &[
    ("plan", FieldType::String),
    ("seats", FieldType::Integer),
    ("mrr", FieldType::Decimal),
    ("langs", FieldType::StringList),
    ("renewal", FieldType::Date),
];

fn field_type() -> impl Strategy<Value = FieldType> {
    select(vec![
        FieldType::String,
        FieldType::Integer,
        FieldType::Decimal,
        FieldType::Bool,
        FieldType::Date,
        FieldType::Datetime,
        FieldType::StringList,
    ])
}

/// A field, usually with its usual type, sometimes with any type (a conflict, mostly).
fn field_def() -> impl Strategy<Value = FieldDef> {
    (select(FIELDS), prop_oneof![4 => Just(None), 1 => field_type().prop_map(Some)])
        .prop_map(|((name, usual), ty)| FieldDef::new(name, ty.unwrap_or(usual)))
}

fn dec(s: &str) -> Decimal {
    s.parse().expect("valid decimal literal")
}

fn value_of(ty: FieldType) -> BoxedStrategy<AttributeValue> {
    match ty {
        FieldType::String => select(vec!["pro", "free", "ü;x", ""])
            .prop_map(|s| AttributeValue::String(s.into()))
            .boxed(),
        FieldType::Integer => {
            select(vec![0i64, -1, 42, i64::MAX, i64::MIN]).prop_map(AttributeValue::Integer).boxed()
        }
        FieldType::Decimal => select(vec!["1.50", "1.5", "-3", "0.0000000000000000000000000001"])
            .prop_map(|d| AttributeValue::Decimal(dec(d)))
            .boxed(),
        FieldType::Bool => any::<bool>().prop_map(AttributeValue::Bool).boxed(),
        FieldType::Date => select(vec![(2024, 2, 29), (1970, 1, 1)])
            .prop_map(|(y, m, d)| {
                AttributeValue::Date(NaiveDate::from_ymd_opt(y, m, d).expect("valid date"))
            })
            .boxed(),
        // Whole microseconds: what a store does with nanoseconds inside an attribute is not
        // specified (MemoryStore keeps them).
        FieldType::Datetime => select(vec![0i64, 1_500_001, -86_400_000_000])
            .prop_map(|us| AttributeValue::Datetime(base_time() + Duration::microseconds(us)))
            .boxed(),
        FieldType::StringList => select(vec![vec![], vec!["a;b", ""], vec!["x"]])
            .prop_map(|l| AttributeValue::StringList(l.into_iter().map(str::to_owned).collect()))
            .boxed(),
    }
}

/// An attribute: a pool field with a value of its usual type, sometimes of any type, rarely
/// of an undeclared field.
fn attribute() -> impl Strategy<Value = (&'static str, AttributeValue)> {
    (select(FIELDS), prop_oneof![5 => Just(None), 1 => field_type().prop_map(Some)], 0..20u8)
        .prop_flat_map(|((name, usual), ty, undeclared)| {
            let name = if undeclared == 0 { "undeclared" } else { name };
            value_of(ty.unwrap_or(usual)).prop_map(move |v| (name, v))
        })
}

fn channel() -> impl Strategy<Value = Channel> {
    select(vec![Channel::Email, Channel::Sms, Channel::Other("whatsapp".into())])
}

/// A consent; rarely with an invalid (blank) purpose.
fn consent() -> impl Strategy<Value = (&'static str, Channel, ConsentStatus)> {
    (
        prop_oneof![
            20 => select(vec!["newsletter", "profiling", " newsletter "]),
            1 => Just(" "),
        ],
        channel(),
        select(vec![ConsentStatus::Granted, ConsentStatus::Denied, ConsentStatus::Unknown]),
    )
}

fn source() -> impl Strategy<Value = &'static str> {
    select(vec!["api", "import:shop.csv", "agent:sam"])
}

fn new_customer() -> impl Strategy<Value = NewCustomer> {
    (
        creatable_customer(),
        any::<bool>(),
        name(),
        prop::collection::vec(raw_identity(), 0..=2),
        stage(),
        prop::collection::vec(tag(), 0..=2),
        prop_oneof![3 => Just(vec![]), 1 => prop::collection::vec(attribute(), 1..=2)],
        prop::collection::vec(consent(), 0..=2),
        source(),
    )
        .prop_map(|(id, org, name, keys, stage, tags, attrs, consents, source)| {
            let kind = if org { CustomerKind::Organisation } else { CustomerKind::Person };
            let mut new = NewCustomer::of_kind(kind, name).id(id).stage(stage).source(source);
            for (kind, raw) in keys {
                new = new.identity(kind, raw);
            }
            for t in tags {
                new = new.tag(t);
            }
            for (field, value) in attrs {
                new = new.attribute(field, value);
            }
            for (purpose, channel, status) in consents {
                new = new.consent(purpose, channel, status);
            }
            new
        })
}

#[derive(Debug, Clone)]
enum Step {
    Name(String),
    Kind(CustomerKind),
    Stage(LifecycleStage),
    AddTag(&'static str),
    RemoveTag(&'static str),
    AddIdentity(IdentityKind, &'static str),
    RemoveIdentity(IdentityKey),
    SetAttribute(&'static str, AttributeValue),
    RemoveAttribute(&'static str),
    Consent(&'static str, Channel, ConsentStatus),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        2 => name().prop_map(Step::Name),
        1 => select(vec![CustomerKind::Person, CustomerKind::Organisation]).prop_map(Step::Kind),
        2 => stage().prop_map(Step::Stage),
        2 => tag().prop_map(Step::AddTag),
        1 => tag().prop_map(Step::RemoveTag),
        3 => raw_identity().prop_map(|(k, r)| Step::AddIdentity(k, r)),
        2 => identity_key().prop_map(Step::RemoveIdentity),
        3 => attribute().prop_map(|(f, v)| Step::SetAttribute(f, v)),
        1 => select(FIELDS).prop_map(|(f, _)| Step::RemoveAttribute(f)),
        2 => consent().prop_map(|(p, c, s)| Step::Consent(p, c, s)),
    ]
}

fn update() -> impl Strategy<Value = CustomerUpdate> {
    (prop::collection::vec(step(), 0..=3), source()).prop_map(|(steps, source)| {
        let mut u = CustomerUpdate::new().source(source);
        for s in steps {
            u = match s {
                Step::Name(n) => u.name(n),
                Step::Kind(k) => u.kind(k),
                Step::Stage(s) => u.stage(s),
                Step::AddTag(t) => u.add_tag(t),
                Step::RemoveTag(t) => u.remove_tag(t),
                Step::AddIdentity(k, r) => u.add_identity(k, r),
                Step::RemoveIdentity(k) => u.remove_identity(k),
                Step::SetAttribute(f, v) => u.attribute(f, v),
                Step::RemoveAttribute(f) => u.remove_attribute(f),
                Step::Consent(p, c, s) => u.consent(p, c, s),
            };
        }
        u
    })
}

/// Interaction times, as offsets from [`base_time`]: ties, sub-microsecond parts, the past.
fn occurred_at() -> impl Strategy<Value = DateTime<Utc>> {
    select(vec![0i64, 3_600_000_000_000, 3_600_000_000_999, 7_200_000_000_000, -86_400_000_000_000])
        .prop_map(|ns| base_time() + Duration::nanoseconds(ns))
}

/// Money; `invalid` is a negative amount (a validation error).
fn money(invalid: bool) -> impl Strategy<Value = Money> {
    let amounts = if invalid {
        vec!["-1", "-0.01"]
    } else {
        vec![
            "10.00",
            "0.10",
            "0",
            "19.990",
            "79228162514264337593543950335",
            "0.0000000000000000000000000001",
        ]
    };
    (select(amounts), select(vec![Currency::EUR, Currency::USD, Currency::GBP]))
        .prop_map(|(a, c)| Money::new(dec(a), c))
}

fn interaction_kind(invalid_money: bool) -> impl Strategy<Value = InteractionKind> {
    prop_oneof![
        3 => money(invalid_money).prop_map(|total| InteractionKind::Purchase { total, items: vec![] }),
        1 => money(invalid_money).prop_map(|total| InteractionKind::Refund { total, items: vec![] }),
        1 => select(vec!["called back", "ü ✓ \"quoted\""])
            .prop_map(|t| InteractionKind::Note { text: t.into() }),
        1 => (any::<bool>(), select(vec![0u32, 60, u32::MAX])).prop_map(|(out, secs)| {
            InteractionKind::Call {
                direction: if out { Direction::Outbound } else { Direction::Inbound },
                duration_secs: secs,
                outcome: out.then(|| "reached".to_owned()),
            }
        }),
    ]
}

fn interaction_for(
    customer: impl Strategy<Value = CustomerId>,
    invalid_money: bool,
) -> impl Strategy<Value = NewInteraction> {
    (
        customer,
        occurred_at(),
        interaction_kind(invalid_money),
        prop_oneof![2 => Just(None), 3 => select(vec!["k1", "k2", "k3", "k4"]).prop_map(Some)],
        prop_oneof![1 => Just(None), 1 => select(vec![Channel::Email, Channel::Phone]).prop_map(Some)],
        any::<bool>(),
    )
        .prop_map(|(customer, at, kind, key, channel, props)| {
            let mut i = NewInteraction::new(customer, at, kind);
            if let Some(k) = key {
                i = i.idempotency_key(k);
            }
            if let Some(c) = channel {
                i = i.channel(c);
            }
            if props {
                i = i.property("n", json!({"a": [1, 2.5, null], "s": "ü"}));
            }
            i
        })
}

/// A valid interaction for any pool customer.
fn valid_interaction() -> impl Strategy<Value = NewInteraction> {
    interaction_for(any_customer(), false)
}

/// An interaction that fails: for the customer that is never created, or with a negative
/// amount.
fn failing_interaction() -> impl Strategy<Value = NewInteraction> {
    prop_oneof![
        1 => interaction_for(Just(cid(CUSTOMER_POOL)), false),
        1 => interaction_for(any_customer(), true),
    ]
}

/// A batch for `record_all`: 2 to 5 interactions (mostly of one customer), and in about a
/// third of the batches one failing item somewhere.
fn interaction_batch() -> impl Strategy<Value = Vec<NewInteraction>> {
    (
        any_customer(),
        prop::collection::vec((valid_interaction(), prop::bool::weighted(0.8)), 2..=5),
        prop_oneof![2 => Just(None), 1 => failing_interaction().prop_map(Some)],
        any::<prop::sample::Index>(),
    )
        .prop_map(|(main, items, failing, at)| {
            let mut list: Vec<NewInteraction> = items
                .into_iter()
                .map(|(mut i, same)| {
                    if same {
                        i.customer = main;
                    }
                    i
                })
                .collect();
            if let Some(f) = failing {
                let pos = at.index(list.len() + 1);
                list.insert(pos, f);
            }
            list
        })
}

fn raw_write() -> impl Strategy<Value = RawWrite> {
    prop_oneof![
        2 => (any_customer(), name(), prop::collection::vec(identity_key(), 0..=2))
            .prop_map(|(id, name, keys)| RawWrite::Insert { id, name, keys }),
        2 => (
            any_customer(),
            name(),
            prop::collection::vec(identity_key(), 0..=2),
            prop::bool::weighted(0.3),
        )
            .prop_map(|(id, name, keys, stale)| RawWrite::Update { id, name, keys, stale }),
        3 => valid_interaction().prop_map(RawWrite::Append),
        1 => field_def().prop_map(RawWrite::Define),
        1 => (any_customer(), select(vec!["name", "tags"]))
            .prop_map(|(customer, f)| RawWrite::Audit { customer, field: f.into() }),
        3 => (
            select(RECORD_KINDS),
            record_id(),
            select(RECORD_STAGES),
            prop_oneof![1 => Just(None), 3 => (-2i64..3).prop_map(Some)],
            expected(),
        )
            .prop_map(|(kind, id, stage, amount, expected)| RawWrite::PutRecord {
                kind,
                id,
                stage,
                amount,
                expected,
            }),
        1 => (select(RECORD_KINDS), record_id(), expected())
            .prop_map(|(kind, id, expected)| RawWrite::DeleteRecord { kind, id, expected }),
    ]
}

/// The ticket type, in one of its versions: later versions add an indexed priority and a due
/// date (required in one), which the stores must refuse or accept alike.
fn object_type_def() -> impl Strategy<Value = ObjectTypeDef> {
    (0..4u8).prop_map(|version| {
        let mut def = ObjectTypeDef::new(OBJECT_TYPE)
            .field(ObjectField::new("subject", ObjectFieldType::String).required().indexed())
            .field(ObjectField::new("owner", ObjectFieldType::Customer))
            .field(ObjectField::new("labels", ObjectFieldType::StringList));
        let priority = ObjectField::new("priority", ObjectFieldType::Integer);
        def = def.field(if version >= 1 { priority.indexed() } else { priority });
        if version >= 2 {
            let due = ObjectField::new("due", ObjectFieldType::Datetime);
            def = def.field(if version == 3 { due.required() } else { due });
        }
        def
    })
}

fn object_id() -> impl Strategy<Value = String> {
    prop_oneof![10 => select(vec!["t1", "t2", "t3"]).prop_map(str::to_owned), 1 => Just("bad id".to_owned())]
}

fn object_field() -> impl Strategy<Value = (String, ObjectValue)> {
    prop_oneof![
        2 => select(vec!["printer", "login", ""]).prop_map(|s| ("subject".to_owned(), ObjectValue::String(s.into()))),
        3 => (-1i64..3).prop_map(|p| ("priority".to_owned(), ObjectValue::Integer(p))),
        1 => Just(("priority".to_owned(), ObjectValue::String("high".into()))),
        2 => any_customer().prop_map(|c| ("owner".to_owned(), ObjectValue::Customer(c))),
        1 => Just(("labels".to_owned(), ObjectValue::StringList(vec!["a;b".into(), "ü".into()]))),
        1 => (0i64..3_000_000).prop_map(|us| ("due".to_owned(), ObjectValue::Datetime(base_time() + Duration::nanoseconds(us * 1001)))),
        1 => Just(("nope".to_owned(), ObjectValue::Bool(true))),
        1 => Just(("subject".to_owned(), ObjectValue::Integer(1))),
    ]
}

fn object_op() -> impl Strategy<Value = Op> {
    prop_oneof![
        1 => object_type_def().prop_map(Op::DefineObjectType),
        3 => (
            object_id(),
            prop::option::weighted(0.85, select(vec!["printer", "login"])),
            prop::collection::vec(object_field(), 0..=2),
        )
            .prop_map(|(id, subject, fields)| {
                let mut new = NewObject::new().id(id);
                if let Some(s) = subject {
                    new = new.set("subject", ObjectValue::String(s.into()));
                }
                for (f, v) in fields {
                    new = new.set(f, v);
                }
                Op::CreateObject(new)
            }),
        3 => (object_id(), prop::collection::vec(object_field(), 0..=2), prop::collection::vec(select(vec!["priority", "subject", "due"]), 0..=1), prop_oneof![2 => Just(None), 1 => (1u64..4).prop_map(Some)])
            .prop_map(|(id, set, unset, expected)| {
                let mut u = ObjectUpdate::new();
                for (f, v) in set {
                    u = u.set(f, v);
                }
                for f in unset {
                    u = u.unset(f);
                }
                u.expected_revision = expected;
                Op::UpdateObject(id, u)
            }),
        1 => (object_id(), prop_oneof![Just(None), (1u64..4).prop_map(Some)]).prop_map(|(id, e)| Op::DeleteObject(id, e)),
    ]
}

fn record_id() -> impl Strategy<Value = &'static str> {
    select(vec!["r1", "r2", "r3"])
}

fn expected() -> impl Strategy<Value = Expected> {
    prop_oneof![
        2 => Just(Expected::Absent),
        2 => (1u64..4).prop_map(Expected::Revision),
        1 => Just(Expected::Any),
    ]
}

/// One random [`Op`].
///
/// # Examples
///
/// ```
/// use proptest::strategy::{Strategy, ValueTree};
/// let mut runner = proptest::test_runner::TestRunner::deterministic();
/// let op = crmkit_testkit::ops::op_strategy().new_tree(&mut runner).unwrap().current();
/// assert!(!format!("{op:?}").is_empty());
/// ```
pub fn op_strategy() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => new_customer().prop_map(Op::CreateCustomer),
        4 => (any_customer(), update()).prop_map(|(id, u)| Op::UpdateCustomer(id, u)),
        2 => field_def().prop_map(Op::DefineField),
        4 => prop_oneof![6 => valid_interaction(), 1 => failing_interaction()].prop_map(Op::Record),
        2 => interaction_batch().prop_map(Op::RecordAll),
        2 => prop::collection::vec(raw_write(), 1..=4).prop_map(Op::Apply),
        3 => object_op(),
    ]
}

/// Sequences of 1 to 60 [`Op`]s: usually a short prelude (a few fields declared with their
/// usual types, a few customers created) so that later ops find something to work on, then
/// random ops.
///
/// # Examples
///
/// ```
/// use proptest::strategy::{Strategy, ValueTree};
/// let mut runner = proptest::test_runner::TestRunner::deterministic();
/// let ops = crmkit_testkit::ops::ops_strategy().new_tree(&mut runner).unwrap().current();
/// assert!((1..=60).contains(&ops.len()));
/// ```
pub fn ops_strategy() -> impl Strategy<Value = Vec<Op>> {
    let define = select(FIELDS).prop_map(|(name, ty)| Op::DefineField(FieldDef::new(name, ty)));
    (
        prop::collection::vec(define, 0..=3),
        prop::collection::vec(new_customer().prop_map(Op::CreateCustomer), 0..=3),
        prop::option::weighted(0.7, object_type_def().prop_map(Op::DefineObjectType)),
        prop::collection::vec(op_strategy(), 1..=55),
    )
        .prop_map(|(fields, customers, object_type, rest)| {
            let mut ops = fields;
            ops.extend(customers);
            ops.extend(object_type);
            ops.extend(rest);
            ops
        })
}

// ---------------------------------------------------------------------------------------------
// Running
// ---------------------------------------------------------------------------------------------

fn raw_record(id: CustomerId, name: &str, keys: &[IdentityKey], at: DateTime<Utc>) -> Customer {
    let mut identities = keys.to_vec();
    identities.sort();
    identities.dedup();
    Customer {
        id,
        kind: CustomerKind::Person,
        name: name.to_owned(),
        identities,
        stage: LifecycleStage::Prospect,
        stage_history: vec![StageChange {
            from: None,
            to: LifecycleStage::Prospect,
            at,
            source: "raw".into(),
        }],
        attributes: Default::default(),
        tags: Default::default(),
        consents: Vec::new(),
        created_at: at,
        updated_at: at,
        revision: 1,
    }
}

/// Makes an [`Op::Apply`] batch concrete, reading the records to update from both stores
/// (which must agree).
fn resolve(writes: &[RawWrite], a: &dyn Store, b: &dyn Store, now: DateTime<Utc>) -> WriteBatch {
    let mut batch = WriteBatch::new();
    for (n, w) in writes.iter().enumerate() {
        let at = now + Duration::nanoseconds(n as i64 * 137 + 1);
        batch.push(match w {
            RawWrite::Insert { id, name, keys } => {
                WriteOp::InsertCustomer(raw_record(*id, name, keys, at))
            }
            RawWrite::Update { id, name, keys, stale } => {
                let in_a = a.customer(*id).expect("customer() of store a");
                let in_b = b.customer(*id).expect("customer() of store b");
                assert_eq!(in_a, in_b, "the stores disagree on customer {id} before a raw update");
                let current = in_a.unwrap_or_else(|| raw_record(*id, "ghost", &[], at));
                let mut next = current.clone();
                next.name = name.clone();
                next.identities = keys.clone();
                next.identities.sort();
                next.identities.dedup();
                next.updated_at = at;
                next.revision = current.revision + 1;
                let expected_revision = current.revision + u64::from(*stale);
                WriteOp::UpdateCustomer { customer: next, expected_revision }
            }
            RawWrite::Append(i) => WriteOp::AppendInteraction(i.clone()),
            RawWrite::Define(d) => WriteOp::DefineField(d.clone()),
            RawWrite::Audit { customer, field } => WriteOp::Audit(AuditRecord {
                customer: *customer,
                at,
                actor: "raw".into(),
                field: field.clone(),
                old: None,
                new: Some(json!(n)),
            }),
            RawWrite::PutRecord { kind, id, stage, amount, expected } => {
                let mut record = NewRecord::new(*kind, *id, json!({ "n": n, "stage": stage }))
                    .index("stage", IndexValue::Text((*stage).into()))
                    .index("touched", IndexValue::Time(at));
                if let Some(amount) = amount {
                    record = record.index("amount", IndexValue::Int(*amount));
                }
                WriteOp::PutRecord { record, expected: *expected }
            }
            RawWrite::DeleteRecord { kind, id, expected } => WriteOp::DeleteRecord {
                kind: (*kind).into(),
                id: (*id).into(),
                expected: *expected,
            },
        });
    }
    batch
}

fn run(crm: &Crm, op: &Op, raw: Option<&WriteBatch>) -> Result<OpValue> {
    match op {
        Op::CreateCustomer(new) => crm.create_customer(new.clone()).map(OpValue::Customer),
        Op::UpdateCustomer(id, u) => crm.update_customer(*id, u.clone()).map(OpValue::Customer),
        Op::DefineField(def) => crm.define_field(def.clone()).map(|()| OpValue::Unit),
        Op::Record(i) => crm.record(i.clone()).map(OpValue::Recorded),
        Op::RecordAll(list) => crm.record_all(list.clone()).map(OpValue::Batch),
        Op::Apply(_) => crm.store().apply(raw.expect("resolved batch").clone()).map(OpValue::Batch),
        Op::DefineObjectType(def) => crm.define_object_type(def.clone()).map(OpValue::ObjectType),
        Op::CreateObject(new) => crm.create_object(OBJECT_TYPE, new.clone()).map(OpValue::Object),
        Op::UpdateObject(id, u) => {
            crm.update_object(OBJECT_TYPE, id, u.clone()).map(OpValue::Object)
        }
        Op::DeleteObject(id, e) => crm.delete_object(OBJECT_TYPE, id, *e).map(OpValue::Object),
    }
}

fn assert_same_result(a: &Result<OpValue>, b: &Result<OpValue>, context: &dyn Fn() -> String) {
    match (a, b) {
        (Ok(x), Ok(y)) => {
            assert_eq!(x, y, "{}: the stores returned different values", context());
            if let (OpValue::Customer(x), OpValue::Customer(y)) = (x, y) {
                assert_eq!(
                    serde_json::to_value(x).expect("customer to JSON"),
                    serde_json::to_value(y).expect("customer to JSON"),
                    "{}: the customers differ in their exact form",
                    context()
                );
            }
        }
        (Err(x), Err(y)) => {
            assert_eq!(
                x.kind(),
                y.kind(),
                "{}: errors of different kinds: {x:?} / {y:?}",
                context()
            );
            assert_eq!(
                std::mem::discriminant(x),
                std::mem::discriminant(y),
                "{}: different errors: {x:?} / {y:?}",
                context()
            );
        }
        _ => panic!("{}: store a returned {a:?}, store b returned {b:?}", context()),
    }
}

/// Runs `ops` against both stores (each through its own [`Crm`], sharing one [`FixedClock`]
/// that moves 1 ms per op) and asserts that every op gives the same result (equal values, or
/// errors of the same [`ErrorKind`](crmkit_core::ErrorKind) and variant), that `stats()` agree
/// after every op, and at the end that everything observable is equal (see
/// [`assert_same_state`]). Returns store `a`'s results, one per op.
///
/// Both stores must be fresh and empty.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use crmkit_core::{FieldDef, FieldType, MemoryStore};
/// use crmkit_testkit::ops::{Op, assert_same_behaviour};
/// let ops = [
///     Op::DefineField(FieldDef::new("plan", FieldType::String)),
///     Op::DefineField(FieldDef::new("plan", FieldType::Bool)),
/// ];
/// let results = assert_same_behaviour(Arc::new(MemoryStore::new()), Arc::new(MemoryStore::new()), &ops);
/// assert!(results[0].is_ok() && results[1].is_err());
/// ```
pub fn assert_same_behaviour(
    a: Arc<dyn Store>,
    b: Arc<dyn Store>,
    ops: &[Op],
) -> Vec<Result<OpValue>> {
    let clock = Arc::new(FixedClock::new(base_time()));
    let crm_a = Crm::from_arc(a.clone()).with_clock(clock.clone());
    let crm_b = Crm::from_arc(b.clone()).with_clock(clock.clone());
    let mut results = Vec::with_capacity(ops.len());
    for (n, op) in ops.iter().enumerate() {
        clock.set(base_time() + Duration::milliseconds(n as i64 + 1));
        let raw = match op {
            Op::Apply(writes) => Some(resolve(writes, a.as_ref(), b.as_ref(), crm_a.now())),
            _ => None,
        };
        let ra = run(&crm_a, op, raw.as_ref());
        let rb = run(&crm_b, op, raw.as_ref());
        let context = || match &raw {
            Some(batch) => format!("op #{n} {op:?}, resolved to {batch:?}"),
            None => format!("op #{n} {op:?}"),
        };
        assert_same_result(&ra, &rb, &context);
        assert_eq!(
            a.stats().expect("stats() of store a"),
            b.stats().expect("stats() of store b"),
            "{}: stats() differ after it",
            context()
        );
        results.push(ra);
    }
    assert_same_state(a.as_ref(), b.as_ref(), &format!("after {} ops", ops.len()));
    results
}

fn pages(store: &dyn Store, query: &CustomerQuery) -> Vec<Page<Customer>> {
    let mut out = Vec::new();
    let mut q = query.clone();
    loop {
        let page = store.list_customers(&q).expect("list_customers()");
        let next = page.next;
        out.push(page);
        assert!(out.len() <= 1000, "list_customers() pages never end");
        match next {
            Some(id) => q.after = Some(id),
            None => return out,
        }
    }
}

/// Asserts that everything observable through [`Store`] is equal in `a` and `b`: the whole
/// [`Snapshot`] (stats, all customers, each customer's interactions, purchases, the full audit
/// log, the field schema), plus lookups of every pool id and identity key, interactions in a
/// few time ranges (with sub-microsecond bounds), `list_customers` pages with several filters
/// and page sizes, and audit-log pages per customer.
///
/// # Examples
///
/// ```
/// use crmkit_core::MemoryStore;
/// crmkit_testkit::ops::assert_same_state(&MemoryStore::new(), &MemoryStore::new(), "empty");
/// ```
pub fn assert_same_state(a: &dyn Store, b: &dyn Store, context: &str) {
    Snapshot::of(a).assert_same(&Snapshot::of(b), context);

    for n in 1..=CUSTOMER_POOL {
        let id = cid(n);
        assert_eq!(
            a.customer(id).expect("customer()"),
            b.customer(id).expect("customer()"),
            "{context}: customer({id})"
        );
        let t = base_time();
        for range in [
            TimeRange::new(),
            TimeRange::new().from(t).to(t + Duration::hours(1)),
            TimeRange::new().from(t + Duration::hours(1) + Duration::nanoseconds(500)),
            TimeRange::new().to(t + Duration::hours(1) + Duration::nanoseconds(500)),
            TimeRange::new().to(t),
        ] {
            assert_eq!(
                a.interactions(id, range).expect("interactions()"),
                b.interactions(id, range).expect("interactions()"),
                "{context}: interactions({id}, {range:?})"
            );
        }
        for (after, limit) in [(0, 1000), (2, 2)] {
            assert_eq!(
                a.audit_log(Some(id), after, limit).expect("audit_log()"),
                b.audit_log(Some(id), after, limit).expect("audit_log()"),
                "{context}: audit_log(Some({id}), {after}, {limit})"
            );
        }
    }
    assert_eq!(
        a.audit_log(None, 3, 4).expect("audit_log()"),
        b.audit_log(None, 3, 4).expect("audit_log()"),
        "{context}: audit_log(None, 3, 4)"
    );
    for k in key_pool() {
        assert_eq!(
            a.customer_by_key(&k).expect("customer_by_key()"),
            b.customer_by_key(&k).expect("customer_by_key()"),
            "{context}: customer_by_key({k})"
        );
        assert_eq!(
            a.customer_id_by_key(&k).expect("customer_id_by_key()"),
            b.customer_id_by_key(&k).expect("customer_id_by_key()"),
            "{context}: customer_id_by_key({k})"
        );
    }
    let queries = [
        CustomerQuery::new().limit(2),
        CustomerQuery::new().limit(0),
        CustomerQuery::new().stage(LifecycleStage::Lead).limit(1),
        CustomerQuery::new().stage(LifecycleStage::Custom("trial".into())),
        CustomerQuery::new().tag("vip").limit(2),
        CustomerQuery::new().tag("ünï"),
        CustomerQuery::new().name_contains("ADA").limit(2),
        CustomerQuery::new().name_contains("é"),
        CustomerQuery::new().name_contains("%"),
        CustomerQuery::new().name_contains("_"),
        CustomerQuery::new().stage(LifecycleStage::Prospect).name_contains("a").limit(3),
        CustomerQuery::new().after(cid(3)).limit(2),
    ];
    for q in &queries {
        assert_eq!(pages(a, q), pages(b, q), "{context}: list_customers pages for {q:?}");
    }
}

/// Runs `cases` random op sequences ([`ops_strategy`]) through [`assert_same_behaviour`], each
/// on two fresh stores from `make_a` and `make_b`; on a failure, shrinks it and panics with
/// the minimal failing sequence. `PROPTEST_CASES` and the other `PROPTEST_*` variables are
/// honoured (`cases` overrides the case count); failures are not persisted to files.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use crmkit_core::{MemoryStore, Store};
/// let memory = || -> Arc<dyn Store> { Arc::new(MemoryStore::new()) };
/// crmkit_testkit::ops::check_differential(4, memory, memory);
/// ```
pub fn check_differential(
    cases: u32,
    make_a: impl Fn() -> Arc<dyn Store>,
    make_b: impl Fn() -> Arc<dyn Store>,
) {
    let config = Config { cases, failure_persistence: None, ..Config::default() };
    check_differential_with(config, make_a, make_b);
}

/// [`check_differential`] with a proptest configuration of your own (a fixed
/// [`rng_seed`](Config::rng_seed) for a reproducible run, more shrink iterations...).
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use crmkit_core::{MemoryStore, Store};
/// use proptest::test_runner::{Config, RngSeed};
/// let memory = || -> Arc<dyn Store> { Arc::new(MemoryStore::new()) };
/// let config = Config { cases: 4, rng_seed: RngSeed::Fixed(42), failure_persistence: None, ..Config::default() };
/// crmkit_testkit::ops::check_differential_with(config, memory, memory);
/// ```
pub fn check_differential_with(
    config: Config,
    make_a: impl Fn() -> Arc<dyn Store>,
    make_b: impl Fn() -> Arc<dyn Store>,
) {
    let mut runner = TestRunner::new(config);
    let result = runner.run(&ops_strategy(), |ops| {
        assert_same_behaviour(make_a(), make_b(), &ops);
        Ok(())
    });
    if let Err(e) = result {
        panic!("the stores behave differently: {e}");
    }
}
