/*
 * lease.c - ack mode: the lease pool, ipcq_ack() and ipcq_nack().
 *
 * Owns: the lease pool (lease_capacity entries of one message each) and
 * control.redeliverable.
 *
 * An ack-mode receive moves the message out of the ring into a lease
 * entry, so the ring keeps flowing while the consumer works; the entry
 * holds the message until it is acknowledged.  Each entry has a state word
 * (generation, owner, state) changed only by CAS:
 *
 *   FREE(g) --reserve--> RESERVED(c,g) --fill--> OWNED(c,g) --ack--> FREE(g+1)
 *   OWNED(c,g) --nack/detach/owner died--> REDELIVER(g) --any consumer--> OWNED(c',g)
 *   OWNED(c,g) --nack poison / too many deliveries--> side ring, FREE(g+1)
 *
 * The token handed to the application is (entry + 1, generation), so an
 * old token can never ack a newer message of the same entry.
 *
 * Crash safety of a receive (ring slot p -> entry e):
 *   1. reserve e          a crash here leaves RESERVED(dead): recovery
 *                         frees it
 *   2. claim p (C1)       the record covers p, e is RESERVED: recovery
 *                         adopts p for another consumer and frees e
 *   3. fill e, src_pos=p, OWNED (L1 release)
 *                         both e and slot p hold the message.  Recovery
 *                         of the slot sees a lease holding p (any owner,
 *                         OWNED or REDELIVER) and only releases it;
 *                         recovery of the lease takes it over, releases
 *                         slot p if it is still unreleased, and only then
 *                         makes e deliverable again.  So the message is
 *                         in the ring or in e, never delivered from both,
 *                         and e cannot be acknowledged (freed) while slot
 *                         p still looks unfinished.
 *   4. release p (R2)     from here on only e holds it
 * The same holds for a message adopted from a dead consumer (the slot
 * names the adopter).  Whoever recovers a lease first takes it over with
 * a CAS, so two recoverers never both act on one entry.  Delivery counts
 * saturate at 255; the redelivered flag is a bit of its own.
 *
 * Labels: L1 OWNED by release (fill), L2 acquire loads of a state word,
 * L3 back to FREE by CAS, L4 to REDELIVER by CAS, L5 reserve, L6 take a
 * REDELIVER entry, L7/L8 the redeliverable count and the waiter check
 * that pair with W4/W1 in wait.c, L9 recovery's takeover of OWNED(dead).
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "ring.h"

static uint64_t token_of(uint32_t e, uint32_t gen)
{
	return ((uint64_t)(e + 1) << 32) | gen;
}

/* One fewer in the hint counter *c (redeliverable, delayed, key_parked),
 * never below zero.  A giver killed between its state change (L4) and its
 * count (L7) leaves the count one short; a decrement that wrapped would
 * then make the hint lie for good.  A short count costs at most a grace
 * period: a waiting consumer looks at the pool once per grace period
 * whatever the hints say (q->look_pool, set in recv.c). */
static void hint_dec(uint32_t *c)
{
	/* relaxed: a hint; the CAS (an RMW, as the fetch-add it replaces)
	 * decides */
	uint32_t v = ipcq__load_relaxed(c);
	while (v && !ipcq__cas(c, v, v - 1))
		v = ipcq__load_relaxed(c);
}

/*
 * Per-key order (IPCQ_CF_KEYED; model/keys.pml).  A keyed message is
 * received from the ring into a lease as any other (reserve, claim, fill
 * L1, release R2).  Before it is handed out, the key gate decides:
 *
 *   G1  no ring position below its source position p that a consumer
 *       has claimed but not yet released holds a message of the same key
 *       (the slot keeps its message, and its key, until the release).
 *       Every message of the key that entered the ring before it has
 *       therefore left it: into a lease (filled before its release, L1
 *       before R2), the side ring, or away; none is still on its way into
 *       a lease.  The walk starts at control.key_done, below which every
 *       position is released, and moves it forward over what it finds
 *       released.
 *   G2  no other lease entry, OWNED (by anyone, alive or dead) or
 *       REDELIVER (given back, parked, delayed), holds a message of the
 *       same key from a position below p.  The pool is read only when
 *       control.key_held, raised before each keyed fill's L1 (KH1) and
 *       lowered after the L3 that frees it (KH2), counts an entry other
 *       than ours: in the steady state of one consumer per key, a gate
 *       costs a load, not a pass over the pool.
 *
 * Open: it is handed out.  Closed: it is parked, given back (L4) with
 * IPCQ_LEASE_F_PARKED, and counted as not due (control.delayed, as a
 * retry delay is), and the receive goes on to the next message.  A parked
 * entry is taken (L6) by any consumer once its gate opens, without a
 * redelivery mark: it was never delivered.
 *
 * Why it holds: after G1, the set of pending messages of the key below p
 * is in the lease pool and can only shrink (a message never moves from one lease entry to another,
 * and requeues, give-backs and recovery keep it in its entry with its
 * src_pos), so a gate once open stays open, and G2 read entry by entry
 * is enough: an entry refilled during the scan holds a message from
 * position p or above, or of another key.  A message given back (nack, detach, a dead
 * holder) keeps its entry and src_pos, so its successors still wait for
 * it.  A consumer that dies holding a keyed message holds its key until
 * recovery gives the message back; one that dies between L1 and the gate
 * leaves an OWNED entry that recovery gives back (flagged: a spurious
 * redelivery mark, never a lost or reordered message).
 *
 * Wake-ups: whoever frees a keyed entry, or releases a slot, while
 * entries are parked bumps delayed_gen (K4), so that consumers look at
 * the pool again (ipcq__lease_due()) and sleepers wake.
 */

/* G1: does no ring position below p still hold a message of key k (one
 * claimed by a consumer that has not moved it into a lease yet)?  Moves
 * key_done forward over the released prefix on the way. */
static int key_ring_clear_below(struct ipcq *q, uint64_t k, uint64_t p)
{
	/* K1: acquire; pairs with the K1 CAS of whoever moved it: the slot
	 * releases it saw happen before our look at the pool (G2) */
	uint64_t kd = ipcq__load_acquire(&q->ctl->key_done);
	uint64_t from = kd;
	/* p was claimed by a producer after slot p was free: every position
	 * up to p - capacity is released.  The walk is bounded by the
	 * capacity. */
	if (p >= q->capacity && from <= p - q->capacity)
		from = p - q->capacity + 1;
	uint64_t prefix = from; /* every position below it is released */
	for (uint64_t i = from; i < p; i++) {
		struct ipcq_shm_slot *s = ipcq__slot(q, i);
		/* A2-like: acquire; pairs with R2 of the slot's consumer,
		 * which it did after its L1: a message released here is seen
		 * in its lease by G2 */
		uint64_t w = ipcq__load_acquire(&s->seq);
		if (ipcq__seq_dif(w & IPCQ_SEQ_POS, i + q->capacity) >= 0) {
			if (prefix == i)
				prefix = i + 1;
			continue;
		}
		/* claimed (every position below p is), not released: the slot
		 * still holds its message.  relaxed: checked by the re-read
		 * of the word after F2 (a producer rewrites the slot only
		 * after the release, which changes the word) */
		uint8_t f = ipcq__load_relaxed(&s->flags);
		uint64_t sk = ipcq__load_relaxed(ipcq__slot_key(q, s));
		/* F2: the reads above before the re-read of the word */
		ipcq__fence_acquire();
		/* relaxed: ordered by F2 */
		if (ipcq__load_relaxed(&s->seq) != w) {
			i--; /* released meanwhile: look again */
			continue;
		}
		if ((f & IPCQ_SLOT_F_KEYED) && sk == k)
			return 0;
	}
	/* K1: every position below prefix is released; one try (a lost CAS:
	 * another moved it) */
	if (prefix > kd)
		ipcq__cas(&q->ctl->key_done, kd, prefix);
	return 1;
}

