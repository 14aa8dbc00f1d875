/*
 * statutil.h - helpers of the tool tests (t_stat_*, t_ctl): where the tool
 * binaries are, running one and capturing its output, and a queue with a
 * live producer and consumer whose activity is known exactly.
 */
#ifndef IPCQ_STATUTIL_H
#define IPCQ_STATUTIL_H

#include <limits.h>
#include <sys/syscall.h>

#include <stdarg.h>

#include "testutil.h"

/*
 * The tools are built next to the tests' directory: build/<variant>/NAME
 * for a test in build/<variant>/tests/.  Fails the test when missing.
 */
static inline const char *s_tool(const char *name)
{
	static char paths[4][PATH_MAX];
	static unsigned n;
	char *p = paths[n++ % 4];
	char exe[PATH_MAX];
	ssize_t len = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (len <= 0)
		T_FAIL("readlink /proc/self/exe: %s", strerror(errno));
	exe[len] = '\0';
	for (int up = 0; up < 2; up++) {
		char *slash = strrchr(exe, '/');
		if (!slash)
			T_FAIL("unexpected test path %s", exe);
		*slash = '\0';
	}
	if (strlen(exe) + strlen(name) + 2 > PATH_MAX)
		T_FAIL("path too long");
	strcpy(p, exe);
	strcat(p, "/");
	strcat(p, name);
	if (access(p, X_OK) != 0)
		T_FAIL("tool %s not found (build it with make build-tests): %s", p, strerror(errno));
	return p;
}

/*
 * Copy tool @name into directory @dir (made by the caller, one every user
 * can enter: the build tree may sit under a directory only root can), for
 * a test that runs it as another user; @to (PATH_MAX) gets its path.
 */
static inline void s_tool_copy(const char *name, const char *dir, char *to)
{
	const char *src = s_tool(name);
	snprintf(to, PATH_MAX, "%s/%s", dir, name);
	int in = open(src, O_RDONLY | O_CLOEXEC);
	int out = open(to, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0755);
	if (in < 0 || out < 0)
		T_FAIL("copy %s to %s: %s", src, to, strerror(errno));
	char buf[65536];
	ssize_t n;
	while ((n = read(in, buf, sizeof(buf))) > 0)
		if (write(out, buf, (size_t)n) != n)
			T_FAIL("write %s: %s", to, strerror(errno));
	if (n != 0 || close(out) != 0)
		T_FAIL("copy %s: %s", to, strerror(errno));
	close(in);
}

/* What a tool run left. */
struct s_run {
	int status;     /* exit status, or 128 + signal */
	char *out;      /* stdout, NUL-terminated */
	char *err;      /* stderr */
};

static inline char *s_slurp(int fd)
{
	off_t end = lseek(fd, 0, SEEK_END);
	if (end < 0)
		T_FAIL("lseek: %s", strerror(errno));
	char *b = (char *)malloc((size_t)end + 1);
	if (!b)
		T_FAIL("out of memory");
	if (pread(fd, b, (size_t)end, 0) != (ssize_t)end)
		T_FAIL("pread: %s", strerror(errno));
	b[end] = '\0';
	close(fd);
	return b;
}

/* Run argv (argv[0] a path), output into memory files (no pipe to deadlock on). */
static inline struct s_run s_exec(char *const argv[])
{
	struct s_run r;
	int fo = (int)syscall(SYS_memfd_create, "out", 0);
	int fe = (int)syscall(SYS_memfd_create, "err", 0);
	if (fo < 0 || fe < 0)
		T_FAIL("memfd_create: %s", strerror(errno));
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0)
		T_FAIL("fork: %s", strerror(errno));
	if (pid == 0) {
		int null = open("/dev/null", O_RDONLY);
		if (null >= 0)
			dup2(null, 0);
		dup2(fo, 1);
		dup2(fe, 2);
		execv(argv[0], argv);
		_exit(127);
	}
	int st;
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			T_FAIL("waitpid: %s", strerror(errno));
	r.status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	r.out = s_slurp(fo);
	r.err = s_slurp(fe);
	return r;
}

