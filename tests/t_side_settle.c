/* A finished move to the side ring stays finished: recovery takes only a dead participant's move record for a dead claimer's (a live consumer that lost its claim on the position and moves another message is not it); a purge or replay of an entry whose mover died before freeing its source frees that source first (nothing comes back), and passes over an entry whose live mover has not freed it yet (-EINPROGRESS for one id); a quarantined adopted message is noted consumed for its named producer before it leaves the slot. */
#define T_INTERNALS
#include "testutil.h"
#include "sideutil.h"

/* Receives wait this long: many grace periods (10 ms), so that a dead
 * consumer's claim is adopted and delivered, or shown not to be there. */
#define WAIT_NS (200 * 1000000LL)

/* The participant entry of process pid, and its offset in the segment. */
static uint64_t part_off(const char *name, pid_t pid)
{
	struct t_peek pk;
	t_peek_open(&pk, name);
	for (uint32_t i = 0; i < pk.h.max_participants; i++) {
		const struct ipcq_shm_participant *e = t_peek_part(&pk, (int32_t)i);
		if (__atomic_load_n(&e->pid, __ATOMIC_RELAXED) == (uint32_t)pid &&
		    __atomic_load_n(&e->state, __ATOMIC_RELAXED) == IPCQ_PART_ACTIVE) {
			uint64_t off = pk.h.off_participants +
				       (uint64_t)i * sizeof(struct ipcq_shm_participant);
			t_peek_close(&pk);
			return off;
		}
	}
	T_FAIL("no participant entry of pid %d", (int)pid);
}

/* ---- 1. a live consumer's move record is not the dead claimer's --------- */

static int dies_claimed(void *arg)
{
	(void)arg;
	recv_stops_at("recv.claimed", 1, IPCQ_NOWAIT);
}

/* ipcq_recover(), stopped where it has found the owner of position 0 dead
 * and not yet asked whether that owner had moved its message on. */
static int recoverer(void *arg)
{
	(void)arg;
	t_freeze_at("recover.owner_dead", 1);
	struct ipcq *r;
	CHECK_OK(ipcq_open(qn, &r));
	recover(r);
	CHECK_OK(ipcq_close(r));
	return 0;
}

/* A fast consumer whose next message (2) has expired: it moves it into the
 * side ring and stops once the entry is FULL, the slot not yet released.
 * Resumed, it passes message 2 and may adopt message 1 (*arg: 1 when it
 * received it). */
static int mover(void *arg)
{
	int *got1 = arg;
	t_freeze_at("side.written", 1);
	struct ipcq *c = t_open_attach(qn, IPCQ_ROLE_CONSUMER, NULL);
	uint8_t buf[MAXLEN];
	struct ipcq_msginfo mi;
	memset(&mi, 0, sizeof(mi));
	int rc = ipcq_recv(c, buf, sizeof(buf), &mi, IPCQ_NOWAIT);
	if (rc >= 0) {
		CHECK(is_msg(buf, rc, 1) && mi.deliveries == 2 && (mi.flags & IPCQ_MSG_REDELIVERED));
		*got1 = 1;
	} else {
		CHECK_RC(rc, -EAGAIN);
	}
	CHECK_OK(ipcq_close(c));
	return 0;
}

