/* Named producers: duplicates and out-of-order sequences dropped and counted, gaps allowed, one live holder per name, takeover after SIGKILL and at each crash point, resume, full table, removal, bad attaches, msginfo.stream. */
#define T_INTERNALS 1
#include "testutil.h"

#define MAXLEN 96u

/* Open @qn and attach as the named producer @pname; returns the attach
 * result (the handle is closed on failure). */
static int named(const char *qn, const char *pname, struct ipcq **out)
{
	struct ipcq *q = NULL;
	struct ipcq_attach_opts o = IPCQ_ATTACH_OPTS_INIT;
	o.name = pname;
	o.flags = IPCQ_ATTACH_DEDUP;
	CHECK_OK(ipcq_open(qn, &q));
	int rc = ipcq_attach(q, IPCQ_ROLE_PRODUCER, &o);
	if (rc != 0) {
		CHECK_RC(ipcq_close(q), 0);
		return rc;
	}
	*out = q;
	return 0;
}

static struct ipcq *named_ok(const char *qn, const char *pname)
{
	struct ipcq *q = NULL;
	CHECK_RC(named(qn, pname, &q), 0);
	return q;
}

static uint64_t last_seq(struct ipcq *q)
{
	uint64_t s = UINT64_MAX;
	CHECK_RC(ipcq_last_seq(q, &s), 0);
	return s;
}

/* ipcq_send_seq of message (id, seq) with its pattern. */
static int send_seq(struct ipcq *q, uint32_t id, uint64_t seq)
{
	uint8_t buf[MAXLEN];
	uint32_t len = t_msg_len(id, seq, 16, MAXLEN);
	t_fill(buf, len, id, seq);
	return ipcq_send_seq(q, seq, buf, len, IPCQ_NOWAIT);
}

/* ipcq_send (the library numbers it) of message (id, seq). */
static int send_auto(struct ipcq *q, uint32_t id, uint64_t seq)
{
	uint8_t buf[MAXLEN];
	uint32_t len = t_msg_len(id, seq, 16, MAXLEN);
	t_fill(buf, len, id, seq);
	return ipcq_send(q, buf, len, IPCQ_NOWAIT);
}

/* Receive the next message: it must be (id, seq) of stream @stream (0: any
 * non-zero stream, returned).  @anon: an anonymous producer's message. */
static uint32_t expect(struct ipcq *c, uint32_t id, uint64_t seq, uint32_t stream, int anon)
{
	uint8_t buf[MAXLEN];
	struct ipcq_msginfo mi;
	uint32_t p;
	uint64_t s;
	memset(&mi, 0, sizeof(mi));
	int len = ipcq_recv(c, buf, sizeof(buf), &mi, IPCQ_NOWAIT);
	if (len < 0)
		T_FAIL("expected message (%u, %" PRIu64 "), ipcq_recv: %d (%s)", id, seq, len,
		       ipcq_strerror(len));
	if (len < 16)
		T_FAIL("expected message (%u, %" PRIu64 "), got %d bytes", id, seq, len);
	t_header(buf, &p, &s);
	if (p != id || s != seq)
		T_FAIL("expected message (%u, %" PRIu64 "), got (%u, %" PRIu64 ")%s", id, seq, p, s,
		       p == id && s < seq ? ": a duplicate reached the consumer" :
		       p == id ? ": a gap (message lost)" : "");
	if ((uint32_t)len != t_msg_len(id, seq, 16, MAXLEN) || t_verify(buf, (size_t)len, id, seq))
		T_FAIL("message (%u, %" PRIu64 "): content differs from what was sent", id, seq);
	if (mi.len != (uint64_t)len || mi.seq != seq || mi.deliveries != 1 || mi.flags != 0)
		T_FAIL("message (%u, %" PRIu64 "): info len %" PRIu64 " seq %" PRIu64
		       " deliveries %u flags %#x", id, seq, mi.len, mi.seq, mi.deliveries, mi.flags);
	if (anon) {
		if (mi.stream != 0)
			T_FAIL("anonymous message (%u, %" PRIu64 ") carries stream %u", id, seq, mi.stream);
	} else if (mi.stream == 0 || (stream != 0 && mi.stream != stream)) {
		T_FAIL("message (%u, %" PRIu64 ") of stream %u, expected stream %u", id, seq,
		       mi.stream, stream);
	}
	return mi.stream;
}

