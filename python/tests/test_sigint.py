"""Ctrl-C (SIGINT) during a blocking receive raises KeyboardInterrupt in
the receiver; a thread blocked in recv() does not stop the process's
other threads."""

import signal
import threading
import time

import ipcq
from conftest import worker


def _wait_until(cond, limit=30.0):
    end = time.monotonic() + limit
    while not cond():
        assert time.monotonic() < end, "condition not met in %.0f s" % limit
        time.sleep(0.005)


def _empty_receives(q, name):
    for p in q.stats()["participant_stats"]:
        if p["name"] == name and p["alive"]:
            return p["empty"]
    return 0


def test_sigint_interrupts_blocking_recv(qname):
    with ipcq.Queue.create(qname, capacity=16) as q:
        w = worker("block_recv", qname)
        assert w.stdout.readline().strip() == "ready"
        # Inside recv(): its receives found the queue empty at least twice.
        _wait_until(lambda: _empty_receives(q, "py-blocked") >= 2)
        w.send_signal(signal.SIGINT)
        out, _ = w.communicate(timeout=30)
        assert w.returncode == 0, out
        assert out.strip() == "interrupted"
        assert q.info()["participants"] == 0


def test_blocked_thread_lets_others_run(qname):
    with ipcq.Queue.create(qname, capacity=16) as q, ipcq.Queue.open(qname) as p:
        q.attach(consumer=True, name="py-thread")
        p.attach(producer=True)
        got = []
        t = threading.Thread(target=lambda: got.append(q.recv(timeout=60)))
        t.start()
        _wait_until(lambda: _empty_receives(p, "py-thread") >= 2)
        p.send(b"wake up")
        t.join(timeout=60)
        assert got == [b"wake up"]
