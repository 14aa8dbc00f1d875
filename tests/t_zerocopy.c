/* Zero copy: ipcq_reserve/ipcq_commit and ipcq_peek/ipcq_release semantics and errors, full ring, ack mode, named producers, mixing with copying calls, and multi-process runs that check every message. */
#include "testutil.h"

#define MS 1000000ll

/* Identity of the in-process test producers in the message pattern. */
#define TP 7u

static const char *section = "";

/* ---- helpers ------------------------------------------------------------- */

static struct ipcq *handle(const char *name, unsigned roles)
{
	return t_open_attach(name, roles, NULL);
}

/* Send message (TP, seq) of length len with a copying send. */
static void send_copy(struct ipcq *q, uint64_t seq, size_t len)
{
	uint8_t buf[256];
	CHECK(len <= sizeof(buf));
	t_fill(buf, len, TP, seq);
	CHECK_RC(ipcq_send(q, buf, len, IPCQ_NOWAIT), 0);
}

/* Reserve exactly n slots (NOWAIT), write messages (TP, seq0 + i) of length
 * len into the first used, commit used. */
static void send_zc(struct ipcq *q, uint64_t seq0, unsigned n, unsigned used, size_t len)
{
	void *bufs[64];
	size_t lens[64];
	CHECK(n <= T_NELEM(bufs) && used <= n);
	CHECK_RC(ipcq_reserve(q, n, bufs, IPCQ_NOWAIT), (int)n);
	for (unsigned i = 0; i < used; i++) {
		lens[i] = len;
		t_fill(bufs[i], len, TP, seq0 + i);
	}
	CHECK_RC(ipcq_commit(q, lens, used), 0);
}

/* Check a peeked or received message: pattern (TP, seq), length, info. */
static void check_msg(const void *data, size_t len, const struct ipcq_msginfo *mi, uint64_t seq,
		      size_t want_len, int32_t producer)
{
	if (len != want_len || mi->len != len)
		T_FAIL("[%s] seq %" PRIu64 ": len %zu info.len %" PRIu64 ", expected %zu", section,
		       seq, len, mi->len, want_len);
	if (mi->seq != seq)
		T_FAIL("[%s] info.seq %" PRIu64 ", expected %" PRIu64, section, mi->seq, seq);
	if (t_verify(data, len, TP, seq) != 0)
		T_FAIL("[%s] seq %" PRIu64 ": content differs from what was written", section, seq);
	if ((int32_t)mi->producer != producer)
		T_FAIL("[%s] seq %" PRIu64 ": info.producer %u, expected %d", section, seq,
		       mi->producer, producer);
	if (mi->deliveries != 1 || mi->flags != 0 || mi->enqueue_ns == 0)
		T_FAIL("[%s] seq %" PRIu64 ": deliveries %u flags 0x%x enqueue_ns %" PRIu64, section,
		       seq, mi->deliveries, mi->flags, mi->enqueue_ns);
}

/* Peek exactly n messages (NOWAIT, asking for up to ask), check them as
 * (TP, seq0..), release. */
static void peek_expect(struct ipcq *q, unsigned ask, unsigned n, uint64_t seq0, size_t len,
			int32_t producer)
{
	struct ipcq_zmsg m[64];
	CHECK(ask <= T_NELEM(m));
	memset(m, 0, sizeof(m));
	int rc = ipcq_peek(q, m, ask, IPCQ_NOWAIT);
	if (rc != (int)n)
		T_FAIL("[%s] ipcq_peek(n=%u) returned %d (%s), expected %u", section, ask, rc,
		       ipcq_strerror(rc), n);
	for (unsigned i = 0; i < n; i++) {
		check_msg(m[i].data, m[i].len, &m[i].info, seq0 + i, len, producer);
		CHECK(m[i].info.token == 0 && m[i].info.stream == 0);
	}
	CHECK_RC(ipcq_release(q), 0);
}

static void recv_expect(struct ipcq *q, uint64_t seq, size_t len, int32_t producer)
{
	uint8_t buf[256];
	struct ipcq_msginfo mi;
	int rc = ipcq_recv(q, buf, sizeof(buf), &mi, IPCQ_NOWAIT);
	if (rc < 0)
		T_FAIL("[%s] ipcq_recv (expecting seq %" PRIu64 "): %d (%s)", section, seq, rc,
		       ipcq_strerror(rc));
	check_msg(buf, (size_t)rc, &mi, seq, len, producer);
}

static void expect_empty(struct ipcq *q)
{
	struct ipcq_zmsg m[4];
	uint8_t buf[8];
	CHECK_RC(ipcq_peek(q, m, 4, IPCQ_NOWAIT), -EAGAIN);
	CHECK_RC(ipcq_recv(q, buf, sizeof(buf), NULL, IPCQ_NOWAIT), -EAGAIN);
}

static int32_t index_of(struct ipcq *q)
{
	return t_info(q).participant_index;
}

/* A drop-oldest producer on queue @name, which it fills (@cap zero-copy
 * messages 1.. of @len bytes); *idx gets its participant index. */
static struct ipcq *full_dropper(const char *name, unsigned cap, size_t len, int32_t *idx)
{
	struct ipcq_attach_opts o = IPCQ_ATTACH_OPTS_INIT;
	o.full_policy = IPCQ_FULL_DROP_OLDEST;
	struct ipcq *pd = t_open_attach(name, IPCQ_ROLE_PRODUCER, &o);
	*idx = index_of(pd);
	for (unsigned i = 0; i < cap; i++)
		send_zc(pd, i + 1, 1, 1, len);
	return pd;
}

/* ---- argument and role errors ------------------------------------------- */

static void test_errors(void)
{
	section = "errors";
	const char *name = t_qname("zc");
	struct ipcq_config cfg = t_config(8, 100);
	struct ipcq *x = t_create(name, &cfg); /* not attached */
	struct ipcq *p = handle(name, IPCQ_ROLE_PRODUCER);
	struct ipcq *c = handle(name, IPCQ_ROLE_CONSUMER);
	void *bufs[8];
	size_t lens[8] = { 1, 1, 1, 1, 1, 1, 1, 1 };
	struct ipcq_zmsg m[8];

	/* wrong role, or none */
	CHECK_RC(ipcq_reserve(c, 1, bufs, IPCQ_NOWAIT), -EPERM);
	CHECK_RC(ipcq_reserve(x, 1, bufs, IPCQ_NOWAIT), -EPERM);
	CHECK_RC(ipcq_peek(p, m, 1, IPCQ_NOWAIT), -EPERM);
	CHECK_RC(ipcq_peek(x, m, 1, IPCQ_NOWAIT), -EPERM);
	/* bad arguments */
	CHECK_RC(ipcq_reserve(NULL, 1, bufs, IPCQ_NOWAIT), -EINVAL);
	CHECK_RC(ipcq_reserve(p, 0, bufs, IPCQ_NOWAIT), -EINVAL);
	CHECK_RC(ipcq_reserve(p, 1, NULL, IPCQ_NOWAIT), -EINVAL);
	CHECK_RC(ipcq_reserve(p, 1, bufs, -5), -EINVAL);
	CHECK_RC(ipcq_peek(NULL, m, 1, IPCQ_NOWAIT), -EINVAL);
	CHECK_RC(ipcq_peek(c, m, 0, IPCQ_NOWAIT), -EINVAL);
	CHECK_RC(ipcq_peek(c, NULL, 1, IPCQ_NOWAIT), -EINVAL);
	CHECK_RC(ipcq_peek(c, m, 1, -5), -EINVAL);
	/* nothing reserved, nothing peeked */
	CHECK_RC(ipcq_commit(p, lens, 1), -EINVAL);
	CHECK_RC(ipcq_commit(p, NULL, 0), -EINVAL);
	CHECK_RC(ipcq_commit(c, lens, 1), -EINVAL);
	CHECK_RC(ipcq_commit(NULL, lens, 1), -EINVAL);
	CHECK_RC(ipcq_release(c), -EINVAL);
	CHECK_RC(ipcq_release(p), -EINVAL);
	CHECK_RC(ipcq_release(NULL), -EINVAL);
	/* empty queue */
	CHECK_RC(ipcq_peek(c, m, 8, IPCQ_NOWAIT), -EAGAIN);
	uint64_t t0 = t_now_ns();
	CHECK_RC(ipcq_peek(c, m, 8, 20 * MS), -ETIMEDOUT);
	CHECK(t_now_ns() - t0 >= 19 * MS);
	CHECK_RC(ipcq_release(c), -EINVAL);
	/* none of this changed the queue */
	struct ipcq_info in = t_info(x);
	CHECK(in.enqueued == 0 && in.dequeued == 0);
	CHECK_RC(ipcq_close(p), 0);
	CHECK_RC(ipcq_close(c), 0);
	CHECK_RC(ipcq_close(x), 0);
}

