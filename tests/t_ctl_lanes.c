/* t_ctl_lanes: ipcq-ctl peek and tail on a queue with priority lanes: peek shows every lane, highest first, each under a "priority N: K waiting (positions A..B)" line, -n counted over the lanes, -p/--priority one lane only, a lane the queue lacks refused as bad usage; tail follows one lane (the highest by default, saying so; -p another), its window that lane's positions and per-lane capacity, tail -f -p shows only that lane's new messages; poison list shows each entry's lane (PRIO); on a queue without lanes -p 0 is accepted with unchanged output and any other -p refused. */
#include "statutil.h"

#include <stdarg.h>
#include <sys/syscall.h>

enum { CAP = 8, LANES = 3, MAXLEN = 64 };

#define run s_tool_runv

static void send_at(struct ipcq *p, uint32_t prio, const char *msg)
{
	struct ipcq_send_opts o = IPCQ_SEND_OPTS_INIT;
	o.priority = prio;
	CHECK_OK(ipcq_send_ex(p, msg, strlen(msg), &o, IPCQ_NOWAIT));
}

/* The strings of the NULL-terminated list appear in @hay in this order. */
static int in_order(const char *hay, ...)
{
	va_list ap;
	const char *at = hay;
	int ok = 1;
	va_start(ap, hay);
	for (const char *s; ok && (s = va_arg(ap, const char *));) {
		const char *f = strstr(at, s);
		if (!f)
			ok = 0;
		else
			at = f + strlen(s);
	}
	va_end(ap);
	return ok;
}

/* The POS column of the row showing payload @data ("|...|"); -1 if none. */
static long long row_pos(const char *out, const char *data)
{
	const char *l = strstr(out, data);
	unsigned long long pos;
	if (!l)
		return -1;
	while (l > out && l[-1] != '\n')
		l--;
	if (sscanf(l, "%llu", &pos) != 1)
		return -1;
	return (long long)pos;
}

/* The AGE column (characters 56..62 of a row) blanked out: it moves with
 * the clock between two runs. */
static void mask_ages(char *out)
{
	for (char *l = out; *l;) {
		char *eol = strchr(l, '\n');
		size_t len = eol ? (size_t)(eol - l) : strlen(l);
		if (len > 63)
			memset(l + 56, '#', 7);
		if (!eol)
			break;
		l = eol + 1;
	}
}

#define tail_wait_for s_wait_output

/* tail -f -p 0: a message sent to lane 2 is not shown, the one sent to
 * lane 0 after it is. */
static void tail_follow_lane(const char *name, struct ipcq *p)
{
	int fo = (int)syscall(SYS_memfd_create, "out", 0);
	int fe = (int)syscall(SYS_memfd_create, "err", 0);
	CHECK(fo >= 0 && fe >= 0);
	const char *tool = s_tool("ipcq-ctl");
	char out[8192];
	fflush(NULL);
	pid_t pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		dup2(fo, 1);
		dup2(fe, 2);
		execl(tool, tool, "tail", name, "-n", "0", "-f", "-p", "0", (char *)NULL);
		_exit(127);
	}
	if (!tail_wait_for(fo, out, sizeof(out), "POS")) {
		s_kill_reap(pid);
		T_FAIL("tail -f -p 0 printed no header; output:\n%s", out);
	}
	/* the header is out: tail has read the cursors */
	send_at(p, 2, "hi-new");
	send_at(p, 0, "lo-new");
	if (!tail_wait_for(fo, out, sizeof(out), "|lo-new|")) {
		s_kill_reap(pid);
		T_FAIL("tail -f -p 0 did not show the new message of lane 0; output:\n%s", out);
	}
	s_stop_clean(pid);
	tail_wait_for(fo, out, sizeof(out), "\n");
	if (strncmp(out, "priority 0 of 3\n", 16) != 0 || strstr(out, "hi-new") ||
	    strstr(out, "lo-2")) {
		T_FAIL("tail -f -p 0: expected lane 0's new message only; output:\n%s", out);
	}
	close(fo);
	close(fe);
}

/* Positions of one lane running ahead of the others, its ring wrapped:
 * tail's window is that lane's, capacity slots. */
