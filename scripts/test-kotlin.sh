#!/usr/bin/env bash
# The Kotlin suite of the UniFFI bindings, on the JVM (no Gradle): builds the library and the CLI,
# regenerates the bindings, has the Rust CLI compute the expected CDNOW figures, compiles the
# tests and examples/kotlin with kotlinc, and runs both. Idempotent; installs what it needs:
# JNA from Debian's libjna-java, kotlinc from npm's kotlin-compiler (into tools/, git-ignored).
#
# Builds in release (the default target/): the CLI the comparison runs is the release build that
# scripts/check-demo.sh already makes, and both sides then share one build of crmkit.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"

KOTLIN_VERSION=2.4.20
JNA=/usr/share/java/jna.jar
KOTLIN_HOME="$root/tools/node_modules/kotlin-compiler"
target_dir="${CARGO_TARGET_DIR:-target}"
case "$target_dir" in /*) ;; *) target_dir="$root/$target_dir" ;; esac
work="$target_dir/kotlin-test"

step() { printf '\n== %s\n' "$*"; }
elapsed() { echo "$(( $(date +%s) - $1 )) s"; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
started=$(date +%s)

step "tools"
if ! command -v java > /dev/null; then
    as_root apt-get update -qq && as_root apt-get install -y -qq openjdk-17-jdk-headless
fi
if [ ! -f "$JNA" ]; then
    as_root apt-get update -qq && as_root apt-get install -y -qq libjna-java
fi
if [ ! -x "$KOTLIN_HOME/bin/kotlinc" ] || ! grep -q "\"version\": \"$KOTLIN_VERSION\"" "$KOTLIN_HOME/package.json"; then
    mkdir -p tools
    [ -f tools/package.json ] || (cd tools && npm init -y > /dev/null)
    (cd tools && npm install --no-audit --no-fund --loglevel=error "kotlin-compiler@$KOTLIN_VERSION")
fi
echo "java $(java -version 2>&1 | head -1), kotlinc $KOTLIN_VERSION, $(readlink -f "$JNA")"

step "build (release) and generate the bindings"
t=$(date +%s)
cargo build --quiet --release -p crmkit-cli
crmkit="$target_dir/release/crmkit"
lib=$(scripts/generate-bindings.sh --profile release)
lib_dir=$(cd "$(dirname "$lib")" && pwd)
if git rev-parse --git-dir > /dev/null 2>&1 && [ -n "$(git status --porcelain -- bindings/uniffi/generated)" ]; then
    echo "note: the generated bindings differ from the committed ones (commit bindings/uniffi/generated)"
fi
echo "built and generated in $(elapsed "$t")"

step "expected values from the Rust CLI (CDNOW master log, same run)"
t=$(date +%s)
rm -rf "$work/run"
mkdir -p "$work/run/db" "$work/run/example"
bindings/uniffi/tests/expected-from-cli.sh "$crmkit" examples/data/CDNOW_master.txt "$work/run/expected"
echo "done in $(elapsed "$t")"

step "compile (kotlinc)"
t=$(date +%s)
sources=(bindings/uniffi/generated/kotlin/dev/crmkit/crmkit.kt bindings/uniffi/tests/kotlin/CrmKitTest.kt examples/kotlin/Example.kt)
classes="$work/classes"
stamp=$(cat "${sources[@]}" | sha256sum | cut -c1-16)-$KOTLIN_VERSION
if [ -f "$classes/.stamp" ] && [ "$(cat "$classes/.stamp")" = "$stamp" ]; then
    echo "unchanged sources: reusing $classes"
else
    rm -rf "$classes"
    "$KOTLIN_HOME/bin/kotlinc" -nowarn -cp "$JNA" "${sources[@]}" -d "$classes"
    echo "$stamp" > "$classes/.stamp"
    echo "compiled in $(elapsed "$t")"
fi

run_java() {
    java -Djna.library.path="$lib_dir" -cp "$classes:$KOTLIN_HOME/lib/kotlin-stdlib.jar:$JNA" "$@"
}

step "the example (examples/kotlin)"
run_java dev.crmkit.example.ExampleKt "$work/run/example"

step "the suite (bindings/uniffi/tests/kotlin)"
t=$(date +%s)
run_java dev.crmkit.tests.CrmKitTestKt "$work/run/db" examples/data/CDNOW_master.txt "$work/run/expected"
echo "suite ran in $(elapsed "$t"); test-kotlin.sh took $(elapsed "$started")"
