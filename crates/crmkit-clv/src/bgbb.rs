//! The **BG/BB** (beta-geometric / beta-Bernoulli) model of repeat transactions at discrete
//! opportunities: Fader, Hardie & Shang (2010), "Customer-Base Analysis in a Discrete-Time
//! Noncontractual Setting", *Marketing Science* 29(6), 1086–1108. Same model and likelihood as
//! lifetimes 0.11.3's `BetaGeoBetaBinomFitter`.
//!
//! # Model
//!
//! A customer has `n` transaction opportunities after the first (e.g. one per year). At the
//! start of each opportunity an active customer becomes inactive ("dies") for good with
//! probability `θ`; an active customer transacts at the opportunity with probability `p`. Across customers `p ~ Beta(α, β)` and `θ ~ Beta(γ, δ)`, independently.
//!
//! The data per customer are `x` (repeat transactions), `t_x` (the opportunity of the last one,
//! 0 when `x = 0`) and `n`; customers with the same pattern can be given as one row with a weight.
//!
//! # Formulas (FHS 2010)
//!
//! With `B` the beta function:
//!
//! - likelihood (eq. 5):
//!   `L = B(α+x, β+n−x)/B(α,β) · B(γ, δ+n)/B(γ,δ)
//!      + Σ_{i=0}^{n−t_x−1} B(α+x, β+t_x−x+i)/B(α,β) · B(γ+1, δ+t_x+i)/B(γ,δ)`;
//! - `P(X(n) = x)` (eq. 7):
//!   `C(n,x) B(α+x, β+n−x)/B(α,β) · B(γ, δ+n)/B(γ,δ)
//!      + Σ_{i=x}^{n−1} C(i,x) B(α+x, β+i−x)/B(α,β) · B(γ+1, δ+i)/B(γ,δ)`;
//! - `E[X(n)]` (eq. 8): `α/(α+β) · δ/(γ−1) · [1 − Γ(γ+δ)Γ(1+δ+n) / (Γ(1+δ)Γ(γ+δ+n))]`;
//! - `P(alive at n | x, t_x, n)` (eq. 11): `B(α+x, β+n−x)/B(α,β) · B(γ, δ+n)/B(γ,δ) / L`,
//!   and alive at `n + m`: that times `B(γ, δ+n+m)/B(γ, δ+n)` (FHS eq. A10);
//! - `E[X(n, n+m) | x, t_x, n]` (eq. 13):
//!   `1/L · B(α+x+1, β+n−x)/B(α,β) · δ/(γ−1) · Γ(γ+δ)/Γ(1+δ)
//!      · [Γ(1+δ+n)/Γ(γ+δ+n) − Γ(1+δ+n+m)/Γ(γ+δ+n+m)]`.
//!
//! Every term is computed in log space (log-sum-exp of log Beta ratios), so long histories and
//! extreme parameters neither overflow nor underflow. Beta ratios `B(a+x, b+y)/B(a, b)` are
//! computed as differences of Stirling series rather than of `ln Γ` values, so they stay accurate
//! when a parameter is huge (a boundary fit drives one to ~7·10¹⁰, where `ln Γ` alone is ~10¹²).
//! The factor `δ/(γ−1)[1 − …]`, 0/0 at `γ = 1`, equals `Σ_{t=1}^{m} B(γ, δ+t)/B(γ, δ)`
//! (expected alive opportunities): for whole `m ≤ 1000` that sum is computed directly, exact for
//! every `γ`; otherwise the closed form (with its limit at `γ = 1`).
//!
//! lifetimes adds `1e-15` inside the sum term of the log-likelihood before taking its log; this
//! implementation does not, so values differ from lifetimes' at the 1e-12 relative level (for
//! example P(alive) is exactly 1 when `t_x = n`, where lifetimes gives `1 − 2e-13`).
//!
//! # Fitting
//!
//! [`BgBb::fit`] maximises the weighted log-likelihood by BFGS over `ln α, ln β, ln γ, ln δ` with
//! the analytic gradient, from the fixed start `α = β = γ = δ = 1`. Rows with the same pattern are
//! merged first. An optimum at 0 or ∞ is returned as a fitted model, explained in
//! [`FitInfo::boundary`].
//!
//! The optimiser works on the mean log-likelihood per customer (reported as the total), so it
//! behaves the same for a hundred customers or a million. A parameter that runs off along a flat
//! ridge without reaching the optimiser's bound (`|ln θ| = 25`) is walked out to it and, if the
//! fit is no worse there, reported as a boundary optimum rather than as an arbitrary large value.
//!
//! # Examples
//!
//! ```
//! use crmkit_clv::bgbb::BgBb;
//! // Four donor patterns (x, t_x, n = 6) with their counts.
//! let (model, info) = BgBb::fit(
//!     &[0.0, 2.0, 6.0, 3.0],
//!     &[0.0, 4.0, 6.0, 6.0],
//!     &[6.0, 6.0, 6.0, 6.0],
//!     &[50.0, 20.0, 25.0, 30.0],
//! )?;
//! assert!(info.converged);
//! let alive = model.probability_alive(&[6.0], &[6.0], &[6.0])?;
//! assert!((alive[0] - 1.0).abs() < 1e-12);
//! # Ok::<(), crmkit_clv::ClvError>(())
//! ```

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::error::{ClvError, Result};
use crate::fit::{FitInfo, fit_positive_mean};
use crate::optim::Objective;
use crate::special::{digamma, ln_beta_ratio, ln_gamma, ln_poch, log_add_exp};

