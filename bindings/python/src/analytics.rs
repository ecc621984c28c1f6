//! Analytics on columns: RFM summaries, calibration/holdout splits, RFM scores and segments,
//! holdout evaluation and tracking curves. Columns cross as numpy buffers (no copy when they are
//! contiguous), and the work runs with the GIL released.

use std::collections::HashMap;

use crmkit::clv::ClvError;
use crmkit::clv::eval::{HoldoutComparison, TrackingOptions};
use crmkit::clv::rfm::{Rule, Scheme};
use crmkit::clv::summary::{MICROS_PER_DAY, SummaryOptions};
use numpy::{IntoPyArray, PyArray1, PyReadonlyArray1};
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::error::{Failure, invalid, without_gil};
use crate::models::AnyModel;
use crate::value::{HoldoutMetrics, non_positive, time_unit};

/// A contiguous view of a numpy array, or a ValidationError naming the column.
pub(crate) fn slice<'a, T: numpy::Element>(
    a: &'a PyReadonlyArray1<'_, T>,
    column: &str,
) -> PyResult<&'a [T]> {
    a.as_slice().map_err(|_| invalid(format!("column `{column}`: the array is not contiguous")))
}

/// The names the caller gave the columns, to put in error messages.
#[derive(Clone)]
pub(crate) struct Names {
    customer: String,
    timestamp: String,
    amount: String,
}

impl Names {
    /// Rewrites a statistics error so that it names the caller's columns.
    pub(crate) fn explain(&self, e: ClvError) -> Failure {
        match e {
            ClvError::InvalidInput { column, index, message } => {
                let column = match column.as_str() {
                    "customer" => self.customer.clone(),
                    "timestamp" => self.timestamp.clone(),
                    "amount" => self.amount.clone(),
                    _ => column,
                };
                Failure::Validation(format!("column `{column}`, row {index}: {message}"))
            }
            other => Failure::Clv(other),
        }
    }
}

/// Transaction columns ready for the statistics crate.
struct Transactions {
    customer: Vec<u32>,
    /// The caller's customer code of each dense index.
    codes: Vec<i64>,
    micros: Vec<i64>,
}

/// Runs `f` on up to four chunks of `input` (one per core) in parallel and writes its outputs
/// to the same positions of the result; `f` returns the first bad position of its chunk, if any.
/// Small inputs run on the calling thread.
fn par_convert<T: Sync, U: Send + Copy + Default>(
    input: &[T],
    f: impl Fn(&[T], &mut [U]) -> Option<usize> + Sync,
) -> (Vec<U>, Option<usize>) {
    let n = input.len();
    let mut out = vec![U::default(); n];
    let threads = std::thread::available_parallelism().map_or(1, |t| t.get()).clamp(1, 4);
    if n < 1 << 20 || threads == 1 {
        let bad = f(input, &mut out);
        return (out, bad);
    }
    let chunk = n.div_ceil(threads);
    let bad = std::thread::scope(|scope| {
        let handles: Vec<_> = input
            .chunks(chunk)
            .zip(out.chunks_mut(chunk))
            .enumerate()
            .map(|(k, (src, dst))| {
                let f = &f;
                scope.spawn(move || f(src, dst).map(|i| k * chunk + i))
            })
            .collect();
        handles.into_iter().filter_map(|h| h.join().ok().flatten()).min()
    });
    (out, bad)
}

