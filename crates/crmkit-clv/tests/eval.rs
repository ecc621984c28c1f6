//! Holdout evaluation and tracking curves, with models whose answers are known by hand.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::path::PathBuf;

use crmkit_clv::ClvError;
use crmkit_clv::eval::{
    HoldoutComparison, TrackingOptions, actual_cumulative_repeat, expected_cumulative_repeat,
    holdout_metrics, tracking_curve,
};
use crmkit_clv::summary::{MICROS_PER_DAY, NonPositiveAmounts, TimeUnit, calibration_and_holdout};

const D: i64 = MICROS_PER_DAY;

fn near(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-12 * a.abs().max(b.abs()).max(1.0)
}

// ------------------------------------------------------------------ holdout comparison

#[test]
fn metrics_by_hand() {
    let m = holdout_metrics(&[1.0, 2.0, 3.0, 4.0], &[2.0, 2.0, 5.0, 3.0]).unwrap();
    assert_eq!(m.n, 4);
    assert_eq!((m.sum_predicted, m.sum_actual), (10.0, 12.0));
    assert_eq!((m.mean_predicted, m.mean_actual), (2.5, 3.0));
    assert_eq!(m.mae, 1.0); // |−1| + 0 + |−2| + 1
    assert!(near(m.rmse, 1.5f64.sqrt()));
    assert_eq!(m.mean_bias, -0.5);
    // cov = 3, var_p = 5, var_a = 6 (sums of squares)
    assert!(near(m.correlation.unwrap(), 3.0 / 30f64.sqrt()));
    // A perfect model.
    let m = holdout_metrics(&[0.0, 1.0, 4.0], &[0.0, 1.0, 4.0]).unwrap();
    assert_eq!((m.mae, m.rmse, m.mean_bias), (0.0, 0.0, 0.0));
    assert!(near(m.correlation.unwrap(), 1.0));
    // Constant predictions: no correlation.
    assert_eq!(holdout_metrics(&[1.0, 1.0], &[0.0, 3.0]).unwrap().correlation, None);
}

#[test]
fn comparison_inputs() {
    let c = HoldoutComparison::from_fn(&[1.0, 2.0, 3.0], |i| i as f64 * 2.0).unwrap();
    assert_eq!(c.predicted, vec![0.0, 2.0, 4.0]);
    assert_eq!(c.metrics().sum_predicted, 6.0);
    assert!(matches!(
        HoldoutComparison::new(&[1.0], &[1.0, 2.0]).unwrap_err(),
        ClvError::LengthMismatch { .. }
    ));
    assert!(matches!(HoldoutComparison::new(&[], &[]).unwrap_err(), ClvError::NoData(_)));
    let e = HoldoutComparison::new(&[1.0, 2.0], &[1.0, f64::INFINITY]).unwrap_err();
    assert!(e.to_string().contains("actual at row 1"), "{e}");
    let e = HoldoutComparison::from_fn(&[1.0, 2.0], |_| f64::NAN).unwrap_err();
    assert!(e.to_string().contains("predicted at row 0"), "{e}");
}

#[test]
fn groups_by_calibration_frequency() {
    let c =
        HoldoutComparison::new(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[0.0, 1.0, 1.0, 3.0, 9.0, 1.0])
            .unwrap();
    let bins = c.by_calibration_frequency(&[0.0, 1.0, 1.0, 7.0, 12.0, 0.0], 7).unwrap();
    assert_eq!(bins.frequency, vec![0, 1, 7]);
    assert_eq!(bins.customers, vec![2, 2, 2]);
    assert_eq!(bins.mean_predicted, vec![3.5, 2.5, 4.5]);
    assert_eq!(bins.mean_actual, vec![0.5, 1.0, 6.0]);
    assert!(c.by_calibration_frequency(&[0.0], 7).is_err());
    let e = c.by_calibration_frequency(&[0.0, 1.5, 1.0, 7.0, 12.0, 0.0], 7).unwrap_err();
    assert!(e.to_string().contains("frequency_cal at row 1"), "{e}");
}

// ------------------------------------------------------------------ tracking

