//! `crmkit.Crm`: the CRM engine on a SQLite file or in memory.

use std::fs::File;
use std::io::BufWriter;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};

use chrono::{DateTime, Utc};

use crmkit::{
    Channel, ConsentStatus, CustomerField, CustomerKind, CustomerMapping, CustomerQuery,
    CustomerUpdate, Direction, FixedClock, IdentityKey, IdentityKind, ImportOptions, InputFormat,
    InteractionField, InteractionKind, InteractionMapping, LifecycleStage, LineItem, NewCustomer,
};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyTuple};

use crate::automation::{
    Event, Membership, MembershipDiff, Playbook, Segment, SegmentExplanation, Subscription,
    SubscriptionSlot, Task, action_from_py, deliver, rule_from_py, segment_kind, task_id,
};
use crate::convert::{
    attribute_from_py, customer_id, decimal, instant, money, opt_instant, py_to_json, uuid_of,
};
use crate::error::{CrmError, Failure, crm_error, invalid, without_gil};
use crate::records::{AuditEntry, BaseSummary, Customer, CustomerPage, ImportReport, Interaction};
use crate::value::{HoldoutCheck, ModelRecord, ValueExplanation, ValueReport, value_options};

/// Locks a mutex, recovering from poisoning (the data are plain lists and options).
fn lock_ignoring_poison<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    }
}

/// Parses a value of a domain enum, mapping the error.
fn parse<T: std::str::FromStr<Err = crmkit::Error>>(text: &str) -> PyResult<T> {
    text.parse::<T>().map_err(|e| crm_error(&e))
}

/// The CRM: customers, their interactions, imports, and customer value, on one store.
///
/// ``Crm(path)`` opens (creating if needed) a SQLite database file; ``Crm()`` or
/// ``Crm(":memory:")`` a fresh in-memory SQLite database; :meth:`Crm.in_memory` the pure-Rust
/// memory store. Use it as a context manager, or call :meth:`close`.
///
/// Every method releases the GIL while Rust works, so threads can share one ``Crm``.
///
/// >>> from datetime import datetime, timezone
/// >>> from crmkit import Crm, NewInteraction
/// >>> with Crm() as crm:
/// ...     ada = crm.create_customer("Ada Lovelace", email="Ada@Example.org", tags=["vip"])
/// ...     _ = crm.record(NewInteraction.purchase(ada, datetime(2024, 5, 1, tzinfo=timezone.utc), "49.90", "EUR"))
/// ...     crm.lookup("ada@example.org").name, str(crm.summary().revenue[0])
/// ('Ada Lovelace', '49.90 EUR')
#[pyclass(frozen, module = "crmkit._crmkit", name = "Crm")]
pub struct PyCrm {
    inner: Mutex<Option<crmkit::Crm>>,
    path: Option<String>,
    /// The fixed clock of ``now=`` (moved by :meth:`advance_to`), or `None` for the system clock.
    clock: Option<Arc<FixedClock>>,
    /// The subscriptions made through this object, ended on close.
    subscriptions: Mutex<Vec<SubscriptionSlot>>,
}

impl PyCrm {
    /// The engine (a cheap clone), or an error once closed. The lock is held only for the clone.
    fn crm(&self) -> PyResult<crmkit::Crm> {
        let guard = match self.inner.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        guard.clone().ok_or_else(|| CrmError::new_err("this Crm is closed"))
    }

    fn wrap(crm: crmkit::Crm, path: Option<String>, now: Option<DateTime<Utc>>) -> PyCrm {
        let clock = now.map(|t| Arc::new(FixedClock::new(t)));
        let crm = match &clock {
            Some(c) => crm.with_clock(c.clone()),
            None => crm,
        };
        PyCrm { inner: Mutex::new(Some(crm)), path, clock, subscriptions: Mutex::new(Vec::new()) }
    }
}

