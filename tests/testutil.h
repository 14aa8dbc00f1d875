/*
 * testutil.h - shared helpers of the ipcq tests: assertions that print
 * file:line and ipcq_strerror(), unique queue names, memory shared with
 * forked children, a process-shared start barrier, and the message pattern
 * every multi-process test writes and checks byte by byte.
 */
#ifndef IPCQ_TESTUTIL_H
#define IPCQ_TESTUTIL_H

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ipcq.h"

#define T_SKIP 77

#define T_FAIL(...)                                                        \
	do {                                                               \
		fprintf(stderr, "%s:%d: ", __FILE__, __LINE__);            \
		fprintf(stderr, __VA_ARGS__);                              \
		fputc('\n', stderr);                                       \
		exit(1);                                                   \
	} while (0)

/* CHECK(cond): fail the test (this process) when cond is false. */
#define CHECK(cond)                                                        \
	do {                                                               \
		if (!(cond))                                               \
			T_FAIL("check failed: %s", #cond);                 \
	} while (0)

/* CHECK_RC(expr, want): expr must return exactly want. */
#define CHECK_RC(expr, want)                                               \
	do {                                                               \
		long t_rc_ = (long)(expr);                                 \
		long t_want_ = (long)(want);                               \
		if (t_rc_ != t_want_)                                      \
			T_FAIL("%s returned %ld (%s), expected %ld (%s)",  \
			       #expr, t_rc_, ipcq_strerror((int)t_rc_),    \
			       t_want_, ipcq_strerror((int)t_want_));      \
	} while (0)

/* CHECK_OK(expr): expr must return >= 0. */
#define CHECK_OK(expr)                                                     \
	do {                                                               \
		long t_rc_ = (long)(expr);                                 \
		if (t_rc_ < 0)                                             \
			T_FAIL("%s failed: %ld (%s)", #expr, t_rc_,        \
			       ipcq_strerror((int)t_rc_));                 \
	} while (0)

/* A queue name unique to this process and call. */
static inline const char *t_qname(const char *tag)
{
	static char buf[8][96];
	static unsigned n;
	char *b = buf[n++ % 8];
	snprintf(b, 96, "t.%s.%d.%u", tag, (int)getpid(), n);
	return b;
}

static inline uint64_t t_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Anonymous memory shared with forked children. */
static inline void *t_shared(size_t size)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		T_FAIL("mmap shared: %s", strerror(errno));
	memset(p, 0, size);
	return p;
}

/* A barrier that starts forked processes together. */
static inline pthread_barrier_t *t_barrier(unsigned count)
{
	pthread_barrier_t *b = (pthread_barrier_t *)t_shared(sizeof(*b));
	pthread_barrierattr_t a;
	pthread_barrierattr_init(&a);
	pthread_barrierattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
	if (pthread_barrier_init(b, &a, count) != 0)
		T_FAIL("pthread_barrier_init");
	pthread_barrierattr_destroy(&a);
	return b;
}

/* Fork a child that runs fn(arg) and exits with its return value. */
static inline pid_t t_fork(int (*fn)(void *), void *arg)
{
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0)
		T_FAIL("fork: %s", strerror(errno));
	if (pid == 0)
		_exit(fn(arg));
	return pid;
}

/* Wait for pid; returns 0 when it exited with status 0, else prints why. */
static inline int t_wait(pid_t pid)
{
	int st;
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -1;
	if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
		return 0;
	if (WIFEXITED(st))
		fprintf(stderr, "child %d exited with %d\n", (int)pid, WEXITSTATUS(st));
	else if (WIFSIGNALED(st))
		fprintf(stderr, "child %d killed by signal %d\n", (int)pid, WTERMSIG(st));
	return -1;
}

/*
 * The message pattern: a 16-byte header (producer id, sequence) then bytes
 * derived from both, so a torn, mixed or misplaced message is detected.
 * Messages shorter than 16 bytes carry a truncated header and pattern.
 */
static inline uint8_t t_pat_byte(uint32_t producer, uint64_t seq, size_t i)
{
	uint64_t x = (seq * 0x9E3779B97F4A7C15ull) ^ ((uint64_t)producer << 40) ^ (i * 0x100000001B3ull);
	return (uint8_t)(x ^ (x >> 29) ^ (x >> 47));
}

