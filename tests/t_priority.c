/* Priority lanes (ipcq_config.priorities): a receive takes the highest lane that has a message, each lane in per-producer order, the starvation guard serves the lower lanes one receive in 100 / priority_share, exactly; ack mode, batch and zero-copy receives take lanes the same way; a full lane refuses while others accept; a message poisoned on a lane is replayed onto it; a named producer's own sequence numbers go with a priority (IPCQ_SEND_F_SEQ); a producer frozen at send.claimed on lane 1 holds lane 1 back and nothing else, and once killed its slot is skipped on its own lane; a consumer frozen at recv.claimed on lane 2 holds only its message, which recovery gives back on lane 2, flagged; an ack consumer that adopted a lane-1 message and found no free lease entry (frozen at ack.adopted_waits) delivers that message once an entry is free, not what lane 0 holds at its position; ack consumers killed at random and at named points while 2 producers send over 3 lanes: every message delivered with its priority, a second delivery always flagged; bad settings refused. */
#include "testutil.h"

enum { MAXLEN = 64, CAP = 16, NPROD = T_KILL_PRODUCERS, NCONS = 3, NLANES = 3 };
#define GRACE_US 2000u
#define SEC 1000000000ll

static const char *qn;

static struct ipcq *make_queue(uint32_t cap, uint32_t lanes, uint32_t share, uint32_t leases)
{
	struct ipcq_config cfg = t_config(cap, MAXLEN);
	cfg.priorities = lanes;
	cfg.priority_share = share;
	cfg.lease_capacity = leases;
	cfg.grace_us = GRACE_US;
	cfg.max_deliveries = 100;
	qn = t_qname("prio");
	return t_create(qn, &cfg);
}

/* Send t_fill()'s message (producer, seq) at priority prio. */
static int send_prio(struct ipcq *p, uint32_t producer, uint64_t seq, uint32_t prio, int64_t timeout)
{
	uint8_t m[MAXLEN];
	size_t len = t_fill(m, t_msg_len(producer, seq, 16, MAXLEN), producer, seq);
	struct ipcq_send_opts o = IPCQ_SEND_OPTS_INIT;
	o.priority = prio;
	return ipcq_send_ex(p, m, len, &o, timeout);
}

/* Receive the message (producer, seq) at priority prio; its token. */
static uint64_t expect(struct ipcq *c, uint32_t producer, uint64_t seq, uint32_t prio,
		       uint32_t deliveries, int64_t timeout)
{
	uint8_t buf[MAXLEN];
	struct ipcq_msginfo mi;
	memset(&mi, 0, sizeof(mi));
	int rc = ipcq_recv(c, buf, sizeof(buf), &mi, timeout);
	uint32_t prod = 0;
	uint64_t got = 0;
	if (rc > 0)
		t_header(buf, &prod, &got);
	if (rc < 0 || prod != producer || got != seq || t_verify(buf, (size_t)rc, prod, got) != 0)
		T_FAIL("expected message %u/%llu (priority %u), got rc %d (%s), message %u/%llu",
		       producer, (unsigned long long)seq, prio, rc,
		       rc < 0 ? ipcq_strerror(rc) : "a length", prod, (unsigned long long)got);
	if (IPCQ_MSG_PRIORITY(mi.flags) != prio)
		T_FAIL("message %u/%llu: priority %u, sent at %u", producer, (unsigned long long)seq,
		       IPCQ_MSG_PRIORITY(mi.flags), prio);
	if (mi.deliveries != deliveries || ((mi.flags & IPCQ_MSG_REDELIVERED) != 0) != (deliveries > 1))
		T_FAIL("message %u/%llu: delivery %u flags 0x%x, expected delivery %u", producer,
		       (unsigned long long)seq, mi.deliveries, mi.flags, deliveries);
	return mi.token;
}

static void expect_none(struct ipcq *c)
{
	uint8_t buf[MAXLEN];
	CHECK_RC(ipcq_recv(c, buf, sizeof(buf), NULL, IPCQ_NOWAIT), -EAGAIN);
}

