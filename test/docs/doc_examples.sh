#!/usr/bin/env bash
# Runs the shell examples a document marks as runnable against a freshly started bank and compares
# what they print with what the document shows. A runnable block is a fenced block whose info
# string is `sh doc-test`; the fenced block right after it (only blank lines between) with an
# info string ending in `doc-output` holds what its commands print, one command after another
# (a command whose output does not end with a newline gets one). The bank is
# examples/bank/bank.toml with its gateway on a port the OS chooses and its admin endpoint on
# (admin = true), run with MICROLITH_ADMIN_TOKEN=doc-example-admin-token as docs/admin.md shows
# (the example file keeps the endpoint off, so that it runs without a token; the commands do not
# inherit the variable: a document sets it where it uses it); `127.0.0.1:8080` in a command
# is rewritten to that port and `build/cli/microlith` to the program under test; commands run in
# the source tree, each bounded to 20 s, and must exit with 0. Before comparing, volatile values
# are replaced on both sides: correlation and request ids in JSON, and the Date and X-Request-Id
# headers.
# Every process started here is killed by pid on the way out, whatever happens.
# Usage: doc_examples.sh <microlith binary> <source tree> <document, relative to the source tree>
set -euo pipefail
bin=$1
src=$2
doc=$3
system=$src/examples/bank/bank.toml
source "$src/test/cli/run_common.sh"

# Splits the document's marked blocks into $dir/N.cmd and $dir/N.out (N = 1, 2, ...), the
# fence's indentation removed; fails on a runnable block without its output block.
awk -v dir="$dir" -v doc="$doc" '
  function indent_of(line) { match(line, /^ */); return RLENGTH }
  function strip(line, n) { return substr(line, (indent_of(line) < n ? indent_of(line) : n) + 1) }
  {
    if (state == "") {
      if ($0 ~ /^ *```/) {
        info = $0; sub(/^ *```/, "", info)
        fence = indent_of($0)
        if (info ~ /^sh +doc-test *$/) {
          if (expecting) { print doc ": runnable block " n " has no doc-output block"; bad = 1 }
          n++; state = "cmd"; expecting = 1
          printf "" > (dir "/" n ".cmd")
        } else if (info ~ /doc-output *$/) {
          if (!expecting || gap) { print doc ":" NR ": a doc-output block must follow a doc-test block"; bad = 1 }
          state = "out"; expecting = 0
          printf "" > (dir "/" n ".out")
        } else {
          if (expecting) { print doc ": runnable block " n " has no doc-output block"; bad = 1; expecting = 0 }
          state = "other"
        }
        gap = 0
        next
      }
      if (expecting && $0 !~ /^ *$/) gap = 1
      next
    }
    if ($0 ~ /^ *``` *$/) { state = ""; gap = 0; next }
    if (state == "cmd") print strip($0, fence) > (dir "/" n ".cmd")
    if (state == "out") print strip($0, fence) > (dir "/" n ".out")
  }
  END {
    if (expecting) { print doc ": runnable block " n " has no doc-output block"; bad = 1 }
    if (n == 0) { print doc ": no runnable block (```sh doc-test)"; bad = 1 }
    print n > (dir "/count")
    exit bad
  }' "$src/$doc" || fail "the marks in $doc"

# Replaces what differs from run to run.
normalise() {
  sed -e 's/\r$//' \
      -e 's/"correlation_id":"[^"]*"/"correlation_id":"…"/g' \
      -e 's/"request_id":"[^"]*"/"request_id":"…"/g' \
      -e 's/^\([Dd]ate:\).*/\1 …/' \
      -e 's/^\([Xx]-[Rr]equest-[Ii]d:\).*/\1 …/' \
      -e 's/[[:space:]]*$//'
}

export MICROLITH_ADMIN_TOKEN=doc-example-admin-token
start_bank -e 's/^listen = "127.0.0.1:0"/&\nadmin = true/'
unset MICROLITH_ADMIN_TOKEN
wait_for_log "running in one process"
port=$(grep -o 'listening on http://127.0.0.1:[0-9]*' "$log" | head -1 | sed 's/.*://')
[ -n "$port" ] || fail "no port in the log"

count=$(cat "$dir/count")
for n in $(seq 1 "$count"); do
  : >"$dir/$n.actual"
  command=
  while IFS= read -r line || [ -n "$line" ]; do
    if [ -z "$command" ] && { [[ $line =~ ^[[:space:]]*$ ]] || [[ $line =~ ^[[:space:]]*# ]]; }; then
      continue
    fi
    if [[ $line == *\\ ]]; then
      command+="${line%\\} "
      continue
    fi
    command+=$line
    run=${command//127.0.0.1:8080/127.0.0.1:$port}
    run=${run//build\/cli\/microlith/$bin}
    set +e
    (cd "$src" && timeout 20 bash -c "$run") >"$dir/$n.one" 2>&1
    code=$?
    set -e
    cat "$dir/$n.one" >>"$dir/$n.actual"
    if [ -s "$dir/$n.one" ] && [ "$(tail -c1 "$dir/$n.one" | od -An -c | tr -d ' ')" != '\n' ]; then
      echo >>"$dir/$n.actual"
    fi
    [ "$code" -eq 0 ] || fail "$doc, runnable block $n: exit code $code from: $command
$(cat "$dir/$n.one")"
    command=
  done <"$dir/$n.cmd"
  if ! diff -u <(normalise <"$dir/$n.out") <(normalise <"$dir/$n.actual") >"$dir/$n.diff"; then
    fail "$doc, runnable block $n: the output differs from the document's (--- document, +++ actual):
$(cat "$dir/$n.diff")"
  fi
done
echo "ok: the $count runnable block(s) of $doc print what it shows"
