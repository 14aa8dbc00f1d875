/*
 * fanout.c - the program bench/fanout: one producer whose every message
 * reaches several consumers, in one run, between real forked processes,
 * every message verified.  Measures what consumer groups cost against what
 * a user would do without them and against a hand-written broadcast ring:
 *
 *   (a)  ipcq, max_groups 1, one group of one consumer: the single-group
 *        rate of a queue with groups
 *   (b)  ipcq, max_groups N, N groups (--fan, default 4) of one consumer
 *        each: every group receives every message
 *   (c)  N ipcq queues without groups, the producer sending each message N
 *        times (once per queue), one consumer per queue: what a user does
 *        without groups
 *   (d1) the reference: a hand-written single-producer broadcast ring in
 *   (dN) shared memory (Disruptor-style: one writer, a published cursor,
 *        each reader's cursor on a line of its own, the writer waiting for
 *        the slowest reader), with 1 and N readers
 *   (e)  ipcq without groups (max_groups 0), one consumer: the classic queue
 *
 * Each configuration runs in each call mode (--batch, default 1 and 32):
 *   1    ipcq_send / ipcq_recv (a NULL msginfo, as a user who needs only
 *        the payload calls it); the ring's writer publishes its cursor
 *        after each message and each reader its own cursor after each one
 *   32   ipcq_send_batch / ipcq_recv_batch of up to 32 (NULL msginfos);
 *        the ring's writer claims and publishes up to 32 at once, and each
 *        reader takes what is published, up to 32, and publishes its cursor
 *        once for them, as the Disruptor's batch event processor does
 * (c)'s producer sends a message (or a batch) to every queue in turn.
 *
 * Messages are 64 bytes, in bench/transports' format (transport.h: producer
 * id, sequence from 1, two check words derived from them).  The producer
 * stamps each into a private buffer, the transport copies it in, and each
 * consumer copies it out and checks its length, that the sequence is
 * exactly the previous one + 1 (one producer: nothing lost, duplicated or
 * reordered) and both check words.  When the measuring time ends the
 * producer sends one end marker (on every queue in (c)) carrying the next
 * sequence, so a consumer also sees that nothing is missing at the tail.
 * The parent then checks that every consumer received exactly what the
 * producer sent and, for ipcq, the queue's own figures: each group's
 * position and lag (ipcq_group_list), the enqueued and dequeued counters
 * of a queue without groups (ipcq_info).
 *
 * Rates.  The producer and the consumers start together (a process-shared
 * barrier); the producer sends through a warm-up (--warmup-ms: page
 * faults and process start are not steady state), then for the measuring
 * time (--duration-ms).  Each consumer counts from the first call it makes
 * after the measuring time began to the end marker: its rate is what it
 * received over that window.  A configuration's figure is the mean over
 * its consumers; the slowest consumer is printed too (a group cannot run
 * ahead of the slowest durable group by more than the ring).  Every
 * configuration runs --repeat times (default 5), interleaved (one round
 * runs every configuration once, in order, then the next round), so that
 * a drift of the machine lands on all of them alike; the median is
 * reported, and each ratio as the ratio of the medians with the range of
 * the per-round ratios beside it.
 *
 * Waiting.  ipcq's consumers and producer use --wait (default busy_poll:
 * it spins and yields every spin_count polls); the ring spins and yields
 * every 200 polls, as bench/transports' rings do.  Processes are left to
 * the scheduler, as bench/transports leaves its throughput processes;
 * --pin pins the producer to the first CPU and consumer i to CPU i + 1
 * (modulo the CPUs this process may use).  With N + 1 busy-polling
 * processes on fewer cores, what is measured is mostly how the scheduler
 * shares the cores; the output says so.
 *
 * Every wait is bounded: a run that has not finished --cap-ms after its
 * measuring time is aborted through a shared flag (then killed) and
 * reported as FAIL, as is any verification failure; the exit status is
 * then 1.  A missed goal ((b)/(a) at least 0.8) is printed as MISSED and
 * is not a failure.
 */
#include "transports/transport.h"

#include <getopt.h>

#define MSG_SIZE 64
#define MAX_FAN 8
#define MAX_RUNS 15
#define CAP_DEFAULT_MS 3000

enum kind { K_GROUPS, K_QUEUES, K_RING, K_CLASSIC };

struct config {
	const char *key;
	enum kind kind;
	int fanned;		/* 1: --fan consumers; 0: one */
};

static const struct config configs[] = {
	{ "a", K_GROUPS, 0 },
	{ "b", K_GROUPS, 1 },
	{ "c", K_QUEUES, 1 },
	{ "d1", K_RING, 0 },
	{ "dN", K_RING, 1 },
	{ "e", K_CLASSIC, 0 },
};
#define N_CONFIGS (sizeof(configs) / sizeof(configs[0]))
enum { C_A, C_B, C_C, C_D1, C_DN, C_E };

/* ------------------------------------------------------------------ */
/* Options                                                             */
/* ------------------------------------------------------------------ */

static struct {
	unsigned repeat, fan, capacity;
	uint64_t warmup_ns, duration_ns, cap_ns;
	unsigned batches[2], n_batches;
	uint32_t wait;
	const char *wait_name;
	int pin;
	unsigned only;		/* bit per configs[] index; 0: all */
	const char *csv_path;
} opt = {
	5, 4, 1024, 100000000ull, 500000000ull, CAP_DEFAULT_MS * 1000000ull,
	{ 1, 32 }, 2, IPCQ_WAIT_BUSY_POLL, "busy_poll", 0, 0, NULL,
};

/* ------------------------------------------------------------------ */
/* Shared state of one run                                             */
/* ------------------------------------------------------------------ */

enum { PHASE_WARM = 0, PHASE_MEASURE = 1, PHASE_STOP = 2 };

