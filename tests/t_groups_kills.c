/* Consumer groups in ack mode under random kills: 2 named producers, 3 durable groups of 2 ack-mode consumers, producers and consumers SIGKILLed at random and restarted (a producer resuming after its last accepted sequence, a consumer in its group); every group gets every message at least once, and a second delivery only flagged as one. */
#include "testutil.h"

enum { NG = 3, NCG = 2, NP = 2, MAXLEN = 64, NC = NG * NCG };
static const char *const gname[NG] = { "risk", "strategy", "recorder" };

/* Each delivery is one fetch-add on its cell, which also says whether it
 * came before: a consumer killed anywhere leaves nothing half-counted.
 * The parent alone counts the cells (tally()) into distinct, which the
 * consumers read to know when their group has everything. */
struct shared {
	uint64_t n;
	uint64_t distinct[NG];
	uint32_t *total;     /* [NG][NP][n + 1] deliveries */
};
static struct shared *sh;
static const char *qn;

static uint64_t at(unsigned g, uint32_t p, uint64_t seq)
{
	return ((uint64_t)g * NP + p) * (sh->n + 1) + seq;
}

/* A named producer: killed and restarted, it resumes after the last
 * sequence the queue accepted under its name. */
static int producer(void *arg)
{
	uint32_t id = (uint32_t)(uintptr_t)arg;
	char name[16];
	snprintf(name, sizeof(name), "gp%u", id);
	struct ipcq_attach_opts o = IPCQ_ATTACH_OPTS_INIT;
	o.flags = IPCQ_ATTACH_DEDUP;
	o.name = name;
	struct ipcq *q = t_open_attach(qn, IPCQ_ROLE_PRODUCER, &o);
	uint64_t last = 0;
	CHECK_OK(ipcq_last_seq(q, &last));
	uint8_t buf[MAXLEN];
	for (uint64_t s = last + 1; s <= sh->n; s++) {
		size_t len = t_fill(buf, t_msg_len(id, s, 16, MAXLEN), id, s);
		int rc = ipcq_send_seq(q, s, buf, len, IPCQ_FOREVER);
		CHECK(rc == 0 || rc == IPCQ_SEND_PRESSURE);
	}
	CHECK_OK(ipcq_close(q));
	return 0;
}

static int consumer(void *arg)
{
	unsigned g = (unsigned)(uintptr_t)arg;
	struct ipcq *q = t_group_consumer(qn, gname[g], IPCQ_ATTACH_ACK); /* prefetch 4 */
	uint8_t buf[MAXLEN];
	struct ipcq_msginfo mi;
	uint64_t held[4];
	unsigned nheld = 0;
	for (;;) {
		/* hold up to 4 leases, then ack them: kills find some held */
		int rc = ipcq_recv(q, buf, sizeof(buf), &mi, nheld ? IPCQ_NOWAIT : 20000000);
		if (rc == -EAGAIN || rc == -EBUSY || nheld == 4) {
			for (unsigned i = 0; i < nheld; i++)
				CHECK_OK(ipcq_ack(q, held[i]));
			nheld = 0;
			if (rc < 0)
				continue;
		}
		if (rc == -ETIMEDOUT) {
			if (__atomic_load_n(&sh->distinct[g], __ATOMIC_SEQ_CST) >= NP * sh->n)
				break;
			continue;
		}
		uint32_t p;
		uint64_t seq;
		t_check_msg(buf, rc, NP, sh->n, NULL, gname[g], &p, &seq);
		int flagged = (mi.flags & IPCQ_MSG_REDELIVERED) || mi.deliveries > 1;
		if (__atomic_fetch_add(&sh->total[at(g, p, seq)], 1, __ATOMIC_SEQ_CST) != 0 && !flagged)
			T_FAIL("group %s: producer %u's %llu delivered again, unflagged", gname[g], p,
			       (unsigned long long)seq);
		held[nheld++] = mi.token;
		/* some work per message: consumers are the slow side, so a
		 * kill finds leases held and messages claimed */
		for (volatile unsigned w = 0; w < 20000; w++)
			;
	}
	CHECK_OK(ipcq_close(q));
	return 0;
}

/* Count each group's messages delivered at least once into distinct;
 * 1 when every group has every message. */
static int tally(void)
{
	int all = 1;
	for (unsigned g = 0; g < NG; g++) {
		uint64_t c = 0;
		for (uint32_t p = 0; p < NP; p++)
			for (uint64_t s = 1; s <= sh->n; s++)
				c += __atomic_load_n(&sh->total[at(g, p, s)], __ATOMIC_SEQ_CST) != 0;
		__atomic_store_n(&sh->distinct[g], c, __ATOMIC_SEQ_CST);
		all &= c == NP * sh->n;
	}
	return all;
}

/* After the run: an ack consumer per group takes what the dead left (the
 * leases of consumers killed holding them, their claims), each a second
 * delivery of a message its group had, flagged, until nothing is left: no
 * lease, nothing given back, no work of the dead pending, every group's
 * lag 0.  Returns how many it took. */
