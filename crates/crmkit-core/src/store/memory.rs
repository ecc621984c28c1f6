//! `MemoryStore`: the reference backend, and the model the other backends are tested against.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};

use super::{
    AuditEntry, AuditRecord, AutomationStore, BatchOutcome, BatchView, BatchWriter, CustomerQuery,
    CustomerScore, CustomerStore, IndexValue, ModelRecord, OutboxStore, Page, PurchaseColumns,
    Record, RecordCursor, RecordQuery, RecordStore, Store, StoreStats, TimeRange, ValueStore,
    WriteBatch, WriteWork, apply_batch,
};
use crate::automation::{Event, Membership, NewEvent, Playbook, Segment, Task, TaskQuery};
use crate::customer::{Customer, FieldDef, FieldType};
use crate::error::{Error, Result};
use crate::identity::IdentityKey;
use crate::ids::{CustomerId, InteractionId, TaskId};
use crate::interaction::{Interaction, InteractionKind, NewInteraction};

/// A store that keeps everything in memory: fast, and gone when dropped.
///
/// It is the reference every other backend must match.
///
/// # Examples
///
/// ```
/// use crmkit_core::{Crm, MemoryStore, NewCustomer};
/// let crm = Crm::new(MemoryStore::new());
/// crm.create_customer(NewCustomer::organisation("Initech").email("it@initech.example"))?;
/// assert_eq!(crm.store().stats()?.customers, 1);
/// # Ok::<(), crmkit_core::Error>(())
/// ```
#[derive(Debug, Default)]
pub struct MemoryStore {
    inner: RwLock<Inner>,
    /// Serialises [`Store::write`] calls (reads take only `inner`).
    writer: Mutex<()>,
}

/// Hash maps with a fast, randomly seeded hasher: they are on the per-interaction path.
type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

#[derive(Debug, Default)]
struct Inner {
    customers: BTreeMap<CustomerId, Customer>,
    keys: FastMap<IdentityKey, CustomerId>,
    interactions: Vec<Interaction>,
    by_customer: FastMap<CustomerId, Vec<u32>>,
    idempotency: FastMap<String, InteractionId>,
    fields: BTreeMap<String, FieldDef>,
    audit: Vec<AuditEntry>,
    models: Vec<ModelRecord>,
    scores: BTreeMap<CustomerId, CustomerScore>,
    segments: BTreeMap<String, Segment>,
    playbooks: BTreeMap<String, Playbook>,
    automation_revision: u64,
    /// Customer-major: a write re-reads one customer's rows.
    memberships: FastMap<CustomerId, BTreeMap<String, Membership>>,
    /// (segment, customer) of every row, for listing a segment in customer order.
    by_segment: BTreeSet<(String, CustomerId)>,
    /// (next_check, segment, customer) of every scheduled row.
    due: BTreeSet<(chrono::DateTime<chrono::Utc>, String, CustomerId)>,
    events: Vec<Event>,
    cursors: BTreeMap<String, u64>,
    tasks: BTreeMap<TaskId, Task>,
    records: BTreeMap<(String, String), Record>,
    /// (kind, index name, sort key, id) of every index entry of every record.
    record_index: BTreeSet<(String, String, Vec<u8>, String)>,
}

/// What to undo if a later write of the same batch fails.
enum Undo {
    /// The customer had this previous record (`None`: it did not exist).
    Customer(CustomerId, Option<Box<Customer>>),
    Field(String),
    Model,
    Score(CustomerId, Option<Box<CustomerScore>>),
    Segment(String, Option<Box<Segment>>),
    Playbook(String, Option<Box<Playbook>>),
    Membership((String, CustomerId), Option<Box<Membership>>),
    Cursor(String, Option<u64>),
    Task(TaskId, Option<Box<Task>>),
    Revision(u64),
    Record((String, String), Option<Box<Record>>),
}

impl MemoryStore {
    /// An empty store.
    ///
    /// # Examples
    ///
    /// ```
    /// use crmkit_core::prelude::*;
    /// assert_eq!(crmkit_core::MemoryStore::new().stats()?.interactions, 0);
    /// # Ok::<(), crmkit_core::Error>(())
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    fn read(&self) -> Result<RwLockReadGuard<'_, Inner>> {
        self.inner.read().map_err(|_| poisoned())
    }

    fn inner_mut(&self) -> Result<RwLockWriteGuard<'_, Inner>> {
        self.inner.write().map_err(|_| poisoned())
    }
}

