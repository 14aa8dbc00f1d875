/*
 * ring.h - the ring layer: claiming, publishing, consuming and releasing
 * slots of the main ring.
 *
 * The hot-path steps are inline here so that the public calls (send.c,
 * recv.c) and the features built on the ring (lease.c, side.c) compose
 * them without a call per message; ring.c holds the rest and, at its top,
 * the protocol with every synchronizing edge (the labels A1, P1, R1, ...
 * used below).  This layer knows slots, the cursors and the caller's work
 * record, and nothing of leases, dedup, pressure or recovery: a caller
 * that needs those acts on what these functions return.
 */
#ifndef IPCQ_RING_H
#define IPCQ_RING_H

#include <errno.h>
#include <string.h>
#include <time.h>

#include "ipcq_internal.h"

#if defined(IPCQ_DEBUG)
/* Debug builds: random yields at protocol points widen race windows on
 * machines with few cores (IPCQ_DEBUG_YIELD=1 in the environment). */
IPCQ_HIDDEN void ipcq__debug_yield(void);
#define IPCQ_DEBUG_YIELD() ipcq__debug_yield()
#else
#define IPCQ_DEBUG_YIELD() ((void)0)
#endif

/* The enqueue timestamp: the coarse clock (a few ms resolution), read
 * through the vDSO without a call of our own on the hot path. */
static inline uint64_t ipcq__coarse_now(void)
{
	return ipcq__clock_ns(CLOCK_MONOTONIC_COARSE);
}

/* Metadata of a message published on behalf of another (replay). */
struct ipcq__send_meta {
	uint16_t producer;
	uint8_t flags;
	uint8_t deliveries;
	uint32_t stream;
	uint64_t pseq;
	uint64_t enqueue_ns;
	uint32_t target;     /* groups: the only group it is for (index + 1), 0 all */
};

/* ---- groups (see "Groups" in ring.c) ---------------------------------- */

/* ring.c: is there room for position pos?  Reads the floor again and, if
 * that is not enough, moves it (the producer's G2/G3); sets q->room_end. */
IPCQ_HIDDEN int ipcq__group_room(struct ipcq *q, uint64_t pos);
/* ring.c: move group g's tail over the positions its words show released
 * (G1); returns the tail. */
IPCQ_HIDDEN uint64_t ipcq__group_advance_tail(struct ipcq *q, uint32_t g, uint64_t enq);
/* ring.c: move the floor to the minimum of the durable groups' tails (G3);
 * returns the floor as a full position. */
IPCQ_HIDDEN uint64_t ipcq__group_advance_floor(struct ipcq *q);
/* ring.c: the floor as a full position (the word keeps 44 bits). */
IPCQ_HIDDEN uint64_t ipcq__group_floor(const struct ipcq *q);

/*
 * Another claimer took pos: catch up with the cursor.  Its claim is
 * visible to us (A1/A2 saw its work in the slot), so the cursor must have
 * moved; if not, the segment is corrupt, and looping would never end.
 * 0 with *pos moved on, or -EBADMSG.
 */
static IPCQ_INLINE int ipcq__catch_up(uint64_t *cursor, uint64_t *pos)
{
	/* relaxed: only a fresher hint; the claim CAS decides */
	uint64_t np = ipcq__load_relaxed(cursor);
	if (IPCQ_UNLIKELY(np == *pos))
		return -EBADMSG;
	*pos = np;
	return 0;
}

/* Record [pos, pos + k) as the producer's work, then claim it (P1, or
 * the sole producer's P1s); 1 when the claim won. */
static IPCQ_INLINE int ipcq__claim_enq(struct ipcq *q, uint64_t pos, unsigned k)
{
	struct ipcq_shm_participant *me = q->me;
	/* relaxed: published to recovery by the release half of the CAS
	 * below (P1), or by the store-release (P1s) */
	ipcq__store_relaxed(&me->prod_pos, pos);
	ipcq__store_relaxed(&me->prod_n, (uint32_t)k);
	ipcq__store_relaxed(&me->prod_op, q->op_enq);
	IPCQ_CRASHPOINT("send.before_claim");
	if (q->sole & IPCQ__SOLE_ENQ) {
		/* P1s: the sole producer's claim (IPCQ_ATTACH_SOLE).  Its
		 * exclusive seat makes it the cursor's only writer, so the
		 * position it loaded is free to take with a store.  Release:
		 * orders the record above before it, as P1's release half does
		 * (skip_orphan() in recovery.c).  Nothing orders it before P2's
		 * load on this side: a sleeper's membarrier does (W1b in
		 * wait.c) */
		ipcq__store_release(q->enqp, pos + k);
		return 1;
	}
	/* P1: the claim; seq_cst.  Its release half orders the record above
	 * before it (seen through the seq_cst enq load of skip_orphan() in
	 * recovery.c) and sits in one total order with W1/W3 of a sleeping
	 * consumer (wait.c) */
	return ipcq__cas(q->enqp, pos, pos + k);
}