static uint64_t sweep(void)
{
	struct ipcq *c[NG];
	uint64_t took = 0;
	for (unsigned g = 0; g < NG; g++)
		c[g] = t_group_consumer(qn, gname[g], IPCQ_ATTACH_ACK);
	for (;;) {
		struct ipcq_recovery rep;
		memset(&rep, 0, sizeof(rep));
		rep.size = sizeof(rep);
		CHECK(ipcq_recover(c[0], &rep) >= 0);
		struct ipcq_info in = t_info(c[0]);
		struct ipcq_group_info gi[NG];
		CHECK_RC(ipcq_group_list(c[0], gi, NG), NG);
		uint64_t left = in.leased + in.redeliverable + rep.pending;
		for (unsigned g = 0; g < NG; g++)
			left += gi[g].lag;
		if (!left)
			break;
		for (unsigned g = 0; g < NG; g++) {
			uint8_t buf[MAXLEN];
			struct ipcq_msginfo mi;
			int rc = ipcq_recv(c[g], buf, sizeof(buf), &mi, 5 * 1000000ll);
			if (rc == -ETIMEDOUT)
				continue;
			uint32_t p;
			uint64_t seq;
			t_check_msg(buf, rc, NP, sh->n, NULL, gname[g], &p, &seq);
			if (!(mi.flags & IPCQ_MSG_REDELIVERED) ||
			    __atomic_fetch_add(&sh->total[at(g, p, seq)], 1, __ATOMIC_SEQ_CST) == 0)
				T_FAIL("group %s: producer %u's %llu left by the dead: not a flagged "
				       "second delivery", gname[g], p, (unsigned long long)seq);
			CHECK_OK(ipcq_ack(c[g], mi.token));
			took++;
		}
	}
	for (unsigned g = 0; g < NG; g++)
		CHECK_OK(ipcq_close(c[g]));
	return took;
}

int main(void)
{
	t_watchdog(t_limit(300), "t_groups_kills", NULL);
	sh = t_shared(sizeof(*sh));
	sh->n = t_count(40000, 8000);
	size_t cells = (size_t)NG * NP * (sh->n + 1);
	sh->total = t_shared(cells * sizeof(uint32_t));
	struct ipcq_config cfg = t_config(32, MAXLEN);
	cfg.max_groups = NG;
	cfg.max_deliveries = 255; /* kills alone never quarantine here */
	cfg.grace_us = 1000;
	qn = t_qname("groups_kills");
	struct ipcq *q = t_create(qn, &cfg);
	for (unsigned g = 0; g < NG; g++)
		CHECK_RC(ipcq_group_create(q, gname[g], 0), (int)g);
	pid_t cons[NC], prod[NP];
	for (unsigned c = 0; c < NC; c++)
		cons[c] = t_spawn(consumer, (void *)(uintptr_t)(c / NCG));
	for (uint32_t p = 0; p < NP; p++)
		prod[p] = t_spawn(producer, (void *)(uintptr_t)p);
	/* kill a random consumer or producer every few milliseconds while
	 * the producers run, and start another in its place */
	unsigned kills = 0, pkills = 0, want = t_stress() ? 400 : 60;
	uint32_t rnd = (uint32_t)getpid();
	int running = NP;
	while (kills < want && running) {
		rnd = rnd * 1103515245u + 12345u;
		struct timespec ts = { 0, (long)(1000000 + (rnd >> 8) % 4000000) };
		nanosleep(&ts, NULL); /* paces the kills only; nothing waits on it */
		unsigned c = (rnd >> 16) % (NC + NP);
		pid_t *victim = c < NC ? &cons[c] : &prod[c - NC];
		if (*victim < 0)
			continue; /* a producer that finished */
		kill(*victim, SIGKILL);
		/* killed, or done already (the last messages just went) */
		int cst;
		while (waitpid(*victim, &cst, 0) < 0)
			CHECK(errno == EINTR);
		t_kids_forget_(*victim);
		CHECK((WIFSIGNALED(cst) && WTERMSIG(cst) == SIGKILL) ||
		      (WIFEXITED(cst) && WEXITSTATUS(cst) == 0));
		kills++;
		if (c < NC) {
			cons[c] = t_spawn(consumer, (void *)(uintptr_t)(c / NCG));
		} else if (WIFEXITED(cst)) {
			*victim = -1; /* it had finished */
			running--;
			continue;
		} else {
			*victim = t_spawn(producer, (void *)(uintptr_t)(c - NC));
			pkills++;
		}
		for (uint32_t p = 0; p < NP; p++) {
			int pst;
			if (prod[p] > 0 && waitpid(prod[p], &pst, WNOHANG) == prod[p]) {
				CHECK(WIFEXITED(pst) && WEXITSTATUS(pst) == 0);
				prod[p] = -1;
				running--;
			}
		}
	}
	for (uint32_t p = 0; p < NP; p++)
		if (prod[p] > 0)
			CHECK(t_reap(prod[p]) == 0);
	T_AWAIT_KIDS(tally(), t_limit(120));
	for (unsigned c = 0; c < NC; c++)
		CHECK(t_reap(cons[c]) == 0);
	uint64_t swept = sweep();
	uint64_t again = 0;
	for (unsigned g = 0; g < NG; g++)
		for (uint32_t p = 0; p < NP; p++)
			for (uint64_t s = 1; s <= sh->n; s++) {
				uint32_t t = sh->total[at(g, p, s)];
				if (t == 0)
					T_FAIL("group %s: producer %u's %llu never delivered", gname[g], p,
					       (unsigned long long)s);
				again += t - 1;
			}
	struct ipcq_stats st = t_stats(q);
	printf("groups under kills: %u kills (%u of producers), %llu skipped claims, %llu messages x %d groups, %llu delivered again "
	       "(flagged), %llu redelivered by recovery, %llu left by the dead\n", kills, pkills,
	       (unsigned long long)st.skipped,
	       (unsigned long long)(NP * sh->n), NG, (unsigned long long)again,
	       (unsigned long long)st.redelivered, (unsigned long long)swept);
	CHECK(st.poisoned == 0);
	CHECK_OK(ipcq_close(q));
	return 0;
}
