/* Drop-oldest at named points: a drop-oldest producer frozen at recv.before_claim, its discard of the head recorded, while a consumer peeks that head; resumed, its claim of exactly that position fails and it discards nothing (the message after the one being read survives) and waits for the release as its timeout allows; a head that is a skip (a producer killed at send.claimed, recovered) is passed to make room, at once and with nothing discarded; and a head claimed by a consumer killed at recv.claimed or recv.copied (one message or a batch of two) is adopted and dropped, one per send, at once, counted, the rest surviving in order; a dead consumer's claim that is not the oldest (a live one reads the head) is not dropped but delivered again. */
#include "testutil.h"

enum { CAP = 8, MAXLEN = 64 };

static const char *qn;

/* Receive the next message and check it is t_send_pattern()'s seq. */
static void expect(struct ipcq *c, uint64_t seq)
{
	uint8_t buf[MAXLEN];
	int rc = ipcq_recv(c, buf, sizeof(buf), NULL, IPCQ_NOWAIT);
	if (rc != (int)t_msg_len(0, seq, 0, MAXLEN) || t_verify(buf, (size_t)rc, 0, seq) != 0)
		T_FAIL("expected message %llu, got rc %d (%s)", (unsigned long long)seq, rc,
		       rc < 0 ? ipcq_strerror(rc) : "a message");
}

static void expect_empty(struct ipcq *c)
{
	uint8_t buf[MAXLEN];
	CHECK_RC(ipcq_recv(c, buf, sizeof(buf), NULL, IPCQ_NOWAIT), -EAGAIN);
}

/* A producer with the drop-oldest policy on queue qn. */
static struct ipcq *dropper(void)
{
	struct ipcq_attach_opts o = IPCQ_ATTACH_OPTS_INIT;
	o.full_policy = IPCQ_FULL_DROP_OLDEST;
	return t_open_attach(qn, IPCQ_ROLE_PRODUCER, &o);
}

/* Send t_fill()'s message @seq of @producer; ipcq_send()'s result. */
static int send_one(struct ipcq *d, uint32_t producer, uint64_t seq, int64_t timeout_ns)
{
	uint8_t buf[MAXLEN];
	size_t len = t_msg_len(producer, seq, 0, MAXLEN);
	t_fill(buf, len, producer, seq);
	return ipcq_send(d, buf, len, timeout_ns);
}

static int frozen_dropper(void *arg)
{
	(void)arg;
	t_freeze_at("recv.before_claim", 1);
	struct ipcq *d = dropper();
	/* the ring is full: the discard stops before its claim; resumed,
	 * the head is being read, so it waits out its timeout */
	CHECK_RC(send_one(d, 1, 1, 50 * 1000000ll), -ETIMEDOUT);
	CHECK(t_dropped_total(d) == 0);
	CHECK_OK(ipcq_close(d));
	return 0;
}

static int dies_claimed(void *arg)
{
	(void)arg;
	t_crash_at("send.claimed", 1);
	struct ipcq *p = t_open_attach(qn, IPCQ_ROLE_PRODUCER, NULL);
	t_send_pattern(p, MAXLEN, 1);
	T_FAIL("not killed at send.claimed");
}

/* The head is a skip (its producer died between claim and publish, and
 * recovery published the skip): the slot the send needs is emptied by
 * passing it, and the send goes in at once, IPCQ_NOWAIT, dropping none. */
