//! Import and scan throughput of the stores (criterion). Run with `scripts/bench.sh` or
//! `cargo bench -p crmkit-benches --bench import`.
#![allow(clippy::expect_used)] // a benchmark that cannot set up its data should stop loudly
#![allow(missing_docs)] // criterion_group! generates undocumented items

use std::hint::black_box;
use std::time::Duration;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use crmkit_benches::{CDNOW_MASTER, generated_transactions};
use crmkit_core::{
    Crm, Currency, Customer, CustomerId, CustomerKind, CustomerMapping, IdentityKind,
    ImportOptions, InputFormat, InteractionField as F, InteractionMapping, LifecycleStage,
    MemoryStore, Money, NewInteraction, WriteBatch, WriteOp,
};
use crmkit_sqlite::SqliteStore;

const GENERATED_ROWS: usize = 1_000_000;
const GENERATED_CUSTOMERS: usize = 50_000;

fn cdnow_mapping() -> InteractionMapping {
    InteractionMapping::new(InputFormat::Whitespace)
        .customer_key(IdentityKind::External("cdnow".into()))
        .column(F::Customer, "customer_id")
        .column(F::Timestamp, "date")
        .column(F::Amount, "dollar_value")
        .default_currency(Currency::USD)
}

fn generated_mapping() -> InteractionMapping {
    InteractionMapping::new(InputFormat::Csv { delimiter: b',' })
        .column(F::Amount, "amount")
        .default_currency(Currency::USD)
}

fn sqlite_crm(dir: &tempfile::TempDir) -> Crm {
    let path = dir.path().join(format!("bench-{}.db", CustomerId::new()));
    Crm::new(SqliteStore::open(path).expect("open sqlite"))
}

/// Creates customers `c0@example.org`... in one import batch (setup, not measured).
fn add_customers(crm: Crm, n: usize) -> Crm {
    let mut csv = String::from("key\n");
    for i in 0..n {
        csv.push_str(&format!("c{i}@example.org\n"));
    }
    let mapping = CustomerMapping::new(InputFormat::Csv { delimiter: b',' }, IdentityKind::Email);
    crm.import_customers(csv.as_bytes(), &mapping, ImportOptions::new("setup").batch_size(n))
        .expect("customers");
    crm
}

fn import(crm: &Crm, data: &[u8], mapping: &InteractionMapping) -> u64 {
    let opts = ImportOptions::new("bench").create_missing_customers(true);
    crm.import_interactions(data, mapping, opts).expect("import").interactions_written
}

/// Import of the CDNOW master log (69,659 rows, creating its 23,570 customers).
fn cdnow(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mapping = cdnow_mapping();
    let mut g = c.benchmark_group("import_cdnow_master");
    g.throughput(Throughput::Elements(69_659)).sample_size(10);
    g.bench_function("memory", |b| {
        b.iter_batched(
            Crm::in_memory,
            |crm| import(&crm, CDNOW_MASTER, &mapping),
            BatchSize::PerIteration,
        )
    });
    g.bench_function("sqlite_file", |b| {
        b.iter_batched(
            || sqlite_crm(&dir),
            |crm| import(&crm, CDNOW_MASTER, &mapping),
            BatchSize::PerIteration,
        )
    });
    g.finish();
}

/// Import of a generated 1M-row CSV; its 50,000 customers exist already, as in a running CRM.
fn generated(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = generated_transactions(GENERATED_ROWS, GENERATED_CUSTOMERS);
    let mapping = generated_mapping();
    let with_customers = |crm: Crm| add_customers(crm, GENERATED_CUSTOMERS);
    let mut g = c.benchmark_group("import_generated_1m");
    g.throughput(Throughput::Elements(GENERATED_ROWS as u64))
        .sample_size(10)
        .measurement_time(Duration::from_secs(20));
    g.bench_function("memory", |b| {
        b.iter_batched(
            || with_customers(Crm::in_memory()),
            |crm| import(&crm, data.as_bytes(), &mapping),
            BatchSize::PerIteration,
        )
    });
    g.bench_function("sqlite_file", |b| {
        b.iter_batched(
            || with_customers(sqlite_crm(&dir)),
            |crm| import(&crm, data.as_bytes(), &mapping),
            BatchSize::PerIteration,
        )
    });
    g.finish();
}