#[pymethods]
impl PyCrm {
    #[new]
    #[pyo3(signature = (path=None, *, now=None))]
    fn new(
        py: Python<'_>,
        path: Option<PathBuf>,
        now: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<PyCrm> {
        match path {
            Some(p) if p.as_os_str() != ":memory:" => Self::open(py, p, now),
            _ => Self::open_in_memory(py, now),
        }
    }

    /// Opens (creating if needed) a CRM on a SQLite database file. ``now`` fixes the engine's
    /// clock at that instant (as the CLI's ``--now``), for reproducible relative rules;
    /// :meth:`advance_to` moves it.
    #[staticmethod]
    #[pyo3(signature = (path, *, now=None))]
    fn open(py: Python<'_>, path: PathBuf, now: Option<&Bound<'_, PyAny>>) -> PyResult<PyCrm> {
        let now = opt_instant(now, "now")?;
        let shown = path.display().to_string();
        let crm = without_gil(py, move || Ok(crmkit::Crm::open(&path)?))?;
        Ok(PyCrm::wrap(crm, Some(shown), now))
    }

    /// A CRM on a fresh in-memory SQLite database (``now`` as for :meth:`open`).
    #[staticmethod]
    #[pyo3(signature = (*, now=None))]
    fn open_in_memory(py: Python<'_>, now: Option<&Bound<'_, PyAny>>) -> PyResult<PyCrm> {
        let now = opt_instant(now, "now")?;
        let crm = without_gil(py, || Ok(crmkit::Crm::open_in_memory()?))?;
        Ok(PyCrm::wrap(crm, None, now))
    }

    /// A CRM on the pure-Rust memory store (no SQLite; for tests and scratch work).
    #[staticmethod]
    #[pyo3(signature = (*, now=None))]
    fn in_memory(now: Option<&Bound<'_, PyAny>>) -> PyResult<PyCrm> {
        let now = opt_instant(now, "now")?;
        Ok(PyCrm::wrap(crmkit::Crm::in_memory(), None, now))
    }

    /// The database file, or ``None`` in memory.
    #[getter]
    fn path(&self) -> Option<String> {
        self.path.clone()
    }

    /// Whether :meth:`close` was called.
    #[getter]
    fn closed(&self) -> bool {
        self.crm().is_err()
    }

    /// Closes the store (the file is released once no call is running). Idempotent.
    fn close(&self, py: Python<'_>) {
        let taken = {
            let mut guard = match self.inner.lock() {
                Ok(g) => g,
                Err(poisoned) => poisoned.into_inner(),
            };
            guard.take()
        };
        let subscriptions = std::mem::take(&mut *lock_ignoring_poison(&self.subscriptions));
        // Dropping the SQLite store checkpoints the WAL: do it without the GIL.
        py.detach(move || {
            for slot in subscriptions {
                drop(lock_ignoring_poison(&slot).take());
            }
            drop(taken)
        });
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    #[pyo3(signature = (*_args))]
    fn __exit__(&self, py: Python<'_>, _args: &Bound<'_, PyTuple>) -> bool {
        self.close(py);
        false
    }

    fn __repr__(&self) -> String {
        match (&self.path, self.closed()) {
            (_, true) => "Crm(closed)".to_owned(),
            (Some(p), false) => format!("Crm({p:?})"),
            (None, false) => "Crm(in memory)".to_owned(),
        }
    }

    /// The engine's current time (UTC): the system clock, or the fixed clock of ``now=``.
    fn now(&self) -> PyResult<chrono::DateTime<chrono::Utc>> {
        Ok(self.crm()?.now())
    }

    /// Declares a custom field: ``string``, ``integer``, ``decimal``, ``bool``, ``date``,
    /// ``datetime`` or ``string_list``. Idempotent for the same type; another type raises
    /// :class:`ConflictError`.
    fn define_field(&self, py: Python<'_>, name: String, field_type: &str) -> PyResult<()> {
        let def = crmkit::FieldDef::new(name, parse(field_type)?);
        let crm = self.crm()?;
        without_gil(py, move || Ok(crm.define_field(def)?))
    }

    /// The declared custom fields as ``(name, type)`` pairs.
    fn fields(&self, py: Python<'_>) -> PyResult<Vec<(String, String)>> {
        let crm = self.crm()?;
        let defs = without_gil(py, move || Ok(crm.fields()?))?;
        Ok(defs.into_iter().map(|d| (d.name, d.field_type.to_string())).collect())
    }

    /// Creates a customer and returns it.
    ///
    /// ``external_ids`` maps a system name to the id there (``{"shop": "C-17"}``); ``consents``
    /// is a list of ``(purpose, channel, status)``; ``attributes`` values must match the
    /// declared fields. Raises :class:`ValidationError` (nothing written) for a bad value and
    /// :class:`ConflictError` when an identity key belongs to another customer.
    #[pyo3(signature = (name, *, kind="person", email=None, phone=None, external_ids=None, stage=None, tags=None, attributes=None, consents=None, source=None, id=None))]
    #[allow(clippy::too_many_arguments)]
    fn create_customer(
        &self,
        py: Python<'_>,
        name: String,
        kind: &str,
        email: Option<String>,
        phone: Option<String>,
        external_ids: Option<&Bound<'_, PyAny>>,
        stage: Option<&str>,
        tags: Option<Vec<String>>,
        attributes: Option<&Bound<'_, PyDict>>,
        consents: Option<Vec<(String, String, String)>>,
        source: Option<String>,
        id: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Customer> {
        let crm = self.crm()?;
        let mut new = NewCustomer::of_kind(parse::<CustomerKind>(kind)?, name);
        if let Some(id) = id {
            new = new.id(customer_id(id, "id")?);
        }
        if let Some(e) = email {
            new = new.email(e);
        }
        if let Some(p) = phone {
            new = new.phone(p);
        }
        for (system, ext) in pairs(external_ids, "external_ids")? {
            new = new.external_id(system, ext);
        }
        if let Some(s) = stage {
            new = new.stage(parse::<LifecycleStage>(s)?);
        }
        for t in tags.unwrap_or_default() {
            new = new.tag(t);
        }
        if let Some(attrs) = attributes {
            let declared = field_types(py, &crm)?;
            for (k, v) in attrs.iter() {
                let key: String = k.extract()?;
                let value = attribute_from_py(&v, &key, declared.get(&key).copied())?;
                new = new.attribute(key, value);
            }
        }
        for (purpose, channel, status) in consents.unwrap_or_default() {
            new =
                new.consent(purpose, parse::<Channel>(&channel)?, parse::<ConsentStatus>(&status)?);
        }
        if let Some(s) = source {
            new = new.source(s);
        }
        let c = without_gil(py, move || Ok(crm.create_customer(new)?))?;
        Ok(Customer { inner: c })
    }

    /// Changes a customer and returns the new record; every changed field gets an audit entry
    /// and a change that changes nothing writes nothing.
    ///
    /// ``attributes`` sets values (``None`` removes one); ``add_identities`` takes identity keys
    /// as text (``"email:bo@example.org"``, ``"phone:+44…"``, ``"ext:shop:17"``).
    #[pyo3(signature = (customer, *, name=None, kind=None, stage=None, attributes=None, add_tags=None, remove_tags=None, add_identities=None, remove_identities=None, consents=None, source=None))]
    #[allow(clippy::too_many_arguments)]
    fn update_customer(
        &self,
        py: Python<'_>,
        customer: &Bound<'_, PyAny>,
        name: Option<String>,
        kind: Option<&str>,
        stage: Option<&str>,
        attributes: Option<&Bound<'_, PyDict>>,
        add_tags: Option<Vec<String>>,
        remove_tags: Option<Vec<String>>,
        add_identities: Option<Vec<String>>,
        remove_identities: Option<Vec<String>>,
        consents: Option<Vec<(String, String, String)>>,
        source: Option<String>,
    ) -> PyResult<Customer> {
        let crm = self.crm()?;
        let id = customer_id(customer, "customer")?;
        let mut update = CustomerUpdate::new();
        if let Some(n) = name {
            update = update.name(n);
        }
        if let Some(k) = kind {
            update = update.kind(parse::<CustomerKind>(k)?);
        }
        if let Some(s) = stage {
            update = update.stage(parse::<LifecycleStage>(s)?);
        }
        if let Some(attrs) = attributes {
            let declared = field_types(py, &crm)?;
            for (k, v) in attrs.iter() {
                let key: String = k.extract()?;
                if v.is_none() {
                    update = update.remove_attribute(key);
                } else {
                    let value = attribute_from_py(&v, &key, declared.get(&key).copied())?;
                    update = update.attribute(key, value);
                }
            }
        }
        for t in add_tags.unwrap_or_default() {
            update = update.add_tag(t);
        }
        for t in remove_tags.unwrap_or_default() {
            update = update.remove_tag(t);
        }
        for k in add_identities.unwrap_or_default() {
            let key: IdentityKey = parse(&k)?;
            update = update.add_identity(key.kind(), key.value().to_owned());
        }
        for k in remove_identities.unwrap_or_default() {
            update = update.remove_identity(parse::<IdentityKey>(&k)?);
        }
        for (purpose, channel, status) in consents.unwrap_or_default() {
            update = update.consent(
                purpose,
                parse::<Channel>(&channel)?,
                parse::<ConsentStatus>(&status)?,
            );
        }
        if let Some(s) = source {
            update = update.source(s);
        }
        let c = without_gil(py, move || Ok(crm.update_customer(id, update)?))?;
        Ok(Customer { inner: c })
    }

    /// A customer by id; :class:`NotFoundError` if there is none.
    fn customer(&self, py: Python<'_>, id: &Bound<'_, PyAny>) -> PyResult<Customer> {
        let crm = self.crm()?;
        let id = customer_id(id, "id")?;
        let c = without_gil(py, move || Ok(crm.customer(id)?))?;
        Ok(Customer { inner: c })
    }

    /// The customer holding an identity key (``"email:ada@example.org"``, a bare e-mail,
    /// ``"phone:…"``, ``"ext:SYSTEM:ID"``), or ``None``.
    fn find(&self, py: Python<'_>, key: &str) -> PyResult<Option<Customer>> {
        let crm = self.crm()?;
        let key: IdentityKey = parse(key)?;
        let c = without_gil(py, move || Ok(crm.find(&key)?))?;
        Ok(c.map(|inner| Customer { inner }))
    }

    /// A customer by id (UUID text) or identity key text; :class:`NotFoundError` if none.
    fn lookup(&self, py: Python<'_>, id_or_key: String) -> PyResult<Customer> {
        let crm = self.crm()?;
        let c = without_gil(py, move || Ok(crm.lookup(&id_or_key)?))?;
        Ok(Customer { inner: c })
    }

    /// One page of customers, filtered by stage, tag and part of the name.
    #[pyo3(signature = (*, stage=None, tag=None, name_contains=None, after=None, limit=100))]
    fn list_customers(
        &self,
        py: Python<'_>,
        stage: Option<&str>,
        tag: Option<String>,
        name_contains: Option<String>,
        after: Option<&Bound<'_, PyAny>>,
        limit: usize,
    ) -> PyResult<CustomerPage> {
        let crm = self.crm()?;
        let mut q = CustomerQuery::new().limit(limit);
        if let Some(s) = stage {
            q = q.stage(parse::<LifecycleStage>(s)?);
        }
        if let Some(t) = tag {
            q = q.tag(t);
        }
        if let Some(n) = name_contains {
            q = q.name_contains(n);
        }
        if let Some(a) = after {
            q = q.after(customer_id(a, "after")?);
        }
        let page = without_gil(py, move || Ok(crm.list_customers(&q)?))?;
        Ok(CustomerPage {
            items: page
                .items
                .into_iter()
                .map(|inner| Py::new(py, Customer { inner }))
                .collect::<PyResult<_>>()?,
            next: page.next.map(uuid_of),
        })
    }

    /// Records one interaction; returns its id, or ``None`` when its idempotency key was
    /// already recorded (nothing written).
    fn record(&self, py: Python<'_>, interaction: &NewInteraction) -> PyResult<Option<u64>> {
        let crm = self.crm()?;
        let new = interaction.inner.clone();
        let id = without_gil(py, move || Ok(crm.record(new)?))?;
        Ok(id.map(|i| i.0))
    }

    /// Records interactions atomically (all or none); returns each one's id or ``None`` for a
    /// duplicate.
    fn record_all(
        &self,
        py: Python<'_>,
        interactions: Vec<PyRef<'_, NewInteraction>>,
    ) -> PyResult<Vec<Option<u64>>> {
        let crm = self.crm()?;
        let news: Vec<crmkit::NewInteraction> =
            interactions.iter().map(|i| i.inner.clone()).collect();
        let outcome = without_gil(py, move || Ok(crm.record_all(news)?))?;
        Ok(outcome.appended.into_iter().map(|a| a.map(|i| i.0)).collect())
    }

    /// A customer's interactions with ``start <= occurred_at < end`` (either bound optional),
    /// oldest first.
    #[pyo3(signature = (customer, start=None, end=None))]
    fn interactions(
        &self,
        py: Python<'_>,
        customer: &Bound<'_, PyAny>,
        start: Option<&Bound<'_, PyAny>>,
        end: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Vec<Interaction>> {
        let crm = self.crm()?;
        let id = customer_id(customer, "customer")?;
        let range =
            crmkit::TimeRange { from: opt_instant(start, "start")?, to: opt_instant(end, "end")? };
        let list = without_gil(py, move || Ok(crm.interactions(id, range)?))?;
        Ok(list.into_iter().map(|inner| Interaction { inner }).collect())
    }

    /// Audit entries after sequence number ``after``, oldest first (one customer's, if given).
    #[pyo3(signature = (customer=None, after=0, limit=100))]
    fn audit_log(
        &self,
        py: Python<'_>,
        customer: Option<&Bound<'_, PyAny>>,
        after: u64,
        limit: usize,
    ) -> PyResult<Vec<AuditEntry>> {
        let crm = self.crm()?;
        let id = customer.map(|c| customer_id(c, "customer")).transpose()?;
        let list = without_gil(py, move || Ok(crm.audit_log(id, after, limit)?))?;
        Ok(list.into_iter().map(|inner| AuditEntry { inner }).collect())
    }

    /// The customer base at a glance: counts, exact revenue per currency, first and last
    /// purchase, and the ``top`` customers by revenue.
    #[pyo3(signature = (top=10))]
    fn summary(&self, py: Python<'_>, top: usize) -> PyResult<BaseSummary> {
        let crm = self.crm()?;
        let s = without_gil(py, move || Ok(crm.summary(top)?))?;
        BaseSummary::from_core(py, s)
    }

    /// Imports interactions from a file (CSV, TSV, whitespace-separated ``.txt``, JSON Lines) or
    /// straight from a pandas or polars DataFrame or a pyarrow Table.
    ///
    /// ``columns`` maps crmkit's fields (``customer``, ``timestamp``, ``amount``, ``currency``,
    /// ``kind``, ``channel``, ``sku``, ``quantity``, ``unit_price``, ``direction``, ``duration``,
    /// ``outcome``, ``subject``, ``ticket``, ``url``, ``text``, ``idempotency_key``) to column
    /// names; ``customer`` and ``timestamp`` default to columns of those names. The import is
    /// idempotent (run it twice: the second writes nothing). A bad row raises
    /// :class:`ValidationError` naming the row and column, unless ``rejects`` names a CSV file
    /// for bad rows. Frame timestamps must be timezone-aware (or dates).
    #[pyo3(signature = (source, *, columns=None, format=None, properties=None, customer_key="email", default_kind="purchase", currency=None, timestamp_format=None, has_header=true, create_customers=false, batch_size=50000, rejects=None, progress=None))]
    #[allow(clippy::too_many_arguments)]
    fn import_interactions(
        &self,
        py: Python<'_>,
        source: &Bound<'_, PyAny>,
        columns: Option<std::collections::BTreeMap<String, String>>,
        format: Option<&str>,
        properties: Option<Vec<String>>,
        customer_key: &str,
        default_kind: &str,
        currency: Option<&str>,
        timestamp_format: Option<String>,
        has_header: bool,
        create_customers: bool,
        batch_size: usize,
        rejects: Option<PathBuf>,
        progress: Option<Py<PyAny>>,
    ) -> PyResult<ImportReport> {
        let crm = self.crm()?;
        let input = crate::frame::Input::from_py(source, format)?;
        let mut mapping = InteractionMapping::new(input.format())
            .customer_key(parse::<IdentityKind>(customer_key)?)
            .default_kind(default_kind)
            .has_header(has_header || input.is_frame());
        for (field, column) in columns.unwrap_or_default() {
            mapping = mapping.column(parse::<InteractionField>(&field)?, column);
        }
        for p in properties.unwrap_or_default() {
            mapping = mapping.property(p);
        }
        if let Some(c) = currency {
            mapping = mapping.default_currency(parse(c)?);
        }
        if let Some(f) = timestamp_format {
            mapping = mapping.timestamp_format(f);
        }
        if input.is_frame() {
            let ts = mapping.columns.get(&InteractionField::Timestamp).cloned();
            input.check_timestamp_column(ts.as_deref())?;
        }
        let options = ImportSettings { batch_size, create_customers, rejects, progress };
        let report = without_gil(py, move || {
            run_import(&input, &options, |read, opts| crm.import_interactions(read, &mapping, opts))
        })?;
        Ok(report.into())
    }

    /// Imports customers from a file or a DataFrame, upserting on the ``key`` column (``email``,
    /// ``phone`` or ``ext:SYSTEM``): a new key creates a customer, a known one updates it.
    ///
    /// ``columns`` maps ``key``, ``name``, ``kind``, ``email``, ``phone``, ``stage``, ``tags`` to
    /// column names (``key`` defaults to a column named ``key``); ``attributes`` maps declared
    /// fields to columns.
    #[pyo3(signature = (source, *, key="email", columns=None, attributes=None, format=None, has_header=true, batch_size=50000, rejects=None, progress=None))]
    #[allow(clippy::too_many_arguments)]
    fn import_customers(
        &self,
        py: Python<'_>,
        source: &Bound<'_, PyAny>,
        key: &str,
        columns: Option<std::collections::BTreeMap<String, String>>,
        attributes: Option<std::collections::BTreeMap<String, String>>,
        format: Option<&str>,
        has_header: bool,
        batch_size: usize,
        rejects: Option<PathBuf>,
        progress: Option<Py<PyAny>>,
    ) -> PyResult<ImportReport> {
        let crm = self.crm()?;
        let input = crate::frame::Input::from_py(source, format)?;
        let mut mapping = CustomerMapping::new(input.format(), parse::<IdentityKind>(key)?)
            .has_header(has_header || input.is_frame());
        for (field, column) in columns.unwrap_or_default() {
            mapping = mapping.column(parse::<CustomerField>(&field)?, column);
        }
        for (field, column) in attributes.unwrap_or_default() {
            mapping = mapping.attribute(field, column);
        }
        let options = ImportSettings { batch_size, create_customers: false, rejects, progress };
        let report = without_gil(py, move || {
            run_import(&input, &options, |read, opts| crm.import_customers(read, &mapping, opts))
        })?;
        Ok(report.into())
    }

    /// Fits the purchase model (``bgnbd``, ``mbgnbd`` or ``paretonbd``) and Gamma-Gamma on the
    /// store's purchases as of ``as_of``, scores every customer (P(alive), expected purchases,
    /// CLV, RFM segment) and stores models and scores as a new version.
    ///
    /// ``time_unit`` is ``day``, ``week``, ``month``, ``year`` or a number of days; ``horizon``
    /// (in that unit) defaults to one year; ``non_positive`` is ``keep``, ``exclude`` or
    /// ``exclude_from_monetary`` for zero and negative amounts.
    #[pyo3(signature = (as_of, *, time_unit="week", model="bgnbd", horizon=None, clv_months=12, monthly_discount_rate=0.01, non_positive="keep", currency=None))]
    #[allow(clippy::too_many_arguments)]
    fn fit_value(
        &self,
        py: Python<'_>,
        as_of: &Bound<'_, PyAny>,
        time_unit: &str,
        model: &str,
        horizon: Option<f64>,
        clv_months: u32,
        monthly_discount_rate: f64,
        non_positive: &str,
        currency: Option<&str>,
    ) -> PyResult<ValueReport> {
        let crm = self.crm()?;
        let options = value_options(
            instant(as_of, "as_of")?,
            time_unit,
            model,
            horizon,
            clv_months,
            monthly_discount_rate,
            non_positive,
            currency,
        )?;
        let report = without_gil(py, move || Ok(crm.fit_value(&options)?))?;
        ValueReport::from_core(py, report)
    }

    /// The stored model version ``version`` (the latest when ``None``), or ``None`` when no
    /// model was fitted.
    #[pyo3(signature = (version=None))]
    fn value_models(&self, py: Python<'_>, version: Option<u64>) -> PyResult<Option<ModelRecord>> {
        let crm = self.crm()?;
        let found = without_gil(py, move || Ok(crm.value_models(version)?))?;
        Ok(found.map(|(record, _)| ModelRecord { inner: record }))
    }

    /// One customer's value, explained from the latest scores (:class:`NotFoundError` before a
    /// fit, or for a customer without purchases).
    fn explain_value(
        &self,
        py: Python<'_>,
        customer: &Bound<'_, PyAny>,
    ) -> PyResult<ValueExplanation> {
        let crm = self.crm()?;
        let id = customer_id(customer, "customer")?;
        let e = without_gil(py, move || Ok(crm.explain_value(id)?))?;
        ValueExplanation::from_core(py, e)
    }

    /// Fits the purchase model on the purchases up to ``calibration_end`` and compares its
    /// forecast with what happened up to ``as_of``.
    #[pyo3(signature = (calibration_end, as_of, *, time_unit="week", model="bgnbd", non_positive="keep", currency=None))]
    #[allow(clippy::too_many_arguments)]
    fn holdout_check(
        &self,
        py: Python<'_>,
        calibration_end: &Bound<'_, PyAny>,
        as_of: &Bound<'_, PyAny>,
        time_unit: &str,
        model: &str,
        non_positive: &str,
        currency: Option<&str>,
    ) -> PyResult<HoldoutCheck> {
        let crm = self.crm()?;
        let cal = instant(calibration_end, "calibration_end")?;
        let options = value_options(
            instant(as_of, "as_of")?,
            time_unit,
            model,
            None,
            12,
            0.01,
            non_positive,
            currency,
        )?;
        let check = without_gil(py, move || Ok(crm.holdout_check(cal, &options)?))?;
        HoldoutCheck::from_core(py, check)
    }

    /// The store's purchases as numpy columns, for analytics (one row per purchase):
    /// ``customer_index`` (into ``customers``, the customer ids as text, one per customer),
    /// ``timestamp_us`` (µs since the epoch, UTC), ``amount`` (float) and ``currency_index``
    /// (into ``currencies``).
    fn purchases<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        use numpy::IntoPyArray;
        use rust_decimal::prelude::ToPrimitive;
        let crm = self.crm()?;
        let (cols, amount) = without_gil(py, move || {
            let cols = crm.store().scan_purchases()?;
            let amount: Vec<f64> =
                cols.amount.iter().map(|a| a.to_f64().unwrap_or(f64::NAN)).collect();
            Ok((cols, amount))
        })?;
        let customers: Vec<String> = cols.customers.iter().map(ToString::to_string).collect();
        let currencies: Vec<String> = cols.currencies.iter().map(|c| c.code().to_owned()).collect();
        let d = PyDict::new(py);
        d.set_item("customer_index", cols.customer_index.into_pyarray(py))?;
        d.set_item("customers", PyList::new(py, customers)?)?;
        d.set_item("timestamp_us", cols.occurred_at_micros.into_pyarray(py))?;
        d.set_item("amount", amount.into_pyarray(py))?;
        d.set_item("currency_index", cols.currency_index.into_pyarray(py))?;
        d.set_item("currencies", PyList::new(py, currencies)?)?;
        Ok(d)
    }

    // ----- Segments (issue 4) -----

    /// Defines a segment, or edits one (a changed rule or kind makes a new version and
    /// recomputes its membership, with enter and exit events). Returns the :class:`Segment`.
    ///
    /// ``rule`` is the rule's text (see ``docs/rules.md``) or its AST as a dict; ``kind`` is
    /// ``dynamic`` (kept current as customers change, interactions arrive, scores are stored
    /// and :meth:`advance_to` moves time), ``snapshot`` (evaluated now) or ``manual`` (no rule;
    /// :meth:`add_to_segment`); by default ``dynamic`` with a rule and ``manual`` without.
    /// A bad rule raises :class:`ValidationError` (with ``line`` and ``column`` for a syntax
    /// error) and changes nothing.
    ///
    /// >>> from crmkit import Crm, ValidationError
    /// >>> crm = Crm()
    /// >>> crm.define_segment("big-spenders", "sum(purchase, 90d) >= 500 EUR").version
    /// 1
    /// >>> try:
    /// ...     crm.define_segment("broken", "count(purchase, 30d) >=")
    /// ... except ValidationError as e:
    /// ...     print(e.line, e.column, e)
    /// 1 24 rule, line 1, column 24: expected a value to compare with, found end of rule
    #[pyo3(signature = (name, rule=None, kind=None, *, description=""))]
    fn define_segment(
        &self,
        py: Python<'_>,
        name: &str,
        rule: Option<&Bound<'_, PyAny>>,
        kind: Option<&str>,
        description: &str,
    ) -> PyResult<Segment> {
        let rule = match rule {
            Some(r) if !r.is_none() => Some(rule_from_py(r, "rule")?),
            _ => None,
        };
        let kind = segment_kind(kind, rule.is_some())?;
        let segment =
            crmkit::automation::Segment::with_rule(name, kind, rule).describe(description);
        let crm = self.crm()?;
        let inner = without_gil(py, move || Ok(crm.define_segment(segment)?))?;
        Ok(Segment { inner })
    }

    /// Deletes a segment (its members get an exit event). Refused with :class:`ConflictError`
    /// while another segment's rule or a playbook refers to it.
    fn delete_segment(&self, py: Python<'_>, name: String) -> PyResult<()> {
        let crm = self.crm()?;
        without_gil(py, move || Ok(crm.delete_segment(&name)?))
    }

    /// Every segment, by name.
    fn segments(&self, py: Python<'_>) -> PyResult<Vec<Segment>> {
        let crm = self.crm()?;
        let list = without_gil(py, move || Ok(crm.segments()?))?;
        Ok(list.into_iter().map(|inner| Segment { inner }).collect())
    }

    /// A segment by name (:class:`NotFoundError` if there is none).
    fn segment(&self, py: Python<'_>, name: String) -> PyResult<Segment> {
        let crm = self.crm()?;
        let inner = without_gil(py, move || Ok(crm.segment(&name)?))?;
        Ok(Segment { inner })
    }

    /// A page of a segment's members (customer ids, in id order) after ``after``. Pass the last
    /// id of a page as ``after`` for the next one.
    #[pyo3(signature = (name, after=None, limit=100))]
    fn segment_members(
        &self,
        py: Python<'_>,
        name: String,
        after: Option<&Bound<'_, PyAny>>,
        limit: usize,
    ) -> PyResult<Vec<uuid::Uuid>> {
        let after = match after {
            Some(a) if !a.is_none() => Some(customer_id(a, "after")?),
            _ => None,
        };
        let crm = self.crm()?;
        let ids = without_gil(py, move || Ok(crm.segment_members(&name, after, limit)?))?;
        Ok(ids.into_iter().map(uuid_of).collect())
    }

    /// ``{segment: number of members}`` for each segment with members.
    fn segment_sizes(&self, py: Python<'_>) -> PyResult<std::collections::BTreeMap<String, u64>> {
        let crm = self.crm()?;
        let sizes = without_gil(py, move || Ok(crm.segment_sizes()?))?;
        Ok(sizes.into_iter().collect())
    }

    /// A customer's stored membership rows (members, and non-members with a scheduled
    /// time-based re-check).
    fn memberships(
        &self,
        py: Python<'_>,
        customer: &Bound<'_, PyAny>,
    ) -> PyResult<Vec<Membership>> {
        let id = customer_id(customer, "customer")?;
        let crm = self.crm()?;
        let rows = without_gil(py, move || Ok(crm.memberships(id)?))?;
        Ok(rows.into_iter().map(|inner| Membership { inner }).collect())
    }

    /// The names of the segments a customer is in.
    fn segments_of(&self, py: Python<'_>, customer: &Bound<'_, PyAny>) -> PyResult<Vec<String>> {
        let id = customer_id(customer, "customer")?;
        let crm = self.crm()?;
        without_gil(py, move || Ok(crm.segments_of(id)?))
    }

    /// Adds a customer to a manual segment (an entry event; its playbooks fire). Returns
    /// whether they were not in it already.
    fn add_to_segment(
        &self,
        py: Python<'_>,
        name: String,
        customer: &Bound<'_, PyAny>,
    ) -> PyResult<bool> {
        let id = customer_id(customer, "customer")?;
        let crm = self.crm()?;
        without_gil(py, move || Ok(crm.add_to_segment(&name, id)?))
    }

    /// Removes a customer from a manual segment. Returns whether they were in it.
    fn remove_from_segment(
        &self,
        py: Python<'_>,
        name: String,
        customer: &Bound<'_, PyAny>,
    ) -> PyResult<bool> {
        let id = customer_id(customer, "customer")?;
        let crm = self.crm()?;
        without_gil(py, move || Ok(crm.remove_from_segment(&name, id)?))
    }

    /// Why a customer is or is not in a segment: the stored membership and each predicate's
    /// value at the engine's current time.
    fn explain_segment(
        &self,
        py: Python<'_>,
        name: String,
        customer: &Bound<'_, PyAny>,
    ) -> PyResult<SegmentExplanation> {
        let id = customer_id(customer, "customer")?;
        let crm = self.crm()?;
        let inner = without_gil(py, move || Ok(crm.explain_segment(&name, id)?))?;
        Ok(SegmentExplanation { inner })
    }

    /// Re-checks the memberships that time alone can have changed by ``now`` (default: the
    /// engine's current time), writing the changes and their events; returns how many
    /// (customer, segment) pairs it re-checked. With a fixed clock (``Crm(..., now=...)``) the
    /// clock first moves forward to ``now``.
    ///
    /// >>> from crmkit import Crm, NewInteraction
    /// >>> crm = Crm(now="2024-01-01")
    /// >>> _ = crm.define_segment("lapsed", "count(purchase) > 0 and days_since(purchase) >= 90")
    /// >>> ada = crm.create_customer("Ada")
    /// >>> _ = crm.record(NewInteraction.purchase(ada, "2024-01-01", "5", "USD"))
    /// >>> crm.advance_to("2024-03-30"), crm.segments_of(ada)      # day 89
    /// (0, [])
    /// >>> crm.advance_to("2024-03-31"), crm.segments_of(ada)      # day 90
    /// (1, ['lapsed'])
    #[pyo3(signature = (now=None))]
    fn advance_to(&self, py: Python<'_>, now: Option<&Bound<'_, PyAny>>) -> PyResult<usize> {
        let crm = self.crm()?;
        let to = opt_instant(now, "now")?.unwrap_or_else(|| crm.now());
        if let Some(clock) = &self.clock
            && to > crm.now()
        {
            clock.set(to);
        }
        without_gil(py, move || Ok(crm.advance_to(to)?))
    }

    /// Recomputes every dynamic segment from scratch at the engine's current time and compares
    /// with the stored membership: the differences (empty when they agree).
    fn verify_segments(&self, py: Python<'_>) -> PyResult<Vec<MembershipDiff>> {
        let crm = self.crm()?;
        let diffs = without_gil(py, move || Ok(crm.verify_segments()?))?;
        Ok(diffs.into_iter().map(MembershipDiff::from).collect())
    }

    // ----- Playbooks and tasks -----

    /// Defines (or replaces) a playbook: when a customer enters ``segment`` (and the rule
    /// ``when`` holds), do ``actions`` (:class:`Action` objects or their dicts). It fires once
    /// per entry, again only after an exit. The segment must exist; attributes must be
    /// declared.
    ///
    /// >>> from crmkit import Action, Crm
    /// >>> crm = Crm()
    /// >>> _ = crm.define_segment("vip", 'tag "vip"')
    /// >>> _ = crm.define_playbook("welcome-vip", "vip", [
    /// ...     Action.create_task("Welcome call", due_in_days=2, assignee="sam"),
    /// ...     {"do": "emit", "action": "send_gift", "payload": {"value": 20}}])
    /// >>> ada = crm.create_customer("Ada", tags=["vip"])
    /// >>> [(t.title, t.assignee, t.playbook) for t in crm.tasks(customer=ada)]
    /// [('Welcome call', 'sam', 'welcome-vip')]
    #[pyo3(signature = (name, segment, actions=None, *, when=None, enabled=true))]
    fn define_playbook(
        &self,
        py: Python<'_>,
        name: &str,
        segment: &str,
        actions: Option<&Bound<'_, PyAny>>,
        when: Option<&Bound<'_, PyAny>>,
        enabled: bool,
    ) -> PyResult<Playbook> {
        let crm = self.crm()?;
        let mut playbook = crmkit::automation::Playbook::new(name, segment);
        playbook.enabled = enabled;
        if let Some(w) = when
            && !w.is_none()
        {
            playbook.condition = Some(rule_from_py(w, "when")?);
        }
        if let Some(list) = actions
            && !list.is_none()
        {
            let declared = field_types(py, &crm)?;
            for a in list.try_iter()? {
                playbook = playbook.action(action_from_py(&a?, &declared)?);
            }
        }
        let inner = without_gil(py, move || Ok(crm.define_playbook(playbook)?))?;
        Ok(Playbook { inner })
    }

    /// Deletes a playbook.
    fn delete_playbook(&self, py: Python<'_>, name: String) -> PyResult<()> {
        let crm = self.crm()?;
        without_gil(py, move || Ok(crm.delete_playbook(&name)?))
    }

    /// Every playbook, by name.
    fn playbooks(&self, py: Python<'_>) -> PyResult<Vec<Playbook>> {
        let crm = self.crm()?;
        let list = without_gil(py, move || Ok(crm.playbooks()?))?;
        Ok(list.into_iter().map(|inner| Playbook { inner }).collect())
    }

    /// Creates a task about a customer by hand (a ``task_created`` event), due
    /// ``due_in_days`` from now.
    #[pyo3(signature = (customer, title, due_in_days=0, assignee=None))]
    fn create_task(
        &self,
        py: Python<'_>,
        customer: &Bound<'_, PyAny>,
        title: String,
        due_in_days: u32,
        assignee: Option<String>,
    ) -> PyResult<Task> {
        let id = customer_id(customer, "customer")?;
        let crm = self.crm()?;
        let inner = without_gil(py, move || {
            Ok(crm.create_task(id, &title, due_in_days, assignee.as_deref())?)
        })?;
        Ok(Task { inner })
    }

    /// Marks a task (a :class:`Task` or its id) done; completing a done task changes nothing.
    fn complete_task(&self, py: Python<'_>, task: &Bound<'_, PyAny>) -> PyResult<Task> {
        let id = task_id(task)?;
        let crm = self.crm()?;
        let inner = without_gil(py, move || Ok(crm.complete_task(id)?))?;
        Ok(Task { inner })
    }

    /// Tasks by due date, filtered by customer, status (``open`` or ``done``), assignee and the
    /// playbook that created them.
    #[pyo3(signature = (*, customer=None, status=None, assignee=None, playbook=None, limit=100))]
    fn tasks(
        &self,
        py: Python<'_>,
        customer: Option<&Bound<'_, PyAny>>,
        status: Option<&str>,
        assignee: Option<String>,
        playbook: Option<String>,
        limit: usize,
    ) -> PyResult<Vec<Task>> {
        let mut q = crmkit::automation::TaskQuery::new().limit(limit);
        if let Some(c) = customer
            && !c.is_none()
        {
            q = q.customer(customer_id(c, "customer")?);
        }
        if let Some(s) = status {
            q = q.status(parse::<crmkit::automation::TaskStatus>(s)?);
        }
        if let Some(a) = assignee {
            q = q.assignee(a);
        }
        if let Some(p) = playbook {
            q = q.playbook(p);
        }
        let crm = self.crm()?;
        let list = without_gil(py, move || Ok(crm.tasks(&q)?))?;
        Ok(list.into_iter().map(|inner| Task { inner }).collect())
    }

    // ----- User-defined objects -----

    /// Declares an object type (the application's own records: invoices, subscriptions...), or
    /// redefines one. ``fields`` maps each field name to its type: ``string``, ``integer``,
    /// ``decimal``, ``bool``, ``date``, ``datetime``, ``string_list`` or ``customer`` (a link
    /// to a customer, always indexed); ``required`` and ``indexed`` name fields. A
    /// redefinition may add fields and index fields; a field's type cannot change
    /// (:class:`ConflictError`) and a field cannot be removed. Returns the type as a dict
    /// (``name``, ``revision``, ``fields``, ``created_at``, ``updated_at``).
    ///
    /// >>> from crmkit import Crm
    /// >>> crm = Crm()
    /// >>> t = crm.define_object_type("plan", {"code": "string", "seats": "integer"}, required=["code"], indexed=["seats"])
    /// >>> t["revision"], [(f["name"], f["type"], f["required"], f["indexed"]) for f in t["fields"]]
    /// (1, [('code', 'string', True, False), ('seats', 'integer', False, True)])
    #[pyo3(signature = (name, fields, *, required=Vec::new(), indexed=Vec::new()))]
    fn define_object_type<'py>(
        &self,
        py: Python<'py>,
        name: &str,
        fields: &Bound<'py, PyDict>,
        required: Vec<String>,
        indexed: Vec<String>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let def = crate::objects::type_def_from_py(name, fields, &required, &indexed)?;
        let crm = self.crm()?;
        let t = without_gil(py, move || Ok(crm.define_object_type(def)?))?;
        crate::objects::type_to_py(py, &t)
    }

    /// Every object type (dicts as :meth:`define_object_type` returns), by name.
    fn object_types<'py>(&self, py: Python<'py>) -> PyResult<Vec<Bound<'py, PyDict>>> {
        let crm = self.crm()?;
        let list = without_gil(py, move || Ok(crm.object_types()?))?;
        list.iter().map(|t| crate::objects::type_to_py(py, t)).collect()
    }

