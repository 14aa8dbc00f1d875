/*
 * holders.h - the body shared by t_race_deliveries and t_race_entry_leak:
 * NKIDS consumers in turn take one message and die holding it (inside
 * ipcq_recv at a crash point, or holding an ipcq_peek), each adopting it
 * from the one before; then a live consumer gets it and the ring moves on.
 *
 * The including test defines, before including it: the enum (CAP, MAX,
 * LEN, NKIDS, PARTICIPANTS), HOLD_QNAME, HOLD_TEST, HOLD_LIMIT (watchdog
 * seconds) and HOLD_LAST_MIN (deliveries the last consumer must see); and,
 * after it, the three hooks declared below, which may use SOFT_FAIL(),
 * st and failed.
 */
#ifndef IPCQ_TEST_HOLDERS_H
#define IPCQ_TEST_HOLDERS_H

#define GRACE_US 1000u

struct state {
	const char *name;
	int peek;                       /* variant: die holding a peek */
	int attach_rc[NKIDS];
	struct ipcq_msginfo info[NKIDS]; /* what each consumer was handed */
	size_t len[NKIDS];
	uint8_t buf[NKIDS][MAX];
};

static struct state *st;
static int failed;
static const char *label;

/* Consumer k takes the message and dies holding it. */
static int consumer(void *arg)
{
	unsigned k = (unsigned)(uintptr_t)arg;
	if (!st->peek)
		t_crash_at(k == 0 ? "recv.claimed" : "recv.adopted_copied", 1);
	struct ipcq *q = NULL;
	CHECK_OK(ipcq_open(st->name, &q));
	int rc = ipcq_attach(q, IPCQ_ROLE_CONSUMER, NULL);
	st->attach_rc[k] = rc;
	if (rc < 0)
		return 4;
	if (st->peek) {
		struct ipcq_zmsg z;
		rc = ipcq_peek(q, &z, 1, 2000000000ll);
		if (rc == 1) {
			st->info[k] = z.info;
			st->len[k] = z.len;
			memcpy(st->buf[k], z.data, z.len <= MAX ? z.len : MAX);
			raise(SIGKILL); /* holding it */
		}
		fprintf(stderr, "consumer %u: ipcq_peek returned %d (%s)\n", k + 1, rc,
			ipcq_strerror(rc));
		return 3;
	}
	/* the library fills buffer and info before recv.adopted_copied */
	rc = ipcq_recv(q, st->buf[k], MAX, &st->info[k], 2000000000ll);
	fprintf(stderr, "consumer %u: ipcq_recv returned %d (%s) without dying at its crash"
		" point\n", k + 1, rc, rc < 0 ? ipcq_strerror(rc) : "a length");
	return 3;
}

static void send_one(struct ipcq *p, uint64_t seq)
{
	uint8_t m[LEN];
	t_fill(m, LEN, 0, seq);
	CHECK_RC(ipcq_send(p, m, LEN, IPCQ_NOWAIT), 0);
}

/* Receive message @seq with a bounded wait; checks it. */
static int recv_check(struct ipcq *c, uint64_t seq, uint32_t min_deliveries, const char *what)
{
	uint8_t m[MAX];
	struct ipcq_msginfo mi;
	memset(&mi, 0, sizeof(mi));
	int rc = ipcq_recv(c, m, sizeof(m), &mi, 500 * 1000000ll);
	if (rc != LEN || t_verify(m, LEN, 0, seq) != 0) {
		SOFT_FAIL("%s: ipcq_recv returned %d (%s), expected message %" PRIu64 " intact", what,
			  rc, rc < 0 ? ipcq_strerror(rc) : "a length", seq);
		return -1;
	}
	if (mi.deliveries < min_deliveries ||
	    (mi.deliveries > 1) != ((mi.flags & IPCQ_MSG_REDELIVERED) != 0)) {
		SOFT_FAIL("%s: message %" PRIu64 " with deliveries %u flags %#x (expected at least %u)",
			  what, seq, mi.deliveries, mi.flags, min_deliveries);
		return -1;
	}
	return 0;
}