/// Converts timestamps in `unit` (`ns`, `us`, `ms`, `s` or `D`) to µs; NaT is an error.
fn to_micros(ts: &[i64], unit: &str, names: &Names) -> Result<Vec<i64>, Failure> {
    let factor: i64 = match unit {
        "ns" => -1000,
        "us" => 1,
        "ms" => 1000,
        "s" => 1_000_000,
        "D" => MICROS_PER_DAY,
        other => {
            return Err(Failure::Validation(format!(
                "column `{}`: unsupported time unit {other:?}",
                names.timestamp
            )));
        }
    };
    // i64::MIN is NaT (pandas, numpy); a product that overflows is out of range.
    let (out, bad) = par_convert(ts, |src, dst: &mut [i64]| {
        for (i, (&t, d)) in src.iter().zip(dst.iter_mut()).enumerate() {
            let v = if t == i64::MIN {
                None
            } else if factor < 0 {
                Some(t.div_euclid(-factor))
            } else {
                t.checked_mul(factor)
            };
            match v {
                Some(v) => *d = v,
                None => return Some(i),
            }
        }
        None
    });
    match bad {
        Some(i) if ts[i] == i64::MIN => Err(Failure::Validation(format!(
            "column `{}`, row {i}: missing timestamp (null/NaT)",
            names.timestamp
        ))),
        Some(i) => Err(Failure::Validation(format!(
            "column `{}`, row {i}: timestamp out of range",
            names.timestamp
        ))),
        None => Ok(out),
    }
}

/// Dense `u32` customer indices from the caller's integer codes. Small non-negative codes are
/// used as they are; others are numbered in ascending order.
fn densify(codes: &[i64], names: &Names) -> Result<(Vec<u32>, Vec<i64>), Failure> {
    let n = codes.len();
    let (mut lo, mut hi) = (i64::MAX, i64::MIN);
    for &c in codes {
        lo = lo.min(c);
        hi = hi.max(c);
    }
    let limit = (4 * n as i64).max(1 << 20).min(i64::from(u32::MAX));
    if n == 0 || (lo >= 0 && hi < limit) {
        let (dense, _) = par_convert(codes, |src, dst: &mut [u32]| {
            for (&c, d) in src.iter().zip(dst.iter_mut()) {
                *d = c as u32;
            }
            None
        });
        let back: Vec<i64> = (0..=hi.max(-1)).collect();
        return Ok((dense, back));
    }
    let mut unique: Vec<i64> = codes.to_vec();
    unique.sort_unstable();
    unique.dedup();
    if unique.len() > u32::MAX as usize {
        return Err(Failure::Validation(format!(
            "column `{}`: more than 2^32 customers",
            names.customer
        )));
    }
    let index: HashMap<i64, u32> = unique.iter().enumerate().map(|(i, &c)| (c, i as u32)).collect();
    let dense = codes.iter().map(|c| index.get(c).copied().unwrap_or(0)).collect();
    Ok((dense, unique))
}

fn prepare(
    customer: &[i64],
    timestamp: &[i64],
    unit: &str,
    amount: Option<&[f64]>,
    names: &Names,
) -> Result<Transactions, Failure> {
    let n = customer.len();
    if timestamp.len() != n || amount.is_some_and(|a| a.len() != n) {
        return Err(Failure::Validation(format!(
            "columns differ in length: `{}` {n}, `{}` {}, `{}` {}",
            names.customer,
            names.timestamp,
            timestamp.len(),
            names.amount,
            amount.map_or(n, <[f64]>::len)
        )));
    }
    if let Some(a) = amount
        && let Some(i) = a.iter().position(|v| !v.is_finite())
    {
        let what = if a[i].is_nan() { "missing amount (null/NaN)" } else { "amount is infinite" };
        return Err(Failure::Validation(format!("column `{}`, row {i}: {what}", names.amount)));
    }
    let micros = to_micros(timestamp, unit, names)?;
    let (dense, codes) = densify(customer, names)?;
    Ok(Transactions { customer: dense, codes, micros })
}

