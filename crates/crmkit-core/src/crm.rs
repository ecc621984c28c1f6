//! The `Crm` engine: the one entry point applications use.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde_json::{Value, json};

use crate::customer::{
    AttributeValue, Channel, Consent, ConsentStatus, Customer, CustomerKind, FieldDef,
    LifecycleStage, StageChange,
};
use crate::error::{Error, Result};
use crate::identity::{IdentityKey, IdentityKind};
use crate::ids::{CustomerId, InteractionId};
use crate::interaction::{Interaction, NewInteraction};
use crate::money::{Currency, Money};
use crate::store::{
    AuditEntry, AuditRecord, BatchOutcome, CustomerQuery, MemoryStore, Page, Store, StoreExt,
    TimeRange, WriteBatch, WriteOp,
};
use crate::time::{Clock, SystemClock};

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

/// A customer to create (see [`Crm::create_customer`]). Values are validated on create.
///
/// # Examples
///
/// ```
/// use crmkit_core::{NewCustomer, LifecycleStage, AttributeValue, Channel, ConsentStatus};
/// let new = NewCustomer::person("Ada Lovelace")
///     .email("ada@example.org")
///     .phone("+44 20 7946 0018")
///     .external_id("billing", "C-1")
///     .stage(LifecycleStage::Lead)
///     .tag("newsletter")
///     .attribute("plan", AttributeValue::String("pro".into()))
///     .consent("marketing", Channel::Email, ConsentStatus::Granted)
///     .source("signup-form");
/// # let _ = new;
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct NewCustomer {
    id: Option<CustomerId>,
    kind: CustomerKind,
    name: String,
    identities: Vec<(IdentityKind, String)>,
    stage: LifecycleStage,
    tags: Vec<String>,
    attributes: BTreeMap<String, AttributeValue>,
    consents: Vec<(String, Channel, ConsentStatus)>,
    source: String,
}

impl NewCustomer {
    /// A person, in stage `prospect`.
    ///
    /// # Examples
    ///
    /// ```
    /// let _ = crmkit_core::NewCustomer::person("Ada");
    /// ```
    pub fn person(name: impl Into<String>) -> Self {
        Self::of_kind(CustomerKind::Person, name)
    }

    /// An organisation, in stage `prospect`.
    ///
    /// # Examples
    ///
    /// ```
    /// let _ = crmkit_core::NewCustomer::organisation("Initech");
    /// ```
    pub fn organisation(name: impl Into<String>) -> Self {
        Self::of_kind(CustomerKind::Organisation, name)
    }

    /// A customer of a given kind.
    ///
    /// # Examples
    ///
    /// ```
    /// let _ = crmkit_core::NewCustomer::of_kind(crmkit_core::CustomerKind::Person, "Bo");
    /// ```
    pub fn of_kind(kind: CustomerKind, name: impl Into<String>) -> Self {
        NewCustomer {
            id: None,
            kind,
            name: name.into(),
            identities: Vec::new(),
            stage: LifecycleStage::Prospect,
            tags: Vec::new(),
            attributes: BTreeMap::new(),
            consents: Vec::new(),
            source: "api".into(),
        }
    }

    /// Uses this id instead of a fresh one (for sync from another system, and tests).
    ///
    /// # Examples
    ///
    /// ```
    /// use crmkit_core::{Crm, CustomerId, NewCustomer};
    /// let id = CustomerId::from_u128(1);
    /// assert_eq!(Crm::in_memory().create_customer(NewCustomer::person("Bo").id(id))?.id, id);
    /// # Ok::<(), crmkit_core::Error>(())
    /// ```
    pub fn id(mut self, id: CustomerId) -> Self {
        self.id = Some(id);
        self
    }

    /// Adds an e-mail address.
    ///
    /// # Examples
    ///
    /// ```
    /// let _ = crmkit_core::NewCustomer::person("Bo").email("bo@example.org");
    /// ```
    pub fn email(self, email: impl Into<String>) -> Self {
        self.identity(IdentityKind::Email, email)
    }

