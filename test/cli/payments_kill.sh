#!/usr/bin/env bash
# The bank.payments example across kill -9 of its `microlith run` process: the bank from
# examples/bank/bank.toml (its gateway on a port the OS chooses, its admin endpoint on, its
# payments queue retrying without backoff, provider_url pointed at payment_provider_stub.py, which
# answers the first confirmation of each payment 503 and holds its answers while a file exists),
# its ledger and jobs in a data folder. Ten payment webhooks are acknowledged (202 with a job id);
# the process is killed with SIGKILL while its workers wait on the provider; started again on the
# same data folder: every acknowledged payment is deposited exactly once (balance, and one ledger
# entry per payment key), confirmed (the provider answered 200), its job completed (`microlith
# jobs list`), and each job's attempts are 1, 2, ... with no gap (the ones in flight at the kill
# run again with attempt + 1). Every process started here is killed by pid on the way out,
# whatever happens.
# Usage: payments_kill.sh <microlith binary> <examples/bank/bank.toml>
set -euo pipefail
bin=$1
system=$2
source "$(dirname "$0")/run_common.sh"
token=payments-kill-admin-token-0123456789
data=$dir/data
record=$dir/provider
slow=$dir/provider-slow

stub=
cleanup_all() {
  if [ -n "$stub" ] && kill -0 "$stub" 2>/dev/null; then
    { kill -KILL "$stub" && wait "$stub"; } 2>/dev/null || true
  fi
  cleanup
}
trap cleanup_all EXIT

# The provider stand-in: the first confirmation of each payment is 503; answers held while
# $slow exists.
touch "$slow"
python3 "$(dirname "$0")/payment_provider_stub.py" "$record" 1 "$slow" >"$dir/provider-port" 2>>"$log" &
stub=$!
for _ in $(seq 1 100); do
  [ -s "$dir/provider-port" ] && break
  kill -0 "$stub" 2>/dev/null || fail "the provider stand-in exited"
  sleep 0.1
done
provider_port=$(cat "$dir/provider-port")
[ -n "$provider_port" ] || fail "the provider stand-in printed no port"

sed -e 's/^listen = "127.0.0.1:8080"/listen = "127.0.0.1:0"\nadmin = true/' \
    -e "s|^provider_url = .*|provider_url = \"http://127.0.0.1:$provider_port/v1\"|" \
    -e 's/^database = "jobs.sqlite"/&\npoll_interval = "100ms"/' \
    -e 's/^backoff_base = .*/backoff_base = "0ms"/' \
    -e 's/^backoff_unit = .*/backoff_unit = "10ms"/' \
    -e 's/^backoff_max = .*/backoff_max = "100ms"/' \
    "$system" >"$dir/bank.toml"
grep -q "provider_url = \"http://127.0.0.1:$provider_port/v1\"" "$dir/bank.toml" \
  || fail "bank.toml has no provider_url to point at the stand-in"

# Starts the bank on the data folder (its log appended to $log) and sets `url`.
start() {
  local from
  from=$(wc -l <"$log")
  MICROLITH_ADMIN_TOKEN=$token "$bin" run "$dir/bank.toml" --data "$data" >>"$dir/out" 2>>"$log" &
  pid=$!
  for _ in $(seq 1 300); do
    tail -n +"$((from + 1))" "$log" | grep "running in one process" >/dev/null && break
    kill -0 "$pid" 2>/dev/null || fail "microlith exited before running"
    sleep 0.1
  done
  port=$(tail -n +"$((from + 1))" "$log" | grep -o 'listening on http://127.0.0.1:[0-9]*' | head -1 | sed 's/.*://')
  [ -n "$port" ] || fail "no port in the log"
  url=http://127.0.0.1:$port
}

start
grep -q "system bank: data folder $data\$" "$log" || fail "the log does not name the data folder"
[ -f "$data/jobs.sqlite" ] || fail "no jobs.sqlite in the data folder $data"
[ -f "$data/ledger.db" ] || fail "no ledger.db in the data folder $data"
out=$(curl -sS --max-time 10 -X POST "$url/accounts" -H 'content-type: application/json' \
  -d '{"id":"ada","initial_balance":100}')
[ "$out" = '{"id":"ada","balance":"100"}' ] || fail "open: $out"

