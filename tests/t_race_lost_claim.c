/* A participant that loses its claim CAS (frozen at recv.before_claim / send.before_claim while another claims its position and dies there) must not leave a stale work record that keeps recovery off the dead one's slot: the message is still delivered, the skip still happens, the ring keeps moving. */
#include "testutil.h"

enum { CAP = 4, MAX = 64, MAXSEQ = 64 };

#define GRACE_US 1000u
#define DEADLINE_NS 2000000000ull /* for each phase to finish */

enum variant {
	V_RECV_WAITING, /* consumer loses its claim, then keeps receiving with timeouts */
	V_RECV_NOWAIT,  /* consumer loses its claim, gets -EAGAIN, stays idle; another receives */
	V_SEND_NOWAIT,  /* producer loses its claim, ring full: -EAGAIN, stays idle */
	V_SEND_TIMEOUT, /* the same with a short timeout: -ETIMEDOUT */
};

static const char *const vname[] = {
	"recv.before_claim, loser keeps receiving",
	"recv.before_claim, loser returns -EAGAIN and idles",
	"send.before_claim, loser returns -EAGAIN and idles",
	"send.before_claim, loser times out and idles",
};

struct state {
	const char *name;
	struct t_ledger *l;
	enum variant v;
	int first_done; /* the loser's call returned */
	int first_rc;
	int stop;       /* consumers leave */
	int release;    /* an idle loser leaves (after the consumers: its
			 * detach clears its record) */
};

static struct state *st;
static const char *label;
static int failed;

static void first_done(int rc)
{
	__atomic_store_n(&st->first_rc, rc, __ATOMIC_SEQ_CST);
	__atomic_store_n(&st->first_done, 1, __ATOMIC_SEQ_CST);
}

static int stopping(void)
{
	return __atomic_load_n(&st->stop, __ATOMIC_SEQ_CST);
}

static int released(void)
{
	return __atomic_load_n(&st->release, __ATOMIC_SEQ_CST);
}

/* Receive into ledger slot @slot until told to stop. */
static void receive_all(struct ipcq *q, unsigned slot, const char *who)
{
	uint64_t last[T_LEDGER_MAXP] = { 0 };
	while (!stopping()) {
		struct t_msgref m;
		struct ipcq_msginfo mi;
		int rc = t_ledger_recv_one(st->l, q, slot, 0, last, 20 * 1000000ll, &m, &mi, who);
		if (rc < 0 && rc != -ETIMEDOUT)
			T_FAIL("%s: ipcq_recv: %d (%s)", who, rc, ipcq_strerror(rc));
	}
}

/* The consumer that loses its claim: frozen between its record and C1. */
static int losing_consumer(void *arg)
{
	(void)arg;
	t_freeze_at("recv.before_claim", 1);
	struct ipcq *q = t_open_attach(st->name, IPCQ_ROLE_CONSUMER, NULL);
	uint64_t last[T_LEDGER_MAXP] = { 0 };
	struct t_msgref m;
	struct ipcq_msginfo mi;
	int64_t t = st->v == V_RECV_NOWAIT ? IPCQ_NOWAIT : 20 * 1000000ll;
	int rc = t_ledger_recv_one(st->l, q, 0, 0, last, t, &m, &mi, "losing consumer");
	first_done(rc);
	if (rc < 0 && rc != -ETIMEDOUT && rc != -EAGAIN)
		T_FAIL("losing consumer: ipcq_recv: %d (%s)", rc, ipcq_strerror(rc));
	if (st->v == V_RECV_WAITING)
		receive_all(q, 0, "losing consumer");
	else
		T_AWAIT(released(), 60);
	CHECK_RC(ipcq_close(q), 0);
	return 0;
}

/* Claims the position the loser wanted and dies right after its claim. */
static int dying_consumer(void *arg)
{
	(void)arg;
	t_crash_at("recv.claimed", 1);
	struct ipcq *q = t_open_attach(st->name, IPCQ_ROLE_CONSUMER, NULL);
	uint8_t buf[MAX];
	struct ipcq_msginfo mi;
	int rc = ipcq_recv(q, buf, sizeof(buf), &mi, 1000000000ll);
	fprintf(stderr, "dying consumer: ipcq_recv returned %d without dying at recv.claimed\n", rc);
	return 3;
}

static int other_consumer(void *arg)
{
	(void)arg;
	struct ipcq *q = t_open_attach(st->name, IPCQ_ROLE_CONSUMER, NULL);
	receive_all(q, 1, "consumer");
	CHECK_RC(ipcq_close(q), 0);
	return 0;
}

/* The producer that loses its claim (ledger producer 1). */
static int losing_producer(void *arg)
{
	(void)arg;
	t_freeze_at("send.before_claim", 1);
	struct ipcq *q = t_open_attach(st->name, IPCQ_ROLE_PRODUCER, NULL);
	uint8_t buf[MAX];
	int64_t t = st->v == V_SEND_NOWAIT ? IPCQ_NOWAIT : 5 * 1000000ll;
	int rc = t_ledger_send(st->l, q, buf, 1, 1, t);
	first_done(rc);
	T_AWAIT(released(), 60);
	CHECK_RC(ipcq_close(q), 0);
	return 0;
}

/* Claims the position the loser wanted and dies before writing it
 * (ledger producer 2). */
static int dying_producer(void *arg)
{
	(void)arg;
	t_crash_at("send.claimed", 1);
	struct ipcq *q = t_open_attach(st->name, IPCQ_ROLE_PRODUCER, NULL);
	uint8_t buf[MAX];
	int rc = t_ledger_send(st->l, q, buf, 2, 1, IPCQ_NOWAIT);
	fprintf(stderr, "dying producer: ipcq_send returned %d without dying at send.claimed\n", rc);
	return 3;
}

