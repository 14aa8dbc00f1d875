/* Sole producers and consumers (IPCQ_ATTACH_SOLE): the seats keep every other producer (consumer) out and are freed by detach or death; a sole handle on a queue with priority lanes and in zero copy; forked sole pairs in every wait strategy, with batches, ack mode, late release and a small ring, every message checked in order; a sole producer or consumer killed at random and at each named point of its claim, and replaced by a new sole one: nothing lost, a message the ack consumer held unacked when killed delivered again, a redelivery only flagged; a sole producer frozen mid-send keeps its seat and its slot until it dies. */
#include "ipcq.h"
#include "testutil.h"

#include <linux/membarrier.h>
#include <sys/syscall.h>

/* White box: the handle's claim mode and control.sole (lib/). */
#include "ipcq_internal.h"

enum { MAXLEN = 64 };

struct shared {
	uint64_t n;              /* messages 1..n */
	uint32_t deliveries[4096 + 1];
	uint32_t unflagged[4096 + 1];
	uint64_t received;
	uint64_t holding;        /* ack: the sequence the consumer holds unacked, 0 none */
	uint32_t back[4096 + 1]; /* kills of the consumer holding it: as many again */
	int done;
};

static struct shared *sh;
static const char *qname;

static struct ipcq_attach_opts sole_opts(uint32_t flags, uint32_t strategy)
{
	struct ipcq_attach_opts o = t_opts(strategy, strategy == IPCQ_WAIT_ADAPTIVE ? 0u : UINT32_MAX,
					   strategy == IPCQ_WAIT_ADAPTIVE ? 0u : UINT32_MAX);
	o.flags = IPCQ_ATTACH_SOLE | flags;
	if (flags & IPCQ_ATTACH_ACK)
		o.prefetch = 4;
	return o;
}

static int attach_rc(struct ipcq *q, unsigned roles, uint32_t flags, uint32_t full_policy)
{
	struct ipcq_attach_opts o = IPCQ_ATTACH_OPTS_INIT;
	o.flags = flags;
	o.full_policy = full_policy;
	return ipcq_attach(q, roles, &o);
}

/* Close the creator's handle @c of queue @name and remove the queue. */
static void drop_queue(struct ipcq *c, const char *name)
{
	CHECK_RC(ipcq_close(c), 0);
	CHECK_RC(ipcq_unlink(name), 0);
}

static struct ipcq *open_q(void)
{
	struct ipcq *q = NULL;
	CHECK_OK(ipcq_open(qname, &q));
	return q;
}

/* ---- the seats --------------------------------------------------------- */

