/*
 * ipcq.h - inter-process message queues in POSIX shared memory.
 *
 * ipcq moves messages between processes of one machine through a bounded,
 * lock-free, multi-producer multi-consumer ring that lives in a shared-memory
 * segment (/dev/shm/ipcq.<name>).  Every participant (producer or consumer)
 * is registered in the segment and holds an OFD lock on its own byte of it
 * while attached, so its liveness is known exactly, without a daemon.
 *
 * Conventions used by every function below:
 *  - Return values are >= 0 on success and a negative errno value on failure
 *    (-EINVAL, -EAGAIN, ...).  errno is never the error channel.
 *    ipcq_strerror() turns a return value into a sentence, and
 *    ipcq_errdetail() tells what exactly was refused (which field, which
 *    rule) after the calls that check their input.
 *  - Handles are opaque and made through out-parameters.
 *  - Timeouts are in nanoseconds: IPCQ_NOWAIT (0) never blocks, IPCQ_FOREVER
 *    (-1) blocks until the call can complete, any positive value blocks
 *    that long and then fails with -ETIMEDOUT.  A wait looks at the clock
 *    only every 64 polls and after each yield or sleep, and counts its
 *    time from its first look, so it may end a few microseconds late.
 *  - A NULL handle or out-parameter, or a timeout below -1, is -EINVAL for
 *    every call that takes one.
 *  - Nothing in the library prints, exits or raises a signal.
 *
 * Synchronization table (which calls may run at the same time):
 *
 *   same queue, different handles (any processes, any threads)
 *       everything may run concurrently: send, recv, batch forms, info,
 *       open, close, attach, detach.  ipcq_unlink removes the name only;
 *       attached handles keep working.
 *   same handle, different threads
 *       ipcq_send* from at most one thread at a time, ipcq_recv* from at
 *       most one thread at a time; one sender and one receiver thread may
 *       share a handle attached in both roles (not on a queue with
 *       priority lanes, whose handle works on one lane at a time: there,
 *       a thread each needs a handle each).  ipcq_info may run at any
 *       time.  ipcq_attach, ipcq_detach and ipcq_close must not run
 *       concurrently with anything else on that handle.
 *   ordering guarantees
 *       messages of one producer handle are received in the order they were
 *       sent (per-producer FIFO).  With several consumers, each message goes
 *       to exactly one of them; the order in which two consumers finish
 *       processing is up to the application.  A successful send
 *       happens-before the receive that returns the message: everything the
 *       producer wrote before ipcq_send is visible to the receiver after
 *       ipcq_recv.
 */
#ifndef IPCQ_H
#define IPCQ_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define IPCQ_API __attribute__((visibility("default")))
#else
#define IPCQ_API
#endif

/* ------------------------------------------------------------------ */
/* Version                                                             */
/* ------------------------------------------------------------------ */

#define IPCQ_VERSION_MAJOR 0
#define IPCQ_VERSION_MINOR 1
#define IPCQ_VERSION_PATCH 0
/** Version as one integer: major * 10000 + minor * 100 + patch. */
#define IPCQ_VERSION \
	(IPCQ_VERSION_MAJOR * 10000 + IPCQ_VERSION_MINOR * 100 + IPCQ_VERSION_PATCH)

/**
 * ipcq_version - version of the library actually linked.
 *
 * Returns IPCQ_VERSION as the library was built (compare with the macro to
 * detect a header/library mismatch).  Never fails; may run at any time.
 */
IPCQ_API int ipcq_version(void);

/**
 * ipcq_version_string - the same version as "MAJOR.MINOR.PATCH".
 *
 * Returns a static string.  Never fails; may run at any time.
 */
IPCQ_API const char *ipcq_version_string(void);

/**
 * ipcq_strerror - describe a return value of this library.
 *
 * @err: a value returned by an ipcq function (negative errno), or a positive
 *       errno value.
 *
 * Returns a static, human-readable sentence that says what the error means
 * for a queue ("segment is corrupt or not an ipcq queue", ...).  Never
 * fails; thread-safe.  One errno covers several causes (-EINVAL: any bad
 * argument); ipcq_errdetail() says which one it was.
 */
IPCQ_API const char *ipcq_strerror(int err);

/**
 * ipcq_errdetail - what exactly the last failed call of this thread refused.
 *
 * Returns a sentence that names the field, flag or file at fault and the
 * rule it broke, for instance "capacity 1000 is not a power of two in
 * [2, 16777216]", "NUMA node 5 does not exist (nodes with memory: 0)" or
 * "segment owned by uid 1000, not by this user (uid 1001): open with
 * IPCQ_OPEN_ANY_OWNER to accept it"; or "" when there is nothing to add
 * to ipcq_strerror().  Never NULL.  The text lives in a buffer of the
 * calling thread that the thread's later ipcq calls may rewrite; copy it
 * to keep it.
 *
 * Which calls set it: ipcq_create(), ipcq_open(), ipcq_open_flags(),
 * ipcq_open_readonly() and ipcq_unlink() for a bad name, configuration
 * or flag, a refused or foreign segment (-EINVAL, -ENAMETOOLONG, -ENOENT,
 * -EPERM, -EACCES, -ELOOP, -EPROTO, -EBADMSG, -EEXIST, -ENOSPC, -EFBIG)
 * and an impossible NUMA placement; ipcq_attach() for bad roles or
 * options (-EINVAL), a read-only handle (-EPERM), a handle already
 * attached (-EALREADY), a full participant table (-EUSERS), a producer
 * name held by a live process (-EBUSY), a full dedup table (-ENOSPC), and
 * a lock or descriptor the kernel refused; ipcq_pin_thread(); the send
 * calls when the handle's full policy (IPCQ_FULL_FAIL) refused to wait
 * although the timeout allowed it.
 *
 * When it is cleared: ipcq_create(), ipcq_open*(), ipcq_unlink() and
 * ipcq_attach() empty it when they start, so after them it is that
 * call's detail or "" (a successful attach leaves ""; so does a failure
 * with nothing to add).  No other call clears it, successful or not (the
 * send and receive paths do not pay for it): read it right after the
 * call that failed, as
 * `fprintf(stderr, "%s: %s\n", ipcq_strerror(rc), ipcq_errdetail())`, and
 * not after a later call.  Never fails; thread-safe (each thread has its
 * own); the library never prints it.  Setting it allocates nothing when
 * libipcq is linked into the program; a libipcq.so loaded with dlopen()
 * may have the C library allocate the thread's storage for it the first
 * time a thread uses it.
 */
IPCQ_API const char *ipcq_errdetail(void);

/* ------------------------------------------------------------------ */
/* Limits and constants                                                */
/* ------------------------------------------------------------------ */

/** Longest queue name, in bytes, without the terminating NUL. */
#define IPCQ_NAME_MAX 200
/** Longest participant name given to ipcq_attach(), without the NUL. */
#define IPCQ_PARTICIPANT_NAME_MAX 47
/** Smallest and largest ring capacity (slots, a power of two). */
#define IPCQ_CAPACITY_MIN 2u
#define IPCQ_CAPACITY_MAX (1u << 24)
/** Largest message: 16 MiB.  capacity * slot size must also fit the limit below. */
#define IPCQ_MSG_SIZE_MAX (16u << 20)
/** Largest segment ipcq_create() accepts: 64 GiB. */
#define IPCQ_SEGMENT_MAX (64ull << 30)
/** Largest number of participants a queue can register. */
#define IPCQ_PARTICIPANTS_MAX 4096u

/** Timeouts (nanoseconds) for the blocking calls. */
#define IPCQ_NOWAIT ((int64_t)0)
#define IPCQ_FOREVER ((int64_t)-1)

/**
 * Wait strategies: what a blocking call does while it cannot proceed.
 * A consumer's poll, while it waits for the ring's next message, is a
 * load of that slot's word and a pause (so spin_count polls last about
 * spin_count pause instructions: some 4 µs at 200 on a CPU whose pause
 * takes 60 cycles at 2.7 GHz); a producer's poll is a send attempt.
 */
enum ipcq_wait_strategy {
	/** Use the queue's default (only valid in struct ipcq_attach_opts). */
	IPCQ_WAIT_DEFAULT = 0,
	/**
	 * Spin spin_count times, then sched_yield() yield_count times, then
	 * sleep on a futex until woken.  Costs no CPU while idle; the peer
	 * makes a FUTEX_WAKE system call only while someone sleeps.
	 */
	IPCQ_WAIT_ADAPTIVE = 1,
	/**
	 * Never sleep: poll with the CPU's pause instruction, calling
	 * sched_yield() every spin_count polls so that a preempted peer on
	 * an overcommitted machine still gets to run.  Lowest latency;
	 * burns a core while waiting.  The clock is read after each yield
	 * and every 64 polls, not at each (see timeouts, above).
	 */
	IPCQ_WAIT_BUSY_POLL = 2,
	/**
	 * Poll spin_count times with the CPU's pause instruction, then
	 * call sched_yield() before every further poll; never sleeps on a
	 * futex, so no peer makes a FUTEX_WAKE system call for it.  The
	 * spins catch a peer that is running on another core (a yield
	 * there would cost a context switch on an overcommitted machine);
	 * the yields then give the CPU to whoever needs it.
	 */
	IPCQ_WAIT_YIELD = 3,
};

/** Roles given to ipcq_attach(); a handle may hold both. */
#define IPCQ_ROLE_PRODUCER 0x1u
#define IPCQ_ROLE_CONSUMER 0x2u

/* ------------------------------------------------------------------ */
/* Queue configuration                                                 */
/* ------------------------------------------------------------------ */

/**
 * struct ipcq_config - parameters of a new queue, read by ipcq_create().
 *
 * Always start from IPCQ_CONFIG_INIT (C) or ipcq_config_init() (C or C++):
 * the first field stamps the size of the structure the caller was compiled
 * with, so that later versions can add fields without breaking callers.
 * Every field is checked; a bad value makes ipcq_create() fail with -EINVAL
 * and create nothing.
 */
