#!/usr/bin/env bash
# Routes declared by modules, end to end, with a program whose modules declare them
# (route_modules_program.cpp): `modules` lists each module's routes, a malformed one with what
# was expected; `check` lists the module routes with their origin, counts them and starts the
# gateway after their group; a system using the module with a malformed route is refused by
# `check` and `run` with exit code 2, nothing started; `run` serves the module's route over HTTP.
# The process started here is killed by pid on the way out, whatever happens.
# Usage: module_routes.sh <program>
set -euo pipefail
bin=$1
system= # run_common.sh's start_bank is not used here: this script writes its own files
source "$(dirname "$0")/run_common.sh"

out=$("$bin" modules) || fail "modules failed"
echo "$out" | grep -x "test.statements: groups statements" >/dev/null || fail "modules said: $out"
echo "$out" | grep -x "  route GET /statements/{text} -> statements.Ping" >/dev/null \
  || fail "modules did not list the route: $out"
echo "$out" | grep -x "  malformed route \"GET broken\": the path \"broken\" must start with '/' (target \"broken.Ping\")" >/dev/null \
  || fail "modules did not show the malformed route: $out"

# The gateway comes first and its needs do not name statements.
cat >"$dir/good.toml" <<'TOML'
[system]
name = "acme"
threads = 2

[groups.web]
module = "microlith.gateway"

[groups.web.http]
listen = "127.0.0.1:0"

[groups.web.routes]
"GET /echo/{text}" = "statements.Ping"

[groups.statements]
module = "test.statements"
TOML
out=$("$bin" check "$dir/good.toml") || fail "check rejected good.toml: $out"
echo "$out" | grep "ok: system acme, 2 groups (start order: statements, web)" >/dev/null \
  || fail "check said: $out"
echo "$out" | grep -x "gateway web: listens on 127.0.0.1:0 (2 routes, WebSocket /ws)" >/dev/null \
  || fail "check did not count the module route: $out"
echo "$out" | grep -x "  GET /echo/{text} -> statements.Ping" >/dev/null || fail "no file route: $out"
echo "$out" | grep -x "  GET /statements/{text} -> statements.Ping  (module test.statements)" >/dev/null \
  || fail "no module route with its origin: $out"

sed 's/module = "test.statements"/module = "test.broken"/; s/statements\]/broken]/' \
  "$dir/good.toml" >"$dir/broken.toml"
for command in check run; do
  set +e
  out=$("$bin" "$command" "$dir/broken.toml" 2>&1); code=$?
  set -e
  [ "$code" -eq 2 ] || fail "$command exit code $code for a module with a malformed route: $out"
  echo "$out" | grep "broken.toml:15: groups.broken.module: module test.broken declares a malformed route \"GET broken\" = \"broken.Ping\" in its code: the path \"broken\" must start with '/'" >/dev/null \
    || fail "$command did not report the malformed route: $out"
  echo "$out" | grep "starting group" >/dev/null && fail "$command started something: $out"
done

"$bin" run "$dir/good.toml" >"$dir/out" 2>"$log" &
pid=$!
port=
for _ in $(seq 1 300); do
  port=$(sed -n 's|^gateway web: http://127.0.0.1:\([0-9]*\)/ (2 routes.*|\1|p' "$dir/out")
  [ -n "$port" ] && break
  kill -0 "$pid" 2>/dev/null || fail "run exited before serving"
  sleep 0.1
done
[ -n "$port" ] || fail "run did not print the gateway's URL with 2 routes: $(cat "$dir/out")"
grep -qx "  GET /statements/{text} -> statements.Ping  (module test.statements)" "$dir/out" \
  || fail "run did not list the module route: $(cat "$dir/out")"
body=$(curl -s --max-time 10 "http://127.0.0.1:$port/statements/ada") || fail "curl failed"
echo "$body" | grep '"text":"statements:ada"' >/dev/null || fail "the module route answered: $body"
grep -q "starting group statements" "$log" || fail "statements did not start"
[ "$(grep -n 'starting group' "$log" | head -1 | grep -c statements)" -eq 1 ] \
  || fail "web started before statements"
pid_done=$pid
stop_bank TERM
[ "$code" = 0 ] || fail "run (pid $pid_done) exit code ${code:-none} after SIGTERM"
echo "ok: modules, check and run show and serve the routes modules declare"
