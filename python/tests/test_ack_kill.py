"""A Python ack-mode consumer killed (SIGKILL) while it holds messages:
they are delivered again, to another consumer, flagged as redelivered;
the ones it acknowledged are not.  Every message is checked."""

import signal

import ipcq
from conftest import worker
from pattern import fill, header

TOTAL = 300
ACKS = 50
HOLD = 16


def test_killed_ack_consumer_messages_redelivered(qname):
    with ipcq.Queue.create(qname, capacity=512, max_msg_size=256, lease_capacity=64) as q:
        q.attach(producer=True, consumer=True, ack=True, prefetch=64)
        for seq in range(1, TOTAL + 1):
            q.send(fill(9, seq))
        victim = worker("ack_hold", qname, str(ACKS), str(HOLD))
        acked, held = set(), set()
        for line in victim.stdout:
            word, _, seq = line.strip().partition(" ")
            if word == "holding":
                break
            (acked if word == "acked" else held).add(int(seq))
        assert len(acked) == ACKS and len(held) == HOLD and not acked & held
        assert q.info()["leased"] == HOLD
        victim.send_signal(signal.SIGKILL)
        assert victim.wait(timeout=30) == -signal.SIGKILL
        victim.stdout.close()
        victim.stdin.close()

        q.recover()
        want = set(range(1, TOTAL + 1)) - acked
        got = set()
        while got != want:
            data = q.recv(timeout=30)
            info = q.last_info
            tag, seq = header(data)
            assert tag == 9 and seq in want and seq not in got, seq
            assert data == fill(9, seq)
            assert info.redelivered == (seq in held), (seq, info)
            assert info.deliveries == (2 if seq in held else 1), (seq, info)
            q.ack(info.token)
            got.add(seq)
        info = q.info()
        assert info["depth"] == 0 and info["leased"] == 0 and info["side_depth"] == 0
