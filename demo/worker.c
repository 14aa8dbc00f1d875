/*
 * worker.c - a worker process: takes orders from the orders queue in ack
 * mode, checks them, sends a fill per order to the fills queue and only
 * then acks the orders; crashes on the poison order and parks for the
 * kill scene.
 *
 * Ack mode, and why the sink must be idempotent.  A worker attached with
 * IPCQ_ATTACH_ACK holds each order it receives as a lease until it calls
 * ipcq_ack().  If the worker dies first, ipcq gives the order to another
 * worker, flagged IPCQ_MSG_REDELIVERED with its delivery count raised.  So
 * no order is lost to a crash, but one that crashed its worker after the
 * fill went out and before the ack is processed twice: that is
 * at-least-once delivery, and every consumer of such a queue has to cope.
 * Here the worker copies the flag and the delivery count into the fill,
 * and the sink, keyed on the order id, counts a second fill for an order
 * as a "redelivered duplicate" when the fill says its order came back, and
 * as a failure when it does not (ipcq promises redelivery only after a
 * crash or a nack, and always flagged).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "demo.h"

/*
 * Send all of @msgs.  ipcq_send_batch() enqueues as many as there is room
 * for (at least one, blocking until then) and returns how many; the rest
 * is sent again.
 */
static int send_all(struct ipcq *q, const struct ipcq_buf *msgs, unsigned n)
{
	unsigned done = 0;

	while (done < n) {
		int rc = ipcq_send_batch(q, msgs + done, n - done, IPCQ_FOREVER);

		if (rc == -EINTR)
			continue;
		if (rc < 0)
			return rc;
		if (rc == 0 || (unsigned)rc > n - done)
			return -EPROTO; /* outside the contract: 1..n */
		done += (unsigned)rc;
	}
	return 0;
}

static int send_one(struct ipcq *q, const void *msg, size_t len)
{
	struct ipcq_buf b = { .data = (void *)(uintptr_t)msg, .len = len };

	return send_all(q, &b, 1);
}

/* The slow worker phase: take no new order while it lasts. */
static bool held(const struct demo *d)
{
	/* relaxed: see struct slow_phase_shared */
	return atomic_load_explicit(&d->sh->slow.state, memory_order_relaxed) == SLOW_HOLDING;
}

static void wait_while_held(const struct demo *d)
{
	struct timespec pause_100us = { 0, 100000 };

	while (held(d))
		nanosleep(&pause_100us, NULL);
}

/* What one worker process works with. */
struct worker {
	const struct demo *d;
	struct worker_stats *st;
	unsigned slot;
	struct ipcq *orders, *fills;
	uint64_t next_id[MAX_GATEWAYS]; /* lowest id a first delivery may have */
	struct fill out[BATCH];
	struct ipcq_buf outb[BATCH];
	const char *what;               /* the call that failed */
};

/*
 * The poison order: crash the way a buggy consumer would, in the middle
 * of processing, with the order still leased.  Say first that this was
 * the poison, so that the parent can tell this crash from a real one.
 */
static _Noreturn void crash_on_poison(struct worker *wk, const struct ipcq_msginfo *info)
{
	struct rlimit no_core = { 0, 0 };

	wk->st->poison_delivery = info->deliveries;
	setrlimit(RLIMIT_CORE, &no_core); /* a crash, not a core file per run */
	abort();
}

/*
 * The kill scene: the worker whose fills take the count to kill_at is the
 * victim.  Its fills are sent, its orders not yet acked: it parks there
 * until the parent's SIGKILL comes.
 */
static void maybe_park_for_kill(struct worker *wk, unsigned unacked)
{
	struct kill_scene *ks = &wk->d->sh->kill;
	uint32_t want = KILL_IDLE;
	uint64_t total;

	/* relaxed: a counter and a state only compared with a threshold;
	 * the CAS decides who the victim is */
	if (!wk->d->kill_scene ||
	    atomic_load_explicit(&ks->state, memory_order_relaxed) != KILL_IDLE)
		return;
	total = atomic_fetch_add_explicit(&ks->fills_sent, unacked,
					  memory_order_relaxed) + unacked;
	if (total < wk->d->kill_at ||
	    !atomic_compare_exchange_strong(&ks->state, &want, KILL_CLAIMED))
		return;
	ks->victim = wk->slot;
	ks->unacked = unacked;
	/* pairs with the parent's acquire load: victim and unacked are set */
	atomic_store_explicit(&ks->state, KILL_PARKED, memory_order_release);
	for (;;)
		pause();
}

/*
 * Process @n leased orders: risk-check each, send the fills, then ack.
 * In that order: an order is acked only once its fill is in the fills
 * queue, so a crash anywhere loses nothing (and may duplicate a fill).
 */