static void skip_at_head(void)
{
	struct ipcq_config cfg = t_config(4, MAXLEN);
	qn = t_qname("drop_skip");
	struct ipcq *q = t_create(qn, &cfg);
	t_reap_killed(t_spawn(dies_claimed, NULL), SIGKILL);
	struct ipcq_recovery rep;
	memset(&rep, 0, sizeof(rep));
	rep.size = sizeof(rep);
	CHECK(ipcq_recover(q, &rep) >= 0);
	CHECK(rep.skipped == 1);
	struct ipcq *p = t_open_attach(qn, IPCQ_ROLE_PRODUCER, NULL);
	for (uint64_t s = 2; s <= 4; s++)
		t_send_pattern(p, MAXLEN, s);
	CHECK_RC(ipcq_send(p, "x", 1, IPCQ_NOWAIT), -EAGAIN); /* full */
	struct ipcq *d = dropper();
	CHECK_RC(send_one(d, 0, 5, IPCQ_NOWAIT), 0);
	CHECK(t_dropped_total(q) == 0);
	struct ipcq *c = t_open_attach(qn, IPCQ_ROLE_CONSUMER, NULL);
	for (uint64_t s = 2; s <= 5; s++)
		expect(c, s);
	expect_empty(c);
	CHECK_OK(ipcq_close(c));
	CHECK_OK(ipcq_close(d));
	CHECK_OK(ipcq_close(p));
	CHECK_OK(ipcq_close(q));
	ipcq_unlink(qn);
}

/* The only consumer, killed holding the oldest @n messages (a batch
 * receive, at @point). */
struct holder {
	const char *point;
	unsigned n;
};

static int dies_holding(void *arg)
{
	const struct holder *h = arg;
	t_crash_at(h->point, 1);
	struct ipcq *c = t_open_attach(qn, IPCQ_ROLE_CONSUMER, NULL);
	uint8_t buf[4][MAXLEN];
	struct ipcq_buf b[4];
	for (unsigned i = 0; i < 4; i++)
		b[i] = (struct ipcq_buf){ buf[i], MAXLEN };
	int rc = ipcq_recv_batch(c, b, NULL, h->n, IPCQ_NOWAIT);
	T_FAIL("receive returned %d instead of dying at %s", rc, h->point);
}

/* The head is claimed by a consumer that died: a drop-oldest send does
 * not wait for a consumer that may never come; it adopts the dead claim
 * and drops it, at once (IPCQ_NOWAIT), one message per send, counted,
 * and everything after it survives in order. */
static void dead_reader_at_head(struct holder *h, const char *point, unsigned n)
{
	struct ipcq_config cfg = t_config(4, MAXLEN);
	qn = t_qname("drop_dead");
	struct ipcq *q = t_create(qn, &cfg);
	struct ipcq *p = t_open_attach(qn, IPCQ_ROLE_PRODUCER, NULL);
	for (uint64_t s = 1; s <= 4; s++)
		t_send_pattern(p, MAXLEN, s);
	*h = (struct holder){ point, n };
	t_reap_killed(t_spawn(dies_holding, h), SIGKILL);
	struct ipcq *d = dropper();
	for (uint64_t s = 5; s < 5 + n; s++)
		CHECK_RC(send_one(d, 0, s, IPCQ_NOWAIT), 0);
	if (t_dropped_total(q) != n)
		T_FAIL("%s, %u held: %llu dropped", point, n, (unsigned long long)t_dropped_total(q));
	struct ipcq *c = t_open_attach(qn, IPCQ_ROLE_CONSUMER, NULL);
	for (uint64_t s = 1 + n; s < 5 + n; s++)
		expect(c, s);
	expect_empty(c);
	printf("drop-oldest past a consumer killed at %s holding %u: ok\n", point, n);
	CHECK_OK(ipcq_close(c));
	CHECK_OK(ipcq_close(d));
	CHECK_OK(ipcq_close(p));
	CHECK_OK(ipcq_close(q));
	ipcq_unlink(qn);
}

/* The head is being read by a live consumer and the message after it is
 * claimed by a consumer that died: a drop-oldest send drops neither (the
 * dead claim is not the oldest: it is delivered again), and fails as its
 * timeout allows. */
