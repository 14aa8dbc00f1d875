/* t_ctl_browse: ipcq_browse() reads ring positions without consuming them; ipcq-ctl list, create (options checked through ipcq_info), peek, tail (its window, tail -f, a dead producer's unpublished slot), gc (removes exactly the abandoned queue, keeps one with producer names); the EPERM advice, "0s" and ipcq-stat -w 0. */
#include "statutil.h"

#include <stdarg.h>
#include <sys/syscall.h>

#define run s_tool_runv

static int count_of(const char *hay, const char *needle)
{
	int n = 0;
	for (const char *p = hay; (p = strstr(p, needle)); p++)
		n++;
	return n;
}

static void browse_api(const char *name)
{
	struct ipcq *q = t_create(name, NULL);
	struct ipcq *p = t_open_attach(name, IPCQ_ROLE_PRODUCER, NULL);
	struct ipcq *c = t_open_attach(name, IPCQ_ROLE_CONSUMER, NULL);
	struct ipcq *ro;
	struct ipcq_slot_view v;
	char buf[64];

	CHECK_OK(ipcq_open_readonly(name, &ro));
	/* bad arguments */
	memset(&v, 0, sizeof(v));
	v.size = sizeof(v);
	CHECK_RC(ipcq_browse(NULL, 0, buf, sizeof(buf), &v), -EINVAL);
	CHECK_RC(ipcq_browse(ro, 0, buf, sizeof(buf), NULL), -EINVAL);
	CHECK_RC(ipcq_browse(ro, 0, NULL, 4, &v), -EINVAL);
	v.size = 4;
	CHECK_RC(ipcq_browse(ro, 0, buf, sizeof(buf), &v), -EINVAL);

	/* nothing sent: empty */
	v.size = sizeof(v);
	CHECK_RC(ipcq_browse(ro, 0, buf, sizeof(buf), &v), -ENOENT);
	CHECK(v.state == IPCQ_SLOT_EMPTY && v.pos == 0);

	CHECK_OK(ipcq_send(p, "first", 5, IPCQ_NOWAIT));
	CHECK_OK(ipcq_send(p, "second message", 14, IPCQ_NOWAIT));
	CHECK_OK(ipcq_send(p, "third", 5, IPCQ_NOWAIT));
	struct ipcq_info in = t_info(ro);
	CHECK(in.dequeued == 0 && in.enqueued == 3);

	/* a waiting message, whole and cut; metadata only */
	v.size = sizeof(v);
	CHECK_RC(ipcq_browse(ro, 1, buf, sizeof(buf), &v), 14);
	CHECK(memcmp(buf, "second message", 14) == 0);
	CHECK(v.state == IPCQ_SLOT_READY && v.len == 14 && v.seq == 2 && v.deliveries == 0 &&
	      v.flags == 0 && v.pos == 1 && v.enqueue_ns != 0);
	CHECK(v.producer == (uint32_t)t_info(p).participant_index);
	CHECK_RC(ipcq_browse(ro, 1, buf, 3, &v), 3);
	CHECK(memcmp(buf, "sec", 3) == 0 && v.len == 14);
	CHECK_RC(ipcq_browse(ro, 1, NULL, 0, &v), 0);
	CHECK(v.len == 14 && v.state == IPCQ_SLOT_READY);
	/* past the last message: empty */
	CHECK_RC(ipcq_browse(ro, 3, buf, sizeof(buf), &v), -ENOENT);
	CHECK(v.state == IPCQ_SLOT_EMPTY);
	CHECK_RC(ipcq_browse(ro, 1000000, buf, sizeof(buf), &v), -ENOENT);
	CHECK(v.state == IPCQ_SLOT_EMPTY);
	/* browsing consumed nothing */
	CHECK(t_info(ro).depth == 3);

	/* received: gone */
	CHECK_RC(ipcq_recv(c, buf, sizeof(buf), NULL, IPCQ_NOWAIT), 5);
	CHECK_RC(ipcq_browse(ro, 0, buf, sizeof(buf), &v), -ENOENT);
	CHECK(v.state == IPCQ_SLOT_GONE);
	/* claimed in place by a consumer and not released yet: taken */
	struct ipcq_zmsg zm;
	CHECK_RC(ipcq_peek(c, &zm, 1, IPCQ_NOWAIT), 1);
	CHECK_RC(ipcq_browse(ro, 1, buf, sizeof(buf), &v), 14);
	CHECK(v.state == IPCQ_SLOT_TAKEN && memcmp(buf, "second message", 14) == 0);
	CHECK_RC(ipcq_release(c), 0);
	CHECK_RC(ipcq_browse(ro, 1, buf, sizeof(buf), &v), -ENOENT);
	CHECK(v.state == IPCQ_SLOT_GONE);
	CHECK_RC(ipcq_browse(ro, 2, buf, sizeof(buf), &v), 5);
	CHECK(v.state == IPCQ_SLOT_READY && v.seq == 3);

	ipcq_close(ro);
	ipcq_close(c);
	ipcq_close(p);
	ipcq_close(q);
}