struct ipcq_config {
	/** sizeof(struct ipcq_config) as the caller knows it. */
	uint32_t size;
	/** Slots in the ring: a power of two in [IPCQ_CAPACITY_MIN, IPCQ_CAPACITY_MAX]. Default 1024. */
	uint32_t capacity;
	/** Largest message in bytes, 1..IPCQ_MSG_SIZE_MAX.  Default 1024. */
	uint32_t max_msg_size;
	/**
	 * Permission bits of the segment: 0600 (default, owner only), 0640 or
	 * 0660 (share with the group).  Bits for others, and any bit outside
	 * 0777, are refused: a queue others can read or write is a queue
	 * anybody can spy on or corrupt.
	 */
	uint32_t mode;
	/** Default wait strategy of handles on this queue (enum ipcq_wait_strategy, not DEFAULT). Default ADAPTIVE. */
	uint32_t wait_strategy;
	/** Polls before yielding (adaptive, yield) or between yields (busy-poll), 0..1000000.  Default 200. */
	uint32_t spin_count;
	/** Adaptive: sched_yield() calls before sleeping, 0..1000000.  Default 20. */
	uint32_t yield_count;
	/** Participant table size, 1..IPCQ_PARTICIPANTS_MAX.  Default 64. */
	uint32_t max_participants;
	/**
	 * Poison side-ring capacity: 0 (no side ring), a power of two up to
	 * IPCQ_CAPACITY_MAX, or IPCQ_AUTO (the default: 64, or the ring's
	 * capacity if smaller).  Each entry holds a whole message.  Messages that cannot be processed
	 * (nacked as poison, or delivered max_deliveries times without being
	 * acknowledged) are moved there with a reason.
	 */
	uint32_t side_capacity;
	/**
	 * Deliveries a message gets before it is quarantined in the side ring
	 * instead of being delivered again, 1..255.  Default 5.  In a
	 * consumer group a message's deaths are counted up to 63: there a
	 * value above 63 acts as 63.
	 */
	uint32_t max_deliveries;
	/**
	 * NUMA node the segment's memory is bound to: a node number,
	 * IPCQ_NUMA_LOCAL (the node of the CPU the creator runs on), or
	 * IPCQ_NUMA_ANY (the default: no binding, the kernel's policy).  The
	 * pages are bound (hwloc, strict) before they are first touched, then
	 * reserved, so the queue never lands on another node by accident.  An
	 * unknown node or one without memory is -EINVAL.  When the creator's
	 * CPU sits on a node without memory, IPCQ_NUMA_LOCAL takes the node
	 * with memory nearest to it by the latencies the firmware reports
	 * (ACPI SLIT, as hwloc reads it), or the first node with memory on a
	 * machine that reports none; ipcq_numa_node() tells the node chosen.
	 */
	int32_t numa_node;
	/**
	 * Backpressure watermarks, in messages waiting (depth).  Both 0 (the
	 * default): no pressure signalling.  Otherwise 1 <= low_watermark <
	 * high_watermark <= capacity: when the depth reaches high_watermark
	 * the queue is "under pressure" (every send says so, see
	 * IPCQ_SEND_PRESSURE) until it falls below low_watermark.
	 */
	uint32_t high_watermark;
	uint32_t low_watermark;
	/** Flags: IPCQ_CF_EXPIRY, IPCQ_CF_EXPIRED_TO_SIDE, IPCQ_CF_KEYED; 0 by default. */
	uint32_t flags;
	/**
	 * Lease pool: how many messages ack-mode consumers may hold
	 * unacknowledged, all consumers together; 0 (no ack mode) up to
	 * IPCQ_CAPACITY_MAX, or IPCQ_AUTO (the default: 256, or the ring's
	 * capacity if smaller).  Each entry holds a whole message.
	 */
	uint32_t lease_capacity;
	/**
	 * Grace period in microseconds, 100..60000000, default 10000: how long
	 * a waiter lets a slot stay stuck before it checks whether the
	 * participant working on it died, and how often a sleeping waiter
	 * wakes to check.  A live participant is never robbed, however slow.
	 */
	uint32_t grace_us;
	/**
	 * Deduplication table: how many named producers (IPCQ_ATTACH_DEDUP)
	 * the queue remembers, 0..IPCQ_PARTICIPANTS_MAX.  Default 64.  A name
	 * stays in the table after its producer detaches or dies, so that a
	 * restarted producer resumes; ipcq_dedup_remove() retires it.
	 */
	uint32_t dedup_capacity;
	/**
	 * Retry backoff of ack mode, by delivery count: a message requeued by
	 * ipcq_nack(IPCQ_NACK_REQUEUE) after its n-th delivery is not
	 * delivered again for retry_base_us * retry_factor^(n - 1)
	 * microseconds, at most retry_max_us.  retry_base_us 0 (the default):
	 * at once.  retry_base_us and retry_max_us 0..3600000000 (an hour),
	 * retry_max_us >= retry_base_us when the base is set (0 means the
	 * base, unscaled, is the cap too); retry_factor 1..16 (default 2).
	 * ipcq_nack_delay() gives a delay of its own instead.  A consumer's
	 * death is not a failure of its message: what it held is delivered
	 * again at once.
	 */
	uint32_t retry_base_us;
	uint32_t retry_max_us;
	uint32_t retry_factor;
	/**
	 * Time to live of every message, in milliseconds, 0 (the default:
	 * none) to 2^31.  A message older than that is never delivered: it
	 * is dropped and counted, or moved to the side ring with reason
	 * IPCQ_REASON_EXPIRED (IPCQ_CF_EXPIRED_TO_SIDE).  Setting it turns on
	 * IPCQ_CF_EXPIRY; ipcq_send_ex() gives a message a time of its own.
	 */
	uint32_t ttl_ms;
	/**
	 * Consumer groups (fan-out), 0..IPCQ_GROUPS_MAX.  0 (the default):
	 * one implicit group, every message goes to one consumer, as a work
	 * queue.  N > 0: room for N named groups, made with
	 * ipcq_group_create(); every group receives every message, and the
	 * consumers of one group share its messages.  See ipcq_group_create().
	 */
	uint32_t max_groups;
	/**
	 * Priority lanes, 0..IPCQ_PRIORITIES_MAX.  0 or 1 (the default): one
	 * lane, every message in one FIFO ring.  N > 1: N rings of capacity
	 * slots each, priority 0 (the lowest, the default of a send) to
	 * N - 1 (the highest), chosen per message with ipcq_send_ex().  A
	 * receive takes from the highest lane that has a message, except
	 * for the starvation guard (priority_share).  Order is kept per
	 * producer within a lane; a message of a higher lane overtakes the
	 * lower lanes' messages.  Not with consumer groups, IPCQ_CF_KEYED or
	 * watermarks (-ENOTSUP).  A handle works on one lane at a time, so a
	 * sender thread and a receiver thread need a handle each (the
	 * synchronization table at the top of this file).
	 */
	uint32_t priorities;
	/**
	 * The starvation guard of a queue with priorities: the percentage of
	 * receives, 0..50, that serve the lanes below the highest non-empty
	 * one first, in turn (one receive in 100 / priority_share, per
	 * consumer handle), so that low lanes keep moving under a flood of
	 * high ones.  0: strict priority (a low lane waits while any higher
	 * one has a message).  IPCQ_CONFIG_INIT: 10.
	 */
	uint32_t priority_share;
};

/** Config flag: messages can expire (a queue ttl_ms, or a time to live per
 *  message with ipcq_send_ex()).  Every receive then reads the clock and
 *  the slot's tail line; queues without it pay nothing. */
#define IPCQ_CF_EXPIRY 0x1u
/** Config flag: an expired message goes to the side ring (reason
 *  IPCQ_REASON_EXPIRED) instead of being dropped.  Receives then claim
 *  one message at a time (a batch still returns several). */
#define IPCQ_CF_EXPIRED_TO_SIDE 0x2u
/**
 * Config flag: per-key order (message groups, as SQS FIFO's MessageGroupId).
 * A message sent with a key (ipcq_send_ex(), IPCQ_SEND_F_KEY) carries it
 * to its consumer (ipcq_msginfo.key, IPCQ_MSG_KEYED).  In ack mode, the
 * messages of one key are delivered in the order they entered the queue
 * and never two at once: the next one of a key is delivered only after
 * the one before it was acknowledged or moved to the side ring; a message
 * requeued (ipcq_nack()), given back by a detach or recovered from a dead
 * consumer keeps its place and is delivered again before the next of its
 * key.  Messages of different keys, and messages without a key, spread
 * over the consumers as usual.  A message whose key is busy waits in the
 * lease pool (counted in ipcq_info.key_waiting), so the ring keeps
 * flowing; a pool full of waiting messages makes receives wait.
 * Fast mode: keys are carried but do not serialize (a copying receive
 * completes at once; one producer's messages are received in its order,
 * as on every queue).  Each slot is 8 bytes larger.  Not with consumer
 * groups (-ENOTSUP).
 */
#define IPCQ_CF_KEYED 0x4u

/** A table size chosen from the ring's capacity (see the fields that accept it). */
#define IPCQ_AUTO UINT32_MAX

/** Any NUMA node (the kernel's default policy). */
#define IPCQ_NUMA_ANY (-1)
/** The NUMA node of the CPU the creating thread runs on (the nearest node
 *  with memory when that node has none; see ipcq_config.numa_node). */
#define IPCQ_NUMA_LOCAL (-2)

/** Initializer with every default; use as `struct ipcq_config c = IPCQ_CONFIG_INIT;`. */
#define IPCQ_CONFIG_INIT                                                  \
	{                                                                 \
		sizeof(struct ipcq_config), 1024u, 1024u, 0600u,          \
		IPCQ_WAIT_ADAPTIVE, 200u, 20u, 64u, IPCQ_AUTO, 5u,        \
		IPCQ_NUMA_ANY, 0u, 0u, 0u, IPCQ_AUTO, 10000u, 64u,        \
		0u, 0u, 2u, 0u, 0u, 0u, 10u                               \
	}

/**
 * ipcq_config_init - fill @cfg with the defaults of IPCQ_CONFIG_INIT.
 *
 * For C++ and for callers that prefer a function.  Never fails
 * (returns 0, or -EINVAL when @cfg is NULL).
 */
IPCQ_API int ipcq_config_init(struct ipcq_config *cfg);

/* ------------------------------------------------------------------ */
/* Queue lifetime                                                      */
/* ------------------------------------------------------------------ */

/** An open queue: one mapping of the segment, one file description. */
struct ipcq;

/**
 * ipcq_create - create a new queue and open it.
 *
 * @name: queue name: 1..IPCQ_NAME_MAX bytes of letters, digits, '.', '_'
 *        and '-', not starting with '.'.  The segment is
 *        /dev/shm/ipcq.<name>.
 * @cfg:  configuration, or NULL for every default.
 * @out:  receives the handle; untouched on failure.
 *
 * The segment is built in an unnamed file (O_TMPFILE), reserved in full
 * with posix_fallocate (tmpfs allocates lazily: without this a queue
 * larger than the free space in /dev/shm would die of SIGBUS long after
 * creation) and then linked to its name in one step, so no process ever
 * opens a half-built queue, and a creator killed before the link leaves
 * nothing behind.  (Where /dev/shm has no O_TMPFILE, the file is built
 * under a hidden name, /dev/shm/.ipcq-new.*, locked by its creator; see
 * ipcq_sweep(), which every create runs first.)  The name is never
 * followed through a symbolic link.  The handle is not attached; call
 * ipcq_attach() to send or receive.
 *
 * Errors: -EINVAL bad name or config (nothing created; among others a
 * cfg->mode that gives others any access, such as 0644 or 0604;
 * ipcq_errdetail() names the field and its rule),
 * -ENAMETOOLONG name too long, -EEXIST a queue (or anything else) already
 * has that name, -ENOSPC /dev/shm has no room for the whole segment,
 * -EFBIG the segment would exceed IPCQ_SEGMENT_MAX, -EACCES no permission
 * in /dev/shm, -ENOMEM out of memory or address space, -EAGAIN (fallback
 * only) the temporary name kept being swept away by concurrent sweeps.
 * Does not block.  May run concurrently with anything.
 */
IPCQ_API int ipcq_create(const char *name, const struct ipcq_config *cfg,
			 struct ipcq **out);

/**
 * ipcq_open - open an existing queue.
 *
 * @name: queue name, as for ipcq_create().
 * @out:  receives the handle; untouched on failure.
 *
 * The segment is untrusted input: its magic, layout version and format
 * signature are checked, and every size and offset is checked against the
 * real size of the file before anything else is read.  Only a segment
 * owned by the caller's effective user id is opened: another user's
 * segment is memory that user controls (a tool run as root must not work
 * on it by accident); ipcq_open_flags() with IPCQ_OPEN_ANY_OWNER opens it.
 * A process of another user sharing a group queue (mode 0640 or 0660)
 * opens it that way too.  The handle is not attached; call ipcq_attach()
 * to send or receive.
 *
 * Errors: -EINVAL bad name, -ENAMETOOLONG, -ENOENT no such queue, -EACCES
 * no permission, -ELOOP the name is a symbolic link, -EPERM the segment is
 * owned by another user, is readable or writable by others (anybody could
 * read every message or corrupt it), or is not a regular file, -EPROTO a
 * segment of another ipcq layout version or build (foreign), or with a
 * feature bit this build does not know (a newer one's), -EBADMSG the
 * segment is corrupt or truncated (a reserved header word not zero
 * included), -ENOMEM.  ipcq_errdetail() tells which
 * check refused it (the owner's uid, the mode, the header field).
 * Does not block.  May run concurrently with anything.
 */
IPCQ_API int ipcq_open(const char *name, struct ipcq **out);

/** ipcq_open_flags(): a read-only handle, as ipcq_open_readonly() gives. */
#define IPCQ_OPEN_READONLY 0x1u
/** ipcq_open_flags(): accept a segment owned by another user. */
#define IPCQ_OPEN_ANY_OWNER 0x2u

/**
 * ipcq_open_flags - open an existing queue, with options.
 *
 * @name:  queue name, as for ipcq_create().
 * @flags: 0 (exactly ipcq_open()) or IPCQ_OPEN_* bits:
 *         IPCQ_OPEN_READONLY   a monitor's handle (see ipcq_open_readonly());
 *         IPCQ_OPEN_ANY_OWNER  open the segment even when another user
 *                              owns it.  Its bytes are still checked like
 *                              any segment's, but that user can change
 *                              them at any time: ask for this only for a
 *                              user you trust (a group queue's members).
 * @out:   receives the handle; untouched on failure.
 *
 * Errors: as ipcq_open(); -EINVAL also for an unknown flag.  A segment
 * readable or writable by others is refused (-EPERM) whatever the flags.
 * Does not block.  May run concurrently with anything.
 */