/* C1 of ipcq__ring_claim_recv(): 1 when the claim of [pos, pos + k) on
 * cursor deq won. */
static IPCQ_INLINE int ipcq__claim_deq(struct ipcq *q, uint64_t *deq, uint64_t pos, unsigned k)
{
	if (q->sole & IPCQ__SOLE_DEQ) {
		/* C1s: the sole consumer's claim, a store (as P1s in
		 * ipcq__claim_enq()): release, for the record before it
		 * (resolve_claimed() in recovery.c); its order before C2 is a
		 * sleeping producer's membarrier (W1b) */
		ipcq__store_release(deq, pos + k);
		return 1;
	}
	/* C1: the claim; seq_cst.  Its release half orders the record
	 * before it (seen through the seq_cst deq load of resolve_claimed()
	 * in recovery.c) and sits in one total order with W1/W3 of a
	 * sleeping producer (wait.c) */
	return ipcq__cas(deq, pos, pos + k);
}

/* Groups: may the producer of pos claim a slot whose word is seq?  The
 * first lap's slot is free (seq == pos); a later lap's shows the previous
 * lap published or skipped.  Either way another producer may have claimed
 * pos and be writing it: the cursor CAS (P1) decides.  The durable
 * groups' releases are the floor's business, not the slot word's. */
static inline int ipcq__gslot_free(const struct ipcq *q, uint64_t seq, uint64_t pos)
{
	if (pos < q->capacity)
		return seq == ipcq__seq_pos(pos);
	return (seq & ~IPCQ_SEQ_SKIP) == ipcq__seq_pos(pos - q->capacity + 1);
}

/* Has a producer of a later lap claimed the slot of position pos?  For a
 * reader that copied pos without owning it (a lossy group's member, the
 * dedup scan), after its acquire fence (F2): the producer of
 * pos + capacity claims (P1) before F1 and its data stores, so a copy
 * that read any of them finds the cursor past that position; a cursor not
 * past it means the copy is of pos.  On a queue with groups the slot word
 * cannot tell: it keeps the old lap's value until the new lap's publish.
 * A cursor behind pos (corrupt) reads as overrun. */
static inline int ipcq__ring_overrun(const struct ipcq *q, uint64_t pos)
{
	/* relaxed: ordered after the copy by the caller's F2 */
	return ipcq__load_relaxed(q->enqp) - pos > q->capacity;
}

/* The word a consumer of group g releases position pos in. */
static inline uint64_t *ipcq__gword(const struct ipcq *q, uint32_t g, uint64_t pos)
{
	return &q->gwords[(uint64_t)g * q->capacity + (pos & q->mask)];
}

/*
 * The claim of a queue with groups: as ipcq__ring_claim_send(), but the
 * slot word says only whether the previous lap's producer is done, and
 * the floor whether every durable group has released the previous lap.
 * The slot word keeps showing the previous lap until the publish (R1): a
 * reader that does not own the slot tells a copy of pos from a copy of a
 * later lap by the cursor (F1 below, ring.c "Groups").
 */
static inline int ipcq__ring_claim_send_groups(struct ipcq *q, unsigned n, uint64_t *pos_out)
{
	struct ipcq_shm_participant *me = q->me;
	struct ipcq_shm_slot *s0;
	uint64_t pos, seq;
	unsigned k;
	int rc, recorded = 0;

	/* relaxed: only a hint; A1 and P1 decide */
	pos = ipcq__load_relaxed(q->enqp);
	for (;;) {
		s0 = ipcq__slot(q, pos);
		/* A1: pairs with R1 (or R5) of the producer of the previous
		 * lap: its stores to the slot are done */
		seq = ipcq__load_acquire(&s0->seq);
		if (ipcq__gslot_free(q, seq, pos)) {
			if (pos >= q->room_end && !ipcq__group_room(q, pos)) {
				rc = -EAGAIN; /* a durable group holds the slot */
				goto unclaimed;
			}
			for (k = 1; k < n && pos + k < q->room_end; k++)
				/* A1 for each slot of the run */
				if (!ipcq__gslot_free(q, ipcq__load_acquire(&ipcq__slot(q, pos + k)->seq),
						      pos + k))
					break;
			recorded = 1;
			if (ipcq__claim_enq(q, pos, k))
				break;
			/* relaxed: retry with a fresher hint */
			pos = ipcq__load_relaxed(q->enqp);
		} else if (ipcq__seq_dif(seq, pos) < 0) {
			rc = -EAGAIN; /* the previous lap is still being written */
			goto unclaimed;
		} else if ((rc = ipcq__catch_up(q->enqp, &pos)) < 0) {
			goto unclaimed; /* another producer got pos, yet enq did not move */
		}
	}
	/* F1: the data stores that follow stay after the claim (P1); pairs
	 * with F2 of a reader that does not own the slot and loads the
	 * cursor after its copy (ipcq__ring_overrun()): a copy of
	 * pos - capacity that read any of our stores finds the cursor past
	 * pos */
	ipcq__fence_release();
	IPCQ_CRASHPOINT("send.claimed");
	*pos_out = pos;
	return (int)k;
unclaimed:
	/* R4: as in ipcq__ring_claim_send() */
	if (recorded)
		ipcq__store_release(&me->prod_op, (uint32_t)IPCQ_OP_IDLE);
	return rc;
}

