/*
 * fanout.c - the orders queue's other consumer groups: the audit
 * recorder and the tap.  Every group of a queue receives every message;
 * the consumers of one group share its messages.
 *
 *   workers  (durable, ack mode) the workers share the orders: each order
 *            goes to one of them, and crashes are redelivered within the
 *            group (worker.c);
 *   audit    (durable, fast mode) one process records every order as it
 *            left the gateways: each exactly once, each gateway's in its
 *            order sequence, the poison order too (it crashes nobody
 *            here), whatever happens to the workers.  A durable group
 *            holds space: were the audit slow, it would hold the gateways
 *            back (the watermarks see the slowest durable group's depth);
 *   tap      (lossy, fast mode) a monitor that pauses after each batch on
 *            purpose.  It never holds the gateways back: when it falls a
 *            ring behind it jumps to the oldest order still in the ring
 *            and is told how many it missed (IPCQ_MSG_GAP, msginfo.gap).
 *            What it got plus what it missed is what the queue took.
 *
 * Both stop when they have an END marker from every worker position (the
 * parent's markers reach every group) and linger like the other children
 * until the parent has read the groups' final figures.
 */
#include <errno.h>

#include "demo.h"

/* What a group reader works with. */
struct reader {
	const struct demo *d;
	struct ipcq *q;
	struct order in[BATCH];
	struct ipcq_buf bufs[BATCH];
	struct ipcq_msginfo infos[BATCH];
	uint64_t last[MAX_GATEWAYS];   /* each gateway's last order sequence */
	bool ended[MAX_WORKERS];       /* the END markers in, by worker position */
	const uint64_t *ends;          /* how many: the reader's own count */
	_Atomic uint64_t *count;       /* where the parent sees what it received */
	uint64_t got;
	uint64_t *bad_message, *bad_checksum;
	/* take message @i of the batch */
	void (*take)(struct reader *r, int i);
	long pause_ns;                 /* after each batch */
};

/*
 * Message @i of the batch: 0 an order, 1 an END marker, -1 malformed or a
 * bad checksum (counted).
 */
static int classify(const struct reader *r, int i)
{
	const struct order *o = &r->in[i];
	const struct demo *d = r->d;

	if (r->bufs[i].len != sizeof(*o) || (o->type != MSG_ORDER && o->type != MSG_END)) {
		(*r->bad_message)++;
		return -1;
	}
	if (o->checksum != order_checksum(o)) {
		(*r->bad_checksum)++;
		return -1;
	}
	if (o->type == MSG_END)
		return 1;
	if (o->gateway >= d->gateways || o->order_id >= d->orders ||
	    o->order_id % d->gateways != o->gateway) {
		(*r->bad_message)++;
		return -1;
	}
	return 0;
}

/*
 * Open the orders queue, attach to @group as @who, announce it, and take
 * every message of every batch until an END marker from every worker
 * position is in.  Returns 0, or the -errno of the call that failed
 * (printed; the handle is closed then).
 */
static int read_group(struct reader *r, const char *group, const char *who)
{
	struct ipcq_attach_opts opts = IPCQ_ATTACH_OPTS_INIT;
	const struct timespec pause = { 0, r->pause_ns };
	int rc;

	opts.group = group;
	rc = open_attach(r->d->orders_name, IPCQ_ROLE_CONSUMER, &opts, who, &r->q);
	if (rc < 0)
		return rc;
	signal_ready(r->d);
	while (*r->ends < r->d->workers) {
		for (unsigned i = 0; i < BATCH; i++) {
			r->bufs[i].data = &r->in[i];
			r->bufs[i].len = sizeof(r->in[i]);
		}
		rc = ipcq_recv_batch(r->q, r->bufs, r->infos, r->d->batch, IPCQ_FOREVER);
		if (rc == -EINTR)
			continue;
		if (rc < 0) {
			fprintf(stderr, "%s: ipcq_recv_batch(orders): %s\n", who, ipcq_strerror(rc));
			ipcq_close(r->q);
			return rc;
		}
		for (int i = 0; i < rc; i++)
			r->take(r, i);
		r->got += (uint64_t)rc;
		count_set(r->count, r->got);
		if (r->pause_ns)
			nanosleep(&pause, NULL);
	}
	return 0;
}