static void seats(void)
{
	const char *name = t_qname("sole_seats");
	struct ipcq_config cfg = t_config(16, MAXLEN);
	cfg.lease_capacity = 8;
	cfg.side_capacity = 4;
	struct ipcq *c = t_create(name, &cfg);
	qname = name;
	struct ipcq *sp = open_q(), *p2 = open_q(), *sc = open_q(), *c2 = open_q(), *m = open_q();

	/* a sole producer keeps other producers out, not consumers */
	CHECK_RC(attach_rc(sp, IPCQ_ROLE_PRODUCER, IPCQ_ATTACH_SOLE, 0), 0);
	CHECK_RC(attach_rc(p2, IPCQ_ROLE_PRODUCER, 0, 0), -EBUSY);
	CHECK_RC(attach_rc(p2, IPCQ_ROLE_PRODUCER, IPCQ_ATTACH_SOLE, 0), -EBUSY);
	CHECK_RC(attach_rc(p2, IPCQ_ROLE_PRODUCER | IPCQ_ROLE_CONSUMER, 0, 0), -EBUSY);
	/* a refused attach changes nothing: the handle is still unattached */
	CHECK_RC(ipcq_send(p2, "x", 1, IPCQ_NOWAIT), -EPERM);
	CHECK_RC(attach_rc(c2, IPCQ_ROLE_CONSUMER, 0, 0), 0);
	/* so does a sole consumer beside shared ones */
	CHECK_RC(attach_rc(sc, IPCQ_ROLE_CONSUMER, IPCQ_ATTACH_SOLE, 0), -EBUSY);
	CHECK_RC(ipcq_detach(c2), 0);
	CHECK_RC(attach_rc(sc, IPCQ_ROLE_CONSUMER, IPCQ_ATTACH_SOLE, 0), 0);
	CHECK_RC(attach_rc(c2, IPCQ_ROLE_CONSUMER, 0, 0), -EBUSY);
	/* a drop-oldest producer claims by deq: the consumers' seat too */
	CHECK_RC(ipcq_detach(sp), 0);
	CHECK_RC(attach_rc(p2, IPCQ_ROLE_PRODUCER, 0, IPCQ_FULL_DROP_OLDEST), -EBUSY);
	CHECK_RC(attach_rc(p2, IPCQ_ROLE_PRODUCER, 0, 0), 0);
	/* a sole producer while a shared one is attached */
	CHECK_RC(attach_rc(sp, IPCQ_ROLE_PRODUCER, IPCQ_ATTACH_SOLE, 0), -EBUSY);
	CHECK_RC(ipcq_detach(p2), 0);

	/* a sole handle with both roles, and messages through it */
	CHECK_RC(ipcq_detach(sc), 0);
	CHECK_RC(attach_rc(sp, IPCQ_ROLE_PRODUCER | IPCQ_ROLE_CONSUMER, IPCQ_ATTACH_SOLE, 0), 0);
	char buf[MAXLEN];
	for (int i = 0; i < 40; i++) { /* laps of the 16-slot ring */
		CHECK_RC(ipcq_send(sp, &i, sizeof(i), IPCQ_NOWAIT), 0);
		CHECK_RC(ipcq_recv(sp, buf, sizeof(buf), NULL, IPCQ_NOWAIT), (int)sizeof(i));
		if (memcmp(buf, &i, sizeof(i)))
			T_FAIL("sole handle: message %d came back wrong", i);
	}

	/* management: recovery on an unattached handle takes no seat; a
	 * replay needs the producers' seat, so only the sole producer's own
	 * handle replays */
	CHECK_RC(ipcq_recover(m, NULL), 0);
	CHECK_RC(ipcq_poison_put(sp, "poison", 6, IPCQ_REASON_NACKED, 0, 0), 0);
	CHECK_RC(ipcq_poison_replay(m, IPCQ_POISON_ALL), -EBUSY);
	CHECK_RC(attach_rc(m, IPCQ_ROLE_CONSUMER, 0, 0), -EBUSY); /* sp is the sole consumer too */
	CHECK_RC(ipcq_poison_replay(sp, IPCQ_POISON_ALL), 1);
	CHECK_RC(ipcq_recv(sp, buf, sizeof(buf), NULL, IPCQ_NOWAIT), 6);
	CHECK_RC(ipcq_close(sp), 0);
	/* the seats went with the detach */
	CHECK_RC(attach_rc(p2, IPCQ_ROLE_PRODUCER, 0, 0), 0);
	CHECK_RC(attach_rc(c2, IPCQ_ROLE_CONSUMER, 0, 0), 0);
	CHECK_RC(ipcq_poison_put(p2, "again", 5, IPCQ_REASON_NACKED, 0, 0), 0);
	CHECK_RC(ipcq_poison_replay(m, IPCQ_POISON_ALL), 1); /* temporary attach, seat shared */
	CHECK_RC(ipcq_recv(c2, buf, sizeof(buf), NULL, IPCQ_NOWAIT), 5);
	CHECK_RC(ipcq_close(p2), 0);
	CHECK_RC(ipcq_close(c2), 0);
	CHECK_RC(ipcq_close(m), 0);
	CHECK_RC(ipcq_close(sc), 0);
	drop_queue(c, name);

	/* groups: a sole producer yes, a sole consumer no */
	name = t_qname("sole_groups");
	cfg = t_config(16, MAXLEN);
	cfg.max_groups = 2;
	c = t_create(name, &cfg);
	CHECK_RC(ipcq_group_create(c, "g", 0), 0);
	qname = name;
	sp = open_q();
	sc = open_q();
	struct ipcq_attach_opts o = IPCQ_ATTACH_OPTS_INIT;
	o.flags = IPCQ_ATTACH_SOLE;
	o.group = "g";
	CHECK_RC(ipcq_attach(sc, IPCQ_ROLE_CONSUMER, &o), -EINVAL);
	CHECK_RC(attach_rc(sp, IPCQ_ROLE_PRODUCER, IPCQ_ATTACH_SOLE, 0), 0);
	o.flags = 0;
	CHECK_RC(ipcq_attach(sc, IPCQ_ROLE_CONSUMER, &o), 0);
	for (int i = 0; i < 40; i++) {
		CHECK_RC(ipcq_send(sp, &i, sizeof(i), IPCQ_NOWAIT), 0);
		CHECK_RC(ipcq_recv(sc, buf, sizeof(buf), NULL, IPCQ_NOWAIT), (int)sizeof(i));
		if (memcmp(buf, &i, sizeof(i)))
			T_FAIL("group: message %d came back wrong", i);
	}
	CHECK_RC(ipcq_close(sp), 0);
	CHECK_RC(ipcq_close(sc), 0);
	drop_queue(c, name);
}

/* Does this kernel offer what sole handles need (and is it not refused
 * on purpose, IPCQ_DEBUG_NO_MEMBARRIER)? */
static int membarrier_here(void)
{
	long cmds = syscall(__NR_membarrier, MEMBARRIER_CMD_QUERY, 0, 0);
	return cmds > 0 && (cmds & MEMBARRIER_CMD_GLOBAL_EXPEDITED) &&
	       (cmds & MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED) &&
	       !getenv("IPCQ_DEBUG_NO_MEMBARRIER");
}