/*
 * Claim up to n free slots with one CAS.  Returns the count k, -EAGAIN when
 * the ring is full, -EBADMSG when its cursors are corrupt.  *pos_out gets
 * the first position; the work record covers [pos, pos + k).
 */
static IPCQ_INLINE int ipcq__ring_claim_send(struct ipcq *q, unsigned n, uint64_t *pos_out)
{
	struct ipcq_shm_participant *me = q->me;
	uint64_t pos, seq;
	unsigned k;
	int rc, recorded = 0;

	/* relaxed: only a hint; A1 and P1 decide (exact for the sole
	 * producer, the cursor's only writer) */
	pos = ipcq__load_relaxed(q->enqp);
	for (;;) {
		/* A1: pairs with R2 of the consumer of the previous lap */
		seq = ipcq__load_acquire(&ipcq__slot(q, pos)->seq);
		int64_t dif = ipcq__seq_dif(seq, pos);
		if (IPCQ_LIKELY(seq == ipcq__seq_pos(pos))) {
			for (k = 1; k < n; k++)
				/* A1 for each slot of the run */
				if (ipcq__load_acquire(&ipcq__slot(q, pos + k)->seq) !=
				    ipcq__seq_pos(pos + k))
					break;
			recorded = 1;
			if (ipcq__claim_enq(q, pos, k))
				break;
			/* relaxed: retry with a fresher hint */
			pos = ipcq__load_relaxed(q->enqp);
		} else if (IPCQ_UNLIKELY(q->gwords)) {
			/* a queue with groups past its first lap (the first lap
			 * is the same in both protocols: the slots are free and
			 * the floor is no bound yet) */
			if (recorded)
				/* R4: the lost claim's record goes first */
				ipcq__store_release(&me->prod_op, (uint32_t)IPCQ_OP_IDLE);
			return ipcq__ring_claim_send_groups(q, n, pos_out);
		} else if (dif <= 0) {
			rc = -EAGAIN; /* the slot still holds the previous lap */
			goto unclaimed;
		} else if ((rc = ipcq__catch_up(q->enqp, &pos)) < 0) {
			goto unclaimed; /* another producer got pos, yet enq did not move */
		}
	}
	/* F1: the data stores that follow stay after the claim; pairs with
	 * the acquire fence (F2) of a reader that re-checks a slot word
	 * after reading data speculatively (ipcq__ring_claim_recv(), dedup.c) */
	ipcq__fence_release();
	IPCQ_CRASHPOINT("send.claimed");
	*pos_out = pos;
	return (int)k;
unclaimed:
	/* A record left behind by a claim we lost would cover a position
	 * somebody else owns, and hold its recovery up for as long as we
	 * live.  R4: pairs with snap() (recovery.c). */
	if (recorded)
		ipcq__store_release(&me->prod_op, (uint32_t)IPCQ_OP_IDLE);
	return rc;
}

/*
 * Write the headers of the k claimed slots at pos (and copy their payloads
 * when msgs is given; zero-copy callers wrote them in place already), then
 * publish them.  lens[i] / msgs[i].len are the payload lengths; slots from
 * index `used` on are published as skips (reserved, then not committed).
 * seq0: the sequence of the first message (the others follow it one by
 * one), 0 for the handle's own count.  note: where the sequence of each
 * published message is recorded (a named producer's last accepted
 * sequence, with the handle's copy in q->last_seq), or NULL.
 */
/* R1 for the message at pos (slot s), the i-th of its run, and the note
 * of its sequence for a named producer (note NULL: anonymous). */
static IPCQ_INLINE void publish_at(struct ipcq *q, struct ipcq_shm_slot *s, uint64_t pos,
				   unsigned i, uint64_t *note, uint64_t pseq)
{
	/* R1: publishes header and payload; pairs with A2 */
	ipcq__store_release(&s->seq, ipcq__seq_pos(pos + 1));
	if (i == 0) IPCQ_CRASHPOINT("send.published_unrecorded");
	if (note) {
		/* accepted: record it for the name (relaxed: only the holder
		 * writes it; a takeover does not rely on it alone, see
		 * dedup.c) */
		ipcq__store_relaxed(note, pseq);
		q->last_seq = pseq;
		if (i == 0)
			IPCQ_CRASHPOINT("send.dedup_recorded");
	}
}

/* What every message of a publish shares: the time, the deadline, the
 * sender's identity (ipcq__ring_publish()). */
