#!/usr/bin/env python3
"""The shared-memory channel against MPICH's shared memory, two processes of one machine,
in the same run.

Round after round, in turns (a slow moment of the machine hits both alike):

  shm     ipc-bench --transports shm: a ShmConnection, send_bytes / recv_bytes_into into a
          buffer kept from message to message
  mpich   mpiexec -n 2 mpi_pingpong: MPI_Send / MPI_Recv into a buffer kept from message to
          message (benches/peers/mpi_pingpong.c)

Three figures each, the issue's targets: 1 MiB messages one way (bytes per second), 8-byte
messages one way (messages per second), 8-byte round trips (microseconds). The same message
counts on both sides. Prints medians with [min..max] and the ratio of the medians, and the
median of the per-round ratios.

    python3 benches/shm_compare.py [--rounds 7] [--scale 4]

Needs MPICH (Debian: apt install mpich libmpich-dev).
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import tempfile

from compare import mpiexec

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MIB = 1 << 20


def run(cmd):
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{out.stdout}{out.stderr}")
    return out.stdout


def ours(bench, scale, rounds):
    records = json.loads(run([bench, "--transports", "shm", "--patterns", "1x1", "--sizes", "8,1M",
                              "--repeat", "1", "--scale", str(scale), "--rounds", str(rounds),
                              "--json"]))
    shm = [r for r in records if r["transport"] == "shm"]
    one_way = {r["payload_bytes"]: r for r in shm if r["pattern"] == "1x1"}
    pong = [r for r in shm if r["pattern"] == "ping-pong"][0]
    return {
        "1 MiB one way, GB/s": one_way[MIB]["bytes_per_second"] / 1e9,
        "8 B one way, M messages/s": one_way[8]["messages_per_second"] / 1e6,
        "8 B round trip, us": pong["round_trip_us"],
    }, (one_way[8]["messages"], one_way[MIB]["messages"])


def mpich(peer, counts, rounds):
    small = json.loads(run(mpiexec(2) + [peer, "8", str(counts[0]), str(rounds)]))
    big = json.loads(run(mpiexec(2) + [peer, str(MIB), str(counts[1]), "0"]))
    return {
        "1 MiB one way, GB/s": big["bytes_per_second"] / 1e9,
        "8 B one way, M messages/s": small["messages_per_second"] / 1e6,
        "8 B round trip, us": small["round_trip_us"],
    }


def spread(values):
    return f"{statistics.median(values):8.3f} [{min(values):.3f}..{max(values):.3f}]"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--scale", type=float, default=4,
                    help="ipc-bench's --scale: 4 = 800000 small and 256 large messages")
    ap.add_argument("--round-trips", type=int, default=20000)
    args = ap.parse_args()
    if not (shutil.which("mpicc") and shutil.which("mpiexec")):
        raise SystemExit("needs mpicc and mpiexec (Debian: apt install mpich libmpich-dev)")
    subprocess.run(["cargo", "build", "--release", "--quiet", "-p", "multiproc-apps",
                    "--bin", "ipc-bench"], cwd=ROOT, check=True)
    bench = os.path.join(ROOT, "target", "release", "ipc-bench")
    with tempfile.TemporaryDirectory() as tmp:
        peer = os.path.join(tmp, "mpi_pingpong")
        subprocess.run(["mpicc", "-O3", "-o", peer,
                        os.path.join(ROOT, "benches", "peers", "mpi_pingpong.c")], check=True)
        seen = {"shm": [], "mpich": []}
        for r in range(args.rounds):
            mine, counts = ours(bench, args.scale, args.round_trips)
            theirs = mpich(peer, counts, args.round_trips)
            seen["shm"].append(mine)
            seen["mpich"].append(theirs)
            print(f"round {r + 1}: " + "; ".join(
                f"{k}: shm {mine[k]:.3f}, mpich {theirs[k]:.3f}" for k in mine), flush=True)
    print(f"\n{args.rounds} rounds; {counts[0]} messages of 8 B, {counts[1]} of 1 MiB, "
          f"{args.round_trips} round trips; medians [min..max]\n")
    print(f"  {'figure':<28} {'shm':>24} {'mpich':>24} {'shm/mpich':>10} {'per round':>10}")
    for key in seen["shm"][0]:
        a = [x[key] for x in seen["shm"]]
        b = [x[key] for x in seen["mpich"]]
        per_round = statistics.median(x / y for x, y in zip(a, b))
        print(f"  {key:<28} {spread(a):>24} {spread(b):>24} "
              f"{statistics.median(a) / statistics.median(b):>10.2f} {per_round:>10.2f}")
    print("\nTargets: 1 MiB and 8 B one way at least 1.00; the round trip at most 3.00 "
          "(an idle shm reader sleeps; an MPICH rank spins: see tests/shm_channel.rs).")


if __name__ == "__main__":
    main()
