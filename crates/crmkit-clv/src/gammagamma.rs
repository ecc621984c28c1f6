//! The **Gamma-Gamma** model of spend per transaction: Fader, Hardie & Lee (2005), "RFM and CLV:
//! Using Iso-Value Curves for Customer Base Analysis", *Journal of Marketing Research* 42(4),
//! 415–430, and Fader & Hardie (2013), "The Gamma-Gamma Model of Monetary Value" (note).
//! Same likelihood and predictions as lifetimes 0.11.3's `GammaGammaFitter`.
//!
//! # Model
//!
//! The value of each of a customer's transactions is `z ~ Gamma(shape p, rate ν)`, so its mean is
//! `p/ν`; across customers `ν ~ Gamma(shape q, rate v)`, independent of the transaction process.
//! The data per customer are `x` (number of transactions with a spend value: repeat purchases in
//! the usual summaries, so `x ≥ 1`) and `z̄`, their mean.
//!
//! # Formulas
//!
//! - density of the mean spend `z̄` given `x` (the note's eq. 1a, lifetimes' likelihood):
//!   `f(z̄ | p, q, v, x) = Γ(px+q)/(Γ(px)Γ(q)) · v^q z̄^{px−1} x^{px} / (v + x z̄)^{px+q}`;
//! - the population mean spend `E[Z] = E[p/ν] = p v/(q − 1)`, finite only when `q > 1`;
//! - the posterior mean (eq. 5): `E[Z | x, z̄] = p (v + x z̄)/(p x + q − 1)`, a weighted average
//!   `(1 − w) p v/(q − 1) + w z̄` with `w = p x/(p x + q − 1)`; it is finite when `p x + q > 1`.
//!
//! The log-likelihood is that of the `z̄`s. Other conventions give constant shifts: the density of
//! the total spend `x z̄` is `f(z̄)/x`, i.e. `−Σ ln x` lower. Fader & Hardie's CDNOW estimates
//! (946 repeat customers) are `p = 6.25, q = 3.74, v = 15.44`; this likelihood's maximum there is
//! −4,055.92, as in lifetimes 0.11.3.
//!
//! # Fitting
//!
//! [`GammaGamma::fit`] maximises the log-likelihood by BFGS over `ln p, ln q, ln v` with the
//! analytic gradient, from the fixed start `p = 1, q = 2, v = mean(z̄)` (population mean spend
//! equal to the sample mean). An optimum at 0 or ∞ is returned as a fitted model, explained in
//! [`FitInfo::boundary`].
//!
//! The optimiser works on the mean log-likelihood per customer (reported as the total), so it
//! behaves the same for a hundred customers or a million. A parameter that runs off along a flat
//! ridge without reaching the optimiser's bound (`|ln θ| = 25`) is walked out to it and, if the
//! fit is no worse there, reported as a boundary optimum rather than as an arbitrary large value.
//!
//! **Callers filter**: only customers with `x ≥ 1` and `z̄ > 0` carry information about spend; the
//! fit rejects `x = 0` rows (and non-positive spend) with an error naming the row instead of
//! silently dropping them. For a whole customer base (a [`crate::summary::Summary`]),
//! [`repeat_spenders`] is that filter, [`GammaGamma::fit_repeat_spenders`] the fit on it, and
//! [`GammaGamma::expected_spend_per_customer`] values the others at the population mean.
//!
//! # Examples
//!
//! ```
//! use crmkit_clv::gammagamma::GammaGamma;
//! let x = [1.0, 2.0, 5.0, 1.0, 3.0, 2.0, 4.0, 1.0];
//! let zbar = [20.0, 35.0, 18.5, 60.0, 25.0, 12.0, 30.0, 42.0];
//! let (model, info) = GammaGamma::fit(&x, &zbar)?;
//! assert_eq!(info.customers, 8.0);
//! let spend = model.conditional_expected_spend(&[0.0, 5.0], &[0.0, 18.5])?;
//! assert!(spend.iter().all(|s| *s > 0.0));
//! # Ok::<(), crmkit_clv::ClvError>(())
//! ```

use serde::{Deserialize, Serialize};

use crate::error::{ClvError, Result};
use crate::fit::{FitInfo, fit_positive_mean};
use crate::optim::Objective;
use crate::special::{digamma, ln_gamma, ln_poch};

