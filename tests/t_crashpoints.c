/* Kill a producer, consumer, ack consumer, recoverer or replayer at every named crash point in turn, then check the whole message set. */
#include <sched.h>

#include "testutil.h"

#include "crashpoints.h"

/* Crash points exist in debug builds only (asan, tsan); elsewhere skip. */
#if defined(IPCQ_DEBUG)
#define T_CRASHPOINTS 1
#else
#define T_CRASHPOINTS 0
#endif

/* Process exit codes of the children. */
#define EXIT_GOOD 0
#define EXIT_NOFIRE 3 /* a victim ran its whole course: its crash point never fired */

enum kind {
	K_PROD,   /* a producer dies among live producers and consumers */
	K_CONS,   /* a consumer dies among live producers and consumers */
	K_ADOPT2, /* a consumer dies holding a claim; a second dies adopting it */
	K_SKIP2,  /* a producer dies holding a claim; a second process dies skipping it */
	K_LEASE2, /* an ack consumer dies holding leases; a second dies taking one over */
	K_REPLAY, /* a management process dies replaying side-ring entries */
	K_NAMED,  /* a named producer dies; its restart resumes without duplicate or gap */
};

enum behaviour {
	B_ACK,          /* ack each message at once */
	B_NACK_FIRST,   /* nack (requeue) each first delivery, ack the others */
	B_POISON,       /* nack each message as poison */
	B_HOLD_ACK,     /* hold `hold` messages, then ack the first */
};

struct scen {
	const char *point;
	enum kind kind;
	int ack; /* consumers in ack mode */
};

/* A reception with deliveries > 1, as a consumer saw it. */
struct redel {
	struct t_msgref m;
	uint32_t deliveries, flags;
};

#define MAX_REDEL 16

struct state {
	const char *name;
	struct t_ledger *l;
	int stop;        /* consumers leave */
	int victim_dead; /* producers may stop after their quota */
	int ack;
	/* survivors' receives that timed out: each waited 5 ms (2.5 grace
	 * periods) in the library, which runs a recovery pass in such a wait */
	uint64_t idle;
	unsigned nredel; /* receptions with deliveries > 1 (recorded up to MAX_REDEL) */
	struct redel redel[MAX_REDEL];
	unsigned v_nacks;      /* ipcq_nack calls the victim consumer started */
	struct t_msgref v_cur; /* the message the victim consumer was acking or nacking */
	/* the victim consumer timed out STARVE_IDLE receives in a row while
	 * the survivors took everything: they step aside until it gets one
	 * (or dies), so that it reaches its point however the receives of
	 * the consumers are scheduled (the library promises no fairness) */
	int starving;
};

static struct state *st;

#define GRACE_US 2000u
#define CAPACITY 16u
#define MAXSEQ 60000u
/* A victim consumer's receives (5 ms each) that time out in a row: after
 * STARVE_IDLE the survivors step aside (see starving); after NOFIRE_IDLE
 * nothing more will come and its point will not fire.  Counted, not
 * timed: a consumer that does not run does not time out. */
#define STARVE_IDLE 20u
#define NOFIRE_IDLE 2000u

/* ---- children ----------------------------------------------------------- */

struct prod_arg {
	uint32_t id;
	uint64_t first, quota; /* send first..quota, then go on until the victim is dead */
	const char *crash;     /* NULL: a survivor */
	int named;             /* attach as named producer "np<id>" (IPCQ_ATTACH_DEDUP) */
	int attach_only;       /* named: attach (taking the name over), then leave */
};

static int producer(void *arg)
{
	const struct prod_arg *a = (const struct prod_arg *)arg;
	struct t_ledger *l = st->l;
	char pname[16];
	uint64_t first = a->first, last_seq = 0;
	if (a->crash)
		setenv("IPCQ_CRASH", a->crash, 1);
	struct ipcq_attach_opts o = IPCQ_ATTACH_OPTS_INIT;
	if (a->named) {
		snprintf(pname, sizeof(pname), "np%u", a->id);
		o.name = pname;
		o.flags = IPCQ_ATTACH_DEDUP;
	}
	struct ipcq *q = t_open_attach(st->name, IPCQ_ROLE_PRODUCER, &o);
	if (a->named) {
		/* a takeover knows exactly what the dead holder got accepted:
		 * at least what it was told, at most what it attempted */
		uint64_t sent = t_ledger_sent(l, a->id), att = l->attempt[a->id];
		CHECK_RC(ipcq_last_seq(q, &last_seq), 0);
		if (last_seq < sent || last_seq > att)
			T_FAIL("named producer %u: ipcq_last_seq %" PRIu64 " after a takeover, but the"
			       " dead holder was told %" PRIu64 " and attempted %" PRIu64, a->id,
			       last_seq, sent, att);
		first = sent + 1; /* resume from our own log: dedup drops the rest */
		if (a->attach_only) {
			CHECK_RC(ipcq_close(q), 0);
			return a->crash ? EXIT_NOFIRE : EXIT_GOOD;
		}
	}
	uint8_t *buf = (uint8_t *)malloc(l->max_len);
	CHECK(buf != NULL);
	for (uint64_t seq = first;; seq++) {
		if (seq > a->quota && (a->crash || __atomic_load_n(&st->victim_dead, __ATOMIC_SEQ_CST)))
			break;
		if (seq > MAXSEQ)
			T_FAIL("producer %u: the victim never died", a->id);
		/* past the quota only to feed a victim that has not reached
		 * its point yet: give it the CPU (this machine may have fewer
		 * cores than processes) */
		if (seq > a->quota)
			sched_yield();
		if (!a->named) {
			CHECK_RC(t_ledger_send(l, q, buf, a->id, seq, IPCQ_FOREVER), 0);
			continue;
		}
		int rc = t_ledger_send_seq(l, q, buf, a->id, seq, IPCQ_FOREVER);
		if (rc != (seq <= last_seq ? IPCQ_SEND_DUPLICATE : 0))
			T_FAIL("named producer %u: ipcq_send_seq(%" PRIu64 ") returned %d (%s) with"
			       " last_seq %" PRIu64, a->id, seq, rc, ipcq_strerror(rc), last_seq);
	}
	free(buf);
	CHECK_RC(ipcq_close(q), 0);
	return a->crash ? EXIT_NOFIRE : EXIT_GOOD;
}