struct ipcq__pub {
	const struct ipcq_buf *msgs;
	const size_t *lens;
	const struct ipcq__send_meta *meta;
	uint64_t seq0;
	uint64_t now;
	uint64_t deadline;
	uint32_t expiry;
};

/* Write the i-th message of a publish into slot s (position pos + i, ours
 * since P1); returns its length, its sequence in *pseq_out. */
static IPCQ_INLINE uint32_t slot_fill(struct ipcq *q, struct ipcq_shm_slot *s, unsigned i,
				      const struct ipcq__pub *p, uint64_t *pseq_out)
{
	const struct ipcq__send_meta *meta = p->meta;
	uint32_t len = (uint32_t)(p->msgs ? p->msgs[i].len : p->lens[i]);
	/* relaxed: consumers read these only after A2, or
	 * speculatively before a claim that will then fail */
	uint64_t pseq = meta ? meta->pseq : p->seq0 ? p->seq0 + i : q->next_pseq++;
	uint32_t stream = meta ? meta->stream : (uint32_t)(q->dedup + 1);
	struct ipcq_shm_slot_tail *t = ipcq__slot_tail(q, s);
	ipcq__store_relaxed(&s->len, len);
	ipcq__store_relaxed(&s->producer, meta ? meta->producer : (uint16_t)q->index);
	ipcq__store_relaxed(&s->deliveries, meta ? meta->deliveries : (uint8_t)0);
	/* (a replay that may have been delivered once carries the
	 * redelivered flag in meta->flags) */
	const uint8_t sf = (uint8_t)((meta ? meta->flags & ~(IPCQ_SLOT_F_STREAM | IPCQ_SLOT_F_KEYED) : 0u) |
				     (stream ? IPCQ_SLOT_F_STREAM : 0u) |
				     (meta && meta->target ? IPCQ_SLOT_F_TARGET : 0u));
	ipcq__store_relaxed(&s->flags, sf);
	if (IPCQ_UNLIKELY(q->send_keyed) && !meta) { /* a replay has no key */
		/* relaxed: as the fields above */
		ipcq__store_relaxed(&s->flags, (uint8_t)(sf | IPCQ_SLOT_F_KEYED));
		ipcq__store_relaxed(ipcq__slot_key(q, s), q->send_key);
	}
	ipcq__store_relaxed(&t->pseq, pseq);
	ipcq__store_relaxed(&t->enqueue_ns, p->now);
	ipcq__store_relaxed(&t->stream, stream);
	ipcq__store_relaxed(&t->stream_gen, meta ? meta->target : q->dedup_gen);
	if (IPCQ_UNLIKELY(p->expiry))
		ipcq__store_relaxed(&t->deadline_ns, p->deadline);
	if (p->msgs)
		ipcq__copy((uint8_t *)s + IPCQ_SLOT_HDR, p->msgs[i].data, len);
	if (i == 0)
		IPCQ_CRASHPOINT("send.written");
	*pseq_out = pseq;
	return len;
}

static IPCQ_INLINE void ipcq__ring_publish(struct ipcq *q, uint64_t pos, unsigned k, unsigned used,
					   const struct ipcq_buf *msgs, const size_t *lens,
					   const struct ipcq__send_meta *meta, uint64_t seq0,
					   uint64_t *note)
{
	struct ipcq_shm_control *c = q->ctl;
	uint64_t bytes = 0, pseq;
	struct ipcq__pub p = { msgs, lens, meta, seq0, 0, 0, q->expiry };

	/* P2: pairs with W1 of a sleeping consumer (see wait.c); after P1 */
	uint32_t waiters = ipcq__load_seq_cst(&c->data_waiters);
	p.now = meta ? meta->enqueue_ns : ipcq__coarse_now();
	if (IPCQ_UNLIKELY(p.expiry) && !meta) {
		/* the send's time to live, or the queue's (a copy published
		 * on another's behalf, a replay, never expires) */
		uint64_t ttl = q->send_ttl_ns ? q->send_ttl_ns : q->ttl_ns;
		if (ttl)
			p.deadline = ipcq__now_ns(CLOCK_MONOTONIC) + ttl;
	}
	IPCQ_DEBUG_YIELD();
	if (IPCQ_LIKELY(k == 1 && used == 1)) {
		struct ipcq_shm_slot *s = ipcq__slot(q, pos);
		bytes = slot_fill(q, s, 0, &p, &pseq);
		publish_at(q, s, pos, 0, note, pseq);
	} else {
		/* A run: every message is written first, then each is
		 * published, in order, so that consumers find the run
		 * published at once and claim it with one CAS instead of
		 * taking it a message at a time right behind the stores.
		 * The notes follow the publishes: a name's record never
		 * names a message that is not published yet. */
		for (unsigned i = 0; i < k; i++) {
			struct ipcq_shm_slot *s = ipcq__slot(q, pos + i);
			if (i >= used) {
				/* R1 for an unused reservation: consumers pass it */
				ipcq__store_release(&s->seq, ipcq__seq_pos(pos + i + 1) | IPCQ_SEQ_SKIP);
				continue;
			}
			bytes += slot_fill(q, s, i, &p, &pseq);
		}
		for (unsigned i = 0; i < used; i++)
			publish_at(q, ipcq__slot(q, pos + i), pos + i, i, note,
				   meta ? meta->pseq : seq0 + i);
	}
	IPCQ_CRASHPOINT("send.published");
	/* R4: the record goes idle only after the publish is visible;
	 * pairs with the acquire of prod_op in snap() (recovery.c) */
	ipcq__store_release(&q->me->prod_op, (uint32_t)IPCQ_OP_IDLE);
	ipcq__count3(q, IPCQ_CTR_SENT, used, bytes, 1); /* SENT, SENT_BYTES, SEND_CALLS */
	if (IPCQ_UNLIKELY(waiters))
		ipcq__wake_data(q);
#ifndef IPCQ_NO_NEXT_PREFETCH
	/* The next slot's line, asked for while the caller goes on: the
	 * next send's A1 then finds it here instead of waiting for the
	 * consumer that released it a lap ago.  On x86-64 this is a read
	 * prefetch (prefetcht0); PREFETCHW of its line and its tail's
	 * measured no better in a round trip.  A hint only: no ordering,
	 * nothing relies on it. */
	__builtin_prefetch(ipcq__slot(q, pos + k), 1, 3);
#endif
}

