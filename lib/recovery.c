/*
 * recovery.c - taking over the unfinished work of dead participants.
 *
 * Owns: ipcq_recover() and the decisions of every recovery pass.  Writes:
 * slot sequence words (by CAS only), the caller's own work record, and
 * through lease.c and side.c the state words of lease and side entries.
 * Never writes another participant's entry.
 *
 * A participant is dead when its entry is ACTIVE and nobody holds the
 * entry's liveness lock.  Its work records are read *before* the liveness
 * check: a record read then belongs to the dead holder, never to a process
 * that attached to the entry afterwards (that one takes the lock first and
 * only then writes).
 *
 * Why taking over never robs a live participant:
 *  - Every claim is preceded by a record covering the claimed positions,
 *    and the record stays until the slot work is visible (R4 in ring.c).
 *    So a claimed, unfinished position that no live participant's record
 *    covers was claimed by a dead one.
 *  - Every takeover is a CAS on the slot's sequence word from the exact
 *    value that showed it unfinished.  If the owner finished meanwhile, or
 *    another recoverer got there first, the CAS fails and nothing happens.
 *
 * What is done with a dead participant's records:
 *  - producer record, position p claimed (enq > p) and unpublished
 *    (seq == p): published as a skip (p + 1 | SKIP).  The message was
 *    never acknowledged to its sender; consumers pass the slot.
 *  - consumer record, position p claimed (deq > p) and unreleased (seq ==
 *    p + 1, maybe tagged): if the dead had already moved the message into
 *    a lease or into the side ring, the slot is just released; otherwise a
 *    live consumer adopts it (tag CAS) and delivers it again with its
 *    delivery count raised, or quarantines it after max_deliveries.
 *  - leases and side-ring entries: lease.c and side.c.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ipcq_internal.h"

struct rec_snapshot {
	uint32_t prod_op, prod_n, cons_op, cons_n, move_side, move_gen;
	uint64_t prod_pos, cons_pos;
};

static void snap(const struct ipcq_shm_participant *p, struct rec_snapshot *r)
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
	/* relaxed: as prod_pos; move_* are stored before the side claim
	 * (S5 in side.c) */
	r->cons_pos = ipcq__load_relaxed(&p->cons_pos);
	r->cons_n = ipcq__load_relaxed(&p->cons_n);
	r->move_side = ipcq__load_relaxed(&p->move_side);
	r->move_gen = ipcq__load_relaxed(&p->move_gen);
	if (r->prod_n > (1u << 24))
		r->prod_n = 0; /* corrupt: ignore rather than loop */
	if (r->cons_n > (1u << 24))
		r->cons_n = 0;
}

static int covers(uint64_t start, uint32_t n, uint64_t p)
{
	return p >= start && p - start < n;
}

/* Does a live participant's record cover p (producer or consumer side)? */
static int live_covers(struct ipcq *q, const uint8_t *dead, uint64_t p, int producer)
{
	for (uint32_t i = 0; i < q->max_participants; i++) {
		const struct ipcq_shm_participant *e = &q->parts[i];
		/* relaxed: a filter; a live claimer's attach (E1) happens before
		 * its claim, which our seq_cst cursor load synchronized with */
		if (dead[i] || ipcq__load_relaxed(&e->state) != IPCQ_PART_ACTIVE)
			continue;
		struct rec_snapshot r;
		snap(e, &r);
		if (producer ? r.prod_op == IPCQ_OP_ENQUEUE && covers(r.prod_pos, r.prod_n, p)
			     : r.cons_op == IPCQ_OP_DEQUEUE && covers(r.cons_pos, r.cons_n, p))
			return 1;
	}
	return 0;
}

static int skip_orphan(struct ipcq *q, const uint8_t *dead, uint64_t p, struct ipcq_recovery *rep)
{
	struct ipcq_shm_slot *s = ipcq__slot(q, p);

	/* seq_cst: after the record reads, in the order of the claim CASes;
	 * pairs with P1 (ring.c): reading its value or a later one makes
	 * the claimer's record visible to live_covers() */
	if (ipcq__load_seq_cst(&q->ctl->enq) <= p)
		return 0; /* never claimed */
	/* A1 (as in claim_send()); the CAS below decides */
	if (ipcq__load_acquire(&s->seq) != p)
		return 0; /* published, or a later lap */
	if (live_covers(q, dead, p, 1)) {
		rep->pending++;
		return 0;
	}
	/* R5: publishes the skip; pairs with A2 of the consumer of p */
	if (!ipcq__cas(&s->seq, p, (p + 1) | IPCQ_SEQ_SKIP))
		return 0;
	IPCQ_CRASHPOINT("recover.skipped");
	rep->skipped++;
	ipcq__qcount(q, IPCQ_QCTR_SKIPPED, 1);
	return 1;
}