struct cons_arg {
	unsigned slot;
	int ack;
	enum behaviour b;
	unsigned hold;      /* B_HOLD_ACK */
	unsigned limit;     /* leave after this many messages (0: until stop) */
	const char *crash;  /* NULL: a survivor */
	int recover_first;  /* call ipcq_recover() after attaching */
};

/* Record a reception that the library says is a redelivery. */
static void note_reception(const struct t_msgref *m, const struct ipcq_msginfo *mi)
{
	if (mi->deliveries <= 1 && !(mi->flags & IPCQ_MSG_REDELIVERED))
		return;
	unsigned i = __atomic_fetch_add(&st->nredel, 1, __ATOMIC_SEQ_CST);
	if (i < MAX_REDEL)
		st->redel[i] = (struct redel){ *m, mi->deliveries, mi->flags };
}

static int consumer(void *arg)
{
	const struct cons_arg *a = (const struct cons_arg *)arg;
	struct t_ledger *l = st->l;
	char who[64];
	uint64_t last[T_LEDGER_MAXP] = { 0 };
	struct t_msgref held[64];
	uint64_t tokens[64];
	unsigned nheld = 0, count = 0, idle = 0, round = 0;

	snprintf(who, sizeof(who), "%s consumer %u%s%s", a->ack ? "ack" : "fast", a->slot,
		 a->crash ? " crashing at " : "", a->crash ? a->crash : "");
	if (a->crash)
		setenv("IPCQ_CRASH", a->crash, 1);
	struct ipcq_attach_opts o = IPCQ_ATTACH_OPTS_INIT;
	o.flags = a->ack ? IPCQ_ATTACH_ACK : 0;
	o.prefetch = 16;
	struct ipcq *q = t_open_attach(st->name, IPCQ_ROLE_CONSUMER, &o);
	if (a->recover_first) {
		struct ipcq_recovery rep = { .size = sizeof(rep) };
		CHECK_OK(ipcq_recover(q, &rep));
	}
	for (;;) {
		if (!a->crash && __atomic_load_n(&st->stop, __ATOMIC_SEQ_CST))
			break;
		if (a->limit && count >= a->limit)
			break;
		if (a->crash && idle >= NOFIRE_IDLE) {
			/* nothing more came: the point will not fire */
			fprintf(stderr, "%s: %u receives (5 ms each) in a row timed out after %u"
				" messages\n", who, idle, count);
			break;
		}
		if (!a->crash && __atomic_load_n(&st->starving, __ATOMIC_SEQ_CST) &&
		    !__atomic_load_n(&st->victim_dead, __ATOMIC_SEQ_CST)) {
			t_poll_pause(&round); /* the victim's turn */
			continue;
		}
		round = 0;
		struct t_msgref m;
		struct ipcq_msginfo mi;
		int rc = t_ledger_recv_one(l, q, a->slot, a->ack, last, 5000000, &m, &mi, who);
		if (rc == -ETIMEDOUT) {
			if (!a->crash)
				__atomic_add_fetch(&st->idle, 1, __ATOMIC_SEQ_CST);
			else if (++idle == STARVE_IDLE)
				__atomic_store_n(&st->starving, 1, __ATOMIC_SEQ_CST);
			continue;
		}
		if (rc < 0)
			T_FAIL("%s: ipcq_recv: %d (%s)", who, rc, ipcq_strerror(rc));
		note_reception(&m, &mi);
		if (a->crash) {
			idle = 0;
			__atomic_store_n(&st->starving, 0, __ATOMIC_SEQ_CST);
		}
		count++;
		if (!a->ack)
			continue;
		if (a->crash)
			st->v_cur = m;
		switch (a->b) {
		case B_ACK:
			CHECK_RC(t_ledger_ack(l, q, a->slot, m, mi.token), 0);
			break;
		case B_NACK_FIRST:
			if (mi.deliveries == 1) {
				if (a->crash)
					__atomic_add_fetch(&st->v_nacks, 1, __ATOMIC_SEQ_CST);
				CHECK_RC(ipcq_nack(q, mi.token, IPCQ_NACK_REQUEUE), 0);
			} else {
				CHECK_RC(t_ledger_ack(l, q, a->slot, m, mi.token), 0);
			}
			break;
		case B_POISON:
			CHECK_RC(ipcq_nack(q, mi.token, IPCQ_NACK_POISON), 1);
			break;
		case B_HOLD_ACK:
			CHECK(nheld < T_NELEM(held));
			held[nheld] = m;
			tokens[nheld++] = mi.token;
			if (nheld == a->hold)
				CHECK_RC(t_ledger_ack(l, q, a->slot, held[0], tokens[0]), 0);
			break;
		}
	}
	CHECK_RC(ipcq_close(q), 0);
	return a->crash ? EXIT_NOFIRE : EXIT_GOOD;
}

