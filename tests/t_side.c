/* Side ring list/peek/replay/purge, nack reasons, full and absent side rings, and the ack-mode API errors (tokens, prefetch, attach, detach redelivery). */
#include "testutil.h"

#define MAXD 3u

static struct ipcq *consumer(const char *name, int ack, uint32_t prefetch)
{
	struct ipcq_attach_opts o = IPCQ_ATTACH_OPTS_INIT;
	o.flags = ack ? IPCQ_ATTACH_ACK : 0;
	o.prefetch = prefetch;
	return t_open_attach(name, IPCQ_ROLE_CONSUMER, &o);
}

/* Send message (0, seq) in the test pattern. */
static void put(struct ipcq *p, uint64_t seq)
{
	uint8_t buf[64];
	uint32_t len = t_msg_len(0, seq, 16, 64);
	t_fill(buf, len, 0, seq);
	CHECK_RC(ipcq_send(p, buf, len, IPCQ_NOWAIT), 0);
}

/* Receive one message, check it is (0, seq) and return its info. */
static struct ipcq_msginfo get(struct ipcq *c, uint64_t seq)
{
	uint8_t buf[64];
	struct ipcq_msginfo mi;
	memset(&mi, 0, sizeof(mi));
	int rc = ipcq_recv(c, buf, sizeof(buf), &mi, IPCQ_NOWAIT);
	CHECK_OK(rc);
	uint32_t p;
	uint64_t s;
	t_header(buf, &p, &s);
	if (p != 0 || s != seq || (uint32_t)rc != t_msg_len(0, seq, 16, 64) ||
	    t_verify(buf, (size_t)rc, 0, seq) != 0)
		T_FAIL("received (%u, %" PRIu64 ") len %d, expected (0, %" PRIu64 ")", p, s, rc, seq);
	CHECK(mi.seq == seq); /* one producer handle, attached once: library seq = ours */
	CHECK((mi.deliveries > 1) == ((mi.flags & IPCQ_MSG_REDELIVERED) != 0));
	return mi;
}

/* List every side entry (iterating one at a time with 'after'). */
static unsigned list_all(struct ipcq *q, struct ipcq_poison *out, unsigned max)
{
	unsigned n = 0;
	uint64_t after = 0;
	for (;;) {
		struct ipcq_poison e;
		int rc = ipcq_poison_list(q, after, &e, 1);
		CHECK_OK(rc);
		if (rc == 0)
			break;
		CHECK(rc == 1 && e.id > after);
		CHECK(n < max);
		out[n++] = e;
		after = e.id;
	}
	return n;
}

static void check_entry(struct ipcq *q, const struct ipcq_poison *e, uint64_t seq, uint32_t reason,
			uint32_t deliveries, int32_t producer)
{
	if (e->seq != seq || e->reason != reason || e->deliveries != deliveries ||
	    e->producer != (uint32_t)producer || e->len != t_msg_len(0, seq, 16, 64))
		T_FAIL("side entry %" PRIu64 ": seq %" PRIu64 " reason %u deliveries %u producer %u len %"
		       PRIu64 "; expected seq %" PRIu64 " reason %u deliveries %u producer %d",
		       e->id, e->seq, e->reason, e->deliveries, e->producer, e->len, seq, reason,
		       deliveries, producer);
	CHECK(e->last_consumer_pid == (uint32_t)getpid());
	uint8_t buf[64];
	struct ipcq_poison pi;
	CHECK_RC(ipcq_poison_peek(q, e->id, buf, sizeof(buf), &pi), (int)e->len);
	CHECK(t_verify(buf, e->len, 0, seq) == 0);
	CHECK(pi.id == e->id && pi.seq == seq && pi.reason == reason);
}

