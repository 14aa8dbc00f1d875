/* A lossy group beside a durable one: its reader, held back and then slowed down, never holds the producer, never takes a torn or wrong message, and what it got plus what it was told it missed is exactly what was sent; the group's dropped count agrees. */
#include "testutil.h"

enum { CAP = 16, MAXLEN = 200 };

struct shared {
	uint64_t n;            /* messages sent */
	uint64_t sent;         /* so far */
	uint64_t got_main;
	uint64_t delivered;    /* by the lossy reader */
	uint64_t gaps;         /* sum of msginfo.gap */
	uint64_t gap_events;
};
static struct shared *sh;
static const char *qn;

static int producer(void *arg)
{
	(void)arg;
	struct ipcq *q = t_open_attach(qn, IPCQ_ROLE_PRODUCER, NULL);
	uint8_t buf[MAXLEN];
	for (uint64_t s = 1; s <= sh->n; s++) {
		size_t len = t_fill(buf, t_msg_len(0, s, 16, MAXLEN), 0, s);
		CHECK_OK(ipcq_send(q, buf, len, IPCQ_FOREVER));
		__atomic_store_n(&sh->sent, s, __ATOMIC_SEQ_CST);
	}
	CHECK_OK(ipcq_close(q));
	return 0;
}

static int durable(void *arg)
{
	(void)arg;
	struct ipcq_attach_opts o = IPCQ_ATTACH_OPTS_INIT;
	o.group = "main";
	struct ipcq *q = t_open_attach(qn, IPCQ_ROLE_CONSUMER, &o);
	uint8_t buf[MAXLEN];
	for (uint64_t want = 1; want <= sh->n; want++) {
		int rc = ipcq_recv(q, buf, sizeof(buf), NULL, IPCQ_FOREVER);
		CHECK(rc >= 16);
		uint32_t p;
		uint64_t seq;
		t_header(buf, &p, &seq);
		if (p != 0 || seq != want || t_verify(buf, (size_t)rc, p, seq) != 0)
			T_FAIL("durable group: got %llu, wanted %llu", (unsigned long long)seq,
			       (unsigned long long)want);
	}
	__atomic_store_n(&sh->got_main, sh->n, __ATOMIC_SEQ_CST);
	CHECK_OK(ipcq_close(q));
	return 0;
}

static int lossy(void *arg)
{
	(void)arg;
	struct ipcq_attach_opts o = IPCQ_ATTACH_OPTS_INIT;
	o.group = "tap";
	struct ipcq *q = t_open_attach(qn, IPCQ_ROLE_CONSUMER, &o);
	uint8_t buf[MAXLEN];
	struct ipcq_msginfo mi;
	uint64_t last = 0;
	unsigned round = 0;
	/* held back until the producer is several laps ahead */
	while (__atomic_load_n(&sh->sent, __ATOMIC_SEQ_CST) < sh->n / 2)
		t_poll_pause(&round);
	CHECK_RC(ipcq_peek(q, &(struct ipcq_zmsg){ 0 }, 1, IPCQ_NOWAIT), -ENOTSUP);
	while (last < sh->n) {
		int rc = ipcq_recv(q, buf, sizeof(buf), &mi, IPCQ_FOREVER);
		CHECK(rc >= 16);
		uint32_t p;
		uint64_t seq;
		t_header(buf, &p, &seq);
		if (p != 0 || seq > sh->n || t_verify(buf, (size_t)rc, p, seq) != 0)
			T_FAIL("lossy group: a wrong or torn message (seq %llu)", (unsigned long long)seq);
		uint64_t gap = (mi.flags & IPCQ_MSG_GAP) ? mi.gap : 0;
		if ((mi.flags & IPCQ_MSG_GAP) && !gap)
			T_FAIL("lossy group: the gap flag without a count");
		/* what it got and what it was told it missed add up */
		if (seq != last + gap + 1)
			T_FAIL("lossy group: %llu after %llu with a gap of %llu",
			       (unsigned long long)seq, (unsigned long long)last,
			       (unsigned long long)gap);
		last = seq;
		sh->delivered++;
		sh->gaps += gap;
		sh->gap_events += gap ? 1 : 0;
		/* slow: a little work per message, so the producer laps it */
		for (volatile unsigned i = 0; i < (seq % 7) * 2000; i++)
			;
	}
	CHECK_OK(ipcq_close(q));
	return 0;
}

int main(void)
{
	t_watchdog(t_limit(120), "t_groups_lossy", NULL);
	sh = t_shared(sizeof(*sh));
	sh->n = t_count(200000, 40000);
	struct ipcq_config cfg = t_config(CAP, MAXLEN);
	cfg.max_groups = 2;
	qn = t_qname("groups_lossy");
	struct ipcq *q = t_create(qn, &cfg);
	CHECK_RC(ipcq_group_create(q, "main", 0), 0);
	CHECK_RC(ipcq_group_create(q, "tap", IPCQ_GROUP_LOSSY), 1);
	pid_t kids[3] = { t_fork(lossy, NULL), t_fork(durable, NULL), t_fork(producer, NULL) };
	for (unsigned i = 0; i < 3; i++)
		CHECK(t_wait(kids[i]) == 0);
	struct ipcq_group_info gi[2];
	CHECK_RC(ipcq_group_list(q, gi, 2), 2);
	printf("lossy: %llu sent, %llu delivered, %llu missed in %llu gaps; group dropped %llu\n",
	       (unsigned long long)sh->n, (unsigned long long)sh->delivered,
	       (unsigned long long)sh->gaps, (unsigned long long)sh->gap_events,
	       (unsigned long long)gi[1].dropped);
	CHECK(sh->delivered + sh->gaps == sh->n);
	CHECK(gi[1].dropped == sh->gaps);
	CHECK(sh->gap_events > 0); /* it was held back a lap at least */
	CHECK(gi[1].position == sh->n && gi[0].position == sh->n);
	CHECK_OK(ipcq_close(q));
	return 0;
}
