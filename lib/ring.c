/*
 * ring.c - the bounded multi-producer multi-consumer ring.
 *
 * Owns: control.enq, control.deq and every slot of the main ring; the work
 * records (prod_*, cons_*) of the caller's participant entry.
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
 * The work record is written before the claim (ordered by the CAS's full
 * barrier) and cleared after the publish/release (R4, a release store, so a
 * record seen idle means the slot work is visible).  Crash recovery reads
 * these records to tell a dead participant's claim from a live one's.
 *
 * Everything read from a slot is bounded again before use: a length above
 * max_msg_size (only a corrupt or hostile segment has one) is never used to
 * copy.
 */
#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ipcq_internal.h"

#if defined(IPCQ_DEBUG)
/* Debug builds: random yields at protocol points widen race windows on
 * machines with few cores (IPCQ_DEBUG_YIELD=1 in the environment). */
static int debug_yield_on = -1;
static __thread uint32_t debug_rng;
static void debug_yield(void)
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
#define IPCQ_DEBUG_YIELD() debug_yield()
#else
#define IPCQ_DEBUG_YIELD() ((void)0)
#endif

static uint64_t coarse_now(void)
{
	return ipcq__now_ns(CLOCK_MONOTONIC_COARSE);
}

/* Metadata of a message published on behalf of another (replay). */
struct send_meta {
	uint16_t producer;
	uint8_t flags;
	uint8_t deliveries;
	uint32_t stream;
	uint64_t pseq;
	uint64_t enqueue_ns;
};

/* Finish the release of slot p for a dead owner (recovery.c, lease.c). */
int ipcq__release_dead(struct ipcq *q, uint64_t p, uint64_t w)
{
	/* R2 for the dead owner: a CAS from the word it left; pairs with A1 */
	if (!ipcq__cas(&ipcq__slot(q, p)->seq, w, ipcq__seq_pos(p + q->capacity)))
		return 0;
	/* C2 after the release CAS: pairs with W1 (wait.c) */
	if (ipcq__load_seq_cst(&q->ctl->space_waiters))
		ipcq__wake_space(q);
	return 1;
}

/*
 * Claim up to n free slots with one CAS.  Returns the count k, -EAGAIN when
 * the ring is full, -EBADMSG when its cursors are corrupt.  *pos_out gets
 * the first position; the work record covers [pos, pos + k).
 */
static IPCQ_INLINE int claim_send(struct ipcq *q, unsigned n, uint64_t *pos_out)
{
	struct ipcq_shm_control *c = q->ctl;
	struct ipcq_shm_participant *me = q->me;
	uint64_t pos, seq;
	unsigned k;
	int rc, recorded = 0;

	/* relaxed: only a hint; A1 and P1 decide */
	pos = ipcq__load_relaxed(&c->enq);
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
			/* relaxed: published to recovery by the release half
			 * of the CAS below (P1) */
			ipcq__store_relaxed(&me->prod_pos, pos);
			ipcq__store_relaxed(&me->prod_n, (uint32_t)k);
			ipcq__store_relaxed(&me->prod_op, (uint32_t)IPCQ_OP_ENQUEUE);
			recorded = 1;
			IPCQ_CRASHPOINT("send.before_claim");
			/* P1: the claim; seq_cst.  Its release half orders the record above
			 * before it (seen through the seq_cst enq load of
			 * skip_orphan() in recovery.c) and sits in one total
			 * order with W1/W3 of a sleeping consumer (wait.c) */
			if (ipcq__cas(&c->enq, pos, pos + k))
				break;
			/* relaxed: retry with a fresher hint */
			pos = ipcq__load_relaxed(&c->enq);
		} else if (dif <= 0) {
			rc = -EAGAIN; /* the slot still holds the previous lap */
			goto unclaimed;
		} else {
			/* relaxed: another producer got pos; catch up.  Its
			 * claim is visible to us (A1 saw its publish), so the
			 * cursor must have moved: if not, the segment is
			 * corrupt, and looping would never end. */
			uint64_t np = ipcq__load_relaxed(&c->enq);
			if (IPCQ_UNLIKELY(np == pos)) {
				rc = -EBADMSG;
				goto unclaimed;
			}
			pos = np;
		}
	}
	/* F1: the data stores that follow stay after the claim; pairs with
	 * the acquire fence (F2) of a reader that re-checks a slot word
	 * after reading data speculatively (claim_recv(), dedup.c) */
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
 */