    /// Adds a phone number.
    ///
    /// # Examples
    ///
    /// ```
    /// let _ = crmkit_core::NewCustomer::person("Bo").phone("+1 555 0100 42");
    /// ```
    pub fn phone(self, phone: impl Into<String>) -> Self {
        self.identity(IdentityKind::Phone, phone)
    }

    /// Adds an id from another system.
    ///
    /// # Examples
    ///
    /// ```
    /// let _ = crmkit_core::NewCustomer::person("Bo").external_id("shopify", "123");
    /// ```
    pub fn external_id(self, system: impl Into<String>, id: impl Into<String>) -> Self {
        self.identity(IdentityKind::External(system.into()), id)
    }

    /// Adds an identity key of any kind.
    ///
    /// # Examples
    ///
    /// ```
    /// let _ = crmkit_core::NewCustomer::person("Bo").identity(crmkit_core::IdentityKind::Email, "bo@x.org");
    /// ```
    pub fn identity(mut self, kind: IdentityKind, raw: impl Into<String>) -> Self {
        self.identities.push((kind, raw.into()));
        self
    }

    /// Sets the lifecycle stage.
    ///
    /// # Examples
    ///
    /// ```
    /// let _ = crmkit_core::NewCustomer::person("Bo").stage(crmkit_core::LifecycleStage::Customer);
    /// ```
    pub fn stage(mut self, stage: LifecycleStage) -> Self {
        self.stage = stage;
        self
    }

    /// Adds a tag.
    ///
    /// # Examples
    ///
    /// ```
    /// let _ = crmkit_core::NewCustomer::person("Bo").tag("vip");
    /// ```
    pub fn tag(mut self, tag: impl Into<String>) -> Self {
        self.tags.push(tag.into());
        self
    }

    /// Sets a custom attribute (its field must be declared).
    ///
    /// # Examples
    ///
    /// ```
    /// let _ = crmkit_core::NewCustomer::person("Bo").attribute("vip", crmkit_core::AttributeValue::Bool(true));
    /// ```
    pub fn attribute(mut self, name: impl Into<String>, value: AttributeValue) -> Self {
        self.attributes.insert(name.into(), value);
        self
    }

    /// Records a consent.
    ///
    /// # Examples
    ///
    /// ```
    /// use crmkit_core::{NewCustomer, Channel, ConsentStatus};
    /// let _ = NewCustomer::person("Bo").consent("newsletter", Channel::Email, ConsentStatus::Denied);
    /// ```
    pub fn consent(
        mut self,
        purpose: impl Into<String>,
        channel: Channel,
        status: ConsentStatus,
    ) -> Self {
        self.consents.push((purpose.into(), channel, status));
        self
    }

