/* Blocking calls: a sleeping consumer/producer wakes for the first message/slot under every wait strategy, several sleepers all wake, timeouts (-ETIMEDOUT, never early), -EINTR, and no futex sleep for busy-poll and yield. */
#include "ipcq.h"
#include "testutil.h"

#define MS 1000000ll

struct strategy {
	const char *name;
	uint32_t queue;   /* config wait_strategy, 0: default */
	uint32_t handle;  /* attach opts */
	uint32_t spin, yield;
	int sleeps;       /* 1: ends up asleep on a futex, -1: never sleeps */
};

static const struct strategy strategies[] = {
	{ "adaptive (defaults)", 0, IPCQ_WAIT_ADAPTIVE, UINT32_MAX, UINT32_MAX, 1 },
	{ "adaptive spin0 yield0", 0, IPCQ_WAIT_ADAPTIVE, 0, 0, 1 },
	{ "busy-poll", 0, IPCQ_WAIT_BUSY_POLL, UINT32_MAX, UINT32_MAX, -1 },
	{ "yield", 0, IPCQ_WAIT_YIELD, UINT32_MAX, UINT32_MAX, -1 },
	{ "queue default busy-poll", IPCQ_WAIT_BUSY_POLL, IPCQ_WAIT_DEFAULT, UINT32_MAX, UINT32_MAX, -1 },
	{ "queue default yield", IPCQ_WAIT_YIELD, IPCQ_WAIT_DEFAULT, UINT32_MAX, UINT32_MAX, -1 },
	{ "queue default adaptive spin0 yield0", IPCQ_WAIT_ADAPTIVE, IPCQ_WAIT_DEFAULT, UINT32_MAX, UINT32_MAX, 1 },
};
#define N_STRATEGIES (sizeof(strategies) / sizeof(strategies[0]))

/* What a child does, told through shared memory. */
struct job {
	const char *name;
	const struct strategy *s;
	int batch;
	uint32_t id;
	uint32_t state;    /* 1: about to block, 2: done */
	pid_t tid;
	int rc;            /* what the blocking call returned */
	uint32_t got_signal;
};

static struct ipcq *queue(const struct strategy *s, uint32_t cap, const char **name)
{
	struct ipcq_config cfg = t_config(cap, 64);
	if (s->queue != 0) {
		cfg.wait_strategy = s->queue;
		if (s->queue == IPCQ_WAIT_ADAPTIVE)
			cfg.spin_count = cfg.yield_count = 0;
	}
	*name = t_qname("blk");
	return t_create(*name, &cfg);
}

static struct ipcq *attach(const struct job *j, unsigned role)
{
	struct ipcq_attach_opts o = t_opts(j->s->handle, j->s->spin, j->s->yield);
	return t_open_attach(j->name, role, &o);
}

static void announce(struct job *j)
{
	j->tid = t_gettid();
	__atomic_store_n(&j->state, 1, __ATOMIC_RELEASE);
}

/* Receive one message, blocking forever; it must be (0, id). */
static int blocked_consumer(void *arg)
{
	struct job *j = (struct job *)arg;
	struct ipcq *q = attach(j, IPCQ_ROLE_CONSUMER);
	uint8_t buf[64];
	struct ipcq_msginfo info;
	announce(j);
	if (j->batch) {
		struct ipcq_buf b = { buf, sizeof(buf) };
		CHECK_RC(ipcq_recv_batch(q, &b, &info, 1, IPCQ_FOREVER), 1);
		CHECK(b.len == 32);
	} else {
		CHECK_RC(ipcq_recv(q, buf, sizeof(buf), &info, IPCQ_FOREVER), 32);
	}
	uint32_t p;
	uint64_t seq;
	t_header(buf, &p, &seq);
	CHECK(p == 0 && t_verify(buf, 32, p, seq) == 0);
	CHECK_RC(ipcq_close(q), 0);
	__atomic_store_n(&j->state, 2, __ATOMIC_RELEASE);
	return 0;
}

