//! sBG: Fader & Hardie (2007) "How to project customer retention", DERL (Fader & Hardie 2010),
//! and properties over wide parameter ranges.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use crmkit_clv::ClvError;
use crmkit_clv::sbg::Sbg;
use proptest::prelude::*;

/// FH 2007, Table 1: survivors per 1,000 customers acquired, years 0–12.
const REGULAR: [f64; 13] =
    [1000.0, 631.0, 468.0, 382.0, 326.0, 289.0, 262.0, 241.0, 223.0, 207.0, 194.0, 183.0, 173.0];
const HIGH_END: [f64; 13] =
    [1000.0, 869.0, 743.0, 653.0, 593.0, 551.0, 517.0, 491.0, 468.0, 445.0, 427.0, 409.0, 394.0];

#[test]
fn fader_hardie_2007_estimates() {
    // Fitted to years 0–7, as in the paper: regular α = 0.704, β = 1.182 (LL −1,680.27); high end
    // α = 0.668, β = 3.806 (LL −1,611.16). The regular cohort's first-year retention, 0.631, is
    // close to 1 − α/(α+β) = 0.627 only with the first pair: the pairs are not interchangeable.
    for (data, alpha, beta, ll) in
        [(&REGULAR, 0.704, 1.182, -1680.27), (&HIGH_END, 0.668, 3.806, -1611.16)]
    {
        let (m, info) = Sbg::fit(&data[..8]).unwrap();
        assert!((m.alpha - alpha).abs() < 5e-4, "α {} vs published {alpha}", m.alpha);
        assert!((m.beta - beta).abs() < 5e-4, "β {} vs published {beta}", m.beta);
        assert!(info.converged && info.boundary.is_empty(), "{info:?}");
        assert!((info.log_likelihood - ll).abs() < 0.005, "LL {}", info.log_likelihood);
        assert_eq!((info.customers, info.cells), (1000.0, 8));
        assert!(info.standard_errors.iter().all(|s| s.is_some_and(|s| s > 0.0 && s < 1.0)));
        assert!((m.log_likelihood(&data[..8]).unwrap() - info.log_likelihood).abs() < 1e-9);
        // The projection of years 8–12 tracks the held-out survivors within 2 % of the cohort
        // (FH 2007, Figure 3): regular 220, 204, 191, 180, 170 (actual 223 … 173), high end
        // 460 … 378 (actual 468 … 394).
        for (t, &actual) in data.iter().enumerate().skip(8) {
            let projected = 1000.0 * m.survival(t as u32);
            assert!((projected - actual).abs() < 20.0, "year {t}: {projected} vs {actual}");
        }
    }
}

#[test]
fn survivors_and_churn_forms_agree() {
    let churned: Vec<f64> = REGULAR[..8].windows(2).map(|w| w[0] - w[1]).collect();
    assert_eq!(churned, [369.0, 163.0, 86.0, 56.0, 37.0, 27.0, 21.0]);
    let (a, ia) = Sbg::fit_churn(&churned, 241.0).unwrap();
    let (b, ib) = Sbg::fit(&REGULAR[..8]).unwrap();
    assert_eq!(a, b);
    assert_eq!(ia, ib);
    // Proportions give the same parameters.
    let shares: Vec<f64> = REGULAR[..8].iter().map(|s| s / 1000.0).collect();
    let (c, ic) = Sbg::fit(&shares).unwrap();
    assert!((c.alpha - b.alpha).abs() < 1e-6 && (c.beta - b.beta).abs() < 1e-6, "{c:?} {b:?}");
    assert!((ic.log_likelihood - ib.log_likelihood / 1000.0).abs() < 1e-9);
}

#[test]
fn survival_churn_and_retention_are_consistent() {
    let m = Sbg::new(0.668, 3.806).unwrap();
    let mut total = 0.0;
    for t in 1..=200u32 {
        let (s, s_prev) = (m.survival(t), m.survival(t - 1));
        assert!((s_prev - s - m.churn_probability(t)).abs() < 1e-14, "t = {t}");
        assert!((m.retention_rate(t) - s / s_prev).abs() < 1e-12, "t = {t}");
        assert!(m.retention_rate(t + 1) > m.retention_rate(t));
        total += m.churn_probability(t);
    }
    assert!((total + m.survival(200) - 1.0).abs() < 1e-12);
    assert_eq!((m.survival(0), m.churn_probability(0)), (1.0, 0.0));
    assert!(m.retention_rate(0).is_nan());
}

