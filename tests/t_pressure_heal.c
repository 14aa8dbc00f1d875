/* Backpressure heals: a consumer killed between its claim and its look at the pressure (recv.claimed, recv.copied, recv.released), or the removal of the slowest durable group, never leaves the pressure raised under the low watermark; ipcq_wait_pressure() returns 0, awake or asleep; a read-only handle's wait (it cannot announce itself) times out under pressure and returns once it is cleared. */
#define T_INTERNALS 1
#include "testutil.h"

#define CAP 16u
#define HIGH 8u /* the victim takes all HIGH messages in one claim */
#define LOW 4u
#define MAXLEN 64u
#define GCAP 8u
#define GHIGH 4u
#define GLOW 2u

static int failed;
static const char *label;
static const char *qn;     /* the queue of the scenario, for the children */
static const char *point;  /* the victim's crash point */

/* Generous: on a correct library every wait below ends on its condition
 * at once (or within one grace period); only a pressure that never clears
 * runs into it. */
static unsigned limit_s(void)
{
	return t_limit(10);
}

/* Producer 0's messages 1..n into an empty queue; from the @high-th on,
 * each send reports the pressure. */
static void send_up(struct ipcq *p, uint64_t n, uint64_t high)
{
	uint8_t buf[MAXLEN];
	for (uint64_t s = 1; s <= n; s++) {
		size_t len = t_fill(buf, t_msg_len(0, s, 16, MAXLEN), 0, s);
		CHECK_RC(ipcq_send(p, buf, len, IPCQ_NOWAIT), s >= high ? IPCQ_SEND_PRESSURE : 0);
	}
	CHECK_RC(ipcq_pressure(p), 1);
}

/* A consumer that claims every message in one batch and is killed at its
 * crash point, before its look at the pressure (B9). */
static int victim(void *arg)
{
	(void)arg;
	t_crash_at(point, 1);
	struct ipcq *q = t_open_attach(qn, IPCQ_ROLE_CONSUMER, NULL);
	struct ipcq_buf b[CAP];
	uint8_t mem[CAP][MAXLEN];
	for (unsigned i = 0; i < CAP; i++)
		b[i] = (struct ipcq_buf){ mem[i], MAXLEN };
	int rc = ipcq_recv_batch(q, b, NULL, CAP, IPCQ_NOWAIT);
	fprintf(stderr, "victim: ipcq_recv_batch returned %d, never reached %s\n", rc, point);
	return 1;
}

/* A producer-side waiter on a handle that is not attached ("any handle"):
 * sleeps in ipcq_wait_pressure() until the pressure is off. */
static int waiter(void *arg)
{
	(void)arg;
	struct ipcq *q = NULL;
	CHECK_OK(ipcq_open(qn, &q));
	int rc = ipcq_wait_pressure(q, IPCQ_FOREVER);
	if (rc != 0) {
		fprintf(stderr, "waiter: ipcq_wait_pressure returned %d (%s)\n", rc,
			ipcq_strerror(rc));
		return 1;
	}
	CHECK_RC(ipcq_close(q), 0);
	return 0;
}

/* Start a waiter and wait until it sleeps in ipcq_wait_pressure() (B1). */
static pid_t start_waiter(const struct ipcq_shm_control *ctlw)
{
	pid_t w = t_spawn(waiter, NULL);
	T_AWAIT_KIDS(__atomic_load_n(&ctlw->pressure_waiters, __ATOMIC_SEQ_CST) == 1, limit_s());
	return w;
}

/* The waiter must come back with 0; a soft failure (and the waiter
 * killed) when it still sleeps after the limit. */
static void finish_waiter(pid_t w, const struct ipcq_shm_control *ctlw)
{
	uint64_t dl = t_now_ns() + (uint64_t)limit_s() * 1000000000ull;
	unsigned round = 0;
	for (;;) {
		int st;
		pid_t r = waitpid(w, &st, WNOHANG);
		if (r < 0 && errno != EINTR)
			T_FAIL("waitpid %d: %s", (int)w, strerror(errno));
		if (r == w) {
			t_kids_forget_(w);
			if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
				SOFT_FAIL("the waiter %s", t_status_str(st));
			return;
		}
		if (t_now_ns() > dl) {
			kill(w, SIGKILL);
			t_reap_killed(w, SIGKILL);
			SOFT_FAIL("ipcq_wait_pressure() still asleep after %u s, pressure %d",
				  limit_s(), (int)__atomic_load_n(&ctlw->pressure, __ATOMIC_SEQ_CST));
			return;
		}
		t_poll_pause(&round);
	}
}

