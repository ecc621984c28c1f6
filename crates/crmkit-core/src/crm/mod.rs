//! The `Crm` engine: the one entry point applications use.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde_json::json;

use crate::customer::{Customer, FieldDef, StageChange};
use crate::error::{Error, Result};
use crate::identity::IdentityKey;
use crate::ids::{CustomerId, InteractionId};
use crate::interaction::{Interaction, NewInteraction};
use crate::money::{Currency, Money};
use crate::store::{
    AuditEntry, AuditRecord, BatchOutcome, CustomerQuery, MemoryStore, Page, Store, StoreExt,
    TimeRange, WriteBatch, WriteOp,
};
use crate::time::{Clock, SystemClock};

mod audit_diff;
mod inputs;
mod validation;

pub(crate) use audit_diff::diff;
use inputs::Change;
pub use inputs::{CustomerUpdate, NewCustomer};
use validation::set_consent;
pub(crate) use validation::{check_attribute, validate_name, validate_tag};

/// The CRM engine: create, change and find customers, record interactions, import, list.
///
/// It validates everything before it writes (a typed error, nothing written), turns each change
/// into one atomic [`WriteBatch`], and writes the audit log. It holds its store behind an `Arc`,
/// so it is cheap to clone and share between threads.
///
/// # Examples
///
/// ```
/// use crmkit_core::{Crm, NewCustomer, NewInteraction, Money, IdentityKey};
///
/// let crm = Crm::in_memory();
/// let ada = crm.create_customer(NewCustomer::person("Ada").email("ada@example.org").tag("vip"))?;
/// crm.record(NewInteraction::purchase(ada.id, "2024-03-01T12:00:00Z".parse()?, Money::parse("42.00", "EUR")?))?;
/// let found = crm.find(&IdentityKey::email("ADA@example.org")?)?.unwrap();
/// assert_eq!(found.id, ada.id);
/// assert_eq!(crm.interactions(ada.id, Default::default())?.len(), 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct Crm {
    pub(crate) store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    pub(crate) automation: Arc<crate::automation::engine::AutomationState>,
}

impl std::fmt::Debug for Crm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Crm").finish_non_exhaustive()
    }
}

impl Crm {
    /// A CRM on a store, with the system clock.
    ///
    /// # Examples
    ///
    /// ```
    /// let crm = crmkit_core::Crm::new(crmkit_core::MemoryStore::new());
    /// # let _ = crm;
    /// ```
    pub fn new(store: impl Store + 'static) -> Crm {
        Crm::from_arc(Arc::new(store))
    }

    /// A CRM on a shared store.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// let store: Arc<dyn crmkit_core::Store> = Arc::new(crmkit_core::MemoryStore::new());
    /// let crm = crmkit_core::Crm::from_arc(store.clone());
    /// # let _ = crm;
    /// ```
    pub fn from_arc(store: Arc<dyn Store>) -> Crm {
        Crm { store, clock: Arc::new(SystemClock), automation: Default::default() }
    }

    /// A CRM on a fresh [`MemoryStore`].
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(crmkit_core::Crm::in_memory().store().stats()?.customers, 0);
    /// # Ok::<(), crmkit_core::Error>(())
    /// ```
    pub fn in_memory() -> Crm {
        Crm::new(MemoryStore::new())
    }

