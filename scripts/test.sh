#!/usr/bin/env bash
# The test command: everything CI runs. Idempotent; installs what it needs.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n== %s\n' "$*"; }

step "format"
cargo fmt --all -- --check

step "clippy (warnings denied)"
cargo clippy --workspace --all-targets -- -D warnings

step "tests and doctests"
cargo test --workspace --no-fail-fast

step "docs (warnings denied)"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps

step "examples run"
cargo run --quiet -p crmkit-examples --example quickstart > /dev/null
echo "quickstart: ok"

step "the demo's figures"
scripts/check-demo.sh
