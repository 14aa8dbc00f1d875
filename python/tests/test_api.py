"""The binding's API on one process: errors (errno and detail), named
producers, ack and nack, the poison side ring, stats, close."""

import errno

import pytest

import ipcq


def test_errors_carry_errno_and_detail(qname):
    with pytest.raises(ipcq.Error) as e:
        ipcq.Queue.create(qname, capacity=1000)
    assert e.value.errno == errno.EINVAL and "capacity 1000" in e.value.detail
    assert "capacity 1000" in str(e.value)
    with pytest.raises(ipcq.Error) as e:
        ipcq.Queue.open(qname)
    assert e.value.errno == errno.ENOENT
    with pytest.raises(TypeError):
        ipcq.Queue.create(qname, capacityy=16)
    with ipcq.Queue.create(qname, capacity=16, max_msg_size=64) as q:
        with pytest.raises(ipcq.Error) as e:
            ipcq.Queue.create(qname)
        assert e.value.errno == errno.EEXIST
        with pytest.raises(ipcq.Error) as e:
            q.attach(producer=True, ack=True)
        assert e.value.errno == errno.EINVAL and e.value.detail
        q.attach(producer=True, consumer=True)
        with pytest.raises(ipcq.Error) as e:
            q.send(b"x" * 65)
        assert e.value.errno == errno.EMSGSIZE
        with pytest.raises(ipcq.WouldBlock) as e:
            q.recv(timeout=0)
        assert isinstance(e.value, BlockingIOError) and e.value.errno == errno.EAGAIN
        with pytest.raises(ipcq.Timeout) as e:
            q.recv(timeout=0.01)
        assert isinstance(e.value, TimeoutError) and e.value.errno == errno.ETIMEDOUT
        q.send(b"y" * 64)
        with pytest.raises(ipcq.Error) as e:
            q.recv_into(bytearray(10))
        assert e.value.errno == errno.ENOBUFS and q.last_info.len == 64
        assert q.recv() == b"y" * 64
    with pytest.raises(ipcq.Error) as e:
        q.send(b"closed")
    assert e.value.errno == errno.EINVAL


def test_named_producer_resumes(qname):
    with ipcq.Queue.create(qname, capacity=64) as c:
        c.attach(consumer=True)
        with ipcq.Queue.open(qname) as p:
            p.attach(producer=True, dedup=True, name="feed")
            assert p.last_seq() == 0
            for seq in range(1, 11):
                assert p.send_seq(seq, b"order %d" % seq) == ipcq.SEND_OK
        with ipcq.Queue.open(qname) as p:
            p.attach(producer=True, dedup=True, name="feed")
            assert p.last_seq() == 10
            assert p.send_seq(7, b"order 7") == ipcq.SEND_DUPLICATE
            assert p.send_seq(11, b"order 11") == ipcq.SEND_OK
            with pytest.raises(ipcq.Error) as e:
                ipcq.Queue.open(qname).attach(producer=True, dedup=True, name="feed")
            assert e.value.errno == errno.EBUSY and "feed" in e.value.detail
        seen = []
        for _ in range(11):
            m = c.recv_msg(timeout=5)
            assert m.data == b"order %d" % m.info.seq and m.info.stream != 0
            seen.append(m.info.seq)
        assert seen == list(range(1, 12))
        st = c.stats()
        assert st["info"]["dedup_names"] == 1
        c.dedup_remove("feed")


