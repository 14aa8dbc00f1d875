/*
 * pressure.c - backpressure signalling with two watermarks.
 *
 * Owns: control.pressure, pressure_futex and pressure_waiters.
 *
 * The pressure word is 1 from the moment a producer sees the depth reach
 * the high watermark until a consumer sees it below the low one
 * (hysteresis: it does not flap around one threshold).  It changes only on
 * those transitions, by CAS, so every send can read it for nothing: the
 * line stays in the producers' caches.
 *
 * Neither side reads the other's cursor on every call.  A producer keeps a
 * stale copy of deq: stale deq <= real deq, so the depth it computes is an
 * upper bound, and only when that bound reaches the high watermark does it
 * read the real deq.  A consumer keeps a stale copy of enq, a lower bound,
 * and reads the real one only while pressure is on and the bound is under
 * the low watermark.
 *
 * Waiting for relief (ipcq_wait_pressure) uses the same announce, re-check,
 * sleep protocol as wait.c: B1 waiters += 1; B2 read the futex word; B3
 * re-read pressure (seq_cst); sleep.  The consumer that clears: B4 CAS
 * 1 -> 0 (RMW), then B5 reads waiters (seq_cst) and, if any, B6 bumps the
 * futex word and wakes.  (B for backpressure: P1/P2 are the ring's, in
 * ring.h.)
 *
 * Besides a producer's B8, which undoes its own raise at once, only a
 * consumer's B9 clears in the normal course, and only a consumer that
 * claimed something runs it.  One killed between its claim and B9
 * (recv.claimed, recv.copied, recv.released) has moved the cursor for
 * good: the receives after it may find the queue empty, claim nothing and
 * never look, and the word would stay 1 at depth 0.  The same holds when
 * the slowest durable group is removed: the depth that counts falls, and
 * no claim comes with the fall.  So those who can see such a pressure
 * re-evaluate it (ipcq__pressure_recheck(), B10-B12): ipcq_wait_pressure()
 * each round, that is before each sleep and after each wake (a sleep lasts
 * at most a grace period), ipcq_group_remove() after the removal, and a
 * recovery pass that found a dead participant.  ipcq_pressure() stays one
 * load.  A re-evaluation clears only at a depth under the low watermark,
 * and after its clear looks again as a producer does after B7 (B12 mirrors
 * B8): it never leaves the pressure off at or above the high watermark
 * with no send left to raise it.
 */
#include <errno.h>
#include <limits.h>
#include <time.h>

#include <linux/membarrier.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <urcu/futex.h>

#include "ipcq_internal.h"

/* A transition, counted on this handle's entry (none when it is not
 * attached).  An atomic add: the sending thread (B7, B8), the receiving
 * thread (B9) and a waiter (ipcq_wait_pressure()) of one handle may count
 * at once, and transitions are rare. */
static void count_transition(struct ipcq *q, unsigned ctr)
{
	if (q->me)
		ipcq__count_shared(q, ctr, 1);
}

/* Turn the pressure off (if on), count it, and wake the producers that
 * wait for relief.  1 when this call turned it off. */