static IPCQ_INLINE void publish_send(struct ipcq *q, uint64_t pos, unsigned k, unsigned used,
				     const struct ipcq_buf *msgs, const size_t *lens,
				     const struct send_meta *meta, uint64_t seq0)
{
	struct ipcq_shm_control *c = q->ctl;
	uint64_t bytes = 0;

	/* P2: pairs with W1 of a sleeping consumer (see wait.c); after P1 */
	uint32_t waiters = ipcq__load_seq_cst(&c->data_waiters);
	uint64_t now = meta ? meta->enqueue_ns : coarse_now();
	IPCQ_DEBUG_YIELD();
	for (unsigned i = 0; i < k; i++) {
		struct ipcq_shm_slot *s = ipcq__slot(q, pos + i);
		if (i >= used) {
			/* R1 for an unused reservation: consumers pass it */
			ipcq__store_release(&s->seq, ipcq__seq_pos(pos + i + 1) | IPCQ_SEQ_SKIP);
			continue;
		}
		uint32_t len = (uint32_t)(msgs ? msgs[i].len : lens[i]);
		/* relaxed: consumers read these only after A2, or
		 * speculatively before a claim that will then fail */
		uint64_t pseq = meta ? meta->pseq : seq0 ? seq0 + i : q->next_pseq++;
		ipcq__store_relaxed(&s->len, len);
		ipcq__store_relaxed(&s->pseq, pseq);
		ipcq__store_relaxed(&s->enqueue_ns, now);
		ipcq__store_relaxed(&s->producer, meta ? meta->producer : (uint16_t)q->index);
		ipcq__store_relaxed(&s->deliveries, meta ? meta->deliveries : (uint8_t)0);
		ipcq__store_relaxed(&s->flags, meta ? meta->flags : (uint8_t)0);
		/* (a replay that may have been delivered once carries the
		 * redelivered flag in meta->flags) */
		ipcq__store_relaxed(&s->stream, meta ? meta->stream : (uint32_t)(q->dedup + 1));
		ipcq__store_relaxed(&s->stream_gen, meta ? 0u : q->dedup_gen);
		if (msgs && len)
			memcpy((uint8_t *)s + IPCQ_SLOT_HDR, msgs[i].data, len);
		bytes += len;
		if (i == 0)
			IPCQ_CRASHPOINT("send.written");
		/* R1: publishes header and payload; pairs with A2 */
		ipcq__store_release(&s->seq, ipcq__seq_pos(pos + i + 1));
		if (i == 0) IPCQ_CRASHPOINT("send.published_unrecorded");
		if (seq0) {
			/* accepted: record it for the name (relaxed: only the
			 * holder writes it; a takeover does not rely on it
			 * alone, see dedup.c) */
			ipcq__store_relaxed(&ipcq__dedup(q, (uint32_t)q->dedup)->last, pseq);
			q->last_seq = pseq;
			if (i == 0)
				IPCQ_CRASHPOINT("send.dedup_recorded");
		}
	}
	IPCQ_CRASHPOINT("send.published");
	/* R4: the record goes idle only after the publish is visible;
	 * pairs with the acquire of prod_op in snap() (recovery.c) */
	ipcq__store_release(&q->me->prod_op, (uint32_t)IPCQ_OP_IDLE);
	ipcq__count(q, IPCQ_CTR_SENT, used);
	ipcq__count(q, IPCQ_CTR_SENT_BYTES, bytes);
	ipcq__count(q, IPCQ_CTR_SEND_CALLS, 1);
	if (IPCQ_UNLIKELY(waiters))
		ipcq__wake_data(q);
}

/*
 * Claim up to n slots and write msgs into them.  Returns the count, or
 * -EAGAIN when the ring is full.  *pos_out gets the first position.
 * seq0: for a named producer, the sequence of the first message (the
 * others follow it one by one); 0 otherwise.
 */
static IPCQ_INLINE int try_send(struct ipcq *q, const struct ipcq_buf *msgs, unsigned n,
				const struct send_meta *meta, uint64_t seq0, uint64_t *pos_out)
{
	int k = claim_send(q, n, pos_out);
	if (IPCQ_LIKELY(k > 0))
		publish_send(q, *pos_out, (unsigned)k, (unsigned)k, msgs, NULL, meta, seq0);
	return k;
}

/* Copy the message of a slot we own to the caller and fill its info. */
static IPCQ_INLINE uint32_t deliver(struct ipcq *q, const struct ipcq_shm_slot *s,
				    struct ipcq_buf *b, struct ipcq_msginfo *m,
				    uint32_t extra_deliveries, int *bad)
{
	/* relaxed: the slot is ours since C1 (or the adoption CAS); A2 made
	 * it visible */
	uint32_t len = ipcq__load_relaxed(&s->len);
	if (IPCQ_UNLIKELY(len > q->max_msg_size || len > b->len)) {
		*bad = 1; /* changed under us: only a corrupt segment */
		len = 0;
	}
	if (len && b->data)
		memcpy(b->data, (const uint8_t *)s + IPCQ_SLOT_HDR, len);
	b->len = len;
	if (m) {
		m->len = len;
		/* relaxed: as len above */
		m->seq = ipcq__load_relaxed(&s->pseq);
		m->enqueue_ns = ipcq__load_relaxed(&s->enqueue_ns);
		m->producer = ipcq__load_relaxed(&s->producer);
		m->deliveries = (uint32_t)ipcq__load_relaxed(&s->deliveries) + 1 + extra_deliveries;
		uint8_t f = ipcq__load_relaxed(&s->flags);
		m->flags = f & IPCQ_MSG_REPLAYED;
		if (m->deliveries > 1 || (f & IPCQ_SLOT_F_REDELIVERED))
			m->flags |= IPCQ_MSG_REDELIVERED;
		m->stream = ipcq__load_relaxed(&s->stream);
		m->token = 0;
	}
	return len;
}

/* try_recv's lease argument: -1 deliver to the caller, >= 0 into that
 * lease entry, DISCARD drop (the producer's drop-oldest policy). */
#define DISCARD (-2)

/*
 * Claim up to n published messages, the first of which fits bufs[0] (and
 * each next one its buffer; bufs NULL: no limit).  Returns the number of
 * positions k claimed (skips included) and in *msgs the number of real
 * messages among them, -EAGAIN when empty, -ENOBUFS when the first message
 * does not fit (*need says how much room it needs), -EBADMSG when the
 * cursors are corrupt.
 */