/* The queue's configuration beyond the shared one. */
static void hold_config(struct ipcq_config *cfg);
/* Consumer k's attach failed (its rc in st->attach_rc[k]). */
static void hold_attach_failed(unsigned k);
/* Consumer k was handed message 1 intact, with *mi; prev: the deliveries
 * the one before it was handed (0 for the first). */
static void hold_check_delivery(unsigned k, const struct ipcq_msginfo *mi, uint32_t prev);

static void run(int peek)
{
	uint64_t t0 = t_now_ns();
	label = peek ? "die holding an ipcq_peek" : "die inside ipcq_recv";
	failed = 0;
	memset(st, 0, sizeof(*st));
	st->name = t_qname(HOLD_QNAME);
	st->peek = peek;
	struct ipcq_config cfg = t_config(CAP, MAX);
	cfg.grace_us = GRACE_US;
	cfg.max_participants = PARTICIPANTS;
	cfg.max_deliveries = 255; /* never quarantined here */
	hold_config(&cfg);
	struct ipcq *p = t_create(st->name, &cfg);
	CHECK_RC(ipcq_attach(p, IPCQ_ROLE_PRODUCER, NULL), 0);
	send_one(p, 1);

	unsigned k;
	uint32_t prev = 0;
	for (k = 0; k < NKIDS && !failed; k++) {
		int s = t_wait_end(t_spawn(consumer, (void *)(uintptr_t)k), 10, "consumer");
		if (WIFEXITED(s) && WEXITSTATUS(s) == 4) {
			hold_attach_failed(k);
			break;
		}
		if (!WIFSIGNALED(s) || WTERMSIG(s) != SIGKILL) {
			SOFT_FAIL("consumer %u %s, expected to die holding the message", k + 1,
				  t_status_str(s));
			break;
		}
		if (!peek && k == 0)
			continue; /* died before it was handed anything */
		const struct ipcq_msginfo *mi = &st->info[k];
		if (mi->len != LEN || t_verify(st->buf[k], LEN, 0, 1) != 0)
			SOFT_FAIL("consumer %u was handed %" PRIu64 " bytes, not message 1 intact",
				  k + 1, mi->len);
		else
			hold_check_delivery(k, mi, prev);
		prev = mi->deliveries;
	}

	/* a live consumer attaches and gets it; then the ring moves */
	if (!failed) {
		struct ipcq *c = NULL;
		CHECK_OK(ipcq_open(st->name, &c));
		int rc = ipcq_attach(c, IPCQ_ROLE_CONSUMER, NULL);
		if (rc < 0) {
			SOFT_FAIL("the last consumer: ipcq_attach returned %d (%s)", rc,
				  ipcq_strerror(rc));
		} else if (recv_check(c, 1, HOLD_LAST_MIN, "the last consumer") == 0) {
			for (uint64_t s = 2; s < 2 + 2 * CAP && !failed; s++) {
				send_one(p, s);
				recv_check(c, s, 1, "after the message");
			}
		}
		CHECK_RC(ipcq_close(c), 0);
	}
	if (!failed) {
		struct ipcq_info in = t_info(p);
		if (in.depth != 0 || in.participants != 1)
			SOFT_FAIL("queue not clean: depth %" PRIu64 " participants %u", in.depth,
				  in.participants);
	}
	CHECK_RC(ipcq_close(p), 0);
	CHECK_RC(ipcq_unlink(st->name), 0);
	printf("%-28s %s  %.2f s\n", label, failed ? "FAILED" : "ok",
	       (double)(t_now_ns() - t0) / 1e9);
	fflush(stdout);
}

int main(void)
{
	unsetenv("IPCQ_CRASH");
	unsetenv("IPCQ_FREEZE");
	st = (struct state *)t_shared(sizeof(*st));
	t_watchdog(t_limit(HOLD_LIMIT), HOLD_TEST, NULL);
	int any = 0;
	if (T_HAVE_POINTS) {
		run(0);
		any |= failed;
	} else {
		printf("die inside ipcq_recv: crash points are compiled only into debug builds\n");
	}
	run(1);
	any |= failed;
	return any ? 1 : 0;
}

#endif