/// The largest number of opportunities `n` accepted (the likelihood sums over `n − t_x` terms).
const MAX_PERIODS: f64 = 1.0e6;

/// A BG/BB model: purchase probability `p ~ Beta(α, β)`, dropout probability `θ ~ Beta(γ, δ)`.
///
/// # Examples
///
/// ```
/// use crmkit_clv::bgbb::BgBb;
/// // Fader, Hardie & Shang (2010), the donations data.
/// let m = BgBb::new(1.204, 0.750, 0.657, 2.783)?;
/// let e6 = m.expected_purchases(6.0); // ≈ 2.22 donations in 6 years
/// assert!(e6 > 2.1 && e6 < 2.3);
/// # Ok::<(), crmkit_clv::ClvError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BgBb {
    /// First shape of the Beta distribution of the transaction probability `p`.
    pub alpha: f64,
    /// Second shape of the Beta distribution of `p`.
    pub beta: f64,
    /// First shape of the Beta distribution of the dropout probability `θ`.
    pub gamma: f64,
    /// Second shape of the Beta distribution of `θ`.
    pub delta: f64,
}

/// Validated, merged patterns with their weights.
struct Patterns {
    x: Vec<f64>,
    tx: Vec<f64>,
    n: Vec<f64>,
    w: Vec<f64>,
}

fn bad(column: &str, index: usize, message: String) -> ClvError {
    ClvError::InvalidInput { column: column.into(), index, message }
}

/// Checks one row: `x`, `t_x`, `n` whole numbers with `0 ≤ x ≤ t_x ≤ n`, `t_x = 0` when `x = 0`,
/// `t_x ≥ 1` when `x ≥ 1` (one transaction per opportunity at most), `n ≤ 10⁶`.
fn check_row(i: usize, x: f64, tx: f64, n: f64) -> Result<()> {
    let whole = |v: f64| v.is_finite() && v >= 0.0 && v.fract() == 0.0;
    if !whole(n) || n > MAX_PERIODS {
        return Err(bad("n_periods", i, format!("{n} is not a whole number in [0, 1e6]")));
    }
    if !whole(x) {
        return Err(bad("frequency", i, format!("{x} is not a whole number ≥ 0")));
    }
    if !whole(tx) || tx > n {
        return Err(bad("recency", i, format!("{tx} is not a whole number in [0, n = {n}]")));
    }
    if x == 0.0 && tx != 0.0 {
        return Err(bad("recency", i, format!("{tx} with frequency 0 (must be 0)")));
    }
    if x > tx {
        return Err(bad(
            "frequency",
            i,
            format!("{x} exceeds recency {tx} (at most one transaction per opportunity)"),
        ));
    }
    Ok(())
}