#define STORE_BITS (IPCQ_PART_SOLE_STORE_ENQ | IPCQ_PART_SOLE_STORE_DEQ)

#if defined(IPCQ_DEBUG)
/* In a child, with membarrier refused: a sole attach keeps its seat and
 * claims by CAS, and control.sole stays clear. */
static int sole_without_membarrier(void *arg)
{
	(void)arg;
	setenv("IPCQ_DEBUG_NO_MEMBARRIER", "1", 1);
	struct ipcq *x = open_q(), *y = open_q();
	CHECK_RC(attach_rc(x, IPCQ_ROLE_PRODUCER | IPCQ_ROLE_CONSUMER, IPCQ_ATTACH_SOLE, 0), 0);
	CHECK(x->sole == 0 && ipcq__load_relaxed(&x->ctl->sole) == 0);
	CHECK((t_my_stats(x).flags & (IPCQ_ATTACH_SOLE | STORE_BITS)) == IPCQ_ATTACH_SOLE);
	CHECK_RC(attach_rc(y, IPCQ_ROLE_PRODUCER, 0, 0), -EBUSY);
	CHECK_RC(ipcq_send(x, "m", 1, IPCQ_NOWAIT), 0);
	char buf[8];
	CHECK_RC(ipcq_recv(x, buf, sizeof(buf), NULL, IPCQ_NOWAIT), 1);
	CHECK_RC(ipcq_close(y), 0);
	CHECK_RC(ipcq_close(x), 0);
	return 0;
}
#endif

/* The claim mode each attach gets (white box: the handle's sole bits and
 * control.sole): store claims where membarrier is offered, the CAS where
 * it is refused (debug builds) and for the consumer of a queue with
 * watermarks; control.sole set only by a handle that claims by store,
 * never by an attach that failed. */
static void modes(void)
{
	const char *name = t_qname("sole_modes");
	struct ipcq_config cfg = t_config(16, MAXLEN);
	cfg.max_participants = 2;
	struct ipcq *c = t_create(name, &cfg);
	qname = name;
	struct ipcq *a = open_q(), *b = open_q(), *x = open_q();
	CHECK_RC(attach_rc(a, IPCQ_ROLE_CONSUMER, 0, 0), 0);
	CHECK_RC(attach_rc(b, IPCQ_ROLE_CONSUMER, 0, 0), 0);
	/* the table is full: the sole attach fails, and leaves no trace */
	CHECK_RC(attach_rc(x, IPCQ_ROLE_PRODUCER, IPCQ_ATTACH_SOLE, 0), -EUSERS);
	CHECK(x->sole == 0 && ipcq__load_relaxed(&x->ctl->sole) == 0);
	CHECK_RC(ipcq_close(b), 0);
	CHECK_RC(ipcq_close(a), 0);
	if (membarrier_here()) {
		CHECK_RC(attach_rc(x, IPCQ_ROLE_PRODUCER | IPCQ_ROLE_CONSUMER, IPCQ_ATTACH_SOLE, 0), 0);
		CHECK(x->sole == (IPCQ__SOLE_ENQ | IPCQ__SOLE_DEQ));
		CHECK(ipcq__load_relaxed(&x->ctl->sole) == 1);
		CHECK((t_my_stats(x).flags & STORE_BITS) == STORE_BITS);
		printf("modes: sole handles claim by store here\n");
	} else {
		printf("modes: membarrier refused here: sole handles claim by CAS\n");
	}
#if defined(IPCQ_DEBUG)
	/* a kernel that refuses membarrier: the seat, not the store */
	CHECK_RC(ipcq_close(x), 0);
	drop_queue(c, name);
	name = t_qname("sole_modes_nomb");
	c = t_create(name, &cfg);
	qname = name;
	/* the registration is kept per process: ask in a child */
	if (t_reap(t_spawn(sole_without_membarrier, NULL)) != 0)
		T_FAIL("modes: a sole attach without membarrier");
	x = open_q();
#endif
	/* watermarks: the sole consumer claims by CAS, the producer by store */
	CHECK_RC(ipcq_close(x), 0);
	drop_queue(c, name);
	name = t_qname("sole_modes_wm");
	cfg = t_config(16, MAXLEN);
	cfg.high_watermark = 12;
	cfg.low_watermark = 4;
	c = t_create(name, &cfg);
	qname = name;
	x = open_q();
	CHECK_RC(attach_rc(x, IPCQ_ROLE_PRODUCER | IPCQ_ROLE_CONSUMER, IPCQ_ATTACH_SOLE, 0), 0);
	if (membarrier_here()) {
		CHECK(x->sole == IPCQ__SOLE_ENQ);
		CHECK((t_my_stats(x).flags & STORE_BITS) == IPCQ_PART_SOLE_STORE_ENQ);
	}
	struct ipcq *y = open_q();
	CHECK_RC(attach_rc(y, IPCQ_ROLE_CONSUMER, 0, 0), -EBUSY); /* the seat stays */
	CHECK_RC(ipcq_close(y), 0);
	CHECK_RC(ipcq_close(x), 0);
	drop_queue(c, name);
}