/* Wait until every message sent so far was received; soft-fails after the
 * deadline, naming what never arrived.  Returns 1 when all arrived. */
static int await_all(const char *what)
{
	uint64_t cursor[T_LEDGER_MAXP] = { 0 };
	uint64_t dl = t_now_ns() + DEADLINE_NS;
	unsigned round = 0;
	while (!t_ledger_all_done(st->l, cursor)) {
		if (t_now_ns() > dl) {
			SOFT_FAIL("%s: not delivered within %.1f s (the ring is wedged):", what,
				  (double)DEADLINE_NS / 1e9);
			t_ledger_print_missing(st->l, 8);
			return 0;
		}
		t_poll_pause(&round);
	}
	return 1;
}

static void reap_ok(pid_t pid, const char *what)
{
	int s = t_wait_end(pid, 10, what);
	if (!WIFEXITED(s) || WEXITSTATUS(s) != 0)
		SOFT_FAIL("%s %s", what, t_status_str(s));
}

static void run(enum variant v)
{
	uint64_t t0 = t_now_ns();
	label = vname[v];
	failed = 0;
	st->name = t_qname("lostclaim");
	st->l = t_ledger_new(3, MAXSEQ, 16, MAX);
	st->v = v;
	st->first_done = 0;
	st->stop = 0;
	st->release = 0;
	struct t_ledger *l = st->l;
	struct ipcq_config cfg = t_config(CAP, MAX);
	cfg.grace_us = GRACE_US;
	cfg.max_participants = 8;
	struct ipcq *p = t_create(st->name, &cfg);
	CHECK_RC(ipcq_attach(p, IPCQ_ROLE_PRODUCER, NULL), 0);
	uint8_t buf[MAX];
	pid_t loser, cons = 0, kids[2] = { 0, 0 };
	uint64_t seq = 1;
	int recv_side = v == V_RECV_WAITING || v == V_RECV_NOWAIT;

	if (recv_side) {
		/* message 1 at position 0: the loser records it, freezes
		 * before its claim; another consumer claims it and dies */
		CHECK_RC(t_ledger_send(l, p, buf, 0, seq++, IPCQ_NOWAIT), 0);
		loser = t_spawn(losing_consumer, NULL);
		t_wait_stopped(loser, 10, "losing consumer");
		t_wait_crashed(t_spawn(dying_consumer, NULL), 10, "dying consumer");
		t_resume(loser);
		if (v == V_RECV_NOWAIT) {
			T_AWAIT(__atomic_load_n(&st->first_done, __ATOMIC_SEQ_CST), 10);
			cons = t_spawn(other_consumer, NULL);
		}
		await_all("message 1, claimed by the consumer that died");
	} else {
		/* three messages, one free slot (position 3): the loser
		 * records it, freezes before its claim; another producer
		 * claims it and dies; the loser's retry finds the ring full */
		for (; seq <= 3; seq++)
			CHECK_RC(t_ledger_send(l, p, buf, 0, seq, IPCQ_NOWAIT), 0);
		loser = t_spawn(losing_producer, NULL);
		t_wait_stopped(loser, 10, "losing producer");
		t_wait_crashed(t_spawn(dying_producer, NULL), 10, "dying producer");
		t_ledger_producer_died(l, 2);
		t_resume(loser);
		T_AWAIT(__atomic_load_n(&st->first_done, __ATOMIC_SEQ_CST), 10);
		int rc = st->first_rc;
		if (rc != -EAGAIN && rc != -ETIMEDOUT)
			SOFT_FAIL("the losing producer's send returned %d (%s), expected the ring full",
				  rc, ipcq_strerror(rc));
		cons = t_spawn(other_consumer, NULL);
		await_all("messages 1-3, before the dead producer's position 3");
	}

	/* the ring keeps moving: 2 * capacity more through every slot */
	if (!failed)
		for (unsigned i = 0; i < 2 * CAP; i++, seq++) {
			int rc = t_ledger_send(l, p, buf, 0, seq, DEADLINE_NS / 2);
			if (rc != 0) {
				SOFT_FAIL("send of message %" PRIu64 " returned %d (%s): the ring is"
					  " wedged", seq, rc, ipcq_strerror(rc));
				break;
			}
		}
	if (!failed)
		await_all("messages sent after the race");

	/* consumers first: an idle loser's detach would clear its record */
	__atomic_store_n(&st->stop, 1, __ATOMIC_SEQ_CST);
	kids[0] = cons;
	kids[1] = loser;
	for (unsigned i = 0; i < 2; i++) {
		if (kids[i])
			reap_ok(kids[i], i ? "loser" : "consumer");
		__atomic_store_n(&st->release, 1, __ATOMIC_SEQ_CST);
	}
	if (t_ledger_check(l, label, NULL) != 0)
		SOFT_FAIL("message set wrong");
	CHECK_RC(ipcq_close(p), 0);
	CHECK_RC(ipcq_unlink(st->name), 0);
	printf("%-52s %s  %.2f s\n", label, failed ? "FAILED" : "ok",
	       (double)(t_now_ns() - t0) / 1e9);
	fflush(stdout);
}

int main(void)
{
	t_need_points();
	st = (struct state *)t_shared(sizeof(*st));
	t_watchdog(t_limit(60), "t_race_lost_claim", NULL);
	int any = 0;
	for (int v = V_RECV_WAITING; v <= V_SEND_TIMEOUT; v++) {
		run((enum variant)v);
		any |= failed;
	}
	return any ? 1 : 0;
}
