/* Late release (IPCQ_ATTACH_LATE_RELEASE): bad combinations are refused and change nothing; a receive keeps its slots until the handle's next receive, ipcq_release() or close, so the producer stops a lap on at them; a consumer killed holding them has them delivered again, flagged, and one that closes has them released, not redelivered; consumers killed at random while a producer sends: every message arrives, one held by a consumer killed arrives again (flagged), and a message arrives unflagged at most once. */
#include "testutil.h"

enum { CAP = 4, MAXLEN = 64 };
#define GRACE_US 2000u

static struct ipcq_attach_opts late_opts(void)
{
	struct ipcq_attach_opts o = IPCQ_ATTACH_OPTS_INIT;
	o.flags = IPCQ_ATTACH_LATE_RELEASE;
	return o;
}

/* Receive with @c and check it is producer 0's message @seq. */
static void expect(struct ipcq *c, uint64_t seq, int flagged)
{
	uint8_t buf[MAXLEN];
	struct ipcq_msginfo mi;
	int rc = ipcq_recv(c, buf, sizeof(buf), &mi, 3 * GRACE_US * 1000ll * 10);
	if (rc != (int)t_msg_len(0, seq, 0, MAXLEN) || t_verify(buf, (size_t)rc, 0, seq) != 0)
		T_FAIL("expected message %" PRIu64 ", got rc %d", seq, rc);
	if (!!(mi.flags & IPCQ_MSG_REDELIVERED) != flagged || (mi.deliveries > 1) != flagged)
		T_FAIL("message %" PRIu64 ": deliveries %u flags 0x%x, expected %s", seq,
		       mi.deliveries, mi.flags, flagged ? "a redelivery" : "a first delivery");
}

static void refused(const char *name, unsigned roles, uint32_t flags, const char *why)
{
	struct ipcq *q = NULL;
	struct ipcq_attach_opts o = late_opts();
	o.flags |= flags;
	if (flags & IPCQ_ATTACH_ACK)
		o.prefetch = 1;
	CHECK_OK(ipcq_open(name, &q));
	int rc = ipcq_attach(q, roles, &o);
	if (rc != -EINVAL)
		T_FAIL("late release %s: attach returned %d, expected -EINVAL", why, rc);
	if (!strstr(ipcq_errdetail(), "LATE_RELEASE"))
		T_FAIL("late release %s: errdetail \"%s\" does not name the flag", why,
		       ipcq_errdetail());
	/* nothing changed: the handle attaches as it may */
	o.flags = 0;
	CHECK_RC(ipcq_attach(q, roles, &o), 0);
	CHECK_RC(ipcq_close(q), 0);
}

static void bad_options(void)
{
	struct ipcq_config cfg = t_config(CAP, MAXLEN);
	cfg.lease_capacity = 4;
	const char *n = t_qname("late_bad");
	struct ipcq *q = t_create(n, &cfg);
	refused(n, IPCQ_ROLE_PRODUCER, 0, "for a producer");
	refused(n, IPCQ_ROLE_CONSUMER, IPCQ_ATTACH_ACK, "with IPCQ_ATTACH_ACK");
	CHECK_RC(t_info(q).participants, 0);
	CHECK_RC(ipcq_close(q), 0);

	struct ipcq_config g = t_config(CAP, MAXLEN);
	g.max_groups = 1;
	n = t_qname("late_bad_groups");
	q = t_create(n, &g);
	CHECK_RC(ipcq_group_create(q, "A", 0), 0);
	struct ipcq *c = NULL;
	struct ipcq_attach_opts o = late_opts();
	o.group = "A";
	CHECK_OK(ipcq_open(n, &c));
	CHECK_RC(ipcq_attach(c, IPCQ_ROLE_CONSUMER, &o), -EINVAL);
	o.flags = 0;
	CHECK_RC(ipcq_attach(c, IPCQ_ROLE_CONSUMER, &o), 0);
	CHECK_RC(ipcq_close(c), 0);
	CHECK_RC(ipcq_close(q), 0);

	struct ipcq_config l = t_config(CAP, MAXLEN);
	l.priorities = 2;
	n = t_qname("late_bad_lanes");
	q = t_create(n, &l);
	refused(n, IPCQ_ROLE_CONSUMER, 0, "on a queue with priorities");
	CHECK_RC(ipcq_close(q), 0);
}

