/*
 * recovery.c - taking over the unfinished work of dead participants.
 *
 * Owns: ipcq_recover() and the decisions of every recovery pass.  Writes:
 * slot sequence words (by CAS only), the caller's own work record, and
 * through lease.c and side.c the state words of lease and side entries.
 * Never writes another participant's entry.
 *
 * A participant is dead when its entry is ACTIVE (or RECOVERING) and
 * nobody holds the entry's liveness lock.  A pass looks at the records of
 * the entries that look dead to find work to take over, but the records
 * only say where to look: every action is decided again, at the slot or
 * entry it changes, right before the CAS that performs it.  A participant
 * found dead at the start of a pass may have been replaced by a new, live
 * process on the same entry by the time the pass acts.
 *
 * The rules (the SPIN model in model/ checks them, with a crash at every
 * step):
 *
 *  - One owner per slot, recorded at the slot.  A claimed, unreleased
 *    message (seq == p + 1) belongs to the process that claimed p with the
 *    cursor CAS (owner field 0), until recovery hands it to an adopter,
 *    whose entry index the adoption CAS writes into the slot word (owner
 *    field i + 1).  A producer's claimed, unpublished slot (seq == p)
 *    belongs to the producer that claimed p.
 *  - The owner is alive when: owner field i + 1, entry i's lock is held;
 *    owner field 0 (or an unpublished slot), some entry whose work record
 *    covers p has its lock held.  Every claim is preceded by a record
 *    covering the claimed positions, kept until the slot work is visible
 *    (R4 in ring.h) and cleared on every path that gives a claim up, so
 *    the claimer of p, while alive, covers p.  A record covering p that
 *    belongs to a live process that is not its owner (a claim it lost a
 *    moment ago) only delays recovery until that process moves on.
 *  - Only a dead owner's work is taken over, by a CAS from the exact word
 *    that showed it unfinished.  If the owner finished meanwhile, or
 *    another recoverer or adopter got there first, the word changed and
 *    the CAS fails.  A dead process never comes back, and a new process on
 *    its entry can only change the slot by such a CAS, so the verdict
 *    cannot go stale between the check and the CAS.
 *  - A message is "moved on" when a lease holds it (any lease in state
 *    OWNED or REDELIVER whose src_pos is p) or when the owner's move
 *    record names a side-ring entry that holds it: then the slot is only
 *    released.  The owner is the adopter the slot names, or (claimed with
 *    the cursor) one of the dead whose record covers p: a live
 *    participant's record that covers p is a claim it lost, and its move
 *    record may be of another message.  A side entry is not purged or
 *    replayed while a mover into it still holds its source
 *    (ipcq__side_settle()), so the entry a dead mover's record names is
 *    still FULL at its generation when recovery asks.  Otherwise a live consumer adopts it and delivers it again
 *    with its delivery count raised, or quarantines it after
 *    max_deliveries.  Lease recovery releases the source slot of a lease
 *    it takes over before it makes the lease deliverable again, so a lease
 *    is acknowledged or moved on only after its source slot is released:
 *    the message exists once.
 *  - An entry whose holder died is taken by a new process only once the
 *    dead holder owns nothing (ipcq__entry_resolved()): while a slot names
 *    it, its index stays its own.
 *
 * What is done with a dead participant's work:
 *  - producer record, position p claimed (enq > p) and unpublished
 *    (seq == p): published as a skip (p + 1 | SKIP).  The message was
 *    never acknowledged to its sender; consumers pass the slot.
 *  - claimed, unreleased slot whose owner is dead: released if the message
 *    was moved on; otherwise adopted by a live consumer.
 *  - leases and side-ring entries: lease.c and side.c.
 *
 * On a queue with priority lanes every rule holds per lane: a record
 * covers positions of the lane its op word names (ring.c), a lease holds
 * position p of its own lane, and a pass acts on each dead record's lane.
 *
 * On a queue with groups (ring.c, "Groups") the same rules hold per
 * durable group, with the group's word in place of the consumer half of
 * the slot word (unreleased p == p) and the group's cursor in place of
 * control.deq: a dead member's claim is adopted by a live member of the
 * same group, and its records count only for that group.  A producer's
 * claimed, unpublished slot shows the previous lap published, or p on
 * the first lap.  A group removed, or made again, since
 * the dead member joined it (another generation) owns nothing any more.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ring.h"

struct rec_snapshot {
	uint32_t prod_op, prod_n, cons_op, cons_n;
	uint64_t prod_pos, cons_pos;
};

static void snap(const struct ipcq *q, const struct ipcq_shm_participant *p,
		 struct rec_snapshot *r)
{
	/* acquire: R4 of the owner; a record seen idle means its work is
	 * visible */
	r->prod_op = ipcq__load_acquire(&p->prod_op);
	/* relaxed: stored before op without a release, so they may be of
	 * an older record than op.  Harmless: an older record's work was
	 * done before its R4, so every CAS on it fails; a live owner's
	 * current record is read after the seq_cst cursor load of
	 * skip_orphan()/resolve_claimed(), which synchronizes with the
	 * claim CAS (P1/C1) that follows the record */
	r->prod_pos = ipcq__load_relaxed(&p->prod_pos);
	r->prod_n = ipcq__load_relaxed(&p->prod_n);
	/* acquire: R4, as for prod_op */
	r->cons_op = ipcq__load_acquire(&p->cons_op);
	/* relaxed: as prod_pos */
	r->cons_pos = ipcq__load_relaxed(&p->cons_pos);
	r->cons_n = ipcq__load_relaxed(&p->cons_n);
	/* a claim never covers more than the ring: a larger count is
	 * corrupt, and is cut so that no pass runs long */
	if (r->prod_n > q->capacity)
		r->prod_n = q->capacity;
	if (r->cons_n > q->capacity)
		r->cons_n = q->capacity;
}

