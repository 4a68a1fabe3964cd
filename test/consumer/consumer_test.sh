#!/usr/bin/env bash
# Installs this build of microlith into a temporary prefix, then configures, builds and runs an
# out-of-tree project against it (find_package(microlith), microlith_add_module()).
# Usage: consumer_test.sh <microlith build dir> <consumer project dir>
set -euo pipefail
build_dir=$1
project_dir=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cmake --install "$build_dir" --prefix "$work/prefix" >/dev/null
launcher=()
if command -v ccache >/dev/null; then launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache); fi
cmake -S "$project_dir" -B "$work/build" -G Ninja -DCMAKE_BUILD_TYPE=Debug \
  -DCMAKE_PREFIX_PATH="$work/prefix" "${launcher[@]}" >/dev/null
cmake --build "$work/build" -j2 >/dev/null
"$work/build/greeter_system" modules | grep "^demo.greeter: groups greeter$" >/dev/null
"$work/build/greeter_system" selftest | grep -x "hello, consumer" >/dev/null
# The loadable module: its library, contracts library, info file and description.
info="$work/build/microlith-modules/greeter_loadable.module.toml"
grep -qx 'version = "1.0.0"' "$info"
grep -qx 'provides = \["greeter.proto"\]' "$info"
for key in library contracts_library contracts abi_note description; do
  file=$(sed -n "s/^$key = \"\(.*\)\"$/\1/p" "$info")
  [ -s "$file" ] || { echo "consumer: $key ($file) missing or empty" >&2; exit 1; }
done
grep -qx 'name = "demo.greeter"' "$work/build/greeter_loadable/greeter_loadable.describe.toml"
grep -qx 'caf = "0.17.6"' "$work/build/greeter_loadable/greeter_loadable.abi.toml"
echo "consumer project built and ran against the installed microlith"
