/* The lease pool of ack mode when it has no free entry: a receive takes a message given back by a consumer SIGKILLed before it counted it (lease.given_back); a pool full of delayed messages makes a receiver that holds none wait until the first falls due; -EBUSY only for a handle that holds leases; a message adopted from a dead consumer and leased counts as consumed for its named producer's takeover; a clean detach quarantines a message that has had max_deliveries; of two recoverers of one dead consumer's lease, one frozen before its takeover and the other attaching on the dead's entry, only one takes it over (the side ring gets the message once); what recovery reports freed and completed, the queue's statistics count; a group removed while a recoverer gives its dead member's lease back takes the lease with it. */
#include "ipcq.h"
#include "testutil.h"

enum { MAX = 64, NSEQ = 16 };
#define MS ((uint64_t)1000000)

/* Deliveries of each sequence, across the handles of one scenario. */
static unsigned got[NSEQ + 1];

static size_t pattern(uint8_t *buf, uint64_t seq)
{
	return t_fill(buf, 16 + t_msg_len(0, seq, 0, MAX - 16), 0, seq);
}

static void send_seq(struct ipcq *p, uint64_t seq)
{
	uint8_t buf[MAX];
	CHECK_RC(ipcq_send(p, buf, pattern(buf, seq), IPCQ_NOWAIT), 0);
}

/* Receive one message (waiting up to timeout_ns): every byte checked, a
 * delivery after the first flagged and counted as such; *seq its
 * sequence. */
static struct ipcq_msginfo take(struct ipcq *c, int64_t timeout_ns, uint64_t *seq, const char *who)
{
	uint8_t buf[MAX];
	struct ipcq_msginfo mi;
	uint32_t p;
	memset(&mi, 0, sizeof(mi));
	int rc = ipcq_recv(c, buf, sizeof(buf), &mi, timeout_ns);
	t_check_msg(buf, rc, 1, NSEQ, NULL, who, &p, seq);
	/* a message is delivered again only flagged, with its count raised */
	if (got[*seq] && (!(mi.flags & IPCQ_MSG_REDELIVERED) || mi.deliveries <= 1))
		T_FAIL("%s: seq %" PRIu64 " delivered again unflagged (deliveries %u flags 0x%x)", who,
		       *seq, mi.deliveries, mi.flags);
	got[*seq]++;
	return mi;
}

/* take() of the message seq, its deliveries-th delivery. */
static struct ipcq_msginfo take_seq(struct ipcq *c, int64_t timeout_ns, uint64_t seq,
				    uint32_t deliveries, const char *who)
{
	uint64_t s;
	struct ipcq_msginfo mi = take(c, timeout_ns, &s, who);
	if (s != seq || mi.deliveries != deliveries)
		T_FAIL("%s: seq %" PRIu64 " delivery %u, expected seq %" PRIu64 " delivery %u", who, s,
		       mi.deliveries, seq, deliveries);
	CHECK(((mi.flags & IPCQ_MSG_REDELIVERED) != 0) == (deliveries > 1));
	return mi;
}

static void expect_empty(struct ipcq *c)
{
	uint8_t buf[MAX];
	CHECK_RC(ipcq_recv(c, buf, sizeof(buf), NULL, IPCQ_NOWAIT), -EAGAIN);
}

/* Each of 1..n delivered since the last reset, none other (take() let a
 * message come again only flagged as a redelivery); nothing left in the
 * ring or the pool. */
static void all_done(struct ipcq *q, uint64_t n, const char *label)
{
	for (uint64_t s = 1; s <= NSEQ; s++)
		if ((s <= n) != (got[s] != 0))
			T_FAIL("%s: seq %" PRIu64 " delivered %u times", label, s, got[s]);
	struct ipcq_info in = t_info(q);
	if (in.leased || in.redeliverable || in.depth)
		T_FAIL("%s: leased %u redeliverable %u depth %" PRIu64 " at the end", label,
		       in.leased, in.redeliverable, in.depth);
	memset(got, 0, sizeof(got));
}

