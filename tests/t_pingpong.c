/* No lost wake-up: many ping-pong hand-offs between two processes that always sleep on the futex (adaptive, spin 0, yield 0), with a watchdog that reports a hang. */
#include "ipcq.h"
#include "testutil.h"

struct pp {
	const char *ping, *pong;  /* parent -> child, child -> parent */
	uint64_t rounds;
	int batch;                /* use the batch calls */
	uint64_t parent_round;    /* progress, for the watchdog's report */
	uint64_t child_round;
};

static struct pp *cur;

static void report(void)
{
	t_say("  parent at round ");
	t_say_u64(__atomic_load_n(&cur->parent_round, __ATOMIC_RELAXED));
	t_say(", child at round ");
	t_say_u64(__atomic_load_n(&cur->child_round, __ATOMIC_RELAXED));
	t_say(" of ");
	t_say_u64(cur->rounds);
	t_say("\n");
}

static struct ipcq *attach(const char *name, unsigned role)
{
	struct ipcq_attach_opts o = t_opts(IPCQ_WAIT_ADAPTIVE, 0, 0);
	return t_open_attach(name, role, &o);
}

static void put(struct ipcq *q, int batch, uint64_t v)
{
	if (batch) {
		struct ipcq_buf b = { &v, sizeof(v) };
		CHECK_RC(ipcq_send_batch(q, &b, 1, IPCQ_FOREVER), 1);
	} else {
		CHECK_RC(ipcq_send(q, &v, sizeof(v), IPCQ_FOREVER), 0);
	}
}

static uint64_t get(struct ipcq *q, int batch)
{
	uint64_t v = 0;
	if (batch) {
		struct ipcq_buf b = { &v, sizeof(v) };
		CHECK_RC(ipcq_recv_batch(q, &b, NULL, 1, IPCQ_FOREVER), 1);
		CHECK(b.len == sizeof(v));
	} else {
		CHECK_RC(ipcq_recv(q, &v, sizeof(v), NULL, IPCQ_FOREVER), sizeof(v));
	}
	return v;
}

static int child(void *arg)
{
	struct pp *p = (struct pp *)arg;
	struct ipcq *in = attach(p->ping, IPCQ_ROLE_CONSUMER);
	struct ipcq *out = attach(p->pong, IPCQ_ROLE_PRODUCER);
	for (uint64_t i = 1; i <= p->rounds; i++) {
		uint64_t v = get(in, p->batch);
		if (v != i)
			T_FAIL("child: got %" PRIu64 " in round %" PRIu64, v, i);
		__atomic_store_n(&p->child_round, i, __ATOMIC_RELAXED);
		put(out, p->batch, ~v);
	}
	CHECK_RC(ipcq_close(in), 0);
	CHECK_RC(ipcq_close(out), 0);
	return 0;
}

static void run(uint64_t rounds, int batch, uint32_t cap)
{
	struct pp *p = (struct pp *)t_shared(sizeof(*p));
	struct ipcq_config cfg = t_config(cap, 8);
	cfg.spin_count = cfg.yield_count = 0;
	p->ping = t_qname("ping");
	p->pong = t_qname("pong");
	p->rounds = rounds;
	p->batch = batch;
	cur = p;
	struct ipcq *q1 = t_create(p->ping, &cfg), *q2 = t_create(p->pong, &cfg);
	struct ipcq *out = attach(p->ping, IPCQ_ROLE_PRODUCER);
	struct ipcq *in = attach(p->pong, IPCQ_ROLE_CONSUMER);

	t_watchdog(t_limit(60), "ping-pong", report);
	uint64_t t0 = t_now_ns();
	pid_t pid = t_spawn(child, p);
	for (uint64_t i = 1; i <= rounds; i++) {
		put(out, batch, i);
		uint64_t v = get(in, batch);
		if (v != ~i)
			T_FAIL("parent: got %" PRIx64 " in round %" PRIu64, v, i);
		__atomic_store_n(&p->parent_round, i, __ATOMIC_RELAXED);
	}
	CHECK(t_reap(pid) == 0);
	t_watchdog(0, NULL, NULL);
	printf("ping-pong%s cap %u: %" PRIu64 " round trips in %.2f s\n", batch ? " (batch)" : "",
	       cap, rounds, (double)(t_now_ns() - t0) / 1e9);
	CHECK(t_info(q1).depth == 0 && t_info(q2).depth == 0);
	CHECK_RC(ipcq_close(out), 0);
	CHECK_RC(ipcq_close(in), 0);
	CHECK_RC(ipcq_close(q1), 0);
	CHECK_RC(ipcq_close(q2), 0);
	CHECK_RC(ipcq_unlink(p->ping), 0);
	CHECK_RC(ipcq_unlink(p->pong), 0);
	munmap(p, sizeof(*p));
}

int main(void)
{
	uint64_t rounds = t_count(200000, 50000);
	run(rounds, 0, 2);
	run(rounds / 4, 1, 64);
	return 0;
}
