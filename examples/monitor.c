/*
 * monitor.c - watch a queue from outside: depth, rates, the age of the
 * oldest message, leases, side ring, pressure, and every participant.
 *
 *   monitor [QUEUE] [INTERVAL_MS] [SAMPLES]   (defaults: example.orders, 1000, 0 = forever)
 *
 * It opens the queue read-only (ipcq_open_readonly): a monitor can read
 * everything and change nothing, so it cannot corrupt or slow a queue, and
 * it does not count as a participant.  ipcq_stats() takes a snapshot of
 * the queue's counters; rates are the difference of two snapshots.
 */
#define _POSIX_C_SOURCE 200809L /* nanosleep, fork ... with -std=c11 */
#include <ipcq.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define MAX_PARTS 64

/* Print why a call on the queue failed: the sentence for rc, then what
 * exactly was refused (create, open, attach and unlink say which field,
 * flag or file broke which rule; read it right after the call). */
static void report(const char *what, const char *name, int rc)
{
	const char *detail = ipcq_errdetail();
	fprintf(stderr, "monitor: %s %s: %s%s%s\n", what, name, ipcq_strerror(rc),
		*detail ? ": " : "", detail);
}

static const char *role(uint32_t roles)
{
	return roles == (IPCQ_ROLE_PRODUCER | IPCQ_ROLE_CONSUMER) ? "both"
	     : roles == IPCQ_ROLE_PRODUCER ? "producer" : "consumer";
}

int main(int argc, char **argv)
{
	const char *name = argc > 1 ? argv[1] : "example.orders";
	long interval_ms = argc > 2 ? atol(argv[2]) : 1000;
	long samples = argc > 3 ? atol(argv[3]) : 0;
	struct timespec pause = { interval_ms / 1000, interval_ms % 1000 * 1000000 };
	struct ipcq_participant_stats parts[MAX_PARTS];
	struct ipcq_stats st, prev;
	struct ipcq *q;
	int rc;

	rc = ipcq_open_readonly(name, &q);
	if (rc < 0) {
		report("open", name, rc);
		return 1;
	}
	for (long s = 0; samples == 0 || s < samples; s++) {
		if (s > 0)
			nanosleep(&pause, NULL);
		st.size = sizeof st; /* say which version of the struct we know */
		int n = ipcq_stats(q, &st, parts, MAX_PARTS);
		if (n < 0) {
			fprintf(stderr, "monitor: stats: %s\n", ipcq_strerror(n));
			ipcq_close(q);
			return 1;
		}
		const struct ipcq_info *i = &st.info;
		printf("%s: depth %llu/%u", name, (unsigned long long)i->depth, i->capacity);
		if (s > 0 && st.now_ns > prev.now_ns) { /* rates need two snapshots */
			double secs = (st.now_ns - prev.now_ns) / 1e9;
			printf(", in %.0f/s, out %.0f/s",
			       (i->enqueued - prev.info.enqueued) / secs,
			       (i->dequeued - prev.info.dequeued) / secs);
		}
		if (st.oldest_ns) /* the consumers' lag, in time */
			printf(", oldest waiting %.1f ms",
			       st.now_ns > st.oldest_ns ? (st.now_ns - st.oldest_ns) / 1e6 : 0.0);
		printf(", leased %u, side ring %u/%u, pressure %s\n", i->leased, i->side_depth,
		       i->side_capacity, i->pressure ? "on" : "off");
		printf("  participants: %u (of %u)\n", st.participants, i->max_participants);
		for (int k = 0; k < n; k++) {
			const struct ipcq_participant_stats *p = &parts[k];
			printf("  #%-3u %-8s %-12s pid %-7u %-5s sent %llu received %llu acks %llu "
			       "nacks %llu\n", p->index, role(p->roles), p->name[0] ? p->name : "-",
			       p->pid, p->alive ? "alive" : "dead", (unsigned long long)p->sent,
			       (unsigned long long)p->received, (unsigned long long)p->acks,
			       (unsigned long long)p->nacks);
		}
		fflush(stdout);
		prev = st;
	}
	ipcq_close(q);
	return 0;
}
