/* Consumer groups: the API's refusals; a message poisoned in one group, quarantined with its group and replayed to that group only; 2 producers fanned out to 3 durable groups of 2 consumers (fast mode), every group getting every message exactly once in per-producer order; a memberless durable group holding space until removed; groups created and removed during traffic. */
#include "testutil.h"

enum { NG = 3, NCG = 2, NP = 2, MAXLEN = 64 };
static const char *const gname[NG] = { "risk", "strategy", "recorder" };

struct shared {
	uint64_t got[NG];
	uint64_t n;          /* messages per producer */
	uint8_t *seen;       /* [NG][NP][n + 1] */
};
static struct shared *sh;
static const char *qn;

static uint8_t *seen_at(unsigned g, uint32_t p, uint64_t seq)
{
	return &sh->seen[((uint64_t)g * NP + p) * (sh->n + 1) + seq];
}


static int producer(void *arg)
{
	t_produce(qn, (uint32_t)(uintptr_t)arg, sh->n, 16, MAXLEN);
	return 0;
}

static int consumer(void *arg)
{
	unsigned g = (unsigned)(uintptr_t)arg;
	struct ipcq *q = t_group_consumer(qn, gname[g], 0);
	uint64_t last[NP] = { 0 };
	uint8_t buf[MAXLEN];
	for (;;) {
		int rc = ipcq_recv(q, buf, sizeof(buf), NULL, 20000000);
		if (rc == -ETIMEDOUT) {
			if (__atomic_load_n(&sh->got[g], __ATOMIC_SEQ_CST) >= NP * sh->n)
				break;
			continue;
		}
		uint32_t p;
		uint64_t seq;
		t_check_msg(buf, rc, NP, sh->n, last, gname[g], &p, &seq);
		__atomic_fetch_add(seen_at(g, p, seq), 1, __ATOMIC_SEQ_CST);
		__atomic_fetch_add(&sh->got[g], 1, __ATOMIC_SEQ_CST);
	}
	CHECK_OK(ipcq_close(q));
	return 0;
}

static struct ipcq_config groups_config(uint32_t cap, uint32_t groups)
{
	struct ipcq_config cfg = t_config(cap, MAXLEN);
	cfg.max_groups = groups;
	return cfg;
}

static void api_refusals(void)
{
	const char *name = t_qname("groups_api");
	struct ipcq_config cfg = groups_config(8, 2);
	struct ipcq *q = t_create(name, &cfg);
	struct ipcq *c = NULL;
	struct ipcq_attach_opts o = IPCQ_ATTACH_OPTS_INIT;

	CHECK_RC(ipcq_group_create(q, "", 0), -EINVAL);
	CHECK_RC(ipcq_group_create(q, "no spaces", 0), -EINVAL);
	CHECK_RC(ipcq_group_create(q, "a-name-that-is-much-longer-than-31", 0), -EINVAL);
	CHECK_RC(ipcq_group_create(q, "x", 0x80), -EINVAL);
	CHECK_RC(ipcq_group_create(q, "one", 0), 0);
	CHECK_RC(ipcq_group_create(q, "one", 0), -EEXIST);
	CHECK_RC(ipcq_group_create(q, "two", IPCQ_GROUP_LOSSY), 1);
	CHECK_RC(ipcq_group_create(q, "three", 0), -ENOSPC);
	CHECK_RC(ipcq_group_list(q, NULL, 0), 2);
	CHECK_RC(ipcq_group_remove(q, "three"), -ENOENT);
	/* a consumer must name a group, an existing one */
	CHECK_OK(ipcq_open(name, &c));
	CHECK_RC(ipcq_attach(c, IPCQ_ROLE_CONSUMER, NULL), -EINVAL);
	o.group = "three";
	CHECK_RC(ipcq_attach(c, IPCQ_ROLE_CONSUMER, &o), -ENOENT);
	/* a lossy group is fast mode only */
	o.group = "two";
	o.flags = IPCQ_ATTACH_ACK;
	CHECK_RC(ipcq_attach(c, IPCQ_ROLE_CONSUMER, &o), -EINVAL);
	o.flags = 0;
	o.group = "one";
	CHECK_OK(ipcq_attach(c, IPCQ_ROLE_CONSUMER, &o));
	/* not while a live consumer is in it */
	CHECK_RC(ipcq_group_remove(q, "one"), -EBUSY);
	CHECK_OK(ipcq_detach(c));
	CHECK_OK(ipcq_group_remove(q, "one"));
	CHECK_RC(ipcq_group_list(q, NULL, 0), 1);
	CHECK_OK(ipcq_close(c));
	CHECK_OK(ipcq_close(q));

	/* a queue without groups has none to make, and takes no group name */
	name = t_qname("groups_none");
	cfg = t_config(8, MAXLEN);
	q = t_create(name, &cfg);
	CHECK_RC(ipcq_group_create(q, "one", 0), -ENOTSUP);
	CHECK_RC(ipcq_group_list(q, NULL, 0), 0);
	CHECK_OK(ipcq_open(name, &c));
	o.group = "one";
	CHECK_RC(ipcq_attach(c, IPCQ_ROLE_CONSUMER, &o), -EINVAL);
	CHECK_OK(ipcq_close(c));
	CHECK_OK(ipcq_close(q));
}

