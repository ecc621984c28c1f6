//! BG/NBD: the published CDNOW estimates (Fader, Hardie & Lee 2005), lifetimes 0.11.3 reference
//! values (`tests/fixtures/lifetimes.json`), high-precision values for extreme inputs, boundary
//! fits, input validation, and properties over wide parameter ranges.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
// Reference values are quoted with all the digits mpmath gave (more than an f64 holds).
#![allow(clippy::excessive_precision)]

use crmkit_clv::bgnbd::BgNbd;
use crmkit_clv::{Cells, ClvError};
use proptest::prelude::*;

const FHL: (f64, f64, f64, f64) = (0.243, 4.414, 0.793, 2.426);

fn fhl() -> BgNbd {
    BgNbd::new(FHL.0, FHL.1, FHL.2, FHL.3).unwrap()
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

/// The `bgnbd` section of the lifetimes fixture.
fn fixture() -> serde_json::Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/lifetimes.json");
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| {
        panic!(
            "missing lifetimes fixture {path} ({e}): generate it with \
             benches/compare/make_fixtures.py (see benches/compare/README.md)"
        )
    });
    let all: serde_json::Value = serde_json::from_str(&text).unwrap();
    all["bgnbd"].clone()
}

fn num(v: &serde_json::Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number in the fixture: {v}"))
}

fn assert_rel(got: f64, want: f64, tol: f64, what: &str) {
    let err = (got - want).abs() / want.abs().max(1e-300);
    assert!(err <= tol, "{what}: got {got}, want {want} (relative error {err:e} > {tol:e})");
}

fn fixture_model(f: &serde_json::Value) -> BgNbd {
    let p = &f["params"];
    BgNbd::new(num(&p["r"]), num(&p["alpha"]), num(&p["a"]), num(&p["b"])).unwrap()
}

#[test]
fn cdnow_fit_matches_fader_hardie_lee_2005() {
    let (m, info) = BgNbd::fit(&cdnow_cells()).unwrap();
    // FHL 2005: r = 0.243, α = 4.414, a = 0.793, b = 2.426; LL = −9582.4.
    let round3 = |v: f64| (v * 1000.0).round() / 1000.0;
    assert_eq!(
        [round3(m.r), round3(m.alpha), round3(m.a), round3(m.b)],
        [0.243, 4.414, 0.793, 2.426],
        "{m:?}"
    );
    assert_eq!((info.log_likelihood * 10.0).round() / 10.0, -9582.4);
    assert!(info.converged && info.boundary.is_empty(), "{info:?}");
    assert_eq!(info.parameters, BgNbd::PARAMETERS);
    assert_eq!((info.customers, info.cells), (2357.0, 1016));
    assert!(info.standard_errors.iter().all(|s| s.is_some_and(|v| v > 0.0 && v.is_finite())));
    // The reported LL is the model's total LL at the fitted parameters.
    assert_rel(m.log_likelihood(&cdnow_cells()), info.log_likelihood, 1e-12, "LL");
}

#[test]
fn fader_hardie_lee_2005_customer_example() {
    // The worked example of FHL 2005 (customer 1 of the CDNOW sample: x = 2, t_x = 30.43,
    // T = 38.86): 1.226 expected purchases in the next 39 weeks at the published estimates.
    let e = fhl().conditional_expected_purchases(39.0, &[2.0], &[30.43], &[38.86]).unwrap();
    assert_eq!((e[0] * 1000.0).round() / 1000.0, 1.226);
    // mpmath (60 digits) of the same closed form: 1.2260281747671444631.
    assert_rel(e[0], 1.2260281747671444631, 1e-13, "E[Y(39)]");
}

