"""Python to Python throughput: ipcq beside multiprocessing.Queue and a
multiprocessing pipe, in one run, with ratios.

    make bench-python                     (or: python3 python/bench.py [-n SCALE])

A producer process sends N messages of 64 B and of 64 KiB; the consumer
(this process) receives them; the time runs from the moment the consumer
lets the producer go to its last receive.  Each transport moves bytes
objects made once (no pickling cost on ipcq's side, pickling on
multiprocessing.Queue's: that is what a user of it pays).  ipcq is shown
twice: recv() (a new bytes object per message) and recv_into() (into one
reused bytearray).
"""

import argparse
import functools
import multiprocessing as mp
import os
import time

import ipcq

SIZES = (64, 65536)
COUNTS = {64: 400000, 65536: 20000}


def ipcq_producer(name, size, n, go):
    with ipcq.Queue.open(name) as q:
        q.attach(producer=True)
        peer_producer(q, "send", size, n, go)


def peer_producer(sender, method, size, n, go):
    """Send n messages of size bytes with sender.method, once go is set."""
    msg = b"x" * size
    send = getattr(sender, method)
    go.wait()
    for _ in range(n):
        send(msg)


def timed(producer, args, receive, n):
    """Start producer(*args, go) in a process, let it go, and return the
    seconds this process takes to receive() n messages."""
    go = mp.Event()
    p = mp.Process(target=producer, args=args + (go,))
    p.start()
    go.set()
    t0 = time.perf_counter()
    for _ in range(n):
        receive()
    dt = time.perf_counter() - t0
    p.join()
    return dt


def run_ipcq(size, n, into):
    name = "bench.py.%d" % os.getpid()
    with ipcq.Queue.create(name, capacity=1024 if size <= 4096 else 256,
                           max_msg_size=size) as q:
        q.attach(consumer=True)
        buf = bytearray(size)
        receive = functools.partial(q.recv_into, buf) if into else q.recv
        dt = timed(ipcq_producer, (name, size, n), receive, n)
    ipcq.unlink(name)
    return dt


def run_mpq(size, n):
    queue = mp.Queue(maxsize=1024)
    return timed(peer_producer, (queue, "put", size, n), queue.get, n)


def run_pipe(size, n):
    r, w = mp.Pipe(duplex=False)
    return timed(peer_producer, (w, "send_bytes", size, n), r.recv_bytes, n)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-n", "--scale", type=float, default=1.0,
                    help="multiply the message counts (default 1)")
    args = ap.parse_args()
    mp.set_start_method("fork")
    print("ipcq %s (%s), cffi %s mode, Python %s, %d CPUs"
          % (ipcq.version(), ipcq.library_path(), ipcq.backend().upper(),
             os.sys.version.split()[0], os.cpu_count()))
    print("%-26s %8s %10s %12s %10s %14s" % ("transport", "size", "messages", "msg/s",
                                             "MB/s", "ipcq recv() is"))
    for size in SIZES:
        n = max(1000, int(COUNTS[size] * args.scale))
        rows = [("ipcq recv()", run_ipcq(size, n, False)),
                ("ipcq recv_into()", run_ipcq(size, n, True)),
                ("multiprocessing.Queue", run_mpq(size, n)),
                ("multiprocessing.Pipe", run_pipe(size, n))]
        base = n / rows[0][1]
        for label, dt in rows:
            rate = n / dt
            ratio = "" if label == "ipcq recv()" else "%.1fx" % (base / rate)
            print("%-26s %8d %10d %12.0f %10.1f %14s" % (label, size, n, rate,
                                                         rate * size / 1e6, ratio))


if __name__ == "__main__":
    main()
