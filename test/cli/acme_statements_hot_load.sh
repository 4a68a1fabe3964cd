#!/usr/bin/env bash
# The acme example end to end (examples/bank/clients/acme/statements, docs/modules.md): the
# module acme.statements, built as the loadable acme_statements_v1 (1.0.0, plain text) and
# acme_statements_v2 (2.0.0, CSV), is packaged with `microlith package`, installed into the
# running bank's `microlith` program (which does not contain it) with `microlith modules
# install`, served under /clients/acme, replaced by 2.0.0 and rolled back to 1.0.0 with
# `microlith modules activate` while clients keep requesting the statement and depositing — no
# request fails, requests are in flight across each swap, and every request sent after a swap
# returned is answered by the version it activated — listed, loaded again by a restarted bank
# without any install, and removed. The module's library defines none of the bank's contract
# code: it resolves bank.proto's from the program at load time.
# Every process started here is killed by pid on the way out, whatever happens.
# Usage: acme_statements_hot_load.sh <microlith binary> <build dir> <system file>
#          <libacme_statements_v1.so> <libacme_statements_v2.so>
set -euo pipefail
bin=$1
build=$2
system=$3
v1_lib=$4
v2_lib=$5
here=$(cd "$(dirname "$0")" && pwd)
source "$here/run_common.sh"

load_pid=
stop_load() {
  if [ -n "$load_pid" ] && kill -0 "$load_pid" 2>/dev/null; then
    kill -TERM "$load_pid" 2>/dev/null || true
    for _ in $(seq 1 300); do
      kill -0 "$load_pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$load_pid" 2>/dev/null || true
  fi
  load_pid=
}
trap 'stop_load; cleanup' EXIT

token=acme-hot-load-admin-token-0123456789

# The bank's program does not contain the module; the module's library does not contain the
# bank's contract code (bank.proto's classes, default instances, descriptor table): it refers to
# it, and the program, which links bank_contracts and exports its symbols, resolves it at load.
# (Symbol lists are read whole first: `nm | grep -q` would fail on SIGPIPE under pipefail.)
program_symbols=$(nm -C "$bin")
if grep -q ' acme::' <<<"$program_symbols"; then fail "$bin contains acme's code"; fi
exported=$(nm -D --defined-only "$bin")
for lib in "$v1_lib" "$v2_lib"; do
  [ -f "$lib" ] || fail "no $lib: build the targets acme_statements_v1 and acme_statements_v2"
  defined=$(nm -D --defined-only "$lib")
  bank_code=$(grep -E ' (_ZN4bank|_ZNK4bank|_ZTIN4bank|_ZTVN4bank)|proto_2fbank_2eproto' <<<"$defined" || true)
  [ -z "$bank_code" ] || fail "$lib defines bank.proto's code: $(head -5 <<<"$bank_code")"
  undefined=$(nm -D --undefined-only "$lib")
  grep -q ' _ZN4bank31_HistoryReply_default_instance_E$' <<<"$undefined" \
    || fail "$lib does not take bank.HistoryReply from the program"
done
for symbol in _ZN4bank31_HistoryReply_default_instance_E descriptor_table_proto_2fbank_2eproto; do
  grep -q " $symbol\$" <<<"$exported" || fail "$bin does not export $symbol"
done

# Packaged: one archive per version, with bank.proto among the contracts the system must have.
for v in 1 2; do
  out=$("$bin" package "$build" "acme_statements_v$v" -o "$dir/acme-v$v.mlm") \
    || fail "package acme_statements_v$v: $out"
  grep -q "^wrote $dir/acme-v$v.mlm: acme.statements $v.0.0, 1 group, 1 route" <<<"$out" \
    || fail "package acme_statements_v$v said: $out"
done
out=$("$bin" check "$dir/acme-v1.mlm") || fail "check acme-v1.mlm: $out"
grep -q 'proto/bank.proto' <<<"$out" || fail "the archive does not require bank.proto: $out"

