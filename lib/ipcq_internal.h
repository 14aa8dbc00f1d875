/*
 * ipcq_internal.h - the shared-memory layout of a queue and the private
 * handle.  Never included from outside lib/.
 *
 * The segment format is an ABI: fixed-width integers only, offsets instead
 * of pointers, every hot word on its own 128-byte line (two lines, because
 * the adjacent-line prefetcher couples 64-byte lines in pairs), a magic, a
 * layout version and a format signature computed from the sizes of these
 * structs, so that a segment built by a different layout is refused
 * (-EPROTO) rather than misread.
 *
 * Segment map (all offsets are from the start of the segment, each region
 * aligned to IPCQ_LINE):
 *
 *   0                 struct ipcq_shm_header       (one 4 KiB page)
 *   off_control       struct ipcq_shm_control      (cursors, wait words)
 *   off_participants  max_participants x struct ipcq_shm_participant
 *   off_ring          capacity x slot_size         (the main ring)
 *   off_leases        lease_capacity x lease_size  (ack-mode lease pool)
 *   off_side          side_capacity x side_size    (poison side ring)
 *   off_dedup         dedup_capacity x struct ipcq_shm_dedup
 *   off_groups        max_groups x struct ipcq_shm_group  (0: no groups)
 *   off_gwords        max_groups x capacity group words (uint64_t)
 *   off_lanes         (priorities - 1) x struct ipcq_shm_lane: the cursors of
 *                     lanes 1.. (lane 0's are control.enq and control.deq);
 *                     lane l's slots are the ring's l-th run of capacity
 *   total_size
 *
 * Who writes what:
 *   header            the creator, before the segment gets its name; then
 *                     read-only for everybody
 *   control.enq       producers (CAS), control.deq consumers (CAS)
 *   control.data_*    consumers waiting for data (waiters), producers
 *                     (futex word); control.space_* the mirror image
 *   participant i     the process holding the OFD lock on byte
 *                     off_participants + i * sizeof(participant); the
 *                     counters line is written by that process only
 *   slot              the producer that claimed it until it publishes, then
 *                     the consumer that claimed it until it releases (or
 *                     the consumer that adopted it from a dead one)
 *   lease / side      whoever moved its state word to an owned state with
 *                     a CAS, until it moves it on (see lease.c, side.c)
 *
 * A queue with groups (max_groups > 0) differs (see ring.c, "Groups"): the
 * slot word belongs to the producers, and each durable group keeps the
 * consumer half of it in a group word per slot; control.deq is unused,
 * each group has a cursor and a tail of its own, and control.floor says
 * how far producers may go.
 */
#ifndef IPCQ_INTERNAL_H
#define IPCQ_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>

#include "ipcq.h"
#include "atomic_internal.h"

#define IPCQ_LINE 128u /* hot words apart: adjacent-line prefetch couples pairs */
#define IPCQ_CL 64u     /* one cache line: slots are multiples of it */
#define IPCQ_MAGIC 0x3130514350495f5full /* "__IPCQ01" little-endian */
#define IPCQ_LAYOUT_VERSION 9u /* 9: sole producers and consumers (control.sole, the seats) */
#define IPCQ_HEADER_SIZE 4096u
#define IPCQ_PATH_PREFIX "/dev/shm/ipcq."

#if defined(__GNUC__)
#define IPCQ_COLD __attribute__((cold, noinline))
/* A path of its own that is hot for the handles that take it (kept out of
 * the common path, not optimised for size as a cold one is). */
#define IPCQ_NOINLINE __attribute__((noinline))
#define IPCQ_LIKELY(x) __builtin_expect(!!(x), 1)
#define IPCQ_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define IPCQ_HIDDEN __attribute__((visibility("hidden")))
#define IPCQ_INLINE inline __attribute__((always_inline))
#endif

/* ---- header ------------------------------------------------------------ */

struct ipcq_shm_header {
	uint64_t magic;            /* IPCQ_MAGIC */
	uint32_t layout_version;   /* IPCQ_LAYOUT_VERSION */
	uint32_t format_sig;       /* ipcq__format_signature() */
	uint32_t header_size;      /* IPCQ_HEADER_SIZE */
	uint32_t line_size;        /* IPCQ_LINE */
	uint32_t page_size;        /* of the creator */
	uint32_t capacity;         /* slots, power of two */
	uint32_t slot_size;        /* bytes, multiple of 64 */
	uint32_t max_msg_size;     /* bytes, <= slot_size - slot header */
	uint32_t max_participants;
	uint32_t participant_size; /* sizeof(struct ipcq_shm_participant) */
	uint32_t wait_strategy;    /* default for handles */
	uint32_t spin_count;
	uint32_t yield_count;
	uint32_t mode;             /* permission bits asked for at create */
	uint32_t side_capacity;    /* 0: no side ring in this layout */
	uint32_t max_deliveries;
	int32_t numa_node;
	uint32_t high_watermark;
	uint32_t low_watermark;
	uint32_t flags;
	uint64_t features;         /* feature bits; none yet */
	uint64_t created_ns;       /* CLOCK_REALTIME */
	uint64_t total_size;
	uint64_t off_control;
	uint64_t off_participants;
	uint64_t off_ring;
	uint64_t off_leases;
	uint64_t off_side;
	uint32_t lease_capacity;
	uint32_t lease_size;       /* bytes per lease entry */
	uint32_t side_size;        /* bytes per side-ring entry */
	uint32_t grace_us;
	uint64_t off_dedup;
	uint32_t dedup_capacity;
	uint32_t retry_factor;     /* ack-mode retry backoff, 1..16 */
	uint32_t retry_base_us;    /* 0: requeued messages are due at once */
	uint32_t retry_max_us;
	uint32_t ttl_ms;           /* queue time to live (IPCQ_CF_EXPIRY) */
	uint32_t max_groups;       /* 0: no groups (the classic protocol) */
	uint64_t off_groups;       /* max_groups x struct ipcq_shm_group */
	uint64_t off_gwords;       /* max_groups x capacity group words */
	uint32_t priorities;       /* lanes, 1..IPCQ_PRIORITIES_MAX */
	uint32_t priority_share;   /* starvation guard, percent 0..50 */
	uint64_t off_lanes;        /* (priorities - 1) x struct ipcq_shm_lane */
	uint64_t reserved[6];
};

/* The IPCQ_CF_* flags this build knows. */
#define IPCQ_CF_KNOWN (IPCQ_CF_EXPIRY | IPCQ_CF_EXPIRED_TO_SIDE | IPCQ_CF_KEYED)

/* The longest time to live, in milliseconds (2^31: 24 days). */
#define IPCQ_TTL_MAX_MS 2147483648u

/* The longest retry delay, in microseconds (IPCQ_RETRY_MAX_NS). */
#define IPCQ_RETRY_MAX_US 3600000000u

/* ---- control block: one hot word per 128-byte line ---------------------- */

struct ipcq_shm_control {
	/* Next position a producer claims.  Written by producers (CAS), or
	 * by the sole producer (store).  The byte after it is the producers'
	 * seat (an OFD lock, nothing stored; attach.c). */
	uint64_t enq;
	uint8_t pad0[IPCQ_LINE - 8];
	/* Next position a consumer claims.  Written by consumers (CAS), or
	 * by the sole consumer (store).  The byte after it is the consumers'
	 * seat. */
	uint64_t deq;
	uint8_t pad1[IPCQ_LINE - 8];
	/* Consumers sleeping for data: counter (consumers), futex word
	 * (bumped by producers before FUTEX_WAKE).  sole: 1 once a sole
	 * producer or consumer that claims by store has attached (set by its
	 * attach, never cleared): sleepers then fence the sole handles
	 * (wait.c, W1b). */
	uint32_t data_waiters;
	int32_t data_futex;
	uint32_t sole;
	uint8_t pad2[IPCQ_LINE - 12];
	/* Producers sleeping for space: counter (producers), futex word
	 * (bumped by consumers). */
	uint32_t space_waiters;
	int32_t space_futex;
	uint8_t pad3[IPCQ_LINE - 8];
	/* Lease entries in state REDELIVER: consumers look at the pool only
	 * when this is non-zero.  Written (atomic add) by whoever changes such
	 * an entry. */
	uint32_t redeliverable;
	/* Of those, the ones given back with a not-before time (a retry
	 * delay), counted apart: they are not due at once.  delayed_gen
	 * counts every such give-back, so a consumer learns that its idea of
	 * the next due time is stale.  Written (atomic add) by the giver and
	 * the taker. */
	uint32_t delayed;
	/* Next side-ring entry id.  Fetch-add by side-ring writers. */
	uint64_t side_next_id;
	uint64_t delayed_gen;
	uint8_t pad4[IPCQ_LINE - 24];
	/* Queue-level event counters, written (atomic add) by whoever
	 * recovers or quarantines; rare. */
	uint64_t qctr[16];
	/* Backpressure: 1 while above the high watermark.  Set by producers,
	 * cleared by consumers, by CAS, only on transitions; read by every
	 * send of a queue with watermarks. */
	uint32_t pressure;
	int32_t pressure_futex;    /* bumped by the consumer that clears */
	uint32_t pressure_waiters; /* producers in ipcq_wait_pressure() */
	uint8_t pad5[IPCQ_LINE - 12];
	/* Queues with groups: the floor word, IPCQ_FW(position, generation).
	 * Every durable group has released every position below the floor
	 * (the minimum of their tails when it was computed), so producers
	 * may claim below floor + capacity.  Moved forward by CAS (producers
	 * that find the ring full); its generation is raised by a group's
	 * creation, which fails the CAS of a minimum computed without it. */
	uint64_t floor;
	uint8_t pad6[IPCQ_LINE - 8];
	/* Queues with IPCQ_CF_KEYED (lease.c, "Per-key order"): every ring
	 * position below key_done has been released.  Moved forward by CAS
	 * (ack-mode consumers, G1), over released slots only.  key_parked:
	 * lease entries waiting for the message before them of their key
	 * (a hint, atomic add by the parker and the taker).  key_held: lease
	 * entries holding a keyed message (OWNED or REDELIVER), raised by
	 * the filler before L1 and lowered after the L3 that frees one; a
	 * crash can only leave it high (atomic add). */
	uint64_t key_done;
	uint32_t key_parked;
	uint32_t key_held;
	uint8_t pad7[IPCQ_LINE - 16];
};

