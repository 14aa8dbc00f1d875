/* t_stat_groups: ipcq-stat shows a queue's consumer groups in text, JSON and Prometheus (a durable group whose live consumer received some messages, an idle durable group with a dead member holding producers back, a lossy group that dropped messages) with the exact lag, members, dead entries, positions, dropped counts and holding the test set up, and nothing of groups for a queue without them. */
#include "statutil.h"

#include <ctype.h>
#include <math.h>

enum {
	CAP = 16,        /* ring slots */
	FIRST = 20,      /* sent before the durable groups exist: the lossy one is lapped */
	SECOND = 16,     /* sent after: a whole ring for the idle group */
	WORK_RECV = 5,   /* received by the durable group's consumer */
	TAP_MORE = 3,    /* received by the lossy group's consumer after catching up */
	MSG_LEN = 8,
};

/* What each group must show. */
struct want {
	const char *name, *kind;
	unsigned members, dead;
	uint64_t position, lag, dropped;
	int holding;
};

struct shared {
	volatile int ready;  /* the worker attached (1), received its share (2) */
	volatile int go;     /* the parent sent the second batch */
	volatile int stop;
	volatile int failed;
	char name[96];
};
static struct shared *sh;

static uint64_t coarse_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* The consumer of group "work": attaches, receives WORK_RECV once told, stays attached. */
static int worker(void *arg)
{
	(void)arg;
	struct ipcq_attach_opts o = IPCQ_ATTACH_OPTS_INIT;
	struct ipcq *q;
	char buf[64];

	s_child_init();
	o.group = "work";
	o.name = "worker";
	if (ipcq_open(sh->name, &q) < 0 || ipcq_attach(q, IPCQ_ROLE_CONSUMER, &o) < 0) {
		sh->failed = 1;
		return 1;
	}
	__atomic_store_n(&sh->ready, 1, __ATOMIC_SEQ_CST);
	unsigned round = 0;
	while (!__atomic_load_n(&sh->go, __ATOMIC_SEQ_CST))
		t_poll_pause(&round);
	for (unsigned i = 0; i < WORK_RECV; i++) {
		if (ipcq_recv(q, buf, sizeof(buf), NULL, 5000000000ll) != MSG_LEN) {
			sh->failed = 1;
			return 1;
		}
	}
	__atomic_store_n(&sh->ready, 2, __ATOMIC_SEQ_CST);
	while (!__atomic_load_n(&sh->stop, __ATOMIC_SEQ_CST))
		t_poll_pause(&round);
	ipcq_close(q);
	return 0;
}

/* A member of group "idle" that dies attached: a dead entry of the group. */
static int dies_in_idle(void *arg)
{
	(void)arg;
	struct ipcq_attach_opts o = IPCQ_ATTACH_OPTS_INIT;
	struct ipcq *q;

	s_child_init();
	o.group = "idle";
	if (ipcq_open(sh->name, &q) < 0 || ipcq_attach(q, IPCQ_ROLE_CONSUMER, &o) < 0)
		return 1;
	raise(SIGKILL);
	return 2;
}

static void send_n(struct ipcq *p, unsigned n)
{
	char msg[MSG_LEN];
	for (unsigned i = 0; i < n; i++) {
		memset(msg, 'a' + (int)(i % 26), sizeof(msg));
		CHECK_OK(ipcq_send(p, msg, sizeof(msg), IPCQ_NOWAIT));
	}
}

/* The most a message sent since @batch_at can be aged now, in seconds (a
 * coarse tick more: a tool's rounding). */
static double age_bound(uint64_t batch_at)
{
	return (double)(coarse_ns() - batch_at) / 1e9 + 0.01;
}

/* "52.0ms", "1.20s", "850us", "0s" (ipcq-stat's durations under a minute) in seconds; -1 if not one. */
static double parse_dur(const char *s)
{
	char *end;
	double v = strtod(s, &end);
	if (end == s)
		return -1;
	if (!strcmp(end, "s"))
		return v;
	if (!strcmp(end, "ms"))
		return v / 1e3;
	if (!strcmp(end, "us"))
		return v / 1e6;
	return -1;
}