static void test_side_ring(void)
{
	const char *name = t_qname("side");
	struct ipcq_config cfg = t_config(8, 64);
	cfg.side_capacity = 4;
	cfg.max_deliveries = MAXD;
	cfg.lease_capacity = 16;
	struct ipcq *p = t_create(name, &cfg);
	CHECK_RC(ipcq_attach(p, IPCQ_ROLE_PRODUCER, NULL), 0);
	int32_t pidx = t_info(p).participant_index;
	struct ipcq *c = consumer(name, 1, 8);
	struct ipcq_poison e[8];

	/* nack as poison: reason NACKED, deliveries 1 */
	put(p, 1);
	struct ipcq_msginfo mi = get(c, 1);
	CHECK(mi.deliveries == 1 && mi.flags == 0 && mi.token != 0);
	CHECK_RC(ipcq_nack(c, mi.token, IPCQ_NACK_POISON), 1);
	CHECK_RC(ipcq_ack(c, mi.token), -ESTALE); /* the lease is gone */
	CHECK(t_info(c).side_depth == 1 && t_info(c).leased == 0);
	CHECK_RC(list_all(c, e, 8), 1);
	check_entry(c, &e[0], 1, IPCQ_REASON_NACKED, 1, pidx);

	/* nack to requeue, max_deliveries times: reason MAX_DELIVERIES */
	put(p, 2);
	for (uint32_t d = 1; d <= MAXD; d++) {
		mi = get(c, 2);
		CHECK(mi.deliveries == d);
		CHECK_RC(ipcq_nack(c, mi.token, IPCQ_NACK_REQUEUE), d < MAXD ? 0 : 1);
	}
	CHECK_RC(ipcq_recv(c, (uint8_t[64]){ 0 }, 64, NULL, IPCQ_NOWAIT), -EAGAIN);
	CHECK_RC(list_all(c, e, 8), 2);
	check_entry(c, &e[1], 2, IPCQ_REASON_MAX_DELIVERIES, MAXD, pidx);
	CHECK(e[0].id < e[1].id);

	/* list with room for fewer than there are; 'after' past the end */
	struct ipcq_poison two[2];
	CHECK_RC(ipcq_poison_list(c, 0, two, 1), 1);
	CHECK(two[0].id == e[0].id);
	CHECK_RC(ipcq_poison_list(c, e[1].id, two, 2), 0);
	CHECK_RC(ipcq_poison_list(c, 0, NULL, 0), 0);

	/* peek: too small, unknown id */
	uint8_t small[8];
	struct ipcq_poison pi;
	memset(&pi, 0, sizeof(pi));
	CHECK_RC(ipcq_poison_peek(c, e[0].id, small, sizeof(small), &pi), -ENOBUFS);
	CHECK(pi.len == e[0].len);
	CHECK_RC(ipcq_poison_peek(c, e[1].id + 1000, small, sizeof(small), NULL), -ENOENT);
	CHECK_RC(ipcq_poison_purge(c, e[1].id + 1000), -ENOENT);
	CHECK_RC(ipcq_poison_replay(c, e[1].id + 1000), -ENOENT);

	/* replay one: back with its producer and sequence, flagged
	 * REPLAYED, deliveries counted from 1 again */
	CHECK_RC(ipcq_poison_replay(c, e[1].id), 1);
	CHECK_RC(ipcq_poison_peek(c, e[1].id, small, sizeof(small), NULL), -ENOENT);
	mi = get(c, 2);
	if (mi.deliveries != 1 || mi.flags != IPCQ_MSG_REPLAYED || mi.producer != (uint32_t)pidx)
		T_FAIL("replayed message: deliveries %u flags 0x%x producer %u", mi.deliveries,
		       mi.flags, mi.producer);
	CHECK_RC(ipcq_ack(c, mi.token), 0);

	/* fill the side ring (4 entries), then a nack as poison is -ENOSPC
	 * and the message stays leased */
	for (uint64_t s = 3; s <= 6; s++)
		put(p, s);
	for (uint64_t s = 3; s <= 5; s++) {
		mi = get(c, s);
		CHECK_RC(ipcq_nack(c, mi.token, IPCQ_NACK_POISON), 1);
	}
	CHECK(t_info(c).side_depth == 4);
	mi = get(c, 6);
	CHECK_RC(ipcq_nack(c, mi.token, IPCQ_NACK_POISON), -ENOSPC);
	CHECK(t_info(c).leased == 1 && t_info(c).side_depth == 4);
	CHECK_RC(ipcq_ack(c, mi.token), 0);
	CHECK(t_info(c).leased == 0);

	/* replay with the main ring full: -EAGAIN, nothing lost */
	uint64_t s7 = 7;
	for (unsigned i = 0; i < 8; i++)
		put(p, s7 + i);
	CHECK_RC(ipcq_poison_replay(c, IPCQ_POISON_ALL), -EAGAIN);
	CHECK_RC(list_all(c, e, 8), 4);
	CHECK(t_info(c).side_depth == 4);
	/* drain one: replay all puts back exactly one (the oldest), then
	 * stops at the full ring */
	mi = get(c, 7);
	CHECK_RC(ipcq_ack(c, mi.token), 0);
	CHECK_RC(ipcq_poison_replay(c, IPCQ_POISON_ALL), 1);
	CHECK_RC(list_all(c, e, 8), 3);
	for (uint64_t s = 8; s <= 14; s++)
		CHECK_RC(ipcq_ack(c, get(c, s).token), 0);
	mi = get(c, 1);
	CHECK(mi.flags == IPCQ_MSG_REPLAYED && mi.deliveries == 1);
	CHECK_RC(ipcq_ack(c, mi.token), 0);

	/* replay all: the rest, oldest first */
	CHECK_RC(ipcq_poison_replay(c, IPCQ_POISON_ALL), 3);
	CHECK(t_info(c).side_depth == 0);
	for (uint64_t s = 3; s <= 5; s++) {
		mi = get(c, s);
		CHECK(mi.flags == IPCQ_MSG_REPLAYED && mi.deliveries == 1);
		CHECK_RC(ipcq_ack(c, mi.token), 0);
	}
	CHECK_RC(ipcq_poison_replay(c, IPCQ_POISON_ALL), 0);

	/* purge one, purge all */
	for (uint64_t s = 15; s <= 17; s++) {
		put(p, s);
		mi = get(c, s);
		CHECK_RC(ipcq_nack(c, mi.token, IPCQ_NACK_POISON), 1);
	}
	CHECK_RC(list_all(c, e, 8), 3);
	CHECK_RC(ipcq_poison_purge(c, e[1].id), 1);
	CHECK_RC(ipcq_poison_purge(c, e[1].id), -ENOENT);
	struct ipcq_poison left[8];
	CHECK_RC(list_all(c, left, 8), 2);
	CHECK(left[0].id == e[0].id && left[1].id == e[2].id);
	CHECK_RC(ipcq_poison_purge(c, IPCQ_POISON_ALL), 2);
	CHECK_RC(ipcq_poison_purge(c, IPCQ_POISON_ALL), 0);
	CHECK(t_info(c).side_depth == 0);

	/* no handle */
	CHECK_RC(ipcq_poison_list(NULL, 0, e, 1), -EINVAL);
	CHECK_RC(ipcq_poison_replay(NULL, IPCQ_POISON_ALL), -EINVAL);
	CHECK_RC(ipcq_poison_purge(NULL, IPCQ_POISON_ALL), -EINVAL);

	struct ipcq_info in = t_info(c);
	CHECK(in.depth == 0 && in.leased == 0 && in.redeliverable == 0 && in.side_depth == 0);
	CHECK_RC(ipcq_close(c), 0);
	CHECK_RC(ipcq_close(p), 0);
	CHECK_RC(ipcq_unlink(name), 0);
}