static inline size_t t_fill(void *buf, size_t len, uint32_t producer, uint64_t seq)
{
	uint8_t *b = (uint8_t *)buf;
	uint8_t hdr[16];
	memcpy(hdr, &producer, 4);
	memset(hdr + 4, 0, 4);
	memcpy(hdr + 8, &seq, 8);
	for (size_t i = 0; i < len; i++)
		b[i] = i < 16 ? hdr[i] : t_pat_byte(producer, seq, i);
	return len;
}

/* Read the header of a message of at least 16 bytes. */
static inline void t_header(const void *buf, uint32_t *producer, uint64_t *seq)
{
	memcpy(producer, buf, 4);
	memcpy(seq, (const uint8_t *)buf + 8, 8);
}

/* Check that buf[0..len) is exactly the pattern of (producer, seq). */
static inline int t_verify(const void *buf, size_t len, uint32_t producer, uint64_t seq)
{
	const uint8_t *b = (const uint8_t *)buf;
	uint8_t hdr[16];
	memcpy(hdr, &producer, 4);
	memset(hdr + 4, 0, 4);
	memcpy(hdr + 8, &seq, 8);
	for (size_t i = 0; i < len; i++) {
		uint8_t want = i < 16 ? hdr[i] : t_pat_byte(producer, seq, i);
		if (b[i] != want)
			return -1;
	}
	return 0;
}

/* Removes the queue when the test exits (best effort). */
static inline void t_unlink_quiet(const char *name)
{
	(void)ipcq_unlink(name);
}

/* ------------------------------------------------------------------ */
/* Build flavour and test size                                         */
/* ------------------------------------------------------------------ */

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define T_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define T_SANITIZED 1
#endif
#endif
#ifndef T_SANITIZED
#define T_SANITIZED 0
#endif

/* IPCQ_STRESS=1 (make stress) multiplies message counts by this. */
#define T_STRESS_FACTOR 20

static inline int t_stress(void)
{
	const char *s = getenv("IPCQ_STRESS");
	return s != NULL && *s != '\0' && strcmp(s, "0") != 0;
}

/*
 * A message or round count: @release in an optimized build, @sanitized
 * under ASan or TSan (several times slower, and CI has 2 cores), times
 * T_STRESS_FACTOR under IPCQ_STRESS=1.
 */
static inline uint64_t t_count(uint64_t release, uint64_t sanitized)
{
	uint64_t n = T_SANITIZED ? sanitized : release;
	return t_stress() ? n * T_STRESS_FACTOR : n;
}

/* Watchdog seconds for a test that normally takes a fraction of them. */
static inline unsigned t_limit(unsigned secs)
{
	return t_stress() ? secs * T_STRESS_FACTOR : secs;
}

/* ------------------------------------------------------------------ */
/* Queues                                                              */
/* ------------------------------------------------------------------ */

#define T_MAX_NAMES 32

struct t_names_ {
	pid_t owner;
	unsigned n;
	char name[T_MAX_NAMES][96];
};

static inline struct t_names_ *t_names_(void)
{
	static struct t_names_ names;
	return &names;
}

static inline void t_cleanup_run_(void)
{
	struct t_names_ *c = t_names_();
	if (c->owner != getpid())
		return;
	for (unsigned i = 0; i < c->n; i++)
		t_unlink_quiet(c->name[i]);
}

/* Unlink @name when this process exits (also when a check fails). */
static inline void t_cleanup(const char *name)
{
	struct t_names_ *c = t_names_();
	if (c->owner == 0) {
		c->owner = getpid();
		atexit(t_cleanup_run_);
	}
	if (c->n < T_MAX_NAMES)
		snprintf(c->name[c->n++], sizeof(c->name[0]), "%s", name);
}

/* The file behind a queue name. */
static inline const char *t_shm_path(const char *name)
{
	static char buf[4][320];
	static unsigned n;
	char *b = buf[n++ % 4];
	snprintf(b, sizeof(buf[0]), "/dev/shm/ipcq.%s", name);
	return b;
}

static inline int t_shm_exists(const char *name)
{
	struct stat st;
	return lstat(t_shm_path(name), &st) == 0;
}

/* A config with every default and the given capacity and message size. */
static inline struct ipcq_config t_config(uint32_t capacity, uint32_t max_msg_size)
{
	struct ipcq_config cfg = IPCQ_CONFIG_INIT;
	cfg.capacity = capacity;
	cfg.max_msg_size = max_msg_size;
	return cfg;
}

