#!/usr/bin/env bash
# Installs, builds, and runs the whole test suite through ctest.
#   scripts/test.sh             the normal build, in build/
#   scripts/test.sh --sanitize  an ASan+UBSan build, in build-asan/
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=$root/build
args=()
if [ "${1:-}" = "--sanitize" ]; then
  build=$root/build-asan
  args=(-DMICROLITH_SANITIZE=ON -DMICROLITH_BUILD_BENCH=OFF -DCMAKE_BUILD_TYPE=Debug)
fi
bash "$root/scripts/build.sh" "$build" "${args[@]}"
# fast_unwind_on_malloc=0: whole allocation stacks, which the leak suppressions match on
# (test/sanitizers/lsan.supp says why; CAF from Debian has no frame pointers).
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:fast_unwind_on_malloc=0}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$root/test/sanitizers/lsan.supp}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1:suppressions=$root/test/sanitizers/ubsan.supp}
cd "$build"
ctest -j "$(nproc)" --output-on-failure --no-tests=error
