/*
 * manage.c - the management calls that compose several layers: closing a
 * handle, recovering a queue on demand, and replaying quarantined
 * messages into the main ring or purging them (each entry's mover settled
 * first: ipcq__side_settle()).
 *
 * Recovery, replay and purge name their actor in the state words they
 * change (a purge may take a dead mover's lease over), so an unattached
 * handle attaches for the length of the call (as a producer; attach.c)
 * and detaches after.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>

#include "ring.h"

int ipcq_close(struct ipcq *q)
{
	if (!q)
		return 0;
	if (q->index >= 0)
		ipcq_detach(q);
	ipcq__handle_free(q);
	return 0;
}

/* Attach a temporary participant for management calls on an unattached
 * handle: entries name their owner, and a dead owner must be detectable.
 * The recovery the attach does goes into @rep (or nowhere). */
static int ensure_attached(struct ipcq *q, struct ipcq_recovery *rep, int *temp)
{
	*temp = 0;
	if (q->readonly)
		return -EPERM;
	if (q->index >= 0)
		return 0;
	/* seatless: a management call does not keep a sole producer or
	 * consumer out, and takes a seat itself only for what it writes
	 * (replay_seat()) */
	int rc = ipcq__attach(q, IPCQ_ROLE_PRODUCER, NULL, rep, 0);
	if (rc == 0)
		*temp = 1;
	return rc;
}

int ipcq_recover(struct ipcq *q, struct ipcq_recovery *report)
{
	int temp = 0, rc;

	if (!q || (report && report->size < offsetof(struct ipcq_recovery, reserved)))
		return -EINVAL;
	if (q->readonly)
		return -EPERM;
	if (report) {
		uint32_t sz = report->size > sizeof(*report) ? (uint32_t)sizeof(*report) : report->size;
		memset(report, 0, sz);
		report->size = sz;
	}
	struct ipcq_recovery local;
	if (!report) {
		memset(&local, 0, sizeof(local));
		report = &local;
	}
	/* takeovers name their new owner: recover as a participant (the
	 * attach recovers too, into the same report) */
	rc = ensure_attached(q, report, &temp);
	if (rc)
		return rc;
	rc = ipcq__recover_scan(q, report, 0, -1);
	if (temp)
		ipcq_detach(q);
	if (rc < 0)
		return rc;
	uint64_t actions = report->skipped + report->redelivered + report->completed +
			   report->poisoned + report->freed;
	return actions > INT32_MAX ? INT32_MAX : (int)actions;
}

/* A replay claims positions by the producers' CAS: it needs their seat
 * (shared), which a handle attached as a producer holds already.  1 when
 * taken here (dropped by the caller), 0 when held, or -EBUSY: a sole
 * producer is attached. */
static int replay_seat(struct ipcq *q)
{
	if (q->seats & IPCQ__SEAT_ENQ)
		return 0;
	int rc = ipcq__ofd_lock(q->lock_fd, ipcq__seat_off(q, IPCQ__SEAT_ENQ), F_RDLCK, 0);
	if (rc == -EBUSY)
		return ipcq__refuse(-EBUSY, "the queue has a sole producer (IPCQ_ATTACH_SOLE): "
				    "replay through its handle, or once it has detached");
	if (rc)
		return ipcq__refuse(rc, "locking the producers' seat failed (%s)",
				    ipcq_strerror(rc));
	return 1;
}

