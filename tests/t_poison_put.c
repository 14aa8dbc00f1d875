/* ipcq_poison_put: a producer's message straight into the side ring (reasons, metadata, named and anonymous producers, a payload over max_msg_size kept cut and never replayed), its errors, a full side ring, the stats by reason, and a producer killed in the middle of a put. */
#include "testutil.h"

#define MAXMSG 64u

/* The one entry listed after @after; fails unless there is one. */
static struct ipcq_poison next_entry(struct ipcq *q, uint64_t after)
{
	struct ipcq_poison e;
	CHECK_RC(ipcq_poison_list(q, after, &e, 1), 1);
	return e;
}

static void check_payload(struct ipcq *q, const struct ipcq_poison *e, uint32_t producer,
			  uint64_t seq, size_t len)
{
	uint8_t buf[MAXMSG];
	CHECK(e->len == len);
	CHECK_RC(ipcq_poison_peek(q, e->id, buf, sizeof(buf), NULL), (int)len);
	CHECK(t_verify(buf, len, producer, seq) == 0);
}

static void test_put(void)
{
	const char *name = t_qname("pput");
	struct ipcq_config cfg = t_config(8, MAXMSG);
	cfg.side_capacity = 4;
	struct ipcq *q = t_create(name, &cfg);
	uint8_t buf[3 * MAXMSG], rbuf[MAXMSG];
	struct ipcq_stats st;
	struct ipcq_msginfo mi;

	t_fill(buf, 40, 7, 11);
	/* not attached, then consumer only: not a producer */
	CHECK_RC(ipcq_poison_put(q, buf, 40, IPCQ_REASON_REFUSED, 11, 1), -EPERM);
	CHECK_RC(ipcq_attach(q, IPCQ_ROLE_CONSUMER, NULL), 0);
	CHECK_RC(ipcq_poison_put(q, buf, 40, IPCQ_REASON_REFUSED, 11, 1), -EPERM);
	CHECK_RC(ipcq_detach(q), 0);

	/* a named producer: its stream is its name's */
	struct ipcq_attach_opts o = IPCQ_ATTACH_OPTS_INIT;
	o.flags = IPCQ_ATTACH_DEDUP;
	o.name = "pput.named";
	CHECK_RC(ipcq_attach(q, IPCQ_ROLE_PRODUCER, &o), 0);
	int32_t pidx = t_info(q).participant_index;

	CHECK_RC(ipcq_poison_put(NULL, buf, 40, IPCQ_REASON_REFUSED, 11, 1), -EINVAL);
	CHECK_RC(ipcq_poison_put(q, NULL, 40, IPCQ_REASON_REFUSED, 11, 1), -EINVAL);
	CHECK_RC(ipcq_poison_put(q, buf, 40, 0, 11, 1), -EINVAL);
	CHECK_RC(ipcq_poison_put(q, buf, 40, IPCQ_REASON_EXPIRED, 11, 1), -EINVAL);
	CHECK_RC(ipcq_poison_put(q, buf, 40, IPCQ_REASON_CONSUMER_CRASHED, 11, 1), -EINVAL);
	CHECK_RC(ipcq_poison_put(q, buf, 40, 99, 11, 1), -EINVAL);
	CHECK_RC(ipcq_poison_put(q, buf, MAXMSG + 1, IPCQ_REASON_REFUSED, 11, 1), -EMSGSIZE);
	CHECK(t_info(q).side_depth == 0);

	/* REFUSED: the caller's metadata, the payload byte for byte */
	CHECK_RC(ipcq_poison_put(q, buf, 40, IPCQ_REASON_REFUSED, 11, 3), 0);
	struct ipcq_poison e1 = next_entry(q, 0);
	CHECK(e1.reason == IPCQ_REASON_REFUSED && e1.seq == 11 && e1.deliveries == 3);
	CHECK(e1.producer == (uint32_t)pidx && e1.last_consumer == (uint32_t)pidx);
	CHECK(e1.last_consumer_pid == (uint32_t)getpid());
	CHECK(e1.stream != 0);
	check_payload(q, &e1, 7, 11, 40);

	/* MAX_DELIVERIES, deliveries saturated at 255; an empty payload */
	CHECK_RC(ipcq_poison_put(q, NULL, 0, IPCQ_REASON_MAX_DELIVERIES, 12, 300), 0);
	struct ipcq_poison e2 = next_entry(q, e1.id);
	CHECK(e2.reason == IPCQ_REASON_MAX_DELIVERIES && e2.seq == 12 && e2.deliveries == 255);
	CHECK(e2.len == 0 && e2.stream == e1.stream);

	/* TOO_LARGE: the first max_msg_size bytes kept */
	t_fill(buf, sizeof(buf), 7, 13);
	CHECK_RC(ipcq_poison_put(q, buf, sizeof(buf), IPCQ_REASON_TOO_LARGE, 13, 1), 0);
	struct ipcq_poison e3 = next_entry(q, e2.id);
	CHECK(e3.reason == IPCQ_REASON_TOO_LARGE && e3.seq == 13 && e3.len == MAXMSG);
	CHECK_RC(ipcq_poison_peek(q, e3.id, rbuf, sizeof(rbuf), NULL), (int)MAXMSG);
	CHECK(memcmp(rbuf, buf, MAXMSG) == 0);

	/* the stats and the queue's figures count them by reason */
	st.size = sizeof(st);
	CHECK_OK(ipcq_stats(q, &st, NULL, 0));
	CHECK(st.side_refused == 1 && st.side_too_large == 1);
	CHECK(st.side_by_reason[IPCQ_REASON_MAX_DELIVERIES] == 1);
	CHECK(st.info.side_depth == 3);
	/* nothing entered the main ring */
	CHECK(st.info.depth == 0);

	/* full: -ENOSPC, counted */
	CHECK_RC(ipcq_poison_put(q, buf, 8, IPCQ_REASON_NACKED, 14, 1), 0);
	CHECK_RC(ipcq_poison_put(q, buf, 8, IPCQ_REASON_REFUSED, 15, 1), -ENOSPC);
	CHECK_OK(ipcq_stats(q, &st, NULL, 0));
	CHECK(st.side_full == 1 && st.info.side_depth == 4);

	/* a cut entry is never replayed: by id -EMSGSIZE; ALL passes it over */
	CHECK_RC(ipcq_poison_replay(q, e3.id), -EMSGSIZE);
	CHECK_RC(ipcq_poison_replay(q, IPCQ_POISON_ALL), 3);
	CHECK(t_info(q).side_depth == 1);
	CHECK(next_entry(q, 0).id == e3.id);
	CHECK_RC(ipcq_poison_purge(q, e3.id), 1);
	CHECK(t_info(q).side_depth == 0);

	/* the replayed REFUSED entry: its producer, sequence and payload */
	struct ipcq *c = t_open_attach(name, IPCQ_ROLE_CONSUMER, NULL);
	int rc = ipcq_recv(c, rbuf, sizeof(rbuf), &mi, IPCQ_NOWAIT);
	CHECK_RC(rc, 40);
	CHECK(t_verify(rbuf, 40, 7, 11) == 0);
	CHECK(mi.seq == 11 && mi.producer == (uint32_t)pidx && (mi.flags & IPCQ_MSG_REPLAYED));
	CHECK_RC(ipcq_recv(c, rbuf, sizeof(rbuf), &mi, IPCQ_NOWAIT), 0);
	CHECK(mi.seq == 12);
	CHECK_RC(ipcq_recv(c, rbuf, sizeof(rbuf), &mi, IPCQ_NOWAIT), 8);
	CHECK(mi.seq == 14);
	CHECK_RC(ipcq_recv(c, rbuf, sizeof(rbuf), &mi, IPCQ_NOWAIT), -EAGAIN);
	CHECK_RC(ipcq_close(c), 0);

	/* an anonymous producer: stream 0; a read-only handle: -EPERM */
	CHECK_RC(ipcq_detach(q), 0);
	CHECK_RC(ipcq_attach(q, IPCQ_ROLE_PRODUCER, NULL), 0);
	CHECK_RC(ipcq_poison_put(q, buf, 16, IPCQ_REASON_REFUSED, 0, 0), 0);
	struct ipcq_poison e5 = next_entry(q, 0);
	CHECK(e5.stream == 0 && e5.seq == 0 && e5.deliveries == 0 && e5.len == 16);
	struct ipcq *ro = NULL;
	CHECK_OK(ipcq_open_readonly(name, &ro));
	CHECK_RC(ipcq_poison_put(ro, buf, 16, IPCQ_REASON_REFUSED, 0, 0), -EPERM);
	CHECK_RC(ipcq_close(ro), 0);
	CHECK_RC(ipcq_close(q), 0);
	CHECK_RC(ipcq_unlink(name), 0);

	/* no side ring: -ENOSPC */
	const char *name0 = t_qname("pput0");
	cfg.side_capacity = 0;
	struct ipcq *q0 = t_create(name0, &cfg);
	CHECK_RC(ipcq_attach(q0, IPCQ_ROLE_PRODUCER, NULL), 0);
	CHECK_RC(ipcq_poison_put(q0, buf, 16, IPCQ_REASON_REFUSED, 1, 1), -ENOSPC);
	CHECK_RC(ipcq_close(q0), 0);
	CHECK_RC(ipcq_unlink(name0), 0);
}

