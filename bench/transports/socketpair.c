/*
 * socketpair.c - one AF_UNIX SOCK_SEQPACKET socketpair(2) per channel
 * (--only socketpair): the kernel keeps message boundaries, so several
 * senders and receivers never interleave.
 *
 * At its best: the send buffer raised to hold as many messages as the
 * other queues (SO_SNDBUFFORCE where allowed, else SO_SNDBUF, at most
 * 32 MiB); MSG_DONTWAIT on every call and poll(2) when it would block
 * (WAIT_MS at a time, see fd_wait()), one send(2) and one recv(2) per
 * message.
 *
 * As for every transport, the driver pins the latency pair (pinger and
 * ponger) to two CPUs (unless --no-pin) and leaves the throughput
 * processes unpinned.
 */
#include "transport.h"

#include <poll.h>
#include <sys/socket.h>

static int sock_create(struct tcase *tc)
{
	unsigned ch;
	int buf = (int)((uint64_t)tc->depth * (tc->size + 64) > (32u << 20)
				? (32u << 20) : tc->depth * (tc->size + 64));

	for (ch = 0; ch < tc->nch; ch++) {
		if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, tc->fd[ch]) != 0)
			return -errno;
		/* Room for as many messages as the other queues hold, where allowed. */
		if (setsockopt(tc->fd[ch][1], SOL_SOCKET, SO_SNDBUFFORCE, &buf, sizeof(buf)) != 0 &&
		    setsockopt(tc->fd[ch][1], SOL_SOCKET, SO_SNDBUF, &buf, sizeof(buf)) != 0 &&
		    ch == 0)
			set_note(tc, "SO_SNDBUF left at the default");
	}
	return 0;
}

static int sock_send(struct ep *ep, uint64_t id, uint64_t seq, unsigned n)
{
	(void)n;
	stamp_msgs(ep, id, seq, 1);
	for (;;) {
		ssize_t w = send(ep->fd, ep->msg[0], ep->tc->size, MSG_DONTWAIT | MSG_NOSIGNAL);
		int rc;

		if (w == (ssize_t)ep->tc->size)
			return 1;
		if (w >= 0)
			return -EPROTO; /* a SEQPACKET send is all or nothing */
		if (errno != EAGAIN && errno != EINTR && errno != ENOBUFS)
			return -errno;
		rc = fd_wait(ep->fd, POLLOUT);
		if (rc)
			return rc < 0 ? rc : 0;
	}
}

static int sock_recv(struct ep *ep, unsigned n)
{
	(void)n;
	for (;;) {
		ssize_t r = recv(ep->fd, ep->msg[0], ep->tc->size, MSG_DONTWAIT | MSG_TRUNC);
		int rc;

		if (r > 0) {
			if ((size_t)r > ep->tc->size)
				return -EMSGSIZE;
			ep->deliver(ep, ep->msg[0], (size_t)r, 0);
			return 1;
		}
		if (r == 0)
			return -EPIPE;
		if (errno != EAGAIN && errno != EINTR)
			return -errno;
		rc = fd_wait(ep->fd, POLLIN);
		if (rc)
			return rc < 0 ? rc : 0;
	}
}

const struct transport t_sock = {
	.name = "socketpair",
	.create = sock_create,
	.destroy = fds_close,
	.open = fd_open,
	.close = noop_close,
	.send = sock_send,
	.recv = sock_recv,
};