struct prod_stat {
	uint64_t sent;		/* messages (not sends): seq of the last one */
	uint64_t n0, t0, n1, t1;	/* at the start and the end of its window */
	int32_t failed;
	char why[WHY_LEN];
} __attribute__((aligned(BENCH_HOT_ALIGN)));

struct cons_stat {
	uint64_t n;		/* data messages taken */
	uint64_t n0, t0, n1, t1;
	uint64_t errors;
	int32_t measuring, ended, failed;
	char why[WHY_LEN];
} __attribute__((aligned(BENCH_HOT_ALIGN)));

struct run_shared {
	struct bench_barrier barrier;
	_Alignas(BENCH_HOT_ALIGN) _Atomic uint32_t phase;
	_Alignas(BENCH_HOT_ALIGN) _Atomic uint32_t abort;
	struct prod_stat prod;
	struct cons_stat cons[MAX_FAN];
};

/*
 * The broadcast ring: one writer, nr readers, fixed 64-byte slots.
 *
 *   R1 writer: store-release of cursor after writing slots [c, c + k).
 *      Pairs with A1, a reader's load-acquire of cursor: the slots' bytes
 *      are visible before the reader copies them.
 *   R2 reader i: store-release of rd[i].pos after copying its slots out.
 *      Pairs with A2, the writer's load-acquire of every rd[].pos when it
 *      recomputes the slowest reader: the reader is done with a slot
 *      before the writer overwrites it.
 *   The writer caches the slowest reader's position and reads the
 *   readers' lines only when the cache says full; a reader caches the
 *   cursor and reads the writer's line only when the cache says empty.
 *   Each index is on its own 128-byte block; only its owner writes it.
 */
struct bring {
	_Alignas(BENCH_HOT_ALIGN) _Atomic uint64_t cursor;	/* owner: the writer */
	struct {
		_Alignas(BENCH_HOT_ALIGN) _Atomic uint64_t pos;	/* owner: reader i */
	} rd[MAX_FAN];
	_Alignas(BENCH_HOT_ALIGN) unsigned char slots[];	/* depth * MSG_SIZE */
};

/* One run of one configuration in one call mode. */
struct run {
	const struct config *cf;
	unsigned batch, nc, nq;	/* consumers, queues */
	unsigned serial;
	char label[160];
	char name[MAX_FAN][64];
	struct ipcq *q[MAX_FAN];	/* the parent's creating handles */
	struct bring *ring;
	size_t ringlen;
	struct run_shared *sh;
};

/* What the parent keeps of a run. */
struct result {
	int ok;
	double cons_rate[MAX_FAN];
	double mean, min, prod;
	char why[WHY_LEN];
};

/* ------------------------------------------------------------------ */
/* Abort, signals                                                      */
/* ------------------------------------------------------------------ */

static _Atomic uint32_t *g_abort;
static unsigned g_index;	/* set before each fork: the consumer's index */

/* transport.h's spin_wait() asks this. */
int aborted(void)
{
	return g_abort && atomic_load_explicit(g_abort, memory_order_relaxed);
}

static pid_t live_pids[MAX_FAN + 1];
static char live_shm[MAX_FAN][128];

static void on_signal(int sig)
{
	unsigned i;

	for (i = 0; i <= MAX_FAN; i++)
		if (live_pids[i] > 0)
			kill(live_pids[i], SIGKILL);
	for (i = 0; i < MAX_FAN; i++)
		if (live_shm[i][0])
			unlink(live_shm[i]);
	_exit(128 + sig);
}

static BENCH_PRINTF(3, 4) void fail_note(char *why, const char *label, const char *fmt, ...)
{
	char msg[WHY_LEN];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (why && !why[0])
		snprintf(why, WHY_LEN, "%s", msg);
	fprintf(stderr, "fanout: [%s] %s\n", label, msg);
}

/* ------------------------------------------------------------------ */
/* Endpoints                                                           */
/* ------------------------------------------------------------------ */

#define IPCQ_WAIT_NS ((int64_t)WAIT_MS * 1000000)

/* One process's side of a run: its handles, or its place in the ring. */
struct end {
	struct run *r;
	struct ipcq *q[MAX_FAN];
	unsigned nq;
	uint64_t pos, cached;	/* ring: own position, the peer's as last seen */
	unsigned char (*buf)[MSG_SIZE];	/* MAX_BATCH private messages */
	struct ipcq_buf bufs[MAX_BATCH];
};

static int end_open(struct end *e, struct run *r, int producer)
{
	struct ipcq_attach_opts o = IPCQ_ATTACH_OPTS_INIT;
	char group[16];
	unsigned i, first;
	int rc;

	memset(e, 0, sizeof(*e));
	e->r = r;
	e->buf = aligned_alloc(BENCH_CACHE_LINE, MAX_BATCH * MSG_SIZE);
	if (!e->buf)
		return -ENOMEM;
	/* A recognisable pattern in the bytes nobody checks. */
	memset(e->buf, 0x5a, MAX_BATCH * MSG_SIZE);
	for (i = 0; i < MAX_BATCH; i++) {
		e->bufs[i].data = e->buf[i];
		e->bufs[i].len = MSG_SIZE;
	}
	if (opt.pin && bench_cpu_count() > 1)
		bench_pin_nth_cpu(producer ? 0 : (int)g_index + 1);
	if (r->cf->kind == K_RING) {
#ifdef MADV_POPULATE_WRITE
		(void)madvise(r->ring, r->ringlen, MADV_POPULATE_WRITE);
#endif
		return 0;
	}
	/* (c): the producer holds every queue, consumer i the i-th */
	first = producer || r->cf->kind != K_QUEUES ? 0 : g_index;
	e->nq = producer ? r->nq : 1;
	o.wait_strategy = opt.wait;
	o.name = producer ? "fanout-producer" : "fanout-consumer";
	if (!producer && r->cf->kind == K_GROUPS) {
		snprintf(group, sizeof(group), "g%u", g_index);
		o.group = group;
	}
	for (i = 0; i < e->nq; i++) {
		rc = ipcq_open(r->name[first + i], &e->q[i]);
		if (rc == 0)
			rc = ipcq_attach(e->q[i], producer ? IPCQ_ROLE_PRODUCER : IPCQ_ROLE_CONSUMER,
					 &o);
		if (rc < 0)
			return rc;
	}
	return 0;
}

