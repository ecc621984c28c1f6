//! The probabilistic models as Python classes over numpy columns: BG/NBD, MBG/NBD, Pareto/NBD
//! (continuous time), BG/BB (discrete opportunities), Gamma-Gamma (spend), and CLV.

use crmkit::clv::Cells;
use crmkit::clv::bgbb::BgBb as RBgBb;
use crmkit::clv::bgnbd::BgNbd as RBgNbd;
use crmkit::clv::clv::{Discounting, RepeatPurchaseModel};
use crmkit::clv::gammagamma::GammaGamma as RGammaGamma;
use crmkit::clv::mbgnbd::MbgNbd as RMbgNbd;
use crmkit::clv::paretonbd::ParetoNbd as RParetoNbd;
use numpy::{IntoPyArray, PyArray1, PyReadonlyArray1};
use pyo3::prelude::*;

use crate::analytics::slice;
use crate::error::{Failure, invalid, without_gil};
use crate::value::FitInfo;

/// Cells for a fit ([`Cells::for_fit`]: customers with `T = 0` are left out).
fn cells(x: &[f64], t_x: &[f64], t: &[f64], w: Option<&[f64]>) -> Result<Cells, Failure> {
    Ok(Cells::for_fit(x, t_x, t, w)?)
}

/// The weighted unique cells a fit is evaluated on, as numpy columns ``(frequency, recency, T,
/// weight)``: customers with ``T = 0`` carry no information and are left out.
#[pyfunction]
#[pyo3(signature = (frequency, recency, t, weights=None))]
#[allow(clippy::type_complexity)]
pub(crate) fn fit_cells<'py>(
    py: Python<'py>,
    frequency: PyReadonlyArray1<'py, f64>,
    recency: PyReadonlyArray1<'py, f64>,
    t: PyReadonlyArray1<'py, f64>,
    weights: Option<PyReadonlyArray1<'py, f64>>,
) -> PyResult<(
    Bound<'py, PyArray1<f64>>,
    Bound<'py, PyArray1<f64>>,
    Bound<'py, PyArray1<f64>>,
    Bound<'py, PyArray1<f64>>,
)> {
    let (x, tx, tt) =
        (slice(&frequency, "frequency")?, slice(&recency, "recency")?, slice(&t, "T")?);
    let w = weights.as_ref().map(|w| slice(w, "weights")).transpose()?;
    let c = without_gil(py, move || cells(x, tx, tt, w))?;
    Ok((
        c.x.into_pyarray(py),
        c.t_x.into_pyarray(py),
        c.t.into_pyarray(py),
        c.weight.into_pyarray(py),
    ))
}

/// The length of a time unit (``D``, ``W``, ``M``, ``Y``, ``day``... or a number of days) in days.
#[pyfunction]
pub(crate) fn time_unit_days(time_unit: &str) -> PyResult<f64> {
    Ok(crate::value::time_unit(time_unit)?.days())
}

/// How many of a time unit make crmkit's month of :data:`DAYS_PER_MONTH` days: the
/// ``period_length`` of monthly CLV for a model fitted in that unit.
#[pyfunction]
pub(crate) fn time_units_per_month(time_unit: &str) -> PyResult<f64> {
    Ok(crate::value::time_unit(time_unit)?.per_month())
}

/// lifetimes' time units per month for the ``freq`` of its ``customer_lifetime_value``
/// (``W`` 4.345, ``M`` 1, ``D`` 30, ``H`` 720).
#[pyfunction]
pub(crate) fn lifetimes_units_per_month(freq: &str) -> PyResult<f64> {
    Ok(crmkit::clv::clv::lifetimes_units_per_month(freq).map_err(Failure::Clv)?)
}

