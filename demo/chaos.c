/*
 * chaos.c - the scenes, the parent's side: stage each death at its moment
 * (kill, restart, the slow worker phase), tell a staged death from a real
 * failure when a child is reaped, recover and start a replacement.
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
 */
#include <inttypes.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>

#include "demo.h"

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
 * (ipcq would also do it by itself, see the top of this file), say what
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
bool child_exited(const struct demo *d, struct parent *p,
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

/*
 * The kill scene: SIGKILL the victim once it has parked (see struct
 * kill_scene).  Waits on the shared word, never on time.
 */
void kill_scene_step(const struct demo *d, struct parent *p)
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
void restart_scene_step(const struct demo *d, struct parent *p)
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
void slow_phase_step(const struct demo *d, struct parent *p)
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
	/* acquire: see gateways_done() in parent.c */
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
