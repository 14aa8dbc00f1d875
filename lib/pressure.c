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
 */
#include <errno.h>
#include <limits.h>
#include <time.h>

#include <urcu/futex.h>

#include "ipcq_internal.h"

/* Turn the pressure off (if on), count it, and wake the producers that
 * wait for relief. */
void ipcq__pressure_clear(struct ipcq *q)
{
	struct ipcq_shm_control *c = q->ctl;

	/* B4: the clear; pairs with B3, and is the release side of the
	 * acquire loads in ipcq_pressure() and ipcq_wait_pressure() */
	if (!ipcq__cas(&c->pressure, 1u, 0u))
		return;
	ipcq__count(q, IPCQ_CTR_PRESSURE_OFF, 1);
	/* B5: pairs with B1: after our CAS (B4) in the total order */
	if (ipcq__load_seq_cst(&c->pressure_waiters)) {
		/* B6: pairs with B2 */
		ipcq__fetch_add(&c->pressure_futex, 1);
		futex_async(&c->pressure_futex, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
	}
}

int ipcq__pressure_after_send(struct ipcq *q, uint64_t end)
{
	struct ipcq_shm_control *c = q->ctl;
	/* relaxed: a flag for the caller; transitions are CASes */
	uint32_t p = ipcq__load_relaxed(&c->pressure);

	if (!p && end - q->cached_deq >= q->high_watermark) {
		/* a fresher lower bound of the slowest consumer (a group's,
		 * on a queue with groups) is all we need */
		q->cached_deq = ipcq__slowest(q);
		if (end - q->cached_deq >= q->high_watermark) {
			/* B7: one producer wins the transition and counts it;
			 * a full barrier before B8 */
			if (ipcq__cas(&c->pressure, 0u, 1u)) {
				ipcq__count(q, IPCQ_CTR_PRESSURE_ON, 1);
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
		if (timeout_ns == IPCQ_NOWAIT)
			return -EAGAIN;
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
