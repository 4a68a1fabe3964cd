#!/usr/bin/env bash
# `microlith run` serves the bank over HTTP, and SIGHUP or `microlith routes reload URL` (the
# gateway's admin endpoint) reloads the system file's routes while it runs: a route added to the
# file is served after the reload, and a file whose routes do not validate is refused with the
# reason while the running table keeps serving. Every process
# started here is killed by pid on the way out, whatever happens.
# Usage: run_reloads_routes.sh <microlith binary> <system file>
set -euo pipefail
bin=$1
system=$2
log=$(mktemp)
dir=$(mktemp -d)
pid=
cleanup() {
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid" 2>/dev/null || true; fi
  rm -rf "$log" "$dir"
}
trap cleanup EXIT

fail() { echo "FAIL: $*"; echo "--- log:"; cat "$log"; exit 1; }

# Waits up to 30 s for a line matching $1 in the log.
wait_for_log() {
  for _ in $(seq 1 300); do
    grep -q "$1" "$log" && return 0
    kill -0 "$pid" 2>/dev/null || fail "microlith exited while waiting for: $1"
    sleep 0.1
  done
  fail "no log line matching: $1"
}

# status <verb> <path> [json body]: prints the HTTP status of one request.
status() {
  if [ $# -ge 3 ]; then
    curl -s -o /dev/null -w '%{http_code}' --max-time 10 -X "$1" -H 'content-type: application/json' \
      -d "$3" "http://127.0.0.1:${port}$2"
  else
    curl -s -o /dev/null -w '%{http_code}' --max-time 10 -X "$1" "http://127.0.0.1:${port}$2"
  fi
}

sed -e 's/^listen = "127.0.0.1:8080"/listen = "127.0.0.1:0"\nadmin = true/' "$system" >"$dir/bank.toml"
"$bin" run "$dir/bank.toml" 2>"$log" &
pid=$!
wait_for_log "running in one process"
port=$(grep -o 'listening on http://127.0.0.1:[0-9]*' "$log" | head -1 | sed 's/.*://')
[ -n "$port" ] || fail "no port in the log"

[ "$(status POST /accounts '{"id":"ada","initial_balance":100}')" = 200 ] || fail "open"
[ "$(status GET /accounts/ada)" = 200 ] || fail "balance"
[ "$(status GET /v2/accounts/ada)" = 404 ] || fail "/v2 served before it was added"

# Add a route and reload.
sed -i 's|^"GET /accounts/{account_id}" = "accounts.Balance"|&\n"GET /v2/accounts/{account_id}" = "accounts.Balance"|' \
  "$dir/bank.toml"
grep -q '/v2/accounts' "$dir/bank.toml" || fail "the test did not edit the file"
kill -HUP "$pid"
wait_for_log "route table 2 installed"
[ "$(status GET /v2/accounts/ada)" = 200 ] || fail "/v2 not served after the reload"

# The admin command: another route, reloaded with the outcome reported to the caller.
sed -i 's|^"GET /accounts/{account_id}" = "accounts.Balance"|&\n"GET /v3/accounts/{account_id}" = "accounts.Balance"|' \
  "$dir/bank.toml"
out=$("$bin" routes reload "http://127.0.0.1:${port}") || fail "routes reload failed: $out"
echo "$out" | grep -q '"reloaded":true' || fail "routes reload said: $out"
[ "$(status GET /v3/accounts/ada)" = 200 ] || fail "/v3 not served after routes reload"

# A route to a service nobody serves: refused with the reason, the running table stays.
sed -i 's|^"POST /transfers" = "accounts.Transfer"|&\n"GET /nowhere" = "nobody.Ping"|' "$dir/bank.toml"
if out=$("$bin" routes reload "http://127.0.0.1:${port}"); then fail "a bad reload succeeded: $out"; fi
echo "$out" | grep -q 'no service named \\"nobody\\" is known' || fail "the refusal says: $out"
kill -HUP "$pid"
wait_for_log "reload of .* refused"
grep -q 'no service named "nobody" is known' "$log" || fail "the log does not name the unknown service"
[ "$(status GET /v2/accounts/ada)" = 200 ] || fail "/v2 lost after a refused reload"
[ "$(status GET /nowhere)" = 404 ] || fail "a refused route is served"

kill -TERM "$pid"
code=
for _ in $(seq 1 300); do
  if ! kill -0 "$pid" 2>/dev/null; then
    wait "$pid" && code=0 || code=$?
    break
  fi
  sleep 0.1
done
[ -n "$code" ] || fail "still running 30 s after SIGTERM"
pid=
[ "$code" -eq 0 ] || fail "exit code $code"
echo "ok: served, reloaded new routes (SIGHUP, routes reload), refused a bad one, kept serving"