/* A sole handle (both roles) on a queue with priority lanes, and in zero
 * copy: each lane's cursor claimed by store, laps of a small ring, every
 * message back in its lane's order. */
static void lanes_and_zerocopy(void)
{
	const char *name = t_qname("sole_lanes");
	struct ipcq_config cfg = t_config(8, MAXLEN);
	cfg.priorities = 2;
	cfg.priority_share = 0; /* strict: lane 1 first */
	struct ipcq *c = t_create(name, &cfg);
	qname = name;
	struct ipcq *x = open_q();
	CHECK_RC(attach_rc(x, IPCQ_ROLE_PRODUCER | IPCQ_ROLE_CONSUMER, IPCQ_ATTACH_SOLE, 0), 0);
	uint32_t v, got;
	for (uint32_t lap = 0; lap < 20; lap++) {
		for (uint32_t i = 0; i < 6; i++) { /* 3 in each lane */
			struct ipcq_send_opts so = IPCQ_SEND_OPTS_INIT;
			so.priority = i & 1;
			v = lap * 100 + i;
			CHECK_RC(ipcq_send_ex(x, &v, sizeof(v), &so, IPCQ_NOWAIT), 0);
		}
		for (uint32_t k = 0; k < 6; k++) {
			/* lane 1 (odd i) first, each lane in order */
			uint32_t want = lap * 100 + (k < 3 ? 2 * k + 1 : 2 * (k - 3));
			CHECK_RC(ipcq_recv(x, &got, sizeof(got), NULL, IPCQ_NOWAIT), (int)sizeof(got));
			if (got != want)
				T_FAIL("lanes: lap %u, message %u where %u was due", lap, got, want);
		}
	}
	CHECK_RC(ipcq_close(x), 0);
	drop_queue(c, name);

	name = t_qname("sole_zc");
	cfg = t_config(8, MAXLEN);
	c = t_create(name, &cfg);
	qname = name;
	x = open_q();
	CHECK_RC(attach_rc(x, IPCQ_ROLE_PRODUCER | IPCQ_ROLE_CONSUMER, IPCQ_ATTACH_SOLE, 0), 0);
	for (uint32_t i = 0; i < 50; i++) { /* runs of 3 on a ring of 8 */
		void *bufs[3];
		size_t lens[3] = { 4, 4, 4 };
		CHECK_RC(ipcq_reserve(x, 3, bufs, IPCQ_NOWAIT), 3);
		for (uint32_t k = 0; k < 3; k++) {
			v = i * 3 + k;
			memcpy(bufs[k], &v, sizeof(v));
		}
		CHECK_RC(ipcq_commit(x, lens, 3), 0);
		struct ipcq_zmsg z[3];
		CHECK_RC(ipcq_peek(x, z, 3, IPCQ_NOWAIT), 3);
		for (uint32_t k = 0; k < 3; k++) {
			memcpy(&got, z[k].data, sizeof(got));
			if (z[k].len != 4 || got != i * 3 + k)
				T_FAIL("zero copy: %u where %u was committed", got, i * 3 + k);
		}
		CHECK_RC(ipcq_release(x), 0);
	}
	CHECK_RC(ipcq_close(x), 0);
	drop_queue(c, name);
}

/* ---- forked sole pairs --------------------------------------------------- */

struct pair {
	const char *label;
	uint32_t strategy;
	uint32_t cflags;         /* the consumer's flags besides IPCQ_ATTACH_SOLE */
	unsigned batch;          /* > 1: batches of up to this many */
	uint32_t capacity;
	int no_membarrier;       /* IPCQ_DEBUG_NO_MEMBARRIER in both processes */
};

static const struct pair *cur;

static int pair_producer(void *arg)
{
	(void)arg;
	if (cur->no_membarrier)
		setenv("IPCQ_DEBUG_NO_MEMBARRIER", "1", 1);
	struct ipcq_attach_opts o = sole_opts(0, cur->strategy);
	struct ipcq *q = t_open_attach(qname, IPCQ_ROLE_PRODUCER, &o);
	uint8_t bufs[32][MAXLEN];
	for (uint64_t s = 1; s <= sh->n;) {
		if (cur->batch > 1) {
			struct ipcq_buf b[32];
			unsigned k = (unsigned)(s % cur->batch) + 1;
			if (k > sh->n - s + 1)
				k = (unsigned)(sh->n - s + 1);
			for (unsigned i = 0; i < k; i++)
				b[i] = (struct ipcq_buf){ bufs[i],
							  t_fill(bufs[i], t_msg_len(0, s + i, 16, MAXLEN), 0,
								 s + i) };
			int rc = ipcq_send_batch(q, b, k, IPCQ_FOREVER);
			if (rc <= 0)
				T_FAIL("%s: ipcq_send_batch: %d (%s)", cur->label, rc, ipcq_strerror(rc));
			s += (uint64_t)rc;
		} else {
			size_t len = t_fill(bufs[0], t_msg_len(0, s, 16, MAXLEN), 0, s);
			CHECK_OK(ipcq_send(q, bufs[0], len, IPCQ_FOREVER));
			s++;
		}
	}
	CHECK_OK(ipcq_close(q));
	return 0;
}

