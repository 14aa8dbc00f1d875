/*
 * send.c - the producer's public calls: ipcq_send(), ipcq_send_seq(),
 * ipcq_send_batch(), and the zero-copy ipcq_reserve() / ipcq_commit().
 *
 * Each composes the ring layer (ring.h: claim, publish) with what sits
 * above it: the named producer's sequence (dedup.c), the full policy
 * (wait for room, fail, or drop the oldest message), the pressure state
 * (pressure.c) and, for a send stuck past the grace period, recovery
 * (recovery.c).  Writes nothing of the segment itself.
 */
#include <errno.h>
#include <stddef.h>
#include <sched.h>
#include <stdint.h>

#include "ring.h"

/* Where a named producer's accepted sequences are recorded (for
 * ipcq__ring_publish()); NULL for an anonymous one (seq0 0). */
static IPCQ_INLINE uint64_t *dedup_note(struct ipcq *q, uint64_t seq0)
{
	return seq0 ? &ipcq__dedup(q, (uint32_t)q->dedup)->last : NULL;
}

/* The oldest message, taken to be dropped (drop-oldest policy). */
static uint32_t take_discard(struct ipcq *q, const struct ipcq_shm_slot *s, uint64_t pos,
			     unsigned b, void *ctx, int *bad)
{
	(void)pos;
	(void)b;
	(void)ctx;
	(void)bad;
	ipcq__note_consumed(q, s);
	/* relaxed: ours since C1 */
	return ipcq__load_relaxed(&s->len);
}

/*
 * Drop-oldest: discard the message in the slot the next send needs, to
 * make room.  That slot holds position enq - capacity, which is the head
 * (deq) while nobody has claimed it.  Once a consumer has (it is being
 * read, peeked or kept for a late release), room comes with that
 * consumer's release, and dropping the messages after it would only lose
 * them.  So the head is dropped only when it is that position, and
 * claimed only as that position (C1, a CAS from it).  1 when one was
 * dropped, 0 when the slot held a skip (recovery's, in place of a dead
 * producer's message): passed, the room is made and nothing dropped;
 * -EAGAIN when the slot is not ours to empty (being written, claimed by a
 * consumer, or the cursors moved meanwhile).
 */
static int drop_oldest(struct ipcq *q)
{
	uint64_t need, bytes, end;
	int bad;
	/* relaxed: hints; the claim of exactly that position decides */
	uint64_t e = ipcq__load_relaxed(q->enqp);
	uint64_t d = ipcq__load_relaxed(q->deqp);
	if (d + q->capacity != e || d + 1 == 0)
		return -EAGAIN; /* (d + 1 == 0: corrupt; `only` 0 would mean any) */
	int rc = ipcq__ring_take(q, NULL, 1, &need, 0, take_discard, NULL, &bad, &bytes,
				 &end, 0, d + 1);
	if (end && q->high_watermark)
		ipcq__pressure_after_recv(q, end);
	if (IPCQ_UNLIKELY(q->keyed) && end)
		/* a slot released: a gate it kept closed may open (K4); the
		 * publish that follows may be a reservation's, much later */
		ipcq__lease_key_moved(q);
	if (rc > 0)
		ipcq__count_shared(q, IPCQ_CTR_DROPPED, (uint64_t)rc);
	return rc;
}

/* Drop-oldest: drop the message we adopted from a dead consumer (its
 * claim held the oldest slot; the next of its run is the oldest at the
 * next round): noted consumed for its named producer, released, counted
 * dropped. */
IPCQ_COLD static void drop_adopted(struct ipcq *q)
{
	uint32_t was = q->lane;
	ipcq__lane_use(q, q->adopted_lane);
	ipcq__consume_adopted(q);
	ipcq__lane_use(q, was);
	if (IPCQ_UNLIKELY(q->keyed))
		ipcq__lease_key_moved(q); /* a slot released (K4) */
	ipcq__count_shared(q, IPCQ_CTR_DROPPED, 1);
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
	/* the policy refused a wait the timeout allowed: say why */
	if (q->full_policy == IPCQ_FULL_FAIL && timeout_ns != IPCQ_NOWAIT)
		return ipcq__refuse(-EAGAIN, "the ring is full and the handle's full policy, "
				    "IPCQ_FULL_FAIL, fails a send at once whatever its timeout "
				    "(attach with IPCQ_FULL_BLOCK to wait)");
	if (q->full_policy == IPCQ_FULL_FAIL ||
	    (timeout_ns == IPCQ_NOWAIT && q->full_policy != IPCQ_FULL_DROP_OLDEST))
		return -EAGAIN;
	/* drop-oldest makes room instead of waiting for it; it waits only
	 * while the oldest message is still being written or read, and no
	 * longer than the caller allows (IPCQ_NOWAIT: one try) */
	ipcq__wait_begin(w, timeout_ns);
	return 0;
}

/* A round of a drop-oldest send: drop the oldest message, or wait (by a
 * yield: nobody would wake us) while it is still being written or read,
 * within the caller's time.  A dead consumer's claim on it is adopted and
 * dropped, once a grace period as any recovery pass: the policy must not
 * wait for a consumer that may never come. */
