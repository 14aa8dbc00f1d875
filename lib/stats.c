/*
 * stats.c - read-only views for monitors: a queue's shape and state
 * (ipcq_info), the snapshot of a queue and its participants, the list of
 * queues, read-only handles.
 *
 * Owns nothing in the segment and writes nothing to it.  Every value is a
 * copy of a word its owner keeps changing, so a snapshot is a set of
 * recent values, not one instant.  Counters are single-writer words on
 * their owner's own lines (ipcq_internal.h), so reading them costs the
 * writers nothing but an occasional cache-line transfer.
 *
 * Reads go through pread() on the handle's descriptor, never through the
 * mapping.  A process that shrinks the segment file (ftruncate) makes
 * every load from a page past the new end raise SIGBUS in every process
 * that maps it (the kernel's rule for shared mappings); pread() of those
 * bytes returns short instead, and these calls fail with -EBADMSG.  So a
 * monitor survives a damaged queue and says so.  A copy made by pread()
 * is not an atomic load: it orders nothing, and a word could in principle
 * be torn, so every value copied here is bounded where it is used and
 * serves people (counts, ages, rates), never a decision of the protocol.
 */
#include <dirent.h>
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ipcq_internal.h"

int ipcq_open_readonly(const char *name, struct ipcq **out)
{
	return ipcq__open_segment(name, 1, out);
}

int ipcq_list(int (*cb)(const char *name, void *arg), void *arg)
{
	const size_t plen = strlen("ipcq.");
	struct dirent *d;
	DIR *dir;
	int rc = 0;

	if (!cb)
		return -EINVAL;
	dir = opendir("/dev/shm");
	if (!dir)
		return -errno;
	while (!rc && (d = readdir(dir))) {
		if (strncmp(d->d_name, "ipcq.", plen) != 0 || ipcq__check_name(d->d_name + plen))
			continue;
		rc = cb(d->d_name + plen, arg);
	}
	closedir(dir);
	return rc;
}

/*
 * Copy the @len bytes of the segment at @at (an address inside q's
 * mapping) into @dst with pread().  -EBADMSG when the file no longer holds
 * them (shrunk under us).
 */
static int seg_read(const struct ipcq *q, const void *at, void *dst, size_t len)
{
	uint64_t off = (uint64_t)((uintptr_t)at - (uintptr_t)q->base);

	if ((uintptr_t)at < (uintptr_t)q->base || off > q->size || len > q->size - off)
		return -EFAULT; /* a bug here: never an address outside the segment */
	for (;;) {
		ssize_t got = pread(q->fd, dst, len, (off_t)off);
		if (got == (ssize_t)len)
			return 0;
		if (got < 0 && errno == EINTR)
			continue;
		return got < 0 ? -errno : -EBADMSG;
	}
}

/* Copy one word of the segment (typed, so that the sizes always agree). */
static int seg_u64(const struct ipcq *q, const uint64_t *w, uint64_t *v)
{
	return seg_read(q, w, v, sizeof(*v));
}

static int seg_u32(const struct ipcq *q, const uint32_t *w, uint32_t *v)
{
	return seg_read(q, w, v, sizeof(*v));
}

static int seg_u8(const struct ipcq *q, const uint8_t *w, uint8_t *v)
{
	return seg_read(q, w, v, sizeof(*v));
}

static int info_fill(struct ipcq *q, struct ipcq_info *info);

/* The consumers' cursor: control.deq, or on a queue with groups the
 * slowest durable group's (enq when there is none: *v stays UINT64_MAX
 * and the caller's clamp makes the depth 0). */
static int deq_copy(const struct ipcq *q, uint64_t *v)
{
	int rc;

	if (!q->gwords)
		return seg_u64(q, &q->ctl->deq, v);
	*v = UINT64_MAX;
	for (uint32_t g = 0; g < q->max_groups; g++) {
		uint32_t st;
		uint64_t d;
		if ((rc = seg_u32(q, &q->groups[g].state, &st)))
			return rc;
		if (st != IPCQ_GRP_DURABLE)
			continue;
		if ((rc = seg_u64(q, &q->groups[g].deq, &d)))
			return rc;
		if (d < *v)
			*v = d;
	}
	return 0;
}

