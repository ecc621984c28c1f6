//! RFM summaries: CDNOW reproduction against lifetimes 0.11.3, invariances, policies, errors.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::collections::BTreeMap;
use std::path::PathBuf;

use crmkit_clv::ClvError;
use crmkit_clv::summary::{
    MICROS_PER_DAY, NonPositiveAmounts, Summary, SummaryOptions, TimeUnit, calibration_and_holdout,
    day_of, summary,
};
use proptest::prelude::*;
use serde_json::Value;

const D: i64 = MICROS_PER_DAY;

fn manifest() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn ymd_day(s: &str) -> i64 {
    assert_eq!(s.len(), 8, "date {s:?}");
    let y: i64 = s[0..4].parse().unwrap();
    let m: i64 = s[4..6].parse().unwrap();
    let d: i64 = s[6..8].parse().unwrap();
    days_from_civil(y, m, d)
}

struct Tx {
    customer: Vec<u32>,
    ts: Vec<i64>,
    amount: Vec<f64>,
}

/// CDNOW_sample.txt: `master_id sample_id date(YYYYMMDD) cds dollars`; customer = sample_id.
/// Timestamps are set to noon to check that the time of day does not matter.
fn cdnow_sample() -> Tx {
    let path = manifest().join("../../examples/data/CDNOW_sample.txt");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut tx = Tx { customer: vec![], ts: vec![], amount: vec![] };
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let f: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(f.len(), 5, "line {line:?}");
        tx.customer.push(f[1].parse().unwrap());
        tx.ts.push(ymd_day(f[2]) * D + D / 2);
        tx.amount.push(f[4].parse().unwrap());
    }
    assert_eq!(tx.customer.len(), 6919);
    tx
}

fn end_of(day: i64) -> i64 {
    day * D + D - 1
}

fn round2(x: f64) -> f64 {
    // numpy's round(2): scale, round half to even, unscale.
    (x * 100.0).round_ties_even() / 100.0
}

fn close(a: f64, b: f64, rel: f64) -> bool {
    (a - b).abs() <= rel * a.abs().max(b.abs()).max(1.0)
}

#[test]
fn civil_days() {
    assert_eq!(days_from_civil(1970, 1, 1), 0);
    assert_eq!(days_from_civil(1997, 1, 1), 9862);
    assert_eq!(ymd_day("19970930") - ymd_day("19970101"), 272);
}

#[test]
fn cdnow_reproduces_the_published_summary_exactly() {
    let tx = cdnow_sample();
    let options = SummaryOptions::new(end_of(ymd_day("19970930"))).time_unit(TimeUnit::Week);
    let s = summary(&tx.customer, &tx.ts, &tx.amount, &options).unwrap();

    let csv =
        std::fs::read_to_string(manifest().join("tests/data/cdnow_customers_summary.csv")).unwrap();
    let mut lines = csv.lines();
    assert_eq!(lines.next(), Some("ID,frequency,recency,T"));
    let rows: Vec<Vec<f64>> = lines
        .filter(|l| !l.is_empty())
        .map(|l| l.split(',').map(|v| v.parse().unwrap()).collect())
        .collect();
    assert_eq!(rows.len(), 2357);
    assert_eq!(s.len(), 2357);
    let mut mismatches = Vec::new();
    for (i, row) in rows.iter().enumerate() {
        let ok = f64::from(s.customer[i]) == row[0]
            && s.frequency[i] == row[1]
            && round2(s.recency[i]) == row[2]
            && round2(s.t[i]) == row[3];
        if !ok {
            mismatches.push((row.clone(), s.customer[i], s.frequency[i], s.recency[i], s.t[i]));
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} mismatches: {:?}",
        mismatches.len(),
        &mismatches[..mismatches.len().min(5)]
    );
    assert_eq!(s.frequency.iter().sum::<f64>(), 2457.0);
    assert_eq!(s.as_of_day, ymd_day("19970930"));
    assert!(s.first_day.iter().all(|&d| (ymd_day("19970101")..=ymd_day("19970331")).contains(&d)));
}