static int covers(uint64_t start, uint32_t n, uint64_t p)
{
	return p >= start && p - start < n;
}

/* The entries found dead with a record covering a position (indices
 * below IPCQ_PARTICIPANTS_MAX, which bounds max_participants). */
struct dead_cover {
	uint64_t bit[IPCQ_PARTICIPANTS_MAX / 64];
};

/*
 * Does a live participant's record cover p (producer or consumer side)?
 * Every entry is looked at, whatever an earlier look said of it: the
 * record first, then the lock, so that a record read is the holder's the
 * lock check is about (an attacher takes the lock before it writes).
 * When none does, *dc (if given) holds the entries whose record covered p
 * and whose lock was free: the claimer of p is among them.
 */
static int live_covers(const struct ipcq *q, uint64_t p, int producer, int32_t also_dead,
		       int32_t g, struct dead_cover *dc)
{
	if (dc)
		memset(dc, 0, sizeof(*dc));
	for (uint32_t i = 0; i < q->max_participants; i++) {
		const struct ipcq_shm_participant *e = &q->parts[i];
		/* acquire: pairs with E1 (attach.c); an entry being set up
		 * (FREE) or left (DETACHED) has no work in progress */
		uint32_t st = ipcq__load_acquire(&e->state);
		if (st != IPCQ_PART_ACTIVE && st != IPCQ_PART_RECOVERING)
			continue;
		/* relaxed: written before E1, which the state's acquire read */
		if (!producer && g >= 0 && ipcq__load_relaxed(&e->group) != (uint32_t)g + 1)
			continue; /* a record of another group's position */
		struct rec_snapshot r;
		snap(q, e, &r);
		/* the op word names the lane: a record of the current lane's p */
		if (producer ? r.prod_op == q->op_enq && covers(r.prod_pos, r.prod_n, p)
			     : r.cons_op == q->op_deq && covers(r.cons_pos, r.cons_n, p)) {
			if (!ipcq__dead_now(q, i, also_dead))
				return 1;
			if (dc && i < IPCQ_PARTICIPANTS_MAX)
				dc->bit[i / 64] |= (uint64_t)1 << (i % 64);
		}
	}
	return 0;
}

/* Is the owner of the claimed, unreleased message p, slot word w, alive?
 * (o == 0: *dc as live_covers() says) */
