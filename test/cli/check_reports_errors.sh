#!/usr/bin/env bash
# `microlith check` accepts the bank's system file (printing what the gateway module read from
# it), and rejects broken ones with exit code 2 and a message naming the file, the line, the key
# and what was expected, a module's table included; `run` starts nothing then.
# Usage: check_reports_errors.sh <microlith binary> <good system file>
set -euo pipefail
bin=$1
good=$2
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

out=$("$bin" check "$good") || fail "check rejected $good"
echo "$out" | grep "ok: system bank, 4 groups (start order: ledger, accounts, payments, web)" >/dev/null || fail "check said: $out"
echo "$out" | grep -x "gateway web: listens on 127.0.0.1:8080 (7 routes, WebSocket /ws)" >/dev/null \
  || fail "check did not describe the gateway: $out"
echo "$out" | grep -x "  POST /accounts -> accounts.Open" >/dev/null || fail "check did not list the routes: $out"

# A key the gateway module does not know, in its own table.
cat >"$dir/gateway.toml" <<'TOML'
[system]
name = "bank"

[groups.web]
module = "microlith.gateway"

[groups.web.http]
listen = "127.0.0.1:0"
max_bodyy = 1
TOML
set +e
out=$("$bin" check "$dir/gateway.toml" 2>&1); code=$?
set -e
[ "$code" -eq 2 ] || fail "exit code $code for a bad gateway table"
echo "$out" | grep 'gateway.toml:9:1: groups.web.http.max_bodyy: unknown key "max_bodyy"; expected one of listen, io_threads, max_connections, max_header_bytes, max_body_bytes' >/dev/null \
  || fail "no unknown-key error with its line and column: $out"

cat >"$dir/bad.toml" <<'TOML'
[system]
name = "bank"

[groups.ledger]
module = "bank.ledger"
strategy = "one_for_everyone"

[groups.accounts]
module = "bank.acounts"
needs = ["ledger"]
TOML
set +e
out=$("$bin" check "$dir/bad.toml" 2>&1); code=$?
set -e
[ "$code" -eq 2 ] || fail "exit code $code for a bad file"
echo "$out" | grep "bad.toml:6:.*groups.ledger.strategy: expected one of one_for_one, one_for_all, rest_for_one" >/dev/null \
  || fail "no strategy error with its line: $out"

# The module name error is reported once the file parses.
sed -i 's/one_for_everyone/one_for_one/' "$dir/bad.toml"
set +e
out=$("$bin" run "$dir/bad.toml" 2>&1); code=$?
set -e
[ "$code" -eq 2 ] || fail "run exit code $code for a bad file"
echo "$out" | grep 'bad.toml:9:.*groups.accounts.module: no module "bank.acounts" is linked into this program (linked modules: bank.accounts, bank.ledger, bank.payments, microlith.gateway)' >/dev/null \
  || fail "no module error: $out"
echo "$out" | grep "nothing was started" >/dev/null || fail "no 'nothing was started': $out"
echo "$out" | grep "starting group" >/dev/null && fail "run started something: $out"
echo "ok: check and run report file, line, key and expectation"
