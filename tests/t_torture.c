/* Random-kill torture: producers (anonymous and named) and fast and ack consumers SIGKILLed at random and restarted; nothing acknowledged is lost or duplicated, and no stall outlasts a bounded number of consumers' recovery passes. */
#include "testutil.h"

#include "crashpoints.h"

/* Crash points exist in debug builds only (asan, tsan); elsewhere skip. */
#if defined(IPCQ_DEBUG)
#define T_CRASHPOINTS 1
#else
#define T_CRASHPOINTS 0
#endif

#define NP 3 /* producers 0, 1 anonymous; 2 named (IPCQ_ATTACH_DEDUP) */
#define NC 4 /* consumers 0, 1 fast; 2, 3 ack mode */
#define GRACE_US 2000u
/* Consumers receive with this timeout: 5 grace periods of waiting in the
 * library, with a recovery pass due in every one of them. */
#define RECV_TIMEOUT_NS (5 * GRACE_US * 1000ll)
/*
 * The longest stall allowed, counted as the library sees it: receives of
 * live consumers that timed out (RECV_TIMEOUT_NS, 5 grace periods each)
 * while messages waited and nobody received anything.  A dead
 * participant's work is taken over by the first recovery pass of a
 * waiting consumer, so a stall lasts a grace period or two; live peers
 * preempted in the middle of an operation (a two-core runner with seven
 * processes) stretch that.  The bound is far above both, and it does not
 * grow with the load: a consumer that does not run does not time out.
 */
#define STALL_TIMEOUTS 100u

struct state {
	const char *name;
	struct t_ledger *l;
	int finish; /* producers leave */
	int stop;   /* consumers leave */
	uint64_t takeovers;
	uint64_t duplicates_reported;
	uint64_t timeouts; /* consumers' receives that timed out */
};

static struct state *st;

struct proc {
	int is_prod;
	unsigned id;
	char crash[64]; /* IPCQ_CRASH for the next start, "" for none */
	pid_t pid;
	unsigned kills, self_kills, starts;
};

static struct proc procs[NP + NC];

static int producer(void *arg)
{
	const struct proc *pr = (const struct proc *)arg;
	struct t_ledger *l = st->l;
	uint32_t p = pr->id;
	int named = p == NP - 1;
	uint64_t last_seq = 0;
	if (pr->crash[0])
		setenv("IPCQ_CRASH", pr->crash, 1);
	struct ipcq_attach_opts o = IPCQ_ATTACH_OPTS_INIT;
	if (named) {
		o.name = "torture-named";
		o.flags = IPCQ_ATTACH_DEDUP;
	}
	struct ipcq *q = NULL;
	CHECK_OK(ipcq_open(st->name, &q));
	int arc;
	unsigned busy = 0;
	/* T_RETRY_BUSY=1 (diagnosis only, never in make test) retries a
	 * -EBUSY takeover of the dead holder's name, to look past that
	 * known defect: a dead holder looks alive while another process's
	 * attach briefly holds its liveness lock */
	while ((arc = ipcq_attach(q, IPCQ_ROLE_PRODUCER, &o)) == -EBUSY && getenv("T_RETRY_BUSY"))
		busy++;
	if (busy)
		fprintf(stderr, "named producer: attach -EBUSY %u times, then %d\n", busy, arc);
	CHECK_RC(arc, 0);
	uint64_t sent = t_ledger_sent(l, p);
	if (named) {
		uint64_t att = l->attempt[p];
		CHECK_RC(ipcq_last_seq(q, &last_seq), 0);
		if (last_seq < sent || last_seq > att)
			T_FAIL("named producer: ipcq_last_seq %" PRIu64 " after a takeover, but the dead"
			       " holder was told %" PRIu64 " and attempted %" PRIu64, last_seq, sent,
			       att);
		if (last_seq > sent)
			__atomic_add_fetch(&st->takeovers, 1, __ATOMIC_RELAXED);
	}
	uint8_t *buf = (uint8_t *)malloc(l->max_len);
	CHECK(buf != NULL);
	/* resume from our own log: the last sequence we were told was sent */
	for (uint64_t seq = sent + 1; !__atomic_load_n(&st->finish, __ATOMIC_SEQ_CST); seq++) {
		if (seq > l->maxseq) {
			unsigned round = 0;
			while (!__atomic_load_n(&st->finish, __ATOMIC_SEQ_CST))
				t_poll_pause(&round);
			break;
		}
		if (!named) {
			CHECK_RC(t_ledger_send(l, q, buf, p, seq, IPCQ_FOREVER), 0);
			continue;
		}
		int rc = t_ledger_send_seq(l, q, buf, p, seq, IPCQ_FOREVER);
		if (rc != (seq <= last_seq ? IPCQ_SEND_DUPLICATE : 0))
			T_FAIL("named producer: ipcq_send_seq(%" PRIu64 ") returned %d (%s) with"
			       " last_seq %" PRIu64, seq, rc, ipcq_strerror(rc), last_seq);
		if (rc == IPCQ_SEND_DUPLICATE)
			__atomic_add_fetch(&st->duplicates_reported, 1, __ATOMIC_RELAXED);
	}
	free(buf);
	CHECK_RC(ipcq_close(q), 0);
	return 0;
}

