//! The records the CRM returns, as immutable Python classes.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};

use chrono::{DateTime, Utc};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use rust_decimal::Decimal;
use uuid::Uuid;

use crate::convert::{attribute_to_py, json_to_py, uuid_of};
use crate::error::crm_error;

/// An exact amount of money in one currency.
///
/// ``amount`` is a :class:`decimal.Decimal` (never a float); ``currency`` an ISO 4217 code.
///
/// >>> from decimal import Decimal
/// >>> from crmkit import Money
/// >>> m = Money("49.90", "eur")
/// >>> (m.amount, m.currency, str(m))
/// (Decimal('49.90'), 'EUR', '49.90 EUR')
/// >>> Money(Decimal("49.90"), "EUR") == m
/// True
#[pyclass(frozen, module = "crmkit._crmkit", name = "Money")]
pub struct PyMoney {
    pub(crate) inner: crmkit::Money,
}

#[pymethods]
impl PyMoney {
    #[new]
    fn new(amount: &Bound<'_, PyAny>, currency: &str) -> PyResult<PyMoney> {
        Ok(PyMoney { inner: crate::convert::money(amount, currency, "amount")? })
    }

    /// The amount, exact.
    #[getter]
    fn amount(&self) -> Decimal {
        self.inner.amount
    }

    /// The ISO 4217 currency code.
    #[getter]
    fn currency(&self) -> String {
        self.inner.currency.code().to_owned()
    }

    fn __str__(&self) -> String {
        self.inner.to_string()
    }

    fn __repr__(&self) -> String {
        format!("Money('{}', '{}')", self.inner.amount, self.inner.currency)
    }

    fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
        other.cast::<PyMoney>().is_ok_and(|o| o.get().inner == self.inner)
    }

    fn __hash__(&self) -> u64 {
        let mut h = DefaultHasher::new();
        self.inner.amount.normalize().hash(&mut h);
        self.inner.currency.code().hash(&mut h);
        h.finish()
    }
}

/// Money as its Python class.
pub(crate) fn money_py(py: Python<'_>, m: crmkit::Money) -> PyResult<Py<PyMoney>> {
    Py::new(py, PyMoney { inner: m })
}

/// A customer or prospect: identity keys, lifecycle stage, typed attributes, tags, consents.
///
/// Returned by :meth:`Crm.create_customer`, :meth:`Crm.lookup` and the other customer methods;
/// immutable (change it with :meth:`Crm.update_customer`).
#[pyclass(frozen, module = "crmkit._crmkit")]
pub struct Customer {
    pub(crate) inner: crmkit::Customer,
}

#[pymethods]
impl Customer {
    /// The customer id.
    #[getter]
    fn id(&self) -> Uuid {
        uuid_of(self.inner.id)
    }

    /// ``"person"`` or ``"organisation"``.
    #[getter]
    fn kind(&self) -> String {
        self.inner.kind.to_string()
    }

    /// The display name.
    #[getter]
    fn name(&self) -> String {
        self.inner.name.clone()
    }

    /// The normalised identity keys (``email:…``, ``phone:…``, ``ext:SYSTEM:ID``), sorted.
    #[getter]
    fn identities(&self) -> Vec<String> {
        self.inner.identities.iter().map(ToString::to_string).collect()
    }

    /// The e-mail address (normalised), if any.
    #[getter]
    fn email(&self) -> Option<String> {
        self.inner.identity(&crmkit::IdentityKind::Email).map(|k| k.value().to_owned())
    }

    /// The phone number (normalised), if any.
    #[getter]
    fn phone(&self) -> Option<String> {
        self.inner.identity(&crmkit::IdentityKind::Phone).map(|k| k.value().to_owned())
    }

    /// The lifecycle stage (``prospect``, ``lead``, ``customer``, ``churned`` or your own).
    #[getter]
    fn stage(&self) -> String {
        self.inner.stage.to_string()
    }

