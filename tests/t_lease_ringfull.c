/* A consumer dies holding leases (or a claim) while the ring is full and a producer is blocked on it: recovery needs no ring space, nothing deadlocks, everything is delivered once (redeliveries flagged). */
#include "testutil.h"

/* Crash points exist in debug builds only (asan, tsan); elsewhere skip. */
#if defined(IPCQ_DEBUG)
#define T_CRASHPOINTS 1
#else
#define T_CRASHPOINTS 0
#endif

#define CAP 8u
#define LEASES 4u

struct state {
	const char *name;
	struct t_ledger *l;
	unsigned held;
	int stop;
	unsigned redelivered;       /* rescuer's receptions with deliveries > 1 */
	uint32_t bad_deliveries;    /* the first such with deliveries != 2, or flags wrong */
	uint32_t bad_flags;
};

static struct state *st;

struct scen {
	const char *label;
	int ack;
	const char *crash; /* the victim dies here; NULL: SIGKILLed by us holding LEASES */
	unsigned pre;      /* messages in the ring before the victim starts */
};

static const struct scen *cur;

/* The victim: receives and never acknowledges. */
static int victim(void *arg)
{
	(void)arg;
	uint64_t last[T_LEDGER_MAXP] = { 0 };
	if (cur->crash)
		setenv("IPCQ_CRASH", cur->crash, 1);
	struct ipcq_attach_opts o = IPCQ_ATTACH_OPTS_INIT;
	o.flags = cur->ack ? IPCQ_ATTACH_ACK : 0;
	o.prefetch = LEASES;
	struct ipcq *q = t_open_attach(st->name, IPCQ_ROLE_CONSUMER, &o);
	for (;;) {
		struct t_msgref m;
		struct ipcq_msginfo mi;
		int rc = t_ledger_recv_one(st->l, q, 1, cur->ack, last, 5000000, &m, &mi, "victim");
		if (rc == -ETIMEDOUT || rc == -EBUSY) {
			unsigned round = 0;
			t_poll_pause(&round);
			continue;
		}
		CHECK_OK(rc);
		__atomic_add_fetch(&st->held, 1, __ATOMIC_SEQ_CST);
	}
}

/* A producer that blocks on the full ring. */
static int blocked_producer(void *arg)
{
	uint64_t n = (uint64_t)(uintptr_t)arg;
	struct ipcq *q = t_open_attach(st->name, IPCQ_ROLE_PRODUCER, NULL);
	uint8_t buf[64];
	for (uint64_t seq = 1; seq <= n; seq++)
		CHECK_RC(t_ledger_send(st->l, q, buf, 1, seq, IPCQ_FOREVER), 0);
	CHECK_RC(ipcq_close(q), 0);
	return 0;
}

/* The consumer that comes afterwards and takes everything. */
static int rescuer(void *arg)
{
	(void)arg;
	uint64_t last[T_LEDGER_MAXP] = { 0 };
	struct ipcq_attach_opts o = IPCQ_ATTACH_OPTS_INIT;
	o.flags = cur->ack ? IPCQ_ATTACH_ACK : 0;
	o.prefetch = LEASES;
	struct ipcq *q = t_open_attach(st->name, IPCQ_ROLE_CONSUMER, &o);
	while (!__atomic_load_n(&st->stop, __ATOMIC_SEQ_CST)) {
		struct t_msgref m;
		struct ipcq_msginfo mi;
		int rc = t_ledger_recv_one(st->l, q, 2, cur->ack, last, 5000000, &m, &mi, "rescuer");
		if (rc == -ETIMEDOUT)
			continue;
		CHECK_OK(rc);
		if (mi.deliveries > 1 || (mi.flags & IPCQ_MSG_REDELIVERED)) {
			/* one death: every redelivery is a second delivery */
			__atomic_add_fetch(&st->redelivered, 1, __ATOMIC_SEQ_CST);
			if (mi.deliveries != 2 || mi.flags != IPCQ_MSG_REDELIVERED) {
				st->bad_deliveries = mi.deliveries;
				st->bad_flags = mi.flags;
			}
		}
		if (cur->ack)
			CHECK_RC(t_ledger_ack(st->l, q, 2, m, mi.token), 0);
	}
	CHECK_RC(ipcq_close(q), 0);
	return 0;
}

