/*
 * group.c - consumer groups: creating, removing and listing them, and a
 * consumer's joining one (ipcq_attach()).
 *
 * Owns: line 0 of each group entry (state, generation, name, start),
 * written only under the group table lock (an OFD lock on the first byte
 * of the group table, plus a process mutex, since threads share an open
 * file description); a group's cursor, tail and words at its creation;
 * the floor's generation (G4 below).
 *
 * A group's creation must never let a producer overwrite a message the
 * new group is owed.  Producers go by the floor (ring.c): a producer claims
 * pos only below floor + capacity, with the floor computed from the
 * durable groups it saw.  The creator reads the floor (f), starts the
 * group at S >= f (f for IPCQ_GROUP_FROM_OLDEST, enq for the newest),
 * writes the group's words, cursor and tail, makes it durable, and then
 * (G4) raises the floor's generation by a CAS from the word it read.  If
 * the CAS succeeds, the floor did not move since the read: every claim so
 * far is below f + capacity and overwrote only positions below f <= S,
 * and every later mover of the floor reads the new generation after G4,
 * so it sees the group and counts its tail.  A mover that computed its
 * minimum without the group CASes from the old generation and fails.  If
 * G4 fails, the floor moved meanwhile (perhaps past S): the creator puts
 * the group back to CREATING and starts again.  (model/groups.pml, the
 * creator process, checks this with a crash at every step.)
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>

#include "ring.h"

static pthread_mutex_t group_mutex = PTHREAD_MUTEX_INITIALIZER;

int ipcq__group_lock(struct ipcq *q)
{
	pthread_mutex_lock(&group_mutex);
	int rc = ipcq__ofd_lock(q->fd, (off_t)((uint8_t *)q->groups - q->base), F_WRLCK, 1);
	if (rc) {
		pthread_mutex_unlock(&group_mutex);
		return rc;
	}
	/* A group left half made: its creator died holding this lock (a
	 * live one would hold it still).  It never got members; nobody may
	 * join it (it may be durable with a start the floor passed, its
	 * generation never raised), so it goes. */
	for (uint32_t g = 0; g < q->max_groups; g++) {
		struct ipcq_shm_group *grp = &q->groups[g];
		/* relaxed: changed only under the lock we hold */
		if (ipcq__load_relaxed(&grp->state) != IPCQ_GRP_FREE &&
		    !ipcq__load_relaxed(&grp->ready))
			/* release: as in ipcq_group_remove() */
			ipcq__store_release(&grp->state, (uint32_t)IPCQ_GRP_FREE);
	}
	return 0;
}

void ipcq__group_unlock(struct ipcq *q)
{
	(void)ipcq__ofd_lock(q->fd, (off_t)((uint8_t *)q->groups - q->base), F_UNLCK, 1);
	pthread_mutex_unlock(&group_mutex);
}

/* A group name: 1..IPCQ_GROUP_NAME_MAX bytes of [A-Za-z0-9._-]. */
static int name_ok(const char *name)
{
	size_t n;

	if (!name || !name[0])
		return ipcq__refuse(-EINVAL, "a group name is needed");
	for (n = 0; name[n]; n++) {
		char c = name[n];
		if (n >= IPCQ_GROUP_NAME_MAX)
			return ipcq__refuse(-EINVAL, "group name longer than %u bytes",
					    IPCQ_GROUP_NAME_MAX);
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-'))
			return ipcq__refuse(-EINVAL, "group name: byte %zu is 0x%02x; letters, "
					    "digits, '.', '_' and '-' only", n, (unsigned char)c);
	}
	return 0;
}

/* The group named name (durable or lossy), or -ENOENT. */
int ipcq__group_find(const struct ipcq *q, const char *name)
{
	for (uint32_t g = 0; g < q->max_groups; g++) {
		const struct ipcq_shm_group *grp = &q->groups[g];
		/* acquire: pairs with the creator's store-release of the
		 * state; the name was written before it */
		uint32_t st = ipcq__load_acquire(&grp->state);
		/* acquire: pairs with the creator's store-release of ready */
		if ((st == IPCQ_GRP_DURABLE || st == IPCQ_GRP_LOSSY) &&
		    ipcq__load_acquire(&grp->ready) &&
		    strncmp(grp->name, name, sizeof(grp->name)) == 0)
			return (int)g;
	}
	return -ENOENT;
}