static void live_mover_not_claimer(void)
{
	struct ipcq_config cfg = t_config(8, MAXLEN);
	cfg.side_capacity = 2;
	cfg.flags = IPCQ_CF_EXPIRY | IPCQ_CF_EXPIRED_TO_SIDE;
	qn = t_qname("settle_live");
	struct ipcq *q = t_create(qn, &cfg);
	struct ipcq *p = t_open_attach(qn, IPCQ_ROLE_PRODUCER, NULL);
	put(p, 1);                       /* position 0 */
	put_ttl(p, 2, 1000000);          /* position 1, expires in 1 ms */
	usleep(20 * 1000);
	/* D claims position 0 (message 1) and dies */
	t_reap_killed(t_spawn(dies_claimed, NULL), SIGKILL);
	/* R finds position 0's owner dead: no live record covers it */
	pid_t r = t_spawn(recoverer, NULL);
	t_wait_stopped(r, 30, "recoverer at recover.owner_dead");
	/* C claims position 1, finds message 2 expired and moves it into a
	 * side entry: FULL, under C's move record */
	int *got1 = t_shared(sizeof(*got1));
	pid_t c = t_spawn(mover, got1);
	t_wait_stopped(c, 30, "mover at side.written");
	/* C's work record as R may read it: C read the cursor before D's
	 * claim, wrote its record over position 0, lost its claim to D, and
	 * only then claimed position 1 (its record as it was then) */
	uint64_t off = part_off(qn, c) + offsetof(struct ipcq_shm_participant, cons_pos);
	uint64_t zero = 0, one = 1;
	t_poke(qn, off, &zero, sizeof(zero));
	t_resume(r);
	CHECK(t_wait_end(r, 30, "recoverer") == 0);
	/* C's record back as it is; C releases position 1 */
	t_poke(qn, off, &one, sizeof(one));
	t_resume(c);
	CHECK(t_wait_end(c, 30, "mover") == 0);
	/* message 1 was not moved on: it comes back */
	struct ipcq *w = t_open_attach(qn, IPCQ_ROLE_CONSUMER, NULL);
	struct ipcq_recovery rep = recover(w);
	CHECK(rep.completed == 0);
	if (!*got1) {
		struct ipcq_msginfo mi = get(w, 1, WAIT_NS);
		CHECK(mi.deliveries == 2 && (mi.flags & IPCQ_MSG_REDELIVERED));
	}
	expect_empty(w, WAIT_NS, "after message 1");
	const uint64_t side[] = { 2 };
	expect_side(q, side, 1);
	finish(w, p, q);
}

/* ---- 2. purge and replay settle the mover's source first ---------------- */

/* An ack consumer nacks message 1 to poison and stops (@arg NULL: dies)
 * at side.written: the entry is FULL, its lease still OWNED. */
static int nacker(void *arg)
{
	if (arg)
		t_freeze_at("side.written", 1);
	else
		t_crash_at("side.written", 1);
	struct ipcq *c = t_ack_consumer(qn, 4);
	struct ipcq_msginfo mi = get(c, 1, WAIT_NS);
	CHECK_RC(ipcq_nack(c, mi.token, IPCQ_NACK_POISON), 1);
	if (!arg)
		T_FAIL("nack returned: not killed at side.written");
	CHECK_OK(ipcq_close(c));
	return 0;
}

/* A fast consumer whose message 1 has expired dies at side.written: the
 * entry is FULL, the slot not released (its move record in its entry). */
static int expirer_dies(void *arg)
{
	(void)arg;
	recv_stops_at("side.written", 1, IPCQ_NOWAIT);
}

/* The one side entry's id. */
static uint64_t only_entry(struct ipcq *q)
{
	struct ipcq_poison e[4];
	CHECK_RC(ipcq_poison_list(q, 0, e, T_NELEM(e)), 1);
	return e[0].id;
}

enum how { PURGE_ALL, PURGE_ONE, PURGE_CTL, REPLAY_ALL, REPLAY_ONE };

static const char *how_name(enum how h)
{
	static const char *n[] = { "purge all", "purge one", "purge unattached", "replay all",
				   "replay one" };
	return n[h];
}

/* Purge or replay through @p (PURGE_CTL: an unattached handle, as
 * ipcq-ctl does); the count it returns. */
