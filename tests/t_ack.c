/* Ack mode and the poison side ring: leases and tokens, -ESTALE, -EBUSY (prefetch), nack requeue/poison, max_deliveries, poison list/peek/replay/purge, ipcq_recover, redelivery after an ack-mode consumer is SIGKILLed. */
#include "ipcq.h"
#include "testutil.h"

enum { MAX = 64 };

static struct ipcq *make_queue(const char **name, uint32_t side, uint32_t max_deliveries)
{
	struct ipcq_config cfg = t_config(16, MAX);
	cfg.side_capacity = side;
	cfg.max_deliveries = max_deliveries;
	cfg.lease_capacity = 8;
	*name = t_qname("ack");
	struct ipcq *q = t_create(*name, &cfg);
	CHECK_RC(ipcq_attach(q, IPCQ_ROLE_PRODUCER, NULL), 0);
	return q;
}

/* Receive the message with producer sequence @seq; returns its info. */
static struct ipcq_msginfo recv_seq(struct ipcq *c, uint64_t seq, uint32_t deliveries)
{
	uint8_t buf[MAX];
	struct ipcq_msginfo info;
	memset(&info, 0, sizeof(info));
	int rc = ipcq_recv(c, buf, sizeof(buf), &info, IPCQ_NOWAIT);
	if (rc < 0)
		T_FAIL("recv of seq %" PRIu64 ": %d (%s)", seq, rc, ipcq_strerror(rc));
	if (info.seq != seq || info.deliveries != deliveries)
		T_FAIL("got seq %" PRIu64 " delivery %u, expected seq %" PRIu64 " delivery %u",
		       info.seq, info.deliveries, seq, deliveries);
	CHECK((size_t)rc == t_msg_len(0, seq, 0, MAX) && info.len == (uint64_t)rc);
	CHECK(t_verify(buf, (size_t)rc, 0, seq) == 0);
	CHECK(((info.flags & IPCQ_MSG_REDELIVERED) != 0) == (deliveries > 1));
	return info;
}

static void test_leases(void)
{
	const char *name;
	struct ipcq *p = make_queue(&name, 4, 5);
	struct ipcq *fast = t_open_attach(name, IPCQ_ROLE_CONSUMER, NULL);
	struct ipcq *c = t_ack_consumer(name, 2), *c2 = t_ack_consumer(name, 2);

	/* not ack-mode consumers */
	CHECK_RC(ipcq_ack(p, 1), -EPERM);
	CHECK_RC(ipcq_nack(p, 1, IPCQ_NACK_REQUEUE), -EPERM);
	CHECK_RC(ipcq_ack(fast, 1), -EPERM);
	CHECK_RC(ipcq_nack(fast, 1, IPCQ_NACK_POISON), -EPERM);

	for (uint64_t seq = 1; seq <= 4; seq++)
		t_send_pattern(p, MAX, seq);
	struct ipcq_msginfo a = recv_seq(c, 1, 1), b = recv_seq(c, 2, 1);
	CHECK(a.token != 0 && b.token != 0 && a.token != b.token);
	CHECK(t_info(p).leased == 2);
	/* prefetch 2 reached */
	uint8_t buf[MAX];
	CHECK_RC(ipcq_recv(c, buf, sizeof(buf), NULL, IPCQ_NOWAIT), -EBUSY);
	CHECK_RC(ipcq_recv(c, buf, sizeof(buf), NULL, 1000000), -EBUSY);
	/* tokens belong to their handle */
	CHECK_RC(ipcq_ack(c2, a.token), -ESTALE);
	CHECK_RC(ipcq_ack(c, 0), -ESTALE);
	CHECK_RC(ipcq_ack(c, a.token ^ 0x5a5a5a5a00000000ull), -ESTALE);
	CHECK_RC(ipcq_nack(c, a.token, 2), -EINVAL);
	CHECK_RC(ipcq_nack(c, a.token, UINT32_MAX), -EINVAL);
	CHECK_RC(ipcq_ack(c, a.token), 0);
	CHECK_RC(ipcq_ack(c, a.token), -ESTALE);
	CHECK_RC(ipcq_nack(c, a.token, IPCQ_NACK_REQUEUE), -ESTALE);
	CHECK(t_info(p).leased == 1);

	/* a batch receive in ack mode takes one message */
	struct ipcq_buf bb[4] = { { buf, MAX }, { buf, MAX }, { buf, MAX }, { buf, MAX } };
	struct ipcq_msginfo bi[4];
	CHECK_RC(ipcq_recv_batch(c, bb, bi, 4, IPCQ_NOWAIT), 1);
	CHECK(bi[0].seq == 3 && bi[0].token != 0);

	/* nack requeue: delivered again before newer messages, flagged */
	CHECK_RC(ipcq_nack(c, b.token, IPCQ_NACK_REQUEUE), 0);
	CHECK_RC(ipcq_ack(c, bi[0].token), 0);
	struct ipcq_msginfo again = recv_seq(c2, 2, 2);
	CHECK_RC(ipcq_ack(c2, again.token), 0);
	struct ipcq_msginfo d = recv_seq(c2, 4, 1);
	CHECK_RC(ipcq_ack(c2, d.token), 0);
	CHECK(t_info(p).leased == 0 && t_info(p).depth == 0);

	/* fast consumers get no token */
	t_send_pattern(p, MAX, 5);
	CHECK(recv_seq(fast, 5, 1).token == 0);
	CHECK_RC(ipcq_close(c), 0);
	CHECK_RC(ipcq_close(c2), 0);
	CHECK_RC(ipcq_close(fast), 0);
	CHECK_RC(ipcq_close(p), 0);
	CHECK_RC(ipcq_unlink(name), 0);
}

