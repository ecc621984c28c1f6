//! Customer value inside the CRM: fitted models, scores, explanations, holdout checks.

use chrono::{DateTime, Utc};
use crmkit::clv::summary::NonPositiveAmounts;
use crmkit::{PurchaseModelKind, ValueOptions};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use uuid::Uuid;

use crate::convert::{json_to_py, uuid_of};
use crate::error::{Failure, crm_error, invalid};

/// A time unit: `day`, `week`, `month`, `year` (also `D`, `W`, `M`, `Y`) or a number of days
/// (crmkit-clv's `FromStr`).
pub(crate) fn time_unit(text: &str) -> PyResult<crmkit::clv::summary::TimeUnit> {
    Ok(text.parse().map_err(Failure::Clv)?)
}

/// The policy for zero and negative amounts: `keep`, `exclude`, `exclude_from_monetary`
/// (crmkit-clv's `FromStr`).
pub(crate) fn non_positive(text: &str) -> PyResult<NonPositiveAmounts> {
    Ok(text.parse().map_err(Failure::Clv)?)
}

/// [`ValueOptions`] from the Python arguments.
#[allow(clippy::too_many_arguments)]
pub(crate) fn value_options(
    as_of: DateTime<Utc>,
    unit: &str,
    model: &str,
    horizon: Option<f64>,
    clv_months: u32,
    monthly_discount_rate: f64,
    policy: &str,
    currency: Option<&str>,
) -> PyResult<ValueOptions> {
    let mut options = ValueOptions::new(as_of)
        .time_unit(time_unit(unit)?)
        .model(model.parse::<PurchaseModelKind>().map_err(|e| crm_error(&e))?);
    if let Some(h) = horizon {
        if !(h.is_finite() && h > 0.0) {
            return Err(invalid(format!("horizon: {h} is not a finite number > 0")));
        }
        options.horizon = h;
    }
    if !(monthly_discount_rate.is_finite() && monthly_discount_rate >= 0.0) {
        return Err(invalid(format!(
            "monthly_discount_rate: {monthly_discount_rate} is not a finite number ≥ 0"
        )));
    }
    options.clv_months = clv_months;
    options.monthly_discount_rate = monthly_discount_rate;
    options.non_positive = non_positive(policy)?;
    if let Some(c) = currency {
        options.currency = Some(crmkit::Currency::new(c).map_err(|e| crm_error(&e))?);
    }
    Ok(options)
}

/// What a fit reports: parameters, standard errors, log-likelihood, convergence, and the
/// parameters that ended on a boundary of the parameter space (with what that means).
#[pyclass(frozen, get_all, module = "crmkit._crmkit")]
#[derive(Clone)]
pub struct FitInfo {
    /// Parameter names, in order.
    pub parameters: Vec<String>,
    /// Standard errors (delta method from the Hessian), ``None`` where undefined.
    pub standard_errors: Vec<Option<f64>>,
    /// The total log-likelihood at the optimum.
    pub log_likelihood: f64,
    /// Customers (total weight) fitted.
    pub customers: f64,
    /// Distinct cells (patterns) fitted.
    pub cells: usize,
    /// Optimiser iterations.
    pub iterations: usize,
    /// Whether the optimiser converged (a boundary optimum counts as converged).
    pub converged: bool,
    /// Parameters at a boundary, each with its meaning; empty for an interior optimum.
    pub boundary: Vec<String>,
}

#[pymethods]
impl FitInfo {
    fn __repr__(&self) -> String {
        format!(
            "FitInfo(log_likelihood={}, customers={}, iterations={}, converged={}, boundary={:?})",
            self.log_likelihood, self.customers, self.iterations, self.converged, self.boundary
        )
    }
}

impl From<crmkit::clv::FitInfo> for FitInfo {
    fn from(f: crmkit::clv::FitInfo) -> FitInfo {
        FitInfo {
            parameters: f.parameters,
            standard_errors: f.standard_errors,
            log_likelihood: f.log_likelihood,
            customers: f.customers,
            cells: f.cells,
            iterations: f.iterations,
            converged: f.converged,
            boundary: f.boundary,
        }
    }
}

