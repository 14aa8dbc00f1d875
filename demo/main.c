/*
 * main.c - the ipcq demo: an order-handling pipeline of processes that
 * keeps its delivery guarantees while workers crash.  This file reads the
 * options, creates both queues, starts the children and hands over to the
 * supervision loop (parent.c), then prints the summary (report.c) and
 * removes the queues.
 *
 * Topology (every box is a process, every arrow an ipcq queue):
 *
 *                  demo.orders.<pid>                  demo.fills.<pid>
 *   +-----------+                      +----------+
 *   | gateway 0 |--+                +->| worker 0 |--+
 *   +-----------+  |   +--------+   |  +----------+  |   +--------+   +------+
 *        ...       +-->| orders |---+->| worker 1 |--+-->| fills  |-->| sink |
 *   +-----------+  |   +---+----+   |  +----------+  |   +--------+   +------+
 *   | gateway G |--+       |        +->| worker W |--+
 *   +-----------+          |           +----------+   group "workers" (ack mode)
 *                          |           +-------+
 *                          +---------->| audit |      group "audit" (durable)
 *                          |           +-------+
 *                          |           +-----+
 *                          +---------->| tap |        group "tap" (lossy, slow)
 *                                      +-----+
 *
 *   The orders queue fans out (consumer groups, fanout.c): every group
 *   receives every order, and the consumers of one group share its
 *   orders.  -F turns it off: no groups, the workers alone.
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
 *            verified" in report.c);
 *   audit    records every order the gateways sent, from its own durable
 *            group: each exactly once, in each gateway's sequence;
 *   tap      a deliberately slow monitor in a lossy group: it never holds
 *            the gateways back, and counts what it missed;
 *   parent   creates both queues, forks everyone, stages the scenes,
 *            restarts crashed workers and killed gateways, decides the end
 *            of the stream, prints progress from ipcq_info() once a second,
 *            prints the summary with the queues' final ipcq_stats() and
 *            unlinks the queues (not with -k).
 *
 * Where the rest lives: gateway.c, worker.c (ack mode and why the sink
 * must be idempotent), sink.c, fanout.c (the audit and the tap); parent.c (the end of the stream,
 * monitoring, robustness); chaos.c (the scenes); report.c (what is
 * verified); demo.h (the messages and the shared statistics).
 *
 * Watching it: by default the run lasts a few seconds and removes its
 * queues.  --duration SECONDS sends orders at a steady pace for about that
 * long (--rate sets the pace, -n spreads that many orders over it), so
 * that ipcq-stat can watch the queues live; the scenes keep their places
 * in the stream, so they are spread over the run too.  --keep leaves the
 * queues for inspection afterwards.
 *
 * Usage: ipcq-demo [-n ORDERS] [-w WORKERS] [-g GATEWAYS] [-c CAPACITY]
 *                  [-t STALL_SECONDS] [-K] [-P] [-D] [-B] [-F] [-k] [-q]
 *                  [--duration SECONDS] [--rate ORDERS_PER_SECOND] [--keep]
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "demo.h"

/* Long options: values past any character getopt_long() returns. */
enum { OPT_DURATION = 256, OPT_RATE };

#define MAX_DURATION_S 86400u   /* --duration: a day */
#define MAX_RATE 100000000u     /* --rate: beyond what the pipeline takes */
#define DURATION_RATE 100000u   /* --duration alone: orders a second */