/* tail -f: started, sees a message sent after it started, stops on SIGTERM. */
static void tail_follow(const char *name, struct ipcq *p)
{
	int fo = (int)syscall(SYS_memfd_create, "out", 0);
	int fe = (int)syscall(SYS_memfd_create, "err", 0);
	CHECK(fo >= 0 && fe >= 0);
	const char *tool = s_tool("ipcq-ctl");
	fflush(NULL);
	pid_t pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		dup2(fo, 1);
		dup2(fe, 2);
		execl(tool, tool, "tail", name, "-n", "0", "-f", (char *)NULL);
		_exit(127);
	}
	char out[8192];
	ssize_t got = 0;
	int sent = 0;
	for (int i = 0; i < 3000; i++) {
		got = pread(fo, out, sizeof(out) - 1, 0);
		out[got > 0 ? got : 0] = '\0';
		if (!sent && strstr(out, "POS")) {
			/* the header is out: tail has read the cursors */
			CHECK_OK(ipcq_send(p, "follow-me", 9, IPCQ_NOWAIT));
			sent = 1;
		}
		if (strstr(out, "|follow-me|"))
			break;
		struct timespec ts = { 0, 10000000 };
		nanosleep(&ts, NULL);
	}
	if (!strstr(out, "|follow-me|")) {
		s_kill_reap(pid);
		T_FAIL("tail -f did not show the new message; output:\n%s", out);
	}
	s_stop_clean(pid);
	close(fo);
	close(fe);
}

/* Start "ipcq-ctl tail NAME -n 0 -f" with its output in memfds. */
static pid_t tail_start(const char *name, int *fo, int *fe)
{
	*fo = (int)syscall(SYS_memfd_create, "out", 0);
	*fe = (int)syscall(SYS_memfd_create, "err", 0);
	CHECK(*fo >= 0 && *fe >= 0);
	const char *tool = s_tool("ipcq-ctl");
	fflush(NULL);
	pid_t pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		dup2(*fo, 1);
		dup2(*fe, 2);
		execl(tool, tool, "tail", name, "-n", "0", "-f", (char *)NULL);
		_exit(127);
	}
	return pid;
}

#define tail_wait_for s_wait_output

static const char *g_stuck_name;

/* A producer killed between claim and publish (crash point send.written):
 * its slot stays WRITING.  Exits 0 where crash points are compiled out. */
static int producer_dies_writing(void *arg)
{
	(void)arg;
	struct ipcq *q;
	setenv("IPCQ_CRASH", "send.written", 1);
	if (ipcq_open(g_stuck_name, &q) < 0 || ipcq_attach(q, IPCQ_ROLE_PRODUCER, NULL) < 0)
		return 1;
	ipcq_send(q, "never-published", 15, IPCQ_NOWAIT);
	ipcq_close(q);
	return 0;
}

/*
 * tail -f, a producer dead between claim and publish and nobody running
 * recovery (no consumer): after the grace period tail says so, suggests
 * recover, and shows the messages after that position.
 */
