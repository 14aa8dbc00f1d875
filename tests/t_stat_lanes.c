/* t_stat_lanes: ipcq-stat shows a queue's priority lanes in text, JSON and Prometheus (each lane's depth, enqueued and dequeued positions, the lanes' size and the starvation guard) with the exact figures the test set up, the list counts every lane's slots, a queue without priorities shows no lanes, ipcq-ctl list counts every lane's slots too, and ipcq-ctl create makes a queue with priorities and says so. */
#include "statutil.h"

#include <ctype.h>

enum {
	CAP = 16,        /* slots per lane */
	LANES = 4,
	MSG_LEN = 8,
	TAKEN = 3,       /* received: all from the highest lane (no guard) */
};

/* Sent to each lane, and what it must show after TAKEN receives. */
static const unsigned sent[LANES] = { 12, 0, 5, 7 };
static const unsigned taken[LANES] = { 0, 0, 0, TAKEN };

static void send_lane(struct ipcq *p, unsigned prio, unsigned n)
{
	struct ipcq_send_opts o = IPCQ_SEND_OPTS_INIT;
	char msg[MSG_LEN];

	o.priority = prio;
	for (unsigned i = 0; i < n; i++) {
		memset(msg, 'a' + (int)prio, sizeof(msg));
		CHECK_OK(ipcq_send_ex(p, msg, sizeof(msg), &o, IPCQ_NOWAIT));
	}
}

/* @s without any white space (JSON compared whatever the indentation). */
static char *squeeze(const char *s)
{
	char *out = malloc(strlen(s) + 1), *o = out;
	if (!out)
		T_FAIL("out of memory");
	for (; *s; s++)
		if (!isspace((unsigned char)*s))
			*o++ = *s;
	*o = '\0';
	return out;
}

static void expect_in(const struct s_run *r, const char *text, const char *what)
{
	if (!strstr(r->out, text)) {
		s_run_show(what, r);
		T_FAIL("%s: no '%s'", what, text);
	}
}

static void check_text(const char *name)
{
	char want[512];
	struct s_run r = s_tool_run("ipcq-stat", name, NULL, NULL, NULL, NULL);
	unsigned depth = 0;

	S_EXPECT(r.status == 0, r);
	for (unsigned p = 0; p < LANES; p++)
		depth += sent[p] - taken[p];
	snprintf(want, sizeof(want), "\ndepth      %u / %u (%.1f%%)   ", depth, CAP * LANES,
		 100.0 * depth / (CAP * LANES));
	expect_in(&r, want, "ipcq-stat NAME");
	/* highest priority first */
	snprintf(want, sizeof(want),
		 "\nlanes      3:%u 2:%u 1:%u 0:%u (depth by priority, %u slots each, no guard: strict)\n"
		 "           enqueued 3:%u 2:%u 1:%u 0:%u\n",
		 sent[3] - taken[3], sent[2] - taken[2], sent[1] - taken[1], sent[0] - taken[0], CAP,
		 sent[3], sent[2], sent[1], sent[0]);
	expect_in(&r, want, "ipcq-stat NAME");
	s_run_free(&r);

	/* the list: every lane's slots */
	r = s_tool_run("ipcq-stat", NULL, NULL, NULL, NULL, NULL);
	S_EXPECT(r.status == 0, r);
	snprintf(want, sizeof(want), "\n%s ", name);
	const char *row = strstr(r.out, want);
	S_EXPECT(row != NULL, r);
	char nm[128], fill[16];
	unsigned cap, dep;
	S_EXPECT(sscanf(row + 1, "%127s %u %u %15s", nm, &cap, &dep, fill) == 4 &&
		 cap == CAP * LANES && dep == depth, r);
	snprintf(want, sizeof(want), "%.1f", 100.0 * depth / (CAP * LANES));
	S_EXPECT(!strcmp(fill, want), r);
	s_run_free(&r);
}

static void check_json(const char *name)
{
	char want[1024];
	size_t n = 0;
	struct s_run r = s_tool_run("ipcq-stat", "--json", name, NULL, NULL, NULL);

	S_EXPECT(r.status == 0 && r.out[0] == '{', r);
	char *flat = squeeze(r.out);
	n += (size_t)snprintf(want + n, sizeof(want) - n,
			      "\"priorities\":%u,\"priority_share\":0,\"lanes\":[", LANES);
	for (unsigned p = 0; p < LANES; p++)
		n += (size_t)snprintf(want + n, sizeof(want) - n,
				      "%s{\"priority\":%u,\"enqueued\":%u,\"dequeued\":%u,\"depth\":%u}",
				      p ? "," : "", p, sent[p], taken[p], sent[p] - taken[p]);
	snprintf(want + n, sizeof(want) - n, "]");
	if (!strstr(flat, want)) {
		s_run_show("ipcq-stat --json NAME", &r);
		T_FAIL("no %s", want);
	}
	free(flat);
	s_run_free(&r);
}

