#!/usr/bin/env bash
# `microlith modules install|list|activate|remove URL ...` against a stub of the gateway's
# modules endpoints (admin_stub_server.py, on a port the OS chooses): the request line, the
# Authorization header, the URL-encoded query, the archive's length and sha256 as the server got
# them; what each command prints; exit codes 0 (done), 1 (refused: 401, 403, 429, 404, or
# unreachable, with the server's message and what to do), 2 (bad usage: a malformed URL, a
# missing archive, a missing argument). Bare `microlith modules` still lists the linked modules.
# The stub is killed by pid on the way out, whatever happens.
# Usage: modules_commands.sh <microlith binary>
set -euo pipefail
bin=$1
system=
source "$(dirname "$0")/run_common.sh"
unset MICROLITH_ADMIN_TOKEN
token=stub-admin-token-0123456789

requests=$dir/requests
python3 "$(dirname "$0")/admin_stub_server.py" "$requests" >"$dir/port" 2>"$log" &
pid=$!
for _ in $(seq 1 100); do
  [ -s "$dir/port" ] && break
  kill -0 "$pid" 2>/dev/null || fail "the stub server exited"
  sleep 0.1
done
port=$(cat "$dir/port")
[ -n "$port" ] || fail "the stub server printed no port"
url=http://127.0.0.1:$port

# The last request the stub recorded, field $1.
last() { python3 -c 'import json,sys; print(json.loads(open(sys.argv[1]).read().splitlines()[-1])[sys.argv[2]])' "$requests" "$1"; }
count() { [ -f "$requests" ] && wc -l <"$requests" || echo 0; }
# Runs the command; sets out, err and code.
run() { set +e; out=$("$bin" "$@" 2>"$dir/err"); code=$?; set -e; err=$(cat "$dir/err"); }
expect_code() { [ "$code" -eq "$1" ] || fail "microlith $2 exited $code, expected $1; out: $out; err: $err"; }

# A 3 MiB archive of random bytes.
archive=$dir/acme.statements-1.0.0.mlm
head -c 3145728 /dev/urandom >"$archive"
sha=$(sha256sum "$archive" | cut -d' ' -f1)

# install, with every option.
MICROLITH_ADMIN_TOKEN=$token run modules install "$url" "$archive" --route-prefix /clients/acme --activate --node n1
expect_code 0 install
[ "$(last method) $(last path)" = "POST /_microlith/modules" ] || fail "install sent $(last method) $(last path)"
[ "$(last query)" = "route_prefix=%2Fclients%2Facme&activate=true&node=n1" ] || fail "install's query: $(last query)"
[ "$(last authorization)" = "Bearer $token" ] || fail "install's Authorization: $(last authorization)"
[ "$(last content_type)" = "application/octet-stream" ] || fail "install's Content-Type: $(last content_type)"
[ "$(last length)" = 3145728 ] || fail "the stub got $(last length) bytes of 3145728"
[ "$(last sha256)" = "$sha" ] || fail "the stub got an archive of sha256 $(last sha256), sent $sha"
echo "$out" | grep -x "installed acme.statements 1.0.0 (sha256 $sha), active, served under /clients/acme on node n1" >/dev/null \
  || fail "install printed: $out"
echo "$out" | grep -x "stored and verified" >/dev/null || fail "install did not print the server's message: $out"

# install: query values are URL-encoded; without --activate it is not active.
MICROLITH_ADMIN_TOKEN=$token run modules install "$url" "$archive" --route-prefix "/clients/a b&c=d"
expect_code 0 "install (encoded)"
[ "$(last query)" = "route_prefix=%2Fclients%2Fa%20b%26c%3Dd" ] || fail "the encoded query: $(last query)"
echo "$out" | grep "not active, served under /clients/a b&c=d" >/dev/null || fail "install printed: $out"

# list: a table.
MICROLITH_ADMIN_TOKEN=$token run modules list "$url"
expect_code 0 list
[ "$(last method) $(last path) $(last length)" = "GET /_microlith/modules 0" ] || fail "list sent $(last method) $(last path)"
[ "$(last authorization)" = "Bearer $token" ] || fail "list's Authorization: $(last authorization)"
echo "$out" | head -1 | grep "^NAME  *VERSION  *ACTIVE  *LOADED  *ROUTE PREFIX  *NODE  *INSTALLED AT  *SHA256  *PROBLEM$" >/dev/null \
  || fail "list's header: $out"
echo "$out" | grep "^acme.statements  *1.0.0  *yes  *yes  */clients/acme  *n1  *2026-12-06T05:00:00Z  *abababababab$" >/dev/null \
  || fail "list's first row: $out"