#[test]
fn cdnow_monetary_matches_fader_hardie_zbar_to_the_cent() {
    let tx = cdnow_sample();
    let options = SummaryOptions::new(end_of(ymd_day("19970930"))).time_unit(TimeUnit::Week);
    let s = summary(&tx.customer, &tx.ts, &tx.amount, &options).unwrap();
    let csv = std::fs::read_to_string(
        manifest().join("tests/data/cdnow_customers_summary_with_transactions.csv"),
    )
    .unwrap();
    let mut n = 0;
    for (i, line) in csv.lines().skip(1).filter(|l| !l.is_empty()).enumerate() {
        let v: Vec<f64> = line.split(',').map(|x| x.parse().unwrap()).collect();
        assert_eq!(f64::from(s.customer[i]), v[0]);
        assert_eq!(s.frequency[i], v[1]);
        assert!(
            (s.monetary[i] - v[4]).abs() <= 0.005 + 1e-9,
            "ID {}: {} vs zbar {}",
            v[0],
            s.monetary[i],
            v[4]
        );
        n += 1;
    }
    assert_eq!(n, 2357);
}

fn fixture() -> Value {
    let path = manifest().join("tests/fixtures/lifetimes.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "the lifetimes fixture {} is missing ({e}); generate it with \
             benches/compare/setup-venv.sh && benches/compare/.venv/bin/python benches/compare/make_fixtures.py",
            path.display()
        )
    });
    serde_json::from_str(&quote_numbers(&text)).unwrap()
}

/// Wraps every number literal of a JSON text in quotes. serde_json's default float parser is not
/// always correctly rounded (it can be one ulp off without the `float_roundtrip` feature), so the
/// fixture's numbers are read as strings and parsed with Rust's exact `str::parse::<f64>`.
fn quote_numbers(json: &str) -> String {
    let mut out = String::with_capacity(json.len() + json.len() / 4);
    let (mut in_string, mut escaped, mut in_number) = (false, false, false);
    for ch in json.chars() {
        if in_number && !(ch.is_ascii_digit() || "+-.eE".contains(ch)) {
            out.push('"');
            in_number = false;
        }
        if in_string {
            if escaped {
                escaped = false;
            } else if ch == '\\' {
                escaped = true;
            } else if ch == '"' {
                in_string = false;
            }
        } else if ch == '"' {
            in_string = true;
        } else if !in_number && (ch == '-' || ch.is_ascii_digit()) {
            out.push('"');
            in_number = true;
        }
        out.push(ch);
    }
    if in_number {
        out.push('"');
    }
    out
}

fn num(v: &Value, key: &str) -> f64 {
    v[key]
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("fixture key {key:?} is not a number in {v}"))
}

fn index_of(s: &Summary, id: u32) -> usize {
    s.customer.binary_search(&id).unwrap()
}

fn sum(v: &[f64]) -> f64 {
    v.iter().sum()
}

#[test]
fn cdnow_matches_lifetimes_summary_fixture() {
    let fx = fixture();
    let sec = &fx["rfm_sample"];
    let tx = cdnow_sample();
    let as_of = end_of(ymd_day("19970930"));
    let weeks = summary(
        &tx.customer,
        &tx.ts,
        &tx.amount,
        &SummaryOptions::new(as_of).time_unit(TimeUnit::Week),
    )
    .unwrap();
    let days = summary(&tx.customer, &tx.ts, &tx.amount, &SummaryOptions::new(as_of)).unwrap();
    assert_eq!(weeks.len() as f64, num(sec, "n_customers"));
    assert_eq!(sum(&weeks.frequency), num(sec, "sum_frequency"));
    assert_eq!(sum(&days.recency), num(sec, "sum_recency_days"));
    assert_eq!(sum(&days.t), num(sec, "sum_T_days"));
    assert!(close(sum(&weeks.recency), num(sec, "sum_recency"), 1e-12));
    assert!(close(sum(&weeks.t), num(sec, "sum_T"), 1e-12));
    assert!(close(sum(&weeks.monetary), num(sec, "sum_monetary_value"), 1e-12));
    let rows = sec["first_20_by_id"].as_array().unwrap();
    assert_eq!(rows.len(), 20);
    for row in rows {
        let i = index_of(&weeks, num(row, "id") as u32);
        assert_eq!(weeks.frequency[i], num(row, "frequency"));
        // Days divided by 7, exactly as lifetimes' users do: bit for bit.
        assert_eq!(weeks.recency[i], num(row, "recency"));
        assert_eq!(weeks.t[i], num(row, "T"));
        assert_eq!(days.recency[i], num(row, "recency_days"));
        assert_eq!(days.t[i], num(row, "T_days"));
        assert_eq!(weeks.monetary[i], num(row, "monetary_value"), "{row}");
    }
}

