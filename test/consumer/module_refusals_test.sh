#!/usr/bin/env bash
# Installs this build of microlith into a temporary prefix, then configures small out-of-tree
# projects against it: a module that links another module, and one that includes another
# module's header, are each refused at configure time with a message naming both modules; a
# module that includes an ordinary library's header configures.
# Usage: module_refusals_test.sh <microlith build dir>
set -euo pipefail
build_dir=$1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cmake --install "$build_dir" --prefix "$work/prefix" >/dev/null

# A project of two modules in folders a/ and b/ and an ordinary library in common/; b's source
# is given as $1, b's extra arguments to microlith_add_module as $2.
make_project() {
  local dir=$1 b_source=$2 b_args=$3
  mkdir -p "$dir/a" "$dir/b" "$dir/common"
  cat >"$dir/CMakeLists.txt" <<CMAKE
cmake_minimum_required(VERSION 3.25)
project(refusals LANGUAGES CXX)
set(CMAKE_CXX_STANDARD 17)
find_package(microlith 0.1 REQUIRED)
add_library(common INTERFACE)
target_include_directories(common INTERFACE \${CMAKE_CURRENT_SOURCE_DIR}/common)
add_subdirectory(b)
add_subdirectory(a)
CMAKE
  echo 'microlith_add_module(module_a SOURCES a.cpp)' >"$dir/a/CMakeLists.txt"
  printf '#pragma once\ninline int a_value() { return 1; }\n' >"$dir/a/a.hpp"
  printf '#include "a.hpp"\nint a_used() { return a_value(); }\n' >"$dir/a/a.cpp"
  printf '#pragma once\ninline int shared_value() { return 2; }\n' >"$dir/common/shared.hpp"
  echo "microlith_add_module(module_b SOURCES b.cpp $b_args)" >"$dir/b/CMakeLists.txt"
  printf '%s\nint b_used() { return 0; }\n' "$b_source" >"$dir/b/b.cpp"
}

# Configures project $1; its output in $1.log; answers cmake's exit status.
configure() {
  cmake -S "$1" -B "$1/build" -G Ninja -DCMAKE_PREFIX_PATH="$work/prefix" >"$1.log" 2>&1
}

fail() {
  echo "module refusals: $1" >&2
  [ -f "${2:-}" ] && cat "$2" >&2
  exit 1
}

# Each project's module_b is declared before module_a: the checks run once the project is read.
make_project "$work/links" '#include <string>' 'LINKS module_a'
configure "$work/links" && fail "a module linking module_a configured" "$work/links.log"
grep -q "module module_b links module module_a: a module may not link another module" \
  "$work/links.log" || fail "the LINKS refusal does not name both modules" "$work/links.log"

make_project "$work/includes" '#include "../a/a.hpp"' ''
configure "$work/includes" && fail "a module including module_a's header configured" \
  "$work/includes.log"
tr -d '\n' <"$work/includes.log" | tr -s ' ' |
  grep -q "module module_b includes .*/a/a.hpp, a file of module module_a" ||
  fail "the include refusal does not name both modules and the file" "$work/includes.log"

make_project "$work/through_dirs" '#include "a.hpp"' ''
echo 'target_include_directories(module_b PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/../a)' \
  >>"$work/through_dirs/b/CMakeLists.txt"
configure "$work/through_dirs" && fail "a module including module_a's header through an \
include directory configured" "$work/through_dirs.log"
grep -q "module module_b includes" "$work/through_dirs.log" ||
  fail "the include refusal (through an include directory) is missing" "$work/through_dirs.log"

make_project "$work/ordinary" '#include "../common/shared.hpp"' 'LINKS common'
configure "$work/ordinary" ||
  fail "a module including an ordinary library's header was refused" "$work/ordinary.log"

echo "a module linking or including another module is refused at configure time"