static void check_prom(const char *name)
{
	static const char *const fams[][2] = {
		{ "ipcq_queue_priorities", "gauge" },
		{ "ipcq_queue_priority_share", "gauge" },
		{ "ipcq_queue_lane_depth", "gauge" },
		{ "ipcq_queue_lane_enqueued_total", "counter" },
		{ "ipcq_queue_lane_dequeued_total", "counter" },
	};
	char line[256];
	struct s_run r = s_tool_run("ipcq-stat", "--prometheus", name, NULL, NULL, NULL);

	S_EXPECT(r.status == 0, r);
	for (size_t f = 0; f < T_NELEM(fams); f++)
		S_EXPECT(s_prom_family(r.out, fams[f][0], fams[f][1]), r);
	snprintf(line, sizeof(line), "\nipcq_queue_priorities{queue=\"%s\"} %u\n", name, LANES);
	expect_in(&r, line, "ipcq-stat --prometheus NAME");
	snprintf(line, sizeof(line), "\nipcq_queue_priority_share{queue=\"%s\"} 0\n", name);
	expect_in(&r, line, "ipcq-stat --prometheus NAME");
	for (unsigned p = 0; p < LANES; p++) {
		snprintf(line, sizeof(line), "\nipcq_queue_lane_depth{queue=\"%s\",priority=\"%u\"} %u\n",
			 name, p, sent[p] - taken[p]);
		expect_in(&r, line, "ipcq-stat --prometheus NAME");
		snprintf(line, sizeof(line),
			 "\nipcq_queue_lane_enqueued_total{queue=\"%s\",priority=\"%u\"} %u\n", name, p,
			 sent[p]);
		expect_in(&r, line, "ipcq-stat --prometheus NAME");
		snprintf(line, sizeof(line),
			 "\nipcq_queue_lane_dequeued_total{queue=\"%s\",priority=\"%u\"} %u\n", name, p,
			 taken[p]);
		expect_in(&r, line, "ipcq-stat --prometheus NAME");
	}
	s_run_free(&r);
}

/* A queue with the guard on: the text and Prometheus say its share. */
static void check_guard(void)
{
	const char *name = t_qname("sl-guard");
	struct ipcq_config cfg = t_config(8, 64);
	char want[256];

	cfg.priorities = 2;
	cfg.priority_share = 25;
	struct ipcq *q = t_create(name, &cfg);
	struct s_run r = s_tool_run("ipcq-stat", name, NULL, NULL, NULL, NULL);
	S_EXPECT(r.status == 0, r);
	expect_in(&r, "\nlanes      1:0 0:0 (depth by priority, 8 slots each, guard 25%)\n",
		  "ipcq-stat NAME");
	s_run_free(&r);
	r = s_tool_run("ipcq-stat", "--prometheus", name, NULL, NULL, NULL);
	S_EXPECT(r.status == 0, r);
	snprintf(want, sizeof(want), "\nipcq_queue_priority_share{queue=\"%s\"} 25\n", name);
	expect_in(&r, want, "ipcq-stat --prometheus NAME");
	s_run_free(&r);
	CHECK_OK(ipcq_close(q));
}

/* A queue without priorities: no lanes in any format, priorities 1. */
static void check_no_lanes(void)
{
	const char *name = t_qname("sl-none");
	struct ipcq_config cfg = t_config(CAP, 64);
	char want[256];
	struct ipcq *q = t_create(name, &cfg);
	struct s_run r = s_tool_run("ipcq-stat", name, NULL, NULL, NULL, NULL);

	S_EXPECT(r.status == 0 && strstr(r.out, "\ndepth      0 / 16 (0.0%)") &&
		 !strstr(r.out, "\nlanes "), r);
	s_run_free(&r);
	r = s_tool_run("ipcq-stat", "--json", name, NULL, NULL, NULL);
	S_EXPECT(r.status == 0, r);
	char *flat = squeeze(r.out);
	S_EXPECT(strstr(flat, "\"priorities\":1,") && !strstr(flat, "\"lanes\"") &&
		 !strstr(flat, "\"priority_share\""), r);
	free(flat);
	s_run_free(&r);
	r = s_tool_run("ipcq-stat", "--prometheus", name, NULL, NULL, NULL);
	snprintf(want, sizeof(want), "\nipcq_queue_priorities{queue=\"%s\"} 1\n", name);
	S_EXPECT(r.status == 0 && strstr(r.out, want) && !strstr(r.out, "ipcq_queue_lane_") &&
		 !strstr(r.out, "ipcq_queue_priority_share"), r);
	s_run_free(&r);
	CHECK_OK(ipcq_close(q));
}

