/*
 * ipcq_bench - throughput and round-trip latency of ipcq between real
 * forked processes, next to a hand-written SPSC ring as the reference.
 *
 * Throughput: P producers and C consumers (1/1, 2/2, 4/4), each its own
 * process with its own ipcq handle (ipcq_open + ipcq_attach, wait strategy
 * set per handle), started together by a process-shared barrier.  Producers
 * send for a fixed duration (single calls, or ipcq_send_batch of 32 with
 * the unsent tail resent); then the parent sends end markers and the
 * consumers drain.  Every message is checked by its consumer:
 *
 *   bytes  0..7   producer id (0..P-1; UINT64_MAX marks the end)
 *   bytes  8..15  per-producer sequence, from 1
 *   bytes mid..   check word derived from (id, seq), mid = (size / 2) & ~7
 *   last 8 bytes  another check word derived from (id, seq)
 *
 * the length, the sequence strictly increasing per producer (exactly +1 with
 * one consumer), both check words, and the library's msginfo (len, seq,
 * producer index).  At the end the parent checks, per producer, that count,
 * sum and sum of squares of the sequences received by all consumers match
 * what was sent (nothing lost, nothing duplicated), and that the queue's
 * enqueued/dequeued counters agree.  Any failure makes the exit status 1.
 *
 * Latency: two processes ping-pong a 64-byte message over two queues, one
 * message in flight; every round trip goes into a log-linear histogram.
 *
 * Reference: a single-producer single-consumer ring in shared memory (head
 * and tail on their own cache lines, C11 acquire/release, busy-poll),
 * measured for 1/1 throughput at 64 bytes and for round-trip latency; the
 * program prints the ipcq/ring ratios.
 *
 * Output: a table on stdout and CSV (default bench/results/ipcq_bench.csv).
 * Run with --help for the options.
 */
#include "benchutil.h"

#include <getopt.h>

#include "ipcq.h"

#define MAX_SIDE 8		/* producers or consumers per run */
#define MAX_BATCH 256
#define END_ID UINT64_MAX	/* producer id of an end marker */
#define STAMP_EVERY 64		/* consumer clock reads: one per this many messages */
#define WHY_LEN 240
#define MAX_REPEAT 15

static const char csv_header[] =
	"transport,mode,strategy,batch,producers,consumers,msg_size,msgs,seconds,"
	"msgs_per_s,mb_per_s,p50_ns,p99_ns,p999_ns,max_ns,status";

/* ------------------------------------------------------------------ */
/* Options and results                                                 */
/* ------------------------------------------------------------------ */

struct strategy {
	uint32_t id;
	const char *name;
};

static const struct strategy strategies[] = {
	{ IPCQ_WAIT_BUSY_POLL, "busy_poll" },
	{ IPCQ_WAIT_ADAPTIVE, "adaptive" },
	{ IPCQ_WAIT_YIELD, "yield" },
};
#define N_STRATEGIES (sizeof(strategies) / sizeof(strategies[0]))

static const unsigned default_pcs[] = { 1, 2, 4 };
static const unsigned default_sizes[] = { 64, 1024, 16384 };
static const unsigned default_batches[] = { 1, 32 };

struct options {
	uint64_t duration_ns;	 /* per throughput configuration */
	uint64_t lat_duration_ns; /* per latency configuration */
	uint64_t watchdog_ns;	 /* how long a run may overrun before it is a hang */
	int do_throughput;
	int do_latency;
	int do_ring;
	int strategy;		/* index into strategies[], -1 for all */
	unsigned pc;		/* 0 for all */
	unsigned size;		/* 0 for all */
	unsigned batch;		/* 0 for all */
	unsigned capacity;
	unsigned repeat;	/* throughput runs per case; the median is reported */
	const char *csv_path;
};

struct result {
	char transport[8];
	char mode[12];
	char strategy[12];
	unsigned batch, producers, consumers, msg_size;
	uint64_t msgs;
	double seconds;
	uint64_t p50, p99, p999, max; /* latency only */
	int ok;
	char status[8]; /* ok, FAIL, HANG */
};

#define MAX_RESULTS 256
static struct result results[MAX_RESULTS];
static unsigned n_results;
static FILE *csv;
static int any_failure;
/* Latency pairs: pinger on the first CPU, ponger on the second (--no-pin: off). */
static int pin_latency = 1;

static void maybe_pin(int n)
{
	if (pin_latency && bench_cpu_count() > 1)
		bench_pin_nth_cpu(n);
}

/* ------------------------------------------------------------------ */
/* Cleanup on signals: kill our children, remove our segments          */
/* ------------------------------------------------------------------ */

#define MAX_CHILDREN (2 * MAX_SIDE)
static pid_t live_pids[MAX_CHILDREN];
static char live_paths[3][IPCQ_NAME_MAX + 32];

static void on_signal(int sig)
{
	unsigned i;

	for (i = 0; i < MAX_CHILDREN; i++)
		if (live_pids[i] > 0)
			kill(live_pids[i], SIGKILL);
	for (i = 0; i < 3; i++)
		if (live_paths[i][0])
			unlink(live_paths[i]); /* async-signal-safe; ipcq_unlink may not be */
	_exit(128 + sig);
}

static void track_pids(const pid_t *pids, int n)
{
	int i;

	for (i = 0; i < MAX_CHILDREN; i++)
		live_pids[i] = i < n ? pids[i] : 0;
}

/* Remember segment @slot's path for on_signal(); NULL forgets it. */
static void track_queue(int slot, const char *name)
{
	if (name)
		snprintf(live_paths[slot], sizeof(live_paths[slot]), "/dev/shm/ipcq.%s", name);
	else
		live_paths[slot][0] = '\0';
}

static unsigned queue_serial;

static void queue_name(char *buf, size_t len, const char *what)
{
	snprintf(buf, len, "bench-%d-%u-%s", (int)getpid(), queue_serial++, what);
}

/* Create queue @name; a leftover of a dead run with a reused pid is replaced. */
static int queue_create(const char *name, unsigned capacity, unsigned max_msg,
			struct ipcq **out)
{
	struct ipcq_config cfg = IPCQ_CONFIG_INIT;
	int rc;

	cfg.capacity = capacity;
	cfg.max_msg_size = max_msg;
	cfg.max_participants = 2 * MAX_SIDE + 2;
	rc = ipcq_create(name, &cfg, out);
	if (rc == -EEXIST) {
		ipcq_unlink(name);
		rc = ipcq_create(name, &cfg, out);
	}
	if (rc < 0)
		fprintf(stderr, "bench: ipcq_create(%s): %s\n", name, ipcq_strerror(rc));
	return rc;
}

/* ipcq_send() succeeded: 0, or IPCQ_SEND_PRESSURE (queued, above the high watermark). */
static inline int sent_ok(int rc)
{
	return rc == 0 || rc == IPCQ_SEND_PRESSURE;
}

static int attach(struct ipcq *q, unsigned roles, uint32_t strategy, const char *pname)
{
	struct ipcq_attach_opts o = IPCQ_ATTACH_OPTS_INIT;

	o.wait_strategy = strategy;
	o.name = pname;
	return ipcq_attach(q, roles, &o);
}

/* ------------------------------------------------------------------ */
/* Message format                                                      */
/* ------------------------------------------------------------------ */

static inline uint64_t load64(const unsigned char *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
	return v;
}

static inline void store64(unsigned char *p, uint64_t v)
{
	memcpy(p, &v, 8);
}

static inline uint64_t check_tail(uint64_t id, uint64_t seq)
{
	return (seq * 0x9e3779b97f4a7c15ull) ^ (id << 48) ^ 0x5bd1e9955bd1e995ull;
}

static inline uint64_t check_mid(uint64_t id, uint64_t seq)
{
	return ~(seq * 0xc2b2ae3d27d4eb4full) ^ (id << 40);
}

static inline size_t mid_offset(size_t size)
{
	return (size / 2) & ~(size_t)7;
}

/* Sizes below this have no room for the check words. */
#define MIN_MSG_SIZE 40

static inline void stamp(unsigned char *p, size_t size, uint64_t id, uint64_t seq)
{
	store64(p, id);
	store64(p + 8, seq);
	store64(p + mid_offset(size), check_mid(id, seq));
	store64(p + size - 8, check_tail(id, seq));
}

/* A message buffer filled with a recognisable pattern (the bytes no one checks). */
static unsigned char *msg_alloc(size_t size)
{
	unsigned char *p = aligned_alloc(64, (size + 63) & ~(size_t)63);

	if (p)
		memset(p, 0x5a, size);
	return p;
}

/* ------------------------------------------------------------------ */
/* Throughput run: shared state                                        */
/* ------------------------------------------------------------------ */

