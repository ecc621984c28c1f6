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
