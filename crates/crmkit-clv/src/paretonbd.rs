//! # Pareto/NBD
//!
//! The Pareto/NBD model of Schmittlein, Morrison & Colombo (1987), "Counting Your Customers: Who
//! Are They and What Will They Do Next?", *Management Science* 33(1), 1–24. The likelihood and the
//! predictions are the ones derived in Fader & Hardie (2005), "A Note on Deriving the Pareto/NBD
//! Model and Related Expressions" (<http://brucehardie.com/notes/009/>; "FH 2005" below), which is
//! also what the Python package lifetimes 0.11.3 (`ParetoNBDFitter`) computes. The CDNOW estimates
//! it reproduces are those of Fader, Hardie & Lee (2005), "Counting Your Customers the Easy Way",
//! *Marketing Science* 24(2), 275–284.
//!
//! ## Model
//!
//! While alive, a customer buys as a Poisson process with rate λ. The customer's unobserved
//! lifetime is exponential with rate μ. Across customers, λ ~ Gamma(r, α) and μ ~ Gamma(s, β),
//! independently (shape, rate). A customer is summarised by `x` (repeat purchases), `t_x` (time of
//! the last repeat purchase, 0 if none) and `T` (time since the first purchase), all in one unit.
//!
//! ## Likelihood (FH 2005, §3)
//!
//! ```text
//! L(r, α, s, β | x, t_x, T) = Γ(r+x) α^r β^s / Γ(r) · [ 1 / ((α+T)^(r+x) (β+T)^s) + s/(r+s+x) · A₀ ]
//!
//! α ≥ β:  A₀ = ₂F₁(r+s+x, s+1; r+s+x+1; (α−β)/(α+t_x)) / (α+t_x)^(r+s+x)
//!            − ₂F₁(r+s+x, s+1; r+s+x+1; (α−β)/(α+T))   / (α+T)^(r+s+x)
//! α < β:  A₀ = ₂F₁(r+s+x, r+x; r+s+x+1; (β−α)/(β+t_x)) / (β+t_x)^(r+s+x)
//!            − ₂F₁(r+s+x, r+x; r+s+x+1; (β−α)/(β+T))   / (β+T)^(r+s+x)
//! ```
//!
//! The branch keeps the argument `z` of ₂F₁ in `[0, 1)`. Equivalently (this is where the
//! expression comes from), `s/(r+s+x) · A₀ = s · D` with
//! `D = ∫_{t_x}^{T} (α+τ)^−(r+x) (β+τ)^−(s+1) dτ`: the first term is "alive at `T`", the second
//! "died at τ between `t_x` and `T`". [`ParetoNbd::log_likelihood`] is the sum of `ln L` over
//! customers (the TOTAL, which is what lifetimes' `_negative_log_likelihood` returns with weights 1).
//!
//! ## Numerics
//!
//! lifetimes evaluates ₂F₁ and the powers in linear space and overflows for large frequencies.
//! Here everything is in log space, and nothing huge is ever subtracted:
//!
//! * Write `m ≤ M` for the smaller and larger of α and β, `p_m`, `p_M` for their exponents (`s+1`
//!   and `r+x`, or `r+x` and `s+1`), `a = r+s+x` and `I(y) = ∫_y^∞ (m+τ)^−p_m (M+τ)^−p_M dτ`, so
//!   that `D = I(t_x) − I(T)`. With `E(y) = (α+y)^−(r+x) (β+y)^−s`, the code works with the ratio
//!   `R(y) = s I(y) / E(y)`, which lies in `[0, 1]`, and with `Ẽ(y) = α^r β^s E(y)` written as
//!   `−r ln(1 + y/α) − x ln(α+y) − s ln(1 + y/β)`. Per customer,
//!   `ln L = ln Γ(r+x) − ln Γ(r) + ln Ẽ(T) + ln(1 + R(t_x) Ẽ(t_x)/Ẽ(T) − R(T))`, where the last
//!   logarithm's argument is ≥ 1. So `r`, `s`, α, β of 10¹⁰ or frequencies of 10⁴ cost no digits.
//! * Away from `z = 1` (the usual case): by Euler's transformation
//!   `₂F₁(a, p_m; a+1; z) = (1−z)^(1−p_m) ₂F₁(1, p_M; a+1; z)`, and
//!   `ln(I/E) = ln(m+y) − ln(β+y) − ln a + ln ₂F₁(1, p_M; a+1; z)`. That series has positive
//!   terms with ratios `z (p_M+n)/(a+1+n) < z`: no overflow, and a tail bounded by the last term
//!   times `z/(1−z)`.
//! * Near `z = 1` (`σ = −ln z < 1/4` and that series would need more than 300 terms; this is
//!   e.g. the no-dropout boundary β → ∞), a transformation to `σ`: with `u = ln((M+τ)/(M−m))`,
//!   `I(y) = (M−m)^−a ∫_σ^∞ e^(−a u) (1−e^(−u))^−p_m du`, and near `u = 0` the integrand is
//!   `u^−p_m e^(−λu) (sinh(u/2)/(u/2))^−p_m` with `λ = a − p_m/2`; the last factor is a power series
//!   in `u²` (Bernoulli numbers). For `λ ≤ 8`, `e^(−λu)` is expanded too and every power of `u` is
//!   integrated in closed form, the one with exponent `e` near 0 as `expm1(e·L)/e`, so there are no
//!   poles when `p_m` is an integer. For `λ > 8` (e.g. homogeneous dropout, `s, β → ∞`) each term
//!   is an upper incomplete gamma function `Γ(2j+1−p_m, λσ)` of any real order (continued fraction,
//!   or a power series below 2.5). From `u = 1/4` on, the ₂F₁ series above. (For `p_m > 768`, the
//!   part between `u = (48/p_m)^½` and `1/4` is a Gauss–Legendre quadrature of a log-concave
//!   integrand.)
//!
//! Every representation agrees with 50–80-digit references (mpmath) to about 1e-15 relative,
//! including frequencies and ages of 10,000 and parameters from 1e-11 to 7e10.
//!
//! ## Predictions
//!
//! * P(alive at T | x, t_x, T) = `1 / (1 + s D (α+T)^(r+x) (β+T)^s)` (FH 2005, §5;
//!   lifetimes' `conditional_probability_alive`).
//! * E\[X(T, T+t) | x, t_x, T\] = `P(alive) · (r+x)(β+T) / ((α+T)(s−1)) · [1 − ((β+T)/(β+T+t))^(s−1)]`
//!   (FH 2005, §6), with its limit `P(alive) (r+x)(β+T)/(α+T) · ln(1 + t/(β+T))` at `s = 1`.
//! * E\[X(t)\] for a new customer = `r β / (α (s−1)) · [1 − (β/(β+t))^(s−1)]` (FH 2005, §4).
//! * P(X(t) = n) for a new customer: given λ and μ, either the customer is alive at `t`
//!   (probability `e^(−μt)`, then Poisson(λt)) or died at τ < t (then Poisson(λτ)). Integrating
//!   over the Gamma mixtures,
//!   `P(X(t)=n) = NB(n; r, α/(α+t)) (β/(β+t))^s
//!   + Γ(r+n) α^r s β^s / (Γ(r) n!) · ∫_0^t τ^n (α+τ)^−(r+n) (β+τ)^−(s+1) dτ`,
//!   which is the expression of Fader & Hardie (2006), "Deriving an Expression for P(X(t) = x)
//!   Under the Pareto/NBD Model" (<http://brucehardie.com/notes/012/>) before they expand it into
//!   ₂F₁ terms of alternating sign. Here the integral is a Gauss–Legendre quadrature of its
//!   log-concave integrand (in `ln τ`), which avoids that sum's cancellation for large `n`.
//! * P(alive at T+t | x, t_x, T) = `P(alive at T) · ((β+T)/(β+T+t))^s`. Derivation: given that the
//!   customer is alive at `T`, the data say `λ^x e^(−(λ+μ)T)`, so μ's posterior is
//!   Gamma(s, β+T). Lifetimes are memoryless, so P(alive at T+t | alive at T, μ) = `e^(−μt)`, whose
//!   expectation under Gamma(s, β+T) is `((β+T)/(β+T+t))^s`.
//!
//! ## Fitting
//!
//! [`ParetoNbd::fit`] maximises the likelihood over `ln r, ln α, ln s, ln β` with
//! [`crate::optim::minimize`] (BFGS, deterministic). It starts from `r = s = 1` and `α = β` = a
//! quarter of the weighted mean age `T`, which gives the same path in any time unit (lifetimes
//! starts near ones). The objective is 3 × the negative log-likelihood per customer, so the first,
//! unscaled BFGS step has a sensible length whatever the number of customers (the start and the
//! factor took the fewest iterations on CDNOW and simulated data); [`FitInfo::log_likelihood`]
//! and the standard errors are those of the total. The gradient is analytic: the ₂F₁ series is differentiated term by term. Only the near-`z = 1`
//! representations use central differences in the exponents. Cells are grouped by frequency and
//! each distinct `(x, y)` tail is evaluated once. `ln(α+y)` and `ln(β+y)` are computed once per
//! distinct `y`.
//!
//! An optimum at a boundary is a fitted model with the condition in [`FitInfo::boundary`]. This
//! covers the optimiser reaching its bound. It also covers a flat plateau that the optimiser stops
//! on: no dropout (`s → 0`, `β → ∞`), homogeneous dropout (`s, β → ∞` with `s/β` fixed) and
//! homogeneous purchase rates (`r, α → ∞`). Such a plateau is flagged when moving there changes the
//! total log-likelihood by less than 1e-4.
//!
//! # Examples
//!
//! ```
//! use crmkit_clv::{paretonbd::ParetoNbd, Cells};
//! let cells = Cells::from_columns(&[0.0, 2.0, 5.0, 1.0], &[0.0, 20.0, 30.0, 3.0], &[39.0, 39.0, 35.0, 30.0])?;
//! let model = ParetoNbd::new(0.55, 10.58, 0.61, 11.67)?;
//! assert!(model.log_likelihood(&cells).is_finite());
//! let alive = model.probability_alive(&[5.0], &[30.0], &[35.0])?;
//! assert!(alive[0] > 0.9);
//! # Ok::<(), crmkit_clv::ClvError>(())
//! ```

