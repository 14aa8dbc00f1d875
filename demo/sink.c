/*
 * sink.c - the sink process: takes every fill and checks it against the
 * order it recomputes from the id (content, checksum, risk verdict),
 * idempotent on the order id (a second fill is a redelivered duplicate
 * only when flagged; see worker.c), per-producer order and sequence, and
 * the END marker of every worker position; the parent reads its counts.
 */
#include <errno.h>
#include <stdlib.h>

#include "demo.h"

static bool test_bit(const uint8_t *map, uint64_t i)
{
	return map[i / 8] & (1u << (i % 8));
}

static void set_bit(uint8_t *map, uint64_t i)
{
	map[i / 8] |= (uint8_t)(1u << (i % 8));
}

/* Check one fill against everything the sink knows; count what is wrong. */
static void check_fill(const struct demo *d, struct sink_stats *st,
		       const struct fill *f, uint8_t *seen, uint64_t *next_id,
		       uint64_t now)
{
	bool again = f->flags & FILL_REDELIVERED;
	struct order o;
	int64_t notional;
	uint32_t status;

	if (f->order_id >= d->orders || f->gateway >= d->gateways ||
	    f->order_id % d->gateways != f->gateway) {
		st->unknown++;
		return;
	}
	if (is_poison(d, f->order_id))
		st->poison_seen++; /* its worker should have crashed */

	/* Right content: re-derive the order, redo the worker's arithmetic. */
	make_order(&o, f->order_id, f->gateway, is_poison(d, f->order_id),
		   f->sent_ns);
	risk_check(&o, &notional, &status);
	if (f->order_checksum != o.checksum || f->notional != notional ||
	    f->status != status || (f->flags & ~FILL_REDELIVERED) ||
	    again != (f->deliveries > 1) || f->deliveries == 0)
		st->bad_content++;

	/*
	 * Idempotent on the order id: the first fill counts, a second one is
	 * legitimate only if its order came back flagged as redelivered.
	 */
	if (test_bit(seen, f->order_id)) {
		if (again)
			st->dup_flagged++;
		else
			st->dup_unflagged++;
		return;
	}
	set_bit(seen, f->order_id);
	count_add(&st->distinct, 1);
	if (again)
		st->redelivered_first++;
	if (status == FILL_ACCEPTED)
		st->accepted++;
	else
		st->rejected++;

	/* Per-producer FIFO twice over, gateway -> worker -> sink, for the
	 * orders each worker got first hand. */
	if (!again) {
		uint64_t *next = &next_id[f->worker * MAX_GATEWAYS + f->gateway];

		if (f->order_id < *next)
			st->out_of_order++;
		*next = f->order_id + 1;
	}

	if (now > f->sent_ns) {
		st->lat_sum_ns += now - f->sent_ns;
		if (now - f->sent_ns > st->lat_max_ns)
			st->lat_max_ns = now - f->sent_ns;
	}
}

int run_sink(const struct demo *d)
{
	struct sink_stats *st = &d->sh->sink;
	struct fill in[BATCH];
	struct ipcq_buf bufs[BATCH];
	struct ipcq_msginfo infos[BATCH];
	uint64_t last_seq[MAX_SLOTS] = { 0 };
	bool ended[MAX_WORKERS] = { false };
	uint64_t *next_id = NULL;
	uint8_t *seen = NULL;
	struct ipcq *q = NULL;
	const char *what = "";
	uint64_t got = 0;
	int rc;

	seen = calloc(d->orders / 8 + 1, 1);
	next_id = calloc((size_t)MAX_SLOTS * MAX_GATEWAYS, sizeof(*next_id));
	if (!seen || !next_id) {
		fprintf(stderr, "sink: out of memory for the bitmap\n");
		goto out_mem;
	}
	if (open_attach(d->fills_name, IPCQ_ROLE_CONSUMER, NULL, "sink", &q) < 0)
		goto out_mem;
	signal_ready(d);

	/* One END from each worker position. */
	while (st->ends < d->workers) {
		uint64_t now;

		for (unsigned i = 0; i < BATCH; i++) {
			bufs[i].data = &in[i];
			bufs[i].len = sizeof(in[i]);
		}
		rc = ipcq_recv_batch(q, bufs, infos, d->batch, IPCQ_FOREVER);
		if (rc == -EINTR)
			continue;
		if (rc < 0) {
			what = "ipcq_recv_batch(fills)";
			goto fail;
		}
		now = now_ns();

		for (int i = 0; i < rc; i++) {
			const struct fill *f = &in[i];

			if (bufs[i].len != sizeof(*f) || f->worker >= MAX_SLOTS ||
			    (f->type != MSG_FILL && f->type != MSG_END)) {
				st->bad_message++;
				continue;
			}
			if (f->checksum != fill_checksum(f)) {
				st->bad_checksum++;
				continue;
			}
			/* ipcq numbers each producer's messages 1, 2, 3, ... */
			if (infos[i].seq != last_seq[f->worker] + 1)
				st->bad_seq++;
			last_seq[f->worker] = infos[i].seq;

			if (f->type == MSG_END) {
				if (f->order_id >= d->workers || ended[f->order_id]) {
					st->dup_ends++;
				} else {
					ended[f->order_id] = true;
					st->ends++;
				}
				continue;
			}
			st->per_slot[f->worker]++;
			check_fill(d, st, f, seen, next_id, now);
			got++;
		}
		if (got != count_get(&st->received)) {
			count_set(&st->received, got);
			st->end_ns = now;
		}
	}

	/* Every worker sent its END last: nothing may follow them. */
	rc = count_after_end(q, &st->extra_after_end);
	if (rc < 0) {
		what = "ipcq_recv(fills, after the end)";
		goto fail;
	}

	for (uint64_t id = 0; id < d->orders; id++)
		if (!test_bit(seen, id) && !is_poison(d, id))
			st->missing++;
	st->done = 1;
	linger(d);
	ipcq_close(q);
	free(next_id);
	free(seen);
	return 0;
fail:
	fprintf(stderr, "sink: %s: %s\n", what, ipcq_strerror(rc));
	ipcq_close(q);
out_mem:
	free(next_id);
	free(seen);
	return 1;
}