    /// An object type by name (a dict), or ``None``.
    fn object_type<'py>(
        &self,
        py: Python<'py>,
        name: String,
    ) -> PyResult<Option<Bound<'py, PyDict>>> {
        let crm = self.crm()?;
        let t = without_gil(py, move || Ok(crm.object_type(&name)?))?;
        t.map(|t| crate::objects::type_to_py(py, &t)).transpose()
    }

    /// Creates an object of a declared type and returns it as a dict (``object_type``, ``id``,
    /// ``revision``, ``fields``, ``created_at``, ``updated_at``), with an audit entry and an
    /// ``object_created`` event.
    ///
    /// ``fields`` maps field names to values: ``str``, ``int``, ``bool``, ``decimal.Decimal``
    /// (never a float), ``datetime.date``, an aware ``datetime.datetime``, a list of ``str``;
    /// a customer link is a :class:`Customer`, its id, or an identity key such as an e-mail
    /// address. Text for a field of another type is parsed as that type; ``None`` is no value.
    /// ``id`` defaults to a new UUID; ``source`` names who makes the change (the audit actor).
    /// Raises :class:`ValidationError` (the message names ``type.field``) for an undeclared
    /// field, a value of the wrong type or a missing required field, :class:`NotFoundError`
    /// for an unknown type or customer, :class:`ConflictError` for a taken id.
    ///
    /// >>> from decimal import Decimal
    /// >>> from crmkit import Crm
    /// >>> crm = Crm()
    /// >>> ada = crm.create_customer("Ada", email="ada@example.org")
    /// >>> _ = crm.define_object_type("invoice", {"total": "decimal", "customer": "customer"})
    /// >>> inv = crm.create_object("invoice", {"total": Decimal("49.90"), "customer": "ada@example.org"}, id="INV-1")
    /// >>> inv["id"], inv["revision"], inv["fields"]["total"], inv["fields"]["customer"] == str(ada.id)
    /// ('INV-1', 1, Decimal('49.90'), True)
    #[pyo3(signature = (object_type, fields, *, id=None, source=None))]
    fn create_object<'py>(
        &self,
        py: Python<'py>,
        object_type: String,
        fields: &Bound<'py, PyDict>,
        id: Option<String>,
        source: Option<String>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let crm = self.crm()?;
        let declared = crate::objects::declared_types(py, &crm, &object_type)?;
        let input = crate::objects::fields_from_py(Some(fields), &object_type, &declared, drop)?;
        let object = without_gil(py, move || {
            let new = crmkit::objects::NewObject {
                id,
                fields: input.resolve(&crm, &object_type)?,
                source,
            };
            Ok(crm.create_object(&object_type, new)?)
        })?;
        crate::objects::object_to_py(py, &object)
    }

    /// Changes an object's fields and returns the new version (nothing is written when nothing
    /// changes). ``set`` maps fields to values as :meth:`create_object` takes them (``None``
    /// unsets); ``unset`` names fields to remove (a required one is refused). With
    /// ``revision``, the update fails with :class:`ConflictError` unless the stored object has
    /// that revision.
    #[pyo3(signature = (object_type, id, *, set=None, unset=Vec::new(), revision=None, source=None))]
    #[allow(clippy::too_many_arguments)]
    fn update_object<'py>(
        &self,
        py: Python<'py>,
        object_type: String,
        id: String,
        set: Option<&Bound<'py, PyDict>>,
        unset: Vec<String>,
        revision: Option<u64>,
        source: Option<String>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let crm = self.crm()?;
        let declared = crate::objects::declared_types(py, &crm, &object_type)?;
        let mut removed: std::collections::BTreeSet<String> = unset.into_iter().collect();
        let input = crate::objects::fields_from_py(set, &object_type, &declared, |name| {
            removed.insert(name);
        })?;
        let object = without_gil(py, move || {
            let update = crmkit::objects::ObjectUpdate {
                set: input.resolve(&crm, &object_type)?,
                unset: removed,
                expected_revision: revision,
                source,
            };
            Ok(crm.update_object(&object_type, &id, update)?)
        })?;
        crate::objects::object_to_py(py, &object)
    }

    /// Deletes an object (its history stays) and returns it as it was, with an
    /// ``object_deleted`` event. With ``revision``, :class:`ConflictError` unless the stored
    /// object has that revision; :class:`NotFoundError` when there is no such object.
    #[pyo3(signature = (object_type, id, *, revision=None))]
    fn delete_object<'py>(
        &self,
        py: Python<'py>,
        object_type: String,
        id: String,
        revision: Option<u64>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let crm = self.crm()?;
        let object =
            without_gil(py, move || Ok(crm.delete_object(&object_type, &id, revision)?))?;
        crate::objects::object_to_py(py, &object)
    }

    /// An object by type and id (a dict), or ``None``.
    fn object<'py>(
        &self,
        py: Python<'py>,
        object_type: String,
        id: String,
    ) -> PyResult<Option<Bound<'py, PyDict>>> {
        let crm = self.crm()?;
        let found = without_gil(py, move || Ok(crm.object(&object_type, &id)?))?;
        found.map(|o| crate::objects::object_to_py(py, &o)).transpose()
    }

    /// A type's objects (dicts): all of them by id, those whose indexed field equals a value
    /// (``where={field: value}``), or those whose indexed field lies between inclusive bounds
    /// (``min={field: low}``, ``max={field: high}``, either optional), by value then id.
    /// Reads every page unless ``limit`` caps the count. Values are given as for
    /// :meth:`create_object`.
    ///
    /// >>> from crmkit import Crm
    /// >>> crm = Crm()
    /// >>> _ = crm.define_object_type("plan", {"seats": "integer"}, indexed=["seats"])
    /// >>> for code, seats in [("a", 5), ("b", 50), ("c", 10)]:
    /// ...     _ = crm.create_object("plan", {"seats": seats}, id=code)
    /// >>> [o["id"] for o in crm.objects("plan", min={"seats": 10})]
    /// ['c', 'b']
    /// >>> [o["id"] for o in crm.objects("plan", where={"seats": "5"})], len(crm.objects("plan", limit=2))
    /// (['a'], 2)
    #[pyo3(signature = (object_type, *, r#where=None, min=None, max=None, limit=None))]
    fn objects<'py>(
        &self,
        py: Python<'py>,
        object_type: String,
        r#where: Option<&Bound<'py, PyDict>>,
        min: Option<&Bound<'py, PyDict>>,
        max: Option<&Bound<'py, PyDict>>,
        limit: Option<usize>,
    ) -> PyResult<Vec<Bound<'py, PyDict>>> {
        use crate::objects::bound_from_py;
        let crm = self.crm()?;
        let declared = crate::objects::declared_types(py, &crm, &object_type)?;
        let query = crate::objects::Query {
            equal: bound_from_py(r#where, "where", &object_type, &declared)?,
            min: bound_from_py(min, "min", &object_type, &declared)?,
            max: bound_from_py(max, "max", &object_type, &declared)?,
            limit,
        };
        let list = without_gil(py, move || Ok(query.run(&crm, &object_type)?))?;
        list.iter().map(|o| crate::objects::object_to_py(py, o)).collect()
    }

    /// An object's audit history, oldest first (it outlives the object): dicts with ``kind``
    /// (``created``, ``updated``, ``deleted``), ``revision``, ``at``, ``actor`` and ``fields``,
    /// a list of ``(name, old, new)`` (``None`` for no value).
    fn object_history<'py>(
        &self,
        py: Python<'py>,
        object_type: String,
        id: String,
    ) -> PyResult<Vec<Bound<'py, PyDict>>> {
        let crm = self.crm()?;
        let list = without_gil(py, move || Ok(crm.object_history(&object_type, &id)?))?;
        list.iter().map(|c| crate::objects::change_to_py(py, c)).collect()
    }

    // ----- Events -----

    /// The events after sequence number ``after``, oldest first (at most ``limit``).
    #[pyo3(signature = (after=0, limit=100))]
    fn events_after(&self, py: Python<'_>, after: u64, limit: usize) -> PyResult<Vec<Event>> {
        let crm = self.crm()?;
        let list = without_gil(py, move || Ok(crm.events_after(after, limit)?))?;
        Ok(list.into_iter().map(|inner| Event { inner }).collect())
    }

    /// The next events the named consumer has not acknowledged. Until :meth:`ack_events`, the
    /// same events come back, also after a restart (delivery is at least once); consumers are
    /// independent.
    ///
    /// >>> from crmkit import Crm
    /// >>> crm = Crm()
    /// >>> _ = crm.create_customer("Ada")
    /// >>> batch = crm.poll_events("mailer")
    /// >>> [e.type for e in batch], crm.poll_events("mailer") == batch
    /// (['customer_created'], True)
    /// >>> crm.ack_events("mailer", batch[-1].seq)
    /// >>> crm.poll_events("mailer"), crm.consumer_cursor("mailer")
    /// ([], 1)
    #[pyo3(signature = (consumer, limit=100))]
    fn poll_events(&self, py: Python<'_>, consumer: String, limit: usize) -> PyResult<Vec<Event>> {
        let crm = self.crm()?;
        let list = without_gil(py, move || Ok(crm.poll_events(&consumer, limit)?))?;
        Ok(list.into_iter().map(|inner| Event { inner }).collect())
    }

    /// Acknowledges every event up to ``seq`` for a consumer.
    fn ack_events(&self, py: Python<'_>, consumer: String, seq: u64) -> PyResult<()> {
        let crm = self.crm()?;
        without_gil(py, move || Ok(crm.ack_events(&consumer, seq)?))
    }

    /// The last sequence number a consumer acknowledged (0 for none).
    fn consumer_cursor(&self, py: Python<'_>, consumer: String) -> PyResult<u64> {
        let crm = self.crm()?;
        without_gil(py, move || Ok(crm.consumer_cursor(&consumer)?))
    }

    /// Calls ``callback(event)`` with every :class:`Event` this ``Crm`` writes, right after
    /// each write commits, on the writing thread. Returns a :class:`Subscription`: active
    /// until its ``close()`` (or the end of its ``with`` block, or this ``Crm``'s close).
    /// An exception in the callback does not undo or fail the write: it is reported through
    /// ``sys.unraisablehook``. In-process only; for delivery that survives restarts use
    /// :meth:`poll_events`.
    ///
    /// >>> from crmkit import Crm
    /// >>> crm = Crm()
    /// >>> _ = crm.define_segment("vip", 'tag "vip"')
    /// >>> seen = []
    /// >>> with crm.subscribe(lambda e: seen.append((e.type, e.payload.get("segment")))):
    /// ...     _ = crm.create_customer("Ada", tags=["vip"])
    /// >>> _ = crm.create_customer("Bo", tags=["vip"])     # after the with block: not seen
    /// >>> seen
    /// [('customer_created', None), ('segment_entered', 'vip')]
    fn subscribe(&self, callback: &Bound<'_, PyAny>) -> PyResult<Subscription> {
        if !callback.is_callable() {
            return Err(pyo3::exceptions::PyTypeError::new_err(format!(
                "subscribe: expected a callable, got {}",
                crate::convert::type_name(callback)
            )));
        }
        let crm = self.crm()?;
        let callback: Py<PyAny> = callback.clone().unbind();
        let sub = crm.subscribe(move |e| deliver(&callback, e));
        let slot: SubscriptionSlot = Arc::new(Mutex::new(Some(sub)));
        let mut subs = lock_ignoring_poison(&self.subscriptions);
        subs.retain(|s| lock_ignoring_poison(s).is_some());
        subs.push(slot.clone());
        Ok(Subscription { slot })
    }
}