static void expect_empty(struct ipcq *c)
{
	uint8_t buf[MAXLEN];
	struct ipcq_msginfo mi;
	int rc = ipcq_recv(c, buf, sizeof(buf), &mi, IPCQ_NOWAIT);
	if (rc >= 0) {
		uint32_t p = 0;
		uint64_t s = 0;
		if (rc >= 16)
			t_header(buf, &p, &s);
		T_FAIL("queue should be empty, got message (%u, %" PRIu64 ") stream %u seq %" PRIu64,
		       p, s, mi.stream, mi.seq);
	}
	CHECK_RC(rc, -EAGAIN);
}

static int32_t index_of(struct ipcq *q)
{
	return t_info(q).participant_index;
}

/* Check that @ctr of the handle's participant entry is @want. */
static void check_ctr(const char *qn, struct ipcq *q, unsigned ctr, uint64_t want, const char *what)
{
	uint64_t v = t_ctr(qn, index_of(q), ctr);
	if (v != want)
		T_FAIL("%s counter is %" PRIu64 ", expected %" PRIu64, what, v, want);
}

static struct ipcq_config qconfig(uint32_t dedup_capacity)
{
	struct ipcq_config cfg = t_config(64, MAXLEN);
	cfg.max_participants = 16;
	cfg.dedup_capacity = dedup_capacity;
	return cfg;
}

/* ---- processes ------------------------------------------------------------ */

struct shm {
	const char *qn;
	const char *pname;
	uint32_t id;
	uint64_t from, to;   /* sequences to send */
	uint64_t want_last;  /* ipcq_last_seq() expected right after attach */
	int want_attach;     /* expected attach result */
	const char *crash;   /* IPCQ_CRASH for the child, or NULL */
	int hold;            /* after sending: report and wait to be killed */
	int ready;
};

/* A named producer in its own process: attach (expecting want_attach), check
 * last_seq, send from..to with ipcq_send_seq (duplicates up to want_last),
 * check its own duplicate counter, then detach or hold. */
static int producer_proc(void *arg)
{
	struct shm *s = (struct shm *)arg;
	struct ipcq *q = NULL;
	if (s->crash != NULL && setenv("IPCQ_CRASH", s->crash, 1) != 0)
		return 2;
	int rc = named(s->qn, s->pname, &q);
	if (rc != s->want_attach)
		T_FAIL("child: attach as %s returned %d (%s), expected %d", s->pname, rc,
		       ipcq_strerror(rc), s->want_attach);
	if (rc != 0)
		return 0;
	uint64_t l = last_seq(q);
	if (l != s->want_last)
		T_FAIL("child: %s resumed at last_seq %" PRIu64 ", expected %" PRIu64, s->pname, l,
		       s->want_last);
	uint64_t dups = 0;
	for (uint64_t seq = s->from; seq <= s->to; seq++) {
		int want = seq <= s->want_last ? IPCQ_SEND_DUPLICATE : 0;
		rc = send_seq(q, s->id, seq);
		if (rc != want)
			T_FAIL("child: %s send_seq(%" PRIu64 ") after resuming at %" PRIu64
			       " returned %d (%s), expected %d", s->pname, seq, s->want_last, rc,
			       rc < 0 ? ipcq_strerror(rc) : "", want);
		dups += rc == IPCQ_SEND_DUPLICATE;
		if (rc == 0)
			CHECK(last_seq(q) == seq);
	}
	check_ctr(s->qn, q, IPCQ_CTR_DUPLICATES, dups, "child duplicates");
	if (s->hold) {
		__atomic_store_n(&s->ready, 1, __ATOMIC_SEQ_CST);
		for (;;)
			pause();
	}
	CHECK_RC(ipcq_close(q), 0);
	return 0;
}

static void run_child(struct shm *s)
{
	pid_t pid = t_spawn(producer_proc, s);
	if (t_reap(pid) != 0)
		T_FAIL("producer process for %s failed", s->pname);
}

static pid_t start_holder(struct shm *s)
{
	s->hold = 1;
	s->ready = 0;
	pid_t pid = t_spawn(producer_proc, s);
	T_AWAIT(__atomic_load_n(&s->ready, __ATOMIC_SEQ_CST), 60);
	return pid;
}

static void kill_holder(pid_t pid)
{
	CHECK(kill(pid, SIGKILL) == 0);
	t_reap_killed(pid, SIGKILL);
}

/* ---- the cases -------------------------------------------------------------- */

/* Duplicates, out-of-order sequences, gaps, library numbering, counters,
 * streams; two holders refused (this process and another); detach and
 * re-attach resumes (here and in another process). */
