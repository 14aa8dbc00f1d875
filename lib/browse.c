/*
 * browse.c - read the messages of the main ring without consuming them
 * (ipcq_browse), for people: ipcq-ctl peek and tail.
 *
 * Owns nothing in the segment and writes nothing to it; works on
 * read-only handles.  The segment is hostile input here as everywhere:
 *
 *  - every read goes through pread() on the handle's descriptor, never
 *    through the mapping, so a segment file shrunk under the handle is
 *    -EBADMSG, not a SIGBUS (as in stats.c);
 *  - each shared word is copied once into a private variable and only the
 *    copy is used: the slot word twice by design (before and after the
 *    payload), every other header field once;
 *  - the slot address comes from the position and the handle's validated
 *    copies of capacity and slot size, never from the segment; the length
 *    read from the slot is bounded by max_msg_size before it sizes a copy
 *    and again before it is reported.
 *
 * A slot changes under the reader: its consumer releases it, the producer
 * of the next lap writes it.  The copy is checked like a seqlock read:
 *
 *   B1 copy the slot word (seq1)
 *   B2 acquire fence
 *      copy the header fields and the payload
 *   B3 acquire fence
 *   B4 copy the slot word again (seq2); seq1 != seq2: -EAGAIN
 *
 * Why an unchanged word means a consistent copy: a message's header and
 * payload are written before its publish (R1, a release store, in ring.h)
 * and not written again while the word says "published" (an adopter
 * changes the word first, T1, then raises the delivery count: that count
 * may be seen before or after the raise, a figure for people).  A writer
 * of the next lap first sees the word released (A1 reads R2), then passes
 * a release fence (F1) before its data stores.  If our payload copy read
 * any byte of such a store, F1 synchronizes with our fence B3, R2 happens
 * before B4, and B4 cannot read the older "published" word: seq2 differs.
 * B2 keeps the copy after B1, so a "published" seq1 means the copy is of
 * that message or of a later writer's, which B4 then reveals.  pread()
 * copies in the kernel with plain loads of this same thread; the fences
 * here order them as they order loads through the mapping (on x86-64 they
 * are compiler barriers, loads being ordered already; on AArch64 dmb).
 *
 * pread() does not promise to copy the 8-byte word with one load: the
 * kernel's copy may move it in pieces (bytes, halves), so seq1 and seq2
 * may each be assembled from more than one value of the word.  The
 * argument above holds piece by piece: R2 writes every byte of the word,
 * so each piece of B4 reads R2 or a later store.  From R2 on, the
 * position bits (0-43) only grow: pos + capacity, then pos + capacity + 1,
 * pos + 2 * capacity, ..., never pos + 1 again within 2^44 positions.  A
 * piecewise B4 of such values reassembles seq1's position pos + 1 only by
 * taking its low byte from a value at least 256 positions on (the only
 * larger ones with that low byte) and a higher byte from a value less
 * than 256 positions on (the only ones with those high bytes): the slot
 * would have to advance by at least 256 positions, a whole lap of the
 * ring or more, between two loads of one 8-byte copy.  So a changed word
 * reads as changed.  A piecewise B1 adds nothing worse: a torn seq1 is a
 * value the word never held, so B4 differs from it (-EAGAIN) unless it
 * names no message, and then the cursors decide the state, a snapshot.
 *
 * On a queue with groups the slot word is the producers' alone and keeps
 * the old lap's "published" until the new lap's publish: a writer of the
 * next lap claims (P1, a CAS of enq) before F1 and its data stores, so a
 * copy that read any of them finds, after B3, enq past pos + capacity
 * (B5 below), and the copy is not reported.  enq only grows, and a
 * piecewise copy of it errs only by a whole lap or more, as above.
 *
 * The cursors (enq, deq) are copied after the slot to tell a message
 * waiting from one being received, and an unpublished position being
 * written from one not yet claimed: a snapshot, for people.
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "ipcq_internal.h"

/* Copy @len bytes of the segment at @at (inside q's mapping) into @dst
 * with pread(); -EBADMSG when the file no longer holds them. */
static int browse_read(const struct ipcq *q, const void *at, void *dst, size_t len)
{
	uint64_t off = (uint64_t)((uintptr_t)at - (uintptr_t)q->base);

	if ((uintptr_t)at < (uintptr_t)q->base || off > q->size || len > q->size - off)
		return -EBADMSG; /* never an address outside the segment */
	while (len) {
		ssize_t got = pread(q->fd, dst, len, (off_t)off);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0)
			return -errno;
		if (got == 0)
			return -EBADMSG; /* shrunk under us */
		dst = (uint8_t *)dst + got;
		off += (uint64_t)got;
		len -= (size_t)got;
	}
	return 0;
}

int ipcq_browse(struct ipcq *q, uint64_t pos, void *buf, size_t cap,
		struct ipcq_slot_view *view)
{
	return ipcq_browse_lane(q, 0, pos, buf, cap, view);
}

int ipcq_browse_lane(struct ipcq *q, uint32_t priority, uint64_t pos, void *buf, size_t cap,
		     struct ipcq_slot_view *view)
{
	struct ipcq_shm_slot h;
	struct ipcq_shm_slot_tail tl;
	uint64_t seq1, seq2, enq, deq;
	int rc;