/* Create a queue (removed when the test exits); @cfg NULL for defaults. */
static inline struct ipcq *t_create(const char *name, const struct ipcq_config *cfg)
{
	struct ipcq *q = NULL;
	CHECK_OK(ipcq_create(name, cfg, &q));
	CHECK(q != NULL);
	t_cleanup(name);
	return q;
}

/* Attach options with a wait strategy and spin/yield counts. */
static inline struct ipcq_attach_opts t_opts(uint32_t strategy, uint32_t spin, uint32_t yield)
{
	struct ipcq_attach_opts o = IPCQ_ATTACH_OPTS_INIT;
	o.wait_strategy = strategy;
	o.spin_count = spin;
	o.yield_count = yield;
	return o;
}

/* Open a queue and attach the new handle in @roles; @opts NULL for defaults. */
static inline struct ipcq *t_open_attach(const char *name, unsigned roles,
					 const struct ipcq_attach_opts *opts)
{
	struct ipcq *q = NULL;
	CHECK_OK(ipcq_open(name, &q));
	CHECK_OK(ipcq_attach(q, roles, opts));
	return q;
}

static inline struct ipcq_info t_info(struct ipcq *q)
{
	struct ipcq_info info;
	memset(&info, 0, sizeof(info));
	info.size = sizeof(info);
	CHECK_RC(ipcq_info(q, &info), 0);
	return info;
}

/* A reproducible length in [min, max] for message (producer, seq). */
static inline uint32_t t_msg_len(uint32_t producer, uint64_t seq, uint32_t min, uint32_t max)
{
	uint64_t x = (seq + 1) * 0x9E3779B97F4A7C15ull ^ ((uint64_t)producer << 32);
	x ^= x >> 31;
	x *= 0xBF58476D1CE4E5B9ull;
	x ^= x >> 29;
	return min + (uint32_t)(x % ((uint64_t)max - min + 1));
}

/* ------------------------------------------------------------------ */
/* Waiting on conditions                                               */
/* ------------------------------------------------------------------ */

/* One step of a polling wait: yield first, then sleep 100 us per step. */
static inline void t_poll_pause(unsigned *round)
{
	if ((*round)++ < 1000) {
		sched_yield();
	} else {
		struct timespec ts = { 0, 100000 };
		nanosleep(&ts, NULL);
	}
}

/* Wait until @cond holds; fail the test after @secs seconds. */
#define T_AWAIT(cond, secs)                                                \
	do {                                                               \
		uint64_t t_dl_ = t_now_ns() + (uint64_t)(secs) * 1000000000ull; \
		unsigned t_round_ = 0;                                     \
		while (!(cond)) {                                          \
			if (t_now_ns() > t_dl_)                            \
				T_FAIL("gave up waiting for %s", #cond);   \
			t_poll_pause(&t_round_);                           \
		}                                                          \
	} while (0)

/* State letter of a process or thread in /proc ('R', 'S', ...), 0 if gone. */
static inline char t_proc_state(pid_t tid)
{
	char path[64], buf[512];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)tid);
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return 0;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	const char *p = strrchr(buf, ')');
	return p != NULL && p[1] == ' ' ? p[2] : 0;
}

/*
 * Wait up to @secs for @tid to sleep in the kernel ('S').  Returns 1 when
 * it was seen sleeping, 0 otherwise.  Used to make sure a blocking call
 * really went to sleep before the event that must wake it; tests stay
 * correct when this returns 0, they only check less.
 */
static inline int t_await_sleeping(pid_t tid, unsigned secs)
{
	uint64_t dl = t_now_ns() + (uint64_t)secs * 1000000000ull;
	unsigned round = 0;
	while (t_now_ns() < dl) {
		if (t_proc_state(tid) == 'S')
			return 1;
		t_poll_pause(&round);
	}
	return 0;
}

static inline pid_t t_gettid(void)
{
	return (pid_t)gettid();
}

/* ------------------------------------------------------------------ */
/* Children and the watchdog                                           */
/* ------------------------------------------------------------------ */

#define T_MAX_KIDS 64

struct t_kids_ {
	pid_t pid[T_MAX_KIDS];
	unsigned n;
	unsigned secs;
	const char *what;
	void (*report)(void);
};

static inline struct t_kids_ *t_kids_(void)
{
	static struct t_kids_ kids;
	return &kids;
}

static inline void t_kids_forget_(pid_t pid)
{
	struct t_kids_ *k = t_kids_();
	for (unsigned i = 0; i < k->n; i++)
		if (k->pid[i] == pid) {
			k->pid[i] = k->pid[--k->n];
			return;
		}
}

