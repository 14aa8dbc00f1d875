/*
 * recv.c - the consumer's public calls: ipcq_recv(), ipcq_recv_batch(),
 * and the zero-copy ipcq_peek() / ipcq_release().
 *
 * Each composes the ring layer (ring.h: claim, release) with what sits
 * above it: ack mode (lease.c), a message adopted from a dead consumer
 * (delivered first, quarantined in the side ring once it has killed
 * max_deliveries consumers), the named producers' consumed marks
 * (dedup.c), the pressure state (pressure.c) and, for a receive that
 * waits past the grace period, recovery (recovery.c).
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "ring.h"

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
	if (b->data)
		ipcq__copy(b->data, (const uint8_t *)s + IPCQ_SLOT_HDR, len);
	b->len = len;
	if (m) {
		m->len = len;
		/* relaxed: as len above (the tail's line is read only here,
		 * when the caller asks for the info) */
		const struct ipcq_shm_slot_tail *t = ipcq__slot_tail(q, s);
		m->seq = ipcq__load_relaxed(&t->pseq);
		m->enqueue_ns = ipcq__load_relaxed(&t->enqueue_ns);
		m->producer = ipcq__load_relaxed(&s->producer);
		m->deliveries = (uint32_t)ipcq__load_relaxed(&s->deliveries) + 1 + extra_deliveries;
		uint8_t f = ipcq__load_relaxed(&s->flags);
		m->flags = f & IPCQ_MSG_REPLAYED;
		if (m->deliveries > 1 || (f & IPCQ_SLOT_F_REDELIVERED))
			m->flags |= IPCQ_MSG_REDELIVERED;
		m->stream = ipcq__load_relaxed(&t->stream);
		m->token = 0;
		m->gap = 0;
		m->key = 0;
		if (f & IPCQ_SLOT_F_KEYED) {
			m->flags |= IPCQ_MSG_KEYED;
			/* relaxed: as len above */
			m->key = ipcq__load_relaxed(ipcq__slot_key(q, s));
		}
	}
	return len;
}

/* The deliveries a group lost with dead members of an adopted message
 * (its word's adoption count); 0 without groups, where the slot counts. */
static inline uint32_t group_lost(const struct ipcq *q, uint64_t held)
{
	return q->gw ? (uint32_t)((held & IPCQ_SEQ_ADOPT) >> IPCQ_SEQ_ADOPT_SHIFT) : 0u;
}

/* ipcq_recv()'s copies: into bufs[b], with infos[b] if given. */
struct recv_ctx {
	struct ipcq_buf *bufs;
	struct ipcq_msginfo *infos;
};

static IPCQ_INLINE uint32_t take_copy(struct ipcq *q, const struct ipcq_shm_slot *s,
				      uint64_t pos, unsigned b, void *ctx, int *bad)
{
	struct recv_ctx *c = ctx;
	(void)pos;
	ipcq__note_consumed(q, s);
	if (IPCQ_UNLIKELY(ipcq__slot_expired(q, s))) {
		ipcq__expire_slot(q, s);
		return IPCQ__TAKE_PASSED;
	}
	return deliver(q, s, &c->bufs[b], c->infos ? &c->infos[b] : NULL, 0, bad);
}

/*
 * Claim up to n published messages that fit their buffers and copy them
 * out.  Returns the count, -EAGAIN when empty, -ENOBUFS when the first
 * message does not fit (*need says how much room it needs), -EBADMSG when
 * a slot held an impossible length (corrupt segment; the slot is released).
 * late: a constant, the handle releases late (its slots kept, see
 * ipcq__ring_take()).
 */