static struct ipcq *make_queue(const char **name, const char *tag, struct ipcq_config *cfg)
{
	*name = t_qname(tag);
	struct ipcq *q = t_create(*name, cfg);
	CHECK_RC(ipcq_attach(q, IPCQ_ROLE_PRODUCER, NULL), 0);
	return q;
}

/* ------------------------------------------------------------------ */

/* Receives seq 1, gives it back, and is killed between the give-back
 * (L4) and its count (L7). */
static int nack_then_die(void *arg)
{
	t_crash_at("lease.given_back", 1);
	struct ipcq *c = t_ack_consumer((const char *)arg, 1);
	uint64_t s;
	struct ipcq_msginfo mi = take(c, IPCQ_NOWAIT, &s, "giver");
	CHECK(s == 1);
	ipcq_nack(c, mi.token, IPCQ_NACK_REQUEUE);
	return 1; /* not reached: killed in the nack */
}

/* A pool of one entry, given back uncounted: the next receive takes it at
 * once (no wait, no recovery pass needed), and no receive fails -EBUSY. */
static void test_uncounted_give_back(void)
{
	const char *name;
	struct ipcq_config cfg = t_config(8, MAX);
	cfg.lease_capacity = 1;
	struct ipcq *p = make_queue(&name, "pool_uncounted", &cfg);
	for (uint64_t s = 1; s <= 3; s++)
		send_seq(p, s);
	t_wait_crashed(t_spawn(nack_then_die, (void *)name), 10, "consumer giving seq 1 back");
	CHECK(t_info(p).redeliverable == 1); /* counted from the pool, not the hint */

	struct ipcq *c = t_ack_consumer(name, 1);
	/* IPCQ_NOWAIT: taken without a wait round (and so without the look at
	 * the pool that a recovery pass asks for) */
	struct ipcq_msginfo m = take_seq(c, IPCQ_NOWAIT, 1, 2, "after the kill");
	CHECK_RC(ipcq_ack(c, m.token), 0);
	for (uint64_t s = 2; s <= 3; s++) {
		m = take_seq(c, 5000 * MS, s, 1, "after the kill");
		CHECK_RC(ipcq_ack(c, m.token), 0);
	}
	expect_empty(c);
	all_done(p, 3, "uncounted give-back");
	CHECK_RC(ipcq_close(c), 0);
	CHECK_RC(ipcq_close(p), 0);
	printf("a pool holding only a give-back whose holder died uncounted: taken at once\n");
}

/* -EBUSY means "ack or nack first": only a handle holding leases gets it
 * when the pool is exhausted; one holding none waits. */
static void test_busy_only_in_flight(void)
{
	const char *name;
	struct ipcq_config cfg = t_config(8, MAX);
	cfg.lease_capacity = 2;
	struct ipcq *p = make_queue(&name, "pool_busy", &cfg);
	for (uint64_t s = 1; s <= 4; s++)
		send_seq(p, s);
	struct ipcq *a = t_ack_consumer(name, 2), *b = t_ack_consumer(name, 2);
	struct ipcq *c = t_ack_consumer(name, 2);
	struct ipcq_msginfo ma = take_seq(a, IPCQ_NOWAIT, 1, 1, "a");
	struct ipcq_msginfo mb = take_seq(b, IPCQ_NOWAIT, 2, 1, "b");
	uint8_t buf[MAX];
	/* a holds one of its prefetch 2; the pool is exhausted */
	CHECK_RC(ipcq_recv(a, buf, sizeof(buf), NULL, IPCQ_NOWAIT), -EBUSY);
	CHECK_RC(ipcq_recv(a, buf, sizeof(buf), NULL, 20 * MS), -EBUSY);
	/* c holds none: nothing it could ack; it waits */
	CHECK_RC(ipcq_recv(c, buf, sizeof(buf), NULL, IPCQ_NOWAIT), -EAGAIN);
	CHECK_RC(ipcq_recv(c, buf, sizeof(buf), NULL, 20 * MS), -ETIMEDOUT);
	CHECK_RC(ipcq_ack(b, mb.token), 0);
	struct ipcq_msginfo mc = take_seq(c, IPCQ_NOWAIT, 3, 1, "c");
	CHECK_RC(ipcq_ack(a, ma.token), 0);
	ma = take_seq(a, IPCQ_NOWAIT, 4, 1, "a");
	CHECK_RC(ipcq_ack(a, ma.token), 0);
	CHECK_RC(ipcq_ack(c, mc.token), 0);
	expect_empty(a);
	expect_empty(c);
	all_done(p, 4, "exhausted pool");
	CHECK_RC(ipcq_close(a), 0);
	CHECK_RC(ipcq_close(b), 0);
	CHECK_RC(ipcq_close(c), 0);
	CHECK_RC(ipcq_close(p), 0);
	printf("an exhausted pool: -EBUSY for a handle holding leases, a wait for one holding none\n");
}