/* SIGKILL every child started with t_spawn() and not yet reaped. */
static inline void t_kill_kids(void)
{
	struct t_kids_ *k = t_kids_();
	for (unsigned i = 0; i < k->n; i++)
		kill(k->pid[i], SIGKILL);
}

/* write(2) a string from a signal handler. */
static inline void t_say(const char *s)
{
	ssize_t rc = write(2, s, strlen(s));
	(void)rc;
}

/* write(2) a number from a signal handler. */
static inline void t_say_u64(uint64_t v)
{
	char buf[24];
	int i = (int)sizeof(buf);
	buf[--i] = '\0';
	do
		buf[--i] = (char)('0' + v % 10);
	while ((v /= 10) != 0 && i > 0);
	t_say(buf + i);
}

static inline void t_watchdog_fire_(int sig)
{
	struct t_kids_ *k = t_kids_();
	(void)sig;
	t_say("watchdog: ");
	t_say(k->what != NULL ? k->what : "test");
	t_say(" still running after ");
	t_say_u64(k->secs);
	t_say(" s (a hang: lost wake-up or deadlock)\n");
	if (k->report != NULL)
		k->report();
	t_kill_kids();
	_exit(1);
}

/*
 * Fail the test (and SIGKILL its children) if it is still running @secs
 * seconds from now; @report, if not NULL, may print progress with t_say().
 * A later call replaces the deadline; t_watchdog(0, NULL, NULL) disarms it.
 * This catches hangs (a lost wake-up) well before the runner's timeout.
 */
static inline void t_watchdog(unsigned secs, const char *what, void (*report)(void))
{
	struct t_kids_ *k = t_kids_();
	k->secs = secs;
	k->what = what;
	k->report = report;
	signal(SIGALRM, t_watchdog_fire_);
	alarm(secs);
}

/*
 * Fork a child that runs fn(arg) and exits with its return value, like
 * t_fork(), but the child is killed when the parent dies and the watchdog
 * kills it on a hang.  Reap it with t_reap() or t_group_wait_any().
 */
static inline pid_t t_spawn(int (*fn)(void *), void *arg)
{
	pid_t parent = getpid();
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0)
		T_FAIL("fork: %s", strerror(errno));
	if (pid == 0) {
		t_kids_()->n = 0;
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(1);
		_exit(fn(arg));
	}
	struct t_kids_ *k = t_kids_();
	if (k->n == T_MAX_KIDS)
		T_FAIL("too many children");
	k->pid[k->n++] = pid;
	return pid;
}

/* Print why a child did not exit with 0; returns 1 when it did. */
static inline int t_status_ok(pid_t pid, int st)
{
	if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
		return 1;
	if (WIFEXITED(st))
		fprintf(stderr, "child %d exited with %d\n", (int)pid, WEXITSTATUS(st));
	else if (WIFSIGNALED(st))
		fprintf(stderr, "child %d killed by signal %d\n", (int)pid, WTERMSIG(st));
	return 0;
}

/* Reap a child of t_spawn(); returns 0 when it exited with status 0. */
static inline int t_reap(pid_t pid)
{
	int st;
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			T_FAIL("waitpid %d: %s", (int)pid, strerror(errno));
	t_kids_forget_(pid);
	return t_status_ok(pid, st) ? 0 : -1;
}

/* Reap a child that must have been killed by @sig. */
static inline void t_reap_killed(pid_t pid, int sig)
{
	int st;
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			T_FAIL("waitpid %d: %s", (int)pid, strerror(errno));
	t_kids_forget_(pid);
	if (!WIFSIGNALED(st) || WTERMSIG(st) != sig)
		T_FAIL("child %d: expected death by signal %d, status 0x%x", (int)pid, sig, st);
}

/* ------------------------------------------------------------------ */
/* Worker groups: the same test body in processes or in threads        */
/* ------------------------------------------------------------------ */

struct t_group;

struct t_worker {
	struct t_group *g;
	int (*fn)(void *);
	void *arg;
	pid_t pid;
	pthread_t tid;
	int finished; /* threads: set (release) when fn returned */
	int reaped;
	int result;
};

struct t_group {
	int threads; /* 1: pthreads in this process, 0: forked processes */
	unsigned n;
	sem_t done;  /* threads: posted by each worker that ends */
	struct t_worker w[T_MAX_KIDS];
};

