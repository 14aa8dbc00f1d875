/* No lost wake-up: many ping-pong hand-offs between two processes, and a one-way stream through a 2-slot ring, both sides always sleeping on the futex (adaptive, spin 0, yield 0), with a grace period (60 s) far longer than the test, so that a sleeper is woken only by its peer: a lost wake-up of a consumer or of a producer stalls the exchange, which the watchdog reports. */
#include "ipcq.h"
#include "testutil.h"

/* A sleeper also wakes by itself after a grace period, which would hide a
 * lost wake-up as a mere delay: the grace period is the longest allowed,
 * and the watchdog, re-armed every CHUNK round trips, fires well before it
 * (CHUNK round trips take milliseconds).  Neither scales with
 * IPCQ_STRESS: the watchdog must stay below the grace period. */
#define GRACE_US 60000000u
#define STALL_S 10u
#define CHUNK 1000u

struct pp {
	const char *ping, *pong;  /* parent -> child, child -> parent */
	uint64_t rounds;
	int batch;                /* use the batch calls */
	uint64_t parent_round;    /* progress, for the watchdog's report */
	uint64_t child_round;
	uint64_t child_sleeps;    /* stream: futex sleeps of the child's sends */
};

static struct pp *cur;

static void report(void)
{
	t_say("  parent at round ");
	t_say_u64(__atomic_load_n(&cur->parent_round, __ATOMIC_RELAXED));
	t_say(", child at round ");
	t_say_u64(__atomic_load_n(&cur->child_round, __ATOMIC_RELAXED));
	t_say(" of ");
	t_say_u64(cur->rounds);
	t_say("\n");
}

static struct ipcq *attach(const char *name, unsigned role)
{
	struct ipcq_attach_opts o = t_opts(IPCQ_WAIT_ADAPTIVE, 0, 0);
	return t_open_attach(name, role, &o);
}

static void put(struct ipcq *q, int batch, uint64_t v)
{
	if (batch) {
		struct ipcq_buf b = { &v, sizeof(v) };
		CHECK_RC(ipcq_send_batch(q, &b, 1, IPCQ_FOREVER), 1);
	} else {
		CHECK_RC(ipcq_send(q, &v, sizeof(v), IPCQ_FOREVER), 0);
	}
}

static uint64_t get(struct ipcq *q, int batch)
{
	uint64_t v = 0;
	if (batch) {
		struct ipcq_buf b = { &v, sizeof(v) };
		CHECK_RC(ipcq_recv_batch(q, &b, NULL, 1, IPCQ_FOREVER), 1);
		CHECK(b.len == sizeof(v));
	} else {
		CHECK_RC(ipcq_recv(q, &v, sizeof(v), NULL, IPCQ_FOREVER), sizeof(v));
	}
	return v;
}

static int child(void *arg)
{
	struct pp *p = (struct pp *)arg;
	struct ipcq *in = attach(p->ping, IPCQ_ROLE_CONSUMER);
	struct ipcq *out = attach(p->pong, IPCQ_ROLE_PRODUCER);
	for (uint64_t i = 1; i <= p->rounds; i++) {
		uint64_t v = get(in, p->batch);
		if (v != i)
			T_FAIL("child: got %" PRIu64 " in round %" PRIu64, v, i);
		__atomic_store_n(&p->child_round, i, __ATOMIC_RELAXED);
		put(out, p->batch, ~v);
	}
	CHECK_RC(ipcq_close(in), 0);
	CHECK_RC(ipcq_close(out), 0);
	return 0;
}

/* Futex sleeps of handle @q so far. */
static uint64_t sleeps_of(struct ipcq *q)
{
	struct ipcq_stats st;
	struct ipcq_participant_stats ps[8];
	int32_t me = t_info(q).participant_index;
	memset(&st, 0, sizeof(st));
	st.size = sizeof(st);
	int n = ipcq_stats(q, &st, ps, T_NELEM(ps));
	CHECK_OK(n);
	for (int i = 0; i < n; i++)
		if ((int32_t)ps[i].index == me)
			return ps[i].sleeps;
	T_FAIL("ipcq_stats does not list participant %d", me);
}

