/*
 * rte_ring.c - DPDK's rte_ring (--only rte_ring), the industrial lock-free
 * MPMC ring; built when libdpdk is found (-DBENCH_HAVE_DPDK), n/a
 * otherwise.
 *
 * The ring lives in MAP_SHARED memory inherited by fork, initialised by
 * rte_ring_init: no EAL, no hugepages, no mempool (a ring between
 * processes needs none of them).  Run at its best: its own burst calls
 * (rte_ring_*_burst_elem) take up to 32 messages at once in the batch
 * variants; both its default MP/MC mode and its HTS mode (RING_F_MP_HTS_ENQ
 * | RING_F_MC_HTS_DEQ: head/tail sync, which suits more processes than
 * CPUs); messages of up to 64 bytes travel in the ring's own 64-byte
 * elements (16-byte ones for the 16-byte latency messages; no slot pool),
 * larger ones in a shared slot pool
 * whose indices travel in the ring, a second ring holding the free
 * indices, as DPDK's mempool does.  Waits are busy polls (spin_wait()).
 * rte_ring spins inside its own calls while a preempted process holds the
 * ring, so a case stuck there is killed at its cap and reported as capped
 * (spins_inside).
 *
 * As for every transport, the driver pins the latency pair (pinger and
 * ponger) to two CPUs (unless --no-pin) and leaves the throughput
 * processes unpinned.
 */
#include "transport.h"

#ifdef BENCH_HAVE_DPDK
#include <rte_common.h>
#include <rte_ring.h>
#include <rte_ring_elem.h>

/*
 * A channel: a ring of 64-byte elements for messages of up to 64 bytes;
 * for larger ones a data ring and a free ring of 4-byte slot indices and a
 * pool of depth slots (every index is in exactly one of the two rings or
 * held by one process).  Each ring holds exactly depth entries
 * (RING_F_EXACT_SZ), like the other queues.
 */
#define RTE_ELEM 64u

struct rte_chan {
	size_t data_off, free_off, pool_off;
};

static size_t rte_ring_bytes(unsigned esize, unsigned depth)
{
	ssize_t n = rte_ring_get_memsize_elem(esize, rte_align32pow2(depth + 1));

	return n < 0 ? 0 : ((size_t)n + 127) & ~(size_t)127;
}

static int rte_elem_mode(const struct tcase *tc)
{
	return tc->size <= RTE_ELEM;
}

/*
 * The element size in elem mode: 64 bytes, or the message's own 16 bytes
 * for the 16-byte single messages of the latency cases (a burst takes its
 * messages from ep->msgbuf, 64 bytes apart, so it needs 64-byte elements).
 */
static unsigned rte_esize(const struct tcase *tc)
{
	return tc->size <= 16 && tc->batch == 1 ? 16u : RTE_ELEM;
}

static int rte_t_create(struct tcase *tc)
{
	unsigned flags = RING_F_EXACT_SZ, ch, i;
	struct rte_chan lay;
	size_t len;
	int rc;

	if (tc->flags & T_HTS)
		flags |= RING_F_MP_HTS_ENQ | RING_F_MC_HTS_DEQ;
	/* single producer, single consumer: rte_ring's own fast path */
	if (tc->flags & T_SOLE)
		flags |= RING_F_SP_ENQ | RING_F_SC_DEQ;
	lay.data_off = 256;
	if (rte_elem_mode(tc)) {
		lay.free_off = lay.pool_off = 0;
		len = lay.data_off + rte_ring_bytes(rte_esize(tc), tc->depth);
	} else {
		lay.free_off = lay.data_off + rte_ring_bytes(4, tc->depth);
		lay.pool_off = lay.free_off + rte_ring_bytes(4, tc->depth);
		len = lay.pool_off + (size_t)tc->depth * slot_stride(tc->size);
	}
	rc = shm_channels(tc, len);
	if (rc < 0)
		return rc;
	for (ch = 0; ch < tc->nch; ch++) {
		unsigned char *base = tc->mem + ch * tc->chan_len;
		struct rte_ring *d = (struct rte_ring *)(void *)(base + lay.data_off);
		char name[RTE_RING_NAMESIZE];

		memcpy(base, &lay, sizeof(lay));
		snprintf(name, sizeof(name), "d%u", ch);
		rc = rte_ring_init(d, name, tc->depth, flags);
		if (rc == 0 && !rte_elem_mode(tc)) {
			struct rte_ring *f = (struct rte_ring *)(void *)(base + lay.free_off);

			snprintf(name, sizeof(name), "f%u", ch);
			rc = rte_ring_init(f, name, tc->depth, flags);
			for (i = 0; rc == 0 && i < tc->depth; i++)
				if (rte_ring_enqueue_elem(f, &i, sizeof(i)) != 0)
					rc = -ENOSPC;
		}
		if (rc < 0) {
			fprintf(stderr, "bench: [%s] rte_ring_init: %s\n", tc->label, strerror(-rc));
			return rc;
		}
	}
	return 0;
}