static void basics(struct shm *s)
{
	const char *qn = t_qname("dedup");
	struct ipcq_config cfg = qconfig(4);
	struct ipcq *ctl = t_create(qn, &cfg);
	struct ipcq *c = t_open_attach(qn, IPCQ_ROLE_CONSUMER, NULL);
	struct ipcq *x = t_open_attach(qn, IPCQ_ROLE_PRODUCER, NULL);
	struct ipcq *a = named_ok(qn, "alpha");
	uint64_t v;

	CHECK(last_seq(a) == 0);
	CHECK_RC(ipcq_last_seq(NULL, &v), -EINVAL);
	CHECK_RC(ipcq_last_seq(a, NULL), -EINVAL);
	CHECK_RC(ipcq_last_seq(x, &v), -EPERM);
	CHECK_RC(ipcq_last_seq(ctl, &v), -EPERM);
	CHECK_RC(send_seq(x, 9, 1), -EPERM);
	CHECK_RC(send_seq(c, 9, 1), -EPERM);

	CHECK_RC(send_seq(a, 1, 5), 0);               /* a gap from 0 to 5 */
	CHECK(last_seq(a) == 5);
	CHECK_RC(send_seq(a, 1, 5), IPCQ_SEND_DUPLICATE);
	CHECK_RC(send_seq(a, 1, 3), IPCQ_SEND_DUPLICATE); /* out of order */
	CHECK_RC(send_seq(a, 1, 1), IPCQ_SEND_DUPLICATE);
	CHECK(last_seq(a) == 5);
	CHECK_RC(send_seq(a, 1, 9), 0);               /* gap */
	CHECK_RC(send_auto(a, 1, 10), 0);             /* the library assigns last + 1 */
	CHECK(last_seq(a) == 10);
	CHECK_RC(send_seq(a, 1, 10), IPCQ_SEND_DUPLICATE);
	CHECK_RC(send_seq(a, 1, 0), -EINVAL);
	CHECK_RC(send_auto(x, 7, 1), 0);              /* anonymous, interleaved */
	CHECK_RC(send_seq(a, 1, 11), 0);
	CHECK_RC(send_seq(a, 1, 8), IPCQ_SEND_DUPLICATE);
	CHECK(last_seq(a) == 11);

	struct ipcq_info info = t_info(ctl);
	CHECK(info.enqueued == 5 && info.depth == 5); /* duplicates never enqueued */
	CHECK(info.dedup_capacity == 4 && info.dedup_names == 1);
	check_ctr(qn, a, IPCQ_CTR_DUPLICATES, 5, "alpha duplicates");
	check_ctr(qn, a, IPCQ_CTR_SENT, 4, "alpha sent");
	check_ctr(qn, x, IPCQ_CTR_DUPLICATES, 0, "anonymous duplicates");

	uint32_t sa = expect(c, 1, 5, 0, 0);
	CHECK(sa >= 1 && sa <= 4);
	expect(c, 1, 9, sa, 0);
	expect(c, 1, 10, sa, 0);
	expect(c, 7, 1, 0, 1);
	expect(c, 1, 11, sa, 0);
	expect_empty(c);
	{
		struct t_peek pk;
		t_peek_open(&pk, qn);
		const struct ipcq_shm_dedup *e = t_peek_dedup(&pk, sa);
		CHECK(strcmp(e->name, "alpha") == 0);
		CHECK(__atomic_load_n(&e->last, __ATOMIC_SEQ_CST) == 11);
		CHECK(__atomic_load_n(&e->duplicates, __ATOMIC_SEQ_CST) == 5);
		CHECK(__atomic_load_n(&e->takeovers, __ATOMIC_SEQ_CST) == 0);
		t_peek_close(&pk);
	}

	/* a second name: its own stream and numbering */
	struct ipcq *b = named_ok(qn, "beta");
	CHECK(last_seq(b) == 0);
	CHECK_RC(send_auto(b, 2, 1), 0);
	CHECK_RC(send_seq(a, 1, 12), 0);
	CHECK_RC(send_seq(b, 2, 2), 0);
	uint32_t sb = expect(c, 2, 1, 0, 0);
	CHECK(sb != sa);
	expect(c, 1, 12, sa, 0);
	expect(c, 2, 2, sb, 0);
	CHECK(t_info(ctl).dedup_names == 2);

	/* one live holder per name: this process, then another process */
	struct ipcq *dup = NULL;
	uint32_t before = t_info(ctl).participants;
	CHECK_RC(named(qn, "alpha", &dup), -EBUSY);
	CHECK(t_info(ctl).participants == before); /* the refused handle left nothing */
	*s = (struct shm){ .qn = qn, .pname = "alpha", .want_attach = -EBUSY };
	run_child(s);
	*s = (struct shm){ .qn = qn, .pname = "beta", .want_attach = -EBUSY };
	run_child(s);
	CHECK(t_info(ctl).participants == before);
	CHECK_RC(send_seq(a, 1, 13), 0); /* the holder is unaffected */
	expect(c, 1, 13, sa, 0);

	/* clean detach, re-attach with the same handle: resumes */
	CHECK_RC(ipcq_detach(a), 0);
	CHECK_RC(ipcq_last_seq(a, &v), -EPERM);
	CHECK_RC(send_seq(a, 1, 14), -EPERM);
	struct ipcq_attach_opts o = IPCQ_ATTACH_OPTS_INIT;
	o.name = "alpha";
	o.flags = IPCQ_ATTACH_DEDUP;
	CHECK_RC(ipcq_attach(a, IPCQ_ROLE_PRODUCER, &o), 0);
	CHECK(last_seq(a) == 13);
	CHECK_RC(send_seq(a, 1, 13), IPCQ_SEND_DUPLICATE);
	CHECK_RC(send_seq(a, 1, 14), 0);
	CHECK(t_info(ctl).dedup_names == 2);
	CHECK_RC(ipcq_close(a), 0);

	/* ... and from another process, which then detaches cleanly */
	*s = (struct shm){ .qn = qn, .pname = "alpha", .id = 1, .from = 10, .to = 17,
			   .want_last = 14 };
	run_child(s);
	a = named_ok(qn, "alpha");
	CHECK(last_seq(a) == 17);
	CHECK_RC(send_auto(a, 1, 18), 0);
	expect(c, 1, 14, sa, 0);
	expect(c, 1, 15, sa, 0);
	expect(c, 1, 16, sa, 0);
	expect(c, 1, 17, sa, 0);
	expect(c, 1, 18, sa, 0); /* the name keeps its stream */
	expect_empty(c);

	CHECK_RC(ipcq_close(a), 0);
	CHECK_RC(ipcq_close(b), 0);
	CHECK_RC(ipcq_close(x), 0);
	CHECK_RC(ipcq_close(c), 0);
	CHECK_RC(ipcq_close(ctl), 0);
	printf("basics: duplicates, gaps, numbering, streams, -EBUSY, resume: ok\n");
}