static int drop_round(struct ipcq *q, struct ipcq__waiter *w)
{
	if (drop_oldest(q) >= 0)
		return 0;
	if (ipcq__recovery_due_now(q, 0)) {
		/* relaxed: which position is the oldest, for the scan to adopt
		 * that one alone; stale only if a send made room meanwhile,
		 * and then that position was released and is not adopted */
		q->drop_pos = ipcq__load_relaxed(q->enqp) - q->capacity;
		q->drop_lane = q->lane;
		if (ipcq__recover_scan(q, NULL, IPCQ__ADOPT_TO_DROP, -1) > 0)
			ipcq__wake_data(q);
		if (q->adopted >= 0) {
			drop_adopted(q);
			/* the dead claim's run may hold the next oldest too:
			 * the next round may look again at once */
			q->last_recovery_ns[0] = 0;
			return 0;
		}
	}
	if (w->timeout_ns == IPCQ_NOWAIT)
		return -EAGAIN;
	if (ipcq__wait_timed_out(w))
		return -ETIMEDOUT;
	sched_yield();
	w->gave_cpu = 1; /* timed with the precise clock */
	return 0;
}

static int space_round(struct ipcq *q, struct ipcq__waiter *w)
{
	if (q->full_policy == IPCQ_FULL_DROP_OLDEST)
		return drop_round(q, w);
	int rc = ipcq__wait_space(q, w);
	if (rc < 0)
		return rc;
	/* stuck past the grace period: a dead consumer may hold the slot we
	 * need; a live consumer will adopt it once woken, so wake them */
	if (ipcq__recovery_due(q, w, 0) && ipcq__recover_scan(q, NULL, 0, -1) > 0)
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
	       (rc = ipcq__ring_send(q, msgs, n, NULL, seq0, dedup_note(q, seq0), pos)) == -EAGAIN)
		;
	ipcq__wait_end(q, &w);
	return rc;
}

/* A named producer's sequences end at IPCQ_SEQ_MAX: of n messages, how
 * many still get one (the library's own numbering, last_seq + 1 on). */
static unsigned seq_room(const struct ipcq *q, unsigned n)
{
	uint64_t left = q->last_seq < IPCQ_SEQ_MAX ? IPCQ_SEQ_MAX - q->last_seq : 0;
	return left < n ? (unsigned)left : n;
}

IPCQ_COLD static int seq_used_up(const struct ipcq *q)
{
	(void)q;
	return ipcq__refuse(-EOVERFLOW, "the producer name's sequence numbers are used up "
			    "(its last accepted is 2^56 - 1); remove the name (ipcq_dedup_remove) "
			    "to start it again from 1");
}

int ipcq_send(struct ipcq *q, const void *data, size_t len, int64_t timeout_ns)
{
	struct ipcq_buf b = { (void *)(uintptr_t)data, len };
	int rc;

	if (IPCQ_UNLIKELY(!q || !ipcq__timeout_ok(timeout_ns)))
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
	if (IPCQ_UNLIKELY(seq0 > IPCQ_SEQ_MAX))
		return seq_used_up(q);
	rc = ipcq__ring_send(q, &b, 1, NULL, seq0, dedup_note(q, seq0), &pos);
	if (IPCQ_UNLIKELY(rc == -EAGAIN))
		rc = send_slow(q, &b, 1, seq0, timeout_ns, &pos);
	if (IPCQ_UNLIKELY(rc < 0))
		return rc;
	return q->high_watermark ? ipcq__pressure_after_send(q, pos + 1) : 0;
}