IPCQ_API int ipcq_open_flags(const char *name, uint32_t flags, struct ipcq **out);

/**
 * ipcq_close - detach (if attached), unmap and free a handle.
 *
 * @q: a handle from ipcq_create() or ipcq_open(), or NULL (no-op).
 *
 * The queue itself stays; see ipcq_unlink().  Returns 0.
 * Must not run concurrently with any other call on @q.
 */
IPCQ_API int ipcq_close(struct ipcq *q);

/**
 * ipcq_unlink - remove a queue's name.
 *
 * @name: queue name.
 *
 * Processes that have the queue open keep using it; the memory is freed
 * when the last one closes it.  Only a regular file is removed.
 *
 * Errors: -EINVAL bad name, -ENAMETOOLONG, -ENOENT no such queue, -EACCES
 * no permission: the file belongs to another user (/dev/shm is sticky:
 * only its owner or root may remove it) or /dev/shm is not writable,
 * ipcq_errdetail() says which; -EPERM the name is not a regular file (a
 * symbolic link or a directory is never removed).  Does not block.
 */
IPCQ_API int ipcq_unlink(const char *name);

/**
 * ipcq_sweep - remove what creators killed in ipcq_create() left behind.
 *
 * Only the fallback for a /dev/shm without O_TMPFILE leaves anything: a
 * hidden file /dev/shm/.ipcq-new.<pid>.<n>.<name> that its creator holds
 * an OFD lock on until the queue has its name.  This removes each such
 * file that no live process holds (and that the caller may open).
 * ipcq_create() runs it first; ipcq-ctl(1) runs it on demand.
 *
 * Returns the number of files removed.  Errors: the -errno of reading
 * /dev/shm.  Does not block.  May run concurrently with anything.
 */
IPCQ_API int ipcq_sweep(void);

/* ------------------------------------------------------------------ */
/* Participants                                                        */
/* ------------------------------------------------------------------ */

/**
 * struct ipcq_attach_opts - how a handle takes part in a queue.
 * Start from IPCQ_ATTACH_OPTS_INIT or ipcq_attach_opts_init().
 */
struct ipcq_attach_opts {
	/** sizeof(struct ipcq_attach_opts) as the caller knows it. */
	uint32_t size;
	/** Wait strategy of this handle, IPCQ_WAIT_DEFAULT for the queue's. */
	uint32_t wait_strategy;
	/** Overrides of the queue's spin/yield counts; UINT32_MAX keeps the queue's. */
	uint32_t spin_count;
	uint32_t yield_count;
	/** Participant name shown by monitors, NULL for none (<= IPCQ_PARTICIPANT_NAME_MAX bytes, printable). */
	const char *name;
	/** IPCQ_ATTACH_* flags. */
	uint32_t flags;
	/**
	 * Ack mode: most messages this consumer may hold unacknowledged,
	 * 1..lease_capacity, or IPCQ_AUTO (the default: 16, or the lease
	 * pool's size if smaller).  Ignored without IPCQ_ATTACH_ACK.
	 */
	uint32_t prefetch;
	/** Producers: what a send does when the ring is full (enum ipcq_full_policy).
	 *  IPCQ_FULL_DROP_OLDEST needs a handle attached as producer only. */
	uint32_t full_policy;
	/** Reserved, must be zero. */
	uint32_t reserved[5];
	/**
	 * Consumers of a queue with groups (max_groups > 0): the name of the
	 * group to receive in (made by ipcq_group_create()).  Required there;
	 * must be NULL on a queue without groups.  Ignored for producers.
	 */
	const char *group;
};

/** What a producer's send does when the ring is full. */
enum ipcq_full_policy {
	/** Wait for room as the call's timeout allows (the default). */
	IPCQ_FULL_BLOCK = 0,
	/** Fail at once with -EAGAIN, whatever the timeout (IPCQ_FOREVER
	 *  included; ipcq_errdetail() then says that the policy refused). */
	IPCQ_FULL_FAIL = 1,
	/**
	 * Lossy queues (telemetry) only: discard the oldest waiting message
	 * to make room, and count it (the producer's "dropped" counter).
	 * Only the message in the slot the send needs is discarded: while a
	 * consumer is reading the oldest one (a copy, a peek, a late
	 * release), the send waits for that release as its timeout allows,
	 * and drops nothing.  A consumer that died holding the oldest one is
	 * not waited for: that message is dropped (a dead consumer's claim
	 * of any other message is left to be delivered again).  Never the
	 * default.  Only for a handle attached as producer and not
	 * as consumer (IPCQ_ROLE_PRODUCER alone): the discard claims the
	 * message through the handle's consumer-side work record, which a
	 * handle that also receives uses for its own receives.  ipcq_attach()
	 * refuses it with any other roles (-EINVAL).
	 */
	IPCQ_FULL_DROP_OLDEST = 2,
};

/**
 * Deduplication (producers): attach under a stable name (opts.name) that
 * the queue remembers.  Only one live process holds a name at a time (a
 * second attach is -EBUSY); when its holder dies, the next process to
 * attach under the name takes it over.  ipcq_last_seq() then tells the
 * last sequence number the queue accepted under that name, whichever
 * instruction the holder died at, so the new holder resumes from its own
 * log: sends whose sequence is not above it are reported as duplicates
 * (IPCQ_SEND_DUPLICATE) and dropped.  No duplicate reaches a consumer and
 * no accepted message is lost.  Consumers see the name's table index in
 * msginfo.stream.
 */
#define IPCQ_ATTACH_DEDUP 0x2u

/**
 * Ack mode (consumers): ipcq_recv() moves each message into the queue's
 * lease pool and hands out a token (msginfo.token); the message stays there
 * until ipcq_ack() frees it or ipcq_nack() gives it back.  If the consumer
 * dies, every message it held is delivered again (delivery count raised),
 * or quarantined in the side ring once it has had max_deliveries; so is a
 * message left unacknowledged by a clean detach or close (reason
 * IPCQ_REASON_MAX_DELIVERIES; with the side ring full, delivered again).
 * At-least-once: a message is delivered again only after a crash or a nack,
 * and the consumer is told (deliveries, IPCQ_MSG_REDELIVERED).
 */
#define IPCQ_ATTACH_ACK 0x1u

/**
 * Late release (copying consumers, fast mode): ipcq_recv() and
 * ipcq_recv_batch() return before they release the slots of the messages
 * they return, and the handle releases them when its next receive call
 * starts (ipcq_recv(), ipcq_recv_batch(), ipcq_peek()), or at
 * ipcq_release(), ipcq_detach() or ipcq_close().  A release writes the
 * slot's cache line, which the producer wrote and reads again: done late,
 * that transfer leaves the round trip of a consumer that answers each
 * message (it is done while the consumer waits for the next one).
 *
 * While held, the slots of the last receive hold producers back when they
 * come round to them a lap later, as peeked slots do (ipcq_peek()); a
 * consumer that keeps receiving releases them at once.  A consumer that
 * dies holding them has them delivered again to another consumer, with
 * their delivery count raised and IPCQ_MSG_REDELIVERED, as a consumer
 * killed between claim and release always has: late release extends that
 * cover over the caller's handling of the message (at least once for the
 * last receive, flagged), and a detach or close releases them (no
 * redelivery).  Not with IPCQ_ATTACH_ACK, nor on a queue with consumer
 * groups, priorities or IPCQ_CF_EXPIRED_TO_SIDE (-EINVAL at attach).
 */
#define IPCQ_ATTACH_LATE_RELEASE 0x4u

/**
 * Sole producer and/or sole consumer: the handle is the queue's only
 * producer (with IPCQ_ROLE_PRODUCER) and/or its only consumer (with
 * IPCQ_ROLE_CONSUMER), as rte_ring's SP/SC modes or Aeron's exclusive
 * publication.  It then claims ring positions with a plain store of the
 * cursor instead of a locked compare-and-swap: a send and a receive
 * between two sole handles take one locked instruction where two shared
 * ones take three.  Crash recovery, ack mode, batches, zero copy,
 * priorities, dedup names and late release work as for any handle.  On
 * a queue with watermarks a sole consumer keeps the seat but claims by
 * CAS (the pressure's clear relies on the consumer's claim being locked),
 * so there only the producer's side gains.
 *
 * Exclusive for as long as the handle is attached: the queue has a seat
 * for its producers and one for its consumers (an OFD lock, which the
 * kernel drops when the process dies).  A sole handle holds its seat
 * alone; every other producer (consumer) holds it shared, and so does a
 * producer with IPCQ_FULL_DROP_OLDEST on the consumers' seat, as its
 * discard claims like a consumer.  So a sole attach while another handle
 * of that role is attached, or an attach of that role while a sole one
 * is, fails with -EBUSY, and ipcq_poison_replay() through a handle that
 * is not a producer of the queue fails with -EBUSY while a sole producer
 * is attached (a replay holds the producers' seat shared while it runs:
 * a sole producer attaching meanwhile gets -EBUSY, and may try again).  A sole handle that dies leaves its seat to the next one
 * that attaches (its unfinished message recovered as any other's).
 *
 * A process that attaches a sole handle registers for
 * membarrier(MEMBARRIER_CMD_GLOBAL_EXPEDITED), and a waiter of the queue
 * that goes to sleep calls it once first (see lib/wait.c); where the
 * kernel refuses membarrier, a sole handle keeps its seat and claims by
 * CAS (no gain, same guarantees).  Not for a consumer of a queue with consumer
 * groups (-EINVAL; a sole producer of such a queue is fine).
 */
#define IPCQ_ATTACH_SOLE 0x8u
/**
 * In ipcq_participant_stats.flags only, never an attach flag: the handle
 * is a sole producer (IPCQ_PART_SOLE_STORE_ENQ) or consumer
 * (IPCQ_PART_SOLE_STORE_DEQ) that claims its positions by store.  A sole
 * handle without the bit holds its seat but claims by CAS: the kernel
 * refused membarrier, or (a consumer) the queue has watermarks.
 */
#define IPCQ_PART_SOLE_STORE_ENQ 0x10000u
#define IPCQ_PART_SOLE_STORE_DEQ 0x20000u

#define IPCQ_ATTACH_OPTS_INIT                                              \
	{                                                                  \
		sizeof(struct ipcq_attach_opts), IPCQ_WAIT_DEFAULT,        \
		UINT32_MAX, UINT32_MAX, NULL, 0u, IPCQ_AUTO, IPCQ_FULL_BLOCK, \
		{ 0u, 0u, 0u, 0u, 0u }, NULL                               \
	}

/** ipcq_attach_opts_init - fill @opts with IPCQ_ATTACH_OPTS_INIT.  Returns 0 or -EINVAL. */
IPCQ_API int ipcq_attach_opts_init(struct ipcq_attach_opts *opts);

