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
 *     s.seq == pos + capacity   released: free for the producer of the
 *                               next lap
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
 *   P2 load data_waiters (seq_cst)           C2 load space_waiters (seq_cst)
 *   write header and payload                 copy header and payload out
 *   R1 store-release s.seq = pos + 1         R2 store-release s.seq = pos + cap
 *   R4 store-release record = idle           R4 store-release record = idle
 *   wake consumers if P2 saw any             wake producers if C2 saw any
 *
 * A producer claims a position only after A1 has shown its slot free, so a
 * full ring is reported (-EAGAIN) instead of waited into, and a claim never
 * waits for another producer.  Batches look at the next n slots, claim the
 * longest free (or published) run with one CAS, and so take one atomic
 * operation for n messages.  Slots of a run stay free (published) between
 * the look and the CAS: only the claimer of a position changes its slot
 * away from that state, and claiming needs the cursor we are about to CAS.
 *
 * P2/C2 and the waiter side (W1-W3 in wait.c) give "no lost wake-up"
 * without a fence on the hot path: the claim CAS is already a full barrier,
 * and a producer makes a FUTEX_WAKE system call only when P2 saw a sleeper.
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
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ipcq_internal.h"

#if defined(IPCQ_DEBUG)
#include <sched.h>
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

/* Claim up to n slots and write msgs into them.  Returns the count, or
 * -EAGAIN when the ring is full. */
static int try_send(struct ipcq *q, const struct ipcq_buf *msgs, unsigned n)
{
	struct ipcq_shm_control *c = q->ctl;
	struct ipcq_shm_participant *me = q->me;
	uint64_t pos, seq, bytes = 0;
	unsigned k;

	/* relaxed: only a hint; A1 and P1 decide */
	pos = ipcq__load_relaxed(&c->enq);
	for (;;) {
		/* A1: pairs with R2 of the consumer of the previous lap */
		seq = ipcq__load_acquire(&ipcq__slot(q, pos)->seq);
		int64_t dif = (int64_t)(seq - pos);
		if (IPCQ_LIKELY(dif == 0)) {
			for (k = 1; k < n; k++)
				/* A1 for each slot of the run */
				if (ipcq__load_acquire(&ipcq__slot(q, pos + k)->seq) != pos + k)
					break;
			/* relaxed: published to recovery by the full barrier
			 * of the CAS below */
			ipcq__store_relaxed(&me->prod_pos, pos);
			ipcq__store_relaxed(&me->prod_n, (uint32_t)k);
			ipcq__store_relaxed(&me->prod_op, (uint32_t)IPCQ_OP_ENQUEUE);
			/* P1: the claim; full barrier */
			if (ipcq__cas(&c->enq, pos, pos + k))
				break;
			/* relaxed: retry with a fresher hint */
			pos = ipcq__load_relaxed(&c->enq);
		} else if (dif < 0) {
			return -EAGAIN; /* the slot still holds the previous lap */
		} else {
			/* relaxed: another producer got pos; catch up */
			pos = ipcq__load_relaxed(&c->enq);
		}
	}
	/* P2: pairs with W1 of a sleeping consumer (see wait.c) */
	uint32_t waiters = ipcq__load_seq_cst(&c->data_waiters);
	uint64_t now = coarse_now();
	IPCQ_DEBUG_YIELD();
	for (unsigned i = 0; i < k; i++) {
		struct ipcq_shm_slot *s = ipcq__slot(q, pos + i);
		uint32_t len = (uint32_t)msgs[i].len;
		/* relaxed: consumers read these only after A2, or
		 * speculatively before a claim that will then fail */
		ipcq__store_relaxed(&s->len, len);
		ipcq__store_relaxed(&s->pseq, q->next_pseq++);
		ipcq__store_relaxed(&s->enqueue_ns, now);
		ipcq__store_relaxed(&s->producer, (uint16_t)q->index);
		ipcq__store_relaxed(&s->deliveries, (uint8_t)0);
		ipcq__store_relaxed(&s->flags, (uint8_t)0);
		if (len)
			memcpy((uint8_t *)s + IPCQ_SLOT_HDR, msgs[i].data, len);
		bytes += len;
		/* R1: publishes header and payload; pairs with A2 */
		ipcq__store_release(&s->seq, pos + i + 1);
	}
	/* R4: the record goes idle only after the publish is visible */
	ipcq__store_release(&me->prod_op, (uint32_t)IPCQ_OP_IDLE);
	ipcq__count(q, IPCQ_CTR_SENT, k);
	ipcq__count(q, IPCQ_CTR_SENT_BYTES, bytes);
	ipcq__count(q, IPCQ_CTR_SEND_CALLS, 1);
	if (IPCQ_UNLIKELY(waiters))
		ipcq__wake_data(q);
	return (int)k;
}

