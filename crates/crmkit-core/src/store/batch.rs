//! Writes: the operations of a [`WriteBatch`], applied atomically, and what applying did.

use super::{AuditRecord, CustomerScore, Expected, ModelRecord, NewRecord};
use crate::automation::{Membership, NewEvent, Playbook, Segment, Task};
use crate::customer::{Customer, FieldDef};
use crate::ids::InteractionId;
use crate::interaction::NewInteraction;
#[cfg(doc)]
use crate::{Error, Store};

/// One write in a [`WriteBatch`].
///
/// The store enforces, for the whole batch at once, and fails the batch (writing nothing) when:
/// - `InsertCustomer`: the id exists ([`Error::AlreadyExists`]) or an identity key is held by
///   another customer ([`Error::DuplicateIdentityKey`]);
/// - `UpdateCustomer`: the customer does not exist ([`Error::NotFound`]), its stored revision is not
///   `expected_revision` ([`Error::StaleRevision`]), or a new key is held by another customer;
/// - `AppendInteraction`: the customer does not exist (inserted earlier in the same batch counts);
///   an interaction whose idempotency key is already stored (or earlier in the batch) is skipped,
///   not an error;
/// - `DefineField`: the field exists with another type ([`Error::FieldTypeConflict`]); the same
///   definition again is a no-op;
/// - `Audit`: the customer does not exist.
/// - `SaveModel`: its version is not the latest stored version + 1 ([`Error::AlreadyExists`] when
///   taken, [`Error::Validation`] when it skips versions; see [`check_model_version`](super::check_model_version));
/// - `SaveScores`: a customer does not exist, or the model version is not stored. A customer's
///   scores replace their previous ones.
/// - `SetMembership`: the segment or the customer does not exist. A row that is neither a member
///   nor scheduled ([`Membership::is_stored`]) deletes the stored row.
/// - `Ack`: `seq` is beyond the last event. A cursor never moves back (a lower `seq` is a no-op).
/// - `PutTask`: the customer does not exist.
/// - `PutRecord`: the record is not as `expected` ([`Error::RecordConflict`]), or its kind, id or
///   index names are empty, too long or (index names) repeated. The stored revision is the
///   previous one + 1 (1 for a new record); its index keys replace the previous ones.
/// - `DeleteRecord`: the record does not exist ([`Error::NotFound`]) or is not as `expected`.
///
/// Every written `AppendInteraction` also appends an [`EventPayload::InteractionRecorded`](crate::automation::EventPayload::InteractionRecorded) event
/// to the outbox (a skipped duplicate appends none): the store assigns interaction ids, so only
/// it can say which interaction an event is about.
#[derive(Debug, Clone, PartialEq)]
pub enum WriteOp {
    /// Create a customer.
    InsertCustomer(Customer),
    /// Replace a customer (the whole record).
    UpdateCustomer {
        /// The new record (its `revision` is stored as given).
        customer: Customer,
        /// The revision the writer read.
        expected_revision: u64,
    },
    /// Append an interaction.
    AppendInteraction(NewInteraction),
    /// Declare a custom field.
    DefineField(FieldDef),
    /// Append an audit-log entry.
    Audit(AuditRecord),
    /// Store a newly fitted model version.
    SaveModel(ModelRecord),
    /// Store customers' scores (replacing their previous scores).
    SaveScores(Vec<CustomerScore>),
    /// Define or replace a segment (by name).
    SaveSegment(Segment),
    /// Delete a segment and its membership rows.
    DeleteSegment(String),
    /// Store one membership row (or delete it, see above).
    SetMembership(Membership),
    /// Define or replace a playbook (by name).
    SavePlaybook(Playbook),
    /// Delete a playbook.
    DeletePlaybook(String),
    /// Append an event to the outbox.
    Emit(NewEvent),
    /// Move a consumer's cursor forward to `seq`.
    Ack {
        /// The consumer's name.
        consumer: String,
        /// The last event it has handled.
        seq: u64,
    },
    /// Insert or replace a task.
    PutTask(Task),
    /// Create or replace a record of the record layer.
    PutRecord {
        /// The record (the store assigns its revision).
        record: NewRecord,
        /// What the writer expects to replace.
        expected: Expected,
    },
    /// Delete a record of the record layer and its index keys.
    DeleteRecord {
        /// The record's kind.
        kind: String,
        /// Its id.
        id: String,
        /// What the writer expects to delete ([`Expected::Absent`] is refused).
        expected: Expected,
    },
}