/// The declared field types, for parsing attribute text.
fn field_types(
    py: Python<'_>,
    crm: &crmkit::Crm,
) -> PyResult<std::collections::HashMap<String, crmkit::FieldType>> {
    let crm = crm.clone();
    let defs = without_gil(py, move || Ok(crm.fields()?))?;
    Ok(defs.into_iter().map(|d| (d.name, d.field_type)).collect())
}

/// `(system, id)` pairs from a dict or a list of pairs.
fn pairs(obj: Option<&Bound<'_, PyAny>>, field: &str) -> PyResult<Vec<(String, String)>> {
    let Some(obj) = obj else { return Ok(Vec::new()) };
    if obj.is_none() {
        return Ok(Vec::new());
    }
    if let Ok(d) = obj.cast::<PyDict>() {
        return d.iter().map(|(k, v)| Ok((k.extract()?, v.extract()?))).collect();
    }
    obj.extract::<Vec<(String, String)>>().map_err(|_| {
        invalid(format!("{field}: expected a dict {{system: id}} or a list of (system, id) pairs"))
    })
}

/// The import options that do not borrow.
struct ImportSettings {
    batch_size: usize,
    create_customers: bool,
    rejects: Option<PathBuf>,
    progress: Option<Py<PyAny>>,
}

/// Runs one import on a file or a frame, with the rejects file and the progress callback.
fn run_import(
    input: &crate::frame::Input,
    settings: &ImportSettings,
    run: impl FnOnce(
        Box<dyn std::io::Read + '_>,
        ImportOptions<'_>,
    ) -> crmkit::Result<crmkit::ImportReport>,
) -> Result<crmkit::ImportReport, Failure> {
    let mut rejects_writer = match &settings.rejects {
        Some(p) => Some(BufWriter::new(File::create(p).map_err(|e| {
            Failure::Crm(crmkit::Error::Io { path: p.display().to_string(), source: e })
        })?)),
        None => None,
    };
    let mut callback_error: Option<PyErr> = None;
    let mut on_progress = |p: &crmkit::ImportProgress| {
        if let Some(cb) = &settings.progress
            && callback_error.is_none()
        {
            Python::attach(|py| {
                let d = PyDict::new(py);
                let filled = d
                    .set_item("rows_read", p.rows_read)
                    .and_then(|_| d.set_item("rows_committed", p.rows_committed))
                    .and_then(|_| d.set_item("batches_committed", p.batches_committed))
                    .and_then(|_| d.set_item("bytes_read", p.bytes_read));
                if let Err(e) = filled.and_then(|_| cb.call1(py, (d,)).map(drop)) {
                    callback_error = Some(e);
                }
            });
        }
    };
    let mut options = ImportOptions::new(input.source_name())
        .batch_size(settings.batch_size)
        .create_missing_customers(settings.create_customers);
    if let Some(w) = rejects_writer.as_mut() {
        options = options.rejects(w);
    }
    if settings.progress.is_some() {
        options = options.progress(&mut on_progress);
    }
    let reader = input.reader().map_err(Failure::Crm)?;
    let result = run(reader, options);
    let result = result.map_err(|e| input.explain(e));
    if let Some(e) = callback_error {
        return Err(Failure::Python(e));
    }
    if let Some(mut w) = rejects_writer {
        use std::io::Write;
        w.flush()
            .map_err(|e| Failure::Crm(crmkit::Error::storage("writing the rejects file", e)))?;
    }
    result
}