/* A pool full of messages waiting out a retry delay, nothing in flight:
 * a receive waits (IPCQ_NOWAIT: -EAGAIN, a short timeout: -ETIMEDOUT), and
 * a blocking one returns when the first falls due, asleep until then (the
 * grace period, its other reason to wake, is far longer). */
static void test_delayed_pool(void)
{
	const char *name;
	struct ipcq_config cfg = t_config(8, MAX);
	cfg.lease_capacity = 2;
	cfg.grace_us = 20000000; /* 20 s */
	struct ipcq *p = make_queue(&name, "pool_delayed", &cfg);
	send_seq(p, 1);
	send_seq(p, 2);
	struct ipcq *c = t_ack_consumer(name, 2);
	struct ipcq_msginfo m1 = take_seq(c, IPCQ_NOWAIT, 1, 1, "first");
	struct ipcq_msginfo m2 = take_seq(c, IPCQ_NOWAIT, 2, 1, "first");
	uint64_t t0 = t_now_ns();
	CHECK_RC(ipcq_nack_delay(c, m1.token, (int64_t)(200 * MS)), 0);
	CHECK_RC(ipcq_nack_delay(c, m2.token, (int64_t)(400 * MS)), 0);
	uint8_t buf[MAX];
	CHECK_RC(ipcq_recv(c, buf, sizeof(buf), NULL, IPCQ_NOWAIT), -EAGAIN);
	CHECK_RC(ipcq_recv(c, buf, sizeof(buf), NULL, 20 * MS), -ETIMEDOUT);

	struct ipcq_msginfo m = take_seq(c, IPCQ_FOREVER, 1, 2, "due");
	uint64_t t1 = t_now_ns();
	if (t1 - t0 < 200 * MS || t1 - t0 > 10000 * MS)
		T_FAIL("seq 1 delivered again %" PRIu64 " ms after its 200 ms delay began",
		       (t1 - t0) / MS);
	CHECK_RC(ipcq_ack(c, m.token), 0);
	/* the pool has a free entry now, and the ring is empty: the wait is
	 * the ring's, and still ends when seq 2 falls due */
	m = take_seq(c, IPCQ_FOREVER, 2, 2, "due");
	t1 = t_now_ns();
	if (t1 - t0 < 400 * MS || t1 - t0 > 10000 * MS)
		T_FAIL("seq 2 delivered again %" PRIu64 " ms after its 400 ms delay began",
		       (t1 - t0) / MS);
	CHECK_RC(ipcq_ack(c, m.token), 0);
	expect_empty(c);
	all_done(p, 2, "delayed pool");

	/* the same with the ring not empty: the receive still waits for the
	 * pool, and gets the delayed message, then the ring's */
	send_seq(p, 1);
	send_seq(p, 2);
	send_seq(p, 3);
	m1 = take_seq(c, IPCQ_NOWAIT, 1, 1, "ring");
	m2 = take_seq(c, IPCQ_NOWAIT, 2, 1, "ring");
	t0 = t_now_ns();
	CHECK_RC(ipcq_nack_delay(c, m1.token, (int64_t)(100 * MS)), 0);
	CHECK_RC(ipcq_nack_delay(c, m2.token, (int64_t)(100 * MS)), 0);
	CHECK_RC(ipcq_recv(c, buf, sizeof(buf), NULL, IPCQ_NOWAIT), -EAGAIN);
	uint64_t s1, s2;
	m1 = take(c, IPCQ_FOREVER, &s1, "ring, due");
	CHECK(t_now_ns() - t0 >= 100 * MS);
	m2 = take(c, IPCQ_FOREVER, &s2, "ring, due");
	CHECK(s1 != s2 && s1 + s2 == 3 && m1.deliveries == 2 && m2.deliveries == 2);
	CHECK_RC(ipcq_ack(c, m1.token), 0);
	CHECK_RC(ipcq_ack(c, m2.token), 0);
	m = take_seq(c, IPCQ_NOWAIT, 3, 1, "ring");
	CHECK_RC(ipcq_ack(c, m.token), 0);
	expect_empty(c);
	all_done(p, 3, "delayed pool, ring not empty");
	CHECK_RC(ipcq_close(c), 0);
	CHECK_RC(ipcq_close(p), 0);
	printf("a pool full of delayed messages: the receiver waits until the first is due\n");
}

