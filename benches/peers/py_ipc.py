"""Python's multiprocessing Queue and Pipe moving N small (8-byte) messages from one process to
another, as a reference for ipc-bench. Prints `queue_msgs_per_s pipe_msgs_per_s`.
Usage: python3 py_ipc.py [N]"""
import multiprocessing as mp
import sys
import time

PAYLOAD = b"x" * 8


def produce_queue(q, n):
    for _ in range(n):
        q.put(PAYLOAD)


def produce_pipe(conn, n):
    for _ in range(n):
        conn.send(PAYLOAD)


def rate(n, start, target, receive):
    p = mp.Process(target=target[0], args=target[1])
    t = time.perf_counter()
    p.start()
    for _ in range(n):
        receive()
    elapsed = time.perf_counter() - t
    p.join()
    return n / elapsed


if __name__ == "__main__":
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 200_000
    q = mp.Queue()
    q_rate = rate(n, None, (produce_queue, (q, n)), q.get)
    rx, tx = mp.Pipe(duplex=False)
    p_rate = rate(n, None, (produce_pipe, (tx, n)), rx.recv)
    print(f"{q_rate:.0f} {p_rate:.0f}")