/* One process: the slots of the last receive stay held until the next
 * receive, ipcq_release() or close. */
static void holds_until_next(void)
{
	struct ipcq_config cfg = t_config(CAP, MAXLEN);
	const char *n = t_qname("late_hold");
	struct ipcq *q = t_create(n, &cfg);
	struct ipcq *p = t_open_attach(n, IPCQ_ROLE_PRODUCER, NULL);
	struct ipcq_attach_opts o = late_opts();
	struct ipcq *c = t_open_attach(n, IPCQ_ROLE_CONSUMER, &o);
	uint64_t s;

	CHECK_RC(ipcq_release(c), -EINVAL); /* nothing held */
	for (s = 1; s <= CAP; s++)
		t_send_pattern(p, MAXLEN, s);
	expect(c, 1, 0);
	/* message 1's slot is still held: the ring is full */
	CHECK_RC(ipcq_send(p, "x", 1, IPCQ_NOWAIT), -EAGAIN);
	CHECK_RC(ipcq_release(c), 0);
	CHECK_RC(ipcq_release(c), -EINVAL);
	t_send_pattern(p, MAXLEN, s++); /* 5, in the slot 1 had */
	CHECK_RC(ipcq_send(p, "x", 1, IPCQ_NOWAIT), -EAGAIN);
	/* each receive releases the one before */
	expect(c, 2, 0);
	CHECK_RC(ipcq_send(p, "x", 1, IPCQ_NOWAIT), -EAGAIN);
	expect(c, 3, 0);
	t_send_pattern(p, MAXLEN, s++); /* 6, in 2's slot */
	CHECK_RC(ipcq_send(p, "x", 1, IPCQ_NOWAIT), -EAGAIN);
	/* a batch holds its whole run */
	uint8_t bufs[3][MAXLEN];
	struct ipcq_buf b[3] = { { bufs[0], MAXLEN }, { bufs[1], MAXLEN }, { bufs[2], MAXLEN } };
	CHECK_RC(ipcq_recv_batch(c, b, NULL, 3, IPCQ_NOWAIT), 3); /* 4, 5, 6 */
	for (unsigned i = 0; i < 3; i++)
		CHECK(t_verify(bufs[i], b[i].len, 0, 4 + i) == 0);
	t_send_pattern(p, MAXLEN, s++); /* 7, in 3's slot: released by the batch */
	CHECK_RC(ipcq_send(p, "x", 1, IPCQ_NOWAIT), -EAGAIN);
	/* an empty receive releases too */
	expect(c, 7, 0);
	CHECK_RC(ipcq_recv(c, bufs[0], MAXLEN, NULL, IPCQ_NOWAIT), -EAGAIN);
	for (unsigned i = 0; i < CAP; i++)
		t_send_pattern(p, MAXLEN, s++); /* 8..11: the whole ring */
	CHECK_RC(ipcq_send(p, "x", 1, IPCQ_NOWAIT), -EAGAIN);
	/* a peek releases what a receive kept, then holds its own */
	struct ipcq_zmsg z;
	expect(c, 8, 0);
	CHECK_RC(ipcq_peek(c, &z, 1, IPCQ_NOWAIT), 1);
	CHECK(t_verify(z.data, z.len, 0, 9) == 0);
	t_send_pattern(p, MAXLEN, s++); /* 12, in 8's slot */
	CHECK_RC(ipcq_release(c), 0);
	/* close releases: 10 held by the last receive */
	expect(c, 10, 0);
	CHECK_RC(ipcq_close(c), 0);
	t_send_pattern(p, MAXLEN, s++); /* 13 */
	t_send_pattern(p, MAXLEN, s++); /* 14 */
	struct ipcq_stats st = t_stats(q);
	CHECK(st.redelivered == 0 && st.recoveries == 0);
	CHECK_RC(ipcq_close(p), 0);
	CHECK_RC(ipcq_close(q), 0);
}

struct holder_arg {
	const char *name;
	int close_it; /* close after the receive instead of being killed */
};

static int holder(void *arg)
{
	struct holder_arg *a = arg;
	struct ipcq_attach_opts o = late_opts();
	struct ipcq *c = t_open_attach(a->name, IPCQ_ROLE_CONSUMER, &o);
	expect(c, 1, 0);
	if (a->close_it)
		CHECK_RC(ipcq_close(c), 0);
	raise(SIGSTOP);
	return 0;
}