static void test_poison(void)
{
	const char *name;
	struct ipcq *p = make_queue(&name, 2, 2);
	struct ipcq *c = t_ack_consumer(name, 4);
	struct ipcq_poison list[4];
	uint8_t buf[MAX];

	CHECK_RC(ipcq_poison_list(p, 0, list, 4), 0);
	for (uint64_t seq = 1; seq <= 3; seq++)
		t_send_pattern(p, MAX, seq);

	/* poisoned by the consumer */
	struct ipcq_msginfo m1 = recv_seq(c, 1, 1);
	CHECK_RC(ipcq_nack(c, m1.token, IPCQ_NACK_POISON), 1);
	/* requeued until max_deliveries (2), then quarantined */
	struct ipcq_msginfo m2 = recv_seq(c, 2, 1);
	CHECK_RC(ipcq_nack(c, m2.token, IPCQ_NACK_REQUEUE), 0);
	m2 = recv_seq(c, 2, 2);
	CHECK_RC(ipcq_nack(c, m2.token, IPCQ_NACK_REQUEUE), 1);
	CHECK(t_info(p).side_depth == 2);

	/* the side ring (2 entries) is full: the message stays leased */
	struct ipcq_msginfo m3 = recv_seq(c, 3, 1);
	CHECK_RC(ipcq_nack(c, m3.token, IPCQ_NACK_POISON), -ENOSPC);
	CHECK(t_info(p).leased == 1);

	CHECK_RC(ipcq_poison_list(p, 0, list, 4), 2);
	CHECK(list[0].id < list[1].id);
	CHECK(list[0].seq == 1 && list[0].reason == IPCQ_REASON_NACKED && list[0].deliveries == 1);
	CHECK(list[1].seq == 2 && list[1].reason == IPCQ_REASON_MAX_DELIVERIES);
	CHECK(list[1].deliveries == 2);
	CHECK(list[0].len == t_msg_len(0, 1, 0, MAX));
	CHECK(list[0].producer == (uint32_t)t_info(p).participant_index);
	CHECK(list[0].last_consumer == (uint32_t)t_info(c).participant_index);
	CHECK(list[0].last_consumer_pid == (uint32_t)getpid());
	CHECK_RC(ipcq_poison_list(p, list[0].id, list, 4), 1);
	CHECK(list[0].seq == 2);
	CHECK_RC(ipcq_poison_list(p, list[0].id, list, 4), 0);
	CHECK_RC(ipcq_poison_list(p, 0, list, 4), 2);

	/* peek */
	struct ipcq_poison pi;
	size_t len1 = t_msg_len(0, 1, 0, MAX);
	CHECK_RC(ipcq_poison_peek(p, list[0].id, buf, sizeof(buf), &pi), len1);
	CHECK(t_verify(buf, len1, 0, 1) == 0 && pi.seq == 1);
	if (len1 > 0) {
		memset(&pi, 0, sizeof(pi));
		CHECK_RC(ipcq_poison_peek(p, list[0].id, buf, len1 - 1, &pi), -ENOBUFS);
		CHECK(pi.len == len1);
	}
	CHECK_RC(ipcq_poison_peek(p, list[1].id + 1000, buf, sizeof(buf), NULL), -ENOENT);

	/* replay one: it comes back with its producer and sequence, flagged */
	CHECK_RC(ipcq_poison_replay(p, list[1].id + 1000), -ENOENT);
	CHECK_RC(ipcq_poison_replay(p, list[0].id), 1);
	CHECK_RC(ipcq_poison_replay(p, list[0].id), -ENOENT);
	CHECK(t_info(p).side_depth == 1);
	CHECK_RC(ipcq_ack(c, m3.token), 0);
	struct ipcq_msginfo r;
	int rc = ipcq_recv(c, buf, sizeof(buf), &r, IPCQ_NOWAIT);
	CHECK(rc >= 0 && (size_t)rc == len1 && t_verify(buf, len1, 0, 1) == 0);
	CHECK(r.seq == 1 && (r.flags & IPCQ_MSG_REPLAYED) && r.deliveries == 1);
	CHECK_RC(ipcq_ack(c, r.token), 0);

	/* purge the rest */
	CHECK_RC(ipcq_poison_purge(p, list[1].id + 1000), -ENOENT);
	CHECK_RC(ipcq_poison_purge(p, IPCQ_POISON_ALL), 1);
	CHECK_RC(ipcq_poison_list(p, 0, list, 4), 0);
	CHECK(t_info(p).side_depth == 0);
	CHECK_RC(ipcq_poison_replay(p, IPCQ_POISON_ALL), 0);

	/* no side ring at all */
	const char *name2;
	struct ipcq *p2 = make_queue(&name2, 0, 5);
	struct ipcq *c2 = t_ack_consumer(name2, 4);
	t_send_pattern(p2, MAX, 1);
	struct ipcq_msginfo n = recv_seq(c2, 1, 1);
	CHECK_RC(ipcq_nack(c2, n.token, IPCQ_NACK_POISON), -ENOSPC);
	CHECK_RC(ipcq_ack(c2, n.token), 0);
	CHECK_RC(ipcq_poison_list(p2, 0, list, 4), 0);
	CHECK_RC(ipcq_close(c2), 0);
	CHECK_RC(ipcq_close(p2), 0);
	CHECK_RC(ipcq_unlink(name2), 0);

	CHECK_RC(ipcq_close(c), 0);
	CHECK_RC(ipcq_close(p), 0);
	CHECK_RC(ipcq_unlink(name), 0);
}