use std::cell::RefCell;

use serde::{Deserialize, Serialize};

use crate::data::Cells;
use crate::error::{ClvError, Result};
use crate::fit::{FitInfo, boundary_note, fit_positive};
use crate::optim::{Objective, numeric_gradient};
use crate::special::{
    GAMMA_X0, digamma_diff, ln_gamma, ln_poch, ln_signed_sum, ln_upper_gamma_large,
    ln_upper_gamma_small, log_add_exp, log_sub_exp, logistic, sign, softplus,
};

/// A fitted (or given) Pareto/NBD model: purchase rates λ ~ Gamma(`r`, `alpha`), dropout rates
/// μ ~ Gamma(`s`, `beta`) (shape, rate), in the time unit of the data it was fitted on.
///
/// # Examples
///
/// ```
/// use crmkit_clv::paretonbd::ParetoNbd;
/// let m = ParetoNbd::new(0.553, 10.578, 0.606, 11.669)?;
/// let json = serde_json::to_string(&m).unwrap();
/// assert_eq!(serde_json::from_str::<ParetoNbd>(&json).unwrap(), m);
/// # Ok::<(), crmkit_clv::ClvError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ParetoNbd {
    /// Shape of the Gamma distribution of purchase rates.
    pub r: f64,
    /// Rate (inverse scale) of the Gamma distribution of purchase rates, in the data's time unit.
    pub alpha: f64,
    /// Shape of the Gamma distribution of dropout rates.
    pub s: f64,
    /// Rate (inverse scale) of the Gamma distribution of dropout rates, in the data's time unit.
    pub beta: f64,
}

