/* Per-key order (IPCQ_CF_KEYED): in ack mode the messages of one key are delivered one at a time in the order they entered the queue, while other keys flow past a busy one; a message requeued, or held by a consumer SIGKILLed (also at the named points key.gate and key.parked), keeps its place before the next of its key; a consumer frozen between its claim and its lease (ack.filling) holds the next of its key back (the rule that needs every earlier position released), and when it dies and its message is adopted and then quarantined or expired, the parked next of its key is let go at once, as it is when a late-releasing consumer gives back its kept slot (ipcq_release(), its close, or its next receive that claims nothing) or a drop-oldest send drops the dead claim, or a drop-oldest reservation drops the head (K4 at the drop: the reservation publishes nothing yet); 3 ack consumers killed at random while 2 producers send 8 keys each: every message delivered, each key in order, never two of a key at once, a second delivery always flagged; a message replayed from the side ring comes back without its key; fast mode carries keys; bad settings refused. */
#include "statutil.h"

enum { MAXLEN = 64, CAP = 16 };
#define GRACE_US 2000u
#define SEC 1000000000ll

static const char *qn;

static struct ipcq *make_queue(uint32_t cap, uint32_t leases)
{
	struct ipcq_config cfg = t_config(cap, MAXLEN);
	cfg.flags = IPCQ_CF_KEYED;
	cfg.lease_capacity = leases;
	cfg.grace_us = GRACE_US;
	cfg.max_deliveries = 100;
	qn = t_qname("keys");
	return t_create(qn, &cfg);
}

/* Send t_fill()'s message (producer, seq) with key k (k 0: no key). */
static void send_key(struct ipcq *p, uint32_t producer, uint64_t seq, uint64_t k)
{
	uint8_t m[MAXLEN];
	size_t len = t_fill(m, t_msg_len(producer, seq, 16, MAXLEN), producer, seq);
	struct ipcq_send_opts o = IPCQ_SEND_OPTS_INIT;
	if (k) {
		o.flags = IPCQ_SEND_F_KEY;
		o.key = k;
	}
	int rc;
	while ((rc = ipcq_send_ex(p, m, len, &o, SEC)) == -ETIMEDOUT)
		;
	if (rc < 0)
		T_FAIL("send %u/%llu: %d (%s)", producer, (unsigned long long)seq, rc, ipcq_strerror(rc));
}

/* Receive the message (0, seq) of key k, as delivery number deliveries. */
static uint64_t expect(struct ipcq *c, uint64_t seq, uint64_t k, uint32_t deliveries, int64_t timeout)
{
	uint8_t buf[MAXLEN];
	struct ipcq_msginfo mi;
	memset(&mi, 0, sizeof(mi));
	int rc = ipcq_recv(c, buf, sizeof(buf), &mi, timeout);
	uint32_t prod = 0;
	uint64_t got = 0;
	if (rc > 0)
		t_header(buf, &prod, &got);
	if (rc < 0 || got != seq || t_verify(buf, (size_t)rc, 0, seq) != 0)
		T_FAIL("expected message %llu (key %llu), got rc %d (%s), message %llu",
		       (unsigned long long)seq, (unsigned long long)k, rc,
		       rc < 0 ? ipcq_strerror(rc) : "a length", (unsigned long long)got);
	if (mi.key != k || ((mi.flags & IPCQ_MSG_KEYED) != 0) != (k != 0))
		T_FAIL("message %llu: key %llu flags 0x%x, expected key %llu",
		       (unsigned long long)seq, (unsigned long long)mi.key, mi.flags,
		       (unsigned long long)k);
	if (mi.deliveries != deliveries || ((mi.flags & IPCQ_MSG_REDELIVERED) != 0) != (deliveries > 1))
		T_FAIL("message %llu: delivery %u flags 0x%x, expected delivery %u",
		       (unsigned long long)seq, mi.deliveries, mi.flags, deliveries);
	return mi.token;
}

static void expect_none(struct ipcq *c)
{
	uint8_t buf[MAXLEN];
	CHECK_RC(ipcq_recv(c, buf, sizeof(buf), NULL, IPCQ_NOWAIT), -EAGAIN);
}