struct tp_producer {
	uint64_t sent;
	uint64_t start_ns;
	uint64_t end_ns;	/* after its last send returned */
	int32_t failed;
	char why[WHY_LEN];
} __attribute__((aligned(BENCH_HOT_ALIGN)));

struct tp_consumer {
	uint64_t count[MAX_SIDE];
	uint64_t sum[MAX_SIDE];
	uint64_t sumsq[MAX_SIDE];
	uint64_t start_ns;
	uint64_t last_ns;	/* clock read every STAMP_EVERY data messages: the last one */
	uint64_t ends;		/* end markers taken */
	uint64_t errors;	/* verification failures */
	int32_t failed;
	char why[WHY_LEN];	/* the first failure */
} __attribute__((aligned(BENCH_HOT_ALIGN)));

struct tp_shared {
	struct bench_barrier barrier;
	_Alignas(BENCH_HOT_ALIGN) _Atomic uint32_t stop; /* written once by the parent */
	_Alignas(BENCH_HOT_ALIGN) struct tp_producer prod[MAX_SIDE];
	struct tp_consumer cons[MAX_SIDE];
};

/* What a child needs to know; copied into it by fork(). */
struct tp_ctx {
	const char *name;	/* queue name */
	const char *label;	/* configuration, for messages */
	const struct strategy *strat;
	unsigned batch, producers, consumers, size;
	unsigned index;		/* this child's producer or consumer index */
	struct tp_shared *sh;
};

static BENCH_PRINTF(3, 4) void fail_note(char *why, const char *label, const char *fmt, ...)
{
	char msg[WHY_LEN];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (why && !why[0])
		snprintf(why, WHY_LEN, "%s", msg);
	fprintf(stderr, "bench: [%s] %s\n", label, msg);
}

/* Child exit codes. */
enum { CHILD_OK = 0, CHILD_VERIFY = 1, CHILD_API = 2, CHILD_ABORTED = 3 };

static int tp_producer_main(void *arg)
{
	const struct tp_ctx *c = arg;
	struct tp_producer *me = &c->sh->prod[c->index];
	struct ipcq_buf bufs[MAX_BATCH];
	struct ipcq *q = NULL;
	const uint64_t id = c->index;
	uint64_t seq = 0;
	char pname[32];
	unsigned i;
	int rc, ret = CHILD_API;

	for (i = 0; i < c->batch; i++) {
		bufs[i].data = msg_alloc(c->size);
		bufs[i].len = c->size;
		if (!bufs[i].data) {
			fail_note(me->why, c->label, "producer %u: out of memory", c->index);
			bench_barrier_abort(&c->sh->barrier);
			return CHILD_API;
		}
	}
	rc = ipcq_open(c->name, &q);
	if (rc == 0) {
		snprintf(pname, sizeof(pname), "bench-producer-%u", c->index);
		rc = attach(q, IPCQ_ROLE_PRODUCER, c->strat->id, pname);
	}
	if (rc < 0) {
		fail_note(me->why, c->label, "producer %u: open/attach: %s", c->index,
			  ipcq_strerror(rc));
		bench_barrier_abort(&c->sh->barrier);
		goto out;
	}
	if (bench_barrier_wait(&c->sh->barrier, NULL, NULL) < 0) {
		ret = CHILD_ABORTED;
		goto out;
	}
	me->start_ns = bench_now_ns();

	if (c->batch == 1) {
		unsigned char *p = bufs[0].data;

		while (!atomic_load_explicit(&c->sh->stop, memory_order_relaxed)) {
			stamp(p, c->size, id, ++seq);
			rc = ipcq_send(q, p, c->size, IPCQ_FOREVER);
			if (!sent_ok(rc)) {
				fail_note(me->why, c->label, "producer %u: ipcq_send seq %llu returned %d: %s",
					  c->index, (unsigned long long)seq, rc, ipcq_strerror(rc));
				seq--;
				goto out;
			}
		}
	} else {
		while (!atomic_load_explicit(&c->sh->stop, memory_order_relaxed)) {
			unsigned sent = 0;

			for (i = 0; i < c->batch; i++)
				stamp(bufs[i].data, c->size, id, seq + 1 + i);
			while (sent < c->batch) {
				rc = ipcq_send_batch(q, bufs + sent, c->batch - sent, IPCQ_FOREVER);
				if (rc <= 0 || (unsigned)rc > c->batch - sent) {
					fail_note(me->why, c->label,
						  "producer %u: ipcq_send_batch(n=%u) at seq %llu returned %d: %s",
						  c->index, c->batch - sent,
						  (unsigned long long)(seq + sent + 1), rc,
						  rc < 0 ? ipcq_strerror(rc) : "out of range");
					seq += sent;
					goto out;
				}
				sent += (unsigned)rc;
			}
			seq += c->batch;
		}
	}
	ret = CHILD_OK;
out:
	me->end_ns = bench_now_ns();
	me->sent = seq;
	me->failed = ret != CHILD_OK && ret != CHILD_ABORTED;
	if (q)
		ipcq_close(q);
	for (i = 0; i < c->batch; i++)
		free(bufs[i].data);
	return ret;
}

/* Per-consumer verification state. */
struct tp_check {
	uint64_t last_seq[MAX_SIDE];
	int32_t lib_producer[MAX_SIDE]; /* msginfo.producer seen for each id, -1 unknown */
};

/* Check one received message; returns 1 for an end marker, 0 otherwise. */
static int tp_verify(const struct tp_ctx *c, struct tp_consumer *me, struct tp_check *st,
		     const unsigned char *p, size_t len, const struct ipcq_msginfo *info)
{
	uint64_t id, seq;

	if (len >= 16 && load64(p) == END_ID) {
		me->ends++;
		return 1;
	}
	if (len != c->size) {
		me->errors++;
		fail_note(me->why, c->label, "consumer %u: message of %zu bytes, expected %u",
			  c->index, len, c->size);
		return 0;
	}
	id = load64(p);
	seq = load64(p + 8);
	if (id >= c->producers) {
		me->errors++;
		fail_note(me->why, c->label, "consumer %u: bad producer id %llu (seq field %llu)",
			  c->index, (unsigned long long)id, (unsigned long long)seq);
		return 0;
	}
	if (c->consumers == 1 ? seq != st->last_seq[id] + 1 : seq <= st->last_seq[id]) {
		me->errors++;
		fail_note(me->why, c->label,
			  "consumer %u: producer %llu: seq %llu after seq %llu (%s)", c->index,
			  (unsigned long long)id, (unsigned long long)seq,
			  (unsigned long long)st->last_seq[id],
			  seq <= st->last_seq[id] ? "duplicate or reordered" : "gap: messages lost");
	}
	if (load64(p + len - 8) != check_tail(id, seq) ||
	    load64(p + mid_offset(len)) != check_mid(id, seq)) {
		me->errors++;
		fail_note(me->why, c->label,
			  "consumer %u: producer %llu seq %llu: payload corrupt (check words differ)",
			  c->index, (unsigned long long)id, (unsigned long long)seq);
	}
	if (info->len != len || info->seq != seq) {
		me->errors++;
		fail_note(me->why, c->label,
			  "consumer %u: producer %llu seq %llu: msginfo says len %llu seq %llu",
			  c->index, (unsigned long long)id, (unsigned long long)seq,
			  (unsigned long long)info->len, (unsigned long long)info->seq);
	}
	if (st->lib_producer[id] < 0) {
		st->lib_producer[id] = (int32_t)info->producer;
	} else if (st->lib_producer[id] != (int32_t)info->producer) {
		me->errors++;
		fail_note(me->why, c->label,
			  "consumer %u: producer %llu seq %llu: msginfo.producer %u, earlier %d",
			  c->index, (unsigned long long)id, (unsigned long long)seq,
			  info->producer, st->lib_producer[id]);
	}
	st->last_seq[id] = seq;
	me->count[id]++;
	me->sum[id] += seq;
	me->sumsq[id] += seq * seq;
	return 0;
}