fn check_lengths(names: &[&str], lens: &[usize]) -> Result<()> {
    if lens.iter().any(|l| *l != lens[0]) {
        let parts: Vec<String> =
            names.iter().zip(lens).map(|(name, len)| format!("{name} {len}")).collect();
        return Err(ClvError::LengthMismatch { message: parts.join(", ") });
    }
    Ok(())
}

fn check_rows(frequency: &[f64], recency: &[f64], n_periods: &[f64]) -> Result<()> {
    check_lengths(
        &["frequency", "recency", "n_periods"],
        &[frequency.len(), recency.len(), n_periods.len()],
    )?;
    for i in 0..frequency.len() {
        check_row(i, frequency[i], recency[i], n_periods[i])?;
    }
    Ok(())
}

fn patterns(
    frequency: &[f64],
    recency: &[f64],
    n_periods: &[f64],
    weights: &[f64],
) -> Result<Patterns> {
    check_lengths(
        &["frequency", "recency", "n_periods", "weights"],
        &[frequency.len(), recency.len(), n_periods.len(), weights.len()],
    )?;
    let mut rows: Vec<(u64, u64, u64, f64)> = Vec::with_capacity(frequency.len());
    for i in 0..frequency.len() {
        check_row(i, frequency[i], recency[i], n_periods[i])?;
        let w = weights[i];
        if !w.is_finite() || w < 0.0 {
            return Err(bad("weights", i, format!("{w} is not a number ≥ 0")));
        }
        if w > 0.0 {
            // Whole non-negative floats order like their bit patterns.
            rows.push((frequency[i].to_bits(), recency[i].to_bits(), n_periods[i].to_bits(), w));
        }
    }
    if rows.is_empty() {
        return Err(ClvError::NoData("no customers (all weights are 0 or no rows)".into()));
    }
    rows.sort_unstable_by_key(|r| (r.0, r.1, r.2));
    let mut p = Patterns { x: Vec::new(), tx: Vec::new(), n: Vec::new(), w: Vec::new() };
    let mut last: Option<(u64, u64, u64)> = None;
    for (x, tx, n, w) in rows {
        if last == Some((x, tx, n)) {
            if let Some(lw) = p.w.last_mut() {
                *lw += w;
            }
        } else {
            p.x.push(f64::from_bits(x));
            p.tx.push(f64::from_bits(tx));
            p.n.push(f64::from_bits(n));
            p.w.push(w);
            last = Some((x, tx, n));
        }
    }
    Ok(p)
}

/// `f(x, t_x, n)` for every row, evaluated once per distinct pattern (customers share few
/// patterns: at most `(n+1)(n+2)/2` for a given `n`).
fn per_pattern(
    frequency: &[f64],
    recency: &[f64],
    n_periods: &[f64],
    f: impl Fn(f64, f64, f64) -> f64,
) -> Vec<f64> {
    let mut seen: HashMap<(u64, u64, u64), f64> = HashMap::new();
    (0..frequency.len())
        .map(|i| {
            let (x, tx, n) = (frequency[i], recency[i], n_periods[i]);
            *seen.entry((x.to_bits(), tx.to_bits(), n.to_bits())).or_insert_with(|| f(x, tx, n))
        })
        .collect()
}