/* Send one message (1, id) into a full queue, blocking forever. */
static int blocked_producer(void *arg)
{
	struct job *j = (struct job *)arg;
	struct ipcq *q = attach(j, IPCQ_ROLE_PRODUCER);
	uint8_t buf[32];
	t_fill(buf, sizeof(buf), 1, j->id);
	announce(j);
	if (j->batch) {
		struct ipcq_buf b = { buf, sizeof(buf) };
		CHECK_RC(ipcq_send_batch(q, &b, 1, IPCQ_FOREVER), 1);
	} else {
		CHECK_RC(ipcq_send(q, buf, sizeof(buf), IPCQ_FOREVER), 0);
	}
	CHECK_RC(ipcq_close(q), 0);
	__atomic_store_n(&j->state, 2, __ATOMIC_RELEASE);
	return 0;
}

/*
 * The child announced it is about to block: make sure it really waits the
 * way its strategy says before the event that must release it.
 */
static void check_waiting(struct job *j, pid_t pid)
{
	T_AWAIT_KIDS(__atomic_load_n(&j->state, __ATOMIC_ACQUIRE) == 1, 30);
	if (j->s->sleeps > 0) {
		if (!t_await_sleeping(pid, 10))
			T_FAIL("%s: the blocked call never went to sleep (state %c)", j->s->name,
			       t_proc_state(pid));
	} else {
		/* never asleep in the kernel: sample it for a while */
		for (int i = 0; i < 200; i++) {
			char st = t_proc_state(pid);
			if (st == 'S')
				T_FAIL("%s: the blocked call sleeps in the kernel", j->s->name);
			struct timespec ts = { 0, 500000 };
			nanosleep(&ts, NULL);
		}
	}
	CHECK(__atomic_load_n(&j->state, __ATOMIC_ACQUIRE) == 1);
}

static void test_wake_one(const struct strategy *s, int batch)
{
	const char *name;
	struct ipcq *q = queue(s, 2, &name);
	struct job *j = (struct job *)t_shared(sizeof(*j));
	uint8_t buf[32];
	j->s = s;
	j->name = name;
	j->batch = batch;
	CHECK_RC(ipcq_attach(q, IPCQ_ROLE_PRODUCER | IPCQ_ROLE_CONSUMER, NULL), 0);

	/* a consumer waiting on an empty queue gets the first message */
	pid_t pid = t_spawn(blocked_consumer, j);
	check_waiting(j, pid);
	t_fill(buf, sizeof(buf), 0, 1);
	CHECK_RC(ipcq_send(q, buf, sizeof(buf), IPCQ_NOWAIT), 0);
	CHECK(t_reap(pid) == 0);
	CHECK(j->state == 2);

	/* a producer waiting on a full queue gets the first free slot */
	j->state = 0;
	j->id = 3;
	for (uint64_t seq = 1; seq <= 2; seq++) {
		t_fill(buf, sizeof(buf), 1, seq);
		CHECK_RC(ipcq_send(q, buf, sizeof(buf), IPCQ_NOWAIT), 0);
	}
	pid = t_spawn(blocked_producer, j);
	check_waiting(j, pid);
	for (uint64_t seq = 1; seq <= 3; seq++) {
		struct ipcq_msginfo info;
		/* the third arrives once the child's send completes */
		CHECK_RC(ipcq_recv(q, buf, sizeof(buf), &info, seq < 3 ? IPCQ_NOWAIT : IPCQ_FOREVER), 32);
		CHECK(t_verify(buf, sizeof(buf), 1, seq) == 0);
	}
	CHECK(t_reap(pid) == 0);
	CHECK_RC(ipcq_close(q), 0);
	CHECK_RC(ipcq_unlink(name), 0);
	munmap(j, sizeof(*j));
}