static void tail_follow_stuck(void)
{
	struct ipcq_config cfg = t_config(16, 64);
	cfg.grace_us = 1000;
	g_stuck_name = t_qname("ctlstuck");
	struct ipcq *q = t_create(g_stuck_name, &cfg);
	/* attached before the crash: an attach runs recovery */
	struct ipcq *p = t_open_attach(g_stuck_name, IPCQ_ROLE_PRODUCER, NULL);
	char out[8192], want[128];
	int fo, fe, st;
	pid_t pid = tail_start(g_stuck_name, &fo, &fe);
	if (!tail_wait_for(fo, out, sizeof(out), "POS")) {
		s_kill_reap(pid);
		T_FAIL("tail -f printed no header; output:\n%s", out);
	}
	pid_t child = t_fork(producer_dies_writing, NULL);
	CHECK(waitpid(child, &st, 0) == child);
	int crashed = WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL;
	CHECK(crashed || (WIFEXITED(st) && WEXITSTATUS(st) == 0));
	CHECK_OK(ipcq_send(p, "after-crash", 11, IPCQ_NOWAIT));
	snprintf(want, sizeof(want), "recover %s", g_stuck_name);
	if (!tail_wait_for(fo, out, sizeof(out), "|after-crash|") ||
	    (crashed && !tail_wait_for(fo, out, sizeof(out), want))) {
		s_kill_reap(pid);
		T_FAIL("tail -f stopped at an unpublished slot; output:\n%s", out);
	}
	s_stop_clean(pid);
	tail_wait_for(fo, out, sizeof(out), "\n");
	if (crashed) {
		CHECK(strstr(out, "0 unpublished for ") != NULL);
		CHECK(strstr(out, "1 position passed over unpublished") != NULL);
	} else {
		printf("t_ctl_browse: crash points compiled out, the dead producer not checked\n");
	}
	close(fo);
	close(fe);
	ipcq_close(p);
	ipcq_close(q);
}

/*
 * tail -f that falls more than a ring behind (stopped while a consumer
 * takes three laps): at its next look it goes on at the oldest position a
 * slot may hold, says how many it passed, and counts them at the end.
 */
static void tail_follow_skip(void)
{
	struct ipcq_config cfg = t_config(4, 64);
	const char *name = t_qname("ctlskip");
	struct ipcq *q = t_create(name, &cfg);
	struct ipcq *p = t_open_attach(name, IPCQ_ROLE_PRODUCER, NULL);
	struct ipcq *c = t_open_attach(name, IPCQ_ROLE_CONSUMER, NULL);
	char out[8192], m[64];
	int fo, fe;
	pid_t pid = tail_start(name, &fo, &fe);
	if (!tail_wait_for(fo, out, sizeof(out), "POS")) {
		s_kill_reap(pid);
		T_FAIL("tail -f printed no header; output:\n%s", out);
	}
	CHECK_OK(ipcq_send(p, "before", 6, IPCQ_NOWAIT));
	if (!tail_wait_for(fo, out, sizeof(out), "|before|")) {
		s_kill_reap(pid);
		T_FAIL("tail -f did not show the first message; output:\n%s", out);
	}
	CHECK(kill(pid, SIGSTOP) == 0);
	t_wait_stopped(pid, 30, "tail -f");
	CHECK(ipcq_recv(c, m, sizeof(m), NULL, IPCQ_NOWAIT) == 6);
	/* positions 1..12: three laps of the ring, each received */
	for (int lap = 0; lap < 3; lap++) {
		for (int i = 0; i < 4; i++)
			CHECK_OK(ipcq_send(p, "lost", 4, IPCQ_NOWAIT));
		for (int i = 0; i < 4; i++)
			CHECK(ipcq_recv(c, m, sizeof(m), NULL, IPCQ_NOWAIT) == 4);
	}
	t_resume(pid);
	if (!tail_wait_for(fo, out, sizeof(out), "skipped to here")) {
		s_kill_reap(pid);
		T_FAIL("tail -f did not skip ahead after falling behind; output:\n%s", out);
	}
	CHECK_OK(ipcq_send(p, "after", 5, IPCQ_NOWAIT));
	if (!tail_wait_for(fo, out, sizeof(out), "|after|")) {
		s_kill_reap(pid);
		T_FAIL("tail -f did not go on after falling behind; output:\n%s", out);
	}
	s_stop_clean(pid);
	tail_wait_for(fo, out, sizeof(out), "could be read");
	/* 1..8 passed at once; 9..12 each found received */
	if (!strstr(out, "         9 skipped to here: 8 messages passed before tail could read "
			 "them (more than the ring holds arrived since its last look)\n") ||
	    !strstr(out, "\n12 messages received before they could be read") ||
	    strstr(out, "|lost|"))
		T_FAIL("tail -f did not say what it passed; output:\n%s", out);
	close(fo);
	close(fe);
	ipcq_close(c);
	ipcq_close(p);
	ipcq_close(q);
	CHECK_OK(ipcq_unlink(name));
}

