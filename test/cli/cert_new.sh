#!/usr/bin/env bash
# `microlith cert new`: one certificate for the cluster or one per node (key mode 0600, the
# certificates valid end-entity ones (CA:FALSE, digitalSignature, serverAuth and clientAuth) and
# their printed fingerprints theirs), the lines it prints accepted by
# `microlith check`, existing files refused unless --force, bad arguments exit 2; and `check`
# naming the key of a bad [cluster.tls] input.
# Usage: cert_new.sh <microlith binary>
set -euo pipefail
bin=$1
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
mode() { stat -c %a "$1"; }
fingerprint() { openssl x509 -in "$1" -noout -fingerprint -sha256 | sed 's/.*=//; s/://g' | tr A-F a-f; }

# One for the whole cluster.
out=$("$bin" cert new "$dir/one") || fail "cert new failed: $out"
[ -f "$dir/one/cluster.pem" ] || fail "no cluster.pem: $out"
[ "$(mode "$dir/one/cluster.key")" = 600 ] || fail "cluster.key has mode $(mode "$dir/one/cluster.key")"
echo "$out" | grep -x '\[cluster.tls\]' >/dev/null || fail "no [cluster.tls] in: $out"
echo "$out" | grep -x "trusted = \[\"$dir/one/cluster.pem\"\]" >/dev/null || fail "no trusted line in: $out"
if command -v openssl >/dev/null; then
  fp=$(fingerprint "$dir/one/cluster.pem")
  echo "$out" | grep -F "$dir/one/cluster.pem (sha256:$fp)" >/dev/null || fail "fingerprint $fp not printed: $out"
  openssl x509 -in "$dir/one/cluster.pem" -noout -subject | grep 'CN *= *microlith cluster' >/dev/null \
    || fail "subject: $(openssl x509 -in "$dir/one/cluster.pem" -noout -subject)"
  openssl pkey -in "$dir/one/cluster.key" -noout || fail "cluster.key is no key"
  # An end-entity certificate for TLS servers and clients, not a CA.
  ext=$(openssl x509 -in "$dir/one/cluster.pem" -noout -ext basicConstraints,keyUsage,extendedKeyUsage)
  echo "$ext" | grep -x ' *CA:FALSE' >/dev/null || fail "not CA:FALSE: $ext"
  echo "$ext" | grep -x ' *Digital Signature' >/dev/null || fail "key usage is not digitalSignature alone: $ext"
  echo "$ext" | grep -x ' *TLS Web Server Authentication, TLS Web Client Authentication' >/dev/null \
    || fail "extended key usage is not serverAuth and clientAuth: $ext"
  openssl verify -CAfile "$dir/one/cluster.pem" -purpose sslserver "$dir/one/cluster.pem" >/dev/null \
    || fail "openssl verify does not take the certificate as its own anchor"
else
  echo "openssl(1) is absent: the certificates are not read back by it here"
fi

# Existing files are refused (exit 1, naming them) unless --force.
set +e
again=$("$bin" cert new "$dir/one" 2>&1); code=$?
set -e
[ "$code" = 1 ] || fail "overwriting exited $code: $again"
echo "$again" | grep -F "$dir/one/cluster.pem" >/dev/null || fail "the existing file is not named: $again"
before=$(cat "$dir/one/cluster.pem")
"$bin" cert new "$dir/one" --force >/dev/null || fail "--force failed"
[ "$before" != "$(cat "$dir/one/cluster.pem")" ] || fail "--force did not replace cluster.pem"

# One per node, each node trusting them all; the printed lines pass `check`.
out=$("$bin" cert new "$dir/certs" --nodes a,b) || fail "cert new --nodes failed: $out"
for n in a b; do
  [ -f "$dir/certs/$n.pem" ] || fail "no $n.pem"
  [ "$(mode "$dir/certs/$n.key")" = 600 ] || fail "$n.key has mode $(mode "$dir/certs/$n.key")"
  echo "$out" | grep -x "\[nodes.$n.tls\]" >/dev/null || fail "no [nodes.$n.tls] in: $out"
done
cat >"$dir/bank.toml" <<TOML
[system]
name = "bank"

[groups.ledger]
module = "bank.ledger"

[nodes.a]
listen = "127.0.0.1:7101"
groups = ["ledger"]

[nodes.b]
listen = "127.0.0.1:7102"
groups = ["ledger"]
$(echo "$out" | sed -n '/^\[nodes\./,$p')
TOML
"$bin" check "$dir/bank.toml" >/dev/null || fail "check rejected the printed lines: $(cat "$dir/bank.toml")"

# A node name with a dot is quoted in the printed table name, and the lines still pass `check`.
out=$("$bin" cert new "$dir/dotted" --nodes eu.west,b) || fail "cert new --nodes eu.west failed: $out"
echo "$out" | grep -xF '[nodes."eu.west".tls]' >/dev/null || fail "no [nodes.\"eu.west\".tls] in: $out"
cat >"$dir/dotted.toml" <<TOML
[system]
name = "bank"

[groups.ledger]
module = "bank.ledger"

[nodes."eu.west"]
listen = "127.0.0.1:7101"
groups = ["ledger"]

[nodes.b]
listen = "127.0.0.1:7102"
groups = ["ledger"]
$(echo "$out" | sed -n '/^\[nodes\./,$p')
TOML
(cd "$dir" && "$bin" check dotted.toml >/dev/null) || fail "check rejected the dotted lines: $(cat "$dir/dotted.toml")"

# Bad arguments exit 2.
for bad in "--nodes a,,b" "--nodes a,a" "--nodes x/y"; do
  set +e
  msg=$("$bin" cert new "$dir/bad" $bad 2>&1); code=$?
  set -e
  [ "$code" = 2 ] || fail "cert new $bad exited $code: $msg"
done
[ ! -e "$dir/bad" ] || fail "a refused cert new wrote $dir/bad"

# check names the key of a bad tls input (file:line:col: key: ...), exit 2.
cat >"$dir/bad.toml" <<TOML
[system]
name = "bank"

[groups.ledger]
module = "bank.ledger"

[nodes.a]
listen = "127.0.0.1:7101"
groups = ["ledger"]

[cluster.tls]
certificate = "certs/a.pem"
key = "certs/b.key"
trusted = ["certs/a.pem", "sha256:1234"]
TOML
set +e
msg=$("$bin" check "$dir/bad.toml" 2>&1); code=$?
set -e
[ "$code" = 2 ] || fail "check of a bad tls table exited $code: $msg"
echo "$msg" | grep -F "bad.toml:13:7: cluster.tls.key: expected the PEM private key of \"certs/a.pem\", got \"certs/b.key\"" >/dev/null \
  || fail "no key error: $msg"
echo "$msg" | grep -F "bad.toml:14:27: cluster.tls.trusted[1]: expected \"sha256:\" and 64 hex digits" >/dev/null \
  || fail "no fingerprint error: $msg"
echo "ok"