static void take(const void *buf, int rc, const struct ipcq_msginfo *mi, uint64_t *last)
{
	uint32_t p;
	uint64_t seq;
	t_check_msg(buf, rc, 1, sh->n, last, cur->label, &p, &seq);
	if (rc != (int)t_msg_len(0, seq, 16, MAXLEN))
		T_FAIL("%s: message %llu has %d bytes", cur->label, (unsigned long long)seq, rc);
	if (mi && mi->seq != seq)
		T_FAIL("%s: msginfo seq %llu for message %llu", cur->label,
		       (unsigned long long)mi->seq, (unsigned long long)seq);
	sh->received++;
}

static int pair_consumer(void *arg)
{
	(void)arg;
	if (cur->no_membarrier)
		setenv("IPCQ_DEBUG_NO_MEMBARRIER", "1", 1);
	struct ipcq_attach_opts o = sole_opts(cur->cflags, cur->strategy);
	struct ipcq *q = t_open_attach(qname, IPCQ_ROLE_CONSUMER, &o);
	uint64_t last[1] = { 0 };
	uint8_t bufs[32][MAXLEN];
	while (sh->received < sh->n) {
		if (cur->batch > 1) {
			struct ipcq_buf b[32];
			struct ipcq_msginfo mi[32];
			for (unsigned i = 0; i < cur->batch; i++)
				b[i] = (struct ipcq_buf){ bufs[i], MAXLEN };
			int rc = ipcq_recv_batch(q, b, mi, cur->batch, IPCQ_FOREVER);
			if (rc <= 0)
				T_FAIL("%s: ipcq_recv_batch: %d (%s)", cur->label, rc, ipcq_strerror(rc));
			for (int i = 0; i < rc; i++)
				take(bufs[i], (int)b[i].len, &mi[i], last);
		} else {
			struct ipcq_msginfo mi;
			int rc = ipcq_recv(q, bufs[0], MAXLEN, &mi, IPCQ_FOREVER);
			take(bufs[0], rc, &mi, last);
			if (cur->cflags & IPCQ_ATTACH_ACK)
				CHECK_OK(ipcq_ack(q, mi.token));
		}
	}
	CHECK_OK(ipcq_close(q));
	return 0;
}

static void pairs(void)
{
	static const struct pair list[] = {
		{ "busy-poll", IPCQ_WAIT_BUSY_POLL, 0, 1, 1024, 0 },
		{ "adaptive, sleeping at once, ring of 8", IPCQ_WAIT_ADAPTIVE, 0, 1, 8, 0 },
		{ "yield, batches of 32", IPCQ_WAIT_YIELD, 0, 32, 64, 0 },
		{ "adaptive, batches of 7, ring of 8", IPCQ_WAIT_ADAPTIVE, 0, 7, 8, 0 },
		{ "ack mode, adaptive", IPCQ_WAIT_ADAPTIVE, IPCQ_ATTACH_ACK, 1, 16, 0 },
		{ "late release, busy-poll, ring of 8", IPCQ_WAIT_BUSY_POLL, IPCQ_ATTACH_LATE_RELEASE, 1, 8, 0 },
		/* debug builds: a kernel that refuses membarrier (the sole
		 * handles claim by CAS, sleepers sleep briefly) */
		{ "no membarrier, adaptive, ring of 8", IPCQ_WAIT_ADAPTIVE, 0, 1, 8, 1 },
	};
	for (size_t i = 0; i < T_NELEM(list); i++) {
		cur = &list[i];
		qname = t_qname("sole_pair");
		struct ipcq_config cfg = t_config(cur->capacity, MAXLEN);
		cfg.lease_capacity = 8;
		struct ipcq *c = t_create(qname, &cfg);
		sh->n = t_count(200000, 20000);
		sh->received = 0;
		pid_t pc = t_spawn(pair_consumer, NULL);
		pid_t pp = t_spawn(pair_producer, NULL);
		if (t_reap_watch(pp, t_limit(120), "sole producer") ||
		    t_reap_watch(pc, t_limit(120), "sole consumer"))
			T_FAIL("%s: a process failed", cur->label);
		struct ipcq_info in = t_info(c);
		if (in.depth != 0)
			T_FAIL("%s: depth %llu after all was received", cur->label,
			       (unsigned long long)in.depth);
		drop_queue(c, qname);
		printf("pair %s: %llu messages, in order\n", cur->label, (unsigned long long)sh->n);
	}
}