static IPCQ_INLINE int claim_recv(struct ipcq *q, const struct ipcq_buf *bufs, unsigned n,
				  uint64_t *need, uint64_t *pos_out, unsigned *msgs)
{
	struct ipcq_shm_control *c = q->ctl;
	struct ipcq_shm_participant *me = q->me;
	uint64_t pos, seq;
	unsigned k, b;
	int rc, recorded = 0;

	/* relaxed: only a hint; A2 and C1 decide */
	pos = ipcq__load_relaxed(&c->deq);
	for (;;) {
		struct ipcq_shm_slot *s = ipcq__slot(q, pos);
		/* A2: pairs with R1 of the producer of pos (or with the
		 * skip CAS of recovery, R5 in recovery.c) */
		seq = ipcq__load_acquire(&s->seq);
		if (IPCQ_LIKELY((seq & ~IPCQ_SEQ_SKIP) == ipcq__seq_pos(pos + 1))) {
			int single = 0;
			if (!(seq & IPCQ_SEQ_SKIP)) {
				/* relaxed: a speculative read, re-checked below */
				uint32_t len = ipcq__load_relaxed(&s->len);
				if (IPCQ_UNLIKELY(len > q->max_msg_size)) {
					/* impossible (a corrupt segment): claim it
					 * alone, release it, report -EBADMSG */
					single = 1;
				} else if (bufs && IPCQ_UNLIKELY(len > bufs[0].len)) {
					/* F2: the length before the re-check of the
					 * slot word; pairs with F1 of the producer of
					 * a later lap (claim_send()) */
					ipcq__fence_acquire();
					/* relaxed: ordered by F2; unchanged means
					 * len was pos's */
					if (ipcq__load_relaxed(&s->seq) == seq) {
						*need = len;
						rc = -ENOBUFS;
						goto unclaimed;
					}
					/* relaxed: a fresher hint; A2 and C1 decide */
					pos = ipcq__load_relaxed(&c->deq);
					continue;
				}
			}
			b = seq & IPCQ_SEQ_SKIP ? 0 : 1;
			for (k = 1; !single && b < n && k < q->capacity; k++) {
				struct ipcq_shm_slot *t = ipcq__slot(q, pos + k);
				/* A2 for each slot of the run */
				uint64_t ts = ipcq__load_acquire(&t->seq);
				if ((ts & ~IPCQ_SEQ_SKIP) != ipcq__seq_pos(pos + k + 1))
					break;
				if (!(ts & IPCQ_SEQ_SKIP)) {
					/* relaxed: after A2 of t; stale only if t was
					 * released meanwhile, and then C1 fails */
					uint32_t tl = ipcq__load_relaxed(&t->len);
					if (tl > q->max_msg_size || (bufs && tl > bufs[b].len))
						break; /* a corrupt one is claimed alone */
					b++;
				}
			}
			if (single)
				k = 1;
			/* relaxed: published by the release half of C1 */
			ipcq__store_relaxed(&me->cons_pos, pos);
			ipcq__store_relaxed(&me->cons_n, (uint32_t)k);
			ipcq__store_relaxed(&me->cons_op, (uint32_t)IPCQ_OP_DEQUEUE);
			recorded = 1;
			IPCQ_CRASHPOINT("recv.before_claim");
			/* C1: the claim; seq_cst.  Its release half orders the record above
			 * before it (seen through the seq_cst deq load of
			 * resolve_claimed() in recovery.c) and sits in one total
			 * order with W1/W3 of a sleeping producer (wait.c) */
			if (ipcq__cas(&c->deq, pos, pos + k))
				break;
			/* relaxed: retry with a fresher hint */
			pos = ipcq__load_relaxed(&c->deq);
		} else if (ipcq__seq_dif(seq, pos + 1) < 0) {
			rc = -EAGAIN;
			goto unclaimed;
		} else {
			/* relaxed: another consumer took pos; as in try_send,
			 * a cursor that did not move means corruption */
			uint64_t np = ipcq__load_relaxed(&c->deq);
			if (IPCQ_UNLIKELY(np == pos)) {
				rc = -EBADMSG;
				goto unclaimed;
			}
			pos = np;
		}
	}
	IPCQ_CRASHPOINT("recv.claimed");
	*pos_out = pos;
	*msgs = b;
	return (int)k;
unclaimed:
	/* as in claim_send(): a lost claim leaves no record (R4: pairs
	 * with snap() in recovery.c) */
	if (recorded)
		ipcq__store_release(&me->cons_op, (uint32_t)IPCQ_OP_IDLE);
	return rc;
}

/* Release the slot of position pos, which we claimed with C1 (word
 * ipcq__seq_pos(pos + 1), with the skip bit it had) or adopted (word
 * `held`, nonzero).  R2: a CAS from exactly the word its owner holds, so
 * that it can never overwrite a later lap; pairs with A1.  A CAS that
 * fails is counted (only a corrupt segment makes one). */
static IPCQ_INLINE void release_slot(struct ipcq *q, uint64_t pos, uint64_t held)
{
	struct ipcq_shm_slot *s = ipcq__slot(q, pos);
	if (!held)
		/* relaxed: ours since C1; only the skip bit is read */
		held = ipcq__seq_pos(pos + 1) | (ipcq__load_relaxed(&s->seq) & IPCQ_SEQ_SKIP);
	/* R2: frees the slot for the next lap; pairs with A1 */
	if (IPCQ_UNLIKELY(!ipcq__cas(&s->seq, held, ipcq__seq_pos(pos + q->capacity))))
		ipcq__qcount(q, IPCQ_QCTR_RELEASE_LOST, 1);
}

/* Note a claimed message of a named producer as consumed (dedup.c); runs
 * after C1 and before the slot's release. */
static inline void note_consumed(struct ipcq *q, const struct ipcq_shm_slot *s)
{
	/* relaxed: ours since C1 */
	uint32_t stream = ipcq__load_relaxed(&s->stream);
	if (IPCQ_UNLIKELY(stream))
		ipcq__dedup_consumed(q, stream, ipcq__load_relaxed(&s->stream_gen),
				     ipcq__load_relaxed(&s->pseq));
}

