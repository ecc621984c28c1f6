//! The code BG/NBD ([`crate::bgnbd`]) and MBG/NBD ([`crate::mbgnbd`]) share.
//!
//! The two models are one model with a switch: a customer may drop out right after each repeat
//! purchase (BG/NBD), or right after the first purchase too (MBG/NBD), so a customer with `x`
//! repeat purchases has survived `x` or `x + 1` dropout opportunities ([`Variant`]). Everything
//! else — the likelihood and its gradient, the fit, P(alive), the posterior expectations `G` and
//! `S` (series and quadrature), the purchase-count distribution — is the same code with that
//! shift, kept here once rather than in either model's file. The mathematics is in the
//! [`crate::bgnbd`] and [`crate::mbgnbd`] module docs.

use std::cell::RefCell;

use crate::data::Cells;
use crate::error::{ClvError, Result};
use crate::fit::{self, FitInfo};
use crate::optim::{Objective, Options};
use crate::special::{LogSum, digamma, ln_beta, ln_gamma, logistic, reg_inc_beta, softplus};

/// The parameter names of both models, in the order of [`FitInfo::parameters`].
pub(crate) const PARAMETERS: [&str; 4] = ["r", "alpha", "a", "b"];

// ---------------------------------------------------------------------------------------------

/// Which of the two beta-geometric models.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Variant {
    /// BG/NBD: dropout after repeat purchases only; `(1−p)^x` survives `x` repeat purchases.
    Bg,
    /// MBG/NBD: dropout also right after the first purchase; `(1−p)^(x+1)`.
    Mbg,
}

impl Variant {
    /// Extra purchase opportunities to survive beyond `x`: 0 (BG) or 1 (MBG).
    fn shift(self) -> f64 {
        match self {
            Variant::Bg => 0.0,
            Variant::Mbg => 1.0,
        }
    }

    /// Whether a customer with `x` repeat purchases may already have dropped out.
    fn can_have_dropped(self, x: f64) -> bool {
        match self {
            Variant::Bg => x > 0.0,
            Variant::Mbg => true,
        }
    }
}

/// Checks model parameters: finite and > 0, named as in `PARAMETERS`.
pub(crate) fn check_parameters(values: &[f64; 4]) -> Result<()> {
    for (name, v) in PARAMETERS.iter().zip(values) {
        if !(v.is_finite() && *v > 0.0) {
            return Err(ClvError::InvalidParameter {
                name: (*name).to_owned(),
                message: format!("{v} is not a finite number > 0"),
            });
        }
    }
    Ok(())
}

/// Checks a prediction horizon `t ≥ 0`, finite.
fn check_horizon(t: f64) -> Result<()> {
    if t.is_finite() && t >= 0.0 {
        Ok(())
    } else {
        Err(ClvError::InvalidParameter {
            name: "t".into(),
            message: format!("{t} is not a finite number ≥ 0"),
        })
    }
}

// Every model checks its prediction columns with the same rule.
use crate::data::check_prediction_columns as check_columns;

/// ln of the odds that a customer has dropped out rather than being alive at `T`:
/// `ln(a/(b+x−1+s)) + (r+x) (ln(α+T) − ln(α+t_x))`; −∞ when they cannot have dropped out.
fn ln_dropout_odds(v: Variant, p: &[f64; 4], x: f64, t_x: f64, big_t: f64) -> f64 {
    let [r, alpha, a, b] = *p;
    if !v.can_have_dropped(x) {
        return f64::NEG_INFINITY;
    }
    let k = b + x - 1.0 + v.shift();
    // ln((α+T)/(α+t_x)) without cancellation when T ≈ t_x.
    let ln_ratio = ((big_t - t_x) / (alpha + t_x)).ln_1p();
    a.ln() - k.ln() + (r + x) * ln_ratio
}

/// Per-customer predictions: P(alive) alone (`what = None`) or times the posterior
/// expectation of `kind` over the horizon `t`.
pub(crate) fn conditional(
    v: Variant,
    p: [f64; 4],
    what: Option<(Kind, f64)>,
    x: &[f64],
    t_x: &[f64],
    big_t: &[f64],
) -> Result<Vec<f64>> {
    if let Some((_, t)) = what {
        check_horizon(t)?;
    }
    check_columns(x, t_x, big_t)?;
    let [r, alpha, a, b] = p;
    let mut out = Vec::with_capacity(x.len());
    // The posterior expectation depends on (x, T) only, which customer bases repeat a lot
    // (CLV asks for it once per customer and month): compute each distinct pair once.
    let mut seen: std::collections::HashMap<(u64, u64), f64> = std::collections::HashMap::new();
    for i in 0..x.len() {
        let alive = logistic(-ln_dropout_odds(v, &p, x[i], t_x[i], big_t[i]));
        let value = match what {
            None => alive,
            Some((kind, t)) => {
                if alive == 0.0 {
                    0.0
                } else {
                    let e =
                        *seen.entry((x[i].to_bits(), big_t[i].to_bits())).or_insert_with(|| {
                            expectation(
                                kind,
                                r + x[i],
                                alpha + big_t[i],
                                a,
                                b + x[i] + v.shift(),
                                t,
                            )
                        });
                    alive * e
                }
            }
        };
        out.push(value);
    }
    Ok(out)
}