/* ---- kills and a freeze at the named points ------------------------------ */

static const char *point;

/* A named sole producer: resumes after the last accepted sequence. */
static int named_producer(void *arg)
{
	int crash = arg != NULL;
	if (crash)
		t_crash_at(point, 3);
	struct ipcq_attach_opts o = sole_opts(IPCQ_ATTACH_DEDUP, IPCQ_WAIT_ADAPTIVE);
	o.name = "sole";
	struct ipcq *q = t_open_attach(qname, IPCQ_ROLE_PRODUCER, &o);
	uint64_t s;
	CHECK_OK(ipcq_last_seq(q, &s));
	uint8_t buf[MAXLEN];
	for (s++; s <= sh->n; s++) {
		size_t len = t_fill(buf, t_msg_len(0, s, 16, MAXLEN), 0, s);
		CHECK_RC(ipcq_send_seq(q, s, buf, len, IPCQ_FOREVER), 0);
	}
	CHECK_OK(ipcq_close(q));
	return 0;
}

/* Receive messages of the named producer until all sh->n arrived at least
 * once (or sh->done), noting each delivery in the ledger; ack: acknowledge
 * each after noting it. */
static void receive_ledger(struct ipcq *q, int ack, const char *who)
{
	uint8_t buf[MAXLEN];
	while (__atomic_load_n(&sh->received, __ATOMIC_SEQ_CST) < sh->n &&
	       !__atomic_load_n(&sh->done, __ATOMIC_SEQ_CST)) {
		struct ipcq_msginfo mi;
		int rc = ipcq_recv(q, buf, sizeof(buf), &mi, 20 * 1000000ll);
		if (rc == -ETIMEDOUT)
			continue;
		uint32_t p;
		uint64_t seq;
		t_check_msg(buf, rc, 1, sh->n, NULL, who, &p, &seq);
		/* ack: held until the ack; a kill from here to the ack must
		 * bring it again (a kill in the ack may or may not) */
		if (ack)
			__atomic_store_n(&sh->holding, seq, __ATOMIC_SEQ_CST);
		if (__atomic_add_fetch(&sh->deliveries[seq], 1, __ATOMIC_SEQ_CST) == 1)
			__atomic_add_fetch(&sh->received, 1, __ATOMIC_SEQ_CST);
		else if (!(mi.flags & IPCQ_MSG_REDELIVERED))
			sh->unflagged[seq]++;
		if (ack) {
			/* the handling of the message, held: a busy wait of 5
			 * to 25 us, where kills land */
			uint64_t until = t_now_ns() + 5000 + (seq * 7919) % 20000;
			while (t_now_ns() < until)
				;
			__atomic_store_n(&sh->holding, 0, __ATOMIC_SEQ_CST);
			CHECK_OK(ipcq_ack(q, mi.token));
		}
	}
}

/* A sole consumer in fast mode; crash != NULL: dies at point. */
static int sole_consumer(void *arg)
{
	if (arg)
		t_crash_at(point, 3);
	struct ipcq_attach_opts o = sole_opts(0, IPCQ_WAIT_ADAPTIVE);
	struct ipcq *q = t_open_attach(qname, IPCQ_ROLE_CONSUMER, &o);
	receive_ledger(q, 0, "sole consumer");
	CHECK_OK(ipcq_close(q));
	return 0;
}

static void check_ledger(const char *what)
{
	for (uint64_t s = 1; s <= sh->n; s++) {
		if (sh->deliveries[s] == 0)
			T_FAIL("%s: message %llu lost", what, (unsigned long long)s);
		if (sh->unflagged[s])
			T_FAIL("%s: message %llu delivered again without the redelivered flag", what,
			       (unsigned long long)s);
	}
}