static int process(struct worker *wk, const struct order *in,
		   const struct ipcq_msginfo *info, unsigned n)
{
	struct worker_stats *st = wk->st;
	int rc;

	if (n == 0)
		return 0;
	for (unsigned i = 0; i < n; i++) {
		const struct order *o = &in[i];
		bool again = info[i].flags & IPCQ_MSG_REDELIVERED;
		struct fill *f = &wk->out[i];

		if (o->flags & ORDER_POISON)
			crash_on_poison(wk, &info[i]);
		if (again != (info[i].deliveries > 1))
			st->bad_flags++;
		/* Orders come from named producers, with the gateway's sequence. */
		if (info[i].stream == 0 || info[i].seq != order_seq_of(wk->d, o->order_id))
			st->bad_stream++;
		/* Per-producer FIFO: one gateway's first deliveries only go up. */
		if (!again) {
			if (o->order_id < wk->next_id[o->gateway])
				st->out_of_order++;
			wk->next_id[o->gateway] = o->order_id + 1;
		}

		memset(f, 0, sizeof(*f));
		f->type = MSG_FILL;
		f->worker = wk->slot;
		f->order_id = o->order_id;
		f->gateway = o->gateway;
		risk_check(o, &f->notional, &f->status);
		f->order_checksum = o->checksum;
		f->sent_ns = o->sent_ns;
		f->deliveries = info[i].deliveries;
		f->flags = again ? FILL_REDELIVERED : 0u;
		f->checksum = fill_checksum(f);
		if (f->status == FILL_REJECTED)
			st->rejected++;
	}
	rc = send_all(wk->fills, wk->outb, n);
	if (rc < 0) {
		wk->what = "ipcq_send_batch(fills)";
		return rc;
	}
	count_add(&st->processed, n);

	maybe_park_for_kill(wk, n);

	for (unsigned i = 0; i < n; i++) {
		rc = ipcq_ack(wk->orders, info[i].token);
		if (rc < 0) {
			wk->what = "ipcq_ack(orders)";
			return rc;
		}
	}
	return 0;
}

/* Is @o a well-formed order or END marker?  Counts what is wrong. */
static bool valid_order(struct worker *wk, const struct order *o, int len)
{
	if ((size_t)len != sizeof(*o) || (o->type != MSG_ORDER && o->type != MSG_END) ||
	    o->gateway >= wk->d->gateways) {
		wk->st->bad_message++;
		return false;
	}
	if (o->checksum != order_checksum(o)) {
		wk->st->bad_checksum++;
		return false;
	}
	return true;
}

int run_worker(const struct demo *d, unsigned slot)
{
	struct ipcq_attach_opts ack = IPCQ_ATTACH_OPTS_INIT;
	struct worker wk = { .d = d, .st = &d->sh->wk[slot], .slot = slot };
	struct worker_stats *st = wk.st;
	struct order in[BATCH];
	struct ipcq_msginfo info[BATCH];
	uint64_t end_token = 0;
	char who[32];
	int rc = 0;

	snprintf(who, sizeof(who), "worker-%u", slot);
	/* Ack mode: every order stays leased to us until we ack it.  With
	 * fan-out the workers share the group "workers" (fanout.c). */
	ack.flags = IPCQ_ATTACH_ACK;
	ack.prefetch = PREFETCH;
	ack.group = d->fanout ? GROUP_WORKERS : NULL;
	if (open_attach(d->orders_name, IPCQ_ROLE_CONSUMER, &ack, who, &wk.orders) < 0)
		return 1;
	if (open_attach(d->fills_name, IPCQ_ROLE_PRODUCER, NULL, who, &wk.fills) < 0) {
		ipcq_close(wk.orders);
		return 1;
	}
	if (slot < d->workers)
		signal_ready(d); /* replacements come later: nobody waits for them */

	for (unsigned i = 0; i < BATCH; i++) {
		wk.outb[i].data = &wk.out[i];
		wk.outb[i].len = sizeof(wk.out[i]);
	}

	/* Until the END marker comes (and is held, not yet acked). */
	while (st->ends_taken == 0) {
		unsigned n = 0;
		bool lone = false;

		/*
		 * Collect a batch: wait for one order, then take whatever
		 * else is ready.  A redelivered order ends the batch and is
		 * processed on its own (it may be the one that crashed its
		 * last worker); an END marker ends the batch too.  In the
		 * slow phase (the pressure scene) the worker takes nothing
		 * new while the parent holds it, and ends its batch early.
		 */
		wait_while_held(d);
		while (n < PREFETCH && !(n > 0 && held(d))) {
			rc = ipcq_recv(wk.orders, &in[n], sizeof(in[n]), &info[n],
				       n == 0 ? IPCQ_FOREVER : IPCQ_NOWAIT);
			if (rc == -EINTR)
				continue;
			if (rc == -EAGAIN && n > 0)
				break;
			if (rc < 0) {
				wk.what = "ipcq_recv(orders)";
				goto fail;
			}
			if (!valid_order(&wk, &in[n], rc)) {
				ipcq_ack(wk.orders, info[n].token); /* drop it */
				continue;
			}
			if (in[n].type == MSG_END) {
				end_token = info[n].token;
				st->ends_taken++;
				break;
			}
			if (info[n].flags & IPCQ_MSG_REDELIVERED) {
				st->redelivered++;
				lone = true;
				break;
			}
			n++;
		}
		rc = process(&wk, in, info, n);
		if (rc == 0 && lone)
			rc = process(&wk, &in[n], &info[n], 1);
		if (rc < 0)
			goto fail;
	}

	/*
	 * This worker's last message: its END to the sink.  Only then ack
	 * the END marker: had we died before this send, it would go to
	 * another worker, which would send the END in our place.
	 */
	wk.out[0] = (struct fill){ .type = MSG_END, .worker = slot,
				   .order_id = st->position };
	wk.out[0].checksum = fill_checksum(&wk.out[0]);
	rc = send_one(wk.fills, &wk.out[0], sizeof(wk.out[0]));
	if (rc < 0) {
		wk.what = "ipcq_send(fills, END)";
		goto fail;
	}
	rc = ipcq_ack(wk.orders, end_token);
	if (rc < 0) {
		wk.what = "ipcq_ack(orders, END)";
		goto fail;
	}
	linger(d);
	ipcq_close(wk.fills);
	ipcq_close(wk.orders);
	return 0;
fail:
	fprintf(stderr, "%s: %s: %s\n", who, wk.what, ipcq_strerror(rc));
	ipcq_close(wk.fills);
	ipcq_close(wk.orders);
	return 1;
}
