/* A live participant is never robbed, however slow: a consumer stopped holding a claim (inside ipcq_recv or ipcq_peek), peeked slots, the slots of its last receive (IPCQ_ATTACH_LATE_RELEASE: the producer stops a lap on, at them), or ack-mode leases sits through many recovery passes of the others and keeps what it holds; resumed, it completes normally, and every message arrives once, never redelivered. */
#include "testutil.h"

#define GRACE_US 2000u
#define CAP 16u
#define MAXLEN 64u
#define PRELOAD 8u  /* messages in the queue before the victim starts */
#define TOTAL 64u   /* messages sent in all */
#define NSURV 2u
/*
 * How long the victim stays stopped, counted in recovery passes, not
 * time: every survivor must have had PASSES receives time out (each a
 * wait of RECV_TIMEOUT_NS, 3 grace periods, in which the library runs a
 * recovery pass that may adopt what the dead claimed) and made PASSES
 * ipcq_recover() calls, and the parent PASSES calls of its own.
 */
#define PASSES 20u
#define RECV_TIMEOUT_NS (3 * GRACE_US * 1000ll)

enum how {
	H_RECV_CLAIMED, /* frozen in ipcq_recv after its claim (ack: lease reserved) */
	H_ACK_LEASED,   /* frozen in ipcq_recv (ack) with the lease filled, slot unreleased */
	H_PEEK_CLAIMED, /* frozen in ipcq_peek after its claim */
	H_PEEK_HELD,    /* stopped after ipcq_peek returned, before ipcq_release */
	H_LEASE_HELD,   /* stopped holding unacknowledged leases */
	H_LATE_HELD,    /* stopped after ipcq_recv_batch returned, its slots unreleased
			 * (IPCQ_ATTACH_LATE_RELEASE) */
};

struct scen {
	const char *label;
	enum how how;
	int ack;
	int freeze; /* needs a freeze point (debug builds) */
};

struct state {
	const char *name;
	int ack;
	enum how how;
	int stop;                      /* survivors leave */
	uint32_t got[TOTAL + 1];       /* receptions of each sequence, every consumer */
	uint64_t received;
	uint64_t timeouts[NSURV], recovers[NSURV];
	unsigned held;                 /* the victim's messages when it stopped itself */
	uint64_t vseq[4];              /* what the victim received, in order */
	unsigned vn;
};

static struct state *st;
static const char *cur = "";

/* Check a received message (sequence from its header, see t_fill()):
 * content, length, a first delivery, never received before. */
static uint64_t check_msg(const void *data, size_t len, const struct ipcq_msginfo *mi,
			  const char *who)
{
	uint32_t p;
	uint64_t seq;
	if (len < 16 || len != mi->len)
		T_FAIL("[%s] %s: length %zu, info.len %" PRIu64, cur, who, len, mi->len);
	t_header(data, &p, &seq);
	if (p != 0 || seq < 1 || seq > TOTAL || len != t_msg_len(0, seq, 16, MAXLEN) ||
	    t_verify(data, len, 0, seq) != 0)
		T_FAIL("[%s] %s: message (%u, %" PRIu64 ") len %zu was never sent so", cur, who, p,
		       seq, len);
	if (mi->deliveries != 1 || (mi->flags & IPCQ_MSG_REDELIVERED))
		T_FAIL("[%s] %s: message %" PRIu64 " redelivered (deliveries %u flags 0x%x): a live"
		       " consumer's message was taken from it", cur, who, seq, mi->deliveries,
		       mi->flags);
	if (__atomic_fetch_add(&st->got[seq], 1, __ATOMIC_SEQ_CST) != 0)
		T_FAIL("[%s] %s: message %" PRIu64 " received twice", cur, who, seq);
	__atomic_add_fetch(&st->received, 1, __ATOMIC_SEQ_CST);
	return seq;
}

/* A recovery report while nobody but the ghost (holding nothing) is
 * dead: it must be empty.  (pending counts only work of the dead waiting
 * for an adopter, see ipcq.h.) */