	if (!q || !view || view->size < offsetof(struct ipcq_slot_view, reserved) ||
	    (!buf && cap))
		return -EINVAL;
	uint32_t sz = view->size > sizeof(*view) ? (uint32_t)sizeof(*view) : view->size;
	memset(view, 0, sz);
	view->size = sz;
	view->pos = pos;
	view->state = IPCQ_SLOT_EMPTY;
	if (priority >= q->lanes) {
		ipcq__errdetail("priority %u: the queue has %u lane%s", priority, q->lanes,
				q->lanes == 1 ? "" : "s");
		return -EINVAL;
	}
	view->priority = priority;

	/* the lane's slot, from the handle's validated copies (the handle's
	 * current lane is another thread's business: not used here) */
	const struct ipcq_shm_slot *s = (const struct ipcq_shm_slot *)(
		q->ring0 + ((uint64_t)priority * q->capacity + (pos & q->mask)) * q->slot_size);
	uint64_t *enqp = ipcq__lane_enq(q, priority), *deqp = ipcq__lane_deq(q, priority);
	/* B1: a copy of the slot word (pread: see the top of this file) */
	if ((rc = browse_read(q, &s->seq, &seq1, sizeof(seq1))))
		return rc;
	/* B2: the copies below stay after B1 */
	ipcq__fence_acquire();
	int64_t dif = ipcq__seq_dif(seq1, pos);
	int message = dif == 1 && !(seq1 & IPCQ_SEQ_SKIP);
	size_t ncopy = 0;
	if (message) {
		/* the header after the word, one copy of each field */
		if ((rc = browse_read(q, (const uint8_t *)s + sizeof(h.seq), (uint8_t *)&h + sizeof(h.seq),
				      sizeof(h) - sizeof(h.seq))) ||
		    (rc = browse_read(q, ipcq__slot_tail(q, s), &tl, sizeof(tl))))
			return rc;
		/* bounded before it sizes anything: a torn or hostile
		 * length never copies more than a slot holds */
		ncopy = h.len <= q->max_msg_size ? h.len : q->max_msg_size;
		if (ncopy > cap)
			ncopy = cap;
		if (ncopy &&
		    (rc = browse_read(q, (const uint8_t *)s + IPCQ_SLOT_HDR, buf, ncopy)))
			return rc;
		/* B3: the copies above stay before B4 */
		ipcq__fence_acquire();
		/* B4: the word again: changed means the copy may mix two
		 * messages (or a message and a later writer's bytes) */
		if ((rc = browse_read(q, &s->seq, &seq2, sizeof(seq2))))
			return rc;
		if (seq2 != seq1)
			return -EAGAIN;
	}
	/* copies of the cursors after the slot: a snapshot for people */
	if ((rc = browse_read(q, deqp, &deq, sizeof(deq))) ||
	    (rc = browse_read(q, enqp, &enq, sizeof(enq))))
		return rc;
	/* Positions far from the cursors are decided by the cursors: the
	 * slot word holds positions modulo 2^44 and means something only
	 * within a lap of the position it is compared with. */
	if (pos < deq && deq - pos > q->capacity) {
		view->state = IPCQ_SLOT_GONE;
		return -ENOENT;
	}
	if (pos >= enq && pos - enq >= q->capacity) {
		view->state = IPCQ_SLOT_EMPTY;
		return -ENOENT;
	}
	/* B5: a later lap claimed the slot (after B3: its writer may have
	 * written under our copy) */
	if (pos < enq && enq - pos > q->capacity) {
		view->state = IPCQ_SLOT_GONE;
		return -ENOENT;
	}
	if (dif == 1 && (seq1 & IPCQ_SEQ_SKIP)) {
		view->state = IPCQ_SLOT_SKIP;
		return -ENOENT;
	}
	if (dif >= 2) {
		view->state = IPCQ_SLOT_GONE; /* released, or a later lap's */
		return -ENOENT;
	}
	if (dif <= 0) {
		/* free for the producer of pos (claimed and being written
		 * when enq is past it), or an earlier lap still there */
		view->state = dif == 0 && pos < enq ? IPCQ_SLOT_WRITING : IPCQ_SLOT_EMPTY;
		return -ENOENT;
	}
	if (h.len > q->max_msg_size)
		return -EBADMSG; /* an unchanged word with an impossible length */
	view->state = pos < deq ? IPCQ_SLOT_TAKEN : IPCQ_SLOT_READY;
	view->len = h.len;
	view->seq = tl.pseq;
	view->enqueue_ns = tl.enqueue_ns;
	view->producer = h.producer;
	view->stream = tl.stream;
	view->deliveries = h.deliveries;
	view->flags = h.flags & IPCQ_MSG_REPLAYED;
	if (h.deliveries || (h.flags & IPCQ_SLOT_F_REDELIVERED))
		view->flags |= IPCQ_MSG_REDELIVERED;
	view->adopter = ipcq__seq_owner(seq1);
	return (int)ncopy;
}
