/*
 * ring.c - the bounded multi-producer multi-consumer ring.
 *
 * The layer's hot-path steps are inline in ring.h; this file holds the
 * protocol and the cold steps: releases for the dead and for adopters,
 * and publishing a copy on behalf of another.
 *
 * Owns: control.enq, control.deq (claimed by CAS, or by the store of a sole
 * producer or consumer, see below) and every slot of the main ring; the work
 * records (prod_*, cons_*) of the caller's participant entry; the cursors
 * of the priority lanes.
 *
 * Priority lanes (ipcq_config.priorities > 1): each lane is a ring of its
 * own, with the protocol below unchanged: its slots (the ring's l-th run of
 * capacity slots), its cursors (lane 0's are control.enq/deq, lane l's in
 * struct ipcq_shm_lane).  Nothing synchronizes between lanes.  The one
 * thing added is the lane in each work record: the op word names it
 * (IPCQ_OP_LANE()), written in the same store as the op, so a record that
 * covers position p covers p of that lane only, and recovery (recovery.c)
 * acts on the lane the record names; a lease names the lane of its source
 * slot (lease.lane) the same way.  A handle works on one lane at a time
 * (ipcq__lane_use(): the current lane's slots, cursors and op codes), lane
 * 0 between calls; a receive looks at the lanes in ipcq__lanes_try().
 *
 * The scheme is Dmitry Vyukov's bounded MPMC queue with a sequence word per
 * slot and 64-bit positions that never wrap in practice (2^64 messages at
 * 10^9/s take 584 years).  For position pos and slot s = pos & mask:
 *
 *     s.seq == pos              free: the producer of pos may write it
 *     s.seq == pos + 1          published: the consumer of pos may read it
 *                               (with an owner field once recovery handed
 *                               a dead consumer's claim to an adopter)
 *     s.seq == pos + capacity   released: free for the producer of the
 *                               next lap
 *
 * (positions modulo 2^44; ipcq_internal.h gives the word's layout.)
 *
 * Protocol (labels name the synchronizing edges; each access in the code
 * carries its label):
 *
 *   producer                                 consumer
 *   A1 load-acquire s.seq == pos             A2 load-acquire s.seq == pos + 1
 *      (pairs with R2: the previous             (pairs with R1: the payload
 *      consumer's reads are done)               and header are visible)
 *   record (pos, n) in own entry             record (pos, n) in own entry
 *   P1 CAS enq pos -> pos + n                C1 CAS deq pos -> pos + n
 *   F1 release fence                         C2 load space_waiters (seq_cst)
 *   P2 load data_waiters (seq_cst)           copy header and payload out
 *   write header and payload                 R2 CAS s.seq pos + 1 -> pos + cap
 *   R1 store-release s.seq = pos + 1         R4 store-release record = idle
 *   R4 store-release record = idle           wake producers if C2 saw any
 *   wake consumers if P2 saw any
 *
 * Late release (IPCQ_ATTACH_LATE_RELEASE): a receive returns to its caller
 * between its copy and R2, keeping its record over the claim; R2 and R4
 * are made by ipcq__ring_release_held() when the handle's next receive,
 * peek, ipcq_release(), detach or close starts.  The steps and their order
 * are unchanged (model/README.md); the producer of the next lap waits at
 * A1 meanwhile, as for any claimed, unreleased slot.
 *
 * A claim that is lost (the CAS fails and the ring turns out full or
 * empty) clears its record before returning (R4 on that path too): a
 * record left over would cover a position another process owns and hold
 * its recovery up.  The release R2 is a CAS from exactly the word the
 * owner holds (pos + 1 with its skip bit, or the adopted word): it can
 * never overwrite a later lap, and a failed one is counted.
 *
 * F1 and F2: a consumer reads a slot's length speculatively (before it
 * owns the slot) and re-checks the slot word after an acquire fence (F2);
 * a producer of a later lap passes a release fence (F1) after its claim
 * and before its data stores, so a length of that later lap implies a
 * changed word at the re-check.  The dedup ring scan reads the same way
 * (stats.c reads slots through pread(): a snapshot for people).
 *
 * A producer claims a position only after A1 has shown its slot free, so a
 * full ring is reported (-EAGAIN) instead of waited into, and a claim never
 * waits for another producer.  Batches look at the next n slots, claim the
 * longest free (or published) run with one CAS, and so take one atomic
 * operation for n messages.  Slots of a run stay free (published) between
 * the look and the CAS: only the claimer of a position changes its slot
 * away from that state, and claiming needs the cursor we are about to CAS.
 *
 * Labels defined elsewhere: R5 (recovery.c, a skip published by CAS in
 * place of a dead producer's R1; pairs with A2), T1 (recovery.c, the
 * adoption of a dead owner's message: a CAS that writes the adopter's
 * index into the slot word), R3 and W1-W4 (wait.c).
 *
 * P2/C2 and the waiter side (W1-W3 in wait.c) give "no lost wake-up"
 * without a fence on the hot path: P2/C2 are seq_cst loads after the claim
 * CAS in the single total order of seq_cst operations, and a producer makes
 * a FUTEX_WAKE system call only when P2 saw a sleeper.
 *
 * Sole producers and consumers (IPCQ_ATTACH_SOLE): P1s / C1s replace P1 /
 * C1 with a store-release of the cursor.  The handle holds the cursor's
 * seat alone (attach.c), so nobody else writes it and the position it
 * loaded is still the cursor's; the release orders the record before the
 * store as the CAS's release half did.  What the store does not give is
 * the order before P2/C2: a sleeper's membarrier gives it (W1b, wait.c);
 * where the kernel refuses membarrier the sole handle claims by CAS.
 * The SPIN model has the store claim (SOLE_P, SOLE_C in model/ipcq.pml),
 * and a variant without the seat fails.
 *
 * The work record is written before the claim (ordered by the release
 * half of the CAS, or by the sole handle's store-release) and cleared
 * after the publish/release (R4, a release store, so a record seen idle
 * means the slot work is visible).  Crash recovery reads
 * these records to tell a dead participant's claim from a live one's.
 *
 * Everything read from a slot is bounded again before use: a length above
 * max_msg_size (only a corrupt or hostile segment has one) is never used to
 * copy.
 *
 * Groups (max_groups > 0; the SPIN model is model/groups.pml).  Every group
 * receives every message, so no consumer may write the slot word: it
 * belongs to the producers.
 *
 *     s.seq == pos              first lap: free
 *     s.seq == pos + 1          published (or skipped: the skip bit); it
 *                               stays so while the producer of
 *                               pos + capacity writes the slot, up to its
 *                               publish
 *
 * Each durable group g has a word per slot, gw[g][s], with the consumer
 * half of the classic slot word: == pos while g has not released pos
 * (owner field 0: the claimer by g's cursor; i + 1: adopted by entry i;
 * the adoption count is g's redelivery count), == pos + capacity once
 * released (R2g).  A group's tail says that every position below it is
 * released by the group; it moves only over released positions, by a scan
 * of the words and a CAS (G1, ipcq__group_advance_tail()), taken by the
 * member that releases the last position of each run of IPCQ__TAIL_EVERY
 * (64) and by a producer that finds the ring full, so the producer's scan
 * is short and reads lines the members wrote a while ago.  The floor
 * word is the minimum of the durable groups' tails, with a generation
 * (G3, ipcq__group_advance_floor()); a producer claims pos only when
 * pos < floor + capacity, and keeps the bound in its handle (room_end), so
 * that in the steady state it reads no line a consumer writes: the floor
 * is read and moved only when the ring looks full.
 *
 *   producer                                 consumer of a durable group
 *   A1 load-acquire s.seq: previous lap      A2 load-acquire s.seq == pos + 1
 *      published (or first lap free)         record (pos, n) in own entry
 *   pos < room_end, or G2/G3 (below)         C1 CAS g.deq pos -> pos + n
 *   record, P1 CAS enq                       copy out
 *   F1, write, R1 store-release pos + 1      R2g CAS gw[g][s] pos -> pos + cap
 *                                            R4
 *
 *   G1  load-acquire of gw[g][s] == t + cap while scanning from the tail
 *       (pairs with R2g: the group's reads of the slot are done), then a
 *       CAS of g.tail t -> t' (release: passes that on)
 *   G2  load-acquire of the floor (pairs with G3's release)
 *   G3  CAS of the floor from the word read to (min of tails, same
 *       generation): seq_cst; it fails if a group was created meanwhile
 *       (ipcq_group_create() raises the generation after making the group
 *       durable), so a minimum computed without the new group never lands
 *
 * A lossy group holds no space and owns nothing: a member claims pos by
 * the group's cursor (C1), copies the message, and after an acquire fence
 * (F2) loads enq (ipcq__ring_overrun()): the producer of pos + capacity
 * claims (P1) before F1 and its data stores, so a copy that read any of
 * them finds enq past pos + capacity, and is counted as lost instead of
 * delivered.  The slot word would not tell: it keeps "published" until
 * that producer's publish.  (Producers once marked the word before
 * writing, so that a re-check of the word sufficed; to a caught-up
 * reader polling the slot, the mark cost a second transfer of its line
 * per message, about half of a group's rate at batch 1.)  The dedup
 * scan and ipcq_browse() decide the same way; a durable member's look at
 * a slot's length before its claim goes by its group's cursor (still at
 * pos: the group has not released pos, so no later lap has claimed it).
 * A member that finds its cursor a lap or more behind jumps to the
 * oldest position still in the ring and counts what it passed.
 */