/* ---- reserve and commit --------------------------------------------------- */

static void test_reserve_commit(void)
{
	section = "reserve/commit";
	enum { CAP = 8, MAX = 100 };
	const char *name = t_qname("zc");
	struct ipcq_config cfg = t_config(CAP, MAX);
	struct ipcq *x = t_create(name, &cfg);
	struct ipcq *p = handle(name, IPCQ_ROLE_PRODUCER);
	struct ipcq *c = handle(name, IPCQ_ROLE_CONSUMER);
	int32_t pi = index_of(p);
	void *bufs[2 * CAP], *again[2];
	size_t lens[2 * CAP];
	uint64_t seq = 1;

	/* 1..n distinct slots, each with max_msg_size bytes of room */
	memset(bufs, 0, sizeof(bufs));
	CHECK_RC(ipcq_reserve(p, 3, bufs, IPCQ_NOWAIT), 3);
	for (unsigned i = 0; i < 3; i++) {
		CHECK(bufs[i] != NULL);
		for (unsigned j = 0; j < i; j++) {
			uintptr_t a = (uintptr_t)bufs[i], b = (uintptr_t)bufs[j];
			if ((a > b ? a - b : b - a) < MAX)
				T_FAIL("reserved buffers %u and %u overlap (%p, %p, room %u)", j, i,
				       bufs[j], bufs[i], MAX);
		}
	}
	/* the whole room of each, written in reverse order: overlaps or a
	 * short slot would corrupt a neighbour */
	for (unsigned i = 3; i-- > 0;)
		t_fill(bufs[i], MAX, TP, seq + i);
	/* one reservation at a time */
	CHECK_RC(ipcq_reserve(p, 1, again, IPCQ_NOWAIT), -EALREADY);
	CHECK_RC(ipcq_reserve(p, 1, again, IPCQ_FOREVER), -EALREADY);
	/* bad commits leave the reservation open */
	for (unsigned i = 0; i < 4; i++)
		lens[i] = MAX;
	CHECK_RC(ipcq_commit(p, lens, 4), -EINVAL);  /* n > k */
	lens[1] = MAX + 1;
	CHECK_RC(ipcq_commit(p, lens, 3), -EINVAL);  /* a length too large */
	lens[1] = SIZE_MAX;
	CHECK_RC(ipcq_commit(p, lens, 2), -EINVAL);
	lens[1] = MAX;
	CHECK_RC(ipcq_commit(p, NULL, 3), -EINVAL);
	CHECK_RC(ipcq_reserve(p, 1, again, IPCQ_NOWAIT), -EALREADY);
	/* nothing is visible before the commit */
	expect_empty(c);
	CHECK(t_info(x).enqueued == 3);
	CHECK_RC(ipcq_commit(p, lens, 3), 0);
	CHECK_RC(ipcq_commit(p, lens, 3), -EINVAL); /* closed now */
	peek_expect(c, 8, 3, seq, MAX, pi);
	seq += 3;
	expect_empty(c);

	/* n above the capacity: at most capacity slots, all distinct */
	CHECK_RC(ipcq_reserve(p, 2 * CAP, bufs, IPCQ_NOWAIT), CAP);
	for (unsigned i = 0; i < CAP; i++)
		for (unsigned j = 0; j < i; j++)
			CHECK(bufs[i] != bufs[j]);
	/* commit 0: every slot given up, nothing delivered, no sequence used */
	CHECK_RC(ipcq_commit(p, NULL, 0), 0);
	expect_empty(c);
	CHECK(t_info(x).depth == 0);

	/* a nearly full ring: only the free slots are reserved */
	for (unsigned i = 0; i < CAP - 2; i++)
		send_copy(p, seq + i, 40);
	CHECK_RC(ipcq_reserve(p, 5, bufs, IPCQ_NOWAIT), 2);
	lens[0] = lens[1] = 40;
	t_fill(bufs[0], 40, TP, seq + CAP - 2);
	t_fill(bufs[1], 40, TP, seq + CAP - 1);
	CHECK_RC(ipcq_commit(p, lens, 2), 0);
	CHECK_RC(ipcq_reserve(p, 1, bufs, IPCQ_NOWAIT), -EAGAIN);
	for (unsigned i = 0; i < CAP; i++)
		recv_expect(c, seq + i, 40, pi);
	seq += CAP;
	expect_empty(c);

	/* commit n < k: the first n are delivered, the rest are passed over
	 * by every kind of receive */
	send_zc(p, seq, 4, 2, 30);
	recv_expect(c, seq, 30, pi);
	recv_expect(c, seq + 1, 30, pi);
	seq += 2;
	expect_empty(c);
	send_zc(p, seq, 5, 1, 31);
	peek_expect(c, 8, 1, seq, 31, pi);
	seq += 1;
	expect_empty(c);
	/* skips between messages inside one batch peek and one batch recv */
	send_zc(p, seq, 4, 1, 20);      /* seq, 3 skips */
	send_copy(p, seq + 1, 20);      /* seq + 1 */
	send_zc(p, seq + 2, 3, 2, 20);  /* seq + 2, seq + 3, 1 skip */
	peek_expect(c, 16, 4, seq, 20, pi);
	seq += 4;
	expect_empty(c);
	send_zc(p, seq, 2, 1, 20);
	send_zc(p, seq + 1, 3, 2, 20);
	{
		uint8_t mem[4][MAX];
		struct ipcq_buf b[4];
		struct ipcq_msginfo mi[4];
		for (unsigned i = 0; i < 4; i++)
			b[i] = (struct ipcq_buf){ mem[i], MAX };
		CHECK_RC(ipcq_recv_batch(c, b, mi, 4, IPCQ_NOWAIT), 3);
		for (unsigned i = 0; i < 3; i++)
			check_msg(b[i].data, b[i].len, &mi[i], seq + i, 20, pi);
	}
	seq += 3;
	expect_empty(c);

	/* the ring is not wedged: many laps, with partial commits */
	for (unsigned lap = 0; lap < 3 * CAP; lap++) {
		unsigned k = 1 + lap % CAP, used = lap % 3 == 0 ? k : k / 2;
		send_zc(p, seq, k, used, 10 + lap);
		if (used)
			peek_expect(c, CAP, used, seq, 10 + lap, pi);
		seq += used;
		expect_empty(c);
	}
	/* a full lap of single messages after all that */
	for (unsigned i = 0; i < CAP; i++)
		send_zc(p, seq + i, 1, 1, MAX);
	CHECK_RC(ipcq_reserve(p, 1, bufs, IPCQ_NOWAIT), -EAGAIN);
	peek_expect(c, 2 * CAP, CAP, seq, MAX, pi);
	seq += CAP;
	struct ipcq_info in = t_info(x);
	CHECK(in.depth == 0 && in.enqueued == in.dequeued);
	CHECK_RC(ipcq_close(p), 0);
	CHECK_RC(ipcq_close(c), 0);
	CHECK_RC(ipcq_close(x), 0);
}

