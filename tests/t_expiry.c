/* Expiry: a message past its time to live (the queue's ttl_ms, or ipcq_send_ex's ttl_ns) is never delivered, by a copying, batch (a later message never landing in a buffer too small for it), zero-copy or ack-mode receive, nor after a retry delay (nor refused for its length when it comes back expired to a small buffer), nor after its consumer was SIGKILLed holding it; it is dropped and counted, or moved to the side ring with reason EXPIRED (a batch still returning several), and a consumer killed right after the claim that follows such a move has that message delivered again, not taken for moved; bad settings are refused. */
#include "ipcq.h"
#include "testutil.h"

#include <signal.h>

enum { MAX = 64 };
#define MS ((uint64_t)1000000)

static struct ipcq *make_queue(const char **name, uint32_t flags, uint32_t ttl_ms)
{
	struct ipcq_config cfg = t_config(16, MAX);
	cfg.lease_capacity = 8;
	cfg.side_capacity = 8;
	cfg.flags = flags;
	cfg.ttl_ms = ttl_ms;
	*name = t_qname("exp");
	struct ipcq *q = t_create(*name, &cfg);
	CHECK_RC(ipcq_attach(q, IPCQ_ROLE_PRODUCER, NULL), 0);
	return q;
}

/* Send message seq with a time to live (0: the queue's). */
static void send_ttl(struct ipcq *p, uint64_t seq, int64_t ttl_ns)
{
	uint8_t buf[MAX];
	struct ipcq_send_opts o = IPCQ_SEND_OPTS_INIT;
	size_t len = t_msg_len(0, seq, 16, MAX);
	t_fill(buf, len, 0, seq);
	o.ttl_ns = ttl_ns;
	CHECK_RC(ipcq_send_ex(p, buf, len, &o, IPCQ_NOWAIT), 0);
}

/* Send messages first, first + 1, ... with the times to live ttl[]. */
static void send_ttls(struct ipcq *p, uint64_t first, const int64_t *ttl, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		send_ttl(p, first + i, ttl[i]);
}

/* The payload's sequence of a received message, checked. */
static uint64_t got_seq(const void *buf, int len)
{
	uint32_t prod;
	uint64_t seq;
	CHECK(len >= 16);
	t_header(buf, &prod, &seq);
	CHECK(t_verify(buf, (size_t)len, 0, seq) == 0);
	return seq;
}

static uint64_t recv_one(struct ipcq *c, int64_t timeout_ns, struct ipcq_msginfo *info)
{
	uint8_t buf[MAX];
	int rc = ipcq_recv(c, buf, sizeof(buf), info, timeout_ns);
	if (rc < 0)
		T_FAIL("recv: %d (%s)", rc, ipcq_strerror(rc));
	return got_seq(buf, rc);
}

static void expect_none(struct ipcq *c, int64_t timeout_ns)
{
	uint8_t buf[MAX];
	int rc = ipcq_recv(c, buf, sizeof(buf), NULL, timeout_ns);
	if (rc >= 0)
		T_FAIL("received seq %" PRIu64 ", expected nothing", got_seq(buf, rc));
	CHECK(rc == -EAGAIN || rc == -ETIMEDOUT);
}

/* 1 ns is past by the time anyone receives; an hour never is here. */
#define GONE 1
#define HOUR ((int64_t)3600 * 1000 * (int64_t)MS)