static inline struct rte_ring *rte_at(struct ep *ep, size_t off)
{
	return (struct rte_ring *)(void *)(ep->chan + off);
}

static int rte_t_send(struct ep *ep, uint64_t id, uint64_t seq, unsigned n)
{
	const struct rte_chan *lay = (const struct rte_chan *)(void *)ep->chan;
	struct rte_ring *d = rte_at(ep, lay->data_off);
	unsigned spins = 0, k, i;
	uint32_t idx[MAX_BATCH];

	stamp_msgs(ep, id, seq, n);
	if (rte_elem_mode(ep->tc)) {
		/*
		 * The messages lie in ep->msgbuf, 64 bytes apart: the elements
		 * themselves (one message when they are 16 bytes, rte_esize()).
		 */
		while ((k = rte_ring_enqueue_burst_elem(d, ep->msgbuf, rte_esize(ep->tc), n,
							NULL)) == 0)
			if (spin_wait(&spins))
				return 0;
		return (int)k;
	}
	while ((k = rte_ring_dequeue_burst_elem(rte_at(ep, lay->free_off), idx, sizeof(idx[0]),
						n, NULL)) == 0)
		if (spin_wait(&spins))
			return 0;
	for (i = 0; i < k; i++)
		memcpy(ep->chan + lay->pool_off + (size_t)idx[i] * ep->stride, ep->msg[i],
		       ep->tc->size);
	/* The data ring has room for every index: this never fails. */
	if (rte_ring_enqueue_bulk_elem(d, idx, sizeof(idx[0]), k, NULL) != k)
		return -EPROTO;
	return (int)k;
}

static int rte_t_recv(struct ep *ep, unsigned n)
{
	const struct rte_chan *lay = (const struct rte_chan *)(void *)ep->chan;
	struct rte_ring *d = rte_at(ep, lay->data_off);
	unsigned spins = 0, k, i;
	uint32_t idx[MAX_BATCH];

	if (rte_elem_mode(ep->tc)) {
		while ((k = rte_ring_dequeue_burst_elem(d, ep->msgbuf, rte_esize(ep->tc), n,
							NULL)) == 0)
			if (spin_wait(&spins))
				return 0;
	} else {
		while ((k = rte_ring_dequeue_burst_elem(d, idx, sizeof(idx[0]), n, NULL)) == 0)
			if (spin_wait(&spins))
				return 0;
		for (i = 0; i < k; i++)
			memcpy(ep->msg[i], ep->chan + lay->pool_off + (size_t)idx[i] * ep->stride,
			       ep->tc->size);
		if (rte_ring_enqueue_bulk_elem(rte_at(ep, lay->free_off), idx, sizeof(idx[0]), k,
					       NULL) != k)
			return -EPROTO;
	}
	for (i = 0; i < k; i++)
		ep->deliver(ep, ep->msg[i], ep->tc->size, 0);
	return (int)k;
}

const struct transport t_rte = {
	.name = "rte_ring",
	.create = rte_t_create,
	.destroy = shm_destroy,
	.open = shm_open_ep,
	.close = noop_close,
	.send = rte_t_send,
	.recv = rte_t_recv,
	.spins_inside = 1,
};
#else
static int rte_t_create(struct tcase *tc)
{
	set_note(tc, "not built: needs -DBENCH_HAVE_DPDK and libdpdk (libdpdk-dev)");
	return T_NA;
}

const struct transport t_rte = {
	.name = "rte_ring",
	.create = rte_t_create,
	.spins_inside = 1,
};
#endif