static void test_no_side_ring(void)
{
	const char *name = t_qname("noside");
	struct ipcq_config cfg = t_config(8, 64);
	cfg.side_capacity = 0;
	cfg.max_deliveries = 1;
	struct ipcq *p = t_create(name, &cfg);
	CHECK_RC(ipcq_attach(p, IPCQ_ROLE_PRODUCER, NULL), 0);
	struct ipcq *c = consumer(name, 1, 4);
	put(p, 1);
	struct ipcq_msginfo mi = get(c, 1);
	CHECK_RC(ipcq_nack(c, mi.token, IPCQ_NACK_POISON), -ENOSPC);
	/* max_deliveries 1: a requeue would quarantine it: -ENOSPC too */
	CHECK_RC(ipcq_nack(c, mi.token, IPCQ_NACK_REQUEUE), -ENOSPC);
	CHECK(t_info(c).leased == 1);
	CHECK_RC(ipcq_ack(c, mi.token), 0);
	struct ipcq_poison e;
	CHECK_RC(ipcq_poison_list(c, 0, &e, 1), 0);
	CHECK_RC(ipcq_poison_purge(c, IPCQ_POISON_ALL), 0);
	CHECK(t_info(c).leased == 0 && t_info(c).side_depth == 0);
	CHECK_RC(ipcq_close(c), 0);
	CHECK_RC(ipcq_close(p), 0);
	CHECK_RC(ipcq_unlink(name), 0);
}

