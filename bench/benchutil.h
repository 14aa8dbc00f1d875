/*
 * benchutil.h - helpers shared by the programs of bench/.
 *
 * Header-only on purpose: each bench/<name>.c is its own program (the
 * Makefile builds build/<variant>/bench/<name> from it), and so is
 * bench/transports/ (one program of several files, see bench/bench.mk);
 * every helper is static and a file that does not use one pays nothing
 * for it.
 *
 *   clock           bench_now_ns(): CLOCK_MONOTONIC in nanoseconds
 *   shared memory   bench_shm_alloc()/bench_shm_free(): MAP_SHARED anonymous
 *                   memory, inherited by fork(), zero-filled
 *   barrier         struct bench_barrier: a process-shared, one-shot start
 *                   barrier on a futex word, which a watcher can abort (a
 *                   child that dies before it arrives must not hang the rest)
 *   processes       bench_fork(), bench_wait_all() with a deadline,
 *                   bench_kill_all()
 *   machine         bench_cpu_count()
 *   histogram       struct bench_hist: log-linear buckets (HdrHistogram-like:
 *                   for each power of two, 32 linear sub-buckets, so any
 *                   value is reported within 1/32 = 3.1 % of its true
 *                   value), percentiles and max; bench_hist_merge(),
 *                   bench_hist_share_above()
 *   CSV             bench_csv_open() (creates the directory), bench_csv_row()
 *
 * Nothing here knows about ipcq.
 */
#ifndef BENCHUTIL_H
#define BENCHUTIL_H

#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define BENCH_CACHE_LINE 64
/* Two lines: keeps adjacent-line prefetch from coupling two hot words. */
#define BENCH_HOT_ALIGN 128

#define BENCH_UNUSED __attribute__((unused))
#define BENCH_PRINTF(f, a) __attribute__((format(printf, f, a)))

/* ------------------------------------------------------------------ */
/* Clock                                                               */
/* ------------------------------------------------------------------ */

static inline BENCH_UNUSED uint64_t bench_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static BENCH_UNUSED void bench_sleep_ns(uint64_t ns)
{
	struct timespec ts = { (time_t)(ns / 1000000000ull),
			       (long)(ns % 1000000000ull) };

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

static inline BENCH_UNUSED void bench_cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield" ::: "memory");
#else
	__asm__ __volatile__("" ::: "memory");
#endif
}

/* ------------------------------------------------------------------ */
/* Shared memory                                                       */
/* ------------------------------------------------------------------ */