/**
 * ipcq_attach - register the handle as a producer and/or consumer.
 *
 * @q:     an unattached handle.
 * @roles: IPCQ_ROLE_PRODUCER, IPCQ_ROLE_CONSUMER or both.
 * @opts:  options, or NULL for the defaults.
 *
 * Takes a free entry of the queue's participant table and an OFD lock on
 * that entry's byte of the segment, held until ipcq_detach(), ipcq_close()
 * or the death of the process: the kernel drops the lock when the process
 * dies, which is how every other participant knows it is gone.  An entry
 * whose holder died is reused.  Attaching runs a recovery pass; a consumer
 * also adopts a message that a dead consumer had claimed and not released,
 * and its first receive delivers it (flagged redelivered) ahead of newer
 * ones and of messages given back, so a restarted consumer takes up its
 * predecessor's message at once.  Until that receive (in ack mode: one
 * that finds a lease entry free, made while the handle holds fewer
 * messages than its prefetch) the message keeps its ring slot, as any
 * claimed message does:
 * a consumer that attaches and does not receive holds one slot, and the
 * producers stop a lap on at it.  An adopted message that expired or has
 * max_deliveries goes to the side ring at that receive, which then
 * returns the next message.
 *
 * With IPCQ_ATTACH_DEDUP the handle takes the producer name opts->name
 * (see IPCQ_ATTACH_DEDUP); the table lock is held briefly while it does.
 *
 * Errors, in the order they are checked: -EINVAL @q NULL or bad roles;
 * -EPERM a read-only handle (ipcq_open_readonly); -EALREADY already
 * attached; -EINVAL bad options (IPCQ_ATTACH_ACK needs the consumer role,
 * a lease pool and a prefetch it holds, IPCQ_ATTACH_DEDUP the producer
 * role, a dedup table and a name, IPCQ_FULL_DROP_OLDEST the producer role
 * alone and a queue without groups; a consumer of a queue with groups
 * names its group in opts.group, and of a queue without names none; a
 * lossy group takes no IPCQ_ATTACH_ACK, IPCQ_ATTACH_SOLE no consumer
 * of a queue with groups); the -errno of opening the lock descriptor;
 * -EBUSY a seat is taken (IPCQ_ATTACH_SOLE: a sole producer or consumer
 * is attached, or the handle asked for a seat others share); -ENOLCK
 * the kernel refused the lock; -EUSERS the
 * participant table is full (all entries held by live processes or by
 * the unfinished work of dead ones); -ENOENT no group of that name; -EBUSY
 * a live process holds the producer name; -ENOSPC the dedup table is full
 * (retire names with ipcq_dedup_remove()).  The call empties
 * ipcq_errdetail() when it starts and sets it on each of these errors.
 * Does not block (but for the short dedup table lock).  Not concurrent
 * with other calls on @q.
 */
IPCQ_API int ipcq_attach(struct ipcq *q, unsigned roles,
			 const struct ipcq_attach_opts *opts);

/**
 * ipcq_detach - leave the participant table.
 *
 * Returns 0, or -EINVAL if @q is not attached.  Not concurrent with other
 * calls on @q.
 */
IPCQ_API int ipcq_detach(struct ipcq *q);

/* ------------------------------------------------------------------ */
/* Consumer groups (fan-out)                                           */
/* ------------------------------------------------------------------ */

/** Most priority lanes a queue can have (ipcq_config.priorities). */
#define IPCQ_PRIORITIES_MAX 8

/** Most groups a queue can have (ipcq_config.max_groups). */
#define IPCQ_GROUPS_MAX 64
/** Longest group name, without the NUL: letters, digits, '.', '_', '-'. */
#define IPCQ_GROUP_NAME_MAX 31

/**
 * Group flag: a lossy group.  It holds no space: producers never wait for
 * it.  When it falls a whole ring behind, its next receive jumps to the
 * oldest message still in the ring and reports what it missed
 * (IPCQ_MSG_GAP and msginfo.gap), and the group counts it (dropped).
 * Fast mode only: ack mode and zero-copy receives are refused in a lossy
 * group (-EINVAL at ipcq_attach(), -ENOTSUP from ipcq_peek()).
 */
#define IPCQ_GROUP_LOSSY 0x1u
/**
 * Group flag: start at the oldest message still in the ring instead of
 * the newest (the next one sent).  For a durable group "still in the
 * ring" means not yet overwritten: every message no durable group has
 * released yet, and those released but not yet overwritten.
 */
#define IPCQ_GROUP_FROM_OLDEST 0x2u

/**
 * ipcq_group_create - add a consumer group to a queue made with
 * max_groups > 0.
 *
 * @q:     an open handle (attached or not; not read-only).
 * @name:  1..IPCQ_GROUP_NAME_MAX bytes of letters, digits, '.', '_', '-'.
 * @flags: IPCQ_GROUP_LOSSY, IPCQ_GROUP_FROM_OLDEST, or 0.
 *
 * A durable group (the default) receives every message sent after it
 * started: exactly once in fast mode, at least once in ack mode, as a
 * queue without groups does.  Its consumers (ipcq_attach() with
 * opts.group) share its messages, in per-producer order, with leases,
 * redelivery, max_deliveries and the side ring working within the group.
 * A slot is reused only once every durable group has consumed it, so the
 * slowest durable group holds producers back, and a durable group whose
 * consumers all died (or that never had one) keeps its position and its
 * hold on space until a consumer attaches or ipcq_group_remove() removes
 * it.  Watermarks, the pressure state and the full policies apply to the
 * slowest durable group's depth.  Can be called while messages flow.  A
 * creator killed in the middle leaves a group nobody can join, which the
 * next group call on the queue (a create, a remove, a consumer's attach)
 * removes.
 *
 * Returns the group's index (>= 0), or -EINVAL (bad name or flags),
 * -ENOTSUP (the queue has no groups: max_groups 0), -EEXIST (a group of
 * that name exists), -ENOSPC (max_groups groups exist), -EPERM (a
 * read-only handle), or the -errno of fcntl() when the group table's lock
 * cannot be taken (-ENOLCK).  Never blocks for long: it serialises with
 * other group changes on a lock of the segment.
 * Any thread may call it, concurrently with anything but ipcq_close().
 */
IPCQ_API int ipcq_group_create(struct ipcq *q, const char *name, uint32_t flags);

/**
 * ipcq_group_remove - remove a consumer group.
 *
 * The group stops holding space at once.  Messages its dead members held
 * (claimed or leased) are dropped with the group; they still reach every
 * other group.
 *
 * Returns 0, -ENOENT (no such group), -EBUSY (a live consumer is attached
 * to it), -ENOTSUP (no groups), -EINVAL, -EPERM (read-only handle).
 * Concurrency as ipcq_group_create().
 */
IPCQ_API int ipcq_group_remove(struct ipcq *q, const char *name);

/** One group, as ipcq_group_list() reports it. */
struct ipcq_group_info {
	char name[IPCQ_GROUP_NAME_MAX + 1];
	uint32_t index;    /**< the group's table index */
	uint32_t flags;    /**< IPCQ_GROUP_* it was made with */
	uint32_t members;  /**< live consumers attached to it */
	uint32_t dead;     /**< entries of members that died, not yet reused */
	uint64_t position; /**< next position the group will receive */
	uint64_t start;    /**< the position it started at */
	uint64_t lag;      /**< messages sent and not yet received by it (a lossy
			    *   group's may pass the capacity: what is beyond it
			    *   is overwritten, and counted as dropped once the
			    *   group's next receive jumps over it) */
	uint64_t oldest_ns; /**< age of its oldest unreceived message (CLOCK_MONOTONIC_COARSE), 0 none */
	uint64_t dropped;  /**< lossy: positions it missed (a jump counts every position
			    *   passed, a dead producer's skip or another group's replay
			    *   among them, as msginfo.gap does) */
	uint64_t created_ns; /**< CLOCK_REALTIME */
	uint32_t holding;  /**< 1: the slowest durable group, holding producers back (when the ring is full) */
	uint32_t reserved[3];
};

/**
 * ipcq_group_list - the queue's groups.
 *
 * @q:   an open handle (a read-only one too).
 * @out: room for @n entries (may be NULL when @n is 0).
 *
 * Returns the number of groups (which may exceed @n: only @n are written),
 * 0 for a queue without groups, or -EINVAL.  Reads without writing: a
 * snapshot, each group's figures read a little apart.  Never blocks.
 * Each name is NUL-terminated and printable: a byte outside printable
 * ASCII (0x20..0x7e) read from the segment is given as '?'.
 */
IPCQ_API int ipcq_group_list(struct ipcq *q, struct ipcq_group_info *out, unsigned n);

/* ------------------------------------------------------------------ */
/* Messages                                                            */
/* ------------------------------------------------------------------ */

/** A message buffer for the batch calls. */
struct ipcq_buf {
	/** send: the payload; recv: where to copy the payload. */
	void *data;
	/** send: payload length; recv: in: room at data, out: payload length. */
	size_t len;
};

/** What a receive tells about each message besides its payload. */
struct ipcq_msginfo {
	/** Payload length in bytes (also set, to the needed size, on -ENOBUFS). */
	uint64_t len;
	/** Per-producer sequence number, counting from 1. */
	uint64_t seq;
	/** Enqueue time, CLOCK_MONOTONIC_COARSE, nanoseconds (a few ms resolution). */
	uint64_t enqueue_ns;
	/** Participant-table index of the producer that sent it. */
	uint32_t producer;
	/** How many times it has been delivered, this delivery included.  The
	 *  count the queue keeps saturates at 255 (this field then reads 255
	 *  or 256); IPCQ_MSG_REDELIVERED is kept apart from it and is set on
	 *  every delivery after the first. */
	uint32_t deliveries;
	/** IPCQ_MSG_* flags. */
	uint32_t flags;
	/** Named producer (IPCQ_ATTACH_DEDUP): its dedup-table index + 1; 0 for anonymous producers.  With a stream, seq is the name's sequence. */
	uint32_t stream;
	/** Ack mode: the lease token to pass to ipcq_ack()/ipcq_nack(); 0 otherwise. */
	uint64_t token;
	/** Lossy groups: how many positions the group missed just before this
	 *  one (overwritten before it read them: messages, and any dead
	 *  producer's skip or other group's replay among them); IPCQ_MSG_GAP
	 *  is set with it.  0 otherwise. */
	uint64_t gap;
	/** The message's key (IPCQ_MSG_KEYED set), 0 otherwise. */
	uint64_t key;
};

/** The message was delivered before (msginfo flags). */
#define IPCQ_MSG_REDELIVERED 0x1u
/** The message came back from the side ring through ipcq_poison_replay(). */
#define IPCQ_MSG_REPLAYED 0x2u
/** The message was sent with a key (msginfo.key; IPCQ_CF_KEYED). */
#define IPCQ_MSG_KEYED 0x8u
/** A lossy group missed messages just before this one (msginfo.gap says how many). */
#define IPCQ_MSG_GAP 0x4u
/** The priority a message was sent with (0 lowest), from msginfo flags:
 *  bits 16-18, 0 on a queue without priorities (ipcq_config.priorities). */
#define IPCQ_MSG_PRIORITY(flags) (((flags) >> 16) & 0x7u)

/**
 * ipcq_send - enqueue one message.
 *
 * @q:          a handle attached as producer.
 * @data:       payload (may be NULL when @len is 0).
 * @len:        payload length, 0..max_msg_size.
 * @timeout_ns: IPCQ_NOWAIT, IPCQ_FOREVER or a timeout in nanoseconds.
 *
 * Returns 0 when the message is in the queue, IPCQ_SEND_PRESSURE (1) when
 * it is in the queue and the queue is under pressure (above its high
 * watermark: slow down).  A named producer's message gets the name's next
 * sequence number (ipcq_last_seq() + 1).  When the ring is full the call
 * applies the handle's full policy: wait for room according to @timeout_ns
 * and the wait strategy (IPCQ_FULL_BLOCK), fail (IPCQ_FULL_FAIL), or drop
 * the oldest message (IPCQ_FULL_DROP_OLDEST; while the oldest is still
 * being written or read it waits for that as @timeout_ns allows, and with
 * IPCQ_NOWAIT returns -EAGAIN; a claim on it of a consumer that died is
 * taken over and dropped, counted, once a grace period).  The hot path takes no lock
 * and makes no system call.
 *
 * Errors: -EPERM not attached as producer, -EMSGSIZE @len > max_msg_size,
 * -EINVAL @data NULL with @len > 0, -EAGAIN full and IPCQ_NOWAIT (or
 * IPCQ_FULL_FAIL), -ETIMEDOUT still full after @timeout_ns, -EINTR a
 * signal interrupted a sleep, -EBADMSG the segment's cursors are corrupt,
 * -EOVERFLOW a named producer whose last accepted sequence is 2^56 - 1
 * (its numbers are used up).
 * On any error nothing was enqueued.
 * Blocks only as @timeout_ns allows.  See the synchronization table.
 */
IPCQ_API int ipcq_send(struct ipcq *q, const void *data, size_t len,
		       int64_t timeout_ns);