#[test]
fn cdnow_matches_lifetimes_calibration_holdout_fixture() {
    let fx = fixture();
    let sec = &fx["calibration_holdout"];
    let tx = cdnow_sample();
    let ch = calibration_and_holdout(
        &tx.customer,
        &tx.ts,
        &tx.amount,
        end_of(ymd_day("19970930")),
        end_of(ymd_day("19980630")),
        TimeUnit::Day,
        NonPositiveAmounts::Keep,
    )
    .unwrap();
    let cal = &ch.calibration;
    assert_eq!(cal.len() as f64, num(sec, "n_customers"));
    let sums = &sec["sums"];
    assert_eq!(sum(&cal.frequency), num(sums, "frequency_cal"));
    assert_eq!(sum(&cal.recency), num(sums, "recency_cal"));
    assert_eq!(sum(&cal.t), num(sums, "T_cal"));
    assert!(close(sum(&cal.monetary), num(sums, "monetary_value_cal"), 1e-12));
    assert_eq!(sum(&ch.frequency_holdout), num(sums, "frequency_holdout"));
    assert!(close(sum(&ch.monetary_holdout_per_row), num(sums, "monetary_value_holdout"), 1e-12));
    assert_eq!(sum(&ch.duration_holdout), num(sums, "duration_holdout"));
    for row in sec["first_20_by_id"].as_array().unwrap() {
        let i = index_of(cal, num(row, "id") as u32);
        assert_eq!(cal.frequency[i], num(row, "frequency_cal"));
        assert_eq!(cal.recency[i], num(row, "recency_cal"));
        assert_eq!(cal.t[i], num(row, "T_cal"));
        assert_eq!(cal.monetary[i], num(row, "monetary_value_cal"));
        assert_eq!(ch.frequency_holdout[i], num(row, "frequency_holdout"));
        assert_eq!(ch.monetary_holdout_per_row[i], num(row, "monetary_value_holdout"), "{row}");
        assert_eq!(ch.duration_holdout[i], num(row, "duration_holdout"));
    }
    // The calibration part is the plain summary at the calibration end.
    let s = summary(
        &tx.customer,
        &tx.ts,
        &tx.amount,
        &SummaryOptions::new(end_of(ymd_day("19970930"))),
    )
    .unwrap();
    assert_eq!(&s, cal);
    // Per-day holdout spend differs from lifetimes' per-row mean only where a customer bought
    // more than once on a holdout day.
    let differing = (0..cal.len())
        .filter(|&i| ch.monetary_holdout[i] != ch.monetary_holdout_per_row[i])
        .count();
    assert!(differing > 0 && differing < 100, "{differing}");
}

// ------------------------------------------------------------------ semantics on small data

fn opts(as_of_day: i64) -> SummaryOptions {
    SummaryOptions::new(as_of_day * D)
}

#[test]
fn same_day_purchases_are_one_period_with_summed_spend() {
    // Customer 0: day 0 (10), day 5 three times (1 + 2 + 3), day 9 (4).
    let customer = [0, 0, 0, 0, 0];
    let ts = [3, 5 * D, 5 * D + 100, 6 * D - 1, 9 * D];
    let amount = [10.0, 1.0, 2.0, 3.0, 4.0];
    let s = summary(&customer, &ts, &amount, &opts(20)).unwrap();
    assert_eq!(s.frequency, vec![2.0]);
    assert_eq!(s.recency, vec![9.0]);
    assert_eq!(s.t, vec![20.0]);
    assert_eq!(s.monetary, vec![5.0]); // (6 + 4) / 2
    assert_eq!(s.first_day, vec![0]);
    // Same-day purchases on the first day are all "first".
    let s = summary(&[1, 1], &[D, D + 5], &[3.0, 4.0], &opts(3)).unwrap();
    assert_eq!((s.frequency[0], s.monetary[0], s.t[0]), (0.0, 0.0, 2.0));
}

#[test]
fn observation_end_is_day_granular_and_excludes_late_customers() {
    let customer = [0, 0, 0, 1];
    let ts = [0, 4 * D + 1, 5 * D, 5 * D];
    let amount = [1.0, 2.0, 3.0, 4.0];
    // as_of = the very first microsecond of day 4: the whole of day 4 counts, day 5 does not.
    let s = summary(&customer, &ts, &amount, &SummaryOptions::new(4 * D)).unwrap();
    assert_eq!(s.customer, vec![0]);
    assert_eq!((s.frequency[0], s.recency[0], s.t[0], s.monetary[0]), (1.0, 4.0, 4.0, 2.0));
    // Instants before the epoch use floor division.
    assert_eq!(day_of(-D), -1);
    let s = summary(&[0, 0], &[-D - 1, -1], &[1.0, 1.0], &SummaryOptions::new(0)).unwrap();
    assert_eq!((s.first_day[0], s.frequency[0], s.recency[0], s.t[0]), (-2, 1.0, 1.0, 2.0));
}

