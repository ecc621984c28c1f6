//! The BG/NBD model: Fader, Hardie & Lee (2005), "'Counting Your Customers' the Easy Way: An
//! Alternative to the Pareto/NBD Model", *Marketing Science* 24(2), 275–284.
//!
//! # The model
//!
//! While alive, a customer buys as a Poisson process with rate `λ`; right after each **repeat**
//! purchase they drop out for good with probability `p`. Across customers
//! `λ ~ Gamma(r, α)` (shape `r`, rate `α`) and `p ~ Beta(a, b)`, independently. Data per customer:
//! `x` repeat purchases, the last at `t_x`, observed up to `T` (time since the first purchase).
//!
//! # Likelihood (FHL 2005, eq. 6)
//!
//! ```text
//! L(r, α, a, b | x, t_x, T) = B(a, b+x)/B(a, b) · Γ(r+x) α^r / (Γ(r) (α+T)^(r+x))
//!                           + δ(x>0) · B(a+1, b+x−1)/B(a, b) · Γ(r+x) α^r / (Γ(r) (α+t_x)^(r+x))
//! ```
//!
//! evaluated in log space as
//! `ln Γ(r+x) − ln Γ(r) + r ln α + [ln B(a, b+x) − ln B(a, b)]
//!  + log_add_exp(−(r+x) ln(α+T), ln(a/(b+x−1)) − (r+x) ln(α+t_x))`.
//! The bracket is the sum `Σ_{j<x} ln(1 − a/(a+b+j))`, exact and stable even as `b → ∞`;
//! it is accumulated once per fit evaluation over the distinct values of `x`, so an evaluation
//! costs O(cells) exponentials and logarithms plus O(max x) cheap terms. [`BgNbd::fit`] maximises
//! the total log-likelihood over the log-parameters with the crate's BFGS, with an analytic
//! gradient (digamma differences as the sums `Σ_{j<x} 1/(r+j)`, ...).
//!
//! # Predictions
//!
//! * P(alive at T) (FHL 2005, eq. 11): `1 / (1 + δ(x>0) · a/(b+x−1) · ((α+T)/(α+t_x))^(r+x))`.
//! * Given the customer is alive at `T`, the posterior is `λ ~ Gamma(r+x, α+T)`,
//!   `p ~ Beta(a, b+x)`. With `u = t/(α+T)`, the number `K` of purchases a surviving customer
//!   would make in `(T, T+t]` is negative binomial, `P(K=k) = Γ(r'+k)/(Γ(r') k!) (1+u)^(−r')
//!   (u/(1+u))^k` with `r' = r+x`, and each purchase survives the next with probability `1−p`.
//!   Hence
//!   - E[Y(t) | x, t_x, T] (FHL 2005, eq. 10) = P(alive) · G, where
//!     `G = (a+b'−1)/(a−1) · [1 − (1+u)^(−r') ₂F₁(r', b'; a+b'−1; u/(1+u))]` with `b' = b+x`.
//!     We never evaluate that difference (it cancels badly and is 0/0 at `a = 1`); instead
//!     `G = Σ_{k≥1} P(K=k) m_k` with `m_k = Σ_{j<k} E[(1−p)^j] = Σ_{j<k} (b')_j/(a+b')_j`,
//!     a series of positive terms: `m_k` is the expected number of purchases made by a customer
//!     who would buy `k` times if immortal but drops out after each purchase with probability
//!     `p`. It equals the ₂F₁ expression term by term (`m_k = (a+b'−1)/(a−1) [1 −
//!     (b')_k/(a+b'−1)_k]` telescopes, and `Σ_k P(K=k) (b')_k/(a+b'−1)_k` is the ₂F₁ term).
//!   - P(alive at T+t | x, t_x, T) = P(alive) · S with `S = E[(1−p)^K] = E_p[(1+p u)^(−r')]
//!     = Σ_k P(K=k) (b')_k/(a+b')_k`: dropout happens at rate `λ p`, so
//!     `P(still alive after t more | λ, p) = e^(−λ p t)`, and `E_λ[e^(−λ p t)] = (1+p u)^(−r')`.
//!   - The new-customer expectation E[X(t)] (FHL 2005, eq. 9) is `G` with the prior `(r, α, a, b)`.
//!   - P(X(t) = n) (FHL 2005, eq. 8) = `B(a, b+n)/B(a, b) · P(K=n) + δ(n>0) · B(a+1, b+n−1)/B(a, b)
//!     · P(K ≥ n)` with `K` the negative binomial above for `(r, α)`, `P(K ≥ n)` a regularized
//!     incomplete beta function `I_{t/(α+t)}(n, r)` (continued fraction).
//!
//! The series for `G` and `S` is summed with a rigorous tail bound until the remaining terms are
//! below 1e-17 of the sum; it needs about `r'u + 12·sd(K) + 40(1+u)` terms. When that is more than
//! a few thousand (horizons much longer than `α+T`), the same expectations over
//! `p ~ Beta(a, b')` are computed by the trapezoidal rule in the logit of `p` (exponentially
//! convergent for these analytic integrands), with both tails beyond the grid summed in closed
//! form from first-order expansions. The two methods agree to ~1e-11 where both apply, and both
//! agree with 60-digit mpmath values of the ₂F₁ forms (tests).
//!
//! # Examples
//!
//! ```
//! use crmkit_clv::bgnbd::BgNbd;
//! // FHL 2005's estimates on the CDNOW sample (weeks).
//! let m = BgNbd::new(0.243, 4.414, 0.793, 2.426)?;
//! let e = m.conditional_expected_purchases(39.0, &[2.0], &[30.43], &[38.86])?;
//! assert!((e[0] - 1.226).abs() < 1e-3);
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