static const char *g_name;

static int crash_child(void *arg)
{
	const char *point = arg;
	uint8_t buf[32];
	struct ipcq *q = t_open_attach(g_name, IPCQ_ROLE_PRODUCER, NULL);
	t_fill(buf, sizeof(buf), 1, 1);
	t_crash_at(point, 1);
	ipcq_poison_put(q, buf, sizeof(buf), IPCQ_REASON_REFUSED, 1, 1);
	return 1; /* not reached: killed at the point */
}

/* Killed after its claim: recovery frees the half-written entry.  Killed
 * after the entry is complete: it stays, whole. */
static void test_crash(void)
{
	if (!T_HAVE_POINTS) {
		printf("crash points: not in this build\n");
		return;
	}
	g_name = t_qname("pputk");
	struct ipcq_config cfg = t_config(8, MAXMSG);
	cfg.side_capacity = 2;
	struct ipcq *q = t_create(g_name, &cfg);
	struct ipcq_recovery rep = { .size = sizeof(rep) };

	pid_t pid = t_spawn(crash_child, (void *)"side.claimed");
	t_wait_crashed(pid, 30, "producer at side.claimed");
	CHECK_OK(ipcq_recover(q, &rep));
	CHECK(rep.freed == 1);
	CHECK(t_info(q).side_depth == 0);
	CHECK_RC(ipcq_poison_list(q, 0, (struct ipcq_poison[1]){ 0 }, 1), 0);

	pid = t_spawn(crash_child, (void *)"side.written");
	t_wait_crashed(pid, 30, "producer at side.written");
	CHECK_OK(ipcq_recover(q, &rep));
	struct ipcq_poison e = next_entry(q, 0);
	CHECK(e.reason == IPCQ_REASON_REFUSED && e.seq == 1);
	check_payload(q, &e, 1, 1, 32);
	CHECK_RC(ipcq_close(q), 0);
	CHECK_RC(ipcq_unlink(g_name), 0);
}

int main(void)
{
	t_watchdog(t_limit(60), "t_poison_put", NULL);
	test_put();
	test_crash();
	printf("poison put ok\n");
	return 0;
}