static void check_report(const struct ipcq_recovery *r, int rc, const char *who)
{
	if (rc != 0 || r->dead || r->skipped || r->redelivered || r->completed || r->poisoned ||
	    r->freed || r->pending)
		T_FAIL("[%s] %s: ipcq_recover returned %d with dead %u skipped %" PRIu64
		       " redelivered %" PRIu64 " completed %" PRIu64 " poisoned %" PRIu64
		       " freed %" PRIu64 " pending %" PRIu64 ", while every participant lives",
		       cur, who, rc, r->dead, r->skipped, r->redelivered, r->completed, r->poisoned,
		       r->freed, r->pending);
}

static struct ipcq *consumer_handle(void)
{
	struct ipcq_attach_opts o = IPCQ_ATTACH_OPTS_INIT;
	o.flags = st->ack ? IPCQ_ATTACH_ACK : 0;
	if (st->how == H_LATE_HELD)
		o.flags = IPCQ_ATTACH_LATE_RELEASE;
	o.prefetch = 8;
	return t_open_attach(st->name, IPCQ_ROLE_CONSUMER, &o);
}

static void victim_got(uint64_t seq)
{
	if (st->vn < T_NELEM(st->vseq))
		st->vseq[st->vn++] = seq;
}

/* The slow consumer.  Frozen by the library at its freeze point, or
 * stopping itself; when resumed it must complete what it was doing. */
static int victim(void *arg)
{
	(void)arg;
	uint8_t buf[MAXLEN], copy[4][MAXLEN];
	struct ipcq_msginfo mi;
	struct ipcq_zmsg z[4];
	uint64_t tokens[4];
	if (st->how == H_RECV_CLAIMED || st->how == H_PEEK_CLAIMED)
		t_freeze_at("recv.claimed", 1);
	else if (st->how == H_ACK_LEASED)
		t_freeze_at("ack.leased", 1);
	struct ipcq *q = consumer_handle();
	switch (st->how) {
	case H_RECV_CLAIMED:
	case H_ACK_LEASED: {
		int rc = ipcq_recv(q, buf, sizeof(buf), &mi, IPCQ_FOREVER);
		CHECK_OK(rc);
		victim_got(check_msg(buf, (size_t)rc, &mi, "resumed victim"));
		if (st->ack)
			CHECK_RC(ipcq_ack(q, mi.token), 0);
		break;
	}
	case H_PEEK_CLAIMED:
	case H_PEEK_HELD: {
		int n = ipcq_peek(q, z, 4, IPCQ_FOREVER);
		CHECK(n >= 1 && n <= 4);
		if (st->how == H_PEEK_HELD) {
			for (int i = 0; i < n; i++)
				memcpy(copy[i], z[i].data, z[i].len);
			st->held = (unsigned)n;
			raise(SIGSTOP);
			/* the slots are still ours: nothing overwrote them */
			for (int i = 0; i < n; i++)
				if (memcmp(copy[i], z[i].data, z[i].len) != 0)
					T_FAIL("[%s] peeked message %d changed while its consumer was"
					       " stopped", cur, i);
		}
		for (int i = 0; i < n; i++)
			victim_got(check_msg(z[i].data, z[i].len, &z[i].info, "resumed victim"));
		CHECK_RC(ipcq_release(q), 0);
		break;
	}
	case H_LATE_HELD: {
		struct ipcq_buf b[4];
		struct ipcq_msginfo mis[4];
		for (int i = 0; i < 4; i++)
			b[i] = (struct ipcq_buf){ copy[i], MAXLEN };
		int n = ipcq_recv_batch(q, b, mis, 4, IPCQ_FOREVER);
		CHECK(n >= 1 && n <= 4);
		for (int i = 0; i < n; i++)
			victim_got(check_msg(copy[i], b[i].len, &mis[i], "victim"));
		st->held = (unsigned)n;
		raise(SIGSTOP);
		/* resumed: the next receive releases the run first */
		int rc = ipcq_recv(q, buf, sizeof(buf), &mi, IPCQ_NOWAIT);
		if (rc >= 0)
			victim_got(check_msg(buf, (size_t)rc, &mi, "resumed victim"));
		else
			CHECK_RC(rc, -EAGAIN);
		break;
	}
	case H_LEASE_HELD: {
		unsigned n = 3;
		for (unsigned i = 0; i < n; i++) {
			int rc = ipcq_recv(q, buf, sizeof(buf), &mi, IPCQ_FOREVER);
			CHECK_OK(rc);
			victim_got(check_msg(buf, (size_t)rc, &mi, "victim"));
			tokens[i] = mi.token;
		}
		st->held = n;
		raise(SIGSTOP);
		/* its leases are still its own */
		for (unsigned i = 0; i < n; i++)
			CHECK_RC(ipcq_ack(q, tokens[i]), 0);
		break;
	}
	}
	CHECK_RC(ipcq_close(q), 0);
	return 0;
}

