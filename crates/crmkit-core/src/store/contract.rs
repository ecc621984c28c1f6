//! The storage contract by concern, the one [`Store`] handle over all of them, and the
//! conveniences of [`StoreExt`].

use chrono::{DateTime, Utc};

use super::{
    AuditEntry, BatchOutcome, CustomerQuery, CustomerScore, ModelRecord, Page, PurchaseColumns,
    Record, RecordCursor, RecordQuery, RecordType, TimeRange, WriteBatch,
};
use crate::automation::{Event, Membership, Playbook, Segment, Task, TaskQuery};
use crate::customer::{Customer, FieldDef};
use crate::error::{Error, Result};
use crate::identity::IdentityKey;
use crate::ids::{CustomerId, InteractionId, TaskId};
use crate::interaction::Interaction;

/// Counts a store can give cheaply.
///
/// # Examples
///
/// ```
/// let s = crmkit_core::Crm::in_memory().store().stats()?;
/// assert_eq!((s.customers, s.interactions), (0, 0));
/// # Ok::<(), crmkit_core::Error>(())
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StoreStats {
    /// Number of customers.
    pub customers: u64,
    /// Number of interactions of all kinds.
    pub interactions: u64,
}

/// The work [`Store::write`] runs as the only writer: reads, then the batch to apply.
pub type WriteWork<'a> = Box<dyn FnOnce() -> Result<WriteBatch> + 'a>;

/// Customers, their interactions, the audit log and the custom-field schema.
///
/// One concern of the storage contract; [`Store`] is all of them.
pub trait CustomerStore {
    /// A customer by id.
    fn customer(&self, id: CustomerId) -> Result<Option<Customer>>;

    /// The customer holding an identity key.
    fn customer_by_key(&self, key: &IdentityKey) -> Result<Option<Customer>>;

    /// The id of the customer holding an identity key. Backends override it when they can
    /// answer without reading the whole record (imports call it once per new key).
    fn customer_id_by_key(&self, key: &IdentityKey) -> Result<Option<CustomerId>> {
        Ok(self.customer_by_key(key)?.map(|c| c.id))
    }

    /// Customers matching `query`, ordered by id, one page.
    fn list_customers(&self, query: &CustomerQuery) -> Result<Page<Customer>>;

    /// A customer's interactions in `range`, ordered by time then id (an unknown customer has none).
    fn interactions(&self, customer: CustomerId, range: TimeRange) -> Result<Vec<Interaction>>;

    /// Interactions with an id greater than `after`, in id order, at most `limit` (for
    /// evaluating rules over the whole base).
    fn interactions_after(&self, after: InteractionId, limit: usize) -> Result<Vec<Interaction>>;

    /// Whether an interaction with this idempotency key is stored.
    fn idempotency_key_exists(&self, key: &str) -> Result<bool>;

    /// Every purchase, as columns (see [`PurchaseColumns`]).
    fn scan_purchases(&self) -> Result<PurchaseColumns>;

    /// Audit entries with `seq > after`, oldest first, at most `limit`; only one customer's if given.
    fn audit_log(
        &self,
        customer: Option<CustomerId>,
        after: u64,
        limit: usize,
    ) -> Result<Vec<AuditEntry>>;

    /// The declared custom fields, by name.
    fn field_schema(&self) -> Result<Vec<FieldDef>>;

    /// Counts.
    fn stats(&self) -> Result<StoreStats>;
}

/// Customer value: fitted model versions and each customer's latest scores.
///
/// One concern of the storage contract; [`Store`] is all of them.
pub trait ValueStore {
    /// A stored model version; `None` for the latest.
    fn model(&self, version: Option<u64>) -> Result<Option<ModelRecord>>;

    /// A customer's latest scores.
    fn score(&self, customer: CustomerId) -> Result<Option<CustomerScore>>;

    /// Every customer's latest scores, ordered by customer id.
    fn all_scores(&self) -> Result<Vec<CustomerScore>>;
}

/// Automation: segments and their membership rows, playbooks and the tasks they create.
///
/// One concern of the storage contract; [`Store`] is all of them.
pub trait AutomationStore {
    /// Every segment, by name.
    fn segments(&self) -> Result<Vec<Segment>>;

    /// Every playbook, by name.
    fn playbooks(&self) -> Result<Vec<Playbook>>;

    /// A counter that every change of segments or playbooks increases (engines cache the
    /// definitions and reload them when it moves).
    fn automation_revision(&self) -> Result<u64>;

    /// A customer's stored membership rows, by segment name.
    fn memberships(&self, customer: CustomerId) -> Result<Vec<Membership>>;