/* G2: does no lease entry but self hold a message of key k from a
 * position below p? */
static int key_clear_below(const struct ipcq *q, uint32_t self, uint64_t k, uint64_t p)
{
	/* KH1: acquire, after G1's acquires: every message of the key below
	 * p that G1 saw released was counted before its release.  Self is
	 * counted: one keyed entry held means none but self, and the pool
	 * need not be read */
	if (ipcq__load_acquire(&q->ctl->key_held) <= 1u)
		return 1;
	for (uint32_t e = 0; e < q->lease_capacity; e++) {
		if (e == self)
			continue;
		const struct ipcq_shm_lease *l = ipcq__lease(q, e);
		/* L2: pairs with L1 (the filler stored key, flags and src_pos
		 * before it) and L4/L6 */
		uint64_t w = ipcq__load_acquire(&l->state);
		uint32_t st = IPCQ_ENT_STATE(w);
		if (st != IPCQ_ENT_OWNED && st != IPCQ_ENT_REDELIVER)
			continue;
		/* relaxed: stored before L1; a refill since holds a message
		 * from p or above, or of another key (G1): it never closes
		 * the gate */
		if (!(ipcq__load_relaxed(&l->flags) & IPCQ_LEASE_F_KEYED))
			continue;
		if (ipcq__load_relaxed(&l->key) == k && ipcq__load_relaxed(&l->src_pos) < p)
			return 0;
	}
	return 1;
}

/* The key gate of entry e (G1, then G2): may its message be handed out? */
static int key_gate_open(struct ipcq *q, uint32_t e)
{
	const struct ipcq_shm_lease *l = ipcq__lease(q, e);
	/* relaxed: stored before L1 by the filler, read after our L1 or L6
	 * (the entry is ours) or after L2 (a look: the L6 CAS decides) */
	if (!(ipcq__load_relaxed(&l->flags) & IPCQ_LEASE_F_KEYED))
		return 1;
	uint64_t p = ipcq__load_relaxed(&l->src_pos);
	uint64_t k = ipcq__load_relaxed(&l->key);
	return key_ring_clear_below(q, k, p) && key_clear_below(q, e, k, p);
}

/* K4: tell consumers that a closed key gate may have opened (a keyed entry
 * freed, a slot released) while entries are parked. */
static void key_moved(struct ipcq *q);

/* A keyed entry freed (after its L3): one fewer held (KH2), and K4. */
static void key_freed(struct ipcq *q)
{
	/* KH2: RMW after the L3 that freed the entry; a crash before it
	 * leaves the count high, which only makes G2 read the pool */
	hint_dec(&q->ctl->key_held);
	key_moved(q); /* the next of its key may go */
}


static void key_moved(struct ipcq *q)
{
	/* K4: full fence: our release (R2) or free (L3) before the look at
	 * key_parked; pairs with the parker's K2 RMW and its re-check K3:
	 * either it sees what we did, or we see it counted */
	ipcq__fence();
	/* relaxed: ordered by the fence above */
	if (!ipcq__load_relaxed(&q->ctl->key_parked))
		return;
	/* RMW: consumers see that their look at the pool is stale; pairs
	 * with the acquire of delayed_gen in take_redeliverable() */
	ipcq__fetch_add(&q->ctl->delayed_gen, (uint64_t)1);
	/* seq_cst: after the RMW in the total order; pairs with W1 of a
	 * sleeper (wait.c), as L8 does */
	if (ipcq__load_seq_cst(&q->ctl->data_waiters))
		ipcq__wake_data(q);
}

void ipcq__lease_key_moved(struct ipcq *q)
{
	key_moved(q);
}

/* Park entry e (OWNED by us, gate closed): given back, not due until its
 * gate opens. */
static void park(struct ipcq *q, uint32_t e)
{
	struct ipcq_shm_lease *l = ipcq__lease(q, e);
	/* relaxed: OWNED by us since L1; L4 below publishes these */
	uint64_t w = ipcq__load_relaxed(&l->state);
	ipcq__store_relaxed(&l->flags, (uint8_t)(ipcq__load_relaxed(&l->flags) | IPCQ_LEASE_F_PARKED));
	ipcq__store_relaxed(&l->not_before_ns, 0u);
	/* K2: RMW, before L4 (a taker's decrement never comes first) and
	 * before the re-check K3, in one total order with K4's fence */
	ipcq__fetch_add(&q->ctl->key_parked, 1u);
	/* RMW: not due, counted as a delayed entry is (ipcq__lease_due()) */
	ipcq__fetch_add(&q->ctl->delayed, 1u);
	/* L4: hands the entry to any consumer whose gate opens; pairs with
	 * L2.  Only we move an entry out of OWNED(us) while we live. */
	ipcq__cas(&l->state, w, IPCQ_ENT(IPCQ_ENT_GEN(w), 0, IPCQ_ENT_REDELIVER));
	/* L7: RMW after the state change (as in give_back()) */
	ipcq__fetch_add(&q->ctl->redeliverable, 1u);
	IPCQ_CRASHPOINT("key.parked");
	/* K3: a gate that opened after our look, whose opener saw no parked
	 * entry (K4), is seen here: tell the others (the entry may be taken
	 * meanwhile: then this is a wake in vain) */
	if (key_gate_open(q, e))
		key_moved(q);
}

/* Copy the message of ring slot s (position pos, ours) into lease e, which
 * we hold RESERVED, and make it OWNED.  Returns the payload length. */
