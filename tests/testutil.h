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
#include <stdarg.h>
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

/* Elements of an array. */
#define T_NELEM(a) (sizeof(a) / sizeof((a)[0]))

#define T_FAIL(...)                                                        \
	do {                                                               \
		fprintf(stderr, "%s:%d: ", __FILE__, __LINE__);            \
		fprintf(stderr, __VA_ARGS__);                              \
		fputc('\n', stderr);                                       \
		exit(1);                                                   \
	} while (0)

/* SOFT_FAIL(...): a failure that lets a test with several scenarios go on
 * to the next one.  The test defines `failed` (set to 1 here) and `label`
 * (the scenario, printed first; NULL for none). */
__attribute__((format(printf, 2, 3), unused))
static void t_soft_report(const char *scenario, const char *fmt, ...)
{
	va_list ap;
	if (scenario)
		fprintf(stderr, "%s: ", scenario);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}
#define SOFT_FAIL(...)                                                     \
	do {                                                               \
		t_soft_report(label, __VA_ARGS__);                         \
		failed = 1;                                                \
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

#define T_MAX_NAMES 256

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
	for (unsigned i = 0; i < c->n; i++) {
		char path[320];
		struct stat st;
		t_unlink_quiet(c->name[i]);
		/* a test may have put a directory, FIFO or link there */
		snprintf(path, sizeof(path), "/dev/shm/ipcq.%s", c->name[i]);
		if (lstat(path, &st) == 0)
			(void)(S_ISDIR(st.st_mode) ? rmdir(path) : unlink(path));
	}
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

/* An ack-mode consumer of queue @name holding at most @prefetch leases. */
static inline struct ipcq *t_ack_consumer(const char *name, uint32_t prefetch)
{
	struct ipcq_attach_opts o = IPCQ_ATTACH_OPTS_INIT;
	o.flags = IPCQ_ATTACH_ACK;
	o.prefetch = prefetch;
	return t_open_attach(name, IPCQ_ROLE_CONSUMER, &o);
}


/* A consumer in group @group of queue @name (attach flags @flags). */
static inline struct ipcq *t_group_consumer(const char *name, const char *group, uint32_t flags)
{
	struct ipcq_attach_opts o = IPCQ_ATTACH_OPTS_INIT;
	o.group = group;
	o.flags = flags;
	if (flags & IPCQ_ATTACH_ACK)
		o.prefetch = 4;
	return t_open_attach(name, IPCQ_ROLE_CONSUMER, &o);
}

static inline struct ipcq_info t_info(struct ipcq *q)
{
	struct ipcq_info info;
	memset(&info, 0, sizeof(info));
	info.size = sizeof(info);
	CHECK_RC(ipcq_info(q, &info), 0);
	return info;
}

/* The queue's ipcq_stats() record, without the participants'. */
static inline struct ipcq_stats t_stats(struct ipcq *q)
{
	struct ipcq_stats st;
	memset(&st, 0, sizeof(st));
	st.size = sizeof(st);
	CHECK_RC(ipcq_stats(q, &st, NULL, 0), 0);
	return st;
}

/* The participants' ipcq_stats() records of @q into ps[0..n): how many
 * it wrote (an error fails the test). */
static inline int t_parts(struct ipcq *q, struct ipcq_participant_stats *ps, unsigned n)
{
	struct ipcq_stats st;
	memset(&st, 0, sizeof(st));
	st.size = sizeof(st);
	int got = ipcq_stats(q, &st, ps, n);
	if (got < 0)
		T_FAIL("ipcq_stats: %d (%s)", got, ipcq_strerror(got));
	return got;
}

/* The figures of @q's own participant entry. */
static inline struct ipcq_participant_stats t_my_stats(struct ipcq *q)
{
	int32_t me = t_info(q).participant_index;
	struct ipcq_participant_stats ps[64];
	int n = t_parts(q, ps, T_NELEM(ps));
	for (int i = 0; i < n; i++)
		if ((int32_t)ps[i].index == me)
			return ps[i];
	T_FAIL("no stats entry for participant %d", me);
}

/* Messages discarded by drop-oldest so far, all of @q's participants
 * together (up to 64 of them). */
static inline uint64_t t_dropped_total(struct ipcq *q)
{
	struct ipcq_participant_stats ps[64];
	uint64_t sum = 0;
	int n = t_parts(q, ps, T_NELEM(ps));
	for (int i = 0; i < n; i++)
		sum += ps[i].dropped;
	return sum;
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

/* Send producer 0's message @seq (t_fill's pattern, t_msg_len's length up
 * to @max bytes) without waiting. */
static inline void t_send_pattern(struct ipcq *p, uint32_t max, uint64_t seq)
{
	uint8_t buf[256];
	size_t len = t_msg_len(0, seq, 0, max < sizeof(buf) ? max : (uint32_t)sizeof(buf));
	t_fill(buf, len, 0, seq);
	CHECK_RC(ipcq_send(p, buf, len, IPCQ_NOWAIT), 0);
}

/*
 * A received message of t_fill()'s pattern, @rc bytes: its producer *p and
 * sequence *seq.  Fails the test, naming @who, when it was never sent (a
 * producer below @np, a sequence in 1..@n, every byte as t_fill() wrote
 * it) or, with @last (each producer's last sequence, updated), when it
 * comes out of its producer's order.
 */
static inline void t_check_msg(const void *buf, int rc, uint32_t np, uint64_t n, uint64_t *last,
			       const char *who, uint32_t *p, uint64_t *seq)
{
	if (rc < 16)
		T_FAIL("%s: a receive returned %d (%s)", who, rc, rc < 0 ? ipcq_strerror(rc) : "short");
	t_header(buf, p, seq);
	if (*p >= np || *seq < 1 || *seq > n || t_verify(buf, (size_t)rc, *p, *seq) != 0)
		T_FAIL("%s: a message that was never sent (producer %u, seq %llu)", who, *p,
		       (unsigned long long)*seq);
	if (!last)
		return;
	if (*seq <= last[*p])
		T_FAIL("%s: producer %u's %llu after %llu", who, *p, (unsigned long long)*seq,
		       (unsigned long long)last[*p]);
	last[*p] = *seq;
}

/* Producer @id's messages 1..@n into queue @name (t_fill()'s pattern,
 * t_msg_len()'s lengths in [@min, @max], at most 256), waiting for room;
 * the handle is closed after. */
static inline void t_produce(const char *name, uint32_t id, uint64_t n, uint32_t min, uint32_t max)
{
	struct ipcq *q = t_open_attach(name, IPCQ_ROLE_PRODUCER, NULL);
	uint8_t buf[256];
	if (max > sizeof(buf))
		max = sizeof(buf);
	for (uint64_t s = 1; s <= n; s++) {
		size_t len = t_fill(buf, t_msg_len(id, s, min, max), id, s);
		CHECK_OK(ipcq_send(q, buf, len, IPCQ_FOREVER));
	}
	CHECK_OK(ipcq_close(q));
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
		signal(SIGALRM, SIG_DFL); /* the parent's watchdog is not ours */
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
/* Crash and freeze points: a child killed or stopped at a named point */
/* ------------------------------------------------------------------ */

/* Named points exist in debug builds only (IPCQ_DEBUG: asan, tsan). */
#if defined(IPCQ_DEBUG)
#define T_HAVE_POINTS 1
#else
#define T_HAVE_POINTS 0
#endif

/* At the start of a test that needs named points: skip (exit 77) in a
 * build without them; clear any point armed in the environment. */
static inline void t_need_points(void)
{
	if (!T_HAVE_POINTS) {
		printf("crash and freeze points are compiled only into debug builds "
		       "(asan, tsan)\n");
		exit(T_SKIP);
	}
	unsetenv("IPCQ_CRASH");
	unsetenv("IPCQ_FREEZE");
}

/*
 * In a child, before its first ipcq call: SIGKILL itself at the @pass-th
 * pass (1 = first) of @point (t_crash_at), or SIGSTOP there (t_freeze_at)
 * so that the parent sees it stopped with t_wait_stopped(), runs other
 * processes while it sits at that exact protocol point, then resumes it
 * with t_resume() or kills it.  Points are named in lib/crashpoints.h.
 */
static inline void t_arm_point_(const char *var, const char *point, unsigned pass)
{
	char buf[96];
	snprintf(buf, sizeof(buf), "%s:%u", point, pass);
	if (setenv(var, buf, 1) != 0)
		T_FAIL("setenv %s: %s", var, strerror(errno));
}

static inline void t_crash_at(const char *point, unsigned pass)
{
	t_arm_point_("IPCQ_CRASH", point, pass);
}

static inline void t_freeze_at(const char *point, unsigned pass)
{
	t_arm_point_("IPCQ_FREEZE", point, pass);
}

/* Describe a wait status for a message. */
static inline const char *t_status_str(int st)
{
	static char buf[64];
	if (WIFEXITED(st))
		snprintf(buf, sizeof(buf), "exited with %d", WEXITSTATUS(st));
	else if (WIFSIGNALED(st))
		snprintf(buf, sizeof(buf), "killed by signal %d", WTERMSIG(st));
	else if (WIFSTOPPED(st))
		snprintf(buf, sizeof(buf), "stopped by signal %d", WSTOPSIG(st));
	else
		snprintf(buf, sizeof(buf), "status 0x%x", st);
	return buf;
}

/*
 * Wait up to @secs for child @pid (of t_spawn()) to stop at its freeze
 * point.  Fails the test, naming @what, when it ends instead or is still
 * running then.
 */
static inline void t_wait_stopped(pid_t pid, unsigned secs, const char *what)
{
	uint64_t dl = t_now_ns() + (uint64_t)secs * 1000000000ull;
	unsigned round = 0;
	for (;;) {
		int st;
		pid_t r = waitpid(pid, &st, WNOHANG | WUNTRACED);
		if (r < 0 && errno != EINTR)
			T_FAIL("%s: waitpid %d: %s", what, (int)pid, strerror(errno));
		if (r == pid && WIFSTOPPED(st))
			return;
		if (r == pid) {
			t_kids_forget_(pid);
			T_FAIL("%s (pid %d) %s instead of stopping at its freeze point", what, (int)pid,
			       t_status_str(st));
		}
		if (t_now_ns() > dl)
			T_FAIL("%s (pid %d) did not reach its freeze point within %u s", what, (int)pid,
			       secs);
		t_poll_pause(&round);
	}
}

/* Resume a child stopped at its freeze point. */
static inline void t_resume(pid_t pid)
{
	if (kill(pid, SIGCONT) != 0)
		T_FAIL("SIGCONT %d: %s", (int)pid, strerror(errno));
}

/*
 * Wait up to @secs for child @pid (of t_spawn()) to end and reap it;
 * returns its wait status.  Fails the test, naming @what, on a timeout
 * (the child is killed then).
 */
static inline int t_wait_end(pid_t pid, unsigned secs, const char *what)
{
	uint64_t dl = t_now_ns() + (uint64_t)secs * 1000000000ull;
	unsigned round = 0;
	for (;;) {
		int st;
		pid_t r = waitpid(pid, &st, WNOHANG);
		if (r < 0 && errno != EINTR)
			T_FAIL("%s: waitpid %d: %s", what, (int)pid, strerror(errno));
		if (r == pid) {
			t_kids_forget_(pid);
			return st;
		}
		if (t_now_ns() > dl) {
			kill(pid, SIGKILL);
			T_FAIL("%s (pid %d) still running after %u s", what, (int)pid, secs);
		}
		t_poll_pause(&round);
	}
}

/* Reap child @pid, which must have died of SIGKILL at its crash point
 * within @secs; fails the test naming @what otherwise. */
static inline void t_wait_crashed(pid_t pid, unsigned secs, const char *what)
{
	int st = t_wait_end(pid, secs, what);
	if (!WIFSIGNALED(st) || WTERMSIG(st) != SIGKILL)
		T_FAIL("%s (pid %d) %s, expected death by SIGKILL at its crash point", what, (int)pid,
		       t_status_str(st));
}

/* ------------------------------------------------------------------ */
/* Watching children while waiting for their work                      */
/* ------------------------------------------------------------------ */

/*
 * Fail the test at once when a child of t_spawn() that is not reaped yet
 * has ended otherwise than with exit status 0 (a failed check in a child
 * prints its own message, then exits 1; ASan and UBSan reports exit 1; a
 * crash is a signal), killing the other children.  Children that ended
 * well are left unreaped (waitid with WNOWAIT) for t_reap() and the like.
 * @except (0: none) is a child whose end the caller handles itself (a
 * victim that must die).  Call it in every loop that waits for children's
 * work, so that a failed child is reported at once with its own error,
 * not as a timeout later.  @what names the wait in the message.
 */
static inline void t_kids_check(pid_t except, const char *what)
{
	struct t_kids_ *k = t_kids_();
	for (unsigned i = 0; i < k->n; i++) {
		pid_t pid = k->pid[i];
		siginfo_t si;
		if (pid == except)
			continue;
		memset(&si, 0, sizeof(si));
		if (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) < 0) {
			if (errno == EINTR) {
				i--;
				continue;
			}
			if (errno == ECHILD) { /* reaped elsewhere */
				t_kids_forget_(pid);
				i--;
				continue;
			}
			T_FAIL("%s: waitid %d: %s", what, (int)pid, strerror(errno));
		}
		if (si.si_pid == 0 || (si.si_code == CLD_EXITED && si.si_status == 0))
			continue;
		int st = 0;
		while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
			;
		t_kids_forget_(pid);
		t_kill_kids();
		T_FAIL("%s: child %d %s (its own messages are above)", what, (int)pid,
		       t_status_str(st));
	}
}

/* T_AWAIT that also fails at once when a child fails (t_kids_check()). */
#define T_AWAIT_KIDS(cond, secs)                                           \
	do {                                                               \
		uint64_t t_dl_ = t_now_ns() + (uint64_t)(secs) * 1000000000ull; \
		unsigned t_round_ = 0;                                     \
		while (!(cond)) {                                          \
			t_kids_check(0, #cond);                            \
			if (t_now_ns() > t_dl_)                            \
				T_FAIL("gave up waiting for %s", #cond);   \
			t_poll_pause(&t_round_);                           \
		}                                                          \
	} while (0)

/*
 * t_wait_end() that also watches the other children (t_kids_check()):
 * wait up to @secs for child @pid to end, reap it and return its status,
 * failing at once if another child fails meanwhile.
 */
static inline int t_wait_end_watch(pid_t pid, unsigned secs, const char *what)
{
	uint64_t dl = t_now_ns() + (uint64_t)secs * 1000000000ull;
	unsigned round = 0;
	for (;;) {
		int st;
		pid_t r = waitpid(pid, &st, WNOHANG);
		if (r < 0 && errno != EINTR)
			T_FAIL("%s: waitpid %d: %s", what, (int)pid, strerror(errno));
		if (r == pid) {
			t_kids_forget_(pid);
			return st;
		}
		t_kids_check(pid, what);
		if (t_now_ns() > dl) {
			kill(pid, SIGKILL);
			T_FAIL("%s (pid %d) still running after %u s", what, (int)pid, secs);
		}
		t_poll_pause(&round);
	}
}

/* t_reap() that watches the other children meanwhile: 0 when @pid exited
 * with status 0 (within @secs), else -1 with the reason printed. */
static inline int t_reap_watch(pid_t pid, unsigned secs, const char *what)
{
	int st = t_wait_end_watch(pid, secs, what);
	return t_status_ok(pid, st) ? 0 : -1;
}

/*
 * The ipcq_stats() record of the live participant that process @pid
 * attached to @q (the last one listed); returns 0 when there is none.
 * Tests wait on its counters (sleeps, full, empty, recoveries) to know
 * that a process really got where it was sent, instead of sleeping.
 */
static inline int t_part_stats(struct ipcq *q, pid_t pid, struct ipcq_participant_stats *out)
{
	enum { MAXP = 256 };
	struct ipcq_participant_stats *ps =
		(struct ipcq_participant_stats *)calloc(MAXP, sizeof(*ps));
	int found = 0;
	CHECK(ps != NULL);
	int n = t_parts(q, ps, MAXP);
	for (int i = 0; i < n; i++)
		if (ps[i].pid == (uint32_t)pid && ps[i].alive) {
			*out = ps[i];
			found = 1;
		}
	free(ps);
	return found;
}

/* @pid's participant record (see t_part_stats()), all zero while it has
 * none: t_part(q, pid).sleeps and the like. */
static inline struct ipcq_participant_stats t_part(struct ipcq *q, pid_t pid)
{
	struct ipcq_participant_stats ps;
	if (!t_part_stats(q, pid, &ps))
		memset(&ps, 0, sizeof(ps));
	return ps;
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
	uint32_t priorities;             /* > 1: priority lanes (strict), message
					  * seq at priority seq % priorities; order
					  * checked per producer and lane */
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
			if (c->priorities > 1) {
				struct ipcq_send_opts o = IPCQ_SEND_OPTS_INIT;
				o.priority = (uint32_t)(seq % c->priorities);
				CHECK_RC(ipcq_send_ex(q, mem, len, &o, IPCQ_FOREVER), 0);
			} else {
				CHECK_RC(ipcq_send(q, mem, len, IPCQ_FOREVER), 0);
			}
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
	/* the order is per producer, and per lane on a queue with lanes */
	unsigned lane = c->priorities > 1 ? (unsigned)(seq % c->priorities) : 0;
	if (c->priorities > 1 && IPCQ_MSG_PRIORITY(info->flags) != lane)
		T_FAIL("consumer %u: producer %u seq %" PRIu64 ": priority %u, sent at %u", cons, p,
		       seq, IPCQ_MSG_PRIORITY(info->flags), lane);
	uint64_t *lastp = &last[p * IPCQ_PRIORITIES_MAX + lane];
	if (seq <= *lastp)
		T_FAIL("consumer %u: producer %u: sequence %" PRIu64 " after %" PRIu64
		       " (per-producer order broken)", cons, p, seq, *lastp);
	*lastp = seq;
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
	uint64_t last[T_MP_MAX * IPCQ_PRIORITIES_MAX] = { 0 };
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
	cfg.priorities = c->priorities;
	cfg.priority_share = 0; /* strict: the pills, in lane 0, come last */
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

/* ------------------------------------------------------------------ */
/* The ledger: what was sent and what was received, for crash tests    */
/* ------------------------------------------------------------------ */

/*
 * Crash tests kill producers and consumers and then check the whole
 * message set.  The ledger lives in memory shared with every child:
 *  - a producer stores attempt[p] = seq before ipcq_send() and sent[p] =
 *    seq only after it returned 0, so after a death sent[p] is exactly
 *    what the producer was told, and attempt[p] > sent[p] names the one
 *    message that may or may not be in the queue;
 *  - a consumer counts each reception (got), each reception flagged
 *    IPCQ_MSG_REPLAYED (rgot) and each processed message (done: returned
 *    by a fast-mode receive, or acknowledged in ack mode);
 *  - each consumer slot has a receive buffer in the ledger, so that when
 *    a fast-mode consumer dies inside ipcq_recv() after the library copied
 *    and released the message (fast mode is at-most-once from the release
 *    on: the message left the queue for a process that died) the parent
 *    can tell which message went down with it, and a pending-ack word for
 *    the same purpose in ack mode (dead between ipcq_ack() and counting).
 * Producer ids and sequences are the test's own (the message header of
 * t_fill()), not the library's: a restarted producer continues its own
 * numbering.
 */
#define T_LEDGER_MAXP 8
#define T_LEDGER_MAXC 32

struct t_cell {
	uint16_t got;     /* receptions */
	uint16_t done;    /* processed: fast-mode receive, or ack returned 0 */
	uint16_t rgot;    /* receptions flagged IPCQ_MSG_REPLAYED */
	uint8_t doubt;    /* deaths of its producer while sending it (each may add a copy) */
	uint8_t lost_ok;  /* went down with a dead consumer after leaving the queue */
	uint8_t ack_doubt; /* its consumer died acknowledging it: the ack may have happened */
};

struct t_ledger {
	unsigned np;
	uint32_t min_len, max_len;
	uint64_t maxseq;                  /* sequences 1..maxseq per producer */
	uint64_t sent[T_LEDGER_MAXP];     /* written after ipcq_send() returned 0 */
	uint64_t attempt[T_LEDGER_MAXP];  /* written before ipcq_send() */
	uint64_t received;                /* receptions, every consumer */
	uint64_t processed;
	uint64_t redelivered;             /* receptions with deliveries > 1 */
	uint64_t ack_pend[T_LEDGER_MAXC]; /* (p << 48 | seq) while acking */
	size_t buf_room;
	uint8_t *bufs;                    /* T_LEDGER_MAXC receive buffers */
	struct t_cell *cells;
};

/* A ledger for @np producers of up to @maxseq messages each, lengths in
 * [min_len, max_len] (min_len >= 16: the header identifies a message). */
static inline struct t_ledger *t_ledger_new(unsigned np, uint64_t maxseq, uint32_t min_len,
					    uint32_t max_len)
{
	CHECK(np >= 1 && np <= T_LEDGER_MAXP && min_len >= 16 && min_len <= max_len);
	size_t room = ((size_t)max_len + 63) & ~(size_t)63;
	size_t cells = (size_t)np * (size_t)(maxseq + 2) * sizeof(struct t_cell);
	size_t size = sizeof(struct t_ledger) + T_LEDGER_MAXC * room + cells + 64;
	struct t_ledger *l = (struct t_ledger *)t_shared(size);
	l->np = np;
	l->maxseq = maxseq;
	l->min_len = min_len;
	l->max_len = max_len;
	l->buf_room = room;
	l->bufs = (uint8_t *)(((uintptr_t)(l + 1) + 63) & ~(uintptr_t)63);
	l->cells = (struct t_cell *)(void *)(l->bufs + T_LEDGER_MAXC * room);
	return l;
}

static inline struct t_cell *t_ledger_cell(const struct t_ledger *l, uint32_t p, uint64_t seq)
{
	return &l->cells[(size_t)p * (size_t)(l->maxseq + 2) + seq];
}

static inline uint8_t *t_ledger_buf(const struct t_ledger *l, unsigned slot)
{
	return l->bufs + (size_t)slot * l->buf_room;
}

static inline uint64_t t_ledger_sent(const struct t_ledger *l, uint32_t p)
{
	return __atomic_load_n(&l->sent[p], __ATOMIC_ACQUIRE);
}

/* Send message (p, seq) and record it; returns what ipcq_send() returned. */
static inline int t_ledger_send(struct t_ledger *l, struct ipcq *q, void *buf, uint32_t p,
				uint64_t seq, int64_t timeout_ns)
{
	if (p >= l->np || seq < 1 || seq > l->maxseq)
		T_FAIL("ledger: producer %u sequence %" PRIu64 " out of range", p, seq);
	uint32_t len = t_msg_len(p, seq, l->min_len, l->max_len);
	t_fill(buf, len, p, seq);
	__atomic_store_n(&l->attempt[p], seq, __ATOMIC_SEQ_CST);
	int rc = ipcq_send(q, buf, len, timeout_ns);
	if (rc == 0)
		__atomic_store_n(&l->sent[p], seq, __ATOMIC_SEQ_CST);
	return rc;
}

/* The same for a named producer (IPCQ_ATTACH_DEDUP): the ledger's sequence
 * is the name's.  Returns 0, or IPCQ_SEND_DUPLICATE when the queue had
 * accepted (p, seq) already (then it counts as sent), or an error. */
static inline int t_ledger_send_seq(struct t_ledger *l, struct ipcq *q, void *buf, uint32_t p,
				    uint64_t seq, int64_t timeout_ns)
{
	if (p >= l->np || seq < 1 || seq > l->maxseq)
		T_FAIL("ledger: producer %u sequence %" PRIu64 " out of range", p, seq);
	uint32_t len = t_msg_len(p, seq, l->min_len, l->max_len);
	t_fill(buf, len, p, seq);
	if (seq > __atomic_load_n(&l->attempt[p], __ATOMIC_SEQ_CST))
		__atomic_store_n(&l->attempt[p], seq, __ATOMIC_SEQ_CST);
	int rc = ipcq_send_seq(q, seq, buf, len, timeout_ns);
	if (rc == 0 || rc == IPCQ_SEND_DUPLICATE)
		__atomic_store_n(&l->sent[p], seq, __ATOMIC_SEQ_CST);
	return rc;
}

/* After the death of producer p: the message it was sending, if it was
 * never acknowledged, may be in the queue; a restart resends it. */
static inline void t_ledger_producer_died(struct t_ledger *l, uint32_t p)
{
	uint64_t a = __atomic_load_n(&l->attempt[p], __ATOMIC_SEQ_CST);
	if (a > t_ledger_sent(l, p))
		__atomic_add_fetch(&t_ledger_cell(l, p, a)->doubt, 1, __ATOMIC_SEQ_CST);
}

/* What a consumer got: the message's identity. */
struct t_msgref {
	uint32_t p;
	uint64_t seq;
};

/*
 * Check a message received into t_ledger_buf(l, slot) (length @len, info
 * @mi) and count it: content, length, info fields, per-producer order of
 * first deliveries (@last: the consumer's own array of T_LEDGER_MAXP, zero
 * at start) and the redelivery rules: a message received before comes
 * again only flagged (deliveries > 1 and IPCQ_MSG_REDELIVERED), or as an
 * explicit replay (IPCQ_MSG_REPLAYED; a second replayed copy is a
 * redelivery and must be flagged as one).  In fast mode (@ack 0) the
 * message is processed now.  Fails the calling process on a violation.
 */
static inline struct t_msgref t_ledger_recv(struct t_ledger *l, unsigned slot, int ack,
					    uint64_t *last, int len, const struct ipcq_msginfo *mi,
					    const char *who)
{
	const uint8_t *buf = t_ledger_buf(l, slot);
	struct t_msgref m = { 0, 0 };
	if (len < 16 || (uint64_t)len != mi->len)
		T_FAIL("%s: length %d, info.len %" PRIu64, who, len, mi->len);
	t_header(buf, &m.p, &m.seq);
	if (m.p >= l->np || m.seq < 1 || m.seq > __atomic_load_n(&l->attempt[m.p], __ATOMIC_SEQ_CST))
		T_FAIL("%s: message (%u, %" PRIu64 ") was never sent", who, m.p, m.seq);
	if ((uint32_t)len != t_msg_len(m.p, m.seq, l->min_len, l->max_len) ||
	    t_verify(buf, (size_t)len, m.p, m.seq) != 0)
		T_FAIL("%s: message (%u, %" PRIu64 ") len %d: content differs from what was sent",
		       who, m.p, m.seq, len);
	if (mi->deliveries < 1 || (mi->flags & ~(IPCQ_MSG_REDELIVERED | IPCQ_MSG_REPLAYED)) ||
	    (mi->deliveries > 1) != ((mi->flags & IPCQ_MSG_REDELIVERED) != 0))
		T_FAIL("%s: message (%u, %" PRIu64 "): deliveries %u with flags 0x%x", who, m.p,
		       m.seq, mi->deliveries, mi->flags);
	if (mi->stream != 0 && mi->seq != m.seq)
		T_FAIL("%s: message (%u, %" PRIu64 ") of stream %u carries sequence %" PRIu64, who,
		       m.p, m.seq, mi->stream, mi->seq);
	if ((ack != 0) != (mi->token != 0))
		T_FAIL("%s: token %#" PRIx64 " in %s mode", who, mi->token, ack ? "ack" : "fast");
	struct t_cell *c = t_ledger_cell(l, m.p, m.seq);
	unsigned prior = __atomic_fetch_add(&c->got, 1, __ATOMIC_SEQ_CST);
	int doubt = __atomic_load_n(&c->doubt, __ATOMIC_SEQ_CST);
	if (mi->flags & IPCQ_MSG_REPLAYED) {
		unsigned rprior = __atomic_fetch_add(&c->rgot, 1, __ATOMIC_SEQ_CST);
		if (rprior > 0 && !(mi->flags & IPCQ_MSG_REDELIVERED))
			T_FAIL("%s: message (%u, %" PRIu64 ") replayed a second time with deliveries %u"
			       " flags 0x%x: not flagged as a redelivery", who, m.p, m.seq,
			       mi->deliveries, mi->flags);
	} else if (prior > 0 && !(mi->flags & IPCQ_MSG_REDELIVERED) && !doubt) {
		T_FAIL("%s: message (%u, %" PRIu64 ") received %u times, this time with deliveries"
		       " %u flags 0x%x: an undeclared duplicate", who, m.p, m.seq, prior + 1,
		       mi->deliveries, mi->flags);
	}
	if (mi->deliveries == 1 && !(mi->flags & IPCQ_MSG_REPLAYED)) {
		if (m.seq < last[m.p] || (m.seq == last[m.p] && !doubt))
			T_FAIL("%s: producer %u: sequence %" PRIu64 " after %" PRIu64
			       " (per-producer order broken)", who, m.p, m.seq, last[m.p]);
		last[m.p] = m.seq;
	}
	__atomic_add_fetch(&l->received, 1, __ATOMIC_SEQ_CST);
	if (mi->deliveries > 1)
		__atomic_add_fetch(&l->redelivered, 1, __ATOMIC_RELAXED);
	if (!ack) {
		__atomic_add_fetch(&c->done, 1, __ATOMIC_SEQ_CST);
		__atomic_add_fetch(&l->processed, 1, __ATOMIC_SEQ_CST);
	}
	return m;
}

/*
 * Receive one message into the slot's buffer and check and count it.
 * Returns ipcq_recv()'s result (> 0 with *m and *mi filled).
 */
static inline int t_ledger_recv_one(struct t_ledger *l, struct ipcq *q, unsigned slot, int ack,
				    uint64_t *last, int64_t timeout_ns, struct t_msgref *m,
				    struct ipcq_msginfo *mi, const char *who)
{
	uint8_t *buf = t_ledger_buf(l, slot);
	memset(buf, 0, 16); /* a stale header must not be taken for a new message */
	memset(mi, 0, sizeof(*mi));
	int rc = ipcq_recv(q, buf, l->max_len, mi, timeout_ns);
	if (rc < 0)
		return rc;
	*m = t_ledger_recv(l, slot, ack, last, rc, mi, who);
	return rc;
}

/* Acknowledge a message received in ack mode and count it processed. */
static inline int t_ledger_ack(struct t_ledger *l, struct ipcq *q, unsigned slot,
			       struct t_msgref m, uint64_t token)
{
	__atomic_store_n(&l->ack_pend[slot], ((uint64_t)m.p << 48) | m.seq, __ATOMIC_SEQ_CST);
	int rc = ipcq_ack(q, token);
	if (rc == 0) {
		__atomic_add_fetch(&t_ledger_cell(l, m.p, m.seq)->done, 1, __ATOMIC_SEQ_CST);
		__atomic_add_fetch(&l->processed, 1, __ATOMIC_SEQ_CST);
	}
	__atomic_store_n(&l->ack_pend[slot], 0, __ATOMIC_SEQ_CST);
	return rc;
}

/* The cell of message (p, seq) if it was attempted, else NULL. */
static inline struct t_cell *t_ledger_cell_of(struct t_ledger *l, uint32_t p, uint64_t seq)
{
	if (p < l->np && seq >= 1 && seq <= __atomic_load_n(&l->attempt[p], __ATOMIC_SEQ_CST))
		return t_ledger_cell(l, p, seq);
	return NULL;
}

/*
 * After the death of the consumer of @slot (one that died outside the
 * library, or in ipcq_ack(): a death at a point before the release leaves
 * its message to be delivered again, and is not for this).  The message
 * in its buffer was received, counted or not (a kill may fall between the
 * receive and the count): a later copy must be flagged.  In fast mode it
 * left the queue and, unprocessed, went down with the consumer.  A message
 * it was acknowledging (ack mode) may or may not have been acknowledged.
 */
static inline void t_ledger_consumer_died(struct t_ledger *l, unsigned slot, int ack)
{
	uint32_t p = 0;
	uint64_t seq = 0;
	t_header(t_ledger_buf(l, slot), &p, &seq);
	struct t_cell *c = t_ledger_cell_of(l, p, seq);
	if (c) {
		uint16_t zero = 0;
		__atomic_compare_exchange_n(&c->got, &zero, 1, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
		if (!ack && __atomic_load_n(&c->done, __ATOMIC_SEQ_CST) == 0)
			__atomic_store_n(&c->lost_ok, 1, __ATOMIC_SEQ_CST);
	}
	memset(t_ledger_buf(l, slot), 0, 16);
	if (ack) {
		uint64_t v = __atomic_exchange_n(&l->ack_pend[slot], 0, __ATOMIC_SEQ_CST);
		c = t_ledger_cell_of(l, (uint32_t)(v >> 48), v & ((1ull << 48) - 1));
		if (c && __atomic_load_n(&c->done, __ATOMIC_SEQ_CST) == 0)
			__atomic_store_n(&c->ack_doubt, 1, __ATOMIC_SEQ_CST);
	}
}

/* Has every acknowledged message been processed?  @cursor (T_LEDGER_MAXP,
 * zero at first) makes repeated calls cheap. */
static inline int t_ledger_all_done(const struct t_ledger *l, uint64_t *cursor)
{
	for (uint32_t p = 0; p < l->np; p++) {
		uint64_t sent = t_ledger_sent(l, p);
		if (cursor[p] == 0)
			cursor[p] = 1;
		while (cursor[p] <= sent) {
			const struct t_cell *c = t_ledger_cell(l, p, cursor[p]);
			if (__atomic_load_n(&c->done, __ATOMIC_SEQ_CST) == 0 &&
			    !__atomic_load_n(&c->lost_ok, __ATOMIC_SEQ_CST) &&
			    !__atomic_load_n(&c->ack_doubt, __ATOMIC_SEQ_CST))
				return 0;
			cursor[p]++;
		}
	}
	return 1;
}

/* Print up to @max acknowledged messages not processed yet. */
static inline void t_ledger_print_missing(const struct t_ledger *l, unsigned max)
{
	unsigned n = 0;
	for (uint32_t p = 0; p < l->np; p++)
		for (uint64_t s = 1; s <= t_ledger_sent(l, p); s++) {
			const struct t_cell *c = t_ledger_cell(l, p, s);
			if (c->done || c->lost_ok || c->ack_doubt)
				continue;
			if (n++ < max)
				fprintf(stderr, "  missing: producer %u seq %" PRIu64 " (received %u times,"
					" sent up to %" PRIu64 ")\n", p, s, c->got, t_ledger_sent(l, p));
		}
	if (n > max)
		fprintf(stderr, "  ... %u missing in all\n", n);
}

/*
 * The final check, once every process is gone: every acknowledged message
 * processed exactly once (more only where an anonymous producer resent a
 * message it was never told was sent, once per death while sending it, or
 * a dying replay put it back twice); none
 * lost except one that went down with a dead fast consumer, or one whose
 * consumer died in its ack (which may have freed it); nothing beyond what
 * was attempted.  Returns the number of violations (printed), and in
 * *lost the messages that went down with dead fast consumers.
 */
static inline unsigned t_ledger_check(const struct t_ledger *l, const char *label, uint64_t *lost)
{
	unsigned bad = 0;
	uint64_t nlost = 0;
	for (uint32_t p = 0; p < l->np; p++) {
		uint64_t sent = t_ledger_sent(l, p), att = l->attempt[p];
		for (uint64_t s = 1; s <= l->maxseq; s++) {
			const struct t_cell *c = t_ledger_cell(l, p, s);
			const char *why = NULL;
			unsigned dmax = 1;
			dmax += c->doubt; /* a copy per death while sending it */
			if (c->rgot >= 2 && c->rgot > dmax)
				dmax = c->rgot;
			if (s <= sent) {
				if (c->done == 0 && !c->lost_ok && !c->ack_doubt)
					why = "acknowledged to its producer but never received";
				else if (c->done == 0 && c->lost_ok)
					nlost++;
				else if (c->done > dmax)
					why = "processed more than once";
			} else if (s <= att) {
				if (c->done > dmax)
					why = "(unacknowledged send) processed more than once";
			} else if (c->got || c->done) {
				why = "received but never sent";
			} else {
				break;
			}
			if (why && bad++ < 20)
				fprintf(stderr, "%s: producer %u seq %" PRIu64 ": %s (got %u, done %u,"
					" replayed %u, sent %" PRIu64 ", attempted %" PRIu64 ")\n",
					label, p, s, why, c->got, c->done, c->rgot, sent, att);
		}
	}
	if (lost)
		*lost = nlost;
	return bad;
}

/* ------------------------------------------------------------------ */
/* READS LIBRARY INTERNALS: counters and control words (tests only)    */
/* ------------------------------------------------------------------ */

/*
 * ipcq has no public snapshot of the per-participant counters yet.  Tests
 * that check exact counters (duplicates, dropped, full events, time
 * blocked, pressure transitions) read them here, through a read-only
 * mapping of /dev/shm/ipcq.<name> laid out as lib/ipcq_internal.h says.
 * Define T_INTERNALS before including this file to get these helpers;
 * keep every use of the private layout inside this block, and replace it
 * with the public API once there is one.
 */
#ifdef T_INTERNALS
#include "ipcq_internal.h"

struct t_peek {
	const uint8_t *base;
	size_t size;
	struct ipcq_shm_header h; /* private copy, checked against the file */
};

/* Map queue @name read-only. */
static inline void t_peek_open(struct t_peek *pk, const char *name)
{
	struct stat st;
	int fd = open(t_shm_path(name), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		T_FAIL("peek: open %s: %s", t_shm_path(name), strerror(errno));
	if (fstat(fd, &st) < 0 || pread(fd, &pk->h, sizeof(pk->h), 0) != (ssize_t)sizeof(pk->h))
		T_FAIL("peek: read header of %s: %s", name, strerror(errno));
	if (pk->h.magic != IPCQ_MAGIC || pk->h.total_size != (uint64_t)st.st_size ||
	    pk->h.participant_size != sizeof(struct ipcq_shm_participant) ||
	    pk->h.off_participants + (uint64_t)pk->h.max_participants *
	    sizeof(struct ipcq_shm_participant) > pk->h.total_size ||
	    pk->h.off_dedup + (uint64_t)pk->h.dedup_capacity *
	    sizeof(struct ipcq_shm_dedup) > pk->h.total_size)
		T_FAIL("peek: %s is not a segment of this layout", name);
	void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		T_FAIL("peek: mmap %s: %s", name, strerror(errno));
	close(fd);
	pk->base = (const uint8_t *)p;
	pk->size = (size_t)st.st_size;
}

static inline void t_peek_close(struct t_peek *pk)
{
	munmap((void *)(uintptr_t)pk->base, pk->size);
	pk->base = NULL;
}

/* Participant entry @index (ipcq_info's participant_index of its handle). */
static inline const struct ipcq_shm_participant *t_peek_part(const struct t_peek *pk,
							      int32_t index)
{
	if (index < 0 || (uint32_t)index >= pk->h.max_participants)
		T_FAIL("peek: participant %d out of range", index);
	return (const struct ipcq_shm_participant *)(const void *)
		(pk->base + pk->h.off_participants +
		 (size_t)index * sizeof(struct ipcq_shm_participant));
}

/* Counter @ctr (IPCQ_CTR_*) of participant entry @index.  Entries keep
 * their counters after a detach or a death, until the entry is taken by
 * another attach. */
static inline uint64_t t_peek_ctr(const struct t_peek *pk, int32_t index, unsigned ctr)
{
	if (ctr >= IPCQ_CTR_COUNT_)
		T_FAIL("peek: counter %u out of range", ctr);
	return __atomic_load_n(&t_peek_part(pk, index)->ctr[ctr], __ATOMIC_SEQ_CST);
}

/* The control block: cursors, pressure word, pressure_waiters, qctr[]. */
static inline const struct ipcq_shm_control *t_peek_control(const struct t_peek *pk)
{
	return (const struct ipcq_shm_control *)(const void *)(pk->base + pk->h.off_control);
}

/* Dedup-table entry of stream @stream (msginfo.stream: index + 1). */
static inline const struct ipcq_shm_dedup *t_peek_dedup(const struct t_peek *pk, uint32_t stream)
{
	if (stream < 1 || stream > pk->h.dedup_capacity)
		T_FAIL("peek: stream %u out of range", stream);
	return (const struct ipcq_shm_dedup *)(const void *)
		(pk->base + pk->h.off_dedup + (size_t)(stream - 1) * sizeof(struct ipcq_shm_dedup));
}

/* One counter of one participant of queue @name (maps and unmaps). */
static inline uint64_t t_ctr(const char *name, int32_t index, unsigned ctr)
{
	struct t_peek pk;
	t_peek_open(&pk, name);
	uint64_t v = t_peek_ctr(&pk, index, ctr);
	t_peek_close(&pk);
	return v;
}

/* Write @n bytes at offset @off of queue @name's segment (tests that
 * corrupt a live segment on purpose; offsets from the header, see
 * t_peek_open()). */
static inline void t_poke(const char *name, uint64_t off, const void *data, size_t n)
{
	int fd = open(t_shm_path(name), O_RDWR | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		T_FAIL("poke: open %s: %s", t_shm_path(name), strerror(errno));
	if (pwrite(fd, data, n, (off_t)off) != (ssize_t)n)
		T_FAIL("poke: write %zu bytes at %" PRIu64 " of %s: %s", n, off, name, strerror(errno));
	close(fd);
}
#endif /* T_INTERNALS */


/* ------------------------------------------------------------------ */
/* NUMA placement                                                      */
/* ------------------------------------------------------------------ */

/*
 * Check, with ipcq_numa_placement() on @q, that every page of the queue's
 * segment is on NUMA node @node (0..1023): the call reports one node in
 * use, examines all ceil(segment_size / page size) pages, and counts
 * every one of them on @node.  Prints where the pages are, then fails the
 * calling process, when not.  @who names the caller in the messages.
 */
static inline void t_numa_all_on(struct ipcq *q, int node, const char *who)
{
	CHECK(node >= 0 && node <= 1023);
	unsigned n = (unsigned)node + 1;
	uint64_t *on = (uint64_t *)calloc(n, sizeof(*on));
	uint64_t total = 0, page = (uint64_t)sysconf(_SC_PAGESIZE);
	CHECK(on != NULL);
	uint64_t want = (t_info(q).segment_size + page - 1) / page;
	int rc = ipcq_numa_placement(q, on, n, &total);
	if (rc != 1 || total != want || on[node] != total) {
		fprintf(stderr, "%s: ipcq_numa_placement returned %d (%s), %" PRIu64 " pages"
			" examined (segment: %" PRIu64 "), %" PRIu64 " on node %d; pages by node:",
			who, rc, rc < 0 ? ipcq_strerror(rc) : "nodes in use", total, want,
			on[node], node);
		for (unsigned i = 0; i < n; i++)
			if (on[i])
				fprintf(stderr, " %u:%" PRIu64, i, on[i]);
		fputc('\n', stderr);
		free(on);
		T_FAIL("%s: the segment is not all on node %d", who, node);
	}
	free(on);
}

/* ------------------------------------------------------------------ */
/* Consumers killed at random while the work goes on                  */
/* ------------------------------------------------------------------ */

/*
 * The ledger of a random-kill run over T_KILL_PRODUCERS producers of up to
 * 1 << 16 messages each, in memory shared by every process: per message a
 * state (0 not seen; the test's own states up to 2, done), a delivery
 * count and whether it was acknowledged; per seat of the consumer crew
 * the ack it is in the middle of; the first failure a process saw; and
 * how many messages are done.
 *
 * Each record is one store, so that a consumer killed between any two
 * leaves nothing half-counted: consumers store states and acks alone, and
 * the crew's runner counts the states (t_kill_tally()) and alone writes
 * done, which the consumers read to know when to stop.  An ack is noted in
 * the seat before the call (t_kill_ack()): a consumer killed inside it
 * leaves the message "maybe acknowledged" (the library may or may not
 * have freed its lease), which the runner marks when it reaps the seat.
 */
enum { T_KILL_PRODUCERS = 2, T_KILL_MAX_N = (1 << 16) - 1, T_KILL_SEATS = 8 };
enum { T_KILL_ACKED = 1, T_KILL_MAYBE_ACKED = 2 };
struct t_kill_ledger {
	uint64_t n;                      /* messages per producer, at most T_KILL_MAX_N */
	uint64_t done;                   /* messages in state 2 (atomic; the runner's) */
	int bad;
	char why[256];
	uint64_t acking[T_KILL_SEATS];   /* 1 + (producer << 32 | seq) being acked, 0 none */
	uint8_t state[T_KILL_PRODUCERS][T_KILL_MAX_N + 1];     /* by sequence, 1 to n */
	uint8_t acked[T_KILL_PRODUCERS][T_KILL_MAX_N + 1];     /* T_KILL_ACKED, _MAYBE_ACKED */
	uint32_t deliveries[T_KILL_PRODUCERS][T_KILL_MAX_N + 1];
};

/* Count the messages done (state 2) into l->done; returns the count. */
static inline uint64_t t_kill_tally(struct t_kill_ledger *l)
{
	uint64_t c = 0;
	for (uint32_t p = 0; p < T_KILL_PRODUCERS; p++)
		for (uint64_t s = 1; s <= l->n; s++)
			c += __atomic_load_n(&l->state[p][s], __ATOMIC_RELAXED) == 2;
	__atomic_store_n(&l->done, c, __ATOMIC_SEQ_CST);
	return c;
}

/* A crew consumer's acknowledgement of message (p, s) through @c, from
 * seat @seat: noted before the call, recorded after a success. */
__attribute__((unused))
static int t_kill_ack(struct t_kill_ledger *l, unsigned seat, struct ipcq *c, uint32_t p,
		      uint64_t s, uint64_t token)
{
	__atomic_store_n(&l->acking[seat], 1 + ((uint64_t)p << 32 | s), __ATOMIC_SEQ_CST);
	int rc = ipcq_ack(c, token);
	if (rc == 0)
		__atomic_store_n(&l->acked[p][s], T_KILL_ACKED, __ATOMIC_SEQ_CST);
	__atomic_store_n(&l->acking[seat], 0, __ATOMIC_SEQ_CST);
	return rc;
}

/* The consumer of @seat is gone (reaped): an ack it was in the middle of
 * may have happened. */
static inline void t_kill_seat_gone(struct t_kill_ledger *l, unsigned seat)
{
	uint64_t a = __atomic_exchange_n(&l->acking[seat], 0, __ATOMIC_SEQ_CST);
	if (!a--)
		return;
	uint32_t p = (uint32_t)(a >> 32);
	uint64_t s = a & 0xffffffffu;
	if (p < T_KILL_PRODUCERS && s >= 1 && s <= l->n && !l->acked[p][s])
		l->acked[p][s] = T_KILL_MAYBE_ACKED;
}

/*
 * A crew of consumer processes, killed at random and replaced until the
 * work is done: every 0.2-3.2 ms (any time is right), a consumer that
 * died at its named point is replaced, and while fewer than max_kills
 * kills were made one consumer, picked at random, is SIGKILLed and
 * replaced.  Each consumer is started with its seat (t_kill_seat())
 * and, for half the replacements, a named point to die at, at a random
 * pass (t_kill_arm(): 0 none, else 1 + point + npoints * (pass - 1), for
 * the consumer to decode).  Tallies the ledger each round and stops when
 * its done count reaches target or its bad is set; counts the kills made
 * and the deaths at points.
 */
struct t_kill_crew {
	pid_t *cons;              /* n consumers (at most T_KILL_SEATS), one per seat */
	unsigned n;
	int (*consumer)(void *);  /* started with t_kill_crew_arg() */
	unsigned npoints;         /* named points a consumer may be armed with */
	unsigned max_kills;
	struct t_kill_ledger *l;  /* progress, shared with the consumers */
	uint64_t target;
	unsigned seed, kills, points_hit;
};

/* A crew consumer's argument: its seat and its arming. */
static inline unsigned t_kill_seat(void *arg)
{
	return (unsigned)((uintptr_t)arg >> 24);
}

static inline unsigned t_kill_arm(void *arg)
{
	return (unsigned)((uintptr_t)arg & 0xffffffu);
}

static inline void *t_kill_crew_arg(struct t_kill_crew *k, unsigned seat, int armed)
{
	unsigned arm = 0;
	if (armed && rand_r(&k->seed) % 2 == 0)
		arm = 1 + (unsigned)rand_r(&k->seed) % (k->npoints * 40);
	return (void *)(uintptr_t)((uintptr_t)seat << 24 | arm);
}

static inline void t_kill_crew_run(struct t_kill_crew *k)
{
	while (t_kill_tally(k->l) < k->target && !__atomic_load_n(&k->l->bad, __ATOMIC_SEQ_CST)) {
		struct timespec ts = { 0, (long)(200000 + rand_r(&k->seed) % 3000000) };
		nanosleep(&ts, NULL); /* when to strike next: any time is right */
		/* a consumer that died at its named point is replaced */
		for (unsigned i = 0; i < k->n; i++) {
			int st;
			if (waitpid(k->cons[i], &st, WNOHANG) == k->cons[i]) {
				t_kids_forget_(k->cons[i]);
				t_kill_seat_gone(k->l, i);
				if (!WIFSIGNALED(st) && t_kill_tally(k->l) < k->target)
					T_FAIL("a consumer exited early (status 0x%x)", st);
				k->points_hit += WIFSIGNALED(st);
				k->cons[i] = t_spawn(k->consumer, t_kill_crew_arg(k, i, 1));
			}
		}
		if (k->kills < k->max_kills && t_kill_tally(k->l) < k->target) {
			unsigned i = (unsigned)rand_r(&k->seed) % k->n;
			kill(k->cons[i], SIGKILL);
			int st;
			waitpid(k->cons[i], &st, 0);
			t_kids_forget_(k->cons[i]);
			t_kill_seat_gone(k->l, i);
			k->cons[i] = t_spawn(k->consumer, t_kill_crew_arg(k, i, 1));
			k->kills++;
		}
	}
}

/* t_count() for a random-kill run: no more messages than the ledger holds
 * (IPCQ_STRESS=1 multiplies the count past it). */
__attribute__((unused))
static uint64_t t_kill_count(uint64_t release, uint64_t sanitized)
{
	uint64_t n = t_count(release, sanitized);
	return n < (uint64_t)T_KILL_MAX_N ? n : (uint64_t)T_KILL_MAX_N;
}

/* The first failure is kept (@l->why); a process then stops.  The reason
 * is written before bad is raised: a process killed in between leaves no
 * failure without its reason. */
__attribute__((format(printf, 2, 3), unused))
static void t_kill_fail(struct t_kill_ledger *l, const char *fmt, ...)
{
	static char why[sizeof(l->why)];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	if (__atomic_load_n(&l->bad, __ATOMIC_SEQ_CST))
		return;
	/* the first writer's reason wins: a CAS on the reason's first byte */
	char z = 0;
	if (!__atomic_compare_exchange_n(&l->why[0], &z, why[0] ? why[0] : '?', 0,
					 __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
		return;
	memcpy(l->why + 1, why + 1, sizeof(why) - 1);
	__atomic_store_n(&l->bad, 1, __ATOMIC_SEQ_CST);
}

static inline struct t_kill_ledger **t_kill_ledger_now_(void)
{
	static struct t_kill_ledger *l;
	return &l;
}

/* The watchdog's report during t_kill_run(): messages done of the target,
 * then the first 16 not done, each with its state and delivery count. */
static inline void t_kill_report_(void)
{
	struct t_kill_ledger *l = *t_kill_ledger_now_();
	unsigned shown = 0;
	t_say("random kills: done ");
	t_say_u64(__atomic_load_n(&l->done, __ATOMIC_SEQ_CST));
	t_say(" of ");
	t_say_u64(T_KILL_PRODUCERS * l->n);
	t_say("\n");
	for (uint32_t p = 0; p < T_KILL_PRODUCERS; p++)
		for (uint64_t s = 1; s <= l->n && shown < 16; s++) {
			uint8_t st = __atomic_load_n(&l->state[p][s], __ATOMIC_SEQ_CST);
			if (st == 2)
				continue;
			t_say("  not done: ");
			t_say_u64(p);
			t_say("/");
			t_say_u64(s);
			t_say(" state ");
			t_say_u64(st);
			t_say(" deliveries ");
			t_say_u64(__atomic_load_n(&l->deliveries[p][s], __ATOMIC_SEQ_CST));
			t_say("\n");
			shown++;
		}
}

/*
 * Spawn the consumers (@crew->cons, @crew->n of them, unarmed) and the
 * T_KILL_PRODUCERS @producer processes (argument: the index), kill
 * consumers until every message is done (t_kill_crew_run()), reap
 * everyone, and fail unless every message of @l is done.  Returns how many
 * deliveries were repeats.  @crew's counts, seed and targets are set here.
 * What the dead still hold is taken afterwards by t_kill_sweep().
 */
static inline uint64_t t_kill_run(struct t_kill_ledger *l, struct t_kill_crew *crew,
				  int (*producer)(void *))
{
	pid_t prods[T_KILL_PRODUCERS];
	CHECK(crew->n <= T_KILL_SEATS);
	crew->l = l;
	crew->target = T_KILL_PRODUCERS * l->n;
	crew->seed = (unsigned)t_now_ns();
	crew->kills = crew->points_hit = 0;
	for (unsigned i = 0; i < crew->n; i++)
		crew->cons[i] = t_spawn(crew->consumer, t_kill_crew_arg(crew, i, 0));
	for (unsigned i = 0; i < T_KILL_PRODUCERS; i++)
		prods[i] = t_spawn(producer, (void *)(uintptr_t)i);
	printf("random kills: seed %u\n", crew->seed);
	fflush(stdout);
	*t_kill_ledger_now_() = l;
	void (*report)(void) = t_kids_()->report;
	t_kids_()->report = t_kill_report_; /* a hang names what is missing */
	t_kill_crew_run(crew);
	t_kids_()->report = report;
	for (unsigned i = 0; i < T_KILL_PRODUCERS; i++)
		CHECK(t_reap(prods[i]) == 0);
	for (unsigned i = 0; i < crew->n; i++) {
		t_reap(crew->cons[i]);
		t_kill_seat_gone(l, i);
	}
	if (l->bad)
		T_FAIL("random kills (seed %u): %s", crew->seed, l->why);
	uint64_t again = 0;
	for (uint32_t p = 0; p < T_KILL_PRODUCERS; p++)
		for (uint64_t s = 1; s <= l->n; s++) {
			if (l->state[p][s] != 2)
				T_FAIL("message %u/%llu never delivered", p, (unsigned long long)s);
			again += l->deliveries[p][s] - 1;
		}
	return again;
}

/*
 * After t_kill_run(): ack-mode consumer @c takes what the dead left in
 * the queue (the leases of consumers killed before their ack, their
 * claims), each message a second delivery: flagged, of a message done
 * before, and passed by @check (0: right) if not NULL.  It acknowledges
 * each, and ends when nothing is left: no message waiting, leased or
 * given back, and no work of the dead pending (ipcq_recover()).  Then
 * every message must have been acknowledged (or its consumer died in its
 * ack): a lease of the dead that recovery dropped instead of giving back
 * fails here.  Returns how many messages it took.
 */
static inline uint64_t t_kill_sweep(struct t_kill_ledger *l, struct ipcq *c, size_t maxlen,
				    int (*check)(const struct ipcq_msginfo *mi, uint32_t p, uint64_t s))
{
	uint8_t *buf = (uint8_t *)malloc(maxlen ? maxlen : 1);
	uint64_t took = 0;
	CHECK(buf != NULL);
	for (;;) {
		struct ipcq_recovery rep;
		memset(&rep, 0, sizeof(rep));
		rep.size = sizeof(rep);
		CHECK(ipcq_recover(c, &rep) >= 0);
		struct ipcq_info in = t_info(c);
		if (in.depth == 0 && in.leased == 0 && in.redeliverable == 0 && rep.pending == 0)
			break;
		struct ipcq_msginfo mi;
		int rc = ipcq_recv(c, buf, maxlen, &mi, 20 * 1000000ll);
		if (rc == -ETIMEDOUT)
			continue;
		uint32_t p;
		uint64_t s;
		t_check_msg(buf, rc, T_KILL_PRODUCERS, l->n, NULL, "sweep", &p, &s);
		if (l->state[p][s] != 2 || !(mi.flags & IPCQ_MSG_REDELIVERED))
			T_FAIL("sweep: message %u/%llu (state %u, flags 0x%x) was not a flagged second "
			       "delivery", p, (unsigned long long)s, l->state[p][s], mi.flags);
		if (check && check(&mi, p, s))
			T_FAIL("sweep: message %u/%llu is not as sent", p, (unsigned long long)s);
		CHECK_OK(ipcq_ack(c, mi.token));
		l->acked[p][s] = T_KILL_ACKED;
		took++;
	}
	free(buf);
	for (uint32_t p = 0; p < T_KILL_PRODUCERS; p++)
		for (uint64_t s = 1; s <= l->n; s++)
			if (!l->acked[p][s])
				T_FAIL("message %u/%llu delivered and never acknowledged, nor given back "
				       "when its consumer died", p, (unsigned long long)s);
	return took;
}

#endif