/* ---- a full ring ---------------------------------------------------------- */

struct blocked {
	const char *name;
	int started, reserved, committed;
	int rc;
};

static struct blocked *blk;

/* Child: a blocking reserve on a full ring, then commit (TP, 100). */
static int blocked_reserver(void *arg)
{
	(void)arg;
	struct ipcq *q = handle(blk->name, IPCQ_ROLE_PRODUCER);
	void *b[1];
	size_t len = 48;
	__atomic_store_n(&blk->started, 1, __ATOMIC_SEQ_CST);
	int rc = ipcq_reserve(q, 1, b, IPCQ_FOREVER);
	__atomic_store_n(&blk->rc, rc, __ATOMIC_SEQ_CST);
	__atomic_store_n(&blk->reserved, 1, __ATOMIC_SEQ_CST);
	if (rc != 1)
		return 1;
	t_fill(b[0], len, TP, 100);
	CHECK_RC(ipcq_commit(q, &len, 1), 0);
	__atomic_store_n(&blk->committed, 1, __ATOMIC_SEQ_CST);
	CHECK_RC(ipcq_close(q), 0);
	return 0;
}

/* Start a blocked reserver and make sure it waits, as the library counts
 * it through @x: its reserve found the ring full (it is in its waiting
 * loop, asleep or polling), and with @asleep its futex sleep is counted
 * too (nothing was claimed when it went to sleep, so only a wake-up or
 * its timeout can end the sleep). */
static pid_t start_blocked(struct ipcq *x, const char *name, int asleep)
{
	memset(blk, 0, sizeof(*blk));
	blk->name = name;
	pid_t pid = t_spawn(blocked_reserver, NULL);
	T_AWAIT_KIDS(__atomic_load_n(&blk->started, __ATOMIC_SEQ_CST), 10);
	T_AWAIT_KIDS(__atomic_load_n(&blk->reserved, __ATOMIC_SEQ_CST) ||
		     (t_part(x, pid).full >= 1 && (!asleep || t_part(x, pid).sleeps >= 1)), 20);
	if (__atomic_load_n(&blk->reserved, __ATOMIC_SEQ_CST))
		T_FAIL("[%s] ipcq_reserve(IPCQ_FOREVER) returned %d on a full ring", section, blk->rc);
	return pid;
}

static void test_full(void)
{
	section = "full ring";
	enum { CAP = 4, MAX = 64 };
	const char *name = t_qname("zc");
	struct ipcq_config cfg = t_config(CAP, MAX);
	struct ipcq *x = t_create(name, &cfg);
	struct ipcq *p = handle(name, IPCQ_ROLE_PRODUCER);
	struct ipcq *c = handle(name, IPCQ_ROLE_CONSUMER);
	int32_t pi = index_of(p);
	void *bufs[CAP];
	struct ipcq_zmsg m[CAP];
	uint64_t seq = 1;

	for (unsigned i = 0; i < CAP; i++)
		send_copy(p, seq + i, 32);
	CHECK_RC(ipcq_reserve(p, 1, bufs, IPCQ_NOWAIT), -EAGAIN);
	CHECK_RC(ipcq_reserve(p, 3, bufs, IPCQ_NOWAIT), -EAGAIN);
	uint64_t t0 = t_now_ns();
	CHECK_RC(ipcq_reserve(p, 2, bufs, 30 * MS), -ETIMEDOUT);
	uint64_t dt = t_now_ns() - t0;
	if (dt < 29 * MS)
		T_FAIL("[%s] ipcq_reserve(30 ms) timed out after %.1f ms", section, (double)dt / 1e6);
	/* a failed reserve leaves no reservation behind */
	CHECK_RC(ipcq_commit(p, NULL, 0), -EINVAL);

	/* a blocking reserve wakes when a receive frees a slot */
	pid_t pid = start_blocked(x, name, 1);
	recv_expect(c, seq, 32, pi);
	T_AWAIT_KIDS(__atomic_load_n(&blk->committed, __ATOMIC_SEQ_CST), 10);
	CHECK(t_reap(pid) == 0);
	int32_t bi = -1;
	for (unsigned i = 1; i < CAP; i++)
		recv_expect(c, seq + i, 32, pi);
	{
		struct ipcq_zmsg z;
		CHECK_RC(ipcq_peek(c, &z, 1, IPCQ_NOWAIT), 1);
		CHECK(z.len == 48 && z.info.seq == 1 && t_verify(z.data, 48, TP, 100) == 0);
		bi = (int32_t)z.info.producer;
		CHECK(bi != pi);
		CHECK_RC(ipcq_release(c), 0);
	}
	seq += CAP;
	expect_empty(c);

	/* a blocking reserve wakes when ipcq_release frees a slot: the ring
	 * full of peeked messages */
	for (unsigned i = 0; i < CAP; i++)
		send_copy(p, seq + i, 33);
	CHECK_RC(ipcq_peek(c, m, CAP, IPCQ_NOWAIT), CAP);
	CHECK_RC(ipcq_reserve(p, 1, bufs, IPCQ_NOWAIT), -EAGAIN);
	pid = start_blocked(x, name, 0); /* claimed slots: it naps, polling */
	for (unsigned i = 0; i < CAP; i++)
		check_msg(m[i].data, m[i].len, &m[i].info, seq + i, 33, pi);
	CHECK_RC(ipcq_release(c), 0);
	T_AWAIT_KIDS(__atomic_load_n(&blk->committed, __ATOMIC_SEQ_CST), 10);
	CHECK(t_reap(pid) == 0);
	seq += CAP;
	{
		struct ipcq_zmsg z;
		CHECK_RC(ipcq_peek(c, &z, CAP, IPCQ_NOWAIT), 1);
		CHECK(z.len == 48 && z.info.seq == 1 && t_verify(z.data, 48, TP, 100) == 0);
		CHECK_RC(ipcq_release(c), 0);
	}
	/* and when a sleeping reserve is woken by a peek's release: the ring
	 * full and nothing claimed when it went to sleep */
	for (unsigned i = 0; i < CAP; i++)
		send_copy(p, seq + i, 34);
	pid = start_blocked(x, name, 1);
	CHECK_RC(ipcq_peek(c, m, 1, IPCQ_NOWAIT), 1);
	check_msg(m[0].data, m[0].len, &m[0].info, seq, 34, pi);
	CHECK_RC(ipcq_release(c), 0);
	T_AWAIT_KIDS(__atomic_load_n(&blk->committed, __ATOMIC_SEQ_CST), 10);
	CHECK(t_reap(pid) == 0);
	for (unsigned i = 1; i < CAP; i++)
		recv_expect(c, seq + i, 34, pi);
	seq += CAP;
	{
		struct ipcq_zmsg z;
		CHECK_RC(ipcq_peek(c, &z, 1, IPCQ_NOWAIT), 1);
		CHECK(z.len == 48 && t_verify(z.data, 48, TP, 100) == 0);
		CHECK_RC(ipcq_release(c), 0);
	}
	expect_empty(c);

	/* full policy FAIL: -EAGAIN whatever the timeout */
	{
		struct ipcq_attach_opts o = IPCQ_ATTACH_OPTS_INIT;
		o.full_policy = IPCQ_FULL_FAIL;
		struct ipcq *pf = t_open_attach(name, IPCQ_ROLE_PRODUCER, &o);
		for (unsigned i = 0; i < CAP; i++)
			send_zc(pf, i + 1, 1, 1, 16);
		CHECK_RC(ipcq_reserve(pf, 1, bufs, 50 * MS), -EAGAIN);
		CHECK_RC(ipcq_reserve(pf, 1, bufs, IPCQ_FOREVER), -EAGAIN);
		int32_t fi = index_of(pf);
		for (unsigned i = 0; i < CAP; i++) {
			uint8_t buf[MAX];
			struct ipcq_msginfo mi;
			CHECK_RC(ipcq_recv(c, buf, sizeof(buf), &mi, IPCQ_NOWAIT), 16);
			check_msg(buf, 16, &mi, i + 1, 16, fi);
		}
		CHECK_RC(ipcq_close(pf), 0);
	}
	/* full policy DROP_OLDEST: a reserve on a full ring drops the oldest */
	{
		int32_t di;
		struct ipcq *pd = full_dropper(name, CAP, 17, &di);
		CHECK_RC(ipcq_reserve(pd, 1, bufs, IPCQ_NOWAIT), 1);
		size_t len = 17;
		t_fill(bufs[0], len, TP, CAP + 1);
		CHECK_RC(ipcq_commit(pd, &len, 1), 0);
		/* message 1 was dropped */
		peek_expect(c, CAP, CAP, 2, 17, di);
		CHECK_RC(ipcq_close(pd), 0);
	}
	/* DROP_OLDEST while the oldest is being read (peeked): the slot a
	 * send needs is that reader's, so a send waits for the read as its
	 * timeout allows, and drops nothing (dropping the messages after it
	 * would not make room) */
	{
		int32_t di;
		struct ipcq *pd = full_dropper(name, CAP, 18, &di);
		struct ipcq_zmsg zm[1];
		CHECK_RC(ipcq_peek(c, zm, 1, IPCQ_NOWAIT), 1);
		check_msg(zm[0].data, zm[0].len, &zm[0].info, 1, 18, di);
		uint8_t b[18];
		t_fill(b, sizeof(b), TP, CAP + 1);
		CHECK_RC(ipcq_send(pd, b, sizeof(b), IPCQ_NOWAIT), -EAGAIN);
		uint64_t w0 = t_now_ns();
		CHECK_RC(ipcq_send(pd, b, sizeof(b), 20 * MS), -ETIMEDOUT);
		CHECK(t_now_ns() - w0 >= 20 * MS);
		CHECK(t_dropped_total(pd) == 0);
		/* and that wait counts as time blocked */
		CHECK(t_my_stats(pd).blocked_ns >= 20 * MS);
		CHECK_RC(ipcq_release(c), 0);
		/* the read is over: the send goes in, nothing dropped */
		CHECK_RC(ipcq_send(pd, b, sizeof(b), IPCQ_NOWAIT), 0);
		for (unsigned i = 1; i <= CAP; i++)
			recv_expect(c, i + 1, 18, di);
		CHECK(t_dropped_total(pd) == 0);
		CHECK_RC(ipcq_close(pd), 0);
	}
	expect_empty(c);
	CHECK_RC(ipcq_close(p), 0);
	CHECK_RC(ipcq_close(c), 0);
	CHECK_RC(ipcq_close(x), 0);
}

