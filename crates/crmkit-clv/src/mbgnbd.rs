//! The MBG/NBD model: Batislam, Denizel & Filiztekin (2007), "Empirical validation and
//! comparison of models for customer base analysis", *International Journal of Research in
//! Marketing* 24(3), 201–209 — as implemented by the Python package lifetimes
//! (`ModifiedBetaGeoFitter`).
//!
//! # The model
//!
//! As BG/NBD ([`crate::bgnbd`]): while alive a customer buys as a Poisson process with rate
//! `λ ~ Gamma(r, α)`, and drops out with probability `p ~ Beta(a, b)` right after a purchase —
//! but here also right after the **first** purchase (time 0), so a customer with no repeat
//! purchase may be gone, and one with `x` repeat purchases has survived `x + 1` opportunities.
//!
//! # Likelihood
//!
//! ```text
//! L(r, α, a, b | x, t_x, T) = Γ(r+x) α^r / Γ(r) · B(a, b+x+1)/B(a, b)
//!                             · [ (α+T)^−(r+x) + a/(b+x) · (α+t_x)^−(r+x) ]
//! ```
//!
//! (the second term, for dropout right after the last purchase at `t_x`, is present for every
//! `x`, including `x = 0` where `t_x = 0`). Evaluated and fitted exactly as BG/NBD: log space,
//! `ln B(a, b+x+1) − ln B(a, b) = Σ_{j≤x} ln(1 − a/(a+b+j))`, analytic gradient, BFGS over the
//! log-parameters.
//!
//! # Predictions
//!
//! * P(alive at T) = `1 / (1 + a/(b+x) · ((α+T)/(α+t_x))^(r+x))` (for every `x`).
//! * Given alive at `T`: `λ ~ Gamma(r+x, α+T)`, `p ~ Beta(a, b+x+1)`. With the notation of
//!   [`crate::bgnbd`] (`K` negative binomial, `G`, `S`):
//!   - E[Y(t) | x, t_x, T] = P(alive) · G(r+x, α+T, a, b+x+1; t)
//!     `= P(alive) · (a+b+x)/(a−1) · [1 − ((α+T)/(α+T+t))^(r+x) ₂F₁(r+x, b+x+1; a+b+x; t/(α+T+t))]`;
//!   - P(alive at T+t) = P(alive) · S(r+x, α+T, a, b+x+1; t);
//!   - E[X(t)] = `b/(a+b) · G(r, α, a, b+1; t) = b/(a−1) · [1 − (α/(α+t))^r ₂F₁(r, b+1; a+b; t/(α+t))]`
//!     (the new customer first survives time 0 with probability `E[1−p] = b/(a+b)`);
//!   - P(X(t) = n) = `B(a, b+n+1)/B(a, b) · P(K=n) + B(a+1, b+n)/B(a, b) · P(K ≥ n)`.
//!
//! `G` and `S` are computed as in [`crate::bgnbd`] (a positive negative-binomial series, or the
//! logit-space trapezoidal rule for long horizons), never as the cancelling ₂F₁ difference.
//!
//! # Examples
//!
//! ```
//! use crmkit_clv::mbgnbd::MbgNbd;
//! // lifetimes' ModifiedBetaGeoFitter estimates on the CDNOW sample (weeks).
//! let m = MbgNbd::new(0.5248, 6.1830, 0.8914, 1.6140)?;
//! let alive = m.probability_alive(&[0.0], &[0.0], &[39.0])?;
//! assert!(alive[0] < 0.5); // unlike BG/NBD, a customer with no repeat purchase may be gone
//! # Ok::<(), crmkit_clv::ClvError>(())
//! ```

use serde::{Deserialize, Serialize};

use crate::bgnbd_family::{
    Kind, Likelihood, PARAMETERS, Variant, check_parameters, conditional, conditional_discounted,
    conditional_multi, expectation, fit_cells, purchases_pmf,
};
use crate::data::Cells;
use crate::error::Result;
use crate::fit::FitInfo;

