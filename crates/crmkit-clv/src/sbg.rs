//! The **shifted-beta-geometric (sBG)** model of contractual retention: Fader & Hardie (2007),
//! "How to Project Customer Retention", *Journal of Interactive Marketing* 21(1), 76–90; residual
//! value as in Fader & Hardie (2010), "Customer-Base Valuation in a Contractual Setting: The
//! Perils of Ignoring Heterogeneity", *Marketing Science* 29(1), 85–93.
//!
//! # Model
//!
//! A cohort of customers is acquired at time 0. At the end of each period a customer still
//! under contract renews with probability `1 − θ` and churns with probability `θ`, so her
//! lifetime `T ∈ {1, 2, …}` (periods paid for) is shifted-geometric; across customers
//! `θ ~ Beta(α, β)`. With `B` the beta function (FH 2007, eqs. 3–6):
//!
//! - `P(T = t) = B(α+1, β+t−1)/B(α, β)`, `t ≥ 1`;
//! - survival `S(t) = P(T > t) = B(α, β+t)/B(α, β)`, `S(0) = 1`;
//! - retention rate `r(t) = S(t)/S(t−1) = (β+t−1)/(α+β+t−1)`, increasing in `t`: the cohort's
//!   churners leave first, not the individual's propensity changing.
//!
//! The data are the survivors `n_0 ≥ n_1 ≥ … ≥ n_T` (or the churners per period and the number
//! still active); the log-likelihood is
//! `Σ_{t=1}^{T} (n_{t−1} − n_t) ln P(T = t) + n_T ln S(T)` (FH 2007, eq. 7).
//!
//! The expected discounted residual lifetime (FH 2010, eq. 6) of a customer who has made `n−1`
//! renewals, just before the `n`-th renewal decision, counting one unit per period paid and
//! discounting at rate `d` per period, is
//! `DERL = Σ_{t≥n} S(t | T > n−1) (1+d)^{n−t} = (β+n−1)/(α+β+n−1) · ₂F₁(1, β+n; α+β+n; 1/(1+d))`.
//! Multiply by the margin per period for the residual lifetime value.
//!
//! All probabilities are computed as log Beta ratios, stable for any parameters.
//!
//! # Fitting
//!
//! [`Sbg::fit`] and [`Sbg::fit_churn`] maximise the log-likelihood by BFGS over `ln α, ln β` with
//! the analytic gradient from the fixed start `α = β = 1`. A constant retention rate drives
//! `α, β → ∞` (no heterogeneity): reported in [`FitInfo::boundary`], with a usable model.
//!
//! The optimiser works on the mean log-likelihood per customer (reported as the total), so it
//! behaves the same for a hundred customers or a million. A parameter that runs off along a flat
//! ridge without reaching the optimiser's bound (`|ln θ| = 25`) is walked out to it and, if the
//! fit is no worse there, reported as a boundary optimum rather than as an arbitrary large value.
//!
//! # Examples
//!
//! ```
//! use crmkit_clv::sbg::Sbg;
//! // FH 2007, "regular" customers, years 0–7.
//! let (m, info) = Sbg::fit(&[1000.0, 631.0, 468.0, 382.0, 326.0, 289.0, 262.0, 241.0])?;
//! assert!((m.alpha - 0.704).abs() < 5e-4 && (m.beta - 1.182).abs() < 5e-4);
//! assert!(info.converged);
//! // Projected survivors in year 12 (observed: 173).
//! assert!((1000.0 * m.survival(12) - 173.0).abs() < 10.0);
//! # Ok::<(), crmkit_clv::ClvError>(())
//! ```

use serde::{Deserialize, Serialize};

use crate::error::{ClvError, Result};
use crate::fit::{FitInfo, fit_positive_mean};
use crate::optim::Objective;
use crate::special::{digamma, hyp2f1_one, ln_beta_ratio};

