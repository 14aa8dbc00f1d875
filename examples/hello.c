/*
 * hello.c - the smallest ipcq program: create a queue, send a message to
 * it, receive the message back, remove the queue.
 *
 *   hello [QUEUE]        (default: example.hello)
 *
 * One process plays both roles here; in a real program the producer and
 * the consumer are separate processes (see producer.c and consumer.c).
 */
#include <ipcq.h>
#include <stdio.h>
#include <string.h>

/* Print why a call on the queue failed: the sentence for rc, then what
 * exactly was refused (create, open, attach and unlink say which field,
 * flag or file broke which rule; read it right after the call). */
static void report(const char *what, const char *name, int rc)
{
	const char *detail = ipcq_errdetail();
	fprintf(stderr, "hello: %s %s: %s%s%s\n", what, name, ipcq_strerror(rc),
		*detail ? ": " : "", detail);
}

int main(int argc, char **argv)
{
	const char *name = argc > 1 ? argv[1] : "example.hello";
	struct ipcq_config cfg = IPCQ_CONFIG_INIT; /* 1024 slots of up to 1 KiB */
	struct ipcq *q;
	const char *text = "hello, ipcq";
	char buf[1024];
	struct ipcq_msginfo info;
	int rc, len;

	/* Create the segment /dev/shm/ipcq.<name>; -EEXIST if it is taken. */
	rc = ipcq_create(name, &cfg, &q);
	if (rc < 0) {
		report("create", name, rc);
		return 1;
	}

	/* A handle must join the queue before it sends or receives. */
	rc = ipcq_attach(q, IPCQ_ROLE_PRODUCER | IPCQ_ROLE_CONSUMER, NULL);
	if (rc < 0) {
		report("attach to", name, rc);
		goto fail;
	}

	/* 0 means queued (1, IPCQ_SEND_PRESSURE, would mean queued and the
	 * queue is filling up); the timeout is in nanoseconds. */
	rc = ipcq_send(q, text, strlen(text), IPCQ_NOWAIT);
	if (rc < 0) {
		fprintf(stderr, "hello: send: %s\n", ipcq_strerror(rc));
		goto fail;
	}

	/* Wait up to one second; the result is the payload's length. */
	len = ipcq_recv(q, buf, sizeof buf, &info, 1000000000);
	if (len < 0) {
		rc = len;
		fprintf(stderr, "hello: recv: %s\n", ipcq_strerror(rc));
		goto fail;
	}
	printf("hello: received \"%.*s\" (%d bytes, producer %u, seq %llu)\n", len, buf,
	       len, info.producer, (unsigned long long)info.seq);
	if ((size_t)len != strlen(text) || memcmp(buf, text, (size_t)len) != 0) {
		fprintf(stderr, "hello: the message came back changed\n");
		rc = -1;
	}

fail:
	/* Close the handle (this detaches it) and remove the name.  Processes
	 * that still have the queue open could go on using it. */
	ipcq_close(q);
	int urc = ipcq_unlink(name);
	if (urc < 0) {
		report("unlink", name, urc);
		return 1;
	}
	return rc < 0 ? 1 : 0;
}
