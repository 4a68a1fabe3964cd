#!/usr/bin/env bash
# Cron across kill -9, with real processes (jobs_program.cpp's test.jobs module runs the jobs and
# records each attempt): a schedule `* * * * *` with missed = "catch_up".
# 1. Started, then killed with SIGKILL before its first tick.
# 2. Started again after a minute boundary passed while it was down: the missed tick is enqueued
#    once at start; killed with SIGKILL as soon as the tick's job runs.
# 3. Started again within the same minute: nothing is enqueued again (the store's cron_ticks row
#    says the tick was), and the tick's one job completes, its attempts 1, 2, ... with no gap.
# The store's file is read with Python's sqlite3 module. Every process started here is killed by
# pid on the way out, whatever happens.
# Usage: cron_kill.sh <program>
set -euo pipefail
bin=$1
system= # run_common.sh's start_bank is not used here: this script writes its own file
source "$(dirname "$0")/run_common.sh"
export MICROLITH_TEST_ATTEMPTS="$dir/attempts"

cat >"$dir/cron.toml" <<'TOML'
[system]
name = "cron-kill"
threads = 2

[jobs]
database = "jobs.sqlite"
poll_interval = "100ms"

[jobs.cron.minutely]
schedule = "* * * * *"
queue = "ticks"
message = '{"text":"tick"}'
missed = "catch_up"
max_catch_up = 5

[groups.work]
module = "test.jobs"

[groups.work.jobs.ticks]
method = "worker.Ping"
concurrency = 1
backoff_base = "0ms"
backoff_unit = "10ms"
TOML

# One value from the store's file.
query() {
  python3 -c 'import sqlite3, sys
c = sqlite3.connect(sys.argv[1], timeout=10)
print(c.execute(sys.argv[2]).fetchone()[0])' "$dir/jobs.sqlite" "$1"
}

runs=0
# Starts the program and waits (30 s at most) until its ticker has settled the schedule's missed
# ticks and logged its next tick.
start() {
  "$bin" run "$dir/cron.toml" >>"$dir/out" 2>>"$log" &
  pid=$!
  runs=$((runs + 1))
  for _ in $(seq 1 300); do
    [ "$(grep -c 'cron minutely: running, next tick at' "$log" || true)" -ge "$runs" ] && return 0
    kill -0 "$pid" 2>/dev/null || fail "run $runs exited before its ticker ran"
    sleep 0.1
  done
  fail "run $runs: the ticker did not start"
}

kill9() {
  kill -KILL "$pid"
  wait "$pid" 2>/dev/null || true
  pid=
}

minute() { echo $(($(date +%s) / 60)); }

# Start early in a minute, so that steps 1 and 3 each end before the next boundary.
for _ in $(seq 1 300); do
  [ "$((10#$(date +%S)))" -lt 40 ] && break
  sleep 0.1
done

# 1. The schedule is recorded (missed ticks count from now); no tick is due yet.
first_minute=$(minute)
start
[ "$(minute)" -eq "$first_minute" ] || fail "a minute boundary passed during the first start"
[ "$(query "SELECT count(*) FROM jobs")" -eq 0 ] || fail "a job was enqueued before any tick"
kill9

# Down while the next minute begins (65 s at most).
for _ in $(seq 1 650); do
  [ "$(minute)" -gt "$first_minute" ] && break
  sleep 0.1
done
[ "$(minute)" -gt "$first_minute" ] || fail "the clock did not reach the next minute"
tick_ms=$(((first_minute + 1) * 60000))

# 2. The missed tick is enqueued at start, once; killed as soon as its job runs.
start
grep -q "cron minutely: 1 missed tick(s) enqueued" "$log" \
  || fail "the restart did not enqueue the missed tick"
for _ in $(seq 1 300); do
  [ -s "$dir/attempts" ] && break
  kill -0 "$pid" 2>/dev/null || fail "run 2 exited"
  sleep 0.05
done
[ -s "$dir/attempts" ] || fail "the missed tick's job did not run"
kill9
second_minute=$(minute)

# 3. Started again: the tick is not enqueued a second time.
start
[ "$(grep -c "missed tick(s) enqueued" "$log" || true)" -eq 1 ] \
  || fail "a start after the tick's job ran enqueued missed ticks again"
jobs=$(query "SELECT count(*) FROM jobs")
ticks=$(query "SELECT count(*) FROM cron_ticks WHERE schedule = 'minutely'")
recorded=$(query "SELECT max(tick_at) FROM cron_ticks WHERE schedule = 'minutely'")
if [ "$(minute)" -eq "$second_minute" ]; then
  [ "$jobs" -eq 1 ] || fail "$jobs jobs for one tick"
  [ "$ticks" -eq 1 ] || fail "$ticks cron_ticks rows for one tick"
  [ "$recorded" -eq "$tick_ms" ] || fail "the tick recorded is $recorded, expected $tick_ms"
fi
id=$(query "SELECT job_id FROM cron_ticks WHERE schedule = 'minutely' AND tick_at = $tick_ms")
[ "$(query "SELECT count(*) FROM jobs WHERE id = $id")" -eq 1 ] || fail "the tick's job $id is missing"

# The tick's job completes (at once, or again after the kill with attempt + 1).
state=
for _ in $(seq 1 300); do
  state=$(query "SELECT state FROM jobs WHERE id = $id")
  [ "$state" = completed ] && break
  sleep 0.1
done
[ "$state" = completed ] || fail "the tick's job $id is $state, not completed"
attempts=$(awk -v id="$id" '$1 == id { print $2 }' "$dir/attempts" | tr '\n' ' ')
expected=$(seq 1 "$(echo "$attempts" | wc -w)" | tr '\n' ' ')
[ "$attempts" = "$expected" ] || fail "job $id attempts: $attempts (expected $expected)"
awk -v id="$id" '$1 != id' "$dir/attempts" | grep . >/dev/null && fail "another job ran: $(cat "$dir/attempts")"

stop_bank TERM
[ "$code" = 0 ] || fail "run exit code ${code:-none} after SIGTERM"
echo "ok: the tick missed while down enqueued once as job $id across two kill -9s (attempts: $attempts)"
