//! CLV: closed forms for simple models, both discounting conventions, and lifetimes 0.11.3's
//! `customer_lifetime_value` on CDNOW (BG/NBD + Gamma-Gamma).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use crmkit_clv::bgbb::BgBb;
use crmkit_clv::bgnbd::BgNbd;
use crmkit_clv::clv::LIFETIMES_WEEKS_PER_MONTH as WEEKS_PER_MONTH;
use crmkit_clv::clv::{Discounting, RepeatPurchaseModel, customer_lifetime_value};
use crmkit_clv::gammagamma::GammaGamma;
use crmkit_clv::mbgnbd::MbgNbd;
use crmkit_clv::paretonbd::ParetoNbd;
use crmkit_clv::{ClvError, Result};
use proptest::prelude::*;
use serde_json::Value;

/// Every customer buys at the constant rate `λ`: E[Y(t)] = λ t.
struct ConstantRate(f64);

impl RepeatPurchaseModel for ConstantRate {
    fn conditional_expected_purchases(
        &self,
        t: f64,
        x: &[f64],
        _t_x: &[f64],
        _big_t: &[f64],
    ) -> Result<Vec<f64>> {
        Ok(vec![self.0 * t; x.len()])
    }
}

/// Purchases that fade out: E[Y(t)] = A (1 − e^{−κt}), rate A κ e^{−κt}; A is the customer's `x`.
struct Fading {
    kappa: f64,
}

impl RepeatPurchaseModel for Fading {
    fn conditional_expected_purchases(
        &self,
        t: f64,
        x: &[f64],
        _t_x: &[f64],
        _big_t: &[f64],
    ) -> Result<Vec<f64>> {
        if t < 0.0 {
            return Err(ClvError::InvalidParameter {
                name: "t".into(),
                message: "negative".into(),
            });
        }
        Ok(x.iter().map(|a| a * -(-self.kappa * t).exp_m1()).collect())
    }
}

fn one(model: &dyn RepeatPurchaseModel, spend: f64, x: f64, d: &Discounting) -> f64 {
    customer_lifetime_value(model, &[spend], &[x], &[0.0], &[1.0], d).unwrap()[0]
}

#[test]
fn constant_rate_closed_forms() {
    let (lambda, m) = (0.7, 25.0);
    // Discrete: Σ_{k=1}^{K} m λ L / (1+d)^k = m λ L (1 − (1+d)^{−K}) / d.
    for (d, k, l) in [(0.01, 12u32, 4.345), (0.1, 5, 1.0), (0.0, 7, 2.0), (0.25, 40, 0.5)] {
        let disc = Discounting::Discrete { rate_per_period: d, periods: k, period_length: l };
        let got = one(&ConstantRate(lambda), m, 1.0, &disc);
        let want = if d == 0.0 {
            m * lambda * l * f64::from(k)
        } else {
            m * lambda * l * (1.0 - (1.0f64 + d).powi(-(k as i32))) / d
        };
        assert!((got - want).abs() < 1e-12 * want, "d={d} K={k} L={l}: {got} vs {want}");
    }
    // Continuous: m λ (1 − e^{−δH}) / δ, exactly, whatever the number of steps.
    for (delta, h) in [(0.05f64, 10.0f64), (0.002, 52.0), (1.5, 3.0)] {
        let want = m * lambda * -(-delta * h).exp_m1() / delta;
        for steps in [1u32, 7, 365] {
            let disc = Discounting::Continuous { rate: delta, horizon: h, steps };
            let got = one(&ConstantRate(lambda), m, 1.0, &disc);
            assert!((got - want).abs() < 1e-12 * want, "δ={delta} steps={steps}: {got} vs {want}");
        }
    }
    // No discounting: the spend times the expected purchases over the horizon.
    let disc = Discounting::Continuous { rate: 0.0, horizon: 10.0, steps: 3 };
    assert!((one(&ConstantRate(lambda), m, 1.0, &disc) - m * lambda * 10.0).abs() < 1e-12);
    // Zero periods: zero value.
    let disc = Discounting::Discrete { rate_per_period: 0.1, periods: 0, period_length: 1.0 };
    assert_eq!(one(&ConstantRate(lambda), m, 1.0, &disc), 0.0);
}