/*
 * A consumer killed at @pt after claiming all HIGH messages: the depth is
 * 0, the pressure still 1, and the live consumer's receives claim nothing,
 * so no B9 runs again.  @asleep: a producer already sleeps in
 * ipcq_wait_pressure() when the victim dies (it must come back within a
 * grace period); else the test's own ipcq_wait_pressure() must return 0.
 * The live consumer is attached before the death and receives without
 * waiting, so no recovery pass runs before the checks: only the
 * re-evaluation in ipcq_wait_pressure() can clear the pressure.
 */
static void killed_consumer(const char *pt, int asleep)
{
	char lab[96];
	int failed_before = failed;
	snprintf(lab, sizeof(lab), "consumer killed at %s, waiter %s", pt,
		 asleep ? "asleep before" : "arriving after");
	label = lab;
	failed = 0;
	point = pt;
	qn = t_qname("heal");
	struct ipcq_config cfg = t_config(CAP, MAXLEN);
	cfg.high_watermark = HIGH;
	cfg.low_watermark = LOW;
	cfg.grace_us = 20000; /* the sleeping waiter's re-evaluation period */
	struct ipcq *ctl = t_create(qn, &cfg);
	struct ipcq *p = t_open_attach(qn, IPCQ_ROLE_PRODUCER, NULL);
	struct ipcq *c = t_open_attach(qn, IPCQ_ROLE_CONSUMER, NULL);
	struct t_peek pk;
	t_peek_open(&pk, qn);
	const struct ipcq_shm_control *ctlw = t_peek_control(&pk);
	uint8_t buf[MAXLEN];

	send_up(p, HIGH, HIGH);
	/* at the high watermark a re-evaluation leaves it on */
	CHECK_RC(ipcq_wait_pressure(p, IPCQ_NOWAIT), -EAGAIN);
	CHECK_RC(ipcq_pressure(p), 1);

	pid_t w = asleep ? start_waiter(ctlw) : 0;
	t_wait_crashed(t_spawn(victim, NULL), limit_s(), "victim");
	CHECK_RC(ipcq_recv(c, buf, sizeof(buf), NULL, IPCQ_NOWAIT), -EAGAIN);
	CHECK(t_info(ctl).depth == 0);
	if (asleep) {
		finish_waiter(w, ctlw);
	} else {
		/* the stuck state: nobody has looked since the death */
		CHECK_RC(ipcq_pressure(p), 1);
		int rc = ipcq_wait_pressure(p, (int64_t)limit_s() * 1000000000ll);
		if (rc != 0)
			SOFT_FAIL("ipcq_wait_pressure() at depth 0 returned %d (%s)", rc,
				  ipcq_strerror(rc));
	}
	if (ipcq_pressure(p) != 0)
		SOFT_FAIL("pressure still on at depth 0");
	if (failed)
		goto out; /* the rest needs the pressure off */
	CHECK(ctlw->pressure_waiters == 0);

	/* what the victim had not finished is delivered again (a receive
	 * that waits takes over one message of the dead per recovery pass),
	 * intact and in order; what it had released is gone with it */
	uint64_t want = strcmp(pt, "recv.released") == 0 ? 0 : HIGH, last[1] = { 0 };
	for (uint64_t i = 0; i < want; i++) {
		uint32_t pr;
		uint64_t seq;
		int rc = ipcq_recv(c, buf, sizeof(buf), NULL, (int64_t)limit_s() * 1000000000ll);
		t_check_msg(buf, rc, 1, HIGH, last, lab, &pr, &seq);
	}
	CHECK_RC(ipcq_recv(c, buf, sizeof(buf), NULL, IPCQ_NOWAIT), -EAGAIN);
	/* and the watermarks work on: up, then down by the live consumer */
	send_up(p, HIGH, HIGH);
	for (unsigned i = 0; i < HIGH; i++)
		CHECK_OK(ipcq_recv(c, buf, sizeof(buf), NULL, IPCQ_NOWAIT));
	CHECK_RC(ipcq_pressure(p), 0);
	CHECK_RC(ipcq_wait_pressure(p, IPCQ_NOWAIT), 0);
out:
	t_peek_close(&pk);
	CHECK_RC(ipcq_close(c), 0);
	CHECK_RC(ipcq_close(p), 0);
	CHECK_RC(ipcq_close(ctl), 0);
	printf("%s: %s\n", lab, failed ? "FAILED" : "pressure cleared at depth 0");
	failed |= failed_before;
}

/*
 * The slowest durable group holds the pressure; the fast one has read
 * everything.  Removing the slow group brings the depth that counts to 0:
 * the removal clears the pressure and wakes a producer asleep in
 * ipcq_wait_pressure().  The grace period is longer than the limit, so
 * only that wake-up ends its sleep in time.
 */