static void test_config(void)
{
	struct ipcq_config cfg = t_config(16, MAX);
	struct ipcq *q = NULL;
	const char *name = t_qname("expcfg");
	cfg.ttl_ms = 2147483649u;
	CHECK_RC(ipcq_create(name, &cfg, &q), -EINVAL);
	CHECK(strstr(ipcq_errdetail(), "ttl_ms") != NULL);
	cfg.ttl_ms = 0;
	cfg.side_capacity = 0;
	cfg.flags = IPCQ_CF_EXPIRED_TO_SIDE;
	CHECK_RC(ipcq_create(name, &cfg, &q), -EINVAL);
	CHECK(strstr(ipcq_errdetail(), "side ring") != NULL);
	cfg.flags = 0x8;
	CHECK_RC(ipcq_create(name, &cfg, &q), -EINVAL);
	CHECK(!t_shm_exists(name));

	/* a time to live on a queue without expiry; bad options */
	cfg = t_config(16, MAX);
	q = t_create(name, &cfg);
	CHECK_OK(ipcq_attach(q, IPCQ_ROLE_PRODUCER, NULL));
	struct ipcq_send_opts o = IPCQ_SEND_OPTS_INIT;
	o.ttl_ns = 1000;
	CHECK_RC(ipcq_send_ex(q, "x", 1, &o, IPCQ_NOWAIT), -EINVAL);
	CHECK(strstr(ipcq_errdetail(), "IPCQ_CF_EXPIRY") != NULL);
	o.ttl_ns = -1;
	CHECK_RC(ipcq_send_ex(q, "x", 1, &o, IPCQ_NOWAIT), -EINVAL);
	o.ttl_ns = 0;
	o.flags = 1;
	CHECK_RC(ipcq_send_ex(q, "x", 1, &o, IPCQ_NOWAIT), -EINVAL);
	o.flags = 0;
	o.reserved[2] = 1;
	CHECK_RC(ipcq_send_ex(q, "x", 1, &o, IPCQ_NOWAIT), -EINVAL);
	o.reserved[2] = 0;
	o.size = 4;
	CHECK_RC(ipcq_send_ex(q, "x", 1, &o, IPCQ_NOWAIT), -EINVAL);
	CHECK(t_info(q).depth == 0);
	/* no options: a plain send */
	CHECK_RC(ipcq_send_ex(q, "x", 1, NULL, IPCQ_NOWAIT), 0);
	CHECK(t_info(q).depth == 1);
	ipcq_close(q);
}

/* Dropped: copying, batch and zero-copy receives pass expired messages. */
static void test_drop(void)
{
	const char *name;
	struct ipcq *p = make_queue(&name, IPCQ_CF_EXPIRY, 0);
	struct ipcq *c = t_open_attach(name, IPCQ_ROLE_CONSUMER, NULL);

	/* 2 has the queue's time to live: none */
	send_ttls(p, 1, (const int64_t[]){ GONE, 0, HOUR, GONE }, 4);
	CHECK(recv_one(c, IPCQ_NOWAIT, NULL) == 2);
	CHECK(recv_one(c, IPCQ_NOWAIT, NULL) == 3);
	expect_none(c, IPCQ_NOWAIT);
	CHECK(t_stats(p).expired == 2);

	/* a batch */
	send_ttls(p, 5, (const int64_t[]){ GONE, HOUR, GONE, 0 }, 4);
	uint8_t b[4][MAX];
	struct ipcq_buf bufs[4];
	for (unsigned i = 0; i < 4; i++)
		bufs[i] = (struct ipcq_buf){ b[i], MAX };
	int n = ipcq_recv_batch(c, bufs, NULL, 4, IPCQ_NOWAIT);
	CHECK(n == 2);
	CHECK(got_seq(b[0], (int)bufs[0].len) == 6 && got_seq(b[1], (int)bufs[1].len) == 8);
	expect_none(c, IPCQ_NOWAIT);

	/* a batch with buffers of different sizes: a message is claimed only
	 * if it fits every buffer it may land in once the expired ones before
	 * it are passed over (21 would go into bufs[0] after 20) */
	uint32_t len20 = t_msg_len(0, 20, 16, MAX), len21 = t_msg_len(0, 21, 16, MAX);
	CHECK(len20 < len21);
	send_ttls(p, 20, (const int64_t[]){ GONE, HOUR }, 2);
	for (unsigned i = 1; i < 4; i++)
		bufs[i].len = MAX;
	bufs[0].len = len21 - 1; /* 20 fits, 21 not */
	struct ipcq_msginfo mi[4];
	CHECK_RC(ipcq_recv_batch(c, bufs, mi, 4, IPCQ_NOWAIT), -ENOBUFS);
	CHECK(mi[0].len == len21);
	CHECK(recv_one(c, IPCQ_NOWAIT, NULL) == 21);
	expect_none(c, IPCQ_NOWAIT);

	/* zero copy */
	send_ttl(p, 9, GONE);
	send_ttl(p, 10, HOUR);
	struct ipcq_zmsg z[4];
	CHECK_RC(ipcq_peek(c, z, 4, IPCQ_NOWAIT), 1);
	CHECK(got_seq(z[0].data, (int)z[0].len) == 10);
	CHECK_OK(ipcq_release(c));
	expect_none(c, IPCQ_NOWAIT);
	struct ipcq_stats st = t_stats(p);
	CHECK(st.expired == 6 && st.side_expired == 0 && t_info(p).side_depth == 0);
	ipcq_close(c);
	ipcq_close(p);
}