/* A participant that dies attached, holding nothing: with it, every
 * recovery pass has a dead participant to look at, and so runs all of
 * its steps (lease and side-ring recovery run only when someone is dead);
 * it leaves no work, so the reports stay empty. */
static int ghost(void *arg)
{
	(void)arg;
	struct ipcq *q = consumer_handle();
	(void)q;
	raise(SIGKILL);
	return 1;
}

/* The others: receive, and call ipcq_recover() after every receive. */
static int survivor(void *arg)
{
	unsigned id = (unsigned)(uintptr_t)arg;
	char who[32];
	uint8_t buf[MAXLEN];
	snprintf(who, sizeof(who), "survivor %u", id);
	struct ipcq *q = consumer_handle();
	while (!__atomic_load_n(&st->stop, __ATOMIC_SEQ_CST)) {
		struct ipcq_msginfo mi;
		int rc = ipcq_recv(q, buf, sizeof(buf), &mi, RECV_TIMEOUT_NS);
		if (rc == -ETIMEDOUT) {
			__atomic_add_fetch(&st->timeouts[id], 1, __ATOMIC_SEQ_CST);
		} else {
			if (rc < 0)
				T_FAIL("[%s] %s: ipcq_recv: %d (%s)", cur, who, rc, ipcq_strerror(rc));
			check_msg(buf, (size_t)rc, &mi, who);
			if (st->ack)
				CHECK_RC(ipcq_ack(q, mi.token), 0);
		}
		struct ipcq_recovery rep = { .size = sizeof(rep) };
		check_report(&rep, ipcq_recover(q, &rep), who);
		__atomic_add_fetch(&st->recovers[id], 1, __ATOMIC_SEQ_CST);
	}
	CHECK_RC(ipcq_close(q), 0);
	return 0;
}

/* Send the next message if there is room; 1 when one was sent. */
static int send_next(struct ipcq *pq, uint64_t *sent)
{
	uint8_t buf[MAXLEN];
	if (*sent >= TOTAL)
		return 0;
	uint64_t seq = *sent + 1;
	size_t len = t_msg_len(0, seq, 16, MAXLEN);
	t_fill(buf, len, 0, seq);
	int rc = ipcq_send(pq, buf, len, IPCQ_NOWAIT);
	if (rc == -EAGAIN)
		return 0;
	CHECK_RC(rc, 0);
	*sent = seq;
	return 1;
}

static int enough_passes(unsigned parent_passes)
{
	if (parent_passes < PASSES)
		return 0;
	for (unsigned i = 0; i < NSURV; i++)
		if (__atomic_load_n(&st->timeouts[i], __ATOMIC_SEQ_CST) < PASSES ||
		    __atomic_load_n(&st->recovers[i], __ATOMIC_SEQ_CST) < PASSES)
			return 0;
	return 1;
}