/// `Σ_{t=1}^{m} B(γ, d+t)/B(γ, d)`, the expected number of the next `m` opportunities at which a
/// customer alive now (dropout `θ ~ Beta(γ, d)`) is still alive, extended to real `m ≥ 0` by
/// `d/(γ−1) · [1 − Γ(γ+d)Γ(1+d+m) / (Γ(1+d)Γ(γ+d+m))]`.
///
/// Whole `m ≤ 1000`: the sum itself (each ratio is `Π_{j<t} (d+j)/(γ+d+j)`), exact for every
/// `γ` including 1. Otherwise the closed form with the Gamma ratios from [`ln_poch`]
/// (its limit `d (ψ(1+d+m) − ψ(1+d))` at `γ = 1`).
fn alive_opportunities(gamma: f64, d: f64, m: f64) -> f64 {
    if m.is_nan() || m <= 0.0 {
        return 0.0;
    }
    if m.fract() == 0.0 && m <= 1000.0 {
        let mut ratio = 1.0;
        let mut sum = 0.0;
        let mut j = 0.0;
        while j < m {
            ratio *= (d + j) / (gamma + d + j);
            sum += ratio;
            j += 1.0;
        }
        return sum;
    }
    let eps = gamma - 1.0;
    if eps == 0.0 {
        return d * (digamma(1.0 + d + m) - digamma(1.0 + d));
    }
    let l = ln_poch(1.0 + d, eps) - ln_poch(1.0 + d + m, eps);
    (d * (-l.exp_m1()) / eps).max(0.0)
}

