#!/usr/bin/env bash
# Builds the crmkit-ffi library and generates its Kotlin and Swift bindings from it (UniFFI
# library mode: the interface is read from the built library, names from bindings/uniffi/uniffi.toml).
#
#   scripts/generate-bindings.sh                       # release build, into bindings/uniffi/generated/
#   scripts/generate-bindings.sh --profile release-mobile --out DIR
#
# Output: DIR/kotlin/dev/crmkit/crmkit.kt and DIR/swift/{CrmKit.swift,CrmKitFFI.h,CrmKitFFI.modulemap}.
# Prints the path of the built library on its last line.
set -euo pipefail
cd "$(dirname "$0")/.."

profile=release
out=bindings/uniffi/generated
while [ $# -gt 0 ]; do
    case "$1" in
        --profile) profile="$2"; shift 2 ;;
        --out) out="$2"; shift 2 ;;
        *) echo "usage: $0 [--profile PROFILE] [--out DIR]" >&2; exit 2 ;;
    esac
done

case "$profile" in
    dev) profile_dir=debug ;;
    *) profile_dir="$profile" ;;
esac
case "$(uname -s)" in
    Darwin) lib_file=libcrmkit_ffi.dylib ;;
    *) lib_file=libcrmkit_ffi.so ;;
esac
target_dir="${CARGO_TARGET_DIR:-target}"
lib="$target_dir/$profile_dir/$lib_file"

cargo build --quiet -p crmkit-ffi --profile "$profile" >&2
# The generator itself is built once in the dev profile; it only reads the library's metadata.
cargo build --quiet -p uniffi-bindgen >&2
bindgen="$target_dir/debug/uniffi-bindgen"

rm -rf "$out/kotlin" "$out/swift"
"$bindgen" generate "$lib" --language kotlin --no-format --out-dir "$out/kotlin" >&2
"$bindgen" generate "$lib" --language swift --no-format --out-dir "$out/swift" >&2
echo "generated $out/kotlin and $out/swift from $lib" >&2
echo "$lib"
