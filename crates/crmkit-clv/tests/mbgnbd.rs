//! MBG/NBD: lifetimes 0.11.3 `ModifiedBetaGeoFitter` reference values
//! (`tests/fixtures/lifetimes.json`) on the CDNOW sample, high-precision values for extreme
//! inputs, boundary fits, input validation, and properties over wide parameter ranges.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
// Reference values are quoted with all the digits mpmath gave (more than an f64 holds).
#![allow(clippy::excessive_precision)]

use crmkit_clv::bgnbd::BgNbd;
use crmkit_clv::mbgnbd::MbgNbd;
use crmkit_clv::{Cells, ClvError};
use proptest::prelude::*;

/// Rounded lifetimes estimates, used for the mpmath reference values below.
fn rounded() -> MbgNbd {
    MbgNbd::new(0.5248, 6.183, 0.8914, 1.614).unwrap()
}

/// The CDNOW sample summary: (x, t_x, T) in weeks.
fn cdnow() -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/cdnow_customers_summary.csv");
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {path}: {e}"));
    let (mut x, mut t_x, mut t) = (Vec::new(), Vec::new(), Vec::new());
    for line in text.lines().skip(1).filter(|l| !l.trim().is_empty()) {
        let f: Vec<f64> = line.split(',').map(|s| s.trim().parse().unwrap()).collect();
        x.push(f[1]);
        t_x.push(f[2]);
        t.push(f[3]);
    }
    assert_eq!(x.len(), 2357);
    (x, t_x, t)
}

fn cdnow_cells() -> Cells {
    let (x, t_x, t) = cdnow();
    Cells::from_columns(&x, &t_x, &t).unwrap()
}

/// The `mbgnbd` section of the lifetimes fixture.
fn fixture() -> serde_json::Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/lifetimes.json");
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| {
        panic!(
            "missing lifetimes fixture {path} ({e}): generate it with \
             benches/compare/make_fixtures.py (see benches/compare/README.md)"
        )
    });
    let all: serde_json::Value = serde_json::from_str(&text).unwrap();
    all["mbgnbd"].clone()
}

fn num(v: &serde_json::Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number in the fixture: {v}"))
}

fn assert_rel(got: f64, want: f64, tol: f64, what: &str) {
    let err = (got - want).abs() / want.abs().max(1e-300);
    assert!(err <= tol, "{what}: got {got}, want {want} (relative error {err:e} > {tol:e})");
}

fn fixture_model(f: &serde_json::Value) -> MbgNbd {
    let p = &f["params"];
    MbgNbd::new(num(&p["r"]), num(&p["alpha"]), num(&p["a"]), num(&p["b"])).unwrap()
}

#[test]
fn matches_lifetimes_fit() {
    let f = fixture();
    let want = fixture_model(&f);
    let (m, info) = MbgNbd::fit(&cdnow_cells()).unwrap();
    for (got, w, name) in
        [(m.r, want.r, "r"), (m.alpha, want.alpha, "alpha"), (m.a, want.a, "a"), (m.b, want.b, "b")]
    {
        assert_rel(got, w, 1e-4, name);
    }
    assert_rel(info.log_likelihood, num(&f["log_likelihood_total"]), 1e-4, "fitted LL");
    assert_rel(want.log_likelihood(&cdnow_cells()), num(&f["log_likelihood_total"]), 1e-12, "LL");
    assert!(info.converged && info.boundary.is_empty(), "{info:?}");
    assert_eq!(info.parameters, MbgNbd::PARAMETERS);
    assert!(info.standard_errors.iter().all(|s| s.is_some_and(|v| v > 0.0 && v.is_finite())));
    // On CDNOW the two models fit about equally well (lifetimes: −9582.13 vs −9582.43).
    let (_, bg) = BgNbd::fit(&cdnow_cells()).unwrap();
    assert!((info.log_likelihood - bg.log_likelihood - 0.293).abs() < 1e-3);
}

