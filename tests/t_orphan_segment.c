/* A segment whose every participant died mid-flight (SIGKILL, crash points) is found consistent by the next process, recovered (ipcq_recover counts), and fully usable: every acknowledged message arrives, then new traffic flows both ways. */
#include "testutil.h"

/* Crash points exist in debug builds only (asan, tsan); elsewhere skip. */
#if defined(IPCQ_DEBUG)
#define T_CRASHPOINTS 1
#else
#define T_CRASHPOINTS 0
#endif

#define NP 3
#define GRACE_US 2000u
#define HOLD 6u

struct state {
	const char *name;
	struct t_ledger *l;
	unsigned held;  /* leases held by the consumer that never acks */
	int stop;       /* phase 2 consumers leave */
	/* bit s: the consumer of slot s, armed with a crash point, timed out
	 * STARVE_IDLE receives in a row while the others took everything;
	 * they step aside until it gets one (or the parent reaps it), so
	 * that it reaches its point however the receives are scheduled
	 * (the library promises no fairness) */
	uint32_t starving;
};

/* A crash consumer's receives (5 ms each) that time out in a row before
 * the others step aside (counted, not timed). */
#define STARVE_IDLE 20u

static struct state *st;

struct role {
	int prod;
	unsigned id;        /* producer id or consumer slot */
	int ack;
	int never_ack;
	const char *crash;
	uint64_t quota;     /* phase 2 producers: send this many more */
};

static int producer(void *arg)
{
	const struct role *r = (const struct role *)arg;
	struct t_ledger *l = st->l;
	if (r->crash)
		setenv("IPCQ_CRASH", r->crash, 1);
	struct ipcq *q = t_open_attach(st->name, IPCQ_ROLE_PRODUCER, NULL);
	uint8_t buf[128];
	uint64_t first = t_ledger_sent(l, r->id) + 1;
	for (uint64_t seq = first; !r->quota || seq < first + r->quota; seq++) {
		if (seq > l->maxseq) {
			unsigned round = 0;
			for (;;)
				t_poll_pause(&round); /* until killed */
		}
		CHECK_RC(t_ledger_send(l, q, buf, r->id, seq, IPCQ_FOREVER), 0);
	}
	CHECK_RC(ipcq_close(q), 0);
	return 0;
}

static int consumer(void *arg)
{
	const struct role *r = (const struct role *)arg;
	struct t_ledger *l = st->l;
	uint64_t last[T_LEDGER_MAXP] = { 0 };
	if (r->crash)
		setenv("IPCQ_CRASH", r->crash, 1);
	struct ipcq_attach_opts o = IPCQ_ATTACH_OPTS_INIT;
	o.flags = r->ack ? IPCQ_ATTACH_ACK : 0;
	o.prefetch = r->never_ack ? HOLD : 8;
	struct ipcq *q = t_open_attach(st->name, IPCQ_ROLE_CONSUMER, &o);
	uint32_t bit = 1u << r->id;
	unsigned idle = 0, round = 0;
	while (!__atomic_load_n(&st->stop, __ATOMIC_SEQ_CST)) {
		if (!r->crash && !r->never_ack && __atomic_load_n(&st->starving, __ATOMIC_SEQ_CST)) {
			t_poll_pause(&round); /* a crash consumer's turn */
			continue;
		}
		round = 0;
		struct t_msgref m;
		struct ipcq_msginfo mi;
		int rc = t_ledger_recv_one(l, q, r->id, r->ack, last, 5000000, &m, &mi, "consumer");
		if (rc == -ETIMEDOUT && r->crash && ++idle == STARVE_IDLE)
			__atomic_or_fetch(&st->starving, bit, __ATOMIC_SEQ_CST);
		if (rc == -ETIMEDOUT || (rc == -EBUSY && r->never_ack))
			continue;
		CHECK_OK(rc);
		if (r->crash) {
			idle = 0;
			__atomic_and_fetch(&st->starving, ~bit, __ATOMIC_SEQ_CST);
		}
		if (r->never_ack)
			__atomic_add_fetch(&st->held, 1, __ATOMIC_SEQ_CST);
		else if (r->ack)
			CHECK_RC(t_ledger_ack(l, q, r->id, m, mi.token), 0);
	}
	CHECK_RC(ipcq_close(q), 0);
	return 0;
}

