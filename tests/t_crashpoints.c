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

struct state {
	const char *name;
	struct t_ledger *l;
	int stop;        /* consumers leave */
	int victim_dead; /* producers may stop after their quota */
	int ack;
};

static struct state *st;

#define GRACE_US 2000u
#define CAPACITY 16u
#define MAXSEQ 60000u

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

static int consumer(void *arg)
{
	const struct cons_arg *a = (const struct cons_arg *)arg;
	struct t_ledger *l = st->l;
	char who[64];
	uint64_t last[T_LEDGER_MAXP] = { 0 };
	struct t_msgref held[64];
	uint64_t tokens[64];
	unsigned nheld = 0, count = 0;
	uint64_t idle_since = t_now_ns();

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
		if (a->crash && t_now_ns() - idle_since > 10ull * 1000000000ull)
			break; /* nothing more came: the point will not fire */
		struct t_msgref m;
		struct ipcq_msginfo mi;
		int rc = t_ledger_recv_one(l, q, a->slot, a->ack, last, 5000000, &m, &mi, who);
		if (rc == -ETIMEDOUT)
			continue;
		if (rc < 0)
			T_FAIL("%s: ipcq_recv: %d (%s)", who, rc, ipcq_strerror(rc));
		idle_since = t_now_ns();
		count++;
		if (!a->ack)
			continue;
		switch (a->b) {
		case B_ACK:
			CHECK_RC(t_ledger_ack(l, q, a->slot, m, mi.token), 0);
			break;
		case B_NACK_FIRST:
			if (mi.deliveries == 1)
				CHECK_RC(ipcq_nack(q, mi.token, IPCQ_NACK_REQUEUE), 0);
			else
				CHECK_RC(t_ledger_ack(l, q, a->slot, m, mi.token), 0);
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

/* Reap a victim: it must have died of SIGKILL at its crash point. */
static void reap_victim(pid_t pid, const char *what)
{
	int s;
	while (waitpid(pid, &s, 0) < 0)
		if (errno != EINTR)
			T_FAIL("waitpid: %s", strerror(errno));
	t_kids_forget_(pid);
	if (WIFSIGNALED(s) && WTERMSIG(s) == SIGKILL)
		return;
	if (WIFEXITED(s) && WEXITSTATUS(s) == EXIT_NOFIRE)
		T_FAIL("%s: %s: the crash point never fired (IPCQ_DEBUG build?)", cur_label, what);
	T_FAIL("%s: %s: expected death by SIGKILL at the crash point, status 0x%x", cur_label, what, s);
}

static void reap_ok(pid_t pid, const char *what)
{
	if (t_reap(pid) != 0)
		T_FAIL("%s: %s failed", cur_label, what);
}

static void set_crash_arg(char *buf, size_t n, const char *point, unsigned pass)
{
	snprintf(buf, n, "%s:%u", point, pass);
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
		if (strcmp(sc->point, "nack.start") == 0)
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
		t_ledger_consumer_died(l, 2, sc->ack);
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
		t_ledger_consumer_died(l, 2, sc->ack);
		set_crash_arg(crash2, sizeof(crash2), sc->point, 1);
		ca[3] = (struct cons_arg){ .slot = 3, .ack = sc->ack, .b = B_ACK, .crash = crash2 };
		reap_victim(t_spawn(consumer, &ca[3]), "second victim");
		t_ledger_consumer_died(l, 3, sc->ack);
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
		t_ledger_consumer_died(l, 3, sc->ack);
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
		t_ledger_consumer_died(l, 2, 1);
		CHECK(t_info(pq).leased == 4);
		set_crash_arg(crash2, sizeof(crash2), sc->point, 1);
		ca[3] = (struct cons_arg){ .slot = 3, .ack = 1, .b = B_ACK, .crash = crash2,
					   .recover_first = 1 };
		reap_victim(t_spawn(consumer, &ca[3]), "second victim");
		t_ledger_consumer_died(l, 3, 1);
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

	for (unsigned i = 0; i < 2; i++)
		if (surv_prod[i])
			reap_ok(surv_prod[i], "surviving producer");

	/* Everything acknowledged must now arrive: survivors recover past
	 * the grace period; side-ring entries are replayed. */
	uint64_t cursor[T_LEDGER_MAXP] = { 0 };
	uint64_t dl = t_now_ns() + 20ull * 1000000000ull;
	unsigned round = 0;
	struct ipcq_info in;
	for (;;) {
		in = t_info(pq);
		if (in.side_depth > 0) {
			int rc = ipcq_poison_replay(pq, IPCQ_POISON_ALL);
			if (rc < 0 && rc != -EAGAIN)
				T_FAIL("%s: ipcq_poison_replay: %d (%s)", label, rc, ipcq_strerror(rc));
		}
		if (in.side_depth == 0 && in.depth == 0 && in.leased == 0 && in.redeliverable == 0 &&
		    t_ledger_all_done(l, cursor))
			break;
		if (t_now_ns() > dl) {
			fprintf(stderr, "%s: depth %" PRIu64 " leased %u redeliverable %u side %u\n",
				label, in.depth, in.leased, in.redeliverable, in.side_depth);
			t_ledger_print_missing(l, 10);
			T_FAIL("%s: acknowledged messages never arrived", label);
		}
		t_poll_pause(&round);
	}
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
	/* fast mode loses at most the message a consumer died with after
	 * its release; ack mode loses nothing */
	if (lost > (sc->ack ? 0u : 1u))
		T_FAIL("%s: %" PRIu64 " messages went down with dead consumers", label, lost);
	printf("%-30s ok  sent %" PRIu64 "+%" PRIu64 " received %" PRIu64 " redelivered %" PRIu64
	       " lost-with-victim %" PRIu64 "  %.2f s\n", label, t_ledger_sent(l, 0),
	       t_ledger_sent(l, 1), l->received, l->redelivered, lost,
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
