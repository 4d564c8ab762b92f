#!/usr/bin/env python3
"""Python's multiprocessing primitives against ours, side by side, in the same run.

Runs each Python counterpart of `ipc-bench sync` (an uncontended Lock acquire and release, two
processes adding to a Value under its lock, a Barrier(2) round, an Event ping-pong) and
`ipc-bench sync --json`, in turns, `--rounds` times; prints the medians and the ratios.

    python3 benches/sync_compare.py [--rounds 5] [--ipc-bench target/release/ipc-bench]
"""
import argparse
import multiprocessing as mp
import sys
import time

from side_by_side import ours, print_table

# Our figure for each primitive: the field of its `ipc-bench sync --json` record.
FIELDS = {"lock": "ns_per_op", "counter": "increments_per_second",
          "barrier": "us_per_round", "event": "us_per_round_trip"}


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
        for k, v in ours(args.ipc_bench, "sync", "primitive", FIELDS).items():
            rs[k].append(v)
    rows = [
        ("lock", "ns per acquire+release", "smaller", 4, "at least 4x as fast"),
        ("counter", "increments/s, 2 procs", "larger", 10, "at least 10x the rate"),
        ("barrier", "us per round, 2 procs", "smaller", 3, "at most a third of the time"),
        ("event", "us per round trip", "smaller", 3, "at most a third of the time"),
    ]
    print_table(f"Python {sys.version.split()[0]} multiprocessing against multiproc, "
                f"medians of {args.rounds} interleaved rounds", rows, py, rs)


if __name__ == "__main__":
    main()