# Ten payments, each acknowledged with its job's id; a repeated delivery answers the same id.
ids=()
total=100
for i in $(seq 1 10); do
  body="{\"payment_id\":\"pay-$i\",\"account_id\":\"ada\",\"amount\":$((i * 100))}"
  answer=$(curl -sS --max-time 10 -w ' %{http_code}' -X POST "$url/webhooks/payments" \
    -H 'content-type: application/json' -d "$body") || fail "webhook $i: curl failed"
  [ "${answer##* }" = 202 ] || fail "webhook $i answered: $answer"
  id=$(sed -n 's/.*"job_id":"\([0-9]*\)".*/\1/p' <<<"$answer")
  [ -n "$id" ] || fail "webhook $i answered no job id: $answer"
  ids+=("$id")
  total=$((total + i * 100))
done
answer=$(curl -sS --max-time 10 -w ' %{http_code}' -X POST "$url/webhooks/payments" \
  -H 'content-type: application/json' -d '{"payment_id":"pay-1","account_id":"ada","amount":100}')
[ "$answer" = "{\"job_id\":\"${ids[0]}\",\"duplicate\":true} 202" ] || fail "a repeated webhook answered: $answer"

# Four workers (the queue's concurrency) wait on the provider, which holds its answers: kill -9.
for _ in $(seq 1 300); do
  [ -f "$record" ] && [ "$(grep -c '^received' "$record")" -ge 4 ] && break
  sleep 0.05
done
[ -f "$record" ] && [ "$(grep -c '^received' "$record")" -ge 4 ] || fail "no confirmations in flight"
kill -KILL "$pid"
wait "$pid" 2>/dev/null || true
pid=
in_flight=$(grep -c 'attempt [0-9]*: deposit of' "$log" || true)
rm -f "$slow" # the provider answers again

start
grep -q "left executing by the last run are due again" "$log" \
  || fail "the restart did not rescue the jobs in flight"
export MICROLITH_ADMIN_TOKEN=$token
done_count=0
for _ in $(seq 1 600); do
  done_count=$("$bin" jobs list "$url" --queue payments --state completed --limit 1000 | grep -c '^job ' || true)
  [ "$done_count" -eq 10 ] && break
  sleep 0.1
done
[ "$done_count" -eq 10 ] || fail "$done_count of 10 acknowledged payments completed after the restart: $("$bin" jobs list "$url" --queue payments --limit 1000)"
listed=$("$bin" jobs list "$url" --queue payments --limit 1000)
unset MICROLITH_ADMIN_TOKEN

# Deposited exactly once each: the balance, and one ledger entry per payment's key.
out=$(curl -sS --max-time 10 "$url/accounts/ada")
[ "$out" = "{\"id\":\"ada\",\"balance\":\"$total\"}" ] || fail "balance after the restart: $out (expected $total)"
history=$(curl -sS --max-time 10 "$url/accounts/ada/history")
for i in $(seq 1 10); do
  n=$(grep -o "\"idempotency_key\":\"payment:pay-$i\"" <<<"$history" | wc -l)
  [ "$n" -eq 1 ] || fail "payment pay-$i has $n ledger entries: $history"
  grep -q "^answered pay-$i 200\$" "$record" || fail "payment pay-$i was never confirmed: $(cat "$record")"
done
[ "$(grep -o '"kind":"deposit"' <<<"$history" | wc -l)" -eq 10 ] || fail "not 10 deposits: $history"

# Each job's attempts, from the service's log lines of both runs: 1, 2, ... with no gap; every
# job completed at its last one, and the ones in flight at the kill ran again.
for id in "${ids[@]}"; do
  attempts=$(sed -n "s/.*: job $id attempt \([0-9]*\): deposit of.*/\1/p" "$log" | tr '\n' ' ')
  [ -n "$attempts" ] || fail "job $id never ran"
  expected=$(seq 1 "$(echo "$attempts" | wc -w)" | tr '\n' ' ')
  [ "$attempts" = "$expected" ] || fail "job $id attempts: $attempts (expected $expected)"
  last=$(echo "$attempts" | wc -w)
  grep -q "^job $id (payments): completed, attempt $last of" <<<"$listed" \
    || fail "job $id did not complete at attempt $last: $listed"
done
[ "$in_flight" -ge 4 ] || fail "only $in_flight attempts had started before the kill"

stop_bank TERM
[ "$code" = 0 ] || fail "run exit code ${code:-none} after SIGTERM"
echo "ok: 10 payments acknowledged, killed with $in_flight attempts started, all deposited once and confirmed after the restart"
