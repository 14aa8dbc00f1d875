/*
 * demo.h - what every file of the pipeline demo shares: the limits and
 * the moments of the scenes, the message format, the statistics page that
 * every process writes into, the run's parameters (struct demo), the
 * parent's bookkeeping, and the functions each file offers the others.
 *
 * Who does what: main.c (options, the queues, the start), gateway.c,
 * worker.c and sink.c (the pipeline's children), fanout.c (the audit
 * recorder and the tap, the other groups of the orders queue), parent.c (forking,
 * reaping, the supervision loop, the end of the stream), chaos.c (the
 * scenes the parent stages), report.c (the summary and its checks),
 * message.c and common.c (helpers of every role).
 */
#ifndef IPCQ_DEMO_H
#define IPCQ_DEMO_H

#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>
#include <time.h>

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

/*
 * Fan-out: the orders queue's consumer groups.  The workers share the
 * group "workers"; the audit recorder alone reads "audit" (durable: it
 * holds producers back like the workers); the tap reads "tap" (lossy),
 * pausing TAP_PAUSE_US after each batch, so that it falls behind on
 * purpose and is told what it missed.
 */
#define GROUP_WORKERS "workers"
#define GROUP_AUDIT "audit"
#define GROUP_TAP "tap"
#define ORDERS_GROUPS 3u
#define TAP_PAUSE_US 1000u

/* A paced run (--rate, --duration) repeats the ipcq-stat command this often. */
#define HINT_EVERY_S 10u

/* Risk limit: orders whose notional (price x quantity) exceeds it are rejected. */
#define PRICE_SCALE 10000        /* prices are in ticks of 1/10000 */
#define NOTIONAL_LIMIT (100000ll * PRICE_SCALE)

/* ------------------------------------------------------------------ */
/* Messages (message.c)                                                */
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

uint64_t order_checksum(const struct order *o);
uint64_t fill_checksum(const struct fill *f);
/* The order with id @id; the sink calls it too, to check the fills. */
void make_order(struct order *o, uint64_t id, uint32_t gateway, bool poison,
		uint64_t sent_ns);
/* The worker's "work": notional and a pre-trade risk check. */
void risk_check(const struct order *o, int64_t *notional, uint32_t *status);

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

/*
 * The audit recorder: the group "audit" of the orders queue, one fast-mode
 * consumer, must see every order the gateways had accepted exactly once,
 * each gateway's in its order sequence, and one END per worker position.
 */
struct audit_stats {
	_Alignas(128) _Atomic uint64_t received; /* messages, END markers included */
	uint64_t orders;            /* orders in sequence (the expected next one) */
	uint64_t duplicates;        /* a gateway's sequence at or below the last one */
	uint64_t gaps;              /* ... past the next one: orders skipped */
	uint64_t missing;           /* orders never seen, counted at the end */
	uint64_t poison;            /* the poison order: once, it crashes nobody here */
	uint64_t redelivered;       /* IPCQ_MSG_REDELIVERED: never, in a group of one */
	uint64_t bad_message, bad_checksum, bad_stream;
	uint64_t ends, dup_ends, extra_after_end;
	uint32_t done;
};

/*
 * The tap: the lossy group "tap", read slowly.  What it got and what it
 * was told it missed (msginfo.gap) must add up to what the queue took.
 */
struct tap_stats {
	_Alignas(128) _Atomic uint64_t delivered; /* messages, END markers included */
	uint64_t missed;            /* sum of msginfo.gap */
	uint64_t gap_events;        /* receives flagged IPCQ_MSG_GAP */
	uint64_t bad_gap;           /* the flag without a count, or a count without it */
	uint64_t bad_message, bad_checksum;
	uint64_t out_of_order;      /* a gateway's sequence not above the last one it got */
	uint64_t ends;
	uint32_t done;
};

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
	struct audit_stats audit;
	struct tap_stats tap;
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
	bool keep;           /* -k, --keep: leave the queues for inspection */
	/*
	 * --rate, --duration: order id i is due ns_per_order * i after its
	 * gateway started, so the gateways together send 1e9 / ns_per_order
	 * orders a second (at most); 0: as fast as the pipeline goes.
	 */
	double ns_per_order;
	bool kill_scene, poison_scene, restart_scene, pressure_scene;
	bool fanout;         /* the audit and tap groups (-F: workers alone, no groups) */
	uint64_t kill_at;    /* fills sent that start the kill scene */
	uint64_t poison_id;  /* the poison order, if poison_scene */
	uint32_t high_watermark, low_watermark; /* of the orders queue, if pressure_scene */
	char orders_name[64], fills_name[64];
	struct shared *sh;
};

static inline bool is_poison(const struct demo *d, uint64_t id)
{
	return d->poison_scene && id == d->poison_id;
}

/*
 * Gateway g owns the ids g, g + G, g + 2G, ...: its order number seq (1,
 * 2, 3, ...) is the id g + (seq - 1) G, and that number is also the
 * sequence it sends the order with (ipcq_send_seq), so the id of every
 * order a gateway has sent follows from its sequence and back.
 */
static inline uint64_t gateway_orders(const struct demo *d, unsigned g)
{
	return g < d->orders ? (d->orders - g + d->gateways - 1) / d->gateways : 0;
}