/// The RFM summary of transaction columns (see `crmkit.rfm_summary`): a dict of numpy arrays
/// `customer` (the caller's codes), `frequency`, `recency`, `T`, `monetary_value`, `first_day`.
#[pyfunction]
#[pyo3(signature = (customer, timestamp, unit, amount, as_of_micros, time_unit_name="D", non_positive_policy="keep", names=("customer".to_owned(), "timestamp".to_owned(), "amount".to_owned())))]
#[allow(clippy::too_many_arguments)]
pub(crate) fn summary_columns<'py>(
    py: Python<'py>,
    customer: PyReadonlyArray1<'py, i64>,
    timestamp: PyReadonlyArray1<'py, i64>,
    unit: &str,
    amount: Option<PyReadonlyArray1<'py, f64>>,
    as_of_micros: i64,
    time_unit_name: &str,
    non_positive_policy: &str,
    names: (String, String, String),
) -> PyResult<Bound<'py, PyDict>> {
    let names = Names { customer: names.0, timestamp: names.1, amount: names.2 };
    let options = SummaryOptions::new(as_of_micros)
        .time_unit(time_unit(time_unit_name)?)
        .non_positive(non_positive(non_positive_policy)?);
    let (c, t) = (slice(&customer, &names.customer)?, slice(&timestamp, &names.timestamp)?);
    let a = amount.as_ref().map(|a| slice(a, &names.amount)).transpose()?;
    let unit = unit.to_owned();
    let (s, codes) = without_gil(py, move || {
        let tx = prepare(c, t, &unit, a, &names)?;
        let zeros;
        let amounts = match a {
            Some(a) => a,
            None => {
                zeros = vec![0.0; tx.customer.len()];
                &zeros
            }
        };
        let s = crmkit::clv::summary::summary(&tx.customer, &tx.micros, amounts, &options)
            .map_err(|e| names.explain(e))?;
        let codes: Vec<i64> = s.customer.iter().map(|&i| tx.codes[i as usize]).collect();
        Ok((s, codes))
    })?;
    let d = PyDict::new(py);
    d.set_item("customer", codes.into_pyarray(py))?;
    d.set_item("frequency", s.frequency.into_pyarray(py))?;
    d.set_item("recency", s.recency.into_pyarray(py))?;
    d.set_item("T", s.t.into_pyarray(py))?;
    d.set_item("monetary_value", s.monetary.into_pyarray(py))?;
    d.set_item("first_day", s.first_day.into_pyarray(py))?;
    Ok(d)
}

/// The calibration summary and holdout counts of transaction columns (see
/// `crmkit.calibration_holdout`): a dict of numpy arrays.
#[pyfunction]
#[pyo3(signature = (customer, timestamp, unit, amount, calibration_end_micros, observation_end_micros, time_unit_name="D", non_positive_policy="keep", names=("customer".to_owned(), "timestamp".to_owned(), "amount".to_owned())))]
#[allow(clippy::too_many_arguments)]
pub(crate) fn calibration_holdout_columns<'py>(
    py: Python<'py>,
    customer: PyReadonlyArray1<'py, i64>,
    timestamp: PyReadonlyArray1<'py, i64>,
    unit: &str,
    amount: Option<PyReadonlyArray1<'py, f64>>,
    calibration_end_micros: i64,
    observation_end_micros: i64,
    time_unit_name: &str,
    non_positive_policy: &str,
    names: (String, String, String),
) -> PyResult<Bound<'py, PyDict>> {
    let names = Names { customer: names.0, timestamp: names.1, amount: names.2 };
    let tu = time_unit(time_unit_name)?;
    let policy = non_positive(non_positive_policy)?;
    let (c, t) = (slice(&customer, &names.customer)?, slice(&timestamp, &names.timestamp)?);
    let a = amount.as_ref().map(|a| slice(a, &names.amount)).transpose()?;
    let unit = unit.to_owned();
    let (ch, codes) = without_gil(py, move || {
        let tx = prepare(c, t, &unit, a, &names)?;
        let zeros;
        let amounts = match a {
            Some(a) => a,
            None => {
                zeros = vec![0.0; tx.customer.len()];
                &zeros
            }
        };
        let ch = crmkit::clv::summary::calibration_and_holdout(
            &tx.customer,
            &tx.micros,
            amounts,
            calibration_end_micros,
            observation_end_micros,
            tu,
            policy,
        )
        .map_err(|e| names.explain(e))?;
        let codes: Vec<i64> =
            ch.calibration.customer.iter().map(|&i| tx.codes[i as usize]).collect();
        Ok((ch, codes))
    })?;
    let d = PyDict::new(py);
    let cal = ch.calibration;
    d.set_item("customer", codes.into_pyarray(py))?;
    d.set_item("frequency_cal", cal.frequency.into_pyarray(py))?;
    d.set_item("recency_cal", cal.recency.into_pyarray(py))?;
    d.set_item("T_cal", cal.t.into_pyarray(py))?;
    d.set_item("monetary_value_cal", cal.monetary.into_pyarray(py))?;
    d.set_item("first_day", cal.first_day.into_pyarray(py))?;
    d.set_item("frequency_holdout", ch.frequency_holdout.into_pyarray(py))?;
    d.set_item("monetary_value_holdout", ch.monetary_holdout_per_row.into_pyarray(py))?;
    d.set_item("monetary_value_holdout_by_day", ch.monetary_holdout.into_pyarray(py))?;
    d.set_item("duration_holdout", ch.duration_holdout.into_pyarray(py))?;
    Ok(d)
}