/// [`conditional`] of expected purchases for several horizons: P(alive) and the (x, T) groups are
/// computed once, the posterior expectation once per group and horizon.
pub(crate) fn conditional_multi(
    v: Variant,
    p: [f64; 4],
    ts: &[f64],
    x: &[f64],
    t_x: &[f64],
    big_t: &[f64],
) -> Result<Vec<Vec<f64>>> {
    for &t in ts {
        check_horizon(t)?;
    }
    check_columns(x, t_x, big_t)?;
    let [r, alpha, a, b] = p;
    let n = x.len();
    let mut alive = Vec::with_capacity(n);
    let mut group = Vec::with_capacity(n);
    let mut keys: Vec<(f64, f64)> = Vec::new();
    let mut index: std::collections::HashMap<(u64, u64), u32> = std::collections::HashMap::new();
    for i in 0..n {
        alive.push(logistic(-ln_dropout_odds(v, &p, x[i], t_x[i], big_t[i])));
        let g = *index.entry((x[i].to_bits(), big_t[i].to_bits())).or_insert_with(|| {
            keys.push((x[i], big_t[i]));
            (keys.len() - 1) as u32
        });
        group.push(g);
    }
    let mut out = Vec::with_capacity(ts.len());
    for &t in ts {
        let e: Vec<f64> = keys
            .iter()
            .map(|&(xg, tg)| {
                expectation(Kind::Purchases, r + xg, alpha + tg, a, b + xg + v.shift(), t)
            })
            .collect();
        out.push(
            (0..n)
                .map(|i| if alive[i] == 0.0 { 0.0 } else { alive[i] * e[group[i] as usize] })
                .collect(),
        );
    }
    Ok(out)
}

/// Discounted expected purchases: P(alive) and the (x, T) groups once, and per group the
/// weighted sum of the posterior expectation's increments.
pub(crate) fn conditional_discounted(
    v: Variant,
    p: [f64; 4],
    steps: &[(f64, f64, f64)],
    x: &[f64],
    t_x: &[f64],
    big_t: &[f64],
) -> Result<Vec<f64>> {
    for &(u, l, _) in steps {
        check_horizon(u)?;
        check_horizon(l)?;
    }
    check_columns(x, t_x, big_t)?;
    let [r, alpha, a, b] = p;
    let mut out = Vec::with_capacity(x.len());
    let mut per_group: std::collections::HashMap<(u64, u64), f64> =
        std::collections::HashMap::new();
    for i in 0..x.len() {
        let alive = logistic(-ln_dropout_odds(v, &p, x[i], t_x[i], big_t[i]));
        if alive == 0.0 {
            out.push(0.0);
            continue;
        }
        let d = *per_group.entry((x[i].to_bits(), big_t[i].to_bits())).or_insert_with(|| {
            let e = |t: f64| {
                if t == 0.0 {
                    0.0
                } else {
                    expectation(
                        Kind::Purchases,
                        r + x[i],
                        alpha + big_t[i],
                        a,
                        b + x[i] + v.shift(),
                        t,
                    )
                }
            };
            steps.iter().map(|&(u, l, w)| w * (e(u) - e(l))).sum()
        });
        out.push(alive * d);
    }
    Ok(out)
}

/// P(X(t) = n) for a new customer of either variant (NaN for an invalid `t`).
pub(crate) fn purchases_pmf(v: Variant, p: [f64; 4], t: f64, n: u32) -> f64 {
    if !(t.is_finite() && t >= 0.0) {
        return f64::NAN;
    }
    let [r, alpha, a, b] = p;
    let nf = f64::from(n);
    let s = v.shift();
    // K ~ NB: potential purchases in (0, t] of a customer who never drops out.
    let u = t / alpha;
    let (ln_z, ln_q) =
        if u == 0.0 { (f64::NEG_INFINITY, 0.0) } else { (u.ln() - u.ln_1p(), -u.ln_1p()) };
    let ln_pk = if n == 0 {
        r * ln_q
    } else if u == 0.0 {
        f64::NEG_INFINITY
    } else {
        ln_gamma(r + nf) - ln_gamma(r) - ln_gamma(nf + 1.0) + r * ln_q + nf * ln_z
    };
    let lb = ln_beta(a, b);
    // Survived all n purchases (and, for MBG, the first one): makes exactly n if K = n.
    let survive = (ln_beta(a, b + nf + s) - lb + ln_pk).exp();
    // Dropped out right after the n-th purchase (BG: n ≥ 1; MBG: n ≥ 0): needs K ≥ n.
    let dropped = if n == 0 && v == Variant::Bg {
        0.0
    } else {
        let tail = if n == 0 { 1.0 } else { nb_survival(r, nf, ln_z, ln_q) };
        (ln_beta(a + 1.0, b + nf + s - 1.0) - lb).exp() * tail
    };
    (survive + dropped).clamp(0.0, 1.0)
}

/// P(K ≥ n) for K negative binomial with `P(K=k) ∝ Γ(r+k)/k! z^k`, `n ≥ 1`: the regularized
/// incomplete beta function `I_z(n, r)` (given ln z and ln(1−z) to keep precision near 1).
fn nb_survival(r: f64, n: f64, ln_z: f64, ln_q: f64) -> f64 {
    if ln_z == f64::NEG_INFINITY {
        return 0.0;
    }
    reg_inc_beta(n, r, ln_z, ln_q)
}

// ---------------------------------------------------------------------------------------------
// Posterior expectations over λ ~ Gamma(r, α), p ~ Beta(a, b) for a customer alive at the start
// of a horizon t.
// ---------------------------------------------------------------------------------------------

/// Which expectation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Expected purchases in the horizon: `G = E[(1 − (1+p t/α)^(−r)) / p]`.
    Purchases,
    /// Probability of surviving the horizon: `S = E[(1+p t/α)^(−r)]`.
    Survival,
}

/// Beyond this many series terms, use the quadrature.
const MAX_SERIES_TERMS: f64 = 4000.0;