static int take(struct ipcq *p, enum how h, uint64_t id)
{
	switch (h) {
	case PURGE_ALL:
		return ipcq_poison_purge(p, IPCQ_POISON_ALL);
	case PURGE_ONE:
		return ipcq_poison_purge(p, id);
	case PURGE_CTL: {
		struct ipcq *u;
		CHECK_OK(ipcq_open(qn, &u));
		int rc = ipcq_poison_purge(u, IPCQ_POISON_ALL);
		CHECK_OK(ipcq_close(u));
		return rc;
	}
	case REPLAY_ALL:
		return ipcq_poison_replay(p, IPCQ_POISON_ALL);
	case REPLAY_ONE:
		return ipcq_poison_replay(p, id);
	}
	return -EINVAL;
}

/* After the take: a purged message never comes back; a replayed one
 * comes once, flagged REPLAYED, and never from its old source. */
static void after_take(struct ipcq *q, enum how h, int ack)
{
	struct ipcq *w = ack ? t_ack_consumer(qn, 4) : t_open_attach(qn, IPCQ_ROLE_CONSUMER, NULL);
	recover(w);
	if (h == REPLAY_ALL || h == REPLAY_ONE) {
		struct ipcq_msginfo mi = get(w, 1, WAIT_NS);
		if (!(mi.flags & IPCQ_MSG_REPLAYED))
			T_FAIL("%s: message 1 came back from its source (flags 0x%x), not replayed",
			       how_name(h), mi.flags);
		if (ack)
			CHECK_OK(ipcq_ack(w, mi.token));
	}
	expect_empty(w, WAIT_NS, how_name(h));
	struct ipcq_poison e[2];
	CHECK_RC(ipcq_poison_list(q, 0, e, T_NELEM(e)), 0);
	CHECK_OK(ipcq_close(w));
}

/* The mover died after S1, before freeing its source: the take frees the
 * source first. */
static void dead_mover(enum how h, int ack)
{
	struct ipcq_config cfg = ack_config(4);
	if (!ack)
		cfg.flags = IPCQ_CF_EXPIRY | IPCQ_CF_EXPIRED_TO_SIDE;
	qn = t_qname(ack ? "settle_da" : "settle_df");
	struct ipcq *q = t_create(qn, &cfg);
	struct ipcq *p = t_open_attach(qn, IPCQ_ROLE_PRODUCER, NULL);
	/* a time to live of its own: a replayed copy has none */
	put_ttl(p, 1, ack ? 0 : 1000000);
	if (ack) {
		t_reap_killed(t_spawn(nacker, NULL), SIGKILL);
	} else {
		usleep(20 * 1000); /* expired: ttl 1 ms */
		t_reap_killed(t_spawn(expirer_dies, NULL), SIGKILL);
	}
	uint64_t id = only_entry(q);
	CHECK_RC(take(p, h, id), 1);
	after_take(q, h, ack);
	finish(NULL, p, q);
}

/* The mover is alive between S1 and the free of its source: the take
 * passes its entry over; then the mover dies (@die) or goes on, and the
 * next take takes it. */
static void live_mover(enum how h, int die)
{
	struct ipcq_config cfg = ack_config(4);
	qn = t_qname(die ? "settle_lk" : "settle_lr");
	struct ipcq *q = t_create(qn, &cfg);
	struct ipcq *p = t_open_attach(qn, IPCQ_ROLE_PRODUCER, NULL);
	put(p, 1);
	pid_t v = t_spawn(nacker, (void *)1);
	t_wait_stopped(v, 30, "nacker at side.written");
	uint64_t id = only_entry(q);
	int rc = take(p, h, id);
	if (h == PURGE_ONE || h == REPLAY_ONE)
		CHECK_RC(rc, -EINPROGRESS);
	else
		CHECK_RC(rc, 0);
	CHECK(only_entry(q) == id); /* still listed */
	if (die) {
		kill(v, SIGKILL);
		t_reap_killed(v, SIGKILL);
	} else {
		t_resume(v);
		CHECK(t_wait_end(v, 30, "nacker") == 0);
	}
	CHECK_RC(take(p, h, id), 1);
	after_take(q, h, 1);
	finish(NULL, p, q);
}

