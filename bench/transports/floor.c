/*
 * floor.c - the machine's floor for a round trip (transport "floor",
 * latency only, always run with the latency cases): what two pinned
 * processes cannot beat on this machine, whatever the queue.
 *
 *   cacheline  one 64-bit word on its own cache line, flipped back and
 *              forth: the pinger writes 2 * seq - 1 (odd), the ponger
 *              answers 2 * seq (even).  One line changes owner twice per
 *              round trip; nothing else moves.
 *   handoff    a 64-byte hand-off each way: the writer fills the 64 bytes
 *              of a payload line and then raises a flag on a line of its
 *              own; the reader waits for the flag, reads all 64 bytes,
 *              checks every word and answers the same way on the other
 *              channel.  Two lines per direction, no ring, no index: the
 *              least that carries a 64-byte message between processes.
 *
 * The driver runs both like any latency case (the same pinned pinger and
 * ponger, warm-up, clock reads around each round trip, histogram), but
 * through ping()/pong() instead of send()/recv(): no stamping of a private
 * buffer, no copy, no deliver callback.  The waits are the busy polls every
 * busy-poll transport uses (spin_wait()), so the ratios of a ring to the
 * floor show the ring's own work, not a different wait loop.
 *
 *   R1 writer: store-release of the word or flag after writing the payload.
 *      Pairs with A1, the reader's load-acquire of it: the payload's bytes
 *      are visible before the reader reads them.  (cacheline: the word is
 *      the whole message; the ordering costs nothing on x86 and keeps the
 *      code honest elsewhere.)
 *   Each direction's flag and payload are written by one process only
 *   (channel 0: the pinger; channel 1: the ponger), and the next message
 *   is written only after the answer to the previous one has arrived, so
 *   a single slot needs no consumer index.
 */
#include "transport.h"

#define FLOOR_END UINT64_MAX	/* the pinger's last word or flag: the end */

struct floor_chan {
	_Alignas(BENCH_HOT_ALIGN) _Atomic uint64_t word; /* owner: this direction's writer */
	_Alignas(BENCH_HOT_ALIGN) unsigned char payload[64]; /* owner: the same (handoff) */
};

_Static_assert(offsetof(struct floor_chan, payload) % 64 == 0, "payload on its own line");
_Static_assert(offsetof(struct floor_chan, payload) - offsetof(struct floor_chan, word) >= 64,
	       "flag and payload on different lines");

static int floor_create(struct tcase *tc)
{
	if (!tc->latency || tc->np != 1 || tc->nc != 1) {
		set_note(tc, "the floor is a round trip between two processes");
		return T_NA;
	}
	return shm_channels(tc, sizeof(struct floor_chan));
}

static inline struct floor_chan *floor_at(struct ep *ep)
{
	return (struct floor_chan *)(void *)ep->chan;
}

static inline int handoff_mode(const struct ep *ep)
{
	return !strcmp(ep->tc->mode, "handoff");
}

/* Word @i of the payload of message @seq from @id. */
static inline uint64_t handoff_word(uint64_t id, uint64_t seq, unsigned i)
{
	return (seq * 0x9e3779b97f4a7c15ull) ^ ((uint64_t)i << 56) ^ (id << 48) ^ i;
}

static inline void handoff_write(struct floor_chan *c, uint64_t id, uint64_t seq)
{
	unsigned i;

	for (i = 0; i < 8; i++)
		store64(c->payload + 8 * i, handoff_word(id, seq, i));
	/* R1: pairs with A1 in handoff_read(): publishes the payload. */
	atomic_store_explicit(&c->word, seq, memory_order_release);
}

/*
 * Wait until @c's flag leaves @last; 1 with *@got set, 0 aborted.
 */
static inline int floor_wait(struct floor_chan *c, uint64_t last, uint64_t *got)
{
	unsigned spins = 0;
	uint64_t v;

	/* A1: pairs with R1 of the other side: the payload is visible. */
	while ((v = atomic_load_explicit(&c->word, memory_order_acquire)) == last)
		if (spin_wait(&spins))
			return 0;
	*got = v;
	return 1;
}

/* Read and check all 64 bytes of message @seq from @id: 1 good, -EBADMSG. */
static inline int handoff_read(struct floor_chan *c, uint64_t id, uint64_t seq)
{
	unsigned char buf[64];
	unsigned i;
	int bad = 0;

	memcpy(buf, c->payload, sizeof(buf));
	for (i = 0; i < 8; i++)
		bad |= load64(buf + 8 * i) != handoff_word(id, seq, i);
	return bad ? -EBADMSG : 1;
}

static int floor_ping(struct ep *out, struct ep *in, uint64_t seq)
{
	struct floor_chan *c = floor_at(out);
	uint64_t got;

	if (!handoff_mode(out)) {
		if (seq == END_ID) {
			atomic_store_explicit(&c->word, FLOOR_END, memory_order_release); /* R1 */
			return 1;
		}
		/* R1: pairs with A1 in floor_pong(). */
		atomic_store_explicit(&c->word, 2 * seq - 1, memory_order_release);
		if (!floor_wait(c, 2 * seq - 1, &got))
			return 0;
		return got == 2 * seq ? 1 : -EBADMSG;
	}
	if (seq == END_ID) {
		atomic_store_explicit(&c->word, FLOOR_END, memory_order_release); /* R1 */
		return 1;
	}
	handoff_write(c, 0, seq);
	if (!floor_wait(floor_at(in), seq - 1, &got))
		return 0;
	return got == seq ? handoff_read(floor_at(in), 1, seq) : -EBADMSG;
}

static int floor_pong(struct ep *in, struct ep *out, uint64_t seq)
{
	struct floor_chan *c = floor_at(in);
	uint64_t got;
	int rc;

	if (!handoff_mode(in)) {
		if (!floor_wait(c, 2 * (seq - 1), &got))
			return 0;
		if (got == FLOOR_END)
			return 2;
		if (got != 2 * seq - 1)
			return -EBADMSG;
		/* R1: pairs with A1 in floor_ping(). */
		atomic_store_explicit(&c->word, 2 * seq, memory_order_release);
		return 1;
	}
	if (!floor_wait(c, seq - 1, &got))
		return 0;
	if (got == FLOOR_END)
		return 2;
	if (got != seq)
		return -EBADMSG;
	rc = handoff_read(c, 0, seq);
	if (rc < 0)
		return rc;
	handoff_write(floor_at(out), 1, seq);
	return 1;
}

const struct transport t_floor = {
	.name = "floor",
	.create = floor_create,
	.destroy = shm_destroy,
	.open = shm_open_ep,
	.close = noop_close,
	.ping = floor_ping,
	.pong = floor_pong,
};