/* One producer, 3 groups of 2 consumers (and 2 producers), every message
 * checked in every group. */
static void fan_out(uint32_t cap)
{
	struct ipcq_config cfg = groups_config(cap, 4);
	qn = t_qname("groups_fan");
	struct ipcq *q = t_create(qn, &cfg);
	for (unsigned g = 0; g < NG; g++)
		CHECK_RC(ipcq_group_create(q, gname[g], 0), (int)g);
	memset(sh->got, 0, sizeof(sh->got));
	memset(sh->seen, 0, (size_t)NG * NP * (sh->n + 1));
	pid_t kids[NP + NG * NCG];
	unsigned nk = 0;
	for (unsigned g = 0; g < NG; g++)
		for (unsigned c = 0; c < NCG; c++)
			kids[nk++] = t_fork(consumer, (void *)(uintptr_t)g);
	for (uint32_t p = 0; p < NP; p++)
		kids[nk++] = t_fork(producer, (void *)(uintptr_t)p);
	for (unsigned i = 0; i < nk; i++)
		CHECK(t_wait(kids[i]) == 0);
	for (unsigned g = 0; g < NG; g++)
		for (uint32_t p = 0; p < NP; p++)
			for (uint64_t s = 1; s <= sh->n; s++)
				if (*seen_at(g, p, s) != 1)
					T_FAIL("capacity %u: group %s got producer %u's %llu %u times",
					       cap, gname[g], p, (unsigned long long)s,
					       *seen_at(g, p, s));
	struct ipcq_group_info gi[4];
	CHECK_RC(ipcq_group_list(q, gi, 4), NG);
	for (unsigned g = 0; g < NG; g++) {
		CHECK(gi[g].position == NP * sh->n);
		CHECK(gi[g].lag == 0);
		CHECK(gi[g].members == 0);
	}
	CHECK(t_info(q).depth == 0);
	CHECK_OK(ipcq_close(q));
}

/* A durable group nobody reads holds the ring until it is removed; a
 * lossy one holds nothing. */
static void hold_until_removed(void)
{
	const char *name = t_qname("groups_hold");
	struct ipcq_config cfg = groups_config(8, 4);
	struct ipcq *q = t_create(name, &cfg);
	CHECK_RC(ipcq_group_create(q, "tap", IPCQ_GROUP_LOSSY), 0);
	struct ipcq *p = t_open_attach(name, IPCQ_ROLE_PRODUCER, NULL);
	/* only a lossy group: producers never wait, and nobody holds them */
	for (uint64_t s = 1; s <= 20; s++)
		t_send_pattern(p, MAXLEN, s);
	struct ipcq_group_info one;
	CHECK_RC(ipcq_group_list(q, &one, 1), 1);
	CHECK(one.holding == 0 && one.lag == 20);
	CHECK_RC(ipcq_group_create(q, "idle", 0), 1);
	for (uint64_t s = 21; s <= 28; s++)
		t_send_pattern(p, MAXLEN, s);
	CHECK_RC(ipcq_send(p, "x", 1, IPCQ_NOWAIT), -EAGAIN);
	struct ipcq_group_info gi[2];
	CHECK_RC(ipcq_group_list(q, gi, 2), 2);
	CHECK(gi[1].lag == 8 && gi[1].holding == 1 && gi[1].members == 0);
	CHECK(gi[0].holding == 0);
	/* listed alone, the lossy group still holds nothing */
	CHECK_RC(ipcq_group_list(q, &one, 1), 2);
	CHECK(one.index == 0 && one.holding == 0);
	CHECK(t_info(q).depth == 8);
	/* a consumer that joins takes up where the group stands */
	struct ipcq *c = t_group_consumer(name, "idle", 0);
	uint8_t buf[MAXLEN];
	int rc = ipcq_recv(c, buf, sizeof(buf), NULL, IPCQ_NOWAIT);
	CHECK(rc >= 0);
	/* (t_send_pattern()'s message 21) */
	CHECK(rc == (int)t_msg_len(0, 21, 0, MAXLEN) && t_verify(buf, (size_t)rc, 0, 21) == 0);
	CHECK_OK(ipcq_send(p, "x", 1, IPCQ_NOWAIT));
	CHECK_RC(ipcq_send(p, "x", 1, IPCQ_NOWAIT), -EAGAIN);
	CHECK_OK(ipcq_close(c));
	/* its consumer gone, the group still holds; removed, it does not */
	CHECK_RC(ipcq_send(p, "x", 1, IPCQ_NOWAIT), -EAGAIN);
	CHECK_OK(ipcq_group_remove(q, "idle"));
	for (int i = 0; i < 100; i++)
		CHECK_OK(ipcq_send(p, "x", 1, IPCQ_NOWAIT));
	CHECK(t_info(q).depth == 0);
	CHECK_OK(ipcq_close(p));
	CHECK_OK(ipcq_close(q));
}