impl ParetoNbd {
    /// The parameter names, in the order of [`FitInfo::parameters`] and
    /// [`FitInfo::standard_errors`].
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(crmkit_clv::paretonbd::ParetoNbd::PARAMETERS[3], "beta");
    /// ```
    pub const PARAMETERS: [&'static str; 4] = ["r", "alpha", "s", "beta"];

    /// A model with the given parameters, all finite and > 0.
    ///
    /// # Examples
    ///
    /// ```
    /// use crmkit_clv::paretonbd::ParetoNbd;
    /// assert!(ParetoNbd::new(0.5, 10.0, 0.6, 12.0).is_ok());
    /// let err = ParetoNbd::new(0.5, -1.0, 0.6, 12.0).unwrap_err();
    /// assert!(err.to_string().contains("alpha"));
    /// ```
    pub fn new(r: f64, alpha: f64, s: f64, beta: f64) -> Result<ParetoNbd> {
        for (name, v) in Self::PARAMETERS.iter().zip([r, alpha, s, beta]) {
            if !(v.is_finite() && v > 0.0) {
                return Err(ClvError::InvalidParameter {
                    name: (*name).to_owned(),
                    message: format!("{v} is not a finite number > 0"),
                });
            }
        }
        Ok(ParetoNbd { r, alpha, s, beta })
    }

    /// Fits the model by maximum likelihood on weighted cells (see the module documentation for
    /// the start and the optimiser). An optimum at a boundary (e.g. no dropout) is returned with
    /// [`FitInfo::boundary`] saying what it means.
    ///
    /// Errors if the cells are malformed (columns of different lengths, values out of their
    /// domain), empty, or if the likelihood is not finite at the optimum.
    ///
    /// # Examples
    ///
    /// ```
    /// use crmkit_clv::{paretonbd::ParetoNbd, Cells};
    /// let x = [0.0, 1.0, 3.0, 0.0, 2.0, 7.0, 1.0, 0.0, 4.0, 2.0];
    /// let t_x = [0.0, 10.0, 30.0, 0.0, 5.0, 38.0, 36.0, 0.0, 20.0, 12.0];
    /// let t = [39.0, 39.0, 39.0, 38.0, 38.0, 39.0, 37.0, 36.0, 39.0, 35.0];
    /// let (model, info) = ParetoNbd::fit(&Cells::from_columns(&x, &t_x, &t)?)?;
    /// assert!(info.log_likelihood.is_finite() && model.r > 0.0);
    /// assert_eq!(info.parameters, ParetoNbd::PARAMETERS);
    /// # Ok::<(), crmkit_clv::ClvError>(())
    /// ```
    pub fn fit(cells: &Cells) -> Result<(ParetoNbd, FitInfo)> {
        let prep = Prepared::new(cells)?;
        let objective = NegLogLik { prep: &prep, last: RefCell::new(None) };
        let scale = prep.mean_age / 4.0;
        let start = [1.0, scale, 1.0, scale];
        let (p, info) = fit_positive(
            &Self::PARAMETERS,
            &objective,
            &start,
            prep.customers,
            prep.n_cells,
            &boundary_meaning,
        );
        let ok = p.len() == 4 && p.iter().all(|v| v.is_finite() && *v > 0.0);
        let params =
            [p.first(), p.get(1), p.get(2), p.get(3)].map(|v| v.copied().unwrap_or(f64::NAN));
        let mut info = info;
        // The objective is scaled: back to the total log-likelihood and its Hessian.
        info.log_likelihood = prep.log_likelihood(params, None);
        let se_factor = (OBJECTIVE_SCALE / prep.customers).sqrt();
        for se in info.standard_errors.iter_mut().flatten() {
            *se *= se_factor;
        }
        if !ok || !info.log_likelihood.is_finite() {
            return Err(ClvError::NoData(
                "the Pareto/NBD likelihood is not finite for these data".into(),
            ));
        }
        // The optimiser stops on a flat plateau before it reaches its bound when the supremum is
        // a limit (e.g. no dropout): detect that too.
        let theta = params.map(f64::ln);
        if info.standard_errors.iter().any(Option::is_none) || theta.iter().any(|t| t.abs() > 12.0)
        {
            let found = flat_boundaries(&prep, theta, info.log_likelihood, &info.boundary);
            if !found.is_empty() {
                info.boundary.extend(found);
                info.standard_errors = vec![None; 4];
            }
        }
        let [r, alpha, s, beta] = params;
        Ok((ParetoNbd { r, alpha, s, beta }, info))
    }

    /// The total log-likelihood of the cells (the sum over customers of `ln L`, each cell counted
    /// `weight` times). NaN if the cells are malformed or empty.
    ///
    /// # Examples
    ///
    /// ```
    /// use crmkit_clv::{paretonbd::ParetoNbd, Cells};
    /// let m = ParetoNbd::new(0.553, 10.578, 0.606, 11.669)?;
    /// let one = Cells::from_columns(&[2.0], &[30.43], &[38.86])?;
    /// let two = Cells::from_weighted_columns(&[2.0], &[30.43], &[38.86], &[2.0])?;
    /// assert!((m.log_likelihood(&two) - 2.0 * m.log_likelihood(&one)).abs() < 1e-12);
    /// # Ok::<(), crmkit_clv::ClvError>(())
    /// ```
    pub fn log_likelihood(&self, cells: &Cells) -> f64 {
        match Prepared::new(cells) {
            Ok(prep) => prep.log_likelihood([self.r, self.alpha, self.s, self.beta], None),
            Err(_) => f64::NAN,
        }
    }

    /// Expected number of repeat purchases of a new customer in `(0, t]`:
    /// `r β / (α (s−1)) · [1 − (β/(β+t))^(s−1)]` (FHL 2005, eq. 17), with its limit at `s = 1`.
    /// NaN if `t` is negative or not finite.
    ///
    /// # Examples
    ///
    /// ```
    /// use crmkit_clv::paretonbd::ParetoNbd;
    /// let m = ParetoNbd::new(0.553, 10.578, 0.606, 11.669)?;
    /// assert_eq!(m.expected_purchases(0.0), 0.0);
    /// assert!((m.expected_purchases(39.0) - 1.2134).abs() < 1e-3);
    /// # Ok::<(), crmkit_clv::ClvError>(())
    /// ```
    pub fn expected_purchases(&self, t: f64) -> f64 {
        if !(t.is_finite() && t >= 0.0) {
            return f64::NAN;
        }
        let u = (t / self.beta).ln_1p();
        self.r / self.alpha * self.beta * expm1_ratio(self.s - 1.0, u)
    }

    /// Probability that a new customer makes exactly `n` repeat purchases in `(0, t]` (the
    /// quantity of Fader & Hardie's note "Deriving an Expression for P(X(t) = x) Under the
    /// Pareto/NBD Model"; lifetimes' `probability_of_n_purchases_up_to_time` for the other
    /// models). See the module documentation for the expression. NaN if `t` is negative or not
    /// finite.
    ///
    /// # Examples
    ///
    /// ```
    /// use crmkit_clv::paretonbd::ParetoNbd;
    /// let m = ParetoNbd::new(0.553, 10.578, 0.606, 11.669)?;
    /// let total: f64 = (0..200).map(|n| m.probability_of_purchases(39.0, n)).sum();
    /// assert!((total - 1.0).abs() < 1e-9);
    /// assert_eq!(m.probability_of_purchases(0.0, 0), 1.0);
    /// # Ok::<(), crmkit_clv::ClvError>(())
    /// ```
    pub fn probability_of_purchases(&self, t: f64, n: u32) -> f64 {
        if !(t.is_finite() && t >= 0.0) {
            return f64::NAN;
        }
        if t == 0.0 {
            return if n == 0 { 1.0 } else { 0.0 };
        }
        let ParetoNbd { r, alpha, s, beta } = *self;
        let nf = f64::from(n);
        let (ln_a, ln_b, ln_t) = (alpha.ln(), beta.ln(), t.ln());
        let ln_at = (alpha + t).ln();
        let ln_bt = (beta + t).ln();
        let ln_comb = ln_poch(r, nf) - ln_gamma(nf + 1.0);
        let n_ln_t = if n == 0 { 0.0 } else { nf * (ln_t - ln_at) };
        let ln_alive = ln_comb + r * (ln_a - ln_at) + n_ln_t + s * (ln_b - ln_bt);
        // ∫_0^t τ^n (α+τ)^−(r+n) (β+τ)^−(s+1) dτ over v = ln τ: a concave exponent.
        let psi = |v: f64| {
            let (za, zb) = (v - ln_a, v - ln_b);
            let (ga, gb) = (logistic(za), logistic(zb));
            (
                (nf + 1.0) * v
                    - (r + nf) * (ln_a + softplus(za))
                    - (s + 1.0) * (ln_b + softplus(zb)),
                (nf + 1.0) - (r + nf) * ga - (s + 1.0) * gb,
                -(r + nf) * ga * (1.0 - ga) - (s + 1.0) * gb * (1.0 - gb),
            )
        };
        let ln_w = ln_integral_concave(&psi, f64::NEG_INFINITY, ln_t);
        let ln_dead = ln_comb + r * ln_a + s.ln() + s * ln_b + ln_w;
        (ln_alive.exp() + ln_dead.exp()).clamp(0.0, 1.0)
    }

    /// Expected number of purchases in `(T, T+t]` of customers with frequency `x`, recency `t_x`
    /// and age `T` (FHL 2005, eq. 22; lifetimes' `conditional_expected_number_of_purchases_up_to_time`).
    ///
    /// Errors name the column and row of the first invalid value (columns of one length, finite,
    /// `x` a whole number ≥ 0, `0 ≤ t_x ≤ T`, `t ≥ 0`).
    ///
    /// # Examples
    ///
    /// ```
    /// use crmkit_clv::paretonbd::ParetoNbd;
    /// let m = ParetoNbd::new(0.553, 10.578, 0.606, 11.669)?;
    /// let e = m.conditional_expected_purchases(39.0, &[0.0, 10.0], &[0.0, 38.0], &[39.0, 39.0])?;
    /// assert!(e[0] < 0.2 && e[1] > 6.0);
    /// assert!(m.conditional_expected_purchases(39.0, &[1.0], &[40.0], &[39.0]).is_err());
    /// # Ok::<(), crmkit_clv::ClvError>(())
    /// ```
    pub fn conditional_expected_purchases(
        &self,
        t: f64,
        x: &[f64],
        t_x: &[f64],
        big_t: &[f64],
    ) -> Result<Vec<f64>> {
        validate_t(t)?;
        validate(x, t_x, big_t)?;
        let ParetoNbd { r, alpha, s, beta } = *self;
        Ok(self.per_customer(x, t_x, big_t, |xi, ti, alive| {
            let factor = (r + xi) / (alpha + ti) * (beta + ti);
            let u = (t / (beta + ti)).ln_1p();
            alive * factor * expm1_ratio(s - 1.0, u)
        }))
    }

    /// Probability that customers with frequency `x`, recency `t_x` and age `T` are alive at `T`
    /// (FHL 2005, eq. 18; lifetimes' `conditional_probability_alive`). Always in `[0, 1]`; exactly
    /// 1 when `t_x = T`.
    ///
    /// Errors name the column and row of the first invalid value.
    ///
    /// # Examples
    ///
    /// ```
    /// use crmkit_clv::paretonbd::ParetoNbd;
    /// let m = ParetoNbd::new(0.553, 10.578, 0.606, 11.669)?;
    /// let p = m.probability_alive(&[10.0, 10.0, 10_000.0], &[38.0, 2.0, 5_000.0], &[39.0, 39.0, 10_000.0])?;
    /// assert!(p[0] > 0.95 && p[1] < 0.01 && (0.0..=1.0).contains(&p[2]));
    /// # Ok::<(), crmkit_clv::ClvError>(())
    /// ```
    pub fn probability_alive(&self, x: &[f64], t_x: &[f64], big_t: &[f64]) -> Result<Vec<f64>> {
        validate(x, t_x, big_t)?;
        Ok(self.per_customer(x, t_x, big_t, |_, _, alive| alive))
    }

    /// Probability that customers with frequency `x`, recency `t_x` and age `T` are still alive at
    /// `T + t`: `P(alive at T) · ((β+T)/(β+T+t))^s` (derived in the module documentation: given
    /// alive at `T`, μ ~ Gamma(s, β+T) and lifetimes are memoryless). Equals
    /// [`ParetoNbd::probability_alive`] at `t = 0`.
    ///
    /// Errors name the column and row of the first invalid value.
    ///
    /// # Examples
    ///
    /// ```
    /// use crmkit_clv::paretonbd::ParetoNbd;
    /// let m = ParetoNbd::new(0.553, 10.578, 0.606, 11.669)?;
    /// let now = m.probability_alive(&[3.0], &[20.0], &[30.0])?;
    /// let later = m.probability_alive_after(52.0, &[3.0], &[20.0], &[30.0])?;
    /// assert!(later[0] < now[0]);
    /// assert_eq!(m.probability_alive_after(0.0, &[3.0], &[20.0], &[30.0])?, now);
    /// # Ok::<(), crmkit_clv::ClvError>(())
    /// ```
    pub fn probability_alive_after(
        &self,
        t: f64,
        x: &[f64],
        t_x: &[f64],
        big_t: &[f64],
    ) -> Result<Vec<f64>> {
        validate_t(t)?;
        validate(x, t_x, big_t)?;
        let (s, beta) = (self.s, self.beta);
        Ok(self.per_customer(x, t_x, big_t, |_, ti, alive| {
            if t == 0.0 { alive } else { alive * (-s * (t / (beta + ti)).ln_1p()).exp() }
        }))
    }

    /// P(alive at T) per customer, passed to `f(x, T, p_alive)`; one tail object per run of equal
    /// frequencies.
    fn per_customer(
        &self,
        x: &[f64],
        t_x: &[f64],
        big_t: &[f64],
        f: impl Fn(f64, f64, f64) -> f64,
    ) -> Vec<f64> {
        let ParetoNbd { r, alpha, s, beta } = *self;
        let mut tail: Option<Tail> = None;
        let mut out = Vec::with_capacity(x.len());
        for i in 0..x.len() {
            let (xi, txi, ti) = (x[i], t_x[i], big_t[i]);
            if tail.as_ref().is_some_and(|tl| tl.x != xi) {
                tail = None;
            }
            let tl = tail.get_or_insert_with(|| Tail::new(r, alpha, s, beta, xi));
            // P(alive) = E / (E + s (I(t_x) − I(T))) = 1 / q.
            let alive = if txi >= ti {
                1.0
            } else {
                let ln_r_t = tl.ln_r(ti);
                let ln_r_tx = tl.ln_r(txi);
                // ln E(t_x) − ln E(T), without cancellation for large r or s.
                let gap = ti - txi;
                let ln_e_ratio =
                    (r + xi) * (gap / (alpha + txi)).ln_1p() + s * (gap / (beta + txi)).ln_1p();
                let k = ln_r_tx + ln_e_ratio;
                let r_t = ln_r_t.exp();
                if k < 700.0 { 1.0 / (1.0 + (k.exp() - r_t)).max(1.0) } else { 0.0 }
            };
            out.push(f(xi, ti, alive.clamp(0.0, 1.0)).max(0.0));
        }
        out
    }
}

/// What a parameter at 0 or infinity means, for [`FitInfo::boundary`].
fn boundary_meaning(index: usize, to_infinity: bool) -> String {
    match (index, to_infinity) {
        (0, false) => "purchase rates are extremely heterogeneous: most customers almost never buy",
        (0, true) => "purchase rates are homogeneous (Poisson purchases at one rate r/α)",
        (1, false) => "purchase rates are very high for the time unit",
        (1, true) => "purchase rates tend to 0 (mean r/α → 0)",
        (2, false) => "no dropout: almost every customer stays alive (the model tends to the NBD)",
        (2, true) => "dropout rates are homogeneous (exponential lifetimes at one rate s/β)",
        (3, false) => "customers drop out almost at once (mean dropout rate s/β → ∞)",
        (3, true) => {
            "no dropout: the mean dropout rate s/β tends to 0 (the model tends to the NBD)"
        }
        _ => "",
    }
    .to_owned()
}

/// Log-parameter bound of the optimiser (`crate::optim::Options::default().bound`).
const LOG_BOUND: f64 = 25.0;
/// A boundary is flagged if moving there lowers the total log-likelihood by less than this.
const FLAT_TOLERANCE: f64 = 1e-4;

/// Parameters whose supremum is a limit the optimiser stopped short of: moving the parameter
/// (for `r → ∞` and `s → ∞`, with α resp. β, keeping the mean rate) to the optimiser's bound
/// changes the total log-likelihood by less than `FLAT_TOLERANCE`. Directions are tried in an
/// order where the first found makes the later ones meaningless (with `s → 0`, β is not
/// identified).
fn flat_boundaries(prep: &Prepared, theta: [f64; 4], ll: f64, known: &[String]) -> Vec<String> {
    let flat = |t: [f64; 4]| {
        let v = prep.log_likelihood(t.map(f64::exp), None);
        v.is_finite() && v >= ll - FLAT_TOLERANCE
    };
    let mut found = Vec::new();
    // (rate-pair: (shape index, rate index)), probed as: shape → 0, rate → ∞, both → ∞, rate → 0.
    for (shape, rate) in [(2, 3), (0, 1)] {
        let mentioned = |i: usize| {
            let prefix = format!("{} →", ParetoNbd::PARAMETERS[i]);
            known.iter().any(|b| b.starts_with(&prefix))
        };
        if mentioned(shape) || mentioned(rate) {
            continue;
        }
        let mut to_zero = theta;
        to_zero[shape] = -LOG_BOUND;
        let mut rate_inf = theta;
        rate_inf[rate] = LOG_BOUND;
        let mut ridge = theta;
        let shift = LOG_BOUND - theta[shape].max(theta[rate]);
        ridge[shape] += shift;
        ridge[rate] += shift;
        let mut rate_zero = theta;
        rate_zero[rate] = -LOG_BOUND;
        let probes = [
            (shape, false, to_zero),
            (rate, true, rate_inf),
            (shape, true, ridge),
            (rate, false, rate_zero),
        ];
        let mut any = false;
        for (i, to_infinity, t) in probes {
            if (any && !(i == rate && to_infinity)) || !flat(t) {
                continue;
            }
            any = true;
            found.push(boundary_note(
                ParetoNbd::PARAMETERS[i],
                to_infinity,
                &boundary_meaning(i, to_infinity),
            ));
        }
    }
    found
}

// ------------------------------------------------------------------------------------------------
// Input validation

// Every model checks its prediction columns with the same rule.
use crate::data::check_prediction_columns as validate;

/// Checks a prediction horizon `t`: finite and ≥ 0.
fn validate_t(t: f64) -> Result<()> {
    if t.is_finite() && t >= 0.0 {
        Ok(())
    } else {
        Err(ClvError::InvalidParameter { name: "t".into(), message: format!("{t} is not ≥ 0") })
    }
}

// ------------------------------------------------------------------------------------------------
// Small numeric helpers

/// `(1 − e^(−εu)) / ε`, continuous at `ε = 0` (value `u`).
fn expm1_ratio(eps: f64, u: f64) -> f64 {
    if eps == 0.0 { u } else { -(-eps * u).exp_m1() / eps }
}

// ------------------------------------------------------------------------------------------------
// Quadrature of log-concave integrands

/// Positive nodes and weights of the 16-point Gauss–Legendre rule on [-1, 1].
const GL16: [(f64, f64); 8] = [
    (0.09501250983763745, 0.18945061045506859),
    (0.2816035507792589, 0.1826034150449236),
    (0.45801677765722737, 0.16915651939500262),
    (0.6178762444026438, 0.14959598881657676),
    (0.755404408355003, 0.12462897125553403),
    (0.8656312023878318, 0.09515851168249259),
    (0.9445750230732326, 0.062253523938647706),
    (0.9894009349916499, 0.027152459411754037),
];

/// `ln ∫_lo^hi e^ψ(v) dv` for a concave `ψ`, given `f(v) = (ψ, ψ', ψ'')`. `lo` may be −∞ if
/// `ψ' > 0` far to the left. Starts at the maximum and walks outwards with panels sized to the
/// local slope and curvature (so `ψ` changes by a few units per 16-point panel) until the
/// integrand is below `e^−46` of its maximum.
fn ln_integral_concave(f: &dyn Fn(f64) -> (f64, f64, f64), lo: f64, hi: f64) -> f64 {
    if hi.is_nan() || lo.is_nan() || hi <= lo {
        return f64::NEG_INFINITY;
    }
    let v_star = argmax_concave(f, lo, hi);
    let psi_star = f(v_star).0;
    if !psi_star.is_finite() {
        return psi_star;
    }
    let right = march(f, v_star, hi, true, psi_star);
    let left = march(f, v_star, lo, false, psi_star);
    psi_star + (left + right).ln()
}

/// The maximiser of a concave function on `[lo, hi]` (safeguarded Newton on ψ').
fn argmax_concave(f: &dyn Fn(f64) -> (f64, f64, f64), lo: f64, hi: f64) -> f64 {
    if f(hi).1 >= 0.0 {
        return hi;
    }
    let mut a = if lo.is_finite() {
        if f(lo).1 <= 0.0 {
            return lo;
        }
        lo
    } else {
        let mut step = 1.0;
        let mut a = hi - step;
        while f(a).1 <= 0.0 && step < 1e8 {
            step *= 2.0;
            a = hi - step;
        }
        a
    };
    let mut b = hi;
    let mut v = 0.5 * (a + b);
    for _ in 0..200 {
        let (_, d, dd) = f(v);
        if d > 0.0 {
            a = v;
        } else {
            b = v;
        }
        let newton = if dd < 0.0 { v - d / dd } else { f64::NAN };
        let next = if newton > a && newton < b { newton } else { 0.5 * (a + b) };
        if (next - v).abs() <= 1e-9 * (1.0 + v.abs()) || b - a <= 1e-12 * (1.0 + v.abs()) {
            return next;
        }
        v = next;
    }
    v
}

/// `Σ ∫ e^(ψ − ψ*)` over panels from `start` towards `end`.
fn march(
    f: &dyn Fn(f64) -> (f64, f64, f64),
    start: f64,
    end: f64,
    right: bool,
    psi_star: f64,
) -> f64 {
    let mut v = start;
    let mut acc = 0.0;
    for _ in 0..100_000 {
        let remaining = if right { end - v } else { v - end };
        if remaining.is_nan() || remaining <= 0.0 {
            break;
        }
        let (p, d, dd) = f(v);
        let drop = p - psi_star;
        if drop.is_nan() || drop <= -46.0 {
            break;
        }
        let scale = d.abs().max(dd.abs().sqrt());
        let h = if scale > 0.0 { (3.0 / scale).min(1.0) } else { 1.0 }.min(remaining);
        let (a, b) = if right { (v, v + h) } else { (v - h, v) };
        let (mid, half) = (0.5 * (a + b), 0.5 * (b - a));
        let mut sum = 0.0;
        for (node, weight) in GL16 {
            sum += weight
                * ((f(mid - half * node).0 - psi_star).exp()
                    + (f(mid + half * node).0 - psi_star).exp());
        }
        acc += half * sum;
        v = if right { b } else { a };
    }
    acc
}

// ------------------------------------------------------------------------------------------------
// The tail integral I(y) = ∫_y^∞ (m+τ)^−p_m (M+τ)^−p_M dτ, as R(y) = s I(y) / E(y)

/// A series stops when its remaining tail is below this, relative to its sum.
const TAIL_EPS: f64 = 1e-17;
/// Below `σ = −ln z = SIGMA_C` the ₂F₁ series may converge slowly.
const SIGMA_C: f64 = 0.25;
/// `e^SIGMA_C − 1`: `σ < SIGMA_C` is `ρ = (m+y)/(M−m) < RHO_C`.
const RHO_C: f64 = 0.284_025_416_687_741_5;
/// The ₂F₁ series is used near `z = 1` if this many terms reach `TAIL_EPS`.
const A_FAST_TERMS: f64 = 300.0;
/// Hard cap on ₂F₁ terms (never reached where the series is chosen).
const A_MAX_TERMS: usize = 1000;
/// Hard cap on terms of the small-σ series.
const B_MAX_TERMS: usize = 120;
/// Above this λ the small-σ part uses incomplete gamma functions instead of a power series.
const LAMBDA_GAMMA: f64 = 8.0;
/// Coefficients of `ln(sinh(u/2)/(u/2)) = Σ_n LN_SINHC[n−1] u^(2n)`: `B_2n / (2n (2n)!)`.
const LN_SINHC: [f64; 7] = [
    1.0 / 24.0,
    -1.0 / 2880.0,
    1.0 / 181_440.0,
    -1.0 / 9_676_800.0,
    1.0 / 479_001_600.0,
    -691.0 / 15_692_092_416_000.0,
    1.0 / 1_046_139_494_400.0,
];

/// Which of α, β is the larger constant `M`.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Branch {
    /// α ≥ β: `M = α` with exponent `r+x`, `m = β` with exponent `s+1`.
    AlphaLarger,
    /// α < β: `M = β` with exponent `s+1`, `m = α` with exponent `r+x`.
    BetaLarger,
}