static int owner_alive(const struct ipcq *q, uint64_t w, uint64_t p, int32_t also_dead,
		       int32_t g, struct dead_cover *dc)
{
	uint32_t o = ipcq__seq_owner(w);
	if (o == 0)
		return live_covers(q, p, 0, also_dead, g, dc);
	if (o - 1 >= q->max_participants)
		return 0; /* corrupt: nobody can hold it */
	return !ipcq__dead_now(q, o - 1, also_dead);
}

/*
 * Had the (dead) owner of message p, slot word w, moved it on already?
 * Its move record says, read now.  Owner field i + 1: entry i, the
 * adopter owner_alive() found dead.  Owner field 0: the claimer, one of
 * the entries dc holds, whose record covered p when owner_alive() found
 * their lock free.  Those records no longer change: a dead process never
 * comes back, and its entry is not taken over while p names it
 * (ipcq__entry_resolved(): an attacher that locks it meanwhile only
 * recovers it, and unlocks).  A participant whose record covers p now but
 * did not then is none of them: it lost its claim on p (a cursor read
 * before the claimer's) or is trying to adopt p, and its move record may
 * name its move of another message, which would be taken for p's.
 */
static int moved_on(const struct ipcq *q, uint64_t w, uint64_t p, int32_t g,
		    const struct dead_cover *dc)
{
	/* in a group the skip bit is in the slot word (acquire: pairs with
	 * R1/R5; it cannot change while the group holds p) */
	if (g >= 0 ? ipcq__load_acquire(&ipcq__slot(q, p)->seq) & IPCQ_SEQ_SKIP : w & IPCQ_SEQ_SKIP)
		return 1; /* nothing to deliver */
	if (ipcq__lease_holds(q, p, g))
		return 1;
	uint32_t o = ipcq__seq_owner(w);
	for (uint32_t i = 0; i < q->max_participants && i < IPCQ_PARTICIPANTS_MAX; i++) {
		const struct ipcq_shm_participant *e = &q->parts[i];
		if (o ? i != o - 1 : !(dc->bit[i / 64] >> (i % 64) & 1))
			continue;
		/* relaxed: a dead owner's move record, stored after its side
		 * claim (S5 in side.c); read now, at the moment of acting,
		 * after its lock was found free (K1, registry.c: the dead's
		 * stores are visible then) */
		if (ipcq__side_moved(q, ipcq__load_relaxed(&e->move_side),
				     ipcq__load_relaxed(&e->move_gen)))
			return 1;
	}
	return 0;
}

static int skip_orphan(struct ipcq *q, uint64_t p, int32_t also_dead, struct ipcq_recovery *rep)
{
	struct ipcq_shm_slot *s = ipcq__slot(q, p);

	/* seq_cst: after the record reads, in the order of the claim CASes;
	 * pairs with P1 (ring.h): reading its value or a later one makes
	 * the claimer's record visible to live_covers() */
	uint64_t enq = ipcq__load_seq_cst(q->enqp);
	if (enq <= p || enq - p > q->capacity)
		return 0; /* never claimed, or a lap ago: done long since */
	/* A1 (as in ipcq__ring_claim_send()); the CAS below decides */
	uint64_t w = ipcq__load_acquire(&s->seq);
	if (w != ipcq__seq_pos(p) && !(q->gwords && ipcq__gslot_free(q, w, p)))
		return 0; /* published, or a later lap */
	if (live_covers(q, p, 1, also_dead, -1, NULL)) {
		rep->pending++;
		return 0;
	}
	IPCQ_CRASHPOINT("recover.checked");
	/* R5: publishes the skip; pairs with A2 of the consumer of p */
	if (!ipcq__cas(&s->seq, w, ipcq__seq_pos(p + 1) | IPCQ_SEQ_SKIP))
		return 0;
	IPCQ_CRASHPOINT("recover.skipped");
	rep->skipped++;
	ipcq__qcount(q, IPCQ_QCTR_SKIPPED, 1);
	return 1;
}

static int resolve_claimed(struct ipcq *q, uint64_t p, int adopt, int32_t also_dead,
			   struct ipcq_recovery *rep, int32_t g)
{
	/* g: the dead claimer's durable group, -1 without groups */
	uint64_t *word = g >= 0 ? ipcq__gword(q, (uint32_t)g, p) : &ipcq__slot(q, p)->seq;
	uint64_t unreleased = ipcq__seq_pos(g >= 0 ? p : p + 1);

