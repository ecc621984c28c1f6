#!/usr/bin/env bash
# Create benches/compare/.venv with the pinned lifetimes 0.11.3 stack and the benchmark peers
# polars and duckdb (requirements.txt).
# Idempotent: does nothing when the venv exists, was built from the current requirements.txt
# and imports lifetimes, polars and duckdb; otherwise it builds the venv anew. Set PYTHON to
# choose the interpreter (default python3; needs 3.9-3.11).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="$here/.venv"
req="$here/requirements.txt"
stamp="$venv/.requirements.sha256"
py="${PYTHON:-python3}"
want="$(sha256sum "$req" | cut -d' ' -f1)"

check() {
    "$venv/bin/python" -c 'import lifetimes, numpy, scipy, pandas, autograd, dill, polars, duckdb' 2>/dev/null
}

if [ -x "$venv/bin/python" ] && [ "$(cat "$stamp" 2>/dev/null || true)" = "$want" ] && check; then
    echo "setup-venv: $venv is up to date"
    exit 0
fi

ver="$("$py" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
case "$ver" in
    3.9 | 3.10 | 3.11) ;;
    *)
        echo "setup-venv: $py is Python $ver; the pinned wheels (pandas 1.5.3) need 3.9-3.11." >&2
        echo "setup-venv: set PYTHON=/path/to/python3.11" >&2
        exit 1
        ;;
esac

echo "setup-venv: creating $venv with $py ($ver)"
rm -rf "$venv"
"$py" -m venv "$venv"
# Wheels only: building numpy/scipy/pandas from source would take very long, so fail fast instead.
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --only-binary=:all: -r "$req"
check || { echo "setup-venv: the new venv cannot import lifetimes, polars or duckdb" >&2; exit 1; }
echo "$want" >"$stamp"
"$venv/bin/python" -c 'import lifetimes, numpy, scipy, pandas, polars, duckdb; print("setup-venv: ready: lifetimes", lifetimes.__version__, "numpy", numpy.__version__, "scipy", scipy.__version__, "pandas", pandas.__version__, "polars", polars.__version__, "duckdb", duckdb.__version__)'
