#!/usr/bin/env bash
# `microlith observe URL` against the bank run with its admin paths on: the table of nodes, the
# tree with the bank's groups, the services' table after a deposit; `--json` prints one JSON
# document with the same view; without the token it exits 1 and says to set
# MICROLITH_ADMIN_TOKEN; a malformed URL exits 2; a gateway that never answers is given up on after
# the command's limit (10 s), exit 1.
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

# A gateway that accepts the connection and never answers: observe gives up after its 10 s limit
# (exit 1, saying so) instead of waiting forever. The silent server is killed by pid on the way out.
python3 -c 'import socket, sys, time
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(4)
print(s.getsockname()[1], flush=True)
conns = [s.accept() for _ in range(4)]
time.sleep(120)' >"$dir/silent_port" &
silent_pid=$!
trap 'kill -KILL "$silent_pid" 2>/dev/null || true; cleanup' EXIT
for _ in $(seq 1 100); do [ -s "$dir/silent_port" ] && break; sleep 0.1; done
silent_port=$(cat "$dir/silent_port")
[ -n "$silent_port" ] || fail "the silent server did not start"
set +e
silent=$(timeout 60 "$bin" observe "http://127.0.0.1:$silent_port" 2>&1)
code=$?
set -e
[ "$code" -eq 1 ] || fail "against a silent gateway: exit $code, expected 1: $silent"
grep "no answer within 10 s" <<<"$silent" >/dev/null || fail "against a silent gateway: $silent"
echo "ok: microlith observe prints the bank, --json its view; refused without the token; gives up on a silent gateway"