static inline uint64_t order_id_of(const struct demo *d, unsigned g, uint64_t seq)
{
	return g + (seq - 1) * d->gateways;
}

static inline uint64_t order_seq_of(const struct demo *d, uint64_t id)
{
	return id / d->gateways + 1;
}

/* The pressure scene: the sequence after whose send gateway 0 holds the workers. */
static inline uint64_t slow_seq(const struct demo *d, unsigned g)
{
	if (!d->pressure_scene || g != 0)
		return 0;
	/* below its last order, so that a send follows that can hit the watermark */
	return gateway_orders(d, 0) * SLOW_AT_PERCENT / 100;
}

/* The restart scene: the sequence after whose send gateway g is killed. */
static inline uint64_t restart_seq(const struct demo *d, unsigned g)
{
	uint64_t n = gateway_orders(d, g);

	if (!d->restart_scene || n == 0)
		return 0;
	return n * RESTART_AT_PERCENT / 100 ? n * RESTART_AT_PERCENT / 100 : 1;
}

static inline uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static inline void count_add(_Atomic uint64_t *c, uint64_t v)
{
	/* Single writer: a relaxed load and store is enough, no locked op. */
	atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + v,
			      memory_order_relaxed);
}

static inline void count_set(_Atomic uint64_t *c, uint64_t v)
{
	atomic_store_explicit(c, v, memory_order_relaxed);
}

static inline uint64_t count_get(_Atomic uint64_t *c)
{
	return atomic_load_explicit(c, memory_order_relaxed);
}

/* ------------------------------------------------------------------ */
/* Helpers of every child (common.c)                                   */
/* ------------------------------------------------------------------ */

/*
 * Open queue @qname and attach with @roles under the name @who (@opts may
 * be NULL: the defaults).  Prints what failed; returns 0 or -errno.
 */
int open_attach(const char *qname, unsigned roles, struct ipcq_attach_opts *opts,
		const char *who, struct ipcq **out);
/* Announce this child attached; wait until every first child has. */
void signal_ready(const struct demo *d);
void wait_all_ready(const struct demo *d);
/* After the last END marker: count what still comes (see common.c). */
int count_after_end(struct ipcq *q, uint64_t *extra);
/* Stay attached until the parent has taken the final snapshot. */
void linger(const struct demo *d);

/* The kinds of child; each returns its exit status. */
int run_gateway(const struct demo *d, unsigned g, bool restarted); /* gateway.c */
int run_worker(const struct demo *d, unsigned slot);               /* worker.c */
int run_sink(const struct demo *d);                                /* sink.c */
int run_audit(const struct demo *d);                               /* fanout.c */
int run_tap(const struct demo *d);                                 /* fanout.c */

/* The first children, whom the gateways wait for before the first order. */
static inline unsigned first_children(const struct demo *d)
{
	return d->gateways + d->workers + 1 + (d->fanout ? 2u : 0u);
}

/* ------------------------------------------------------------------ */
/* The parent                                                          */
/* ------------------------------------------------------------------ */

enum role { ROLE_GATEWAY, ROLE_WORKER, ROLE_SINK, ROLE_AUDIT, ROLE_TAP };

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
	int ngroups;                 /* ipcq_group_list() of the orders queue, at the snapshot */
	struct ipcq_group_info groups[ORDERS_GROUPS];
	struct ipcq_participant_stats scratch[MAX_PARTICIPANTS];
	bool kill_sent;
	struct death kill;           /* the kill scene, once kill.pid != 0 */
	uint32_t kill_unacked;
	struct death crash[MAX_DELIVERIES];
	unsigned ncrashes;           /* poison crashes */
};

/* main.c: the signal that asked the run to stop, or 0. */
extern volatile sig_atomic_t interrupted;

/* parent.c: the children and the supervision loop. */
const char *child_name(const struct child *c, char *buf, size_t len);
pid_t spawn(const struct demo *d, struct child *c);
pid_t start_child(const struct demo *d, struct parent *p, struct child c);
pid_t start_worker(const struct demo *d, struct parent *p, unsigned slot,
		   unsigned position, unsigned replaces);
pid_t start_gateway(const struct demo *d, struct parent *p, unsigned g,
		    bool restarted);
void kill_all(struct parent *p);
bool reap(const struct demo *d, struct parent *p, bool block);
double since_start(const struct parent *p);
unsigned gateways_done(const struct demo *d);
bool supervise(const struct demo *d, struct parent *p, struct ipcq *fq);

/* chaos.c: the scenes, as the parent stages and recognizes them. */
bool child_exited(const struct demo *d, struct parent *p, struct child *c,
		  int status);
void kill_scene_step(const struct demo *d, struct parent *p);
void restart_scene_step(const struct demo *d, struct parent *p);
void slow_phase_step(const struct demo *d, struct parent *p);

/* report.c: what the parent prints. */
void print_recovery(const char *indent, const struct death *x);
bool report(const struct demo *d, const struct parent *p, struct ipcq *oq,
	    bool children_ok);
void print_watch_hint(const struct demo *d);
void print_kept(const struct demo *d);

#endif /* IPCQ_DEMO_H */
