#!/usr/bin/env bash
# Installs, builds, and runs the example bank system in one process until Ctrl-C.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bash "$root/scripts/build.sh" "$root/build"
exec "$root/build/cli/microlith" run "$root/examples/bank/bank.toml"
