/*
 * wait.c - what a blocking call does while the ring cannot serve it.
 *
 * Owns: the wait strategies, the waiter counters and futex words of the
 * control block (data_waiters/data_futex, space_waiters/space_futex).
 *
 * Two different things can make a caller wait, and they are waited for
 * differently:
 *
 *  1. Nobody has started what we need: a consumer finds enq <= deq (no
 *     producer has even claimed the next position), a producer finds
 *     enq - deq >= capacity (no consumer has claimed the slot it needs).
 *     This may last forever, so the adaptive strategy ends up asleep on a
 *     shared futex word.
 *  2. A peer has claimed what we need and not finished: a producer between
 *     its claim and its publish, a consumer between its claim and its
 *     release.  That takes nanoseconds unless the peer was preempted, and
 *     on an overcommitted machine it often is.  We never spin without bound
 *     here: we yield the CPU, then sleep briefly, so the preempted peer
 *     runs and finishes.  (Spinning here is what makes other rings fall by
 *     orders of magnitude when processes outnumber cores.)
 *
 * No lost wake-up (the sleeper's side of the protocol; the waker's side is
 * in ring.h, labels P2 and C2, and C2 also in recv.c; ring.c's opening
 * comment holds the whole protocol):
 *
 *   sleeper (consumer)                 waker (producer)
 *   W1 data_waiters += 1   (RMW)       P1 CAS enq: claim pos      (RMW)
 *   W2 v = data_futex      (acquire)   P2 w = data_waiters        (seq_cst load)
 *   W3 e = enq, d = deq    (seq_cst)      ... write, publish ...
 *   if e <= d: FUTEX_WAIT(v)           if w: data_futex += 1; FUTEX_WAKE
 *
 * All four RMWs and seq_cst loads sit in one total order.  If W3 does not
 * see P1, then W1 < W3 < P1 < P2, so P2 sees the waiter and wakes it; if
 * the wake's increment lands before W2, FUTEX_WAIT finds v stale and
 * returns at once.  If W3 sees P1, the consumer does not sleep.  The space
 * side is the mirror image (consumers claim with CAS on deq, then read
 * space_waiters, label C2 in ring.h and recv.c).  W4: an ack-mode consumer also
 * re-checks control.redeliverable, against L7/L8 in lease.c.
 *
 * Sole producers and consumers (IPCQ_ATTACH_SOLE) claim with a plain
 * store (P1s, C1s in ring.h), and a store may wait in its CPU's store
 * buffer while the load after it (P2, C2) reads the waiter count: both
 * sides could then miss each other.  Their locked instruction is moved to
 * the side that is slow anyway, the sleeper's (an asymmetric barrier, as
 * liburcu's and folly's): W1b, after W1 and before W3, is
 * membarrier(MEMBARRIER_CMD_GLOBAL_EXPEDITED), which makes every running
 * thread of the processes registered for it (each process that attached a
 * sole handle, ipcq__sole_register()) pass a full barrier before it
 * returns.  If the sole handle's P2 ran after that barrier, it sees W1
 * (a locked RMW, visible before the call); if it ran before, P1s was
 * visible at the barrier, so W3 sees it.  The sleeper calls it only on a
 * queue whose control.sole is set (its seq_cst load after W1 sees a sole
 * attach whose xchg came first; an attach after it is ordered before that
 * handle's first claim by the xchg, whose P2 then sees W1).  Where the
 * call fails, the sleeper sleeps a millisecond at a time; where the sole
 * handle's registration failed, it claims by CAS instead (attach.c).
 */
#include <errno.h>
#include <limits.h>
#include <sched.h>
#include <stdlib.h>
#include <time.h>

#include <linux/membarrier.h>
#include <pthread.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <urcu/futex.h>

#include "ipcq_internal.h"

/* After this many yields for a peer that is mid-operation, sleep briefly:
 * sched_yield() alone does not guarantee that a preempted peer on another
 * run queue gets the CPU. */
#define MIDOP_YIELDS 64
#define MIDOP_SLEEP_NS 50000
#define MIDOP_NAP_MAX_NS 1000000
/* A sleeper that could not fence the sole handles (W1b) sleeps at most
 * this long at a time. */
#define SOLE_POLL_NS 1000000

/* (the commands are an enum of <linux/membarrier.h>, the call has no
 * libc wrapper) */
#ifdef __NR_membarrier
static long membarrier_call(int cmd)
{
#if defined(IPCQ_DEBUG)
	/* debug builds: a kernel that refuses it, for the tests of what
	 * sole handles and sleepers do then (IPCQ_DEBUG_NO_MEMBARRIER=1) */
	if (getenv("IPCQ_DEBUG_NO_MEMBARRIER")) {
		errno = ENOSYS;
		return -1;
	}
#endif
	return syscall(__NR_membarrier, cmd, 0, 0);
}
#else
static long membarrier_call(int cmd)
{
	(void)cmd;
	errno = ENOSYS;
	return -1;
}
#endif