def test_ack_nack_and_side_ring(qname):
    with ipcq.Queue.create(qname, capacity=16, max_deliveries=5) as q:
        q.attach(producer=True, consumer=True, ack=True, prefetch=4)
        q.send(b"again")
        q.send(b"poison")
        m = q.recv_msg()
        assert m.data == b"again" and m.info.deliveries == 1 and m.token
        assert q.nack(m) is False
        m = q.recv_msg()
        assert m.data == b"again" and m.info.redelivered and m.info.deliveries == 2
        q.ack(m.token)
        with pytest.raises(ipcq.Error) as e:
            q.ack(m.token)
        assert e.value.errno == errno.ESTALE
        m = q.recv_msg()
        assert m.data == b"poison"
        assert q.nack(m, ipcq.NACK_POISON) is True
        entries = q.poison_list()
        assert len(entries) == 1 and entries[0]["reason"] == ipcq.REASON_NACKED
        assert q.poison_peek(entries[0]["id"]) == b"poison"
        assert q.poison_replay() == 1 and q.poison_list() == []
        with q.peek() as z:
            assert bytes(z.data) == b"poison" and z.info.replayed
            token = z.token
        assert q.nack(token, ipcq.NACK_POISON) is True
        assert q.poison_purge() == 1
        info = q.info()
        assert info["depth"] == 0 and info["leased"] == 0 and info["side_depth"] == 0


def test_stats_as_dict(qname):
    with ipcq.Queue.create(qname, capacity=16) as q:
        q.attach(producer=True, consumer=True, name="both")
        q.send_batch([b"a", b"bb", bytearray(b"ccc")])
        assert [q.recv() for _ in range(3)] == [b"a", b"bb", b"ccc"]
        st = q.stats()
        assert st["info"]["capacity"] == 16 and st["participants"] == 1
        (me,) = st["participant_stats"]
        assert me["name"] == "both" and me["alive"] == 1
        assert me["sent"] == 3 and me["received"] == 3 and me["sent_bytes"] == 6
        assert qname in ipcq.list_queues()


def test_sole_producer_keeps_others_out(qname):
    """sole: the queue's only producer; another producer gets EBUSY until
    it detaches, and messages pass as usual."""
    with ipcq.Queue.create(qname, capacity=8) as q:
        q.attach(producer=True, sole=True)
        with ipcq.Queue.open(qname) as other, ipcq.Queue.open(qname) as c:
            with pytest.raises(ipcq.Error) as e:
                other.attach(producer=True)
            assert e.value.errno == errno.EBUSY
            c.attach(consumer=True, sole=True)
            # how each claims: by store, or by CAS where membarrier is refused
            store = [p["flags"] & (ipcq.PART_SOLE_STORE_ENQ | ipcq.PART_SOLE_STORE_DEQ)
                     for p in q.stats()["participant_stats"]]
            assert sorted(store) in ([0, 0], sorted([ipcq.PART_SOLE_STORE_ENQ,
                                                     ipcq.PART_SOLE_STORE_DEQ]))
            for i in range(20):
                q.send(b"s%d" % i)
                assert c.recv() == b"s%d" % i
            q.detach()
            other.attach(producer=True)
            other.send(b"after")
            assert c.recv() == b"after"


def test_late_release_holds_until_next_receive(qname):
    """late_release: a receive keeps its slot until the next receive or
    release(); meanwhile a full ring stays full."""
    with ipcq.Queue.create(qname, capacity=4) as q:
        q.attach(producer=True)
        with ipcq.Queue.open(qname) as c:
            c.attach(consumer=True, late_release=True)
            for i in range(4):
                q.send(b"m%d" % i)
            assert c.recv() == b"m0"
            with pytest.raises(ipcq.Error) as e:
                q.send(b"x", timeout=0)
            assert e.value.errno == errno.EAGAIN
            c.release()
            q.send(b"m4", timeout=0)
            assert c.recv() == b"m1"
            with pytest.raises(ipcq.Error):
                q.send(b"x", timeout=0)
            assert c.recv() == b"m2"
            q.send(b"m5", timeout=0)
            with pytest.raises(ipcq.Error) as e:
                c.release()
                c.release()
            assert e.value.errno == errno.EINVAL