/// `α+y`, `β+y`, their logarithms and inverses, `ln(1+y/α)`, `ln(1+y/β)`: shared by all
/// frequencies.
#[derive(Debug, Clone, Copy)]
struct AtY {
    y: f64,
    ln_ay: f64,
    ln_by: f64,
    inv_ay: f64,
    inv_by: f64,
    l_a: f64,
    l_b: f64,
}

impl AtY {
    fn new(alpha: f64, beta: f64, y: f64) -> AtY {
        let (ay, by) = (alpha + y, beta + y);
        AtY {
            y,
            ln_ay: ay.ln(),
            ln_by: by.ln(),
            inv_ay: 1.0 / ay,
            inv_by: 1.0 / by,
            l_a: (y / alpha).ln_1p(),
            l_b: (y / beta).ln_1p(),
        }
    }

    /// `ln Ẽ(y) = ln(α^r β^s (α+y)^−(r+x) (β+y)^−s)`, without cancellation for large r or s.
    fn ln_e(&self, r: f64, s: f64, x: f64) -> f64 {
        let xa = if x == 0.0 { 0.0 } else { x * self.ln_ay };
        -r * self.l_a - xa - s * self.l_b
    }

    /// The gradient of [`AtY::ln_e`] in (r, α, s, β).
    fn grad_ln_e(&self, p: [f64; 4], x: f64) -> [f64; 4] {
        let [r, alpha, s, beta] = p;
        [
            -self.l_a,
            (r * self.y / alpha - x) * self.inv_ay,
            -self.l_b,
            s * self.y / beta * self.inv_by,
        ]
    }
}