static int tp_consumer_main(void *arg)
{
	const struct tp_ctx *c = arg;
	struct tp_consumer *me = &c->sh->cons[c->index];
	struct ipcq_buf bufs[MAX_BATCH];
	struct ipcq_msginfo infos[MAX_BATCH];
	struct tp_check st;
	struct ipcq *q = NULL;
	uint64_t n = 0, next_stamp = STAMP_EVERY;
	char pname[32];
	unsigned i;
	int rc, done = 0, ret = CHILD_API;

	memset(&st, 0, sizeof(st));
	for (i = 0; i < MAX_SIDE; i++)
		st.lib_producer[i] = -1;
	for (i = 0; i < c->batch; i++) {
		bufs[i].data = msg_alloc(c->size);
		if (!bufs[i].data) {
			fail_note(me->why, c->label, "consumer %u: out of memory", c->index);
			bench_barrier_abort(&c->sh->barrier);
			return CHILD_API;
		}
	}
	rc = ipcq_open(c->name, &q);
	if (rc == 0) {
		snprintf(pname, sizeof(pname), "bench-consumer-%u", c->index);
		rc = attach(q, IPCQ_ROLE_CONSUMER, c->strat->id, pname);
	}
	if (rc < 0) {
		fail_note(me->why, c->label, "consumer %u: open/attach: %s", c->index,
			  ipcq_strerror(rc));
		bench_barrier_abort(&c->sh->barrier);
		goto out;
	}
	if (bench_barrier_wait(&c->sh->barrier, NULL, NULL) < 0) {
		ret = CHILD_ABORTED;
		goto out;
	}
	me->start_ns = me->last_ns = bench_now_ns();

	while (!done) {
		if (c->batch == 1) {
			rc = ipcq_recv(q, bufs[0].data, c->size, &infos[0], IPCQ_FOREVER);
			if (rc < 0) {
				fail_note(me->why, c->label, "consumer %u: ipcq_recv: %d %s",
					  c->index, rc, ipcq_strerror(rc));
				goto out;
			}
			done = tp_verify(c, me, &st, bufs[0].data, (size_t)rc, &infos[0]);
			n += !done;
		} else {
			for (i = 0; i < c->batch; i++)
				bufs[i].len = c->size;
			rc = ipcq_recv_batch(q, bufs, infos, c->batch, IPCQ_FOREVER);
			if (rc <= 0 || (unsigned)rc > c->batch) {
				fail_note(me->why, c->label, "consumer %u: ipcq_recv_batch(n=%u): %d %s",
					  c->index, c->batch, rc,
					  rc < 0 ? ipcq_strerror(rc) : "out of range");
				goto out;
			}
			for (i = 0; i < (unsigned)rc; i++) {
				if (tp_verify(c, me, &st, bufs[i].data, bufs[i].len, &infos[i]))
					done = 1;
				else if (done) {
					/* Every data message precedes every end marker. */
					me->errors++;
					fail_note(me->why, c->label,
						  "consumer %u: data message after an end marker in one batch",
						  c->index);
				} else {
					n++;
				}
			}
		}
		if (n >= next_stamp && !done) {
			me->last_ns = bench_now_ns();
			next_stamp = n + STAMP_EVERY;
		}
	}
	ret = me->errors ? CHILD_VERIFY : CHILD_OK;
out:
	me->failed = ret != CHILD_OK && ret != CHILD_ABORTED;
	if (q)
		ipcq_close(q);
	for (i = 0; i < c->batch; i++)
		free(bufs[i].data);
	return ret;
}

/* ------------------------------------------------------------------ */
/* Result bookkeeping and printing                                     */
/* ------------------------------------------------------------------ */

static void print_table_header(void)
{
	printf("%-9s %-10s %-9s %5s %5s %6s %11s %7s %10s %9s %8s %8s %9s %9s  %s\n",
	       "transport", "mode", "strategy", "batch", "P/C", "size", "msgs", "secs",
	       "Mmsg/s", "MB/s", "p50_ns", "p99_ns", "p99.9_ns", "max_ns", "status");
}

static void init_result(struct result *r, const char *transport, const char *mode,
			const char *strategy, unsigned batch, unsigned p, unsigned c,
			unsigned size)
{
	memset(r, 0, sizeof(*r));
	snprintf(r->transport, sizeof(r->transport), "%s", transport);
	snprintf(r->mode, sizeof(r->mode), "%s", mode);
	snprintf(r->strategy, sizeof(r->strategy), "%s", strategy);
	r->batch = batch;
	r->producers = p;
	r->consumers = c;
	r->msg_size = size;
	snprintf(r->status, sizeof(r->status), "FAIL");
}

/* Print @r, write its CSV row and keep it for the ratios. */
static void emit_result(const struct result *r)
{
	double mps = r->seconds > 0 ? (double)r->msgs / r->seconds : 0.0;
	double mbps = mps * r->msg_size / 1e6;
	int lat = strcmp(r->mode, "latency") == 0;
	char pc[16];

	if (!r->ok)
		any_failure = 1;
	if (n_results < MAX_RESULTS)
		results[n_results++] = *r;
	snprintf(pc, sizeof(pc), "%u/%u", r->producers, r->consumers);
	printf("%-9s %-10s %-9s %5u %5s %6u %11llu %7.3f %10.3f ", r->transport, r->mode,
	       r->strategy, r->batch, pc, r->msg_size, (unsigned long long)r->msgs,
	       r->seconds, mps / 1e6);
	if (lat)
		printf("%9s %8llu %8llu %9llu %9llu", "-", (unsigned long long)r->p50,
		       (unsigned long long)r->p99, (unsigned long long)r->p999,
		       (unsigned long long)r->max);
	else
		printf("%9.1f %8s %8s %9s %9s", mbps, "-", "-", "-", "-");
	printf("  %s\n", r->status);
	fflush(stdout);

	if (lat)
		bench_csv_row(csv, "%s,%s,%s,%u,%u,%u,%u,%llu,%.6f,%.1f,,%llu,%llu,%llu,%llu,%s",
			      r->transport, r->mode, r->strategy, r->batch, r->producers,
			      r->consumers, r->msg_size, (unsigned long long)r->msgs, r->seconds,
			      mps, (unsigned long long)r->p50, (unsigned long long)r->p99,
			      (unsigned long long)r->p999, (unsigned long long)r->max, r->status);
	else
		bench_csv_row(csv, "%s,%s,%s,%u,%u,%u,%u,%llu,%.6f,%.1f,%.3f,,,,,%s",
			      r->transport, r->mode, r->strategy, r->batch, r->producers,
			      r->consumers, r->msg_size, (unsigned long long)r->msgs, r->seconds,
			      mps, mbps, r->status);
}

static double result_rate(const struct result *r)
{
	return r->seconds > 0 ? (double)r->msgs / r->seconds : 0.0;
}

/*
 * Emit the median (by msgs/s) of @n repetitions of one throughput case, or
 * the first failed one if any failed.
 */
static void emit_median(struct result *runs, unsigned n)
{
	unsigned i, j;

	for (i = 0; i < n; i++)
		if (!runs[i].ok) {
			emit_result(&runs[i]);
			return;
		}
	for (i = 1; i < n; i++)
		for (j = i; j > 0 && result_rate(&runs[j - 1]) > result_rate(&runs[j]); j--) {
			struct result t = runs[j];

			runs[j] = runs[j - 1];
			runs[j - 1] = t;
		}
	emit_result(&runs[n / 2]);
}

static const struct result *find_result(const char *transport, const char *mode,
					const char *strategy, unsigned batch, unsigned pc,
					unsigned size)
{
	unsigned i;

	for (i = 0; i < n_results; i++) {
		const struct result *r = &results[i];

		if (r->ok && !strcmp(r->transport, transport) && !strcmp(r->mode, mode) &&
		    !strcmp(r->strategy, strategy) && r->batch == batch &&
		    r->producers == pc && r->msg_size == size)
			return r;
	}
	return NULL;
}

/* ------------------------------------------------------------------ */
/* Throughput run: parent                                              */
/* ------------------------------------------------------------------ */

struct watch_arg {
	pid_t *pids;
	int *status;
	int n;
};

/* Barrier watcher: has any child exited? (It is reaped here; status kept.) */
static int any_child_gone(void *arg)
{
	struct watch_arg *w = arg;
	int i, gone = 0;

	for (i = 0; i < w->n; i++) {
		int st;

		if (w->pids[i] > 0 && waitpid(w->pids[i], &st, WNOHANG) == w->pids[i]) {
			w->status[i] = st;
			w->pids[i] = 0;
			gone = 1;
		}
	}
	return gone;
}

static void print_queue_state(struct ipcq *q, const char *label)
{
	struct ipcq_info info;

	memset(&info, 0, sizeof(info));
	info.size = sizeof(info);
	if (ipcq_info(q, &info) == 0)
		fprintf(stderr,
			"bench: [%s] queue state: enqueued %llu dequeued %llu depth %llu, "
			"%u live participants\n",
			label, (unsigned long long)info.enqueued,
			(unsigned long long)info.dequeued, (unsigned long long)info.depth,
			info.participants);
}

static int child_status_ok(int st, const char *label, const char *who, unsigned idx)
{
	char buf[64];

	if (WIFEXITED(st) && WEXITSTATUS(st) == CHILD_OK)
		return 1;
	fprintf(stderr, "bench: [%s] %s %u: %s\n", label, who, idx,
		bench_status_str(st, buf, sizeof(buf)));
	return 0;
}