static void run(const struct scen *sc)
{
	uint64_t t0 = t_now_ns();
	cur = sc;
	st->name = t_qname("leasefull");
	st->l = t_ledger_new(2, 64, 16, 64);
	st->held = 0;
	st->stop = 0;
	st->redelivered = 0;
	st->bad_deliveries = st->bad_flags = 0;
	struct ipcq_config cfg = t_config(CAP, 64);
	cfg.lease_capacity = LEASES; /* the victim exhausts the pool too */
	cfg.grace_us = 2000;
	cfg.max_deliveries = 5;
	struct ipcq *q = t_create(st->name, &cfg);
	CHECK_RC(ipcq_attach(q, IPCQ_ROLE_PRODUCER, NULL), 0);
	uint8_t buf[64];
	uint64_t seq = 0;

	while (seq < sc->pre)
		CHECK_RC(t_ledger_send(st->l, q, buf, 0, ++seq, IPCQ_NOWAIT), 0);
	pid_t v = t_spawn(victim, NULL);
	if (sc->crash) {
		int vs = t_wait_end_watch(v, 20, "victim");
		if (!WIFSIGNALED(vs) || WTERMSIG(vs) != SIGKILL)
			T_FAIL("%s: the victim %s, expected death at its crash point", sc->label,
			       t_status_str(vs));
	} else {
		T_AWAIT_KIDS(__atomic_load_n(&st->held, __ATOMIC_SEQ_CST) == LEASES, 20);
	}
	/* fill the ring */
	int rc;
	while ((rc = t_ledger_send(st->l, q, buf, 0, seq + 1, IPCQ_NOWAIT)) == 0)
		seq++;
	CHECK_RC(rc, -EAGAIN); /* full: the slot after the last one we filled is not free */
	unsigned held = __atomic_load_n(&st->held, __ATOMIC_SEQ_CST);
	pid_t bp = t_spawn(blocked_producer, (void *)(uintptr_t)5);
	if (!sc->crash) {
		/* the victim dies only once the producer sleeps on the full
		 * ring (its futex sleeps, as the library counts them) */
		T_AWAIT_KIDS(t_part(q, bp).sleeps >= 1, 20);
		kill(v, SIGKILL);
		t_reap_killed(v, SIGKILL);
	}
	/* no t_ledger_consumer_died(): the victim died before any release
	 * (fast) or holding leases (ack), so nothing may go down with it */
	/* what comes back: ack mode, every lease it held plus, at a crash
	 * point, the one it was receiving; fast mode, the one it had
	 * claimed when it died (the ones it received were released) */
	unsigned want = (sc->ack ? held : 0u) + (sc->crash ? 1u : 0u);
	if (sc->ack) {
		/* nobody but the blocked producer runs: its own recovery pass
		 * must make the leases deliverable, with the ring still full */
		T_AWAIT_KIDS(t_info(q).redeliverable == want, 10);
	}
	pid_t r = t_spawn(rescuer, NULL);
	if (t_reap_watch(bp, 20, "blocked producer") != 0)
		T_FAIL("%s: blocked producer failed", sc->label);
	uint64_t cursor[T_LEDGER_MAXP] = { 0 };
	T_AWAIT_KIDS(t_ledger_all_done(st->l, cursor) && t_info(q).depth == 0 &&
		     t_info(q).leased == 0 && t_info(q).redeliverable == 0, 20);
	__atomic_store_n(&st->stop, 1, __ATOMIC_SEQ_CST);
	if (t_reap_watch(r, 20, "rescuer") != 0)
		T_FAIL("%s: rescuer failed", sc->label);
	uint64_t lost = 0;
	if (t_ledger_check(st->l, sc->label, &lost) != 0 || lost != 0)
		T_FAIL("%s: message set wrong (%" PRIu64 " lost)", sc->label, lost);
	/* exactly the messages the victim held came back, each once, as a
	 * second delivery, flagged */
	if (st->l->redelivered != want || st->redelivered != want)
		T_FAIL("%s: %" PRIu64 " redeliveries (rescuer saw %u), expected exactly %u (victim held"
		       " %u)", sc->label, st->l->redelivered, st->redelivered, want, held);
	if (st->bad_deliveries || st->bad_flags)
		T_FAIL("%s: a redelivery came with deliveries %u flags 0x%x, expected 2 and"
		       " IPCQ_MSG_REDELIVERED", sc->label, st->bad_deliveries, st->bad_flags);
	printf("%-28s ok: victim held %u, %" PRIu64 " received, %" PRIu64 " redelivered, %.2f s\n",
	       sc->label, held, st->l->received, st->l->redelivered,
	       (double)(t_now_ns() - t0) / 1e9);
	CHECK_RC(ipcq_close(q), 0);
	CHECK_RC(ipcq_unlink(st->name), 0);
}

int main(void)
{
	static const struct scen sc[] = {
		{ "ack, killed holding leases", 1, NULL, LEASES },
		{ "ack, dies at ack.leased", 1, "ack.leased:3", CAP },
		{ "fast, dies at recv.claimed", 0, "recv.claimed:2", CAP },
		{ "fast, dies at recv.copied", 0, "recv.copied:2", CAP },
	};
	st = (struct state *)t_shared(sizeof(*st));
	unsetenv("IPCQ_CRASH");
	t_watchdog(t_limit(90), "t_lease_ringfull", NULL);
	unsigned ran = 0;
	for (unsigned i = 0; i < T_NELEM(sc); i++) {
		if (sc[i].crash && !T_CRASHPOINTS)
			continue;
		run(&sc[i]);
		ran++;
	}
	if (ran < T_NELEM(sc)) {
		printf("ran %u of %u scenarios: the others need crash points (debug builds: asan,"
		       " tsan)\n", ran, (unsigned)T_NELEM(sc));
		return T_SKIP;
	}
	return 0;
}
