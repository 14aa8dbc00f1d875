/*
 * gateway.c - a gateway process: makes orders and sends them to the
 * orders queue as the named producer "gateway-<g>", each with its order
 * sequence, at the pace --rate or --duration ask for (if any); waits for
 * relief when the queue reports pressure; plays its part in the restart
 * scene (the replacement replays the tail of its log) and starts the
 * pressure scene's slow worker phase.
 */
#include <errno.h>
#include <unistd.h>

#include "demo.h"

/* What one gateway process works with. */
struct gateway {
	const struct demo *d;
	struct gateway_stats *st;
	unsigned g;
	struct ipcq *q;
};

/*
 * Send this gateway's order number @seq.  Its log is the order itself:
 * every field follows from the id, so a restarted gateway can resend any
 * order it sent before.  Returns what ipcq_send_seq() returned: 0,
 * IPCQ_SEND_PRESSURE, IPCQ_SEND_DUPLICATE or -errno.
 */
static int send_order(const struct gateway *gw, uint64_t seq)
{
	uint64_t id = order_id_of(gw->d, gw->g, seq);
	struct order o;
	int rc;

	make_order(&o, id, gw->g, is_poison(gw->d, id), now_ns());
	do
		rc = ipcq_send_seq(gw->q, seq, &o, sizeof(o), IPCQ_FOREVER);
	while (rc == -EINTR);
	return rc;
}

/*
 * --rate, --duration: wait until order number @seq is due.  The schedule
 * is fixed to the orders' ids and the gateway's start (kept in its record,
 * so a restarted gateway keeps to it), not to the previous send: a gateway
 * that fell behind (a slow phase, a restart, a late wake-up) catches up at
 * full speed, and the average rate holds.
 */
static void pace(const struct gateway *gw, uint64_t seq)
{
	struct timespec ts;
	uint64_t due;

	if (gw->d->ns_per_order <= 0)
		return;
	due = gw->st->start_ns +
	      (uint64_t)((double)order_id_of(gw->d, gw->g, seq) * gw->d->ns_per_order);
	if (now_ns() >= due)
		return;
	ts.tv_sec = (time_t)(due / 1000000000u);
	ts.tv_nsec = (long)(due % 1000000000u);
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
}

/*
 * Backpressure: the send said the queue is over its high watermark.
 * Sleep until the workers bring it under the low one instead of pushing
 * on towards a full ring.  A timeout is counted and the wait repeated;
 * the parent's stall timeout is what gives up on a pipeline that is stuck.
 */
static int wait_for_relief(const struct gateway *gw)
{
	count_add(&gw->st->relief_waits, 1);
	for (;;) {
		int rc = ipcq_wait_pressure(gw->q, RELIEF_TIMEOUT_NS);

		if (rc == 0)
			return 0;
		if (rc == -ETIMEDOUT)
			gw->st->relief_timeouts++;
		else if (rc != -EINTR)
			return rc;
	}
}

/*
 * Start the slow worker phase (see struct slow_phase_shared).  Only gateway
 * 0 does, once: a restarted gateway 0 finds it started already.
 */
static void hold_workers(const struct gateway *gw)
{
	struct slow_phase_shared *sp = &gw->d->sh->slow;
	uint64_t waits = 0;

	/* relaxed: only gateway 0 writes it, and only the parent reads it otherwise */
	if (atomic_load_explicit(&sp->state, memory_order_relaxed) != SLOW_BEFORE)
		return;
	for (unsigned g = 0; g < gw->d->gateways; g++)
		waits += count_get(&gw->d->sh->gw[g].relief_waits);
	sp->at_sent = count_get(&gw->st->sent);
	sp->waits_before = waits;
	sp->start_ns = now_ns();
	/* pairs with the parent's acquire load: the baseline is written */
	atomic_store_explicit(&sp->state, SLOW_HOLDING, memory_order_release);
}

/*
 * The restart scene, replacement side: resend the last REPLAY_ORDERS
 * orders up to @last, the sequence the queue says it accepted last.  The
 * queue accepted every one of them already, so each must come back
 * IPCQ_SEND_DUPLICATE, and none may reach a worker again.
 */