/* A holder killed with SIGKILL; a new process takes the name over, with
 * the holder's messages still in the ring, then with all of them consumed. */
static void takeover(struct shm *s)
{
	const char *qn = t_qname("dedup");
	struct ipcq_config cfg = qconfig(4);
	struct ipcq *ctl = t_create(qn, &cfg);
	struct ipcq *c = t_open_attach(qn, IPCQ_ROLE_CONSUMER, NULL);

	/* 1..20 sent, nothing consumed, holder killed */
	*s = (struct shm){ .qn = qn, .pname = "gamma", .id = 3, .from = 1, .to = 20 };
	pid_t pid = start_holder(s);
	struct ipcq *busy = NULL;
	CHECK_RC(named(qn, "gamma", &busy), -EBUSY);
	CHECK_RC(ipcq_dedup_remove(ctl, "gamma"), -EBUSY);
	kill_holder(pid);

	/* a new process takes over: replays 11..20 (duplicates), sends 21..25 */
	*s = (struct shm){ .qn = qn, .pname = "gamma", .id = 3, .from = 11, .to = 25,
			   .want_last = 20 };
	run_child(s);
	uint32_t sg = 0;
	for (uint64_t q = 1; q <= 25; q++)
		sg = expect(c, 3, q, sg, 0);
	expect_empty(c);

	/* everything consumed, then the holder is killed: the next one still
	 * knows where it stopped */
	*s = (struct shm){ .qn = qn, .pname = "gamma", .id = 3, .from = 20, .to = 30,
			   .want_last = 25 };
	pid = start_holder(s);
	for (uint64_t q = 26; q <= 30; q++)
		expect(c, 3, q, sg, 0);
	expect_empty(c);
	kill_holder(pid);
	*s = (struct shm){ .qn = qn, .pname = "gamma", .id = 3, .from = 1, .to = 32,
			   .want_last = 30 };
	run_child(s);
	expect(c, 3, 31, sg, 0);
	expect(c, 3, 32, sg, 0);
	expect_empty(c);
	{
		struct t_peek pk;
		t_peek_open(&pk, qn);
		const struct ipcq_shm_dedup *e = t_peek_dedup(&pk, sg);
		CHECK(__atomic_load_n(&e->takeovers, __ATOMIC_SEQ_CST) == 3);
		CHECK(__atomic_load_n(&e->last, __ATOMIC_SEQ_CST) == 32);
		/* 10 + 6 + 30 duplicates reported by the three processes */
		CHECK(__atomic_load_n(&e->duplicates, __ATOMIC_SEQ_CST) == 10 + 6 + 30);
		t_peek_close(&pk);
	}
	CHECK(t_info(ctl).dedup_names == 1);
	CHECK_RC(ipcq_close(c), 0);
	CHECK_RC(ipcq_close(ctl), 0);
	printf("takeover after SIGKILL (messages in the ring, and consumed): ok\n");
}