impl BgBb {
    /// Parameter names, in the order of [`FitInfo::parameters`] and [`FitInfo::standard_errors`].
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(crmkit_clv::bgbb::BgBb::PARAMETERS[2], "gamma");
    /// ```
    pub const PARAMETERS: [&'static str; 4] = ["alpha", "beta", "gamma", "delta"];

    /// A model with the given parameters, each finite and > 0.
    ///
    /// # Examples
    ///
    /// ```
    /// use crmkit_clv::bgbb::BgBb;
    /// assert!(BgBb::new(1.0, 1.0, 1.0, 1.0).is_ok());
    /// let err = BgBb::new(1.0, -1.0, 1.0, 1.0).unwrap_err();
    /// assert!(err.to_string().contains("beta"));
    /// ```
    pub fn new(alpha: f64, beta: f64, gamma: f64, delta: f64) -> Result<BgBb> {
        for (name, v) in Self::PARAMETERS.iter().zip([alpha, beta, gamma, delta]) {
            if !v.is_finite() || v <= 0.0 {
                return Err(ClvError::InvalidParameter {
                    name: (*name).into(),
                    message: format!("{v} is not a finite number > 0"),
                });
            }
        }
        Ok(BgBb { alpha, beta, gamma, delta })
    }

    /// Fits the model by maximum likelihood to patterns `(x, t_x, n)` with customer counts
    /// `weights` (use 1.0 per row for individual customers). Rows are merged by pattern.
    ///
    /// Inputs: `frequency` `x`, `recency` `t_x` and `n_periods` `n` are whole numbers with
    /// `0 ≤ x ≤ t_x ≤ n ≤ 10⁶` and `t_x = 0` when `x = 0`; weights finite and ≥ 0, not all 0.
    /// Errors name the column and row.
    ///
    /// Deterministic: BFGS over the log-parameters from `α = β = γ = δ = 1`, analytic gradient.
    ///
    /// # Examples
    ///
    /// ```
    /// use crmkit_clv::bgbb::BgBb;
    /// let (m, info) = BgBb::fit(&[0.0, 1.0, 3.0], &[0.0, 2.0, 3.0], &[3.0, 3.0, 3.0], &[5.0, 3.0, 4.0])?;
    /// assert_eq!((info.customers, info.cells), (12.0, 3));
    /// assert!((info.log_likelihood - m.log_likelihood(&[0.0, 1.0, 3.0], &[0.0, 2.0, 3.0], &[3.0; 3], &[5.0, 3.0, 4.0])?).abs() < 1e-9);
    /// let err = BgBb::fit(&[2.0], &[1.0], &[3.0], &[1.0]).unwrap_err();
    /// assert!(err.to_string().contains("frequency at row 0"));
    /// # Ok::<(), crmkit_clv::ClvError>(())
    /// ```
    pub fn fit(
        frequency: &[f64],
        recency: &[f64],
        n_periods: &[f64],
        weights: &[f64],
    ) -> Result<(BgBb, FitInfo)> {
        let data = patterns(frequency, recency, n_periods, weights)?;
        let customers: f64 = data.w.iter().sum();
        let cells = data.x.len();
        let objective = NegLogLik { data: &data };
        let meaning = |i: usize, to_infinity: bool| -> String {
            match (i, to_infinity) {
                (0, true) => "the transaction probability p piles up at 1 (or, with β also \
                              large, is the same for everyone)"
                    .into(),
                (0, false) => "the transaction probability p piles up at 0".into(),
                (1, true) => "the transaction probability p piles up at 0 (or, with α also \
                              large, is the same for everyone)"
                    .into(),
                (1, false) => "the transaction probability p piles up at 1".into(),
                (2, true) => "the dropout probability θ piles up at 1 (or, with δ also large, \
                              is the same for everyone)"
                    .into(),
                (2, false) => {
                    "the dropout probability θ piles up at 0: almost nobody drops out".into()
                }
                (3, true) => "the dropout probability θ piles up at 0: almost nobody drops out \
                              (or, with γ also large, θ is the same for everyone)"
                    .into(),
                _ => "the dropout probability θ piles up at 1: almost everybody drops out at once"
                    .into(),
            }
        };
        let (p, info) =
            fit_positive_mean(&Self::PARAMETERS, &objective, &[1.0; 4], customers, cells, &meaning);
        Ok((BgBb { alpha: p[0], beta: p[1], gamma: p[2], delta: p[3] }, info))
    }

    /// The total log-likelihood `Σ w · ln L(x, t_x, n)` of the patterns (same inputs as
    /// [`BgBb::fit`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use crmkit_clv::bgbb::BgBb;
    /// let m = BgBb::new(1.0, 1.0, 1.0, 1.0)?;
    /// // With n = 0 there is nothing to observe: the likelihood is 1.
    /// assert_eq!(m.log_likelihood(&[0.0], &[0.0], &[0.0], &[1.0])?, 0.0);
    /// // One opportunity: P(x = 0) = 1 − E[p]·E[1 − θ] = 1 − 1/4.
    /// let ll = m.log_likelihood(&[0.0], &[0.0], &[1.0], &[2.0])?;
    /// assert!((ll - 2.0 * 0.75f64.ln()).abs() < 1e-12);
    /// # Ok::<(), crmkit_clv::ClvError>(())
    /// ```
    pub fn log_likelihood(
        &self,
        frequency: &[f64],
        recency: &[f64],
        n_periods: &[f64],
        weights: &[f64],
    ) -> Result<f64> {
        let data = patterns(frequency, recency, n_periods, weights)?;
        Ok((0..data.x.len())
            .map(|i| data.w[i] * cell_ll(self, data.x[i], data.tx[i], data.n[i], None))
            .sum())
    }

    /// `E[X(n)]`: the expected number of transactions in the first `n` opportunities of a new
    /// customer (FHS eq. 8). `n ≥ 0`; real `n` interpolates the closed form. NaN for negative or
    /// NaN `n`.
    ///
    /// # Examples
    ///
    /// ```
    /// use crmkit_clv::bgbb::BgBb;
    /// let m = BgBb::new(1.0, 1.0, 1.0, 1.0)?;
    /// // E[p] = 1/2; P(alive at 1) = E[1 − θ] = 1/2, at 2 = E[(1 − θ)²] = 1/3.
    /// assert!((m.expected_purchases(2.0) - 0.5 * (0.5 + 1.0 / 3.0)).abs() < 1e-12);
    /// # Ok::<(), crmkit_clv::ClvError>(())
    /// ```
    pub fn expected_purchases(&self, n: f64) -> f64 {
        if n.is_nan() || n < 0.0 {
            return f64::NAN;
        }
        self.alpha / (self.alpha + self.beta) * alive_opportunities(self.gamma, self.delta, n)
    }

    /// `P(X(n) = x)`: the probability that a new customer makes `x` transactions in the first `n`
    /// opportunities (FHS eq. 7); 0 when `x > n`.
    ///
    /// # Examples
    ///
    /// ```
    /// use crmkit_clv::bgbb::BgBb;
    /// let m = BgBb::new(1.2, 0.75, 0.66, 2.8)?;
    /// let total: f64 = (0..=6).map(|x| m.probability_of_purchases(6, x)).sum();
    /// assert!((total - 1.0).abs() < 1e-12);
    /// assert_eq!(m.probability_of_purchases(2, 3), 0.0);
    /// # Ok::<(), crmkit_clv::ClvError>(())
    /// ```
    pub fn probability_of_purchases(&self, n: u32, x: u32) -> f64 {
        if x > n {
            return 0.0;
        }
        let (a, b, g, d) = (self.alpha, self.beta, self.gamma, self.delta);
        let (xf, nf) = (f64::from(x), f64::from(n));
        let ln_choose =
            |top: f64, k: f64| ln_gamma(top + 1.0) - ln_gamma(k + 1.0) - ln_gamma(top - k + 1.0);
        let mut acc =
            ln_choose(nf, xf) + ln_beta_ratio(a, b, xf, nf - xf) + ln_beta_ratio(g, d, 0.0, nf);
        for i in x..n {
            let i = f64::from(i);
            acc = log_add_exp(
                acc,
                ln_choose(i, xf) + ln_beta_ratio(a, b, xf, i - xf) + ln_beta_ratio(g, d, 1.0, i),
            );
        }
        acc.exp().clamp(0.0, 1.0)
    }

    /// `E[X(n, n+m) | x, t_x, n]`: expected transactions in the next `m` opportunities of each
    /// customer (FHS eq. 13). `m` finite and ≥ 0 (real `m` interpolates the closed form).
    ///
    /// # Examples
    ///
    /// ```
    /// use crmkit_clv::bgbb::BgBb;
    /// let m = BgBb::new(1.204, 0.750, 0.657, 2.783)?;
    /// let e = m.conditional_expected_purchases(5.0, &[0.0, 6.0], &[0.0, 6.0], &[6.0, 6.0])?;
    /// assert!(e[0] < 0.1 && e[1] > 3.0);
    /// assert!(m.conditional_expected_purchases(-1.0, &[0.0], &[0.0], &[6.0]).is_err());
    /// # Ok::<(), crmkit_clv::ClvError>(())
    /// ```
    pub fn conditional_expected_purchases(
        &self,
        m: f64,
        frequency: &[f64],
        recency: &[f64],
        n_periods: &[f64],
    ) -> Result<Vec<f64>> {
        if !m.is_finite() || m < 0.0 {
            return Err(ClvError::InvalidParameter {
                name: "m".into(),
                message: format!("{m} is not a finite number ≥ 0"),
            });
        }
        check_rows(frequency, recency, n_periods)?;
        Ok(per_pattern(frequency, recency, n_periods, |x, tx, n| {
            let alive = self.ln_alive(x, tx, n).exp().min(1.0);
            let value = alive * (self.alpha + x) / (self.alpha + self.beta + n)
                * alive_opportunities(self.gamma, self.delta + n, m);
            value.max(0.0)
        }))
    }

    /// `P(alive at n | x, t_x, n)`: the probability that each customer is still active at the
    /// last opportunity observed (FHS eq. 11). Exactly 1 when `t_x = n > 0`.
    ///
    /// # Examples
    ///
    /// ```
    /// use crmkit_clv::bgbb::BgBb;
    /// let m = BgBb::new(1.204, 0.750, 0.657, 2.783)?;
    /// let p = m.probability_alive(&[3.0, 3.0], &[3.0, 6.0], &[6.0, 6.0])?;
    /// assert!(p[0] < 0.2 && p[1] == 1.0);
    /// # Ok::<(), crmkit_clv::ClvError>(())
    /// ```
    pub fn probability_alive(
        &self,
        frequency: &[f64],
        recency: &[f64],
        n_periods: &[f64],
    ) -> Result<Vec<f64>> {
        self.probability_alive_after(0.0, frequency, recency, n_periods)
    }

    /// `P(alive at n + m | x, t_x, n)`: [`BgBb::probability_alive`] times the probability of
    /// surviving `m` more opportunities, `B(γ, δ+n+m)/B(γ, δ+n)` (FHS eq. A10; lifetimes'
    /// `conditional_probability_alive(m, …)`). `m` finite and ≥ 0.
    ///
    /// # Examples
    ///
    /// ```
    /// use crmkit_clv::bgbb::BgBb;
    /// let m = BgBb::new(1.0, 1.0, 1.0, 1.0)?;
    /// // Alive at n = 2 for sure; θ | alive at 2 ~ Beta(1, 3): P(survive 1 more) = 3/4.
    /// let p = m.probability_alive_after(1.0, &[1.0], &[2.0], &[2.0])?;
    /// assert!((p[0] - 0.75).abs() < 1e-12);
    /// # Ok::<(), crmkit_clv::ClvError>(())
    /// ```
    pub fn probability_alive_after(
        &self,
        m: f64,
        frequency: &[f64],
        recency: &[f64],
        n_periods: &[f64],
    ) -> Result<Vec<f64>> {
        if !m.is_finite() || m < 0.0 {
            return Err(ClvError::InvalidParameter {
                name: "m".into(),
                message: format!("{m} is not a finite number ≥ 0"),
            });
        }
        check_rows(frequency, recency, n_periods)?;
        Ok(per_pattern(frequency, recency, n_periods, |x, tx, n| {
            let mut ln_p = self.ln_alive(x, tx, n);
            if m > 0.0 {
                ln_p += ln_beta_ratio(self.gamma, self.delta + n, 0.0, m);
            }
            ln_p.exp().clamp(0.0, 1.0)
        }))
    }

    /// ln P(alive at n | x, t_x, n) ≤ 0.
    fn ln_alive(&self, x: f64, tx: f64, n: f64) -> f64 {
        if tx == n && n > 0.0 || n == 0.0 {
            // A transaction at the last opportunity (or no opportunity at all): alive for sure.
            return 0.0;
        }
        let ln_a = ln_beta_ratio(self.alpha, self.beta, x, n - x)
            + ln_beta_ratio(self.gamma, self.delta, 0.0, n);
        (ln_a - cell_ll(self, x, tx, n, None)).min(0.0)
    }
}

/// Digamma values at the parameters, for the gradient.
struct DiConsts {
    a: f64,
    b: f64,
    ab: f64,
    g: f64,
    g1: f64,
    d: f64,
    gd: f64,
}

/// ln L(x, t_x, n) and, if asked, its gradient with respect to (α, β, γ, δ).
fn cell_ll(p: &BgBb, x: f64, tx: f64, n: f64, grad: Option<(&DiConsts, &mut [f64; 4])>) -> f64 {
    let (a, b, g, d) = (p.alpha, p.beta, p.gamma, p.delta);
    // Term A (alive through n) and the terms B_i (died just after opportunity t_x + i).
    let ln_first = ln_beta_ratio(a, b, x, n - x) + ln_beta_ratio(g, d, 0.0, n);
    let terms = (n - tx) as usize; // n − t_x whole, ≤ 1e6
    let ln_term = |i: f64| ln_beta_ratio(a, b, x, tx - x + i) + ln_beta_ratio(g, d, 1.0, tx + i);
    let mut total = ln_first;
    for i in 0..terms {
        total = log_add_exp(total, ln_term(i as f64));
    }
    if let Some((dc, out)) = grad {
        // d ln L = Σ_terms (term / L) · d ln term.
        let wt = (ln_first - total).exp();
        let psi_anx = digamma(a + b + n);
        out[0] = wt * (digamma(a + x) - psi_anx - dc.a + dc.ab);
        out[1] = wt * (digamma(b + n - x) - psi_anx - dc.b + dc.ab);
        let psi_gdn = digamma(g + d + n);
        out[2] = wt * (-psi_gdn + dc.gd);
        out[3] = wt * (digamma(d + n) - psi_gdn - dc.d + dc.gd);
        if terms > 0 {
            let psi_ax = digamma(a + x);
            for i in 0..terms {
                let i = i as f64;
                let wt = (ln_term(i) - total).exp();
                let psi_abt = digamma(a + b + tx + i);
                let psi_gdt = digamma(g + d + 1.0 + tx + i);
                out[0] += wt * (psi_ax - psi_abt - dc.a + dc.ab);
                out[1] += wt * (digamma(b + tx - x + i) - psi_abt - dc.b + dc.ab);
                out[2] += wt * (dc.g1 - psi_gdt - dc.g + dc.gd);
                out[3] += wt * (digamma(d + tx + i) - psi_gdt - dc.d + dc.gd);
            }
        }
    }
    total
}

/// The weighted negative log-likelihood over log-parameters.
struct NegLogLik<'a> {
    data: &'a Patterns,
}