#[test]
fn matches_lifetimes_predictions() {
    let f = fixture();
    let m = fixture_model(&f);
    let cases = f["cases"].as_array().unwrap();
    assert!(!cases.is_empty());
    for c in cases {
        let (t, x, t_x, big_t) = (num(&c["t"]), num(&c["x"]), num(&c["t_x"]), num(&c["T"]));
        let e = m.conditional_expected_purchases(t, &[x], &[t_x], &[big_t]).unwrap()[0];
        let what = format!("E[Y({t}) | {x}, {t_x}, {big_t}]");
        assert_rel(e, num(&c["conditional_expected_number_of_purchases_up_to_time"]), 1e-9, &what);
        let p = m.probability_alive(&[x], &[t_x], &[big_t]).unwrap()[0];
        let what = format!("P(alive | {x}, {t_x}, {big_t})");
        assert_rel(p, num(&c["conditional_probability_alive"]), 1e-9, &what);
    }
    for c in f["expected_number_of_purchases_up_to_time"].as_array().unwrap() {
        let t = num(&c["t"]);
        assert_rel(m.expected_purchases(t), num(&c["value"]), 1e-9, &format!("E[X({t})]"));
    }
    for c in f["probability_of_n_purchases_up_to_time"].as_array().unwrap() {
        let (t, n) = (num(&c["t"]), c["n"].as_u64().unwrap() as u32);
        let what = format!("P(X({t}) = {n})");
        assert_rel(m.probability_of_purchases(t, n), num(&c["value"]), 1e-9, &what);
    }
    let (x, t_x, t) = cdnow();
    let agg = &f["aggregates_over_all_customers"];
    let e: f64 = m.conditional_expected_purchases(39.0, &x, &t_x, &t).unwrap().iter().sum();
    let key = "sum_conditional_expected_number_of_purchases_up_to_time_t39";
    assert_rel(e, num(&agg[key]), 1e-9, "sum E[Y(39)]");
    let p: f64 = m.probability_alive(&x, &t_x, &t).unwrap().iter().sum();
    assert_rel(p, num(&agg["sum_conditional_probability_alive"]), 1e-9, "sum P(alive)");
}

#[test]
fn predictions_of_our_fit_match_lifetimes() {
    let f = fixture();
    let (m, _) = MbgNbd::fit(&cdnow_cells()).unwrap();
    for c in f["cases"].as_array().unwrap() {
        let (t, x, t_x, big_t) = (num(&c["t"]), num(&c["x"]), num(&c["t_x"]), num(&c["T"]));
        let e = m.conditional_expected_purchases(t, &[x], &[t_x], &[big_t]).unwrap()[0];
        assert_rel(e, num(&c["conditional_expected_number_of_purchases_up_to_time"]), 1e-4, "E[Y]");
        let p = m.probability_alive(&[x], &[t_x], &[big_t]).unwrap()[0];
        assert_rel(p, num(&c["conditional_probability_alive"]), 1e-4, "P(alive)");
    }
}

/// mpmath at 60 digits of lifetimes' closed forms: E[X(t)] = b/(a−1) [1 − (α/(α+t))^r
/// ₂F₁(r, b+1; a+b; t/(α+t))], E[Y(t)|·] = P(alive) (a+b+x)/(a−1) [1 − ((α+T)/(α+T+t))^(r+x)
/// ₂F₁(r+x, b+x+1; a+b+x; t/(α+T+t))], P(alive at T+t) = P(alive) ₂F₁(r+x, a; a+b+x+1; −t/(α+T)),
/// and the pmf with its finite sum.
#[test]
fn extreme_inputs_match_high_precision_values() {
    let m = rounded();
    assert_rel(m.expected_purchases(10_000.0), 10.960296861856292943, 1e-12, "E[X(1e4)]");
    let big = MbgNbd::new(1000.0, 1e-3, 2.5, 1000.0).unwrap();
    assert_rel(big.expected_purchases(1000.0), 666.66666599749631134, 1e-12, "E[X], u = 1e6");
    let cases = [
        ((10_000.0, 9_999.0, 10_000.0, 100.0), (99.477064367497264371, 0.99093755612711960735)),
        ((0.0, 0.0, 1.0, 100_000.0), (17.120324943373294125, 0.015406301032701485927)),
        ((0.0, 0.0, 39.0, 39.0), (0.15337179508681383804, 0.35358945539520332118)),
        ((50.0, 38.0, 39.0, 3900.0), (283.64064502967789756, 0.018595279776206287775)),
    ];
    for ((x, t_x, big_t, t), (e, s)) in cases {
        let got = m.conditional_expected_purchases(t, &[x], &[t_x], &[big_t]).unwrap()[0];
        assert_rel(got, e, 1e-12, &format!("E[Y({t}) | {x}, {t_x}, {big_t}]"));
        let got = m.probability_alive_after(t, &[x], &[t_x], &[big_t]).unwrap()[0];
        assert_rel(got, s, 1e-12, &format!("P(alive at T+{t} | {x}, {t_x}, {big_t})"));
    }
    for (n, want) in [
        (0, 0.58263006448631491272),
        (1, 0.18275902038464601807),
        (7, 0.0092326895173792206169),
        (60, 1.7870294520955895312e-7),
        (400, 2.377827241021547734e-30),
    ] {
        assert_rel(m.probability_of_purchases(39.0, n), want, 1e-10, &format!("P(X(39) = {n})"));
    }
    for t in [1.0, 39.0, 200.0] {
        let p: Vec<f64> = (0..4000).map(|n| m.probability_of_purchases(t, n)).collect();
        assert_rel(p.iter().sum(), 1.0, 1e-10, "Σ P");
        let mean: f64 = p.iter().enumerate().map(|(n, v)| n as f64 * v).sum();
        assert_rel(mean, m.expected_purchases(t), 1e-9, "Σ n P(n) = E[X(t)]");
    }
}