fn poisoned() -> Error {
    Error::Internal { message: "memory store lock poisoned by a panic".into() }
}

impl Inner {
    /// Applies a batch through [`apply_batch`]; on an error everything it wrote is undone.
    fn apply(&mut self, batch: WriteBatch) -> Result<BatchOutcome> {
        let marks = Marks {
            interactions: self.interactions.len(),
            audit: self.audit.len(),
            events: self.events.len(),
        };
        let mut writer = MemoryBatch { inner: self, undo: Vec::new() };
        match apply_batch(&mut writer, batch) {
            Ok(outcome) => Ok(outcome),
            Err(e) => {
                let undo = std::mem::take(&mut writer.undo);
                self.rollback(undo, marks);
                Err(e)
            }
        }
    }

    /// Replaces a membership row (and its index and schedule entries); returns the old row.
    fn set_membership_row(
        &mut self,
        key: &(String, CustomerId),
        new: Option<Membership>,
    ) -> Option<Membership> {
        let (segment, customer) = key;
        let rows = self.memberships.entry(*customer).or_default();
        let old = match new {
            Some(m) => {
                if let Some(at) = m.next_check {
                    self.due.insert((at, segment.clone(), *customer));
                }
                let old = rows.insert(segment.clone(), m);
                if old.is_none() {
                    self.by_segment.insert(key.clone());
                }
                old
            }
            None => {
                let old = rows.remove(segment);
                if rows.is_empty() {
                    self.memberships.remove(customer);
                }
                if old.is_some() {
                    self.by_segment.remove(key);
                }
                old
            }
        };
        if let Some(at) = old.as_ref().and_then(|o| o.next_check) {
            let now = self
                .memberships
                .get(customer)
                .and_then(|r| r.get(segment))
                .and_then(|m| m.next_check);
            if now != Some(at) {
                self.due.remove(&(at, segment.clone(), *customer));
            }
        }
        old
    }

    /// Replaces a record (and its index entries); returns the old record.
    fn set_record(&mut self, key: &(String, String), new: Option<Record>) -> Option<Record> {
        let old = match new {
            Some(record) => {
                for (name, value) in &record.index {
                    self.record_index.insert(index_entry(&record.kind, name, value, &record.id));
                }
                self.records.insert(key.clone(), record)
            }
            None => self.records.remove(key),
        };
        if let Some(old) = &old {
            let current = self.records.get(key);
            for (name, value) in &old.index {
                // Keep an entry the new record has too.
                if current.and_then(|r| r.index_value(name)) != Some(value) {
                    self.record_index.remove(&index_entry(&old.kind, name, value, &old.id));
                }
            }
        }
        old
    }

    /// Replaces a customer (and its identity keys); returns the old record.
    fn set_customer(&mut self, id: CustomerId, new: Option<Customer>) -> Option<Customer> {
        let old = self.customers.remove(&id);
        if let Some(old) = &old {
            for k in &old.identities {
                self.keys.remove(k);
            }
        }
        if let Some(new) = new {
            for k in &new.identities {
                self.keys.insert(k.clone(), id);
            }
            self.customers.insert(id, new);
        }
        old
    }

    fn rollback(&mut self, undo: Vec<Undo>, marks: Marks) {
        for interaction in self.interactions.drain(marks.interactions..).rev() {
            if let Some(positions) = self.by_customer.get_mut(&interaction.customer) {
                positions.pop();
                if positions.is_empty() {
                    self.by_customer.remove(&interaction.customer);
                }
            }
            if let Some(key) = &interaction.idempotency_key {
                self.idempotency.remove(key);
            }
        }
        self.audit.truncate(marks.audit);
        self.events.truncate(marks.events);
        for step in undo.into_iter().rev() {
            match step {
                Undo::Customer(id, previous) => {
                    self.set_customer(id, previous.map(|p| *p));
                }
                Undo::Field(name) => {
                    self.fields.remove(&name);
                }
                Undo::Model => {
                    self.models.pop();
                }
                Undo::Score(id, previous) => restore(&mut self.scores, id, previous.map(|p| *p)),
                Undo::Segment(name, previous) => {
                    restore(&mut self.segments, name, previous.map(|p| *p))
                }
                Undo::Playbook(name, previous) => {
                    restore(&mut self.playbooks, name, previous.map(|p| *p))
                }
                Undo::Membership(key, previous) => {
                    self.set_membership_row(&key, previous.map(|b| *b));
                }
                Undo::Cursor(name, previous) => restore(&mut self.cursors, name, previous),
                Undo::Task(id, previous) => restore(&mut self.tasks, id, previous.map(|p| *p)),
                Undo::Revision(r) => self.automation_revision = r,
                Undo::Record(key, previous) => {
                    self.set_record(&key, previous.map(|p| *p));
                }
            }
        }
    }
}

