/*
 * bench_bridge - ipcq-bridge throughput over loopback, with a real
 * nats-server -js (file storage): queue A -> bridge out -> JetStream, then
 * JetStream -> bridge in -> queue B, at 64 B and 1 KiB.  A producer
 * process keeps A full; a consumer process drains B.  Each figure is the
 * bridge's own count (its application counters) over the time between its
 * first message and its last, so connecting is not counted.
 *
 *   make bridge-bench            BENCH_N=messages per run (default 200000)
 */
#include "bridgetest.h"

static const char *g_q;
static uint32_t g_len;
static uint64_t g_n;

static int producer(void *arg)
{
	struct ipcq *q;
	char buf[1024];
	(void)arg;
	memset(buf, 'x', sizeof(buf));
	if (ipcq_open(g_q, &q) < 0 || ipcq_attach(q, IPCQ_ROLE_PRODUCER, NULL) < 0)
		return 2;
	for (uint64_t i = 0; i < g_n; i++)
		if (ipcq_send(q, buf, g_len, IPCQ_FOREVER) < 0)
			return 3;
	ipcq_close(q);
	return 0;
}

static int consumer(void *arg)
{
	struct ipcq *q;
	struct ipcq_buf b[64];
	char buf[64][1024];
	(void)arg;
	if (ipcq_open(g_q, &q) < 0 || ipcq_attach(q, IPCQ_ROLE_CONSUMER, NULL) < 0)
		return 2;
	for (uint64_t got = 0; got < g_n;) {
		for (int i = 0; i < 64; i++) {
			b[i].data = buf[i];
			b[i].len = sizeof(buf[i]);
		}
		int n = ipcq_recv_batch(q, b, NULL, 64, IPCQ_FOREVER);
		if (n < 0)
			return 3;
		got += (uint64_t)n;
	}
	ipcq_close(q);
	return 0;
}

/* Counter @counter of participant @who, 0 while not there. */
static uint64_t counter_of(struct ipcq *q, const char *who, const char *counter)
{
	uint64_t v = bt_app_counter_of(q, who, counter);
	return v == UINT64_MAX ? 0 : v;
}

/* Has @pid ended (left for t_reap() to collect)? */
static int ended(pid_t pid)
{
	siginfo_t si;
	memset(&si, 0, sizeof(si));
	return waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0 && si.si_pid == pid;
}

/* Messages per second of one bridge: from its first message to its last,
 * looked at every 10 ms (the figure's error is below 10 ms a run). */
static double run_bridge(const char *const *argv, const char *qname, const char *who,
			 const char *counter, const char *log)
{
	struct timespec tick = { 0, 10000000 };
	struct ipcq *q;
	uint64_t t0, t1;
	pid_t pid = bt_bridge(argv, log);
	CHECK_OK(ipcq_open_readonly(qname, &q));
	while (counter_of(q, who, counter) == 0 && !ended(pid))
		nanosleep(&tick, NULL);
	t0 = t_now_ns();
	/* until the count is reached, or the bridge (-n) is gone with it */
	while (counter_of(q, who, counter) < g_n && !ended(pid))
		nanosleep(&tick, NULL);
	t1 = t_now_ns();
	ipcq_close(q);
	if (t_reap(pid) != 0) {
		bt_show_log(log);
		T_FAIL("bridge failed");
	}
	return (double)g_n / ((double)(t1 - t0) / 1e9);
}

int main(void)
{
	static const uint32_t sizes[] = { 64, 1024 };
	const char *env = getenv("BENCH_N");
	g_n = env ? strtoull(env, NULL, 10) : 200000;
	printf("ipcq-bridge over loopback, nats-server -js (file storage), %" PRIu64 " messages a run\n",
	       g_n);
	printf("%-8s %14s %14s\n", "size", "out msg/s", "in msg/s");
	for (unsigned s = 0; s < T_NELEM(sizes); s++) {
		static struct bt_server srv;
		struct ipcq_config ca = t_config(8192, 1024), cb = t_config(8192, 1024);
		char qa[96], qb[96], log[128], n[32], stream[32];
		memset(&srv, 0, sizeof(srv));
		g_len = sizes[s];
		snprintf(qa, sizeof(qa), "%s", t_qname("bench"));
		snprintf(qb, sizeof(qb), "%s", t_qname("bench"));
		ca.lease_capacity = 2048;
		ipcq_close(t_create(qa, &ca));
		ipcq_close(t_create(qb, &cb));
		bt_server_start(&srv);
		snprintf(log, sizeof(log), "%s/bridges.log", srv.dir);
		snprintf(n, sizeof(n), "%" PRIu64, g_n);
		snprintf(stream, sizeof(stream), "BENCH%u", g_len);

		g_q = qa;
		pid_t prod = t_spawn(producer, NULL);
		const char *out_argv[] = { "ipcq-bridge", "out", qa, "-s", srv.url, "--subject", "bench",
					   "--stream", stream, "--create", "--window", "1024", "-n", n,
					   NULL };
		double out = run_bridge(out_argv, qa, "bridge.out", "acked", log);
		if (t_reap(prod) != 0)
			T_FAIL("producer failed");

		g_q = qb;
		pid_t cons = t_spawn(consumer, NULL);
		char who[64];
		snprintf(who, sizeof(who), "bridge.%s.ipcq", stream);
		const char *in_argv[] = { "ipcq-bridge", "in", qb, "-s", srv.url, "--stream", stream,
					  "--batch", "1024", "-n", n, NULL };
		double in = run_bridge(in_argv, qb, who, "forwarded", log);
		if (t_reap(cons) != 0)
			T_FAIL("consumer failed");
		printf("%-8u %14.0f %14.0f\n", g_len, out, in);
		fflush(stdout);
		bt_server_stop(&srv, SIGTERM);
		bt_server_rm();
		bt_server_last_ = NULL;
	}
	return 0;
}