static int replayer(void *arg)
{
	const char *crash = (const char *)arg;
	setenv("IPCQ_CRASH", crash, 1);
	struct ipcq *q = NULL;
	CHECK_OK(ipcq_open(st->name, &q));
	int rc = ipcq_poison_replay(q, IPCQ_POISON_ALL);
	fprintf(stderr, "replayer: ipcq_poison_replay returned %d without dying at %s\n", rc, crash);
	CHECK_RC(ipcq_close(q), 0);
	return EXIT_NOFIRE;
}

/* ---- the parent ---------------------------------------------------------- */

static const char *cur_label = "";

/* Reap a victim: it must have died of SIGKILL at its crash point.  The
 * other children are watched meanwhile: one that fails ends the test at
 * once, with its own message. */
static void reap_victim(pid_t pid, const char *what)
{
	int s = t_wait_end_watch(pid, 60, what);
	if (WIFSIGNALED(s) && WTERMSIG(s) == SIGKILL)
		return;
	/* a sibling that failed first is the likelier story: report it */
	t_kids_check(0, cur_label);
	if (WIFEXITED(s) && WEXITSTATUS(s) == EXIT_NOFIRE)
		T_FAIL("%s: %s: the crash point never fired (IPCQ_DEBUG build?)", cur_label, what);
	T_FAIL("%s: %s: expected death by SIGKILL at the crash point, status 0x%x", cur_label, what, s);
}

static void reap_ok(pid_t pid, const char *what)
{
	if (t_reap_watch(pid, 60, what) != 0)
		T_FAIL("%s: %s failed", cur_label, what);
}

static void set_crash_arg(char *buf, size_t n, const char *point, unsigned pass)
{
	snprintf(buf, n, "%s:%u", point, pass);
}

/*
 * What a scenario must end with, derived from where its victims died in
 * the protocol: how many receptions are redeliveries (exactly), the
 * deliveries and flags each of them reports, messages known to be among
 * them, and how many messages went down with a dead fast consumer.
 */
struct expect {
	unsigned redelivered;
	unsigned deliveries;
	uint32_t flags;
	unsigned nwho;
	struct t_msgref who[4];
	unsigned lost;
	struct t_msgref lost_msg;
};

/* @vbuf: the message in the fast victim consumer's buffer when it died
 * (seq 0: none). */