/* ---- peek and release ----------------------------------------------------- */

struct runner {
	const char *name;
	uint64_t n;          /* messages the child producer sends */
	uint64_t sent;       /* how many so far */
	uint64_t got;        /* how many the child consumer received */
	int32_t pidx;        /* child producer's participant index */
};

static struct runner *run;

static int run_producer(void *arg)
{
	(void)arg;
	struct ipcq *q = handle(run->name, IPCQ_ROLE_PRODUCER);
	uint8_t buf[64];
	__atomic_store_n(&run->pidx, index_of(q), __ATOMIC_SEQ_CST);
	for (uint64_t s = 1; s <= run->n; s++) {
		size_t len = t_msg_len(TP, s, 16, 64);
		t_fill(buf, len, TP, s);
		CHECK_RC(ipcq_send(q, buf, len, IPCQ_FOREVER), 0);
		__atomic_store_n(&run->sent, s, __ATOMIC_SEQ_CST);
	}
	CHECK_RC(ipcq_close(q), 0);
	return 0;
}

static int run_consumer(void *arg)
{
	(void)arg;
	struct ipcq *q = handle(run->name, IPCQ_ROLE_CONSUMER);
	uint8_t buf[64];
	struct ipcq_msginfo mi;
	for (uint64_t s = 1; s <= run->n; s++) {
		int rc = ipcq_recv(q, buf, sizeof(buf), &mi, IPCQ_FOREVER);
		CHECK(rc > 0);
		CHECK(mi.seq == s && (size_t)rc == t_msg_len(TP, s, 16, 64));
		CHECK(t_verify(buf, (size_t)rc, TP, s) == 0);
		__atomic_store_n(&run->got, s, __ATOMIC_SEQ_CST);
	}
	CHECK_RC(ipcq_close(q), 0);
	return 0;
}

