/*
 * side.c - the poison side ring: messages that cannot be processed.
 *
 * Owns: the side-ring entries and control.side_next_id.
 *
 * The side ring is a table of side_capacity entries, each with a state
 * word (generation, owner, state) changed only by CAS, and an id from a
 * queue-wide counter so that entries list in order of arrival:
 *
 *   FREE(g) --insert--> WRITING(w,g) --S1--> FULL(g) --purge--> FREE(g+1)
 *   FULL(g) --replay--> TAKING(r,g) --published--> FREE(g+1)
 *
 * A mover claims a free entry (S5) and only then names it, (index,
 * generation), in its own source record; it frees its source only after
 * S1.  Recovery of a dead mover asks ipcq__side_moved(): FULL or TAKING
 * with that generation means the move is done (free the source), anything
 * else means it is not (keep the source; a WRITING(dead) entry is freed).
 * The record comes after the claim because a record names an entry that
 * the mover owns, or owned: written before the claim, it could name a
 * FREE entry at the generation that another mover then claims and fills
 * (our claim lost, or never made: we died first), and recovery would take
 * that mover's FULL entry for ours and free our source, losing our
 * message.  A mover dead between its claim and its record leaves a
 * WRITING(dead) entry, freed, and a source that recovery redelivers.  So a
 * message is never lost and never quarantined twice.  A dead replayer's
 * TAKING entry goes back to FULL: replay is at-least-once.  (The model
 * checks the order: model/ipcq.pml, side-race; the record before the
 * claim fails there, side-old-record.)
 *
 * A purge or a replay moves the generation on, after which a finished move
 * into the entry would look unfinished to the recovery of its mover.  So
 * neither takes a FULL entry whose mover still holds its source
 * (ipcq__side_settle() in recovery.c, called from manage.c): a dead
 * mover's source is freed first, a live mover's entry is passed over
 * until it has freed it (model: side-take; side-old-take fails).
 *
 * Labels: S1 FULL by release, S2 acquire loads of a state word, S3 back
 * to FREE by CAS, S4 the fence of ipcq_poison_peek(), S5 the insert's
 * claim, S6 recovery's takeover of TAKING(dead), S7 a replay's take.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ring.h"

int ipcq__side_insert(struct ipcq *q, const struct ipcq__poison_src *src)
{
	uint32_t j;
	uint64_t w = 0;

	if (!q->side_capacity || q->index < 0)
		goto full;
	for (j = 0; j < q->side_capacity; j++) {
		struct ipcq_shm_side *e = ipcq__side(q, j);
		/* S2: pairs with S1/S3 of the entry's previous user */
		w = ipcq__load_acquire(&e->state);
		if (IPCQ_ENT_STATE(w) != IPCQ_ENT_FREE)
			continue;
		IPCQ_CRASHPOINT("side.before_claim");
		/* S5: the claim FREE -> WRITING(us); one wins; pairs with S2 of
		 * the other movers and of ipcq__side_recover().  Our move
		 * record is written only after it: see the top of this file */
		if (ipcq__cas(&e->state, w, IPCQ_ENT(IPCQ_ENT_GEN(w), ipcq__tag(q), IPCQ_ENT_WRITING)))
			break;
	}
	if (j == q->side_capacity)
		goto full;
	/* relaxed: our move record, naming the entry we own since S5; read
	 * only by a recoverer that found us dead (K1, registry.c).  Until S1
	 * below the entry is WRITING(us), which ipcq__side_moved() never
	 * takes for a finished move, so the order of the two stores does not
	 * matter */
	ipcq__store_relaxed(src->move_gen, IPCQ_ENT_GEN(w));
	ipcq__store_relaxed(src->move_side, j + 1);
	/* F1 for the side ring: the entry's data stores stay after the
	 * claim; pairs with S4 of ipcq_poison_peek() */
	ipcq__fence_release();
	IPCQ_CRASHPOINT("side.claimed");
	struct ipcq_shm_side *e = ipcq__side(q, j);
	uint32_t len = src->len > q->max_msg_size ? q->max_msg_size : src->len;
	/* RMW: unique ids in arrival order; no ordering needed.  relaxed
	 * stores: the entry is WRITING(us); S1 below publishes them */
	ipcq__store_relaxed(&e->id, ipcq__fetch_add(&q->ctl->side_next_id, (uint64_t)1) + 1);
	ipcq__store_relaxed(&e->pseq, src->pseq);
	ipcq__store_relaxed(&e->first_ns, src->first_ns);
	ipcq__store_relaxed(&e->last_ns, ipcq__now_ns(CLOCK_MONOTONIC_COARSE));
	ipcq__store_relaxed(&e->len, len);
	ipcq__store_relaxed(&e->producer, src->producer);
	ipcq__store_relaxed(&e->deliveries, src->deliveries); /* saturated at 255 */
	ipcq__store_relaxed(&e->reason, src->reason);
	ipcq__store_relaxed(&e->stream, src->stream);
	/* the incarnation of the group the message was received in (the
	 * receiver's, or the lease's: a recoverer need not be its member) */
	uint32_t ggen = src->group && src->group <= q->max_groups ? ipcq__side_ggen(src->group_gen)
								    : 0u;
	ipcq__store_relaxed(&e->flags, (src->flags & ((1u << IPCQ_SIDE_F_GGEN_SHIFT) - 1)) |
					       (ggen << IPCQ_SIDE_F_GGEN_SHIFT) |
					       ((src->lane & 0xffu) << IPCQ_SIDE_F_LANE_SHIFT) |
					       (src->group << IPCQ_SIDE_F_GROUP_SHIFT));
	uint32_t lc = src->last_consumer < q->max_participants ? src->last_consumer : (uint32_t)q->index;
	ipcq__store_relaxed(&e->last_consumer, lc);
	/* relaxed: for people; the pid the consumer's entry shows */
	ipcq__store_relaxed(&e->last_consumer_pid, ipcq__load_relaxed(&q->parts[lc].pid));
	if (len)
		memcpy((uint8_t *)e + IPCQ_SIDE_HDR, src->payload, len);
	/* S1: the entry is complete; pairs with S2 and with the acquire loads
	 * of readers (list, peek, replay) */
	ipcq__store_release(&e->state, IPCQ_ENT(IPCQ_ENT_GEN(w), 0, IPCQ_ENT_FULL));
	IPCQ_CRASHPOINT("side.written");
	ipcq__count_shared(q, IPCQ_CTR_POISONED, 1);
	return 0;