/// `G` or `S` (see [`Kind`]) for `λ ~ Gamma(r, α)`, `p ~ Beta(a, b)`, horizon `t ≥ 0`.
pub(crate) fn expectation(kind: Kind, r: f64, alpha: f64, a: f64, b: f64, t: f64) -> f64 {
    let u = t / alpha;
    if u == 0.0 {
        return match kind {
            Kind::Purchases => 0.0,
            Kind::Survival => 1.0,
        };
    }
    match series(r, a, b, u, MAX_SERIES_TERMS) {
        Some((g, s)) => match kind {
            Kind::Purchases => g,
            Kind::Survival => s,
        },
        None => quadrature(kind, r, a, b, u),
    }
}

/// The negative-binomial series for `(G, S)` with `u = t/α > 0`, or `None` if it would need
/// more than about `max_terms` terms.
///
/// `K ~ NB` with `P(K=k) = Γ(r+k)/(Γ(r) k!) (1+u)^(−r) (u/(1+u))^k`, `s_k = (b)_k/(a+b)_k`,
/// `m_k = Σ_{j<k} s_j`: `G = Σ_k P(K=k) m_k`, `S = Σ_k P(K=k) s_k`. All terms are positive; the
/// pmf is carried as a scaled value with a separate log scale, so nothing under- or overflows.
fn series(r: f64, a: f64, b: f64, u: f64, max_terms: f64) -> Option<(f64, f64)> {
    let mean = r * u;
    let estimate = mean + 12.0 * (mean * (1.0 + u)).sqrt() + 40.0 * (1.0 + u) + 50.0;
    if estimate.is_nan() || estimate > max_terms {
        return None;
    }
    let z = u / (1.0 + u);
    let mut ln_scale = -r * u.ln_1p(); // ln P(K = 0)
    let mut w = 1.0; // P(K = k) / e^ln_scale
    let mut s = 1.0; // s_k
    let mut m = 0.0; // m_k
    let mut sum_g = 0.0;
    let mut sum_s = 1.0;
    let mut k = 0.0;
    let limit = 4.0 * max_terms;
    while k < limit {
        let ratio = (r + k) * z / (k + 1.0);
        m += s;
        s *= (b + k) / (a + b + k);
        w *= ratio;
        k += 1.0;
        sum_g += w * m;
        sum_s += w * s;
        if w > 1e250 {
            ln_scale += w.ln();
            sum_g /= w;
            sum_s /= w;
            w = 1.0;
        }
        // Every later ratio P(K=j+1)/P(K=j) is at most rho (they tend monotonically to z).
        let rho = ((r + k) * z / (k + 1.0)).max(z);
        if rho < 1.0 {
            let q = rho / (1.0 - rho);
            let rest_g = w * (m * q + s * q / (1.0 - rho));
            let rest_s = w * s * q;
            if rest_g <= 1e-17 * sum_g && rest_s <= 1e-17 * sum_s {
                let g = (ln_scale + sum_g.ln()).exp();
                let sv = (ln_scale + sum_s.ln()).exp();
                return Some((g, sv.min(1.0)));
            }
        }
    }
    None
}

/// `G` or `S` by the trapezoidal rule over `y = logit(p)`, `p ~ Beta(a, b)`, `u > 0`.
///
/// The integrand `φ(σ(y)) σ(y)^a σ(−y)^b / B(a, b)` is analytic in the strip `|Im y| < π/2`, so
/// the trapezoidal rule converges geometrically in the step (error ~ e^(−π²/h) for step h, with
/// a smaller step when the integrand is concentrated). Beyond `[A, B]` the integrand is
/// `C e^(a y) (1 + c₁ e^y)` (resp. `C e^(−b y) (1 + c₂ e^(−y))`) to relative 1e-16, and the grid
/// points there are summed in closed form as geometric series.
fn quadrature(kind: Kind, r: f64, a: f64, b: f64, u: f64) -> f64 {
    let l1pu = u.ln_1p();
    // φ(p) ≈ φ(0) (1 − c0 p) near p = 0, and ln φ(p) ≈ ln φ(1) + dlnphi1 (p − 1) near p = 1.
    let (ln_phi0, c0, ln_phi1, dlnphi1) = match kind {
        Kind::Purchases => {
            let big = r * l1pu;
            (
                r.ln() + u.ln(),
                (r + 1.0) * u / 2.0,
                (-(-big).exp_m1()).ln(),
                -1.0 + (r * u / (1.0 + u)) / big.exp_m1(),
            )
        }
        Kind::Survival => (0.0, r * u, -r * l1pu, -r * u / (1.0 + u)),
    };
    let ln_phi = |p: f64, ln_p: f64| -> f64 {
        match kind {
            Kind::Purchases => (-(-r * (p * u).ln_1p()).exp_m1()).ln() - ln_p,
            Kind::Survival => -r * (p * u).ln_1p(),
        }
    };
    let lb = ln_beta(a, b);
    let kappa = 1.0 + (a + b + r) / 4.0;
    let h = (0.5 / kappa.sqrt()).min(0.25);
    let left = -(1e8 * (1.0 + a + b + c0)).ln();
    let right = (1e8 * (1.0 + a + b + dlnphi1.abs())).ln();
    let n = ((right - left) / h).ceil().max(1.0);
    let right = left + n * h;
    let ln_f = |y: f64| -> f64 {
        let ln_p = -softplus(-y);
        let ln_q = -softplus(y);
        ln_phi(ln_p.exp(), ln_p) + a * ln_p + b * ln_q - lb
    };
    // Coarse pass (step ≈ 0.25) to find where the integrand is not negligible.
    let stride = (0.25 / h).floor().max(1.0);
    let mut coarse_max = f64::NEG_INFINITY;
    let mut coarse = Vec::new();
    let mut k = 0.0;
    while k <= n {
        let v = ln_f(left + k * h);
        coarse_max = coarse_max.max(v);
        coarse.push((k, v));
        k += stride;
    }
    let keep = |v: f64| v >= coarse_max - 120.0;
    let first = coarse.iter().find(|(_, v)| keep(*v)).map_or(0.0, |(k, _)| *k);
    let last = coarse.iter().rev().find(|(_, v)| keep(*v)).map_or(n, |(k, _)| *k);
    let (k0, k1) = ((first - stride).max(0.0), (last + stride).min(n));
    let mut acc = LogSum::default();
    let mut k = k0;
    while k <= k1 {
        acc.add(ln_f(left + k * h));
        k += 1.0;
    }
    // Grid points left of `left`: y = left − j h, j ≥ 1.
    let c1 = -(a + b) - c0;
    let tail_l = 1.0 / (a * h).exp_m1() + c1 * left.exp() / ((a + 1.0) * h).exp_m1();
    acc.add(ln_phi0 - lb + a * left + tail_l.ln());
    // Grid points right of `right`: y = right + j h, j ≥ 1.
    let c2 = -(a + b) - dlnphi1;
    let tail_r = 1.0 / (b * h).exp_m1() + c2 * (-right).exp() / ((b + 1.0) * h).exp_m1();
    acc.add(ln_phi1 - lb - b * right + tail_r.ln());
    let value = (acc.ln() + h.ln()).exp();
    match kind {
        Kind::Purchases => value,
        Kind::Survival => value.min(1.0),
    }
}

