//! Calibration versus holdout evaluation, independent of any model: predictions come in as slices
//! or closures.
//!
//! - [`HoldoutComparison`]: per customer, predicted versus actual holdout purchases (e.g. a
//!   model's conditional expectation for the holdout duration next to
//!   [`CalibrationHoldout::frequency_holdout`](crate::summary::CalibrationHoldout)), with error
//!   metrics ([`HoldoutMetrics`]) and the classic means by calibration frequency
//!   ([`FrequencyBins`]).
//! - [`tracking_curve`]: the cumulative repeat purchases of the whole cohort, expected versus
//!   actual, at each period (week) boundary.
//!
//! # Tracking-curve conventions (as lifetimes' `expected_cumulative_transactions`)
//!
//! Time is counted in UTC days; a transaction happens at the start of its day. Boundaries are the
//! day starts `τ_k = start + k · period_days`, `k = 1..=periods`. At `τ`:
//!
//! - the **actual** cumulative repeat purchases are the customers' repeat purchase days (every
//!   distinct purchase day after the customer's first one) before `τ`;
//! - the **expected** cumulative repeat purchases are `Σ_i E[X((τ − birth_i) / unit)]` over the
//!   customers born (first purchase day) before `τ`, where `E[X(t)]` is the model's expected
//!   number of repeat purchases of a new customer by age `t` (in the time unit).
//!
//! A customer's first purchase day is from the same columns, so a customer observed before
//! `start` is counted from that first purchase. All rows count: filter the columns first if the
//! model was fitted without some rows (e.g. non-positive amounts).

use crate::error::{ClvError, Result};
use crate::summary::{TimeUnit, day_of, for_each_customer};

/// Predicted and actual holdout purchases per customer.
///
/// # Examples
///
/// ```
/// use crmkit_clv::eval::HoldoutComparison;
/// let c = HoldoutComparison::new(&[1.0, 2.0], &[1.0, 4.0])?;
/// assert_eq!(c.metrics().mean_bias, -1.0);
/// # Ok::<(), crmkit_clv::ClvError>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HoldoutComparison {
    /// Predicted holdout purchases.
    pub predicted: Vec<f64>,
    /// Actual holdout purchases.
    pub actual: Vec<f64>,
}

/// Errors of [`HoldoutComparison`] over its customers.
///
/// # Examples
///
/// ```
/// let m = crmkit_clv::eval::holdout_metrics(&[0.0, 2.0], &[1.0, 1.0])?;
/// assert_eq!((m.mae, m.rmse, m.mean_bias, m.correlation), (1.0, 1.0, 0.0, None));
/// # Ok::<(), crmkit_clv::ClvError>(())
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq)]
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
    /// Mean absolute error, mean of `|predicted − actual|`.
    pub mae: f64,
    /// Root mean squared error.
    pub rmse: f64,
    /// Mean of `predicted − actual`: positive when the model over-predicts.
    pub mean_bias: f64,
    /// Pearson correlation of predicted and actual; `None` when either is constant.
    pub correlation: Option<f64>,
}

impl HoldoutComparison {
    /// Pairs predictions with actual values. Errors: different lengths, no customers, a
    /// non-finite value (naming the row and column).
    ///
    /// # Examples
    ///
    /// ```
    /// let err = crmkit_clv::eval::HoldoutComparison::new(&[f64::NAN], &[1.0]).unwrap_err();
    /// assert!(err.to_string().contains("predicted at row 0"));
    /// ```
    pub fn new(predicted: &[f64], actual: &[f64]) -> Result<HoldoutComparison> {
        if predicted.len() != actual.len() {
            return Err(ClvError::LengthMismatch {
                message: format!("predicted {}, actual {}", predicted.len(), actual.len()),
            });
        }
        if actual.is_empty() {
            return Err(ClvError::NoData("no customers to compare".into()));
        }
        check_finite("predicted", predicted)?;
        check_finite("actual", actual)?;
        Ok(HoldoutComparison { predicted: predicted.to_vec(), actual: actual.to_vec() })
    }

    /// Predicts each customer with `predict(i)` (`i` = position in `actual`), e.g. a closure over
    /// calibration columns calling a fitted model.
    ///
    /// # Examples
    ///
    /// ```
    /// use crmkit_clv::eval::HoldoutComparison;
    /// let frequency_cal = [0.0, 3.0];
    /// let c = HoldoutComparison::from_fn(&[0.0, 2.0], |i| 0.5 * frequency_cal[i])?;
    /// assert_eq!(c.predicted, vec![0.0, 1.5]);
    /// # Ok::<(), crmkit_clv::ClvError>(())
    /// ```
    pub fn from_fn(actual: &[f64], predict: impl FnMut(usize) -> f64) -> Result<HoldoutComparison> {
        let predicted: Vec<f64> = (0..actual.len()).map(predict).collect();
        HoldoutComparison::new(&predicted, actual)
    }