full:
	/* relaxed: our own record; no move is under way, and a stale one
	 * would name an entry another mover fills at that generation */
	ipcq__store_relaxed(src->move_side, 0u);
	/* the one count of this refusal: callers do not count it again */
	ipcq__qcount(q, IPCQ_QCTR_SIDE_FULL, 1);
	return -ENOSPC;
}

int ipcq__side_moved(const struct ipcq *q, uint32_t move_side, uint32_t move_gen)
{
	if (move_side == 0 || move_side > q->side_capacity)
		return 0;
	/* S2: pairs with S1 (and with S6/S7, which keep the generation) */
	uint64_t w = ipcq__load_acquire(&ipcq__side(q, move_side - 1)->state);
	uint32_t st = IPCQ_ENT_STATE(w);
	return IPCQ_ENT_GEN(w) == move_gen && (st == IPCQ_ENT_FULL || st == IPCQ_ENT_TAKING);
}

int ipcq__side_recover(struct ipcq *q, uint8_t *dead, int32_t also_dead,
		       struct ipcq_recovery *rep)
{
	int acted = 0;

	for (uint32_t j = 0; j < q->side_capacity; j++) {
		struct ipcq_shm_side *e = ipcq__side(q, j);
		/* S2: pairs with S5/S7 of the dead owner */
		uint64_t w = ipcq__load_acquire(&e->state);
		uint32_t st = IPCQ_ENT_STATE(w), owner = IPCQ_ENT_OWNER(w);
		if (st != IPCQ_ENT_WRITING && st != IPCQ_ENT_TAKING)
			continue;
		/* decided now, with the owner's full tag: a live owner, or a
		 * new process on the dead owner's entry, is never robbed */
		if (!ipcq__ent_owner_dead(q, w, dead, also_dead))
			continue;
		if (owner >= q->max_participants)
			owner = 0; /* corrupt owner: count it against entry 0 */
		if (st == IPCQ_ENT_WRITING) {
			/* S3: half-written by the dead; its source still has
			 * the message */
			if (ipcq__cas(&e->state, w, IPCQ_ENT_FREED(w))) {
				rep->freed++;
				ipcq__qcount(q, IPCQ_QCTR_FREED, 1);
				acted++;
				dead[owner] = 2;
			}
		} else if (st == IPCQ_ENT_TAKING) {
			/* A replay that died: keep the entry, marked, since the
			 * message may be in the ring already.  Take it first,
			 * so that the mark is set before anyone can replay it. */
			uint64_t mine = q->index >= 0 ? IPCQ_ENT(IPCQ_ENT_GEN(w), ipcq__tag(q), IPCQ_ENT_TAKING) : 0;
			/* S6: TAKING(dead) -> TAKING(us); one recoverer wins */
			if (q->index >= 0 && ipcq__cas(&e->state, w, mine)) {
				/* relaxed: ours since S6; S1 below publishes it */
				ipcq__store_relaxed(&e->flags, ipcq__load_relaxed(&e->flags) |
								     IPCQ_SIDE_F_REPLAY_CUT);
				/* S1 for the re-filled entry */
				ipcq__store_release(&e->state, IPCQ_ENT(IPCQ_ENT_GEN(w), 0, IPCQ_ENT_FULL));
				rep->completed++;
				ipcq__qcount(q, IPCQ_QCTR_COMPLETED, 1);
				acted++;
				dead[owner] = 2;
			}
		}
	}
	return acted;
}

