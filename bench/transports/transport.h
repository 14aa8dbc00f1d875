/*
 * transport.h - the interface between the driver of bench/transports
 * (driver.c: options, cases, processes, table, ratios) and the transports
 * it measures, one file each:
 *
 *   ipcq.c        ipcq itself, and       spsc_ring.c   the hand-written SPSC ring
 *                 ipcq-group (a queue
 *                 with one consumer group)
 *   pipe.c        pipe(2)                socketpair.c  AF_UNIX SOCK_SEQPACKET
 *   posix_mq.c    mq_open(3)             boost_mq.c    Boost.Interprocess message_queue
 *   rte_ring.c    DPDK rte_ring          ck_ring.c     Concurrency Kit ck_ring
 *   floor.c       the machine's floor: one cache line bounced, a 64-byte
 *                 hand-off (latency only, through ping()/pong())
 *   common.c      what several transports share (shared-memory channels,
 *                 descriptors, notes, object names)
 *
 * A case (struct tcase) is set up by the parent: transport->create() makes
 * tc->nch channels (1 for throughput, 2 for the latency ping-pong), then
 * every process forks off and opens its own end of a channel (struct ep,
 * transport->open()), sends and receives through it, and closes it; the
 * parent calls transport->destroy() at the end.  Every wait a transport
 * makes is bounded (WAIT_MS, or a poll of aborted() every so many spins),
 * so that a case the driver aborts at its cap ends.
 *
 * The message format (stamp(), stamp_ok()) is here too: every transport
 * carries the same messages and the consumers check them.
 *
 * Errors are -errno; T_NA from create() says the case cannot run on this
 * transport (tc->note says why) and is reported as n/a, not as a failure.
 */
#ifndef BENCH_TRANSPORT_H
#define BENCH_TRANSPORT_H

#include "../benchutil.h"

#include <mqueue.h>

#include "ipcq.h"

/* ck_ring is header-only: it is measured when its header is found. */
#if defined(__has_include)
#if __has_include(<ck_ring.h>) && !defined(BENCH_NO_CK)
#define BENCH_HAVE_CK 1
#endif
#endif

#define MAX_SIDE 4		/* producers or consumers per case */
#define MAX_BATCH 32
#define END_ID UINT64_MAX	/* producer id of an end marker */
#define WHY_LEN 200
#define NOTE_LEN WHY_LEN
#define MIN_MSG_SIZE 16		/* id and sequence; the check words from CHECK_MIN_SIZE */
#define CHECK_MIN_SIZE 32	/* room for the two check words after id and sequence */
#define WAIT_MS 50		/* bounded waits: how often a blocked call looks at the abort flag */
#define SPIN_YIELD 200u		/* busy-wait loops: sched_yield() every this many polls */

struct transport;
struct case_shared;		/* the driver's: results and flags shared with the children */

/* One case; filled by the parent before fork, so every child has a copy. */
struct tcase {
	const struct transport *t;
	const char *mode;
	const char *strategy;	/* CSV name */
	uint32_t wait;		/* ipcq strategy */
	unsigned flags;		/* transport-specific (T_*) */
	unsigned batch, np, nc, size, depth, nch;
	int latency;
	unsigned serial;	/* this case's number in the run, for object names */
	char label[160];
	char note[NOTE_LEN];
	struct case_shared *sh;
	/* transport state */
	char name[2][96];
	struct ipcq *q[2];	/* ipcq: the parent's creating handles */
	int fd[2][2];		/* pipe, socketpair */
	mqd_t mq[2];		/* posix_mq */
	unsigned char *mem;	/* ring, rte_ring, ck_ring: MAP_SHARED memory */
	size_t memlen, chan_len;
};

enum { ROLE_SEND = 1, ROLE_RECV = 2 };

/* One process's end of one channel. */
struct ep {
	struct tcase *tc;
	unsigned ch, role;
	struct ipcq *q;
	int fd;
	mqd_t mq;
	void *bmq;
	unsigned char *chan;	/* this channel's part of tc->mem */
	uint64_t cached;	/* ring: the peer's index as last seen */
	unsigned char *msgbuf;	/* batch * stride bytes */
	size_t stride;
	unsigned char *msg[MAX_BATCH];
	/* consumer: called for each message; returns 1 for an end marker */
	int (*deliver)(struct ep *ep, const unsigned char *p, size_t len, uint64_t libseq);
	void *ctx;
	int done;
};