static IPCQ_INLINE int try_recv_mode(struct ipcq *q, struct ipcq_buf *bufs,
				     struct ipcq_msginfo *infos, unsigned n, uint64_t *need,
				     const int late)
{
	struct recv_ctx c = { bufs, infos };
	uint64_t bytes, end;
	int bad;
	/* the tail is read for the infos, and on a queue with expiry or
	 * groups (take_copy()); ack mode never comes here (recv_once()) */
	int rc = ipcq__ring_take(q, bufs, n, need, q->take_odd | (infos != NULL), take_copy, &c,
				 &bad, &bytes, &end, late, 0);
	if (end && q->high_watermark)
		ipcq__pressure_after_recv(q, end);
	if (IPCQ_UNLIKELY(q->keyed) && end)
		ipcq__lease_key_moved(q); /* slots released */
	if (rc < 0)
		return rc;
	ipcq__count3(q, IPCQ_CTR_RECV, (uint64_t)rc, bytes, 1); /* RECV, RECV_BYTES, RECV_CALLS */
	return bad ? -EBADMSG : rc;
}

/* Late release's receive: a copy of the take path of its own, so that the
 * others' path is unchanged; as hot as theirs for the handles that use it. */
IPCQ_NOINLINE static int try_recv_late(struct ipcq *q, struct ipcq_buf *bufs,
				   struct ipcq_msginfo *infos, unsigned n, uint64_t *need)
{
	return try_recv_mode(q, bufs, infos, n, need, 1);
}

static IPCQ_INLINE int try_recv_n(struct ipcq *q, struct ipcq_buf *bufs,
				  struct ipcq_msginfo *infos, unsigned n, uint64_t *need)
{
	if (IPCQ_UNLIKELY(q->late))
		return try_recv_late(q, bufs, infos, n, need);
	return try_recv_mode(q, bufs, infos, n, need, 0);
}

/* On a queue that moves expired messages to the side ring: a move names
 * one position in our record, so one claim takes one position
 * (ipcq__expire_slot()), and a batch is a claim per message, up to @n
 * (one for a late-release handle, whose claim stays held).  A claim that
 * fails after messages were received ends the batch (-ENOBUFS: the message
 * stays queued; -EBADMSG: the corrupt one was dropped, as ipcq_recv()
 * would). */
IPCQ_NOINLINE static int try_recv_one(struct ipcq *q, struct ipcq_buf *bufs,
				      struct ipcq_msginfo *infos, unsigned n, uint64_t *need)
{
	unsigned got = 0;
	for (;;) {
		int rc = try_recv_n(q, bufs + got, infos ? infos + got : NULL, 1, need);
		/* relaxed: the claim is released; the move, if any, is over */
		ipcq__store_relaxed(&q->me->move_side, 0u);
		if (rc < 0)
			return got ? (int)got : rc;
		got += (unsigned)rc;
		if (got >= n || q->late)
			return (int)got;
	}
}

/*
 * A member of a lossy group reads without owning (ring.c, "Groups"): claim
 * pos by the group's cursor (C1), copy, and keep the copy only if no
 * producer of a later lap has claimed the slot meanwhile (F2, then the
 * cursor).  One message into b; 1, -EAGAIN, -ENOBUFS.  What it misses
 * (overwritten under it, or passed when it found itself a lap behind) is
 * counted in the group and told with the next message (msginfo.gap).
 */
/* A lap or more behind at pos: jump to the oldest position still in the
 * ring, counting what is passed.  0, or -EBADMSG when the cursor is not a
 * lap past pos (a later lap without its claim: corrupt). */
static int lossy_jump(struct ipcq *q, uint64_t *deq, uint64_t pos)
{
	/* acquire: a later lap's claim is ordered before its publish and
	 * its data, which the caller read */
	uint64_t enq = ipcq__load_acquire(q->enqp);
	uint64_t to = enq > q->capacity ? enq - q->capacity : 0;
	if (to <= pos)
		return -EBADMSG;
	/* C1 for the jump: one member counts it */
	if (ipcq__cas(deq, pos, to)) {
		/* RMW: a counter for monitors */
		ipcq__fetch_add(&q->groups[q->group].dropped, to - pos);
		q->gap += to - pos;
	}
	return 0;
}

