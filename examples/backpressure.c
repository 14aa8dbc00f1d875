/*
 * backpressure.c - a producer that slows down when its consumer falls
 * behind, instead of filling the queue and blocking on every send.
 *
 *   backpressure [QUEUE] [COUNT]      (defaults: example.orders, 20000)
 *
 * It creates the queue with watermarks: from the moment 192 messages wait
 * (high) until fewer than 32 do (low), the queue is "under pressure".
 * Every send reports it at no cost (IPCQ_SEND_PRESSURE instead of 0); the
 * producer then stops making messages and sleeps in ipcq_wait_pressure()
 * until the consumer has drained the queue to the low watermark, and goes
 * on with a nearly empty queue: its messages wait less, and the ring keeps
 * room for a burst.  A producer with other work to do would check
 * ipcq_pressure() between jobs instead of sleeping.
 *
 *   backpressure example.orders 20000 &
 *   consumer example.orders 1 50        # 50 us per message: a slow one
 */
#define _POSIX_C_SOURCE 200809L /* nanosleep, fork ... with -std=c11 */
#include <errno.h>
#include <ipcq.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define TIMEOUT_NS (10 * 1000000000LL)

/* Print why a call on the queue failed: the sentence for rc, then what
 * exactly was refused (create, open, attach and unlink say which field,
 * flag or file broke which rule; read it right after the call). */
static void report(const char *what, const char *name, int rc)
{
	const char *detail = ipcq_errdetail();
	fprintf(stderr, "backpressure: %s %s: %s%s%s\n", what, name, ipcq_strerror(rc),
		*detail ? ": " : "", detail);
}

static double now_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

int main(int argc, char **argv)
{
	const char *name = argc > 1 ? argv[1] : "example.orders";
	unsigned long long count = argc > 2 ? strtoull(argv[2], NULL, 10) : 20000;
	struct ipcq_config cfg = IPCQ_CONFIG_INIT;
	struct ipcq *q;
	unsigned long long pauses = 0;
	double paused_ms = 0;
	char msg[64];
	int rc;

	cfg.capacity = 256;
	cfg.high_watermark = 192; /* pressure on at 192 waiting ... */
	cfg.low_watermark = 32;   /* ... and off again below 32 */
	rc = ipcq_create(name, &cfg, &q); /* watermarks are set at creation */
	if (rc < 0) {
		report("create", name, rc);
		return 1;
	}
	rc = ipcq_attach(q, IPCQ_ROLE_PRODUCER, NULL);
	if (rc < 0) {
		report("attach to", name, rc);
		goto out;
	}
	/* i == count + 1 is the empty end marker consumer.c waits for. */
	for (unsigned long long i = 1; i <= count + 1; i++) {
		int len = i <= count ? snprintf(msg, sizeof msg, "message %llu", i) : 0;
		rc = ipcq_send(q, msg, (size_t)len, TIMEOUT_NS);
		if (rc < 0) {
			fprintf(stderr, "backpressure: send %llu: %s\n", i, ipcq_strerror(rc));
			goto out;
		}
		if (rc == IPCQ_SEND_PRESSURE && i <= count) {
			/* Sent, but the consumer is behind: wait for relief.
			 * The consumer that brings the depth under the low
			 * watermark wakes us; no polling. */
			double t0 = now_ms();
			rc = ipcq_wait_pressure(q, TIMEOUT_NS);
			if (rc < 0) {
				fprintf(stderr, "backpressure: wait: %s\n", ipcq_strerror(rc));
				goto out;
			}
			pauses++;
			paused_ms += now_ms() - t0;
		}
	}
	printf("backpressure: sent %llu messages, paused %llu times (%.1f ms in all) "
	       "for the consumer to catch up\n", count, pauses, paused_ms);
	rc = 0;
out:
	ipcq_close(q); /* consumer.c removes the queue after the end marker */
	return rc < 0 ? 1 : 0;
}