/* Transport flags */
#define T_ACK 0x1u	/* ipcq: ack mode */
#define T_ZC 0x2u	/* ipcq: zero copy */
#define T_HTS 0x4u	/* rte_ring: HTS mode */
#define T_SPSC 0x8u	/* ck_ring: the SPSC functions */
#define T_LATE 0x10u	/* ipcq: consumers attached with IPCQ_ATTACH_LATE_RELEASE */
#define T_SOLE 0x20u	/* ipcq: both ends attached with IPCQ_ATTACH_SOLE; rte_ring: SP/SC */

#define T_NA 1		/* create(): this case cannot run, tc->note says why */

struct transport {
	const char *name;
	/* Parent, before fork: make tc->nch channels.  0, T_NA or -errno. */
	int (*create)(struct tcase *tc);
	void (*destroy)(struct tcase *tc);
	/* Any process: open ep->ch for ep->role.  0 or -errno. */
	int (*open)(struct ep *ep);
	void (*close)(struct ep *ep);
	/*
	 * Send messages (id, seq), (id, seq + 1), ... up to n of them: the
	 * transport stamps them (stamp_msgs() or in place) and sends what it
	 * can, waiting for the first.  Returns how many were sent (>= 1), 0
	 * when the wait was abandoned because of the abort flag, or -errno.
	 */
	int (*send)(struct ep *ep, uint64_t id, uint64_t seq, unsigned n);
	/*
	 * Receive up to n messages, waiting for the first; calls
	 * ep->deliver() for each.  Returns how many (>= 1), 0 on abort, -errno.
	 */
	int (*recv)(struct ep *ep, unsigned n);
	/* Parent, optional, after a finished run: check the transport's own counters. */
	int (*check)(struct tcase *tc, uint64_t data, uint64_t ends_sent, uint64_t ends_taken,
		     char *why);
	/* Parent, optional, for a case that did not finish: print where the transport stands. */
	void (*state)(struct tcase *tc);
	/*
	 * The peer's own calls spin without bound (rte_ring waits for earlier
	 * claimers to publish, ck_ring_enqueue_mpmc for earlier producers to
	 * commit): a process preempted in between stalls the others, so the
	 * abort flag may not be seen; such a case is killed at the cap and
	 * reported as capped, not as a hang.
	 */
	int spins_inside;
	/*
	 * Optional, latency only (the floor): the whole exchange done by the
	 * transport itself instead of send() + recv().  ping() sends message
	 * @seq on @out and waits for the answer on @in (with @seq END_ID it
	 * only sends the end); pong() waits for message @seq on @in and answers
	 * it on @out.  Each checks what it receives.  1 done, 2 (pong) the end
	 * arrived, 0 aborted, -EBADMSG wrong content.
	 */
	int (*ping)(struct ep *out, struct ep *in, uint64_t seq);
	int (*pong)(struct ep *in, struct ep *out, uint64_t seq);
};

/* The transports, each in its own file. */
extern const struct transport t_ipcq;	/* ipcq.c */
extern const struct transport t_ipcq_group; /* ipcq.c: one durable consumer group */
extern const struct transport t_ring;	/* spsc_ring.c */
extern const struct transport t_pipe;	/* pipe.c */
extern const struct transport t_sock;	/* socketpair.c */
extern const struct transport t_mq;	/* posix_mq.c */
extern const struct transport t_boost;	/* boost_mq.c */
extern const struct transport t_rte;	/* rte_ring.c */
extern const struct transport t_ck;	/* ck_ring.c */
extern const struct transport t_floor;	/* floor.c */

/* ------------------------------------------------------------------ */
/* From the driver                                                     */
/* ------------------------------------------------------------------ */

/* Should the current wait be abandoned (the case is aborted)?  1 or 0. */
int aborted(void);

/*
 * Named objects of the current case that a signal must remove: @slot
 * (0..3) gets the printf-formatted path to unlink(2); untrack_shm() once
 * the object is gone.
 */