/* Zero-filled memory shared with every child forked afterwards; NULL on failure. */
static BENCH_UNUSED void *bench_shm_alloc(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

static BENCH_UNUSED void bench_shm_free(void *p, size_t len)
{
	if (p)
		munmap(p, len);
}

/* ------------------------------------------------------------------ */
/* Process-shared start barrier                                        */
/* ------------------------------------------------------------------ */

/*
 * One-shot barrier for @n parties in bench_shm_alloc() memory.  The futex
 * word is `gen`; it lives in a MAP_SHARED mapping, so the futex calls are
 * the shared (not FUTEX_PRIVATE) kind.  The last arrival bumps `gen` with a
 * release store (pairs with the acquire load of the waiters: everything each
 * party wrote before arriving is visible to all after the barrier) and wakes
 * everybody.  bench_barrier_abort() releases every waiter with an error.
 */
struct bench_barrier {
	_Atomic uint32_t count;
	_Atomic uint32_t gen;
	_Atomic uint32_t aborted;
	uint32_t n;
};

static BENCH_UNUSED void bench_barrier_init(struct bench_barrier *b, uint32_t n)
{
	atomic_store(&b->count, 0);
	atomic_store(&b->gen, 0);
	atomic_store(&b->aborted, 0);
	b->n = n;
}

static long bench_futex(_Atomic uint32_t *word, int op, uint32_t val,
			const struct timespec *ts)
{
	/* _Atomic uint32_t has the representation of uint32_t on every ABI gcc supports. */
	return syscall(SYS_futex, (uint32_t *)word, op, val, ts, NULL, 0);
}

static BENCH_UNUSED void bench_barrier_abort(struct bench_barrier *b)
{
	atomic_store(&b->aborted, 1);
	atomic_fetch_add_explicit(&b->gen, 1, memory_order_release);
	bench_futex(&b->gen, FUTEX_WAKE, INT_MAX, NULL);
}

/*
 * Wait until all n parties arrived.  @watch, if not NULL, is called about
 * every 100 ms while waiting; when it returns nonzero the barrier is aborted.
 * Returns 0 when everybody arrived, -1 when aborted.
 */
static BENCH_UNUSED int bench_barrier_wait(struct bench_barrier *b,
					   int (*watch)(void *), void *arg)
{
	uint32_t gen = atomic_load_explicit(&b->gen, memory_order_acquire);
	const struct timespec tick = { 0, 100 * 1000 * 1000 };

	if (atomic_load(&b->aborted))
		return -1;
	if (atomic_fetch_add(&b->count, 1) + 1 == b->n) {
		atomic_fetch_add_explicit(&b->gen, 1, memory_order_release);
		bench_futex(&b->gen, FUTEX_WAKE, INT_MAX, NULL);
		return 0;
	}
	while (atomic_load_explicit(&b->gen, memory_order_acquire) == gen) {
		bench_futex(&b->gen, FUTEX_WAIT, gen, &tick);
		if (watch && atomic_load_explicit(&b->gen, memory_order_acquire) == gen &&
		    watch(arg)) {
			bench_barrier_abort(b);
			return -1;
		}
	}
	return atomic_load(&b->aborted) ? -1 : 0;
}

/* ------------------------------------------------------------------ */
/* Processes                                                           */
/* ------------------------------------------------------------------ */

/*
 * Fork a child that runs fn(arg) and exits with its return value.  Standard
 * streams are flushed first so that buffered output is not printed twice;
 * the child dies with its parent (PR_SET_PDEATHSIG).
 * Returns the pid, or -1.
 */
static BENCH_UNUSED pid_t bench_fork(int (*fn)(void *), void *arg)
{
	pid_t pid, parent = getpid();

	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid == 0) {
		signal(SIGINT, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
		/* A child that outlives a killed parent would spin forever. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(127);
		_exit(fn(arg) & 0xff);
	}
	return pid;
}

/*
 * Reap the @n children in @pids (an entry set to 0 is already reaped).
 * Stores each exit status (a raw waitpid status) in @status and sets the pid
 * to 0.  Gives up at @deadline_ns (bench_now_ns() clock; 0 = never).
 * Returns the number of children still running (0 = all reaped).
 */
static BENCH_UNUSED int bench_wait_all(pid_t *pids, int *status, int n,
				       uint64_t deadline_ns)
{
	int left, i;

	for (;;) {
		left = 0;
		for (i = 0; i < n; i++) {
			int st;
			pid_t r;

			if (pids[i] <= 0)
				continue;
			r = waitpid(pids[i], &st, WNOHANG);
			if (r == pids[i] || (r < 0 && errno == ECHILD)) {
				status[i] = r == pids[i] ? st : 0;
				pids[i] = 0;
			} else {
				left++;
			}
		}
		if (left == 0 || (deadline_ns && bench_now_ns() >= deadline_ns))
			return left;
		bench_sleep_ns(2 * 1000 * 1000);
	}
}

/* SIGKILL every child still listed in @pids, then reap them. */
static BENCH_UNUSED void bench_kill_all(pid_t *pids, int *status, int n)
{
	int i;

	for (i = 0; i < n; i++)
		if (pids[i] > 0)
			kill(pids[i], SIGKILL);
	bench_wait_all(pids, status, n, 0);
}

/* Describe a waitpid status: "exit 0", "exit 3", "killed by signal 9". */
static BENCH_UNUSED const char *bench_status_str(int st, char *buf, size_t len)
{
	if (WIFEXITED(st))
		snprintf(buf, len, "exit %d", WEXITSTATUS(st));
	else if (WIFSIGNALED(st))
		snprintf(buf, len, "killed by signal %d (%s)", WTERMSIG(st),
			 strsignal(WTERMSIG(st)));
	else
		snprintf(buf, len, "status 0x%x", (unsigned)st);
	return buf;
}

/* ------------------------------------------------------------------ */
/* Machine                                                             */
/* ------------------------------------------------------------------ */

/* CPUs this process may run on (affinity mask), at least 1. */
static BENCH_UNUSED int bench_cpu_count(void)
{
	cpu_set_t set;
	long n;

	if (sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_COUNT(&set) > 0)
		return CPU_COUNT(&set);
	n = sysconf(_SC_NPROCESSORS_ONLN);
	return n > 0 ? (int)n : 1;
}

/*
 * Pin the calling thread to the @n-th CPU (modulo their count) of the CPUs
 * it may run on.  Returns the CPU number, or -1 (and stays unpinned).
 */
static BENCH_UNUSED int bench_pin_nth_cpu(int n)
{
	cpu_set_t set, one;
	int cpu, seen = 0, count;

	if (sched_getaffinity(0, sizeof(set), &set) != 0)
		return -1;
	count = CPU_COUNT(&set);
	if (count <= 0)
		return -1;
	n %= count;
	for (cpu = 0; cpu < CPU_SETSIZE; cpu++) {
		if (!CPU_ISSET(cpu, &set))
			continue;
		if (seen++ == n) {
			CPU_ZERO(&one);
			CPU_SET(cpu, &one);
			return sched_setaffinity(0, sizeof(one), &one) == 0 ? cpu : -1;
		}
	}
	return -1;
}

/* The 1-minute load average, or -1. */
static BENCH_UNUSED double bench_loadavg(void)
{
	double l[1];

	return getloadavg(l, 1) == 1 ? l[0] : -1.0;
}

/* ------------------------------------------------------------------ */
/* Log-linear latency histogram                                        */
/* ------------------------------------------------------------------ */

/*
 * Values below 32 have a bucket each.  A value v >= 32 with its highest set
 * bit at position m falls in the octave [2^m, 2^(m+1)), split into 32 linear
 * sub-buckets of width 2^(m-5): index (m-4)*32 + ((v >> (m-5)) & 31).  The
 * mapping is continuous (v = 32..63 land at indexes 32..63) and covers all
 * of uint64_t in 60 * 32 buckets.  A percentile is reported as the highest
 * value of its bucket (never below the truth, at most 1/32 above it), capped
 * by the exact maximum.  The struct has no pointers, so it can live in
 * shared memory and be filled by a child.
 */
#define BENCH_HIST_SUB_BITS 5
#define BENCH_HIST_SUB (1u << BENCH_HIST_SUB_BITS)
#define BENCH_HIST_BUCKETS ((64 - BENCH_HIST_SUB_BITS + 1) * BENCH_HIST_SUB)

struct bench_hist {
	uint64_t count;
	uint64_t min;
	uint64_t max;
	uint64_t sum;
	uint64_t buckets[BENCH_HIST_BUCKETS];
};

static BENCH_UNUSED void bench_hist_init(struct bench_hist *h)
{
	memset(h, 0, sizeof(*h));
	h->min = UINT64_MAX;
}

static inline unsigned bench_hist_index(uint64_t v)
{
	unsigned msb, shift;

	if (v < BENCH_HIST_SUB)
		return (unsigned)v;
	msb = 63u - (unsigned)__builtin_clzll(v);
	shift = msb - BENCH_HIST_SUB_BITS;
	return (shift + 1) * BENCH_HIST_SUB +
	       (unsigned)((v >> shift) & (BENCH_HIST_SUB - 1));
}

/* Highest value that maps to bucket @idx. */
static inline uint64_t bench_hist_bucket_high(unsigned idx)
{
	unsigned shift, sub;
	uint64_t low;

	if (idx < BENCH_HIST_SUB)
		return idx;
	shift = idx / BENCH_HIST_SUB - 1;
	sub = idx % BENCH_HIST_SUB;
	low = (uint64_t)(BENCH_HIST_SUB + sub) << shift;
	return low + (((uint64_t)1 << shift) - 1);
}

static inline BENCH_UNUSED void bench_hist_record(struct bench_hist *h, uint64_t v)
{
	h->buckets[bench_hist_index(v)]++;
	h->count++;
	h->sum += v;
	if (v < h->min)
		h->min = v;
	if (v > h->max)
		h->max = v;
}

/* Value at percentile @p (0 < p <= 100), 0 for an empty histogram. */
static BENCH_UNUSED uint64_t bench_hist_percentile(const struct bench_hist *h, double p)
{
	uint64_t target, seen = 0, v;
	unsigned i;

	if (h->count == 0)
		return 0;
	target = (uint64_t)((p / 100.0) * (double)h->count + 0.999999);
	if (target < 1)
		target = 1;
	if (target > h->count)
		target = h->count;
	for (i = 0; i < BENCH_HIST_BUCKETS; i++) {
		seen += h->buckets[i];
		if (seen >= target) {
			v = bench_hist_bucket_high(i);
			return v > h->max ? h->max : v;
		}
	}
	return h->max;
}

/* Add @h's values to @acc (histograms of the rounds of one case). */
static BENCH_UNUSED void bench_hist_merge(struct bench_hist *acc, const struct bench_hist *h)
{
	unsigned i;

	for (i = 0; i < BENCH_HIST_BUCKETS; i++)
		acc->buckets[i] += h->buckets[i];
	acc->count += h->count;
	acc->sum += h->sum;
	if (h->count && h->min < acc->min)
		acc->min = h->min;
	if (h->max > acc->max)
		acc->max = h->max;
}

/* The share of @h's values above @v (bucket resolution: a bucket counts
 * when its highest value is above @v). */
static BENCH_UNUSED double bench_hist_share_above(const struct bench_hist *h, uint64_t v)
{
	uint64_t n = 0;
	unsigned i;

	for (i = 0; i < BENCH_HIST_BUCKETS; i++)
		if (bench_hist_bucket_high(i) > v)
			n += h->buckets[i];
	return h->count ? (double)n / (double)h->count : 0.0;
}

static BENCH_UNUSED double bench_hist_mean(const struct bench_hist *h)
{
	return h->count ? (double)h->sum / (double)h->count : 0.0;
}

/* ------------------------------------------------------------------ */
/* CSV                                                                 */
/* ------------------------------------------------------------------ */

/* mkdir -p of the directory part of @path.  Returns 0 or -errno. */
static BENCH_UNUSED int bench_mkdir_parents(const char *path)
{
	char buf[4096];
	size_t len = strlen(path), i;

	if (len >= sizeof(buf))
		return -ENAMETOOLONG;
	memcpy(buf, path, len + 1);
	for (i = 1; i < len; i++) {
		if (buf[i] != '/')
			continue;
		buf[i] = '\0';
		if (mkdir(buf, 0755) != 0 && errno != EEXIST)
			return -errno;
		buf[i] = '/';
	}
	return 0;
}

/* Create (truncate) @path, its directory too, and write @header as the first line. */
static BENCH_UNUSED FILE *bench_csv_open(const char *path, const char *header)
{
	FILE *f;
	int rc = bench_mkdir_parents(path);

	if (rc < 0) {
		fprintf(stderr, "bench: cannot create the directory of %s: %s\n",
			path, strerror(-rc));
		return NULL;
	}
	f = fopen(path, "w");
	if (!f) {
		fprintf(stderr, "bench: cannot write %s: %s\n", path, strerror(errno));
		return NULL;
	}
	fprintf(f, "%s\n", header);
	fflush(f);
	return f;
}

/* One CSV row, printf-style; flushed at once so a crash loses nothing. */
static BENCH_PRINTF(2, 3) BENCH_UNUSED void bench_csv_row(FILE *f, const char *fmt, ...)
{
	va_list ap;

	if (!f)
		return;
	va_start(ap, fmt);
	vfprintf(f, fmt, ap);
	va_end(ap);
	fputc('\n', f);
	fflush(f);
}

#endif /* BENCHUTIL_H */
