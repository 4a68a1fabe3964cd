#!/bin/sh
# The compile and link launcher of the libFuzzer programs (test/fuzz/CMakeLists.txt): runs the
# command the build wrote for the project's C++ compiler with clang in its place, so that these
# few programs are instrumented for libFuzzer while everything they link comes from the normal
# build. Usage: clang_launcher.sh CLANG CXX COMMAND...
clang=$1
cxx=$2
shift 2
for arg; do
  shift
  if [ "$arg" = "$cxx" ]; then
    set -- "$@" "$clang"
  else
    set -- "$@" "$arg"
  fi
done
exec "$@"