enum {
	IPCQ_QCTR_RECOVERIES,    /* recovery passes that took over something */
	IPCQ_QCTR_SKIPPED,
	IPCQ_QCTR_REDELIVERED,
	IPCQ_QCTR_COMPLETED,
	IPCQ_QCTR_POISONED,
	IPCQ_QCTR_FREED,
	IPCQ_QCTR_SIDE_FULL,     /* moves to the side ring refused: full */
	IPCQ_QCTR_TAKEOVERS,     /* producer names taken over from the dead */
	IPCQ_QCTR_RELEASE_LOST,  /* releases whose CAS found the slot not as
				  * its owner left it (only a corrupt segment) */
	IPCQ_QCTR_EXPIRED,       /* messages that expired (dropped or moved) */
	IPCQ_QCTR_COUNT_
};

/*
 * The cursors of priority lane l >= 1 (lane 0's are control.enq and
 * control.deq): the same words with the same writers, each on its own
 * line.  A lane is a ring of its own: its slots, its cursors; everything
 * else (waiting, leases, the side ring, dedup) is the queue's.
 */
struct ipcq_shm_lane {
	uint64_t enq;          /* producers (CAS) */
	uint8_t pad0[IPCQ_LINE - 8];
	uint64_t deq;          /* consumers (CAS) */
	uint8_t pad1[IPCQ_LINE - 8];
};

/* ---- participant table --------------------------------------------------- */

enum {
	IPCQ_PART_FREE = 0,     /* never used */
	IPCQ_PART_ACTIVE = 1,   /* attached (alive while its lock is held) */
	IPCQ_PART_DETACHED = 2, /* left cleanly */
	IPCQ_PART_RECOVERING = 3, /* its holder died; a process attaching to
				   * the entry is finishing its work */
};

/* What a participant is about to do or doing at pos (its work record). */
enum {
	IPCQ_OP_IDLE = 0,
	IPCQ_OP_ENQUEUE = 1, /* claiming/writing [pos, pos + n) as producer */
	IPCQ_OP_DEQUEUE = 2, /* claiming/reading [pos, pos + n) as consumer */
};
/* The op word of a work record carries the lane of its positions in bits
 * 8-15 (IPCQ_OP_ENQUEUE | lane << IPCQ_OP_LANE_SHIFT), stored with it in
 * one word: a record names its lane exactly when it names its op.  Lane 0
 * is the plain op, as on a queue without priorities. */
#define IPCQ_OP_LANE_SHIFT 8
#define IPCQ_OP_KIND(op) ((op) & 0xffu)
#define IPCQ_OP_LANE(op) ((op) >> IPCQ_OP_LANE_SHIFT)

enum {
	IPCQ_CTR_SENT,       /* messages enqueued */
	IPCQ_CTR_SENT_BYTES,
	IPCQ_CTR_SEND_CALLS, /* successful send/send_batch calls */
	IPCQ_CTR_RECV,       /* messages dequeued */
	IPCQ_CTR_RECV_BYTES,
	IPCQ_CTR_RECV_CALLS,
	IPCQ_CTR_FULL,       /* send found the ring full */
	IPCQ_CTR_EMPTY,      /* recv found the ring empty */
	IPCQ_CTR_SLEEPS,     /* futex sleeps */
	IPCQ_CTR_WAKES,      /* futex wakes issued */
	IPCQ_CTR_BLOCKED_NS, /* time spent waiting in blocking calls */
	IPCQ_CTR_ACKS,
	IPCQ_CTR_NACKS,
	IPCQ_CTR_REDELIVERIES, /* messages this consumer got again */
	IPCQ_CTR_POISONED,   /* messages this participant moved to the side ring */
	IPCQ_CTR_RECOVERIES, /* recovery actions this participant performed */
	IPCQ_CTR_SIDE_FULL,
	IPCQ_CTR_DUPLICATES, /* sends dropped as duplicates */
	IPCQ_CTR_DROPPED,    /* messages discarded by drop-oldest */
	IPCQ_CTR_PRESSURE_ON,  /* transitions this participant made */
	IPCQ_CTR_PRESSURE_OFF,
	IPCQ_CTR_COUNT_ = 32
};
/* ipcq__count3() counts messages, bytes and calls as neighbours */
_Static_assert(IPCQ_CTR_SENT_BYTES == IPCQ_CTR_SENT + 1 && IPCQ_CTR_SEND_CALLS == IPCQ_CTR_SENT + 2 &&
		       IPCQ_CTR_RECV_BYTES == IPCQ_CTR_RECV + 1 && IPCQ_CTR_RECV_CALLS == IPCQ_CTR_RECV + 2,
	       "counters counted together are neighbours");

struct ipcq_shm_participant {
	/* line 0: identity and work record, written by the owner. */
	uint32_t state;       /* IPCQ_PART_* */
	uint32_t roles;       /* IPCQ_ROLE_* */
	uint32_t pid;
	uint32_t generation;  /* bumped at each attach of this entry */
	uint64_t start_time;  /* process start time (clock ticks since boot) */
	uint64_t attach_ns;   /* CLOCK_REALTIME */
	char name[48];
	uint64_t prod_pos;    /* producer work record: first position */
	uint32_t prod_n;      /* positions */
	uint32_t prod_op;     /* IPCQ_OP_ENQUEUE or IPCQ_OP_IDLE */
	uint64_t cons_pos;    /* consumer work record */
	uint32_t cons_n;
	uint32_t cons_op;     /* IPCQ_OP_DEQUEUE or IPCQ_OP_IDLE */
	/* a move of the slot at cons_pos into side-ring entry move_side - 1
	 * of generation move_gen is under way (0: none) */
	uint32_t move_side;
	uint32_t move_gen;
	uint32_t flags;       /* IPCQ_ATTACH_* */
	uint32_t dedup;       /* dedup-table index + 1 of the name held, 0 none */
	/* lines 1-2: counters, written by the owner only. */
	uint64_t ctr[IPCQ_CTR_COUNT_];
	/* line 3: application counters (ipcq_app_counter_set()), line 4
	 * their names ([a-z0-9_], NUL-padded; "" unused); written by the
	 * owner only, zeroed at attach. */
	uint64_t app[IPCQ_APP_COUNTERS];
	/* a queue with groups: the consumer's group (index + 1, 0 none) and
	 * that group's generation when it joined; written by the owner at
	 * attach, before it claims anything */
	uint32_t group;
	uint32_t group_gen;
	uint8_t pad_app[IPCQ_LINE - 8 * IPCQ_APP_COUNTERS - 8];
	char app_name[IPCQ_APP_COUNTERS][IPCQ_APP_COUNTER_NAME_MAX + 1];
};

/* ---- slots -------------------------------------------------------------- */

/*
 * A slot is capacity-independent: slot_size bytes, a multiple of 64,
 *
 *   0             16                            slot_size - 32   slot_size
 *   | head (16 B) | payload (up to max_msg_size) ...  | tail (32 B) |
 *
 * The head holds what every receive needs, and the payload starts in the
 * same 64-byte line, so a message of up to 48 bytes (16 bytes when
 * max_msg_size <= 16 and the slot is one line) is one line for the
 * consumer.  The tail holds what a receive needs only when asked (the
 * message info), for a named producer (IPCQ_SLOT_F_STREAM in the head's
 * flags) or on a queue whose messages expire: its line is written by the
 * producer and, in the steady state of a consumer that does not ask,
 * read by nobody else.
 */
struct ipcq_shm_slot {
	/*
	 * Sequence word (Vyukov): == pos when free for the producer of pos,
	 * == pos + 1 when the message of pos is published, == pos + capacity
	 * when released for the producer of the next lap (positions taken
	 * modulo 2^44, see IPCQ_SEQ_POS); the owner tag says who holds a
	 * claimed message when recovery handed it to an adopter.
	 */
	uint64_t seq;
	uint32_t len;        /* payload bytes */
	uint16_t producer;   /* participant index */
	uint8_t deliveries;  /* deliveries so far, saturating at 255 */
	uint8_t flags;       /* IPCQ_MSG_REPLAYED, IPCQ_SLOT_F_* */
};