static void run_throughput(const struct options *o, const struct strategy *strat,
			   unsigned batch, unsigned np, unsigned nc, unsigned size,
			   struct result *r)
{
	char name[IPCQ_NAME_MAX], label[160];
	struct tp_shared *sh;
	struct tp_ctx ctx;
	struct ipcq *q = NULL;
	pid_t pids[MAX_CHILDREN];
	int status[MAX_CHILDREN];
	struct watch_arg w = { pids, status, 0 };
	uint64_t t_start = UINT64_MAX, t_end = 0, total = 0, deadline;
	unsigned i, j, ends_sent = 0, ends_taken = 0;
	int n = 0, ok = 1, hang = 0, finished = 0, rc, left;

	snprintf(label, sizeof(label), "ipcq throughput %s batch=%u P/C=%u/%u size=%u",
		 strat->name, batch, np, nc, size);
	init_result(r, "ipcq", "throughput", strat->name, batch, np, nc, size);
	memset(status, 0, sizeof(status));
	memset(pids, 0, sizeof(pids));

	sh = bench_shm_alloc(sizeof(*sh));
	if (!sh) {
		fprintf(stderr, "bench: [%s] mmap failed\n", label);
		return;
	}
	queue_name(name, sizeof(name), "tp");
	if (queue_create(name, o->capacity, size, &q) < 0) {
		ok = 0;
		goto cleanup;
	}
	track_queue(0, name);
	bench_barrier_init(&sh->barrier, np + nc + 1);

	ctx.name = name;
	ctx.label = label;
	ctx.strat = strat;
	ctx.batch = batch;
	ctx.producers = np;
	ctx.consumers = nc;
	ctx.size = size;
	ctx.sh = sh;
	for (i = 0; i < nc; i++) {
		ctx.index = i;
		pids[n] = bench_fork(tp_consumer_main, &ctx);
		if (pids[n] < 0)
			goto fork_failed;
		n++;
	}
	for (i = 0; i < np; i++) {
		ctx.index = i;
		pids[n] = bench_fork(tp_producer_main, &ctx);
		if (pids[n] < 0)
			goto fork_failed;
		n++;
	}
	track_pids(pids, n);
	w.n = n;
	if (bench_barrier_wait(&sh->barrier, any_child_gone, &w) < 0) {
		fprintf(stderr, "bench: [%s] a child failed before the start\n", label);
		ok = 0;
		bench_wait_all(pids, status, n, bench_now_ns() + 2000000000ull);
		bench_kill_all(pids, status, n);
		goto check_children;
	}
	bench_sleep_ns(o->duration_ns);
	atomic_store_explicit(&sh->stop, 1, memory_order_relaxed);

	/* Producers: consumers are indexes 0..nc-1, producers nc..n-1. */
	deadline = bench_now_ns() + o->watchdog_ns;
	left = bench_wait_all(pids + nc, status + nc, (int)np, deadline);
	if (left) {
		/* A consumer that died of an error leaves the producers blocked: not a hang. */
		hang = bench_wait_all(pids, status, (int)nc, 1) == (int)nc;
		fprintf(stderr, "bench: [%s] %s%d producer(s) still running %.1f s after "
			"the stop flag (blocked in send?)\n", label, hang ? "HANG: " : "",
			left, o->watchdog_ns / 1e9);
		print_queue_state(q, label);
		ok = 0;
		goto kill;
	}

	/*
	 * End markers: sent after every producer has exited, so each takes a
	 * position after every data message.  A consumer stops at the first it
	 * sees but may take up to `batch` at once, so nc * batch of them make
	 * sure every consumer gets one.
	 */
	rc = attach(q, IPCQ_ROLE_PRODUCER, strat->id, "bench-parent");
	if (rc < 0) {
		fprintf(stderr, "bench: [%s] parent attach: %s\n", label, ipcq_strerror(rc));
		ok = 0;
		goto kill;
	}
	{
		unsigned char end[16];

		store64(end, END_ID);
		store64(end + 8, 0);
		for (i = 0; i < nc * batch; i++) {
			rc = ipcq_send(q, end, sizeof(end), (int64_t)o->watchdog_ns);
			if (!sent_ok(rc)) {
				fprintf(stderr, "bench: [%s] %s sending end marker %u of %u: %s\n",
					label, rc == -ETIMEDOUT ? "HANG" : "error", i + 1,
					nc * batch, ipcq_strerror(rc));
				print_queue_state(q, label);
				hang = rc == -ETIMEDOUT;
				ok = 0;
				goto kill;
			}
			ends_sent++;
		}
	}
	left = bench_wait_all(pids, status, (int)nc, bench_now_ns() + o->watchdog_ns);
	if (left) {
		fprintf(stderr, "bench: [%s] HANG: %d consumer(s) still running %.1f s after "
			"the end markers were sent\n", label, left, o->watchdog_ns / 1e9);
		print_queue_state(q, label);
		hang = 1;
	} else {
		finished = 1;
	}
kill:
	bench_kill_all(pids, status, n);
check_children:
	track_pids(NULL, 0);
	for (i = 0; i < nc; i++)
		ok &= child_status_ok(status[i], label, "consumer", i);
	for (i = 0; i < np; i++)
		ok &= child_status_ok(status[nc + i], label, "producer", i);
	/* Every child finished its run: the totals are final (and say what went wrong, if anything did). */
	if (!finished)
		goto cleanup;

	/* Totals: per producer, count, sum and sum of squares of the sequences. */
	for (i = 0; i < np; i++) {
		uint64_t sent = sh->prod[i].sent, cnt = 0, sum = 0, sumsq = 0;
		unsigned __int128 s = sent;

		for (j = 0; j < nc; j++) {
			cnt += sh->cons[j].count[i];
			sum += sh->cons[j].sum[i];
			sumsq += sh->cons[j].sumsq[i];
		}
		if (cnt != sent || sum != (uint64_t)(s * (s + 1) / 2) ||
		    sumsq != (uint64_t)(s * (s + 1) * (2 * s + 1) / 6)) {
			fprintf(stderr, "bench: [%s] producer %u sent %llu messages; consumers "
				"received %llu (%s)\n", label, i, (unsigned long long)sent,
				(unsigned long long)cnt,
				cnt < sent ? "LOST" : cnt > sent ? "DUPLICATED" :
				"same count, different sequence numbers");
			ok = 0;
		}
		total += sent;
		if (sh->prod[i].start_ns < t_start)
			t_start = sh->prod[i].start_ns;
		/*
		 * The window ends at the later of the last send and the last
		 * consumer clock read (taken every STAMP_EVERY messages, so it
		 * also covers the drain of what was queued at the stop).
		 */
		if (sh->prod[i].end_ns > t_end)
			t_end = sh->prod[i].end_ns;
	}
	for (j = 0; j < nc; j++) {
		ends_taken += (unsigned)sh->cons[j].ends;
		if (sh->cons[j].start_ns < t_start)
			t_start = sh->cons[j].start_ns;
		if (sh->cons[j].last_ns > t_end)
			t_end = sh->cons[j].last_ns;
	}
	{
		struct ipcq_info info;

		memset(&info, 0, sizeof(info));
		info.size = sizeof(info);
		rc = ipcq_info(q, &info);
		if (rc < 0 || info.enqueued != total + ends_sent ||
		    info.dequeued != total + ends_taken) {
			fprintf(stderr, "bench: [%s] ipcq_info: rc %d, enqueued %llu dequeued %llu; "
				"expected %llu and %llu\n", label, rc,
				(unsigned long long)info.enqueued, (unsigned long long)info.dequeued,
				(unsigned long long)(total + ends_sent),
				(unsigned long long)(total + ends_taken));
			ok = 0;
		}
	}
	r->msgs = total;
	r->seconds = t_end > t_start ? (double)(t_end - t_start) / 1e9 : 0.0;
	r->ok = ok;
	snprintf(r->status, sizeof(r->status), "%s", ok ? "ok" : "FAIL");
	goto cleanup;

fork_failed:
	fprintf(stderr, "bench: [%s] fork: %s\n", label, strerror(errno));
	bench_barrier_abort(&sh->barrier);
	bench_wait_all(pids, status, n, bench_now_ns() + 2000000000ull);
	bench_kill_all(pids, status, n);
	track_pids(NULL, 0);
	ok = 0;
cleanup:
	if (hang)
		snprintf(r->status, sizeof(r->status), "HANG");
	if (q) {
		ipcq_close(q);
		ipcq_unlink(name);
		track_queue(0, NULL);
	}
	bench_shm_free(sh, sizeof(*sh));
}

/* ------------------------------------------------------------------ */
/* Latency run (ipcq)                                                  */
/* ------------------------------------------------------------------ */

#define LAT_SIZE 64

struct lat_shared {
	struct bench_barrier barrier;
	_Alignas(BENCH_HOT_ALIGN) uint64_t round_trips;
	uint64_t seconds_ns;
	int32_t failed;
	char why[WHY_LEN];
	struct bench_hist hist;
};

