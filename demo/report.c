/*
 * report.c - what the parent prints: the summary at the end with every
 * check that decides RESULT: PASS or FAIL, the side ring, each queue's
 * final counters, what recovery did, and the ipcq-stat and ipcq-ctl
 * command lines for the demo's queues.
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
 *    after them, and nothing in the orders queue;
 *  - fan-out (not with -F): the orders queue has its three groups, each
 *    at the end of the stream; the audit recorder got every order
 *    exactly once, in each gateway's sequence, the poison order once,
 *    nothing redelivered, every END and nothing after them; the tap's
 *    orders were intact and in each gateway's order, and what it got
 *    plus what it was told it missed is every message the queue took,
 *    its missed count the group's own dropped count; the poison order
 *    went to the side ring from the workers' group.
 */
#include <inttypes.h>
#include <limits.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "demo.h"

void print_recovery(const char *indent, const struct death *x)
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

/* Group @name of the orders queue as the final snapshot saw it, or NULL. */
static const struct ipcq_group_info *find_group(const struct parent *p, const char *name)
{
	for (int i = 0; i < p->ngroups && i < (int)ORDERS_GROUPS; i++)
		if (strcmp(p->groups[i].name, name) == 0)
			return &p->groups[i];
	return NULL;
}

/*
 * List the poison side ring of the orders queue and check it: with the
 * poison scene it must hold exactly the poison order, quarantined because
 * its consumers crashed (from the workers' group, with fan-out); without
 * it, nothing.  Returns true if so.
 */
