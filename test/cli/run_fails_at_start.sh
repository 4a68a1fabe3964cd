#!/usr/bin/env bash
# `microlith run` with a group that fails to start: the groups already started are stopped, the
# system does not run, and the exit code is 1. The web group (the gateway, on a port the OS
# chooses) starts first; the ledger group then fails, its database being in a folder that does
# not exist. Every process started here is killed by pid on the way out, whatever happens.
# Usage: run_fails_at_start.sh <microlith binary>
set -euo pipefail
bin=$1
system=/dev/null # run_common.sh's start_bank is not used: the system file is written here
source "$(dirname "$0")/run_common.sh"

cat >"$dir/failing.toml" <<TOML
[system]
name = "failing"

[groups.web]
module = "microlith.gateway"

[groups.web.http]
listen = "127.0.0.1:0"

[groups.ledger]
module = "bank.ledger"

[groups.ledger.config]
database = "$dir/no-such-folder/ledger.db"
TOML

"$bin" check "$dir/failing.toml" >/dev/null 2>"$log" || fail "microlith check refused the file"
"$bin" run "$dir/failing.toml" 2>"$log" &
pid=$!
code=
for _ in $(seq 1 300); do
  if ! kill -0 "$pid" 2>/dev/null; then
    wait "$pid" && code=0 || code=$?
    break
  fi
  sleep 0.1
done
[ -n "$code" ] || fail "still running 30 s after it was started"
pid=
[ "$code" -eq 1 ] || fail "exit code $code, expected 1"
grep -q "group web started" "$log" || fail "the web group did not start first"
grep -q "group ledger failed to start" "$log" || fail "no line for the ledger's failed start"
# The started group is stopped after the failure, and the system says it did not start.
events=$(awk 'match($0, /group [a-z]+ (started|stopped|failed to start)|system failing did not start/) {
  printf "%s;", substr($0, RSTART, RLENGTH) }' "$log")
[ "$events" = "group web started;group ledger failed to start;group web stopped;system failing did not start;" ] ||
  fail "events: $events"
if grep -q "running in one process" "$log"; then fail "it says it runs"; fi
echo "ok: a group that fails at start stops the started ones, exit 1"
