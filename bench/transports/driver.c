/*
 * driver.c - the program bench/transports: ipcq next to the transports a
 * user would pick instead, in one run, between real forked processes,
 * every message verified; prints the ratios that the performance goals
 * (README.md, section Performance) are stated in.
 *
 * This file holds the options, the plan of cases, the producer, consumer,
 * pinger and ponger processes, the checks, the table and the ratios.  Each
 * transport is a struct transport (transport.h) in a file of its own, which
 * says what it measures and how the peer is run at its best:
 *
 * Transports (--only NAME[,NAME...]):
 *   ipcq        ipcq.c: this library: wait strategies busy_poll, adaptive,
 *               yield; single and batch (32) calls; fast mode, ack mode
 *               (IPCQ_ATTACH_ACK + ipcq_ack) and zero copy
 *               (ipcq_reserve/ipcq_commit + ipcq_peek/ipcq_release)
 *   ipcq-group  ipcq.c: a queue with one durable consumer group that every
 *               consumer joins (max_groups 1), busy_poll, single and batch
 *               (32) calls: the group protocol, where a consumer never
 *               writes the slot's line, beside ipcq's classic one
 *   ring        spsc_ring.c: the reference: a hand-written single-producer
 *               single-consumer ring of fixed-size slots (the message size:
 *               64 B, 1 KiB or 16 KiB, so at 16 KiB it is memcpy-bound),
 *               busy-poll; 1/1 only
 *   pipe        pipe.c: one pipe(2), O_NONBLOCK + poll(2), F_SETPIPE_SZ raised
 *   socketpair  socketpair.c: AF_UNIX SOCK_SEQPACKET socketpair,
 *               MSG_DONTWAIT + poll(2)
 *   posix_mq    posix_mq.c: mq_open(3) queue, mq_timedsend/mq_timedreceive
 *   boost_mq    boost_mq.c: Boost.Interprocess message_queue (through
 *               boost_mq.cc; built with -DBENCH_HAVE_BOOST)
 *   rte_ring    rte_ring.c: DPDK rte_ring in MAP_SHARED memory
 *               (rte_ring_init, no EAL), default MP/MC mode and HTS mode,
 *               single and burst (32) calls; 64-byte messages travel in
 *               64-byte ring elements, larger ones in a shared slot pool
 *               whose indices travel in the ring (a second ring holds the
 *               free indices), as DPDK's mempool does (built with
 *               -DBENCH_HAVE_DPDK)
 *   ck_ring     ck_ring.c: Concurrency Kit ck_ring in MAP_SHARED memory,
 *               indices into a shared slot pool; ck_ring_*_mpmc, and
 *               ck_ring_*_spsc at 1/1 (header-only: used when <ck_ring.h>
 *               is found)
 *   floor       floor.c: the machine's floor, run whenever latency is:
 *               one cache line bounced between the two processes
 *               (cacheline) and a 64-byte hand-off each way (handoff)
 *
 * Throughput: P producers and C consumers (1/1, 2/2, 4/4; more processes
 * than CPUs on a small machine, on purpose), each its own process with its
 * own endpoint, started together by a process-shared barrier; message
 * sizes 64 B, 1 KiB, 16 KiB.  Every transport gets the same depth:
 * --capacity slots (1024), at most 1 MiB of payload (so 64 at 16 KiB; a
 * deeper queue of large messages measures cache misses).  Producers send
 * through a warm-up (a quarter of the measuring time + 20 ms: page faults
 * and process start are not steady state), then for the measuring time;
 * then the parent sends end markers (after every producer has exited, so
 * each lies behind all data) and the consumers drain.  The rate counts the
 * messages sent after the warm-up over the time from its end to the last
 * send or the end of the drain, whichever is later.  Every message carries
 *
 *   bytes  0..7   producer id (0..P-1; UINT64_MAX marks the end)
 *   bytes  8..15  per-producer sequence, from 1
 *   bytes mid..   check word derived from (id, seq), mid = (size / 2) & ~7
 *   last 8 bytes  another check word derived from (id, seq)
 *
 * and each consumer checks the length, that every producer's sequence
 * strictly increases (exactly +1 with one consumer) and both check words;
 * ipcq's msginfo (len, seq) too.  At the end the parent checks, per
 * producer, that count, sum and sum of squares of the sequences received by
 * all consumers equal those sent (nothing lost or duplicated) and, for
 * ipcq, that the queue's enqueued/dequeued counters agree.  The payload is
 * written once into a private buffer; each message stamps the four words
 * and is copied by the transport, except in zero copy, where the producer
 * stamps the words in the slot and the consumer checks them there: the
 * payload's other bytes are neither generated nor read (what zero copy
 * saves is the copy, and only the copy is measured).  A case's processes
 * are pinned one per CPU when there are CPUs enough for that (1/1 on two
 * cores), and left to the scheduler otherwise.
 *
 * Latency: a pinger and a ponger process (pinned to two CPUs) exchange one
 * message at a time (16 B, then 64 B) over two channels of the transport;
 * every round trip, after a warm-up, goes into a log-linear histogram.
 * The cases take turns: --latency-rounds rounds (default 20), each running
 * every case for its share of the time (in reverse order every other
 * round), and a case's rounds merged into one histogram, so that the
 * host's bursts of noise fall on all of them alike and one run's tail
 * ratios compare like with like.
 * The floor runs first (the cache line, then the hand-off) and the cache
 * line again after the last latency case.  The cache line's p50 names the
 * regime the run saw: close (under --close-ns, default 150 ns: the two
 * CPUs share a cache) or far (the line crosses a slower link, as on a VM
 * whose vCPUs the host moves); a regime that changed by the second
 * measurement is printed.  After the latency cases every latency row is
 * printed again as multiples of the cache-line floor and of the SPSC ring
 * of its size (p50 over p50, p99 over p99, p99.9 over p99.9), and the
 * goals carry the regime: a ratio holds in the regime it was measured in.
 *
 * Watchdog: every case has a cap (--cap-s) after its measuring time.  A
 * case whose producers or consumers do not finish by then (busy-waiting
 * rings with more processes than CPUs can collapse) is stopped through a
 * shared abort flag that every wait loop polls, and its achieved rate is
 * reported with status "capped"; a process that ignores the flag is killed
 * (status HANG).  The run as a whole stops starting cases once --budget-s
 * is spent (status "skipped").
 *
 * Status per case: ok, capped (slow, not wrong), n/a (the transport cannot
 * carry this case; the note says why), skipped, FAIL (a verification or
 * API failure), HANG.  FAIL or HANG make the exit status 1; a missed
 * performance goal does not (it is printed as MISSED).
 *
 * --tests cost runs none of that: each transport's send and receive in one
 * process, to time the calls alone (see "Cost" below; a table of its own,
 * no CSV).
 *
 * Output: a table on stdout, the floor, the regime and the multiples, the
 * goals as ratios marked met or MISSED, and CSV (default
 * bench/results/bench.csv; the latency rows are written after the last
 * latency case, with the regime and their multiples in the columns after
 * note).  Run with --help for the options.
 */
#include "transport.h"

#include <getopt.h>

#define STAMP_EVERY 64		/* consumer clock reads: one per this many messages */
#define MAX_REPEAT 9
#define FLOOR_WORD_SIZE 8	/* the msg_size the cache-line floor is reported with */
#define CLOSE_NS_DEFAULT 150	/* cache-line floor p50 below this: the close regime */
#define LAT_DEPTH 64
#define LAT_WARMUP_DIV 10
#define LAT_WARMUP_MIN 1000
#define SLOW_X 20		/* a round trip this many times the p50: the host interrupted it */
#define PAYLOAD_BUDGET (1u << 20) /* queue depth * message size at most (1 MiB) */

enum { PHASE_WARM = 0, PHASE_MEASURE = 1, PHASE_STOP = 2 };

static const char csv_header[] =
	"test,transport,mode,strategy,batch,producers,consumers,msg_size,msgs,seconds,"
	"msgs_per_s,mb_per_s,p50_ns,p99_ns,p999_ns,max_ns,status,note,"
	"regime,p50_x_floor,p99_x_floor,p999_x_floor,p50_x_ring,p99_x_ring,p999_x_ring";

/* ------------------------------------------------------------------ */
/* Options                                                             */
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
#define N_STRATEGIES 3
enum { S_BUSY = 0, S_ADAPTIVE = 1, S_YIELD = 2 };

static const unsigned all_pcs[] = { 1, 2, 4 };
static const unsigned all_sizes[] = { 64, 1024, 16384 };	/* throughput */
static const unsigned lat_sizes[] = { 16, 64 };			/* latency */
#define N_LAT_SIZES 2

struct options {
	uint64_t duration_ns;	  /* measuring time of a throughput case */
	uint64_t warmup_ns;	  /* before it */
	uint64_t lat_duration_ns; /* measuring time of a latency case, after a 10 % warm-up */
	unsigned lat_rounds;	  /* ... split into this many rounds, the cases in turn */
	int show_rounds;	  /* --show-rounds: each round's p50 of each case */
	uint64_t cap_ns;	  /* how long a case may run past its measuring time */
	uint64_t budget_ns;	  /* no case starts after this much time */
	unsigned repeat;
	unsigned capacity;
	unsigned pc, size;	  /* 0: all */
	int do_throughput, do_latency, do_cost;
	uint64_t cost_ns;	/* --tests cost: per case and round */
	uint64_t close_ns;	  /* regime threshold on the cache-line floor's p50 */
	char only[256];		  /* comma-separated transport names, empty: all */
	const char *strategy;	  /* only cases that wait this way, NULL: all */
	unsigned batch;		  /* only throughput cases of this batch, 0: all */
	const char *csv_path;
};

static struct options opt;
static int pin_latency = 1;	/* --no-pin clears it: latency and throughput */

/*
 * A throughput case's process @n of @total (producers first): pinned to
 * the n-th CPU when every process gets one of its own, as a user who runs
 * one process per core does; left to the scheduler on a machine with fewer
 * CPUs than processes (2/2 and 4/4 on two cores), where it is what shares
 * the cores.
 */
static void tp_pin(unsigned n, unsigned total)
{
	if (pin_latency && (int)total <= bench_cpu_count())
		bench_pin_nth_cpu((int)n);
}

/* ------------------------------------------------------------------ */
/* Shared state of one case                                            */
/* ------------------------------------------------------------------ */

struct prod_stat {
	uint64_t sent;
	uint64_t warm_sent;	/* sent before it saw PHASE_MEASURE */
	uint64_t start_ns, end_ns;
	int32_t failed;
	char why[WHY_LEN];
} __attribute__((aligned(BENCH_HOT_ALIGN)));

struct cons_stat {
	uint64_t count[MAX_SIDE], sum[MAX_SIDE], sumsq[MAX_SIDE];
	uint64_t n;		/* data messages taken */
	uint64_t warm_n;	/* n when the parent raised PHASE_MEASURE (its snapshot) */
	uint64_t start_ns, last_ns;
	uint64_t ends;		/* end markers taken */
	uint64_t errors;
	int32_t failed;
	char why[WHY_LEN];
} __attribute__((aligned(BENCH_HOT_ALIGN)));

struct case_shared {
	struct bench_barrier barrier;
	/* parent: PHASE_WARM, then PHASE_MEASURE, then PHASE_STOP */
	_Alignas(BENCH_HOT_ALIGN) _Atomic uint32_t phase;
	uint64_t measure_ns;	/* when the parent raised PHASE_MEASURE */
	_Alignas(BENCH_HOT_ALIGN) _Atomic uint32_t abort; /* parent: the cap is reached, leave now */
	_Alignas(BENCH_HOT_ALIGN) struct prod_stat prod[MAX_SIDE];
	struct cons_stat cons[MAX_SIDE];
	/* latency */
	uint64_t trips, lat_ns;
	int32_t lat_failed;
	char lat_why[WHY_LEN];
	struct bench_hist hist;
};

/* ------------------------------------------------------------------ */
/* Abort, waiting                                                      */
/* ------------------------------------------------------------------ */

static _Atomic uint32_t *g_abort;	/* the current case's abort flag */
/* Parent only, while it sends end markers: its deadline and the consumers. */
static uint64_t g_deadline_ns;
static pid_t *g_cons_pids;
static int *g_cons_status;
static int g_cons_n;

/* Parent: how many consumers are still running (reaps those that exited). */
static int consumers_left(void)
{
	return bench_wait_all(g_cons_pids, g_cons_status, g_cons_n, 1);
}

/* The driver's answer to every transport's wait loop (transport.h). */
int aborted(void)
{
	if (g_abort && atomic_load_explicit(g_abort, memory_order_relaxed))
		return 1;
	if (!g_deadline_ns)
		return 0;
	/* The parent stops sending end markers once nobody is left to take them. */
	return bench_now_ns() > g_deadline_ns || consumers_left() == 0;
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
	fprintf(stderr, "bench: [%s] %s\n", label, msg);
}

/* ------------------------------------------------------------------ */
/* Signal cleanup: children, and named objects of the current case     */
/* ------------------------------------------------------------------ */

#define MAX_CHILDREN (2 * MAX_SIDE)
#define LIVE_SHM 4
static pid_t live_pids[MAX_CHILDREN];
static char live_shm[LIVE_SHM][128];	/* paths to unlink(2) */

static void on_signal(int sig)
{
	unsigned i;

	for (i = 0; i < MAX_CHILDREN; i++)
		if (live_pids[i] > 0)
			kill(live_pids[i], SIGKILL);
	for (i = 0; i < LIVE_SHM; i++)
		if (live_shm[i][0])
			unlink(live_shm[i]);
	_exit(128 + sig);
}

void track_shm(unsigned slot, const char *fmt, ...)
{
	va_list ap;

	if (slot >= LIVE_SHM)
		return;
	va_start(ap, fmt);
	vsnprintf(live_shm[slot], sizeof(live_shm[slot]), fmt, ap);
	va_end(ap);
}

