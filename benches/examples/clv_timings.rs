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

fn main() {
    let end_1998 = chrono::NaiveDate::from_ymd_opt(1998, 6, 30)
        .and_then(|d| d.and_hms_opt(23, 59, 59))
        .expect("date")
        .and_utc()
        .timestamp_micros();
    let (c, t, a) = crmkit_benches::cdnow_master_columns();
    let options = SummaryOptions::new(end_1998)
        .time_unit(TimeUnit::Week)
        .non_positive(NonPositiveAmounts::Keep);
    let (summary_cdnow, s) = best(5, || summary(&c, &t, &a, &options).expect("summary"));
    let cells = s.to_cells().expect("cells");
    let (bgnbd_fit, _) = best(5, || BgNbd::fit(&cells).expect("bgnbd"));
    // The published CDNOW parameters, as the Python side uses for its CLV timing.
    let bg = BgNbd::new(0.243, 4.414, 0.793, 2.426).expect("bgnbd");
    let (pareto_fit, _) = best(3, || ParetoNbd::fit(&cells).expect("pareto"));

    let (c10, t10, a10) = crmkit_benches::synthetic_columns(10_000_000, 1_000_000);
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
