/*
 * named_producer.c - a producer that can be killed at any moment and
 * restarted without sending a message twice or losing one.
 *
 *   named_producer [QUEUE] [COUNT] [CRASH_AFTER]
 *                  (defaults: example.orders, 100000, 0 = never)
 *
 * It attaches under a stable name ("feed") with IPCQ_ATTACH_DEDUP and
 * numbers its messages itself: message n is "order n" sent with
 * ipcq_send_seq(n), as if n were the offset of the order in a log.  The
 * queue remembers the last number it accepted under the name, whatever
 * instruction the sender died at.  A restarted process asks for it with
 * ipcq_last_seq() and resumes from there; to show what the queue does with
 * a replay, it resends the last REPLAY orders before that, which the queue
 * drops as duplicates (IPCQ_SEND_DUPLICATE).
 *
 * CRASH_AFTER n makes the process SIGKILL itself right after sending order
 * n, as kill -9 would: no detach, no cleanup.  Run it again to finish:
 *
 *   consumer example.orders &
 *   named_producer example.orders 100000 40000   # dies after order 40000
 *   named_producer example.orders 100000         # resumes after 40000
 */
#include <errno.h>
#include <ipcq.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

#define TIMEOUT_NS (10 * 1000000000LL)
#define REPLAY 8

/* Print why a call on the queue failed: the sentence for rc, then what
 * exactly was refused (create, open, attach and unlink say which field,
 * flag or file broke which rule; read it right after the call). */
static void report(const char *what, const char *name, int rc)
{
	const char *detail = ipcq_errdetail();
	fprintf(stderr, "named_producer: %s %s: %s%s%s\n", what, name, ipcq_strerror(rc),
		*detail ? ": " : "", detail);
}

static int open_or_create(const char *name, struct ipcq **q)
{
	for (;;) { /* as in producer.c: whoever comes first creates */
		int rc = ipcq_open(name, q);
		if (rc != -ENOENT)
			return rc;
		rc = ipcq_create(name, NULL, q);
		if (rc != -EEXIST)
			return rc;
	}
}

int main(int argc, char **argv)
{
	const char *name = argc > 1 ? argv[1] : "example.orders";
	uint64_t count = argc > 2 ? strtoull(argv[2], NULL, 10) : 100000;
	uint64_t crash_after = argc > 3 ? strtoull(argv[3], NULL, 10) : 0;
	struct ipcq_attach_opts opts = IPCQ_ATTACH_OPTS_INIT;
	uint64_t last, seq, sent = 0, dups = 0;
	struct ipcq *q;
	char msg[64];
	int rc;

	rc = open_or_create(name, &q);
	if (rc < 0) {
		report("open", name, rc);
		return 1;
	}
	/* Only one live process may hold the name (-EBUSY); once its holder
	 * is dead, the next attach under the name takes it over. */
	opts.flags = IPCQ_ATTACH_DEDUP;
	opts.name = "feed";
	rc = ipcq_attach(q, IPCQ_ROLE_PRODUCER, &opts);
	if (rc < 0) {
		report("attach to", name, rc);
		goto out;
	}
	/* Everything up to `last` is in the queue (or already consumed). */
	rc = ipcq_last_seq(q, &last);
	if (rc < 0) {
		fprintf(stderr, "named_producer: last_seq: %s\n", ipcq_strerror(rc));
		goto out;
	}
	printf("named_producer: last order accepted under \"feed\": %llu\n",
	       (unsigned long long)last);
	fflush(stdout); /* before a SIGKILL can throw the buffer away */

	/* Order count + 1, empty, is the end marker consumer.c waits for. */
	for (seq = last > REPLAY ? last - REPLAY + 1 : 1; seq <= count + 1; seq++) {
		int len = seq <= count ? snprintf(msg, sizeof msg, "order %llu",
						  (unsigned long long)seq) : 0;
		rc = ipcq_send_seq(q, seq, msg, (size_t)len, TIMEOUT_NS);
		if (rc < 0) {
			fprintf(stderr, "named_producer: send %llu: %s\n",
				(unsigned long long)seq, ipcq_strerror(rc));
			goto out;
		}
		if (rc == IPCQ_SEND_DUPLICATE)
			dups++; /* accepted before the restart: dropped, not an error */
		else if (seq <= count)
			sent++;
		if (seq == crash_after)
			raise(SIGKILL);
	}
	printf("named_producer: sent %llu new orders, %llu duplicates dropped\n",
	       (unsigned long long)sent, (unsigned long long)dups);
	rc = 0;
out:
	/* The name stays in the queue's table for the next run;
	 * ipcq_dedup_remove() retires it for good. */
	ipcq_close(q);
	return rc < 0 ? 1 : 0;
}
