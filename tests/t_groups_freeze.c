/* Consumer groups at named points: a member frozen between copy and release (recv.copied) holds its slot while the other member of its group and another group go past it, so the producer stops a lap later, exactly there; a group's creator frozen after making the group durable (group.durable) already holds space, and when its generation CAS then fails it starts again from the newest position; a producer killed a lap on between claim and publish (send.claimed, send.written) leaves a skip that every group passes; a lossy reader frozen between claim and copy (lossy.claimed) while the producer laps it reports the gap, not the wrong message; a lossy reader that copies a slot while the next lap's producer is frozen between its write and its publish (send.written) counts the copy lost, though the slot word has not changed; a member of one group killed holding a claim (recv.copied) is adopted in its group, never by another; a creator killed at group.durable leaves a half-made group that the next group call removes. */
#include "testutil.h"

enum { CAP = 8, MAXLEN = 64 };

static const char *qn;

static struct ipcq *member(const char *group)
{
	return t_group_consumer(qn, group, 0);
}

/* Receive the next message and check it is t_send_pattern()'s seq. */
static void expect(struct ipcq *c, uint64_t seq)
{
	uint8_t buf[MAXLEN];
	int rc = ipcq_recv(c, buf, sizeof(buf), NULL, IPCQ_NOWAIT);
	if (rc != (int)t_msg_len(0, seq, 0, MAXLEN) || t_verify(buf, (size_t)rc, 0, seq) != 0)
		T_FAIL("expected message %llu, got rc %d", (unsigned long long)seq, rc);
}

static int frozen_member(void *arg)
{
	(void)arg;
	t_freeze_at("recv.copied", 1);
	struct ipcq *c = member("A");
	expect(c, 1); /* stops inside, after the copy */
	CHECK_OK(ipcq_close(c));
	return 0;
}

static void member_frozen_before_release(void)
{
	struct ipcq_config cfg = t_config(CAP, MAXLEN);
	cfg.max_groups = 2;
	qn = t_qname("groups_frz");
	struct ipcq *q = t_create(qn, &cfg);
	CHECK_RC(ipcq_group_create(q, "A", 0), 0);
	CHECK_RC(ipcq_group_create(q, "B", 0), 1);
	struct ipcq *p = t_open_attach(qn, IPCQ_ROLE_PRODUCER, NULL);
	struct ipcq *a2 = member("A"), *b = member("B");
	t_send_pattern(p, MAXLEN, 1);
	pid_t a1 = t_spawn(frozen_member, NULL);
	t_wait_stopped(a1, 30, "group A member at recv.copied");
	/* the rest of the first lap; A's other member and B take it all */
	for (uint64_t s = 2; s <= CAP; s++)
		t_send_pattern(p, MAXLEN, s);
	for (uint64_t s = 2; s <= CAP; s++)
		expect(a2, s);
	for (uint64_t s = 1; s <= CAP; s++)
		expect(b, s);
	/* every position but the frozen one's is released by both groups:
	 * still, the next lap's first slot is held */
	CHECK_RC(ipcq_send(p, "x", 1, IPCQ_NOWAIT), -EAGAIN);
	struct ipcq_group_info gi[2];
	CHECK_RC(ipcq_group_list(q, gi, 2), 2);
	CHECK(gi[0].holding == 1 && gi[0].members == 2 && gi[1].holding == 0);
	t_resume(a1);
	CHECK(t_reap(a1) == 0);
	/* released: a whole lap again */
	for (uint64_t s = CAP + 1; s <= 2 * CAP; s++)
		t_send_pattern(p, MAXLEN, s);
	CHECK_RC(ipcq_send(p, "x", 1, IPCQ_NOWAIT), -EAGAIN);
	for (uint64_t s = CAP + 1; s <= 2 * CAP; s++) {
		expect(a2, s);
		expect(b, s);
	}
	CHECK_OK(ipcq_close(a2));
	CHECK_OK(ipcq_close(b));
	CHECK_OK(ipcq_close(p));
	CHECK_OK(ipcq_close(q));
}

static int frozen_creator(void *arg)
{
	(void)arg;
	t_freeze_at("group.durable", 1);
	struct ipcq *q = NULL;
	CHECK_OK(ipcq_open(qn, &q));
	CHECK_RC(ipcq_group_create(q, "late", 0), 1);
	CHECK_OK(ipcq_close(q));
	return 0;
}

