//! The storage contract: a small, object-safe [`Store`] trait, atomic [`WriteBatch`]es, and the
//! conveniences of [`StoreExt`]. [`MemoryStore`] is the reference implementation.
//!
//! Every backend must behave exactly like [`MemoryStore`]; `crmkit-testkit` holds the conformance
//! suite and the differential property test that check it.

mod memory;
mod value;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

pub use memory::MemoryStore;
pub use value::{CustomerScore, ModelRecord};

use crate::automation::{
    Event, EventPayload, Membership, NewEvent, Playbook, Segment, Task, TaskQuery,
};
use crate::customer::{Customer, FieldDef, LifecycleStage};
use crate::error::{Error, Result};
use crate::identity::IdentityKey;
use crate::ids::{CustomerId, InteractionId, TaskId};
use crate::interaction::{Interaction, NewInteraction};
use crate::money::Currency;

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
///   taken, [`Error::Validation`] when it skips versions; see [`check_model_version`]);
/// - `SaveScores`: a customer does not exist, or the model version is not stored. A customer's
///   scores replace their previous ones.
/// - `SetMembership`: the segment or the customer does not exist. A row that is neither a member
///   nor scheduled ([`Membership::is_stored`]) deletes the stored row.
/// - `Ack`: `seq` is beyond the last event. A cursor never moves back (a lower `seq` is a no-op).
/// - `PutTask`: the customer does not exist.
///
/// Every written `AppendInteraction` also appends an [`EventPayload::InteractionRecorded`] event
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
}

/// Writes applied atomically by [`Store::apply`]: all of them or none.
///
/// # Examples
///
/// ```
/// use crmkit_core::{MemoryStore, Store, WriteBatch, WriteOp, FieldDef, FieldType};
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

/// A filter and a page position for [`Store::list_customers`]. Results are ordered by id.
///
/// # Examples
///
/// ```
/// use crmkit_core::{CustomerQuery, LifecycleStage};
/// let q = CustomerQuery::new().stage(LifecycleStage::Lead).tag("vip").limit(50);
/// assert_eq!(q.limit, 50);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomerQuery {
    /// Only customers in this stage.
    pub stage: Option<LifecycleStage>,
    /// Only customers with this tag.
    pub tag: Option<String>,
    /// Only customers whose name contains this text (case-insensitive).
    pub name_contains: Option<String>,
    /// Start after this id (the previous page's [`Page::next`]).
    pub after: Option<CustomerId>,
    /// At most this many (at least 1; default 100).
    pub limit: usize,
}

impl Default for CustomerQuery {
    fn default() -> Self {
        CustomerQuery { stage: None, tag: None, name_contains: None, after: None, limit: 100 }
    }
}

impl CustomerQuery {
    /// Everyone, first page of 100.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(crmkit_core::CustomerQuery::new().limit, 100);
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// Only this stage.
    ///
    /// # Examples
    ///
    /// ```
    /// let q = crmkit_core::CustomerQuery::new().stage(crmkit_core::LifecycleStage::Customer);
    /// assert!(q.stage.is_some());
    /// ```
    pub fn stage(mut self, stage: LifecycleStage) -> Self {
        self.stage = Some(stage);
        self
    }

    /// Only this tag.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(crmkit_core::CustomerQuery::new().tag("vip").tag.as_deref(), Some("vip"));
    /// ```
    pub fn tag(mut self, tag: impl Into<String>) -> Self {
        self.tag = Some(tag.into());
        self
    }

    /// Only names containing this text.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(crmkit_core::CustomerQuery::new().name_contains("ada").name_contains.is_some());
    /// ```
    pub fn name_contains(mut self, text: impl Into<String>) -> Self {
        self.name_contains = Some(text.into());
        self
    }

    /// Continue after this id.
    ///
    /// # Examples
    ///
    /// ```
    /// let id = crmkit_core::CustomerId::new();
    /// assert_eq!(crmkit_core::CustomerQuery::new().after(id).after, Some(id));
    /// ```
    pub fn after(mut self, id: CustomerId) -> Self {
        self.after = Some(id);
        self
    }

    /// Page size (clamped to at least 1).
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(crmkit_core::CustomerQuery::new().limit(0).limit, 1);
    /// ```
    pub fn limit(mut self, limit: usize) -> Self {
        self.limit = limit.max(1);
        self
    }

