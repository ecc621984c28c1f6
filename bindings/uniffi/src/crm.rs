//! `Crm`: the one object that crosses the FFI.

use std::sync::Arc;
use std::time::SystemTime;

use crate::convert::{count, customer_id, from_time, from_time_opt, to_time};
use crate::customer::{
    Customer, CustomerChange, CustomerPage, CustomerQuery, FieldDef, IdentityKey, NewCustomer,
    update,
};
use crate::error::{CrmError, CrmResult, guard};
use crate::import::{
    CustomerMapping, ImportListener, ImportOptions, ImportReport, ImportSource, Importer,
    InteractionMapping,
};
use crate::interaction::{Interaction, Money, NewInteraction};
use crate::value::{
    CustomerScore, HoldoutCheck, ValueExplanation, ValueFit, ValueModel, ValueOptions,
};

/// A CRM on a SQLite database: the one object of the bindings. Everything else is a plain value.
///
/// Safe to share between threads: calls from several threads run concurrently (SQLite in WAL
/// mode: readers do not wait for the writer). Close it when done (Kotlin `close()` or `use {}`;
/// Swift releases it with its last reference); the database is closed once the last call in
/// flight returns.
#[derive(Debug, uniffi::Object)]
pub struct Crm {
    pub(crate) inner: crmkit::Crm,
    path: Option<String>,
}

/// An audit entry: one changed field of a customer.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct AuditEntry {
    /// Position in the log (increasing): pass the last one seen as `after` to read on.
    pub seq: u64,
    /// The customer.
    pub customer_id: String,
    /// When.
    pub at: SystemTime,
    /// Who or what made the change (`"app"`, `"import:orders.csv"`...).
    pub actor: String,
    /// The field (`"name"`, `"stage"`, `"attributes.plan"`, `"customer"` for the creation).
    pub field: String,
    /// The value before, as JSON text; `null` if there was none.
    pub old_json: Option<String>,
    /// The value after, as JSON text; `null` if removed.
    pub new_json: Option<String>,
}

impl From<crmkit::AuditEntry> for AuditEntry {
    fn from(e: crmkit::AuditEntry) -> Self {
        let crmkit::AuditEntry { seq, customer, at, actor, field, old, new } = e;
        AuditEntry {
            seq,
            customer_id: customer.to_string(),
            at: to_time(at),
            actor,
            field,
            old_json: old.map(|v| v.to_string()),
            new_json: new.map(|v| v.to_string()),
        }
    }
}

/// A customer and what they spent.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct CustomerRevenue {
    /// The customer.
    pub customer: Customer,
    /// Number of purchases.
    pub purchases: u64,
    /// Revenue per currency, exact.
    pub revenue: Vec<Money>,
}

/// The customer base at a glance.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct BaseSummary {
    /// All customers, prospects included.
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
    pub first_purchase: Option<SystemTime>,
    /// The last purchase.
    pub last_purchase: Option<SystemTime>,
    /// The best customers by revenue, best first.
    pub top_customers: Vec<CustomerRevenue>,
}

impl From<crmkit::BaseSummary> for BaseSummary {
    fn from(s: crmkit::BaseSummary) -> Self {
        let crmkit::BaseSummary {
            customers,
            interactions,
            purchases,
            purchasing_customers,
            revenue,
            first_purchase,
            last_purchase,
            top_customers,
        } = s;
        BaseSummary {
            customers,
            interactions,
            purchases,
            purchasing_customers,
            revenue: revenue.into_iter().map(Into::into).collect(),
            first_purchase: first_purchase.map(to_time),
            last_purchase: last_purchase.map(to_time),
            top_customers: top_customers
                .into_iter()
                .map(|t| {
                    let crmkit::CustomerRevenue { customer, purchases, revenue } = t;
                    CustomerRevenue {
                        customer: customer.into(),
                        purchases,
                        revenue: revenue.into_iter().map(Into::into).collect(),
                    }
                })
                .collect(),
        }
    }
}

// Segments, playbooks and tasks (`automation.rs`) and events (`event.rs`) are further
// `#[uniffi::export] impl Crm` blocks next to their records.

#[uniffi::export]
impl Crm {
    /// Opens (creating if needed) a CRM on a SQLite database file.
    #[uniffi::constructor]
    pub fn open(path: String) -> CrmResult<Arc<Crm>> {
        guard(|| {
            let inner = crmkit::Crm::open(&path)?;
            Ok(Arc::new(Crm { inner, path: Some(path) }))
        })
    }

    /// A CRM on a fresh in-memory SQLite database (gone when closed): for tests and previews.
    #[uniffi::constructor]
    pub fn open_in_memory() -> CrmResult<Arc<Crm>> {
        guard(|| {
            let inner = crmkit::Crm::open_in_memory()?;
            Ok(Arc::new(Crm { inner, path: None }))
        })
    }

