//! Customer lifetime value with an explicit discounting convention, for any repeat-purchase model.
//!
//! The residual value of a customer over a horizon is her expected spend per transaction times
//! her discounted expected number of future transactions:
//!
//! `CLV = m̃ · ∫₀^H D(t) dE[Y(t) | x, t_x, T]`
//!
//! where `E[Y(t) | x, t_x, T]` is the model's expected number of transactions in `(T, T+t]`
//! ([`RepeatPurchaseModel`]), `m̃` the expected spend per transaction (typically
//! [`GammaGamma::conditional_expected_spend`](crate::gammagamma::GammaGamma::conditional_expected_spend),
//! the approach of Fader, Hardie & Lee (2005), "RFM and CLV: Using Iso-Value Curves for Customer
//! Base Analysis", *JMR* 42(4)), and `D` the discount factor. The two conventions of
//! [`Discounting`]:
//!
//! - [`Discounting::Discrete`], lifetimes 0.11.3's `_customer_lifetime_value` (`lifetimes/utils.py`):
//!   the horizon is `K = periods` steps of length `L = period_length` model time units; the
//!   transactions expected in step `k`, `ΔE_k = E[Y(kL)] − E[Y(kL − L)]`, are discounted as if
//!   all made at the **end** of the step: `CLV = Σ_{k=1}^{K} m̃ ΔE_k / (1 + d)^k`. There is no
//!   step 0 and no mid-step discounting. lifetimes' `time` (months), `discount_rate` (monthly)
//!   and `freq` (the model's time unit) map to `periods = time`, `rate_per_period =
//!   discount_rate`, `period_length` = [`LIFETIMES_WEEKS_PER_MONTH`] (4.345, `freq='W'`),
//!   [`LIFETIMES_DAYS_PER_MONTH`] (30, `'D'`), [`LIFETIMES_HOURS_PER_MONTH`] (720, `'H'`) or 1
//!   (`'M'`) ([`lifetimes_units_per_month`]); crmkit's own month is
//!   [`DAYS_PER_MONTH`](crate::summary::DAYS_PER_MONTH) days ([`TimeUnit::per_month`](crate::summary::TimeUnit::per_month)). The
//!   arithmetic is lifetimes' own (`kL` as `k·L`, the lower bound as `kL − L`, the exponent as
//!   `kL/L`), so values agree with lifetimes to the last bit given the same `E[Y(t)]`.
//! - [`Discounting::Continuous`]: a continuously compounded rate `δ`,
//!   `CLV = m̃ ∫₀^H e^{−δt} dE[Y(t)]`. The Stieltjes integral is computed on `steps` equal steps
//!   of the model's cumulative expectation, taking the purchase rate as constant within each
//!   step: step `j` (from `t_{j−1}` to `t_j`, width `h`) contributes
//!   `ΔE_j · e^{−δ t_{j−1}} (1 − e^{−δh})/(δh)`, its exact average discount factor. This is exact
//!   when `E[Y(t)]` is linear (a constant purchase rate) and has error `O(h²)` otherwise; it costs
//!   `steps` model evaluations.
//!
//! # Examples
//!
//! ```
//! use crmkit_clv::clv::{customer_lifetime_value, Discounting, RepeatPurchaseModel};
//! use crmkit_clv::Result;
//!
//! /// Every customer buys 2 times per unit of time, forever.
//! struct Steady;
//! impl RepeatPurchaseModel for Steady {
//!     fn conditional_expected_purchases(&self, t: f64, x: &[f64], _: &[f64], _: &[f64]) -> Result<Vec<f64>> {
//!         Ok(vec![2.0 * t; x.len()])
//!     }
//! }
//! let d = Discounting::Discrete { rate_per_period: 0.1, periods: 2, period_length: 1.0 };
//! let clv = customer_lifetime_value(&Steady, &[10.0], &[1.0], &[1.0], &[2.0], &d)?;
//! assert!((clv[0] - (20.0 / 1.1 + 20.0 / 1.21)).abs() < 1e-12);
//! # Ok::<(), crmkit_clv::ClvError>(())
//! ```

use serde::{Deserialize, Serialize};

