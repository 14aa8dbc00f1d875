/* t_bridge_poison: a message quarantined in A's side ring reaches <subject>.dlq with Ipcq-Reason: nacked (ipcq-bridge out --dlq), and the entries its producer put there with Ipcq-Reason: refused and too-large (each reason by its name), and they leave the side ring; a message larger than B's max_msg_size goes into B's side ring (reason too-large, cut to max_msg_size, the stream sequence as its sequence, the bridge's producer) and whole to the in-bridge's --dlq subject with Ipcq-Reason: too-large, while the messages around it go on into B in order. */
#include "bridgetest.h"

#define N 20          /* messages of the flow */
#define BIG 7         /* the one B cannot take */

static uint32_t len_of(uint64_t seq)
{
	return seq == BIG ? 300 : 16 + (uint32_t)(seq % 40);
}

static char g_cut[2000]; /* put as too large into A: its first 1024 bytes are kept */

/* The messages on p.a.dlq, each checked: the poison (nacked), the big
 * one (too-large), and the two A's producer put into A's side ring
 * (refused, too-large cut to A's max_msg_size): each reason by its name.
 * Returns how many there are. */
static int count_dlq(jsCtx *js, int *nacked, int *large, int *put)
{
	*nacked = *large = *put = 0;
	for (uint64_t seq = 1; seq <= N + 8; seq++) {
		natsMsg *m = NULL;
		if (js_GetMsg(&m, js, "POISON", seq, NULL, NULL) != NATS_OK)
			continue;
		if (!strcmp(natsMsg_GetSubject(m), "p.a.dlq")) {
			const char *why = bt_header(m, "Ipcq-Reason");
			const char *data = natsMsg_GetData(m);
			int len = natsMsg_GetDataLength(m);
			uint32_t p;
			uint64_t s;
			t_header(data, &p, &s);
			if (!strcmp(why, "nacked") && len == 100 && p == 9 && s == 1 &&
			    !t_verify(data, 100, 9, 1))
				(*nacked)++;
			else if (!strcmp(why, "too-large") && (uint32_t)len == len_of(BIG) && p == 0 &&
				 s == BIG && !t_verify(data, (size_t)len, 0, BIG))
				(*large)++;
			else if (!strcmp(why, "refused") && len == 200 && p == 9 && s == 2 &&
				 !t_verify(data, 200, 9, 2))
				(*put)++;
			else if (!strcmp(why, "too-large") && len == 1024 && p == 9 && s == 3 &&
				 !memcmp(data, g_cut, 1024))
				(*put)++;
			else
				T_FAIL("p.a.dlq: unexpected message (reason '%s', %d bytes)", why, len);
		}
		natsMsg_Destroy(m);
	}
	return *nacked + *large + *put;
}