/** Options of one send (ipcq_send_ex()); start from IPCQ_SEND_OPTS_INIT. */
struct ipcq_send_opts {
	uint32_t size;      /**< sizeof(struct ipcq_send_opts) */
	uint32_t flags;     /**< IPCQ_SEND_F_KEY, IPCQ_SEND_F_SEQ, or 0 */
	/** Time to live in nanoseconds, 1..2^31 ms; 0: the queue's ttl_ms.
	 *  The queue must have IPCQ_CF_EXPIRY. */
	int64_t ttl_ns;
	/** With IPCQ_SEND_F_KEY: the message's key (any value; an account or
	 *  an instrument).  The queue must have IPCQ_CF_KEYED. */
	uint64_t key;
	/** The message's priority lane, 0 (the lowest, the default) to
	 *  ipcq_config.priorities - 1 (the highest). */
	uint32_t priority;
	uint32_t reserved32;  /**< must be zero */
	/** With IPCQ_SEND_F_SEQ: the sequence number, as ipcq_send_seq()'s
	 *  (a named producer; 1 to 2^56 - 1). */
	uint64_t seq;
	uint64_t reserved[3]; /**< must be zero */
};

/** Send option flag: the message has a key (send_opts.key). */
#define IPCQ_SEND_F_KEY 0x1u
/** Send option flag: the application's own sequence number (send_opts.seq),
 *  as ipcq_send_seq(): a named producer's message with a time to live, a
 *  key or a priority. */
#define IPCQ_SEND_F_SEQ 0x2u

/** Initializer of struct ipcq_send_opts: no option. */
#define IPCQ_SEND_OPTS_INIT { sizeof(struct ipcq_send_opts), 0u, 0, 0, 0u, 0u, 0, { 0, 0, 0 } }

/**
 * ipcq_send_ex - ipcq_send() with options (@opts NULL: none).
 *
 * @opts->ttl_ns: the message is never delivered after that time from now
 * (CLOCK_MONOTONIC): a receive that finds it expired drops it (counted) or
 * moves it to the side ring, as the queue says; neither a restart nor a
 * consumer's death brings it back.
 * @opts->key with IPCQ_SEND_F_KEY: the message's key; in ack mode the
 * messages of one key are delivered one at a time, in order (see
 * IPCQ_CF_KEYED).
 * @opts->priority: the lane, 0..priorities - 1 (ipcq_config.priorities);
 * a receive takes the highest lane first.  When that lane is full, the
 * send waits (or fails, or drops that lane's oldest message) as the
 * handle's full policy says, whatever room the other lanes have.
 * @opts->seq with IPCQ_SEND_F_SEQ: the message's sequence number, as
 * ipcq_send_seq() takes it: a handle attached with IPCQ_ATTACH_DEDUP
 * (-EPERM otherwise), 1 to 2^56 - 1, and a number not above the last
 * one accepted under the name is a duplicate (IPCQ_SEND_DUPLICATE).
 * Returns and errors: as ipcq_send(), and -EINVAL for a bad @opts (size,
 * flags, reserved, a time to live out of range, or one on a queue without
 * IPCQ_CF_EXPIRY, a key on a queue without IPCQ_CF_KEYED, a priority not
 * below the queue's priorities).
 */
IPCQ_API int ipcq_send_ex(struct ipcq *q, const void *data, size_t len,
			  const struct ipcq_send_opts *opts, int64_t timeout_ns);

/** Positive returns of the send calls: accepted, but the queue is above
 *  its high watermark. */
#define IPCQ_SEND_PRESSURE 1
/** Not enqueued: the sequence number was not above the last one accepted
 *  under the producer's name (a replay).  Counted; not an error. */
#define IPCQ_SEND_DUPLICATE 2

/**
 * ipcq_send_seq - enqueue one message of a named producer with the
 * application's own sequence number (an order number, a log offset).
 *
 * @q:          a handle attached with IPCQ_ATTACH_DEDUP.
 * @seq:        1..2^56-1.  Must be above ipcq_last_seq(); gaps are allowed.
 * @data, @len, @timeout_ns: as ipcq_send().
 *
 * Returns 0 or IPCQ_SEND_PRESSURE when enqueued, IPCQ_SEND_DUPLICATE when
 * @seq is not above the last accepted sequence (nothing enqueued, the
 * duplicate is counted).
 * Errors: as ipcq_send(); -EPERM also when the handle has no name
 * (IPCQ_ATTACH_DEDUP), -EINVAL @seq is 0 or 2^56 or more.
 */
IPCQ_API int ipcq_send_seq(struct ipcq *q, uint64_t seq, const void *data, size_t len,
			   int64_t timeout_ns);

/**
 * ipcq_last_seq - the last sequence number the queue accepted under this
 * handle's name (0 if none yet).
 *
 * Right after ipcq_attach() with IPCQ_ATTACH_DEDUP this is where a
 * restarted producer resumes: everything up to it was accepted, nothing
 * after it was.  Errors: -EINVAL, -EPERM not a named producer.
 * Does not block.
 */
IPCQ_API int ipcq_last_seq(struct ipcq *q, uint64_t *seq);

/**
 * ipcq_dedup_remove - retire a producer name from the dedup table.
 *
 * @q:    a writable handle.
 * @name: the producer name.
 *
 * Errors: -EINVAL, -EPERM read-only handle, -ENOENT no such name, -EBUSY
 * a live process holds the name (or this handle does), the -errno of the
 * table lock.  Does not block for long (takes the table's lock, held only
 * by attaches and removals).  May run concurrently with anything.
 */
IPCQ_API int ipcq_dedup_remove(struct ipcq *q, const char *name);

/**
 * ipcq_pressure - is the queue above its high watermark (and not yet back
 * below the low one)?
 *
 * Returns 1 or 0 (always 0 for a queue without watermarks), or -EINVAL.
 * One load of a word that changes only on transitions.  Never blocks.
 * It reports the word as last set: a pressure left by a consumer killed
 * between its claim and its look stays 1 until ipcq_wait_pressure(), a
 * recovery pass (any attach, ipcq_recover()) or ipcq_group_remove()
 * re-evaluates it.
 */
IPCQ_API int ipcq_pressure(struct ipcq *q);

/**
 * ipcq_wait_pressure - wait until the queue is no longer under pressure.
 *
 * @q:          any handle.
 * @timeout_ns: IPCQ_NOWAIT, IPCQ_FOREVER or a timeout.
 *
 * Returns 0 when the pressure is off.  Sleeps on a futex (no spinning);
 * woken by the consumer that brings the depth below the low watermark.
 * Each round, before it sleeps and after each wake (it sleeps at most a
 * grace period), it re-evaluates the depth itself and clears a pressure
 * whose cause is gone (a consumer killed between its claim and its look
 * at the pressure), so it returns 0 once the depth is under the low
 * watermark; IPCQ_NOWAIT does the same check once.  A read-only handle
 * (ipcq_open_readonly()) writes nothing: it neither announces itself to
 * the waker nor clears a stale pressure; it looks again every
 * millisecond instead of sleeping, and returns 0 once a writable handle
 * (a waiter, a consumer, a recovery pass) has cleared it.
 * Errors: -EINVAL, -EAGAIN under pressure and IPCQ_NOWAIT, -ETIMEDOUT,
 * -EINTR.  May run concurrently with anything.
 */
IPCQ_API int ipcq_wait_pressure(struct ipcq *q, int64_t timeout_ns);

/**
 * ipcq_send_batch - enqueue up to @n messages claiming their slots with one
 * atomic operation.
 *
 * @q:          a handle attached as producer.
 * @msgs:       @n messages (data, len).
 * @n:          1 or more; at most capacity messages are taken per call.
 * @timeout_ns: how long to wait for room for the first message.
 *
 * Enqueues as many of msgs[0..n-1], in order, as there is room for, at
 * least one, and returns how many (1..n).  The caller resends the rest.
 * A named producer's batch stops where its sequence numbers end (2^56 - 1).
 *
 * Errors: as ipcq_send(); -EMSGSIZE if any of the first min(n, capacity)
 * messages is too long (then nothing is sent), -EINVAL @n is 0.
 */
IPCQ_API int ipcq_send_batch(struct ipcq *q, const struct ipcq_buf *msgs,
			     unsigned n, int64_t timeout_ns);

/**
 * ipcq_recv - dequeue one message.
 *
 * @q:          a handle attached as consumer.
 * @buf:        where to copy the payload.
 * @cap:        room at @buf in bytes.
 * @info:       receives the message's metadata, or NULL.  NULL is the
 *              fastest receive: the sequence, time and stream live in the
 *              slot's tail, a second cache line for messages over 48 bytes
 *              away from the payload's start (see ipcq(7)).
 * @timeout_ns: IPCQ_NOWAIT, IPCQ_FOREVER or a timeout in nanoseconds.
 *
 * Returns the payload length (>= 0).  When the queue is empty the call
 * waits for a message according to @timeout_ns and the wait strategy.
 *
 * In ack mode (IPCQ_ATTACH_ACK) the message is leased: info->token
 * identifies it for ipcq_ack()/ipcq_nack(), and messages given back by a
 * nack or left by a dead consumer are delivered before new ones.
 * A message that a dead consumer had claimed is delivered again to the
 * next consumer that receives, flagged IPCQ_MSG_REDELIVERED (a consumer
 * that only polls with IPCQ_NOWAIT looks for such messages once in 16
 * empty polls, at most once a grace period).  With
 * IPCQ_ATTACH_LATE_RELEASE the call first releases what the handle's last
 * receive kept, and returns before it releases this message's slot.
 *
 * Errors: -EPERM not attached as consumer, -ENOBUFS @cap is smaller than
 * the next message (the message stays queued, untouched, and info->len
 * says how much room it needs), -EINVAL @buf NULL with @cap > 0,
 * -EAGAIN empty and IPCQ_NOWAIT, -ETIMEDOUT still empty after
 * @timeout_ns, -EINTR a signal interrupted a sleep, -EBUSY (ack mode) the
 * handle holds prefetch unacknowledged messages, or holds at least one
 * and the lease pool has no free entry: ack or nack first (a handle that
 * holds none waits instead, as for an empty queue, until an entry is
 * freed or a message given back falls due), -EBADMSG a slot or lease held an
 * impossible length (above max_msg_size: only a corrupt segment has one;
 * that message is dropped, its slot or lease released, and the next call
 * gets the message after it).
 */
IPCQ_API int ipcq_recv(struct ipcq *q, void *buf, size_t cap,
		       struct ipcq_msginfo *info, int64_t timeout_ns);

/**
 * ipcq_recv_batch - dequeue up to @n messages with one atomic claim.
 *
 * @q:          a handle attached as consumer.
 * @msgs:       @n buffers; on entry msgs[i].len is the room at
 *              msgs[i].data, on return the payload length.
 * @infos:      @n metadata records, or NULL.
 * @n:          1 or more; at most capacity messages are taken per call.
 * @timeout_ns: how long to wait for the first message.
 *
 * Returns how many messages were received (1..n), in queue order.  Takes
 * the longest run of ready messages that fit their buffers.  In ack mode
 * it receives one message per call (returns 1).
 *
 * Errors: as ipcq_recv(); -ENOBUFS when the first message does not fit
 * msgs[0] (infos[0].len, if given, says the needed room); -EBADMSG as
 * ipcq_recv(), where a corrupt message taken with others (its length
 * changed after the claim) drops the whole claim with it.
 */
IPCQ_API int ipcq_recv_batch(struct ipcq *q, struct ipcq_buf *msgs,
			     struct ipcq_msginfo *infos, unsigned n,
			     int64_t timeout_ns);

/* ------------------------------------------------------------------ */
/* Zero copy                                                           */
/* ------------------------------------------------------------------ */

/**
 * ipcq_reserve - claim up to @n slots to write messages in place.
 *
 * @q:          a handle attached as producer, with no reservation open.
 * @n:          1 or more (at most capacity are taken).
 * @bufs:       receives @n pointers; bufs[i] is max_msg_size bytes of the
 *              i-th reserved slot, to be written before ipcq_commit().
 * @timeout_ns: how long to wait for room for the first slot.
 *
 * Returns how many slots were reserved (1..n), all with one atomic claim.
 * Nothing is visible to consumers until ipcq_commit().  A reservation held
 * by a process that dies is recovered like any claim: the slots are passed
 * over, and the messages were never sent.  The full policy applies as for
 * ipcq_send() (drop-oldest included).  While a reservation is open, the
 * copying sends of this handle fail with -EALREADY (per-producer order and
 * crash recovery depend on one claim at a time); ipcq_detach() and
 * ipcq_close() give an open reservation up.
 * Errors: as ipcq_send_batch(); -EALREADY a reservation is open.
 */