/// An MBG/NBD model: purchase rates `λ ~ Gamma(r, α)`, dropout probabilities `p ~ Beta(a, b)`,
/// with dropout possible right after the first purchase too.
///
/// # Examples
///
/// ```
/// use crmkit_clv::mbgnbd::MbgNbd;
/// let m = MbgNbd::new(0.525, 6.183, 0.891, 1.614)?;
/// assert_eq!(m.b, 1.614);
/// let json = serde_json::to_string(&m).unwrap();
/// assert_eq!(serde_json::from_str::<MbgNbd>(&json).unwrap(), m);
/// # Ok::<(), crmkit_clv::ClvError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MbgNbd {
    /// Shape of the Gamma distribution of purchase rates.
    pub r: f64,
    /// Rate (inverse scale, in the data's time unit) of the Gamma distribution of purchase rates.
    pub alpha: f64,
    /// First shape of the Beta distribution of dropout probabilities.
    pub a: f64,
    /// Second shape of the Beta distribution of dropout probabilities.
    pub b: f64,
}

impl MbgNbd {
    /// Parameter names, in the order of [`FitInfo::parameters`] and the struct fields.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(crmkit_clv::mbgnbd::MbgNbd::PARAMETERS, ["r", "alpha", "a", "b"]);
    /// ```
    pub const PARAMETERS: [&'static str; 4] = PARAMETERS;

    /// A model with the given parameters, each of which must be finite and `> 0`
    /// (else [`crate::ClvError::InvalidParameter`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use crmkit_clv::mbgnbd::MbgNbd;
    /// assert!(MbgNbd::new(0.5, 6.2, 0.9, 1.6).is_ok());
    /// assert!(MbgNbd::new(0.5, 6.2, f64::NAN, 1.6).unwrap_err().to_string().contains("invalid a"));
    /// ```
    pub fn new(r: f64, alpha: f64, a: f64, b: f64) -> Result<MbgNbd> {
        check_parameters(&[r, alpha, a, b])?;
        Ok(MbgNbd { r, alpha, a, b })
    }

    /// Fits the model by maximum likelihood on `cells`: BFGS over the log-parameters from the
    /// deterministic start `r = a = b = 1`, `α` = the weighted mean of `T`, with the analytic
    /// gradient. A boundary optimum (e.g. `a → 0` or `b → ∞` when the data show no dropout) is
    /// reported in [`FitInfo::boundary`], not as an error. Errors only when there are no cells.
    ///
    /// # Examples
    ///
    /// ```
    /// use crmkit_clv::{mbgnbd::MbgNbd, Cells};
    /// let x = [0.0, 1.0, 4.0, 2.0, 0.0, 7.0, 1.0, 3.0];
    /// let t_x = [0.0, 10.0, 30.0, 5.0, 0.0, 35.0, 2.0, 12.0];
    /// let t = [40.0, 38.0, 39.0, 40.0, 20.0, 37.0, 30.0, 40.0];
    /// let cells = Cells::from_columns(&x, &t_x, &t)?;
    /// let (model, info) = MbgNbd::fit(&cells)?;
    /// assert!((model.log_likelihood(&cells) - info.log_likelihood).abs() < 1e-9);
    /// # Ok::<(), crmkit_clv::ClvError>(())
    /// ```
    pub fn fit(cells: &Cells) -> Result<(MbgNbd, FitInfo)> {
        let (p, info) = fit_cells(cells, Variant::Mbg)?;
        Ok((MbgNbd { r: p[0], alpha: p[1], a: p[2], b: p[3] }, info))
    }

    /// The total (weighted) log-likelihood of `cells` under this model.
    ///
    /// # Examples
    ///
    /// ```
    /// use crmkit_clv::{mbgnbd::MbgNbd, Cells};
    /// let m = MbgNbd::new(0.525, 6.183, 0.891, 1.614)?;
    /// let ll = m.log_likelihood(&Cells::from_columns(&[0.0, 2.0], &[0.0, 30.43], &[39.0, 38.86])?);
    /// assert!(ll < 0.0);
    /// # Ok::<(), crmkit_clv::ClvError>(())
    /// ```
    pub fn log_likelihood(&self, cells: &Cells) -> f64 {
        Likelihood::new(cells, Variant::Mbg).log_likelihood(&self.params())
    }

    /// E[X(t)]: expected repeat purchases in `(0, t]` of a customer whose first purchase was at
    /// time 0 (lifetimes' `expected_number_of_purchases_up_to_time`). NaN for an invalid `t`.
    ///
    /// # Examples
    ///
    /// ```
    /// use crmkit_clv::mbgnbd::MbgNbd;
    /// let m = MbgNbd::new(0.525, 6.183, 0.891, 1.614)?;
    /// assert_eq!(m.expected_purchases(0.0), 0.0);
    /// assert!(m.expected_purchases(39.0) > 1.0);
    /// # Ok::<(), crmkit_clv::ClvError>(())
    /// ```
    pub fn expected_purchases(&self, t: f64) -> f64 {
        if !(t.is_finite() && t >= 0.0) {
            return f64::NAN;
        }
        let [r, alpha, a, b] = self.params();
        // Survive time 0 (probability b/(a+b)), then p ~ Beta(a, b+1).
        let survive0 = b / (a + b);
        survive0 * expectation(Kind::Purchases, r, alpha, a, b + 1.0, t)
    }

    /// P(X(t) = n) for a new customer: `B(a, b+n+1)/B(a, b) · P(K=n) + B(a+1, b+n)/B(a, b) ·
    /// P(K ≥ n)` (lifetimes' `probability_of_n_purchases_up_to_time`). NaN for an invalid `t`.
    ///
    /// # Examples
    ///
    /// ```
    /// use crmkit_clv::mbgnbd::MbgNbd;
    /// let m = MbgNbd::new(0.525, 6.183, 0.891, 1.614)?;
    /// let total: f64 = (0..2000).map(|n| m.probability_of_purchases(39.0, n)).sum();
    /// assert!((total - 1.0).abs() < 1e-9);
    /// # Ok::<(), crmkit_clv::ClvError>(())
    /// ```
    pub fn probability_of_purchases(&self, t: f64, n: u32) -> f64 {
        purchases_pmf(Variant::Mbg, self.params(), t, n)
    }

    /// E[Y(t) | x, t_x, T]: expected purchases in `(T, T+t]` per customer.
    ///
    /// Errors ([`crate::ClvError::InvalidInput`] naming the column and row, or
    /// [`crate::ClvError::LengthMismatch`]) unless `t ≥ 0`, the columns have one length, and
    /// each row has finite values with `x` a whole number `≥ 0`, `0 ≤ t_x ≤ T`, and `t_x = 0`
    /// when `x = 0`.
    ///
    /// # Examples
    ///
    /// ```
    /// use crmkit_clv::mbgnbd::MbgNbd;
    /// let m = MbgNbd::new(0.525, 6.183, 0.891, 1.614)?;
    /// let e = m.conditional_expected_purchases(39.0, &[1.0, 1.0], &[30.0, 2.0], &[39.0, 39.0])?;
    /// assert!(e[0] > e[1]);
    /// assert!(m.conditional_expected_purchases(39.0, &[1.5], &[1.0], &[2.0]).is_err());
    /// # Ok::<(), crmkit_clv::ClvError>(())
    /// ```
    pub fn conditional_expected_purchases(
        &self,
        t: f64,
        x: &[f64],
        t_x: &[f64],
        big_t: &[f64],
    ) -> Result<Vec<f64>> {
        conditional(Variant::Mbg, self.params(), Some((Kind::Purchases, t)), x, t_x, big_t)
    }

    /// [`MbgNbd::conditional_expected_purchases`] for several horizons at once (`result[k][i]`
    /// for `ts[k]`), computing each customer's P(alive) and grouping once.
    ///
    /// # Examples
    ///
    /// ```
    /// let m = crmkit_clv::mbgnbd::MbgNbd::new(0.525, 6.183, 0.891, 1.614)?;
    /// let e = m.conditional_expected_purchases_at(&[39.0], &[2.0], &[30.43], &[38.86])?;
    /// assert_eq!(e[0], m.conditional_expected_purchases(39.0, &[2.0], &[30.43], &[38.86])?);
    /// # Ok::<(), crmkit_clv::ClvError>(())
    /// ```
    pub fn conditional_expected_purchases_at(
        &self,
        ts: &[f64],
        x: &[f64],
        t_x: &[f64],
        big_t: &[f64],
    ) -> Result<Vec<Vec<f64>>> {
        conditional_multi(Variant::Mbg, self.params(), ts, x, t_x, big_t)
    }

    /// `Σ_k w_k (E[Y(u_k)] − E[Y(l_k)])` per customer for `steps` of `(u, l, w)`.
    ///
    /// # Examples
    ///
    /// ```
    /// let m = crmkit_clv::mbgnbd::MbgNbd::new(0.525, 6.183, 0.891, 1.614)?;
    /// let d = m.discounted_purchases(&[(39.0, 0.0, 1.0)], &[2.0], &[30.43], &[38.86])?;
    /// assert!(d[0] > 0.0);
    /// # Ok::<(), crmkit_clv::ClvError>(())
    /// ```
    pub fn discounted_purchases(
        &self,
        steps: &[(f64, f64, f64)],
        x: &[f64],
        t_x: &[f64],
        big_t: &[f64],
    ) -> Result<Vec<f64>> {
        conditional_discounted(Variant::Mbg, self.params(), steps, x, t_x, big_t)
    }

    /// P(alive at T | x, t_x, T) per customer; below 1 even for `x = 0`.
    ///
    /// Validates the columns like [`MbgNbd::conditional_expected_purchases`].
    ///
    /// # Examples
    ///
    /// ```
    /// use crmkit_clv::mbgnbd::MbgNbd;
    /// let m = MbgNbd::new(0.525, 6.183, 0.891, 1.614)?;
    /// let p = m.probability_alive(&[0.0, 5.0], &[0.0, 38.0], &[39.0, 39.0])?;
    /// assert!(p[0] < p[1] && p[1] < 1.0);
    /// # Ok::<(), crmkit_clv::ClvError>(())
    /// ```
    pub fn probability_alive(&self, x: &[f64], t_x: &[f64], big_t: &[f64]) -> Result<Vec<f64>> {
        conditional(Variant::Mbg, self.params(), None, x, t_x, big_t)
    }

    /// P(alive at T + t | x, t_x, T) per customer.
    ///
    /// Derivation as for [`crate::bgnbd::BgNbd::probability_alive_after`]: a live customer dies
    /// at rate `λp`; given the data and alive at `T`, `λ ~ Gamma(r+x, α+T)` and
    /// `p ~ Beta(a, b+x+1)` (the customer survived `x + 1` dropout opportunities), so the answer
    /// is `P(alive at T) · E_p[((α+T)/(α+T+p t))^(r+x)]`. Equals
    /// [`MbgNbd::probability_alive`] at `t = 0`.
    ///
    /// # Examples
    ///
    /// ```
    /// use crmkit_clv::mbgnbd::MbgNbd;
    /// let m = MbgNbd::new(0.525, 6.183, 0.891, 1.614)?;
    /// let (x, t_x, t) = ([3.0], [20.0], [30.0]);
    /// let now = m.probability_alive(&x, &t_x, &t)?;
    /// assert_eq!(m.probability_alive_after(0.0, &x, &t_x, &t)?, now);
    /// assert!(m.probability_alive_after(52.0, &x, &t_x, &t)?[0] < now[0]);
    /// # Ok::<(), crmkit_clv::ClvError>(())
    /// ```
    pub fn probability_alive_after(
        &self,
        t: f64,
        x: &[f64],
        t_x: &[f64],
        big_t: &[f64],
    ) -> Result<Vec<f64>> {
        conditional(Variant::Mbg, self.params(), Some((Kind::Survival, t)), x, t_x, big_t)
    }

    fn params(&self) -> [f64; 4] {
        [self.r, self.alpha, self.a, self.b]
    }
}