static void test_peek_release(void)
{
	section = "peek/release";
	enum { CAP = 4, MAX = 64 };
	const char *name = t_qname("zc");
	struct ipcq_config cfg = t_config(CAP, MAX);
	struct ipcq *x = t_create(name, &cfg);
	struct ipcq *p = handle(name, IPCQ_ROLE_PRODUCER);
	struct ipcq *c = handle(name, IPCQ_ROLE_CONSUMER);
	struct ipcq *c2 = handle(name, IPCQ_ROLE_CONSUMER);
	int32_t pi = index_of(p);
	struct ipcq_zmsg m[8], m2[8];
	uint8_t copy[2][MAX];
	void *bufs[CAP];
	uint64_t seq = 1;

	/* pointers to the payloads, with their info, in queue order */
	send_copy(p, 1, 16);
	send_copy(p, 2, 64);
	send_copy(p, 3, 17);
	memset(m, 0, sizeof(m));
	CHECK_RC(ipcq_peek(c, m, 8, IPCQ_NOWAIT), 3);
	check_msg(m[0].data, m[0].len, &m[0].info, 1, 16, pi);
	check_msg(m[1].data, m[1].len, &m[1].info, 2, 64, pi);
	check_msg(m[2].data, m[2].len, &m[2].info, 3, 17, pi);
	for (unsigned i = 0; i < 3; i++)
		CHECK(m[i].info.token == 0 && m[i].info.stream == 0);
	CHECK(m[0].data != m[1].data && m[1].data != m[2].data);
	/* counted as a copying receive counts: messages, bytes, one call */
	struct ipcq_participant_stats cs = t_my_stats(c);
	CHECK(cs.received == 3 && cs.received_bytes == 16 + 64 + 17 && cs.recv_calls == 1);
	/* one peek at a time, from any receive call's point of view */
	CHECK_RC(ipcq_peek(c, m2, 1, IPCQ_NOWAIT), -EALREADY);
	CHECK_RC(ipcq_peek(c, m2, 1, IPCQ_FOREVER), -EALREADY);
	CHECK_RC(ipcq_release(c), 0);
	CHECK_RC(ipcq_release(c), -EINVAL);
	seq = 4;
	expect_empty(c);

	/* peeked slots are not reused before the release: capacity 4, two
	 * peeked, exactly two more messages fit */
	send_copy(p, seq, 40);
	send_copy(p, seq + 1, 41);
	CHECK_RC(ipcq_peek(c, m, 2, IPCQ_NOWAIT), 2);
	memcpy(copy[0], m[0].data, m[0].len);
	memcpy(copy[1], m[1].data, m[1].len);
	send_copy(p, seq + 2, 42);
	send_zc(p, seq + 3, 1, 1, 43);
	{
		uint8_t b[MAX];
		memset(b, 0xA5, sizeof(b));
		CHECK_RC(ipcq_send(p, b, sizeof(b), IPCQ_NOWAIT), -EAGAIN);
		CHECK_RC(ipcq_reserve(p, 1, bufs, IPCQ_NOWAIT), -EAGAIN);
		CHECK_RC(ipcq_reserve(p, 1, bufs, 10 * MS), -ETIMEDOUT);
		/* another consumer takes the two others: still no room */
		recv_expect(c2, seq + 2, 42, pi);
		peek_expect(c2, 4, 1, seq + 3, 43, pi);
		expect_empty(c2);
		CHECK_RC(ipcq_send(p, b, sizeof(b), IPCQ_NOWAIT), -EAGAIN);
		CHECK_RC(ipcq_reserve(p, 2, bufs, IPCQ_NOWAIT), -EAGAIN);
	}
	CHECK(memcmp(copy[0], m[0].data, 40) == 0 && memcmp(copy[1], m[1].data, 41) == 0);
	check_msg(m[0].data, m[0].len, &m[0].info, seq, 40, pi);
	check_msg(m[1].data, m[1].len, &m[1].info, seq + 1, 41, pi);
	CHECK_RC(ipcq_release(c), 0);
	seq += 4;
	/* now the whole ring is free again */
	for (unsigned i = 0; i < CAP; i++)
		send_zc(p, seq + i, 1, 1, 20);
	CHECK_RC(ipcq_reserve(p, 1, bufs, IPCQ_NOWAIT), -EAGAIN);
	peek_expect(c, CAP, CAP, seq, 20, pi);
	seq += CAP;
	expect_empty(c);

	/* the data stays valid and unchanged while other processes keep
	 * producing and consuming: they go on until the ring wraps onto the
	 * peeked slots, and no further */
	send_copy(p, seq, 50);
	send_copy(p, seq + 1, 51);
	CHECK_RC(ipcq_peek(c, m, 4, IPCQ_NOWAIT), 2);
	memcpy(copy[0], m[0].data, 50);
	memcpy(copy[1], m[1].data, 51);
	run = (struct runner *)t_shared(sizeof(*run));
	run->name = name;
	run->n = 300;
	run->pidx = -1;
	pid_t rp = t_spawn(run_producer, NULL);
	pid_t rc = t_spawn(run_consumer, NULL);
	/* they go on until the producer's next slot is a peeked one: its
	 * first full ring (the two free slots were released a lap ago), with
	 * everything it sent received */
	uint64_t dl = t_now_ns() + 20ull * 1000000000ull;
	unsigned round = 0;
	for (;;) {
		if (memcmp(copy[0], m[0].data, 50) != 0 || memcmp(copy[1], m[1].data, 51) != 0)
			T_FAIL("[%s] peeked data changed before the release (producer sent %" PRIu64
			       ")", section, __atomic_load_n(&run->sent, __ATOMIC_SEQ_CST));
		uint64_t s = __atomic_load_n(&run->sent, __ATOMIC_SEQ_CST);
		if (s > CAP - 2)
			T_FAIL("[%s] with 2 of %u slots peeked, a producer sent %" PRIu64
			       " messages: a peeked slot was reused", section, CAP, s);
		if (s == CAP - 2 && __atomic_load_n(&run->got, __ATOMIC_SEQ_CST) == CAP - 2 &&
		    t_part(x, rp).full >= 1)
			break;
		t_kids_check(0, section);
		if (t_now_ns() > dl)
			T_FAIL("[%s] the producer never ran into the peeked slots (sent %" PRIu64
			       ", received %" PRIu64 ")", section, s,
			       __atomic_load_n(&run->got, __ATOMIC_SEQ_CST));
		t_poll_pause(&round);
	}
	/* blocked on them: still no further, data unchanged */
	if (memcmp(copy[0], m[0].data, 50) != 0 || memcmp(copy[1], m[1].data, 51) != 0)
		T_FAIL("[%s] peeked data changed before the release", section);
	CHECK(__atomic_load_n(&run->sent, __ATOMIC_SEQ_CST) == CAP - 2);
	CHECK(__atomic_load_n(&run->got, __ATOMIC_SEQ_CST) == CAP - 2);
	check_msg(m[0].data, m[0].len, &m[0].info, seq, 50, pi);
	check_msg(m[1].data, m[1].len, &m[1].info, seq + 1, 51, pi);
	CHECK_RC(ipcq_release(c), 0);
	CHECK(t_reap(rp) == 0);
	CHECK(t_reap(rc) == 0);
	CHECK(run->got == run->n);
	seq += 2;
	expect_empty(c);
	munmap(run, sizeof(*run));

	struct ipcq_info in = t_info(x);
	CHECK(in.depth == 0 && in.enqueued == in.dequeued);
	CHECK_RC(ipcq_close(p), 0);
	CHECK_RC(ipcq_close(c), 0);
	CHECK_RC(ipcq_close(c2), 0);
	CHECK_RC(ipcq_close(x), 0);
}

/* ---- batches and mixing with the copying calls --------------------------- */

static void test_mixing(void)
{
	section = "mixing";
	enum { CAP = 16, MAX = 128 };
	const char *name = t_qname("zc");
	struct ipcq_config cfg = t_config(CAP, MAX);
	struct ipcq *x = t_create(name, &cfg);
	struct ipcq *p = handle(name, IPCQ_ROLE_PRODUCER);
	struct ipcq *c = handle(name, IPCQ_ROLE_CONSUMER);
	struct ipcq *pc = handle(name, IPCQ_ROLE_PRODUCER | IPCQ_ROLE_CONSUMER);
	int32_t pi = index_of(p), pci = index_of(pc);
	uint8_t mem[CAP][MAX];
	struct ipcq_buf b[CAP];
	struct ipcq_msginfo mi[CAP];
	uint64_t seq = 1;

	/* batch reserve/commit of every size, batch peek of every size */
	for (unsigned n = 1; n <= CAP; n++) {
		send_zc(p, seq, n, n, 16 + n);
		for (unsigned got = 0; got < n;) {
			unsigned ask = 1 + (n + got) % 5;
			unsigned want = n - got < ask ? n - got : ask;
			peek_expect(c, ask, want, seq + got, 16 + n, pi);
			got += want;
		}
		seq += n;
	}
	expect_empty(c);

	/* copying sends, zero-copy receives, and the reverse, interleaved */
	send_copy(p, seq, 20);                 /* copy send */
	send_zc(p, seq + 1, 2, 2, 20);         /* zc send */
	for (unsigned i = 0; i < 3; i++) {     /* copy batch send */
		b[i].data = mem[i];
		b[i].len = 20;
		t_fill(mem[i], 20, TP, seq + 3 + i);
	}
	CHECK_RC(ipcq_send_batch(p, b, 3, IPCQ_NOWAIT), 3);
	send_zc(p, seq + 6, 3, 1, 20);         /* zc send, two skips */
	send_copy(p, seq + 7, 20);
	recv_expect(c, seq, 20, pi);           /* copy recv of a copy send */
	peek_expect(c, 2, 2, seq + 1, 20, pi); /* zc of zc */
	recv_expect(c, seq + 3, 20, pi);       /* copy of copy-batch */
	peek_expect(c, 1, 1, seq + 4, 20, pi); /* zc of copy-batch */
	for (unsigned i = 0; i < CAP; i++)
		b[i] = (struct ipcq_buf){ mem[i], MAX };
	CHECK_RC(ipcq_recv_batch(c, b, mi, CAP, IPCQ_NOWAIT), 3); /* copy of copy, zc, copy */
	for (unsigned i = 0; i < 3; i++)
		check_msg(b[i].data, b[i].len, &mi[i], seq + 5 + i, 20, pi);
	seq += 8;
	expect_empty(c);

	/* one handle in both roles: its own messages, both ways */
	send_zc(pc, 1, 3, 3, 60);
	peek_expect(pc, 8, 3, 1, 60, pci);
	send_copy(pc, 4, 61);
	peek_expect(pc, 8, 1, 4, 61, pci);
	send_zc(pc, 5, 1, 1, 62);
	recv_expect(pc, 5, 62, pci);
	/* a reservation and a peek open at the same time on one handle */
	{
		void *rb[2];
		struct ipcq_zmsg z[2];
		send_copy(pc, 6, 63);
		CHECK_RC(ipcq_reserve(pc, 2, rb, IPCQ_NOWAIT), 2);
		CHECK_RC(ipcq_peek(pc, z, 2, IPCQ_NOWAIT), 1);
		check_msg(z[0].data, z[0].len, &z[0].info, 6, 63, pci);
		size_t lens[2] = { 64, 65 };
		t_fill(rb[0], 64, TP, 7);
		t_fill(rb[1], 65, TP, 8);
		CHECK_RC(ipcq_commit(pc, lens, 2), 0);
		CHECK_RC(ipcq_release(pc), 0);
		peek_expect(pc, 1, 1, 7, 64, pci);
		recv_expect(pc, 8, 65, pci);
	}
	expect_empty(c);
	struct ipcq_info in = t_info(x);
	CHECK(in.depth == 0 && in.enqueued == in.dequeued);
	CHECK_RC(ipcq_close(p), 0);
	CHECK_RC(ipcq_close(c), 0);
	CHECK_RC(ipcq_close(pc), 0);
	CHECK_RC(ipcq_close(x), 0);
}