/* ------------------------------------------------------------------ */

static const char *dedup_q;

static struct ipcq *named_producer(void)
{
	struct ipcq_attach_opts o = IPCQ_ATTACH_OPTS_INIT;
	o.flags = IPCQ_ATTACH_DEDUP;
	o.name = "gw";
	return t_open_attach(dedup_q, IPCQ_ROLE_PRODUCER, &o);
}

/* The named producer: seq 1 published, killed before it records it. */
static int holder_dies(void *arg)
{
	(void)arg;
	t_crash_at("send.published_unrecorded", 1);
	struct ipcq *h = named_producer();
	uint8_t buf[MAX];
	ipcq_send_seq(h, 1, buf, pattern(buf, 1), IPCQ_FOREVER);
	return 1; /* not reached */
}

/* An ack-mode consumer killed at a point of its receive. */
static int consumer_dies(void *arg)
{
	t_crash_at((const char *)arg, 1);
	struct ipcq *c = t_ack_consumer(dedup_q, 4);
	uint8_t buf[MAX];
	ipcq_recv(c, buf, sizeof(buf), NULL, 10000 * MS);
	return 1; /* not reached */
}

static void side_holds(struct ipcq *q, const uint64_t *want, unsigned n, unsigned reason,
		       uint32_t deliveries);

/* The named producer dies before recording seq 1; a consumer claims it
 * and dies; the next adopts it, moves it out of the slot (into a lease,
 * or with max_deliveries 1 into the side ring) and dies at @point, before
 * releasing the slot.  Recovery releases the slot as moved on: the name's
 * next holder must still learn that seq 1 was accepted, so that its
 * replay is a duplicate. */
static void adopted_dedup(const char *point, uint32_t max_deliveries)
{
	struct ipcq_config cfg = t_config(8, MAX);
	cfg.max_deliveries = max_deliveries;
	dedup_q = t_qname("pool_dedup");
	struct ipcq *cq = t_create(dedup_q, &cfg);
	t_wait_crashed(t_spawn(holder_dies, NULL), 10, "named producer");
	t_wait_crashed(t_spawn(consumer_dies, (void *)"recv.claimed"), 10, "claiming consumer");
	t_wait_crashed(t_spawn(consumer_dies, (void *)point), 20, "adopting consumer");

	struct ipcq *h = named_producer();
	uint64_t last = 0;
	CHECK_RC(ipcq_last_seq(h, &last), 0);
	if (last != 1)
		T_FAIL("the name's new holder learned last_seq %" PRIu64 ", expected 1", last);
	uint8_t buf[MAX];
	CHECK_RC(ipcq_send_seq(h, 1, buf, pattern(buf, 1), IPCQ_NOWAIT), IPCQ_SEND_DUPLICATE);
	CHECK_RC(ipcq_send_seq(h, 2, buf, pattern(buf, 2), IPCQ_NOWAIT), 0);

	struct ipcq *c = t_ack_consumer(dedup_q, 4);
	unsigned left = 2;
	if (max_deliveries == 1) {
		/* seq 1 is in the side ring, quarantined by the dead adopter */
		const uint64_t one = 1;
		side_holds(cq, &one, 1, IPCQ_REASON_CONSUMER_CRASHED, 1);
		got[1]++;
		left = 1;
	}
	for (unsigned i = 0; i < left; i++) {
		uint64_t s;
		struct ipcq_msginfo m = take(c, 5000 * MS, &s, "after the kills");
		CHECK(m.stream != 0);
		CHECK_RC(ipcq_ack(c, m.token), 0);
	}
	expect_empty(c);
	all_done(cq, 2, point);
	CHECK_RC(ipcq_close(c), 0);
	CHECK_RC(ipcq_close(h), 0);
	CHECK_RC(ipcq_close(cq), 0);
}

