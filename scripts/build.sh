#!/usr/bin/env bash
# Installs what is missing, then configures and builds microlith with Ninja (and ccache when
# present) into a build folder: every target (libraries, the microlith program, tests,
# benchmarks), or with --target only the ones named and what they link.
# Usage: scripts/build.sh [--target NAME]... [build dir] [extra cmake args...]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
targets=()
while [ "${1:-}" = "--target" ]; do
  [ -n "${2:-}" ] || { echo "scripts/build.sh: --target needs a target name" >&2; exit 2; }
  targets+=(--target "$2")
  shift 2
done
build=${1:-$root/build}
shift || true
bash "$root/scripts/install-deps.sh"
cmake -S "$root" -B "$build" -G Ninja "$@" >/dev/null
cmake --build "$build" -j "$(nproc)" "${targets[@]}"
