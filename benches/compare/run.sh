#!/usr/bin/env bash
# Side-by-side benchmark of crmkit-clv against lifetimes, polars and duckdb on the same data:
#   1. setup-venv.sh                 (the Python venv; does nothing when it is up to date)
#   2. cargo run --release -p crmkit-benches --example clv_timings
#                                    -> benches/compare/crmkit_timings.json
#   3. time_peers.py                 -> benches/compare/peer_timings.json (about 3 minutes)
#   4. table.py                      -> prints the table and writes docs/benchmarks.md
# Idempotent: every step overwrites its own output and nothing else; a failed step leaves the
# previous outputs in place. Run from anywhere; takes a few minutes plus cargo's build.
#   --no-cargo  reuse benches/compare/crmkit_timings.json instead of running step 2
#   --no-peers  reuse benches/compare/peer_timings.json instead of running step 3
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
run_cargo=1
run_peers=1
for arg in "$@"; do
    case "$arg" in
        --no-cargo) run_cargo=0 ;;
        --no-peers) run_peers=0 ;;
        -h | --help) sed -n '2,11p' "$0"; exit 0 ;;
        *) echo "run.sh: unknown argument $arg (try --help)" >&2; exit 2 ;;
    esac
done

cd "$repo"
"$here/setup-venv.sh"
py="$here/.venv/bin/python"

if [ "$run_cargo" = 1 ]; then
    tmp="$(mktemp "$here/.crmkit_timings.XXXXXX")"
    trap 'rm -f "$tmp"' EXIT
    echo "run.sh: cargo run --release -p crmkit-benches --example clv_timings" >&2
    # cargo's own messages go to stderr; the program's JSON is all of stdout.
    cargo run --release -p crmkit-benches --example clv_timings >"$tmp"
    "$py" -c 'import json, sys; json.load(open(sys.argv[1]))' "$tmp" \
        || { echo "run.sh: clv_timings did not print JSON" >&2; exit 1; }
    mv "$tmp" "$here/crmkit_timings.json"
fi
[ -f "$here/crmkit_timings.json" ] || { echo "run.sh: no $here/crmkit_timings.json" >&2; exit 1; }

if [ "$run_peers" = 1 ]; then
    echo "run.sh: time_peers.py (a few minutes)" >&2
    "$py" "$here/time_peers.py" >/dev/null
fi

"$py" "$here/table.py" --rust "$here/crmkit_timings.json" --peers "$here/peer_timings.json" \
    --out "$repo/docs/benchmarks.md"