// ---------------------------------------------------------------------------------------------
// Likelihood and fit.
// ---------------------------------------------------------------------------------------------

/// Cells prepared for fast likelihood evaluations: distinct `x`, `T` and `t_x` values, per-cell
/// indices into them, and weight aggregates.
#[derive(Debug, Clone)]
pub(crate) struct Likelihood {
    variant: Variant,
    /// Distinct x, ascending, with total weight and, per x, the range of `cell_*` rows.
    xs: Vec<f64>,
    x_weight: Vec<f64>,
    x_range: Vec<(usize, usize)>,
    /// Whether every x is a whole number (then the rising-factorial sums are exact sums).
    whole: bool,
    /// Distinct T, with Σ w and Σ w x per T.
    ts: Vec<f64>,
    t_weight: Vec<f64>,
    t_xweight: Vec<f64>,
    /// Distinct t_x.
    txs: Vec<f64>,
    /// Cells that may have dropped out, grouped by x: indices into `ts` and `txs`, weight.
    cell_t: Vec<u32>,
    cell_tx: Vec<u32>,
    cell_w: Vec<f64>,
    total_weight: f64,
    cells: usize,
}

/// Sorted distinct values and the index of each input value among them (a small open-addressing
/// hash table on the bit patterns: O(n), no sort of the n values).
fn distinct(values: &[f64]) -> (Vec<f64>, Vec<u32>) {
    const EMPTY: u32 = u32::MAX;
    let mut bits_log = 6u32;
    let mut slots = vec![EMPTY; 1 << bits_log];
    let mut uniq: Vec<f64> = Vec::new();
    let mut first: Vec<u32> = Vec::with_capacity(values.len());
    let slot_of = |bits: u64, bits_log: u32| -> usize {
        (bits.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - bits_log)) as usize
    };
    let mut last: Option<(u64, u32)> = None;
    for &v in values {
        let bits = v.to_bits();
        // Cells usually come sorted, so values repeat in runs.
        if let Some((lb, id)) = last
            && lb == bits
        {
            first.push(id);
            continue;
        }
        if 2 * (uniq.len() + 1) > slots.len() {
            bits_log += 1;
            slots = vec![EMPTY; 1 << bits_log];
            for (id, u) in uniq.iter().enumerate() {
                let mut s = slot_of(u.to_bits(), bits_log);
                while slots[s] != EMPTY {
                    s = (s + 1) & (slots.len() - 1);
                }
                slots[s] = id as u32;
            }
        }
        let mut s = slot_of(bits, bits_log);
        let id = loop {
            let id = slots[s];
            if id == EMPTY {
                slots[s] = uniq.len() as u32;
                uniq.push(v);
                break slots[s];
            }
            if uniq[id as usize].to_bits() == bits {
                break id;
            }
            s = (s + 1) & (slots.len() - 1);
        };
        first.push(id);
        last = Some((bits, id));
    }
    let mut order: Vec<usize> = (0..uniq.len()).collect();
    order.sort_by(|&i, &j| uniq[i].total_cmp(&uniq[j]));
    let mut rank = vec![0u32; uniq.len()];
    for (r, &i) in order.iter().enumerate() {
        rank[i] = r as u32;
    }
    let sorted = order.iter().map(|&i| uniq[i]).collect();
    (sorted, first.iter().map(|&id| rank[id as usize]).collect())
}

/// Per distinct x: `ln (r)_x`, `ln B(a, b+x+s) − ln B(a, b)` and their derivatives.
#[derive(Debug, Clone, Copy, Default)]
struct XTerms {
    ln_r: f64,
    d_r: f64,
    ln_beta: f64,
    d_a: f64,
    d_b: f64,
}

