/*
 * boost_mq.c - Boost.Interprocess message_queue (--only boost_mq), what a
 * C++ user picks for a message queue between processes; built when
 * libboost-dev is found (-DBENCH_HAVE_BOOST), n/a otherwise.
 *
 * One queue per channel, created by the parent and opened by name by each
 * process after fork, as Boost intends; Boost's C++ is kept behind the C
 * interface of boost_mq.h (boost_mq.cc).  At its best: every call first
 * tries the non-blocking try_send/try_receive, and only when that fails
 * waits in timed_send/timed_receive (WAIT_MS at a time, retried until the
 * case is aborted).  Every send and receive takes the queue's
 * process-shared mutex: that is the design being measured.
 *
 * As for every transport, the driver pins the latency pair (pinger and
 * ponger) to two CPUs (unless --no-pin) and leaves the throughput
 * processes unpinned.
 */
#include "transport.h"

#ifdef BENCH_HAVE_BOOST
#include "boost_mq.h"

static int bmq_create(struct tcase *tc)
{
	unsigned ch;
	int rc;

	for (ch = 0; ch < tc->nch; ch++) {
		object_name(tc, ch, "");
		rc = bench_bmq_create(tc->name[ch], tc->depth, tc->size);
		if (rc < 0) {
			fprintf(stderr, "bench: [%s] boost message_queue: %s\n", tc->label,
				strerror(-rc));
			return rc;
		}
		track_shm(ch, "/dev/shm/%s", tc->name[ch]);
	}
	return 0;
}

static void bmq_destroy(struct tcase *tc)
{
	unsigned ch;

	for (ch = 0; ch < tc->nch; ch++) {
		bench_bmq_remove(tc->name[ch]);
		untrack_shm(ch);
	}
}

static int bmq_open(struct ep *ep)
{
	return bench_bmq_open(ep->tc->name[ep->ch], (struct bench_bmq **)&ep->bmq);
}

static void bmq_close(struct ep *ep)
{
	bench_bmq_close(ep->bmq);
	ep->bmq = NULL;
}

static int bmq_send(struct ep *ep, uint64_t id, uint64_t seq, unsigned n)
{
	int rc;

	(void)n;
	stamp_msgs(ep, id, seq, 1);
	for (;;) {
		rc = bench_bmq_send(ep->bmq, ep->msg[0], ep->tc->size, WAIT_MS);
		if (rc == 0)
			return 1;
		if (rc != -ETIMEDOUT)
			return rc;
		if (aborted())
			return 0;
	}
}

static int bmq_recv(struct ep *ep, unsigned n)
{
	size_t len;
	int rc;

	(void)n;
	for (;;) {
		rc = bench_bmq_recv(ep->bmq, ep->msg[0], ep->tc->size, &len, WAIT_MS);
		if (rc == 0) {
			ep->deliver(ep, ep->msg[0], len, 0);
			return 1;
		}
		if (rc != -ETIMEDOUT)
			return rc;
		if (aborted())
			return 0;
	}
}

const struct transport t_boost = {
	.name = "boost_mq",
	.create = bmq_create,
	.destroy = bmq_destroy,
	.open = bmq_open,
	.close = bmq_close,
	.send = bmq_send,
	.recv = bmq_recv,
};
#else
static int bmq_create(struct tcase *tc)
{
	set_note(tc, "not built: needs bench/transports/boost_mq.cc and -DBENCH_HAVE_BOOST "
		 "(libboost-dev)");
	return T_NA;
}

const struct transport t_boost = {
	.name = "boost_mq",
	.create = bmq_create,
};
#endif