static void expect_for(const struct scen *sc, struct t_msgref vbuf, struct expect *e)
{
	const char *p = sc->point;
	memset(e, 0, sizeof(*e));
	e->deliveries = 2;
	e->flags = IPCQ_MSG_REDELIVERED;
	switch (sc->kind) {
	case K_PROD:
	case K_NAMED:
	case K_SKIP2:
		/* no consumer died holding a message (the K_SKIP2 victim dies
		 * in ipcq_recover before its first receive) */
		break;
	case K_CONS:
		if (strcmp(p, "recv.before_claim") == 0 || strcmp(p, "ack.reserved") == 0) {
			/* nothing claimed yet; a reserved lease is freed */
		} else if (strcmp(p, "side.written") == 0) {
			/* the message is in the side ring: replayed with its
			 * count reset and IPCQ_MSG_REPLAYED, not redelivered */
		} else if (strcmp(p, "recv.released") == 0 && !sc->ack) {
			/* fast mode, past the release: the message it had
			 * copied goes down with it, and only that one */
			e->lost = 1;
			e->lost_msg = vbuf;
		} else if (strcmp(p, "nack.start") == 0 || strcmp(p, "lease.given_back") == 0) {
			/* every message it nacked comes back once, the one it
			 * died nacking included (lease.given_back: given back
			 * but never counted as such, found by the survivors'
			 * look at the pool once per grace period) */
			if (st->v_nacks != 3)
				T_FAIL("%s: the victim started %u nacks, died in the 3rd?", cur_label,
				       st->v_nacks);
			e->redelivered = st->v_nacks;
			e->who[e->nwho++] = st->v_cur;
		} else {
			/* recv.claimed, recv.copied, recv.released (ack: the
			 * lease holds it), ack.filling, ack.leased, ack.acking,
			 * side.claimed: the one message it held comes back */
			e->redelivered = 1;
			if (!sc->ack && strcmp(p, "recv.copied") == 0)
				e->who[e->nwho++] = vbuf;
			if (strcmp(p, "ack.acking") == 0 || strcmp(p, "side.claimed") == 0)
				e->who[e->nwho++] = st->v_cur;
		}
		break;
	case K_ADOPT2:
		/* message 1, claimed by the first victim, adopted by the
		 * second; a second death is counted only where the second
		 * had raised the count (copied or leased it) */
		e->redelivered = 1;
		e->who[e->nwho++] = (struct t_msgref){ 0, 1 };
		if (strcmp(p, "recv.adopted_copied") == 0 || strcmp(p, "ack.adopted_leased") == 0)
			e->deliveries = 3;
		break;
	case K_LEASE2:
		/* the four leases of the first victim, one of them taken over
		 * by the second */
		e->redelivered = 4;
		for (uint64_t s = 1; s <= 4; s++)
			e->who[e->nwho++] = (struct t_msgref){ 0, s };
		break;
	case K_REPLAY:
		/* the oldest entry (message 1), whose replay was cut short,
		 * is replayed again and says it may be a redelivery */
		e->redelivered = 1;
		e->flags = IPCQ_MSG_REDELIVERED | IPCQ_MSG_REPLAYED;
		e->who[e->nwho++] = (struct t_msgref){ 0, 1 };
		break;
	}
	for (unsigned i = 0; i < e->nwho; i++)
		if (e->who[i].seq == 0)
			T_FAIL("%s: the victim recorded no message where it died", cur_label);
}

static void check_expect(const char *label, const struct expect *e, uint64_t lost)
{
	struct t_ledger *l = st->l;
	unsigned n = st->nredel;
	if (n > MAX_REDEL || n != l->redelivered || n != e->redelivered) {
		for (unsigned i = 0; i < n && i < MAX_REDEL; i++)
			fprintf(stderr, "  redelivered: (%u, %" PRIu64 ") deliveries %u flags 0x%x\n",
				st->redel[i].m.p, st->redel[i].m.seq, st->redel[i].deliveries,
				st->redel[i].flags);
		T_FAIL("%s: %u receptions were redeliveries (ledger: %" PRIu64 "), expected exactly %u",
		       label, n, l->redelivered, e->redelivered);
	}
	for (unsigned i = 0; i < n; i++) {
		const struct redel *r = &st->redel[i];
		if (r->deliveries != e->deliveries || r->flags != e->flags)
			T_FAIL("%s: message (%u, %" PRIu64 ") redelivered with deliveries %u flags 0x%x,"
			       " expected deliveries %u flags 0x%x", label, r->m.p, r->m.seq,
			       r->deliveries, r->flags, e->deliveries, e->flags);
		for (unsigned j = 0; j < i; j++)
			if (st->redel[j].m.p == r->m.p && st->redel[j].m.seq == r->m.seq)
				T_FAIL("%s: message (%u, %" PRIu64 ") redelivered twice", label, r->m.p,
				       r->m.seq);
	}
	for (unsigned w = 0; w < e->nwho; w++) {
		unsigned i;
		for (i = 0; i < n; i++)
			if (st->redel[i].m.p == e->who[w].p && st->redel[i].m.seq == e->who[w].seq)
				break;
		if (i == n)
			T_FAIL("%s: message (%u, %" PRIu64 "), held by a victim, never came back as a"
			       " redelivery", label, e->who[w].p, e->who[w].seq);
	}
	if (lost != e->lost)
		T_FAIL("%s: %" PRIu64 " messages went down with dead consumers, expected exactly %u",
		       label, lost, e->lost);
	if (e->lost) {
		const struct t_cell *c = e->lost_msg.seq ? t_ledger_cell(l, e->lost_msg.p, e->lost_msg.seq)
							 : NULL;
		if (c == NULL || c->done != 0 || !c->lost_ok)
			T_FAIL("%s: the lost message is not the one in the dead consumer's buffer (%u, %"
			       PRIu64 ")", label, e->lost_msg.p, e->lost_msg.seq);
	}
}

/* Survivors' receive timeouts without any progress after which the
 * dead's work counts as never taken over: each timeout is a 5 ms wait
 * with a recovery pass due in it, and nothing but the dead's work can
 * hold the survivors up. */
#define STALL_IDLE 1000u

/*
 * Wait until everything acknowledged has arrived and the queue is clean:
 * survivors recover past the grace period, side-ring entries are
 * replayed, surviving producers (@prod, 0: none) finish.  Fails at once
 * when a child fails, and soon when nothing moves while the survivors
 * keep waiting (recovery never took the dead's work over).
 */
