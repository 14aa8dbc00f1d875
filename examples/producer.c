/*
 * producer.c - send COUNT numbered messages ("message 1", "message 2", ...)
 * and then an empty message that marks the end of the stream.
 *
 *   producer [QUEUE] [COUNT]     (defaults: example.orders, 100000)
 *
 * Run consumer.c in another process on the same QUEUE, in either order:
 *
 *   consumer example.orders &
 *   producer example.orders 100000
 */
#include <errno.h>
#include <ipcq.h>
#include <stdio.h>
#include <stdlib.h>

#define TIMEOUT_NS (10 * 1000000000LL) /* give up if the queue stays full 10 s */

/* Print why a call on the queue failed: the sentence for rc, then what
 * exactly was refused (create, open, attach and unlink say which field,
 * flag or file broke which rule; read it right after the call). */
static void report(const char *what, const char *name, int rc)
{
	const char *detail = ipcq_errdetail();
	fprintf(stderr, "producer: %s %s: %s%s%s\n", what, name, ipcq_strerror(rc),
		*detail ? ": " : "", detail);
}

/* Open the queue, or create it if nobody has yet.  Whichever of producer
 * and consumer starts first creates it; if both try at once, one create
 * wins and the other gets -EEXIST and opens what the winner made. */
static int open_or_create(const char *name, struct ipcq **q)
{
	for (;;) {
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
	unsigned long long count = argc > 2 ? strtoull(argv[2], NULL, 10) : 100000;
	struct ipcq_attach_opts opts = IPCQ_ATTACH_OPTS_INIT;
	struct ipcq *q;
	char msg[64];
	int rc;

	rc = open_or_create(name, &q);
	if (rc < 0) {
		report("open", name, rc);
		return 1;
	}
	opts.name = "producer"; /* what monitors (monitor.c, ipcq-stat) show */
	rc = ipcq_attach(q, IPCQ_ROLE_PRODUCER, &opts);
	if (rc < 0) {
		report("attach to", name, rc);
		goto out;
	}

	for (unsigned long long i = 1; i <= count; i++) {
		int len = snprintf(msg, sizeof msg, "message %llu", i);
		/* Blocks while the queue is full (it waits for the consumer).
		 * The queue numbers this handle's messages 1, 2, 3 ... too: the
		 * consumer sees that number as info.seq. */
		rc = ipcq_send(q, msg, (size_t)len, TIMEOUT_NS);
		if (rc < 0) {
			fprintf(stderr, "producer: send %llu: %s\n", i, ipcq_strerror(rc));
			goto out;
		}
	}
	/* An empty message says "no more": the consumer stops there. */
	rc = ipcq_send(q, NULL, 0, TIMEOUT_NS);
	if (rc < 0) {
		fprintf(stderr, "producer: send end marker: %s\n", ipcq_strerror(rc));
		goto out;
	}
	printf("producer: sent %llu messages to %s\n", count, name);

out:
	/* Closing detaches; the messages stay queued for the consumer, which
	 * removes the queue once it has read the end marker. */
	ipcq_close(q);
	return rc < 0 ? 1 : 0;
}
