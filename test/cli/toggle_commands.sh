#!/usr/bin/env bash
# `microlith toggle set|get|list|history` against a real `microlith run` of the bank with the
# admin endpoint on, a toggle declared in a copy of its system file and the values in a SQLite
# file in a scratch folder: each command prints what it did and exits 0; a refusal (no token, an
# undeclared toggle) exits 1 with the server's message; bad usage exits 2; the values set are in
# force again after a restart. Every process started here is killed by pid on the way out.
# Usage: toggle_commands.sh <microlith binary> <system file>
set -euo pipefail
bin=$1
system=$2
source "$(dirname "$0")/run_common.sh"

token=toggle-commands-0123456789
# The bank's file is copied and extended before it starts: start it ourselves.
sed -e 's/^listen = "127.0.0.1:8080"/listen = "127.0.0.1:0"\nadmin = true/' "$system" >"$dir/bank.toml"
cat >>"$dir/bank.toml" <<TOML

[admin]
token = "$token"

[toggles]
database = "toggles.db"

[toggles."demo.new_statements"]
default = false
description = "the new statement layout"
TOML
run_it() {
  : >"$log"
  "$bin" run "$dir/bank.toml" 2>"$log" &
  pid=$!
  wait_for_log "running in one process"
  port=$(grep -o 'listening on http://127.0.0.1:[0-9]*' "$log" | head -1 | sed 's/.*://')
  [ -n "$port" ] || fail "no port in the log"
  url="http://127.0.0.1:${port}"
}
run_it

# expect <code> <command...>: runs a command, keeping stdout in $out and stderr in $dir/err.
expect() {
  local want=$1
  shift
  set +e
  out=$("$@" 2>"$dir/err")
  got=$?
  set -e
  [ "$got" -eq "$want" ] || fail "$* exited $got, not $want: $out $(cat "$dir/err")"
}

export MICROLITH_ADMIN_TOKEN=$token
expect 0 "$bin" toggle list "$url"
echo "$out" | grep '^demo.new_statements  off    off      system file  *the new statement layout$' >/dev/null \
  || fail "list printed: $out"
# The bank's own toggle, declared by its accounts module.
echo "$out" | grep '^bank.transfer_fee  *off  *off  *module bank.accounts  *a transfer also moves a fee' >/dev/null \
  || fail "list printed: $out"
expect 0 "$bin" toggle set "$url" demo.new_statements on
[ "$out" = "demo.new_statements: on" ] || fail "set on printed: $out"
expect 0 "$bin" toggle set "$url" demo.new_statements off --actors ada,bob --percent-actors 25
[ "$out" = "demo.new_statements: off, actors ada,bob, 25% of actors" ] || fail "set printed: $out"
expect 0 "$bin" toggle set "$url" demo.new_statements --percent-time 10
[ "$out" = "demo.new_statements: off, actors ada,bob, 10% of time" ] || fail "set printed: $out"
expect 0 "$bin" toggle get "$url" demo.new_statements
echo "$out" | head -1 | grep -x 'demo.new_statements: off, actors ada,bob, 10% of time' >/dev/null \
  || fail "get printed: $out"
echo "$out" | grep 'default off, declared by system file' >/dev/null || fail "get printed: $out"
expect 0 "$bin" toggle history "$url" demo.new_statements
[ "$(echo "$out" | wc -l)" -eq 4 ] || fail "history has not a header and 3 changes: $out"
echo "$out" | sed -n 2p | grep 'admin  demo.new_statements  off, actors ada,bob, 25% of actors  off, actors ada,bob, 10% of time' >/dev/null \
  || fail "history's newest line: $out"
echo "$out" | sed -n 4p | grep 'admin  demo.new_statements  off  *on$' >/dev/null \
  || fail "history's oldest line: $out"

# Refusals: 1 with the server's message.
expect 1 "$bin" toggle set "$url" demo.nothing on
grep -q 'refused the request (404): toggle "demo.nothing" is not declared' "$dir/err" \
  || fail "undeclared: $(cat "$dir/err")"
expect 1 env -u MICROLITH_ADMIN_TOKEN "$bin" toggle list "$url"
grep -q 'refused the request (401)' "$dir/err" || fail "no token: $(cat "$dir/err")"
# Bad usage: 2.
expect 2 "$bin" toggle set "$url" demo.new_statements maybe
expect 2 "$bin" toggle set "$url" demo.new_statements --percent-actors 101
expect 2 "$bin" toggle set "$url" demo.new_statements
expect 2 "$bin" toggle get "not a url" demo.new_statements

# A restart reads the saved values before it serves.
stop_bank TERM
[ "$code" -eq 0 ] || fail "microlith run exited $code on SIGTERM"
run_it
expect 0 "$bin" toggle get "$url" demo.new_statements
echo "$out" | head -1 | grep -x 'demo.new_statements: off, actors ada,bob, 10% of time' >/dev/null \
  || fail "after the restart get printed: $out"
stop_bank TERM
echo "ok"