    /// The database file; `null` in memory.
    pub fn path(&self) -> Option<String> {
        self.path.clone()
    }

    /// Declares a custom field. Declaring it again with the same type does nothing; with
    /// another type it is a `Conflict`.
    pub fn define_field(&self, field: FieldDef) -> CrmResult<()> {
        guard(|| {
            Ok(self
                .inner
                .define_field(crmkit::FieldDef::new(field.name, field.field_type.into()))?)
        })
    }

    /// The declared custom fields.
    pub fn fields(&self) -> CrmResult<Vec<FieldDef>> {
        guard(|| Ok(self.inner.fields()?.into_iter().map(Into::into).collect()))
    }

    /// Creates a customer. Fails, writing nothing, if a value is invalid (`Validation`) or an
    /// identity key belongs to someone else (`Conflict`).
    pub fn create_customer(&self, customer: NewCustomer) -> CrmResult<Customer> {
        guard(|| Ok(self.inner.create_customer(customer.into_core()?)?.into()))
    }

    /// Applies changes to a customer, in order; every changed field gets an audit entry. A
    /// change that changes nothing writes nothing. A concurrent change of the same customer is
    /// a `Conflict` (read it again and retry).
    #[uniffi::method(default(source = "app"))]
    pub fn update_customer(
        &self,
        id: String,
        changes: Vec<CustomerChange>,
        source: String,
    ) -> CrmResult<Customer> {
        guard(|| {
            let id = customer_id(&id)?;
            Ok(self.inner.update_customer(id, update(changes, source)?)?.into())
        })
    }

    /// A customer by id, or `NotFound`.
    pub fn customer(&self, id: String) -> CrmResult<Customer> {
        guard(|| Ok(self.inner.customer(customer_id(&id)?)?.into()))
    }

    /// A customer by id or by identity key text (`email:…`, `phone:…`, `ext:SYSTEM:ID`, or a
    /// bare e-mail address), or `NotFound`.
    pub fn lookup(&self, id_or_key: String) -> CrmResult<Customer> {
        guard(|| Ok(self.inner.lookup(&id_or_key)?.into()))
    }

    /// The customer holding an identity key, if any.
    pub fn find(&self, key: IdentityKey) -> CrmResult<Option<Customer>> {
        guard(|| Ok(self.inner.find(&key.try_into()?)?.map(Into::into)))
    }

    /// One page of customers, ordered by id.
    pub fn list_customers(&self, query: CustomerQuery) -> CrmResult<CustomerPage> {
        guard(|| Ok(self.inner.list_customers(&query.into_core()?)?.into()))
    }

    /// Records an interaction. Returns its id, or `null` if its idempotency key was already
    /// recorded (nothing written).
    pub fn record(&self, interaction: NewInteraction) -> CrmResult<Option<u64>> {
        guard(|| Ok(self.inner.record(interaction.into_core()?)?.map(|id| id.0)))
    }

    /// Records interactions atomically: all or none. Per interaction: its id, or `null` where
    /// its idempotency key was already recorded.
    pub fn record_all(&self, interactions: Vec<NewInteraction>) -> CrmResult<Vec<Option<u64>>> {
        guard(|| {
            let batch = interactions
                .into_iter()
                .map(NewInteraction::into_core)
                .collect::<CrmResult<Vec<_>>>()?;
            Ok(self
                .inner
                .record_all(batch)?
                .appended
                .into_iter()
                .map(|a| a.map(|id| id.0))
                .collect())
        })
    }

    /// A customer's interactions from `from` (inclusive) to `to` (exclusive), oldest first.
    #[uniffi::method(default(from = None, to = None))]
    pub fn interactions(
        &self,
        customer_id: String,
        from: Option<SystemTime>,
        to: Option<SystemTime>,
    ) -> CrmResult<Vec<Interaction>> {
        guard(|| {
            let mut range = crmkit::TimeRange::new();
            if let Some(t) = from_time_opt("from", from)? {
                range = range.from(t);
            }
            if let Some(t) = from_time_opt("to", to)? {
                range = range.to(t);
            }
            let id = crate::convert::customer_id(&customer_id)?;
            Ok(self.inner.interactions(id, range)?.into_iter().map(Into::into).collect())
        })
    }

    /// Imports interactions (purchases, e-mails, visits...), streaming, in atomic batches.
    /// Importing the same rows again writes nothing: rows get idempotency keys.
    #[uniffi::method(default(listener = None))]
    pub fn import_interactions(
        &self,
        source: ImportSource,
        mapping: InteractionMapping,
        options: ImportOptions,
        listener: Option<Arc<dyn ImportListener>>,
    ) -> CrmResult<ImportReport> {
        guard(|| {
            crate::import::run(
                &self.inner,
                source,
                Importer::Interactions(mapping),
                options,
                listener,
            )
        })
    }