/* ------------------------------------------------------------------ */
/* Text                                                                */
/* ------------------------------------------------------------------ */

static void check_text(const char *name, const struct want *w, unsigned nw, uint64_t batch_at)
{
	struct s_run r = s_tool_run("ipcq-stat", name, NULL, NULL, NULL, NULL);
	double lo = 0.05, hi = age_bound(batch_at);
	S_EXPECT(r.status == 0, r);
	S_EXPECT(strstr(r.out, "\ngroups     3 (2 durable, 1 lossy)   holding producers back: idle\n"),
		 r);
	const char *hdr = strstr(r.out, "\n  GROUP KIND    ALIVE DEAD   POSITION     LAG LAG-AGE   LAG/S"
				       "   OUT/S TO-FULL TO-DRAIN DROPPED HOLDING");
	S_EXPECT(hdr != NULL, r);
	for (unsigned i = 0; i < nw; i++) {
		char key[64];
		snprintf(key, sizeof(key), "\n  %-5s ", w[i].name);
		const char *row = strstr(hdr, key);
		S_EXPECT(row != NULL, r);
		char kind[16], lagt[16], vel[16], out[16], full[16], drain[16], drop[16], hold[16];
		char nm[32];
		unsigned alive, dead;
		unsigned long long pos, lag;
		int n = sscanf(row + 1, "%31s %15s %u %u %llu %llu %15s %15s %15s %15s %15s %15s %15s",
			       nm, kind, &alive, &dead, &pos, &lag, lagt, vel, out, full, drain, drop,
			       hold);
		if (n != 13 || strcmp(nm, w[i].name) || strcmp(kind, w[i].kind) ||
		    alive != w[i].members || dead != w[i].dead || pos != w[i].position ||
		    lag != w[i].lag || strcmp(hold, w[i].holding ? "yes" : "-")) {
			s_run_show("ipcq-stat NAME", &r);
			T_FAIL("group %s: row %.*s", w[i].name, (int)strcspn(row + 1, "\n"), row + 1);
		}
		/* durable groups drop nothing: no figure */
		if (!strcmp(w[i].kind, "lossy"))
			S_EXPECT(strtoull(drop, NULL, 10) == w[i].dropped && isdigit((unsigned char)drop[0]), r);
		else
			S_EXPECT(!strcmp(drop, "-"), r);
		/* nothing moves between the two snapshots: steady, never full, never drained */
		S_EXPECT(!strcmp(vel, "0") && !strcmp(out, "0") && !strcmp(full, "-") &&
			 !strcmp(drain, "-"), r);
		double age = parse_dur(lagt);
		if (!(age >= lo && age <= hi)) {
			s_run_show("ipcq-stat NAME", &r);
			T_FAIL("group %s: lag age %s outside %.3f..%.3f s", w[i].name, lagt, lo, hi);
		}
	}
	s_run_free(&r);
}

/* ------------------------------------------------------------------ */
/* JSON: the group objects of the "groups" array, found by name        */
/* ------------------------------------------------------------------ */

/* The end of the JSON value starting at @p (an object or array), strings skipped. */
static const char *json_skip(const char *p)
{
	int depth = 0;
	for (; *p; p++) {
		if (*p == '"') {
			for (p++; *p && *p != '"'; p++)
				if (*p == '\\' && p[1])
					p++;
		} else if (*p == '{' || *p == '[') {
			depth++;
		} else if ((*p == '}' || *p == ']') && --depth == 0) {
			return p + 1;
		}
	}
	T_FAIL("unterminated JSON value");
}

/* The text of member @key of the object [obj, end), its value's first byte; NULL if absent. */
static const char *json_member(const char *obj, const char *end, const char *key)
{
	char k[64];
	snprintf(k, sizeof(k), "\"%s\": ", key);
	/* members of this object only: nested values skipped */
	for (const char *p = obj + 1; p < end; p++) {
		if (*p == '{' || *p == '[') {
			p = json_skip(p) - 1;
		} else if (*p == '"') {
			if (!strncmp(p, k, strlen(k)))
				return p + strlen(k);
			for (p++; *p && *p != '"'; p++)
				if (*p == '\\' && p[1])
					p++;
		}
	}
	return NULL;
}

