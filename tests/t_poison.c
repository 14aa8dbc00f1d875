/* A message that makes every ack-mode consumer abort() is quarantined in the side ring after max_deliveries (reason CONSUMER_CRASHED, payload intact) while every other message is delivered and acked. */
#include "testutil.h"

#define MAX_DELIVERIES 3u
#define NMSG 300u
#define POISON_SEQ 100u
#define NCONS 2

struct state {
	const char *name;
	struct t_ledger *l;
	int stop;
	int32_t producer_index;
};

static struct state *st;

static int producer(void *arg)
{
	(void)arg;
	struct ipcq *q = t_open_attach(st->name, IPCQ_ROLE_PRODUCER, NULL);
	st->producer_index = t_info(q).participant_index;
	uint8_t buf[128];
	for (uint64_t seq = 1; seq <= NMSG; seq++)
		CHECK_RC(t_ledger_send(st->l, q, buf, 0, seq, IPCQ_FOREVER), 0);
	CHECK_RC(ipcq_close(q), 0);
	return 0;
}

static int consumer(void *arg)
{
	unsigned slot = (unsigned)(uintptr_t)arg;
	uint64_t last[T_LEDGER_MAXP] = { 0 };
	struct ipcq_attach_opts o = IPCQ_ATTACH_OPTS_INIT;
	o.flags = IPCQ_ATTACH_ACK;
	o.prefetch = 1; /* it holds only the poison when it dies */
	struct ipcq *q = t_open_attach(st->name, IPCQ_ROLE_CONSUMER, &o);
	while (!__atomic_load_n(&st->stop, __ATOMIC_SEQ_CST)) {
		struct t_msgref m;
		struct ipcq_msginfo mi;
		int rc = t_ledger_recv_one(st->l, q, slot, 1, last, 5000000, &m, &mi, "consumer");
		if (rc == -ETIMEDOUT)
			continue;
		CHECK_OK(rc);
		if (m.seq == POISON_SEQ)
			abort(); /* the poison: this consumer cannot survive it */
		CHECK_RC(t_ledger_ack(st->l, q, slot, m, mi.token), 0);
	}
	CHECK_RC(ipcq_close(q), 0);
	return 0;
}