struct victim {
	const char *name;
	uint32_t leased;
};

/* Lease two messages and wait to be killed. */
static int lease_and_hang(void *arg)
{
	struct victim *v = (struct victim *)arg;
	struct ipcq *c = t_ack_consumer(v->name, 4);
	recv_seq(c, 1, 1);
	recv_seq(c, 2, 1);
	__atomic_store_n(&v->leased, 1, __ATOMIC_RELEASE);
	for (;;)
		pause();
	return 0;
}

/* A consumer killed while holding leases: its messages come back, flagged. */
static void test_consumer_killed(void)
{
	const char *name;
	struct ipcq *p = make_queue(&name, 4, 5);
	struct victim *v = (struct victim *)t_shared(sizeof(*v));
	struct ipcq_recovery rep;
	v->name = name;

	memset(&rep, 0, sizeof(rep));
	rep.size = sizeof(rep);
	CHECK_RC(ipcq_recover(p, &rep), 0);
	CHECK(rep.dead == 0 && rep.redelivered == 0 && rep.pending == 0);
	CHECK_RC(ipcq_recover(p, NULL), 0);
	CHECK_RC(ipcq_recover(NULL, &rep), -EINVAL);
	rep.size = 0;
	CHECK_RC(ipcq_recover(p, &rep), -EINVAL);

	for (uint64_t seq = 1; seq <= 3; seq++)
		t_send_pattern(p, MAX, seq);
	t_watchdog(60, "t_ack consumer killed", NULL);
	pid_t pid = t_spawn(lease_and_hang, v);
	T_AWAIT_KIDS(__atomic_load_n(&v->leased, __ATOMIC_ACQUIRE), 30);
	CHECK(t_info(p).leased == 2);
	CHECK(kill(pid, SIGKILL) == 0);
	t_reap_killed(pid, SIGKILL);

	memset(&rep, 0, sizeof(rep));
	rep.size = sizeof(rep);
	int actions = ipcq_recover(p, &rep);
	if (actions < 1 || rep.dead != 1 || rep.redelivered != 2)
		T_FAIL("recovery after the kill returned %d: dead %u skipped %" PRIu64
		       " redelivered %" PRIu64 " completed %" PRIu64 " poisoned %" PRIu64
		       " freed %" PRIu64 " pending %" PRIu64 " (expected 1 dead, 2 redelivered)",
		       actions, rep.dead, rep.skipped, rep.redelivered, rep.completed, rep.poisoned,
		       rep.freed, rep.pending);
	CHECK(t_info(p).leased == 0);

	/* the leased ones first, as redeliveries, then the new one */
	struct ipcq *c = t_ack_consumer(name, 4);
	struct ipcq_msginfo a = recv_seq(c, 1, 2), b = recv_seq(c, 2, 2), d = recv_seq(c, 3, 1);
	CHECK_RC(ipcq_ack(c, a.token), 0);
	CHECK_RC(ipcq_ack(c, b.token), 0);
	CHECK_RC(ipcq_ack(c, d.token), 0);
	uint8_t buf[MAX];
	CHECK_RC(ipcq_recv(c, buf, sizeof(buf), NULL, IPCQ_NOWAIT), -EAGAIN);
	memset(&rep, 0, sizeof(rep));
	rep.size = sizeof(rep);
	CHECK_RC(ipcq_recover(p, &rep), 0);
	t_watchdog(0, NULL, NULL);
	CHECK_RC(ipcq_close(c), 0);
	CHECK_RC(ipcq_close(p), 0);
	CHECK_RC(ipcq_unlink(name), 0);
	munmap(v, sizeof(*v));
}

int main(void)
{
	test_leases();
	test_poison();
	test_consumer_killed();
	return 0;
}