/* The audit: every order once, in its gateway's sequence, and every END. */
static void audit_take(struct reader *r, int i)
{
	struct audit_stats *st = &r->d->sh->audit;
	const struct order *o = &r->in[i];
	const struct ipcq_msginfo *mi = &r->infos[i];
	int kind = classify(r, i);

	if (mi->flags & IPCQ_MSG_REDELIVERED)
		st->redelivered++;
	if (kind < 0)
		return;
	if (kind == 1) {
		if (o->order_id >= r->d->workers || r->ended[o->order_id]) {
			st->dup_ends++;
		} else {
			r->ended[o->order_id] = true;
			st->ends++;
		}
		return;
	}
	/* From its gateway's name, with the gateway's sequence. */
	uint64_t seq = order_seq_of(r->d, o->order_id);
	uint64_t *last = &r->last[o->gateway];

	if (mi->stream == 0 || mi->seq != seq)
		st->bad_stream++;
	if (seq <= *last) {
		st->duplicates++;
		return;
	}
	st->gaps += seq - *last - 1;
	*last = seq;
	st->orders++;
	if (is_poison(r->d, o->order_id))
		st->poison++;
}

int run_audit(const struct demo *d)
{
	struct audit_stats *st = &d->sh->audit;
	struct reader r = { .d = d, .ends = &st->ends, .count = &st->received,
			    .bad_message = &st->bad_message,
			    .bad_checksum = &st->bad_checksum, .take = audit_take };
	int rc;

	if (read_group(&r, GROUP_AUDIT, "audit") < 0)
		return 1;
	rc = count_after_end(r.q, &st->extra_after_end);
	if (rc < 0) {
		fprintf(stderr, "audit: ipcq_recv(orders, after the end): %s\n",
			ipcq_strerror(rc));
		ipcq_close(r.q);
		return 1;
	}
	for (unsigned g = 0; g < d->gateways; g++)
		st->missing += gateway_orders(d, g) - r.last[g];
	st->done = 1;
	linger(d);
	ipcq_close(r.q);
	return 0;
}

/* The tap: what it was told it missed, and each gateway's orders in order. */
static void tap_take(struct reader *r, int i)
{
	struct tap_stats *st = &r->d->sh->tap;
	const struct order *o = &r->in[i];
	const struct ipcq_msginfo *mi = &r->infos[i];
	bool flagged = mi->flags & IPCQ_MSG_GAP;
	int kind;

	/* Missed just before this one: the flag and the count agree. */
	if (flagged != (mi->gap != 0))
		st->bad_gap++;
	if (flagged) {
		st->missed += mi->gap;
		st->gap_events++;
	}
	kind = classify(r, i);
	if (kind == 1)
		st->ends++;
	if (kind != 0)
		return;
	/* Fewer than were sent, but still each gateway's in order. */
	uint64_t seq = order_seq_of(r->d, o->order_id);

	if (seq <= r->last[o->gateway])
		st->out_of_order++;
	r->last[o->gateway] = seq;
}

int run_tap(const struct demo *d)
{
	struct tap_stats *st = &d->sh->tap;
	struct reader r = { .d = d, .ends = &st->ends, .count = &st->delivered,
			    .bad_message = &st->bad_message,
			    .bad_checksum = &st->bad_checksum, .take = tap_take,
			    .pause_ns = TAP_PAUSE_US * 1000l };

	if (read_group(&r, GROUP_TAP, "tap") < 0)
		return 1;
	st->done = 1;
	linger(d);
	ipcq_close(r.q);
	return 0;
}