impl Likelihood {
    pub(crate) fn new(cells: &Cells, variant: Variant) -> Likelihood {
        let n = cells.len().min(cells.t_x.len()).min(cells.t.len()).min(cells.weight.len());
        let (xs, xi) = distinct(&cells.x[..n]);
        let (ts, ti) = distinct(&cells.t[..n]);
        let (txs, txi) = distinct(&cells.t_x[..n]);
        let mut x_weight = vec![0.0; xs.len()];
        let mut t_weight = vec![0.0; ts.len()];
        let mut t_xweight = vec![0.0; ts.len()];
        let mut total_weight = 0.0;
        // Counting sort of the droppable cells by x.
        let mut count = vec![0usize; xs.len() + 1];
        for i in 0..n {
            let (w, j) = (cells.weight[i], xi[i] as usize);
            total_weight += w;
            x_weight[j] += w;
            t_weight[ti[i] as usize] += w;
            t_xweight[ti[i] as usize] += w * cells.x[i];
            if variant.can_have_dropped(xs[j]) {
                count[j + 1] += 1;
            }
        }
        for j in 0..xs.len() {
            count[j + 1] += count[j];
        }
        let x_range: Vec<(usize, usize)> =
            (0..xs.len()).map(|j| (count[j], count[j + 1])).collect();
        let m = count[xs.len()];
        let (mut cell_t, mut cell_tx, mut cell_w) = (vec![0u32; m], vec![0u32; m], vec![0.0; m]);
        for i in 0..n {
            let j = xi[i] as usize;
            if variant.can_have_dropped(xs[j]) {
                let c = count[j];
                count[j] += 1;
                cell_t[c] = ti[i];
                cell_tx[c] = txi[i];
                cell_w[c] = cells.weight[i];
            }
        }
        let whole = xs.iter().all(|x| x.fract() == 0.0 && *x <= 1e7);
        Likelihood {
            variant,
            xs,
            x_weight,
            x_range,
            whole,
            ts,
            t_weight,
            t_xweight,
            txs,
            cell_t,
            cell_tx,
            cell_w,
            total_weight,
            cells: n,
        }
    }

    /// The total log-likelihood at `p = [r, α, a, b]`.
    pub(crate) fn log_likelihood(&self, p: &[f64; 4]) -> f64 {
        self.value(p, None)
    }

    /// The total log-likelihood; if `pi` is given, also stores per droppable cell the posterior
    /// probability `π` that the customer has dropped out (the weight of the second likelihood
    /// term), which is all [`Likelihood::gradient`] needs from the cells.
    fn value(&self, p: &[f64; 4], mut pi: Option<&mut Vec<f64>>) -> f64 {
        let [r, alpha, a, b] = *p;
        let s = self.variant.shift();
        let mut ll = 0.0;
        for (t, w) in self.per_x_terms(p, false).iter().zip(&self.x_weight) {
            ll += w * (t.ln_r + t.ln_beta);
        }
        ll += self.total_weight * r * alpha.ln();
        // −(r+x) ln(α+T), summed by T.
        let lt: Vec<f64> = self.ts.iter().map(|t| (alpha + t).ln()).collect();
        for ((tw, txw), l) in self.t_weight.iter().zip(&self.t_xweight).zip(&lt) {
            ll -= (r * tw + txw) * l;
        }
        // Σ w softplus(d), d = ln(a/k_x) + (r+x)(ln(α+T) − ln(α+t_x)): the log of the bracket
        // `1 + a/k_x ((α+T)/(α+t_x))^(r+x)` of the likelihood. softplus(d) = max(d, 0) +
        // ln(1 + e^−|d|); for the (usual) cells of weight 1 the logarithms are taken of running
        // products, one logarithm per ~900 cells instead of one per cell.
        let ltx: Vec<f64> = self.txs.iter().map(|t| (alpha + t).ln()).collect();
        if let Some(pi) = pi.as_deref_mut() {
            pi.clear();
            pi.resize(self.cell_w.len(), 0.0);
        }
        let ln_a = a.ln();
        let mut positive = 0.0;
        let mut ln_sum = 0.0;
        let mut product = 1.0;
        for (j, &x) in self.xs.iter().enumerate() {
            let (start, end) = self.x_range[j];
            let rx = r + x;
            let lc = ln_a - (b + x - 1.0 + s).ln();
            for c in start..end {
                let w = self.cell_w[c];
                let d = lc + rx * (lt[self.cell_t[c] as usize] - ltx[self.cell_tx[c] as usize]);
                let e = (-d.abs()).exp();
                positive += w * d.max(0.0);
                if w == 1.0 {
                    // 1 + e ≤ 2: the product stays below 2e280 before it is flushed.
                    product *= 1.0 + e;
                    if product > 1e280 {
                        ln_sum += product.ln();
                        product = 1.0;
                    }
                } else {
                    ln_sum += w * e.ln_1p();
                }
                if let Some(pi) = pi.as_deref_mut() {
                    // σ(d) = 1/(1+e) for d > 0, e/(1+e) otherwise (a select, not a branch).
                    let numerator = if d > 0.0 { 1.0 } else { e };
                    pi[c] = numerator / (1.0 + e);
                }
            }
        }
        ll + positive + ln_sum + product.ln()
    }