IPCQ_NOINLINE static int lossy_recv_one(struct ipcq *q, struct ipcq_buf *b, struct ipcq_msginfo *m,
					uint64_t *need)
{
	struct ipcq_shm_group *grp = &q->groups[q->group];
	uint64_t *deq = q->deqp;
	int rc;

	for (;;) {
		/* relaxed: a hint; A2 and C1 decide */
		uint64_t pos = ipcq__load_relaxed(deq);
		struct ipcq_shm_slot *s = ipcq__slot(q, pos);
		/* A2: pairs with R1 (or R5) of the producer of pos */
		uint64_t seq = ipcq__load_acquire(&s->seq);
		int64_t dif = ipcq__seq_dif(seq, pos + 1);
		if (dif < 0)
			return -EAGAIN; /* not published yet */
		if (dif > 0) {
			/* relaxed: another member took pos, or we are a lap
			 * behind: then jump to the oldest position still in
			 * the ring, counting what is passed */
			if (ipcq__load_relaxed(deq) != pos)
				continue;
			if ((rc = lossy_jump(q, deq, pos)) < 0)
				return rc;
			continue;
		}
		uint32_t len = 0;
		if (!(seq & IPCQ_SEQ_SKIP)) {
			/* relaxed: speculative, re-checked after F2 */
			len = ipcq__load_relaxed(&s->len);
			if (len > q->max_msg_size || len > b->len) {
				/* F2: pairs with F1 of a later lap's producer */
				ipcq__fence_acquire();
				if (ipcq__ring_overrun(q, pos)) {
					/* being overwritten: a lap behind */
					if ((rc = lossy_jump(q, deq, pos)) < 0)
						return rc;
					continue;
				}
				if (len > q->max_msg_size)
					return -EBADMSG;
				*need = len;
				return -ENOBUFS;
			}
		}
		/* C1: the claim, for this group (no record: a lossy member
		 * owns nothing, and recovery has nothing to take over) */
		if (!ipcq__cas(deq, pos, pos + 1))
			continue;
		IPCQ_CRASHPOINT("lossy.claimed");
		if (seq & IPCQ_SEQ_SKIP)
			continue; /* a dead producer's claim: passed */
		struct ipcq_buf out = *b;
		deliver(q, s, &out, m, 0, &(int){ 0 });
		/* With the copy, before F2, everything else the delivery is
		 * decided on: whether the message is for another group, its
		 * deadline, and a named producer's stream and sequence.  The
		 * overrun check below tells whether they were this lap's. */
		int elsewhere = ipcq__slot_elsewhere(q, s);
		const struct ipcq_shm_slot_tail *t = ipcq__slot_tail(q, s);
		/* relaxed: as the copy (speculative, checked after F2) */
		uint64_t deadline = q->expiry ? ipcq__load_relaxed(&t->deadline_ns) : 0;
		uint32_t stream = (ipcq__load_relaxed(&s->flags) & IPCQ_SLOT_F_STREAM)
			? ipcq__load_relaxed(&t->stream) : 0;
		uint32_t sgen = stream ? ipcq__load_relaxed(&t->stream_gen) : 0;
		uint64_t pseq = stream ? ipcq__load_relaxed(&t->pseq) : 0;
		/* F2: the reads before the look at the cursor; pairs with F1 of
		 * a later lap's producer, which claims before its data */
		ipcq__fence_acquire();
		if (ipcq__ring_overrun(q, pos))
			goto lost;
		IPCQ_CRASHPOINT("lossy.checked");
		if (IPCQ_UNLIKELY(elsewhere))
			continue; /* a replay for another group */
		if (IPCQ_UNLIKELY(deadline) && ipcq__now_ns(CLOCK_MONOTONIC) >= deadline) {
			ipcq__qcount(q, IPCQ_QCTR_EXPIRED, 1);
			continue;
		}
		if (stream) {
			/* A named producer's message: noted consumed (D2, a full
			 * barrier) while the slot still holds it, and delivered
			 * only if it still does after the note.  A takeover of
			 * the name then finds it in the ring, or, once a later
			 * lap has taken the slot (after our note in the order of
			 * the locked operations), finds the note (dedup.c). */
			ipcq__dedup_consumed(q, stream, sgen, pseq);
			IPCQ_CRASHPOINT("lossy.noted");
			/* seq_cst: after the note's CAS in their one order, as
			 * a later lap's claim (P1) is */
			if (ipcq__load_seq_cst(q->enqp) - pos > q->capacity)
				goto lost;
		}
		b->len = out.len;
		if (m && q->gap) {
			m->flags |= IPCQ_MSG_GAP;
			m->gap = q->gap;
		}
		q->gap = 0;
		return 1;
	lost:
		/* overwritten under us: lost */
		/* RMW: a counter for monitors */
		ipcq__fetch_add(&grp->dropped, (uint64_t)1);
		q->gap++;
	}
}

