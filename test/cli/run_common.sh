# Shared by the scripts that start `microlith run` on the bank: a scratch folder and log, the
# cleanup that kills the process by pid whatever happens, and bounded waits. Source it after
# setting `bin` and `system`; it starts nothing by itself.
# shellcheck shell=bash
log=$(mktemp)
dir=$(mktemp -d)
pid=
cleanup() {
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid" 2>/dev/null || true; fi
  rm -rf "$log" "$dir"
}
trap cleanup EXIT

fail() { echo "FAIL: $*"; echo "--- log:"; cat "$log"; exit 1; }

# Starts the bank with its gateway on a port the OS chooses (tests run in parallel); extra sed
# expressions edit the copy of the system file ($dir/bank.toml) first.
start_bank() {
  sed -e 's/^listen = "127.0.0.1:8080"/listen = "127.0.0.1:0"/' "$@" "$system" >"$dir/bank.toml"
  "$bin" run "$dir/bank.toml" 2>"$log" &
  pid=$!
}

# Waits up to 30 s for a line matching $1 in the log.
wait_for_log() {
  for _ in $(seq 1 300); do
    grep -q "$1" "$log" && return 0
    kill -0 "$pid" 2>/dev/null || fail "microlith exited while waiting for: $1"
    sleep 0.1
  done
  fail "no log line matching: $1"
}

# Sends signal $1 and waits up to 30 s for the exit; sets `code` to the exit code.
stop_bank() {
  kill -s "$1" "$pid"
  code=
  for _ in $(seq 1 300); do
    if ! kill -0 "$pid" 2>/dev/null; then
      wait "$pid" && code=0 || code=$?
      break
    fi
    sleep 0.1
  done
  [ -n "$code" ] || fail "still running 30 s after $1"
  pid=
}