static double json_num(const char *obj, const char *end, const char *key)
{
	const char *v = json_member(obj, end, key);
	char *e;
	if (!v)
		T_FAIL("no member %s", key);
	if (!strncmp(v, "null", 4))
		return NAN;
	double d = strtod(v, &e);
	if (e == v)
		T_FAIL("member %s is not a number: %.20s", key, v);
	return d;
}

static int json_is(const char *obj, const char *end, const char *key, const char *lit)
{
	const char *v = json_member(obj, end, key);
	return v && !strncmp(v, lit, strlen(lit)) && (v[strlen(lit)] == ',' || isspace((unsigned char)v[strlen(lit)]) || v[strlen(lit)] == '}');
}

static void check_json(const char *name, const struct want *w, unsigned nw, uint64_t batch_at)
{
	struct s_run r = s_tool_run("ipcq-stat", "--json", name, NULL, NULL, NULL);
	double lo = 0.05, hi = age_bound(batch_at);
	S_EXPECT(r.status == 0 && r.out[0] == '{', r);
	const char *end = json_skip(r.out);
	const char *arr = json_member(r.out, end, "groups");
	S_EXPECT(arr && *arr == '[', r);
	const char *arr_end = json_skip(arr);
	unsigned seen = 0;
	for (const char *o = strchr(arr + 1, '{'); o && o < arr_end; o = strchr(o, '{')) {
		const char *oe = json_skip(o);
		const struct want *g = NULL;
		for (unsigned i = 0; i < nw; i++) {
			char lit[48];
			snprintf(lit, sizeof(lit), "\"%s\"", w[i].name);
			if (json_is(o, oe, "name", lit))
				g = &w[i];
		}
		S_EXPECT(g != NULL, r);
		char kind[24];
		snprintf(kind, sizeof(kind), "\"%s\"", g->kind);
		int ok = json_is(o, oe, "kind", kind) &&
			 json_num(o, oe, "members") == g->members &&
			 json_num(o, oe, "dead") == g->dead &&
			 json_num(o, oe, "position") == (double)g->position &&
			 json_num(o, oe, "lag_messages") == (double)g->lag &&
			 json_num(o, oe, "dropped") == (double)g->dropped &&
			 json_is(o, oe, "holding", g->holding ? "true" : "false") &&
			 json_is(o, oe, "from_oldest", "false") &&
			 /* steady between the two snapshots */
			 json_num(o, oe, "velocity_per_second") == 0 &&
			 json_num(o, oe, "out_per_second") == 0 &&
			 isnan(json_num(o, oe, "time_to_full_seconds")) &&
			 isnan(json_num(o, oe, "time_to_drain_seconds"));
		double age = json_num(o, oe, "lag_seconds");
		if (!ok || !(age >= lo && age <= hi)) {
			s_run_show("ipcq-stat --json NAME", &r);
			T_FAIL("group %s: %.*s", g->name, (int)(oe - o), o);
		}
		seen++;
		o = oe;
	}
	S_EXPECT(seen == nw, r);
	s_run_free(&r);
}

/* ------------------------------------------------------------------ */
/* Prometheus: the exact sample lines                                  */
/* ------------------------------------------------------------------ */

static void prom_expect(const struct s_run *r, const char *name, const char *metric,
			const char *group, const char *value)
{
	char line[256];
	snprintf(line, sizeof(line), "\n%s{queue=\"%s\",group=\"%s\"} %s\n", metric, name, group,
		 value);
	if (!strstr(r->out, line)) {
		s_run_show("ipcq-stat --prometheus NAME", r);
		T_FAIL("no line %s", line + 1);
	}
}

static double prom_value_of(const struct s_run *r, const char *name, const char *metric,
			    const char *group)
{
	char key[256];
	snprintf(key, sizeof(key), "\n%s{queue=\"%s\",group=\"%s\"} ", metric, name, group);
	const char *p = strstr(r->out, key);
	if (!p)
		T_FAIL("no sample %s", key + 1);
	return strtod(p + strlen(key), NULL);
}