    /// A segment's stored rows (members and scheduled non-members), ordered by customer id,
    /// starting after `after`.
    fn segment_rows(
        &self,
        segment: &str,
        after: Option<CustomerId>,
        limit: usize,
    ) -> Result<Vec<Membership>>;

    /// Each segment's number of members, by segment name (segments without members omitted).
    fn segment_sizes(&self) -> Result<Vec<(String, u64)>>;

    /// Rows whose `next_check` is at or before `until`, ordered by (next_check, segment,
    /// customer), at most `limit`.
    fn due_checks(&self, until: DateTime<Utc>, limit: usize) -> Result<Vec<Membership>>;

    /// Tasks matching the query, ordered by due date then id.
    fn tasks(&self, query: &TaskQuery) -> Result<Vec<Task>>;

    /// A task by id.
    fn task(&self, id: TaskId) -> Result<Option<Task>>;
}

/// The outbox: events in commit order and each consumer's cursor.
///
/// One concern of the storage contract; [`Store`] is all of them.
pub trait OutboxStore {
    /// Events with `seq > after`, oldest first, at most `limit`.
    fn events(&self, after: u64, limit: usize) -> Result<Vec<Event>>;

    /// The last event a consumer acknowledged (0 for a new consumer).
    fn consumer_cursor(&self, consumer: &str) -> Result<u64>;
}

/// The generic record layer: domain entities by kind and id, with the index keys their domain
/// declares (see [`Record`]). Written with [`WriteOp::PutRecord`](super::WriteOp::PutRecord) and [`WriteOp::DeleteRecord`](super::WriteOp::DeleteRecord).
///
/// One concern of the storage contract; [`Store`] is all of them.
pub trait RecordStore {
    /// A record by kind and id.
    fn record(&self, kind: &str, id: &str) -> Result<Option<Record>>;

    /// One page of a kind's records: all of them ordered by id, or those whose index value lies
    /// in the query's range, ordered by (value, id). `next` is set when more may follow.
    fn records(&self, query: &RecordQuery) -> Result<Page<Record, RecordCursor>>;
}

