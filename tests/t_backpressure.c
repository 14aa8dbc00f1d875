/* Backpressure: watermarks seen by every producer process, hysteresis without flapping, ipcq_wait_pressure wake-ups and timeouts, and the BLOCK, FAIL and DROP_OLDEST full policies under contention with exact counters. */
#define T_INTERNALS 1
#include "testutil.h"

#define NP 3            /* producer processes */
#define MINLEN 16u
#define MAXLEN 64u
#define MS 1000000ll

/*
 * Agents: child processes that each hold one handle and execute commands
 * the parent posts in shared memory, so that the parent decides exactly
 * what happens in which order and waits on conditions, never on time.
 */
enum cmd {
	C_SEND = 1, /* producer: n messages, each with timeout, checked against expect */
	C_WAITP,    /* ipcq_wait_pressure(timeout) */
	C_RECV,     /* consumer: exactly n messages, IPCQ_NOWAIT */
	C_DRAIN,    /* consumer: until empty */
	C_RUN,      /* consumer: IPCQ_FOREVER until a zero-length pill */
	C_EXIT,
};

/* expect values besides an exact return value */
#define X_MONO 1000   /* 0 or PRESSURE, and once PRESSURE, PRESSURE to the end */
#define X_OK_AGAIN 1001 /* 0 or -EAGAIN (fail-fast under contention) */

struct agent {
	/* set before the fork */
	const char *qn;
	unsigned id;
	unsigned roles;
	uint32_t policy;
	int lossy;              /* consumer: producers may drop (sequences may skip) */
	/* parent -> agent */
	uint32_t posted;        /* bumped to post a command */
	uint32_t cmd;
	int64_t n, timeout;
	int32_t expect;
	/* agent -> parent */
	uint32_t finished;      /* = posted once the command is done */
	uint32_t ready;
	int32_t index;          /* participant index */
	int32_t rc;             /* last return value */
	int32_t pressure;       /* ipcq_pressure() when the command ended */
	uint64_t n_ok, n_pressure, n_again; /* of the last command */
	uint64_t elapsed_ns;    /* of the last command */
	uint64_t seq;           /* producer: messages enqueued, all commands */
	uint64_t got[NP];       /* consumer: messages received per producer */
	uint64_t last[NP];      /* consumer: last sequence received per producer */
	uint64_t first[NP];     /* consumer: first sequence received per producer */
	uint64_t cfirst[NP];    /* consumer: first sequence received by the last command */
};

static struct ipcq *agent_handle(struct agent *a)
{
	struct ipcq_attach_opts o = IPCQ_ATTACH_OPTS_INIT;
	o.full_policy = a->policy;
	return t_open_attach(a->qn, a->roles, &o);
}

static void agent_send(struct agent *a, struct ipcq *q)
{
	uint8_t buf[MAXLEN];
	int mono = 0;
	a->n_ok = a->n_pressure = a->n_again = 0;
	for (int64_t i = 0; i < a->n; i++) {
		uint64_t seq = a->seq + 1;
		uint32_t len = t_msg_len(a->id, seq, MINLEN, MAXLEN);
		t_fill(buf, len, a->id, seq);
		int rc = ipcq_send(q, buf, len, a->timeout);
		a->rc = rc;
		if (rc >= 0)
			a->seq = seq;
		a->n_ok += rc == 0;
		a->n_pressure += rc == IPCQ_SEND_PRESSURE;
		a->n_again += rc == -EAGAIN;
		switch (a->expect) {
		case X_MONO:
			if (rc != 0 && rc != IPCQ_SEND_PRESSURE)
				T_FAIL("producer %u: send %" PRIu64 ": %d (%s)", a->id, seq, rc,
				       ipcq_strerror(rc));
			if (mono && rc != IPCQ_SEND_PRESSURE)
				T_FAIL("producer %u: send %" PRIu64 " returned %d after PRESSURE, with"
				       " no consumer running (pressure cleared by nobody)", a->id, seq,
				       rc);
			mono |= rc == IPCQ_SEND_PRESSURE;
			break;
		case X_OK_AGAIN:
			if (rc != 0 && rc != -EAGAIN)
				T_FAIL("producer %u: send %" PRIu64 ": %d (%s), expected 0 or -EAGAIN",
				       a->id, seq, rc, ipcq_strerror(rc));
			break;
		default:
			if (rc != a->expect)
				T_FAIL("producer %u: send %" PRIu64 " (%" PRId64 " of %" PRId64 ")"
				       " returned %d (%s), expected %d", a->id, seq, i + 1, a->n, rc,
				       rc < 0 ? ipcq_strerror(rc) : rc == 1 ? "pressure" : "",
				       a->expect);
			/* accepted under pressure: the flag says the same */
			if (rc == IPCQ_SEND_PRESSURE && ipcq_pressure(q) != 1)
				T_FAIL("producer %u: send returned PRESSURE, ipcq_pressure() %d",
				       a->id, ipcq_pressure(q));
			break;
		}
	}
}