use crate::bgbb::BgBb;
use crate::bgnbd::BgNbd;
use crate::error::{ClvError, Result};
use crate::mbgnbd::MbgNbd;
use crate::paretonbd::ParetoNbd;

/// lifetimes' time units per month for `freq='W'` in `customer_lifetime_value`: 4.345 weeks.
///
/// lifetimes' own convention, for reproducing its values: a month of 30.415 days, not crmkit's
/// [`DAYS_PER_MONTH`](crate::summary::DAYS_PER_MONTH) (30.4375 days, 4.348 weeks; see there why
/// the two are kept apart).
///
/// # Examples
///
/// ```
/// use crmkit_clv::clv::{Discounting, LIFETIMES_WEEKS_PER_MONTH};
/// // lifetimes: customer_lifetime_value(model, x, t_x, T, m, time=12, discount_rate=0.01, freq='W')
/// let d = Discounting::Discrete { rate_per_period: 0.01, periods: 12, period_length: LIFETIMES_WEEKS_PER_MONTH };
/// assert_eq!(LIFETIMES_WEEKS_PER_MONTH, 4.345);
/// # let _ = d;
/// ```
pub const LIFETIMES_WEEKS_PER_MONTH: f64 = 4.345;

/// lifetimes' time units per month for `freq='D'` in `customer_lifetime_value`: 30 days.
///
/// lifetimes' own convention, for reproducing its values; crmkit's month is
/// [`DAYS_PER_MONTH`](crate::summary::DAYS_PER_MONTH) (30.4375 days; see there why the two are
/// kept apart).
///
/// # Examples
///
/// ```
/// use crmkit_clv::clv::LIFETIMES_DAYS_PER_MONTH;
/// assert_eq!(LIFETIMES_DAYS_PER_MONTH, 30.0);
/// assert!(LIFETIMES_DAYS_PER_MONTH < crmkit_clv::summary::DAYS_PER_MONTH);
/// ```
pub const LIFETIMES_DAYS_PER_MONTH: f64 = 30.0;

/// lifetimes' time units per month for `freq='H'` in `customer_lifetime_value`: 720 hours
/// (30 days).
///
/// # Examples
///
/// ```
/// assert_eq!(crmkit_clv::clv::LIFETIMES_HOURS_PER_MONTH, 24.0 * crmkit_clv::clv::LIFETIMES_DAYS_PER_MONTH);
/// ```
pub const LIFETIMES_HOURS_PER_MONTH: f64 = 720.0;

/// The former name of [`LIFETIMES_WEEKS_PER_MONTH`].
///
/// # Examples
///
/// ```
/// #![allow(deprecated)]
/// assert_eq!(crmkit_clv::clv::LIFETIMES_WEEKS_PER_MONTH, crmkit_clv::clv::LIFETIMES_WEEKS_PER_MONTH);
/// ```
#[deprecated(note = "renamed LIFETIMES_WEEKS_PER_MONTH: lifetimes' month, not crmkit's \
                     (crmkit_clv::summary::DAYS_PER_MONTH)")]
pub const WEEKS_PER_MONTH: f64 = LIFETIMES_WEEKS_PER_MONTH;

/// The former name of [`LIFETIMES_HOURS_PER_MONTH`].
///
/// # Examples
///
/// ```
/// #![allow(deprecated)]
/// assert_eq!(crmkit_clv::clv::HOURS_PER_MONTH, crmkit_clv::clv::LIFETIMES_HOURS_PER_MONTH);
/// ```
#[deprecated(note = "renamed LIFETIMES_HOURS_PER_MONTH: lifetimes' month, not crmkit's \
                     (crmkit_clv::summary::DAYS_PER_MONTH)")]
pub const HOURS_PER_MONTH: f64 = LIFETIMES_HOURS_PER_MONTH;

