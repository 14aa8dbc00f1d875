/* Two dead records cover one slot: a consumer died with the message claimed, the ack-mode consumer that adopted it died with it leased and the slot not yet released; the next recoverer must deliver it once (from the lease, flagged redelivered), not adopt the slot again as well. */
#include "testutil.h"

enum { CAP = 8, MAX = 64, MAXSEQ = 64, NMSG = 6 };

#define GRACE_US 1000u

/* Children, in the order they attach (so, their participant entries). */
enum { E, A, D, NKIDS };
static const char *const kname[NKIDS] = {
	"recoverer E", "consumer A", "ack consumer D",
};

struct state {
	const char *name;
	struct t_ledger *l;
	int32_t index[NKIDS];
	int go[NKIDS];
	uint32_t first_deliveries; /* E's delivery of message 1 */
	uint32_t first_flags;
};

static struct state *st;

static int flag(int *f)
{
	return __atomic_load_n(f, __ATOMIC_SEQ_CST);
}

static int kid(void *arg)
{
	unsigned k = (unsigned)(uintptr_t)arg;
	struct ipcq_attach_opts o = IPCQ_ATTACH_OPTS_INIT;
	if (k == A) {
		t_crash_at("recv.claimed", 1); /* dies right after claiming */
	} else if (k == D) {
		t_crash_at("ack.adopted_leased", 1); /* dies with the adopted message leased */
		o.flags = IPCQ_ATTACH_ACK;
	} else {
		o.flags = IPCQ_ATTACH_ACK;
	}
	struct ipcq *q = t_open_attach(st->name, IPCQ_ROLE_CONSUMER, &o);
	__atomic_store_n(&st->index[k], t_info(q).participant_index, __ATOMIC_SEQ_CST);
	T_AWAIT(flag(&st->go[k]), 30);
	uint64_t last[T_LEDGER_MAXP] = { 0 }, cursor[T_LEDGER_MAXP] = { 0 };
	struct t_msgref m;
	struct ipcq_msginfo mi;
	if (k != E) {
		int rc = t_ledger_recv_one(st->l, q, k, k == D, last, 2000000000ll, &m, &mi, kname[k]);
		fprintf(stderr, "%s: ipcq_recv returned %d without dying at its crash point\n",
			kname[k], rc);
		return 3;
	}
	/* E: everything, acked, until all arrived and nothing more comes for
	 * 50 grace periods (a second copy would come within a few); wedged:
	 * 40 receives in a row (2 s in all) time out with messages missing,
	 * counted, not timed (a process not run is not a wedged ring) */
	unsigned timeouts = 0;
	for (;;) {
		int rc = t_ledger_recv_one(st->l, q, k, 1, last, 50 * GRACE_US * 1000ll, &m, &mi,
					   kname[k]);
		if (rc >= 0) {
			if (m.seq == 1 && st->first_deliveries == 0) {
				st->first_deliveries = mi.deliveries;
				st->first_flags = mi.flags;
			}
			CHECK_RC(t_ledger_ack(st->l, q, k, m, mi.token), 0);
		} else if (rc != -ETIMEDOUT) {
			T_FAIL("%s: ipcq_recv: %d (%s)", kname[k], rc, ipcq_strerror(rc));
		} else if (t_ledger_all_done(st->l, cursor)) {
			break;
		}
		timeouts = rc >= 0 ? 0 : timeouts + 1;
		if (timeouts >= 40) {
			fprintf(stderr, "%s: not everything arrived, %u receives of %u ms in a row"
				" timed out:\n", kname[k], timeouts, 50 * GRACE_US / 1000);
			t_ledger_print_missing(st->l, 8);
			return 1;
		}
	}
	CHECK_RC(ipcq_close(q), 0);
	return 0;
}

int main(void)
{
	t_need_points();
	t_watchdog(t_limit(60), "t_race_two_records", NULL);
	uint64_t t0 = t_now_ns();
	int failed = 0;
	st = (struct state *)t_shared(sizeof(*st));
	st->name = t_qname("tworec");
	st->l = t_ledger_new(1, MAXSEQ, 16, MAX);
	struct t_ledger *l = st->l;
	struct ipcq_config cfg = t_config(CAP, MAX);
	cfg.grace_us = GRACE_US;
	cfg.max_participants = 8;
	cfg.lease_capacity = 8;
	cfg.max_deliveries = 10;
	struct ipcq *p = t_create(st->name, &cfg);
	CHECK_RC(ipcq_attach(p, IPCQ_ROLE_PRODUCER, NULL), 0);
	uint8_t buf[MAX];
	pid_t pid[NKIDS];

	/* E, A, D attach in this order while all are alive: A's entry (and
	 * record) comes before D's in a recovery pass */
	for (unsigned k = E; k < NKIDS; k++) {
		st->index[k] = -1;
		pid[k] = t_spawn(kid, (void *)(uintptr_t)k);
		T_AWAIT(__atomic_load_n(&st->index[k], __ATOMIC_SEQ_CST) >= 0, 10);
	}
	if (!(st->index[E] < st->index[A] && st->index[A] < st->index[D]))
		T_FAIL("entries E %d, A %d, D %d: expected in attach order", st->index[E],
		       st->index[A], st->index[D]);

	/* message 1 at position 0: A claims it and dies; D adopts it, leases
	 * it and dies before releasing the slot.  Both records cover 0. */
	CHECK_RC(t_ledger_send(l, p, buf, 0, 1, IPCQ_NOWAIT), 0);
	__atomic_store_n(&st->go[A], 1, __ATOMIC_SEQ_CST);
	t_wait_crashed(pid[A], 10, kname[A]);
	__atomic_store_n(&st->go[D], 1, __ATOMIC_SEQ_CST);
	t_wait_crashed(pid[D], 10, kname[D]);
	for (uint64_t s = 2; s <= NMSG; s++)
		CHECK_RC(t_ledger_send(l, p, buf, 0, s, IPCQ_NOWAIT), 0);
	/* E's first recovery pass sees both dead */
	__atomic_store_n(&st->go[E], 1, __ATOMIC_SEQ_CST);
	if (t_wait_end(pid[E], 20, kname[E]) != 0) {
		fprintf(stderr, "%s failed\n", kname[E]);
		failed = 1;
	}

	struct t_cell *c1 = t_ledger_cell(l, 0, 1);
	if (c1->got != 1) {
		fprintf(stderr, "message 1 (position 0, covered by the records of dead A and dead D)"
			" received %u times: expected once\n", c1->got);
		failed = 1;
	} else if (st->first_deliveries < 2 || !(st->first_flags & IPCQ_MSG_REDELIVERED)) {
		fprintf(stderr, "message 1 received with deliveries %u flags %#x: expected flagged as"
			" redelivered\n", st->first_deliveries, st->first_flags);
		failed = 1;
	}
	struct ipcq_info in = t_info(p);
	if (in.depth != 0 || in.leased != 0 || in.redeliverable != 0) {
		fprintf(stderr, "queue not clean: depth %" PRIu64 " leased %u redeliverable %u\n",
			in.depth, in.leased, in.redeliverable);
		failed = 1;
	}
	if (t_ledger_check(l, "two records", NULL) != 0)
		failed = 1;
	CHECK_RC(ipcq_close(p), 0);
	printf("two records: %s, %" PRIu64 " received (%" PRIu64 " redelivered)  %.2f s\n",
	       failed ? "FAILED" : "ok", l->received, l->redelivered,
	       (double)(t_now_ns() - t0) / 1e9);
	return failed;
}
