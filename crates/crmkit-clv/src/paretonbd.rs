//! # Pareto/NBD
//!
//! The Pareto/NBD model of Schmittlein, Morrison & Colombo (1987), "Counting Your Customers: Who
//! Are They and What Will They Do Next?", *Management Science* 33(1), 1–24. The likelihood and the
//! predictions are the ones derived in Fader & Hardie (2005), "A Note on Deriving the Pareto/NBD
//! Model and Related Expressions" (<http://brucehardie.com/notes/009/>), which is also what the
//! Python package lifetimes 0.11.3 (`ParetoNBDFitter`) computes.
//!
//! ## Model
//!
//! While alive, a customer buys as a Poisson process with rate λ. The customer's unobserved
//! lifetime is exponential with rate μ. Across customers, λ ~ Gamma(r, α) and μ ~ Gamma(s, β),
//! independently (shape, rate). A customer is summarised by `x` (repeat purchases), `t_x` (time of
//! the last repeat purchase, 0 if none) and `T` (time since the first purchase), all in one unit.
//!
//! ## Likelihood
//!
//! Fader & Hardie (2005), eq. (19)–(20):
//!
//! ```text
//! L(r, α, s, β | x, t_x, T) = Γ(r+x) α^r β^s / Γ(r) · [ 1 / ((α+T)^(r+x) (β+T)^s) + s/(r+s+x) · A₀ ]
//!
//! α ≥ β:  A₀ = ₂F₁(r+s+x, s+1;   r+s+x+1; (α−β)/(α+t_x)) / (α+t_x)^(r+s+x)
//!            − ₂F₁(r+s+x, s+1;   r+s+x+1; (α−β)/(α+T))   / (α+T)^(r+s+x)
//! α < β:  A₀ = ₂F₁(r+s+x, r+x;   r+s+x+1; (β−α)/(β+t_x)) / (β+t_x)^(r+s+x)
//!            − ₂F₁(r+s+x, r+x;   r+s+x+1; (β−α)/(β+T))   / (β+T)^(r+s+x)
//! ```
//!
//! The branch keeps the argument `z` of ₂F₁ in `[0, 1)`. Equivalently (this is where the
//! expression comes from), `s/(r+s+x) · A₀ = s · D` with
//! `D = ∫_{t_x}^{T} (α+τ)^−(r+x) (β+τ)^−(s+1) dτ`: the first term is "alive at `T`", the second
//! "died at τ between `t_x` and `T`". [`ParetoNbd::log_likelihood`] is the sum of `ln L` over
//! customers (the TOTAL, as lifetimes' `_negative_log_likelihood` with weights 1 returns).
//!
//! ## Numerics
//!
//! lifetimes evaluates ₂F₁ in linear space and overflows for large frequencies. Here everything is
//! in log space. Write `m ≤ M` for the smaller and larger of α and β, `p_m`, `p_M` for their
//! exponents (`s+1` and `r+x`, or `r+x` and `s+1`) and `a = r+s+x`. Then
//! `I(y) = ∫_y^∞ (m+τ)^−p_m (M+τ)^−p_M dτ` and `D = I(t_x) − I(T)`, taken with a log-subtract.
//!
//! * Far from `z = 1` (the usual case): Euler's transformation gives
//!   `₂F₁(a, p_m; a+1; z) = (1−z)^(1−p_m) ₂F₁(1, p_M; a+1; z)`. The series on the right has
//!   positive terms with ratios `z (p_M+n)/(a+1+n) < z`, so it never overflows and its tail is
//!   bounded by the last term `· z/(1−z)`. The result is
//!   `ln I(y) = (1−p_m) ln(m+y) − p_M ln(M+y) − ln a + ln ₂F₁(1, p_M; a+1; z)`.
//! * Near `z = 1` (`σ = −ln z < 1/4` and a slowly converging series, e.g. no dropout: β → ∞):
//!   with `u = ln((M+τ)/(M−m))`, `I(y) = (M−m)^−a ∫_σ^∞ e^(−a u) (1−e^(−u))^−p_m du`. Near
//!   `u = 0` the integrand is `u^−p_m e^(−λu) (sinh(u/2)/(u/2))^−p_m` with `λ = a − p_m/2`, and
//!   the last two factors are a power series in `u` (Bernoulli numbers), so the integral is a sum
//!   of powers of `σ`, with the term whose exponent is near 0 taken as `expm1(e·L)/e` (this is the
//!   transformation near `z = 1`; no poles when `p_m` is an integer). What is left (at most `u`
//!   from `2/λ` to `1/4`) is a Gauss–Legendre quadrature of a log-concave integrand.
//!
//! Frequencies and ages of 10,000 give finite likelihoods and predictions.
//!
//! ## Predictions
//!
//! With `E = Γ(r+x) α^r β^s / (Γ(r) (α+T)^(r+x) (β+T)^s)` (so `L = E + Γ(r+x) α^r β^s / Γ(r) · s D`):
//!
//! * P(alive at T | x, t_x, T) = `1 / (1 + s D (α+T)^(r+x) (β+T)^s)` (FHL 2005, eq. 18).
//! * E\[X(T, T+t) | x, t_x, T\] = `P(alive) · (r+x)(β+T) / ((α+T)(s−1)) · [1 − ((β+T)/(β+T+t))^(s−1)]`
//!   (FHL 2005, eq. 22; the limit `(r+x)(β+T)/(α+T) · ln(1 + t/(β+T))` at `s = 1`).
//! * E\[X(t)\] for a new customer = `r β / (α (s−1)) · [1 − (β/(β+t))^(s−1)]` (FHL 2005, eq. 17).
//! * P(X(t) = n) for a new customer: given λ and μ, either the customer is alive at `t`
//!   (probability `e^(−μt)`, then Poisson(λt)) or died at τ < t (then Poisson(λτ)). Integrating over
//!   the Gamma mixtures:
//!   `P(X(t)=n) = NB(n; r, α/(α+t)) (β/(β+t))^s
//!               + Γ(r+n) α^r s β^s / (Γ(r) n!) · ∫_0^t τ^n (α+τ)^−(r+n) (β+τ)^−(s+1) dτ`,
//!   the expression of Fader & Hardie, "Deriving an Expression for P(X(t) = x) Under the
//!   Pareto/NBD Model" (2006), before their expansion into ₂F₁ terms of alternating sign. The
//!   integral is evaluated by quadrature of its log-concave integrand (in `ln τ`), not by that sum,
//!   which cancels catastrophically for large `n`.
//! * P(alive at T+t | x, t_x, T) = `P(alive at T) · ((β+T)/(β+T+t))^s`. Derivation: given that the
//!   customer is alive at `T`, the data say `λ^x e^(−(λ+μ)T)`, so μ's posterior is
//!   Gamma(s, β+T); lifetimes are memoryless, so P(alive at T+t | alive at T, μ) = `e^(−μt)`, whose
//!   expectation under Gamma(s, β+T) is `((β+T)/(β+T+t))^s`.
//!
//! ## Fitting
//!
//! [`ParetoNbd::fit`] maximises the likelihood over `ln r, ln α, ln s, ln β` with
//! [`crate::optim::minimize`] (BFGS, deterministic), from `r = s = 1` and `α = β` = the mean age
//! `T` over customers (scale-free: the same start in any time unit). The gradient is analytic
//! (term-by-term derivatives of the series; central differences of the near-`z = 1` part only).
//! Cells are grouped by frequency so that each `(x, y)` tail integral is evaluated once.
//! An optimum at a boundary (e.g. no dropout, `s → 0` or `β → ∞`) is a fitted model with the
//! condition in [`FitInfo::boundary`].
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
use crate::fit::{FitInfo, fit_positive};
use crate::optim::{Objective, numeric_gradient};
use crate::special::{digamma, ln_gamma};

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
        let scale = prep.mean_age;
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
        let params = [p.first(), p.get(1), p.get(2), p.get(3)].map(|v| v.copied().unwrap_or(f64::NAN));
        let mut info = info;
        // The objective is per customer: back to the total log-likelihood and its Hessian.
        info.log_likelihood = prep.log_likelihood(params, None);
        let root_n = prep.customers.sqrt();
        for se in info.standard_errors.iter_mut().flatten() {
            *se /= root_n;
        }
        if !ok || !info.log_likelihood.is_finite() {
            return Err(ClvError::NoData(
                "the Pareto/NBD likelihood is not finite for these data".into(),
            ));
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
        let ln_comb = ln_gamma(r + nf) - ln_gamma(r) - ln_gamma(nf + 1.0);
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
        let ln_s = s.ln();
        let mut tail: Option<Tail> = None;
        let mut out = Vec::with_capacity(x.len());
        for i in 0..x.len() {
            let (xi, txi, ti) = (x[i], t_x[i], big_t[i]);
            if tail.as_ref().is_some_and(|tl| tl.x != xi) {
                tail = None;
            }
            let tl = tail.get_or_insert_with(|| Tail::new(r, alpha, s, beta, xi));
            let at_t = tl.eval(ti, false);
            let ln_e = -(r + xi) * at_t.ln_ay - s * at_t.ln_by;
            let alive = if txi >= ti {
                1.0
            } else {
                let at_tx = tl.eval(txi, false);
                let ln_d = ln_sub(at_tx.ln_i, at_t.ln_i);
                logistic(ln_e - ln_s - ln_d)
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

// ------------------------------------------------------------------------------------------------
// Input validation

/// Checks the customer columns: same lengths, finite, `x` whole ≥ 0, `0 ≤ t_x ≤ T`.
fn validate(x: &[f64], t_x: &[f64], big_t: &[f64]) -> Result<()> {
    let n = x.len();
    if t_x.len() != n || big_t.len() != n {
        return Err(ClvError::LengthMismatch {
            message: format!("frequency {n}, recency {}, T {}", t_x.len(), big_t.len()),
        });
    }
    let bad = |column: &str, index: usize, message: String| ClvError::InvalidInput {
        column: column.into(),
        index,
        message,
    };
    for i in 0..n {
        let (xi, txi, ti) = (x[i], t_x[i], big_t[i]);
        if !(xi.is_finite() && xi >= 0.0 && xi.fract() == 0.0) {
            return Err(bad("frequency", i, format!("{xi} is not a whole number ≥ 0")));
        }
        if !(ti.is_finite() && ti >= 0.0) {
            return Err(bad("T", i, format!("{ti} is not a finite number ≥ 0")));
        }
        if !(txi.is_finite() && txi >= 0.0 && txi <= ti) {
            return Err(bad("recency", i, format!("{txi} is not within [0, T = {ti}]")));
        }
    }
    Ok(())
}

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

/// `ln(1 + e^v)` without overflow.
fn softplus(v: f64) -> f64 {
    if v > 0.0 { v + (-v).exp().ln_1p() } else { v.exp().ln_1p() }
}

/// `1 / (1 + e^−v)` without overflow.
fn logistic(v: f64) -> f64 {
    if v >= 0.0 {
        1.0 / (1.0 + (-v).exp())
    } else {
        let e = v.exp();
        e / (1.0 + e)
    }
}

/// `ln(e^a − e^b)`, or −∞ when `a ≤ b` (a difference that is 0 up to rounding).
fn ln_sub(a: f64, b: f64) -> f64 {
    if b == f64::NEG_INFINITY {
        return a;
    }
    if a <= b {
        return f64::NEG_INFINITY;
    }
    a + (-(b - a).exp()).ln_1p()
}

/// `ln(e^a + e^b)`.
fn ln_add(a: f64, b: f64) -> f64 {
    let (hi, lo) = if a >= b { (a, b) } else { (b, a) };
    if lo == f64::NEG_INFINITY {
        return hi;
    }
    hi + (lo - hi).exp().ln_1p()
}

/// `ln Σ sign_i e^(ln_i)` for terms given as (ln |value|, sign); −∞ if the sum is not positive.
fn ln_signed_sum(terms: &[(f64, f64)]) -> f64 {
    let c =
        terms.iter().filter(|(_, sg)| *sg != 0.0).fold(f64::NEG_INFINITY, |m, (l, _)| m.max(*l));
    if c == f64::NEG_INFINITY || c.is_nan() {
        return f64::NEG_INFINITY;
    }
    let total: f64 =
        terms.iter().filter(|(_, sg)| *sg != 0.0).map(|(l, sg)| sg * (l - c).exp()).sum();
    if total > 0.0 { c + total.ln() } else { f64::NEG_INFINITY }
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
    if !(hi > lo) {
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
        if !(remaining > 0.0) {
            break;
        }
        let (p, d, dd) = f(v);
        if !(p - psi_star > -46.0) {
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
// The tail integral I(y) = ∫_y^∞ (m+τ)^−p_m (M+τ)^−p_M dτ

/// ln(1e-17): a series stops when its remaining tail is below this, relative to its sum.
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

/// ln I(y), its gradient with respect to (r, α, s, β), and ln(α+y), ln(β+y).
#[derive(Debug, Clone, Copy, Default)]
struct TailValue {
    ln_i: f64,
    grad: [f64; 4],
    ln_ay: f64,
    ln_by: f64,
}

/// `α+y`, `β+y`, their logarithms and inverses: shared by all frequencies.
#[derive(Debug, Clone, Copy)]
struct AtY {
    y: f64,
    ay: f64,
    by: f64,
    ln_ay: f64,
    ln_by: f64,
    inv_ay: f64,
    inv_by: f64,
}

impl AtY {
    fn new(alpha: f64, beta: f64, y: f64) -> AtY {
        let (ay, by) = (alpha + y, beta + y);
        AtY { y, ay, by, ln_ay: ay.ln(), ln_by: by.ln(), inv_ay: 1.0 / ay, inv_by: 1.0 / by }
    }
}

/// The small-σ representation of `J(σ) = (M−m)^a I(y)` (see the module docs).
#[derive(Debug, Clone)]
struct SmallSigma {
    sigma_s: f64,
    ln_sigma_s: f64,
    /// Coefficients of the polynomial in σ: `−b_k / e_k`, 0 at the special `k`.
    lo: Vec<f64>,
    /// `(b_k, e_k)` for the `k` with `|e_k| < 1/2`.
    special: Option<(f64, f64)>,
    /// `σ_s^(1−p_m) Σ_{k≠k*} b_k σ_s^k / e_k` as (ln |·|, sign).
    hi: (f64, f64),
    /// ln(∫_{σ_s}^{σ_c} + J(σ_c)).
    ln_rest: f64,
    /// ln J(σ_c).
    ln_j_c: f64,
    /// ln(e^σ_c − 1).
    omega_c: f64,
}

/// `I(y)` for one frequency and one parameter set, with cached series coefficients.
#[derive(Debug, Clone)]
struct Tail {
    x: f64,
    branch: Branch,
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
    ln_diff: f64,
    /// `c_n = (p_M)_n / (a+1)_n`.
    coef: Vec<f64>,
    /// `∂ ln c_n / ∂p_M`.
    coef_db: Vec<f64>,
    /// `∂ ln c_n / ∂p_m`.
    coef_dm: Vec<f64>,
    ln_c_fast: Option<f64>,
    small: Option<SmallSigma>,
    /// Tails with `p_m ± h`, `p_M ± h` for central differences of the small-σ part.
    shifted: Option<Box<[Tail; 4]>>,
}

impl Tail {
    fn new(r: f64, alpha: f64, s: f64, beta: f64, x: f64) -> Tail {
        if alpha >= beta {
            Tail::with(x, Branch::AlphaLarger, s + 1.0, r + x, beta, alpha)
        } else {
            Tail::with(x, Branch::BetaLarger, r + x, s + 1.0, alpha, beta)
        }
    }

    fn with(x: f64, branch: Branch, pm: f64, pb: f64, m: f64, b: f64) -> Tail {
        let a = pm + pb - 1.0;
        let diff = b - m;
        Tail {
            x,
            branch,
            pm,
            pb,
            m,
            b,
            a,
            ln_a: a.ln(),
            diff,
            ln_diff: diff.ln(),
            coef: vec![1.0],
            coef_db: vec![0.0],
            coef_dm: vec![0.0],
            ln_c_fast: None,
            small: None,
            shifted: None,
        }
    }

    /// ln I(y) and (if `grad`) its gradient in (r, α, s, β).
    fn eval(&mut self, y: f64, grad: bool) -> TailValue {
        self.eval_at(&AtY::new(self.alpha(), self.beta(), y), grad)
    }

    fn alpha(&self) -> f64 {
        if self.branch == Branch::AlphaLarger { self.b } else { self.m }
    }

    fn beta(&self) -> f64 {
        if self.branch == Branch::AlphaLarger { self.m } else { self.b }
    }

    /// ln I(y) and (if `grad`) its gradient in (r, α, s, β), given the shared per-y values.
    fn eval_at(&mut self, at: &AtY, grad: bool) -> TailValue {
        let (mp, bp, lmp, lbp, inv_mp, inv_bp) = match self.branch {
            Branch::AlphaLarger => (at.by, at.ay, at.ln_by, at.ln_ay, at.inv_by, at.inv_ay),
            Branch::BetaLarger => (at.ay, at.by, at.ln_ay, at.ln_by, at.inv_ay, at.inv_by),
        };
        let mut g = [0.0; 4]; // by (p_m, p_M, m, M)
        let ln_i;
        let rho = mp / self.diff;
        if self.diff > 0.0 && rho < RHO_C && !self.series_is_fast(rho) {
            let ln_j = self.ln_j_small(rho);
            ln_i = -self.a * self.ln_diff + ln_j;
            if grad {
                g = self.grad_small(at.y, rho, ln_j);
            }
        } else {
            let z = if self.diff > 0.0 { self.diff * inv_bp } else { 0.0 };
            let sum = self.series(z, grad);
            ln_i = (1.0 - self.pm) * lmp - self.pb * lbp - self.ln_a + sum[0].ln();
            if grad {
                let inv_a = 1.0 / self.a;
                let inv_s = 1.0 / sum[0];
                let dz = sum[1] * inv_s;
                g = [
                    -lmp - inv_a + sum[3] * inv_s,
                    -lbp - inv_a + sum[2] * inv_s,
                    (1.0 - self.pm) * inv_mp - dz * inv_bp,
                    -self.pb * inv_bp + dz * mp * inv_bp * inv_bp,
                ];
            }
        }
        let grad = match self.branch {
            Branch::AlphaLarger => [g[1], g[3], g[0], g[2]],
            Branch::BetaLarger => [g[0], g[2], g[1], g[3]],
        };
        TailValue { ln_i, grad, ln_ay: at.ln_ay, ln_by: at.ln_by }
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
        let mut sigma_s = SIGMA_C.min((48.0 / pm).sqrt());
        if lambda != 0.0 {
            sigma_s = sigma_s.min(2.0 / lambda.abs());
        }
        let omega_c = SIGMA_C.exp_m1().ln();
        let f_c = self.series((-SIGMA_C).exp(), false)[0];
        let ln_j_c = (1.0 - pm) * omega_c - pb * SIGMA_C - self.ln_a + f_c.ln();
        let ln_rest = if sigma_s < SIGMA_C {
            ln_add(ln_j_c, band(pm, pb, sigma_s.exp_m1().ln(), omega_c))
        } else {
            ln_j_c
        };
        // b_k: coefficients of e^(−λu) (sinh(u/2)/(u/2))^−p_m = exp(Σ_j c_j u^j).
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
        self.small = Some(SmallSigma {
            sigma_s,
            ln_sigma_s,
            lo,
            special: k_star.map(|k| (b[k], k as f64 + 1.0 - pm)),
            hi: ((1.0 - pm) * ln_sigma_s + hi.abs().ln(), sign(hi)),
            ln_rest,
            ln_j_c,
            omega_c,
        });
    }

    /// `ln J(σ)` with `σ = ln(1+ρ) < σ_c`, `ρ = (m+y)/(M−m)`.
    fn ln_j_small(&mut self, rho: f64) -> f64 {
        self.ensure_small();
        let Some(sm) = self.small.as_ref() else {
            return f64::NAN;
        };
        let sigma = rho.ln_1p();
        if sigma < sm.sigma_s {
            let ln_sig = sigma.ln();
            let poly = sm.lo.iter().rev().fold(0.0, |acc, c| acc * sigma + c);
            let mut terms = [(0.0, 0.0); 3];
            if poly != 0.0 {
                terms[0] = ((1.0 - self.pm) * ln_sig + poly.abs().ln(), sign(poly));
            }
            terms[1] = sm.hi;
            if let Some((bk, e)) = sm.special {
                let l = sm.ln_sigma_s - ln_sig;
                let ratio = if e == 0.0 { l } else { (e * l).exp_m1() / e };
                if bk != 0.0 {
                    terms[2] = (bk.abs().ln() + e * ln_sig + ratio.ln(), sign(bk));
                }
            }
            ln_add(ln_signed_sum(&terms), sm.ln_rest)
        } else {
            ln_add(band(self.pm, self.pb, rho.ln(), sm.omega_c), sm.ln_j_c)
        }
    }

    /// Gradient of ln I in (p_m, p_M, m, M) on the small-σ representation: exact in m and M,
    /// central differences in the exponents.
    fn grad_small(&mut self, y: f64, rho: f64, ln_j: f64) -> [f64; 4] {
        let (pm, pb, m, b, x, branch) = (self.pm, self.pb, self.m, self.b, self.x, self.branch);
        let (hm, hb) = (1e-5 * pm, 1e-5 * pb);
        let shifted = self.shifted.get_or_insert_with(|| {
            Box::new([
                Tail::with(x, branch, pm + hm, pb, m, b),
                Tail::with(x, branch, pm - hm, pb, m, b),
                Tail::with(x, branch, pm, pb + hb, m, b),
                Tail::with(x, branch, pm, pb - hb, m, b),
            ])
        });
        let [up_m, down_m, up_b, down_b] = &mut **shifted;
        let d_pm = (up_m.ln_j_small(rho) - down_m.ln_j_small(rho)) / (2.0 * hm);
        let d_pb = (up_b.ln_j_small(rho) - down_b.ln_j_small(rho)) / (2.0 * hb);
        let sigma = rho.ln_1p();
        // d ln J / dσ = −e^(−aσ) (1 − e^(−σ))^(−p_m) / J.
        let dj = -(-self.a * sigma - pm * (-(-sigma).exp_m1()).ln() - ln_j).exp();
        let inv_diff = 1.0 / self.diff;
        [
            -self.ln_diff + d_pm,
            -self.ln_diff + d_pb,
            (self.a + dj) * inv_diff,
            -self.a * inv_diff + dj * (1.0 / (b + y) - inv_diff),
        ]
    }
}

/// `ln ∫_{ω_lo}^{ω_hi} e^((1−p_m)ω) (1+e^ω)^−p_M dω` (the tail integral over ω = ln((m+τ)/(M−m))).
fn band(pm: f64, pb: f64, omega_lo: f64, omega_hi: f64) -> f64 {
    let psi = |w: f64| {
        let g = logistic(w);
        ((1.0 - pm) * w - pb * softplus(w), (1.0 - pm) - pb * g, -pb * g * (1.0 - g))
    };
    ln_integral_concave(&psi, omega_lo, omega_hi)
}

fn sign(v: f64) -> f64 {
    if v > 0.0 {
        1.0
    } else if v < 0.0 {
        -1.0
    } else {
        0.0
    }
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
        let mut groups: Vec<Group> = Vec::new();
        let (mut customers, mut age) = (0.0, 0.0);
        for &i in &order {
            let x = cells.x[i];
            if groups.last().is_none_or(|g| g.x != x) {
                groups.push(Group { x, ys: Vec::new(), cells: Vec::new() });
            }
            if let Some(g) = groups.last_mut() {
                g.cells.push((i, i, cells.weight[i]));
            }
            customers += cells.weight[i];
            age += cells.weight[i] * cells.t[i];
        }
        let mut all: Vec<f64> = order.iter().flat_map(|&i| [cells.t_x[i], cells.t[i]]).collect();
        all.sort_by(f64::total_cmp);
        all.dedup_by(|a, b| a.total_cmp(b).is_eq());
        let global = |v: f64| all.binary_search_by(|p| p.total_cmp(&v)).unwrap_or(0);
        for g in &mut groups {
            let mut local: Vec<usize> = g.cells.iter().flat_map(|c| [global(cells.t_x[c.0]), global(cells.t[c.0])]).collect();
            local.sort_unstable();
            local.dedup();
            for c in &mut g.cells {
                let i = c.0;
                let find = |v: f64| local.binary_search(&global(v)).unwrap_or(0);
                *c = (find(cells.t_x[i]), find(cells.t[i]), c.2);
            }
            g.ys = local;
        }
        let mean_age = age / customers;
        let mean_age = if mean_age.is_finite() && mean_age > 0.0 { mean_age } else { 1.0 };
        Ok(Prepared { groups, ys: all, customers, n_cells: order.len(), mean_age })
    }

    /// The total log-likelihood at `p = (r, α, s, β)`; with `grad`, also its gradient in
    /// `(ln r, ln α, ln s, ln β)` (added into `grad`).
    fn log_likelihood(&self, p: [f64; 4], mut grad: Option<&mut [f64; 4]>) -> f64 {
        let [r, alpha, s, beta] = p;
        let want = grad.is_some();
        let (ln_alpha, ln_beta, ln_s) = (alpha.ln(), beta.ln(), s.ln());
        let mut total = 0.0;
        // Σ w, Σ w ∂lnΓ(r+x)/∂r, Σ w ∂ln Q/∂(r, α, s, β).
        let (mut sum_w, mut sum_dg) = (0.0, 0.0);
        let mut sum_dq = [0.0; 4];
        let mut vals: Vec<YValue> = Vec::new();
        let at: Vec<AtY> = self.ys.iter().map(|&y| AtY::new(alpha, beta, y)).collect();
        let (dg_r, lg_r) = if want { (digamma(r), ln_gamma(r)) } else { (0.0, ln_gamma(r)) };
        for group in &self.groups {
            let x = group.x;
            let lg = if x == 0.0 { 0.0 } else { ln_gamma(r + x) - lg_r };
            let dg = if want && x != 0.0 { digamma(r + x) - dg_r } else { 0.0 };
            let mut tail = Tail::new(r, alpha, s, beta, x);
            vals.clear();
            vals.extend(group.ys.iter().map(|&gi| {
                let at = &at[gi];
                let tv = tail.eval_at(at, want);
                // ln E with T = y, and s I(y) / E (≤ 1, since s I(y) ≤ E(y)).
                let ln_e = -(r + x) * tv.ln_ay - s * tv.ln_by;
                let ratio = (ln_s + tv.ln_i - ln_e).exp();
                let de = if want {
                    [-tv.ln_ay, -(r + x) * at.inv_ay, -tv.ln_by, -s * at.inv_by]
                } else {
                    [0.0; 4]
                };
                YValue { ln_i: tv.ln_i, grad: tv.grad, ln_e, ratio, de }
            }));
            let mut group_total = 0.0;
            let mut group_w = 0.0;
            for &(i1, i2, w) in &group.cells {
                let (v1, v2) = (&vals[i1], &vals[i2]);
                // Q = E + s (I(t_x) − I(T)) = E (q), with weights of E, s I(t_x), s I(T) in Q.
                let (ln_q, we, w1, w2) = if i1 == i2 {
                    (v2.ln_e, 1.0, 0.0, 0.0)
                } else {
                    let k = ln_s + v1.ln_i - v2.ln_e;
                    if k < 700.0 {
                        let r1 = k.exp();
                        let q = (1.0 + (r1 - v2.ratio)).max(f64::MIN_POSITIVE);
                        let inv_q = 1.0 / q;
                        (v2.ln_e + q.ln(), inv_q, r1 * inv_q, v2.ratio * inv_q)
                    } else {
                        // s I(t_x) ≫ E: scale by s I(t_x) instead.
                        let e = (-k).exp();
                        let d2 = v2.ratio * e;
                        let q = (e + (1.0 - d2)).max(f64::MIN_POSITIVE);
                        let inv_q = 1.0 / q;
                        (v2.ln_e + k + q.ln(), e * inv_q, inv_q, d2 * inv_q)
                    }
                };
                group_total += w * ln_q;
                group_w += w;
                if want {
                    for (k, dq) in sum_dq.iter_mut().enumerate() {
                        *dq += w * (we * v2.de[k] + w1 * v1.grad[k] - w2 * v2.grad[k]);
                    }
                    sum_dq[2] += w * (w1 - w2) / s;
                }
            }
            total += group_total + group_w * lg;
            sum_w += group_w;
            sum_dg += group_w * dg;
        }
        total += sum_w * (r * ln_alpha + s * ln_beta);
        if let Some(g) = grad.as_deref_mut() {
            g[0] += r * (sum_dg + sum_w * ln_alpha + sum_dq[0]);
            g[1] += alpha * (sum_w * r / alpha + sum_dq[1]);
            g[2] += s * (sum_w * ln_beta + sum_dq[2]);
            g[3] += beta * (sum_w * s / beta + sum_dq[3]);
        }
        total
    }
}

/// Per group and distinct `y`: ln I(y) and its gradient; with `T = y`: ln E, `s I(T) / E` and
/// the gradient of ln E.
#[derive(Debug, Clone, Copy)]
struct YValue {
    ln_i: f64,
    grad: [f64; 4],
    ln_e: f64,
    ratio: f64,
    de: [f64; 4],
}

/// The negative log-likelihood per customer over log-parameters (per customer so that the
/// optimiser's first, unscaled step is of a sensible size), remembering the last gradient (the
/// optimiser asks for the gradient at the point whose value it has just accepted).
struct NegLogLik<'a> {
    prep: &'a Prepared,
    last: RefCell<Option<(Vec<f64>, f64, [f64; 4])>>,
}

impl NegLogLik<'_> {
    fn eval(&self, theta: &[f64]) -> (f64, [f64; 4]) {
        if let Some((at, v, g)) = &*self.last.borrow() {
            if at.as_slice() == theta {
                return (*v, *g);
            }
        }
        let n = self.prep.customers;
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
        -t.a * t.ln_diff + band(t.pm, t.pb, lo, 60.0)
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
            let mut tail = Tail::new(r, alpha, s, beta, x);
            let got = tail.eval(y, false).ln_i;
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
#[cfg(test)]
mod scratch {
    use super::*;
    #[test]
    fn dump() {
        let cases: [(f64, f64, f64, f64, f64, f64); 29] = [
            (0.55, 10.6, 0.61, 11.7, 0., 0.),
            (0.55, 10.6, 0.61, 11.7, 5., 30.),
            (0.55, 1.0, 0.61, 1e9, 0., 0.),
            (0.55, 1.0, 0.61, 1e9, 3., 20.),
            (0.55, 1.0, 0.61, 7.2e10, 29., 39.),
            (2.0, 1.0, 1.0, 1e4, 1., 1.),
            (0.3, 1e3, 5.0, 1.0, 50., 2.),
            (1.0, 1e3, 1.0, 1.0, 10., 0.),
            (0.5, 1.0, 30.0, 1e5, 0., 0.),
            (1.0, 2.0, 1.0, 2.0, 4., 3.),
            (0.5, 1e-3, 1e8, 1e10, 2., 1.),
            (0.5, 1e-3, 1e8, 1e10, 2., 100.),
            (0.5, 1.0, 7e10, 7e10, 0., 10.),
            (0.5, 1.0, 7e10, 7.2e10, 3., 10.),
            (1e-8, 1.0, 0.5, 1e6, 0., 0.),
            (0.55, 10.6, 0.61, 11.7, 10000., 5000.),
            (0.55, 10.6, 0.61, 11.7, 10000., 10000.),
            (0.55, 0.1, 0.61, 1e4, 10000., 0.5),
            (0.55, 1e4, 0.61, 0.1, 10000., 0.5),
            (0.55, 1e4, 0.61, 0.1, 10., 0.5),
            (5.0, 1e4, 200.0, 0.1, 0., 0.),
            (0.9, 1.0, 0.2, 50.0, 0., 0.),
            (0.9, 1.0, 2.0, 5000.0, 0., 0.),
            (1.0, 1.0, 1.0, 1e3, 0., 0.),
            (1.5, 1.0, 3.0, 1e3, 0.0, 1e-3),
            (20., 1.0, 0.01, 1e3, 0., 1.),
            (0.5, 1.0, 20.0, 1e5, 40., 1.),
            (0.5, 1.0, 200.0, 1e5, 40., 1.),
            (0.5, 1.0, 2000.0, 1e6, 40., 1.),
        ];
        let refs: Vec<f64> = std::fs::read_to_string("/tmp/pnbd/ref.txt")
            .unwrap()
            .lines()
            .map(|l| l.parse().unwrap())
            .collect();
        for (i, (r, alpha, s, beta, x, y)) in cases.into_iter().enumerate() {
            let mut tail = Tail::new(r, alpha, s, beta, x);
            let got = tail.eval(y, false).ln_i;
            let rho = (tail.m + y) / tail.diff;
            let sigma = rho.ln_1p();
            let fast = if tail.diff > 0.0 { tail.series_is_fast(rho) } else { true };
            let brute = tests_brute(r, alpha, s, beta, x, y);
            eprintln!(
                "{i:2} sigma={sigma:.3e} fast={fast} small={:?} got={got:.15e} ref={:.15e} rel={:.2e} brute_rel={:.2e}",
                tail.small.as_ref().map(|s| s.sigma_s),
                refs[i],
                (got - refs[i]) / refs[i].abs().max(1.0),
                (brute - refs[i]) / refs[i].abs().max(1.0)
            );
        }
    }
    fn tests_brute(r: f64, alpha: f64, s: f64, beta: f64, x: f64, y: f64) -> f64 {
        let t = Tail::new(r, alpha, s, beta, x);
        if t.diff <= 0.0 {
            return -t.a * (t.m + y).ln() - t.ln_a;
        }
        let lo = ((t.m + y) / t.diff).ln();
        -t.a * t.ln_diff + band(t.pm, t.pb, lo, 60.0)
    }
}
#[cfg(test)]
mod scratch_fit {
    use super::*;
    pub(super) fn load(path: &str, x_col: usize) -> Cells {
        let text = std::fs::read_to_string(path).unwrap();
        let (mut x, mut tx, mut t) = (vec![], vec![], vec![]);
        for line in text.lines().skip(1) {
            let f: Vec<&str> = line.split(',').collect();
            x.push(f[x_col].parse::<f64>().unwrap());
            tx.push(f[x_col + 1].parse::<f64>().unwrap());
            t.push(f[x_col + 2].parse::<f64>().unwrap());
        }
        Cells::from_columns(&x, &tx, &t).unwrap()
    }
    fn min_time(n: usize, mut f: impl FnMut()) -> std::time::Duration {
        let mut best = std::time::Duration::MAX;
        for _ in 0..n { let t0 = std::time::Instant::now(); f(); best = best.min(t0.elapsed()); }
        best
    }
    #[test]
    fn timing() {
        for path in ["tests/data/cdnow_customers_summary.csv", "/tmp/pnbd/master.csv"] {
            let cells = load(path, 1);
            let (m, info) = ParetoNbd::fit(&cells).unwrap();
            let fit = min_time(30, || { let _ = ParetoNbd::fit(&cells).unwrap(); });
            let prep = Prepared::new(&cells).unwrap();
            let p = [m.r, m.alpha, m.s, m.beta];
            let g = min_time(100, || { let mut g = [0.0; 4]; prep.log_likelihood(p, Some(&mut g)); });
            let v = min_time(100, || { prep.log_likelihood(p, None); });
            eprintln!("{path}: cells {} fit {fit:?} it={} grad {g:?} value {v:?} {m:?} ll={}", cells.len(), info.iterations, info.log_likelihood);
        }
    }
}
#[cfg(test)]
mod scratch_trace {
    use super::*;
    struct Counting<'a> { inner: NegLogLik<'a>, n: RefCell<(usize, usize)> }
    impl Objective for Counting<'_> {
        fn value(&self, x: &[f64]) -> f64 { self.n.borrow_mut().0 += 1; self.inner.value(x) }
        fn gradient(&self, x: &[f64], g: &mut [f64]) { self.n.borrow_mut().1 += 1; self.inner.gradient(x, g) }
    }
    #[test]
    fn starts() {
        for path in ["tests/data/cdnow_customers_summary.csv", "/tmp/pnbd/master.csv"] {
            let cells = super::scratch_fit::load(path, 1);
            let prep = Prepared::new(&cells).unwrap();
            for (label, st) in [("ones", [1.0, 1.0, 1.0, 1.0]), ("meanT", [1.0, prep.mean_age, 1.0, prep.mean_age]), ("meanT/4", [1.0, prep.mean_age / 4.0, 1.0, prep.mean_age / 4.0]), ("r.5", [0.5, prep.mean_age / 4.0, 0.5, prep.mean_age / 4.0])] {
                let obj = Counting { inner: NegLogLik { prep: &prep, last: RefCell::new(None) }, n: RefCell::new((0, 0)) };
                let start: Vec<f64> = st.iter().map(|v: &f64| v.ln()).collect();
                let m = crate::optim::minimize(&obj, &start, &crate::optim::Options::default());
                let p: Vec<f64> = m.x.iter().map(|v| v.exp()).collect();
                eprintln!("{path} {label}: iters {} evals {:?} f={} p={p:?} conv={}", m.iterations, obj.n.borrow(), m.value * prep.customers, m.converged);
            }
        }
    }
}
#[cfg(test)]
mod scratch_prof {
    use super::*;
    #[test]
    fn prof() {
        let cells = super::scratch_fit::load("/tmp/pnbd/master.csv", 1);
        let prep = Prepared::new(&cells).unwrap();
        let p = [0.6109874243471672, 13.614182685992773, 0.31257767884341686, 6.148583822961722];
        let mut acc = 0.0;
        for _ in 0..2000 { let mut g = [0.0; 4]; acc += prep.log_likelihood(p, Some(&mut g)); }
        eprintln!("{acc}");
    }
}
#[cfg(test)]
mod scratch_boundary {
    use super::*;
    struct Lcg(u64);
    impl Lcg {
        fn next(&mut self) -> f64 { self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407); ((self.0 >> 11) as f64 + 0.5) / (1u64 << 53) as f64 }
        fn gamma(&mut self, shape: f64) -> f64 {
            // Marsaglia-Tsang
            if shape < 1.0 { let u = self.next(); return self.gamma(shape + 1.0) * u.powf(1.0 / shape); }
            let d = shape - 1.0 / 3.0; let c = 1.0 / (9.0 * d).sqrt();
            loop {
                let (u1, u2) = (self.next(), self.next());
                let n = (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos();
                let v = (1.0 + c * n).powi(3);
                if v > 0.0 && self.next().ln() < 0.5 * n * n + d - d * v + d * v.ln() { return d * v; }
            }
        }
        fn exp(&mut self, rate: f64) -> f64 { -self.next().ln() / rate }
    }
    pub(super) fn simulate(seed: u64, n: usize, r: f64, alpha: f64, s: Option<(f64, f64)>, big_t: f64) -> Cells {
        let mut g = Lcg(seed);
        let (mut xs, mut txs, mut ts) = (vec![], vec![], vec![]);
        for _ in 0..n {
            let lam = g.gamma(r) / alpha;
            let life = match s { Some((s, beta)) => { let mu = g.gamma(s) / beta; g.exp(mu) } None => f64::INFINITY };
            let t_end = big_t * (0.5 + 0.5 * g.next());
            let horizon = life.min(t_end);
            let (mut x, mut tx, mut t) = (0.0, 0.0, 0.0);
            loop { t += g.exp(lam); if t > horizon { break; } x += 1.0; tx = t; }
            xs.push(x); txs.push(tx); ts.push(t_end);
        }
        Cells::from_columns(&xs, &txs, &ts).unwrap()
    }
    #[test]
    fn no_dropout() {
        for seed in 1..4 {
            let cells = simulate(seed, 2000, 0.8, 10.0, None, 50.0);
            let t0 = std::time::Instant::now();
            let (m, info) = ParetoNbd::fit(&cells).unwrap();
            eprintln!("seed {seed}: cells {} {:?} {m:?} ll={} it={} conv={} b={:?} se={:?}", cells.len(), t0.elapsed(), info.log_likelihood, info.iterations, info.converged, info.boundary, info.standard_errors);
        }
        for seed in 1..3 {
            let cells = simulate(seed, 2000, 0.8, 10.0, Some((50.0, 1000.0)), 50.0);
            let t0 = std::time::Instant::now();
            let (m, info) = ParetoNbd::fit(&cells).unwrap();
            eprintln!("homog seed {seed}: cells {} {:?} {m:?} ll={} it={} conv={} b={:?}", cells.len(), t0.elapsed(), info.log_likelihood, info.iterations, info.converged, info.boundary);
        }
        for seed in 1..3 {
            let cells = simulate(seed, 2000, 0.8, 10.0, Some((0.6, 12.0)), 50.0);
            let t0 = std::time::Instant::now();
            let (m, info) = ParetoNbd::fit(&cells).unwrap();
            eprintln!("regular seed {seed}: cells {} {:?} {m:?} ll={} it={} conv={} b={:?}", cells.len(), t0.elapsed(), info.log_likelihood, info.iterations, info.converged, info.boundary);
        }
    }
}