static void settle(const char *label, struct ipcq *pq, pid_t *prod, unsigned nprod)
{
	struct t_ledger *l = st->l;
	uint64_t cursor[T_LEDGER_MAXP] = { 0 };
	uint64_t dl = t_now_ns() + 20ull * 1000000000ull;
	uint64_t seen = UINT64_MAX, idle0 = 0;
	unsigned round = 0;
	struct ipcq_info in;
	for (;;) {
		t_kids_check(0, label);
		unsigned running = 0;
		for (unsigned i = 0; i < nprod; i++) {
			int s;
			if (!prod[i])
				continue;
			pid_t r = waitpid(prod[i], &s, WNOHANG);
			if (r == prod[i]) {
				t_kids_forget_(prod[i]);
				if (!t_status_ok(prod[i], s))
					T_FAIL("%s: surviving producer failed", label);
				prod[i] = 0;
			} else {
				running++;
			}
		}
		in = t_info(pq);
		if (in.side_depth > 0) {
			int rc = ipcq_poison_replay(pq, IPCQ_POISON_ALL);
			if (rc < 0 && rc != -EAGAIN)
				T_FAIL("%s: ipcq_poison_replay: %d (%s)", label, rc, ipcq_strerror(rc));
		}
		if (!running && in.side_depth == 0 && in.depth == 0 && in.leased == 0 &&
		    in.redeliverable == 0 && t_ledger_all_done(l, cursor))
			break;
		uint64_t moved = __atomic_load_n(&l->received, __ATOMIC_SEQ_CST) +
				 __atomic_load_n(&l->processed, __ATOMIC_SEQ_CST) + in.enqueued +
				 in.dequeued + in.side_depth;
		uint64_t idle = __atomic_load_n(&st->idle, __ATOMIC_SEQ_CST);
		if (moved != seen) {
			seen = moved;
			idle0 = idle;
		}
		int stalled = idle - idle0 >= STALL_IDLE;
		if (stalled || t_now_ns() > dl) {
			fprintf(stderr, "%s: depth %" PRIu64 " leased %u redeliverable %u side %u,"
				" %u producers running\n", label, in.depth, in.leased, in.redeliverable,
				in.side_depth, running);
			t_ledger_print_missing(l, 10);
			if (stalled)
				T_FAIL("%s: nothing moved while the survivors timed out %u receives (5 ms"
				       " each, recovery due in each): what the dead held was never"
				       " delivered again", label, STALL_IDLE);
			T_FAIL("%s: acknowledged messages never arrived", label);
		}
		t_poll_pause(&round);
	}
}

