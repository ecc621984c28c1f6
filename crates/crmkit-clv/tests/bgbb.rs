//! BG/BB: the donations data of Fader, Hardie & Shang (2010), lifetimes 0.11.3 fixtures, and
//! properties over wide parameter ranges.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use crmkit_clv::ClvError;
use crmkit_clv::bgbb::BgBb;
use proptest::prelude::*;
use serde_json::Value;

struct Donations {
    x: Vec<f64>,
    tx: Vec<f64>,
    n: Vec<f64>,
    w: Vec<f64>,
}

fn donations() -> Donations {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/donations.csv");
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {path}: {e}"));
    let mut d = Donations { x: vec![], tx: vec![], n: vec![], w: vec![] };
    for line in text.lines().skip(1).filter(|l| !l.trim().is_empty()) {
        let v: Vec<f64> = line.split(',').map(|s| s.trim().parse().unwrap()).collect();
        d.x.push(v[0]);
        d.tx.push(v[1]);
        d.n.push(v[2]);
        d.w.push(v[3]);
    }
    d
}

fn fixture() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/lifetimes.json");
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| {
        panic!(
            "missing lifetimes fixture {path} ({e}): generate it with benches/compare/make_fixtures.py \
             (see benches/compare/README.md)"
        )
    });
    let all: Value = serde_json::from_str(&text).unwrap();
    let section = all.get("bgbb").cloned();
    section.unwrap_or_else(|| panic!("{path} has no `bgbb` section"))
}

