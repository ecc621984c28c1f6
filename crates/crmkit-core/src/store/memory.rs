//! `MemoryStore`: the reference backend, and the model the other backends are tested against.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};

use super::{
    AuditEntry, BatchOutcome, CustomerQuery, CustomerScore, ModelRecord, Page, PurchaseColumns,
    Store, StoreStats, TimeRange, WriteBatch, WriteOp, WriteWork,
};
use crate::automation::{Event, Membership, Playbook, Segment, Task, TaskQuery};
use crate::customer::{Customer, FieldDef};
use crate::error::{Error, Result};
use crate::identity::IdentityKey;
use crate::ids::{CustomerId, InteractionId, TaskId};
use crate::interaction::{Interaction, InteractionKind};

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
    by_segment: std::collections::BTreeSet<(String, CustomerId)>,
    /// (next_check, segment, customer) of every scheduled row.
    due: std::collections::BTreeSet<(chrono::DateTime<chrono::Utc>, String, CustomerId)>,
    events: Vec<Event>,
    cursors: BTreeMap<String, u64>,
    tasks: BTreeMap<TaskId, Task>,
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
}

impl MemoryStore {
    /// An empty store.
    ///
    /// # Examples
    ///
    /// ```
    /// use crmkit_core::Store;
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
    fn apply(&mut self, batch: WriteBatch) -> Result<BatchOutcome> {
        let interactions_before = self.interactions.len();
        let audit_before = self.audit.len();
        let events_before = self.events.len();
        let mut undo = Vec::new();
        let mut outcome = BatchOutcome::default();
        for op in batch.ops {
            if let Err(e) = self.apply_op(op, &mut undo, &mut outcome) {
                self.rollback(undo, interactions_before, audit_before);
                self.events.truncate(events_before);
                return Err(e);
            }
        }
        outcome.events = (self.events.len() - events_before) as u64;
        if outcome.events > 0 {
            outcome.last_event = self.events.len() as u64;
        }
        Ok(outcome)
    }