/* Moved to the side ring, with their payload and reason. */
static void test_side(void)
{
	const char *name;
	struct ipcq *p = make_queue(&name, IPCQ_CF_EXPIRED_TO_SIDE, 0);
	struct ipcq *c = t_open_attach(name, IPCQ_ROLE_CONSUMER, NULL);

	send_ttls(p, 1, (const int64_t[]){ GONE, HOUR, GONE, 0 }, 4);
	uint8_t b[4][MAX];
	struct ipcq_buf bufs[4];
	for (unsigned i = 0; i < 4; i++)
		bufs[i] = (struct ipcq_buf){ b[i], MAX };
	/* one claim at a time, but a batch still returns both */
	CHECK_RC(ipcq_recv_batch(c, bufs, NULL, 4, IPCQ_NOWAIT), 2);
	CHECK(got_seq(b[0], (int)bufs[0].len) == 2);
	CHECK(got_seq(b[1], (int)bufs[1].len) == 4);
	expect_none(c, IPCQ_NOWAIT);
	struct ipcq_poison ps[4];
	CHECK_RC(ipcq_poison_list(p, 0, ps, 4), 2);
	uint8_t buf[MAX];
	for (unsigned i = 0; i < 2; i++) {
		CHECK(ps[i].reason == IPCQ_REASON_EXPIRED);
		int len = ipcq_poison_peek(p, ps[i].id, buf, sizeof(buf), NULL);
		CHECK(got_seq(buf, len) == 1 + 2 * i);
	}
	struct ipcq_stats st = t_stats(p);
	CHECK(st.expired == 2 && st.side_expired == 2);
	/* replayed, it is a new message without a deadline */
	CHECK_RC(ipcq_poison_replay(p, ps[0].id), 1);
	struct ipcq_msginfo mi;
	CHECK(recv_one(c, IPCQ_NOWAIT, &mi) == 1 && (mi.flags & IPCQ_MSG_REPLAYED));
	ipcq_close(c);
	ipcq_close(p);
}

/* Ack mode: expired in the ring, and expired while waiting out a retry
 * delay: never delivered again. */
static void test_ack(uint32_t flags)
{
	const char *name;
	/* the queue's time to live: 300 ms */
	struct ipcq *p = make_queue(&name, flags, 300);
	struct ipcq *c = t_ack_consumer(name, 4);
	struct ipcq_msginfo mi;

	send_ttl(p, 1, GONE);
	send_ttl(p, 2, 0);
	uint64_t sent = t_now_ns();
	CHECK(recv_one(c, IPCQ_NOWAIT, &mi) == 2);
	/* due again at 500 ms, expired at 300 ms */
	CHECK_OK(ipcq_nack_delay(c, mi.token, (int64_t)(500 * MS)));
	expect_none(c, 1500 * (int64_t)MS);
	CHECK(t_now_ns() - sent >= 500 * MS);
	struct ipcq_info in = t_info(p);
	CHECK(in.redeliverable == 0 && in.leased == 0);
	struct ipcq_stats st = t_stats(p);
	CHECK(st.expired == 2);
	CHECK(st.side_expired == ((flags & IPCQ_CF_EXPIRED_TO_SIDE) ? 2u : 0u));
	ipcq_close(c);
	ipcq_close(p);
}