uint32_t ipcq__lease_fill(struct ipcq *q, uint32_t e, const struct ipcq_shm_slot *s,
			  uint64_t pos, int adopted)
{
	struct ipcq_shm_lease *l = ipcq__lease(q, e);
	const struct ipcq_shm_slot_tail *t = ipcq__slot_tail(q, s);
	/* relaxed: the slot is ours (C1 or adoption); the entry is ours
	 * (RESERVED by us) */
	uint32_t len = ipcq__load_relaxed(&s->len);
	if (len > q->max_msg_size)
		len = 0; /* corrupt (callers refuse it first): never overrun */
	uint8_t past = ipcq__load_relaxed(&s->deliveries);
	uint8_t sflags = ipcq__load_relaxed(&s->flags);
	if (adopted && q->gw) {
		/* a group's adoption count is in its word, not the slot */
		past = ipcq__adopted_raise(q, (struct ipcq_shm_slot *)(uintptr_t)s, q->adopted_seq);
		sflags |= IPCQ_SLOT_F_REDELIVERED;
	}
	ipcq__store_relaxed(&l->src_pos, pos);
	ipcq__store_relaxed(&l->pseq, ipcq__load_relaxed(&t->pseq));
	ipcq__store_relaxed(&l->enqueue_ns, ipcq__load_relaxed(&t->enqueue_ns));
	ipcq__store_relaxed(&l->len, len);
	ipcq__store_relaxed(&l->producer, ipcq__load_relaxed(&s->producer));
	ipcq__store_relaxed(&l->deliveries, ipcq__deliveries_inc(past));
	ipcq__store_relaxed(&l->flags, (uint8_t)(sflags & (IPCQ_MSG_REPLAYED | IPCQ_SLOT_F_REDELIVERED |
							   IPCQ_SLOT_F_KEYED)));
	if (IPCQ_UNLIKELY(sflags & IPCQ_SLOT_F_KEYED)) {
		ipcq__store_relaxed(&l->key, ipcq__load_relaxed(ipcq__slot_key(q, s)));
		/* KH1: RMW before our L1 (and so before our R2): whoever sees
		 * the release in G1 sees this entry counted (G2) */
		ipcq__fetch_add(&q->ctl->key_held, 1u);
	}
	ipcq__store_relaxed(&l->move_side, 0u);
	ipcq__store_relaxed(&l->last_consumer, (uint32_t)q->index);
	ipcq__store_relaxed(&l->stream, ipcq__load_relaxed(&t->stream));
	ipcq__store_relaxed(&l->not_before_ns, 0u);
	ipcq__store_relaxed(&l->deadline_ns,
			    q->expiry ? ipcq__load_relaxed(&t->deadline_ns) : (uint64_t)0);
	ipcq__store_relaxed(&l->group, q->gw ? (uint32_t)q->group + 1 : 0u);
	ipcq__store_relaxed(&l->group_gen, q->group_gen);
	ipcq__store_relaxed(&l->lane, q->lane);
	ipcq__copy((uint8_t *)l + IPCQ_LEASE_HDR, (const uint8_t *)s + IPCQ_SLOT_HDR, len);
	/* relaxed: RESERVED by us; only we move it on while we live */
	uint32_t gen = IPCQ_ENT_GEN(ipcq__load_relaxed(&l->state));
	IPCQ_CRASHPOINT("ack.filling");
	/* L1: the entry holds the message before the ring slot is released;
	 * pairs with the acquire loads of the state by recovery (L2) */
	ipcq__store_release(&l->state, IPCQ_ENT(gen, ipcq__tag(q), IPCQ_ENT_OWNED));
	if (adopted)
		IPCQ_CRASHPOINT("ack.adopted_leased");
	else
		IPCQ_CRASHPOINT("ack.leased");
	return len;
}

/* The next message of the ring into lease e (ipcq__ring_take()'s step). */
static uint32_t take_into_lease(struct ipcq *q, const struct ipcq_shm_slot *s, uint64_t pos,
				unsigned b, void *ctx, int *bad)
{
	(void)b;
	(void)bad;
	ipcq__note_consumed(q, s);
	if (IPCQ_UNLIKELY(ipcq__slot_expired(q, s))) {
		/* passed; the lease entry stays reserved for the next one */
		ipcq__expire_slot(q, s);
		return IPCQ__TAKE_PASSED;
	}
	return ipcq__lease_fill(q, *(const uint32_t *)ctx, s, pos, 0);
}

/* Claim the next message of the ring (one that fits cap) into lease e,
 * which we hold RESERVED: 1, or what ipcq__ring_take() returns.  On a
 * queue with keys, K4 when slots were released (a claim made), and not
 * when the ring was empty: a look at an empty ring that told every
 * consumer that a gate may have opened would keep the consumers that wait
 * for a key polling. */
static int ring_to_lease(struct ipcq *q, uint32_t e, size_t cap, uint64_t *need)
{
	struct ipcq_buf b = { NULL, cap };
	uint64_t bytes, end;
	int bad;
	int rc = ipcq__ring_take(q, &b, 1, need, 1, take_into_lease, &e, &bad, &bytes, &end,
				 0, 0);
	if (IPCQ_UNLIKELY(q->expire_side))
		/* relaxed: released; an expired message's move is over */
		ipcq__store_relaxed(&q->me->move_side, 0u);
	if (end && q->high_watermark)
		ipcq__pressure_after_recv(q, end);
	if (IPCQ_UNLIKELY(q->keyed) && end)
		key_moved(q); /* slots released */
	return rc;
}

/* Find and reserve a free entry; -EBUSY when the pool is exhausted. */
static int reserve(struct ipcq *q)
{
	for (uint32_t n = 0; n < q->lease_capacity; n++) {
		uint32_t e = (q->lease_hint + n) % q->lease_capacity;
		struct ipcq_shm_lease *l = ipcq__lease(q, e);
		/* L2: pairs with L1/L3 (the state a previous holder left) */
		uint64_t w = ipcq__load_acquire(&l->state);
		if (IPCQ_ENT_STATE(w) != IPCQ_ENT_FREE)
			continue;
		/* L5: FREE -> RESERVED(us); one reserver wins */
		if (ipcq__cas(&l->state, w, IPCQ_ENT(IPCQ_ENT_GEN(w), ipcq__tag(q), IPCQ_ENT_RESERVED))) {
			/* F1 for leases: lease_fill()'s data stores stay after
			 * L5; pairs with F2 of take_redeliverable() */
			ipcq__fence_release();
			q->lease_hint = e + 1;
			IPCQ_CRASHPOINT("ack.reserved");
			return (int)e;
		}
	}
	return -EBUSY;
}

static void unreserve(struct ipcq *q, uint32_t e)
{
	struct ipcq_shm_lease *l = ipcq__lease(q, e);
	/* relaxed: RESERVED by us; only we move it on while we live */
	uint64_t w = ipcq__load_relaxed(&l->state);
	/* L3: back to free, next generation; pairs with L2 of reserve() */
	ipcq__cas(&l->state, w, IPCQ_ENT_FREED(w));
}

/* Hand the OWNED entry e to the application: a copy into buf, or (buf
 * NULL, zero copy) a pointer to the payload in *ptr. */
static int hand_out(struct ipcq *q, uint32_t e, uint32_t len, void *buf,
		    struct ipcq_msginfo *m, const void **ptr)
{
	struct ipcq_shm_lease *l = ipcq__lease(q, e);
	/* len: loaded once by the caller and bounded by max_msg_size and the
	 * caller's buffer; never read again from the entry */
	if (buf)
		ipcq__copy(buf, (const uint8_t *)l + IPCQ_LEASE_HDR, len);
	if (ptr)
		*ptr = (const uint8_t *)l + IPCQ_LEASE_HDR;
	if (m) {
		m->len = len;
		/* relaxed: as len above */
		m->seq = ipcq__load_relaxed(&l->pseq);
		m->enqueue_ns = ipcq__load_relaxed(&l->enqueue_ns);
		m->producer = ipcq__load_relaxed(&l->producer);
		m->deliveries = ipcq__load_relaxed(&l->deliveries);
		uint8_t f = ipcq__load_relaxed(&l->flags);
		m->flags = f & IPCQ_MSG_REPLAYED;
		if (m->deliveries > 1 || (f & IPCQ_SLOT_F_REDELIVERED))
			m->flags |= IPCQ_MSG_REDELIVERED;
		m->stream = ipcq__load_relaxed(&l->stream);
		m->token = token_of(e, IPCQ_ENT_GEN(ipcq__load_relaxed(&l->state)));
		m->gap = 0;
		m->key = 0;
		if (f & IPCQ_LEASE_F_KEYED) {
			m->flags |= IPCQ_MSG_KEYED;
			m->key = ipcq__load_relaxed(&l->key);
		}
		if (IPCQ_UNLIKELY(q->lanes > 1))
			/* relaxed: as len above; shown, never used as an index */
			m->flags |= (ipcq__load_relaxed(&l->lane) & 0x7u) << 16;
	}
	q->in_flight++;
	ipcq__count(q, IPCQ_CTR_RECV, 1);
	ipcq__count(q, IPCQ_CTR_RECV_BYTES, len);
	ipcq__count(q, IPCQ_CTR_RECV_CALLS, 1);
	/* relaxed: as len above */
	if (ipcq__load_relaxed(&l->deliveries) > 1)
		ipcq__count(q, IPCQ_CTR_REDELIVERIES, 1);
	return (int)len;
}

