//! Imports a generated CSV into a store once, for profilers (`valgrind --tool=callgrind`, `perf`).
//! `cargo run --release -p crmkit-benches --example import_profile -- [memory|sqlite] [rows]`
#![allow(clippy::expect_used)] // a profiling run that cannot set up should stop loudly

use crmkit_core::{
    Crm, Currency, ImportOptions, InputFormat, InteractionField as F, InteractionMapping,
    NewCustomer,
};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let store = args.get(1).map_or("memory", String::as_str);
    let rows: usize = args.get(2).and_then(|r| r.parse().ok()).unwrap_or(200_000);
    let customers = 10_000;
    let data = crmkit_benches::generated_transactions(rows, customers);
    let dir = tempfile::tempdir().expect("tempdir");
    let crm = match store {
        "sqlite" => {
            Crm::new(crmkit_sqlite::SqliteStore::open(dir.path().join("p.db")).expect("open"))
        }
        _ => Crm::in_memory(),
    };
    for n in 0..customers {
        crm.create_customer(
            NewCustomer::person(format!("c{n}")).email(format!("c{n}@example.org")),
        )
        .expect("customer");
    }
    let mapping = InteractionMapping::new(InputFormat::Csv { delimiter: b',' })
        .column(F::Amount, "amount")
        .default_currency(Currency::USD);
    let started = std::time::Instant::now();
    let r = crm
        .import_interactions(
            data.as_bytes(),
            &mapping,
            ImportOptions::new("gen.csv")
                .batch_size(args.get(3).and_then(|b| b.parse().ok()).unwrap_or(50_000)),
        )
        .expect("import");
    let secs = started.elapsed().as_secs_f64();
    println!(
        "{store}: {} rows in {secs:.3} s = {:.0} rows/s",
        r.interactions_written,
        r.interactions_written as f64 / secs
    );
}
