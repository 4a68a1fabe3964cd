#!/usr/bin/env bash
# `microlith run` serves the bank over HTTP, and SIGHUP or `microlith routes reload URL` (the
# gateway's admin endpoint) reloads the system file's routes while it runs: a route added to the
# file is served after the reload, and a file whose routes do not validate is refused with the
# reason while the running table keeps serving. Every process started here is killed by pid on
# the way out, whatever happens.
# Usage: run_reloads_routes.sh <microlith binary> <system file>
set -euo pipefail
bin=$1
system=$2
source "$(dirname "$0")/run_common.sh"

# status <verb> <path> [json body]: prints the HTTP status of one request.
status() {
  if [ $# -ge 3 ]; then
    curl -s -o /dev/null -w '%{http_code}' --max-time 10 -X "$1" -H 'content-type: application/json' \
      -d "$3" "http://127.0.0.1:${port}$2"
  else
    curl -s -o /dev/null -w '%{http_code}' --max-time 10 -X "$1" "http://127.0.0.1:${port}$2"
  fi
}

start_bank -e 's/^listen = "127.0.0.1:0"/&\nadmin = true/'
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

stop_bank TERM
[ "$code" -eq 0 ] || fail "exit code $code"
echo "ok: served, reloaded new routes (SIGHUP, routes reload), refused a bad one, kept serving"
