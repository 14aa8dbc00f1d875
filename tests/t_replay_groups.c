/* A poison replay on a queue with groups goes back to the group that quarantined the message, and only there; once that group was removed and another made at its index, the entry no longer names it (ipcq_poison_list says group 0) and the replay goes to every group, the new one included, never to the new group alone. */
#include "testutil.h"

enum { MAXLEN = 64 };

static const char *qn;

static struct ipcq *member(const char *group, uint32_t flags)
{
	return t_group_consumer(qn, group, flags);
}

/* The next message of @c: t_fill()'s (1, 1), flagged replayed when
 * @replayed. */
static void expect_m1(struct ipcq *c, const char *who, int replayed)
{
	uint8_t buf[MAXLEN];
	struct ipcq_msginfo m;
	int rc = ipcq_recv(c, buf, sizeof(buf), &m, IPCQ_NOWAIT);
	if (rc < 0 || t_verify(buf, (size_t)rc, 1, 1) != 0)
		T_FAIL("%s: expected message 1, got %d (%s)", who, rc,
		       rc < 0 ? ipcq_strerror(rc) : "another message");
	if (!!(m.flags & IPCQ_MSG_REPLAYED) != replayed)
		T_FAIL("%s: message 1 flags 0x%x", who, m.flags);
}

static void expect_none(struct ipcq *c, const char *who)
{
	uint8_t buf[MAXLEN];
	int rc = ipcq_recv(c, buf, sizeof(buf), NULL, IPCQ_NOWAIT);
	if (rc != -EAGAIN)
		T_FAIL("%s: expected nothing, got %d", who, rc);
}

/* Groups A (fast) and B (ack); B's member nacks message 1 as poison. */
static struct ipcq *poisoned_in_b(struct ipcq **a, struct ipcq_poison *p)
{
	struct ipcq_config cfg = t_config(8, MAXLEN);
	cfg.max_groups = 2;
	qn = t_qname("replay_grp");
	struct ipcq *q = t_create(qn, &cfg);
	CHECK_RC(ipcq_group_create(q, "A", 0), 0);
	CHECK_RC(ipcq_group_create(q, "B", 0), 1);
	struct ipcq *prod = t_open_attach(qn, IPCQ_ROLE_PRODUCER, NULL);
	*a = member("A", 0);
	struct ipcq *b = member("B", IPCQ_ATTACH_ACK);
	uint8_t buf[MAXLEN];
	CHECK_RC(ipcq_send(prod, buf, t_fill(buf, 20, 1, 1), IPCQ_NOWAIT), 0);
	CHECK_OK(ipcq_close(prod));
	expect_m1(*a, "A", 0);
	struct ipcq_msginfo m;
	CHECK_RC(ipcq_recv(b, buf, sizeof(buf), &m, IPCQ_NOWAIT), 20);
	CHECK_OK(ipcq_nack(b, m.token, IPCQ_NACK_POISON));
	CHECK_OK(ipcq_close(b));
	CHECK_RC(ipcq_poison_list(q, 0, p, 1), 1);
	CHECK(p->group == 2); /* B: index 1, + 1 */
	return q;
}

/* B still there: the replay goes to B alone. */
static void same_group(void)
{
	struct ipcq *a;
	struct ipcq_poison p;
	struct ipcq *q = poisoned_in_b(&a, &p);
	struct ipcq *b = member("B", 0);
	CHECK_RC(ipcq_poison_replay(q, p.id), 1);
	expect_m1(b, "B", 1);
	expect_none(a, "A (had it)");
	printf("replay to the group that quarantined it: that group only: ok\n");
	CHECK_OK(ipcq_close(b));
	CHECK_OK(ipcq_close(a));
	CHECK_OK(ipcq_close(q));
	t_cleanup(qn);
}

/* B removed, C made at its index: the entry names no group, and the
 * replay goes to every group. */
static void group_made_again(void)
{
	struct ipcq *a;
	struct ipcq_poison p;
	struct ipcq *q = poisoned_in_b(&a, &p);
	CHECK_OK(ipcq_group_remove(q, "B"));
	CHECK_RC(ipcq_group_create(q, "C", 0), 1);
	struct ipcq *c = member("C", 0);
	struct ipcq_poison p2;
	CHECK_RC(ipcq_poison_list(q, 0, &p2, 1), 1);
	if (p2.group != 0)
		T_FAIL("after B's removal, C at its index: the entry names group %u", p2.group);
	CHECK_RC(ipcq_poison_replay(q, p.id), 1);
	expect_m1(a, "A", 1);
	expect_m1(c, "C", 1);
	printf("replay after the group was removed and its index taken: every group: ok\n");
	CHECK_OK(ipcq_close(c));
	CHECK_OK(ipcq_close(a));
	CHECK_OK(ipcq_close(q));
	t_cleanup(qn);
}

int main(void)
{
	t_watchdog(t_limit(60), "t_replay_groups", NULL);
	same_group();
	group_made_again();
	t_watchdog(0, NULL, NULL);
	return 0;
}