#[test]
fn derl_matches_its_definition() {
    let m = Sbg::new(0.668, 3.806).unwrap();
    for renewals in [0u32, 1, 4, 20] {
        for d in [0.01f64, 0.1, 0.5] {
            let n = renewals + 1;
            let direct: f64 = (0..20_000)
                .map(|k| m.survival(n + k) / m.survival(n - 1) / (1.0 + d).powi(k as i32))
                .sum();
            let derl = m.discounted_expected_residual_lifetime(renewals, d);
            assert!((derl - direct).abs() < 1e-9 * direct, "n−1 = {renewals}, d = {d}");
        }
    }
    // A just-acquired customer's discounted expected lifetime (first period paid now):
    // DEL = Σ_t S(t)/(1+d)^t = 1 + DERL(0 renewals)/(1 + d).
    let d = 0.1f64;
    let del: f64 = (0..5_000).map(|t| m.survival(t) / (1.0 + d).powi(t as i32)).sum();
    assert!((del - (1.0 + m.discounted_expected_residual_lifetime(0, d) / (1.0 + d))).abs() < 1e-9);
    // No discounting: (β + n − 1)/(α − 1) when α > 1, infinite otherwise; continuous as d → 0.
    let light = Sbg::new(3.2, 7.5).unwrap();
    assert_eq!(light.discounted_expected_residual_lifetime(2, 0.0), (7.5 + 2.0) / 2.2);
    let near = light.discounted_expected_residual_lifetime(2, 1e-10);
    assert!((near - 9.5 / 2.2).abs() < 1e-7, "{near}");
    assert_eq!(m.discounted_expected_residual_lifetime(2, 0.0), f64::INFINITY);
    assert!(m.discounted_expected_residual_lifetime(2, 1e-9) > 1e3);
    assert!(m.discounted_expected_residual_lifetime(2, -0.1).is_nan());
    assert!(m.discounted_expected_residual_lifetime(2, f64::NAN).is_nan());
}

#[test]
fn constant_retention_is_a_boundary_fit() {
    // Exactly geometric survival (retention 0.8 every year): no heterogeneity, α, β → ∞.
    let survivors: Vec<f64> = (0..8).map(|t| 1e6 * 0.8f64.powi(t)).collect();
    let (m, info) = Sbg::fit(&survivors).unwrap();
    assert!(!info.boundary.is_empty(), "{info:?}");
    assert!(info.standard_errors.iter().all(Option::is_none));
    for t in 1..20 {
        assert!((m.retention_rate(t) - 0.8).abs() < 1e-3, "r({t}) = {}", m.retention_rate(t));
    }
    assert!((m.alpha / (m.alpha + m.beta) - 0.2).abs() < 1e-3, "{m:?}");
    let derl = m.discounted_expected_residual_lifetime(3, 0.1);
    // Homogeneous: Σ_k 0.8^{k+1}/1.1^k = 0.8/(1 − 0.8/1.1).
    assert!((derl - 0.8 / (1.0 - 0.8 / 1.1)).abs() < 1e-2, "{derl}");
}

#[test]
fn flat_ridge_to_homogeneity_is_settled_at_the_boundary() {
    // Found by proptest: retention that falls and rises at random wants α, β → ∞ along a ridge
    // so flat that BFGS stops anywhere from 10⁷ to 10⁹; the fit walks it out to the boundary, the
    // same for a cohort of 1 and of 1,000.
    let drops = [
        0.3234667880620301,
        0.7851142787986383,
        0.0,
        0.8249333229754299,
        0.0,
        0.7476852553779871,
        0.0,
        0.0,
    ];
    let mut fits = vec![];
    for size in [1.0, 1000.0] {
        let mut survivors = vec![size];
        for d in drops {
            let last = survivors[survivors.len() - 1];
            survivors.push(last * (1.0 - d));
        }
        let (m, info) = Sbg::fit(&survivors).unwrap();
        assert!(!info.boundary.is_empty(), "{info:?}");
        assert!(m.alpha > 1e10 && m.beta > 1e10, "{m:?}");
        fits.push(m);
    }
    let churn = |m: &Sbg| m.alpha / (m.alpha + m.beta);
    assert!((churn(&fits[0]) - churn(&fits[1])).abs() < 1e-6, "{fits:?}");
}