static inline void t_group_init(struct t_group *g, int threads)
{
	memset(g, 0, sizeof(*g));
	g->threads = threads;
	if (threads && sem_init(&g->done, 0, 0) != 0)
		T_FAIL("sem_init: %s", strerror(errno));
}

static inline void *t_group_thread_(void *arg)
{
	struct t_worker *w = (struct t_worker *)arg;
	w->result = w->fn(w->arg);
	__atomic_store_n(&w->finished, 1, __ATOMIC_RELEASE);
	sem_post(&w->g->done);
	return NULL;
}

/* Start fn(arg) as the group's next worker; returns its index. */
static inline unsigned t_group_start(struct t_group *g, int (*fn)(void *), void *arg)
{
	if (g->n == T_MAX_KIDS)
		T_FAIL("too many workers");
	struct t_worker *w = &g->w[g->n];
	w->g = g;
	w->fn = fn;
	w->arg = arg;
	if (g->threads) {
		int rc = pthread_create(&w->tid, NULL, t_group_thread_, w);
		if (rc != 0)
			T_FAIL("pthread_create: %s", strerror(rc));
	} else {
		w->pid = t_spawn(fn, arg);
	}
	return g->n++;
}

/* Wait for any worker to end; returns its index, *ok = it returned 0. */
static inline unsigned t_group_wait_any(struct t_group *g, int *ok)
{
	for (;;) {
		if (g->threads) {
			while (sem_wait(&g->done) != 0)
				if (errno != EINTR)
					T_FAIL("sem_wait: %s", strerror(errno));
			for (unsigned i = 0; i < g->n; i++) {
				struct t_worker *w = &g->w[i];
				if (w->reaped || !__atomic_load_n(&w->finished, __ATOMIC_ACQUIRE))
					continue;
				pthread_join(w->tid, NULL);
				w->reaped = 1;
				*ok = w->result == 0;
				return i;
			}
			T_FAIL("worker group: a worker ended but none is found");
		}
		int st;
		pid_t pid = waitpid(-1, &st, 0);
		if (pid < 0) {
			if (errno == EINTR)
				continue;
			T_FAIL("waitpid: %s", strerror(errno));
		}
		t_kids_forget_(pid);
		for (unsigned i = 0; i < g->n; i++)
			if (g->w[i].pid == pid && !g->w[i].reaped) {
				g->w[i].reaped = 1;
				*ok = t_status_ok(pid, st);
				return i;
			}
	}
}

static inline void t_group_destroy(struct t_group *g)
{
	if (g->threads)
		sem_destroy(&g->done);
}

/* ------------------------------------------------------------------ */
/* Producers and consumers that check every message                    */
/* ------------------------------------------------------------------ */

#define T_MP_MAX 16

/*
 * A multi-producer multi-consumer run: @producers send @msgs messages each
 * (sequences 1..msgs, lengths t_msg_len(p, seq, min_len, max_len), content
 * t_fill(p, seq)), @consumers receive until each gets a zero-length "pill"
 * from the parent, which sends one pill at a time, after every producer has
 * finished, and the next only when a consumer has left.  Consumers check
 * each message (content, length, info fields, producer order) and mark it
 * in a per-producer bitmap in shared memory; the parent then checks that
 * exactly the messages sent arrived, once each.
 */
struct t_mp {
	const char *label;
	unsigned producers, consumers;
	uint64_t msgs;                   /* per producer */
	uint32_t min_len, max_len;       /* payload length range, inclusive */
	uint32_t capacity, max_msg_size; /* the queue's */
	unsigned send_batch;             /* > 1: ipcq_send_batch of 1..send_batch */
	unsigned recv_batch;             /* > 1: ipcq_recv_batch of recv_batch */
	uint32_t queue_strategy;         /* config wait_strategy, 0: default */
	uint32_t strategy;               /* attach opts wait_strategy */
	int set_counts;                  /* use spin_count/yield_count below */
	uint32_t spin_count, yield_count;
	int threads;                     /* threads instead of processes */
	int shared_handle;               /* 1/1 threads: one handle, both roles */
};

struct t_mp_state {
	const struct t_mp *cfg;
	const char *name;
	struct ipcq *shared;             /* shared_handle mode */
	pthread_barrier_t *start;
	int32_t producer_index[T_MP_MAX];
	int32_t pill_index;
	uint64_t received;
	uint64_t partial_sends, partial_recvs;
	uint64_t words;                  /* bitmap words per producer */
	uint64_t bits[];
};

struct t_mp_arg {
	struct t_mp_state *st;
	unsigned id;
};