void untrack_shm(unsigned slot)
{
	if (slot < LIVE_SHM)
		live_shm[slot][0] = '\0';
}

static void track_pids(const pid_t *pids, int n)
{
	int i;

	for (i = 0; i < MAX_CHILDREN; i++)
		live_pids[i] = i < n ? pids[i] : 0;
}

/* ------------------------------------------------------------------ */
/* Endpoints                                                           */
/* ------------------------------------------------------------------ */

static int ep_open(struct ep *ep, struct tcase *tc, unsigned ch, unsigned role, unsigned batch)
{
	unsigned i;
	int rc;

	memset(ep, 0, sizeof(*ep));
	ep->tc = tc;
	ep->ch = ch;
	ep->role = role;
	ep->fd = -1;
	ep->stride = slot_stride(tc->size);
	ep->msgbuf = aligned_alloc(64, ep->stride * batch);
	if (!ep->msgbuf)
		return -ENOMEM;
	/* A recognisable pattern in the bytes nobody checks. */
	memset(ep->msgbuf, 0x5a, ep->stride * batch);
	for (i = 0; i < batch; i++)
		ep->msg[i] = ep->msgbuf + i * ep->stride;
	rc = tc->t->open(ep);
	if (rc < 0) {
		free(ep->msgbuf);
		ep->msgbuf = NULL;
	}
	return rc;
}

static void ep_close(struct ep *ep)
{
	if (!ep->msgbuf)
		return;
	ep->tc->t->close(ep);
	free(ep->msgbuf);
	ep->msgbuf = NULL;
}

/* ------------------------------------------------------------------ */
/* Throughput: children                                                */
/* ------------------------------------------------------------------ */

/* Child exit codes. */
enum { CHILD_OK = 0, CHILD_VERIFY = 1, CHILD_API = 2, CHILD_ABORTED = 3 };

static unsigned g_index;	/* set before each fork: the child's index */

static const char *err_str(int rc)
{
	return ipcq_strerror(rc);
}

static int producer_main(void *arg)
{
	struct tcase *tc = arg;
	struct prod_stat *me = &tc->sh->prod[g_index];
	const uint64_t id = g_index;
	uint64_t seq = 0;
	struct ep ep;
	int rc, ret = CHILD_API, warm_done = 0;

	tp_pin(g_index, tc->np + tc->nc);
	rc = ep_open(&ep, tc, 0, ROLE_SEND, tc->batch);
	if (rc < 0) {
		fail_note(me->why, tc->label, "producer %u: open: %s", g_index, err_str(rc));
		bench_barrier_abort(&tc->sh->barrier);
		return CHILD_API;
	}
	if (bench_barrier_wait(&tc->sh->barrier, NULL, NULL) < 0) {
		ret = CHILD_ABORTED;
		goto out;
	}
	me->start_ns = bench_now_ns();
	for (;;) {
		uint32_t ph = atomic_load_explicit(&tc->sh->phase, memory_order_relaxed);

		if (ph != PHASE_WARM && !warm_done) {
			me->warm_sent = seq;
			warm_done = 1;
		}
		if (ph == PHASE_STOP)
			break;
		rc = tc->t->send(&ep, id, seq + 1, tc->batch);
		if (rc == 0)
			break; /* aborted */
		if (rc < 0 || (unsigned)rc > tc->batch) {
			fail_note(me->why, tc->label, "producer %u: send at seq %llu: %d %s", g_index,
				  (unsigned long long)(seq + 1), rc, rc < 0 ? err_str(rc) : "");
			goto out;
		}
		seq += (unsigned)rc;
		me->sent = seq; /* progress, for a watchdog that has to kill this process */
	}
	ret = CHILD_OK;
out:
	me->end_ns = bench_now_ns();
	me->sent = seq;
	if (!warm_done)
		me->warm_sent = seq;
	me->failed = ret != CHILD_OK && ret != CHILD_ABORTED;
	ep_close(&ep);
	return ret;
}

struct cons_ctx {
	struct cons_stat *me;
	uint64_t last_seq[MAX_SIDE];
	int saw_end;
};

/* Check one received message; 1 for an end marker. */
static int tp_deliver(struct ep *ep, const unsigned char *p, size_t len, uint64_t libseq)
{
	struct cons_ctx *cc = ep->ctx;
	struct cons_stat *me = cc->me;
	const struct tcase *tc = ep->tc;
	uint64_t id, seq;

	if (len >= 16 && load64(p) == END_ID) {
		me->ends++;
		cc->saw_end = 1;
		ep->done = 1;
		return 1;
	}
	if (cc->saw_end) {
		me->errors++;
		fail_note(me->why, tc->label, "consumer %u: data message after an end marker",
			  g_index);
	}
	if (len != tc->size) {
		me->errors++;
		fail_note(me->why, tc->label, "consumer %u: message of %zu bytes, expected %u",
			  g_index, len, tc->size);
		return 0;
	}
	id = load64(p);
	seq = load64(p + 8);
	if (id >= tc->np) {
		me->errors++;
		fail_note(me->why, tc->label, "consumer %u: bad producer id %llu (seq field %llu)",
			  g_index, (unsigned long long)id, (unsigned long long)seq);
		return 0;
	}
	if (tc->nc == 1 ? seq != cc->last_seq[id] + 1 : seq <= cc->last_seq[id]) {
		me->errors++;
		fail_note(me->why, tc->label, "consumer %u: producer %llu: seq %llu after %llu (%s)",
			  g_index, (unsigned long long)id, (unsigned long long)seq,
			  (unsigned long long)cc->last_seq[id],
			  seq <= cc->last_seq[id] ? "duplicate or reordered" : "gap: lost");
	}
	if (!stamp_ok(p, len, id, seq)) {
		me->errors++;
		fail_note(me->why, tc->label, "consumer %u: producer %llu seq %llu: payload corrupt",
			  g_index, (unsigned long long)id, (unsigned long long)seq);
	}
	if (libseq && libseq != seq) {
		me->errors++;
		fail_note(me->why, tc->label, "consumer %u: producer %llu seq %llu: msginfo seq %llu",
			  g_index, (unsigned long long)id, (unsigned long long)seq,
			  (unsigned long long)libseq);
	}
	cc->last_seq[id] = seq;
	me->count[id]++;
	me->sum[id] += seq;
	me->sumsq[id] += seq * seq;
	me->n++;
	return 0;
}

static int consumer_main(void *arg)
{
	struct tcase *tc = arg;
	struct cons_stat *me = &tc->sh->cons[g_index];
	struct cons_ctx cc;
	uint64_t next_stamp = STAMP_EVERY;
	struct ep ep;
	int rc, ret = CHILD_API;

	memset(&cc, 0, sizeof(cc));
	cc.me = me;
	tp_pin(tc->np + g_index, tc->np + tc->nc);
	rc = ep_open(&ep, tc, 0, ROLE_RECV, tc->batch);
	if (rc < 0) {
		fail_note(me->why, tc->label, "consumer %u: open: %s", g_index, err_str(rc));
		bench_barrier_abort(&tc->sh->barrier);
		return CHILD_API;
	}
	ep.deliver = tp_deliver;
	ep.ctx = &cc;
	if (bench_barrier_wait(&tc->sh->barrier, NULL, NULL) < 0) {
		ret = CHILD_ABORTED;
		goto out;
	}
	me->start_ns = me->last_ns = bench_now_ns();
	while (!ep.done) {
		rc = tc->t->recv(&ep, tc->batch);
		if (rc == 0)
			break; /* aborted */
		if (rc < 0) {
			fail_note(me->why, tc->label, "consumer %u: recv: %d %s", g_index, rc,
				  err_str(rc));
			goto out;
		}
		if (me->n >= next_stamp) {
			me->last_ns = bench_now_ns();
			next_stamp = me->n + STAMP_EVERY;
		}
	}
	ret = me->errors ? CHILD_VERIFY : CHILD_OK;
out:
	me->failed = ret != CHILD_OK && ret != CHILD_ABORTED;
	ep_close(&ep);
	return ret;
}

/* ------------------------------------------------------------------ */
/* Results                                                             */
/* ------------------------------------------------------------------ */

struct result {
	char test[12], transport[16], mode[16], strategy[16];
	unsigned batch, producers, consumers, msg_size;
	uint64_t msgs;
	double seconds;
	uint64_t p50, p99, p999, max;
	double slow_share;	/* latency: share of round trips over SLOW_X times the p50 */
	char status[10];	/* ok, capped, n/a, skipped, FAIL, HANG */
	char note[NOTE_LEN];
};

#define MAX_RESULTS 512
static struct result results[MAX_RESULTS];
static unsigned n_results;
static FILE *csv;
static int any_failure;
static uint64_t run_start_ns;

static int usable(const struct result *r)
{
	return !strcmp(r->status, "ok") || !strcmp(r->status, "capped");
}

static double rate(const struct result *r)
{
	return r->seconds > 0 ? (double)r->msgs / r->seconds : 0.0;
}

static void init_result(struct result *r, const struct tcase *tc)
{
	memset(r, 0, sizeof(*r));
	snprintf(r->test, sizeof(r->test), "%s", tc->latency ? "latency" : "throughput");
	snprintf(r->transport, sizeof(r->transport), "%s", tc->t->name);
	snprintf(r->mode, sizeof(r->mode), "%s", tc->mode);
	snprintf(r->strategy, sizeof(r->strategy), "%s", tc->strategy);
	r->batch = tc->batch;
	r->producers = tc->np;
	r->consumers = tc->nc;
	r->msg_size = tc->size;
	snprintf(r->status, sizeof(r->status), "FAIL");
}

static void print_table_header(void)
{
	printf("%-10s %-10s %-9s %-9s %5s %5s %6s %10s %7s %9s %8s %8s %8s %9s %9s  %s\n",
	       "test", "transport", "mode", "strategy", "batch", "P/C", "size", "msgs", "secs",
	       "Mmsg/s", "MB/s", "p50_ns", "p99_ns", "p99.9_ns", "max_ns", "status");
}

/*
 * One CSV row; @tail: the columns after note, from its leading comma
 * (regime and the multiples of a latency row; empty ones otherwise).
 */
static void csv_result(const struct result *r, const char *tail)
{
	double mps = rate(r), mbps = mps * r->msg_size / 1e6;

	if (!usable(r))
		bench_csv_row(csv, "%s,%s,%s,%s,%u,%u,%u,%u,,,,,,,,,%s,%s%s", r->test, r->transport,
			      r->mode, r->strategy, r->batch, r->producers, r->consumers,
			      r->msg_size, r->status, r->note, tail);
	else if (!strcmp(r->test, "latency"))
		bench_csv_row(csv,
			      "%s,%s,%s,%s,%u,%u,%u,%u,%llu,%.6f,%.1f,,%llu,%llu,%llu,%llu,%s,%s%s",
			      r->test, r->transport, r->mode, r->strategy, r->batch, r->producers,
			      r->consumers, r->msg_size, (unsigned long long)r->msgs, r->seconds,
			      mps, (unsigned long long)r->p50, (unsigned long long)r->p99,
			      (unsigned long long)r->p999, (unsigned long long)r->max, r->status,
			      r->note, tail);
	else
		bench_csv_row(csv, "%s,%s,%s,%s,%u,%u,%u,%u,%llu,%.6f,%.1f,%.3f,,,,,%s,%s%s",
			      r->test, r->transport, r->mode, r->strategy, r->batch, r->producers,
			      r->consumers, r->msg_size, (unsigned long long)r->msgs, r->seconds,
			      mps, mbps, r->status, r->note, tail);
}

static void emit_result(const struct result *in)
{
	struct result rr = *in, *r = &rr;
	double mps = rate(r), mbps = mps * r->msg_size / 1e6;
	int lat = !strcmp(r->test, "latency"), have = usable(r);
	char pc[16], *c;

	for (c = r->note; *c; c++)
		if (*c == ',' || *c == '\n' || *c == '"')
			*c = ';';
	if (!strcmp(r->status, "FAIL") || !strcmp(r->status, "HANG"))
		any_failure = 1;
	if (n_results < MAX_RESULTS)
		results[n_results++] = *r;
	snprintf(pc, sizeof(pc), "%u/%u", r->producers, r->consumers);
	printf("%-10s %-10s %-9s %-9s %5u %5s %6u ", r->test, r->transport, r->mode,
	       r->strategy, r->batch, pc, r->msg_size);
	if (!have)
		printf("%10s %7s %9s %8s %8s %8s %9s %9s", "-", "-", "-", "-", "-", "-", "-", "-");
	else if (lat)
		printf("%10llu %7.3f %9.3f %8s %8llu %8llu %9llu %9llu",
		       (unsigned long long)r->msgs, r->seconds, mps / 1e6, "-",
		       (unsigned long long)r->p50, (unsigned long long)r->p99,
		       (unsigned long long)r->p999, (unsigned long long)r->max);
	else
		printf("%10llu %7.3f %9.3f %8.1f %8s %8s %9s %9s", (unsigned long long)r->msgs,
		       r->seconds, mps / 1e6, mbps, "-", "-", "-", "-");
	printf("  %s%s%s\n", r->status, r->note[0] ? "  " : "", r->note);
	fflush(stdout);
	/* A latency row's CSV waits for the floor and the ring of its run (latency_summary()). */
	if (!lat)
		csv_result(r, ",,,,,,,");
}

/* ------------------------------------------------------------------ */
/* Throughput: parent                                                  */
/* ------------------------------------------------------------------ */

struct watch_arg {
	pid_t *pids;
	int *status;
	int n;
};

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

/* @killed_ok: a SIGKILL from the watchdog is expected (see spins_inside). */
static int child_status_ok(int st, const char *label, const char *who, unsigned idx,
			   int killed_ok)
{
	char buf[64];

	if (WIFEXITED(st) && (WEXITSTATUS(st) == CHILD_OK || WEXITSTATUS(st) == CHILD_ABORTED))
		return 1;
	if (killed_ok && WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL)
		return 1;
	fprintf(stderr, "bench: [%s] %s %u: %s\n", label, who, idx,
		bench_status_str(st, buf, sizeof(buf)));
	return 0;
}