    /// Imports customers, upserting on the mapping's key: a new key creates a customer, a known
    /// one updates it (only what changed, with audit entries).
    #[uniffi::method(default(listener = None))]
    pub fn import_customers(
        &self,
        source: ImportSource,
        mapping: CustomerMapping,
        options: ImportOptions,
        listener: Option<Arc<dyn ImportListener>>,
    ) -> CrmResult<ImportReport> {
        guard(|| {
            crate::import::run(&self.inner, source, Importer::Customers(mapping), options, listener)
        })
    }

    /// Fits the customer-value models on the stored purchases up to `options.asOf`, scores
    /// every customer who bought by then, and stores both as a new model version.
    pub fn fit_value(&self, options: ValueOptions) -> CrmResult<ValueFit> {
        guard(|| {
            let report = self.inner.fit_value(&options.into_core()?)?;
            Ok(ValueFit {
                model: ValueModel::new(report.record, &report.models),
                customers_scored: count(report.scores.len()),
                other_currency_rows: count(report.other_currency_rows),
            })
        })
    }

    /// A stored model version (`null`: the latest), or `null` if nothing was fitted.
    #[uniffi::method(default(version = None))]
    pub fn value_model(&self, version: Option<u64>) -> CrmResult<Option<ValueModel>> {
        guard(|| {
            Ok(self
                .inner
                .value_models(version)?
                .map(|(record, models)| ValueModel::new(record, &models)))
        })
    }

    /// A customer's latest scores, or `null` if they have none (no fit yet, or no purchase).
    pub fn score(&self, customer_id: String) -> CrmResult<Option<CustomerScore>> {
        guard(|| {
            let id = crate::convert::customer_id(&customer_id)?;
            Ok(self.inner.store().score(id)?.map(Into::into))
        })
    }

    /// Every customer's latest scores.
    pub fn scores(&self) -> CrmResult<Vec<CustomerScore>> {
        guard(|| Ok(self.inner.store().all_scores()?.into_iter().map(Into::into).collect()))
    }

    /// The customers with the highest CLV (expected purchases where there is no CLV), best first.
    pub fn top_scores(&self, limit: u32) -> CrmResult<Vec<CustomerScore>> {
        guard(|| {
            let mut scores = self.inner.store().all_scores()?;
            let value = |s: &crmkit::CustomerScore| s.clv.unwrap_or(s.expected_purchases);
            scores.sort_by(|a, b| value(b).total_cmp(&value(a)).then(a.customer.cmp(&b.customer)));
            scores.truncate(limit as usize);
            Ok(scores.into_iter().map(Into::into).collect())
        })
    }

    /// Explains a customer's value from their latest scores, or `NotFound` if they have none.
    pub fn explain_value(&self, customer_id: String) -> CrmResult<ValueExplanation> {
        guard(|| {
            let e = self.inner.explain_value(crate::convert::customer_id(&customer_id)?)?;
            let models =
                self.inner.value_models(Some(e.model.version))?.map(|(_, m)| m).ok_or_else(
                    || CrmError::NotFound {
                        message: format!("model version {} not found", e.model.version),
                    },
                )?;
            Ok(ValueExplanation {
                score: e.score.into(),
                model: ValueModel::new(e.model, &models),
                clv_horizon_purchases: e.clv_horizon_purchases,
                discount_factor: e.discount_factor,
                text: e.text,
            })
        })
    }

    /// Fits the repeat-purchase model on the purchases up to `calibrationEnd` and compares its
    /// forecast up to `options.asOf` with what happened. Stores nothing.
    pub fn holdout_check(
        &self,
        calibration_end: SystemTime,
        options: ValueOptions,
    ) -> CrmResult<HoldoutCheck> {
        guard(|| {
            let end = from_time("calibration_end", calibration_end)?;
            Ok(self.inner.holdout_check(end, &options.into_core()?)?.into())
        })
    }

    /// Audit entries after `after` (0: from the start), oldest first; one customer's if given.
    #[uniffi::method(default(customer_id = None, after = 0, limit = 100))]
    pub fn audit_log(
        &self,
        customer_id: Option<String>,
        after: u64,
        limit: u32,
    ) -> CrmResult<Vec<AuditEntry>> {
        guard(|| {
            let customer = customer_id.as_deref().map(crate::convert::customer_id).transpose()?;
            Ok(self
                .inner
                .audit_log(customer, after, limit as usize)?
                .into_iter()
                .map(Into::into)
                .collect())
        })
    }

    /// Counts, exact revenue per currency, first and last purchase, and the `top` customers by
    /// revenue.
    #[uniffi::method(default(top = 10))]
    pub fn summary(&self, top: u32) -> CrmResult<BaseSummary> {
        guard(|| Ok(self.inner.summary(top as usize)?.into()))
    }
}