/// An interaction to record (see :meth:`Crm.record`).
///
/// ``kind`` is ``purchase`` or ``refund`` (give ``amount`` and ``currency``; ``items`` is a list
/// of ``(sku, quantity, unit_price)``), ``email`` (``direction``, ``subject``), ``call``
/// (``direction``, ``duration_secs``, ``outcome``), ``meeting`` (``subject``,
/// ``duration_secs``), ``ticket_opened`` (``ticket``, ``subject``), ``ticket_resolved``
/// (``ticket``), ``web_visit`` (``url``), ``note`` (``text``) or a name of your own.
/// ``occurred_at`` must be timezone-aware (or a date, or ISO 8601 text).
///
/// >>> from crmkit import NewInteraction
/// >>> import uuid
/// >>> n = NewInteraction(uuid.UUID(int=1), "2024-05-01T09:30:00Z", "call", direction="inbound", duration_secs=300)
/// >>> n.kind
/// 'call'
#[pyclass(frozen, module = "crmkit._crmkit")]
pub struct NewInteraction {
    pub(crate) inner: crmkit::NewInteraction,
}

#[pymethods]
impl NewInteraction {
    #[new]
    #[pyo3(signature = (customer, occurred_at, kind="purchase", *, amount=None, currency=None, items=None, channel=None, direction=None, subject=None, duration_secs=None, outcome=None, ticket=None, url=None, text=None, properties=None, idempotency_key=None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        customer: &Bound<'_, PyAny>,
        occurred_at: &Bound<'_, PyAny>,
        kind: &str,
        amount: Option<&Bound<'_, PyAny>>,
        currency: Option<&str>,
        items: Option<&Bound<'_, PyList>>,
        channel: Option<&str>,
        direction: Option<&str>,
        subject: Option<String>,
        duration_secs: Option<u32>,
        outcome: Option<String>,
        ticket: Option<String>,
        url: Option<String>,
        text: Option<String>,
        properties: Option<&Bound<'_, PyDict>>,
        idempotency_key: Option<String>,
    ) -> PyResult<NewInteraction> {
        let id = customer_id(customer, "customer")?;
        let at = instant(occurred_at, "occurred_at")?;
        let direction = |default: Direction| -> PyResult<Direction> {
            match direction.map(|d| d.trim().to_ascii_lowercase()) {
                None => Ok(default),
                Some(d) if d == "inbound" || d == "in" => Ok(Direction::Inbound),
                Some(d) if d == "outbound" || d == "out" => Ok(Direction::Outbound),
                Some(d) => Err(invalid(format!("direction: {d:?}: expected inbound or outbound"))),
            }
        };
        let kind_name = kind.trim().to_ascii_lowercase();
        let kind = match kind_name.as_str() {
            "purchase" | "refund" => {
                let (Some(amount), Some(currency)) = (amount, currency) else {
                    return Err(invalid(format!(
                        "amount: a {kind_name} needs amount= and currency="
                    )));
                };
                let total = money(amount, currency, "amount")?;
                let mut lines = Vec::new();
                for (i, item) in items
                    .map(|l| l.iter().collect::<Vec<_>>())
                    .unwrap_or_default()
                    .iter()
                    .enumerate()
                {
                    let (sku, quantity, unit_price): (String, Bound<'_, PyAny>, Bound<'_, PyAny>) =
                        item.extract().map_err(|_| {
                            invalid(format!("items[{i}]: expected (sku, quantity, unit_price)"))
                        })?;
                    lines.push(LineItem {
                        sku,
                        quantity: decimal(&quantity, &format!("items[{i}].quantity"))?,
                        unit_price: money(
                            &unit_price,
                            currency,
                            &format!("items[{i}].unit_price"),
                        )?,
                    });
                }
                if kind_name == "purchase" {
                    InteractionKind::Purchase { total, items: lines }
                } else {
                    InteractionKind::Refund { total, items: lines }
                }
            }
            "email" => {
                InteractionKind::Email { direction: direction(Direction::Outbound)?, subject }
            }
            "call" => InteractionKind::Call {
                direction: direction(Direction::Outbound)?,
                duration_secs: duration_secs.unwrap_or(0),
                outcome,
            },
            "meeting" => InteractionKind::Meeting { subject, duration_secs },
            "ticket_opened" => InteractionKind::TicketOpened {
                ticket: ticket.ok_or_else(|| invalid("ticket: a ticket_opened needs ticket="))?,
                subject,
            },
            "ticket_resolved" => InteractionKind::TicketResolved {
                ticket: ticket.ok_or_else(|| invalid("ticket: a ticket_resolved needs ticket="))?,
            },
            "web_visit" => InteractionKind::WebVisit { url },
            "note" => InteractionKind::Note {
                text: text.ok_or_else(|| invalid("text: a note needs text="))?,
            },
            _ => InteractionKind::Custom { name: kind.trim().to_owned() },
        };
        let mut new = crmkit::NewInteraction::new(id, at, kind);
        if let Some(c) = channel {
            new = new.channel(parse::<Channel>(c)?);
        }
        if let Some(props) = properties {
            for (k, v) in props.iter() {
                let key: String = k.extract()?;
                let value = py_to_json(&v, &format!("properties.{key}"))?;
                new = new.property(key, value);
            }
        }
        if let Some(k) = idempotency_key {
            new = new.idempotency_key(k);
        }
        new.validate().map_err(|e| crm_error(&e))?;
        Ok(NewInteraction { inner: new })
    }

    /// A purchase of ``amount`` (Decimal, int or text; never a float) in ``currency``.
    #[staticmethod]
    #[pyo3(signature = (customer, occurred_at, amount, currency, *, idempotency_key=None))]
    fn purchase(
        customer: &Bound<'_, PyAny>,
        occurred_at: &Bound<'_, PyAny>,
        amount: &Bound<'_, PyAny>,
        currency: &str,
        idempotency_key: Option<String>,
    ) -> PyResult<NewInteraction> {
        let mut new = crmkit::NewInteraction::purchase(
            customer_id(customer, "customer")?,
            instant(occurred_at, "occurred_at")?,
            money(amount, currency, "amount")?,
        );
        if let Some(k) = idempotency_key {
            new = new.idempotency_key(k);
        }
        new.validate().map_err(|e| crm_error(&e))?;
        Ok(NewInteraction { inner: new })
    }

    /// The customer's id.
    #[getter]
    fn customer(&self) -> uuid::Uuid {
        uuid_of(self.inner.customer)
    }

    /// When it happened (UTC).
    #[getter]
    fn occurred_at(&self) -> chrono::DateTime<chrono::Utc> {
        self.inner.occurred_at
    }

    /// The kind's name.
    #[getter]
    fn kind(&self) -> String {
        self.inner.kind.name().to_owned()
    }

    fn __repr__(&self) -> String {
        format!(
            "NewInteraction(kind={:?}, occurred_at={})",
            self.inner.kind.name(),
            self.inner.occurred_at.to_rfc3339()
        )
    }
}

/// Makes [`InputFormat`] parse errors name the format.
pub(crate) fn input_format(text: &str) -> PyResult<InputFormat> {
    parse(text)
}