/* The registration belongs to the process (its address space): a child
 * made by fork() registers again at its own sole attach. */
static pthread_mutex_t sole_lock = PTHREAD_MUTEX_INITIALIZER;
static pid_t sole_pid;
static int sole_rc;

int ipcq__sole_register(void)
{
	pid_t me = getpid();
	pthread_mutex_lock(&sole_lock);
	if (sole_pid != me) {
		sole_rc = membarrier_call(MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED) == 0
				  ? 0 : (errno ? -errno : -ENOSYS);
		sole_pid = me;
	}
	int rc = sole_rc;
	pthread_mutex_unlock(&sole_lock);
	return rc;
}

/* W1b: 0 when every registered process passed a full barrier. */
static int sole_barrier(void)
{
	return membarrier_call(MEMBARRIER_CMD_GLOBAL_EXPEDITED) == 0 ? 0 : -1;
}

/* A spinning wait reads the clock once in this many rounds. */
#define CLOCK_ROUNDS IPCQ__CLOCK_ROUNDS

/*
 * The clock in a wait.  A consumer that answers each message (a round
 * trip) starts waiting moments before the next message arrives, so the
 * start of a wait is on the latency path as much as its end: what runs
 * before the first poll delays the notice of a message that arrives
 * meanwhile.  CLOCK_MONOTONIC costs 25 ns on a virtual machine (kvm-clock,
 * and the TSC behind the vDSO's ordering), the coarse clock 5-7.  So a
 * wait polls first, reads the coarse clock before its first pause
 * (coarse_start()), and the precise one at its first look at the deadline
 * (a clock round, a yield, a sleep): check_deadline() takes that as the
 * start, and the deadline counts from it.  A timeout may so end the time
 * of up to CLOCK_ROUNDS polls (a few microseconds) late, as ipcq.h says.
 *
 * The time blocked (IPCQ_CTR_BLOCKED_NS).  A wait that ends within its
 * first CLOCK_ROUNDS rounds without a yield or a sleep (a few microseconds
 * at most) is timed with the coarse clock at both ends: a tick (1-4 ms)
 * falls inside a wait of length d with probability d / tick, so the sum
 * over many such waits is right on average, though one of them counts 0
 * or a tick.  A wait that its first poll ends has no coarse start and
 * counts 0 (it lasted a poll).  Any longer wait has read the precise
 * clock at its first look, and is timed from there (the polls before it,
 * a few microseconds, are not counted).
 */
void ipcq__wait_begin(struct ipcq__waiter *w, int64_t timeout_ns)
{
	w->timeout_ns = timeout_ns;
	w->coarse_ns = 0;  /* at the first pause (coarse_start()) */
	w->started_ns = 0; /* at the first look at the clock */
	w->deadline_ns = 0;
	w->round = 0;
	w->midop = 0;
	w->gave_cpu = 0;
	w->watch = NULL;
}

/* ipcq__wait_end(): inline, in ipcq_internal.h. */

/* The coarse start of a wait, read before its first pause: a wait that
 * its first poll ends (the message came while it began) has none, and
 * counts 0, as it would but for a tick. */
static inline void coarse_start(struct ipcq__waiter *w)
{
	if (IPCQ_UNLIKELY(!w->coarse_ns)) {
		uint64_t t = ipcq__now_ns(CLOCK_MONOTONIC_COARSE);
		w->coarse_ns = t ? t : 1;
	}
}

/* Is this spinning round one that reads the clock? */
static inline int clock_round(uint32_t round)
{
	return (round & (CLOCK_ROUNDS - 1)) == CLOCK_ROUNDS - 1;
}

static int check_deadline(struct ipcq__waiter *w, uint64_t *left);

/*
 * Spinning round @round, the last that may spin before a yield being
 * @last.  With a watched word (ipcq__waiter.watch) the round goes on
 * polling that word alone while it holds what the caller saw, up to the
 * next clock round or @last, each poll counted as a round: a poll then
 * costs a load and a pause, as in a hand-written ring, instead of a pass
 * through the receive path, and a message that arrives is seen that much
 * sooner.  The caller's next attempt decides what the change means.
 */