    /// Every stage change, oldest first: dicts with ``from``, ``to``, ``at``, ``source``.
    #[getter]
    fn stage_history<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let list = PyList::empty(py);
        for s in &self.inner.stage_history {
            let d = PyDict::new(py);
            d.set_item("from", s.from.as_ref().map(ToString::to_string))?;
            d.set_item("to", s.to.to_string())?;
            d.set_item("at", s.at)?;
            d.set_item("source", &s.source)?;
            list.append(d)?;
        }
        Ok(list)
    }

    /// The custom attributes: ``{name: value}`` with str, int, bool, Decimal, date, datetime or
    /// list-of-str values.
    #[getter]
    fn attributes<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        for (k, v) in &self.inner.attributes {
            d.set_item(k, attribute_to_py(py, v)?)?;
        }
        Ok(d)
    }

    /// The tags, sorted.
    #[getter]
    fn tags(&self) -> Vec<String> {
        self.inner.tags.iter().cloned().collect()
    }

    /// The recorded consents: dicts with ``purpose``, ``channel``, ``status``, ``at``, ``source``.
    #[getter]
    fn consents<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let list = PyList::empty(py);
        for c in &self.inner.consents {
            let d = PyDict::new(py);
            d.set_item("purpose", &c.purpose)?;
            d.set_item("channel", c.channel.to_string())?;
            d.set_item("status", c.status.to_string())?;
            d.set_item("at", c.at)?;
            d.set_item("source", &c.source)?;
            list.append(d)?;
        }
        Ok(list)
    }

    /// The consent status (``granted``, ``denied`` or ``unknown``) for a purpose on a channel.
    fn consent(&self, purpose: &str, channel: &str) -> PyResult<String> {
        let channel: crmkit::Channel = channel.parse().map_err(|e| crm_error(&e))?;
        Ok(self.inner.consent(purpose, &channel).to_string())
    }

    /// When the customer was created (UTC).
    #[getter]
    fn created_at(&self) -> DateTime<Utc> {
        self.inner.created_at
    }

    /// When the customer was last changed (UTC).
    #[getter]
    fn updated_at(&self) -> DateTime<Utc> {
        self.inner.updated_at
    }

    /// The revision, 1 on creation and one more on each change.
    #[getter]
    fn revision(&self) -> u64 {
        self.inner.revision
    }

    fn __repr__(&self) -> String {
        format!(
            "Customer(id={}, name={:?}, stage={:?}, identities={:?})",
            self.inner.id,
            self.inner.name,
            self.inner.stage.as_str(),
            self.identities()
        )
    }

    fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
        other.cast::<Customer>().is_ok_and(|o| o.get().inner == self.inner)
    }

    fn __hash__(&self) -> u64 {
        let mut h = DefaultHasher::new();
        self.inner.id.to_bytes().hash(&mut h);
        self.inner.revision.hash(&mut h);
        h.finish()
    }
}

/// One recorded interaction (a purchase, refund, e-mail, call, meeting, ticket, visit, note or
/// your own kind).
#[pyclass(frozen, module = "crmkit._crmkit")]
pub struct Interaction {
    pub(crate) inner: crmkit::Interaction,
}

#[pymethods]
impl Interaction {
    /// The interaction id (assigned by the store in append order).
    #[getter]
    fn id(&self) -> u64 {
        self.inner.id.0
    }

    /// The customer's id.
    #[getter]
    fn customer(&self) -> Uuid {
        uuid_of(self.inner.customer)
    }

    /// When it happened (UTC).
    #[getter]
    fn occurred_at(&self) -> DateTime<Utc> {
        self.inner.occurred_at
    }

    /// The kind: ``purchase``, ``refund``, ``email``, ``call``, ``meeting``, ``ticket_opened``,
    /// ``ticket_resolved``, ``web_visit``, ``note`` or a custom name.
    #[getter]
    fn kind(&self) -> String {
        self.inner.kind.name().to_owned()
    }

    /// The total of a purchase or refund, exact; ``None`` for other kinds.
    #[getter]
    fn amount(&self, py: Python<'_>) -> PyResult<Option<Py<PyMoney>>> {
        self.inner.amount().map(|m| money_py(py, *m)).transpose()
    }