/*
 * Stop everything still running: raise the abort flag, give the children
 * two seconds to see it, kill the rest.  Returns how many had to be killed.
 */
static int abort_children(struct case_shared *sh, pid_t *pids, int *status, int n)
{
	int left;

	atomic_store_explicit(&sh->abort, 1, memory_order_relaxed);
	left = bench_wait_all(pids, status, n, bench_now_ns() + 2000000000ull);
	bench_kill_all(pids, status, n);
	return left;
}

/* Prepare @tc's shared block and channels; T_NA, 0 or -errno. */
static int case_setup(struct tcase *tc)
{
	static unsigned serial;
	int rc;

	tc->serial = ++serial;
	tc->fd[0][0] = tc->fd[0][1] = tc->fd[1][0] = tc->fd[1][1] = -1;
	tc->mq[0] = tc->mq[1] = (mqd_t)-1;
	tc->sh = bench_shm_alloc(sizeof(*tc->sh));
	if (!tc->sh)
		return -ENOMEM;
	g_abort = &tc->sh->abort;
	rc = tc->t->create(tc);
	return rc;
}

static void case_teardown(struct tcase *tc)
{
	if (tc->t->destroy)
		tc->t->destroy(tc);
	g_abort = NULL;
	bench_shm_free(tc->sh, sizeof(*tc->sh));
	tc->sh = NULL;
}

static void run_throughput(struct tcase *tc, struct result *r)
{
	struct case_shared *sh;
	pid_t pids[MAX_CHILDREN];
	int status[MAX_CHILDREN];
	struct watch_arg w = { pids, status, 0 };
	uint64_t t_start, t_end = 0, total = 0, received = 0, warm = 0, deadline, t_abort = 0;
	unsigned i, j, ends_sent = 0, ends_taken = 0, np = tc->np, nc = tc->nc;
	int n = 0, ok = 1, hang = 0, capped = 0, killed = 0, rc, left;
	char why[WHY_LEN] = "";

	init_result(r, tc);
	memset(pids, 0, sizeof(pids));
	memset(status, 0, sizeof(status));
	rc = case_setup(tc);
	if (rc == T_NA) {
		snprintf(r->status, sizeof(r->status), "n/a");
		snprintf(r->note, sizeof(r->note), "%s", tc->note);
		goto cleanup;
	}
	if (rc < 0) {
		snprintf(r->note, sizeof(r->note), "setup: %s", strerror(-rc));
		goto cleanup;
	}
	sh = tc->sh;
	bench_barrier_init(&sh->barrier, np + nc + 1);
	for (i = 0; i < nc + np; i++) {
		g_index = i < nc ? i : i - nc;
		pids[n] = bench_fork(i < nc ? consumer_main : producer_main, tc);
		if (pids[n] < 0) {
			fprintf(stderr, "bench: [%s] fork: %s\n", tc->label, strerror(errno));
			bench_barrier_abort(&sh->barrier);
			bench_wait_all(pids, status, n, bench_now_ns() + 2000000000ull);
			bench_kill_all(pids, status, n);
			ok = 0;
			goto check_children;
		}
		n++;
	}
	track_pids(pids, n);
	w.n = n;
	if (bench_barrier_wait(&sh->barrier, any_child_gone, &w) < 0) {
		fprintf(stderr, "bench: [%s] a child failed before the start\n", tc->label);
		ok = 0;
		bench_wait_all(pids, status, n, bench_now_ns() + 2000000000ull);
		bench_kill_all(pids, status, n);
		goto check_children;
	}
	/*
	 * Warm-up: page faults, first touches of the queue's memory and the
	 * processes' start are not steady state.  The rate counts what the
	 * producers sent after they saw PHASE_MEASURE.
	 */
	bench_sleep_ns(opt.warmup_ns);
	sh->measure_ns = bench_now_ns();
	atomic_store_explicit(&sh->phase, PHASE_MEASURE, memory_order_relaxed);
	for (i = 0; i < nc; i++) /* a snapshot: only a capped case's rate uses it */
		sh->cons[i].warm_n = *(volatile uint64_t *)&sh->cons[i].n;
	bench_sleep_ns(opt.duration_ns);
	atomic_store_explicit(&sh->phase, PHASE_STOP, memory_order_relaxed);
	deadline = bench_now_ns() + opt.cap_ns;

	/* Producers (indexes nc..n-1) finish their last call. */
	left = bench_wait_all(pids + nc, status + nc, (int)np, deadline);
	if (left == 0) {
		for (i = 0; i < np; i++)
			if (sh->prod[i].failed)
				left = -1;
	}
	if (left == 0) {
		/*
		 * End markers, sent after every producer has exited so that each
		 * lies behind all data.  A consumer stops at the first it takes
		 * but may take up to `batch` at once: up to nc * batch, sent
		 * until every consumer has gone (there may be fewer free slots
		 * than that).
		 */
		struct ep ep;

		g_cons_pids = pids;
		g_cons_status = status;
		g_cons_n = (int)nc;
		g_deadline_ns = deadline;
		rc = ep_open(&ep, tc, 0, ROLE_SEND, 1);
		if (rc < 0) {
			fprintf(stderr, "bench: [%s] parent open: %s\n", tc->label, err_str(rc));
			ok = 0;
		}
		for (i = 0; rc >= 0 && i < nc * tc->batch && consumers_left() > 0; i++) {
			rc = tc->t->send(&ep, END_ID, i + 1, 1);
			if (rc > 0) {
				ends_sent++;
				continue;
			}
			if (rc == 0 && consumers_left() == 0)
				break; /* all consumers are done: nothing more to send */
			fprintf(stderr, "bench: [%s] end marker %u of %u: %s\n", tc->label, i + 1,
				nc * tc->batch, rc == 0 ? "not taken by the cap" : err_str(rc));
			if (rc < 0)
				ok = 0;
			rc = -1;
		}
		ep_close(&ep);
		g_deadline_ns = 0;
		g_cons_n = 0;
		left = rc < 0 ? 1 : bench_wait_all(pids, status, (int)nc, deadline);
	}
	if (left < 0) {
		/* A producer failed: stop the consumers, nothing is worth waiting for. */
		abort_children(sh, pids, status, n);
	} else if (left > 0) {
		capped = 1;
		t_abort = bench_now_ns();
		fprintf(stderr, "bench: [%s] not finished %.1f s after the measuring time: "
			"aborted, achieved rate reported\n", tc->label, opt.cap_ns / 1e9);
		if (tc->t->state)
			tc->t->state(tc);
		killed = abort_children(sh, pids, status, n);
		if (killed && tc->t->spins_inside) {
			fprintf(stderr, "bench: [%s] %d process(es) stuck in %s's own spin loop, "
				"killed\n", tc->label, killed, tc->t->name);
		} else if (killed) {
			hang = 1;
			fprintf(stderr, "bench: [%s] HANG: children ignored the abort flag\n",
				tc->label);
		}
	}
check_children:
	track_pids(NULL, 0);
	for (i = 0; i < nc; i++)
		ok &= child_status_ok(status[i], tc->label, "consumer", i, killed && !hang);
	for (i = 0; i < np; i++)
		ok &= child_status_ok(status[nc + i], tc->label, "producer", i, killed && !hang);
	for (i = 0; i < nc; i++) {
		if (tc->sh->cons[i].errors || tc->sh->cons[i].failed)
			ok = 0;
		if (!why[0] && tc->sh->cons[i].why[0])
			snprintf(why, sizeof(why), "%s", tc->sh->cons[i].why);
	}
	for (i = 0; i < np; i++) {
		if (tc->sh->prod[i].failed)
			ok = 0;
		if (!why[0] && tc->sh->prod[i].why[0])
			snprintf(why, sizeof(why), "%s", tc->sh->prod[i].why);
	}
	if (n < (int)(np + nc) || !ok)
		goto verdict;

	/* Totals per producer: count, sum and sum of squares of the sequences. */
	for (i = 0; i < np; i++) {
		uint64_t sent = sh->prod[i].sent, cnt = 0, sum = 0, sumsq = 0;
		unsigned __int128 s = sent;

		for (j = 0; j < nc; j++) {
			cnt += sh->cons[j].count[i];
			sum += sh->cons[j].sum[i];
			sumsq += sh->cons[j].sumsq[i];
		}
		warm += sh->prod[i].warm_sent;
		/* A killed producer may have sent a batch it had no time to count. */
		if (capped ? cnt > sent + (killed ? tc->batch : 0)
			   : (cnt != sent || sum != (uint64_t)(s * (s + 1) / 2) ||
			      sumsq != (uint64_t)(s * (s + 1) * (2 * s + 1) / 6))) {
			snprintf(why, sizeof(why), "producer %u sent %llu; consumers received %llu (%s)",
				 i, (unsigned long long)sent, (unsigned long long)cnt,
				 cnt < sent ? "LOST" : cnt > sent ? "DUPLICATED" : "wrong sequences");
			fprintf(stderr, "bench: [%s] %s\n", tc->label, why);
			ok = 0;
		}
		total += sent;
		if (sh->prod[i].end_ns > t_end)
			t_end = sh->prod[i].end_ns;
	}
	/*
	 * The window: from PHASE_MEASURE to the later of the last send and the
	 * last consumer clock read (taken every STAMP_EVERY messages, so it
	 * covers the drain of what was queued at the stop).
	 */
	t_start = sh->measure_ns;
	for (j = 0; j < nc; j++) {
		ends_taken += (unsigned)sh->cons[j].ends;
		/* Capped: what the consumers took since PHASE_MEASURE (the parent's snapshot). */
		received += sh->cons[j].n - sh->cons[j].warm_n;
		if (sh->cons[j].last_ns > t_end)
			t_end = sh->cons[j].last_ns;
	}
	if (ok && !capped && tc->t->check &&
	    tc->t->check(tc, total, ends_sent, ends_taken, why) < 0) {
		fprintf(stderr, "bench: [%s] %s\n", tc->label, why);
		ok = 0;
	}
	if (capped) {
		r->msgs = received;
		r->seconds = t_abort > t_start ? (t_abort - t_start) / 1e9 : 0.0;
	} else {
		r->msgs = total - warm;
		r->seconds = t_end > t_start ? (t_end - t_start) / 1e9 : 0.0;
	}
verdict:
	if (hang) {
		snprintf(r->status, sizeof(r->status), "HANG");
	} else if (ok) {
		snprintf(r->status, sizeof(r->status), "%s", capped ? "capped" : "ok");
		if (capped)
			snprintf(r->note, sizeof(r->note), "not done %.1f s after the measuring "
				 "time; rate achieved until the abort%s", opt.cap_ns / 1e9,
				 killed ? " (processes stuck in the peer's spin loop killed)" : "");
		else if (tc->note[0])
			snprintf(r->note, sizeof(r->note), "%s", tc->note);
	} else {
		snprintf(r->status, sizeof(r->status), "FAIL");
		snprintf(r->note, sizeof(r->note), "%s", why[0] ? why : "see stderr");
	}
cleanup:
	if (tc->sh)
		case_teardown(tc);
}

/* ------------------------------------------------------------------ */
/* Latency                                                             */
/* ------------------------------------------------------------------ */

static void maybe_pin(int n)
{
	if (pin_latency && bench_cpu_count() > 1)
		bench_pin_nth_cpu(n);
}

struct lat_ctx {
	uint64_t expect;	/* the sequence the next message must carry */
	uint64_t expect_id;
	int bad;
};

static int lat_deliver(struct ep *ep, const unsigned char *p, size_t len, uint64_t libseq)
{
	struct lat_ctx *lc = ep->ctx;

	(void)libseq;
	if (len == ep->tc->size && load64(p) == END_ID) {
		ep->done = 1;
		return 1;
	}
	if (len != ep->tc->size || load64(p) != lc->expect_id || load64(p + 8) != lc->expect ||
	    !stamp_ok(p, len, lc->expect_id, lc->expect)) {
		if (!lc->bad)
			fail_note(ep->tc->sh->lat_why, ep->tc->label,
				  "%s: expected id %llu seq %llu, got len %zu id %llu seq %llu",
				  lc->expect_id ? "pinger" : "ponger",
				  (unsigned long long)lc->expect_id, (unsigned long long)lc->expect,
				  len, (unsigned long long)load64(p), (unsigned long long)load64(p + 8));
		lc->bad = 1;
	}
	return 0;
}

static int pinger_main(void *arg)
{
	struct tcase *tc = arg;
	struct case_shared *sh = tc->sh;
	struct ep out, in;
	struct lat_ctx lc = { 0, 1, 0 };
	uint64_t seq = 0, t0, t1, start, warm_until, end;
	int rc, ret = CHILD_API, recording = 0, have_in = 0;

	maybe_pin(0);
	rc = ep_open(&out, tc, 0, ROLE_SEND, 1);
	if (rc == 0) {
		rc = ep_open(&in, tc, 1, ROLE_RECV, 1);
		have_in = rc == 0;
	}
	if (rc < 0) {
		fail_note(sh->lat_why, tc->label, "pinger: open: %s", err_str(rc));
		bench_barrier_abort(&sh->barrier);
		goto out;
	}
	in.deliver = lat_deliver;
	in.ctx = &lc;
	if (bench_barrier_wait(&sh->barrier, NULL, NULL) < 0) {
		ret = CHILD_ABORTED;
		goto out;
	}
	start = bench_now_ns();
	warm_until = start + tc->sh->lat_ns / LAT_WARMUP_DIV; /* lat_ns: the duration, on entry */
	end = warm_until + tc->sh->lat_ns;
	t1 = start;
	for (;;) {
		lc.expect = ++seq;
		t0 = bench_now_ns();
		if (tc->t->ping) {
			rc = tc->t->ping(&out, &in, seq);
		} else {
			rc = tc->t->send(&out, 0, seq, 1);
			if (rc > 0)
				rc = tc->t->recv(&in, 1);
		}
		t1 = bench_now_ns();
		if (rc <= 0) {
			if (rc == 0) {
				ret = CHILD_ABORTED;
				break;
			}
			fail_note(sh->lat_why, tc->label, "pinger: %d %s", rc, err_str(rc));
			goto out;
		}
		if (lc.bad) {
			ret = CHILD_VERIFY;
			goto out;
		}
		if (recording) {
			bench_hist_record(&sh->hist, t1 - t0);
			if (t1 >= end)
				break;
		} else if (t1 >= warm_until && seq >= LAT_WARMUP_MIN) {
			recording = 1;
			end = t1 + tc->sh->lat_ns;
			start = t1;
		}
	}
	sh->trips = sh->hist.count;
	sh->lat_ns = t1 > start ? t1 - start : 0;
	if (ret == CHILD_ABORTED)
		goto out;
	rc = tc->t->ping ? tc->t->ping(&out, &in, END_ID) : tc->t->send(&out, END_ID, seq + 1, 1);
	ret = rc > 0 ? CHILD_OK : rc == 0 ? CHILD_ABORTED : CHILD_API;
out:
	sh->lat_failed |= ret != CHILD_OK && ret != CHILD_ABORTED;
	ep_close(&out);
	if (have_in)
		ep_close(&in);
	return ret;
}