impl NegLogLik<'_> {
    fn params(x: &[f64]) -> Option<BgBb> {
        let p = BgBb { alpha: x[0].exp(), beta: x[1].exp(), gamma: x[2].exp(), delta: x[3].exp() };
        [p.alpha, p.beta, p.gamma, p.delta].iter().all(|v| v.is_finite() && *v > 0.0).then_some(p)
    }
}

impl Objective for NegLogLik<'_> {
    fn value(&self, x: &[f64]) -> f64 {
        let Some(p) = Self::params(x) else { return f64::INFINITY };
        let d = self.data;
        let ll: f64 =
            (0..d.x.len()).map(|i| d.w[i] * cell_ll(&p, d.x[i], d.tx[i], d.n[i], None)).sum();
        if ll.is_finite() { -ll } else { f64::INFINITY }
    }

    fn gradient(&self, x: &[f64], g: &mut [f64]) {
        g.iter_mut().for_each(|v| *v = 0.0);
        let Some(p) = Self::params(x) else { return };
        let dc = DiConsts {
            a: digamma(p.alpha),
            b: digamma(p.beta),
            ab: digamma(p.alpha + p.beta),
            g: digamma(p.gamma),
            g1: digamma(p.gamma + 1.0),
            d: digamma(p.delta),
            gd: digamma(p.gamma + p.delta),
        };
        let d = self.data;
        let mut cell = [0.0; 4];
        for i in 0..d.x.len() {
            cell_ll(&p, d.x[i], d.tx[i], d.n[i], Some((&dc, &mut cell)));
            for j in 0..4 {
                g[j] -= d.w[i] * cell[j];
            }
        }
        // Chain rule to log-parameters.
        for (gj, v) in g.iter_mut().zip([p.alpha, p.beta, p.gamma, p.delta]) {
            *gj *= v;
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
        let data = patterns(
            &[0.0, 1.0, 2.0, 4.0, 3.0],
            &[0.0, 3.0, 2.0, 6.0, 5.0],
            &[6.0; 5],
            &[10.0, 4.0, 3.0, 7.0, 2.0],
        )
        .unwrap();
        let f = NegLogLik { data: &data };
        for x in [[0.0, 0.0, 0.0, 0.0], [0.3, -0.5, -0.4, 1.0], [2.0, 1.5, -2.0, 3.0]] {
            let (mut g, mut num) = ([0.0; 4], [0.0; 4]);
            f.gradient(&x, &mut g);
            numeric_gradient(|p| f.value(p), &x, &mut num);
            for j in 0..4 {
                assert!((g[j] - num[j]).abs() < 1e-6 * (1.0 + num[j].abs()), "{x:?} {g:?} {num:?}");
            }
        }
    }
}