int ipcq_info(struct ipcq *q, struct ipcq_info *out)
{
	struct ipcq_info full;

	if (!q || !out || out->size < offsetof(struct ipcq_info, delayed))
		return -EINVAL;
	/* filled in full here, then as much as the caller's struct holds
	 * (an older caller's is shorter) */
	uint32_t sz = out->size > sizeof(full) ? (uint32_t)sizeof(full) : out->size;
	memset(&full, 0, sizeof(full));
	int rc = info_fill(q, &full);
	if (rc)
		return rc;
	full.size = sz;
	memcpy(out, &full, sz);
	return 0;
}

/* The consumers' cursor of lane l: deq_copy() for lane 0, the lane's
 * own for the others. */
static int deq_of(const struct ipcq *q, uint32_t l, uint64_t *v)
{
	return l ? seg_u64(q, ipcq__lane_deq(q, l), v) : deq_copy(q, v);
}

/*
 * A snapshot of lane l's two cursors, which keep moving.  deq never passes
 * enq, and enq never runs more than capacity ahead of deq; copying deq,
 * enq, deq again and keeping a pair whose deq did not move gives a depth
 * within [0, capacity] when the copies are in call order, and
 * lane_depth()'s clamp bounds it when they are not (pread orders nothing;
 * it pairs with no store).
 */
static int lane_copy(const struct ipcq *q, uint32_t l, uint64_t *e, uint64_t *d)
{
	int rc;
	for (int tries = 0;; tries++) {
		uint64_t d1, d2;
		if ((rc = deq_of(q, l, &d1)) || (rc = seg_u64(q, ipcq__lane_enq(q, l), e)) ||
		    (rc = deq_of(q, l, &d2)))
			return rc;
		if (d1 == UINT64_MAX)
			d1 = d2 = *e; /* groups, none durable: nothing waits */
		*d = d1;
		if (d1 == d2 || tries == 16)
			return 0;
	}
}

/* Messages waiting in a lane with cursors e and d: never below 0, never
 * above the lane's capacity (a busy queue moved too fast for us). */
static uint64_t lane_depth(const struct ipcq *q, uint64_t e, uint64_t d)
{
	uint64_t depth = e > d ? e - d : 0;
	return depth > q->capacity ? q->capacity : depth;
}