/* The holder dies at each named crash point of a send; the next holder's
 * last_seq is exactly the last accepted message.  Then a taker dies at
 * dedup.takeover and the one after it still resumes exactly. */
static void crashpoints(struct shm *s)
{
	static const struct {
		const char *point;
		int accepted; /* the 5th message was accepted when it died */
	} pts[] = {
		{ "send.claimed", 0 },
		{ "send.written", 0 },
		{ "send.published", 1 },
		{ "send.published_unrecorded", 1 }, /* only the ring shows it */
		{ "send.dedup_recorded", 1 },
	};
	const char *qn = t_qname("dedup");
	struct ipcq_config cfg = qconfig(8);
	struct ipcq *ctl = t_create(qn, &cfg);
	struct ipcq *c = t_open_attach(qn, IPCQ_ROLE_CONSUMER, NULL);
	char pname[32];

	for (unsigned i = 0; i < T_NELEM(pts); i++) {
		snprintf(pname, sizeof(pname), "cp%u", i);
		char spec[64];
		snprintf(spec, sizeof(spec), "%s:5", pts[i].point);
		*s = (struct shm){ .qn = qn, .pname = pname, .id = 10 + i, .from = 1, .to = 10,
				   .crash = spec };
		pid_t pid = t_spawn(producer_proc, s);
		t_reap_killed(pid, SIGKILL);
		uint64_t last = pts[i].accepted ? 5 : 4;
		*s = (struct shm){ .qn = qn, .pname = pname, .id = 10 + i, .from = 1, .to = 10,
				   .want_last = last };
		run_child(s);
		uint32_t st = 0;
		for (uint64_t q = 1; q <= 10; q++)
			st = expect(c, 10 + i, q, st, 0);
		expect_empty(c);
		printf("crash at %-25s: resumed at %" PRIu64 ", 1..10 delivered once each\n",
		       pts[i].point, last);
	}

	/* a holder dies mid-send (4 accepted, the 5th claimed and unpublished);
	 * the next process dies while taking the name over; the third resumes */
	*s = (struct shm){ .qn = qn, .pname = "cpt", .id = 20, .from = 1, .to = 10,
			   .crash = "send.written:5" };
	t_reap_killed(t_spawn(producer_proc, s), SIGKILL);
	*s = (struct shm){ .qn = qn, .pname = "cpt", .id = 20, .from = 1, .to = 10,
			   .crash = "dedup.takeover" };
	t_reap_killed(t_spawn(producer_proc, s), SIGKILL);
	*s = (struct shm){ .qn = qn, .pname = "cpt", .id = 20, .from = 1, .to = 10,
			   .want_last = 4 };
	run_child(s);
	uint32_t st = 0;
	for (uint64_t q = 1; q <= 10; q++)
		st = expect(c, 20, q, st, 0);
	expect_empty(c);
	{
		struct t_peek pk;
		t_peek_open(&pk, qn);
		/* the taker that died never finished its takeover */
		CHECK(__atomic_load_n(&t_peek_dedup(&pk, st)->takeovers, __ATOMIC_SEQ_CST) == 1);
		t_peek_close(&pk);
	}
	printf("crash at dedup.takeover           : the next taker resumed at 4\n");
	CHECK_RC(ipcq_close(c), 0);
	CHECK_RC(ipcq_close(ctl), 0);
}