    /// Who or what creates the customer (for the audit log and stage history; default `api`).
    ///
    /// # Examples
    ///
    /// ```
    /// let _ = crmkit_core::NewCustomer::person("Bo").source("import:shop.csv");
    /// ```
    pub fn source(mut self, source: impl Into<String>) -> Self {
        self.source = source.into();
        self
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Change {
    Name(String),
    Kind(CustomerKind),
    Stage(LifecycleStage),
    SetAttribute(String, AttributeValue),
    RemoveAttribute(String),
    AddTag(String),
    RemoveTag(String),
    AddIdentity(IdentityKind, String),
    RemoveIdentity(IdentityKey),
    Consent(String, Channel, ConsentStatus),
}

/// Changes to apply to a customer (see [`Crm::update_customer`]), in order.
///
/// # Examples
///
/// ```
/// use crmkit_core::{CustomerUpdate, LifecycleStage};
/// let u = CustomerUpdate::new().name("Ada King").stage(LifecycleStage::Customer).remove_tag("trial");
/// assert!(!u.is_empty());
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct CustomerUpdate {
    changes: Vec<Change>,
    source: String,
}

impl Default for CustomerUpdate {
    fn default() -> Self {
        CustomerUpdate { changes: Vec::new(), source: "api".into() }
    }
}

impl CustomerUpdate {
    /// No changes yet.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(crmkit_core::CustomerUpdate::new().is_empty());
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether there are no changes.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(!crmkit_core::CustomerUpdate::new().add_tag("x").is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    fn push(mut self, c: Change) -> Self {
        self.changes.push(c);
        self
    }

    /// Renames.
    ///
    /// # Examples
    ///
    /// ```
    /// let _ = crmkit_core::CustomerUpdate::new().name("New name");
    /// ```
    pub fn name(self, name: impl Into<String>) -> Self {
        self.push(Change::Name(name.into()))
    }

    /// Changes person/organisation.
    ///
    /// # Examples
    ///
    /// ```
    /// let _ = crmkit_core::CustomerUpdate::new().kind(crmkit_core::CustomerKind::Organisation);
    /// ```
    pub fn kind(self, kind: CustomerKind) -> Self {
        self.push(Change::Kind(kind))
    }

    /// Moves to a lifecycle stage (recorded in the stage history).
    ///
    /// # Examples
    ///
    /// ```
    /// let _ = crmkit_core::CustomerUpdate::new().stage(crmkit_core::LifecycleStage::Churned);
    /// ```
    pub fn stage(self, stage: LifecycleStage) -> Self {
        self.push(Change::Stage(stage))
    }

    /// Sets an attribute (declared field, right type).
    ///
    /// # Examples
    ///
    /// ```
    /// let _ = crmkit_core::CustomerUpdate::new().attribute("seats", crmkit_core::AttributeValue::Integer(3));
    /// ```
    pub fn attribute(self, name: impl Into<String>, value: AttributeValue) -> Self {
        self.push(Change::SetAttribute(name.into(), value))
    }

    /// Removes an attribute.
    ///
    /// # Examples
    ///
    /// ```
    /// let _ = crmkit_core::CustomerUpdate::new().remove_attribute("seats");
    /// ```
    pub fn remove_attribute(self, name: impl Into<String>) -> Self {
        self.push(Change::RemoveAttribute(name.into()))
    }

    /// Adds a tag.
    ///
    /// # Examples
    ///
    /// ```
    /// let _ = crmkit_core::CustomerUpdate::new().add_tag("vip");
    /// ```
    pub fn add_tag(self, tag: impl Into<String>) -> Self {
        self.push(Change::AddTag(tag.into()))
    }

    /// Removes a tag.
    ///
    /// # Examples
    ///
    /// ```
    /// let _ = crmkit_core::CustomerUpdate::new().remove_tag("vip");
    /// ```
    pub fn remove_tag(self, tag: impl Into<String>) -> Self {
        self.push(Change::RemoveTag(tag.into()))
    }

    /// Adds an identity key (must not belong to another customer).
    ///
    /// # Examples
    ///
    /// ```
    /// let _ = crmkit_core::CustomerUpdate::new().add_identity(crmkit_core::IdentityKind::Email, "x@y.z");
    /// ```
    pub fn add_identity(self, kind: IdentityKind, raw: impl Into<String>) -> Self {
        self.push(Change::AddIdentity(kind, raw.into()))
    }

    /// Removes an identity key.
    ///
    /// # Examples
    ///
    /// ```
    /// let _ = crmkit_core::CustomerUpdate::new().remove_identity(crmkit_core::IdentityKey::email("x@y.z")?);
    /// # Ok::<(), crmkit_core::Error>(())
    /// ```
    pub fn remove_identity(self, key: IdentityKey) -> Self {
        self.push(Change::RemoveIdentity(key))
    }

    /// Records a consent status for a purpose and channel.
    ///
    /// # Examples
    ///
    /// ```
    /// use crmkit_core::{CustomerUpdate, Channel, ConsentStatus};
    /// let _ = CustomerUpdate::new().consent("newsletter", Channel::Sms, ConsentStatus::Denied);
    /// ```
    pub fn consent(
        self,
        purpose: impl Into<String>,
        channel: Channel,
        status: ConsentStatus,
    ) -> Self {
        self.push(Change::Consent(purpose.into(), channel, status))
    }

    /// Who or what makes the change (for the audit log; default `api`).
    ///
    /// # Examples
    ///
    /// ```
    /// let _ = crmkit_core::CustomerUpdate::new().source("agent:sam");
    /// ```
    pub fn source(mut self, source: impl Into<String>) -> Self {
        self.source = source.into();
        self
    }
}

pub(crate) fn validate_name(what: &str, name: &str) -> Result<()> {
    if name.is_empty()
        || name.len() > 64
        || !name.chars().all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c))
    {
        return Err(Error::validation(
            what,
            format!("{name:?}: use 1 to 64 letters, digits, _ - ."),
        ));
    }
    Ok(())
}

pub(crate) fn validate_tag(tag: &str) -> Result<String> {
    let t = tag.trim();
    if t.is_empty() || t.len() > 100 || t.chars().any(char::is_control) {
        return Err(Error::validation(
            "tag",
            format!("{tag:?}: use 1 to 100 printable characters"),
        ));
    }
    Ok(t.to_owned())
}

pub(crate) fn check_attribute(
    fields: &HashMap<String, FieldDef>,
    name: &str,
    value: &AttributeValue,
) -> Result<()> {
    let def = fields.get(name).ok_or_else(|| {
        Error::validation(
            format!("attributes.{name}"),
            "is not a declared field (declare it with define_field first)",
        )
    })?;
    if def.field_type != value.field_type() {
        return Err(Error::validation(
            format!("attributes.{name}"),
            format!("expected a {}, got a {} ({value})", def.field_type, value.field_type()),
        ));
    }
    Ok(())
}

fn set_consent(
    consents: &mut Vec<Consent>,
    purpose: String,
    channel: Channel,
    status: ConsentStatus,
    at: DateTime<Utc>,
    source: &str,
) -> Result<()> {
    let purpose = purpose.trim().to_owned();
    if purpose.is_empty() {
        return Err(Error::validation("consent purpose", "is empty"));
    }
    consents.retain(|c| !(c.purpose == purpose && c.channel == channel));
    consents.push(Consent { purpose, channel, status, at, source: source.to_owned() });
    consents.sort_by(|a, b| (&a.purpose, &a.channel).cmp(&(&b.purpose, &b.channel)));
    Ok(())
}

/// One audit record per changed field.
pub(crate) fn diff(
    old: &Customer,
    new: &Customer,
    at: DateTime<Utc>,
    actor: &str,
) -> Vec<AuditRecord> {
    let mut out = Vec::new();
    let mut push = |field: String, o: Option<Value>, n: Option<Value>| {
        if o != n {
            out.push(AuditRecord {
                customer: old.id,
                at,
                actor: actor.to_owned(),
                field,
                old: o,
                new: n,
            });
        }
    };
    push("name".into(), Some(json!(old.name)), Some(json!(new.name)));
    push("kind".into(), Some(json!(old.kind)), Some(json!(new.kind)));
    push("stage".into(), Some(json!(old.stage)), Some(json!(new.stage)));
    push("identities".into(), Some(json!(old.identities)), Some(json!(new.identities)));
    push("tags".into(), Some(json!(old.tags)), Some(json!(new.tags)));
    let names: std::collections::BTreeSet<&String> =
        old.attributes.keys().chain(new.attributes.keys()).collect();
    for name in names {
        push(
            format!("attributes.{name}"),
            old.attributes.get(name).map(|v| json!(v)),
            new.attributes.get(name).map(|v| json!(v)),
        );
    }
    // Compare by (purpose, channel) itself: the field name alone can be ambiguous
    // ("a" over "b.email" and "a.b" over "email" both read consent.a.b.email).
    let keys: std::collections::BTreeSet<(&str, &Channel)> = old
        .consents
        .iter()
        .chain(new.consents.iter())
        .map(|c| (c.purpose.as_str(), &c.channel))
        .collect();
    for (purpose, channel) in keys {
        let find = |cs: &[Consent]| {
            cs.iter()
                .find(|c| c.purpose == purpose && &c.channel == channel)
                .map(|c| json!(c.status))
        };
        push(format!("consent.{purpose}.{channel}"), find(&old.consents), find(&new.consents));
    }
    out
}