/* ---- ack mode ------------------------------------------------------------- */

static void check_ack_msg(const struct ipcq_zmsg *z, uint64_t seq, size_t len, int32_t producer,
			  uint32_t deliveries)
{
	if (z->len != len || z->info.len != len || z->info.seq != seq ||
	    (int32_t)z->info.producer != producer || t_verify(z->data, len, TP, seq) != 0)
		T_FAIL("[%s] ack peek: seq %" PRIu64 " len %zu producer %u, expected seq %" PRIu64
		       " len %zu producer %d (or content differs)", section, z->info.seq, z->len,
		       z->info.producer, seq, len, producer);
	uint32_t want_flags = deliveries > 1 ? IPCQ_MSG_REDELIVERED : 0;
	if (z->info.deliveries != deliveries || z->info.flags != want_flags || z->info.token == 0)
		T_FAIL("[%s] ack peek of seq %" PRIu64 ": deliveries %u flags 0x%x token %#" PRIx64
		       ", expected deliveries %u flags 0x%x and a token", section, seq,
		       z->info.deliveries, z->info.flags, z->info.token, deliveries, want_flags);
}

static void test_ack(void)
{
	section = "ack mode";
	enum { CAP = 4, MAX = 64 };
	const char *name = t_qname("zc");
	struct ipcq_config cfg = t_config(CAP, MAX);
	cfg.lease_capacity = 8;
	cfg.side_capacity = 4;
	struct ipcq *x = t_create(name, &cfg);
	struct ipcq *p = handle(name, IPCQ_ROLE_PRODUCER);
	struct ipcq_attach_opts o = IPCQ_ATTACH_OPTS_INIT;
	o.flags = IPCQ_ATTACH_ACK;
	o.prefetch = 3;
	struct ipcq *a = t_open_attach(name, IPCQ_ROLE_CONSUMER, &o);
	struct ipcq *a2 = t_open_attach(name, IPCQ_ROLE_CONSUMER, &o);
	int32_t pi = index_of(p);
	struct ipcq_zmsg z[4], z2[4];
	uint8_t copy[MAX];
	void *bufs[1];

	for (unsigned i = 0; i < CAP; i++)
		send_copy(p, 1 + i, 30 + i);
	CHECK_RC(ipcq_reserve(p, 1, bufs, IPCQ_NOWAIT), -EAGAIN);
	/* one message per call, leased: its ring slot is free at once */
	CHECK_RC(ipcq_peek(a, z, 4, IPCQ_NOWAIT), 1);
	check_ack_msg(&z[0], 1, 30, pi, 1);
	memcpy(copy, z[0].data, 30);
	CHECK_RC(ipcq_peek(a, z2, 1, IPCQ_NOWAIT), -EALREADY);
	send_zc(p, 5, 1, 1, 34);
	CHECK_RC(ipcq_release(a), 0);
	CHECK_RC(ipcq_release(a), -EINVAL);
	CHECK(t_info(x).leased == 1);
	/* the data lives in the lease: valid after the release, while other
	 * consumers and producers go round the ring several times */
	uint64_t s2 = 2;
	for (unsigned lap = 0; lap < 4 * CAP; lap++) {
		CHECK_RC(ipcq_peek(a2, z2, 1, IPCQ_NOWAIT), 1);
		check_ack_msg(&z2[0], s2, s2 < 5 ? 30 + s2 - 1 : s2 == 5 ? 34 : 35, pi, 1);
		CHECK_RC(ipcq_release(a2), 0);
		CHECK_RC(ipcq_ack(a2, z2[0].info.token), 0);
		CHECK_RC(ipcq_ack(a2, z2[0].info.token), -ESTALE);
		send_zc(p, 6 + lap, 1, 1, 35);
		s2++;
	}
	if (memcmp(copy, z[0].data, 30) != 0)
		T_FAIL("[%s] an ack-mode peek's data changed before its ack", section);
	check_ack_msg(&z[0], 1, 30, pi, 1);
	/* nack: delivered again, before newer messages, flagged */
	CHECK_RC(ipcq_nack(a, z[0].info.token, IPCQ_NACK_REQUEUE), 0);
	CHECK_RC(ipcq_ack(a, z[0].info.token), -ESTALE);
	CHECK_RC(ipcq_peek(a2, z2, 1, IPCQ_NOWAIT), 1);
	check_ack_msg(&z2[0], 1, 30, pi, 2);
	CHECK_RC(ipcq_release(a2), 0);
	/* nack again from the second consumer, the first takes it back */
	CHECK_RC(ipcq_nack(a2, z2[0].info.token, IPCQ_NACK_REQUEUE), 0);
	CHECK_RC(ipcq_peek(a, z, 1, IPCQ_NOWAIT), 1);
	check_ack_msg(&z[0], 1, 30, pi, 3);
	CHECK_RC(ipcq_release(a), 0);
	CHECK_RC(ipcq_ack(a2, z[0].info.token), -ESTALE); /* not a2's */
	CHECK_RC(ipcq_ack(a, z[0].info.token), 0);
	/* nack as poison: to the side ring */
	CHECK_RC(ipcq_peek(a, z, 1, IPCQ_NOWAIT), 1);
	check_ack_msg(&z[0], s2, 35, pi, 1);
	CHECK_RC(ipcq_release(a), 0);
	CHECK_RC(ipcq_nack(a, z[0].info.token, IPCQ_NACK_POISON), 1);
	CHECK(t_info(x).side_depth == 1);
	s2++;
	/* prefetch 3: a fourth unacknowledged peek is refused */
	for (unsigned i = 0; i < 3; i++) {
		CHECK_RC(ipcq_peek(a, &z[i], 1, IPCQ_NOWAIT), 1);
		check_ack_msg(&z[i], s2 + i, 35, pi, 1);
		CHECK_RC(ipcq_release(a), 0);
	}
	CHECK_RC(ipcq_peek(a, &z[3], 1, IPCQ_NOWAIT), -EBUSY);
	CHECK_RC(ipcq_release(a), -EINVAL);
	for (unsigned i = 0; i < 3; i++)
		CHECK(t_verify(z[i].data, 35, TP, s2 + i) == 0);
	for (unsigned i = 0; i < 3; i++)
		CHECK_RC(ipcq_ack(a, z[i].info.token), 0);
	s2 += 3;
	/* drain what is left */
	for (;;) {
		int rc = ipcq_peek(a, z, 1, IPCQ_NOWAIT);
		if (rc == -EAGAIN)
			break;
		CHECK_RC(rc, 1);
		check_ack_msg(&z[0], s2, 35, pi, 1);
		CHECK_RC(ipcq_release(a), 0);
		CHECK_RC(ipcq_ack(a, z[0].info.token), 0);
		s2++;
	}
	CHECK(s2 == 6 + 4 * CAP);
	struct ipcq_info in = t_info(x);
	CHECK(in.depth == 0 && in.leased == 0 && in.redeliverable == 0);
	CHECK_RC(ipcq_close(p), 0);
	CHECK_RC(ipcq_close(a), 0);
	CHECK_RC(ipcq_close(a2), 0);
	CHECK_RC(ipcq_close(x), 0);
}

