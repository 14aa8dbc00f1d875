"""close() from any thread at any time: a receive blocked in another thread
raises the closed error instead of using a freed handle; Peeked and
Reservation views are released by close(), and a view that something
still exports does not make release() or commit() fail."""

import errno
import pickle
import signal
import threading

import pytest

import ipcq
from test_sigint import _wait_until, _empty_receives


def test_close_while_another_thread_blocks(qname):
    with ipcq.Queue.create(qname, capacity=16) as q, ipcq.Queue.open(qname) as watch:
        c = ipcq.Queue.open(qname)
        c.attach(consumer=True, name="py-closed")
        raised = []

        def blocked():
            try:
                c.recv()
            except ipcq.Error as e:
                raised.append(e)

        t = threading.Thread(target=blocked)
        t.start()
        _wait_until(lambda: _empty_receives(watch, "py-closed") >= 2)
        c.close()
        t.join(timeout=60)
        assert not t.is_alive()
        assert len(raised) == 1 and raised[0].errno == errno.EINVAL
        assert "closed" in str(raised[0])
        # the last call in flight freed the handle: the consumer is gone
        _wait_until(lambda: q.info()["participants"] == 0)
        c.close()   # twice: nothing


def test_peeked_after_close(qname):
    with ipcq.Queue.create(qname, capacity=16) as q:
        q.attach(producer=True, consumer=True)
        q.send(b"in place")
        m = q.peek(timeout=0)
        assert bytes(m.data) == b"in place"
        q.close()
        with pytest.raises(ValueError):
            bytes(m.data)
        m.release()     # the close gave the slot back: nothing more
        with pytest.raises(ipcq.Error):
            q.peek(timeout=0)


def test_reservation_after_close(qname):
    with ipcq.Queue.create(qname, capacity=16) as q, ipcq.Queue.open(qname) as c:
        c.attach(consumer=True)
        p = ipcq.Queue.open(qname)
        p.attach(producer=True)
        w = p.reserve(timeout=0)
        w.buf[:4] = b"half"
        p.close()
        with pytest.raises(ValueError):
            w.buf[0]
        with pytest.raises(ipcq.Error):
            w.commit(4)
        # the close gave the slot up: consumers pass it
        with pytest.raises(ipcq.Error) as e:
            c.recv(timeout=0)
        assert e.value.errno == errno.EAGAIN
        assert q.info()["depth"] == 0


def test_exported_view_does_not_fail_release(qname):
    with ipcq.Queue.create(qname, capacity=16) as q:
        q.attach(producer=True, consumer=True)
        q.send(b"one")
        q.send(b"two")
        with q.peek(timeout=0) as m:
            held = pickle.PickleBuffer(m.data)   # an export of .data
        # the slot was given back all the same, and .data is released
        with pytest.raises(ValueError):
            bytes(m.data)
        assert q.recv(timeout=0) == b"two"
        held.release()
        with q.reserve(timeout=0) as w:
            held = pickle.PickleBuffer(w.buf)
            w.buf[:5] = b"three"
            assert w.commit(5) == ipcq.SEND_OK
        held.release()
        assert q.recv(timeout=0) == b"three"


def test_view_outlives_its_peeked(qname):
    with ipcq.Queue.create(qname, capacity=16) as q:
        q.attach(producer=True, consumer=True)
        q.send(b"kept")
        data = q.peek(timeout=0).data     # the Peeked itself is garbage
        assert bytes(data) == b"kept"
        buf = q.reserve(timeout=0).buf
        q.close()
        with pytest.raises(ValueError):
            bytes(data)
        with pytest.raises(ValueError):
            buf[0] = 1


def test_detach_releases_views(qname):
    with ipcq.Queue.create(qname, capacity=16) as q:
        q.attach(producer=True, consumer=True)
        for m in (b"one", b"two", b"three"):
            q.send(m)
        m1 = q.peek(timeout=0)
        w1 = q.reserve(timeout=0)
        q.detach()      # gives m1's slot back and w1's up
        with pytest.raises(ValueError):
            bytes(m1.data)
        with pytest.raises(ValueError):
            w1.buf[0]
        q.attach(producer=True, consumer=True)
        m2 = q.peek(timeout=0)
        assert bytes(m2.data) == b"two"
        m1.release()    # its slot went with the detach: not m2's
        with pytest.raises(ipcq.Error) as e:
            q.peek(timeout=0)
        assert e.value.errno == errno.EALREADY
        assert bytes(m2.data) == b"two"
        m2.release()
        with q.reserve(timeout=0) as w2:
            with pytest.raises(ipcq.Error):
                w1.commit(1)    # closed by the detach: not w2's
            w2.buf[:4] = b"four"
            assert w2.commit(4) == ipcq.SEND_OK
        assert q.recv(timeout=0) == b"three"
        assert q.recv(timeout=0) == b"four"


def test_close_from_a_signal_handler(qname):
    with ipcq.Queue.create(qname, capacity=16) as q:
        c = ipcq.Queue.open(qname)
        c.attach(consumer=True)
        old = signal.signal(signal.SIGALRM, lambda *a: c.close())
        try:
            signal.setitimer(signal.ITIMER_REAL, 0.05)
            with pytest.raises(ipcq.Error) as e:
                c.recv()        # waits for ever, in slices
            assert e.value.errno == errno.EINVAL
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, old)
        assert q.info()["participants"] == 0
        c.close()