macro_rules! continuous_model {
    ($py_name:ident, $rust:ty, $name:literal, $doc:literal, [$p1:ident, $p2:ident, $p3:ident, $p4:ident]) => {
        #[doc = $doc]
        #[pyclass(frozen, module = "crmkit._crmkit")]
        #[derive(Clone)]
        pub struct $py_name {
            pub(crate) inner: $rust,
        }

        #[pymethods]
        impl $py_name {
            #[new]
            fn new($p1: f64, $p2: f64, $p3: f64, $p4: f64) -> PyResult<Self> {
                Ok(Self { inner: <$rust>::new($p1, $p2, $p3, $p4).map_err(Failure::Clv)? })
            }

            /// Parameter names, in the order of :attr:`params`.
            #[classattr]
            const PARAMETERS: [&'static str; 4] = <$rust>::PARAMETERS;

            /// Fits the model by maximum likelihood; returns the model and its :class:`FitInfo`.
            /// Customers with ``T = 0`` carry no information and are left out.
            #[staticmethod]
            #[pyo3(signature = (frequency, recency, t, weights=None))]
            fn fit<'py>(
                py: Python<'py>,
                frequency: PyReadonlyArray1<'py, f64>,
                recency: PyReadonlyArray1<'py, f64>,
                t: PyReadonlyArray1<'py, f64>,
                weights: Option<PyReadonlyArray1<'py, f64>>,
            ) -> PyResult<(Self, FitInfo)> {
                let (x, tx, tt) =
                    (slice(&frequency, "frequency")?, slice(&recency, "recency")?, slice(&t, "T")?);
                let w = weights.as_ref().map(|w| slice(w, "weights")).transpose()?;
                let (m, info) = without_gil(py, move || {
                    let c = cells(x, tx, tt, w)?;
                    Ok(<$rust>::fit(&c)?)
                })?;
                Ok((Self { inner: m }, info.into()))
            }

            /// The parameters, in the order of :attr:`PARAMETERS`.
            #[getter]
            fn params(&self) -> Vec<f64> {
                let m = &self.inner;
                vec![m.$p1, m.$p2, m.$p3, m.$p4]
            }

            /// The total (weighted) log-likelihood of the data under this model.
            #[pyo3(signature = (frequency, recency, t, weights=None))]
            fn log_likelihood<'py>(
                &self,
                py: Python<'py>,
                frequency: PyReadonlyArray1<'py, f64>,
                recency: PyReadonlyArray1<'py, f64>,
                t: PyReadonlyArray1<'py, f64>,
                weights: Option<PyReadonlyArray1<'py, f64>>,
            ) -> PyResult<f64> {
                let (x, tx, tt) =
                    (slice(&frequency, "frequency")?, slice(&recency, "recency")?, slice(&t, "T")?);
                let w = weights.as_ref().map(|w| slice(w, "weights")).transpose()?;
                let m = self.inner;
                without_gil(py, move || Ok(m.log_likelihood(&cells(x, tx, tt, w)?)))
            }

            /// E[Y(t) | x, t_x, T]: each customer's expected purchases in the next ``t``.
            fn conditional_expected_purchases<'py>(
                &self,
                py: Python<'py>,
                t: f64,
                frequency: PyReadonlyArray1<'py, f64>,
                recency: PyReadonlyArray1<'py, f64>,
                age: PyReadonlyArray1<'py, f64>,
            ) -> PyResult<Bound<'py, PyArray1<f64>>> {
                let (x, tx, tt) = (
                    slice(&frequency, "frequency")?,
                    slice(&recency, "recency")?,
                    slice(&age, "T")?,
                );
                let m = self.inner;
                let v =
                    without_gil(py, move || Ok(m.conditional_expected_purchases(t, x, tx, tt)?))?;
                Ok(v.into_pyarray(py))
            }

            /// P(alive at T | x, t_x, T) for each customer.
            fn probability_alive<'py>(
                &self,
                py: Python<'py>,
                frequency: PyReadonlyArray1<'py, f64>,
                recency: PyReadonlyArray1<'py, f64>,
                age: PyReadonlyArray1<'py, f64>,
            ) -> PyResult<Bound<'py, PyArray1<f64>>> {
                let (x, tx, tt) = (
                    slice(&frequency, "frequency")?,
                    slice(&recency, "recency")?,
                    slice(&age, "T")?,
                );
                let m = self.inner;
                let v = without_gil(py, move || Ok(m.probability_alive(x, tx, tt)?))?;
                Ok(v.into_pyarray(py))
            }

            /// P(alive at T + t | x, t_x, T) for each customer.
            fn probability_alive_after<'py>(
                &self,
                py: Python<'py>,
                t: f64,
                frequency: PyReadonlyArray1<'py, f64>,
                recency: PyReadonlyArray1<'py, f64>,
                age: PyReadonlyArray1<'py, f64>,
            ) -> PyResult<Bound<'py, PyArray1<f64>>> {
                let (x, tx, tt) = (
                    slice(&frequency, "frequency")?,
                    slice(&recency, "recency")?,
                    slice(&age, "T")?,
                );
                let m = self.inner;
                let v = without_gil(py, move || Ok(m.probability_alive_after(t, x, tx, tt)?))?;
                Ok(v.into_pyarray(py))
            }

            /// E[X(t)] for each ``t``: expected repeat purchases of a new customer.
            fn expected_purchases<'py>(
                &self,
                py: Python<'py>,
                t: PyReadonlyArray1<'py, f64>,
            ) -> PyResult<Bound<'py, PyArray1<f64>>> {
                let ts = slice(&t, "t")?;
                let m = self.inner;
                let v = without_gil(py, move || {
                    Ok(ts.iter().map(|&t| m.expected_purchases(t)).collect::<Vec<f64>>())
                })?;
                Ok(v.into_pyarray(py))
            }

            /// P(X(t) = n): the probability of exactly ``n`` repeat purchases in ``(0, t]``.
            fn probability_of_purchases(&self, py: Python<'_>, t: f64, n: u32) -> PyResult<f64> {
                let m = self.inner;
                without_gil(py, move || Ok(m.probability_of_purchases(t, n)))
            }

            fn __repr__(&self) -> String {
                let m = &self.inner;
                format!(
                    concat!($name, "({}={}, {}={}, {}={}, {}={})"),
                    stringify!($p1),
                    m.$p1,
                    stringify!($p2),
                    m.$p2,
                    stringify!($p3),
                    m.$p3,
                    stringify!($p4),
                    m.$p4
                )
            }
        }
    };
}