/* A full dedup table refuses a new name and evicts nobody; removal. */
static void table(struct shm *s)
{
	const char *qn = t_qname("dedup");
	struct ipcq_config cfg = qconfig(3);
	struct ipcq *ctl = t_create(qn, &cfg);
	struct ipcq *c = t_open_attach(qn, IPCQ_ROLE_CONSUMER, NULL);
	struct ipcq *h = NULL;

	/* n1: held by another process; n2: held here; n3: detached */
	*s = (struct shm){ .qn = qn, .pname = "n1", .id = 1, .from = 1, .to = 3 };
	pid_t pid = start_holder(s);
	struct ipcq *n2 = named_ok(qn, "n2");
	CHECK_RC(send_seq(n2, 2, 1), 0);
	CHECK_RC(send_seq(n2, 2, 2), 0);
	struct ipcq *n3 = named_ok(qn, "n3");
	CHECK_RC(send_seq(n3, 3, 1), 0);
	CHECK_RC(ipcq_close(n3), 0);

	uint32_t before = t_info(ctl).participants;
	CHECK(t_info(ctl).dedup_names == 3);
	CHECK_RC(named(qn, "n4", &h), -ENOSPC);
	CHECK(t_info(ctl).dedup_names == 3);
	CHECK(t_info(ctl).participants == before);
	/* nobody evicted: the live holders keep their names and numbering */
	CHECK_RC(named(qn, "n1", &h), -EBUSY);
	CHECK_RC(named(qn, "n2", &h), -EBUSY);
	CHECK_RC(send_seq(n2, 2, 2), IPCQ_SEND_DUPLICATE);
	CHECK_RC(send_seq(n2, 2, 3), 0);

	/* removal */
	CHECK_RC(ipcq_dedup_remove(NULL, "n3"), -EINVAL);
	CHECK_RC(ipcq_dedup_remove(ctl, NULL), -EINVAL);
	CHECK_RC(ipcq_dedup_remove(ctl, ""), -EINVAL);
	CHECK_RC(ipcq_dedup_remove(ctl, "nope"), -ENOENT);
	CHECK_RC(ipcq_dedup_remove(ctl, "n1"), -EBUSY); /* held by another process */
	CHECK_RC(ipcq_dedup_remove(c, "n2"), -EBUSY);   /* held by this one */
	CHECK_RC(ipcq_dedup_remove(n2, "n2"), -EBUSY);  /* by the very handle */
	CHECK_RC(ipcq_dedup_remove(ctl, "n3"), 0);      /* detached: retired */
	CHECK_RC(ipcq_dedup_remove(ctl, "n3"), -ENOENT);
	CHECK(t_info(ctl).dedup_names == 2);
	struct ipcq *n4 = named_ok(qn, "n4");
	CHECK(last_seq(n4) == 0);
	CHECK_RC(send_seq(n4, 4, 1), 0);
	CHECK(t_info(ctl).dedup_names == 3);

	/* the holder of n1 dies: its name can be removed, and then starts
	 * again from 0 */
	kill_holder(pid);
	CHECK_RC(ipcq_dedup_remove(ctl, "n1"), 0);
	CHECK_RC(ipcq_dedup_remove(ctl, "n1"), -ENOENT);
	struct ipcq *n1 = named_ok(qn, "n1");
	CHECK(last_seq(n1) == 0);
	CHECK_RC(send_seq(n1, 1, 1), 0);
	CHECK(last_seq(n1) == 1);

	/* n3 was removed: re-attaching it now finds no room */
	CHECK_RC(named(qn, "n3", &h), -ENOSPC);

	uint32_t s1 = expect(c, 1, 1, 0, 0);
	expect(c, 1, 2, s1, 0);
	expect(c, 1, 3, s1, 0);
	uint32_t s2 = expect(c, 2, 1, 0, 0);
	expect(c, 2, 2, s2, 0);
	uint32_t s3 = expect(c, 3, 1, 0, 0);
	expect(c, 2, 3, s2, 0);
	uint32_t s4 = expect(c, 4, 1, 0, 0);
	uint32_t s1b = expect(c, 1, 1, 0, 0); /* the new n1 */
	expect_empty(c);
	CHECK(s1 != s2 && s1 != s3 && s2 != s3 && s4 != s1 && s4 != s2 && s1b != s2 && s1b != s4);

	CHECK_RC(ipcq_close(n1), 0);
	CHECK_RC(ipcq_close(n2), 0);
	CHECK_RC(ipcq_close(n4), 0);
	CHECK_RC(ipcq_close(c), 0);
	CHECK_RC(ipcq_close(ctl), 0);
	printf("full table: -ENOSPC, nobody evicted; ipcq_dedup_remove: ok\n");
}