static void check_prom(const char *name, const struct want *w, unsigned nw, uint64_t batch_at)
{
	static const char *const fams[][2] = {
		{ "ipcq_group_lossy", "gauge" },       { "ipcq_group_members", "gauge" },
		{ "ipcq_group_dead_members", "gauge" }, { "ipcq_group_position", "gauge" },
		{ "ipcq_group_lag_messages", "gauge" }, { "ipcq_group_lag_seconds", "gauge" },
		{ "ipcq_group_dropped_total", "counter" }, { "ipcq_group_holding", "gauge" },
		{ "ipcq_group_created_timestamp_seconds", "gauge" },
	};
	struct s_run r = s_tool_run("ipcq-stat", "--prometheus", name, NULL, NULL, NULL);
	double lo = 0.05, hi = age_bound(batch_at);
	S_EXPECT(r.status == 0, r);
	for (size_t f = 0; f < T_NELEM(fams); f++)
		S_EXPECT(s_prom_family(r.out, fams[f][0], fams[f][1]), r);
	for (unsigned i = 0; i < nw; i++) {
		char v[32];
		prom_expect(&r, name, "ipcq_group_lossy", w[i].name,
			    strcmp(w[i].kind, "lossy") ? "0" : "1");
		snprintf(v, sizeof(v), "%u", w[i].members);
		prom_expect(&r, name, "ipcq_group_members", w[i].name, v);
		snprintf(v, sizeof(v), "%u", w[i].dead);
		prom_expect(&r, name, "ipcq_group_dead_members", w[i].name, v);
		snprintf(v, sizeof(v), "%" PRIu64, w[i].position);
		prom_expect(&r, name, "ipcq_group_position", w[i].name, v);
		snprintf(v, sizeof(v), "%" PRIu64, w[i].lag);
		prom_expect(&r, name, "ipcq_group_lag_messages", w[i].name, v);
		snprintf(v, sizeof(v), "%" PRIu64, w[i].dropped);
		prom_expect(&r, name, "ipcq_group_dropped_total", w[i].name, v);
		prom_expect(&r, name, "ipcq_group_holding", w[i].name, w[i].holding ? "1" : "0");
		double age = prom_value_of(&r, name, "ipcq_group_lag_seconds", w[i].name);
		if (!(age >= lo && age <= hi)) {
			s_run_show("ipcq-stat --prometheus NAME", &r);
			T_FAIL("group %s: lag seconds %g outside %.3f..%.3f", w[i].name, age, lo, hi);
		}
	}
	s_run_free(&r);
}

/* A queue without groups: no trace of them in any format. */
static void check_no_groups(void)
{
	const char *name = t_qname("sg-none");
	struct ipcq_config cfg = t_config(CAP, 64);
	struct ipcq *q = t_create(name, &cfg);
	struct s_run r = s_tool_run("ipcq-stat", name, NULL, NULL, NULL, NULL);
	S_EXPECT(r.status == 0 && strstr(r.out, "participants ") && !strstr(r.out, "\ngroups "), r);
	s_run_free(&r);
	r = s_tool_run("ipcq-stat", "--json", name, NULL, NULL, NULL);
	S_EXPECT(r.status == 0 && strstr(r.out, "\"participants\"") && !strstr(r.out, "\"groups\""), r);
	s_run_free(&r);
	r = s_tool_run("ipcq-stat", "--prometheus", name, NULL, NULL, NULL);
	S_EXPECT(r.status == 0 && strstr(r.out, "ipcq_queue_depth") && !strstr(r.out, "ipcq_group_"), r);
	s_run_free(&r);
	CHECK_OK(ipcq_close(q));
}