int ipcq_poison_replay(struct ipcq *q, uint64_t id)
{
	struct ipcq_poison p;
	uint64_t w, after = 0;
	int temp, rc, done = 0;

	if (!q)
		return -EINVAL;
	/* the replay claims through our producer record: an open reservation's
	 * claim, which that record covers, would lose its cover, and a death
	 * before its commit would leave its slot unpublished for good */
	if (q->zc_send_n)
		return ipcq__refuse(-EALREADY, "a reservation is open on this handle: "
				    "ipcq_commit() it first");
	rc = ensure_attached(q, NULL, &temp);
	if (rc)
		return rc;
	int seat = replay_seat(q);
	if (seat < 0) {
		if (temp)
			ipcq_detach(q);
		return seat;
	}
	for (;;) {
		int j;
		if (id == IPCQ_POISON_ALL) {
			/* oldest first, past those that cannot be replayed */
			if (ipcq_poison_list(q, after, &p, 1) != 1)
				break;
			j = ipcq__side_find(q, p.id, &p, &w);
		} else {
			j = ipcq__side_find(q, id, &p, &w);
		}
		if (j < 0) {
			if (id != IPCQ_POISON_ALL && !done)
				rc = j;
			break;
		}
		struct ipcq_shm_side *e = ipcq__side(q, (uint32_t)j);
		/* relaxed: set before S1, which S2 in ipcq__side_find() saw;
		 * only a FULL entry's recovery changes flags, not this one */
		if (ipcq__load_relaxed(&e->flags) & IPCQ_SIDE_F_TRUNCATED) {
			if (id != IPCQ_POISON_ALL) {
				rc = -EMSGSIZE;
				break;
			}
			after = p.id;
			continue;
		}
		/* its mover's source first: freed if the mover died (a dead
		 * mover's finished move would look unfinished once the entry
		 * is taken, and its message come twice); a live mover's entry
		 * is passed over until it has freed its source.  After S2 (in
		 * ipcq__side_find()): see ipcq__side_settle() */
		if (ipcq__side_settle(q, (uint32_t)j, w)) {
			if (id != IPCQ_POISON_ALL) {
				rc = -EINPROGRESS;
				break;
			}
			after = p.id;
			continue;
		}
		uint64_t taking = IPCQ_ENT(IPCQ_ENT_GEN(w), ipcq__tag(q), IPCQ_ENT_TAKING);
		/* S7: FULL -> TAKING(us); one replayer wins; S2 (in ipcq__side_find())
		 * made the payload visible.  It fails if the entry changed
		 * since S2, so the settling above was of this generation */
		if (!ipcq__cas(&e->state, w, taking))
			continue; /* someone else got it; look again */
		IPCQ_CRASHPOINT("replay.taking");
		int64_t pos;
		/* a replay cut short may have delivered it once: this copy is
		 * then a redelivery, and says so (relaxed: ours since S7) */
		uint8_t again = (ipcq__load_relaxed(&e->flags) & IPCQ_SIDE_F_REPLAY_CUT) ? 1 : 0;
		/* a queue with groups: back to the group it was taken from
		 * (the others had it), if that group still exists; to all
		 * of them if not */
		uint32_t target = p.group && ipcq__group_exists(q, p.group - 1) ? p.group : 0;
		/* a queue with priorities: back to the lane it came from
		 * (bounded by the read of the entry) */
		ipcq__lane_use(q, p.priority);
		int sent = ipcq__publish_copy(q, (const uint8_t *)e + IPCQ_SIDE_HDR, (uint32_t)p.len,
					      (uint16_t)p.producer, p.stream, p.seq, p.first_ns,
					      IPCQ_MSG_REPLAYED, again, target, &pos);
		ipcq__lane_use(q, 0);
		if (sent <= 0) {
			/* S8: ring full: put it back (by CAS, as S1 would:
			 * FULL for the next replayer, whose S7 pairs with it) */
			ipcq__cas(&e->state, taking, w);
			if (!done)
				rc = -EAGAIN;
			break;
		}
		IPCQ_CRASHPOINT("replay.published");
		/* S3: pairs with S2 of the next writer */
		ipcq__cas(&e->state, taking, IPCQ_ENT_FREED(w));
		done++;
		if (id != IPCQ_POISON_ALL)
			break;
	}
	if (seat)
		(void)ipcq__ofd_lock(q->lock_fd, ipcq__seat_off(q, IPCQ__SEAT_ENQ), F_UNLCK, 0);
	if (temp)
		ipcq_detach(q);
	return done ? done : rc;
}

int ipcq_poison_purge(struct ipcq *q, uint64_t id)
{
	struct ipcq_poison p;
	uint64_t w;
	int done = 0, busy = 0, temp, rc;

	if (!q)
		return -EINVAL;
	/* an entry's dead mover is settled by a recovery pass, which takes
	 * its lease over: that names us */
	rc = ensure_attached(q, NULL, &temp);
	if (rc)
		return rc;
	for (uint32_t j = 0; j < q->side_capacity; j++) {
		if (!ipcq__side_read(q, j, &p, &w) || (id != IPCQ_POISON_ALL && p.id != id))
			continue;
		/* its mover's source first, as in ipcq_poison_replay() */
		if (ipcq__side_settle(q, j, w)) {
			busy++;
		} else if (ipcq__cas(&ipcq__side(q, j)->state, w, IPCQ_ENT_FREED(w))) {
			/* S3: pairs with S2 of the next writer; fails if the
			 * entry changed since S2 (the settling was of w) */
			done++;
		}
		if (id != IPCQ_POISON_ALL)
			break;
	}
	if (temp)
		ipcq_detach(q);
	if (!done && id != IPCQ_POISON_ALL)
		return busy ? -EINPROGRESS : -ENOENT;
	return done;
}