    /// The gradient of the total log-likelihood in `(r, α, a, b)`, given the per-cell dropout
    /// weights `pi` from [`Likelihood::value`] at the same `p`.
    fn gradient(&self, p: &[f64; 4], pi: &[f64]) -> [f64; 4] {
        let [r, alpha, a, b] = *p;
        let s = self.variant.shift();
        let (mut dr, mut dalpha, mut da, mut db) = (0.0, 0.0, 0.0, 0.0);
        for (t, w) in self.per_x_terms(p, true).iter().zip(&self.x_weight) {
            dr += w * t.d_r;
            da += w * t.d_a;
            db += w * t.d_b;
        }
        dr += self.total_weight * alpha.ln();
        dalpha += self.total_weight * r / alpha;
        let lt: Vec<f64> = self.ts.iter().map(|t| (alpha + t).ln()).collect();
        let inv_t: Vec<f64> = self.ts.iter().map(|t| 1.0 / (alpha + t)).collect();
        for j in 0..self.ts.len() {
            dr -= self.t_weight[j] * lt[j];
            dalpha -= (r * self.t_weight[j] + self.t_xweight[j]) * inv_t[j];
        }
        let ltx: Vec<f64> = self.txs.iter().map(|t| (alpha + t).ln()).collect();
        let inv_tx: Vec<f64> = self.txs.iter().map(|t| 1.0 / (alpha + t)).collect();
        for (j, &x) in self.xs.iter().enumerate() {
            let (start, end) = self.x_range[j];
            if start == end {
                continue;
            }
            let (mut sb, mut sb_dr, mut sb_dalpha) = (0.0, 0.0, 0.0);
            for c in start..end {
                let (ti, txi) = (self.cell_t[c] as usize, self.cell_tx[c] as usize);
                let wp = self.cell_w[c] * pi.get(c).copied().unwrap_or(0.0);
                sb += wp;
                sb_dr += wp * (lt[ti] - ltx[txi]);
                sb_dalpha += wp * (inv_t[ti] - inv_tx[txi]);
            }
            dr += sb_dr;
            dalpha += (r + x) * sb_dalpha;
            da += sb / a;
            db -= sb / (b + x - 1.0 + s);
        }
        [dr, dalpha, da, db]
    }

    /// Per distinct x: `ln (r)_x = ln Γ(r+x) − ln Γ(r)`, `ln B(a, b+x+s) − ln B(a, b)
    /// = Σ_{j<x+s} ln(1 − a/(a+b+j))`, and (if `want_grad`) the derivatives in r, a, b.
    fn per_x_terms(&self, p: &[f64; 4], want_grad: bool) -> Vec<XTerms> {
        let [r, _, a, b] = *p;
        let s = self.variant.shift();
        let mut out = Vec::with_capacity(self.xs.len());
        let max_n = self.xs.last().map_or(0.0, |x| x + s);
        if self.whole && max_n <= 200_000.0 {
            // Exact cumulative sums over j, read off at each distinct x: stable for any
            // parameters (no difference of large ln Γ values when b → ∞).
            let mut acc = XTerms::default();
            let (mut jr, mut jab) = (0.0, 0.0);
            for &x in &self.xs {
                while jr < x {
                    acc.ln_r += (r + jr).ln();
                    if want_grad {
                        acc.d_r += 1.0 / (r + jr);
                    }
                    jr += 1.0;
                }
                while jab < x + s {
                    let c = a + b + jab;
                    acc.ln_beta += (-a / c).ln_1p();
                    if want_grad {
                        acc.d_a -= 1.0 / c;
                        acc.d_b += a / ((b + jab) * c);
                    }
                    jab += 1.0;
                }
                out.push(acc);
            }
        } else {
            let (psi_r, psi_b, psi_ab) =
                if want_grad { (digamma(r), digamma(b), digamma(a + b)) } else { (0.0, 0.0, 0.0) };
            let (lg_r, lg_b, lg_ab) = (ln_gamma(r), ln_gamma(b), ln_gamma(a + b));
            for &x in &self.xs {
                let n = x + s;
                let mut t = XTerms {
                    ln_r: ln_gamma(r + x) - lg_r,
                    ln_beta: ln_gamma(b + n) - lg_b - ln_gamma(a + b + n) + lg_ab,
                    ..XTerms::default()
                };
                if want_grad {
                    let psi_abn = digamma(a + b + n);
                    t.d_r = digamma(r + x) - psi_r;
                    t.d_a = psi_ab - psi_abn;
                    t.d_b = digamma(b + n) - psi_b + psi_ab - psi_abn;
                }
                out.push(t);
            }
        }
        out
    }
}

/// The negative log-likelihood **per customer** over log-parameters, for the optimiser.
///
/// Per customer (the total divided by the number of customers), as lifetimes does: the
/// optimiser's first step is along the raw gradient, which for the total of thousands of
/// customers is thousands of times too long and costs a dozen halvings. The value pass keeps
/// each cell's dropout weight `π`, so the gradient at the point just evaluated (which is what
/// BFGS asks for next) costs no further exponential.
struct NegLogLik<'a> {
    lik: &'a Likelihood,
    scale: f64,
    cache: RefCell<Cache>,
}

#[derive(Debug, Default)]
struct Cache {
    key: Option<[f64; 4]>,
    pi: Vec<f64>,
}

fn params_of(theta: &[f64]) -> Option<[f64; 4]> {
    match theta {
        [r, alpha, a, b] => Some([r.exp(), alpha.exp(), a.exp(), b.exp()]),
        _ => None,
    }
}

impl Objective for NegLogLik<'_> {
    fn value(&self, theta: &[f64]) -> f64 {
        let Some(p) = params_of(theta) else {
            return f64::NAN;
        };
        let mut cache = self.cache.borrow_mut();
        let ll = self.lik.value(&p, Some(&mut cache.pi));
        cache.key = Some(p);
        if ll.is_finite() { -ll * self.scale } else { f64::INFINITY }
    }

    fn gradient(&self, theta: &[f64], g: &mut [f64]) {
        let Some(p) = params_of(theta) else {
            return;
        };
        let mut cache = self.cache.borrow_mut();
        if cache.key != Some(p) {
            self.lik.value(&p, Some(&mut cache.pi));
            cache.key = Some(p);
        }
        let d = self.lik.gradient(&p, &cache.pi);
        for (i, gi) in g.iter_mut().enumerate().take(4) {
            *gi = -d[i] * p[i] * self.scale;
        }
    }
}