int main(void)
{
	uint64_t t0 = t_now_ns();
	st = (struct state *)t_shared(sizeof(*st));
	st->name = t_qname("poison");
	st->l = t_ledger_new(1, NMSG, 16, 128);
	st->producer_index = -1;
	struct ipcq_config cfg = t_config(32, 128);
	cfg.max_deliveries = MAX_DELIVERIES;
	cfg.side_capacity = 8;
	cfg.lease_capacity = 16;
	cfg.grace_us = 2000;
	struct ipcq *q = t_create(st->name, &cfg);
	t_watchdog(t_limit(60), "t_poison", NULL);

	pid_t cons[NCONS];
	for (unsigned i = 0; i < NCONS; i++)
		cons[i] = t_spawn(consumer, (void *)(uintptr_t)i);
	pid_t prod = t_spawn(producer, NULL);
	unsigned deaths = 0;
	int prod_done = 0;
	uint64_t cursor[T_LEDGER_MAXP] = { 0 };
	uint64_t dl = t_now_ns() + 30ull * 1000000000ull;
	unsigned round = 0;
	for (;;) {
		int s;
		pid_t pid = waitpid(-1, &s, WNOHANG);
		if (pid < 0 && errno != ECHILD)
			T_FAIL("waitpid: %s", strerror(errno));
		if (pid > 0) {
			t_kids_forget_(pid);
			if (pid == prod) {
				if (!t_status_ok(pid, s))
					T_FAIL("producer failed");
				prod_done = 1;
				continue;
			}
			unsigned i;
			for (i = 0; i < NCONS && cons[i] != pid; i++)
				;
			CHECK(i < NCONS);
			if (!WIFSIGNALED(s) || WTERMSIG(s) != SIGABRT) {
				t_status_ok(pid, s);
				T_FAIL("consumer %u died otherwise than by its abort()", i);
			}
			/* max_deliveries deaths put it in the side ring: no
			 * consumer may get it after that */
			if (++deaths > MAX_DELIVERIES)
				T_FAIL("%u consumers died of the poison: it was not quarantined after"
				       " max_deliveries (%u)", deaths, MAX_DELIVERIES);
			t_ledger_consumer_died(st->l, i, 1);
			cons[i] = t_spawn(consumer, (void *)(uintptr_t)i);
			continue;
		}
		struct ipcq_info in = t_info(q);
		/* done: everything but the poison acked, the poison in the
		 * side ring, and every consumer it killed reaped (a dying
		 * process drops its locks, so recovery can quarantine the
		 * poison before waitpid reports the death) */
		struct t_cell *pc = t_ledger_cell(st->l, 0, POISON_SEQ);
		if (prod_done && in.side_depth == 1 && in.depth == 0 && in.leased == 0 &&
		    in.redeliverable == 0 && deaths >= MAX_DELIVERIES) {
			pc->lost_ok = 1; /* accounted for: quarantined */
			if (t_ledger_all_done(st->l, cursor))
				break;
			pc->lost_ok = 0;
		}
		if (t_now_ns() > dl) {
			fprintf(stderr, "deaths %u, depth %" PRIu64 " leased %u redeliverable %u side %u\n",
				deaths, in.depth, in.leased, in.redeliverable, in.side_depth);
			t_ledger_print_missing(st->l, 10);
			T_FAIL("the pipeline did not get past the poison");
		}
		t_poll_pause(&round);
	}
	__atomic_store_n(&st->stop, 1, __ATOMIC_SEQ_CST);
	for (unsigned i = 0; i < NCONS; i++)
		if (t_reap(cons[i]) != 0)
			T_FAIL("consumer %u failed", i);

	/* The quarantined message, as the side ring tells it. */
	struct ipcq_poison pe[4];
	CHECK_RC(ipcq_poison_list(q, 0, pe, 4), 1);
	if (pe[0].reason != IPCQ_REASON_CONSUMER_CRASHED || pe[0].deliveries != MAX_DELIVERIES)
		T_FAIL("side entry: reason %u deliveries %u, expected reason %u (consumer crashed)"
		       " deliveries %u", pe[0].reason, pe[0].deliveries, IPCQ_REASON_CONSUMER_CRASHED,
		       MAX_DELIVERIES);
	CHECK(pe[0].seq == POISON_SEQ); /* the producer attached once: library seq = ours */
	CHECK(pe[0].producer == (uint32_t)st->producer_index);
	CHECK(pe[0].len == t_msg_len(0, POISON_SEQ, 16, 128));
	CHECK(pe[0].first_ns <= pe[0].last_ns);
	uint8_t buf[128];
	struct ipcq_poison pi;
	CHECK_RC(ipcq_poison_peek(q, pe[0].id, buf, sizeof(buf), &pi), (int)pe[0].len);
	CHECK(t_verify(buf, pe[0].len, 0, POISON_SEQ) == 0);
	CHECK(pi.id == pe[0].id && pi.reason == pe[0].reason);
	/* it killed exactly max_deliveries consumers, each delivery counted */
	if (deaths != MAX_DELIVERIES)
		T_FAIL("%u consumers died of the poison, expected %u", deaths, MAX_DELIVERIES);
	struct t_cell *pc = t_ledger_cell(st->l, 0, POISON_SEQ);
	CHECK(pc->got == MAX_DELIVERIES && pc->done == 0);
	pc->lost_ok = 1;
	uint64_t lost = 0;
	if (t_ledger_check(st->l, "poison", &lost) != 0 || lost != 1)
		T_FAIL("message set wrong (%" PRIu64 " unprocessed, expected only the poison)", lost);
	CHECK_RC(ipcq_poison_purge(q, pe[0].id), 1);
	CHECK(t_info(q).side_depth == 0);
	printf("poison quarantined after %u deliveries (%u consumer deaths); %" PRIu64
	       " messages received, %" PRIu64 " redelivered; %.2f s\n", pe[0].deliveries, deaths,
	       st->l->received, st->l->redelivered, (double)(t_now_ns() - t0) / 1e9);
	CHECK_RC(ipcq_close(q), 0);
	return 0;
}