# The bank: OS-chosen port, admin endpoint on with a token in the file, a module store and the
# ledger in files of the scratch folder (a restart keeps both; the ledger's "ledger.db" is in the
# data folder, the copied file's folder).
bank_edits=(-e 's/^listen = "127.0.0.1:0"/&\nadmin = true/'
  -e "\$a\\
\\
[admin]\\
token = \"$token\"\\
\\
[modules]\\
dir = \"$dir/modules\"")
start_bank "${bank_edits[@]}"
grep -q "^dir = \"$dir/modules\"" "$dir/bank.toml" || fail "the test did not edit the file"
wait_for_log "running in one process"
port=$(grep -o 'listening on http://127.0.0.1:[0-9]*' "$log" | head -1 | sed 's/.*://')
[ -n "$port" ] || fail "no port in the log"
url=http://127.0.0.1:$port
export MICROLITH_ADMIN_TOKEN=$token

# get <path>: prints the body, then the status on a line of its own.
get() { curl -s -w '\n%{http_code}' --max-time 10 "$url$1"; }
post() {
  curl -s -o /dev/null -w '%{http_code}' --max-time 10 -X POST -H 'content-type: application/json' \
    -d "$2" "$url$1"
}

[ "$(get /clients/acme/statements/ada | tail -1)" = 404 ] || fail "the route is served before any install"

# Installed and activated: 1.0.0 serves the route under the prefix.
out=$("$bin" modules install "$url" "$dir/acme-v1.mlm" --route-prefix /clients/acme --activate) \
  || fail "install 1.0.0: $out"
grep -q '^installed acme.statements 1.0.0 (sha256 [0-9a-f]*), active, served under /clients/acme' <<<"$out" \
  || fail "install 1.0.0 said: $out"
[ "$(post /accounts '{"id":"ada","initial_balance":100}')" = 200 ] || fail "open ada"
[ "$(post /accounts/ada/deposit '{"amount":50}')" = 200 ] || fail "deposit"
answer=$(get /clients/acme/statements/ada)
[ "$(echo "$answer" | tail -1)" = 200 ] || fail "the statement: $answer"
for part in '"account_id":"ada","format":"text"' '"opening_balance":"100","closing_balance":"150"' \
  '"version":"1.0.0"' 'Closing balance'; do
  grep -qF "$part" <<<"$answer" || fail "the 1.0.0 statement lacks $part: $answer"
done
[ "$(get /statements/ada | tail -1)" = 404 ] || fail "the route is served outside its prefix"

# Continuous load: four clients asking for ada's statement, one depositing into ada's account.
python3 "$here/statement_load.py" "$port" /clients/acme/statements/ada "$dir/load" \
  --deposit /accounts/ada/deposit &
load_pid=$!

# gets_after <time>: how many statement requests were sent after <time> and have ended.
gets_after() { awk -v t="$1" '$3 == "get" && $1 > t { n++ } END { print n + 0 }' "$dir/load"; }
# Waits up to 30 s for 20 statement requests sent after <time> to end.
wait_for_gets_after() {
  for _ in $(seq 1 300); do
    [ -f "$dir/load" ] && [ "$(gets_after "$1")" -ge 20 ] && return 0
    kill -0 "$load_pid" 2>/dev/null || fail "the load client exited"
    sleep 0.1
  done
  fail "fewer than 20 statement requests ended in 30 s after $1"
}
# check_swap <what> <t0> <t1> <format> <version>: requests were in flight while the command ran
# (from t0 to t1), and every one sent after it returned was answered in <format> by <version>.
check_swap() {
  local during wrong
  during=$(awk -v a="$2" -v b="$3" '$3 == "get" && $1 < b && $2 > a { n++ } END { print n + 0 }' \
    "$dir/load")
  [ "$during" -ge 1 ] || fail "$1: no statement request was in flight while it ran"
  wrong=$(awk -v b="$3" -v f="$4" -v v="$5" \
    '$3 == "get" && $1 > b && ($4 != 200 || $5 != f || $6 != v) && n++ < 5' "$dir/load")
  [ -z "$wrong" ] || fail "$1: requests sent after it returned were answered otherwise: $wrong"
  echo "$1: $during statement request(s) in flight while it ran, then $4 from $5"
}