#[test]
fn customers_without_repeat_purchases_may_be_gone() {
    let m = rounded();
    let p = m.probability_alive(&[0.0, 0.0], &[0.0, 0.0], &[1.0, 39.0]).unwrap();
    // 1 / (1 + a/b ((α+T)/α)^r): the longer the silence, the likelier the customer left at once.
    for (pi, t) in p.iter().zip([1.0, 39.0]) {
        let want = 1.0 / (1.0 + m.a / m.b * ((m.alpha + t) / m.alpha).powf(m.r));
        assert_rel(*pi, want, 1e-14, "P(alive | x = 0)");
    }
    assert!(p[1] < p[0] && p[0] < 1.0);
}

#[test]
fn no_dropout_is_a_boundary_fit_not_an_error() {
    let (mut x, mut t_x, mut t) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..400 {
        let age = 20.0 + (i % 37) as f64;
        let rate = 0.5 + (i % 11) as f64 * 0.3;
        x.push((rate * age).round().max(5.0));
        t_x.push(age);
        t.push(age);
    }
    let cells = Cells::from_columns(&x, &t_x, &t).unwrap();
    let (m, info) = MbgNbd::fit(&cells).unwrap();
    let dropout = info.boundary.iter().find(|s| s.starts_with("a → 0") || s.starts_with("b → ∞"));
    let text = dropout.unwrap_or_else(|| panic!("no dropout boundary in {info:?}"));
    assert!(text.contains("no dropout") && text.contains("MBG/NBD"), "{text}");
    assert!(info.log_likelihood.is_finite());
    let alive = m.probability_alive(&x, &t_x, &t).unwrap();
    assert!(alive.iter().all(|p| *p > 0.999), "{alive:?}");
    let e = m.conditional_expected_purchases(10.0, &x, &t_x, &t).unwrap();
    for i in 0..x.len() {
        let nbd = (m.r + x[i]) * 10.0 / (m.alpha + t[i]);
        assert!(e[i].is_finite() && (e[i] - nbd).abs() <= 1e-3 * nbd, "{} vs {nbd}", e[i]);
    }
    assert!(MbgNbd::fit(&Cells::default()).is_err());
}

#[test]
fn invalid_inputs_are_errors_naming_column_and_row() {
    let m = rounded();
    let err = m.probability_alive(&[1.0], &[1.0, 2.0], &[2.0]).unwrap_err();
    assert!(matches!(err, ClvError::LengthMismatch { .. }), "{err}");
    let err =
        m.conditional_expected_purchases(3.0, &[2.0, 2.5], &[1.0, 1.0], &[2.0, 2.0]).unwrap_err();
    assert_eq!(err.to_string(), "invalid frequency at row 1: 2.5 is not a whole number ≥ 0");
    let err = m.probability_alive_after(3.0, &[2.0, 2.0], &[1.0, 4.0], &[2.0, 3.0]).unwrap_err();
    assert_eq!(err.to_string(), "invalid recency at row 1: 4 is not within [0, T = 3]");
    assert!(m.probability_alive_after(-1.0, &[2.0], &[1.0], &[2.0]).is_err());
    let err = MbgNbd::new(1.0, 1.0, 1.0, -2.0).unwrap_err();
    assert!(matches!(err, ClvError::InvalidParameter { ref name, .. } if name == "b"), "{err}");
}

#[test]
fn probability_alive_after_starts_at_probability_alive_and_decreases() {
    let m = rounded();
    let (x, t_x, t) = cdnow();
    let now = m.probability_alive(&x, &t_x, &t).unwrap();
    assert_eq!(m.probability_alive_after(0.0, &x, &t_x, &t).unwrap(), now);
    let later = m.probability_alive_after(39.0, &x, &t_x, &t).unwrap();
    for i in 0..x.len() {
        assert!(later[i] <= now[i] && later[i] >= 0.0);
    }
}