void track_shm(unsigned slot, const char *fmt, ...) BENCH_PRINTF(2, 3);
void untrack_shm(unsigned slot);

/* One poll of a busy-wait loop.  Returns 1 when the case is aborted. */
static inline int spin_wait(unsigned *spins)
{
	++*spins;
	if (*spins % SPIN_YIELD == 0) {
		sched_yield();
		return aborted();
	}
	bench_cpu_relax();
	return (*spins & 63) == 0 && aborted();
}

/* ------------------------------------------------------------------ */
/* Message format                                                      */
/* ------------------------------------------------------------------ */

/*
 * Every message carries
 *   bytes  0..7   producer id (0..P-1; END_ID marks the end)
 *   bytes  8..15  per-producer sequence, from 1
 *   bytes mid..   check word derived from (id, seq), mid = (size / 2) & ~7
 *   last 8 bytes  another check word derived from (id, seq)
 * Below CHECK_MIN_SIZE (the 16-byte latency messages) a message is only id
 * and sequence: every byte is checked against the id and sequence the
 * consumer expects.
 */
static inline uint64_t load64(const unsigned char *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
	return v;
}

static inline void store64(unsigned char *p, uint64_t v)
{
	memcpy(p, &v, 8);
}

static inline uint64_t check_tail(uint64_t id, uint64_t seq)
{
	return (seq * 0x9e3779b97f4a7c15ull) ^ (id << 48) ^ 0x5bd1e9955bd1e995ull;
}

static inline uint64_t check_mid(uint64_t id, uint64_t seq)
{
	return ~(seq * 0xc2b2ae3d27d4eb4full) ^ (id << 40);
}

static inline size_t mid_offset(size_t size)
{
	return (size / 2) & ~(size_t)7;
}

static inline void stamp(unsigned char *p, size_t size, uint64_t id, uint64_t seq)
{
	store64(p, id);
	store64(p + 8, seq);
	if (size < CHECK_MIN_SIZE)
		return;
	store64(p + mid_offset(size), check_mid(id, seq));
	store64(p + size - 8, check_tail(id, seq));
}

static inline int stamp_ok(const unsigned char *p, size_t size, uint64_t id, uint64_t seq)
{
	if (size < CHECK_MIN_SIZE)
		return load64(p) == id && load64(p + 8) == seq;
	return load64(p + size - 8) == check_tail(id, seq) &&
	       load64(p + mid_offset(size)) == check_mid(id, seq);
}

/* Stamp ep->msg[0..n-1], the private buffers a copying transport sends from. */
static inline void stamp_msgs(struct ep *ep, uint64_t id, uint64_t seq, unsigned n)
{
	unsigned i;

	for (i = 0; i < n; i++)
		stamp(ep->msg[i], ep->tc->size, id, seq + i);
}

/* A message slot: its size rounded up to whole cache lines. */
static inline size_t slot_stride(unsigned size)
{
	return ((size_t)size + 63) & ~(size_t)63;
}

/* ------------------------------------------------------------------ */
/* Shared by several transports (common.c)                             */
/* ------------------------------------------------------------------ */

/* The note printed beside the case's result (why n/a, what was adjusted). */
void set_note(struct tcase *tc, const char *fmt, ...) BENCH_PRINTF(2, 3);
/* tc->name[ch] := "<prefix>bench-<pid>-<serial>-<ch>", unique in the run. */
void object_name(struct tcase *tc, unsigned ch, const char *prefix);

/* ring, rte_ring, ck_ring: tc->mem holds tc->nch channels of chan_len bytes each. */
int shm_channels(struct tcase *tc, size_t chan_len);
void shm_destroy(struct tcase *tc);
int shm_open_ep(struct ep *ep);
void noop_close(struct ep *ep);

/* pipe, socketpair: tc->fd[ch] is a pair, [1] for the senders, [0] for the receivers. */
void fds_close(struct tcase *tc);
int fd_open(struct ep *ep);
/* Wait for @events on @fd, WAIT_MS at a time.  0 ready, 1 aborted, -errno. */
int fd_wait(int fd, short events);

#endif /* BENCH_TRANSPORT_H */
