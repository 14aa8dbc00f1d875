/*
 * pipeline.c - the ipcq demo: an order-handling pipeline of processes.
 *
 * Topology (every box is a process, every arrow an ipcq queue):
 *
 *                  demo.orders.<pid>                  demo.fills.<pid>
 *   +-----------+                      +----------+
 *   | gateway 0 |--+                +->| worker 0 |--+
 *   +-----------+  |   +--------+   |  +----------+  |   +--------+   +------+
 *        ...       +-->| orders |---+->| worker 1 |--+-->| fills  |-->| sink |
 *   +-----------+  |   +--------+   |  +----------+  |   +--------+   +------+
 *   | gateway G |--+                +->| worker W |--+
 *   +-----------+                      +----------+
 *
 *   gateway  makes orders (id, client, side, price, quantity, checksum) and
 *            sends them in batches to "demo.orders.<pid>";
 *   worker   takes orders from that queue (each order goes to exactly one
 *            worker), checks the checksum, does the risk check (notional
 *            against a limit) and sends a fill record, accepted or
 *            rejected, to "demo.fills.<pid>";
 *   sink     takes every fill and verifies the whole run: each order id
 *            arrived exactly once (a bitmap), each record is intact (its
 *            checksum) and right (the sink re-derives the order from its id
 *            and redoes the worker's arithmetic), and the order the queues
 *            promise held (see "What is verified" below);
 *   parent   creates both queues, forks everyone, prints progress from
 *            ipcq_info() once a second, reaps the children, prints the
 *            summary and unlinks the queues.
 *
 * End of stream: after its last order each gateway sends one END marker
 * per worker.  A worker stops once it has taken G markers (one per
 * gateway's worth); because ipcq_recv_batch() may hand one worker several
 * markers at once, a worker puts any surplus back on the orders queue for
 * its peers.  Orders of a gateway always sit before that gateway's markers
 * in the ring, so when every marker has been taken every order has been
 * taken too.  Each worker then sends one END to the sink, which stops after
 * W of them.
 *
 * What is verified (exit status 0 only if all of it holds):
 *  - exactly once: no order id missing, none received twice, none unknown;
 *  - integrity: every order's and every fill's checksum, and each fill's
 *    notional and risk verdict recomputed from the order id;
 *  - order: ipcq promises per-producer FIFO.  So each worker must see the
 *    orders of one gateway in increasing id order (it receives a
 *    subsequence of that gateway's stream), the sink must see the fills of
 *    one worker in the order the worker sent them (increasing id per
 *    gateway), and the per-producer sequence numbers ipcq reports must run
 *    1, 2, 3, ... for every worker without a gap;
 *  - end of stream: W END markers, nothing left in the fills queue after
 *    them.
 *
 * Robustness: children get SIGKILL if the parent dies (PR_SET_PDEATHSIG);
 * the parent kills everyone when a child dies abnormally or when nothing
 * moves for the stall timeout (-t), and unlinks the queues on every path.
 *
 * Usage: ipcq-demo [-n ORDERS] [-w WORKERS] [-g GATEWAYS] [-c CAPACITY]
 *                  [-t STALL_SECONDS] [-q]
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
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ipcq.h"

#define MAX_GATEWAYS 16u
#define MAX_WORKERS 64u
#define MAX_ORDERS 1000000000ull /* the sink's bitmap: 125 MB */
#define BATCH 64u                /* messages per send/recv batch call */

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

struct order {
	uint32_t type;       /* MSG_ORDER, or MSG_END after the last order */
	uint32_t gateway;    /* which gateway sent it */
	uint64_t order_id;   /* 0 .. n-1, unique over all gateways */
	uint32_t client_id;
	uint32_t side;       /* enum side */
	int64_t price;       /* ticks of 1/PRICE_SCALE */
	uint32_t quantity;
	uint32_t pad;        /* zero */
	uint64_t sent_ns;    /* CLOCK_MONOTONIC when the gateway sent it */
	uint64_t checksum;   /* of every byte before this field */
};

struct fill {
	uint32_t type;       /* MSG_FILL, or MSG_END when the worker stops */
	uint32_t worker;     /* which worker made it */
	uint64_t order_id;
	uint32_t gateway;
	uint32_t status;     /* enum fill_status */
	int64_t notional;    /* price x quantity, in ticks */
	uint64_t order_checksum;
	uint64_t sent_ns;    /* copied from the order, for the latency */
	uint64_t checksum;   /* of every byte before this field */
};