/// Quantile scores 1..=`bins` of `values` (ties share the lowest rank).
#[pyfunction]
pub(crate) fn quantile_scores<'py>(
    py: Python<'py>,
    values: PyReadonlyArray1<'py, f64>,
    bins: u8,
) -> PyResult<Bound<'py, PyArray1<u8>>> {
    let v = slice(&values, "values")?;
    let s = without_gil(py, move || Ok(crmkit::clv::rfm::quantile_scores(v, bins)?))?;
    Ok(s.into_pyarray(py))
}

/// RFM scores `(r, f, m)`, 1–5 each, from summary columns.
#[pyfunction]
#[allow(clippy::type_complexity)]
pub(crate) fn rfm_scores<'py>(
    py: Python<'py>,
    frequency: PyReadonlyArray1<'py, f64>,
    recency: PyReadonlyArray1<'py, f64>,
    t: PyReadonlyArray1<'py, f64>,
    monetary: PyReadonlyArray1<'py, f64>,
) -> PyResult<(Bound<'py, PyArray1<u8>>, Bound<'py, PyArray1<u8>>, Bound<'py, PyArray1<u8>>)> {
    let (x, tx, tt, m) = (
        slice(&frequency, "frequency")?,
        slice(&recency, "recency")?,
        slice(&t, "T")?,
        slice(&monetary, "monetary_value")?,
    );
    let s = without_gil(py, move || Ok(crmkit::clv::rfm::rfm_scores(x, tx, tt, m)?))?;
    Ok((s.r.into_pyarray(py), s.f.into_pyarray(py), s.m.into_pyarray(py)))
}

/// A segment rule: `(name, (r_lo, r_hi), (f_lo, f_hi), (m_lo, m_hi) or None)`.
type RuleSpec = (String, (u8, u8), (u8, u8), Option<(u8, u8)>);

/// The segment of each customer (index into the returned names, -1 when no rule matches) under
/// `rules` (the default 10-segment R×F grid when `None`).
#[pyfunction]
#[pyo3(signature = (r, f, m=None, rules=None))]
pub(crate) fn rfm_segments<'py>(
    py: Python<'py>,
    r: PyReadonlyArray1<'py, u8>,
    f: PyReadonlyArray1<'py, u8>,
    m: Option<PyReadonlyArray1<'py, u8>>,
    rules: Option<Vec<RuleSpec>>,
) -> PyResult<(Bound<'py, PyArray1<i64>>, Vec<String>)> {
    let scheme = match rules {
        None => Scheme::default(),
        Some(rules) => {
            let rules = rules
                .into_iter()
                .map(|(name, r, f, m)| {
                    let rule = Rule::new(name, r.0..=r.1, f.0..=f.1);
                    match m {
                        Some(m) => rule.with_m(m.0..=m.1),
                        None => rule,
                    }
                })
                .collect();
            Scheme::new(rules).map_err(Failure::Clv)?
        }
    };
    let names: Vec<String> = scheme.names().into_iter().map(str::to_owned).collect();
    let (rs, fs) = (slice(&r, "r")?, slice(&f, "f")?);
    let ms = m.as_ref().map(|m| slice(m, "m")).transpose()?;
    let segments = without_gil(py, move || {
        let s = crmkit::clv::rfm::segment(&scheme, rs, fs, ms)?;
        Ok(s.into_iter().map(|k| k.map_or(-1, |k| k as i64)).collect::<Vec<i64>>())
    })?;
    Ok((segments.into_pyarray(py), names))
}