    /// Line items of a purchase or refund: dicts with ``sku``, ``quantity`` (Decimal) and
    /// ``unit_price`` (Money).
    #[getter]
    fn items<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let list = PyList::empty(py);
        if let crmkit::InteractionKind::Purchase { items, .. }
        | crmkit::InteractionKind::Refund { items, .. } = &self.inner.kind
        {
            for item in items {
                let d = PyDict::new(py);
                d.set_item("sku", &item.sku)?;
                d.set_item("quantity", item.quantity)?;
                d.set_item("unit_price", money_py(py, item.unit_price)?)?;
                list.append(d)?;
            }
        }
        Ok(list)
    }

    /// The kind's own fields (``direction``, ``subject``, ``duration_secs``, ``outcome``,
    /// ``ticket``, ``url``, ``text``, ``name``), as a dict.
    #[getter]
    fn details<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        if let Ok(serde_json::Value::Object(map)) = serde_json::to_value(&self.inner.kind) {
            for (k, v) in &map {
                if k != "type" && k != "total" && k != "items" {
                    d.set_item(k, json_to_py(py, v)?)?;
                }
            }
        }
        Ok(d)
    }

    /// The channel, if recorded.
    #[getter]
    fn channel(&self) -> Option<String> {
        self.inner.channel.as_ref().map(ToString::to_string)
    }

    /// Free-form properties.
    #[getter]
    fn properties<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        for (k, v) in &self.inner.properties {
            d.set_item(k, json_to_py(py, v)?)?;
        }
        Ok(d)
    }

    /// The idempotency key, if any.
    #[getter]
    fn idempotency_key(&self) -> Option<String> {
        self.inner.idempotency_key.clone()
    }

    fn __repr__(&self) -> String {
        let amount = self.inner.amount().map(|m| format!(", amount={m}")).unwrap_or_default();
        format!(
            "Interaction(id={}, kind={:?}, occurred_at={}{amount})",
            self.inner.id,
            self.inner.kind.name(),
            self.inner.occurred_at.to_rfc3339()
        )
    }

    fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
        other.cast::<Interaction>().is_ok_and(|o| o.get().inner == self.inner)
    }
}

/// What an import did.
#[pyclass(frozen, get_all, module = "crmkit._crmkit")]
pub struct ImportReport {
    /// Data rows read.
    pub rows_read: u64,
    /// Interactions written.
    pub interactions_written: u64,
    /// Interactions skipped because already imported (idempotency).
    pub duplicates_skipped: u64,
    /// Customers created.
    pub customers_created: u64,
    /// Customers updated.
    pub customers_updated: u64,
    /// Rows sent to the rejects file.
    pub rejected: u64,
    /// Batches committed.
    pub batches: u64,
}

#[pymethods]
impl ImportReport {
    fn __repr__(&self) -> String {
        format!(
            "ImportReport(rows_read={}, interactions_written={}, duplicates_skipped={}, customers_created={}, customers_updated={}, rejected={}, batches={})",
            self.rows_read,
            self.interactions_written,
            self.duplicates_skipped,
            self.customers_created,
            self.customers_updated,
            self.rejected,
            self.batches
        )
    }
}

impl From<crmkit::ImportReport> for ImportReport {
    fn from(r: crmkit::ImportReport) -> ImportReport {
        ImportReport {
            rows_read: r.rows_read,
            interactions_written: r.interactions_written,
            duplicates_skipped: r.duplicates_skipped,
            customers_created: r.customers_created,
            customers_updated: r.customers_updated,
            rejected: r.rejected,
            batches: r.batches,
        }
    }
}

/// A customer and what they spent (see :attr:`BaseSummary.top_customers`).
#[pyclass(frozen, get_all, module = "crmkit._crmkit")]
pub struct CustomerRevenue {
    /// The customer.
    pub customer: Py<Customer>,
    /// Number of purchases.
    pub purchases: u64,
    /// Revenue per currency, exact.
    pub revenue: Vec<Py<PyMoney>>,
}