#[test]
fn time_units() {
    let customer = [0, 0];
    let ts = [0, 73 * D];
    let amount = [1.0, 1.0];
    for (unit, days) in [
        (TimeUnit::Day, 1.0),
        (TimeUnit::Week, 7.0),
        (TimeUnit::Month, 365.25 / 12.0),
        (TimeUnit::Year, 365.25),
        (TimeUnit::Days(2.5), 2.5),
    ] {
        let s = summary(&customer, &ts, &amount, &opts(146).time_unit(unit)).unwrap();
        assert_eq!(s.frequency, vec![1.0], "{unit:?}");
        assert_eq!(s.recency, vec![73.0 / days], "{unit:?}");
        assert_eq!(s.t, vec![146.0 / days], "{unit:?}");
        assert_eq!(s.time_unit, unit);
    }
    for bad in [0.0, -1.0, f64::NAN, f64::INFINITY] {
        let e =
            summary(&customer, &ts, &amount, &opts(1).time_unit(TimeUnit::Days(bad))).unwrap_err();
        assert!(matches!(e, ClvError::InvalidParameter { .. }), "{e}");
    }
}

#[test]
fn non_positive_amount_policies() {
    // Customer 0: day 0 (5), day 2 (0.0 only), day 4 (-1 and 7), day 6 (3).
    // Customer 1: day 1 (0.0 only). Customer 2: day 0 (2), day 3 (-2 only).
    let customer = [0, 0, 0, 0, 0, 1, 2, 2];
    let ts = [0, 2 * D, 4 * D, 4 * D, 6 * D, D, 0, 3 * D];
    let amount = [5.0, 0.0, -1.0, 7.0, 3.0, 0.0, 2.0, -2.0];
    let keep = summary(&customer, &ts, &amount, &opts(10)).unwrap();
    assert_eq!(keep.customer, vec![0, 1, 2]);
    assert_eq!(keep.frequency, vec![3.0, 0.0, 1.0]);
    assert_eq!(keep.recency, vec![6.0, 0.0, 3.0]);
    assert_eq!(keep.monetary, vec![3.0, 0.0, -2.0]); // (0 + 6 + 3) / 3
    assert_eq!(NonPositiveAmounts::default(), NonPositiveAmounts::Keep);

    let ex = summary(&customer, &ts, &amount, &opts(10).non_positive(NonPositiveAmounts::Exclude))
        .unwrap();
    assert_eq!(ex.customer, vec![0, 2]); // customer 1 had only a 0.00 row
    assert_eq!(ex.frequency, vec![2.0, 0.0]); // days 0, 4, 6; day 2 is gone
    assert_eq!(ex.recency, vec![6.0, 0.0]);
    assert_eq!(ex.monetary, vec![5.0, 0.0]); // (7 + 3) / 2

    let fm = summary(
        &customer,
        &ts,
        &amount,
        &opts(10).non_positive(NonPositiveAmounts::ExcludeFromMonetary),
    )
    .unwrap();
    assert_eq!(fm.customer, vec![0, 1, 2]);
    assert_eq!(fm.frequency, vec![3.0, 0.0, 1.0]); // purchases still count
    assert_eq!(fm.recency, vec![6.0, 0.0, 3.0]);
    assert_eq!(fm.monetary, vec![5.0, 0.0, 0.0]); // (7 + 3) / 2 spend days; customer 2 has none

    // CDNOW: 8 zero-dollar rows in the sample change things only slightly.
    let tx = cdnow_sample();
    assert_eq!(tx.amount.iter().filter(|&&a| a <= 0.0).count(), 8);
    let as_of = end_of(ymd_day("19970930"));
    let k = summary(&tx.customer, &tx.ts, &tx.amount, &SummaryOptions::new(as_of)).unwrap();
    let e = summary(
        &tx.customer,
        &tx.ts,
        &tx.amount,
        &SummaryOptions::new(as_of).non_positive(NonPositiveAmounts::Exclude),
    )
    .unwrap();
    let m = summary(
        &tx.customer,
        &tx.ts,
        &tx.amount,
        &SummaryOptions::new(as_of).non_positive(NonPositiveAmounts::ExcludeFromMonetary),
    )
    .unwrap();
    assert_eq!(k.frequency, m.frequency);
    assert!(sum(&e.frequency) <= sum(&k.frequency));
    assert!(sum(&m.monetary) >= sum(&k.monetary));
}

