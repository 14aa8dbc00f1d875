/*
 * common.c - what several transports of bench/transports share: the note
 * of a case, unique object names, shared-memory channels (the hand-written
 * ring, rte_ring, ck_ring) and descriptor pairs (pipe, socketpair).
 */
#include "transport.h"

#include <poll.h>

void set_note(struct tcase *tc, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(tc->note, sizeof(tc->note), fmt, ap);
	va_end(ap);
}

void object_name(struct tcase *tc, unsigned ch, const char *prefix)
{
	snprintf(tc->name[ch], sizeof(tc->name[ch]), "%sbench-%d-%u-%u", prefix, (int)getpid(),
		 tc->serial, ch);
}

/* ------------------------------------------------------------------ */
/* Shared memory of the ring transports                                */
/* ------------------------------------------------------------------ */

/* tc->mem: tc->nch channels of chan_len bytes each, page-aligned. */
int shm_channels(struct tcase *tc, size_t chan_len)
{
	chan_len = (chan_len + 4095) & ~(size_t)4095;
	tc->chan_len = chan_len;
	tc->memlen = chan_len * tc->nch;
	tc->mem = bench_shm_alloc(tc->memlen);
	if (!tc->mem)
		return -ENOMEM;
	return 0;
}

void shm_destroy(struct tcase *tc)
{
	bench_shm_free(tc->mem, tc->memlen);
	tc->mem = NULL;
}

int shm_open_ep(struct ep *ep)
{
	ep->chan = ep->tc->mem + ep->ch * ep->tc->chan_len;
	ep->cached = 0;
#ifdef MADV_POPULATE_WRITE
	/* Map the channel now, as ipcq_create() does, not on the hot path. */
	(void)madvise(ep->chan, ep->tc->chan_len, MADV_POPULATE_WRITE);
#endif
	return 0;
}

void noop_close(struct ep *ep)
{
	(void)ep;
}

/* ------------------------------------------------------------------ */
/* Descriptors of pipe and socketpair                                  */
/* ------------------------------------------------------------------ */

void fds_close(struct tcase *tc)
{
	unsigned ch, i;

	for (ch = 0; ch < 2; ch++)
		for (i = 0; i < 2; i++)
			if (tc->fd[ch][i] >= 0) {
				close(tc->fd[ch][i]);
				tc->fd[ch][i] = -1;
			}
}

int fd_open(struct ep *ep)
{
	ep->fd = ep->tc->fd[ep->ch][ep->role == ROLE_SEND ? 1 : 0];
	return 0;
}

int fd_wait(int fd, short events)
{
	struct pollfd p = { fd, events, 0 };

	for (;;) {
		int rc = poll(&p, 1, WAIT_MS);

		if (rc > 0)
			return 0;
		if (rc < 0 && errno != EINTR)
			return -errno;
		if (aborted())
			return 1;
	}
}
