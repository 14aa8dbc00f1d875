/* t_bridge_priority: priorities across the hop: queue A with two priority lanes -> ipcq-bridge out -> JetStream -> ipcq-bridge in -> queue B with two lanes; a message sent at priority 1 carries the header Ipcq-Priority: 1 in the stream (one at priority 0 none) and arrives in B's lane 1, each message once, byte for byte, the stream sequence as its sequence; into a queue C without lanes the same stream arrives in its one lane; into a queue D of four lanes, hand-made Ipcq-Priority values arrive in lane 0 when they are not plain digits ("-1", "+2", "x", "") and in the highest lane above it. */
#include "bridgetest.h"

enum { N = 200, MAXLEN = 64 };

static struct ipcq *lanes_queue(const char *name, uint32_t lanes)
{
	struct ipcq_config cfg = t_config(256, MAXLEN);
	cfg.priorities = lanes;
	cfg.priority_share = 0; /* strict: B's receives take lane 1 first */
	return t_create(name, &cfg);
}

/* Receive all N of @qname: each intact, at the lane its payload names
 * (lanes > 1) or 0, and with @lanes > 1 every priority-1 message first. */
static void check_queue(const char *qname, uint32_t lanes)
{
	struct ipcq *c = t_open_attach(qname, IPCQ_ROLE_CONSUMER, NULL);
	uint8_t seen[N + 1] = { 0 };
	unsigned low_seen = 0;
	for (unsigned i = 0; i < N; i++) {
		uint8_t buf[MAXLEN];
		struct ipcq_msginfo mi;
		int rc = ipcq_recv(c, buf, sizeof(buf), &mi, 30 * 1000000000ll);
		if (rc < 0)
			T_FAIL("%s: message %u of %d: %d (%s)", qname, i + 1, N, rc, ipcq_strerror(rc));
		uint32_t prod;
		uint64_t seq;
		t_header(buf, &prod, &seq);
		if (seq < 1 || seq > N || t_verify(buf, (size_t)rc, prod, seq) || seen[seq]++)
			T_FAIL("%s: message %" PRIu64 " corrupt or twice", qname, seq);
		uint32_t want = lanes > 1 ? (uint32_t)(seq % 2) : 0;
		if (IPCQ_MSG_PRIORITY(mi.flags) != want)
			T_FAIL("%s: message %" PRIu64 " at priority %u, sent at %u", qname, seq,
			       IPCQ_MSG_PRIORITY(mi.flags), want);
		if (lanes > 1 && want == 1 && low_seen)
			T_FAIL("%s: message %" PRIu64 " of lane 1 after %u of lane 0", qname, seq,
			       low_seen);
		low_seen += want == 0;
	}
	CHECK_OK(ipcq_close(c));
}

/* Ipcq-Priority values put in the stream by hand, and the lane of a
 * 4-lane queue each must reach: a sign or anything but
 * digits is lane 0; a number above the lanes is the highest. */
static const struct {
	const char *value, *lane;
} odd[] = {
	{ "-1", "0" }, { "+2", "0" }, { "x", "0" }, { "", "0" },
	{ "-99999999999999999999", "0" }, { "2", "2" }, { "99999999999999999999", "3" },
};

/* Publish each of odd[] to prio.a, its header set, its payload
 * "VALUE=LANE"; then read them, all N + T_NELEM(odd) of the stream, into
 * the 4-lane queue @qd through an in-bridge. */
static void odd_priorities(const struct bt_server *srv, const char *qd, const char *log)
{
	struct bt_js c = bt_connect(srv);
	for (size_t i = 0; i < T_NELEM(odd); i++) {
		char body[64];
		natsMsg *m = NULL;
		jsPubAck *ack = NULL;
		jsErrCode jerr = 0;
		snprintf(body, sizeof(body), "%s=%s", odd[i].value, odd[i].lane);
		CHECK(natsMsg_Create(&m, "prio.a", NULL, body, (int)strlen(body)) == NATS_OK);
		CHECK(natsMsgHeader_Set(m, "Ipcq-Priority", odd[i].value) == NATS_OK);
		natsStatus st = js_PublishMsg(&ack, c.js, m, NULL, &jerr);
		if (st != NATS_OK)
			T_FAIL("publish '%s': %s (%d)", body, natsStatus_GetText(st), (int)jerr);
		jsPubAck_Destroy(ack);
		natsMsg_Destroy(m);
	}
	bt_disconnect(&c);
	char n[16];
	snprintf(n, sizeof(n), "%d", N + (int)T_NELEM(odd));
	const char *in_d[] = { "ipcq-bridge", "in", qd, "-s", srv->url, "--stream", "PRIO",
			       "--subject", "prio.a", "--consumer", "toD", "-n", n, NULL };
	if (t_reap(bt_bridge(in_d, log)) != 0) {
		bt_show_log(log);
		T_FAIL("in-bridge to D failed");
	}
	struct ipcq *d = t_open_attach(qd, IPCQ_ROLE_CONSUMER, NULL);
	unsigned found = 0;
	for (int i = 0; i < N + (int)T_NELEM(odd); i++) {
		char buf[MAXLEN + 1];
		struct ipcq_msginfo mi;
		int rc = ipcq_recv(d, buf, MAXLEN, &mi, IPCQ_NOWAIT);
		if (rc < 0)
			T_FAIL("D: message %d: %s", i + 1, ipcq_strerror(rc));
		buf[rc] = '\0';
		const char *eq = memchr(buf, '=', (size_t)rc);
		if (mi.seq <= N || !eq)
			continue; /* one of the flow's */
		char lane[8];
		snprintf(lane, sizeof(lane), "%u", IPCQ_MSG_PRIORITY(mi.flags));
		if (strcmp(eq + 1, lane) != 0)
			T_FAIL("D: Ipcq-Priority '%.*s' reached lane %s", (int)(eq - buf), buf, lane);
		found++;
	}
	if (found != T_NELEM(odd))
		T_FAIL("D: %u of the %zu hand-made messages", found, T_NELEM(odd));
	CHECK_OK(ipcq_close(d));
}