struct lat_ctx {
	const char *ping, *pong; /* queue names */
	const char *label;
	const struct strategy *strat;
	uint64_t duration_ns;
	struct lat_shared *sh;
};

/* Warm-up before recording: this share of the duration, at least 1000 trips. */
#define LAT_WARMUP_DIV 10
#define LAT_WARMUP_MIN 1000

static int open_pair(const struct lat_ctx *c, struct ipcq **in, struct ipcq **out,
		     const char *in_name, const char *out_name, const char *who)
{
	char pname[32];
	int rc;

	snprintf(pname, sizeof(pname), "bench-%s", who);
	rc = ipcq_open(in_name, in);
	if (rc == 0)
		rc = attach(*in, IPCQ_ROLE_CONSUMER, c->strat->id, pname);
	if (rc == 0)
		rc = ipcq_open(out_name, out);
	if (rc == 0)
		rc = attach(*out, IPCQ_ROLE_PRODUCER, c->strat->id, pname);
	if (rc < 0)
		fail_note(c->sh->why, c->label, "%s: open/attach: %s", who, ipcq_strerror(rc));
	return rc;
}

static int lat_pinger_main(void *arg)
{
	const struct lat_ctx *c = arg;
	struct lat_shared *sh = c->sh;
	struct ipcq *in = NULL, *out = NULL;
	struct ipcq_msginfo info;
	unsigned char msg[LAT_SIZE], back[LAT_SIZE];
	uint64_t seq = 0, t0, t1, start, warm_until, end;
	int rc, ret = CHILD_API, recording = 0;

	memset(msg, 0x5a, sizeof(msg));
	maybe_pin(0);
	if (open_pair(c, &in, &out, c->pong, c->ping, "pinger") < 0) {
		bench_barrier_abort(&sh->barrier);
		goto out;
	}
	if (bench_barrier_wait(&sh->barrier, NULL, NULL) < 0) {
		ret = CHILD_ABORTED;
		goto out;
	}
	start = bench_now_ns();
	warm_until = start + c->duration_ns / LAT_WARMUP_DIV;
	end = warm_until + c->duration_ns;
	t1 = start;
	for (;;) {
		stamp(msg, sizeof(msg), 0, ++seq);
		t0 = bench_now_ns();
		rc = ipcq_send(out, msg, sizeof(msg), IPCQ_FOREVER);
		if (!sent_ok(rc)) {
			fail_note(sh->why, c->label, "pinger: ipcq_send: %d %s", rc, ipcq_strerror(rc));
			goto out;
		}
		rc = ipcq_recv(in, back, sizeof(back), &info, IPCQ_FOREVER);
		t1 = bench_now_ns();
		if (rc < 0) {
			fail_note(sh->why, c->label, "pinger: ipcq_recv: %d %s", rc, ipcq_strerror(rc));
			goto out;
		}
		if (rc != LAT_SIZE || load64(back) != 1 || load64(back + 8) != seq ||
		    load64(back + LAT_SIZE - 8) != check_tail(0, seq)) {
			fail_note(sh->why, c->label, "pinger: reply to seq %llu is wrong (len %d, "
				  "id %llu, seq %llu)", (unsigned long long)seq, rc,
				  (unsigned long long)load64(back), (unsigned long long)load64(back + 8));
			ret = CHILD_VERIFY;
			goto out;
		}
		if (recording) {
			bench_hist_record(&sh->hist, t1 - t0);
			if (t1 >= end)
				break;
		} else if (t1 >= warm_until && seq >= LAT_WARMUP_MIN) {
			recording = 1;
			end = t1 + c->duration_ns;
			start = t1;
		}
	}
	sh->round_trips = sh->hist.count;
	sh->seconds_ns = t1 - start;
	store64(msg, END_ID);
	rc = ipcq_send(out, msg, sizeof(msg), IPCQ_FOREVER);
	ret = sent_ok(rc) ? CHILD_OK : CHILD_API;
out:
	sh->failed |= ret != CHILD_OK && ret != CHILD_ABORTED;
	ipcq_close(in);
	ipcq_close(out);
	return ret;
}

static int lat_ponger_main(void *arg)
{
	const struct lat_ctx *c = arg;
	struct lat_shared *sh = c->sh;
	struct ipcq *in = NULL, *out = NULL;
	struct ipcq_msginfo info;
	unsigned char msg[LAT_SIZE];
	uint64_t expect = 1;
	int rc, ret = CHILD_API;

	maybe_pin(1);
	if (open_pair(c, &in, &out, c->ping, c->pong, "ponger") < 0) {
		bench_barrier_abort(&sh->barrier);
		goto out;
	}
	if (bench_barrier_wait(&sh->barrier, NULL, NULL) < 0) {
		ret = CHILD_ABORTED;
		goto out;
	}
	for (;;) {
		rc = ipcq_recv(in, msg, sizeof(msg), &info, IPCQ_FOREVER);
		if (rc < 0) {
			fail_note(sh->why, c->label, "ponger: ipcq_recv: %d %s", rc, ipcq_strerror(rc));
			goto out;
		}
		if (rc == LAT_SIZE && load64(msg) == END_ID)
			break;
		if (rc != LAT_SIZE || load64(msg) != 0 || load64(msg + 8) != expect ||
		    load64(msg + LAT_SIZE - 8) != check_tail(0, expect) ||
		    load64(msg + mid_offset(LAT_SIZE)) != check_mid(0, expect) ||
		    info.seq != expect) {
			fail_note(sh->why, c->label, "ponger: expected seq %llu, got len %d id %llu "
				  "seq %llu (msginfo seq %llu)", (unsigned long long)expect, rc,
				  (unsigned long long)load64(msg), (unsigned long long)load64(msg + 8),
				  (unsigned long long)info.seq);
			ret = CHILD_VERIFY;
			goto out;
		}
		expect++;
		store64(msg, 1); /* the reply's id */
		rc = ipcq_send(out, msg, sizeof(msg), IPCQ_FOREVER);
		if (!sent_ok(rc)) {
			fail_note(sh->why, c->label, "ponger: ipcq_send: %d %s", rc, ipcq_strerror(rc));
			goto out;
		}
	}
	ret = CHILD_OK;
out:
	sh->failed |= ret != CHILD_OK && ret != CHILD_ABORTED;
	ipcq_close(in);
	ipcq_close(out);
	return ret;
}

/* Fork pinger and ponger, start them together, wait with a watchdog. */
static int run_pair(const struct options *o, struct bench_barrier *b, const char *label,
		    int (*pinger)(void *), int (*ponger)(void *), void *ctx,
		    uint64_t duration_ns, int *hang)
{
	pid_t pids[2] = { 0, 0 };
	int status[2] = { 0, 0 };
	struct watch_arg w = { pids, status, 2 };
	int ok = 1, left;

	*hang = 0;
	bench_barrier_init(b, 3);
	pids[0] = bench_fork(pinger, ctx);
	pids[1] = pids[0] > 0 ? bench_fork(ponger, ctx) : -1;
	if (pids[0] < 0 || pids[1] < 0) {
		fprintf(stderr, "bench: [%s] fork: %s\n", label, strerror(errno));
		bench_barrier_abort(b);
		bench_wait_all(pids, status, 2, bench_now_ns() + 2000000000ull);
		bench_kill_all(pids, status, 2);
		return 0;
	}
	track_pids(pids, 2);
	if (bench_barrier_wait(b, any_child_gone, &w) < 0) {
		fprintf(stderr, "bench: [%s] a child failed before the start\n", label);
		bench_wait_all(pids, status, 2, bench_now_ns() + 2000000000ull);
		ok = 0;
	} else {
		/* warm-up + measurement + watchdog */
		uint64_t limit = duration_ns + duration_ns / LAT_WARMUP_DIV + o->watchdog_ns;

		left = bench_wait_all(pids, status, 2, bench_now_ns() + limit);
		if (left) {
			fprintf(stderr, "bench: [%s] HANG: %d process(es) still running %.1f s "
				"after the expected end\n", label, left, o->watchdog_ns / 1e9);
			*hang = 1;
			ok = 0;
		}
	}
	bench_kill_all(pids, status, 2);
	track_pids(NULL, 0);
	ok &= child_status_ok(status[0], label, "pinger", 0);
	ok &= child_status_ok(status[1], label, "ponger", 0);
	return ok;
}

static void fill_latency(struct result *r, const struct bench_hist *h, uint64_t ns)
{
	r->msgs = h->count;
	r->seconds = ns / 1e9;
	r->p50 = bench_hist_percentile(h, 50.0);
	r->p99 = bench_hist_percentile(h, 99.0);
	r->p999 = bench_hist_percentile(h, 99.9);
	r->max = h->max;
}