/// A CRM's storage: small, object-safe, `Send + Sync` and synchronous.
///
/// The contract is split by concern ([`CustomerStore`], [`ValueStore`], [`AutomationStore`],
/// [`OutboxStore`], [`RecordStore`]); `Store` is all of them plus the one way to write. Backends
/// implement the reads and a [`BatchWriter`](super::BatchWriter) of storage primitives; the rules
/// of a batch are [`apply_batch`](super::apply_batch), the same for every backend.
///
/// Implementations must behave exactly like [`MemoryStore`](super::MemoryStore) (the `crmkit-testkit` conformance
/// suite checks it). Conveniences built on these methods are in [`StoreExt`].
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use crmkit_core::{MemoryStore, Store};
/// let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
/// assert_eq!(store.stats()?.customers, 0);
/// # Ok::<(), crmkit_core::Error>(())
/// ```
pub trait Store:
    CustomerStore + ValueStore + AutomationStore + OutboxStore + RecordStore + Send + Sync
{
    /// Runs `work` as the only writer of the store and applies the batch it returns atomically.
    ///
    /// This is how writes that are derived from reads stay correct with many writers (other
    /// threads, other `Crm` handles, other processes on the same file or database): while `work`
    /// runs, no other writer can commit, so everything `work` reads through this store is the
    /// latest committed state, and nothing changes it before the batch lands. `work` reads
    /// through the ordinary read methods; it must not write (no nested `write` or `apply`).
    /// When `work` fails, nothing is written and its error is returned.
    ///
    /// Contract for every backend: writers are serialised for the whole call (a mutex, SQLite's
    /// `BEGIN IMMEDIATE`, a database lock); outbox sequence numbers and interaction ids are
    /// assigned in commit order without gaps, so a reader that has seen `seq` never later finds
    /// a smaller one.
    ///
    /// # Examples
    ///
    /// ```
    /// use crmkit_core::{MemoryStore, WriteBatch, WriteOp, FieldDef, FieldType, prelude::*};
    /// let store = MemoryStore::new();
    /// // Define a field only if none exists yet: the read and the write are one step.
    /// store.write(Box::new(|| {
    ///     let mut batch = WriteBatch::new();
    ///     if store.field_schema()?.is_empty() {
    ///         batch.push(WriteOp::DefineField(FieldDef::new("plan", FieldType::String)));
    ///     }
    ///     Ok(batch)
    /// }))?;
    /// assert_eq!(store.field_schema()?.len(), 1);
    /// # Ok::<(), crmkit_core::Error>(())
    /// ```
    fn write(&self, work: WriteWork<'_>) -> Result<BatchOutcome>;

    /// Applies all writes atomically: either every write lands or none does.
    fn apply(&self, batch: WriteBatch) -> Result<BatchOutcome> {
        self.write(Box::new(move || Ok(batch)))
    }
}

/// Conveniences for every [`Store`].
///
/// # Examples
///
/// ```
/// use crmkit_core::{Crm, NewCustomer, StoreExt};
/// let crm = Crm::in_memory();
/// crm.create_customer(NewCustomer::person("A"))?;
/// crm.create_customer(NewCustomer::person("B"))?;
/// assert_eq!(crm.store().all_customers()?.len(), 2);
/// # Ok::<(), crmkit_core::Error>(())
/// ```
pub trait StoreExt: Store {
    /// A customer by id, or [`Error::NotFound`].
    ///
    /// # Examples
    ///
    /// ```
    /// use crmkit_core::{MemoryStore, StoreExt, CustomerId, ErrorKind};
    /// let err = MemoryStore::new().require_customer(CustomerId::new()).unwrap_err();
    /// assert_eq!(err.kind(), ErrorKind::NotFound);
    /// ```
    fn require_customer(&self, id: CustomerId) -> Result<Customer> {
        self.customer(id)?
            .ok_or_else(|| Error::NotFound { entity: "customer", key: id.to_string() })
    }

    /// Every customer, ordered by id, read page by page.
    ///
    /// # Examples
    ///
    /// ```
    /// use crmkit_core::{MemoryStore, StoreExt};
    /// assert!(MemoryStore::new().all_customers()?.is_empty());
    /// # Ok::<(), crmkit_core::Error>(())
    /// ```
    fn all_customers(&self) -> Result<Vec<Customer>> {
        let mut out = Vec::new();
        let mut query = CustomerQuery::new().limit(1000);
        loop {
            let page = self.list_customers(&query)?;
            out.extend(page.items);
            match page.next {
                Some(next) => query.after = Some(next),
                None => return Ok(out),
            }
        }
    }

    /// The whole audit log, oldest first.
    ///
    /// # Examples
    ///
    /// ```
    /// use crmkit_core::{MemoryStore, StoreExt};
    /// assert!(MemoryStore::new().full_audit_log()?.is_empty());
    /// # Ok::<(), crmkit_core::Error>(())
    /// ```
    fn full_audit_log(&self) -> Result<Vec<AuditEntry>> {
        let mut out: Vec<AuditEntry> = Vec::new();
        loop {
            let after = out.last().map_or(0, |e| e.seq);
            let chunk = self.audit_log(None, after, 1000)?;
            if chunk.is_empty() {
                return Ok(out);
            }
            out.extend(chunk);
        }
    }

    /// A domain record decoded as its type, with its revision.
    ///
    /// # Examples
    ///
    /// ```
    /// use crmkit_core::{MemoryStore, Store, StoreExt, WriteOp, NewRecord, Expected, RecordType, IndexValue};
    /// #[derive(serde::Serialize, serde::Deserialize, PartialEq, Debug)]
    /// struct Note { id: String, text: String }
    /// impl RecordType for Note {
    ///     const KIND: &'static str = "note";
    ///     fn id(&self) -> String { self.id.clone() }
    ///     fn index(&self) -> Vec<(String, IndexValue)> { Vec::new() }
    /// }
    /// let store = MemoryStore::new();
    /// let note = Note { id: "n1".into(), text: "hi".into() };
    /// store.apply(vec![WriteOp::PutRecord { record: NewRecord::of(&note)?, expected: Expected::Absent }].into())?;
    /// assert_eq!(store.typed_record::<Note>("n1")?, Some((note, 1)));
    /// # Ok::<(), crmkit_core::Error>(())
    /// ```
    fn typed_record<T: RecordType>(&self, id: &str) -> Result<Option<(T, u64)>> {
        match self.record(T::KIND, id)? {
            Some(r) => Ok(Some((r.decode()?, r.revision))),
            None => Ok(None),
        }
    }

    /// Every record a query matches, in its order, read page by page (the query's own page size
    /// and cursor are the start).
    ///
    /// # Examples
    ///
    /// ```
    /// use crmkit_core::{MemoryStore, StoreExt, RecordQuery};
    /// assert!(MemoryStore::new().all_records(RecordQuery::kind("deal"))?.is_empty());
    /// # Ok::<(), crmkit_core::Error>(())
    /// ```
    fn all_records(&self, mut query: RecordQuery) -> Result<Vec<Record>> {
        let mut out = Vec::new();
        loop {
            let page = self.records(&query)?;
            out.extend(page.items);
            match page.next {
                Some(next) => query.after = Some(next),
                None => return Ok(out),
            }
        }
    }
}

impl<S: Store + ?Sized> StoreExt for S {}