/// Prints the fit time on the CDNOW sample: `cargo test --release -p crmkit-clv --test mbgnbd --
/// --ignored --nocapture`.
#[test]
#[ignore = "timing, run by hand in release"]
fn print_fit_time() {
    let cells = cdnow_cells();
    let runs = 20;
    let start = std::time::Instant::now();
    for _ in 0..runs {
        std::hint::black_box(MbgNbd::fit(&cells).unwrap());
    }
    println!(
        "MBG/NBD fit on the CDNOW sample ({} cells): {:?} per fit",
        cells.len(),
        start.elapsed() / runs
    );
}

fn log_uniform(lo: f64, hi: f64) -> impl Strategy<Value = f64> {
    (lo.ln()..hi.ln()).prop_map(f64::exp)
}

fn model() -> impl Strategy<Value = MbgNbd> {
    (log_uniform(1e-3, 1e3), log_uniform(1e-3, 1e3), log_uniform(1e-3, 1e3), log_uniform(1e-3, 1e3))
        .prop_map(|(r, alpha, a, b)| MbgNbd::new(r, alpha, a, b).unwrap())
}

fn customer() -> impl Strategy<Value = (f64, f64, f64)> {
    (0u32..=10_000, 0.0..=1.0f64, log_uniform(1e-2, 1e4)).prop_map(|(x, frac, t)| {
        let x = f64::from(x);
        (x, if x == 0.0 { 0.0 } else { frac * t }, t)
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn predictions_are_finite_and_in_range(
        m in model(),
        customers in prop::collection::vec(customer(), 1..6),
        t in prop_oneof![Just(0.0), log_uniform(1e-3, 1e4)],
    ) {
        let x: Vec<f64> = customers.iter().map(|c| c.0).collect();
        let t_x: Vec<f64> = customers.iter().map(|c| c.1).collect();
        let big_t: Vec<f64> = customers.iter().map(|c| c.2).collect();
        let alive = m.probability_alive(&x, &t_x, &big_t).unwrap();
        let after = m.probability_alive_after(t, &x, &t_x, &big_t).unwrap();
        let e = m.conditional_expected_purchases(t, &x, &t_x, &big_t).unwrap();
        for i in 0..x.len() {
            prop_assert!((0.0..=1.0).contains(&alive[i]), "P(alive) = {}", alive[i]);
            prop_assert!((0.0..=1.0).contains(&after[i]), "P(alive after) = {}", after[i]);
            prop_assert!(after[i] <= alive[i] * (1.0 + 1e-12), "{} > {}", after[i], alive[i]);
            prop_assert!(e[i].is_finite() && e[i] >= 0.0, "E[Y] = {}", e[i]);
            let immortal = (m.r + x[i]) * t / (m.alpha + big_t[i]);
            prop_assert!(e[i] <= immortal * (1.0 + 1e-9), "E[Y] = {} > {}", e[i], immortal);
        }
        if t == 0.0 {
            prop_assert_eq!(after, alive);
        }
        let ex = m.expected_purchases(t);
        prop_assert!(ex.is_finite() && ex >= 0.0 && ex <= m.r * t / m.alpha * (1.0 + 1e-9), "E[X] = {}", ex);
        for n in [0u32, 1, 5, 1000] {
            let p = m.probability_of_purchases(t, n);
            prop_assert!((0.0..=1.0).contains(&p), "P(X = {}) = {}", n, p);
        }
    }

    #[test]
    fn fit_is_invariant_to_row_order(
        rows in prop::collection::vec((0u32..30, 0.0..=1.0f64, 1.0..60.0f64), 5..60),
        rotate in 0usize..1000,
    ) {
        let x: Vec<f64> = rows.iter().map(|r| f64::from(r.0)).collect();
        let t: Vec<f64> = rows.iter().map(|r| r.2).collect();
        let t_x: Vec<f64> = rows.iter().zip(&x).map(|(r, x)| if *x == 0.0 { 0.0 } else { r.1 * r.2 }).collect();
        let mut idx: Vec<usize> = (0..x.len()).collect();
        idx.rotate_left(rotate % x.len());
        idx.swap(0, x.len() - 1);
        let pick = |v: &[f64]| idx.iter().map(|&i| v[i]).collect::<Vec<f64>>();
        let a = MbgNbd::fit(&Cells::from_columns(&x, &t_x, &t).unwrap()).unwrap();
        let b = MbgNbd::fit(&Cells::from_columns(&pick(&x), &pick(&t_x), &pick(&t)).unwrap()).unwrap();
        prop_assert!(a.1.log_likelihood.is_finite());
        prop_assert_eq!(a.0, b.0);
        prop_assert_eq!(a.1, b.1);
    }
}
