//! crmkit-clv speed (criterion): RFM summaries, model fits and CLV on CDNOW master and on
//! synthetic bases. `benches/compare/run.sh` sets the same workloads beside the Python peers.
#![allow(clippy::expect_used)] // a benchmark that cannot set up its data should stop loudly
#![allow(missing_docs)] // criterion_group! generates undocumented items

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use crmkit_clv::Cells;
use crmkit_clv::bgnbd::BgNbd;
use crmkit_clv::clv::{Discounting, customer_lifetime_value};
use crmkit_clv::gammagamma::GammaGamma;
use crmkit_clv::paretonbd::ParetoNbd;
use crmkit_clv::summary::{Summary, SummaryOptions, TimeUnit, summary};

fn cdnow_master_summary() -> Summary {
    let (c, t, a) = crmkit_benches::cdnow_master_columns();
    let end = chrono::NaiveDate::from_ymd_opt(1998, 6, 30)
        .expect("date")
        .and_hms_opt(23, 59, 59)
        .expect("t");
    summary(
        &c,
        &t,
        &a,
        &SummaryOptions::new(end.and_utc().timestamp_micros()).time_unit(TimeUnit::Week),
    )
    .expect("summary")
}

fn fits(c: &mut Criterion) {
    let s = cdnow_master_summary();
    let cells = s.to_cells().expect("cells");
    let mut g = c.benchmark_group("fit_cdnow_master");
    g.sample_size(20);
    g.bench_function("bgnbd", |b| b.iter(|| BgNbd::fit(black_box(&cells)).expect("fit")));
    g.bench_function("paretonbd", |b| b.iter(|| ParetoNbd::fit(black_box(&cells)).expect("fit")));
    g.bench_function("gammagamma", |b| {
        let (x, m): (Vec<f64>, Vec<f64>) = s
            .frequency
            .iter()
            .zip(&s.monetary)
            .filter(|(x, m)| **x > 0.0 && **m > 0.0)
            .map(|(x, m)| (*x, *m))
            .unzip();
        b.iter(|| GammaGamma::fit(black_box(&x), black_box(&m)).expect("fit"))
    });
    g.finish();
}

fn summaries(c: &mut Criterion) {
    let (cust, ts, amount) = crmkit_benches::synthetic_columns(10_000_000, 1_000_000);
    let end = 1_672_531_200_i64 * 1_000_000 + 540 * 86_400_000_000;
    let options = SummaryOptions::new(end).time_unit(TimeUnit::Week);
    let mut g = c.benchmark_group("rfm_summary");
    g.sample_size(10)
        .measurement_time(Duration::from_secs(10))
        .throughput(Throughput::Elements(10_000_000));
    g.bench_function("10m_unsorted", |b| {
        b.iter(|| summary(&cust, &ts, &amount, &options).expect("summary"))
    });
    g.finish();
}

fn clv(c: &mut Criterion) {
    let (cust, ts, amount) = crmkit_benches::synthetic_columns(10_000_000, 1_000_000);
    let end = 1_672_531_200_i64 * 1_000_000 + 540 * 86_400_000_000;
    let s = summary(&cust, &ts, &amount, &SummaryOptions::new(end).time_unit(TimeUnit::Week))
        .expect("summary");
    let bg = BgNbd::new(0.243, 4.414, 0.793, 2.426).expect("bgnbd");
    let gg = GammaGamma::new(6.25, 3.74, 15.44).expect("gg");
    let spend = gg.conditional_expected_spend(&s.frequency, &s.monetary).expect("spend");
    let d = Discounting::Discrete { rate_per_period: 0.01, periods: 12, period_length: 4.345 };
    let mut g = c.benchmark_group("clv");
    g.sample_size(10).throughput(Throughput::Elements(s.len() as u64));
    g.bench_function("12_months_1m_customers", |b| {
        b.iter(|| {
            customer_lifetime_value(&bg, &spend, &s.frequency, &s.recency, &s.t, &d).expect("clv")
        })
    });
    g.finish();
    // The no-dropout base: every one of 1M customers bought at the very end.
    let n = 1_000_000usize;
    let x: Vec<f64> = (0..n).map(|i| 20.0 + (i % 30) as f64).collect();
    let big_t: Vec<f64> = (0..n).map(|i| 40.0 + (i % 13) as f64).collect();
    let mut g = c.benchmark_group("fit_no_dropout");
    g.sample_size(10);
    g.bench_function("bgnbd_1m_customers", |b| {
        b.iter(|| {
            BgNbd::fit(&Cells::from_columns(&x, &big_t, &big_t).expect("cells")).expect("fit")
        })
    });
    g.finish();
}

criterion_group!(benches, fits, summaries, clv);
criterion_main!(benches);