_Static_assert(sizeof(struct order) == 56, "struct order has padding");
_Static_assert(offsetof(struct order, checksum) == sizeof(struct order) - 8,
	       "checksum must be the last field");
_Static_assert(sizeof(struct fill) == 56, "struct fill has padding");
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
		       uint64_t sent_ns)
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
 * the _Atomic ones live for the progress lines (relaxed: they are only
 * displayed); the others it reads after waitpid(), which orders them.
 */
struct gateway_stats {
	_Alignas(128) _Atomic uint64_t sent;
	uint64_t start_ns;          /* just before the first order */
};

struct worker_stats {
	_Alignas(128) _Atomic uint64_t processed;
	uint64_t rejected;          /* by the risk check (a normal outcome) */
	uint64_t bad_checksum;
	uint64_t bad_message;       /* wrong length or type */
	uint64_t out_of_order;      /* a gateway's ids not increasing */
	uint64_t ends_taken;
	uint64_t ends_passed_on;    /* surplus markers put back */
};

struct sink_stats {
	_Alignas(128) _Atomic uint64_t received;
	uint64_t end_ns;            /* when the last fill arrived */
	uint64_t accepted, rejected;
	uint64_t missing, duplicate, unknown;
	uint64_t bad_checksum, bad_content, bad_message;
	uint64_t out_of_order, bad_seq;
	uint64_t ends, extra_after_end;
	uint64_t per_worker[MAX_WORKERS];
	uint64_t lat_sum_ns, lat_max_ns;
	uint32_t done;              /* the sink finished its checks */
};

struct shared {
	_Alignas(128) _Atomic uint32_t ready;  /* children attached so far */
	struct gateway_stats gw[MAX_GATEWAYS];
	struct worker_stats wk[MAX_WORKERS];
	struct sink_stats sink;
};

_Static_assert(ATOMIC_LLONG_LOCK_FREE == 2,
	       "64-bit atomics must be lock-free to work across processes");

/* What every process knows about the run. */
struct demo {
	uint64_t orders;
	unsigned workers, gateways;
	uint32_t capacity;
	unsigned batch;      /* messages per batch call: BATCH, at most capacity */
	unsigned stall_s;
	bool quiet;
	char orders_name[64], fills_name[64];
	struct shared *sh;
};

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
 */
static int open_attach(const char *qname, unsigned roles, const char *who,
		       struct ipcq **out)
{
	struct ipcq_attach_opts opts = IPCQ_ATTACH_OPTS_INIT;
	struct ipcq *q = NULL;
	int rc;