    /// The error metrics.
    ///
    /// # Examples
    ///
    /// ```
    /// let c = crmkit_clv::eval::HoldoutComparison::new(&[1.0, 2.0, 3.0], &[2.0, 4.0, 6.0])?;
    /// let m = c.metrics();
    /// assert_eq!((m.sum_predicted, m.sum_actual), (6.0, 12.0));
    /// assert!((m.correlation.unwrap_or(0.0) - 1.0).abs() < 1e-12);
    /// # Ok::<(), crmkit_clv::ClvError>(())
    /// ```
    pub fn metrics(&self) -> HoldoutMetrics {
        let n = self.actual.len();
        let nf = n as f64;
        let sum_p: f64 = self.predicted.iter().sum();
        let sum_a: f64 = self.actual.iter().sum();
        let (mean_p, mean_a) = if n == 0 { (0.0, 0.0) } else { (sum_p / nf, sum_a / nf) };
        let (mut abs, mut sq, mut bias) = (0.0, 0.0, 0.0);
        let (mut spp, mut saa, mut spa) = (0.0, 0.0, 0.0);
        for (&p, &a) in self.predicted.iter().zip(&self.actual) {
            let e = p - a;
            abs += e.abs();
            sq += e * e;
            bias += e;
            let (dp, da) = (p - mean_p, a - mean_a);
            spp += dp * dp;
            saa += da * da;
            spa += dp * da;
        }
        let div = |v: f64| if n == 0 { 0.0 } else { v / nf };
        // Constant columns are detected exactly: their float deviations from the mean may not
        // be exactly 0.
        let varies = |v: &[f64]| v.iter().any(|&x| x != v[0]);
        let correlation =
            (varies(&self.predicted) && varies(&self.actual) && spp > 0.0 && saa > 0.0)
                .then(|| (spa / (spp.sqrt() * saa.sqrt())).clamp(-1.0, 1.0));
        HoldoutMetrics {
            n,
            sum_predicted: sum_p,
            sum_actual: sum_a,
            mean_predicted: mean_p,
            mean_actual: mean_a,
            mae: div(abs),
            rmse: div(sq).sqrt(),
            mean_bias: div(bias),
            correlation,
        }
    }

    /// Mean predicted and actual holdout purchases of the customers grouped by calibration
    /// frequency `0, 1, …, max_frequency − 1` and `max_frequency or more` (lifetimes'
    /// `plot_calibration_purchases_vs_holdout_purchases`). Empty groups are left out.
    ///
    /// Errors: a length different from the comparison's, a frequency that is not a whole
    /// number ≥ 0 (naming the row).
    ///
    /// # Examples
    ///
    /// ```
    /// let c = crmkit_clv::eval::HoldoutComparison::new(&[0.5, 1.0, 3.0, 5.0], &[0.0, 2.0, 2.0, 6.0])?;
    /// let bins = c.by_calibration_frequency(&[0.0, 2.0, 2.0, 9.0], 3)?;
    /// assert_eq!(bins.frequency, vec![0, 2, 3]); // the last group is "3 or more"
    /// assert_eq!(bins.customers, vec![1, 2, 1]);
    /// assert_eq!(bins.mean_predicted, vec![0.5, 2.0, 5.0]);
    /// assert_eq!(bins.mean_actual, vec![0.0, 2.0, 6.0]);
    /// # Ok::<(), crmkit_clv::ClvError>(())
    /// ```
    pub fn by_calibration_frequency(
        &self,
        frequency_cal: &[f64],
        max_frequency: u32,
    ) -> Result<FrequencyBins> {
        if frequency_cal.len() != self.actual.len() {
            return Err(ClvError::LengthMismatch {
                message: format!(
                    "frequency_cal {}, comparison {}",
                    frequency_cal.len(),
                    self.actual.len()
                ),
            });
        }
        let k = max_frequency as usize + 1;
        let mut count = vec![0usize; k];
        let mut sum_p = vec![0.0; k];
        let mut sum_a = vec![0.0; k];
        for (i, &x) in frequency_cal.iter().enumerate() {
            if !x.is_finite() || x < 0.0 || x.fract() != 0.0 {
                return Err(ClvError::InvalidInput {
                    column: "frequency_cal".into(),
                    index: i,
                    message: format!("{x} is not a whole number ≥ 0"),
                });
            }
            let b = if x >= f64::from(max_frequency) { k - 1 } else { x as usize };
            count[b] += 1;
            sum_p[b] += self.predicted[i];
            sum_a[b] += self.actual[i];
        }
        let mut bins = FrequencyBins::default();
        for b in 0..k {
            if count[b] > 0 {
                bins.frequency.push(b as u32);
                bins.customers.push(count[b]);
                bins.mean_predicted.push(sum_p[b] / count[b] as f64);
                bins.mean_actual.push(sum_a[b] / count[b] as f64);
            }
        }
        Ok(bins)
    }
}