static void end_close(struct end *e)
{
	unsigned i;

	for (i = 0; i < MAX_FAN; i++)
		if (e->q[i])
			ipcq_close(e->q[i]);
	free(e->buf);
	e->buf = NULL;
}

static unsigned char *ring_slot(const struct run *r, uint64_t pos)
{
	return r->ring->slots + (pos & (opt.capacity - 1)) * MSG_SIZE;
}

/* ------------------------------------------------------------------ */
/* Producer                                                            */
/* ------------------------------------------------------------------ */

/* Send bufs[0..n-1] on q, all of them.  0, 1 aborted, -errno. */
static int ipcq_send_all(struct ipcq *q, struct ipcq_buf *bufs, unsigned n)
{
	unsigned off = 0;
	int rc;

	while (off < n) {
		if (n == 1)
			rc = ipcq_send(q, bufs[0].data, MSG_SIZE, IPCQ_WAIT_NS);
		else
			rc = ipcq_send_batch(q, bufs + off, n - off, IPCQ_WAIT_NS);
		if (rc == -ETIMEDOUT) {
			if (aborted())
				return 1;
			continue;
		}
		if (rc < 0)
			return rc;
		off += n == 1 ? 1 : (unsigned)rc;
	}
	return 0;
}

/*
 * Send messages seq, seq + 1, ... (up to n, stamped in e->buf); returns how
 * many went (each to every queue), 0 on abort, -errno.
 */
static int prod_send(struct end *e, uint64_t id, uint64_t seq, unsigned n)
{
	struct run *r = e->r;
	unsigned i;
	int rc;

	for (i = 0; i < n; i++)
		stamp(e->buf[i], MSG_SIZE, id, seq + i);
	if (r->cf->kind == K_RING) {
		struct bring *ring = r->ring;
		uint64_t h = e->pos, room;
		unsigned spins = 0, j;

		while (h - e->cached >= opt.capacity) {
			uint64_t m = UINT64_MAX;

			/* A2: pairs with R2 in cons_recv(): the slowest reader */
			for (j = 0; j < r->nc; j++) {
				uint64_t p = atomic_load_explicit(&ring->rd[j].pos,
								  memory_order_acquire);
				if (p < m)
					m = p;
			}
			e->cached = m;
			if (h - m < opt.capacity)
				break;
			if (spin_wait(&spins))
				return 0;
		}
		room = opt.capacity - (h - e->cached);
		if (n > room)
			n = (unsigned)room;
		for (i = 0; i < n; i++)
			memcpy(ring_slot(r, h + i), e->buf[i], MSG_SIZE);
		/* R1: pairs with A1 in cons_recv(): publishes the slots */
		atomic_store_explicit(&ring->cursor, h + n, memory_order_release);
		e->pos = h + n;
		return (int)n;
	}
	if (e->nq == 1 && n > 1) {
		/* one queue: what it takes now, the rest is stamped again next time */
		do
			rc = ipcq_send_batch(e->q[0], e->bufs, n, IPCQ_WAIT_NS);
		while (rc == -ETIMEDOUT && !aborted());
		return rc == -ETIMEDOUT ? 0 : rc;
	}
	for (i = 0; i < e->nq; i++) {
		rc = ipcq_send_all(e->q[i], e->bufs, n);
		if (rc != 0)
			return rc > 0 ? 0 : rc;
	}
	return (int)n;
}

static int producer_main(void *arg)
{
	struct run *r = arg;
	struct run_shared *sh = r->sh;
	struct prod_stat *me = &sh->prod;
	uint64_t seq = 0;
	struct end e;
	int rc, measuring = 0, ret = 2;

	rc = end_open(&e, r, 1);
	if (rc < 0) {
		fail_note(me->why, r->label, "producer: open: %s", ipcq_strerror(rc));
		bench_barrier_abort(&sh->barrier);
		goto out;
	}
	if (bench_barrier_wait(&sh->barrier, NULL, NULL) < 0) {
		ret = 3;
		goto out;
	}
	for (;;) {
		uint32_t ph = atomic_load_explicit(&sh->phase, memory_order_relaxed);

		if (ph != PHASE_WARM && !measuring) {
			me->n0 = seq;
			me->t0 = bench_now_ns();
			measuring = 1;
		}
		if (ph == PHASE_STOP)
			break;
		rc = prod_send(&e, 0, seq + 1, r->batch);
		if (rc <= 0) {
			if (rc == 0) {
				ret = 3;
				goto out;
			}
			fail_note(me->why, r->label, "producer: send at seq %llu: %s",
				  (unsigned long long)(seq + 1), ipcq_strerror(rc));
			goto out;
		}
		seq += (unsigned)rc;
		me->sent = seq;
	}
	me->n1 = seq;
	me->t1 = bench_now_ns();
	/* The end marker carries the next sequence: the consumers check the tail too. */
	rc = prod_send(&e, END_ID, seq + 1, 1);
	if (rc < 0)
		fail_note(me->why, r->label, "producer: end marker: %s", ipcq_strerror(rc));
	ret = rc == 1 ? 0 : rc == 0 ? 3 : 2;
out:
	me->sent = seq;
	me->failed = ret == 2;
	end_close(&e);
	return ret;
}

/* ------------------------------------------------------------------ */
/* Consumers                                                           */
/* ------------------------------------------------------------------ */