#[test]
fn matches_lifetimes_fit() {
    let f = fixture();
    let want = fixture_model(&f);
    let (m, info) = BgNbd::fit(&cdnow_cells()).unwrap();
    for (got, w, name) in
        [(m.r, want.r, "r"), (m.alpha, want.alpha, "alpha"), (m.a, want.a, "a"), (m.b, want.b, "b")]
    {
        assert_rel(got, w, 1e-4, name);
    }
    assert_rel(info.log_likelihood, num(&f["log_likelihood_total"]), 1e-4, "fitted LL");
    // At lifetimes' parameters our total LL is lifetimes' (to rounding).
    assert_rel(want.log_likelihood(&cdnow_cells()), num(&f["log_likelihood_total"]), 1e-12, "LL");
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
    // Sums over all 2,357 customers.
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
    // Not only at lifetimes' parameters: our own fit predicts what lifetimes predicts.
    let f = fixture();
    let (m, _) = BgNbd::fit(&cdnow_cells()).unwrap();
    for c in f["cases"].as_array().unwrap() {
        let (t, x, t_x, big_t) = (num(&c["t"]), num(&c["x"]), num(&c["t_x"]), num(&c["T"]));
        let e = m.conditional_expected_purchases(t, &[x], &[t_x], &[big_t]).unwrap()[0];
        assert_rel(e, num(&c["conditional_expected_number_of_purchases_up_to_time"]), 1e-4, "E[Y]");
    }
}

/// Values computed with mpmath at 60 digits from the closed forms (₂F₁ with its cancellation
/// resolved by the extra precision): E[X(t)] = (a+b−1)/(a−1) [1 − (α/(α+t))^r ₂F₁(r, b; a+b−1;
/// t/(α+t))], E[Y(t)|·] and P(alive at T+t) = P(alive) ₂F₁(r+x, a; a+b+x; −t/(α+T)).
#[test]
fn extreme_inputs_match_high_precision_values() {
    let m = fhl();
    // Horizon 2,265 times α: z = t/(α+t) = 0.99956, where the ₂F₁ series crawls.
    assert_rel(m.expected_purchases(10_000.0), 15.067913315055177409, 1e-12, "E[X(1e4)]");
    // u = t/α = 1e6 with r = 1000: far beyond the series, by quadrature.
    let big = BgNbd::new(1000.0, 1e-3, 2.5, 1000.0).unwrap();
    assert_rel(big.expected_purchases(1000.0), 667.66666599749631033, 1e-12, "E[X], u = 1e6");
    // a = 1 exactly: (a+b−1)/(a−1) is 0/0 in the closed form; the limit (mpmath at a = 1+1e-40).
    let one = BgNbd::new(0.5, 2.0, 1.0, 3.0).unwrap();
    assert_rel(one.expected_purchases(10.0), 1.5013726778259892713, 1e-13, "E[X], a = 1");
    // Tiny a: most of Beta(a, b)'s mass sits below 1e-300.
    let tiny = BgNbd::new(0.01, 0.5, 0.002, 0.7).unwrap();
    assert_rel(tiny.expected_purchases(5000.0), 98.242958882697683653, 1e-12, "E[X], a = 0.002");
    // (x, t_x, T, t) → (E[Y(t)], P(alive at T+t)).
    let cases = [
        ((10_000.0, 9_999.0, 10_000.0, 100.0), (99.543129621220178003, 0.99193247840206132025)),
        ((10_000.0, 9_990.0, 10_000.0, 1000.0), (350.1536802154360436, 0.33744100653298871524)),
        ((0.0, 0.0, 1.0, 100_000.0), (28.000177980617210472, 0.15921189566507486991)),
        ((50.0, 38.0, 39.0, 3900.0), (365.97833147643446459, 0.027923677531577448713)),
        ((2.0, 30.43, 38.86, 39.0), (1.2260281747671444631, 0.56713803562792993267)),
    ];
    for ((x, t_x, big_t, t), (e, s)) in cases {
        let got = m.conditional_expected_purchases(t, &[x], &[t_x], &[big_t]).unwrap()[0];
        assert_rel(got, e, 1e-12, &format!("E[Y({t}) | {x}, {t_x}, {big_t}]"));
        let got = m.probability_alive_after(t, &[x], &[t_x], &[big_t]).unwrap()[0];
        assert_rel(got, s, 1e-12, &format!("P(alive at T+{t} | {x}, {t_x}, {big_t})"));
    }
    // x = 10,000 with the last purchase half-way: P(alive) ≈ 1e-3000 underflows to exactly 0.
    let e = m.conditional_expected_purchases(39.0, &[10_000.0], &[5_000.0], &[10_000.0]).unwrap();
    assert_eq!(e[0], 0.0);
}