static void lane_window(void)
{
	struct ipcq_config cfg = t_config(4, MAXLEN);
	cfg.priorities = LANES;
	cfg.priority_share = 0;
	const char *name = t_qname("ctlwin");
	struct ipcq *q = t_create(name, &cfg);
	struct ipcq *p = t_open_attach(name, IPCQ_ROLE_PRODUCER, NULL);
	struct ipcq *c = t_open_attach(name, IPCQ_ROLE_CONSUMER, NULL);
	char buf[MAXLEN], m[16];
	struct ipcq_msginfo mi;
	struct s_run r;

	send_at(p, 0, "z-0");
	send_at(p, 0, "z-1");
	for (int i = 0; i < 4; i++) {
		snprintf(m, sizeof(m), "w-%d", i);
		send_at(p, 1, m);
	}
	for (int i = 0; i < 3; i++) {
		memset(&mi, 0, sizeof(mi));
		CHECK_RC(ipcq_recv(c, buf, sizeof(buf), &mi, IPCQ_NOWAIT), 3);
		CHECK(buf[0] == 'w' && IPCQ_MSG_PRIORITY(mi.flags) == 1);
	}
	for (int i = 4; i < 7; i++) {
		snprintf(m, sizeof(m), "w-%d", i);
		send_at(p, 1, m);
	}
	struct ipcq_info in = t_info(q);
	CHECK(in.lane_dequeued[1] == 3 && in.lane_enqueued[1] == 7);
	CHECK(in.lane_dequeued[0] == 0 && in.lane_enqueued[0] == 2);
	CHECK(in.enqueued == 9 && in.dequeued == 3);

	r = run("ipcq-ctl", "tail", name, "-n", "100", "-p", "1", NULL);
	S_EXPECT(r.status == 0 && !strncmp(r.out, "priority 1 of 3\n", 16) &&
		 in_order(r.out, "|w-3|", "|w-4|", "|w-5|", "|w-6|", NULL) &&
		 !strstr(r.out, "w-2") && !strstr(r.out, "z-") && !strstr(r.out, "received before"),
		 r);
	S_EXPECT(row_pos(r.out, "|w-3|") == 3 && row_pos(r.out, "|w-6|") == 6, r);
	s_run_free(&r);
	r = run("ipcq-ctl", "peek", name, NULL);
	S_EXPECT(r.status == 0 &&
		 in_order(r.out, "priority 2: 0 waiting\n", "priority 1: 4 waiting (positions 3..6)\n",
			  "|w-3|", "|w-6|", "priority 0: 2 waiting (positions 0..1)\n", "|z-0|",
			  "|z-1|", "6 of 6 waiting shown", NULL),
		 r);
	s_run_free(&r);
	/* the default lane is the highest, empty here */
	r = run("ipcq-ctl", "tail", name, NULL);
	S_EXPECT(r.status == 0 && !strncmp(r.out, "priority 2 of 3 (use -p to choose)\n", 35) &&
		 strstr(r.out, "no message in the ring of priority 2") && !strstr(r.out, "|w-"),
		 r);
	s_run_free(&r);
	ipcq_close(c);
	ipcq_close(p);
	ipcq_close(q);
}

/* A queue without lanes: -p 0 changes nothing, any other -p is refused. */
static void no_lanes(void)
{
	const char *name = t_qname("ctlplain");
	struct ipcq_config cfg = t_config(16, MAXLEN);
	struct ipcq *q = t_create(name, &cfg);
	struct ipcq *p = t_open_attach(name, IPCQ_ROLE_PRODUCER, NULL);
	struct s_run r, r0;

	CHECK(t_info(q).priorities <= 1);
	CHECK_OK(ipcq_send(p, "plain-0", 7, IPCQ_NOWAIT));
	CHECK_OK(ipcq_send(p, "plain-1", 7, IPCQ_NOWAIT));

	r = run("ipcq-ctl", "peek", name, "-p", "1", NULL);
	S_EXPECT(r.status == 1 && strstr(r.err, "-p 1") && strstr(r.err, "no priority lanes") &&
		 strstr(r.err, "only -p 0") && strstr(r.err, "--help") && !r.out[0],
		 r);
	s_run_free(&r);
	r = run("ipcq-ctl", "tail", name, "--priority", "1", NULL);
	S_EXPECT(r.status == 1 && strstr(r.err, "no priority lanes") && !r.out[0], r);
	s_run_free(&r);

	r = run("ipcq-ctl", "peek", name, NULL);
	r0 = run("ipcq-ctl", "peek", name, "-p", "0", NULL);
	S_EXPECT(r.status == 0 && !strstr(r.out, "priority") &&
		 strstr(r.out, "2 of 2 waiting shown (positions 0..1); nothing was consumed\n"), r);
	mask_ages(r.out);
	mask_ages(r0.out);
	if (r0.status != 0 || strcmp(r.out, r0.out) != 0) {
		s_run_show("peek", &r);
		s_run_show("peek -p 0", &r0);
		T_FAIL("peek -p 0 on a queue without lanes differs from peek");
	}
	s_run_free(&r0);
	s_run_free(&r);

	r = run("ipcq-ctl", "tail", name, "-n", "1", NULL);
	r0 = run("ipcq-ctl", "tail", name, "-n", "1", "-p", "0", NULL);
	S_EXPECT(r.status == 0 && !strncmp(r.out, "       POS ", 11) && strstr(r.out, "|plain-1|") &&
		 !strstr(r.out, "plain-0") && !strstr(r.out, "priority"), r);
	mask_ages(r.out);
	mask_ages(r0.out);
	if (r0.status != 0 || strcmp(r.out, r0.out) != 0) {
		s_run_show("tail", &r);
		s_run_show("tail -p 0", &r0);
		T_FAIL("tail -p 0 on a queue without lanes differs from tail");
	}
	s_run_free(&r0);
	s_run_free(&r);
	ipcq_close(p);
	ipcq_close(q);
}

