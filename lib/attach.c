/*
 * attach.c - ipcq_attach() and ipcq_detach(): taking an entry of the
 * participant table, and leaving it.
 *
 * Owns: this process's list of attached handles and the entry it takes.
 * A process takes a free entry by trying the locks in order with
 * F_OFD_SETLK (non-blocking), so two attaching processes can never get the
 * same entry; an entry whose holder died attached is recovered first
 * (recovery.c) and taken only once its dead holder owns nothing.
 * Liveness itself is registry.c's.
 *
 * Forks: the lock lives on a file description of its own (lock_fd), opened
 * for each attach.  A child made by fork() would share that description and
 * keep its parent looking alive after the parent died, so a pthread_atfork
 * handler closes every lock_fd in the child and leaves the child's copies
 * of the handles unattached (they fail with -EPERM until attached again).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ipcq_internal.h"

static pthread_mutex_t attached_lock = PTHREAD_MUTEX_INITIALIZER;
static struct ipcq *attached;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static void atfork_prepare(void)
{
	pthread_mutex_lock(&attached_lock);
}

static void atfork_parent(void)
{
	pthread_mutex_unlock(&attached_lock);
}

/* The handle is in no group any more: it claims by control.deq again.
 * (Plain stores to the handle: called from the fork handler too.) */
static void group_leave(struct ipcq *q)
{
	q->deqp = q->ldeq;
	q->gw = NULL;
	q->group = -1;
	q->lossy = 0;
	ipcq__recv_odd_set(q);
}

/* In the child: drop our reference to every lock description and forget
 * the attachments; only async-signal-safe calls here. */
static void atfork_child(void)
{
	for (struct ipcq *q = attached; q; q = q->next_attached) {
		if (q->lock_fd >= 0)
			close(q->lock_fd);
		q->lock_fd = -1;
		q->index = -1;
		q->roles = 0;
		q->me = NULL;
		q->ack = 0;
		q->adopted = -1;
		q->in_flight = 0;
		group_leave(q);
		q->dedup = -1;
		q->zc_send_n = 0;
		q->zc_recv_n = 0;
		q->late = 0;
		q->held_n = 0; /* the parent's claim: the parent releases it */
		q->sole = 0;
		q->seats = 0;
	}
	attached = NULL;
	pthread_mutex_unlock(&attached_lock);
}

static void atfork_install(void)
{
	pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
}