/// 1M interactions in batches of 10,000 straight into `Store::apply` (no parsing).
fn apply_batches(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let customers: Vec<CustomerId> =
        (0..GENERATED_CUSTOMERS as u128).map(|n| CustomerId::from_u128(n + 1)).collect();
    let at = chrono::DateTime::from_timestamp(1_700_000_000, 0).expect("time");
    let batches = |customers: &[CustomerId]| -> Vec<WriteBatch> {
        (0..GENERATED_ROWS / 10_000)
            .map(|b| {
                let mut batch = WriteBatch::new();
                for i in 0..10_000 {
                    let n = b * 10_000 + i;
                    let amount = Money::new(
                        rust_decimal::Decimal::new((n % 20_000) as i64 + 100, 2),
                        Currency::USD,
                    );
                    let mut new =
                        NewInteraction::purchase(customers[n % customers.len()], at, amount);
                    new.idempotency_key = Some(format!("k{n}"));
                    batch.push(WriteOp::AppendInteraction(new));
                }
                batch
            })
            .collect()
    };
    let setup = |crm: Crm| {
        // One batch of customers with known ids, written straight to the store.
        let t = chrono::DateTime::from_timestamp(1_600_000_000, 0).expect("time");
        let mut batch = WriteBatch::new();
        for id in &customers {
            batch.push(WriteOp::InsertCustomer(Customer {
                id: *id,
                kind: CustomerKind::Person,
                name: id.to_string(),
                identities: Vec::new(),
                stage: LifecycleStage::Customer,
                stage_history: Vec::new(),
                attributes: Default::default(),
                tags: Default::default(),
                consents: Vec::new(),
                created_at: t,
                updated_at: t,
                revision: 1,
            }));
        }
        crm.store().apply(batch).expect("customers");
        (crm, batches(&customers))
    };
    let run = |(crm, batches): (Crm, Vec<WriteBatch>)| {
        for b in batches {
            black_box(crm.store().apply(b).expect("apply"));
        }
    };
    let mut g = c.benchmark_group("apply_1m_interactions");
    g.throughput(Throughput::Elements(GENERATED_ROWS as u64))
        .sample_size(10)
        .measurement_time(Duration::from_secs(20));
    g.bench_function("memory", |b| {
        b.iter_batched(|| setup(Crm::in_memory()), run, BatchSize::PerIteration)
    });
    g.bench_function("sqlite_file", |b| {
        b.iter_batched(|| setup(sqlite_crm(&dir)), run, BatchSize::PerIteration)
    });
    g.finish();
}

/// The columnar purchase scan of 1M interactions.
fn scan(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = generated_transactions(GENERATED_ROWS, GENERATED_CUSTOMERS);
    let mapping = generated_mapping();
    let sqlite = sqlite_crm(&dir);
    import(&sqlite, data.as_bytes(), &mapping);
    let memory = Crm::new(MemoryStore::new());
    import(&memory, data.as_bytes(), &mapping);
    let mut g = c.benchmark_group("scan_purchases_1m");
    g.throughput(Throughput::Elements(GENERATED_ROWS as u64)).sample_size(10);
    g.bench_function("memory", |b| {
        b.iter(|| black_box(memory.store().scan_purchases().expect("scan")).len())
    });
    g.bench_function("sqlite_file", |b| {
        b.iter(|| black_box(sqlite.store().scan_purchases().expect("scan")).len())
    });
    g.finish();
}

criterion_group!(benches, cdnow, generated, apply_batches, scan);
criterion_main!(benches);
