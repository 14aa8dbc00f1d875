/* A consumer that attaches takes up at once the message a SIGKILLed consumer had claimed and not released: its first receive (without waiting) delivers it, flagged, ahead of newer messages, in fast and in ack mode, and in ack mode ahead of a message given back too (its ring slot comes free at once); an adopted message quarantined at that receive (max_deliveries) lets the receive return the next one, not -EAGAIN, with and without priority lanes; an ack-mode adopter that finds no free lease entry gets its message as soon as another consumer's ack frees one, not a grace period later. */
#include "ipcq.h"
#include "testutil.h"

enum { MAX = 64 };

#if T_HAVE_POINTS
struct victim {
	const char *name;
	int ack;
};

/* Receive one message and die at the crash point: after the copy (fast
 * mode) or after the lease holds it (ack mode), before the slot's release. */
static int claim_and_die(void *arg)
{
	struct victim *v = arg;
	setenv("IPCQ_CRASH", v->ack ? "ack.leased" : "recv.copied", 1);
	struct ipcq *c = v->ack ? t_ack_consumer(v->name, 4)
				: t_open_attach(v->name, IPCQ_ROLE_CONSUMER, NULL);
	uint8_t buf[MAX];
	ipcq_recv(c, buf, sizeof(buf), NULL, 5000 * (int64_t)1000000);
	return 3; /* the crash point should have killed us */
}

/* A fast consumer of queue @name that dies with its next message copied
 * and not released (recv.copied): its claim is adopted by the next. */
static void die_holding(const char *name)
{
	struct victim *v = t_shared(sizeof(*v));
	v->name = name;
	v->ack = 0;
	pid_t pid = t_fork(claim_and_die, v);
	CHECK(t_wait(pid) != 0);
}

/* Receive message @want (priority 0) with c, or fail. */
static uint64_t expect_seq(struct ipcq *c, uint64_t want, int redelivered, int64_t timeout)
{
	uint8_t buf[MAX];
	struct ipcq_msginfo mi;
	memset(&mi, 0, sizeof(mi));
	int rc = ipcq_recv(c, buf, sizeof(buf), &mi, timeout);
	uint32_t prod = 0;
	uint64_t seq = 0;
	if (rc > 0)
		t_header(buf, &prod, &seq);
	if (rc < 0 || seq != want || t_verify(buf, (size_t)rc, 0, seq) != 0 ||
	    ((mi.flags & IPCQ_MSG_REDELIVERED) != 0) != redelivered)
		T_FAIL("expected message %" PRIu64 " (%s), got rc %d (%s) message %" PRIu64
		       " flags 0x%x", want, redelivered ? "flagged" : "first delivery", rc,
		       rc < 0 ? ipcq_strerror(rc) : "a length", seq, mi.flags);
	return mi.token;
}

/* max_deliveries 1: the adopted message is quarantined at the adopter's
 * first receive, which returns the next message (it said -EAGAIN, empty,
 * with message 2 waiting). */
static void gone_then_next(int ack, uint32_t lanes)
{
	struct ipcq_config cfg = t_config(16, MAX);
	cfg.lease_capacity = 8;
	cfg.side_capacity = 4;
	cfg.max_deliveries = 1;
	cfg.priorities = lanes;
	const char *name = t_qname("adopt_gone");
	struct ipcq *p = t_create(name, &cfg);
	CHECK_OK(ipcq_attach(p, IPCQ_ROLE_PRODUCER, NULL));
	t_send_pattern(p, MAX, 1);
	t_send_pattern(p, MAX, 2);
	die_holding(name);
	struct ipcq *c = ack ? t_ack_consumer(name, 4) : t_open_attach(name, IPCQ_ROLE_CONSUMER, NULL);
	uint64_t tok = expect_seq(c, 2, 0, IPCQ_NOWAIT);
	if (ack)
		CHECK_OK(ipcq_ack(c, tok));
	CHECK(t_info(p).side_depth == 1);
	uint8_t buf[MAX];
	CHECK_RC(ipcq_recv(c, buf, sizeof(buf), NULL, IPCQ_NOWAIT), -EAGAIN);
	ipcq_close(c);
	ipcq_close(p);
}

/* Ack mode: a message given back (nack) waits in the pool when a consumer
 * with a prefetch of 1 adopts a dead consumer's claim.  Its first receive
 * takes the adopted message, whose ring slot then comes free; the one
 * given back goes to another consumer.  (It took the one given back, and
 * then sat at its prefetch with the adopted message in its ring slot: the
 * producers stopped there.) */
static void adopted_before_given_back(void)
{
	struct ipcq_config cfg = t_config(4, MAX);
	cfg.lease_capacity = 8;
	const char *name = t_qname("adopt_pool");
	struct ipcq *p = t_create(name, &cfg);
	CHECK_OK(ipcq_attach(p, IPCQ_ROLE_PRODUCER, NULL));
	struct ipcq *b = t_ack_consumer(name, 4);
	t_send_pattern(p, MAX, 1);
	CHECK_OK(ipcq_nack(b, expect_seq(b, 1, 0, IPCQ_NOWAIT), IPCQ_NACK_REQUEUE));
	t_send_pattern(p, MAX, 2);
	die_holding(name);
	struct ipcq *a = t_ack_consumer(name, 1);
	uint64_t ta = expect_seq(a, 2, 1, IPCQ_NOWAIT);
	CHECK_OK(ipcq_ack(b, expect_seq(b, 1, 1, IPCQ_NOWAIT)));
	for (uint64_t s = 3; s < 3 + 4; s++) /* the whole ring is free */
		t_send_pattern(p, MAX, s);
	CHECK_OK(ipcq_ack(a, ta));
	for (uint64_t s = 3; s < 3 + 4; s++)
		CHECK_OK(ipcq_ack(b, expect_seq(b, s, 0, IPCQ_NOWAIT)));
	ipcq_close(a);
	ipcq_close(b);
	ipcq_close(p);
}