static void run(const struct scen *sc)
{
	uint64_t t0 = t_now_ns();
	cur = sc->label;
	memset(st, 0, sizeof(*st));
	st->name = t_qname("notrobbed");
	st->ack = sc->ack;
	st->how = sc->how;
	struct ipcq_config cfg = t_config(CAP, MAXLEN);
	cfg.grace_us = GRACE_US;
	cfg.lease_capacity = 32;
	cfg.max_participants = 8;
	struct ipcq *pq = t_create(st->name, &cfg);
	CHECK_RC(ipcq_attach(pq, IPCQ_ROLE_PRODUCER, NULL), 0);
	uint64_t sent = 0;
	while (sent < PRELOAD)
		CHECK(send_next(pq, &sent));

	/* the victim takes the first messages and stops there */
	pid_t v = t_spawn(victim, NULL);
	t_wait_stopped(v, 20, "victim");
	/* it holds ring slots that it has not received yet (a held lease's
	 * or late-released slot's message is in vseq, checked below) */
	unsigned held_ring = sc->how != H_LEASE_HELD && sc->how != H_LATE_HELD;
	struct ipcq_info in0 = t_info(pq);
	if (in0.dequeued == 0)
		T_FAIL("[%s] the victim stopped without a claim", cur);

	t_wait_crashed(t_spawn(ghost, NULL), 20, "ghost");

	/* the others keep receiving, waiting and recovering; so does the
	 * parent, sending more while there is room */
	pid_t s[NSURV];
	for (unsigned i = 0; i < NSURV; i++)
		s[i] = t_spawn(survivor, (void *)(uintptr_t)i);
	T_AWAIT_KIDS(t_info(pq).participants == 2 + NSURV, 20);
	unsigned passes = 0, round = 0;
	uint64_t dl = t_now_ns() + 60ull * 1000000000ull;
	while (!enough_passes(passes)) {
		t_kids_check(v, cur);
		send_next(pq, &sent);
		struct ipcq_recovery rep = { .size = sizeof(rep) };
		check_report(&rep, ipcq_recover(pq, &rep), "parent");
		passes++;
		if (t_proc_state(v) != 'T')
			T_FAIL("[%s] the victim is not stopped any more (state %c)", cur,
			       t_proc_state(v));
		/* what the victim holds is its own: nobody else got it, the
		 * queue never took anything over */
		for (unsigned i = 0; i < st->vn; i++)
			if (st->got[st->vseq[i]] != 1)
				T_FAIL("[%s] message %" PRIu64 ", leased to the stopped victim, was"
				       " received again", cur, st->vseq[i]);
		if (held_ring && st->got[1] != 0)
			T_FAIL("[%s] message 1, claimed by the stopped victim, was received by"
			       " another consumer", cur);
		struct ipcq_stats qs = t_stats(pq);
		if (qs.recoveries || qs.skipped || qs.redelivered || qs.completed || qs.freed ||
		    qs.info.redeliverable)
			T_FAIL("[%s] the queue took over work of a live consumer: recoveries %" PRIu64
			       " skipped %" PRIu64 " redelivered %" PRIu64 " completed %" PRIu64
			       " freed %" PRIu64 " redeliverable %u", cur, qs.recoveries, qs.skipped,
			       qs.redelivered, qs.completed, qs.freed, qs.info.redeliverable);
		if ((sc->ack && qs.info.leased < (sc->how == H_LEASE_HELD ? st->held : 0u)) ||
		    qs.info.participants != 2 + NSURV)
			T_FAIL("[%s] leased %u, participants %u while the victim is stopped", cur,
			       qs.info.leased, qs.info.participants);
		if (t_now_ns() > dl)
			T_FAIL("[%s] the survivors never made %u recovery passes (%" PRIu64 "/%" PRIu64
			       " timeouts, %" PRIu64 "/%" PRIu64 " recover calls)", cur, PASSES,
			       st->timeouts[0], st->timeouts[1], st->recovers[0], st->recovers[1]);
		t_poll_pause(&round);
	}
	uint64_t stopped_ns = t_now_ns() - t0;
	/* late release: the victim's slots, the ring's first, stayed its own,
	 * so the producer stopped a lap on, right there */
	if (sc->how == H_LATE_HELD && sent != CAP)
		T_FAIL("[%s] %" PRIu64 " messages sent while the victim held the first %u slots:"
		       " expected the producer to stop at %u", cur, sent, st->held, CAP);

	/* resumed, the victim completes normally */
	t_resume(v);
	if (t_reap_watch(v, 20, "resumed victim") != 0)
		T_FAIL("[%s] the resumed victim failed", cur);
	if (st->vn == 0 || st->vseq[0] != 1)
		T_FAIL("[%s] the victim's first message is %" PRIu64 ", expected 1 (the one it"
		       " held)", cur, st->vn ? st->vseq[0] : 0);

	/* the rest arrives, each message once */
	T_AWAIT_KIDS((send_next(pq, &sent), sent == TOTAL &&
		      __atomic_load_n(&st->received, __ATOMIC_SEQ_CST) == TOTAL), 20);
	__atomic_store_n(&st->stop, 1, __ATOMIC_SEQ_CST);
	for (unsigned i = 0; i < NSURV; i++)
		if (t_reap_watch(s[i], 20, "survivor") != 0)
			T_FAIL("[%s] survivor %u failed", cur, i);
	for (uint64_t q = 1; q <= TOTAL; q++)
		if (st->got[q] != 1)
			T_FAIL("[%s] message %" PRIu64 " received %u times", cur, q, st->got[q]);
	struct ipcq_stats qs = t_stats(pq);
	if (qs.info.depth || qs.info.leased || qs.info.redeliverable || qs.recoveries ||
	    qs.redelivered || qs.info.participants != 1)
		T_FAIL("[%s] queue not clean: depth %" PRIu64 " leased %u redeliverable %u"
		       " recoveries %" PRIu64 " redelivered %" PRIu64 " participants %u", cur,
		       qs.info.depth, qs.info.leased, qs.info.redeliverable, qs.recoveries,
		       qs.redelivered, qs.info.participants);
	printf("%-44s ok: stopped through %u+%" PRIu64 "+%" PRIu64 " recovery passes (%.2f s),"
	       " %u messages once each, %.2f s\n", cur, passes,
	       st->recovers[0] + st->recovers[1], st->timeouts[0] + st->timeouts[1],
	       (double)stopped_ns / 1e9, TOTAL, (double)(t_now_ns() - t0) / 1e9);
	fflush(stdout);
	CHECK_RC(ipcq_close(pq), 0);
	CHECK_RC(ipcq_unlink(st->name), 0);
}