IPCQ_API int ipcq_reserve(struct ipcq *q, unsigned n, void **bufs, int64_t timeout_ns);

/**
 * ipcq_commit - publish reserved slots.
 *
 * @q:    the handle with an open reservation of k slots.
 * @lens: payload lengths of the first @n slots (each <= max_msg_size).
 * @n:    0..k: slots n..k-1 are given up (consumers pass them).
 *
 * Returns 0, or IPCQ_SEND_PRESSURE above the high watermark.  A named
 * producer's messages get the name's next sequence numbers.
 * Errors: -EINVAL no reservation open, @n > k, or a length too large (the
 * reservation stays open).
 */
IPCQ_API int ipcq_commit(struct ipcq *q, const size_t *lens, unsigned n);

/** A message read in place by ipcq_peek(). */
struct ipcq_zmsg {
	const void *data;          /**< the payload, inside the queue */
	size_t len;                /**< payload length */
	struct ipcq_msginfo info;  /**< as ipcq_recv() fills it */
};

/**
 * ipcq_peek - claim up to @n messages and read them in place.
 *
 * @q:          a handle attached as consumer, with nothing peeked.
 * @msgs:       receives up to @n messages; data points into the queue and
 *              stays valid until ipcq_release() (fast mode) or until the
 *              message is acked or nacked (ack mode).
 * @n:          1 or more; ack mode takes one message per call.
 * @timeout_ns: how long to wait for the first message.
 *
 * Returns how many messages were claimed (1..n), in queue order.  In fast
 * mode the slots stay claimed (producers cannot reuse them) until
 * ipcq_release(); a consumer that dies meanwhile has its messages delivered
 * again, as with ipcq_recv().  In ack mode the message is leased as by
 * ipcq_recv() and data points into its lease.  While messages are peeked,
 * the copying receives of this handle fail with -EALREADY; ipcq_detach()
 * and ipcq_close() release them.
 * Errors: as ipcq_recv_batch() (no -ENOBUFS; after -EBADMSG nothing is
 * peeked: the claim's messages were dropped); -EALREADY messages are still
 * peeked.
 */
IPCQ_API int ipcq_peek(struct ipcq *q, struct ipcq_zmsg *msgs, unsigned n,
		       int64_t timeout_ns);

/**
 * ipcq_release - give back the slots of the last ipcq_peek(), or of the
 * last receive of a handle attached with IPCQ_ATTACH_LATE_RELEASE.
 *
 * Fast mode: frees the slots for producers; the data pointers become
 * invalid.  Ack mode: nothing to do (ack or nack each message); returns 0.
 * Late release: frees the slots the last ipcq_recv() or ipcq_recv_batch()
 * kept (the next receive would have); returns 0.  Does not block.
 * Errors: -EINVAL nothing peeked or kept.
 */
IPCQ_API int ipcq_release(struct ipcq *q);

/* ------------------------------------------------------------------ */
/* Ack mode                                                            */
/* ------------------------------------------------------------------ */

/**
 * ipcq_ack - the message of @token is processed: free its lease.
 *
 * @q:     the handle (attached with IPCQ_ATTACH_ACK) that received it.
 * @token: msginfo.token of that receive.
 *
 * Errors: -EPERM not an ack-mode consumer, -ESTALE the token is not a lease
 * this handle holds (already acked or nacked, or from another handle).
 * Does not block.  Same thread rules as ipcq_recv().
 */
IPCQ_API int ipcq_ack(struct ipcq *q, uint64_t token);

/** What ipcq_nack() does with the message. */
enum ipcq_nack_action {
	/** Deliver it again (to any consumer), or quarantine it in the side
	 *  ring if it has had max_deliveries. */
	IPCQ_NACK_REQUEUE = 0,
	/** Move it to the side ring now, reason IPCQ_REASON_NACKED. */
	IPCQ_NACK_POISON = 1,
};

/**
 * ipcq_nack - give back the message of @token unprocessed.
 *
 * @q:      the ack-mode handle that received it.
 * @token:  msginfo.token.
 * @action: enum ipcq_nack_action.
 *
 * Returns 0 when requeued, 1 when the message went to the side ring.
 * Errors: -EPERM not an ack-mode consumer, -ESTALE not a lease of this
 * handle, -EINVAL bad action, -ENOSPC the side ring is full or absent (the
 * message stays leased to this handle, nothing is lost, the event is
 * counted): purge or replay the side ring, then nack again.
 * A requeued message waits out the queue's retry backoff (retry_base_us,
 * retry_factor, retry_max_us of struct ipcq_config) before it is
 * delivered again; the other messages flow meanwhile.
 * Does not block.
 */
IPCQ_API int ipcq_nack(struct ipcq *q, uint64_t token, unsigned action);

/**
 * ipcq_nack_delay - give back the message of @token, to be delivered again
 * (to any consumer) not before @delay_ns nanoseconds from now.
 *
 * @q:        the ack-mode handle that received it.
 * @token:    msginfo.token.
 * @delay_ns: 0..3600 s in nanoseconds; 0 requeues at once (no backoff).
 *
 * The not-before time lives in the message's lease entry, so it holds
 * whoever receives next and whatever dies meanwhile: a consumer that
 * receives before that time gets other messages or waits.  A message that
 * has had max_deliveries goes to the side ring instead (as ipcq_nack()).
 * Returns 0 when requeued, 1 when the message went to the side ring.
 * Errors: as ipcq_nack(), and -EINVAL for a delay out of range.
 * Does not block.
 */
IPCQ_API int ipcq_nack_delay(struct ipcq *q, uint64_t token, int64_t delay_ns);

/** Longest delay of ipcq_nack_delay() and of the retry backoff: an hour. */
#define IPCQ_RETRY_MAX_NS (3600ull * 1000000000ull)

/* ------------------------------------------------------------------ */
/* Crash recovery                                                      */
/* ------------------------------------------------------------------ */

/** What a recovery pass found and did. */
struct ipcq_recovery {
	uint32_t size;              /**< sizeof(struct ipcq_recovery), set by the caller */
	uint32_t dead;              /**< dead participants that had work to take over */
	uint64_t skipped;           /**< slots claimed by dead producers, passed over (never acknowledged to the sender) */
	uint64_t redelivered;       /**< messages claimed by dead consumers or leased to them, made deliverable again */
	uint64_t completed;         /**< half-done moves of dead participants finished (lease or side ring already had the message) */
	uint64_t poisoned;          /**< messages moved to the side ring (too many deliveries) */
	uint64_t freed;             /**< lease and side-ring entries left half-written by the dead, freed */
	uint64_t pending;           /**< work of the dead still waiting (a consumer must adopt it, or the side ring is full) */
	uint64_t reserved[4];
};

/**
 * ipcq_recover - take over the unfinished work of dead participants, now.
 *
 * @q:      any writable handle (attached or not).
 * @report: filled with what was done, or NULL; set report->size first.
 *
 * Recovery also runs by itself: when a waiter finds a slot stuck past the
 * grace period, and when a handle attaches.  Only the work of participants
 * whose liveness lock is free (the process is gone) is taken over; a live
 * participant, however slow, is waited for.  A message a dead consumer had
 * claimed but not finished is delivered again by the next consumer that
 * receives (delivery count raised, IPCQ_MSG_REDELIVERED); this call alone
 * does not deliver it, and counts it as pending until a consumer does.
 *
 * On an unattached handle the call attaches as a producer for its
 * duration (takeovers name their new owner), and the recovery that attach
 * does is part of the report.
 *
 * Returns the number of actions taken (>= 0).  Errors: -EINVAL, -EPERM a
 * read-only handle, -ENOMEM, and the errors of ipcq_attach() for the
 * temporary attach (-EUSERS, -ENOLCK, ...).  Does not block.  May run
 * concurrently with anything.
 */
IPCQ_API int ipcq_recover(struct ipcq *q, struct ipcq_recovery *report);

/* ------------------------------------------------------------------ */
/* The poison side ring                                                */
/* ------------------------------------------------------------------ */

/** Why a message is in the side ring. */
enum ipcq_reason {
	IPCQ_REASON_NACKED = 1,          /**< a consumer nacked it as poison */
	IPCQ_REASON_MAX_DELIVERIES = 2,  /**< given back (nacked for requeue, or left at a detach) after max_deliveries */
	IPCQ_REASON_CONSUMER_CRASHED = 3,/**< its consumers died holding it, max_deliveries times */
	IPCQ_REASON_EXPIRED = 4,         /**< its time to live passed (IPCQ_CF_EXPIRED_TO_SIDE) */
	IPCQ_REASON_REFUSED = 5,         /**< its producer refused it (ipcq_poison_put()) */
	IPCQ_REASON_TOO_LARGE = 6,       /**< larger than max_msg_size, kept cut to it (ipcq_poison_put()) */
};

/** One side-ring entry, as ipcq_poison_list() reports it. */
struct ipcq_poison {
	uint64_t id;            /**< unique, increasing with the time of arrival */
	uint64_t len;           /**< payload bytes */
	uint64_t seq;           /**< the producer's sequence number */
	uint64_t first_ns;      /**< enqueue time (CLOCK_MONOTONIC_COARSE) */
	uint64_t last_ns;       /**< time it entered the side ring (CLOCK_MONOTONIC_COARSE) */
	uint32_t producer;      /**< participant index of its producer */
	uint32_t deliveries;    /**< deliveries it had */
	uint32_t reason;        /**< enum ipcq_reason */
	uint32_t last_consumer; /**< participant index of the last consumer that had it */
	uint32_t last_consumer_pid;
	uint32_t stream;        /**< named producer's dedup index + 1, or 0 */
	/** A queue with groups: the group it was taken from, index + 1 (the
	 *  other groups received it as usual); 0 for a queue without groups,
	 *  a message put there by its producer (ipcq_poison_put()), or once
	 *  that group was removed and another made at its index (a replay
	 *  then goes to every group). */
	uint32_t group;
	/** A queue with priorities: the lane it came from, where
	 *  ipcq_poison_replay() puts it back; 0 otherwise (and for a message
	 *  put there by ipcq_poison_put()). */
	uint32_t priority;
};

/** Every entry, for ipcq_poison_replay() and ipcq_poison_purge(). */
#define IPCQ_POISON_ALL UINT64_MAX

/**
 * ipcq_poison_list - list side-ring entries, oldest first.
 *
 * @q:     any handle (read-only ones too).
 * @after: list entries whose id is greater than this (0 for the start).
 * @out:   room for @n entries.
 * @n:     entries wanted.
 *
 * Returns how many were written (0 when none is left).  Iterate by passing
 * the last id returned as @after.  Reads only.
 * Errors: -EINVAL.  Does not block.
 */
IPCQ_API int ipcq_poison_list(struct ipcq *q, uint64_t after, struct ipcq_poison *out,
			      unsigned n);

/**
 * ipcq_poison_peek - copy one side-ring entry's payload.
 *
 * @q:    any handle (read-only ones too).
 * @id:   the entry, from ipcq_poison_list().
 * @buf:  where to copy the payload.
 * @cap:  room at @buf.
 * @info: receives the entry's metadata, or NULL.
 *
 * Returns the payload length.  Errors: -EINVAL, -ENOENT no entry with that
 * id (purged or replayed meanwhile), -ENOBUFS @cap too small (info->len, if
 * given, says how much is needed).  Reads only; does not block; may run
 * concurrently with anything.
 */
IPCQ_API int ipcq_poison_peek(struct ipcq *q, uint64_t id, void *buf, size_t cap,
			      struct ipcq_poison *info);

