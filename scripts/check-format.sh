#!/usr/bin/env bash
# Checks that every C++ file of microlith (.cpp and .hpp, generated files aside) is formatted with
# the root's .clang-format (clang-format 14, Debian 12's), and names the files that are not.
#   scripts/check-format.sh         check (the test suite runs this)
#   scripts/check-format.sh --fix   format them in place
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
formatter=$(command -v clang-format-14 || command -v clang-format || true)
if [ -z "$formatter" ]; then
  echo "check-format: clang-format is not installed (scripts/install-deps.sh installs it)" >&2
  exit 1
fi
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  mapfile -t files < <(git ls-files '*.cpp' '*.hpp')
else # an unpacked source archive: every C++ file outside build folders
  mapfile -t files < <(find . \( -path './build*' -o -path './.git' \) -prune -o \
                              -type f \( -name '*.cpp' -o -name '*.hpp' \) -print | sort)
fi
if [ ${#files[@]} -eq 0 ]; then
  echo "check-format: no C++ files found under $root" >&2
  exit 1
fi
if [ "${1:-}" = "--fix" ]; then
  "$formatter" -i "${files[@]}"
  echo "check-format: formatted ${#files[@]} files"
  exit 0
fi
# One clang-format process for every file (one per file took a minute on a busy 2-core machine):
# it names each file that differs in its diagnostics.
status=0
report=$("$formatter" --dry-run --Werror "${files[@]}" 2>&1 >/dev/null) || status=$?
mapfile -t bad < <(printf '%s\n' "$report" |
  sed -n 's/^\(.*\):[0-9]*:[0-9]*: error: code should be clang-formatted.*/\1/p' | sort -u)
if [ "$status" -ne 0 ] && [ ${#bad[@]} -eq 0 ]; then
  echo "check-format: $formatter failed:" >&2
  printf '%s\n' "$report" >&2
  exit 1
fi
if [ ${#bad[@]} -gt 0 ]; then
  echo "check-format: ${#bad[@]} of ${#files[@]} files differ from .clang-format" \
       "(see: clang-format --dry-run FILE; fix: scripts/check-format.sh --fix):" >&2
  printf '  %s\n' "${bad[@]}" >&2
  exit 1
fi
echo "check-format: all ${#files[@]} files are formatted with .clang-format"