/// The lengths of the append-only logs before a batch: a rollback truncates them back.
struct Marks {
    interactions: usize,
    audit: usize,
    events: usize,
}

fn index_entry(
    kind: &str,
    name: &str,
    value: &IndexValue,
    id: &str,
) -> (String, String, Vec<u8>, String) {
    (kind.to_owned(), name.to_owned(), value.sort_key(), id.to_owned())
}

/// One batch's view of and writes to the store, with what to undo if it fails.
struct MemoryBatch<'a> {
    inner: &'a mut Inner,
    undo: Vec<Undo>,
}

impl BatchView for MemoryBatch<'_> {
    fn customer_revision(&mut self, id: CustomerId) -> Result<Option<u64>> {
        Ok(self.inner.customers.get(&id).map(|c| c.revision))
    }

    fn identity_key_owner(&mut self, key: &IdentityKey) -> Result<Option<CustomerId>> {
        Ok(self.inner.keys.get(key).copied())
    }

    fn field_type(&mut self, name: &str) -> Result<Option<FieldType>> {
        Ok(self.inner.fields.get(name).map(|f| f.field_type))
    }

    fn latest_model_version(&mut self) -> Result<u64> {
        Ok(self.inner.models.len() as u64)
    }

    fn segment_exists(&mut self, name: &str) -> Result<bool> {
        Ok(self.inner.segments.contains_key(name))
    }

    fn playbook_exists(&mut self, name: &str) -> Result<bool> {
        Ok(self.inner.playbooks.contains_key(name))
    }

    fn last_event_seq(&mut self) -> Result<u64> {
        Ok(self.inner.events.len() as u64)
    }

    fn consumer_cursor(&mut self, consumer: &str) -> Result<Option<u64>> {
        Ok(self.inner.cursors.get(consumer).copied())
    }

    fn record_revision(&mut self, kind: &str, id: &str) -> Result<Option<u64>> {
        Ok(self.inner.records.get(&(kind.to_owned(), id.to_owned())).map(|r| r.revision))
    }
}

