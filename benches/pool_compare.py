#!/usr/bin/env python3
"""Python's multiprocessing.Pool against ours, side by side, in the same run.

Runs each Python counterpart of `ipc-bench pool` (map of a million tiny tasks with the default
chunksize, imap_unordered with chunksize 1, apply one task at a time, Pool(8) started, used
for one tiny map, closed and joined) and `ipc-bench pool --json`, in turns, `--rounds` times;
prints the medians and the ratios.

    python3 benches/pool_compare.py [--rounds 5] [--ipc-bench target/release/ipc-bench]
"""
import argparse
import json
import multiprocessing as mp
import statistics
import subprocess
import sys
import time


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


def ours(binary):
    text = subprocess.run([binary, "pool", "--json", "--repeat", "1"], check=True,
                          capture_output=True, text=True).stdout
    r = {rec["what"]: rec for rec in json.loads(text)}
    return {
        "map": r["map"]["tasks_per_second"],
        "imap_unordered": r["imap_unordered"]["tasks_per_second"],
        "apply": r["apply"]["us_per_task"],
        "start": r["start"]["ms"],
    }


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
        for k, v in ours(args.ipc_bench).items():
            rs[k].append(v)
    rows = [
        ("map", "tasks/s, 1e6 tiny, 2 procs", "larger", 3, "at least 3x the rate"),
        ("imap_unordered", "tasks/s, chunksize 1", "larger", 10, "at least 10x the rate"),
        ("apply", "us per task", "smaller", 10, "at most a tenth of the time"),
        ("start", "ms, Pool(8) to join", "smaller", 2, "at most half the time"),
    ]
    print(f"Python {sys.version.split()[0]} multiprocessing.Pool against multiproc, "
          f"medians of {args.rounds} interleaved rounds\n")
    print(f"  {'what':<15} {'unit':<27} {'python':>11} {'multiproc':>11} {'ratio':>7}  target")
    for key, unit, better, need, text in rows:
        p, r = statistics.median(py[key]), statistics.median(rs[key])
        ratio = p / r if better == "smaller" else r / p
        ok = "met" if ratio >= need else "MISSED"
        spread = f"[{min(rs[key]):.4g}..{max(rs[key]):.4g}]"
        print(f"  {key:<15} {unit:<27} {p:>11.4g} {r:>11.4g} {ratio:>6.1f}x  {text}: {ok}  ours {spread}")


if __name__ == "__main__":
    main()