    fn apply_op(
        &mut self,
        op: WriteOp,
        undo: &mut Vec<Undo>,
        outcome: &mut BatchOutcome,
    ) -> Result<()> {
        match op {
            WriteOp::InsertCustomer(mut c) => {
                if self.customers.contains_key(&c.id) {
                    return Err(Error::AlreadyExists { entity: "customer", key: c.id.to_string() });
                }
                self.check_keys_free(&c)?;
                c.truncate_to_micros();
                for k in &c.identities {
                    self.keys.insert(k.clone(), c.id);
                }
                undo.push(Undo::Customer(c.id, None));
                self.customers.insert(c.id, c);
            }
            WriteOp::UpdateCustomer { customer: mut c, expected_revision } => {
                let old = self
                    .customers
                    .get(&c.id)
                    .ok_or_else(|| Error::NotFound { entity: "customer", key: c.id.to_string() })?;
                if old.revision != expected_revision {
                    return Err(Error::StaleRevision {
                        customer: c.id,
                        expected: expected_revision,
                        found: old.revision,
                    });
                }
                self.check_keys_free(&c)?;
                c.truncate_to_micros();
                let old = self.customers.insert(c.id, c.clone());
                if let Some(old) = &old {
                    for k in &old.identities {
                        self.keys.remove(k);
                    }
                }
                for k in &c.identities {
                    self.keys.insert(k.clone(), c.id);
                }
                undo.push(Undo::Customer(c.id, old.map(Box::new)));
            }
            WriteOp::AppendInteraction(new) => {
                if !self.customers.contains_key(&new.customer) {
                    return Err(Error::NotFound {
                        entity: "customer",
                        key: new.customer.to_string(),
                    });
                }
                if let Some(key) = &new.idempotency_key
                    && self.idempotency.contains_key(key)
                {
                    outcome.appended.push(None);
                    return Ok(());
                }
                let id = InteractionId(self.interactions.len() as u64 + 1);
                let event = super::interaction_event(id, &new);
                let interaction = new.into_interaction(id);
                if let Some(key) = &interaction.idempotency_key {
                    self.idempotency.insert(key.clone(), id);
                }
                self.by_customer
                    .entry(interaction.customer)
                    .or_default()
                    .push(self.interactions.len() as u32);
                self.interactions.push(interaction);
                self.push_event(event);
                outcome.appended.push(Some(id));
            }
            WriteOp::DefineField(def) => match self.fields.get(&def.name) {
                Some(existing) if existing.field_type != def.field_type => {
                    return Err(Error::FieldTypeConflict {
                        name: def.name,
                        existing: existing.field_type.to_string(),
                        requested: def.field_type.to_string(),
                    });
                }
                Some(_) => {}
                None => {
                    undo.push(Undo::Field(def.name.clone()));
                    self.fields.insert(def.name.clone(), def);
                }
            },
            WriteOp::Audit(record) => {
                if !self.customers.contains_key(&record.customer) {
                    return Err(Error::NotFound {
                        entity: "customer",
                        key: record.customer.to_string(),
                    });
                }
                let seq = self.audit.len() as u64 + 1;
                self.audit.push(AuditEntry::from_record(seq, record));
            }
            WriteOp::SaveModel(mut model) => {
                super::check_model_version(self.models.len() as u64, model.version)?;
                model.fitted_at = crate::time::truncate_micros(model.fitted_at);
                model.as_of = crate::time::truncate_micros(model.as_of);
                self.models.push(model);
                undo.push(Undo::Model);
            }
            WriteOp::SaveScores(scores) => {
                for score in scores {
                    if !self.customers.contains_key(&score.customer) {
                        return Err(Error::NotFound {
                            entity: "customer",
                            key: score.customer.to_string(),
                        });
                    }
                    if score.model_version == 0 || score.model_version > self.models.len() as u64 {
                        return Err(Error::NotFound {
                            entity: "model version",
                            key: score.model_version.to_string(),
                        });
                    }
                    let id = score.customer;
                    let previous = self.scores.insert(id, score);
                    undo.push(Undo::Score(id, previous.map(Box::new)));
                }
            }
            WriteOp::SaveSegment(mut segment) => {
                segment.created_at = crate::time::truncate_micros(segment.created_at);
                segment.updated_at = crate::time::truncate_micros(segment.updated_at);
                self.bump_revision(undo);
                let old = self.segments.insert(segment.name.clone(), segment.clone());
                undo.push(Undo::Segment(segment.name, old.map(Box::new)));
            }
            WriteOp::DeleteSegment(name) => {
                let Some(old) = self.segments.remove(&name) else {
                    return Err(Error::NotFound { entity: "segment", key: name });
                };
                self.bump_revision(undo);
                undo.push(Undo::Segment(name.clone(), Some(Box::new(old))));
                let keys: Vec<(String, CustomerId)> = self
                    .by_segment
                    .range((name.clone(), CustomerId::from_u128(0))..)
                    .take_while(|(s, _)| *s == name)
                    .cloned()
                    .collect();
                for key in keys {
                    let old = self.set_membership_row(&key, None);
                    undo.push(Undo::Membership(key, old.map(Box::new)));
                }
            }
            WriteOp::SetMembership(mut m) => {
                if !self.segments.contains_key(&m.segment) {
                    return Err(Error::NotFound { entity: "segment", key: m.segment });
                }
                if !self.customers.contains_key(&m.customer) {
                    return Err(Error::NotFound {
                        entity: "customer",
                        key: m.customer.to_string(),
                    });
                }
                m.since = crate::time::truncate_micros(m.since);
                m.next_check = m.next_check.map(crate::time::truncate_micros);
                let key = (m.segment.clone(), m.customer);
                let new = m.is_stored().then_some(m);
                let old = self.set_membership_row(&key, new);
                undo.push(Undo::Membership(key, old.map(Box::new)));
            }
            WriteOp::SavePlaybook(p) => {
                self.bump_revision(undo);
                let old = self.playbooks.insert(p.name.clone(), p.clone());
                undo.push(Undo::Playbook(p.name, old.map(Box::new)));
            }
            WriteOp::DeletePlaybook(name) => {
                let Some(old) = self.playbooks.remove(&name) else {
                    return Err(Error::NotFound { entity: "playbook", key: name });
                };
                self.bump_revision(undo);
                undo.push(Undo::Playbook(name, Some(Box::new(old))));
            }
            WriteOp::Emit(event) => self.push_event(event),
            WriteOp::Ack { consumer, seq } => {
                if seq > self.events.len() as u64 {
                    return Err(Error::validation(
                        "seq",
                        format!("{seq} is beyond the last event ({})", self.events.len()),
                    ));
                }
                let old = self.cursors.get(&consumer).copied();
                if old.is_none_or(|o| seq > o) {
                    self.cursors.insert(consumer.clone(), seq);
                    undo.push(Undo::Cursor(consumer, old));
                }
            }
            WriteOp::PutTask(mut task) => {
                if !self.customers.contains_key(&task.customer) {
                    return Err(Error::NotFound {
                        entity: "customer",
                        key: task.customer.to_string(),
                    });
                }
                task.due = crate::time::truncate_micros(task.due);
                task.created_at = crate::time::truncate_micros(task.created_at);
                task.completed_at = task.completed_at.map(crate::time::truncate_micros);
                let old = self.tasks.insert(task.id, task.clone());
                undo.push(Undo::Task(task.id, old.map(Box::new)));
            }
        }
        Ok(())
    }