/* ---- the public side-ring API -------------------------------------------- */

static int poison_read(const struct ipcq *q, uint32_t j, struct ipcq_poison *p, uint64_t *w_out)
{
	struct ipcq_shm_side *e = ipcq__side(q, j);
	/* S2: pairs with S1; the fields below were written before it */
	uint64_t w = ipcq__load_acquire(&e->state);
	if (IPCQ_ENT_STATE(w) != IPCQ_ENT_FULL)
		return 0;
	memset(p, 0, sizeof(*p));
	/* relaxed: stable while FULL; re-checked by the caller where it
	 * matters */
	p->id = ipcq__load_relaxed(&e->id);
	p->len = ipcq__load_relaxed(&e->len);
	if (p->len > q->max_msg_size)
		p->len = q->max_msg_size;
	p->seq = ipcq__load_relaxed(&e->pseq);
	p->first_ns = ipcq__load_relaxed(&e->first_ns);
	p->last_ns = ipcq__load_relaxed(&e->last_ns);
	p->producer = ipcq__load_relaxed(&e->producer);
	p->deliveries = ipcq__load_relaxed(&e->deliveries);
	p->reason = ipcq__load_relaxed(&e->reason);
	p->last_consumer = ipcq__load_relaxed(&e->last_consumer);
	p->last_consumer_pid = ipcq__load_relaxed(&e->last_consumer_pid);
	uint32_t f = ipcq__load_relaxed(&e->flags);
	p->group = IPCQ_SIDE_GROUP(f);
	if (p->group > q->max_groups)
		p->group = 0; /* corrupt: no such group */
	/* relaxed: a snapshot of the group's gen, read as the entry is */
	uint32_t ggen = IPCQ_SIDE_GGEN(f);
	if (p->group && (ggen & 0x80u) &&
	    ggen != ipcq__side_ggen(ipcq__load_relaxed(&q->groups[p->group - 1].gen)))
		p->group = 0; /* that group was removed, its index taken since: every group's */
	p->priority = IPCQ_SIDE_LANE(f);
	if (p->priority >= q->lanes)
		p->priority = 0; /* corrupt: no such lane */
	p->stream = ipcq__load_relaxed(&e->stream);
	*w_out = w;
	return 1;
}

int ipcq__side_read(const struct ipcq *q, uint32_t j, struct ipcq_poison *p, uint64_t *w)
{
	return poison_read(q, j, p, w);
}

static int by_id(const void *a, const void *b)
{
	const struct ipcq_poison *x = a, *y = b;
	return x->id < y->id ? -1 : x->id > y->id;
}