/// A BG/NBD model: purchase rates `λ ~ Gamma(r, α)`, dropout probabilities `p ~ Beta(a, b)`.
///
/// Time is in whatever unit the data were in (`α` is a rate parameter in that unit).
///
/// # Examples
///
/// ```
/// use crmkit_clv::bgnbd::BgNbd;
/// let m = BgNbd::new(0.243, 4.414, 0.793, 2.426)?;
/// assert_eq!(m.alpha, 4.414);
/// let json = serde_json::to_string(&m).unwrap();
/// assert_eq!(serde_json::from_str::<BgNbd>(&json).unwrap(), m);
/// # Ok::<(), crmkit_clv::ClvError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BgNbd {
    /// Shape of the Gamma distribution of purchase rates.
    pub r: f64,
    /// Rate (inverse scale, in the data's time unit) of the Gamma distribution of purchase rates.
    pub alpha: f64,
    /// First shape of the Beta distribution of dropout probabilities.
    pub a: f64,
    /// Second shape of the Beta distribution of dropout probabilities.
    pub b: f64,
}

impl BgNbd {
    /// Parameter names, in the order of [`FitInfo::parameters`] and the struct fields.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(crmkit_clv::bgnbd::BgNbd::PARAMETERS, ["r", "alpha", "a", "b"]);
    /// ```
    pub const PARAMETERS: [&'static str; 4] = PARAMETERS;

    /// A model with the given parameters, each of which must be finite and `> 0`
    /// (else [`crate::ClvError::InvalidParameter`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use crmkit_clv::bgnbd::BgNbd;
    /// assert!(BgNbd::new(0.25, 4.4, 0.8, 2.4).is_ok());
    /// let err = BgNbd::new(0.25, -1.0, 0.8, 2.4).unwrap_err();
    /// assert!(err.to_string().contains("alpha"));
    /// ```
    pub fn new(r: f64, alpha: f64, a: f64, b: f64) -> Result<BgNbd> {
        check_parameters(&[r, alpha, a, b])?;
        Ok(BgNbd { r, alpha, a, b })
    }

    /// Fits the model by maximum likelihood on `cells`.
    ///
    /// Deterministic: BFGS over the log-parameters from the start `r = a = b = 1`, `α` = the
    /// weighted mean of `T` (lifetimes' all-ones start, which it takes on time scaled to
    /// `max T = 1`, but with the time unit set by the mean age instead of the maximum), with
    /// the analytic gradient. An optimum at a boundary (e.g. no dropout in the data:
    /// `a → 0` or `b → ∞`) is a fitted model with the condition explained in
    /// [`FitInfo::boundary`]. Errors only when there are no cells ([`crate::ClvError::NoData`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use crmkit_clv::{bgnbd::BgNbd, Cells};
    /// let x = [0.0, 1.0, 4.0, 2.0, 0.0, 7.0, 1.0, 3.0];
    /// let t_x = [0.0, 10.0, 30.0, 5.0, 0.0, 35.0, 2.0, 12.0];
    /// let t = [40.0, 38.0, 39.0, 40.0, 20.0, 37.0, 30.0, 40.0];
    /// let (model, info) = BgNbd::fit(&Cells::from_columns(&x, &t_x, &t)?)?;
    /// assert!(info.log_likelihood.is_finite() && model.r > 0.0);
    /// assert!((model.log_likelihood(&Cells::from_columns(&x, &t_x, &t)?) - info.log_likelihood).abs() < 1e-9);
    /// # Ok::<(), crmkit_clv::ClvError>(())
    /// ```
    pub fn fit(cells: &Cells) -> Result<(BgNbd, FitInfo)> {
        let (p, info) = fit_cells(cells, Variant::Bg)?;
        Ok((BgNbd { r: p[0], alpha: p[1], a: p[2], b: p[3] }, info))
    }

    /// The total (weighted) log-likelihood of `cells` under this model (FHL 2005, eq. 6).
    ///
    /// # Examples
    ///
    /// ```
    /// use crmkit_clv::{bgnbd::BgNbd, Cells};
    /// let m = BgNbd::new(0.243, 4.414, 0.793, 2.426)?;
    /// let one = m.log_likelihood(&Cells::from_columns(&[2.0], &[30.43], &[38.86])?);
    /// let two = m.log_likelihood(&Cells::from_weighted_columns(&[2.0], &[30.43], &[38.86], &[2.0])?);
    /// assert!(one < 0.0 && (two - 2.0 * one).abs() < 1e-12);
    /// # Ok::<(), crmkit_clv::ClvError>(())
    /// ```
    pub fn log_likelihood(&self, cells: &Cells) -> f64 {
        Likelihood::new(cells, Variant::Bg).log_likelihood(&[self.r, self.alpha, self.a, self.b])
    }

    /// E[X(t)]: the expected number of repeat purchases in `(0, t]` of a customer who made
    /// their first purchase at time 0 (FHL 2005, eq. 9). NaN if `t` is negative or not finite.
    ///
    /// # Examples
    ///
    /// ```
    /// use crmkit_clv::bgnbd::BgNbd;
    /// let m = BgNbd::new(0.243, 4.414, 0.793, 2.426)?;
    /// assert_eq!(m.expected_purchases(0.0), 0.0);
    /// assert!(m.expected_purchases(39.0) > m.expected_purchases(10.0));
    /// # Ok::<(), crmkit_clv::ClvError>(())
    /// ```
    pub fn expected_purchases(&self, t: f64) -> f64 {
        if !(t.is_finite() && t >= 0.0) {
            return f64::NAN;
        }
        expectation(Kind::Purchases, self.r, self.alpha, self.a, self.b, t)
    }

    /// P(X(t) = n): the probability that a new customer makes exactly `n` repeat purchases in
    /// `(0, t]` (FHL 2005, eq. 8). NaN if `t` is negative or not finite.
    ///
    /// # Examples
    ///
    /// ```
    /// use crmkit_clv::bgnbd::BgNbd;
    /// let m = BgNbd::new(0.243, 4.414, 0.793, 2.426)?;
    /// let total: f64 = (0..2000).map(|n| m.probability_of_purchases(39.0, n)).sum();
    /// assert!((total - 1.0).abs() < 1e-9);
    /// # Ok::<(), crmkit_clv::ClvError>(())
    /// ```
    pub fn probability_of_purchases(&self, t: f64, n: u32) -> f64 {
        purchases_pmf(Variant::Bg, [self.r, self.alpha, self.a, self.b], t, n)
    }

    /// E[Y(t) | x, t_x, T]: the expected number of purchases in `(T, T+t]` of each customer with
    /// `x` repeat purchases, the last at `t_x`, observed for `T` (FHL 2005, eq. 10).
    ///
    /// Errors ([`crate::ClvError::InvalidInput`] naming the column and row, or
    /// [`crate::ClvError::LengthMismatch`]) unless `t ≥ 0`, the columns have one length, and each row has
    /// finite values with `x` a whole number `≥ 0`, `0 ≤ t_x ≤ T`, and `t_x = 0` when `x = 0`.
    ///
    /// # Examples
    ///
    /// ```
    /// use crmkit_clv::bgnbd::BgNbd;
    /// let m = BgNbd::new(0.243, 4.414, 0.793, 2.426)?;
    /// let e = m.conditional_expected_purchases(39.0, &[0.0, 2.0, 2.0], &[0.0, 30.43, 5.0], &[38.86; 3])?;
    /// assert!(e[1] > e[2] && e[2] > 0.0);
    /// assert!(m.conditional_expected_purchases(-1.0, &[0.0], &[0.0], &[1.0]).is_err());
    /// # Ok::<(), crmkit_clv::ClvError>(())
    /// ```
    pub fn conditional_expected_purchases(
        &self,
        t: f64,
        x: &[f64],
        t_x: &[f64],
        big_t: &[f64],
    ) -> Result<Vec<f64>> {
        conditional(Variant::Bg, self.params(), Some((Kind::Purchases, t)), x, t_x, big_t)
    }

    /// [`BgNbd::conditional_expected_purchases`] for several horizons at once (`result[k][i]`
    /// for `ts[k]`), computing each customer's P(alive) and grouping once.
    ///
    /// # Examples
    ///
    /// ```
    /// let m = crmkit_clv::bgnbd::BgNbd::new(0.243, 4.414, 0.793, 2.426)?;
    /// let e = m.conditional_expected_purchases_at(&[13.0, 39.0], &[2.0, 0.0], &[30.43, 0.0], &[38.86, 20.0])?;
    /// assert_eq!(e[1], m.conditional_expected_purchases(39.0, &[2.0, 0.0], &[30.43, 0.0], &[38.86, 20.0])?);
    /// # Ok::<(), crmkit_clv::ClvError>(())
    /// ```
    pub fn conditional_expected_purchases_at(
        &self,
        ts: &[f64],
        x: &[f64],
        t_x: &[f64],
        big_t: &[f64],
    ) -> Result<Vec<Vec<f64>>> {
        conditional_multi(Variant::Bg, self.params(), ts, x, t_x, big_t)
    }

    /// `Σ_k w_k (E[Y(u_k)] − E[Y(l_k)])` per customer for `steps` of `(u, l, w)` (see
    /// `clv::RepeatPurchaseModel::discounted_purchases`), one pass over the customers.
    ///
    /// # Examples
    ///
    /// ```
    /// let m = crmkit_clv::bgnbd::BgNbd::new(0.243, 4.414, 0.793, 2.426)?;
    /// let d = m.discounted_purchases(&[(39.0, 0.0, 1.0)], &[2.0], &[30.43], &[38.86])?;
    /// assert!((d[0] - 1.226).abs() < 1e-3);
    /// # Ok::<(), crmkit_clv::ClvError>(())
    /// ```
    pub fn discounted_purchases(
        &self,
        steps: &[(f64, f64, f64)],
        x: &[f64],
        t_x: &[f64],
        big_t: &[f64],
    ) -> Result<Vec<f64>> {
        conditional_discounted(Variant::Bg, self.params(), steps, x, t_x, big_t)
    }

    /// P(alive at T | x, t_x, T) for each customer (FHL 2005, eq. 11); 1 when `x = 0`.
    ///
    /// Validates the columns like [`BgNbd::conditional_expected_purchases`].
    ///
    /// # Examples
    ///
    /// ```
    /// use crmkit_clv::bgnbd::BgNbd;
    /// let m = BgNbd::new(0.243, 4.414, 0.793, 2.426)?;
    /// let p = m.probability_alive(&[0.0, 2.0, 2.0], &[0.0, 38.0, 5.0], &[39.0; 3])?;
    /// assert_eq!(p[0], 1.0);
    /// assert!(p[1] > p[2]);
    /// # Ok::<(), crmkit_clv::ClvError>(())
    /// ```
    pub fn probability_alive(&self, x: &[f64], t_x: &[f64], big_t: &[f64]) -> Result<Vec<f64>> {
        conditional(Variant::Bg, self.params(), None, x, t_x, big_t)
    }

    /// P(alive at T + t | x, t_x, T): the probability that each customer is still alive `t` time
    /// units after the end of observation.
    ///
    /// Derivation: dropout happens right after a purchase with probability `p`, purchases are
    /// Poisson(`λ`), so a live customer dies at rate `λp` and survives `t` more with probability
    /// `e^(−λpt)`. Given the data and being alive at `T`, `λ ~ Gamma(r+x, α+T)` and
    /// `p ~ Beta(a, b+x)` independently (the likelihood of "alive at T" is
    /// `λ^x e^(−λT) (1−p)^x`), so the answer is
    /// `P(alive at T) · E_p[((α+T)/(α+T+p t))^(r+x)]` (a ₂F₁(r+x, a; a+b+x; −t/(α+T))), computed
    /// as the negative-binomial series `Σ_k P(K=k) (b+x)_k/(a+b+x)_k` (see the module docs). At
    /// `t = 0` it equals [`BgNbd::probability_alive`]; it decreases in `t`.
    ///
    /// # Examples
    ///
    /// ```
    /// use crmkit_clv::bgnbd::BgNbd;
    /// let m = BgNbd::new(0.243, 4.414, 0.793, 2.426)?;
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
        conditional(Variant::Bg, self.params(), Some((Kind::Survival, t)), x, t_x, big_t)
    }

    fn params(&self) -> [f64; 4] {
        [self.r, self.alpha, self.a, self.b]
    }
}
