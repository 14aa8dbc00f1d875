/* A wait's clock and its looks for recovery, white box: a wait starts with no clock read, its first look at the deadline starts the deadline, a yield starts it too, and a spinning round looks for recovery once its coarse start is a grace period past the last pass (or in a clock round), never in between. */
#include "ipcq.h"
#include "testutil.h"

#include "ipcq_internal.h"

#define MS 1000000ull

/* A pause of @ns, the time the test is about (a deadline passing). */
static void pass_time(uint64_t ns)
{
	struct timespec ts = { (time_t)(ns / 1000000000ull), (long)(ns % 1000000000ull) };
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

static void deadline_from_first_look(void)
{
	struct ipcq__waiter w;
	ipcq__wait_begin(&w, (int64_t)(300 * MS));
	/* nothing read yet: no start, no deadline, no coarse start */
	CHECK(w.started_ns == 0 && w.deadline_ns == 0 && w.coarse_ns == 0);
	uint64_t before = ipcq__now_ns(CLOCK_MONOTONIC);
	CHECK_RC(ipcq__wait_timed_out(&w), 0);
	uint64_t after = ipcq__now_ns(CLOCK_MONOTONIC);
	/* the first look started it: the deadline counts from there */
	CHECK(w.started_ns >= before && w.started_ns <= after);
	CHECK(w.deadline_ns == w.started_ns + 300 * MS);
	uint64_t start = w.started_ns;
	CHECK_RC(ipcq__wait_timed_out(&w), 0);
	CHECK(w.started_ns == start); /* later looks keep it */
	pass_time(301 * MS);
	CHECK_RC(ipcq__wait_timed_out(&w), -ETIMEDOUT);
	/* IPCQ_FOREVER: started, never a deadline */
	ipcq__wait_begin(&w, IPCQ_FOREVER);
	CHECK_RC(ipcq__wait_timed_out(&w), 0);
	CHECK(w.started_ns != 0 && w.deadline_ns == 0);
}

static void recovery_looks(void)
{
	const char *name = t_qname("wait_rules");
	struct ipcq_config cfg = t_config(8, 64);
	cfg.grace_us = 500000; /* 500 ms: far longer than any stall between two checks */
	struct ipcq *c = t_create(name, &cfg);
	struct ipcq *q = t_open_attach(name, IPCQ_ROLE_CONSUMER, NULL);
	struct ipcq__waiter w;
	ipcq__wait_begin(&w, IPCQ_FOREVER);
	CHECK(q->grace_ns == 500 * MS);
	/* a spinning round, not a clock round */
	w.round = 5;
	w.gave_cpu = 0;
	q->last_recovery_ns[1] = 0;
	/* no coarse start (its first poll ended the wait): no look */
	w.coarse_ns = 0;
	CHECK(ipcq__recovery_due(q, &w, 1) == 0);
	CHECK(q->last_recovery_ns[1] == 0);
	/* a coarse start a grace period past the last pass: a pass is due,
	 * and the precise clock stamps it */
	w.coarse_ns = ipcq__now_ns(CLOCK_MONOTONIC_COARSE);
	CHECK(w.coarse_ns >= q->grace_ns);
	CHECK(ipcq__recovery_due(q, &w, 1) == 1);
	uint64_t last = q->last_recovery_ns[1];
	CHECK(last >= w.coarse_ns);
	/* within the grace period of that pass: none, on either look */
	CHECK(ipcq__recovery_due(q, &w, 1) == 0);
	w.coarse_ns = last + q->grace_ns - 1;
	CHECK(ipcq__recovery_due(q, &w, 1) == 0);
	CHECK(q->last_recovery_ns[1] == last);
	/* the other side keeps its own count */
	q->last_recovery_ns[0] = 0;
	CHECK(ipcq__recovery_due(q, &w, 0) == 1);
	/* a clock round asks the precise clock: not due yet */
	w.round = IPCQ__CLOCK_ROUNDS;
	CHECK(ipcq__recovery_due(q, &w, 1) == 0);
	/* once the grace period has passed, a clock round finds it due with
	 * no coarse start at all */
	pass_time(501 * MS);
	w.coarse_ns = 0;
	CHECK(ipcq__recovery_due(q, &w, 1) == 1);
	CHECK(q->last_recovery_ns[1] > last + q->grace_ns);
	/* and so does a spinning round whose coarse start is past it */
	last = q->last_recovery_ns[1];
	w.round = 7;
	w.coarse_ns = last + q->grace_ns;
	pass_time(501 * MS);
	CHECK(ipcq__recovery_due(q, &w, 1) == 1);
	CHECK_OK(ipcq_close(q));
	CHECK_OK(ipcq_close(c));
	ipcq_unlink(name);
}

int main(void)
{
	deadline_from_first_look();
	recovery_looks();
	printf("t_wait_rules ok\n");
	return 0;
}
