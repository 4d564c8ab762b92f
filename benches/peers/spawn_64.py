"""What Python pays to start and join N processes that do nothing.

Usage: spawn_64.py N [METHOD]   (METHOD: fork, spawn or forkserver; default: Python's own)
Prints the seconds from the first start to the last join."""
import multiprocessing
import sys
import time


def nothing():
    pass


if __name__ == "__main__":
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 64
    ctx = multiprocessing.get_context(sys.argv[2] if len(sys.argv) > 2 else None)
    if ctx.get_start_method() == "forkserver":
        # Its server is started ahead, as pi-master --start forkserver starts its own.
        from multiprocessing import forkserver
        forkserver.ensure_running()
    tic = time.perf_counter()
    procs = [ctx.Process(target=nothing) for _ in range(n)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    print(f"{time.perf_counter() - tic:.6f}")