    /// Uses another clock for every timestamp the engine writes.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use crmkit_core::{Crm, FixedClock, NewCustomer};
    /// let t = "2024-01-01T00:00:00Z".parse()?;
    /// let crm = Crm::in_memory().with_clock(Arc::new(FixedClock::new(t)));
    /// assert_eq!(crm.create_customer(NewCustomer::person("Bo"))?.created_at, t);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Crm {
        self.clock = clock;
        self
    }

    /// The store.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(crmkit_core::Crm::in_memory().store().stats()?.interactions, 0);
    /// # Ok::<(), crmkit_core::Error>(())
    /// ```
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// The engine's current time.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(crmkit_core::Crm::in_memory().now() <= chrono::Utc::now());
    /// ```
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// Declares a custom field (idempotent for the same type; another type is a conflict).
    ///
    /// # Examples
    ///
    /// ```
    /// use crmkit_core::{Crm, FieldDef, FieldType, ErrorKind};
    /// let crm = Crm::in_memory();
    /// crm.define_field(FieldDef::new("seats", FieldType::Integer))?;
    /// let e = crm.define_field(FieldDef::new("seats", FieldType::String)).unwrap_err();
    /// assert_eq!(e.kind(), ErrorKind::Conflict);
    /// # Ok::<(), crmkit_core::Error>(())
    /// ```
    pub fn define_field(&self, def: FieldDef) -> Result<()> {
        validate_name("field name", &def.name)?;
        let mut batch = WriteBatch::new();
        batch.push(WriteOp::DefineField(def));
        self.store.apply(batch).map(drop)
    }

    /// The declared custom fields.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(crmkit_core::Crm::in_memory().fields()?.is_empty());
    /// # Ok::<(), crmkit_core::Error>(())
    /// ```
    pub fn fields(&self) -> Result<Vec<FieldDef>> {
        self.store.field_schema()
    }

    /// Creates a customer. Fails with a typed error, writing nothing, if a value is invalid, an
    /// attribute is undeclared or of the wrong type, or an identity key is taken.
    ///
    /// # Examples
    ///
    /// ```
    /// use crmkit_core::{Crm, NewCustomer, ErrorKind};
    /// let crm = Crm::in_memory();
    /// crm.create_customer(NewCustomer::person("Ada").email("ada@example.org"))?;
    /// let dup = crm.create_customer(NewCustomer::person("Imposter").email(" ADA@example.org"));
    /// assert_eq!(dup.unwrap_err().kind(), ErrorKind::Conflict);
    /// # Ok::<(), crmkit_core::Error>(())
    /// ```
    pub fn create_customer(&self, new: NewCustomer) -> Result<Customer> {
        let (_, customer) = self.commit_with(|| {
            let fields = self.field_types()?;
            let (customer, audit) = self.build_customer(new, &fields)?;
            let mut batch = WriteBatch::new();
            batch.push(WriteOp::InsertCustomer(customer.clone()));
            batch.push(WriteOp::Audit(audit));
            Ok((batch, customer))
        })?;
        Ok(customer)
    }

    pub(crate) fn field_types(&self) -> Result<HashMap<String, FieldDef>> {
        Ok(self.store.field_schema()?.into_iter().map(|f| (f.name.clone(), f)).collect())
    }

    /// Validates a [`NewCustomer`] into the record to insert and its creation audit entry.
    pub(crate) fn build_customer(
        &self,
        new: NewCustomer,
        fields: &HashMap<String, FieldDef>,
    ) -> Result<(Customer, AuditRecord)> {
        let now = self.clock.now();
        let name = new.name.trim().to_owned();
        if name.is_empty() {
            return Err(Error::validation("name", "is empty"));
        }
        let mut identities = Vec::with_capacity(new.identities.len());
        for (kind, raw) in &new.identities {
            identities.push(kind.key(raw)?);
        }
        identities.sort();
        identities.dedup();
        let mut tags = std::collections::BTreeSet::new();
        for t in &new.tags {
            tags.insert(validate_tag(t)?);
        }
        for (name, value) in &new.attributes {
            check_attribute(fields, name, value)?;
        }
        let mut consents = Vec::new();
        for (purpose, channel, status) in new.consents {
            set_consent(&mut consents, purpose, channel, status, now, &new.source)?;
        }
        let customer = Customer {
            id: new.id.unwrap_or_else(CustomerId::new),
            kind: new.kind,
            name,
            identities,
            stage: new.stage.clone(),
            stage_history: vec![StageChange {
                from: None,
                to: new.stage,
                at: now,
                source: new.source.clone(),
            }],
            attributes: new.attributes,
            tags,
            consents,
            created_at: now,
            updated_at: now,
            revision: 1,
        };
        let audit = AuditRecord {
            customer: customer.id,
            at: now,
            actor: new.source,
            field: "customer".into(),
            old: None,
            // The record itself is stored; the creation entry says who it was created as.
            new: Some(json!({ "name": customer.name, "identities": customer.identities })),
        };
        Ok((customer, audit))
    }

    /// Applies changes to a customer; every changed field gets an audit entry. A change that
    /// changes nothing writes nothing. Concurrent updates are detected (revision check).
    ///
    /// # Examples
    ///
    /// ```
    /// use crmkit_core::{Crm, NewCustomer, CustomerUpdate, FieldDef, FieldType, AttributeValue, LifecycleStage};
    /// let crm = Crm::in_memory();
    /// crm.define_field(FieldDef::new("seats", FieldType::Integer))?;
    /// let c = crm.create_customer(NewCustomer::organisation("Initech"))?;
    /// let c = crm.update_customer(c.id, CustomerUpdate::new()
    ///     .attribute("seats", AttributeValue::Integer(40))
    ///     .stage(LifecycleStage::Customer)
    ///     .add_tag("enterprise"))?;
    /// assert_eq!((c.revision, c.stage), (2, LifecycleStage::Customer));
    /// let bad = crm.update_customer(c.id, CustomerUpdate::new().attribute("seats", AttributeValue::String("many".into())));
    /// assert!(bad.is_err());
    /// # Ok::<(), crmkit_core::Error>(())
    /// ```
    pub fn update_customer(&self, id: CustomerId, update: CustomerUpdate) -> Result<Customer> {
        // Read, changed and written as the only writer: a concurrent update is applied after
        // this one, never lost and never a conflict.
        let (_, next) = self.commit_with(|| {
            let current = self.store.require_customer(id)?;
            let fields = self.field_types()?;
            let (next, audit) = self.apply_update(&current, update, &fields)?;
            let mut batch = WriteBatch::new();
            if audit.is_empty() {
                return Ok((batch, current));
            }
            batch.push(WriteOp::UpdateCustomer {
                customer: next.clone(),
                expected_revision: current.revision,
            });
            batch.ops.extend(audit.into_iter().map(WriteOp::Audit));
            Ok((batch, next))
        })?;
        Ok(next)
    }

    /// Computes the updated record and its audit entries (empty when nothing changes).
    pub(crate) fn apply_update(
        &self,
        current: &Customer,
        update: CustomerUpdate,
        fields: &HashMap<String, FieldDef>,
    ) -> Result<(Customer, Vec<AuditRecord>)> {
        let now = self.clock.now();
        let mut next = current.clone();
        let source = update.source;
        for change in update.changes {
            match change {
                Change::Name(name) => {
                    let name = name.trim().to_owned();
                    if name.is_empty() {
                        return Err(Error::validation("name", "is empty"));
                    }
                    next.name = name;
                }
                Change::Kind(kind) => next.kind = kind,
                Change::Stage(stage) => {
                    if stage != next.stage {
                        next.stage_history.push(StageChange {
                            from: Some(next.stage.clone()),
                            to: stage.clone(),
                            at: now,
                            source: source.clone(),
                        });
                        next.stage = stage;
                    }
                }
                Change::SetAttribute(name, value) => {
                    check_attribute(fields, &name, &value)?;
                    next.attributes.insert(name, value);
                }
                Change::RemoveAttribute(name) => {
                    next.attributes.remove(&name);
                }
                Change::AddTag(tag) => {
                    next.tags.insert(validate_tag(&tag)?);
                }
                Change::RemoveTag(tag) => {
                    next.tags.remove(tag.trim());
                }
                Change::AddIdentity(kind, raw) => {
                    let key = kind.key(&raw)?;
                    if let Err(pos) = next.identities.binary_search(&key) {
                        next.identities.insert(pos, key);
                    }
                }
                Change::RemoveIdentity(key) => next.identities.retain(|k| k != &key),
                Change::Consent(purpose, channel, status) => {
                    // Compared as stored (trimmed), so re-recording the same consent is no change.
                    let purpose = purpose.trim().to_owned();
                    let unchanged = next.consents.iter().any(|c| {
                        c.purpose == purpose && c.channel == channel && c.status == status
                    });
                    if !unchanged {
                        set_consent(&mut next.consents, purpose, channel, status, now, &source)?;
                    }
                }
            }
        }
        let audit = diff(current, &next, now, &source);
        if !audit.is_empty() {
            next.updated_at = now;
            next.revision = current.revision + 1;
        }
        Ok((next, audit))
    }

    /// A customer by id, or [`Error::NotFound`].
    ///
    /// # Examples
    ///
    /// ```
    /// let crm = crmkit_core::Crm::in_memory();
    /// assert!(crm.customer(crmkit_core::CustomerId::new()).is_err());
    /// ```
    pub fn customer(&self, id: CustomerId) -> Result<Customer> {
        self.store.require_customer(id)
    }

    /// The customer holding an identity key, if any.
    ///
    /// # Examples
    ///
    /// ```
    /// let crm = crmkit_core::Crm::in_memory();
    /// assert!(crm.find(&"email:nobody@example.org".parse()?)?.is_none());
    /// # Ok::<(), crmkit_core::Error>(())
    /// ```
    pub fn find(&self, key: &IdentityKey) -> Result<Option<Customer>> {
        self.store.customer_by_key(key)
    }

    /// A customer by id (a UUID) or by identity key text (`email:…`, `phone:…`, `ext:SYSTEM:ID`, or a bare e-mail).
    ///
    /// # Examples
    ///
    /// ```
    /// use crmkit_core::{Crm, NewCustomer};
    /// let crm = Crm::in_memory();
    /// let c = crm.create_customer(NewCustomer::person("Bo").external_id("shop", "17"))?;
    /// assert_eq!(crm.lookup("ext:shop:17")?.id, c.id);
    /// assert_eq!(crm.lookup(&c.id.to_string())?.id, c.id);
    /// assert!(crm.lookup("ext:shop:18").is_err());
    /// # Ok::<(), crmkit_core::Error>(())
    /// ```
    pub fn lookup(&self, id_or_key: &str) -> Result<Customer> {
        if let Ok(id) = id_or_key.parse::<CustomerId>() {
            return self.customer(id);
        }
        let key: IdentityKey = id_or_key.parse()?;
        self.find(&key)?.ok_or_else(|| Error::NotFound { entity: "customer", key: key.to_string() })
    }

    /// One page of customers.
    ///
    /// # Examples
    ///
    /// ```
    /// use crmkit_core::{Crm, NewCustomer, CustomerQuery};
    /// let crm = Crm::in_memory();
    /// for n in 0..3 { crm.create_customer(NewCustomer::person(format!("P{n}")))?; }
    /// let page = crm.list_customers(&CustomerQuery::new().limit(2))?;
    /// assert_eq!(page.items.len(), 2);
    /// let rest = crm.list_customers(&CustomerQuery::new().after(page.next.unwrap()))?;
    /// assert_eq!(rest.items.len(), 1);
    /// # Ok::<(), crmkit_core::Error>(())
    /// ```
    pub fn list_customers(&self, query: &CustomerQuery) -> Result<Page<Customer>> {
        self.store.list_customers(query)
    }

    /// Records one interaction. Returns its id, or `None` if its idempotency key was already
    /// recorded (nothing written).
    ///
    /// # Examples
    ///
    /// ```
    /// use crmkit_core::{Crm, NewCustomer, NewInteraction, InteractionKind};
    /// let crm = Crm::in_memory();
    /// let c = crm.create_customer(NewCustomer::person("Bo"))?;
    /// let note = NewInteraction::new(c.id, crm.now(), InteractionKind::Note { text: "called back".into() })
    ///     .idempotency_key("note-1");
    /// assert!(crm.record(note.clone())?.is_some());
    /// assert!(crm.record(note)?.is_none());
    /// # Ok::<(), crmkit_core::Error>(())
    /// ```
    pub fn record(&self, interaction: NewInteraction) -> Result<Option<InteractionId>> {
        Ok(self.record_all(vec![interaction])?.appended.first().copied().flatten())
    }

    /// Records interactions atomically: all or none. Each is validated first.
    ///
    /// # Examples
    ///
    /// ```
    /// use crmkit_core::{Crm, NewCustomer, NewInteraction, Money, CustomerId};
    /// let crm = Crm::in_memory();
    /// let c = crm.create_customer(NewCustomer::person("Bo"))?;
    /// let ok = NewInteraction::purchase(c.id, crm.now(), Money::parse("1", "USD")?);
    /// let unknown = NewInteraction::purchase(CustomerId::new(), crm.now(), Money::parse("1", "USD")?);
    /// assert!(crm.record_all(vec![ok, unknown]).is_err());
    /// assert_eq!(crm.store().stats()?.interactions, 0);
    /// # Ok::<(), crmkit_core::Error>(())
    /// ```
    pub fn record_all(&self, interactions: Vec<NewInteraction>) -> Result<BatchOutcome> {
        let mut batch = WriteBatch::new();
        for i in interactions {
            i.validate()?;
            batch.push(WriteOp::AppendInteraction(i));
        }
        self.commit(batch)
    }

    /// A customer's interactions in a time range, oldest first.
    ///
    /// # Examples
    ///
    /// ```
    /// let crm = crmkit_core::Crm::in_memory();
    /// assert!(crm.interactions(crmkit_core::CustomerId::new(), Default::default())?.is_empty());
    /// # Ok::<(), crmkit_core::Error>(())
    /// ```
    pub fn interactions(&self, customer: CustomerId, range: TimeRange) -> Result<Vec<Interaction>> {
        self.store.interactions(customer, range)
    }

    /// Audit entries after `after`, oldest first (one customer's, if given).
    ///
    /// # Examples
    ///
    /// ```
    /// let crm = crmkit_core::Crm::in_memory();
    /// assert!(crm.audit_log(None, 0, 10)?.is_empty());
    /// # Ok::<(), crmkit_core::Error>(())
    /// ```
    pub fn audit_log(
        &self,
        customer: Option<CustomerId>,
        after: u64,
        limit: usize,
    ) -> Result<Vec<AuditEntry>> {
        self.store.audit_log(customer, after, limit)
    }

    /// A summary of the customer base: counts, revenue per currency (exact), first and last
    /// purchase, and the `top` customers by revenue.
    ///
    /// # Examples
    ///
    /// ```
    /// use crmkit_core::{Crm, NewCustomer, NewInteraction, Money};
    /// let crm = Crm::in_memory();
    /// let c = crm.create_customer(NewCustomer::person("Bo"))?;
    /// crm.record(NewInteraction::purchase(c.id, crm.now(), Money::parse("0.10", "USD")?))?;
    /// crm.record(NewInteraction::purchase(c.id, crm.now(), Money::parse("0.20", "USD")?))?;
    /// let s = crm.summary(5)?;
    /// assert_eq!(s.revenue[0].to_string(), "0.30 USD");
    /// assert_eq!(s.top_customers[0].purchases, 2);
    /// # Ok::<(), crmkit_core::Error>(())
    /// ```
    pub fn summary(&self, top: usize) -> Result<BaseSummary> {
        let stats = self.store.stats()?;
        let cols = self.store.scan_purchases()?;
        let mut revenue: BTreeMap<Currency, Decimal> = BTreeMap::new();
        let mut per_customer: Vec<(u64, BTreeMap<Currency, Decimal>)> =
            vec![(0, BTreeMap::new()); cols.customers.len()];
        for row in 0..cols.len() {
            let currency = cols.currencies[cols.currency_index[row] as usize];
            let amount = cols.amount[row];
            *revenue.entry(currency).or_default() += amount;
            let entry = &mut per_customer[cols.customer_index[row] as usize];
            entry.0 += 1;
            *entry.1.entry(currency).or_default() += amount;
        }
        let first = cols.occurred_at_micros.iter().min().copied();
        let last = cols.occurred_at_micros.iter().max().copied();
        // Rank by the main currency (the one most purchases are in) so the ranking stays exact.
        let mut rows_per_currency = vec![0usize; cols.currencies.len()];
        for &c in &cols.currency_index {
            rows_per_currency[c as usize] += 1;
        }
        let main = (0..cols.currencies.len())
            .max_by_key(|&c| (rows_per_currency[c], std::cmp::Reverse(cols.currencies[c])))
            .map(|c| cols.currencies[c]);
        let mut ranked: Vec<usize> = (0..per_customer.len()).collect();
        let value =
            |i: usize| main.and_then(|m| per_customer[i].1.get(&m).copied()).unwrap_or_default();
        let order = |a: &usize, b: &usize| {
            value(*b).cmp(&value(*a)).then(cols.customers[*a].cmp(&cols.customers[*b]))
        };
        // Only the top few need ordering: select them first.
        if top < ranked.len() {
            ranked.select_nth_unstable_by(top, order);
            ranked.truncate(top);
        }
        ranked.sort_by(order);
        let mut top_customers = Vec::new();
        for &i in ranked.iter().take(top) {
            let customer = self.store.require_customer(cols.customers[i])?;
            top_customers.push(CustomerRevenue {
                revenue: per_customer[i].1.iter().map(|(c, a)| Money::new(*a, *c)).collect(),
                purchases: per_customer[i].0,
                customer,
            });
        }
        Ok(BaseSummary {
            customers: stats.customers,
            interactions: stats.interactions,
            purchases: cols.len() as u64,
            purchasing_customers: cols.customers.len() as u64,
            revenue: revenue.into_iter().map(|(c, a)| Money::new(a, c)).collect(),
            first_purchase: first.map(crate::time::from_micros).transpose()?,
            last_purchase: last.map(crate::time::from_micros).transpose()?,
            top_customers,
        })
    }
}

