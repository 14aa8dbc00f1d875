/* A group's message whose consumers keep dying: its count of deaths never reads as a first delivery (62 deaths: delivered as the 63rd, flagged redelivered; 63 and more with no side ring: still flagged), and 63 deaths quarantine it in the side ring whatever max_deliveries says above that. */
#include "testutil.h"

struct shm {
	char qn[64];
};

static struct ipcq *member(const char *qn)
{
	return t_group_consumer(qn, "g", 0);
}

/* A member that claims the message and dies before its release. */
static int die_claimed(void *arg)
{
	const struct shm *s = arg;
	t_crash_at("recv.copied", 1);
	struct ipcq *c = member(s->qn);
	uint8_t buf[64];
	int rc = ipcq_recv(c, buf, sizeof(buf), NULL, IPCQ_FOREVER);
	printf("member: receive returned %d instead of dying\n", rc);
	return 1;
}

/* A member that adopts the dead member's message and dies holding it. */
static int die_adopted(void *arg)
{
	const struct shm *s = arg;
	t_crash_at("recv.adopted_copied", 1);
	struct ipcq *c = member(s->qn);
	uint8_t buf[64];
	int rc = ipcq_recv(c, buf, sizeof(buf), NULL, IPCQ_FOREVER);
	printf("member: receive returned %d instead of dying holding the adopted message\n", rc);
	return 1;
}

/* One message, then 1 + @adopters deaths; the receive after them. */
static struct ipcq *kill_round(struct shm *s, uint32_t side, unsigned adopters)
{
	struct ipcq_config cfg = t_config(4, 64);
	cfg.max_groups = 1;
	cfg.max_deliveries = 200;
	cfg.side_capacity = side;
	cfg.grace_us = 1000;
	snprintf(s->qn, sizeof(s->qn), "%s", t_qname("gdeaths"));
	struct ipcq *ctl = t_create(s->qn, &cfg);
	CHECK_OK(ipcq_group_create(ctl, "g", 0));
	struct ipcq *p = t_open_attach(s->qn, IPCQ_ROLE_PRODUCER, NULL);
	uint8_t buf[64];
	CHECK_RC(ipcq_send(p, buf, t_fill(buf, 24, 1, 1), IPCQ_NOWAIT), 0);
	CHECK_RC(ipcq_close(p), 0);
	t_reap_killed(t_spawn(die_claimed, s), SIGKILL);
	for (unsigned i = 0; i < adopters; i++)
		t_reap_killed(t_spawn(die_adopted, s), SIGKILL);
	return ctl;
}

static void delivered(struct shm *s, uint32_t side, unsigned adopters, uint32_t want_deliveries)
{
	struct ipcq *ctl = kill_round(s, side, adopters);
	struct ipcq *c = member(s->qn);
	uint8_t buf[64];
	struct ipcq_msginfo m;
	int rc = ipcq_recv(c, buf, sizeof(buf), &m, 30ll * 1000000000ll);
	CHECK_RC(rc, 24);
	CHECK_RC(t_verify(buf, (size_t)rc, 1, 1), 0);
	if (!(m.flags & IPCQ_MSG_REDELIVERED))
		T_FAIL("after %u deaths the message came back as a first delivery (deliveries %u)",
		       1 + adopters, m.deliveries);
	if (want_deliveries && m.deliveries != want_deliveries)
		T_FAIL("after %u deaths: deliveries %u, want %u", 1 + adopters, m.deliveries,
		       want_deliveries);
	CHECK_RC(ipcq_recv(c, buf, sizeof(buf), NULL, IPCQ_NOWAIT), -EAGAIN);
	printf("%u deaths, side ring %u: delivered, deliveries %u, flagged redelivered: ok\n",
	       1 + adopters, side, m.deliveries);
	CHECK_RC(ipcq_close(c), 0);
	CHECK_RC(ipcq_close(ctl), 0);
	t_cleanup(s->qn);
}

static void quarantined(struct shm *s)
{
	struct ipcq *ctl = kill_round(s, 4, 62);
	/* the receive after 63 deaths: the count is at its last value */
	struct ipcq *c = member(s->qn);
	uint8_t buf[64];
	CHECK_RC(ipcq_recv(c, buf, sizeof(buf), NULL, 200ll * 1000000ll), -ETIMEDOUT);
	struct ipcq_info in = t_info(ctl);
	if (in.side_depth != 1)
		T_FAIL("63 deaths: side ring depth %u, want the message quarantined",
		       in.side_depth);
	printf("63 deaths: quarantined in the side ring: ok\n");
	CHECK_RC(ipcq_close(c), 0);
	CHECK_RC(ipcq_close(ctl), 0);
	t_cleanup(s->qn);
}

int main(void)
{
	t_need_points();
	struct shm *s = t_shared(sizeof(*s));
	t_watchdog(t_limit(240), "t_group_deaths", NULL);
	delivered(s, 4, 61, 63);
	quarantined(s);
	/* no side ring: delivered after 63 and more deaths, never unflagged */
	delivered(s, 0, 62, 64);
	delivered(s, 0, 63, 0);
	delivered(s, 0, 64, 0);
	t_watchdog(0, NULL, NULL);
	return 0;
}