static void api(void)
{
	struct ipcq *q = NULL;
	struct ipcq_config cfg = t_config(CAP, MAXLEN);
	cfg.priorities = IPCQ_PRIORITIES_MAX + 1;
	CHECK_RC(ipcq_create(t_qname("prio_bad"), &cfg, &q), -EINVAL);
	cfg.priorities = 4;
	cfg.priority_share = 51;
	CHECK_RC(ipcq_create(t_qname("prio_bad"), &cfg, &q), -EINVAL);
	cfg.priority_share = 10;
	cfg.max_groups = 2;
	CHECK_RC(ipcq_create(t_qname("prio_bad"), &cfg, &q), -ENOTSUP);
	cfg.max_groups = 0;
	cfg.flags = IPCQ_CF_KEYED;
	CHECK_RC(ipcq_create(t_qname("prio_bad"), &cfg, &q), -ENOTSUP);
	cfg.flags = 0;
	cfg.high_watermark = 8;
	cfg.low_watermark = 4;
	CHECK_RC(ipcq_create(t_qname("prio_bad"), &cfg, &q), -ENOTSUP);
	CHECK(!t_shm_exists(t_qname("prio_bad")));

	/* a priority on a queue without lanes, or past the last lane */
	struct ipcq_config pc = t_config(CAP, MAXLEN);
	struct ipcq *plain = t_create(t_qname("prio_plain"), &pc);
	CHECK_RC(ipcq_attach(plain, IPCQ_ROLE_PRODUCER, NULL), 0);
	CHECK_RC(send_prio(plain, 0, 1, 1, IPCQ_NOWAIT), -EINVAL);
	CHECK_OK(send_prio(plain, 0, 1, 0, IPCQ_NOWAIT));
	struct ipcq_info in = t_info(plain);
	CHECK(in.priorities == 1 && in.depth == 1 && in.lane_enqueued[0] == 1);
	CHECK_OK(ipcq_close(plain));

	struct ipcq *p = make_queue(CAP, 4, 10, 0);
	CHECK_RC(ipcq_attach(p, IPCQ_ROLE_PRODUCER, NULL), 0);
	CHECK_RC(send_prio(p, 0, 1, 4, IPCQ_NOWAIT), -EINVAL);
	struct ipcq_send_opts o = IPCQ_SEND_OPTS_INIT;
	o.reserved32 = 1;
	CHECK_RC(ipcq_send_ex(p, "x", 1, &o, IPCQ_NOWAIT), -EINVAL);
	in = t_info(p);
	CHECK(in.priorities == 4 && in.priority_share == 10 && in.depth == 0);
	CHECK_OK(ipcq_close(p));
}

/* Strict priority (share 0), fast mode: lanes come out highest first,
 * each in send order; info counts each lane; ipcq_send() is lane 0. */
static void strict_order(void)
{
	enum { PER = 6, LANES = 4 };
	struct ipcq *p = make_queue(CAP, LANES, 0, 0);
	CHECK_RC(ipcq_attach(p, IPCQ_ROLE_PRODUCER, NULL), 0);
	struct ipcq *c = t_open_attach(qn, IPCQ_ROLE_CONSUMER, NULL);
	for (uint64_t i = 0; i < PER * LANES; i++)
		CHECK_OK(send_prio(p, 0, i + 1, (uint32_t)(i % LANES), IPCQ_NOWAIT));
	uint8_t m[MAXLEN];
	size_t len = t_fill(m, 20, 0, PER * LANES + 1);
	CHECK_OK(ipcq_send(p, m, len, IPCQ_NOWAIT)); /* lane 0, last */
	struct ipcq_info in = t_info(p);
	CHECK(in.depth == PER * LANES + 1);
	for (uint32_t l = 0; l < LANES; l++)
		CHECK(in.lane_enqueued[l] - in.lane_dequeued[l] == PER + (l == 0));
	for (uint32_t l = LANES; l-- > 0;)
		for (uint64_t i = 0; i < PER; i++)
			expect(c, 0, i * LANES + l + 1, l, 1, IPCQ_NOWAIT);
	expect(c, 0, PER * LANES + 1, 0, 1, IPCQ_NOWAIT);
	expect_none(c);
	in = t_info(p);
	CHECK(in.depth == 0 && in.enqueued == PER * LANES + 1 && in.dequeued == in.enqueued);
	CHECK_OK(ipcq_close(c));
	CHECK_OK(ipcq_close(p));
}