    /// Whether a customer passes the filters (not the page position). Backends may use it.
    ///
    /// # Examples
    ///
    /// ```
    /// use crmkit_core::{Crm, NewCustomer, CustomerQuery};
    /// let crm = Crm::in_memory();
    /// let c = crm.create_customer(NewCustomer::person("Ada Lovelace"))?;
    /// assert!(CustomerQuery::new().name_contains("LOVE").matches(&c));
    /// # Ok::<(), crmkit_core::Error>(())
    /// ```
    pub fn matches(&self, c: &Customer) -> bool {
        self.stage.as_ref().is_none_or(|s| &c.stage == s)
            && self.tag.as_ref().is_none_or(|t| c.tags.contains(t))
            && self
                .name_contains
                .as_ref()
                .is_none_or(|n| c.name.to_lowercase().contains(&n.to_lowercase()))
    }
}

/// A page of results and where the next one starts.
///
/// # Examples
///
/// ```
/// let crm = crmkit_core::Crm::in_memory();
/// let page = crm.list_customers(&crmkit_core::CustomerQuery::new())?;
/// assert!(page.items.is_empty() && page.next.is_none());
/// # Ok::<(), crmkit_core::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    /// The items.
    pub items: Vec<T>,
    /// Pass to [`CustomerQuery::after`] for the next page; `None` on the last page.
    pub next: Option<CustomerId>,
}

/// A half-open time range `[from, to)`; either end may be open.
///
/// # Examples
///
/// ```
/// use crmkit_core::TimeRange;
/// let r = TimeRange::new().from("2024-01-01T00:00:00Z".parse()?);
/// assert!(r.contains("2024-06-01T00:00:00Z".parse()?));
/// assert!(!r.contains("2023-06-01T00:00:00Z".parse()?));
/// # Ok::<(), chrono::ParseError>(())
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TimeRange {
    /// Inclusive start.
    pub from: Option<DateTime<Utc>>,
    /// Exclusive end.
    pub to: Option<DateTime<Utc>>,
}

impl TimeRange {
    /// All time.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(crmkit_core::TimeRange::new().contains(chrono::Utc::now()));
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the inclusive start.
    ///
    /// # Examples
    ///
    /// ```
    /// let r = crmkit_core::TimeRange::new().from(chrono::DateTime::UNIX_EPOCH);
    /// assert!(r.from.is_some());
    /// ```
    pub fn from(mut self, at: DateTime<Utc>) -> Self {
        self.from = Some(at);
        self
    }

    /// Sets the exclusive end.
    ///
    /// # Examples
    ///
    /// ```
    /// let r = crmkit_core::TimeRange::new().to(chrono::DateTime::UNIX_EPOCH);
    /// assert!(!r.contains(chrono::DateTime::UNIX_EPOCH));
    /// ```
    pub fn to(mut self, at: DateTime<Utc>) -> Self {
        self.to = Some(at);
        self
    }

    /// Whether `at` is inside.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(crmkit_core::TimeRange::default().contains(chrono::DateTime::UNIX_EPOCH));
    /// ```
    pub fn contains(&self, at: DateTime<Utc>) -> bool {
        self.from.is_none_or(|f| at >= f) && self.to.is_none_or(|t| at < t)
    }
}

/// All purchases, as columns, for analytics (see `crmkit-clv`).
///
/// Row `i` is a purchase by `customers[customer_index[i]]` at `occurred_at_micros[i]` of
/// `amount[i]` in `currencies[currency_index[i]]`. Rows are in store order (by interaction id);
/// customers are numbered in order of their first purchase. Refunds are not included.
///
/// # Examples
///
/// ```
/// use crmkit_core::{Crm, NewCustomer, NewInteraction, Money};
/// let crm = Crm::in_memory();
/// let c = crm.create_customer(NewCustomer::person("Bo"))?;
/// crm.record(NewInteraction::purchase(c.id, chrono::Utc::now(), Money::parse("5", "USD")?))?;
/// let cols = crm.store().scan_purchases()?;
/// assert_eq!((cols.len(), cols.customers.len()), (1, 1));
/// assert_eq!(cols.amount_f64(), vec![5.0]);
/// # Ok::<(), crmkit_core::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PurchaseColumns {
    /// Customer of each index.
    pub customers: Vec<CustomerId>,
    /// Currency of each index.
    pub currencies: Vec<Currency>,
    /// Per row: index into `customers`.
    pub customer_index: Vec<u32>,
    /// Per row: microseconds since the Unix epoch.
    pub occurred_at_micros: Vec<i64>,
    /// Per row: exact amount.
    pub amount: Vec<Decimal>,
    /// Per row: index into `currencies`.
    pub currency_index: Vec<u16>,
}