static void test_adopted_lease_dedup(void)
{
	adopted_dedup("ack.adopted_leased", 5);
	adopted_dedup("side.written", 1);
	printf("a message adopted from the dead and leased or quarantined counts as consumed for its "
	       "producer's name\n");
}

/* ------------------------------------------------------------------ */

/* The side ring holds exactly the entries of sequences want[0..n), with
 * reason and deliveries as given, each payload intact. */
static void side_holds(struct ipcq *q, const uint64_t *want, unsigned n, unsigned reason,
		       uint32_t deliveries)
{
	struct ipcq_poison pe[8];
	int k = ipcq_poison_list(q, 0, pe, T_NELEM(pe));
	if (k != (int)n)
		T_FAIL("side ring: %d entries, expected %u", k, n);
	for (unsigned i = 0; i < n; i++) {
		uint8_t buf[MAX];
		int rc = ipcq_poison_peek(q, pe[i].id, buf, sizeof(buf), NULL);
		CHECK(rc >= 16 && t_verify(buf, (size_t)rc, 0, want[i]) == 0);
		if (pe[i].seq != want[i] || pe[i].reason != reason || pe[i].deliveries != deliveries)
			T_FAIL("side entry %u: seq %" PRIu64 " reason %u deliveries %u, expected seq "
			       "%" PRIu64 " reason %u deliveries %u", i, pe[i].seq, pe[i].reason,
			       pe[i].deliveries, want[i], reason, deliveries);
	}
}

/* A clean detach gives leases back; one that has had max_deliveries goes
 * to the side ring instead, reason MAX_DELIVERIES.  With the side ring
 * full it is given back, delivered again (its count telling), and moved
 * by the first receive that finds room. */
static void test_detach_past_max(void)
{
	const char *name;
	struct ipcq_config cfg = t_config(8, MAX);
	cfg.lease_capacity = 8;
	cfg.side_capacity = 4;
	cfg.max_deliveries = 2;
	struct ipcq *p = make_queue(&name, "pool_detach", &cfg);
	send_seq(p, 1);
	for (uint32_t d = 1; d <= 2; d++) {
		struct ipcq *c = t_ack_consumer(name, 4);
		take_seq(c, IPCQ_NOWAIT, 1, d, "detach");
		CHECK_RC(ipcq_close(c), 0); /* unacknowledged */
	}
	struct ipcq *c = t_ack_consumer(name, 4);
	expect_empty(c);
	const uint64_t one = 1;
	side_holds(p, &one, 1, IPCQ_REASON_MAX_DELIVERIES, 2);
	CHECK_RC(ipcq_poison_purge(p, IPCQ_POISON_ALL), 1);
	all_done(p, 1, "detach past max_deliveries");
	CHECK_RC(ipcq_close(c), 0);
	CHECK_RC(ipcq_close(p), 0);

	/* a side ring of one entry, full */
	cfg.side_capacity = 1;
	cfg.max_deliveries = 1;
	p = make_queue(&name, "pool_detach_full", &cfg);
	send_seq(p, 1);
	send_seq(p, 2);
	c = t_ack_consumer(name, 4);
	struct ipcq_msginfo m = take_seq(c, IPCQ_NOWAIT, 1, 1, "side full");
	CHECK_RC(ipcq_nack(c, m.token, IPCQ_NACK_POISON), 1);
	m = take_seq(c, IPCQ_NOWAIT, 2, 1, "side full");
	CHECK_RC(ipcq_nack(c, m.token, IPCQ_NACK_POISON), -ENOSPC); /* refused: still held */
	CHECK(t_my_stats(c).nacks == 1);
	CHECK_RC(ipcq_close(c), 0); /* side ring full: given back */
	CHECK(t_info(p).redeliverable == 1);
	c = t_ack_consumer(name, 4);
	take_seq(c, IPCQ_NOWAIT, 2, 2, "side full"); /* still full: delivered again */
	CHECK_RC(ipcq_close(c), 0);
	CHECK_RC(ipcq_poison_purge(p, IPCQ_POISON_ALL), 1);
	c = t_ack_consumer(name, 4);
	expect_empty(c); /* moved by the receive */
	const uint64_t two = 2;
	side_holds(p, &two, 1, IPCQ_REASON_MAX_DELIVERIES, 2);
	CHECK_RC(ipcq_poison_purge(p, IPCQ_POISON_ALL), 1);
	all_done(p, 2, "detach past max_deliveries, side ring full");
	CHECK_RC(ipcq_close(c), 0);
	CHECK_RC(ipcq_close(p), 0);
	printf("a detach quarantines a lease that has had max_deliveries\n");
}