/* The guard: share 10 serves lane 0 at every 10th receive while lane 1
 * has messages, each lane still in order. */
static void guard_share(void)
{
	enum { N = 100 };
	struct ipcq *p = make_queue(128, 2, 10, 0);
	CHECK_RC(ipcq_attach(p, IPCQ_ROLE_PRODUCER, NULL), 0);
	struct ipcq *c = t_open_attach(qn, IPCQ_ROLE_CONSUMER, NULL);
	for (uint64_t i = 1; i <= N; i++)
		CHECK_OK(send_prio(p, 0, i, 0, IPCQ_NOWAIT));
	for (uint64_t i = 1; i <= N; i++)
		CHECK_OK(send_prio(p, 1, i, 1, IPCQ_NOWAIT));
	uint64_t next[2] = { 1, 1 };
	unsigned low_in_first = 0;
	for (unsigned r = 1; r <= 2 * N; r++) {
		uint8_t buf[MAXLEN];
		struct ipcq_msginfo mi;
		int rc = ipcq_recv(c, buf, sizeof(buf), &mi, IPCQ_NOWAIT);
		CHECK(rc > 0);
		uint32_t prod;
		uint64_t seq;
		t_header(buf, &prod, &seq);
		uint32_t lane = IPCQ_MSG_PRIORITY(mi.flags);
		if (prod != lane || seq != next[lane] || t_verify(buf, (size_t)rc, prod, seq))
			T_FAIL("receive %u: message %u/%llu on lane %u, expected %llu", r, prod,
			       (unsigned long long)seq, lane, (unsigned long long)next[lane]);
		next[lane]++;
		/* while lane 1 has messages, lane 0 exactly at the guard's turns */
		if (next[1] <= N || (lane == 1 && seq == N)) {
			if ((lane == 0) != (r % 10 == 0))
				T_FAIL("receive %u took lane %u (guard turns: every 10th)", r, lane);
			low_in_first += lane == 0;
		}
	}
	/* lane 1 lasts 111 receives: 99 in 11 rounds of 9, the 100th at 111 */
	CHECK(low_in_first == 11 && next[0] == N + 1 && next[1] == N + 1);
	expect_none(c);
	CHECK_OK(ipcq_close(c));
	CHECK_OK(ipcq_close(p));
}

/* Ack mode: highest lane first; a nacked message comes back first, with
 * its priority; batch and zero-copy receives in fast mode take lanes too;
 * a full lane refuses while another takes messages. */