IPCQ_NOINLINE static int lossy_recv(struct ipcq *q, struct ipcq_buf *bufs, struct ipcq_msginfo *infos,
				    unsigned n, uint64_t *need)
{
	uint64_t bytes = 0;
	unsigned got = 0;
	int rc = 0;

	while (got < n) {
		rc = lossy_recv_one(q, &bufs[got], infos ? &infos[got] : NULL, need);
		if (rc < 0)
			break;
		bytes += bufs[got].len;
		got++;
	}
	if (!got)
		return rc;
	ipcq__count3(q, IPCQ_CTR_RECV, got, bytes, 1); /* RECV, RECV_BYTES, RECV_CALLS */
	return (int)got;
}

/* A copying receive on the current lane (ipcq__lanes_try()'s step). */
struct lane_recv {
	struct ipcq_buf *bufs;
	struct ipcq_msginfo *infos;
	unsigned n;
	uint64_t *need;
};

static int recv_lane(struct ipcq *q, void *ctx)
{
	struct lane_recv *c = ctx;
	return q->expire_side ? try_recv_one(q, c->bufs, c->infos, c->n, c->need)
			      : try_recv_n(q, c->bufs, c->infos, c->n, c->need);
}

/* A queue with priorities: the lanes in the order of ipcq__lanes_try();
 * each message's info says its lane. */
IPCQ_NOINLINE static int recv_lanes(struct ipcq *q, struct ipcq_buf *bufs,
				    struct ipcq_msginfo *infos, unsigned n, uint64_t *need)
{
	struct lane_recv c = { bufs, infos, n, need };
	uint32_t lane;
	int rc = ipcq__lanes_try(q, 0, recv_lane, &c, &lane);
	for (int j = 0; infos && j < rc; j++)
		infos[j].flags |= lane << 16;
	return rc;
}

static IPCQ_INLINE int try_recv(struct ipcq *q, struct ipcq_buf *bufs,
				struct ipcq_msginfo *infos, unsigned n, uint64_t *need)
{
	if (IPCQ_UNLIKELY(q->recv_odd)) {
		if (q->lanes > 1)
			return recv_lanes(q, bufs, infos, n, need);
		return q->lossy ? lossy_recv(q, bufs, infos, n, need)
			: q->expire_side ? try_recv_one(q, bufs, infos, n, need)
					 : try_recv_n(q, bufs, infos, n, need);
	}
	return try_recv_n(q, bufs, infos, n, need);
}

/* The adopted message left its slot without a delivery (expired, or
 * quarantined): the slot is released, which may open a parked message's key
 * gate (G1): K4, as after every release. */
IPCQ_COLD static void adopted_gone(struct ipcq *q)
{
	if (q->keyed)
		ipcq__lease_key_moved(q);
}