int ipcq_poison_list(struct ipcq *q, uint64_t after, struct ipcq_poison *out, unsigned n)
{
	struct ipcq_poison p;
	uint64_t w;
	unsigned got = 0;

	if (!q || (!out && n))
		return -EINVAL;
	if (!n)
		return 0;
	/* keep the n smallest ids above @after */
	for (uint32_t j = 0; j < q->side_capacity; j++) {
		if (!poison_read(q, j, &p, &w) || p.id <= after)
			continue;
		if (got < n) {
			out[got++] = p;
			continue;
		}
		unsigned max = 0;
		for (unsigned i = 1; i < got; i++)
			if (out[i].id > out[max].id)
				max = i;
		if (p.id < out[max].id)
			out[max] = p;
	}
	qsort(out, got, sizeof(*out), by_id);
	return (int)got;
}

int ipcq__side_find(const struct ipcq *q, uint64_t id, struct ipcq_poison *p, uint64_t *w)
{
	for (uint32_t j = 0; j < q->side_capacity; j++)
		if (poison_read(q, j, p, w) && p->id == id)
			return (int)j;
	return -ENOENT;
}

int ipcq_poison_peek(struct ipcq *q, uint64_t id, void *buf, size_t cap, struct ipcq_poison *info)
{
	struct ipcq_poison p;
	uint64_t w;

	if (!q || (!buf && cap))
		return -EINVAL;
	int j = ipcq__side_find(q, id, &p, &w);
	if (j < 0)
		return j;
	if (info)
		*info = p;
	if (p.len > cap)
		return -ENOBUFS;
	struct ipcq_shm_side *e = ipcq__side(q, (uint32_t)j);
	if (p.len)
		memcpy(buf, (const uint8_t *)e + IPCQ_SIDE_HDR, p.len);
	/* S4: the payload was read while the entry stayed the same: the
	 * fence keeps the reads above before the re-check below; pairs
	 * with the release fence (F1) that a new writer passes after its
	 * claim S5 (after the state left w) and before it overwrites the
	 * payload */
	ipcq__fence();
	/* relaxed: ordered by S4 */
	if (ipcq__load_relaxed(&e->state) != w)
		return -ENOENT;
	return (int)p.len;
}

int ipcq_poison_put(struct ipcq *q, const void *data, size_t len, unsigned reason,
		    uint64_t seq, uint32_t deliveries)
{
	/* No source slot to free: the move record is a local one, which no
	 * recovery reads.  A put killed before S1 leaves a WRITING(dead)
	 * entry that ipcq__side_recover() frees; the caller still has the
	 * message. */
	uint32_t move_side = 0, move_gen = 0;
	uint64_t now;

	if (!q || (!data && len))
		return -EINVAL;
	if (reason != IPCQ_REASON_REFUSED && reason != IPCQ_REASON_MAX_DELIVERIES &&
	    reason != IPCQ_REASON_NACKED && reason != IPCQ_REASON_TOO_LARGE)
		return -EINVAL;
	if (q->readonly || !(q->roles & IPCQ_ROLE_PRODUCER) || q->index < 0)
		return -EPERM;
	if (len > q->max_msg_size && reason != IPCQ_REASON_TOO_LARGE)
		return -EMSGSIZE;
	now = ipcq__now_ns(CLOCK_MONOTONIC_COARSE);
	struct ipcq__poison_src src = {
		.payload = data,
		.len = len > q->max_msg_size ? q->max_msg_size : (uint32_t)len,
		.producer = (uint16_t)q->index,
		.deliveries = deliveries > 255 ? 255 : (uint8_t)deliveries,
		.reason = (uint8_t)reason,
		.stream = (uint32_t)(q->dedup + 1),
		.last_consumer = (uint32_t)q->index,
		.flags = len > q->max_msg_size ? IPCQ_SIDE_F_TRUNCATED : 0u,
		.pseq = seq,
		.first_ns = now,
		.move_side = &move_side,
		.move_gen = &move_gen,
	};
	return ipcq__side_insert(q, &src);
}

/* Copy the message of slot s (ours: claimed, or adopted) into the side
 * ring with our move record naming the entry once we own it (S5), so that
 * recovery of a crash before the slot's release finds the move done and
 * only releases it.  0, or -ENOSPC (side ring full or absent, counted by
 * ipcq__side_insert()). */