/* After the releases of [pos, pos + k): R4, wake producers, pressure. */
static void finish_recv(struct ipcq *q, uint64_t pos, unsigned k, uint32_t waiters)
{
	IPCQ_CRASHPOINT("recv.released");
	/* R4: idle only after the releases are visible; pairs with the
	 * acquire of cons_op in snap() (recovery.c) */
	ipcq__store_release(&q->me->cons_op, (uint32_t)IPCQ_OP_IDLE);
	if (IPCQ_UNLIKELY(waiters))
		ipcq__wake_space(q);
	if (q->high_watermark)
		ipcq__pressure_after_recv(q, pos + k);
}

/*
 * Claim up to n published messages that fit their buffers and copy them
 * out.  Returns the count, -EAGAIN when empty, -ENOBUFS when the first
 * message does not fit (*need says how much room it needs), -EBADMSG when
 * a slot held an impossible length (corrupt segment; the slot is released).
 * Slots that recovery published in place of a dead producer's message
 * (IPCQ_SEQ_SKIP) are claimed and released like the others, and passed.
 */
static IPCQ_INLINE int try_recv(struct ipcq *q, struct ipcq_buf *bufs,
				struct ipcq_msginfo *infos, unsigned n, uint64_t *need,
				int64_t lease)
{
	uint64_t pos, bytes = 0;
	unsigned b, nmsg;
	int k, bad = 0;

again:
	k = claim_recv(q, lease == DISCARD ? NULL : bufs, n, need, &pos, &nmsg);
	if (k < 0)
		return k;
	/* C2: pairs with W1 of a sleeping producer (see wait.c) */
	uint32_t waiters = ipcq__load_seq_cst(&q->ctl->space_waiters);
	IPCQ_DEBUG_YIELD();
	b = 0;
	for (unsigned i = 0; i < (unsigned)k; i++) {
		struct ipcq_shm_slot *s = ipcq__slot(q, pos + i);
		/* relaxed: ours since C1; A2 gave us this value */
		if (!(ipcq__load_relaxed(&s->seq) & IPCQ_SEQ_SKIP)) {
			/* relaxed: ours since C1.  An impossible length is
			 * claimed alone (claim_recv()): dropped, reported */
			if (IPCQ_UNLIKELY(ipcq__load_relaxed(&s->len) > q->max_msg_size)) {
				bad = 1;
				release_slot(q, pos + i, 0);
				continue;
			}
			note_consumed(q, s);
			if (lease >= 0)
				bytes += ipcq__lease_fill(q, (uint32_t)lease, s, pos + i, 0);
			else if (lease == DISCARD)
				/* relaxed: ours since C1 */
				bytes += ipcq__load_relaxed(&s->len);
			else
				bytes += deliver(q, s, &bufs[b], infos ? &infos[b] : NULL, 0, &bad);
			b++;
		}
		if (i == 0)
			IPCQ_CRASHPOINT("recv.copied");
		release_slot(q, pos + i, 0);
	}
	finish_recv(q, pos, (unsigned)k, waiters);
	if (IPCQ_UNLIKELY(bad && b == 0))
		return -EBADMSG; /* a corrupt slot, released */
	if (IPCQ_UNLIKELY(b == 0))
		goto again; /* only passed-over slots */
	if (IPCQ_UNLIKELY(lease == DISCARD)) {
		ipcq__count_shared(q, IPCQ_CTR_DROPPED, b);
		return (int)b;
	}
	if (lease >= 0)
		return (int)b; /* lease.c counts what it hands out */
	ipcq__count(q, IPCQ_CTR_RECV, b);
	ipcq__count(q, IPCQ_CTR_RECV_BYTES, bytes);
	ipcq__count(q, IPCQ_CTR_RECV_CALLS, 1);
	return bad ? -EBADMSG : (int)b;
}

/*
 * Deliver the slot this handle adopted from a dead consumer (fast mode).
 * The adoption CAS (recovery.c) made it ours; our record covers it.
 */
IPCQ_COLD static int deliver_adopted(struct ipcq *q, struct ipcq_buf *b,
				     struct ipcq_msginfo *m, uint64_t *need)
{
	uint64_t pos = (uint64_t)q->adopted;
	struct ipcq_shm_slot *s = ipcq__slot(q, pos);
	int bad = 0;

	/* relaxed: ours since the adoption CAS (T1), whose acquire half read
	 * from the producer's R1; an earlier adopter's raised count (stored
	 * after its T1) is seen through K1 (registry.c): it is dead */
	uint32_t len = ipcq__load_relaxed(&s->len);
	if (len <= q->max_msg_size && len > b->len) {
		*need = len;
		return -ENOBUFS; /* stays adopted; the next receive gets it */
	}
	uint8_t past = ipcq__adopted_raise(s);
	if (past >= q->max_deliveries) {
		/* it killed max_deliveries consumers: quarantine it.  With the
		 * side ring full it would block the ring for good, so it is
		 * delivered again instead, its count telling the story (and
		 * the side-full counter too). */
		if (ipcq__quarantine_slot(q, pos, IPCQ_REASON_CONSUMER_CRASHED) == 0)
			return -EAGAIN;
	}
	deliver(q, s, b, m, 0, &bad);
	IPCQ_CRASHPOINT("recv.adopted_copied");
	ipcq__release_adopted(q);
	ipcq__count(q, IPCQ_CTR_RECV, 1);
	ipcq__count(q, IPCQ_CTR_RECV_BYTES, b->len);
	ipcq__count(q, IPCQ_CTR_RECV_CALLS, 1);
	ipcq__count(q, IPCQ_CTR_REDELIVERIES, 1);
	/* C2 for the adopted slot, after its release rather than after a
	 * claim: pairs with W1 (wait.c).  Nothing relies on its order: a
	 * producer that needs this slot saw deq past it at W3 and never
	 * sleeps on the futex for it (case 2 in wait.c) */
	if (ipcq__load_seq_cst(&q->ctl->space_waiters))
		ipcq__wake_space(q);
	return bad ? -EBADMSG : 1;
}