/*
 * Deliver the slot this handle adopted from a dead consumer (fast mode).
 * The adoption CAS (recovery.c) made it ours; our record covers it.
 */
IPCQ_COLD static int deliver_adopted_here(struct ipcq *q, struct ipcq_buf *b,
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
	if (IPCQ_UNLIKELY(ipcq__slot_expired(q, s))) {
		ipcq__expire_adopted(q, pos);
		adopted_gone(q);
		return -EAGAIN;
	}
	uint8_t past = ipcq__adopted_raise(q, s, q->adopted_seq);
	if (past >= q->max_deliveries) {
		/* it killed max_deliveries consumers: quarantine it.  With the
		 * side ring full it would block the ring for good, so it is
		 * delivered again instead, its count telling the story (and
		 * the side-full counter too). */
		if (ipcq__quarantine_slot(q, pos, IPCQ_REASON_CONSUMER_CRASHED) == 0) {
			adopted_gone(q);
			return -EAGAIN;
		}
	}
	deliver(q, s, b, m, group_lost(q, q->adopted_seq), &bad);
	IPCQ_CRASHPOINT("recv.adopted_copied");
	ipcq__consume_adopted(q);
	if (q->keyed)
		ipcq__lease_key_moved(q); /* a slot released */
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

/* The adopted message, on its lane (priorities), lane 0's view after. */
IPCQ_COLD static int deliver_adopted(struct ipcq *q, struct ipcq_buf *b,
				     struct ipcq_msginfo *m, uint64_t *need)
{
	uint32_t lane = q->adopted_lane;
	if (q->lanes == 1)
		return deliver_adopted_here(q, b, m, need);
	ipcq__lane_use(q, lane);
	int rc = deliver_adopted_here(q, b, m, need);
	ipcq__lane_use(q, 0);
	if (rc > 0 && m)
		m->flags |= lane << 16;
	return rc;
}

/* A fast-mode receive with an adopted message: that one first; if it left
 * without a delivery (expired, quarantined: -EAGAIN), the ring's next, as
 * if it had not been there. */
IPCQ_COLD static int recv_adopted(struct ipcq *q, struct ipcq_buf *bufs,
						struct ipcq_msginfo *infos, unsigned n,
						uint64_t *need)
{
	int rc = deliver_adopted(q, &bufs[0], infos, need);
	if (rc != -EAGAIN)
		return rc;
	return try_recv(q, bufs, infos, n, need);
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
		return recv_adopted(q, bufs, infos, n, need);
	return try_recv(q, bufs, infos, n, need);
}

/*
 * Waiting for data, in rounds, shared by the copying and zero-copy
 * receives: data_begin() counts the empty event (-EAGAIN for IPCQ_NOWAIT,
 * or 1 after a recovery pass: try once more), each data_round() waits once
 * and runs recovery when it is due.
 */
static void data_recover(struct ipcq *q);

static int data_begin(struct ipcq *q, struct ipcq__waiter *w, int64_t timeout_ns)
{
	ipcq__count(q, IPCQ_CTR_EMPTY, 1);
	if (timeout_ns == IPCQ_NOWAIT) {
		/* A consumer that only polls must still, now and then, take
		 * over what dead consumers claimed: nobody else delivers it.
		 * Every 16th empty poll asks whether a grace period passed
		 * since the handle's last look (a clock read); after a look
		 * the caller tries once more (1). */
		if ((++q->empty_polls & 15u) == 0 && ipcq__recovery_due_now(q, 1)) {
			data_recover(q);
			return 1;
		}
		return -EAGAIN;
	}
	ipcq__wait_begin(w, timeout_ns);
	return 0;
}

/*
 * What a spinning wait may poll alone (ipcq__waiter.watch): the word of
 * the slot at the cursor, while it says the slot is not yet published.
 * Its producer's publish changes it (R1), and so does anything else that
 * could let this consumer on: a skip by recovery (R5), or another
 * consumer's claim, which needs the publish first.  Not for the receives
 * that wait for more than the ring's next slot: ack mode (messages given
 * back), a dead consumer's adopted message, priority lanes, lossy
 * groups, expiry to the side ring and keys (recv_odd).
 */
static void data_watch(struct ipcq *q, struct ipcq__waiter *w)
{
	w->watch = NULL;
	if (q->recv_odd || q->ack || q->adopted >= 0)
		return;
	/* relaxed: hints for the spin; the next claim (A2, C1) decides */
	uint64_t d = ipcq__load_relaxed(q->deqp);
	struct ipcq_shm_slot *s = ipcq__slot(q, d);
	/* relaxed: as above */
	uint64_t seq = ipcq__load_relaxed(&s->seq);
	if (ipcq__seq_dif(seq, d + 1) < 0) {
		w->watch = &s->seq;
		w->watch_seen = seq;
	}
}

static int data_round(struct ipcq *q, struct ipcq__waiter *w)
{
	data_watch(q, w);
	int rc = ipcq__wait_data(q, w);
	if (rc < 0)
		return rc;
	/* stuck past the grace period: take over what the dead left */
	if (ipcq__recovery_due(q, w, 1))
		data_recover(q);
	return 0;
}

/* A receive's recovery pass: what the dead left, adopting one of their
 * claimed messages (if any) for this handle's next delivery. */
static void data_recover(struct ipcq *q)
{
	ipcq__recover_scan(q, NULL, 1, -1);
	/* and a look at the lease pool that trusts no hint: a giver
	 * killed before its count (L7) left an entry uncounted */
	q->look_pool = (uint32_t)q->ack;
}

IPCQ_NOINLINE static int recv_slow(struct ipcq *q, struct ipcq_buf *bufs, struct ipcq_msginfo *infos,
				   unsigned n, uint64_t *need, int64_t timeout_ns)
{
	struct ipcq__waiter w;
	int rc = data_begin(q, &w, timeout_ns);

	if (rc == 1)
		return recv_once(q, bufs, infos, n, need);
	if (rc)
		return rc;
	while ((rc = data_round(q, &w)) == 0 &&
	       (rc = recv_once(q, bufs, infos, n, need)) == -EAGAIN)
		;
	ipcq__wait_end(q, &w);
	return rc;
}

/* Late release: the last receive's run, released before the next receive,
 * a peek, ipcq_release() or the close: K4 on a queue with keys (the next
 * receive may claim nothing, and a gate it opened must be told). */
IPCQ_COLD static void release_held(struct ipcq *q)
{
	ipcq__ring_release_held(q);
	if (q->keyed)
		ipcq__lease_key_moved(q); /* slots released */
}

int ipcq_recv(struct ipcq *q, void *buf, size_t cap, struct ipcq_msginfo *info,
	      int64_t timeout_ns)
{
	struct ipcq_buf b = { buf, cap };
	uint64_t need = 0;
	int rc;

	if (IPCQ_UNLIKELY(!q || !ipcq__timeout_ok(timeout_ns)))
		return -EINVAL;
	if (IPCQ_UNLIKELY(!(q->roles & IPCQ_ROLE_CONSUMER)))
		return -EPERM;
	if (IPCQ_UNLIKELY(q->zc_recv_n))
		return -EALREADY; /* messages are peeked: release them first */
	if (IPCQ_UNLIKELY(!buf && cap))
		return -EINVAL;
	if (IPCQ_UNLIKELY(q->held_n))
		release_held(q); /* late release: the last receive's run */
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

	if (!q || !msgs || !ipcq__timeout_ok(timeout_ns))
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
	if (IPCQ_UNLIKELY(q->held_n))
		release_held(q); /* late release: the last receive's run */
	rc = recv_once(q, msgs, infos, n, &need);
	if (rc == -EAGAIN)
		rc = recv_slow(q, msgs, infos, n, &need, timeout_ns);
	if (rc == -ENOBUFS && infos)
		infos[0].len = need;
	return rc;
}

/* One attempt of ipcq_peek() on the current lane: -EAGAIN when there is
 * nothing to claim. */
static IPCQ_INLINE int peek_here(struct ipcq *q, struct ipcq_zmsg *msgs, unsigned n)
{
	uint64_t pos, need = 0, bytes = 0;
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
			ipcq__consume_adopted(q); /* corrupt: dropped */
			return -EBADMSG;
		}
		if (IPCQ_UNLIKELY(ipcq__slot_expired(q, s))) {
			ipcq__expire_adopted(q, pos);
			adopted_gone(q);
			goto again;
		}
		uint8_t past = ipcq__adopted_raise(q, s, q->adopted_seq);
		if (past >= q->max_deliveries &&
		    ipcq__quarantine_slot(q, pos, IPCQ_REASON_CONSUMER_CRASHED) == 0) {
			adopted_gone(q);
			goto again;
		}
		q->zc_recv_seq = q->adopted_seq;
		q->adopted = -1;
		k = 1;
	} else {
		/* one position per claim where a move names it (try_recv()) */
		/* tail 1: a peek fills every message's info */
		k = ipcq__ring_claim_recv(q, NULL, q->expire_side ? 1 : n, &need, 1, &pos, &nmsg,
					  0);
		if (k < 0)
			return k;
		q->zc_recv_seq = 0;
		struct ipcq_shm_slot *s = ipcq__slot(q, pos);
		/* relaxed: ours since C1; an impossible length is claimed
		 * alone (ipcq__ring_claim_recv()), released and reported */
		if (IPCQ_UNLIKELY(!(ipcq__load_relaxed(&s->seq) & IPCQ_SEQ_SKIP) &&
				  ipcq__load_relaxed(&s->len) > q->max_msg_size)) {
			uint32_t waiters = ipcq__ring_space_waiters(q);
			ipcq__ring_release(q, pos, 0);
			ipcq__ring_recv_done(q, waiters);
			if (q->high_watermark)
				ipcq__pressure_after_recv(q, pos + 1);
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
		ipcq__note_consumed(q, s);
		if (IPCQ_UNLIKELY(ipcq__slot_expired(q, s))) {
			/* passed; released with the others (ipcq_release()) */
			ipcq__expire_slot(q, s);
			continue;
		}
		struct ipcq_buf out = { NULL, SIZE_MAX };
		deliver(q, s, &out, &msgs[b].info, i == 0 ? group_lost(q, q->zc_recv_seq) : 0, &bad);
		msgs[b].data = (const uint8_t *)s + IPCQ_SLOT_HDR;
		msgs[b].len = out.len;
		bytes += out.len;
		b++;
	}
	q->zc_recv_pos = pos;
	q->zc_recv_lane = q->lane;
	q->zc_recv_n = (uint32_t)k;
	q->zc_recv_ack = 0;
	if (b == 0) {
		/* only passed-over slots: give them back and look again */
		ipcq_release(q);
		goto again;
	}
	if (IPCQ_UNLIKELY(bad)) {
		/* a length changed after the claim (only a corrupt segment):
		 * after an error the caller holds nothing, so the claim's
		 * messages are dropped with it */
		ipcq_release(q);
		return -EBADMSG;
	}
	ipcq__count3(q, IPCQ_CTR_RECV, b, bytes, 1); /* RECV, RECV_BYTES, RECV_CALLS */
	if (IPCQ_UNLIKELY(q->zc_recv_seq)) /* an adopted message (its word) */
		ipcq__count(q, IPCQ_CTR_REDELIVERIES, 1);
	return (int)b;
}