static int lease_to_side(struct ipcq *q, struct ipcq_shm_lease *l, uint64_t w, unsigned reason);

/* The message of entry l (OWNED by us, word w) expired: counted, and moved
 * to the side ring or dropped (the entry freed), as the queue says. */
IPCQ_COLD static void lease_expired(struct ipcq *q, struct ipcq_shm_lease *l, uint64_t w)
{
	ipcq__qcount(q, IPCQ_QCTR_EXPIRED, 1);
	/* a full side ring drops it, counted by ipcq__side_insert() */
	if (q->expire_side && lease_to_side(q, l, w, IPCQ_REASON_EXPIRED) == 0)
		return;
	/* relaxed: ours until the CAS below */
	uint8_t lf = ipcq__load_relaxed(&l->flags);
	/* L3: dropped: back to free, next generation; pairs with L2 */
	ipcq__cas(&l->state, w, IPCQ_ENT_FREED(w));
	if (lf & IPCQ_LEASE_F_KEYED)
		key_freed(q);
}

/* Is not-before time nb still ahead?  Reads the clock once per pass
 * (*now, 0 until then) and keeps the earliest time ahead in *due. */
static int not_due(uint64_t nb, uint64_t *now, uint64_t *due)
{
	if (!nb)
		return 0;
	if (!*now)
		*now = ipcq__now_ns(CLOCK_MONOTONIC);
	if (nb <= *now)
		return 0;
	if (nb < *due)
		*due = nb;
	return 1;
}

/* A look (relaxed, before the take) at whether entry l's message is past
 * its deadline; reads the clock once per pass (*now, 0 until then). */
static int look_expired(const struct ipcq *q, const struct ipcq_shm_lease *l, uint64_t *now)
{
	/* relaxed: a look; the taker reads it again once the entry is ours */
	uint64_t dl = q->expiry ? ipcq__load_relaxed(&l->deadline_ns) : 0;
	if (!dl)
		return 0;
	if (!*now)
		*now = ipcq__now_ns(CLOCK_MONOTONIC);
	return *now >= dl;
}

/*
 * Take an entry given back (REDELIVER) that is due: its not-before time
 * (a retry delay) is 0 or past.  Entries not yet due are passed, and the
 * earliest of their times is kept in q->due_local, with the delayed_gen
 * read before the look, so that the next look happens when one is due or
 * when another was given back meanwhile (ipcq__lease_due()).
 *
 * A retry delay changes no owner and no state of the protocol (lease.c's
 * table above, the model's L4/L6): it only keeps L6 from happening before
 * a time, which the model's interleavings, where L6 may happen at any
 * step, already include; and it passes, so L6 happens in the end.
 */
static int take_redeliverable(struct ipcq *q, void *buf, size_t cap, struct ipcq_msginfo *info,
			      uint64_t *need, const void **ptr)
{
	uint64_t now = 0, due = UINT64_MAX, gen = 0, tnow = 0; /* tnow: expiry looks alone */
	/* relaxed: a hint; each entry's state word decides */
	if (ipcq__load_relaxed(&q->ctl->delayed)) {
		/* acquire: the gives counted here are seen by the look below;
		 * pairs with the RMW of delayed_gen in give_back() */
		gen = ipcq__load_acquire(&q->ctl->delayed_gen);
		now = ipcq__now_ns(CLOCK_MONOTONIC);
	}
	for (uint32_t e = 0; e < q->lease_capacity; e++) {
		struct ipcq_shm_lease *l = ipcq__lease(q, e);
		/* L2: pairs with L4 of the giver */
		uint64_t w = ipcq__load_acquire(&l->state);
		if (IPCQ_ENT_STATE(w) != IPCQ_ENT_REDELIVER)
			continue;
		/* relaxed: stored by the first holder before its L1; the same
		 * for every give-back of the entry (a look: a refill would
		 * fail the CAS below) */
		if (q->gwords && (ipcq__load_relaxed(&l->group) != (uint32_t)q->group + 1 ||
				  ipcq__load_relaxed(&l->group_gen) != q->group_gen))
			continue; /* another group's message */
		/* relaxed: stored by the giver before its L4, read after L2;
		 * a look only: read again once the entry is ours */
		if (not_due(ipcq__load_relaxed(&l->not_before_ns), &now, &due))
			continue;
		/* a keyed message whose gate is closed waits (a look: a gate
		 * once open stays open, and the CAS below decides).  One given
		 * back unparked (recovered from a holder that died before its
		 * gate: never delivered, since a delivered message's gate is
		 * open) is taken and parked, so that it counts as waiting and
		 * consumers sleep instead of looking at it again and again */
		if (IPCQ_UNLIKELY(q->keyed) && !key_gate_open(q, e)) {
			/* relaxed: a look; the CAS decides */
			if (ipcq__load_relaxed(&l->flags) & IPCQ_LEASE_F_PARKED)
				continue;
			/* L6: REDELIVER -> OWNED(us) */
			uint64_t mine = IPCQ_ENT(IPCQ_ENT_GEN(w), ipcq__tag(q), IPCQ_ENT_OWNED);
			if (!ipcq__cas(&l->state, w, mine))
				continue;
			/* the look above may be stale (the entry taken, delivered
			 * and given back since, under the same word): ask again
			 * now that it is ours.  Closed: never delivered; park it
			 * (park() counts it given back again).  Open: L4, back as
			 * it was, still counted; the next look takes it */
			if (!key_gate_open(q, e)) {
				/* RMW: one fewer given back */
				hint_dec(&q->ctl->redeliverable);
				park(q, e);
			} else {
				ipcq__cas(&l->state, mine, w);
			}
			continue;
		}
		/* relaxed: a look before the take; the CAS below decides, and
		 * the length is read again, once, when the entry is ours.  One
		 * that expired is taken (and dropped below) whatever its
		 * length: it is never delivered, so no buffer is too small */
		uint32_t len = ipcq__load_relaxed(&l->len);
		if (len <= q->max_msg_size && len > cap && !look_expired(q, l, &tnow)) {
			/* F2: the length before the re-check of the state;
			 * pairs with F1 of reserve() (a refill of the entry) */
			ipcq__fence_acquire();
			/* relaxed: ordered by F2; unchanged means len was this
			 * message's */
			if (ipcq__load_relaxed(&l->state) != w)
				continue;
			*need = len;
			return -ENOBUFS;
		}
		uint32_t egen = IPCQ_ENT_GEN(w);
		/* L6: REDELIVER -> OWNED(us); one taker wins; pairs with L4 */
		if (!ipcq__cas(&l->state, w, IPCQ_ENT(egen, ipcq__tag(q), IPCQ_ENT_OWNED)))
			continue;
		/* relaxed: OWNED by us since L6, which read from the giver's
		 * L4: this is the time of the give we took (the entry may
		 * have been taken and given back since the look above) */
		uint64_t nb = ipcq__load_relaxed(&l->not_before_ns);
		if (not_due(nb, &now, &due)) {
			/* L4: not due after all: back, with its time */
			ipcq__cas(&l->state, IPCQ_ENT(egen, ipcq__tag(q), IPCQ_ENT_OWNED),
				  IPCQ_ENT(egen, 0, IPCQ_ENT_REDELIVER));
			continue;
		}
		/* relaxed: OWNED by us since L6 */
		uint8_t lf = ipcq__load_relaxed(&l->flags);
		if (nb || (lf & IPCQ_LEASE_F_PARKED)) {
			ipcq__store_relaxed(&l->not_before_ns, 0); /* ours: due now */
			/* RMW: one fewer delayed; a hint, as below */
			hint_dec(&q->ctl->delayed);
		}
		if (lf & IPCQ_LEASE_F_PARKED) {
			/* RMW: one fewer parked; a hint */
			hint_dec(&q->ctl->key_parked);
			/* relaxed: ours since L6 */
			ipcq__store_relaxed(&l->flags, (uint8_t)(lf & ~IPCQ_LEASE_F_PARKED));
		}
		/* RMW: one fewer waiting; consumers only use it as a hint */
		hint_dec(&q->ctl->redeliverable);
		/* relaxed: OWNED by us since L6 */
		uint64_t dl = q->expiry ? ipcq__load_relaxed(&l->deadline_ns) : 0;
		if (IPCQ_UNLIKELY(dl) && ipcq__now_ns(CLOCK_MONOTONIC) >= dl) {
			/* expired while given back: never delivered again */
			lease_expired(q, l, IPCQ_ENT(egen, ipcq__tag(q), IPCQ_ENT_OWNED));
			continue;
		}
		/* relaxed: OWNED by us since L6; loaded once, bounded here */
		len = ipcq__load_relaxed(&l->len);
		if (len > q->max_msg_size || len > cap) {
			/* changed under us, or impossible: a corrupt segment.
			 * L3: drop it (free the entry), report it */
			ipcq__cas(&l->state, IPCQ_ENT(egen, ipcq__tag(q), IPCQ_ENT_OWNED),
				  IPCQ_ENT_FREED(w));
			return -EBADMSG;
		}
		/* relaxed: OWNED by us since L6.  A parked message was never
		 * delivered: this is its first delivery. */
		if (!(lf & IPCQ_LEASE_F_PARKED)) {
			uint8_t past = ipcq__load_relaxed(&l->deliveries);
			/* it had max_deliveries (given back by a detach that
			 * found the side ring full): quarantined where the side
			 * ring has room now, else delivered again, its count
			 * telling the story */
			if (past >= q->max_deliveries &&
			    lease_to_side(q, l, IPCQ_ENT(egen, ipcq__tag(q), IPCQ_ENT_OWNED),
					  IPCQ_REASON_MAX_DELIVERIES) == 0)
				continue;
			ipcq__store_relaxed(&l->deliveries, ipcq__deliveries_inc(past));
			ipcq__store_relaxed(&l->flags, (uint8_t)(lf | IPCQ_SLOT_F_REDELIVERED));
		}
		ipcq__store_relaxed(&l->last_consumer, (uint32_t)q->index);
		return hand_out(q, e, len, buf, info, ptr);
	}
	if (now) {
		q->due_local = due;
		q->seen_gen = gen;
	}
	return -EAGAIN;
}