/* A message given back (nack) that expires meanwhile, received into a
 * buffer too small for it: dropped as expired (-EAGAIN, nothing left),
 * not refused for its length (-ENOBUFS: a larger buffer would only have
 * found it expired). */
static void test_expired_small_buffer(void)
{
	const char *name;
	struct ipcq *p = make_queue(&name, IPCQ_CF_EXPIRY, 0);
	struct ipcq *c = t_ack_consumer(name, 4);
	struct ipcq_msginfo mi;
	uint64_t deadline = t_now_ns() + 200 * MS;
	send_ttl(p, 1, (int64_t)(200 * MS)); /* t_msg_len(0, 1, 16, MAX) bytes, above 16 */
	CHECK(recv_one(c, IPCQ_NOWAIT, &mi) == 1 && mi.len > 16);
	CHECK_OK(ipcq_nack(c, mi.token, IPCQ_NACK_REQUEUE));
	T_AWAIT(t_now_ns() > deadline, 30);
	uint8_t small[16];
	CHECK_RC(ipcq_recv(c, small, sizeof(small), NULL, IPCQ_NOWAIT), -EAGAIN);
	struct ipcq_info in = t_info(p);
	CHECK(in.redeliverable == 0 && in.leased == 0 && t_stats(p).expired == 1);
	ipcq_close(c);
	ipcq_close(p);
}

struct victim {
	const char *name;
	int holding;
};

static int hold_and_hang(void *arg)
{
	struct victim *v = arg;
	struct ipcq *c = t_ack_consumer(v->name, 4);
	recv_one(c, 2000 * (int64_t)MS, NULL);
	recv_one(c, 2000 * (int64_t)MS, NULL);
	__atomic_store_n(&v->holding, 1, __ATOMIC_SEQ_CST);
	for (;;)
		pause();
	return 0;
}

/* A consumer SIGKILLed holding messages that expire meanwhile: recovery
 * gives them back, and nobody gets them. */
static void test_killed_holder(void)
{
	const char *name;
	struct ipcq *p = make_queue(&name, IPCQ_CF_EXPIRY, 0);
	struct victim *v = t_shared(sizeof(*v));
	v->name = name;
	send_ttl(p, 1, (int64_t)(200 * MS));
	send_ttl(p, 2, (int64_t)(200 * MS));
	send_ttl(p, 3, HOUR);
	uint64_t deadline = t_now_ns() + 200 * MS;
	pid_t pid = t_fork(hold_and_hang, v);
	T_AWAIT(__atomic_load_n(&v->holding, __ATOMIC_SEQ_CST), 20);
	/* the time to live of 1 and 2 passes while their holder lives */
	/* a wait for the clock, not for other processes */
	for (unsigned r = 1000; t_now_ns() < deadline + MS;)
		t_poll_pause(&r);
	CHECK(kill(pid, SIGKILL) == 0);
	CHECK(t_wait(pid) != 0);
	struct ipcq *c = t_ack_consumer(name, 4);
	struct ipcq_msginfo mi;
	CHECK(recv_one(c, 2000 * (int64_t)MS, &mi) == 3);
	CHECK_OK(ipcq_ack(c, mi.token));
	expect_none(c, IPCQ_NOWAIT);
	CHECK(t_stats(p).expired == 2);
	ipcq_close(c);
	ipcq_close(p);
}

#if T_HAVE_POINTS
static int next_claim_crash(void *arg)
{
	struct victim *v = arg;
	/* the second claim of the receive: the message after the expired one */
	setenv("IPCQ_CRASH", "recv.claimed:2", 1);
	struct ipcq_attach_opts o = IPCQ_ATTACH_OPTS_INIT;
	o.flags = v->holding ? IPCQ_ATTACH_ACK : 0;
	struct ipcq *c = t_open_attach(v->name, IPCQ_ROLE_CONSUMER, &o);
	uint8_t buf[MAX];
	ipcq_recv(c, buf, sizeof(buf), NULL, IPCQ_NOWAIT);
	return 3; /* the crash point should have killed us */
}