static void test_ack_api(void)
{
	const char *name = t_qname("ackapi");
	struct ipcq_config cfg = t_config(16, 64);
	cfg.lease_capacity = 8;
	struct ipcq *p = t_create(name, &cfg);
	CHECK_RC(ipcq_attach(p, IPCQ_ROLE_PRODUCER, NULL), 0);
	struct ipcq *a = consumer(name, 1, 2);
	struct ipcq *b = consumer(name, 1, 4);
	struct ipcq *f = consumer(name, 0, 1);

	for (uint64_t s = 1; s <= 6; s++)
		put(p, s);
	struct ipcq_msginfo m1 = get(a, 1), m2 = get(a, 2);
	CHECK(m1.token != 0 && m2.token != 0 && m1.token != m2.token);
	/* prefetch 2: a third receive is refused while messages wait */
	CHECK_RC(ipcq_recv(a, (uint8_t[64]){ 0 }, 64, NULL, IPCQ_NOWAIT), -EBUSY);
	CHECK_RC(ipcq_recv(a, (uint8_t[64]){ 0 }, 64, NULL, 1000000), -EBUSY);
	/* bad, foreign tokens */
	CHECK_RC(ipcq_ack(a, 0), -ESTALE);
	CHECK_RC(ipcq_ack(a, ~0ull), -ESTALE);
	CHECK_RC(ipcq_ack(a, m1.token ^ 1), -ESTALE); /* another generation */
	CHECK_RC(ipcq_ack(b, m1.token), -ESTALE);
	CHECK_RC(ipcq_nack(b, m1.token, IPCQ_NACK_REQUEUE), -ESTALE);
	CHECK_RC(ipcq_nack(a, m1.token, 7), -EINVAL);
	/* fast-mode handle and producer handle: not ack-mode consumers */
	CHECK_RC(ipcq_ack(f, m1.token), -EPERM);
	CHECK_RC(ipcq_nack(f, m1.token, IPCQ_NACK_REQUEUE), -EPERM);
	CHECK_RC(ipcq_ack(p, m1.token), -EPERM);
	CHECK_RC(ipcq_ack(NULL, m1.token), -EINVAL);
	/* ack frees room under prefetch; an acked token is stale */
	CHECK_RC(ipcq_ack(a, m1.token), 0);
	CHECK_RC(ipcq_ack(a, m1.token), -ESTALE);
	CHECK_RC(ipcq_nack(a, m1.token, IPCQ_NACK_REQUEUE), -ESTALE);
	struct ipcq_msginfo m3 = get(a, 3);
	CHECK(t_info(a).leased == 2);

	/* clean detach with leases: both redelivered to another consumer,
	 * deliveries 2 */
	CHECK(m3.deliveries == 1);
	CHECK_RC(ipcq_close(a), 0);
	struct ipcq_info in = t_info(p);
	CHECK(in.redeliverable == 2);
	uint64_t seen = 0;
	for (unsigned i = 0; i < 2; i++) {
		uint8_t buf[64];
		struct ipcq_msginfo mi;
		int rc = ipcq_recv(b, buf, sizeof(buf), &mi, IPCQ_NOWAIT);
		CHECK_OK(rc);
		uint32_t pp;
		uint64_t s;
		t_header(buf, &pp, &s);
		CHECK(t_verify(buf, (size_t)rc, 0, s) == 0);
		if ((s != 2 && s != 3) || mi.deliveries != 2 || !(mi.flags & IPCQ_MSG_REDELIVERED))
			T_FAIL("after a clean detach: seq %" PRIu64 " deliveries %u flags 0x%x", s,
			       mi.deliveries, mi.flags);
		seen |= 1ull << s;
		CHECK_RC(ipcq_ack(b, mi.token), 0);
	}
	CHECK(seen == ((1ull << 2) | (1ull << 3)));
	for (uint64_t s = 4; s <= 6; s++) {
		struct ipcq_msginfo mi = get(b, s);
		CHECK(mi.deliveries == 1);
		CHECK_RC(ipcq_ack(b, mi.token), 0);
	}
	in = t_info(p);
	CHECK(in.leased == 0 && in.redeliverable == 0 && in.depth == 0);

	/* lease pool exhausted (8 entries): -EBUSY until an ack */
	struct ipcq *big = consumer(name, 1, 8);
	for (uint64_t s = 7; s <= 15; s++)
		put(p, s);
	struct ipcq_msginfo held[8];
	for (unsigned i = 0; i < 4; i++)
		held[i] = get(b, 7 + i);
	for (unsigned i = 4; i < 8; i++)
		held[i] = get(big, 7 + i);
	CHECK_RC(ipcq_recv(big, (uint8_t[64]){ 0 }, 64, NULL, IPCQ_NOWAIT), -EBUSY);
	CHECK_RC(ipcq_ack(big, held[4].token), 0);
	CHECK_RC(ipcq_ack(big, get(big, 15).token), 0);
	for (unsigned i = 0; i < 4; i++)
		CHECK_RC(ipcq_ack(b, held[i].token), 0);
	for (unsigned i = 5; i < 8; i++)
		CHECK_RC(ipcq_ack(big, held[i].token), 0);

	/* attach: ack mode needs the consumer role and a lease pool, and a
	 * prefetch within it */
	struct ipcq *x = NULL;
	CHECK_OK(ipcq_open(name, &x));
	struct ipcq_attach_opts o = IPCQ_ATTACH_OPTS_INIT;
	o.flags = IPCQ_ATTACH_ACK;
	CHECK_RC(ipcq_attach(x, IPCQ_ROLE_PRODUCER, &o), -EINVAL);
	o.prefetch = 0;
	CHECK_RC(ipcq_attach(x, IPCQ_ROLE_CONSUMER, &o), -EINVAL);
	o.prefetch = 9;
	CHECK_RC(ipcq_attach(x, IPCQ_ROLE_CONSUMER, &o), -EINVAL);
	o.prefetch = 8;
	CHECK_RC(ipcq_attach(x, IPCQ_ROLE_CONSUMER, &o), 0);
	CHECK_RC(ipcq_close(x), 0);
	CHECK_RC(ipcq_close(big), 0);
	CHECK_RC(ipcq_close(b), 0);
	CHECK_RC(ipcq_close(f), 0);
	CHECK_RC(ipcq_close(p), 0);
	CHECK_RC(ipcq_unlink(name), 0);

	const char *name0 = t_qname("nolease");
	cfg.lease_capacity = 0;
	struct ipcq *q0 = t_create(name0, &cfg);
	o.prefetch = 1;
	CHECK_RC(ipcq_attach(q0, IPCQ_ROLE_CONSUMER, &o), -EINVAL);
	CHECK_RC(ipcq_attach(q0, IPCQ_ROLE_CONSUMER, NULL), 0);
	CHECK_RC(ipcq_close(q0), 0);
	CHECK_RC(ipcq_unlink(name0), 0);
}

int main(void)
{
	t_watchdog(t_limit(60), "t_side", NULL);
	test_side_ring();
	test_no_side_ring();
	test_ack_api();
	printf("side ring and ack API ok\n");
	return 0;
}