static void api(void)
{
	struct ipcq_config cfg = t_config(CAP, MAXLEN);
	cfg.flags = IPCQ_CF_KEYED;
	cfg.max_groups = 2;
	struct ipcq *q = NULL;
	CHECK_RC(ipcq_create(t_qname("keys_grp"), &cfg, &q), -ENOTSUP);

	/* a key on a queue without IPCQ_CF_KEYED; unknown flags */
	struct ipcq_config pc = t_config(CAP, MAXLEN);
	struct ipcq *plain = t_create(t_qname("keys_plain"), &pc);
	CHECK_RC(ipcq_attach(plain, IPCQ_ROLE_PRODUCER, NULL), 0);
	struct ipcq_send_opts o = IPCQ_SEND_OPTS_INIT;
	o.flags = IPCQ_SEND_F_KEY;
	o.key = 7;
	CHECK_RC(ipcq_send_ex(plain, "x", 1, &o, IPCQ_NOWAIT), -EINVAL);
	o.flags = 0x80;
	CHECK_RC(ipcq_send_ex(plain, "x", 1, &o, IPCQ_NOWAIT), -EINVAL);
	CHECK(t_info(plain).depth == 0);
	CHECK_OK(ipcq_close(plain));

	/* a keyed queue's slots hold the key word; fast mode carries keys */
	struct ipcq *k = make_queue(CAP, 8);
	CHECK_RC(ipcq_attach(k, IPCQ_ROLE_PRODUCER, NULL), 0);
	struct ipcq_info in = t_info(k);
	CHECK(in.slot_size >= 16 + MAXLEN + 8 + 32);
	struct ipcq *c = t_open_attach(qn, IPCQ_ROLE_CONSUMER, NULL);
	send_key(k, 0, 1, 42);
	send_key(k, 0, 2, 0);
	send_key(k, 0, 3, UINT64_MAX);
	expect(c, 1, 42, 1, IPCQ_NOWAIT);
	expect(c, 2, 0, 1, IPCQ_NOWAIT);
	expect(c, 3, UINT64_MAX, 1, IPCQ_NOWAIT);
	CHECK_OK(ipcq_close(c));
	CHECK_OK(ipcq_close(k));
}

/* Two consumers: the next of a busy key waits, another key goes past. */
static void order_and_spread(void)
{
	struct ipcq *p = make_queue(CAP, 8);
	CHECK_RC(ipcq_attach(p, IPCQ_ROLE_PRODUCER, NULL), 0);
	struct ipcq *c1 = t_ack_consumer(qn, 4), *c2 = t_ack_consumer(qn, 4);
	send_key(p, 0, 1, 5);
	send_key(p, 0, 2, 5);
	send_key(p, 0, 3, 6);
	send_key(p, 0, 4, 0);
	uint64_t t1 = expect(c1, 1, 5, 1, IPCQ_NOWAIT);
	/* c2: message 2 waits for 1; 3 and 4 go past it */
	uint64_t t3 = expect(c2, 3, 6, 1, IPCQ_NOWAIT);
	uint64_t t4 = expect(c2, 4, 0, 1, IPCQ_NOWAIT);
	expect_none(c2);
	expect_none(c1);
	struct ipcq_info in = t_info(p);
	CHECK(in.key_waiting == 1 && in.redeliverable == 1 && in.leased == 3);
	CHECK(in.depth == 0); /* the ring flows */
	CHECK(in.flags == IPCQ_CF_KEYED);
	/* ipcq-stat shows the waiting one, in text, JSON and Prometheus */
	struct s_run r = s_tool_run("ipcq-stat", qn, NULL, NULL, NULL, NULL);
	if (r.status != 0 || !strstr(r.out, "1 for their key")) {
		s_run_show("ipcq-stat", &r);
		T_FAIL("ipcq-stat: no '1 for their key'");
	}
	s_run_free(&r);
	r = s_tool_run("ipcq-stat", "--json", qn, NULL, NULL, NULL);
	if (r.status != 0 || !strstr(r.out, "\"key_waiting\": 1")) {
		s_run_show("ipcq-stat --json", &r);
		T_FAIL("ipcq-stat --json: no key_waiting 1");
	}
	s_run_free(&r);
	r = s_tool_run("ipcq-stat", "--prometheus", qn, NULL, NULL, NULL);
	if (r.status != 0 || !strstr(r.out, "ipcq_queue_key_waiting{")) {
		s_run_show("ipcq-stat --prometheus", &r);
		T_FAIL("ipcq-stat --prometheus: no key_waiting");
	}
	s_run_free(&r);
	CHECK_OK(ipcq_ack(c2, t3));
	CHECK_OK(ipcq_ack(c2, t4));
	expect_none(c2);
	/* the ack opens the key: a first delivery, not a redelivery */
	CHECK_OK(ipcq_ack(c1, t1));
	uint64_t t2 = expect(c2, 2, 5, 1, IPCQ_NOWAIT);
	CHECK(t_info(p).key_waiting == 0);
	CHECK_OK(ipcq_ack(c2, t2));

	/* a requeued message keeps its place before the next of its key */
	send_key(p, 0, 5, 5);
	send_key(p, 0, 6, 5);
	t1 = expect(c1, 5, 5, 1, IPCQ_NOWAIT);
	expect_none(c2); /* 6 waits */
	CHECK_OK(ipcq_nack(c1, t1, IPCQ_NACK_REQUEUE));
	t2 = expect(c2, 5, 5, 2, IPCQ_NOWAIT);
	expect_none(c1);
	CHECK_OK(ipcq_ack(c2, t2));
	t1 = expect(c1, 6, 5, 1, IPCQ_NOWAIT);
	/* poisoned: the key moves on too */
	send_key(p, 0, 7, 5);
	expect_none(c2);
	CHECK_RC(ipcq_nack(c1, t1, IPCQ_NACK_POISON), 1);
	CHECK_OK(ipcq_ack(c2, expect(c2, 7, 5, 1, IPCQ_NOWAIT)));
	/* replayed, 6 comes back without its key (a side entry keeps none):
	 * it goes past 8 of key 5, which c1 holds */
	send_key(p, 0, 8, 5);
	t1 = expect(c1, 8, 5, 1, IPCQ_NOWAIT);
	CHECK_RC(ipcq_poison_replay(p, IPCQ_POISON_ALL), 1);
	CHECK_OK(ipcq_ack(c2, expect(c2, 6, 0, 1, IPCQ_NOWAIT)));
	CHECK_OK(ipcq_ack(c1, t1));
	CHECK_OK(ipcq_close(c1));
	CHECK_OK(ipcq_close(c2));
	CHECK_OK(ipcq_close(p));
}