/* The tail of a slot (its last 32 bytes, see above). */
struct ipcq_shm_slot_tail {
	uint64_t pseq;       /* producer sequence */
	uint64_t enqueue_ns; /* CLOCK_MONOTONIC_COARSE */
	uint32_t stream;     /* dedup index + 1 of a named producer, 0 none */
	uint32_t stream_gen; /* the name's incarnation (dedup entry's gen) */
	uint64_t deadline_ns; /* CLOCK_MONOTONIC time it expires at, 0 never;
			       * written only on a queue with IPCQ_CF_EXPIRY */
};

#define IPCQ_SLOT_HDR ((uint32_t)sizeof(struct ipcq_shm_slot))
#define IPCQ_SLOT_TAIL ((uint32_t)sizeof(struct ipcq_shm_slot_tail))

/*
 * Sequence word bits.
 *   bits 0-43   position modulo 2^44.  The cursors are full 64-bit
 *               positions; a slot word is only ever compared with a
 *               position within a lap of it, and every CAS on it is from
 *               a value read moments before, so 2^44 (17,592 billion
 *               messages) is never wrapped in between.
 *   bits 44-56  owner: 0 while the message belongs to whoever claimed its
 *               position with the cursor CAS (or nobody yet); i + 1 once
 *               participant entry i adopted it from a dead owner.  One
 *               owner per slot, recorded at the slot.
 *   bits 57-62  adoptions of this message (wrapping), so that each
 *               adoption writes a new value.
 *   bit 63      a skip: published by recovery in place of a dead
 *               producer's message; consumers pass it.
 */
#define IPCQ_SEQ_POS ((1ull << 44) - 1)
#define IPCQ_SEQ_OWNER_SHIFT 44
#define IPCQ_SEQ_OWNER (0x1fffull << IPCQ_SEQ_OWNER_SHIFT)
#define IPCQ_SEQ_ADOPT_SHIFT 57
#define IPCQ_SEQ_ADOPT (0x3full << IPCQ_SEQ_ADOPT_SHIFT)
#define IPCQ_SEQ_SKIP (1ull << 63)
_Static_assert(IPCQ_PARTICIPANTS_MAX + 1 <= 0x1fff, "owner index + 1 fits 13 bits");

/* The position bits of the slot word that stands for position pos. */
static inline uint64_t ipcq__seq_pos(uint64_t pos)
{
	return pos & IPCQ_SEQ_POS;
}

/* Signed distance from position pos to the position in slot word seq,
 * modulo 2^44. */
static inline int64_t ipcq__seq_dif(uint64_t seq, uint64_t pos)
{
	return (int64_t)(((seq - pos) & IPCQ_SEQ_POS) << 20) >> 20;
}

/* The owner field of a slot word: 0 the claimer, i + 1 entry i. */
static inline uint32_t ipcq__seq_owner(uint64_t seq)
{
	return (uint32_t)((seq & IPCQ_SEQ_OWNER) >> IPCQ_SEQ_OWNER_SHIFT);
}

/* The adoption count of a slot word (a group's count of its dead). */
#define IPCQ_SEQ_ADOPT_MAX 63u

/* The word of a message adopted by entry idx from the word w: its
 * adoption count goes 1, 2, ... 63, then 1 again, never back to 0 (the
 * claimer's), so that each adoption writes a word unlike the last (T1),
 * and an adopted message always reads as one (ipcq__adopted_raise()). */
static inline uint64_t ipcq__seq_adopted(uint64_t w, uint32_t idx)
{
	uint64_t c = (w & IPCQ_SEQ_ADOPT) >> IPCQ_SEQ_ADOPT_SHIFT;
	uint64_t n = (c >= IPCQ_SEQ_ADOPT_MAX ? 1u : c + 1) << IPCQ_SEQ_ADOPT_SHIFT;
	return (w & (IPCQ_SEQ_POS | IPCQ_SEQ_SKIP)) | n |
	       ((uint64_t)(idx + 1) << IPCQ_SEQ_OWNER_SHIFT);
}

/* Slot flag: the message was delivered before (kept apart from the
 * saturating count). */
#define IPCQ_SLOT_F_REDELIVERED 0x80u
/* Slot flag: the tail's stream is set (a named producer's message). */
#define IPCQ_SLOT_F_STREAM 0x40u
/* A queue with groups: the message is for one group only (a replay from
 * the side ring), the group index + 1 in the tail's stream_gen. */
#define IPCQ_SLOT_F_TARGET 0x20u
/* IPCQ_CF_KEYED: the message has a key (the slot's key word). */
#define IPCQ_SLOT_F_KEYED 0x10u
/* Lease flags (beside IPCQ_MSG_REPLAYED and IPCQ_SLOT_F_REDELIVERED): the
 * message has a key (lease.key), and the entry is parked: given back by
 * the key gate before its first delivery (lease.c, "Per-key order"). */
#define IPCQ_LEASE_F_KEYED 0x10u
#define IPCQ_LEASE_F_PARKED 0x08u

/* A delivery count raised by one, saturating at 255. */
static inline uint8_t ipcq__deliveries_inc(uint8_t d)
{
	return d == 255 ? d : (uint8_t)(d + 1);
}

/*
 * State words of lease and side-ring entries:
 *   bits 40-63 generation (bumped each time the entry becomes free)
 *   bits 24-39 owner's participant generation, low 16 bits
 *   bits 8-23  owner participant index
 *   bits 0-7   state
 * The owner's generation tells a dead holder of participant entry i from
 * the live process that attached to entry i after it: recovery takes over
 * only entries whose owner tag (bits 8-39) names a dead incarnation.
 */
enum {
	IPCQ_ENT_FREE = 0,
	IPCQ_ENT_RESERVED = 1,   /* lease: taken, message being copied in */
	IPCQ_ENT_OWNED = 2,      /* lease: held by owner, unacknowledged */
	IPCQ_ENT_REDELIVER = 3,  /* lease: waiting for any consumer */
	IPCQ_ENT_WRITING = 4,    /* side: being written by owner */
	IPCQ_ENT_FULL = 5,       /* side: holds a poison message */
	IPCQ_ENT_TAKING = 6,     /* side: being replayed by owner */
};
#define IPCQ_ENT_GEN_MASK 0xffffffu
#define IPCQ_ENT(gen, owner, st)                                                     \
	(((uint64_t)((gen) & IPCQ_ENT_GEN_MASK) << 40) | ((uint64_t)(owner) << 8) | (st))
#define IPCQ_ENT_GEN(w) ((uint32_t)((w) >> 40))
#define IPCQ_ENT_OWNER(w) ((uint32_t)(((w) >> 8) & 0xffff))
#define IPCQ_ENT_TAG(w) ((uint32_t)(((w) >> 8) & 0xffffffff))
#define IPCQ_TAG(index, pgen) ((uint32_t)(index) | (((uint32_t)(pgen) & 0xffff) << 16))
#define IPCQ_TAG_PGEN(tag) ((uint32_t)(tag) >> 16)
/* The state word that frees an entry whose word is w: next generation. */
#define IPCQ_ENT_FREED(w) IPCQ_ENT(IPCQ_ENT_GEN(w) + 1, 0, IPCQ_ENT_FREE)
#define IPCQ_ENT_STATE(w) ((uint32_t)((w) & 0xff))

/* The message header shared by lease and side-ring entries. */
struct ipcq_shm_lease {
	uint64_t state;       /* IPCQ_ENT(...) */
	uint64_t src_pos;     /* ring position the message was received from */
	uint64_t pseq;
	uint64_t enqueue_ns;
	uint32_t len;
	uint16_t producer;
	uint8_t deliveries;   /* deliveries so far, this one included; saturating */
	uint8_t flags;        /* IPCQ_MSG_* the next delivery carries, and
			       * IPCQ_SLOT_F_REDELIVERED once delivered */
	uint32_t move_side;   /* side entry + 1 being written from here, 0 none */
	uint32_t move_gen;
	uint64_t reserved_t;   /* zero */
	uint32_t last_consumer; /* participant index of the last holder */
	uint32_t stream;
	/* line 2: not delivered again before this CLOCK_MONOTONIC time (a
	 * retry delay); 0: due at once.  Written by the holder before it
	 * gives the entry back (L4), cleared by the next taker (L6). */
	uint64_t not_before_ns;
	uint64_t deadline_ns;   /* the message's expiry (the slot tail's), 0 never */
	/* a queue with groups: the group it was received in (index + 1) and
	 * that group's generation; only that group's consumers take it */
	uint32_t group;
	uint32_t group_gen;
	/* IPCQ_CF_KEYED: the message's key (IPCQ_LEASE_F_KEYED), stored by
	 * the filler before L1 */
	uint64_t key;
	/* a queue with priorities: the lane src_pos is a position of, stored
	 * by the filler before L1 */
	uint32_t lane;
	uint32_t reserved_l32;
	uint64_t reserved_l[3];
};

struct ipcq_shm_side {
	uint64_t state;       /* IPCQ_ENT(...) */
	uint64_t id;
	uint64_t pseq;
	uint64_t first_ns;
	uint64_t last_ns;
	uint32_t len;
	uint16_t producer;
	uint8_t deliveries;
	uint8_t reason;
	uint32_t last_consumer;
	uint32_t last_consumer_pid;
	uint32_t stream;
	uint32_t flags;       /* IPCQ_SIDE_F_* */
};