/// A Gamma-Gamma spend model: transaction values `Gamma(p, ν)`, `ν ~ Gamma(q, v)`.
///
/// # Examples
///
/// ```
/// use crmkit_clv::gammagamma::GammaGamma;
/// // Fader & Hardie's CDNOW estimates.
/// let m = GammaGamma::new(6.25, 3.74, 15.44)?;
/// assert!((m.expected_spend().unwrap() - 35.22).abs() < 0.01);
/// # Ok::<(), crmkit_clv::ClvError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct GammaGamma {
    /// Shape of the Gamma distribution of a transaction's value.
    pub p: f64,
    /// Shape of the Gamma distribution of the rate `ν` across customers.
    pub q: f64,
    /// Rate (inverse scale) of the Gamma distribution of `ν` across customers.
    pub v: f64,
}

fn bad(column: &str, index: usize, message: String) -> ClvError {
    ClvError::InvalidInput { column: column.into(), index, message }
}

fn check_lengths(frequency: &[f64], mean_spend: &[f64]) -> Result<()> {
    if frequency.len() != mean_spend.len() {
        return Err(ClvError::LengthMismatch {
            message: format!("frequency {}, mean_spend {}", frequency.len(), mean_spend.len()),
        });
    }
    Ok(())
}

/// Rows for the likelihood: `x` a whole number ≥ 1, `z̄` finite and > 0.
fn check_fit_rows(frequency: &[f64], mean_spend: &[f64]) -> Result<()> {
    check_lengths(frequency, mean_spend)?;
    for (i, (&x, &z)) in frequency.iter().zip(mean_spend).enumerate() {
        if !x.is_finite() || x < 1.0 || x.fract() != 0.0 {
            return Err(bad(
                "frequency",
                i,
                format!(
                    "{x} is not a whole number ≥ 1 (the spend model needs customers with repeat \
                     transactions: filter out x = 0 first)"
                ),
            ));
        }
        if !z.is_finite() || z <= 0.0 {
            return Err(bad("mean_spend", i, format!("{z} is not a finite number > 0")));
        }
    }
    if frequency.is_empty() {
        return Err(ClvError::NoData("no customers with repeat transactions".into()));
    }
    Ok(())
}

/// Whether a customer's summary tells anything about their spend: at least one repeat
/// transaction (`x > 0`) with a positive mean spend (`z̄ > 0`); NaN tells nothing.
fn has_repeat_spend(frequency: f64, mean_spend: f64) -> bool {
    frequency > 0.0 && mean_spend > 0.0
}

/// The customers the spend model is fitted on, out of a whole customer base: the `frequency`
/// and `mean_spend` of those with repeat spend (`x > 0` and `z̄ > 0`), in their order. The others
/// (no repeat purchase, or only free ones) tell nothing about spend.
///
/// # Examples
///
/// ```
/// use crmkit_clv::gammagamma::repeat_spenders;
/// let (x, z) = repeat_spenders(&[0.0, 2.0, 3.0, 1.0], &[0.0, 20.0, 0.0, 35.0])?;
/// assert_eq!((x, z), (vec![2.0, 1.0], vec![20.0, 35.0]));
/// # Ok::<(), crmkit_clv::ClvError>(())
/// ```
pub fn repeat_spenders(frequency: &[f64], mean_spend: &[f64]) -> Result<(Vec<f64>, Vec<f64>)> {
    check_lengths(frequency, mean_spend)?;
    Ok(frequency
        .iter()
        .zip(mean_spend)
        .filter(|&(&x, &z)| has_repeat_spend(x, z))
        .map(|(&x, &z)| (x, z))
        .unzip())
}

/// `ln f(z̄ | p, q, v, x)`, and if asked its gradient with respect to `(p, q, v)` added to `grad`.
///
/// Written as `ln Γ(px+q) − ln Γ(px) − ln Γ(q) − q ln(1 + x z̄/v) − ln z̄ − px ln(1 + v/(x z̄))`
/// (algebraically the formula above), so that it stays accurate when `p` or `v` is extreme.
fn ln_density(p: f64, q: f64, v: f64, x: f64, z: f64, grad: Option<&mut [f64; 3]>) -> f64 {
    let px = p * x;
    let xz = x * z;
    let ll = ln_poch(px, q) - ln_gamma(q) - q * (xz / v).ln_1p() - z.ln() - px * (v / xz).ln_1p();
    if let Some(g) = grad {
        let psi = digamma(px + q);
        g[0] += x * (psi - digamma(px) - (v / xz).ln_1p());
        g[1] += psi - digamma(q) - (xz / v).ln_1p();
        g[2] += q / v - (px + q) / (xz + v);
    }
    ll
}

