/* Two threads hand a token back and forth through two queues, always sleeping on the futex (adaptive, spin 0, yield 0), with a grace period (60 s) far longer than the test: no lost wake-up, or the watchdog reports the stalled round trip; once with shared handles, once with sole ones (IPCQ_ATTACH_SOLE: claims by store, the sleepers' membarrier) (run under TSan too). */
#include "ipcq.h"
#include "testutil.h"

/* A sleeper also wakes by itself after a grace period, which would hide a
 * lost wake-up as a mere delay: the grace period is the longest allowed,
 * and the watchdog, re-armed every CHUNK round trips, fires well before it.
 * Neither scales with IPCQ_STRESS: the watchdog must stay below the grace
 * period. */
#define GRACE_US 60000000u
#define STALL_S 10u
#define CHUNK 1000u

struct side {
	struct ipcq *in, *out;
	uint64_t rounds;
	int first;              /* sends first */
	uint64_t progress;
};

static struct side sides[2];

static void report(void)
{
	t_say("  threads at rounds ");
	t_say_u64(__atomic_load_n(&sides[0].progress, __ATOMIC_RELAXED));
	t_say(" and ");
	t_say_u64(__atomic_load_n(&sides[1].progress, __ATOMIC_RELAXED));
	t_say("\n");
}

static void *player(void *arg)
{
	struct side *s = (struct side *)arg;
	uint64_t v;
	for (uint64_t i = 1; i <= s->rounds; i++) {
		if (s->first) {
			CHECK_RC(ipcq_send(s->out, &i, sizeof(i), IPCQ_FOREVER), 0);
			CHECK_RC(ipcq_recv(s->in, &v, sizeof(v), NULL, IPCQ_FOREVER), sizeof(v));
		} else {
			CHECK_RC(ipcq_recv(s->in, &v, sizeof(v), NULL, IPCQ_FOREVER), sizeof(v));
			CHECK_RC(ipcq_send(s->out, &v, sizeof(v), IPCQ_FOREVER), 0);
		}
		if (v != i)
			T_FAIL("round %" PRIu64 ": got %" PRIu64, i, v);
		__atomic_store_n(&s->progress, i, __ATOMIC_RELAXED);
		if (s->first && i % CHUNK == 0)
			t_watchdog(STALL_S, "thread ping-pong (no round trip for a while)", report);
	}
	return NULL;
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

/* One game; sole: every handle attached with IPCQ_ATTACH_SOLE (claims by
 * store; the sleepers' membarrier keeps the wake-ups, wait.c W1b). */
static void game(int sole)
{
	const char *a = t_qname(sole ? "tsa" : "tpa"), *b = t_qname(sole ? "tsb" : "tpb");
	struct ipcq_config cfg = t_config(2, 8);
	cfg.spin_count = cfg.yield_count = 0;
	cfg.grace_us = GRACE_US;
	struct ipcq *qa = t_create(a, &cfg), *qb = t_create(b, &cfg);
	uint64_t rounds = t_count(100000, 10000);
	struct ipcq_attach_opts o = t_opts(IPCQ_WAIT_ADAPTIVE, 0, 0);
	if (sole)
		o.flags = IPCQ_ATTACH_SOLE;
	sides[0] = (struct side){ t_open_attach(b, IPCQ_ROLE_CONSUMER, &o),
				  t_open_attach(a, IPCQ_ROLE_PRODUCER, &o), rounds, 1, 0 };
	sides[1] = (struct side){ t_open_attach(a, IPCQ_ROLE_CONSUMER, &o),
				  t_open_attach(b, IPCQ_ROLE_PRODUCER, &o), rounds, 0, 0 };
	t_watchdog(STALL_S, "thread ping-pong (no round trip for a while)", report);
	uint64_t t0 = t_now_ns();
	pthread_t t[2];
	for (int i = 0; i < 2; i++)
		CHECK(pthread_create(&t[i], NULL, player, &sides[i]) == 0);
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	t_watchdog(0, NULL, NULL);
	/* the receives slept on the futex: the test exercised the wake-ups
	 * it checks */
	uint64_t sleeps = sleeps_of(sides[0].in) + sleeps_of(sides[1].in);
	printf("thread ping-pong%s: %" PRIu64 " round trips in %.2f s, %" PRIu64 " futex sleeps of"
	       " the receives\n", sole ? " (sole handles)" : "", rounds,
	       (double)(t_now_ns() - t0) / 1e9, sleeps);
	CHECK(sleeps > 0);
	for (int i = 0; i < 2; i++) {
		CHECK_RC(ipcq_close(sides[i].in), 0);
		CHECK_RC(ipcq_close(sides[i].out), 0);
	}
	CHECK_RC(ipcq_close(qa), 0);
	CHECK_RC(ipcq_close(qb), 0);
	CHECK_RC(ipcq_unlink(a), 0);
	CHECK_RC(ipcq_unlink(b), 0);
}

int main(void)
{
	game(0);
	game(1);
	return 0;
}
