#!/usr/bin/env python3
"""pi-master beside its peers, on the same steps, on this machine.

Runs each program in turn, round after round (so a slow moment of the machine hits all of
them alike), and prints the median wall time of each, as seen from outside (process start to
exit), with the ratios the project's targets are stated in. Peers whose tools are missing
(gcc with OpenMP, mpicc and mpiexec, python3) are skipped and said to be.

    python3 benches/compare.py [--rounds 5] [--skip-python]

Builds pi-master and the `pi_threads` example in release mode first.
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PEERS = os.path.join(ROOT, "benches", "peers")


def sh(cmd, **kw):
    return subprocess.run(cmd, check=True, capture_output=True, text=True, **kw)


def timed(cmd, env=None):
    env = dict(os.environ, **(env or {}))
    t = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t
    if out.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed: {out.stderr.strip()}")
    return wall, out.stdout


def build(tmp):
    sh(["cargo", "build", "--release", "--quiet", "--bin", "pi-master", "--example", "pi_threads"], cwd=ROOT)
    target = os.path.join(ROOT, "target", "release")
    tools = {
        "pi-master": os.path.join(target, "pi-master"),
        "threads": os.path.join(target, "examples", "pi_threads"),
    }
    if shutil.which("gcc"):
        exe = os.path.join(tmp, "pi_omp")
        try:
            sh(["gcc", "-O3", "-march=native", "-ffast-math", "-fopenmp", "-o", exe, os.path.join(PEERS, "pi_omp.c")])
            tools["omp"] = exe
        except subprocess.CalledProcessError as e:
            print(f"skipping OpenMP: {e.stderr.strip()}")
        exe = os.path.join(tmp, "bare_reexec")
        sh(["gcc", "-O2", "-o", exe, os.path.join(PEERS, "bare_reexec.c")])
        tools["bare"] = exe
    else:
        print("skipping OpenMP: no gcc")
    if shutil.which("mpicc") and shutil.which("mpiexec"):
        exe = os.path.join(tmp, "pi_mpi")
        sh(["mpicc", "-O3", "-o", exe, os.path.join(PEERS, "pi_mpi.c")])
        tools["mpi"] = exe
    else:
        print("skipping MPI: no mpicc/mpiexec (Debian: apt-get install mpich libmpich-dev)")
    return tools


def mpiexec(n):
    cmd = ["mpiexec", "-n", str(n)]
    # Open MPI refuses root without this flag; MPICH does not know it.
    version = subprocess.run(["mpiexec", "--version"], capture_output=True, text=True).stdout
    if "Open MPI" in version and os.geteuid() == 0:
        cmd.append("--allow-run-as-root")
    return cmd


def race(rounds, contestants):
    """contestants: name -> (cmd, env). Returns name -> list of wall seconds."""
    walls = {name: [] for name in contestants}
    for _ in range(rounds):
        for name, (cmd, env) in contestants.items():
            walls[name].append(timed(cmd, env)[0])
    return walls


def show(title, walls, base):
    print(f"\n{title}")
    print(f"  {'program':<34} {'median s':>10} {'vs pi-master':>13}")
    med = {k: statistics.median(v) for k, v in walls.items()}
    for name, m in med.items():
        print(f"  {name:<34} {m:>10.4f} {m / med[base]:>12.2f}x")
    return med


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--skip-python", action="store_true", help="skip the course's Python (5 s a run)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tools = build(tmp)
        pm = tools["pi-master"]
        verdicts = []

        # 1. 10^9 steps on 2 processes against the limit and OpenMP at its best.
        c = {
            "pi-master --procs 2": ([pm, "--procs", "2", "--steps", "1e9", "--no-progress"], None),
            "same kernel, 2 threads, 1 process": ([tools["threads"], "1e9", "2"], None),
        }
        if "omp" in tools:
            c["OpenMP -O3 -march=native -ffast-math"] = ([tools["omp"], "1000000000"], {"OMP_NUM_THREADS": "2"})
        med = show("10^9 steps, 2 workers", race(args.rounds, c), "pi-master --procs 2")
        r = med["pi-master --procs 2"] / med["same kernel, 2 threads, 1 process"]
        verdicts.append((f"pi-master / 2-thread kernel = {r:.2f} (target <= 1.10)", r <= 1.10))
        if "omp" in tools:
            r = med["pi-master --procs 2"] / med["OpenMP -O3 -march=native -ffast-math"]
            verdicts.append((f"pi-master / OpenMP best = {r:.2f} (target <= 1.10)", r <= 1.10))

        # 2. 10^8 steps on 2 processes against the course's Python and the usual MPI.
        c = {"pi-master --procs 2": ([pm, "--procs", "2", "--steps", "1e8", "--no-progress"], None)}
        if "mpi" in tools:
            c["MPI, mpiexec -n 2 (cyclic split)"] = (mpiexec(2) + [tools["mpi"], "100000000"], None)
        if not args.skip_python:
            c["course Python, 2 processes"] = ([sys.executable, os.path.join(PEERS, "pi_processes.py"), "1e8", "2"], None)
        rounds = args.rounds if args.skip_python else min(args.rounds, 3)
        med = show("10^8 steps, 2 workers", race(rounds, c), "pi-master --procs 2")
        if "course Python, 2 processes" in med:
            r = med["course Python, 2 processes"] / med["pi-master --procs 2"]
            verdicts.append((f"course Python / pi-master = {r:.0f} (target >= 200)", r >= 200))
        if "MPI, mpiexec -n 2 (cyclic split)" in med:
            r = med["MPI, mpiexec -n 2 (cyclic split)"] / med["pi-master --procs 2"]
            verdicts.append((f"MPI / pi-master = {r:.1f} (target >= 4)", r >= 4))

        # 3. Starting and joining 64 processes with almost no work.
        walls = {"pi-master --procs 64 --steps 64": [], "Python: start+join 64 Processes": []}
        if "bare" in tools:
            walls["C: posix_spawn self 64 times (floor)"] = []
        for _ in range(args.rounds):
            out = timed([pm, "--procs", "64", "--steps", "64", "--json"])[1]
            walls["pi-master --procs 64 --steps 64"].append(json.loads(out)["wall_seconds"])
            out = timed([sys.executable, os.path.join(PEERS, "spawn_64.py"), "64"])[1]
            walls["Python: start+join 64 Processes"].append(float(out))
            if "bare" in tools:
                out = timed([tools["bare"], "64"])[1]
                walls["C: posix_spawn self 64 times (floor)"].append(float(out))
        med = show("64 workers, almost no work (time inside each program)", walls, "pi-master --procs 64 --steps 64")
        r = med["pi-master --procs 64 --steps 64"] / med["Python: start+join 64 Processes"]
        verdicts.append((f"pi-master / Python for 64 processes = {r:.2f} (target <= 0.33)", r <= 1 / 3))

        # 4. Small messages between two processes, against Python's Queue and Pipe.
        py = [timed([sys.executable, os.path.join(PEERS, "py_ipc.py"), "200000"])[1].split() for _ in range(3)]
        py_queue = statistics.median(float(p[0]) for p in py)
        py_pipe = statistics.median(float(p[1]) for p in py)
        bench = os.path.join(ROOT, "target", "release", "ipc-bench")
        sh(["cargo", "build", "--release", "--quiet", "--bin", "ipc-bench"], cwd=ROOT)
        records = json.loads(timed([bench, "--json", "--sizes", "8", "--patterns", "1x1", "--repeat", "3", "--rounds", "1000"])[1])
        rates = {r["transport"]: r["messages_per_second"] for r in records if r["pattern"] == "1x1"}
        print("\n8-byte messages, 1 producer -> 1 consumer (messages per second)")
        print(f"  Python multiprocessing.Queue {py_queue:>12.0f}")
        print(f"  Python multiprocessing.Pipe  {py_pipe:>12.0f}")
        for t in ("raw-pipe", "pipe", "queue"):
            print(f"  {t:<28} {rates[t]:>12.0f}")
        r = rates["queue"] / py_queue
        verdicts.append((f"Queue / Python Queue, 8-byte messages = {r:.1f} (target >= 3, over 500k/s: {rates['queue']:.0f}/s)", r >= 3 and rates["queue"] > 500_000))

        out = json.loads(timed([pm, "--procs", "256", "--steps", "256", "--json"])[1])
        ok = len(out["workers"]) == 256 and all(w["exit_code"] == 0 for w in out["workers"])
        verdicts.append((f"256 workers run and reaped in {out['wall_seconds'] * 1000:.0f} ms", ok))

        out = json.loads(timed([pm, "--procs", "2", "--steps", "1e9", "--json"])[1])
        rss = max(w["peak_rss_kib"] for w in out["workers"])
        verdicts.append((f"worker peak RSS {rss} KiB (aim < 4096)", rss < 4096))

    print("\ntargets")
    for text, ok in verdicts:
        print(f"  [{'met' if ok else 'MISSED'}] {text}")


if __name__ == "__main__":
    main()