/// What a parameter reaching 0 (`to_infinity = false`) or ∞ says about the data.
fn boundary_meaning(v: Variant, i: usize, to_infinity: bool) -> String {
    let no_dropout = match v {
        Variant::Bg => "the data show no dropout; BG/NBD reduces to the NBD",
        Variant::Mbg => "the data show no dropout; MBG/NBD reduces to the NBD (everyone alive)",
    };
    let text = match (i, to_infinity) {
        (0, true) => {
            "the purchase rates show no heterogeneity beyond Poisson: λ ~ Gamma(r, α) collapses \
             to the point r/α (usually with α → ∞ too)"
        }
        (0, false) => {
            "the purchase rates are extremely heterogeneous: almost every λ is near 0 (e.g. \
             almost no repeat purchases in the data)"
        }
        (1, true) => {
            "the mean purchase rate r/α → 0 (with r → ∞ too: every customer has the same rate, \
             Poisson purchasing)"
        }
        (1, false) => "the purchase rates are unbounded on this time scale (check the time unit)",
        (2, false) | (3, true) => return format!("dropout probabilities p → 0: {no_dropout}"),
        (2, true) => {
            "dropout probabilities p → 1: customers drop out at their first opportunity (with \
             b → ∞ too: p is the same for every customer)"
        }
        (3, false) => {
            "dropout probabilities p → 1 for almost every customer: nearly everyone drops out \
             at the first opportunity"
        }
        _ => "a parameter at a boundary",
    };
    text.to_owned()
}