/* The adopter counts the delivery that was lost with the dead: the count
 * saturates, the flag stays.  Returns the raised count. */
uint8_t ipcq__adopted_raise(struct ipcq_shm_slot *s)
{
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
	struct ipcq_shm_slot *s = ipcq__slot(q, pos);
	/* relaxed: ours since the adoption CAS */
	uint32_t stream = ipcq__load_relaxed(&s->stream);
	if (stream)
		ipcq__dedup_consumed(q, stream, ipcq__load_relaxed(&s->stream_gen),
				     ipcq__load_relaxed(&s->pseq));
	release_slot(q, pos, q->adopted_seq);
	/* R4: idle only after the release is visible; pairs with snap() */
	ipcq__store_release(&q->me->cons_op, (uint32_t)IPCQ_OP_IDLE);
	q->adopted = -1;
}

/*
 * Move the adopted slot at pos into the side ring.  Our record's move
 * fields name the side entry before it is claimed, so that recovery of a
 * crash in between finds the move done and only releases the slot.
 * Returns 0, or -ENOSPC when the side ring is full (the slot stays
 * adopted; a later receive tries again).
 */
int ipcq__quarantine_slot(struct ipcq *q, uint64_t pos, unsigned reason)
{
	struct ipcq_shm_slot *s = ipcq__slot(q, pos);
	/* relaxed: the adopted slot is ours since the adoption CAS (T1) */
	uint32_t len = ipcq__load_relaxed(&s->len);
	struct ipcq__poison_src src = {
		.payload = (const uint8_t *)s + IPCQ_SLOT_HDR,
		.len = len > q->max_msg_size ? 0 : len,
		.producer = ipcq__load_relaxed(&s->producer),
		.deliveries = ipcq__load_relaxed(&s->deliveries),
		.reason = (uint8_t)reason,
		.stream = ipcq__load_relaxed(&s->stream),
		.last_consumer = (uint32_t)q->index,
		.pseq = ipcq__load_relaxed(&s->pseq),
		.first_ns = ipcq__load_relaxed(&s->enqueue_ns),
		.move_side = &q->me->move_side,
		.move_gen = &q->me->move_gen,
	};
	int rc = ipcq__side_insert(q, &src);
	if (rc < 0)
		return rc;
	ipcq__release_adopted(q);
	/* relaxed: the record is idle (R4 above); the move is finished */
	ipcq__store_relaxed(&q->me->move_side, 0u);
	return 0;
}

int ipcq__publish_copy(struct ipcq *q, const void *payload, uint32_t len, uint16_t producer,
		       uint32_t stream, uint64_t pseq, uint64_t enqueue_ns, uint8_t flags,
		       uint8_t deliveries, int64_t *pos_out)
{
	struct ipcq_buf b = { (void *)(uintptr_t)payload, len };
	struct send_meta meta = { producer, flags, deliveries, stream, pseq, enqueue_ns };
	uint64_t pos;
	int rc = try_send(q, &b, 1, &meta, 0, &pos);
	if (rc > 0 && pos_out)
		*pos_out = (int64_t)pos;
	return rc;
}

/*
 * Time for a recovery pass?  At most one per grace period per side of the
 * handle (@side: 0 sending, 1 receiving; the two may be different threads),
 * counted across calls: a consumer that only ever waits a little (timeouts
 * shorter than the grace period) must still, now and then, look for the
 * messages that dead consumers claimed, which nobody else can deliver.
 * Busy-polling waiters look at the clock only every 64 rounds.
 */
static int recovery_due(struct ipcq *q, const struct ipcq__waiter *w, int side)
{
	if (q->wait_strategy == IPCQ_WAIT_BUSY_POLL && (w->round & 63) != 0)
		return 0;
	uint64_t now = ipcq__now_ns(CLOCK_MONOTONIC);
	if (now - q->last_recovery_ns[side] < q->grace_ns)
		return 0;
	q->last_recovery_ns[side] = now;
	return 1;
}

/* Drop-oldest: discard the message at the head to make room.  1 when one
 * was dropped, -EAGAIN when the head is not ready (being written, or
 * claimed by a consumer that has not released it yet). */
static int drop_oldest(struct ipcq *q)
{
	struct ipcq_buf b = { NULL, SIZE_MAX };
	uint64_t need;
	return try_recv(q, &b, NULL, 1, &need, DISCARD);
}

/*
 * Waiting for room, in rounds, shared by the copying and zero-copy sends.
 * space_begin() counts the full event and applies the full policy (-EAGAIN
 * when the caller must not wait); each space_round() then waits once (or
 * drops the oldest message) and runs recovery when it is due.
 */
static int space_begin(struct ipcq *q, struct ipcq__waiter *w, int64_t timeout_ns)
{
	ipcq__count(q, IPCQ_CTR_FULL, 1);
	if (q->full_policy == IPCQ_FULL_FAIL ||
	    (timeout_ns == IPCQ_NOWAIT && q->full_policy != IPCQ_FULL_DROP_OLDEST))
		return timeout_ns != IPCQ_NOWAIT ? (ipcq__errdetail("the ring is full and the handle's full policy, IPCQ_FULL_FAIL, fails a send at once whatever its timeout (attach with IPCQ_FULL_BLOCK to wait)"), -EAGAIN) : -EAGAIN;
	/* drop-oldest makes room instead of waiting for it; it waits only
	 * while the oldest message is still being written or read, and no
	 * longer than the caller allows (IPCQ_NOWAIT: one try) */
	ipcq__wait_begin(w, timeout_ns);
	return 0;
}