/*
 * Claim up to n published messages that fit their buffers and copy them
 * out.  Returns the count, -EAGAIN when empty, -ENOBUFS when the first
 * message does not fit (*need says how much room it needs), -EBADMSG when
 * a slot held an impossible length (corrupt segment; the slot is released).
 */
static int try_recv(struct ipcq *q, struct ipcq_buf *bufs, struct ipcq_msginfo *infos,
		    unsigned n, uint64_t *need)
{
	struct ipcq_shm_control *c = q->ctl;
	struct ipcq_shm_participant *me = q->me;
	uint64_t pos, seq, bytes = 0;
	unsigned k;
	int bad = 0;

	/* relaxed: only a hint; A2 and C1 decide */
	pos = ipcq__load_relaxed(&c->deq);
	for (;;) {
		struct ipcq_shm_slot *s = ipcq__slot(q, pos);
		/* A2: pairs with R1 of the producer of pos */
		seq = ipcq__load_acquire(&s->seq);
		int64_t dif = (int64_t)(seq - (pos + 1));
		if (IPCQ_LIKELY(dif == 0)) {
			/* A5: the length before the re-check of seq below */
			uint32_t len = ipcq__load_acquire(&s->len);
			if (IPCQ_UNLIKELY(len > bufs[0].len)) {
				/* relaxed: A5 orders it after the length load;
				 * unchanged seq means len was pos's length */
				if (ipcq__load_relaxed(&s->seq) == pos + 1) {
					*need = len;
					return -ENOBUFS;
				}
				pos = ipcq__load_relaxed(&c->deq);
				continue;
			}
			for (k = 1; k < n; k++) {
				struct ipcq_shm_slot *t = ipcq__slot(q, pos + k);
				/* A2 for each slot of the run */
				if (ipcq__load_acquire(&t->seq) != pos + k + 1 ||
				    ipcq__load_relaxed(&t->len) > bufs[k].len)
					break;
			}
			/* relaxed: published by the CAS's full barrier */
			ipcq__store_relaxed(&me->cons_pos, pos);
			ipcq__store_relaxed(&me->cons_n, (uint32_t)k);
			ipcq__store_relaxed(&me->cons_op, (uint32_t)IPCQ_OP_DEQUEUE);
			/* C1: the claim; full barrier */
			if (ipcq__cas(&c->deq, pos, pos + k))
				break;
			pos = ipcq__load_relaxed(&c->deq);
		} else if (dif < 0) {
			return -EAGAIN;
		} else {
			pos = ipcq__load_relaxed(&c->deq);
		}
	}
	/* C2: pairs with W1 of a sleeping producer (see wait.c) */
	uint32_t waiters = ipcq__load_seq_cst(&c->space_waiters);
	IPCQ_DEBUG_YIELD();
	for (unsigned i = 0; i < k; i++) {
		struct ipcq_shm_slot *s = ipcq__slot(q, pos + i);
		/* relaxed: the slot is ours since C1; A2 made it visible */
		uint32_t len = ipcq__load_relaxed(&s->len);
		if (IPCQ_UNLIKELY(len > q->max_msg_size || len > bufs[i].len)) {
			bad = 1; /* changed under us: only a corrupt segment */
			len = 0;
		}
		if (len)
			memcpy(bufs[i].data, (const uint8_t *)s + IPCQ_SLOT_HDR, len);
		bufs[i].len = len;
		bytes += len;
		if (infos) {
			struct ipcq_msginfo *m = &infos[i];
			m->len = len;
			m->seq = ipcq__load_relaxed(&s->pseq);
			m->enqueue_ns = ipcq__load_relaxed(&s->enqueue_ns);
			m->producer = ipcq__load_relaxed(&s->producer);
			m->deliveries = (uint32_t)ipcq__load_relaxed(&s->deliveries) + 1;
			m->flags = m->deliveries > 1 ? IPCQ_MSG_REDELIVERED : 0;
			m->reserved = 0;
		}
		/* R2: frees the slot for the next lap; pairs with A1 */
		ipcq__store_release(&s->seq, pos + i + q->capacity);
	}
	/* R4: idle only after the releases are visible */
	ipcq__store_release(&me->cons_op, (uint32_t)IPCQ_OP_IDLE);
	ipcq__count(q, IPCQ_CTR_RECV, k);
	ipcq__count(q, IPCQ_CTR_RECV_BYTES, bytes);
	ipcq__count(q, IPCQ_CTR_RECV_CALLS, 1);
	if (IPCQ_UNLIKELY(waiters))
		ipcq__wake_space(q);
	return bad ? -EBADMSG : (int)k;
}