/* ---- 3. a quarantined adopted message is noted consumed ----------------- */

static int holder(void *arg)
{
	(void)arg;
	t_crash_at("send.published_unrecorded", 1);
	struct ipcq_attach_opts o = IPCQ_ATTACH_OPTS_INIT;
	o.flags = IPCQ_ATTACH_DEDUP;
	o.name = "gw";
	struct ipcq *h = t_open_attach(qn, IPCQ_ROLE_PRODUCER, &o);
	uint8_t buf[MAXLEN];
	size_t len = t_fill(buf, t_msg_len(0, 1, 16, MAXLEN), 0, 1);
	int rc = ipcq_send_seq(h, 1, buf, len, IPCQ_NOWAIT);
	T_FAIL("send returned %d: not killed at send.published_unrecorded", rc);
}

/* A fast consumer killed at @arg (a point name). */
static int cons_dies(void *arg)
{
	recv_stops_at((const char *)arg, 1, 5000 * 1000000LL);
}

static void quarantine_noted(void)
{
	struct ipcq_config cfg = t_config(8, MAXLEN);
	cfg.side_capacity = 2;
	cfg.max_deliveries = 1;
	qn = t_qname("settle_qn");
	struct ipcq *q = t_create(qn, &cfg);
	/* the name's holder publishes message 1 and dies before it records
	 * its last sequence */
	t_reap_killed(t_spawn(holder, NULL), SIGKILL);
	/* a consumer claims it and dies; the next adopts it, quarantines it
	 * (max_deliveries 1) and dies once it is FULL in the side ring */
	t_reap_killed(t_spawn(cons_dies, (void *)"recv.claimed"), SIGKILL);
	t_reap_killed(t_spawn(cons_dies, (void *)"side.written"), SIGKILL);
	/* the name's next holder: message 1 was consumed (quarantined) */
	struct ipcq_attach_opts o = IPCQ_ATTACH_OPTS_INIT;
	o.flags = IPCQ_ATTACH_DEDUP;
	o.name = "gw";
	struct ipcq *h = t_open_attach(qn, IPCQ_ROLE_PRODUCER, &o);
	uint64_t last = 0;
	CHECK_OK(ipcq_last_seq(h, &last));
	if (last != 1)
		T_FAIL("the name's next holder starts after %" PRIu64 ", not 1: message 1, "
		       "quarantined, would be sent again", last);
	uint8_t buf[MAXLEN];
	size_t len = t_fill(buf, t_msg_len(0, 1, 16, MAXLEN), 0, 1);
	CHECK_RC(ipcq_send_seq(h, 1, buf, len, IPCQ_NOWAIT), IPCQ_SEND_DUPLICATE);
	struct ipcq *w = t_open_attach(qn, IPCQ_ROLE_CONSUMER, NULL);
	recover(w);
	expect_empty(w, WAIT_NS, "after the quarantine");
	const uint64_t side[] = { 1 };
	expect_side(q, side, 1);
	finish(w, h, q);
}

/* With an argument, only that part: moved_on, dead, live or noted. */
int main(int argc, char **argv)
{
	const char *only = argc > 1 ? argv[1] : NULL;
	t_need_points();
	if (!only || strcmp(only, "moved_on") == 0)
		live_mover_not_claimer();
	if (!only || strcmp(only, "dead") == 0)
		for (int ack = 0; ack < 2; ack++)
			for (enum how h = PURGE_ALL; h <= REPLAY_ONE; h++)
				dead_mover(h, ack);
	if (!only || strcmp(only, "live") == 0)
		for (enum how h = PURGE_ALL; h <= REPLAY_ONE; h++) {
			if (h == PURGE_CTL)
				continue;
			live_mover(h, 1);
			live_mover(h, 0);
		}
	if (!only || strcmp(only, "noted") == 0)
		quarantine_noted();
	printf("t_side_settle ok\n");
	return 0;
}
