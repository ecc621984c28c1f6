//! Timings of segment maintenance outside criterion, for profiling:
//! `cargo run --release -p crmkit-benches --example segment_timings -- memory|sqlite [records]`.
#![allow(clippy::expect_used)] // a timing program that cannot set up its data should stop loudly

use std::time::Instant;

use crmkit::automation::Segment;
use crmkit::{Crm, Money, NewCustomer, NewInteraction, SqliteStore};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let store = args.get(1).map_or("memory", String::as_str);
    let records: usize = args.get(2).and_then(|n| n.parse().ok()).unwrap_or(20_000);
    let dir = tempfile::tempdir().expect("tempdir");
    let crm = match store {
        "sqlite" => Crm::new(SqliteStore::open(dir.path().join("t.db")).expect("open")),
        _ => Crm::in_memory(),
    };
    let t = crm.now();
    let started = Instant::now();
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
    eprintln!("base: {:.2} s", started.elapsed().as_secs_f64());
    let started = Instant::now();
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
    let define = started.elapsed().as_secs_f64();
    eprintln!("50 segments over 20k customers: {define:.2} s ({:.0} ms each)", define * 20.0);
    let events_before = crm.events_after(0, usize::MAX).expect("events").len();
    let started = Instant::now();
    for i in 0..records {
        let id = ids[i % ids.len()];
        crm.record(NewInteraction::purchase(id, t, Money::parse("35", "USD").expect("m")))
            .expect("record");
    }
    let per = started.elapsed().as_secs_f64() / records as f64;
    println!("{store}: one recorded purchase with 50 dynamic segments: {:.1} µs", per * 1e6);
    let events = crm.events_after(0, usize::MAX).expect("events").len() - events_before;
    println!(
        "  {:.1} events per purchase (enter/exit and the interaction itself)",
        events as f64 / records as f64
    );
}
