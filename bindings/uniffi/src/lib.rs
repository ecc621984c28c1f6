//! # crmkit-ffi
//!
//! crmkit for Kotlin (Android, the JVM) and Swift (iOS, macOS), through
//! [UniFFI](https://mozilla.github.io/uniffi-rs/) proc-macros: the CRM runs inside the app, offline,
//! on the device's own SQLite file, with the same scores as the server.
//!
//! The surface is one object, [`Crm`], opened on a database file or in memory; everything else
//! crosses by value as records and enums: [`Customer`], [`Interaction`], [`Money`] (a decimal as
//! text and a currency, never a float), [`CustomerScore`], [`ValueExplanation`], [`Segment`],
//! [`Playbook`], [`CrmTask`], [`CrmObject`] (an object of a user-defined type), [`Event`]...
//! Events also reach the app as they happen through a [`CrmListener`] it implements (registered
//! with `Crm::add_listener`, which returns the [`ListenerHandle`] that keeps it registered), and
//! durably from the outbox. Every call returns `Result<_, `[`CrmError`]`>`: Kotlin
//! `CrmException`, Swift `CrmError`, one variant per kind of failure with crmkit's readable
//! message. A panic inside crmkit is caught at the boundary and arrives as `CrmError::Internal`,
//! never as a crash of the app.
//!
//! Generated names: Kotlin package `dev.crmkit`, Swift module `CrmKit` (see `uniffi.toml`);
//! `scripts/generate-bindings.sh` builds the library and writes both. The guides are
//! `docs/kotlin.md` and `docs/swift.md`.
//!
//! The Rust API is the binding's and is exercised from Rust too:
//!
//! ```
//! use crmkit_ffi::{Crm, CustomerKind, IdentityKey, IdentityKind, InteractionKind, LifecycleStage, Money, NewCustomer, NewInteraction};
//! use std::collections::HashMap;
//!
//! let crm = Crm::open_in_memory()?;
//! let ada = crm.create_customer(NewCustomer {
//!     name: "Ada Lovelace".into(),
//!     kind: CustomerKind::Person,
//!     stage: LifecycleStage::Lead,
//!     identities: vec![IdentityKey { kind: IdentityKind::Email, value: "Ada@Example.org".into() }],
//!     tags: vec![],
//!     attributes: HashMap::new(),
//!     consents: vec![],
//!     source: "app".into(),
//!     id: None,
//! })?;
//! crm.record(NewInteraction {
//!     customer_id: ada.id.clone(),
//!     occurred_at: std::time::SystemTime::now(),
//!     kind: InteractionKind::Purchase {
//!         total: Money { amount: "49.90".into(), currency: "EUR".into() },
//!         items: vec![],
//!     },
//!     channel: None,
//!     properties_json: HashMap::new(),
//!     idempotency_key: Some("order-1".into()),
//! })?;
//! assert_eq!(crm.lookup("ada@example.org".into())?.id, ada.id);
//! assert_eq!(crm.summary(1)?.revenue[0].amount, "49.90");
//! # Ok::<(), crmkit_ffi::CrmError>(())
//! ```
#![doc(test(attr(deny(warnings))))]

mod automation;
mod convert;
mod crm;
mod customer;
mod error;
mod event;
mod import;
mod interaction;
mod objects;
mod value;

pub use automation::{
    Action, CrmTask, Membership, MembershipDiff, Playbook, PredicateCheck, Segment,
    SegmentDefinition, SegmentExplanation, SegmentKind, SegmentSize, TaskQuery, TaskStatus,
};
pub use crm::{AuditEntry, BaseSummary, Crm, CustomerRevenue};
pub use customer::{
    AttributeValue, Channel, Consent, ConsentChoice, ConsentStatus, Customer, CustomerChange,
    CustomerKind, CustomerPage, CustomerQuery, FieldDef, FieldType, IdentityKey, IdentityKind,
    LifecycleStage, NewCustomer, StageChange,
};
pub use error::{CrmError, CrmResult};
pub use event::{CrmListener, Event, EventPayload, ListenerError, ListenerHandle, ScoreBrief};
pub use import::{
    CustomerMapping, ImportListener, ImportOptions, ImportProgress, ImportReport, ImportSource,
    InputFormat, InteractionMapping,
};
pub use interaction::{Direction, Interaction, InteractionKind, LineItem, Money, NewInteraction};
pub use objects::{
    CrmObject, ObjectChange, ObjectChangeKind, ObjectCursor, ObjectFieldChange, ObjectFieldSpec,
    ObjectFieldType, ObjectPage, ObjectQuery, ObjectTypeInfo, ObjectValue,
};
pub use value::{
    CustomerScore, FitSummary, HoldoutCheck, HoldoutMetrics, ModelParameter, PurchaseModel,
    RfmScores, ValueExplanation, ValueFit, ValueModel, ValueOptions,
};

/// The version of crmkit in this library (to check that the generated bindings and the native
/// library come from the same build).
#[uniffi::export]
pub fn crmkit_version() -> String {
    env!("CARGO_PKG_VERSION").to_owned()
}

/// Panics inside crmkit on purpose, so that an app's own tests can check that a Rust panic
/// arrives as `CrmError.Internal` (Kotlin `CrmException.Internal`) and does not take the app down.
/// It always returns that error; a library built with `panic = "abort"` would abort instead,
/// which is what such a test is there to catch.
#[uniffi::export]
#[allow(clippy::panic)] // the point of the function
pub fn panic_for_testing(message: String) -> CrmResult<()> {
    error::guard(|| panic!("{message}"))
}

// The namespace names the generated files: Kotlin `dev/crmkit/crmkit.kt`, Swift `crmkit.swift`.
uniffi::setup_scaffolding!("crmkit");