/* A consumer killed after its receive returned (handling the message,
 * its slot held): the message goes to the next consumer, flagged.  One
 * that closed first: released, never delivered again. */
static void killed_holder(int close_it)
{
	struct ipcq_config cfg = t_config(CAP, MAXLEN);
	cfg.grace_us = GRACE_US;
	const char *n = t_qname("late_kill");
	struct ipcq *q = t_create(n, &cfg);
	struct ipcq *p = t_open_attach(n, IPCQ_ROLE_PRODUCER, NULL);
	struct ipcq_attach_opts o = late_opts();
	struct ipcq *c = t_open_attach(n, IPCQ_ROLE_CONSUMER, &o);
	for (uint64_t s = 1; s <= 2; s++)
		t_send_pattern(p, MAXLEN, s);
	struct holder_arg a = { n, close_it };
	pid_t h = t_spawn(holder, &a);
	t_wait_stopped(h, 20, "holder after its receive");
	expect(c, 2, 0);
	/* alive, the holder keeps message 1: another receive waits it out */
	uint8_t buf[MAXLEN];
	CHECK_RC(ipcq_recv(c, buf, sizeof(buf), NULL, 5 * GRACE_US * 1000ll), -ETIMEDOUT);
	kill(h, SIGKILL);
	t_reap_killed(h, SIGKILL);
	if (close_it) {
		CHECK_RC(ipcq_recv(c, buf, sizeof(buf), NULL, 5 * GRACE_US * 1000ll), -ETIMEDOUT);
		CHECK(t_stats(q).redelivered == 0);
	} else {
		expect(c, 1, 1);
		CHECK(t_stats(q).redelivered == 1);
	}
	CHECK_RC(ipcq_close(c), 0);
	CHECK_RC(ipcq_close(p), 0);
	CHECK_RC(ipcq_close(q), 0);
}

/* Random kills: NCONS late-release consumers, each spending a while on
 * every message, one killed and replaced every KILL_EVERY messages sent,
 * at whatever it was doing. */
enum { NCONS = 3, KILL_EVERY = 97, MAXN = 1 << 19 };

struct shared {
	uint32_t first[MAXN];      /* unflagged deliveries of each sequence */
	uint32_t again[MAXN];      /* flagged ones */
	uint32_t back[MAXN];       /* kills of a consumer holding it: as many flagged */
	uint64_t holding[NCONS];   /* per consumer: the sequence it holds, 0 none
				    * (or in a receive, which may release it) */
	uint64_t total;
	int stop;
};

static struct shared *sh;
static const char *kname;

static int consumer(void *arg)
{
	unsigned seat = (unsigned)(uintptr_t)arg;
	struct ipcq_attach_opts o = late_opts();
	struct ipcq *c = t_open_attach(kname, IPCQ_ROLE_CONSUMER, &o);
	uint8_t buf[MAXLEN];
	while (!__atomic_load_n(&sh->stop, __ATOMIC_SEQ_CST)) {
		struct ipcq_msginfo mi;
		/* the receive releases what we hold: a kill from here on may
		 * or may not leave it to come again */
		__atomic_store_n(&sh->holding[seat], 0, __ATOMIC_SEQ_CST);
		int rc = ipcq_recv(c, buf, sizeof(buf), &mi, 3 * GRACE_US * 1000ll);
		if (rc == -ETIMEDOUT)
			continue;
		if (rc < 0)
			T_FAIL("consumer: ipcq_recv: %d (%s)", rc, ipcq_strerror(rc));
		uint32_t pr;
		uint64_t seq;
		t_header(buf, &pr, &seq);
		if (pr != 0 || seq < 1 || seq >= MAXN ||
		    (size_t)rc != t_msg_len(0, seq, 16, MAXLEN) || t_verify(buf, (size_t)rc, 0, seq))
			T_FAIL("consumer: a message that was never sent (seq %" PRIu64 ", %d bytes)",
			       seq, rc);
		int flagged = (mi.flags & IPCQ_MSG_REDELIVERED) != 0;
		if (flagged != (mi.deliveries > 1))
			T_FAIL("message %" PRIu64 ": deliveries %u but flags 0x%x", seq,
			       mi.deliveries, mi.flags);
		if (!flagged && __atomic_fetch_add(&sh->first[seq], 1, __ATOMIC_SEQ_CST))
			T_FAIL("message %" PRIu64 " delivered twice without the redelivered flag", seq);
		if (flagged)
			__atomic_add_fetch(&sh->again[seq], 1, __ATOMIC_SEQ_CST);
		__atomic_add_fetch(&sh->total, 1, __ATOMIC_SEQ_CST);
		__atomic_store_n(&sh->holding[seat], seq, __ATOMIC_SEQ_CST);
		/* the handling of the message, its slot held: most kills land
		 * here (a busy wait of 10 to 40 us, not a sleep) */
		uint64_t until = t_now_ns() + 10000 + (seq * 7919) % 30000;
		while (t_now_ns() < until)
			;
	}
	CHECK_RC(ipcq_close(c), 0);
	return 0;
}