/// One customer's stored value scores.
#[pyclass(frozen, get_all, module = "crmkit._crmkit")]
pub struct CustomerScore {
    /// The customer.
    pub customer: Uuid,
    /// The model version that scored them.
    pub model_version: u64,
    /// Repeat purchase periods.
    pub frequency: f64,
    /// Time from the first to the last purchase (model time unit).
    pub recency: f64,
    /// Time from the first purchase to the observation end (the models' ``T``).
    pub age: f64,
    /// Mean repeat spend.
    pub monetary: f64,
    /// Probability the customer is still active.
    pub p_alive: f64,
    /// Expected purchases over the horizon.
    pub expected_purchases: f64,
    /// Expected spend per future purchase (Gamma-Gamma), if fitted.
    pub expected_spend: Option<f64>,
    /// Discounted customer lifetime value, if a spend model was fitted.
    pub clv: Option<f64>,
    /// RFM scores ``(r, f, m)``, 1–5 each.
    pub rfm: (u8, u8, u8),
    /// The RFM segment name.
    pub segment: String,
}

#[pymethods]
impl CustomerScore {
    fn __repr__(&self) -> String {
        format!(
            "CustomerScore(customer={}, p_alive={:.3}, expected_purchases={:.3}, clv={}, segment={:?})",
            self.customer,
            self.p_alive,
            self.expected_purchases,
            self.clv.map_or("None".to_owned(), |c| format!("{c:.2}")),
            self.segment
        )
    }
}

impl From<crmkit::CustomerScore> for CustomerScore {
    fn from(s: crmkit::CustomerScore) -> CustomerScore {
        CustomerScore {
            customer: uuid_of(s.customer),
            model_version: s.model_version,
            frequency: s.frequency,
            recency: s.recency,
            age: s.age,
            monetary: s.monetary,
            p_alive: s.p_alive,
            expected_purchases: s.expected_purchases,
            expected_spend: s.expected_spend,
            clv: s.clv,
            rfm: (s.rfm[0], s.rfm[1], s.rfm[2]),
            segment: s.segment,
        }
    }
}

/// A stored model version (see :meth:`Crm.value_models`).
#[pyclass(frozen, module = "crmkit._crmkit")]
pub struct ModelRecord {
    pub(crate) inner: crmkit::ModelRecord,
}

#[pymethods]
impl ModelRecord {
    /// The version (1, 2, …).
    #[getter]
    fn version(&self) -> u64 {
        self.inner.version
    }

    /// When it was fitted.
    #[getter]
    fn fitted_at(&self) -> DateTime<Utc> {
        self.inner.fitted_at
    }

    /// The observation end it was fitted as of.
    #[getter]
    fn as_of(&self) -> DateTime<Utc> {
        self.inner.as_of
    }

    /// The time unit of its parameters.
    #[getter]
    fn time_unit(&self) -> String {
        self.inner.time_unit.clone()
    }

    /// The currency of the purchases it was fitted on.
    #[getter]
    fn currency(&self) -> Option<String> {
        self.inner.currency.map(|c| c.code().to_owned())
    }

    /// The fitted models as stored (JSON as dicts).
    #[getter]
    fn models<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        json_to_py(py, &self.inner.models)
    }

    fn __repr__(&self) -> String {
        format!(
            "ModelRecord(version={}, as_of={}, time_unit={:?})",
            self.inner.version,
            self.inner.as_of.to_rfc3339(),
            self.inner.time_unit
        )
    }
}