static const struct option long_opts[] = {
	{ "duration", required_argument, NULL, OPT_DURATION },
	{ "rate", required_argument, NULL, OPT_RATE },
	{ "keep", no_argument, NULL, 'k' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
	interrupted = sig;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: ipcq-demo [-n ORDERS] [-w WORKERS] [-g GATEWAYS] [-c CAPACITY]\n"
		"                 [-t STALL_SECONDS] [-K] [-P] [-D] [-B] [-F] [-k] [-q]\n"
		"                 [--duration SECONDS] [--rate ORDERS_PER_SECOND] [--keep]\n"
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
		"  -F  no fan-out: no consumer groups on the orders queue, no audit recorder\n"
		"      (group \"audit\") and no tap (lossy group \"tap\") beside the workers\n"
		"  -k, --keep  keep the queues at the end for inspection (print their names,\n"
		"      no unlink)\n"
		"  -q  quiet: no progress lines, only the summary\n"
		"  --duration SECONDS  send orders for about that long (at most %u s), to watch\n"
		"      the run live with ipcq-stat: %u a second, or --rate's, or the -n\n"
		"      orders spread over it; the scenes keep their places in the stream\n"
		"  --rate ORDERS_PER_SECOND  the gateways together send at most that many\n"
		"      orders a second (at most %u)\n"
		"  Without --duration and --rate the orders go as fast as the pipeline takes\n"
		"  them.  A paced run prints the ipcq-stat command that watches its queues,\n"
		"  at the start and every %u seconds.\n",
		MAX_ORDERS, MAX_WORKERS, MAX_GATEWAYS, REPLAY_ORDERS, MAX_DURATION_S,
		DURATION_RATE, MAX_RATE, HINT_EVERY_S);
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

/* Add group @name to the orders queue; says what failed. */
static int create_group(struct ipcq *q, const char *name, uint32_t flags)
{
	int rc = ipcq_group_create(q, name, flags);

	if (rc < 0)
		fprintf(stderr, "ipcq-demo: ipcq_group_create(%s): %s\n", name,
			ipcq_strerror(rc));
	return rc;
}

int main(int argc, char **argv)
{
	struct demo d = { .orders = 3000000, .workers = 3, .gateways = 1,
			  .capacity = 4096, .stall_s = 10,
			  .kill_scene = true, .poison_scene = true,
			  .restart_scene = true, .pressure_scene = true,
			  .fanout = true };
	struct ipcq_config cfg = IPCQ_CONFIG_INIT;
	struct ipcq *fq = NULL;
	struct parent *p = NULL;
	bool children_ok, ok = false;
	uint64_t v, duration = 0, rate = 0;
	bool orders_given = false;
	int opt, rc;

	while ((opt = getopt_long(argc, argv, "n:w:g:c:t:KPDBFkqh", long_opts,
				  NULL)) != -1) {
		switch (opt) {
		case 'n':
			if (!parse_u64(optarg, 1, MAX_ORDERS, &d.orders))
				goto bad_arg;
			orders_given = true;
			break;
		case OPT_DURATION:
			if (!parse_u64(optarg, 1, MAX_DURATION_S, &duration))
				goto bad_arg;
			break;
		case OPT_RATE:
			if (!parse_u64(optarg, 1, MAX_RATE, &rate))
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
		case 'F':
			d.fanout = false;
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
	/*
	 * --duration and --rate: how many orders, at what pace (struct demo).
	 * --duration alone sends DURATION_RATE orders a second for that long;
	 * with -n it spreads those orders over it instead.
	 */
	if (duration && !rate && !orders_given)
		rate = DURATION_RATE;
	if (duration && rate) {
		if (orders_given) {
			fprintf(stderr, "ipcq-demo: -n, --duration and --rate: give two at most\n");
			usage(stderr);
			return 2;
		}
		if (rate * duration > MAX_ORDERS) {
			fprintf(stderr, "ipcq-demo: --rate x --duration: more than %llu orders\n",
				MAX_ORDERS);
			return 2;
		}
		d.orders = rate * duration;
	}
	if (rate)
		d.ns_per_order = 1e9 / (double)rate;
	else if (duration)
		d.ns_per_order = (double)duration * 1e9 / (double)d.orders;
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
	cfg.max_groups = d.fanout ? ORDERS_GROUPS : 0;
	rc = ipcq_create(d.orders_name, &cfg, &p->oq);
	if (rc < 0) {
		fprintf(stderr, "ipcq-demo: ipcq_create(%s): %s\n", d.orders_name,
			ipcq_strerror(rc));
		goto out;
	}
	/* The groups, before anyone sends: each receives every order. */
	if (d.fanout && (create_group(p->oq, GROUP_WORKERS, 0) < 0 ||
			 create_group(p->oq, GROUP_AUDIT, 0) < 0 ||
			 create_group(p->oq, GROUP_TAP, IPCQ_GROUP_LOSSY) < 0))
		goto out;
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
	cfg.max_groups = 0; /* one sink: a work queue */
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
		if (d.fanout)
			printf("  fan-out: the orders queue's groups \"%s\" (the workers), \"%s\" (an audit recorder,\n"
			       "           durable) and \"%s\" (a monitor pausing %u us a batch, lossy)\n",
			       GROUP_WORKERS, GROUP_AUDIT, GROUP_TAP, TAP_PAUSE_US);
		if (d.pressure_scene)
			printf("  pressure scene: watermarks %u/%u on the orders queue; workers held after gateway 0\n"
			       "                 has sent %u%% of its orders, until a gateway has to wait for relief\n",
			       d.high_watermark, d.low_watermark, SLOW_AT_PERCENT);
		if (d.ns_per_order > 0)
			printf("  paced: at most %.0f orders/s over all gateways, about %.0f s of traffic\n",
			       1e9 / d.ns_per_order, d.ns_per_order * (double)d.orders / 1e9);
		print_watch_hint(&d);
	} else if (d.ns_per_order > 0) {
		print_watch_hint(&d); /* a paced run is there to be watched */
	}
	fflush(stdout);

	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);

	/* Consumers first, so they are waiting when the first order comes. */
	p->start_ns = now_ns();
	if (start_child(&d, p, (struct child){ .role = ROLE_SINK }) < 0) {
		perror("ipcq-demo: fork");
		goto out;
	}
	for (unsigned w = 0; w < d.workers; w++) {
		if (start_worker(&d, p, w, w, NO_SLOT) < 0)
			goto fork_failed;
	}
	if (d.fanout &&
	    (start_child(&d, p, (struct child){ .role = ROLE_AUDIT }) < 0 ||
	     start_child(&d, p, (struct child){ .role = ROLE_TAP }) < 0))
		goto fork_failed;
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
	if (opt == OPT_DURATION || opt == OPT_RATE)
		fprintf(stderr, "ipcq-demo: bad value for --%s: %s\n",
			opt == OPT_RATE ? "rate" : "duration", optarg);
	else
		fprintf(stderr, "ipcq-demo: bad value for -%c: %s\n", opt, optarg);
	usage(stderr);
	return 2;
}
