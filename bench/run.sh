#!/usr/bin/env bash
# Runs every Google Benchmark binary of a build (each executable named *_bench in <build>/bench
# but modules_bench and jobs_bench, which print their own tables) with 5 repetitions of at
# least 1 s each, aggregates only, the repetitions of the cases randomly interleaved; keeps
# their JSON output in <build>/bench/results/ and prints the machine, the median rate of each
# case and the microlith / raw CAF ratios (bench/report.py). Usage:
#   bench/run.sh [build-dir] [extra Google Benchmark flags...]
# build-dir defaults to build-bench at the repository root; configure it as Release.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
build="${1:-${here}/../build-bench}"
shift $(( $# > 0 ? 1 : 0 ))

binaries=()
for bin in "${build}"/bench/*_bench; do
  # modules_bench is a program with its own tables, not a Google Benchmark binary: run by itself.
  [[ "$(basename "${bin}")" == modules_bench ]] && continue
  # So is jobs_bench.
  [[ "$(basename "${bin}")" == jobs_bench ]] && continue
  [[ -f "${bin}" && -x "${bin}" ]] && binaries+=("${bin}")
done
if (( ${#binaries[@]} == 0 )); then
  echo "no benchmark binaries in ${build}/bench: build them (ninja -C ${build} call_bench)" >&2
  exit 1
fi

results="${build}/bench/results"
mkdir -p "${results}"
cpu="$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
echo "machine: $(nproc) cores, ${cpu}"
load="$(cut -d' ' -f1 /proc/loadavg)"
if awk -v l="${load}" 'BEGIN { exit !(l > 0.5) }'; then
  echo "warning: load average ${load}: other processes share the cores;" \
       "the rates will be low and noisy" >&2
fi

jsons=()
for bin in "${binaries[@]}"; do
  out="${results}/$(basename "${bin}").json"
  # 1 s per repetition: batches with one call outstanding vary with the actors' placement.
  # Interleaving the repetitions of the cases spreads bursts of noise from other processes over
  # all of them instead of one, which keeps the ratios steadier.
  "${bin}" --benchmark_repetitions=5 --benchmark_report_aggregates_only=true \
           --benchmark_min_time=1 --benchmark_enable_random_interleaving=true \
           --benchmark_out="${out}" --benchmark_out_format=json "$@"
  jsons+=("${out}")
done

python3 "${here}/report.py" "${jsons[@]}"
