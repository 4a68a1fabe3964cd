#!/usr/bin/env python3
"""Where a thread waits: off-CPU time from context switches, grouped by stage.

Reads the text of `perf script -F tid,time,ip,sym` for a recording of `sched:sched_switch` with
call stacks (`perf record -e sched:sched_switch --call-graph dwarf ...`). For every thread, the
time from one of its switch-outs to its next is charged to the stack it switched out in (the wait,
plus the short run after it), under the first stage (in the order given) whose pattern is a
substring of a frame of that stack, with " [fsync]" appended when a frame is an fsync or
fdatasync; stacks matching no stage count as "other". With --within, only stacks with a frame
containing that text count. Prints each stage's total, its share per unit (--per N, e.g. the
number of replaces) and the longest single wait. Used for docs/benchmarks.md, "Hot-loaded
modules". Usage:
  offcpu_stages.py FILE [--within TEXT] [--per N] --stage NAME=PATTERN [--stage ...]
"""
import argparse
import collections
import re
import sys


def read_switches(path):
    """{tid: [(time_s, [frame, ...]), ...]} in file order."""
    by_tid = collections.defaultdict(list)
    current = None
    header = re.compile(r"\s*(\d+)\s+([\d.]+):")
    with open(path) as f:
        for line in f:
            if not line.strip():
                continue
            if not line[0].isspace():
                m = header.match(line)
                current = None
                if m:
                    current = (float(m.group(2)), [])
                    by_tid[int(m.group(1))].append(current)
            elif current is not None:
                parts = line.strip().split(None, 1)
                current[1].append(parts[1] if len(parts) > 1 else parts[0])
    return by_tid


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("file")
    p.add_argument("--within", help="count only stacks with a frame containing this")
    p.add_argument("--per", type=float, default=1.0, help="divide totals by this (e.g. replaces)")
    p.add_argument("--stage", action="append", default=[], metavar="NAME=PATTERN",
                   help="a stage: the first whose pattern is in a frame gets the wait")
    args = p.parse_args()
    stages = []
    for s in args.stage:
        name, sep, pattern = s.partition("=")
        if not sep or not name or not pattern:
            sys.exit(f"--stage {s}: expected NAME=PATTERN")
        stages.append((name, pattern))
    total = collections.Counter()
    count = collections.Counter()
    longest = collections.defaultdict(float)
    for switches in read_switches(args.file).values():
        for (t, stack), (t_next, _) in zip(switches, switches[1:]):
            if args.within and not any(args.within in frame for frame in stack):
                continue
            stage = next((name for name, pattern in stages
                          if any(pattern in frame for frame in stack)), "other")
            if any("fsync" in frame or "fdatasync" in frame for frame in stack):
                stage += " [fsync]"
            ms = (t_next - t) * 1000
            total[stage] += ms
            count[stage] += 1
            longest[stage] = max(longest[stage], ms)
    print(f"{'stage':<44} {'total ms':>10} {'per unit':>10} {'waits':>7} {'longest ms':>11}")
    for stage, ms in total.most_common():
        print(f"{stage:<44} {ms:>10.1f} {ms / args.per:>10.2f} {count[stage]:>7} "
              f"{longest[stage]:>11.1f}")


if __name__ == "__main__":
    main()
