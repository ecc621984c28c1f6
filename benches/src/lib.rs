//! Data for crmkit's benchmarks: the shipped CDNOW log and deterministic synthetic transaction files.

/// The CDNOW master log shipped in `examples/data/`.
pub const CDNOW_MASTER: &[u8] = include_bytes!("../../examples/data/CDNOW_master.txt");

/// A deterministic CSV transaction log (`customer,timestamp,amount` with header) of `rows`
/// purchases by `customers` customers (keys `c{n}@example.org`), days spread over 2023-2024.
///
/// # Examples
///
/// ```
/// let csv = crmkit_benches::generated_transactions(3, 2);
/// assert_eq!(csv.lines().count(), 4);
/// ```
pub fn generated_transactions(rows: usize, customers: usize) -> String {
    use std::fmt::Write;
    let mut out = String::with_capacity(rows * 48 + 32);
    out.push_str("customer,timestamp,amount\n");
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = || {
        // xorshift64*: fast, deterministic, good enough to spread rows.
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        state.wrapping_mul(0x2545_F491_4F6C_DD1D)
    };
    for _ in 0..rows {
        let c = next() % customers.max(1) as u64;
        let day = next() % 730;
        let cents = 100 + next() % 20_000;
        let date = chrono::NaiveDate::from_ymd_opt(2023, 1, 1)
            .and_then(|d| d.checked_add_days(chrono::Days::new(day)))
            .unwrap_or_default();
        let _ = writeln!(out, "c{c}@example.org,{date},{}.{:02}", cents / 100, cents % 100);
    }
    out
}

/// The formula-made log shared with `benches/compare/time_peers.py`: row i belongs to customer
/// (i · 7919) mod `customers`, on day (i · 104729) mod 540 after 2023-01-01 (UTC), spending
/// ((i · 31) mod 10000) / 100 + 1. No random generator, so both languages build the same rows.
/// Returns (customer index, timestamp µs, amount) columns.
///
/// # Examples
///
/// ```
/// let (c, t, a) = crmkit_benches::synthetic_columns(3, 2);
/// assert_eq!((c, a), (vec![0, 1, 0], vec![1.0, 1.31, 1.62]));
/// assert_eq!(t[0], 1_672_531_200_000_000);
/// ```
pub fn synthetic_columns(rows: usize, customers: u64) -> (Vec<u32>, Vec<i64>, Vec<f64>) {
    let mut c = Vec::with_capacity(rows);
    let mut t = Vec::with_capacity(rows);
    let mut a = Vec::with_capacity(rows);
    for i in 0..rows as u64 {
        c.push(((i * 7919) % customers) as u32);
        t.push(SYNTHETIC_START_MICROS + ((i * 104_729) % 540) as i64 * 86_400_000_000);
        a.push(((i * 31) % 10_000) as f64 / 100.0 + 1.0);
    }
    (c, t, a)
}

/// 2023-01-01T00:00:00Z in microseconds: the first day of [`synthetic_columns`].
pub const SYNTHETIC_START_MICROS: i64 = 1_672_531_200_000_000;

/// The CDNOW master log as (customer id, timestamp µs, amount) columns.
///
/// # Examples
///
/// ```
/// let (c, _, a) = crmkit_benches::cdnow_master_columns();
/// assert_eq!((c.len(), c[0], a[0]), (69_659, 1, 11.77));
/// ```
pub fn cdnow_master_columns() -> (Vec<u32>, Vec<i64>, Vec<f64>) {
    let text = std::str::from_utf8(CDNOW_MASTER).unwrap_or_default();
    let (mut c, mut t, mut a) = (Vec::new(), Vec::new(), Vec::new());
    for line in text.lines().skip(1) {
        let f: Vec<&str> = line.split_whitespace().collect();
        let (Some(id), Some(day), Some(amount)) = (f.first(), f.get(1), f.get(3)) else {
            continue;
        };
        let (Ok(id), Ok(date), Ok(amount)) = (
            id.parse::<u32>(),
            chrono::NaiveDate::parse_from_str(day, "%Y%m%d"),
            amount.parse::<f64>(),
        ) else {
            continue;
        };
        c.push(id);
        t.push(date.and_hms_opt(0, 0, 0).map_or(0, |d| d.and_utc().timestamp_micros()));
        a.push(amount);
    }
    (c, t, a)
}

/// The five-predicate rule of the segment benchmarks: customer record, interaction windows and
/// model outputs.
pub const FIVE_PREDICATE_RULE: &str = "tag \"vip\" or (count(purchase, 90d) >= 2 and \
     days_since(email) > 30 and p_alive < 0.5 and attr.plan = \"pro\")";

/// A deterministic base of `n` customers as rules see them: a record (tags, a `plan`
/// attribute), four interactions each over 2023-2024 (customer `i`'s are
/// `facts[4 * i..4 * i + 4]`, one flat column as a bulk load lays them out), and scores.
pub fn segment_facts(
    n: usize,
) -> (Vec<crmkit::Customer>, Vec<crmkit::rules::InteractionFact>, Vec<crmkit::CustomerScore>) {
    use crmkit::{AttributeValue, CustomerId, CustomerScore, NewCustomer};
    let crm = crmkit::Crm::in_memory();
    crm.define_field(crmkit::FieldDef::new("plan", crmkit::FieldType::String)).unwrap_or_default();
    let template = crm.create_customer(NewCustomer::person("template")).ok();
    let t0 = chrono::DateTime::<chrono::Utc>::from_timestamp(1_672_531_200, 0).unwrap_or_default();
    let mut customers = Vec::with_capacity(n);
    let mut facts = Vec::with_capacity(4 * n);
    let mut scores = Vec::with_capacity(n);
    for i in 0..n {
        let Some(mut c) = template.clone() else { break };
        c.id = CustomerId::from_u128(i as u128 + 1);
        if i % 50 == 0 {
            c.tags.insert("vip".into());
        }
        let plan = if i % 3 == 0 { "pro" } else { "free" };
        c.attributes.insert("plan".into(), AttributeValue::String(plan.into()));
        customers.push(c);
        facts.extend((0..4).map(|k| {
            crmkit::rules::InteractionFact::of_kind(
                if k % 2 == 0 { "purchase" } else { "email" },
                t0 + chrono::Duration::days(((i * 7919 + k * 104_729) % 730) as i64),
                None,
            )
        }));
        let mut s = CustomerScore::empty(CustomerId::from_u128(i as u128 + 1), 1);
        s.p_alive = ((i * 2_654_435_761) % 1000) as f64 / 1000.0;
        scores.push(s);
    }
    (customers, facts, scores)
}