/* Check one message; 1 for the end marker. */
static int check_msg(struct run *r, struct cons_stat *me, uint64_t *last,
		     const unsigned char *p, size_t len)
{
	uint64_t id, seq;

	if (len != MSG_SIZE) {
		me->errors++;
		fail_note(me->why, r->label, "consumer %u: message of %zu bytes after seq %llu",
			  g_index, len, (unsigned long long)*last);
		return 0;
	}
	id = load64(p);
	seq = load64(p + 8);
	if ((id != 0 && id != END_ID) || seq != *last + 1 || !stamp_ok(p, len, id, seq)) {
		const char *what = "payload corrupt";

		if (id != 0 && id != END_ID)
			what = "bad producer id";
		else if (seq <= *last)
			what = "duplicate or reordered";
		else if (seq != *last + 1)
			what = "gap: lost";
		me->errors++;
		fail_note(me->why, r->label, "consumer %u: id %llx seq %llu after %llu: %s",
			  g_index, (unsigned long long)id, (unsigned long long)seq,
			  (unsigned long long)*last, what);
	}
	*last = seq;
	if (id == END_ID)
		return 1;
	me->n++;
	return 0;
}

/* Receive up to r->batch messages into e->buf; how many, 0 on abort, -errno. */
static int cons_recv(struct end *e)
{
	struct run *r = e->r;
	unsigned i, n = r->batch;
	int rc;

	if (r->cf->kind == K_RING) {
		struct bring *ring = r->ring;
		uint64_t t = e->pos;
		unsigned spins = 0;

		while (e->cached == t) {
			/* A1: pairs with R1 in prod_send() */
			e->cached = atomic_load_explicit(&ring->cursor, memory_order_acquire);
			if (e->cached != t)
				break;
			if (spin_wait(&spins))
				return 0;
		}
		if (e->cached - t < n)
			n = (unsigned)(e->cached - t);
		for (i = 0; i < n; i++)
			memcpy(e->buf[i], ring_slot(r, t + i), MSG_SIZE);
		/* R2: pairs with A2 in prod_send(): the slots may be reused */
		atomic_store_explicit(&ring->rd[g_index].pos, t + n, memory_order_release);
		e->pos = t + n;
		for (i = 0; i < n; i++)
			e->bufs[i].len = MSG_SIZE;
		return (int)n;
	}
	if (n == 1) {
		do
			rc = ipcq_recv(e->q[0], e->buf[0], MSG_SIZE, NULL, IPCQ_WAIT_NS);
		while (rc == -ETIMEDOUT && !aborted());
		if (rc < 0)
			return rc == -ETIMEDOUT ? 0 : rc;
		e->bufs[0].len = (size_t)rc;
		return 1;
	}
	for (i = 0; i < n; i++)
		e->bufs[i].len = MSG_SIZE;
	do
		rc = ipcq_recv_batch(e->q[0], e->bufs, NULL, n, IPCQ_WAIT_NS);
	while (rc == -ETIMEDOUT && !aborted());
	if (rc == -ETIMEDOUT)
		return 0;
	return rc > (int)n ? -EPROTO : rc;
}

static int consumer_main(void *arg)
{
	struct run *r = arg;
	struct run_shared *sh = r->sh;
	struct cons_stat *me = &sh->cons[g_index];
	uint64_t last = 0;
	struct end e;
	int rc, i, ret = 2;

	rc = end_open(&e, r, 0);
	if (rc < 0) {
		fail_note(me->why, r->label, "consumer %u: open: %s", g_index, ipcq_strerror(rc));
		bench_barrier_abort(&sh->barrier);
		goto out;
	}
	if (bench_barrier_wait(&sh->barrier, NULL, NULL) < 0) {
		ret = 3;
		goto out;
	}
	while (!me->ended) {
		/* relaxed: the parent's flag, read where it costs one load per call */
		if (!me->measuring &&
		    atomic_load_explicit(&sh->phase, memory_order_relaxed) != PHASE_WARM) {
			me->n0 = me->n;
			me->t0 = bench_now_ns();
			me->measuring = 1;
		}
		rc = cons_recv(&e);
		if (rc <= 0) {
			if (rc == 0) {
				ret = 3;
				goto out;
			}
			fail_note(me->why, r->label, "consumer %u: recv: %s", g_index,
				  ipcq_strerror(rc));
			goto out;
		}
		for (i = 0; i < rc; i++)
			if (check_msg(r, me, &last, e.buf[i], e.bufs[i].len)) {
				me->ended = 1;
				if (i + 1 < rc) {
					me->errors++;
					fail_note(me->why, r->label, "consumer %u: messages after "
						  "the end marker", g_index);
				}
				break;
			}
	}
	me->n1 = me->n;
	me->t1 = bench_now_ns();
	ret = me->errors ? 1 : 0;
out:
	me->failed = ret == 1 || ret == 2;
	end_close(&e);
	return ret;
}

/* ------------------------------------------------------------------ */
/* Parent: one run                                                     */
/* ------------------------------------------------------------------ */

static int make_queue(struct run *r, unsigned i, uint32_t groups)
{
	struct ipcq_config cfg = IPCQ_CONFIG_INIT;
	char group[16];
	unsigned g;
	int rc;

	cfg.capacity = opt.capacity;
	cfg.max_msg_size = MSG_SIZE;
	cfg.max_participants = 2 * MAX_FAN + 2;
	cfg.max_groups = groups;
	snprintf(r->name[i], sizeof(r->name[i]), "fanout-%d-%u-%u", (int)getpid(), r->serial, i);
	rc = ipcq_create(r->name[i], &cfg, &r->q[i]);
	if (rc == -EEXIST) {
		ipcq_unlink(r->name[i]);
		rc = ipcq_create(r->name[i], &cfg, &r->q[i]);
	}
	if (rc < 0)
		return rc;
	snprintf(live_shm[i], sizeof(live_shm[i]), "/dev/shm/ipcq.%s", r->name[i]);
	for (g = 0; g < groups && rc >= 0; g++) {
		snprintf(group, sizeof(group), "g%u", g);
		rc = ipcq_group_create(r->q[i], group, 0);
	}
	return rc < 0 ? rc : 0;
}