static int clear(struct ipcq *q)
{
	struct ipcq_shm_control *c = q->ctl;

	/* B4: the clear; pairs with B3, and is the release side of the
	 * acquire loads in ipcq_pressure() and ipcq_wait_pressure() */
	if (!ipcq__cas(&c->pressure, 1u, 0u))
		return 0;
	count_transition(q, IPCQ_CTR_PRESSURE_OFF);
	/* B5: pairs with B1: after our CAS (B4) in the total order */
	if (ipcq__load_seq_cst(&c->pressure_waiters)) {
		/* B6: pairs with B2 */
		ipcq__fetch_add(&c->pressure_futex, 1);
		futex_async(&c->pressure_futex, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
	}
	return 1;
}

void ipcq__pressure_clear(struct ipcq *q)
{
	(void)clear(q);
}

/* For B12 on a queue with a sole producer, which claims by a plain store
 * (P1s, ring.h): its look at the pressure after the claim may pass that
 * store.  W1b of wait.c: every running thread of the processes that
 * attached a sole handle passes a full barrier before this returns, so
 * either its claim is visible to our looks after it, or its look comes
 * after B4 and sees it.  (A process whose registration failed claims by
 * CAS instead: attach.c.) */
static void sole_fence(void)
{
#ifdef __NR_membarrier
	(void)syscall(__NR_membarrier, MEMBARRIER_CMD_GLOBAL_EXPEDITED, 0, 0);
#endif
}

/*
 * Re-evaluate the pressure against the depth (enq less the slowest
 * consumer's or durable group's cursor): off when it is under the low
 * watermark.  For those who can see a pressure that outlived its cause
 * (see the top of this file); a no-op on a queue without watermarks and on
 * a read-only handle.  Never blocks; loops only while others move the
 * depth across both watermarks between its looks.
 */
void ipcq__pressure_recheck(struct ipcq *q)
{
	struct ipcq_shm_control *c = q->ctl;

	if (!q->high_watermark || q->readonly)
		return;
	/* B10: a full barrier: what the caller changed (a group made free,
	 * a dead consumer's slots released) comes before our looks below in
	 * the total order with B7: either a producer's B8 after its B7 sees
	 * the change, or our B11 sees its B7 */
	ipcq__fence();
	/* B11: pairs with B7 (and with our own raise below); seq_cst: a
	 * claim that comes after it in the total order is followed by its
	 * claimer's own look (B9, or a send's) */
	while (ipcq__load_seq_cst(&c->pressure)) {
		/* the slowest cursor first, then enq (seq_cst both, in the order
		 * of the claims): e - d bounds the depth at both looks from
		 * above, so under low here means under low for real */
		uint64_t d = ipcq__slowest(q);
		uint64_t e = ipcq__load_seq_cst(q->enqp);
		if (d <= e && e - d >= q->low_watermark)
			return;
		if (!clear(q))
			return; /* someone else cleared it: theirs to follow up */
		/* B12: as B8, the other way round: producers may have filled
		 * the queue between our looks and B4, and seen the pressure
		 * still on (their look after the claim, a full barrier: see
		 * ipcq__pressure_after_send()) - then nothing would raise it
		 * again.  seq_cst after B4: either we see their claims here, or
		 * their look sees B4 and their B7 raises it.  enq first, then
		 * the slowest cursor: a lower bound of the depth. */
		/* seq_cst: after B4, in one order with the xchg of a sole
		 * attach (one after it is ordered before that producer's
		 * first claim, whose look then sees B4) */
		if (ipcq__load_seq_cst(&c->sole))
			sole_fence();
		e = ipcq__load_seq_cst(q->enqp);
		d = ipcq__slowest(q);
		if (d >= e || e - d < q->high_watermark)
			return;
		/* as B7: a full barrier; the next round is its B8 (consumers
		 * may have drained meanwhile and seen the pressure off) */
		if (!ipcq__cas(&c->pressure, 0u, 1u))
			return; /* a producer raised it: its B8 follows */
		count_transition(q, IPCQ_CTR_PRESSURE_ON);
	}
}

int ipcq__pressure_after_send(struct ipcq *q, uint64_t end)
{
	struct ipcq_shm_control *c = q->ctl;
	/* relaxed: a flag for the caller; transitions are CASes.  After our
	 * claim (an RMW, a full barrier; a sole producer's store is fenced
	 * by the other side), so a clear before it is seen here: B12 relies
	 * on that */
	uint32_t p = ipcq__load_relaxed(&c->pressure);

	if (!p && end - q->cached_deq >= q->high_watermark) {
		/* a fresher lower bound of the slowest consumer (a group's,
		 * on a queue with groups) is all we need */
		q->cached_deq = ipcq__slowest(q);
		if (end - q->cached_deq >= q->high_watermark) {
			/* B7: one producer wins the transition and counts it;
			 * a full barrier before B8 */
			if (ipcq__cas(&c->pressure, 0u, 1u)) {
				count_transition(q, IPCQ_CTR_PRESSURE_ON);
				/* B8: consumers may have drained the queue
				 * between our deq read and B7, and seen the
				 * pressure still off (B9) - then nobody but us
				 * would ever clear it.  seq_cst after B7: either
				 * we see their claims here, or their B9 sees B7. */
				uint64_t d = ipcq__slowest(q);
				/* relaxed: other producers' claims count too */
				uint64_t e = ipcq__load_relaxed(q->enqp);
				q->cached_deq = d;
				if ((e > end ? e : end) - d < q->low_watermark)
					ipcq__pressure_clear(q);
			}
			p = 1;
		}
	}
	return p ? 1 : 0;
}

void ipcq__pressure_after_recv(struct ipcq *q, uint64_t end)
{
	struct ipcq_shm_control *c = q->ctl;

	/* B9: seq_cst after the claim CAS (C1), against B7/B8 of a producer
	 * setting the pressure; on x86 a plain load, so the common case, no
	 * pressure, still costs this one load.  (A sole consumer of a queue
	 * with watermarks claims by CAS for this: attach.c) */
	if (!ipcq__load_seq_cst(&c->pressure))
		return;
	if (q->gwords)
		/* groups: the depth is the slowest durable group's (seq_cst
		 * loads, in the order of B7/B8 as our own claim is) */
		end = ipcq__slowest(q);
	if (q->cached_enq < end)
		q->cached_enq = end;
	/* the stale depth is a lower bound: at or above low, so is the real */
	if (q->cached_enq - end >= q->low_watermark)
		return;
	/* relaxed: a fresher lower bound of enq */
	q->cached_enq = ipcq__load_relaxed(q->enqp);
	if (q->cached_enq - end >= q->low_watermark)
		return;
	ipcq__pressure_clear(q);
}

int ipcq_pressure(struct ipcq *q)
{
	if (!q)
		return -EINVAL;
	/* acquire: a caller that sees 0 may rely on the consumer's progress;
	 * pairs with B4 */
	return ipcq__load_acquire(&q->ctl->pressure) ? 1 : 0;
}

int ipcq_wait_pressure(struct ipcq *q, int64_t timeout_ns)
{
	struct ipcq_shm_control *c;
	uint64_t deadline = 0, now;

	if (!q || (timeout_ns < 0 && timeout_ns != IPCQ_FOREVER))
		return -EINVAL;
	c = q->ctl;
	if (timeout_ns > 0)
		deadline = ipcq__now_ns(CLOCK_MONOTONIC) + (uint64_t)timeout_ns;
	for (;;) {
		/* acquire: see ipcq_pressure() */
		if (!ipcq__load_acquire(&c->pressure))
			return 0;
		/* each round, so before each sleep and after each wake: the
		 * consumer that should have cleared may have died before its
		 * look (B9), and nothing else would */
		ipcq__pressure_recheck(q);
		/* acquire: as above, after the re-evaluation */
		if (!ipcq__load_acquire(&c->pressure))
			return 0;
		if (timeout_ns == IPCQ_NOWAIT)
			return -EAGAIN;
		if (q->readonly) {
			/* a read-only mapping cannot announce itself (B1): it
			 * looks again every millisecond */
			uint64_t nap = 1000000ull;
			if (deadline) {
				now = ipcq__now_ns(CLOCK_MONOTONIC);
				if (now >= deadline)
					return -ETIMEDOUT;
				if (deadline - now < nap)
					nap = deadline - now;
			}
			struct timespec ts = { 0, (long)nap };
			if (nanosleep(&ts, NULL) != 0 && errno == EINTR)
				return -EINTR;
			continue;
		}
		/* B1: pairs with B5 */
		ipcq__fetch_add(&c->pressure_waiters, 1u);
		/* B2: pairs with B6 */
		int32_t v = ipcq__load_acquire(&c->pressure_futex);
		/* B3: in one total order with B1 and B4 */
		if (!ipcq__load_seq_cst(&c->pressure)) {
			/* RMW: withdraw B1; a waker that still counts us wakes in
			 * vain */
			ipcq__fetch_add(&c->pressure_waiters, (uint32_t)-1);
			return 0;
		}
		/* at most a grace period: a consumer that died between its
		 * CAS and its wake must not leave us asleep */
		uint64_t left = q->grace_ns;
		if (deadline) {
			now = ipcq__now_ns(CLOCK_MONOTONIC);
			if (now >= deadline) {
				/* RMW: withdraw B1 */
				ipcq__fetch_add(&c->pressure_waiters, (uint32_t)-1);
				return -ETIMEDOUT;
			}
			if (deadline - now < left)
				left = deadline - now;
		}
		struct timespec ts = { (time_t)(left / 1000000000ull), (long)(left % 1000000000ull) };
		int rc = futex_async(&c->pressure_futex, FUTEX_WAIT, v, &ts, NULL, 0);
		int err = rc < 0 ? errno : 0;
		/* RMW: withdraw B1 */
		ipcq__fetch_add(&c->pressure_waiters, (uint32_t)-1);
		if (err == EINTR)
			return -EINTR;
	}
}