static int ponger_main(void *arg)
{
	struct tcase *tc = arg;
	struct case_shared *sh = tc->sh;
	struct ep out, in;
	struct lat_ctx lc = { 1, 0, 0 };
	int rc, ret = CHILD_API, have_out = 0;

	maybe_pin(1);
	rc = ep_open(&in, tc, 0, ROLE_RECV, 1);
	if (rc == 0) {
		rc = ep_open(&out, tc, 1, ROLE_SEND, 1);
		have_out = rc == 0;
	}
	if (rc < 0) {
		fail_note(sh->lat_why, tc->label, "ponger: open: %s", err_str(rc));
		bench_barrier_abort(&sh->barrier);
		goto out;
	}
	in.deliver = lat_deliver;
	in.ctx = &lc;
	if (bench_barrier_wait(&sh->barrier, NULL, NULL) < 0) {
		ret = CHILD_ABORTED;
		goto out;
	}
	for (;;) {
		if (tc->t->pong) {
			rc = tc->t->pong(&in, &out, lc.expect);
			if (rc == 2)
				break;
			if (rc == 0) {
				ret = CHILD_ABORTED;
				goto out;
			}
			if (rc < 0) {
				fail_note(sh->lat_why, tc->label, "ponger: message %llu: %d %s",
					  (unsigned long long)lc.expect, rc, err_str(rc));
				goto out;
			}
			lc.expect++;
			continue;
		}
		rc = tc->t->recv(&in, 1);
		if (rc == 0) {
			ret = CHILD_ABORTED;
			goto out;
		}
		if (rc < 0) {
			fail_note(sh->lat_why, tc->label, "ponger: recv: %d %s", rc, err_str(rc));
			goto out;
		}
		if (in.done)
			break;
		if (lc.bad) {
			ret = CHILD_VERIFY;
			goto out;
		}
		rc = tc->t->send(&out, 1, lc.expect, 1);
		if (rc <= 0) {
			ret = rc == 0 ? CHILD_ABORTED : CHILD_API;
			if (rc < 0)
				fail_note(sh->lat_why, tc->label, "ponger: send: %d %s", rc, err_str(rc));
			goto out;
		}
		lc.expect++;
	}
	ret = CHILD_OK;
out:
	sh->lat_failed |= ret != CHILD_OK && ret != CHILD_ABORTED;
	ep_close(&in);
	if (have_out)
		ep_close(&out);
	return ret;
}

/*
 * One slice of a latency case: @dur_ns of round trips after a warm-up of a
 * tenth of it.  @r gets the slice's percentiles; @hist, when not NULL, a
 * copy of its histogram (for merging the rounds).
 */
static void run_latency(struct tcase *tc, struct result *r, uint64_t dur_ns,
			struct bench_hist *hist)
{
	pid_t pids[2] = { 0, 0 };
	int status[2] = { 0, 0 };
	struct watch_arg w = { pids, status, 2 };
	int ok = 1, hang = 0, capped = 0, killed = 0, rc;
	uint64_t limit;

	init_result(r, tc);
	rc = case_setup(tc);
	if (rc == T_NA) {
		snprintf(r->status, sizeof(r->status), "n/a");
		snprintf(r->note, sizeof(r->note), "%s", tc->note);
		goto cleanup;
	}
	if (rc < 0) {
		snprintf(r->note, sizeof(r->note), "setup: %s", strerror(-rc));
		goto cleanup;
	}
	bench_hist_init(&tc->sh->hist);
	tc->sh->lat_ns = dur_ns;
	bench_barrier_init(&tc->sh->barrier, 3);
	pids[0] = bench_fork(pinger_main, tc);
	pids[1] = pids[0] > 0 ? bench_fork(ponger_main, tc) : -1;
	if (pids[0] < 0 || pids[1] < 0) {
		fprintf(stderr, "bench: [%s] fork: %s\n", tc->label, strerror(errno));
		bench_barrier_abort(&tc->sh->barrier);
		bench_wait_all(pids, status, 2, bench_now_ns() + 2000000000ull);
		bench_kill_all(pids, status, 2);
		ok = 0;
		goto verdict;
	}
	track_pids(pids, 2);
	if (bench_barrier_wait(&tc->sh->barrier, any_child_gone, &w) < 0) {
		fprintf(stderr, "bench: [%s] a child failed before the start\n", tc->label);
		bench_wait_all(pids, status, 2, bench_now_ns() + 2000000000ull);
		bench_kill_all(pids, status, 2);
		ok = 0;
	} else {
		limit = dur_ns + dur_ns / LAT_WARMUP_DIV + opt.cap_ns;
		if (bench_wait_all(pids, status, 2, bench_now_ns() + limit)) {
			fprintf(stderr, "bench: [%s] not finished %.1f s after the measuring time: "
				"aborted\n", tc->label, opt.cap_ns / 1e9);
			capped = 1;
			killed = abort_children(tc->sh, pids, status, 2);
			hang = killed && !tc->t->spins_inside;
		}
	}
	track_pids(NULL, 0);
	ok &= child_status_ok(status[0], tc->label, "pinger", 0, killed && !hang);
	ok &= child_status_ok(status[1], tc->label, "ponger", 0, killed && !hang);
	ok &= !tc->sh->lat_failed;
	if (ok) {
		r->msgs = tc->sh->hist.count;
		r->seconds = tc->sh->lat_ns / 1e9;
		r->p50 = bench_hist_percentile(&tc->sh->hist, 50.0);
		r->p99 = bench_hist_percentile(&tc->sh->hist, 99.0);
		r->p999 = bench_hist_percentile(&tc->sh->hist, 99.9);
		r->max = tc->sh->hist.max;
		r->slow_share = bench_hist_share_above(&tc->sh->hist, r->p50 * SLOW_X);
		if (hist)
			*hist = tc->sh->hist;
	}
verdict:
	if (hang) {
		snprintf(r->status, sizeof(r->status), "HANG");
	} else if (ok) {
		snprintf(r->status, sizeof(r->status), "%s", capped ? "capped" : "ok");
		if (capped)
			snprintf(r->note, sizeof(r->note), "aborted at the cap; percentiles of the "
				 "round trips done until then");
		else if (tc->note[0])
			snprintf(r->note, sizeof(r->note), "%s", tc->note);
	} else {
		snprintf(r->note, sizeof(r->note), "%s",
			 tc->sh->lat_why[0] ? tc->sh->lat_why : "see stderr");
	}
cleanup:
	if (tc->sh)
		case_teardown(tc);
}

/* ------------------------------------------------------------------ */
/* The plan                                                            */
/* ------------------------------------------------------------------ */

struct variant {
	const struct transport *t;
	const char *mode;
	int strat;		/* ipcq: index into strategies[]; -1: see wait_name */
	const char *wait_name;	/* how the peer waits */
	unsigned flags, batch;
	int pc1_only;		/* only P/C 1/1 */
	int sizes_64_16k;	/* only 64 B and 16 KiB */
};

static const struct variant tp_variants[] = {
	{ &t_ring, "spsc", -1, "busy_poll", 0, 1, 1, 0 },
	{ &t_ipcq, "fast", S_BUSY, NULL, 0, 1, 0, 0 },
	{ &t_ipcq, "fast", S_BUSY, NULL, 0, 32, 0, 0 },
	{ &t_ipcq, "fast", S_ADAPTIVE, NULL, 0, 1, 0, 0 },
	{ &t_ipcq, "fast", S_ADAPTIVE, NULL, 0, 32, 0, 0 },
	{ &t_ipcq, "fast", S_YIELD, NULL, 0, 1, 0, 0 },
	{ &t_ipcq, "fast", S_YIELD, NULL, 0, 32, 0, 0 },
	{ &t_ipcq, "sole", S_BUSY, NULL, T_SOLE, 1, 1, 0 },
	{ &t_ipcq, "sole", S_BUSY, NULL, T_SOLE, 32, 1, 0 },
	{ &t_ipcq_group, "fast", S_BUSY, NULL, 0, 1, 0, 0 },
	{ &t_ipcq_group, "fast", S_BUSY, NULL, 0, 32, 0, 0 },
	{ &t_ipcq, "ack", S_BUSY, NULL, T_ACK, 1, 0, 0 },
	{ &t_ipcq, "ack", S_ADAPTIVE, NULL, T_ACK, 1, 0, 0 },
	{ &t_ipcq, "zerocopy", S_BUSY, NULL, T_ZC, 1, 0, 1 },
	{ &t_ipcq, "zerocopy", S_BUSY, NULL, T_ZC, 32, 0, 1 },
	{ &t_ipcq, "zerocopy", S_ADAPTIVE, NULL, T_ZC, 1, 0, 1 },
	{ &t_ipcq, "zerocopy", S_ADAPTIVE, NULL, T_ZC, 32, 0, 1 },
	{ &t_pipe, "stream", -1, "block", 0, 1, 0, 0 },
	{ &t_sock, "seqpacket", -1, "block", 0, 1, 0, 0 },
	{ &t_mq, "mq", -1, "block", 0, 1, 0, 0 },
	{ &t_boost, "mq", -1, "block", 0, 1, 0, 0 },
	{ &t_rte, "mpmc", -1, "busy_poll", 0, 1, 0, 0 },
	{ &t_rte, "mpmc", -1, "busy_poll", 0, 32, 0, 0 },
	{ &t_rte, "hts", -1, "busy_poll", T_HTS, 1, 0, 0 },
	{ &t_rte, "hts", -1, "busy_poll", T_HTS, 32, 0, 0 },
	{ &t_rte, "spsc", -1, "busy_poll", T_SOLE, 1, 1, 0 },
	{ &t_rte, "spsc", -1, "busy_poll", T_SOLE, 32, 1, 0 },
	{ &t_ck, "mpmc", -1, "busy_poll", 0, 1, 0, 0 },
	{ &t_ck, "spsc", -1, "busy_poll", T_SPSC, 1, 1, 0 },
};

static const struct variant lat_variants[] = {
	{ &t_ring, "spsc", -1, "busy_poll", 0, 1, 1, 0 },
	{ &t_ipcq, "fast", S_BUSY, NULL, 0, 1, 1, 0 },
	{ &t_ipcq, "fast", S_ADAPTIVE, NULL, 0, 1, 1, 0 },
	{ &t_ipcq, "fast", S_YIELD, NULL, 0, 1, 1, 0 },
	{ &t_ipcq, "late", S_BUSY, NULL, T_LATE, 1, 1, 0 },
	{ &t_ipcq, "sole", S_BUSY, NULL, T_SOLE, 1, 1, 0 },
	{ &t_ipcq_group, "fast", S_BUSY, NULL, 0, 1, 1, 0 },
	{ &t_pipe, "stream", -1, "block", 0, 1, 1, 0 },
	{ &t_sock, "seqpacket", -1, "block", 0, 1, 1, 0 },
	{ &t_mq, "mq", -1, "block", 0, 1, 1, 0 },
	{ &t_boost, "mq", -1, "block", 0, 1, 1, 0 },
	{ &t_rte, "mpmc", -1, "busy_poll", 0, 1, 1, 0 },
	{ &t_rte, "hts", -1, "busy_poll", T_HTS, 1, 1, 0 },
	{ &t_rte, "spsc", -1, "busy_poll", T_SOLE, 1, 1, 0 },
	{ &t_ck, "mpmc", -1, "busy_poll", 0, 1, 1, 0 },
	{ &t_ck, "spsc", -1, "busy_poll", T_SPSC, 1, 1, 0 },
};

/* Run with the latency cases, before them (both) and after them (the cache line again). */
static const struct variant floor_variants[] = {
	{ &t_floor, "cacheline", -1, "busy_poll", 0, 1, 1, 0 },
	{ &t_floor, "handoff", -1, "busy_poll", 0, 1, 1, 0 },
};
#define N_FLOOR_VARIANTS (sizeof(floor_variants) / sizeof(floor_variants[0]))

#define N_TP_VARIANTS (sizeof(tp_variants) / sizeof(tp_variants[0]))
#define N_LAT_VARIANTS (sizeof(lat_variants) / sizeof(lat_variants[0]))

static const struct transport *const all_transports[] = {
	&t_ipcq, &t_ipcq_group, &t_ring, &t_pipe, &t_sock, &t_mq, &t_boost, &t_rte, &t_ck, &t_floor,
};
#define N_TRANSPORTS (sizeof(all_transports) / sizeof(all_transports[0]))

static int selected(const struct transport *t)
{
	const char *p = opt.only;
	size_t len = strlen(t->name);

	if (!*p || t == &t_floor) /* the floor runs whenever latency does */
		return 1;
	while (*p) {
		const char *e = strchr(p, ',');
		size_t n = e ? (size_t)(e - p) : strlen(p);

		if (n == len && !strncmp(p, t->name, n))
			return 1;
		if (!e)
			break;
		p = e + 1;
	}
	return 0;
}

