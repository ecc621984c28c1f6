//! Runnable examples of crmkit live in this folder (`cargo run -p crmkit-examples --example quickstart`).