static int resolve_claimed(struct ipcq *q, const uint8_t *dead, const uint32_t *tags, uint32_t d,
			   const struct rec_snapshot *r, uint64_t p, int adopt,
			   struct ipcq_recovery *rep)
{
	struct ipcq_shm_slot *s = ipcq__slot(q, p);

	/* seq_cst: as in skip_orphan(); pairs with C1 (ring.c) */
	if (ipcq__load_seq_cst(&q->ctl->deq) <= p)
		return 0; /* never claimed */
	/* A2: pairs with R1 (ring.c) or R5; an adopter reads the payload */
	uint64_t seq = ipcq__load_acquire(&s->seq);
	if ((seq & IPCQ_SEQ_POS) != p + 1)
		return 0; /* released already */
	if (live_covers(q, dead, p, 0)) {
		rep->pending++;
		return 0;
	}
	if ((seq & IPCQ_SEQ_SKIP) || ipcq__lease_holds(q, tags[d], p) ||
	    ipcq__side_moved(q, r->move_side, r->move_gen)) {
		/* nothing to deliver (a skip), or the dead had already moved
		 * the message on: finish its release (R2: pairs with A1) */
		if (ipcq__cas(&s->seq, seq, p + q->capacity)) {
			rep->completed++;
			ipcq__qcount(q, IPCQ_QCTR_COMPLETED, 1);
			/* C2 after the release CAS: pairs with W1 (wait.c) */
			if (ipcq__load_seq_cst(&q->ctl->space_waiters))
				ipcq__wake_space(q);
			return 1;
		}
		return 0;
	}
	if (!adopt || !(q->roles & IPCQ_ROLE_CONSUMER) || q->adopted >= 0) {
		rep->pending++;
		return 0;
	}
	/* Adopt: our record first (covered before we own it), then the tag
	 * CAS.  relaxed stores: ordered by the CAS's full barrier. */
	ipcq__store_relaxed(&q->me->cons_pos, p);
	ipcq__store_relaxed(&q->me->cons_n, 1u);
	ipcq__store_relaxed(&q->me->move_side, 0u);
	ipcq__store_relaxed(&q->me->cons_op, (uint32_t)IPCQ_OP_DEQUEUE);
	uint64_t tagged = (seq & ~IPCQ_SEQ_TAG) | ((seq + IPCQ_SEQ_TAG_ONE) & IPCQ_SEQ_TAG);
	/* T1: the adoption; fails if the owner released or another
	 * recoverer adopted meanwhile (the tag makes each adoption a new
	 * value); a full barrier after our record, like C1 */
	if (!ipcq__cas(&s->seq, seq, tagged)) {
		/* R4: pairs with snap() */
		ipcq__store_release(&q->me->cons_op, (uint32_t)IPCQ_OP_IDLE);
		return 0;
	}
	IPCQ_CRASHPOINT("recover.adopted");
	q->adopted = (int64_t)p;
	rep->redelivered++;
	ipcq__qcount(q, IPCQ_QCTR_REDELIVERED, 1);
	return 1;
}

int ipcq__recover_scan(struct ipcq *q, struct ipcq_recovery *rep, int adopt, int32_t also_dead)
{
	struct ipcq_recovery local;
	struct rec_snapshot *snaps;
	uint32_t *tags;
	uint8_t *dead;
	int acted = 0, any = 0;

	if (q->readonly)
		return -EPERM;
	if (!rep) {
		memset(&local, 0, sizeof(local));
		rep = &local;
	}
	dead = calloc(q->max_participants, 1);
	snaps = calloc(q->max_participants, sizeof(*snaps));
	tags = calloc(q->max_participants, sizeof(*tags));
	if (!dead || !snaps || !tags) {
		free(dead);
		free(snaps);
		free(tags);
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < q->max_participants; i++) {
		const struct ipcq_shm_participant *e = &q->parts[i];
		if ((int32_t)i == q->index && (int32_t)i != also_dead)
			continue;
		/* acquire: pairs with E1 of registry.c (the attach) */
		uint32_t state = ipcq__load_acquire(&e->state);
		if (state != IPCQ_PART_ACTIVE && state != IPCQ_PART_RECOVERING)
			continue;
		/* records and generation first, then liveness: what we read
		 * belongs to the holder the liveness check is about, never to
		 * a process that attaches afterwards (it locks, then writes) */
		snap(e, &snaps[i]);
		/* E2: the acquire keeps the liveness check below after this
		 * load; an attacher takes the entry's lock before it bumps the
		 * generation (registry.c), so a new value comes with its lock */
		tags[i] = IPCQ_TAG(i, ipcq__load_acquire(&e->generation));
		if ((int32_t)i == also_dead || ipcq__participant_alive(q, i) == 0) {
			dead[i] = 1;
			any = 1;
		}
	}
	if (!any)
		goto out;
	for (uint32_t d = 0; d < q->max_participants; d++) {
		if (!dead[d])
			continue;
		const struct rec_snapshot *r = &snaps[d];
		int before = acted;
		if (r->prod_op == IPCQ_OP_ENQUEUE)
			for (uint32_t k = 0; k < r->prod_n; k++)
				acted += skip_orphan(q, dead, r->prod_pos + k, rep);
		if (r->cons_op == IPCQ_OP_DEQUEUE)
			for (uint32_t k = 0; k < r->cons_n; k++)
				acted += resolve_claimed(q, dead, tags, d, r, r->cons_pos + k, adopt, rep);
		if (acted > before)
			dead[d] = 2; /* some of its work taken over */
	}
	acted += ipcq__lease_recover(q, dead, tags, rep);
	acted += ipcq__side_recover(q, dead, tags, rep);
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
	}