#[test]
fn probability_of_purchases_matches_high_precision_values() {
    let m = fhl();
    // mpmath of FHL 2005 eq. 8 at 60 digits.
    for (t, n, want) in [
        (39.0, 0, 0.57378635209600940476),
        (39.0, 1, 0.19939528083591145379),
        (39.0, 7, 0.0086954288041552611247),
        (39.0, 60, 9.1458756711653898883e-7),
        (39.0, 400, 6.6735867924644491868e-24),
        (5000.0, 3, 0.080111684912018657985),
        (5000.0, 2000, 1.661306779437250995e-7),
    ] {
        assert_rel(m.probability_of_purchases(t, n), want, 1e-10, &format!("P(X({t}) = {n})"));
    }
    // A distribution whose mean is E[X(t)].
    for t in [1.0, 39.0, 200.0] {
        let p: Vec<f64> = (0..4000).map(|n| m.probability_of_purchases(t, n)).collect();
        assert_rel(p.iter().sum(), 1.0, 1e-10, "Σ P");
        let mean: f64 = p.iter().enumerate().map(|(n, v)| n as f64 * v).sum();
        assert_rel(mean, m.expected_purchases(t), 1e-9, "Σ n P(n) = E[X(t)]");
    }
    assert_eq!(m.probability_of_purchases(0.0, 0), 1.0);
    assert_eq!(m.probability_of_purchases(0.0, 3), 0.0);
    assert!(m.probability_of_purchases(-1.0, 0).is_nan());
    assert!(m.expected_purchases(f64::INFINITY).is_nan());
}

#[test]
fn no_dropout_is_a_boundary_fit_not_an_error() {
    // Every customer bought right up to the end of observation, many times: no sign of dropout.
    let (mut x, mut t_x, mut t) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..400 {
        let age = 20.0 + (i % 37) as f64;
        let rate = 0.5 + (i % 11) as f64 * 0.3;
        x.push((rate * age).round().max(5.0));
        t_x.push(age);
        t.push(age);
    }
    let cells = Cells::from_columns(&x, &t_x, &t).unwrap();
    let (m, info) = BgNbd::fit(&cells).unwrap();
    assert!(!info.boundary.is_empty(), "{info:?}");
    let dropout = info.boundary.iter().find(|s| s.starts_with("a → 0") || s.starts_with("b → ∞"));
    let text = dropout.unwrap_or_else(|| panic!("no dropout boundary in {:?}", info.boundary));
    assert!(text.contains("no dropout") && text.contains("NBD"), "{text}");
    assert!(info.standard_errors.iter().all(Option::is_none));
    assert!(info.log_likelihood.is_finite());
    // The model is usable: everybody is alive, and predictions are those of the NBD.
    let alive = m.probability_alive(&x, &t_x, &t).unwrap();
    assert!(alive.iter().all(|p| *p > 0.999), "{alive:?}");
    let e = m.conditional_expected_purchases(10.0, &x, &t_x, &t).unwrap();
    for i in 0..x.len() {
        let nbd = (m.r + x[i]) * 10.0 / (m.alpha + t[i]);
        assert!(e[i].is_finite() && (e[i] - nbd).abs() <= 1e-3 * nbd, "{} vs {nbd}", e[i]);
    }
}