static int frozen_filler(void *arg)
{
	(void)arg;
	t_freeze_at("ack.filling", 1);
	struct ipcq *c = t_ack_consumer(qn, 4);
	uint64_t t = expect(c, 1, 9, 1, 10 * SEC); /* stops inside, before its lease */
	CHECK_OK(ipcq_ack(c, t));
	CHECK_OK(ipcq_close(c));
	return 0;
}

static int frozen_filler_any(void *arg)
{
	(void)arg;
	t_freeze_at("ack.filling", 1);
	struct ipcq *c = t_ack_consumer(qn, 4);
	uint8_t buf[MAXLEN];
	int rc = ipcq_recv(c, buf, sizeof(buf), NULL, 10 * SEC);
	fprintf(stderr, "filler: ipcq_recv returned %d without stopping\n", rc);
	return 3;
}

/* A consumer frozen between its claim of message 1 and its lease: message
 * 2 of the same key waits (every earlier position must be released
 * first), message 3 of another key goes past. */
static void frozen_before_lease(void)
{
	struct ipcq *p = make_queue(CAP, 8);
	CHECK_RC(ipcq_attach(p, IPCQ_ROLE_PRODUCER, NULL), 0);
	struct ipcq *c = t_ack_consumer(qn, 4);
	send_key(p, 0, 1, 9);
	pid_t kid = t_spawn(frozen_filler, NULL);
	t_wait_stopped(kid, 30, "consumer at ack.filling");
	send_key(p, 0, 2, 9);
	send_key(p, 0, 3, 10);
	uint64_t t3 = expect(c, 3, 10, 1, IPCQ_NOWAIT);
	expect_none(c);
	CHECK(t_info(p).key_waiting == 1);
	t_resume(kid);
	CHECK(t_reap(kid) == 0); /* it got message 1 and acked it */
	uint64_t t2 = expect(c, 2, 9, 1, 5 * SEC);
	CHECK_OK(ipcq_ack(c, t2));
	CHECK_OK(ipcq_ack(c, t3));
	CHECK_OK(ipcq_close(c));
	CHECK_OK(ipcq_close(p));
}

static const char *kill_point;

static int dying_holder(void *arg)
{
	(void)arg;
	if (kill_point)
		t_crash_at(kill_point, 1);
	struct ipcq *c = t_ack_consumer(qn, 4);
	uint8_t buf[MAXLEN];
	int rc = ipcq_recv(c, buf, sizeof(buf), NULL, 10 * SEC);
	if (!kill_point && rc > 0)
		raise(SIGKILL); /* holding it */
	fprintf(stderr, "holder: ipcq_recv returned %d without dying\n", rc);
	return 3;
}

/* A consumer SIGKILLed holding message 1 of a key (after the receive, or
 * at key.gate, before its gate): message 2 waits until recovery gives 1
 * back, and 1 is delivered again (flagged) before it. */