/* A peek on the current lane (ipcq__lanes_try()'s step). */
struct lane_peek {
	struct ipcq_zmsg *msgs;
	unsigned n;
};

static int peek_lane(struct ipcq *q, void *ctx)
{
	struct lane_peek *c = ctx;
	return peek_here(q, c->msgs, c->n);
}

/* A queue with priorities, fast mode: the adopted message's lane, then
 * the lanes in the order of ipcq__lanes_try(). */
IPCQ_NOINLINE static int peek_lanes(struct ipcq *q, struct ipcq_zmsg *msgs, unsigned n)
{
	struct lane_peek c = { msgs, n };
	uint32_t lane;
	int rc = ipcq__lanes_try(q, IPCQ__LANES_ADOPTED, peek_lane, &c, &lane);
	for (int j = 0; j < rc; j++)
		msgs[j].info.flags |= lane << 16;
	return rc;
}


/* One attempt of ipcq_peek() (ack mode: lease.c takes the lanes). */
static int peek_once(struct ipcq *q, struct ipcq_zmsg *msgs, unsigned n)
{
	if (IPCQ_UNLIKELY(q->lanes > 1) && !q->ack)
		return peek_lanes(q, msgs, n);
	return peek_here(q, msgs, n);
}

int ipcq_peek(struct ipcq *q, struct ipcq_zmsg *msgs, unsigned n, int64_t timeout_ns)
{
	struct ipcq__waiter w;
	int rc;

	if (!q || !msgs || !n || !ipcq__timeout_ok(timeout_ns))
		return -EINVAL;
	if (!(q->roles & IPCQ_ROLE_CONSUMER))
		return -EPERM;
	if (q->lossy)
		return -ENOTSUP; /* a lossy group's reads own nothing to peek at */
	if (q->zc_recv_n)
		return -EALREADY;
	if (q->held_n)
		release_held(q);
	if (n > q->capacity)
		n = q->capacity;
	rc = peek_once(q, msgs, n);
	if (rc != -EAGAIN)
		return rc;
	rc = data_begin(q, &w, timeout_ns);
	if (rc == 1)
		return peek_once(q, msgs, n);
	if (rc)
		return rc;
	while ((rc = data_round(q, &w)) == 0 && (rc = peek_once(q, msgs, n)) == -EAGAIN)
		;
	ipcq__wait_end(q, &w);
	return rc;
}

