#!/usr/bin/env bash
# The admin token as an operator meets it: `microlith check` and `run` refuse a gateway group
# with admin = true while neither [admin] token nor MICROLITH_ADMIN_TOKEN is set (exit 2, naming
# the group's http.admin key; run starts nothing), and refuse a short [admin] token with file,
# line, column and key without quoting it; with [admin] token in the file, `routes reload`
# succeeds with that token in MICROLITH_ADMIN_TOKEN and, while MICROLITH_ADMIN_TOKEN is set for
# the running system, only with the variable's token. Every process started here is killed by
# pid on the way out, whatever happens.
# Usage: admin_token.sh <microlith binary> <system file>
set -euo pipefail
bin=$1
system=$2
source "$(dirname "$0")/run_common.sh"
unset MICROLITH_ADMIN_TOKEN

file_token=file-token-for-the-bank-0123
env_token=environment-token-0123456789

# The bank with admin = true, and $1 (if any) appended.
admin_bank() {
  sed -e 's/^listen = "127.0.0.1:8080"/listen = "127.0.0.1:0"\nadmin = true/' "$system" >"$dir/bank.toml"
  [ $# -eq 0 ] || printf '%s\n' "$1" >>"$dir/bank.toml"
  line=$(grep -n '^admin = true' "$dir/bank.toml" | cut -d: -f1)
}

# No token anywhere: check and run refuse the group's admin key.
admin_bank
set +e
out=$("$bin" check "$dir/bank.toml" 2>&1); code=$?
set -e
[ "$code" -eq 2 ] || fail "check exited $code without a token: $out"
echo "$out" | grep "bank.toml:${line}:9: groups.web.http.admin: group web serves admin operations, which require the admin token: set \[admin\] token in this file or the environment variable MICROLITH_ADMIN_TOKEN" >/dev/null \
  || fail "check without a token said: $out"
set +e
out=$("$bin" run "$dir/bank.toml" 2>&1); code=$?
set -e
[ "$code" -eq 2 ] || fail "run exited $code without a token: $out"
echo "$out" | grep "groups.web.http.admin" >/dev/null || fail "run without a token said: $out"
echo "$out" | grep "nothing was started" >/dev/null || fail "run without a token said: $out"
echo "$out" | grep "listening on" >/dev/null && fail "run started a gateway: $out"
# The variable alone is enough for check.
MICROLITH_ADMIN_TOKEN=$env_token "$bin" check "$dir/bank.toml" >/dev/null || fail "check refused the variable's token"

# A short token in the file.
admin_bank $'[admin]\ntoken = "too-short"'
set +e
out=$("$bin" check "$dir/bank.toml" 2>&1); code=$?
set -e
[ "$code" -eq 2 ] || fail "check exited $code for a short token: $out"
short_line=$(grep -n '^token = ' "$dir/bank.toml" | cut -d: -f1)
echo "$out" | grep "bank.toml:${short_line}:9: admin.token: expected a token of at least 16 characters" >/dev/null \
  || fail "check of a short token said: $out"
echo "$out" | grep "too-short" >/dev/null && fail "the short token is quoted back: $out"

# A token in the file: reload with it; another token is refused.
admin_bank "[admin]
token = \"$file_token\""
"$bin" run "$dir/bank.toml" 2>"$log" &
pid=$!
wait_for_log "running in one process"
port=$(grep -o 'listening on http://127.0.0.1:[0-9]*' "$log" | head -1 | sed 's/.*://')
[ -n "$port" ] || fail "no port in the log"
out=$(MICROLITH_ADMIN_TOKEN=$file_token "$bin" routes reload "http://127.0.0.1:${port}") \
  || fail "routes reload with the file's token failed: $out"
echo "$out" | grep '"reloaded":true' >/dev/null || fail "routes reload said: $out"
if out=$(MICROLITH_ADMIN_TOKEN=$env_token "$bin" routes reload "http://127.0.0.1:${port}" 2>&1); then
  fail "another token was accepted: $out"
fi
stop_bank TERM

# The same file run with MICROLITH_ADMIN_TOKEN set: the variable's token wins.
MICROLITH_ADMIN_TOKEN=$env_token "$bin" run "$dir/bank.toml" 2>"$log" &
pid=$!
wait_for_log "running in one process"
port=$(grep -o 'listening on http://127.0.0.1:[0-9]*' "$log" | head -1 | sed 's/.*://')
if out=$(MICROLITH_ADMIN_TOKEN=$file_token "$bin" routes reload "http://127.0.0.1:${port}" 2>&1); then
  fail "the file's token was accepted while the variable is set: $out"
fi
echo "$out" | grep '"error":"permission_denied"' >/dev/null || fail "the file's token got: $out"
out=$(MICROLITH_ADMIN_TOKEN=$env_token "$bin" routes reload "http://127.0.0.1:${port}") \
  || fail "routes reload with the variable's token failed: $out"
echo "$out" | grep '"reloaded":true' >/dev/null || fail "routes reload said: $out"
if grep -q -e "$file_token" -e "$env_token" "$log"; then fail "the log shows a token"; fi
stop_bank TERM
echo "ok: no token refused by check and run, a short one by check, the file's token and the variable's (which wins) accepted"