/*
 * A name retired with ipcq_dedup_remove() while its old messages are still
 * in the ring (or consumed after it was retired), then taken again: the new
 * holder starts from 0, and after it dies its successor must resume at what
 * the new holder got accepted, not at the old holder's sequences.  Also with
 * a different name that takes the retired name's table entry.
 */
static void remove_reuse(struct shm *s)
{
	const char *qn = t_qname("dedup");
	struct ipcq_config cfg = qconfig(1);
	struct ipcq *ctl = t_create(qn, &cfg);
	struct ipcq *c = t_open_attach(qn, IPCQ_ROLE_CONSUMER, NULL);
	static const struct {
		const char *old_name, *new_name;
		int consume_first; /* consume the old messages before the takeover */
		const char *what;
	} cases[] = {
		{ "r1", "r1", 0, "same name, old messages still in the ring" },
		{ "r2", "r2", 1, "same name, old messages consumed after the removal" },
		{ "r3", "r4", 0, "another name in the retired entry, old messages in the ring" },
		{ "r5", "r6", 1, "another name in the retired entry, old messages consumed" },
	};

	for (unsigned i = 0; i < T_NELEM(cases); i++) {
		uint32_t oid = 30 + 2 * i, nid = 31 + 2 * i;
		/* the old holder: 1..10 accepted, then killed; the name retired */
		*s = (struct shm){ .qn = qn, .pname = cases[i].old_name, .id = oid, .from = 1,
				   .to = 10 };
		kill_holder(start_holder(s));
		CHECK_RC(ipcq_dedup_remove(ctl, cases[i].old_name), 0);
		/* the new holder starts from 0: 1..3 accepted, then killed */
		*s = (struct shm){ .qn = qn, .pname = cases[i].new_name, .id = nid, .from = 1,
				   .to = 3 };
		pid_t pid = start_holder(s);
		uint32_t so = 0, sn = 0;
		if (cases[i].consume_first) {
			for (uint64_t q = 1; q <= 10; q++)
				so = expect(c, oid, q, so, 0);
			for (uint64_t q = 1; q <= 3; q++)
				sn = expect(c, nid, q, sn, 0);
			expect_empty(c);
		}
		kill_holder(pid);
		/* its successor resumes at 3 */
		*s = (struct shm){ .qn = qn, .pname = cases[i].new_name, .id = nid, .from = 1,
				   .to = 12, .want_last = 3 };
		pid = t_spawn(producer_proc, s);
		if (t_reap(pid) != 0)
			T_FAIL("%s: the successor of the new holder did not resume at 3 (above: the"
			       " sequences it would lose as \"duplicates\")", cases[i].what);
		if (!cases[i].consume_first) {
			for (uint64_t q = 1; q <= 10; q++)
				so = expect(c, oid, q, so, 0);
			for (uint64_t q = 1; q <= 3; q++)
				sn = expect(c, nid, q, sn, 0);
		}
		for (uint64_t q = 4; q <= 12; q++)
			expect(c, nid, q, sn, 0);
		expect_empty(c);
		CHECK_RC(ipcq_dedup_remove(ctl, cases[i].new_name), 0);
		printf("removal and reuse (%s): ok\n", cases[i].what);
	}
	CHECK_RC(ipcq_close(c), 0);
	CHECK_RC(ipcq_close(ctl), 0);
}

/* The end of a name's sequence numbers (2^56 - 1): the library's own
 * numbering stops there, with -EOVERFLOW, and a batch is cut to what is
 * left; nothing past it is ever accepted. */