/// ln R(y) with `R(y) = s I(y) / E(y) ∈ [0, 1]`, and its gradient in (r, α, s, β).
#[derive(Debug, Clone, Copy, Default)]
struct TailValue {
    ln_r: f64,
    grad: [f64; 4],
}

/// The small-σ part of `J(σ) = (M−m)^a I(y) = ∫_σ^∞ e^(−a u) (1 − e^(−u))^(−p_m) du`.
#[derive(Debug, Clone)]
enum Small {
    /// λ ≤ `LAMBDA_GAMMA`: `∫_σ^σs u^−p_m Σ_k b_k u^k du` in closed form.
    Series(SmallSeries),
    /// λ > `LAMBDA_GAMMA`: `Σ_j d_j λ^−ν_j (Γ(ν_j, λσ) − Γ(ν_j, λσ_t))`, `ν_j = 2j + 1 − p_m`.
    Gamma(SmallGamma),
}

#[derive(Debug, Clone)]
struct SmallSeries {
    sigma_s: f64,
    ln_sigma_s: f64,
    /// Coefficients of the polynomial in σ: `−b_k / e_k`, 0 at the special `k`.
    lo: Vec<f64>,
    /// `(b_k, e_k)` for the `k` with `|e_k| < 1/2`.
    special: Option<(f64, f64)>,
    /// `σ_s^(1−p_m) Σ_{k≠k*} b_k σ_s^k / e_k` as (ln |·|, sign).
    hi: (f64, f64),
    /// ln J(σ_s).
    ln_rest: f64,
}

#[derive(Debug, Clone)]
struct SmallGamma {
    lambda: f64,
    ln_lambda: f64,
    sigma_t: f64,
    /// `(d_j, ν_j, ln Γ(ν_j, λ σ_t), ln Γ(ν_j, GAMMA_X0))`.
    terms: Vec<(f64, f64, f64, f64)>,
    /// ln J(σ_t).
    ln_rest: f64,
}

/// `I(y)` for one frequency and one parameter set, with cached series coefficients.
#[derive(Debug, Clone)]
struct Tail {
    x: f64,
    branch: Branch,
    /// ln s and 1/s (s: the Gamma shape of dropout rates).
    ln_s: f64,
    inv_s: f64,
    /// Exponent of the smaller constant.
    pm: f64,
    /// Exponent of the larger constant.
    pb: f64,
    /// The smaller constant.
    m: f64,
    /// The larger constant.
    b: f64,
    a: f64,
    ln_a: f64,
    diff: f64,
    /// `c_n = (p_M)_n / (a+1)_n`.
    coef: Vec<f64>,
    /// `∂ ln c_n / ∂p_M`.
    coef_db: Vec<f64>,
    /// `∂ ln c_n / ∂p_m`.
    coef_dm: Vec<f64>,
    ln_c_fast: Option<f64>,
    /// ln J(σ_c) and ln(e^σ_c − 1), built with the small-σ part.
    ln_j_c: f64,
    omega_c: f64,
    small: Option<Small>,
    /// Tails with `p_m ± h`, `p_M ± h` for central differences of the small-σ part.
    shifted: Option<Box<[Tail; 4]>>,
}

impl Tail {
    fn new(r: f64, alpha: f64, s: f64, beta: f64, x: f64) -> Tail {
        if alpha >= beta {
            Tail::with(x, Branch::AlphaLarger, s.ln(), s + 1.0, r + x, beta, alpha)
        } else {
            Tail::with(x, Branch::BetaLarger, s.ln(), r + x, s + 1.0, alpha, beta)
        }
    }

    fn with(x: f64, branch: Branch, ln_s: f64, pm: f64, pb: f64, m: f64, b: f64) -> Tail {
        let a = pm + pb - 1.0;
        Tail {
            x,
            branch,
            ln_s,
            inv_s: (-ln_s).exp(),
            pm,
            pb,
            m,
            b,
            a,
            ln_a: a.ln(),
            diff: b - m,
            coef: vec![1.0],
            coef_db: vec![0.0],
            coef_dm: vec![0.0],
            ln_c_fast: None,
            ln_j_c: f64::NAN,
            omega_c: f64::NAN,
            small: None,
            shifted: None,
        }
    }

    fn alpha(&self) -> f64 {
        if self.branch == Branch::AlphaLarger { self.b } else { self.m }
    }

    fn beta(&self) -> f64 {
        if self.branch == Branch::AlphaLarger { self.m } else { self.b }
    }

    /// ln R(y) (value only).
    fn ln_r(&mut self, y: f64) -> f64 {
        self.eval_at(&AtY::new(self.alpha(), self.beta(), y), false).ln_r
    }

    /// ln R(y) and (if `grad`) its gradient in (r, α, s, β), given the shared per-y values.
    fn eval_at(&mut self, at: &AtY, grad: bool) -> TailValue {
        let alpha_larger = self.branch == Branch::AlphaLarger;
        let (lmp, inv_mp, inv_bp) = if alpha_larger {
            (at.ln_by, at.inv_by, at.inv_ay)
        } else {
            (at.ln_ay, at.inv_ay, at.inv_by)
        };
        let mp = self.m + at.y;
        // Gradient of the core term in (p_m, p_M, m, M).
        let mut g = [0.0; 4];
        let mut ln_r;
        let rho = mp / self.diff;
        let use_small = self.diff > 0.0 && rho < RHO_C && !self.series_is_fast(rho);
        if use_small {
            // ln(I/E) = ln K(σ) + ln((M+y)/(β+y)), K = J e^(aσ) (1 − e^(−σ))^p_m.
            let ln_k = self.ln_k_small(rho);
            ln_r = ln_k;
            if alpha_larger {
                ln_r += at.ln_ay - at.ln_by;
            }
            if grad {
                g = self.grad_k_small(rho, ln_k, inv_bp);
            }
        } else {
            // ln(I/E) = ln(m+y) − ln(β+y) − ln a + ln ₂F₁(1, p_M; a+1; z).
            let z = if self.diff > 0.0 { self.diff * inv_bp } else { 0.0 };
            let sum = self.series(z, grad);
            ln_r = lmp - at.ln_by - self.ln_a + sum[0].ln();
            if grad {
                let inv_a = 1.0 / self.a;
                let inv_s = 1.0 / sum[0];
                let dz = sum[1] * inv_s;
                g = [
                    -inv_a + sum[3] * inv_s,
                    -inv_a + sum[2] * inv_s,
                    inv_mp - dz * inv_bp,
                    dz * mp * inv_bp * inv_bp,
                ];
            }
        }
        ln_r += self.ln_s;
        let mut grad_r =
            if alpha_larger { [g[1], g[3], g[0], g[2]] } else { [g[0], g[2], g[1], g[3]] };
        if grad {
            grad_r[2] += self.inv_s;
            if !use_small {
                grad_r[3] -= at.inv_by;
            } else if alpha_larger {
                grad_r[1] += at.inv_ay;
                grad_r[3] -= at.inv_by;
            }
        }
        TailValue { ln_r, grad: grad_r }
    }

