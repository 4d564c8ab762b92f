#!/usr/bin/env python3
"""Pipes against MPI on one machine, same steps, same process count, in the same run.

Three programs, in turns, round after round (a slow moment of the machine hits all alike):

  pipe      pi-master --procs P --steps N                      (our workers over pipes)
  mpi       mpiexec -n P pi-master --ipc mpi --steps N         (the same kernel on MPI ranks)
  C cpi     mpiexec -n P pi_mpi N                              (MPI as usually written: C,
                                                                cyclic split, MPI_Reduce;
                                                                benches/peers/pi_mpi.c)

Two times for each: the whole command, seen from outside (start to exit, mpiexec's start
included), and the time each program reports from inside (pi-master: spawn to result, or every
rank up to the result; pi_mpi: MPI_Wtime around the loop and the reduce). Medians, the spread,
and the ratio to the pipe run of the same round.

    python3 benches/mpi_compare.py [--rounds 7] [--procs 2] [--steps 1e8,1e9]

Needs MPICH (mpich, libmpich-dev, libclang-dev); builds pi-master with the `mpi` feature.
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import tempfile
import time

from compare import mpiexec

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run(cmd):
    t = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True)
    outside = time.perf_counter() - t
    if out.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{out.stdout}{out.stderr}")
    return outside, out.stdout


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--procs", type=int, default=2)
    ap.add_argument("--steps", default="1e8,1e9")
    args = ap.parse_args()
    if not (shutil.which("mpicc") and shutil.which("mpiexec")):
        raise SystemExit("needs mpicc and mpiexec (Debian: apt install mpich libmpich-dev libclang-dev)")
    subprocess.run(["cargo", "build", "--release", "--quiet", "-p", "multiproc-apps",
                    "--features", "mpi", "--bin", "pi-master"], cwd=ROOT, check=True)
    pm = os.path.join(ROOT, "target", "release", "pi-master")
    with tempfile.TemporaryDirectory() as tmp:
        cpi = os.path.join(tmp, "pi_mpi")
        subprocess.run(["mpicc", "-O3", "-o", cpi,
                        os.path.join(ROOT, "benches", "peers", "pi_mpi.c")], check=True)
        p = args.procs
        print(f"{p} processes or ranks; {args.rounds} rounds; medians [min..max]; "
              f"ratio = median of (program / pipe) within each round\n")
        for steps_text in args.steps.split(","):
            steps = int(float(steps_text))
            names = ["pipe", "mpi", "C cpi"]
            outside = {n: [] for n in names}
            inside = {n: [] for n in names}
            bits = set()
            for _ in range(args.rounds):
                o, out = run([pm, "--procs", str(p), "--steps", str(steps), "--json", "--no-progress"])
                j = json.loads(out)
                outside["pipe"].append(o)
                inside["pipe"].append(j["wall_seconds"])
                bits.add(j["pi"])
                o, out = run(mpiexec(p) + [pm, "--ipc", "mpi", "--steps", str(steps), "--json"])
                j = json.loads(out)
                outside["mpi"].append(o)
                inside["mpi"].append(j["wall_seconds"])
                bits.add(j["pi"])
                o, out = run(mpiexec(p) + [cpi, str(steps)])
                outside["C cpi"].append(o)
                inside["C cpi"].append(float(out.split()[1]))
            print(f"{steps:.0e} steps (pipe and mpi print the same pi: {len(bits) == 1})")
            print(f"  {'program':<8} {'whole command, ms':>30} {'ratio':>7}   {'inside, ms':>30} {'ratio':>7}")
            for n in names:
                def cell(xs):
                    return (f"{statistics.median(xs) * 1e3:9.2f} "
                            f"[{min(xs) * 1e3:8.2f}..{max(xs) * 1e3:8.2f}]")

                def ratio(xs, base):
                    return statistics.median(x / b for x, b in zip(xs, base))
                print(f"  {n:<8} {cell(outside[n]):>30} {ratio(outside[n], outside['pipe']):>7.2f}"
                      f"   {cell(inside[n]):>30} {ratio(inside[n], inside['pipe']):>7.2f}")
            print()


if __name__ == "__main__":
    main()
