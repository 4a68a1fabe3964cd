#!/usr/bin/env bash
# `microlith run --data DIR`: the data folder is made when missing and named in the first log
# line, the bank's ledger and job store ("ledger.db" and "jobs.sqlite" in examples/bank/bank.toml)
# are kept there, and a bank killed with SIGKILL and started again on the same folder still has
# its accounts and their movements. A data folder that cannot be made stops the start with exit
# code 1 naming it.
# Every process started here is killed by pid on the way out, whatever happens.
# Usage: run_data_folder.sh <microlith binary> <examples/bank/bank.toml>
set -euo pipefail
bin=$1
system=$2
source "$(dirname "$0")/run_common.sh"

data=$dir/state/bank # two levels that do not exist yet
sed -e 's/^listen = "127.0.0.1:8080"/listen = "127.0.0.1:0"/' "$system" >"$dir/bank.toml"

start() {
  : >"$log"
  "$bin" run "$dir/bank.toml" --data "$data" 2>"$log" &
  pid=$!
  wait_for_log "running in one process"
  port=$(grep -o 'listening on http://127.0.0.1:[0-9]*' "$log" | head -1 | sed 's/.*://')
  [ -n "$port" ] || fail "no port in the log"
  url=http://127.0.0.1:$port
}

start
first=$(grep -m1 . "$log")
grep -q "system bank: data folder $data\$" <<<"$first" || fail "the first log line does not name the data folder: $first"
[ -f "$data/ledger.db" ] || fail "no ledger.db in the data folder $data"
[ -f "$data/jobs.sqlite" ] || fail "no jobs.sqlite (the payments' jobs) in the data folder $data"
[ ! -e "$dir/ledger.db" ] || fail "the ledger was kept next to the system file, not in the data folder"

out=$(curl -sS -X POST "$url/accounts" -H 'content-type: application/json' -d '{"id":"ada","initial_balance":100}')
[ "$out" = '{"id":"ada","balance":"100"}' ] || fail "open: $out"
out=$(curl -sS -X POST "$url/accounts/ada/deposit" -H 'content-type: application/json' -d '{"amount":50}')
grep -q '"balance":"150"' <<<"$out" || fail "deposit: $out"

kill -KILL "$pid"
wait "$pid" 2>/dev/null || true
pid=

start
out=$(curl -sS "$url/accounts/ada")
[ "$out" = '{"id":"ada","balance":"150"}' ] || fail "after kill -9 and a restart: $out"
out=$(curl -sS "$url/accounts/ada/history")
[ "$(grep -o '"kind":"[a-z_]*"' <<<"$out" | tr '\n' ' ')" = '"kind":"open" "kind":"deposit" ' ] \
  || fail "history after the restart: $out"
stop_bank SIGTERM
[ "$code" = 0 ] || fail "exit code $code after SIGTERM"

# A data folder that cannot be made: a file is in the way.
: >"$dir/not-a-folder"
set +e
"$bin" run "$dir/bank.toml" --data "$dir/not-a-folder/bank" 2>"$log"
code=$?
set -e
[ "$code" = 1 ] || fail "exit code $code with an unusable data folder, expected 1"
grep -q "system bank did not start: data folder $dir/not-a-folder/bank: " "$log" \
  || fail "the refusal does not name the data folder"
echo "ok"