static void ack_batch_peek_full(void)
{
	struct ipcq *p = make_queue(CAP, 3, 0, 8);
	CHECK_RC(ipcq_attach(p, IPCQ_ROLE_PRODUCER, NULL), 0);
	struct ipcq *c = t_ack_consumer(qn, 4);
	CHECK_OK(send_prio(p, 0, 1, 0, IPCQ_NOWAIT));
	CHECK_OK(send_prio(p, 0, 2, 2, IPCQ_NOWAIT));
	CHECK_OK(send_prio(p, 0, 3, 1, IPCQ_NOWAIT));
	uint64_t t2 = expect(c, 0, 2, 2, 1, IPCQ_NOWAIT);
	CHECK_OK(ipcq_nack(c, t2, IPCQ_NACK_REQUEUE));
	CHECK_OK(ipcq_ack(c, expect(c, 0, 2, 2, 2, IPCQ_NOWAIT)));
	CHECK_OK(ipcq_ack(c, expect(c, 0, 3, 1, 1, IPCQ_NOWAIT)));
	CHECK_OK(ipcq_ack(c, expect(c, 0, 1, 0, 1, IPCQ_NOWAIT)));
	expect_none(c);
	CHECK_OK(ipcq_close(c));

	struct ipcq *f = t_open_attach(qn, IPCQ_ROLE_CONSUMER, NULL);
	for (uint64_t i = 0; i < CAP; i++)
		CHECK_OK(send_prio(p, 1, i + 1, 2, IPCQ_NOWAIT));
	CHECK_RC(send_prio(p, 1, CAP + 1, 2, IPCQ_NOWAIT), -EAGAIN); /* lane 2 full */
	CHECK_OK(send_prio(p, 2, 1, 1, IPCQ_NOWAIT));
	CHECK_OK(send_prio(p, 2, 2, 0, IPCQ_NOWAIT));
	/* a batch takes from one lane: the highest */
	uint8_t bufs[4][MAXLEN];
	struct ipcq_buf b[4];
	struct ipcq_msginfo mi[4];
	for (int i = 0; i < 4; i++)
		b[i] = (struct ipcq_buf){ bufs[i], MAXLEN };
	CHECK_RC(ipcq_recv_batch(f, b, mi, 4, IPCQ_NOWAIT), 4);
	for (int i = 0; i < 4; i++) {
		uint32_t prod;
		uint64_t seq;
		t_header(bufs[i], &prod, &seq);
		CHECK(prod == 1 && seq == (uint64_t)i + 1 && IPCQ_MSG_PRIORITY(mi[i].flags) == 2);
	}
	/* zero copy: the rest of lane 2, then lane 1, then lane 0 */
	uint64_t seq2 = 5;
	while (seq2 <= CAP) {
		struct ipcq_zmsg z[4];
		int k = ipcq_peek(f, z, 4, IPCQ_NOWAIT);
		CHECK(k > 0);
		for (int i = 0; i < k; i++) {
			uint32_t prod;
			uint64_t seq;
			t_header(z[i].data, &prod, &seq);
			CHECK(prod == 1 && seq == seq2++ && IPCQ_MSG_PRIORITY(z[i].info.flags) == 2 &&
			      t_verify(z[i].data, z[i].len, prod, seq) == 0);
		}
		CHECK_OK(ipcq_release(f));
	}
	struct ipcq_zmsg z[4];
	CHECK_RC(ipcq_peek(f, z, 4, IPCQ_NOWAIT), 1);
	CHECK(IPCQ_MSG_PRIORITY(z[0].info.flags) == 1);
	CHECK_OK(ipcq_release(f));
	expect(f, 2, 2, 0, 1, IPCQ_NOWAIT);
	expect_none(f);
	CHECK_OK(send_prio(p, 1, CAP + 1, 2, IPCQ_NOWAIT)); /* room again */
	expect(f, 1, CAP + 1, 2, 1, IPCQ_NOWAIT);
	CHECK_OK(ipcq_close(f));
	CHECK_OK(ipcq_close(p));
}

/* A message poisoned on lane 2 keeps its lane in the side ring, and a
 * replay puts it back there: it overtakes lane 0 again. */
static void poison_replay_lane(void)
{
	struct ipcq *p = make_queue(CAP, 3, 0, 8);
	CHECK_RC(ipcq_attach(p, IPCQ_ROLE_PRODUCER, NULL), 0);
	struct ipcq *c = t_ack_consumer(qn, 4);
	CHECK_OK(send_prio(p, 0, 1, 2, IPCQ_NOWAIT));
	CHECK_OK(ipcq_nack(c, expect(c, 0, 1, 2, 1, IPCQ_NOWAIT), IPCQ_NACK_POISON));
	struct ipcq_poison e[2];
	CHECK_RC(ipcq_poison_list(p, 0, e, 2), 1);
	CHECK(e[0].priority == 2 && e[0].seq == 1);
	CHECK_OK(send_prio(p, 0, 2, 0, IPCQ_NOWAIT));
	CHECK_RC(ipcq_poison_replay(p, e[0].id), 1);
	uint8_t buf[MAXLEN];
	struct ipcq_msginfo mi;
	CHECK(ipcq_recv(c, buf, sizeof(buf), &mi, IPCQ_NOWAIT) > 0);
	uint32_t prod;
	uint64_t seq;
	t_header(buf, &prod, &seq);
	CHECK(seq == 1 && IPCQ_MSG_PRIORITY(mi.flags) == 2 && (mi.flags & IPCQ_MSG_REPLAYED));
	CHECK_OK(ipcq_ack(c, mi.token));
	CHECK_OK(ipcq_ack(c, expect(c, 0, 2, 0, 1, IPCQ_NOWAIT)));
	expect_none(c);
	CHECK_OK(ipcq_close(c));
	CHECK_OK(ipcq_close(p));
}