static void holder_killed(const char *point)
{
	struct ipcq *p = make_queue(CAP, 8);
	CHECK_RC(ipcq_attach(p, IPCQ_ROLE_PRODUCER, NULL), 0);
	struct ipcq *c = t_ack_consumer(qn, 4);
	send_key(p, 0, 1, 3);
	kill_point = point;
	pid_t kid = t_spawn(dying_holder, NULL);
	t_reap_killed(kid, SIGKILL);
	send_key(p, 0, 2, 3);
	send_key(p, 0, 3, 4);
	/* 3 goes past; then the dead's message comes back (after the grace
	 * period), flagged, and 2 still waits for it */
	uint64_t t3 = expect(c, 3, 4, 1, 5 * SEC);
	uint64_t t1 = expect(c, 1, 3, 2, 5 * SEC);
	expect_none(c);
	CHECK_OK(ipcq_ack(c, t1));
	CHECK_OK(ipcq_ack(c, expect(c, 2, 3, 1, IPCQ_NOWAIT)));
	CHECK_OK(ipcq_ack(c, t3));
	CHECK_OK(ipcq_close(c));
	CHECK_OK(ipcq_close(p));
}

/* A consumer killed between its fill and its gate (key.gate) while its key
 * is busy: recovery gives message 2 back unparked; the next look parks it
 * (it waits, counted, so waiting consumers sleep), and the ack of message
 * 1 lets it go as a first delivery: it never was delivered. */
static void gate_dead_busy(void)
{
	struct ipcq *p = make_queue(CAP, 8);
	CHECK_RC(ipcq_attach(p, IPCQ_ROLE_PRODUCER, NULL), 0);
	struct ipcq *c = t_ack_consumer(qn, 4);
	send_key(p, 0, 1, 3);
	uint64_t t1 = expect(c, 1, 3, 1, IPCQ_NOWAIT);
	send_key(p, 0, 2, 3);
	kill_point = "key.gate";
	t_reap_killed(t_spawn(dying_holder, NULL), SIGKILL);
	struct ipcq_recovery rep;
	CHECK(ipcq_recover(c, &rep) > 0);
	struct ipcq_info in = t_info(p);
	CHECK(in.redeliverable == 1 && in.key_waiting == 0 && in.delayed == 0);
	expect_none(c); /* its gate is closed: the look parks it */
	in = t_info(p);
	CHECK(in.redeliverable == 1 && in.key_waiting == 1);
	expect_none(c);
	CHECK_OK(ipcq_ack(c, t1));
	CHECK_OK(ipcq_ack(c, expect(c, 2, 3, 1, IPCQ_NOWAIT)));
	CHECK(t_info(p).redeliverable == 0);
	CHECK_OK(ipcq_close(c));
	CHECK_OK(ipcq_close(p));
}

static int dying_parker(void *arg)
{
	(void)arg;
	t_crash_at("key.parked", 1);
	struct ipcq *c = t_ack_consumer(qn, 4);
	uint8_t buf[MAXLEN];
	int rc = ipcq_recv(c, buf, sizeof(buf), NULL, IPCQ_NOWAIT);
	fprintf(stderr, "parker: ipcq_recv returned %d without dying\n", rc);
	return 3;
}

/* A consumer killed right after parking message 2 (key.parked): the ack of
 * message 1 still lets 2 go, as a first delivery. */
static void parker_killed(void)
{
	struct ipcq *p = make_queue(CAP, 8);
	CHECK_RC(ipcq_attach(p, IPCQ_ROLE_PRODUCER, NULL), 0);
	struct ipcq *c = t_ack_consumer(qn, 4);
	send_key(p, 0, 1, 3);
	send_key(p, 0, 2, 3);
	uint64_t t1 = expect(c, 1, 3, 1, IPCQ_NOWAIT);
	pid_t kid = t_spawn(dying_parker, NULL);
	t_reap_killed(kid, SIGKILL);
	CHECK(t_info(p).key_waiting == 1);
	expect_none(c);
	CHECK_OK(ipcq_ack(c, t1));
	CHECK_OK(ipcq_ack(c, expect(c, 2, 3, 1, IPCQ_NOWAIT)));
	CHECK_OK(ipcq_close(c));
	CHECK_OK(ipcq_close(p));
}

/* ---- an adopted message that leaves without a delivery --------------- */

static int parked_waiter(void *arg)
{
	(void)arg;
	struct ipcq *c = t_ack_consumer(qn, 4);
	/* parks message 2 behind 1 and sleeps: a waiter wakes by itself only
	 * once a grace period (a minute here) */
	CHECK_OK(ipcq_ack(c, expect(c, 2, 5, 1, 20 * SEC)));
	CHECK_OK(ipcq_close(c));
	return 0;
}

