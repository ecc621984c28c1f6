#!/usr/bin/env bash
# The Swift suite of the UniFFI bindings: builds the library and the CLI, regenerates the
# bindings, compiles the generated Swift into a `CrmKit` module, then compiles and runs
# bindings/uniffi/tests/swift/main.swift and examples/swift/main.swift against it.
#
# Needs a Swift toolchain (swiftc with Foundation: Xcode on macOS, swift.org's on Linux) next to
# Rust. Where there is none, it says it skipped Swift and why, and exits 0.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"

if ! command -v swiftc > /dev/null && [ -x /opt/swift/usr/bin/swiftc ]; then
    PATH="/opt/swift/usr/bin:$PATH"
fi
if ! command -v swiftc > /dev/null; then
    echo "Swift: skipped. There is no Swift toolchain (swiftc) on this machine, and none to install:"
    echo "  Debian's 'swift' packages are OpenStack Swift, not the language. The Swift sources are"
    echo "  generated (bindings/uniffi/generated/swift) and the suite is ready to run where swiftc exists."
    exit 0
fi

step() { printf '\n== %s\n' "$*"; }
target_dir="${CARGO_TARGET_DIR:-target}"
case "$target_dir" in /*) ;; *) target_dir="$root/$target_dir" ;; esac
work="$target_dir/swift-test"
gen="$root/bindings/uniffi/generated/swift"
case "$(uname -s)" in
    Darwin) lib_path_var=DYLD_LIBRARY_PATH; module_lib=libCrmKit.dylib ;;
    *) lib_path_var=LD_LIBRARY_PATH; module_lib=libCrmKit.so ;;
esac

step "build (release) and generate the bindings"
swiftc --version 2>&1 | head -1
cargo build --quiet --release -p crmkit-cli
lib=$(scripts/generate-bindings.sh --profile release)
lib_dir=$(cd "$(dirname "$lib")" && pwd)

step "expected values from the Rust CLI (CDNOW master log, same run)"
rm -rf "$work"
mkdir -p "$work/run/db" "$work/run/example" "$work/module"
bindings/uniffi/tests/expected-from-cli.sh "$target_dir/release/crmkit" examples/data/CDNOW_master.txt "$work/run/expected"

step "compile the CrmKit module, the suite and the example (swiftc)"
ffi_flags=(-I "$gen" -Xcc -fmodule-map-file="$gen/CrmKitFFI.modulemap" -L "$lib_dir" -lcrmkit_ffi)
swiftc -module-name CrmKit -parse-as-library -emit-library -emit-module \
    -emit-module-path "$work/module/CrmKit.swiftmodule" -o "$work/module/$module_lib" \
    "${ffi_flags[@]}" "$gen/CrmKit.swift"
app_flags=(-swift-version 5 -I "$work/module" -L "$work/module" -lCrmKit "${ffi_flags[@]}")
swiftc "${app_flags[@]}" bindings/uniffi/tests/swift/main.swift -o "$work/crmkit-tests"
swiftc "${app_flags[@]}" examples/swift/main.swift -o "$work/crmkit-example"
export "$lib_path_var=$work/module:$lib_dir"

step "the example (examples/swift)"
"$work/crmkit-example" "$work/run/example"

step "the suite (bindings/uniffi/tests/swift)"
"$work/crmkit-tests" "$work/run/db" examples/data/CDNOW_master.txt "$work/run/expected"
