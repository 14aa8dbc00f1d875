/*
 * dedup.c - named producers and sequence-based deduplication.
 *
 * Owns: the dedup table (one entry per producer name) and its locks: the
 * table lock (an OFD write lock on the table's first byte, taken with
 * F_OFD_SETLKW by attach and removal only) and one holder lock per name
 * (byte IPCQ_DEDUP_LOCK_OFF of its entry, held on the holder's lock
 * descriptor for as long as it is attached).  The kernel drops both when
 * their holder dies, so "a live process holds the name" is exactly "its
 * holder lock is held".
 *
 * Who writes what in an entry:
 *   state, name, takeovers   under the table lock
 *   last, duplicates         the live holder (one process at a time)
 *   consumed_max             consumers, by CAS-max, after claiming a
 *                            message of the name and before releasing it
 *
 * Exactness across crashes.  The holder publishes a message (R1 in ring.h)
 * and only then records its sequence in `last`, so a holder that dies in
 * between leaves `last` one message behind.  The new holder therefore does
 * not trust `last` alone; it takes the maximum of
 *   - last,
 *   - consumed_max: every message a consumer has claimed (consumers raise
 *     it before they release the slot, so a released slot is covered),
 *   - the sequences of the name's messages still in the ring, published or
 *     claimed but not released (read from the slots themselves).
 * Every message the dead holder published is in one of these places, and
 * none it did not publish is: its claimed but unpublished slots hold no
 * valid message and are skipped by recovery, which runs first.  So the new
 * holder's last_seq is exactly the last accepted message: a replay from
 * there yields no duplicate and no gap.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "ring.h"

static int table_lock(const struct ipcq *q, int fd, short type)
{
	return ipcq__ofd_lock(fd, (off_t)(q->dedup_tab - q->base), type, 1);
}

static int find(const struct ipcq *q, const char *name)
{
	for (uint32_t i = 0; i < q->dedup_capacity; i++) {
		const struct ipcq_shm_dedup *e = ipcq__dedup(q, i);
		/* acquire: pairs with D1 (the name is written before the state) */
		if (ipcq__load_acquire(&e->state) != 0 &&
		    strncmp(e->name, name, sizeof(e->name)) == 0)
			return (int)i;
	}
	return -ENOENT;
}

static off_t holder_lock_off(const struct ipcq *q, uint32_t idx)
{
	return (off_t)((const uint8_t *)ipcq__dedup(q, idx) - q->base) + IPCQ_DEDUP_LOCK_OFF;
}

/* Does another open file description hold the name's lock (a live
 * holder)?  1, 0, or -errno. */
static int holder_alive(const struct ipcq *q, uint32_t idx)
{
	return ipcq__ofd_held(q->fd, holder_lock_off(q, idx));
}

/* Take the name's lock on our lock descriptor: 0, or -EBUSY if a live
 * process holds it. */
static int holder_lock(const struct ipcq *q, uint32_t idx)
{
	return ipcq__ofd_lock(q->lock_fd, holder_lock_off(q, idx), F_WRLCK, 0);
}

/* Highest sequence of stream (idx + 1), incarnation gen, among the
 * messages in the current lane's ring. */
static uint64_t lane_max(const struct ipcq *q, uint32_t idx, uint32_t gen)
{
	/* acquire: the slots are read after the cursor (pairs with P1) */
	uint64_t enq = ipcq__load_acquire(q->enqp), best = 0;
	uint64_t p = enq > q->capacity ? enq - q->capacity : 0;
	for (; p < enq; p++) {
		struct ipcq_shm_slot *s = ipcq__slot(q, p);
		/* A2: the message is complete once published */
		uint64_t seq = ipcq__load_acquire(&s->seq);
		if ((seq & IPCQ_SEQ_POS) != ipcq__seq_pos(p + 1) || (seq & IPCQ_SEQ_SKIP))
			continue;
		/* acquire: these reads happen before the re-check below; a
		 * value of a later lap pairs with F1 of its producer
		 * (ipcq__ring_claim_send() in ring.h), so the re-check then sees the
		 * word changed (with groups: the cursor past p + capacity, as
		 * the word changes only at that lap's publish) */
		const struct ipcq_shm_slot_tail *t = ipcq__slot_tail(q, s);
		uint32_t stream = ipcq__load_acquire(&t->stream);
		uint32_t sgen = ipcq__load_acquire(&t->stream_gen);
		uint64_t pseq = ipcq__load_acquire(&t->pseq);
		/* acquire: unchanged means the reads above were of p; changed
		 * means released meanwhile, and then this acquire reads from
		 * (or after) the consumer's release CAS (R2), which follows
		 * its CAS-max (D2): the consumed_max load below sees it */
		if (ipcq__load_acquire(&s->seq) != seq)
			continue; /* released meanwhile: consumed_max covers it */
		if (q->gwords && ipcq__ring_overrun(q, p))
			continue; /* groups: a later lap claimed it, as above */
		if (stream == idx + 1 && sgen == gen && pseq > best)
			best = pseq;
	}
	return best;
}