static int info_fill(struct ipcq *q, struct ipcq_info *info)
{
	struct ipcq_shm_header h;
	int rc;

	/* mode and creation time, written once by the creator */
	rc = seg_read(q, q->hdr, &h, sizeof(h));
	if (rc)
		return rc;
	info->capacity = q->capacity;
	info->max_msg_size = q->max_msg_size;
	info->slot_size = q->slot_size;
	info->max_participants = q->max_participants;
	info->wait_strategy = q->default_wait.strategy;
	/* the file's mode now (a chmod after the create changes it), or the
	 * mode the creator asked for when it cannot be read */
	struct stat fs;
	info->mode = fstat(q->fd, &fs) == 0 ? (uint32_t)(fs.st_mode & 07777) : h.mode;
	info->segment_size = q->size;
	info->created_ns = h.created_ns;
	uint64_t le, ld;
	if ((rc = lane_copy(q, 0, &le, &ld)))
		return rc;
	/* dequeued from the clamped depth, as for the other lanes: a pair
	 * that a busy queue moved under every try still gives figures with
	 * depth == enqueued - dequeued, each within what the cursors passed */
	info->depth = lane_depth(q, le, ld);
	info->enqueued = le;
	info->dequeued = le - info->depth;
	info->priorities = q->lanes;
	info->priority_share = q->lanes > 1 ? q->priority_share : 0;
	info->lane_enqueued[0] = le;
	info->lane_dequeued[0] = le - info->depth;
	for (uint32_t l = 1; l < q->lanes; l++) {
		if ((rc = lane_copy(q, l, &le, &ld)))
			return rc;
		uint64_t depth = lane_depth(q, le, ld);
		info->lane_enqueued[l] = le;
		info->lane_dequeued[l] = le - depth;
		info->enqueued += le;
		info->dequeued += le - depth;
		info->depth += depth;
	}
	info->participant_index = q->index;
	uint32_t alive = 0;
	/* copies: a count for people; the lock says who is alive */
	for (uint32_t i = 0; i < q->max_participants; i++) {
		uint32_t state;
		if ((rc = seg_u32(q, &q->parts[i].state, &state)))
			return rc;
		if (state == IPCQ_PART_ACTIVE && ipcq__participant_alive(q, i) > 0)
			alive++;
	}
	info->participants = alive;
	info->side_capacity = q->side_capacity;
	info->lease_capacity = q->lease_capacity;
	info->max_deliveries = q->max_deliveries;
	info->grace_us = (uint32_t)(q->grace_ns / 1000);
	info->retry_base_us = (uint32_t)(q->retry_base_ns / 1000);
	info->retry_max_us = (uint32_t)(q->retry_max_ns / 1000);
	info->max_groups = q->max_groups;
	/* the header's flags as read at open (IPCQ_CF_KNOWN bits only) */
	info->flags = (q->expiry ? IPCQ_CF_EXPIRY : 0u) | (q->expire_side ? IPCQ_CF_EXPIRED_TO_SIDE : 0u) |
		      (q->keyed ? IPCQ_CF_KEYED : 0u);
	for (uint32_t g = 0; g < q->max_groups; g++) {
		uint32_t st;
		if ((rc = seg_u32(q, &q->groups[g].state, &st)))
			return rc;
		info->groups += st == IPCQ_GRP_DURABLE || st == IPCQ_GRP_LOSSY;
	}
	uint64_t now = ipcq__now_ns(CLOCK_MONOTONIC);
	for (uint32_t j = 0; j < q->side_capacity; j++) {
		uint64_t w;
		/* a copy: a count for people */
		if ((rc = seg_u64(q, &ipcq__side(q, j)->state, &w)))
			return rc;
		uint32_t st = IPCQ_ENT_STATE(w);
		if (st == IPCQ_ENT_FULL || st == IPCQ_ENT_TAKING)
			info->side_depth++;
	}
	for (uint32_t e = 0; e < q->lease_capacity; e++) {
		uint64_t w;
		/* a copy: a count for people */
		if ((rc = seg_u64(q, &ipcq__lease(q, e)->state, &w)))
			return rc;
		uint32_t st = IPCQ_ENT_STATE(w);
		if (st == IPCQ_ENT_OWNED) {
			info->leased++;
		} else if (st == IPCQ_ENT_REDELIVER) {
			info->redeliverable++;
			uint64_t nb;
			/* a copy: a count for people */
			if ((rc = seg_u64(q, &ipcq__lease(q, e)->not_before_ns, &nb)))
				return rc;
			if (nb > now)
				info->delayed++;
			uint8_t lf;
			/* a copy: a count for people */
			if ((rc = seg_u8(q, &ipcq__lease(q, e)->flags, &lf)))
				return rc;
			if (lf & IPCQ_LEASE_F_PARKED)
				info->key_waiting++;
		}
	}
	/* a copy: a snapshot; ipcq_pressure() is the acquire read */
	uint32_t pressure;
	if ((rc = seg_u32(q, &q->ctl->pressure, &pressure)))
		return rc;
	info->pressure = pressure ? 1 : 0;
	info->high_watermark = q->high_watermark;
	info->low_watermark = q->low_watermark;
	info->dedup_capacity = q->dedup_capacity;
	/* copies: a count for people */
	for (uint32_t d = 0; d < q->dedup_capacity; d++) {
		uint64_t w;
		if ((rc = seg_u64(q, &ipcq__dedup(q, d)->state, &w)))
			return rc;
		if (w != 0)
			info->dedup_names++;
	}
	return 0;
}

/* One participant's record, from a private copy @p of its entry @i. */
static void participant(struct ipcq *q, uint32_t i, const struct ipcq_shm_participant *p,
			struct ipcq_participant_stats *o)
{
	const uint64_t *c = p->ctr;