/* poison list: a PRIO column on a queue with lanes, the lane each entry
 * came from (and goes back to on replay) */
static void poison_prio(void)
{
	struct ipcq_config cfg = t_config(CAP, MAXLEN);
	cfg.priorities = LANES;
	cfg.priority_share = 0;
	cfg.lease_capacity = 4;
	const char *name = t_qname("ctllanes_poison");
	struct ipcq *q = t_create(name, &cfg);
	struct ipcq *p = t_open_attach(name, IPCQ_ROLE_PRODUCER, NULL);
	struct ipcq *c = t_ack_consumer(name, 2);
	char buf[MAXLEN];
	struct ipcq_msginfo mi;
	send_at(p, 2, "bad-hi");
	CHECK_RC(ipcq_recv(c, buf, sizeof(buf), &mi, IPCQ_NOWAIT), 6);
	CHECK_OK(ipcq_nack(c, mi.token, IPCQ_NACK_POISON));
	struct s_run r = run("ipcq-ctl", "poison", "list", name, NULL);
	const char *row = strstr(r.out, "\n");
	S_EXPECT(r.status == 0 && strstr(r.out, "POISONED PRIO\n") && row &&
		 strstr(row, "    2\n") && strstr(r.out, "1 entry"), r);
	s_run_free(&r);
	ipcq_close(c);
	ipcq_close(p);
	ipcq_close(q);
}

