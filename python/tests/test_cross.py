"""Python and C on one queue, each in processes of their own: Python
producers with a C consumer, C producers with a Python consumer.  Every
message is checked: the set sent, each producer's order, every byte."""

import subprocess

import numpy as np

import ipcq
from conftest import worker
from pattern import fill, header, peer_len

COUNT = 20000


def test_python_producers_c_consumer(qname, peer):
    with ipcq.Queue.create(qname, capacity=256, max_msg_size=256):
        consumer = subprocess.Popen([peer, "consume", qname, "2"], stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT, text=True)
        producers = [worker("produce", qname, str(tag), str(COUNT)) for tag in (1, 2)]
        for p in producers:
            assert p.wait(timeout=60) == 0
        out, _ = consumer.communicate(timeout=60)
        assert consumer.returncode == 0, out
        assert out.strip() == "received %d from 2 producers: 1=%d 2=%d" % (2 * COUNT, COUNT, COUNT)


def test_c_producers_python_consumer(qname, peer):
    with ipcq.Queue.create(qname, capacity=256, max_msg_size=256) as q:
        q.attach(consumer=True)
        producers = [subprocess.Popen([peer, "produce", qname, str(tag), str(COUNT)])
                     for tag in (3, 4)]
        last = {3: 0, 4: 0}
        into = bytearray(256)
        ends = 0
        received = 0
        while ends < 2:
            # Every other message through recv_into() (a caller's buffer).
            if received % 2:
                n = q.recv_into(into, timeout=30)
                data = bytes(into[:n])
            else:
                data = q.recv(timeout=30)
            assert q.last_info.len == len(data)
            if not data:
                ends += 1
                continue
            tag, seq = header(data)
            assert tag in last and seq == last[tag] + 1, (tag, seq, last)
            assert len(data) == peer_len(seq) and data == fill(tag, seq)
            last[tag] = seq
            received += 1
        for p in producers:
            assert p.wait(timeout=60) == 0
        assert last == {3: COUNT, 4: COUNT}
        assert received == 2 * COUNT
        assert q.info()["depth"] == 0


def test_numpy_array_from_c_pattern(qname, peer):
    """A C message received straight into a numpy array."""
    with ipcq.Queue.create(qname, capacity=16, max_msg_size=256) as q:
        q.attach(consumer=True)
        subprocess.run([peer, "produce", qname, "5", "3"], check=True, timeout=60)
        for seq in (1, 2, 3):
            arr = np.zeros(256, dtype=np.uint8)
            n = q.recv_into(arr, timeout=30)
            assert arr[:n].tobytes() == fill(5, seq)
        assert q.recv(timeout=30) == b""
