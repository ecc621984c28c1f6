//! Deterministic minimisation for maximum likelihood: BFGS with a backtracking line search, in
//! whatever (usually log-) parameter space the caller works in, plus a finite-difference Hessian
//! for standard errors.
//!
//! No random starts: the same data always gives the same fit.

/// A function to minimise, with its gradient.
///
/// Implement [`Objective::gradient`] analytically where possible; the default uses central
/// differences (2·n evaluations).
pub trait Objective {
    /// The value at `x` (`f64::INFINITY` or NaN where undefined: the line search backs off).
    fn value(&self, x: &[f64]) -> f64;

    /// The gradient at `x`, written into `g`.
    fn gradient(&self, x: &[f64], g: &mut [f64]) {
        numeric_gradient(|p| self.value(p), x, g);
    }
}

/// Central-difference gradient of `f` at `x`.
///
/// # Examples
///
/// ```
/// let mut g = [0.0; 2];
/// crmkit_clv::optim::numeric_gradient(|p| p[0] * p[0] + 3.0 * p[1], &[2.0, 1.0], &mut g);
/// assert!((g[0] - 4.0).abs() < 1e-6 && (g[1] - 3.0).abs() < 1e-6);
/// ```
pub fn numeric_gradient(f: impl Fn(&[f64]) -> f64, x: &[f64], g: &mut [f64]) {
    let mut p = x.to_vec();
    for i in 0..x.len() {
        let h = 1e-6 * (1.0 + x[i].abs());
        p[i] = x[i] + h;
        let up = f(&p);
        p[i] = x[i] - h;
        let down = f(&p);
        p[i] = x[i];
        g[i] = (up - down) / (2.0 * h);
    }
}

/// Settings of [`minimize`].
///
/// # Examples
///
/// ```
/// let opts = crmkit_clv::optim::Options::default();
/// assert!(opts.max_iterations >= 100);
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Options {
    /// Stop after this many BFGS iterations.
    pub max_iterations: usize,
    /// Converged when the largest gradient component is below this.
    pub gradient_tolerance: f64,
    /// Each coordinate is kept within `[-bound, bound]`; reaching it marks a boundary optimum.
    pub bound: f64,
}

impl Default for Options {
    fn default() -> Self {
        Options { max_iterations: 500, gradient_tolerance: 1e-7, bound: 25.0 }
    }
}

/// The result of [`minimize`].
///
/// # Examples
///
/// ```
/// use crmkit_clv::optim::{minimize, Objective, Options};
/// struct Bowl;
/// impl Objective for Bowl {
///     fn value(&self, x: &[f64]) -> f64 { (x[0] - 1.0).powi(2) + (x[1] + 2.0).powi(2) }
/// }
/// let m = minimize(&Bowl, &[0.0, 0.0], &Options::default());
/// assert!(m.converged && (m.x[0] - 1.0).abs() < 1e-6 && (m.x[1] + 2.0).abs() < 1e-6);
/// assert!(m.at_bound.iter().all(|b| !b));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Minimum {
    /// The minimiser.
    pub x: Vec<f64>,
    /// The value there.
    pub value: f64,
    /// BFGS iterations used.
    pub iterations: usize,
    /// Whether the gradient tolerance was met (or the function stopped decreasing at a bound).
    pub converged: bool,
    /// Per coordinate: whether it ended at the bound (the optimum is at infinity in that direction).
    pub at_bound: Vec<bool>,
}