/// The customer base at a glance (see [`Crm::summary`]).
///
/// # Examples
///
/// ```
/// let s = crmkit_core::Crm::in_memory().summary(3)?;
/// assert_eq!(s.customers, 0);
/// assert!(s.first_purchase.is_none());
/// # Ok::<(), crmkit_core::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct BaseSummary {
    /// All customers (prospects included).
    pub customers: u64,
    /// All interactions.
    pub interactions: u64,
    /// Purchases.
    pub purchases: u64,
    /// Customers with at least one purchase.
    pub purchasing_customers: u64,
    /// Total purchase revenue per currency, exact.
    pub revenue: Vec<Money>,
    /// The first purchase.
    pub first_purchase: Option<DateTime<Utc>>,
    /// The last purchase.
    pub last_purchase: Option<DateTime<Utc>>,
    /// The best customers by revenue, best first.
    pub top_customers: Vec<CustomerRevenue>,
}

/// A customer and what they spent.
///
/// # Examples
///
/// ```
/// # use crmkit_core::*;
/// let crm = Crm::in_memory();
/// let c = crm.create_customer(NewCustomer::person("Bo"))?;
/// crm.record(NewInteraction::purchase(c.id, crm.now(), Money::parse("3", "GBP")?))?;
/// let top = &crm.summary(1)?.top_customers[0];
/// assert_eq!((top.customer.name.as_str(), top.revenue[0].to_string()), ("Bo", "3 GBP".to_string()));
/// # Ok::<(), crmkit_core::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct CustomerRevenue {
    /// The customer.
    pub customer: Customer,
    /// Number of purchases.
    pub purchases: u64,
    /// Revenue per currency.
    pub revenue: Vec<Money>,
}