static int run_setup(struct run *r)
{
	unsigned i;
	int rc = 0;

	r->sh = bench_shm_alloc(sizeof(*r->sh));
	if (!r->sh)
		return -ENOMEM;
	g_abort = &r->sh->abort;
	switch (r->cf->kind) {
	case K_RING:
		r->ringlen = sizeof(struct bring) + (size_t)opt.capacity * MSG_SIZE;
		r->ring = bench_shm_alloc(r->ringlen);
		return r->ring ? 0 : -ENOMEM;
	case K_GROUPS:
		r->nq = 1;
		return make_queue(r, 0, r->nc);
	case K_QUEUES:
		r->nq = r->nc;
		break;
	case K_CLASSIC:
		r->nq = 1;
		break;
	}
	for (i = 0; i < r->nq && rc == 0; i++)
		rc = make_queue(r, i, 0);
	return rc;
}

static void run_teardown(struct run *r)
{
	unsigned i;

	for (i = 0; i < MAX_FAN; i++) {
		if (!r->q[i])
			continue;
		ipcq_close(r->q[i]);
		ipcq_unlink(r->name[i]);
		r->q[i] = NULL;
		live_shm[i][0] = '\0';
	}
	bench_shm_free(r->ring, r->ringlen);
	r->ring = NULL;
	g_abort = NULL;
	bench_shm_free(r->sh, sizeof(*r->sh));
	r->sh = NULL;
}

/* The queues' own figures agree with what the processes counted. */
static int check_queues(struct run *r, uint64_t positions, char *why)
{
	unsigned i;
	int n, g;

	if (r->cf->kind == K_GROUPS) {
		struct ipcq_group_info gi[MAX_FAN];

		n = ipcq_group_list(r->q[0], gi, MAX_FAN);
		if (n != (int)r->nc) {
			snprintf(why, WHY_LEN, "ipcq_group_list: %d groups, expected %u", n, r->nc);
			return -1;
		}
		for (g = 0; g < n; g++)
			if (gi[g].position != positions || gi[g].lag != 0) {
				snprintf(why, WHY_LEN, "group %s: position %llu lag %llu, expected "
					 "%llu and 0", gi[g].name, (unsigned long long)gi[g].position,
					 (unsigned long long)gi[g].lag, (unsigned long long)positions);
				return -1;
			}
		return 0;
	}
	for (i = 0; i < r->nq; i++) {
		struct ipcq_info info;
		int rc;

		memset(&info, 0, sizeof(info));
		info.size = sizeof(info);
		rc = ipcq_info(r->q[i], &info);
		if (rc < 0 || info.enqueued != positions || info.dequeued != positions) {
			snprintf(why, WHY_LEN, "queue %u: ipcq_info rc %d, enqueued %llu dequeued %llu, "
				 "expected %llu", i, rc, (unsigned long long)info.enqueued,
				 (unsigned long long)info.dequeued, (unsigned long long)positions);
			return -1;
		}
	}
	return 0;
}

/* The start barrier's watcher: a child that exits before the start aborts it. */
static int child_exited(void *arg)
{
	int st;

	(void)arg;
	return waitpid(-1, &st, WNOHANG) > 0;
}