int main(void)
{
	struct ipcq_config cfg = t_config(CAP, MAXLEN);
	struct s_run r;
	char buf[MAXLEN];
	struct ipcq_msginfo mi;

	t_watchdog(t_limit(120), "t_ctl_lanes", NULL);
	cfg.priorities = LANES;
	cfg.priority_share = 0; /* strict: a receive takes the highest lane */
	const char *name = t_qname("ctllanes");
	struct ipcq *q = t_create(name, &cfg);
	struct ipcq *p = t_open_attach(name, IPCQ_ROLE_PRODUCER, NULL);
	struct ipcq *c = t_open_attach(name, IPCQ_ROLE_CONSUMER, NULL);

	send_at(p, 0, "lo-0");
	send_at(p, 1, "mid-0");
	send_at(p, 2, "hi-0");
	send_at(p, 0, "lo-1");
	send_at(p, 2, "hi-1");
	send_at(p, 0, "lo-2");
	send_at(p, 1, "mid-1");
	send_at(p, 2, "hi-2");
	/* one received: hi-0, so lane 2's messages wait at positions 1..2 */
	memset(&mi, 0, sizeof(mi));
	CHECK_RC(ipcq_recv(c, buf, sizeof(buf), &mi, IPCQ_NOWAIT), 4);
	CHECK(memcmp(buf, "hi-0", 4) == 0 && IPCQ_MSG_PRIORITY(mi.flags) == 2);
	struct ipcq_info in = t_info(q);
	CHECK(in.priorities == LANES && in.depth == 7);
	CHECK(in.lane_dequeued[2] == 1 && in.lane_enqueued[2] == 3);

	/* ---- peek: every lane, highest first ---- */
	r = run("ipcq-ctl", "peek", name, NULL);
	S_EXPECT(r.status == 0 &&
		 in_order(r.out, "priority 2: 2 waiting (positions 1..2)\n", "POS", "|hi-1|", "|hi-2|",
			  "priority 1: 2 waiting (positions 0..1)\n", "POS", "|mid-0|", "|mid-1|",
			  "priority 0: 3 waiting (positions 0..2)\n", "POS", "|lo-0|", "|lo-1|",
			  "|lo-2|", "7 of 7 waiting shown, 3 priority lanes; nothing was consumed\n",
			  NULL) &&
		 !strstr(r.out, "hi-0"),
		 r);
	S_EXPECT(!strncmp(r.out, "priority 2: ", 12), r); /* the lane line comes first */
	S_EXPECT(row_pos(r.out, "|hi-1|") == 1 && row_pos(r.out, "|hi-2|") == 2 &&
		 row_pos(r.out, "|mid-1|") == 1 && row_pos(r.out, "|lo-2|") == 2, r);
	s_run_free(&r);
	CHECK(t_info(q).depth == 7); /* nothing consumed */

	/* -n counts over the lanes */
	r = run("ipcq-ctl", "peek", name, "-n", "3", NULL);
	S_EXPECT(r.status == 0 &&
		 in_order(r.out, "priority 2: ", "|hi-1|", "|hi-2|", "priority 1: ", "|mid-0|",
			  "priority 0: 3 waiting (positions 0..2), not shown (-n 3)\n",
			  "3 of 7 waiting shown", NULL) &&
		 !strstr(r.out, "mid-1") && !strstr(r.out, "|lo-"),
		 r);
	s_run_free(&r);

	/* -p: one lane */
	r = run("ipcq-ctl", "peek", name, "-p", "1", NULL);
	S_EXPECT(r.status == 0 &&
		 in_order(r.out, "priority 1: 2 waiting (positions 0..1)\n", "|mid-0|", "|mid-1|",
			  "2 of 2 waiting at priority 1 shown; nothing was consumed\n", NULL) &&
		 !strncmp(r.out, "priority 1: ", 12) && !strstr(r.out, "hi-") &&
		 !strstr(r.out, "lo-") && !strstr(r.out, "priority 2") && !strstr(r.out, "priority 0"),
		 r);
	s_run_free(&r);
	r = run("ipcq-ctl", "peek", name, "--priority", "0", "-n", "2", NULL);
	S_EXPECT(r.status == 0 && in_order(r.out, "|lo-0|", "|lo-1|", "2 of 3 waiting at priority 0",
					   NULL) &&
		 !strstr(r.out, "lo-2") && !strstr(r.out, "mid-") && !strstr(r.out, "hi-"),
		 r);
	s_run_free(&r);

	/* a lane the queue does not have: bad usage */
	r = run("ipcq-ctl", "peek", name, "-p", "3", NULL);
	S_EXPECT(r.status == 1 && strstr(r.err, "-p 3") && strstr(r.err, "3 priority lanes") &&
		 strstr(r.err, "-p 0..2") && strstr(r.err, "Try 'ipcq-ctl --help'") && !r.out[0],
		 r);
	s_run_free(&r);
	r = run("ipcq-ctl", "peek", name, "-p", NULL);
	S_EXPECT(r.status == 1 && strstr(r.err, "-p needs a priority") && !r.out[0], r);
	s_run_free(&r);
	r = run("ipcq-ctl", "peek", name, "-p", "high", NULL);
	S_EXPECT(r.status == 1 && strstr(r.err, "-p needs a priority") && !r.out[0], r);
	s_run_free(&r);

	/* ---- tail: one lane ---- */
	r = run("ipcq-ctl", "tail", name, "-n", "2", "-p", "0", NULL);
	S_EXPECT(r.status == 0 && !strncmp(r.out, "priority 0 of 3\n", 16) &&
		 in_order(r.out, "POS", "|lo-1|", "|lo-2|", NULL) && !strstr(r.out, "lo-0") &&
		 !strstr(r.out, "mid-") && !strstr(r.out, "hi-") && !strstr(r.out, "use -p"),
		 r);
	S_EXPECT(row_pos(r.out, "|lo-1|") == 1 && row_pos(r.out, "|lo-2|") == 2, r);
	s_run_free(&r);
	/* by default the highest, and it says so */
	r = run("ipcq-ctl", "tail", name, NULL);
	S_EXPECT(r.status == 0 && !strncmp(r.out, "priority 2 of 3 (use -p to choose)\n", 35) &&
		 in_order(r.out, "POS", "|hi-1|", "|hi-2|", NULL) && !strstr(r.out, "hi-0") &&
		 !strstr(r.out, "mid-") && !strstr(r.out, "lo-") && !strstr(r.out, "received before"),
		 r);
	s_run_free(&r);
	r = run("ipcq-ctl", "tail", name, "--priority", "1", "-n", "1", NULL);
	S_EXPECT(r.status == 0 && strstr(r.out, "|mid-1|") && !strstr(r.out, "mid-0") &&
		 !strstr(r.out, "hi-") && !strstr(r.out, "lo-"),
		 r);
	s_run_free(&r);
	r = run("ipcq-ctl", "tail", name, "-p", "7", NULL);
	S_EXPECT(r.status == 1 && strstr(r.err, "tail: -p 7") && strstr(r.err, "-p 0..2") &&
		 !r.out[0], r);
	s_run_free(&r);

	tail_follow_lane(name, p);
	lane_window();
	no_lanes();
	poison_prio();

	ipcq_close(c);
	ipcq_close(p);
	ipcq_close(q);
	printf("t_ctl_lanes: ok\n");
	return 0;
}