int ipcq__lease_take_redeliverable(struct ipcq *q, void *buf, size_t cap,
				   struct ipcq_msginfo *info, uint64_t *need)
{
	return take_redeliverable(q, buf, cap, info, need, NULL);
}

/* A keyed message just leased into e, held by us: parked when the one
 * before it of its key is not done yet (1: the caller looks again). */
static int parked_behind_key(struct ipcq *q, uint32_t e)
{
	if (key_gate_open(q, e))
		return 0;
	park(q, e);
	return 1;
}

/* Receive one message into a lease: copied to buf, or (buf NULL) pointed
 * to by *ptr. */
static int lease_recv(struct ipcq *q, void *buf, size_t cap, struct ipcq_msginfo *info,
		      uint64_t *need, const void **ptr)
{
	int rc, e;

	if (q->in_flight >= q->prefetch)
		return -EBUSY;
again:
	/* a hint; the entry's state word decides.  Once per grace period
	 * of waiting, a look whatever the hints say (hint_dec()).  Not
	 * while a message adopted from a dead consumer waits: it goes
	 * first, as it holds its ring slot, and so the producers, until it
	 * moves into a lease */
	if (q->adopted < 0 &&
	    ((IPCQ_UNLIKELY(ipcq__load_relaxed(&q->ctl->redeliverable)) && ipcq__lease_due(q, NULL)) ||
	     IPCQ_UNLIKELY(q->look_pool))) {
		q->look_pool = 0;
		rc = take_redeliverable(q, buf, cap, info, need, ptr);
		if (rc != -EAGAIN)
			return rc;
	}
	e = reserve(q);
	if (e < 0) {
		/* No free entry.  A look at the pool that trusts no hint: a
		 * giver killed between its L4 and its count (L7) left an entry
		 * that the hints above do not show, and a pool full of them
		 * would fail every receive (an adopted message too: taking
		 * one of them is how an entry comes free for it) */
		rc = take_redeliverable(q, buf, cap, info, need, ptr);
		if (rc != -EAGAIN)
			return rc;
		/* Nothing due: messages waiting out a retry delay or their
		 * keys, or leases held by others.  Only a handle that holds
		 * some itself can free one (ack or nack first); one that holds
		 * none waits, no longer than the earliest not-before time
		 * take_redeliverable() kept (ipcq__lease_due(), W4).  A pool
		 * full of messages waiting for their keys waits for an ack
		 * (relaxed: a hint) */
		if (q->adopted >= 0)
			/* the adopted message waits for an entry, first in
			 * line (ipcq__lanes_try() keeps it so on its lane) */
			IPCQ_CRASHPOINT("ack.adopted_waits");
		if (IPCQ_UNLIKELY(q->keyed) && ipcq__load_relaxed(&q->ctl->key_parked))
			return -EAGAIN;
		return q->in_flight ? e : -EAGAIN;
	}
	if (q->adopted >= 0) {
		/* a message adopted from a dead consumer goes first */
		uint64_t pos = (uint64_t)q->adopted;
		struct ipcq_shm_slot *s = ipcq__slot(q, pos);
		/* relaxed: the adopted slot is ours since the adoption CAS (T1) */
		uint32_t len = ipcq__load_relaxed(&s->len);
		if (len > q->max_msg_size) {
			/* impossible: a corrupt segment; dropped, reported */
			unreserve(q, (uint32_t)e);
			ipcq__consume_adopted(q);
			return -EBADMSG;
		}
		if (len > cap) {
			unreserve(q, (uint32_t)e);
			*need = len;
			return -ENOBUFS;
		}
		/* noted consumed for its named producer before it leaves the
		 * slot (into the lease or the side ring), as take_into_lease()
		 * does: recovery of a crash after that releases the slot as
		 * moved on, without noting it, and a takeover of the name would
		 * then read a last sequence below this message's */
		ipcq__note_consumed(q, s);
		if (IPCQ_UNLIKELY(ipcq__slot_expired(q, s))) {
			unreserve(q, (uint32_t)e);
			ipcq__expire_adopted(q, pos);
			if (q->keyed)
				key_moved(q); /* a slot released */
			goto again; /* gone without a delivery: the next one */
		}
		uint8_t past = ipcq__adopted_raise(q, s, q->adopted_seq);
		if (past >= q->max_deliveries &&
		    ipcq__quarantine_slot(q, pos, IPCQ_REASON_CONSUMER_CRASHED) == 0) {
			unreserve(q, (uint32_t)e);
			if (q->keyed)
				key_moved(q); /* a slot released */
			goto again;
		}
		len = ipcq__lease_fill(q, (uint32_t)e, s, pos, 1);
		ipcq__consume_adopted(q);
		if (IPCQ_UNLIKELY(q->keyed)) {
			key_moved(q); /* a slot released */
			if (parked_behind_key(q, (uint32_t)e))
				goto again;
		}
		return hand_out(q, (uint32_t)e, len, buf, info, ptr);
	}
	rc = ring_to_lease(q, (uint32_t)e, cap, need);
	if (IPCQ_UNLIKELY(q->keyed) && rc > 0) {
		IPCQ_CRASHPOINT("key.gate");
		if (parked_behind_key(q, (uint32_t)e))
			goto again;
	}
	if (rc <= 0) {
		unreserve(q, (uint32_t)e);
		return rc;
	}
	/* relaxed: OWNED by us since lease_fill(); the ring bounded it by
	 * max_msg_size and cap when it claimed the slot, lease_fill() by
	 * max_msg_size; bounded again here where it is used */
	uint32_t len = ipcq__load_relaxed(&ipcq__lease(q, (uint32_t)e)->len);
	if (len > q->max_msg_size || len > cap)
		len = 0;
	return hand_out(q, (uint32_t)e, len, buf, info, ptr);
}