	memset(o, 0, sizeof(*o));
	o->index = i;
	o->roles = p->roles;
	o->flags = p->flags;
	o->pid = p->pid;
	o->stream = p->dedup;
	o->group = p->group <= q->max_groups ? p->group : 0; /* untrusted: bounded */
	o->alive = p->state == IPCQ_PART_ACTIVE && ipcq__participant_alive(q, i) > 0;
	memcpy(o->name, p->name, sizeof(o->name));
	o->name[sizeof(o->name) - 1] = '\0';
	for (size_t k = 0; k < sizeof(o->name) && o->name[k]; k++)
		if (o->name[k] < 0x20 || o->name[k] > 0x7e)
			o->name[k] = '?'; /* untrusted bytes: printable only */
	o->attach_ns = p->attach_ns;
	/* counters, each written by its owner only */
	o->sent = c[IPCQ_CTR_SENT];
	o->sent_bytes = c[IPCQ_CTR_SENT_BYTES];
	o->send_calls = c[IPCQ_CTR_SEND_CALLS];
	o->received = c[IPCQ_CTR_RECV];
	o->received_bytes = c[IPCQ_CTR_RECV_BYTES];
	o->recv_calls = c[IPCQ_CTR_RECV_CALLS];
	o->full = c[IPCQ_CTR_FULL];
	o->empty = c[IPCQ_CTR_EMPTY];
	o->blocked_ns = c[IPCQ_CTR_BLOCKED_NS];
	o->sleeps = c[IPCQ_CTR_SLEEPS];
	o->wakes = c[IPCQ_CTR_WAKES];
	o->acks = c[IPCQ_CTR_ACKS];
	o->nacks = c[IPCQ_CTR_NACKS];
	o->redeliveries = c[IPCQ_CTR_REDELIVERIES];
	o->poisoned = c[IPCQ_CTR_POISONED];
	o->recoveries = c[IPCQ_CTR_RECOVERIES];
	o->side_full = c[IPCQ_CTR_SIDE_FULL];
	o->duplicates = c[IPCQ_CTR_DUPLICATES];
	o->dropped = c[IPCQ_CTR_DROPPED];
	o->pressure_on = c[IPCQ_CTR_PRESSURE_ON];
	o->pressure_off = c[IPCQ_CTR_PRESSURE_OFF];
}

/* The slot of position @pos of lane @l (l < q->lanes). */
static const struct ipcq_shm_slot *lane_slot(const struct ipcq *q, uint32_t l, uint64_t pos)
{
	return (const struct ipcq_shm_slot *)(q->ring0 +
					      ((uint64_t)l * q->capacity + (pos & q->mask)) * q->slot_size);
}

/*
 * The enqueue time of the message at lane @l's consumers' cursor, 0 when
 * none is published there.  Consumers move the cursor while we look: a
 * few tries.  Copies in call order (pread pairs with no store): the slot
 * after the cursor, its time stamp between two copies of its word; an
 * unchanged word means the time was most likely that position's, and a
 * wrong pick is a wrong age, for people.
 */
static int lane_oldest(const struct ipcq *q, uint32_t l, uint64_t *t)
{
	int rc;

	*t = 0;
	for (int tries = 0; tries < 8; tries++) {
		uint64_t deq, seq, seq2, when;
		if ((rc = deq_of(q, l, &deq)))
			return rc;
		const struct ipcq_shm_slot *s = lane_slot(q, l, deq);
		if ((rc = seg_u64(q, &s->seq, &seq)))
			return rc;
		if ((seq & ~IPCQ_SEQ_SKIP) != ipcq__seq_pos(deq + 1))
			continue;
		if ((rc = seg_u64(q, &ipcq__slot_tail(q, s)->enqueue_ns, &when)) ||
		    (rc = seg_u64(q, &s->seq, &seq2)))
			return rc;
		if (seq2 == seq) {
			*t = when;
			return 0;
		}
	}
	return 0;
}