static int space_round(struct ipcq *q, struct ipcq__waiter *w)
{
	if (q->full_policy == IPCQ_FULL_DROP_OLDEST) {
		/* the oldest is being written or read: let that process
		 * finish (no sleep: nobody would wake us), within the
		 * caller's time */
		if (drop_oldest(q) < 0) {
			if (w->timeout_ns == IPCQ_NOWAIT)
				return -EAGAIN;
			if (w->deadline_ns && ipcq__now_ns(CLOCK_MONOTONIC) >= w->deadline_ns)
				return -ETIMEDOUT;
			sched_yield();
		}
	} else {
		int rc = ipcq__wait_space(q, w);
		if (rc < 0)
			return rc;
	}
	/* stuck past the grace period: a dead consumer may hold the slot we
	 * need; a live consumer will adopt it once woken, so wake them */
	if (recovery_due(q, w, 0) && ipcq__recover_scan(q, NULL, 0, -1) > 0)
		ipcq__wake_data(q);
	return 0;
}

IPCQ_COLD static int send_slow(struct ipcq *q, const struct ipcq_buf *msgs, unsigned n,
			       uint64_t seq0, int64_t timeout_ns, uint64_t *pos)
{
	struct ipcq__waiter w;
	int rc = space_begin(q, &w, timeout_ns);

	if (rc)
		return rc;
	while ((rc = space_round(q, &w)) == 0 &&
	       (rc = try_send(q, msgs, n, NULL, seq0, pos)) == -EAGAIN)
		;
	ipcq__wait_end(q, &w);
	return rc;
}

/* One receive attempt in either mode. */
static IPCQ_INLINE int recv_once(struct ipcq *q, struct ipcq_buf *bufs, struct ipcq_msginfo *infos,
		     unsigned n, uint64_t *need)
{
	if (q->ack) {
		int rc = ipcq__lease_recv(q, bufs[0].data, bufs[0].len, infos, need);
		if (rc < 0)
			return rc;
		bufs[0].len = (size_t)rc;
		return 1;
	}
	if (IPCQ_UNLIKELY(q->adopted >= 0))
		return deliver_adopted(q, &bufs[0], infos, need);
	return try_recv(q, bufs, infos, n, need, -1);
}

int ipcq__ring_recv_lease(struct ipcq *q, uint32_t lease, size_t cap, uint64_t *need)
{
	struct ipcq_buf b = { NULL, cap };
	return try_recv(q, &b, NULL, 1, need, lease);
}

/*
 * Waiting for data, in rounds, shared by the copying and zero-copy
 * receives: data_begin() counts the empty event (-EAGAIN for IPCQ_NOWAIT),
 * each data_round() waits once and runs recovery when it is due.
 */
static int data_begin(struct ipcq *q, struct ipcq__waiter *w, int64_t timeout_ns)
{
	ipcq__count(q, IPCQ_CTR_EMPTY, 1);
	if (timeout_ns == IPCQ_NOWAIT)
		return -EAGAIN;
	ipcq__wait_begin(w, timeout_ns);
	return 0;
}

static int data_round(struct ipcq *q, struct ipcq__waiter *w)
{
	int rc = ipcq__wait_data(q, w);
	if (rc < 0)
		return rc;
	/* stuck past the grace period: take over what the dead left
	 * (adopting one of their claimed messages, if any) */
	if (recovery_due(q, w, 1))
		ipcq__recover_scan(q, NULL, 1, -1);
	return 0;
}

IPCQ_COLD static int recv_slow(struct ipcq *q, struct ipcq_buf *bufs, struct ipcq_msginfo *infos,
			       unsigned n, uint64_t *need, int64_t timeout_ns)
{
	struct ipcq__waiter w;
	int rc = data_begin(q, &w, timeout_ns);

	if (rc)
		return rc;
	while ((rc = data_round(q, &w)) == 0 &&
	       (rc = recv_once(q, bufs, infos, n, need)) == -EAGAIN)
		;
	ipcq__wait_end(q, &w);
	return rc;
}

static int check_timeout(int64_t t)
{
	return t >= 0 || t == IPCQ_FOREVER;
}

int ipcq_send(struct ipcq *q, const void *data, size_t len, int64_t timeout_ns)
{
	struct ipcq_buf b = { (void *)(uintptr_t)data, len };
	int rc;

	if (IPCQ_UNLIKELY(!q || !check_timeout(timeout_ns)))
		return -EINVAL;
	if (IPCQ_UNLIKELY(!(q->roles & IPCQ_ROLE_PRODUCER)))
		return -EPERM;
	if (IPCQ_UNLIKELY(q->zc_send_n))
		return -EALREADY; /* a reservation is open: commit it first */
	if (IPCQ_UNLIKELY(len > q->max_msg_size))
		return -EMSGSIZE;
	if (IPCQ_UNLIKELY(!data && len))
		return -EINVAL;
	uint64_t pos, seq0 = q->dedup >= 0 ? q->last_seq + 1 : 0;
	rc = try_send(q, &b, 1, NULL, seq0, &pos);
	if (IPCQ_UNLIKELY(rc == -EAGAIN))
		rc = send_slow(q, &b, 1, seq0, timeout_ns, &pos);
	if (IPCQ_UNLIKELY(rc < 0))
		return rc;
	return q->high_watermark ? ipcq__pressure_after_send(q, pos + 1) : 0;
}

