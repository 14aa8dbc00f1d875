/* t_bridge_flow: queue A -> ipcq-bridge out -> JetStream -> ipcq-bridge in -> queue B with a real nats-server: every message arrives once, in each producer's order, byte for byte (A has consumer groups: the out-bridge reads in a durable group of its own, "bridge", beside a lossy one); the stream's messages carry Nats-Msg-Id and ipcq's producer, sequence and delivery count; the bridges' counters (acked, forwarded, latency) show in ipcq-stat beside the queues; both bridges stop cleanly on SIGTERM. */
#include "bridgetest.h"

static struct bt_flow *g_f;

static void report(void)
{
	t_say("received ");
	t_say_u64(bt_received(g_f));
	t_say("\n");
}

int main(void)
{
	static struct bt_server srv;
	struct bt_flow *f = bt_flow_new(t_count(20000, 5000), 16, 1024);
	char log[128];
	pid_t prod[BT_PRODUCERS], cons, out, in;

	g_f = f;
	t_watchdog(t_limit(90), "t_bridge_flow", report);
	bt_a_groups = 2;
	bt_queues(f, "bflow", 1024);
	bt_server_start(&srv);
	snprintf(log, sizeof(log), "%s/bridges.log", srv.dir);

	const char *out_argv[] = { "ipcq-bridge", "out", f->qa, "-s", srv.url, "--subject", "flow.a",
				   "--stream", "FLOW", "--create", "-v", NULL };
	const char *in_argv[] = { "ipcq-bridge", "in", f->qb, "-s", srv.url, "--stream", "FLOW",
				  "--subject", "flow.a", "--consumer", "toB", "-v", NULL };
	out = bt_bridge(out_argv, log);
	in = bt_bridge(in_argv, log);
	cons = t_spawn(bt_consumer, f);
	bt_start_producers(f, prod);
	bt_finish_flow(f, prod, cons, log);

	/* The first message of the stream, as the out-bridge published it. */
	struct bt_js c = bt_connect(&srv);
	natsMsg *m = NULL;
	jsErrCode jerr = 0;
	natsStatus s = js_GetMsg(&m, c.js, "FLOW", 1, NULL, &jerr);
	if (s != NATS_OK)
		T_FAIL("get message 1: %s (%d)", natsStatus_GetText(s), (int)jerr);
	const char *id = bt_header(m, "Nats-Msg-Id");
	char want_prefix[160];
	snprintf(want_prefix, sizeof(want_prefix), "%s/n", f->qa);
	if (strncmp(id, want_prefix, strlen(want_prefix)) != 0)
		T_FAIL("Nats-Msg-Id '%s' does not start with '%s'", id, want_prefix);
	uint32_t p;
	uint64_t seq;
	CHECK(natsMsg_GetDataLength(m) >= 16);
	t_header(natsMsg_GetData(m), &p, &seq);
	char want[160];
	snprintf(want, sizeof(want), "%" PRIu64, seq);
	if (strcmp(bt_header(m, "Ipcq-Seq"), want) != 0)
		T_FAIL("Ipcq-Seq '%s', payload says %s", bt_header(m, "Ipcq-Seq"), want);
	if (strcmp(bt_header(m, "Ipcq-Deliveries"), "1") != 0)
		T_FAIL("Ipcq-Deliveries '%s'", bt_header(m, "Ipcq-Deliveries"));
	if (bt_header(m, "Ipcq-Producer")[0] != 'n')
		T_FAIL("Ipcq-Producer '%s'", bt_header(m, "Ipcq-Producer"));
	snprintf(want, sizeof(want), "%s/%s/%" PRIu64, f->qa, bt_header(m, "Ipcq-Producer"), seq);
	if (strcmp(id, want) != 0)
		T_FAIL("Nats-Msg-Id '%s', expected '%s'", id, want);
	natsMsg_Destroy(m);
	bt_disconnect(&c);

	/* The bridges' counters, beside the queues, in ipcq-stat. */
	T_AWAIT(bt_app_counter(f->qa, "bridge.out", "acked") == 2 * f->per_producer, 30);
	T_AWAIT(bt_app_counter(f->qb, "bridge.FLOW.toB", "forwarded") == 2 * f->per_producer, 30);
	char want_json[64];
	snprintf(want_json, sizeof(want_json), "\"acked\": %" PRIu64 ",", 2 * f->per_producer);
	struct s_run r = s_tool_run("ipcq-stat", "--json", f->qa, NULL, NULL, NULL);
	S_EXPECT(r.status == 0 && strstr(r.out, "\"name\": \"bridge.out\"") &&
		 strstr(r.out, want_json) && strstr(r.out, "\"latency_ns\": "), r);
	s_run_free(&r);
	r = s_tool_run("ipcq-stat", "--prometheus", f->qb, NULL, NULL, NULL);
	snprintf(want_json, sizeof(want_json), "counter=\"forwarded\"} %" PRIu64 "\n", 2 * f->per_producer);
	S_EXPECT(r.status == 0 && strstr(r.out, want_json), r);
	s_run_free(&r);

	bt_stop(out);
	bt_stop(in);
	bt_server_stop(&srv, SIGTERM);
	printf("%" PRIu64 " messages through A -> JetStream -> B\n", bt_received(f));
	return 0;
}