/* A case of the runs asked for: its transport, wait strategy and batch. */
static int var_selected(const struct variant *v)
{
	const char *wait = v->strat >= 0 ? strategies[v->strat].name : v->wait_name;

	if (!selected(v->t))
		return 0;
	if (opt.strategy && strcmp(opt.strategy, wait))
		return 0;
	return !opt.batch || opt.batch == v->batch;
}

static void make_case(struct tcase *tc, const struct variant *v, unsigned pc, unsigned size,
		      int latency)
{
	memset(tc, 0, sizeof(*tc));
	tc->t = v->t;
	tc->mode = v->mode;
	tc->strategy = v->strat >= 0 ? strategies[v->strat].name : v->wait_name;
	tc->wait = v->strat >= 0 ? strategies[v->strat].id : IPCQ_WAIT_DEFAULT;
	tc->flags = v->flags;
	tc->batch = v->batch;
	tc->np = tc->nc = pc;
	tc->size = size;
	tc->latency = latency;
	/*
	 * The same depth for every transport: --capacity slots, but at most
	 * PAYLOAD_BUDGET bytes of payload (64 slots of 16 KiB), as one sizes a
	 * queue of large messages; a deeper one only measures cache misses.
	 */
	tc->depth = latency ? LAT_DEPTH : opt.capacity;
	while (!latency && tc->depth > 64 && (uint64_t)tc->depth * size > PAYLOAD_BUDGET)
		tc->depth /= 2;
	tc->nch = latency ? 2 : 1;
	snprintf(tc->label, sizeof(tc->label), "%s %s %s %s batch=%u P/C=%u/%u size=%u",
		 latency ? "latency" : "throughput", v->t->name, v->mode, tc->strategy, v->batch,
		 pc, pc, size);
}

static uint64_t reserved_ns;	/* kept for the latency cases while throughput runs */

/* Would a case of about @ns still end inside the time budget? */
static int within_budget(uint64_t ns)
{
	return bench_now_ns() - run_start_ns + ns + reserved_ns <= opt.budget_ns;
}

/* @r: @tc not run, the time budget being spent. */
static void skipped_result(struct result *r, const struct tcase *tc)
{
	init_result(r, tc);
	snprintf(r->status, sizeof(r->status), "skipped");
	snprintf(r->note, sizeof(r->note), "time budget (--budget-s) spent");
}

static void emit_skipped(struct tcase *tc)
{
	struct result r;

	skipped_result(&r, tc);
	emit_result(&r);
}

/* Median of @n runs by rate; a failed run wins (it must be seen), a capped one is not repeated. */
static void run_tp_case(struct tcase *tc)
{
	static struct result runs[MAX_REPEAT];
	unsigned i, j, n = 0;

	for (i = 0; i < opt.repeat; i++) {
		if (i > 0 && !within_budget(opt.warmup_ns + opt.duration_ns + 200000000ull))
			break;
		run_throughput(tc, &runs[n]);
		n++;
		if (strcmp(runs[n - 1].status, "ok")) {
			emit_result(&runs[n - 1]);
			return;
		}
	}
	for (i = 1; i < n; i++)
		for (j = i; j > 0 && rate(&runs[j - 1]) > rate(&runs[j]); j--) {
			struct result t = runs[j];

			runs[j] = runs[j - 1];
			runs[j - 1] = t;
		}
	emit_result(&runs[n / 2]);
}

/* Should the latency cases of @size run (--tests, --pc, --size)? */
static int latency_wanted(unsigned size)
{
	return opt.do_latency && (!opt.pc || opt.pc == 1) && (!opt.size || opt.size == size);
}

static int any_latency_wanted(void)
{
	unsigned z;

	for (z = 0; z < N_LAT_SIZES; z++)
		if (latency_wanted(lat_sizes[z]))
			return 1;
	return 0;
}

/* The time a latency case takes, at most, when it goes well. */
static uint64_t lat_case_ns(void)
{
	return opt.lat_duration_ns * 11 / 10 + 300000000ull + (opt.lat_rounds - 1) * 100000000ull;
}

/*
 * What the run saw of the machine: the cache-line floor before the latency
 * cases (which the multiples and the goals use) and again after them.
 */
static struct {
	int have, close;		/* before the latency cases */
	int have_after, close_after;	/* after them */
	uint64_t p50, p50_after;
	int floor_idx, floor_after_idx, handoff_idx; /* in results[], -1 when none */
	int moved;			/* a latency case's rounds straddled two regimes */
} regime = { 0, 0, 0, 0, 0, 0, -1, -1, -1, 0 };

/* "close", "far", "close then far", ..., "mixed" (a case's rounds differ
 * twofold), "unknown" (no cache-line floor); no commas (CSV). */
static const char *regime_name(void)
{
	static char buf[32];

	if (!regime.have)
		return "unknown";
	if (regime.moved)
		return "mixed"; /* a case's rounds straddled both */
	if (regime.have_after && regime.close_after != regime.close) {
		snprintf(buf, sizeof(buf), "%s then %s", regime.close ? "close" : "far",
			 regime.close_after ? "close" : "far");
		return buf;
	}
	return regime.close ? "close" : "far";
}

/* Run one latency case and emit it; its index in results[], or -1. */
static int run_lat_case(const struct variant *var, unsigned size, const char *note)
{
	struct tcase tc;
	struct result r;

	make_case(&tc, var, 1, size, 1);
	if (!within_budget(lat_case_ns())) {
		emit_skipped(&tc);
		return -1;
	}
	run_latency(&tc, &r, opt.lat_duration_ns, NULL);
	if (note && usable(&r) && !r.note[0])
		snprintf(r.note, sizeof(r.note), "%s", note);
	emit_result(&r);
	return n_results > 0 && usable(&results[n_results - 1]) ? (int)n_results - 1 : -1;
}

/*
 * The latency cases, in opt.lat_rounds rounds: each round runs every case
 * for its share of the measuring time, in the listed order in odd rounds and
 * in reverse in even ones, and each case's histograms are merged.  A burst
 * of noise from the host (a vCPU descheduled for tens of microseconds)
 * then falls on every case alike instead of on whichever case ran through
 * it, so that one run's p99.9 ratios mean what they say.  A case that fails
 * in any round is reported with that round's failure.
 */
struct lat_slot {
	const struct variant *var;
	unsigned size;
	struct result r;	/* the last slice's, or its failure */
	struct bench_hist h;	/* the merged rounds */
	double seconds;
	unsigned rounds;	/* slices that measured */
	uint64_t lo, hi;	/* the lowest and highest p50 of a round */
	int failed, capped;
};

static void run_lat_rounds(struct lat_slot *s, unsigned n)
{
	static struct bench_hist h;
	uint64_t slice = opt.lat_duration_ns / opt.lat_rounds;
	unsigned k, j;

	for (j = 0; j < n; j++) {
		bench_hist_init(&s[j].h);
		s[j].seconds = 0;
		s[j].rounds = 0;
		s[j].lo = UINT64_MAX;
		s[j].hi = 0;
		s[j].failed = s[j].capped = 0;
		memset(&s[j].r, 0, sizeof(s[j].r));
	}
	for (k = 0; k < opt.lat_rounds; k++)
		for (j = 0; j < n; j++) {
			struct lat_slot *c = &s[k % 2 ? n - 1 - j : j];
			struct tcase tc;
			struct result r;

			if (c->failed)
				continue;
			make_case(&tc, c->var, 1, c->size, 1);
			if (!within_budget(slice * 11 / 10 + 300000000ull)) {
				if (!c->rounds) {
					skipped_result(&c->r, &tc);
					c->failed = 1;
				}
				continue;
			}
			run_latency(&tc, &r, slice, &h);
			c->r = r;
			if (!usable(&r)) {
				c->failed = 1;
				continue;
			}
			bench_hist_merge(&c->h, &h);
			c->seconds += r.seconds;
			c->rounds++;
			if (opt.show_rounds)
				printf("round %2u  %-10s %-9s %-9s %5u B  p50 %6llu ns\n", k + 1,
				       c->var->t->name, c->var->mode,
				       c->var->strat >= 0 ? strategies[c->var->strat].name
							  : c->var->wait_name,
				       c->size, (unsigned long long)r.p50);
			c->lo = r.p50 < c->lo ? r.p50 : c->lo;
			c->hi = r.p50 > c->hi ? r.p50 : c->hi;
			c->capped |= !strcmp(r.status, "capped");
		}
	for (j = 0; j < n; j++) {
		struct result *r = &s[j].r;

		if (!s[j].failed) {
			/* a round twice as slow as another: the host moved the
			 * vCPUs (close and far) during the run */
			int moved = s[j].hi > 2 * s[j].lo;

			r->msgs = s[j].h.count;
			r->seconds = s[j].seconds;
			r->p50 = bench_hist_percentile(&s[j].h, 50.0);
			r->p99 = bench_hist_percentile(&s[j].h, 99.0);
			r->p999 = bench_hist_percentile(&s[j].h, 99.9);
			r->max = s[j].h.max;
			r->slow_share = bench_hist_share_above(&s[j].h, r->p50 * SLOW_X);
			snprintf(r->status, sizeof(r->status), "%s", s[j].capped ? "capped" : "ok");
			r->note[0] = 0;
			if (s[j].rounds < opt.lat_rounds)
				snprintf(r->note, sizeof(r->note), "%u of %u rounds (time budget)",
					 s[j].rounds, opt.lat_rounds);
			else if (moved)
				snprintf(r->note, sizeof(r->note), "REGIME MOVED: round p50 %llu to "
					 "%llu ns; rerun", (unsigned long long)s[j].lo,
					 (unsigned long long)s[j].hi);
			regime.moved |= moved;
		}
		emit_result(r);
	}
}

static void latency_summary(unsigned first);
static const struct result *find(const char *test, const char *transport, const char *mode,
				 const char *strategy, unsigned batch, unsigned pc, unsigned size);

/* A multiple in a column @w wide, "-" when there is none (x 0). */
static void print_multiple_w(double x, int w)
{
	if (x > 0)
		printf(" %*.2fx", w - 1, x);
	else
		printf(" %*s", w, "-");
}

/* ------------------------------------------------------------------ */
/* Cost: a send and a receive in one process                           */
/* ------------------------------------------------------------------ */

/*
 * What a transport's own calls cost with no other process (--tests cost):
 * one process, pinned to one CPU, opens both ends of one channel and sends
 * and receives one message at a time, checking each, for --cost-ms after a
 * warm-up of a tenth of it.  Nothing waits and no cache line moves between
 * CPUs, so the time per pair is the work of the calls themselves.  A round
 * trip pays it twice (one pair each way) on top of moving its lines, and
 * where lines move cheaply (two vCPUs that share a cache) it is most of
 * the round trip.  The cases take turns over COST_ROUNDS rounds; the
 * table has each case's median and least time per pair.
 */
static const struct variant cost_variants[] = {
	{ &t_ring, "spsc", -1, "busy_poll", 0, 1, 1, 0 },
	{ &t_ipcq, "fast", S_BUSY, NULL, 0, 1, 1, 0 },
	{ &t_ipcq, "late", S_BUSY, NULL, T_LATE, 1, 1, 0 },
	{ &t_ipcq, "sole", S_BUSY, NULL, T_SOLE, 1, 1, 0 },
	{ &t_ipcq, "ack", S_BUSY, NULL, T_ACK, 1, 1, 0 },
	{ &t_ipcq_group, "fast", S_BUSY, NULL, 0, 1, 1, 0 },
	{ &t_rte, "mpmc", -1, "busy_poll", 0, 1, 1, 0 },
	{ &t_rte, "hts", -1, "busy_poll", T_HTS, 1, 1, 0 },
	{ &t_rte, "spsc", -1, "busy_poll", T_SOLE, 1, 1, 0 },
	{ &t_ck, "mpmc", -1, "busy_poll", 0, 1, 1, 0 },
	{ &t_ck, "spsc", -1, "busy_poll", T_SPSC, 1, 1, 0 },
	{ &t_boost, "mq", -1, "block", 0, 1, 1, 0 },
	{ &t_mq, "mq", -1, "block", 0, 1, 1, 0 },
	{ &t_pipe, "stream", -1, "block", 0, 1, 1, 0 },
	{ &t_sock, "seqpacket", -1, "block", 0, 1, 1, 0 },
};
#define N_COST_VARIANTS (sizeof(cost_variants) / sizeof(cost_variants[0]))
#define COST_ROUNDS 5

/* Written by the child that runs the cost cases, read by the parent. */
struct cost_out {
	double ns[N_COST_VARIANTS][COST_ROUNDS];	/* per pair; 0: not run */
	int state[N_COST_VARIANTS];	/* 0 not run, COST_OK, T_NA, COST_BAD, -errno */
	char why[N_COST_VARIANTS][WHY_LEN];
};
#define COST_BAD 2	/* a message failed its check (T_NA is 1) */
#define COST_OK 3

struct cost_ctx {
	uint64_t want;
	int bad;
};

static int cost_deliver(struct ep *ep, const unsigned char *p, size_t len, uint64_t libseq)
{
	struct cost_ctx *cc = ep->ctx;

	(void)libseq;
	if (len != ep->tc->size || !stamp_ok(p, len, 1, cc->want))
		cc->bad = 1;
	cc->want++;
	return 0;
}

/* One round of variant @v: ns per pair into @out, or the state. */
static void cost_round(const struct variant *v, unsigned size, unsigned vi, unsigned round,
		       struct cost_out *out)
{
	struct tcase tc;
	struct ep se, re;
	struct cost_ctx cc = { 0, 0 };
	uint64_t seq = 0, t0 = 0, n0 = 0, t_warm, t_end, now;
	int rc;

