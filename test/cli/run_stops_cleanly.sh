#!/usr/bin/env bash
# `microlith run` starts the bank in one process, and SIGINT / SIGTERM stop it cleanly: groups
# stop in reverse start order and the exit code is 0. Every process started here is killed by
# pid on the way out, whatever happens.
# Usage: run_stops_cleanly.sh <microlith binary> <system file> <SIGINT|SIGTERM>
set -euo pipefail
bin=$1
system=$2
signal=$3
source "$(dirname "$0")/run_common.sh"

start_bank
wait_for_log "running in one process"

stop_bank "$signal"
[ "$code" -eq 0 ] || fail "exit code $code after $signal"
grep -q "$signal received: stopping" "$log" || fail "no log line for $signal"
# Reverse start order: web (which needs payments), then payments (which needs accounts), then
# accounts (which needs ledger).
stopped=$(grep -o "group [a-z]* stopped" "$log" | tr '\n' ' ')
[ "$stopped" = "group web stopped group payments stopped group accounts stopped group ledger stopped " ] \
  || fail "stop order: $stopped"
grep -q "system bank stopped$" "$log" || fail "no final line"
echo "ok: started, stopped on $signal in reverse order, exit 0"
