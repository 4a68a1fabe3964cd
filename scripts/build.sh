#!/usr/bin/env bash
# Installs what is missing, then configures and builds microlith with Ninja (and ccache when
# present) into a build folder. Usage: scripts/build.sh [build dir] [extra cmake args...]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build}
shift || true
bash "$root/scripts/install-deps.sh"
cmake -S "$root" -B "$build" -G Ninja "$@" >/dev/null
cmake --build "$build" -j "$(nproc)"