impl PurchaseColumns {
    /// Number of purchases.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(crmkit_core::PurchaseColumns::default().len(), 0);
    /// ```
    pub fn len(&self) -> usize {
        self.customer_index.len()
    }

    /// Whether there are none.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(crmkit_core::PurchaseColumns::default().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.customer_index.is_empty()
    }

    /// The amounts as `f64`: where exact money meets statistics.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(crmkit_core::PurchaseColumns::default().amount_f64().is_empty());
    /// ```
    pub fn amount_f64(&self) -> Vec<f64> {
        use rust_decimal::prelude::ToPrimitive;
        self.amount.iter().map(|d| d.to_f64().unwrap_or(f64::NAN)).collect()
    }

    /// Appends one row, numbering customers and currencies as they first appear.
    /// Backends build the columns with it, so that all number them the same way.
    ///
    /// `lookup` maps the backend's own customer key to the index already given, if any.
    ///
    /// # Examples
    ///
    /// ```
    /// use crmkit_core::{PurchaseColumns, CustomerId, Currency};
    /// let mut cols = PurchaseColumns::default();
    /// let mut seen = std::collections::HashMap::new();
    /// let id = CustomerId::from_u128(9);
    /// cols.push_row(&mut seen, id, id, 0, "1.5".parse().unwrap(), Currency::USD);
    /// cols.push_row(&mut seen, id, id, 1, "2".parse().unwrap(), Currency::USD);
    /// assert_eq!(cols.customer_index, vec![0, 0]);
    /// ```
    pub fn push_row<K: std::hash::Hash + Eq, S: std::hash::BuildHasher>(
        &mut self,
        seen: &mut std::collections::HashMap<K, u32, S>,
        key: K,
        customer: CustomerId,
        occurred_at_micros: i64,
        amount: Decimal,
        currency: Currency,
    ) {
        let next = self.customers.len() as u32;
        let idx = *seen.entry(key).or_insert(next);
        if idx == next {
            self.customers.push(customer);
        }
        let cur = match self.currencies.iter().position(|c| *c == currency) {
            Some(i) => i as u16,
            None => {
                self.currencies.push(currency);
                (self.currencies.len() - 1) as u16
            }
        };
        self.customer_index.push(idx);
        self.occurred_at_micros.push(occurred_at_micros);
        self.amount.push(amount);
        self.currency_index.push(cur);
    }
}

/// An audit-log entry to write: one field of one customer changed.
///
/// # Examples
///
/// ```
/// use crmkit_core::{Crm, NewCustomer, CustomerUpdate};
/// let crm = Crm::in_memory();
/// let c = crm.create_customer(NewCustomer::person("Bo"))?;
/// crm.update_customer(c.id, CustomerUpdate::new().name("Bo Diddley").source("agent:sam"))?;
/// let log = crm.audit_log(Some(c.id), 0, 10)?;
/// let rename = log.iter().find(|e| e.field == "name").unwrap();
/// assert_eq!((rename.actor.as_str(), rename.new.as_ref().unwrap().as_str()), ("agent:sam", Some("Bo Diddley")));
/// # Ok::<(), crmkit_core::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// The customer.
    pub customer: CustomerId,
    /// When.
    pub at: DateTime<Utc>,
    /// Who or what made the change (a user, an import, a system).
    pub actor: String,
    /// Which field (`name`, `stage`, `attributes.plan`, `tags`, `identities`, `consent.P.C`, or
    /// `customer` for a creation, whose `new` holds the name and identity keys).
    pub field: String,
    /// The value before (`None` if it was absent).
    pub old: Option<serde_json::Value>,
    /// The value after (`None` if it was removed).
    pub new: Option<serde_json::Value>,
}

/// A stored audit-log entry: an [`AuditRecord`] with its sequence number.
///
/// # Examples
///
/// ```
/// let crm = crmkit_core::Crm::in_memory();
/// let c = crm.create_customer(crmkit_core::NewCustomer::person("Bo"))?;
/// assert_eq!(crm.audit_log(Some(c.id), 0, 10)?[0].seq, 1);
/// # Ok::<(), crmkit_core::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// 1, 2, 3... in write order, store-wide.
    pub seq: u64,
    /// The customer.
    pub customer: CustomerId,
    /// When.
    pub at: DateTime<Utc>,
    /// Who or what.
    pub actor: String,
    /// Which field.
    pub field: String,
    /// Before.
    pub old: Option<serde_json::Value>,
    /// After.
    pub new: Option<serde_json::Value>,
}

