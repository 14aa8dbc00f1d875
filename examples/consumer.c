/*
 * consumer.c - receive messages until every producer has sent its end
 * marker (an empty message), checking that each producer's messages come
 * in order, with no gap and no repeat; then, the stream complete, remove
 * the queue.  After a failure it leaves the queue where it is.
 *
 *   consumer [QUEUE] [PRODUCERS] [WORK_US]   (defaults: example.orders, 1, 0)
 *
 * WORK_US makes each message take that many microseconds to "process",
 * to play a consumer slower than its producers (see backpressure.c).
 * Works with producer.c (anonymous) and named_producer.c (named).
 */
#define _POSIX_C_SOURCE 200809L /* nanosleep, fork ... with -std=c11 */
#include <errno.h>
#include <ipcq.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define TIMEOUT_NS (10 * 1000000000LL) /* give up after 10 s without a message */

/* Print why a call on the queue failed: the sentence for rc, then what
 * exactly was refused (create, open, attach and unlink say which field,
 * flag or file broke which rule; read it right after the call). */
static void report(const char *what, const char *name, int rc)
{
	const char *detail = ipcq_errdetail();
	fprintf(stderr, "consumer: %s %s: %s%s%s\n", what, name, ipcq_strerror(rc),
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

/* Last sequence seen per producer: [0] anonymous producers by participant
 * index (info.producer), [1] named producers by their stream (info.stream),
 * which stays the same when a named producer restarts. */
static unsigned long long last[2][IPCQ_PARTICIPANTS_MAX + 1];

int main(int argc, char **argv)
{
	const char *name = argc > 1 ? argv[1] : "example.orders";
	unsigned producers = argc > 2 ? (unsigned)atoi(argv[2]) : 1;
	long work_us = argc > 3 ? atol(argv[3]) : 0;
	struct timespec work = { work_us / 1000000, work_us % 1000000 * 1000 };
	struct ipcq_attach_opts opts = IPCQ_ATTACH_OPTS_INIT;
	unsigned long long received = 0, n;
	unsigned ends = 0;
	struct ipcq *q;
	char buf[1024 + 1];
	int rc, ok = 0;

	rc = open_or_create(name, &q);
	if (rc < 0) {
		report("open", name, rc);
		return 1;
	}
	opts.name = "consumer";
	rc = ipcq_attach(q, IPCQ_ROLE_CONSUMER, &opts);
	if (rc < 0)
		report("attach to", name, rc);
	while (rc >= 0 && !(ok = ends == producers)) {
		struct ipcq_msginfo info;
		rc = ipcq_recv(q, buf, sizeof buf - 1, &info, TIMEOUT_NS);
		if (rc < 0) {
			fprintf(stderr, "consumer: recv: %s\n", ipcq_strerror(rc));
			break;
		}
		/* Per-producer FIFO: each producer's sequence goes up by one. */
		unsigned long long *prev = info.stream ? &last[1][info.stream]
						       : &last[0][info.producer];
		if (info.seq != *prev + 1) {
			fprintf(stderr, "consumer: producer %u stream %u: seq %llu after %llu\n",
				info.producer, info.stream, (unsigned long long)info.seq, *prev);
			break;
		}
		*prev = info.seq;
		if (rc == 0) { /* the end marker: that producer is done, and */
			ends++; /* a later one may reuse its index from seq 1 */
			*prev = 0;
			continue;
		}
		buf[rc] = '\0'; /* the payload says its own number: it must match */
		if (sscanf(buf, "%*s %llu", &n) != 1 || n != info.seq) {
			fprintf(stderr, "consumer: \"%s\" arrived as seq %llu\n", buf,
				(unsigned long long)info.seq);
			break;
		}
		received++;
		if (work_us > 0)
			nanosleep(&work, NULL); /* stands for real work */
	}
	if (ok)
		printf("consumer: received %llu messages from %u producer(s), "
		       "each in order, no gap, no duplicate\n", received, producers);

	ipcq_close(q);
	/* Only the last reader of a one-shot stream may remove the queue, and
	 * only once the stream is complete: here, this consumer after every end
	 * marker.  After a refused attach, a receive timeout or a broken stream,
	 * producers and other consumers may still be using the name. */
	if (ok && (rc = ipcq_unlink(name)) < 0 && rc != -ENOENT) {
		report("unlink", name, rc);
		ok = 0;
	}
	return ok ? 0 : 1;
}
