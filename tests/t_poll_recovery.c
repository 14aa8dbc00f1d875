/* A consumer that only polls (IPCQ_NOWAIT receives and peeks) still gets, flagged redelivered, the message a consumer killed after its claim held: on a plain queue, in a consumer group, in ack mode and through ipcq_peek. */
#include "testutil.h"

#define NMSG 3u

enum how { PLAIN, GROUP, ACK, PEEK };

static const char *const names[] = { "plain queue", "consumer group", "ack mode", "zero-copy peek" };

struct shm {
	char qn[64];
	enum how how;
};

static struct ipcq *consumer(const struct shm *s)
{
	if (s->how == GROUP)
		return t_group_consumer(s->qn, "g", 0);
	if (s->how == ACK)
		return t_ack_consumer(s->qn, 4);
	return t_open_attach(s->qn, IPCQ_ROLE_CONSUMER, NULL);
}

/* The victim: claims the first message and is killed before it releases
 * it (recv.copied; in ack mode, with the lease its own: ack.leased). */
static int victim(void *arg)
{
	const struct shm *s = arg;
	t_crash_at(s->how == ACK ? "ack.leased" : "recv.copied", 1);
	struct ipcq *c = consumer(s);
	uint8_t buf[64];
	int rc = ipcq_recv(c, buf, sizeof(buf), NULL, IPCQ_FOREVER);
	printf("victim: receive returned %d instead of dying at its crash point\n", rc);
	return 1;
}

/* One IPCQ_NOWAIT attempt: the message's sequence in *seq and its flags
 * in *flags, or -EAGAIN. */
static int poll_once(struct ipcq *c, enum how how, uint64_t *seq, uint32_t *flags)
{
	uint8_t buf[64];
	struct ipcq_msginfo m;
	int rc;

	if (how == PEEK) {
		struct ipcq_zmsg z;
		rc = ipcq_peek(c, &z, 1, IPCQ_NOWAIT);
		if (rc < 0)
			return rc;
		CHECK_RC(rc, 1);
		CHECK_RC(t_verify(z.data, z.len, 1, z.info.seq), 0);
		*seq = z.info.seq;
		*flags = z.info.flags;
		CHECK_RC(ipcq_release(c), 0);
		return 0;
	}
	rc = ipcq_recv(c, buf, sizeof(buf), &m, IPCQ_NOWAIT);
	if (rc < 0)
		return rc;
	CHECK_RC(t_verify(buf, (size_t)rc, 1, m.seq), 0);
	*seq = m.seq;
	*flags = m.flags;
	if (how == ACK)
		CHECK_RC(ipcq_ack(c, m.token), 0);
	return 0;
}

static void run(struct shm *s, enum how how)
{
	struct ipcq_config cfg = t_config(4, 64);
	cfg.grace_us = 1000;
	if (how == GROUP)
		cfg.max_groups = 1;
	snprintf(s->qn, sizeof(s->qn), "%s", t_qname("pollrec"));
	s->how = how;
	struct ipcq *ctl = t_create(s->qn, &cfg);
	if (how == GROUP)
		CHECK_OK(ipcq_group_create(ctl, "g", 0));
	struct ipcq *p = t_open_attach(s->qn, IPCQ_ROLE_PRODUCER, NULL);
	struct ipcq *c = consumer(s); /* attached before the death: no attach-time recovery */
	uint8_t buf[64];
	for (uint64_t i = 1; i <= NMSG; i++)
		CHECK_RC(ipcq_send(p, buf, t_fill(buf, 16 + i, 1, i), IPCQ_NOWAIT), 0);
	t_reap_killed(t_spawn(victim, s), SIGKILL);

	/* every message once, the victim's (1) flagged redelivered, with no
	 * call that waits: a receive that never waits must still look */
	int seen[NMSG + 1] = { 0 };
	unsigned got = 0, round = 0;
	uint64_t polls = 0;
	while (got < NMSG) {
		uint64_t seq = 0;
		uint32_t flags = 0;
		int rc = poll_once(c, how, &seq, &flags);
		polls++;
		if (rc == -EAGAIN) {
			t_poll_pause(&round);
			continue;
		}
		CHECK_RC(rc, 0);
		if (seq < 1 || seq > NMSG || seen[seq]++)
			T_FAIL("%s: message %llu delivered twice or out of range", names[how],
			       (unsigned long long)seq);
		if (seq == 1 && !(flags & IPCQ_MSG_REDELIVERED))
			T_FAIL("%s: the dead consumer's message came back without "
			       "IPCQ_MSG_REDELIVERED", names[how]);
		got++;
	}
	uint64_t seq;
	uint32_t flags;
	CHECK_RC(poll_once(c, how, &seq, &flags), -EAGAIN);
	printf("%s: %u messages, the dead consumer's redelivered, after %llu polls: ok\n",
	       names[how], NMSG, (unsigned long long)polls);
	CHECK_RC(ipcq_close(c), 0);
	CHECK_RC(ipcq_close(p), 0);
	CHECK_RC(ipcq_close(ctl), 0);
	t_cleanup(s->qn);
}

int main(void)
{
	t_need_points();
	struct shm *s = t_shared(sizeof(*s));
	/* without the fix the polls go on for ever: the watchdog names it */
	t_watchdog(t_limit(60), "t_poll_recovery: the polling consumer never got the dead "
		   "consumer's message", NULL);
	for (enum how h = PLAIN; h <= PEEK; h++)
		run(s, h);
	t_watchdog(0, NULL, NULL);
	return 0;
}