    /// Whether `₂F₁(1, p_M; a+1; z)` reaches `TAIL_EPS` within `A_FAST_TERMS` terms.
    fn series_is_fast(&mut self, rho: f64) -> bool {
        // Tail after N terms ≤ c_N z^N / (1−z), with ln z = −σ and ln(1−z) = ln ρ − σ.
        let sigma = rho.ln_1p();
        let bound = -A_FAST_TERMS * sigma - (rho.ln() - sigma);
        if bound < TAIL_EPS.ln() {
            return true;
        }
        let ln_c = *self.ln_c_fast.get_or_insert_with(|| {
            ln_gamma(self.pb + A_FAST_TERMS)
                - ln_gamma(self.pb)
                - ln_gamma(self.a + 1.0 + A_FAST_TERMS)
                + ln_gamma(self.a + 1.0)
        });
        bound + ln_c < TAIL_EPS.ln()
    }

    /// Extends the coefficients to at least `len` terms.
    fn extend(&mut self, len: usize) {
        while self.coef.len() < len {
            let last = self.coef.len() - 1;
            let k = last as f64;
            let inv_bot = 1.0 / (self.a + 1.0 + k);
            let inv_top = 1.0 / (self.pb + k);
            self.coef.push(self.coef[last] * (self.pb + k) * inv_bot);
            self.coef_db.push(self.coef_db[last] + inv_top - inv_bot);
            self.coef_dm.push(self.coef_dm[last] - inv_bot);
        }
    }

    /// `[F, dF/dz, dF/dp_M, dF/dp_m]` for `F = ₂F₁(1, p_M; a+1; z)` (derivatives only if `grad`).
    fn series(&mut self, z: f64, grad: bool) -> [f64; 4] {
        if grad { self.series_with::<true>(z) } else { self.series_with::<false>(z) }
    }

    fn series_with<const GRAD: bool>(&mut self, z: f64) -> [f64; 4] {
        let one_minus = 1.0 - z;
        let tol = TAIL_EPS * one_minus;
        let tol1 = 1e-16 * one_minus * one_minus;
        let (mut s, mut s1, mut sb, mut sm) = (0.0, 0.0, 0.0, 0.0);
        let (mut zn, mut zn1) = (1.0, 0.0);
        let mut n = 0;
        loop {
            let avail = self.coef.len();
            let (c, cb, cm) = (&self.coef[..avail], &self.coef_db[..avail], &self.coef_dm[..avail]);
            while n < avail {
                let term = c[n] * zn;
                s += term;
                let nf = n as f64;
                let mut done = term * z <= tol * s;
                if GRAD {
                    s1 += nf * c[n] * zn1;
                    sb += term * cb[n];
                    sm += term * cm[n];
                    done = done && n >= 1 && (nf + 1.0) * term <= tol1 * s1;
                }
                if done || (term == 0.0 && n >= 1) {
                    return [s, s1, sb, sm];
                }
                zn1 = zn;
                zn *= z;
                n += 1;
            }
            if avail >= A_MAX_TERMS {
                return [s, s1, sb, sm];
            }
            self.extend((2 * avail).clamp(32, A_MAX_TERMS));
        }
    }

    /// Builds the small-σ representation on first use.
    fn ensure_small(&mut self) {
        if self.small.is_some() {
            return;
        }
        let (pm, pb, a) = (self.pm, self.pb, self.a);
        let lambda = a - 0.5 * pm;
        self.omega_c = SIGMA_C.exp_m1().ln();
        let f_c = self.series((-SIGMA_C).exp(), false)[0];
        self.ln_j_c = (1.0 - pm) * self.omega_c - pb * SIGMA_C - self.ln_a + f_c.ln();
        // Where the expansion of (sinh(u/2)/(u/2))^−p_m converges fast.
        let sigma_t = SIGMA_C.min((48.0 / pm).sqrt());
        let ln_j_t = if sigma_t < SIGMA_C {
            log_add_exp(self.ln_j_c, band(pm, pb, sigma_t.exp_m1().ln(), self.omega_c))
        } else {
            self.ln_j_c
        };
        self.small = Some(if lambda > LAMBDA_GAMMA {
            Small::Gamma(small_gamma(pm, lambda, sigma_t, ln_j_t))
        } else {
            Small::Series(small_series(pm, lambda, sigma_t, ln_j_t))
        });
    }

    /// `ln J(σ)` with `σ = ln(1+ρ) < σ_c`, `ρ = (m+y)/(M−m)`.
    fn ln_j_small(&mut self, rho: f64) -> f64 {
        self.ensure_small();
        let sigma = rho.ln_1p();
        let (pm, pb, ln_j_c, omega_c) = (self.pm, self.pb, self.ln_j_c, self.omega_c);
        match &self.small {
            Some(Small::Series(sm)) if sigma < sm.sigma_s => {
                let ln_sig = sigma.ln();
                let poly = sm.lo.iter().rev().fold(0.0, |acc, c| acc * sigma + c);
                let mut terms = [(0.0, 0.0); 3];
                if poly != 0.0 {
                    terms[0] = ((1.0 - pm) * ln_sig + poly.abs().ln(), sign(poly));
                }
                terms[1] = sm.hi;
                if let Some((bk, e)) = sm.special {
                    let l = sm.ln_sigma_s - ln_sig;
                    let ratio = if e == 0.0 { l } else { (e * l).exp_m1() / e };
                    if bk != 0.0 {
                        terms[2] = (bk.abs().ln() + e * ln_sig + ratio.ln(), sign(bk));
                    }
                }
                log_add_exp(ln_signed_sum(&terms), sm.ln_rest)
            }
            Some(Small::Gamma(sg)) if sigma < sg.sigma_t => {
                let x = sg.lambda * sigma;
                let mut terms: Vec<(f64, f64)> = Vec::with_capacity(sg.terms.len() + 1);
                let mut max_ln = f64::NEG_INFINITY;
                let mut small_run = 0;
                for &(d, nu, ln_g_t, ln_g_x0) in &sg.terms {
                    let ln_g_x = if x >= GAMMA_X0 {
                        ln_upper_gamma_large(nu, x)
                    } else {
                        ln_upper_gamma_small(nu, x, ln_g_x0)
                    };
                    let ln_g = log_sub_exp(ln_g_x, ln_g_t) - nu * sg.ln_lambda;
                    let ln_term = d.abs().ln() + ln_g;
                    terms.push((ln_term, sign(d)));
                    if ln_term < max_ln + TAIL_EPS.ln() {
                        small_run += 1;
                        if small_run >= 2 {
                            break;
                        }
                    } else {
                        small_run = 0;
                    }
                    max_ln = max_ln.max(ln_term);
                }
                terms.push((sg.ln_rest, 1.0));
                ln_signed_sum(&terms)
            }
            _ => log_add_exp(band(pm, pb, rho.ln(), omega_c), ln_j_c),
        }
    }

    /// `ln K(σ) = ln J(σ) + aσ + p_m ln(1 − e^(−σ))`.
    fn ln_k_small(&mut self, rho: f64) -> f64 {
        let sigma = rho.ln_1p();
        self.ln_j_small(rho) + self.a * sigma + self.pm * (-(-sigma).exp_m1()).ln()
    }

    /// Gradient of ln K in (p_m, p_M, m, M): exact in m and M, central differences in the
    /// exponents.
    fn grad_k_small(&mut self, rho: f64, ln_k: f64, inv_bp: f64) -> [f64; 4] {
        let (pm, pb, m, b, x, branch) = (self.pm, self.pb, self.m, self.b, self.x, self.branch);
        let (hm, hb) = (1e-5 * pm, 1e-5 * pb);
        let shifted = self.shifted.get_or_insert_with(|| {
            Box::new([
                Tail::with(x, branch, 0.0, pm + hm, pb, m, b),
                Tail::with(x, branch, 0.0, pm - hm, pb, m, b),
                Tail::with(x, branch, 0.0, pm, pb + hb, m, b),
                Tail::with(x, branch, 0.0, pm, pb - hb, m, b),
            ])
        });
        let [up_m, down_m, up_b, down_b] = &mut **shifted;
        let d_pm = (up_m.ln_k_small(rho) - down_m.ln_k_small(rho)) / (2.0 * hm);
        let d_pb = (up_b.ln_k_small(rho) - down_b.ln_k_small(rho)) / (2.0 * hb);
        // ∂ ln K / ∂σ = a + p_m / (e^σ − 1) − 1/K; σ = ln(M+y) − ln(M−m).
        let d_sigma = self.a + pm / rho - (-ln_k).exp();
        let inv_diff = 1.0 / self.diff;
        [d_pm, d_pb, d_sigma * inv_diff, -d_sigma * rho * inv_bp]
    }
}