/* A receive into a lease on the current lane (ipcq__lanes_try()'s step). */
struct lane_lease {
	void *buf;
	size_t cap;
	struct ipcq_msginfo *info;
	uint64_t *need;
	const void **ptr;
};

static int lease_recv_lane(struct ipcq *q, void *ctx)
{
	struct lane_lease *c = ctx;
	return lease_recv(q, c->buf, c->cap, c->info, c->need, c->ptr);
}

/*
 * A queue with priorities: the adopted message's lane first, then the
 * lanes in the order of ipcq__lanes_try().  Messages given back (nack,
 * recovery) are taken first on any lane, as lease_recv() looks at the
 * pool before the ring; so the last lane is looked at even when empty.
 * The message's lane is in its lease (hand_out()).
 */
IPCQ_NOINLINE static int lease_recv_lanes(struct ipcq *q, void *buf, size_t cap,
					  struct ipcq_msginfo *info, uint64_t *need, const void **ptr)
{
	struct lane_lease c = { buf, cap, info, need, ptr };
	uint32_t lane;
	return ipcq__lanes_try(q, IPCQ__LANES_ADOPTED | IPCQ__LANES_LOOK_LAST, lease_recv_lane, &c,
			       &lane);
}

int ipcq__lease_recv(struct ipcq *q, void *buf, size_t cap, struct ipcq_msginfo *info,
		     uint64_t *need)
{
	if (IPCQ_UNLIKELY(q->lanes > 1))
		return lease_recv_lanes(q, buf, cap, info, need, NULL);
	return lease_recv(q, buf, cap, info, need, NULL);
}

int ipcq__lease_recv_peek(struct ipcq *q, struct ipcq_zmsg *m)
{
	uint64_t need;
	int rc = IPCQ_UNLIKELY(q->lanes > 1)
		? lease_recv_lanes(q, NULL, SIZE_MAX, &m->info, &need, &m->data)
		: lease_recv(q, NULL, SIZE_MAX, &m->info, &need, &m->data);
	if (rc >= 0)
		m->len = (size_t)rc;
	return rc;
}

/* The entry of a token, if this handle holds it; NULL otherwise. */
static struct ipcq_shm_lease *owned_entry(struct ipcq *q, uint64_t token, uint64_t *w_out)
{
	uint64_t e1 = token >> 32;
	if (e1 == 0 || e1 > q->lease_capacity)
		return NULL;
	struct ipcq_shm_lease *l = ipcq__lease(q, (uint32_t)(e1 - 1));
	/* relaxed: only we can move an entry out of OWNED(us) */
	uint64_t w = ipcq__load_relaxed(&l->state);
	if (w != IPCQ_ENT((uint32_t)token, ipcq__tag(q), IPCQ_ENT_OWNED))
		return NULL;
	*w_out = w;
	return l;
}

int ipcq_ack(struct ipcq *q, uint64_t token)
{
	struct ipcq_shm_lease *l;
	uint64_t w;

	if (!q)
		return -EINVAL;
	if (!q->ack)
		return -EPERM;
	l = owned_entry(q, token, &w);
	if (!l)
		return -ESTALE;
	IPCQ_CRASHPOINT("ack.acking");
	/* relaxed: OWNED by us (owned_entry()) */
	uint8_t lf = IPCQ_UNLIKELY(q->keyed) ? ipcq__load_relaxed(&l->flags) : 0;
	/* L3: free for the next generation; release orders our reads of the
	 * payload before a new owner's writes (pairs with L2/L5 of reserve()) */
	if (!ipcq__cas(&l->state, w, IPCQ_ENT_FREED(w)))
		return -ESTALE;
	if (IPCQ_UNLIKELY(lf & IPCQ_LEASE_F_KEYED))
		key_freed(q);
	q->in_flight--;
	/* the next lease goes into the entry just freed: its lines are still
	 * in this CPU's cache, and no other consumer's hint points at it */
	q->lease_hint = (uint32_t)((token >> 32) - 1);
	ipcq__count(q, IPCQ_CTR_ACKS, 1);
	return 0;
}

/* Move an entry we own to the side ring; 0 or -ENOSPC. */
static int lease_to_side(struct ipcq *q, struct ipcq_shm_lease *l, uint64_t w, unsigned reason)
{
	/* relaxed: OWNED by us (owned_entry(), or recovery's L9) */
	uint32_t len = ipcq__load_relaxed(&l->len);
	struct ipcq__poison_src src = {
		.payload = (const uint8_t *)l + IPCQ_LEASE_HDR,
		.len = len > q->max_msg_size ? 0 : len,
		.producer = ipcq__load_relaxed(&l->producer),
		.deliveries = ipcq__load_relaxed(&l->deliveries),
		.reason = (uint8_t)reason,
		.stream = ipcq__load_relaxed(&l->stream),
		.last_consumer = ipcq__load_relaxed(&l->last_consumer),
		.group = q->gwords ? ipcq__load_relaxed(&l->group) : 0u,
		.group_gen = ipcq__load_relaxed(&l->group_gen),
		.lane = ipcq__load_relaxed(&l->lane),
		.pseq = ipcq__load_relaxed(&l->pseq),
		.first_ns = ipcq__load_relaxed(&l->enqueue_ns),
		.move_side = &l->move_side,
		.move_gen = &l->move_gen,
	};
	int rc = ipcq__side_insert(q, &src);
	if (rc < 0)
		return rc;
	/* relaxed: ours until the CAS below */
	uint8_t lf = ipcq__load_relaxed(&l->flags);
	/* L3: the message is in the side ring now (S1 done) */
	ipcq__cas(&l->state, w, IPCQ_ENT_FREED(w));
	if (lf & IPCQ_LEASE_F_KEYED)
		key_freed(q);
	return 0;
}

/* Give entry l (word w, OWNED by us or by a dead owner we took over)
 * back, due at the CLOCK_MONOTONIC time not_before (0: at once). */
