/* Delayed retry in ack mode: ipcq_nack_delay() and the queue's backoff (base, factor, cap by delivery count) keep a message from being delivered again before its time while the ring flows; the not-before time outlives the SIGKILLed consumer that gave it back; a sleeping receiver wakes for it; bad settings are refused. */
#include "ipcq.h"
#include "testutil.h"

#include <signal.h>

enum { MAX = 64 };
#define MS ((uint64_t)1000000)

static struct ipcq *make_queue(const char **name, uint32_t base_us, uint32_t factor,
			       uint32_t max_us, uint32_t grace_us)
{
	struct ipcq_config cfg = t_config(16, MAX);
	cfg.lease_capacity = 8;
	cfg.max_deliveries = 10;
	cfg.retry_base_us = base_us;
	cfg.retry_factor = factor;
	cfg.retry_max_us = max_us;
	if (grace_us)
		cfg.grace_us = grace_us;
	*name = t_qname("retry");
	struct ipcq *q = t_create(*name, &cfg);
	CHECK_RC(ipcq_attach(q, IPCQ_ROLE_PRODUCER, NULL), 0);
	return q;
}

/* Receive (waiting up to timeout_ns) the message of producer sequence seq,
 * its deliveries-th delivery. */
static struct ipcq_msginfo recv_seq(struct ipcq *c, uint64_t seq, uint32_t deliveries,
				    int64_t timeout_ns)
{
	uint8_t buf[MAX];
	struct ipcq_msginfo info;
	memset(&info, 0, sizeof(info));
	int rc = ipcq_recv(c, buf, sizeof(buf), &info, timeout_ns);
	if (rc < 0)
		T_FAIL("recv of seq %" PRIu64 ": %d (%s)", seq, rc, ipcq_strerror(rc));
	uint32_t prod;
	uint64_t got;
	t_header(buf, &prod, &got);
	if (got != seq || info.deliveries != deliveries)
		T_FAIL("got seq %" PRIu64 " delivery %u, expected seq %" PRIu64 " delivery %u",
		       got, info.deliveries, seq, deliveries);
	CHECK(t_verify(buf, (size_t)rc, 0, seq) == 0);
	CHECK(((info.flags & IPCQ_MSG_REDELIVERED) != 0) == (deliveries > 1));
	return info;
}

static void expect_empty(struct ipcq *c)
{
	uint8_t buf[MAX];
	CHECK_RC(ipcq_recv(c, buf, sizeof(buf), NULL, IPCQ_NOWAIT), -EAGAIN);
}

/* An explicit delay: the ring flows meanwhile, the message comes back not
 * before its time, to a receiver asleep until then. */
static void test_explicit(void)
{
	const char *name;
	/* a long grace period: the sleeper must wake for the due time, not
	 * for its periodic recovery look */
	struct ipcq *p = make_queue(&name, 0, 0, 0, 5000000);
	struct ipcq *c = t_ack_consumer(name, 4);

	t_send_pattern(p, MAX, 1);
	t_send_pattern(p, MAX, 2);
	struct ipcq_msginfo a = recv_seq(c, 1, 1, IPCQ_NOWAIT);
	CHECK_RC(ipcq_nack_delay(c, a.token, -1), -EINVAL);
	CHECK_RC(ipcq_nack_delay(c, a.token, (int64_t)IPCQ_RETRY_MAX_NS + 1), -EINVAL);
	uint64_t t0 = t_now_ns();
	CHECK_RC(ipcq_nack_delay(c, a.token, (int64_t)(300 * MS)), 0);
	CHECK_RC(ipcq_nack_delay(c, a.token, (int64_t)(300 * MS)), -ESTALE);
	struct ipcq_info in = t_info(p);
	CHECK(in.redeliverable == 1 && in.delayed == 1 && in.leased == 0);

	/* message 2 flows past it; then nothing is due */
	struct ipcq_msginfo b = recv_seq(c, 2, 1, IPCQ_NOWAIT);
	CHECK_OK(ipcq_ack(c, b.token));
	expect_empty(c);
	/* a waiting receive gets it, not before its time, and well before
	 * the 5 s grace period would have woken it */
	a = recv_seq(c, 1, 2, 4000 * (int64_t)MS);
	uint64_t waited = t_now_ns() - t0;
	if (waited < 300 * MS)
		T_FAIL("delivered again after %" PRIu64 " ms, before its 300 ms delay",
		       waited / MS);
	if (waited > 3500 * MS)
		T_FAIL("a sleeping receiver woke %" PRIu64 " ms after the nack, not at the due time",
		       waited / MS);
	in = t_info(p);
	CHECK(in.redeliverable == 0 && in.delayed == 0 && in.leased == 1);

	/* 0 is at once */
	CHECK_RC(ipcq_nack_delay(c, a.token, 0), 0);
	in = t_info(p);
	CHECK(in.redeliverable == 1 && in.delayed == 0);
	a = recv_seq(c, 1, 3, IPCQ_NOWAIT);
	CHECK_OK(ipcq_ack(c, a.token));
	expect_empty(c);

	/* a due message is not held up by a delayed one */
	t_send_pattern(p, MAX, 3);
	t_send_pattern(p, MAX, 4);
	struct ipcq_msginfo m3 = recv_seq(c, 3, 1, IPCQ_NOWAIT);
	struct ipcq_msginfo m4 = recv_seq(c, 4, 1, IPCQ_NOWAIT);
	CHECK_OK(ipcq_nack_delay(c, m3.token, (int64_t)(3600 * 1000 * MS)));
	CHECK_OK(ipcq_nack(c, m4.token, IPCQ_NACK_REQUEUE));
	m4 = recv_seq(c, 4, 2, IPCQ_NOWAIT);
	CHECK_OK(ipcq_ack(c, m4.token));
	expect_empty(c);
	in = t_info(p);
	CHECK(in.redeliverable == 1 && in.delayed == 1);

	ipcq_close(c);
	ipcq_close(p);
}