static void seq_end(void)
{
	const char *qn = t_qname("dedup");
	struct ipcq_config cfg = qconfig(4);
	struct ipcq *ctl = t_create(qn, &cfg);
	struct ipcq *c = t_open_attach(qn, IPCQ_ROLE_CONSUMER, NULL);
	struct ipcq *p = named_ok(qn, "end");
	const uint64_t max = (1ull << 56) - 1;
	uint8_t buf[MAXLEN];
	struct ipcq_buf b[4];
	void *z[2];

	for (unsigned i = 0; i < T_NELEM(b); i++)
		b[i] = (struct ipcq_buf){ buf, 16 };
	t_fill(buf, 16, 7, 1);
	CHECK_RC(send_seq(p, 7, max - 2), 0);
	/* two numbers left: a batch of 4 takes two */
	CHECK_RC(ipcq_send_batch(p, b, 4, IPCQ_NOWAIT), 2);
	CHECK_RC(last_seq(p) == max, 1);
	CHECK_RC(ipcq_send(p, buf, 16, IPCQ_NOWAIT), -EOVERFLOW);
	CHECK_RC(ipcq_send_batch(p, b, 4, IPCQ_NOWAIT), -EOVERFLOW);
	CHECK_RC(ipcq_reserve(p, 2, z, IPCQ_NOWAIT), -EOVERFLOW);
	CHECK_RC(send_seq(p, 7, max), IPCQ_SEND_DUPLICATE);
	CHECK_RC(last_seq(p) == max, 1);
	struct ipcq_msginfo m;
	for (uint64_t want = max - 2; want <= max; want++) {
		CHECK_RC(ipcq_recv(c, buf, sizeof(buf), &m, IPCQ_NOWAIT) >= 0, 1);
		CHECK_RC(m.seq == want, 1);
	}
	CHECK_RC(ipcq_recv(c, buf, sizeof(buf), NULL, IPCQ_NOWAIT), -EAGAIN);
	/* a successor learns the end too, and is refused the same way */
	CHECK_RC(ipcq_close(p), 0);
	p = named_ok(qn, "end");
	CHECK_RC(last_seq(p) == max, 1);
	CHECK_RC(ipcq_send(p, buf, 16, IPCQ_NOWAIT), -EOVERFLOW);
	CHECK_RC(ipcq_close(p), 0);
	CHECK_RC(ipcq_close(c), 0);
	CHECK_RC(ipcq_close(ctl), 0);
	printf("end of the sequence numbers: ok\n");
}

/* Attaches that must be refused, leaving the handle unattached. */
static void bad_attach(void)
{
	const char *qn = t_qname("dedup");
	struct ipcq_config cfg = qconfig(4);
	struct ipcq *ctl = t_create(qn, &cfg);
	struct ipcq *q = NULL;
	struct ipcq_attach_opts o = IPCQ_ATTACH_OPTS_INIT;
	CHECK_OK(ipcq_open(qn, &q));

	o.flags = IPCQ_ATTACH_DEDUP;
	o.name = NULL;
	CHECK_RC(ipcq_attach(q, IPCQ_ROLE_PRODUCER, &o), -EINVAL);
	o.name = "";
	CHECK_RC(ipcq_attach(q, IPCQ_ROLE_PRODUCER, &o), -EINVAL);
	o.name = "cons";
	CHECK_RC(ipcq_attach(q, IPCQ_ROLE_CONSUMER, &o), -EINVAL);
	CHECK_RC(send_seq(q, 1, 1), -EPERM);
	CHECK(t_info(ctl).participants == 0);
	CHECK(t_info(ctl).dedup_names == 0);
	/* both roles are fine */
	CHECK_RC(ipcq_attach(q, IPCQ_ROLE_PRODUCER | IPCQ_ROLE_CONSUMER, &o), 0);
	CHECK_RC(send_seq(q, 1, 3), 0);
	uint32_t st = expect(q, 1, 3, 0, 0);
	CHECK(st >= 1);
	CHECK_RC(ipcq_close(q), 0);
	CHECK_RC(ipcq_close(ctl), 0);

	/* a queue without a dedup table */
	qn = t_qname("dedup");
	cfg = qconfig(0);
	ctl = t_create(qn, &cfg);
	CHECK_OK(ipcq_open(qn, &q));
	o.name = "p";
	CHECK_RC(ipcq_attach(q, IPCQ_ROLE_PRODUCER, &o), -EINVAL);
	CHECK(t_info(ctl).participants == 0);
	CHECK_RC(ipcq_dedup_remove(ctl, "p"), -ENOENT);
	CHECK_RC(ipcq_close(q), 0);
	CHECK_RC(ipcq_close(ctl), 0);
	printf("attach without a name, without the producer role, without a table: -EINVAL\n");
}

int main(void)
{
	struct shm *s = (struct shm *)t_shared(sizeof(*s));
	t_watchdog(t_limit(120), "t_dedup", NULL);
	basics(s);
	takeover(s);
	crashpoints(s);
	table(s);
	bad_attach();
	seq_end();
	remove_reuse(s);
	t_watchdog(0, NULL, NULL);
	munmap(s, sizeof(*s));
	return 0;
}