/* The futex sleeps of the participant of process pid so far. */
static uint64_t sleeps_of(struct ipcq *q, pid_t pid)
{
	struct ipcq_participant_stats ps[16];
	int n = t_parts(q, ps, T_NELEM(ps));
	for (int i = 0; i < n; i++)
		if (ps[i].pid == (uint32_t)pid)
			return ps[i].sleeps;
	return 0;
}

/* A keyed queue (with @flags) on which nobody looks at the lease pool by
 * itself during a test (a grace period of a minute): a parked message is
 * let go by a wake-up, or not at all.  max_deliveries 0: the default.
 * Attached as producer. */
static struct ipcq *quiet_queue(uint32_t cap, uint32_t flags, uint32_t max_deliveries)
{
	struct ipcq_config cfg = t_config(cap, MAXLEN);
	cfg.flags = IPCQ_CF_KEYED | flags;
	cfg.lease_capacity = 8;
	cfg.grace_us = 60000000u; /* nobody looks by itself during the test */
	if (max_deliveries)
		cfg.max_deliveries = max_deliveries;
	qn = t_qname("keys");
	struct ipcq *p = t_create(qn, &cfg);
	CHECK_RC(ipcq_attach(p, IPCQ_ROLE_PRODUCER, NULL), 0);
	return p;
}

/* A consumer dies between its claim of message 1 and its lease; message 2
 * of the same key is parked by a waiting consumer.  A consumer that
 * attaches adopts 1, and 1 leaves without a delivery: quarantined (its
 * max_deliveries reached) or expired.  Its slot is released, so 2's key
 * gate is open: the waiter is told at once (K4), not at its next look a
 * grace period later.  With an ack-mode or a fast-mode adopter. */
static void adopted_gone(int ack, int expire)
{
	struct ipcq *p = quiet_queue(CAP, expire ? IPCQ_CF_EXPIRY : 0u, expire ? 100 : 1);
	uint8_t m[MAXLEN];
	struct ipcq_send_opts o = IPCQ_SEND_OPTS_INIT;
	o.flags = IPCQ_SEND_F_KEY;
	o.key = 5;
	o.ttl_ns = expire ? 2 * SEC : 0;
	uint64_t deadline = t_now_ns() + (uint64_t)o.ttl_ns;
	CHECK(ipcq_send_ex(p, m, t_fill(m, 24, 0, 1), &o, IPCQ_NOWAIT) >= 0);
	o.ttl_ns = 0;
	CHECK(ipcq_send_ex(p, m, t_fill(m, 40, 0, 2), &o, IPCQ_NOWAIT) >= 0);
	pid_t filler = t_spawn(frozen_filler_any, NULL);
	t_wait_stopped(filler, 30, "consumer at ack.filling");
	pid_t waiter = t_spawn(parked_waiter, NULL);
	T_AWAIT(t_info(p).key_waiting == 1 && sleeps_of(p, waiter) > 0, 30);
	if (expire)
		T_AWAIT(t_now_ns() > deadline, 30);
	kill(filler, SIGKILL);
	t_reap_killed(filler, SIGKILL);
	/* attaching adopts message 1; its recovery wakes the waiter, which
	 * finds 2's gate still closed (1 is in the adopter's hands) and goes
	 * back to sleep */
	uint64_t slept = sleeps_of(p, waiter);
	struct ipcq *c = ack ? t_ack_consumer(qn, 4)
			     : t_open_attach(qn, IPCQ_ROLE_CONSUMER, NULL);
	T_AWAIT(sleeps_of(p, waiter) > slept, 30);
	CHECK(t_await_sleeping(waiter, 30));
	/* the receive lets 1 go and goes on: to an empty ring, or (ack
	 * mode) to 2, whose gate is open now but which is longer than its
	 * buffer (-ENOBUFS) if the waiter, told, has not taken it first:
	 * the waiter is the one to get 2 */
	uint8_t small[32];
	int rc = ipcq_recv(c, small, sizeof(small), NULL, IPCQ_NOWAIT);
	if (rc != -EAGAIN && !(ack && rc == -ENOBUFS))
		T_FAIL("the adopter's receive: %d (%s)", rc, ipcq_strerror(rc));
	struct ipcq_stats st = t_stats(p);
	if (expire)
		CHECK(st.expired == 1 && t_info(p).side_depth == 0);
	else
		CHECK(st.expired == 0 && t_info(p).side_depth == 1 &&
		      st.side_by_reason[IPCQ_REASON_CONSUMER_CRASHED] == 1);
	CHECK(t_reap(waiter) == 0); /* it got message 2, a first delivery */
	CHECK_OK(ipcq_close(c));
	CHECK_OK(ipcq_close(p));
}