/*
 * Claim up to n slots and write msgs into them.  Returns the count, or
 * -EAGAIN when the ring is full.  *pos_out gets the first position.
 * seq0 and note: as for ipcq__ring_publish().
 */
static IPCQ_INLINE int ipcq__ring_send(struct ipcq *q, const struct ipcq_buf *msgs, unsigned n,
				       const struct ipcq__send_meta *meta, uint64_t seq0,
				       uint64_t *note, uint64_t *pos_out)
{
	int k = ipcq__ring_claim_send(q, n, pos_out);
	if (IPCQ_LIKELY(k > 0))
		ipcq__ring_publish(q, *pos_out, (unsigned)k, (unsigned)k, msgs, NULL, meta, seq0, note);
	return k;
}

/*
 * The lines of a published slot s past its first, asked for as soon as
 * A2 has seen it published: the rest of a payload longer than the first
 * line holds, and the tail when this receive reads it (a msginfo, ack
 * mode, a queue whose messages expire or have groups, a named producer's
 * message).  Without it each is a miss of its own, after the first
 * line's, while the claim (C1) and the copy wait: a 64-byte message spans
 * two lines, and the second line's miss cost about 100 ns of a 900 ns
 * round trip between two far cores.  A tail nobody reads is left alone:
 * fetched, it would cost the producer an invalidation a lap later.  A
 * hint only: no ordering, nothing relies on it; len and flags are
 * unchecked here (wrong ones only fetch a line of this slot or the next,
 * and a prefetch never faults).
 */
static IPCQ_INLINE void ipcq__slot_prefetch(const struct ipcq *q, const struct ipcq_shm_slot *s,
					    uint32_t len, int tail)
{
	const char *c = (const char *)s;
	if (len > IPCQ_CL - IPCQ_SLOT_HDR)
		__builtin_prefetch(c + IPCQ_CL, 0, 3);
	/* relaxed: a hint (the flags of this lap, A2 has seen it) */
	if (q->slot_size > IPCQ_CL &&
	    (tail || (ipcq__load_relaxed(&s->flags) & IPCQ_SLOT_F_STREAM)))
		__builtin_prefetch(c + q->slot_size - IPCQ_SLOT_TAIL, 0, 3);
}

/*
 * Claim up to n published messages, the first of which fits bufs[0] (and
 * each next one its buffer; bufs NULL: no limit).  Returns the number of
 * positions k claimed (skips included) and in *msgs the number of real
 * messages among them, -EAGAIN when empty, -ENOBUFS when the first message
 * does not fit (*need says how much room it needs), -EBADMSG when the
 * cursors are corrupt.  tail: the caller will read the slots' tails
 * (ipcq__slot_prefetch()).  only: 0, or position + 1 of the one position
 * the caller may claim, alone (a drop-oldest producer, send.c): -EAGAIN
 * when the cursor is elsewhere (C1, a CAS from that position, makes it
 * exact).
 */