/// The outcome of :meth:`Crm.fit_value`.
#[pyclass(frozen, get_all, module = "crmkit._crmkit")]
pub struct ValueReport {
    /// The stored model version.
    pub version: u64,
    /// The observation end.
    pub as_of: DateTime<Utc>,
    /// The time unit of the parameters.
    pub time_unit: String,
    /// The currency fitted.
    pub currency: Option<String>,
    /// The purchase model: ``bgnbd``, ``mbgnbd`` or ``paretonbd``.
    pub model: String,
    /// The purchase model's parameters.
    pub parameters: Vec<(String, f64)>,
    /// The purchase model's fit.
    pub purchase_fit: Py<FitInfo>,
    /// The Gamma-Gamma parameters ``p``, ``q``, ``v`` (``None`` without enough repeat buyers).
    pub spend_parameters: Option<Vec<(String, f64)>>,
    /// The Gamma-Gamma fit.
    pub spend_fit: Option<Py<FitInfo>>,
    /// Every scored customer.
    pub scores: Vec<Py<CustomerScore>>,
    /// Purchases in other currencies, left out.
    pub other_currency_rows: usize,
}

#[pymethods]
impl ValueReport {
    fn __repr__(&self) -> String {
        format!(
            "ValueReport(version={}, model={:?}, parameters={:?}, customers={})",
            self.version,
            self.model,
            self.parameters,
            self.scores.len()
        )
    }
}

impl ValueReport {
    /// Converts the engine's report.
    pub(crate) fn from_core(py: Python<'_>, r: crmkit::ValueReport) -> PyResult<ValueReport> {
        let spend_parameters = r
            .models
            .spend
            .map(|g| vec![("p".to_owned(), g.p), ("q".to_owned(), g.q), ("v".to_owned(), g.v)]);
        Ok(ValueReport {
            version: r.record.version,
            as_of: r.record.as_of,
            time_unit: r.record.time_unit.clone(),
            currency: r.record.currency.map(|c| c.code().to_owned()),
            model: r.models.purchase.kind().to_string(),
            parameters: r
                .models
                .purchase
                .parameters()
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v))
                .collect(),
            purchase_fit: Py::new(py, FitInfo::from(r.models.purchase_fit))?,
            spend_parameters,
            spend_fit: r.models.spend_fit.map(|f| Py::new(py, FitInfo::from(f))).transpose()?,
            scores: r
                .scores
                .into_iter()
                .map(|s| Py::new(py, CustomerScore::from(s)))
                .collect::<PyResult<_>>()?,
            other_currency_rows: r.other_currency_rows,
        })
    }
}

/// One customer's value, explained (see :meth:`Crm.explain_value`).
#[pyclass(frozen, get_all, module = "crmkit._crmkit")]
pub struct ValueExplanation {
    /// The stored scores.
    pub score: Py<CustomerScore>,
    /// The model version.
    pub model_version: u64,
    /// Expected purchases over the CLV horizon.
    pub clv_horizon_purchases: f64,
    /// The average discount applied, if there is a CLV.
    pub discount_factor: Option<f64>,
    /// The explanation in words.
    pub text: String,
}

#[pymethods]
impl ValueExplanation {
    fn __repr__(&self) -> String {
        format!("ValueExplanation({:?})", self.text)
    }

    fn __str__(&self) -> String {
        self.text.clone()
    }
}

impl ValueExplanation {
    /// Converts the engine's explanation.
    pub(crate) fn from_core(
        py: Python<'_>,
        e: crmkit::ValueExplanation,
    ) -> PyResult<ValueExplanation> {
        Ok(ValueExplanation {
            score: Py::new(py, CustomerScore::from(e.score))?,
            model_version: e.model.version,
            clv_horizon_purchases: e.clv_horizon_purchases,
            discount_factor: e.discount_factor,
            text: e.text,
        })
    }
}

/// Errors of predicted against actual holdout purchases.
#[pyclass(frozen, get_all, module = "crmkit._crmkit")]
#[derive(Clone)]
pub struct HoldoutMetrics {
    /// Customers.
    pub n: usize,
    /// Total predicted purchases.
    pub sum_predicted: f64,
    /// Total actual purchases.
    pub sum_actual: f64,
    /// Mean predicted purchases per customer.
    pub mean_predicted: f64,
    /// Mean actual purchases per customer.
    pub mean_actual: f64,
    /// Mean absolute error.
    pub mae: f64,
    /// Root mean squared error.
    pub rmse: f64,
    /// Mean of predicted − actual (positive: the model over-predicts).
    pub mean_bias: f64,
    /// Pearson correlation, ``None`` when either side is constant.
    pub correlation: Option<f64>,
}

