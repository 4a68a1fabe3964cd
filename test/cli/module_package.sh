#!/usr/bin/env bash
# `microlith package` makes a module archive from a build's module info file, its description
# and the files they name (a hand-made build folder here: packaging does not load the library,
# so a fake one does), and `microlith check FILE.mlm` checks it offline: refused (exit 1, both
# values printed) when the ABI note is not this process's, accepted (exit 0, with its summary)
# when it is, refused when a file was changed after packaging. tar reads the archive too.
# Usage: module_package.sh <microlith binary> <protoc>
set -euo pipefail
bin=$1
protoc=$2
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

# The module's files, as the build of acme_statements would leave them.
mkdir -p "$dir/src/acme" "$dir/build/microlith-modules" "$dir/out"
cat >"$dir/src/acme/statements.proto" <<'PROTO'
syntax = "proto3";
package acme;
import "google/protobuf/empty.proto";
message GetRequest { string account_id = 1; }
message Statement { string account_id = 1; int64 balance = 2; }
service Statements {
  rpc Get(GetRequest) returns (Statement);
  rpc Ping(google.protobuf.Empty) returns (google.protobuf.Empty);
}
PROTO
"$protoc" -I "$dir/src" --include_imports --descriptor_set_out="$dir/build/acme_statements.desc" \
  acme/statements.proto
printf 'FAKELIB: the module code' >"$dir/build/libacme_statements.so"
printf 'FAKELIB: generated contract code' >"$dir/build/libmicrolith_contracts_0123abcd.so"
cat >"$dir/build/acme_statements.describe.toml" <<'TOML'
name = "acme.statements"
[[groups]]
name = "statements"
restart = "permanent"
strategy = "one_for_one"
intensity = 1
period_ms = 5000
[[routes]]
key = "GET /statements/{account_id}"
target = "statements.Get"
TOML
cat >"$dir/build/microlith-modules/acme_statements.module.toml" <<TOML
target = "acme_statements"
version = "1.0.0"
library = "$dir/build/libacme_statements.so"
contracts_library = "$dir/build/libmicrolith_contracts_0123abcd.so"
contracts = "$dir/build/acme_statements.desc"
abi_note = "$dir/build/acme_statements.abi.toml"
description = "$dir/build/acme_statements.describe.toml"
provides = ["acme/statements.proto"]
TOML
# A note no process has: every field differs, so check prints every value of this process.
cat >"$dir/build/acme_statements.abi.toml" <<'TOML'
microlith = "0.0.0"
caf = "0.0.0"
protobuf = "0.0.0"
compiler = "none"
cxx_abi = "none"
TOML

# Packaging: -o FILE.
out=$("$bin" package "$dir/build" acme_statements -o "$dir/out/acme.mlm") \
  || fail "package failed: $out"
echo "$out" | grep "^wrote $dir/out/acme.mlm: acme.statements 1.0.0, 1 group, 1 route, sha256 [0-9a-f]\{64\}$" >/dev/null \
  || fail "package said: $out"