static void give_back(struct ipcq *q, struct ipcq_shm_lease *l, uint64_t w, uint64_t not_before)
{
	/* relaxed: the entry is OWNED (ours or taken over); L4 below
	 * publishes it with the state */
	ipcq__store_relaxed(&l->not_before_ns, not_before);
	/* L4: hands the entry to any consumer; pairs with L2 */
	if (ipcq__cas(&l->state, w, IPCQ_ENT(IPCQ_ENT_GEN(w), 0, IPCQ_ENT_REDELIVER))) {
		if (not_before) {
			/* RMW: counted delayed before it is counted at all, so
			 * that redeliverable > delayed means one is due */
			ipcq__fetch_add(&q->ctl->delayed, 1u);
			/* RMW: tells consumers that their next due time is
			 * stale; pairs with the acquire of take_redeliverable() */
			ipcq__fetch_add(&q->ctl->delayed_gen, (uint64_t)1);
		}
		IPCQ_CRASHPOINT("lease.given_back");
		/* L7: RMW after the state change: a consumer that sees the
		 * count finds the entry; pairs with W4 (wait.c) */
		ipcq__fetch_add(&q->ctl->redeliverable, 1u);
		/* L8: after L7 in the total order; pairs with W1 (wait.c).  A
		 * delayed one wakes sleepers too: they learn its time */
		if (ipcq__load_seq_cst(&q->ctl->data_waiters))
			ipcq__wake_data(q);
	}
}

/* Give back an entry held by us or by the dead (detach, recovery), with
 * the not-before time it carries: 0 unless its holder took it and found it
 * not due yet (take_redeliverable()), so a delay outlives that holder. */
static void make_redeliverable(struct ipcq *q, struct ipcq_shm_lease *l, uint64_t w)
{
	/* relaxed: the entry is OWNED by us, or by the dead we took it over
	 * from (L9) */
	give_back(q, l, w, ipcq__load_relaxed(&l->not_before_ns));
}

/* The retry delay of the queue's backoff after the n-th delivery. */
static uint64_t backoff_ns(const struct ipcq *q, uint32_t n)
{
	uint64_t d = q->retry_base_ns;
	uint64_t cap = q->retry_max_ns ? q->retry_max_ns : d;
	for (uint32_t i = 1; i < n && d < cap; i++)
		d *= q->retry_factor; /* factor <= 16, d <= an hour: no overflow */
	return d < cap ? d : cap;
}

/* ipcq_nack() and ipcq_nack_delay(): delay_ns < 0 is the queue's backoff. */
static int nack(struct ipcq *q, uint64_t token, unsigned action, int64_t delay_ns)
{
	struct ipcq_shm_lease *l;
	uint64_t w;

	if (!q || action > IPCQ_NACK_POISON)
		return -EINVAL;
	if (!q->ack)
		return -EPERM;
	l = owned_entry(q, token, &w);
	if (!l)
		return -ESTALE;
	IPCQ_CRASHPOINT("nack.start");
	/* relaxed: OWNED by us (owned_entry()) */
	if (action == IPCQ_NACK_POISON ||
	    ipcq__load_relaxed(&l->deliveries) >= q->max_deliveries) {
		unsigned reason = action == IPCQ_NACK_POISON ? IPCQ_REASON_NACKED
							     : IPCQ_REASON_MAX_DELIVERIES;
		int rc = lease_to_side(q, l, w, reason);
		if (rc < 0) {
			ipcq__count_shared(q, IPCQ_CTR_SIDE_FULL, 1);
			return rc; /* refused: the lease stays, and no nack is counted */
		}
		ipcq__count(q, IPCQ_CTR_NACKS, 1);
		q->in_flight--;
		return 1;
	}
	uint64_t d = delay_ns >= 0 ? (uint64_t)delay_ns
		: q->retry_base_ns ? backoff_ns(q, ipcq__load_relaxed(&l->deliveries)) : 0;
	give_back(q, l, w, d ? ipcq__now_ns(CLOCK_MONOTONIC) + d : 0);
	ipcq__count(q, IPCQ_CTR_NACKS, 1);
	q->in_flight--;
	return 0;
}

int ipcq_nack(struct ipcq *q, uint64_t token, unsigned action)
{
	return nack(q, token, action, -1);
}

int ipcq_nack_delay(struct ipcq *q, uint64_t token, int64_t delay_ns)
{
	if (delay_ns < 0 || (uint64_t)delay_ns > IPCQ_RETRY_MAX_NS)
		return -EINVAL;
	return nack(q, token, IPCQ_NACK_REQUEUE, delay_ns);
}

/* Clean detach: every lease we hold is delivered again, or quarantined
 * (reason MAX_DELIVERIES, as a nack would) once it has had max_deliveries;
 * with the side ring full it is given back, and its next taker tries the
 * side ring again (take_redeliverable()). */
void ipcq__lease_release_all(struct ipcq *q)
{
	for (uint32_t e = 0; e < q->lease_capacity; e++) {
		struct ipcq_shm_lease *l = ipcq__lease(q, e);
		/* L2; only our own entries matter, and the CASes decide */
		uint64_t w = ipcq__load_acquire(&l->state);
		if (IPCQ_ENT_TAG(w) != ipcq__tag(q))
			continue;
		if (IPCQ_ENT_STATE(w) == IPCQ_ENT_OWNED) {
			/* relaxed: OWNED by us; only we move it on */
			if (ipcq__load_relaxed(&l->deliveries) >= q->max_deliveries &&
			    lease_to_side(q, l, w, IPCQ_REASON_MAX_DELIVERIES) == 0)
				continue;
			make_redeliverable(q, l, w);
		} else if (IPCQ_ENT_STATE(w) == IPCQ_ENT_RESERVED) {
			unreserve(q, e);
		}
	}
	q->in_flight = 0;
}

int ipcq__lease_holds(const struct ipcq *q, uint64_t pos, int32_t g)
{
	for (uint32_t e = 0; e < q->lease_capacity; e++) {
		struct ipcq_shm_lease *l = ipcq__lease(q, e);
		/* L2: pairs with L1; src_pos and group (relaxed) were stored
		 * before L1 */
		uint64_t w = ipcq__load_acquire(&l->state);
		uint32_t st = IPCQ_ENT_STATE(w);
		/* relaxed: src_pos, group and lane as the comment says */
		if ((st == IPCQ_ENT_OWNED || st == IPCQ_ENT_REDELIVER) &&
		    ipcq__load_relaxed(&l->src_pos) == pos && ipcq__load_relaxed(&l->lane) == q->lane &&
		    (g < 0 || ipcq__load_relaxed(&l->group) == (uint32_t)g + 1))
			return 1;
	}
	return 0;
}

/* Release ring slot pos on behalf of the dead owner that had moved its
 * message into a lease we now hold (L9), if it is still unreleased.  The
 * slot is the dead's: recovery never adopts a message a lease holds. */
static int release_source(struct ipcq *q, uint64_t pos, int32_t g)
{
	/* g: the lease's durable group, -1 without groups */
	uint64_t *word = g >= 0 ? ipcq__gword(q, (uint32_t)g, pos) : &ipcq__slot(q, pos)->seq;
	/* seq_cst: pairs with C1, as in resolve_claimed() (recovery.c) */
	uint64_t deq = ipcq__load_seq_cst(g >= 0 ? &q->groups[g].deq : q->ldeq);
	if (deq <= pos || deq - pos > q->capacity)
		return 0;
	for (int tries = 0; tries < 4; tries++) {
		/* A2 (as in ipcq__ring_claim_recv()); the CAS below decides */
		uint64_t w = ipcq__load_acquire(word);
		if ((w & IPCQ_SEQ_POS) != ipcq__seq_pos(g >= 0 ? pos : pos + 1))
			return 0; /* released already */
		if (ipcq__release_dead(q, g, pos, w))
			return 1;
	}
	return 0;
}