fn f(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

fn rel_close(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() <= tol * b.abs().max(1e-300) || (a - b).abs() < 1e-300
}

#[test]
fn donations_match_fader_hardie_shang_2010() {
    let d = donations();
    assert_eq!((d.x.len(), d.w.iter().sum::<f64>()), (22, 11_104.0));
    let (m, info) = BgBb::fit(&d.x, &d.tx, &d.n, &d.w).unwrap();
    // FHS 2010, Table/§4: α = 1.204, β = 0.750, γ = 0.657, δ = 2.783, LL = −33,225.6.
    for (got, published) in [(m.alpha, 1.204), (m.beta, 0.750), (m.gamma, 0.657), (m.delta, 2.783)]
    {
        assert!((got - published).abs() < 5e-4, "{got} vs published {published}");
    }
    assert!((info.log_likelihood - -33_225.6).abs() < 0.05, "LL {}", info.log_likelihood);
    assert!(info.converged && info.boundary.is_empty(), "{info:?}");
    assert_eq!((info.customers, info.cells), (11_104.0, 22));
    assert_eq!(info.parameters, BgBb::PARAMETERS.map(String::from).to_vec());
    assert!(info.standard_errors.iter().all(|s| s.is_some_and(|s| s > 0.0 && s < 1.0)));
    // The fitted log-likelihood is the model's own.
    let ll = m.log_likelihood(&d.x, &d.tx, &d.n, &d.w).unwrap();
    assert!((ll - info.log_likelihood).abs() < 1e-9);
    // Same data, one row per donor: same fit.
    let (mut x, mut tx, mut n) = (vec![], vec![], vec![]);
    for i in 0..d.x.len() {
        for _ in 0..d.w[i] as usize {
            x.push(d.x[i]);
            tx.push(d.tx[i]);
            n.push(d.n[i]);
        }
    }
    let ones = vec![1.0; x.len()];
    let (m2, info2) = BgBb::fit(&x, &tx, &n, &ones).unwrap();
    assert_eq!(m2, m);
    assert_eq!(info2.cells, 22);
}

#[test]
fn fit_matches_lifetimes() {
    let fx = fixture();
    let d = donations();
    let (m, info) = BgBb::fit(&d.x, &d.tx, &d.n, &d.w).unwrap();
    let p = &fx["params"];
    for (got, name) in
        [(m.alpha, "alpha"), (m.beta, "beta"), (m.gamma, "gamma"), (m.delta, "delta")]
    {
        let want = f(&p[name]);
        assert!(rel_close(got, want, 1e-4), "{name}: {got} vs lifetimes {want}");
    }
    let want_ll = f(&fx["log_likelihood_total"]);
    // Both optima agree to optimiser precision; ours is as high (to rounding: 1.4e-9 lower).
    assert!((info.log_likelihood - want_ll).abs() < 1e-4, "{} vs {want_ll}", info.log_likelihood);
    assert!(info.log_likelihood >= want_ll - 1e-8, "{} < {want_ll} {info:?}", info.log_likelihood);
}

#[test]
fn predictions_match_lifetimes_at_its_parameters() {
    let fx = fixture();
    let p = &fx["params"];
    let m = BgBb::new(f(&p["alpha"]), f(&p["beta"]), f(&p["gamma"]), f(&p["delta"])).unwrap();
    // lifetimes adds 1e-15 inside a log of its likelihood: agreement to ~4e-13, test at 1e-11.
    let d = donations();
    let ll = m.log_likelihood(&d.x, &d.tx, &d.n, &d.w).unwrap();
    assert!(rel_close(ll, f(&fx["log_likelihood_total"]), 1e-11), "{ll}");
    let rows = fx["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 22);
    let mut checked = 0;
    let mut worst: f64 = 0.0;
    let mut track = |got: f64, want: f64| worst = worst.max((got - want).abs() / want.abs());
    for row in rows {
        let (x, tx, n) = (f(&row["frequency"]), f(&row["recency"]), f(&row["periods"]));
        for (t, want) in
            row["conditional_expected_number_of_purchases_up_to_time"].as_object().unwrap()
        {
            let t: f64 = t.parse().unwrap();
            let got = m.conditional_expected_purchases(t, &[x], &[tx], &[n]).unwrap()[0];
            assert!(rel_close(got, f(want), 1e-11), "E[X] m={t} ({x},{tx},{n}): {got} vs {want}");
            track(got, f(want));
            checked += 1;
        }
        for (t, want) in row["conditional_probability_alive"].as_object().unwrap() {
            let t: f64 = t.parse().unwrap();
            let got = m.probability_alive_after(t, &[x], &[tx], &[n]).unwrap()[0];
            assert!(
                rel_close(got, f(want), 1e-11),
                "P(alive) m={t} ({x},{tx},{n}): {got} vs {want}"
            );
            track(got, f(want));
            if t == 0.0 {
                let plain = m.probability_alive(&[x], &[tx], &[n]).unwrap()[0];
                assert_eq!(plain, got);
            }
            checked += 1;
        }
    }
    assert_eq!(checked, 22 * 5);
    let total = f(&fx["n_customers"]);
    for (n, rows) in fx["expected_number_of_transactions_in_first_n_periods"].as_object().unwrap() {
        let n: u32 = n.parse().unwrap();
        for row in rows.as_array().unwrap() {
            let x = f(&row["frequency"]) as u32;
            let got = total * m.probability_of_purchases(n, x);
            let want = f(&row["model"]);
            assert!(rel_close(got, want, 1e-11), "P(X({n}) = {x}): {got} vs {want}");
            track(got, want);
        }
    }
    println!("BG/BB vs lifetimes: max relative difference {worst:e}");
}

#[test]
fn distribution_is_consistent() {
    let m = BgBb::new(1.204, 0.750, 0.657, 2.783).unwrap();
    for n in [0u32, 1, 6, 10, 40] {
        let probs: Vec<f64> = (0..=n).map(|x| m.probability_of_purchases(n, x)).collect();
        let total: f64 = probs.iter().sum();
        assert!((total - 1.0).abs() < 1e-12, "n = {n}: Σ P = {total}");
        let mean: f64 = probs.iter().enumerate().map(|(x, p)| x as f64 * p).sum();
        let e = m.expected_purchases(f64::from(n));
        assert!((mean - e).abs() < 1e-10 * e.max(1.0), "n = {n}: {mean} vs {e}");
    }
    // A new customer's E[X(n, n+m) | x = 0, n = 0] is E[X(m)].
    let e = m.conditional_expected_purchases(7.0, &[0.0], &[0.0], &[0.0]).unwrap()[0];
    assert!((e - m.expected_purchases(7.0)).abs() < 1e-12);
    // P(alive at 0 + m) for a new customer = E[(1 − θ)^m].
    let p = m.probability_alive_after(3.0, &[0.0], &[0.0], &[0.0]).unwrap()[0];
    let direct: f64 =
        (0..3).map(|j| (m.delta + j as f64) / (m.gamma + m.delta + j as f64)).product();
    assert!((p - direct).abs() < 1e-12, "{p} vs {direct}");
}

#[test]
fn gamma_near_one_is_continuous() {
    for n in [1.0, 6.0, 6.5, 1e3, 2.5e5] {
        let at = |g: f64| BgBb::new(1.3, 0.8, g, 2.5).unwrap().expected_purchases(n);
        let (below, one, above) = (at(1.0 - 1e-9), at(1.0), at(1.0 + 1e-9));
        assert!(one.is_finite() && one > 0.0);
        assert!((below - one).abs() < 1e-8 * one && (above - one).abs() < 1e-8 * one, "n = {n}");
    }
    // The direct sum (whole n ≤ 1000) and the closed form agree where they meet.
    for g in [1e-3, 0.5, 1.0 - 1e-9, 1.0, 1.0 + 1e-7, 2.0, 1e3] {
        let m = BgBb::new(1.3, 0.8, g, 2.5).unwrap();
        let (sum, closed) = (m.expected_purchases(1000.0), m.expected_purchases(1000.0 + 1e-9));
        assert!((sum - closed).abs() < 1e-9 * sum, "γ = {g}: {sum} vs {closed}");
    }
    // At γ = 1, θ ~ Beta(1, δ): P(alive at t) = δ / (δ + t); with δ = 1, E[X(n)] = E[p] (H_{n+1} − 1).
    let m = BgBb::new(1.0, 1.0, 1.0, 1.0).unwrap();
    let harmonic: f64 = (2..=11).map(|k| 1.0 / f64::from(k)).sum();
    assert!((m.expected_purchases(10.0) - 0.5 * harmonic).abs() < 1e-14);
    let harmonic: f64 = (2..=2001).map(|k| 1.0 / f64::from(k)).sum();
    assert!((m.expected_purchases(2000.0) - 0.5 * harmonic).abs() < 1e-12);
}

/// Frequency, recency and n columns, then the column and row the error must name.
type Case<'a> = (&'a [f64], &'a [f64], &'a [f64], &'a str, usize);

#[test]
fn invalid_inputs_name_column_and_row() {
    let m = BgBb::new(1.0, 1.0, 1.0, 1.0).unwrap();
    let col = |e: ClvError| match e {
        ClvError::InvalidInput { column, index, .. } => (column, index),
        other => panic!("unexpected {other:?}"),
    };
    let cases: [Case<'_>; 6] = [
        (&[0.0, 1.5], &[0.0, 2.0], &[3.0, 3.0], "frequency", 1),
        (&[0.0, 1.0], &[0.0, 4.0], &[3.0, 3.0], "recency", 1),
        (&[1.0, 0.0], &[1.0, 1.0], &[3.0, 3.0], "recency", 1),
        (&[2.0, 0.0], &[1.0, 0.0], &[3.0, 3.0], "frequency", 0),
        (&[0.0, 0.0], &[0.0, 0.0], &[3.0, f64::NAN], "n_periods", 1),
        (&[0.0, 0.0], &[0.0, 0.0], &[-1.0, 3.0], "n_periods", 0),
    ];
    for (x, tx, n, column, row) in cases {
        let e = m.probability_alive(x, tx, n).unwrap_err();
        assert_eq!(col(e), (column.to_string(), row));
        let e = BgBb::fit(x, tx, n, &[1.0, 1.0]).unwrap_err();
        assert_eq!(col(e), (column.to_string(), row));
    }
    let e = BgBb::fit(&[0.0], &[0.0], &[3.0], &[-2.0]).unwrap_err();
    assert_eq!(col(e), ("weights".to_string(), 0));
    assert!(matches!(BgBb::fit(&[0.0], &[0.0], &[3.0], &[0.0]).unwrap_err(), ClvError::NoData(_)));
    assert!(matches!(
        m.probability_alive(&[0.0], &[0.0, 0.0], &[3.0]).unwrap_err(),
        ClvError::LengthMismatch { .. }
    ));
    assert!(matches!(
        m.probability_alive_after(f64::NAN, &[0.0], &[0.0], &[3.0]).unwrap_err(),
        ClvError::InvalidParameter { .. }
    ));
    assert!(BgBb::new(0.0, 1.0, 1.0, 1.0).is_err());
    assert!(BgBb::new(1.0, 1.0, f64::INFINITY, 1.0).is_err());
    assert!(m.expected_purchases(-1.0).is_nan());
}

#[test]
fn boundary_optimum_is_a_fitted_model() {
    // Everybody transacts at every opportunity: no dropout, p = 1 for all.
    let (m, info) = BgBb::fit(&[5.0], &[5.0], &[5.0], &[100.0]).unwrap();
    assert!(!info.boundary.is_empty(), "{info:?}");
    assert!(info.standard_errors.iter().all(Option::is_none));
    assert!(info.log_likelihood > -1e-3 && info.log_likelihood <= 0.0, "{info:?}");
    let e = m.conditional_expected_purchases(3.0, &[5.0], &[5.0], &[5.0]).unwrap()[0];
    assert!(e > 2.9 && e <= 3.0 + 1e-9, "{e}");
}

#[test]
fn serde_round_trip() {
    let m = BgBb::new(1.204, 0.75, 0.657, 2.783).unwrap();
    let json = serde_json::to_string(&m).unwrap();
    assert_eq!(json, r#"{"alpha":1.204,"beta":0.75,"gamma":0.657,"delta":2.783}"#);
    assert_eq!(serde_json::from_str::<BgBb>(&json).unwrap(), m);
}

fn param() -> impl Strategy<Value = f64> {
    (-7.0f64..7.0).prop_map(f64::exp)
}

fn pattern() -> impl Strategy<Value = (f64, f64, f64)> {
    (0u32..200).prop_flat_map(|n| {
        (0..=n).prop_flat_map(move |tx| {
            let x = if tx == 0 { (0u32..=0).boxed() } else { (1..=tx).boxed() };
            x.prop_map(move |x| (f64::from(x), f64::from(tx), f64::from(n)))
        })
    })
}

proptest! {
    #[test]
    fn predictions_are_finite_and_in_range(
        a in param(), b in param(), g in param(), d in param(),
        (x, tx, n) in pattern(),
        m in 0.0f64..500.0,
    ) {
        let model = BgBb::new(a, b, g, d).unwrap();
        let alive = model.probability_alive(&[x], &[tx], &[n]).unwrap()[0];
        prop_assert!((0.0..=1.0).contains(&alive), "P(alive) {}", alive);
        let later = model.probability_alive_after(m, &[x], &[tx], &[n]).unwrap()[0];
        prop_assert!((0.0..=1.0).contains(&later) && later <= alive + 1e-12, "{} > {}", later, alive);
        let e = model.conditional_expected_purchases(m, &[x], &[tx], &[n]).unwrap()[0];
        prop_assert!(e.is_finite() && e >= 0.0 && e <= m * (1.0 + 1e-9), "E {}", e);
        let e0 = model.expected_purchases(m);
        prop_assert!(e0.is_finite() && e0 >= 0.0 && e0 <= m * (1.0 + 1e-9), "E0 {}", e0);
        let ll = model.log_likelihood(&[x], &[tx], &[n], &[1.0]).unwrap();
        prop_assert!(ll.is_finite() && ll <= 1e-12, "LL {}", ll);
    }

    #[test]
    fn purchase_distribution_sums_to_one(
        a in param(), b in param(), g in param(), d in param(), n in 0u32..60,
    ) {
        let model = BgBb::new(a, b, g, d).unwrap();
        let mut total = 0.0;
        for x in 0..=n {
            let p = model.probability_of_purchases(n, x);
            prop_assert!((0.0..=1.0).contains(&p));
            total += p;
        }
        prop_assert!((total - 1.0).abs() < 1e-9, "Σ = {}", total);
    }
}