static inline struct t_mp_state **t_mp_current_(void)
{
	static struct t_mp_state *cur;
	return &cur;
}

static inline void t_mp_report_(void)
{
	struct t_mp_state *st = *t_mp_current_();
	if (st == NULL)
		return;
	t_say("  received ");
	t_say_u64(__atomic_load_n(&st->received, __ATOMIC_RELAXED));
	t_say(" of ");
	t_say_u64(st->cfg->producers * st->cfg->msgs);
	t_say(" (counted by consumers that ended)\n");
}

static inline struct ipcq *t_mp_handle_(struct t_mp_state *st, unsigned roles)
{
	const struct t_mp *c = st->cfg;
	if (c->shared_handle)
		return st->shared;
	struct ipcq_attach_opts o = t_opts(c->strategy, c->set_counts ? c->spin_count : UINT32_MAX,
					   c->set_counts ? c->yield_count : UINT32_MAX);
	return t_open_attach(st->name, roles, &o);
}

static inline int t_mp_producer_(void *arg)
{
	const struct t_mp_arg *a = (const struct t_mp_arg *)arg;
	struct t_mp_state *st = a->st;
	const struct t_mp *c = st->cfg;
	struct ipcq *q = t_mp_handle_(st, IPCQ_ROLE_PRODUCER);
	unsigned nb = c->send_batch > 1 ? c->send_batch : 1;
	size_t room = c->max_len > 0 ? c->max_len : 1;
	struct ipcq_buf *bufs = (struct ipcq_buf *)calloc(nb, sizeof(*bufs));
	uint8_t *mem = (uint8_t *)malloc(nb * room);
	uint64_t partial = 0;
	CHECK(bufs != NULL && mem != NULL);
	st->producer_index[a->id] = t_info(q).participant_index;
	pthread_barrier_wait(st->start);
	for (uint64_t seq = 1; seq <= c->msgs;) {
		if (nb == 1) {
			uint32_t len = t_msg_len(a->id, seq, c->min_len, c->max_len);
			t_fill(mem, len, a->id, seq);
			CHECK_RC(ipcq_send(q, mem, len, IPCQ_FOREVER), 0);
			seq++;
			continue;
		}
		unsigned n = 1 + t_msg_len(a->id, seq, 0, nb - 1);
		if (n > c->msgs - seq + 1)
			n = (unsigned)(c->msgs - seq + 1);
		for (unsigned i = 0; i < n; i++) {
			bufs[i].data = mem + i * room;
			bufs[i].len = t_msg_len(a->id, seq + i, c->min_len, c->max_len);
			t_fill(bufs[i].data, bufs[i].len, a->id, seq + i);
		}
		int rc = ipcq_send_batch(q, bufs, n, IPCQ_FOREVER);
		if (rc < 1 || rc > (int)n)
			T_FAIL("producer %u: ipcq_send_batch(n=%u) returned %d (%s)", a->id, n, rc,
			       ipcq_strerror(rc));
		partial += (unsigned)rc < n;
		seq += (unsigned)rc;
	}
	__atomic_add_fetch(&st->partial_sends, partial, __ATOMIC_RELAXED);
	if (!c->shared_handle)
		CHECK_RC(ipcq_close(q), 0);
	free(bufs);
	free(mem);
	return 0;
}

/* Check one received message and mark it in the bitmap. */
static inline void t_mp_check_(struct t_mp_state *st, unsigned cons, uint64_t *last,
			       const struct ipcq_msginfo *info, const void *data, size_t len)
{
	const struct t_mp *c = st->cfg;
	unsigned p;
	for (p = 0; p < c->producers; p++)
		if (st->producer_index[p] == (int32_t)info->producer)
			break;
	if (p == c->producers)
		T_FAIL("consumer %u: message from unknown participant %u", cons, info->producer);
	uint64_t seq = info->seq;
	if (seq < 1 || seq > c->msgs)
		T_FAIL("consumer %u: producer %u: sequence %" PRIu64 " out of 1..%" PRIu64, cons, p,
		       seq, c->msgs);
	if (seq <= last[p])
		T_FAIL("consumer %u: producer %u: sequence %" PRIu64 " after %" PRIu64
		       " (per-producer order broken)", cons, p, seq, last[p]);
	last[p] = seq;
	if (info->len != len)
		T_FAIL("consumer %u: info.len %" PRIu64 " but %zu bytes received", cons, info->len, len);
	uint32_t want = t_msg_len(p, seq, c->min_len, c->max_len);
	if (len != want)
		T_FAIL("consumer %u: producer %u seq %" PRIu64 ": length %zu, sent %u", cons, p, seq,
		       len, want);
	if (t_verify(data, len, p, seq) != 0)
		T_FAIL("consumer %u: producer %u seq %" PRIu64 ": content differs from what was sent",
		       cons, p, seq);
	if (info->deliveries != 1 || (info->flags & IPCQ_MSG_REDELIVERED) != 0)
		T_FAIL("consumer %u: deliveries %u flags 0x%x for a first delivery", cons,
		       info->deliveries, info->flags);
	uint64_t bit = 1ull << (seq % 64);
	uint64_t old = __atomic_fetch_or(&st->bits[p * st->words + seq / 64], bit, __ATOMIC_RELAXED);
	if (old & bit)
		T_FAIL("consumer %u: producer %u seq %" PRIu64 " received twice", cons, p, seq);
}