static void kills(void)
{
	/* the producer's points (a named producer: exactly once) */
	static const char *const ppoints[] = { "send.before_claim", "send.claimed", "send.written",
					       "send.published_unrecorded", "send.published" };
	/* the consumer's points before its release (fast mode redelivers
	 * what a consumer claimed and did not release) */
	static const char *const cpoints[] = { "recv.before_claim", "recv.claimed", "recv.copied" };
	struct ipcq_config cfg = t_config(8, MAXLEN);
	cfg.dedup_capacity = 4;
	cfg.grace_us = 2000;
	for (size_t i = 0; i < T_NELEM(ppoints) + T_NELEM(cpoints); i++) {
		int prod = i < T_NELEM(ppoints);
		point = prod ? ppoints[i] : cpoints[i - T_NELEM(ppoints)];
		qname = t_qname("sole_kill");
		struct ipcq *c = t_create(qname, &cfg);
		memset(sh, 0, sizeof(*sh));
		sh->n = 200;
		pid_t cons = prod ? t_spawn(sole_consumer, NULL) : t_spawn(sole_consumer, (void *)1);
		pid_t p1 = t_spawn(named_producer, prod ? (void *)1 : NULL);
		if (prod) {
			t_wait_crashed(p1, t_limit(30), "sole producer");
			/* its seat is free: a new sole producer takes over */
			pid_t p2 = t_spawn(named_producer, NULL);
			if (t_reap_watch(p2, t_limit(60), "new sole producer"))
				T_FAIL("%s: the new sole producer failed", point);
			if (t_reap_watch(cons, t_limit(60), "sole consumer"))
				T_FAIL("%s: the consumer failed", point);
			for (uint64_t s = 1; s <= sh->n; s++)
				if (sh->deliveries[s] != 1)
					T_FAIL("%s: message %llu delivered %u times (a named producer's "
					       "are exactly once)", point, (unsigned long long)s,
					       sh->deliveries[s]);
		} else {
			t_wait_crashed(cons, t_limit(30), "sole consumer");
			pid_t c2 = t_spawn(sole_consumer, NULL);
			if (t_reap_watch(p1, t_limit(60), "producer") ||
			    t_reap_watch(c2, t_limit(60), "new sole consumer"))
				T_FAIL("%s: a process failed", point);
		}
		check_ledger(point);
		drop_queue(c, qname);
		printf("killed at %s, replaced: all %llu delivered%s\n", point,
		       (unsigned long long)sh->n, prod ? " once each" : ", again only flagged");
	}
}

/* Random kills: a sole named producer and a sole ack-mode consumer, each
 * SIGKILLed at random moments and started again (taking the seat over),
 * until every message was received: each at least once, again only
 * flagged (the producer's name makes the ring's copies exactly once). */
static int killed_consumer(void *arg)
{
	(void)arg;
	struct ipcq_attach_opts o = sole_opts(IPCQ_ATTACH_ACK, IPCQ_WAIT_ADAPTIVE);
	struct ipcq *q = t_open_attach(qname, IPCQ_ROLE_CONSUMER, &o);
	receive_ledger(q, 1, "killed consumer");
	/* all arrived: stay (holding the seat) until the parent says */
	T_AWAIT(__atomic_load_n(&sh->done, __ATOMIC_SEQ_CST), t_limit(60));
	CHECK_OK(ipcq_close(q));
	return 0;
}

/* Messages delivered at least once, and once more after each kill of
 * the consumer holding them, by the ledger. */
static uint64_t arrived(void)
{
	uint64_t c = 0;
	for (uint64_t s = 1; s <= sh->n; s++)
		c += __atomic_load_n(&sh->deliveries[s], __ATOMIC_SEQ_CST) > sh->back[s];
	return c;
}

static void random_kills(void)
{
	qname = t_qname("sole_random");
	struct ipcq_config cfg = t_config(16, MAXLEN);
	cfg.dedup_capacity = 4;
	cfg.lease_capacity = 8;
	cfg.grace_us = 2000;
	struct ipcq *c = t_create(qname, &cfg);
	memset(sh, 0, sizeof(*sh));
	sh->n = 4096;
	uint32_t rng = 2463534242u;
	pid_t pp = t_spawn(named_producer, NULL), pc = t_spawn(killed_consumer, NULL);
	unsigned kills[2] = { 0, 0 }, rounds = t_stress() ? 400 : 60, held_at_kill = 0;
	for (unsigned r = 0; r < rounds; r++) {
		rng ^= rng << 13;
		rng ^= rng >> 17;
		rng ^= rng << 5;
		/* the kill schedule: a random moment of the traffic */
		struct timespec ts = { 0, (long)(rng % 3000) * 1000 };
		nanosleep(&ts, NULL);
		int prod = (rng >> 12) & 1;
		pid_t *victim = prod ? &pp : &pc;
		int st;
		if (!*victim)
			continue; /* the producer is done */
		if (waitpid(*victim, &st, WNOHANG) == *victim) {
			/* the producer finished: start no other */
			if (!prod || !t_status_ok(*victim, st))
				T_FAIL("random kills: the %s ended by itself (%s)",
				       prod ? "producer" : "consumer", t_status_str(st));
			t_kids_forget_(*victim);
			*victim = 0;
			continue;
		}
		kill(*victim, SIGKILL);
		while (waitpid(*victim, &st, 0) < 0)
			if (errno != EINTR)
				T_FAIL("waitpid: %s", strerror(errno));
		t_kids_forget_(*victim);
		if (prod && WIFEXITED(st) && WEXITSTATUS(st) == 0) {
			*victim = 0; /* it finished just before the kill */
			continue;
		}
		if (!WIFSIGNALED(st) || WTERMSIG(st) != SIGKILL)
			T_FAIL("random kills: the %s ended by itself (%s)", prod ? "producer" : "consumer",
			       t_status_str(st));
		kills[prod]++;
		uint64_t held = prod ? 0 : __atomic_exchange_n(&sh->holding, 0, __ATOMIC_SEQ_CST);
		if (held && held <= sh->n) {
			sh->back[held]++; /* killed holding it: it comes again */
			held_at_kill++;
		}
		*victim = t_spawn(prod ? named_producer : killed_consumer, NULL);
	}
	if (pp && t_reap_watch(pp, t_limit(60), "sole producer"))
		T_FAIL("random kills: the producer failed");
	/* every message arrived at least once: the ledger's count, not the
	 * consumer's (one killed between a delivery and its count leaves
	 * that count short for good) */
	T_AWAIT(arrived() == sh->n, t_limit(60));
	__atomic_store_n(&sh->done, 1, __ATOMIC_SEQ_CST);
	if (t_reap_watch(pc, t_limit(60), "sole consumer"))
		T_FAIL("random kills: the consumer failed");
	check_ledger("random kills");
	drop_queue(c, qname);
	/* (how many of each depends on the timing; kills() below kills each at
	 * every named point of its claim) */
	printf("random kills: the sole producer killed %u times, the sole consumer %u times (%u "
	       "holding a message, each delivered again), all %llu delivered, again only flagged\n",
	       kills[1], kills[0], held_at_kill, (unsigned long long)sh->n);
}