static void run_latency(const struct options *o, const struct strategy *strat)
{
	char ping[IPCQ_NAME_MAX], pong[IPCQ_NAME_MAX], label[128];
	struct ipcq *q1 = NULL, *q2 = NULL;
	struct lat_shared *sh;
	struct lat_ctx ctx;
	struct result res, *r = &res;
	int ok = 0, hang = 0;

	snprintf(label, sizeof(label), "ipcq latency %s size=%d", strat->name, LAT_SIZE);
	init_result(r, "ipcq", "latency", strat->name, 1, 1, 1, LAT_SIZE);
	sh = bench_shm_alloc(sizeof(*sh));
	if (!sh)
		goto report;
	bench_hist_init(&sh->hist);
	queue_name(ping, sizeof(ping), "ping");
	queue_name(pong, sizeof(pong), "pong");
	if (queue_create(ping, 64, LAT_SIZE, &q1) < 0)
		goto cleanup;
	track_queue(1, ping);
	if (queue_create(pong, 64, LAT_SIZE, &q2) < 0)
		goto cleanup;
	track_queue(2, pong);

	ctx.ping = ping;
	ctx.pong = pong;
	ctx.label = label;
	ctx.strat = strat;
	ctx.duration_ns = o->lat_duration_ns;
	ctx.sh = sh;
	ok = run_pair(o, &sh->barrier, label, lat_pinger_main, lat_ponger_main, &ctx,
		      o->lat_duration_ns, &hang);
	if (!ok && !hang) {
		print_queue_state(q1, label);
		print_queue_state(q2, label);
	}
	if (ok && !sh->failed) {
		fill_latency(r, &sh->hist, sh->seconds_ns);
		r->ok = 1;
		snprintf(r->status, sizeof(r->status), "ok");
	}
cleanup:
	if (hang)
		snprintf(r->status, sizeof(r->status), "HANG");
	if (q1) {
		ipcq_close(q1);
		ipcq_unlink(ping);
		track_queue(1, NULL);
	}
	if (q2) {
		ipcq_close(q2);
		ipcq_unlink(pong);
		track_queue(2, NULL);
	}
	bench_shm_free(sh, sizeof(*sh));
report:
	emit_result(r);
}

/* ------------------------------------------------------------------ */
/* Reference: a hand-written SPSC ring in shared memory                */
/* ------------------------------------------------------------------ */

/*
 * The ring a user would write instead of ipcq for one producer and one
 * consumer of fixed-size 64-byte messages: 64-byte slots (one cache line
 * each, no length word), a head written only by the producer and a tail
 * written only by the consumer, each on its own 128-byte block, and each
 * side caching the other's index so that it reads the peer's line only when
 * the cached value says full/empty.
 *
 *   R1 producer: store-release of head after writing the slot.  Pairs with
 *      A1, the consumer's load-acquire of head: the slot's bytes are
 *      visible before the consumer reads them.
 *   R2 consumer: store-release of tail after copying the slot out.  Pairs
 *      with A2, the producer's load-acquire of tail: the consumer is done
 *      reading a slot before the producer overwrites it.
 *   Each side reads its own index relaxed: only it writes that index.
 *
 * Waiting is a busy poll with the pause instruction and, like ipcq's
 * IPCQ_WAIT_BUSY_POLL, a sched_yield() every RING_SPIN_YIELD polls so a
 * preempted peer still runs on an overcommitted machine.
 */
#define RING_CAP 1024u
#define RING_MSG 64u
#define RING_SPIN_YIELD 200u

struct spsc_ring {
	_Alignas(BENCH_HOT_ALIGN) _Atomic uint64_t head; /* owner: producer */
	_Alignas(BENCH_HOT_ALIGN) _Atomic uint64_t tail; /* owner: consumer */
	_Alignas(BENCH_HOT_ALIGN) unsigned char slots[RING_CAP][RING_MSG]; /* owner: producer
		from its claim of head until R1, then consumer until R2 */
};

_Static_assert(offsetof(struct spsc_ring, tail) - offsetof(struct spsc_ring, head) >= 128,
	       "head and tail must be 128 bytes apart");
_Static_assert(offsetof(struct spsc_ring, slots) % BENCH_CACHE_LINE == 0 &&
	       RING_MSG % BENCH_CACHE_LINE == 0, "a slot is whole cache lines");

/* Each process's private view: its cached copy of the peer's index. */
struct spsc_end {
	struct spsc_ring *r;
	uint64_t cached; /* producer: last tail seen; consumer: last head seen */
};

static void ring_wait(unsigned *spins)
{
	if (++*spins % RING_SPIN_YIELD == 0)
		sched_yield();
	else
		bench_cpu_relax();
}

/* Enqueue one RING_MSG-byte message, waiting while the ring is full. */
static void ring_push(struct spsc_end *e, const void *data)
{
	struct spsc_ring *r = e->r;
	uint64_t h = atomic_load_explicit(&r->head, memory_order_relaxed);
	unsigned spins = 0;

	while (h - e->cached >= RING_CAP) {
		/* A2: pairs with R2 in ring_pop(). */
		e->cached = atomic_load_explicit(&r->tail, memory_order_acquire);
		if (h - e->cached < RING_CAP)
			break;
		ring_wait(&spins);
	}
	memcpy(r->slots[h & (RING_CAP - 1)], data, RING_MSG);
	/* R1: pairs with A1 in ring_pop(): publishes the slot. */
	atomic_store_explicit(&r->head, h + 1, memory_order_release);
}

/* Dequeue one RING_MSG-byte message into @buf, waiting while the ring is empty. */
static void ring_pop(struct spsc_end *e, void *buf)
{
	struct spsc_ring *r = e->r;
	uint64_t t = atomic_load_explicit(&r->tail, memory_order_relaxed);
	unsigned spins = 0;

	while (e->cached == t) {
		/* A1: pairs with R1 in ring_push(). */
		e->cached = atomic_load_explicit(&r->head, memory_order_acquire);
		if (e->cached != t)
			break;
		ring_wait(&spins);
	}
	memcpy(buf, r->slots[t & (RING_CAP - 1)], RING_MSG);
	/* R2: pairs with A2 in ring_push(): the slot may be reused. */
	atomic_store_explicit(&r->tail, t + 1, memory_order_release);
}

struct ring_shared {
	struct bench_barrier barrier;
	_Alignas(BENCH_HOT_ALIGN) _Atomic uint32_t stop;
	_Alignas(BENCH_HOT_ALIGN) uint64_t sent, received, errors, start_ns, last_ns;
	char why[WHY_LEN];
	struct bench_hist hist;
	uint64_t lat_ns;
	struct spsc_ring ring[2];
};

struct ring_ctx {
	const char *label;
	uint64_t duration_ns;
	struct ring_shared *sh;
};

static int ring_tp_producer(void *arg)
{
	const struct ring_ctx *c = arg;
	struct ring_shared *sh = c->sh;
	struct spsc_end e = { &sh->ring[0], 0 };
	unsigned char msg[LAT_SIZE];
	uint64_t seq = 0;

	memset(msg, 0x5a, sizeof(msg));
	if (bench_barrier_wait(&sh->barrier, NULL, NULL) < 0)
		return CHILD_ABORTED;
	sh->start_ns = bench_now_ns();
	while (!atomic_load_explicit(&sh->stop, memory_order_relaxed)) {
		stamp(msg, sizeof(msg), 0, ++seq);
		ring_push(&e, msg);
	}
	sh->sent = seq;
	store64(msg, END_ID);
	ring_push(&e, msg);
	return CHILD_OK;
}

static int ring_tp_consumer(void *arg)
{
	const struct ring_ctx *c = arg;
	struct ring_shared *sh = c->sh;
	struct spsc_end e = { &sh->ring[0], 0 };
	unsigned char msg[LAT_SIZE];
	uint64_t n = 0, next_stamp = STAMP_EVERY;

	if (bench_barrier_wait(&sh->barrier, NULL, NULL) < 0)
		return CHILD_ABORTED;
	for (;;) {
		ring_pop(&e, msg);
		if (load64(msg) == END_ID)
			break;
		n++;
		if (load64(msg) != 0 || load64(msg + 8) != n ||
		    load64(msg + LAT_SIZE - 8) != check_tail(0, n) ||
		    load64(msg + mid_offset(LAT_SIZE)) != check_mid(0, n)) {
			if (!sh->errors++)
				fail_note(sh->why, c->label, "ring consumer: bad message %llu",
					  (unsigned long long)n);
		}
		if (n >= next_stamp) {
			sh->last_ns = bench_now_ns();
			next_stamp = n + STAMP_EVERY;
		}
	}
	sh->received = n;
	return sh->errors ? CHILD_VERIFY : CHILD_OK;
}