static void creator_frozen_before_generation(void)
{
	struct ipcq_config cfg = t_config(CAP, MAXLEN);
	cfg.max_groups = 2;
	qn = t_qname("groups_crt");
	struct ipcq *q = t_create(qn, &cfg);
	CHECK_RC(ipcq_group_create(q, "A", 0), 0);
	struct ipcq *p = t_open_attach(qn, IPCQ_ROLE_PRODUCER, NULL);
	struct ipcq *a = member("A");
	for (uint64_t s = 1; s <= 3; s++) {
		t_send_pattern(p, MAXLEN, s);
		expect(a, s);
	}
	pid_t cr = t_spawn(frozen_creator, NULL);
	t_wait_stopped(cr, 30, "creator at group.durable");
	/* durable already: it holds the ring from position 3, though its
	 * creation is not finished */
	for (uint64_t s = 4; s < 4 + CAP; s++) {
		t_send_pattern(p, MAXLEN, s);
		expect(a, s);
	}
	CHECK_RC(ipcq_send(p, "x", 1, IPCQ_NOWAIT), -EAGAIN);
	/* the producer moved the floor to the new group's tail meanwhile, so
	 * the creator's generation CAS fails, and it starts the group again
	 * at the newest position (11) */
	t_resume(cr);
	CHECK(t_reap(cr) == 0);
	struct ipcq_group_info gi[2];
	CHECK_RC(ipcq_group_list(q, gi, 2), 2);
	CHECK(gi[1].start == 3 + CAP && gi[1].lag == 0);
	struct ipcq *l = member("late");
	for (uint64_t s = 4 + CAP; s < 4 + 2 * CAP; s++)
		t_send_pattern(p, MAXLEN, s);
	for (uint64_t s = 4 + CAP; s < 4 + 2 * CAP; s++) {
		expect(a, s);
		expect(l, s);
	}
	CHECK_OK(ipcq_close(l));
	CHECK_OK(ipcq_close(a));
	CHECK_OK(ipcq_close(p));
	CHECK_OK(ipcq_close(q));
}

static const char *crash_point;

static int crashing_producer(void *arg)
{
	(void)arg;
	t_crash_at(crash_point, 1);
	struct ipcq *p = t_open_attach(qn, IPCQ_ROLE_PRODUCER, NULL);
	t_send_pattern(p, MAXLEN, 99); /* dies inside, its slot claimed */
	T_FAIL("survived %s", crash_point);
}

/* A producer dies between its claim (a lap on: the slot marked, or marked
 * and half written) and its publish: recovery publishes a skip in its
 * place, which every group passes, and each group goes on to the next
 * message. */
static void producer_dies_claimed(const char *point)
{
	struct ipcq_config cfg = t_config(4, MAXLEN);
	cfg.max_groups = 2;
	cfg.grace_us = 1000;
	qn = t_qname("groups_skip");
	struct ipcq *q = t_create(qn, &cfg);
	CHECK_RC(ipcq_group_create(q, "A", 0), 0);
	CHECK_RC(ipcq_group_create(q, "B", 0), 1);
	struct ipcq *p = t_open_attach(qn, IPCQ_ROLE_PRODUCER, NULL);
	struct ipcq *a = member("A"), *b = member("B");
	for (uint64_t s = 1; s <= 6; s++) {
		t_send_pattern(p, MAXLEN, s);
		expect(a, s);
		expect(b, s);
	}
	crash_point = point;
	t_reap_killed(t_spawn(crashing_producer, NULL), SIGKILL);
	t_send_pattern(p, MAXLEN, 7);
	uint8_t buf[MAXLEN];
	/* position 6 is stuck until a receive that waits past the grace
	 * period finds its claimer dead */
	for (int i = 0; i < 2; i++) {
		struct ipcq *c = i ? b : a;
		int rc = ipcq_recv(c, buf, sizeof(buf), NULL, 5000000000ll);
		if (rc != (int)t_msg_len(0, 7, 0, MAXLEN) || t_verify(buf, (size_t)rc, 0, 7) != 0)
			T_FAIL("%s: group %c got rc %d, not message 7", point, i ? 'B' : 'A', rc);
	}
	CHECK(t_stats(q).skipped == 1);
	/* and the ring goes on, laps later */
	for (uint64_t s = 8; s <= 20; s++) {
		t_send_pattern(p, MAXLEN, s);
		expect(a, s);
		expect(b, s);
	}
	CHECK_OK(ipcq_close(a));
	CHECK_OK(ipcq_close(b));
	CHECK_OK(ipcq_close(p));
	CHECK_OK(ipcq_close(q));
}