/* ---- named producers ------------------------------------------------------ */

static void peek_named(struct ipcq *c, uint64_t seq, size_t len, uint32_t *stream)
{
	struct ipcq_zmsg z;
	CHECK_RC(ipcq_peek(c, &z, 1, IPCQ_NOWAIT), 1);
	if (z.info.seq != seq || z.len != len || t_verify(z.data, len, TP, seq) != 0)
		T_FAIL("[%s] named: got seq %" PRIu64 " len %zu, expected seq %" PRIu64 " len %zu",
		       section, z.info.seq, z.len, seq, len);
	if (z.info.stream == 0 || (*stream && z.info.stream != *stream))
		T_FAIL("[%s] named: stream %u (expected %u)", section, z.info.stream, *stream);
	*stream = z.info.stream;
	CHECK_RC(ipcq_release(c), 0);
}

static void test_named(void)
{
	section = "named producer";
	const char *name = t_qname("zc");
	struct ipcq_config cfg = t_config(16, 64);
	struct ipcq *x = t_create(name, &cfg);
	struct ipcq_attach_opts o = IPCQ_ATTACH_OPTS_INIT;
	o.name = "zc-named";
	o.flags = IPCQ_ATTACH_DEDUP;
	struct ipcq *p = t_open_attach(name, IPCQ_ROLE_PRODUCER, &o);
	struct ipcq *c = handle(name, IPCQ_ROLE_CONSUMER);
	uint64_t last = 99;
	uint32_t stream = 0;
	void *bufs[4];
	size_t lens[4] = { 24, 24, 24, 24 };

	CHECK_RC(ipcq_last_seq(p, &last), 0);
	CHECK(last == 0);
	uint8_t buf[64];
	t_fill(buf, 24, TP, 10);
	CHECK_RC(ipcq_send_seq(p, 10, buf, 24, IPCQ_NOWAIT), 0);
	CHECK_RC(ipcq_last_seq(p, &last), 0);
	CHECK(last == 10);
	/* reserve/commit continues the name's sequence */
	CHECK_RC(ipcq_reserve(p, 3, bufs, IPCQ_NOWAIT), 3);
	for (unsigned i = 0; i < 3; i++)
		t_fill(bufs[i], 24, TP, 11 + i);
	CHECK_RC(ipcq_last_seq(p, &last), 0);
	CHECK(last == 10); /* nothing accepted before the commit */
	CHECK_RC(ipcq_commit(p, lens, 3), 0);
	CHECK_RC(ipcq_last_seq(p, &last), 0);
	CHECK(last == 13);
	/* a partial commit uses sequences only for what it publishes */
	CHECK_RC(ipcq_reserve(p, 4, bufs, IPCQ_NOWAIT), 4);
	t_fill(bufs[0], 24, TP, 14);
	t_fill(bufs[1], 24, TP, 15);
	CHECK_RC(ipcq_commit(p, lens, 2), 0);
	CHECK_RC(ipcq_last_seq(p, &last), 0);
	CHECK(last == 15);
	/* a given-up reservation uses none */
	CHECK_RC(ipcq_reserve(p, 2, bufs, IPCQ_NOWAIT), 2);
	CHECK_RC(ipcq_commit(p, NULL, 0), 0);
	CHECK_RC(ipcq_last_seq(p, &last), 0);
	CHECK(last == 15);
	t_fill(buf, 24, TP, 16);
	CHECK_RC(ipcq_send(p, buf, 24, IPCQ_NOWAIT), 0);
	for (uint64_t s = 10; s <= 16; s++)
		peek_named(c, s, 24, &stream);
	expect_empty(c);
	/* a restart under the name resumes after ipcq_last_seq */
	CHECK_RC(ipcq_close(p), 0);
	p = t_open_attach(name, IPCQ_ROLE_PRODUCER, &o);
	CHECK_RC(ipcq_last_seq(p, &last), 0);
	CHECK(last == 16);
	CHECK_RC(ipcq_reserve(p, 2, bufs, IPCQ_NOWAIT), 2);
	t_fill(bufs[0], 24, TP, 17);
	t_fill(bufs[1], 24, TP, 18);
	CHECK_RC(ipcq_commit(p, lens, 2), 0);
	CHECK_RC(ipcq_last_seq(p, &last), 0);
	CHECK(last == 18);
	peek_named(c, 17, 24, &stream);
	peek_named(c, 18, 24, &stream);
	expect_empty(c);
	CHECK_RC(ipcq_close(p), 0);
	CHECK_RC(ipcq_close(c), 0);
	CHECK_RC(ipcq_close(x), 0);
}

/* ---- multi-process, zero copy only --------------------------------------- */

#define MP_MAXP 8

struct mp {
	const char *name;
	const char *label;
	unsigned np, nc;
	uint64_t msgs;              /* per producer */
	uint32_t min_len, max_len;
	pthread_barrier_t *start;
	int32_t pidx[MP_MAXP];
	uint64_t received;
	uint64_t skipped;           /* slots given up by producers */
	uint64_t peeks, reserves;
	uint64_t words;
	uint64_t bits[];
};

static struct mp *mp;

static int mp_producer(void *arg)
{
	unsigned id = (unsigned)(uintptr_t)arg;
	struct ipcq *q = handle(mp->name, IPCQ_ROLE_PRODUCER);
	void *bufs[16];
	size_t lens[16];
	uint64_t skipped = 0, calls = 0;
	mp->pidx[id] = index_of(q);
	pthread_barrier_wait(mp->start);
	for (uint64_t seq = 1; seq <= mp->msgs;) {
		unsigned want = 1 + t_msg_len(id, seq, 0, 15);
		int k = ipcq_reserve(q, want, bufs, IPCQ_FOREVER);
		if (k < 1 || k > (int)want)
			T_FAIL("%s: producer %u: ipcq_reserve(%u) returned %d (%s)", mp->label, id,
			       want, k, ipcq_strerror(k));
		calls++;
		/* use all, or give some up (never past the message count) */
		unsigned used = (unsigned)k;
		if (k > 1 && (seq & 3) == 0)
			used = (unsigned)k - 1 - (unsigned)(seq % (uint64_t)k) % ((unsigned)k - 1);
		if (used > mp->msgs - seq + 1)
			used = (unsigned)(mp->msgs - seq + 1);
		for (unsigned i = 0; i < used; i++) {
			lens[i] = t_msg_len(id, seq + i, mp->min_len, mp->max_len);
			t_fill(bufs[i], lens[i], id, seq + i);
		}
		CHECK_RC(ipcq_commit(q, lens, used), 0);
		skipped += (unsigned)k - used;
		seq += used;
	}
	__atomic_add_fetch(&mp->skipped, skipped, __ATOMIC_RELAXED);
	__atomic_add_fetch(&mp->reserves, calls, __ATOMIC_RELAXED);
	CHECK_RC(ipcq_close(q), 0);
	return 0;
}