/* Check a received message and count it. */
static void agent_check(struct agent *a, const uint8_t *buf, int len, const struct ipcq_msginfo *mi)
{
	uint32_t p;
	uint64_t seq;
	if (len < 16 || mi->len != (uint64_t)len)
		T_FAIL("consumer: length %d, info %" PRIu64, len, mi->len);
	t_header(buf, &p, &seq);
	if (p >= NP || seq < 1)
		T_FAIL("consumer: message (%u, %" PRIu64 ") was never sent", p, seq);
	if ((uint32_t)len != t_msg_len(p, seq, MINLEN, MAXLEN) || t_verify(buf, (size_t)len, p, seq))
		T_FAIL("consumer: message (%u, %" PRIu64 "): content differs from what was sent", p,
		       seq);
	if (mi->seq != seq || mi->deliveries != 1 || mi->flags != 0 || mi->stream != 0)
		T_FAIL("consumer: message (%u, %" PRIu64 "): info seq %" PRIu64 " deliveries %u"
		       " flags %#x stream %u", p, seq, mi->seq, mi->deliveries, mi->flags, mi->stream);
	if (a->lossy ? seq <= a->last[p] : seq != a->last[p] + 1)
		T_FAIL("consumer: producer %u: sequence %" PRIu64 " after %" PRIu64 " (%s)", p, seq,
		       a->last[p], seq <= a->last[p] ? "duplicate or order broken" : "a gap");
	if (a->got[p] == 0)
		a->first[p] = seq;
	if (a->cfirst[p] == 0)
		a->cfirst[p] = seq;
	a->last[p] = seq;
	a->got[p]++;
}

static void agent_recv(struct agent *a, struct ipcq *q)
{
	uint8_t buf[MAXLEN];
	a->n_ok = 0;
	memset(a->cfirst, 0, sizeof(a->cfirst));
	for (;;) {
		struct ipcq_msginfo mi;
		if (a->cmd == C_RECV && (int64_t)a->n_ok == a->n)
			break;
		memset(&mi, 0, sizeof(mi));
		int len = ipcq_recv(q, buf, sizeof(buf), &mi, a->cmd == C_RUN ? IPCQ_FOREVER : IPCQ_NOWAIT);
		a->rc = len;
		if (len == -EAGAIN && a->cmd == C_DRAIN)
			break;
		if (len < 0)
			T_FAIL("consumer: ipcq_recv after %" PRIu64 " of %" PRId64 ": %d (%s)", a->n_ok,
			       a->n, len, ipcq_strerror(len));
		if (len == 0 && a->cmd == C_RUN)
			break; /* pill */
		agent_check(a, buf, len, &mi);
		a->n_ok++;
	}
}

static int agent_main(void *arg)
{
	struct agent *a = (struct agent *)arg;
	struct ipcq *q = agent_handle(a);
	uint32_t seen = 0;
	a->index = t_info(q).participant_index;
	__atomic_store_n(&a->ready, 1, __ATOMIC_SEQ_CST);
	for (;;) {
		unsigned round = 0;
		while (__atomic_load_n(&a->posted, __ATOMIC_SEQ_CST) == seen)
			t_poll_pause(&round);
		seen = __atomic_load_n(&a->posted, __ATOMIC_SEQ_CST);
		uint64_t t0 = t_now_ns();
		switch (a->cmd) {
		case C_SEND:
			agent_send(a, q);
			break;
		case C_WAITP:
			a->rc = ipcq_wait_pressure(q, a->timeout);
			break;
		case C_RECV:
		case C_DRAIN:
		case C_RUN:
			agent_recv(a, q);
			break;
		case C_EXIT:
			CHECK_RC(ipcq_close(q), 0);
			__atomic_store_n(&a->finished, seen, __ATOMIC_SEQ_CST);
			return 0;
		default:
			T_FAIL("agent: bad command %u", a->cmd);
		}
		a->elapsed_ns = t_now_ns() - t0;
		a->pressure = ipcq_pressure(q);
		__atomic_store_n(&a->finished, seen, __ATOMIC_SEQ_CST);
	}
}

static struct agent *agent_new(const char *qn, unsigned id, unsigned roles, uint32_t policy)
{
	struct agent *a = (struct agent *)t_shared(sizeof(*a));
	a->qn = qn;
	a->id = id;
	a->roles = roles;
	a->policy = policy;
	t_spawn(agent_main, a);
	T_AWAIT_KIDS(__atomic_load_n(&a->ready, __ATOMIC_SEQ_CST), 60);
	return a;
}