#[test]
fn calibration_holdout_semantics() {
    // Customer 0: cal days 0, 2; holdout day 8 (3 + 4), day 9 (0.0), day 30 (after the end).
    // Customer 1: first purchase in the holdout → excluded. Customer 2: cal only.
    let customer = [0, 0, 0, 0, 0, 0, 1, 2];
    let ts = [0, 2 * D, 8 * D, 8 * D, 9 * D, 30 * D, 8 * D, 4 * D];
    let amount = [1.0, 2.0, 3.0, 4.0, 0.0, 9.0, 6.0, 5.0];
    let run = |policy| {
        calibration_and_holdout(&customer, &ts, &amount, 5 * D, 12 * D, TimeUnit::Week, policy)
            .unwrap()
    };
    let ch = run(NonPositiveAmounts::Keep);
    assert_eq!(ch.calibration.customer, vec![0, 2]);
    assert_eq!(ch.calibration.t, vec![5.0 / 7.0, 1.0 / 7.0]);
    assert_eq!(ch.frequency_holdout, vec![2.0, 0.0]);
    assert_eq!(ch.monetary_holdout, vec![3.5, 0.0]); // (7 + 0) / 2 days
    assert_eq!(ch.monetary_holdout_per_row, vec![7.0 / 3.0, 0.0]);
    assert_eq!(ch.duration_holdout, vec![1.0, 1.0]);
    let ch = run(NonPositiveAmounts::Exclude);
    assert_eq!(ch.frequency_holdout, vec![1.0, 0.0]);
    assert_eq!(ch.monetary_holdout, vec![7.0, 0.0]);
    let ch = run(NonPositiveAmounts::ExcludeFromMonetary);
    assert_eq!(ch.frequency_holdout, vec![2.0, 0.0]);
    assert_eq!(ch.monetary_holdout, vec![7.0, 0.0]);
    assert_eq!(ch.monetary_holdout_per_row, vec![3.5, 0.0]);
    // Empty holdout window is allowed; a window ending before the calibration end is not.
    let ch = calibration_and_holdout(
        &customer,
        &ts,
        &amount,
        5 * D,
        5 * D,
        TimeUnit::Day,
        NonPositiveAmounts::Keep,
    )
    .unwrap();
    assert_eq!(ch.duration_holdout, vec![0.0, 0.0]);
    let e = calibration_and_holdout(
        &customer,
        &ts,
        &amount,
        5 * D,
        4 * D,
        TimeUnit::Day,
        NonPositiveAmounts::Keep,
    )
    .unwrap_err();
    assert!(e.to_string().contains("observation_end"), "{e}");
}

#[test]
fn errors() {
    let e = summary(&[0, 1], &[0], &[1.0, 1.0], &opts(1)).unwrap_err();
    assert!(matches!(e, ClvError::LengthMismatch { .. }), "{e}");
    let e = summary(&[0, 1], &[0, 0], &[1.0], &opts(1)).unwrap_err();
    assert!(matches!(e, ClvError::LengthMismatch { .. }), "{e}");
    let e = summary(&[0, 1, 2], &[0, 0, 0], &[1.0, 2.0, f64::NAN], &opts(1)).unwrap_err();
    assert_eq!(e.to_string(), "invalid amount at row 2: NaN is not a finite amount");
    // Even on a row the observation window drops.
    let e = summary(&[0, 1], &[0, 50 * D], &[1.0, f64::INFINITY], &opts(1)).unwrap_err();
    assert!(e.to_string().contains("amount at row 1"), "{e}");
    let e = calibration_and_holdout(
        &[0],
        &[0],
        &[f64::NAN],
        0,
        D,
        TimeUnit::Day,
        NonPositiveAmounts::Keep,
    )
    .unwrap_err();
    assert!(e.to_string().contains("amount at row 0"), "{e}");
    // Empty input is an empty summary.
    let s = summary(&[], &[], &[], &opts(1)).unwrap();
    assert!(s.is_empty());
    // T = 0 customers are in the summary (as lifetimes) but cannot become model cells.
    let s = summary(&[0], &[D], &[1.0], &opts(1)).unwrap();
    assert_eq!(s.t, vec![0.0]);
    assert!(s.to_cells().is_err());
}

// ------------------------------------------------------------------ reference and invariances

/// One compensated-summation step from state `[sum, compensation]`.
fn kahan(state: &[f64; 2], v: f64) -> (f64, f64) {
    let y = v - state[1];
    let t = state[0] + y;
    (t, t - state[0] - y)
}