	/* seq_cst: as in skip_orphan(); pairs with C1 (ring.h) */
	uint64_t deq = ipcq__load_seq_cst(g >= 0 ? &q->groups[g].deq : q->ldeq);
	if (deq <= p || deq - p > q->capacity)
		return 0; /* never claimed, or a lap ago: done long since */
	/* A2: pairs with R1 (ring.h) or R5 (or R2g/T1 of the group word);
	 * an adopter reads the payload */
	uint64_t w = ipcq__load_acquire(word);
	if ((w & IPCQ_SEQ_POS) != unreleased)
		return 0; /* released already */
	struct dead_cover dc;
	if (owner_alive(q, w, p, also_dead, g, &dc)) {
		rep->pending++;
		return 0;
	}
	IPCQ_CRASHPOINT("recover.owner_dead");
	if (moved_on(q, w, p, g, &dc)) {
		IPCQ_CRASHPOINT("recover.checked");
		/* nothing to deliver (a skip), or the dead had already moved
		 * the message on: finish its release */
		if (!ipcq__release_dead(q, g, p, w))
			return 0;
		rep->completed++;
		ipcq__qcount(q, IPCQ_QCTR_COMPLETED, 1);
		return 1;
	}
	/* adopt 2: a drop-oldest producer's, which adopts to drop (send.c)
	 * the oldest position alone */
	if (!adopt || !(q->roles & IPCQ_ROLE_CONSUMER || adopt == IPCQ__ADOPT_TO_DROP) ||
	    (adopt == IPCQ__ADOPT_TO_DROP && (p != q->drop_pos || q->lane != q->drop_lane)) ||
	    q->adopted >= 0 || q->index < 0 || q->index == also_dead ||
	    g != (q->gw ? q->group : -1)) {
		rep->pending++;
		return 0;
	}
	/* Adopt: our record first (covered before we own it), then the CAS
	 * that writes our index into the slot.  relaxed stores: ordered
	 * before it by the CAS's release half (T1). */
	ipcq__store_relaxed(&q->me->cons_pos, p);
	ipcq__store_relaxed(&q->me->cons_n, 1u);
	ipcq__store_relaxed(&q->me->move_side, 0u);
	ipcq__store_relaxed(&q->me->cons_op, q->op_deq);
	IPCQ_CRASHPOINT("recover.checked");
	uint64_t mine = ipcq__seq_adopted(w, (uint32_t)q->index);
	/* T1: the adoption; fails if the owner released, or another adopter
	 * got there first (each adoption writes a new owner and count);
	 * seq_cst, after our record like C1; its acquire half reads from
	 * the producer's R1 (the payload) */
	if (!ipcq__cas(word, w, mine)) {
		/* R4: the claim is given up; pairs with snap() */
		ipcq__store_release(&q->me->cons_op, (uint32_t)IPCQ_OP_IDLE);
		return 0;
	}
	IPCQ_CRASHPOINT("recover.adopted");
	q->adopted = (int64_t)p;
	q->adopted_seq = mine;
	q->adopted_lane = q->lane;
	if (adopt != IPCQ__ADOPT_TO_DROP) {
		rep->redelivered++;
		ipcq__qcount(q, IPCQ_QCTR_REDELIVERED, 1);
	}
	return 1;
}

/* The durable group whose work entry e's consumer record is (-1: the
 * queue has no groups), or IPCQ__NO_GROUP: none (a lossy group's member
 * owns nothing; a removed group's work went with it). */
static int32_t entry_group(const struct ipcq *q, const struct ipcq_shm_participant *e)
{
	/* relaxed: written before E1 (the caller's acquire of the state) */
	return ipcq__durable_group(q, ipcq__load_relaxed(&e->group),
				   ipcq__load_relaxed(&e->group_gen));
}