#[test]
fn all_customers_without_repeat_purchases_is_a_boundary_fit() {
    let cells = Cells::from_columns(&[0.0; 5], &[0.0; 5], &[10.0, 20.0, 30.0, 40.0, 50.0]).unwrap();
    let (_, info) = BgNbd::fit(&cells).unwrap();
    assert!(!info.boundary.is_empty(), "{info:?}");
    assert!(BgNbd::fit(&Cells::default()).is_err());
}

#[test]
fn invalid_inputs_are_errors_naming_column_and_row() {
    let m = fhl();
    let err = m.conditional_expected_purchases(1.0, &[1.0, 2.0], &[1.0], &[2.0, 3.0]).unwrap_err();
    assert!(matches!(err, ClvError::LengthMismatch { .. }), "{err}");
    let expect = |r: Result<Vec<f64>, ClvError>, column: &str, index: usize| match r {
        Err(ClvError::InvalidInput { column: c, index: i, .. }) => {
            assert_eq!((c.as_str(), i), (column, index));
        }
        other => panic!("expected InvalidInput({column}, {index}), got {other:?}"),
    };
    expect(m.probability_alive(&[1.0, 1.5], &[1.0, 1.0], &[2.0, 2.0]), "frequency", 1);
    expect(m.probability_alive(&[1.0, -1.0], &[1.0, 0.0], &[2.0, 2.0]), "frequency", 1);
    expect(m.probability_alive(&[1.0, 1.0], &[1.0, 3.0], &[2.0, 2.0]), "recency", 1);
    expect(m.probability_alive(&[0.0, 1.0], &[1.0, 1.0], &[2.0, 2.0]), "recency", 0);
    expect(m.probability_alive(&[1.0], &[f64::NAN], &[2.0]), "recency", 0);
    expect(m.probability_alive(&[1.0, 1.0], &[1.0, 1.0], &[2.0, f64::INFINITY]), "T", 1);
    expect(m.probability_alive_after(1.0, &[2.0], &[-1.0], &[2.0]), "recency", 0);
    let err = m.conditional_expected_purchases(f64::NAN, &[1.0], &[1.0], &[2.0]).unwrap_err();
    assert!(err.to_string().contains("invalid t"), "{err}");
    assert!(m.probability_alive_after(-2.0, &[1.0], &[1.0], &[2.0]).is_err());
    // Empty columns are fine: nothing to predict.
    assert_eq!(m.probability_alive(&[], &[], &[]).unwrap(), Vec::<f64>::new());
    for bad in [0.0, -1.0, f64::NAN, f64::INFINITY] {
        for i in 0..4 {
            let mut p = [1.0; 4];
            p[i] = bad;
            let err = BgNbd::new(p[0], p[1], p[2], p[3]).unwrap_err();
            let ClvError::InvalidParameter { name, .. } = err else { panic!("{err:?}") };
            assert_eq!(name, BgNbd::PARAMETERS[i]);
        }
    }
}

#[test]
fn probability_alive_after_starts_at_probability_alive_and_decreases() {
    let m = fhl();
    let (x, t_x, t) = cdnow();
    let now = m.probability_alive(&x, &t_x, &t).unwrap();
    assert_eq!(m.probability_alive_after(0.0, &x, &t_x, &t).unwrap(), now);
    let later = m.probability_alive_after(39.0, &x, &t_x, &t).unwrap();
    let much_later = m.probability_alive_after(390.0, &x, &t_x, &t).unwrap();
    for i in 0..x.len() {
        assert!(later[i] <= now[i] && much_later[i] <= later[i] && much_later[i] >= 0.0);
    }
}

