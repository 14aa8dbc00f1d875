/*
 * parent.c - the parent's children and its supervision loop: fork the
 * gateways, workers, sink, audit recorder and tap, reap them (a death is judged in chaos.c),
 * drive the scenes, print progress once a second, give up on a stall,
 * decide the end of the stream and take the final snapshot.
 *
 * End of stream: with crashes about, "every order was taken from the
 * ring" no longer means "every order was processed": a worker may die
 * holding leases, and end-of-stream markers sent by the gateways could be
 * among them, travel with the poison order from crash to crash and be
 * quarantined with it.  So the parent decides the end, from facts that
 * crashes cannot undo: every gateway has sent everything, the sink has a
 * fill for every order id but the poison one, the poison order is in the
 * side ring, and the orders queue holds nothing (depth 0, no lease held,
 * none waiting to be redelivered; from here on nobody crashes by design;
 * with fan-out the depth is the slowest durable group's, so the audit
 * recorder has every order too).  Then it sends one END marker per worker
 * position; each worker forwards an END to the sink and only then acks its
 * marker (had it died before the forward, its marker would go to another
 * worker), and exits.  The sink stops when it has an END from every
 * position.  Every group receives the markers: the audit recorder and the
 * tap stop at them too.
 *
 * Monitoring: the demo prints the ipcq-stat command that watches it live
 * (the tool built next to the demo, found through /proc/self/exe).  At
 * the end every child stays attached until the parent has read both
 * queues with ipcq_stats() and the orders queue's groups with
 * ipcq_group_list(), so the summary shows each queue's final counters,
 * its participants and each group's figures; those that died during the run are read
 * when the parent reaps them, before anyone can reuse their entries.
 *
 * Robustness: children get SIGKILL if the parent dies (PR_SET_PDEATHSIG);
 * the parent kills everyone when a child dies unexpectedly or when nothing
 * moves for the stall timeout (-t), and unlinks the queues on every path.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "demo.h"

const char *child_name(const struct child *c, char *buf, size_t len)
{
	static const char *const names[] = { "gateway", "worker", "sink", "audit", "tap" };

	if (c->role == ROLE_GATEWAY || c->role == ROLE_WORKER)
		snprintf(buf, len, "%s %u", names[c->role], c->index);
	else
		snprintf(buf, len, "%s", names[c->role]);
	return buf;
}

pid_t spawn(const struct demo *d, struct child *c)
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
	case ROLE_AUDIT:
		rc = run_audit(d);
		break;
	case ROLE_TAP:
		rc = run_tap(d);
		break;
	default:
		rc = run_sink(d);
		break;
	}
	fflush(NULL);
	_exit(rc);
}

/* Fork child @c as the next of the parent's children and count it
 * running: its pid, or -1 when fork failed (nothing counted). */
pid_t start_child(const struct demo *d, struct parent *p, struct child c)
{
	struct child *k = &p->kids[p->nkids];

	*k = c;
	k->pid = spawn(d, k);
	if (k->pid < 0)
		return -1;
	k->running = true;
	p->nkids++;
	p->running++;
	return k->pid;
}

/* Fork the worker of slot @slot, playing position @position. */
pid_t start_worker(const struct demo *d, struct parent *p,
			  unsigned slot, unsigned position, unsigned replaces)
{
	d->sh->wk[slot].position = position;
	d->sh->wk[slot].replaces = replaces;
	return start_child(d, p, (struct child){ .role = ROLE_WORKER, .index = slot });
}

/* Fork gateway @g; @restarted: in place of one the restart scene killed. */
pid_t start_gateway(const struct demo *d, struct parent *p, unsigned g,
			   bool restarted)
{
	return start_child(d, p, (struct child){ .role = ROLE_GATEWAY, .index = g,
						 .restarted = restarted });
}

void kill_all(struct parent *p)
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

double since_start(const struct parent *p)
{
	return (double)(now_ns() - p->start_ns) / 1e9;
}

/* Reap what has exited; false if a child failed. */
bool reap(const struct demo *d, struct parent *p, bool block)
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