static int ring_pinger(void *arg)
{
	const struct ring_ctx *c = arg;
	struct ring_shared *sh = c->sh;
	struct spsc_end out = { &sh->ring[0], 0 }, in = { &sh->ring[1], 0 };
	unsigned char msg[LAT_SIZE], back[LAT_SIZE];
	uint64_t seq = 0, t0, t1, start, warm_until, end;
	int recording = 0;

	memset(msg, 0x5a, sizeof(msg));
	maybe_pin(0);
	if (bench_barrier_wait(&sh->barrier, NULL, NULL) < 0)
		return CHILD_ABORTED;
	start = bench_now_ns();
	warm_until = start + c->duration_ns / LAT_WARMUP_DIV;
	end = warm_until + c->duration_ns;
	for (;;) {
		stamp(msg, sizeof(msg), 0, ++seq);
		t0 = bench_now_ns();
		ring_push(&out, msg);
		ring_pop(&in, back);
		t1 = bench_now_ns();
		if (load64(back) != 1 || load64(back + 8) != seq) {
			fail_note(sh->why, c->label, "ring pinger: bad reply to %llu",
				  (unsigned long long)seq);
			return CHILD_VERIFY;
		}
		if (recording) {
			bench_hist_record(&sh->hist, t1 - t0);
			if (t1 >= end)
				break;
		} else if (t1 >= warm_until && seq >= LAT_WARMUP_MIN) {
			recording = 1;
			end = t1 + c->duration_ns;
			start = t1;
		}
	}
	sh->lat_ns = t1 - start;
	store64(msg, END_ID);
	ring_push(&out, msg);
	return CHILD_OK;
}

static int ring_ponger(void *arg)
{
	const struct ring_ctx *c = arg;
	struct ring_shared *sh = c->sh;
	struct spsc_end in = { &sh->ring[0], 0 }, out = { &sh->ring[1], 0 };
	unsigned char msg[LAT_SIZE];
	uint64_t expect = 1;

	maybe_pin(1);
	if (bench_barrier_wait(&sh->barrier, NULL, NULL) < 0)
		return CHILD_ABORTED;
	for (;;) {
		ring_pop(&in, msg);
		if (load64(msg) == END_ID)
			return CHILD_OK;
		if (load64(msg + 8) != expect++ ||
		    load64(msg + LAT_SIZE - 8) != check_tail(0, expect - 1)) {
			fail_note(sh->why, c->label, "ring ponger: bad message");
			return CHILD_VERIFY;
		}
		store64(msg, 1);
		ring_push(&out, msg);
	}
}

static void run_ring_throughput(const struct options *o, struct result *r)
{
	const char *label = "ring throughput busy_poll P/C=1/1 size=64";
	struct ring_shared *sh = bench_shm_alloc(sizeof(*sh));
	struct ring_ctx ctx = { label, o->duration_ns, sh };
	pid_t pids[2] = { 0, 0 };
	int status[2] = { 0, 0 };
	struct watch_arg w = { pids, status, 2 };
	int ok = 0, hang = 0;

	init_result(r, "ring", "throughput", "busy_poll", 1, 1, 1, RING_MSG);
	if (!sh)
		return;
	bench_barrier_init(&sh->barrier, 3);
	pids[0] = bench_fork(ring_tp_consumer, &ctx);
	pids[1] = pids[0] > 0 ? bench_fork(ring_tp_producer, &ctx) : -1;
	if (pids[0] < 0 || pids[1] < 0) {
		bench_barrier_abort(&sh->barrier);
	} else {
		track_pids(pids, 2);
		if (bench_barrier_wait(&sh->barrier, any_child_gone, &w) == 0) {
			bench_sleep_ns(o->duration_ns);
			atomic_store_explicit(&sh->stop, 1, memory_order_relaxed);
			hang = bench_wait_all(pids, status, 2, bench_now_ns() + o->watchdog_ns) != 0;
			ok = !hang;
		}
	}
	bench_kill_all(pids, status, 2);
	track_pids(NULL, 0);
	ok &= child_status_ok(status[0], label, "consumer", 0);
	ok &= child_status_ok(status[1], label, "producer", 0);
	if (ok && sh->received != sh->sent) {
		fprintf(stderr, "bench: [%s] sent %llu, received %llu\n", label,
			(unsigned long long)sh->sent, (unsigned long long)sh->received);
		ok = 0;
	}
	if (ok) {
		r->msgs = sh->received;
		r->seconds = (double)(sh->last_ns - sh->start_ns) / 1e9;
		r->ok = 1;
		snprintf(r->status, sizeof(r->status), "ok");
	} else if (hang) {
		snprintf(r->status, sizeof(r->status), "HANG");
	}
	bench_shm_free(sh, sizeof(*sh));
}

static void run_ring_latency(const struct options *o)
{
	const char *label = "ring latency busy_poll size=64";
	struct result res, *r = &res;
	struct ring_shared *sh = bench_shm_alloc(sizeof(*sh));
	struct ring_ctx ctx = { label, o->lat_duration_ns, sh };
	int ok, hang = 0;

	init_result(r, "ring", "latency", "busy_poll", 1, 1, 1, RING_MSG);
	if (!sh)
		goto report;
	bench_hist_init(&sh->hist);
	ok = run_pair(o, &sh->barrier, label, ring_pinger, ring_ponger, &ctx,
		      o->lat_duration_ns, &hang);
	if (ok) {
		fill_latency(r, &sh->hist, sh->lat_ns);
		r->ok = 1;
		snprintf(r->status, sizeof(r->status), "ok");
	} else if (hang) {
		snprintf(r->status, sizeof(r->status), "HANG");
	}
	bench_shm_free(sh, sizeof(*sh));
report:
	emit_result(r);
}

/* ------------------------------------------------------------------ */
/* Ratios                                                              */
/* ------------------------------------------------------------------ */

static void print_ratios(void)
{
	const struct result *ring_tp = find_result("ring", "throughput", "busy_poll", 1, 1, 64);
	const struct result *ring_lat = find_result("ring", "latency", "busy_poll", 1, 1, 64);
	unsigned s, b;

	if (!ring_tp && !ring_lat)
		return;
	printf("\nipcq / hand-written SPSC ring (same run, 64-byte messages, 1 producer / 1 consumer)\n");
	if (ring_tp && ring_tp->seconds > 0) {
		double ring_mps = (double)ring_tp->msgs / ring_tp->seconds;

		printf("  throughput (ring %.3f Mmsg/s; ratio > 1 means ipcq is faster)\n",
		       ring_mps / 1e6);
		for (s = 0; s < N_STRATEGIES; s++)
			for (b = 0; b < 2; b++) {
				unsigned batch = default_batches[b];
				const struct result *r = find_result("ipcq", "throughput",
								     strategies[s].name, batch, 1, 64);

				if (!r || r->seconds <= 0)
					continue;
				printf("    %-10s batch %-3u %10.3f Mmsg/s  ipcq/ring = %.3f\n",
				       strategies[s].name, batch, (double)r->msgs / r->seconds / 1e6,
				       (double)r->msgs / r->seconds / ring_mps);
			}
	}
	if (ring_lat && ring_lat->p50 > 0) {
		printf("  round-trip latency (ring p50 %llu, p99 %llu, p99.9 %llu ns; "
		       "ratio > 1 means ipcq is slower)\n",
		       (unsigned long long)ring_lat->p50, (unsigned long long)ring_lat->p99,
		       (unsigned long long)ring_lat->p999);
		for (s = 0; s < N_STRATEGIES; s++) {
			const struct result *r = find_result("ipcq", "latency", strategies[s].name,
							     1, 1, 64);

			if (!r)
				continue;
			printf("    %-10s p50 %.2fx  p99 %.2fx  p99.9 %.2fx\n", strategies[s].name,
			       (double)r->p50 / (double)ring_lat->p50,
			       (double)r->p99 / (double)(ring_lat->p99 ? ring_lat->p99 : 1),
			       (double)r->p999 / (double)(ring_lat->p999 ? ring_lat->p999 : 1));
		}
	}
}