#[test]
fn fit_is_invariant_to_row_order_and_cell_order() {
    let (x, t_x, t) = cdnow();
    let (m, _) = BgNbd::fit(&Cells::from_columns(&x, &t_x, &t).unwrap()).unwrap();
    let mut idx: Vec<usize> = (0..x.len()).collect();
    idx.reverse();
    idx.rotate_left(777);
    let pick = |v: &[f64]| idx.iter().map(|&i| v[i]).collect::<Vec<f64>>();
    let (m2, _) =
        BgNbd::fit(&Cells::from_columns(&pick(&x), &pick(&t_x), &pick(&t)).unwrap()).unwrap();
    assert_eq!(m, m2);
    // Cells built by hand in another order (the likelihood is summed in another order).
    let c = cdnow_cells();
    let mut order: Vec<usize> = (0..c.len()).collect();
    order.sort_by_key(|&i| (c.t[i].to_bits(), std::cmp::Reverse(c.x[i].to_bits())));
    let shuffled = Cells {
        x: order.iter().map(|&i| c.x[i]).collect(),
        t_x: order.iter().map(|&i| c.t_x[i]).collect(),
        t: order.iter().map(|&i| c.t[i]).collect(),
        weight: order.iter().map(|&i| c.weight[i]).collect(),
    };
    let (m3, _) = BgNbd::fit(&shuffled).unwrap();
    for (a, b) in [(m.r, m3.r), (m.alpha, m3.alpha), (m.a, m3.a), (m.b, m3.b)] {
        assert_rel(a, b, 1e-6, "shuffled cells");
    }
}

/// Prints the fit time on the CDNOW sample: `cargo test --release -p crmkit-clv --test bgnbd --
/// --ignored --nocapture`.
#[test]
#[ignore = "timing, run by hand in release"]
fn print_fit_time() {
    let cells = cdnow_cells();
    let runs = 20;
    let start = std::time::Instant::now();
    for _ in 0..runs {
        std::hint::black_box(BgNbd::fit(&cells).unwrap());
    }
    println!(
        "BG/NBD fit on the CDNOW sample ({} cells): {:?} per fit",
        cells.len(),
        start.elapsed() / runs
    );
}

fn log_uniform(lo: f64, hi: f64) -> impl Strategy<Value = f64> {
    (lo.ln()..hi.ln()).prop_map(f64::exp)
}

fn model() -> impl Strategy<Value = BgNbd> {
    (log_uniform(1e-3, 1e3), log_uniform(1e-3, 1e3), log_uniform(1e-3, 1e3), log_uniform(1e-3, 1e3))
        .prop_map(|(r, alpha, a, b)| BgNbd::new(r, alpha, a, b).unwrap())
}

/// (x, t_x, T) with x up to 10,000 and T up to 10,000.
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
            // Dropout only removes purchases: at most those of an immortal customer, (r+x) t/(α+T).
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
    fn predictions_grow_with_the_horizon(m in model(), c in customer(), t in log_uniform(1e-2, 1e3)) {
        let (x, t_x, big_t) = ([c.0], [c.1], [c.2]);
        let e1 = m.conditional_expected_purchases(t, &x, &t_x, &big_t).unwrap()[0];
        let e2 = m.conditional_expected_purchases(2.0 * t, &x, &t_x, &big_t).unwrap()[0];
        prop_assert!(e2 >= e1 * (1.0 - 1e-10), "{} < {}", e2, e1);
        let s1 = m.probability_alive_after(t, &x, &t_x, &big_t).unwrap()[0];
        let s2 = m.probability_alive_after(2.0 * t, &x, &t_x, &big_t).unwrap()[0];
        prop_assert!(s2 <= s1 * (1.0 + 1e-10), "{} > {}", s2, s1);
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
        let a = BgNbd::fit(&Cells::from_columns(&x, &t_x, &t).unwrap()).unwrap();
        let b = BgNbd::fit(&Cells::from_columns(&pick(&x), &pick(&t_x), &pick(&t)).unwrap()).unwrap();
        prop_assert_eq!(a.0, b.0);
        prop_assert!(a.1.log_likelihood.is_finite());
        prop_assert_eq!(a.1, b.1);
    }
}