#[test]
fn invalid_inputs_are_named() {
    let col = |e: ClvError| match e {
        ClvError::InvalidInput { column, index, .. } => (column, index),
        other => panic!("unexpected {other:?}"),
    };
    assert_eq!(col(Sbg::fit(&[100.0, 80.0, 81.0]).unwrap_err()), ("survivors".into(), 2));
    assert_eq!(col(Sbg::fit(&[100.0, -1.0]).unwrap_err()), ("survivors".into(), 1));
    assert_eq!(col(Sbg::fit(&[0.0, 0.0]).unwrap_err()), ("survivors".into(), 0));
    assert_eq!(col(Sbg::fit(&[100.0, f64::NAN]).unwrap_err()), ("survivors".into(), 1));
    assert!(matches!(Sbg::fit(&[100.0]).unwrap_err(), ClvError::NoData(_)));
    assert_eq!(
        col(Sbg::fit_churn(&[10.0, -2.0], 5.0).unwrap_err()),
        ("churned_in_period".into(), 1)
    );
    assert!(matches!(
        Sbg::fit_churn(&[10.0], f64::INFINITY).unwrap_err(),
        ClvError::InvalidParameter { .. }
    ));
    assert!(matches!(Sbg::fit_churn(&[], 5.0).unwrap_err(), ClvError::NoData(_)));
    assert!(matches!(Sbg::fit_churn(&[0.0, 0.0], 0.0).unwrap_err(), ClvError::NoData(_)));
    assert!(Sbg::new(-1.0, 1.0).is_err());
}

#[test]
fn serde_round_trip() {
    let m = Sbg::new(0.668, 3.806).unwrap();
    let json = serde_json::to_string(&m).unwrap();
    assert_eq!(json, r#"{"alpha":0.668,"beta":3.806}"#);
    assert_eq!(serde_json::from_str::<Sbg>(&json).unwrap(), m);
}

fn param() -> impl Strategy<Value = f64> {
    (-9.0f64..9.0).prop_map(f64::exp)
}

proptest! {
    #[test]
    fn predictions_are_probabilities(a in param(), b in param(), t in 1u32..100_000) {
        let m = Sbg::new(a, b).unwrap();
        let (p, s, s_prev, r) =
            (m.churn_probability(t), m.survival(t), m.survival(t - 1), m.retention_rate(t));
        for v in [p, s, s_prev, r] {
            prop_assert!((0.0..=1.0).contains(&v), "{} not a probability", v);
        }
        prop_assert!(s <= s_prev);
        prop_assert!((s_prev - s - p).abs() < 1e-12, "{} − {} ≠ {}", s_prev, s, p);
    }

    #[test]
    fn derl_is_finite_and_positive(
        a in param(), b in param(), renewals in 0u32..1000, d in (-9.0f64..3.0).prop_map(f64::exp),
    ) {
        let m = Sbg::new(a, b).unwrap();
        let derl = m.discounted_expected_residual_lifetime(renewals, d);
        // Between the next period's retention rate and the undiscounted perpetuity 1 + 1/d·….
        prop_assert!(derl.is_finite() && derl > 0.0, "{}", derl);
        prop_assert!(derl <= (1.0 + d) / d * (1.0 + 1e-9), "{} > {}", derl, (1.0 + d) / d);
        prop_assert!(derl >= m.retention_rate(renewals + 1) * (1.0 - 1e-12));
    }

    #[test]
    fn fit_is_ok_on_any_cohort(
        drops in proptest::collection::vec(0.0f64..1.0, 1..12), size in 1.0f64..1e6,
    ) {
        let mut survivors = vec![size];
        for d in drops {
            let last = survivors[survivors.len() - 1];
            survivors.push(last * (1.0 - d));
        }
        let (m, info) = Sbg::fit(&survivors).unwrap();
        prop_assert!(m.alpha > 0.0 && m.beta > 0.0 && info.log_likelihood.is_finite(), "{:?}", info);
        // At least as good as the start, a spread of heterogeneous models, and the best
        // homogeneous model (θ = churners / periods at risk).
        let churned = size - survivors[survivors.len() - 1];
        let exposure: f64 = survivors[..survivors.len() - 1].iter().sum();
        let theta = (churned / exposure).clamp(1e-9, 1.0 - 1e-9);
        let mut references = vec![(1.0, 1.0), (theta * 1e9, (1.0 - theta) * 1e9)];
        for a in [0.1, 1.0, 10.0] {
            references.push((a, a * (1.0 - theta) / theta));
        }
        let slack = 1e-7 * info.log_likelihood.abs().max(1.0);
        for (a, b) in references {
            let other = Sbg::new(a, b).unwrap().log_likelihood(&survivors).unwrap();
            prop_assert!(info.log_likelihood >= other - slack, "{:?} {} < {} at ({}, {})", m, info.log_likelihood, other, a, b);
        }
        // The size of the cohort does not change the fit.
        let scaled: Vec<f64> = survivors.iter().map(|s| s * 1e3).collect();
        let (m2, _) = Sbg::fit(&scaled).unwrap();
        let close = |u: f64, v: f64| (u.ln() - v.ln()).abs() < 1e-3 || (u > 1e8 && v > 1e8);
        prop_assert!(close(m.alpha, m2.alpha) && close(m.beta, m2.beta), "{:?} vs {:?}", m, m2);
    }
}
