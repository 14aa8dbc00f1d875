/* Zero-copy crash recovery: producers killed holding a reservation or inside ipcq_commit, consumers killed inside ipcq_peek or holding peeked messages (fast and ack mode); then the whole message set is checked with the ledger. */
#include <sched.h>

/* the victim's work record (claimed positions) after its death */
#define T_INTERNALS
#include "testutil.h"

/* Crash points exist in debug builds only (asan, tsan); elsewhere skip. */
#if defined(IPCQ_DEBUG)
#define T_CRASHPOINTS 1
#else
#define T_CRASHPOINTS 0
#endif

#define EXIT_NOFIRE 3 /* a victim ran its whole course without dying */

#define GRACE_US 2000u
#define CAPACITY 16u
#define MAX_LEN 256u
#define MAXSEQ 60000u
#define MS 1000000ll
/* survivors' peek timeouts without progress that mean a wedged ring */
#define STALL_IDLE 1000u
/* A victim consumer's peeks (5 ms each) that time out in a row: after
 * STARVE_IDLE the survivors step aside (see starving); after NOFIRE_IDLE
 * nothing more will come and its point will not fire.  Counted, not
 * timed: a consumer that does not run does not time out. */
#define STARVE_IDLE 20u
#define NOFIRE_IDLE 2000u

enum kind {
	K_PROD_POINT, /* a producer dies at a crash point in ipcq_reserve/ipcq_commit */
	K_PROD_HOLD,  /* a producer is killed between ipcq_reserve and ipcq_commit */
	K_CONS_POINT, /* a consumer dies at a crash point in ipcq_peek/ipcq_release */
	K_CONS_HOLD,  /* a consumer is killed holding peeked (ack: leased) messages */
};

struct scen {
	const char *point; /* crash point with pass, or NULL for a kill by the parent */
	enum kind kind;
	int ack;           /* consumers in ack mode */
};

/* What the victim producer was doing: its current batch. */
enum { PH_NONE, PH_RESERVING, PH_RESERVED, PH_COMMITTING, PH_COMMITTED };

#define MAX_HELD 16

struct state {
	const char *name;
	struct t_ledger *l;
	int stop;          /* consumers leave */
	int victim_dead;   /* producers may stop after their quota */
	int holding;       /* the victim holds its reservation or its peeked messages */
	/* the victim producer's batch */
	uint64_t vb_first;
	uint32_t vb_want, vb_k, vb_used;
	int vb_phase;
	/* the victim consumer's held messages, and how they came back */
	unsigned nheld;
	struct t_msgref held[MAX_HELD];
	uint32_t held_seen[MAX_HELD], held_deliveries[MAX_HELD], held_flags[MAX_HELD];
	uint32_t max_deliveries; /* largest msginfo.deliveries received */
	int32_t v_index;   /* the victim's participant index */
	uint32_t v_claim;  /* positions its work record covered when it died */
	int waiting;       /* surviving producers inside a reserve that found the ring full */
	uint64_t idle;     /* survivors' peeks that timed out (5 ms, recovery due in each) */
	/* the victim consumer timed out STARVE_IDLE peeks in a row while the
	 * survivors took everything: they step aside until it gets one (or
	 * dies), so that it reaches its point however the peeks of the
	 * consumers are scheduled (the library promises no fairness) */
	int starving;
};

static struct state *st;

/* ---- producers ------------------------------------------------------------ */

struct prod_arg {
	uint32_t id;
	uint64_t quota;     /* send 1..quota, then go on until the victim is dead */
	const char *crash;  /* IPCQ_CRASH for a victim */
	uint64_t hold_at;   /* victim: hold the first reservation from this sequence on */
	int skips;          /* give up a slot of some reservations */
};