/**
 * ipcq_poison_replay - put side-ring entries back into the main ring.
 *
 * @q:  a writable handle (attached or not).
 * @id: one entry, or IPCQ_POISON_ALL.
 *
 * Each replayed message keeps its producer and sequence, gets its delivery
 * count reset, and is flagged IPCQ_MSG_REPLAYED.  On a queue with
 * consumer groups it goes back to the group it was taken from only
 * (ipcq_poison.group; the other groups had it), or to every group if that
 * one was removed meanwhile.  On a queue with priority lanes it goes back
 * to its lane.  A side entry keeps no key: on a keyed queue
 * (IPCQ_CF_KEYED) a replayed message has none (IPCQ_MSG_KEYED clear), and
 * is delivered without waiting for the messages of its old key.  Replay
 * stops at the first entry for which the main ring has no room.  If the replaying
 * process dies in the middle, an entry may be delivered twice (at least
 * once, never lost), the second time flagged as a redelivery.
 *
 * An entry whose mover has not yet freed the message's source is not
 * replayed yet: the consumer that nacked it to poison, quarantined it or
 * found it expired still holds its lease or ring slot.  A mover that died
 * there has its source freed first, by a recovery pass, and the entry is
 * then replayed.  A live mover's entry is passed over by IPCQ_POISON_ALL
 * (it stays listed: call again) and refused for its id.
 *
 * On an unattached handle the call attaches as a producer for its
 * duration.
 *
 * Returns how many entries were replayed.  Errors: -EINVAL, -EPERM
 * read-only handle, -ENOENT no such entry, -EMSGSIZE the entry holds a
 * message cut to max_msg_size (IPCQ_REASON_TOO_LARGE, which IPCQ_POISON_ALL
 * passes over), -EAGAIN the main ring is full (nothing replayed), -EBUSY
 * a sole producer (IPCQ_ATTACH_SOLE) is attached and @q is not it (replay
 * through the sole producer's handle, or once it has detached),
 * -EINPROGRESS the entry's mover has not yet freed its source (try again
 * shortly), -EALREADY a reservation is open on @q (ipcq_reserve(): commit
 * it first; the replay would claim through the record that covers it),
 * and the errors of the temporary ipcq_attach().
 * Does not block.
 */
IPCQ_API int ipcq_poison_replay(struct ipcq *q, uint64_t id);

/**
 * ipcq_poison_purge - delete side-ring entries.
 *
 * @q:  a writable handle (attached or not).
 * @id: one entry, or IPCQ_POISON_ALL.
 *
 * An entry whose mover has not yet freed the message's source is not
 * deleted yet, as in ipcq_poison_replay(): a dead mover's source is freed
 * first (the message is then gone for good); a live mover's entry is
 * passed over by IPCQ_POISON_ALL (it stays listed) and refused for its
 * id.  On an unattached handle the call attaches as a producer for its
 * duration (freeing a dead mover's lease takes it over, which names its
 * new owner).
 *
 * Returns how many were deleted.  Errors: -EINVAL, -EPERM read-only handle,
 * -ENOENT no such entry, -EINPROGRESS the entry's mover has not yet freed
 * its source (try again shortly), and the errors of the temporary
 * ipcq_attach().  Does not block.
 */
IPCQ_API int ipcq_poison_purge(struct ipcq *q, uint64_t id);

/**
 * ipcq_poison_put - put a producer's own message straight into the side ring.
 *
 * @q:          a handle attached as a producer.
 * @data:       the payload (NULL only when @len is 0).
 * @len:        its length.
 * @reason:     IPCQ_REASON_REFUSED (the producer will not send it: for
 *              instance another system gave it up after too many
 *              deliveries), IPCQ_REASON_MAX_DELIVERIES, IPCQ_REASON_NACKED,
 *              or IPCQ_REASON_TOO_LARGE (@len is over max_msg_size).
 * @seq:        the producer sequence the entry records (for a named
 *              producer, typically the one ipcq_send_seq() would have
 *              used; 0 when there is none).
 * @deliveries: deliveries the message had before (recorded, saturated at
 *              255).
 *
 * For a message the queue cannot or must not deliver but that should not
 * be lost: it never enters the main ring.  The entry's producer and stream
 * are the caller's (a named producer's entry carries its name's stream);
 * its last consumer is the caller, its first_ns and last_ns the time of
 * the call.
 *
 * A payload over max_msg_size cannot fit an entry: with
 * IPCQ_REASON_TOO_LARGE its first max_msg_size bytes are kept (the entry's
 * len is max_msg_size), and the entry can be listed, peeked and purged but
 * not replayed (ipcq_poison_replay() of its id: -EMSGSIZE; of
 * IPCQ_POISON_ALL: passed over).  With any other reason it is refused.
 *
 * Crash safety: an entry is complete or absent.  A producer killed during
 * the call leaves at most a half-written entry, which recovery frees; one
 * killed after it but before it recorded its own progress may put the
 * same message again: check ipcq_poison_list() for an entry of the same
 * stream and sequence first where that matters.
 *
 * Returns 0.  Errors: -EINVAL @q NULL, @data NULL with @len, or @reason
 * not one of the above; -EPERM not attached as a producer, or a read-only
 * handle; -EMSGSIZE @len over max_msg_size and @reason not
 * IPCQ_REASON_TOO_LARGE; -ENOSPC the side ring is full or the queue has
 * none (counted in side_full).  Does not block.  May run concurrently
 * with any call on other handles; on the same handle, as ipcq_send().
 */
IPCQ_API int ipcq_poison_put(struct ipcq *q, const void *data, size_t len, unsigned reason,
			     uint64_t seq, uint32_t deliveries);

/* ------------------------------------------------------------------ */
/* Inspection                                                          */
/* ------------------------------------------------------------------ */

/** A queue's shape and state, filled by ipcq_info(). */
struct ipcq_info {
	uint32_t size;              /**< sizeof(struct ipcq_info), set by the caller */
	uint32_t capacity;          /**< slots */
	uint32_t max_msg_size;      /**< bytes */
	uint32_t slot_size;         /**< bytes per slot, header included */
	uint32_t max_participants;  /**< participant table size */
	uint32_t participants;      /**< entries held by live processes */
	uint32_t wait_strategy;     /**< queue default */
	uint32_t mode;              /**< permission bits of the segment file now */
	uint64_t segment_size;      /**< bytes */
	uint64_t enqueued;          /**< positions claimed by producers so far */
	uint64_t dequeued;          /**< positions claimed by consumers so far */
	uint64_t depth;             /**< enqueued - dequeued: messages waiting or being written */
	uint64_t created_ns;        /**< CLOCK_REALTIME at creation */
	int32_t participant_index;  /**< this handle's entry, -1 if not attached */
	uint32_t side_capacity;     /**< side-ring entries */
	uint32_t side_depth;        /**< side-ring entries in use */
	uint32_t lease_capacity;    /**< lease-pool entries */
	uint32_t leased;            /**< messages held by ack-mode consumers */
	uint32_t redeliverable;     /**< messages waiting to be delivered again */
	uint32_t max_deliveries;
	uint32_t grace_us;
	uint32_t pressure;          /**< 1 while above the high watermark */
	uint32_t high_watermark;
	uint32_t low_watermark;
	uint32_t dedup_capacity;
	uint32_t dedup_names;       /**< names in the dedup table */
	uint32_t delayed;           /**< of redeliverable: waiting for their not-before time */
	uint32_t retry_base_us;     /**< retry backoff (struct ipcq_config) */
	uint32_t retry_max_us;
	uint32_t max_groups;        /**< room for consumer groups; 0: a queue without groups */
	uint32_t groups;            /**< groups that exist (durable and lossy) */
	uint32_t key_waiting;       /**< of redeliverable: waiting for the message before them of their key (IPCQ_CF_KEYED) */
	uint32_t flags;             /**< IPCQ_CF_* the queue was created with */
	uint32_t priorities;        /**< priority lanes (1: a queue without priorities) */
	uint32_t priority_share;    /**< starvation guard, percent (ipcq_config.priority_share) */
	/** Per lane (index = priority, the first priorities entries): positions
	 *  claimed by producers and by consumers; a lane's depth is the
	 *  difference.  enqueued, dequeued and depth above are the sums. */
	uint64_t lane_enqueued[IPCQ_PRIORITIES_MAX];
	uint64_t lane_dequeued[IPCQ_PRIORITIES_MAX];
};

/**
 * ipcq_info - read a queue's shape and current state.
 *
 * @q:    any handle.
 * @info: filled; set info->size = sizeof(*info) first.
 *
 * Reads only; never writes to the segment.  Figures are a snapshot of
 * values that other processes keep changing.  Reads with pread(), never
 * through the mapping, so a segment file shrunk under the handle is an
 * error here, not a SIGBUS (see ipcq(7)).
 * Errors: -EINVAL NULL argument or info->size too small, -EBADMSG the
 * segment file was truncated under the handle, or the -errno of pread().
 * Does not block; may run concurrently with anything.
 */
IPCQ_API int ipcq_info(struct ipcq *q, struct ipcq_info *info);

/* ------------------------------------------------------------------ */
/* Monitoring                                                          */
/* ------------------------------------------------------------------ */

/**
 * ipcq_open_readonly - open a queue for monitoring.
 *
 * Like ipcq_open(), with a read-only descriptor and a read-only mapping:
 * the handle can read everything (ipcq_info, ipcq_stats, the side ring)
 * and can change nothing, so a monitor can never corrupt a queue, and it
 * needs only read permission.  attach, send, recv, recover, replay and
 * purge fail with -EPERM on it.  Another user's segment is refused as by
 * ipcq_open(); ipcq_open_flags(name, IPCQ_OPEN_READONLY |
 * IPCQ_OPEN_ANY_OWNER, &q) opens it.
 * Errors: as ipcq_open().
 */
IPCQ_API int ipcq_open_readonly(const char *name, struct ipcq **out);

/**
 * ipcq_list - the queues on this machine.
 *
 * @cb:  called with each queue name (the part after "ipcq." in /dev/shm);
 *       a non-zero return stops the listing and is returned.
 * @arg: passed to @cb.
 *
 * Returns 0 (or @cb's non-zero value).  Errors: -EINVAL, or the -errno of
 * reading /dev/shm.  Names that are not valid queue names are skipped.
 */
IPCQ_API int ipcq_list(int (*cb)(const char *name, void *arg), void *arg);

/** One participant's figures, from ipcq_stats(). */
struct ipcq_participant_stats {
	uint32_t index;          /**< entry in the participant table */
	uint32_t roles;          /**< IPCQ_ROLE_* */
	uint32_t flags;          /**< IPCQ_ATTACH_* */
	uint32_t alive;          /**< 1 while its process holds its liveness lock */
	uint32_t pid;            /**< for people; never used for decisions */
	uint32_t stream;         /**< dedup index + 1 of the name it holds, 0 none */
	char name[48];           /**< participant (and producer) name */
	uint64_t attach_ns;      /**< CLOCK_REALTIME */
	uint64_t sent, sent_bytes, send_calls;
	uint64_t received, received_bytes, recv_calls;
	uint64_t full;           /**< sends that found the ring full */
	uint64_t empty;          /**< receives that found it empty */
	uint64_t blocked_ns;     /**< time spent waiting in blocking calls (a wait
				  *  of a few µs is timed with the coarse clock:
				  *  right on average over many, not one by one) */
	uint64_t sleeps, wakes;  /**< futex sleeps and wakes */
	uint64_t acks;           /**< messages it acknowledged */
	uint64_t nacks;          /**< messages it gave back or quarantined by ipcq_nack() (a nack refused, -ENOSPC, is not one) */
	uint64_t redeliveries;   /**< messages it received again */
	uint64_t poisoned;       /**< messages it moved to the side ring */
	uint64_t recoveries;     /**< recovery actions it performed */
	uint64_t side_full;      /**< side-ring moves refused */
	uint64_t duplicates;     /**< sends dropped as duplicates */
	uint64_t dropped;        /**< messages discarded by drop-oldest */
	uint64_t pressure_on, pressure_off; /**< transitions it made */
	/** A consumer of a queue with groups: its group's index + 1, 0 none. */
	uint32_t group;
	uint32_t reserved32;
	uint64_t reserved[5];
};