continuous_model!(
    BgNbd,
    RBgNbd,
    "BgNbd",
    "The BG/NBD model (Fader, Hardie & Lee 2005).",
    [r, alpha, a, b]
);
continuous_model!(
    MbgNbd,
    RMbgNbd,
    "MbgNbd",
    "The MBG/NBD model (Batislam et al. 2007).",
    [r, alpha, a, b]
);
continuous_model!(
    ParetoNbd,
    RParetoNbd,
    "ParetoNbd",
    "The Pareto/NBD model (Schmittlein, Morrison & Colombo 1987).",
    [r, alpha, s, beta]
);

/// The BG/BB model of discrete transaction opportunities (Fader, Hardie & Shang 2010).
#[pyclass(frozen, module = "crmkit._crmkit")]
#[derive(Clone)]
pub struct BgBb {
    pub(crate) inner: RBgBb,
}

#[pymethods]
impl BgBb {
    #[new]
    fn new(alpha: f64, beta: f64, gamma: f64, delta: f64) -> PyResult<Self> {
        Ok(BgBb { inner: RBgBb::new(alpha, beta, gamma, delta).map_err(Failure::Clv)? })
    }

    /// Parameter names, in the order of :attr:`params`.
    #[classattr]
    const PARAMETERS: [&'static str; 4] = RBgBb::PARAMETERS;

    /// Fits the model to patterns ``(x, t_x, n)`` with customer counts ``weights``.
    #[staticmethod]
    #[pyo3(signature = (frequency, recency, n_periods, weights=None))]
    fn fit<'py>(
        py: Python<'py>,
        frequency: PyReadonlyArray1<'py, f64>,
        recency: PyReadonlyArray1<'py, f64>,
        n_periods: PyReadonlyArray1<'py, f64>,
        weights: Option<PyReadonlyArray1<'py, f64>>,
    ) -> PyResult<(Self, FitInfo)> {
        let (x, tx, n) = (
            slice(&frequency, "frequency")?,
            slice(&recency, "recency")?,
            slice(&n_periods, "n_periods")?,
        );
        let w = weights.as_ref().map(|w| slice(w, "weights")).transpose()?;
        let (m, info) = without_gil(py, move || {
            let ones;
            let w = match w {
                Some(w) => w,
                None => {
                    ones = vec![1.0; x.len()];
                    &ones
                }
            };
            Ok(RBgBb::fit(x, tx, n, w)?)
        })?;
        Ok((BgBb { inner: m }, info.into()))
    }