	rc = ipcq_open(qname, &q);
	if (rc < 0) {
		fprintf(stderr, "%s: ipcq_open(%s): %s\n", who, qname,
			ipcq_strerror(rc));
		return rc;
	}
	opts.name = who;
	rc = ipcq_attach(q, roles, &opts);
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

/* ------------------------------------------------------------------ */
/* Gateway                                                             */
/* ------------------------------------------------------------------ */

static int run_gateway(const struct demo *d, unsigned g)
{
	struct gateway_stats *st = &d->sh->gw[g];
	struct order batch[BATCH];
	struct ipcq_buf bufs[BATCH];
	struct ipcq *q = NULL;
	char who[32];
	uint64_t id = g;
	int rc;

	snprintf(who, sizeof(who), "gateway-%u", g);
	rc = open_attach(d->orders_name, IPCQ_ROLE_PRODUCER, who, &q);
	if (rc < 0)
		return 1;
	signal_ready(d);
	wait_all_ready(d);
	st->start_ns = now_ns();

	for (unsigned i = 0; i < BATCH; i++) {
		bufs[i].data = &batch[i];
		bufs[i].len = sizeof(batch[i]);
	}

	/* Gateway g owns the ids g, g + G, g + 2G, ... */
	while (id < d->orders) {
		uint64_t t = now_ns();
		unsigned k = 0;

		for (; k < d->batch && id < d->orders; k++, id += d->gateways)
			make_order(&batch[k], id, g, t);
		rc = send_all(q, bufs, k);
		if (rc < 0)
			goto fail;
		count_add(&st->sent, k);
	}

	/* One END marker per worker, after the last order. */
	for (unsigned w = 0; w < d->workers; w++) {
		struct order end = { .type = MSG_END, .gateway = g };

		end.checksum = order_checksum(&end);
		rc = send_one(q, &end, sizeof(end));
		if (rc < 0)
			goto fail;
	}
	ipcq_close(q);
	return 0;
fail:
	fprintf(stderr, "%s: send: %s\n", who, ipcq_strerror(rc));
	ipcq_close(q);
	return 1;
}

/* ------------------------------------------------------------------ */
/* Worker                                                              */
/* ------------------------------------------------------------------ */

static int run_worker(const struct demo *d, unsigned w)
{
	struct worker_stats *st = &d->sh->wk[w];
	struct order in[BATCH];
	struct fill out[BATCH];
	struct ipcq_buf inb[BATCH], outb[BATCH];
	uint64_t next_id[MAX_GATEWAYS] = { 0 }; /* lowest id still allowed */
	struct ipcq *orders = NULL, *fills = NULL;
	const char *what = "";
	char who[32];
	int rc;

	snprintf(who, sizeof(who), "worker-%u", w);
	/*
	 * Consumer of orders, and producer too: only to hand surplus END
	 * markers back to the other workers.
	 */
	if (open_attach(d->orders_name, IPCQ_ROLE_CONSUMER | IPCQ_ROLE_PRODUCER,
			who, &orders) < 0)
		return 1;
	if (open_attach(d->fills_name, IPCQ_ROLE_PRODUCER, who, &fills) < 0) {
		ipcq_close(orders);
		return 1;
	}
	signal_ready(d);

	for (unsigned i = 0; i < BATCH; i++) {
		outb[i].data = &out[i];
		outb[i].len = sizeof(out[i]);
	}

	while (st->ends_taken < d->gateways) {
		unsigned nf = 0;

		for (unsigned i = 0; i < BATCH; i++) {
			inb[i].data = &in[i];
			inb[i].len = sizeof(in[i]);  /* room; becomes the length */
		}
		rc = ipcq_recv_batch(orders, inb, NULL, d->batch, IPCQ_FOREVER);
		if (rc == -EINTR)
			continue;
		if (rc < 0) {
			what = "ipcq_recv_batch(orders)";
			goto fail;
		}

		for (int i = 0; i < rc; i++) {
			const struct order *o = &in[i];
			struct fill *f = &out[nf];

			if (inb[i].len != sizeof(*o) ||
			    (o->type != MSG_ORDER && o->type != MSG_END) ||
			    o->gateway >= d->gateways) {
				st->bad_message++;
				continue;
			}
			if (o->checksum != order_checksum(o)) {
				st->bad_checksum++;
				continue;
			}
			if (o->type == MSG_END) {
				st->ends_taken++;
				continue;
			}
			/* Per-producer FIFO: one gateway's ids only go up. */
			if (o->order_id < next_id[o->gateway])
				st->out_of_order++;
			next_id[o->gateway] = o->order_id + 1;

			memset(f, 0, sizeof(*f));
			f->type = MSG_FILL;
			f->worker = w;
			f->order_id = o->order_id;
			f->gateway = o->gateway;
			risk_check(o, &f->notional, &f->status);
			f->order_checksum = o->checksum;
			f->sent_ns = o->sent_ns;
			f->checksum = fill_checksum(f);
			if (f->status == FILL_REJECTED)
				st->rejected++;
			nf++;
		}
		if (nf > 0) {
			rc = send_all(fills, outb, nf);
			if (rc < 0) {
				what = "ipcq_send_batch(fills)";
				goto fail;
			}
			count_add(&st->processed, nf);
		}
	}

	/* A batch may have brought more END markers than this worker needs. */
	while (st->ends_taken - st->ends_passed_on > d->gateways) {
		struct order end = { .type = MSG_END };

		end.checksum = order_checksum(&end);
		rc = send_one(orders, &end, sizeof(end));
		if (rc < 0) {
			what = "ipcq_send(orders, END)";
			goto fail;
		}
		st->ends_passed_on++;
	}

	/* This worker's last message: its END to the sink. */
	out[0] = (struct fill){ .type = MSG_END, .worker = w };
	out[0].checksum = fill_checksum(&out[0]);
	rc = send_one(fills, &out[0], sizeof(out[0]));
	if (rc < 0) {
		what = "ipcq_send(fills, END)";
		goto fail;
	}
	ipcq_close(fills);
	ipcq_close(orders);
	return 0;
fail:
	fprintf(stderr, "%s: %s: %s\n", who, what, ipcq_strerror(rc));
	ipcq_close(fills);
	ipcq_close(orders);
	return 1;
}

/* ------------------------------------------------------------------ */
/* Sink                                                                */
/* ------------------------------------------------------------------ */

/* Check one fill against everything the sink knows; count what is wrong. */
static void check_fill(const struct demo *d, struct sink_stats *st,
		       const struct fill *f, uint8_t *seen, uint64_t *next_id,
		       uint64_t now)
{
	struct order o;
	int64_t notional;
	uint32_t status;

	if (f->order_id >= d->orders || f->gateway >= d->gateways ||
	    f->order_id % d->gateways != f->gateway) {
		st->unknown++;
		return;
	}
	/* Exactly once: one bit per order id. */
	if (seen[f->order_id / 8] & (1u << (f->order_id % 8))) {
		st->duplicate++;
		return;
	}
	seen[f->order_id / 8] |= (uint8_t)(1u << (f->order_id % 8));

	/* Right content: re-derive the order, redo the worker's arithmetic. */
	make_order(&o, f->order_id, f->gateway, f->sent_ns);
	risk_check(&o, &notional, &status);
	if (f->order_checksum != o.checksum || f->notional != notional ||
	    f->status != status)
		st->bad_content++;
	if (status == FILL_ACCEPTED)
		st->accepted++;
	else
		st->rejected++;

	/* Per-producer FIFO twice over: gateway -> worker -> sink. */
	if (f->order_id < next_id[f->worker * MAX_GATEWAYS + f->gateway])
		st->out_of_order++;
	next_id[f->worker * MAX_GATEWAYS + f->gateway] = f->order_id + 1;

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
	uint64_t last_seq[MAX_WORKERS] = { 0 };
	uint64_t *next_id = NULL;
	uint8_t *seen = NULL;
	struct ipcq *q = NULL;
	const char *what = "";
	uint64_t got = 0;
	int rc;

	seen = calloc(d->orders / 8 + 1, 1);
	next_id = calloc((size_t)MAX_WORKERS * MAX_GATEWAYS, sizeof(*next_id));
	if (!seen || !next_id) {
		fprintf(stderr, "sink: out of memory for the bitmap\n");
		goto out_mem;
	}
	if (open_attach(d->fills_name, IPCQ_ROLE_CONSUMER, "sink", &q) < 0)
		goto out_mem;
	signal_ready(d);

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

			if (bufs[i].len != sizeof(*f) || f->worker >= d->workers ||
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
				st->ends++;
				continue;
			}
			st->per_worker[f->worker]++;
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
		if (!(seen[id / 8] & (1u << (id % 8))))
			st->missing++;
	st->done = 1;
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
	unsigned index;
	bool running;
	bool killed;         /* by the parent, giving up */
	int status;
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
		rc = run_gateway(d, c->index);
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

static void kill_all(struct child *kids, unsigned n)
{
	unsigned killed = 0;

	for (unsigned i = 0; i < n; i++) {
		if (kids[i].running && kill(kids[i].pid, SIGKILL) == 0) {
			kids[i].killed = true;
			killed++;
		}
	}
	if (killed > 0)
		fprintf(stderr, "ipcq-demo: killed the %u remaining process(es)\n",
			killed);
}

/* Reap what has exited; false if a child failed. */
static bool reap(struct child *kids, unsigned n, unsigned *running, bool block)
{
	bool ok = true;
	int status;
	pid_t pid;

	while (*running > 0 &&
	       (pid = waitpid(-1, &status, block ? 0 : WNOHANG)) > 0) {
		for (unsigned i = 0; i < n; i++) {
			char name[32];

			if (kids[i].pid != pid || !kids[i].running)
				continue;
			kids[i].running = false;
			kids[i].status = status;
			(*running)--;
			if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
				break;
			ok = false;
			if (kids[i].killed)
				break;
			if (WIFSIGNALED(status))
				fprintf(stderr, "ipcq-demo: %s (pid %d) killed by signal %d (%s)\n",
					child_name(&kids[i], name, sizeof(name)),
					(int)pid, WTERMSIG(status),
					strsignal(WTERMSIG(status)));
			else
				fprintf(stderr, "ipcq-demo: %s (pid %d) exited with status %d\n",
					child_name(&kids[i], name, sizeof(name)),
					(int)pid, WEXITSTATUS(status));
			break;
		}
	}
	return ok;
}

struct snapshot {
	uint64_t sent, processed, received;
	struct ipcq_info oi, fi;
};

static void take_snapshot(const struct demo *d, struct ipcq *oq,
			  struct ipcq *fq, struct snapshot *s)
{
	memset(s, 0, sizeof(*s));
	for (unsigned g = 0; g < d->gateways; g++)
		s->sent += count_get(&d->sh->gw[g].sent);
	for (unsigned w = 0; w < d->workers; w++)
		s->processed += count_get(&d->sh->wk[w].processed);
	s->received = count_get(&d->sh->sink.received);
	s->oi.size = sizeof(s->oi);
	s->fi.size = sizeof(s->fi);
	ipcq_info(oq, &s->oi);
	ipcq_info(fq, &s->fi);
}

static bool same_progress(const struct snapshot *a, const struct snapshot *b)
{
	return a->sent == b->sent && a->processed == b->processed &&
	       a->received == b->received &&
	       a->oi.enqueued == b->oi.enqueued && a->oi.dequeued == b->oi.dequeued &&
	       a->fi.enqueued == b->fi.enqueued && a->fi.dequeued == b->fi.dequeued;
}

static void print_progress(double t, const struct snapshot *s, uint64_t rate)
{
	printf("  %5.1fs  sent %10" PRIu64 "  orders depth %6" PRIu64
	       "  fills depth %6" PRIu64 "  received %10" PRIu64 "  (%" PRIu64 "/s)\n",
	       t, s->sent, s->oi.depth, s->fi.depth, s->received, rate);
	fflush(stdout);
}

/*
 * Watch the children: progress once a second, and give up (kill them all)
 * when one fails, on SIGINT/SIGTERM, or when nothing has moved in either
 * queue for the stall timeout.  Returns true if every child exited 0.
 */
static bool supervise(const struct demo *d, struct child *kids, unsigned n,
		      struct ipcq *oq, struct ipcq *fq)
{
	const struct timespec tick = { 0, 50 * 1000000 };
	struct snapshot last, cur;
	uint64_t start = now_ns(), last_print = start, last_move = start;
	unsigned running = n;
	bool ok = true;

	take_snapshot(d, oq, fq, &last);
	while (running > 0) {
		uint64_t now;

		if (!reap(kids, n, &running, false)) {
			ok = false;
			break;
		}
		if (running == 0)
			break;
		if (interrupted) {
			fprintf(stderr, "ipcq-demo: %s, stopping\n",
				strsignal(interrupted));
			ok = false;
			break;
		}
		nanosleep(&tick, NULL);

		now = now_ns();
		if (now - last_print < 1000000000ull)
			continue;
		take_snapshot(d, oq, fq, &cur);
		if (!d->quiet)
			print_progress((double)(now - start) / 1e9, &cur,
				       (cur.received - last.received) * 1000000000ull /
				       (now - last_print));
		if (!same_progress(&cur, &last))
			last_move = now;
		else if (now - last_move >= (uint64_t)d->stall_s * 1000000000ull) {
			fprintf(stderr,
				"ipcq-demo: STALL: nothing moved for %u s with %u process(es) still running\n"
				"  orders: enqueued %" PRIu64 " dequeued %" PRIu64 " depth %" PRIu64 " participants %u\n"
				"  fills:  enqueued %" PRIu64 " dequeued %" PRIu64 " depth %" PRIu64 " participants %u\n"
				"  gateways sent %" PRIu64 ", workers processed %" PRIu64 ", sink received %" PRIu64 "\n",
				d->stall_s, running,
				cur.oi.enqueued, cur.oi.dequeued, cur.oi.depth, cur.oi.participants,
				cur.fi.enqueued, cur.fi.dequeued, cur.fi.depth, cur.fi.participants,
				cur.sent, cur.processed, cur.received);
			for (unsigned i = 0; i < n; i++) {
				char name[32];

				if (kids[i].running)
					fprintf(stderr, "  still running: %s (pid %d)\n",
						child_name(&kids[i], name, sizeof(name)),
						(int)kids[i].pid);
			}
			ok = false;
			break;
		}
		last = cur;
		last_print = now;
	}
	if (!ok) {
		kill_all(kids, n);
		reap(kids, n, &running, true);
	}
	return ok;
}

/* Print the summary; returns true if everything verified. */
static bool report(const struct demo *d, bool children_ok)
{
	struct shared *sh = d->sh;
	struct sink_stats *s = &sh->sink;
	uint64_t sent = 0, processed = 0, start = UINT64_MAX;
	uint64_t w_bad = 0, w_order = 0, w_msg = 0;
	bool once, intact, ordered, ended, counts, ok;
	double secs;

	for (unsigned g = 0; g < d->gateways; g++) {
		sent += count_get(&sh->gw[g].sent);
		if (sh->gw[g].start_ns && sh->gw[g].start_ns < start)
			start = sh->gw[g].start_ns;
	}
	for (unsigned w = 0; w < d->workers; w++) {
		processed += count_get(&sh->wk[w].processed);
		w_bad += sh->wk[w].bad_checksum;
		w_order += sh->wk[w].out_of_order;
		w_msg += sh->wk[w].bad_message;
	}
	uint64_t received = count_get(&s->received);

	printf("%ssummary\n", d->quiet ? "" : "\n");
	printf("  orders sent        %" PRIu64 " of %" PRIu64 "\n", sent, d->orders);
	printf("  results received   %" PRIu64 "  (accepted %" PRIu64
	       ", rejected by the risk check %" PRIu64 ")\n",
	       received, s->accepted, s->rejected);
	if (s->done && start != UINT64_MAX && s->end_ns > start) {
		secs = (double)(s->end_ns - start) / 1e9;
		printf("  elapsed            %.3f s  (first order sent -> last fill received)\n", secs);
		printf("  rate               %.0f orders/s end to end\n",
		       (double)received / secs);
		if (received > 0)
			printf("  latency            mean %.1f us, max %.1f us  (gateway send -> sink receive)\n",
			       (double)s->lat_sum_ns / (double)received / 1e3,
			       (double)s->lat_max_ns / 1e3);
	}
	for (unsigned w = 0; w < d->workers; w++) {
		struct worker_stats *ws = &sh->wk[w];
		uint64_t p = count_get(&ws->processed);

		printf("  worker %-3u         %10" PRIu64 " orders (%4.1f%%), %" PRIu64
		       " rejected, sink saw %" PRIu64 ", END markers taken %" PRIu64
		       " (passed on %" PRIu64 ")\n",
		       w, p, d->orders ? 100.0 * (double)p / (double)d->orders : 0.0,
		       ws->rejected, s->per_worker[w], ws->ends_taken, ws->ends_passed_on);
	}
	if (!s->done) {
		printf("  verification       not done: the sink did not finish\n");
		printf("RESULT: FAIL\n");
		return false;
	}

	counts = sent == d->orders && processed == d->orders && received == d->orders;
	once = s->missing == 0 && s->duplicate == 0 && s->unknown == 0;
	intact = s->bad_checksum == 0 && s->bad_content == 0 && s->bad_message == 0 &&
		 w_bad == 0 && w_msg == 0;
	ordered = s->out_of_order == 0 && s->bad_seq == 0 && w_order == 0;
	ended = s->ends == d->workers && s->extra_after_end == 0;

	printf("  counts             %s: sent %" PRIu64 ", processed %" PRIu64
	       ", received %" PRIu64 "\n", counts ? "ok" : "WRONG", sent, processed,
	       received);
	printf("  exactly once       %s: %" PRIu64 " missing, %" PRIu64
	       " duplicate, %" PRIu64 " unknown ids\n", once ? "ok" : "FAILED",
	       s->missing, s->duplicate, s->unknown);
	printf("  integrity          %s: %" PRIu64 " bad order checksums, %" PRIu64
	       " bad fill checksums, %" PRIu64 " wrong fills, %" PRIu64
	       " malformed messages\n", intact ? "ok" : "FAILED", w_bad,
	       s->bad_checksum, s->bad_content, s->bad_message + w_msg);
	printf("  order              %s: %" PRIu64 " out of order at workers, %" PRIu64
	       " at the sink, %" PRIu64 " producer sequence gaps\n",
	       ordered ? "ok" : "FAILED", w_order, s->out_of_order, s->bad_seq);
	printf("  end of stream      %s: %" PRIu64 "/%u END markers, %" PRIu64
	       " messages after them\n", ended ? "ok" : "FAILED", s->ends,
	       d->workers, s->extra_after_end);

	ok = children_ok && counts && once && intact && ordered && ended;
	printf("RESULT: %s\n", ok ? "PASS" : "FAIL");
	return ok;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: ipcq-demo [-n ORDERS] [-w WORKERS] [-g GATEWAYS] [-c CAPACITY]\n"
		"                 [-t STALL_SECONDS] [-q]\n"
		"  -n  orders to send (default 3000000, at most %llu)\n"
		"  -w  worker processes (default 3, at most %u)\n"
		"  -g  gateway processes (default 1, at most %u)\n"
		"  -c  ring capacity of each queue, a power of two (default 4096)\n"
		"  -t  give up when nothing moves for this long (default 10 s)\n"
		"  -q  quiet: no progress lines, only the summary\n",
		MAX_ORDERS, MAX_WORKERS, MAX_GATEWAYS);
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
			  .capacity = 4096, .stall_s = 10 };
	struct ipcq_config cfg = IPCQ_CONFIG_INIT;
	struct ipcq *oq = NULL, *fq = NULL;
	struct child kids[MAX_GATEWAYS + MAX_WORKERS + 1];
	unsigned nkids = 0;
	bool children_ok, ok = false;
	uint64_t v;
	int opt, rc;