/// The power-series form of the small-σ part (λ ≤ `LAMBDA_GAMMA`): `u^−p_m` times the series
/// `Σ_k b_k u^k` of `e^(−λu) (sinh(u/2)/(u/2))^−p_m`, integrated term by term from σ to σ_s.
fn small_series(pm: f64, lambda: f64, sigma_s: f64, ln_rest: f64) -> SmallSeries {
    let mut cj = [0.0; 15];
    cj[1] = -lambda;
    for (n, l) in LN_SINHC.iter().enumerate() {
        cj[2 * (n + 1)] = -pm * l;
    }
    let mut b = vec![1.0];
    let mut small_run = 0;
    let mut pow = 1.0;
    for k in 1..B_MAX_TERMS {
        let mut acc = 0.0;
        for (j, c) in cj.iter().enumerate().take(k.min(14) + 1).skip(1) {
            acc += j as f64 * c * b[k - j];
        }
        let bk = acc / k as f64;
        b.push(bk);
        pow *= sigma_s;
        if (bk * pow).abs() < 1e-20 {
            small_run += 1;
            if small_run >= 2 {
                break;
            }
        } else {
            small_run = 0;
        }
    }
    let k_star = {
        let c = (pm - 1.0).round();
        (c >= 0.0 && (c + 1.0 - pm).abs() < 0.5 && (c as usize) < b.len()).then_some(c as usize)
    };
    let mut lo = vec![0.0; b.len()];
    let mut hi = 0.0;
    let mut pow = 1.0;
    for (k, bk) in b.iter().enumerate() {
        if Some(k) != k_star {
            let e = k as f64 + 1.0 - pm;
            lo[k] = -bk / e;
            hi += bk * pow / e;
        }
        pow *= sigma_s;
    }
    let ln_sigma_s = sigma_s.ln();
    SmallSeries {
        sigma_s,
        ln_sigma_s,
        lo,
        special: k_star.map(|k| (b[k], k as f64 + 1.0 - pm)),
        hi: ((1.0 - pm) * ln_sigma_s + hi.abs().ln(), sign(hi)),
        ln_rest,
    }
}

/// The incomplete-gamma form of the small-σ part (λ > `LAMBDA_GAMMA`): `e^(−λu)` is kept and
/// `(sinh(u/2)/(u/2))^−p_m = Σ_j d_j u^(2j)` is expanded.
fn small_gamma(pm: f64, lambda: f64, sigma_t: f64, ln_rest: f64) -> SmallGamma {
    let mut d = vec![1.0];
    let w = sigma_t * sigma_t;
    let mut pow = 1.0;
    let mut small_run = 0;
    for j in 1..40 {
        let mut acc = 0.0;
        for n in 1..=j.min(LN_SINHC.len()) {
            acc += n as f64 * (-pm * LN_SINHC[n - 1]) * d[j - n];
        }
        let dj = acc / j as f64;
        d.push(dj);
        pow *= w;
        if (dj * pow).abs() < 1e-20 {
            small_run += 1;
            if small_run >= 2 {
                break;
            }
        } else {
            small_run = 0;
        }
    }
    let x_t = lambda * sigma_t;
    let terms = d
        .iter()
        .enumerate()
        .map(|(j, &dj)| {
            let nu = 2.0 * j as f64 + 1.0 - pm;
            let at_x0 = ln_upper_gamma_large(nu, GAMMA_X0);
            let at_t = if x_t >= GAMMA_X0 {
                ln_upper_gamma_large(nu, x_t)
            } else {
                ln_upper_gamma_small(nu, x_t, at_x0)
            };
            (dj, nu, at_t, at_x0)
        })
        .collect();
    SmallGamma { lambda, ln_lambda: lambda.ln(), sigma_t, terms, ln_rest }
}

/// `ln ∫_{ω_lo}^{ω_hi} e^((1−p_m)ω) (1+e^ω)^−p_M dω` (the tail integral over ω = ln((m+τ)/(M−m))).
fn band(pm: f64, pb: f64, omega_lo: f64, omega_hi: f64) -> f64 {
    let psi = |w: f64| {
        let g = logistic(w);
        ((1.0 - pm) * w - pb * softplus(w), (1.0 - pm) - pb * g, -pb * g * (1.0 - g))
    };
    ln_integral_concave(&psi, omega_lo, omega_hi)
}

// ------------------------------------------------------------------------------------------------
// The likelihood on cells, grouped by frequency

/// Cells grouped by frequency, each group with its distinct ages and recencies.
#[derive(Debug, Clone)]
struct Prepared {
    groups: Vec<Group>,
    /// Distinct `t_x` and `T` values over all cells, ascending.
    ys: Vec<f64>,
    customers: f64,
    n_cells: usize,
    mean_age: f64,
}

#[derive(Debug, Clone)]
struct Group {
    x: f64,
    /// Indices into `Prepared::ys` of the group's distinct `t_x` and `T` values, ascending.
    ys: Vec<usize>,
    /// (index of t_x in the group's `ys`, index of T in the group's `ys`, weight).
    cells: Vec<(usize, usize, f64)>,
}

/// Per group and distinct `y`: ln Ẽ(y), ln R(y) and R(y), and the gradients of ln Ẽ(y) and of
/// ln(s Ĩ(y)) = ln R(y) + ln Ẽ(y).
#[derive(Debug, Clone, Copy)]
struct YValue {
    ln_e: f64,
    ln_r: f64,
    r: f64,
    de: [f64; 4],
    dsi: [f64; 4],
}

impl Prepared {
    fn new(cells: &Cells) -> Result<Prepared> {
        let n = cells.x.len();
        if cells.t_x.len() != n || cells.t.len() != n || cells.weight.len() != n {
            return Err(ClvError::LengthMismatch {
                message: format!(
                    "frequency {n}, recency {}, T {}, weight {}",
                    cells.t_x.len(),
                    cells.t.len(),
                    cells.weight.len()
                ),
            });
        }
        validate(&cells.x, &cells.t_x, &cells.t)?;
        for (i, w) in cells.weight.iter().enumerate() {
            if !(w.is_finite() && *w >= 0.0) {
                return Err(ClvError::InvalidInput {
                    column: "weight".into(),
                    index: i,
                    message: format!("{w} is not a number ≥ 0"),
                });
            }
        }
        let mut order: Vec<usize> = (0..n).filter(|&i| cells.weight[i] > 0.0).collect();
        if order.is_empty() {
            return Err(ClvError::NoData("no customers".into()));
        }
        // A canonical order, so that the sums (and the fit) do not depend on the row order.
        order.sort_by(|&i, &j| {
            cells.x[i]
                .total_cmp(&cells.x[j])
                .then(cells.t_x[i].total_cmp(&cells.t_x[j]))
                .then(cells.t[i].total_cmp(&cells.t[j]))
                .then(cells.weight[i].total_cmp(&cells.weight[j]))
        });
        // Identical (x, t_x, T) rows merged into one cell.
        let mut merged: Vec<[f64; 4]> = Vec::with_capacity(order.len());
        for &i in &order {
            let row = [cells.x[i], cells.t_x[i], cells.t[i], cells.weight[i]];
            match merged.last_mut() {
                Some(last) if (0..3).all(|k| last[k].total_cmp(&row[k]).is_eq()) => {
                    last[3] += row[3]
                }
                _ => merged.push(row),
            }
        }
        let mut groups: Vec<Group> = Vec::new();
        let (mut customers, mut age) = (0.0, 0.0);
        for (i, &[x, _, t, w]) in merged.iter().enumerate() {
            if groups.last().is_none_or(|g| g.x != x) {
                groups.push(Group { x, ys: Vec::new(), cells: Vec::new() });
            }
            if let Some(g) = groups.last_mut() {
                g.cells.push((i, i, w));
            }
            customers += w;
            age += w * t;
        }
        let mut all: Vec<f64> = merged.iter().flat_map(|c| [c[1], c[2]]).collect();
        all.sort_by(f64::total_cmp);
        all.dedup_by(|a, b| a.total_cmp(b).is_eq());
        let global = |v: f64| all.binary_search_by(|p| p.total_cmp(&v)).unwrap_or(0);
        for g in &mut groups {
            let mut local: Vec<usize> = g
                .cells
                .iter()
                .flat_map(|c| [global(merged[c.0][1]), global(merged[c.0][2])])
                .collect();
            local.sort_unstable();
            local.dedup();
            for c in &mut g.cells {
                let i = c.0;
                let find = |v: f64| local.binary_search(&global(v)).unwrap_or(0);
                *c = (find(merged[i][1]), find(merged[i][2]), c.2);
            }
            g.ys = local;
        }
        let mean_age = age / customers;
        let mean_age = if mean_age.is_finite() && mean_age > 0.0 { mean_age } else { 1.0 };
        Ok(Prepared { groups, ys: all, customers, n_cells: merged.len(), mean_age })
    }