def test_expiry_and_delayed_retry(qname):
    """send_ttl(): a message past its time to live is never delivered, and
    goes to the side ring on a queue that keeps expired ones; nack(delay=)
    keeps a message back until its time."""
    import time
    with ipcq.Queue.create(qname, capacity=16, flags=ipcq.CF_EXPIRED_TO_SIDE) as q:
        q.attach(producer=True, consumer=True, ack=True, prefetch=4)
        q.send_ttl(b"stale", 1e-9)
        q.send_ttl(b"fresh", 3600)
        q.send(b"plain")
        m = q.recv_msg()
        assert m.data == b"fresh"
        t0 = time.monotonic()
        assert q.nack(m, delay=0.2) is False
        m2 = q.recv_msg()
        assert m2.data == b"plain"
        q.ack(m2)
        with pytest.raises(ipcq.WouldBlock):
            q.recv_msg(timeout=0)
        m = q.recv_msg(timeout=5)
        assert m.data == b"fresh" and m.info.redelivered
        assert time.monotonic() - t0 >= 0.2
        q.ack(m)
        entries = q.poison_list()
        assert [e["reason"] for e in entries] == [ipcq.REASON_EXPIRED]
        assert q.poison_peek(entries[0]["id"]) == b"stale"
        with pytest.raises(ValueError):
            q.nack(1, ipcq.NACK_POISON, delay=1)


def test_ttl_needs_expiry(qname):
    with ipcq.Queue.create(qname, capacity=16) as q:
        q.attach(producer=True)
        with pytest.raises(ipcq.Error) as e:
            q.send_ttl(b"x", 1)
        assert e.value.errno == errno.EINVAL and "IPCQ_CF_EXPIRY" in str(e.value)


def test_per_key_order(qname):
    """send_key(): the next message of a key waits until the one before it
    is acked; another key goes past it; the key comes back in MsgInfo."""
    with ipcq.Queue.create(qname, capacity=16, flags=ipcq.CF_KEYED) as p, \
            ipcq.Queue.open(qname) as c1, ipcq.Queue.open(qname) as c2:
        p.attach(producer=True)
        c1.attach(consumer=True, ack=True, prefetch=4)
        c2.attach(consumer=True, ack=True, prefetch=4)
        p.send_key(b"a1", 7)
        p.send_key(b"a2", 7)
        p.send_key(b"b1", 2**64 - 1)
        p.send(b"plain")
        m = c1.recv_msg(timeout=0)
        assert m.data == b"a1" and m.info.key == 7 and not m.info.redelivered
        got = [c2.recv_msg(timeout=0) for _ in range(2)]
        assert [g.data for g in got] == [b"b1", b"plain"]
        assert got[0].info.key == 2**64 - 1 and got[1].info.key is None
        with pytest.raises(ipcq.WouldBlock):
            c2.recv_msg(timeout=0)      # a2 waits for a1
        assert p.info()["key_waiting"] == 1
        c1.ack(m)
        m2 = c2.recv_msg(timeout=5)
        assert m2.data == b"a2" and m2.info.key == 7 and not m2.info.redelivered
        for g in got + [m2]:
            c2.ack(g)
    ipcq.unlink(qname)
    with ipcq.Queue.create(qname, capacity=16) as q:
        q.attach(producer=True)
        with pytest.raises(ipcq.Error) as e:
            q.send_key(b"x", 1)
        assert e.value.errno == errno.EINVAL and "IPCQ_CF_KEYED" in str(e.value)