int main(void)
{
	char buf[64];
	struct ipcq_msginfo mi;
	int st;

	t_watchdog(t_limit(60), "t_stat_groups", NULL);
	sh = t_shared(sizeof(*sh));
	const char *name = t_qname("sg");
	snprintf(sh->name, sizeof(sh->name), "%s", name);
	struct ipcq_config cfg = t_config(CAP, 64);
	cfg.max_groups = 4;
	struct ipcq *q = t_create(name, &cfg);

	/* a lossy group, its reader lapped: it jumps to the oldest message in the ring */
	CHECK_RC(ipcq_group_create(q, "tap", IPCQ_GROUP_LOSSY), 0);
	struct ipcq *p = t_open_attach(name, IPCQ_ROLE_PRODUCER, NULL);
	struct ipcq *tap = t_group_consumer(name, "tap", 0);
	send_n(p, FIRST);
	memset(&mi, 0, sizeof(mi));
	CHECK_RC(ipcq_recv(tap, buf, sizeof(buf), &mi, IPCQ_NOWAIT), MSG_LEN);
	CHECK((mi.flags & IPCQ_MSG_GAP) && mi.gap == FIRST - CAP);
	for (unsigned i = 1; i < CAP; i++)
		CHECK_RC(ipcq_recv(tap, buf, sizeof(buf), NULL, IPCQ_NOWAIT), MSG_LEN);
	CHECK_RC(ipcq_recv(tap, buf, sizeof(buf), NULL, IPCQ_NOWAIT), -EAGAIN);

	/* two durable groups from here on; "work" has a live consumer, "idle"
	 * a dead member only (it attaches last: an attach reuses dead entries) */
	CHECK_RC(ipcq_group_create(q, "work", 0), 1);
	CHECK_RC(ipcq_group_create(q, "idle", 0), 2);
	pid_t wk = t_fork(worker, NULL);
	T_AWAIT(sh->ready >= 1 || sh->failed, 30);
	CHECK(!sh->failed);
	pid_t dd = t_fork(dies_in_idle, NULL);
	CHECK(waitpid(dd, &st, 0) == dd && WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);

	/* a whole ring for "idle": it holds the producer back */
	uint64_t batch_at = coarse_ns();
	send_n(p, SECOND);
	uint64_t sent_at = coarse_ns();
	CHECK_RC(ipcq_send(p, "x", 1, IPCQ_NOWAIT), -EAGAIN);
	__atomic_store_n(&sh->go, 1, __ATOMIC_SEQ_CST);
	T_AWAIT(sh->ready >= 2 || sh->failed, 30);
	CHECK(!sh->failed);
	for (unsigned i = 0; i < TAP_MORE; i++)
		CHECK_RC(ipcq_recv(tap, buf, sizeof(buf), NULL, IPCQ_NOWAIT), MSG_LEN);

	const struct want w[] = {
		{ "tap", "lossy", 1, 0, FIRST + TAP_MORE, SECOND - TAP_MORE, FIRST - CAP, 0 },
		{ "work", "durable", 1, 0, FIRST + WORK_RECV, SECOND - WORK_RECV, 0, 0 },
		{ "idle", "durable", 0, 1, FIRST, SECOND, 0, 1 },
	};
	/* the library agrees with what was set up */
	struct ipcq_group_info gi[4];
	CHECK_RC(ipcq_group_list(q, gi, 4), 3);
	for (unsigned i = 0; i < 3; i++)
		CHECK(!strcmp(gi[i].name, w[i].name) && gi[i].members == w[i].members &&
		      gi[i].dead == w[i].dead && gi[i].position == w[i].position &&
		      gi[i].lag == w[i].lag && gi[i].dropped == w[i].dropped &&
		      gi[i].holding == (uint32_t)w[i].holding);

	/* every group's oldest unreceived message is of the second batch: wait
	 * until it is 50 ms old at least, by the clock the library stamps
	 * messages with; each check bounds the age from above by the time
	 * since the batch began, after the tool's run */
	T_AWAIT(coarse_ns() - sent_at >= 50000000ull, 10);
	check_text(name, w, 3, batch_at);
	check_json(name, w, 3, batch_at);
	check_prom(name, w, 3, batch_at);
	check_no_groups();

	sh->stop = 1;
	CHECK(t_wait(wk) == 0);
	CHECK_OK(ipcq_close(tap));
	CHECK_OK(ipcq_close(p));
	CHECK_OK(ipcq_close(q));
	printf("t_stat_groups: ok\n");
	return 0;
}