struct late {
	uint64_t first, count, last;
	int done;
};
static struct late *lt;

static int late_consumer(void *arg)
{
	(void)arg;
	struct ipcq *q = t_group_consumer(qn, "late", 0);
	uint8_t buf[MAXLEN];
	for (;;) {
		int rc = ipcq_recv(q, buf, sizeof(buf), NULL, 20000000);
		if (rc == -ETIMEDOUT) {
			if (__atomic_load_n(&lt->done, __ATOMIC_SEQ_CST))
				break;
			continue;
		}
		uint32_t p;
		uint64_t seq;
		t_check_msg(buf, rc, 1, sh->n, NULL, "late group", &p, &seq);
		/* from where it started, every message, in order */
		if (lt->count == 0)
			lt->first = seq;
		else if (seq != lt->last + 1)
			T_FAIL("late group: %llu after %llu", (unsigned long long)seq,
			       (unsigned long long)lt->last);
		lt->last = seq;
		lt->count++;
	}
	CHECK_OK(ipcq_close(q));
	return 0;
}

/* A group made while messages flow (from the newest, or the oldest still
 * in the ring) gets every message from its start on, and the group that
 * was there all along gets all of them; removed again while messages
 * flow, it stops holding. */
static void create_during_traffic(uint32_t flags)
{
	struct ipcq_config cfg = groups_config(16, 4);
	qn = t_qname("groups_late");
	struct ipcq *q = t_create(qn, &cfg);
	CHECK_RC(ipcq_group_create(q, gname[0], 0), 0);
	memset(sh->got, 0, sizeof(sh->got));
	memset(sh->seen, 0, (size_t)NG * NP * (sh->n + 1));
	memset(lt, 0, sizeof(*lt));
	pid_t c0 = t_fork(consumer, (void *)(uintptr_t)0);
	pid_t c1 = t_fork(consumer, (void *)(uintptr_t)0);
	struct ipcq *p = t_open_attach(qn, IPCQ_ROLE_PRODUCER, NULL);
	uint8_t buf[MAXLEN];
	pid_t lc = -1;
	for (uint64_t s = 1; s <= sh->n; s++) {
		if (s == sh->n / 4) {
			CHECK_RC(ipcq_group_create(q, "late", flags), 1);
			lc = t_fork(late_consumer, NULL);
		}
		if (s == 3 * sh->n / 4) {
			__atomic_store_n(&lt->done, 1, __ATOMIC_SEQ_CST);
			CHECK(t_wait(lc) == 0);
			CHECK_OK(ipcq_group_remove(q, "late"));
		}
		size_t len = t_fill(buf, t_msg_len(0, s, 16, MAXLEN), 0, s);
		CHECK_OK(ipcq_send(p, buf, len, IPCQ_FOREVER));
	}
	/* the second producer's share: none (NP messages per group expected) */
	__atomic_fetch_add(&sh->got[0], sh->n, __ATOMIC_SEQ_CST);
	CHECK(t_wait(c0) == 0 && t_wait(c1) == 0);
	for (uint64_t s = 1; s <= sh->n; s++)
		CHECK(*seen_at(0, 0, s) == 1);
	/* the late group: a run that starts no later than where it was made
	 * (FROM_OLDEST: no earlier than a ring before) and ends where it
	 * was removed, or later */
	CHECK(lt->count > 0);
	if (flags & IPCQ_GROUP_FROM_OLDEST)
		CHECK(lt->first + 16 >= sh->n / 4 && lt->first <= sh->n / 4);
	else
		CHECK(lt->first == sh->n / 4);
	CHECK(lt->last + 1 >= 3 * sh->n / 4 - 16);
	CHECK_OK(ipcq_close(p));
	CHECK_OK(ipcq_close(q));
}

