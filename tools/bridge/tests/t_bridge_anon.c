/* t_bridge_anon: two anonymous producers of a queue that take the same participant entry one after the other, each numbering its messages from 1: the out-bridge gives their messages different Nats-Msg-Ids (the enqueue time beside the entry's index), so JetStream stores all six instead of dropping the second producer's as duplicates while the bridge acks their leases. */
#include "bridgetest.h"

int main(void)
{
	static struct bt_server srv;
	struct ipcq_config ca = t_config(64, 64);
	const char *qa = t_qname("banon");
	char log[128];

	t_watchdog(t_limit(60), "t_bridge_anon", NULL);
	ca.lease_capacity = 64;
	struct ipcq *a = t_create(qa, &ca);
	ipcq_close(a);
	bt_server_start(&srv);
	snprintf(log, sizeof(log), "%s/bridges.log", srv.dir);
	const char *out_argv[] = { "ipcq-bridge", "out", qa, "-s", srv.url, "--subject", "r.a",
				   "--stream", "RA", "--create", "-v", NULL };
	pid_t out = bt_bridge(out_argv, log);

	for (int p = 0; p < 2; p++) {  /* two producer processes' handles, one after the other */
		struct ipcq *h = NULL;
		CHECK_OK(ipcq_open(qa, &h));
		CHECK_OK(ipcq_attach(h, IPCQ_ROLE_PRODUCER, NULL));
		for (int i = 0; i < 3; i++) {
			char m[16];
			int n = snprintf(m, sizeof(m), "P%d-%d", p + 1, i + 1);
			CHECK_OK(ipcq_send(h, m, (size_t)n, IPCQ_NOWAIT));
		}
		CHECK_OK(ipcq_close(h));
		/* the next producer's messages in a later tick of the coarse
		 * clock that stamps enqueue times (the same tick and the same
		 * sequence number would give the same id: see out.c) */
		struct timespec t0, t1;
		clock_gettime(CLOCK_MONOTONIC_COARSE, &t0);
		do
			clock_gettime(CLOCK_MONOTONIC_COARSE, &t1);
		while (t1.tv_sec == t0.tv_sec && t1.tv_nsec == t0.tv_nsec);
	}
	/* every lease acked: all six messages settled by the bridge */
	T_AWAIT(bt_app_counter(qa, "bridge.out", "acked") == 6, 30);
	struct bt_js c = bt_connect(&srv);
	jsStreamInfo *si = NULL;
	CHECK(js_GetStreamInfo(&si, c.js, "RA", NULL, NULL) == NATS_OK);
	uint64_t stored = si->State.Msgs;
	jsStreamInfo_Destroy(si);
	printf("sent 6 (2 producers x 3), bridge acked %llu, duplicates %llu, stream holds %llu\n",
	       (unsigned long long)bt_app_counter(qa, "bridge.out", "acked"),
	       (unsigned long long)bt_app_counter(qa, "bridge.out", "duplicates"),
	       (unsigned long long)stored);
	bt_disconnect(&c);
	bt_stop(out);
	bt_server_stop(&srv, SIGTERM);
	ipcq_unlink(qa);
	if (stored != 6) {
		fprintf(stderr, "FAIL: %llu messages lost (acked in A, never stored)\n",
			(unsigned long long)(6 - stored));
		return 1;
	}
	return 0;
}