#[test]
fn poisson_tracking_by_hand() {
    // Customer 0 born day 0, repeats on days 2, 2 (same day: one repeat), 9, 15.
    // Customer 1 born day 3, repeats on day 20.
    // Customer 2 born day 10, no repeat. Customer 3 born day 30 (after the last boundary, 21).
    let customer = [0, 0, 0, 0, 0, 1, 1, 2, 3];
    let ts = [0, 2 * D, 2 * D + 9, 9 * D, 15 * D, 3 * D + 1, 20 * D, 10 * D, 30 * D];
    let lambda = 0.25; // repeat purchases per week
    let curve =
        tracking_curve(&customer, &ts, &TrackingOptions::weekly(3), |t| lambda * t).unwrap();
    assert_eq!(curve.period, vec![1, 2, 3]);
    assert_eq!(curve.boundary_day, vec![7, 14, 21]);
    assert_eq!(curve.t, vec![1.0, 2.0, 3.0]);
    // τ = 7: ages 7, 4 days → λ(7 + 4)/7. τ = 14: 14, 11, 4. τ = 21: 21, 18, 11.
    let expected = [
        lambda * (7.0 + 4.0) / 7.0,
        lambda * (14.0 + 11.0 + 4.0) / 7.0,
        lambda * (21.0 + 18.0 + 11.0) / 7.0,
    ];
    for (k, (&got, &want)) in curve.expected.iter().zip(&expected).enumerate() {
        assert!(near(got, want), "{k}: {got} vs {want}");
    }
    // Repeat days before τ: {2} | {2, 9} | {2, 9, 15, 20}.
    assert_eq!(curve.actual, vec![1.0, 2.0, 4.0]);
    let (inc_e, inc_a) = curve.incremental();
    assert_eq!(inc_a, vec![1.0, 1.0, 2.0]);
    assert!(near(inc_e.iter().sum::<f64>(), expected[2]));
    // The same pieces separately.
    assert_eq!(actual_cumulative_repeat(&customer, &ts, &[7, 14, 21]).unwrap(), curve.actual);
    // Boundaries in any order, repeated, or before every purchase.
    assert_eq!(
        actual_cumulative_repeat(&customer, &ts, &[14, 7, 21, 7, -3, 2, 3]).unwrap(),
        vec![2.0, 1.0, 4.0, 1.0, 0.0, 0.0, 1.0]
    );
    assert!(actual_cumulative_repeat(&customer, &ts, &[]).unwrap().is_empty());
    let e =
        expected_cumulative_repeat(&[0, 3, 10, 30], &[7, 14, 21], TimeUnit::Week, |t| lambda * t)
            .unwrap();
    assert_eq!(e, curve.expected);
    // Ages in days with a daily rate give the same curve.
    let daily =
        tracking_curve(&customer, &ts, &TrackingOptions::weekly(3).time_unit(TimeUnit::Day), |t| {
            lambda / 7.0 * t
        })
        .unwrap();
    assert_eq!(daily.t, vec![7.0, 14.0, 21.0]);
    for (&got, &want) in daily.expected.iter().zip(&expected) {
        assert!(near(got, want));
    }
}

#[test]
fn tracking_start_day_and_model_calls() {
    // Start on day 5: boundaries 12, 19. Customer 0 (born day 0) counts from its birth; its
    // repeat on day 4 (before the start) is in every cumulative value.
    let customer = [0, 0, 0, 1];
    let ts = [0, 4 * D, 13 * D, 15 * D];
    let mut calls = vec![];
    let curve = tracking_curve(&customer, &ts, &TrackingOptions::weekly(2).start_day(5), |t| {
        calls.push(t);
        t
    })
    .unwrap();
    assert_eq!(curve.boundary_day, vec![12, 19]);
    assert_eq!(curve.t, vec![1.0, 2.0]);
    assert_eq!(curve.actual, vec![1.0, 2.0]);
    // τ = 12: customer 0 aged 12 days; customer 1 not born. τ = 19: 19 and 4 days.
    assert_eq!(calls, vec![12.0 / 7.0, 19.0 / 7.0, 4.0 / 7.0]);
    assert!(near(curve.expected[0], 12.0 / 7.0));
    assert!(near(curve.expected[1], 23.0 / 7.0));
    // One model call per distinct birth day and boundary, however many customers.
    let mut n = 0;
    let e = expected_cumulative_repeat(&[0; 1000], &[7, 14], TimeUnit::Week, |t| {
        n += 1;
        t
    })
    .unwrap();
    assert_eq!((n, e), (2, vec![1000.0, 2000.0]));
}