impl BatchWriter for MemoryBatch<'_> {
    fn insert_customer(&mut self, customer: Customer) -> Result<()> {
        let id = customer.id;
        let old = self.inner.set_customer(id, Some(customer));
        self.undo.push(Undo::Customer(id, old.map(Box::new)));
        Ok(())
    }

    fn replace_customer(&mut self, customer: Customer) -> Result<()> {
        self.insert_customer(customer)
    }

    fn append_interaction(&mut self, new: &NewInteraction) -> Result<Option<InteractionId>> {
        let inner = &mut *self.inner;
        if let Some(key) = &new.idempotency_key
            && inner.idempotency.contains_key(key)
        {
            return Ok(None);
        }
        let id = InteractionId(inner.interactions.len() as u64 + 1);
        let interaction = new.clone().into_interaction(id);
        if let Some(key) = &interaction.idempotency_key {
            inner.idempotency.insert(key.clone(), id);
        }
        inner
            .by_customer
            .entry(interaction.customer)
            .or_default()
            .push(inner.interactions.len() as u32);
        inner.interactions.push(interaction);
        Ok(Some(id))
    }

    fn append_event(&mut self, event: NewEvent) -> Result<u64> {
        let seq = self.inner.events.len() as u64 + 1;
        self.inner.events.push(Event::from_new(seq, event));
        Ok(seq)
    }

    fn define_field(&mut self, def: FieldDef) -> Result<()> {
        self.undo.push(Undo::Field(def.name.clone()));
        self.inner.fields.insert(def.name.clone(), def);
        Ok(())
    }

    fn append_audit(&mut self, record: AuditRecord) -> Result<()> {
        let seq = self.inner.audit.len() as u64 + 1;
        self.inner.audit.push(AuditEntry::from_record(seq, record));
        Ok(())
    }

    fn insert_model(&mut self, model: ModelRecord) -> Result<()> {
        self.inner.models.push(model);
        self.undo.push(Undo::Model);
        Ok(())
    }

    fn put_score(&mut self, score: CustomerScore) -> Result<()> {
        let id = score.customer;
        let previous = self.inner.scores.insert(id, score);
        self.undo.push(Undo::Score(id, previous.map(Box::new)));
        Ok(())
    }

    fn put_segment(&mut self, segment: Segment) -> Result<()> {
        let name = segment.name.clone();
        let old = self.inner.segments.insert(name.clone(), segment);
        self.undo.push(Undo::Segment(name, old.map(Box::new)));
        Ok(())
    }

    fn delete_segment(&mut self, name: &str) -> Result<()> {
        let old = self.inner.segments.remove(name);
        self.undo.push(Undo::Segment(name.to_owned(), old.map(Box::new)));
        let keys: Vec<(String, CustomerId)> = self
            .inner
            .by_segment
            .range((name.to_owned(), CustomerId::from_u128(0))..)
            .take_while(|(s, _)| s == name)
            .cloned()
            .collect();
        for key in keys {
            let old = self.inner.set_membership_row(&key, None);
            self.undo.push(Undo::Membership(key, old.map(Box::new)));
        }
        Ok(())
    }

    fn put_membership(&mut self, membership: Membership) -> Result<()> {
        let key = (membership.segment.clone(), membership.customer);
        let old = self.inner.set_membership_row(&key, Some(membership));
        self.undo.push(Undo::Membership(key, old.map(Box::new)));
        Ok(())
    }

    fn delete_membership(&mut self, segment: &str, customer: CustomerId) -> Result<()> {
        let key = (segment.to_owned(), customer);
        let old = self.inner.set_membership_row(&key, None);
        self.undo.push(Undo::Membership(key, old.map(Box::new)));
        Ok(())
    }

    fn put_playbook(&mut self, playbook: Playbook) -> Result<()> {
        let name = playbook.name.clone();
        let old = self.inner.playbooks.insert(name.clone(), playbook);
        self.undo.push(Undo::Playbook(name, old.map(Box::new)));
        Ok(())
    }

    fn delete_playbook(&mut self, name: &str) -> Result<()> {
        let old = self.inner.playbooks.remove(name);
        self.undo.push(Undo::Playbook(name.to_owned(), old.map(Box::new)));
        Ok(())
    }

    fn bump_automation_revision(&mut self) -> Result<()> {
        self.undo.push(Undo::Revision(self.inner.automation_revision));
        self.inner.automation_revision += 1;
        Ok(())
    }

    fn set_consumer_cursor(&mut self, consumer: &str, seq: u64) -> Result<()> {
        let old = self.inner.cursors.insert(consumer.to_owned(), seq);
        self.undo.push(Undo::Cursor(consumer.to_owned(), old));
        Ok(())
    }

    fn put_task(&mut self, task: Task) -> Result<()> {
        let id = task.id;
        let old = self.inner.tasks.insert(id, task);
        self.undo.push(Undo::Task(id, old.map(Box::new)));
        Ok(())
    }

    fn put_record(&mut self, record: Record) -> Result<()> {
        let key = (record.kind.clone(), record.id.clone());
        let old = self.inner.set_record(&key, Some(record));
        self.undo.push(Undo::Record(key, old.map(Box::new)));
        Ok(())
    }

    fn delete_record(&mut self, kind: &str, id: &str) -> Result<()> {
        let key = (kind.to_owned(), id.to_owned());
        let old = self.inner.set_record(&key, None);
        self.undo.push(Undo::Record(key, old.map(Box::new)));
        Ok(())
    }
}

impl Store for MemoryStore {
    fn write(&self, work: WriteWork<'_>) -> Result<BatchOutcome> {
        // Held while `work` reads, so no other writer commits in between; readers go on. A panic
        // in `work` poisons it before anything is written, so the next writer may go on.
        let _writer = self.writer.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let batch = work()?;
        if batch.is_empty() {
            return Ok(BatchOutcome::default());
        }
        self.inner_mut()?.apply(batch)
    }
}

impl CustomerStore for MemoryStore {
    fn customer(&self, id: CustomerId) -> Result<Option<Customer>> {
        Ok(self.read()?.customers.get(&id).cloned())
    }

    fn customer_by_key(&self, key: &IdentityKey) -> Result<Option<Customer>> {
        let inner = self.read()?;
        Ok(inner.keys.get(key).and_then(|id| inner.customers.get(id)).cloned())
    }

    fn customer_id_by_key(&self, key: &IdentityKey) -> Result<Option<CustomerId>> {
        Ok(self.read()?.keys.get(key).copied())
    }