#include <sched.h>
#include <stdlib.h>

#include "ring.h"

#if defined(IPCQ_DEBUG)
/* IPCQ_DEBUG_YIELD() (ring.h) */
static int debug_yield_on = -1;
static __thread uint32_t debug_rng;
void ipcq__debug_yield(void)
{
	if (debug_yield_on < 0) {
		const char *e = getenv("IPCQ_DEBUG_YIELD");
		debug_yield_on = e && e[0] == '1';
	}
	if (!debug_yield_on)
		return;
	if (!debug_rng)
		debug_rng = (uint32_t)(uintptr_t)&debug_rng ^ (uint32_t)ipcq__now_ns(CLOCK_MONOTONIC);
	debug_rng ^= debug_rng << 13;
	debug_rng ^= debug_rng >> 17;
	debug_rng ^= debug_rng << 5;
	if ((debug_rng & 7) == 0)
		sched_yield();
}
#endif

/* Finish the release of slot p for a dead owner (recovery.c, lease.c);
 * g: the owner's group on a queue with groups (-1 otherwise). */
int ipcq__release_dead(struct ipcq *q, int32_t g, uint64_t p, uint64_t w)
{
	uint64_t *word = g >= 0 ? ipcq__gword(q, (uint32_t)g, p) : &ipcq__slot(q, p)->seq;
	/* R2 (R2g) for the dead owner: a CAS from the word it left; pairs
	 * with A1 (G1) */
	if (!ipcq__cas(word, w, ipcq__seq_pos(p + q->capacity)))
		return 0;
	/* C2 after the release CAS: pairs with W1 (wait.c) */
	if (ipcq__load_seq_cst(&q->ctl->space_waiters))
		ipcq__wake_space(q);
	return 1;
}