#[test]
fn tracking_errors() {
    let f = |t: f64| t;
    assert!(matches!(
        tracking_curve(&[], &[], &TrackingOptions::weekly(2), f).unwrap_err(),
        ClvError::NoData(_)
    ));
    assert!(
        tracking_curve(&[], &[], &TrackingOptions::weekly(2).start_day(0), f).unwrap().actual
            == vec![0.0, 0.0]
    );
    assert!(matches!(
        tracking_curve(&[0], &[0], &TrackingOptions::weekly(0), f).unwrap_err(),
        ClvError::InvalidParameter { .. }
    ));
    let mut o = TrackingOptions::weekly(2);
    o.period_days = 0;
    assert!(tracking_curve(&[0], &[0], &o, f).is_err());
    assert!(
        tracking_curve(&[0], &[0], &TrackingOptions::weekly(2).time_unit(TimeUnit::Days(-1.0)), f)
            .is_err()
    );
    assert!(matches!(
        tracking_curve(&[0, 1], &[0], &TrackingOptions::weekly(2), f).unwrap_err(),
        ClvError::LengthMismatch { .. }
    ));
    let e = tracking_curve(&[0], &[0], &TrackingOptions::weekly(2), |_| f64::NAN).unwrap_err();
    assert!(e.to_string().contains("expected_repeat"), "{e}");
}

// ------------------------------------------------------------------ CDNOW

fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn cdnow_sample() -> (Vec<u32>, Vec<i64>, Vec<f64>) {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/data/CDNOW_sample.txt");
    let text = std::fs::read_to_string(&path).unwrap();
    let (mut c, mut t, mut a) = (vec![], vec![], vec![]);
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let f: Vec<&str> = line.split_whitespace().collect();
        c.push(f[1].parse().unwrap());
        let ymd = f[2];
        let day = days_from_civil(
            ymd[0..4].parse().unwrap(),
            ymd[4..6].parse().unwrap(),
            ymd[6..8].parse().unwrap(),
        );
        t.push(day * D);
        a.push(f[4].parse().unwrap());
    }
    (c, t, a)
}

#[test]
fn cdnow_tracking_agrees_with_the_calibration_holdout_split() {
    let (customer, ts, amount) = cdnow_sample();
    let start = days_from_civil(1997, 1, 1);
    let cal_end = days_from_civil(1997, 9, 30);
    let end = days_from_civil(1998, 6, 30);
    assert_eq!((cal_end - start + 1, end - start + 1), (39 * 7, 78 * 7));
    let ch = calibration_and_holdout(
        &customer,
        &ts,
        &amount,
        cal_end * D,
        end * D,
        TimeUnit::Week,
        NonPositiveAmounts::Keep,
    )
    .unwrap();
    let cal = &ch.calibration;

    // A Poisson model with the calibration's mean rate, in repeat purchases per week.
    let lambda = cal.frequency.iter().sum::<f64>() / cal.t.iter().sum::<f64>();
    let curve =
        tracking_curve(&customer, &ts, &TrackingOptions::weekly(78), |t| lambda * t).unwrap();
    assert_eq!(curve.boundary_day[0], start + 7);
    assert_eq!(curve.boundary_day[38], cal_end + 1);
    assert_eq!(curve.boundary_day[77], end + 1);
    // Actual: through week 39 = the calibration repeat purchases; through week 78 adds the holdout.
    assert_eq!(curve.actual[38], cal.frequency.iter().sum::<f64>());
    assert_eq!(curve.actual[38], 2457.0);
    assert_eq!(curve.actual[77], 2457.0 + ch.frequency_holdout.iter().sum::<f64>());
    assert!(curve.actual.windows(2).all(|w| w[0] <= w[1]));
    // Expected, by hand from the first purchase days: Σ_i λ · max(τ − birth_i, 0) / 7.
    for (k, &tau) in curve.boundary_day.iter().enumerate() {
        let by_hand: f64 =
            cal.first_day.iter().map(|&b| lambda * ((tau - b).max(0) as f64) / 7.0).sum();
        assert!((curve.expected[k] - by_hand).abs() <= 1e-9 * by_hand.max(1.0), "week {}", k + 1);
    }
    // At week 39 the boundary is one day after the calibration end, so each customer is one day
    // older than its T: Σ λ (T + 1/7) = sum of frequency + λ n / 7.
    let n = cal.len() as f64;
    assert!((curve.expected[38] - (2457.0 + lambda * n / 7.0)).abs() < 1e-6);

    // Holdout comparison with the same model: E[purchases in the holdout] = λ · 39 weeks.
    let c = HoldoutComparison::from_fn(&ch.frequency_holdout, |i| lambda * ch.duration_holdout[i])
        .unwrap();
    let m = c.metrics();
    assert_eq!(m.n, 2357);
    assert_eq!(m.sum_actual, 1882.0);
    assert!(near(m.sum_predicted, 2357.0 * lambda * 39.0));
    assert!(m.correlation.is_none()); // a constant prediction
    let bins = c.by_calibration_frequency(&cal.frequency, 7).unwrap();
    assert_eq!(bins.customers.iter().sum::<usize>(), 2357);
    // Customers who repeated more in calibration repeat more in the holdout.
    assert!(bins.mean_actual[0] < bins.mean_actual[bins.mean_actual.len() - 1]);
}