echo "$out" | grep "^acme.statements  *1.2.0  *no  *no .*ABI 2 expected, archive has 3$" >/dev/null || fail "list's second row: $out"

# activate.
MICROLITH_ADMIN_TOKEN=$token run modules activate "$url" acme.statements 1.2.0
expect_code 0 activate
[ "$(last method) $(last path)?$(last query)" = "POST /_microlith/modules/acme.statements/activate?version=1.2.0" ] \
  || fail "activate sent $(last method) $(last path)?$(last query)"
echo "$out" | grep "^activated acme.statements 1.2.0 (sha256 cdcd.*), active, served under /clients/acme" >/dev/null \
  || fail "activate printed: $out"

# remove; an unknown module is the server's 404 with its message.
MICROLITH_ADMIN_TOKEN=$token run modules remove "$url" acme.statements
expect_code 0 remove
[ "$(last method) $(last path)" = "DELETE /_microlith/modules/acme.statements" ] || fail "remove sent $(last method) $(last path)"
echo "$out" | grep -x "removed acme.statements" >/dev/null || fail "remove printed: $out"
MICROLITH_ADMIN_TOKEN=$token run modules remove "$url" ghost
expect_code 1 "remove ghost"
echo "$err" | grep "refused the request (404): no module named ghost is installed" >/dev/null || fail "remove ghost said: $err"

# Refusals: no token (the archive is not sent), another token, rate limited.
run modules install "$url" "$archive"
expect_code 1 "install without a token"
[ "$(last refused_before_body) $(last length)" = "True 0" ] || fail "the archive was sent to a refusing server"
echo "$err" | grep "refused the request (401): admin requests must bear the admin token" >/dev/null || fail "401 said: $err"
echo "$err" | grep "set MICROLITH_ADMIN_TOKEN.*(MICROLITH_ADMIN_TOKEN is not set here)" >/dev/null || fail "no advice after 401: $err"
MICROLITH_ADMIN_TOKEN=another-token-0123456789 run modules list "$url"
expect_code 1 "list with another token"
echo "$err" | grep "refused the request (403): the Authorization header's bearer token is not the admin token; set MICROLITH_ADMIN_TOKEN" >/dev/null \
  || fail "403 said: $err"
MICROLITH_ADMIN_TOKEN=rate-limited-token-0123 run modules activate "$url" acme.statements 1.2.0
expect_code 1 "activate when rate limited"
echo "$err" | grep "refused the request (429): too many failed admin requests.*wait 42 s" >/dev/null || fail "429 said: $err"

# A URL with a trailing '/'; a name is encoded as one path segment.
MICROLITH_ADMIN_TOKEN=$token run modules list "$url/"
expect_code 0 "list with a trailing /"
MICROLITH_ADMIN_TOKEN=$token run modules remove "$url" "a/b"
expect_code 1 "remove a/b"
[ "$(last path)" = "/_microlith/modules/a%2Fb" ] || fail "the name is not encoded as a path segment: $(last path)"

# Bad usage: exit 2, nothing sent.
before=$(count)
MICROLITH_ADMIN_TOKEN=$token run modules install "$url" "$dir/missing-1.0.0.mlm"
expect_code 2 "install of a missing file"
echo "$err" | grep "cannot read the module archive $dir/missing-1.0.0.mlm" >/dev/null || fail "a missing file said: $err"
MICROLITH_ADMIN_TOKEN=$token run modules list "ftp://127.0.0.1:$port"
expect_code 2 "list with a malformed URL"
echo "$err" | grep "expected the gateway's URL such as http://127.0.0.1:8080 or https://HOST:PORT, got \"ftp://127.0.0.1:$port\"" >/dev/null \
  || fail "a malformed URL said: $err"
MICROLITH_ADMIN_TOKEN=$token run modules activate "$url" acme.statements
expect_code 2 "activate without a version"
MICROLITH_ADMIN_TOKEN=$token run modules install "$url"
expect_code 2 "install without a file"
[ "$(count)" = "$before" ] || fail "a command with bad usage sent a request"

# Unreachable: exit 1.
kill -KILL "$pid"
wait "$pid" 2>/dev/null || true
pid=
MICROLITH_ADMIN_TOKEN=$token run modules list "$url"
expect_code 1 "list of a stopped server"
echo "$err" | grep "microlith modules list: cannot reach $url" >/dev/null || fail "unreachable said: $err"

# Bare `microlith modules` lists the modules linked into the program.
run modules
expect_code 0 modules
echo "$out" | grep ": groups " >/dev/null || fail "bare modules printed: $out"
echo "PASS"