/* The group of a side-ring entry (index + 1, 0 none) sits in the high
 * byte of its flags: the header is full. */
#define IPCQ_SIDE_F_GROUP_SHIFT 24
#define IPCQ_SIDE_GROUP(f) ((uint32_t)(f) >> IPCQ_SIDE_F_GROUP_SHIFT)
/* That group's incarnation when the entry was written, bits 8-15:
 * 0x80 | (gen & 0x7f), or 0 where unknown, so that a group removed and
 * made again at the same index is not taken for the one the message was
 * taken from (ipcq__side_ggen()). */
#define IPCQ_SIDE_F_GGEN_SHIFT 8
#define IPCQ_SIDE_GGEN(f) (((uint32_t)(f) >> IPCQ_SIDE_F_GGEN_SHIFT) & 0xffu)
static inline uint32_t ipcq__side_ggen(uint32_t gen)
{
	return 0x80u | (gen & 0x7fu);
}
/* The priority lane it came from sits in bits 16-23 (replayed there). */
#define IPCQ_SIDE_F_LANE_SHIFT 16
#define IPCQ_SIDE_LANE(f) (((uint32_t)(f) >> IPCQ_SIDE_F_LANE_SHIFT) & 0xffu)

/* A replay of this entry was cut short by its replayer's death: the
 * message may have been delivered once already. */
#define IPCQ_SIDE_F_REPLAY_CUT 0x1u
/* The payload was longer than max_msg_size and is kept cut to it
 * (ipcq_poison_put(), IPCQ_REASON_TOO_LARGE): never replayed. */
#define IPCQ_SIDE_F_TRUNCATED 0x2u

/*
 * A producer name.  The state word says who last held it: IPCQ_ENT(holder's
 * participant generation, holder index, IPCQ_ENT_OWNED), or FREE.  Changed
 * only under the dedup table lock (an OFD lock on the table's first byte).
 * The holder is alive exactly while some descriptor holds the OFD lock on
 * the entry's byte IPCQ_DEDUP_LOCK_OFF (the holder's lock descriptor).
 */
#define IPCQ_DEDUP_LOCK_OFF 8
#define IPCQ_SEQ_MAX ((1ull << 56) - 1)
#define IPCQ_CM(gen, seq) (((uint64_t)((gen) & 0xff) << 56) | (seq))
struct ipcq_shm_dedup {
	uint64_t state;
	char name[48];
	/* last sequence accepted: written by the holder after each publish */
	uint64_t last;
	uint64_t duplicates;   /* written by the holder */
	uint64_t takeovers;    /* written under the table lock */
	/* incarnation: bumped (under the table lock) each time the entry is
	 * given a new name, so that messages of a retired name that share
	 * the index are never counted for the new one */
	uint32_t gen;
	uint32_t pad0a;
	uint8_t pad0[IPCQ_LINE - 88];
	/* highest sequence a consumer has claimed, in the low 56 bits, and
	 * the incarnation it belongs to (gen & 0xff) in the top 8: CAS-max by
	 * consumers, before they release the slot.  One word, so that a
	 * consumer late with a message of a retired name cannot raise the
	 * mark of the name given anew (its CAS fails on the top byte). */
	uint64_t consumed_max;
	uint8_t pad1[IPCQ_LINE - 8];
};
_Static_assert(sizeof(struct ipcq_shm_dedup) == 2 * IPCQ_LINE, "dedup entry is two lines");

#define IPCQ_LEASE_HDR ((uint32_t)sizeof(struct ipcq_shm_lease))
#define IPCQ_SIDE_HDR ((uint32_t)sizeof(struct ipcq_shm_side))

_Static_assert(sizeof(struct ipcq_shm_header) <= IPCQ_HEADER_SIZE, "header fits its page");
_Static_assert(sizeof(struct ipcq_shm_lane) == 2 * IPCQ_LINE, "a lane's cursors: a line each");
_Static_assert(IPCQ_PRIORITIES_MAX <= 255, "a lane fits the op word's bits 8-15");
_Static_assert(offsetof(struct ipcq_shm_control, deq) - offsetof(struct ipcq_shm_control, enq) == IPCQ_LINE,
	       "cursors 128 bytes apart");
_Static_assert(offsetof(struct ipcq_shm_control, data_waiters) % IPCQ_LINE == 0, "data wait line");
_Static_assert(offsetof(struct ipcq_shm_control, space_waiters) % IPCQ_LINE == 0, "space wait line");
_Static_assert(sizeof(struct ipcq_shm_control) % IPCQ_LINE == 0, "control block is whole lines");
_Static_assert(offsetof(struct ipcq_shm_participant, ctr) == IPCQ_LINE, "counters on their own line");
_Static_assert(sizeof(struct ipcq_shm_participant) % IPCQ_LINE == 0, "participants are whole lines");
_Static_assert(offsetof(struct ipcq_shm_participant, app) == 3 * IPCQ_LINE &&
		       offsetof(struct ipcq_shm_participant, app_name) == 4 * IPCQ_LINE &&
		       sizeof(((struct ipcq_shm_participant *)0)->app_name) == IPCQ_LINE,
	       "application counters on their own line, their names on the next");
_Static_assert(offsetof(struct ipcq_shm_control, floor) % IPCQ_LINE == 0, "floor line");
_Static_assert(offsetof(struct ipcq_shm_control, key_done) % IPCQ_LINE == 0, "key line");
_Static_assert(sizeof(struct ipcq_shm_slot) == 16, "slot head is 16 bytes: 48 payload bytes share its line");
_Static_assert(sizeof(struct ipcq_shm_slot_tail) == 32, "slot tail is 32 bytes");
_Static_assert(offsetof(struct ipcq_shm_control, pressure) % IPCQ_LINE == 0, "pressure line");
_Static_assert(sizeof(struct ipcq_shm_lease) == 128, "lease header is two 64-byte lines");
_Static_assert(sizeof(struct ipcq_shm_side) == 64, "side header is one 64-byte line");
_Static_assert(offsetof(struct ipcq_shm_control, redeliverable) % IPCQ_LINE == 0, "redelivery line");
_Static_assert(offsetof(struct ipcq_shm_control, qctr) % IPCQ_LINE == 0, "queue counters line");
_Static_assert(IPCQ_PARTICIPANTS_MAX <= 65535, "producer index fits 16 bits");

/* ---- consumer groups ---------------------------------------------------- */

enum {
	IPCQ_GRP_FREE = 0,
	IPCQ_GRP_DURABLE = 1, /* holds space: counted in the floor */
	IPCQ_GRP_LOSSY = 2,   /* holds none */
	IPCQ_GRP_CREATING = 3, /* being made; not counted, not joinable */
};

/*
 * A consumer group.  Line 0 is written only under the group table lock (an
 * OFD lock on the entry's first byte of group 0) by whoever creates or
 * removes the group; state last (store-release), so that a reader that
 * sees a state sees the fields it describes.
 */
struct ipcq_shm_group {
	uint32_t state;       /* IPCQ_GRP_* */
	uint32_t gen;         /* raised at each creation of this entry */
	uint32_t flags;       /* IPCQ_GROUP_* asked for */
	uint32_t ready;       /* 1 once its creation finished (store-release,
			       * after G4); a group found not ready under the
			       * lock is a dead creator's, and is freed */
	uint64_t start;       /* the position it started at */
	uint64_t created_ns;  /* CLOCK_REALTIME */
	char name[IPCQ_GROUP_NAME_MAX + 1];
	uint8_t pad0[IPCQ_LINE - 64];
	/* Next position a member claims.  Written by members (CAS). */
	uint64_t deq;
	uint8_t pad1[IPCQ_LINE - 8];
	/* Durable: every position below it is released by the group (its
	 * word says so).  Moved forward by CAS, by a scan of the words
	 * (ipcq__group_advance_tail()): by a member every IPCQ__TAIL_EVERY
	 * positions, by a producer that finds the ring full. */
	uint64_t tail;
	uint8_t pad2[IPCQ_LINE - 8];
	/* Lossy: messages missed (atomic add by members).  Rare. */
	uint64_t dropped;
	uint8_t pad3[IPCQ_LINE - 8];
};

_Static_assert(sizeof(struct ipcq_shm_group) == 4 * IPCQ_LINE &&
		       offsetof(struct ipcq_shm_group, deq) == IPCQ_LINE &&
		       offsetof(struct ipcq_shm_group, tail) == 2 * IPCQ_LINE,
	       "a group's cursor and tail on lines of their own");

/* The floor word: a position (modulo 2^44, as the slot word's) and a
 * generation. */
#define IPCQ_FW(pos, gen) (((pos) & IPCQ_SEQ_POS) | ((uint64_t)(gen) << 44))
#define IPCQ_FW_GEN(w) ((uint32_t)((w) >> 44))

/* ---- the private handle -------------------------------------------------- */

struct ipcq_map; /* a mapping shared by the handles of one process */