static void run(const struct scen *sc)
{
	char label[96], crash[80], crash2[80];
	uint64_t t0 = t_now_ns();
	snprintf(label, sizeof(label), "%s/%s%s", sc->point, sc->ack ? "ack" : "fast",
		 sc->kind == K_NAMED ? "/named" : "");
	cur_label = label;

	const char *name = t_qname("crash");
	struct ipcq_config cfg = t_config(CAPACITY, 256);
	cfg.grace_us = GRACE_US;
	cfg.side_capacity = 16;
	cfg.max_deliveries = 5;
	cfg.lease_capacity = 64;
	cfg.max_participants = 16;
	struct ipcq *pq = t_create(name, &cfg);
	CHECK_RC(ipcq_attach(pq, IPCQ_ROLE_PRODUCER, NULL), 0);

	st->name = name;
	st->l = t_ledger_new(2, MAXSEQ, 16, 256);
	st->stop = 0;
	st->victim_dead = 0;
	st->ack = sc->ack;
	st->idle = 0;
	st->nredel = 0;
	st->v_nacks = 0;
	st->v_cur = (struct t_msgref){ 0, 0 };
	st->starving = 0;
	struct t_msgref vbuf = { 0, 0 };
	struct t_ledger *l = st->l;
	uint8_t *pbuf = (uint8_t *)malloc(256);
	CHECK(pbuf != NULL);

	struct prod_arg pa[4];
	struct cons_arg ca[4];
	pid_t surv_prod[2] = { 0, 0 }, surv_cons[2] = { 0, 0 };
	unsigned nsc = 0;
	memset(ca, 0, sizeof(ca));
	for (unsigned i = 0; i < 2; i++)
		ca[i] = (struct cons_arg){ .slot = i, .ack = sc->ack, .b = B_ACK };

	switch (sc->kind) {
	case K_PROD: {
		/* producer 0 dies at its 3rd pass; producer 1 and two
		 * consumers carry on */
		set_crash_arg(crash, sizeof(crash), sc->point, 3);
		surv_cons[nsc++] = t_spawn(consumer, &ca[0]);
		surv_cons[nsc++] = t_spawn(consumer, &ca[1]);
		pa[1] = (struct prod_arg){ 1, 1, 150, NULL, 0, 0 };
		surv_prod[1] = t_spawn(producer, &pa[1]);
		pa[0] = (struct prod_arg){ 0, 1, 60, crash, 0, 0 };
		reap_victim(t_spawn(producer, &pa[0]), "victim producer");
		t_ledger_producer_died(l, 0);
		__atomic_store_n(&st->victim_dead, 1, __ATOMIC_SEQ_CST);
		break;
	}
	case K_CONS: {
		/* a consumer dies at its 3rd pass while a producer keeps
		 * feeding it and another consumer */
		enum behaviour b = B_ACK;
		if (strcmp(sc->point, "nack.start") == 0 || strcmp(sc->point, "lease.given_back") == 0)
			b = B_NACK_FIRST;
		else if (strncmp(sc->point, "side.", 5) == 0)
			b = B_POISON;
		set_crash_arg(crash, sizeof(crash), sc->point, 3);
		ca[2] = (struct cons_arg){ .slot = 2, .ack = sc->ack, .b = b, .crash = crash };
		surv_cons[nsc++] = t_spawn(consumer, &ca[0]);
		pa[0] = (struct prod_arg){ 0, 1, 150, NULL, 0, 0 };
		pa[1] = (struct prod_arg){ 1, 1, 80, NULL, 0, 0 };
		surv_prod[0] = t_spawn(producer, &pa[0]);
		surv_prod[1] = t_spawn(producer, &pa[1]);
		reap_victim(t_spawn(consumer, &ca[2]), "victim consumer");
		if (!sc->ack)
			t_header(t_ledger_buf(l, 2), &vbuf.p, &vbuf.seq);
		/* only a fast consumer past its release may lose a message */
		if (!sc->ack && strcmp(sc->point, "recv.released") == 0)
			t_ledger_consumer_died(l, 2, 0);
		__atomic_store_n(&st->victim_dead, 1, __ATOMIC_SEQ_CST);
		surv_cons[nsc++] = t_spawn(consumer, &ca[1]);
		break;
	}
	case K_ADOPT2: {
		/* message 1 claimed by a consumer that dies; the next
		 * consumer receives 2..4 and then dies adopting 1 */
		for (uint64_t s = 1; s <= 4; s++)
			CHECK_RC(t_ledger_send(l, pq, pbuf, 0, s, IPCQ_NOWAIT), 0);
		ca[2] = (struct cons_arg){ .slot = 2, .ack = sc->ack, .b = B_ACK,
					   .crash = "recv.claimed:1" };
		reap_victim(t_spawn(consumer, &ca[2]), "first victim (recv.claimed)");
		set_crash_arg(crash2, sizeof(crash2), sc->point, 1);
		ca[3] = (struct cons_arg){ .slot = 3, .ack = sc->ack, .b = B_ACK, .crash = crash2 };
		reap_victim(t_spawn(consumer, &ca[3]), "second victim");
		struct ipcq_info in = t_info(pq);
		CHECK(in.participants == 1);
		__atomic_store_n(&st->victim_dead, 1, __ATOMIC_SEQ_CST);
		surv_cons[nsc++] = t_spawn(consumer, &ca[0]);
		pa[1] = (struct prod_arg){ 1, 1, 60, NULL, 0, 0 };
		surv_prod[1] = t_spawn(producer, &pa[1]);
		surv_cons[nsc++] = t_spawn(consumer, &ca[1]);
		break;
	}
	case K_SKIP2: {
		/* a producer dies with position 3 claimed; a consumer dies
		 * skipping it, in the recovery its attach runs */
		pa[0] = (struct prod_arg){ 0, 1, 60, "send.claimed:3", 0, 0 };
		reap_victim(t_spawn(producer, &pa[0]), "first victim (send.claimed)");
		t_ledger_producer_died(l, 0);
		CHECK(t_ledger_sent(l, 0) == 2);
		set_crash_arg(crash2, sizeof(crash2), sc->point, 1);
		ca[3] = (struct cons_arg){ .slot = 3, .ack = sc->ack, .b = B_ACK, .crash = crash2,
					   .recover_first = 1 };
		reap_victim(t_spawn(consumer, &ca[3]), "second victim");
		__atomic_store_n(&st->victim_dead, 1, __ATOMIC_SEQ_CST);
		surv_cons[nsc++] = t_spawn(consumer, &ca[0]);
		surv_cons[nsc++] = t_spawn(consumer, &ca[1]);
		pa[1] = (struct prod_arg){ 1, 1, 60, NULL, 0, 0 };
		surv_prod[1] = t_spawn(producer, &pa[1]);
		break;
	}
	case K_LEASE2: {
		/* an ack consumer holds 4 leases and dies acking the first;
		 * the next one dies taking one over in its attach */
		for (uint64_t s = 1; s <= 6; s++)
			CHECK_RC(t_ledger_send(l, pq, pbuf, 0, s, IPCQ_NOWAIT), 0);
		ca[2] = (struct cons_arg){ .slot = 2, .ack = 1, .b = B_HOLD_ACK, .hold = 4,
					   .crash = "ack.acking:1" };
		reap_victim(t_spawn(consumer, &ca[2]), "first victim (ack.acking)");
		CHECK(t_info(pq).leased == 4);
		set_crash_arg(crash2, sizeof(crash2), sc->point, 1);
		ca[3] = (struct cons_arg){ .slot = 3, .ack = 1, .b = B_ACK, .crash = crash2,
					   .recover_first = 1 };
		reap_victim(t_spawn(consumer, &ca[3]), "second victim");
		__atomic_store_n(&st->victim_dead, 1, __ATOMIC_SEQ_CST);
		surv_cons[nsc++] = t_spawn(consumer, &ca[0]);
		surv_cons[nsc++] = t_spawn(consumer, &ca[1]);
		pa[1] = (struct prod_arg){ 1, 1, 60, NULL, 0, 0 };
		surv_prod[1] = t_spawn(producer, &pa[1]);
		break;
	}
	case K_REPLAY: {
		/* three messages nacked into the side ring by a consumer that
		 * leaves; a replayer dies replaying them */
		for (uint64_t s = 1; s <= 6; s++)
			CHECK_RC(t_ledger_send(l, pq, pbuf, 0, s, IPCQ_NOWAIT), 0);
		ca[2] = (struct cons_arg){ .slot = 2, .ack = 1, .b = B_POISON, .limit = 3 };
		reap_ok(t_spawn(consumer, &ca[2]), "poisoning consumer");
		CHECK(t_info(pq).side_depth == 3);
		set_crash_arg(crash, sizeof(crash), sc->point, 1);
		reap_victim(t_spawn(replayer, crash), "replayer");
		__atomic_store_n(&st->victim_dead, 1, __ATOMIC_SEQ_CST);
		surv_cons[nsc++] = t_spawn(consumer, &ca[0]);
		surv_cons[nsc++] = t_spawn(consumer, &ca[1]);
		pa[1] = (struct prod_arg){ 1, 1, 60, NULL, 0, 0 };
		surv_prod[1] = t_spawn(producer, &pa[1]);
		break;
	}
	case K_NAMED: {
		/* named producer 0 dies; for dedup.takeover a second process
		 * dies taking the name over; then a restart takes it over and
		 * resumes from its own log, with consumers running */
		surv_cons[nsc++] = t_spawn(consumer, &ca[0]);
		pa[1] = (struct prod_arg){ 1, 1, 100, NULL, 0, 0 };
		surv_prod[1] = t_spawn(producer, &pa[1]);
		if (strcmp(sc->point, "dedup.takeover") == 0) {
			pa[0] = (struct prod_arg){ 0, 1, 60, "send.published:3", 1, 0 };
			reap_victim(t_spawn(producer, &pa[0]), "named producer (send.published)");
			set_crash_arg(crash, sizeof(crash), sc->point, 1);
			pa[2] = (struct prod_arg){ 0, 1, 60, crash, 1, 1 };
			reap_victim(t_spawn(producer, &pa[2]), "second holder of the name");
		} else {
			set_crash_arg(crash, sizeof(crash), sc->point, 3);
			pa[0] = (struct prod_arg){ 0, 1, 60, crash, 1, 0 };
			reap_victim(t_spawn(producer, &pa[0]), "named producer");
		}
		/* no t_ledger_producer_died(): dedup must leave no doubt */
		__atomic_store_n(&st->victim_dead, 1, __ATOMIC_SEQ_CST);
		pa[3] = (struct prod_arg){ 0, 1, 120, NULL, 1, 0 };
		surv_prod[0] = t_spawn(producer, &pa[3]);
		surv_cons[nsc++] = t_spawn(consumer, &ca[1]);
		break;
	}
	}

	struct expect ex;
	expect_for(sc, vbuf, &ex);

	/* Everything acknowledged must now arrive: survivors recover past
	 * the grace period; side-ring entries are replayed. */
	settle(label, pq, surv_prod, 2);
	struct ipcq_info in;
	__atomic_store_n(&st->stop, 1, __ATOMIC_SEQ_CST);
	for (unsigned i = 0; i < nsc; i++)
		reap_ok(surv_cons[i], "surviving consumer");

	/* Last sweep: a fresh consumer recovers and takes whatever is left
	 * (a dead producer's published but unacknowledged message). */
	struct ipcq *fq = NULL;
	CHECK_OK(ipcq_open(name, &fq));
	CHECK_RC(ipcq_attach(fq, IPCQ_ROLE_CONSUMER, NULL), 0);
	struct ipcq_recovery rep = { .size = sizeof(rep) };
	CHECK_OK(ipcq_recover(fq, &rep));
	uint64_t last[T_LEDGER_MAXP] = { 0 };
	for (;;) {
		struct t_msgref m;
		struct ipcq_msginfo mi;
		int rc = t_ledger_recv_one(l, fq, 4, 0, last, 20ll * GRACE_US * 1000, &m, &mi,
					   "final sweep");
		if (rc == -ETIMEDOUT)
			break;
		CHECK_OK(rc);
		note_reception(&m, &mi);
	}
	CHECK_RC(ipcq_close(fq), 0);
	in = t_info(pq);
	if (in.depth != 0 || in.leased != 0 || in.redeliverable != 0 || in.side_depth != 0 ||
	    in.participants != 1)
		T_FAIL("%s: queue not clean at the end: depth %" PRIu64 " leased %u redeliverable %u"
		       " side %u participants %u", label, in.depth, in.leased, in.redeliverable,
		       in.side_depth, in.participants);
	uint64_t lost = 0;
	if (t_ledger_check(l, label, &lost) != 0)
		T_FAIL("%s: message set wrong", label);
	/* exactly the redeliveries and losses the point's place in the
	 * protocol implies */
	check_expect(label, &ex, lost);
	printf("%-30s ok  sent %" PRIu64 "+%" PRIu64 " received %" PRIu64 " redelivered %" PRIu64
	       " (deliveries %u) lost-with-victim %" PRIu64 "  %.2f s\n", label, t_ledger_sent(l, 0),
	       t_ledger_sent(l, 1), l->received, l->redelivered, ex.deliveries, lost,
	       (double)(t_now_ns() - t0) / 1e9);
	fflush(stdout);
	free(pbuf);
	CHECK_RC(ipcq_close(pq), 0);
	CHECK_RC(ipcq_unlink(name), 0);
}