/* The queue's backoff: base * factor^(n - 1), capped. */
static void test_backoff(void)
{
	const char *name;
	struct ipcq *p = make_queue(&name, 40000, 3, 150000, 0);
	struct ipcq *c = t_ack_consumer(name, 4);
	struct ipcq_info in = t_info(p);
	CHECK(in.retry_base_us == 40000 && in.retry_max_us == 150000);

	t_send_pattern(p, MAX, 7);
	struct ipcq_msginfo m = recv_seq(c, 7, 1, IPCQ_NOWAIT);
	/* after delivery 1: 40 ms; 2: 120 ms; 3: 360 ms, capped to 150 ms */
	const uint64_t want_ms[] = { 40, 120, 150, 150 };
	for (unsigned n = 0; n < T_NELEM(want_ms); n++) {
		uint64_t t0 = t_now_ns();
		CHECK_RC(ipcq_nack(c, m.token, IPCQ_NACK_REQUEUE), 0);
		expect_empty(c);
		m = recv_seq(c, 7, n + 2, 4000 * (int64_t)MS);
		uint64_t waited = t_now_ns() - t0;
		if (waited < want_ms[n] * MS)
			T_FAIL("delivery %u came after %" PRIu64 " ms, its backoff is %" PRIu64 " ms",
			       n + 2, waited / MS, want_ms[n]);
	}
	CHECK_OK(ipcq_ack(c, m.token));
	ipcq_close(c);
	ipcq_close(p);
}

struct killed {
	uint64_t nacked_ns;     /* when the child gave the message back */
	int done;
};

static int nack_and_hang(void *arg)
{
	struct killed *k = arg;
	const char *name = getenv("T_RETRY_QUEUE");
	struct ipcq *c = t_ack_consumer(name, 4);
	struct ipcq_msginfo m = recv_seq(c, 9, 1, 2000 * (int64_t)MS);
	/* also holds message 10, which must come back at once */
	recv_seq(c, 10, 1, 2000 * (int64_t)MS);
	k->nacked_ns = t_now_ns();
	CHECK_OK(ipcq_nack_delay(c, m.token, (int64_t)(400 * MS)));
	__atomic_store_n(&k->done, 1, __ATOMIC_SEQ_CST);
	for (;;)
		pause();
	return 0;
}

/* The not-before time is the lease entry's: the consumer that gave the
 * message back is SIGKILLed, another receives it no earlier. */
static void test_outlives_consumer(void)
{
	const char *name;
	struct ipcq *p = make_queue(&name, 0, 0, 0, 0);
	struct killed *k = t_shared(sizeof(*k));
	setenv("T_RETRY_QUEUE", name, 1);
	t_send_pattern(p, MAX, 9);
	t_send_pattern(p, MAX, 10);
	pid_t pid = t_fork(nack_and_hang, k);
	T_AWAIT(__atomic_load_n(&k->done, __ATOMIC_SEQ_CST), 20);
	CHECK(kill(pid, SIGKILL) == 0);
	CHECK(t_wait(pid) != 0);

	struct ipcq *c = t_ack_consumer(name, 4);
	/* 10, held by the dead, comes back at once (recovery), 9 at its time */
	struct ipcq_msginfo m = recv_seq(c, 10, 2, 4000 * (int64_t)MS);
	CHECK_OK(ipcq_ack(c, m.token));
	m = recv_seq(c, 9, 2, 4000 * (int64_t)MS);
	uint64_t waited = t_now_ns() - k->nacked_ns;
	if (waited < 400 * MS)
		T_FAIL("delivered %" PRIu64 " ms after the nack, before its 400 ms delay",
		       waited / MS);
	CHECK_OK(ipcq_ack(c, m.token));
	expect_empty(c);
	ipcq_close(c);
	ipcq_close(p);
}

static void test_config(void)
{
	struct ipcq_config cfg = t_config(16, MAX);
	struct ipcq *q = NULL;
	const char *name = t_qname("retrycfg");
	cfg.retry_factor = 17;
	CHECK_RC(ipcq_create(name, &cfg, &q), -EINVAL);
	CHECK(strstr(ipcq_errdetail(), "retry_factor") != NULL);
	cfg.retry_factor = 2;
	cfg.retry_base_us = 1000;
	cfg.retry_max_us = 999;
	CHECK_RC(ipcq_create(name, &cfg, &q), -EINVAL);
	cfg.retry_max_us = 0;
	cfg.retry_base_us = 3600000001u;
	CHECK_RC(ipcq_create(name, &cfg, &q), -EINVAL);
	CHECK(!t_shm_exists(name));
	/* factor 0 is the default, 2 */
	cfg.retry_base_us = 1000;
	cfg.retry_factor = 0;
	q = t_create(name, &cfg);
	CHECK(t_info(q).retry_base_us == 1000);
	ipcq_close(q);
	/* nack_delay of a fast-mode consumer */
	struct ipcq *f = t_open_attach(name, IPCQ_ROLE_CONSUMER, NULL);
	CHECK_RC(ipcq_nack_delay(f, 1ull << 32, 0), -EPERM);
	ipcq_close(f);
}

int main(void)
{
	test_config();
	test_explicit();
	test_backoff();
	test_outlives_consumer();
	printf("ok\n");
	return 0;
}