def test_priority_lanes(qname):
    """send_priority(): with the guard off (priority_share=0) a receive
    takes the highest lane first, each lane in send order; MsgInfo.priority
    and info()["lanes"] tell the lanes; send() goes to lane 0."""
    with ipcq.Queue.create(qname, capacity=16, priorities=4, priority_share=0) as q:
        q.attach(producer=True, consumer=True)
        info = q.info()
        assert info["priorities"] == 4 and info["priority_share"] == 0
        for i in range(10):
            for prio in range(4):
                assert q.send_priority(b"%d-%d" % (prio, i), prio, timeout=0) == ipcq.SEND_OK
        info = q.info()
        assert info["lanes"] == [10, 10, 10, 10] and info["depth"] == 40
        assert info["lane_enqueued"] == [10, 10, 10, 10]
        got = [q.recv_msg(timeout=0) for _ in range(40)]
        for k, m in enumerate(got):
            prio, i = 3 - k // 10, k % 10
            assert m.data == b"%d-%d" % (prio, i), (k, m.data)
            assert m.info.priority == prio
            assert ipcq._msg_priority(m.info.flags) == prio
        with pytest.raises(ipcq.WouldBlock):
            q.recv(timeout=0)
        info = q.info()
        assert info["lanes"] == [0, 0, 0, 0] and info["lane_dequeued"] == [10, 10, 10, 10]
        q.send(b"plain")
        q.send_priority(b"top", 3)
        assert q.info()["lanes"] == [1, 0, 0, 1]
        m = q.recv_msg(timeout=0)
        assert m.data == b"top" and m.info.priority == 3
        m = q.recv_msg(timeout=0)
        assert m.data == b"plain" and m.info.priority == 0
        with pytest.raises(ipcq.Error) as e:
            q.send_priority(b"x", 4)
        assert e.value.errno == errno.EINVAL
    ipcq.unlink(qname)
    with ipcq.Queue.create(qname, capacity=16) as q:
        q.attach(producer=True, consumer=True)
        assert q.info()["priorities"] <= 1
        q.send_priority(b"low", 0)
        m = q.recv_msg(timeout=0)
        assert m.data == b"low" and m.info.priority == 0
        assert q.info()["lanes"] == [0]
        with pytest.raises(ipcq.Error) as e:
            q.send_priority(b"x", 1)
        assert e.value.errno == errno.EINVAL
    ipcq.unlink(qname)
    for bad in ({"max_groups": 2}, {"flags": ipcq.CF_KEYED},
                {"high_watermark": 8, "low_watermark": 4}):
        with pytest.raises(ipcq.Error) as e:
            ipcq.Queue.create(qname, capacity=16, priorities=2, **bad)
        assert e.value.errno == errno.ENOTSUP, bad


def test_consumer_groups(qname):
    with ipcq.Queue.create(qname, capacity=8, max_msg_size=64, max_groups=3) as q:
        assert q.group_create("audit") == 0
        assert q.group_create("tap", lossy=True) == 1
        with pytest.raises(ipcq.Error) as e:
            q.group_create("audit")
        assert e.value.errno == errno.EEXIST
        with ipcq.Queue.open(qname) as a, ipcq.Queue.open(qname) as t, \
                ipcq.Queue.open(qname) as p:
            with pytest.raises(ipcq.Error) as e:
                a.attach(consumer=True)  # a group is required here
            assert e.value.errno == errno.EINVAL
            a.attach(consumer=True, group="audit")
            t.attach(consumer=True, group="tap")
            p.attach(producer=True)
            for i in range(8):
                p.send(b"m%d" % i)
            # the durable group holds the ring; the lossy one does not
            with pytest.raises(ipcq.WouldBlock):
                p.send(b"x", timeout=0)
            assert [a.recv(timeout=0) for _ in range(8)] == [b"m%d" % i for i in range(8)]
            for i in range(8, 24):
                p.send(b"m%d" % i)
                assert a.recv(timeout=0) == b"m%d" % i
            # the tap reader, two laps behind, is told what it missed
            data = t.recv(timeout=0)
            info = t.last_info
            assert info.flags & ipcq.MSG_GAP and info.gap == int(data[1:]) > 0
            groups = {g["name"]: g for g in q.groups()}
            assert groups["audit"]["lag"] == 0 and groups["audit"]["members"] == 1
            assert groups["tap"]["dropped"] == info.gap
            with pytest.raises(ipcq.Error) as e:
                q.group_remove("audit")
            assert e.value.errno == errno.EBUSY
        q.group_remove("audit")
        assert [g["name"] for g in q.groups()] == ["tap"]
