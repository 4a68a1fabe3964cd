#!/usr/bin/env bash
# `microlith observe URL` against the bank run with its admin paths on: the table of nodes, the
# tree with the bank's groups, the services' table after a deposit; `--json` prints one JSON
# document with the same view; without the token it exits 1 and says to set
# MICROLITH_ADMIN_TOKEN; a malformed URL exits 2.
set -euo pipefail
bin=$1
system=$2
source "$(dirname "$0")/run_common.sh"

export MICROLITH_ADMIN_TOKEN=observe-command-admin-token
start_bank -e 's/^listen = "127.0.0.1:0"/&\nadmin = true/'
wait_for_log "running in one process"
port=$(grep -o 'listening on http://127.0.0.1:[0-9]*' "$log" | head -1 | sed 's/.*://')
[ -n "$port" ] || fail "no port in the log"
url=http://127.0.0.1:$port

curl -s -f -X POST -H 'Content-Type: application/json' -d '{"id":"obs","initial_balance":1}' \
  "$url/accounts" >/dev/null || fail "opening an account failed"
curl -s -f -X POST -H 'Content-Type: application/json' -d '{"amount":2}' \
  "$url/accounts/obs/deposit" >/dev/null || fail "a deposit failed"

out=$("$bin" observe "$url") || fail "observe exited $?: $out"
grep -E '^NODE +STATE' <<<"$out" >/dev/null || fail "no table of nodes in: $out"
grep -E '^\(this process\) +up' <<<"$out" >/dev/null || fail "the node is not up in: $out"
# bank.toml's [system] threads = 2: the scheduler's threads, not a thread some part of the system
# started from one of them (which would inherit the workers' name).
grep -E '^\(this process\) +up +[^ ]+ +[^ ]+ +2 ' <<<"$out" >/dev/null \
  || fail "not 2 scheduler threads in: $out"
for group in ledger accounts payments web; do
  grep -E "^  $group supervisor running" <<<"$out" >/dev/null || fail "no group $group in: $out"
done
grep -E '^accounts\.Deposit +\(this process\) +1 ' <<<"$out" >/dev/null \
  || fail "no accounts.Deposit row with 1 call in: $out"

json=$("$bin" observe "$url" --json) || fail "observe --json exited $?"
python3 - "$json" <<'PY' || fail "the JSON view is not what was expected: $json"
import json, sys
view = json.loads(sys.argv[1])
assert view["system"] == "bank", view["system"]
node = view["nodes"][0]
assert node["up"] is True
groups = [c["id"] for c in node["report"]["tree"]["children"]]
assert {"ledger", "accounts", "payments", "web"} <= set(groups), groups
methods = {(m["service"], m["method"]): m for m in node["report"]["methods"]}
assert int(methods[("accounts", "Deposit")]["calls"]) >= 1
PY

set +e
refused=$(MICROLITH_ADMIN_TOKEN= "$bin" observe "$url" 2>&1)
code=$?
set -e
[ "$code" -eq 1 ] || fail "without the token: exit $code, expected 1: $refused"
grep MICROLITH_ADMIN_TOKEN <<<"$refused" >/dev/null || fail "no hint to set the token in: $refused"

set +e
"$bin" observe "not a url" >/dev/null 2>&1
code=$?
set -e
[ "$code" -eq 2 ] || fail "a malformed URL: exit $code, expected 2"

stop_bank SIGTERM
[ "$code" -eq 0 ] || fail "microlith exited $code after SIGTERM"
echo "ok: microlith observe prints the bank, --json its view; refused without the token"