struct point {
	const char *name;
	char role;
};

#define T_POINT(n, r) { n, r },
static const struct point points[] = { IPCQ_CRASHPOINT_LIST(T_POINT) };

int main(int argc, char **argv)
{
	if (!T_CRASHPOINTS) {
		printf("crash points are compiled only into debug builds (asan, tsan)\n");
		return T_SKIP;
	}
	struct scen sc[96];
	unsigned n = 0;
	unsetenv("IPCQ_CRASH");
	st = (struct state *)t_shared(sizeof(*st));
	for (unsigned i = 0; i < T_NELEM(points); i++) {
		const char *p = points[i].name;
		CHECK(n + 3 <= T_NELEM(sc));
		switch (points[i].role) {
		case 'P':
			sc[n++] = (struct scen){ p, K_PROD, 0 };
			sc[n++] = (struct scen){ p, K_PROD, 1 };
			sc[n++] = (struct scen){ p, K_NAMED, 0 };
			break;
		case 'D':
			sc[n++] = (struct scen){ p, K_NAMED, 0 };
			sc[n++] = (struct scen){ p, K_NAMED, 1 };
			break;
		case 'C':
			if (strcmp(p, "recover.skipped") == 0) {
				sc[n++] = (struct scen){ p, K_SKIP2, 0 };
				sc[n++] = (struct scen){ p, K_SKIP2, 1 };
			} else if (strcmp(p, "recover.adopted") == 0 ||
				   strcmp(p, "recover.owner_dead") == 0 ||
				   strcmp(p, "recover.checked") == 0) {
				sc[n++] = (struct scen){ p, K_ADOPT2, 0 };
				sc[n++] = (struct scen){ p, K_ADOPT2, 1 };
			} else if (strcmp(p, "recv.adopted_copied") == 0) {
				sc[n++] = (struct scen){ p, K_ADOPT2, 0 };
			} else {
				sc[n++] = (struct scen){ p, K_CONS, 0 };
				sc[n++] = (struct scen){ p, K_CONS, 1 };
			}
			break;
		case 'A':
			if (strcmp(p, "recover.lease_taken") == 0)
				sc[n++] = (struct scen){ p, K_LEASE2, 1 };
			else if (strcmp(p, "ack.adopted_leased") == 0)
				sc[n++] = (struct scen){ p, K_ADOPT2, 1 };
			else
				sc[n++] = (struct scen){ p, K_CONS, 1 };
			break;
		case 'R':
			sc[n++] = (struct scen){ p, K_REPLAY, 0 };
			sc[n++] = (struct scen){ p, K_REPLAY, 1 };
			break;
		case 'K':
			break; /* the creator's points: t_create_crash */
		case 'G':
			break; /* the groups' points: t_groups_freeze */
		case 'Y':
			break; /* per-key order's points: t_keys */
		case 'L':
			break; /* priority lanes' points: t_priority */
		case 'X':
			break; /* recoverers racing: t_lease_pool */
		default:
			T_FAIL("crash point %s: unknown role '%c': teach this test about it", p,
			       points[i].role);
		}
	}
	/* t_crashpoints [POINT-PREFIX [fast|ack]] runs a subset */
	const char *only = argc > 1 ? argv[1] : NULL;
	t_watchdog(t_limit(240), "t_crashpoints", NULL);
	for (unsigned i = 0; i < n; i++)
		if ((!only || strncmp(sc[i].point, only, strlen(only)) == 0) &&
		    (argc < 3 || strcmp(argv[2], sc[i].ack ? "ack" : "fast") == 0))
			run(&sc[i]);
	printf("%u crash points, %u scenarios\n", (unsigned)T_NELEM(points), n);
	return 0;
}
