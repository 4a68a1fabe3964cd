#!/usr/bin/env bash
# `microlith run` serves the bank over HTTP, and SIGHUP or `microlith routes reload URL` (the
# gateway's admin endpoint) reloads the system file's routes while it runs: a route added to the
# file is served after the reload, and a file whose routes do not validate is refused with the
# reason while the running table keeps serving. The admin endpoint takes the admin token, here
# from MICROLITH_ADMIN_TOKEN (the variable outside scripts set): `routes reload` without it, or
# with another token, is refused with the server's message and what to do, and exits 1. Every
# process started here is killed by pid on the way out, whatever happens.
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

token=run-reloads-routes-0123456789
# The bank runs with the token in its environment; `routes reload` gets it per command.
export MICROLITH_ADMIN_TOKEN=$token
start_bank -e 's/^listen = "127.0.0.1:0"/&\nadmin = true/'
unset MICROLITH_ADMIN_TOKEN
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
# Without the variable: 401, the server's message and what to do, exit 1, nothing reloaded.
set +e
out=$(env -u MICROLITH_ADMIN_TOKEN "$bin" routes reload "http://127.0.0.1:${port}" 2>"$dir/err"); code=$?
set -e
[ "$code" -eq 1 ] || fail "routes reload without a token exited $code: $out"
echo "$out" | grep '"error":"unauthenticated"' >/dev/null || fail "without a token the answer was: $out"
grep -q 'refused the request (401): admin requests must bear the admin token' "$dir/err" \
  || fail "without a token it said: $(cat "$dir/err")"
grep -q 'set MICROLITH_ADMIN_TOKEN' "$dir/err" || fail "no advice without a token: $(cat "$dir/err")"
# Another token: 403.
set +e
out=$(MICROLITH_ADMIN_TOKEN=not-the-admin-token-at-all "$bin" routes reload "http://127.0.0.1:${port}" 2>"$dir/err"); code=$?
set -e
[ "$code" -eq 1 ] || fail "routes reload with another token exited $code: $out"
echo "$out" | grep '"error":"permission_denied"' >/dev/null || fail "with another token the answer was: $out"
grep -q 'refused the request (403).*set MICROLITH_ADMIN_TOKEN' "$dir/err" \
  || fail "with another token it said: $(cat "$dir/err")"
grep -q 'admin request from 127.0.0.1 refused: 403 permission_denied' "$log" \
  || fail "the refusal is not logged with the client's address"
if grep -q "$token" "$log"; then fail "the log shows the admin token"; fi
[ "$(status GET /v3/accounts/ada)" = 404 ] || fail "/v3 served before an accepted reload"
# The token: reloaded.
out=$(MICROLITH_ADMIN_TOKEN=$token "$bin" routes reload "http://127.0.0.1:${port}") || fail "routes reload failed: $out"
echo "$out" | grep '"reloaded":true' >/dev/null || fail "routes reload said: $out"
[ "$(status GET /v3/accounts/ada)" = 200 ] || fail "/v3 not served after routes reload"

# A route to a service nobody serves: refused with the reason, the running table stays.
sed -i 's|^"POST /transfers" = "accounts.Transfer"|&\n"GET /nowhere" = "nobody.Ping"|' "$dir/bank.toml"
if out=$(MICROLITH_ADMIN_TOKEN=$token "$bin" routes reload "http://127.0.0.1:${port}"); then fail "a bad reload succeeded: $out"; fi
echo "$out" | grep 'no service named \\"nobody\\" is known' >/dev/null || fail "the refusal says: $out"
kill -HUP "$pid"
wait_for_log "reload of .* refused"
grep -q 'no service named "nobody" is known' "$log" || fail "the log does not name the unknown service"
[ "$(status GET /v2/accounts/ada)" = 200 ] || fail "/v2 lost after a refused reload"
[ "$(status GET /nowhere)" = 404 ] || fail "a refused route is served"

stop_bank TERM
[ "$code" -eq 0 ] || fail "exit code $code"
echo "ok: served, reloaded new routes (SIGHUP, routes reload with the admin token; refused without it or with another), refused a bad one, kept serving"
