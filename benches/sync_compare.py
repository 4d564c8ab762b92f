#!/usr/bin/env python3
"""Python's multiprocessing primitives against ours, side by side, in the same run.

Runs each Python counterpart of `ipc-bench sync` (an uncontended Lock acquire and release, two
processes adding to a Value under its lock, a Barrier(2) round, an Event ping-pong) and
`ipc-bench sync --json`, in turns, `--rounds` times; prints the medians and the ratios.

    python3 benches/sync_compare.py [--rounds 5] [--ipc-bench target/release/ipc-bench]
"""
import argparse
import json
import multiprocessing as mp
import statistics
import subprocess
import sys
import time


def py_lock(n=1_000_000):
    lock = mp.Lock()
    acquire, release = lock.acquire, lock.release
    t = time.perf_counter()
    for _ in range(n):
        acquire()
        release()
    return (time.perf_counter() - t) * 1e9 / n


def _add(go, done, value, times):
    go.wait()
    lock = value.get_lock()
    for _ in range(times):
        with lock:
            value.value += 1
    done.release()


def py_counter(each=200_000):
    go, done, value = mp.Event(), mp.Semaphore(0), mp.Value("q", 0)
    ps = [mp.Process(target=_add, args=(go, done, value, each)) for _ in range(2)]
    for p in ps:
        p.start()
    t = time.perf_counter()
    go.set()
    for _ in ps:
        done.acquire()
    seconds = time.perf_counter() - t
    for p in ps:
        p.join()
    assert value.value == 2 * each
    return 2 * each / seconds


def _rounds(barrier, n):
    for _ in range(n):
        barrier.wait()


def py_barrier(rounds=20_000):
    barrier = mp.Barrier(2)
    p = mp.Process(target=_rounds, args=(barrier, rounds + 1))
    p.start()
    barrier.wait()
    t = time.perf_counter()
    for _ in range(rounds):
        barrier.wait()
    seconds = time.perf_counter() - t
    p.join()
    return seconds * 1e6 / rounds


def _answer(ping, pong, n):
    for _ in range(n):
        ping.wait()
        ping.clear()
        pong.set()


def py_event(rounds=20_000):
    ping, pong = mp.Event(), mp.Event()
    p = mp.Process(target=_answer, args=(ping, pong, rounds + 1))
    p.start()

    def one():
        ping.set()
        pong.wait()
        pong.clear()

    one()
    t = time.perf_counter()
    for _ in range(rounds):
        one()
    seconds = time.perf_counter() - t
    p.join()
    return seconds * 1e6 / rounds


def ours(binary):
    out = subprocess.run([binary, "sync", "--json", "--repeat", "1"], check=True,
                         capture_output=True, text=True).stdout
    records = {r["primitive"]: r for r in json.loads(out)}
    return {
        "lock": records["lock"]["ns_per_op"],
        "counter": records["counter"]["increments_per_second"],
        "barrier": records["barrier"]["us_per_round"],
        "event": records["event"]["us_per_round_trip"],
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--ipc-bench", default="target/release/ipc-bench")
    args = ap.parse_args()
    mp.set_start_method("fork" if sys.version_info < (3, 14) else "forkserver")
    py = {k: [] for k in ("lock", "counter", "barrier", "event")}
    rs = {k: [] for k in py}
    for _ in range(args.rounds):
        py["lock"].append(py_lock())
        py["counter"].append(py_counter())
        py["barrier"].append(py_barrier())
        py["event"].append(py_event())
        for k, v in ours(args.ipc_bench).items():
            rs[k].append(v)
    rows = [
        ("lock", "ns per acquire+release", "smaller", 4, "at least 4x as fast"),
        ("counter", "increments/s, 2 procs", "larger", 10, "at least 10x the rate"),
        ("barrier", "us per round, 2 procs", "smaller", 3, "at most a third of the time"),
        ("event", "us per round trip", "smaller", 3, "at most a third of the time"),
    ]
    print(f"Python {sys.version.split()[0]} multiprocessing against multiproc, "
          f"medians of {args.rounds} interleaved rounds\n")
    print(f"  {'what':<9} {'unit':<24} {'python':>12} {'multiproc':>12} {'ratio':>7}  target")
    for key, unit, better, need, text in rows:
        p, r = statistics.median(py[key]), statistics.median(rs[key])
        ratio = p / r if better == "smaller" else r / p
        spread = f"[{min(rs[key]):.3g}..{max(rs[key]):.3g}]"
        ok = "met" if ratio >= need else "MISSED"
        print(f"  {key:<9} {unit:<24} {p:>12.4g} {r:>12.4g} {ratio:>6.1f}x  {text}: {ok}  ours {spread}")


if __name__ == "__main__":
    main()