fn kahan_sum(v: &[f64]) -> f64 {
    v.iter().fold((0.0, 0.0), |s, &x| kahan(&[s.0, s.1], x)).0
}

/// A straightforward reference implementation (pandas-style compensated sums).
fn naive(
    customer: &[u32],
    ts: &[i64],
    amount: &[f64],
    as_of_day: i64,
    policy: NonPositiveAmounts,
) -> Summary {
    let mut by: BTreeMap<u32, BTreeMap<i64, Vec<f64>>> = BTreeMap::new();
    for i in 0..customer.len() {
        let day = ts[i].div_euclid(D);
        if day > as_of_day || (policy == NonPositiveAmounts::Exclude && amount[i] <= 0.0) {
            continue;
        }
        by.entry(customer[i]).or_default().entry(day).or_default().push(amount[i]);
    }
    let mut s = Summary { as_of_day, ..Summary::default() };
    for (c, days) in by {
        let first = *days.keys().next().unwrap();
        let last = *days.keys().last().unwrap();
        // (running sum, compensation) of the day sums.
        let (mut total, mut n) = ((0.0, 0.0), 0);
        for (day, amounts) in &days {
            if *day == first {
                continue;
            }
            let mut v: Vec<f64> = amounts
                .iter()
                .copied()
                .filter(|&a| policy != NonPositiveAmounts::ExcludeFromMonetary || a > 0.0)
                .collect();
            if v.is_empty() {
                continue;
            }
            v.sort_by(f64::total_cmp);
            total = kahan(&[total.0, total.1], kahan_sum(&v));
            n += 1;
        }
        s.customer.push(c);
        s.frequency.push((days.len() - 1) as f64);
        s.recency.push((last - first) as f64);
        s.t.push((as_of_day - first) as f64);
        s.monetary.push(if n == 0 { 0.0 } else { total.0 / f64::from(n) });
        s.first_day.push(first);
    }
    s
}

/// Bitwise equality of two summaries (`==` on `f64` would accept 0.0 for -0.0).
fn assert_bit_identical(a: &Summary, b: &Summary) {
    let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    assert_eq!(a.customer, b.customer);
    assert_eq!(a.first_day, b.first_day);
    for (x, y) in [
        (&a.frequency, &b.frequency),
        (&a.recency, &b.recency),
        (&a.t, &b.t),
        (&a.monetary, &b.monetary),
    ] {
        assert_eq!(bits(x), bits(y));
    }
}

#[test]
fn large_shuffled_input_equals_reference_and_grouped_input() {
    // Enough rows for the two-thread scatter and sort (when two cores are available): 40 000
    // customers over 300 000 rows, with same-day rows, non-positive amounts and late rows.
    let n = 300_000u64;
    let rows: Vec<(u32, i64, f64)> = (0..n)
        .map(|i| {
            let c = ((i * 7919) % 40_000) as u32;
            let t = ((i * 104_729) % 70) as i64 * D + (i % 3) as i64;
            let a = match i % 11 {
                0 => 0.0,
                1 => -2.5,
                _ => ((i * 31) % 10_000) as f64 / 100.0 + 0.01,
            };
            (c, t, a)
        })
        .collect();
    let (c, t, a) = columns(&rows);
    let mut grouped = rows.clone();
    grouped.sort_by_key(|r| r.0);
    let (gc, gt, ga) = columns(&grouped);
    let mut timed = rows.clone();
    timed.sort_by_key(|r| r.1);
    let (tc, tt, ta) = columns(&timed);
    for policy in [
        NonPositiveAmounts::Keep,
        NonPositiveAmounts::Exclude,
        NonPositiveAmounts::ExcludeFromMonetary,
    ] {
        let options = SummaryOptions::new(60 * D).non_positive(policy);
        let s = summary(&c, &t, &a, &options).unwrap();
        assert_bit_identical(&s, &naive(&c, &t, &a, 60, policy));
        assert_bit_identical(&s, &summary(&gc, &gt, &ga, &options).unwrap());
        assert_bit_identical(&s, &summary(&tc, &tt, &ta, &options).unwrap());
        let ch =
            calibration_and_holdout(&c, &t, &a, 40 * D, 60 * D, TimeUnit::Day, policy).unwrap();
        let gch =
            calibration_and_holdout(&gc, &gt, &ga, 40 * D, 60 * D, TimeUnit::Day, policy).unwrap();
        assert_bit_identical(&ch.calibration, &gch.calibration);
        let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&ch.frequency_holdout), bits(&gch.frequency_holdout));
        assert_eq!(bits(&ch.monetary_holdout), bits(&gch.monetary_holdout));
        assert_eq!(bits(&ch.monetary_holdout_per_row), bits(&gch.monetary_holdout_per_row));
    }
    // A non-finite amount late in a large shuffled input is still named by its row.
    let mut bad = a.clone();
    bad[250_000] = f64::NAN;
    bad[260_000] = f64::INFINITY;
    match summary(&c, &t, &bad, &SummaryOptions::new(60 * D)) {
        Err(ClvError::InvalidInput { index, .. }) => assert_eq!(index, 250_000),
        other => panic!("expected InvalidInput, got {other:?}"),
    }
}

