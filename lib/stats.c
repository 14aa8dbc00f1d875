/*
 * stats.c - read-only views for monitors: the snapshot of a queue and its
 * participants, the list of queues, read-only handles.
 *
 * Owns nothing in the segment and writes nothing to it: every value is a
 * relaxed load of a word its owner keeps changing, so a snapshot is a set
 * of recent values, not one instant.  Counters are single-writer words on
 * their owner's own lines (ipcq_internal.h), so reading them costs the
 * writers nothing but an occasional cache-line transfer.
 */
#include <dirent.h>
#include <errno.h>
#include <string.h>
#include <time.h>

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

static void participant(struct ipcq *q, uint32_t i, struct ipcq_participant_stats *o)
{
	const struct ipcq_shm_participant *p = &q->parts[i];
	const uint64_t *c = p->ctr;

	memset(o, 0, sizeof(*o));
	o->index = i;
	/* relaxed: a snapshot for people (see the top of this file) */
	o->roles = ipcq__load_relaxed(&p->roles);
	o->flags = ipcq__load_relaxed(&p->flags);
	o->pid = ipcq__load_relaxed(&p->pid);
	o->stream = ipcq__load_relaxed(&p->dedup);
	o->alive = ipcq__load_relaxed(&p->state) == IPCQ_PART_ACTIVE &&
		   ipcq__participant_alive(q, i) > 0;
	memcpy(o->name, p->name, sizeof(o->name));
	o->name[sizeof(o->name) - 1] = '\0';
	for (size_t k = 0; k < sizeof(o->name) && o->name[k]; k++)
		if (o->name[k] < 0x20 || o->name[k] > 0x7e)
			o->name[k] = '?'; /* untrusted bytes: printable only */
	/* relaxed: as above */
	o->attach_ns = ipcq__load_relaxed(&p->attach_ns);
	/* relaxed: counters, each written by its owner only */
	o->sent = ipcq__load_relaxed(&c[IPCQ_CTR_SENT]);
	o->sent_bytes = ipcq__load_relaxed(&c[IPCQ_CTR_SENT_BYTES]);
	o->send_calls = ipcq__load_relaxed(&c[IPCQ_CTR_SEND_CALLS]);
	o->received = ipcq__load_relaxed(&c[IPCQ_CTR_RECV]);
	o->received_bytes = ipcq__load_relaxed(&c[IPCQ_CTR_RECV_BYTES]);
	o->recv_calls = ipcq__load_relaxed(&c[IPCQ_CTR_RECV_CALLS]);
	o->full = ipcq__load_relaxed(&c[IPCQ_CTR_FULL]);
	o->empty = ipcq__load_relaxed(&c[IPCQ_CTR_EMPTY]);
	o->blocked_ns = ipcq__load_relaxed(&c[IPCQ_CTR_BLOCKED_NS]);
	o->sleeps = ipcq__load_relaxed(&c[IPCQ_CTR_SLEEPS]);
	o->wakes = ipcq__load_relaxed(&c[IPCQ_CTR_WAKES]);
	o->acks = ipcq__load_relaxed(&c[IPCQ_CTR_ACKS]);
	o->nacks = ipcq__load_relaxed(&c[IPCQ_CTR_NACKS]);
	o->redeliveries = ipcq__load_relaxed(&c[IPCQ_CTR_REDELIVERIES]);
	o->poisoned = ipcq__load_relaxed(&c[IPCQ_CTR_POISONED]);
	o->recoveries = ipcq__load_relaxed(&c[IPCQ_CTR_RECOVERIES]);
	o->side_full = ipcq__load_relaxed(&c[IPCQ_CTR_SIDE_FULL]);
	o->duplicates = ipcq__load_relaxed(&c[IPCQ_CTR_DUPLICATES]);
	o->dropped = ipcq__load_relaxed(&c[IPCQ_CTR_DROPPED]);
	o->pressure_on = ipcq__load_relaxed(&c[IPCQ_CTR_PRESSURE_ON]);
	o->pressure_off = ipcq__load_relaxed(&c[IPCQ_CTR_PRESSURE_OFF]);
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
	/* the oldest waiting message: the one at deq, if published */
	/* consumers move deq while we look: a few tries */
	for (int tries = 0; tries < 8 && st->info.depth; tries++) {
		/* acquire: the slot is read after the cursor (like I1 in
		 * segment.c, it pairs with no store) */
		uint64_t deq = ipcq__load_acquire(&q->ctl->deq);
		struct ipcq_shm_slot *s = ipcq__slot(q, deq);
		/* A2: its header is complete once published; pairs with R1 */
		uint64_t seq = ipcq__load_acquire(&s->seq);
		if ((seq & ~IPCQ_SEQ_SKIP) != ipcq__seq_pos(deq + 1))
			continue;
		/* acquire: read before the re-check; a value of a later lap
		 * pairs with F1 of its producer (claim_send() in ring.c) */
		uint64_t t = ipcq__load_acquire(&s->enqueue_ns);
		/* relaxed: unchanged means t was deq's */
		if (ipcq__load_relaxed(&s->seq) == seq) {
			st->oldest_ns = t;
			break;
		}
	}
	const uint64_t *qc = q->ctl->qctr;
	/* relaxed: counters for people */
	st->recoveries = ipcq__load_relaxed(&qc[IPCQ_QCTR_RECOVERIES]);
	st->skipped = ipcq__load_relaxed(&qc[IPCQ_QCTR_SKIPPED]);
	st->redelivered = ipcq__load_relaxed(&qc[IPCQ_QCTR_REDELIVERED]);
	st->completed = ipcq__load_relaxed(&qc[IPCQ_QCTR_COMPLETED]);
	st->poisoned = ipcq__load_relaxed(&qc[IPCQ_QCTR_POISONED]);
	st->freed = ipcq__load_relaxed(&qc[IPCQ_QCTR_FREED]);
	st->side_full = ipcq__load_relaxed(&qc[IPCQ_QCTR_SIDE_FULL]);
	st->takeovers = ipcq__load_relaxed(&qc[IPCQ_QCTR_TAKEOVERS]);
	for (uint32_t j = 0; j < q->side_capacity; j++) {
		struct ipcq_shm_side *e = ipcq__side(q, j);
		/* relaxed: a count for people; state and reason may be of two
		 * moments */
		uint32_t state = IPCQ_ENT_STATE(ipcq__load_relaxed(&e->state));
		uint32_t reason = ipcq__load_relaxed(&e->reason);
		if ((state == IPCQ_ENT_FULL || state == IPCQ_ENT_TAKING) && reason < 4)
			st->side_by_reason[reason]++;
	}
	st->numa_node = q->numa_node;
	for (uint32_t i = 0; i < q->max_participants; i++) {
		/* relaxed: a snapshot for people */
		uint32_t state = ipcq__load_relaxed(&q->parts[i].state);
		if (state != IPCQ_PART_ACTIVE)
			continue;
		st->participants++;
		if ((unsigned)n < nparts)
			participant(q, i, &parts[n++]);
	}
	return n;
}