/// Minimises `f` from `x0` with BFGS and a backtracking (Armijo) line search, keeping every
/// coordinate within `±options.bound`.
///
/// A coordinate that reaches the bound is frozen there and the search continues over the others;
/// this is how a boundary optimum (e.g. no dropout: `b → ∞`) becomes a usable fit.
pub fn minimize(f: &dyn Objective, x0: &[f64], options: &Options) -> Minimum {
    let n = x0.len();
    let clamp = |v: f64| v.clamp(-options.bound, options.bound);
    let mut x: Vec<f64> = x0.iter().map(|v| clamp(*v)).collect();
    let mut fx = f.value(&x);
    let mut g = vec![0.0; n];
    f.gradient(&x, &mut g);
    let mut frozen = vec![false; n];
    // Inverse Hessian approximation, row-major.
    let mut h = identity(n);
    let mut converged = false;
    let mut iterations = 0;
    while iterations < options.max_iterations {
        iterations += 1;
        for i in 0..n {
            if frozen[i] {
                g[i] = 0.0;
            }
        }
        if max_abs(&g) < options.gradient_tolerance {
            converged = true;
            break;
        }
        // Direction d = -H g; fall back to steepest descent if it is not a descent direction.
        let mut d: Vec<f64> =
            (0..n).map(|i| -(0..n).map(|j| h[i * n + j] * g[j]).sum::<f64>()).collect();
        for i in 0..n {
            if frozen[i] {
                d[i] = 0.0;
            }
        }
        let mut slope: f64 = d.iter().zip(&g).map(|(a, b)| a * b).sum();
        if slope.is_nan() || slope >= 0.0 {
            h = identity(n);
            d = g.iter().map(|v| -v).collect();
            slope = -g.iter().map(|v| v * v).sum::<f64>();
        }
        // Backtracking line search, shortening the step so no coordinate passes the bound.
        let mut step = 1.0;
        let mut accepted = None;
        for _ in 0..60 {
            let trial: Vec<f64> = x.iter().zip(&d).map(|(xi, di)| clamp(xi + step * di)).collect();
            let ft = f.value(&trial);
            // Armijo on the step actually taken: clamping at the bound shortens it, and judging
            // the clamped point by the unclamped slope accepted jumps straight to the bounds.
            let taken: f64 = trial.iter().zip(&x).zip(&g).map(|((t, xi), gi)| (t - xi) * gi).sum();
            if ft.is_finite() && ft <= fx + 1e-4 * taken.min(0.0) {
                accepted = Some((trial, ft));
                break;
            }
            step *= 0.5;
        }
        let Some((x_new, f_new)) = accepted else {
            // No decrease possible along d: at a minimum to working precision.
            converged = max_abs(&g) < options.gradient_tolerance.sqrt();
            break;
        };
        let mut g_new = vec![0.0; n];
        f.gradient(&x_new, &mut g_new);
        for i in 0..n {
            if !frozen[i] && x_new[i].abs() >= options.bound {
                frozen[i] = true;
            }
            if frozen[i] {
                g_new[i] = 0.0;
            }
        }
        let s: Vec<f64> = x_new.iter().zip(&x).map(|(a, b)| a - b).collect();
        let y: Vec<f64> = g_new.iter().zip(&g).map(|(a, b)| a - b).collect();
        let sy: f64 = s.iter().zip(&y).map(|(a, b)| a * b).sum();
        let improvement = fx - f_new;
        x = x_new;
        fx = f_new;
        g = g_new;
        if sy > 1e-12 {
            bfgs_update(&mut h, &s, &y, sy);
        }
        if improvement.abs() <= 1e-14 * (1.0 + fx.abs())
            && max_abs(&g) < options.gradient_tolerance.sqrt()
        {
            converged = true;
            break;
        }
    }
    let at_bound = x.iter().map(|v| v.abs() >= options.bound - 1e-9).collect();
    Minimum { x, value: fx, iterations, converged, at_bound }
}

fn identity(n: usize) -> Vec<f64> {
    let mut m = vec![0.0; n * n];
    for i in 0..n {
        m[i * n + i] = 1.0;
    }
    m
}

fn max_abs(v: &[f64]) -> f64 {
    v.iter().fold(0.0, |m, x| m.max(x.abs()))
}

