/*
 * bench_bridge - ipcq-bridge throughput over loopback, with a real
 * nats-server -js (file storage): queue A -> bridge out -> JetStream, then
 * JetStream -> bridge in -> queue B, at 64 B and 1 KiB.  A producer
 * process keeps A full; a consumer process drains B.  Each figure is the
 * bridge's own count (its application counters) over the time between its
 * first message and its last, so connecting is not counted.  Beside the
 * out-bridge, in the same run, what a program would do without ipcq: the
 * NATS C client's own asynchronous publish (js_PublishMsgAsync, at most
 * 1024 in flight as the bridge's window, each message with the bridge's
 * four headers set through natsMsgHeader_Set, Nats-Msg-Id among them),
 * from its first publish to its last PubAck; the ratio out / client says
 * what the bridge's hop costs beyond the client's.  "client, id": the
 * same with Nats-Msg-Id alone, what the three headers of ipcq cost.
 *
 * Each round runs every case at both sizes, on a fresh server; the
 * summary gives each figure's median over the rounds with its range, and
 * the goals' verdicts (out at 64 B at least 150 k msg/s, in 100 k).
 *
 *   make bridge-bench    BENCH_N=messages per run (default 200000)
 *                        BENCH_ROUNDS=rounds (default 3, at most 15)
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

/* The client's own publish: messages PubAcked, and failed (atomic). */
struct client_run {
	uint64_t acked, failed;
	double rate;
};
static struct client_run *g_client;
static int g_client_bare; /* the client's publish with Nats-Msg-Id alone */

static void client_ack(jsCtx *js, natsMsg *msg, jsPubAck *pa, jsPubAckErr *pae, void *closure)
{
	(void)js;
	(void)pae;
	(void)closure;
	__atomic_fetch_add(pa ? &g_client->acked : &g_client->failed, 1, __ATOMIC_RELAXED);
	natsMsg_Destroy(msg);
}

/* A child: publish g_n messages of g_len bytes to @url with the client
 * alone, into a stream of its own; the rate in g_client->rate. */