int main(void)
{
	static struct bt_server srv;
	char qa[96], qb[96], qc[96], qd[96], log[128], n[16];

	t_watchdog(t_limit(90), "t_bridge_priority", NULL);
	snprintf(qa, sizeof(qa), "%s", t_qname("bprio_a"));
	snprintf(qb, sizeof(qb), "%s", t_qname("bprio_b"));
	snprintf(qc, sizeof(qc), "%s", t_qname("bprio_c"));
	snprintf(qd, sizeof(qd), "%s", t_qname("bprio_d"));
	struct ipcq *a = lanes_queue(qa, 2), *b = lanes_queue(qb, 2), *cq = lanes_queue(qc, 1);
	struct ipcq *dq = lanes_queue(qd, 4);
	bt_server_start(&srv);
	snprintf(log, sizeof(log), "%s/bridges.log", srv.dir);
	snprintf(n, sizeof(n), "%d", N);

	/* A holds all N before the out-bridge starts: odd ones at priority 1 */
	struct ipcq *p = t_open_attach(qa, IPCQ_ROLE_PRODUCER, NULL);
	for (uint64_t seq = 1; seq <= N; seq++) {
		uint8_t m[MAXLEN];
		size_t len = t_fill(m, t_msg_len(0, seq, 16, MAXLEN), 0, seq);
		struct ipcq_send_opts o = IPCQ_SEND_OPTS_INIT;
		o.priority = (uint32_t)(seq % 2);
		CHECK_OK(ipcq_send_ex(p, m, len, &o, IPCQ_NOWAIT));
	}
	const char *out_argv[] = { "ipcq-bridge", "out", qa, "-s", srv.url, "--subject", "prio.a",
				   "--stream", "PRIO", "--create", "-n", n, NULL };
	pid_t out = bt_bridge(out_argv, log);
	if (t_reap(out) != 0) {
		bt_show_log(log);
		T_FAIL("out-bridge failed");
	}

	/* the stream: the header on priority 1 only */
	struct bt_js c = bt_connect(&srv);
	for (uint64_t s = 1; s <= 2; s++) {
		natsMsg *m = NULL;
		jsErrCode jerr = 0;
		natsStatus st = js_GetMsg(&m, c.js, "PRIO", s, NULL, &jerr);
		if (st != NATS_OK)
			T_FAIL("get message %" PRIu64 ": %s (%d)", s, natsStatus_GetText(st), (int)jerr);
		uint32_t prod;
		uint64_t seq;
		t_header(natsMsg_GetData(m), &prod, &seq);
		const char *v = NULL;
		natsStatus hs = natsMsgHeader_Get(m, "Ipcq-Priority", &v);
		if (seq % 2 ? hs != NATS_OK || strcmp(v, "1") != 0 : hs == NATS_OK)
			T_FAIL("message %" PRIu64 ": Ipcq-Priority %s", seq, hs == NATS_OK ? v : "absent");
		natsMsg_Destroy(m);
	}
	bt_disconnect(&c);

	const char *in_b[] = { "ipcq-bridge", "in", qb, "-s", srv.url, "--stream", "PRIO",
			       "--subject", "prio.a", "--consumer", "toB", "-n", n, NULL };
	const char *in_c[] = { "ipcq-bridge", "in", qc, "-s", srv.url, "--stream", "PRIO",
			       "--subject", "prio.a", "--consumer", "toC", "-n", n, NULL };
	pid_t ib = bt_bridge(in_b, log), ic = bt_bridge(in_c, log);
	if (t_reap(ib) != 0 || t_reap(ic) != 0) {
		bt_show_log(log);
		T_FAIL("in-bridge failed");
	}
	/* B and C hold every message before anyone reads: B's order is then
	 * its lanes' (strict), C's its one lane's */
	CHECK(t_info(b).depth == N && t_info(cq).depth == N);
	check_queue(qb, 2);
	check_queue(qc, 1);
	odd_priorities(&srv, qd, log);
	CHECK_OK(ipcq_close(dq));
	CHECK_OK(ipcq_close(p));
	CHECK_OK(ipcq_close(a));
	CHECK_OK(ipcq_close(b));
	CHECK_OK(ipcq_close(cq));
	bt_server_stop(&srv, SIGTERM);
	printf("t_bridge_priority: %d messages, priorities kept across the hop\n", N);
	return 0;
}