impl GammaGamma {
    /// Parameter names, in the order of [`FitInfo::parameters`] and [`FitInfo::standard_errors`].
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(crmkit_clv::gammagamma::GammaGamma::PARAMETERS, ["p", "q", "v"]);
    /// ```
    pub const PARAMETERS: [&'static str; 3] = ["p", "q", "v"];

    /// A model with the given parameters, each finite and > 0.
    ///
    /// # Examples
    ///
    /// ```
    /// use crmkit_clv::gammagamma::GammaGamma;
    /// assert!(GammaGamma::new(6.25, 3.74, 15.44).is_ok());
    /// assert!(GammaGamma::new(6.25, 0.0, 15.44).unwrap_err().to_string().contains("invalid q"));
    /// ```
    pub fn new(p: f64, q: f64, v: f64) -> Result<GammaGamma> {
        for (name, value) in Self::PARAMETERS.iter().zip([p, q, v]) {
            if !value.is_finite() || value <= 0.0 {
                return Err(ClvError::InvalidParameter {
                    name: (*name).into(),
                    message: format!("{value} is not a finite number > 0"),
                });
            }
        }
        Ok(GammaGamma { p, q, v })
    }

    /// Fits the model by maximum likelihood to customers' transaction counts `frequency` (`x`,
    /// whole numbers ≥ 1) and mean spend per transaction `mean_spend` (`z̄`, finite, > 0).
    ///
    /// Callers filter: a row with `x = 0` (no transaction with a spend value) or `z̄ ≤ 0` is an
    /// error naming the column and row, not silently dropped.
    ///
    /// Deterministic: BFGS over the log-parameters from `p = 1, q = 2, v = mean(z̄)`.
    ///
    /// # Examples
    ///
    /// ```
    /// use crmkit_clv::gammagamma::GammaGamma;
    /// let (m, info) = GammaGamma::fit(&[1.0, 2.0, 4.0, 1.0, 3.0], &[10.0, 14.0, 9.0, 30.0, 12.0])?;
    /// assert_eq!(info.parameters, ["p", "q", "v"]);
    /// assert!((info.log_likelihood - m.log_likelihood(&[1.0, 2.0, 4.0, 1.0, 3.0], &[10.0, 14.0, 9.0, 30.0, 12.0])?).abs() < 1e-9);
    /// let err = GammaGamma::fit(&[1.0, 0.0], &[10.0, 0.0]).unwrap_err();
    /// assert!(err.to_string().contains("frequency at row 1"));
    /// # Ok::<(), crmkit_clv::ClvError>(())
    /// ```
    pub fn fit(frequency: &[f64], mean_spend: &[f64]) -> Result<(GammaGamma, FitInfo)> {
        check_fit_rows(frequency, mean_spend)?;
        let objective = NegLogLik { x: frequency, z: mean_spend };
        let mean = mean_spend.iter().sum::<f64>() / mean_spend.len() as f64;
        let meaning = |i: usize, to_infinity: bool| -> String {
            match (i, to_infinity) {
                (0, true) => "each customer's transaction values do not vary around their mean \
                              (shape p unbounded)"
                    .into(),
                (0, false) => "transaction values are extremely dispersed within customers".into(),
                (1, true) => "the customers' mean spends do not vary: everyone has the same mean \
                              (q and v grow together)"
                    .into(),
                (1, false) => "the spread of mean spend across customers is unbounded; the \
                               population mean p·v/(q−1) does not exist"
                    .into(),
                (2, true) => "the scale v of the mean spend across customers is unbounded".into(),
                _ => "the scale v of the mean spend across customers collapses to 0".into(),
            }
        };
        let (p, info) = fit_positive_mean(
            &Self::PARAMETERS,
            &objective,
            &[1.0, 2.0, mean],
            frequency.len() as f64,
            frequency.len(),
            &meaning,
        );
        Ok((GammaGamma { p: p[0], q: p[1], v: p[2] }, info))
    }

    /// [`GammaGamma::fit`] on the customers of a whole customer base that have repeat spend
    /// ([`repeat_spenders`]); the others are left out rather than being an error.
    ///
    /// # Examples
    ///
    /// ```
    /// use crmkit_clv::gammagamma::GammaGamma;
    /// let x = [1.0, 2.0, 0.0, 4.0, 1.0, 3.0, 2.0];
    /// let zbar = [10.0, 14.0, 0.0, 9.0, 30.0, 0.0, 12.0];
    /// let (m, info) = GammaGamma::fit_repeat_spenders(&x, &zbar)?;
    /// assert_eq!(info.customers, 5.0);
    /// assert_eq!(m, GammaGamma::fit(&[1.0, 2.0, 4.0, 1.0, 2.0], &[10.0, 14.0, 9.0, 30.0, 12.0])?.0);
    /// # Ok::<(), crmkit_clv::ClvError>(())
    /// ```
    pub fn fit_repeat_spenders(
        frequency: &[f64],
        mean_spend: &[f64],
    ) -> Result<(GammaGamma, FitInfo)> {
        let (x, z) = repeat_spenders(frequency, mean_spend)?;
        GammaGamma::fit(&x, &z)
    }

    /// The total log-likelihood `Σ ln f(z̄ | x)` (same inputs and checks as [`GammaGamma::fit`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use crmkit_clv::gammagamma::GammaGamma;
    /// let m = GammaGamma::new(1.0, 1.0, 1.0)?;
    /// // x = 1, p = q = v = 1: f(z) = 1/(1 + z)².
    /// let ll = m.log_likelihood(&[1.0], &[3.0])?;
    /// assert!((ll + 2.0 * 4f64.ln()).abs() < 1e-12);
    /// # Ok::<(), crmkit_clv::ClvError>(())
    /// ```
    pub fn log_likelihood(&self, frequency: &[f64], mean_spend: &[f64]) -> Result<f64> {
        check_fit_rows(frequency, mean_spend)?;
        Ok(frequency
            .iter()
            .zip(mean_spend)
            .map(|(&x, &z)| ln_density(self.p, self.q, self.v, x, z, None))
            .sum())
    }

    /// `E[Z | x, z̄] = p (v + x z̄)/(p x + q − 1)`: each customer's expected spend per future
    /// transaction (the note's eq. 5; lifetimes' `conditional_expected_average_profit`).
    ///
    /// `x` is a whole number ≥ 0; `z̄` finite and > 0 when `x ≥ 1`, ignored (any finite value ≥ 0)
    /// when `x = 0`, where the result is the population mean `p v/(q − 1)`.
    ///
    /// **When `q ≤ 1`** the population mean is infinite: a row with `x = 0`, and more generally
    /// any row with `p x + q ≤ 1`, has no finite expectation, and the call fails with
    /// [`ClvError::InvalidParameter`] naming `q` and the row (rows with `p x + q > 1` are finite,
    /// but the call is all-or-nothing; score those rows separately).
    ///
    /// # Examples
    ///
    /// ```
    /// use crmkit_clv::gammagamma::GammaGamma;
    /// let m = GammaGamma::new(6.25, 3.74, 15.44)?;
    /// let s = m.conditional_expected_spend(&[0.0, 2.0, 50.0], &[0.0, 22.35, 40.0])?;
    /// assert_eq!(s[0], m.expected_spend().unwrap());
    /// assert!((s[1] - 24.66).abs() < 0.01);
    /// assert!((s[2] - 40.0).abs() < 0.1); // many transactions: close to the customer's own mean
    /// let heavy = GammaGamma::new(6.25, 0.9, 15.44)?;
    /// assert!(heavy.conditional_expected_spend(&[0.0], &[0.0]).is_err());
    /// assert!(heavy.conditional_expected_spend(&[1.0], &[20.0]).is_ok());
    /// # Ok::<(), crmkit_clv::ClvError>(())
    /// ```
    pub fn conditional_expected_spend(
        &self,
        frequency: &[f64],
        mean_spend: &[f64],
    ) -> Result<Vec<f64>> {
        check_lengths(frequency, mean_spend)?;
        let mut out = Vec::with_capacity(frequency.len());
        for (i, (&x, &z)) in frequency.iter().zip(mean_spend).enumerate() {
            if !x.is_finite() || x < 0.0 || x.fract() != 0.0 {
                return Err(bad("frequency", i, format!("{x} is not a whole number ≥ 0")));
            }
            if x == 0.0 {
                if !z.is_finite() || z < 0.0 {
                    return Err(bad("mean_spend", i, format!("{z} is not a finite number ≥ 0")));
                }
            } else if !z.is_finite() || z <= 0.0 {
                return Err(bad(
                    "mean_spend",
                    i,
                    format!("{z} is not a finite number > 0 (frequency is {x})"),
                ));
            }
            let denominator = self.p * x + self.q - 1.0;
            if denominator <= 0.0 {
                return Err(ClvError::InvalidParameter {
                    name: "q".into(),
                    message: format!(
                        "q = {} with p = {} gives p·x + q ≤ 1 at row {i} (x = {x}): the expected \
                         spend is infinite (the population mean p·v/(q−1) exists only for q > 1)",
                        self.q, self.p
                    ),
                });
            }
            out.push(self.p * (self.v + x * z) / denominator);
        }
        Ok(out)
    }

    /// Each customer's expected spend per future transaction across a whole customer base:
    /// [`GammaGamma::conditional_expected_spend`] for the customers with repeat spend
    /// ([`repeat_spenders`]); the others (no repeat purchase, or only free ones) tell nothing
    /// about spend and get the population mean, as if `x = z̄ = 0`.
    ///
    /// # Examples
    ///
    /// ```
    /// use crmkit_clv::gammagamma::GammaGamma;
    /// let m = GammaGamma::new(6.25, 3.74, 15.44)?;
    /// let s = m.expected_spend_per_customer(&[0.0, 2.0, 3.0], &[0.0, 22.35, 0.0])?;
    /// assert_eq!(s, m.conditional_expected_spend(&[0.0, 2.0, 0.0], &[0.0, 22.35, 0.0])?);
    /// assert_eq!(s[2], m.expected_spend().unwrap());
    /// # Ok::<(), crmkit_clv::ClvError>(())
    /// ```
    pub fn expected_spend_per_customer(
        &self,
        frequency: &[f64],
        mean_spend: &[f64],
    ) -> Result<Vec<f64>> {
        check_lengths(frequency, mean_spend)?;
        let (x, z): (Vec<f64>, Vec<f64>) = frequency
            .iter()
            .zip(mean_spend)
            .map(|(&x, &z)| if has_repeat_spend(x, z) { (x, z) } else { (0.0, 0.0) })
            .unzip();
        self.conditional_expected_spend(&x, &z)
    }

    /// The population mean spend per transaction `p v/(q − 1)`, or `None` when `q ≤ 1` (the mean
    /// is infinite).
    ///
    /// # Examples
    ///
    /// ```
    /// use crmkit_clv::gammagamma::GammaGamma;
    /// assert_eq!(GammaGamma::new(2.0, 3.0, 10.0)?.expected_spend(), Some(10.0));
    /// assert_eq!(GammaGamma::new(2.0, 1.0, 10.0)?.expected_spend(), None);
    /// # Ok::<(), crmkit_clv::ClvError>(())
    /// ```
    pub fn expected_spend(&self) -> Option<f64> {
        (self.q > 1.0).then(|| self.p * self.v / (self.q - 1.0))
    }
}

/// The negative log-likelihood over log-parameters.
struct NegLogLik<'a> {
    x: &'a [f64],
    z: &'a [f64],
}

