"""numpy arrays in and out without a copy, checked by address where the
API promises it: send() passes the array's own memory, recv_into() fills
the caller's array, reserve() and peek() hand out memory inside the
queue's mapping (/proc/self/maps)."""

import os

import numpy as np
import pytest

import ipcq


def _mapping(name):
    """(start, end) of this process's mapping of the queue's segment (found
    by its inode: the creator maps the file before it has its name)."""
    st = os.stat("/dev/shm/ipcq." + name)
    with open("/proc/self/maps") as f:
        for line in f:
            fields = line.split()
            if len(fields) >= 6 and int(fields[4]) == st.st_ino and fields[5].startswith("/dev/shm/"):
                lo, hi = fields[0].split("-")
                return int(lo, 16), int(hi, 16)
    raise AssertionError("no mapping of /dev/shm/ipcq." + name)


@pytest.fixture
def q(qname):
    with ipcq.Queue.create(qname, capacity=16, max_msg_size=8192) as q:
        q.attach(producer=True, consumer=True)
        yield q


def test_send_passes_the_array_memory(q):
    src = np.arange(1000, dtype=np.float64)
    # What send() hands to ipcq_send: the array's buffer, not a copy.
    buf = ipcq._ffi.from_buffer(src)
    assert int(ipcq._ffi.cast("uintptr_t", buf)) == src.ctypes.data and len(buf) == src.nbytes
    q.send(src)
    out = np.zeros(1000, dtype=np.float64)
    where = out.ctypes.data
    assert q.recv_into(out) == src.nbytes
    assert out.ctypes.data == where and np.array_equal(out, src)


def test_non_contiguous_array_refused(q):
    a = np.arange(100, dtype=np.int64)[::2]
    with pytest.raises((BufferError, ValueError, TypeError)):
        q.send(a)
    assert q.info()["depth"] == 0


def test_zero_copy_round_trip_in_the_mapping(q, qname):
    lo, hi = _mapping(qname)
    src = np.linspace(0.0, 1.0, 1000)
    with q.reserve() as w:
        assert lo <= w.address < hi
        a = np.frombuffer(w.buf, dtype=np.float64, count=1000)
        assert a.ctypes.data == w.address
        a[:] = src
        del a
        assert w.commit(src.nbytes) == ipcq.SEND_OK
    with q.peek() as m:
        assert lo <= m.address < hi and m.address + len(m.data) <= hi
        b = np.frombuffer(m.data, dtype=np.float64)
        assert b.ctypes.data == m.address and np.array_equal(b, src)
        assert not b.flags.writeable
        del b
    assert q.info()["depth"] == 0


def test_released_view_is_gone(q):
    q.send(b"x" * 64)
    with q.peek() as m:
        assert m.data[0] == ord("x")
    with pytest.raises(ValueError):
        m.data[0]
    assert q.info()["depth"] == 0


def test_reservation_left_uncommitted_sends_nothing(q):
    with q.reserve() as w:
        w.buf[:4] = b"lost"
    q.send(b"kept")
    assert q.recv(timeout=5) == b"kept"
    with pytest.raises(ipcq.WouldBlock):
        q.recv(timeout=0)
