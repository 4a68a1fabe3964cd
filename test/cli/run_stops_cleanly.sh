#!/usr/bin/env bash
# `microlith run` starts the bank in one process, and SIGINT / SIGTERM stop it cleanly: groups
# stop in reverse start order and the exit code is 0. Every process started here is killed by
# pid on the way out, whatever happens.
# Usage: run_stops_cleanly.sh <microlith binary> <system file> <SIGINT|SIGTERM>
set -euo pipefail
bin=$1
system=$2
signal=$3
log=$(mktemp)
dir=$(mktemp -d)
pid=
cleanup() {
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid" 2>/dev/null || true; fi
  rm -rf "$log" "$dir"
}
trap cleanup EXIT

fail() { echo "FAIL: $*"; echo "--- log:"; cat "$log"; exit 1; }

# The same system with the gateway on a port the OS chooses (tests run in parallel).
sed 's/^listen = "127.0.0.1:8080"/listen = "127.0.0.1:0"/' "$system" >"$dir/bank.toml"
"$bin" run "$dir/bank.toml" 2>"$log" &
pid=$!
for _ in $(seq 1 300); do
  grep -q "running in one process" "$log" && break
  kill -0 "$pid" 2>/dev/null || fail "microlith exited before it was running"
  sleep 0.1
done
grep -q "running in one process" "$log" || fail "not running after 30 s"

kill -s "$signal" "$pid"
code=
for _ in $(seq 1 300); do
  if ! kill -0 "$pid" 2>/dev/null; then
    wait "$pid" && code=0 || code=$?
    break
  fi
  sleep 0.1
done
[ -n "$code" ] || fail "still running 30 s after $signal"
pid=
[ "$code" -eq 0 ] || fail "exit code $code after $signal"
grep -q "$signal received: stopping" "$log" || fail "no log line for $signal"
# Reverse start order: web (which needs accounts), then accounts (which needs ledger).
stopped=$(grep -o "group [a-z]* stopped" "$log" | tr '\n' ' ')
[ "$stopped" = "group web stopped group accounts stopped group ledger stopped " ] || fail "stop order: $stopped"
grep -q "system bank stopped$" "$log" || fail "no final line"
echo "ok: started, stopped on $signal in reverse order, exit 0"