/// lifetimes' `factor` in `customer_lifetime_value`: the model time units per month for its
/// `freq` argument — [`LIFETIMES_WEEKS_PER_MONTH`] for `"W"`, 1 for `"M"`,
/// [`LIFETIMES_DAYS_PER_MONTH`] for `"D"`, [`LIFETIMES_HOURS_PER_MONTH`] for `"H"` — the
/// `period_length` of [`Discounting::Discrete`] that reproduces lifetimes. Any other `freq` is
/// [`ClvError::InvalidParameter`].
///
/// # Examples
///
/// ```
/// use crmkit_clv::clv::{lifetimes_units_per_month, LIFETIMES_DAYS_PER_MONTH};
/// assert_eq!(lifetimes_units_per_month("D")?, LIFETIMES_DAYS_PER_MONTH);
/// assert_eq!(lifetimes_units_per_month("M")?, 1.0);
/// assert!(lifetimes_units_per_month("Y").is_err());
/// # Ok::<(), crmkit_clv::ClvError>(())
/// ```
pub fn lifetimes_units_per_month(freq: &str) -> Result<f64> {
    match freq {
        "W" => Ok(LIFETIMES_WEEKS_PER_MONTH),
        "M" => Ok(1.0),
        "D" => Ok(LIFETIMES_DAYS_PER_MONTH),
        "H" => Ok(LIFETIMES_HOURS_PER_MONTH),
        _ => Err(invalid(
            "freq",
            format!("{freq:?}: lifetimes' customer_lifetime_value takes 'W', 'M', 'D' or 'H'"),
        )),
    }
}

/// A model of repeat purchases that predicts each customer's expected number of transactions in
/// the next `t` time units, `E[Y(t) | x, t_x, T]`, from her frequency `x`, recency `t_x` and age
/// `T` (in the model's time unit). Implemented by [`BgNbd`], [`MbgNbd`], [`ParetoNbd`] and
/// [`BgBb`] (for which `t` counts opportunities and `T` is `n`).
///
/// Implementations validate the columns and return `E[Y(0)] = 0`; `E[Y(t)]` non-decreasing in `t`.
///
/// # Examples
///
/// ```
/// use crmkit_clv::bgnbd::BgNbd;
/// use crmkit_clv::clv::RepeatPurchaseModel;
/// let m = BgNbd::new(0.243, 4.414, 0.793, 2.426)?;
/// let model: &dyn RepeatPurchaseModel = &m;
/// let e = model.conditional_expected_purchases(39.0, &[2.0], &[30.43], &[38.86])?;
/// assert!((e[0] - 1.226).abs() < 1e-3);
/// # Ok::<(), crmkit_clv::ClvError>(())
/// ```
pub trait RepeatPurchaseModel {
    /// `E[Y(t) | x, t_x, T]` per customer: expected transactions in `(T, T+t]`.
    ///
    /// # Examples
    ///
    /// ```
    /// use crmkit_clv::bgbb::BgBb;
    /// use crmkit_clv::clv::RepeatPurchaseModel;
    /// let m = BgBb::new(1.204, 0.750, 0.657, 2.783)?;
    /// // Through the trait: the next 5 opportunities of a donor who gave in all 6.
    /// let e = RepeatPurchaseModel::conditional_expected_purchases(&m, 5.0, &[6.0], &[6.0], &[6.0])?;
    /// assert_eq!(e, m.conditional_expected_purchases(5.0, &[6.0], &[6.0], &[6.0])?);
    /// # Ok::<(), crmkit_clv::ClvError>(())
    /// ```
    fn conditional_expected_purchases(
        &self,
        t: f64,
        x: &[f64],
        t_x: &[f64],
        big_t: &[f64],
    ) -> Result<Vec<f64>>;

    /// The same for several horizons at once: `result[k][i]` is customer `i`'s expectation over
    /// `ts[k]`. Models override it to share per-customer work across horizons (CLV asks for two
    /// dozen horizons per customer).
    ///
    /// # Examples
    ///
    /// ```
    /// use crmkit_clv::bgnbd::BgNbd;
    /// use crmkit_clv::clv::RepeatPurchaseModel;
    /// let m = BgNbd::new(0.243, 4.414, 0.793, 2.426)?;
    /// let both = m.conditional_expected_purchases_at(&[10.0, 39.0], &[2.0], &[30.43], &[38.86])?;
    /// assert_eq!(both[1], RepeatPurchaseModel::conditional_expected_purchases(&m, 39.0, &[2.0], &[30.43], &[38.86])?);
    /// # Ok::<(), crmkit_clv::ClvError>(())
    /// ```
    fn conditional_expected_purchases_at(
        &self,
        ts: &[f64],
        x: &[f64],
        t_x: &[f64],
        big_t: &[f64],
    ) -> Result<Vec<Vec<f64>>> {
        ts.iter().map(|&t| self.conditional_expected_purchases(t, x, t_x, big_t)).collect()
    }

