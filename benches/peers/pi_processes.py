"""The course's PI PARALELO exercise, ported to Python 3 and corrected: every index of
range(steps) is computed exactly once, and the partial sums come back through a Pool.
Usage: python3 pi_processes.py STEPS PROCS"""
import multiprocessing
import sys
import time


def partial(args):
    start, end, step = args
    s = 0.0
    for i in range(start, end):
        x = (i + 0.5) * step
        s += 4.0 / (1.0 + x * x)
    return s


if __name__ == "__main__":
    steps = int(float(sys.argv[1])) if len(sys.argv) > 1 else 100_000_000
    procs = int(sys.argv[2]) if len(sys.argv) > 2 else 2
    step = 1.0 / steps
    bounds = [steps * k // procs for k in range(procs + 1)]
    tic = time.time()
    with multiprocessing.Pool(procs) as pool:
        sums = pool.map(partial, [(bounds[k], bounds[k + 1], step) for k in range(procs)])
    print(f"{step * sum(sums):.17g} {time.time() - tic:.6f}")