/* The same over every lane (a queue with priorities); lane 0's view after. */
static uint64_t ring_max(struct ipcq *q, uint32_t idx, uint32_t gen)
{
	uint64_t best = 0;
	for (uint32_t l = 0; l < q->lanes; l++) {
		ipcq__lane_use(q, l);
		uint64_t m = lane_max(q, idx, gen);
		if (m > best)
			best = m;
	}
	ipcq__lane_use(q, 0);
	return best;
}

int ipcq__dedup_attach(struct ipcq *q, const char *name, void (*settle)(struct ipcq *q))
{
	struct ipcq_shm_dedup *e;
	uint64_t last = 0;
	int rc, idx;

	if (!q->dedup_capacity)
		return ipcq__refuse(-EINVAL, "IPCQ_ATTACH_DEDUP: the queue has no dedup table "
				    "(dedup_capacity 0)");
	rc = table_lock(q, q->lock_fd, F_WRLCK);
	if (rc)
		return ipcq__refuse(rc, "taking the dedup table lock failed (%s)",
				    ipcq_strerror(rc));
	idx = find(q, name);
	if (idx >= 0) {
		e = ipcq__dedup(q, (uint32_t)idx);
		rc = holder_lock(q, (uint32_t)idx);
		if (rc == -EBUSY) {
			ipcq__errdetail("producer name '%s' is held by a live process", name);
			goto out;
		}
		if (rc) {
			ipcq__errdetail("locking producer name '%s' failed (%s)", name,
					ipcq_strerror(rc));
			goto out;
		}
		/* The holder is gone: make its unpublished claims skips first,
		 * then read what it got accepted (see the top of this file). */
		settle(q);
		/* relaxed: gen changes only under the table lock, which we hold */
		last = ring_max(q, (uint32_t)idx, ipcq__load_relaxed(&e->gen));
		/* seq_cst: after the ring scan; pairs with the CAS-max (D2) of
		 * the consumer that released a slot the scan found released,
		 * and of a lossy reader whose slot a later lap's claim (P1,
		 * after D2 in the order of the locked operations) took */
		uint64_t cmw = ipcq__load_seq_cst(&e->consumed_max);
		uint64_t cm = (cmw >> 56) == (ipcq__load_relaxed(&e->gen) & 0xff) ? cmw & IPCQ_SEQ_MAX : 0;
		/* relaxed: its only writer, the old holder, is gone (we hold
		 * its lock) */
		uint64_t l = ipcq__load_relaxed(&e->last);
		if (cm > last)
			last = cm;
		if (l > last)
			last = l;
		IPCQ_CRASHPOINT("dedup.takeover");
		/* relaxed: we are the holder now and hold the table lock;
		 * readers want untorn values only */
		ipcq__store_relaxed(&e->last, last);
		ipcq__store_relaxed(&e->takeovers, ipcq__load_relaxed(&e->takeovers) + 1);
		ipcq__qcount(q, IPCQ_QCTR_TAKEOVERS, 1);
	} else {
		/* acquire: pairs with D1 (of a removal) */
		for (idx = 0; idx < (int)q->dedup_capacity; idx++)
			if (ipcq__load_acquire(&ipcq__dedup(q, (uint32_t)idx)->state) == 0)
				break;
		if (idx == (int)q->dedup_capacity) {
			rc = ipcq__refuse(-ENOSPC, "the dedup table is full: all %u names in use; "
					  "remove one with ipcq_dedup_remove()", q->dedup_capacity);
			goto out;
		}
		e = ipcq__dedup(q, (uint32_t)idx);
		rc = holder_lock(q, (uint32_t)idx);
		if (rc) {
			/* only a removal race could hold it */
			ipcq__errdetail("locking a free dedup entry for producer name '%s' "
					"failed (%s)", name, ipcq_strerror(rc));
			goto out;
		}
		memset(e->name, 0, sizeof(e->name));
		/* relaxed stores: under the table lock; D1 below publishes
		 * them with the state */
		/* a new incarnation: old messages with this index do not count */
		ipcq__store_relaxed(&e->gen, ipcq__load_relaxed(&e->gen) + 1);
		memcpy(e->name, name, strnlen(name, sizeof(e->name) - 1));
		ipcq__store_relaxed(&e->last, (uint64_t)0);
		ipcq__store_relaxed(&e->duplicates, (uint64_t)0);
		ipcq__store_relaxed(&e->takeovers, (uint64_t)0);
		ipcq__store_relaxed(&e->consumed_max, IPCQ_CM(ipcq__load_relaxed(&e->gen), 0));
	}
	/* D1: the holder and name are visible together; pairs with the
	 * acquire loads in find() and holder checks (our own generation
	 * is read relaxed: only we change it) */
	ipcq__store_release(&e->state,
			    IPCQ_ENT(ipcq__load_relaxed(&q->me->generation), q->index, IPCQ_ENT_OWNED));
	/* relaxed: our own entry; for monitors */
	ipcq__store_relaxed(&q->me->dedup, (uint32_t)idx + 1);
	q->dedup = idx;
	/* relaxed: stable under the table lock we hold */
	q->dedup_gen = ipcq__load_relaxed(&e->gen);
	q->last_seq = last;
	rc = 0;
out:
	table_lock(q, q->lock_fd, F_UNLCK);
	return rc;
}