/// Predicted versus actual holdout means by calibration frequency; see
/// [`HoldoutComparison::by_calibration_frequency`].
///
/// # Examples
///
/// ```
/// assert!(crmkit_clv::eval::FrequencyBins::default().frequency.is_empty());
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FrequencyBins {
    /// Calibration frequency of the group (the last group also holds all higher frequencies).
    pub frequency: Vec<u32>,
    /// Customers in the group.
    pub customers: Vec<usize>,
    /// Mean predicted holdout purchases.
    pub mean_predicted: Vec<f64>,
    /// Mean actual holdout purchases.
    pub mean_actual: Vec<f64>,
}

/// [`HoldoutComparison::new`] then [`HoldoutComparison::metrics`].
///
/// # Examples
///
/// ```
/// let m = crmkit_clv::eval::holdout_metrics(&[1.0, 3.0], &[2.0, 2.0])?;
/// assert_eq!((m.n, m.mae, m.mean_bias), (2, 1.0, 0.0));
/// # Ok::<(), crmkit_clv::ClvError>(())
/// ```
pub fn holdout_metrics(predicted: &[f64], actual: &[f64]) -> Result<HoldoutMetrics> {
    Ok(HoldoutComparison::new(predicted, actual)?.metrics())
}

fn check_finite(column: &str, values: &[f64]) -> Result<()> {
    match values.iter().position(|v| !v.is_finite()) {
        Some(i) => Err(ClvError::InvalidInput {
            column: column.into(),
            index: i,
            message: format!("{} is not finite", values[i]),
        }),
        None => Ok(()),
    }
}

/// Options of [`tracking_curve`].
///
/// # Examples
///
/// ```
/// use crmkit_clv::eval::TrackingOptions;
/// use crmkit_clv::summary::TimeUnit;
/// let o = TrackingOptions::weekly(78).start_day(9862);
/// assert_eq!((o.periods, o.period_days, o.time_unit, o.start_day), (78, 7, TimeUnit::Week, Some(9862)));
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrackingOptions {
    /// The first day of the first period (days since 1970-01-01, UTC); `None` = the earliest
    /// purchase day in the columns (as lifetimes).
    pub start_day: Option<i64>,
    /// Number of periods (boundaries).
    pub periods: usize,
    /// Days per period (7 for weekly tracking).
    pub period_days: u32,
    /// The unit of the ages passed to the model's `E[X(t)]`.
    pub time_unit: TimeUnit,
}

impl TrackingOptions {
    /// `periods` weeks from the earliest purchase day, ages in weeks.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(crmkit_clv::eval::TrackingOptions::weekly(3).period_days, 7);
    /// ```
    pub fn weekly(periods: usize) -> TrackingOptions {
        TrackingOptions { start_day: None, periods, period_days: 7, time_unit: TimeUnit::Week }
    }

    /// Sets the first day.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(crmkit_clv::eval::TrackingOptions::weekly(3).start_day(5).start_day, Some(5));
    /// ```
    pub fn start_day(mut self, day: i64) -> TrackingOptions {
        self.start_day = Some(day);
        self
    }

    /// Sets the unit of the model's ages.
    ///
    /// # Examples
    ///
    /// ```
    /// use crmkit_clv::{eval::TrackingOptions, summary::TimeUnit};
    /// assert_eq!(TrackingOptions::weekly(3).time_unit(TimeUnit::Day).time_unit, TimeUnit::Day);
    /// ```
    pub fn time_unit(mut self, unit: TimeUnit) -> TrackingOptions {
        self.time_unit = unit;
        self
    }
}

