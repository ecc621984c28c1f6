//! What every fit reports, and the maximum-likelihood driver the models share.

use serde::{Deserialize, Serialize};

use crate::optim::{self, Objective, Options};

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

/// Fits parameters that must be positive by minimising `neg_ll` over their logarithms, from a
/// deterministic start. Returns the parameters and the [`FitInfo`] (standard errors via the delta
/// method: `se(θ) = θ · se(log θ)`).
///
/// `meaning` explains, per parameter, what reaching 0 or infinity says about the data.
#[allow(dead_code)] // used by the models, arriving in their own modules
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
            boundary.push(format!(
                "{} → {}: {}",
                names[i],
                if to_infinity { "∞" } else { "0" },
                meaning(i, to_infinity)
            ));
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