/* A named producer's own sequence numbers with a priority
 * (IPCQ_SEND_F_SEQ): accepted in order, a replay refused as a duplicate,
 * the priority kept; an anonymous producer may not. */
static void seq_with_priority(void)
{
	struct ipcq *q = make_queue(CAP, 2, 0, 0);
	struct ipcq_attach_opts ao = IPCQ_ATTACH_OPTS_INIT;
	ao.flags = IPCQ_ATTACH_DEDUP;
	ao.name = "bridge.in";
	struct ipcq *p = t_open_attach(qn, IPCQ_ROLE_PRODUCER, &ao);
	struct ipcq *anon = t_open_attach(qn, IPCQ_ROLE_PRODUCER, NULL);
	struct ipcq *c = t_open_attach(qn, IPCQ_ROLE_CONSUMER, NULL);
	uint8_t m[MAXLEN];
	struct ipcq_send_opts o = IPCQ_SEND_OPTS_INIT;
	o.flags = IPCQ_SEND_F_SEQ;
	o.seq = 10;
	o.priority = 0;
	size_t len = t_fill(m, 20, 0, 10);
	CHECK_RC(ipcq_send_ex(p, m, len, &o, IPCQ_NOWAIT), 0);
	o.seq = 11;
	o.priority = 1;
	len = t_fill(m, 20, 0, 11);
	CHECK_RC(ipcq_send_ex(p, m, len, &o, IPCQ_NOWAIT), 0);
	CHECK_RC(ipcq_send_ex(p, m, len, &o, IPCQ_NOWAIT), IPCQ_SEND_DUPLICATE);
	o.seq = 0;
	CHECK_RC(ipcq_send_ex(p, m, len, &o, IPCQ_NOWAIT), -EINVAL);
	o.seq = 12;
	CHECK_RC(ipcq_send_ex(anon, m, len, &o, IPCQ_NOWAIT), -EPERM);
	uint64_t last = 0;
	CHECK_OK(ipcq_last_seq(p, &last));
	CHECK(last == 11);
	/* the higher lane first; each with the name's own sequence */
	uint8_t buf[MAXLEN];
	struct ipcq_msginfo mi;
	CHECK_RC(ipcq_recv(c, buf, sizeof(buf), &mi, IPCQ_NOWAIT), 20);
	CHECK(mi.seq == 11 && IPCQ_MSG_PRIORITY(mi.flags) == 1 && mi.stream != 0);
	CHECK_RC(ipcq_recv(c, buf, sizeof(buf), &mi, IPCQ_NOWAIT), 20);
	CHECK(mi.seq == 10 && IPCQ_MSG_PRIORITY(mi.flags) == 0);
	expect_none(c);
	CHECK_OK(ipcq_close(c));
	CHECK_OK(ipcq_close(anon));
	CHECK_OK(ipcq_close(p));
	CHECK_OK(ipcq_close(q));
}

static int frozen_producer(void *arg)
{
	(void)arg;
	t_freeze_at("send.claimed", 1);
	struct ipcq *p = t_open_attach(qn, IPCQ_ROLE_PRODUCER, NULL);
	send_prio(p, 9, 1, 1, SEC); /* stops inside, its lane-1 slot claimed */
	return 3;
}

/* A producer frozen between its claim on lane 1 and its publish: lane 1
 * waits behind it, lane 0 goes on; killed, its slot is skipped on lane 1
 * (where its record says), and lane 1 moves again. */
