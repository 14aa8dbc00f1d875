"""A Python participant in a process of its own, for the binding's tests.

    worker.py produce QUEUE TAG COUNT   send COUNT pattern messages of
                                        producer TAG, then an end marker
    worker.py ack_hold QUEUE ACKS HOLD  ack-mode consumer: receive and ack
                                        ACKS messages, then receive HOLD
                                        more without acking them; print
                                        "acked SEQ" / "held SEQ" for each,
                                        then "holding", and wait on stdin
                                        (the test kills it)
    worker.py block_recv QUEUE          consumer: print "ready", then block
                                        in recv() until Ctrl-C (SIGINT);
                                        print "interrupted" and exit 0
"""

import signal
import sys

import ipcq
from pattern import fill, header


def produce(name, tag, count):
    with ipcq.Queue.open(name) as q:
        q.attach(producer=True, name="py-producer-%d" % tag)
        for seq in range(1, count + 1):
            q.send(fill(tag, seq), timeout=30)
        q.send(b"", timeout=30)


def ack_hold(name, acks, hold):
    q = ipcq.Queue.open(name)
    q.attach(consumer=True, ack=True, prefetch=hold, name="py-victim")
    for _ in range(acks):
        data = q.recv(timeout=30)
        q.ack(q.last_info.token)
        print("acked %d" % header(data)[1])
    for _ in range(hold):
        data = q.recv(timeout=30)
        print("held %d" % header(data)[1])
    print("holding")
    sys.stdin.read()  # until killed


def block_recv(name):
    # Ctrl-C raises KeyboardInterrupt even when this process was started
    # with SIGINT ignored (as a shell's background job inherits it), for
    # then Python installs no handler of its own
    signal.signal(signal.SIGINT, signal.default_int_handler)
    with ipcq.Queue.open(name) as q:
        q.attach(consumer=True, name="py-blocked")
        print("ready")
        try:
            q.recv()
        except KeyboardInterrupt:
            print("interrupted")
            return
    print("received a message")
    sys.exit(1)


if __name__ == "__main__":
    mode, args = sys.argv[1], sys.argv[2:]
    if mode == "produce":
        produce(args[0], int(args[1]), int(args[2]))
    elif mode == "ack_hold":
        ack_hold(args[0], int(args[1]), int(args[2]))
    elif mode == "block_recv":
        block_recv(args[0])
    else:
        sys.exit("worker.py: unknown mode %r" % mode)