static bool report_side_ring(const struct demo *d, const struct parent *p,
			     struct ipcq *oq, unsigned crashes)
{
	const struct ipcq_group_info *wg = find_group(p, GROUP_WORKERS);
	/* the group it was taken from, index + 1; 0 without groups */
	uint32_t group = !d->fanout ? 0 : wg ? wg->index + 1 : UINT32_MAX;
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
		     e->seq == o.order_id / d->gateways + 1 && e->group == group;
		if (ok)
			good++;
		printf("    id %" PRIu64 "  reason %s  deliveries %u  producer %u  seq %" PRIu64
		       "  group %u  last consumer pid %u  order id %" PRIu64 "%s  %s\n",
		       e->id, reason_name(e->reason), e->deliveries, e->producer,
		       e->seq, e->group, e->last_consumer_pid,
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

/*
 * Fan-out: the orders queue's groups as the final snapshot saw them, the
 * audit recorder's count (every order once, in sequence) and the tap's
 * (delivered + missed = what the queue took).  Returns true if all holds
 * (or fan-out is off).
 */
static bool report_fanout(const struct demo *d, const struct parent *p)
{
	const struct audit_stats *a = &d->sh->audit;
	const struct tap_stats *t = &d->sh->tap;
	const struct ipcq_group_info *wg = find_group(p, GROUP_WORKERS);
	const struct ipcq_group_info *ag = find_group(p, GROUP_AUDIT);
	const struct ipcq_group_info *tg = find_group(p, GROUP_TAP);
	uint64_t took = p->final_orders.rc >= 0 ? p->final_orders.st.info.enqueued : 0;
	uint64_t delivered = count_get((_Atomic uint64_t *)&t->delivered);
	bool groups_ok, audit_ok, tap_ok;

	if (!d->fanout) {
		printf("  fan-out            off (-F): no groups on the orders queue\n");
		return true;
	}
	if (!p->snapshot_taken || p->final_orders.rc < 0) {
		printf("  fan-out            FAILED: no final snapshot of the groups\n");
		return false;
	}
	/* Every group at the end of the stream; the lossy one dropped what
	 * its reader was told it missed, and holds nothing. */
	groups_ok = p->ngroups == (int)ORDERS_GROUPS && wg && ag && tg &&
		    !(wg->flags & IPCQ_GROUP_LOSSY) && !(ag->flags & IPCQ_GROUP_LOSSY) &&
		    (tg->flags & IPCQ_GROUP_LOSSY) && tg->holding == 0;
	for (int i = 0; groups_ok && i < p->ngroups; i++)
		groups_ok = p->groups[i].position == took && p->groups[i].lag == 0 &&
			    p->groups[i].start == 0;
	printf("  fan-out            %s: %d group(s) on the orders queue (ipcq_group_list, at the end), %" PRIu64
	       " messages taken:\n", groups_ok ? "ok" : "FAILED", p->ngroups, took);
	printf("      %-9s %-8s %7s %5s %10s %10s %6s %10s\n", "group", "kind", "members", "dead",
	       "start", "position", "lag", "dropped");
	for (int i = 0; i < p->ngroups && i < (int)ORDERS_GROUPS; i++) {
		const struct ipcq_group_info *g = &p->groups[i];

		printf("      %-9s %-8s %7u %5u %10" PRIu64 " %10" PRIu64 " %6" PRIu64 " %10" PRIu64 "\n",
		       g->name, g->flags & IPCQ_GROUP_LOSSY ? "lossy" : "durable", g->members,
		       g->dead, g->start, g->position, g->lag, g->dropped);
	}

	audit_ok = a->done && a->orders == d->orders && a->duplicates == 0 && a->gaps == 0 &&
		   a->missing == 0 && a->poison == (d->poison_scene ? 1u : 0u) &&
		   a->redelivered == 0 && a->bad_message == 0 && a->bad_checksum == 0 &&
		   a->bad_stream == 0 && a->ends == d->workers && a->dup_ends == 0 &&
		   a->extra_after_end == 0;
	printf("  audit group        %s: %" PRIu64 " of %" PRIu64 " orders, each once in its gateway's sequence: %" PRIu64
	       " duplicates, %" PRIu64 " skipped, %" PRIu64 " missing;\n"
	       "                     the poison order %" PRIu64 " time(s), %" PRIu64 " redelivered, %" PRIu64
	       " malformed, %" PRIu64 " bad checksums, %" PRIu64 " wrong stream sequences;\n"
	       "                     %" PRIu64 "/%u END markers (%" PRIu64 " repeated), %" PRIu64
	       " messages after them\n",
	       audit_ok ? "ok" : "FAILED", a->orders, d->orders, a->duplicates, a->gaps, a->missing,
	       a->poison, a->redelivered, a->bad_message, a->bad_checksum, a->bad_stream,
	       a->ends, d->workers, a->dup_ends, a->extra_after_end);

	tap_ok = t->done && delivered + t->missed == took && tg && tg->dropped == t->missed &&
		 t->bad_gap == 0 && t->bad_message == 0 && t->bad_checksum == 0 &&
		 t->out_of_order == 0 && t->ends == d->workers;
	printf("  tap group          %s: delivered %" PRIu64 " + missed %" PRIu64 " (in %" PRIu64
	       " gaps) = %" PRIu64 " of the %" PRIu64 " messages taken;\n"
	       "                     the group's dropped count %" PRIu64 "; %" PRIu64 " malformed, %" PRIu64
	       " bad checksums, %" PRIu64 " out of order, %" PRIu64 " wrong gap flags, %" PRIu64
	       "/%u END markers\n",
	       tap_ok ? "ok" : "FAILED", delivered, t->missed, t->gap_events, delivered + t->missed,
	       took, tg ? tg->dropped : 0, t->bad_message, t->bad_checksum, t->out_of_order,
	       t->bad_gap, t->ends, d->workers);
	return groups_ok && audit_ok && tap_ok;
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
 * One queue's final counters, from ipcq_stats() (see snapshot_step() in parent.c),
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
bool report(const struct demo *d, const struct parent *p,
		   struct ipcq *oq, bool children_ok)
{
	struct shared *sh = d->sh;
	struct sink_stats *s = &sh->sink;
	uint64_t sent = 0, processed = 0, start = UINT64_MAX, redelivered = 0;
	uint64_t w_bad = 0, w_order = 0, w_msg = 0, w_flags = 0, w_ends = 0;
	uint64_t expected = d->orders - (d->poison_scene ? 1 : 0);
	bool once, intact, ordered, ended, counts, kill_ok, poison_ok, side_ok;
	bool drained, restart_ok, pressure_ok, fanout_ok, ok;
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
	side_ok = report_side_ring(d, p, oq, p->ncrashes);
	restart_ok = report_restart(d, p);
	pressure_ok = report_pressure(d, p);
	fanout_ok = report_fanout(d, p);

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
	     kill_ok && poison_ok && side_ok && restart_ok && pressure_ok && fanout_ok &&
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

void print_watch_hint(const struct demo *d)
{
	char stat[2 * PATH_MAX];

	tool_path("ipcq-stat", stat, sizeof(stat));
	printf("  watch live: %s -w %s   (or %s)%s\n", stat, d->orders_name, d->fills_name,
	       access(stat, X_OK) == 0 ? "" : "  [not built: make tools]");
}

void print_kept(const struct demo *d)
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