    fn list_customers(&self, query: &CustomerQuery) -> Result<Page<Customer>> {
        use std::ops::Bound;
        let inner = self.read()?;
        let start = query.after.map_or(Bound::Unbounded, Bound::Excluded);
        let limit = query.limit.max(1);
        let mut items: Vec<Customer> = inner
            .customers
            .range((start, Bound::Unbounded))
            .map(|(_, c)| c)
            .filter(|c| query.matches(c))
            .take(limit + 1)
            .cloned()
            .collect();
        let next = if items.len() > limit {
            items.truncate(limit);
            items.last().map(|c| c.id)
        } else {
            None
        };
        Ok(Page { items, next })
    }

    fn interactions(&self, customer: CustomerId, range: TimeRange) -> Result<Vec<Interaction>> {
        let inner = self.read()?;
        let mut out: Vec<Interaction> = inner
            .by_customer
            .get(&customer)
            .into_iter()
            .flatten()
            .map(|&pos| &inner.interactions[pos as usize])
            .filter(|i| range.contains(i.occurred_at))
            .cloned()
            .collect();
        out.sort_by_key(|i| (i.occurred_at, i.id));
        Ok(out)
    }

    fn interactions_after(&self, after: InteractionId, limit: usize) -> Result<Vec<Interaction>> {
        let inner = self.read()?;
        let start = (after.0 as usize).min(inner.interactions.len());
        Ok(inner.interactions[start..].iter().take(limit).cloned().collect())
    }

    fn idempotency_key_exists(&self, key: &str) -> Result<bool> {
        Ok(self.read()?.idempotency.contains_key(key))
    }

    fn scan_purchases(&self) -> Result<PurchaseColumns> {
        let inner = self.read()?;
        let mut cols = PurchaseColumns::default();
        let mut seen = HashMap::new();
        for i in &inner.interactions {
            if let InteractionKind::Purchase { total, .. } = &i.kind {
                cols.push_row(
                    &mut seen,
                    i.customer,
                    i.customer,
                    i.occurred_at.timestamp_micros(),
                    total.amount,
                    total.currency,
                );
            }
        }
        Ok(cols)
    }

    fn audit_log(
        &self,
        customer: Option<CustomerId>,
        after: u64,
        limit: usize,
    ) -> Result<Vec<AuditEntry>> {
        let inner = self.read()?;
        let start = (after as usize).min(inner.audit.len());
        Ok(inner.audit[start..]
            .iter()
            .filter(|e| customer.is_none_or(|c| e.customer == c))
            .take(limit)
            .cloned()
            .collect())
    }

    fn field_schema(&self) -> Result<Vec<FieldDef>> {
        Ok(self.read()?.fields.values().cloned().collect())
    }

    fn stats(&self) -> Result<StoreStats> {
        let inner = self.read()?;
        Ok(StoreStats {
            customers: inner.customers.len() as u64,
            interactions: inner.interactions.len() as u64,
        })
    }
}

impl ValueStore for MemoryStore {
    fn model(&self, version: Option<u64>) -> Result<Option<ModelRecord>> {
        let inner = self.read()?;
        Ok(match version {
            None => inner.models.last().cloned(),
            Some(v) => inner.models.iter().find(|m| m.version == v).cloned(),
        })
    }

    fn score(&self, customer: CustomerId) -> Result<Option<CustomerScore>> {
        Ok(self.read()?.scores.get(&customer).cloned())
    }

    fn all_scores(&self) -> Result<Vec<CustomerScore>> {
        Ok(self.read()?.scores.values().cloned().collect())
    }
}

impl AutomationStore for MemoryStore {
    fn segments(&self) -> Result<Vec<Segment>> {
        Ok(self.read()?.segments.values().cloned().collect())
    }

    fn playbooks(&self) -> Result<Vec<Playbook>> {
        Ok(self.read()?.playbooks.values().cloned().collect())
    }

    fn automation_revision(&self) -> Result<u64> {
        Ok(self.read()?.automation_revision)
    }

    fn memberships(&self, customer: CustomerId) -> Result<Vec<Membership>> {
        let inner = self.read()?;
        Ok(inner
            .memberships
            .get(&customer)
            .map_or_else(Vec::new, |r| r.values().cloned().collect()))
    }

    fn segment_rows(
        &self,
        segment: &str,
        after: Option<CustomerId>,
        limit: usize,
    ) -> Result<Vec<Membership>> {
        use std::ops::Bound;
        let inner = self.read()?;
        let start = match after {
            Some(id) => Bound::Excluded((segment.to_owned(), id)),
            None => Bound::Included((segment.to_owned(), CustomerId::from_u128(0))),
        };
        Ok(inner
            .by_segment
            .range((start, Bound::Unbounded))
            .take_while(|(s, _)| s == segment)
            .take(limit)
            .filter_map(|(s, c)| inner.memberships.get(c).and_then(|r| r.get(s)).cloned())
            .collect())
    }