/* Run a tool with up to 8 arguments (NULL-terminated list). */
static inline struct s_run s_tool_run(const char *tool, const char *a1, const char *a2,
				      const char *a3, const char *a4, const char *a5)
{
	char *argv[8] = { 0 };
	const char *args[5] = { a1, a2, a3, a4, a5 };
	int n = 0;
	argv[n++] = (char *)s_tool(tool);
	for (int i = 0; i < 5 && args[i]; i++)
		argv[n++] = (char *)args[i];
	return s_exec(argv);
}

/* Run a tool with a NULL-terminated list of arguments (at most 38). */
static inline struct s_run s_tool_runv(const char *tool, ...)
{
	char *argv[40] = { 0 };
	va_list ap;
	int n = 0;
	argv[n++] = (char *)s_tool(tool);
	va_start(ap, tool);
	for (const char *a; n < 39 && (a = va_arg(ap, const char *));)
		argv[n++] = (char *)a;
	va_end(ap);
	return s_exec(argv);
}

/* Wait up to 30 s for @want in the output file @fo of a running tool
 * (tail -f, stat -w); 1 if it came.  @out gets what was read. */
static inline int s_wait_output(int fo, char *out, size_t cap, const char *want)
{
	for (int i = 0; i < 3000; i++) {
		ssize_t got = pread(fo, out, cap - 1, 0);
		out[got > 0 ? got : 0] = '\0';
		if (strstr(out, want))
			return 1;
		struct timespec ts = { 0, 10000000 }; /* a poll of the file, not a settle */
		nanosleep(&ts, NULL);
	}
	return 0;
}

/* Does Prometheus text @out declare metric family @name of @type once,
 * with its HELP line before its TYPE line? */
static inline int s_prom_family(const char *out, const char *name, const char *type)
{
	char t[160], h[160];
	snprintf(t, sizeof(t), "\n# TYPE %s %s\n", name, type);
	snprintf(h, sizeof(h), "\n# HELP %s ", name);
	const char *at = strstr(out, t), *help = strstr(out, h);
	return at && !strstr(at + 1, t) && help && help < at;
}

