"""examples/py_consumer.py, the Python consumer, beside the C producer
example (examples/producer.c), two producers at once: each process run as
a user would, and what the consumer prints checked."""

import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_python_consumer_of_c_producers(qname):
    producer = os.path.join(os.path.dirname(os.environ["IPCQ_PEER"]), "..", "examples", "producer")
    consumer = subprocess.Popen([sys.executable, os.path.join(ROOT, "examples", "py_consumer.py"),
                                 qname, "2"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True)
    producers = [subprocess.Popen([producer, qname, "20000"], stdout=subprocess.DEVNULL)
                 for _ in range(2)]
    for p in producers:
        assert p.wait(timeout=60) == 0
    out, _ = consumer.communicate(timeout=60)
    assert consumer.returncode == 0, out
    assert out.strip() == "received 40000 messages from 2 producer(s), each in order"
    assert not os.path.exists("/dev/shm/ipcq." + qname)