static void post(struct agent *a, uint32_t cmd, int64_t n, int64_t timeout, int32_t expect)
{
	CHECK(__atomic_load_n(&a->finished, __ATOMIC_SEQ_CST) ==
	      __atomic_load_n(&a->posted, __ATOMIC_SEQ_CST));
	a->cmd = cmd;
	a->n = n;
	a->timeout = timeout;
	a->expect = expect;
	__atomic_add_fetch(&a->posted, 1, __ATOMIC_SEQ_CST);
}

static int is_done(const struct agent *a)
{
	return __atomic_load_n(&a->finished, __ATOMIC_SEQ_CST) ==
	       __atomic_load_n(&a->posted, __ATOMIC_SEQ_CST);
}

static void finish(struct agent *a)
{
	T_AWAIT_KIDS(is_done(a), t_limit(60));
}

static void run(struct agent *a, uint32_t cmd, int64_t n, int64_t timeout, int32_t expect)
{
	post(a, cmd, n, timeout, expect);
	finish(a);
}

/* Send n messages from producer a, each expected to return @expect. */
static void sends(struct agent *a, int64_t n, int32_t expect)
{
	run(a, C_SEND, n, IPCQ_NOWAIT, expect);
}

static void agents_exit(struct agent **as, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		post(as[i], C_EXIT, 0, 0, 0);
	for (unsigned i = 0; i < n; i++)
		finish(as[i]);
}

static void reap_all(void)
{
	struct t_kids_ *k = t_kids_();
	while (k->n > 0)
		if (t_reap(k->pid[0]) != 0)
			T_FAIL("an agent failed");
}

/* Sum of counter @ctr over the agents. */
static uint64_t ctr_sum(const struct t_peek *pk, struct agent **as, unsigned n, unsigned ctr)
{
	uint64_t s = 0;
	for (unsigned i = 0; i < n; i++)
		s += t_peek_ctr(pk, as[i]->index, ctr);
	return s;
}

static uint64_t depth(struct ipcq *q)
{
	return t_info(q).depth;
}

/* ---- configuration --------------------------------------------------------- */

static void bad_configs(void)
{
	static const struct {
		uint32_t high, low;
	} bad[] = {
		{ 10, 0 }, { 0, 10 }, { 10, 10 }, { 10, 11 }, { 65, 16 }, { 1, 1 }, { UINT32_MAX, 1 },
	};
	struct ipcq *q = NULL;
	for (unsigned i = 0; i < T_NELEM(bad); i++) {
		struct ipcq_config cfg = t_config(64, 64);
		const char *qn = t_qname("bp");
		cfg.high_watermark = bad[i].high;
		cfg.low_watermark = bad[i].low;
		int rc = ipcq_create(qn, &cfg, &q);
		if (rc != -EINVAL)
			T_FAIL("watermarks high %u low %u: ipcq_create returned %d (%s)", bad[i].high,
			       bad[i].low, rc, ipcq_strerror(rc));
		CHECK(!t_shm_exists(qn));
	}
	/* the extremes that are valid */
	struct ipcq_config cfg = t_config(64, 64);
	cfg.high_watermark = 64;
	cfg.low_watermark = 63;
	q = t_create(t_qname("bp"), &cfg);
	struct ipcq_info info = t_info(q);
	CHECK(info.high_watermark == 64 && info.low_watermark == 63 && info.pressure == 0);
	CHECK_RC(ipcq_close(q), 0);
	cfg.high_watermark = 2;
	cfg.low_watermark = 1;
	q = t_create(t_qname("bp"), &cfg);
	CHECK_RC(ipcq_close(q), 0);

	/* drop-oldest is for producers only */
	const char *qn = t_qname("bp");
	cfg = t_config(8, 64);
	struct ipcq *c = t_create(qn, &cfg);
	struct ipcq_attach_opts o = IPCQ_ATTACH_OPTS_INIT;
	o.full_policy = IPCQ_FULL_DROP_OLDEST;
	CHECK_OK(ipcq_open(qn, &q));
	CHECK_RC(ipcq_attach(q, IPCQ_ROLE_CONSUMER, &o), -EINVAL);
	CHECK_RC(ipcq_attach(q, IPCQ_ROLE_PRODUCER | IPCQ_ROLE_CONSUMER, &o), -EINVAL);
	o.full_policy = 3;
	CHECK_RC(ipcq_attach(q, IPCQ_ROLE_PRODUCER, &o), -EINVAL);
	CHECK(t_info(c).participants == 0);
	o.full_policy = IPCQ_FULL_DROP_OLDEST;
	CHECK_RC(ipcq_attach(q, IPCQ_ROLE_PRODUCER, &o), 0);
	CHECK_RC(ipcq_close(q), 0);
	/* FAIL and BLOCK are fine for consumers (they never send) */
	o.full_policy = IPCQ_FULL_FAIL;
	CHECK_OK(ipcq_open(qn, &q));
	CHECK_RC(ipcq_attach(q, IPCQ_ROLE_PRODUCER | IPCQ_ROLE_CONSUMER, &o), 0);
	CHECK_RC(ipcq_close(q), 0);

	/* without watermarks: never under pressure, even when full */
	CHECK_OK(ipcq_open(qn, &q));
	CHECK_RC(ipcq_attach(q, IPCQ_ROLE_PRODUCER | IPCQ_ROLE_CONSUMER, NULL), 0);
	uint8_t buf[64];
	for (unsigned i = 0; i < 8; i++)
		CHECK_RC(ipcq_send(q, buf, sizeof(buf), IPCQ_NOWAIT), 0);
	CHECK_RC(ipcq_send(q, buf, sizeof(buf), IPCQ_NOWAIT), -EAGAIN);
	CHECK_RC(ipcq_pressure(q), 0);
	CHECK_RC(ipcq_wait_pressure(q, IPCQ_NOWAIT), 0);
	CHECK_RC(ipcq_wait_pressure(q, IPCQ_FOREVER), 0);
	CHECK(t_info(q).pressure == 0 && t_info(q).high_watermark == 0);
	CHECK_RC(ipcq_pressure(NULL), -EINVAL);
	CHECK_RC(ipcq_wait_pressure(NULL, IPCQ_NOWAIT), -EINVAL);
	CHECK_RC(ipcq_wait_pressure(q, -2), -EINVAL);
	CHECK_RC(ipcq_close(q), 0);
	CHECK_RC(ipcq_close(c), 0);
	printf("bad watermarks and full policies refused; no watermarks, no pressure: ok\n");
}