	make_case(&tc, v, 1, size, 0);
	rc = case_setup(&tc);
	if (rc != 0) {
		out->state[vi] = rc;
		snprintf(out->why[vi], WHY_LEN, "%s", rc == T_NA ? tc.note : err_str(rc));
		goto teardown;
	}
	if ((rc = ep_open(&se, &tc, 0, ROLE_SEND, 1)) < 0) {
		out->state[vi] = rc;
		snprintf(out->why[vi], WHY_LEN, "open (send): %s", err_str(rc));
		goto teardown;
	}
	if ((rc = ep_open(&re, &tc, 0, ROLE_RECV, 1)) < 0) {
		out->state[vi] = rc;
		snprintf(out->why[vi], WHY_LEN, "open (receive): %s", err_str(rc));
		ep_close(&se);
		goto teardown;
	}
	re.deliver = cost_deliver;
	re.ctx = &cc;
	t_warm = bench_now_ns() + opt.cost_ns / 10;
	t_end = 0;
	for (;;) {
		if ((rc = tc.t->send(&se, 1, seq, 1)) != 1 || (rc = tc.t->recv(&re, 1)) != 1) {
			out->state[vi] = rc < 0 ? rc : -EIO;
			snprintf(out->why[vi], WHY_LEN, "pair %llu: %s", (unsigned long long)seq,
				 rc < 0 ? err_str(rc) : "nothing moved");
			break;
		}
		seq++;
		if (cc.bad || cc.want != seq) {
			out->state[vi] = COST_BAD;
			snprintf(out->why[vi], WHY_LEN, "message %llu failed its check",
				 (unsigned long long)seq - 1);
			break;
		}
		if (seq % 256)
			continue;
		now = bench_now_ns();
		if (!t_end) {
			if (now >= t_warm) {
				t0 = now;
				n0 = seq;
				t_end = now + opt.cost_ns;
			}
		} else if (now >= t_end) {
			out->ns[vi][round] = (double)(now - t0) / (double)(seq - n0);
			if (!out->state[vi])
				out->state[vi] = COST_OK;
			break;
		}
	}
	ep_close(&re);
	ep_close(&se);
teardown:
	if (tc.sh)
		case_teardown(&tc);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Median (into *med) and least of the rounds of variant @vi that ran. */
static int cost_stats(const struct cost_out *out, unsigned vi, double *med, double *least)
{
	double v[COST_ROUNDS];
	unsigned i, n = 0;

	if (out->state[vi] != COST_OK)
		return 0;
	for (i = 0; i < COST_ROUNDS; i++)
		if (out->ns[vi][i] > 0)
			v[n++] = out->ns[vi][i];
	if (!n)
		return 0;
	qsort(v, n, sizeof(v[0]), cmp_double);
	*med = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
	*least = v[0];
	return 1;
}

static void run_cost(void)
{
	struct cost_out *out = bench_shm_alloc(sizeof(*out));
	unsigned size = opt.size ? opt.size : 64, vi, r;
	double med, least, ref_ring = 0, ref_rte = 0;
	int status = 0, cpu, left;
	char why[64];
	pid_t pid;

	for (vi = 0; vi < N_COST_VARIANTS && !var_selected(&cost_variants[vi]); vi++)
		;
	if (vi == N_COST_VARIANTS) {
		fprintf(stderr, "transports: cost: no case selected (the cost cases are single "
			"calls, one of each transport's modes)\n");
		any_failure = 1;
		if (out)
			bench_shm_free(out, sizeof(*out));
		return;
	}
	if (!out) {
		fprintf(stderr, "transports: cost: no shared memory\n");
		any_failure = 1;
		return;
	}
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		/* the child pins itself, so that the parent stays as it was */
		cpu = pin_latency ? bench_pin_nth_cpu(bench_cpu_count() - 1) : -1;
		for (r = 0; r < COST_ROUNDS; r++)
			for (vi = 0; vi < N_COST_VARIANTS; vi++) {
				/* every other round in reverse, as the latency rounds */
				unsigned k = r % 2 ? N_COST_VARIANTS - 1 - vi : vi;

				if (var_selected(&cost_variants[k]) &&
				    (!out->state[k] || out->state[k] == COST_OK))
					cost_round(&cost_variants[k], size, k, r, out);
			}
		_exit(cpu < 0 ? 3 : 0);
	}
	if (pid < 0) {
		fprintf(stderr, "transports: cost: fork: %s\n", strerror(errno));
		any_failure = 1;
		bench_shm_free(out, sizeof(*out));
		return;
	}
	/* Every case's calls are bounded waits, but a transport that lost a
	 * message would wait for it for ever: the child gets its time, a
	 * second a case for setting up, and 10 s more, then it is a HANG. */
	track_pids(&pid, 1);
	left = bench_wait_all(&pid, &status, 1, bench_now_ns() + 10000000000ull +
			      (uint64_t)COST_ROUNDS * N_COST_VARIANTS *
			      (opt.cost_ns + opt.cost_ns / 10 + 1000000000ull));
	if (left) {
		bench_kill_all(&pid, &status, 1);
		fprintf(stderr, "transports: cost: HANG: the measuring process did not finish "
			"in its time, killed\n");
		any_failure = 1;
	} else if (!WIFEXITED(status) || (WEXITSTATUS(status) != 0 && WEXITSTATUS(status) != 3)) {
		fprintf(stderr, "transports: cost: the measuring process failed (%s)\n",
			bench_status_str(status, why, sizeof(why)));
		any_failure = 1;
	}
	track_pids(NULL, 0);
	if (left || !WIFEXITED(status)) {
		bench_shm_free(out, sizeof(*out));
		return;
	}
	printf("\nCost of a send and a receive in one process, %u B, one message at a time "
	       "(%s; %.0f ms per case and round, %d rounds taking turns; every message checked):\n",
	       size, WEXITSTATUS(status) == 3 ? "not pinned" : "pinned to one CPU",
	       opt.cost_ns / 1e6, COST_ROUNDS);
	for (vi = 0; vi < N_COST_VARIANTS; vi++) {
		if (cost_variants[vi].t == &t_ring && cost_stats(out, vi, &med, &least))
			ref_ring = med;
		/* MP/MC: neither HTS nor SP/SC */
		if (cost_variants[vi].t == &t_rte && !(cost_variants[vi].flags & (T_HTS | T_SOLE)) &&
		    cost_stats(out, vi, &med, &least))
			ref_rte = med;
	}
	printf("  %-10s %-10s %-10s %12s %12s %16s %16s\n", "transport", "mode", "strategy",
	       "ns/pair p50", "least", "over SPSC ring", "over rte MP/MC");
	for (vi = 0; vi < N_COST_VARIANTS; vi++) {
		const struct variant *v = &cost_variants[vi];
		const char *wait = v->strat >= 0 ? strategies[v->strat].name : v->wait_name;

		if (!out->state[vi])
			continue;
		printf("  %-10s %-10s %-10s ", v->t->name, v->mode, wait);
		if (!cost_stats(out, vi, &med, &least)) {
			printf("%12s  %s\n", out->state[vi] == T_NA ? "n/a" : "FAIL", out->why[vi]);
			if (out->state[vi] != T_NA)
				any_failure = 1;
			continue;
		}
		printf("%12.1f %12.1f", med, least);
		print_multiple_w(ref_ring > 0 ? med / ref_ring : 0, 16);
		print_multiple_w(ref_rte > 0 ? med / ref_rte : 0, 16);
		printf("\n");
	}
	bench_shm_free(out, sizeof(*out));
}

static void run_plan(void)
{
	static struct lat_slot slots[N_LAT_SIZES * N_LAT_VARIANTS];
	struct tcase tc;
	unsigned v, p, z, lat_first, n;
	int i;

	if (opt.do_cost) {
		run_cost();
		return;
	}
	if (any_latency_wanted()) {
		reserved_ns += (N_FLOOR_VARIANTS + 1) * lat_case_ns();
		for (z = 0; z < N_LAT_SIZES; z++)
			for (v = 0; latency_wanted(lat_sizes[z]) && v < N_LAT_VARIANTS; v++)
				if (var_selected(&lat_variants[v]))
					reserved_ns += lat_case_ns();
	}
	if (opt.do_throughput)
		for (v = 0; v < N_TP_VARIANTS; v++) {
			const struct variant *var = &tp_variants[v];

			if (!var_selected(var))
				continue;
			for (p = 0; p < 3; p++) {
				unsigned pc = all_pcs[p];

				if ((opt.pc && opt.pc != pc) || (var->pc1_only && pc != 1))
					continue;
				for (z = 0; z < 3; z++) {
					unsigned size = all_sizes[z];

					if ((opt.size && opt.size != size) ||
					    (var->sizes_64_16k && size == 1024))
						continue;
					make_case(&tc, var, pc, size, 0);
					if (!within_budget(opt.warmup_ns + opt.duration_ns +
							   300000000ull))
						emit_skipped(&tc);
					else
						run_tp_case(&tc);
				}
			}
		}
	reserved_ns = 0;
	if (!any_latency_wanted())
		return;
	/*
	 * The floor first, then every latency case (16 B, then 64 B; the SPSC
	 * ring first at each size), then the cache line again: a regime that
	 * changed during the latency cases shows.
	 */
	lat_first = n_results;
	regime.floor_idx = run_lat_case(&floor_variants[0], FLOOR_WORD_SIZE, NULL);
	regime.handoff_idx = run_lat_case(&floor_variants[1], 64, NULL);
	if (regime.floor_idx >= 0) {
		regime.have = 1;
		regime.p50 = results[regime.floor_idx].p50;
		regime.close = regime.p50 < opt.close_ns;
	}
	n = 0;
	for (z = 0; z < N_LAT_SIZES; z++)
		for (v = 0; latency_wanted(lat_sizes[z]) && v < N_LAT_VARIANTS; v++)
			if (var_selected(&lat_variants[v]) && n < N_LAT_SIZES * N_LAT_VARIANTS) {
				slots[n].var = &lat_variants[v];
				slots[n++].size = lat_sizes[z];
			}
	run_lat_rounds(slots, n);
	i = run_lat_case(&floor_variants[0], FLOOR_WORD_SIZE, "again after the latency cases");
	if (i >= 0) {
		regime.floor_after_idx = i;
		regime.have_after = 1;
		regime.p50_after = results[i].p50;
		regime.close_after = regime.p50_after < opt.close_ns;
	}
	latency_summary(lat_first);
}

/* @a / @b, 0 when either is missing. */
static double multiple(uint64_t a, uint64_t b)
{
	return a && b ? (double)a / (double)b : 0.0;
}

static void print_multiple(double x)
{
	print_multiple_w(x, 8);
}

/*
 * After the latency cases: the floor and the regime, then every latency
 * row again as multiples of the cache-line floor and of the SPSC ring of
 * the same size (each percentile over the same percentile), and the
 * latency rows' CSV with those columns.
 */
static void latency_summary(unsigned first)
{
	const struct result *fl = regime.floor_idx >= 0 ? &results[regime.floor_idx] : NULL;
	const struct result *ho = regime.handoff_idx >= 0 ? &results[regime.handoff_idx] : NULL;
	unsigned i, k;

	printf("\nFloor (same run, same pinning as the latency cases):\n");
	if (fl)
		printf("  one cache line bounced between the two processes: p50 %llu ns, p99 %llu ns, "
		       "p99.9 %llu ns\n", (unsigned long long)fl->p50, (unsigned long long)fl->p99,
		       (unsigned long long)fl->p999);
	else
		printf("  one cache line bounced between the two processes: not measured\n");
	if (fl) {
		double per_s = fl->slow_share * rate(fl);

		printf("  host interruptions: %.3f %% of the cache line's round trips took over "
		       "%dx its p50 (%llu ns), about %.0f a second\n", fl->slow_share * 100.0,
		       SLOW_X, (unsigned long long)(fl->p50 * SLOW_X), per_s);
		if (per_s > 0)
			printf("    (a case doing fewer than %.2f M round trips a second has more than "
			       "0.1 %% of them interrupted: its p99.9 is then the host's)\n",
			       per_s * 1000.0 / 1e6);
	}
	if (ho)
		printf("  64-byte hand-off each way (payload line + flag line): p50 %llu ns, "
		       "p99 %llu ns, p99.9 %llu ns\n", (unsigned long long)ho->p50,
		       (unsigned long long)ho->p99, (unsigned long long)ho->p999);
	if (regime.have)
		printf("Regime: %s (cache-line floor p50 %llu ns; close below %llu ns, far otherwise; "
		       "--close-ns)\n", regime.close ? "close" : "far",
		       (unsigned long long)regime.p50, (unsigned long long)opt.close_ns);
	else
		printf("Regime: unknown (no cache-line floor)\n");
	if (regime.have && regime.have_after)
		printf("  after the latency cases: p50 %llu ns, %s%s\n",
		       (unsigned long long)regime.p50_after, regime.close_after ? "close" : "far",
		       regime.close_after == regime.close
			       ? " (unchanged)"
			       : ": the regime CHANGED during the latency cases; their ratios straddle "
				 "it, rerun");
	if (regime.moved)
		printf("  the regime MOVED during the latency cases: a case's rounds differ by "
		       "more than 2x in p50 (see its note); the merged figures mix both "
		       "regimes: rerun\n");
	if (!pin_latency)
		printf("  (--no-pin: the processes were not pinned; the floor may not be the "
		       "machine's)\n");

	printf("\nRound trip as multiples (each percentile over the same percentile of the "
	       "cache-line floor, and of the SPSC ring at the same size; same run)\n");
	printf("%-10s %-10s %-9s %6s %8s %8s %9s | %8s %8s %8s | %8s %8s %8s\n", "transport",
	       "mode", "strategy", "size", "p50_ns", "p99_ns", "p99.9_ns", "fl p50", "fl p99",
	       "fl p99.9", "ring p50", "ring p99", "ring p99.9");
	for (i = first; i < n_results; i++) {
		const struct result *r = &results[i];
		const struct result *ring = NULL;
		double xf[3] = { 0, 0, 0 }, xr[3] = { 0, 0, 0 };
		char tail[256], *t = tail;
		size_t left = sizeof(tail);
		int n;

		if (strcmp(r->test, "latency"))
			continue;
		if (usable(r)) {
			ring = find("latency", "ring", "spsc", "busy_poll", 1, 1, r->msg_size);
			if (fl) {
				xf[0] = multiple(r->p50, fl->p50);
				xf[1] = multiple(r->p99, fl->p99);
				xf[2] = multiple(r->p999, fl->p999);
			}
			if (ring) {
				xr[0] = multiple(r->p50, ring->p50);
				xr[1] = multiple(r->p99, ring->p99);
				xr[2] = multiple(r->p999, ring->p999);
			}
			printf("%-10s %-10s %-9s %6u %8llu %8llu %9llu |", r->transport, r->mode,
			       r->strategy, r->msg_size, (unsigned long long)r->p50,
			       (unsigned long long)r->p99, (unsigned long long)r->p999);
			for (k = 0; k < 3; k++)
				print_multiple(xf[k]);
			printf(" |");
			for (k = 0; k < 3; k++)
				print_multiple(xr[k]);
			printf("%s\n", i == (unsigned)regime.floor_after_idx ? "  (after)" : "");
		}
		n = snprintf(t, left, ",%s", regime_name());
		for (k = 0; k < 6 && n > 0 && (size_t)n < left; k++) {
			double x = k < 3 ? xf[k] : xr[k - 3];

			t += n;
			left -= (size_t)n;
			n = x > 0 ? snprintf(t, left, ",%.3f", x) : snprintf(t, left, ",");
		}
		csv_result(r, tail);
	}
}

