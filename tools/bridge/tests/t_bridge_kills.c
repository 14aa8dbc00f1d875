/* t_bridge_kills: A -> ipcq-bridge out -> JetStream -> ipcq-bridge in -> B while 50 kill -9s hit either bridge at random points of the flow (each restarted at once) and the nats-server is restarted half-way: B gets every message exactly once, byte for byte, in each producer's order but for messages redelivered after a kill, which the stream flags (Ipcq-Deliveries). */
#include "bridgetest.h"

#define KILLS 50

static struct bt_flow *g_f;
static int g_round;

static void report(void)
{
	t_say("round ");
	t_say_u64((uint64_t)g_round);
	t_say(", received ");
	t_say_u64(bt_received(g_f));
	t_say("\n");
}

int main(void)
{
	static struct bt_server srv;
	const uint64_t step = 400; /* per producer and round */
	struct bt_flow *f = bt_flow_new(step * (KILLS + 1), 16, 512);
	const char *env = getenv("BT_SEED");
	unsigned seed = env ? (unsigned)strtoul(env, NULL, 10) : (unsigned)time(NULL);
	char log[128];
	pid_t prod[BT_PRODUCERS], cons, pid[2];
	unsigned kills[2] = { 0, 0 };

	g_f = f;
	f->late_ok = 1;
	printf("seed %u (BT_SEED=%u repeats it)\n", seed, seed);
	t_watchdog(t_limit(150), "t_bridge_kills", report);
	bt_queues(f, "bkill", 512);
	bt_server_start(&srv);
	snprintf(log, sizeof(log), "%s/bridges.log", srv.dir);

	const char *argv[2][16] = {
		{ "ipcq-bridge", "out", f->qa, "-s", srv.url, "--subject", "kill.a", "--stream",
		  "KILL", "--create", "--pub-timeout", "1000", "-v", NULL },
		{ "ipcq-bridge", "in", f->qb, "-s", srv.url, "--stream", "KILL", "--subject",
		  "kill.a", "--consumer", "toB", "-v", NULL },
	};
	pid[0] = bt_bridge(argv[0], log);
	pid[1] = bt_bridge(argv[1], log);
	cons = t_spawn(bt_consumer, f);
	bt_start_producers(f, prod);

	for (g_round = 0; g_round < KILLS + 1; g_round++) {
		uint64_t allowed = step * (uint64_t)(g_round + 1);
		uint64_t now = bt_received(f), total = allowed * BT_PRODUCERS;
		uint64_t target = now + 1 + (uint64_t)rand_r(&seed) % (step * BT_PRODUCERS);
		if (target > total)
			target = total;
		__atomic_store_n(&f->allowed, allowed, __ATOMIC_RELEASE);
		/* progress in B, then a kill somewhere in the middle of the flow */
		uint64_t dl = t_now_ns() + 60000000000ull;
		unsigned round = 0;
		while (bt_received(f) < target) {
			for (int k = 0; k < 2; k++) {
				int st;
				if (waitpid(pid[k], &st, WNOHANG) == pid[k]) {
					bt_show_log(log);
					T_FAIL("round %d: the %s-bridge ended by itself: %s", g_round,
					       k ? "in" : "out", t_status_str(st));
				}
			}
			if (t_now_ns() > dl || f->error[0]) {
				bt_show_log(log);
				if (f->bad_seq && getenv("BT_DUMP"))
					bt_dump_stream(&srv, "KILL", f->bad_seq > 400 ? f->bad_seq - 400 : 1,
						       f->bad_seq + (getenv("BT_DUMP_ALL") ? 50000 : 20));
				T_FAIL("round %d: B has %" PRIu64 " of %" PRIu64 " messages (%s)", g_round,
				       bt_received(f), target, f->error);
			}
			t_poll_pause(&round);
		}
		if (g_round == KILLS)
			break;
		if (g_round == KILLS / 2) {
			bt_server_stop(&srv, SIGTERM);
			bt_server_start(&srv);
			continue;
		}
		int v = rand_r(&seed) & 1;
		bt_kill(pid[v]);
		kills[v]++;
		pid[v] = bt_bridge(argv[v], log);
	}
	bt_finish_flow(f, prod, cons, log);
	unsigned late = bt_check_late(&srv, "KILL", f);
	bt_stop(pid[0]);
	bt_stop(pid[1]);
	bt_server_stop(&srv, SIGTERM);
	printf("%" PRIu64 " messages, %u kills of the out-bridge, %u of the in-bridge, one server restart: "
	       "none lost, none twice, %u redelivered late (each flagged in the stream)\n",
	       bt_received(f), kills[0], kills[1], late);
	return 0;
}