listing=$(tar -tf "$dir/out/acme.mlm") || fail "tar cannot read the archive"
[ "$listing" = "manifest.toml
abi.toml
lib/libacme_statements.so
lib/libmicrolith_contracts_0123abcd.so
contracts.desc" ] || fail "the archive holds: $listing"
manifest=$(tar -xOf "$dir/out/acme.mlm" manifest.toml) || fail "tar cannot extract manifest.toml"
echo "$manifest" | grep -x 'requires_contracts = \["google/protobuf/empty.proto"\]' >/dev/null \
  || fail "the manifest does not require empty.proto: $manifest"

# Without -o: NAME-VERSION.mlm in the current folder.
(cd "$dir/out" && "$bin" package "$dir/build" acme_statements >/dev/null) || fail "package without -o failed"
[ -f "$dir/out/acme_statements-1.0.0.mlm" ] || fail "no acme_statements-1.0.0.mlm: $(ls "$dir/out")"

# check: the ABI differs -> exit 1 with both values of each field.
set +e
out=$("$bin" check "$dir/out/acme.mlm" 2>&1); code=$?
set -e
[ "$code" -eq 1 ] || fail "check exit code $code for another ABI: $out"
echo "$out" | grep "ABI: CAF 0.0.0 (library) vs [0-9.]* (this process)" >/dev/null || fail "check said: $out"
echo "$out" | grep "module acme.statements 1.0.0 refused" >/dev/null || fail "check said: $out"

# The note this process wants, from the values check printed; then the archive is accepted.
value() { echo "$out" | sed -n "s/^.*ABI: $1 [^ ]* (library) vs \(.*\) (this process)\$/\1/p"; }
cat >"$dir/build/acme_statements.abi.toml" <<TOML
microlith = "$(value microlith)"
caf = "$(value CAF)"
protobuf = "$(value Protobuf)"
compiler = "$(value compiler)"
cxx_abi = "$(value 'C++ library')"
TOML
"$bin" package "$dir/build" acme_statements -o "$dir/out/acme.mlm" >/dev/null || fail "repackaging failed"
out=$("$bin" check "$dir/out/acme.mlm" 2>&1) || fail "check refused a matching archive: $out"
for line in "$dir/out/acme.mlm: ok: module acme.statements 1.0.0 (target acme_statements)" \
  "  group statements: restart permanent, strategy one_for_one, intensity 1, period 5000ms" \
  "  route GET /statements/{account_id} -> statements.Get" \
  "  provides: acme/statements.proto" \
  "  requires: google/protobuf/empty.proto"; do
  echo "$out" | grep -xF "$line" >/dev/null || fail "no line '$line' in: $out"
done
echo "$out" | grep "^  ABI ok: " >/dev/null || fail "check said: $out"
echo "$out" | grep "^  sha256 [0-9a-f]\{64\}$" >/dev/null || fail "check said: $out"

# A file changed after packaging (same size): refused, naming the entry.
LC_ALL=C sed 's/FAKELIB: the module code/FAKELIB: the module c0de/' "$dir/out/acme.mlm" >"$dir/out/tampered.mlm"
cmp -s "$dir/out/acme.mlm" "$dir/out/tampered.mlm" && fail "the archive was not changed"
set +e
out=$("$bin" check "$dir/out/tampered.mlm" 2>&1); code=$?
set -e
[ "$code" -eq 1 ] || fail "check exit code $code for a changed file: $out"
echo "$out" | grep 'tampered.mlm: entry "lib/libacme_statements.so" has sha256' >/dev/null || fail "check said: $out"

# No module info file: exit 1, naming the path and the declaration it needs.
set +e
out=$("$bin" package "$dir/build" acme_other 2>&1); code=$?
set -e
[ "$code" -eq 1 ] || fail "package exit code $code without an info file: $out"
echo "$out" | grep -F "$dir/build/microlith-modules/acme_other.module.toml" >/dev/null || fail "package said: $out"
echo "$out" | grep -F "microlith_add_module(acme_other SHARED VERSION ...)" >/dev/null || fail "package said: $out"

# A description with a bad value: exit 1, naming the file, line and key; nothing written.
sed -i 's/restart = "permanent"/restart = "sometimes"/' "$dir/build/acme_statements.describe.toml"
set +e
out=$("$bin" package "$dir/build" acme_statements -o "$dir/out/bad.mlm" 2>&1); code=$?
set -e
[ "$code" -eq 1 ] || fail "package exit code $code for a bad description: $out"
echo "$out" | grep -F "acme_statements.describe.toml:4: groups[0].restart: expected one of permanent, transient, temporary" >/dev/null \
  || fail "package said: $out"
[ ! -e "$dir/out/bad.mlm" ] || fail "a refused package was written"

# Usage errors: exit 2.
set +e
"$bin" package "$dir/build" >/dev/null 2>&1; code=$?
set -e
[ "$code" -eq 2 ] || fail "package exit code $code without NAME"
set +e
"$bin" check >/dev/null 2>&1; code=$?
set -e
[ "$code" -eq 2 ] || fail "check exit code $code without FILE"
echo "ok"