static void group_removed(void)
{
	int failed_before = failed;
	label = "slowest durable group removed";
	failed = 0;
	qn = t_qname("healg");
	struct ipcq_config cfg = t_config(GCAP, MAXLEN);
	cfg.high_watermark = GHIGH;
	cfg.low_watermark = GLOW;
	cfg.max_groups = 2;
	cfg.grace_us = 60000000;
	struct ipcq *ctl = t_create(qn, &cfg);
	CHECK_OK(ipcq_group_create(ctl, "fast", 0));
	CHECK_OK(ipcq_group_create(ctl, "slow", 0));
	struct ipcq *f = t_group_consumer(qn, "fast", 0);
	struct ipcq *p = t_open_attach(qn, IPCQ_ROLE_PRODUCER, NULL);
	struct t_peek pk;
	t_peek_open(&pk, qn);
	const struct ipcq_shm_control *ctlw = t_peek_control(&pk);
	uint8_t buf[MAXLEN];
	uint64_t last[1] = { 0 };

	send_up(p, GHIGH + 1, GHIGH);
	for (unsigned i = 0; i < GHIGH + 1; i++) {
		uint32_t pr;
		uint64_t seq;
		int rc = ipcq_recv(f, buf, sizeof(buf), NULL, IPCQ_NOWAIT);
		t_check_msg(buf, rc, 1, GHIGH + 1, last, label, &pr, &seq);
	}
	/* the slow group still holds all of them: on, and re-evaluated on */
	CHECK_RC(ipcq_pressure(p), 1);
	CHECK_RC(ipcq_wait_pressure(p, IPCQ_NOWAIT), -EAGAIN);
	CHECK_RC(ipcq_pressure(p), 1);

	pid_t w = start_waiter(ctlw);
	CHECK_RC(ipcq_group_remove(ctl, "slow"), 0);
	if (ipcq_pressure(p) != 0)
		SOFT_FAIL("pressure still on after the removal, at depth 0");
	finish_waiter(w, ctlw);
	if (!failed)
		CHECK(ctlw->pressure_waiters == 0);
	int rc = ipcq_wait_pressure(p, (int64_t)limit_s() * 1000000000ll);
	if (rc != 0)
		SOFT_FAIL("ipcq_wait_pressure() at depth 0 returned %d (%s)", rc, ipcq_strerror(rc));

	t_peek_close(&pk);
	CHECK_RC(ipcq_close(p), 0);
	CHECK_RC(ipcq_close(f), 0);
	CHECK_RC(ipcq_close(ctl), 0);
	printf("%s: %s\n", label, failed ? "FAILED" : "pressure cleared, sleeping producer woken");
	failed |= failed_before;
}

/* A read-only handle (a monitor) waits for the pressure too: it cannot
 * announce itself on a read-only mapping, so it looks every millisecond;
 * it times out under pressure and returns 0 once a consumer cleared it. */
static void read_only_waiter(void)
{
	qn = t_qname("heal_ro");
	struct ipcq_config cfg = t_config(CAP, MAXLEN);
	cfg.high_watermark = HIGH;
	cfg.low_watermark = LOW;
	struct ipcq *ctl = t_create(qn, &cfg);
	struct ipcq *p = t_open_attach(qn, IPCQ_ROLE_PRODUCER, NULL);
	struct ipcq *c = t_open_attach(qn, IPCQ_ROLE_CONSUMER, NULL);
	struct ipcq *r = NULL;
	CHECK_RC(ipcq_open_readonly(qn, &r), 0);
	uint8_t buf[MAXLEN];
	send_up(p, HIGH, HIGH);
	CHECK_RC(ipcq_wait_pressure(r, IPCQ_NOWAIT), -EAGAIN);
	CHECK_RC(ipcq_wait_pressure(r, 5 * 1000000ll), -ETIMEDOUT);
	for (unsigned i = 0; i < HIGH; i++)
		CHECK_OK(ipcq_recv(c, buf, sizeof(buf), NULL, IPCQ_NOWAIT));
	CHECK_RC(ipcq_wait_pressure(r, IPCQ_FOREVER), 0);
	CHECK_RC(ipcq_close(r), 0);
	CHECK_RC(ipcq_close(c), 0);
	CHECK_RC(ipcq_close(p), 0);
	CHECK_RC(ipcq_close(ctl), 0);
	printf("read-only waiter: times out under pressure, 0 once cleared\n");
}

int main(void)
{
	static const char *const points[] = { "recv.claimed", "recv.copied", "recv.released" };

	t_need_points();
	t_watchdog(t_limit(300), "t_pressure_heal", NULL);
	for (unsigned i = 0; i < T_NELEM(points); i++) {
		killed_consumer(points[i], 0);
		killed_consumer(points[i], 1);
	}
	group_removed();
	read_only_waiter();
	return failed;
}