int ipcq_stats(struct ipcq *q, struct ipcq_stats *st, struct ipcq_participant_stats *parts,
	       unsigned nparts)
{
	int rc, n = 0;

	if (!q || !st || st->size < offsetof(struct ipcq_stats, reserved) || (!parts && nparts))
		return -EINVAL;
	uint32_t sz = st->size > sizeof(*st) ? (uint32_t)sizeof(*st) : st->size;
	memset(st, 0, sz);
	st->size = sz;
	st->info.size = sizeof(st->info);
	rc = ipcq_info(q, &st->info);
	if (rc)
		return rc;
	st->now_ns = ipcq__now_ns(CLOCK_MONOTONIC_COARSE);
	/* the oldest waiting message: of each lane with messages waiting, the
	 * one at its consumers' cursor (if published); the oldest of those */
	for (uint32_t l = 0; l < q->lanes && l < IPCQ_PRIORITIES_MAX; l++) {
		uint64_t t;
		if (st->info.lane_enqueued[l] == st->info.lane_dequeued[l])
			continue;
		if ((rc = lane_oldest(q, l, &t)))
			return rc;
		if (t && (!st->oldest_ns || t < st->oldest_ns))
			st->oldest_ns = t;
	}
	uint64_t qc[sizeof(q->ctl->qctr) / sizeof(q->ctl->qctr[0])];
	/* counters for people */
	rc = seg_read(q, q->ctl->qctr, qc, sizeof(qc));
	if (rc)
		return rc;
	st->recoveries = qc[IPCQ_QCTR_RECOVERIES];
	st->skipped = qc[IPCQ_QCTR_SKIPPED];
	st->redelivered = qc[IPCQ_QCTR_REDELIVERED];
	st->completed = qc[IPCQ_QCTR_COMPLETED];
	st->poisoned = qc[IPCQ_QCTR_POISONED];
	st->freed = qc[IPCQ_QCTR_FREED];
	st->side_full = qc[IPCQ_QCTR_SIDE_FULL];
	st->takeovers = qc[IPCQ_QCTR_TAKEOVERS];
	st->expired = qc[IPCQ_QCTR_EXPIRED];
	for (uint32_t j = 0; j < q->side_capacity; j++) {
		struct ipcq_shm_side *e = ipcq__side(q, j);
		uint64_t w;
		uint8_t reason;
		/* copies: a count for people; state and reason may be of two
		 * moments */
		if ((rc = seg_u64(q, &e->state, &w)) || (rc = seg_read(q, &e->reason, &reason, sizeof(reason))))
			return rc;
		uint32_t state = IPCQ_ENT_STATE(w);
		if (state != IPCQ_ENT_FULL && state != IPCQ_ENT_TAKING)
			continue;
		switch (reason) {
		case IPCQ_REASON_EXPIRED: st->side_expired++; break;
		case IPCQ_REASON_REFUSED: st->side_refused++; break;
		case IPCQ_REASON_TOO_LARGE: st->side_too_large++; break;
		default:
			if (reason < 4)
				st->side_by_reason[reason]++;
		}
	}
	st->numa_node = q->numa_node;
	for (uint32_t i = 0; i < q->max_participants; i++) {
		struct ipcq_shm_participant p;
		uint32_t state;
		/* a copy: a snapshot for people */
		if ((rc = seg_u32(q, &q->parts[i].state, &state)))
			return rc;
		if (state != IPCQ_PART_ACTIVE)
			continue;
		st->participants++;
		if ((unsigned)n >= nparts)
			continue;
		/* the whole entry, one copy (see the top of this file) */
		if ((rc = seg_read(q, &q->parts[i], &p, sizeof(p))))
			return rc;
		participant(q, i, &p, &parts[n++]);
	}
	return n;
}

int ipcq_app_counters(struct ipcq *q, uint32_t index, struct ipcq_app_counter *out, unsigned n)
{
	struct ipcq_shm_participant p;
	uint32_t state;
	int rc, got = 0;

	if (!q || (!out && n) || index >= q->max_participants)
		return -EINVAL;
	if ((rc = seg_u32(q, &q->parts[index].state, &state)))
		return rc;
	if (state != IPCQ_PART_ACTIVE)
		return 0;
	/* the whole entry, one copy (see the top of this file) */
	if ((rc = seg_read(q, &q->parts[index], &p, sizeof(p))))
		return rc;
	for (unsigned i = 0; i < IPCQ_APP_COUNTERS && (unsigned)got < n; i++) {
		const char *name = p.app_name[i];
		size_t len = strnlen(name, sizeof(p.app_name[i]));
		if (!ipcq__app_name_ok(name, len))
			continue; /* unused, or untrusted bytes */
		memset(&out[got], 0, sizeof(out[got]));
		memcpy(out[got].name, name, len);
		out[got].index = i;
		out[got].value = p.app[i];
		got++;
	}
	return got;
}
