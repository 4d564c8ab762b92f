#!/usr/bin/env python3
"""Python's multiprocessing.Pool against ours, side by side, in the same run.

Runs each Python counterpart of `ipc-bench pool` (map of a million tiny tasks with the default
chunksize, imap_unordered with chunksize 1, apply one task at a time, Pool(8) started, used
for one tiny map, closed and joined) and `ipc-bench pool --json`, in turns, `--rounds` times;
prints the medians and the ratios.

    python3 benches/pool_compare.py [--rounds 5] [--ipc-bench target/release/ipc-bench]
"""
import argparse
import multiprocessing as mp
import sys
import time

from side_by_side import ours, print_table

# Our figure for each case: the field of its `ipc-bench pool --json` record.
FIELDS = {"map": "tasks_per_second", "imap_unordered": "tasks_per_second",
          "apply": "us_per_task", "start": "ms"}


def square(x):
    return x * x


def py_round():
    out = {}
    with mp.Pool(2) as pool:
        t = time.perf_counter()
        pool.map(square, range(10**6))
        out["map"] = 10**6 / (time.perf_counter() - t)
        t = time.perf_counter()
        for _ in pool.imap_unordered(square, range(10**5), chunksize=1):
            pass
        out["imap_unordered"] = 10**5 / (time.perf_counter() - t)
        pool.apply(square, (1,))
        t = time.perf_counter()
        for i in range(2000):
            pool.apply(square, (i,))
        out["apply"] = (time.perf_counter() - t) * 1e6 / 2000
    t = time.perf_counter()
    pool = mp.Pool(8)
    pool.map(square, range(8))
    pool.close()
    pool.join()
    out["start"] = (time.perf_counter() - t) * 1e3
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--ipc-bench", default="target/release/ipc-bench")
    args = ap.parse_args()
    mp.set_start_method("fork" if sys.version_info < (3, 14) else "forkserver")
    keys = ["map", "imap_unordered", "apply", "start"]
    py = {k: [] for k in keys}
    rs = {k: [] for k in keys}
    for _ in range(args.rounds):
        for k, v in py_round().items():
            py[k].append(v)
        for k, v in ours(args.ipc_bench, "pool", "what", FIELDS).items():
            rs[k].append(v)
    rows = [
        ("map", "tasks/s, 1e6 tiny, 2 procs", "larger", 3, "at least 3x the rate"),
        ("imap_unordered", "tasks/s, chunksize 1", "larger", 10, "at least 10x the rate"),
        ("apply", "us per task", "smaller", 10, "at most a tenth of the time"),
        ("start", "ms, Pool(8) to join", "smaller", 2, "at most half the time"),
    ]
    print_table(f"Python {sys.version.split()[0]} multiprocessing.Pool against multiproc, "
                f"medians of {args.rounds} interleaved rounds", rows, py, rs)


if __name__ == "__main__":
    main()