impl NegLogLik<'_> {
    fn params(t: &[f64]) -> Option<(f64, f64, f64)> {
        let (p, q, v) = (t[0].exp(), t[1].exp(), t[2].exp());
        [p, q, v].iter().all(|a| a.is_finite() && *a > 0.0).then_some((p, q, v))
    }
}

impl Objective for NegLogLik<'_> {
    fn value(&self, t: &[f64]) -> f64 {
        let Some((p, q, v)) = Self::params(t) else { return f64::INFINITY };
        let ll: f64 =
            self.x.iter().zip(self.z).map(|(&x, &z)| ln_density(p, q, v, x, z, None)).sum();
        if ll.is_finite() { -ll } else { f64::INFINITY }
    }

    fn gradient(&self, t: &[f64], g: &mut [f64]) {
        g.iter_mut().for_each(|a| *a = 0.0);
        let Some((p, q, v)) = Self::params(t) else { return };
        let mut acc = [0.0; 3];
        for (&x, &z) in self.x.iter().zip(self.z) {
            ln_density(p, q, v, x, z, Some(&mut acc));
        }
        for (j, scale) in [p, q, v].into_iter().enumerate() {
            g[j] = -acc[j] * scale;
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::optim::numeric_gradient;

    #[test]
    fn analytic_gradient_matches_central_differences() {
        let (x, z) = ([1.0, 2.0, 7.0, 3.0], [12.0, 30.5, 8.25, 100.0]);
        let f = NegLogLik { x: &x, z: &z };
        for t in [[0.0, 0.5, 2.0], [1.8, 1.3, 2.7], [-1.0, 3.0, 0.1]] {
            let (mut g, mut num) = ([0.0; 3], [0.0; 3]);
            f.gradient(&t, &mut g);
            numeric_gradient(|a| f.value(a), &t, &mut num);
            for j in 0..3 {
                assert!((g[j] - num[j]).abs() < 1e-6 * (1.0 + num[j].abs()), "{t:?} {g:?} {num:?}");
            }
        }
    }
}