static inline int t_mp_consumer_(void *arg)
{
	const struct t_mp_arg *a = (const struct t_mp_arg *)arg;
	struct t_mp_state *st = a->st;
	const struct t_mp *c = st->cfg;
	struct ipcq *q = t_mp_handle_(st, IPCQ_ROLE_CONSUMER);
	unsigned nb = c->recv_batch > 1 ? c->recv_batch : 1;
	size_t room = t_info(q).max_msg_size;
	struct ipcq_buf *bufs = (struct ipcq_buf *)calloc(nb, sizeof(*bufs));
	struct ipcq_msginfo *infos = (struct ipcq_msginfo *)calloc(nb, sizeof(*infos));
	uint8_t *mem = (uint8_t *)malloc(nb * room);
	uint64_t last[T_MP_MAX] = { 0 };
	uint64_t got = 0, partial = 0;
	CHECK(bufs != NULL && infos != NULL && mem != NULL);
	pthread_barrier_wait(st->start);
	for (;;) {
		int n;
		for (unsigned i = 0; i < nb; i++) {
			bufs[i].data = mem + i * room;
			bufs[i].len = room;
		}
		if (nb == 1) {
			n = ipcq_recv(q, mem, room, &infos[0], IPCQ_FOREVER);
			if (n < 0)
				T_FAIL("consumer %u: ipcq_recv: %d (%s)", a->id, n, ipcq_strerror(n));
			bufs[0].len = (size_t)n;
			n = 1;
		} else {
			n = ipcq_recv_batch(q, bufs, infos, nb, IPCQ_FOREVER);
			if (n < 1 || n > (int)nb)
				T_FAIL("consumer %u: ipcq_recv_batch(n=%u) returned %d (%s)", a->id, nb,
				       n, ipcq_strerror(n));
			partial += (unsigned)n < nb;
		}
		for (int i = 0; i < n; i++) {
			if ((int32_t)infos[i].producer == st->pill_index) {
				if (bufs[i].len != 0 || i != n - 1)
					T_FAIL("consumer %u: bad pill (len %zu, %d of %d)", a->id,
					       bufs[i].len, i + 1, n);
				goto done;
			}
			t_mp_check_(st, a->id, last, &infos[i], bufs[i].data, bufs[i].len);
			got++;
		}
	}
done:
	__atomic_add_fetch(&st->received, got, __ATOMIC_RELAXED);
	__atomic_add_fetch(&st->partial_recvs, partial, __ATOMIC_RELAXED);
	if (!c->shared_handle)
		CHECK_RC(ipcq_close(q), 0);
	free(bufs);
	free(infos);
	free(mem);
	return 0;
}

static inline const char *t_strategy_name(uint32_t s)
{
	switch (s) {
	case IPCQ_WAIT_DEFAULT: return "default";
	case IPCQ_WAIT_ADAPTIVE: return "adaptive";
	case IPCQ_WAIT_BUSY_POLL: return "busy-poll";
	case IPCQ_WAIT_YIELD: return "yield";
	default: return "?";
	}
}