/* Members of group g (generation gen): live ones, and dead entries. */
static void members(const struct ipcq *q, uint32_t g, uint32_t gen, uint32_t *live,
		    uint32_t *dead)
{
	*live = *dead = 0;
	for (uint32_t i = 0; i < q->max_participants; i++) {
		const struct ipcq_shm_participant *e = &q->parts[i];
		/* acquire: pairs with E1 (attach.c): group and generation
		 * are written before the state */
		uint32_t st = ipcq__load_acquire(&e->state);
		if (st != IPCQ_PART_ACTIVE && st != IPCQ_PART_RECOVERING)
			continue;
		/* relaxed: see above */
		if (ipcq__load_relaxed(&e->group) != g + 1 ||
		    ipcq__load_relaxed(&e->group_gen) != gen)
			continue;
		if (ipcq__dead_now(q, i, -1))
			(*dead)++;
		else
			(*live)++;
	}
}

/* The oldest position still in the ring for a lossy group's start. */
static uint64_t oldest_lossy(const struct ipcq *q, uint64_t enq)
{
	uint64_t f = ipcq__group_floor(q);
	uint64_t lap = enq > q->capacity ? enq - q->capacity : 0;
	return f > lap ? f : lap;
}

/* Write the words, cursor and tail of durable group g starting at S. */
static void init_durable(struct ipcq *q, uint32_t g, uint64_t S)
{
	struct ipcq_shm_group *grp = &q->groups[g];
	for (uint64_t s = 0; s < q->capacity; s++) {
		/* the first position >= S in slot s: unreleased */
		uint64_t p = S + ((s - S) & q->mask);
		/* relaxed: nobody reads the words of a group that is not
		 * durable; made visible by the state's store-release */
		ipcq__store_relaxed(ipcq__gword(q, g, p), ipcq__seq_pos(p));
	}
	/* relaxed: as the words */
	ipcq__store_relaxed(&grp->deq, S);
	ipcq__store_relaxed(&grp->tail, S);
	ipcq__store_relaxed(&grp->start, S);
}

/* The checks ipcq_group_create() and ipcq_group_remove() share. */
static int change_ok(struct ipcq *q, const char *name)
{
	ipcq__errdetail("%s", "");
	if (!q)
		return ipcq__refuse(-EINVAL, "handle is NULL");
	if (!q->max_groups)
		return ipcq__refuse(-ENOTSUP, "the queue has no consumer groups (made with "
				    "max_groups 0)");
	if (q->readonly)
		return ipcq__refuse(-EPERM, "a read-only handle cannot change groups");
	return name_ok(name);
}