/* ---- watermarks ----------------------------------------------------------------- */

#define CAP 64
#define HIGH 48
#define LOW 16

static void watermarks(void)
{
	const char *qn = t_qname("bp");
	struct ipcq_config cfg = t_config(CAP, MAXLEN);
	cfg.high_watermark = HIGH;
	cfg.low_watermark = LOW;
	/* a lost wake-up must not be hidden by the periodic re-check of
	 * sleepers: they would sleep 60 s, and the watchdog fires first */
	cfg.grace_us = 60000000;
	struct ipcq *ctl = t_create(qn, &cfg);
	struct agent *p[NP], *c;
	struct t_peek pk;
	uint64_t on = 0, off = 0;

	for (unsigned i = 0; i < NP; i++)
		p[i] = agent_new(qn, i, IPCQ_ROLE_PRODUCER, IPCQ_FULL_BLOCK);
	c = agent_new(qn, 0, IPCQ_ROLE_CONSUMER, 0);
	t_peek_open(&pk, qn);
	const struct ipcq_shm_control *ctlw = t_peek_control(&pk);

#define TRANSITIONS()                                                                    \
	do {                                                                             \
		CHECK(ctr_sum(&pk, p, NP, IPCQ_CTR_PRESSURE_ON) == on);                  \
		CHECK(t_peek_ctr(&pk, c->index, IPCQ_CTR_PRESSURE_OFF) == off);          \
		CHECK(ctr_sum(&pk, p, NP, IPCQ_CTR_PRESSURE_OFF) == 0);                  \
		CHECK(t_peek_ctr(&pk, c->index, IPCQ_CTR_PRESSURE_ON) == 0);             \
	} while (0)

	/* below the high watermark: no pressure */
	for (unsigned i = 0; i < NP; i++)
		sends(p[i], 15, 0);
	CHECK(depth(ctl) == 45 && ipcq_pressure(ctl) == 0);
	run(p[0], C_WAITP, 0, IPCQ_NOWAIT, 0);
	CHECK_RC(p[0]->rc, 0);
	sends(p[0], 2, 0);
	/* the send that reaches the high watermark reports it */
	sends(p[1], 1, IPCQ_SEND_PRESSURE);
	on++;
	CHECK(depth(ctl) == HIGH && ipcq_pressure(ctl) == 1 && t_info(ctl).pressure == 1);
	TRANSITIONS();
	/* every producer sees it, on every send and through ipcq_pressure */
	for (unsigned i = 0; i < NP; i++) {
		sends(p[i], 2, IPCQ_SEND_PRESSURE);
		CHECK(p[i]->pressure == 1);
		run(p[i], C_WAITP, 0, IPCQ_NOWAIT, 0);
		CHECK_RC(p[i]->rc, -EAGAIN);
		run(p[i], C_WAITP, 0, 2 * MS, 0);
		CHECK_RC(p[i]->rc, -ETIMEDOUT);
		CHECK(p[i]->elapsed_ns >= 2 * MS);
	}
	CHECK(depth(ctl) == HIGH + 2 * NP);
	CHECK(ctlw->pressure_waiters == 0);

	/* hysteresis at the high watermark: down and up across it, no flap */
	run(c, C_RECV, 2 * NP + 1, 0, 0); /* HIGH - 1 */
	CHECK(ipcq_pressure(ctl) == 1);
	for (unsigned k = 0; k < 10; k++) {
		sends(p[k % NP], 1, IPCQ_SEND_PRESSURE); /* HIGH */
		run(c, C_RECV, 1, 0, 0);                 /* HIGH - 1 */
		CHECK(c->pressure == 1);
	}
	TRANSITIONS();

	/* down to the low watermark: still on */
	run(c, C_RECV, (int64_t)depth(ctl) - LOW - NP, 0, 0);
	CHECK(depth(ctl) == LOW + NP && ipcq_pressure(ctl) == 1);
	for (unsigned i = 0; i < NP; i++)
		sends(p[i], 1, IPCQ_SEND_PRESSURE);
	run(c, C_RECV, 2 * NP, 0, 0);
	CHECK(depth(ctl) == LOW && ipcq_pressure(ctl) == 1 && c->pressure == 1);
	TRANSITIONS();

	/* every producer waits for relief; the consumer brings the depth
	 * under the low watermark and wakes them all */
	for (unsigned i = 0; i < NP; i++)
		post(p[i], C_WAITP, 0, IPCQ_FOREVER, 0);
	T_AWAIT_KIDS(__atomic_load_n(&ctlw->pressure_waiters, __ATOMIC_SEQ_CST) == NP, t_limit(60));
	for (unsigned i = 0; i < NP; i++)
		CHECK(!is_done(p[i])); /* nobody came back under pressure */
	run(c, C_RECV, 1, 0, 0);
	off++;
	CHECK(depth(ctl) == LOW - 1 && c->pressure == 0 && ipcq_pressure(ctl) == 0);
	for (unsigned i = 0; i < NP; i++) {
		finish(p[i]);
		CHECK_RC(p[i]->rc, 0);
	}
	T_AWAIT_KIDS(__atomic_load_n(&ctlw->pressure_waiters, __ATOMIC_SEQ_CST) == 0, t_limit(60));
	TRANSITIONS();
	run(p[2], C_WAITP, 0, IPCQ_NOWAIT, 0);
	CHECK_RC(p[2]->rc, 0);
	run(p[2], C_WAITP, 0, IPCQ_FOREVER, 0);
	CHECK_RC(p[2]->rc, 0);

	/* hysteresis at the low watermark: no flap either */
	for (unsigned k = 0; k < 10; k++) {
		sends(p[k % NP], 1, 0); /* LOW */
		run(c, C_RECV, 1, 0, 0); /* LOW - 1 */
		CHECK(c->pressure == 0);
	}
	/* all the way up: off until the high watermark */
	while (depth(ctl) < HIGH - 1)
		sends(p[depth(ctl) % NP], 1, 0);
	sends(p[0], 1, IPCQ_SEND_PRESSURE);
	on++;
	TRANSITIONS();
	/* the drain clears it once */
	run(c, C_DRAIN, 0, 0, 0);
	off++;
	CHECK(depth(ctl) == 0 && ipcq_pressure(ctl) == 0);
	TRANSITIONS();

	/* contention: all producers at once up to the high watermark; then
	 * each sees pressure on its next sends */
	for (unsigned i = 0; i < NP; i++)
		post(p[i], C_SEND, HIGH / NP, IPCQ_NOWAIT, X_MONO);
	uint64_t seen = 0;
	for (unsigned i = 0; i < NP; i++) {
		finish(p[i]);
		seen += p[i]->n_pressure;
	}
	on++;
	CHECK(depth(ctl) == HIGH && ipcq_pressure(ctl) == 1 && seen >= 1);
	TRANSITIONS();
	for (unsigned i = 0; i < NP; i++)
		post(p[i], C_SEND, 3, IPCQ_NOWAIT, IPCQ_SEND_PRESSURE);
	for (unsigned i = 0; i < NP; i++)
		finish(p[i]);
	/* waiters woken by a consumer draining while producers keep sending */
	for (unsigned i = 0; i < NP; i++)
		post(p[i], C_WAITP, 0, IPCQ_FOREVER, 0);
	T_AWAIT_KIDS(__atomic_load_n(&ctlw->pressure_waiters, __ATOMIC_SEQ_CST) == NP, t_limit(60));
	run(c, C_DRAIN, 0, 0, 0);
	off++;
	for (unsigned i = 0; i < NP; i++) {
		finish(p[i]);
		CHECK_RC(p[i]->rc, 0);
	}
	TRANSITIONS();
	printf("watermarks %u/%u: %" PRIu64 " on and %" PRIu64 " off transitions, as expected;"
	       " every producer saw PRESSURE; waiters woken\n", HIGH, LOW, on, off);

	/* everything sent arrived, intact and in order (the consumer checks
	 * each sequence follows the previous one) */
	for (unsigned i = 0; i < NP; i++) {
		CHECK(c->got[i] == p[i]->seq);
		CHECK(t_peek_ctr(&pk, p[i]->index, IPCQ_CTR_SENT) == p[i]->seq);
	}
	struct agent *all[NP + 1] = { p[0], p[1], p[2], c };
	agents_exit(all, NP + 1);
	reap_all();
	t_peek_close(&pk);
	CHECK_RC(ipcq_close(ctl), 0);
#undef TRANSITIONS
}