/* ipcq-ctl list: every lane's slots, and the lanes in JSON. */
static void check_ctl_list(const char *name)
{
	char want[256];
	unsigned depth = 0;

	for (unsigned p = 0; p < LANES; p++)
		depth += sent[p] - taken[p];
	struct s_run r = s_tool_run("ipcq-ctl", "list", NULL, NULL, NULL, NULL);
	S_EXPECT(r.status == 0, r);
	snprintf(want, sizeof(want), "\n%s ", name);
	const char *row = strstr(r.out, want);
	char dc[64];
	snprintf(want, sizeof(want), "%u/%u", depth, CAP * LANES);
	S_EXPECT(row && sscanf(row + 1 + strlen(name), "%63s", dc) == 1 && !strcmp(dc, want), r);
	s_run_free(&r);
	r = s_tool_run("ipcq-ctl", "list", "--json", NULL, NULL, NULL);
	snprintf(want, sizeof(want), "\"name\": \"%s\"", name);
	row = strstr(r.out, want);
	snprintf(want, sizeof(want), "\"capacity\": %u, \"priorities\": %u, \"depth\": %u,", CAP,
		 LANES, depth);
	S_EXPECT(r.status == 0 && row && strstr(row, want) &&
		 strstr(row, want) < strchr(row, '}'), r);
	s_run_free(&r);
}

/* ipcq-ctl create --priorities: the queue has them, the output says so. */
static void check_ctl_create(void)
{
	const char *name = t_qname("sl-ctl");
	const char *name2 = t_qname("sl-ctl2");
	struct ipcq_info in;
	struct ipcq *q;

	const char *name3 = t_qname("sl-ctl3");

	t_cleanup(name);
	t_cleanup(name2);
	t_cleanup(name3);
	struct s_run r = s_tool_run("ipcq-ctl", "create", name, "--priorities=3",
				    "--priority-share=20", "--json");
	S_EXPECT(r.status == 0 && strstr(r.out, "\"priorities\": 3, \"priority_share\": 20"), r);
	s_run_free(&r);
	CHECK_OK(ipcq_open(name, &q));
	memset(&in, 0, sizeof(in));
	in.size = sizeof(in);
	CHECK_OK(ipcq_info(q, &in));
	CHECK(in.priorities == 3 && in.priority_share == 20);
	CHECK_OK(ipcq_close(q));

	r = s_tool_run("ipcq-ctl", "create", name2, "-c", "64", "--priorities=2");
	S_EXPECT(r.status == 0 &&
		 strstr(r.out, "\n  2 priority lanes of 64 slots (0 lowest, 1 highest), "
			       "starvation guard 10%\n"), r);
	s_run_free(&r);

	/* refused with the library's reason: not with groups */
	r = s_tool_run("ipcq-ctl", "create", name3, "--priorities=2",
		       "--max-groups=2", NULL);
	S_EXPECT(r.status == 1 && strstr(r.err, "cannot create"), r);
	s_run_free(&r);
}

int main(void)
{
	char buf[64];
	struct ipcq_msginfo mi;

	t_watchdog(t_limit(60), "t_stat_lanes", NULL);
	const char *name = t_qname("sl");
	struct ipcq_config cfg = t_config(CAP, 64);
	cfg.priorities = LANES;
	cfg.priority_share = 0;
	struct ipcq *q = t_create(name, &cfg);
	struct ipcq *p = t_open_attach(name, IPCQ_ROLE_PRODUCER, NULL);
	struct ipcq *c = t_open_attach(name, IPCQ_ROLE_CONSUMER, NULL);

	for (unsigned prio = 0; prio < LANES; prio++)
		send_lane(p, prio, sent[prio]);
	for (unsigned i = 0; i < TAKEN; i++) {
		memset(&mi, 0, sizeof(mi));
		CHECK_RC(ipcq_recv(c, buf, sizeof(buf), &mi, IPCQ_NOWAIT), MSG_LEN);
		CHECK(IPCQ_MSG_PRIORITY(mi.flags) == LANES - 1 && buf[0] == 'a' + LANES - 1);
	}

	/* the library agrees with what was set up */
	struct ipcq_info in;
	memset(&in, 0, sizeof(in));
	in.size = sizeof(in);
	CHECK_OK(ipcq_info(q, &in));
	CHECK(in.priorities == LANES && in.priority_share == 0);
	for (unsigned i = 0; i < LANES; i++)
		CHECK(in.lane_enqueued[i] == sent[i] && in.lane_dequeued[i] == taken[i]);

	check_text(name);
	check_json(name);
	check_prom(name);
	check_guard();
	check_no_lanes();
	check_ctl_list(name);
	check_ctl_create();

	CHECK_OK(ipcq_close(c));
	CHECK_OK(ipcq_close(p));
	CHECK_OK(ipcq_close(q));
	printf("t_stat_lanes: ok\n");
	return 0;
}