started=$(date +%s.%N)
wait_for_gets_after "$started"
awk '$3 == "get" && $4 == 200 && $5 == "text" && $6 == "1.0.0" { n++ } END { exit n == 0 }' \
  "$dir/load" || fail "the load got no 1.0.0 statement: $(head -5 "$dir/load")"

# Replaced: 2.0.0 installed and activated in one command, under load.
t0=$(date +%s.%N)
out=$("$bin" modules install "$url" "$dir/acme-v2.mlm" --activate) || fail "install 2.0.0: $out"
t1=$(date +%s.%N)
grep -q '^installed acme.statements 2.0.0 (sha256 [0-9a-f]*), active, served under /clients/acme' <<<"$out" \
  || fail "install 2.0.0 said: $out"
wait_for_gets_after "$t1"
check_swap "install 2.0.0 --activate" "$t0" "$t1" csv 2.0.0

# Rolled back to 1.0.0, under load.
t2=$(date +%s.%N)
out=$("$bin" modules activate "$url" acme.statements 1.0.0) || fail "activate 1.0.0: $out"
t3=$(date +%s.%N)
grep -q '^activated acme.statements 1.0.0 (sha256 [0-9a-f]*), active, served under /clients/acme' <<<"$out" \
  || fail "activate 1.0.0 said: $out"
wait_for_gets_after "$t3"
check_swap "activate 1.0.0" "$t2" "$t3" text 1.0.0

stop_load
failed=$(awk '$4 != 200' "$dir/load")
[ -z "$failed" ] || fail "$(wc -l <<<"$failed") request(s) failed under load: $(head -5 <<<"$failed")"
echo "load: $(awk '$3 == "get"' "$dir/load" | wc -l) statement requests and" \
  "$(awk '$3 == "deposit"' "$dir/load" | wc -l) deposits, none failed"

# Listed: both versions, 1.0.0 the active one.
out=$("$bin" modules list "$url") || fail "list: $out"
grep -Eq '^acme\.statements +1\.0\.0 +yes +yes +/clients/acme' <<<"$out" \
  || fail "list does not show 1.0.0 active and loaded: $out"
grep -Eq '^acme\.statements +2\.0\.0 +no +no +/clients/acme' <<<"$out" \
  || fail "list does not show 2.0.0 inactive: $out"

# Restarted on the same folders: 1.0.0 is loaded again and serves, nothing installed.
closing=$(get /accounts/ada | head -1 | sed 's/.*"balance":"\([0-9]*\)".*/\1/')
stop_bank TERM
[ "$code" -eq 0 ] || fail "the bank exited $code on SIGTERM"
start_bank "${bank_edits[@]}"
wait_for_log "running in one process"
port=$(grep -o 'listening on http://127.0.0.1:[0-9]*' "$log" | head -1 | sed 's/.*://')
[ -n "$port" ] || fail "no port in the log after the restart"
url=http://127.0.0.1:$port
answer=
for _ in $(seq 1 300); do
  answer=$(get /clients/acme/statements/ada)
  [ "$(echo "$answer" | tail -1)" = 200 ] && break
  sleep 0.1
done
[ "$(echo "$answer" | tail -1)" = 200 ] || fail "after the restart the statement is: $answer"
for part in '"format":"text"' '"version":"1.0.0"' "\"closing_balance\":\"$closing\""; do
  grep -qF "$part" <<<"$answer" || fail "after the restart the statement lacks $part: $answer"
done
if grep -q 'admin POST /_microlith/modules' "$log"; then fail "the restarted bank was sent an install"; fi

# Removed: stopped, deleted, no longer served.
out=$("$bin" modules remove "$url" acme.statements) || fail "remove: $out"
grep -q '^removed acme.statements' <<<"$out" || fail "remove said: $out"
[ "$(get /clients/acme/statements/ada | tail -1)" = 404 ] || fail "the route is served after remove"
out=$("$bin" modules list "$url") || fail "list after remove: $out"
[ "$out" = "no modules installed" ] || fail "list after remove: $out"

stop_bank TERM
[ "$code" -eq 0 ] || fail "the bank exited $code on SIGTERM after the restart"
echo "ok: acme.statements packaged, installed, replaced and rolled back under load, reloaded, removed"
