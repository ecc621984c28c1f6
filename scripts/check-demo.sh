#!/usr/bin/env bash
# Runs `crmkit demo` on a fresh database and checks the CDNOW figures it must print.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
cargo run --quiet -p crmkit-cli -- --db "$dir/demo.db" demo > "$dir/out.txt"
cat "$dir/out.txt"
for want in "customers                      23,570" "transactions                   69,659" "2,500,315.63 USD" "1997-01-01" "1998-06-30" \
  "r          0.2671" "alpha      5.9865" "a          0.4835" "b          2.1116" "log-likelihood -173425.92" \
  "RFM segments" "Valuable customers at risk" "Forecast check" \
  "active                   3,282" "lapsed-regulars          2,955" "top-value                2,357" \
  "top-value-at-risk           72" "): 72 tasks" "incremental membership equals a full re-evaluation"; do
  grep -qF "$want" "$dir/out.txt" || { echo "demo output lacks: $want"; exit 1; }
done
# The second run must import nothing, and the playbook must not fire again for the same entries.
cargo run --quiet -p crmkit-cli -- --db "$dir/demo.db" demo > "$dir/out2.txt"
grep -qF "0 interactions written, 69,659 duplicates skipped" "$dir/out2.txt" \
  || { echo "second demo run was not idempotent"; exit 1; }
grep -qF "): 72 tasks" "$dir/out2.txt" || { echo "second demo run re-fired the playbook"; exit 1; }
echo "demo figures: ok"