/// Fits either variant on cells: returns `[r, α, a, b]` and the fit report.
///
/// Two phases. (1) [`fit::fit_positive`] from the deterministic start. (2) A likelihood that
/// keeps rising towards a boundary (no dropout: `a → 0` or `b → ∞`) flattens out so much that
/// BFGS meets its gradient tolerance long before the bound (e.g. at `a ≈ 1e-9`), and nothing
/// would be flagged. So each parameter that went far out (|log| > 3) is moved to the optimiser's
/// bound in its direction; if the likelihood is no worse there (to rounding), the fit is
/// restarted from there, the optimiser freezes the parameter at the bound, and it is reported in
/// [`FitInfo::boundary`] with its meaning. (An interior optimum far out, e.g. α = 300 with time
/// in days, is much worse at the bound and is left alone.)
pub(crate) fn fit_cells(cells: &Cells, v: Variant) -> Result<([f64; 4], FitInfo)> {
    if cells.is_empty() {
        return Err(ClvError::NoData("no cells to fit".into()));
    }
    let lik = Likelihood::new(cells, v);
    let w = lik.total_weight;
    if !(w > 0.0 && w.is_finite()) {
        return Err(ClvError::NoData("no customers (the weights sum to 0)".into()));
    }
    let mean_t = lik.ts.iter().zip(&lik.t_weight).map(|(t, tw)| t * tw).sum::<f64>() / w;
    let start = [1.0, if mean_t > 0.0 && mean_t.is_finite() { mean_t } else { 1.0 }, 1.0, 1.0];
    let objective = NegLogLik { lik: &lik, scale: 1.0 / w, cache: RefCell::new(Cache::default()) };
    let meaning = |i: usize, inf: bool| boundary_meaning(v, i, inf);
    let names = &PARAMETERS;
    let (mut p, mut info) = fit::fit_positive(names, &objective, &start, w, lik.cells, &meaning);
    // Phase 2: flat approaches to a boundary.
    let bound = Options::default().bound;
    let theta: Vec<f64> = p.iter().map(|v| v.ln()).collect();
    let f0 = objective.value(&theta);
    let mut restart = p.clone();
    let mut moved = false;
    for i in 0..theta.len() {
        if theta[i].abs() <= 3.0 || theta[i].abs() >= bound - 1e-9 {
            continue;
        }
        let mut trial = theta.clone();
        trial[i] = bound.copysign(theta[i]);
        // No worse at the bound (to rounding): the likelihood is flat or still rising that way.
        if objective.value(&trial) <= f0 + 1e-12 * (1.0 + f0.abs()) {
            restart[i] = trial[i].exp();
            moved = true;
        }
    }
    if moved {
        let first_iterations = info.iterations;
        (p, info) = fit::fit_positive(names, &objective, &restart, w, lik.cells, &meaning);
        info.iterations += first_iterations;
    }
    let params = [p[0], p[1], p[2], p[3]];
    // The objective was per customer: report the total log-likelihood, and standard errors of
    // the total (its Hessian is w times the per-customer one, so the variances are 1/w times).
    info.log_likelihood = lik.log_likelihood(&params);
    for se in info.standard_errors.iter_mut().flatten() {
        *se /= w.sqrt();
    }
    Ok((params, info))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    /// The two ways of computing `G` and `S` agree over a wide grid (where the series is forced
    /// to run however long it takes).
    #[test]
    fn series_and_quadrature_agree() {
        let values = [1e-3, 0.05, 0.7, 0.999, 1.0, 1.5, 7.0, 60.0, 900.0];
        let horizons = [1e-4, 0.01, 0.3, 1.0, 5.0, 40.0, 300.0];
        let mut worst: f64 = 0.0;
        for &r in &values {
            for &a in &values {
                for &b in &values {
                    for &u in &horizons {
                        let (g, s) = series(r, a, b, u, 1e7).unwrap();
                        let gq = quadrature(Kind::Purchases, r, a, b, u);
                        let sq = quadrature(Kind::Survival, r, a, b, u);
                        let err_g = ((gq - g) / g).abs();
                        // S can underflow (e.g. r = 900, a = 900): compare above 1e-290.
                        let err_s = (sq - s).abs() / s.max(1e-290);
                        assert!(err_g < 1e-10, "G r={r} a={a} b={b} u={u}: {g} vs {gq}");
                        assert!(err_s < 1e-10, "S r={r} a={a} b={b} u={u}: {s} vs {sq}");
                        worst = worst.max(err_g).max(err_s);
                    }
                }
            }
        }
        assert!(worst < 1e-10);
    }

    #[test]
    fn series_declines_long_sums() {
        assert!(series(0.5, 1.0, 1.0, 1e6, MAX_SERIES_TERMS).is_none());
        assert!(series(0.5, 1.0, 1.0, 1.0, MAX_SERIES_TERMS).is_some());
    }

    #[test]
    fn distinct_values_and_indices() {
        let (d, i) = distinct(&[3.0, 1.0, 3.0, 2.0, 1.0, 0.5]);
        assert_eq!(d, vec![0.5, 1.0, 2.0, 3.0]);
        assert_eq!(i, vec![3, 1, 3, 2, 1, 0]);
        let many: Vec<f64> = (0..1000).map(|k| f64::from((k * 7919) % 1000)).collect();
        let (d, i) = distinct(&many);
        assert_eq!(d.len(), 1000);
        assert!(i.iter().zip(&many).all(|(&k, v)| d[k as usize] == *v));
    }

    fn test_cells() -> Cells {
        let x = [0.0, 1.0, 4.0, 2.0, 0.0, 7.0, 1.0, 3.0, 12.0, 0.0];
        let t_x = [0.0, 10.0, 30.0, 5.0, 0.0, 35.0, 2.0, 12.0, 38.0, 0.0];
        let t = [40.0, 38.0, 39.0, 40.0, 20.0, 37.0, 30.0, 40.0, 39.0, 40.0];
        let w = [3.0, 1.0, 1.0, 2.5, 1.0, 1.0, 1.0, 1.0, 1.0, 7.0];
        Cells::from_weighted_columns(&x, &t_x, &t, &w).unwrap()
    }

    /// The analytic gradient equals central differences of the likelihood, for both variants,
    /// at ordinary and extreme parameters, on both ways of summing the x terms.
    #[test]
    fn analytic_gradient_matches_finite_differences() {
        for v in [Variant::Bg, Variant::Mbg] {
            for fractional in [false, true] {
                let mut cells = test_cells();
                if fractional {
                    // A non-whole x takes the ln Γ / digamma path.
                    cells.x[1] = 1.0 + 1e-9;
                }
                let lik = Likelihood::new(&cells, v);
                for p in [
                    [0.243, 4.414, 0.793, 2.426],
                    [2.0, 0.5, 3.0, 0.2],
                    [1e-3, 100.0, 1e-3, 1e3],
                    [50.0, 900.0, 20.0, 7.0],
                ] {
                    let mut pi = Vec::new();
                    lik.value(&p, Some(&mut pi));
                    let g = lik.gradient(&p, &pi);
                    // The ln Γ path loses ~1e-12 absolute to cancellation (b = 1000): a
                    // looser check there.
                    let tol = if fractional { 1e-4 } else { 1e-6 };
                    for i in 0..4 {
                        // Richardson-extrapolated central differences: O(h⁴) truncation with a
                        // step large enough for the rounding of the total (|LL| ~ 200).
                        let central = |h: f64| {
                            let (mut up, mut down) = (p, p);
                            up[i] += h;
                            down[i] -= h;
                            (lik.value(&up, None) - lik.value(&down, None)) / (2.0 * h)
                        };
                        let h = 1e-3 * p[i];
                        let fd = (4.0 * central(h / 2.0) - central(h)) / 3.0;
                        let scale = fd.abs().max(1e-3 / p[i]);
                        assert!(
                            (g[i] - fd).abs() <= tol * scale,
                            "{v:?} {p:?} d/d{}: analytic {} vs numeric {fd}",
                            PARAMETERS[i],
                            g[i]
                        );
                    }
                }
            }
        }
    }

    /// The log-likelihood equals FHL 2005 eq. 6 (resp. its MBG form) written out directly.
    #[test]
    fn likelihood_matches_the_formula() {
        let cells = test_cells();
        let p = [0.7, 3.0, 1.3, 2.2];
        let [r, alpha, a, b] = p;
        for v in [Variant::Bg, Variant::Mbg] {
            let s = v.shift();
            let mut want = 0.0;
            for i in 0..cells.len() {
                let (x, tx, t, w) = (cells.x[i], cells.t_x[i], cells.t[i], cells.weight[i]);
                let common = ln_gamma(r + x) - ln_gamma(r) + r * alpha.ln();
                let first = ln_beta(a, b + x + s) - ln_beta(a, b) - (r + x) * (alpha + t).ln();
                let mut l = first.exp();
                if v.can_have_dropped(x) {
                    let second = ln_beta(a + 1.0, b + x + s - 1.0)
                        - ln_beta(a, b)
                        - (r + x) * (alpha + tx).ln();
                    l += second.exp();
                }
                want += w * (common + l.ln());
            }
            let got = Likelihood::new(&cells, v).log_likelihood(&p);
            assert!((got - want).abs() < 1e-10 * want.abs(), "{v:?}: {got} vs {want}");
        }
    }
}
