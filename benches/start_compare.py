#!/usr/bin/env python3
"""Starting 64 workers: pi-master's two start methods against Python's, side by side.

Each round runs, in turns: `pi-master --procs 64 --steps 1000 --start spawn` and
`--start forkserver` (whole programs, timed from outside: exec, start, compute, join, exit),
and Python starting and joining 64 processes that do nothing (timed inside, by Python itself,
so its interpreter's own start is not counted against it), with its default start method and
with forkserver. Prints medians with [min..max] and the median of the per-round ratios to
Python's default.

    python3 benches/start_compare.py [--rounds 9] [--procs 64]
"""
import argparse
import os
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PEER = os.path.join(ROOT, "benches", "peers", "spawn_64.py")


def whole(cmd):
    t = time.perf_counter()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, check=True)
    return time.perf_counter() - t


def python(n, method=None):
    cmd = [sys.executable, PEER, str(n)] + ([method] if method else [])
    return float(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=9)
    ap.add_argument("--procs", type=int, default=64)
    args = ap.parse_args()
    subprocess.run(["cargo", "build", "--release", "--quiet", "--bin", "pi-master"], cwd=ROOT, check=True)
    pm = os.path.join(ROOT, "target", "release", "pi-master")
    n = str(args.procs)
    default = f"Python, {args.procs} Processes ({__import__('multiprocessing').get_start_method()}), start+join"
    rows = {
        f"pi-master --procs {n} --start spawn (whole program)": lambda: whole([pm, "--procs", n, "--steps", "1000", "--start", "spawn"]),
        f"pi-master --procs {n} --start forkserver (whole program)": lambda: whole([pm, "--procs", n, "--steps", "1000", "--start", "forkserver"]),
        default: lambda: python(args.procs),
        f"Python, {args.procs} Processes (forkserver), start+join": lambda: python(args.procs, "forkserver"),
    }
    times = {k: [] for k in rows}
    for _ in range(args.rounds):
        for name, run in rows.items():
            times[name].append(run())
    width = max(map(len, rows))
    print(f"{args.rounds} rounds, in turns; medians [min..max]; ratio: median of per-round ratios to {default!r}\n")
    for name, xs in times.items():
        ratio = statistics.median(x / b for x, b in zip(xs, times[default]))
        print(f"  {name:<{width}}  {statistics.median(xs) * 1e3:7.1f} ms  [{min(xs) * 1e3:6.1f}..{max(xs) * 1e3:6.1f}]  {ratio:5.2f}")


if __name__ == "__main__":
    main()