int ipcq_group_create(struct ipcq *q, const char *name, uint32_t flags)
{
	int rc, g = -1;

	if ((rc = change_ok(q, name)))
		return rc;
	if (flags & ~(IPCQ_GROUP_LOSSY | IPCQ_GROUP_FROM_OLDEST))
		return ipcq__refuse(-EINVAL, "flags 0x%x: only IPCQ_GROUP_LOSSY (0x1) and "
				    "IPCQ_GROUP_FROM_OLDEST (0x2)", flags);
	if ((rc = ipcq__group_lock(q)))
		return ipcq__refuse(rc, "locking the group table failed (%s)", ipcq_strerror(rc));
	if (ipcq__group_find(q, name) >= 0) {
		rc = ipcq__refuse(-EEXIST, "group %s exists", name);
		goto out;
	}
	for (uint32_t i = 0; i < q->max_groups && g < 0; i++)
		/* relaxed: changed only under the lock we hold */
		if (ipcq__load_relaxed(&q->groups[i].state) == IPCQ_GRP_FREE)
			g = (int)i;
	if (g < 0) {
		rc = ipcq__refuse(-ENOSPC, "all %u groups exist (max_groups)", q->max_groups);
		goto out;
	}
	struct ipcq_shm_group *grp = &q->groups[g];
	/* relaxed: under the lock; CREATING is counted by nobody, and a
	 * group that is not ready is joined by nobody */
	ipcq__store_relaxed(&grp->ready, 0u);
	ipcq__store_relaxed(&grp->state, (uint32_t)IPCQ_GRP_CREATING);
	ipcq__store_relaxed(&grp->gen, ipcq__load_relaxed(&grp->gen) + 1);
	ipcq__store_relaxed(&grp->flags, flags);
	ipcq__store_relaxed(&grp->created_ns, ipcq__now_ns(CLOCK_REALTIME));
	ipcq__store_relaxed(&grp->dropped, (uint64_t)0);
	memset(grp->name, 0, sizeof(grp->name));
	memcpy(grp->name, name, strlen(name));
	if (flags & IPCQ_GROUP_LOSSY) {
		/* seq_cst: the newest position, in the order of the claims */
		uint64_t enq = ipcq__load_seq_cst(q->enqp);
		uint64_t S = (flags & IPCQ_GROUP_FROM_OLDEST) ? oldest_lossy(q, enq) : enq;
		/* relaxed: published by the state's store-release */
		ipcq__store_relaxed(&grp->deq, S);
		ipcq__store_relaxed(&grp->tail, S);
		ipcq__store_relaxed(&grp->start, S);
		/* release: the fields above come first; pairs with the
		 * acquire loads of the state (find, attach) */
		ipcq__store_release(&grp->state, (uint32_t)IPCQ_GRP_LOSSY);
		/* release: pairs with the acquire of ready in find */
		ipcq__store_release(&grp->ready, 1u);
		rc = g;
		goto out;
	}
	for (;;) {
		/* G2: the floor word the generation is raised from */
		uint64_t fw = ipcq__load_acquire(&q->ctl->floor);
		/* seq_cst: after the floor; the floor is never above it */
		uint64_t enq = ipcq__load_seq_cst(q->enqp);
		uint64_t f = enq - ((enq - fw) & IPCQ_SEQ_POS);
		uint64_t S = (flags & IPCQ_GROUP_FROM_OLDEST) ? f : enq;
		init_durable(q, (uint32_t)g, S);
		/* release: words, cursor and tail before the state; pairs
		 * with the acquire of the state by a floor mover (ring.c) */
		ipcq__store_release(&grp->state, (uint32_t)IPCQ_GRP_DURABLE);
		IPCQ_CRASHPOINT("group.durable");
		/* G4: the generation raised by a CAS from the word read (seq_cst):
		 * it fails if the floor moved since, and every mover whose
		 * G2 reads it or later sees the group (its state above) */
		if (ipcq__cas(&q->ctl->floor, fw, IPCQ_FW(f, IPCQ_FW_GEN(fw) + 1)))
			break;
		/* relaxed: back to uncounted; the next attempt starts over */
		ipcq__store_relaxed(&grp->state, (uint32_t)IPCQ_GRP_CREATING);
	}
	/* release: made; pairs with the acquire of ready in find */
	ipcq__store_release(&grp->ready, 1u);
	rc = g;
out:
	ipcq__group_unlock(q);
	return rc;
}

int ipcq_group_remove(struct ipcq *q, const char *name)
{
	uint32_t live, dead;
	int rc, g;

	if ((rc = change_ok(q, name)))
		return rc;
	if ((rc = ipcq__group_lock(q)))
		return ipcq__refuse(rc, "locking the group table failed (%s)", ipcq_strerror(rc));
	g = ipcq__group_find(q, name);
	if (g < 0) {
		rc = ipcq__refuse(-ENOENT, "no group %s", name);
		goto out;
	}
	struct ipcq_shm_group *grp = &q->groups[g];
	/* relaxed: changed only under the lock we hold */
	uint32_t gen = ipcq__load_relaxed(&grp->gen);
	members(q, (uint32_t)g, gen, &live, &dead);
	if (live) {
		rc = ipcq__refuse(-EBUSY, "group %s has %u live consumer%s", name, live,
				  live == 1 ? "" : "s");
		goto out;
	}
	/* release: pairs with the acquire loads of the state; from now on no
	 * floor mover counts the group, and recovery leaves its members'
	 * work alone (ipcq__durable_group()) */
	ipcq__store_release(&grp->state, (uint32_t)IPCQ_GRP_FREE);
	/* GR1: full fence, the state above before the drop pass's look at
	 * the pool; pairs with GR1 of lease recovery (lease.c): an entry a
	 * recoverer gives back after this pass is dropped by that recoverer */
	ipcq__fence();
	/* what its dead members held goes with it */
	ipcq__lease_drop_group(q, (uint32_t)g, gen);
	/* the pressure follows the slowest durable group's depth: it may
	 * have been this one's, and no claim comes with its fall */
	ipcq__pressure_recheck(q);
	rc = 0;
out:
	ipcq__group_unlock(q);
	return rc;
}