/* Two recoverers of one dead consumer's lease: B (ipcq_recover() of an
 * attached handle) has read the dead's lease word and is frozen before
 * its takeover CAS (recover.lease_taking); A attaches on the dead's entry
 * and takes the lease over first (frozen at recover.lease_taken).  B's
 * CAS must fail: the lease is A's.  (A took it over under the dead's own
 * tag, a CAS that changed nothing, and B's CAS then succeeded: both moved
 * the message to the side ring.) */
static const char *race_q;
/* shared with the children of the two scenarios below */
static int *race_go; /* RACE_ATTACHED, then RACE_HOLDING, then RACE_DEAD */
enum { RACE_HOLDING = 1, RACE_DEAD = 2, RACE_ATTACHED = 3 };

/* A recoverer of queue *name (an attached producer, so that it attaches
 * before the holder dies: else its attach would recover the dead entry
 * itself), frozen at @point of its ipcq_recover() after the death;
 * @freed: the entries its report must say it freed (-1: not checked). */
struct recov {
	const char *point;
	const char **name;
	int freed;
};

static int recoverer(void *arg)
{
	const struct recov *rv = arg;
	t_freeze_at(rv->point, 1); /* armed before the first call */
	struct ipcq *b = t_open_attach(*rv->name, IPCQ_ROLE_PRODUCER, NULL);
	__atomic_store_n(race_go, RACE_ATTACHED, __ATOMIC_SEQ_CST);
	T_AWAIT(__atomic_load_n(race_go, __ATOMIC_SEQ_CST) == RACE_DEAD, 30);
	struct ipcq_recovery rep;
	memset(&rep, 0, sizeof(rep));
	rep.size = sizeof(rep);
	int acted = ipcq_recover(b, &rep);
	CHECK(acted >= 0);
	if (rv->freed >= 0)
		CHECK(acted > 0 && rep.freed == (uint64_t)rv->freed);
	CHECK_RC(ipcq_close(b), 0);
	return 0;
}

/* Start the recoverer, then the holder, and kill the holder once it holds
 * message 1; returns the recoverer, frozen at its point. */
static pid_t recoverer_frozen(struct recov *rv, int (*holder)(void *), void *arg)
{
	race_go = t_shared(sizeof(*race_go));
	pid_t r = t_spawn(recoverer, rv);
	T_AWAIT_KIDS(__atomic_load_n(race_go, __ATOMIC_SEQ_CST) == RACE_ATTACHED, 30);
	pid_t d = t_spawn(holder, arg);
	T_AWAIT_KIDS(__atomic_load_n(race_go, __ATOMIC_SEQ_CST) == RACE_HOLDING, 30);
	kill(d, SIGKILL);
	t_reap_killed(d, SIGKILL);
	__atomic_store_n(race_go, RACE_DEAD, __ATOMIC_SEQ_CST);
	t_wait_stopped(r, 30, rv->point);
	return r;
}