/* ------------------------------------------------------------------ */
/* Ratios                                                              */
/* ------------------------------------------------------------------ */

static const struct result *find(const char *test, const char *transport, const char *mode,
				 const char *strategy, unsigned batch, unsigned pc, unsigned size)
{
	unsigned i;

	for (i = 0; i < n_results; i++) {
		const struct result *r = &results[i];

		if (usable(r) && !strcmp(r->test, test) && !strcmp(r->transport, transport) &&
		    !strcmp(r->mode, mode) && !strcmp(r->strategy, strategy) &&
		    r->batch == batch && r->producers == pc && r->msg_size == size)
			return r;
	}
	return NULL;
}

static unsigned n_met, n_missed, n_na;

/*
 * One goal: @value is the ratio, @goal the bound, @at_least 1 for ">=",
 * 0 for "<=".  A missing operand prints n/a.  Every line carries the
 * regime the run saw: a ratio measured in one regime says little about
 * the other.
 */
static void goal_line(const char *what, const struct result *a, const struct result *b,
		      double value, double goal, int at_least, const char *detail)
{
	int met;

	if (!a || !b || !(value > 0)) {
		printf("  %-58s %8s  goal %s %.2f  n/a     [%s]  (not measured, not built or "
		       "failed)\n", what, "-", at_least ? ">=" : "<=", goal, regime_name());
		n_na++;
		return;
	}
	met = at_least ? value >= goal : value <= goal;
	printf("  %-58s %7.2fx  goal %s %.2f  %-6s  [%s]%s%s%s\n", what, value,
	       at_least ? ">=" : "<=", goal, met ? "met" : "MISSED", regime_name(),
	       detail[0] ? "  (" : "", detail, detail[0] ? ")" : "");
	if (met)
		n_met++;
	else
		n_missed++;
}

static void tp_ratio(const char *what, const struct result *a, const struct result *b,
		     double goal)
{
	char detail[128] = "";

	if (a && b)
		snprintf(detail, sizeof(detail), "%.3f vs %.3f Mmsg/s%s", rate(a) / 1e6,
			 rate(b) / 1e6,
			 !strcmp(a->status, "capped") || !strcmp(b->status, "capped") ? ", capped" : "");
	goal_line(what, a, b, a && b && rate(b) > 0 ? rate(a) / rate(b) : 0, goal, 1, detail);
}

/* A round-trip goal: ipcq busy_poll's percentile @pct (50 or 999) over @b's, at most @goal. */
static void lat_ratio(const char *what, const struct result *a, const struct result *b,
		      int pct, double goal)
{
	char detail[128] = "";
	uint64_t va = 0, vb = 0;

	if (a && b) {
		va = pct == 50 ? a->p50 : a->p999;
		vb = pct == 50 ? b->p50 : b->p999;
		if (pct == 50)
			snprintf(detail, sizeof(detail), "p50 %llu vs %llu ns",
				 (unsigned long long)va, (unsigned long long)vb);
		else
			snprintf(detail, sizeof(detail),
				 "p99.9 %llu vs %llu ns; over %dx p50: %.3f vs %.3f %%",
				 (unsigned long long)va, (unsigned long long)vb, SLOW_X,
				 a->slow_share * 100.0, b->slow_share * 100.0);
	}
	goal_line(what, a, b, multiple(va, vb), goal, 0, detail);
}

static void info_ratio(const char *what, const struct result *a, const struct result *b);

static void print_ratios(void)
{
	static const char *const tp = "throughput", *const lat = "latency";
	const struct result *a, *b;
	char what[96];
	unsigned p, s, z;

	printf("\nGoals (ratios of this run; the goals of README.md, Performance; regime: %s",
	       regime_name());
	if (regime.have)
		printf(", cache-line floor p50 %llu ns, close below %llu ns",
		       (unsigned long long)regime.p50, (unsigned long long)opt.close_ns);
	printf("; a missed goal is reported, not fatal)\n");

	a = find(tp, "ipcq", "fast", "busy_poll", 1, 1, 64);
	b = find(tp, "rte_ring", "mpmc", "busy_poll", 1, 1, 64);
	tp_ratio("1/1 64 B ipcq busy_poll / rte_ring MP/MC (single calls)", a, b, 1.5);

	a = find(tp, "ipcq", "fast", "busy_poll", 32, 1, 64);
	b = find(tp, "ring", "spsc", "busy_poll", 1, 1, 64);
	tp_ratio("1/1 64 B ipcq batch 32 / hand-written SPSC ring", a, b, 0.7);

	for (s = 0; s < N_STRATEGIES; s++) {
		a = find(tp, "ipcq", "fast", strategies[s].name, 1, 4, 64);
		b = find(tp, "ipcq", "fast", strategies[s].name, 1, 1, 64);
		snprintf(what, sizeof(what), "64 B ipcq %s 4/4 / 1/1", strategies[s].name);
		tp_ratio(what, a, b, 0.5);
	}

	/* Round trips: ipcq busy_poll, one message at a time. */
	a = find(lat, "ipcq", "fast", "busy_poll", 1, 1, 64);
	b = find(lat, "rte_ring", "mpmc", "busy_poll", 1, 1, 64);
	lat_ratio("round trip 64 B p50 ipcq busy_poll / rte_ring MP/MC", a, b, 50, 1.0);
	b = find(lat, "rte_ring", "hts", "busy_poll", 1, 1, 64);
	lat_ratio("round trip 64 B p50 ipcq busy_poll / rte_ring HTS", a, b, 50, 1.0);
	for (z = 0; z < N_LAT_SIZES; z++) {
		unsigned size = lat_sizes[N_LAT_SIZES - 1 - z];

		a = find(lat, "ipcq", "fast", "busy_poll", 1, 1, size);
		b = find(lat, "ring", "spsc", "busy_poll", 1, 1, size);
		snprintf(what, sizeof(what), "round trip %u B p50 ipcq busy_poll / SPSC ring", size);
		lat_ratio(what, a, b, 50, size == 64 ? 1.3 : 1.2);
	}
	for (z = 0; z < N_LAT_SIZES; z++) {
		unsigned size = lat_sizes[N_LAT_SIZES - 1 - z];

		a = find(lat, "ipcq", "fast", "busy_poll", 1, 1, size);
		b = find(lat, "ring", "spsc", "busy_poll", 1, 1, size);
		snprintf(what, sizeof(what), "round trip %u B p99.9 ipcq busy_poll / SPSC ring", size);
		lat_ratio(what, a, b, 999, 1.2);
	}

	for (p = 0; p < 3; p++) {
		unsigned pc = all_pcs[p];

		a = find(tp, "ipcq", "fast", "adaptive", 1, pc, 64);
		b = find(tp, "boost_mq", "mq", "block", 1, pc, 64);
		snprintf(what, sizeof(what), "%u/%u 64 B ipcq adaptive / Boost message_queue", pc, pc);
		tp_ratio(what, a, b, 2.0);
	}

	a = find(tp, "ipcq", "fast", "busy_poll", 1, 1, 16384);
	b = find(tp, "ring", "spsc", "busy_poll", 1, 1, 16384);
	tp_ratio("1/1 16 KiB ipcq busy_poll / memcpy-bound SPSC ring", a, b, 0.8);

	for (s = 0; s < 2; s++) {
		unsigned batch = s ? 32 : 1;

		a = find(tp, "ipcq", "zerocopy", "busy_poll", batch, 1, 16384);
		b = find(tp, "ipcq", "fast", "busy_poll", batch, 1, 16384);
		snprintf(what, sizeof(what), "1/1 16 KiB ipcq zero copy / copy (busy_poll, batch %u)",
			 batch);
		tp_ratio(what, a, b, 1.5);
	}

	for (s = 0; s < 2; s++) {
		a = find(tp, "ipcq", "ack", strategies[s].name, 1, 1, 64);
		b = find(tp, "ipcq", "fast", strategies[s].name, 1, 1, 64);
		snprintf(what, sizeof(what), "1/1 64 B ipcq ack / fast mode (%s)", strategies[s].name);
		tp_ratio(what, a, b, 0.5);
	}
	printf("  %u met, %u missed, %u n/a  [regime: %s]\n", n_met, n_missed, n_na,
	       regime_name());
	/* beside the goals: rte_ring's burst moves 32 pointer-sized
	 * elements under one cursor update, ipcq's batch 32 messages with
	 * their headers and slot words */
	printf("  not a goal:\n");
	info_ratio("1/1 64 B ipcq batch 32 / rte_ring MP/MC burst 32",
		   find(tp, "ipcq", "fast", "busy_poll", 32, 1, 64),
		   find(tp, "rte_ring", "mpmc", "busy_poll", 32, 1, 64));
}

/* "  <what>  a/b" for p50, p99, p99.9 (latency) or the rate (throughput); "-" when missing. */
static void info_ratio(const char *what, const struct result *a, const struct result *b)
{
	printf("  %-44s", what);
	if (!a || !b)
		printf(" -\n");
	else if (!strcmp(a->test, "latency"))
		printf(" p50 %.2fx (%llu vs %llu ns), p99 %.2fx, p99.9 %.2fx\n",
		       multiple(a->p50, b->p50), (unsigned long long)a->p50,
		       (unsigned long long)b->p50, multiple(a->p99, b->p99),
		       multiple(a->p999, b->p999));
	else
		printf(" %.2fx (%.3f vs %.3f Mmsg/s)\n", rate(b) > 0 ? rate(a) / rate(b) : 0.0,
		       rate(a) / 1e6, rate(b) / 1e6);
}

/* @prefix's ratios ipcq-group / ipcq, ipcq-group / ring and, when @all, ipcq / ring. */
static void info_ratios(const char *prefix, const struct result *g, const struct result *q,
			const struct result *ring, int all)
{
	static const char *const names[3] = { "ipcq-group / ipcq", "ipcq-group / SPSC ring",
					      "ipcq / SPSC ring" };
	const struct result *pairs[3][2] = { { g, q }, { g, ring }, { q, ring } };
	char what[96];
	unsigned k;

	for (k = 0; k < (all ? 3u : 2u); k++) {
		snprintf(what, sizeof(what), "%s %s", prefix, names[k]);
		info_ratio(what, pairs[k][0], pairs[k][1]);
	}
}

/*
 * ipcq-group beside ipcq and the SPSC ring, where both ran: what the
 * group protocol's layout (no consumer write to the slot line) does to
 * the round trip and to 1/1 throughput.  No goals.
 */
static void print_group_ratios(void)
{
	static const char *const tp = "throughput", *const lat = "latency";
	const struct result *g, *q, *ring;
	char prefix[64];
	unsigned z, b;

	if (!selected(&t_ipcq_group))
		return;
	printf("\nA queue with one consumer group beside one without and the SPSC ring "
	       "(busy_poll, no goals; regime: %s)\n", regime_name());
	for (z = 0; z < N_LAT_SIZES; z++) {
		unsigned size = lat_sizes[N_LAT_SIZES - 1 - z];

		g = find(lat, "ipcq-group", "fast", "busy_poll", 1, 1, size);
		q = find(lat, "ipcq", "fast", "busy_poll", 1, 1, size);
		ring = find(lat, "ring", "spsc", "busy_poll", 1, 1, size);
		snprintf(prefix, sizeof(prefix), "round trip %u B", size);
		if (g || q)
			info_ratios(prefix, g, q, ring, 1);
	}
	ring = find(tp, "ring", "spsc", "busy_poll", 1, 1, 64);
	for (b = 1; b <= 32; b *= 32) {
		g = find(tp, "ipcq-group", "fast", "busy_poll", b, 1, 64);
		q = find(tp, "ipcq", "fast", "busy_poll", b, 1, 64);
		snprintf(prefix, sizeof(prefix), "1/1 64 B batch %u", b);
		if (g || q)
			info_ratios(prefix, g, q, ring, 0);
	}
}

struct mode_peer {
	const char *transport, *mode, *label;
};

/* The round trips of ipcq in @mode beside @peers (busy_poll, both sizes;
 * no goals: the goals are the default receive's). */
