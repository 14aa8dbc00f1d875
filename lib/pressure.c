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
 * sleep protocol as wait.c: P1 waiters += 1; P2 read the futex word; P3
 * re-read pressure (seq_cst); sleep.  The consumer that clears: CAS 1 -> 0
 * (RMW), then reads waiters (seq_cst) and wakes if any.
 */
#include <errno.h>
#include <limits.h>
#include <time.h>

#include <urcu/futex.h>

#include "ipcq_internal.h"

int ipcq__pressure_after_send(struct ipcq *q, uint64_t end)
{
	struct ipcq_shm_control *c = q->ctl;
	/* relaxed: a flag for the caller; transitions are CASes */
	uint32_t p = ipcq__load_relaxed(&c->pressure);

	if (!p && end - q->cached_deq >= q->high_watermark) {
		/* relaxed: a fresher lower bound of deq is all we need */
		q->cached_deq = ipcq__load_relaxed(&c->deq);
		if (end - q->cached_deq >= q->high_watermark) {
			if (ipcq__cas(&c->pressure, 0u, 1u))
				ipcq__count(q, IPCQ_CTR_PRESSURE_ON, 1);
			p = 1;
		}
	}
	return p ? 1 : 0;
}

void ipcq__pressure_after_recv(struct ipcq *q, uint64_t end)
{
	struct ipcq_shm_control *c = q->ctl;

	/* relaxed: the common case, no pressure, costs this one load */
	if (!ipcq__load_relaxed(&c->pressure))
		return;
	if (q->cached_enq < end)
		q->cached_enq = end;
	/* the stale depth is a lower bound: at or above low, so is the real */
	if (q->cached_enq - end >= q->low_watermark)
		return;
	/* relaxed: a fresher lower bound of enq */
	q->cached_enq = ipcq__load_relaxed(&c->enq);
	if (q->cached_enq - end >= q->low_watermark)
		return;
	if (!ipcq__cas(&c->pressure, 1u, 0u))
		return;
	ipcq__count(q, IPCQ_CTR_PRESSURE_OFF, 1);
	/* pairs with P1: after our CAS in the total order */
	if (ipcq__load_seq_cst(&c->pressure_waiters)) {
		/* pairs with P2 */
		ipcq__fetch_add(&c->pressure_futex, 1);
		futex_async(&c->pressure_futex, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
	}
}

int ipcq_pressure(struct ipcq *q)
{
	if (!q)
		return -EINVAL;
	/* acquire: a caller that sees 0 may rely on the consumer's progress */
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
		/* P1 */
		ipcq__fetch_add(&c->pressure_waiters, 1u);
		/* P2 */
		int32_t v = ipcq__load_acquire(&c->pressure_futex);
		/* P3 */
		if (!ipcq__load_seq_cst(&c->pressure)) {
			ipcq__fetch_add(&c->pressure_waiters, (uint32_t)-1);
			return 0;
		}
		/* at most a grace period: a consumer that died between its
		 * CAS and its wake must not leave us asleep */
		uint64_t left = q->grace_ns;
		if (deadline) {
			now = ipcq__now_ns(CLOCK_MONOTONIC);
			if (now >= deadline) {
				ipcq__fetch_add(&c->pressure_waiters, (uint32_t)-1);
				return -ETIMEDOUT;
			}
			if (deadline - now < left)
				left = deadline - now;
		}
		struct timespec ts = { (time_t)(left / 1000000000ull), (long)(left % 1000000000ull) };
		int rc = futex_async(&c->pressure_futex, FUTEX_WAIT, v, &ts, NULL, 0);
		int err = rc < 0 ? errno : 0;
		ipcq__fetch_add(&c->pressure_waiters, (uint32_t)-1);
		if (err == EINTR)
			return -EINTR;
	}
}