    /// `Σ_k weight_k · (E[Y(upper_k)] − E[Y(lower_k)])` per customer, for `steps` of
    /// `(upper, lower, weight)`: the discounted expected purchases CLV multiplies by spend.
    /// Models override it to avoid materialising every horizon for every customer.
    ///
    /// # Examples
    ///
    /// ```
    /// use crmkit_clv::bgnbd::BgNbd;
    /// use crmkit_clv::clv::RepeatPurchaseModel;
    /// let m = BgNbd::new(0.243, 4.414, 0.793, 2.426)?;
    /// let d = RepeatPurchaseModel::discounted_purchases(&m, &[(39.0, 0.0, 1.0)], &[2.0], &[30.43], &[38.86])?;
    /// let e = RepeatPurchaseModel::conditional_expected_purchases(&m, 39.0, &[2.0], &[30.43], &[38.86])?;
    /// assert!((d[0] - e[0]).abs() < 1e-12);
    /// # Ok::<(), crmkit_clv::ClvError>(())
    /// ```
    fn discounted_purchases(
        &self,
        steps: &[(f64, f64, f64)],
        x: &[f64],
        t_x: &[f64],
        big_t: &[f64],
    ) -> Result<Vec<f64>> {
        let n = x.len();
        let mut out = vec![0.0; n];
        let expected = |t: f64| expected_purchases(self, t, x, t_x, big_t);
        for &(upper, lower, weight) in steps {
            let (u, l) = (expected(upper)?, expected(lower)?);
            for j in 0..n {
                out[j] += weight * (u[j] - l[j]);
            }
        }
        Ok(out)
    }
}

/// BG/NBD and MBG/NBD (one code in `bgnbd_family`) override every method with their own
/// one-pass versions.
macro_rules! bg_family_repeat_purchase_model {
    ($($model:ty),*) => {$(
        impl RepeatPurchaseModel for $model {
            fn conditional_expected_purchases(
                &self,
                t: f64,
                x: &[f64],
                t_x: &[f64],
                big_t: &[f64],
            ) -> Result<Vec<f64>> {
                <$model>::conditional_expected_purchases(self, t, x, t_x, big_t)
            }

            fn conditional_expected_purchases_at(
                &self,
                ts: &[f64],
                x: &[f64],
                t_x: &[f64],
                big_t: &[f64],
            ) -> Result<Vec<Vec<f64>>> {
                <$model>::conditional_expected_purchases_at(self, ts, x, t_x, big_t)
            }

            fn discounted_purchases(
                &self,
                steps: &[(f64, f64, f64)],
                x: &[f64],
                t_x: &[f64],
                big_t: &[f64],
            ) -> Result<Vec<f64>> {
                <$model>::discounted_purchases(self, steps, x, t_x, big_t)
            }
        }
    )*};
}

bg_family_repeat_purchase_model!(BgNbd, MbgNbd);

impl RepeatPurchaseModel for ParetoNbd {
    fn conditional_expected_purchases(
        &self,
        t: f64,
        x: &[f64],
        t_x: &[f64],
        big_t: &[f64],
    ) -> Result<Vec<f64>> {
        ParetoNbd::conditional_expected_purchases(self, t, x, t_x, big_t)
    }
}

/// Discrete opportunities: `t` is a number of future opportunities (real values interpolate the
/// closed form), `x`, `t_x`, `T` are the frequency, recency and `n` of [`BgBb`].
impl RepeatPurchaseModel for BgBb {
    fn conditional_expected_purchases(
        &self,
        t: f64,
        x: &[f64],
        t_x: &[f64],
        big_t: &[f64],
    ) -> Result<Vec<f64>> {
        BgBb::conditional_expected_purchases(self, t, x, t_x, big_t)
    }
}

