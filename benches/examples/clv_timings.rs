//! Times crmkit-clv on the workloads of `benches/compare/` and prints JSON, for
//! `benches/compare/run.sh` to set beside the Python peers' times on the same data.
//!
//! `cargo run --release -p crmkit-benches --example clv_timings`
#![allow(clippy::expect_used)] // a timing run that cannot set up its data should stop loudly

use std::time::Instant;

use crmkit_clv::Cells;
use crmkit_clv::bgnbd::BgNbd;
use crmkit_clv::clv::{Discounting, customer_lifetime_value};
use crmkit_clv::gammagamma::GammaGamma;
use crmkit_clv::paretonbd::ParetoNbd;
use crmkit_clv::summary::{NonPositiveAmounts, SummaryOptions, TimeUnit, summary};

/// Best of `runs` wall times, in seconds.
fn best<T>(runs: usize, mut f: impl FnMut() -> T) -> (f64, T) {
    let mut best = f64::INFINITY;
    let mut last = None;
    for _ in 0..runs {
        let t = Instant::now();
        let out = f();
        best = best.min(t.elapsed().as_secs_f64());
        last = Some(out);
    }
    (best, last.expect("at least one run"))
}

/// The synthetic transaction log shared with `benches/compare/time_peers.py`: row i belongs to
/// customer (i · 7919) mod C, on day (i · 104729) mod 540 after 2023-01-01, spending
/// ((i · 31) mod 10000) / 100 + 1. Formula-made, so both languages build the same rows.
fn synthetic(rows: usize, customers: u64) -> (Vec<u32>, Vec<i64>, Vec<f64>) {
    let start = 1_672_531_200_i64 * 1_000_000; // 2023-01-01T00:00:00Z in µs
    let mut c = Vec::with_capacity(rows);
    let mut t = Vec::with_capacity(rows);
    let mut a = Vec::with_capacity(rows);
    for i in 0..rows as u64 {
        c.push(((i * 7919) % customers) as u32);
        t.push(start + ((i * 104_729) % 540) as i64 * 86_400_000_000);
        a.push(((i * 31) % 10_000) as f64 / 100.0 + 1.0);
    }
    (c, t, a)
}

fn cdnow_master() -> (Vec<u32>, Vec<i64>, Vec<f64>) {
    let text = std::str::from_utf8(crmkit_benches::CDNOW_MASTER).expect("utf-8");
    let (mut c, mut t, mut a) = (Vec::new(), Vec::new(), Vec::new());
    for line in text.lines().skip(1) {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 4 {
            continue;
        }
        let date = chrono::NaiveDate::parse_from_str(f[1], "%Y%m%d").expect("date");
        c.push(f[0].parse::<u32>().expect("id"));
        t.push(date.and_hms_opt(0, 0, 0).expect("midnight").and_utc().timestamp_micros());
        a.push(f[3].parse::<f64>().expect("amount"));
    }
    (c, t, a)
}

fn main() {
    let end_1998 = chrono::NaiveDate::from_ymd_opt(1998, 6, 30)
        .and_then(|d| d.and_hms_opt(23, 59, 59))
        .expect("date")
        .and_utc()
        .timestamp_micros();
    let (c, t, a) = cdnow_master();
    let options = SummaryOptions::new(end_1998)
        .time_unit(TimeUnit::Week)
        .non_positive(NonPositiveAmounts::Keep);
    let (summary_cdnow, s) = best(5, || summary(&c, &t, &a, &options).expect("summary"));
    let cells = s.to_cells().expect("cells");
    let (bgnbd_fit, _) = best(5, || BgNbd::fit(&cells).expect("bgnbd"));
    // The published CDNOW parameters, as the Python side uses for its CLV timing.
    let bg = BgNbd::new(0.243, 4.414, 0.793, 2.426).expect("bgnbd");
    let (pareto_fit, _) = best(3, || ParetoNbd::fit(&cells).expect("pareto"));

    let (c10, t10, a10) = synthetic(10_000_000, 1_000_000);
    let end_synth = 1_672_531_200_i64 * 1_000_000 + 540 * 86_400_000_000;
    let synth_options = SummaryOptions::new(end_synth).time_unit(TimeUnit::Week);
    let (summary_10m, s10) =
        best(3, || summary(&c10, &t10, &a10, &synth_options).expect("summary 10M"));

    // 12-month CLV of 1M customers (the synthetic base), BG/NBD + Gamma-Gamma as fitted on CDNOW.
    let gg = GammaGamma::new(6.25, 3.74, 15.44).expect("gg");
    let discounting =
        Discounting::Discrete { rate_per_period: 0.01, periods: 12, period_length: 4.345 };
    let (clv_1m, _) = best(3, || {
        // Spend and CLV both timed, as lifetimes' customer_lifetime_value computes both.
        let spend = gg.conditional_expected_spend(&s10.frequency, &s10.monetary).expect("spend");
        customer_lifetime_value(&bg, &spend, &s10.frequency, &s10.recency, &s10.t, &discounting)
            .expect("clv")
    });

    // BG/NBD on 1M customers who never drop out: every customer bought in each of the last weeks.
    let n = 1_000_000usize;
    let x: Vec<f64> = (0..n).map(|i| 20.0 + (i % 30) as f64).collect();
    let big_t: Vec<f64> = (0..n).map(|i| 40.0 + (i % 13) as f64).collect();
    let t_x = big_t.clone();
    let (no_dropout, (_, info)) = best(3, || {
        let cells = Cells::from_columns(&x, &t_x, &big_t).expect("cells");
        BgNbd::fit(&cells).expect("fit")
    });

    let json = serde_json::json!({
        "rfm_summary_cdnow_master_s": summary_cdnow,
        "rfm_summary_10m_s": summary_10m,
        "bgnbd_fit_cdnow_master_s": bgnbd_fit,
        "paretonbd_fit_cdnow_master_s": pareto_fit,
        "clv_12_months_1m_s": clv_1m,
        "bgnbd_no_dropout_1m_s": no_dropout,
        "bgnbd_no_dropout_boundary": info.boundary,
        "cdnow_cells": cells.len(),
        "rfm_summary_10m_sums": {
            "customers": s10.len(),
            "frequency": s10.frequency.iter().sum::<f64>(),
            "recency": s10.recency.iter().sum::<f64>(),
            "T": s10.t.iter().sum::<f64>(),
            "monetary": s10.monetary.iter().sum::<f64>(),
        },
        "rfm_summary_cdnow_master_sums": {
            "customers": s.len(),
            "frequency": s.frequency.iter().sum::<f64>(),
            "recency": s.recency.iter().sum::<f64>(),
            "T": s.t.iter().sum::<f64>(),
            "monetary": s.monetary.iter().sum::<f64>(),
        },
    });
    println!("{}", serde_json::to_string_pretty(&json).expect("json"));
}
