/* A move to the side ring names its entry only once it owns it: a mover frozen at side.before_claim while another mover fills that free entry at the same generation, then killed (an ack consumer's nack to poison; a fast consumer's expired message), loses nothing: recovery redelivers (or moves) the dead mover's message and keeps the other one; resumed instead, its claim fails (-ENOSPC) and it keeps the message; and a refused move is counted once in side_full (nack, lease recovery, expiry). */
#include "testutil.h"
#include "sideutil.h"

/* ---- an ack consumer's nack to poison ------------------------------------ */

/* Receives message 1 and nacks it to poison, frozen at side.before_claim
 * (the one side entry seen free, not claimed).  Resumed (@arg non-NULL),
 * its claim fails: -ENOSPC, the message still its own; it gives it back. */
static int nacker(void *arg)
{
	t_freeze_at("side.before_claim", 1);
	struct ipcq *c = t_ack_consumer(qn, 4);
	struct ipcq_msginfo mi = get(c, 1, IPCQ_NOWAIT);
	int rc = ipcq_nack(c, mi.token, IPCQ_NACK_POISON);
	if (!arg)
		T_FAIL("nack returned %d: not frozen at side.before_claim", rc);
	CHECK_RC(rc, -ENOSPC);
	CHECK_OK(ipcq_nack(c, mi.token, IPCQ_NACK_REQUEUE));
	CHECK_OK(ipcq_close(c));
	return 0;
}

static void nack_race(int resume)
{
	struct ipcq_config cfg = ack_config(1);
	cfg.max_deliveries = 5;
	qn = t_qname(resume ? "sidemv_nr" : "sidemv_nk");
	struct ipcq *q = t_create(qn, &cfg);
	struct ipcq *p = t_open_attach(qn, IPCQ_ROLE_PRODUCER, NULL);
	put(p, 1);
	pid_t v = t_spawn(nacker, resume ? (void *)1 : NULL);
	t_wait_stopped(v, 30, "nacker at side.before_claim");
	/* another consumer moves message 2 into the entry the nacker saw
	 * free, at the same generation */
	put(p, 2);
	struct ipcq *w = t_ack_consumer(qn, 4);
	struct ipcq_msginfo mi = get(w, 2, IPCQ_NOWAIT);
	CHECK_RC(ipcq_nack(w, mi.token, IPCQ_NACK_POISON), 1);
	uint64_t full0 = t_stats(q).side_full;
	if (resume) {
		t_resume(v);
		CHECK(t_reap(v) == 0);
		CHECK(t_stats(q).side_full == full0 + 1); /* one refusal, counted once */
	} else {
		kill(v, SIGKILL);
		t_reap_killed(v, SIGKILL);
		struct ipcq_recovery rep = recover(q);
		/* message 1 comes back, not taken for moved */
		mi = get(w, 1, IPCQ_NOWAIT);
		CHECK(rep.redelivered == 1 && rep.completed == 0);
		CHECK(t_stats(q).side_full == full0);
	}
	/* message 1 comes back, flagged; message 2 is in the side ring */
	if (resume)
		mi = get(w, 1, IPCQ_NOWAIT);
	CHECK(mi.deliveries == 2 && (mi.flags & IPCQ_MSG_REDELIVERED));
	CHECK_OK(ipcq_ack(w, mi.token));
	expect_empty(w, IPCQ_NOWAIT, NULL);
	const uint64_t side[] = { 2 };
	expect_side(q, side, 1);
	finish(w, p, q);
}

/* ---- a fast consumer's expired message (its move record is in its
 * participant entry) ---------------------------------------------------- */

/* Receives on a queue whose message 1 has expired: the move of message 1
 * to the side ring stops at side.before_claim. */
static int expirer(void *arg)
{
	(void)arg;
	recv_stops_at("side.before_claim", 0, IPCQ_NOWAIT);
}