struct ipcq {
	int fd;       /* the segment, O_RDWR (or O_RDONLY for monitors) */
	int lock_fd;  /* own open file description holding the OFD lock, -1 if none */
	int readonly;
	struct ipcq_map *map;
	uint8_t *base;
	uint64_t size;
	struct ipcq_shm_header *hdr;
	struct ipcq_shm_control *ctl;
	struct ipcq_shm_participant *parts;
	uint8_t *ring;
	uint8_t *leases;
	uint8_t *side;
	uint8_t *dedup_tab;
	/* copies of validated header fields: never re-read from shared memory */
	uint64_t mask;
	uint32_t capacity;
	uint32_t slot_size;
	uint32_t max_msg_size;
	uint32_t max_participants;
	uint32_t lease_capacity;
	uint32_t lease_size;
	uint32_t side_capacity;
	uint32_t side_size;
	uint32_t max_deliveries;
	uint32_t dedup_capacity;
	uint32_t high_watermark;
	uint32_t low_watermark;
	int32_t numa_node;
	uint64_t grace_ns;
	uint64_t retry_base_ns;  /* retry backoff (header, bounded at open) */
	uint64_t retry_max_ns;
	uint32_t retry_factor;
	uint64_t due_local;      /* the earliest not-before time this handle saw
				  * among delayed leases (UINT64_MAX: none) */
	uint64_t seen_gen;       /* control.delayed_gen at that scan */
	uint32_t empty_polls;    /* IPCQ_NOWAIT receives that found nothing
				  * (every 16th looks for recovery: recv.c) */
	uint32_t look_pool;      /* ack mode: look at the lease pool at the next
				  * receive whatever the hints say (set once per
				  * grace period of waiting) */
	uint32_t expiry;         /* IPCQ_CF_EXPIRY: messages carry a deadline */
	uint32_t take_odd;       /* expiry or groups: a claimed message may be
				  * one to pass (ipcq__slot_expired()) */
	uint32_t expire_side;    /* IPCQ_CF_EXPIRED_TO_SIDE */
	uint32_t recv_odd;       /* expire_side, lossy, keyed or lanes: receives take the
				  * slow road (one test on the hot path) */
	uint64_t ttl_ns;         /* the queue's time to live, 0 none */
	uint64_t send_ttl_ns;    /* of the send in progress (ipcq_send_ex()) */
	uint32_t keyed;          /* IPCQ_CF_KEYED: slots carry a key word */
	uint32_t send_keyed;     /* the send in progress has a key: */
	uint64_t send_key;
	/* attachment */
	int32_t index;  /* participant entry, -1 when not attached */
	unsigned roles;
	struct ipcq_shm_participant *me;
	uint32_t wait_strategy;
	uint32_t spin_count;
	uint32_t yield_count;
	struct {
		uint32_t strategy, spin, yield;
	} default_wait;         /* the queue's, from the validated header */
	uint64_t next_pseq;     /* producer sequence of the next message */
	int ack;                /* ack-mode consumer */
	uint32_t prefetch;
	uint32_t in_flight;     /* leases held */
	uint32_t lease_hint;    /* where to look for a free lease first */
	int64_t adopted;        /* position adopted from a dead consumer, not yet delivered; -1 none */
	uint64_t adopted_seq;   /* its slot word since our adoption CAS */
	uint64_t last_recovery_ns[2]; /* [0] sending side, [1] receiving side */
	uint32_t full_policy;
	int32_t dedup;          /* dedup-table index of our name, -1 none */
	uint32_t dedup_gen;     /* its incarnation */
	uint64_t last_seq;      /* last sequence accepted under our name */
	uint64_t cached_deq;    /* producer's stale view of deq (watermarks) */
	uint64_t cached_enq;    /* consumer's stale view of enq (watermarks) */
	/* zero copy: the open reservation and the peeked run */
	uint64_t zc_send_pos;
	uint32_t zc_send_n;     /* 0: no reservation open */
	uint32_t zc_recv_n;     /* 0: nothing peeked */
	uint64_t zc_recv_pos;
	uint32_t zc_recv_waiters;
	int zc_recv_ack;        /* the peek was an ack-mode lease */
	/* late release (IPCQ_ATTACH_LATE_RELEASE): the run the last receive
	 * returned, claimed by C1 and still covered by our record */
	uint32_t late;          /* the handle releases late */
	uint32_t held_n;        /* 0: nothing held */
	uint64_t held_pos;
	uint64_t zc_recv_seq;   /* the adopted slot word of a peeked adopted
				 * message; 0: the run was claimed by C1 */
	/* groups (max_groups > 0) */
	uint32_t max_groups;
	struct ipcq_shm_group *groups;
	uint64_t *gwords;       /* group g's word of slot s: gwords[g * capacity + s] */
	uint64_t *deqp;         /* the cursor a consumer claims by: control.deq,
				 * or its group's */
	uint64_t *gw;           /* a consumer's group words (durable); NULL:
				 * the classic protocol, or a lossy group */
	int32_t group;          /* the consumer's group index, -1 none */
	uint32_t group_gen;
	int lossy;              /* the consumer's group is lossy */
	uint64_t room_end;      /* producer, groups: positions below it were
				 * seen free of every durable group */
	uint64_t gap;           /* lossy: missed before the next delivery */
	/* priority lanes (lanes > 1; see ipcq__lane_use()).  The ring view
	 * above (ring, enqp, ldeq, deqp, op_enq, op_deq) is of the current
	 * lane, lane 0 between calls; a call that works on another lane
	 * selects it and selects lane 0 again before it returns. */
	uint32_t lanes;         /* 1: a queue without priorities */
	uint32_t priority_share; /* the header's, bounded at open */
	uint32_t lane;          /* the current lane */
	uint8_t *ring0;         /* lane 0's first slot */
	struct ipcq_shm_lane *lane_ctl; /* lanes 1..: lane_ctl[l - 1] */
	uint64_t *enqp;         /* the current lane's enq (control.enq for 0) */
	uint64_t *ldeq;         /* the current lane's deq (control.deq for 0) */
	uint32_t op_enq;        /* IPCQ_OP_ENQUEUE and IPCQ_OP_DEQUEUE with the */
	uint32_t op_deq;        /* current lane (IPCQ_OP_LANE_SHIFT) */
	uint32_t sole;          /* IPCQ__SOLE_*: claims by store (IPCQ_ATTACH_SOLE) */
	uint32_t seats;         /* IPCQ__SEAT_*: the seats the handle holds */
	uint32_t guard_every;   /* starvation guard: one receive in guard_every
				 * (0: strict priority) */
	uint32_t guard_tick;    /* receives since the last guard turn */
	uint32_t guard_lane;    /* the guard turn's next start lane */
	uint32_t adopted_lane;  /* the lane of adopted */
	uint64_t drop_pos;      /* drop-oldest: the one position it may adopt to drop */
	uint32_t drop_lane;     /* (on this lane) */
	uint32_t zc_send_lane;  /* the lane of the open reservation */
	uint32_t zc_recv_lane;  /* the lane of the peeked run */
	struct ipcq *next_attached; /* list of attached handles (fork handling) */
	char name[IPCQ_NAME_MAX + 1];
};

/* Set recv_odd from what sends receives down the slow road: expiry to
 * the side ring, a lossy group, keys, priority lanes (at open, group join
 * and leave). */
static inline void ipcq__recv_odd_set(struct ipcq *q)
{
	q->recv_odd = q->expire_side || q->lossy || q->keyed || q->lanes > 1;
}

/* The cursors of lane l (l < q->lanes): lane 0's are control.enq and
 * control.deq, lane l's are lane_ctl[l - 1]'s. */
static inline uint64_t *ipcq__lane_enq(const struct ipcq *q, uint32_t l)
{
	return l ? &q->lane_ctl[l - 1].enq : &q->ctl->enq;
}

static inline uint64_t *ipcq__lane_deq(const struct ipcq *q, uint32_t l)
{
	return l ? &q->lane_ctl[l - 1].deq : &q->ctl->deq;
}

/* Make lane l the handle's current lane: its slots, cursors and the op
 * codes of its work records.  l < q->lanes (the callers' bound). */
static inline void ipcq__lane_set(struct ipcq *q, uint32_t l)
{
	q->lane = l;
	q->ring = q->ring0 + (uint64_t)l * q->capacity * q->slot_size;
	q->enqp = ipcq__lane_enq(q, l);
	q->ldeq = ipcq__lane_deq(q, l);
	if (!q->groups)
		q->deqp = q->ldeq;
	q->op_enq = (uint32_t)IPCQ_OP_ENQUEUE | l << IPCQ_OP_LANE_SHIFT;
	q->op_deq = (uint32_t)IPCQ_OP_DEQUEUE | l << IPCQ_OP_LANE_SHIFT;
}

/* ipcq__lane_set() when l is not the current lane already.  On a queue
 * without lanes the view is never written after the handle is bound, so
 * a sender and a receiver thread sharing the handle never race on it.
 * (On a queue with lanes they may not share it: ipcq.h.) */
static inline void ipcq__lane_use(struct ipcq *q, uint32_t l)
{
	if (l != q->lane)
		ipcq__lane_set(q, l);
}

/* A look, not a promise: has lane l a position claimed by a producer and
 * not yet by a consumer?  Lets a receive pass an empty lane without a
 * claim attempt.  relaxed: a stale "empty" only makes the caller look
 * again later, and a consumer about to sleep checks every lane in the
 * total order of the claims (ipcq__lanes_empty(), W3 in wait.c). */
static inline int ipcq__lane_busy(const struct ipcq *q, uint32_t l)
{
	return ipcq__load_relaxed(ipcq__lane_enq(q, l)) != ipcq__load_relaxed(ipcq__lane_deq(q, l));
}

