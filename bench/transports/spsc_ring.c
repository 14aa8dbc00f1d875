/*
 * spsc_ring.c - the reference: a hand-written single-producer
 * single-consumer ring (--only ring), 1/1 only.
 *
 * Slots of the message size (64 B, 1 KiB or 16 KiB, so at 16 KiB it is
 * memcpy-bound), busy-poll, in MAP_SHARED memory mapped before the start
 * (shm_open_ep).  It is the best a user can hand-write for this one case,
 * with none of ipcq's per-message header, crash record or counters: the
 * goals that compare against it ask ipcq to come close, not to win.
 *
 * As for every transport, the driver pins the latency pair (pinger and
 * ponger) to two CPUs (unless --no-pin) and leaves the throughput
 * processes unpinned.
 */
#include "transport.h"

/*
 * What a user would write instead of ipcq for one producer and one
 * consumer of fixed-size messages: slots of the message size (no length
 * word), a head written only by the producer and a tail written only by the
 * consumer, each on its own 128-byte block, each side caching the other's
 * index so that it reads the peer's line only when the cache says
 * full/empty.
 *
 *   R1 producer: store-release of head after writing the slot.  Pairs with
 *      A1, the consumer's load-acquire of head: the slot's bytes are
 *      visible before the consumer reads them.
 *   R2 consumer: store-release of tail after copying the slot out.  Pairs
 *      with A2, the producer's load-acquire of tail: the consumer is done
 *      reading a slot before the producer overwrites it.
 *   Each side reads its own index relaxed: only it writes that index.
 */
struct ring_hdr {
	_Alignas(BENCH_HOT_ALIGN) _Atomic uint64_t head; /* owner: producer */
	_Alignas(BENCH_HOT_ALIGN) _Atomic uint64_t tail; /* owner: consumer */
	_Alignas(BENCH_HOT_ALIGN) unsigned char slots[]; /* depth * stride */
};

_Static_assert(offsetof(struct ring_hdr, tail) - offsetof(struct ring_hdr, head) >= 128,
	       "head and tail must be 128 bytes apart");

static int ring_create(struct tcase *tc)
{
	if (tc->np != 1 || tc->nc != 1) {
		set_note(tc, "single producer, single consumer by design");
		return T_NA;
	}
	return shm_channels(tc, sizeof(struct ring_hdr) + tc->depth * slot_stride(tc->size));
}

static int ring_send(struct ep *ep, uint64_t id, uint64_t seq, unsigned n)
{
	struct ring_hdr *r = (struct ring_hdr *)(void *)ep->chan;
	const uint64_t depth = ep->tc->depth;
	uint64_t h = atomic_load_explicit(&r->head, memory_order_relaxed);
	unsigned spins = 0;

	(void)n;
	stamp_msgs(ep, id, seq, 1);
	while (h - ep->cached >= depth) {
		/* A2: pairs with R2 in ring_recv(). */
		ep->cached = atomic_load_explicit(&r->tail, memory_order_acquire);
		if (h - ep->cached < depth)
			break;
		if (spin_wait(&spins))
			return 0;
	}
	memcpy(r->slots + (h & (depth - 1)) * ep->stride, ep->msg[0], ep->tc->size);
	/* R1: pairs with A1 in ring_recv(): publishes the slot. */
	atomic_store_explicit(&r->head, h + 1, memory_order_release);
	return 1;
}

static int ring_recv(struct ep *ep, unsigned n)
{
	struct ring_hdr *r = (struct ring_hdr *)(void *)ep->chan;
	const uint64_t depth = ep->tc->depth;
	uint64_t t = atomic_load_explicit(&r->tail, memory_order_relaxed);
	unsigned spins = 0;

	(void)n;
	while (ep->cached == t) {
		/* A1: pairs with R1 in ring_send(). */
		ep->cached = atomic_load_explicit(&r->head, memory_order_acquire);
		if (ep->cached != t)
			break;
		if (spin_wait(&spins))
			return 0;
	}
	memcpy(ep->msg[0], r->slots + (t & (depth - 1)) * ep->stride, ep->tc->size);
	/* R2: pairs with A2 in ring_send(): the slot may be reused. */
	atomic_store_explicit(&r->tail, t + 1, memory_order_release);
	ep->deliver(ep, ep->msg[0], ep->tc->size, 0);
	return 1;
}

const struct transport t_ring = {
	.name = "ring",
	.create = ring_create,
	.destroy = shm_destroy,
	.open = shm_open_ep,
	.close = noop_close,
	.send = ring_send,
	.recv = ring_recv,
};