int ipcq_send_seq(struct ipcq *q, uint64_t seq, const void *data, size_t len,
		  int64_t timeout_ns)
{
	struct ipcq_buf b = { (void *)(uintptr_t)data, len };
	uint64_t pos;
	int rc;

	if (!q || !check_timeout(timeout_ns) || !seq || seq > IPCQ_SEQ_MAX)
		return -EINVAL;
	if (!(q->roles & IPCQ_ROLE_PRODUCER) || q->dedup < 0)
		return -EPERM;
	if (q->zc_send_n)
		return -EALREADY;
	if (len > q->max_msg_size)
		return -EMSGSIZE;
	if (!data && len)
		return -EINVAL;
	if (seq <= q->last_seq) {
		/* a replay of something accepted: drop it, count it */
		ipcq__count(q, IPCQ_CTR_DUPLICATES, 1);
		struct ipcq_shm_dedup *e = ipcq__dedup(q, (uint32_t)q->dedup);
		/* relaxed: only the holder writes it; a count for people */
		ipcq__store_relaxed(&e->duplicates, ipcq__load_relaxed(&e->duplicates) + 1);
		return IPCQ_SEND_DUPLICATE;
	}
	rc = try_send(q, &b, 1, NULL, seq, &pos);
	if (rc == -EAGAIN)
		rc = send_slow(q, &b, 1, seq, timeout_ns, &pos);
	if (rc < 0)
		return rc;
	return q->high_watermark ? ipcq__pressure_after_send(q, pos + 1) : 0;
}

int ipcq_send_batch(struct ipcq *q, const struct ipcq_buf *msgs, unsigned n, int64_t timeout_ns)
{
	int rc;

	if (!q || !msgs || !check_timeout(timeout_ns))
		return -EINVAL;
	if (!(q->roles & IPCQ_ROLE_PRODUCER))
		return -EPERM;
	if (q->zc_send_n)
		return -EALREADY;
	if (n == 0)
		return -EINVAL;
	if (n > q->capacity)
		n = q->capacity;
	for (unsigned i = 0; i < n; i++) {
		if (msgs[i].len > q->max_msg_size)
			return -EMSGSIZE;
		if (!msgs[i].data && msgs[i].len)
			return -EINVAL;
	}
	uint64_t pos, seq0 = q->dedup >= 0 ? q->last_seq + 1 : 0;
	rc = try_send(q, msgs, n, NULL, seq0, &pos);
	if (rc == -EAGAIN)
		rc = send_slow(q, msgs, n, seq0, timeout_ns, &pos);
	if (rc > 0 && q->high_watermark)
		ipcq__pressure_after_send(q, pos + (uint64_t)rc);
	return rc;
}

int ipcq_recv(struct ipcq *q, void *buf, size_t cap, struct ipcq_msginfo *info,
	      int64_t timeout_ns)
{
	struct ipcq_buf b = { buf, cap };
	uint64_t need = 0;
	int rc;

	if (IPCQ_UNLIKELY(!q || !check_timeout(timeout_ns)))
		return -EINVAL;
	if (IPCQ_UNLIKELY(!(q->roles & IPCQ_ROLE_CONSUMER)))
		return -EPERM;
	if (IPCQ_UNLIKELY(q->zc_recv_n))
		return -EALREADY; /* messages are peeked: release them first */
	if (IPCQ_UNLIKELY(!buf && cap))
		return -EINVAL;
	rc = recv_once(q, &b, info, 1, &need);
	if (IPCQ_UNLIKELY(rc == -EAGAIN))
		rc = recv_slow(q, &b, info, 1, &need, timeout_ns);
	if (IPCQ_UNLIKELY(rc == -ENOBUFS && info))
		info->len = need;
	return rc < 0 ? rc : (int)b.len;
}

int ipcq_recv_batch(struct ipcq *q, struct ipcq_buf *msgs, struct ipcq_msginfo *infos,
		    unsigned n, int64_t timeout_ns)
{
	uint64_t need = 0;
	int rc;

	if (!q || !msgs || !check_timeout(timeout_ns))
		return -EINVAL;
	if (!(q->roles & IPCQ_ROLE_CONSUMER))
		return -EPERM;
	if (q->zc_recv_n)
		return -EALREADY;
	if (n == 0)
		return -EINVAL;
	if (n > q->capacity)
		n = q->capacity;
	for (unsigned i = 0; i < n; i++)
		if (!msgs[i].data && msgs[i].len)
			return -EINVAL;
	rc = recv_once(q, msgs, infos, n, &need);
	if (rc == -EAGAIN)
		rc = recv_slow(q, msgs, infos, n, &need, timeout_ns);
	if (rc == -ENOBUFS && infos)
		infos[0].len = need;
	return rc;
}

/* ---- zero copy ------------------------------------------------------------ */

int ipcq_reserve(struct ipcq *q, unsigned n, void **bufs, int64_t timeout_ns)
{
	uint64_t pos = 0;
	int k;

	if (!q || !bufs || !n || !check_timeout(timeout_ns))
		return -EINVAL;
	if (!(q->roles & IPCQ_ROLE_PRODUCER))
		return -EPERM;
	if (q->zc_send_n)
		return -EALREADY;
	if (n > q->capacity)
		n = q->capacity;
	k = claim_send(q, n, &pos);
	if (k == -EAGAIN) {
		/* full: wait (or drop) as a copying send would, claiming
		 * only once there is room */
		struct ipcq__waiter w;
		k = space_begin(q, &w, timeout_ns);
		if (k)
			return k;
		while ((k = space_round(q, &w)) == 0 && (k = claim_send(q, n, &pos)) == -EAGAIN)
			;
		ipcq__wait_end(q, &w);
	}
	if (k < 0)
		return k;
	for (int i = 0; i < k; i++)
		bufs[i] = (uint8_t *)ipcq__slot(q, pos + (uint64_t)i) + IPCQ_SLOT_HDR;
	q->zc_send_pos = pos;
	q->zc_send_n = (uint32_t)k;
	return k;
}