/* A message nacked as poison in one group goes to the side ring with that
 * group; the other group got it as usual, and a replay brings it back to
 * the first group only. */
static void poison_in_one_group(void)
{
	const char *name = t_qname("groups_poison");
	struct ipcq_config cfg = groups_config(8, 2);
	struct ipcq *q = t_create(name, &cfg);
	CHECK_RC(ipcq_group_create(q, "work", 0), 0);
	CHECK_RC(ipcq_group_create(q, "audit", 0), 1);
	struct ipcq *p = t_open_attach(name, IPCQ_ROLE_PRODUCER, NULL);
	struct ipcq *w = t_group_consumer(name, "work", IPCQ_ATTACH_ACK);
	struct ipcq *a = t_group_consumer(name, "audit", 0);
	for (uint64_t s = 1; s <= 3; s++)
		t_send_pattern(p, MAXLEN, s);
	uint8_t buf[MAXLEN];
	struct ipcq_msginfo mi;
	for (uint64_t s = 1; s <= 3; s++) {
		int rc = ipcq_recv(w, buf, sizeof(buf), &mi, IPCQ_NOWAIT);
		CHECK(rc >= 0 && t_verify(buf, (size_t)rc, 0, s) == 0);
		if (s == 2)
			CHECK_OK(ipcq_nack(w, mi.token, IPCQ_NACK_POISON));
		else
			CHECK_OK(ipcq_ack(w, mi.token));
		rc = ipcq_recv(a, buf, sizeof(buf), &mi, IPCQ_NOWAIT);
		CHECK(rc >= 0 && t_verify(buf, (size_t)rc, 0, s) == 0 && mi.flags == 0);
	}
	struct ipcq_poison e[2];
	CHECK_RC(ipcq_poison_list(q, 0, e, 2), 1);
	CHECK(e[0].group == 1 && e[0].reason == IPCQ_REASON_NACKED);
	CHECK_RC(ipcq_poison_replay(q, e[0].id), 1);
	int rc = ipcq_recv(w, buf, sizeof(buf), &mi, IPCQ_NOWAIT);
	CHECK(rc >= 0 && t_verify(buf, (size_t)rc, 0, 2) == 0 && (mi.flags & IPCQ_MSG_REPLAYED));
	CHECK_OK(ipcq_ack(w, mi.token));
	/* the audit group had it once, and does not get it again */
	CHECK_RC(ipcq_recv(a, buf, sizeof(buf), &mi, IPCQ_NOWAIT), -EAGAIN);
	t_send_pattern(p, MAXLEN, 4);
	rc = ipcq_recv(a, buf, sizeof(buf), &mi, IPCQ_NOWAIT);
	CHECK(rc >= 0 && t_verify(buf, (size_t)rc, 0, 4) == 0);
	CHECK(t_stats(q).expired == 0);
	CHECK_OK(ipcq_close(a));
	CHECK_OK(ipcq_close(w));
	CHECK_OK(ipcq_close(p));
	CHECK_OK(ipcq_close(q));
}

int main(void)
{
	t_watchdog(t_limit(240), "t_groups", NULL);
	sh = t_shared(sizeof(*sh));
	lt = t_shared(sizeof(*lt));
	sh->n = t_count(100000, 10000);
	sh->seen = t_shared((size_t)NG * NP * (sh->n + 1));
	api_refusals();
	hold_until_removed();
	poison_in_one_group();
	fan_out(64);
	fan_out(4);
	create_during_traffic(0);
	create_during_traffic(IPCQ_GROUP_FROM_OLDEST);
	printf("groups: %llu messages per producer, every group checked\n",
	       (unsigned long long)sh->n);
	return 0;
}