/// H ← (I − ρ s yᵀ) H (I − ρ y sᵀ) + ρ s sᵀ, with ρ = 1 / (yᵀ s).
fn bfgs_update(h: &mut [f64], s: &[f64], y: &[f64], sy: f64) {
    let n = s.len();
    let rho = 1.0 / sy;
    let hy: Vec<f64> = (0..n).map(|i| (0..n).map(|j| h[i * n + j] * y[j]).sum()).collect();
    let yhy: f64 = y.iter().zip(&hy).map(|(a, b)| a * b).sum();
    for i in 0..n {
        for j in 0..n {
            h[i * n + j] +=
                -rho * (hy[i] * s[j] + s[i] * hy[j]) + (rho * rho * yhy + rho) * s[i] * s[j];
        }
    }
}

/// The Hessian of `f` at `x` by central differences of the gradient, symmetrised (row-major).
///
/// # Examples
///
/// ```
/// use crmkit_clv::optim::{hessian, Objective};
/// struct Q;
/// impl Objective for Q { fn value(&self, x: &[f64]) -> f64 { 3.0 * x[0] * x[0] + x[0] * x[1] } }
/// let h = hessian(&Q, &[1.0, 1.0]);
/// assert!((h[0] - 6.0).abs() < 1e-4 && (h[1] - 1.0).abs() < 1e-4 && h[3].abs() < 1e-4);
/// ```
pub fn hessian(f: &dyn Objective, x: &[f64]) -> Vec<f64> {
    let n = x.len();
    let mut out = vec![0.0; n * n];
    let mut p = x.to_vec();
    let mut up = vec![0.0; n];
    let mut down = vec![0.0; n];
    for i in 0..n {
        let h = 1e-4 * (1.0 + x[i].abs());
        p[i] = x[i] + h;
        f.gradient(&p, &mut up);
        p[i] = x[i] - h;
        f.gradient(&p, &mut down);
        p[i] = x[i];
        for j in 0..n {
            out[i * n + j] = (up[j] - down[j]) / (2.0 * h);
        }
    }
    for i in 0..n {
        for j in 0..i {
            let m = 0.5 * (out[i * n + j] + out[j * n + i]);
            out[i * n + j] = m;
            out[j * n + i] = m;
        }
    }
    out
}

/// The inverse of a small symmetric positive-definite matrix (Cholesky), or `None` if it is not
/// positive definite (then standard errors are not defined).
///
/// # Examples
///
/// ```
/// let inv = crmkit_clv::optim::invert_spd(&[4.0, 0.0, 0.0, 2.0]).unwrap();
/// assert!((inv[0] - 0.25).abs() < 1e-12 && (inv[3] - 0.5).abs() < 1e-12);
/// assert!(crmkit_clv::optim::invert_spd(&[0.0, 1.0, 1.0, 0.0]).is_none());
/// ```
pub fn invert_spd(m: &[f64]) -> Option<Vec<f64>> {
    let n = (m.len() as f64).sqrt() as usize;
    if n * n != m.len() {
        return None;
    }
    // Cholesky: m = L Lᵀ.
    let mut l = vec![0.0; n * n];
    for i in 0..n {
        for j in 0..=i {
            let mut sum = m[i * n + j];
            for k in 0..j {
                sum -= l[i * n + k] * l[j * n + k];
            }
            if i == j {
                if sum.is_nan() || sum <= 0.0 {
                    return None;
                }
                l[i * n + i] = sum.sqrt();
            } else {
                l[i * n + j] = sum / l[j * n + j];
            }
        }
    }
    // Invert column by column: solve L Lᵀ x = e_k.
    let mut inv = vec![0.0; n * n];
    for k in 0..n {
        let mut y = vec![0.0; n];
        for i in 0..n {
            let mut sum = if i == k { 1.0 } else { 0.0 };
            for j in 0..i {
                sum -= l[i * n + j] * y[j];
            }
            y[i] = sum / l[i * n + i];
        }
        let mut x = vec![0.0; n];
        for i in (0..n).rev() {
            let mut sum = y[i];
            for j in i + 1..n {
                sum -= l[j * n + i] * x[j];
            }
            x[i] = sum / l[i * n + i];
        }
        for i in 0..n {
            inv[i * n + k] = x[i];
        }
    }
    Some(inv)
}