static struct role roles[] = {
	{ 1, 0, 0, 0, NULL, 0 },
	{ 1, 1, 0, 0, "send.claimed:40", 0 },
	{ 1, 2, 0, 0, "send.written:60", 0 },
	{ 0, 0, 0, 0, NULL, 0 },
	{ 0, 1, 0, 0, "recv.claimed:30", 0 },
	{ 0, 2, 1, 0, NULL, 0 },
	{ 0, 3, 1, 1, NULL, 0 },
	{ 0, 4, 1, 0, "ack.leased:25", 0 },
	{ 0, 5, 0, 0, "recv.copied:50", 0 },
};

/* Receive with two handles of this process until everything
 * acknowledged has arrived. */
static void drain(struct ipcq *fast, struct ipcq *ack, struct ipcq *info_q, unsigned secs,
		  pid_t producer_pid)
{
	uint64_t cursor[T_LEDGER_MAXP] = { 0 };
	uint64_t lastf[T_LEDGER_MAXP] = { 0 }, lasta[T_LEDGER_MAXP] = { 0 };
	uint64_t dl = t_now_ns() + (uint64_t)secs * 1000000000ull;
	for (;;) {
		struct t_msgref m;
		struct ipcq_msginfo mi;
		int rc = t_ledger_recv_one(st->l, fast, 20, 0, lastf, 1000000, &m, &mi, "drain fast");
		if (rc < 0 && rc != -ETIMEDOUT)
			T_FAIL("drain: ipcq_recv: %d (%s)", rc, ipcq_strerror(rc));
		rc = t_ledger_recv_one(st->l, ack, 21, 1, lasta, 1000000, &m, &mi, "drain ack");
		if (rc >= 0)
			CHECK_RC(t_ledger_ack(st->l, ack, 21, m, mi.token), 0);
		else if (rc != -ETIMEDOUT)
			T_FAIL("drain: ipcq_recv (ack): %d (%s)", rc, ipcq_strerror(rc));
		if (producer_pid > 0) {
			int s;
			pid_t r = waitpid(producer_pid, &s, WNOHANG);
			if (r == producer_pid) {
				t_kids_forget_(r);
				if (!t_status_ok(r, s))
					T_FAIL("new producer failed");
				producer_pid = 0;
			}
			continue;
		}
		struct ipcq_info in = t_info(info_q);
		if (in.side_depth)
			CHECK_OK(ipcq_poison_replay(info_q, IPCQ_POISON_ALL));
		if (!in.side_depth && !in.depth && !in.leased && !in.redeliverable &&
		    t_ledger_all_done(st->l, cursor))
			return;
		if (t_now_ns() > dl) {
			fprintf(stderr, "depth %" PRIu64 " leased %u redeliverable %u side %u\n", in.depth,
				in.leased, in.redeliverable, in.side_depth);
			t_ledger_print_missing(st->l, 10);
			T_FAIL("acknowledged messages never arrived");
		}
	}
}

