//! What every fit reports, and the maximum-likelihood driver the models share.

use serde::{Deserialize, Serialize};

use crate::optim::{self, Objective, Options, minimize};

/// How a fit went: the total log-likelihood, convergence, standard errors, and any parameter
/// whose optimum is at a boundary (reported, never an error).
///
/// # Examples
///
/// ```
/// let info = crmkit_clv::FitInfo::default();
/// assert!(info.boundary.is_empty());
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FitInfo {
    /// Parameter names, in the model's order.
    pub parameters: Vec<String>,
    /// Standard errors of the parameters (from the inverse Hessian, by the delta method);
    /// `None` where the Hessian is not positive definite (e.g. at a boundary).
    pub standard_errors: Vec<Option<f64>>,
    /// The total log-likelihood at the optimum (summed over customers).
    pub log_likelihood: f64,
    /// Customers fitted (sum of weights).
    pub customers: f64,
    /// Unique cells the likelihood was evaluated on.
    pub cells: usize,
    /// Optimiser iterations.
    pub iterations: usize,
    /// Whether the optimiser met its tolerance.
    pub converged: bool,
    /// Parameters whose optimum is at 0 or infinity, e.g. `"b → ∞"`, with what it means.
    pub boundary: Vec<String>,
}

/// A [`FitInfo::boundary`] entry: `"b → ∞: <meaning>"` (or `→ 0`).
pub(crate) fn boundary_note(name: &str, to_infinity: bool, meaning: &str) -> String {
    format!("{name} → {}: {meaning}", if to_infinity { "∞" } else { "0" })
}

/// Fits parameters that must be positive by minimising `neg_ll` over their logarithms, from a
/// deterministic start. Returns the parameters and the [`FitInfo`] (standard errors via the delta
/// method: `se(θ) = θ · se(log θ)`).
///
/// `meaning` explains, per parameter, what reaching 0 or infinity says about the data.
pub(crate) fn fit_positive(
    names: &[&str],
    neg_ll: &dyn Objective,
    start: &[f64],
    customers: f64,
    cells: usize,
    meaning: &dyn Fn(usize, bool) -> String,
) -> (Vec<f64>, FitInfo) {
    let options = Options::default();
    let log_start: Vec<f64> = start.iter().map(|v| v.ln()).collect();
    let m = optim::minimize(neg_ll, &log_start, &options);
    let params: Vec<f64> = m.x.iter().map(|v| v.exp()).collect();
    let mut boundary = Vec::new();
    for (i, at) in m.at_bound.iter().enumerate() {
        if *at {
            let to_infinity = m.x[i] > 0.0;
            boundary.push(boundary_note(names[i], to_infinity, &meaning(i, to_infinity)));
        }
    }
    let standard_errors = if boundary.is_empty() {
        let h = optim::hessian(neg_ll, &m.x);
        match optim::invert_spd(&h) {
            Some(inv) => {
                let n = names.len();
                (0..n)
                    .map(|i| {
                        let var = inv[i * n + i];
                        (var >= 0.0).then(|| params[i] * var.sqrt())
                    })
                    .collect()
            }
            None => vec![None; names.len()],
        }
    } else {
        vec![None; names.len()]
    };
    let info = FitInfo {
        parameters: names.iter().map(|s| (*s).to_owned()).collect(),
        standard_errors,
        log_likelihood: -m.value,
        customers,
        cells,
        iterations: m.iterations,
        converged: m.converged || !m.at_bound.iter().all(|b| !b),
        boundary,
    };
    (params, info)
}

/// [`fit_positive`] on the **mean** negative log-likelihood `neg_ll / customers`, then
/// [`settle_boundaries`], with the [`FitInfo`] converted back to the total (log-likelihood times
/// `customers`, standard errors times `1/√customers`).
///
/// Why the mean: the shared BFGS starts with the identity as inverse Hessian and clamps trial
/// points to `±bound` while its Armijo test uses the unclamped step, so with a total over a
/// million customers (gradient ~10⁵) its first trial lands every coordinate on the bound and is
/// accepted (a 10⁶-customer sBG cohort "fitted" `α = β = e²⁵`). On the mean the gradient is
/// O(1) whatever the data size; lifetimes minimises the mean too.
///
/// Shared by [`crate::bgbb`], [`crate::gammagamma`] and [`crate::sbg`].
pub(crate) fn fit_positive_mean(
    names: &[&str],
    neg_ll: &dyn Objective,
    start: &[f64],
    customers: f64,
    cells: usize,
    meaning: &dyn Fn(usize, bool) -> String,
) -> (Vec<f64>, FitInfo) {
    let scale = if customers.is_finite() && customers > 0.0 { 1.0 / customers } else { 1.0 };
    let mean = Scaled { f: neg_ll, scale };
    let (p, info) = fit_positive(names, &mean, start, customers, cells, meaning);
    let (p, mut info) = settle_boundaries(names, &mean, p, info, meaning);
    info.log_likelihood /= scale;
    info.standard_errors =
        info.standard_errors.iter().map(|s| s.map(|s| s * scale.sqrt())).collect();
    (p, info)
}

/// `f · scale`.
struct Scaled<'a> {
    f: &'a dyn Objective,
    scale: f64,
}