/* ---- full policies ------------------------------------------------------------- */

#define FCAP 8

static struct ipcq *full_queue(const char *qn, uint32_t grace_us)
{
	struct ipcq_config cfg = t_config(FCAP, MAXLEN);
	cfg.grace_us = grace_us;
	return t_create(qn, &cfg);
}

static void policy_block(void)
{
	const char *qn = t_qname("bp");
	struct ipcq *ctl = full_queue(qn, 60000000);
	struct agent *p[NP], *c;
	struct t_peek pk;

	for (unsigned i = 0; i < NP; i++)
		p[i] = agent_new(qn, i, IPCQ_ROLE_PRODUCER, IPCQ_FULL_BLOCK);
	c = agent_new(qn, 0, IPCQ_ROLE_CONSUMER, 0);
	t_peek_open(&pk, qn);
	sends(p[0], FCAP, 0);
	CHECK(depth(ctl) == FCAP);
	/* full, IPCQ_NOWAIT: -EAGAIN, a full event, no time blocked */
	for (unsigned i = 0; i < NP; i++) {
		sends(p[i], 1, -EAGAIN);
		CHECK(t_peek_ctr(&pk, p[i]->index, IPCQ_CTR_FULL) == 1);
		CHECK(t_peek_ctr(&pk, p[i]->index, IPCQ_CTR_BLOCKED_NS) == 0);
	}
	/* full, with a timeout, all at once: -ETIMEDOUT after the timeout,
	 * a full event each, the time blocked counted */
	for (unsigned i = 0; i < NP; i++)
		post(p[i], C_SEND, 1, 20 * MS, -ETIMEDOUT);
	for (unsigned i = 0; i < NP; i++) {
		finish(p[i]);
		uint64_t b = t_peek_ctr(&pk, p[i]->index, IPCQ_CTR_BLOCKED_NS);
		CHECK(p[i]->elapsed_ns >= 20 * MS);
		CHECK(t_peek_ctr(&pk, p[i]->index, IPCQ_CTR_FULL) == 2);
		if (b < 20 * MS || b > p[i]->elapsed_ns)
			T_FAIL("producer %u: blocked %" PRIu64 " ns in a send that timed out after"
			       " 20 ms and took %" PRIu64 " ns", i, b, p[i]->elapsed_ns);
	}
	/* full, IPCQ_FOREVER, all at once: each waits; each receive lets
	 * exactly one of them in */
	uint64_t blocked0[NP];
	for (unsigned i = 0; i < NP; i++) {
		blocked0[i] = t_peek_ctr(&pk, p[i]->index, IPCQ_CTR_BLOCKED_NS);
		post(p[i], C_SEND, 1, IPCQ_FOREVER, 0);
	}
	for (unsigned i = 0; i < NP; i++)
		T_AWAIT(t_peek_ctr(&pk, p[i]->index, IPCQ_CTR_FULL) == 3, t_limit(60));
	for (unsigned k = 1; k <= NP; k++) {
		unsigned done = 0;
		for (unsigned i = 0; i < NP; i++)
			done += is_done(p[i]);
		CHECK(done == k - 1); /* nobody got in without room */
		run(c, C_RECV, 1, 0, 0);
		T_AWAIT((done = is_done(p[0]) + is_done(p[1]) + is_done(p[2])) >= k, t_limit(60));
		CHECK(depth(ctl) == FCAP);
	}
	/* the time blocked: a producer let in by the first receive may have
	 * counted its full event and found room at its first look (a wait of
	 * one round, timed with the coarse clock: 0 ns most of the time);
	 * the last one in waited through every receive before it */
	unsigned blocked = 0;
	for (unsigned i = 0; i < NP; i++) {
		CHECK_RC(p[i]->rc, 0);
		CHECK(t_peek_ctr(&pk, p[i]->index, IPCQ_CTR_FULL) == 3);
		blocked += t_peek_ctr(&pk, p[i]->index, IPCQ_CTR_BLOCKED_NS) > blocked0[i];
		CHECK(t_peek_ctr(&pk, p[i]->index, IPCQ_CTR_SENT) == p[i]->seq);
	}
	CHECK(blocked >= 1);
	run(c, C_DRAIN, 0, 0, 0);
	for (unsigned i = 0; i < NP; i++)
		CHECK(c->got[i] == p[i]->seq);
	struct agent *all[NP + 1] = { p[0], p[1], p[2], c };
	agents_exit(all, NP + 1);
	reap_all();
	t_peek_close(&pk);
	CHECK_RC(ipcq_close(ctl), 0);
	printf("BLOCK: -EAGAIN without a timeout, -ETIMEDOUT after it, waits otherwise;"
	       " full events and time blocked counted\n");
}