/// Error metrics of predicted against actual holdout purchases.
#[pyfunction]
pub(crate) fn holdout_metrics<'py>(
    py: Python<'py>,
    predicted: PyReadonlyArray1<'py, f64>,
    actual: PyReadonlyArray1<'py, f64>,
) -> PyResult<HoldoutMetrics> {
    let (p, a) = (slice(&predicted, "predicted")?, slice(&actual, "actual")?);
    let m = without_gil(py, move || Ok(crmkit::clv::eval::holdout_metrics(p, a)?))?;
    Ok(m.into())
}

/// Mean predicted and actual holdout purchases by calibration frequency `0..max_frequency` and
/// `max_frequency or more`: a dict of numpy arrays.
#[pyfunction]
pub(crate) fn by_calibration_frequency<'py>(
    py: Python<'py>,
    predicted: PyReadonlyArray1<'py, f64>,
    actual: PyReadonlyArray1<'py, f64>,
    frequency_cal: PyReadonlyArray1<'py, f64>,
    max_frequency: u32,
) -> PyResult<Bound<'py, PyDict>> {
    let (p, a, x) = (
        slice(&predicted, "predicted")?,
        slice(&actual, "actual")?,
        slice(&frequency_cal, "frequency_cal")?,
    );
    let bins = without_gil(py, move || {
        Ok(HoldoutComparison::new(p, a)?.by_calibration_frequency(x, max_frequency)?)
    })?;
    let d = PyDict::new(py);
    d.set_item("frequency", bins.frequency.into_pyarray(py))?;
    d.set_item(
        "customers",
        bins.customers.into_iter().map(|c| c as i64).collect::<Vec<_>>().into_pyarray(py),
    )?;
    d.set_item("mean_predicted", bins.mean_predicted.into_pyarray(py))?;
    d.set_item("mean_actual", bins.mean_actual.into_pyarray(py))?;
    Ok(d)
}

/// The cumulative tracking curve (expected by `model` against actual repeat purchases of the
/// cohort) over `periods` periods of `period_days` days: a dict of numpy arrays.
#[pyfunction]
#[pyo3(signature = (customer, timestamp, unit, model, periods, period_days=7, time_unit_name="W", start_day=None, names=("customer".to_owned(), "timestamp".to_owned(), "amount".to_owned())))]
#[allow(clippy::too_many_arguments)]
pub(crate) fn tracking_curve<'py>(
    py: Python<'py>,
    customer: PyReadonlyArray1<'py, i64>,
    timestamp: PyReadonlyArray1<'py, i64>,
    unit: &str,
    model: &Bound<'py, PyAny>,
    periods: usize,
    period_days: u32,
    time_unit_name: &str,
    start_day: Option<i64>,
    names: (String, String, String),
) -> PyResult<Bound<'py, PyDict>> {
    let names = Names { customer: names.0, timestamp: names.1, amount: names.2 };
    let model = AnyModel::from_py(model)?;
    let mut options = TrackingOptions::weekly(periods).time_unit(time_unit(time_unit_name)?);
    options.period_days = period_days;
    if let Some(d) = start_day {
        options = options.start_day(d);
    }
    let (c, t) = (slice(&customer, &names.customer)?, slice(&timestamp, &names.timestamp)?);
    let unit = unit.to_owned();
    let curve = without_gil(py, move || {
        let tx = prepare(c, t, &unit, None, &names)?;
        crmkit::clv::eval::tracking_curve(&tx.customer, &tx.micros, &options, |age| {
            model.expected_purchases(age)
        })
        .map_err(|e| names.explain(e))
    })?;
    let d = PyDict::new(py);
    d.set_item(
        "period",
        curve.period.into_iter().map(|p| p as i64).collect::<Vec<_>>().into_pyarray(py),
    )?;
    d.set_item("boundary_day", curve.boundary_day.into_pyarray(py))?;
    d.set_item("t", curve.t.into_pyarray(py))?;
    d.set_item("expected", curve.expected.into_pyarray(py))?;
    d.set_item("actual", curve.actual.into_pyarray(py))?;
    Ok(d)
}