impl Objective for Scaled<'_> {
    fn value(&self, x: &[f64]) -> f64 {
        self.f.value(x) * self.scale
    }

    fn gradient(&self, x: &[f64], g: &mut [f64]) {
        self.f.gradient(x, g);
        g.iter_mut().for_each(|v| *v *= self.scale);
    }
}

/// After [`fit_positive`]: a parameter that ran far out (|ln θ| > 7) without reaching the
/// optimiser's bound may be heading to 0 or ∞ along a flat ridge, where BFGS stops on a small
/// gradient at some arbitrary large value (e.g. Gamma-Gamma `p → ∞` when each customer's spend
/// never varies). For each such parameter, farthest first, the fit is redone with it fixed at the
/// bound (`|ln θ| = 25`); if that is at least as good, the optimum is at the boundary and is
/// reported as such in [`FitInfo::boundary`] (standard errors `None`, as `fit_positive` does).
///
fn settle_boundaries(
    names: &[&str],
    neg_ll: &dyn Objective,
    params: Vec<f64>,
    info: FitInfo,
    meaning: &dyn Fn(usize, bool) -> String,
) -> (Vec<f64>, FitInfo) {
    if !info.boundary.is_empty() {
        return (params, info);
    }
    let options = Options::default();
    let n = params.len();
    let mut x: Vec<f64> = params.iter().map(|p| p.ln()).collect();
    let mut value = neg_ll.value(&x);
    let mut fixed: Vec<Option<f64>> = vec![None; n];
    let mut order: Vec<usize> = (0..n).filter(|&i| x[i].abs() > 7.0).collect();
    order.sort_by(|a, b| x[*b].abs().total_cmp(&x[*a].abs()));
    let mut changed = false;
    let mut iterations = info.iterations;
    let mut converged = info.converged;
    for i in order {
        // Walk the parameter out to the bound in steps of 2 (in log space), re-fitting the others
        // from the previous step each time (a warm start keeps BFGS on the ridge); give up as
        // soon as the fit gets worse.
        let target = options.bound.copysign(x[i]);
        let mut trial = fixed.clone();
        let mut at = x.clone();
        let mut prev = x.clone();
        let mut v = value;
        let mut done = converged;
        let mut worse = false;
        let mut last_move = 0.0;
        while at[i] != target && !worse {
            let next = if (target - at[i]).abs() <= 2.0 {
                target
            } else {
                at[i] + 2.0f64.copysign(target)
            };
            let this_move = next - at[i];
            trial[i] = Some(next);
            let profile = Profile { f: neg_ll, fixed: &trial };
            // Start the others where the ridge is heading: linear extrapolation of their last
            // move, scaled to this move of parameter i.
            let ratio = if last_move == 0.0 { 0.0 } else { this_move / last_move };
            let limit = options.bound - 1e-3;
            let free: Vec<f64> = (0..n)
                .filter(|j| trial[*j].is_none())
                .map(|j| (at[j] + ratio * (at[j] - prev[j])).clamp(-limit, limit))
                .collect();
            prev = at.clone();
            last_move = this_move;
            if free.is_empty() {
                at = profile.expand(&[]);
                v = neg_ll.value(&at);
                done = true;
            } else {
                let m = minimize(&profile, &free, &options);
                iterations += m.iterations;
                at = profile.expand(&m.x);
                v = m.value;
                done = m.converged;
            }
            worse = !(v.is_finite() && v <= value + 1e-9 * (1.0 + value.abs()));
        }
        if !worse {
            x = at;
            value = v;
            fixed = trial;
            converged = done;
            changed = true;
        }
    }
    if !changed {
        return (params, info);
    }
    let boundary = (0..n)
        .filter(|&i| x[i].abs() >= options.bound - 1e-9)
        .map(|i| {
            let to_infinity = x[i] > 0.0;
            boundary_note(names[i], to_infinity, &meaning(i, to_infinity))
        })
        .collect();
    let info = FitInfo {
        standard_errors: vec![None; n],
        log_likelihood: -value,
        iterations,
        converged,
        boundary,
        ..info
    };
    (x.iter().map(|v| v.exp()).collect(), info)
}

/// `f` with some coordinates fixed, as a function of the others.
struct Profile<'a> {
    f: &'a dyn Objective,
    fixed: &'a [Option<f64>],
}

impl Profile<'_> {
    fn expand(&self, free: &[f64]) -> Vec<f64> {
        let mut it = free.iter();
        self.fixed
            .iter()
            .map(|fx| fx.unwrap_or_else(|| it.next().copied().unwrap_or(0.0)))
            .collect()
    }
}

impl Objective for Profile<'_> {
    fn value(&self, x: &[f64]) -> f64 {
        self.f.value(&self.expand(x))
    }

    fn gradient(&self, x: &[f64], g: &mut [f64]) {
        let full = self.expand(x);
        let mut gf = vec![0.0; full.len()];
        self.f.gradient(&full, &mut gf);
        let mut k = 0;
        for (j, fx) in self.fixed.iter().enumerate() {
            if fx.is_none() && k < g.len() {
                g[k] = gf[j];
                k += 1;
            }
        }
    }
}