int ipcq__recover_scan(struct ipcq *q, struct ipcq_recovery *rep, int adopt, int32_t also_dead)
{
	struct ipcq_recovery local;
	uint8_t *dead;
	int acted = 0, any = 0;
	uint32_t was = q->lane; /* a sender's lane, given back after each record */

	if (q->readonly)
		return -EPERM;
	if (!rep) {
		memset(&local, 0, sizeof(local));
		rep = &local;
	}
	dead = calloc(q->max_participants, 1);
	if (!dead)
		return -ENOMEM;
	for (uint32_t i = 0; i < q->max_participants; i++) {
		const struct ipcq_shm_participant *e = &q->parts[i];
		if ((int32_t)i == q->index && (int32_t)i != also_dead)
			continue;
		/* acquire: pairs with E1 of attach.c */
		uint32_t state = ipcq__load_acquire(&e->state);
		if (state != IPCQ_PART_ACTIVE && state != IPCQ_PART_RECOVERING)
			continue;
		/* records first, then liveness: what we read belongs to the
		 * holder the check is about (an attacher locks, then writes).
		 * The records only say where to look: each action below checks
		 * the owner again. */
		struct rec_snapshot r;
		snap(q, e, &r);
		if (!ipcq__dead_now(q, i, also_dead))
			continue;
		dead[i] = 1;
		any = 1;
		int before = acted;
		/* each record on the lane its op word names (a lane past
		 * the queue's is corrupt: nothing to do) */
		if (IPCQ_OP_KIND(r.prod_op) == IPCQ_OP_ENQUEUE && IPCQ_OP_LANE(r.prod_op) < q->lanes) {
			ipcq__lane_use(q, IPCQ_OP_LANE(r.prod_op));
			for (uint32_t k = 0; k < r.prod_n; k++)
				acted += skip_orphan(q, r.prod_pos + k, also_dead, rep);
		}
		int32_t g = entry_group(q, e);
		if (IPCQ_OP_KIND(r.cons_op) == IPCQ_OP_DEQUEUE && IPCQ_OP_LANE(r.cons_op) < q->lanes &&
		    g != IPCQ__NO_GROUP) {
			ipcq__lane_use(q, IPCQ_OP_LANE(r.cons_op));
			for (uint32_t k = 0; k < r.cons_n; k++)
				acted += resolve_claimed(q, r.cons_pos + k, adopt, also_dead, rep, g);
		}
		ipcq__lane_use(q, was);
		if (acted > before)
			dead[i] = 2; /* some of its work taken over */
	}
	if (!any)
		goto out;
	acted += ipcq__lease_recover(q, dead, also_dead, rep);
	acted += ipcq__side_recover(q, dead, also_dead, rep);
	for (uint32_t d = 0; d < q->max_participants; d++)
		if (dead[d] == 2)
			rep->dead++;
	if (acted) {
		ipcq__qcount(q, IPCQ_QCTR_RECOVERIES, 1);
		if (q->me)
			ipcq__count_shared(q, IPCQ_CTR_RECOVERIES, (uint64_t)acted);
		/* consumers waiting for a slot that was skipped or for
		 * redeliverable leases; pairs with W1 (wait.c), after our
		 * CASes in the total order */
		if (ipcq__load_seq_cst(&q->ctl->data_waiters))
			ipcq__wake_data(q);
		/* slots released for the dead (release_source(), moved_on)
		 * may open a parked message's key gate (G1): K4 */
		if (q->keyed)
			ipcq__lease_key_moved(q);
	}
	/* a dead consumer may have died between its claim and its look at
	 * the pressure (B9, pressure.c), whether or not we acted for it */
	ipcq__pressure_recheck(q);
out:
	free(dead);
	return acted;
}

/*
 * Does the (dead) holder of entry i own nothing any more?  Then a new
 * process may take the entry: its index is no longer named by any slot,
 * lease or side-ring entry that is still in progress.
 */
/*
 * Does the consumer record r of entry i still cover a claimed, unreleased
 * slot that is i's own (claimed with the cursor, or adopted by entry i)?
 */