static void expiry_race(void)
{
	struct ipcq_config cfg = t_config(8, MAXLEN);
	cfg.side_capacity = 2;
	cfg.flags = IPCQ_CF_EXPIRY | IPCQ_CF_EXPIRED_TO_SIDE;
	cfg.ttl_ms = 1;
	qn = t_qname("sidemv_ex");
	struct ipcq *q = t_create(qn, &cfg);
	struct ipcq *p = t_open_attach(qn, IPCQ_ROLE_PRODUCER, NULL);
	put(p, 1);
	usleep(20 * 1000); /* expired: ttl 1 ms */
	pid_t v = t_spawn(expirer, NULL);
	t_wait_stopped(v, 30, "consumer at side.before_claim");
	/* another mover fills side entry 0, the one the consumer saw free */
	put_filler(p);
	kill(v, SIGKILL);
	t_reap_killed(v, SIGKILL);
	struct ipcq *c = t_open_attach(qn, IPCQ_ROLE_CONSUMER, NULL);
	struct ipcq_recovery rep = recover(c);
	CHECK(rep.completed == 0);
	/* the dead consumer's claim is adopted, found expired, and moved */
	expect_empty(c, IPCQ_NOWAIT, NULL);
	const uint64_t side[] = { 0, 1 };
	expect_side(q, side, 2);
	struct ipcq_stats st = t_stats(q);
	CHECK(st.side_expired == 1 && st.side_full == 0);
	finish(c, p, q);
}

/* ---- side_full: one refused move, one count ------------------------------ */

static int dies_leased(void *arg)
{
	(void)arg;
	struct ipcq *c = t_ack_consumer(qn, 4);
	get(c, 1, IPCQ_NOWAIT);
	raise(SIGKILL);
	return 1;
}

/* Recovery of a dead consumer's lease at max_deliveries, side ring full
 * (L10: left pending). */
static void full_lease_recovery(void)
{
	struct ipcq_config cfg = ack_config(1);
	cfg.max_deliveries = 1;
	qn = t_qname("sidemv_fl");
	struct ipcq *q = t_create(qn, &cfg);
	struct ipcq *p = t_open_attach(qn, IPCQ_ROLE_PRODUCER, NULL);
	put_filler(p);
	put(p, 1);
	t_reap_killed(t_spawn(dies_leased, NULL), SIGKILL);
	uint64_t full0 = t_stats(q).side_full;
	struct ipcq_recovery rep = recover(p);
	CHECK(rep.pending == 1);
	CHECK(t_stats(q).side_full == full0 + 1);
	/* room made: the next pass moves it */
	CHECK_RC(ipcq_poison_purge(p, IPCQ_POISON_ALL), 1);
	rep = recover(p);
	CHECK(rep.poisoned == 1);
	const uint64_t side[] = { 1 };
	expect_side(q, side, 1);
	CHECK(t_stats(q).side_full == full0 + 1);
	finish(NULL, p, q);
}

/* An expired message meets a full side ring: dropped, counted once. */
static void full_expiry(void)
{
	struct ipcq_config cfg = t_config(8, MAXLEN);
	cfg.side_capacity = 1;
	cfg.flags = IPCQ_CF_EXPIRY | IPCQ_CF_EXPIRED_TO_SIDE;
	cfg.ttl_ms = 1;
	qn = t_qname("sidemv_fe");
	struct ipcq *q = t_create(qn, &cfg);
	struct ipcq *p = t_open_attach(qn, IPCQ_ROLE_PRODUCER, NULL);
	put_filler(p);
	put(p, 1);
	usleep(20 * 1000);
	struct ipcq *c = t_open_attach(qn, IPCQ_ROLE_CONSUMER, NULL);
	uint64_t full0 = t_stats(q).side_full;
	expect_empty(c, IPCQ_NOWAIT, NULL);
	struct ipcq_stats st = t_stats(q);
	CHECK(st.expired == 1 && st.side_full == full0 + 1);
	const uint64_t side[] = { 0 };
	expect_side(q, side, 1);
	finish(c, p, q);
}

int main(void)
{
	unsetenv("IPCQ_CRASH");
	unsetenv("IPCQ_FREEZE");
	full_lease_recovery();
	full_expiry();
	t_need_points();
	nack_race(0);
	nack_race(1);
	expiry_race();
	printf("t_side_move ok\n");
	return 0;
}