static int frozen_reader(void *arg)
{
	(void)arg;
	t_freeze_at("lossy.claimed", 1);
	struct ipcq *l = member("tap");
	uint8_t buf[MAXLEN];
	struct ipcq_msginfo mi;
	/* claims position 0, stops before the copy; resumed, the slot holds
	 * a later lap: that copy is never delivered as message 1 */
	int rc = ipcq_recv(l, buf, sizeof(buf), &mi, IPCQ_NOWAIT);
	CHECK(rc >= 0);
	uint64_t seq = 0;
	for (uint64_t s = 1; s <= 2 * CAP + 1 && !seq; s++)
		if (rc == (int)t_msg_len(0, s, 0, MAXLEN) && t_verify(buf, (size_t)rc, 0, s) == 0)
			seq = s;
	if (!seq || !(mi.flags & IPCQ_MSG_GAP) || mi.gap != seq - 1)
		T_FAIL("lossy reader: message %llu with gap %llu (flags 0x%x)", (unsigned long long)seq,
		       (unsigned long long)mi.gap, mi.flags);
	CHECK_OK(ipcq_close(l));
	return 0;
}

/* A queue named for @test with durable group A and lossy group tap. */
static struct ipcq *with_tap(const char *test)
{
	struct ipcq_config cfg = t_config(CAP, MAXLEN);
	cfg.max_groups = 2;
	qn = t_qname(test);
	struct ipcq *q = t_create(qn, &cfg);
	CHECK_RC(ipcq_group_create(q, "A", 0), 0);
	CHECK_RC(ipcq_group_create(q, "tap", IPCQ_GROUP_LOSSY), 1);
	return q;
}

/* A lossy reader frozen between its claim and its copy, while the
 * producer laps it: after its copy it finds the cursor a lap on, and it
 * reports what it missed instead of the wrong message. */
static void lossy_reader_lapped(void)
{
	struct ipcq *q = with_tap("groups_lap");
	struct ipcq *p = t_open_attach(qn, IPCQ_ROLE_PRODUCER, NULL);
	struct ipcq *a = member("A");
	t_send_pattern(p, MAXLEN, 1);
	pid_t r = t_spawn(frozen_reader, NULL);
	t_wait_stopped(r, 30, "lossy reader at lossy.claimed");
	expect(a, 1);
	for (uint64_t s = 2; s <= 2 * CAP + 1; s++) {
		t_send_pattern(p, MAXLEN, s);
		expect(a, s);
	}
	t_resume(r);
	CHECK(t_reap(r) == 0);
	CHECK_OK(ipcq_close(a));
	CHECK_OK(ipcq_close(p));
	CHECK_OK(ipcq_close(q));
}

static int frozen_writer(void *arg)
{
	(void)arg;
	t_freeze_at("send.written", 1);
	struct ipcq *p = t_open_attach(qn, IPCQ_ROLE_PRODUCER, NULL);
	t_send_pattern(p, MAXLEN, CAP + 1); /* stops inside, unpublished */
	CHECK_OK(ipcq_close(p));
	return 0;
}

/* A producer of the second lap frozen after writing the first slot's
 * payload, before its publish: the slot word still says "message 1,
 * published" (producers do not mark a slot before writing it), so a
 * lossy reader that copies position 0 now copies message CAP + 1's
 * bytes under an unchanged word.  It must find the cursor past position
 * CAP, count the copy lost, and deliver message 2 with a gap of 1. */
static void lossy_reader_over_writer(void)
{
	struct ipcq *q = with_tap("groups_wr");
	struct ipcq *p = t_open_attach(qn, IPCQ_ROLE_PRODUCER, NULL);
	struct ipcq *a = member("A"), *l = member("tap");
	for (uint64_t s = 1; s <= CAP; s++)
		t_send_pattern(p, MAXLEN, s);
	for (uint64_t s = 1; s <= CAP; s++)
		expect(a, s);
	pid_t w = t_spawn(frozen_writer, NULL);
	t_wait_stopped(w, 30, "producer at send.written");
	uint8_t buf[MAXLEN];
	struct ipcq_msginfo mi;
	int rc = ipcq_recv(l, buf, sizeof(buf), &mi, IPCQ_NOWAIT);
	if (rc != (int)t_msg_len(0, 2, 0, MAXLEN) || t_verify(buf, (size_t)rc, 0, 2) != 0 ||
	    !(mi.flags & IPCQ_MSG_GAP) || mi.gap != 1)
		T_FAIL("lossy reader over a writer: rc %d, flags 0x%x, gap %llu (expected message 2, "
		       "gap 1)", rc, mi.flags, (unsigned long long)mi.gap);
	for (uint64_t s = 3; s <= CAP; s++)
		expect(l, s);
	t_resume(w);
	CHECK(t_reap(w) == 0);
	expect(l, CAP + 1);
	expect(a, CAP + 1);
	CHECK_OK(ipcq_close(l));
	CHECK_OK(ipcq_close(a));
	CHECK_OK(ipcq_close(p));
	CHECK_OK(ipcq_close(q));
}