static IPCQ_INLINE int ipcq__ring_claim_recv(struct ipcq *q, const struct ipcq_buf *bufs,
					      unsigned n, uint64_t *need, int tail, uint64_t *pos_out,
					      unsigned *msgs, uint64_t only)
{
	uint64_t *deq = q->deqp; /* control.deq, or the group's cursor */
	struct ipcq_shm_participant *me = q->me;
	uint64_t pos, seq;
	unsigned k, b;
	int rc, recorded = 0;

	/* relaxed: only a hint; A2 and C1 decide (exact for the sole
	 * consumer) */
	pos = ipcq__load_relaxed(deq);
	for (;;) {
		if (IPCQ_UNLIKELY(only) && pos != only - 1) {
			rc = -EAGAIN;
			goto unclaimed;
		}
		struct ipcq_shm_slot *s = ipcq__slot(q, pos);
		/* A2: pairs with R1 of the producer of pos (or with the
		 * skip CAS of recovery, R5 in recovery.c) */
		seq = ipcq__load_acquire(&s->seq);
		if (IPCQ_LIKELY((seq & ~IPCQ_SEQ_SKIP) == ipcq__seq_pos(pos + 1))) {
			int single = 0;
			if (!(seq & IPCQ_SEQ_SKIP)) {
				/* relaxed: a speculative read, re-checked below */
				uint32_t len = ipcq__load_relaxed(&s->len);
				ipcq__slot_prefetch(q, s, len, tail);
				if (IPCQ_UNLIKELY(len > q->max_msg_size)) {
					/* impossible (a corrupt segment): claim it
					 * alone, release it, report -EBADMSG */
					single = 1;
				} else if (bufs && IPCQ_UNLIKELY(len > bufs[0].len)) {
					/* F2: the length before the re-check of the
					 * slot word; pairs with F1 of the producer of
					 * a later lap (ipcq__ring_claim_send(),
					 * _groups()) */
					ipcq__fence_acquire();
					/* relaxed: ordered by F2; unchanged means
					 * len was pos's.  With groups the word stays
					 * while a later lap is written: the group's
					 * cursor still at pos means the group has not
					 * released pos, so no later lap could claim
					 * it (a read of such a lap's bytes, through
					 * F1, would show the cursor moved) */
					if (ipcq__load_relaxed(&s->seq) == seq &&
					    (!q->gwords || ipcq__load_relaxed(deq) == pos)) {
						*need = len;
						rc = -ENOBUFS;
						goto unclaimed;
					}
					/* relaxed: a fresher hint; A2 and C1 decide */
					pos = ipcq__load_relaxed(deq);
					continue;
				}
			}
			b = seq & IPCQ_SEQ_SKIP ? 0 : 1;
			/* the smallest of bufs[0..b]: where a message may land
			 * when messages before it are passed over at the copy
			 * (expired, another group's: take_copy()), on a queue
			 * whose claims may hold such (take_odd) */
			size_t room = bufs ? bufs[0].len : 0;
			/* (only: that position alone, a skip included) */
			for (k = 1; !single && !only && b < n && k < q->capacity; k++) {
				struct ipcq_shm_slot *t = ipcq__slot(q, pos + k);
				/* A2 for each slot of the run */
				uint64_t ts = ipcq__load_acquire(&t->seq);
				if ((ts & ~IPCQ_SEQ_SKIP) != ipcq__seq_pos(pos + k + 1))
					break;
				if (!(ts & IPCQ_SEQ_SKIP)) {
					/* relaxed: after A2 of t; stale only if t was
					 * released meanwhile, and then C1 fails */
					uint32_t tl = ipcq__load_relaxed(&t->len);
					if (tl > q->max_msg_size)
						break; /* a corrupt one is claimed alone */
					if (bufs) {
						size_t fits = bufs[b].len;
						if (IPCQ_UNLIKELY(q->take_odd)) {
							if (fits < room)
								room = fits;
							fits = room;
						}
						if (tl > fits)
							break;
					}
					b++;
				}
			}
			if (single)
				k = 1;
			/* relaxed: published by the release half of C1 */
			ipcq__store_relaxed(&me->cons_pos, pos);
			ipcq__store_relaxed(&me->cons_n, (uint32_t)k);
			ipcq__store_relaxed(&me->cons_op, q->op_deq);
			recorded = 1;
			IPCQ_CRASHPOINT("recv.before_claim");
			/* C1 (or C1s): the claim */
			if (ipcq__claim_deq(q, deq, pos, k))
				break;
			/* relaxed: retry with a fresher hint */
			pos = ipcq__load_relaxed(deq);
		} else if (ipcq__seq_dif(seq, pos + 1) < 0) {
			rc = -EAGAIN;
			goto unclaimed;
		} else if ((rc = ipcq__catch_up(deq, &pos)) < 0) {
			goto unclaimed; /* another consumer took pos, yet the cursor did not move */
		}
	}
	IPCQ_CRASHPOINT("recv.claimed");
	*pos_out = pos;
	*msgs = b;
	return (int)k;
unclaimed:
	/* as in ipcq__ring_claim_send(): a lost claim leaves no record (R4: pairs
	 * with snap() in recovery.c) */
	if (recorded)
		ipcq__store_release(&me->cons_op, (uint32_t)IPCQ_OP_IDLE);
	return rc;
}