/* The adopter counts the delivery that was lost with the dead: the count
 * saturates, the flag stays.  Returns the raised count. */
uint8_t ipcq__adopted_raise(struct ipcq *q, struct ipcq_shm_slot *s, uint64_t held)
{
	if (q->gw) {
		/* a group's count is its word's adoption count: the slot is
		 * every group's, and only its producer writes it */
		uint32_t n = (uint32_t)((held & IPCQ_SEQ_ADOPT) >> IPCQ_SEQ_ADOPT_SHIFT);
		/* the count's last value: 63 deaths or more (it goes round
		 * after it), as many as max_deliveries can ask for here */
		if (n == IPCQ_SEQ_ADOPT_MAX)
			return 255;
		/* relaxed: published by R1, read after our adoption CAS */
		n += ipcq__load_relaxed(&s->deliveries);
		return (uint8_t)(n > 255 ? 255 : n);
	}
	/* relaxed: the slot is ours since the adoption CAS (T1) */
	uint8_t past = ipcq__deliveries_inc(ipcq__load_relaxed(&s->deliveries));
	ipcq__store_relaxed(&s->deliveries, past);
	/* relaxed: as above */
	ipcq__store_relaxed(&s->flags, (uint8_t)(ipcq__load_relaxed(&s->flags) |
						 IPCQ_SLOT_F_REDELIVERED));
	return past;
}