/** A queue's figures, from ipcq_stats(). */
struct ipcq_stats {
	uint32_t size;           /**< sizeof(struct ipcq_stats), set by the caller */
	uint32_t participants;   /**< entries in use (alive or with unfinished work) */
	struct ipcq_info info;   /**< as ipcq_info() (info.size is set for you) */
	uint64_t now_ns;         /**< CLOCK_MONOTONIC_COARSE when taken */
	uint64_t oldest_ns;      /**< enqueue time of the oldest waiting message (over every
				  *   priority lane), 0 if none */
	uint64_t recoveries, skipped, redelivered, completed, poisoned, freed;
	uint64_t side_full;      /**< moves to the side ring refused (full or absent), each counted once */
	uint64_t takeovers;      /**< producer names taken over from the dead */
	uint32_t side_by_reason[4]; /**< side-ring entries by enum ipcq_reason (index 0 unused) */
	int32_t numa_node;       /**< node asked for at create (IPCQ_NUMA_ANY: none) */
	uint32_t side_expired;   /**< side-ring entries of reason IPCQ_REASON_EXPIRED */
	uint64_t expired;        /**< messages that expired: dropped, or moved to the side ring */
	uint32_t side_refused;   /**< side-ring entries of reason IPCQ_REASON_REFUSED */
	uint32_t side_too_large; /**< side-ring entries of reason IPCQ_REASON_TOO_LARGE */
	uint64_t reserved[6];
};

/**
 * ipcq_stats - a snapshot of a queue and of every participant.
 *
 * @q:      any handle, read-only ones included.
 * @st:     filled; set st->size = sizeof(*st) first.
 * @parts:  room for @nparts participant records, or NULL.
 * @nparts: size of @parts.
 *
 * Reads only: never writes to the segment, so it may run at any rate
 * beside a busy queue.  Attached participants are listed, alive or dead
 * (a process that died attached), up to @nparts; st->participants counts
 * them all.  Returns how many records were written to @parts.  Reads
 * with pread(), as ipcq_info() does: a segment file shrunk under the
 * handle is -EBADMSG, not a SIGBUS.
 * Errors: -EINVAL, -EBADMSG the segment file was truncated under the
 * handle, or the -errno of pread().  Does not block.
 */
IPCQ_API int ipcq_stats(struct ipcq *q, struct ipcq_stats *st,
			struct ipcq_participant_stats *parts, unsigned nparts);

/* ------------------------------------------------------------------ */
/* Application counters                                                */
/* ------------------------------------------------------------------ */

/*
 * Each participant entry has room for a few named 64-bit values that the
 * process holding it defines and sets: what it does besides sending and
 * receiving (a bridge's messages in flight and acknowledged, a worker's
 * jobs done, the latency of its last call elsewhere).  Monitors read them
 * with ipcq_app_counters(), beside ipcq_stats()' participant records;
 * ipcq-stat shows them in its text, JSON and Prometheus outputs.
 */

/** Application counters per participant. */
#define IPCQ_APP_COUNTERS 8
/** Longest application counter name, without the terminating NUL. */
#define IPCQ_APP_COUNTER_NAME_MAX 15

/**
 * ipcq_app_counter_set - set one application counter of this handle's
 * participant entry.
 *
 * @q:     an attached handle.
 * @i:     the counter, 0..IPCQ_APP_COUNTERS-1.
 * @name:  its name: 1..IPCQ_APP_COUNTER_NAME_MAX characters of [a-z0-9_]
 *         starting with a letter (usable as they are as JSON keys and
 *         Prometheus label values); or NULL to keep the name it has.
 * @value: its value (a count or a gauge: the library does not care).
 *
 * An attach starts with every counter unnamed and 0; an unnamed counter is
 * not reported.  A monitor sees each value whole, never torn; a name is a
 * few plain stores, so give it once (the first call) rather than on every
 * update.  The value is one relaxed store to the entry's own cache line:
 * no system call, no lock.
 *
 * Errors: -EINVAL @q NULL, @i out of range, or a bad @name; -EPERM @q is
 * not attached.  Never blocks.  Any thread of the process may call it, at
 * once with anything but ipcq_attach(), ipcq_detach() and ipcq_close() on
 * @q; two threads setting the same counter leave one of the two values.
 */
IPCQ_API int ipcq_app_counter_set(struct ipcq *q, unsigned i, const char *name, uint64_t value);

/** One named application counter, as ipcq_app_counters() reports it. */
struct ipcq_app_counter {
	char name[IPCQ_APP_COUNTER_NAME_MAX + 1]; /**< NUL-terminated */
	uint32_t index;   /**< the counter's number, 0..IPCQ_APP_COUNTERS-1 */
	uint32_t reserved;
	uint64_t value;
};

/**
 * ipcq_app_counters - read the named application counters of one
 * participant.
 *
 * @q:     any handle, read-only ones included.
 * @index: the participant's entry (struct ipcq_participant_stats.index).
 * @out:   room for @n counters (IPCQ_APP_COUNTERS is always enough).
 * @n:     size of @out.
 *
 * Writes the entry's named counters, in their order, up to @n, and returns
 * how many it wrote: 0 when the entry has none or is not attached.  Names
 * are read from shared memory and checked again: a counter whose name is
 * not of [a-z0-9_] is not reported.  Reads with pread(), like
 * ipcq_stats(), and never writes to the segment.
 * Errors: -EINVAL @q NULL, @out NULL with @n > 0, @index not below the
 * queue's max_participants; -EBADMSG the segment file was truncated under
 * the handle, or the -errno of pread().  Does not block; may run
 * concurrently with anything.
 */
IPCQ_API int ipcq_app_counters(struct ipcq *q, uint32_t index, struct ipcq_app_counter *out,
			       unsigned n);

/** What ipcq_browse() found at a ring position (struct ipcq_slot_view.state). */
enum ipcq_slot_state {
	IPCQ_SLOT_EMPTY = 0,   /**< no message yet: no producer has claimed the position */
	IPCQ_SLOT_WRITING = 1, /**< claimed by a producer that has not published it yet */
	IPCQ_SLOT_READY = 2,   /**< a message waiting for a consumer */
	IPCQ_SLOT_TAKEN = 3,   /**< a message a consumer has claimed and not yet released */
	IPCQ_SLOT_SKIP = 4,    /**< no message: recovery passed over a dead producer's claim */
	IPCQ_SLOT_GONE = 5,    /**< received and released (or the slot reused by a later lap) */
};

/** One ring position, as ipcq_browse() saw it. */
struct ipcq_slot_view {
	uint32_t size;         /**< sizeof(struct ipcq_slot_view), set by the caller */
	uint32_t state;        /**< enum ipcq_slot_state */
	uint64_t pos;          /**< the position asked for */
	/* The fields below are set for IPCQ_SLOT_READY and IPCQ_SLOT_TAKEN only. */
	uint64_t len;          /**< payload length (the whole message, whatever was copied) */
	uint64_t seq;          /**< the producer's sequence number (a named producer's: the name's) */
	uint64_t enqueue_ns;   /**< enqueue time, CLOCK_MONOTONIC_COARSE */
	uint32_t producer;     /**< participant index of the producer */
	uint32_t stream;       /**< named producer's dedup index + 1, 0 for anonymous producers */
	uint32_t deliveries;   /**< deliveries it has had so far (0: never delivered; saturates at 255) */
	uint32_t flags;        /**< IPCQ_MSG_*: REDELIVERED (delivered before), REPLAYED */
	uint32_t adopter;      /**< participant index + 1 of the consumer that adopted it from a dead one, 0 none */
	uint32_t priority;     /**< the lane looked at (ipcq_browse_lane(); 0 for ipcq_browse()) */
	uint64_t reserved[4];
};

/**
 * ipcq_browse - copy the message at a position of the main ring without
 * consuming it (for debugging tools: ipcq-ctl peek and tail).
 *
 * @q:    any handle, read-only ones included; attached or not.
 * @pos:  a ring position.  The messages waiting are at positions
 *        ipcq_info()'s dequeued .. enqueued - 1; positions below dequeued
 *        are being received or gone, positions from enqueued on are not
 *        sent yet.
 * @buf:  where to copy the first bytes of the payload (may be NULL when
 *        @cap is 0: metadata only).
 * @cap:  room at @buf; a longer payload is cut to @cap bytes (view->len
 *        tells the whole length).
 * @view: filled with the state of the position and, when it holds a
 *        message, its metadata; set view->size = sizeof(*view) first.
 *
 * Returns the number of payload bytes copied, min(view->len, @cap), when
 * the slot holds the published message of @pos (IPCQ_SLOT_READY or
 * IPCQ_SLOT_TAKEN).  Reads only: never writes to the segment, takes no
 * lock, claims nothing; producers and consumers never see it.  Reads with
 * pread(), as ipcq_info() does, so a segment file shrunk under the handle
 * is an error, not a SIGBUS.  The slot is copied like a seqlock read: its
 * sequence word before and after the header and payload; a message
 * received and its slot reused meanwhile is reported, not mixed into the
 * copy.  READY or TAKEN, and the figures, are a snapshot: a consumer may
 * take the message the moment after.
 *
 * What @view and @buf hold afterwards: on a return >= 0, view->state is
 * IPCQ_SLOT_READY or IPCQ_SLOT_TAKEN, every field of @view is set, and the
 * first (return value) bytes of @buf are the payload's first bytes.  On
 * -ENOENT, view->state (EMPTY, WRITING, SKIP or GONE) and view->pos are
 * set, the message fields are 0, and @buf's first @cap bytes are
 * unspecified (they may hold a partial copy).  On any other error nothing
 * in @view or @buf means anything: view->state may read IPCQ_SLOT_EMPTY
 * without the position being empty, and with -EINVAL @view may be left
 * as it was.  @buf past @cap is never written.
 *
 * Errors: -EINVAL @q or @view NULL, view->size too small, @buf NULL with
 * @cap > 0; -ENOENT the position holds no message (view->state says why:
 * EMPTY, WRITING, SKIP or GONE); -EAGAIN the slot changed while it was
 * being copied (the message was released or the slot reused): the copy
 * is discarded, call again (a new call usually reports GONE); -EBADMSG the
 * segment file was truncated under the handle, or the slot holds a length
 * above max_msg_size (a corrupt segment); or the -errno of pread().
 * Does not block.  May run concurrently with anything, on any handle.
 */
IPCQ_API int ipcq_browse(struct ipcq *q, uint64_t pos, void *buf, size_t cap,
			 struct ipcq_slot_view *view);

/**
 * ipcq_browse_lane - ipcq_browse() on the ring of priority lane @priority
 * of a queue with priorities (ipcq_config.priorities); ipcq_browse() is
 * lane 0.  The messages waiting in lane p are at positions
 * ipcq_info()'s lane_dequeued[p] .. lane_enqueued[p] - 1.  view->priority
 * says the lane.  Returns, errors and concurrency: as ipcq_browse(), and
 * -EINVAL for a priority not below the queue's priorities.
 */
IPCQ_API int ipcq_browse_lane(struct ipcq *q, uint32_t priority, uint64_t pos, void *buf,
			      size_t cap, struct ipcq_slot_view *view);

/* ------------------------------------------------------------------ */
/* NUMA                                                                */
/* ------------------------------------------------------------------ */

/**
 * ipcq_numa_node - the NUMA node the queue was bound to at creation, or
 * IPCQ_NUMA_ANY when it was not bound.  Errors: -EINVAL.  Reads a copy
 * kept in the handle; may run at any time.
 */
IPCQ_API int ipcq_numa_node(struct ipcq *q);

/**
 * ipcq_numa_placement - where the segment's pages actually are.
 *
 * @q:        any handle.
 * @on_node:  filled with pages[i] = number of the segment's pages on node
 *            i, for i < @nnodes (may be NULL when @nnodes is 0).
 * @nnodes:   size of @on_node.
 * @total:    receives the number of pages examined (or NULL).
 *
 * Asks the kernel (move_pages in query mode) for every page of the
 * mapping.  Returns the number of nodes that hold at least one page.
 * Errors: -EINVAL, -ENOSYS no NUMA support in the kernel.  Takes time in
 * proportion to the segment size; not for hot paths.  Reads only; may run
 * concurrently with anything.
 */
IPCQ_API int ipcq_numa_placement(struct ipcq *q, uint64_t *on_node, unsigned nnodes,
				 uint64_t *total);

/**
 * ipcq_pin_thread - bind the calling thread to the CPUs of the queue's
 * NUMA node (hwloc cpubind).
 *
 * Returns 0.  Errors: -EINVAL, -ENODEV the queue is not bound to a node
 * (IPCQ_NUMA_ANY), -ENOSYS binding not supported here, or the -errno hwloc
 * reported.  Affects the calling thread only; may run at any time.
 */
IPCQ_API int ipcq_pin_thread(struct ipcq *q);

#ifdef __cplusplus
}
#endif

#endif /* IPCQ_H */