IPCQ_COLD static int send_slow(struct ipcq *q, const struct ipcq_buf *msgs, unsigned n,
			       int64_t timeout_ns)
{
	struct ipcq__waiter w;
	int rc;

	ipcq__count(q, IPCQ_CTR_FULL, 1);
	if (timeout_ns == IPCQ_NOWAIT)
		return -EAGAIN;
	ipcq__wait_begin(&w, timeout_ns);
	for (;;) {
		rc = ipcq__wait_space(q, &w);
		if (rc < 0)
			break;
		rc = try_send(q, msgs, n);
		if (rc != -EAGAIN)
			break;
	}
	ipcq__wait_end(q, &w);
	return rc;
}

IPCQ_COLD static int recv_slow(struct ipcq *q, struct ipcq_buf *bufs, struct ipcq_msginfo *infos,
			       unsigned n, uint64_t *need, int64_t timeout_ns)
{
	struct ipcq__waiter w;
	int rc;

	ipcq__count(q, IPCQ_CTR_EMPTY, 1);
	if (timeout_ns == IPCQ_NOWAIT)
		return -EAGAIN;
	ipcq__wait_begin(&w, timeout_ns);
	for (;;) {
		rc = ipcq__wait_data(q, &w);
		if (rc < 0)
			break;
		rc = try_recv(q, bufs, infos, n, need);
		if (rc != -EAGAIN)
			break;
	}
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
	if (IPCQ_UNLIKELY(len > q->max_msg_size))
		return -EMSGSIZE;
	if (IPCQ_UNLIKELY(!data && len))
		return -EINVAL;
	rc = try_send(q, &b, 1);
	if (IPCQ_UNLIKELY(rc == -EAGAIN))
		rc = send_slow(q, &b, 1, timeout_ns);
	return rc < 0 ? rc : 0;
}

int ipcq_send_batch(struct ipcq *q, const struct ipcq_buf *msgs, unsigned n, int64_t timeout_ns)
{
	int rc;

	if (!q || !msgs || !check_timeout(timeout_ns))
		return -EINVAL;
	if (!(q->roles & IPCQ_ROLE_PRODUCER))
		return -EPERM;
	if (n == 0 || n > q->capacity)
		return -EINVAL;
	for (unsigned i = 0; i < n; i++) {
		if (msgs[i].len > q->max_msg_size)
			return -EMSGSIZE;
		if (!msgs[i].data && msgs[i].len)
			return -EINVAL;
	}
	rc = try_send(q, msgs, n);
	if (rc == -EAGAIN)
		rc = send_slow(q, msgs, n, timeout_ns);
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
	if (IPCQ_UNLIKELY(!buf && cap))
		return -EINVAL;
	rc = try_recv(q, &b, info, 1, &need);
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
	if (n == 0 || n > q->capacity)
		return -EINVAL;
	for (unsigned i = 0; i < n; i++)
		if (!msgs[i].data && msgs[i].len)
			return -EINVAL;
	rc = try_recv(q, msgs, infos, n, &need);
	if (rc == -EAGAIN)
		rc = recv_slow(q, msgs, infos, n, &need, timeout_ns);
	if (rc == -ENOBUFS && infos)
		infos[0].len = need;
	return rc;
}