/// `E[Y(t)]` from `model`, one value per customer: 0 at `t = 0` by definition, without asking the
/// model (which still validates the columns wherever it is asked for another `t`).
fn expected_purchases<M: RepeatPurchaseModel + ?Sized>(
    model: &M,
    t: f64,
    x: &[f64],
    t_x: &[f64],
    big_t: &[f64],
) -> Result<Vec<f64>> {
    if t == 0.0 {
        return Ok(vec![0.0; x.len()]);
    }
    one_per_customer(model.conditional_expected_purchases(t, x, t_x, big_t)?, x.len())
}

/// `values` if there is one per customer (`n`), else [`ClvError::LengthMismatch`].
fn one_per_customer(values: Vec<f64>, n: usize) -> Result<Vec<f64>> {
    if values.len() == n {
        Ok(values)
    } else {
        Err(ClvError::LengthMismatch {
            message: format!("the model returned {} values for {n} customers", values.len()),
        })
    }
}

/// How future transactions are discounted in [`customer_lifetime_value`] (the module docs give
/// the formulas).
///
/// # Examples
///
/// ```
/// use crmkit_clv::clv::{Discounting, LIFETIMES_WEEKS_PER_MONTH};
/// // lifetimes' default for a model fitted in weeks: 12 months at 1 % a month.
/// let monthly = Discounting::Discrete { rate_per_period: 0.01, periods: 12, period_length: LIFETIMES_WEEKS_PER_MONTH };
/// // The same year, continuously at the equivalent rate ln(1.01) per month.
/// let continuous = Discounting::Continuous {
///     rate: 1.01f64.ln() / LIFETIMES_WEEKS_PER_MONTH,
///     horizon: 12.0 * LIFETIMES_WEEKS_PER_MONTH,
///     steps: 52,
/// };
/// assert_ne!(monthly, continuous);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum Discounting {
    /// lifetimes' convention: horizon split into `periods` steps of `period_length` model time
    /// units; the expected purchases in step `i` (1-based) are discounted by `(1+rate)^i`, i.e.
    /// as if made at the end of the step.
    Discrete {
        /// Discount rate per step (e.g. monthly), finite and ≥ 0.
        rate_per_period: f64,
        /// Number of steps (e.g. months); 0 gives a value of 0.
        periods: u32,
        /// Model time units per step (e.g. [`LIFETIMES_WEEKS_PER_MONTH`]), finite and > 0.
        period_length: f64,
    },
    /// Continuous rate δ over `horizon`: `∫₀^horizon e^{−δt} dE[Y(t)]`, on `steps` equal steps
    /// with a constant purchase rate within each step (exact for a linear `E[Y(t)]`).
    Continuous {
        /// Continuously compounded discount rate per model time unit, finite and ≥ 0.
        rate: f64,
        /// Horizon in model time units, finite and > 0.
        horizon: f64,
        /// Number of quadrature steps, ≥ 1 (one model evaluation each).
        steps: u32,
    },
}

fn invalid(name: &str, message: String) -> ClvError {
    ClvError::InvalidParameter { name: name.into(), message }
}

impl Discounting {
    fn check(&self) -> Result<()> {
        match *self {
            Discounting::Discrete { rate_per_period, period_length, .. } => {
                if !rate_per_period.is_finite() || rate_per_period < 0.0 {
                    return Err(invalid(
                        "rate_per_period",
                        format!("{rate_per_period} is not a finite number ≥ 0"),
                    ));
                }
                if !period_length.is_finite() || period_length <= 0.0 {
                    return Err(invalid(
                        "period_length",
                        format!("{period_length} is not a finite number > 0"),
                    ));
                }
            }
            Discounting::Continuous { rate, horizon, steps } => {
                if !rate.is_finite() || rate < 0.0 {
                    return Err(invalid("rate", format!("{rate} is not a finite number ≥ 0")));
                }
                if !horizon.is_finite() || horizon <= 0.0 {
                    return Err(invalid(
                        "horizon",
                        format!("{horizon} is not a finite number > 0"),
                    ));
                }
                if steps == 0 {
                    return Err(invalid("steps", "0 steps: need at least 1".into()));
                }
            }
        }
        Ok(())
    }
}

