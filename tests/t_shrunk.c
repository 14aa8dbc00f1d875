/* A segment file shrunk under its readers (ftruncate to half, to one page, to zero): ipcq_info/ipcq_stats on handles opened before say -EBADMSG instead of dying of SIGBUS, and ipcq-stat (once, in watch mode while it runs, listing every queue) and ipcq-ctl's read-only commands exit with a clear error, never by a signal. */
#include "statutil.h"

/* The queue: messages waiting, one entry in the side ring; returns its
 * side-ring entry id in *poison_id. */
static void fill(const char *name, uint64_t *poison_id)
{
	struct ipcq_config cfg = t_config(64, 256);
	struct ipcq *q = t_create(name, &cfg);
	CHECK_RC(ipcq_attach(q, IPCQ_ROLE_PRODUCER, NULL), 0);
	for (int i = 0; i < 10; i++)
		CHECK_RC(ipcq_send(q, "message", 7, IPCQ_NOWAIT), 0);
	CHECK_RC(ipcq_close(q), 0);

	struct ipcq_attach_opts o = IPCQ_ATTACH_OPTS_INIT;
	o.flags = IPCQ_ATTACH_ACK;
	q = t_open_attach(name, IPCQ_ROLE_CONSUMER, &o);
	char buf[256];
	struct ipcq_msginfo mi;
	CHECK_RC(ipcq_recv(q, buf, sizeof(buf), &mi, IPCQ_NOWAIT), 7);
	CHECK_RC(ipcq_nack(q, mi.token, IPCQ_NACK_POISON), 1); /* 1: in the side ring */
	/* detached before the shrink: an attached handle would die of SIGBUS
	 * at its next touch of the segment, as documented */
	CHECK_RC(ipcq_close(q), 0);

	struct ipcq *ro;
	struct ipcq_poison e;
	CHECK_OK(ipcq_open_readonly(name, &ro));
	CHECK_RC(ipcq_poison_list(ro, 0, &e, 1), 1);
	*poison_id = e.id;
	CHECK_RC(ipcq_close(ro), 0);
}

static struct ipcq_stats stats_of(struct ipcq *q, int *rc)
{
	struct ipcq_stats st;
	struct ipcq_participant_stats parts[8];
	memset(&st, 0, sizeof(st));
	st.size = sizeof(st);
	*rc = ipcq_stats(q, &st, parts, 8);
	return st;
}

static int info_rc(struct ipcq *q)
{
	struct ipcq_info in;
	memset(&in, 0, sizeof(in));
	in.size = sizeof(in);
	return ipcq_info(q, &in);
}

/* ipcq-stat --watch, started; its first frame read. */
struct watcher {
	pid_t pid;
	int out;   /* pipe: one JSON document per line and frame */
	int err;   /* memory file */
};

static struct watcher watch_start(const char *name)
{
	struct watcher w;
	int p[2];
	const char *tool = s_tool("ipcq-stat");
	CHECK(pipe(p) == 0);
	w.err = (int)syscall(SYS_memfd_create, "err", 0);
	CHECK(w.err >= 0);
	fflush(NULL);
	w.pid = fork();
	CHECK(w.pid >= 0);
	if (w.pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		dup2(p[1], 1);
		dup2(w.err, 2);
		close(p[0]);
		execl(tool, tool, "--watch=0.02", "--interval=0.01", "--count=1000000", "--json",
		      name, (char *)NULL);
		_exit(127);
	}
	close(p[1]);
	w.out = p[0];
	/* the first frame: the watcher has the queue open and has read it */
	char c;
	ssize_t r;
	while ((r = read(w.out, &c, 1)) == 1 && c != '\n')
		;
	if (r != 1)
		T_FAIL("ipcq-stat --watch ended before its first frame");
	return w;
}

/* After the shrink: the watcher must end by itself, with a message. */
static void watch_end(struct watcher *w, const char *what)
{
	char buf[4096];
	int st;
	/* drain its frames until it exits (it must, at its next sample) */
	while (read(w->out, buf, sizeof(buf)) > 0)
		;
	close(w->out);
	while (waitpid(w->pid, &st, 0) < 0)
		CHECK(errno == EINTR);
	char *err = s_slurp(w->err);
	if (WIFSIGNALED(st))
		T_FAIL("%s: ipcq-stat --watch killed by signal %d (stderr: %s)", what, WTERMSIG(st),
		       err);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 1 || !strstr(err, "truncated"))
		T_FAIL("%s: ipcq-stat --watch: status 0x%x, expected exit 1 with a message saying "
		       "truncated; stderr: %s", what, st, err);
	printf("  %s: ipcq-stat --watch said: %s", what, err);
	free(err);
}

