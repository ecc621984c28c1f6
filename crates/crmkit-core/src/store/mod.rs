//! The storage contract: concern traits gathered in one object-safe [`Store`], atomic
//! [`WriteBatch`]es whose rules live once in [`apply_batch`], the generic record layer
//! ([`Record`]), and the conveniences of [`StoreExt`]. [`MemoryStore`] is the reference
//! implementation.
//!
//! Every backend must behave exactly like [`MemoryStore`]; `crmkit-testkit` holds the conformance
//! suite and the differential property test that check it.

mod audit;
mod batch;
mod columns;
mod contract;
mod memory;
mod query;
mod record;
mod rules;
mod value;

pub use audit::{AuditEntry, AuditRecord};
pub use batch::{BatchOutcome, WriteBatch, WriteOp};
pub use columns::PurchaseColumns;
pub use contract::{
    AutomationStore, CustomerStore, OutboxStore, RecordStore, Store, StoreExt, StoreStats,
    ValueStore, WriteWork,
};
pub use memory::MemoryStore;
pub use query::{CustomerQuery, Page, TimeRange};
pub use record::{
    Expected, IndexRange, IndexValue, MAX_RECORD_NAME, NewRecord, Record, RecordCursor,
    RecordQuery, RecordType,
};
pub use rules::{BatchView, BatchWriter, apply_batch, check_model_version, interaction_event};
pub use value::{CustomerScore, ModelRecord};

/// The store traits, for calling store methods on a concrete store (`MemoryStore`,
/// `SqliteStore`): `use crmkit_core::prelude::*;`.
///
/// # Examples
///
/// ```
/// use crmkit_core::prelude::*;
/// assert_eq!(crmkit_core::MemoryStore::new().stats()?.customers, 0);
/// # Ok::<(), crmkit_core::Error>(())
/// ```
pub mod prelude {
    pub use super::{
        AutomationStore, CustomerStore, OutboxStore, RecordStore, Store, StoreExt, ValueStore,
    };
}