#[test]
fn continuous_quadrature_converges_quadratically() {
    // ∫₀^H e^{−δt} A κ e^{−κt} dt = A κ (1 − e^{−(δ+κ)H}) / (δ + κ).
    let (a, kappa, delta, h) = (3.0, 0.2, 0.05, 30.0f64);
    let exact = a * kappa * -(-(delta + kappa) * h).exp_m1() / (delta + kappa);
    let model = Fading { kappa };
    let err = |steps: u32| {
        let disc = Discounting::Continuous { rate: delta, horizon: h, steps };
        (one(&model, 1.0, a, &disc) - exact).abs()
    };
    let (e10, e20, e1000) = (err(10), err(20), err(1000));
    assert!((e10 / e20 - 4.0).abs() < 0.1, "{e10} / {e20}");
    assert!(e1000 < 1e-6 * exact, "{e1000}");
    // Discrete at the end of each step discounts more than continuously at the same yearly
    // rate (each step's purchases happen, on average, before its end).
    let year_d = Discounting::Discrete { rate_per_period: 0.1, periods: 30, period_length: 1.0 };
    let year_c = Discounting::Continuous { rate: 1.1f64.ln(), horizon: 30.0, steps: 3000 };
    assert!(one(&model, 1.0, a, &year_d) < one(&model, 1.0, a, &year_c));
}

#[test]
fn discrete_matches_a_direct_sum_for_bgbb() {
    // BG/BB through the trait: opportunities as periods.
    let m = BgBb::new(1.204, 0.750, 0.657, 2.783).unwrap();
    let (x, tx, n) = ([3.0, 6.0, 0.0], [5.0, 6.0, 0.0], [6.0, 6.0, 6.0]);
    let spend = [50.0, 80.0, 20.0];
    let disc = Discounting::Discrete { rate_per_period: 0.1, periods: 10, period_length: 1.0 };
    let clv = customer_lifetime_value(&m, &spend, &x, &tx, &n, &disc).unwrap();
    for j in 0..3 {
        let mut want = 0.0;
        for k in 1..=10 {
            let e = |t: f64| m.conditional_expected_purchases(t, &x[j..=j], &tx[j..=j], &n[j..=j]);
            let de = e(f64::from(k)).unwrap()[0] - e(f64::from(k - 1)).unwrap()[0];
            want += spend[j] * de / 1.1f64.powi(k);
        }
        assert!((clv[j] - want).abs() < 1e-12 * want, "{j}: {} vs {want}", clv[j]);
    }
    assert!(clv[1] > clv[0] && clv[0] > clv[2]);
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
    let section = all.get("gammagamma").cloned();
    section.unwrap_or_else(|| panic!("{path} has no `gammagamma` section"))
}

fn f(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

/// Every number that follows `"key":` in the fixture's text, parsed exactly.
fn raw_numbers(key: &str) -> Vec<f64> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/lifetimes.json");
    let text = std::fs::read_to_string(path).unwrap();
    let pattern = format!("\"{key}\":");
    text.match_indices(&pattern)
        .map(|(at, _)| {
            let rest = text[at + pattern.len()..].trim_start();
            let end = rest.find(|c: char| !"0123456789.eE+-".contains(c)).unwrap_or(rest.len());
            rest[..end].parse().unwrap()
        })
        .collect()
}

#[test]
fn matches_lifetimes_customer_lifetime_value() {
    let fx = fixture();
    // ggf.customer_lifetime_value(bgf, x, t_x, T, zbar, time=12, discount_rate=0.01, freq='W').
    let call = fx["clv_call"].as_str().unwrap();
    assert!(call.contains("time=12, discount_rate=0.01, freq='W'"), "{call}");
    let bp = &fx["clv_transaction_model"]["params"];
    let bgnbd = BgNbd::new(f(&bp["r"]), f(&bp["alpha"]), f(&bp["a"]), f(&bp["b"])).unwrap();
    let gp = &fx["params"];
    let gg = GammaGamma::new(f(&gp["p"]), f(&gp["q"]), f(&gp["v"])).unwrap();
    let customers = fx["customers"].as_array().unwrap();
    let col = |name: &str| customers.iter().map(|c| f(&c[name])).collect::<Vec<f64>>();
    let (x, tx, big_t, zbar) = (col("x"), col("t_x"), col("T"), col("zbar"));
    let spend = gg.conditional_expected_spend(&x, &zbar).unwrap();
    let disc = Discounting::Discrete {
        rate_per_period: 0.01,
        periods: 12,
        period_length: WEEKS_PER_MONTH,
    };
    let clv = customer_lifetime_value(&bgnbd, &spend, &x, &tx, &big_t, &disc).unwrap();
    let mut worst: f64 = 0.0;
    for (c, got) in customers.iter().zip(&clv) {
        let want = f(&c["customer_lifetime_value"]);
        let rel = (got - want).abs() / want;
        worst = worst.max(rel);
        assert!(rel < 1e-12, "ID {}: {got} vs lifetimes {want}", c["ID"]);
    }
    println!("CLV vs lifetimes: max relative difference {worst:e} over {} customers", clv.len());

    // The month-by-month breakdown of the first customer: lifetimes' step bounds, the model's
    // expected transactions per month, and the discount divisors bit for bit.
    // serde_json (without its `float_roundtrip` feature) may read a float 1 ulp off, so the
    // bit-for-bit checks read the numbers from the raw text with Rust's exact parser.
    let raw = raw_numbers("discount_divisor");
    let rows = fx["clv_breakdown_first_customer"].as_array().unwrap();
    assert_eq!(raw.len(), rows.len());
    for (row, divisor) in rows.iter().zip(raw) {
        let k = f(&row["month"]);
        let i = k * WEEKS_PER_MONTH;
        assert!((i - f(&row["t_end_weeks"])).abs() <= 1e-15 * i);
        assert_eq!((1.0f64 + 0.01).powf(i / WEEKS_PER_MONTH), divisor, "month {k}");
        let e = |t: f64| bgnbd.conditional_expected_purchases(t, &x[..1], &tx[..1], &big_t[..1]);
        let lower = if k == 1.0 { 0.0 } else { e(i - WEEKS_PER_MONTH).unwrap()[0] };
        let de = e(i).unwrap()[0] - lower;
        let want = f(&row["expected_transactions_in_month"]);
        assert!((de - want).abs() < 1e-9 * want, "month {k}: {de} vs {want}");
    }
}