/* ------------------------------------------------------------------ */
/* Main                                                                */
/* ------------------------------------------------------------------ */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: ipcq_bench [options] [CSV]\n"
		"  Throughput (P/C 1/1, 2/2, 4/4; 64, 1024, 16384 bytes; busy_poll, adaptive,\n"
		"  yield; single and batch calls) and round-trip latency of ipcq between\n"
		"  forked processes, next to a hand-written SPSC ring.  Every message is\n"
		"  verified; a failure or a hang makes the exit status 1.\n"
		"options:\n"
		"  --quick              smoke run: 100 ms per throughput case, 200 ms per latency case\n"
		"  --duration-ms N      per throughput case (default 500)\n"
		"  --latency-ms N       per latency case, after a 10%% warm-up (default 1000)\n"
		"  --only KIND          throughput | latency | ring (the reference only)\n"
		"  --strategy NAME      busy_poll | adaptive | yield (ipcq cases only)\n"
		"  --pc N               only N producers / N consumers (1..%d)\n"
		"  --size N             only N-byte messages (%d..%u)\n"
		"  --batch N            only batch size N (1 = single calls; up to %d)\n"
		"  --repeat N           run each throughput case N times, report the median (default 1)\n"
		"  --capacity N         ring slots of the throughput queues (default 1024)\n"
		"  --watchdog-s N       how long a run may overrun before it is a hang (default 10)\n"
		"  --no-pin             do not pin the two latency processes to two CPUs\n"
		"  --csv PATH           CSV output (default bench/results/ipcq_bench.csv)\n",
		MAX_SIDE, MIN_MSG_SIZE, IPCQ_MSG_SIZE_MAX, MAX_BATCH);
}

static int parse_uint(const char *s, unsigned long long lo, unsigned long long hi,
		      unsigned long long *out)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s || *end || v < lo || v > hi || s[0] == '-')
		return -1;
	*out = v;
	return 0;
}

static int parse_options(int argc, char **argv, struct options *o)
{
	static const struct option longopts[] = {
		{ "quick", no_argument, NULL, 'q' },
		{ "duration-ms", required_argument, NULL, 'd' },
		{ "latency-ms", required_argument, NULL, 'l' },
		{ "only", required_argument, NULL, 'o' },
		{ "strategy", required_argument, NULL, 's' },
		{ "pc", required_argument, NULL, 'p' },
		{ "size", required_argument, NULL, 'z' },
		{ "batch", required_argument, NULL, 'b' },
		{ "capacity", required_argument, NULL, 'c' },
		{ "watchdog-s", required_argument, NULL, 'w' },
		{ "repeat", required_argument, NULL, 'r' },
		{ "csv", required_argument, NULL, 'f' },
		{ "no-pin", no_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	unsigned long long v;
	int ch, dur_set = 0, lat_set = 0;
	unsigned i;

	memset(o, 0, sizeof(*o));
	o->duration_ns = 500ull * 1000000;
	o->lat_duration_ns = 1000ull * 1000000;
	o->watchdog_ns = 10ull * 1000000000;
	o->do_throughput = o->do_latency = o->do_ring = 1;
	o->strategy = -1;
	o->capacity = 1024;
	o->repeat = 1;
	o->csv_path = "bench/results/ipcq_bench.csv";

	while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'q':
			if (!dur_set)
				o->duration_ns = 100ull * 1000000;
			if (!lat_set)
				o->lat_duration_ns = 200ull * 1000000;
			break;
		case 'd':
			if (parse_uint(optarg, 1, 3600000, &v))
				goto bad;
			o->duration_ns = v * 1000000;
			dur_set = 1;
			break;
		case 'l':
			if (parse_uint(optarg, 1, 3600000, &v))
				goto bad;
			o->lat_duration_ns = v * 1000000;
			lat_set = 1;
			break;
		case 'o':
			if (!strcmp(optarg, "throughput")) {
				o->do_latency = 0;
			} else if (!strcmp(optarg, "latency")) {
				o->do_throughput = 0;
			} else if (!strcmp(optarg, "ring")) {
				o->strategy = -2; /* no ipcq case */
			} else {
				goto bad;
			}
			break;
		case 's':
			for (i = 0; i < N_STRATEGIES; i++)
				if (!strcmp(optarg, strategies[i].name))
					o->strategy = (int)i;
			if (o->strategy < 0)
				goto bad;
			break;
		case 'p':
			if (parse_uint(optarg, 1, MAX_SIDE, &v))
				goto bad;
			o->pc = (unsigned)v;
			break;
		case 'z':
			if (parse_uint(optarg, MIN_MSG_SIZE, IPCQ_MSG_SIZE_MAX, &v))
				goto bad;
			o->size = (unsigned)v;
			break;
		case 'b':
			if (parse_uint(optarg, 1, MAX_BATCH, &v))
				goto bad;
			o->batch = (unsigned)v;
			break;
		case 'c':
			if (parse_uint(optarg, IPCQ_CAPACITY_MIN, IPCQ_CAPACITY_MAX, &v) ||
			    (v & (v - 1)))
				goto bad;
			o->capacity = (unsigned)v;
			break;
		case 'w':
			if (parse_uint(optarg, 1, 3600, &v))
				goto bad;
			o->watchdog_ns = v * 1000000000ull;
			break;
		case 'f':
			o->csv_path = optarg;
			break;
		case 'n':
			pin_latency = 0;
			break;
		case 'r':
			if (parse_uint(optarg, 1, MAX_REPEAT, &v))
				goto bad;
			o->repeat = (unsigned)v;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			return -1;
		}
	}
	if (optind < argc)
		o->csv_path = argv[optind++];
	if (optind < argc) {
		usage(stderr);
		return -1;
	}
	if (o->batch > o->capacity) {
		fprintf(stderr, "ipcq_bench: --batch must not exceed --capacity\n");
		return -1;
	}
	/* The reference ring is measured where a ratio can be drawn from it. */
	if ((o->pc && o->pc != 1) || (o->size && o->size != 64))
		o->do_ring = 0;
	return 0;
bad:
	fprintf(stderr, "ipcq_bench: bad value '%s'\n", optarg);
	usage(stderr);
	return -1;
}

int main(int argc, char **argv)
{
	struct options o;
	struct sigaction sa;
	unsigned s, b, p, z, i;
	static struct result runs[MAX_REPEAT];
	uint64_t t0 = bench_now_ns();
	unsigned batches[2], pcs[3], sizes[3], nbatches = 0, npcs = 0, nsizes = 0;
	int ring_only;

	if (parse_options(argc, argv, &o) < 0)
		return 2;
	for (b = 0; b < 2; b++)
		if (!o.batch || o.batch == default_batches[b])
			batches[nbatches++] = default_batches[b];
	if (o.batch && !nbatches)
		batches[nbatches++] = o.batch;
	for (p = 0; p < 3; p++)
		if (!o.pc || o.pc == default_pcs[p])
			pcs[npcs++] = default_pcs[p];
	if (o.pc && !npcs)
		pcs[npcs++] = o.pc;
	for (z = 0; z < 3; z++)
		if (!o.size || o.size == default_sizes[z])
			sizes[nsizes++] = default_sizes[z];
	if (o.size && !nsizes)
		sizes[nsizes++] = o.size;
	ring_only = o.strategy == -2;
	if (ipcq_version() != IPCQ_VERSION)
		fprintf(stderr, "ipcq_bench: warning: header version %d, library %d\n",
			IPCQ_VERSION, ipcq_version());

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);

	csv = bench_csv_open(o.csv_path, csv_header);
	if (!csv)
		return 2;

	printf("ipcq_bench: ipcq %s, %d CPUs, load average %.2f, pid %d; throughput %.0f ms "
	       "per case (median of %u), latency %.0f ms per case (%s)\n",
	       ipcq_version_string(), bench_cpu_count(), bench_loadavg(), (int)getpid(),
	       o.duration_ns / 1e6, o.repeat, o.lat_duration_ns / 1e6,
	       pin_latency ? "pinned to 2 CPUs" : "not pinned");
	print_table_header();

	if (o.do_throughput) {
		if (o.do_ring && o.strategy < 0 && (o.batch == 0 || o.batch == 1)) {
			for (i = 0; i < o.repeat; i++)
				run_ring_throughput(&o, &runs[i]);
			emit_median(runs, o.repeat);
		}
		for (s = 0; s < N_STRATEGIES && !ring_only; s++) {
			if (o.strategy >= 0 && (unsigned)o.strategy != s)
				continue;
			for (b = 0; b < nbatches; b++)
				for (p = 0; p < npcs; p++)
					for (z = 0; z < nsizes; z++) {
						for (i = 0; i < o.repeat; i++)
							run_throughput(&o, &strategies[s], batches[b],
								       pcs[p], pcs[p], sizes[z], &runs[i]);
						emit_median(runs, o.repeat);
					}
		}
	}
	if (o.do_latency) {
		if (o.do_ring && o.strategy < 0)
			run_ring_latency(&o);
		for (s = 0; s < N_STRATEGIES && !ring_only; s++) {
			if (o.strategy >= 0 && (unsigned)o.strategy != s)
				continue;
			if ((o.pc && o.pc != 1) || (o.size && o.size != LAT_SIZE) ||
			    (o.batch && o.batch != 1))
				continue;
			run_latency(&o, &strategies[s]);
		}
	}
	print_ratios();
	fclose(csv);
	printf("\n%s in %.1f s; CSV: %s\n", any_failure ? "FAILED" : "done",
	       (bench_now_ns() - t0) / 1e9, o.csv_path);
	return any_failure ? 1 : 0;
}
