#!/usr/bin/env bash
# `microlith run` serves the bank over HTTPS when its gateway's [http] table names a certificate
# and its key (tls_certificate, tls_key; made here with the openssl command): a deposit with curl
# trusting that certificate, a WebSocket over TLS (wss) told of the new balance, plain HTTP to the
# port closed. `microlith check` refuses a key without a certificate, a certificate without a key,
# and a key that is not the certificate's, naming the key. SIGHUP after the files were replaced: new connections get the
# new certificate (fingerprints compared with `openssl x509 -fingerprint`) while a keep-alive
# connection opened before goes on; a reload whose certificate does not load is refused and the
# running one keeps serving. The admin commands (`routes reload`, `observe`) over https://, the
# certificate trusted through SSL_CERT_FILE, refused without it. Every process started here is
# killed by pid on the way out.
# Usage: run_https.sh <microlith binary> <system file>
set -euo pipefail
bin=$1
system=$2
source "$(dirname "$0")/run_common.sh"
clients="$(dirname "$0")/https_clients.py"
client_pid=
stop_client() {
  if [ -n "$client_pid" ] && kill -0 "$client_pid" 2>/dev/null; then kill -KILL "$client_pid" || true; fi
}
trap 'stop_client; cleanup' EXIT

# make_cert <stem>: a self-signed EC certificate for 127.0.0.1 and its key, $dir/<stem>.pem/.key.
make_cert() {
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -subj /CN=localhost -addext "subjectAltName=IP:127.0.0.1,DNS:localhost" \
    -keyout "$dir/$1.key" -out "$dir/$1.pem" 2>/dev/null || fail "openssl req for $1"
}
# fingerprint <pem file>: its SHA-256 fingerprint as AA:BB:...
fingerprint() { openssl x509 -in "$1" -noout -fingerprint -sha256 | sed 's/.*=//'; }
# served: the fingerprint of the certificate a new connection to the gateway gets.
served() {
  openssl s_client -connect "127.0.0.1:$port" </dev/null 2>/dev/null \
    | openssl x509 -noout -fingerprint -sha256 | sed 's/.*=//'
}

mkdir -p "$dir/tls"
make_cert first
make_cert second
cp "$dir/first.pem" "$dir/tls/web.pem"
cp "$dir/first.key" "$dir/tls/web.key"

# check: the key alone, the certificate alone, the certificate with another certificate's key.
tls_lines='s|^listen = "127.0.0.1:0"|&\ntls_certificate = "tls/web.pem"\ntls_key = "tls/web.key"|'
sed -e 's/^listen = "127.0.0.1:8080"/listen = "127.0.0.1:0"/' -e "$tls_lines" "$system" >"$dir/bank.toml"
out=$("$bin" check "$dir/bank.toml") || fail "check refused the HTTPS bank: $out"
echo "$out" | grep -q "gateway web: listens on 127.0.0.1:0 with TLS (certificate $dir/tls/web.pem)" \
  || fail "check did not describe the TLS gateway: $out"
sed -e '/^tls_certificate = /d' "$dir/bank.toml" >"$dir/key-only.toml"
set +e
out=$("$bin" check "$dir/key-only.toml" 2>&1); code=$?
set -e
[ "$code" -eq 2 ] || fail "check of a key without a certificate exited $code: $out"
echo "$out" | grep -q 'key-only.toml:[0-9]*:[0-9]*: groups.web.http.tls_certificate: tls_key is set but tls_certificate is not' \
  || fail "check of a key without a certificate said: $out"
sed -e '/^tls_key = /d' "$dir/bank.toml" >"$dir/cert-only.toml"
set +e
out=$("$bin" check "$dir/cert-only.toml" 2>&1); code=$?
set -e
[ "$code" -eq 2 ] || fail "check of a certificate without a key exited $code: $out"
echo "$out" | grep -q 'cert-only.toml:[0-9]*:[0-9]*: groups.web.http.tls_key: tls_certificate is set but tls_key is not' \
  || fail "check of a certificate without a key said: $out"
sed -e 's|^tls_key = "tls/web.key"|tls_key = "second.key"|' "$dir/bank.toml" >"$dir/other-key.toml"
cp "$dir/second.key" "$dir/tls/second.key"
sed -i 's|^tls_key = "second.key"|tls_key = "tls/second.key"|' "$dir/other-key.toml"
set +e
out=$("$bin" check "$dir/other-key.toml" 2>&1); code=$?
set -e
[ "$code" -eq 2 ] || fail "check of another certificate's key exited $code: $out"
echo "$out" | grep -q "other-key.toml:[0-9]*:[0-9]*: groups.web.http.tls_key: the private key in $dir/tls/second.key does not match the certificate in $dir/tls/web.pem" \
  || fail "check of another certificate's key said: $out"

token=https-admin-token-0123456789
start_bank -e "$tls_lines" -e 's/^listen = "127.0.0.1:0"/&\nadmin = true/' -e "\$a\\
\\
[admin]\\
token = \"$token\""
wait_for_log "running in one process"
port=$(grep -o 'listening on https://127.0.0.1:[0-9]*' "$log" | head -1 | sed 's/.*://')
[ -n "$port" ] || fail "no https port in the log"

