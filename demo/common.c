/*
 * common.c - what every child does the same way: open and attach to a
 * queue after fork(), meet the others at the start (ready), and stay
 * attached at the end until the parent has read the final counters.
 */
#include <errno.h>
#include <stdio.h>

#include "demo.h"

/*
 * Each child opens the queue itself after fork() instead of using the
 * parent's handle: a participant's liveness is an OFD lock, which belongs
 * to the open file description.  A description inherited from the parent
 * would be shared with it, and the lock would outlive the child.
 * @opts may be NULL (the defaults); its name is set here.
 */
int open_attach(const char *qname, unsigned roles,
		       struct ipcq_attach_opts *opts, const char *who,
		       struct ipcq **out)
{
	struct ipcq_attach_opts defaults = IPCQ_ATTACH_OPTS_INIT;
	struct ipcq *q = NULL;
	int rc;

	if (!opts)
		opts = &defaults;
	rc = ipcq_open(qname, &q);
	if (rc < 0) {
		fprintf(stderr, "%s: ipcq_open(%s): %s\n", who, qname,
			ipcq_strerror(rc));
		return rc;
	}
	opts->name = who;
	rc = ipcq_attach(q, roles, opts);
	if (rc < 0) {
		fprintf(stderr, "%s: ipcq_attach(%s): %s\n", who, qname,
			ipcq_strerror(rc));
		ipcq_close(q);
		return rc;
	}
	*out = q;
	return 0;
}

/* Announce this child attached, so gateways start with everyone in place. */
void signal_ready(const struct demo *d)
{
	atomic_fetch_add_explicit(&d->sh->ready, 1, memory_order_relaxed);
}

void wait_all_ready(const struct demo *d)
{
	unsigned everyone = first_children(d);
	struct timespec ms = { 0, 1000000 };

	while (atomic_load_explicit(&d->sh->ready, memory_order_relaxed) < everyone)
		nanosleep(&ms, NULL);
}

/*
 * A child that is done stays attached until the parent has taken the
 * final ipcq_stats() snapshot: a participant that detaches leaves the
 * table, and its counters with it.
 */
void linger(const struct demo *d)
{
	struct timespec ms = { 0, 1000000 };

	/* release: pairs with the parent's acquire; our last counters are in */
	atomic_fetch_add_explicit(&d->sh->finished, 1, memory_order_release);
	/* acquire: pairs with the parent's release after its snapshot */
	while (!atomic_load_explicit(&d->sh->dismissed, memory_order_acquire))
		nanosleep(&ms, NULL);
}

/*
 * A consumer that has every END marker it waits for: count in *@extra
 * what the queue still gives it (nothing may follow the markers).
 * Returns 0, or the -errno of a receive that failed.
 */
int count_after_end(struct ipcq *q, uint64_t *extra)
{
	for (;;) {
		union { struct order o; struct fill f; } m;
		int rc = ipcq_recv(q, &m, sizeof(m), NULL, IPCQ_NOWAIT);

		if (rc == -EAGAIN)
			return 0;
		if (rc == -EINTR)
			continue;
		if (rc < 0)
			return rc;
		(*extra)++;
	}
}