static void run_once(struct run *r, struct result *res)
{
	pid_t pids[MAX_FAN + 1];
	int status[MAX_FAN + 1];
	struct run_shared *sh;
	unsigned i, nc = r->nc;
	int n = 0, rc, left;
	char buf[64];

	memset(res, 0, sizeof(*res));
	memset(pids, 0, sizeof(pids));
	memset(status, 0, sizeof(status));
	rc = run_setup(r);
	if (rc < 0) {
		snprintf(res->why, sizeof(res->why), "setup: %s", ipcq_strerror(rc));
		goto out;
	}
	sh = r->sh;
	bench_barrier_init(&sh->barrier, nc + 2);
	for (i = 0; i <= nc; i++) {
		g_index = i;
		pids[n] = bench_fork(i < nc ? consumer_main : producer_main, r);
		if (pids[n] < 0) {
			snprintf(res->why, sizeof(res->why), "fork: %s", strerror(errno));
			bench_barrier_abort(&sh->barrier);
			break;
		}
		live_pids[n] = pids[n];
		n++;
	}
	if (n < (int)nc + 1 || bench_barrier_wait(&sh->barrier, child_exited, NULL) < 0) {
		if (!res->why[0])
			snprintf(res->why, sizeof(res->why), "a process failed before the start");
		atomic_store(&sh->abort, 1);
		bench_wait_all(pids, status, n, bench_now_ns() + 2000000000ull);
		bench_kill_all(pids, status, n);
		goto reap;
	}
	bench_sleep_ns(opt.warmup_ns);
	atomic_store_explicit(&sh->phase, PHASE_MEASURE, memory_order_relaxed);
	bench_sleep_ns(opt.duration_ns);
	atomic_store_explicit(&sh->phase, PHASE_STOP, memory_order_relaxed);
	left = bench_wait_all(pids, status, n, bench_now_ns() + opt.cap_ns);
	if (left > 0) {
		snprintf(res->why, sizeof(res->why), "not finished %.1f s after the measuring "
			 "time (%d process(es) left)", opt.cap_ns / 1e9, left);
		atomic_store(&sh->abort, 1);
		if (bench_wait_all(pids, status, n, bench_now_ns() + 2000000000ull) > 0)
			bench_kill_all(pids, status, n);
	}
reap:
	memset(live_pids, 0, sizeof(live_pids));
	for (i = 0; i < (unsigned)n; i++)
		if (!WIFEXITED(status[i]) || WEXITSTATUS(status[i]) != 0) {
			fprintf(stderr, "fanout: [%s] %s %u: %s\n", r->label,
				i < nc ? "consumer" : "producer", i < nc ? i : 0,
				bench_status_str(status[i], buf, sizeof(buf)));
			if (!res->why[0])
				snprintf(res->why, sizeof(res->why), "%s",
					 i < nc ? sh->cons[i].why : sh->prod.why);
			if (!res->why[0])
				snprintf(res->why, sizeof(res->why), "%s %u: %s",
					 i < nc ? "consumer" : "producer", i, buf);
		}
	if (res->why[0])
		goto out;
	/* Every consumer received every message the producer sent, and nothing else. */
	for (i = 0; i < nc; i++) {
		struct cons_stat *c = &sh->cons[i];

		if (c->errors || !c->ended || c->n != sh->prod.sent) {
			snprintf(res->why, sizeof(res->why), "consumer %u: %llu messages, %llu errors, "
				 "end %s; the producer sent %llu", i, (unsigned long long)c->n,
				 (unsigned long long)c->errors, c->ended ? "taken" : "missing",
				 (unsigned long long)sh->prod.sent);
			goto out;
		}
		if (!c->measuring || c->t1 <= c->t0 || c->n1 <= c->n0) {
			snprintf(res->why, sizeof(res->why), "consumer %u: no measuring window", i);
			goto out;
		}
		res->cons_rate[i] = (double)(c->n1 - c->n0) / ((double)(c->t1 - c->t0) / 1e9);
	}
	if (r->cf->kind != K_RING && check_queues(r, sh->prod.sent + 1, res->why) < 0)
		goto out;
	res->mean = 0;
	res->min = res->cons_rate[0];
	for (i = 0; i < nc; i++) {
		res->mean += res->cons_rate[i] / nc;
		if (res->cons_rate[i] < res->min)
			res->min = res->cons_rate[i];
	}
	if (sh->prod.t1 > sh->prod.t0)
		res->prod = (double)(sh->prod.n1 - sh->prod.n0) /
			    ((double)(sh->prod.t1 - sh->prod.t0) / 1e9);
	res->ok = 1;
out:
	if (!res->ok)
		fprintf(stderr, "fanout: [%s] FAIL: %s\n", r->label, res->why);
	if (r->sh)
		run_teardown(r);
}

/* ------------------------------------------------------------------ */
/* The plan, the table, the ratios                                     */
/* ------------------------------------------------------------------ */

static struct result results[2][N_CONFIGS][MAX_RUNS];
static unsigned done[2][N_CONFIGS];
static int failed[2][N_CONFIGS];

static int wanted(unsigned c)
{
	return !opt.only || (opt.only & (1u << c));
}

static unsigned consumers_of(const struct config *cf)
{
	return cf->fanned ? opt.fan : 1;
}

static void describe(const struct config *cf, char *buf, size_t len)
{
	unsigned n = consumers_of(cf);

	switch (cf->kind) {
	case K_GROUPS:
		snprintf(buf, len, "ipcq, %u group%s x 1 consumer", n, n > 1 ? "s" : "");
		break;
	case K_QUEUES:
		snprintf(buf, len, "ipcq, %u queues, each message sent %u times", n, n);
		break;
	case K_RING:
		snprintf(buf, len, "broadcast ring, %u reader%s", n, n > 1 ? "s" : "");
		break;
	case K_CLASSIC:
		snprintf(buf, len, "ipcq, no groups, 1 consumer");
		break;
	}
}

static double median(double *v, unsigned n)
{
	unsigned i, j;

	for (i = 1; i < n; i++)
		for (j = i; j > 0 && v[j - 1] > v[j]; j--) {
			double t = v[j];

			v[j] = v[j - 1];
			v[j - 1] = t;
		}
	return n == 0 ? 0.0 : n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Median over the runs of a configuration: field 0 mean, 1 slowest, 2 producer. */
static double med_of(unsigned b, unsigned c, int field, double *lo, double *hi)
{
	double v[MAX_RUNS];
	unsigned i, n = done[b][c];

	for (i = 0; i < n; i++) {
		const struct result *res = &results[b][c][i];

		v[i] = field == 0 ? res->mean : field == 1 ? res->min : res->prod;
	}
	median(v, n);
	if (lo)
		*lo = n ? v[0] : 0;
	if (hi)
		*hi = n ? v[n - 1] : 0;
	return median(v, n);
}

static const char *key_of(unsigned c)
{
	static char buf[8];

	if (c == C_DN) {
		snprintf(buf, sizeof(buf), "d%u", opt.fan);
		return buf;
	}
	return configs[c].key;
}

/* (x)/(y) in call mode b: the ratio of the medians and the range of the per-round ratios. */
static void print_ratio(unsigned b, unsigned x, unsigned y, const char *what, double goal)
{
	double mx, my, rr[MAX_RUNS], lo, hi;
	unsigned i, n;
	char kx[8];

	if (!wanted(x) || !wanted(y))
		return;
	snprintf(kx, sizeof(kx), "%s", key_of(x));
	if (failed[b][x] || failed[b][y] || !done[b][x] || !done[b][y]) {
		printf("  (%s)/(%s) %-44s  n/a (a run failed)\n", kx, key_of(y), what);
		return;
	}
	mx = med_of(b, x, 0, NULL, NULL);
	my = med_of(b, y, 0, NULL, NULL);
	n = done[b][x] < done[b][y] ? done[b][x] : done[b][y];
	for (i = 0; i < n; i++)
		rr[i] = results[b][x][i].mean / results[b][y][i].mean;
	median(rr, n);
	lo = rr[0];
	hi = rr[n - 1];
	printf("  (%s)/(%s) %-44s %6.3fx  (%.2f vs %.2f Mmsg/s; rounds %.2f-%.2f)", kx, key_of(y),
	       what, mx / my, mx / 1e6, my / 1e6, lo, hi);
	if (goal > 0)
		printf("  goal >= %.1f: %s", goal, mx / my >= goal ? "met" : "MISSED");
	printf("\n");
}

static void print_machine(void)
{
	char model[128] = "unknown CPU", line[256];
	FILE *f = fopen("/proc/cpuinfo", "r");
	unsigned procs = opt.fan + 1;

	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, "model name", 10) && strchr(line, ':')) {
			snprintf(model, sizeof(model), "%s", strchr(line, ':') + 2);
			model[strcspn(model, "\n")] = '\0';
			break;
		}
	if (f)
		fclose(f);
	printf("fanout: one producer, every message to every consumer; %u-byte messages, depth %u, "
	       "%u run(s) of %.0f ms (+%.0f ms warm-up) per case, interleaved; median\n",
	       MSG_SIZE, opt.capacity, opt.repeat, opt.duration_ns / 1e6, opt.warmup_ns / 1e6);
	printf("machine: %d CPU(s) usable, %s; load %.2f; ipcq %s, wait %s; processes %s\n",
	       bench_cpu_count(), model, bench_loadavg(), ipcq_version_string(), opt.wait_name,
	       opt.pin ? "pinned (producer: first CPU, consumer i: CPU i + 1, modulo)"
		       : "left to the scheduler (--pin pins them)");
	if ((int)procs > bench_cpu_count())
		printf("note: the %u-consumer cases run %u busy-polling processes on %d CPU(s): their "
		       "figures are dominated by how the scheduler shares the cores, not by the "
		       "queue alone\n", opt.fan, procs, bench_cpu_count());
	printf("\n");
}

