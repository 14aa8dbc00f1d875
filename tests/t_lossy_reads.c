/* A lossy group's reader decides on what its copy read: frozen after it found its copy this lap's (lossy.checked) while the producer laps it with messages that expire at once, it delivers its message, not judged by the next lap's deadline; a named producer's message that a lossy reader delivered and a later lap overwrote is still known accepted to the name's next holder (no duplicate), and a reader frozen after its note (lossy.noted) or before it (lossy.checked) while the name is taken over delivers the message at most once in all. */
#define T_INTERNALS 1
#include "testutil.h"

#define CAP 8u
#define MAXLEN 64u
#define PNAME "gw"

static const char *qn;

static struct ipcq *tap(void)
{
	return t_group_consumer(qn, "tap", 0);
}

/* A queue with one lossy group, "tap" (producers never wait for it). */
static struct ipcq *lossy_queue(const char *test, uint32_t flags)
{
	struct ipcq_config cfg = t_config(CAP, MAXLEN);
	cfg.max_groups = 1;
	cfg.flags |= flags;
	qn = t_qname(test);
	struct ipcq *q = t_create(qn, &cfg);
	CHECK_RC(ipcq_group_create(q, "tap", IPCQ_GROUP_LOSSY), 0);
	return q;
}

/* Laps of anonymous messages (producer 9) over the whole ring; ttl_ns 0:
 * none, else each expires that soon. */
static void lap(uint64_t from, int64_t ttl_ns)
{
	struct ipcq *p = t_open_attach(qn, IPCQ_ROLE_PRODUCER, NULL);
	uint8_t buf[MAXLEN];
	struct ipcq_send_opts o = IPCQ_SEND_OPTS_INIT;
	o.ttl_ns = ttl_ns;
	for (uint64_t s = from; s < from + CAP + 1; s++)
		CHECK_RC(ipcq_send_ex(p, buf, t_fill(buf, 20, 9, s), ttl_ns ? &o : NULL, IPCQ_NOWAIT), 0);
	CHECK_OK(ipcq_close(p));
}

/* ---- the expiry of the copy's lap ---------------------------------------- */

static int reader_checked(void *arg)
{
	(void)arg;
	t_freeze_at("lossy.checked", 1);
	struct ipcq *l = tap();
	uint8_t buf[MAXLEN];
	struct ipcq_msginfo m;
	/* stops after the copy of message 1 was found this lap's; resumed
	 * after a lap of messages that expire at once */
	int rc = ipcq_recv(l, buf, sizeof(buf), &m, IPCQ_NOWAIT);
	if (rc != 20 || t_verify(buf, (size_t)rc, 1, 1) != 0)
		T_FAIL("lossy reader: got rc %d instead of its copy of message 1 (judged by "
		       "the next lap's deadline?)", rc);
	CHECK_OK(ipcq_close(l));
	return 0;
}

static void expiry_of_the_copy(void)
{
	struct ipcq *q = lossy_queue("lossy_exp", IPCQ_CF_EXPIRY);
	struct ipcq *p = t_open_attach(qn, IPCQ_ROLE_PRODUCER, NULL);
	uint8_t buf[MAXLEN];
	CHECK_RC(ipcq_send(p, buf, t_fill(buf, 20, 1, 1), IPCQ_NOWAIT), 0); /* no time to live */
	pid_t r = t_spawn(reader_checked, NULL);
	t_wait_stopped(r, 30, "lossy reader at lossy.checked");
	lap(100, 1); /* expired at once */
	struct ipcq_stats st0;
	memset(&st0, 0, sizeof(st0));
	st0.size = sizeof(st0);
	CHECK_OK(ipcq_stats(q, &st0, NULL, 0));
	t_resume(r);
	CHECK(t_reap(r) == 0);
	struct ipcq_stats st;
	memset(&st, 0, sizeof(st));
	st.size = sizeof(st);
	CHECK_OK(ipcq_stats(q, &st, NULL, 0));
	if (st.expired != st0.expired)
		T_FAIL("the lossy reader counted %llu expired: it judged its copy by the next lap",
		       (unsigned long long)(st.expired - st0.expired));
	printf("a lossy copy judged by its own lap's deadline: ok\n");
	CHECK_OK(ipcq_close(p));
	CHECK_OK(ipcq_close(q));
	t_cleanup(qn);
}

/* ---- a named producer's message read by a lossy reader ------------------- */

static struct ipcq *named(void)
{
	struct ipcq_attach_opts o = IPCQ_ATTACH_OPTS_INIT;
	o.name = PNAME;
	o.flags = IPCQ_ATTACH_DEDUP;
	return t_open_attach(qn, IPCQ_ROLE_PRODUCER, &o);
}