static void dead_reader_behind_live(struct holder *h)
{
	struct ipcq_config cfg = t_config(4, MAXLEN);
	qn = t_qname("drop_behind");
	struct ipcq *q = t_create(qn, &cfg);
	struct ipcq *p = t_open_attach(qn, IPCQ_ROLE_PRODUCER, NULL);
	struct ipcq *live = t_open_attach(qn, IPCQ_ROLE_CONSUMER, NULL);
	for (uint64_t s = 1; s <= 4; s++)
		t_send_pattern(p, MAXLEN, s);
	struct ipcq_zmsg m[1];
	CHECK_RC(ipcq_peek(live, m, 1, IPCQ_NOWAIT), 1);
	CHECK(t_verify(m[0].data, m[0].len, 0, 1) == 0);
	*h = (struct holder){ "recv.claimed", 1 };
	t_reap_killed(t_spawn(dies_holding, h), SIGKILL); /* it held message 2 */
	struct ipcq *d = dropper();
	CHECK_RC(send_one(d, 1, 1, IPCQ_NOWAIT), -EAGAIN);
	CHECK(t_dropped_total(q) == 0);
	CHECK_OK(ipcq_release(live));
	/* 2 (delivered again, after the grace period), 3 and 4, each once */
	unsigned seen = 0;
	for (unsigned i = 0; i < 3; i++) {
		uint8_t buf[MAXLEN];
		struct ipcq_msginfo mi;
		int rc = ipcq_recv(live, buf, sizeof(buf), &mi, 5000 * 1000000ll);
		uint32_t prod;
		uint64_t seq = 0;
		if (rc >= 16)
			t_header(buf, &prod, &seq);
		if (rc < 16 || seq < 2 || seq > 4 || (seen >> seq & 1) ||
		    t_verify(buf, (size_t)rc, 0, seq) != 0 || (seq == 2) != !!(mi.flags & IPCQ_MSG_REDELIVERED))
			T_FAIL("receive %u after the refused drop: rc %d, message %llu, flags %#x", i,
			       rc, (unsigned long long)seq, mi.flags);
		seen |= 1u << seq;
	}
	expect_empty(live);
	CHECK(t_dropped_total(q) == 0);
	printf("drop-oldest behind a live reader, a dead one holding the next: ok\n");
	CHECK_OK(ipcq_close(live));
	CHECK_OK(ipcq_close(d));
	CHECK_OK(ipcq_close(p));
	CHECK_OK(ipcq_close(q));
	ipcq_unlink(qn);
}

int main(void)
{
	t_need_points();
	struct ipcq_config cfg = t_config(CAP, MAXLEN);
	qn = t_qname("drop_frz");
	struct ipcq *q = t_create(qn, &cfg);
	struct ipcq *p = t_open_attach(qn, IPCQ_ROLE_PRODUCER, NULL);
	struct ipcq *c = t_open_attach(qn, IPCQ_ROLE_CONSUMER, NULL);
	for (uint64_t s = 1; s <= CAP; s++)
		t_send_pattern(p, MAXLEN, s);
	pid_t pid = t_spawn(frozen_dropper, NULL);
	t_wait_stopped(pid, 30, "drop-oldest producer at recv.before_claim");
	/* the consumer takes the head the dropper has recorded */
	struct ipcq_zmsg m[1];
	CHECK_RC(ipcq_peek(c, m, 1, IPCQ_NOWAIT), 1);
	CHECK(m[0].len == t_msg_len(0, 1, 0, MAXLEN) && t_verify(m[0].data, m[0].len, 0, 1) == 0);
	t_resume(pid);
	CHECK(t_reap(pid) == 0);
	CHECK(t_dropped_total(q) == 0);
	CHECK_OK(ipcq_release(c));
	/* every message after the one that was read is still there */
	for (uint64_t s = 2; s <= CAP; s++)
		expect(c, s);
	expect_empty(c);
	CHECK_OK(ipcq_close(c));
	CHECK_OK(ipcq_close(p));
	CHECK_OK(ipcq_close(q));
	ipcq_unlink(qn);
	skip_at_head();
	struct holder *h = t_shared(sizeof(*h));
	dead_reader_at_head(h, "recv.claimed", 1);
	dead_reader_at_head(h, "recv.copied", 1);
	dead_reader_at_head(h, "recv.claimed", 2);
	dead_reader_behind_live(h);
	printf("t_drop_freeze ok\n");
	return 0;
}