/* Several sleepers on one queue: each event wakes one, none is forgotten. */
static void test_wake_many(const struct strategy *s)
{
	enum { N = 4 };
	const char *name;
	struct ipcq *q = queue(s, 2, &name);
	struct job *j = (struct job *)t_shared(N * sizeof(*j));
	pid_t pid[N];
	uint8_t buf[32];
	CHECK_RC(ipcq_attach(q, IPCQ_ROLE_PRODUCER | IPCQ_ROLE_CONSUMER, NULL), 0);

	for (int i = 0; i < N; i++) {
		j[i] = (struct job){ .name = name, .s = s, .batch = i % 2, .id = (uint32_t)i + 1 };
		pid[i] = t_spawn(blocked_consumer, &j[i]);
	}
	for (int i = 0; i < N; i++)
		check_waiting(&j[i], pid[i]);
	for (uint64_t seq = 1; seq <= N; seq++) {
		t_fill(buf, sizeof(buf), 0, seq);
		CHECK_RC(ipcq_send(q, buf, sizeof(buf), IPCQ_FOREVER), 0);
	}
	for (int i = 0; i < N; i++)
		CHECK(t_reap(pid[i]) == 0);
	CHECK(t_info(q).depth == 0);

	/* N producers wait on a full queue of 2 */
	for (uint64_t seq = 1; seq <= 2; seq++) {
		t_fill(buf, sizeof(buf), 1, 100 + seq);
		CHECK_RC(ipcq_send(q, buf, sizeof(buf), IPCQ_NOWAIT), 0);
	}
	for (int i = 0; i < N; i++) {
		j[i].state = 0;
		pid[i] = t_spawn(blocked_producer, &j[i]);
	}
	for (int i = 0; i < N; i++)
		check_waiting(&j[i], pid[i]);
	uint32_t seen = 0;
	for (int k = 0; k < N + 2; k++) {
		struct ipcq_msginfo info;
		uint32_t p;
		uint64_t seq;
		CHECK_RC(ipcq_recv(q, buf, sizeof(buf), &info, 30000 * MS), 32);
		t_header(buf, &p, &seq);
		CHECK(p == 1 && t_verify(buf, sizeof(buf), p, seq) == 0);
		if (k < 2) {
			CHECK(seq == 101 + (uint64_t)k);
		} else {
			CHECK(seq >= 1 && seq <= N && !(seen & (1u << seq)));
			seen |= 1u << seq;
		}
	}
	for (int i = 0; i < N; i++)
		CHECK(t_reap(pid[i]) == 0);
	CHECK_RC(ipcq_recv(q, buf, sizeof(buf), NULL, IPCQ_NOWAIT), -EAGAIN);
	CHECK_RC(ipcq_close(q), 0);
	CHECK_RC(ipcq_unlink(name), 0);
	munmap(j, N * sizeof(*j));
}

/* -ETIMEDOUT, no earlier than asked and not absurdly late (+2 s). */
static void check_timeout(const char *what, const struct strategy *s, int64_t timeout, int rc,
			  uint64_t elapsed)
{
	if (rc != -ETIMEDOUT)
		T_FAIL("%s (%s, %lld ns): returned %d (%s), expected -ETIMEDOUT", what, s->name,
		       (long long)timeout, rc, ipcq_strerror(rc));
	if (elapsed < (uint64_t)timeout)
		T_FAIL("%s (%s): timed out after %" PRIu64 " ns, before the %lld ns asked", what,
		       s->name, elapsed, (long long)timeout);
	if (elapsed > (uint64_t)timeout + 2000 * MS)
		T_FAIL("%s (%s): timed out after %" PRIu64 " ns, %lld ns asked", what, s->name,
		       elapsed, (long long)timeout);
}

