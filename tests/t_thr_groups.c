/* Consumer groups between threads (run under TSan too): 2 producer threads, 2 durable groups of 2 consumer threads, each thread with a handle of its own, a small ring so that the floor and the tails move all the time, and a third group created while messages flow; every group gets every message exactly once, in per-producer order. */
#include "ipcq.h"
#include "testutil.h"

enum { NP = 2, NG = 2, NCG = 2, MAXLEN = 48 };

static const char *qn;
static uint64_t n;
static uint8_t *seen;      /* [NG + 1][NP][n + 1] */
static uint64_t got[NG + 1];

static uint8_t *seen_at(unsigned g, uint32_t p, uint64_t seq)
{
	return &seen[((uint64_t)g * NP + p) * (n + 1) + seq];
}

static void *producer(void *arg)
{
	t_produce(qn, (uint32_t)(uintptr_t)arg, n, 16, MAXLEN);
	return NULL;
}

struct cons {
	unsigned g;
	const char *group;
	uint64_t want;
};

static void *consumer(void *arg)
{
	struct cons *c = arg;
	struct ipcq *q = t_group_consumer(qn, c->group, 0);
	uint64_t last[NP] = { 0 };
	uint8_t buf[MAXLEN];
	for (;;) {
		int rc = ipcq_recv(q, buf, sizeof(buf), NULL, 20000000);
		if (rc == -ETIMEDOUT) {
			if (__atomic_load_n(&got[c->g], __ATOMIC_SEQ_CST) >= c->want)
				break;
			continue;
		}
		uint32_t p;
		uint64_t seq;
		t_check_msg(buf, rc, NP, n, last, c->group, &p, &seq);
		__atomic_fetch_add(seen_at(c->g, p, seq), 1, __ATOMIC_SEQ_CST);
		__atomic_fetch_add(&got[c->g], 1, __ATOMIC_SEQ_CST);
	}
	CHECK_OK(ipcq_close(q));
	return NULL;
}

int main(void)
{
	t_watchdog(t_limit(240), "t_thr_groups", NULL);
	n = t_count(100000, 20000);
	seen = calloc((size_t)(NG + 1) * NP * (n + 1), 1);
	CHECK(seen != NULL);
	struct ipcq_config cfg = t_config(8, MAXLEN);
	cfg.max_groups = NG + 1;
	qn = t_qname("thr_groups");
	struct ipcq *q = t_create(qn, &cfg);
	static const char *const gname[NG] = { "g0", "g1" };
	for (unsigned g = 0; g < NG; g++)
		CHECK_RC(ipcq_group_create(q, gname[g], 0), (int)g);
	pthread_t tc[NG * NCG], tp[NP];
	struct cons cs[NG * NCG];
	for (unsigned i = 0; i < NG * NCG; i++) {
		cs[i] = (struct cons){ i / NCG, gname[i / NCG], NP * n };
		CHECK(pthread_create(&tc[i], NULL, consumer, &cs[i]) == 0);
	}
	for (uint32_t p = 0; p < NP; p++)
		CHECK(pthread_create(&tp[p], NULL, producer, (void *)(uintptr_t)p) == 0);
	/* a third group, made from the newest message while the others run:
	 * it gets an unbroken run of each producer's messages up to the end */
	unsigned round = 0;
	while (__atomic_load_n(&got[0], __ATOMIC_SEQ_CST) < n / 2)
		t_poll_pause(&round);
	CHECK_RC(ipcq_group_create(q, "late", 0), NG);
	struct ipcq_group_info gi[NG + 1];
	CHECK_RC(ipcq_group_list(q, gi, NG + 1), NG + 1);
	struct cons late = { NG, "late", NP * n - gi[NG].start };
	pthread_t tl;
	CHECK(pthread_create(&tl, NULL, consumer, &late) == 0);
	for (uint32_t p = 0; p < NP; p++)
		CHECK(pthread_join(tp[p], NULL) == 0);
	for (unsigned i = 0; i < NG * NCG; i++)
		CHECK(pthread_join(tc[i], NULL) == 0);
	CHECK(pthread_join(tl, NULL) == 0);
	for (unsigned g = 0; g < NG; g++)
		for (uint32_t p = 0; p < NP; p++)
			for (uint64_t s = 1; s <= n; s++)
				if (*seen_at(g, p, s) != 1)
					T_FAIL("group %s: producer %u's %llu %u times", gname[g], p,
					       (unsigned long long)s, *seen_at(g, p, s));
	/* the late group: each producer's messages from some point on, once */
	for (uint32_t p = 0; p < NP; p++) {
		uint64_t s = 1;
		while (s <= n && !*seen_at(NG, p, s))
			s++;
		for (; s <= n; s++)
			if (*seen_at(NG, p, s) != 1)
				T_FAIL("late group: producer %u's %llu %u times", p,
				       (unsigned long long)s, *seen_at(NG, p, s));
	}
	CHECK(got[NG] == NP * n - gi[NG].start);
	CHECK_OK(ipcq_close(q));
	free(seen);
	printf("threads in groups: %llu messages per producer, %llu to the late group\n",
	       (unsigned long long)n, (unsigned long long)got[NG]);
	return 0;
}