static const char *wname;

static int adopter(void *arg)
{
	(void)arg;
	t_freeze_at("ack.adopted_waits", 1);
	/* adopts message 3; a wait sleeps at once (no spins, no yields) */
	struct ipcq_attach_opts o = t_opts(IPCQ_WAIT_ADAPTIVE, 0, 0);
	o.flags = IPCQ_ATTACH_ACK;
	o.prefetch = 1;
	struct ipcq *a = t_open_attach(wname, IPCQ_ROLE_CONSUMER, &o);
	/* frozen inside, no lease entry free; resumed, it waits.  The grace
	 * period is a minute: a wait that lasts one fails here */
	CHECK_OK(ipcq_ack(a, expect_seq(a, 3, 1, 30 * 1000000000ll)));
	ipcq_close(a);
	return 0;
}

/* Ack mode: an adopted message waits for a free lease entry while the ring
 * is empty; another consumer's ack frees one, and the adopter gets its
 * message then (its wait slept a grace period before it looked again). */
static void adopted_waits_for_entry(void)
{
	struct ipcq_config cfg = t_config(8, MAX);
	cfg.lease_capacity = 2;
	cfg.grace_us = 60000000u;
	wname = t_qname("adopt_wait");
	struct ipcq *p = t_create(wname, &cfg);
	CHECK_OK(ipcq_attach(p, IPCQ_ROLE_PRODUCER, NULL));
	struct ipcq *b = t_ack_consumer(wname, 2);
	t_send_pattern(p, MAX, 1);
	t_send_pattern(p, MAX, 2);
	uint64_t t1 = expect_seq(b, 1, 0, IPCQ_NOWAIT), t2 = expect_seq(b, 2, 0, IPCQ_NOWAIT);
	t_send_pattern(p, MAX, 3);
	die_holding(wname);
	pid_t kid = t_spawn(adopter, NULL);
	t_wait_stopped(kid, 30, "adopter at ack.adopted_waits");
	t_resume(kid);
	CHECK_OK(ipcq_ack(b, t1)); /* an entry free */
	int st = t_wait_end(kid, 60, "the adopter");
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		T_FAIL("the adopter %s", t_status_str(st));
	CHECK_OK(ipcq_ack(b, t2));
	ipcq_close(b);
	ipcq_close(p);
}

static void run(int ack)
{
	struct ipcq_config cfg = t_config(16, MAX);
	cfg.lease_capacity = 8;
	const char *name = t_qname("adopt");
	struct ipcq *p = t_create(name, &cfg);
	CHECK_OK(ipcq_attach(p, IPCQ_ROLE_PRODUCER, NULL));
	struct victim *v = t_shared(sizeof(*v));
	v->name = name;
	v->ack = ack;

	t_send_pattern(p, MAX, 1);
	pid_t pid = t_fork(claim_and_die, v);
	CHECK(t_wait(pid) != 0);
	t_send_pattern(p, MAX, 2);
	t_send_pattern(p, MAX, 3);

	struct ipcq *c = ack ? t_ack_consumer(name, 4) : t_open_attach(name, IPCQ_ROLE_CONSUMER, NULL);
	for (uint64_t want = 1; want <= 3; want++) {
		uint8_t buf[MAX];
		struct ipcq_msginfo mi;
		int rc = ipcq_recv(c, buf, sizeof(buf), &mi, IPCQ_NOWAIT);
		if (rc < 0)
			T_FAIL("%s: receive %" PRIu64 ": %d (%s)", ack ? "ack" : "fast", want, rc,
			       ipcq_strerror(rc));
		uint32_t prod;
		uint64_t seq;
		t_header(buf, &prod, &seq);
		if (seq != want)
			T_FAIL("%s: got message %" PRIu64 ", expected %" PRIu64 " (the dead "
			       "consumer's first)", ack ? "ack" : "fast", seq, want);
		CHECK(t_verify(buf, (size_t)rc, 0, seq) == 0);
		CHECK(((mi.flags & IPCQ_MSG_REDELIVERED) != 0) == (want == 1));
		if (ack)
			CHECK_OK(ipcq_ack(c, mi.token));
	}
	uint8_t buf[MAX];
	CHECK_RC(ipcq_recv(c, buf, sizeof(buf), NULL, IPCQ_NOWAIT), -EAGAIN);
	ipcq_close(c);
	ipcq_close(p);
}
#endif

int main(void)
{
#if T_HAVE_POINTS
	run(0);
	run(1);
	for (int i = 0; i < 4; i++)
		gone_then_next(i & 1, i & 2 ? 2 : 1);
	adopted_before_given_back();
	adopted_waits_for_entry();
	printf("ok\n");
	return 0;
#else
	printf("SKIP: crash points are compiled in debug builds only\n");
	return T_SKIP;
#endif
}
