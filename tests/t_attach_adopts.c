/* A consumer that attaches takes up at once the message a SIGKILLed consumer had claimed and not released: its first receive (without waiting) delivers it, flagged, ahead of newer messages, in fast and in ack mode. */
#include "ipcq.h"
#include "testutil.h"

enum { MAX = 64 };

#if T_HAVE_POINTS
struct victim {
	const char *name;
	int ack;
};

/* Receive one message and die at the crash point: after the copy (fast
 * mode) or after the lease holds it (ack mode), before the slot's release. */
static int claim_and_die(void *arg)
{
	struct victim *v = arg;
	setenv("IPCQ_CRASH", v->ack ? "ack.leased" : "recv.copied", 1);
	struct ipcq *c = v->ack ? t_ack_consumer(v->name, 4)
				: t_open_attach(v->name, IPCQ_ROLE_CONSUMER, NULL);
	uint8_t buf[MAX];
	ipcq_recv(c, buf, sizeof(buf), NULL, 5000 * (int64_t)1000000);
	return 3; /* the crash point should have killed us */
}

static void run(int ack)
{
	struct ipcq_config cfg = t_config(16, MAX);
	cfg.lease_capacity = 8;
	const char *name = t_qname("adopt");
	struct ipcq *p = t_create(name, &cfg);
	CHECK_OK(ipcq_attach(p, IPCQ_ROLE_PRODUCER, NULL));
	struct victim *v = t_shared(sizeof(*v));
	v->name = name;
	v->ack = ack;

	t_send_pattern(p, MAX, 1);
	pid_t pid = t_fork(claim_and_die, v);
	CHECK(t_wait(pid) != 0);
	t_send_pattern(p, MAX, 2);
	t_send_pattern(p, MAX, 3);

	struct ipcq *c = ack ? t_ack_consumer(name, 4) : t_open_attach(name, IPCQ_ROLE_CONSUMER, NULL);
	for (uint64_t want = 1; want <= 3; want++) {
		uint8_t buf[MAX];
		struct ipcq_msginfo mi;
		int rc = ipcq_recv(c, buf, sizeof(buf), &mi, IPCQ_NOWAIT);
		if (rc < 0)
			T_FAIL("%s: receive %" PRIu64 ": %d (%s)", ack ? "ack" : "fast", want, rc,
			       ipcq_strerror(rc));
		uint32_t prod;
		uint64_t seq;
		t_header(buf, &prod, &seq);
		if (seq != want)
			T_FAIL("%s: got message %" PRIu64 ", expected %" PRIu64 " (the dead "
			       "consumer's first)", ack ? "ack" : "fast", seq, want);
		CHECK(t_verify(buf, (size_t)rc, 0, seq) == 0);
		CHECK(((mi.flags & IPCQ_MSG_REDELIVERED) != 0) == (want == 1));
		if (ack)
			CHECK_OK(ipcq_ack(c, mi.token));
	}
	uint8_t buf[MAX];
	CHECK_RC(ipcq_recv(c, buf, sizeof(buf), NULL, IPCQ_NOWAIT), -EAGAIN);
	ipcq_close(c);
	ipcq_close(p);
}
#endif

int main(void)
{
#if T_HAVE_POINTS
	run(0);
	run(1);
	printf("ok\n");
	return 0;
#else
	printf("SKIP: crash points are compiled in debug builds only\n");
	return T_SKIP;
#endif
}
