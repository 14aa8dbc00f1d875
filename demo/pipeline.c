/*
 * pipeline.c - the ipcq demo: an order-handling pipeline of processes that
 * keeps its delivery guarantees while workers crash.
 *
 * Topology (every box is a process, every arrow an ipcq queue):
 *
 *                  demo.orders.<pid>                  demo.fills.<pid>
 *   +-----------+                      +----------+
 *   | gateway 0 |--+                +->| worker 0 |--+
 *   +-----------+  |   +--------+   |  +----------+  |   +--------+   +------+
 *        ...       +-->| orders |---+->| worker 1 |--+-->| fills  |-->| sink |
 *   +-----------+  |   +--------+   |  +----------+  |   +--------+   +------+
 *   | gateway G |--+   ack mode     +->| worker W |--+
 *   +-----------+                      +----------+
 *
 *   gateway  makes orders (id, client, side, price, quantity, checksum) and
 *            sends them to "demo.orders.<pid>" as the named producer
 *            "gateway-<g>" (IPCQ_ATTACH_DEDUP), each with its own order
 *            sequence (ipcq_send_seq); it slows down when the queue says it
 *            is under pressure (ipcq_wait_pressure);
 *   worker   takes orders from that queue in ack mode (each order is leased
 *            to exactly one worker at a time), checks the checksum, does the
 *            risk check (notional against a limit), sends a fill record,
 *            accepted or rejected, to "demo.fills.<pid>", and only then
 *            acknowledges the order;
 *   sink     takes every fill and verifies the whole run (see "What is
 *            verified" below);
 *   parent   creates both queues, forks everyone, stages the scenes,
 *            restarts crashed workers and killed gateways, decides the end
 *            of the stream, prints progress from ipcq_info() once a second,
 *            prints the summary with the queues' final ipcq_stats() and
 *            unlinks the queues (not with -k).
 *
 * Ack mode, and why the sink must be idempotent.  A worker attached with
 * IPCQ_ATTACH_ACK holds each order it receives as a lease until it calls
 * ipcq_ack().  If the worker dies first, ipcq gives the order to another
 * worker, flagged IPCQ_MSG_REDELIVERED with its delivery count raised.  So
 * no order is lost to a crash, but one that crashed its worker after the
 * fill went out and before the ack is processed twice: that is
 * at-least-once delivery, and every consumer of such a queue has to cope.
 * Here the worker copies the flag and the delivery count into the fill,
 * and the sink, keyed on the order id, counts a second fill for an order
 * as a "redelivered duplicate" when the fill says its order came back, and
 * as a failure when it does not (ipcq promises redelivery only after a
 * crash or a nack, and always flagged).
 *
 * The scenes (-K, -P, -D and -B turn them off):
 *
 *   kill     the worker whose batch of fills takes the fills sent by all
 *            workers past KILL_AT_PERCENT of the orders parks itself right
 *            after that send, before it acks the batch's orders, and the
 *            parent, waiting for that on a shared word, kills it with
 *            SIGKILL: the worst moment for exactly-once.  Every order of
 *            that batch comes back flagged, its fill is sent again, and
 *            the sink counts the duplicates.  The parent starts a
 *            replacement worker, which opens the queues and attaches
 *            itself.
 *   poison   order POISON_AT_PERCENT% of the way through the ids carries
 *            ORDER_POISON: any worker that processes it calls abort(), as
 *            a consumer would on input that hits a bug.  The parent
 *            restarts each crashed worker; each time ipcq gives the order
 *            to another worker with its delivery count raised, until after
 *            MAX_DELIVERIES deliveries it moves the order to the queue's
 *            poison side ring (reason IPCQ_REASON_CONSUMER_CRASHED) and the
 *            pipeline flows on.  The parent lists the side ring at the end.
 *            A worker handles a redelivered order on its own, with nothing
 *            else leased, so that a poison order cannot drag innocent
 *            orders it shares a batch with to MAX_DELIVERIES crashes.
 *
 *   restart  every gateway, once it has sent RESTART_AT_PERCENT of its
 *            orders, says so on a shared word and goes on sending; the
 *            parent SIGKILLs it, wherever it is by then (inside a send,
 *            between two, asleep waiting for relief), and starts a new
 *            gateway process under the same producer name.  The new one
 *            asks ipcq_last_seq() what the queue accepted last, resends
 *            the REPLAY_ORDERS orders up to it from its log (an order
 *            follows from its id, so the log is the order generator), each
 *            of which must come back IPCQ_SEND_DUPLICATE, and carries on
 *            after it.  No order may reach a worker twice (the sink would
 *            see an unflagged second fill, a worker an id going back) and
 *            none may be missing.  With -g > 1 every gateway is restarted.
 *   pressure the orders queue gets watermarks (high 3/4, low 1/4 of the
 *            ring).  Whenever a send comes back IPCQ_SEND_PRESSURE the
 *            gateway sleeps in ipcq_wait_pressure() until the workers
 *            have brought the depth under the low watermark, instead of
 *            filling the ring.  A slow worker phase makes sure it happens:
 *            when gateway 0 has sent SLOW_AT_PERCENT of its orders the
 *            workers take nothing new, and the parent lets them go on as
 *            soon as a gateway has begun to wait for relief; a count and
 *            an event, no timing.
 *
 *   After each death the parent calls ipcq_recover() and prints what it
 *   did; without that call the work of the dead would still be taken over,
 *   by a worker waiting past the grace period or by the replacement when it
 *   attaches.  Deaths the parent did not stage (any other signal, any
 *   non-zero exit, more SIGABRTs than MAX_DELIVERIES, one by a worker that
 *   did not hold the poison order) fail the run.
 *
 * End of stream: with crashes about, "every order was taken from the
 * ring" no longer means "every order was processed": a worker may die
 * holding leases, and end-of-stream markers sent by the gateways could be
 * among them, travel with the poison order from crash to crash and be
 * quarantined with it.  So the parent decides the end, from facts that
 * crashes cannot undo: every gateway has sent everything, the sink has a
 * fill for every order id but the poison one, the poison order is in the
 * side ring, and the orders queue holds nothing (depth 0, no lease held,
 * none waiting to be redelivered; from here on nobody crashes by design).
 * Then it sends one END marker per worker position; each worker forwards
 * an END to the sink and only then acks its marker (had it died before
 * the forward, its marker would go to another worker), and exits.  The
 * sink stops when it has an END from every position.
 *
 * What is verified (exit status 0 only if all of it holds):
 *  - exactly once: every order id except the poison one reached the sink,
 *    none is unknown, and every second fill for an id came from an order
 *    flagged as redelivered (the poison id never reaches the sink);
 *  - integrity: every order's and every fill's checksum, each fill's
 *    notional and risk verdict recomputed from the order id, and the
 *    redelivered flag agreeing with the delivery count;
 *  - order: ipcq promises per-producer FIFO.  So each worker must see the
 *    first deliveries of one gateway's orders in increasing id order, the
 *    sink must see the fills one worker made of first deliveries in the
 *    order the worker sent them, and the per-producer sequence numbers ipcq
 *    reports must run 1, 2, 3, ... for every worker process without a gap
 *    (redelivered orders come back whenever a crash happens to be found, so
 *    they are exempt from the first two);
 *  - the scenes: the kill happened, and each order of the victim's batch
 *    reached the sink twice, the second time flagged; the poison crashed
 *    at most MAX_DELIVERIES workers, every one of them while holding it,
 *    and the side ring holds exactly that order, for that reason, after
 *    one delivery per crash;
 *  - the restart scene: each gateway was killed and restarted, the queue's
 *    last_seq covered every order the dead gateway had been told was
 *    accepted and at most the one in flight besides, every replayed order
 *    came back a duplicate, and the queue's own duplicate counters agree;
 *    every order reached the workers with its gateway's name (stream) and
 *    its order sequence;
 *  - the pressure scene: the slow phase made a gateway wait for relief,
 *    and no send failed;
 *  - end of stream: one END per position, nothing in the fills queue
 *    after them, and nothing in the orders queue.
 *
 * Monitoring: the demo prints the ipcq-stat command that watches it live
 * (the tool built next to the demo, found through /proc/self/exe).  At
 * the end every child stays attached until the parent has read both
 * queues with ipcq_stats(), so the summary shows each queue's final
 * counters and its participants; those that died during the run are read
 * when the parent reaps them, before anyone can reuse their entries.
 *
 * Robustness: children get SIGKILL if the parent dies (PR_SET_PDEATHSIG);
 * the parent kills everyone when a child dies unexpectedly or when nothing
 * moves for the stall timeout (-t), and unlinks the queues on every path.
 *
 * Usage: ipcq-demo [-n ORDERS] [-w WORKERS] [-g GATEWAYS] [-c CAPACITY]
 *                  [-t STALL_SECONDS] [-K] [-P] [-D] [-B] [-k] [-q]
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ipcq.h"

#define MAX_GATEWAYS 16u
#define MAX_WORKERS 64u          /* worker positions (-w) */
#define MAX_ORDERS 1000000000ull /* the sink's bitmap: 125 MB */
#define BATCH 64u                /* messages per send/recv batch call */

/* Ack mode: how many orders a worker may hold unacknowledged (its batch). */
#define PREFETCH BATCH
/* Deliveries an order gets before ipcq quarantines it (config max_deliveries). */
#define MAX_DELIVERIES 3u
/* Replacement workers a run may start: one for the kill, one per poison crash. */
#define MAX_RESTARTS (1u + MAX_DELIVERIES)
/* Worker processes over a run: the first W, then the replacements. */
#define MAX_SLOTS (MAX_WORKERS + MAX_RESTARTS)

/* When the scenes happen, in percent of the orders. */
#define KILL_AT_PERCENT 30u      /* of the orders, counted in fills sent */
#define POISON_AT_PERCENT 10u    /* of the order ids */
#define RESTART_AT_PERCENT 50u   /* of each gateway's own orders, counted in sends */
#define SLOW_AT_PERCENT 70u      /* of the orders, counted in sends */

/* The restart scene: how many orders a restarted gateway resends from its log. */
#define REPLAY_ORDERS 1000u
/* Backpressure: how long one ipcq_wait_pressure() may sleep before the
 * gateway counts a timeout and waits again (the stall timeout, -t, is
 * what gives up). */
#define RELIEF_TIMEOUT_NS 100000000ll
/* Participant records read by ipcq_stats(): at least max_participants. */
#define MAX_PARTICIPANTS (MAX_GATEWAYS + MAX_WORKERS + 8u)

/* Risk limit: orders whose notional (price x quantity) exceeds it are rejected. */
#define PRICE_SCALE 10000        /* prices are in ticks of 1/10000 */
#define NOTIONAL_LIMIT (100000ll * PRICE_SCALE)

/* ------------------------------------------------------------------ */
/* Messages                                                            */
/* ------------------------------------------------------------------ */

/*
 * Messages are plain fixed-size structs with no implicit padding (the
 * static asserts check it), so their bytes, checksum included, are fully
 * defined.  ipcq copies bytes; it does not care what they mean.
 */
enum msg_type { MSG_ORDER = 1, MSG_FILL = 2, MSG_END = 3 };
enum side { SIDE_BUY = 1, SIDE_SELL = 2 };
enum fill_status { FILL_ACCEPTED = 1, FILL_REJECTED = 2 };

/* Order flags.  A poison order stands for the input that hits a bug in a
 * real consumer: whoever processes it crashes. */
#define ORDER_POISON 0x1u
/* Fill flags: the order came with IPCQ_MSG_REDELIVERED. */
#define FILL_REDELIVERED 0x1u

struct order {
	uint32_t type;       /* MSG_ORDER, or MSG_END (from the parent) */
	uint32_t gateway;    /* which gateway sent it (0 for an END) */
	uint64_t order_id;   /* 0 .. n-1, unique over all gateways */
	uint32_t client_id;
	uint32_t side;       /* enum side */
	int64_t price;       /* ticks of 1/PRICE_SCALE */
	uint32_t quantity;
	uint32_t flags;      /* ORDER_POISON or 0 */
	uint64_t sent_ns;    /* CLOCK_MONOTONIC when the gateway sent it */
	uint64_t checksum;   /* of every byte before this field */
};

struct fill {
	uint32_t type;       /* MSG_FILL, or MSG_END when the worker stops */
	uint32_t worker;     /* which worker process (slot) made it */
	uint64_t order_id;   /* MSG_END: the worker's position instead */
	uint32_t gateway;
	uint32_t status;     /* enum fill_status */
	int64_t notional;    /* price x quantity, in ticks */
	uint64_t order_checksum;
	uint64_t sent_ns;    /* copied from the order, for the latency */
	uint32_t deliveries; /* msginfo.deliveries of the order: 1 the first time */
	uint32_t flags;      /* FILL_REDELIVERED */
	uint64_t checksum;   /* of every byte before this field */
};

_Static_assert(sizeof(struct order) == 56, "struct order has padding");
_Static_assert(offsetof(struct order, checksum) == sizeof(struct order) - 8,
	       "checksum must be the last field");
_Static_assert(sizeof(struct fill) == 64, "struct fill has padding");
_Static_assert(offsetof(struct fill, checksum) == sizeof(struct fill) - 8,
	       "checksum must be the last field");

