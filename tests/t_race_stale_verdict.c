/* A recovery pass that found entries dead must not act on that verdict after a new process took one of them over: a recoverer frozen mid-pass while a new consumer attaches into a dead entry and adopts a dead consumer's message must not adopt it too (one delivery, later laps intact, the ring keeps moving). */
#include "testutil.h"

enum { CAP = 8, MAX = 64, MAXSEQ = 64 };

#define GRACE_US 1000u

/* Children, in the order they attach (so, their participant entries). */
enum { R, X0, X, Y, N, NKIDS };
static const char *const kname[NKIDS] = {
	"recoverer R", "ack consumer X0", "consumer X", "idle Y", "new consumer N",
};

struct state {
	const char *name;
	struct t_ledger *l;
	int32_t index[NKIDS]; /* participant entry, once attached */
	int go[NKIDS];
	int done[NKIDS];      /* the receive returned */
	int rc[NKIDS];
	uint64_t seq[NKIDS];  /* what it received (ledger sequence), 0 none */
	int release;          /* R and N leave */
};

static struct state *st;
static int failed;
static const char *const label = NULL; /* one scenario */

static int flag(int *f)
{
	return __atomic_load_n(f, __ATOMIC_SEQ_CST);
}

static void set(int *f)
{
	__atomic_store_n(f, 1, __ATOMIC_SEQ_CST);
}

static int kid(void *arg)
{
	unsigned k = (unsigned)(uintptr_t)arg;
	struct ipcq_attach_opts o = IPCQ_ATTACH_OPTS_INIT;
	int64_t timeout = 2000000000ll;
	switch (k) {
	case R: /* stops in its first recovery pass, at the first slot it acts on */
		t_freeze_at("recover.checked", 1);
		timeout = 200 * 1000000ll; /* nothing is left for it to receive */
		break;
	case X0: /* dies with message 1 leased, its slot not released */
		t_crash_at("ack.leased", 1);
		o.flags = IPCQ_ATTACH_ACK;
		break;
	case X: /* dies right after claiming message 2 */
		t_crash_at("recv.claimed", 1);
		break;
	case N: /* stops holding the message it adopted */
		t_freeze_at("recover.adopted", 1);
		break;
	}
	struct ipcq *q = t_open_attach(st->name, IPCQ_ROLE_CONSUMER, &o);
	__atomic_store_n(&st->index[k], t_info(q).participant_index, __ATOMIC_SEQ_CST);
	if (k == Y)
		for (;;)
			pause(); /* killed while idle */
	T_AWAIT(flag(&st->go[k]), 30);
	uint64_t last[T_LEDGER_MAXP] = { 0 };
	struct t_msgref m = { 0, 0 };
	struct ipcq_msginfo mi;
	int rc = t_ledger_recv_one(st->l, q, k, k == X0, last, timeout, &m, &mi, kname[k]);
	if (k == X0 || k == X) {
		fprintf(stderr, "%s: ipcq_recv returned %d without dying at its crash point\n",
			kname[k], rc);
		return 3;
	}
	st->rc[k] = rc;
	st->seq[k] = rc >= 0 ? m.seq : 0;
	set(&st->done[k]);
	T_AWAIT(flag(&st->release), 30);
	CHECK_RC(ipcq_close(q), 0);
	return 0;
}