/* Has every message arrived, and one held by a killed consumer arrived
 * again (flagged) after each such kill? */
static int all_arrived(uint64_t n)
{
	for (uint64_t s = 1; s <= n; s++) {
		uint32_t again = __atomic_load_n(&sh->again[s], __ATOMIC_SEQ_CST);
		if ((!__atomic_load_n(&sh->first[s], __ATOMIC_SEQ_CST) && !again) || again < sh->back[s])
			return 0;
	}
	return 1;
}

static void random_kills(void)
{
	uint64_t n = t_count(20000, 6000);
	if (n >= MAXN)
		n = MAXN - 1;
	struct ipcq_config cfg = t_config(16, MAXLEN);
	cfg.grace_us = GRACE_US;
	cfg.max_participants = 16;
	kname = t_qname("late_kills");
	struct ipcq *q = t_create(kname, &cfg);
	struct ipcq *p = t_open_attach(kname, IPCQ_ROLE_PRODUCER, NULL);
	sh = (struct shared *)t_shared(sizeof(*sh));
	pid_t c[NCONS];
	unsigned kills = 0, held_at_kill = 0;
	for (unsigned i = 0; i < NCONS; i++)
		c[i] = t_spawn(consumer, (void *)(uintptr_t)i);
	uint64_t x = 0x9E3779B97F4A7C15ull ^ (uint64_t)getpid();
	for (uint64_t s = 1; s <= n; s++) {
		uint8_t buf[MAXLEN];
		size_t len = t_msg_len(0, s, 16, MAXLEN);
		t_fill(buf, len, 0, s);
		CHECK_RC(ipcq_send(p, buf, len, 10ll * 1000000000), 0);
		if (s % KILL_EVERY == 0) {
			x ^= x << 13, x ^= x >> 7, x ^= x << 17;
			unsigned v = (unsigned)(x % NCONS);
			kill(c[v], SIGKILL);
			t_reap_killed(c[v], SIGKILL);
			/* killed holding a message's slot: it comes again */
			uint64_t held = __atomic_exchange_n(&sh->holding[v], 0, __ATOMIC_SEQ_CST);
			if (held && held < MAXN) {
				sh->back[held]++;
				held_at_kill++;
			}
			c[v] = t_spawn(consumer, (void *)(uintptr_t)v);
			kills++;
		}
	}
	T_AWAIT_KIDS(all_arrived(n), 60);
	__atomic_store_n(&sh->stop, 1, __ATOMIC_SEQ_CST);
	for (unsigned i = 0; i < NCONS; i++)
		if (t_reap_watch(c[i], 20, "consumer") != 0)
			T_FAIL("a consumer failed");
	uint64_t again = 0;
	for (uint64_t s = 1; s <= n; s++)
		again += sh->again[s];
	struct ipcq_stats st = t_stats(q);
	if (st.info.depth)
		T_FAIL("depth %" PRIu64 " after every message arrived", st.info.depth);
	printf("random kills: %" PRIu64 " messages, %u consumers killed (%u holding a message, "
	       "each delivered again), %" PRIu64 " redelivered (flagged), none unflagged twice\n",
	       n, kills, held_at_kill, again);
	CHECK_RC(ipcq_close(p), 0);
	CHECK_RC(ipcq_close(q), 0);
}

int main(void)
{
	t_watchdog(t_limit(120), "t_late_release", NULL);
	bad_options();
	holds_until_next();
	killed_holder(0);
	killed_holder(1);
	random_kills();
	return 0;
}