static int consumer(void *arg)
{
	const struct proc *pr = (const struct proc *)arg;
	struct t_ledger *l = st->l;
	unsigned slot = pr->id;
	int ack = slot >= 2;
	uint64_t last[T_LEDGER_MAXP] = { 0 };
	uint32_t rng = (uint32_t)getpid() * 2654435761u;
	char who[32];
	snprintf(who, sizeof(who), "%s consumer %u", ack ? "ack" : "fast", slot);
	if (pr->crash[0])
		setenv("IPCQ_CRASH", pr->crash, 1);
	struct ipcq_attach_opts o = IPCQ_ATTACH_OPTS_INIT;
	o.flags = ack ? IPCQ_ATTACH_ACK : 0;
	o.prefetch = 8;
	struct ipcq *q = t_open_attach(st->name, IPCQ_ROLE_CONSUMER, &o);
	while (!__atomic_load_n(&st->stop, __ATOMIC_SEQ_CST)) {
		struct t_msgref m;
		struct ipcq_msginfo mi;
		int rc = t_ledger_recv_one(l, q, slot, ack, last, RECV_TIMEOUT_NS, &m, &mi, who);
		if (rc == -ETIMEDOUT) {
			__atomic_add_fetch(&st->timeouts, 1, __ATOMIC_SEQ_CST);
			continue;
		}
		if (rc < 0)
			T_FAIL("%s: ipcq_recv: %d (%s)", who, rc, ipcq_strerror(rc));
		if (!ack)
			continue;
		rng = rng * 1103515245u + 12345u;
		if (mi.deliveries == 1 && (rng >> 16) % 64 == 0) {
			CHECK_RC(ipcq_nack(q, mi.token, IPCQ_NACK_REQUEUE), 0);
			continue;
		}
		CHECK_RC(t_ledger_ack(l, q, slot, m, mi.token), 0);
	}
	CHECK_RC(ipcq_close(q), 0);
	return 0;
}

static uint32_t rng_state = 12345;

static uint32_t rnd(uint32_t n)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 17;
	rng_state ^= rng_state << 5;
	return rng_state % n;
}

struct point {
	const char *name;
	char role;
};

#define T_POINT(n, r) { n, r },
static const struct point points[] = { IPCQ_CRASHPOINT_LIST(T_POINT) };

/* Now and then a restart is armed with a crash point of its role. */
static void arm(struct proc *pr)
{
	pr->crash[0] = '\0';
	if (!T_CRASHPOINTS || rnd(4) != 0)
		return;
	for (unsigned tries = 0; tries < 16; tries++) {
		const struct point *pt = &points[rnd((uint32_t)T_NELEM(points))];
		int ok = pr->is_prod ? pt->role == 'P' || (pt->role == 'D' && pr->id == NP - 1)
				     : pt->role == 'C' || (pt->role == 'A' && pr->id >= 2);
		if (ok) {
			snprintf(pr->crash, sizeof(pr->crash), "%s:%u", pt->name, 1 + rnd(40));
			return;
		}
	}
}

static void start(struct proc *pr)
{
	pr->starts++;
	pr->pid = t_spawn(pr->is_prod ? producer : consumer, pr);
}

/* Bookkeeping after a death of pr (killed by us or at its crash point). */
static void died(struct proc *pr, int status)
{
	if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL) {
		t_status_ok(pr->pid, status);
		T_FAIL("%s %u died otherwise than by SIGKILL (crash point \"%s\")",
		       pr->is_prod ? "producer" : "consumer", pr->id, pr->crash);
	}
	if (pr->is_prod) {
		if (pr->id != NP - 1)
			t_ledger_producer_died(st->l, pr->id);
	} else {
		t_ledger_consumer_died(st->l, pr->id, pr->id >= 2);
	}
	pr->pid = 0;
}

static uint64_t last_received = UINT64_MAX, stall_base, max_stall;

/* Track the longest stall: consumers' receive timeouts while messages
 * wait and nothing is received (see STALL_TIMEOUTS). */