static int spin(struct ipcq__waiter *w, uint32_t round, uint32_t last)
{
	uint64_t left;

	if (w->watch) {
		uint32_t end = round | (CLOCK_ROUNDS - 1); /* the next clock round */
		if (end > last)
			end = last;
		/* poll, then pause: a pause before the first poll (up to 140
		 * cycles on recent x86) would delay the notice of a message
		 * that arrived while the wait began.
		 * relaxed: a hint only; the caller's claim (A2) decides */
		while (round < end && ipcq__load_relaxed(w->watch) == w->watch_seen) {
			coarse_start(w);
			ipcq__cpu_relax();
			round++;
		}
		w->round = round + 1;
	} else {
		coarse_start(w);
		ipcq__cpu_relax();
	}
	return clock_round(round) ? check_deadline(w, &left) : 0;
}

int ipcq__wait_timed_out(struct ipcq__waiter *w)
{
	uint64_t left;
	return check_deadline(w, &left);
}

/* Before a yield or a nap, which may last a time slice: the wait's
 * precise start, if it has none yet, so that the time counts against
 * the deadline and as time blocked. */
static inline void clock_start(struct ipcq__waiter *w)
{
	if (IPCQ_UNLIKELY(!w->started_ns))
		(void)ipcq__wait_timed_out(w);
}

/* 0 while time is left, -ETIMEDOUT after the deadline.  The first call
 * of a wait reads the precise clock and starts the wait's time there
 * (see "The clock in a wait" above). */
static int check_deadline(struct ipcq__waiter *w, uint64_t *left)
{
	uint64_t now = 0;
	if (IPCQ_UNLIKELY(!w->started_ns)) {
		now = ipcq__now_ns(CLOCK_MONOTONIC);
		w->started_ns = now ? now : 1;
		if (w->timeout_ns > 0)
			w->deadline_ns = w->started_ns + (uint64_t)w->timeout_ns;
	}
	if (!w->deadline_ns) {
		*left = 0;
		return 0;
	}
	if (now == 0)
		now = ipcq__now_ns(CLOCK_MONOTONIC);
	if (now >= w->deadline_ns)
		return -ETIMEDOUT;
	*left = w->deadline_ns - now;
	return 0;
}

static void nap(uint64_t ns)
{
	struct timespec ts = { 0, (long)ns };
	nanosleep(&ts, NULL);
}

/*
 * A peer is in the middle of what we need: let it run.  Usually that is
 * a preempted process that finishes within a time slice; but it can also
 * be an application holding a zero-copy reservation or peek for as long as
 * it likes, so after MIDOP_YIELDS yields the naps grow, up to a
 * millisecond: a long wait costs next to no CPU.
 */
static int wait_midop(struct ipcq__waiter *w)
{
	uint64_t left;
	uint32_t n = ++w->midop;

	clock_start(w);
	w->gave_cpu = 1;

	if (n < MIDOP_YIELDS) {
		sched_yield();
	} else {
		uint32_t step = (n - MIDOP_YIELDS) / MIDOP_YIELDS;
		nap(step >= 5 ? MIDOP_NAP_MAX_NS : (uint64_t)MIDOP_SLEEP_NS << step);
	}
	return check_deadline(w, &left);
}

/*
 * Sleep on @futex unless @ready() says no sleep is needed.
 * Returns 0 to retry, or -ETIMEDOUT / -EINTR.
 */