    /// The parameters ``alpha, beta, gamma, delta``.
    #[getter]
    fn params(&self) -> Vec<f64> {
        let m = &self.inner;
        vec![m.alpha, m.beta, m.gamma, m.delta]
    }

    /// The total log-likelihood of the patterns.
    #[pyo3(signature = (frequency, recency, n_periods, weights=None))]
    fn log_likelihood<'py>(
        &self,
        py: Python<'py>,
        frequency: PyReadonlyArray1<'py, f64>,
        recency: PyReadonlyArray1<'py, f64>,
        n_periods: PyReadonlyArray1<'py, f64>,
        weights: Option<PyReadonlyArray1<'py, f64>>,
    ) -> PyResult<f64> {
        let (x, tx, n) = (
            slice(&frequency, "frequency")?,
            slice(&recency, "recency")?,
            slice(&n_periods, "n_periods")?,
        );
        let w = weights.as_ref().map(|w| slice(w, "weights")).transpose()?;
        let m = self.inner;
        without_gil(py, move || {
            let ones = vec![1.0; x.len()];
            Ok(m.log_likelihood(x, tx, n, w.unwrap_or(&ones))?)
        })
    }

    /// Expected transactions in the next ``m`` opportunities of each customer.
    fn conditional_expected_purchases<'py>(
        &self,
        py: Python<'py>,
        m: f64,
        frequency: PyReadonlyArray1<'py, f64>,
        recency: PyReadonlyArray1<'py, f64>,
        n_periods: PyReadonlyArray1<'py, f64>,
    ) -> PyResult<Bound<'py, PyArray1<f64>>> {
        let (x, tx, n) = (
            slice(&frequency, "frequency")?,
            slice(&recency, "recency")?,
            slice(&n_periods, "n_periods")?,
        );
        let model = self.inner;
        let v = without_gil(py, move || Ok(model.conditional_expected_purchases(m, x, tx, n)?))?;
        Ok(v.into_pyarray(py))
    }

    /// P(alive at n + m | x, t_x, n) for each customer.
    fn probability_alive_after<'py>(
        &self,
        py: Python<'py>,
        m: f64,
        frequency: PyReadonlyArray1<'py, f64>,
        recency: PyReadonlyArray1<'py, f64>,
        n_periods: PyReadonlyArray1<'py, f64>,
    ) -> PyResult<Bound<'py, PyArray1<f64>>> {
        let (x, tx, n) = (
            slice(&frequency, "frequency")?,
            slice(&recency, "recency")?,
            slice(&n_periods, "n_periods")?,
        );
        let model = self.inner;
        let v = without_gil(py, move || Ok(model.probability_alive_after(m, x, tx, n)?))?;
        Ok(v.into_pyarray(py))
    }

    /// E[X(n)] for each ``n``: expected transactions in the first ``n`` opportunities.
    fn expected_purchases<'py>(
        &self,
        py: Python<'py>,
        n: PyReadonlyArray1<'py, f64>,
    ) -> PyResult<Bound<'py, PyArray1<f64>>> {
        let ns = slice(&n, "n")?;
        let m = self.inner;
        let v = without_gil(py, move || {
            Ok(ns.iter().map(|&n| m.expected_purchases(n)).collect::<Vec<f64>>())
        })?;
        Ok(v.into_pyarray(py))
    }

    /// P(X(n) = x): the probability of ``x`` transactions in the first ``n`` opportunities.
    fn probability_of_purchases(&self, py: Python<'_>, n: u32, x: u32) -> PyResult<f64> {
        let m = self.inner;
        without_gil(py, move || Ok(m.probability_of_purchases(n, x)))
    }

    fn __repr__(&self) -> String {
        let m = &self.inner;
        format!("BgBb(alpha={}, beta={}, gamma={}, delta={})", m.alpha, m.beta, m.gamma, m.delta)
    }
}

/// The Gamma-Gamma model of spend per transaction (Fader, Hardie & Lee 2005).
#[pyclass(frozen, module = "crmkit._crmkit")]
#[derive(Clone)]
pub struct GammaGamma {
    pub(crate) inner: RGammaGamma,
}

#[pymethods]
impl GammaGamma {
    #[new]
    fn new(p: f64, q: f64, v: f64) -> PyResult<Self> {
        Ok(GammaGamma { inner: RGammaGamma::new(p, q, v).map_err(Failure::Clv)? })
    }

