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
import multiprocessing as mp
import os
import time

import ipcq

SIZES = (64, 65536)
COUNTS = {64: 400000, 65536: 20000}


def ipcq_producer(name, size, n, go):
    with ipcq.Queue.open(name) as q:
        q.attach(producer=True)
        msg = b"x" * size
        send = q.send
        go.wait()
        for _ in range(n):
            send(msg)


def run_ipcq(size, n, into):
    name = "bench.py.%d" % os.getpid()
    with ipcq.Queue.create(name, capacity=1024 if size <= 4096 else 256,
                           max_msg_size=size) as q:
        q.attach(consumer=True)
        go = mp.Event()
        p = mp.Process(target=ipcq_producer, args=(name, size, n, go))
        p.start()
        buf = bytearray(size)
        go.set()
        t0 = time.perf_counter()
        if into:
            recv_into = q.recv_into
            for _ in range(n):
                recv_into(buf)
        else:
            recv = q.recv
            for _ in range(n):
                recv()
        dt = time.perf_counter() - t0
        p.join()
    ipcq.unlink(name)
    return dt


def mpq_producer(queue, size, n, go):
    msg = b"x" * size
    put = queue.put
    go.wait()
    for _ in range(n):
        put(msg)


def run_mpq(size, n):
    queue = mp.Queue(maxsize=1024)
    go = mp.Event()
    p = mp.Process(target=mpq_producer, args=(queue, size, n, go))
    p.start()
    get = queue.get
    go.set()
    t0 = time.perf_counter()
    for _ in range(n):
        get()
    dt = time.perf_counter() - t0
    p.join()
    return dt


def pipe_producer(conn, size, n, go):
    msg = b"x" * size
    send = conn.send_bytes
    go.wait()
    for _ in range(n):
        send(msg)


def run_pipe(size, n):
    r, w = mp.Pipe(duplex=False)
    go = mp.Event()
    p = mp.Process(target=pipe_producer, args=(w, size, n, go))
    p.start()
    recv = r.recv_bytes
    go.set()
    t0 = time.perf_counter()
    for _ in range(n):
        recv()
    dt = time.perf_counter() - t0
    p.join()
    return dt


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-n", "--scale", type=float, default=1.0,
                    help="multiply the message counts (default 1)")
    args = ap.parse_args()
    mp.set_start_method("fork")
    print("ipcq %s (%s), Python %s, %d CPUs" % (ipcq.version(), ipcq.library_path(),
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
