/* Two threads hand a token back and forth through two queues, always sleeping on the futex (adaptive, spin 0, yield 0): no lost wake-up (run under TSan too). */
#include "ipcq.h"
#include "testutil.h"

struct side {
	struct ipcq *in, *out;
	uint64_t rounds;
	int first;              /* sends first */
	uint64_t progress;
};

static struct side sides[2];

static void report(void)
{
	t_say("  threads at rounds ");
	t_say_u64(__atomic_load_n(&sides[0].progress, __ATOMIC_RELAXED));
	t_say(" and ");
	t_say_u64(__atomic_load_n(&sides[1].progress, __ATOMIC_RELAXED));
	t_say("\n");
}

static void *player(void *arg)
{
	struct side *s = (struct side *)arg;
	uint64_t v;
	for (uint64_t i = 1; i <= s->rounds; i++) {
		if (s->first) {
			CHECK_RC(ipcq_send(s->out, &i, sizeof(i), IPCQ_FOREVER), 0);
			CHECK_RC(ipcq_recv(s->in, &v, sizeof(v), NULL, IPCQ_FOREVER), sizeof(v));
		} else {
			CHECK_RC(ipcq_recv(s->in, &v, sizeof(v), NULL, IPCQ_FOREVER), sizeof(v));
			CHECK_RC(ipcq_send(s->out, &v, sizeof(v), IPCQ_FOREVER), 0);
		}
		if (v != i)
			T_FAIL("round %" PRIu64 ": got %" PRIu64, i, v);
		__atomic_store_n(&s->progress, i, __ATOMIC_RELAXED);
	}
	return NULL;
}

int main(void)
{
	const char *a = t_qname("tpa"), *b = t_qname("tpb");
	struct ipcq_config cfg = t_config(2, 8);
	cfg.spin_count = cfg.yield_count = 0;
	struct ipcq *qa = t_create(a, &cfg), *qb = t_create(b, &cfg);
	uint64_t rounds = t_count(100000, 10000);
	struct ipcq_attach_opts o = t_opts(IPCQ_WAIT_ADAPTIVE, 0, 0);
	sides[0] = (struct side){ t_open_attach(b, IPCQ_ROLE_CONSUMER, &o),
				  t_open_attach(a, IPCQ_ROLE_PRODUCER, &o), rounds, 1, 0 };
	sides[1] = (struct side){ t_open_attach(a, IPCQ_ROLE_CONSUMER, &o),
				  t_open_attach(b, IPCQ_ROLE_PRODUCER, &o), rounds, 0, 0 };
	t_watchdog(t_limit(60), "thread ping-pong", report);
	uint64_t t0 = t_now_ns();
	pthread_t t[2];
	for (int i = 0; i < 2; i++)
		CHECK(pthread_create(&t[i], NULL, player, &sides[i]) == 0);
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	t_watchdog(0, NULL, NULL);
	printf("thread ping-pong: %" PRIu64 " round trips in %.2f s\n", rounds,
	       (double)(t_now_ns() - t0) / 1e9);
	for (int i = 0; i < 2; i++) {
		CHECK_RC(ipcq_close(sides[i].in), 0);
		CHECK_RC(ipcq_close(sides[i].out), 0);
	}
	CHECK_RC(ipcq_close(qa), 0);
	CHECK_RC(ipcq_close(qb), 0);
	CHECK_RC(ipcq_unlink(a), 0);
	CHECK_RC(ipcq_unlink(b), 0);
	return 0;
}