static void usage(void)
{
	printf("usage: fanout [options]\n"
	       "  one producer, 64-byte messages, every message to every consumer:\n"
	       "  (a) ipcq 1 group, (b) ipcq N groups, (c) N ipcq queues, (d1)/(dN) a\n"
	       "  hand-written broadcast ring, (e) ipcq without groups; every message\n"
	       "  verified; msg/s per consumer and the ratios\n"
	       "options:\n"
	       "  --quick            3 runs of 200 ms per case\n"
	       "  --repeat N         runs per case, median (default 5, at most %d)\n"
	       "  --duration-ms N    measuring time of a run (default 500)\n"
	       "  --warmup-ms N      before it (default 100)\n"
	       "  --cap-ms N         how long a run may take past its measuring time (default %d)\n"
	       "  --batch LIST       call modes, 1 and/or 32 (default 1,32)\n"
	       "  --fan N            groups, queues and readers of (b), (c), (dN) (2-%d, default 4)\n"
	       "  --only LIST        configurations: a,b,c,d1,dN,e\n"
	       "  --wait NAME        ipcq wait strategy: busy_poll (default), adaptive, yield\n"
	       "  --capacity N       slots of every queue and of the ring (power of two, default 1024)\n"
	       "  --pin              pin the producer and each consumer to CPUs in turn\n"
	       "  --csv PATH         also write one row per run\n",
	       MAX_RUNS, CAP_DEFAULT_MS, MAX_FAN);
}

static int parse_uint(const char *s, unsigned lo, unsigned hi, unsigned *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end || v < lo || v > hi)
		return -1;
	*out = (unsigned)v;
	return 0;
}

static int parse_list(char *s, int batches)
{
	char *tok, *save = NULL;
	unsigned v, c;

	if (batches)
		opt.n_batches = 0;
	else
		opt.only = 0;
	for (tok = strtok_r(s, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (batches) {
			if ((parse_uint(tok, 1, 1, &v) && parse_uint(tok, 32, 32, &v)) ||
			    opt.n_batches == 2)
				return -1;
			opt.batches[opt.n_batches++] = v;
			continue;
		}
		for (c = 0; c < N_CONFIGS; c++)
			if (!strcmp(tok, configs[c].key) || !strcmp(tok, key_of(c)))
				break;
		if (c == N_CONFIGS)
			return -1;
		opt.only |= 1u << c;
	}
	return 0;
}

static int parse_options(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "quick", no_argument, NULL, 'q' },
		{ "repeat", required_argument, NULL, 'r' },
		{ "duration-ms", required_argument, NULL, 'd' },
		{ "warmup-ms", required_argument, NULL, 'w' },
		{ "cap-ms", required_argument, NULL, 'c' },
		{ "batch", required_argument, NULL, 'b' },
		{ "fan", required_argument, NULL, 'n' },
		{ "only", required_argument, NULL, 'o' },
		{ "wait", required_argument, NULL, 'W' },
		{ "capacity", required_argument, NULL, 'C' },
		{ "pin", no_argument, NULL, 'p' },
		{ "csv", required_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	char *only = NULL;
	unsigned v;
	int ch;

	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (ch) {
		case 'q':
			opt.repeat = 3;
			opt.duration_ns = 200000000ull;
			opt.warmup_ns = 50000000ull;
			break;
		case 'r':
			if (parse_uint(optarg, 1, MAX_RUNS, &opt.repeat))
				goto bad;
			break;
		case 'd':
		case 'w':
		case 'c':
			if (parse_uint(optarg, ch == 'w' ? 0 : 1, 600000, &v))
				goto bad;
			*(ch == 'd' ? &opt.duration_ns : ch == 'w' ? &opt.warmup_ns : &opt.cap_ns) =
				(uint64_t)v * 1000000ull;
			break;
		case 'b':
			if (parse_list(optarg, 1))
				goto bad;
			break;
		case 'n':
			if (parse_uint(optarg, 2, MAX_FAN, &opt.fan))
				goto bad;
			break;
		case 'o':
			only = optarg; /* parsed after --fan: dN names it */
			break;
		case 'W':
			if (!strcmp(optarg, "busy_poll"))
				opt.wait = IPCQ_WAIT_BUSY_POLL;
			else if (!strcmp(optarg, "adaptive"))
				opt.wait = IPCQ_WAIT_ADAPTIVE;
			else if (!strcmp(optarg, "yield"))
				opt.wait = IPCQ_WAIT_YIELD;
			else
				goto bad;
			opt.wait_name = optarg;
			break;
		case 'C':
			if (parse_uint(optarg, 64, 1u << 20, &opt.capacity) ||
			    (opt.capacity & (opt.capacity - 1)))
				goto bad;
			break;
		case 'p':
			opt.pin = 1;
			break;
		case 'f':
			opt.csv_path = optarg;
			break;
		case 'h':
			usage();
			exit(0);
		default:
			usage();
			return -1;
		}
	}
	if (optind < argc || (only && parse_list(only, 0)))
		goto bad;
	return 0;
bad:
	fprintf(stderr, "fanout: bad option or value (--help lists them)\n");
	return -1;
}