    /// Parameter names, in the order of :attr:`params`.
    #[classattr]
    const PARAMETERS: [&'static str; 3] = RGammaGamma::PARAMETERS;

    /// Fits the model on repeat customers (``frequency ≥ 1``, mean spend > 0).
    #[staticmethod]
    fn fit<'py>(
        py: Python<'py>,
        frequency: PyReadonlyArray1<'py, f64>,
        monetary_value: PyReadonlyArray1<'py, f64>,
    ) -> PyResult<(Self, FitInfo)> {
        GammaGamma::fit_with(py, &frequency, &monetary_value, RGammaGamma::fit)
    }

    /// Fits the model on the customers with repeat spend (``frequency > 0``, mean spend > 0) out
    /// of a whole customer base; the others are left out.
    #[staticmethod]
    fn fit_repeat_spenders<'py>(
        py: Python<'py>,
        frequency: PyReadonlyArray1<'py, f64>,
        monetary_value: PyReadonlyArray1<'py, f64>,
    ) -> PyResult<(Self, FitInfo)> {
        GammaGamma::fit_with(py, &frequency, &monetary_value, RGammaGamma::fit_repeat_spenders)
    }

    /// The parameters ``p, q, v``.
    #[getter]
    fn params(&self) -> Vec<f64> {
        vec![self.inner.p, self.inner.q, self.inner.v]
    }

    /// The total log-likelihood.
    fn log_likelihood<'py>(
        &self,
        py: Python<'py>,
        frequency: PyReadonlyArray1<'py, f64>,
        monetary_value: PyReadonlyArray1<'py, f64>,
    ) -> PyResult<f64> {
        let (x, m) = (slice(&frequency, "frequency")?, slice(&monetary_value, "monetary_value")?);
        let g = self.inner;
        without_gil(py, move || Ok(g.log_likelihood(x, m)?))
    }

    /// Each customer's expected spend per future transaction.
    fn conditional_expected_spend<'py>(
        &self,
        py: Python<'py>,
        frequency: PyReadonlyArray1<'py, f64>,
        monetary_value: PyReadonlyArray1<'py, f64>,
    ) -> PyResult<Bound<'py, PyArray1<f64>>> {
        self.spend_with(py, &frequency, &monetary_value, RGammaGamma::conditional_expected_spend)
    }

    /// Each customer's expected spend per future transaction across a whole customer base: the
    /// population mean for customers without repeat spend (no repeat purchase, or only free ones).
    fn expected_spend_per_customer<'py>(
        &self,
        py: Python<'py>,
        frequency: PyReadonlyArray1<'py, f64>,
        monetary_value: PyReadonlyArray1<'py, f64>,
    ) -> PyResult<Bound<'py, PyArray1<f64>>> {
        self.spend_with(py, &frequency, &monetary_value, RGammaGamma::expected_spend_per_customer)
    }

    /// The population mean spend ``p·v/(q−1)``, or ``None`` when ``q ≤ 1``.
    fn expected_spend(&self) -> Option<f64> {
        self.inner.expected_spend()
    }

    fn __repr__(&self) -> String {
        format!("GammaGamma(p={}, q={}, v={})", self.inner.p, self.inner.q, self.inner.v)
    }
}

/// A Gamma-Gamma fit on `(frequency, mean spend)` columns.
type SpendFit = fn(&[f64], &[f64]) -> crmkit::clv::Result<(RGammaGamma, crmkit::clv::FitInfo)>;

/// A per-customer prediction of a Gamma-Gamma model from `(frequency, mean spend)` columns.
type SpendPrediction = fn(&RGammaGamma, &[f64], &[f64]) -> crmkit::clv::Result<Vec<f64>>;

