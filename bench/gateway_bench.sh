#!/usr/bin/env bash
# The gateway throughput benchmark: requests per second and latency (p50, p99) of HTTP/1.1
# keep-alive requests answered by the microlith gateway calling a trivial service
# (gateway_target: GET /echo/hello -> echo.Echo) against a bare Beast server answering the same
# request with the same body (http_floor), measured with wrk on the same machine in one run.
# The runs alternate floor / gateway; each server process is started fresh for its run, warmed
# up with a 1 s wrk run that is not counted, measured, and killed (by pid, also when the script
# fails or is interrupted). Prints the machine, each run, the medians (rate, p50, p99), the cores
# used during the measured runs by the server, wrk and other processes, and the ratio
# gateway / floor of the median rates against the goal of 0.60. Raw wrk output is kept in
# <build>/bench/results/gateway/. Usage:
#   bench/gateway_bench.sh [build-dir] [server flags...]
# build-dir defaults to build-bench at the repository root (configure it as Release; build
# http_floor and gateway_target). Server flags go to both servers (e.g. --threads 2).
# Environment: RUNS (5), DURATION (10s), CONNECTIONS (32), WRK_THREADS (2), WARMUP (1s; 0 = none).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
build="${1:-${here}/../build-bench}"
shift $(( $# > 0 ? 1 : 0 ))
server_flags=("$@")

runs="${RUNS:-5}"
duration="${DURATION:-10s}"
connections="${CONNECTIONS:-32}"
wrk_threads="${WRK_THREADS:-2}"
warmup="${WARMUP:-1s}"
goal="0.60"

if ! command -v wrk >/dev/null; then
  echo "wrk is not installed: run scripts/install-deps.sh (or apt-get install wrk)" >&2
  exit 1
fi
for bin in http_floor gateway_target; do
  if [[ ! -x "${build}/bench/${bin}" ]]; then
    echo "no ${build}/bench/${bin}: build it (ninja -C ${build} http_floor gateway_target)" >&2
    exit 1
  fi
done

results="${build}/bench/results/gateway"
mkdir -p "${results}"
rm -f "${results}"/*.txt "${results}"/*.cpu "${results}"/times.tmp

server_pid=""
wrk_pid=""
stop_server() {
  if [[ -n "${server_pid}" ]]; then
    kill -TERM "${server_pid}" 2>/dev/null || true
    wait "${server_pid}" 2>/dev/null || true
    server_pid=""
  fi
}
stop_all() {
  if [[ -n "${wrk_pid}" ]]; then
    kill -TERM "${wrk_pid}" 2>/dev/null || true
    wait "${wrk_pid}" 2>/dev/null || true
    wrk_pid=""
  fi
  stop_server
}
trap stop_all EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Starts "$1" (a binary of the build) with the server flags; sets server_pid and port.
start_server() {
  local name="$1" out="${results}/${1}.out"
  "${build}/bench/${name}" "${server_flags[@]}" >"${out}" 2>"${results}/${name}.err" &
  server_pid=$!
  port=""
  for _ in $(seq 100); do
    port="$(sed -n 's/^port=//p' "${out}")"
    [[ -n "${port}" ]] && return 0
    if ! kill -0 "${server_pid}" 2>/dev/null; then
      echo "${name} exited before listening:" >&2
      cat "${results}/${name}.err" >&2
      server_pid=""
      exit 1
    fi
    sleep 0.1
  done
  echo "${name} printed no port within 10 s" >&2
  exit 1
}

# Runs wrk with the arguments after $1 and its output into $1. In the background and waited
# for, so that a signal stops the script (and, through the trap, wrk and the server) at once.
run_wrk() {
  local out="$1" status=0
  shift
  wrk "$@" >"${out}" &
  wrk_pid=$!
  wait "${wrk_pid}" || status=$?
  wrk_pid=""
  return "${status}"
}

# Sets children_cpu to the CPU seconds (user + system) of this shell's finished children so far:
# the second line of the times builtin. Call it directly, not in $(...): in a subshell, times
# counts nothing.
children_cpu=0
read_children_cpu() {
  times >"${results}/times.tmp"
  children_cpu="$(awk 'NR == 2 { s = 0; for (i = 1; i <= 2; i++) { split($i, p, "m");
                         sub(/s$/, "", p[2]); s += p[1] * 60 + p[2] } print s }' \
                    "${results}/times.tmp")"
}

# Busy CPU ticks of the whole machine (everything but idle and iowait).
machine_ticks() {
  awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9 }' /proc/stat
}

# CPU ticks (user + system) used so far by process $1.
process_ticks() {
  sed 's/^.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'
}

cpu="$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
echo "machine: $(nproc) cores, ${cpu}"
echo "date: $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "wrk -t${wrk_threads} -c${connections} -d${duration} --latency, ${runs} runs each," \
     "servers: ${server_flags[*]:-default flags} (wrk shares the cores with the server)"
load="$(cut -d' ' -f1 /proc/loadavg)"
if awk -v l="${load}" 'BEGIN { exit !(l > 0.5) }'; then
  echo "warning: load average ${load}: other processes share the cores;" \
       "the rates will be low and noisy" >&2
fi

url_path="/echo/hello"
for run in $(seq "${runs}"); do
  for name in http_floor gateway_target; do
    start_server "${name}"
    url="http://127.0.0.1:${port}${url_path}"
    if [[ "${warmup}" != "0" ]]; then
      run_wrk /dev/null -t"${wrk_threads}" -c"${connections}" -d"${warmup}" "${url}"
    fi
    # CPU accounting of the measured run: the machine's and the server's ticks, wrk's CPU
    # seconds and the wall time; the rest of the machine's ticks are other processes.
    machine_before="$(machine_ticks)"
    server_before="$(process_ticks "${server_pid}")"
    read_children_cpu
    wrk_before="${children_cpu}"
    wall_before="$(date +%s.%N)"
    run_wrk "${results}/${name}-${run}.txt" \
      -t"${wrk_threads}" -c"${connections}" -d"${duration}" --latency "${url}"
    wall_after="$(date +%s.%N)"
    read_children_cpu
    wrk_after="${children_cpu}"
    echo "$(( $(machine_ticks) - machine_before ))" \
         "$(( $(process_ticks "${server_pid}") - server_before ))" \
         "${wrk_before} ${wrk_after} ${wall_before} ${wall_after}" >"${results}/${name}-${run}.cpu"
    stop_server
    summary="$(python3 - "${results}/${name}-${run}" <<'EOF'
import os, re, sys
text = open(sys.argv[1] + ".txt").read()
rate = re.search(r"Requests/sec:\s*([\d.]+)", text)
f = open(sys.argv[1] + ".cpu").read().split()
ticks = os.sysconf("SC_CLK_TCK")
wall = float(f[5]) - float(f[4])
other = max(0.0, (int(f[0]) - int(f[1])) / ticks - (float(f[3]) - float(f[2]))) / wall
print((f"{float(rate.group(1)):,.0f} req/s" if rate else "no rate")
      + f" (other processes: {other:.2f} core)")
EOF
)"
    echo "run ${run} ${name}: ${summary}"
  done
done

echo
python3 - "${results}" "${runs}" "${goal}" <<'EOF'
import os
import re
import statistics
import sys

results, runs, goal = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
UNITS = {"us": 1.0, "ms": 1000.0, "s": 1_000_000.0}
TICKS = float(os.sysconf("SC_CLK_TCK"))


def latency_us(text, pct):
    m = re.search(rf"^\s*{pct}%\s+([\d.]+)(us|ms|s)\s*$", text, re.M)
    return float(m.group(1)) * UNITS[m.group(2)] if m else float("nan")


def parse(path):
    text = open(path).read()
    rate = re.search(r"Requests/sec:\s*([\d.]+)", text)
    bad = re.search(r"Non-2xx or 3xx responses:\s*(\d+)", text)
    sock = re.search(r"Socket errors:.*", text)
    return {
        "rate": float(rate.group(1)) if rate else float("nan"),
        "p50": latency_us(text, 50),
        "p99": latency_us(text, 99),
        "non2xx": int(bad.group(1)) if bad else 0,
        "socket": sock.group(0) if sock else "",
        **cpu_use(path[: -len(".txt")]),
    }


def cpu_use(stem):
    """Cores used during the measured run: the machine, the server, wrk, everything else."""
    fields = open(f"{stem}.cpu").read().split()
    machine, server = (int(x) / TICKS for x in fields[:2])
    wrk_before, wrk_after, wall_before, wall_after = (float(x) for x in fields[2:])
    wrk, wall = wrk_after - wrk_before, wall_after - wall_before
    return {"machine": machine / wall, "server": server / wall, "wrk": wrk / wall,
            "other": max(0.0, machine - server - wrk) / wall}


servers = {"http_floor": "bare Beast (floor)", "gateway_target": "gateway -> echo service"}
data = {s: [parse(f"{results}/{s}-{r}.txt") for r in range(1, runs + 1)] for s in servers}
med = {s: {k: statistics.median(run[k] for run in data[s]) for k in ("rate", "p50", "p99")}
       for s in servers}

print(f"{'server':<28}{'median req/s':>14}{'p50':>12}{'p99':>12}   runs (req/s)")
for s, label in servers.items():
    rates = ", ".join(f"{run['rate']:,.0f}" for run in data[s])
    print(f"{label:<28}{med[s]['rate']:>14,.0f}{med[s]['p50']:>10,.0f}us{med[s]['p99']:>10,.0f}us"
          f"   {rates}")
    for i, run in enumerate(data[s], 1):
        if run["non2xx"] or run["socket"]:
            print(f"  warning: run {i}: {run['non2xx']} non-2xx responses; {run['socket']}")

print()
print("cores busy during the measured runs (medians; the machine has "
      f"{os.cpu_count()}): machine / server / wrk / other processes; CPU per request")
for s, label in servers.items():
    m = {k: statistics.median(run[k] for run in data[s])
         for k in ("machine", "server", "wrk", "other")}
    per_request = {k: statistics.median(1e6 * run[k] / run["rate"] for run in data[s])
                   for k in ("server", "wrk")}
    worst = max(run["other"] for run in data[s])
    print(f"  {label:<26}{m['machine']:.2f} / {m['server']:.2f} / {m['wrk']:.2f} / "
          f"{m['other']:.2f}   server {per_request['server']:.1f} us, "
          f"wrk {per_request['wrk']:.1f} us   (other, worst run: {worst:.2f})")
    if worst > 0.1:
        print(f"  warning: other processes used up to {worst:.2f} cores during a {label} run")

pairs = [g["rate"] / f["rate"] for f, g in zip(data["http_floor"], data["gateway_target"])]
ratio = med["gateway_target"]["rate"] / med["http_floor"]["rate"]
verdict = "meets" if ratio >= goal else "MISSES"
print()
print(f"ratio gateway / floor (median rates): {ratio:.2f}  goal >= {goal:.2f}: {verdict}")
print("ratio per run pair: " + ", ".join(f"{p:.2f}" for p in pairs))
EOF