/* IPCQ_CF_EXPIRED_TO_SIDE: a receive moves an expired message to the side
 * ring and, in the same call, claims the next one; killed right after that
 * claim, its consumer's move record must not make recovery take the next
 * message for moved: it is delivered again, flagged (fast and ack mode). */
static void test_side_next_claim_crash(int ack)
{
	const char *name;
	struct ipcq *p = make_queue(&name, IPCQ_CF_EXPIRED_TO_SIDE, 0);
	struct victim *v = t_shared(sizeof(*v));
	v->name = name;
	v->holding = ack; /* (read by the child as its mode) */
	send_ttls(p, 1, (const int64_t[]){ GONE, HOUR }, 2);
	pid_t pid = t_fork(next_claim_crash, v);
	CHECK(t_wait(pid) != 0);
	CHECK(t_info(p).side_depth == 1);
	struct ipcq *c = t_open_attach(name, IPCQ_ROLE_CONSUMER, NULL);
	struct ipcq_msginfo mi;
	/* its wait adopts the dead consumer's claim after the grace period */
	CHECK(recv_one(c, 2000 * (int64_t)MS, &mi) == 2);
	CHECK(mi.flags & IPCQ_MSG_REDELIVERED);
	expect_none(c, IPCQ_NOWAIT);
	struct ipcq_poison ps[2];
	CHECK_RC(ipcq_poison_list(p, 0, ps, 2), 1);
	CHECK(ps[0].reason == IPCQ_REASON_EXPIRED && ps[0].seq == 1);
	ipcq_close(c);
	ipcq_close(p);
}

static int fast_crash(void *arg)
{
	struct victim *v = arg;
	setenv("IPCQ_CRASH", "recv.copied", 1);
	struct ipcq *c = t_open_attach(v->name, IPCQ_ROLE_CONSUMER, NULL);
	uint8_t buf[MAX];
	ipcq_recv(c, buf, sizeof(buf), NULL, 2000 * (int64_t)MS);
	return 3; /* the crash point should have killed us */
}

/* A fast-mode consumer killed after copying, before releasing: the
 * adopter finds the message expired and drops it. */
static void test_adopted(void)
{
	const char *name;
	struct ipcq *p = make_queue(&name, IPCQ_CF_EXPIRY, 0);
	struct victim *v = t_shared(sizeof(*v));
	v->name = name;
	send_ttl(p, 1, (int64_t)(100 * MS));
	uint64_t deadline = t_now_ns() + 100 * MS;
	pid_t pid = t_fork(fast_crash, v);
	CHECK(t_wait(pid) != 0);
	/* a wait for the clock, not for other processes */
	for (unsigned r = 1000; t_now_ns() < deadline + MS;)
		t_poll_pause(&r);
	send_ttl(p, 2, HOUR);
	struct ipcq *c = t_open_attach(name, IPCQ_ROLE_CONSUMER, NULL);
	CHECK(recv_one(c, 2000 * (int64_t)MS, NULL) == 2);
	/* the wait adopts the dead consumer's message (its grace period is
	 * 10 ms), finds it expired and drops it */
	expect_none(c, 1000 * (int64_t)MS);
	CHECK(t_stats(p).expired == 1 && t_stats(p).redelivered == 1);
	ipcq_close(c);
	ipcq_close(p);
}
#endif

int main(void)
{
	test_config();
	test_drop();
	test_side();
	test_ack(IPCQ_CF_EXPIRY);
	test_ack(IPCQ_CF_EXPIRED_TO_SIDE);
	test_expired_small_buffer();
	test_killed_holder();
#if T_HAVE_POINTS
	test_adopted();
	test_side_next_claim_crash(0);
	test_side_next_claim_crash(1);
#endif
	printf("ok\n");
	return 0;
}