int main(void)
{
	struct s_run r;
	char buf[256];

	browse_api(t_qname("browse"));

	/* ---- create with options, checked through ipcq_info ---- */
	/* kept: t_qname() reuses its buffers after eight names */
	static char qn_kept[96];
	snprintf(qn_kept, sizeof(qn_kept), "%s", t_qname("ctlcreate"));
	const char *qn = qn_kept;
	t_cleanup(qn);
	r = run("ipcq-ctl", "create", qn, "-c", "64", "-s", "200", "--mode", "0640",
		"--side-capacity", "8", "--max-deliveries", "3", "--lease-capacity", "16",
		"--high-watermark", "48", "--low-watermark", "8", "--grace", "5ms",
		"--dedup-capacity", "4", "--max-participants", "10", "--wait", "yield", NULL);
	S_EXPECT(r.status == 0 && strstr(r.out, "created"), r);
	s_run_free(&r);
	{
		struct ipcq *q;
		CHECK_OK(ipcq_open(qn, &q));
		struct ipcq_info in = t_info(q);
		CHECK(in.capacity == 64 && in.max_msg_size == 200 && (in.mode & 0777) == 0640);
		CHECK(in.side_capacity == 8 && in.max_deliveries == 3 && in.lease_capacity == 16);
		CHECK(in.high_watermark == 48 && in.low_watermark == 8 && in.grace_us == 5000);
		CHECK(in.dedup_capacity == 4 && in.max_participants == 10);
		CHECK(in.wait_strategy == IPCQ_WAIT_YIELD);
		CHECK(ipcq_numa_node(q) == IPCQ_NUMA_ANY);
		ipcq_close(q);
	}
	/* on a NUMA node */
	{
		const char *nq = t_qname("ctlnuma");
		t_cleanup(nq);
		r = run("ipcq-ctl", "create", nq, "--numa", "0", "-c", "16", NULL);
		if (r.status == 0) {
			struct ipcq *q;
			CHECK_OK(ipcq_open(nq, &q));
			CHECK(ipcq_numa_node(q) == 0);
			ipcq_close(q);
		} else {
			/* no NUMA here: the library says why */
			S_EXPECT(r.status == 1 && strstr(r.err, "cannot create") && strstr(r.err, "NUMA"), r);
		}
		s_run_free(&r);
	}
	/* errors: the library's message */
	r = run("ipcq-ctl", "create", qn, NULL);
	S_EXPECT(r.status == 1 && strstr(r.err, "already exists"), r);
	s_run_free(&r);
	r = run("ipcq-ctl", "create", t_qname("ctlbad"), "-c", "100", NULL);
	S_EXPECT(r.status == 1 && strstr(r.err, "power of two"), r);
	s_run_free(&r);
	r = run("ipcq-ctl", "create", t_qname("ctlbad"), "--mode", "0644", NULL);
	S_EXPECT(r.status == 1 && strstr(r.err, "cannot create"), r);
	s_run_free(&r);
	r = run("ipcq-ctl", "create", t_qname("ctlbad"), "--capacity", "lots", NULL);
	S_EXPECT(r.status == 1 && strstr(r.err, "bad value 'lots' for --capacity"), r);
	s_run_free(&r);

	/* ---- list ---- */
	r = run("ipcq-ctl", "list", NULL);
	S_EXPECT(r.status == 0 && strstr(r.out, "DEPTH/CAP") && strstr(r.out, qn), r);
	{
		char *line = strstr(r.out, qn);
		char *eol = strchr(line, '\n');
		if (eol)
			*eol = '\0';
		S_EXPECT(strstr(line, " 0/64 ") && strstr(line, " 0/8 ") && strstr(line, "0640"), r);
	}
	s_run_free(&r);
	r = run("ipcq-ctl", "list", "--json", NULL);
	snprintf(buf, sizeof(buf), "{ \"name\": \"%s\"", qn);
	S_EXPECT(r.status == 0 && r.out[0] == '[' && strstr(r.out, buf), r);
	{
		char *o = strstr(r.out, buf);
		S_EXPECT(strstr(o, "\"capacity\": 64") && strstr(o, "\"mode\": \"0640\"") &&
			 strstr(o, "\"participants_alive\": 0"), r);
	}
	s_run_free(&r);

	/* ---- peek and tail against messages sent ---- */
	struct ipcq *p = t_open_attach(qn, IPCQ_ROLE_PRODUCER, NULL);
	struct ipcq *c = t_open_attach(qn, IPCQ_ROLE_CONSUMER, NULL);
	CHECK_OK(ipcq_send(p, "msg-0", 5, IPCQ_NOWAIT));
	CHECK_OK(ipcq_send(p, "msg-1\x01\xff", 7, IPCQ_NOWAIT));
	CHECK_OK(ipcq_send(p, "msg-2", 5, IPCQ_NOWAIT));
	r = run("ipcq-ctl", "peek", qn, NULL);
	S_EXPECT(r.status == 0 && strstr(r.out, "|msg-0|") && strstr(r.out, "|msg-1..|") &&
		 strstr(r.out, "|msg-2|") && strstr(r.out, "3 of 3 waiting"), r);
	S_EXPECT(strstr(r.out, "6d 73 67 2d 31 01 ff") != NULL, r); /* hex */
	s_run_free(&r);
	CHECK(t_info(p).depth == 3); /* nothing consumed */
	r = run("ipcq-ctl", "peek", qn, "-n", "1", NULL);
	S_EXPECT(r.status == 0 && strstr(r.out, "|msg-0|") && !strstr(r.out, "msg-1"), r);
	s_run_free(&r);
	CHECK_RC(ipcq_recv(c, buf, sizeof(buf), NULL, IPCQ_NOWAIT), 5);
	r = run("ipcq-ctl", "peek", qn, NULL);
	/* positions 1 and 2 wait: the range printed is inclusive */
	S_EXPECT(r.status == 0 && !strstr(r.out, "msg-0") && strstr(r.out, "|msg-1..|") &&
		 strstr(r.out, "2 of 2 waiting shown (positions 1..2); nothing was consumed\n"), r);
	{
		/* the row of msg-1: position 1, ready, sequence 2, length 7 */
		char *l = strstr(r.out, "|msg-1..|");
		while (l > r.out && l[-1] != '\n')
			l--;
		unsigned long long pos, seq, len;
		char state[16];
		unsigned prod;
		S_EXPECT(sscanf(l, "%llu %15s %u %llu %llu", &pos, state, &prod, &seq, &len) == 5 &&
			 pos == 1 && !strcmp(state, "ready") && seq == 2 && len == 7, r);
	}
	s_run_free(&r);
	r = run("ipcq-ctl", "tail", qn, "-n", "2", NULL);
	S_EXPECT(r.status == 0 && strstr(r.out, "|msg-1..|") && strstr(r.out, "|msg-2|") &&
		 !strstr(r.out, "msg-0"), r);
	s_run_free(&r);
	/* msg-0 was received before tail looked: not missed */
	r = run("ipcq-ctl", "tail", qn, "-n", "3", NULL);
	S_EXPECT(r.status == 0 && strstr(r.out, "|msg-1..|") && strstr(r.out, "|msg-2|") &&
		 !strstr(r.out, "msg-0") && !strstr(r.out, "received before"), r);
	s_run_free(&r);
	/* long options */
	r = run("ipcq-ctl", "peek", qn, "--count", "1", "--bytes", "32", NULL);
	S_EXPECT(r.status == 0 && strstr(r.out, "|msg-1..|") && !strstr(r.out, "msg-2"), r);
	s_run_free(&r);
	/* peek -n 0 is refused, and so is tail -n 0 without -f (it would show
	 * nothing of a queue that has messages) */
	r = run("ipcq-ctl", "peek", qn, "-n", "0", NULL);
	S_EXPECT(r.status == 1 && strstr(r.err, "-n 0") && strstr(r.err, "1 or more") &&
		 !strstr(r.out, "depth"), r);
	s_run_free(&r);
	r = run("ipcq-ctl", "peek", qn, "--count", "0", NULL);
	S_EXPECT(r.status == 1 && strstr(r.err, "1 or more"), r);
	s_run_free(&r);
	r = run("ipcq-ctl", "tail", qn, "-n", "0", NULL);
	S_EXPECT(r.status == 1 && !r.out[0] && strstr(r.err, "-n 0 without -f") &&
		 strstr(r.err, "--help"), r);
	s_run_free(&r);
	r = run("ipcq-ctl", "tail", qn, "--count", "0", NULL);
	S_EXPECT(r.status == 1 && !r.out[0] && strstr(r.err, "-n 0 without -f"), r);
	s_run_free(&r);
	/* a count that is no number: the rule of the command */
	r = run("ipcq-ctl", "peek", qn, "-n", "-1", NULL);
	S_EXPECT(r.status == 1 && strstr(r.err, "(1 or more)") && !strstr(r.err, "0 or more"), r);
	s_run_free(&r);
	r = run("ipcq-ctl", "tail", qn, "-n", "-1", NULL);
	S_EXPECT(r.status == 1 && strstr(r.err, "(1 or more; 0 with -f: only new ones)"), r);
	s_run_free(&r);
	/* a longer dump with -b */
	r = run("ipcq-ctl", "peek", qn, "-n", "1", "-b", "0", NULL);
	S_EXPECT(r.status == 0 && strstr(r.out, "||"), r);
	s_run_free(&r);
	tail_follow(qn, p);
	tail_follow_stuck();
	tail_follow_skip();

	/* tail -n larger than the ring: what consumers received long before
	 * tail started is not counted as missed */
	{
		struct ipcq_config tc = t_config(4, 64);
		const char *tq = t_qname("ctltail");
		struct ipcq *qt = t_create(tq, &tc);
		struct ipcq *pt = t_open_attach(tq, IPCQ_ROLE_PRODUCER, NULL);
		struct ipcq *ct = t_open_attach(tq, IPCQ_ROLE_CONSUMER, NULL);
		for (int i = 0; i < 10; i++) {
			char m[16];
			snprintf(m, sizeof(m), "m-%d", i);
			CHECK_OK(ipcq_send(pt, m, strlen(m), IPCQ_NOWAIT));
			if (i < 8)
				CHECK_RC(ipcq_recv(ct, buf, sizeof(buf), NULL, IPCQ_NOWAIT), 3);
		}
		r = run("ipcq-ctl", "tail", tq, "-n", "100", NULL);
		S_EXPECT(r.status == 0 && strstr(r.out, "|m-8|") && strstr(r.out, "|m-9|") &&
			 !strstr(r.out, "m-7") && !strstr(r.out, "received before"), r);
		s_run_free(&r);
		CHECK_RC(ipcq_recv(ct, buf, sizeof(buf), NULL, IPCQ_NOWAIT), 3);
		CHECK_RC(ipcq_recv(ct, buf, sizeof(buf), NULL, IPCQ_NOWAIT), 3);
		r = run("ipcq-ctl", "tail", tq, "-n", "100", NULL);
		S_EXPECT(r.status == 0 && strstr(r.out, "no message in the ring") &&
			 !strstr(r.out, "received before"), r);
		s_run_free(&r);
		ipcq_close(ct);
		ipcq_close(pt);
		ipcq_close(qt);
	}
	r = run("ipcq-ctl", "peek", NULL);
	S_EXPECT(r.status == 1, r);
	s_run_free(&r);
	r = run("ipcq-ctl", "peek", qn, "-f", NULL);
	S_EXPECT(r.status == 1 && strstr(r.err, "-f goes with tail"), r);
	s_run_free(&r);

	/* ---- gc: only the abandoned queue goes ---- */
	const char *ga = t_qname("ctlgcA");
	const char *gb = t_qname("ctlgcB");
	const char *gcq = t_qname("ctlgcC");
	struct ipcq *qa = t_create(ga, NULL), *qb = t_create(gb, NULL), *qc = t_create(gcq, NULL);
	ipcq_close(qa);
	struct ipcq *live = t_open_attach(gb, IPCQ_ROLE_CONSUMER, NULL);
	{
		struct ipcq *pc = t_open_attach(gcq, IPCQ_ROLE_PRODUCER, NULL);
		CHECK_OK(ipcq_send(pc, "left", 4, IPCQ_NOWAIT));
		ipcq_close(pc);
	}
	char glob[96];
	snprintf(glob, sizeof(glob), "t.ctlgc?.%d.*", (int)getpid());
	r = run("ipcq-ctl", "gc", "--older-than", "0", "--dry-run", "-v", glob, NULL);
	S_EXPECT(r.status == 0 && count_of(r.out, "would remove ") == 2 && strstr(r.out, ga) &&
		 strstr(r.out, "live participant") && strstr(r.out, "1 message queued"), r);
	s_run_free(&r);
	CHECK(t_shm_exists(ga));
	r = run("ipcq-ctl", "gc", "--older-than", "1h", glob, NULL);
	S_EXPECT(r.status == 0 && strstr(r.out, "removed 0 queues, kept 3"), r);
	s_run_free(&r);
	CHECK(t_shm_exists(ga));
	r = run("ipcq-ctl", "gc", "--older-than=0s", glob, NULL);
	snprintf(buf, sizeof(buf), "removed %s (", ga);
	S_EXPECT(r.status == 0 && strstr(r.out, buf) && strstr(r.out, "removed 1 queue, kept 2"), r);
	s_run_free(&r);
	CHECK(!t_shm_exists(ga) && t_shm_exists(gb) && t_shm_exists(gcq));
	r = run("ipcq-ctl", "gc", "--older-than", "soon", NULL);
	S_EXPECT(r.status == 1 && strstr(r.err, "bad duration 'soon'"), r);
	s_run_free(&r);
	/* -n is a count in peek and tail, not gc's --dry-run */
	r = run("ipcq-ctl", "gc", "-n", "--older-than", "0", glob, NULL);
	S_EXPECT(r.status == 1 && strstr(r.err, "unknown option '-n'") && !strstr(r.out, "removed"),
		 r);
	s_run_free(&r);
	CHECK(t_shm_exists(gb) && t_shm_exists(gcq));

	/* gc keeps a queue that remembers a producer name: the producer,
	 * started again, would find no queue and send from the start */
	{
		const char *gd = t_qname("ctlgcD");
		struct ipcq *qd = t_create(gd, NULL);
		struct ipcq_attach_opts no = IPCQ_ATTACH_OPTS_INIT;
		no.flags = IPCQ_ATTACH_DEDUP;
		no.name = "gw-gc";
		struct ipcq *np = t_open_attach(gd, IPCQ_ROLE_PRODUCER, &no);
		CHECK_OK(ipcq_send(np, "named", 5, IPCQ_NOWAIT));
		ipcq_close(np);
		struct ipcq *cd = t_open_attach(gd, IPCQ_ROLE_CONSUMER, NULL);
		CHECK_RC(ipcq_recv(cd, buf, sizeof(buf), NULL, IPCQ_NOWAIT), 5);
		ipcq_close(cd);
		ipcq_close(qd);
		r = run("ipcq-ctl", "gc", "--older-than", "0", "--verbose", gd, NULL);
		snprintf(buf, sizeof(buf),
			 "kept %s: 1 producer name remembered (ipcq-ctl dedup remove first)", gd);
		S_EXPECT(r.status == 0 && strstr(r.out, buf) && strstr(r.out, "removed 0 queues, kept 1"),
			 r);
		s_run_free(&r);
		CHECK(t_shm_exists(gd));
		r = run("ipcq-ctl", "dedup", "remove", gd, "gw-gc", NULL);
		S_EXPECT(r.status == 0 && strstr(r.out, "retired"), r);
		s_run_free(&r);
		r = run("ipcq-ctl", "gc", "--older-than", "0", gd, NULL);
		snprintf(buf, sizeof(buf), "removed %s (", gd);
		S_EXPECT(r.status == 0 && strstr(r.out, buf) && strstr(r.out, "removed 1 queue, kept 0"),
			 r);
		s_run_free(&r);
		CHECK(!t_shm_exists(gd));
	}
	ipcq_close(live);
	ipcq_close(qb);
	ipcq_close(qc);

	/* ---- fixes ---- */
	/* a fresh queue's age prints with a unit */
	r = run("ipcq-stat", "-i", "0.01", qn, NULL);
	S_EXPECT(r.status == 0 && strstr(r.out, "(up ") && !strstr(r.out, "(up 0)"), r);
	s_run_free(&r);
	/* -w 0 parses: the fastest refresh */
	r = run("ipcq-stat", "-w", "0", qn, "-n", "2", NULL);
	S_EXPECT(r.status == 0 && count_of(r.out, "queue ") >= 2, r);
	s_run_free(&r);
	r = run("ipcq-stat", "-w", "100000", qn, NULL);
	S_EXPECT(r.status == 1 && strstr(r.err, "bad watch interval '100000'") &&
		 strstr(r.err, "0.01..86400"), r);
	s_run_free(&r);
	/* a segment others may write: what to do */
	CHECK(chmod(t_shm_path(qn), 0666) == 0);
	r = run("ipcq-ctl", "peek", qn, NULL);
	S_EXPECT(r.status == 1 && strstr(r.err, "chmod 0600") && strstr(r.err, "unlink"), r);
	s_run_free(&r);
	r = run("ipcq-stat", qn, NULL);
	S_EXPECT(r.status == 1 && strstr(r.err, "chmod 0600") && strstr(r.err, "unlink"), r);
	s_run_free(&r);
	r = run("ipcq-ctl", "list", NULL);
	S_EXPECT(r.status == 0 && strstr(r.out, "others may read or write"), r);
	s_run_free(&r);
	/* a directory and a symbolic link of mode 0777 under queue names:
	 * the type is the reason, not the mode */
	{
		const char *dir = t_qname("ctldir"), *lnk = t_qname("ctllink");
		CHECK(mkdir(t_shm_path(dir), 0700) == 0 && chmod(t_shm_path(dir), 0777) == 0);
		CHECK(symlink(t_shm_path(qn), t_shm_path(lnk)) == 0);
		r = run("ipcq-ctl", "list", NULL);
		S_EXPECT(r.status == 0, r);
		const char *names[2] = { dir, lnk }, *why[2] = { "not a regular file", "symbolic link" };
		for (int k = 0; k < 2; k++) {
			const char *row = strstr(r.out, names[k]);
			size_t len = row ? strcspn(row, "\n") : 0;
			S_EXPECT(row && memmem(row, len, why[k], strlen(why[k])) &&
				 !memmem(row, len, "others may", 10), r);
		}
		s_run_free(&r);
		CHECK(rmdir(t_shm_path(dir)) == 0 && unlink(t_shm_path(lnk)) == 0);
	}

	ipcq_close(c);
	ipcq_close(p);
	printf("t_ctl_browse: ok\n");
	return 0;
}