/// An sBG retention model: churn probability `θ ~ Beta(α, β)` across customers.
///
/// # Examples
///
/// ```
/// use crmkit_clv::sbg::Sbg;
/// let m = Sbg::new(0.704, 1.182)?; // FH 2007, "regular"
/// assert!((m.retention_rate(1) - 1.182 / 1.886).abs() < 1e-12);
/// # Ok::<(), crmkit_clv::ClvError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Sbg {
    /// First shape of the Beta distribution of the churn probability `θ`.
    pub alpha: f64,
    /// Second shape of the Beta distribution of `θ`.
    pub beta: f64,
}

/// Churners per period `c_1..c_T` and customers still active after period `T`.
struct Counts {
    churned: Vec<f64>,
    active: f64,
}

impl Counts {
    fn total(&self) -> f64 {
        self.churned.iter().sum::<f64>() + self.active
    }
}

fn counts_log_likelihood(alpha: f64, beta: f64, c: &Counts, grad: Option<&mut [f64; 2]>) -> f64 {
    let mut ll = 0.0;
    for (i, &n) in c.churned.iter().enumerate() {
        if n > 0.0 {
            ll += n * ln_beta_ratio(alpha, beta, 1.0, i as f64);
        }
    }
    let t = c.churned.len() as f64;
    if c.active > 0.0 {
        ll += c.active * ln_beta_ratio(alpha, beta, 0.0, t);
    }
    if let Some(g) = grad {
        let (pa, pb, pab) = (digamma(alpha), digamma(beta), digamma(alpha + beta));
        let pa1 = digamma(alpha + 1.0);
        g[0] = 0.0;
        g[1] = 0.0;
        for (i, &n) in c.churned.iter().enumerate() {
            if n > 0.0 {
                // ln P(T = t), t = i + 1: ln B(α+1, β+t−1) − ln B(α, β).
                let i = i as f64;
                let ps = digamma(alpha + beta + 1.0 + i);
                g[0] += n * (pa1 - ps - pa + pab);
                g[1] += n * (digamma(beta + i) - ps - pb + pab);
            }
        }
        if c.active > 0.0 {
            let ps = digamma(alpha + beta + t);
            g[0] += c.active * (pab - ps);
            g[1] += c.active * (digamma(beta + t) - ps - pb + pab);
        }
    }
    ll
}

struct NegLogLik<'a> {
    counts: &'a Counts,
}

impl Objective for NegLogLik<'_> {
    fn value(&self, x: &[f64]) -> f64 {
        let (a, b) = (x[0].exp(), x[1].exp());
        if !(a.is_finite() && b.is_finite() && a > 0.0 && b > 0.0) {
            return f64::INFINITY;
        }
        let ll = counts_log_likelihood(a, b, self.counts, None);
        if ll.is_finite() { -ll } else { f64::INFINITY }
    }

    fn gradient(&self, x: &[f64], g: &mut [f64]) {
        let (a, b) = (x[0].exp(), x[1].exp());
        g.iter_mut().for_each(|v| *v = 0.0);
        if !(a.is_finite() && b.is_finite() && a > 0.0 && b > 0.0) {
            return;
        }
        let mut gr = [0.0; 2];
        counts_log_likelihood(a, b, self.counts, Some(&mut gr));
        g[0] = -gr[0] * a;
        g[1] = -gr[1] * b;
    }
}

fn survivors_to_counts(survivors: &[f64]) -> Result<Counts> {
    if survivors.len() < 2 {
        return Err(ClvError::NoData(format!(
            "{} survivor count(s): need the cohort size and at least one later period",
            survivors.len()
        )));
    }
    let bad = |index: usize, message: String| ClvError::InvalidInput {
        column: "survivors".into(),
        index,
        message,
    };
    for (t, &s) in survivors.iter().enumerate() {
        if !s.is_finite() || s < 0.0 {
            return Err(bad(t, format!("{s} is not a finite number ≥ 0")));
        }
        if t == 0 && s <= 0.0 {
            return Err(bad(0, format!("cohort size {s} is not > 0")));
        }
        if t > 0 && s > survivors[t - 1] {
            return Err(bad(
                t,
                format!(
                    "{s} exceeds the {} of the period before (must not increase)",
                    survivors[t - 1]
                ),
            ));
        }
    }
    let churned = survivors.windows(2).map(|w| w[0] - w[1]).collect();
    Ok(Counts { churned, active: survivors[survivors.len() - 1] })
}