#[pymethods]
impl HoldoutMetrics {
    fn __repr__(&self) -> String {
        format!(
            "HoldoutMetrics(n={}, sum_predicted={:.3}, sum_actual={:.3}, mae={:.4}, rmse={:.4}, mean_bias={:.4}, correlation={})",
            self.n,
            self.sum_predicted,
            self.sum_actual,
            self.mae,
            self.rmse,
            self.mean_bias,
            self.correlation.map_or("None".to_owned(), |c| format!("{c:.4}"))
        )
    }
}

impl From<crmkit::clv::eval::HoldoutMetrics> for HoldoutMetrics {
    fn from(m: crmkit::clv::eval::HoldoutMetrics) -> HoldoutMetrics {
        HoldoutMetrics {
            n: m.n,
            sum_predicted: m.sum_predicted,
            sum_actual: m.sum_actual,
            mean_predicted: m.mean_predicted,
            mean_actual: m.mean_actual,
            mae: m.mae,
            rmse: m.rmse,
            mean_bias: m.mean_bias,
            correlation: m.correlation,
        }
    }
}

/// The outcome of :meth:`Crm.holdout_check`.
#[pyclass(frozen, get_all, module = "crmkit._crmkit")]
pub struct HoldoutCheck {
    /// The purchase model fitted on the calibration period.
    pub model: String,
    /// Its parameters.
    pub parameters: Vec<(String, f64)>,
    /// Its fit.
    pub fit: Py<FitInfo>,
    /// Customers in the calibration cohort.
    pub customers: usize,
    /// Predicted against actual holdout purchases.
    pub metrics: Py<HoldoutMetrics>,
    /// Mean predicted and actual holdout purchases by calibration frequency (0–6, 7+): a dict of
    /// lists ``frequency``, ``customers``, ``mean_predicted``, ``mean_actual``.
    pub by_frequency: Py<PyDict>,
    /// Weekly cumulative repeat purchases, expected and actual: a dict of lists ``period``,
    /// ``t``, ``expected``, ``actual``.
    pub tracking: Py<PyDict>,
    /// The first tracking period that lies in the holdout.
    pub holdout_starts_at_period: usize,
}

#[pymethods]
impl HoldoutCheck {
    fn __repr__(&self) -> String {
        format!(
            "HoldoutCheck(model={:?}, customers={}, metrics={})",
            self.model,
            self.customers,
            self.metrics.get().__repr__()
        )
    }
}

impl HoldoutCheck {
    /// Converts the engine's check.
    pub(crate) fn from_core(
        py: Python<'_>,
        c: crmkit::valuation::HoldoutCheck,
    ) -> PyResult<HoldoutCheck> {
        let by = PyDict::new(py);
        by.set_item("frequency", c.by_frequency.frequency)?;
        by.set_item("customers", c.by_frequency.customers)?;
        by.set_item("mean_predicted", c.by_frequency.mean_predicted)?;
        by.set_item("mean_actual", c.by_frequency.mean_actual)?;
        let tr = PyDict::new(py);
        tr.set_item("period", c.tracking.period)?;
        tr.set_item("t", c.tracking.t)?;
        tr.set_item("expected", c.tracking.expected)?;
        tr.set_item("actual", c.tracking.actual)?;
        Ok(HoldoutCheck {
            model: c.model.kind().to_string(),
            parameters: c.model.parameters().into_iter().map(|(k, v)| (k.to_owned(), v)).collect(),
            fit: Py::new(py, FitInfo::from(c.fit))?,
            customers: c.customers,
            metrics: Py::new(py, HoldoutMetrics::from(c.metrics))?,
            by_frequency: by.unbind(),
            tracking: tr.unbind(),
            holdout_starts_at_period: c.holdout_starts_at_period,
        })
    }
}
