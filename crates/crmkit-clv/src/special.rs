//! Special functions in log space, stable for large arguments.

/// ln Γ(x) for x > 0.
///
/// # Examples
///
/// ```
/// assert!((crmkit_clv::special::ln_gamma(5.0) - 24f64.ln()).abs() < 1e-12);
/// ```
pub fn ln_gamma(x: f64) -> f64 {
    statrs::function::gamma::ln_gamma(x)
}

/// ln B(a, b) = ln Γ(a) + ln Γ(b) − ln Γ(a + b).
///
/// # Examples
///
/// ```
/// assert!((crmkit_clv::special::ln_beta(1.0, 1.0)).abs() < 1e-12);
/// ```
pub fn ln_beta(a: f64, b: f64) -> f64 {
    ln_gamma(a) + ln_gamma(b) - ln_gamma(a + b)
}

/// ψ(x), the digamma function, for x > 0.
///
/// # Examples
///
/// ```
/// assert!((crmkit_clv::special::digamma(1.0) + 0.5772156649015329).abs() < 1e-10);
/// ```
pub fn digamma(x: f64) -> f64 {
    statrs::function::gamma::digamma(x)
}

/// ln(eᵃ + eᵇ) without overflow.
///
/// # Examples
///
/// ```
/// assert!((crmkit_clv::special::log_add_exp(1000.0, 1000.0) - (1000.0 + 2f64.ln())).abs() < 1e-9);
/// ```
pub fn log_add_exp(a: f64, b: f64) -> f64 {
    if a == f64::NEG_INFINITY {
        return b;
    }
    if b == f64::NEG_INFINITY {
        return a;
    }
    let m = a.max(b);
    m + ((a - m).exp() + (b - m).exp()).ln()
}

/// ln(eᵃ − eᵇ) for a ≥ b without overflow (−∞ when equal).
///
/// # Examples
///
/// ```
/// assert!((crmkit_clv::special::log_sub_exp(2f64.ln(), 0.0)).abs() < 1e-12);
/// ```
pub fn log_sub_exp(a: f64, b: f64) -> f64 {
    if b == f64::NEG_INFINITY {
        return a;
    }
    a + (-(b - a).exp()).ln_1p()
}