/*
 * Groups: the member that releases the last position of each run of
 * IPCQ__TAIL_EVERY moves its durable group's tail (G1), so that the tail
 * trails the group's releases by about that many positions.  A producer
 * that finds the ring full then scans a few words per group instead of a
 * lap of them (capacity / 8 lines per group, each written by a member
 * since); the member's own scan reads words it has just written, and the
 * tail's line is read by a producer once a lap.  A scan that stops at a
 * position another member still holds is taken further by the next run's
 * mover, or by the producer.
 */
#define IPCQ__TAIL_EVERY 64u

/* Release the slot of position pos, which we claimed with C1 (word
 * ipcq__seq_pos(pos + 1), with the skip bit it had) or adopted (word
 * `held`, nonzero).  R2: a CAS from exactly the word its owner holds, so
 * that it can never overwrite a later lap; pairs with A1.  A CAS that
 * fails is counted (only a corrupt segment makes one). */
static IPCQ_INLINE void ipcq__ring_release_at(struct ipcq *q, struct ipcq_shm_slot *s,
					       uint64_t pos, uint64_t held)
{
	if (IPCQ_UNLIKELY(q->gw)) {
		/* a durable group: its word of the slot, unreleased p == p
		 * (with an owner tag once adopted) */
		if (!held)
			held = ipcq__seq_pos(pos);
		/* R2g: the group is done with the slot; pairs with G1 of
		 * whoever moves the group's tail over it */
		if (IPCQ_UNLIKELY(!ipcq__cas(&q->gw[pos & q->mask], held,
					    ipcq__seq_pos(pos + q->capacity))))
			ipcq__qcount(q, IPCQ_QCTR_RELEASE_LOST, 1);
		/* the last of a run of IPCQ__TAIL_EVERY positions: move the
		 * tail (pos + 1 was claimed, so enq >= pos + 1) */
		if (IPCQ_UNLIKELY((pos & (IPCQ__TAIL_EVERY - 1)) == IPCQ__TAIL_EVERY - 1))
			(void)ipcq__group_advance_tail(q, (uint32_t)q->group, pos + 1);
		return;
	}
	if (!held)
		/* relaxed: ours since C1; only the skip bit is read */
		held = ipcq__seq_pos(pos + 1) | (ipcq__load_relaxed(&s->seq) & IPCQ_SEQ_SKIP);
	/* R2: frees the slot for the next lap; pairs with A1 */
	if (IPCQ_UNLIKELY(!ipcq__cas(&s->seq, held, ipcq__seq_pos(pos + q->capacity))))
		ipcq__qcount(q, IPCQ_QCTR_RELEASE_LOST, 1);
}

/* The same, for the slot of pos. */
static IPCQ_INLINE void ipcq__ring_release(struct ipcq *q, uint64_t pos, uint64_t held)
{
	ipcq__ring_release_at(q, ipcq__slot(q, pos), pos, held);
}

/* After the releases of a claim: R4, and wake producers if C2 saw any
 * (the caller applies its pressure rule after). */
static IPCQ_INLINE void ipcq__ring_recv_done(struct ipcq *q, uint32_t waiters)
{
	IPCQ_CRASHPOINT("recv.released");
	/* R4: idle only after the releases are visible; pairs with the
	 * acquire of cons_op in snap() (recovery.c) */
	ipcq__store_release(&q->me->cons_op, (uint32_t)IPCQ_OP_IDLE);
	if (IPCQ_UNLIKELY(waiters))
		ipcq__wake_space(q);
}

/* C2: the count of producers asleep for space, read after a claim (C1);
 * pairs with W1 of a sleeping producer (see wait.c) */
static IPCQ_INLINE uint32_t ipcq__ring_space_waiters(struct ipcq *q)
{
	return ipcq__load_seq_cst(&q->ctl->space_waiters);
}

/* ring.c: late release: release the run the last receive kept (q->held_n
 * slots from q->held_pos, claimed by C1), clear the record (R4) and wake
 * producers that sleep for space. */
IPCQ_HIDDEN void ipcq__ring_release_held(struct ipcq *q);

/*
 * What a consumer does with each real message it claimed: @take copies
 * slot s (position pos, ours since C1) where the caller wants it, as the
 * b-th message of the claim, and returns the bytes it took; it sets *bad
 * when it finds the slot changed under it (only a corrupt segment).
 */
typedef uint32_t (*ipcq__take_fn)(struct ipcq *q, const struct ipcq_shm_slot *s, uint64_t pos,
				  unsigned b, void *ctx, int *bad);
/* What @take returns for a message it did not take (an expired one): it is
 * passed, and its slot released like the others. */
#define IPCQ__TAKE_PASSED UINT32_MAX