static void policy_fail(void)
{
	const char *qn = t_qname("bp");
	struct ipcq *ctl = full_queue(qn, 60000000);
	struct agent *p[NP], *c;
	struct t_peek pk;
	uint64_t n = t_count(20000, 3000);

	CHECK_RC(ipcq_attach(ctl, IPCQ_ROLE_PRODUCER, NULL), 0);
	for (unsigned i = 0; i < NP; i++)
		p[i] = agent_new(qn, i, IPCQ_ROLE_PRODUCER, IPCQ_FULL_FAIL);
	c = agent_new(qn, 0, IPCQ_ROLE_CONSUMER, 0);
	t_peek_open(&pk, qn);
	sends(p[0], FCAP, 0);
	/* full: -EAGAIN at once, whatever the timeout */
	for (unsigned i = 0; i < NP; i++) {
		run(p[i], C_SEND, 1, IPCQ_FOREVER, -EAGAIN);
		run(p[i], C_SEND, 1, 60000 * MS, -EAGAIN);
		CHECK(t_peek_ctr(&pk, p[i]->index, IPCQ_CTR_FULL) == 2);
	}
	/* contention with a consumer draining: each send enqueues or fails
	 * at once; every failure is one full event; nobody ever sleeps */
	run(c, C_DRAIN, 0, 0, 0);
	post(c, C_RUN, 0, 0, 0);
	for (unsigned i = 0; i < NP; i++)
		post(p[i], C_SEND, (int64_t)n, IPCQ_FOREVER, X_OK_AGAIN);
	uint64_t again = 0, ok = 0;
	for (unsigned i = 0; i < NP; i++) {
		finish(p[i]);
		again += p[i]->n_again;
		ok += p[i]->n_ok;
		CHECK(p[i]->n_ok + p[i]->n_again == n);
		CHECK(t_peek_ctr(&pk, p[i]->index, IPCQ_CTR_FULL) == 2 + p[i]->n_again);
		CHECK(t_peek_ctr(&pk, p[i]->index, IPCQ_CTR_SENT) == p[i]->seq);
		CHECK(t_peek_ctr(&pk, p[i]->index, IPCQ_CTR_BLOCKED_NS) == 0);
		CHECK(t_peek_ctr(&pk, p[i]->index, IPCQ_CTR_SLEEPS) == 0);
	}
	CHECK_RC(ipcq_send(ctl, NULL, 0, IPCQ_FOREVER), 0); /* the pill */
	finish(c);
	for (unsigned i = 0; i < NP; i++)
		CHECK(c->got[i] == p[i]->seq);
	struct agent *all[NP + 1] = { p[0], p[1], p[2], c };
	agents_exit(all, NP + 1);
	reap_all();
	t_peek_close(&pk);
	CHECK_RC(ipcq_close(ctl), 0);
	printf("FAIL: -EAGAIN at once even with IPCQ_FOREVER; under contention %" PRIu64
	       " sent, %" PRIu64 " refused, each refusal one full event, no sleep\n", ok, again);
}