out:
	free(dead);
	free(snaps);
	free(tags);
	return acted;
}

/* Is everything the (dead) holder of entry i left finished? */
int ipcq__entry_resolved(struct ipcq *q, uint32_t i)
{
	struct rec_snapshot r;
	snap(&q->parts[i], &r);
	if (r.prod_op == IPCQ_OP_ENQUEUE) {
		/* seq_cst (pairs with P1) and A1: as in skip_orphan() */
		uint64_t enq = ipcq__load_seq_cst(&q->ctl->enq);
		for (uint32_t k = 0; k < r.prod_n; k++) {
			uint64_t p = r.prod_pos + k;
			if (enq > p && ipcq__load_acquire(&ipcq__slot(q, p)->seq) == p)
				return 0;
		}
	}
	if (r.cons_op == IPCQ_OP_DEQUEUE) {
		/* seq_cst (pairs with C1) and A2: as in resolve_claimed() */
		uint64_t deq = ipcq__load_seq_cst(&q->ctl->deq);
		for (uint32_t k = 0; k < r.cons_n; k++) {
			uint64_t p = r.cons_pos + k;
			if (deq > p &&
			    (ipcq__load_acquire(&ipcq__slot(q, p)->seq) & IPCQ_SEQ_POS) == p + 1)
				return 0;
		}
	}
	for (uint32_t e = 0; e < q->lease_capacity; e++) {
		/* L2: pairs with L1/L5/L6 (lease.c) */
		uint64_t w = ipcq__load_acquire(&ipcq__lease(q, e)->state);
		uint32_t st = IPCQ_ENT_STATE(w);
		if ((st == IPCQ_ENT_RESERVED || st == IPCQ_ENT_OWNED) && IPCQ_ENT_OWNER(w) == i)
			return 0;
	}
	for (uint32_t j = 0; j < q->side_capacity; j++) {
		/* S2: pairs with S5/S7 (side.c) */
		uint64_t w = ipcq__load_acquire(&ipcq__side(q, j)->state);
		uint32_t st = IPCQ_ENT_STATE(w);
		if ((st == IPCQ_ENT_WRITING || st == IPCQ_ENT_TAKING) && IPCQ_ENT_OWNER(w) == i)
			return 0;
	}
	return 1;
}

int ipcq_recover(struct ipcq *q, struct ipcq_recovery *report)
{
	int temp = 0, rc;

	if (!q || (report && report->size < offsetof(struct ipcq_recovery, reserved)))
		return -EINVAL;
	if (q->readonly)
		return -EPERM;
	if (report) {
		uint32_t sz = report->size > sizeof(*report) ? (uint32_t)sizeof(*report) : report->size;
		memset(report, 0, sz);
		report->size = sz;
	}
	struct ipcq_recovery local;
	if (!report) {
		memset(&local, 0, sizeof(local));
		report = &local;
	}
	/* takeovers name their new owner: recover as a participant (the
	 * attach recovers too, into the same report) */
	if (q->index < 0) {
		rc = ipcq__attach(q, IPCQ_ROLE_PRODUCER, NULL, report);
		if (rc)
			return rc;
		temp = 1;
	}
	rc = ipcq__recover_scan(q, report, 0, -1);
	if (temp)
		ipcq_detach(q);
	if (rc < 0)
		return rc;
	uint64_t actions = report->skipped + report->redelivered + report->completed +
			   report->poisoned + report->freed;
	return actions > INT32_MAX ? INT32_MAX : (int)actions;
}