static int producer(void *arg)
{
	const struct prod_arg *a = (const struct prod_arg *)arg;
	struct t_ledger *l = st->l;
	int victim = a->crash != NULL || a->hold_at != 0;
	void *bufs[8];
	size_t lens[8];
	if (a->crash)
		setenv("IPCQ_CRASH", a->crash, 1);
	struct ipcq *q = t_open_attach(st->name, IPCQ_ROLE_PRODUCER, NULL);
	if (victim)
		st->v_index = t_info(q).participant_index;
	for (uint64_t seq = 1;;) {
		if (seq > a->quota && (victim || __atomic_load_n(&st->victim_dead, __ATOMIC_SEQ_CST)))
			break;
		if (seq + 8 > MAXSEQ)
			T_FAIL("producer %u: the victim never died", a->id);
		if (seq > a->quota)
			sched_yield(); /* feed a victim that has not reached its point yet */
		/* victims reserve several slots at a time, so that a death
		 * leaves a multi-slot reservation behind */
		unsigned want = victim ? 3 + t_msg_len(a->id, seq, 0, 5) : 1 + t_msg_len(a->id, seq, 0, 7);
		/* everything up to here may be in the queue from now on */
		__atomic_store_n(&l->attempt[a->id], seq + want - 1, __ATOMIC_SEQ_CST);
		if (victim) {
			st->vb_first = seq;
			st->vb_want = want;
			st->vb_k = st->vb_used = 0;
			__atomic_store_n(&st->vb_phase, PH_RESERVING, __ATOMIC_SEQ_CST);
		}
		int k = ipcq_reserve(q, want, bufs, IPCQ_NOWAIT);
		if (k == -EAGAIN) {
			/* full: wait, saying so (the parent waits for survivors
			 * that ran into what a victim holds) */
			if (!victim)
				__atomic_add_fetch(&st->waiting, 1, __ATOMIC_SEQ_CST);
			k = ipcq_reserve(q, want, bufs, IPCQ_FOREVER);
			if (!victim)
				__atomic_sub_fetch(&st->waiting, 1, __ATOMIC_SEQ_CST);
		}
		if (k < 1 || k > (int)want)
			T_FAIL("producer %u: ipcq_reserve(%u) returned %d (%s)", a->id, want, k,
			       ipcq_strerror(k));
		unsigned used = (unsigned)k;
		if (a->skips && k > 1 && seq % 3 == 0)
			used--;
		for (unsigned i = 0; i < used; i++) {
			lens[i] = t_msg_len(a->id, seq + i, l->min_len, l->max_len);
			t_fill(bufs[i], lens[i], a->id, seq + i);
		}
		if (victim) {
			st->vb_k = (uint32_t)k;
			st->vb_used = used;
			__atomic_store_n(&st->vb_phase, PH_RESERVED, __ATOMIC_SEQ_CST);
			if (a->hold_at && seq >= a->hold_at) {
				/* written, never committed: wait for the parent's SIGKILL */
				__atomic_store_n(&st->holding, 1, __ATOMIC_SEQ_CST);
				for (;;)
					pause();
			}
			__atomic_store_n(&st->vb_phase, PH_COMMITTING, __ATOMIC_SEQ_CST);
		}
		CHECK_RC(ipcq_commit(q, lens, used), 0);
		__atomic_store_n(&l->sent[a->id], seq + used - 1, __ATOMIC_SEQ_CST);
		if (victim)
			__atomic_store_n(&st->vb_phase, PH_COMMITTED, __ATOMIC_SEQ_CST);
		seq += used;
	}
	CHECK_RC(ipcq_close(q), 0);
	return victim ? EXIT_NOFIRE : 0;
}

/* ---- consumers ------------------------------------------------------------ */

struct cons_arg {
	unsigned slot;
	int ack;
	unsigned batch;     /* fast mode: peek up to this many */
	const char *crash;  /* IPCQ_CRASH for a victim */
	unsigned hold;      /* victim: messages to hold (ack mode) or 1 peek batch (fast) */
	unsigned hold_after;/* victim: messages processed before holding */
};