/* The durable group of lease l (-1: the queue has no groups), or
 * IPCQ__NO_GROUP: a group removed (or made again) since, whose messages
 * went with it. */
static int32_t lease_group(const struct ipcq *q, const struct ipcq_shm_lease *l)
{
	/* relaxed: stored before L1, read after the caller's L2/L9 (a
	 * lease's group is durable: lossy groups take no ack mode) */
	return ipcq__durable_group(q, ipcq__load_relaxed(&l->group),
				   ipcq__load_relaxed(&l->group_gen));
}

int ipcq__lease_drop_group(struct ipcq *q, uint32_t g, uint32_t gen)
{
	int n = 0;
	for (uint32_t e = 0; e < q->lease_capacity; e++) {
		struct ipcq_shm_lease *l = ipcq__lease(q, e);
		/* L2: pairs with L4 (group fields stored before L1) */
		uint64_t w = ipcq__load_acquire(&l->state);
		/* relaxed: as in lease_group() */
		if (IPCQ_ENT_STATE(w) != IPCQ_ENT_REDELIVER || ipcq__load_relaxed(&l->group) != g + 1 ||
		    ipcq__load_relaxed(&l->group_gen) != gen)
			continue;
		/* relaxed: as above; a look, the CAS decides */
		uint64_t nb = ipcq__load_relaxed(&l->not_before_ns);
		/* L3: frees it; one winner */
		if (!ipcq__cas(&l->state, w, IPCQ_ENT_FREED(w)))
			continue;
		/* RMW: the hints counted it */
		hint_dec(&q->ctl->redeliverable);
		if (nb)
			hint_dec(&q->ctl->delayed);
		n++;
	}
	return n;
}

/*
 * Take over the leases of dead participants.  dead[] says which entries
 * looked dead to this pass: only a filter; each lease's owner (index and
 * generation, from its state word) is checked again right before the CAS
 * that takes it over.
 */
int ipcq__lease_recover(struct ipcq *q, uint8_t *dead, int32_t also_dead,
			struct ipcq_recovery *rep)
{
	int acted = 0;

	for (uint32_t e = 0; e < q->lease_capacity; e++) {
		struct ipcq_shm_lease *l = ipcq__lease(q, e);
		/* L2: pairs with L1/L5/L6 of the dead owner */
		uint64_t w = ipcq__load_acquire(&l->state);
		uint32_t st = IPCQ_ENT_STATE(w), owner = IPCQ_ENT_OWNER(w);
		if (st != IPCQ_ENT_RESERVED && st != IPCQ_ENT_OWNED)
			continue;
		if (!ipcq__ent_owner_dead(q, w, dead, also_dead))
			continue; /* decided now: a live owner is never robbed */
		if (owner < q->max_participants)
			dead[owner] = 2;
		if (st == IPCQ_ENT_RESERVED) {
			/* the dead never filled it; its ring record covers
			 * the message; L3 frees it */
			if (ipcq__cas(&l->state, w, IPCQ_ENT_FREED(w))) {
				rep->freed++;
				ipcq__qcount(q, IPCQ_QCTR_FREED, 1);
				acted++;
			}
			continue;
		}
		/* OWNED by the dead: take it over first, so that only one
		 * recoverer acts on it */
		if (q->index < 0)
			continue;
		uint64_t mine = IPCQ_ENT(IPCQ_ENT_GEN(w), ipcq__tag(q), IPCQ_ENT_OWNED);
		IPCQ_CRASHPOINT("recover.lease_taking");
		/* L9: the takeover; one recoverer wins (our tag is not the
		 * dead's: an attacher recovering its entry's dead holder made
		 * a new incarnation first, attach.c); its acquire half reads
		 * from the dead owner's L1/L6 and so sees the message.  What
		 * the dead stored after that (move record, raised count) is
		 * seen through K1 (registry.c): we found its lock free */
		if (!ipcq__cas(&l->state, w, mine))
			continue;
		IPCQ_CRASHPOINT("recover.lease_taken");
		acted++;
		/* relaxed: ours since L9; the dead stored it before L1 */
		uint64_t src = ipcq__load_relaxed(&l->src_pos);
		int32_t g = lease_group(q, l);
		if (g == IPCQ__NO_GROUP) {
			/* its group was removed: the message went with it (L3) */
			ipcq__cas(&l->state, mine, IPCQ_ENT_FREED(w));
			rep->freed++;
			ipcq__qcount(q, IPCQ_QCTR_FREED, 1);
			continue;
		}
		/* the message is in the lease: its source slot, if the dead
		 * had not released it yet, is released before anyone can get
		 * the lease */
		/* relaxed: ours since L9, as src; a lane past the queue's is
		 * corrupt and has no slot to release */
		uint32_t lane = ipcq__load_relaxed(&l->lane), was = q->lane;
		if (lane < q->lanes) {
			ipcq__lane_use(q, lane);
			if (release_source(q, src, g)) {
				rep->completed++;
				ipcq__qcount(q, IPCQ_QCTR_COMPLETED, 1);
			}
			ipcq__lane_use(q, was);
		}
		/* relaxed: ours since L9; the dead stored them after its
		 * side claim (S5), so they name an entry it owned, and it is
		 * dead */
		if (ipcq__side_moved(q, ipcq__load_relaxed(&l->move_side),
				     ipcq__load_relaxed(&l->move_gen))) {
			/* it had been moved to the side ring already: L3 */
			ipcq__cas(&l->state, mine, IPCQ_ENT_FREED(w));
			rep->completed++;
			ipcq__qcount(q, IPCQ_QCTR_COMPLETED, 1);
			continue;
		}
		/* relaxed: ours since L9 */
		ipcq__store_relaxed(&l->move_side, 0u);
		if (ipcq__load_relaxed(&l->deliveries) >= q->max_deliveries) {
			if (lease_to_side(q, l, mine, IPCQ_REASON_CONSUMER_CRASHED) == 0) {
				rep->poisoned++;
				ipcq__qcount(q, IPCQ_QCTR_POISONED, 1);
			} else {
				/* L10: side ring full: give it back to the
				 * dead owner's tag (CAS), so that the next
				 * pass takes it over again (L9, which pairs
				 * with this) and retries */
				ipcq__cas(&l->state, mine, w);
				/* side_full: counted by ipcq__side_insert() */
				rep->pending++;
			}
			continue;
		}
		/* relaxed: ours since L9 (the group's generation it was
		 * received in; after our L4 the entry may be refilled) */
		uint32_t ggen = ipcq__load_relaxed(&l->group_gen);
		IPCQ_CRASHPOINT("recover.lease_giving");
		make_redeliverable(q, l, mine);
		rep->redelivered++;
		ipcq__qcount(q, IPCQ_QCTR_REDELIVERED, 1);
		if (g >= 0) {
			/* GR1: full fence, our L4 before the look at the group;
			 * pairs with GR1 of ipcq_group_remove(): a remove whose
			 * drop pass missed our entry (still OWNED) is seen
			 * here, and the entry goes with the group as that
			 * pass would have let it */
			ipcq__fence();
			if (ipcq__durable_group(q, (uint32_t)g + 1, ggen) == IPCQ__NO_GROUP) {
				int n = ipcq__lease_drop_group(q, (uint32_t)g, ggen);
				rep->freed += (uint64_t)n;
				ipcq__qcount(q, IPCQ_QCTR_FREED, (uint64_t)n);
			}
		}
	}
	return acted;
}