static void test_timeouts(const struct strategy *s)
{
	const char *name;
	struct ipcq *q0 = queue(s, 2, &name);
	struct job j = { .name = name, .s = s };
	struct ipcq *q = attach(&j, IPCQ_ROLE_PRODUCER | IPCQ_ROLE_CONSUMER);
	const int64_t timeouts[] = { 1, 1000, 1 * MS, 30 * MS, 150 * MS };
	uint8_t buf[64];
	struct ipcq_buf b = { buf, sizeof(buf) };

	for (size_t i = 0; i < sizeof(timeouts) / sizeof(timeouts[0]); i++) {
		int64_t t = timeouts[i];
		uint64_t t0 = t_now_ns();
		int rc = ipcq_recv(q, buf, sizeof(buf), NULL, t);
		check_timeout("recv on an empty queue", s, t, rc, t_now_ns() - t0);
		b.len = sizeof(buf);
		t0 = t_now_ns();
		rc = ipcq_recv_batch(q, &b, NULL, 1, t);
		check_timeout("recv_batch on an empty queue", s, t, rc, t_now_ns() - t0);
	}
	CHECK_RC(ipcq_send(q, "a", 1, IPCQ_NOWAIT), 0);
	CHECK_RC(ipcq_send(q, "b", 1, IPCQ_NOWAIT), 0);
	for (size_t i = 0; i < sizeof(timeouts) / sizeof(timeouts[0]); i++) {
		int64_t t = timeouts[i];
		uint64_t t0 = t_now_ns();
		int rc = ipcq_send(q, "c", 1, t);
		check_timeout("send on a full queue", s, t, rc, t_now_ns() - t0);
		b.len = 1;
		t0 = t_now_ns();
		rc = ipcq_send_batch(q, &b, 1, t);
		check_timeout("send_batch on a full queue", s, t, rc, t_now_ns() - t0);
	}
	/* nothing changed, and the queue still works */
	CHECK(t_info(q).depth == 2 && t_info(q).enqueued == 2);
	CHECK_RC(ipcq_recv(q, buf, sizeof(buf), NULL, 100 * MS), 1);
	CHECK(buf[0] == 'a');
	CHECK_RC(ipcq_send(q, "d", 1, 100 * MS), 0);
	CHECK_RC(ipcq_recv(q, buf, sizeof(buf), NULL, 100 * MS), 1);
	CHECK(buf[0] == 'b');
	CHECK_RC(ipcq_recv(q, buf, sizeof(buf), NULL, 100 * MS), 1);
	CHECK(buf[0] == 'd');
	CHECK_RC(ipcq_close(q), 0);
	CHECK_RC(ipcq_close(q0), 0);
	CHECK_RC(ipcq_unlink(name), 0);
}

static struct job *eintr_job;

static void on_usr1(int sig)
{
	(void)sig;
	__atomic_store_n(&eintr_job->got_signal, 1, __ATOMIC_RELEASE);
}

/* Block in recv(FOREVER) with a SIGUSR1 handler installed without SA_RESTART. */
static int interrupted_consumer(void *arg)
{
	struct job *j = (struct job *)arg;
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_usr1;
	eintr_job = j;
	CHECK(sigaction(SIGUSR1, &sa, NULL) == 0);
	struct ipcq *q = attach(j, IPCQ_ROLE_CONSUMER);
	char buf[64];
	announce(j);
	j->rc = ipcq_recv(q, buf, sizeof(buf), NULL, j->batch ? 3600000 * MS : IPCQ_FOREVER);
	CHECK_RC(ipcq_close(q), 0);
	__atomic_store_n(&j->state, 2, __ATOMIC_RELEASE);
	return 0;
}

/* A signal that interrupts a futex sleep ends the call with -EINTR. */
static void test_eintr(int timed)
{
	const struct strategy *s = &strategies[1]; /* adaptive spin0 yield0: sleeps at once */
	const char *name;
	struct ipcq *q = queue(s, 2, &name);
	struct job *j = (struct job *)t_shared(sizeof(*j));
	j->s = s;
	j->name = name;
	j->batch = timed;
	CHECK_RC(ipcq_attach(q, IPCQ_ROLE_PRODUCER | IPCQ_ROLE_CONSUMER, NULL), 0);
	pid_t pid = t_spawn(interrupted_consumer, j);
	check_waiting(j, pid);
	CHECK(kill(pid, SIGUSR1) == 0);
	T_AWAIT_KIDS(__atomic_load_n(&j->got_signal, __ATOMIC_ACQUIRE), 30);
	/* if the call did not end, this message ends it, with a wrong result */
	CHECK_RC(ipcq_send(q, "late", 4, IPCQ_NOWAIT), 0);
	CHECK(t_reap(pid) == 0);
	if (j->rc != -EINTR)
		T_FAIL("recv(%s) interrupted by a signal in its futex sleep returned %d (%s), expected -EINTR",
		       timed ? "1 h timeout" : "IPCQ_FOREVER", j->rc, ipcq_strerror(j->rc));
	CHECK_RC(ipcq_close(q), 0);
	CHECK_RC(ipcq_unlink(name), 0);
	munmap(j, sizeof(*j));
}

int main(void)
{
	t_watchdog(t_limit(240), "t_blocking", NULL);
	for (size_t i = 0; i < N_STRATEGIES; i++) {
		test_wake_one(&strategies[i], 0);
		test_wake_one(&strategies[i], 1);
		test_wake_many(&strategies[i]);
		test_timeouts(&strategies[i]);
	}
	test_eintr(0);
	test_eintr(1);
	return 0;
}
