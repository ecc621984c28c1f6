//! Segment speed (criterion): a five-predicate rule evaluated over 1M customers, and the
//! incremental cost of recording one purchase with 50 dynamic segments defined.
#![allow(clippy::expect_used)] // a benchmark that cannot set up its data should stop loudly
#![allow(missing_docs)] // criterion's macros generate undocumented items

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use crmkit::automation::Segment;
use crmkit::rules::{CompiledRule, Facts, Rule};
use crmkit::{Crm, Money, NewCustomer, NewInteraction, SqliteStore};

fn full_evaluation(c: &mut Criterion) {
    let n = 1_000_000;
    let (customers, facts, scores) = crmkit_benches::segment_facts(n);
    let rule = CompiledRule::new(Rule::parse(crmkit_benches::FIVE_PREDICATE_RULE).expect("rule"));
    let now = "2025-01-01T00:00:00Z".parse().expect("now");
    let count = |range: std::ops::Range<usize>| {
        let none = |_: &str| false;
        let mut members = 0usize;
        for i in range {
            let f = Facts {
                customer: &customers[i],
                interactions: &facts[4 * i..4 * i + 4],
                score: Some(&scores[i]),
                deciles: None,
                segments: &none,
            };
            members += usize::from(rule.evaluate(&f, now).matched);
        }
        members
    };
    let mut g = c.benchmark_group("segment_full_evaluation");
    g.sample_size(10).throughput(Throughput::Elements(n as u64));
    g.bench_function("five_predicates_1m_customers_1_thread", |b| {
        b.iter(|| count(black_box(0..n)))
    });
    g.bench_function("five_predicates_1m_customers_2_threads", |b| {
        b.iter(|| {
            std::thread::scope(|s| {
                let half = s.spawn(|| count(0..n / 2));
                count(n / 2..n) + half.join().expect("thread")
            })
        })
    });
    g.finish();
}

/// 50 dynamic segments of every kind of predicate.
fn fifty_segments(crm: &Crm) {
    for i in 0..50 {
        let rule = match i % 5 {
            0 => format!("count(purchase, {}d) >= 2", 30 + i),
            1 => format!("sum(purchase, {}d) >= {} USD", 60 + i, 50 + i),
            2 => format!("days_since(purchase) > {}", 10 + i),
            3 => format!("tag \"t{i}\" or count(email, 30d) >= 1"),
            _ => format!("p_alive < 0.{} and count(purchase) >= 1", 1 + i % 9),
        };
        crm.define_segment(Segment::dynamic(&format!("s{i}"), &rule).expect("rule"))
            .expect("define");
    }
}

/// A base of 20k customers with three purchases each over the last 400 days, then 50 segments
/// (or none); one more purchase is recorded per iteration, round-robin, so that a customer
/// gains only a handful during a run.
fn record_with_segments(c: &mut Criterion) {
    let mut g = c.benchmark_group("record_one_purchase");
    g.measurement_time(Duration::from_secs(5));
    let dir = tempfile::tempdir().expect("tempdir");
    for (store, segments) in [("memory", 0), ("memory", 50), ("sqlite", 0), ("sqlite", 50)] {
        let crm = match store {
            "memory" => Crm::in_memory(),
            _ => Crm::new(
                SqliteStore::open(dir.path().join(format!("{segments}.db"))).expect("open"),
            ),
        };
        let t = crm.now();
        let mut ids = Vec::new();
        let mut batch = Vec::new();
        for i in 0..20_000i64 {
            let id = crm.create_customer(NewCustomer::person(format!("c{i}"))).expect("create").id;
            for k in 0..3 {
                let at = t - chrono::Duration::days((i * 7 + k * 31) % 400);
                batch.push(NewInteraction::purchase(id, at, Money::parse("20", "USD").expect("m")));
            }
            ids.push(id);
        }
        crm.record_all(batch).expect("base");
        if segments > 0 {
            fifty_segments(&crm);
        }
        let mut i = 0usize;
        g.bench_function(format!("{store}_{segments}_segments"), |b| {
            b.iter(|| {
                i += 1;
                let id = ids[i % ids.len()];
                crm.record(NewInteraction::purchase(id, t, Money::parse("35", "USD").expect("m")))
                    .expect("record")
            })
        });
    }
    g.finish();
}

criterion_group!(benches, full_evaluation, record_with_segments);
criterion_main!(benches);