/*
 * Claim up to n published messages that fit their buffers (bufs NULL: no
 * limit), hand each to @take, and release their slots.  Returns the count
 * (> 0), -EAGAIN when empty, -ENOBUFS when the first message does not fit
 * (*need says how much room it needs), -EBADMSG when only slots with an
 * impossible length were claimed (a corrupt segment; each is released).
 * *bad is set when some slot was corrupt; *bytes gets the bytes taken;
 * *end the end of the last claim (0 when nothing was claimed), for the
 * caller's pressure rule.  Slots that recovery published in place of a
 * dead producer's message (IPCQ_SEQ_SKIP) are claimed and released like
 * the others, and passed.  @take is a constant at every call site, so the
 * compiler inlines it.  tail: @take reads the slots' tails (a msginfo,
 * ack mode, a queue with expiry or groups; a named producer's message
 * is known by its flags).  late: a constant at each call site, 1 for a
 * handle with late release (IPCQ_ATTACH_LATE_RELEASE): a run that returns
 * messages is kept, claimed and covered by our record, for
 * ipcq__ring_release_held().  only: as for ipcq__ring_claim_recv() (0 at
 * every call site but drop-oldest's), and then 0 is returned when that
 * position was a skip.
 */
static IPCQ_INLINE int ipcq__ring_take(struct ipcq *q, const struct ipcq_buf *bufs, unsigned n,
				       uint64_t *need, int tail, ipcq__take_fn take, void *ctx,
				       int *bad, uint64_t *bytes, uint64_t *end, const int late,
				       uint64_t only)
{
	uint64_t pos;
	unsigned b, nmsg;
	int k;

	*bad = 0;
	*bytes = 0;
	*end = 0;
again:
	k = ipcq__ring_claim_recv(q, bufs, n, need, tail, &pos, &nmsg, only);
	if (k < 0)
		return k;
	*end = pos + (uint64_t)k;
	uint32_t waiters = ipcq__ring_space_waiters(q);
	IPCQ_DEBUG_YIELD();
	b = 0;
	for (unsigned i = 0; i < (unsigned)k; i++) {
		struct ipcq_shm_slot *s = ipcq__slot(q, pos + i);
		/* relaxed: ours since C1; A2 gave us this value */
		if (!(ipcq__load_relaxed(&s->seq) & IPCQ_SEQ_SKIP)) {
			/* relaxed: ours since C1.  An impossible length is
			 * claimed alone (ipcq__ring_claim_recv()): dropped,
			 * reported */
			if (IPCQ_UNLIKELY(ipcq__load_relaxed(&s->len) > q->max_msg_size)) {
				*bad = 1;
				if (!late)
					ipcq__ring_release_at(q, s, pos + i, 0);
				continue;
			}
			uint32_t got = take(q, s, pos + i, b, ctx, bad);
			if (IPCQ_LIKELY(got != IPCQ__TAKE_PASSED)) {
				*bytes += got;
				b++;
			}
		}
		if (i == 0)
			IPCQ_CRASHPOINT("recv.copied");
		if (IPCQ_LIKELY(!late))
			ipcq__ring_release_at(q, s, pos + i, 0);
	}
	if (IPCQ_UNLIKELY(late)) {
		/* late release (IPCQ_ATTACH_LATE_RELEASE): the run stays ours,
		 * our record covering it, until the handle's next receive */
		q->held_pos = pos;
		q->held_n = (uint32_t)k;
		if (b)
			return (int)b;
		/* nothing to return: released now, before another claim */
		ipcq__ring_release_held(q);
	} else {
		ipcq__ring_recv_done(q, waiters);
	}
	if (IPCQ_UNLIKELY(*bad && b == 0))
		return -EBADMSG; /* a corrupt slot, released */
	if (IPCQ_UNLIKELY(b == 0)) {
		if (only)
			return 0; /* that position was a skip: passed, released */
		if (IPCQ_UNLIKELY(q->expire_side))
			/* relaxed: released; an expired message's move is over,
			 * and the record must not name it over the next claim
			 * (recovery would take that claim for moved: the model's
			 * expire-old-again) */
			ipcq__store_relaxed(&q->me->move_side, 0u);
		goto again; /* only passed-over slots */
	}
	return (int)b;
}

/* ring.c */
/* Publish one message on behalf of another (a replay from the side ring). */
IPCQ_HIDDEN int ipcq__publish_copy(struct ipcq *q, const void *payload, uint32_t len,
				   uint16_t producer, uint32_t stream, uint64_t pseq,
				   uint64_t enqueue_ns, uint8_t flags, uint8_t deliveries,
				   uint32_t target, int64_t *pos_out);
/* Release the slot this handle adopted (R2 from the adopted word) and
 * clear the record (R4). */
IPCQ_HIDDEN void ipcq__release_adopted(struct ipcq *q);
/* Release slot p, unreleased with word w, for its dead owner (a CAS from
 * w) and wake producers; 1 when this call released it. */
IPCQ_HIDDEN int ipcq__release_dead(struct ipcq *q, int32_t g, uint64_t p, uint64_t w);
/* Count the delivery lost with a dead consumer in the adopted slot s
 * (adopted word held); returns the raised count.  In a group the count is
 * the group word's, and the slot is not written. */
IPCQ_HIDDEN uint8_t ipcq__adopted_raise(struct ipcq *q, struct ipcq_shm_slot *s, uint64_t held);

#endif