impl Sbg {
    /// Parameter names, in the order of [`FitInfo::parameters`] and [`FitInfo::standard_errors`].
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(crmkit_clv::sbg::Sbg::PARAMETERS, ["alpha", "beta"]);
    /// ```
    pub const PARAMETERS: [&'static str; 2] = ["alpha", "beta"];

    /// A model with the given parameters, each finite and > 0.
    ///
    /// # Examples
    ///
    /// ```
    /// use crmkit_clv::sbg::Sbg;
    /// assert!(Sbg::new(0.668, 3.806).is_ok());
    /// assert!(Sbg::new(0.668, f64::NAN).unwrap_err().to_string().contains("invalid beta"));
    /// ```
    pub fn new(alpha: f64, beta: f64) -> Result<Sbg> {
        for (name, v) in Self::PARAMETERS.iter().zip([alpha, beta]) {
            if !v.is_finite() || v <= 0.0 {
                return Err(ClvError::InvalidParameter {
                    name: (*name).into(),
                    message: format!("{v} is not a finite number > 0"),
                });
            }
        }
        Ok(Sbg { alpha, beta })
    }

    /// Fits the model to a cohort's survivors: `survivors[0]` customers acquired,
    /// `survivors[t]` still active after `t` periods (`t = 1..T`), finite, ≥ 0, non-increasing.
    /// Counts need not be whole numbers (proportions fit the same parameters; the
    /// log-likelihood and standard errors then refer to a cohort of that size).
    ///
    /// Deterministic: BFGS over `ln α, ln β` from `α = β = 1`, analytic gradient.
    ///
    /// # Examples
    ///
    /// ```
    /// use crmkit_clv::sbg::Sbg;
    /// // FH 2007, "high end" customers, years 0–7.
    /// let (m, info) = Sbg::fit(&[1000.0, 869.0, 743.0, 653.0, 593.0, 551.0, 517.0, 491.0])?;
    /// assert!((m.alpha - 0.668).abs() < 5e-4 && (m.beta - 3.806).abs() < 5e-4);
    /// assert_eq!((info.customers, info.cells), (1000.0, 8));
    /// let err = Sbg::fit(&[100.0, 80.0, 85.0]).unwrap_err();
    /// assert!(err.to_string().contains("survivors at row 2"));
    /// # Ok::<(), crmkit_clv::ClvError>(())
    /// ```
    pub fn fit(survivors: &[f64]) -> Result<(Sbg, FitInfo)> {
        let counts = survivors_to_counts(survivors)?;
        Ok(Self::fit_counts(&counts))
    }

    /// Fits the model to the same data in the other form: `churned_in_period[t−1]` customers lost
    /// at the end of period `t` (`t = 1..T`) and `still_active` after period `T`, all finite and
    /// ≥ 0 with a positive total.
    ///
    /// # Examples
    ///
    /// ```
    /// use crmkit_clv::sbg::Sbg;
    /// let (a, _) = Sbg::fit_churn(&[369.0, 163.0, 86.0, 56.0, 37.0, 27.0, 21.0], 241.0)?;
    /// let (b, _) = Sbg::fit(&[1000.0, 631.0, 468.0, 382.0, 326.0, 289.0, 262.0, 241.0])?;
    /// assert_eq!(a, b);
    /// # Ok::<(), crmkit_clv::ClvError>(())
    /// ```
    pub fn fit_churn(churned_in_period: &[f64], still_active: f64) -> Result<(Sbg, FitInfo)> {
        if churned_in_period.is_empty() {
            return Err(ClvError::NoData("no period of churn counts".into()));
        }
        for (i, &c) in churned_in_period.iter().enumerate() {
            if !c.is_finite() || c < 0.0 {
                return Err(ClvError::InvalidInput {
                    column: "churned_in_period".into(),
                    index: i,
                    message: format!("{c} is not a finite number ≥ 0"),
                });
            }
        }
        if !still_active.is_finite() || still_active < 0.0 {
            return Err(ClvError::InvalidParameter {
                name: "still_active".into(),
                message: format!("{still_active} is not a finite number ≥ 0"),
            });
        }
        let counts = Counts { churned: churned_in_period.to_vec(), active: still_active };
        if counts.total() <= 0.0 {
            return Err(ClvError::NoData("the cohort is empty".into()));
        }
        Ok(Self::fit_counts(&counts))
    }

    fn fit_counts(counts: &Counts) -> (Sbg, FitInfo) {
        let objective = NegLogLik { counts };
        let meaning = |i: usize, to_infinity: bool| -> String {
            match (i, to_infinity) {
                (0, true) => "churn probability θ piles up at 1, or (with β also large) is the \
                              same for every customer: retention is constant over tenure"
                    .into(),
                (0, false) => {
                    "churn probability θ piles up at 0: most customers never churn".into()
                }
                (1, true) => "churn probability θ piles up at 0, or (with α also large) is the \
                              same for every customer: retention is constant over tenure"
                    .into(),
                _ => "churn probability θ piles up at 1: most customers churn after one period"
                    .into(),
            }
        };
        let cells = counts.churned.len() + 1;
        let (p, info) = fit_positive_mean(
            &Self::PARAMETERS,
            &objective,
            &[1.0, 1.0],
            counts.total(),
            cells,
            &meaning,
        );
        (Sbg { alpha: p[0], beta: p[1] }, info)
    }

    /// The log-likelihood of a cohort's survivors (same input and checks as [`Sbg::fit`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use crmkit_clv::sbg::Sbg;
    /// let m = Sbg::new(1.0, 1.0)?;
    /// // θ ~ U(0, 1): P(T = 1) = 1/2, S(1) = 1/2.
    /// let ll = m.log_likelihood(&[4.0, 2.0])?;
    /// assert!((ll - 4.0 * 0.5f64.ln()).abs() < 1e-12);
    /// # Ok::<(), crmkit_clv::ClvError>(())
    /// ```
    pub fn log_likelihood(&self, survivors: &[f64]) -> Result<f64> {
        let counts = survivors_to_counts(survivors)?;
        Ok(counts_log_likelihood(self.alpha, self.beta, &counts, None))
    }

    /// `P(T = t)`: the probability that a new customer's last paid period is `t` (churn at the
    /// end of period `t`); 0 for `t = 0`.
    ///
    /// # Examples
    ///
    /// ```
    /// use crmkit_clv::sbg::Sbg;
    /// let m = Sbg::new(0.668, 3.806)?;
    /// assert!((m.churn_probability(1) - 0.668 / 4.474).abs() < 1e-12);
    /// let total: f64 = (1..=50).map(|t| m.churn_probability(t)).sum::<f64>() + m.survival(50);
    /// assert!((total - 1.0).abs() < 1e-12);
    /// # Ok::<(), crmkit_clv::ClvError>(())
    /// ```
    pub fn churn_probability(&self, t: u32) -> f64 {
        if t == 0 {
            return 0.0;
        }
        ln_beta_ratio(self.alpha, self.beta, 1.0, f64::from(t - 1)).exp().clamp(0.0, 1.0)
    }

    /// `S(t) = P(T > t)`: the probability that a new customer is still active after `t` periods;
    /// `S(0) = 1`.
    ///
    /// # Examples
    ///
    /// ```
    /// use crmkit_clv::sbg::Sbg;
    /// let m = Sbg::new(1.0, 1.0)?;
    /// assert_eq!(m.survival(0), 1.0);
    /// assert!((m.survival(3) - 0.25).abs() < 1e-12); // β/(α+β+t−1)… = 1/(t+1)
    /// # Ok::<(), crmkit_clv::ClvError>(())
    /// ```
    pub fn survival(&self, t: u32) -> f64 {
        if t == 0 {
            return 1.0;
        }
        ln_beta_ratio(self.alpha, self.beta, 0.0, f64::from(t)).exp().clamp(0.0, 1.0)
    }

    /// `r(t) = S(t)/S(t−1) = (β+t−1)/(α+β+t−1)`: the share of customers active after `t − 1`
    /// periods who renew at the end of period `t` (`t ≥ 1`); NaN for `t = 0` (undefined).
    ///
    /// # Examples
    ///
    /// ```
    /// use crmkit_clv::sbg::Sbg;
    /// let m = Sbg::new(0.668, 3.806)?;
    /// assert!(m.retention_rate(1) < m.retention_rate(5)); // rising with tenure
    /// assert!((m.retention_rate(3) - m.survival(3) / m.survival(2)).abs() < 1e-12);
    /// assert!(m.retention_rate(0).is_nan());
    /// # Ok::<(), crmkit_clv::ClvError>(())
    /// ```
    pub fn retention_rate(&self, t: u32) -> f64 {
        if t == 0 {
            return f64::NAN;
        }
        let k = f64::from(t - 1);
        (self.beta + k) / (self.alpha + self.beta + k)
    }

    /// DERL, the expected discounted residual lifetime (in periods paid) of a customer who has
    /// made `renewals` renewals (`n − 1` in FH 2010), valued just before her next renewal
    /// decision: `(β+n−1)/(α+β+n−1) · ₂F₁(1, β+n; α+β+n; 1/(1+d))` (FH 2010, eq. 6), i.e. the
    /// next renewal's payment counts undiscounted and each later one is discounted by a further
    /// `1/(1+d)`. Multiply by the margin per period for the residual lifetime value.
    ///
    /// `discount_rate` `d ≥ 0` per period; at `d = 0` the value is `(β+n−1)/(α−1)` for `α > 1`
    /// and `+∞` otherwise; NaN for negative or NaN `d`. `₂F₁` is evaluated by Gauss's continued
    /// fraction, about `9/√d` steps, so rates down to ~10⁻¹³ are exact to rounding.
    ///
    /// # Examples
    ///
    /// ```
    /// use crmkit_clv::sbg::Sbg;
    /// let m = Sbg::new(0.668, 3.806)?;
    /// let d = 0.1;
    /// // Brute force: Σ_{k≥0} S(n+k)/S(n−1) / (1+d)^k with n − 1 = 4 renewals.
    /// let direct: f64 = (0..2000).map(|k| m.survival(5 + k) / m.survival(4) / 1.1f64.powi(k as i32)).sum();
    /// assert!((m.discounted_expected_residual_lifetime(4, d) - direct).abs() < 1e-9);
    /// // Longer-tenured customers are worth more (they are the low-churn ones).
    /// assert!(m.discounted_expected_residual_lifetime(9, d) > m.discounted_expected_residual_lifetime(4, d));
    /// # Ok::<(), crmkit_clv::ClvError>(())
    /// ```
    pub fn discounted_expected_residual_lifetime(&self, renewals: u32, discount_rate: f64) -> f64 {
        let d = discount_rate;
        if d.is_nan() || d < 0.0 {
            return f64::NAN;
        }
        let r = f64::from(renewals);
        let (a, b) = (self.alpha, self.beta);
        let first = (b + r) / (a + b + r);
        if d == 0.0 {
            return if a > 1.0 { (b + r) / (a - 1.0) } else { f64::INFINITY };
        }
        first * hyp2f1_one(b + r + 1.0, a + b + r + 1.0, 1.0 / (1.0 + d))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::optim::numeric_gradient;

    #[test]
    fn analytic_gradient_matches_central_differences() {
        let counts = Counts { churned: vec![369.0, 163.0, 0.0, 56.0, 37.0], active: 241.0 };
        let f = NegLogLik { counts: &counts };
        for x in [[0.0, 0.0], [-0.4, 1.3], [2.0, 3.0], [-3.0, -1.0]] {
            let (mut g, mut num) = ([0.0; 2], [0.0; 2]);
            f.gradient(&x, &mut g);
            numeric_gradient(|p| f.value(p), &x, &mut num);
            for j in 0..2 {
                assert!((g[j] - num[j]).abs() < 1e-6 * (1.0 + num[j].abs()), "{x:?} {g:?} {num:?}");
            }
        }
    }
}