int main(void)
{
	if (!T_CRASHPOINTS) {
		printf("needs the crash points of a debug build (asan, tsan)\n");
		return T_SKIP;
	}
	uint64_t t0 = t_now_ns();
	unsetenv("IPCQ_CRASH");
	st = (struct state *)t_shared(sizeof(*st));
	st->name = t_qname("orphan");
	st->l = t_ledger_new(NP, 200000, 16, 128);
	struct ipcq_config cfg = t_config(32, 128);
	cfg.grace_us = GRACE_US;
	cfg.lease_capacity = 64;
	cfg.side_capacity = 16;
	cfg.max_participants = 16;
	struct ipcq *q = t_create(st->name, &cfg);
	CHECK_RC(ipcq_close(q), 0); /* nobody of ours stays attached */
	t_watchdog(t_limit(90), "t_orphan_segment", NULL);

	/* Phase 1: everyone works; the crash-point ones die by themselves,
	 * the others are SIGKILLed once the never-acking consumer holds its
	 * leases and traffic has flowed. */
	unsigned n = (unsigned)T_NELEM(roles);
	pid_t pid[T_NELEM(roles)];
	for (unsigned i = 0; i < n; i++)
		pid[i] = t_spawn(roles[i].prod ? producer : consumer, &roles[i]);
	unsigned crashing = 0;
	for (unsigned i = 0; i < n; i++)
		crashing += roles[i].crash != NULL;
	/* reaped as they die: a consumer that died starving stops the others
	 * stepping aside only once it is reaped */
	while (crashing > 0) {
		int s;
		pid_t r = waitpid(-1, &s, 0);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			T_FAIL("waitpid: %s", strerror(errno));
		}
		t_kids_forget_(r);
		unsigned i;
		for (i = 0; i < n && pid[i] != r; i++)
			;
		if (i == n || !roles[i].crash) {
			t_status_ok(r, s);
			T_FAIL("role %u ended before the crash-point ones died", i);
		}
		if (!WIFSIGNALED(s) || WTERMSIG(s) != SIGKILL)
			T_FAIL("role %u: did not die at %s (status 0x%x)", i, roles[i].crash, s);
		pid[i] = 0;
		crashing--;
		if (!roles[i].prod) /* it may have died starving */
			__atomic_and_fetch(&st->starving, ~(1u << roles[i].id), __ATOMIC_SEQ_CST);
	}
	T_AWAIT_KIDS(__atomic_load_n(&st->held, __ATOMIC_SEQ_CST) == HOLD &&
		__atomic_load_n(&st->l->received, __ATOMIC_SEQ_CST) > 500, 30);
	for (unsigned i = 0; i < n; i++)
		if (pid[i])
			kill(pid[i], SIGKILL);
	for (unsigned i = 0; i < n; i++)
		if (pid[i])
			t_reap_killed(pid[i], SIGKILL);
	for (unsigned p = 0; p < NP; p++)
		t_ledger_producer_died(st->l, p);
	/* the consumers killed here; those that died at their points (all
	 * before a release) left their messages to be delivered again */
	for (unsigned i = 0; i < n; i++)
		if (!roles[i].prod && !roles[i].crash)
			t_ledger_consumer_died(st->l, roles[i].id, roles[i].ack);

	/* Phase 2: a new process finds the orphan consistent. */
	CHECK_RC(ipcq_open(st->name, &q), 0);
	struct ipcq_info in = t_info(q);
	printf("orphan: participants %u depth %" PRIu64 " leased %u redeliverable %u side %u\n",
	       in.participants, in.depth, in.leased, in.redeliverable, in.side_depth);
	CHECK(in.participants == 0);
	CHECK(in.depth <= in.capacity);
	CHECK(in.leased >= HOLD && in.leased <= cfg.lease_capacity);
	uint32_t leased_before = in.leased;
	struct ipcq_recovery rep;
	memset(&rep, 0, sizeof(rep));
	rep.size = sizeof(rep);
	int acted = ipcq_recover(q, &rep);
	CHECK_OK(acted);
	printf("ipcq_recover: %d actions: dead %u skipped %" PRIu64 " redelivered %" PRIu64
	       " completed %" PRIu64 " poisoned %" PRIu64 " freed %" PRIu64 " pending %" PRIu64 "\n",
	       acted, rep.dead, rep.skipped, rep.redelivered, rep.completed, rep.poisoned, rep.freed,
	       rep.pending);
	in = t_info(q);
	printf("after recovery: participants %u depth %" PRIu64 " leased %u redeliverable %u"
	       " side %u\n", in.participants, in.depth, in.leased, in.redeliverable, in.side_depth);
	/* every lease of the dead is deliverable again, and the report says
	 * so: one action at least per lease taken over */
	CHECK(in.participants == 0);
	if (in.leased != 0 || in.redeliverable < leased_before)
		T_FAIL("after ipcq_recover: leased %u redeliverable %u, but the dead held %u leases",
		       in.leased, in.redeliverable, leased_before);
	int bad_report = 0; /* checked at the end: the rest is worth running */
	if (rep.dead < 1 || rep.redelivered < leased_before || (uint64_t)acted < leased_before) {
		fprintf(stderr, "FAIL: ipcq_recover reported %d actions, dead %u, redelivered %" PRIu64
			" for %u leases of dead consumers it made deliverable again\n", acted,
			rep.dead, rep.redelivered, leased_before);
		bad_report = 1;
	}
	/* a second pass finds nothing left but claims waiting for a
	 * consumer to adopt them */
	memset(&rep, 0, sizeof(rep));
	rep.size = sizeof(rep);
	CHECK_RC(ipcq_recover(q, &rep), 0);
	CHECK(rep.redelivered == 0 && rep.skipped == 0 && rep.freed == 0);

	/* Every acknowledged message arrives. */
	CHECK_RC(ipcq_attach(q, IPCQ_ROLE_PRODUCER, NULL), 0);
	struct ipcq *fast = NULL, *ack = NULL;
	CHECK_OK(ipcq_open(st->name, &fast));
	CHECK_RC(ipcq_attach(fast, IPCQ_ROLE_CONSUMER, NULL), 0);
	CHECK_OK(ipcq_open(st->name, &ack));
	struct ipcq_attach_opts o = IPCQ_ATTACH_OPTS_INIT;
	o.flags = IPCQ_ATTACH_ACK;
	CHECK_RC(ipcq_attach(ack, IPCQ_ROLE_CONSUMER, &o), 0);
	drain(fast, ack, q, 20, 0);
	uint64_t lost = 0;
	if (t_ledger_check(st->l, "orphan", &lost) != 0)
		T_FAIL("message set wrong after recovery");
	uint64_t sent_before = 0;
	for (unsigned p = 0; p < NP; p++)
		sent_before += t_ledger_sent(st->l, p);
	printf("recovered: %" PRIu64 " messages acknowledged before the deaths all arrived"
	       " (%" PRIu64 " went down with dead fast consumers)\n", sent_before, lost);
	CHECK(lost <= 1); /* one fast consumer was killed, with one message at most */

	/* New traffic, both ways: this process sends to new consumer
	 * processes (fast and ack), a new producer process sends to us. */
	static struct role c2[2] = { { 0, 0, 0, 0, NULL, 0 }, { 0, 2, 1, 0, NULL, 0 } };
	pid_t cp[2];
	for (unsigned i = 0; i < 2; i++)
		cp[i] = t_spawn(consumer, &c2[i]);
	uint8_t buf[128];
	uint64_t first = t_ledger_sent(st->l, 0) + 1;
	for (uint64_t seq = first; seq < first + 500; seq++) {
		int rc = t_ledger_send(st->l, q, buf, 0, seq, 10ll * 1000000000);
		if (rc != 0) {
			in = t_info(q);
			T_FAIL("new traffic: send of %" PRIu64 ": %d (%s); depth %" PRIu64 " enqueued %"
			       PRIu64 " dequeued %" PRIu64 " leased %u redeliverable %u participants %u"
			       " received %" PRIu64, seq, rc, ipcq_strerror(rc), in.depth, in.enqueued,
			       in.dequeued, in.leased, in.redeliverable, in.participants,
			       st->l->received);
		}
	}
	uint64_t cursor[T_LEDGER_MAXP] = { 0 };
	T_AWAIT(t_ledger_all_done(st->l, cursor) && t_info(q).depth == 0 &&
		t_info(q).leased == 0, 20);
	__atomic_store_n(&st->stop, 1, __ATOMIC_SEQ_CST);
	for (unsigned i = 0; i < 2; i++)
		if (t_reap(cp[i]) != 0)
			T_FAIL("new consumer %u failed", i);
	static struct role p2 = { 1, 1, 0, 0, NULL, 500 };
	drain(fast, ack, q, 20, t_spawn(producer, &p2));
	if (t_ledger_check(st->l, "orphan, new traffic", NULL) != 0)
		T_FAIL("message set wrong after new traffic");
	CHECK_RC(ipcq_close(fast), 0);
	CHECK_RC(ipcq_close(ack), 0);
	in = t_info(q);
	CHECK(in.depth == 0 && in.leased == 0 && in.redeliverable == 0 && in.side_depth == 0);
	CHECK(in.participants == 1);
	printf("new traffic ok: %" PRIu64 " received in all; %.2f s\n", st->l->received,
	       (double)(t_now_ns() - t0) / 1e9);
	CHECK_RC(ipcq_close(q), 0);
	if (bad_report)
		T_FAIL("the recovery report of an unattached handle missed the work it did");
	return 0;
}