/// Expected and actual cumulative repeat purchases of the cohort at each period boundary.
///
/// # Examples
///
/// ```
/// let c = crmkit_clv::eval::TrackingCurve::default();
/// assert!(c.incremental().0.is_empty());
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TrackingCurve {
    /// Period number `k` = 1, 2, …
    pub period: Vec<usize>,
    /// The boundary day `τ_k` (exclusive end of period `k`).
    pub boundary_day: Vec<i64>,
    /// Time since the start at the boundary, in the time unit.
    pub t: Vec<f64>,
    /// Expected cumulative repeat purchases, `Σ_i E[X((τ_k − birth_i)/unit)]`.
    pub expected: Vec<f64>,
    /// Actual cumulative repeat purchase days before `τ_k`.
    pub actual: Vec<f64>,
}

impl TrackingCurve {
    /// Per-period (not cumulative) expected and actual repeat purchases.
    ///
    /// # Examples
    ///
    /// ```
    /// let c = crmkit_clv::eval::TrackingCurve {
    ///     expected: vec![1.0, 3.0], actual: vec![2.0, 2.0], ..Default::default()
    /// };
    /// assert_eq!(c.incremental(), (vec![1.0, 2.0], vec![2.0, 0.0]));
    /// ```
    pub fn incremental(&self) -> (Vec<f64>, Vec<f64>) {
        let diff = |v: &[f64]| -> Vec<f64> {
            v.iter().enumerate().map(|(i, &x)| if i == 0 { x } else { x - v[i - 1] }).collect()
        };
        (diff(&self.expected), diff(&self.actual))
    }
}

/// The expected cumulative repeat purchases of a cohort at each boundary day:
/// `Σ_i E[X((τ − first_day_i) / unit)]` over the customers with `first_day_i < τ`. The model's
/// `expected_repeat` is called once per distinct birth day and boundary.
///
/// Errors: a time unit that is not a positive length; `expected_repeat` returning a non-finite
/// value (naming the age).
///
/// # Examples
///
/// ```
/// use crmkit_clv::eval::expected_cumulative_repeat;
/// use crmkit_clv::summary::TimeUnit;
/// // Poisson purchasing at 0.5 per week; customers born on days 0, 0 and 7.
/// let e = expected_cumulative_repeat(&[0, 0, 7], &[7, 14], TimeUnit::Week, |t| 0.5 * t)?;
/// assert_eq!(e, vec![1.0, 2.5]); // 2·0.5·1 ; 2·0.5·2 + 0.5·1
/// # Ok::<(), crmkit_clv::ClvError>(())
/// ```
pub fn expected_cumulative_repeat(
    first_day: &[i64],
    boundary_day: &[i64],
    time_unit: TimeUnit,
    mut expected_repeat: impl FnMut(f64) -> f64,
) -> Result<Vec<f64>> {
    let unit = time_unit.checked_days()?;
    let mut births = first_day.to_vec();
    births.sort_unstable();
    // Distinct birth days with their customer counts.
    let mut days: Vec<(i64, f64)> = Vec::new();
    for b in births {
        match days.last_mut() {
            Some((d, c)) if *d == b => *c += 1.0,
            _ => days.push((b, 1.0)),
        }
    }
    let mut out = Vec::with_capacity(boundary_day.len());
    for &tau in boundary_day {
        let mut total = 0.0;
        for &(b, count) in days.iter().take_while(|(b, _)| *b < tau) {
            let age = (tau - b) as f64 / unit;
            let e = expected_repeat(age);
            if !e.is_finite() {
                return Err(ClvError::InvalidParameter {
                    name: "expected_repeat".into(),
                    message: format!("returned {e} at age {age}"),
                });
            }
            total += count * e;
        }
        out.push(total);
    }
    Ok(out)
}

/// Each customer's first purchase day, and the cumulative repeat purchase days before each
/// boundary, from the rows before the last boundary.
fn cohort(
    customer: &[u32],
    timestamp_micros: &[i64],
    boundary_day: &[i64],
) -> Result<(Vec<i64>, Vec<f64>)> {
    // Boundaries in ascending order; a repeat on day d counts at every boundary > d, i.e. from
    // sorted position `#(boundaries ≤ d)` on.
    let mut order: Vec<usize> = (0..boundary_day.len()).collect();
    order.sort_by_key(|&k| boundary_day[k]);
    let sorted: Vec<i64> = order.iter().map(|&k| boundary_day[k]).collect();
    let end = sorted.last().copied().unwrap_or(i64::MIN);
    let mut counts = vec![0u64; sorted.len() + 1];
    let mut births = Vec::new();
    for_each_customer(
        customer,
        timestamp_micros,
        None,
        end.saturating_sub(1),
        |_| false,
        &mut |_, rows: &[(i32, f64)]| {
            if let Some(&(first, _)) = rows.first() {
                births.push(i64::from(first));
                let mut last = first;
                for &(d, _) in rows {
                    if d != last {
                        counts[sorted.partition_point(|&b| b <= i64::from(d))] += 1;
                        last = d;
                    }
                }
            }
        },
    )?;
    let mut actual = vec![0.0; boundary_day.len()];
    let mut running = 0u64;
    for (j, &k) in order.iter().enumerate() {
        running += counts[j];
        actual[k] = running as f64;
    }
    Ok((births, actual))
}

