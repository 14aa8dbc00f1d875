/*
 * pipe.c - one pipe(2) per channel (--only pipe), the kernel's byte stream.
 *
 * At its best: the pipe is made as deep as the other queues where the
 * kernel allows (F_SETPIPE_SZ up to depth * size, at most 16 MiB, else
 * 1 MiB); both ends O_NONBLOCK, so a call that would block returns at once
 * and the process waits in poll(2) (WAIT_MS at a time, see fd_wait()), one
 * write(2) and one read(2) per message.  Only a write of at most PIPE_BUF
 * bytes is atomic, so larger messages run with one producer and one
 * consumer only (n/a otherwise).
 *
 * As for every transport, the driver pins the latency pair (pinger and
 * ponger) to two CPUs (unless --no-pin) and leaves the throughput
 * processes unpinned.
 */
#include "transport.h"

#include <fcntl.h>
#include <poll.h>

static int pipe_create(struct tcase *tc)
{
	unsigned ch;
	int want;

	/* Only a write of at most PIPE_BUF bytes is atomic. */
	if (tc->size > PIPE_BUF && (tc->np > 1 || tc->nc > 1)) {
		set_note(tc, "writes over PIPE_BUF (%d B) are not atomic: several producers or "
			 "consumers would interleave", PIPE_BUF);
		return T_NA;
	}
	want = (int)((uint64_t)tc->depth * tc->size > (16u << 20) ? (16u << 20)
								    : tc->depth * tc->size);
	for (ch = 0; ch < tc->nch; ch++) {
		if (pipe2(tc->fd[ch], O_NONBLOCK | O_CLOEXEC) != 0)
			return -errno;
		/* As deep as the other queues where the kernel lets us. */
		if (fcntl(tc->fd[ch][1], F_SETPIPE_SZ, want) < 0 &&
		    fcntl(tc->fd[ch][1], F_SETPIPE_SZ, 1 << 20) < 0 && ch == 0)
			set_note(tc, "pipe size left at the default");
	}
	return 0;
}

static int pipe_send(struct ep *ep, uint64_t id, uint64_t seq, unsigned n)
{
	const size_t size = ep->tc->size;
	size_t done = 0;

	(void)n;
	stamp_msgs(ep, id, seq, 1);
	while (done < size) {
		ssize_t w = write(ep->fd, ep->msg[0] + done, size - done);

		if (w > 0) {
			done += (size_t)w;
			continue;
		}
		if (w < 0 && errno != EAGAIN && errno != EINTR)
			return -errno;
		w = fd_wait(ep->fd, POLLOUT);
		if (w)
			return w < 0 ? (int)w : 0; /* aborted: a partial message is never counted */
	}
	return 1;
}

static int pipe_recv(struct ep *ep, unsigned n)
{
	const size_t size = ep->tc->size;
	size_t done = 0;

	(void)n;
	while (done < size) {
		ssize_t r = read(ep->fd, ep->msg[0] + done, size - done);

		if (r > 0) {
			done += (size_t)r;
			/* With several readers a message must come in one read. */
			if (done < size && ep->tc->nc > 1)
				break;
			continue;
		}
		if (r == 0)
			return -EPIPE;
		if (errno != EAGAIN && errno != EINTR)
			return -errno;
		r = fd_wait(ep->fd, POLLIN);
		if (r)
			return r < 0 ? (int)r : 0;
	}
	ep->deliver(ep, ep->msg[0], done, 0);
	return 1;
}

const struct transport t_pipe = {
	.name = "pipe",
	.create = pipe_create,
	.destroy = fds_close,
	.open = fd_open,
	.close = noop_close,
	.send = pipe_send,
	.recv = pipe_recv,
};