/* FNV-1a, 64 bits: enough to catch a torn or misplaced record. */
static uint64_t checksum(const void *p, size_t len)
{
	const unsigned char *b = p;
	uint64_t h = 0xcbf29ce484222325ull;

	for (size_t i = 0; i < len; i++) {
		h ^= b[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

static uint64_t order_checksum(const struct order *o)
{
	return checksum(o, offsetof(struct order, checksum));
}

static uint64_t fill_checksum(const struct fill *f)
{
	return checksum(f, offsetof(struct fill, checksum));
}

/* splitmix64: the order's fields are a pure function of its id. */
static uint64_t mix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

/* The order with id @id; the sink calls it too, to check the fills. */
static void make_order(struct order *o, uint64_t id, uint32_t gateway,
		       bool poison, uint64_t sent_ns)
{
	uint64_t r = mix(id);

	memset(o, 0, sizeof(*o));
	o->type = MSG_ORDER;
	o->gateway = gateway;
	o->order_id = id;
	o->client_id = (uint32_t)(r % 5000u);
	o->side = (r >> 13) & 1u ? SIDE_SELL : SIDE_BUY;
	o->price = 100 * PRICE_SCALE + (int64_t)((r >> 16) % (20u * PRICE_SCALE));
	o->quantity = 1u + (uint32_t)((r >> 40) % 1000u);
	o->flags = poison ? ORDER_POISON : 0u;
	o->sent_ns = sent_ns;
	o->checksum = order_checksum(o);
}

/* The worker's "work": notional and a pre-trade risk check. */
static void risk_check(const struct order *o, int64_t *notional,
		       uint32_t *status)
{
	*notional = o->price * (int64_t)o->quantity;
	*status = *notional > NOTIONAL_LIMIT ? FILL_REJECTED : FILL_ACCEPTED;
}

/* ------------------------------------------------------------------ */
/* Shared statistics                                                   */
/* ------------------------------------------------------------------ */

/*
 * One anonymous shared mapping, made before fork(), where every child
 * keeps its counters, each child on its own cache lines.  The parent reads
 * the _Atomic ones live (relaxed: they are only displayed or compared with
 * a threshold); the others it reads after waitpid(), which orders them.
 */
enum restart_state { RESTART_IDLE, RESTART_ARMED };

/*
 * One per gateway number; a restarted gateway carries on in its
 * predecessor's record (the parent starts it only after reaping the dead
 * one, so the two never write it at the same time).
 */
struct gateway_stats {
	_Alignas(128) _Atomic uint64_t sent; /* orders the queue accepted from it */
	_Atomic uint64_t relief_waits; /* ipcq_wait_pressure() episodes (the parent reads it live) */
	_Atomic uint32_t restart;   /* enum restart_state: the restart scene's trigger */
	_Atomic uint32_t done;      /* it has sent every one of its orders */
	uint64_t start_ns;          /* just before the first order */
	uint64_t under_pressure;    /* sends answered IPCQ_SEND_PRESSURE */
	uint64_t relief_timeouts;   /* waits for relief that timed out (and were repeated) */
	uint64_t unexpected_dups;   /* IPCQ_SEND_DUPLICATE for a new order: a failure */
	uint64_t failed;            /* sends that failed (the gateway then exits 1) */
	/* Written by the restarted gateway only. */
	uint64_t resumed_at;        /* ipcq_last_seq() when it attached */
	uint64_t replayed;          /* orders resent from its log */
	uint64_t replay_dups;       /* ... answered IPCQ_SEND_DUPLICATE, as they must be */
	uint64_t replay_accepted;   /* ... enqueued again: a failure */
};

/* One per worker process ("slot"); replacements get new slots. */
struct worker_stats {
	_Alignas(128) _Atomic uint64_t processed; /* fills sent */
	uint32_t position;          /* which of the W workers it is (set by the parent) */
	uint32_t replaces;          /* the slot it took over from, or NO_SLOT */
	uint64_t rejected;          /* by the risk check (a normal outcome) */
	uint64_t redelivered;       /* orders it got flagged IPCQ_MSG_REDELIVERED */
	uint64_t bad_checksum;
	uint64_t bad_message;       /* wrong length or type */
	uint64_t bad_flags;         /* IPCQ_MSG_REDELIVERED and deliveries disagree */
	uint64_t out_of_order;      /* first deliveries of a gateway's ids not increasing */
	uint64_t bad_stream;        /* msginfo.stream/seq not the gateway's name and order sequence */
	uint64_t ends_taken;        /* END markers: 1 for a worker that finished */
	uint32_t poison_delivery;   /* set just before abort(): the poison order's delivery */
};

#define NO_SLOT UINT32_MAX

struct sink_stats {
	_Alignas(128) _Atomic uint64_t received; /* fills, duplicates included */
	_Atomic uint64_t distinct;  /* order ids seen */
	uint64_t end_ns;            /* when the last fill arrived */
	uint64_t accepted, rejected;
	uint64_t missing, unknown, poison_seen;
	uint64_t dup_flagged;       /* a second fill, the order flagged as redelivered */
	uint64_t dup_unflagged;     /* a second fill without the flag: a failure */
	uint64_t redelivered_first; /* flagged, but the first fill for its id */
	uint64_t bad_checksum, bad_content, bad_message;
	uint64_t out_of_order, bad_seq;
	uint64_t ends, dup_ends, extra_after_end;
	uint64_t per_slot[MAX_SLOTS];
	uint64_t lat_sum_ns, lat_max_ns;
	uint32_t done;              /* the sink finished its checks */
};

/*
 * The kill scene's handshake.  Workers add each batch of fills they send
 * to fills_sent while the state is IDLE; the one whose batch takes it to
 * kill_at claims the scene (CAS IDLE -> CLAIMED), writes who it is,
 * publishes PARKED with a release store and waits to die.  The parent
 * reads PARKED with an acquire load, and with it the victim's slot, and
 * sends SIGKILL.  So the kill comes at a message count, whatever the
 * timing, and at the moment the scene is about.
 */
enum kill_state { KILL_IDLE, KILL_CLAIMED, KILL_PARKED };

struct kill_scene {
	_Alignas(128) _Atomic uint64_t fills_sent; /* by all workers, until the kill */
	_Atomic uint32_t state;     /* enum kill_state */
	uint32_t victim;            /* worker slot, written before PARKED */
	uint32_t unacked;           /* orders whose fills it had sent, unacked */
};

/*
 * The pressure scene's slow worker phase.  Gateway 0, at SLOW_AT_PERCENT of
 * its orders, writes the baseline and publishes HOLDING with a release
 * store; workers take no new order while they see HOLDING (a relaxed load:
 * a pause request orders nothing); the parent reads HOLDING with an
 * acquire load, and with it the baseline, and ends the phase with OVER.
 */
enum slow_state { SLOW_BEFORE, SLOW_HOLDING, SLOW_OVER };

struct slow_phase_shared {
	_Alignas(128) _Atomic uint32_t state; /* enum slow_state */
	uint64_t at_sent;           /* orders gateway 0 had sent */
	uint64_t waits_before;      /* the gateways' relief waits then */
	uint64_t start_ns;          /* when */
};

struct shared {
	_Alignas(128) _Atomic uint32_t ready;  /* children attached so far */
	struct slow_phase_shared slow;
	/*
	 * The final snapshot: each child that is done adds itself to
	 * finished and stays attached until the parent, having read every
	 * participant's counters with ipcq_stats(), sets dismissed.
	 */
	_Alignas(128) _Atomic uint32_t finished;
	_Atomic uint32_t dismissed;
	struct kill_scene kill;
	struct gateway_stats gw[MAX_GATEWAYS];
	struct worker_stats wk[MAX_SLOTS];
	struct sink_stats sink;
};

_Static_assert(ATOMIC_LLONG_LOCK_FREE == 2 && ATOMIC_INT_LOCK_FREE == 2,
	       "atomics must be lock-free to work across processes");

/* What every process knows about the run. */
struct demo {
	uint64_t orders;
	unsigned workers, gateways;
	uint32_t capacity;
	unsigned batch;      /* messages per batch call: BATCH, at most capacity */
	unsigned stall_s;
	bool quiet;
	bool keep;           /* -k: leave the queues for inspection */
	bool kill_scene, poison_scene, restart_scene, pressure_scene;
	uint64_t kill_at;    /* fills sent that start the kill scene */
	uint64_t poison_id;  /* the poison order, if poison_scene */
	uint32_t high_watermark, low_watermark; /* of the orders queue, if pressure_scene */
	char orders_name[64], fills_name[64];
	struct shared *sh;
};

static bool is_poison(const struct demo *d, uint64_t id)
{
	return d->poison_scene && id == d->poison_id;
}

/*
 * Gateway g owns the ids g, g + G, g + 2G, ...: its order number seq (1,
 * 2, 3, ...) is the id g + (seq - 1) G, and that number is also the
 * sequence it sends the order with (ipcq_send_seq), so the id of every
 * order a gateway has sent follows from its sequence and back.
 */
static uint64_t gateway_orders(const struct demo *d, unsigned g)
{
	return g < d->orders ? (d->orders - g + d->gateways - 1) / d->gateways : 0;
}

static uint64_t order_id_of(const struct demo *d, unsigned g, uint64_t seq)
{
	return g + (seq - 1) * d->gateways;
}

static uint64_t order_seq_of(const struct demo *d, uint64_t id)
{
	return id / d->gateways + 1;
}

/* The pressure scene: the sequence after whose send gateway 0 holds the workers. */
static uint64_t slow_seq(const struct demo *d, unsigned g)
{
	if (!d->pressure_scene || g != 0)
		return 0;
	/* below its last order, so that a send follows that can hit the watermark */
	return gateway_orders(d, 0) * SLOW_AT_PERCENT / 100;
}

/* The restart scene: the sequence after whose send gateway g is killed. */
static uint64_t restart_seq(const struct demo *d, unsigned g)
{
	uint64_t n = gateway_orders(d, g);

	if (!d->restart_scene || n == 0)
		return 0;
	return n * RESTART_AT_PERCENT / 100 ? n * RESTART_AT_PERCENT / 100 : 1;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void count_add(_Atomic uint64_t *c, uint64_t v)
{
	/* Single writer: a relaxed load and store is enough, no locked op. */
	atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + v,
			      memory_order_relaxed);
}

static void count_set(_Atomic uint64_t *c, uint64_t v)
{
	atomic_store_explicit(c, v, memory_order_relaxed);
}

static uint64_t count_get(_Atomic uint64_t *c)
{
	return atomic_load_explicit(c, memory_order_relaxed);
}

/* ------------------------------------------------------------------ */
/* ipcq helpers                                                        */
/* ------------------------------------------------------------------ */

/*
 * Each child opens the queue itself after fork() instead of using the
 * parent's handle: a participant's liveness is an OFD lock, which belongs
 * to the open file description.  A description inherited from the parent
 * would be shared with it, and the lock would outlive the child.
 * @opts may be NULL (the defaults); its name is set here.
 */
static int open_attach(const char *qname, unsigned roles,
		       struct ipcq_attach_opts *opts, const char *who,
		       struct ipcq **out)
{
	struct ipcq_attach_opts defaults = IPCQ_ATTACH_OPTS_INIT;
	struct ipcq *q = NULL;
	int rc;

	if (!opts)
		opts = &defaults;
	rc = ipcq_open(qname, &q);
	if (rc < 0) {
		fprintf(stderr, "%s: ipcq_open(%s): %s\n", who, qname,
			ipcq_strerror(rc));
		return rc;
	}
	opts->name = who;
	rc = ipcq_attach(q, roles, opts);
	if (rc < 0) {
		fprintf(stderr, "%s: ipcq_attach(%s): %s\n", who, qname,
			ipcq_strerror(rc));
		ipcq_close(q);
		return rc;
	}
	*out = q;
	return 0;
}

/*
 * Send all of @msgs.  ipcq_send_batch() enqueues as many as there is room
 * for (at least one, blocking until then) and returns how many; the rest
 * is sent again.
 */
static int send_all(struct ipcq *q, const struct ipcq_buf *msgs, unsigned n)
{
	unsigned done = 0;

	while (done < n) {
		int rc = ipcq_send_batch(q, msgs + done, n - done, IPCQ_FOREVER);

		if (rc == -EINTR)
			continue;
		if (rc < 0)
			return rc;
		if (rc == 0 || (unsigned)rc > n - done)
			return -EPROTO; /* outside the contract: 1..n */
		done += (unsigned)rc;
	}
	return 0;
}

static int send_one(struct ipcq *q, const void *msg, size_t len)
{
	struct ipcq_buf b = { .data = (void *)(uintptr_t)msg, .len = len };

	return send_all(q, &b, 1);
}

/* Announce this child attached, so gateways start with everyone in place. */
static void signal_ready(const struct demo *d)
{
	atomic_fetch_add_explicit(&d->sh->ready, 1, memory_order_relaxed);
}

static void wait_all_ready(const struct demo *d)
{
	unsigned everyone = d->gateways + d->workers + 1;
	struct timespec ms = { 0, 1000000 };

	while (atomic_load_explicit(&d->sh->ready, memory_order_relaxed) < everyone)
		nanosleep(&ms, NULL);
}

/*
 * A child that is done stays attached until the parent has taken the
 * final ipcq_stats() snapshot: a participant that detaches leaves the
 * table, and its counters with it.
 */
static void linger(const struct demo *d)
{
	struct timespec ms = { 0, 1000000 };

	/* release: pairs with the parent's acquire; our last counters are in */
	atomic_fetch_add_explicit(&d->sh->finished, 1, memory_order_release);
	/* acquire: pairs with the parent's release after its snapshot */
	while (!atomic_load_explicit(&d->sh->dismissed, memory_order_acquire))
		nanosleep(&ms, NULL);
}

/* The slow worker phase: take no new order while it lasts. */
static bool held(const struct demo *d)
{
	/* relaxed: see struct slow_phase_shared */
	return atomic_load_explicit(&d->sh->slow.state, memory_order_relaxed) == SLOW_HOLDING;
}

static void wait_while_held(const struct demo *d)
{
	struct timespec pause_100us = { 0, 100000 };

	while (held(d))
		nanosleep(&pause_100us, NULL);
}

/* ------------------------------------------------------------------ */
/* Gateway                                                             */
/* ------------------------------------------------------------------ */

/* What one gateway process works with. */
struct gateway {
	const struct demo *d;
	struct gateway_stats *st;
	unsigned g;
	struct ipcq *q;
};

/*
 * Send this gateway's order number @seq.  Its log is the order itself:
 * every field follows from the id, so a restarted gateway can resend any
 * order it sent before.  Returns what ipcq_send_seq() returned: 0,
 * IPCQ_SEND_PRESSURE, IPCQ_SEND_DUPLICATE or -errno.
 */
static int send_order(const struct gateway *gw, uint64_t seq)
{
	uint64_t id = order_id_of(gw->d, gw->g, seq);
	struct order o;
	int rc;

	make_order(&o, id, gw->g, is_poison(gw->d, id), now_ns());
	do
		rc = ipcq_send_seq(gw->q, seq, &o, sizeof(o), IPCQ_FOREVER);
	while (rc == -EINTR);
	return rc;
}

/*
 * Backpressure: the send said the queue is over its high watermark.
 * Sleep until the workers bring it under the low one instead of pushing
 * on towards a full ring.  A timeout is counted and the wait repeated;
 * the parent's stall timeout is what gives up on a pipeline that is stuck.
 */
static int wait_for_relief(const struct gateway *gw)
{
	count_add(&gw->st->relief_waits, 1);
	for (;;) {
		int rc = ipcq_wait_pressure(gw->q, RELIEF_TIMEOUT_NS);

		if (rc == 0)
			return 0;
		if (rc == -ETIMEDOUT)
			gw->st->relief_timeouts++;
		else if (rc != -EINTR)
			return rc;
	}
}

/*
 * Start the slow worker phase (see struct slow_phase_shared).  Only gateway
 * 0 does, once: a restarted gateway 0 finds it started already.
 */
static void hold_workers(const struct gateway *gw)
{
	struct slow_phase_shared *sp = &gw->d->sh->slow;
	uint64_t waits = 0;

	/* relaxed: only gateway 0 writes it, and only the parent reads it otherwise */
	if (atomic_load_explicit(&sp->state, memory_order_relaxed) != SLOW_BEFORE)
		return;
	for (unsigned g = 0; g < gw->d->gateways; g++)
		waits += count_get(&gw->d->sh->gw[g].relief_waits);
	sp->at_sent = count_get(&gw->st->sent);
	sp->waits_before = waits;
	sp->start_ns = now_ns();
	/* pairs with the parent's acquire load: the baseline is written */
	atomic_store_explicit(&sp->state, SLOW_HOLDING, memory_order_release);
}

/*
 * The restart scene, replacement side: resend the last REPLAY_ORDERS
 * orders up to @last, the sequence the queue says it accepted last.  The
 * queue accepted every one of them already, so each must come back
 * IPCQ_SEND_DUPLICATE, and none may reach a worker again.
 */
static int replay_tail(const struct gateway *gw, uint64_t last)
{
	struct gateway_stats *st = gw->st;
	uint64_t from = last > REPLAY_ORDERS ? last - REPLAY_ORDERS + 1 : 1;

	for (uint64_t seq = from; seq <= last; seq++) {
		int rc = send_order(gw, seq);

		if (rc < 0)
			return rc;
		st->replayed++;
		if (rc == IPCQ_SEND_DUPLICATE)
			st->replay_dups++;
		else
			st->replay_accepted++;
	}
	return 0;
}

/*
 * A gateway attaches as the named producer "gateway-<g>" (IPCQ_ATTACH_DEDUP)
 * and sends its orders one by one with their sequence.  @restarted: it
 * replaces a gateway the restart scene killed; it takes over the name,
 * asks the queue where its predecessor got to, replays the tail of its
 * log from there (all duplicates) and carries on after it.
 */
static int run_gateway(const struct demo *d, unsigned g, bool restarted)
{
	struct ipcq_attach_opts named = IPCQ_ATTACH_OPTS_INIT;
	struct gateway gw = { .d = d, .st = &d->sh->gw[g], .g = g };
	struct gateway_stats *st = gw.st;
	uint64_t n = gateway_orders(d, g), kill_after = restart_seq(d, g);
	uint64_t hold_after = slow_seq(d, g);
	uint64_t last = 0;
	const char *what = "ipcq_last_seq(orders)";
	bool armed = false;
	char who[32];
	int rc;

	snprintf(who, sizeof(who), "gateway-%u", g);
	named.flags = IPCQ_ATTACH_DEDUP;
	if (open_attach(d->orders_name, IPCQ_ROLE_PRODUCER, &named, who, &gw.q) < 0)
		return 1;
	/* Everything up to here was accepted, nothing after it was. */
	rc = ipcq_last_seq(gw.q, &last);
	if (rc < 0)
		goto fail;
	if (restarted) {
		st->resumed_at = last;
		what = "ipcq_send_seq(orders, replay)";
		rc = replay_tail(&gw, last);
		if (rc < 0)
			goto fail;
	} else {
		signal_ready(d);
		wait_all_ready(d);
		st->start_ns = now_ns();
	}
	count_set(&st->sent, last);

	/* The poison order goes out like any other: nothing here waits for it. */
	what = "ipcq_send_seq(orders)";
	for (uint64_t seq = last + 1; seq <= n; seq++) {
		rc = send_order(&gw, seq);
		if (rc < 0)
			goto fail;
		if (rc == IPCQ_SEND_DUPLICATE) {
			/* The queue claims an order it was never sent: it
			 * would be lost.  Count it; the sink misses it too. */
			st->unexpected_dups++;
			continue;
		}
		count_add(&st->sent, 1);
		if (rc == IPCQ_SEND_PRESSURE) {
			st->under_pressure++;
			what = "ipcq_wait_pressure(orders)";
			rc = wait_for_relief(&gw);
			if (rc < 0)
				goto fail;
			what = "ipcq_send_seq(orders)";
		}
		/*
		 * The restart scene: past its mark the gateway tells the
		 * parent and goes on sending.  The SIGKILL lands wherever it
		 * lands, inside a send or between two: whichever instruction
		 * it hits, the queue's last_seq must be exact.
		 */
		if (seq == hold_after)
			hold_workers(&gw);
		if (!restarted && seq == kill_after) {
			/* pairs with the parent's acquire load */
			atomic_store_explicit(&st->restart, RESTART_ARMED,
					      memory_order_release);
			armed = true;
		}
	}
	/* Done before the kill came: wait for it, so the scene always runs. */
	if (armed)
		for (;;)
			pause();
	/* pairs with the parent's acquire load: the counters are final */
	atomic_store_explicit(&st->done, 1, memory_order_release);
	linger(d);
	ipcq_close(gw.q);
	return 0;
fail:
	st->failed++;
	fprintf(stderr, "%s: %s: %s\n", who, what, ipcq_strerror(rc));
	ipcq_close(gw.q);
	return 1;
}

/* ------------------------------------------------------------------ */
/* Worker                                                              */
/* ------------------------------------------------------------------ */

/* What one worker process works with. */
struct worker {
	const struct demo *d;
	struct worker_stats *st;
	unsigned slot;
	struct ipcq *orders, *fills;
	uint64_t next_id[MAX_GATEWAYS]; /* lowest id a first delivery may have */
	struct fill out[BATCH];
	struct ipcq_buf outb[BATCH];
	const char *what;               /* the call that failed */
};

/*
 * The poison order: crash the way a buggy consumer would, in the middle
 * of processing, with the order still leased.  Say first that this was
 * the poison, so that the parent can tell this crash from a real one.
 */
static _Noreturn void crash_on_poison(struct worker *wk, const struct ipcq_msginfo *info)
{
	struct rlimit no_core = { 0, 0 };

	wk->st->poison_delivery = info->deliveries;
	setrlimit(RLIMIT_CORE, &no_core); /* a crash, not a core file per run */
	abort();
}

/*
 * The kill scene: the worker whose fills take the count to kill_at is the
 * victim.  Its fills are sent, its orders not yet acked: it parks there
 * until the parent's SIGKILL comes.
 */
static void maybe_park_for_kill(struct worker *wk, unsigned unacked)
{
	struct kill_scene *ks = &wk->d->sh->kill;
	uint32_t want = KILL_IDLE;
	uint64_t total;

	/* relaxed: a counter and a state only compared with a threshold;
	 * the CAS decides who the victim is */
	if (!wk->d->kill_scene ||
	    atomic_load_explicit(&ks->state, memory_order_relaxed) != KILL_IDLE)
		return;
	total = atomic_fetch_add_explicit(&ks->fills_sent, unacked,
					  memory_order_relaxed) + unacked;
	if (total < wk->d->kill_at ||
	    !atomic_compare_exchange_strong(&ks->state, &want, KILL_CLAIMED))
		return;
	ks->victim = wk->slot;
	ks->unacked = unacked;
	/* pairs with the parent's acquire load: victim and unacked are set */
	atomic_store_explicit(&ks->state, KILL_PARKED, memory_order_release);
	for (;;)
		pause();
}

/*
 * Process @n leased orders: risk-check each, send the fills, then ack.
 * In that order: an order is acked only once its fill is in the fills
 * queue, so a crash anywhere loses nothing (and may duplicate a fill).
 */
static int process(struct worker *wk, const struct order *in,
		   const struct ipcq_msginfo *info, unsigned n)
{
	struct worker_stats *st = wk->st;
	int rc;

	if (n == 0)
		return 0;
	for (unsigned i = 0; i < n; i++) {
		const struct order *o = &in[i];
		bool again = info[i].flags & IPCQ_MSG_REDELIVERED;
		struct fill *f = &wk->out[i];

		if (o->flags & ORDER_POISON)
			crash_on_poison(wk, &info[i]);
		if (again != (info[i].deliveries > 1))
			st->bad_flags++;
		/* Orders come from named producers, with the gateway's sequence. */
		if (info[i].stream == 0 || info[i].seq != order_seq_of(wk->d, o->order_id))
			st->bad_stream++;
		/* Per-producer FIFO: one gateway's first deliveries only go up. */
		if (!again) {
			if (o->order_id < wk->next_id[o->gateway])
				st->out_of_order++;
			wk->next_id[o->gateway] = o->order_id + 1;
		}

		memset(f, 0, sizeof(*f));
		f->type = MSG_FILL;
		f->worker = wk->slot;
		f->order_id = o->order_id;
		f->gateway = o->gateway;
		risk_check(o, &f->notional, &f->status);
		f->order_checksum = o->checksum;
		f->sent_ns = o->sent_ns;
		f->deliveries = info[i].deliveries;
		f->flags = again ? FILL_REDELIVERED : 0u;
		f->checksum = fill_checksum(f);
		if (f->status == FILL_REJECTED)
			st->rejected++;
	}
	rc = send_all(wk->fills, wk->outb, n);
	if (rc < 0) {
		wk->what = "ipcq_send_batch(fills)";
		return rc;
	}
	count_add(&st->processed, n);

	maybe_park_for_kill(wk, n);

	for (unsigned i = 0; i < n; i++) {
		rc = ipcq_ack(wk->orders, info[i].token);
		if (rc < 0) {
			wk->what = "ipcq_ack(orders)";
			return rc;
		}
	}
	return 0;
}

/* Is @o a well-formed order or END marker?  Counts what is wrong. */
static bool valid_order(struct worker *wk, const struct order *o, int len)
{
	if ((size_t)len != sizeof(*o) || (o->type != MSG_ORDER && o->type != MSG_END) ||
	    o->gateway >= wk->d->gateways) {
		wk->st->bad_message++;
		return false;
	}
	if (o->checksum != order_checksum(o)) {
		wk->st->bad_checksum++;
		return false;
	}
	return true;
}

static int run_worker(const struct demo *d, unsigned slot)
{
	struct ipcq_attach_opts ack = IPCQ_ATTACH_OPTS_INIT;
	struct worker wk = { .d = d, .st = &d->sh->wk[slot], .slot = slot };
	struct worker_stats *st = wk.st;
	struct order in[BATCH];
	struct ipcq_msginfo info[BATCH];
	uint64_t end_token = 0;
	char who[32];
	int rc = 0;

	snprintf(who, sizeof(who), "worker-%u", slot);
	/* Ack mode: every order stays leased to us until we ack it. */
	ack.flags = IPCQ_ATTACH_ACK;
	ack.prefetch = PREFETCH;
	if (open_attach(d->orders_name, IPCQ_ROLE_CONSUMER, &ack, who, &wk.orders) < 0)
		return 1;
	if (open_attach(d->fills_name, IPCQ_ROLE_PRODUCER, NULL, who, &wk.fills) < 0) {
		ipcq_close(wk.orders);
		return 1;
	}
	if (slot < d->workers)
		signal_ready(d); /* replacements come later: nobody waits for them */

	for (unsigned i = 0; i < BATCH; i++) {
		wk.outb[i].data = &wk.out[i];
		wk.outb[i].len = sizeof(wk.out[i]);
	}

	/* Until the END marker comes (and is held, not yet acked). */
	while (st->ends_taken == 0) {
		unsigned n = 0;
		bool lone = false;

		/*
		 * Collect a batch: wait for one order, then take whatever
		 * else is ready.  A redelivered order ends the batch and is
		 * processed on its own (it may be the one that crashed its
		 * last worker); an END marker ends the batch too.  In the
		 * slow phase (the pressure scene) the worker takes nothing
		 * new while the parent holds it, and ends its batch early.
		 */
		wait_while_held(d);
		while (n < PREFETCH && !(n > 0 && held(d))) {
			rc = ipcq_recv(wk.orders, &in[n], sizeof(in[n]), &info[n],
				       n == 0 ? IPCQ_FOREVER : IPCQ_NOWAIT);
			if (rc == -EINTR)
				continue;
			if (rc == -EAGAIN && n > 0)
				break;
			if (rc < 0) {
				wk.what = "ipcq_recv(orders)";
				goto fail;
			}
			if (!valid_order(&wk, &in[n], rc)) {
				ipcq_ack(wk.orders, info[n].token); /* drop it */
				continue;
			}
			if (in[n].type == MSG_END) {
				end_token = info[n].token;
				st->ends_taken++;
				break;
			}
			if (info[n].flags & IPCQ_MSG_REDELIVERED) {
				st->redelivered++;
				lone = true;
				break;
			}
			n++;
		}
		rc = process(&wk, in, info, n);
		if (rc == 0 && lone)
			rc = process(&wk, &in[n], &info[n], 1);
		if (rc < 0)
			goto fail;
	}

	/*
	 * This worker's last message: its END to the sink.  Only then ack
	 * the END marker: had we died before this send, it would go to
	 * another worker, which would send the END in our place.
	 */
	wk.out[0] = (struct fill){ .type = MSG_END, .worker = slot,
				   .order_id = st->position };
	wk.out[0].checksum = fill_checksum(&wk.out[0]);
	rc = send_one(wk.fills, &wk.out[0], sizeof(wk.out[0]));
	if (rc < 0) {
		wk.what = "ipcq_send(fills, END)";
		goto fail;
	}
	rc = ipcq_ack(wk.orders, end_token);
	if (rc < 0) {
		wk.what = "ipcq_ack(orders, END)";
		goto fail;
	}
	linger(d);
	ipcq_close(wk.fills);
	ipcq_close(wk.orders);
	return 0;
fail:
	fprintf(stderr, "%s: %s: %s\n", who, wk.what, ipcq_strerror(rc));
	ipcq_close(wk.fills);
	ipcq_close(wk.orders);
	return 1;
}

/* ------------------------------------------------------------------ */
/* Sink                                                                */
/* ------------------------------------------------------------------ */

static bool test_bit(const uint8_t *map, uint64_t i)
{
	return map[i / 8] & (1u << (i % 8));
}

static void set_bit(uint8_t *map, uint64_t i)
{
	map[i / 8] |= (uint8_t)(1u << (i % 8));
}

/* Check one fill against everything the sink knows; count what is wrong. */
static void check_fill(const struct demo *d, struct sink_stats *st,
		       const struct fill *f, uint8_t *seen, uint64_t *next_id,
		       uint64_t now)
{
	bool again = f->flags & FILL_REDELIVERED;
	struct order o;
	int64_t notional;
	uint32_t status;

	if (f->order_id >= d->orders || f->gateway >= d->gateways ||
	    f->order_id % d->gateways != f->gateway) {
		st->unknown++;
		return;
	}
	if (is_poison(d, f->order_id))
		st->poison_seen++; /* its worker should have crashed */

	/* Right content: re-derive the order, redo the worker's arithmetic. */
	make_order(&o, f->order_id, f->gateway, is_poison(d, f->order_id),
		   f->sent_ns);
	risk_check(&o, &notional, &status);
	if (f->order_checksum != o.checksum || f->notional != notional ||
	    f->status != status || (f->flags & ~FILL_REDELIVERED) ||
	    again != (f->deliveries > 1) || f->deliveries == 0)
		st->bad_content++;

	/*
	 * Idempotent on the order id: the first fill counts, a second one is
	 * legitimate only if its order came back flagged as redelivered.
	 */
	if (test_bit(seen, f->order_id)) {
		if (again)
			st->dup_flagged++;
		else
			st->dup_unflagged++;
		return;
	}
	set_bit(seen, f->order_id);
	count_add(&st->distinct, 1);
	if (again)
		st->redelivered_first++;
	if (status == FILL_ACCEPTED)
		st->accepted++;
	else
		st->rejected++;

	/* Per-producer FIFO twice over, gateway -> worker -> sink, for the
	 * orders each worker got first hand. */
	if (!again) {
		uint64_t *next = &next_id[f->worker * MAX_GATEWAYS + f->gateway];

		if (f->order_id < *next)
			st->out_of_order++;
		*next = f->order_id + 1;
	}

	if (now > f->sent_ns) {
		st->lat_sum_ns += now - f->sent_ns;
		if (now - f->sent_ns > st->lat_max_ns)
			st->lat_max_ns = now - f->sent_ns;
	}
}

static int run_sink(const struct demo *d)
{
	struct sink_stats *st = &d->sh->sink;
	struct fill in[BATCH];
	struct ipcq_buf bufs[BATCH];
	struct ipcq_msginfo infos[BATCH];
	uint64_t last_seq[MAX_SLOTS] = { 0 };
	bool ended[MAX_WORKERS] = { false };
	uint64_t *next_id = NULL;
	uint8_t *seen = NULL;
	struct ipcq *q = NULL;
	const char *what = "";
	uint64_t got = 0;
	int rc;

	seen = calloc(d->orders / 8 + 1, 1);
	next_id = calloc((size_t)MAX_SLOTS * MAX_GATEWAYS, sizeof(*next_id));
	if (!seen || !next_id) {
		fprintf(stderr, "sink: out of memory for the bitmap\n");
		goto out_mem;
	}
	if (open_attach(d->fills_name, IPCQ_ROLE_CONSUMER, NULL, "sink", &q) < 0)
		goto out_mem;
	signal_ready(d);

	/* One END from each worker position. */
	while (st->ends < d->workers) {
		uint64_t now;

		for (unsigned i = 0; i < BATCH; i++) {
			bufs[i].data = &in[i];
			bufs[i].len = sizeof(in[i]);
		}
		rc = ipcq_recv_batch(q, bufs, infos, d->batch, IPCQ_FOREVER);
		if (rc == -EINTR)
			continue;
		if (rc < 0) {
			what = "ipcq_recv_batch(fills)";
			goto fail;
		}
		now = now_ns();

		for (int i = 0; i < rc; i++) {
			const struct fill *f = &in[i];

			if (bufs[i].len != sizeof(*f) || f->worker >= MAX_SLOTS ||
			    (f->type != MSG_FILL && f->type != MSG_END)) {
				st->bad_message++;
				continue;
			}
			if (f->checksum != fill_checksum(f)) {
				st->bad_checksum++;
				continue;
			}
			/* ipcq numbers each producer's messages 1, 2, 3, ... */
			if (infos[i].seq != last_seq[f->worker] + 1)
				st->bad_seq++;
			last_seq[f->worker] = infos[i].seq;

			if (f->type == MSG_END) {
				if (f->order_id >= d->workers || ended[f->order_id]) {
					st->dup_ends++;
				} else {
					ended[f->order_id] = true;
					st->ends++;
				}
				continue;
			}
			st->per_slot[f->worker]++;
			check_fill(d, st, f, seen, next_id, now);
			got++;
		}
		if (got != count_get(&st->received)) {
			count_set(&st->received, got);
			st->end_ns = now;
		}
	}

	/* Every worker sent its END last: nothing may follow them. */
	for (;;) {
		struct fill extra;

		rc = ipcq_recv(q, &extra, sizeof(extra), NULL, IPCQ_NOWAIT);
		if (rc == -EAGAIN)
			break;
		if (rc == -EINTR)
			continue;
		if (rc < 0) {
			what = "ipcq_recv(fills, after the end)";
			goto fail;
		}
		st->extra_after_end++;
	}

	for (uint64_t id = 0; id < d->orders; id++)
		if (!test_bit(seen, id) && !is_poison(d, id))
			st->missing++;
	st->done = 1;
	linger(d);
	ipcq_close(q);
	free(next_id);
	free(seen);
	return 0;
fail:
	fprintf(stderr, "sink: %s: %s\n", what, ipcq_strerror(rc));
	ipcq_close(q);
out_mem:
	free(next_id);
	free(seen);
	return 1;
}

/* ------------------------------------------------------------------ */
/* Parent                                                              */
/* ------------------------------------------------------------------ */

enum role { ROLE_GATEWAY, ROLE_WORKER, ROLE_SINK };

struct child {
	pid_t pid;
	enum role role;
	unsigned index;      /* gateway number or worker slot */
	bool restarted;      /* a gateway started by the restart scene */
	bool running;
	bool killed;         /* by the parent, giving up */
	bool scene_kill;     /* by the parent, the kill scene */
	int status;
};

/* A worker death the parent staged or expected, and what followed. */
struct death {
	unsigned slot;
	pid_t pid;
	uint32_t delivery;           /* poison crashes: the poison's delivery */
	int recover_rc;              /* ipcq_recover() on the orders queue */
	struct ipcq_recovery rec;
	unsigned replacement;        /* slot of the worker started in its place */
	pid_t replacement_pid;
	double at_s;                 /* seconds into the run */
};

/* A gateway the restart scene killed, and its replacement. */
struct restart {
	pid_t pid;
	double at_s;                 /* seconds into the run */
	uint64_t confirmed;          /* orders it had counted as accepted when it died */
	pid_t replacement_pid;
};

/* The slow worker phase of the pressure scene, as the parent saw it. */
struct slow_phase {
	bool seen, over;
	uint64_t at_sent;            /* orders gateway 0 had sent when the workers were held */
	uint64_t sent_during;        /* orders sent while they were held */
	uint64_t start_ns, end_ns;
	uint64_t depth;              /* orders queue depth at the release */
	uint32_t pressure;           /* pressure state at the release */
	bool gateway_waited;         /* released because a gateway waited for relief */
};

/* One queue's ipcq_stats() as the run ended, every participant still attached. */
struct final_stats {
	int rc;                      /* of ipcq_stats(): records, or -errno */
	struct ipcq_stats st;
	struct ipcq_participant_stats parts[MAX_PARTICIPANTS];
};

/* Participants that died attached; their records leave the table when a
 * newcomer reuses their entry, so the parent keeps them when it reaps. */
#define MAX_DEPARTED (MAX_GATEWAYS + MAX_RESTARTS)

struct departed {
	struct ipcq_participant_stats parts[MAX_DEPARTED];
	unsigned n;
	unsigned lost;               /* deaths whose record was gone already */
};

/* The parent's view of the run. */
struct parent {
	struct child kids[1 + 2 * MAX_GATEWAYS + MAX_SLOTS];
	unsigned nkids, running;
	unsigned next_slot;          /* the next replacement's slot */
	uint64_t start_ns;
	struct ipcq *oq;             /* the orders queue: recovery, END markers */
	struct ipcq *fq;             /* the fills queue: monitoring */
	unsigned ends_sent;          /* END markers sent to the workers */
	struct restart restart[MAX_GATEWAYS]; /* by gateway, once pid != 0 */
	unsigned nrestarts;
	struct slow_phase slow;
	bool snapshot_taken;         /* the final ipcq_stats() of both queues */
	struct final_stats final_orders, final_fills;
	struct departed gone_orders, gone_fills;
	struct ipcq_participant_stats scratch[MAX_PARTICIPANTS];
	bool kill_sent;
	struct death kill;           /* the kill scene, once kill.pid != 0 */
	uint32_t kill_unacked;
	struct death crash[MAX_DELIVERIES];
	unsigned ncrashes;           /* poison crashes */
};

static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
	interrupted = sig;
}

static const char *child_name(const struct child *c, char *buf, size_t len)
{
	static const char *const names[] = { "gateway", "worker", "sink" };

	if (c->role == ROLE_SINK)
		snprintf(buf, len, "sink");
	else
		snprintf(buf, len, "%s %u", names[c->role], c->index);
	return buf;
}

static pid_t spawn(const struct demo *d, struct child *c)
{
	pid_t parent = getpid();
	pid_t pid;
	int rc;

	fflush(NULL); /* or the child would print the parent's buffer again */
	pid = fork();
	if (pid != 0)
		return pid;

	/* Child: die with the parent, take signals the default way. */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(1);
	signal(SIGINT, SIG_DFL);
	signal(SIGTERM, SIG_DFL);

	switch (c->role) {
	case ROLE_GATEWAY:
		rc = run_gateway(d, c->index, c->restarted);
		break;
	case ROLE_WORKER:
		rc = run_worker(d, c->index);
		break;
	default:
		rc = run_sink(d);
		break;
	}
	fflush(NULL);
	_exit(rc);
}

/* Fork the worker of slot @slot, playing position @position. */
static pid_t start_worker(const struct demo *d, struct parent *p,
			  unsigned slot, unsigned position, unsigned replaces)
{
	struct child *c = &p->kids[p->nkids];

	d->sh->wk[slot].position = position;
	d->sh->wk[slot].replaces = replaces;
	*c = (struct child){ .role = ROLE_WORKER, .index = slot };
	c->pid = spawn(d, c);
	if (c->pid < 0)
		return -1;
	c->running = true;
	p->nkids++;
	p->running++;
	return c->pid;
}

/* Fork gateway @g; @restarted: in place of one the restart scene killed. */
static pid_t start_gateway(const struct demo *d, struct parent *p, unsigned g,
			   bool restarted)
{
	struct child *c = &p->kids[p->nkids];

	*c = (struct child){ .role = ROLE_GATEWAY, .index = g, .restarted = restarted };
	c->pid = spawn(d, c);
	if (c->pid < 0)
		return -1;
	c->running = true;
	p->nkids++;
	p->running++;
	return c->pid;
}

static void kill_all(struct parent *p)
{
	unsigned killed = 0;

	for (unsigned i = 0; i < p->nkids; i++) {
		if (p->kids[i].running && kill(p->kids[i].pid, SIGKILL) == 0) {
			p->kids[i].killed = true;
			killed++;
		}
	}
	if (killed > 0)
		fprintf(stderr, "ipcq-demo: killed the %u remaining process(es)\n",
			killed);
}

static double since_start(const struct parent *p)
{
	return (double)(now_ns() - p->start_ns) / 1e9;
}

static void print_recovery(const char *indent, const struct death *x)
{
	const struct ipcq_recovery *r = &x->rec;

	if (x->recover_rc < 0)
		printf("%sipcq_recover(): %s\n", indent, ipcq_strerror(x->recover_rc));
	else if (x->recover_rc == 0)
		printf("%sipcq_recover(): 0 actions (nothing left to take over)\n", indent);
	else
		printf("%sipcq_recover(): %u dead participant(s), %" PRIu64
		       " redelivered, %" PRIu64 " quarantined, %" PRIu64
		       " completed, %" PRIu64 " freed, %" PRIu64 " pending\n",
		       indent, r->dead, r->redelivered, r->poisoned, r->completed,
		       r->freed, r->pending);
}

/* Keep the counters of @pid, dead, from @q's participant table. */
static void keep_record(struct parent *p, struct ipcq *q, struct departed *gone, pid_t pid)
{
	struct ipcq_stats st = { .size = sizeof(st) };
	int n = ipcq_stats(q, &st, p->scratch, MAX_PARTICIPANTS);

	for (int i = 0; i < n; i++) {
		if (p->scratch[i].pid == (uint32_t)pid && !p->scratch[i].alive) {
			if (gone->n < MAX_DEPARTED)
				gone->parts[gone->n++] = p->scratch[i];
			return;
		}
	}
	gone->lost++; /* its entry was reused already */
}

/* A staged death: keep what the dead one did, before anyone takes its place. */
static void keep_records(const struct child *c, struct parent *p)
{
	keep_record(p, p->oq, &p->gone_orders, c->pid);
	if (c->role == ROLE_WORKER)
		keep_record(p, p->fq, &p->gone_fills, c->pid);
}

/*
 * A worker died the way the parent expected: take over its leases now
 * (ipcq would also do it by itself, see the top of the file), say what
 * recovery did, and start a replacement in the same position.
 */
static bool replace_worker(const struct demo *d, struct parent *p,
			   const struct child *c, struct death *x)
{
	keep_records(c, p);
	x->slot = c->index;
	x->pid = c->pid;
	x->at_s = since_start(p);
	x->rec = (struct ipcq_recovery){ .size = sizeof(x->rec) };
	x->recover_rc = ipcq_recover(p->oq, &x->rec);

	if (p->next_slot >= MAX_SLOTS) {
		fprintf(stderr, "ipcq-demo: too many worker restarts\n");
		return false;
	}
	x->replacement = p->next_slot++;
	x->replacement_pid = start_worker(d, p, x->replacement,
					  d->sh->wk[c->index].position, c->index);
	if (x->replacement_pid < 0) {
		perror("ipcq-demo: fork");
		return false;
	}
	if (!d->quiet) {
		print_recovery("           ", x);
		printf("           started worker %u (pid %d) in its place\n",
		       x->replacement, (int)x->replacement_pid);
	}
	return true;
}

/*
 * The restart scene: a gateway was SIGKILLed.  Start another under the
 * same producer name; it finds out by itself where to resume.
 */
static bool restart_gateway(const struct demo *d, struct parent *p,
			    const struct child *c)
{
	struct restart *r = &p->restart[c->index];

	keep_records(c, p);
	r->pid = c->pid;
	r->at_s = since_start(p);
	/* relaxed: the gateway is dead and reaped, its counter final */
	r->confirmed = count_get(&d->sh->gw[c->index].sent);
	r->replacement_pid = start_gateway(d, p, c->index, true);
	if (r->replacement_pid < 0) {
		perror("ipcq-demo: fork");
		return false;
	}
	p->nrestarts++;
	if (!d->quiet)
		printf("  %5.2fs  restart scene: gateway %u (pid %d) SIGKILLed with %" PRIu64
		       " orders confirmed; restarted as pid %d under the name gateway-%u\n",
		       r->at_s, c->index, (int)c->pid, r->confirmed,
		       (int)r->replacement_pid, c->index);
	return true;
}

/* A child exited.  Returns false if that fails the run. */
static bool child_exited(const struct demo *d, struct parent *p,
			 struct child *c, int status)
{
	char name[32];

	c->running = false;
	c->status = status;
	p->running--;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return true;
	if (c->killed)
		return false;

	if (c->role == ROLE_GATEWAY && c->scene_kill &&
	    WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
		return restart_gateway(d, p, c);

	if (c->role == ROLE_WORKER && c->scene_kill &&
	    WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) {
		if (!d->quiet)
			printf("  %5.2fs  kill scene: worker %u (pid %d) SIGKILLed after sending %u fills, before acking their orders\n",
			       since_start(p), c->index, (int)c->pid, p->kill_unacked);
		return replace_worker(d, p, c, &p->kill);
	}

	/* A poison crash: SIGABRT from a worker that said it held the poison. */
	uint32_t delivery = c->role == ROLE_WORKER ? d->sh->wk[c->index].poison_delivery : 0;

	if (d->poison_scene && delivery > 0 &&
	    WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT &&
	    p->ncrashes < MAX_DELIVERIES) {
		struct death *x = &p->crash[p->ncrashes++];

		x->delivery = delivery;
		if (!d->quiet)
			printf("  %5.2fs  poison scene: worker %u (pid %d) crashed (SIGABRT) on order %" PRIu64
			       ", delivery %u of at most %u\n",
			       since_start(p), c->index, (int)c->pid, d->poison_id,
			       delivery, MAX_DELIVERIES);
		return replace_worker(d, p, c, x);
	}

	if (WIFSIGNALED(status))
		fprintf(stderr, "ipcq-demo: %s (pid %d) killed by signal %d (%s)%s\n",
			child_name(c, name, sizeof(name)), (int)c->pid,
			WTERMSIG(status), strsignal(WTERMSIG(status)),
			delivery ? " on the poison order, more often than expected" : "");
	else
		fprintf(stderr, "ipcq-demo: %s (pid %d) exited with status %d\n",
			child_name(c, name, sizeof(name)), (int)c->pid,
			WEXITSTATUS(status));
	return false;
}

/* Reap what has exited; false if a child failed. */
static bool reap(const struct demo *d, struct parent *p, bool block)
{
	bool ok = true;
	int status;
	pid_t pid;

	while (p->running > 0 &&
	       (pid = waitpid(-1, &status, block ? 0 : WNOHANG)) > 0) {
		for (unsigned i = 0; i < p->nkids; i++) {
			if (p->kids[i].pid == pid && p->kids[i].running) {
				if (!child_exited(d, p, &p->kids[i], status))
					ok = false;
				break;
			}
		}
	}
	return ok;
}

/*
 * The kill scene: SIGKILL the victim once it has parked (see struct
 * kill_scene).  Waits on the shared word, never on time.
 */
static void kill_scene_step(const struct demo *d, struct parent *p)
{
	struct kill_scene *ks = &d->sh->kill;

	if (!d->kill_scene || p->kill_sent)
		return;
	/* acquire: pairs with the victim's release store; victim is set */
	if (atomic_load_explicit(&ks->state, memory_order_acquire) != KILL_PARKED)
		return;
	for (unsigned i = 0; i < p->nkids; i++) {
		struct child *c = &p->kids[i];

		if (c->role == ROLE_WORKER && c->index == ks->victim && c->running) {
			p->kill_unacked = ks->unacked;
			c->scene_kill = true;
			kill(c->pid, SIGKILL);
			p->kill_sent = true;
			break;
		}
	}
}

/* Gateways that have sent all their orders (a killed one's replacement counts). */
static unsigned gateways_done(const struct demo *d)
{
	unsigned n = 0;

	for (unsigned g = 0; g < d->gateways; g++)
		/* acquire: pairs with the gateway's release; its counters are final */
		n += atomic_load_explicit(&d->sh->gw[g].done, memory_order_acquire) != 0;
	return n;
}

static uint64_t relief_waits(const struct demo *d)
{
	uint64_t n = 0;

	for (unsigned g = 0; g < d->gateways; g++)
		n += count_get(&d->sh->gw[g].relief_waits);
	return n;
}

/*
 * The restart scene: SIGKILL each gateway once it has passed its mark
 * (see run_gateway()).  Waits on a shared word, never on time.
 */
static void restart_scene_step(const struct demo *d, struct parent *p)
{
	if (!d->restart_scene)
		return;
	for (unsigned i = 0; i < p->nkids; i++) {
		struct child *c = &p->kids[i];

		if (c->role != ROLE_GATEWAY || c->restarted || c->scene_kill ||
		    !c->running)
			continue;
		/* acquire: pairs with the gateway's release store */
		if (atomic_load_explicit(&d->sh->gw[c->index].restart,
					 memory_order_acquire) != RESTART_ARMED)
			continue;
		c->scene_kill = true;
		kill(c->pid, SIGKILL);
	}
}

/*
 * The pressure scene's slow worker phase.  Gateway 0 holds the workers at
 * a count of its orders (they finish what they hold and take nothing
 * new).  The queue fills; at the high watermark the gateway's send comes
 * back IPCQ_SEND_PRESSURE and it waits for relief.  As soon as a gateway
 * has begun to wait since the hold, the parent lets the workers go on;
 * they drain the queue under the low watermark, which wakes the gateway.
 * So the hold lasts a bounded number of orders (up to the high watermark)
 * and ends on an event, not after a time.  It ends too when gateway 0 has
 * nothing left to send.
 */
static void slow_phase_step(const struct demo *d, struct parent *p)
{
	struct slow_phase_shared *sp = &d->sh->slow;
	struct slow_phase *s = &p->slow;
	struct ipcq_info oi = { .size = sizeof(oi) };

	/* acquire: pairs with hold_workers(); at_sent and waits_before are set */
	if (!d->pressure_scene || s->over ||
	    atomic_load_explicit(&sp->state, memory_order_acquire) != SLOW_HOLDING)
		return;
	if (!s->seen) {
		s->seen = true;
		s->at_sent = sp->at_sent;
		s->start_ns = sp->start_ns;
		if (!d->quiet)
			printf("  %5.2fs  pressure scene: slow worker phase, workers held after gateway 0 sent %" PRIu64
			       " orders\n", since_start(p), s->at_sent);
	}
	s->gateway_waited = relief_waits(d) > sp->waits_before;
	/* acquire: see gateways_done() */
	if (!s->gateway_waited &&
	    !atomic_load_explicit(&d->sh->gw[0].done, memory_order_acquire))
		return;
	ipcq_info(p->oq, &oi);
	s->depth = oi.depth;
	s->pressure = oi.pressure;
	s->sent_during = count_get(&d->sh->gw[0].sent) - s->at_sent;
	s->end_ns = now_ns();
	s->over = true;
	atomic_store_explicit(&sp->state, SLOW_OVER, memory_order_relaxed);
	if (!d->quiet)
		printf("  %5.2fs  pressure scene: %s after %" PRIu64
		       " more orders, depth %" PRIu64 " (high watermark %u); workers released\n",
		       since_start(p), s->gateway_waited ?
		       "a gateway hit the high watermark and waits for relief" :
		       "gateway 0 finished", s->sent_during, s->depth, d->high_watermark);
}

/*
 * The final snapshot: once the sink is done and every running child
 * lingers, read both queues' counters with everyone still attached, then
 * let the children detach and exit.
 */
static void snapshot_step(const struct demo *d, struct parent *p, struct ipcq *fq)
{
	/* acquire: pairs with each child's release in linger(); so the
	 * sink's done flag is read only once the sink has written it */
	if (p->snapshot_taken ||
	    atomic_load_explicit(&d->sh->finished, memory_order_acquire) < p->running ||
	    !d->sh->sink.done)
		return;
	p->final_orders.st.size = sizeof(p->final_orders.st);
	p->final_orders.rc = ipcq_stats(p->oq, &p->final_orders.st,
					p->final_orders.parts, MAX_PARTICIPANTS);
	p->final_fills.st.size = sizeof(p->final_fills.st);
	p->final_fills.rc = ipcq_stats(fq, &p->final_fills.st,
				       p->final_fills.parts, MAX_PARTICIPANTS);
	p->snapshot_taken = true;
	/* pairs with the children's acquire in linger() */
	atomic_store_explicit(&d->sh->dismissed, 1, memory_order_release);
}

/*
 * The end of the stream (see the top of the file): once nothing is left
 * to do, one END marker per worker position, sent without blocking so
 * that the parent keeps watching the children meanwhile.
 */
static bool end_step(const struct demo *d, struct parent *p)
{
	uint64_t expected = d->orders - (d->poison_scene ? 1 : 0);
	struct ipcq_info oi = { .size = sizeof(oi) };

	if (p->ends_sent == 0) {
		/* The cheap tests first; ipcq_info() scans the queue. */
		if (gateways_done(d) < d->gateways ||
		    count_get(&d->sh->sink.distinct) < expected ||
		    (d->poison_scene && p->ncrashes == 0))
			return true;
		if (ipcq_info(p->oq, &oi) < 0 || oi.depth || oi.leased ||
		    oi.redeliverable || (d->poison_scene && oi.side_depth == 0))
			return true;
	}
	while (p->ends_sent < d->workers) {
		struct order end = { .type = MSG_END, .order_id = p->ends_sent };
		int rc;

		end.checksum = order_checksum(&end);
		rc = ipcq_send(p->oq, &end, sizeof(end), IPCQ_NOWAIT);
		if (rc == -EAGAIN || rc == -EINTR)
			return true; /* full: the next tick */
		if (rc < 0) {
			fprintf(stderr, "ipcq-demo: ipcq_send(orders, END): %s\n",
				ipcq_strerror(rc));
			return false;
		}
		p->ends_sent++;
	}
	return true;
}

struct snapshot {
	uint64_t ready, sent, processed, received;
	struct ipcq_info oi, fi;
};

static void take_snapshot(const struct demo *d, struct ipcq *oq,
			  struct ipcq *fq, struct snapshot *s)
{
	memset(s, 0, sizeof(*s));
	s->ready = atomic_load_explicit(&d->sh->ready, memory_order_relaxed);
	for (unsigned g = 0; g < d->gateways; g++)
		s->sent += count_get(&d->sh->gw[g].sent);
	for (unsigned w = 0; w < MAX_SLOTS; w++)
		s->processed += count_get(&d->sh->wk[w].processed);
	s->received = count_get(&d->sh->sink.received);
	s->oi.size = sizeof(s->oi);
	s->fi.size = sizeof(s->fi);
	ipcq_info(oq, &s->oi);
	ipcq_info(fq, &s->fi);
}

static bool same_progress(const struct snapshot *a, const struct snapshot *b)
{
	/* Children still attaching (slow under sanitizers) count as moving. */
	return a->ready == b->ready && a->sent == b->sent && a->processed == b->processed &&
	       a->received == b->received &&
	       a->oi.enqueued == b->oi.enqueued && a->oi.dequeued == b->oi.dequeued &&
	       a->fi.enqueued == b->fi.enqueued && a->fi.dequeued == b->fi.dequeued;
}

static void print_progress(double t, const struct snapshot *s, uint64_t rate)
{
	printf("  %5.2fs  sent %10" PRIu64 "  orders depth %6" PRIu64
	       " leased %4u  fills depth %6" PRIu64 "  received %10" PRIu64
	       "  (%" PRIu64 "/s)\n",
	       t, s->sent, s->oi.depth, s->oi.leased, s->fi.depth, s->received, rate);
	fflush(stdout);
}

/*
 * Watch the children: run the kill scene, replace the workers that died
 * as expected, print progress once a second, and give up (kill them all)
 * when a child fails, on SIGINT/SIGTERM, or when nothing has moved in
 * either queue for the stall timeout.  Returns true if every child ended
 * well.
 */
static bool supervise(const struct demo *d, struct parent *p, struct ipcq *fq)
{
	const struct timespec tick = { 0, 2 * 1000000 };
	struct snapshot last, cur;
	uint64_t last_print = p->start_ns, last_move = p->start_ns;
	bool ok = true;

	take_snapshot(d, p->oq, fq, &last);
	while (p->running > 0) {
		uint64_t now;

		if (!reap(d, p, false)) {
			ok = false;
			break;
		}
		if (p->running == 0)
			break;
		if (interrupted) {
			fprintf(stderr, "ipcq-demo: %s, stopping\n",
				strsignal(interrupted));
			ok = false;
			break;
		}
		kill_scene_step(d, p);
		restart_scene_step(d, p);
		slow_phase_step(d, p);
		snapshot_step(d, p, fq);
		if (!end_step(d, p)) {
			ok = false;
			break;
		}
		nanosleep(&tick, NULL);

		now = now_ns();
		if (now - last_print < 1000000000ull)
			continue;
		take_snapshot(d, p->oq, fq, &cur);
		if (!d->quiet)
			print_progress((double)(now - p->start_ns) / 1e9, &cur,
				       (cur.received - last.received) * 1000000000ull /
				       (now - last_print));
		if (!same_progress(&cur, &last))
			last_move = now;
		else if (now - last_move >= (uint64_t)d->stall_s * 1000000000ull) {
			fprintf(stderr,
				"ipcq-demo: STALL: nothing moved for %u s with %u process(es) still running\n"
				"  orders: enqueued %" PRIu64 " dequeued %" PRIu64 " depth %" PRIu64
				" leased %u redeliverable %u participants %u\n"
				"  fills:  enqueued %" PRIu64 " dequeued %" PRIu64 " depth %" PRIu64 " participants %u\n"
				"  gateways sent %" PRIu64 ", workers processed %" PRIu64 ", sink received %" PRIu64
				" fills for %" PRIu64 " of %" PRIu64 " order ids\n"
				"  poison crashes %u, side ring depth %u, END markers sent %u\n",
				d->stall_s, p->running,
				cur.oi.enqueued, cur.oi.dequeued, cur.oi.depth, cur.oi.leased,
				cur.oi.redeliverable, cur.oi.participants,
				cur.fi.enqueued, cur.fi.dequeued, cur.fi.depth, cur.fi.participants,
				cur.sent, cur.processed, cur.received,
				count_get(&d->sh->sink.distinct),
				d->orders - (d->poison_scene ? 1 : 0), p->ncrashes,
				cur.oi.side_depth, p->ends_sent);
			for (unsigned i = 0; i < p->nkids; i++) {
				char name[32];

				if (p->kids[i].running)
					fprintf(stderr, "  still running: %s (pid %d)\n",
						child_name(&p->kids[i], name, sizeof(name)),
						(int)p->kids[i].pid);
			}
			ok = false;
			break;
		}
		last = cur;
		last_print = now;
	}
	if (!ok) {
		kill_all(p);
		reap(d, p, true);
	}
	return ok;
}

static const char *reason_name(uint32_t reason)
{
	switch (reason) {
	case IPCQ_REASON_NACKED:
		return "nacked";
	case IPCQ_REASON_MAX_DELIVERIES:
		return "max-deliveries";
	case IPCQ_REASON_CONSUMER_CRASHED:
		return "consumer-crashed";
	default:
		return "unknown";
	}
}

/*
 * List the poison side ring of the orders queue and check it: with the
 * poison scene it must hold exactly the poison order, quarantined because
 * its consumers crashed; without it, nothing.  Returns true if so.
 */
static bool report_side_ring(const struct demo *d, struct ipcq *oq,
			     unsigned crashes)
{
	struct ipcq_poison list[8];
	unsigned expected = d->poison_scene ? 1 : 0, good = 0;
	int n = ipcq_poison_list(oq, 0, list, 8);

	if (n < 0) {
		printf("  side ring          FAILED: ipcq_poison_list: %s\n", ipcq_strerror(n));
		return false;
	}
	printf("  side ring          %d entr%s%s\n", n, n == 1 ? "y" : "ies",
	       n == 0 ? "" : ":");
	for (int i = 0; i < n; i++) {
		const struct ipcq_poison *e = &list[i];
		struct ipcq_poison again;
		struct order o;
		int len = ipcq_poison_peek(oq, e->id, &o, sizeof(o), &again);
		bool ok;

		if (len < 0) {
			printf("    id %" PRIu64 ": ipcq_poison_peek: %s\n", e->id,
			       ipcq_strerror(len));
			continue;
		}
		ok = (size_t)len == sizeof(o) && o.checksum == order_checksum(&o) &&
		     o.type == MSG_ORDER && is_poison(d, o.order_id) &&
		     e->reason == IPCQ_REASON_CONSUMER_CRASHED &&
		     e->deliveries == MAX_DELIVERIES && crashes == e->deliveries &&
		     e->seq == o.order_id / d->gateways + 1;
		if (ok)
			good++;
		printf("    id %" PRIu64 "  reason %s  deliveries %u  producer %u  seq %" PRIu64
		       "  last consumer pid %u  order id %" PRIu64 "%s  %s\n",
		       e->id, reason_name(e->reason), e->deliveries, e->producer,
		       e->seq, e->last_consumer_pid,
		       (size_t)len == sizeof(o) ? o.order_id : UINT64_MAX,
		       (size_t)len == sizeof(o) && (o.flags & ORDER_POISON) ? " (the poison)" : "",
		       ok ? "ok" : "UNEXPECTED");
	}
	if ((unsigned)n == expected && good == expected)
		return true;
	printf("    expected %s\n", expected ?
	       "exactly the poison order, reason consumer-crashed, after one delivery per crash" :
	       "no entry");
	return false;
}

/*
 * Sum one counter (@field: its offset in struct ipcq_participant_stats)
 * over a queue's participants: those attached at the end, and those that
 * died attached.
 */
static uint64_t sum_counter(const struct final_stats *f, const struct departed *gone,
			    size_t field)
{
	uint64_t sum = 0, v;

	for (int i = 0; i < f->rc; i++) {
		memcpy(&v, (const char *)&f->parts[i] + field, sizeof(v));
		sum += v;
	}
	for (unsigned i = 0; i < gone->n; i++) {
		memcpy(&v, (const char *)&gone->parts[i] + field, sizeof(v));
		sum += v;
	}
	return sum;
}

#define SUM_ORDERS(p, field) \
	sum_counter(&(p)->final_orders, &(p)->gone_orders, \
		    offsetof(struct ipcq_participant_stats, field))

/*
 * The restart scene: each gateway was killed past its mark, the queue's
 * last_seq covered every order it had been told was accepted (and at most
 * the one in flight besides), and its replacement's replay came back as
 * duplicates, every one, as the queue's own counters confirm.  Returns
 * true if so (or if the scene is off and no send was a duplicate).
 */
static bool report_restart(const struct demo *d, const struct parent *p)
{
	const struct sink_stats *s = &d->sh->sink;
	uint64_t replayed = 0, dups = 0, accepted = 0, unexpected = 0, bad_stream = 0;
	uint64_t queue_dups = SUM_ORDERS(p, duplicates);
	unsigned expected = 0;
	bool ok = true;

	for (unsigned w = 0; w < p->next_slot; w++)
		bad_stream += d->sh->wk[w].bad_stream;
	for (unsigned g = 0; g < d->gateways; g++)
		unexpected += d->sh->gw[g].unexpected_dups;
	if (!d->restart_scene) {
		ok = unexpected == 0 && queue_dups == 0;
		printf("  restart scene      off (-D); gateways are named producers all the same: %" PRIu64
		       " duplicates, %" PRIu64 " wrong stream sequences\n", queue_dups + unexpected,
		       bad_stream);
		return ok && bad_stream == 0;
	}
	printf("  restart scene      every gateway SIGKILLed past %u%% of its orders, restarted under its name:\n",
	       RESTART_AT_PERCENT);
	for (unsigned g = 0; g < d->gateways; g++) {
		const struct gateway_stats *gs = &d->sh->gw[g];
		const struct restart *r = &p->restart[g];
		uint64_t last = gs->resumed_at;
		uint64_t want = last < REPLAY_ORDERS ? last : REPLAY_ORDERS;
		bool g_ok;

		if (gateway_orders(d, g) == 0)
			continue;
		expected++;
		if (!r->pid) {
			printf("    gateway %u  FAILED: never killed (mark: order %" PRIu64 " of %" PRIu64 ")\n",
			       g, restart_seq(d, g), gateway_orders(d, g));
			ok = false;
			continue;
		}
		replayed += gs->replayed;
		dups += gs->replay_dups;
		accepted += gs->replay_accepted;
		/* Everything it was told was accepted is covered; at most the
		 * send in flight when it died was accepted besides. */
		g_ok = last >= r->confirmed && last <= r->confirmed + 1 &&
		       gs->replayed == want && gs->replay_dups == want &&
		       gs->replay_accepted == 0;
		ok = ok && g_ok;
		printf("    gateway %u  %s: pid %d killed at %.2f s with %" PRIu64
		       " orders confirmed; ipcq_last_seq() said %" PRIu64 "%s;\n"
		       "               pid %d replayed seq %" PRIu64 "..%" PRIu64 ": %" PRIu64
		       " duplicates, %" PRIu64 " enqueued again; resumed at seq %" PRIu64 "\n",
		       g, g_ok ? "ok" : "FAILED", (int)r->pid, r->at_s, r->confirmed, last,
		       last == r->confirmed + 1 ? " (the send in flight had been accepted)" : "",
		       (int)r->replacement_pid, last - want + 1, last, gs->replay_dups,
		       gs->replay_accepted, last + 1);
	}
	ok = ok && p->nrestarts == expected && queue_dups == replayed && unexpected == 0 &&
	     bad_stream == 0;
	printf("  dedup              %s: gateway restarts %u, orders replayed %" PRIu64
	       ", duplicates dropped by the queue %" PRIu64 " (ipcq_stats)%s,\n"
	       "                     duplicates delivered %" PRIu64 " (unflagged second fills at the sink), gaps %" PRIu64
	       " (missing ids), %" PRIu64 " wrong stream sequences\n",
	       ok ? "ok" : "FAILED", p->nrestarts, replayed, queue_dups,
	       unexpected ? ", new orders refused as duplicates!" : "",
	       s->dup_unflagged, s->missing, bad_stream);
	(void)dups;
	(void)accepted;
	return ok;
}

/*
 * The pressure scene: the slow worker phase made a gateway wait for
 * relief, the gateways saw the pressure and waited instead of filling the
 * ring, and no send failed.  Returns true if so.
 */
static bool report_pressure(const struct demo *d, const struct parent *p)
{
	const struct final_stats *f = &p->final_orders;
	const struct slow_phase *sl = &p->slow;
	uint64_t under = 0, waits = 0, timeouts = 0, failed = 0, full = 0;
	bool slow_ok, ok;

	for (unsigned g = 0; g < d->gateways; g++) {
		const struct gateway_stats *gs = &d->sh->gw[g];

		under += gs->under_pressure;
		waits += count_get((_Atomic uint64_t *)&gs->relief_waits);
		timeouts += gs->relief_timeouts;
		failed += gs->failed;
	}
	for (int i = 0; i < f->rc; i++)
		if (f->parts[i].flags & IPCQ_ATTACH_DEDUP)
			full += f->parts[i].full;
	for (unsigned i = 0; i < p->gone_orders.n; i++)
		if (p->gone_orders.parts[i].flags & IPCQ_ATTACH_DEDUP)
			full += p->gone_orders.parts[i].full;
	if (!d->pressure_scene) {
		printf("  pressure scene     off (-B): no watermarks; %" PRIu64 " gateway sends failed\n",
		       failed);
		return failed == 0;
	}
	/*
	 * Once held, the workers take at most one order each; so if gateway 0
	 * alone had high_watermark + MAX_SLOTS orders left to send, the queue
	 * had to reach the watermark and a gateway had to wait.  With fewer
	 * (a short run) the phase may end with gateway 0 simply done.
	 */
	bool must_wait = sl->over &&
		gateway_orders(d, 0) - sl->at_sent >= (uint64_t)d->high_watermark + MAX_SLOTS;

	slow_ok = sl->over ? sl->gateway_waited || !must_wait : slow_seq(d, 0) == 0;
	ok = slow_ok && failed == 0 && (!sl->gateway_waited || (under > 0 && waits > 0));
	printf("  pressure scene     %s: watermarks high %u / low %u of %u slots\n",
	       ok ? "ok" : "FAILED", d->high_watermark, d->low_watermark, d->capacity);
	if (sl->over)
		printf("                     slow worker phase: workers held after gateway 0 sent %" PRIu64
		       " orders, for %" PRIu64 " more orders (%.1f ms);\n"
		       "                     %s at depth %" PRIu64 "\n",
		       sl->at_sent, sl->sent_during, (double)(sl->end_ns - sl->start_ns) / 1e6,
		       sl->gateway_waited ? "released when a gateway began to wait for relief" :
		       must_wait ? "FAILED: released when gateway 0 finished, no gateway waited" :
		       "released when gateway 0 finished (too few orders left to reach the watermark)",
		       sl->depth);
	else
		printf("                     slow worker phase: %s\n", slow_seq(d, 0) ?
		       "FAILED: never started" : "skipped (gateway 0 has too few orders)");
	printf("                     pressure transitions on %" PRIu64 " / off %" PRIu64
	       " (ipcq_stats, every participant's count summed)\n",
	       SUM_ORDERS(p, pressure_on), SUM_ORDERS(p, pressure_off));
	printf("                     gateways: %" PRIu64 " sends under pressure, waited for relief %" PRIu64
	       " times (%" PRIu64 " waits of %.0f ms timed out and were repeated),\n"
	       "                     %" PRIu64 " sends failed, %" PRIu64 " found the ring full\n",
	       under, waits, timeouts, RELIEF_TIMEOUT_NS / 1e6, failed, full);
	return ok;
}

static const char *roles_name(const struct ipcq_participant_stats *ps)
{
	bool prod = ps->roles & IPCQ_ROLE_PRODUCER, cons = ps->roles & IPCQ_ROLE_CONSUMER;

	if (prod && cons)
		return "prod+cons";
	if (prod)
		return ps->flags & IPCQ_ATTACH_DEDUP ? "producer/named" : "producer";
	if (cons)
		return ps->flags & IPCQ_ATTACH_ACK ? "consumer/ack" : "consumer";
	return "-";
}

static void print_participant(const struct ipcq_participant_stats *ps)
{
	printf("      %-3u %-12s %-15s %7u %-5s %9" PRIu64 " %9" PRIu64 " %9" PRIu64
	       " %7" PRIu64 " %6" PRIu64 " %6" PRIu64 " %7.1fms\n",
	       ps->index, ps->name[0] ? ps->name : "-", roles_name(ps), ps->pid,
	       ps->alive ? "yes" : "no", ps->sent, ps->received, ps->acks,
	       ps->redeliveries, ps->duplicates, ps->full, (double)ps->blocked_ns / 1e6);
}

/*
 * One queue's final counters, from ipcq_stats() (see snapshot_step()),
 * with the participants that died during the run (kept when reaped).
 */
static void report_queue_stats(const char *name, const struct final_stats *f,
			       const struct departed *gone)
{
	const struct ipcq_stats *st = &f->st;
	const struct ipcq_info *in = &st->info;

	if (f->rc < 0) {
		printf("  %s: ipcq_stats: %s\n", name, ipcq_strerror(f->rc));
		return;
	}
	printf("  %s\n", name);
	printf("    messages         enqueued %" PRIu64 ", dequeued %" PRIu64 ", depth %" PRIu64
	       ", leased %u, redeliverable %u\n",
	       in->enqueued, in->dequeued, in->depth, in->leased, in->redeliverable);
	printf("    recovery         %" PRIu64 " actions: %" PRIu64 " skipped, %" PRIu64
	       " redelivered, %" PRIu64 " completed, %" PRIu64 " poisoned, %" PRIu64
	       " freed, %" PRIu64 " producer names taken over\n",
	       st->recoveries, st->skipped, st->redelivered, st->completed, st->poisoned,
	       st->freed, st->takeovers);
	printf("    side ring        %u of %u: %u nacked, %u max-deliveries, %u consumer-crashed; %" PRIu64
	       " moves refused\n",
	       in->side_depth, in->side_capacity, st->side_by_reason[IPCQ_REASON_NACKED],
	       st->side_by_reason[IPCQ_REASON_MAX_DELIVERIES],
	       st->side_by_reason[IPCQ_REASON_CONSUMER_CRASHED], st->side_full);
	if (in->high_watermark)
		printf("    pressure         %s (watermarks %u/%u)\n",
		       in->pressure ? "on" : "off", in->high_watermark, in->low_watermark);
	else
		printf("    pressure         no watermarks\n");
	printf("    participants     %u attached (alive, or died attached)%s\n",
	       st->participants, st->participants > (unsigned)f->rc ? ", not all listed" : "");
	printf("      %-3s %-12s %-15s %7s %-5s %9s %9s %9s %7s %6s %6s %9s\n",
	       "idx", "name", "role", "pid", "alive", "sent", "received", "acks",
	       "redeliv", "dups", "full", "blocked");
	for (int i = 0; i < f->rc; i++)
		print_participant(&f->parts[i]);
	if (gone->n || gone->lost)
		printf("    died during the run (their records, kept by the parent when it reaped them)%s\n",
		       gone->lost ? ", some lost: entry reused first" : "");
	for (unsigned i = 0; i < gone->n; i++)
		print_participant(&gone->parts[i]);
}

/* Print the summary; returns true if everything verified. */
static bool report(const struct demo *d, const struct parent *p,
		   struct ipcq *oq, bool children_ok)
{
	struct shared *sh = d->sh;
	struct sink_stats *s = &sh->sink;
	uint64_t sent = 0, processed = 0, start = UINT64_MAX, redelivered = 0;
	uint64_t w_bad = 0, w_order = 0, w_msg = 0, w_flags = 0, w_ends = 0;
	uint64_t expected = d->orders - (d->poison_scene ? 1 : 0);
	bool once, intact, ordered, ended, counts, kill_ok, poison_ok, side_ok;
	bool drained, restart_ok, pressure_ok, ok;
	struct ipcq_info oi = { .size = sizeof(oi) };
	double secs;

	for (unsigned g = 0; g < d->gateways; g++) {
		sent += count_get(&sh->gw[g].sent);
		if (sh->gw[g].start_ns && sh->gw[g].start_ns < start)
			start = sh->gw[g].start_ns;
	}
	for (unsigned w = 0; w < p->next_slot; w++) {
		processed += count_get(&sh->wk[w].processed);
		redelivered += sh->wk[w].redelivered;
		w_bad += sh->wk[w].bad_checksum;
		w_order += sh->wk[w].out_of_order;
		w_msg += sh->wk[w].bad_message;
		w_flags += sh->wk[w].bad_flags;
		w_ends += sh->wk[w].ends_taken;
	}
	uint64_t received = count_get(&s->received);
	uint64_t distinct = count_get(&s->distinct);

	printf("%ssummary\n", d->quiet ? "" : "\n");
	printf("  orders sent        %" PRIu64 " of %" PRIu64, sent, d->orders);
	if (d->poison_scene)
		printf("  (order %" PRIu64 " is poison)", d->poison_id);
	printf("\n");
	printf("  fills received     %" PRIu64 " for %" PRIu64 " orders  (accepted %" PRIu64
	       ", rejected by the risk check %" PRIu64 ")\n",
	       received, distinct, s->accepted, s->rejected);
	if (s->done && start != UINT64_MAX && s->end_ns > start) {
		secs = (double)(s->end_ns - start) / 1e9;
		printf("  elapsed            %.3f s  (first order sent -> last fill received)\n", secs);
		printf("  rate               %.0f orders/s end to end\n",
		       (double)distinct / secs);
		if (distinct > 0)
			printf("  latency            mean %.1f us, max %.1f us  (gateway send -> sink receive)\n",
			       (double)s->lat_sum_ns / (double)distinct / 1e3,
			       (double)s->lat_max_ns / 1e3);
	}
	for (unsigned w = 0; w < p->next_slot; w++) {
		struct worker_stats *ws = &sh->wk[w];
		uint64_t n = count_get(&ws->processed);
		const char *fate = "?";
		char note[48] = "";

		for (unsigned i = 0; i < p->nkids; i++) {
			const struct child *c = &p->kids[i];

			if (c->role != ROLE_WORKER || c->index != w)
				continue;
			if (p->kill.pid && p->kill.slot == w)
				fate = "SIGKILLed by the kill scene";
			else if (ws->poison_delivery)
				fate = "crashed on the poison order";
			else if (c->running)
				fate = "still running";
			else if (c->killed)
				fate = "killed when the parent gave up";
			else if (WIFEXITED(c->status) && WEXITSTATUS(c->status) == 0)
				fate = "finished";
			else
				fate = "died unexpectedly";
		}
		if (ws->replaces != NO_SLOT)
			snprintf(note, sizeof(note), ", replaces worker %u", ws->replaces);
		printf("  worker %-2u (pos %u%s) %9" PRIu64 " fills (%4.1f%%), %" PRIu64
		       " rejected, %" PRIu64 " redelivered to it, sink saw %" PRIu64 ": %s\n",
		       w, ws->position, note, n,
		       d->orders ? 100.0 * (double)n / (double)d->orders : 0.0,
		       ws->rejected, ws->redelivered, s->per_slot[w], fate);
	}
	if (!s->done) {
		printf("  verification       not done: the sink did not finish\n");
		printf("RESULT: FAIL\n");
		return false;
	}

	/* The scenes. */
	if (!d->kill_scene) {
		kill_ok = true;
		printf("  kill scene         off (-K)\n");
	} else if (!p->kill.pid) {
		/* Only a run with fewer fills than kill_at gets here. */
		kill_ok = expected < d->kill_at;
		printf("  kill scene         %s: no worker was killed after %" PRIu64 " fills\n",
		       kill_ok ? "skipped (too few orders)" : "FAILED", d->kill_at);
	} else {
		/* Each order of the victim's batch comes back once: its fill
		 * reaches the sink twice, the second time flagged. */
		kill_ok = p->kill.recover_rc >= 0 && s->dup_flagged == p->kill_unacked;
		printf("  kill scene         %s: worker %u (pid %d) SIGKILLed at %.2f s with %u fills sent and their orders unacked;\n"
		       "                     worker %u (pid %d) started in its place; %" PRIu64
		       " redelivered duplicates reached the sink\n",
		       kill_ok ? "ok" : "FAILED", p->kill.slot, (int)p->kill.pid,
		       p->kill.at_s, p->kill_unacked, p->kill.replacement,
		       (int)p->kill.replacement_pid, s->dup_flagged);
		print_recovery("                     ", &p->kill);
	}
	if (!d->poison_scene) {
		poison_ok = p->ncrashes == 0;
		printf("  poison scene       off (-P)\n");
	} else {
		poison_ok = p->ncrashes >= 1 && p->ncrashes <= MAX_DELIVERIES &&
			    s->poison_seen == 0;
		printf("  poison scene       %s: order %" PRIu64 " crashed %u worker(s) (SIGABRT, max_deliveries %u), "
		       "%" PRIu64 " fills for it\n",
		       poison_ok ? "ok" : "FAILED", d->poison_id, p->ncrashes,
		       MAX_DELIVERIES, s->poison_seen);
		/* In delivery order: the parent may reap them in another. */
		for (uint32_t n = 1; n <= MAX_DELIVERIES; n++) {
			for (unsigned i = 0; i < p->ncrashes; i++) {
				const struct death *x = &p->crash[i];

				if (x->delivery != n)
					continue;
				printf("    delivery %u: worker %u (pid %d) crashed, reaped at %.2f s; worker %u started in its place\n",
				       n, x->slot, (int)x->pid, x->at_s, x->replacement);
				print_recovery("      ", x);
			}
		}
	}
	side_ok = report_side_ring(d, oq, p->ncrashes);
	restart_ok = report_restart(d, p);
	pressure_ok = report_pressure(d, p);

	counts = sent == d->orders && processed == received &&
		 received == distinct + s->dup_flagged + s->dup_unflagged;
	once = s->missing == 0 && s->dup_unflagged == 0 && s->unknown == 0 &&
	       distinct == expected;
	intact = s->bad_checksum == 0 && s->bad_content == 0 && s->bad_message == 0 &&
		 w_bad == 0 && w_msg == 0 && w_flags == 0;
	ordered = s->out_of_order == 0 && s->bad_seq == 0 && w_order == 0;
	ended = s->ends == d->workers && s->dup_ends == 0 && s->extra_after_end == 0 &&
		p->ends_sent == d->workers && w_ends == d->workers;
	drained = ipcq_info(oq, &oi) == 0 && oi.depth == 0 && oi.leased == 0 &&
		  oi.redeliverable == 0;

	printf("  counts             %s: sent %" PRIu64 ", fills sent %" PRIu64
	       ", fills received %" PRIu64 "\n", counts ? "ok" : "WRONG", sent,
	       processed, received);
	printf("  exactly once       %s: %" PRIu64 " of %" PRIu64 " orders arrived, %" PRIu64
	       " missing, %" PRIu64 " unflagged duplicates, %" PRIu64
	       " unknown ids\n", once ? "ok" : "FAILED", distinct, expected,
	       s->missing, s->dup_unflagged, s->unknown);
	printf("  redeliveries       %" PRIu64 " orders came back flagged: %" PRIu64
	       " redelivered duplicates (flagged), %" PRIu64 " first fills\n",
	       redelivered, s->dup_flagged, s->redelivered_first);
	printf("  integrity          %s: %" PRIu64 " bad order checksums, %" PRIu64
	       " bad fill checksums, %" PRIu64 " wrong fills, %" PRIu64
	       " malformed messages, %" PRIu64 " wrong redelivery flags\n",
	       intact ? "ok" : "FAILED", w_bad, s->bad_checksum, s->bad_content,
	       s->bad_message + w_msg, w_flags);
	printf("  order              %s: %" PRIu64 " out of order at workers, %" PRIu64
	       " at the sink, %" PRIu64 " producer sequence gaps\n",
	       ordered ? "ok" : "FAILED", w_order, s->out_of_order, s->bad_seq);
	printf("  end of stream      %s: %u END markers sent, %" PRIu64 " taken, %" PRIu64
	       "/%u forwarded to the sink (%" PRIu64 " repeated), %" PRIu64
	       " messages after them; orders queue depth %" PRIu64
	       ", leased %u, redeliverable %u\n", ended && drained ? "ok" : "FAILED",
	       p->ends_sent, w_ends, s->ends, d->workers, s->dup_ends,
	       s->extra_after_end, oi.depth, oi.leased, oi.redeliverable);

	if (p->snapshot_taken) {
		printf("final counters (ipcq_stats, every participant still attached)\n");
		report_queue_stats(d->orders_name, &p->final_orders, &p->gone_orders);
		report_queue_stats(d->fills_name, &p->final_fills, &p->gone_fills);
	} else {
		printf("final counters     not taken: the run did not finish\n");
	}

	ok = children_ok && counts && once && intact && ordered && ended && drained &&
	     kill_ok && poison_ok && side_ok && restart_ok && pressure_ok &&
	     p->snapshot_taken;
	printf("RESULT: %s\n", ok ? "PASS" : "FAIL");
	return ok;
}

/*
 * The path of a tool built next to this program (ipcq-stat, ipcq-ctl),
 * found through /proc/self/exe, relative to the current directory when it
 * lies below it; the bare name when that fails.
 */
static void tool_path(const char *tool, char *out, size_t len)
{
	char exe[PATH_MAX], cwd[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	const char *dir = exe;
	char *slash;
	size_t cl;

	if (n <= 0) {
		snprintf(out, len, "%s", tool);
		return;
	}
	exe[n] = '\0';
	slash = strrchr(exe, '/');
	if (!slash) {
		snprintf(out, len, "%s", tool);
		return;
	}
	*slash = '\0';
	if (getcwd(cwd, sizeof(cwd)) && (cl = strlen(cwd)) > 1 &&
	    strncmp(exe, cwd, cl) == 0 && exe[cl] == '/')
		dir = exe + cl + 1;
	snprintf(out, len, "%s/%s", dir, tool);
}

static void print_watch_hint(const struct demo *d)
{
	char stat[2 * PATH_MAX];

	tool_path("ipcq-stat", stat, sizeof(stat));
	printf("  watch live: %s -w %s   (or %s)%s\n", stat, d->orders_name, d->fills_name,
	       access(stat, X_OK) == 0 ? "" : "  [not built: make tools]");
}

static void print_kept(const struct demo *d)
{
	char stat[2 * PATH_MAX], ctl[2 * PATH_MAX];

	tool_path("ipcq-stat", stat, sizeof(stat));
	tool_path("ipcq-ctl", ctl, sizeof(ctl));
	printf("queues kept (-k): %s %s\n", d->orders_name, d->fills_name);
	printf("  inspect: %s %s; side ring: %s poison list %s\n", stat, d->orders_name, ctl,
	       d->orders_name);
	printf("  remove:  %s unlink %s && %s unlink %s\n", ctl, d->orders_name, ctl,
	       d->fills_name);
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: ipcq-demo [-n ORDERS] [-w WORKERS] [-g GATEWAYS] [-c CAPACITY]\n"
		"                 [-t STALL_SECONDS] [-K] [-P] [-D] [-B] [-k] [-q]\n"
		"  -n  orders to send (default 3000000, at most %llu)\n"
		"  -w  worker processes (default 3, at most %u)\n"
		"  -g  gateway processes (default 1, at most %u)\n"
		"  -c  ring capacity of each queue, a power of two (default 4096)\n"
		"  -t  give up when nothing moves for this long (default 10 s)\n"
		"  -K  no kill scene (a worker SIGKILLed after its fills, before its acks)\n"
		"  -P  no poison scene (an order that crashes every worker that takes it)\n"
		"  -D  no restart scene (each gateway SIGKILLed mid-run, restarted, replaying\n"
		"      its last %u orders, which the queue drops as duplicates)\n"
		"  -B  no pressure scene (watermarks on the orders queue, a slow worker phase)\n"
		"  -k  keep the queues at the end for inspection (print their names, no unlink)\n"
		"  -q  quiet: no progress lines, only the summary\n",
		MAX_ORDERS, MAX_WORKERS, MAX_GATEWAYS, REPLAY_ORDERS);
}

static bool parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s || *end || s[0] == '-' || v < min || v > max)
		return false;
	*out = v;
	return true;
}

int main(int argc, char **argv)
{
	struct demo d = { .orders = 3000000, .workers = 3, .gateways = 1,
			  .capacity = 4096, .stall_s = 10,
			  .kill_scene = true, .poison_scene = true,
			  .restart_scene = true, .pressure_scene = true };
	struct ipcq_config cfg = IPCQ_CONFIG_INIT;
	struct ipcq *fq = NULL;
	struct parent *p = NULL;
	bool children_ok, ok = false;
	uint64_t v;
	int opt, rc;

	while ((opt = getopt(argc, argv, "n:w:g:c:t:KPDBkqh")) != -1) {
		switch (opt) {
		case 'n':
			if (!parse_u64(optarg, 1, MAX_ORDERS, &d.orders))
				goto bad_arg;
			break;
		case 'w':
			if (!parse_u64(optarg, 1, MAX_WORKERS, &v))
				goto bad_arg;
			d.workers = (unsigned)v;
			break;
		case 'g':
			if (!parse_u64(optarg, 1, MAX_GATEWAYS, &v))
				goto bad_arg;
			d.gateways = (unsigned)v;
			break;
		case 'c':
			if (!parse_u64(optarg, IPCQ_CAPACITY_MIN, IPCQ_CAPACITY_MAX, &v) ||
			    (v & (v - 1)))
				goto bad_arg;
			d.capacity = (uint32_t)v;
			break;
		case 't':
			if (!parse_u64(optarg, 1, 3600, &v))
				goto bad_arg;
			d.stall_s = (unsigned)v;
			break;
		case 'K':
			d.kill_scene = false;
			break;
		case 'P':
			d.poison_scene = false;
			break;
		case 'D':
			d.restart_scene = false;
			break;
		case 'B':
			d.pressure_scene = false;
			break;
		case 'k':
			d.keep = true;
			break;
		case 'q':
			d.quiet = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	d.batch = d.capacity < BATCH ? d.capacity : BATCH;
	d.kill_at = d.orders * KILL_AT_PERCENT / 100;
	if (d.kill_at == 0)
		d.kill_at = 1;
	d.poison_id = d.orders * POISON_AT_PERCENT / 100;
	/* Watermarks at 3/4 and 1/4 of the ring (1 <= low < high <= capacity). */
	d.low_watermark = d.capacity / 4 ? d.capacity / 4 : 1;
	d.high_watermark = d.capacity / 4 * 3 > d.low_watermark ?
			   d.capacity / 4 * 3 : d.low_watermark + 1;
	if (optind != argc) {
		usage(stderr);
		return 2;
	}

	d.sh = mmap(NULL, sizeof(*d.sh), PROT_READ | PROT_WRITE,
		    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	p = calloc(1, sizeof(*p));
	if (d.sh == MAP_FAILED || !p) {
		perror("ipcq-demo: mmap");
		free(p);
		return 1;
	}
	p->next_slot = d.workers;

	/*
	 * Both queues: names unique to this run, sized for our messages.  The
	 * orders queue gets a lease pool for the ack-mode workers (room for
	 * every worker's prefetch, and for the leases of the dead until they
	 * are taken over) and quarantines an order after MAX_DELIVERIES.
	 */
	snprintf(d.orders_name, sizeof(d.orders_name), "demo.orders.%d", (int)getpid());
	snprintf(d.fills_name, sizeof(d.fills_name), "demo.fills.%d", (int)getpid());
	cfg.capacity = d.capacity;
	cfg.max_participants = MAX_GATEWAYS + MAX_WORKERS + 8;
	cfg.max_msg_size = sizeof(struct order);
	cfg.lease_capacity = (d.workers + MAX_RESTARTS) * PREFETCH;
	cfg.max_deliveries = MAX_DELIVERIES;
	if (d.pressure_scene) {
		cfg.high_watermark = d.high_watermark;
		cfg.low_watermark = d.low_watermark;
	}
	rc = ipcq_create(d.orders_name, &cfg, &p->oq);
	if (rc < 0) {
		fprintf(stderr, "ipcq-demo: ipcq_create(%s): %s\n", d.orders_name,
			ipcq_strerror(rc));
		goto out;
	}
	/* The parent sends the END markers: it is a producer of orders too. */
	struct ipcq_attach_opts popts = IPCQ_ATTACH_OPTS_INIT;

	popts.name = "parent";
	rc = ipcq_attach(p->oq, IPCQ_ROLE_PRODUCER, &popts);
	if (rc < 0) {
		fprintf(stderr, "ipcq-demo: ipcq_attach(%s): %s\n", d.orders_name,
			ipcq_strerror(rc));
		goto out;
	}
	cfg.max_msg_size = sizeof(struct fill);
	cfg.lease_capacity = 0; /* the sink consumes fills in the fast mode */
	cfg.high_watermark = cfg.low_watermark = 0; /* nobody waits on fills */
	rc = ipcq_create(d.fills_name, &cfg, &fq);
	p->fq = fq;
	if (rc < 0) {
		fprintf(stderr, "ipcq-demo: ipcq_create(%s): %s\n", d.fills_name,
			ipcq_strerror(rc));
		goto out;
	}

	if (!d.quiet) {
		printf("ipcq %s pipeline demo: %u gateway(s) -> %u worker(s) -> 1 sink, %" PRIu64 " orders\n",
		       ipcq_version_string(), d.gateways, d.workers, d.orders);
		printf("  queues %s and %s, %u slots each; workers in ack mode, prefetch %u, max_deliveries %u\n",
		       d.orders_name, d.fills_name, d.capacity, PREFETCH, MAX_DELIVERIES);
		if (d.kill_scene)
			printf("  kill scene: a worker is SIGKILLed between its fills and its acks once workers have sent %" PRIu64 " fills\n",
			       d.kill_at);
		if (d.poison_scene)
			printf("  poison scene: order %" PRIu64 " crashes every worker that processes it\n",
			       d.poison_id);
		if (d.restart_scene)
			printf("  restart scene: every gateway is SIGKILLed past %u%% of its orders and restarted under its name;\n"
			       "                 the new one replays its last %u orders, which the queue must drop as duplicates\n",
			       RESTART_AT_PERCENT, REPLAY_ORDERS);
		if (d.pressure_scene)
			printf("  pressure scene: watermarks %u/%u on the orders queue; workers held after gateway 0\n"
			       "                 has sent %u%% of its orders, until a gateway has to wait for relief\n",
			       d.high_watermark, d.low_watermark, SLOW_AT_PERCENT);
		print_watch_hint(&d);
	}

	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);

	/* Consumers first, so they are waiting when the first order comes. */
	p->start_ns = now_ns();
	p->kids[p->nkids++] = (struct child){ .role = ROLE_SINK };
	p->kids[0].pid = spawn(&d, &p->kids[0]);
	if (p->kids[0].pid < 0) {
		perror("ipcq-demo: fork");
		goto out;
	}
	p->kids[0].running = true;
	p->running++;
	for (unsigned w = 0; w < d.workers; w++) {
		if (start_worker(&d, p, w, w, NO_SLOT) < 0)
			goto fork_failed;
	}
	for (unsigned g = 0; g < d.gateways; g++) {
		if (start_gateway(&d, p, g, false) < 0)
			goto fork_failed;
	}

	children_ok = supervise(&d, p, fq);
	ok = report(&d, p, p->oq, children_ok);
out:
	/* Unlink on every path (but -k); a handle still open keeps working meanwhile. */
	if (fq) {
		ipcq_close(fq);
		if (!d.keep)
			ipcq_unlink(d.fills_name);
	}
	if (p->oq) {
		ipcq_close(p->oq);
		if (!d.keep)
			ipcq_unlink(d.orders_name);
	}
	if (d.keep && p->oq)
		print_kept(&d);
	free(p);
	munmap(d.sh, sizeof(*d.sh));
	return ok ? 0 : 1;
fork_failed:
	perror("ipcq-demo: fork");
	kill_all(p);
	reap(&d, p, true);
	goto out;
bad_arg:
	fprintf(stderr, "ipcq-demo: bad value for -%c: %s\n", opt, optarg);
	usage(stderr);
	return 2;
}