/// The customer base at a glance (see :meth:`Crm.summary`).
#[pyclass(frozen, get_all, module = "crmkit._crmkit")]
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
    pub revenue: Vec<Py<PyMoney>>,
    /// The first purchase.
    pub first_purchase: Option<DateTime<Utc>>,
    /// The last purchase.
    pub last_purchase: Option<DateTime<Utc>>,
    /// The best customers by revenue, best first.
    pub top_customers: Vec<Py<CustomerRevenue>>,
}

#[pymethods]
impl BaseSummary {
    fn __repr__(&self) -> String {
        format!(
            "BaseSummary(customers={}, interactions={}, purchases={}, purchasing_customers={})",
            self.customers, self.interactions, self.purchases, self.purchasing_customers
        )
    }
}

impl BaseSummary {
    /// Converts the engine's summary.
    pub(crate) fn from_core(py: Python<'_>, s: crmkit::BaseSummary) -> PyResult<BaseSummary> {
        let revenue = s.revenue.into_iter().map(|m| money_py(py, m)).collect::<PyResult<_>>()?;
        let mut top = Vec::new();
        for c in s.top_customers {
            top.push(Py::new(
                py,
                CustomerRevenue {
                    customer: Py::new(py, Customer { inner: c.customer })?,
                    purchases: c.purchases,
                    revenue: c
                        .revenue
                        .into_iter()
                        .map(|m| money_py(py, m))
                        .collect::<PyResult<_>>()?,
                },
            )?);
        }
        Ok(BaseSummary {
            customers: s.customers,
            interactions: s.interactions,
            purchases: s.purchases,
            purchasing_customers: s.purchasing_customers,
            revenue,
            first_purchase: s.first_purchase,
            last_purchase: s.last_purchase,
            top_customers: top,
        })
    }
}

/// One entry of the audit log.
#[pyclass(frozen, module = "crmkit._crmkit")]
pub struct AuditEntry {
    pub(crate) inner: crmkit::AuditEntry,
}

#[pymethods]
impl AuditEntry {
    /// Sequence number (increasing).
    #[getter]
    fn seq(&self) -> u64 {
        self.inner.seq
    }

    /// The customer.
    #[getter]
    fn customer(&self) -> Uuid {
        uuid_of(self.inner.customer)
    }

    /// When.
    #[getter]
    fn at(&self) -> DateTime<Utc> {
        self.inner.at
    }

    /// Who (``api``, ``import:FILE``, …).
    #[getter]
    fn actor(&self) -> String {
        self.inner.actor.clone()
    }

    /// The field that changed (``customer`` for the creation).
    #[getter]
    fn field(&self) -> String {
        self.inner.field.clone()
    }

    /// The value before, if any.
    #[getter(old)]
    fn old_value<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        match &self.inner.old {
            Some(v) => json_to_py(py, v),
            None => Ok(py.None().into_bound(py)),
        }
    }

    /// The value after, if any.
    #[getter(new)]
    fn new_value<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        match &self.inner.new {
            Some(v) => json_to_py(py, v),
            None => Ok(py.None().into_bound(py)),
        }
    }

    fn __repr__(&self) -> String {
        format!(
            "AuditEntry(seq={}, field={:?}, actor={:?})",
            self.inner.seq, self.inner.field, self.inner.actor
        )
    }
}

/// One page of customers (see :meth:`Crm.list_customers`); pass ``next`` as ``after`` for the
/// following page.
#[pyclass(frozen, get_all, module = "crmkit._crmkit")]
pub struct CustomerPage {
    /// The customers on this page.
    pub items: Vec<Py<Customer>>,
    /// The id to continue after, or ``None`` on the last page.
    pub next: Option<Uuid>,
}

#[pymethods]
impl CustomerPage {
    fn __len__(&self) -> usize {
        self.items.len()
    }

    fn __repr__(&self) -> String {
        format!("CustomerPage(items={}, next={:?})", self.items.len(), self.next)
    }
}