static void frozen_producer_lane(void)
{
	struct ipcq *p = make_queue(CAP, 2, 0, 0);
	CHECK_RC(ipcq_attach(p, IPCQ_ROLE_PRODUCER, NULL), 0);
	struct ipcq *c = t_open_attach(qn, IPCQ_ROLE_CONSUMER, NULL);
	/* lane 0 has a message at the position the frozen one claims on
	 * lane 1, delivered before, so the two lanes' slots differ only by
	 * their lane */
	CHECK_OK(send_prio(p, 0, 1, 0, IPCQ_NOWAIT));
	expect(c, 0, 1, 0, 1, IPCQ_NOWAIT);
	pid_t kid = t_spawn(frozen_producer, NULL);
	t_wait_stopped(kid, 30, "producer at send.claimed");
	CHECK_OK(send_prio(p, 0, 2, 1, IPCQ_NOWAIT)); /* lane 1, behind the frozen */
	CHECK_OK(send_prio(p, 0, 3, 0, IPCQ_NOWAIT));
	expect(c, 0, 3, 0, 1, IPCQ_NOWAIT); /* lane 0 passes */
	expect_none(c);
	kill(kid, SIGKILL);
	t_reap_killed(kid, SIGKILL);
	/* recovery (after the grace period) skips the dead's slot on lane 1 */
	expect(c, 0, 2, 1, 1, 5 * SEC);
	expect_none(c);
	CHECK(t_info(p).depth == 0);
	CHECK_OK(ipcq_close(c));
	CHECK_OK(ipcq_close(p));
}

static int frozen_consumer(void *arg)
{
	(void)arg;
	t_freeze_at("recv.claimed", 1);
	struct ipcq *c = t_open_attach(qn, IPCQ_ROLE_CONSUMER, NULL);
	uint8_t buf[MAXLEN];
	ipcq_recv(c, buf, sizeof(buf), NULL, SEC); /* stops inside, lane 2 claimed */
	return 3;
}

/* A consumer frozen between its claim on lane 2 and its copy: the other
 * lanes go on; killed, its message is adopted on lane 2 and delivered
 * again, flagged, with its priority. */
static void frozen_consumer_lane(void)
{
	struct ipcq *p = make_queue(CAP, 3, 0, 0);
	CHECK_RC(ipcq_attach(p, IPCQ_ROLE_PRODUCER, NULL), 0);
	struct ipcq *c = t_open_attach(qn, IPCQ_ROLE_CONSUMER, NULL);
	CHECK_OK(send_prio(p, 0, 1, 0, IPCQ_NOWAIT));
	CHECK_OK(send_prio(p, 0, 2, 1, IPCQ_NOWAIT));
	expect(c, 0, 2, 1, 1, IPCQ_NOWAIT);
	expect(c, 0, 1, 0, 1, IPCQ_NOWAIT);
	CHECK_OK(send_prio(p, 0, 3, 2, IPCQ_NOWAIT));
	pid_t kid = t_spawn(frozen_consumer, NULL);
	t_wait_stopped(kid, 30, "consumer at recv.claimed");
	CHECK_OK(send_prio(p, 0, 4, 1, IPCQ_NOWAIT));
	CHECK_OK(send_prio(p, 0, 5, 0, IPCQ_NOWAIT));
	expect(c, 0, 4, 1, 1, IPCQ_NOWAIT);
	expect(c, 0, 5, 0, 1, IPCQ_NOWAIT);
	expect_none(c);
	kill(kid, SIGKILL);
	t_reap_killed(kid, SIGKILL);
	expect(c, 0, 3, 2, 2, 5 * SEC);
	expect_none(c);
	CHECK(t_info(p).depth == 0);
	CHECK_OK(ipcq_close(c));
	CHECK_OK(ipcq_close(p));
}

static int adopter(void *arg)
{
	(void)arg;
	t_freeze_at("ack.adopted_waits", 1);
	struct ipcq *c = t_ack_consumer(qn, 2);
	/* adopts the dead consumer's lane-1 message, stops when it finds no
	 * free lease entry for it; resumed, it must deliver that message,
	 * not what lane 0 holds at the same position */
	CHECK_OK(ipcq_ack(c, expect(c, 0, 1, 1, 2, 5 * SEC)));
	CHECK_OK(ipcq_close(c));
	return 0;
}