static int attacher(void *arg)
{
	(void)arg;
	t_freeze_at("recover.lease_taken", 1);
	struct ipcq *a = t_ack_consumer(race_q, 1); /* recovers the dead's entry first */
	CHECK_RC(ipcq_close(a), 0);
	return 0;
}

/* Receive message 1 with c, say so (*flag = v) and hold it until killed. */
static int hold_until_killed(struct ipcq *c, int *flag, int v)
{
	uint64_t s;
	take(c, IPCQ_NOWAIT, &s, "holder");
	CHECK(s == 1);
	__atomic_store_n(flag, v, __ATOMIC_SEQ_CST);
	for (unsigned round = 0;;)
		t_poll_pause(&round);
	return 1;
}

static int hold_and_wait(void *arg)
{
	return hold_until_killed(t_ack_consumer((const char *)arg, 1), race_go, RACE_HOLDING);
}

static void test_two_recoverers(void)
{
	struct ipcq_config cfg = t_config(8, MAX);
	cfg.lease_capacity = 1;
	cfg.side_capacity = 4;
	cfg.max_deliveries = 1; /* the dead's message goes to the side ring */
	struct ipcq *p = make_queue(&race_q, "pool_race", &cfg);
	send_seq(p, 1);
	static struct recov rv = { "recover.lease_taking", &race_q, -1 };
	pid_t b = recoverer_frozen(&rv, hold_and_wait, (void *)race_q);
	pid_t a = t_spawn(attacher, NULL);
	t_wait_stopped(a, 30, "attacher at recover.lease_taken");
	t_resume(b);
	CHECK(t_wait_end(b, 30, "recoverer") == 0);
	/* the one entry is A's until it is done: a receive finds it taken
	 * (B had freed it, and the message received here was then the one
	 * A moved to the side ring as the dead's) */
	send_seq(p, 2);
	struct ipcq *c = t_ack_consumer(race_q, 1);
	expect_empty(c);
	t_resume(a);
	CHECK(t_wait_end(a, 30, "attacher") == 0);
	const uint64_t one = 1;
	side_holds(p, &one, 1, IPCQ_REASON_CONSUMER_CRASHED, 1);
	CHECK_OK(ipcq_ack(c, take_seq(c, IPCQ_NOWAIT, 2, 1, "after the race").token));
	CHECK_RC(ipcq_poison_purge(p, IPCQ_POISON_ALL), 1);
	got[1] = 1; /* delivered once, to the holder (in its process) */
	all_done(p, 2, "two recoverers");
	CHECK_RC(ipcq_close(c), 0);
	CHECK_RC(ipcq_close(p), 0);
	printf("two recoverers of one lease: one takes it over, the other's CAS fails\n");
}

/* What recovery reports freed and completed (ipcq_recover()) is what the
 * queue's counters say (ipcq_stats(): they stayed 0). */
static const char *cnt_q;

static int die_at(void *arg)
{
	t_crash_at((const char *)arg, 1);
	struct ipcq *c = t_ack_consumer(cnt_q, 1);
	uint64_t s;
	struct ipcq_msginfo mi = take(c, IPCQ_NOWAIT, &s, "dying"); /* ack.reserved: dies here */
	ipcq_nack(c, mi.token, IPCQ_NACK_POISON);                  /* side.written: here */
	return 1;
}

