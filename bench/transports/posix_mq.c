/*
 * posix_mq.c - one POSIX message queue per channel (--only posix_mq):
 * mq_open(3), mq_timedsend(3), mq_timedreceive(3).
 *
 * At its best: RLIMIT_MSGQUEUE raised where allowed and the queue as deep
 * as the other transports' unless the kernel's limits refuse it (then the
 * depth is lowered until it fits and the note says so); the descriptor is
 * opened once by the parent and inherited, the name unlinked at once.  The
 * timed calls wait WAIT_MS at a time and are retried until the case is
 * aborted; a message size over fs/mqueue/msgsize_max is n/a.
 *
 * As for every transport, the driver pins the latency pair (pinger and
 * ponger) to two CPUs (unless --no-pin) and leaves the throughput
 * processes unpinned.
 */
#include "transport.h"

#include <fcntl.h>
#include <sys/resource.h>

static long read_proc_long(const char *path)
{
	FILE *f = fopen(path, "r");
	long v = -1;

	if (f) {
		if (fscanf(f, "%ld", &v) != 1)
			v = -1;
		fclose(f);
	}
	return v;
}

static void mq_destroy(struct tcase *tc)
{
	unsigned ch;

	for (ch = 0; ch < 2; ch++)
		if (tc->mq[ch] != (mqd_t)-1) {
			mq_close(tc->mq[ch]);
			tc->mq[ch] = (mqd_t)-1;
		}
}

/*
 * The kernel refuses a queue deeper than fs/mqueue/msg_max or with larger
 * messages than fs/mqueue/msgsize_max (EINVAL) unless the caller has
 * CAP_SYS_RESOURCE, and one whose bytes exceed RLIMIT_MSGQUEUE (EMFILE),
 * root included.  Raise the rlimit where allowed, then lower the depth
 * until the queue fits; a message size over the limit is n/a.
 */
static int mq_create(struct tcase *tc)
{
	unsigned ch, depth = tc->depth;
	struct rlimit rl;
	const char *why = NULL;

	rl.rlim_cur = rl.rlim_max = RLIM_INFINITY;
	if (setrlimit(RLIMIT_MSGQUEUE, &rl) != 0 && getrlimit(RLIMIT_MSGQUEUE, &rl) == 0) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_MSGQUEUE, &rl);
	}
	for (ch = 0; ch < tc->nch; ch++) {
		struct mq_attr a;

		object_name(tc, ch, "/");
		for (;;) {
			memset(&a, 0, sizeof(a));
			a.mq_maxmsg = depth;
			a.mq_msgsize = tc->size;
			mq_unlink(tc->name[ch]);
			tc->mq[ch] = mq_open(tc->name[ch], O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC,
					     0600, &a);
			if (tc->mq[ch] != (mqd_t)-1)
				break;
			if (errno == EINVAL) {
				long mmax = read_proc_long("/proc/sys/fs/mqueue/msg_max");
				long smax = read_proc_long("/proc/sys/fs/mqueue/msgsize_max");

				if (smax > 0 && tc->size > (unsigned long)smax) {
					set_note(tc, "message size over fs/mqueue/msgsize_max (%ld B)",
						 smax);
					return T_NA;
				}
				if (mmax > 0 && depth > (unsigned long)mmax) {
					depth = (unsigned)mmax;
					why = "fs/mqueue/msg_max";
					continue;
				}
			} else if ((errno == EMFILE || errno == ENOMEM) && depth > 1) {
				depth /= 2;
				why = "RLIMIT_MSGQUEUE";
				continue;
			}
			fprintf(stderr, "bench: [%s] mq_open: %s\n", tc->label, strerror(errno));
			return -errno;
		}
		/* Children inherit the descriptor: the name can go at once. */
		mq_unlink(tc->name[ch]);
	}
	if (why)
		set_note(tc, "depth lowered to %u by %s", depth, why);
	return 0;
}

static int mq_open_ep(struct ep *ep)
{
	ep->mq = ep->tc->mq[ep->ch];
	return 0;
}

static void deadline_in(struct timespec *ts, unsigned ms)
{
	clock_gettime(CLOCK_REALTIME, ts);
	ts->tv_nsec += (long)ms * 1000000;
	if (ts->tv_nsec >= 1000000000) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000;
	}
}

static int mq_send_t(struct ep *ep, uint64_t id, uint64_t seq, unsigned n)
{
	struct timespec ts;

	(void)n;
	stamp_msgs(ep, id, seq, 1);
	for (;;) {
		deadline_in(&ts, WAIT_MS);
		if (mq_timedsend(ep->mq, (const char *)ep->msg[0], ep->tc->size, 0, &ts) == 0)
			return 1;
		if (errno != ETIMEDOUT && errno != EINTR)
			return -errno;
		if (aborted())
			return 0;
	}
}

static int mq_recv_t(struct ep *ep, unsigned n)
{
	struct timespec ts;

	(void)n;
	for (;;) {
		ssize_t r;

		deadline_in(&ts, WAIT_MS);
		r = mq_timedreceive(ep->mq, (char *)ep->msg[0], ep->tc->size, NULL, &ts);
		if (r >= 0) {
			ep->deliver(ep, ep->msg[0], (size_t)r, 0);
			return 1;
		}
		if (errno != ETIMEDOUT && errno != EINTR)
			return -errno;
		if (aborted())
			return 0;
	}
}

const struct transport t_mq = {
	.name = "posix_mq",
	.create = mq_create,
	.destroy = mq_destroy,
	.open = mq_open_ep,
	.close = noop_close,
	.send = mq_send_t,
	.recv = mq_recv_t,
};
