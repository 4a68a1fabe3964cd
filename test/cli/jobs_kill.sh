#!/usr/bin/env bash
# Jobs across kill -9, end to end, with a program whose module runs them and records every
# attempt (jobs_program.cpp): 20 slow jobs enqueued over HTTP (POST /_microlith/jobs/enqueue,
# each answered with its id once committed); the process killed with SIGKILL while workers hold
# jobs; started again on the same files: every acknowledged job completes (`jobs list` and
# `jobs stats`), none is lost, and each job's attempts are 1, 2, ... with no gap (the jobs in
# flight at the kill run again with attempt + 1). Then `jobs retry`, `jobs cancel` and their
# refusals (exit codes 1 and 2). The process started here is killed by pid on the way out,
# whatever happens.
# Usage: jobs_kill.sh <program>
set -euo pipefail
bin=$1
system= # run_common.sh's start_bank is not used here: this script writes its own files
source "$(dirname "$0")/run_common.sh"
token=jobs-kill-admin-token-0123456789
export MICROLITH_TEST_ATTEMPTS="$dir/attempts"

cat >"$dir/jobs.toml" <<TOML
[system]
name = "jobs-kill"
threads = 2

[admin]
token = "$token"

[jobs]
database = "jobs.sqlite"
poll_interval = "100ms"

[groups.work]
module = "test.jobs"

[groups.work.jobs.slow]
method = "worker.Ping"
concurrency = 4
backoff_base = "0ms"
backoff_unit = "10ms"

[groups.web]
module = "microlith.gateway"
needs = ["work"]

[groups.web.http]
listen = "127.0.0.1:0"
admin = true
TOML

# Starts the program on jobs.toml and sets `port` once the gateway listens.
start() {
  "$bin" run "$dir/jobs.toml" >"$dir/out" 2>>"$log" &
  pid=$!
  port=
  for _ in $(seq 1 300); do
    port=$(sed -n 's|^gateway web: http://127.0.0.1:\([0-9]*\)/.*|\1|p' "$dir/out")
    [ -n "$port" ] && return 0
    kill -0 "$pid" 2>/dev/null || fail "run exited before serving: $(cat "$dir/out")"
    sleep 0.1
  done
  fail "run did not print the gateway's URL: $(cat "$dir/out")"
}

start
ids=()
for i in $(seq 1 20); do
  answer=$(curl -s --max-time 10 -X POST -H "Authorization: Bearer $token" \
    -H "Content-Type: application/json" -d "{\"text\":\"job $i\",\"delay_ms\":1000}" \
    "http://127.0.0.1:$port/_microlith/jobs/enqueue?queue=slow&type=microlith.test.PingRequest") \
    || fail "enqueue $i: curl failed"
  id=$(echo "$answer" | sed -n 's/.*"id":"\([0-9]*\)".*/\1/p')
  [ -n "$id" ] || fail "enqueue $i answered: $answer"
  ids+=("$id")
done

# Workers hold jobs (4 attempts started, none answered yet: each takes 1 s): kill -9.
for _ in $(seq 1 300); do
  [ -f "$dir/attempts" ] && [ "$(wc -l <"$dir/attempts")" -ge 4 ] && break
  sleep 0.05
done
[ "$(wc -l <"$dir/attempts")" -ge 4 ] || fail "no attempts started"
kill -KILL "$pid"
wait "$pid" 2>/dev/null || true
pid=
before=$(wc -l <"$dir/attempts")

start
grep -q "left executing by the last run are due again" "$log" \
  || fail "the restart did not rescue the jobs in flight"
export MICROLITH_ADMIN_TOKEN=$token
url="http://127.0.0.1:$port"
for _ in $(seq 1 600); do
  done_count=$("$bin" jobs list "$url" --state completed --limit 1000 | grep -c '^job ' || true)
  [ "$done_count" -eq 20 ] && break
  sleep 0.1
done
[ "$done_count" -eq 20 ] || fail "$done_count of 20 acknowledged jobs completed after the restart"
out=$("$bin" jobs stats "$url") || fail "jobs stats failed: $out"
echo "$out" | grep -Eq '^slow +0 +0 +0 +0 +20 +0 +0$' || fail "jobs stats said: $out"

# Every acknowledged job ran; each one's attempts are 1..k; the ones in flight ran again.
for id in "${ids[@]}"; do
  attempts=$(awk -v id="$id" '$1 == id { print $2 }' "$dir/attempts" | tr '\n' ' ')
  [ -n "$attempts" ] || fail "job $id never ran"
  expected=$(seq 1 "$(echo "$attempts" | wc -w)" | tr '\n' ' ')
  [ "$attempts" = "$expected" ] || fail "job $id attempts: $attempts (expected $expected)"
done
again=$(awk '$2 >= 2' "$dir/attempts" | wc -l)
[ "$again" -ge 1 ] || fail "no job ran a second attempt after the kill ($before attempts before)"

# Retry and cancel by hand, and their refusals.
first=${ids[0]}
out=$("$bin" jobs retry "$url" "$first") || fail "jobs retry failed: $out"
echo "$out" | grep -Eq "^job $first \(slow\): (available|executing|completed)" || fail "jobs retry said: $out"
set +e
out=$("$bin" jobs cancel "$url" 999999 2>&1); code=$?
set -e
[ "$code" -eq 1 ] || fail "jobs cancel of no job: exit code $code: $out"
echo "$out" | grep "no job 999999\|999999" >/dev/null || fail "jobs cancel of no job said: $out"
set +e
out=$("$bin" jobs list "$url" --state sleeping 2>&1); code=$?
set -e
[ "$code" -eq 2 ] || fail "jobs list --state sleeping: exit code $code: $out"
set +e
out=$(MICROLITH_ADMIN_TOKEN=wrong-token-0123456789 "$bin" jobs stats "$url" 2>&1); code=$?
set -e
[ "$code" -eq 1 ] || fail "jobs stats with a wrong token: exit code $code: $out"

stop_bank TERM
[ "$code" = 0 ] || fail "run exit code ${code:-none} after SIGTERM"
echo "ok: 20 jobs acknowledged, killed with $before attempts started, all completed after the restart ($again attempts after the first)"