static void run(uint64_t rounds, int batch, uint32_t cap)
{
	struct pp *p = (struct pp *)t_shared(sizeof(*p));
	struct ipcq_config cfg = t_config(cap, 8);
	cfg.spin_count = cfg.yield_count = 0;
	cfg.grace_us = GRACE_US;
	p->ping = t_qname("ping");
	p->pong = t_qname("pong");
	p->rounds = rounds;
	p->batch = batch;
	cur = p;
	struct ipcq *q1 = t_create(p->ping, &cfg), *q2 = t_create(p->pong, &cfg);
	struct ipcq *out = attach(p->ping, IPCQ_ROLE_PRODUCER);
	struct ipcq *in = attach(p->pong, IPCQ_ROLE_CONSUMER);

	t_watchdog(STALL_S, "ping-pong (no round trip for a while)", report);
	uint64_t t0 = t_now_ns();
	pid_t pid = t_spawn(child, p);
	for (uint64_t i = 1; i <= rounds; i++) {
		if (i % CHUNK == 0)
			t_watchdog(STALL_S, "ping-pong (no round trip for a while)", report);
		put(out, batch, i);
		uint64_t v = get(in, batch);
		if (v != ~i)
			T_FAIL("parent: got %" PRIx64 " in round %" PRIu64, v, i);
		__atomic_store_n(&p->parent_round, i, __ATOMIC_RELAXED);
	}
	CHECK(t_reap(pid) == 0);
	t_watchdog(0, NULL, NULL);
	/* the parent's receives slept on the futex: the test exercised the
	 * wake-ups it checks */
	uint64_t sleeps = sleeps_of(in);
	printf("ping-pong%s cap %u: %" PRIu64 " round trips in %.2f s, %" PRIu64 " futex sleeps"
	       " of the parent's receives\n", batch ? " (batch)" : "", cap, rounds,
	       (double)(t_now_ns() - t0) / 1e9, sleeps);
	CHECK(sleeps > 0);
	CHECK(t_info(q1).depth == 0 && t_info(q2).depth == 0);
	CHECK_RC(ipcq_close(out), 0);
	CHECK_RC(ipcq_close(in), 0);
	CHECK_RC(ipcq_close(q1), 0);
	CHECK_RC(ipcq_close(q2), 0);
	CHECK_RC(ipcq_unlink(p->ping), 0);
	CHECK_RC(ipcq_unlink(p->pong), 0);
	munmap(p, sizeof(*p));
}

/* The child streams 1..rounds into the ping queue; nothing comes back. */
static int streamer(void *arg)
{
	struct pp *p = (struct pp *)arg;
	struct ipcq *out = attach(p->ping, IPCQ_ROLE_PRODUCER);
	for (uint64_t i = 1; i <= p->rounds; i++) {
		put(out, 0, i);
		__atomic_store_n(&p->child_round, i, __ATOMIC_RELAXED);
	}
	p->child_sleeps = sleeps_of(out);
	CHECK_RC(ipcq_close(out), 0);
	return 0;
}

/*
 * One way only, through a ring of @cap slots: with spin and yield 0 the
 * producer sleeps whenever the ring is full and the consumer whenever it
 * is empty, so both kinds of wake-up are needed (a send waking a consumer,
 * a receive waking a producer), and a lost one of either stalls the stream.
 */
static void run_stream(uint64_t rounds, uint32_t cap)
{
	struct pp *p = (struct pp *)t_shared(sizeof(*p));
	struct ipcq_config cfg = t_config(cap, 8);
	cfg.spin_count = cfg.yield_count = 0;
	cfg.grace_us = GRACE_US;
	p->ping = t_qname("stream");
	p->rounds = rounds;
	cur = p;
	struct ipcq *q = t_create(p->ping, &cfg);
	struct ipcq *in = attach(p->ping, IPCQ_ROLE_CONSUMER);

	t_watchdog(STALL_S, "stream (no message for a while)", report);
	uint64_t t0 = t_now_ns();
	pid_t pid = t_spawn(streamer, p);
	for (uint64_t i = 1; i <= rounds; i++) {
		if (i % CHUNK == 0)
			t_watchdog(STALL_S, "stream (no message for a while)", report);
		uint64_t v = get(in, 0);
		if (v != i)
			T_FAIL("stream: got %" PRIu64 " as message %" PRIu64, v, i);
		__atomic_store_n(&p->parent_round, i, __ATOMIC_RELAXED);
	}
	CHECK(t_reap(pid) == 0);
	t_watchdog(0, NULL, NULL);
	uint64_t sleeps = sleeps_of(in);
	printf("stream cap %u: %" PRIu64 " messages in %.2f s, %" PRIu64 " futex sleeps of the"
	       " receives, %" PRIu64 " of the sends\n", cap, rounds,
	       (double)(t_now_ns() - t0) / 1e9, sleeps, p->child_sleeps);
	/* both sides slept: the test exercised both kinds of wake-up */
	CHECK(sleeps > 0 && p->child_sleeps > 0);
	CHECK(t_info(q).depth == 0);
	CHECK_RC(ipcq_close(in), 0);
	CHECK_RC(ipcq_close(q), 0);
	CHECK_RC(ipcq_unlink(p->ping), 0);
	munmap(p, sizeof(*p));
}

int main(void)
{
	uint64_t rounds = t_count(200000, 50000);
	run(rounds, 0, 2);
	run(rounds / 4, 1, 64);
	run_stream(rounds, 2);
	return 0;
}