/* The holder: seq 1 published, killed before the name records it. */
static int holder(void *arg)
{
	(void)arg;
	t_crash_at("send.published_unrecorded", 1);
	struct ipcq *h = named();
	uint8_t buf[MAXLEN];
	int rc = ipcq_send_seq(h, 1, buf, t_fill(buf, 24, 2, 1), IPCQ_NOWAIT);
	printf("holder: send returned %d instead of dying\n", rc);
	return 1;
}

/* The name's next holder: what it learns, and its replay of seq 1. */
static int take_over(uint64_t want_last)
{
	struct ipcq *h = named();
	uint64_t last = UINT64_MAX;
	CHECK_OK(ipcq_last_seq(h, &last));
	if (last != want_last)
		T_FAIL("the name's next holder learns last_seq %llu, want %llu",
		       (unsigned long long)last, (unsigned long long)want_last);
	uint8_t buf[MAXLEN];
	int rc = ipcq_send_seq(h, 1, buf, t_fill(buf, 24, 2, 1), IPCQ_NOWAIT);
	CHECK_OK(ipcq_close(h));
	return rc;
}

/* Receive from the lossy group until it is empty: how many copies of
 * the named producer's seq 1 it delivered (the laps' are checked). */
static unsigned drain(struct ipcq *l)
{
	uint8_t buf[MAXLEN];
	struct ipcq_msginfo m;
	unsigned ones = 0;
	int rc;
	while ((rc = ipcq_recv(l, buf, sizeof(buf), &m, IPCQ_NOWAIT)) >= 0) {
		if (m.stream) {
			CHECK(m.seq == 1 && t_verify(buf, (size_t)rc, 2, 1) == 0);
			ones++;
		} else {
			uint32_t id;
			uint64_t seq;
			t_header(buf, &id, &seq);
			CHECK(id == 9 && t_verify(buf, (size_t)rc, 9, seq) == 0);
		}
	}
	CHECK_RC(rc, -EAGAIN);
	return ones;
}

static void delivered_then_lapped(void)
{
	struct ipcq *q = lossy_queue("lossy_dedup", 0);
	struct ipcq *l = tap();
	t_reap_killed(t_spawn(holder, NULL), SIGKILL);
	unsigned ones = drain(l);
	CHECK(ones == 1);
	lap(100, 0);
	(void)drain(l);
	CHECK_RC(take_over(1), IPCQ_SEND_DUPLICATE);
	CHECK(drain(l) == 0);
	printf("a named message a lossy reader delivered, then lapped: known accepted: ok\n");
	CHECK_OK(ipcq_close(l));
	CHECK_OK(ipcq_close(q));
	t_cleanup(qn);
}

struct frozen {
	const char *point;
	unsigned ones; /* copies of seq 1 it delivered */
};

static int reader_at(void *arg)
{
	struct frozen *f = arg;
	t_freeze_at(f->point, 1);
	struct ipcq *l = tap();
	f->ones = drain(l);
	CHECK_OK(ipcq_close(l));
	return 0;
}

/* A reader frozen at @point with seq 1 in hand while a lap overwrites it
 * and the name is taken over (want_last: what the new holder learns). */
static void frozen_reader(struct frozen *f, const char *point, uint64_t want_last)
{
	struct ipcq *q = lossy_queue("lossy_frz", 0);
	f->point = point;
	f->ones = 0;
	t_reap_killed(t_spawn(holder, NULL), SIGKILL);
	pid_t r = t_spawn(reader_at, f);
	t_wait_stopped(r, 30, point);
	lap(100, 0);
	int rc = take_over(want_last);
	/* the replay is accepted only when the reader has not noted it */
	CHECK_RC(rc, want_last ? IPCQ_SEND_DUPLICATE : 0);
	t_resume(r);
	CHECK(t_reap(r) == 0);
	/* the frozen copy is lost (overwritten); the replay, if accepted,
	 * is read once */
	struct ipcq *l = tap();
	unsigned later = drain(l);
	if (f->ones + later != (want_last ? 0u : 1u))
		T_FAIL("frozen at %s: seq 1 delivered %u times by the frozen reader and %u "
		       "after", point, f->ones, later);
	printf("a lossy reader frozen at %s while the name is taken over: seq 1 delivered "
	       "%u time(s): ok\n", point, f->ones + later);
	CHECK_OK(ipcq_close(l));
	CHECK_OK(ipcq_close(q));
	t_cleanup(qn);
}

int main(void)
{
	t_need_points();
	struct frozen *f = t_shared(sizeof(*f));
	t_watchdog(t_limit(120), "t_lossy_reads", NULL);
	expiry_of_the_copy();
	delivered_then_lapped();
	frozen_reader(f, "lossy.noted", 1);
	frozen_reader(f, "lossy.checked", 0);
	t_watchdog(0, NULL, NULL);
	return 0;
}
