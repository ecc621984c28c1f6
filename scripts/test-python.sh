#!/usr/bin/env bash
# The Python bindings' test command (issue 5): builds the `crmkit` package into a venv and runs
# its tests. Run from the repository root:
#
#   scripts/test-python.sh            # venv (if needed) + build + pytest (incl. doctests, stubtest)
#   scripts/test-python.sh --fresh    # also prove `pip install ./bindings/python` in a new venv
#
# Idempotent: the venv target/python-venv is made once from bindings/python/requirements-test.txt
# (pinned; rebuilt when that file changes), the extension is rebuilt by maturin only when the Rust
# changed (its own target dir, target/maturin). Exits non-zero when anything fails.
# PYTHON=/path/to/python3.11 chooses the interpreter (3.9-3.11: the pinned pandas 1.5.3 that
# lifetimes 0.11.3 needs has no wheels for 3.12+).
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
fresh=0
for arg in "$@"; do
    case "$arg" in
        --fresh) fresh=1 ;;
        -h | --help) sed -n '2,13p' "$0"; exit 0 ;;
        *) echo "test-python.sh: unknown argument $arg (try --help)" >&2; exit 2 ;;
    esac
done

pick_python() {
    if [ -n "${PYTHON:-}" ]; then echo "$PYTHON"; return; fi
    for p in python3.11 python3.10 python3.9 python3; do
        if command -v "$p" >/dev/null 2>&1; then
            v="$("$p" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null || true)"
            case "$v" in 3.9 | 3.10 | 3.11) echo "$p"; return ;; esac
        fi
    done
    echo "test-python.sh: need CPython 3.9-3.11 (set PYTHON=...)" >&2
    exit 1
}

venv="$repo/target/python-venv"
req="$repo/bindings/python/requirements-test.txt"
stamp="$venv/.requirements.sha256"
want="$(sha256sum "$req" | cut -d' ' -f1)"
if [ ! -x "$venv/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null || true)" != "$want" ]; then
    py="$(pick_python)"
    echo "test-python.sh: creating $venv with $py" >&2
    rm -rf "$venv"
    "$py" -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --only-binary=:all: -r "$req"
    echo "$want" >"$stamp"
fi
export VIRTUAL_ENV="$venv"
export PATH="$venv/bin:$PATH"

echo "test-python.sh: rustfmt + clippy + rustdoc (crmkit-python)" >&2
rustfmt --edition 2024 --check bindings/python/src/*.rs
CARGO_TARGET_DIR="$repo/target/py-dev" cargo clippy --quiet -p crmkit-python --all-targets -- -D warnings
RUSTDOCFLAGS="-D warnings" CARGO_TARGET_DIR="$repo/target/py-dev" cargo doc --quiet -p crmkit-python --no-deps

echo "test-python.sh: maturin develop --release" >&2
# A stale extension beside the sources would shadow the new one (pydantic-core does the same).
rm -f bindings/python/python/crmkit/_crmkit*.so
(cd bindings/python && maturin develop --release --quiet --target-dir "$repo/target/maturin")

echo "test-python.sh: pytest" >&2
python -m pytest -q -p no:cacheprovider -c bindings/python/pyproject.toml --rootdir bindings/python \
    bindings/python/tests \
    --doctest-modules bindings/python/python/crmkit \
    --doctest-glob='python.md' docs/python.md

if [ "$fresh" = 1 ]; then
    echo "test-python.sh: pip install ./bindings/python into a fresh venv" >&2
    tmp="$(mktemp -d)"
    trap 'rm -rf "$tmp"' EXIT
    "$(pick_python)" -m venv "$tmp/venv"
    CARGO_TARGET_DIR="$repo/target/maturin" "$tmp/venv/bin/python" -m pip install --quiet \
        --disable-pip-version-check ./bindings/python
    "$tmp/venv/bin/python" -c '
import crmkit, numpy as np
crm = crmkit.Crm()
c = crm.create_customer("Ada", email="ada@example.org")
m = crmkit.BgNbd(r=0.243, alpha=4.414, a=0.793, b=2.426)
e = m.predict(39, frequency=np.array([2.0]), recency=np.array([30.43]), T=np.array([38.86]))
assert round(float(e[0]), 3) == 1.226, e
print("fresh install: crmkit", crmkit.__version__, "OK")
'
fi