static int sleep_on(struct ipcq *q, struct ipcq__waiter *w, uint32_t *waiters, int32_t *futex,
		    int is_data)
{
	struct ipcq_shm_control *c = q->ctl;
	struct timespec ts, *tsp = NULL;
	uint64_t left;
	int rc = 0;

	rc = check_deadline(w, &left);
	if (rc)
		return rc;
	/* W1: announce; pairs with the waker's seq_cst load of the counter
	 * after its claim (P2 in ring.h for data, C2 in ring.h and recv.c
	 * for space) */
	ipcq__fetch_add(waiters, 1u);
	/* W1b: a queue with a sole handle: make its claim store visible, or
	 * its next P2/C2 see W1 (see the top of this file).  seq_cst: after
	 * W1, in one order with the xchg of a sole attach */
	int fenced = !ipcq__load_seq_cst(&c->sole) || sole_barrier() == 0;
	/* W2: the futex value before the re-check; pairs with the waker's
	 * increment of the futex word, which follows its publish/release */
	int32_t v = ipcq__load_acquire(futex);
	/* W3: re-check after announcing, in the same total order as the
	 * waker's claim CAS (P1/C1) */
	uint64_t e = ipcq__load_seq_cst(q->enqp);
	/* seq_cst: the consumer's own cursor (its group's), or for space the
	 * slowest one (every durable group's, on a queue with groups) */
	uint64_t d = is_data ? ipcq__load_seq_cst(q->deqp) : ipcq__slowest(q);
	int nothing_started = is_data ? e <= d : (e > d && e - d >= q->capacity);
	/* priority lanes: a consumer waits for data in any lane (W3 for
	 * each lane's cursors) */
	if (is_data && nothing_started && q->lanes > 1)
		nothing_started = ipcq__lanes_empty(q);
	/* W4: ack-mode consumers also take messages given back (nack, dead
	 * consumers): the giver bumps redeliverable (L7), then reads the
	 * waiter count (L8, seq_cst), as a producer does after its claim;
	 * pairs with L7 in the same total order as W1 */
	uint64_t due_in = 0;
	if (is_data && q->ack && ipcq__load_seq_cst(&c->redeliverable) &&
	    ipcq__lease_due(q, &due_in))
		nothing_started = 0;
	/* a message adopted from a dead consumer that waits for a free
	 * lease entry (ack mode): the ack that frees one wakes nobody, so
	 * look again soon (wait_midop()) rather than sleep */
	if (is_data && q->adopted >= 0)
		nothing_started = 0;
	if (!nothing_started) {
		/* RMW: withdraw W1; a waker that still counts us wakes in vain */
		ipcq__fetch_add(waiters, (uint32_t)-1);
		return wait_midop(w);
	}
	/* Sleep at most one grace period: a participant that died holding
	 * what we wait for wakes nobody, and recovery runs from our loop. */
	if (!w->deadline_ns || left > q->grace_ns)
		left = q->grace_ns;
	/* and no later than a delayed message we know of falls due */
	if (due_in && left > due_in)
		left = due_in;
	/* W1b failed: a sole handle's wake may be lost; look again soon */
	if (!fenced && left > SOLE_POLL_NS)
		left = SOLE_POLL_NS;
	ts.tv_sec = (time_t)(left / 1000000000ull);
	ts.tv_nsec = (long)(left % 1000000000ull);
	tsp = &ts;
	ipcq__count_shared(q, IPCQ_CTR_SLEEPS, 1);
	if (futex_async(futex, FUTEX_WAIT, v, tsp, NULL, 0) < 0) {
		if (errno == EINTR)
			rc = -EINTR;
		/* EAGAIN: the word moved, a wake came; ETIMEDOUT: the
		 * deadline check below decides */
	}
	/* RMW: withdraw W1 (as above) */
	ipcq__fetch_add(waiters, (uint32_t)-1);
	if (!rc)
		rc = check_deadline(w, &left);
	return rc;
}

static int wait_common(struct ipcq *q, struct ipcq__waiter *w, int is_data)
{
	uint32_t round = w->round++;
	uint64_t left;

	switch (q->wait_strategy) {
	case IPCQ_WAIT_BUSY_POLL:
		/* yield now and then: a preempted peer must be able to run.
		 * The clock is read after a yield and every 64 rounds, not at
		 * each: a round is the poll's period, and a message that
		 * arrives during a clock read (25 ns) waits for it. */
		if (q->spin_count == 0 || round % q->spin_count == q->spin_count - 1) {
			clock_start(w);
			sched_yield();
			w->gave_cpu = 1;
			return check_deadline(w, &left);
		}
		/* up to the round before the next yield */
		return spin(w, round, round - round % q->spin_count + q->spin_count - 2);
	case IPCQ_WAIT_YIELD:
		/* spin first: a peer running on another core finishes within
		 * the spins, where a yield on an overcommitted machine is a
		 * context switch to another waiter that finds nothing either */
		if (round < q->spin_count)
			return spin(w, round, q->spin_count - 1);
		clock_start(w);
		sched_yield();
		w->gave_cpu = 1;
		return check_deadline(w, &left);
	default:
		if (round < q->spin_count)
			return spin(w, round, q->spin_count - 1);
		clock_start(w);
		w->gave_cpu = 1;
		if (round < q->spin_count + q->yield_count) {
			sched_yield();
			return check_deadline(w, &left);
		}
		if (is_data)
			return sleep_on(q, w, &q->ctl->data_waiters, &q->ctl->data_futex, 1);
		return sleep_on(q, w, &q->ctl->space_waiters, &q->ctl->space_futex, 0);
	}
}

int ipcq__wait_data(struct ipcq *q, struct ipcq__waiter *w)
{
	return wait_common(q, w, 1);
}

int ipcq__wait_space(struct ipcq *q, struct ipcq__waiter *w)
{
	return wait_common(q, w, 0);
}

static void wake(struct ipcq *q, int32_t *futex)
{
	/* R3: makes the sleeper's FUTEX_WAIT(v) fail or its W2 see the new
	 * value; pairs with W2 */
	ipcq__fetch_add(futex, 1);
	futex_async(futex, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
	if (q->me)
		ipcq__count_shared(q, IPCQ_CTR_WAKES, 1);
}

void ipcq__wake_data(struct ipcq *q)
{
	wake(q, &q->ctl->data_futex);
}

void ipcq__wake_space(struct ipcq *q)
{
	wake(q, &q->ctl->space_futex);
}