static void watch_stall(struct ipcq *q)
{
	uint64_t r = __atomic_load_n(&st->l->received, __ATOMIC_SEQ_CST);
	uint64_t t = __atomic_load_n(&st->timeouts, __ATOMIC_SEQ_CST);
	if (r != last_received) {
		last_received = r;
		stall_base = t;
		return;
	}
	/* messages wait: in the queue, or acknowledged to their producer
	 * and not processed yet (a claimed message counts as dequeued) */
	static uint64_t cursor[T_LEDGER_MAXP];
	struct ipcq_info in = t_info(q);
	if (in.depth == 0 && in.leased == 0 && in.redeliverable == 0 && in.side_depth == 0 &&
	    t_ledger_all_done(st->l, cursor)) {
		stall_base = t;
		return;
	}
	if (t - stall_base > max_stall)
		max_stall = t - stall_base;
	if (max_stall > STALL_TIMEOUTS) {
		fprintf(stderr, "stalled: depth %" PRIu64 " leased %u redeliverable %u side %u\n",
			in.depth, in.leased, in.redeliverable, in.side_depth);
		t_ledger_print_missing(st->l, 10);
		T_FAIL("nothing received while messages waited and live consumers timed out %" PRIu64
		       " receives (%u grace periods each): recovery never took the dead's work"
		       " over", max_stall, (unsigned)(RECV_TIMEOUT_NS / (GRACE_US * 1000)));
	}
}

/* Reap whoever died by itself (at its crash point) and restart it. */
static void reap_restart(int restart)
{
	for (unsigned i = 0; i < NP + NC; i++) {
		struct proc *pr = &procs[i];
		int s;
		if (!pr->pid)
			continue;
		pid_t r = waitpid(pr->pid, &s, WNOHANG);
		if (r == 0)
			continue;
		if (r < 0)
			T_FAIL("waitpid: %s", strerror(errno));
		t_kids_forget_(pr->pid);
		pr->self_kills++;
		died(pr, s);
		if (restart) {
			arm(pr);
			start(pr);
		}
	}
}