/*
 * Copy a payload between a slot and a caller's buffer (the two never
 * overlap).  Up to 64 bytes it is done inline, by fixed-size moves that
 * may overlap each other inside [0, len) and never reach past it: the
 * compiler makes them plain loads and stores, where a call of memcpy()
 * costs the call and the registers saved around it, on both sides of a
 * round trip.  Longer payloads go to memcpy().
 */
static IPCQ_INLINE void ipcq__copy(void *dst, const void *src, size_t len)
{
	uint8_t *d = dst;
	const uint8_t *s = src;

	if (IPCQ_UNLIKELY(len > 64)) {
		memcpy(d, s, len);
	} else if (len >= 16) {
		memcpy(d, s, 16);
		memcpy(d + len - 16, s + len - 16, 16);
		if (len > 32) {
			memcpy(d + 16, s + 16, 16);
			memcpy(d + len - 32, s + len - 32, 16);
		}
	} else if (len >= 8) {
		memcpy(d, s, 8);
		memcpy(d + len - 8, s + len - 8, 8);
	} else if (len >= 4) {
		memcpy(d, s, 4);
		memcpy(d + len - 4, s + len - 4, 4);
	} else if (len) {
		d[0] = s[0];
		d[len / 2] = s[len / 2];
		d[len - 1] = s[len - 1];
	}
}

static inline struct ipcq_shm_slot *ipcq__slot(const struct ipcq *q, uint64_t pos)
{
	return (struct ipcq_shm_slot *)(q->ring + (pos & q->mask) * q->slot_size);
}

/* The tail of slot s (slot_size was checked against max_msg_size when the
 * segment was opened). */
static inline struct ipcq_shm_slot_tail *ipcq__slot_tail(const struct ipcq *q,
							 const struct ipcq_shm_slot *s)
{
	return (struct ipcq_shm_slot_tail *)((uint8_t *)(uintptr_t)s + q->slot_size - IPCQ_SLOT_TAIL);
}

/* The key word of slot s on a queue with IPCQ_CF_KEYED: the 8 bytes before
 * the tail (layout_compute() makes room for them). */
static inline uint64_t *ipcq__slot_key(const struct ipcq *q, const struct ipcq_shm_slot *s)
{
	return (uint64_t *)((uint8_t *)(uintptr_t)s + q->slot_size - IPCQ_SLOT_TAIL - 8);
}

static inline struct ipcq_shm_lease *ipcq__lease(const struct ipcq *q, uint32_t i)
{
	return (struct ipcq_shm_lease *)(q->leases + (uint64_t)i * q->lease_size);
}

static inline struct ipcq_shm_dedup *ipcq__dedup(const struct ipcq *q, uint32_t i)
{
	return (struct ipcq_shm_dedup *)(q->dedup_tab + (uint64_t)i * sizeof(struct ipcq_shm_dedup));
}

static inline struct ipcq_shm_side *ipcq__side(const struct ipcq *q, uint32_t i)
{
	return (struct ipcq_shm_side *)(q->side + (uint64_t)i * q->side_size);
}

/* This handle's owner tag for lease and side-ring state words. */
static inline uint32_t ipcq__tag(const struct ipcq *q)
{
	/* relaxed: our own entry's generation, changed only by us at attach */
	return IPCQ_TAG(q->index, ipcq__load_relaxed(&q->me->generation));
}

static inline void ipcq__qcount(struct ipcq *q, unsigned ctr, uint64_t v)
{
	/* RMW: several recoverers may count at once; ordering irrelevant */
	ipcq__fetch_add(&q->ctl->qctr[ctr], v);
}

/* Counters: single writer, so a relaxed load-add-store is enough; the
 * relaxed atomic store only keeps concurrent readers from seeing a torn
 * value. */
static inline void ipcq__count(struct ipcq *q, unsigned ctr, uint64_t v)
{
	uint64_t *c = &q->me->ctr[ctr];
	/* relaxed: single writer (see above); readers want untorn values */
	ipcq__store_relaxed(c, ipcq__load_relaxed(c) + v);
}

/* Three neighbouring counters at once (messages, bytes, calls): one load
 * of the entry's address for the three, on the hot path. */
static inline void ipcq__count3(struct ipcq *q, unsigned first, uint64_t a, uint64_t b, uint64_t c)
{
	uint64_t *ctr = &q->me->ctr[first];
	/* relaxed: single writer (see ipcq__count()); untorn for readers */
	ipcq__store_relaxed(&ctr[0], ipcq__load_relaxed(&ctr[0]) + a);
	ipcq__store_relaxed(&ctr[1], ipcq__load_relaxed(&ctr[1]) + b);
	ipcq__store_relaxed(&ctr[2], ipcq__load_relaxed(&ctr[2]) + c);
}

/* Counters that both the sending and the receiving thread of one handle
 * may bump (waits, wakes, recovery): an atomic add, off the hot path. */
static inline void ipcq__count_shared(struct ipcq *q, unsigned ctr, uint64_t v)
{
	/* RMW: two threads of this handle; no ordering needed */
	ipcq__fetch_add(&q->me->ctr[ctr], v);
}

/* attach.c: is name[0..len) an application counter name ([a-z][a-z0-9_]*,
 * at most IPCQ_APP_COUNTER_NAME_MAX)? */
int ipcq__app_name_ok(const char *name, size_t len);

/* error.c: set this thread's ipcq_errdetail() text (printf-like; cut to
 * its fixed thread-local buffer, which a linked library never allocates:
 * see error.c).  ipcq__errdetail("%s", "") empties it. */
IPCQ_HIDDEN void ipcq__errdetail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The same, returning rc, for a refusal in one statement:
 * `return ipcq__refuse(-EINVAL, "flags 0x%x: ...", flags);` */