/* A fast-mode consumer that releases late (IPCQ_ATTACH_LATE_RELEASE) keeps
 * message 1's slot after its receive; message 2 of the same key waits,
 * parked by a sleeping ack-mode consumer.  The kept run given back by
 * ipcq_release(), the close, or the handle's next receive (which finds
 * nothing to claim) opens 2's gate: the waiter is told at once (K4). */
enum { BY_RELEASE, BY_CLOSE, BY_RECEIVE };
static void late_release_wakes(int how)
{
	struct ipcq *p = quiet_queue(CAP, 0, 0);
	struct ipcq_attach_opts lo = IPCQ_ATTACH_OPTS_INIT;
	lo.flags = IPCQ_ATTACH_LATE_RELEASE;
	struct ipcq *late = t_open_attach(qn, IPCQ_ROLE_CONSUMER, &lo);
	send_key(p, 0, 1, 5);
	expect(late, 1, 5, 1, IPCQ_NOWAIT); /* its slot stays claimed */
	send_key(p, 0, 2, 5);
	pid_t waiter = t_spawn(parked_waiter, NULL);
	T_AWAIT(t_info(p).key_waiting == 1 && sleeps_of(p, waiter) > 0, 30);
	CHECK(t_await_sleeping(waiter, 30));
	uint8_t buf[MAXLEN];
	if (how == BY_CLOSE)
		CHECK_OK(ipcq_close(late));
	else if (how == BY_RELEASE)
		CHECK_OK(ipcq_release(late));
	else
		CHECK_RC(ipcq_recv(late, buf, sizeof(buf), NULL, IPCQ_NOWAIT), -EAGAIN);
	CHECK(t_reap(waiter) == 0); /* it got message 2 */
	if (how != BY_CLOSE)
		CHECK_OK(ipcq_close(late));
	CHECK_OK(ipcq_close(p));
}

/* A consumer dies between its claim of message 1 and its lease; message 2
 * of the same key is parked by a waiting consumer; the ring (capacity 2)
 * is full.  A drop-oldest send adopts the dead claim and drops 1: its slot
 * is released, so 2's gate is open, and the send's publish wakes the
 * waiter at once, not at its next look a grace period later. */
static void drop_wakes(void)
{
	struct ipcq *p = quiet_queue(2, 0, 0);
	send_key(p, 0, 1, 5);
	send_key(p, 0, 2, 5);
	pid_t filler = t_spawn(frozen_filler_any, NULL);
	t_wait_stopped(filler, 30, "consumer at ack.filling");
	pid_t waiter = t_spawn(parked_waiter, NULL);
	T_AWAIT(t_info(p).key_waiting == 1 && sleeps_of(p, waiter) > 0, 30);
	CHECK(t_await_sleeping(waiter, 30));
	kill(filler, SIGKILL);
	t_reap_killed(filler, SIGKILL);
	struct ipcq_attach_opts o = IPCQ_ATTACH_OPTS_INIT;
	o.full_policy = IPCQ_FULL_DROP_OLDEST;
	struct ipcq *d = t_open_attach(qn, IPCQ_ROLE_PRODUCER, &o);
	uint8_t m[MAXLEN];
	struct ipcq_send_opts so = IPCQ_SEND_OPTS_INIT;
	so.flags = IPCQ_SEND_F_KEY;
	so.key = 5; /* behind 2: the waiter's only message is 2 */
	CHECK(ipcq_send_ex(d, m, t_fill(m, 24, 1, 1), &so, IPCQ_NOWAIT) >= 0);
	CHECK(t_dropped_total(p) == 1);
	CHECK(t_reap(waiter) == 0); /* it got message 2, a first delivery */
	CHECK_OK(ipcq_close(d));
	CHECK_OK(ipcq_close(p));
}

static int *drop_step;

/* A drop-oldest producer that reserves a slot in a full ring: it claims
 * message 1 to drop it and is frozen there (recv.copied); resumed, it
 * holds its reservation, unpublished, until the parent says. */
static int reserving_dropper(void *arg)
{
	(void)arg;
	t_freeze_at("recv.copied", 1);
	struct ipcq_attach_opts o = IPCQ_ATTACH_OPTS_INIT;
	o.full_policy = IPCQ_FULL_DROP_OLDEST;
	struct ipcq *d = t_open_attach(qn, IPCQ_ROLE_PRODUCER, &o);
	void *slot;
	CHECK_RC(ipcq_reserve(d, 1, &slot, IPCQ_NOWAIT), 1);
	__atomic_store_n(drop_step, 1, __ATOMIC_SEQ_CST);
	T_AWAIT(__atomic_load_n(drop_step, __ATOMIC_SEQ_CST) == 2, 60);
	CHECK_OK(ipcq_commit(d, NULL, 0)); /* given up */
	CHECK_OK(ipcq_close(d));
	return 0;
}