/* Release the adopted slot (R2 for an adopted slot, a CAS from the word
 * our adoption wrote: pairs with A1) and clear the record (R4). */
void ipcq__release_adopted(struct ipcq *q)
{
	uint64_t pos = (uint64_t)q->adopted;
	ipcq__ring_release(q, pos, q->adopted_seq);
	/* R4: idle only after the release is visible; pairs with snap() */
	ipcq__store_release(&q->me->cons_op, (uint32_t)IPCQ_OP_IDLE);
	q->adopted = -1;
}

void ipcq__ring_release_held(struct ipcq *q)
{
	uint64_t pos = q->held_pos;
	uint32_t k = q->held_n;

	q->held_n = 0;
	for (uint32_t i = 0; i < k; i++)
		/* R2, as in ipcq__ring_take(): pairs with A1 */
		ipcq__ring_release(q, pos + i, 0);
	/* C2 after the releases rather than after the claim: pairs with W1
	 * (wait.c).  Nothing relies on its order: as for an adopted slot
	 * (recv.c), a producer that needs these slots saw deq past them and
	 * never sleeps on the futex for them */
	ipcq__ring_recv_done(q, ipcq__ring_space_waiters(q));
}

/* Publish one message with the header of another producer's (a replay). */
int ipcq__publish_copy(struct ipcq *q, const void *payload, uint32_t len, uint16_t producer,
		       uint32_t stream, uint64_t pseq, uint64_t enqueue_ns, uint8_t flags,
		       uint8_t deliveries, uint32_t target, int64_t *pos_out)
{
	struct ipcq_buf b = { (void *)(uintptr_t)payload, len };
	struct ipcq__send_meta meta = { producer, flags, deliveries, stream, pseq, enqueue_ns,
					target };
	uint64_t pos;
	int rc = ipcq__ring_send(q, &b, 1, &meta, 0, NULL, &pos);
	if (rc > 0 && pos_out)
		*pos_out = (int64_t)pos;
	return rc;
}

/* ---- groups ---------------------------------------------------------- */

uint64_t ipcq__group_floor(const struct ipcq *q)
{
	/* G2: pairs with G3 (the release half of the floor CAS): the group
	 * releases its mover read come before our overwrites */
	uint64_t fw = ipcq__load_acquire(&q->ctl->floor);
	/* acquire: read after the floor; the floor is never above enq, and
	 * never a lap below the positions claimed (claims stay below
	 * floor + capacity), so the 44 bits place it */
	uint64_t enq = ipcq__load_acquire(q->enqp);
	return enq - ((enq - fw) & IPCQ_SEQ_POS);
}

uint64_t ipcq__group_advance_tail(struct ipcq *q, uint32_t g, uint64_t enq)
{
	struct ipcq_shm_group *grp = &q->groups[g];
	/* acquire: pairs with the release half of another mover's tail CAS */
	uint64_t t = ipcq__load_acquire(&grp->tail);
	/* relaxed: a bound for the scan; the words decide */
	uint64_t d = ipcq__load_relaxed(&grp->deq);
	if (d > enq)
		d = enq; /* corrupt: never past what was claimed */
	if (t > d)
		return d; /* corrupt: a tail past the cursor is not believed */
	uint64_t t2 = t, end = d - t < q->capacity ? d : t + q->capacity;
	const uint64_t *words = ipcq__gword(q, g, 0); /* the group's first word */
	while (t2 < end) {
		/* G1: pairs with R2g (the member's release CAS): its reads of
		 * the slot are done before we let a producer overwrite it */
		if (ipcq__load_acquire(&words[t2 & q->mask]) != ipcq__seq_pos(t2 + q->capacity))
			break;
		t2++;
	}
	/* G1: seq_cst CAS (its release half passes the group's releases
	 * on to the next reader of the tail); a CAS from the value read, so
	 * a tail never moves back */
	if (t2 > t && !ipcq__cas(&grp->tail, t, t2))
		/* acquire: another mover got further (or as far) */
		t2 = ipcq__load_acquire(&grp->tail);
	return t2;
}