static int cons_holds(struct ipcq *q, uint32_t i, const struct rec_snapshot *r)
{
	int32_t g = entry_group(q, &q->parts[i]);
	if (IPCQ_OP_KIND(r->cons_op) != IPCQ_OP_DEQUEUE || IPCQ_OP_LANE(r->cons_op) >= q->lanes ||
	    g == IPCQ__NO_GROUP)
		return 0;
	int rc = 0;
	uint32_t was = q->lane;
	ipcq__lane_use(q, IPCQ_OP_LANE(r->cons_op));
	/* seq_cst (pairs with C1) and A2: as in resolve_claimed() */
	uint64_t deq = ipcq__load_seq_cst(g >= 0 ? &q->groups[g].deq : q->ldeq);
	for (uint32_t k = 0; k < r->cons_n; k++) {
		uint64_t p = r->cons_pos + k;
		if (deq <= p || deq - p > q->capacity)
			continue;
		uint64_t w = ipcq__load_acquire(g >= 0 ? ipcq__gword(q, (uint32_t)g, p)
						       : &ipcq__slot(q, p)->seq);
		uint32_t o = ipcq__seq_owner(w);
		/* still unreleased, and still this holder's (the claimer's,
		 * or adopted by this entry) */
		if ((w & IPCQ_SEQ_POS) == ipcq__seq_pos(g >= 0 ? p : p + 1) &&
		    (o == 0 || o == i + 1)) {
			rc = 1;
			break;
		}
	}
	ipcq__lane_use(q, was);
	return rc;
}

int ipcq__entry_resolved(struct ipcq *q, uint32_t i)
{
	struct rec_snapshot r;
	int rc = 0;
	uint32_t was = q->lane;
	snap(q, &q->parts[i], &r);
	if (IPCQ_OP_KIND(r.prod_op) == IPCQ_OP_ENQUEUE && IPCQ_OP_LANE(r.prod_op) < q->lanes) {
		ipcq__lane_use(q, IPCQ_OP_LANE(r.prod_op));
		/* seq_cst (pairs with P1) and A1: as in skip_orphan() */
		uint64_t enq = ipcq__load_seq_cst(q->enqp);
		for (uint32_t k = 0; k < r.prod_n; k++) {
			uint64_t p = r.prod_pos + k;
			if (enq <= p || enq - p > q->capacity)
				continue;
			uint64_t w = ipcq__load_acquire(&ipcq__slot(q, p)->seq);
			if (w == ipcq__seq_pos(p) || (q->gwords && ipcq__gslot_free(q, w, p)))
				goto out;
		}
	}
	if (cons_holds(q, i, &r))
		goto out;
	for (uint32_t e = 0; e < q->lease_capacity; e++) {
		/* L2: pairs with L1/L5/L6 (lease.c) */
		uint64_t w = ipcq__load_acquire(&ipcq__lease(q, e)->state);
		uint32_t st = IPCQ_ENT_STATE(w);
		if ((st == IPCQ_ENT_RESERVED || st == IPCQ_ENT_OWNED) && IPCQ_ENT_OWNER(w) == i)
			goto out;
	}
	for (uint32_t j = 0; j < q->side_capacity; j++) {
		/* S2: pairs with S5/S7 (side.c) */
		uint64_t w = ipcq__load_acquire(&ipcq__side(q, j)->state);
		uint32_t st = IPCQ_ENT_STATE(w);
		if ((st == IPCQ_ENT_WRITING || st == IPCQ_ENT_TAKING) && IPCQ_ENT_OWNER(w) == i)
			goto out;
	}
	rc = 1;
out:
	ipcq__lane_use(q, was);
	return rc;
}

/*
 * Side-ring entry j, seen FULL at the generation of w by an acquire load
 * of its state (S2), is about to be taken: purged (S3) or replayed (S7).
 * Its mover frees its source (a ring slot, or a lease) only after S1, and
 * recovery of a mover that died in between asks ipcq__side_moved(j, g):
 * FULL (or TAKING) at g means done.  Once the entry is taken its
 * generation moves on, the move looks unfinished, and the source would be
 * delivered again: a purged message back, a replayed one twice.  So no
 * mover may hold its source any more when the entry is taken.
 *
 * The movers are found by their move records naming (j + 1, g): a
 * participant's (move_side, move_gen), an OWNED lease's.  Each was
 * written after its mover's claim (S5) and before its S1, which our S2
 * read (through S6/S7/S8 too: RMWs and a release store of the same
 * word), so all of them are visible here; and none can appear while the
 * entry stays FULL at g (a claim needs it FREE, at another generation).
 * A record read, then the lock: a mover found dead no longer changes it.
 *  - a live mover (stopped or slow between its S1 and the free of its
 *    source, or a recoverer between its L9 and its L3): the caller passes
 *    the entry over for now;
 *  - a dead one that still holds its source (its consumer record covers
 *    its unreleased slot, or its lease is OWNED): settled here by a
 *    recovery pass, which finds its move done and frees the source
 *    (moved_on(), ipcq__lease_recover(): it needs an attached handle to
 *    take a lease over), then looked at again.
 * A participant's record names a finished move until it is cleared after
 * the release (ipcq__quarantine_slot(), try_recv_one()): a dead one is
 * asked whether it still holds its slot; a lease's, until the lease is
 * freed (L3) or filled again (the fill clears it).
 *
 * Returns 0 when no mover holds its source (take the entry), 1 when one
 * still does (a live one, or a dead one this pass could not settle).
 */