static int replay_tail(const struct gateway *gw, uint64_t last)
{
	struct gateway_stats *st = gw->st;
	uint64_t from = last > REPLAY_ORDERS ? last - REPLAY_ORDERS + 1 : 1;

	for (uint64_t seq = from; seq <= last; seq++) {
		int rc = send_order(gw, seq);

		if (rc < 0)
			return rc;
		st->replayed++;
		if (rc == IPCQ_SEND_DUPLICATE)
			st->replay_dups++;
		else
			st->replay_accepted++;
	}
	return 0;
}

/*
 * A gateway attaches as the named producer "gateway-<g>" (IPCQ_ATTACH_DEDUP)
 * and sends its orders one by one with their sequence.  @restarted: it
 * replaces a gateway the restart scene killed; it takes over the name,
 * asks the queue where its predecessor got to, replays the tail of its
 * log from there (all duplicates) and carries on after it.
 */
int run_gateway(const struct demo *d, unsigned g, bool restarted)
{
	struct ipcq_attach_opts named = IPCQ_ATTACH_OPTS_INIT;
	struct gateway gw = { .d = d, .st = &d->sh->gw[g], .g = g };
	struct gateway_stats *st = gw.st;
	uint64_t n = gateway_orders(d, g), kill_after = restart_seq(d, g);
	uint64_t hold_after = slow_seq(d, g);
	uint64_t last = 0;
	const char *what = "ipcq_last_seq(orders)";
	bool armed = false;
	char who[32];
	int rc;

	snprintf(who, sizeof(who), "gateway-%u", g);
	named.flags = IPCQ_ATTACH_DEDUP;
	if (open_attach(d->orders_name, IPCQ_ROLE_PRODUCER, &named, who, &gw.q) < 0)
		return 1;
	/* Everything up to here was accepted, nothing after it was. */
	rc = ipcq_last_seq(gw.q, &last);
	if (rc < 0)
		goto fail;
	if (restarted) {
		st->resumed_at = last;
		what = "ipcq_send_seq(orders, replay)";
		rc = replay_tail(&gw, last);
		if (rc < 0)
			goto fail;
	} else {
		signal_ready(d);
		wait_all_ready(d);
		st->start_ns = now_ns();
	}
	count_set(&st->sent, last);

	/* The poison order goes out like any other: nothing here waits for it. */
	what = "ipcq_send_seq(orders)";
	for (uint64_t seq = last + 1; seq <= n; seq++) {
		pace(&gw, seq);
		rc = send_order(&gw, seq);
		if (rc < 0)
			goto fail;
		if (rc == IPCQ_SEND_DUPLICATE) {
			/* The queue claims an order it was never sent: it
			 * would be lost.  Count it; the sink misses it too. */
			st->unexpected_dups++;
			continue;
		}
		count_add(&st->sent, 1);
		if (rc == IPCQ_SEND_PRESSURE) {
			st->under_pressure++;
			what = "ipcq_wait_pressure(orders)";
			rc = wait_for_relief(&gw);
			if (rc < 0)
				goto fail;
			what = "ipcq_send_seq(orders)";
		}
		/*
		 * The restart scene: past its mark the gateway tells the
		 * parent and goes on sending.  The SIGKILL lands wherever it
		 * lands, inside a send or between two: whichever instruction
		 * it hits, the queue's last_seq must be exact.
		 */
		if (seq == hold_after)
			hold_workers(&gw);
		if (!restarted && seq == kill_after) {
			/* pairs with the parent's acquire load */
			atomic_store_explicit(&st->restart, RESTART_ARMED,
					      memory_order_release);
			armed = true;
		}
	}
	/* Done before the kill came: wait for it, so the scene always runs. */
	if (armed)
		for (;;)
			pause();
	/* pairs with the parent's acquire load: the counters are final */
	atomic_store_explicit(&st->done, 1, memory_order_release);
	linger(d);
	ipcq_close(gw.q);
	return 0;
fail:
	st->failed++;
	fprintf(stderr, "%s: %s: %s\n", who, what, ipcq_strerror(rc));
	ipcq_close(gw.q);
	return 1;
}