IPCQ_HIDDEN IPCQ_COLD int ipcq__refuse(int rc, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* segment.c */
IPCQ_HIDDEN uint32_t ipcq__format_signature(void);
IPCQ_HIDDEN int ipcq__check_name(const char *name);
/* A clock's time in ns.  ipcq__clock_ns() is the same, inline (through
 * the vDSO with no call of our own), for the two hot paths that read a
 * clock: a send's enqueue timestamp and the end of a wait, which a
 * receive that waited pays on its way out; elsewhere the call keeps the
 * callers' paths short. */
IPCQ_HIDDEN uint64_t ipcq__now_ns(int clock);
static inline uint64_t ipcq__clock_ns(int clock)
{
	struct timespec ts;
	clock_gettime(clock, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

IPCQ_HIDDEN int ipcq__open_segment(const char *name, int readonly, struct ipcq **out);
/* Unmap and free a handle (ipcq_close() once it is detached). */
IPCQ_HIDDEN void ipcq__handle_free(struct ipcq *q);

/* crash points (crashpoint.c): IPCQ_CRASHPOINT(name) raises SIGKILL when
 * IPCQ_CRASH=name[:n] is in the environment (at the n-th pass, default 1).
 * Compiled in only in debug builds (IPCQ_DEBUG). */
#if defined(IPCQ_DEBUG)
IPCQ_HIDDEN void ipcq__crashpoint(const char *name);
#define IPCQ_CRASHPOINT(name) ipcq__crashpoint(name)
#else
#define IPCQ_CRASHPOINT(name) ((void)0)
#endif

/* ring.c: declared in ring.h, the ring layer's interface */

/* ring.c, priority lanes: a receive's tries, lane by lane, in the order
 * of the lanes and the guard (and below, whether all are empty). */
#define IPCQ__LANES_ADOPTED 0x1u   /* the adopted message's lane first */
#define IPCQ__LANES_LOOK_LAST 0x2u /* the last lane tried even when empty */
IPCQ_HIDDEN int ipcq__lanes_try(struct ipcq *q, unsigned how,
				int (*try_lane)(struct ipcq *q, void *ctx), void *ctx, uint32_t *lane);

/* Is every lane empty (nothing claimed by producers beyond the consumers'
 * cursor)?  seq_cst loads: in the total order of the claim CASes, as the
 * re-check of a sleeping consumer (W3 in wait.c) needs.  Inline: wait.c
 * sits below the ring layer. */
static inline int ipcq__lanes_empty(const struct ipcq *q)
{
	for (uint32_t l = 0; l < q->lanes; l++) {
		/* seq_cst: W3, pairs with P1 of the lane's producers */
		if (ipcq__load_seq_cst(ipcq__lane_enq(q, l)) > ipcq__load_seq_cst(ipcq__lane_deq(q, l)))
			return 0;
	}
	return 1;
}

/* The slowest consumer position: control.deq, or on a queue with groups
 * the least cursor of the durable groups (enq when there is none).
 * seq_cst loads: wait.c and pressure.c use it in the total order of the
 * claim CASes. */
static inline uint64_t ipcq__slowest(const struct ipcq *q)
{
	if (!q->gwords)
		return ipcq__load_seq_cst(q->ldeq);
	uint64_t m = UINT64_MAX;
	for (uint32_t g = 0; g < q->max_groups; g++) {
		/* acquire: pairs with the creator's store-release of the state */
		if (ipcq__load_acquire(&q->groups[g].state) != IPCQ_GRP_DURABLE)
			continue;
		uint64_t d = ipcq__load_seq_cst(&q->groups[g].deq);
		if (d < m)
			m = d;
	}
	return m != UINT64_MAX ? m : ipcq__load_seq_cst(q->enqp);
}

/* group.c */
IPCQ_HIDDEN int ipcq__group_lock(struct ipcq *q);
IPCQ_HIDDEN void ipcq__group_unlock(struct ipcq *q);
/* The durable or lossy group of that name, or -ENOENT. */
IPCQ_HIDDEN int ipcq__group_find(const struct ipcq *q, const char *name);
/* Does group g exist (durable or lossy)? */
static inline int ipcq__group_exists(const struct ipcq *q, uint32_t g)
{
	/* acquire: pairs with the creator's store-release of the state */
	uint32_t st = g < q->max_groups ? ipcq__load_acquire(&q->groups[g].state) : 0;
	return st == IPCQ_GRP_DURABLE || st == IPCQ_GRP_LOSSY;
}

/* The durable group a record names (g1: index + 1, and the generation it
 * had then): its index; -1 on a queue without groups; IPCQ__NO_GROUP when
 * it names none, or a lossy group, or one removed (or made again) since.
 * g1 and gen come from shared memory: bounded here. */
#define IPCQ__NO_GROUP (-2)
static inline int32_t ipcq__durable_group(const struct ipcq *q, uint32_t g1, uint32_t gen)
{
	if (!q->gwords)
		return -1;
	if (g1 == 0 || g1 > q->max_groups)
		return IPCQ__NO_GROUP;
	/* acquire: pairs with the creator's store-release of the state */
	if (ipcq__load_acquire(&q->groups[g1 - 1].state) != IPCQ_GRP_DURABLE ||
	    /* relaxed: changed only with the state, under the table lock */
	    ipcq__load_relaxed(&q->groups[g1 - 1].gen) != gen)
		return IPCQ__NO_GROUP;
	return (int32_t)(g1 - 1);
}

/* lease.c: free the leases of removed group g (generation gen) that
 * nobody alive holds; returns how many. */
IPCQ_HIDDEN int ipcq__lease_drop_group(struct ipcq *q, uint32_t g, uint32_t gen);

/* A timeout argument of the public calls: >= 0 or IPCQ_FOREVER. */
static inline int ipcq__timeout_ok(int64_t t)
{
	return t >= 0 || t == IPCQ_FOREVER;
}

/* numa.c */
IPCQ_HIDDEN int ipcq__numa_resolve(int requested, int *node);
IPCQ_HIDDEN int ipcq__numa_bind(void *addr, size_t len, int node);

/* dedup.c */
/* Take the name for this handle (a new entry, or a takeover from a dead
 * holder).  settle: run before a takeover reads what the old holder got
 * accepted, to make its unpublished claims skips (the caller's recovery
 * pass). */
IPCQ_HIDDEN int ipcq__dedup_attach(struct ipcq *q, const char *name,
				   void (*settle)(struct ipcq *q));
IPCQ_HIDDEN void ipcq__dedup_consumed(struct ipcq *q, uint32_t stream, uint32_t gen, uint64_t seq);
/* Note a claimed message of a named producer as consumed; runs after the
 * claim (C1 or the adoption) and before the slot's release. */
static inline void ipcq__note_consumed(struct ipcq *q, const struct ipcq_shm_slot *s)
{
	/* relaxed: the slot is ours since the claim */
	if (IPCQ_UNLIKELY(ipcq__load_relaxed(&s->flags) & IPCQ_SLOT_F_STREAM)) {
		const struct ipcq_shm_slot_tail *t = ipcq__slot_tail(q, s);
		uint32_t stream = ipcq__load_relaxed(&t->stream);
		if (stream)
			ipcq__dedup_consumed(q, stream, ipcq__load_relaxed(&t->stream_gen),
					     ipcq__load_relaxed(&t->pseq));
	}
}
/* Release the slot this handle adopted, noting it consumed first. */
IPCQ_HIDDEN void ipcq__consume_adopted(struct ipcq *q);

/* pressure.c */
IPCQ_HIDDEN int ipcq__pressure_after_send(struct ipcq *q, uint64_t end);
IPCQ_HIDDEN void ipcq__pressure_after_recv(struct ipcq *q, uint64_t end);
IPCQ_HIDDEN void ipcq__pressure_clear(struct ipcq *q);
/* Off if the depth is under the low watermark (pressure.c, B10-B12). */
IPCQ_HIDDEN void ipcq__pressure_recheck(struct ipcq *q);

/* recovery.c */
/* ipcq__recover_scan()'s adopt: 0 none, 1 a consumer's (delivered again
 * by its next receive), IPCQ__ADOPT_TO_DROP a drop-oldest producer's, of
 * position q->drop_pos on lane q->drop_lane only (the oldest: any other
 * dead claim is left to the consumers, to be delivered again). */
#define IPCQ__ADOPT_TO_DROP 2
IPCQ_HIDDEN int ipcq__recover_scan(struct ipcq *q, struct ipcq_recovery *rep, int adopt,
				   int32_t also_dead);
IPCQ_HIDDEN int ipcq__entry_resolved(struct ipcq *q, uint32_t i);
/* Side entry j, FULL at the generation of w: 0 when no mover still holds
 * the source it moved from (dead movers settled first), 1 when one does. */
IPCQ_HIDDEN int ipcq__side_settle(struct ipcq *q, uint32_t j, uint64_t w);
struct ipcq__waiter;
/* Time for a recovery pass in a wait (side: 0 sending, 1 receiving)? */
IPCQ_HIDDEN int ipcq__recovery_due_now(struct ipcq *q, int side);

/* lease.c */
IPCQ_HIDDEN uint32_t ipcq__lease_fill(struct ipcq *q, uint32_t lease,
				      const struct ipcq_shm_slot *s, uint64_t pos, int adopted);
IPCQ_HIDDEN int ipcq__lease_recv(struct ipcq *q, void *buf, size_t cap,
				 struct ipcq_msginfo *info, uint64_t *need);
IPCQ_HIDDEN int ipcq__lease_recv_peek(struct ipcq *q, struct ipcq_zmsg *m);
/* Is a look at the lease pool worth it: an entry given back due at once,
 * or a delayed one whose time may have come (or one given back since our
 * last look, take_redeliverable() in lease.c)?  *wait_ns, when given and
 * the answer is no, gets how long until our earliest known due time. */
static inline int ipcq__lease_due(const struct ipcq *q, uint64_t *wait_ns)
{
	/* relaxed: hints; the entries' state words decide */
	uint32_t dl = ipcq__load_relaxed(&q->ctl->delayed);
	if (ipcq__load_relaxed(&q->ctl->redeliverable) > dl)
		return 1;
	/* relaxed: a hint, as above */
	if (!dl || ipcq__load_relaxed(&q->ctl->delayed_gen) != q->seen_gen)
		return dl != 0;
	uint64_t now = ipcq__now_ns(CLOCK_MONOTONIC);
	if (now >= q->due_local)
		return 1;
	if (wait_ns)
		*wait_ns = q->due_local - now;
	return 0;
}
IPCQ_HIDDEN int ipcq__lease_take_redeliverable(struct ipcq *q, void *buf, size_t cap,
					       struct ipcq_msginfo *info, uint64_t *need);
IPCQ_HIDDEN void ipcq__lease_release_all(struct ipcq *q);
/* A queue with IPCQ_CF_KEYED: a slot was released or a keyed lease freed;
 * wakes consumers when messages wait for their keys (lease.c, K4). */
IPCQ_HIDDEN void ipcq__lease_key_moved(struct ipcq *q);
/* dead[i]: 1 participant i looked dead to this pass, set to 2 once some
 * of its work was taken over (for the report's count); only a filter:
 * each action checks its owner again (ipcq__ent_owner_dead()).  also_dead:
 * the entry whose lock the caller holds for its dead holder, or -1. */
IPCQ_HIDDEN int ipcq__lease_recover(struct ipcq *q, uint8_t *dead, int32_t also_dead,
				    struct ipcq_recovery *rep);
/* Does a lease (OWNED or REDELIVER, any owner) hold the message of ring
 * position pos? */
IPCQ_HIDDEN int ipcq__lease_holds(const struct ipcq *q, uint64_t pos, int32_t g);

/* side.c */
struct ipcq__poison_src {
	const void *payload;
	uint32_t len;
	uint16_t producer;
	uint8_t deliveries;
	uint8_t reason;
	uint32_t stream;
	uint32_t last_consumer; /* participant index of the last consumer that had it */
	uint32_t flags;         /* IPCQ_SIDE_F_* the entry starts with */
	uint32_t group;         /* the group it was received in (index + 1), 0 none */
	uint32_t group_gen;     /* that group's incarnation then (its gen) */
	uint32_t lane;          /* the priority lane it came from */
	uint64_t pseq;
	uint64_t first_ns;
	uint32_t *move_side; /* the source's move record, written after the claim (S5):
			      * it names an entry the mover owns */
	uint32_t *move_gen;
};
IPCQ_HIDDEN int ipcq__side_insert(struct ipcq *q, const struct ipcq__poison_src *src);
IPCQ_HIDDEN int ipcq__side_moved(const struct ipcq *q, uint32_t move_side, uint32_t move_gen);
IPCQ_HIDDEN int ipcq__side_recover(struct ipcq *q, uint8_t *dead, int32_t also_dead,
				   struct ipcq_recovery *rep);
/* Entry j: 1 when FULL, with *p and its state word *w (S2), else 0. */
IPCQ_HIDDEN int ipcq__side_read(const struct ipcq *q, uint32_t j, struct ipcq_poison *p,
				uint64_t *w);
/* The FULL entry with id: its index, *p and its state word *w, or -ENOENT. */
IPCQ_HIDDEN int ipcq__side_find(const struct ipcq *q, uint64_t id, struct ipcq_poison *p,
				uint64_t *w);
/* Move the adopted slot at pos into the side ring: 0, or -ENOSPC. */
IPCQ_HIDDEN int ipcq__quarantine_slot(struct ipcq *q, uint64_t pos, unsigned reason);
IPCQ_HIDDEN void ipcq__expire_slot(struct ipcq *q, const struct ipcq_shm_slot *s);
IPCQ_HIDDEN void ipcq__expire_adopted(struct ipcq *q, uint64_t pos);
/* Is the message of slot s (ours) for another group (a replay from the
 * side ring of a queue with groups)?  Then it is passed. */
static inline int ipcq__slot_elsewhere(const struct ipcq *q, const struct ipcq_shm_slot *s)
{
	/* relaxed: the slot is ours (C1 or adoption); R1 published it; a
	 * skip never comes here, so the flags are this lap's */
	return q->gwords && (ipcq__load_relaxed(&s->flags) & IPCQ_SLOT_F_TARGET) &&
	       ipcq__load_relaxed(&ipcq__slot_tail(q, s)->stream_gen) != (uint32_t)q->group + 1;
}

/* Is the message of slot s (ours) not to be delivered: expired, or for
 * another group (ipcq__slot_elsewhere())?  Only on a queue with
 * IPCQ_CF_EXPIRY or groups; reads the tail's deadline and, when one is
 * set, the clock.  The callers pass such a message: ipcq__expire_slot()
 * and ipcq__expire_adopted() tell the two apart. */
static inline int ipcq__slot_expired(const struct ipcq *q, const struct ipcq_shm_slot *s)
{
	if (!q->take_odd)
		return 0;
	if (ipcq__slot_elsewhere(q, s))
		return 1;
	if (!q->expiry)
		return 0;
	/* relaxed: the slot is ours (C1 or adoption); R1 published it */
	uint64_t d = ipcq__load_relaxed(&ipcq__slot_tail(q, s)->deadline_ns);
	return d && ipcq__now_ns(CLOCK_MONOTONIC) >= d;
}

/* registry.c */
IPCQ_HIDDEN int ipcq__participant_alive(const struct ipcq *q, uint32_t i);
/* Is participant i's holder dead now?  also_dead: the entry whose lock
 * the caller holds for its dead holder (dead), or -1. */
IPCQ_HIDDEN int ipcq__dead_now(const struct ipcq *q, uint32_t i, int32_t also_dead);
/* Is the lease or side entry with state word w owned by a dead
 * incarnation?  dead[]: what a recovery pass saw, only a filter; the
 * answer is the owner's lock and generation's, decided now. */
IPCQ_HIDDEN int ipcq__ent_owner_dead(const struct ipcq *q, uint64_t w, const uint8_t *dead,
				     int32_t also_dead);
/* One-byte OFD locks: take (type F_WRLCK, or F_RDLCK shared; -EBUSY when another
 * description holds it; wait: block until free) or drop (F_UNLCK); and
 * whether another description holds one (1, 0, -errno). */
IPCQ_HIDDEN int ipcq__ofd_lock(int fd, off_t off, short type, int wait);
IPCQ_HIDDEN int ipcq__ofd_held(int fd, off_t off);
/* The offset of participant i's liveness byte in the segment. */
static inline off_t ipcq__lock_off(const struct ipcq *q, uint32_t i)
{
	return (off_t)((const uint8_t *)&q->parts[i] - q->base);
}

/* Seats (IPCQ_ATTACH_SOLE): the byte after a cursor, locked by every
 * handle that may write that cursor, shared (F_RDLCK) by those that claim
 * by CAS, exclusive (F_WRLCK) by the sole one that claims by store. */
enum {
	IPCQ__SEAT_ENQ = 1u,    /* the producers' seat (control.enq's byte) */
	IPCQ__SEAT_DEQ = 2u,    /* the consumers' seat (control.deq's byte) */
};
enum {
	IPCQ__SOLE_ENQ = 1u,    /* P1 is a store: the handle is the sole producer */
	IPCQ__SOLE_DEQ = 2u,    /* C1 is a store: the sole consumer */
};
static inline off_t ipcq__seat_off(const struct ipcq *q, unsigned seat)
{
	const uint64_t *c = seat == IPCQ__SEAT_ENQ ? &q->ctl->enq : &q->ctl->deq;
	return (off_t)((const uint8_t *)(c + 1) - q->base);
}

/* attach.c: ipcq_attach(), with the recovery it does added to @rep;
 * seated 0: a management call's participant, which takes no seat */
IPCQ_HIDDEN int ipcq__attach(struct ipcq *q, unsigned roles, const struct ipcq_attach_opts *opts,
			     struct ipcq_recovery *rep, int seated);

/* wait.c */
struct ipcq__waiter {
	uint64_t deadline_ns; /* CLOCK_MONOTONIC; 0: none (yet) */
	int64_t timeout_ns;
	uint64_t started_ns;  /* CLOCK_MONOTONIC at the first look; 0 before */
	uint64_t coarse_ns;   /* CLOCK_MONOTONIC_COARSE before the first pause,
			       * for a short wait; 0 before */
	uint32_t round;
	uint32_t midop;
	uint32_t gave_cpu;    /* it yielded or slept */
	/* A word whose change is what the waiter waits for (the slot a
	 * consumer waits on), or NULL: a spinning round then polls it alone
	 * (wait.c, spin()).  A hint; the caller's own checks decide. */
	uint64_t *watch;
	uint64_t watch_seen;  /* its value when the caller last looked */
};
/* A spinning wait reads the clock once in this many rounds (a power of 2). */
#define IPCQ__CLOCK_ROUNDS 64u
IPCQ_HIDDEN void ipcq__wait_begin(struct ipcq__waiter *w, int64_t timeout_ns);
/* -ETIMEDOUT when the wait's deadline passed, else 0 (a look at the
 * clock, the first of which starts the wait's time: see wait.c). */
IPCQ_HIDDEN int ipcq__wait_timed_out(struct ipcq__waiter *w);

/* The end of a wait: its time into IPCQ_CTR_BLOCKED_NS (see "The time
 * blocked" in wait.c).  Inline: a receive that waited runs it between the
 * message's arrival and its return. */
static inline void ipcq__wait_end(struct ipcq *q, struct ipcq__waiter *w)
{
	if (!q->me)
		return;
	uint64_t t;
	if ((w->round < IPCQ__CLOCK_ROUNDS && !w->gave_cpu) || !w->started_ns)
		t = w->coarse_ns ? ipcq__clock_ns(CLOCK_MONOTONIC_COARSE) - w->coarse_ns : 0;
	else
		t = ipcq__now_ns(CLOCK_MONOTONIC) - w->started_ns;
	if (t) /* a short wait mostly counts 0: no atomic add then */
		ipcq__count_shared(q, IPCQ_CTR_BLOCKED_NS, t);
}

/* recovery.c: is a recovery pass due in this round of a wait (the grace
 * period passed since our last one)?  The look itself,
 * ipcq__recovery_due_now(), reads the precise clock.  A spinning round
 * (busy-poll, or any strategy before its first yield) that is not a clock
 * round asks the wait's coarse start instead, which costs no clock read:
 * the round that ends a wait runs between a message's arrival and its
 * delivery.  The coarse clock is never ahead of the precise one, so once
 * that start is a grace period past our last pass, a pass is due (a tick,
 * 1-4 ms, later than the precise clock would say); a wait that its first
 * poll ended has no coarse start and looks no further. */
static inline int ipcq__recovery_due(struct ipcq *q, const struct ipcq__waiter *w, int side)
{
	if ((w->round & (IPCQ__CLOCK_ROUNDS - 1)) != 0 &&
	    (q->wait_strategy == IPCQ_WAIT_BUSY_POLL || !w->gave_cpu) &&
	    (!w->coarse_ns || w->coarse_ns < q->last_recovery_ns[side] + q->grace_ns))
		return 0;
	return ipcq__recovery_due_now(q, side);
}
/* Wait until data may be available (consumer side) / space (producer). */
IPCQ_HIDDEN int ipcq__wait_data(struct ipcq *q, struct ipcq__waiter *w);
IPCQ_HIDDEN int ipcq__wait_space(struct ipcq *q, struct ipcq__waiter *w);
IPCQ_HIDDEN void ipcq__wake_data(struct ipcq *q);
IPCQ_HIDDEN void ipcq__wake_space(struct ipcq *q);
/* Register this process for membarrier(MEMBARRIER_CMD_GLOBAL_EXPEDITED)
 * (once; a sole handle's attach): 0, or -errno when the kernel refuses,
 * and the sole handle then claims by CAS (it keeps its seat). */
IPCQ_HIDDEN int ipcq__sole_register(void);

#endif
