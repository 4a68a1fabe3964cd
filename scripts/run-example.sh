#!/usr/bin/env bash
# Installs, builds, and runs the example bank system in one process until Ctrl-C; its HTTP API
# listens on http://127.0.0.1:8080 (examples/bank/bank.toml). It builds only the microlith
# program (CMake target microlith_command) and what it links, in build/ configured as
# scripts/test.sh configures it, so the two share build/.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bash "$root/scripts/build.sh" --target microlith_command "$root/build"
url=http://127.0.0.1:8080
cat <<MSG
The bank serves its API on ${url} (WebSocket ws://127.0.0.1:8080/ws). In another terminal:
  curl -s -X POST ${url}/accounts -H 'content-type: application/json' -d '{"id":"ada","initial_balance":100}'
  curl -s -X POST ${url}/accounts/ada/deposit -H 'content-type: application/json' -d '{"amount":50}'
  curl -s ${url}/accounts/ada
  curl -s ${url}/accounts/ada/history
  curl -s -X POST ${url}/webhooks/payments -H 'content-type: application/json' -d '{"payment_id":"p1","account_id":"ada","amount":500}'
MSG
# The bank keeps its ledger and its jobs (and what else must survive a restart) in
# build/bank-data: stop it, start it again, and the accounts and pending payments are still
# there. `microlith run` names the folder first.
exec "$root/build/cli/microlith" run "$root/examples/bank/bank.toml" --data "$root/build/bank-data"