static void print_mode_ratios(const char *mode, const char *title, const struct mode_peer *peer,
			      unsigned npeers)
{
	char what[96];

	if (!selected(&t_ipcq))
		return;
	printf("\n%s (busy_poll, no goals; regime: %s)\n", title, regime_name());
	for (unsigned z = N_LAT_SIZES; z-- > 0;) {
		const struct result *l = find("latency", "ipcq", mode, "busy_poll", 1, 1,
					      lat_sizes[z]);

		for (unsigned k = 0; l && k < npeers; k++) {
			snprintf(what, sizeof(what), "round trip %u B ipcq %s / %s", lat_sizes[z],
				 mode, peer[k].label);
			info_ratio(what, l, find("latency", peer[k].transport, peer[k].mode,
						 "busy_poll", 1, 1, lat_sizes[z]));
		}
	}
}

/*
 * ipcq with late release (IPCQ_ATTACH_LATE_RELEASE) beside the default
 * receive, the SPSC ring and rte_ring MP/MC: what taking the release out
 * of the round trip gives.  ipcq with a sole producer and consumer
 * (IPCQ_ATTACH_SOLE) beside the same and rte_ring in its own SP/SC mode.
 */
static void print_late_ratios(void)
{
	static const struct mode_peer late[] = {
		{ "ipcq", "fast", "ipcq" },
		{ "ring", "spsc", "SPSC ring" },
		{ "rte_ring", "mpmc", "rte_ring MP/MC" },
	};
	static const struct mode_peer sole[] = {
		{ "ipcq", "fast", "ipcq" },
		{ "ring", "spsc", "SPSC ring" },
		{ "rte_ring", "mpmc", "rte_ring MP/MC" },
		{ "rte_ring", "spsc", "rte_ring SP/SC" },
	};

	print_mode_ratios("late", "Late release (consumers attached with "
			  "IPCQ_ATTACH_LATE_RELEASE) beside the default receive, the SPSC ring "
			  "and rte_ring MP/MC", late, sizeof(late) / sizeof(late[0]));
	print_mode_ratios("sole", "Sole producer and consumer (IPCQ_ATTACH_SOLE: claims by "
			  "store) beside the default, the SPSC ring and rte_ring MP/MC and SP/SC",
			  sole, sizeof(sole) / sizeof(sole[0]));
}

/* ------------------------------------------------------------------ */
/* Main                                                                */
/* ------------------------------------------------------------------ */

static void usage(FILE *f)
{
	unsigned i;

	fprintf(f,
		"usage: transports [options]\n"
		"  ipcq next to its peers between forked processes: throughput (P/C 1/1, 2/2,\n"
		"  4/4; 64 B, 1 KiB, 16 KiB) and round-trip latency (16 B, 64 B), every\n"
		"  message verified; the machine's floor (a cache line bounced, a 64-byte\n"
		"  hand-off) and the regime it names (close or far); every round trip as a\n"
		"  multiple of the floor and of the SPSC ring; then the goals as ratios,\n"
		"  met or MISSED.  Exit status 1 when a case failed its checks or hung.\n"
		"options:\n"
		"  --quick            smoke run, about a minute: 100 ms per throughput case,\n"
		"                     150 ms per latency case, 20 ms per cost case, cap 1.5 s,\n"
		"                     budget 240 s\n"
		"  --only NAME[,...]  transports:");
	for (i = 0; i < N_TRANSPORTS; i++)
		fprintf(f, " %s", all_transports[i]->name);
	fprintf(f,
		"\n"
		"                     (the ratios need ipcq and the peer they name)\n"
		"  --tests KIND       throughput | latency (default both), or cost: the\n"
		"                     time of a send and a receive in one process (on its\n"
		"                     own; 64 B unless --size says 16, 1024 or 16384)\n"
		"  --cost-ms N        per cost case and round (default 200; 5 rounds)\n"
		"  --pc N             only N producers / N consumers (1, 2 or 4)\n"
		"  --size N           only N-byte messages: 16 (latency only), 64 (both),\n"
		"                     1024 or 16384 (throughput only)\n"
		"  --strategy NAME    only cases that wait this way: busy_poll, adaptive,\n"
		"                     yield (ipcq's strategies; the polling peers count as\n"
		"                     busy_poll) or block (pipe, socketpair, the mqueues)\n"
		"  --batch N          only throughput cases of batch N (1 or 32)\n"
		"  --duration-ms N    measuring time per throughput case (default 500), after\n"
		"                     a warm-up of a quarter of it + 20 ms\n"
		"  --latency-ms N     per latency case, after a 10%% warm-up (default 1000)\n"
		"  --latency-rounds N the latency cases take turns: N rounds (default 20),\n"
		"                     each running every case for 1/N of its time, and\n"
		"                     each case's rounds merged (the floor runs whole)\n"
		"  --show-rounds      print each round's p50 of each latency case (the\n"
		"                     regime can move for a few rounds: see them side by side)\n"
		"  --repeat N         throughput runs per case, the median is reported (default 3)\n"
		"  --cap-s N          how long a case may run past its measuring time before it\n"
		"                     is aborted and its achieved rate reported (default 5)\n"
		"  --budget-s N       start no case after N seconds in all (default 840)\n"
		"  --capacity N       queue depth, a power of two (default 1024); every transport\n"
		"                     gets the same, at most 1 MiB of payload (64 at 16 KiB)\n"
		"  --no-pin           do not pin the two latency processes to two CPUs, nor\n"
		"                     a throughput case's processes (pinned one per CPU\n"
		"                     when there are CPUs enough: 1/1 on two cores)\n"
		"  --close-ns N       the regime is \"close\" when the cache-line floor's p50 is\n"
		"                     under N ns, \"far\" otherwise (default %d)\n"
		"  --csv PATH         CSV output (default bench/results/bench.csv)\n",
		CLOSE_NS_DEFAULT);
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

static int parse_options(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "quick", no_argument, NULL, 'q' },
		{ "only", required_argument, NULL, 'o' },
		{ "tests", required_argument, NULL, 't' },
		{ "pc", required_argument, NULL, 'p' },
		{ "size", required_argument, NULL, 'z' },
		{ "strategy", required_argument, NULL, 's' },
		{ "batch", required_argument, NULL, 'b' },
		{ "duration-ms", required_argument, NULL, 'd' },
		{ "latency-ms", required_argument, NULL, 'l' },
		{ "latency-rounds", required_argument, NULL, 'R' },
		{ "show-rounds", no_argument, NULL, 'S' },
		{ "repeat", required_argument, NULL, 'r' },
		{ "cap-s", required_argument, NULL, 'w' },
		{ "budget-s", required_argument, NULL, 'B' },
		{ "capacity", required_argument, NULL, 'c' },
		{ "no-pin", no_argument, NULL, 'n' },
		{ "close-ns", required_argument, NULL, 'C' },
		{ "csv", required_argument, NULL, 'f' },
		{ "cost-ms", required_argument, NULL, 'k' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	unsigned long long v;
	int ch, quick = 0, set_d = 0, set_l = 0, set_r = 0, set_w = 0, set_b = 0, set_k = 0;
	unsigned i;
	char *tok, *save, buf[256];

	memset(&opt, 0, sizeof(opt));
	opt.duration_ns = 500ull * 1000000;
	opt.lat_duration_ns = 1000ull * 1000000;
	opt.lat_rounds = 20;
	opt.cost_ns = 200ull * 1000000;
	opt.cap_ns = 5ull * 1000000000;
	opt.budget_ns = 840ull * 1000000000;
	opt.repeat = 3;
	opt.capacity = 1024;
	opt.do_throughput = opt.do_latency = 1;
	opt.close_ns = CLOSE_NS_DEFAULT;
	opt.csv_path = "bench/results/bench.csv";

	while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'q':
			quick = 1;
			break;
		case 'o':
			snprintf(buf, sizeof(buf), "%s", optarg);
			for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
				for (i = 0; i < N_TRANSPORTS; i++)
					if (!strcmp(tok, all_transports[i]->name))
						break;
				if (i == N_TRANSPORTS) {
					fprintf(stderr, "transports: unknown transport '%s'\n", tok);
					usage(stderr);
					return -1;
				}
			}
			snprintf(opt.only, sizeof(opt.only), "%s", optarg);
			break;
		case 't':
			opt.do_throughput = opt.do_latency = 1;
			opt.do_cost = 0;
			if (!strcmp(optarg, "throughput"))
				opt.do_latency = 0;
			else if (!strcmp(optarg, "latency"))
				opt.do_throughput = 0;
			else if (!strcmp(optarg, "cost"))
				opt.do_throughput = opt.do_latency = 0, opt.do_cost = 1;
			else
				goto bad;
			break;
		case 'p':
			if (parse_uint(optarg, 1, MAX_SIDE, &v) || (v != 1 && v != 2 && v != 4))
				goto bad;
			opt.pc = (unsigned)v;
			break;
		case 'z':
			if (parse_uint(optarg, 16, 16384, &v) ||
			    (v != 16 && v != 64 && v != 1024 && v != 16384))
				goto bad;
			opt.size = (unsigned)v;
			break;
		case 's':
			for (i = 0; i < N_STRATEGIES; i++)
				if (!strcmp(optarg, strategies[i].name))
					break;
			if (i == N_STRATEGIES && strcmp(optarg, "block"))
				goto bad;
			opt.strategy = optarg;
			break;
		case 'b':
			if (parse_uint(optarg, 1, 32, &v) || (v != 1 && v != 32))
				goto bad;
			opt.batch = (unsigned)v;
			break;
		case 'd':
			if (parse_uint(optarg, 1, 600000, &v))
				goto bad;
			opt.duration_ns = v * 1000000;
			set_d = 1;
			break;
		case 'l':
			if (parse_uint(optarg, 1, 600000, &v))
				goto bad;
			opt.lat_duration_ns = v * 1000000;
			set_l = 1;
			break;
		case 'S':
			opt.show_rounds = 1;
			break;
		case 'R':
			if (parse_uint(optarg, 1, 50, &v))
				goto bad;
			opt.lat_rounds = (unsigned)v;
			break;
		case 'r':
			if (parse_uint(optarg, 1, MAX_REPEAT, &v))
				goto bad;
			opt.repeat = (unsigned)v;
			set_r = 1;
			break;
		case 'w':
			if (parse_uint(optarg, 1, 3600, &v))
				goto bad;
			opt.cap_ns = v * 1000000000ull;
			set_w = 1;
			break;
		case 'B':
			if (parse_uint(optarg, 1, 86400, &v))
				goto bad;
			opt.budget_ns = v * 1000000000ull;
			set_b = 1;
			break;
		case 'c':
			if (parse_uint(optarg, 64, 1u << 16, &v) || (v & (v - 1)))
				goto bad;
			opt.capacity = (unsigned)v;
			break;
		case 'n':
			pin_latency = 0;
			break;
		case 'C':
			if (parse_uint(optarg, 1, 1000000, &v))
				goto bad;
			opt.close_ns = v;
			break;
		case 'f':
			opt.csv_path = optarg;
			break;
		case 'k':
			if (parse_uint(optarg, 10, 60000, &v))
				goto bad;
			opt.cost_ns = v * 1000000;
			set_k = 1;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			return -1;
		}
	}
	if (optind < argc) {
		usage(stderr);
		return -1;
	}
	if (quick) {
		if (!set_d)
			opt.duration_ns = 100ull * 1000000;
		if (!set_l)
			opt.lat_duration_ns = 150ull * 1000000;
		if (!set_r)
			opt.repeat = 1;
		if (!set_w)
			opt.cap_ns = 1500ull * 1000000;
		if (!set_b)
			opt.budget_ns = 240ull * 1000000000;
		if (!set_k)
			opt.cost_ns = 20ull * 1000000;
	}
	opt.warmup_ns = opt.duration_ns / 4 + 20000000ull;
	return 0;
bad:
	fprintf(stderr, "transports: bad value '%s'\n", optarg);
	usage(stderr);
	return -1;
}

static void print_builtin(void)
{
	printf("built with:");
#ifdef BENCH_HAVE_BOOST
	printf(" boost_mq");
#else
	printf(" (no boost_mq)");
#endif
#ifdef BENCH_HAVE_DPDK
	printf(" rte_ring");
#else
	printf(" (no rte_ring)");
#endif
#ifdef BENCH_HAVE_CK
	printf(" ck_ring");
#else
	printf(" (no ck_ring)");
#endif
	printf("\n");
}

int main(int argc, char **argv)
{
	struct sigaction sa;

	if (parse_options(argc, argv) < 0)
		return 2;
	run_start_ns = bench_now_ns();
	if (ipcq_version() != IPCQ_VERSION)
		fprintf(stderr, "transports: warning: header version %d, library %d\n", IPCQ_VERSION,
			ipcq_version());
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	/* --tests cost writes no CSV (and leaves an earlier run's alone) */
	csv = opt.do_cost ? NULL : bench_csv_open(opt.csv_path, csv_header);
	if (!csv && !opt.do_cost)
		return 2;
	printf("transports: ipcq %s, %d CPUs, load average %.2f, pid %d; throughput %.0f ms per "
	       "case (median of %u; %s), latency %.0f ms per case in %u rounds (%s), cap %.1f s, "
	       "budget %.0f s\n",
	       ipcq_version_string(), bench_cpu_count(), bench_loadavg(), (int)getpid(),
	       opt.duration_ns / 1e6, opt.repeat,
	       pin_latency ? "one CPU each where there are enough" : "not pinned",
	       opt.lat_duration_ns / 1e6, opt.lat_rounds,
	       pin_latency ? "pinned to 2 CPUs" : "not pinned",
	       opt.cap_ns / 1e9,
	       opt.budget_ns / 1e9);
	print_builtin();
	if (!opt.do_cost)
		print_table_header();
	run_plan();
	if (!opt.do_cost) {
		print_ratios();
		print_group_ratios();
		print_late_ratios();
	}
	if (csv)
		fclose(csv);
	printf("\n%s in %.1f s (load average now %.2f); CSV: %s\n",
	       any_failure ? "FAILED" : "done", (bench_now_ns() - run_start_ns) / 1e9,
	       bench_loadavg(), csv ? opt.csv_path : "none");
	return any_failure ? 1 : 0;
}