/* Gateways that have sent all their orders (a killed one's replacement counts). */
unsigned gateways_done(const struct demo *d)
{
	unsigned n = 0;

	for (unsigned g = 0; g < d->gateways; g++)
		/* acquire: pairs with the gateway's release; its counters are final */
		n += atomic_load_explicit(&d->sh->gw[g].done, memory_order_acquire) != 0;
	return n;
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
	p->ngroups = ipcq_group_list(p->oq, p->groups, ORDERS_GROUPS);
	p->snapshot_taken = true;
	/* pairs with the children's acquire in linger() */
	atomic_store_explicit(&d->sh->dismissed, 1, memory_order_release);
}

/*
 * The end of the stream (see the top of this file): once nothing is left
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
	uint64_t ready, sent, processed, received, audited, tapped;
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
	s->audited = count_get(&d->sh->audit.received);
	s->tapped = count_get(&d->sh->tap.delivered);
	s->oi.size = sizeof(s->oi);
	s->fi.size = sizeof(s->fi);
	ipcq_info(oq, &s->oi);
	ipcq_info(fq, &s->fi);
}

static bool same_progress(const struct snapshot *a, const struct snapshot *b)
{
	/* Children still attaching (slow under sanitizers) count as moving. */
	return a->ready == b->ready && a->sent == b->sent && a->processed == b->processed &&
	       a->received == b->received && a->audited == b->audited &&
	       a->tapped == b->tapped &&
	       a->oi.enqueued == b->oi.enqueued && a->oi.dequeued == b->oi.dequeued &&
	       a->fi.enqueued == b->fi.enqueued && a->fi.dequeued == b->fi.dequeued;
}

static void print_progress(const struct demo *d, double t, const struct snapshot *s,
			   uint64_t rate)
{
	printf("  %5.2fs  sent %10" PRIu64 "  orders depth %6" PRIu64
	       " leased %4u  fills depth %6" PRIu64 "  received %10" PRIu64
	       "  (%" PRIu64 "/s)",
	       t, s->sent, s->oi.depth, s->oi.leased, s->fi.depth, s->received, rate);
	if (d->fanout)
		printf("  audit %10" PRIu64 "  tap %8" PRIu64, s->audited, s->tapped);
	printf("\n");
	fflush(stdout);
}

/*
 * Watch the children: run the kill scene, replace the workers that died
 * as expected, print progress once a second, and give up (kill them all)
 * when a child fails, on SIGINT/SIGTERM, or when nothing has moved in
 * either queue for the stall timeout.  Returns true if every child ended
 * well.
 */
bool supervise(const struct demo *d, struct parent *p, struct ipcq *fq)
{
	const struct timespec tick = { 0, 2 * 1000000 };
	struct snapshot last, cur;
	uint64_t last_print = p->start_ns, last_move = p->start_ns;
	uint64_t last_hint = p->start_ns;
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
			print_progress(d, (double)(now - p->start_ns) / 1e9, &cur,
				       (cur.received - last.received) * 1000000000ull /
				       (now - last_print));
		/* A paced run is long: say again, now and then, how to watch it. */
		if (!d->quiet && d->ns_per_order > 0 &&
		    now - last_hint >= HINT_EVERY_S * 1000000000ull) {
			print_watch_hint(d);
			fflush(stdout);
			last_hint = now;
		}
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
				"  audit received %" PRIu64 ", tap received %" PRIu64 "\n"
				"  poison crashes %u, side ring depth %u, END markers sent %u\n",
				d->stall_s, p->running,
				cur.oi.enqueued, cur.oi.dequeued, cur.oi.depth, cur.oi.leased,
				cur.oi.redeliverable, cur.oi.participants,
				cur.fi.enqueued, cur.fi.dequeued, cur.fi.depth, cur.fi.participants,
				cur.sent, cur.processed, cur.received,
				count_get(&d->sh->sink.distinct),
				d->orders - (d->poison_scene ? 1 : 0), cur.audited, cur.tapped,
				p->ncrashes,
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