/// Writes applied atomically by [`Store::apply`]: all of them or none.
///
/// # Examples
///
/// ```
/// use crmkit_core::{MemoryStore, WriteBatch, WriteOp, FieldDef, FieldType, prelude::*};
/// let store = MemoryStore::new();
/// let mut batch = WriteBatch::new();
/// batch.push(WriteOp::DefineField(FieldDef::new("plan", FieldType::String)));
/// store.apply(batch)?;
/// assert_eq!(store.field_schema()?.len(), 1);
/// # Ok::<(), crmkit_core::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WriteBatch {
    /// The writes, applied in order.
    pub ops: Vec<WriteOp>,
}

impl WriteBatch {
    /// An empty batch.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(crmkit_core::WriteBatch::new().is_empty());
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a write.
    ///
    /// # Examples
    ///
    /// ```
    /// use crmkit_core::{WriteBatch, WriteOp, FieldDef, FieldType};
    /// let mut b = WriteBatch::new();
    /// b.push(WriteOp::DefineField(FieldDef::new("x", FieldType::Bool)));
    /// assert_eq!(b.len(), 1);
    /// ```
    pub fn push(&mut self, op: WriteOp) {
        self.ops.push(op);
    }

    /// Number of writes.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(crmkit_core::WriteBatch::new().len(), 0);
    /// ```
    pub fn len(&self) -> usize {
        self.ops.len()
    }

    /// Whether the batch has no writes.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(crmkit_core::WriteBatch::default().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }
}

impl From<Vec<WriteOp>> for WriteBatch {
    /// A batch of these writes, in order.
    ///
    /// # Examples
    ///
    /// ```
    /// use crmkit_core::{WriteBatch, WriteOp, FieldDef, FieldType};
    /// let b: WriteBatch = vec![WriteOp::DefineField(FieldDef::new("x", FieldType::Bool))].into();
    /// assert_eq!(b.len(), 1);
    /// ```
    fn from(ops: Vec<WriteOp>) -> Self {
        WriteBatch { ops }
    }
}

/// What [`Store::apply`] did.
///
/// # Examples
///
/// ```
/// let outcome = crmkit_core::BatchOutcome::default();
/// assert_eq!(outcome.written(), 0);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BatchOutcome {
    /// One entry per `AppendInteraction`, in order: the new id, or `None` when it was skipped as a
    /// duplicate of an idempotency key.
    pub appended: Vec<Option<InteractionId>>,
    /// How many events the batch appended to the outbox.
    pub events: u64,
    /// The sequence number of the last of them (0 when none).
    pub last_event: u64,
    /// One entry per `PutRecord`, in order: the revision the record was stored with.
    pub record_revisions: Vec<u64>,
}

impl BatchOutcome {
    /// How many interactions were written.
    ///
    /// # Examples
    ///
    /// ```
    /// let o = crmkit_core::BatchOutcome { appended: vec![Some(crmkit_core::InteractionId(1)), None], ..Default::default() };
    /// assert_eq!((o.written(), o.skipped()), (1, 1));
    /// ```
    pub fn written(&self) -> usize {
        self.appended.iter().filter(|a| a.is_some()).count()
    }

    /// How many interactions were skipped as duplicates.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(crmkit_core::BatchOutcome::default().skipped(), 0);
    /// ```
    pub fn skipped(&self) -> usize {
        self.appended.len() - self.written()
    }
}