#[test]
fn every_model_implements_the_trait() {
    // Each model's CLV is the discounted sum of its own month-by-month expectations.
    let models: Vec<(&str, Box<dyn RepeatPurchaseModel>)> = vec![
        ("BG/NBD", Box::new(BgNbd::new(0.243, 4.414, 0.793, 2.426).unwrap())),
        ("MBG/NBD", Box::new(MbgNbd::new(0.525, 6.183, 0.891, 1.614).unwrap())),
        ("Pareto/NBD", Box::new(ParetoNbd::new(0.553, 10.578, 0.606, 11.669).unwrap())),
    ];
    let (x, tx, big_t) = ([0.0, 2.0, 7.0], [0.0, 30.43, 29.43], [38.86; 3]);
    let spend = [35.0, 24.66, 71.46];
    let disc = Discounting::Discrete {
        rate_per_period: 0.01,
        periods: 12,
        period_length: WEEKS_PER_MONTH,
    };
    for (name, model) in &models {
        let clv = customer_lifetime_value(model.as_ref(), &spend, &x, &tx, &big_t, &disc).unwrap();
        for j in 0..3 {
            let e = |t: f64| {
                model.conditional_expected_purchases(t, &x[j..=j], &tx[j..=j], &big_t[j..=j])
            };
            let mut want = 0.0;
            for k in 1..=12 {
                let i = f64::from(k) * WEEKS_PER_MONTH;
                let lower = if k == 1 { 0.0 } else { e(i - WEEKS_PER_MONTH).unwrap()[0] };
                want += spend[j] * (e(i).unwrap()[0] - lower) / 1.01f64.powi(k);
            }
            assert!((clv[j] - want).abs() < 1e-12 * want, "{name} {j}: {} vs {want}", clv[j]);
            assert!(clv[j] > 0.0 && clv[j].is_finite());
        }
        assert!(clv[2] > clv[1] && clv[1] > clv[0], "{name}: {clv:?}");
    }
}