/* Frozen at send.claimed (alive, between P1s and its publish): its seat
 * and its slot stay its own; once killed, both go to the next. */
static int frozen_producer(void *arg)
{
	(void)arg;
	t_freeze_at("send.claimed", 1);
	struct ipcq_attach_opts o = sole_opts(0, IPCQ_WAIT_ADAPTIVE);
	struct ipcq *q = t_open_attach(qname, IPCQ_ROLE_PRODUCER, &o);
	uint8_t buf[MAXLEN];
	size_t len = t_fill(buf, 20, 0, 1);
	ipcq_send(q, buf, len, IPCQ_FOREVER);
	return 3; /* never: frozen, then killed */
}

static void freeze(void)
{
	qname = t_qname("sole_freeze");
	struct ipcq_config cfg = t_config(8, MAXLEN);
	cfg.grace_us = 1000;
	struct ipcq *c = t_create(qname, &cfg);
	pid_t fp = t_spawn(frozen_producer, NULL);
	t_wait_stopped(fp, t_limit(30), "frozen sole producer");
	struct ipcq *q = open_q(), *cons = open_q();
	CHECK_RC(attach_rc(q, IPCQ_ROLE_PRODUCER, IPCQ_ATTACH_SOLE, 0), -EBUSY);
	CHECK_RC(attach_rc(q, IPCQ_ROLE_PRODUCER, 0, 0), -EBUSY);
	CHECK_RC(attach_rc(cons, IPCQ_ROLE_CONSUMER, IPCQ_ATTACH_SOLE, 0), 0);
	/* a live producer's claim is not taken over, however long it sits */
	struct ipcq_recovery rep = { .size = sizeof(rep) };
	CHECK_RC(ipcq_recover(cons, &rep), 0);
	if (rep.skipped)
		T_FAIL("freeze: recovery skipped a live sole producer's claim");
	uint8_t buf[MAXLEN];
	CHECK_RC(ipcq_recv(cons, buf, sizeof(buf), NULL, IPCQ_NOWAIT), -EAGAIN);
	/* dead: its seat is free, its claim skipped, the ring moves on */
	kill(fp, SIGKILL);
	t_reap_killed(fp, SIGKILL);
	CHECK_RC(attach_rc(q, IPCQ_ROLE_PRODUCER, IPCQ_ATTACH_SOLE, 0), 0);
	for (int i = 0; i < 20; i++) {
		size_t len = t_fill(buf, 24, 0, (uint64_t)i + 2);
		CHECK_RC(ipcq_send(q, buf, len, IPCQ_FOREVER), 0);
		uint64_t last[1] = { (uint64_t)i + 1 };
		uint32_t p;
		uint64_t seq;
		int rc = ipcq_recv(cons, buf, sizeof(buf), NULL, 5 * 1000000000ll);
		t_check_msg(buf, rc, 1, 100, last, "after the freeze", &p, &seq);
		if (seq != (uint64_t)i + 2)
			T_FAIL("freeze: message %llu where %d was sent", (unsigned long long)seq, i + 2);
	}
	CHECK_RC(ipcq_close(q), 0);
	CHECK_RC(ipcq_close(cons), 0);
	drop_queue(c, qname);
	printf("frozen at send.claimed: seat and slot kept while alive, taken over once dead\n");
}

int main(void)
{
	sh = t_shared(sizeof(*sh));
	seats();
	printf("seats: sole and shared producers and consumers exclude each other\n");
	modes();
	lanes_and_zerocopy();
	printf("lanes and zero copy: every message in its order\n");
	pairs();
	random_kills();
#if T_HAVE_POINTS
	kills();
	freeze();
#else
	printf("no crash points in this build: kills and the freeze skipped\n");
#endif
	return 0;
}
