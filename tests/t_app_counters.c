/* t_app_counters: ipcq_app_counter_set() names and sets a participant's application counters, ipcq_app_counters() reads them from another process (read-only handle), a new attach of the entry starts with none, bad names and indices are refused; ipcq-stat shows them in text, JSON and Prometheus. */
#include "statutil.h"

static const char *g_name;
static pthread_barrier_t *g_bar;

/* A participant that sets counters, then waits for the parent's checks. */
static int setter(void *arg)
{
	struct ipcq_attach_opts o = IPCQ_ATTACH_OPTS_INIT;
	struct ipcq *q;
	(void)arg;
	o.name = "bridgeish";
	if (ipcq_open(g_name, &q) < 0 || ipcq_attach(q, IPCQ_ROLE_CONSUMER, &o) < 0)
		return 2;
	if (ipcq_app_counter_set(q, 0, "in_flight", 5) < 0 ||
	    ipcq_app_counter_set(q, 3, "acked", 7) < 0 ||
	    ipcq_app_counter_set(q, 7, "puback_ns", 123456789012ull) < 0 ||
	    ipcq_app_counter_set(q, 3, NULL, 8) < 0) /* keeps its name */
		return 3;
	pthread_barrier_wait(g_bar); /* set */
	pthread_barrier_wait(g_bar); /* checked */
	ipcq_close(q);
	return 0;
}

static int find_index(struct ipcq *q, uint32_t *index)
{
	struct ipcq_stats st;
	struct ipcq_participant_stats p[8];
	memset(&st, 0, sizeof(st));
	st.size = sizeof(st);
	int n = ipcq_stats(q, &st, p, 8);
	for (int i = 0; i < n; i++)
		if (!strcmp(p[i].name, "bridgeish")) {
			*index = p[i].index;
			return 0;
		}
	return -1;
}

int main(void)
{
	struct ipcq_config cfg = t_config(64, 256);
	struct ipcq_app_counter c[IPCQ_APP_COUNTERS];
	struct ipcq *q, *ro, *me;
	uint32_t idx;

	t_watchdog(t_limit(60), "t_app_counters", NULL);
	g_name = t_qname("appctr");
	q = t_create(g_name, &cfg);
	g_bar = t_barrier(2);

	/* refusals */
	CHECK_RC(ipcq_app_counter_set(NULL, 0, "a", 1), -EINVAL);
	CHECK_RC(ipcq_app_counter_set(q, 0, "a", 1), -EPERM); /* not attached */
	me = t_open_attach(g_name, IPCQ_ROLE_PRODUCER, NULL);
	CHECK_RC(ipcq_app_counter_set(me, IPCQ_APP_COUNTERS, "a", 1), -EINVAL);
	static const char *const bad[] = { "", "Upper", "1abc", "has space", "dash-ed", "quote\"",
					   "sixteen_chars_xx" };
	for (unsigned i = 0; i < T_NELEM(bad); i++)
		if (ipcq_app_counter_set(me, 0, bad[i], 1) != -EINVAL)
			T_FAIL("name '%s' accepted", bad[i]);
	CHECK_OK(ipcq_app_counter_set(me, 1, "fifteen_chars_x", 1));
	CHECK_OK(ipcq_close(me));

	/* another process sets, this one reads read-only */
	pid_t kid = t_spawn(setter, NULL);
	pthread_barrier_wait(g_bar);
	CHECK_OK(ipcq_open_readonly(g_name, &ro));
	CHECK_OK(find_index(ro, &idx));
	CHECK_RC(ipcq_app_counters(ro, idx, c, IPCQ_APP_COUNTERS), 3);
	CHECK(!strcmp(c[0].name, "in_flight") && c[0].index == 0 && c[0].value == 5);
	CHECK(!strcmp(c[1].name, "acked") && c[1].index == 3 && c[1].value == 8);
	CHECK(!strcmp(c[2].name, "puback_ns") && c[2].index == 7 && c[2].value == 123456789012ull);
	CHECK_RC(ipcq_app_counters(ro, idx, c, 1), 1); /* truncated to the room */
	CHECK(!strcmp(c[0].name, "in_flight"));
	CHECK_RC(ipcq_app_counters(ro, idx, NULL, 0), 0);
	CHECK_RC(ipcq_app_counters(ro, idx, NULL, 1), -EINVAL);
	CHECK_RC(ipcq_app_counters(ro, t_info(ro).max_participants, c, 8), -EINVAL);
	CHECK_RC(ipcq_app_counters(NULL, idx, c, 8), -EINVAL);

	/* ipcq-stat: text, JSON, Prometheus */
	struct s_run r = s_tool_run("ipcq-stat", g_name, NULL, NULL, NULL, NULL);
	S_EXPECT(r.status == 0 && strstr(r.out, "app in_flight=5 acked=8 puback_ns=123456789012"), r);
	s_run_free(&r);
	r = s_tool_run("ipcq-stat", "--json", g_name, NULL, NULL, NULL);
	S_EXPECT(r.status == 0 && strstr(r.out, "\"app\": {") && strstr(r.out, "\"in_flight\": 5,") &&
		 strstr(r.out, "\"acked\": 8,") && strstr(r.out, "\"puback_ns\": 123456789012\n"), r);
	s_run_free(&r);
	r = s_tool_run("ipcq-stat", "--prometheus", g_name, NULL, NULL, NULL);
	S_EXPECT(r.status == 0 && strstr(r.out, "# TYPE ipcq_app_counter untyped") &&
		 strstr(r.out, "name=\"bridgeish\"") &&
		 strstr(r.out, ",counter=\"acked\"} 8\n") &&
		 strstr(r.out, ",counter=\"puback_ns\"} 123456789012\n"), r);
	s_run_free(&r);

	pthread_barrier_wait(g_bar);
	CHECK_OK(t_reap(kid));

	/* the entry taken again starts with no counters */
	struct ipcq_attach_opts o = IPCQ_ATTACH_OPTS_INIT;
	o.name = "bridgeish";
	me = t_open_attach(g_name, IPCQ_ROLE_CONSUMER, &o);
	CHECK_OK(find_index(ro, &idx));
	CHECK_RC(ipcq_app_counters(ro, idx, c, IPCQ_APP_COUNTERS), 0);
	CHECK_OK(ipcq_close(me));
	CHECK_OK(ipcq_close(ro));
	CHECK_OK(ipcq_close(q));
	return 0;
}
