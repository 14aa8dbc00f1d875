/*
 * registry.c - the participant table's liveness.
 *
 * Owns: the OFD locks and every question of whether a participant, or the
 * owner named in a state word, is alive (attach.c takes and leaves
 * entries).
 *
 * Liveness: participant i is alive exactly while some open file description
 * holds a write lock (F_OFD_SETLK) on byte off_participants + i * size of
 * the segment.  The kernel drops the lock when the last descriptor of that
 * file description closes, which includes the death of the process, so a
 * dead participant is known as such at once, with no PID-reuse race and no
 * daemon.  The pid stored in the entry is for people, never for decisions.
 *
 * K1, the death edge: a process's stores happen before its exit, the
 * kernel drops its OFD locks at exit, and an F_OFD_GETLK (or SETLK) that
 * finds the lock free is ordered after that drop (the kernel takes the
 * file's lock-context spinlock on both sides).  So whoever finds a
 * participant dead sees everything it wrote, relaxed stores included.
 * The same holds for a clean detach (close of the lock descriptor).
 *
 * Ownership of an entry goes with its lock: whoever holds the lock may
 * write the entry's identity line and counters; nobody else writes them.
 * A process takes a free entry by trying the locks in order with
 * F_OFD_SETLK (non-blocking), so two attaching processes can never get the
 * same entry.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "ipcq_internal.h"

/* The one-byte OFD locks every liveness question is made of. */
int ipcq__ofd_lock(int fd, off_t off, short type, int wait)
{
	struct flock fl;

	memset(&fl, 0, sizeof(fl));
	fl.l_type = type;
	fl.l_whence = SEEK_SET;
	fl.l_start = off;
	fl.l_len = 1;
	while (fcntl(fd, wait ? F_OFD_SETLKW : F_OFD_SETLK, &fl) < 0) {
		if (wait && errno == EINTR)
			continue;
		return errno == EAGAIN || errno == EACCES ? -EBUSY : -errno;
	}
	return 0;
}

int ipcq__ofd_held(int fd, off_t off)
{
	struct flock fl;

	memset(&fl, 0, sizeof(fl));
	fl.l_type = F_WRLCK;
	fl.l_whence = SEEK_SET;
	fl.l_start = off;
	fl.l_len = 1;
	if (fcntl(fd, F_OFD_GETLK, &fl) < 0)
		return -errno;
	return fl.l_type != F_UNLCK;
}

int ipcq__participant_alive(const struct ipcq *q, uint32_t i)
{
	if (i >= q->max_participants)
		return -EINVAL;
	return ipcq__ofd_held(q->fd, ipcq__lock_off(q, i));
}

/* Is participant i's holder dead now?  The entry whose lock we hold while
 * attaching to it (also_dead) belongs to a dead holder.  An error asking
 * the kernel counts as alive: nothing is taken over on a doubt. */
int ipcq__dead_now(const struct ipcq *q, uint32_t i, int32_t also_dead)
{
	if ((int32_t)i == also_dead)
		return 1;
	return ipcq__participant_alive(q, i) == 0;
}

/* Is the owner named by tag (IPCQ_TAG: index and generation) dead now? */
static int owner_dead(const struct ipcq *q, uint32_t tag, int32_t also_dead)
{
	uint32_t i = tag & 0xffff;
	if (i >= q->max_participants)
		return 1; /* corrupt: nobody can hold it */
	if ((int32_t)i == also_dead)
		return 1;
	/* relaxed: the tag was read (L2/S2, acquire) from a word its owner
	 * wrote after its own attach, so the generation we read is that
	 * incarnation's or a later one.  A later one was written by an
	 * attacher that held the lock after the owner's death or detach:
	 * that incarnation is gone, and what it stored before it went is
	 * seen through K1 (registry.c) of that attacher's lock, which
	 * precedes its generation bump.  The same generation: the lock
	 * check below decides */
	if ((ipcq__load_relaxed(&q->parts[i].generation) & 0xffff) != IPCQ_TAG_PGEN(tag))
		return 1; /* an earlier incarnation: dead */
	return ipcq__dead_now(q, i, also_dead);
}

int ipcq__ent_owner_dead(const struct ipcq *q, uint64_t w, const uint8_t *dead,
			 int32_t also_dead)
{
	uint32_t owner = IPCQ_ENT_OWNER(w), tag = IPCQ_ENT_TAG(w);
	/* relaxed: a filter (the owner's incarnation looked alive to this
	 * pass); owner_dead() decides */
	if (owner < q->max_participants && !dead[owner] &&
	    (ipcq__load_relaxed(&q->parts[owner].generation) & 0xffff) == IPCQ_TAG_PGEN(tag))
		return 0;
	return owner_dead(q, tag, also_dead);
}