/* Ack mode: a consumer that adopted a dead consumer's message on lane 1
 * and found every lease entry taken (ack.adopted_waits) goes on with that
 * message once an entry is free, and reads nothing of lane 0 for it: the
 * message at the same position of lane 0 was delivered already, and the
 * adopted one must come out once, flagged, with its priority. */
static void adopted_waits_for_lease(void)
{
	struct ipcq *p = make_queue(CAP, 2, 0, 2);
	CHECK_RC(ipcq_attach(p, IPCQ_ROLE_PRODUCER, NULL), 0);
	struct ipcq *h = t_ack_consumer(qn, 2);
	CHECK_OK(send_prio(p, 0, 1, 1, IPCQ_NOWAIT));
	pid_t dead = t_spawn(frozen_consumer, NULL);
	t_wait_stopped(dead, 30, "consumer at recv.claimed");
	kill(dead, SIGKILL);
	t_reap_killed(dead, SIGKILL);
	/* lane 0, positions 0 and 1: h takes both lease entries */
	CHECK_OK(send_prio(p, 0, 2, 0, IPCQ_NOWAIT));
	CHECK_OK(send_prio(p, 0, 3, 0, IPCQ_NOWAIT));
	CHECK_OK(send_prio(p, 0, 4, 0, IPCQ_NOWAIT));
	uint64_t t2 = expect(h, 0, 2, 0, 1, IPCQ_NOWAIT);
	uint64_t t3 = expect(h, 0, 3, 0, 1, IPCQ_NOWAIT);
	pid_t kid = t_spawn(adopter, NULL);
	t_wait_stopped(kid, 30, "consumer at ack.adopted_waits");
	CHECK_OK(ipcq_ack(h, t2)); /* an entry free */
	t_resume(kid);
	int st = t_wait_end(kid, 30, "the adopting consumer");
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		T_FAIL("the adopting consumer %s", t_status_str(st));
	CHECK_OK(ipcq_ack(h, t3));
	CHECK_OK(ipcq_ack(h, expect(h, 0, 4, 0, 1, IPCQ_NOWAIT)));
	expect_none(h);
	struct ipcq_info in = t_info(p);
	CHECK(in.depth == 0 && in.leased == 0);
	CHECK_OK(ipcq_close(h));
	CHECK_OK(ipcq_close(p));
}

/* ---- random kills --------------------------------------------------------- */

static struct t_kill_ledger *sh;

static uint32_t prio_of(uint32_t prod, uint64_t seq)
{
	return (uint32_t)((seq * 7 + prod) % NLANES);
}

static int producer(void *arg)
{
	uint32_t id = (uint32_t)(uintptr_t)arg;
	struct ipcq *p = t_open_attach(qn, IPCQ_ROLE_PRODUCER, NULL);
	for (uint64_t s = 1; s <= sh->n && !sh->bad; s++) {
		int rc;
		while ((rc = send_prio(p, id, s, prio_of(id, s), SEC)) == -ETIMEDOUT)
			;
		if (rc < 0) {
			t_kill_fail(sh, "send %u/%llu: %d (%s)", id, (unsigned long long)s, rc,
				    ipcq_strerror(rc));
			return 1;
		}
	}
	CHECK_OK(ipcq_close(p));
	return 0;
}

static const char *const points[] = { "recv.claimed", "ack.filling", "ack.leased", "ack.acking",
				      "recover.lease_taken", "recover.adopted", "ack.adopted_leased",
				      "ack.adopted_waits" };

