/*
 * ck_ring.c - Concurrency Kit's ck_ring (--only ck_ring); header-only,
 * measured when <ck_ring.h> is found (libck-dev), n/a otherwise.
 *
 * ck_ring keeps its indices apart from its buffer, so both live in
 * MAP_SHARED memory inherited by fork and hold no pointer.  It stores
 * pointer-sized values, so messages travel as slot indices into a shared
 * pool, a second ring holding the free indices.  Run at its best: the MPMC
 * functions at every P/C, and its SPSC functions (no atomic read-modify-
 * write at all) at 1/1; waits are busy polls (spin_wait()).
 * ck_ring_enqueue_mpmc spins inside the call while a preempted producer
 * has not committed, so a case stuck there is killed at its cap and
 * reported as capped (spins_inside).
 *
 * As for every transport, the driver pins the latency pair (pinger and
 * ponger) to two CPUs (unless --no-pin) and leaves the throughput
 * processes unpinned.
 */
#include "transport.h"

#ifdef BENCH_HAVE_CK
#include <ck_ring.h>

/*
 * A channel: data and free rings of slot indices (ck_ring stores pointer
 * values; an index is stored as one), and a pool of depth slots.  ck_ring
 * keeps its indices apart from its buffer, so both live in the shared
 * mapping and hold no pointer.  A ring of size 2 * depth holds depth.
 */
struct ck_chan {
	ck_ring_t data;
	ck_ring_t free;
	size_t data_buf, free_buf, pool;
};

static int ck_t_create(struct tcase *tc)
{
	size_t ring_bytes = 2 * (size_t)tc->depth * sizeof(ck_ring_buffer_t);
	size_t data_buf = (sizeof(struct ck_chan) + 127) & ~(size_t)127;
	size_t free_buf = data_buf + ring_bytes, pool = free_buf + ring_bytes;
	unsigned ch, i;
	int rc;

	if ((tc->flags & T_SPSC) && (tc->np != 1 || tc->nc != 1)) {
		set_note(tc, "SPSC functions: one producer and one consumer only");
		return T_NA;
	}
	rc = shm_channels(tc, pool + (size_t)tc->depth * slot_stride(tc->size));
	if (rc < 0)
		return rc;
	for (ch = 0; ch < tc->nch; ch++) {
		unsigned char *base = tc->mem + ch * tc->chan_len;
		struct ck_chan *c = (struct ck_chan *)(void *)base;

		c->data_buf = data_buf;
		c->free_buf = free_buf;
		c->pool = pool;
		ck_ring_init(&c->data, 2 * tc->depth);
		ck_ring_init(&c->free, 2 * tc->depth);
		for (i = 0; i < tc->depth; i++)
			if (!ck_ring_enqueue_mpmc(&c->free, (ck_ring_buffer_t *)(void *)(base + free_buf),
						  (const void *)(uintptr_t)i))
				return -ENOSPC;
	}
	return 0;
}

static int ck_t_send(struct ep *ep, uint64_t id, uint64_t seq, unsigned n)
{
	struct ck_chan *c = (struct ck_chan *)(void *)ep->chan;
	ck_ring_buffer_t *db = (ck_ring_buffer_t *)(void *)(ep->chan + c->data_buf);
	ck_ring_buffer_t *fb = (ck_ring_buffer_t *)(void *)(ep->chan + c->free_buf);
	const int spsc = ep->tc->flags & T_SPSC;
	unsigned spins = 0;
	void *v = NULL;
	bool ok;

	(void)n;
	stamp_msgs(ep, id, seq, 1);
	/* The free ring's producers are the consumers and vice versa. */
	while (!(spsc ? ck_ring_dequeue_spsc(&c->free, fb, &v)
		      : ck_ring_dequeue_mpmc(&c->free, fb, &v)))
		if (spin_wait(&spins))
			return 0;
	if ((uintptr_t)v >= ep->tc->depth)
		return -EPROTO;
	memcpy(ep->chan + c->pool + (uintptr_t)v * ep->stride, ep->msg[0], ep->tc->size);
	ok = spsc ? ck_ring_enqueue_spsc(&c->data, db, v) : ck_ring_enqueue_mpmc(&c->data, db, v);
	return ok ? 1 : -EPROTO; /* room for every index: never full */
}

static int ck_t_recv(struct ep *ep, unsigned n)
{
	struct ck_chan *c = (struct ck_chan *)(void *)ep->chan;
	ck_ring_buffer_t *db = (ck_ring_buffer_t *)(void *)(ep->chan + c->data_buf);
	ck_ring_buffer_t *fb = (ck_ring_buffer_t *)(void *)(ep->chan + c->free_buf);
	const int spsc = ep->tc->flags & T_SPSC;
	unsigned spins = 0;
	void *v = NULL;
	bool ok;

	(void)n;
	while (!(spsc ? ck_ring_dequeue_spsc(&c->data, db, &v)
		      : ck_ring_dequeue_mpmc(&c->data, db, &v)))
		if (spin_wait(&spins))
			return 0;
	if ((uintptr_t)v >= ep->tc->depth)
		return -EPROTO;
	memcpy(ep->msg[0], ep->chan + c->pool + (uintptr_t)v * ep->stride, ep->tc->size);
	ok = spsc ? ck_ring_enqueue_spsc(&c->free, fb, v) : ck_ring_enqueue_mpmc(&c->free, fb, v);
	if (!ok)
		return -EPROTO;
	ep->deliver(ep, ep->msg[0], ep->tc->size, 0);
	return 1;
}

const struct transport t_ck = {
	.name = "ck_ring",
	.create = ck_t_create,
	.destroy = shm_destroy,
	.open = shm_open_ep,
	.close = noop_close,
	.send = ck_t_send,
	.recv = ck_t_recv,
	.spins_inside = 1,
};
#else
static int ck_t_create(struct tcase *tc)
{
	set_note(tc, "not built: <ck_ring.h> not found (libck-dev)");
	return T_NA;
}

const struct transport t_ck = {
	.name = "ck_ring",
	.create = ck_t_create,
	.spins_inside = 1,
};
#endif