/* A tool run that must fail cleanly, saying the segment is truncated. */
static void expect_clean_error(struct s_run r, const char *what)
{
	if (r.status >= 128) {
		s_run_show(what, &r);
		T_FAIL("%s: killed by signal %d", what, r.status - 128);
	}
	if (r.status != 1 || !strstr(r.err, "truncated")) {
		s_run_show(what, &r);
		T_FAIL("%s: expected exit status 1 with a message saying truncated", what);
	}
	s_run_free(&r);
}

static void shrink_to(const char *name, const char *label, int64_t size_or_half)
{
	uint64_t id;
	char ids[32];
	fill(name, &id);
	snprintf(ids, sizeof(ids), "%" PRIu64, id);

	struct ipcq *ro, *rw;
	CHECK_OK(ipcq_open_readonly(name, &ro));
	CHECK_OK(ipcq_open(name, &rw)); /* not attached */
	int rc;
	struct ipcq_stats st = stats_of(ro, &rc);
	CHECK_OK(rc);
	CHECK(st.info.depth == 9 && st.info.side_depth == 1);
	uint64_t full = st.info.segment_size;
	off_t size = size_or_half < 0 ? (off_t)(full / 2) : (off_t)size_or_half;

	/* the tools work on the intact queue */
	struct s_run r = s_tool_run("ipcq-stat", name, NULL, NULL, NULL, NULL);
	S_EXPECT(r.status == 0, r);
	s_run_free(&r);
	r = s_tool_run("ipcq-ctl", "poison", "list", name, NULL, NULL);
	S_EXPECT(r.status == 0 && strstr(r.out, "nacked"), r);
	s_run_free(&r);
	r = s_tool_run("ipcq-ctl", "poison", "dump", name, ids, NULL);
	S_EXPECT(r.status == 0 && strstr(r.out, "message"), r);
	s_run_free(&r);

	struct watcher w = watch_start(name);

	/* a writer shrinks the file */
	int fd = open(t_shm_path(name), O_RDWR | O_NOFOLLOW | O_CLOEXEC);
	CHECK(fd >= 0);
	CHECK(ftruncate(fd, size) == 0);
	close(fd);
	printf("%s: %s shrunk from %" PRIu64 " to %lld bytes\n", label, name, full,
	       (long long)size);

	/* handles opened before: an error, not SIGBUS */
	CHECK_RC(info_rc(ro), -EBADMSG);
	stats_of(ro, &rc);
	CHECK_RC(rc, -EBADMSG);
	CHECK_RC(info_rc(rw), -EBADMSG);
	stats_of(rw, &rc);
	CHECK_RC(rc, -EBADMSG);

	/* the monitor that was watching it */
	watch_end(&w, label);

	/* the tools, run now */
	expect_clean_error(s_tool_run("ipcq-stat", name, NULL, NULL, NULL, NULL), "ipcq-stat NAME");
	expect_clean_error(s_tool_run("ipcq-stat", "--json", name, NULL, NULL, NULL),
			   "ipcq-stat --json NAME");
	expect_clean_error(s_tool_run("ipcq-ctl", "poison", "list", name, NULL, NULL),
			   "ipcq-ctl poison list");
	expect_clean_error(s_tool_run("ipcq-ctl", "poison", "dump", name, ids, NULL),
			   "ipcq-ctl poison dump");
	/* listing every queue: ours is shown as an error, the others as they are */
	r = s_tool_run("ipcq-stat", "--json", NULL, NULL, NULL, NULL);
	S_EXPECT(r.status < 128, r);
	const char *at = strstr(r.out, name);
	S_EXPECT(at != NULL && strstr(at, "\"error\"") != NULL &&
		 strstr(at, "\"error\"") - at < 200, r);
	s_run_free(&r);

	/* handles of a damaged queue still close */
	CHECK_RC(ipcq_close(ro), 0);
	CHECK_RC(ipcq_close(rw), 0);
	CHECK_RC(ipcq_unlink(name), 0);
}

int main(void)
{
	t_watchdog(t_limit(120), "t_shrunk", NULL);
	shrink_to(t_qname("shrink"), "half size", -1);
	shrink_to(t_qname("shrink"), "one page", 4096);
	shrink_to(t_qname("shrink"), "empty", 0);
	t_watchdog(0, NULL, NULL);
	return 0;
}
