#!/usr/bin/python3
"""py_consumer.py - the consumer of consumer.c, in Python: receive the
messages producer.c sends ("message 1", "message 2", ...) until every
producer has sent its end marker (an empty message), check that each
producer's messages come in order with no gap and no repeat, then remove
the queue.

    py_consumer.py [QUEUE] [PRODUCERS]     (defaults: example.orders, 1)

    PYTHONPATH=python python3 examples/py_consumer.py example.orders &
    build/release/examples/producer example.orders 100000
"""

import errno
import sys

import ipcq


def open_or_create(name):
    """Whoever comes first creates the queue (producer.c does the same)."""
    while True:
        try:
            return ipcq.Queue.open(name)
        except ipcq.Error as e:
            if e.errno != errno.ENOENT:
                raise
        try:
            return ipcq.Queue.create(name)
        except ipcq.Error as e:
            if e.errno != errno.EEXIST:
                raise


def main():
    name = sys.argv[1] if len(sys.argv) > 1 else "example.orders"
    producers = int(sys.argv[2]) if len(sys.argv) > 2 else 1
    last = {}  # producer (participant index) -> last message number
    received = ends = 0
    try:
        with open_or_create(name) as q:
            q.attach(consumer=True, name="py-consumer")
            while ends < producers:
                data = q.recv(timeout=10)  # ipcq.Timeout after 10 s of nothing
                producer = q.last_info.producer
                if not data:
                    ends += 1
                    continue
                n = int(data.split()[1])
                if n != last.get(producer, 0) + 1:
                    sys.exit("py_consumer: producer %d: message %d after %d"
                             % (producer, n, last.get(producer, 0)))
                last[producer] = n
                received += 1
        ipcq.unlink(name)
    except ipcq.Error as e:
        sys.exit("py_consumer: %s" % e)  # e.g. "ipcq_recv: timed out"
    print("received %d messages from %d producer(s), each in order" % (received, producers))


if __name__ == "__main__":
    main()
