#!/usr/bin/env bash
# Runs one libFuzzer program for a bounded time on its seed corpus and past crashes:
#   run_fuzzer.sh PROGRAM SECONDS SEEDS REGRESSIONS WORK [SEED]
# New inputs it finds go to WORK/corpus, emptied first (never into the committed seeds); a crash's
# input is written to WORK/crash-... and its path printed (docs/fuzzing.md: make it a
# regression). SEED (default 1) fixes libFuzzer's random choices, so a run that fails fails again
# on the same machine; another seed explores elsewhere.
set -euo pipefail
program=$1 seconds=$2 seeds=$3 regressions=$4 work=$5 seed=${6:-1}
rm -rf "$work/corpus"
mkdir -p "$work/corpus"
# Leaks are checked per input (libFuzzer with ASan); the suppressions are the test suite's.
root=$(cd "$(dirname "$0")/../.." && pwd)
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$root/test/sanitizers/lsan.supp}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1:suppressions=$root/test/sanitizers/ubsan.supp}
cd "$work"
exec "$program" -seed="$seed" -max_total_time="$seconds" -timeout=30 -rss_limit_mb=2048 -max_len=16384 \
  -print_final_stats=1 -artifact_prefix="$work/" "$work/corpus" "$seeds" "$regressions"