/// Each customer's discounted expected value of future transactions: expected spend per
/// transaction `spend` (e.g. from
/// [`GammaGamma::conditional_expected_spend`](crate::gammagamma::GammaGamma::conditional_expected_spend))
/// times the discounted expected number of transactions predicted by `model` from `x`, `t_x`,
/// `T` (`big_t`), under `discounting` (see the module docs for the formulas).
///
/// `spend` must be finite (negative values, e.g. net margins, are allowed) with one value per
/// customer; the model validates `x`, `t_x`, `T`. The discounting parameters are checked first
/// ([`ClvError::InvalidParameter`]).
///
/// # Examples
///
/// ```
/// use crmkit_clv::bgnbd::BgNbd;
/// use crmkit_clv::clv::{customer_lifetime_value, Discounting, LIFETIMES_WEEKS_PER_MONTH};
/// use crmkit_clv::gammagamma::GammaGamma;
/// // CDNOW (weeks): BG/NBD for the transactions, Gamma-Gamma for the spend.
/// let bgnbd = BgNbd::new(0.243, 4.414, 0.793, 2.426)?;
/// let spend = GammaGamma::new(6.25, 3.74, 15.44)?.conditional_expected_spend(&[2.0], &[22.35])?;
/// let year = Discounting::Discrete { rate_per_period: 0.01, periods: 12, period_length: LIFETIMES_WEEKS_PER_MONTH };
/// let clv = customer_lifetime_value(&bgnbd, &spend, &[2.0], &[30.43], &[38.86], &year)?;
/// assert!((clv[0] - 36.3).abs() < 0.1); // lifetimes: 36.28
/// # Ok::<(), crmkit_clv::ClvError>(())
/// ```
pub fn customer_lifetime_value(
    model: &dyn RepeatPurchaseModel,
    spend: &[f64],
    x: &[f64],
    t_x: &[f64],
    big_t: &[f64],
    discounting: &Discounting,
) -> Result<Vec<f64>> {
    discounting.check()?;
    let n = spend.len();
    if x.len() != n || t_x.len() != n || big_t.len() != n {
        return Err(ClvError::LengthMismatch {
            message: format!(
                "spend {n}, frequency {}, recency {}, T {}",
                x.len(),
                t_x.len(),
                big_t.len()
            ),
        });
    }
    if let Some(i) = spend.iter().position(|s| !s.is_finite()) {
        return Err(ClvError::InvalidInput {
            column: "spend".into(),
            index: i,
            message: format!("{} is not a finite number", spend[i]),
        });
    }
    let expected = |t: f64| expected_purchases(model, t, x, t_x, big_t);
    let mut clv = vec![0.0; n];
    match *discounting {
        Discounting::Discrete { rate_per_period, periods, period_length } => {
            if periods == 0 {
                // Nothing to value, but the columns are still checked.
                model.conditional_expected_purchases(0.0, x, t_x, big_t)?;
            }
            // lifetimes: for i in np.arange(1, time + 1) * factor:
            //   clv += m * (predict(i) - predict(i - factor)) / (1 + d) ** (i / factor)
            // Both ends are evaluated as lifetimes does (i − factor is not always (k−1)·factor
            // in floating point); the model sums the discounted increments in one pass.
            let steps: Vec<(f64, f64, f64)> = (1..=periods)
                .map(|k| {
                    let i = f64::from(k) * period_length;
                    (i, i - period_length, 1.0 / (1.0 + rate_per_period).powf(i / period_length))
                })
                .collect();
            let discounted =
                one_per_customer(model.discounted_purchases(&steps, x, t_x, big_t)?, n)?;
            for j in 0..n {
                clv[j] = spend[j] * discounted[j];
            }
        }
        Discounting::Continuous { rate, horizon, steps } => {
            let mut t_prev = 0.0;
            let mut e_prev = vec![0.0; n];
            for k in 1..=steps {
                let t = horizon * f64::from(k) / f64::from(steps);
                let e = expected(t)?;
                let h = t - t_prev;
                let dh = rate * h;
                // Average of e^{−δs} over the step: e^{−δ t_prev} (1 − e^{−δh})/(δh).
                let mean = if dh == 0.0 { 1.0 } else { -(-dh).exp_m1() / dh };
                let weight = (-rate * t_prev).exp() * mean;
                for j in 0..n {
                    clv[j] += spend[j] * (e[j] - e_prev[j]) * weight;
                }
                t_prev = t;
                e_prev = e;
            }
        }
    }
    Ok(clv)
}