/* Drop-oldest through a reservation: the drop of message 1 releases its
 * slot, which opens the gate of message 2 (same key), parked by a
 * sleeping consumer.  The dropper publishes nothing yet, so only K4 at
 * the drop tells the waiter (it waited a grace period, a minute here). */
static void drop_reserve_wakes(void)
{
	struct ipcq *p = quiet_queue(4, 0, 0);
	drop_step = t_shared(sizeof(*drop_step));
	for (uint64_t s = 1; s <= 4; s++)
		send_key(p, 0, s, 5);
	pid_t dropper = t_spawn(reserving_dropper, NULL);
	t_wait_stopped(dropper, 30, "dropper at recv.copied");
	pid_t waiter = t_spawn(parked_waiter, NULL);
	T_AWAIT(t_info(p).key_waiting == 3 && sleeps_of(p, waiter) > 0, 30);
	CHECK(t_await_sleeping(waiter, 30));
	t_resume(dropper);
	T_AWAIT_KIDS(__atomic_load_n(drop_step, __ATOMIC_SEQ_CST) == 1, 30);
	CHECK(t_dropped_total(p) == 1);
	CHECK(t_reap(waiter) == 0); /* it got message 2 while the slot stays reserved */
	__atomic_store_n(drop_step, 2, __ATOMIC_SEQ_CST);
	CHECK(t_wait_end(dropper, 30, "dropper") == 0);
	struct ipcq *c = t_ack_consumer(qn, 4);
	for (uint64_t s = 3; s <= 4; s++)
		CHECK_OK(ipcq_ack(c, expect(c, s, 5, 1, 5 * SEC)));
	CHECK_OK(ipcq_close(c));
	CHECK_OK(ipcq_close(p));
}

/* Waiting messages fill the pool: a receive waits for an ack instead of
 * failing with -EBUSY. */
static void pool_full(void)
{
	struct ipcq *p = make_queue(CAP, 4);
	CHECK_RC(ipcq_attach(p, IPCQ_ROLE_PRODUCER, NULL), 0);
	struct ipcq *c1 = t_ack_consumer(qn, 4), *c2 = t_ack_consumer(qn, 4);
	for (uint64_t s = 1; s <= 6; s++)
		send_key(p, 0, s, 8);
	uint64_t t1 = expect(c1, 1, 8, 1, IPCQ_NOWAIT);
	expect_none(c2); /* parks 2, 3, 4: the pool is full */
	CHECK(t_info(p).key_waiting == 3 && t_info(p).depth == 2);
	expect_none(c2);
	CHECK_OK(ipcq_ack(c1, t1));
	for (uint64_t s = 2; s <= 6; s++)
		CHECK_OK(ipcq_ack(c2, expect(c2, s, 8, 1, SEC)));
	CHECK_OK(ipcq_close(c1));
	CHECK_OK(ipcq_close(c2));
	CHECK_OK(ipcq_close(p));
}

/* ---- random kills ---------------------------------------------------- */

enum { NPROD = T_KILL_PRODUCERS, NKEYS = 8, NCONS = 3 };

static struct t_kill_ledger *sh;

static uint64_t key_of(uint32_t prod, uint64_t seq)
{
	return (uint64_t)prod * 100 + seq % NKEYS + 1;
}

static int producer(void *arg)
{
	uint32_t id = (uint32_t)(uintptr_t)arg;
	struct ipcq *p = t_open_attach(qn, IPCQ_ROLE_PRODUCER, NULL);
	for (uint64_t s = 1; s <= sh->n; s++)
		send_key(p, id, s, key_of(id, s));
	CHECK_OK(ipcq_close(p));
	return 0;
}

static const char *const points[] = { "key.gate", "key.parked", "ack.filling", "ack.leased",
				      "ack.acking", "recover.lease_taken" };