int main(void)
{
	t_need_points();
	t_watchdog(t_limit(60), "t_race_stale_verdict", NULL);
	uint64_t t0 = t_now_ns();
	st = (struct state *)t_shared(sizeof(*st));
	st->name = t_qname("verdict");
	st->l = t_ledger_new(1, MAXSEQ, 16, MAX);
	struct t_ledger *l = st->l;
	struct ipcq_config cfg = t_config(CAP, MAX);
	cfg.grace_us = GRACE_US;
	cfg.max_participants = 8;
	cfg.lease_capacity = 8;
	cfg.max_deliveries = 10;
	struct ipcq *p = t_create(st->name, &cfg);
	CHECK_RC(ipcq_attach(p, IPCQ_ROLE_PRODUCER, NULL), 0);
	uint8_t buf[MAX];
	pid_t pid[NKIDS];

	/* R, X0, X and Y attach in this order while all are alive: R's
	 * entry comes before X0's, X0's before X's */
	for (unsigned k = R; k <= Y; k++) {
		st->index[k] = -1;
		pid[k] = t_spawn(kid, (void *)(uintptr_t)k);
		T_AWAIT(__atomic_load_n(&st->index[k], __ATOMIC_SEQ_CST) >= 0, 10);
	}
	if (!(st->index[R] < st->index[X0] && st->index[X0] < st->index[X]))
		T_FAIL("entries R %d, X0 %d, X %d: expected in attach order", st->index[R],
		       st->index[X0], st->index[X]);

	/* message 1 at position 0: X0 leases it and dies before releasing
	 * the slot; message 2 at position 1: X claims it and dies */
	CHECK_RC(t_ledger_send(l, p, buf, 0, 1, IPCQ_NOWAIT), 0);
	CHECK_RC(t_ledger_send(l, p, buf, 0, 2, IPCQ_NOWAIT), 0);
	set(&st->go[X0]);
	t_wait_crashed(pid[X0], 10, kname[X0]);
	set(&st->go[X]);
	t_wait_crashed(pid[X], 10, kname[X]);
	/* Y dies idle: a dead entry with nothing to take over */
	kill(pid[Y], SIGKILL);
	t_reap_killed(pid[Y], SIGKILL);

	/* R's recovery pass finds X0, X and Y dead and stops at X0's slot
	 * (position 0), before the dead X's position 1 */
	set(&st->go[R]);
	t_wait_stopped(pid[R], 10, kname[R]);
	/* N attaches into one of the entries R found dead, adopts position 1
	 * and stops holding it */
	st->index[N] = -1;
	st->go[N] = 1;
	pid[N] = t_spawn(kid, (void *)(uintptr_t)N);
	t_wait_stopped(pid[N], 10, kname[N]);
	/* R goes on: position 1 is held by N, alive; R must leave it */
	t_resume(pid[R]);
	T_AWAIT(flag(&st->done[R]), 10);
	if (st->rc[R] >= 0)
		SOFT_FAIL("R received message %" PRIu64 " while N (entry %d, taken over after R's"
			  " pass found it dead) held position 1: adopted twice on a stale verdict",
			  st->seq[R], st->index[N]);
	else if (st->rc[R] != -ETIMEDOUT)
		SOFT_FAIL("R: ipcq_recv returned %d (%s)", st->rc[R], ipcq_strerror(st->rc[R]));

	/* a whole lap while N still holds position 1: if R released it, the
	 * next lap's message lands in that slot */
	uint64_t seq = 3;
	while (seq < 3 + CAP && t_ledger_send(l, p, buf, 0, seq, IPCQ_NOWAIT) == 0)
		seq++;
	t_resume(pid[N]);
	T_AWAIT(flag(&st->done[N]), 10);
	if (st->rc[N] < 0)
		SOFT_FAIL("N: ipcq_recv returned %d (%s)", st->rc[N], ipcq_strerror(st->rc[N]));
	else if (st->seq[N] != 2)
		SOFT_FAIL("N delivered message %" PRIu64 " from the slot of position 1 it had adopted"
			  " (message 2): the slot was released under it and refilled by the next lap",
			  st->seq[N]);
	set(&st->release);
	if (t_reap(pid[R]) != 0)
		SOFT_FAIL("%s failed", kname[R]);
	if (t_reap(pid[N]) != 0)
		SOFT_FAIL("%s failed", kname[N]);

	/* the ring keeps moving: 2 * capacity messages after the race, all
	 * received (an ack-mode consumer also takes X0's leased message) */
	struct ipcq_attach_opts o = IPCQ_ATTACH_OPTS_INIT;
	o.flags = IPCQ_ATTACH_ACK;
	struct ipcq *c = t_open_attach(st->name, IPCQ_ROLE_CONSUMER, &o);
	uint64_t last[T_LEDGER_MAXP] = { 0 }, cursor[T_LEDGER_MAXP] = { 0 };
	/* wedged: 200 receives in a row (10 ms each, 2 s in all) time out
	 * with messages missing; counted, not timed, so that a process the
	 * machine does not run is not taken for a wedged ring */
	uint64_t end = 3 + 2 * CAP;
	unsigned timeouts = 0;
	for (;;) {
		if (seq < end) {
			int rc = t_ledger_send(l, p, buf, 0, seq, IPCQ_NOWAIT);
			if (rc == 0)
				seq++;
			else if (rc != -EAGAIN)
				T_FAIL("ipcq_send: %d (%s)", rc, ipcq_strerror(rc));
		}
		struct t_msgref m;
		struct ipcq_msginfo mi;
		int rc = t_ledger_recv_one(l, c, NKIDS, 1, last, 10 * 1000000ll, &m, &mi, "drain");
		if (rc >= 0)
			CHECK_RC(t_ledger_ack(l, c, NKIDS, m, mi.token), 0);
		else if (rc != -ETIMEDOUT)
			T_FAIL("drain: ipcq_recv: %d (%s)", rc, ipcq_strerror(rc));
		timeouts = rc >= 0 ? 0 : timeouts + 1;
		if (seq == end && t_ledger_all_done(l, cursor))
			break;
		if (timeouts >= 200) {
			SOFT_FAIL("the ring is wedged: %" PRIu64 " of %" PRIu64 " messages sent, not all"
				  " received, %u receives of 10 ms in a row timed out:", seq - 1,
				  end - 1, timeouts);
			t_ledger_print_missing(l, 8);
			break;
		}
	}
	if (!failed) {
		/* nothing more may come (a second copy of message 2) */
		struct t_msgref m;
		struct ipcq_msginfo mi;
		int rc = t_ledger_recv_one(l, c, NKIDS, 1, last, 50 * 1000000ll, &m, &mi, "drain");
		if (rc >= 0)
			CHECK_RC(t_ledger_ack(l, c, NKIDS, m, mi.token), 0);
		struct ipcq_info in = t_info(c);
		if (in.depth != 0 || in.leased != 0 || in.redeliverable != 0)
			SOFT_FAIL("queue not clean: depth %" PRIu64 " leased %u redeliverable %u",
				  in.depth, in.leased, in.redeliverable);
	}
	if (t_ledger_check(l, "stale verdict", NULL) != 0)
		SOFT_FAIL("message set wrong");
	CHECK_RC(ipcq_close(c), 0);
	CHECK_RC(ipcq_close(p), 0);
	printf("stale verdict: %s, %" PRIu64 " received (%" PRIu64 " redelivered)  %.2f s\n",
	       failed ? "FAILED" : "ok", l->received, l->redelivered,
	       (double)(t_now_ns() - t0) / 1e9);
	return failed;
}