static int slot_to_side(struct ipcq *q, const struct ipcq_shm_slot *s, unsigned reason,
			uint8_t deliveries)
{
	/* relaxed: the slot is ours since C1 or the adoption CAS (T1) */
	const struct ipcq_shm_slot_tail *t = ipcq__slot_tail(q, s);
	uint32_t len = ipcq__load_relaxed(&s->len);
	struct ipcq__poison_src src = {
		.payload = (const uint8_t *)s + IPCQ_SLOT_HDR,
		.len = len > q->max_msg_size ? 0 : len,
		.producer = ipcq__load_relaxed(&s->producer),
		.deliveries = deliveries,
		.reason = (uint8_t)reason,
		.stream = ipcq__load_relaxed(&t->stream),
		.last_consumer = (uint32_t)q->index,
		.group = q->gw ? (uint32_t)q->group + 1 : 0u,
		.group_gen = q->group_gen,
		.lane = q->lane,
		.pseq = ipcq__load_relaxed(&t->pseq),
		.first_ns = ipcq__load_relaxed(&t->enqueue_ns),
		.move_side = &q->me->move_side,
		.move_gen = &q->me->move_gen,
	};
	return ipcq__side_insert(q, &src);
}

/*
 * Move the adopted slot at pos into the side ring, then release it.
 * Returns 0, or -ENOSPC when the side ring is full (the slot stays
 * adopted; a later receive tries again).
 */
int ipcq__quarantine_slot(struct ipcq *q, uint64_t pos, unsigned reason)
{
	struct ipcq_shm_slot *s = ipcq__slot(q, pos);
	/* Noted consumed for its named producer before it leaves the slot:
	 * once it is FULL in the side ring, our death makes recovery only
	 * release the slot (moved on), and no one notes it then, so the
	 * name's next holder would take its replay for a new message.
	 * Noting it again in ipcq__consume_adopted() below is harmless (the
	 * note only raises the consumed mark) */
	ipcq__note_consumed(q, s);
	/* relaxed: ours since the adoption (a group's count is its word's) */
	int rc = slot_to_side(q, s, reason,
			     q->gw ? ipcq__adopted_raise(q, s, q->adopted_seq)
				   : ipcq__load_relaxed(&s->deliveries));
	if (rc < 0)
		return rc;
	ipcq__consume_adopted(q);
	/* relaxed: the record is idle (R4 above); the move is finished */
	ipcq__store_relaxed(&q->me->move_side, 0u);
	return 0;
}

/*
 * The message of slot s (ours) has expired (ipcq__slot_expired()): count
 * it, and on a queue that keeps them move it into the side ring (reason
 * EXPIRED; a full side ring drops it, counted).  The caller then passes
 * the message and releases the slot as usual, and clears move_side after
 * the release (a claim of one position: IPCQ_CF_EXPIRED_TO_SIDE receives
 * claim one at a time, so the move record names the only position the
 * record covers).  The model checks this step: model/ipcq.pml, -DEXPIRE;
 * clearing the record before the release fails there (expire-old-clear).
 */
IPCQ_COLD void ipcq__expire_slot(struct ipcq *q, const struct ipcq_shm_slot *s)
{
	if (ipcq__slot_elsewhere(q, s))
		return; /* another group's replay: passed, nothing to count */
	ipcq__qcount(q, IPCQ_QCTR_EXPIRED, 1);
	/* relaxed: the slot is ours since C1; a full side ring drops it,
	 * counted as side_full by ipcq__side_insert() */
	if (q->expire_side)
		(void)slot_to_side(q, s, IPCQ_REASON_EXPIRED, ipcq__load_relaxed(&s->deliveries));
}

/* The same for the adopted slot at pos: moved (or dropped) and released. */
IPCQ_COLD void ipcq__expire_adopted(struct ipcq *q, uint64_t pos)
{
	if (ipcq__slot_elsewhere(q, ipcq__slot(q, pos))) {
		ipcq__consume_adopted(q); /* another group's replay: passed */
		return;
	}
	ipcq__qcount(q, IPCQ_QCTR_EXPIRED, 1);
	/* a full side ring drops it, counted by ipcq__side_insert() */
	if (q->expire_side && ipcq__quarantine_slot(q, pos, IPCQ_REASON_EXPIRED) == 0)
		return;
	ipcq__consume_adopted(q);
}