impl GammaGamma {
    /// A fit (`fit` or `fit_repeat_spenders`) on the columns, without the GIL.
    fn fit_with<'py>(
        py: Python<'py>,
        frequency: &PyReadonlyArray1<'py, f64>,
        monetary_value: &PyReadonlyArray1<'py, f64>,
        fit: SpendFit,
    ) -> PyResult<(Self, FitInfo)> {
        let (x, m) = (slice(frequency, "frequency")?, slice(monetary_value, "monetary_value")?);
        let (g, info) = without_gil(py, move || Ok(fit(x, m)?))?;
        Ok((GammaGamma { inner: g }, info.into()))
    }

    /// A per-customer spend prediction of the model on the columns, without the GIL.
    fn spend_with<'py>(
        &self,
        py: Python<'py>,
        frequency: &PyReadonlyArray1<'py, f64>,
        monetary_value: &PyReadonlyArray1<'py, f64>,
        spend: SpendPrediction,
    ) -> PyResult<Bound<'py, PyArray1<f64>>> {
        let (x, m) = (slice(frequency, "frequency")?, slice(monetary_value, "monetary_value")?);
        let g = self.inner;
        let v = without_gil(py, move || Ok(spend(&g, x, m)?))?;
        Ok(v.into_pyarray(py))
    }
}

/// Any of the repeat-purchase models, extracted from its Python object.
#[derive(Clone, Copy)]
pub(crate) enum AnyModel {
    BgNbd(RBgNbd),
    MbgNbd(RMbgNbd),
    ParetoNbd(RParetoNbd),
    BgBb(RBgBb),
}

impl AnyModel {
    /// The model behind a native model object.
    pub(crate) fn from_py(obj: &Bound<'_, PyAny>) -> PyResult<AnyModel> {
        if let Ok(m) = obj.cast::<BgNbd>() {
            return Ok(AnyModel::BgNbd(m.get().inner));
        }
        if let Ok(m) = obj.cast::<MbgNbd>() {
            return Ok(AnyModel::MbgNbd(m.get().inner));
        }
        if let Ok(m) = obj.cast::<ParetoNbd>() {
            return Ok(AnyModel::ParetoNbd(m.get().inner));
        }
        if let Ok(m) = obj.cast::<BgBb>() {
            return Ok(AnyModel::BgBb(m.get().inner));
        }
        Err(invalid(format!(
            "model: expected a fitted BgNbd, MbgNbd, ParetoNbd or BgBb, got {}",
            crate::convert::type_name(obj)
        )))
    }

    /// E[X(t)] of a new customer.
    pub(crate) fn expected_purchases(&self, t: f64) -> f64 {
        match self {
            AnyModel::BgNbd(m) => m.expected_purchases(t),
            AnyModel::MbgNbd(m) => m.expected_purchases(t),
            AnyModel::ParetoNbd(m) => m.expected_purchases(t),
            AnyModel::BgBb(m) => m.expected_purchases(t),
        }
    }

    fn as_dyn(&self) -> &dyn RepeatPurchaseModel {
        match self {
            AnyModel::BgNbd(m) => m,
            AnyModel::MbgNbd(m) => m,
            AnyModel::ParetoNbd(m) => m,
            AnyModel::BgBb(m) => m,
        }
    }
}

/// Each customer's discounted expected value of future transactions: ``spend`` times the
/// expected purchases of ``model`` over ``periods`` steps of ``period_length`` model time units,
/// each step discounted at ``discount_rate`` (lifetimes' convention: 12 months of 4.345 weeks).
#[pyfunction]
#[pyo3(signature = (model, spend, frequency, recency, t, discount_rate=0.01, periods=12, period_length=4.345))]
#[allow(clippy::too_many_arguments)]
pub(crate) fn customer_lifetime_value<'py>(
    py: Python<'py>,
    model: &Bound<'py, PyAny>,
    spend: PyReadonlyArray1<'py, f64>,
    frequency: PyReadonlyArray1<'py, f64>,
    recency: PyReadonlyArray1<'py, f64>,
    t: PyReadonlyArray1<'py, f64>,
    discount_rate: f64,
    periods: u32,
    period_length: f64,
) -> PyResult<Bound<'py, PyArray1<f64>>> {
    let model = AnyModel::from_py(model)?;
    let (s, x, tx, tt) = (
        slice(&spend, "spend")?,
        slice(&frequency, "frequency")?,
        slice(&recency, "recency")?,
        slice(&t, "T")?,
    );
    let discounting =
        Discounting::Discrete { rate_per_period: discount_rate, periods, period_length };
    let v = without_gil(py, move || {
        Ok(crmkit::clv::clv::customer_lifetime_value(model.as_dyn(), s, x, tx, tt, &discounting)?)
    })?;
    Ok(v.into_pyarray(py))
}