static IPCQ_INLINE int release_here(struct ipcq *q)
{
	unsigned k = q->zc_recv_n;
	q->zc_recv_n = 0;
	if (q->zc_recv_ack)
		return 0;
	uint64_t pos = q->zc_recv_pos;
	for (unsigned i = 0; i < k; i++)
		/* R2 (a CAS from the word we hold): pairs with A1 */
		ipcq__ring_release(q, pos + i, i == 0 ? q->zc_recv_seq : 0);
	ipcq__ring_recv_done(q, q->zc_recv_waiters);
	if (IPCQ_UNLIKELY(q->expire_side))
		/* relaxed: released; an expired message's move is over */
		ipcq__store_relaxed(&q->me->move_side, 0u);
	if (q->high_watermark)
		ipcq__pressure_after_recv(q, pos + k);
	if (q->keyed)
		ipcq__lease_key_moved(q); /* slots released */
	return 0;
}

/* A queue with priorities: on the peeked run's lane, and back on the lane
 * the caller was on (peek_here() releases a run of passed slots itself). */
IPCQ_NOINLINE static int release_lanes(struct ipcq *q)
{
	uint32_t was = q->lane;
	ipcq__lane_use(q, q->zc_recv_lane);
	int rc = release_here(q);
	ipcq__lane_use(q, was);
	return rc;
}

int ipcq_release(struct ipcq *q)
{
	if (q && !q->zc_recv_n && q->held_n) {
		release_held(q);
		return 0;
	}
	if (!q || !q->zc_recv_n)
		return -EINVAL;
	if (IPCQ_UNLIKELY(q->lanes > 1))
		return release_lanes(q);
	return release_here(q);
}