	while ((opt = getopt(argc, argv, "n:w:g:c:t:qh")) != -1) {
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
	if (optind != argc) {
		usage(stderr);
		return 2;
	}

	d.sh = mmap(NULL, sizeof(*d.sh), PROT_READ | PROT_WRITE,
		    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (d.sh == MAP_FAILED) {
		perror("ipcq-demo: mmap");
		return 1;
	}

	/* Both queues: names unique to this run, sized for our messages. */
	snprintf(d.orders_name, sizeof(d.orders_name), "demo.orders.%d", (int)getpid());
	snprintf(d.fills_name, sizeof(d.fills_name), "demo.fills.%d", (int)getpid());
	cfg.capacity = d.capacity;
	cfg.max_participants = MAX_GATEWAYS + MAX_WORKERS + 8;
	cfg.max_msg_size = sizeof(struct order);
	rc = ipcq_create(d.orders_name, &cfg, &oq);
	if (rc < 0) {
		fprintf(stderr, "ipcq-demo: ipcq_create(%s): %s\n", d.orders_name,
			ipcq_strerror(rc));
		goto out;
	}
	cfg.max_msg_size = sizeof(struct fill);
	rc = ipcq_create(d.fills_name, &cfg, &fq);
	if (rc < 0) {
		fprintf(stderr, "ipcq-demo: ipcq_create(%s): %s\n", d.fills_name,
			ipcq_strerror(rc));
		goto out;
	}

	if (!d.quiet) {
		printf("ipcq %s pipeline demo: %u gateway(s) -> %u worker(s) -> 1 sink, %" PRIu64 " orders\n",
		       ipcq_version_string(), d.gateways, d.workers, d.orders);
		printf("  queues %s and %s, %u slots each\n", d.orders_name,
		       d.fills_name, d.capacity);
	}

	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);

	/* Consumers first, so they are waiting when the first order comes. */
	kids[nkids++] = (struct child){ .role = ROLE_SINK };
	for (unsigned w = 0; w < d.workers; w++)
		kids[nkids++] = (struct child){ .role = ROLE_WORKER, .index = w };
	for (unsigned g = 0; g < d.gateways; g++)
		kids[nkids++] = (struct child){ .role = ROLE_GATEWAY, .index = g };
	for (unsigned i = 0; i < nkids; i++) {
		kids[i].pid = spawn(&d, &kids[i]);
		if (kids[i].pid < 0) {
			perror("ipcq-demo: fork");
			nkids = i;
			kill_all(kids, nkids);
			unsigned running = nkids;
			reap(kids, nkids, &running, true);
			goto out;
		}
		kids[i].running = true;
	}

	children_ok = supervise(&d, kids, nkids, oq, fq);
	ok = report(&d, children_ok);
out:
	/* Unlink on every path; a handle still open keeps working meanwhile. */
	if (fq) {
		ipcq_close(fq);
		ipcq_unlink(d.fills_name);
	}
	if (oq) {
		ipcq_close(oq);
		ipcq_unlink(d.orders_name);
	}
	munmap(d.sh, sizeof(*d.sh));
	return ok ? 0 : 1;
bad_arg:
	fprintf(stderr, "ipcq-demo: bad value for -%c: %s\n", opt, optarg);
	usage(stderr);
	return 2;
}