fn arb_rows(max_customer: u32) -> impl Strategy<Value = Vec<(u32, i64, f64)>> {
    prop::collection::vec(
        (
            0..max_customer,
            -3 * D..40 * D,
            prop_oneof![Just(0.0), Just(-1.5), (1u32..10_000).prop_map(|c| f64::from(c) / 100.0)],
        ),
        0..120,
    )
}

fn policy() -> impl Strategy<Value = NonPositiveAmounts> {
    prop_oneof![
        Just(NonPositiveAmounts::Keep),
        Just(NonPositiveAmounts::Exclude),
        Just(NonPositiveAmounts::ExcludeFromMonetary)
    ]
}

fn columns(rows: &[(u32, i64, f64)]) -> (Vec<u32>, Vec<i64>, Vec<f64>) {
    (
        rows.iter().map(|r| r.0).collect(),
        rows.iter().map(|r| r.1).collect(),
        rows.iter().map(|r| r.2).collect(),
    )
}

proptest! {
    #[test]
    fn equals_reference_and_is_invariant_to_row_order(
        rows in arb_rows(12),
        seed in any::<u64>(),
        as_of_day in 0i64..45,
        policy in policy(),
    ) {
        let options = SummaryOptions::new(as_of_day * D + 7).non_positive(policy);
        let (c, t, a) = columns(&rows);
        let s = summary(&c, &t, &a, &options).unwrap();
        prop_assert_eq!(&s, &naive(&c, &t, &a, as_of_day, policy));

        // A permutation (counting-sort path).
        let mut shuffled = rows.clone();
        let mut state = seed | 1;
        for i in (1..shuffled.len()).rev() {
            state ^= state << 13; state ^= state >> 7; state ^= state << 17;
            shuffled.swap(i, (state % (i as u64 + 1)) as usize);
        }
        let (c2, t2, a2) = columns(&shuffled);
        prop_assert_eq!(&summary(&c2, &t2, &a2, &options).unwrap(), &s);

        // Grouped by customer, in descending customer order (grouped fast path).
        let mut grouped = shuffled.clone();
        grouped.sort_by_key(|r| std::cmp::Reverse(r.0));
        let (c3, t3, a3) = columns(&grouped);
        prop_assert_eq!(&summary(&c3, &t3, &a3, &options).unwrap(), &s);

        // In time order, not grouped (buckets skip the day sort).
        let mut by_time = shuffled.clone();
        by_time.sort_by_key(|r| r.1);
        let (c4, t4, a4) = columns(&by_time);
        prop_assert_eq!(&summary(&c4, &t4, &a4, &options).unwrap(), &s);

        // Days spread far apart (buckets too wide for the day sort: per-customer sorts).
        let spread_ts: Vec<i64> = t2.iter().map(|&x| x.div_euclid(D) * 5000 * D).collect();
        let spread_options = SummaryOptions::new(as_of_day * 5000 * D).non_positive(policy);
        prop_assert_eq!(
            &summary(&c2, &spread_ts, &a2, &spread_options).unwrap(),
            &naive(&c2, &spread_ts, &a2, as_of_day * 5000, policy)
        );

        // Sparse customer indices (comparison-sort path): same values, customers spread out.
        let spread: Vec<u32> = c2.iter().map(|&x| x * 100_000_000 + 7).collect();
        let sp = summary(&spread, &t2, &a2, &options).unwrap();
        prop_assert_eq!(&sp.customer, &s.customer.iter().map(|&x| x * 100_000_000 + 7).collect::<Vec<_>>());
        prop_assert_eq!((&sp.frequency, &sp.recency, &sp.t, &sp.monetary, &sp.first_day),
            (&s.frequency, &s.recency, &s.t, &s.monetary, &s.first_day));
    }

    #[test]
    fn calibration_holdout_is_consistent_with_summaries(
        rows in arb_rows(8),
        cal_day in 0i64..30,
        extra in 0i64..15,
        policy in policy(),
    ) {
        let (c, t, a) = columns(&rows);
        let end_day = cal_day + extra;
        let ch = calibration_and_holdout(&c, &t, &a, cal_day * D, end_day * D + 1, TimeUnit::Day, policy).unwrap();
        let cal = summary(&c, &t, &a, &SummaryOptions::new(cal_day * D).non_positive(policy)).unwrap();
        prop_assert_eq!(&ch.calibration, &cal);
        // Holdout purchase days = (full-window purchase days) − (calibration purchase days).
        let full = summary(&c, &t, &a, &SummaryOptions::new(end_day * D).non_positive(policy)).unwrap();
        for (i, &cust) in cal.customer.iter().enumerate() {
            let j = full.customer.binary_search(&cust).unwrap();
            prop_assert_eq!(ch.frequency_holdout[i], full.frequency[j] - cal.frequency[i]);
            prop_assert_eq!(ch.duration_holdout[i], (end_day - cal_day) as f64);
        }
    }
}