int main(void)
{
	unsigned target = t_stress() ? 1000 : 200;
	uint64_t maxseq = t_stress() ? 400000 : 100000;
	uint64_t t0 = t_now_ns();

	unsetenv("IPCQ_CRASH");
	rng_state ^= (uint32_t)getpid();
	st = (struct state *)t_shared(sizeof(*st));
	st->name = t_qname("torture");
	st->l = t_ledger_new(NP, maxseq, 16, 200);
	struct ipcq_config cfg = t_config(64, 200);
	cfg.grace_us = GRACE_US;
	cfg.max_deliveries = 255;
	cfg.side_capacity = 64;
	cfg.lease_capacity = 64;
	cfg.max_participants = 32;
	struct ipcq *q = t_create(st->name, &cfg);
	t_watchdog(t_limit(170), "t_torture", NULL);

	for (unsigned i = 0; i < NP + NC; i++) {
		procs[i].is_prod = i < NP;
		procs[i].id = i < NP ? i : i - NP;
		start(&procs[i]);
	}
	unsigned kills = 0;
	uint64_t next_kill = t_now_ns() + 5000000;
	while (kills < target) {
		reap_restart(1);
		watch_stall(q);
		uint64_t now = t_now_ns();
		if (now < next_kill) {
			struct timespec ts = { 0, 500000 };
			nanosleep(&ts, NULL);
			continue;
		}
		struct proc *pr = &procs[rnd(NP + NC)];
		if (!pr->pid)
			continue;
		int s;
		kill(pr->pid, SIGKILL);
		while (waitpid(pr->pid, &s, 0) < 0)
			if (errno != EINTR)
				T_FAIL("waitpid: %s", strerror(errno));
		t_kids_forget_(pr->pid);
		pr->kills++;
		kills++;
		died(pr, s);
		arm(pr);
		start(pr);
		next_kill = t_now_ns() + 2000000 + rnd(30000000);
	}
	double kill_secs = (double)(t_now_ns() - t0) / 1e9;

	/* The end: no more kills nor crash points.  Producers leave; every
	 * acknowledged message must arrive. */
	__atomic_store_n(&st->finish, 1, __ATOMIC_SEQ_CST);
	for (unsigned i = 0; i < NP; i++) {
		struct proc *pr = &procs[i];
		if (!pr->pid)
			continue;
		int s;
		while (waitpid(pr->pid, &s, 0) < 0)
			if (errno != EINTR)
				T_FAIL("waitpid: %s", strerror(errno));
		t_kids_forget_(pr->pid);
		if (WIFSIGNALED(s) && WTERMSIG(s) == SIGKILL) {
			pr->self_kills++;
			died(pr, s); /* at its crash point, just now */
		} else if (!t_status_ok(pr->pid, s)) {
			T_FAIL("producer %u failed", pr->id);
		}
		pr->pid = 0;
	}
	uint64_t cursor[T_LEDGER_MAXP] = { 0 };
	uint64_t dl = t_now_ns() + 30ull * 1000000000ull;
	unsigned round = 0;
	for (;;) {
		reap_restart(1);
		watch_stall(q);
		struct ipcq_info in = t_info(q);
		if (in.side_depth > 0) {
			int rc = ipcq_poison_replay(q, IPCQ_POISON_ALL);
			if (rc < 0 && rc != -EAGAIN)
				T_FAIL("ipcq_poison_replay: %d (%s)", rc, ipcq_strerror(rc));
		}
		if (in.side_depth == 0 && in.depth == 0 && in.leased == 0 && in.redeliverable == 0 &&
		    t_ledger_all_done(st->l, cursor))
			break;
		if (t_now_ns() > dl) {
			fprintf(stderr, "depth %" PRIu64 " leased %u redeliverable %u side %u\n", in.depth,
				in.leased, in.redeliverable, in.side_depth);
			t_ledger_print_missing(st->l, 10);
			T_FAIL("acknowledged messages never arrived");
		}
		t_poll_pause(&round);
	}
	__atomic_store_n(&st->stop, 1, __ATOMIC_SEQ_CST);
	for (unsigned i = NP; i < NP + NC; i++) {
		struct proc *pr = &procs[i];
		int s;
		while (waitpid(pr->pid, &s, 0) < 0)
			if (errno != EINTR)
				T_FAIL("waitpid: %s", strerror(errno));
		t_kids_forget_(pr->pid);
		if (WIFSIGNALED(s) && WTERMSIG(s) == SIGKILL)
			died(pr, s); /* at a crash point on its way out */
		else if (!t_status_ok(pr->pid, s))
			T_FAIL("consumer %u failed", pr->id);
	}

	/* A last consumer recovers and sweeps what dead consumers left. */
	struct ipcq *fq = NULL;
	CHECK_OK(ipcq_open(st->name, &fq));
	CHECK_RC(ipcq_attach(fq, IPCQ_ROLE_CONSUMER, NULL), 0);
	uint64_t last[T_LEDGER_MAXP] = { 0 };
	for (;;) {
		struct t_msgref m;
		struct ipcq_msginfo mi;
		int rc = t_ledger_recv_one(st->l, fq, 0, 0, last, 20ll * GRACE_US * 1000, &m, &mi,
					   "final sweep");
		if (rc == -ETIMEDOUT)
			break;
		CHECK_OK(rc);
	}
	CHECK_RC(ipcq_close(fq), 0);
	struct ipcq_info in = t_info(q);
	if (in.depth || in.leased || in.redeliverable || in.side_depth || in.participants)
		T_FAIL("queue not clean at the end: depth %" PRIu64 " leased %u redeliverable %u"
		       " side %u participants %u", in.depth, in.leased, in.redeliverable,
		       in.side_depth, in.participants);
	uint64_t lost = 0;
	if (t_ledger_check(st->l, "torture", &lost) != 0)
		T_FAIL("message set wrong");
	unsigned fast_deaths = 0, self = 0;
	for (unsigned i = 0; i < NP + NC; i++) {
		self += procs[i].self_kills;
		if (!procs[i].is_prod && procs[i].id < 2)
			fast_deaths += procs[i].kills + procs[i].self_kills;
	}
	if (lost > fast_deaths)
		T_FAIL("%" PRIu64 " messages lost with %u deaths of fast consumers", lost, fast_deaths);
	uint64_t sent = 0;
	for (unsigned p = 0; p < NP; p++)
		sent += t_ledger_sent(st->l, p);
	printf("%u kills by the parent, %u deaths at crash points, in %.1f s\n", kills, self,
	       kill_secs);
	printf("sent %" PRIu64 " (producers %" PRIu64 "/%" PRIu64 "/%" PRIu64 "), received %" PRIu64
	       ", redelivered %" PRIu64 ", lost with dead fast consumers %" PRIu64 "\n", sent,
	       t_ledger_sent(st->l, 0), t_ledger_sent(st->l, 1), t_ledger_sent(st->l, 2),
	       st->l->received, st->l->redelivered, lost);
	printf("named producer: %" PRIu64 " takeovers past its own log, %" PRIu64
	       " resends reported as duplicates\n", st->takeovers, st->duplicates_reported);
	printf("longest stall: %" PRIu64 " consumer receive timeouts (bound %u), total %.1f s\n",
	       max_stall, STALL_TIMEOUTS, (double)(t_now_ns() - t0) / 1e9);
	CHECK_RC(ipcq_close(q), 0);
	return 0;
}
