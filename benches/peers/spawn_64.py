"""What Python pays to start and join N processes that do nothing. Usage: spawn_64.py N"""
import multiprocessing
import sys
import time


def nothing():
    pass


if __name__ == "__main__":
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 64
    tic = time.perf_counter()
    procs = [multiprocessing.Process(target=nothing) for _ in range(n)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    print(f"{time.perf_counter() - tic:.6f}")
