#!/usr/bin/env python3
"""Summarises Google Benchmark JSON output of the microlith benchmarks.

Reads one or more JSON files written with --benchmark_out_format=json (ideally with
--benchmark_repetitions and --benchmark_report_aggregates_only), prints the median round-trip
rate of every case with its coefficient of variation (and the medians of its counters p50_us,
p99_us and cpu_us when it has them), the failure-detection times of cluster_bench, then the ratio
of each microlith case to its raw CAF floor for each number of outstanding calls, against its
goal: in one process (call_bench) microlith_call / raw_caf_request and microlith_call /
raw_caf_request_timeout, goal 0.77 (microlith's cost within 1.3x of raw CAF's), and
microlith_call / microlith_call_metrics_off, goal 0.95 (call metrics cost within 5%); across two
processes (cluster_bench) microlith_remote_call / raw_caf_remote_request, goal 0.67. Without
aggregates (a single repetition) the single run's values stand in for the medians.
"""
import json
import sys

# (subject, floor, goal): the goal is the least acceptable rate ratio subject / floor.
COMPARISONS = [
    ("microlith_call", "raw_caf_request", 0.77),  # 1 / 1.3
    ("microlith_call", "raw_caf_request_timeout", 0.77),
    # Call metrics on (the default) against off: within 5%.
    ("microlith_call", "microlith_call_metrics_off", 0.95),
    ("microlith_remote_call", "raw_caf_remote_request", 0.67),  # 1 / 1.5
]
# Printed next to the rates of the cases that have them: cluster_bench's round-trip latency
# percentiles and CPU time (both processes) per round trip.
LATENCY_COUNTERS = ["p50_us", "p99_us", "cpu_us"]
DETECTION = "failure_detection"  # cluster_bench's cases; counters detect_ms, detect_max_ms
DETECTION_GOAL_MS = 1500


def case_name(run_name):
    """'raw_caf_request/outstanding:1/real_time' -> 'raw_caf_request/outstanding:1'."""
    parts = [p for p in run_name.split("/")
             if p not in ("real_time", "iterations:1") and not p.startswith("min_time")]
    return "/".join(parts)


def load(paths):
    """Median (and cv) of every case's rate and counters: {case: {field: value}}."""
    medians, cvs, order, contexts = {}, {}, [], []
    fields = ["items_per_second"] + LATENCY_COUNTERS + ["detect_ms", "detect_max_ms", "trials"]
    for path in paths:
        with open(path) as f:
            doc = json.load(f)
        contexts.append(doc.get("context", {}))
        for b in doc.get("benchmarks", []):
            if b.get("error_occurred"):
                continue
            name = case_name(b.get("run_name", b["name"]))
            is_rate = "items_per_second" in b
            if not is_rate and not name.startswith(DETECTION + "/"):
                continue
            kind = b.get("aggregate_name") if b.get("run_type") == "aggregate" else "single"
            if name not in order:
                order.append(name)
            values = {k: b[k] for k in fields if k in b}
            if kind == "median" or (kind == "single" and name not in medians):
                medians[name] = values
            elif kind == "cv":
                cvs[name] = values
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
    # Each subject after its floors, in COMPARISONS order; other cases last.
    subjects = list(dict.fromkeys(s for s, _, _ in COMPARISONS))
    families = []
    for subject in subjects:
        families += [floor for s, floor, _ in COMPARISONS if s == subject] + [subject]
    family_rank = {f: i for i, f in enumerate(families)}

    def rank(name):
        family, _, arg = name.partition("/")
        count = arg.rpartition(":")[2]
        return (family_rank.get(family, len(family_rank)), family,
                int(count) if count.isdigit() else 0, arg)

    order.sort(key=rank)
    rates = [n for n in order if "items_per_second" in medians.get(n, {})]
    with_latency = any(c in medians[n] for n in rates for c in LATENCY_COUNTERS)
    header = f"{'case':<42}{'median round trips/s':>22}{'cv':>8}"
    if with_latency:
        header += "".join(f"{c:>10}" for c in LATENCY_COUNTERS)
    print(header)
    for name in rates:
        m = medians[name]
        cv = cvs.get(name, {}).get("items_per_second")
        cv = f"{100 * cv:.1f}%" if cv is not None else "-"
        line = f"{name:<42}{m['items_per_second']:>22,.0f}{cv:>8}"
        if with_latency:
            line += "".join(f"{m[c]:>10,.0f}" if c in m else f"{'-':>10}" for c in LATENCY_COUNTERS)
        print(line)

    detections = [n for n in order if "detect_ms" in medians.get(n, {})]
    if detections:
        print()
        print(f"failure detection: time until members() drops the killed or stopped node "
              f"(goal <= {DETECTION_GOAL_MS} ms)")
        print(f"{'case':<42}{'median ms':>12}{'max ms':>10}{'trials/run':>12}")
        for name in detections:
            m = medians[name]
            verdict = "meets" if m["detect_ms"] <= DETECTION_GOAL_MS else "MISSES"
            worst = f"{m['detect_max_ms']:>10,.0f}" if "detect_max_ms" in m else f"{'-':>10}"
            trials = f"{m['trials']:>12.0f}" if "trials" in m else f"{'-':>12}"
            print(f"{name:<42}{m['detect_ms']:>12,.0f}{worst}{trials}  {verdict}")
            # With repetitions, the median is over the runs' medians; 'trials' is per run.

    def outstanding(arg):
        count = arg.rpartition(":")[2]
        return int(count) if count.isdigit() else 0

    for subject in subjects:
        pairs = [(floor, goal) for s, floor, goal in COMPARISONS if s == subject]
        args = sorted({n.split("/", 1)[1] for n in rates if n.startswith(subject + "/")},
                      key=outstanding)
        if not args:
            continue
        goals = sorted({goal for _, goal in pairs})
        print()
        print(f"ratio {subject} / floor (goal >= {', '.join(str(g) for g in goals)}; "
              f"cost ratio = 1 / rate ratio)")
        for arg in args:
            rate = medians[f"{subject}/{arg}"]["items_per_second"]
            for floor, goal in pairs:
                base = medians.get(f"{floor}/{arg}", {}).get("items_per_second")
                if base is None:
                    continue
                ratio = rate / base
                verdict = "meets" if ratio >= goal else "MISSES"
                print(f"  {arg:<16} vs {floor:<26} rate x{ratio:.2f}  cost x{1 / ratio:.2f}  "
                      f"{verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