static int consumer(void *arg)
{
	unsigned arm = t_kill_arm(arg), seat = t_kill_seat(arg); /* arm 0: none; else point and pass */
	if (arm && T_HAVE_POINTS)
		t_crash_at(points[(arm - 1) % T_NELEM(points)], 1 + (arm - 1) / T_NELEM(points));
	struct ipcq *c = t_ack_consumer(qn, 2);
	uint8_t buf[MAXLEN];
	struct ipcq_msginfo mi;
	while (__atomic_load_n(&sh->done, __ATOMIC_SEQ_CST) < NPROD * sh->n && !sh->bad) {
		int rc = ipcq_recv(c, buf, sizeof(buf), &mi, 50 * 1000000ll);
		if (rc == -ETIMEDOUT)
			continue;
		if (rc < 0) {
			t_kill_fail(sh, "consumer: recv %d (%s)", rc, ipcq_strerror(rc));
			return 1;
		}
		uint32_t prod;
		uint64_t seq;
		t_header(buf, &prod, &seq);
		if (prod >= NPROD || seq < 1 || seq > sh->n || t_verify(buf, (size_t)rc, prod, seq) ||
		    mi.key != key_of(prod, seq)) {
			t_kill_fail(sh, "message %u/%llu corrupt or with a wrong key %llu", prod,
				    (unsigned long long)seq, (unsigned long long)mi.key);
			return 1;
		}
		uint8_t st = __atomic_load_n(&sh->state[prod][seq], __ATOMIC_SEQ_CST);
		if (st && !(mi.flags & IPCQ_MSG_REDELIVERED))
			t_kill_fail(sh, "message %u/%llu delivered again unflagged (state %u)", prod,
				    (unsigned long long)seq, st);
		/* the one before it of its key is done */
		if (seq > NKEYS && __atomic_load_n(&sh->state[prod][seq - NKEYS], __ATOMIC_SEQ_CST) != 2)
			t_kill_fail(sh, "message %u/%llu delivered before %llu of its key was done", prod,
				    (unsigned long long)seq, (unsigned long long)(seq - NKEYS));
		__atomic_store_n(&sh->state[prod][seq], 1, __ATOMIC_SEQ_CST);
		__atomic_fetch_add(&sh->deliveries[prod][seq], 1, __ATOMIC_SEQ_CST);
		/* done (tallied) before the ack: whoever gets the next of the
		 * key after the ack sees it */
		__atomic_store_n(&sh->state[prod][seq], 2, __ATOMIC_SEQ_CST);
		rc = t_kill_ack(sh, seat, c, prod, seq, mi.token);
		if (rc < 0) {
			t_kill_fail(sh, "ack of %u/%llu: %d (%s)", prod, (unsigned long long)seq, rc,
				    ipcq_strerror(rc));
			return 1;
		}
	}
	CHECK_OK(ipcq_close(c));
	return 0;
}

static int wrong_key(const struct ipcq_msginfo *mi, uint32_t prod, uint64_t seq)
{
	return mi->key != key_of(prod, seq);
}

static void random_kills(void)
{
	struct ipcq *q = make_queue(64, 32);
	sh = t_shared(sizeof(*sh));
	sh->n = t_kill_count(40000, 12000);
	pid_t cons[NCONS];
	struct t_kill_crew crew = { .cons = cons, .n = NCONS, .consumer = consumer,
				    .npoints = T_NELEM(points), .max_kills = 60 };
	uint64_t target = NPROD * sh->n, again = t_kill_run(sh, &crew, producer);
	struct ipcq *c = t_ack_consumer(qn, 1);
	uint64_t swept = t_kill_sweep(sh, c, MAXLEN, wrong_key);
	printf("random kills: %u consumers killed at random, %u at named points; %llu messages, "
	       "each key in order, %llu delivered again (flagged), %llu left by the dead\n",
	       crew.kills, crew.points_hit, (unsigned long long)target, (unsigned long long)again,
	       (unsigned long long)swept);
	CHECK_OK(ipcq_close(c));
	struct ipcq_info in = t_info(q);
	CHECK(in.key_waiting == 0 && in.depth == 0 && in.leased == 0 && in.redeliverable == 0);
	CHECK_OK(ipcq_close(q));
}

int main(void)
{
	t_watchdog(t_limit(180), "t_keys", NULL);
	api();
	order_and_spread();
	pool_full();
	holder_killed(NULL);
	if (T_HAVE_POINTS) {
		frozen_before_lease();
		holder_killed("key.gate");
		parker_killed();
		gate_dead_busy();
		for (int i = 0; i < 4; i++)
			adopted_gone(i & 1, i >> 1);
		late_release_wakes(BY_RELEASE);
		late_release_wakes(BY_CLOSE);
		late_release_wakes(BY_RECEIVE);
		drop_wakes();
		drop_reserve_wakes();
	} else {
		printf("named points exist only in debug builds (asan, tsan): skipped those\n");
	}
	random_kills();
	printf("t_keys: ok\n");
	return 0;
}