static int client_peer(void *arg)
{
	const char *url = arg;
	natsConnection *nc = NULL;
	jsCtx *js = NULL;
	jsOptions jo;
	jsStreamConfig sc;
	jsStreamInfo *si = NULL;
	jsErrCode jerr = 0;
	char payload[1024], id[64], num[24], stream[32], subject[32];
	const char *subjects[1] = { subject };

	memset(payload, 'x', sizeof(payload));
	snprintf(stream, sizeof(stream), "CLIENT%u%s", g_len, g_client_bare ? "B" : "");
	snprintf(subject, sizeof(subject), "client%u%s", g_len, g_client_bare ? "b" : "");
	if (natsConnection_ConnectTo(&nc, url) != NATS_OK)
		return 2;
	jsOptions_Init(&jo);
	jo.Wait = 5000;
	jo.PublishAsync.MaxPending = 1024;
	jo.PublishAsync.AckHandler = client_ack;
	if (natsConnection_JetStream(&js, nc, &jo) != NATS_OK)
		return 3;
	jsStreamConfig_Init(&sc);
	sc.Name = stream;
	sc.Subjects = subjects;
	sc.SubjectsLen = 1;
	sc.Storage = js_FileStorage;
	if (js_AddStream(&si, js, &sc, NULL, &jerr) != NATS_OK)
		return 4;
	jsStreamInfo_Destroy(si);
	uint64_t t0 = t_now_ns();
	for (uint64_t i = 1; i <= g_n; i++) {
		natsMsg *m = NULL;
		natsStatus st = natsMsg_Create(&m, subject, NULL, payload, (int)g_len);
		snprintf(id, sizeof(id), "%s/p0/%" PRIu64, stream, i);
		if (st == NATS_OK)
			st = natsMsgHeader_Set(m, "Nats-Msg-Id", id);
		if (st == NATS_OK && !g_client_bare)
			st = natsMsgHeader_Set(m, "Ipcq-Producer", "p0");
		snprintf(num, sizeof(num), "%" PRIu64, i);
		if (st == NATS_OK && !g_client_bare)
			st = natsMsgHeader_Set(m, "Ipcq-Seq", num);
		if (st == NATS_OK && !g_client_bare)
			st = natsMsgHeader_Set(m, "Ipcq-Deliveries", "1");
		if (st == NATS_OK)
			st = js_PublishMsgAsync(js, &m, NULL);
		natsMsg_Destroy(m); /* NULL once the library took it */
		if (st != NATS_OK)
			return 5;
	}
	jsPubOptions po;
	jsPubOptions_Init(&po);
	po.MaxWait = 30000;
	if (js_PublishAsyncComplete(js, &po) != NATS_OK)
		return 6;
	uint64_t t1 = t_now_ns();
	g_client->rate = (double)g_n / ((double)(t1 - t0) / 1e9);
	jsCtx_Destroy(js);
	natsConnection_Destroy(nc);
	return __atomic_load_n(&g_client->failed, __ATOMIC_RELAXED) ||
		       __atomic_load_n(&g_client->acked, __ATOMIC_RELAXED) != g_n
		? 7 : 0;
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

/* One round at one size, on a server of its own: out, in, and the
 * client's own publish with four headers and with the Msg-Id alone; in
 * odd rounds the client runs first, so that neither side always finds
 * the machine as the other left it. */
struct figures {
	double out, in, client, client_id;
};

static struct figures round_at(uint32_t len, unsigned round)
{
	static struct bt_server srv;
	struct ipcq_config ca = t_config(8192, 1024), cb = t_config(8192, 1024);
	struct figures f;
	char qa[96], qb[96], log[128], n[32], stream[32], who[64];
	memset(&srv, 0, sizeof(srv));
	g_len = len;
	snprintf(qa, sizeof(qa), "%s", t_qname("bench"));
	snprintf(qb, sizeof(qb), "%s", t_qname("bench"));
	ca.lease_capacity = 2048;
	ipcq_close(t_create(qa, &ca));
	ipcq_close(t_create(qb, &cb));
	bt_server_start(&srv);
	snprintf(log, sizeof(log), "%s/bridges.log", srv.dir);
	snprintf(n, sizeof(n), "%" PRIu64, g_n);
	snprintf(stream, sizeof(stream), "BENCH%u", g_len);

	for (int pass = 0; pass < 2; pass++) {
		if ((pass == 0) == (round % 2 == 1)) {
			for (g_client_bare = 0; g_client_bare < 2; g_client_bare++) {
				memset(g_client, 0, sizeof(*g_client));
				pid_t cl = t_spawn(client_peer, srv.url);
				int crc = t_reap(cl);
				if (crc != 0)
					T_FAIL("the client's own publish failed (%d; %" PRIu64
					       " acked, %" PRIu64 " failed)",
					       crc, g_client->acked, g_client->failed);
				*(g_client_bare ? &f.client_id : &f.client) = g_client->rate;
			}
			continue;
		}
		g_q = qa;
		pid_t prod = t_spawn(producer, NULL);
		const char *out_argv[] = { "ipcq-bridge", "out", qa, "-s", srv.url, "--subject",
					   "bench", "--stream", stream, "--create", "--window",
					   "1024", "-n", n, NULL };
		f.out = run_bridge(out_argv, qa, "bridge.out", "acked", log);
		if (t_reap(prod) != 0)
			T_FAIL("producer failed");

		g_q = qb;
		pid_t cons = t_spawn(consumer, NULL);
		snprintf(who, sizeof(who), "bridge.%s.ipcq", stream);
		const char *in_argv[] = { "ipcq-bridge", "in", qb, "-s", srv.url, "--stream",
					  stream, "--batch", "1024", "-n", n, NULL };
		f.in = run_bridge(in_argv, qb, who, "forwarded", log);
		if (t_reap(cons) != 0)
			T_FAIL("consumer failed");
	}
	bt_server_stop(&srv, SIGTERM);
	bt_server_rm();
	bt_server_last_ = NULL;
	ipcq_unlink(qa);
	ipcq_unlink(qb);
	return f;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* "median (min-max)" of @v[0..n) into @out, in thousands or, for a
 * @ratio, as is; the median. */
static double summary(double *v, unsigned n, int ratio, char *out, size_t size)
{
	double scale = ratio ? 1 : 1e3;
	qsort(v, n, sizeof(*v), cmp_double);
	double med = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
	snprintf(out, size, ratio ? "%.2fx (%.2f-%.2f)" : "%.1f k (%.1f-%.1f)", med / scale,
		 v[0] / scale, v[n - 1] / scale);
	return med;
}

#define MAX_ROUNDS 15

int main(void)
{
	static const uint32_t sizes[] = { 64, 1024 };
	static struct figures fig[T_NELEM(sizes)][MAX_ROUNDS];
	const char *env = getenv("BENCH_N"), *renv = getenv("BENCH_ROUNDS");
	unsigned rounds = renv ? (unsigned)strtoul(renv, NULL, 10) : 3;
	double out64 = 0, in64 = 0;
	g_n = env ? strtoull(env, NULL, 10) : 200000;
	if (rounds < 1 || rounds > MAX_ROUNDS)
		T_FAIL("BENCH_ROUNDS: 1 to %d", MAX_ROUNDS);
	printf("ipcq-bridge over loopback, nats-server -js (file storage), %" PRIu64
	       " messages a run, %u rounds, sizes interleaved in each\n",
	       g_n, rounds);
	g_client = t_shared(sizeof(*g_client));
	printf("%-6s %-5s %10s %10s %12s %10s %12s\n", "round", "size", "out msg/s", "in msg/s",
	       "client msg/s", "out/client", "client, id");
	for (unsigned r = 0; r < rounds; r++)
		for (unsigned s = 0; s < T_NELEM(sizes); s++) {
			struct figures f = round_at(sizes[s], r);
			fig[s][r] = f;
			printf("%-6u %-5u %10.0f %10.0f %12.0f %9.2fx %12.0f\n", r + 1, sizes[s],
			       f.out, f.in, f.client, f.out / f.client, f.client_id);
			fflush(stdout);
		}

	printf("\nmedian (min-max) of %u rounds, msg/s\n", rounds);
	printf("%-5s %-26s %-26s %-26s %-22s %-26s\n", "size", "out", "in", "client", "out/client",
	       "client, id");
	for (unsigned s = 0; s < T_NELEM(sizes); s++) {
		double v[MAX_ROUNDS];
		char c[5][64];
		double med[5];
		for (int k = 0; k < 5; k++) {
			for (unsigned r = 0; r < rounds; r++) {
				const struct figures *f = &fig[s][r];
				v[r] = k == 0 ? f->out : k == 1 ? f->in : k == 2 ? f->client
				     : k == 3 ? f->client_id : f->out / f->client;
			}
			med[k] = summary(v, rounds, k == 4, c[k], sizeof(c[k]));
		}
		printf("%-5u %-26s %-26s %-26s %-22s %-26s\n", sizes[s], c[0], c[1], c[2], c[4], c[3]);
		if (sizes[s] == 64) {
			out64 = med[0];
			in64 = med[1];
		}
	}
	printf("goal: out at 64 B at least 150 k msg/s: median %.1f k, %s\n", out64 / 1e3,
	       out64 >= 150e3 ? "met" : "MISSED");
	printf("goal: in at 64 B at least 100 k msg/s: median %.1f k, %s\n", in64 / 1e3,
	       in64 >= 100e3 ? "met" : "MISSED");
	return 0;
}
