//! # crmkit-core
//!
//! The domain of crmkit, in pure Rust: customers and prospects ([`Customer`]), the append-only log
//! of everything that happened with them ([`Interaction`]), exact [`Money`], the storage contract
//! ([`Store`], with [`MemoryStore`] as the reference), the [`Crm`] engine applications talk to, and
//! streaming [`import`].
//!
//! Most applications depend on the `crmkit` facade instead, which adds the SQLite store.
//!
//! ```
//! use crmkit_core::{Crm, NewCustomer, NewInteraction, Money};
//!
//! let crm = Crm::in_memory();
//! let ada = crm.create_customer(NewCustomer::person("Ada Lovelace").email("ada@example.org"))?;
//! crm.record(NewInteraction::purchase(ada.id, "2024-05-01T09:30:00Z".parse()?, Money::parse("49.90", "EUR")?))?;
//! let summary = crm.summary(10)?;
//! assert_eq!(summary.revenue[0].to_string(), "49.90 EUR");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![doc(test(attr(deny(warnings))))]

pub mod automation;
mod crm;
pub mod customer;
pub mod error;
pub mod identity;
pub mod ids;
pub mod import;
pub mod interaction;
pub mod money;
pub mod objects;
pub mod rules;
pub mod store;
pub mod time;
pub mod valuation;

pub use crm::{BaseSummary, Crm, CustomerRevenue, CustomerUpdate, NewCustomer};
/// The statistics crate, re-exported: models, RFM, summaries on plain columns.
pub use crmkit_clv as clv;
pub use customer::{
    AttributeValue, Channel, Consent, ConsentStatus, Customer, CustomerKind, FieldDef, FieldType,
    LifecycleStage, StageChange,
};
pub use error::{BoxError, Error, ErrorKind, ImportError, Location, Result};
pub use identity::{IdentityKey, IdentityKind};
pub use ids::{CustomerId, InteractionId, TaskId};
pub use import::{
    CustomerField, CustomerMapping, ImportOptions, ImportProgress, ImportReport, InputFormat,
    InteractionField, InteractionMapping,
};
pub use interaction::{
    Direction, Interaction, InteractionKind, LineItem, NewInteraction, Properties,
};
pub use money::{Currency, Money};
pub use store::{
    AuditEntry, AuditRecord, AutomationStore, BatchOutcome, CustomerQuery, CustomerScore,
    CustomerStore, Expected, IndexRange, IndexValue, MemoryStore, ModelRecord, NewRecord,
    OutboxStore, Page, PurchaseColumns, Record, RecordCursor, RecordQuery, RecordStore, RecordType,
    Store, StoreExt, StoreStats, TimeRange, ValueStore, WriteBatch, WriteOp, WriteWork, prelude,
};
pub use time::{Clock, FixedClock, SystemClock};
pub use valuation::{
    FittedPurchaseModel, PurchaseModelKind, ValueExplanation, ValueModels, ValueOptions,
    ValueReport,
};