static void policy_drop(void)
{
	const char *qn = t_qname("bp");
	struct ipcq *ctl = full_queue(qn, 10000);
	struct agent *p[NP], *c;
	struct t_peek pk;
	uint64_t n = t_count(20000, 3000);

	CHECK_RC(ipcq_attach(ctl, IPCQ_ROLE_PRODUCER, NULL), 0);
	for (unsigned i = 0; i < NP; i++)
		p[i] = agent_new(qn, i, IPCQ_ROLE_PRODUCER, IPCQ_FULL_DROP_OLDEST);
	c = agent_new(qn, 0, IPCQ_ROLE_CONSUMER, 0);
	c->lossy = 1;
	t_peek_open(&pk, qn);

	/* one producer, nobody receiving: it never blocks (not even with
	 * IPCQ_NOWAIT), the ring keeps the newest FCAP */
	run(p[0], C_SEND, 20, IPCQ_NOWAIT, 0);
	run(p[0], C_SEND, 5, IPCQ_FOREVER, 0);
	CHECK(depth(ctl) == FCAP);
	CHECK(t_peek_ctr(&pk, p[0]->index, IPCQ_CTR_DROPPED) == 25 - FCAP);
	run(c, C_DRAIN, 0, 0, 0);
	CHECK(c->n_ok == FCAP && c->first[0] == 25 - FCAP + 1 && c->last[0] == 25);
	CHECK(t_peek_ctr(&pk, p[0]->index, IPCQ_CTR_FULL) == 25 - FCAP);

	/* all producers at once, nobody receiving: the ring ends with the
	 * newest FCAP messages, which are each producer's last ones */
	uint64_t base[NP], dropped0[NP], got0[NP];
	for (unsigned i = 0; i < NP; i++) {
		base[i] = p[i]->seq;
		got0[i] = c->got[i];
		dropped0[i] = t_peek_ctr(&pk, p[i]->index, IPCQ_CTR_DROPPED);
		post(p[i], C_SEND, (int64_t)n, IPCQ_FOREVER, 0);
	}
	for (unsigned i = 0; i < NP; i++)
		finish(p[i]);
	CHECK(depth(ctl) == FCAP);
	uint64_t dropped = 0;
	for (unsigned i = 0; i < NP; i++)
		dropped += t_peek_ctr(&pk, p[i]->index, IPCQ_CTR_DROPPED) - dropped0[i];
	CHECK(dropped == NP * n - FCAP);
	run(c, C_DRAIN, 0, 0, 0);
	CHECK(c->n_ok == FCAP);
	for (unsigned i = 0; i < NP; i++) {
		uint64_t r = c->got[i] - got0[i];
		/* received: a suffix of what i sent, ending with its last */
		if (r > 0 && (c->last[i] != p[i]->seq || c->cfirst[i] != p[i]->seq - r + 1 ||
			      c->cfirst[i] <= base[i]))
			T_FAIL("producer %u: sent %" PRIu64 "..%" PRIu64 "; received %" PRIu64
			       " messages, %" PRIu64 "..%" PRIu64 ": not its newest ones", i,
			       base[i] + 1, p[i]->seq, r, c->cfirst[i], c->last[i]);
	}

	/* contention with a consumer: every message is received or dropped,
	 * exactly one of the two, and the counters say how many of each */
	uint64_t rcv0 = 0, drp0 = 0, sent0 = 0;
	for (unsigned i = 0; i < NP; i++) {
		rcv0 += c->got[i];
		drp0 += t_peek_ctr(&pk, p[i]->index, IPCQ_CTR_DROPPED);
		sent0 += p[i]->seq;
	}
	post(c, C_RUN, 0, 0, 0);
	for (unsigned i = 0; i < NP; i++)
		post(p[i], C_SEND, (int64_t)n, IPCQ_FOREVER, 0);
	for (unsigned i = 0; i < NP; i++)
		finish(p[i]);
	CHECK_RC(ipcq_send(ctl, NULL, 0, IPCQ_FOREVER), 0); /* the pill, behind everything */
	finish(c);
	uint64_t rcv = 0, drp = 0, sent = 0;
	for (unsigned i = 0; i < NP; i++) {
		rcv += c->got[i];
		drp += t_peek_ctr(&pk, p[i]->index, IPCQ_CTR_DROPPED);
		sent += p[i]->seq;
		CHECK(t_peek_ctr(&pk, p[i]->index, IPCQ_CTR_SENT) == p[i]->seq);
	}
	if (drp - drp0 != (sent - sent0) - (rcv - rcv0))
		T_FAIL("drop-oldest: %" PRIu64 " sent, %" PRIu64 " received, but %" PRIu64
		       " counted as dropped", sent - sent0, rcv - rcv0, drp - drp0);
	CHECK(depth(ctl) == 0);
	struct agent *all[NP + 1] = { p[0], p[1], p[2], c };
	agents_exit(all, NP + 1);
	reap_all();
	t_peek_close(&pk);
	CHECK_RC(ipcq_close(ctl), 0);
	printf("DROP_OLDEST: never blocks, keeps the newest, dropped == sent - received"
	       " (contention: %" PRIu64 " sent, %" PRIu64 " received, %" PRIu64 " dropped)\n",
	       sent - sent0, rcv - rcv0, drp - drp0);
}

int main(void)
{
	t_watchdog(t_limit(180), "t_backpressure", NULL);
	bad_configs();
	watermarks();
	policy_block();
	policy_fail();
	policy_drop();
	t_watchdog(0, NULL, NULL);
	return 0;
}