static int mp_consumer(void *arg)
{
	unsigned id = (unsigned)(uintptr_t)arg;
	struct ipcq *q = handle(mp->name, IPCQ_ROLE_CONSUMER);
	struct ipcq_zmsg z[16];
	uint64_t last[MP_MAXP] = { 0 }, calls = 0;
	uint64_t total = (uint64_t)mp->np * mp->msgs;
	pthread_barrier_wait(mp->start);
	for (unsigned round = 0;; round++) {
		if (__atomic_load_n(&mp->received, __ATOMIC_SEQ_CST) >= total)
			break;
		unsigned want = 1 + (round * 7 + id * 3) % 16;
		int n = ipcq_peek(q, z, want, 20 * MS);
		if (n == -ETIMEDOUT)
			continue;
		if (n < 1 || n > (int)want)
			T_FAIL("%s: consumer %u: ipcq_peek(%u) returned %d (%s)", mp->label, id, want,
			       n, ipcq_strerror(n));
		calls++;
		for (int i = 0; i < n; i++) {
			const struct ipcq_msginfo *mi = &z[i].info;
			unsigned p;
			for (p = 0; p < mp->np; p++)
				if (mp->pidx[p] == (int32_t)mi->producer)
					break;
			if (p == mp->np)
				T_FAIL("%s: consumer %u: message from unknown participant %u", mp->label,
				       id, mi->producer);
			uint32_t hp;
			uint64_t seq;
			if (z[i].len < 16)
				T_FAIL("%s: consumer %u: %zu-byte message", mp->label, id, z[i].len);
			t_header(z[i].data, &hp, &seq);
			if (hp != p || seq != mi->seq || seq < 1 || seq > mp->msgs)
				T_FAIL("%s: consumer %u: header (%u, %" PRIu64 ") but info (producer %u,"
				       " seq %" PRIu64 ")", mp->label, id, hp, seq, p, mi->seq);
			if (seq <= last[p])
				T_FAIL("%s: consumer %u: producer %u: sequence %" PRIu64 " after %" PRIu64
				       " (per-producer order broken)", mp->label, id, p, seq, last[p]);
			last[p] = seq;
			uint32_t want_len = t_msg_len(p, seq, mp->min_len, mp->max_len);
			if (z[i].len != want_len || mi->len != want_len)
				T_FAIL("%s: consumer %u: producer %u seq %" PRIu64 ": len %zu (info %" PRIu64
				       "), sent %u", mp->label, id, p, seq, z[i].len, mi->len, want_len);
			if (t_verify(z[i].data, z[i].len, p, seq) != 0)
				T_FAIL("%s: consumer %u: producer %u seq %" PRIu64 ": content differs",
				       mp->label, id, p, seq);
			if (mi->deliveries != 1 || mi->flags != 0 || mi->token != 0)
				T_FAIL("%s: consumer %u: deliveries %u flags 0x%x token %" PRIx64,
				       mp->label, id, mi->deliveries, mi->flags, mi->token);
			uint64_t bit = 1ull << (seq % 64);
			uint64_t old = __atomic_fetch_or(&mp->bits[p * mp->words + seq / 64], bit,
							 __ATOMIC_RELAXED);
			if (old & bit)
				T_FAIL("%s: consumer %u: producer %u seq %" PRIu64 " received twice",
				       mp->label, id, p, seq);
		}
		CHECK_RC(ipcq_release(q), 0);
		__atomic_add_fetch(&mp->received, (uint64_t)n, __ATOMIC_SEQ_CST);
	}
	__atomic_add_fetch(&mp->peeks, calls, __ATOMIC_RELAXED);
	CHECK_RC(ipcq_close(q), 0);
	return 0;
}

static void mp_report(void)
{
	if (mp == NULL)
		return;
	t_say("  received ");
	t_say_u64(__atomic_load_n(&mp->received, __ATOMIC_RELAXED));
	t_say(" of ");
	t_say_u64(mp->np * mp->msgs);
	t_say("\n");
}

static void test_mp(const char *label, unsigned np, unsigned nc, uint32_t capacity,
		    uint32_t max_len, uint64_t msgs)
{
	section = label;
	const char *name = t_qname("zcmp");
	struct ipcq_config cfg = t_config(capacity, max_len);
	cfg.max_participants = np + nc + 2;
	struct ipcq *x = t_create(name, &cfg);
	uint64_t words = msgs / 64 + 1;
	size_t size = sizeof(struct mp) + np * words * sizeof(uint64_t);
	mp = (struct mp *)t_shared(size);
	mp->name = name;
	mp->label = label;
	mp->np = np;
	mp->nc = nc;
	mp->msgs = msgs;
	mp->max_len = max_len;
	mp->min_len = max_len / 4 < 16 ? 16 : max_len / 4;
	mp->words = words;
	mp->start = t_barrier(np + nc + 1);
	t_watchdog(t_limit(60), label, mp_report);
	pid_t pids[2 * MP_MAXP];
	for (unsigned i = 0; i < nc; i++)
		pids[i] = t_spawn(mp_consumer, (void *)(uintptr_t)i);
	for (unsigned i = 0; i < np; i++)
		pids[nc + i] = t_spawn(mp_producer, (void *)(uintptr_t)i);
	pthread_barrier_wait(mp->start);
	uint64_t t0 = t_now_ns();
	for (unsigned i = 0; i < np + nc; i++)
		if (t_reap_watch(pids[i], t_limit(60), label) != 0)
			T_FAIL("%s: %s %u failed", label, i < nc ? "consumer" : "producer",
			       i < nc ? i : i - nc);
	double secs = (double)(t_now_ns() - t0) / 1e9;
	t_watchdog(0, NULL, NULL);
	for (unsigned p = 0; p < np; p++)
		for (uint64_t s = 1; s <= msgs; s++)
			if (!(mp->bits[p * words + s / 64] & (1ull << (s % 64))))
				T_FAIL("%s: producer %u seq %" PRIu64 " was never received", label, p, s);
	CHECK(mp->received == (uint64_t)np * msgs);
	struct ipcq_info in = t_info(x);
	if (in.depth != 0 || in.enqueued != in.dequeued ||
	    in.enqueued != (uint64_t)np * msgs + mp->skipped || in.participants != 0)
		T_FAIL("%s: queue not clean: depth %" PRIu64 " enqueued %" PRIu64 " dequeued %" PRIu64
		       " (messages %" PRIu64 " + given-up slots %" PRIu64 ") participants %u",
		       label, in.depth, in.enqueued, in.dequeued, (uint64_t)np * msgs, mp->skipped,
		       in.participants);
	printf("  %-22s P/C %u/%u cap %-3u %5u..%-5u B %7" PRIu64 " msgs in %5.2f s"
	       " (%" PRIu64 " reserves, %" PRIu64 " slots given up, %" PRIu64 " peeks)\n",
	       label, np, nc, capacity, mp->min_len, max_len, (uint64_t)np * msgs, secs,
	       mp->reserves, mp->skipped, mp->peeks);
	fflush(stdout);
	CHECK_RC(ipcq_close(x), 0);
	CHECK_RC(ipcq_unlink(name), 0);
	pthread_barrier_destroy(mp->start);
	munmap(mp->start, sizeof(*mp->start));
	munmap(mp, size);
	mp = NULL;
}

int main(void)
{
	blk = (struct blocked *)t_shared(sizeof(*blk));
	t_watchdog(t_limit(60), "t_zerocopy", NULL);
	test_errors();
	test_reserve_commit();
	test_full();
	test_peek_release();
	test_mixing();
	test_ack();
	test_named();
	printf("single-process semantics ok\n");
	fflush(stdout);
	test_mp("zc 64 B", 2, 2, 64, 64, t_count(500000, 300000));
	test_mp("zc 64 B", 4, 4, 64, 64, t_count(250000, 150000));
	test_mp("zc 16 KiB", 2, 2, 16, 16384, t_count(40000, 20000));
	test_mp("zc 16 KiB", 4, 4, 16, 16384, t_count(20000, 10000));
	printf("t_zerocopy ok\n");
	return 0;
}