int main(int argc, char **argv)
{
	static struct run r;
	FILE *csv = NULL;
	unsigned b, c, round;
	int any_fail = 0;
	char what[96];

	if (parse_options(argc, argv) < 0)
		return 2;
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	if (opt.csv_path) {
		csv = bench_csv_open(opt.csv_path, "config,what,batch,consumers,round,status,"
				     "per_consumer_msgs_per_s,slowest_msgs_per_s,producer_msgs_per_s");
		if (!csv)
			return 2;
	}
	print_machine();
	printf("%-4s %-44s %5s %5s  %s\n", "case", "", "batch", "round",
	       "Mmsg/s per consumer (each consumer), producer Mmsg/s");
	for (round = 0; round < opt.repeat; round++)
		for (b = 0; b < opt.n_batches; b++)
			for (c = 0; c < N_CONFIGS; c++) {
				struct result *res;

				if (!wanted(c) || failed[b][c])
					continue;
				memset(&r, 0, sizeof(r));
				r.cf = &configs[c];
				r.batch = opt.batches[b];
				r.nc = consumers_of(r.cf);
				r.serial = round * 100 + b * 10 + c;
				describe(r.cf, what, sizeof(what));
				snprintf(r.label, sizeof(r.label), "(%s) %s, batch %u", key_of(c), what,
					 r.batch);
				res = &results[b][c][done[b][c]];
				run_once(&r, res);
				printf("%-4s %-44s %5u %5u  ", key_of(c), what, r.batch, round + 1);
				if (res->ok) {
					unsigned i;

					printf("%6.3f (", res->mean / 1e6);
					for (i = 0; i < r.nc; i++)
						printf("%s%.3f", i ? " " : "", res->cons_rate[i] / 1e6);
					printf("), producer %.3f\n", res->prod / 1e6);
					done[b][c]++;
				} else {
					printf("FAIL  %s\n", res->why);
					failed[b][c] = 1;
					any_fail = 1;
				}
				fflush(stdout);
				bench_csv_row(csv, "%s,\"%s\",%u,%u,%u,%s,%.1f,%.1f,%.1f", key_of(c),
					      what, r.batch, r.nc, round + 1, res->ok ? "ok" : "FAIL",
					      res->mean, res->min, res->prod);
			}

	printf("\nMedians of %u runs, Mmsg/s (min-max over the runs):\n", opt.repeat);
	printf("%-4s %-44s %5s %22s %18s %10s\n", "case", "", "batch", "per consumer",
	       "slowest consumer", "producer");
	for (b = 0; b < opt.n_batches; b++)
		for (c = 0; c < N_CONFIGS; c++) {
			double lo, hi, med;

			if (!wanted(c))
				continue;
			describe(&configs[c], what, sizeof(what));
			printf("%-4s %-44s %5u ", key_of(c), what, opt.batches[b]);
			if (failed[b][c] || !done[b][c]) {
				printf("%22s\n", "FAIL");
				continue;
			}
			med = med_of(b, c, 0, &lo, &hi);
			printf("%7.3f (%5.2f-%5.2f) %18.3f %10.3f\n", med / 1e6,
			       lo / 1e6, hi / 1e6, med_of(b, c, 1, NULL, NULL) / 1e6,
			       med_of(b, c, 2, NULL, NULL) / 1e6);
		}
	for (b = 0; b < opt.n_batches; b++) {
		char w[64];

		printf("\nRatios, batch %u (of the per-consumer medians):\n", opt.batches[b]);
		snprintf(w, sizeof(w), "%u groups per group over 1 group", opt.fan);
		print_ratio(b, C_B, C_A, w, 0.8);
		snprintf(w, sizeof(w), "%u groups over %u queues sent %u times", opt.fan, opt.fan,
			 opt.fan);
		print_ratio(b, C_B, C_C, w, 0);
		snprintf(w, sizeof(w), "%u groups over the ring with %u readers", opt.fan, opt.fan);
		print_ratio(b, C_B, C_DN, w, 0);
		print_ratio(b, C_E, C_A, "no groups over 1 group", 0);
		snprintf(w, sizeof(w), "the ring: %u readers over 1", opt.fan);
		print_ratio(b, C_DN, C_D1, w, 0);
	}
	if ((int)opt.fan + 1 > bench_cpu_count())
		printf("\n(%u+1 processes on %d CPU(s): the fanned-out figures are dominated by "
		       "scheduling)\n", opt.fan, bench_cpu_count());
	if (csv)
		fclose(csv);
	return any_fail ? 1 : 0;
}