    fn segment_sizes(&self) -> Result<Vec<(String, u64)>> {
        let inner = self.read()?;
        let mut sizes: BTreeMap<&str, u64> = BTreeMap::new();
        for rows in inner.memberships.values() {
            for (segment, m) in rows {
                if m.member {
                    *sizes.entry(segment).or_default() += 1;
                }
            }
        }
        Ok(sizes.into_iter().map(|(s, n)| (s.to_owned(), n)).collect())
    }

    fn due_checks(
        &self,
        until: chrono::DateTime<chrono::Utc>,
        limit: usize,
    ) -> Result<Vec<Membership>> {
        let inner = self.read()?;
        Ok(inner
            .due
            .iter()
            .take_while(|(at, _, _)| *at <= until)
            .take(limit)
            .filter_map(|(_, s, c)| inner.memberships.get(c).and_then(|r| r.get(s)).cloned())
            .collect())
    }

    fn tasks(&self, query: &TaskQuery) -> Result<Vec<Task>> {
        let inner = self.read()?;
        let mut out: Vec<Task> =
            inner.tasks.values().filter(|t| query.matches(t)).cloned().collect();
        out.sort_by_key(|t| (t.due, t.id));
        out.truncate(query.limit);
        Ok(out)
    }

    fn task(&self, id: TaskId) -> Result<Option<Task>> {
        Ok(self.read()?.tasks.get(&id).cloned())
    }
}

impl OutboxStore for MemoryStore {
    fn events(&self, after: u64, limit: usize) -> Result<Vec<Event>> {
        let inner = self.read()?;
        let start = (after as usize).min(inner.events.len());
        Ok(inner.events[start..].iter().take(limit).cloned().collect())
    }

    fn consumer_cursor(&self, consumer: &str) -> Result<u64> {
        Ok(self.read()?.cursors.get(consumer).copied().unwrap_or(0))
    }
}

impl RecordStore for MemoryStore {
    fn record(&self, kind: &str, id: &str) -> Result<Option<Record>> {
        Ok(self.read()?.records.get(&(kind.to_owned(), id.to_owned())).cloned())
    }

    fn records(&self, query: &RecordQuery) -> Result<Page<Record, RecordCursor>> {
        use std::ops::Bound;
        let inner = self.read()?;
        let limit = query.limit.max(1);
        let mut items: Vec<Record> = Vec::new();
        match &query.index {
            None => {
                let kind = query.kind.clone();
                let start = match &query.after {
                    Some(c) => Bound::Excluded((kind.clone(), c.id.clone())),
                    None => Bound::Included((kind.clone(), String::new())),
                };
                items.extend(
                    inner
                        .records
                        .range((start, Bound::Unbounded))
                        .take_while(|((k, _), _)| *k == kind)
                        .take(limit + 1)
                        .map(|(_, r)| r.clone()),
                );
            }
            Some(range) => {
                let (from, to) = range.key_range();
                let key = |value: Vec<u8>, id: String| {
                    (query.kind.clone(), range.name.clone(), value, id)
                };
                let start = match &query.after {
                    Some(c) if c.key.as_deref().is_some_and(|k| *k >= *from) => {
                        Bound::Excluded(key(c.key.clone().unwrap_or_default(), c.id.clone()))
                    }
                    _ => Bound::Included(key(from, String::new())),
                };
                for (k, n, value, id) in inner.record_index.range((start, Bound::Unbounded)) {
                    if *k != query.kind
                        || *n != range.name
                        || to.as_ref().is_some_and(|t| value >= t)
                    {
                        break;
                    }
                    if items.len() > limit {
                        break;
                    }
                    if let Some(r) = inner.records.get(&(k.clone(), id.clone())) {
                        items.push(r.clone());
                    }
                }
            }
        }
        let next = if items.len() > limit {
            items.truncate(limit);
            items.last().map(|r| query.cursor_of(r))
        } else {
            None
        };
        Ok(Page { items, next })
    }
}

/// Puts back what a map held under `key` before a failed batch (`None`: nothing).
fn restore<K: Ord, V>(map: &mut BTreeMap<K, V>, key: K, previous: Option<V>) {
    match previous {
        Some(v) => {
            map.insert(key, v);
        }
        None => {
            map.remove(&key);
        }
    }
}