uint64_t ipcq__group_advance_floor(struct ipcq *q)
{
	/* G2: as in ipcq__group_floor(); the word we CAS from */
	uint64_t fw = ipcq__load_acquire(&q->ctl->floor);
	/* acquire: as in ipcq__group_floor() */
	uint64_t enq = ipcq__load_acquire(q->enqp);
	uint64_t f = enq - ((enq - fw) & IPCQ_SEQ_POS), m = UINT64_MAX;

	for (uint32_t g = 0; g < q->max_groups; g++) {
		/* acquire: pairs with the creator's store-release of the
		 * state (its start, cursor, tail and words come first) */
		if (ipcq__load_acquire(&q->groups[g].state) != IPCQ_GRP_DURABLE)
			continue;
		uint64_t t = ipcq__group_advance_tail(q, g, enq);
		if (t < m)
			m = t;
	}
	if (m == UINT64_MAX)
		m = enq; /* no durable group: nothing holds a slot */
	if (m <= f)
		return f;
	/* G3: seq_cst; release: the G1 reads above come before a producer
	 * that reads the new floor (G2) overwrites; fails if a creation
	 * raised the generation since our G2 */
	if (ipcq__cas(&q->ctl->floor, fw, IPCQ_FW(m, IPCQ_FW_GEN(fw))))
		return m;
	return ipcq__group_floor(q);
}

int ipcq__group_room(struct ipcq *q, uint64_t pos)
{
	uint64_t f = ipcq__group_floor(q);
	if (pos >= f + q->capacity)
		f = ipcq__group_advance_floor(q);
	if (f + q->capacity > q->room_end)
		q->room_end = f + q->capacity;
	return pos < q->room_end;
}

/* ---- priority lanes ------------------------------------------------------ */

/*
 * A receive on a queue with priority lanes: call @try_lane on one lane
 * after another, with the lane made current, until it gives something
 * other than -EAGAIN.
 *
 * The order: with IPCQ__LANES_ADOPTED, the lane of a message adopted from
 * a dead consumer first; then the highest lane first, except on a guard
 * turn (one receive in guard_every), which starts at guard_lane, goes
 * down to lane 0 and then takes the lanes above it, so that each lower
 * lane in turn is served first now and then.  An empty lane is passed by
 * a look at its cursors (ipcq__lane_busy()), but for the last one with
 * IPCQ__LANES_LOOK_LAST (ack mode: each try also looks at the pool of
 * given-back messages, which must be looked at once).
 *
 * A try on the adopted message's lane that leaves it adopted (ack mode:
 * no free lease entry for it) ends the receive: -EAGAIN.  The adopted
 * message goes first, and it is a position of its own lane: a try on
 * another lane would read that position there (lease_recv()).
 *
 * Returns what the last try returned, *lane the lane it was on; the
 * handle is back on lane 0.  A success (>= 0) counts for the guard.
 */
int ipcq__lanes_try(struct ipcq *q, unsigned how, int (*try_lane)(struct ipcq *q, void *ctx),
		    void *ctx, uint32_t *lane)
{
	uint32_t order[IPCQ_PRIORITIES_MAX + 1], k = 0, top = q->lanes - 1, start = top;
	int guard = q->guard_every && q->guard_tick + 1 >= q->guard_every, rc = -EAGAIN;

	if ((how & IPCQ__LANES_ADOPTED) && q->adopted >= 0)
		order[k++] = q->adopted_lane;
	uint32_t first = k; /* the lanes in turn start here */
	if (guard)
		start = q->guard_lane < top ? q->guard_lane : top - 1;
	for (uint32_t l = start + 1; l-- > 0;)
		order[k++] = l;
	for (uint32_t l = top; l > start; l--)
		order[k++] = l;
	*lane = 0;
	for (uint32_t i = 0; i < k && rc == -EAGAIN; i++) {
		int look = i < first || ((how & IPCQ__LANES_LOOK_LAST) && i == k - 1);
		if (!look && !ipcq__lane_busy(q, order[i]))
			continue;
		ipcq__lane_use(q, order[i]);
		*lane = order[i];
		rc = try_lane(q, ctx);
		if (i < first && q->adopted >= 0)
			break; /* still adopted: it goes first, on its lane */
	}
	ipcq__lane_use(q, 0);
	if (rc < 0)
		return rc;
	if (!guard) {
		q->guard_tick++;
	} else {
		q->guard_tick = 0;
		q->guard_lane = q->guard_lane ? q->guard_lane - 1 : q->lanes - 2;
	}
	return rc;
}