    fn push_event(&mut self, event: crate::automation::NewEvent) {
        let seq = self.events.len() as u64 + 1;
        self.events.push(Event::from_new(seq, event));
    }

    fn bump_revision(&mut self, undo: &mut Vec<Undo>) {
        undo.push(Undo::Revision(self.automation_revision));
        self.automation_revision += 1;
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

    fn check_keys_free(&self, c: &Customer) -> Result<()> {
        for k in &c.identities {
            if let Some(owner) = self.keys.get(k)
                && *owner != c.id
            {
                return Err(Error::DuplicateIdentityKey { key: k.to_string(), owner: *owner });
            }
        }
        Ok(())
    }

    fn rollback(&mut self, undo: Vec<Undo>, interactions_before: usize, audit_before: usize) {
        for interaction in self.interactions.drain(interactions_before..).rev() {
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
        self.audit.truncate(audit_before);
        for step in undo.into_iter().rev() {
            match step {
                Undo::Customer(id, previous) => {
                    if let Some(current) = self.customers.remove(&id) {
                        for k in &current.identities {
                            self.keys.remove(k);
                        }
                    }
                    if let Some(previous) = previous {
                        for k in &previous.identities {
                            self.keys.insert(k.clone(), id);
                        }
                        self.customers.insert(id, *previous);
                    }
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
            }
        }
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

    fn events(&self, after: u64, limit: usize) -> Result<Vec<Event>> {
        let inner = self.read()?;
        let start = (after as usize).min(inner.events.len());
        Ok(inner.events[start..].iter().take(limit).cloned().collect())
    }

    fn consumer_cursor(&self, consumer: &str) -> Result<u64> {
        Ok(self.read()?.cursors.get(consumer).copied().unwrap_or(0))
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

    fn interactions_after(&self, after: InteractionId, limit: usize) -> Result<Vec<Interaction>> {
        let inner = self.read()?;
        let start = (after.0 as usize).min(inner.interactions.len());
        Ok(inner.interactions[start..].iter().take(limit).cloned().collect())
    }

    fn idempotency_key_exists(&self, key: &str) -> Result<bool> {
        Ok(self.read()?.idempotency.contains_key(key))
    }

    fn stats(&self) -> Result<StoreStats> {
        let inner = self.read()?;
        Ok(StoreStats {
            customers: inner.customers.len() as u64,
            interactions: inner.interactions.len() as u64,
        })
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