#[test]
fn invalid_inputs() {
    let m = ConstantRate(1.0);
    let ok = Discounting::Discrete { rate_per_period: 0.01, periods: 3, period_length: 1.0 };
    let name = |e: ClvError| match e {
        ClvError::InvalidParameter { name, .. } => name,
        other => panic!("unexpected {other:?}"),
    };
    let bad = [
        (
            Discounting::Discrete { rate_per_period: -0.1, periods: 3, period_length: 1.0 },
            "rate_per_period",
        ),
        (
            Discounting::Discrete { rate_per_period: f64::NAN, periods: 3, period_length: 1.0 },
            "rate_per_period",
        ),
        (
            Discounting::Discrete { rate_per_period: 0.1, periods: 3, period_length: 0.0 },
            "period_length",
        ),
        (Discounting::Continuous { rate: -1.0, horizon: 1.0, steps: 3 }, "rate"),
        (Discounting::Continuous { rate: 0.1, horizon: f64::INFINITY, steps: 3 }, "horizon"),
        (Discounting::Continuous { rate: 0.1, horizon: 1.0, steps: 0 }, "steps"),
    ];
    for (d, want) in bad {
        let e = customer_lifetime_value(&m, &[1.0], &[1.0], &[1.0], &[2.0], &d).unwrap_err();
        assert_eq!(name(e), want);
    }
    let e = customer_lifetime_value(&m, &[1.0, f64::NAN], &[1.0; 2], &[1.0; 2], &[2.0; 2], &ok)
        .unwrap_err();
    assert!(
        matches!(e, ClvError::InvalidInput { ref column, index: 1, .. } if column == "spend"),
        "{e:?}"
    );
    let e = customer_lifetime_value(&m, &[1.0], &[1.0; 2], &[1.0; 2], &[2.0; 2], &ok).unwrap_err();
    assert!(matches!(e, ClvError::LengthMismatch { .. }));
    // The model's own validation comes through, naming the column and row.
    let bgnbd = BgNbd::new(0.243, 4.414, 0.793, 2.426).unwrap();
    let e =
        customer_lifetime_value(&bgnbd, &[1.0, 1.0], &[1.0, 1.0], &[3.0, 5.0], &[4.0, 4.0], &ok)
            .unwrap_err();
    assert!(matches!(e, ClvError::InvalidInput { index: 1, .. }), "{e:?}");
    let zero = Discounting::Discrete { rate_per_period: 0.01, periods: 0, period_length: 1.0 };
    assert!(customer_lifetime_value(&bgnbd, &[1.0], &[1.0], &[5.0], &[4.0], &zero).is_err());
}

#[test]
fn serde_round_trip() {
    let d = Discounting::Discrete { rate_per_period: 0.01, periods: 12, period_length: 4.345 };
    let json = serde_json::to_string(&d).unwrap();
    assert_eq!(json, r#"{"Discrete":{"rate_per_period":0.01,"periods":12,"period_length":4.345}}"#);
    assert_eq!(serde_json::from_str::<Discounting>(&json).unwrap(), d);
    let c = Discounting::Continuous { rate: 0.05, horizon: 52.0, steps: 100 };
    let back: Discounting = serde_json::from_str(&serde_json::to_string(&c).unwrap()).unwrap();
    assert_eq!(back, c);
}

proptest! {
    #[test]
    fn value_is_finite_non_negative_and_monotone(
        kappa in (-8.0f64..3.0).prop_map(f64::exp),
        a in 0.0f64..100.0,
        spend in 0.0f64..1e4,
        rate in 0.0f64..2.0,
        periods in 0u32..120,
        length in (-3.0f64..5.0).prop_map(f64::exp),
        steps in 1u32..200,
    ) {
        let model = Fading { kappa };
        let d = Discounting::Discrete { rate_per_period: rate, periods, period_length: length };
        let v = one(&model, spend, a, &d);
        prop_assert!(v.is_finite() && v >= 0.0, "{}", v);
        // Higher rate, lower value; longer horizon, higher value.
        let d2 = Discounting::Discrete { rate_per_period: rate + 0.1, periods, period_length: length };
        prop_assert!(one(&model, spend, a, &d2) <= v * (1.0 + 1e-12));
        let d3 = Discounting::Discrete { rate_per_period: rate, periods: periods + 1, period_length: length };
        prop_assert!(one(&model, spend, a, &d3) >= v * (1.0 - 1e-12));
        // Never more than the undiscounted spend on every expected purchase.
        prop_assert!(v <= spend * a * (1.0 + 1e-12));

        let horizon = length * f64::from(periods.max(1));
        let c = Discounting::Continuous { rate: rate / length, horizon, steps };
        let vc = one(&model, spend, a, &c);
        prop_assert!(vc.is_finite() && vc >= 0.0 && vc <= spend * a * (1.0 + 1e-12), "{}", vc);
    }

    #[test]
    fn bgnbd_values_are_finite_and_non_negative(
        r in (-4.0f64..3.0).prop_map(f64::exp),
        alpha in (-3.0f64..5.0).prop_map(f64::exp),
        a in (-4.0f64..3.0).prop_map(f64::exp),
        b in (-4.0f64..3.0).prop_map(f64::exp),
        x in 0u32..50,
        frac in 0.0f64..1.0,
        big_t in 1.0f64..100.0,
    ) {
        let model = BgNbd::new(r, alpha, a, b).unwrap();
        let x = f64::from(x);
        let tx = if x == 0.0 { 0.0 } else { frac * big_t };
        let d = Discounting::Discrete { rate_per_period: 0.01, periods: 12, period_length: WEEKS_PER_MONTH };
        let v = customer_lifetime_value(&model, &[30.0], &[x], &[tx], &[big_t], &d).unwrap()[0];
        prop_assert!(v.is_finite() && v >= 0.0, "{}", v);
    }
}