/* A message received again: if it is one the victim held, note how. */
static void note_held(const struct t_msgref *m, const struct ipcq_msginfo *mi)
{
	unsigned n = __atomic_load_n(&st->nheld, __ATOMIC_SEQ_CST);
	for (unsigned i = 0; i < n; i++)
		if (st->held[i].p == m->p && st->held[i].seq == m->seq) {
			__atomic_add_fetch(&st->held_seen[i], 1, __ATOMIC_SEQ_CST);
			__atomic_store_n(&st->held_deliveries[i], mi->deliveries, __ATOMIC_SEQ_CST);
			__atomic_store_n(&st->held_flags[i], mi->flags, __ATOMIC_SEQ_CST);
		}
	uint32_t d = __atomic_load_n(&st->max_deliveries, __ATOMIC_SEQ_CST);
	while (mi->deliveries > d &&
	       !__atomic_compare_exchange_n(&st->max_deliveries, &d, mi->deliveries, 0,
					    __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
		;
}

/* Check a peeked message in place (the victim's held ones are not counted). */
static struct t_msgref check_in_place(const struct ipcq_zmsg *z, const char *who)
{
	struct t_msgref m = { 0, 0 };
	struct t_ledger *l = st->l;
	if (z->len < 16 || z->len != z->info.len)
		T_FAIL("%s: peeked %zu bytes, info.len %" PRIu64, who, z->len, z->info.len);
	t_header(z->data, &m.p, &m.seq);
	if (m.p >= l->np || m.seq < 1 || m.seq > l->maxseq ||
	    z->len != t_msg_len(m.p, m.seq, l->min_len, l->max_len) ||
	    t_verify(z->data, z->len, m.p, m.seq) != 0)
		T_FAIL("%s: peeked message (%u, %" PRIu64 ") len %zu differs from what was written",
		       who, m.p, m.seq, z->len);
	return m;
}

/* Count a peeked message in the ledger (copied into the slot's buffer). */
static struct t_msgref count_msg(const struct cons_arg *a, uint64_t *last,
				 const struct ipcq_zmsg *z, const char *who)
{
	struct t_ledger *l = st->l;
	check_in_place(z, who);
	memcpy(t_ledger_buf(l, a->slot), z->data, z->len);
	struct t_msgref m = t_ledger_recv(l, a->slot, a->ack, last, (int)z->len, &z->info, who);
	/* anonymous producers: the library's sequence is the test's */
	if (z->info.seq != m.seq)
		T_FAIL("%s: message (%u, %" PRIu64 ") carries info.seq %" PRIu64, who, m.p, m.seq,
		       z->info.seq);
	note_held(&m, &z->info);
	return m;
}

static int consumer(void *arg)
{
	const struct cons_arg *a = (const struct cons_arg *)arg;
	int victim = a->crash != NULL || a->hold != 0;
	uint64_t last[T_LEDGER_MAXP] = { 0 };
	struct ipcq_zmsg z[16];
	char who[80];
	unsigned count = 0, round = 0, idle = 0, pause_round = 0;

	snprintf(who, sizeof(who), "%s consumer %u%s%s%s", a->ack ? "ack" : "fast", a->slot,
		 a->crash ? " crashing at " : "", a->crash ? a->crash : "",
		 a->hold ? " (to be killed holding)" : "");
	if (a->crash)
		setenv("IPCQ_CRASH", a->crash, 1);
	struct ipcq_attach_opts o = IPCQ_ATTACH_OPTS_INIT;
	o.flags = a->ack ? IPCQ_ATTACH_ACK : 0;
	o.prefetch = 16;
	struct ipcq *q = t_open_attach(st->name, IPCQ_ROLE_CONSUMER, &o);
	if (victim)
		st->v_index = t_info(q).participant_index;
	for (;; round++) {
		if (!victim && __atomic_load_n(&st->stop, __ATOMIC_SEQ_CST))
			break;
		if (victim && idle >= NOFIRE_IDLE)
			break; /* nothing more came: the point will not fire */
		if (!victim && __atomic_load_n(&st->starving, __ATOMIC_SEQ_CST) &&
		    !__atomic_load_n(&st->victim_dead, __ATOMIC_SEQ_CST)) {
			t_poll_pause(&pause_round); /* the victim's turn */
			continue;
		}
		pause_round = 0;
		unsigned want = a->ack ? 1 : 1 + round % (a->batch ? a->batch : 1);
		int n = ipcq_peek(q, z, want, 5 * MS);
		if (n == -ETIMEDOUT) {
			if (!victim)
				__atomic_add_fetch(&st->idle, 1, __ATOMIC_SEQ_CST);
			else if (++idle == STARVE_IDLE)
				__atomic_store_n(&st->starving, 1, __ATOMIC_SEQ_CST);
			continue;
		}
		if (n < 1 || n > (int)want)
			T_FAIL("%s: ipcq_peek(%u) returned %d (%s)", who, want, n, ipcq_strerror(n));
		if (victim) {
			idle = 0;
			__atomic_store_n(&st->starving, 0, __ATOMIC_SEQ_CST);
		}
		if (a->hold && count >= a->hold_after) {
			/* the victim: keep these messages and wait for SIGKILL */
			for (int i = 0; i < n; i++) {
				unsigned h = __atomic_load_n(&st->nheld, __ATOMIC_SEQ_CST);
				CHECK(h < MAX_HELD);
				st->held[h] = check_in_place(&z[i], who);
				__atomic_store_n(&st->nheld, h + 1, __ATOMIC_SEQ_CST);
			}
			if (a->ack) {
				/* leased: the release changes nothing, the ack never comes */
				CHECK_RC(ipcq_release(q), 0);
				if (st->nheld < a->hold)
					continue;
			}
			__atomic_store_n(&st->holding, 1, __ATOMIC_SEQ_CST);
			for (;;)
				pause();
		}
		if (a->ack) {
			/* the data lives in the lease until the ack */
			CHECK_RC(ipcq_release(q), 0);
			struct t_msgref m = count_msg(a, last, &z[0], who);
			CHECK_RC(t_ledger_ack(st->l, q, a->slot, m, z[0].info.token), 0);
		} else {
			for (int i = 0; i < n; i++)
				count_msg(a, last, &z[i], who);
			CHECK_RC(ipcq_release(q), 0);
		}
		count += (unsigned)n;
	}
	CHECK_RC(ipcq_close(q), 0);
	return victim ? EXIT_NOFIRE : 0;
}

/* ---- the parent ------------------------------------------------------------ */

static const char *cur_label = "";

/* The victim's work record, read from its participant entry once it is
 * dead (nobody else writes an entry; a new attach could take it over, so
 * this runs before anyone attaches again): positions it had claimed. */
static uint32_t victim_claim(int producer)
{
	struct t_peek pk;
	t_peek_open(&pk, st->name);
	const struct ipcq_shm_participant *e = t_peek_part(&pk, st->v_index);
	uint32_t op = __atomic_load_n(producer ? &e->prod_op : &e->cons_op, __ATOMIC_SEQ_CST);
	uint32_t n = __atomic_load_n(producer ? &e->prod_n : &e->cons_n, __ATOMIC_SEQ_CST);
	t_peek_close(&pk);
	return op == (producer ? IPCQ_OP_ENQUEUE : IPCQ_OP_DEQUEUE) ? n : 0;
}

/* Reap a victim: it must have died of SIGKILL.  The other children are
 * watched meanwhile. */
static void reap_victim(pid_t pid, const char *what)
{
	int s = t_wait_end_watch(pid, 60, what);
	if (WIFSIGNALED(s) && WTERMSIG(s) == SIGKILL)
		return;
	if (WIFEXITED(s) && WEXITSTATUS(s) == EXIT_NOFIRE)
		T_FAIL("%s: %s: the crash point never fired (IPCQ_DEBUG build?)", cur_label, what);
	T_FAIL("%s: %s: expected death by SIGKILL, status 0x%x", cur_label, what, s);
}

static void reap_ok(pid_t pid, const char *what)
{
	if (t_reap_watch(pid, 60, what) != 0)
		T_FAIL("%s: %s failed", cur_label, what);
}

/* Kill a victim that signalled it holds its reservation or messages,
 * once the others have run into what it holds: a reservation, or slots
 * peeked in fast mode, stop the ring (a surviving producer waits for
 * room with every published message taken, or with the ring full behind
 * the unpublished reservation); leases stop nothing, so there the ring
 * must have gone round twice while the victim held them. */
static void kill_holder(pid_t pid, const char *what, struct ipcq *pq, const struct scen *sc)
{
	T_AWAIT_KIDS(__atomic_load_n(&st->holding, __ATOMIC_SEQ_CST), 20);
	if (sc->kind == K_PROD_HOLD) {
		T_AWAIT_KIDS(__atomic_load_n(&st->waiting, __ATOMIC_SEQ_CST) > 0 &&
			     t_info(pq).depth == CAPACITY, 20);
	} else if (!sc->ack) {
		T_AWAIT_KIDS(__atomic_load_n(&st->waiting, __ATOMIC_SEQ_CST) > 0 &&
			     t_info(pq).depth == 0, 20);
	} else {
		uint64_t r0 = __atomic_load_n(&st->l->received, __ATOMIC_SEQ_CST);
		T_AWAIT_KIDS(__atomic_load_n(&st->l->received, __ATOMIC_SEQ_CST) >= r0 + 2 * CAPACITY,
			     20);
	}
	kill(pid, SIGKILL);
	reap_victim(pid, what);
}

static uint64_t stats_skipped(struct ipcq *q)
{
	struct ipcq_stats s;
	memset(&s, 0, sizeof(s));
	s.size = sizeof(s);
	CHECK_OK(ipcq_stats(q, &s, NULL, 0));
	return s.skipped;
}

/* The victim producer's batch: what must have arrived of it. */
static void check_victim_batch(const struct scen *sc, struct ipcq *pq)
{
	struct t_ledger *l = st->l;
	int phase = st->vb_phase;
	uint64_t first = st->vb_first, sent = t_ledger_sent(l, 0);
	unsigned want = st->vb_want, k = st->vb_k, used = st->vb_used;
	int all_published = sc->point && strncmp(sc->point, "send.published", 14) == 0;
	int expect_phase = sc->kind == K_PROD_HOLD ? PH_RESERVED
			 : strncmp(sc->point, "send.claimed", 12) == 0 ? PH_RESERVING
			 : PH_COMMITTING;
	if (phase != expect_phase)
		T_FAIL("%s: the victim died in phase %d, expected %d", cur_label, phase, expect_phase);
	if (sent != first - 1)
		T_FAIL("%s: the victim was told %" PRIu64 " messages were sent, its batch starts at %"
		       PRIu64, cur_label, sent, first);
	for (unsigned i = 0; i < want; i++) {
		const struct t_cell *c = t_ledger_cell(l, 0, first + i);
		unsigned expect = all_published && i < used ? 1 : 0;
		if (c->got != expect || c->done != expect)
			T_FAIL("%s: message %u of the dead producer's batch (seq %" PRIu64 ", %u"
			       " reserved, %u written): received %u times, processed %u, expected %u"
			       " (%s)", cur_label, i, first + i, k, used, c->got, c->done, expect,
			       expect ? "published before the death" : "never committed");
	}
	/* slots reserved and never published were passed over by recovery:
	 * exactly the ones its work record covered (all of them published
	 * at send.published, where the record only awaited its clearing) */
	if (phase != PH_RESERVING && st->v_claim != k)
		T_FAIL("%s: the victim's work record covers %u positions, its reserve returned %u",
		       cur_label, st->v_claim, k);
	if (st->v_claim == 0)
		T_FAIL("%s: the dead producer left no work record", cur_label);
	uint64_t skipped = stats_skipped(pq);
	uint64_t need = all_published ? 0 : st->v_claim;
	if (skipped != need)
		T_FAIL("%s: recovery skipped %" PRIu64 " slots, expected exactly %" PRIu64 " (the dead"
		       " producer's record covers %u)", cur_label, skipped, need, st->v_claim);
	printf("    victim batch seq %" PRIu64 "..%" PRIu64 ": %u reserved, %u written, %s;"
	       " %" PRIu64 " slot(s) skipped by recovery\n", first, first + want - 1, k, used,
	       all_published ? "published (commit never returned)" : "never delivered", skipped);
}

/* The victim consumer's messages: each delivered again, flagged. */
static void check_redelivery(const struct scen *sc)
{
	struct t_ledger *l = st->l;
	if (sc->kind == K_CONS_HOLD) {
		if (st->nheld == 0 || (sc->ack && st->nheld != 3))
			T_FAIL("%s: the victim held %u messages", cur_label, st->nheld);
		for (unsigned i = 0; i < st->nheld; i++) {
			const struct t_cell *c = t_ledger_cell(l, st->held[i].p, st->held[i].seq);
			if (st->held_seen[i] != 1 || st->held_deliveries[i] != 2 ||
			    st->held_flags[i] != IPCQ_MSG_REDELIVERED || c->done != 1)
				T_FAIL("%s: held message (%u, %" PRIu64 ") came back %u times, last with"
				       " deliveries %u flags 0x%x (processed %u); expected once, deliveries"
				       " 2, IPCQ_MSG_REDELIVERED", cur_label, st->held[i].p,
				       st->held[i].seq, st->held_seen[i], st->held_deliveries[i],
				       st->held_flags[i], c->done);
		}
		if (l->redelivered != st->nheld)
			T_FAIL("%s: %" PRIu64 " redeliveries, the victim held %u", cur_label,
			       l->redelivered, st->nheld);
	} else if (strncmp(sc->point, "recv.released", 13) == 0) {
		/* processed and released before the death: nothing comes back */
		if (l->redelivered != 0)
			T_FAIL("%s: %" PRIu64 " redeliveries after a death past the release", cur_label,
			       l->redelivered);
	} else {
		/* recv.claimed: every position of its claim (its work record;
		 * no slot is given up in these runs, so each holds a message);
		 * ack mode claims one at a time.  ack.leased: the one leased */
		unsigned want = strncmp(sc->point, "ack.leased", 10) == 0 ? 1 : st->v_claim;
		if (want == 0 || (sc->ack && want != 1))
			T_FAIL("%s: the victim's work record covers %u positions", cur_label,
			       st->v_claim);
		if (l->redelivered != want)
			T_FAIL("%s: %" PRIu64 " redeliveries, the victim had claimed exactly %u",
			       cur_label, l->redelivered, want);
	}
	if (l->redelivered && st->max_deliveries != 2)
		T_FAIL("%s: a message was delivered %u times after one death", cur_label,
		       st->max_deliveries);
}

static void run(const struct scen *sc)
{
	char label[96];
	uint64_t t0 = t_now_ns();
	snprintf(label, sizeof(label), "%s/%s%s", sc->point ? sc->point : "kill-holding",
		 sc->kind == K_PROD_HOLD || sc->kind == K_PROD_POINT ? "producer/" : "consumer/",
		 sc->ack ? "ack" : "fast");
	cur_label = label;

	const char *name = t_qname("zccrash");
	struct ipcq_config cfg = t_config(CAPACITY, MAX_LEN);
	cfg.grace_us = GRACE_US;
	cfg.side_capacity = 16;
	cfg.max_deliveries = 5;
	cfg.lease_capacity = 64;
	cfg.max_participants = 16;
	struct ipcq *pq = t_create(name, &cfg);

	memset(st, 0, sizeof(*st));
	st->name = name;
	st->l = t_ledger_new(2, MAXSEQ, 16, MAX_LEN);
	struct t_ledger *l = st->l;

	struct prod_arg pa[2];
	struct cons_arg ca[3];
	pid_t surv_prod[2] = { 0, 0 }, surv_cons[2] = { 0, 0 };
	int prod_victim = sc->kind == K_PROD_POINT || sc->kind == K_PROD_HOLD;
	for (unsigned i = 0; i < 2; i++)
		ca[i] = (struct cons_arg){ .slot = i, .ack = sc->ack, .batch = 8 };

	if (prod_victim) {
		/* producer 0 dies in a reservation; producer 1 and two
		 * consumers carry on around it */
		surv_cons[0] = t_spawn(consumer, &ca[0]);
		surv_cons[1] = t_spawn(consumer, &ca[1]);
		pa[1] = (struct prod_arg){ .id = 1, .quota = 300, .skips = 1 };
		surv_prod[1] = t_spawn(producer, &pa[1]);
		pa[0] = (struct prod_arg){ .id = 0, .quota = 200, .crash = sc->point, .skips = 1 };
		/* the survivors attach first: none may take over the dead
		 * victim's entry before its work record is read */
		T_AWAIT_KIDS(t_info(pq).participants == 3, 20);
		if (sc->kind == K_PROD_HOLD) {
			pa[0].hold_at = 40;
			kill_holder(t_spawn(producer, &pa[0]), "victim producer", pq, sc);
		} else {
			reap_victim(t_spawn(producer, &pa[0]), "victim producer");
		}
		st->v_claim = victim_claim(1);
	} else {
		/* a consumer dies while two producers feed it and another
		 * consumer; a second consumer joins after the death */
		ca[2] = (struct cons_arg){ .slot = 2, .ack = sc->ack, .batch = 8, .crash = sc->point };
		if (sc->kind == K_CONS_HOLD) {
			ca[2].hold = sc->ack ? 3 : 8;
			ca[2].hold_after = 10;
		}
		/* given-up slots only where the test knows exactly what the
		 * victim held: it may otherwise have claimed only those */
		int skips = sc->kind == K_CONS_HOLD;
		surv_cons[0] = t_spawn(consumer, &ca[0]);
		pa[0] = (struct prod_arg){ .id = 0, .quota = 200, .skips = skips };
		pa[1] = (struct prod_arg){ .id = 1, .quota = 100, .skips = skips };
		surv_prod[0] = t_spawn(producer, &pa[0]);
		surv_prod[1] = t_spawn(producer, &pa[1]);
		T_AWAIT_KIDS(t_info(pq).participants == 3, 20); /* as above */
		if (sc->kind == K_CONS_HOLD)
			kill_holder(t_spawn(consumer, &ca[2]), "victim consumer", pq, sc);
		else
			reap_victim(t_spawn(consumer, &ca[2]), "victim consumer");
		st->v_claim = victim_claim(0); /* before the next attach */
		surv_cons[1] = t_spawn(consumer, &ca[1]);
	}
	__atomic_store_n(&st->victim_dead, 1, __ATOMIC_SEQ_CST);

	/* Everything acknowledged must now arrive: survivors recover past
	 * the grace period, surviving producers finish.  A failed child
	 * ends the test at once; so does a queue where nothing moves while
	 * the survivors keep timing out (recovery never took the dead's
	 * work over), after STALL_IDLE of their 5 ms peeks. */
	uint64_t cursor[T_LEDGER_MAXP] = { 0 };
	uint64_t dl = t_now_ns() + 20ull * 1000000000ull;
	uint64_t seen = UINT64_MAX, idle0 = 0;
	unsigned round = 0;
	struct ipcq_info in;
	for (;;) {
		t_kids_check(0, label);
		unsigned running = 0;
		for (unsigned i = 0; i < 2; i++) {
			int s;
			if (!surv_prod[i])
				continue;
			pid_t r = waitpid(surv_prod[i], &s, WNOHANG);
			if (r == surv_prod[i]) {
				t_kids_forget_(surv_prod[i]);
				if (!t_status_ok(surv_prod[i], s))
					T_FAIL("%s: surviving producer failed", label);
				surv_prod[i] = 0;
			} else {
				running++;
			}
		}
		in = t_info(pq);
		if (!running && in.depth == 0 && in.leased == 0 && in.redeliverable == 0 &&
		    t_ledger_all_done(l, cursor))
			break;
		uint64_t moved = __atomic_load_n(&l->received, __ATOMIC_SEQ_CST) +
				 __atomic_load_n(&l->processed, __ATOMIC_SEQ_CST) + in.enqueued +
				 in.dequeued;
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
				T_FAIL("%s: nothing moved while the survivors timed out %u peeks (5 ms"
				       " each, recovery due in each): the ring is wedged", label,
				       STALL_IDLE);
			T_FAIL("%s: acknowledged messages never arrived (the ring is wedged?)", label);
		}
		t_poll_pause(&round);
	}
	__atomic_store_n(&st->stop, 1, __ATOMIC_SEQ_CST);
	for (unsigned i = 0; i < 2; i++)
		if (surv_cons[i])
			reap_ok(surv_cons[i], "surviving consumer");

	/* Last sweep: a fresh zero-copy consumer takes whatever is left. */
	{
		struct ipcq *fq = t_open_attach(name, IPCQ_ROLE_CONSUMER, NULL);
		struct ipcq_recovery rep = { .size = sizeof(rep) };
		CHECK_OK(ipcq_recover(fq, &rep));
		struct cons_arg fa = { .slot = 4, .ack = 0, .batch = 8 };
		uint64_t last[T_LEDGER_MAXP] = { 0 };
		struct ipcq_zmsg z[8];
		for (;;) {
			int n = ipcq_peek(fq, z, 8, 20ll * GRACE_US * 1000);
			if (n == -ETIMEDOUT)
				break;
			CHECK_OK(n);
			for (int i = 0; i < n; i++)
				count_msg(&fa, last, &z[i], "final sweep");
			CHECK_RC(ipcq_release(fq), 0);
		}
		CHECK_RC(ipcq_close(fq), 0);
	}
	in = t_info(pq);
	if (in.depth != 0 || in.leased != 0 || in.redeliverable != 0 || in.side_depth != 0 ||
	    in.participants != 0 || in.enqueued != in.dequeued)
		T_FAIL("%s: queue not clean at the end: depth %" PRIu64 " leased %u redeliverable %u"
		       " side %u participants %u", label, in.depth, in.leased, in.redeliverable,
		       in.side_depth, in.participants);
	uint64_t lost = 0;
	if (t_ledger_check(l, label, &lost) != 0)
		T_FAIL("%s: message set wrong", label);
	/* zero copy processes before it releases: nothing goes down with a
	 * dead consumer */
	if (lost != 0)
		T_FAIL("%s: %" PRIu64 " messages went down with the dead", label, lost);
	printf("%-40s ok  sent %" PRIu64 "+%" PRIu64 " received %" PRIu64 " redelivered %" PRIu64
	       "  %.2f s\n", label, t_ledger_sent(l, 0), t_ledger_sent(l, 1), l->received,
	       l->redelivered, (double)(t_now_ns() - t0) / 1e9);
	if (prod_victim) {
		check_victim_batch(sc, pq);
		if (l->redelivered != 0)
			T_FAIL("%s: %" PRIu64 " redeliveries, but no consumer died", label,
			       l->redelivered);
	} else {
		check_redelivery(sc);
		if (sc->kind == K_CONS_HOLD)
			printf("    %u held message(s) delivered again, deliveries 2, flagged\n",
			       st->nheld);
	}
	fflush(stdout);
	CHECK_RC(ipcq_close(pq), 0);
	CHECK_RC(ipcq_unlink(name), 0);
}

static const struct scen scens[] = {
	/* producers: inside ipcq_reserve (the claim), inside ipcq_commit
	 * (first payload written; all published), killed holding it */
	{ "send.claimed:1", K_PROD_POINT, 0 },
	{ "send.claimed:3", K_PROD_POINT, 0 },
	{ "send.claimed:3", K_PROD_POINT, 1 },
	{ "send.claimed:9", K_PROD_POINT, 0 },
	{ "send.written:1", K_PROD_POINT, 0 },
	{ "send.written:3", K_PROD_POINT, 0 },
	{ "send.written:3", K_PROD_POINT, 1 },
	{ "send.written:9", K_PROD_POINT, 1 },
	{ "send.published:1", K_PROD_POINT, 1 },
	{ "send.published:3", K_PROD_POINT, 0 },
	{ "send.published:3", K_PROD_POINT, 1 },
	{ "send.published:9", K_PROD_POINT, 0 },
	{ NULL, K_PROD_HOLD, 0 },
	{ NULL, K_PROD_HOLD, 1 },
	/* consumers: inside ipcq_peek (the claim; ack: the lease filled),
	 * inside ipcq_release, killed holding peeked or leased messages */
	{ "recv.claimed:1", K_CONS_POINT, 0 },
	{ "recv.claimed:3", K_CONS_POINT, 0 },
	{ "recv.claimed:3", K_CONS_POINT, 1 },
	{ "recv.claimed:8", K_CONS_POINT, 0 },
	{ "recv.claimed:8", K_CONS_POINT, 1 },
	{ "ack.leased:1", K_CONS_POINT, 1 },
	{ "ack.leased:3", K_CONS_POINT, 1 },
	{ "recv.released:3", K_CONS_POINT, 0 },
	{ "recv.released:8", K_CONS_POINT, 0 },
	{ NULL, K_CONS_HOLD, 0 },
	{ NULL, K_CONS_HOLD, 1 },
};

int main(int argc, char **argv)
{
	if (!T_CRASHPOINTS) {
		printf("crash points are compiled only into debug builds (asan, tsan)\n");
		return T_SKIP;
	}
	unsetenv("IPCQ_CRASH");
	st = (struct state *)t_shared(sizeof(*st));
	t_watchdog(t_limit(120), "t_zerocopy_crash", NULL);
	/* t_zerocopy_crash [LABEL-PREFIX] runs a subset */
	const char *only = argc > 1 ? argv[1] : NULL;
	unsigned ran = 0;
	for (unsigned i = 0; i < T_NELEM(scens); i++) {
		const char *p = scens[i].point ? scens[i].point : "kill-holding";
		if (only && strncmp(p, only, strlen(only)) != 0)
			continue;
		run(&scens[i]);
		ran++;
	}
	printf("%u scenarios\n", ran);
	return 0;
}
