#!/usr/bin/env bash
# Installs the Debian 12 packages microlith builds and tests with.
# Idempotent: quiet and quick when everything is already there.
set -euo pipefail

packages=(
  build-essential cmake ninja-build ccache pkg-config clang-format
  libcaf-dev
  libboost-dev libboost-system-dev
  libfmt-dev
  libprotobuf-dev protobuf-compiler
  libtomlplusplus-dev
  libcli11-dev
  libsqlite3-dev
  postgresql libpq-dev # test/support/postgres_server.hpp: initdb and postgres per test, libpq
  tzdata
  libssl-dev
  openssl # openssl(1): the TLS cluster test reads a node's certificate with s_client
  catch2
  libbenchmark-dev
  curl
  openssl # the HTTPS shell test makes its certificates and reads fingerprints with it
  wrk
  python3 # the shell tests' stand-in servers and cron_kill.sh's reads of a SQLite file
  prometheus # promtool: the tests check GET /metrics' text with `promtool check metrics`
  chromium # test/support/browser_driver.py: the observer page's tests in headless Chromium
  clang-14 libclang-rt-14-dev # test/fuzz: the libFuzzer programs (clang, its fuzzer runtime)
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

echo "microlith: installing ${missing[*]}"
sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then sudo_cmd=(sudo); fi
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -qq
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