static void test_recovery_counted(void)
{
	struct ipcq_config cfg = t_config(8, MAX);
	cfg.lease_capacity = 4;
	cfg.side_capacity = 4;
	struct ipcq *p = make_queue(&cnt_q, "pool_counted", &cfg);
	static const char *const points[] = { "ack.reserved", "side.written" };
	uint64_t freed = 0, completed = 0;
	for (unsigned i = 0; i < T_NELEM(points); i++) {
		send_seq(p, i + 1);
		pid_t k = t_spawn(die_at, (void *)points[i]);
		t_reap_killed(k, SIGKILL);
		struct ipcq_recovery rep;
		memset(&rep, 0, sizeof(rep));
		rep.size = sizeof(rep);
		CHECK(ipcq_recover(p, &rep) > 0);
		freed += rep.freed;
		completed += rep.completed;
	}
	struct ipcq_stats st = t_stats(p);
	if (freed < 1 || completed < 1 || st.freed != freed || st.completed != completed)
		T_FAIL("recovery reported freed %" PRIu64 " completed %" PRIu64 "; the queue counts "
		       "freed %" PRIu64 " completed %" PRIu64, freed, completed, st.freed,
		       st.completed);
	/* the first died before its claim: the second took 1 and poisoned it */
	const uint64_t one = 1;
	side_holds(p, &one, 1, IPCQ_REASON_NACKED, 1);
	CHECK_RC(ipcq_poison_purge(p, IPCQ_POISON_ALL), 1);
	struct ipcq *c = t_ack_consumer(cnt_q, 1);
	CHECK_OK(ipcq_ack(c, take_seq(c, IPCQ_NOWAIT, 2, 1, "after the deaths").token));
	got[1] = 1; /* delivered once, to the dead (in its process) */
	all_done(p, 2, "recovery counted");
	CHECK_RC(ipcq_close(c), 0);
	CHECK_RC(ipcq_close(p), 0);
	printf("recovery's freed and completed are counted in the queue's statistics\n");
}

/* A dead group member's lease, taken over by a recoverer frozen before it
 * gives it back (recover.lease_giving), while the group is removed: the
 * remove's drop pass finds the entry still OWNED, and the recoverer,
 * resumed, must drop it with the group.  (It gave it back under the
 * removed group, where nobody could take or free it: the pool lost the
 * entry for good.) */
static const char *grp_q;

static int member_holds(void *arg)
{
	(void)arg;
	return hold_until_killed(t_group_consumer(grp_q, "g", IPCQ_ATTACH_ACK), race_go,
				 RACE_HOLDING);
}

static void test_group_removed_mid_recovery(void)
{
	struct ipcq_config cfg = t_config(8, MAX);
	cfg.lease_capacity = 4;
	cfg.max_groups = 1;
	struct ipcq *p = make_queue(&grp_q, "pool_group", &cfg);
	CHECK_RC(ipcq_group_create(p, "g", 0), 0);
	send_seq(p, 1);
	/* the recoverer attached first: else its attach would hold the dead
	 * member's entry, and the remove count it live */
	static struct recov rv = { "recover.lease_giving", &grp_q, 1 };
	pid_t r = recoverer_frozen(&rv, member_holds, NULL);
	CHECK_RC(ipcq_group_remove(p, "g"), 0);
	t_resume(r);
	CHECK(t_wait_end(r, 30, "recoverer") == 0);
	struct ipcq_info in = t_info(p);
	if (in.leased || in.redeliverable)
		T_FAIL("group removed during recovery: leased %u redeliverable %u left", in.leased,
		       in.redeliverable);
	CHECK_RC(ipcq_close(p), 0);
	printf("a group removed while a recoverer gives its dead member's lease back: dropped\n");
}

static const struct {
	const char *name;
	void (*run)(void);
} scenarios[] = {
	{ "uncounted", test_uncounted_give_back },
	{ "busy", test_busy_only_in_flight },
	{ "delayed", test_delayed_pool },
	{ "dedup", test_adopted_lease_dedup },
	{ "detach", test_detach_past_max },
	{ "race", test_two_recoverers },
	{ "counted", test_recovery_counted },
	{ "group", test_group_removed_mid_recovery },
};

/* Every scenario, or (by hand) those named on the command line. */
int main(int argc, char **argv)
{
	t_need_points();
	t_watchdog(t_limit(120), "t_lease_pool", NULL);
	for (unsigned i = 0; i < T_NELEM(scenarios); i++) {
		int run = argc < 2;
		for (int a = 1; a < argc; a++)
			run |= strcmp(argv[a], scenarios[i].name) == 0;
		if (run)
			scenarios[i].run();
	}
	printf("ok\n");
	return 0;
}