int main(void)
{
	static struct bt_server srv;
	struct ipcq_config ca = t_config(64, 1024), cb = t_config(64, 64);
	const char *qa = t_qname("bpoison"), *qb = t_qname("bpoison");
	struct ipcq_attach_opts ao = IPCQ_ATTACH_OPTS_INIT;
	struct ipcq_msginfo mi;
	struct ipcq *a, *b, *ac;
	char buf[1024], log[128], srv_log[128];
	pid_t out, in;

	t_watchdog(t_limit(60), "t_bridge_poison", NULL);
	ca.side_capacity = 16;
	ca.lease_capacity = 64;
	a = t_create(qa, &ca);
	b = t_create(qb, &cb);
	bt_server_start(&srv);
	snprintf(log, sizeof(log), "%s/bridges.log", srv.dir);
	snprintf(srv_log, sizeof(srv_log), "%s/server.log", srv.dir);

	/* The poison: sent first, nacked into the side ring by a consumer. */
	ao.flags = IPCQ_ATTACH_DEDUP;
	ao.name = "prod";
	CHECK_OK(ipcq_attach(a, IPCQ_ROLE_PRODUCER, &ao));
	t_fill(buf, 100, 9, 1);
	CHECK_OK(ipcq_send(a, buf, 100, IPCQ_NOWAIT));
	struct ipcq_attach_opts co = IPCQ_ATTACH_OPTS_INIT;
	co.flags = IPCQ_ATTACH_ACK;
	ac = t_open_attach(qa, IPCQ_ROLE_CONSUMER, &co);
	CHECK_RC(ipcq_recv(ac, buf, sizeof(buf), &mi, IPCQ_NOWAIT), 100);
	CHECK_RC(ipcq_nack(ac, mi.token, IPCQ_NACK_POISON), 1);
	CHECK_OK(ipcq_close(ac));
	CHECK(t_info(a).side_depth == 1);
	/* Two more, put there by the producer: refused, and too large (cut) */
	t_fill(buf, 200, 9, 2);
	CHECK_OK(ipcq_poison_put(a, buf, 200, IPCQ_REASON_REFUSED, 2, 0));
	t_fill(g_cut, sizeof(g_cut), 9, 3);
	CHECK_OK(ipcq_poison_put(a, g_cut, sizeof(g_cut), IPCQ_REASON_TOO_LARGE, 3, 0));
	CHECK(t_info(a).side_depth == 3);

	/* The flow, with one message too large for B. */
	for (uint64_t seq = 1; seq <= N; seq++) {
		uint32_t len = len_of(seq);
		t_fill(buf, len, 0, seq);
		CHECK_OK(ipcq_send(a, buf, len, IPCQ_NOWAIT));
	}
	const char *out_argv[] = { "ipcq-bridge", "out", qa, "-s", srv.url, "--subject", "p.a",
				   "--stream", "POISON", "--create", "--dlq", "-v", NULL };
	const char *in_argv[] = { "ipcq-bridge", "in", qb, "-s", srv.url, "--stream", "POISON",
				  "--subject", "p.a", "--dlq=p.a.dlq", "-v", NULL };
	out = bt_bridge(out_argv, log);
	in = bt_bridge(in_argv, log);

	CHECK_OK(ipcq_attach(b, IPCQ_ROLE_CONSUMER, NULL));
	for (uint64_t seq = 1; seq <= N; seq++) {
		if (seq == BIG)
			continue;
		int len = ipcq_recv(b, buf, sizeof(buf), &mi, 30000000000ll);
		uint32_t p;
		uint64_t got;
		if (len < 0) {
			bt_show_log(log);
			bt_show_log(srv_log);
			fprintf(stderr, "out: forwarded %" PRIu64 " acked %" PRIu64 " retried %" PRIu64
				", in: forwarded %" PRIu64 " retried %" PRIu64 "\n",
				bt_app_counter(qa, "bridge.out", "forwarded"),
				bt_app_counter(qa, "bridge.out", "acked"),
				bt_app_counter(qa, "bridge.out", "retried"),
				bt_app_counter(qb, "bridge.POISON.ipcq", "forwarded"),
				bt_app_counter(qb, "bridge.POISON.ipcq", "retried"));
			T_FAIL("B: message %" PRIu64 ": %s", seq, ipcq_strerror(len));
		}
		t_header(buf, &p, &got);
		if (p != 0 || got != seq || (uint32_t)len != len_of(seq) || t_verify(buf, (size_t)len, 0, seq))
			T_FAIL("B: expected message %" PRIu64 ", got producer %u sequence %" PRIu64 " (%d bytes)",
			       seq, p, got, len);
	}
	T_AWAIT(t_info(a).side_depth == 0, 30);

	/* B's side ring has the big one: put before the message after it went
	 * into B.  Cut to B's max_msg_size; its sequence is the stream's, where
	 * the whole message still is. */
	struct bt_js c = bt_connect(&srv);
	struct ipcq_poison pe[2];
	char ref[1024];
	CHECK_RC(ipcq_poison_list(b, 0, pe, 2), 1);
	CHECK(pe[0].reason == IPCQ_REASON_TOO_LARGE && pe[0].len == 64 && pe[0].stream != 0);
	CHECK(pe[0].deliveries == 1);
	CHECK(bt_put_by(b, &pe[0], "bridge.POISON.ipcq"));
	CHECK(t_stats(b).side_too_large == 1);
	CHECK_RC(ipcq_poison_peek(b, pe[0].id, buf, sizeof(buf), NULL), 64);
	t_fill(ref, len_of(BIG), 0, BIG);
	CHECK(memcmp(buf, ref, 64) == 0);
	{
		natsMsg *m = NULL;
		CHECK(js_GetMsg(&m, c.js, "POISON", pe[0].seq, NULL, NULL) == NATS_OK);
		CHECK(!strcmp(natsMsg_GetSubject(m), "p.a"));
		CHECK((uint32_t)natsMsg_GetDataLength(m) == len_of(BIG));
		CHECK(!t_verify(natsMsg_GetData(m), len_of(BIG), 0, BIG));
		natsMsg_Destroy(m);
	}
	CHECK_RC(ipcq_poison_replay(b, pe[0].id), -EMSGSIZE);

	/* Every refused message is on p.a.dlq with its reason. */
	int nacked = 0, large = 0, put = 0;
	T_AWAIT(count_dlq(c.js, &nacked, &large, &put) == 4, 30);
	CHECK(nacked == 1 && large == 1 && put == 2);
	bt_disconnect(&c);
	CHECK(ipcq_recv(b, buf, sizeof(buf), &mi, IPCQ_NOWAIT) == -EAGAIN);

	bt_stop(out);
	bt_stop(in);
	bt_server_stop(&srv, SIGTERM);
	ipcq_close(a);
	ipcq_close(b);
	printf("side ring -> p.a.dlq (nacked), too large for B -> B's side ring (cut) and p.a.dlq (too-large), %d others in order\n",
	       N - 1);
	return 0;
}