static int consumer(void *arg)
{
	unsigned arm = t_kill_arm(arg), seat = t_kill_seat(arg); /* arm 0: none; else point and pass */
	if (arm && T_HAVE_POINTS)
		t_crash_at(points[(arm - 1) % T_NELEM(points)], 1 + (arm - 1) / T_NELEM(points));
	struct ipcq *c = t_ack_consumer(qn, 2);
	uint8_t buf[MAXLEN];
	struct ipcq_msginfo mi;
	while (__atomic_load_n(&sh->done, __ATOMIC_SEQ_CST) < NPROD * sh->n && !sh->bad) {
		int rc = ipcq_recv(c, buf, sizeof(buf), &mi, 50 * 1000000ll);
		if (rc == -ETIMEDOUT)
			continue;
		if (rc < 0) {
			t_kill_fail(sh, "consumer: recv %d (%s)", rc, ipcq_strerror(rc));
			return 1;
		}
		uint32_t prod;
		uint64_t seq;
		t_header(buf, &prod, &seq);
		if (prod >= NPROD || seq < 1 || seq > sh->n || t_verify(buf, (size_t)rc, prod, seq) ||
		    IPCQ_MSG_PRIORITY(mi.flags) != prio_of(prod, seq)) {
			t_kill_fail(sh, "message %u/%llu corrupt or with a wrong priority %u", prod,
				    (unsigned long long)seq, IPCQ_MSG_PRIORITY(mi.flags));
			return 1;
		}
		uint8_t st = __atomic_load_n(&sh->state[prod][seq], __ATOMIC_SEQ_CST);
		if (st && !(mi.flags & IPCQ_MSG_REDELIVERED))
			t_kill_fail(sh, "message %u/%llu delivered again unflagged", prod,
				    (unsigned long long)seq);
		__atomic_fetch_add(&sh->deliveries[prod][seq], 1, __ATOMIC_SEQ_CST);
		__atomic_store_n(&sh->state[prod][seq], 2, __ATOMIC_SEQ_CST); /* tallied */
		rc = t_kill_ack(sh, seat, c, prod, seq, mi.token);
		if (rc < 0) {
			t_kill_fail(sh, "ack of %u/%llu: %d (%s)", prod, (unsigned long long)seq, rc,
				    ipcq_strerror(rc));
			return 1;
		}
	}
	CHECK_OK(ipcq_close(c));
	return 0;
}

static int wrong_priority(const struct ipcq_msginfo *mi, uint32_t prod, uint64_t seq)
{
	return IPCQ_MSG_PRIORITY(mi->flags) != prio_of(prod, seq);
}

static void random_kills(void)
{
	struct ipcq *q = make_queue(32, NLANES, 10, 32);
	sh = t_shared(sizeof(*sh));
	sh->n = t_kill_count(30000, 10000);
	pid_t cons[NCONS];
	struct t_kill_crew crew = { .cons = cons, .n = NCONS, .consumer = consumer,
				    .npoints = T_NELEM(points), .max_kills = 60 };
	uint64_t target = NPROD * sh->n, again = t_kill_run(sh, &crew, producer);
	struct ipcq *c = t_ack_consumer(qn, 1);
	uint64_t swept = t_kill_sweep(sh, c, MAXLEN, wrong_priority);
	printf("random kills: %u consumers killed at random, %u at named points; %llu messages "
	       "over %u lanes, each with its priority, %llu delivered again (flagged), %llu left "
	       "by the dead\n", crew.kills, crew.points_hit, (unsigned long long)target, NLANES,
	       (unsigned long long)again, (unsigned long long)swept);
	CHECK_OK(ipcq_close(c));
	struct ipcq_info in = t_info(q);
	CHECK(in.depth == 0 && in.leased == 0 && in.redeliverable == 0);
	CHECK_OK(ipcq_close(q));
}

int main(void)
{
	t_watchdog(t_limit(180), "t_priority", NULL);
	api();
	strict_order();
	guard_share();
	ack_batch_peek_full();
	poison_replay_lane();
	seq_with_priority();
	if (T_HAVE_POINTS) {
		frozen_producer_lane();
		frozen_consumer_lane();
		adopted_waits_for_lease();
	} else {
		printf("named points exist only in debug builds (asan, tsan): skipped those\n");
	}
	random_kills();
	printf("t_priority: ok\n");
	return 0;
}