static int crashing_member(void *arg)
{
	(void)arg;
	t_crash_at("recv.copied", 1);
	struct ipcq *c = member("A");
	expect(c, 1); /* dies inside, message 1 claimed */
	T_FAIL("survived recv.copied");
}

/* A member of group A dies holding a claim: a member of group B, looking
 * for the work of the dead, leaves it alone; a member of A adopts it. */
static void adoption_stays_in_group(void)
{
	struct ipcq_config cfg = t_config(CAP, MAXLEN);
	cfg.max_groups = 2;
	cfg.grace_us = 1000;
	qn = t_qname("groups_adopt");
	struct ipcq *q = t_create(qn, &cfg);
	CHECK_RC(ipcq_group_create(q, "A", 0), 0);
	CHECK_RC(ipcq_group_create(q, "B", 0), 1);
	struct ipcq *p = t_open_attach(qn, IPCQ_ROLE_PRODUCER, NULL);
	struct ipcq *b = member("B");
	t_send_pattern(p, MAXLEN, 1);
	t_reap_killed(t_spawn(crashing_member, NULL), SIGKILL);
	expect(b, 1);
	uint8_t buf[MAXLEN];
	struct ipcq_msginfo mi;
	/* B waits past the grace period (its recovery passes run) and gets
	 * nothing: the dead claim is A's */
	CHECK_RC(ipcq_recv(b, buf, sizeof(buf), &mi, 30000000), -ETIMEDOUT);
	struct ipcq *a = member("A"); /* adopts at attach */
	int rc = ipcq_recv(a, buf, sizeof(buf), &mi, IPCQ_NOWAIT);
	CHECK(rc == (int)t_msg_len(0, 1, 0, MAXLEN) && t_verify(buf, (size_t)rc, 0, 1) == 0);
	CHECK((mi.flags & IPCQ_MSG_REDELIVERED) && mi.deliveries == 2);
	CHECK_OK(ipcq_close(a));
	CHECK_OK(ipcq_close(b));
	CHECK_OK(ipcq_close(p));
	CHECK_OK(ipcq_close(q));
}

static int crashing_creator(void *arg)
{
	(void)arg;
	t_crash_at("group.durable", 1);
	struct ipcq *q = NULL;
	CHECK_OK(ipcq_open(qn, &q));
	(void)ipcq_group_create(q, "late", 0); /* dies inside */
	T_FAIL("survived group.durable");
}

/* A creator killed with its group durable and its generation not raised
 * leaves a group nobody may join; the next call that takes the group
 * lock (here a consumer's attach) removes it, and the name is free. */
static void creator_dies_midway(void)
{
	struct ipcq_config cfg = t_config(CAP, MAXLEN);
	cfg.max_groups = 2;
	qn = t_qname("groups_half");
	struct ipcq *q = t_create(qn, &cfg);
	CHECK_RC(ipcq_group_create(q, "A", 0), 0);
	t_reap_killed(t_spawn(crashing_creator, NULL), SIGKILL);
	CHECK_RC(ipcq_group_list(q, NULL, 0), 1);
	struct ipcq *p = t_open_attach(qn, IPCQ_ROLE_PRODUCER, NULL);
	struct ipcq *a = member("A");
	struct ipcq *l = NULL;
	struct ipcq_attach_opts o = IPCQ_ATTACH_OPTS_INIT;
	o.group = "late";
	CHECK_OK(ipcq_open(qn, &l));
	CHECK_RC(ipcq_attach(l, IPCQ_ROLE_CONSUMER, &o), -ENOENT);
	/* gone: it holds nothing */
	for (uint64_t s = 1; s <= 3 * CAP; s++) {
		t_send_pattern(p, MAXLEN, s);
		expect(a, s);
	}
	CHECK_RC(ipcq_group_create(q, "late", 0), 1);
	CHECK_OK(ipcq_attach(l, IPCQ_ROLE_CONSUMER, &o));
	t_send_pattern(p, MAXLEN, 3 * CAP + 1);
	expect(l, 3 * CAP + 1);
	CHECK_OK(ipcq_close(l));
	CHECK_OK(ipcq_close(a));
	CHECK_OK(ipcq_close(p));
	CHECK_OK(ipcq_close(q));
}

int main(void)
{
	t_need_points();
	t_watchdog(t_limit(60), "t_groups_freeze", NULL);
	member_frozen_before_release();
	creator_frozen_before_generation();
	producer_dies_claimed("send.claimed");
	producer_dies_claimed("send.written");
	lossy_reader_lapped();
	lossy_reader_over_writer();
	adoption_stays_in_group();
	creator_dies_midway();
	printf("groups at named points: recv.copied, group.durable, send.claimed, send.written, "
	       "lossy.claimed, send.written under a lossy reader\n");
	return 0;
}