int ipcq_send_ex(struct ipcq *q, const void *data, size_t len,
		 const struct ipcq_send_opts *opts, int64_t timeout_ns)
{
	if (!q || !opts)
		return ipcq_send(q, data, len, timeout_ns); /* -EINVAL for q NULL */
	/* the size of an older caller's struct: up to ttl_ns at least */
	if (opts->size < offsetof(struct ipcq_send_opts, key) || opts->size > sizeof(*opts))
		return ipcq__refuse(-EINVAL, "send options size %u: start from "
				    "IPCQ_SEND_OPTS_INIT", opts->size);
	size_t nres = opts->size > offsetof(struct ipcq_send_opts, reserved)
		? (opts->size - offsetof(struct ipcq_send_opts, reserved)) / sizeof(uint64_t) : 0;
	for (size_t i = 0; i < nres; i++)
		if (opts->reserved[i])
			return ipcq__refuse(-EINVAL, "send options reserved[%zu] must be zero", i);
	const uint32_t known = IPCQ_SEND_F_KEY | IPCQ_SEND_F_SEQ;
	if (opts->flags & ~known)
		return ipcq__refuse(-EINVAL, "send options flags 0x%x: unknown bits 0x%x",
				    opts->flags, opts->flags & ~known);
	if ((opts->flags & IPCQ_SEND_F_SEQ) &&
	    opts->size < offsetof(struct ipcq_send_opts, seq) + sizeof(opts->seq))
		return ipcq__refuse(-EINVAL, "send options size %u has no seq field", opts->size);
	if ((opts->flags & IPCQ_SEND_F_KEY) && !q->keyed)
		return ipcq__refuse(-EINVAL, "a key on a queue created without IPCQ_CF_KEYED");
	if (opts->size < offsetof(struct ipcq_send_opts, key) + sizeof(opts->key) &&
	    (opts->flags & IPCQ_SEND_F_KEY))
		return ipcq__refuse(-EINVAL, "send options size %u has no key field", opts->size);
	if (opts->ttl_ns < 0 || (uint64_t)opts->ttl_ns > (uint64_t)IPCQ_TTL_MAX_MS * 1000000u)
		return ipcq__refuse(-EINVAL, "ttl_ns %lld is not in [0, 2^31 ms]",
				    (long long)opts->ttl_ns);
	if (opts->ttl_ns && !q->expiry)
		return ipcq__refuse(-EINVAL, "a time to live on a queue created without "
				    "IPCQ_CF_EXPIRY (or a ttl_ms)");
	/* an older caller's struct ends before the priority: lane 0 */
	uint32_t prio = opts->size >= offsetof(struct ipcq_send_opts, priority) + sizeof(uint32_t)
		? opts->priority : 0;
	if (opts->size >= offsetof(struct ipcq_send_opts, reserved32) + sizeof(opts->reserved32) &&
	    opts->reserved32)
		return ipcq__refuse(-EINVAL, "send options reserved32 must be zero");
	if (prio >= q->lanes)
		return ipcq__refuse(-EINVAL, "priority %u: the queue has %u lane%s (priorities "
				    "0..%u)", prio, q->lanes, q->lanes == 1 ? "" : "s", q->lanes - 1);
	q->send_ttl_ns = (uint64_t)opts->ttl_ns;
	q->send_keyed = (opts->flags & IPCQ_SEND_F_KEY) != 0;
	q->send_key = q->send_keyed ? opts->key : 0;
	/* the lane's ring for this send, lane 0's again after it */
	if (prio)
		ipcq__lane_use(q, prio);
	int rc = (opts->flags & IPCQ_SEND_F_SEQ) ? ipcq_send_seq(q, opts->seq, data, len, timeout_ns)
						 : ipcq_send(q, data, len, timeout_ns);
	if (prio)
		ipcq__lane_use(q, 0);
	q->send_ttl_ns = 0;
	q->send_keyed = 0;
	return rc;
}

int ipcq_send_seq(struct ipcq *q, uint64_t seq, const void *data, size_t len,
		  int64_t timeout_ns)
{
	struct ipcq_buf b = { (void *)(uintptr_t)data, len };
	uint64_t pos;
	int rc;

	if (!q || !ipcq__timeout_ok(timeout_ns) || !seq || seq > IPCQ_SEQ_MAX)
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
	rc = ipcq__ring_send(q, &b, 1, NULL, seq, dedup_note(q, seq), &pos);
	if (rc == -EAGAIN)
		rc = send_slow(q, &b, 1, seq, timeout_ns, &pos);
	if (rc < 0)
		return rc;
	return q->high_watermark ? ipcq__pressure_after_send(q, pos + 1) : 0;
}

int ipcq_send_batch(struct ipcq *q, const struct ipcq_buf *msgs, unsigned n, int64_t timeout_ns)
{
	int rc;

	if (!q || !msgs || !ipcq__timeout_ok(timeout_ns))
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
	if (seq0 && (n = seq_room(q, n)) == 0)
		return seq_used_up(q);
	rc = ipcq__ring_send(q, msgs, n, NULL, seq0, dedup_note(q, seq0), &pos);
	if (rc == -EAGAIN)
		rc = send_slow(q, msgs, n, seq0, timeout_ns, &pos);
	if (rc > 0 && q->high_watermark)
		ipcq__pressure_after_send(q, pos + (uint64_t)rc);
	return rc;
}

/* ---- zero copy ------------------------------------------------------------ */

int ipcq_reserve(struct ipcq *q, unsigned n, void **bufs, int64_t timeout_ns)
{
	uint64_t pos = 0;
	int k;

	if (!q || !bufs || !n || !ipcq__timeout_ok(timeout_ns))
		return -EINVAL;
	if (!(q->roles & IPCQ_ROLE_PRODUCER))
		return -EPERM;
	if (q->zc_send_n)
		return -EALREADY;
	if (n > q->capacity)
		n = q->capacity;
	if (q->dedup >= 0 && (n = seq_room(q, n)) == 0)
		return seq_used_up(q);
	k = ipcq__ring_claim_send(q, n, &pos);
	if (k == -EAGAIN) {
		/* full: wait (or drop) as a copying send would, claiming
		 * only once there is room */
		struct ipcq__waiter w;
		k = space_begin(q, &w, timeout_ns);
		if (k)
			return k;
		while ((k = space_round(q, &w)) == 0 && (k = ipcq__ring_claim_send(q, n, &pos)) == -EAGAIN)
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
	ipcq__ring_publish(q, pos, k, n, NULL, lens, NULL, seq0, dedup_note(q, seq0));
	return q->high_watermark ? ipcq__pressure_after_send(q, pos + k) : 0;
}