int ipcq__side_settle(struct ipcq *q, uint32_t j, uint64_t w)
{
	uint32_t g = IPCQ_ENT_GEN(w);
	/* every owner asked by its lock (ipcq__ent_owner_dead()'s filter off) */
	uint8_t *ask = malloc(q->max_participants ? q->max_participants : 1);
	if (!ask)
		return 1;
	memset(ask, 1, q->max_participants);
	int rc = 1;
	for (int round = 0; round < 2; round++) {
		int live = 0, dead = 0;
		for (uint32_t i = 0; i < q->max_participants && !live; i++) {
			const struct ipcq_shm_participant *e = &q->parts[i];
			/* acquire: pairs with E1 (attach.c); FREE or DETACHED
			 * has no move under way (an attacher clears the record) */
			uint32_t st = ipcq__load_acquire(&e->state);
			if (st != IPCQ_PART_ACTIVE && st != IPCQ_PART_RECOVERING)
				continue;
			/* relaxed: stored before the mover's S1, which our S2
			 * read; a record read 0 was cleared after the release */
			if (ipcq__load_relaxed(&e->move_side) != j + 1 ||
			    ipcq__load_relaxed(&e->move_gen) != g)
				continue;
			if (!ipcq__dead_now(q, i, -1)) {
				live = 1;
				continue;
			}
			struct rec_snapshot r;
			snap(q, e, &r);
			if (cons_holds(q, i, &r))
				dead = 1;
		}
		for (uint32_t e = 0; e < q->lease_capacity && !live; e++) {
			struct ipcq_shm_lease *l = ipcq__lease(q, e);
			/* L2: pairs with L1/L6/L9; the record below was stored
			 * after the fill (L1) by the lease's owner */
			uint64_t lw = ipcq__load_acquire(&l->state);
			if (IPCQ_ENT_STATE(lw) != IPCQ_ENT_OWNED)
				continue;
			/* relaxed: as the participants' records above; a fill
			 * (a new message) clears it before its L1 */
			if (ipcq__load_relaxed(&l->move_side) != j + 1 ||
			    ipcq__load_relaxed(&l->move_gen) != g)
				continue;
			if (ipcq__ent_owner_dead(q, lw, ask, -1))
				dead = 1;
			else
				live = 1;
		}
		if (live)
			break;
		if (!dead) {
			rc = 0;
			break;
		}
		if (round == 0 && q->index >= 0)
			(void)ipcq__recover_scan(q, NULL, 0, -1);
	}
	free(ask);
	return rc;
}

/*
 * Time for a recovery pass?  At most one per grace period per side of the
 * handle (@side: 0 sending, 1 receiving; the two may be different threads),
 * counted across calls: a consumer that only ever waits a little (timeouts
 * shorter than the grace period) must still, now and then, look for the
 * messages that dead consumers claimed, which nobody else can deliver.
 * A spinning wait calls this only in its clock rounds (every 64), or when
 * its coarse start says a grace period may have passed (the inline
 * ipcq__recovery_due() in ipcq_internal.h).
 */
int ipcq__recovery_due_now(struct ipcq *q, int side)
{
	uint64_t now = ipcq__now_ns(CLOCK_MONOTONIC);
	if (now - q->last_recovery_ns[side] < q->grace_ns)
		return 0;
	q->last_recovery_ns[side] = now;
	return 1;
}