static uint64_t process_start_time(void)
{
	char buf[1024];
	unsigned long long start = 0;
	int fd = open("/proc/self/stat", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	/* field 22, counted after the ")" that ends the command name */
	char *p = strrchr(buf, ')');
	if (!p)
		return 0;
	int field = 2;
	for (; *p && field < 22; p++)
		if (*p == ' ')
			field++;
	if (sscanf(p, "%llu", &start) != 1)
		return 0;
	return start;
}

static int check_opts(const struct ipcq_attach_opts *o)
{
	if (o->size < offsetof(struct ipcq_attach_opts, reserved) || o->size > sizeof(*o))
		return ipcq__refuse(-EINVAL, "attach opts size %u: not a struct ipcq_attach_opts; "
				    "start from IPCQ_ATTACH_OPTS_INIT", o->size);
	if (o->wait_strategy != IPCQ_WAIT_DEFAULT && o->wait_strategy != IPCQ_WAIT_ADAPTIVE &&
	    o->wait_strategy != IPCQ_WAIT_BUSY_POLL && o->wait_strategy != IPCQ_WAIT_YIELD)
		return ipcq__refuse(-EINVAL, "wait_strategy %u: IPCQ_WAIT_DEFAULT (0), ADAPTIVE (1), "
				    "BUSY_POLL (2) or YIELD (3)", o->wait_strategy);
	if ((o->spin_count != UINT32_MAX && o->spin_count > 1000000) ||
	    (o->yield_count != UINT32_MAX && o->yield_count > 1000000))
		return ipcq__refuse(-EINVAL, "spin_count %u, yield_count %u: each at most 1000000, "
				    "or UINT32_MAX for the queue's", o->spin_count, o->yield_count);
	if (o->flags & ~(IPCQ_ATTACH_ACK | IPCQ_ATTACH_DEDUP | IPCQ_ATTACH_LATE_RELEASE |
			 IPCQ_ATTACH_SOLE))
		return ipcq__refuse(-EINVAL, "flags 0x%x: only IPCQ_ATTACH_ACK (0x1), "
				    "IPCQ_ATTACH_DEDUP (0x2), IPCQ_ATTACH_LATE_RELEASE (0x4) and "
				    "IPCQ_ATTACH_SOLE (0x8) exist", o->flags);
	if (o->full_policy > IPCQ_FULL_DROP_OLDEST)
		return ipcq__refuse(-EINVAL, "full_policy %u: IPCQ_FULL_BLOCK (0), IPCQ_FULL_FAIL (1) "
				    "or IPCQ_FULL_DROP_OLDEST (2)", o->full_policy);
	if (o->name) {
		size_t n = strnlen(o->name, IPCQ_PARTICIPANT_NAME_MAX + 1);
		if (n > IPCQ_PARTICIPANT_NAME_MAX)
			return ipcq__refuse(-EINVAL, "participant name longer than %u bytes",
					    IPCQ_PARTICIPANT_NAME_MAX);
		for (size_t i = 0; i < n; i++)
			if (o->name[i] < 0x20 || o->name[i] > 0x7e)
				return ipcq__refuse(-EINVAL, "participant name: byte %zu is 0x%02x, "
						    "only printable ASCII", i,
						    (unsigned char)o->name[i]);
	}
	size_t nres = (o->size - offsetof(struct ipcq_attach_opts, reserved)) / sizeof(uint32_t);
	if (nres > sizeof(o->reserved) / sizeof(o->reserved[0]))
		nres = sizeof(o->reserved) / sizeof(o->reserved[0]);
	for (size_t i = 0; i < nres; i++)
		if (o->reserved[i])
			return ipcq__refuse(-EINVAL, "attach opts reserved[%zu] is %u: must be zero",
					    i, o->reserved[i]);
	return 0;
}

/*
 * The rules that tie options to the roles and to the queue; after
 * check_opts(), with o->prefetch resolved from IPCQ_AUTO.
 */
static int check_roles(const struct ipcq *q, unsigned roles, const struct ipcq_attach_opts *o)
{
	int producer = (roles & IPCQ_ROLE_PRODUCER) != 0;
	int consumer = (roles & IPCQ_ROLE_CONSUMER) != 0;

	/* drop-oldest discards through the consumer side of the handle */
	if (o->full_policy == IPCQ_FULL_DROP_OLDEST && (consumer || !producer))
		return ipcq__refuse(-EINVAL, "IPCQ_FULL_DROP_OLDEST needs a handle attached as "
				    "producer only (IPCQ_ROLE_PRODUCER, not IPCQ_ROLE_CONSUMER)");
	/* a dedup name needs a producer, a table and a name */
	if ((o->flags & IPCQ_ATTACH_DEDUP) && !producer)
		return ipcq__refuse(-EINVAL, "IPCQ_ATTACH_DEDUP needs the producer role");
	if ((o->flags & IPCQ_ATTACH_DEDUP) && !q->dedup_capacity)
		return ipcq__refuse(-EINVAL, "IPCQ_ATTACH_DEDUP: the queue has no dedup table "
				    "(dedup_capacity 0)");
	if ((o->flags & IPCQ_ATTACH_DEDUP) && (!o->name || !o->name[0]))
		return ipcq__refuse(-EINVAL, "IPCQ_ATTACH_DEDUP needs a producer name (opts.name)");
	/* ack mode: a consumer, a lease pool, and a prefetch the pool holds */
	if ((o->flags & IPCQ_ATTACH_ACK) && !consumer)
		return ipcq__refuse(-EINVAL, "IPCQ_ATTACH_ACK needs the consumer role");
	if ((o->flags & IPCQ_ATTACH_ACK) && !q->lease_capacity)
		return ipcq__refuse(-EINVAL, "IPCQ_ATTACH_ACK: the queue has no lease pool "
				    "(lease_capacity 0)");
	if ((o->flags & IPCQ_ATTACH_ACK) && (o->prefetch < 1 || o->prefetch > q->lease_capacity))
		return ipcq__refuse(-EINVAL, "prefetch %u is not in [1, lease_capacity %u]",
				    o->prefetch, q->lease_capacity);
	/* late release: a copying consumer of a queue whose receives release
	 * what they claimed in one run of one lane */
	if ((o->flags & IPCQ_ATTACH_LATE_RELEASE) && !consumer)
		return ipcq__refuse(-EINVAL, "IPCQ_ATTACH_LATE_RELEASE needs the consumer role");
	if ((o->flags & IPCQ_ATTACH_LATE_RELEASE) && (o->flags & IPCQ_ATTACH_ACK))
		return ipcq__refuse(-EINVAL, "IPCQ_ATTACH_LATE_RELEASE: not with IPCQ_ATTACH_ACK "
				    "(an ack-mode consumer releases each slot into its lease)");
	if ((o->flags & IPCQ_ATTACH_LATE_RELEASE) &&
	    (q->max_groups || q->lanes > 1 || q->expire_side))
		return ipcq__refuse(-EINVAL, "IPCQ_ATTACH_LATE_RELEASE: not on a queue with %s",
				    q->max_groups ? "consumer groups (a group's release writes "
						    "no slot line)"
				    : q->lanes > 1 ? "priorities"
						   : "IPCQ_CF_EXPIRED_TO_SIDE");
	/* groups: a consumer names one, on a queue that has them */
	if (consumer && q->max_groups && !o->group)
		return ipcq__refuse(-EINVAL, "the queue has consumer groups: a consumer names the "
				    "group it receives in (opts.group)");
	if (consumer && !q->max_groups && o->group)
		return ipcq__refuse(-EINVAL, "opts.group %s: the queue has no consumer groups "
				    "(made with max_groups 0)", o->group);
	/* a group's members claim by the group's cursor, which has no seat */
	if ((o->flags & IPCQ_ATTACH_SOLE) && consumer && q->max_groups)
		return ipcq__refuse(-EINVAL, "IPCQ_ATTACH_SOLE: not for a consumer of a queue with "
				    "consumer groups (a sole producer of it is fine)");
	if (q->max_groups && o->full_policy == IPCQ_FULL_DROP_OLDEST)
		return ipcq__refuse(-EINVAL, "IPCQ_FULL_DROP_OLDEST: not on a queue with groups "
				    "(a lossy group is the way to let a reader fall behind)");
	return 0;
}

/* Join the group named name (under the group table lock, which the caller
 * holds until E1): its index, or -ENOENT / -EINVAL. */
static int group_join(struct ipcq *q, struct ipcq_shm_participant *p, const char *name, int ack)
{
	int g = ipcq__group_find(q, name);
	if (g < 0)
		return ipcq__refuse(-ENOENT, "no group %s (ipcq_group_create() makes it)", name);
	/* acquire/relaxed: stable under the lock we hold */
	uint32_t st = ipcq__load_acquire(&q->groups[g].state);
	if (st == IPCQ_GRP_LOSSY && ack)
		return ipcq__refuse(-EINVAL, "group %s is lossy: fast mode only (no "
				    "IPCQ_ATTACH_ACK)", name);
	uint32_t gen = ipcq__load_relaxed(&q->groups[g].gen);
	/* relaxed: published by E1, before any claim of ours */
	ipcq__store_relaxed(&p->group, (uint32_t)g + 1);
	ipcq__store_relaxed(&p->group_gen, gen);
	q->group = g;
	q->group_gen = gen;
	q->lossy = st == IPCQ_GRP_LOSSY;
	ipcq__recv_odd_set(q);
	q->deqp = &q->groups[g].deq;
	q->gw = q->lossy ? NULL : q->gwords + (uint64_t)g * q->capacity;
	q->gap = 0;
	return g;
}

/* A second open file description of the segment, for the lock. */
static int open_lock_fd(const struct ipcq *q)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/self/fd/%d", q->fd);
	int fd = open(path, O_RDWR | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

/* Before a name's takeover reads what its dead holder got accepted: make
 * the holder's unpublished claims skips (see dedup.c). */
static void settle(struct ipcq *q)
{
	ipcq__recover_scan(q, NULL, 0, -1);
}

/* Take @seat (IPCQ__SEAT_*) on the lock descriptor @fd: exclusive for a
 * sole handle (@excl), shared otherwise.  0, or -EBUSY with the reason
 * told. */
static int take_seat(struct ipcq *q, int fd, unsigned seat, int excl)
{
	const char *who = seat == IPCQ__SEAT_ENQ ? "producer" : "consumer";
	int rc = ipcq__ofd_lock(fd, ipcq__seat_off(q, seat), excl ? F_WRLCK : F_RDLCK, 0);
	if (rc == -EBUSY)
		return excl ? ipcq__refuse(-EBUSY, "IPCQ_ATTACH_SOLE: another %s is attached "
					   "(a sole %s has the queue's %ss' seat alone)",
					   who, who, who)
			    : ipcq__refuse(-EBUSY, "the queue has a sole %s (IPCQ_ATTACH_SOLE) "
					   "attached: no other %s may attach while it is", who, who);
	if (rc)
		return ipcq__refuse(rc, "locking the %ss' seat of the segment failed (%s)", who,
				    ipcq_strerror(rc));
	return 0;
}

/*
 * Take the seats of the cursors the handle may write (see
 * IPCQ_ATTACH_SOLE in ipcq.h): the producers' for a producer, the
 * consumers' for a consumer and for a drop-oldest producer (its discard
 * claims by deq); exclusive for the role the handle is sole in.  On the
 * lock descriptor fd, so they go with it (detach, death).  0 with *seats
 * set, or -EBUSY.
 */
static int take_seats(struct ipcq *q, int fd, unsigned roles, const struct ipcq_attach_opts *o,
		      unsigned *seats)
{
	int sole = (o->flags & IPCQ_ATTACH_SOLE) != 0;
	int consumer = (roles & IPCQ_ROLE_CONSUMER) != 0;
	int rc;

	*seats = 0;
	if (roles & IPCQ_ROLE_PRODUCER) {
		if ((rc = take_seat(q, fd, IPCQ__SEAT_ENQ, sole)) != 0)
			return rc;
		*seats |= IPCQ__SEAT_ENQ;
	}
	if (consumer || o->full_policy == IPCQ_FULL_DROP_OLDEST) {
		if ((rc = take_seat(q, fd, IPCQ__SEAT_DEQ, sole && consumer)) != 0)
			return rc;
		*seats |= IPCQ__SEAT_DEQ;
	}
	return 0;
}

int ipcq_attach(struct ipcq *q, unsigned roles, const struct ipcq_attach_opts *opts)
{
	return ipcq__attach(q, roles, opts, NULL, 1);
}

int ipcq__attach(struct ipcq *q, unsigned roles, const struct ipcq_attach_opts *opts,
		 struct ipcq_recovery *rep, int seated)
{
	unsigned seats = 0;
	struct ipcq_attach_opts o = IPCQ_ATTACH_OPTS_INIT;
	uint32_t i;
	int rc, fd;

	ipcq__errdetail("%s", "");
	if (!q)
		return ipcq__refuse(-EINVAL, "handle is NULL");
	if (!roles || (roles & ~(IPCQ_ROLE_PRODUCER | IPCQ_ROLE_CONSUMER)))
		return ipcq__refuse(-EINVAL, "roles 0x%x: IPCQ_ROLE_PRODUCER (0x1), "
				    "IPCQ_ROLE_CONSUMER (0x2) or both", roles);
	if (q->readonly)
		return ipcq__refuse(-EPERM, "a read-only handle (monitor) cannot attach; "
				    "open it with ipcq_open()");
	if (q->index >= 0)
		return ipcq__refuse(-EALREADY, "the handle is already attached (participant "
				    "entry %d); ipcq_detach() it first", (int)q->index);
	if (opts) {
		if (opts->size < offsetof(struct ipcq_attach_opts, reserved) ||
		    opts->size > sizeof(o))
			return ipcq__refuse(-EINVAL, "attach opts size %u: not a struct "
					    "ipcq_attach_opts; start from IPCQ_ATTACH_OPTS_INIT",
					    opts->size);
		memcpy(&o, opts, opts->size);
	}
	rc = check_opts(&o);
	if (rc)
		return rc;
	if (o.prefetch == IPCQ_AUTO)
		o.prefetch = q->lease_capacity < 16 ? q->lease_capacity : 16;
	rc = check_roles(q, roles, &o);
	if (rc)
		return rc;
	pthread_once(&atfork_once, atfork_install);
	fd = open_lock_fd(q);
	if (fd < 0)
		return ipcq__refuse(fd, "could not open a second descriptor of the segment for "
				    "the liveness lock (/proc/self/fd/%d: %s)", q->fd,
				    ipcq_strerror(fd));
	if (seated && (rc = take_seats(q, fd, roles, &o, &seats)) != 0) {
		close(fd);
		return rc;
	}

	for (i = 0; i < q->max_participants; i++) {
		rc = ipcq__ofd_lock(fd, ipcq__lock_off(q, i), F_WRLCK, 0);
		if (rc == -EBUSY)
			continue; /* a live participant's */
		if (rc) {
			close(fd);
			return ipcq__refuse(rc, "locking participant entry %u of the segment "
					    "failed (%s)", i, ipcq_strerror(rc));
		}
		/* acquire: pairs with E1 of the previous holder */
		uint32_t prev = ipcq__load_acquire(&q->parts[i].state);
		if (prev != IPCQ_PART_ACTIVE && prev != IPCQ_PART_RECOVERING)
			break;
		/* Its holder died attached.  We hold its lock now, so nobody
		 * else will recover it: finish its work ourselves, and take the
		 * entry only if nothing is left (a claimed message waiting for
		 * a consumer to adopt it keeps the entry as it is). */
		/* RECOVERING while we hold its lock: no longer anybody's
		 * live entry (a dedup name it held is free to take over),
		 * and still dead work to whoever sees the lock free */
		/* relaxed: a filter for others; they decide on the lock, which
		 * we hold, and act only by CAS */
		ipcq__store_relaxed(&q->parts[i].state, (uint32_t)IPCQ_PART_RECOVERING);
		/* a new incarnation before we act in its name: our takeovers
		 * (L9, S-takeovers) write a tag that differs from the dead's,
		 * so that a recoverer that read the dead's word before our
		 * lock fails its CAS instead of taking over what we took.
		 * relaxed: ordered for others by our lock, as the bump below */
		ipcq__store_relaxed(&q->parts[i].generation,
				    ipcq__load_relaxed(&q->parts[i].generation) + 1);
		q->index = (int32_t)i;
		q->me = &q->parts[i];
		ipcq__recover_scan(q, rep, 0, (int32_t)i);
		int done = ipcq__entry_resolved(q, i);
		q->index = -1;
		q->me = NULL;
		if (done)
			break;
		/* relaxed: the unlock below is what others act on */
		ipcq__store_relaxed(&q->parts[i].state, (uint32_t)IPCQ_PART_ACTIVE);
		ipcq__ofd_lock(fd, ipcq__lock_off(q, i), F_UNLCK, 0);
	}
	if (i == q->max_participants) {
		close(fd);
		return ipcq__refuse(-EUSERS, "all %u participant entries are held by live "
				    "processes (or kept for the unfinished work of dead ones)",
				    q->max_participants);
	}

	/* The entry is ours.  Its previous holder, if any, is dead or gone. */
	struct ipcq_shm_participant *p = &q->parts[i];
	/* relaxed: readers of a participant line check liveness through the
	 * lock, and only take these values as a snapshot */
	ipcq__store_relaxed(&p->state, (uint32_t)IPCQ_PART_FREE);
	ipcq__store_relaxed(&p->roles, roles);
	ipcq__store_relaxed(&p->pid, (uint32_t)getpid());
	ipcq__store_relaxed(&p->generation, ipcq__load_relaxed(&p->generation) + 1);
	ipcq__store_relaxed(&p->start_time, process_start_time());
	ipcq__store_relaxed(&p->attach_ns, ipcq__now_ns(CLOCK_REALTIME));
	char name[sizeof(p->name)];
	memset(name, 0, sizeof(name));
	if (o.name)
		memcpy(name, o.name, strnlen(o.name, sizeof(name) - 1));
	memcpy(p->name, name, sizeof(name));
	ipcq__store_relaxed(&p->prod_op, (uint32_t)IPCQ_OP_IDLE);
	ipcq__store_relaxed(&p->cons_op, (uint32_t)IPCQ_OP_IDLE);
	ipcq__store_relaxed(&p->move_side, 0u);
	ipcq__store_relaxed(&p->flags, o.flags);
	ipcq__store_relaxed(&p->dedup, 0u);
	ipcq__store_relaxed(&p->group, 0u);
	int group_locked = 0, joined = 0;
	if ((roles & IPCQ_ROLE_CONSUMER) && q->max_groups) {
		/* the group stays as found until E1 has made us a member that
		 * ipcq_group_remove() sees */
		group_locked = ipcq__group_lock(q) == 0;
		joined = group_locked ? group_join(q, p, o.group, !!(o.flags & IPCQ_ATTACH_ACK))
				      : -EIO;
	}
	for (unsigned c = 0; c < IPCQ_CTR_COUNT_; c++)
		ipcq__store_relaxed(&p->ctr[c], (uint64_t)0);
	for (unsigned c = 0; c < IPCQ_APP_COUNTERS; c++)
		ipcq__store_relaxed(&p->app[c], (uint64_t)0);
	memset(p->app_name, 0, sizeof(p->app_name));
	/* E1: publishes the identity written above; pairs with the acquire
	 * loads of state in ipcq__recover_scan() and in the attach loop
	 * above (monitors read it relaxed, as a snapshot) */
	ipcq__store_release(&p->state, (uint32_t)IPCQ_PART_ACTIVE);
	if (group_locked)
		ipcq__group_unlock(q);

	q->lock_fd = fd;
	q->index = (int32_t)i;
	q->me = p;
	q->roles = roles;
	q->next_pseq = 1;
	q->ack = !!(o.flags & IPCQ_ATTACH_ACK);
	q->late = !!(o.flags & IPCQ_ATTACH_LATE_RELEASE);
	q->held_n = 0;
	q->seats = seats;
	q->sole = 0;
	q->prefetch = o.prefetch;
	q->in_flight = 0;
	q->adopted = -1;
	q->full_policy = o.full_policy;
	q->zc_send_n = 0;
	q->zc_recv_n = 0;
	q->dedup = -1;
	q->last_seq = 0;
	q->cached_deq = 0;
	q->cached_enq = 0;
	if (o.wait_strategy != IPCQ_WAIT_DEFAULT)
		q->wait_strategy = o.wait_strategy;
	if (o.spin_count != UINT32_MAX)
		q->spin_count = o.spin_count;
	if (o.yield_count != UINT32_MAX)
		q->yield_count = o.yield_count;

	pthread_mutex_lock(&attached_lock);
	q->next_attached = attached;
	attached = q;
	pthread_mutex_unlock(&attached_lock);
	if (joined < 0) {
		/* no such group (any more): leave the entry, say why */
		int err = joined;
		ipcq_detach(q);
		return err == -EIO ? ipcq__refuse(-EIO, "locking the group table failed") : err;
	}
	/* attaching is one of the moments recovery runs; a consumer adopts
	 * a message a dead consumer had claimed, which its first receive
	 * then delivers ahead of newer ones (a restarted consumer takes up
	 * what its predecessor dropped at once, not once the ring has run
	 * empty for a grace period) */
	ipcq__recover_scan(q, rep, (roles & IPCQ_ROLE_CONSUMER) ? 1 : 0, -1);
	if (o.flags & IPCQ_ATTACH_DEDUP) {
		rc = ipcq__dedup_attach(q, o.name, settle);
		if (rc) {
			ipcq_detach(q);
			return rc;
		}
	}
	/* Last, as nothing above claims and an attach that failed must leave
	 * control.sole as it was: claims by store, as nobody else writes our
	 * cursors while we hold their seats.  Where the kernel refuses membarrier, a sleeper could miss
	 * the store (W1b in wait.c): the CAS then stays, which orders it as
	 * well as a fence after the store would, and costs less here.  A
	 * consumer of a queue with watermarks keeps its CAS too: a consumer's
	 * look at the pressure (B9 in pressure.c) relies on its claim being
	 * a locked instruction, against a producer's B7/B8 */
	if ((o.flags & IPCQ_ATTACH_SOLE) && ipcq__sole_register() == 0) {
		uint32_t sole = ((roles & IPCQ_ROLE_PRODUCER) ? IPCQ__SOLE_ENQ : 0u) |
				((roles & IPCQ_ROLE_CONSUMER) && !q->high_watermark
					 ? IPCQ__SOLE_DEQ : 0u);
		/* sleepers fence us from now on (W1b in wait.c); seq_cst RMW:
		 * before our first claim, in one order with their W1.  Set
		 * only by a handle that claims by store: it is never cleared */
		if (sole)
			(void)ipcq__xchg(&q->ctl->sole, 1u);
		q->sole = sole;
		/* relaxed: for people (ipcq_stats()); nothing decides by it */
		ipcq__store_relaxed(&q->me->flags,
				    o.flags | (sole & IPCQ__SOLE_ENQ ? IPCQ_PART_SOLE_STORE_ENQ : 0u) |
					    (sole & IPCQ__SOLE_DEQ ? IPCQ_PART_SOLE_STORE_DEQ : 0u));
	}
	return 0;
}

int ipcq_detach(struct ipcq *q)
{
	struct ipcq **pp;

	if (!q || q->index < 0)
		return -EINVAL;
	pthread_mutex_lock(&attached_lock);
	for (pp = &attached; *pp; pp = &(*pp)->next_attached)
		if (*pp == q) {
			*pp = q->next_attached;
			break;
		}
	pthread_mutex_unlock(&attached_lock);
	/* an open reservation is given up (consumers pass its slots), peeked
	 * messages are released, unacknowledged ones are delivered again */
	if (q->zc_send_n)
		ipcq_commit(q, NULL, 0);
	if (q->zc_recv_n || q->held_n)
		ipcq_release(q);
	if (q->ack)
		ipcq__lease_release_all(q);
	/* A message adopted from a dead consumer and not yet delivered: leave
	 * the entry ACTIVE with its record, so that once the lock is gone
	 * recovery treats it like any dead consumer's claim. */
	if (q->adopted < 0) {
		/* relaxed: the lock release below is what others act on */
		ipcq__store_relaxed(&q->me->prod_op, (uint32_t)IPCQ_OP_IDLE);
		ipcq__store_relaxed(&q->me->cons_op, (uint32_t)IPCQ_OP_IDLE);
		ipcq__store_relaxed(&q->me->state, (uint32_t)IPCQ_PART_DETACHED);
	}
	q->adopted = -1;
	q->ack = 0;
	q->late = 0;
	q->sole = 0;
	q->seats = 0;
	group_leave(q);
	q->dedup = -1;
	/* closing the only descriptor of the lock's description drops it */
	close(q->lock_fd);
	q->lock_fd = -1;
	q->index = -1;
	q->me = NULL;
	q->roles = 0;
	q->wait_strategy = q->default_wait.strategy;
	q->spin_count = q->default_wait.spin;
	q->yield_count = q->default_wait.yield;
	return 0;
}

/* A name ipcq_app_counter_set() and the readers accept: [a-z][a-z0-9_]*. */
int ipcq__app_name_ok(const char *name, size_t len)
{
	if (len == 0 || len > IPCQ_APP_COUNTER_NAME_MAX || name[0] < 'a' || name[0] > 'z')
		return 0;
	for (size_t k = 0; k < len; k++)
		if (!((name[k] >= 'a' && name[k] <= 'z') || (name[k] >= '0' && name[k] <= '9') ||
		      name[k] == '_'))
			return 0;
	return 1;
}

int ipcq_app_counter_set(struct ipcq *q, unsigned i, const char *name, uint64_t value)
{
	if (!q || i >= IPCQ_APP_COUNTERS)
		return -EINVAL;
	if (name && !ipcq__app_name_ok(name, strnlen(name, IPCQ_APP_COUNTER_NAME_MAX + 1)))
		return -EINVAL;
	if (!q->me)
		return -EPERM;
	if (name) {
		char n[IPCQ_APP_COUNTER_NAME_MAX + 1];
		memset(n, 0, sizeof(n));
		memcpy(n, name, strlen(name));
		/* plain stores: the owner's line; monitors copy it as a
		 * snapshot and check every byte they get */
		memcpy(q->me->app_name[i], n, sizeof(n));
	}
	/* relaxed: single writer per counter as far as the library cares
	 * (the owner); the atomic store keeps readers from a torn value */
	ipcq__store_relaxed(&q->me->app[i], value);
	return 0;
}