impl AuditEntry {
    /// A stored entry from a record and its sequence number.
    ///
    /// # Examples
    ///
    /// ```
    /// use crmkit_core::{AuditEntry, AuditRecord, CustomerId};
    /// let r = AuditRecord { customer: CustomerId::new(), at: chrono::Utc::now(), actor: "a".into(),
    ///     field: "name".into(), old: None, new: Some("x".into()) };
    /// assert_eq!(AuditEntry::from_record(3, r).seq, 3);
    /// ```
    pub fn from_record(seq: u64, r: AuditRecord) -> AuditEntry {
        AuditEntry {
            seq,
            customer: r.customer,
            at: crate::time::truncate_micros(r.at),
            actor: r.actor,
            field: r.field,
            old: r.old,
            new: r.new,
        }
    }
}

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

/// A CRM's storage: small, object-safe, `Send + Sync` and synchronous.
///
/// Implementations must behave exactly like [`MemoryStore`] (the `crmkit-testkit` conformance
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
pub trait Store: Send + Sync {
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
    /// use crmkit_core::{MemoryStore, Store, WriteBatch, WriteOp, FieldDef, FieldType};
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

    /// A stored model version; `None` for the latest.
    fn model(&self, version: Option<u64>) -> Result<Option<ModelRecord>>;

    /// A customer's latest scores.
    fn score(&self, customer: CustomerId) -> Result<Option<CustomerScore>>;

    /// Every customer's latest scores, ordered by customer id.
    fn all_scores(&self) -> Result<Vec<CustomerScore>>;

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

    /// Events with `seq > after`, oldest first, at most `limit`.
    fn events(&self, after: u64, limit: usize) -> Result<Vec<Event>>;

    /// The last event a consumer acknowledged (0 for a new consumer).
    fn consumer_cursor(&self, consumer: &str) -> Result<u64>;

    /// Tasks matching the query, ordered by due date then id.
    fn tasks(&self, query: &TaskQuery) -> Result<Vec<Task>>;

    /// A task by id.
    fn task(&self, id: TaskId) -> Result<Option<Task>>;

    /// Interactions with an id greater than `after`, in id order, at most `limit` (for
    /// evaluating rules over the whole base).
    fn interactions_after(&self, after: InteractionId, limit: usize) -> Result<Vec<Interaction>>;

    /// Whether an interaction with this idempotency key is stored.
    fn idempotency_key_exists(&self, key: &str) -> Result<bool>;
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
}

impl<S: Store + ?Sized> StoreExt for S {}

/// The rule for `SaveModel`, shared by every backend: versions count up by one.
///
/// # Examples
///
/// ```
/// assert!(crmkit_core::store::check_model_version(0, 1).is_ok());
/// assert!(crmkit_core::store::check_model_version(1, 1).is_err());
/// ```
pub fn check_model_version(latest: u64, version: u64) -> Result<()> {
    if version <= latest {
        return Err(Error::AlreadyExists { entity: "model version", key: version.to_string() });
    }
    if version != latest + 1 {
        return Err(Error::validation(
            "model version",
            format!("{version} skips versions: the latest stored is {latest}"),
        ));
    }
    Ok(())
}

/// The outbox event a store appends for a written interaction. Its time is the interaction's
/// `occurred_at` (stores have no clock; the outbox is ordered by sequence number).
///
/// # Examples
///
/// ```
/// use crmkit_core::{NewInteraction, InteractionId, InteractionKind, CustomerId};
/// let n = NewInteraction::new(CustomerId::new(), chrono::Utc::now(), InteractionKind::Note { text: "hi".into() });
/// let e = crmkit_core::store::interaction_event(InteractionId(7), &n);
/// assert_eq!(e.payload.type_name(), "interaction_recorded");
/// ```
pub fn interaction_event(id: InteractionId, n: &NewInteraction) -> NewEvent {
    let at = crate::time::truncate_micros(n.occurred_at);
    NewEvent {
        at,
        customer: Some(n.customer),
        payload: EventPayload::InteractionRecorded {
            interaction: id,
            kind: n.kind.name().to_owned(),
            occurred_at: at,
            amount: n.kind.amount().cloned(),
        },
    }
}