int ipcq_commit(struct ipcq *q, const size_t *lens, unsigned n)
{
	if (!q || !q->zc_send_n || n > q->zc_send_n || (!lens && n))
		return -EINVAL;
	for (unsigned i = 0; i < n; i++)
		if (lens[i] > q->max_msg_size)
			return -EINVAL;
	uint64_t pos = q->zc_send_pos, seq0 = q->dedup >= 0 ? q->last_seq + 1 : 0;
	unsigned k = q->zc_send_n;
	q->zc_send_n = 0;
	publish_send(q, pos, k, n, NULL, lens, NULL, seq0);
	return q->high_watermark ? ipcq__pressure_after_send(q, pos + k) : 0;
}

/* One attempt of ipcq_peek(): -EAGAIN when there is nothing to claim. */
static int peek_once(struct ipcq *q, struct ipcq_zmsg *msgs, unsigned n)
{
	uint64_t pos, need = 0;
	unsigned nmsg, b = 0;
	int k, bad = 0;

	if (q->ack) {
		/* ack mode: the message is leased; data points into it */
		int rc = ipcq__lease_recv_peek(q, &msgs[0]);
		if (rc < 0)
			return rc;
		q->zc_recv_n = 1;
		q->zc_recv_ack = 1;
		return 1;
	}
again:
	if (IPCQ_UNLIKELY(q->adopted >= 0)) {
		/* a message adopted from a dead consumer goes first; it is
		 * claimed already (our record covers it) */
		pos = (uint64_t)q->adopted;
		struct ipcq_shm_slot *s = ipcq__slot(q, pos);
		/* relaxed: the adopted slot is ours since the adoption CAS (T1) */
		if (IPCQ_UNLIKELY(ipcq__load_relaxed(&s->len) > q->max_msg_size)) {
			ipcq__release_adopted(q); /* corrupt: dropped */
			return -EBADMSG;
		}
		uint8_t past = ipcq__adopted_raise(s);
		if (past >= q->max_deliveries &&
		    ipcq__quarantine_slot(q, pos, IPCQ_REASON_CONSUMER_CRASHED) == 0)
			goto again;
		q->zc_recv_seq = q->adopted_seq;
		q->adopted = -1;
		k = 1;
	} else {
		k = claim_recv(q, NULL, n, &need, &pos, &nmsg);
		if (k < 0)
			return k;
		q->zc_recv_seq = 0;
		struct ipcq_shm_slot *s = ipcq__slot(q, pos);
		/* relaxed: ours since C1; an impossible length is claimed
		 * alone (claim_recv()), released and reported */
		if (IPCQ_UNLIKELY(!(ipcq__load_relaxed(&s->seq) & IPCQ_SEQ_SKIP) &&
				  ipcq__load_relaxed(&s->len) > q->max_msg_size)) {
			/* C2: pairs with W1 (wait.c) */
			uint32_t waiters = ipcq__load_seq_cst(&q->ctl->space_waiters);
			release_slot(q, pos, 0);
			finish_recv(q, pos, 1, waiters);
			return -EBADMSG;
		}
	}
	/* C2: pairs with W1 of a sleeping producer (see wait.c); after C1,
	 * or after the adoption for an adopted message, where nothing relies
	 * on its order (see deliver_adopted()) */
	q->zc_recv_waiters = ipcq__load_seq_cst(&q->ctl->space_waiters);
	for (unsigned i = 0; i < (unsigned)k; i++) {
		struct ipcq_shm_slot *s = ipcq__slot(q, pos + i);
		/* relaxed: ours since C1 */
		if (ipcq__load_relaxed(&s->seq) & IPCQ_SEQ_SKIP)
			continue;
		note_consumed(q, s);
		struct ipcq_buf out = { NULL, SIZE_MAX };
		deliver(q, s, &out, &msgs[b].info, 0, &bad);
		msgs[b].data = (const uint8_t *)s + IPCQ_SLOT_HDR;
		msgs[b].len = out.len;
		b++;
	}
	q->zc_recv_pos = pos;
	q->zc_recv_n = (uint32_t)k;
	q->zc_recv_ack = 0;
	if (b == 0) {
		/* only passed-over slots: give them back and look again */
		ipcq_release(q);
		goto again;
	}
	ipcq__count(q, IPCQ_CTR_RECV, b);
	ipcq__count(q, IPCQ_CTR_RECV_CALLS, 1);
	return bad ? -EBADMSG : (int)b;
}

int ipcq_peek(struct ipcq *q, struct ipcq_zmsg *msgs, unsigned n, int64_t timeout_ns)
{
	struct ipcq__waiter w;
	int rc;

	if (!q || !msgs || !n || !check_timeout(timeout_ns))
		return -EINVAL;
	if (!(q->roles & IPCQ_ROLE_CONSUMER))
		return -EPERM;
	if (q->zc_recv_n)
		return -EALREADY;
	if (n > q->capacity)
		n = q->capacity;
	rc = peek_once(q, msgs, n);
	if (rc != -EAGAIN)
		return rc;
	rc = data_begin(q, &w, timeout_ns);
	if (rc)
		return rc;
	while ((rc = data_round(q, &w)) == 0 && (rc = peek_once(q, msgs, n)) == -EAGAIN)
		;
	ipcq__wait_end(q, &w);
	return rc;
}

int ipcq_release(struct ipcq *q)
{
	if (!q || !q->zc_recv_n)
		return -EINVAL;
	unsigned k = q->zc_recv_n;
	q->zc_recv_n = 0;
	if (q->zc_recv_ack)
		return 0;
	uint64_t pos = q->zc_recv_pos;
	for (unsigned i = 0; i < k; i++)
		/* R2 (a CAS from the word we hold): pairs with A1 */
		release_slot(q, pos + i, i == 0 ? q->zc_recv_seq : 0);
	finish_recv(q, pos, k, q->zc_recv_waiters);
	return 0;
}