int main(void)
{
	static const struct scen sc[] = {
		{ "fast ipcq_recv, frozen after its claim", H_RECV_CLAIMED, 0, 1 },
		{ "ack ipcq_recv, frozen after its claim", H_RECV_CLAIMED, 1, 1 },
		{ "ack ipcq_recv, frozen with the lease filled", H_ACK_LEASED, 1, 1 },
		{ "ipcq_peek, frozen after its claim", H_PEEK_CLAIMED, 0, 1 },
		{ "stopped holding peeked slots", H_PEEK_HELD, 0, 0 },
		{ "ack, stopped holding 3 leases", H_LEASE_HELD, 1, 0 },
		{ "late release, stopped holding its last batch", H_LATE_HELD, 0, 0 },
	};
	unsetenv("IPCQ_CRASH");
	unsetenv("IPCQ_FREEZE");
	st = (struct state *)t_shared(sizeof(*st));
	t_watchdog(t_limit(120), "t_live_not_robbed", NULL);
	unsigned ran = 0;
	for (unsigned i = 0; i < T_NELEM(sc); i++) {
		if (sc[i].freeze && !T_HAVE_POINTS)
			continue;
		run(&sc[i]);
		ran++;
	}
	if (ran < T_NELEM(sc)) {
		printf("ran %u of %u scenarios: the others need freeze points (debug builds: asan,"
		       " tsan)\n", ran, (unsigned)T_NELEM(sc));
		return T_SKIP;
	}
	return 0;
}