/* Run one scenario; fails the test on any error. */
static inline void t_mp_run(const struct t_mp *c)
{
	unsigned np = c->producers, nc = c->consumers;
	CHECK(np >= 1 && np <= T_MP_MAX && nc >= 1 && nc <= T_MP_MAX);
	CHECK(c->min_len <= c->max_len && c->max_len <= c->max_msg_size);
	CHECK(!c->shared_handle || (np == 1 && nc == 1 && c->threads));
	const char *name = t_qname("mp");
	struct ipcq_config cfg = t_config(c->capacity, c->max_msg_size);
	if (c->queue_strategy != 0)
		cfg.wait_strategy = c->queue_strategy;
	cfg.max_participants = np + nc + 2;
	struct ipcq *ctl = t_create(name, &cfg);
	CHECK_RC(ipcq_attach(ctl, IPCQ_ROLE_PRODUCER, NULL), 0);

	uint64_t words = c->msgs / 64 + 1;
	size_t size = sizeof(struct t_mp_state) + np * words * sizeof(uint64_t);
	struct t_mp_state *st = (struct t_mp_state *)t_shared(size);
	st->cfg = c;
	st->name = name;
	st->words = words;
	st->pill_index = t_info(ctl).participant_index;
	st->start = t_barrier(np + nc + 1);
	if (c->shared_handle) {
		struct ipcq_attach_opts o = t_opts(c->strategy,
						   c->set_counts ? c->spin_count : UINT32_MAX,
						   c->set_counts ? c->yield_count : UINT32_MAX);
		st->shared = t_open_attach(name, IPCQ_ROLE_PRODUCER | IPCQ_ROLE_CONSUMER, &o);
	}
	*t_mp_current_() = st;
	t_watchdog(t_limit(120), c->label, t_mp_report_);

	struct t_mp_arg args[2 * T_MP_MAX];
	struct t_group g;
	t_group_init(&g, c->threads);
	for (unsigned i = 0; i < nc; i++) {
		args[i] = (struct t_mp_arg){ st, i };
		t_group_start(&g, t_mp_consumer_, &args[i]);
	}
	for (unsigned i = 0; i < np; i++) {
		args[nc + i] = (struct t_mp_arg){ st, i };
		t_group_start(&g, t_mp_producer_, &args[nc + i]);
	}
	pthread_barrier_wait(st->start);
	uint64_t t0 = t_now_ns();

	for (unsigned left = np; left > 0; left--) {
		int ok;
		unsigned w = t_group_wait_any(&g, &ok);
		if (!ok)
			T_FAIL("%s: %s %u failed", c->label, w < nc ? "consumer" : "producer",
			       w < nc ? w : w - nc);
		if (w < nc)
			T_FAIL("%s: consumer %u ended before the producers", c->label, w);
	}
	/* One pill at a time: a batch receive can never take two. */
	for (unsigned left = nc; left > 0; left--) {
		int ok;
		CHECK_RC(ipcq_send(ctl, NULL, 0, 60 * 1000000000ll), 0);
		unsigned w = t_group_wait_any(&g, &ok);
		if (!ok)
			T_FAIL("%s: consumer %u failed", c->label, w);
	}
	double secs = (double)(t_now_ns() - t0) / 1e9;
	t_group_destroy(&g);

	uint64_t total = (uint64_t)np * c->msgs;
	for (unsigned p = 0; p < np; p++) {
		const uint64_t *bits = &st->bits[p * words];
		for (uint64_t seq = 1; seq <= c->msgs; seq++)
			if (!(bits[seq / 64] & (1ull << (seq % 64))))
				T_FAIL("%s: producer %u seq %" PRIu64 " was never received", c->label,
				       p, seq);
	}
	CHECK(st->received == total);
	if (c->shared_handle)
		CHECK_RC(ipcq_close(st->shared), 0);
	struct ipcq_info info = t_info(ctl);
	CHECK(info.depth == 0);
	CHECK(info.enqueued == total + nc);
	CHECK(info.dequeued == total + nc);
	CHECK(info.participants == 1);
	printf("%-34s P/C %2u/%-2u %s%s cap %-5u %5u..%-6u B %8" PRIu64 " msgs %6.2f s"
	       " (partial batches: send %" PRIu64 ", recv %" PRIu64 ")\n",
	       c->label, np, nc, c->threads ? "threads" : "procs  ",
	       c->send_batch > 1 || c->recv_batch > 1 ? " batch" : "      ",
	       c->capacity, c->min_len, c->max_len, total, secs, st->partial_sends,
	       st->partial_recvs);
	fflush(stdout);
	t_watchdog(0, NULL, NULL);
	*t_mp_current_() = NULL;
	CHECK_RC(ipcq_close(ctl), 0);
	CHECK_RC(ipcq_unlink(name), 0);
	pthread_barrier_destroy(st->start);
	munmap(st->start, sizeof(*st->start));
	munmap(st, size);
}

#endif