/* Stop a running tool with SIGTERM: it must exit 0. */
static inline void s_stop_clean(pid_t pid)
{
	int st;
	CHECK(kill(pid, SIGTERM) == 0);
	CHECK(waitpid(pid, &st, 0) == pid);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

/* Kill a running tool and reap it (before failing a test). */
static inline void s_kill_reap(pid_t pid)
{
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

static inline void s_run_free(struct s_run *r)
{
	free(r->out);
	free(r->err);
	r->out = r->err = NULL;
}

/* Print a run's output to stderr (for a failing check). */
static inline void s_run_show(const char *what, const struct s_run *r)
{
	fprintf(stderr, "--- %s: status %d\n--- stdout:\n%s\n--- stderr:\n%s\n---\n", what,
		r->status, r->out, r->err);
}

#define S_EXPECT(cond, run)                                                    \
	do {                                                                   \
		if (!(cond)) {                                                 \
			s_run_show(#run, &(run));                              \
			T_FAIL("check failed: %s", #cond);                     \
		}                                                              \
	} while (0)

/* ------------------------------------------------------------------ */
/* A queue with known activity                                          */
/* ------------------------------------------------------------------ */

/* A producer name with characters that need escaping in JSON and Prometheus. */
#define S_PROD_NAME "prod\"q\\x"
#define S_CONS_NAME "cons"
#define S_MSG_LEN 10u

struct s_shared {
	volatile int ready;     /* children that have done their part */
	volatile int stop;      /* set by the parent: children detach and exit */
	volatile int failed;
	char name[96];
	unsigned n_send, n_recv;
};

struct s_scene {
	struct s_shared *sh;
	pid_t prod, cons;
	struct ipcq *q;         /* the creator's handle, not attached */
};

/* A child of the scene dies with the test, even when a check fails. */
static inline void s_child_init(void)
{
	prctl(PR_SET_PDEATHSIG, SIGKILL);
}

static inline void s_child_wait_stop(struct s_shared *sh)
{
	__atomic_add_fetch(&sh->ready, 1, __ATOMIC_SEQ_CST);
	while (!__atomic_load_n(&sh->stop, __ATOMIC_SEQ_CST)) {
		struct timespec ts = { 0, 1000000 };
		nanosleep(&ts, NULL);
	}
}

static inline int s_producer(void *arg)
{
	struct s_shared *sh = (struct s_shared *)arg;
	struct ipcq_attach_opts o = IPCQ_ATTACH_OPTS_INIT;
	struct ipcq *q;
	char msg[S_MSG_LEN];

	s_child_init();
	o.name = S_PROD_NAME;
	if (ipcq_open(sh->name, &q) < 0 || ipcq_attach(q, IPCQ_ROLE_PRODUCER, &o) < 0) {
		sh->failed = 1;
		return 1;
	}
	for (unsigned i = 0; i < sh->n_send; i++) {
		memset(msg, 'a' + (int)(i % 26), sizeof(msg));
		if (ipcq_send(q, msg, sizeof(msg), IPCQ_NOWAIT) < 0) {
			sh->failed = 1;
			return 1;
		}
	}
	s_child_wait_stop(sh);
	ipcq_close(q);
	return 0;
}

static inline int s_consumer(void *arg)
{
	struct s_shared *sh = (struct s_shared *)arg;
	struct ipcq_attach_opts o = IPCQ_ATTACH_OPTS_INIT;
	struct ipcq *q;
	char buf[64];

	s_child_init();
	o.name = S_CONS_NAME;
	if (ipcq_open(sh->name, &q) < 0 || ipcq_attach(q, IPCQ_ROLE_CONSUMER, &o) < 0) {
		sh->failed = 1;
		return 1;
	}
	for (unsigned i = 0; i < sh->n_recv; i++) {
		int rc = ipcq_recv(q, buf, sizeof(buf), NULL, 5000000000ll);
		if (rc != (int)S_MSG_LEN) {
			sh->failed = 1;
			return 1;
		}
	}
	s_child_wait_stop(sh);
	ipcq_close(q);
	return 0;
}

/*
 * Create queue @name (capacity 64), start a producer that sends @n_send
 * messages of S_MSG_LEN bytes, then a consumer that receives @n_recv of
 * them; both stay attached until s_scene_end().
 */
static inline struct s_scene s_scene_start(const char *name, unsigned n_send, unsigned n_recv)
{
	struct s_scene s;
	struct ipcq_config cfg = t_config(64, 256);

	cfg.side_capacity = 8;
	s.sh = (struct s_shared *)t_shared(sizeof(*s.sh));
	snprintf(s.sh->name, sizeof(s.sh->name), "%s", name);
	s.sh->n_send = n_send;
	s.sh->n_recv = n_recv;
	s.q = t_create(name, &cfg);
	s.prod = t_fork(s_producer, s.sh);
	T_AWAIT(s.sh->ready >= 1 || s.sh->failed, 30);
	CHECK(!s.sh->failed);
	s.cons = t_fork(s_consumer, s.sh);
	T_AWAIT(s.sh->ready >= 2 || s.sh->failed, 30);
	CHECK(!s.sh->failed);
	return s;
}

/* SIGKILL the consumer and reap it: it stays in the table, dead. */
static inline void s_scene_kill_consumer(struct s_scene *s)
{
	int st;
	CHECK(kill(s->cons, SIGKILL) == 0);
	CHECK(waitpid(s->cons, &st, 0) == s->cons);
	CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
	s->cons = 0;
}

static inline void s_scene_end(struct s_scene *s)
{
	s->sh->stop = 1;
	if (s->prod)
		CHECK(t_wait(s->prod) == 0);
	if (s->cons)
		CHECK(t_wait(s->cons) == 0);
	ipcq_close(s->q);
}

/* A file in /dev/shm that looks like a queue but is garbage. */
static inline void s_make_garbage(const char *name)
{
	char buf[8192];
	int fd = open(t_shm_path(name), O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW, 0600);
	if (fd < 0)
		T_FAIL("create %s: %s", t_shm_path(name), strerror(errno));
	t_cleanup(name);
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (char)(i * 131 + 7);
	if (write(fd, buf, sizeof(buf)) != (ssize_t)sizeof(buf))
		T_FAIL("write: %s", strerror(errno));
	close(fd);
}

#endif /* IPCQ_STATUTIL_H */