/// The actual cumulative repeat purchases at each boundary day: repeat purchase days (distinct
/// purchase days after each customer's first) before the boundary.
///
/// Errors: `customer` and `timestamp_micros` of different lengths.
///
/// # Examples
///
/// ```
/// use crmkit_clv::eval::actual_cumulative_repeat;
/// use crmkit_clv::summary::MICROS_PER_DAY;
/// let d = MICROS_PER_DAY;
/// // Customer 0: days 0, 3, 3, 9; customer 1: days 2, 12.
/// let a = actual_cumulative_repeat(&[0, 0, 0, 0, 1, 1], &[0, 3 * d, 3 * d, 9 * d, 2 * d, 12 * d], &[7, 14])?;
/// assert_eq!(a, vec![1.0, 3.0]);
/// # Ok::<(), crmkit_clv::ClvError>(())
/// ```
pub fn actual_cumulative_repeat(
    customer: &[u32],
    timestamp_micros: &[i64],
    boundary_day: &[i64],
) -> Result<Vec<f64>> {
    Ok(cohort(customer, timestamp_micros, boundary_day)?.1)
}

/// The tracking curve: expected (from the model's `expected_repeat(t)` = E[X(t)] for a customer
/// of age `t` in `options.time_unit`) and actual cumulative repeat purchases of all customers in
/// the columns, at the boundaries `start + k · period_days`, `k = 1..=periods`. See the
/// [module docs](self) for the conventions.
///
/// Errors: columns of different lengths; no rows when `start_day` is not given; `periods` or
/// `period_days` = 0; a bad time unit; a non-finite model value.
///
/// # Examples
///
/// ```
/// use crmkit_clv::eval::{tracking_curve, TrackingOptions};
/// use crmkit_clv::summary::MICROS_PER_DAY;
/// let d = MICROS_PER_DAY;
/// // Two customers born on day 0; one buys again on days 3 and 10.
/// let customer = [0, 0, 0, 1];
/// let ts = [0, 3 * d, 10 * d, 0];
/// let curve = tracking_curve(&customer, &ts, &TrackingOptions::weekly(2), |t| 0.5 * t)?;
/// assert_eq!(curve.boundary_day, vec![7, 14]);
/// assert_eq!(curve.t, vec![1.0, 2.0]);
/// assert_eq!(curve.expected, vec![1.0, 2.0]); // 2 customers · 0.5 · weeks
/// assert_eq!(curve.actual, vec![1.0, 2.0]);
/// # Ok::<(), crmkit_clv::ClvError>(())
/// ```
pub fn tracking_curve(
    customer: &[u32],
    timestamp_micros: &[i64],
    options: &TrackingOptions,
    expected_repeat: impl FnMut(f64) -> f64,
) -> Result<TrackingCurve> {
    let unit = options.time_unit.checked_days()?;
    if options.periods == 0 || options.period_days == 0 {
        return Err(ClvError::InvalidParameter {
            name: "tracking options".into(),
            message: format!(
                "{} periods of {} days: both must be at least 1",
                options.periods, options.period_days
            ),
        });
    }
    let start = match options.start_day {
        Some(d) => d,
        None => timestamp_micros
            .iter()
            .map(|&ts| day_of(ts))
            .min()
            .ok_or_else(|| ClvError::NoData("no transactions to track".into()))?,
    };
    let step = i64::from(options.period_days);
    let boundary_day: Vec<i64> = (1..=options.periods)
        .map(|k| start.saturating_add((k as i64).saturating_mul(step)))
        .collect();
    let (births, actual) = cohort(customer, timestamp_micros, &boundary_day)?;
    let expected =
        expected_cumulative_repeat(&births, &boundary_day, options.time_unit, expected_repeat)?;
    Ok(TrackingCurve {
        period: (1..=options.periods).collect(),
        t: boundary_day.iter().map(|&tau| (tau - start) as f64 / unit).collect(),
        boundary_day,
        expected,
        actual,
    })
}