# curl trusting the certificate: open an account, deposit.
post() {
  curl -s -o /dev/null -w '%{http_code}' --max-time 10 --cacert "$1" -X POST \
    -H 'content-type: application/json' -d "$3" "https://127.0.0.1:${port}$2"
}
[ "$(post "$dir/first.pem" /accounts '{"id":"ada","initial_balance":100}')" = 200 ] || fail "open over HTTPS"
[ "$(post "$dir/first.pem" /accounts/ada/deposit '{"amount":50}')" = 200 ] || fail "deposit over HTTPS"
[ "$(served)" = "$(fingerprint "$dir/first.pem")" ] || fail "the gateway does not serve the first certificate"

# The admin commands over https://, the gateway's certificate trusted through SSL_CERT_FILE and
# its name checked (an IP address, then a DNS name of its subjectAltName).
out=$(MICROLITH_ADMIN_TOKEN=$token SSL_CERT_FILE="$dir/first.pem" "$bin" routes reload \
  "https://127.0.0.1:$port" 2>&1) || fail "routes reload over https: $out"
out=$(MICROLITH_ADMIN_TOKEN=$token SSL_CERT_FILE="$dir/first.pem" "$bin" observe \
  "https://localhost:$port" 2>&1) || fail "observe over https: $out"
echo "$out" | grep "accounts" >/dev/null || fail "observe over https printed: $out"
# Not trusted (no SSL_CERT_FILE: the system's store, which does not hold it): exit 1, saying what
# to set; nothing was sent (no admin request in the log).
set +e
out=$(MICROLITH_ADMIN_TOKEN=$token SSL_CERT_FILE=/dev/null "$bin" routes reload \
  "https://127.0.0.1:$port" 2>&1); code=$?
set -e
[ "$code" -eq 1 ] || fail "routes reload trusting nothing exited $code: $out"
echo "$out" | grep "certificate verify failed" >/dev/null || fail "an untrusted gateway: $out"
echo "$out" | grep "set SSL_CERT_FILE" >/dev/null || fail "no hint for an untrusted gateway: $out"
[ "$(grep -c 'admin reload requested by' "$log")" -eq 1 ] \
  || fail "the reloads the log records: $(grep 'admin reload' "$log")"

# wss: subscribed to balances, told of a deposit.
frame=$(timeout 30 python3 "$clients" wss "$port" "$dir/first.pem" ada) || fail "the wss client failed"
echo "$frame" | grep -q '"topic":"balances"' || fail "the wss client got: $frame"

# Plain HTTP to the HTTPS port: the connection is closed, and the gateway serves on.
if curl -s -o /dev/null --max-time 10 "http://127.0.0.1:${port}/healthz"; then
  fail "plain HTTP was answered on the HTTPS port"
fi
[ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 --cacert "$dir/first.pem" "https://127.0.0.1:${port}/healthz")" = 200 ] \
  || fail "HTTPS not served after a plain HTTP request"

# A keep-alive connection opened before the reload.
python3 "$clients" keepalive "$port" "$dir/first.pem" "$dir/ready" "$dir/go" >"$dir/kept" 2>&1 &
client_pid=$!
for _ in $(seq 1 300); do [ -f "$dir/ready" ] && break; sleep 0.1; done
[ -f "$dir/ready" ] || fail "the keep-alive client did not start: $(cat "$dir/kept")"

# New files at the same paths, then SIGHUP: new connections get the second certificate.
cp "$dir/second.pem" "$dir/tls/web.pem"
cp "$dir/second.key" "$dir/tls/web.key"
kill -HUP "$pid"
wait_for_log "TLS certificate .* installed"
[ "$(served)" = "$(fingerprint "$dir/second.pem")" ] || fail "new connections do not get the new certificate"
[ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 --cacert "$dir/second.pem" "https://127.0.0.1:${port}/accounts/ada")" = 200 ] \
  || fail "curl trusting the new certificate failed"

# The connection opened before goes on, with the certificate it was served.
touch "$dir/go"
wait "$client_pid" || fail "the keep-alive connection opened before the reload: $(cat "$dir/kept")"
client_pid=
grep -qx "kept $(fingerprint "$dir/first.pem")" "$dir/kept" || fail "the keep-alive client said: $(cat "$dir/kept")"

# A certificate file that does not load: the reload is refused, the running certificate stays.
echo "not a certificate" >"$dir/tls/web.pem"
kill -HUP "$pid"
wait_for_log "the reload is refused"
grep -q "groups.web.http.tls_certificate: the certificate file $dir/tls/web.pem holds no PEM certificate" "$log" \
  || fail "the refused reload does not name the key and the file"
[ "$(served)" = "$(fingerprint "$dir/second.pem")" ] || fail "the running certificate was lost"

if grep -q "in plain HTTP" "$log"; then fail "the HTTPS gateway warned of plain HTTP"; fi
stop_bank TERM
[ "$code" -eq 0 ] || fail "exit code $code"

# Plain HTTP beyond loopback: served, with a warning that says what to set.
start_bank -e 's/^listen = "127.0.0.1:0"/listen = "0.0.0.0:0"/'
wait_for_log "running in one process"
grep -q 'group web: the gateway listens on 0.0.0.0 in plain HTTP: .*set tls_certificate and tls_key' "$log" \
  || fail "no warning for plain HTTP on 0.0.0.0"
stop_bank TERM
[ "$code" -eq 0 ] || fail "exit code $code"
echo "ok: HTTPS and wss served, plain HTTP closed, check refused bad keys, SIGHUP installed a new certificate with an open connection kept, a bad one refused, plain HTTP beyond loopback warned of"