// ------------------------------------------------------------------ speed (by hand)

/// On-CPU time of this thread in ns (Linux `schedstat`), so that timings by hand are not
/// inflated by other processes; `None` elsewhere.
fn cpu_ns() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    text.split_whitespace().next()?.parse().ok()
}

/// Runs `f`, printing wall-clock and on-CPU time.
fn timed<T>(label: &str, f: impl FnOnce() -> T) -> T {
    let (t0, c0) = (std::time::Instant::now(), cpu_ns());
    let out = f();
    let wall = t0.elapsed();
    match (c0, cpu_ns()) {
        (Some(a), Some(b)) => {
            println!("{label}: {wall:.2?} wall, {:.1} ms on CPU", (b - a) as f64 / 1e6)
        }
        _ => println!("{label}: {wall:.2?} wall"),
    }
    out
}

/// 10M rows, 1M customers, unsorted, then the same rows grouped by customer.
/// `cargo test --release -p crmkit-clv --test summary -- --ignored --nocapture`
#[test]
#[ignore = "timing; run by hand in release"]
fn timing_10m_rows() {
    let n_customers = 1_000_000u32;
    let n = 10_000_000usize;
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let start = 9862 * D;
    let mut customer = Vec::with_capacity(n);
    let mut ts = Vec::with_capacity(n);
    let mut amount = Vec::with_capacity(n);
    for _ in 0..n {
        let r = next();
        customer.push((r % u64::from(n_customers)) as u32);
        ts.push(start + ((r >> 32) % (546 * D as u64 / 1_000_000)) as i64 * 1_000_000);
        amount.push(((next() % 10_000) as f64) / 100.0);
    }
    let options = SummaryOptions::new(start + 400 * D).time_unit(TimeUnit::Week);
    for round in 0..3 {
        let s = timed(&format!("unsorted, round {round}"), || {
            summary(&customer, &ts, &amount, &options).unwrap()
        });
        assert!(s.len() > 990_000);
    }
    let ch = timed("calibration_and_holdout, unsorted", || {
        calibration_and_holdout(
            &customer,
            &ts,
            &amount,
            start + 273 * D,
            start + 546 * D,
            TimeUnit::Week,
            NonPositiveAmounts::Keep,
        )
        .unwrap()
    });
    assert!(ch.calibration.len() > 990_000);
    // In time order (customers interleaved, as in a transaction log); grouped by customer with
    // days in order (ORDER BY customer, ts); grouped with the days shuffled.
    for label in ["time order", "grouped, days sorted", "grouped, days shuffled"] {
        let mut order: Vec<usize> = (0..n).collect();
        match label {
            "time order" => order.sort_unstable_by_key(|&i| ts[i]),
            "grouped, days sorted" => order.sort_unstable_by_key(|&i| (customer[i], ts[i])),
            _ => order.sort_unstable_by_key(|&i| customer[i]),
        }
        let c: Vec<u32> = order.iter().map(|&i| customer[i]).collect();
        let t: Vec<i64> = order.iter().map(|&i| ts[i]).collect();
        let a: Vec<f64> = order.iter().map(|&i| amount[i]).collect();
        for round in 0..3 {
            let s = timed(&format!("{label}, round {round}"), || {
                summary(&c, &t, &a, &options).unwrap()
            });
            assert!(s.len() > 990_000);
        }
    }
}