void ipcq__consume_adopted(struct ipcq *q)
{
	ipcq__note_consumed(q, ipcq__slot(q, (uint64_t)q->adopted));
	ipcq__release_adopted(q);
}

void ipcq__dedup_consumed(struct ipcq *q, uint32_t stream, uint32_t gen, uint64_t seq)
{
	if (stream == 0 || stream > q->dedup_capacity || seq > IPCQ_SEQ_MAX)
		return; /* anonymous, or a corrupt stream number */
	uint64_t *cm = &ipcq__dedup(q, stream - 1)->consumed_max;
	uint64_t want = IPCQ_CM(gen, seq);
	/* acquire: when the mark is already as high, no CAS of ours orders
	 * it; reading another's CAS-max (D2) with acquire puts that CAS
	 * before what follows (our release R2, a lossy reader's look at the
	 * cursor), as our own CAS would be */
	uint64_t cur = ipcq__load_acquire(cm);
	/* D2: CAS-max within our incarnation (top byte), a full barrier
	 * before the release of the slot (R2), so that a takeover that sees
	 * the slot released sees this; a retired name's message fails on the
	 * top byte and changes nothing */
	while ((cur >> 56) == (gen & 0xff) && want > cur && !ipcq__cas(cm, cur, want))
		/* acquire: as the first look */
		cur = ipcq__load_acquire(cm);
}

int ipcq_last_seq(struct ipcq *q, uint64_t *seq)
{
	if (!q || !seq)
		return -EINVAL;
	if (q->dedup < 0)
		return -EPERM;
	*seq = q->last_seq;
	return 0;
}

int ipcq_dedup_remove(struct ipcq *q, const char *name)
{
	int rc, idx, fd;

	if (!q || !name || !name[0])
		return -EINVAL;
	if (q->readonly)
		return -EPERM;
	fd = q->lock_fd >= 0 ? q->lock_fd : q->fd;
	rc = table_lock(q, fd, F_WRLCK);
	if (rc)
		return rc;
	idx = find(q, name);
	if (idx < 0) {
		rc = idx;
	} else if (idx == q->dedup || holder_alive(q, (uint32_t)idx)) {
		rc = -EBUSY;
	} else {
		/* D1 for a removal: free */
		ipcq__store_release(&ipcq__dedup(q, (uint32_t)idx)->state, (uint64_t)0);
		rc = 0;
	}
	table_lock(q, fd, F_UNLCK);
	return rc;
}