    /// The total log-likelihood at `p = (r, α, s, β)`; with `grad`, also its gradient in
    /// `(ln r, ln α, ln s, ln β)` (added into `grad`).
    ///
    /// Per cell, `L = Γ(r+x)/Γ(r) · Q̃` with `Q̃ = Ẽ(T) + s (Ĩ(t_x) − Ĩ(T))`, where the tilde
    /// means "times α^r β^s": `ln Q̃ = ln Ẽ(T) + ln q`, `q = 1 + s Ĩ(t_x)/Ẽ(T) − R(T)` (≥ 1).
    fn log_likelihood(&self, p: [f64; 4], grad: Option<&mut [f64; 4]>) -> f64 {
        let [r, alpha, s, beta] = p;
        let want = grad.is_some();
        let mut total = 0.0;
        let mut g_sum = [0.0; 4];
        let mut vals: Vec<YValue> = Vec::new();
        let at: Vec<AtY> = self.ys.iter().map(|&y| AtY::new(alpha, beta, y)).collect();
        for group in &self.groups {
            let x = group.x;
            let lg = ln_poch(r, x);
            let dg = if want { digamma_diff(r, x) } else { 0.0 };
            let mut tail = Tail::new(r, alpha, s, beta, x);
            vals.clear();
            vals.extend(group.ys.iter().map(|&gi| {
                let at = &at[gi];
                let tv = tail.eval_at(at, want);
                let (de, mut dsi) =
                    if want { (at.grad_ln_e(p, x), tv.grad) } else { ([0.0; 4], [0.0; 4]) };
                for (d, e) in dsi.iter_mut().zip(de) {
                    *d += e;
                }
                YValue { ln_e: at.ln_e(r, s, x), ln_r: tv.ln_r, r: tv.ln_r.exp(), de, dsi }
            }));
            let (mut group_total, mut group_w) = (0.0, 0.0);
            for &(i1, i2, w) in &group.cells {
                let (v1, v2) = (&vals[i1], &vals[i2]);
                let (ln_q, we, w1, w2) = ln_q_weights(v1, v2, i1 == i2);
                group_total += w * (v2.ln_e + ln_q);
                group_w += w;
                if want {
                    for (k, gs) in g_sum.iter_mut().enumerate() {
                        *gs += w * (we * v2.de[k] + w1 * v1.dsi[k] - w2 * v2.dsi[k]);
                    }
                }
            }
            total += group_total + group_w * lg;
            g_sum[0] += group_w * dg;
        }
        if let Some(g) = grad {
            for (k, (gk, gs)) in g.iter_mut().zip(g_sum).enumerate() {
                *gk += p[k] * gs;
            }
        }
        total
    }
}

/// `ln q` and the shares of `Ẽ(T)`, `s Ĩ(t_x)` and `s Ĩ(T)` in `Q̃` for one customer, given the
/// per-y values at `t_x` (`v1`) and `T` (`v2`).
fn ln_q_weights(v1: &YValue, v2: &YValue, same: bool) -> (f64, f64, f64, f64) {
    if same {
        return (0.0, 1.0, 0.0, 0.0);
    }
    // s Ĩ(t_x) / Ẽ(T) = R(t_x) Ẽ(t_x) / Ẽ(T).
    let k = v1.ln_r + v1.ln_e - v2.ln_e;
    if k < 700.0 {
        let e1 = k.exp();
        let q = (1.0 + (e1 - v2.r)).max(f64::MIN_POSITIVE);
        let inv_q = 1.0 / q;
        (q.ln(), inv_q, e1 * inv_q, v2.r * inv_q)
    } else {
        // s Ĩ(t_x) ≫ Ẽ(T): scale by it instead.
        let e = (-k).exp();
        let q = (e + (1.0 - v2.r * e)).max(f64::MIN_POSITIVE);
        let inv_q = 1.0 / q;
        (k + q.ln(), e * inv_q, inv_q, v2.r * e * inv_q)
    }
}

/// The objective is `OBJECTIVE_SCALE` times the negative log-likelihood per customer: per customer
/// so that BFGS's first, unscaled step has a sensible length whatever the number of customers;
/// the factor 3 took the fewest iterations on CDNOW and on simulated data.
const OBJECTIVE_SCALE: f64 = 3.0;

/// A point, the objective there and its gradient.
type Evaluated = (Vec<f64>, f64, [f64; 4]);

/// The scaled negative log-likelihood over log-parameters (see `OBJECTIVE_SCALE`), remembering the
/// last gradient (the optimiser asks for the gradient at the point whose value it has just
/// accepted).
struct NegLogLik<'a> {
    prep: &'a Prepared,
    last: RefCell<Option<Evaluated>>,
}

impl NegLogLik<'_> {
    fn eval(&self, theta: &[f64]) -> (f64, [f64; 4]) {
        if let Some((at, v, g)) = &*self.last.borrow()
            && at.as_slice() == theta
        {
            return (*v, *g);
        }
        let n = self.prep.customers / OBJECTIVE_SCALE;
        let p = params_of(theta);
        let mut g = [0.0; 4];
        let ll = self.prep.log_likelihood(p, Some(&mut g));
        let value = if ll.is_finite() { -ll / n } else { f64::INFINITY };
        let mut grad = g.map(|v| -v / n);
        if value.is_finite() && !grad.iter().all(|v| v.is_finite()) {
            numeric_gradient(
                |q| -self.prep.log_likelihood(params_of(q), None) / n,
                theta,
                &mut grad,
            );
        }
        *self.last.borrow_mut() = Some((theta.to_vec(), value, grad));
        (value, grad)
    }
}

fn params_of(theta: &[f64]) -> [f64; 4] {
    let mut p = [f64::NAN; 4];
    for (k, t) in theta.iter().take(4).enumerate() {
        p[k] = t.exp();
    }
    p
}

impl Objective for NegLogLik<'_> {
    fn value(&self, x: &[f64]) -> f64 {
        self.eval(x).0
    }

    fn gradient(&self, x: &[f64], g: &mut [f64]) {
        let (_, grad) = self.eval(x);
        for (gi, v) in g.iter_mut().zip(grad) {
            *gi = v;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// ln I(y) by brute-force quadrature in ω (independent of the series).
    fn ln_i_brute(r: f64, alpha: f64, s: f64, beta: f64, x: f64, y: f64) -> f64 {
        let t = Tail::new(r, alpha, s, beta, x);
        if t.diff <= 0.0 {
            return -t.a * (t.m + y).ln() - t.ln_a;
        }
        let lo = ((t.m + y) / t.diff).ln();
        -t.a * t.diff.ln() + band(t.pm, t.pb, lo, 60.0)
    }

    /// ln I(y) from ln R(y) = ln(s I(y) / E(y)).
    fn ln_i(r: f64, alpha: f64, s: f64, beta: f64, x: f64, y: f64) -> f64 {
        let mut tail = Tail::new(r, alpha, s, beta, x);
        tail.ln_r(y) - s.ln() - (r + x) * (alpha + y).ln() - s * (beta + y).ln()
    }

    #[test]
    fn tail_representations_agree_with_quadrature() {
        let cases = [
            (0.55, 10.6, 0.61, 11.7, 0.0, 0.0),
            (0.55, 10.6, 0.61, 11.7, 5.0, 30.0),
            (0.55, 1.0, 0.61, 1e9, 0.0, 0.0),
            (0.55, 1.0, 0.61, 1e9, 3.0, 20.0),
            (2.0, 1.0, 1.0, 1e4, 1.0, 1.0),
            (0.3, 1e3, 5.0, 1.0, 50.0, 2.0),
            (1.0, 1e3, 1.0, 1.0, 10.0, 0.0),
            (0.5, 1.0, 30.0, 1e5, 0.0, 0.0),
            (1.0, 2.0, 1.0, 2.0, 4.0, 3.0),
            (0.5, 1e-3, 1e8, 1e10, 2.0, 1.0),
        ];
        for (r, alpha, s, beta, x, y) in cases {
            let got = ln_i(r, alpha, s, beta, x, y);
            let want = ln_i_brute(r, alpha, s, beta, x, y);
            assert!(
                (got - want).abs() < 1e-10 * (1.0 + want.abs()),
                "{r} {alpha} {s} {beta} {x} {y}: {got} vs {want}"
            );
        }
    }

    #[test]
    fn analytic_gradient_matches_central_differences() {
        let x = [0.0, 0.0, 1.0, 2.0, 5.0, 12.0, 3.0];
        let t_x = [0.0, 0.0, 3.0, 20.0, 30.0, 38.0, 5.0];
        let t = [39.0, 20.0, 39.0, 35.0, 39.0, 39.0, 38.0];
        let cells = Cells::from_columns(&x, &t_x, &t).unwrap();
        let prep = Prepared::new(&cells).unwrap();
        let points: [[f64; 4]; 5] = [
            [0.55, 10.6, 0.61, 11.7],
            [1.0, 1.0, 1.0, 1.0],
            [0.5, 2.0, 0.3, 1e9],
            [2.0, 50.0, 3.0, 0.5],
            [0.2, 3.0, 40.0, 400.0],
        ];
        for p in points {
            let theta: Vec<f64> = p.iter().map(|v| v.ln()).collect();
            let mut g = [0.0; 4];
            prep.log_likelihood(p, Some(&mut g));
            let mut num = [0.0; 4];
            numeric_gradient(|q| prep.log_likelihood(params_of(q), None), &theta, &mut num);
            for k in 0..4 {
                assert!(
                    (g[k] - num[k]).abs() < 1e-5 * (1.0 + num[k].abs()),
                    "{p:?} [{k}]: analytic {} numeric {}",
                    g[k],
                    num[k]
                );
            }
        }
    }
}
