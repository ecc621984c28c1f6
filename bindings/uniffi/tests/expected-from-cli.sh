#!/usr/bin/env bash
# What the Rust side computes on the CDNOW master log, for the Kotlin and Swift suites to compare
# with, produced by the `crmkit` CLI in the same run (so the comparison cannot drift):
#   OUT/fit.json        `crmkit fit --as-of 1997-09-30 --time-unit week --model bgnbd --format json`
#   OUT/score-ID.json   `crmkit score ext:cdnow:ID --format json`
# Usage: expected-from-cli.sh CRMKIT_BINARY CDNOW_MASTER_TXT OUT_DIR
set -euo pipefail
crmkit="$1" cdnow="$2" out="$3"
mkdir -p "$out"
db="$out/cli.db"
rm -f "$db" "$db-wal" "$db-shm"
# The mapping the suites use: customer_id date number_of_cds dollar_value.
"$crmkit" --db "$db" import interactions "$cdnow" --format whitespace \
    --key external:cdnow --map customer=customer_id --map timestamp=date --map amount=dollar_value \
    --date-format %Y%m%d --currency USD --property number_of_cds --create-customers > /dev/null
"$crmkit" --db "$db" fit --as-of 1997-09-30 --time-unit week --model bgnbd --format json > "$out/fit.json"
# Customers with one purchase, a few, many; early and late starters.
for id in 00001 00004 00018 01000 04321 07592 12345 18000 23570; do
    "$crmkit" --db "$db" score "ext:cdnow:$id" --format json > "$out/score-$id.json"
done
