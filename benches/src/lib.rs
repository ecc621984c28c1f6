//! crmkit benchmarks live in `benches/`.
