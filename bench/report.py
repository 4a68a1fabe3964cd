#!/usr/bin/env python3
"""Summarises Google Benchmark JSON output of the microlith benchmarks.

Reads one or more JSON files written with --benchmark_out_format=json (ideally with
--benchmark_repetitions and --benchmark_report_aggregates_only), prints the median round-trip
rate of every case with its coefficient of variation, then the ratios microlith_call /
raw_caf_request and microlith_call / raw_caf_request_timeout for each number of outstanding
calls, against the goal of 0.77 (microlith's cost within 1.3x of raw CAF's). Without
aggregates (a single repetition) the single run's rate stands in for the median.
"""
import json
import sys

GOAL = 0.77  # microlith rate / raw rate; 1 / 1.3
FLOORS = ["raw_caf_request", "raw_caf_request_timeout"]
SUBJECT = "microlith_call"


def case_name(run_name):
    """'raw_caf_request/outstanding:1/real_time' -> 'raw_caf_request/outstanding:1'."""
    parts = [p for p in run_name.split("/") if p != "real_time" and not p.startswith("min_time")]
    return "/".join(parts)


def load(paths):
    medians, cvs, order, contexts = {}, {}, [], []
    for path in paths:
        with open(path) as f:
            doc = json.load(f)
        contexts.append(doc.get("context", {}))
        for b in doc.get("benchmarks", []):
            if "items_per_second" not in b or b.get("error_occurred"):
                continue
            name = case_name(b.get("run_name", b["name"]))
            kind = b.get("aggregate_name") if b.get("run_type") == "aggregate" else "single"
            if name not in order:
                order.append(name)
            if kind == "median" or (kind == "single" and name not in medians):
                medians[name] = b["items_per_second"]
            elif kind == "cv":
                cvs[name] = b["items_per_second"]
    return medians, cvs, order, contexts


def main(paths):
    if not paths:
        sys.exit("usage: report.py result.json...")
    medians, cvs, order, contexts = load(paths)
    for ctx in contexts:
        print(f"host {ctx.get('host_name', '?')}: {ctx.get('num_cpus', '?')} cpus at "
              f"{ctx.get('mhz_per_cpu', '?')} MHz, load {ctx.get('load_avg', '?')}, "
              f"Google Benchmark library build: {ctx.get('library_build_type', '?')}")
    print()
    print(f"{'case':<42}{'median round trips/s':>22}{'cv':>8}")
    family_rank = {f: i for i, f in enumerate(FLOORS + [SUBJECT])}

    def rank(name):
        family, _, arg = name.partition("/")
        count = arg.rpartition(":")[2]
        return (family_rank.get(family, len(family_rank)), family,
                int(count) if count.isdigit() else 0, arg)

    order.sort(key=rank)
    for name in order:
        if name not in medians:
            continue
        cv = f"{100 * cvs[name]:.1f}%" if name in cvs else "-"
        print(f"{name:<42}{medians[name]:>22,.0f}{cv:>8}")
    print()
    print(f"ratio {SUBJECT} / floor (goal >= {GOAL}; cost ratio = 1 / rate ratio)")
    args = sorted({n.split("/", 1)[1] for n in medians if "/" in n},
                  key=lambda a: int(a.split(":")[1]) if a.split(":")[-1].isdigit() else 0)
    missed = False
    for arg in args:
        subject = medians.get(f"{SUBJECT}/{arg}")
        if subject is None:
            continue
        for floor in FLOORS:
            base = medians.get(f"{floor}/{arg}")
            if base is None:
                continue
            ratio = subject / base
            verdict = "meets" if ratio >= GOAL else "MISSES"
            missed |= ratio < GOAL
            print(f"  {arg:<16} vs {floor:<26} rate x{ratio:.2f}  cost x{1 / ratio:.2f}  {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