/* The age of the message at position pos, if it is published: 0 if not. */
static uint64_t age_at(const struct ipcq *q, uint64_t pos, uint64_t now)
{
	const struct ipcq_shm_slot *s = ipcq__slot(q, pos);
	/* acquire: pairs with R1; the time is the publisher's */
	uint64_t w = ipcq__load_acquire(&s->seq);
	if ((w & IPCQ_SEQ_POS) != ipcq__seq_pos(pos + 1))
		return 0;
	/* relaxed: a snapshot for people (a later lap's value only makes
	 * the age younger) */
	uint64_t t = ipcq__load_relaxed(&ipcq__slot_tail(q, s)->enqueue_ns);
	return now > t ? now - t : 0;
}

/* How far durable group g has released (its tail, and the released
 * positions after it), without moving anything: for monitors. */
static uint64_t released_upto(const struct ipcq *q, uint32_t g, uint64_t enq)
{
	const struct ipcq_shm_group *grp = &q->groups[g];
	/* relaxed: snapshots for people, bounded below */
	uint64_t t = ipcq__load_relaxed(&grp->tail), d = ipcq__load_relaxed(&grp->deq);
	if (d > enq)
		d = enq;
	if (t > d)
		return d;
	for (uint64_t i = t; i < d && i - t < q->capacity; i++)
		/* relaxed: as above */
		if (ipcq__load_relaxed(ipcq__gword(q, g, i)) != ipcq__seq_pos(i + q->capacity))
			return i;
	return d;
}

int ipcq_group_list(struct ipcq *q, struct ipcq_group_info *out, unsigned n)
{
	int count = 0;
	uint64_t slowest = UINT64_MAX, rel[IPCQ_GROUPS_MAX];

	if (q && q->max_groups > IPCQ_GROUPS_MAX)
		return -EBADMSG; /* refused at open; never here */

	if (!q || (!out && n))
		return -EINVAL;
	if (!q->max_groups)
		return 0;
	/* acquire: a snapshot; the cursors below are read after it */
	uint64_t enq = ipcq__load_acquire(q->enqp);
	uint64_t now = ipcq__now_ns(CLOCK_MONOTONIC_COARSE);
	for (uint32_t g = 0; g < q->max_groups; g++) {
		const struct ipcq_shm_group *grp = &q->groups[g];
		/* acquire: as in ipcq__group_find() */
		uint32_t st = ipcq__load_acquire(&grp->state);
		/* acquire: as in ipcq__group_find(); one being made is not
		 * listed yet */
		if ((st != IPCQ_GRP_DURABLE && st != IPCQ_GRP_LOSSY) || !ipcq__load_acquire(&grp->ready))
			continue;
		if ((unsigned)count < n) {
			struct ipcq_group_info *gi = &out[count];
			memset(gi, 0, sizeof(*gi));
			memcpy(gi->name, grp->name, sizeof(gi->name) - 1);
			for (size_t k = 0; k < sizeof(gi->name) && gi->name[k]; k++)
				if ((unsigned char)gi->name[k] < 0x20 || (unsigned char)gi->name[k] > 0x7e)
					gi->name[k] = '?'; /* untrusted bytes: printable only */
			gi->index = g;
			/* relaxed: snapshots for people; each bounded below */
			gi->flags = ipcq__load_relaxed(&grp->flags);
			gi->position = ipcq__load_relaxed(&grp->deq);
			gi->start = ipcq__load_relaxed(&grp->start);
			gi->dropped = ipcq__load_relaxed(&grp->dropped);
			gi->created_ns = ipcq__load_relaxed(&grp->created_ns);
			gi->lag = gi->position < enq ? enq - gi->position : 0;
			if (gi->lag > q->capacity && st == IPCQ_GRP_DURABLE)
				gi->lag = q->capacity; /* corrupt: never more than a ring */
			if (gi->lag)
				gi->oldest_ns = age_at(q, gi->position, now);
			members(q, g, ipcq__load_relaxed(&grp->gen), &gi->members, &gi->dead);
		}
		/* every durable group counts, listed or not */
		rel[g] = st == IPCQ_GRP_DURABLE ? released_upto(q, g, enq) : UINT64_MAX;
		if (rel[g] < slowest)
			slowest = rel[g];
		count++;
	}
	/* the durable group that has released least holds producers back,
	 * once the ring is full for it (lossy groups never do) */
	for (int i = 0; i < count && (unsigned)i < n; i++)
		if (slowest != UINT64_MAX && rel[out[i].index] == slowest &&
		    enq - slowest >= q->capacity)
			out[i].holding = 1;
	return count;
}
